/* SPDX-License-Identifier: MIT */
#ifndef XDPHC_POOLVIEW_H
#define XDPHC_POOLVIEW_H

#include <stddef.h>
#include <stdint.h>
#include <xdphc/abi.h>

#include "state.h"

/*
 * The load balancer's view of each pool, kept in the mmap-ed pinned maps:
 * the counts and fail-open flag in pools[p], and the ids of the pool's up
 * backends in pool_up[first, first + up), so that a forwarder picks a
 * healthy backend with one hash and one array read.
 *
 * The pinned maps are output only: the counts, firsts and positions that
 * drive the writes are kept here, and the one value read back (the id at
 * the end of an up list, which moves into a leaver's place) is checked
 * against them before it is used.
 */
struct poolview_pool {
	uint32_t first, total;
	uint32_t count[3];			/* by enum xdphc_state */
};

struct poolview {
	struct xdphc_pool_summary *pools;	/* pinned, mmap-ed */
	struct xdphc_pool_slot *up;		/* pinned pool_up, mmap-ed */
	struct poolview_pool *pv;		/* the truth, per pool */
	uint32_t *pos;				/* backend id -> its slot in up, or NONE */
	const struct health *health;		/* the controller's, per backend */
	size_t n_pools, n;
	uint64_t repairs;			/* up lists rewritten after a foreign write */
};

/*
 * Counts, flags and up lists from the backends' health; pool p's backends
 * are ids [first[p], first[p] + total[p]).  Ids below n that no pool's
 * backend has (a pool's spare ids) are never in an up list.
 */
int poolview_init(struct poolview *pv, struct xdphc_pool_summary *pools,
		  struct xdphc_pool_slot *up, size_t n_pools, const uint32_t *first,
		  const uint32_t *total, const struct health *health, size_t n);
/* Backend id of pool p changed state from -> to (health[id] already says to). */
void poolview_change(struct poolview *pv, uint32_t p, uint32_t id, uint8_t from, uint8_t to);
void poolview_free(struct poolview *pv);

#endif
