/* SPDX-License-Identifier: MIT */
/*
 * Next hops the controller resolves (user/nexthop.c) for the transmit
 * program (bpf/lib/nexthop.h).  bpf_fib_lookup() answers only on an
 * interface that forwards the family (BPF_FIB_LKUP_RET_FWD_DISABLED
 * otherwise), and a health checker must not turn forwarding on (on IPv6 it
 * also makes the kernel ignore router advertisements): on a family that
 * does not forward (xdphc_bpf_cfg.fib4/fib6 = 0), the controller resolves
 * each slot's route and neighbour over netlink and publishes them in two
 * mmap-able arrays, and probe_tx reads two words per probe.
 *
 * Internal, like probe.h: not pinned, may change with any release.
 */
#ifndef XDPHC_NEXTHOP_H
#define XDPHC_NEXTHOP_H

#include <linux/types.h>

/*
 * slot_hop: per slot, the id of its next hop in `hops`.  Array elements are
 * padded to 8 bytes in an mmap, so the ids of 16 slots share one element
 * (one cache line): slot i is hop[i % 16] of element i / 16, 4 bytes a slot.
 */
#define XDPHC_HOPS_PER_ENTRY 16

struct xdphc_slot_hops {
	__u32 hop[XDPHC_HOPS_PER_ENTRY];
};

/*
 * A slot's hop id: 0 = not resolved yet (hops[0] is never valid, so the
 * program needs no test for it), XDPHC_HOP_NO_ROUTE = the route drops it
 * (blackhole, unreachable, prohibit, none) or leaves by another interface,
 * anything else an index into `hops`.
 */
#define XDPHC_HOP_UNRESOLVED 0U
#define XDPHC_HOP_NO_ROUTE 0xffffffffU

/*
 * A next hop: the neighbour's MAC while the kernel has a usable entry for
 * it.  8 bytes, written by the controller with one 64-bit store and read
 * by the program with one load, so a frame never carries half of an old
 * MAC and half of a new one.
 */
struct xdphc_hop {
	__u8 dmac[6];
	__u8 state;		/* XDPHC_HOP_* below */
	__u8 pad;
};
_Static_assert(sizeof(struct xdphc_hop) == 8, "one 64-bit word");

#define XDPHC_HOP_INVALID 0	/* no usable neighbour entry: probe_tx reports NO_NEIGH */
#define XDPHC_HOP_VALID 1

#endif /* XDPHC_NEXTHOP_H */
