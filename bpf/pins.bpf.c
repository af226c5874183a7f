// SPDX-License-Identifier: GPL-2.0 OR MIT
/*
 * The maps xdphc publishes for consumers.  They live in their own object so
 * they carry BTF (bpftool prints field names) and outlive the programs: the
 * controller pins them and reuses them across restarts.  Layout: abi.h.
 */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>
#include <xdphc/abi.h>

char LICENSE[] SEC("license") = "Dual MIT/GPL";

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(map_flags, BPF_F_MMAPABLE);
	__type(key, __u32);
	__type(value, struct xdphc_backend_status);
	__uint(max_entries, 1);		/* sized by the controller */
} status SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__type(key, struct xdphc_backend_key);
	__type(value, __u32);
	__uint(max_entries, 1);		/* sized by the controller */
} status_index SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(map_flags, BPF_F_MMAPABLE);
	__type(key, __u32);
	__type(value, struct xdphc_pool_summary);
	__uint(max_entries, XDPHC_MAX_POOLS);
} pools SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(map_flags, BPF_F_MMAPABLE);
	__type(key, __u32);
	__type(value, struct xdphc_pool_slot);
	__uint(max_entries, 1);		/* sized by the controller */
} pool_up SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__type(key, __u32);
	__type(value, struct xdphc_engine_stats);
	__uint(max_entries, 1);
} stats SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__type(key, __u32);
	__type(value, struct xdphc_meta);
	__uint(max_entries, 1);
} meta SEC(".maps");
