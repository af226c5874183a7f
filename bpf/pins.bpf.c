// SPDX-License-Identifier: GPL-2.0 OR MIT
/*
 * The maps xdphc publishes for consumers.  They live in their own object so
 * they carry BTF (bpftool prints field names) and outlive the programs: the
 * controller pins them and reuses them across restarts.  Layout: abi.h.
 */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>
#include <xdphc/maps.h>

char LICENSE[] SEC("license") = "Dual MIT/GPL";

XDPHC_MAP_STATUS(status);
XDPHC_MAP_INDEX(status_index);
XDPHC_MAP_POOLS(pools);
XDPHC_MAP_POOL_UP(pool_up);
XDPHC_MAP_ONE(stats, struct xdphc_engine_stats);
XDPHC_MAP_ONE(meta, struct xdphc_meta);
