/* SPDX-License-Identifier: MIT */
/*
 * Next hops the controller resolves, for a family whose interface does not
 * forward (xdphc_bpf_cfg.fib4/fib6 = 0; include/internal/nexthop.h says
 * why).  Two loads a probe: the slot's hop id, then the hop.
 */
#ifndef XDPHC_BPF_NEXTHOP_H
#define XDPHC_BPF_NEXTHOP_H

#include "slot.h"
#include <internal/nexthop.h>

/* Created by probe_tx, shared with probe_rx (user/attach.c: share_maps()). */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(map_flags, BPF_F_MMAPABLE);
	__type(key, __u32);
	__type(value, struct xdphc_slot_hops);
	__uint(max_entries, 1);		/* sized by the controller: slots / 16, rounded up */
} slot_hop SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(map_flags, BPF_F_MMAPABLE);
	__type(key, __u32);
	__type(value, struct xdphc_hop);
	__uint(max_entries, 1);		/* sized by the controller */
} hops SEC(".maps");

/*
 * The next hop of slot slot_idx: 0 with dmac filled (the source MAC is
 * cfg.smac), or the XDPHC_RES_TX_* kind of the failure.  On NO_NEIGH the
 * slot's t names what the controller must resolve: the hop id, or 0 for
 * "this slot has no hop yet, resolve its route".
 */
static __always_inline int ctl_next_hop(struct xdphc_slot *s, __u32 slot_idx, __u8 dmac[6])
{
	__u32 key = slot_idx / XDPHC_HOPS_PER_ENTRY;
	struct xdphc_slot_hops *e = bpf_map_lookup_elem(&slot_hop, &key);
	struct xdphc_hop *hp, h;
	__u64 w;
	__u32 id;

	if (!e)
		return XDPHC_RES_TX_ERROR;
	id = *(volatile __u32 *)&e->hop[slot_idx % XDPHC_HOPS_PER_ENTRY];
	if (id == XDPHC_HOP_NO_ROUTE)
		return XDPHC_RES_TX_NO_ROUTE;
	hp = bpf_map_lookup_elem(&hops, &id);
	if (!hp)
		id = XDPHC_HOP_UNRESOLVED;	/* cannot happen: ids stay below max_entries */
	/* One load: the controller rewrites a hop with one 64-bit store. */
	w = hp ? *(volatile __u64 *)hp : 0;
	__builtin_memcpy(&h, &w, sizeof(h));
	if (h.state != XDPHC_HOP_VALID) {
		slot_set_hop(s, id);
		return XDPHC_RES_TX_NO_NEIGH;
	}
	__builtin_memcpy(dmac, h.dmac, ETH_ALEN);
	return 0;
}

/* The counter of a failure kind ctl_next_hop() returned. */
static __always_inline __u32 ctl_hop_counter(int kind)
{
	if (kind == XDPHC_RES_TX_NO_NEIGH)
		return XDPHC_CNT_TX_NO_NEIGH;
	if (kind == XDPHC_RES_TX_NO_ROUTE)
		return XDPHC_CNT_TX_NO_ROUTE;
	return XDPHC_CNT_TX_ERROR;
}

#endif
