/* SPDX-License-Identifier: MIT */
/*
 * The XDP programs' life: load probe_tx (it creates the maps both programs
 * share) and probe_rx, attach probe_rx to the probing interface through
 * libxdp (or only load it, for a load balancer to tail-call: chain.h),
 * detach and close.  The memory shared with the programs is mapped while
 * they are loaded: the probe slots (slots.h) and the tx queue (send.h).
 */
#ifndef XDPHC_ATTACH_H
#define XDPHC_ATTACH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <xdp/libxdp.h>
#include <internal/probe.h>

#include "send.h"
#include "slots.h"

struct probe_tx_bpf;
struct probe_rx_bpf;

struct programs_params {
	int ifindex;
	uint32_t src4;			/* network order; 0: no IPv4 backends */
	uint32_t src6[4];		/* network order; all 0: no IPv6 backends */
	uint16_t sport_lo, sport_hi;
	size_t nslots;
	bool skb_mode;
	bool tail_call;			/* load probe_rx for tail calls, do not attach */
};

struct programs {
	struct probe_tx_bpf *tx;
	struct probe_rx_bpf *rx;
	struct xdp_program *xprog;
	int ifindex;
	enum xdp_attach_mode mode;
	bool attached;
	bool dispatcher;		/* libxdp multi-program dispatcher in use */
	bool tail_call;
	struct bpf_link *drop_link;
	struct slots slots;		/* the slots and slot table, mapped */
	struct sender send;		/* the tx queue, mapped, and the send path */
};

/*
 * Load probe_tx (checking live-frames support) and open probe_rx; in
 * tail-call mode, load it too.  0, or -errno with a message in err.
 */
int programs_load(struct programs *p, const struct programs_params *pp,
		  char *err, size_t errlen);
/* Attach probe_rx to the interface through libxdp.  0, or -errno with a message in err. */
int programs_attach(struct programs *p, char *err, size_t errlen);
void programs_detach(struct programs *p);
void programs_close(struct programs *p);

/* The udp_checks map (udpcheck.h). */
int programs_udp_fd(const struct programs *p);

/* probe_rx's program fd (tail-call mode), or -1. */
int programs_rx_fd(const struct programs *p);

/* Sum of the per-CPU counters.  0 or -errno. */
int programs_counters(struct programs *p, uint64_t out[XDPHC_CNT_MAX]);

#endif
