/* SPDX-License-Identifier: MIT */
#ifndef XDPHC_POOLVIEW_H
#define XDPHC_POOLVIEW_H

#include <stddef.h>
#include <stdint.h>
#include <xdphc/abi.h>

/*
 * The load balancer's view of each pool, kept in the mmap-ed pinned maps:
 * the counts and fail-open flag in pools[p], and the ids of the pool's up
 * backends in pool_up[first, first + up), so that a forwarder picks a
 * healthy backend with one hash and one array read.
 */
struct poolview {
	struct xdphc_pool_summary *pools;	/* pinned, mmap-ed */
	struct xdphc_pool_slot *up;		/* pinned pool_up, mmap-ed */
	uint32_t *pos;				/* backend id -> its slot in up, or NONE */
	size_t n_pools;
};

/* Counts, flags and up lists from the states in st[0, n). */
int poolview_init(struct poolview *pv, struct xdphc_pool_summary *pools,
		  struct xdphc_pool_slot *up,
		  size_t n_pools, const struct xdphc_backend_status *st, size_t n);
/* Backend id of pool p changed state from -> to. */
void poolview_change(struct poolview *pv, uint32_t p, uint32_t id, uint8_t from, uint8_t to);
void poolview_free(struct poolview *pv);

#endif
