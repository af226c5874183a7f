/* SPDX-License-Identifier: MIT */
/*
 * Which backends share a route lookup, and what the lookups found: the pure
 * half of the next hops the controller resolves (nexthop.h does the
 * netlink half).
 *
 * `ip route get A from SRC` depends on A only through the routes and the
 * policy rules that contain A.  Take every route prefix of every table and
 * every rule's destination prefix, and call A's key the longest of those
 * prefixes that contains A: two addresses with the same key are contained
 * by exactly the same routes and rules (prefixes are nested or disjoint, so
 * a prefix holding one but not the other would be a longer match for it),
 * and so get the same answer.  One lookup serves a million backends behind
 * one gateway, and a more specific route inside a cached prefix (which a
 * plain fibmatch cache would miss) gets its own key.
 *
 * Two things make a lookup depend on more than the address: policy rules
 * on the IP protocol or ports (then the key carries the slot's protocol and
 * ports), and multipath routes, whose path is chosen per flow (then the
 * address is looked up alone, without RTM_F_FIB_MATCH, and the kernel
 * picks the path).
 */
#ifndef XDPHC_ROUTEKEY_H
#define XDPHC_ROUTEKEY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#define ROUTEKEY_NONE 0xff	/* key length of an address no prefix contains */

/* Family index: 0 = AF_INET, 1 = AF_INET6. */
static inline int routekey_fam(uint8_t family)
{
	return family == AF_INET6;
}

/* Bits of an address of the family: 32 or 128. */
static inline uint8_t routekey_bits(uint8_t family)
{
	return routekey_fam(family) ? 128 : 32;
}

/* a (network order, IPv4 in a[0]) with all bits past len cleared. */
void routekey_mask(const uint32_t a[4], uint8_t len, uint32_t out[4]);

struct pfx_entry {
	uint32_t a[4];
	uint8_t family;
	uint8_t len;
	uint8_t used;
	uint8_t inner;		/* a longer prefix of the set lies inside (pfxset_finish()) */
};

/* A set of prefixes with longest-prefix match: one hash lookup per length present. */
struct pfxset {
	struct pfx_entry *e;
	size_t cap, n;
	uint64_t lens[2][3];	/* per family, which lengths 0..128 it holds */
};

void pfxset_free(struct pfxset *ps);
void pfxset_clear(struct pfxset *ps);
/* Adds family a/len (bits past len ignored).  0, or -1 out of memory. */
int pfxset_add(struct pfxset *ps, uint8_t family, const uint32_t a[4], uint8_t len);
/* The length of the longest prefix of ps containing a, or -1. */
int pfxset_lpm(const struct pfxset *ps, uint8_t family, const uint32_t a[4]);
/* After the last add: mark the prefixes that hold longer ones (pfxset_leaf()). */
void pfxset_finish(struct pfxset *ps);
/*
 * Whether family a/len is a prefix of ps with no longer one inside: then
 * every address it contains has it for its longest match.
 */
bool pfxset_leaf(const struct pfxset *ps, uint8_t family, const uint32_t a[4], uint8_t len);

/* What a policy rule selects on, as far as it can tell destinations apart. */
struct rule_sel {
	uint8_t family;
	uint8_t dst_len;	/* 0: any destination */
	uint32_t dst[4];
	bool ports;		/* selects on the IP protocol, source or destination port */
};

struct routekey {
	struct pfxset prefixes;	/* every route's and every destination rule's prefix */
	bool ports[2];		/* per family: keys carry protocol and ports */
};

void routekey_free(struct routekey *rk);
/* Forget every route and rule (a new dump follows). */
void routekey_clear(struct routekey *rk);
/* A route of any table, or a rule.  0, or -1 out of memory. */
int routekey_route(struct routekey *rk, uint8_t family, const uint32_t dst[4], uint8_t len);
int routekey_rule(struct routekey *rk, const struct rule_sel *r);
/* After the last route and rule: routekey_leaf() may be asked. */
void routekey_finish(struct routekey *rk);

/* Backends with the same key get the same route (see above). */
struct route_key {
	uint32_t a[4];		/* the prefix (exact: the address) */
	uint8_t family;
	uint8_t len;		/* or ROUTEKEY_NONE */
	uint8_t exact;		/* 1: this one address, its route being multipath */
	uint8_t proto;		/* with port rules only, else 0 */
	uint16_t sport, dport;	/* network order, with port rules only */
};

/* The key of address a (network order) probed with proto and ports (network order). */
void routekey_of(const struct routekey *rk, uint8_t family, const uint32_t a[4],
		 uint8_t proto, uint16_t sport, uint16_t dport, bool exact,
		 struct route_key *k);

/*
 * Whether every address k's prefix holds has key k: no longer prefix lies
 * inside, and keys carry no ports.  Then routekey_holds() answers for the
 * next address without a longest-prefix search: a pass over a million
 * backends behind one route makes one search.
 */
bool routekey_leaf(const struct routekey *rk, const struct route_key *k);
bool routekey_holds(const struct route_key *k, uint8_t family, const uint32_t a[4]);

enum route_state {
	RT_PENDING = 0,		/* a lookup is under way */
	RT_OK,			/* leaves by our interface: to gw, or on-link */
	RT_NO_ROUTE,		/* dropped, unreachable, or leaves by another interface */
	RT_PER_ADDR,		/* multipath: look each address up alone (exact keys) */
	RT_RETRY,		/* the lookup failed (netlink ran out of buffer): again */
};

struct route_res {
	uint8_t state;		/* enum route_state */
	uint8_t gw_family;	/* 0: on-link, each address is its own next hop */
	uint32_t gw[4];
	uint32_t oif;
};

struct route_ent {
	struct route_key k;
	struct route_res r;
	uint8_t used;
};

/* The answers of the lookups made since the routes last changed, by key. */
struct rcache {
	struct route_ent *e;
	size_t cap, n;
};

void rcache_free(struct rcache *c);
void rcache_clear(struct rcache *c);
struct route_res *rcache_find(const struct rcache *c, const struct route_key *k);
/* A new entry for k (state RT_PENDING), or NULL out of memory; k must not be there. */
struct route_res *rcache_add(struct rcache *c, const struct route_key *k);

#endif
