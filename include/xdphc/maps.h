/* SPDX-License-Identifier: MIT */
/*
 * BPF-side declarations of xdphc's pinned maps, for BPF programs that read
 * them (a load balancer) and for xdphc itself.  Declare the ones you need,
 * then have your loader reuse the pinned maps (libbpf bpf_map__reuse_fd, or
 * `bpftool prog load ... map name NAME pinned PIN_PATH/NAME`); the sizes
 * below are placeholders that reuse replaces.  Include after bpf_helpers.h.
 */
#ifndef XDPHC_MAPS_H
#define XDPHC_MAPS_H

#include <xdphc/abi.h>

#define XDPHC_MAP_STATUS(name)                                           \
	struct {                                                         \
		__uint(type, BPF_MAP_TYPE_ARRAY);                        \
		__uint(map_flags, BPF_F_MMAPABLE);                       \
		__type(key, __u32);                                      \
		__type(value, struct xdphc_backend_status);              \
		__uint(max_entries, 1);                                  \
	} name SEC(".maps")

#define XDPHC_MAP_INDEX(name)                                            \
	struct {                                                         \
		__uint(type, BPF_MAP_TYPE_HASH);                         \
		__type(key, struct xdphc_index_key);                     \
		__type(value, __u32);                                    \
		__uint(max_entries, 1);                                  \
	} name SEC(".maps")

#define XDPHC_MAP_POOLS(name)                                            \
	struct {                                                         \
		__uint(type, BPF_MAP_TYPE_ARRAY);                        \
		__uint(map_flags, BPF_F_MMAPABLE);                       \
		__type(key, __u32);                                      \
		__type(value, struct xdphc_pool_summary);                \
		__uint(max_entries, XDPHC_MAX_POOLS);                    \
	} name SEC(".maps")

#define XDPHC_MAP_POOL_UP(name)                                          \
	struct {                                                         \
		__uint(type, BPF_MAP_TYPE_ARRAY);                        \
		__uint(map_flags, BPF_F_MMAPABLE);                       \
		__type(key, __u32);                                      \
		__type(value, struct xdphc_pool_slot);                   \
		__uint(max_entries, 1);                                  \
	} name SEC(".maps")

#define XDPHC_MAP_ONE(name, value_type)                                  \
	struct {                                                         \
		__uint(type, BPF_MAP_TYPE_ARRAY);                        \
		__type(key, __u32);                                      \
		__type(value, value_type);                               \
		__uint(max_entries, 1);                                  \
	} name SEC(".maps")

#endif /* XDPHC_MAPS_H */
