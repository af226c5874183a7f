/* SPDX-License-Identifier: MIT */
/*
 * The load-time constants and the maps probe_tx and probe_rx share.  Both
 * objects declare the maps; the controller creates them once (probe_tx) and
 * hands the same fds to probe_rx before it is loaded.
 */
#ifndef XDPHC_BPF_MAPS_H
#define XDPHC_BPF_MAPS_H

#include "parse.h"
#include <bpf/bpf_helpers.h>
#include <internal/probe.h>

const volatile struct xdphc_bpf_cfg cfg = {};

/*
 * Our IPv6 source, read out of cfg: a pointer to cfg itself would drop its
 * volatile, and the compiler could then fold the zeros cfg is declared with.
 */
static __always_inline void src6_load(__be32 *out)
{
	out[0] = cfg.src6[0];
	out[1] = cfg.src6[1];
	out[2] = cfg.src6[2];
	out[3] = cfg.src6[3];
}

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(map_flags, BPF_F_MMAPABLE);
	__type(key, __u32);
	__type(value, struct xdphc_slot);
	__uint(max_entries, 1);		/* sized by the controller */
} slots SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(map_flags, BPF_F_MMAPABLE);
	__type(key, __u32);
	__type(value, struct xdphc_slot_bucket);
	__uint(max_entries, 1);		/* sized by the controller */
} slot_table SEC(".maps");

/* What UDP probes send and what their replies must hold: one entry a pool. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__type(key, __u32);
	__type(value, struct xdphc_udp_check);
	__uint(max_entries, XDPHC_UDP_CHECKS);
} udp_checks SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__type(key, __u32);
	__type(value, __u64);
	__uint(max_entries, XDPHC_CNT_MAX);
} counters SEC(".maps");

static __always_inline void count(__u32 which)
{
	__u64 *c = bpf_map_lookup_elem(&counters, &which);

	if (c)
		*c += 1;
}

#endif
