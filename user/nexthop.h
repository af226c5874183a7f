/* SPDX-License-Identifier: MIT */
/*
 * Next hops the controller resolves, for the families whose interface does
 * not forward (bpf_fib_lookup() answers only where it does; see
 * include/internal/nexthop.h).  Routes are looked up the way
 * `ip route get ADDR from SRC` looks them up, policy rules included, one
 * lookup per group of backends that routes and rules cannot tell apart
 * (routekey.h); neighbours come from the kernel's table (hoptab.h).  Both
 * follow netlink notifications: a neighbour change republishes its hop at
 * once, a route, rule or link change re-resolves every slot, a few
 * thousand a tick, after a short settling delay.
 *
 * Also, for every family, the requests that make the kernel resolve a
 * neighbour probe_tx lacked (nexthop_missing()).
 *
 * Single-threaded, in the engine's loop: nothing here blocks on the network.
 */
#ifndef XDPHC_USER_NEXTHOP_H
#define XDPHC_USER_NEXTHOP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <net/if.h>
#include <internal/nexthop.h>

#include "hoptab.h"
#include "routekey.h"
#include "rtnl.h"
#include "slots.h"

struct nexthop_params {
	int ifindex;
	const char *ifname;
	bool fib4, fib6;		/* the interface forwards the family */
	uint32_t src4;			/* network order; 0: none */
	uint32_t src6[4];		/* all 0: none */
	const uint8_t *smac;		/* the MAC the programs send from */
	struct slots *slots;
	int slot_hop_fd, hops_fd;	/* attach.h: programs_hop_maps() */
	size_t n_slot_hop, n_hops;
};

struct nexthop_stats {
	uint64_t lookups;		/* route lookups asked of the kernel */
	uint64_t asks;			/* neighbour resolutions the module asked for itself */
	uint64_t passes;		/* re-resolutions after route, rule or link changes */
	uint64_t lost;			/* notifications the kernel dropped (then a full resync) */
};

struct hop_query {
	struct route_key k;
	uint32_t seq;
	uint32_t slot;			/* whose address and ports the lookup uses */
};

struct idvec {
	uint32_t *v;
	size_t head, len, cap;
};

struct nexthops {
	bool ctl[2];			/* per family (routekey_fam()): the controller resolves */
	int ifindex;
	char ifname[IF_NAMESIZE];
	uint8_t smac[6];
	uint32_t src[2][4];		/* per family; all 0: none */
	struct slots *slots;
	size_t nslots;
	struct xdphc_slot_hops *slot_hop;	/* mmap of the slot_hop map */
	size_t slot_hop_len;
	struct xdphc_hop *hops;		/* mmap of the hops map */
	size_t hops_len;
	struct hoptab tab;
	struct routekey rk;
	struct rcache cache;
	struct route_key last;		/* the last key searched, if routekey_leaf() */
	bool last_leaf;
	struct rcache once;		/* the FIB path's lookups, answered at once */
	struct rtnl req;		/* lookups and dumps */
	struct rtnl ev;			/* notifications */
	int ask_fd;			/* neighbour requests */
	struct rtnl_batch *qb;		/* lookups being gathered */
	struct hop_query *q;
	unsigned int nq;
	struct rtnl_batch *ab;		/* neighbour requests being gathered */
	unsigned int asks_left;		/* this tick's budget */
	struct idvec defer;		/* slots waiting for a lookup in qb */
	struct idvec todo;		/* slots claimed since: resolve at the next tick */
	uint64_t *queued;		/* 1 bit a slot: in todo */
	size_t scan_next;		/* the re-resolution pass in progress: its next slot */
	bool scanning;
	bool dirty;			/* routes, rules or the link changed */
	bool neigh_lost;		/* neighbour notifications were lost: dump again */
	bool mac_warned, ids_warned;
	uint64_t dirty_at, pass_start;
	uint32_t pass_changed;
	uint64_t now;
	struct { uint64_t key, at; } fib_asked[256];	/* the FIB path's asks, rate-limited */
	struct nexthop_stats st;
};

/*
 * Open the sockets (and, when a family is resolved here, map the two maps
 * and subscribe to notifications).  0, or -errno with a message in err.
 */
int nexthop_open(struct nexthops *nh, const struct nexthop_params *p, char *err,
		 size_t errlen);

/*
 * Resolve every claimed slot before the first probe, with the routes,
 * rules and neighbours dumped now; logs which path each family takes and
 * what this cost.  0, or -errno with a message in err.
 */
int nexthop_start(struct nexthops *nh, char *err, size_t errlen);

/* Slot id was claimed, or its key changed: resolve it at the next tick. */
void nexthop_claim(struct nexthops *nh, uint32_t id);
/* Slot id was released: it sends through nothing any more. */
void nexthop_release(struct nexthops *nh, uint32_t id);

/*
 * A probe of slot id found no neighbour (XDPHC_RES_TX_NO_NEIGH) and left
 * t in the slot: on the controller's path a hop id (0: the slot has no hop
 * yet), on the FIB path the IPv4 next hop (0: look the slot's route up).
 * Asks the kernel to resolve it, rate-limited.  Returns the requests made.
 */
unsigned int nexthop_missing(struct nexthops *nh, uint32_t id, uint32_t t, uint64_t now);

/* Once a tick: notifications, claimed slots, a share of a re-resolution, requests out. */
void nexthop_tick(struct nexthops *nh, uint64_t now);

void nexthop_close(struct nexthops *nh);

#endif
