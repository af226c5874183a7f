/* SPDX-License-Identifier: MIT */
#ifndef XDPHC_POOLVIEW_H
#define XDPHC_POOLVIEW_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <xdphc/abi.h>

#include "state.h"

/*
 * The load balancer's view of each pool, kept in the mmap-ed pinned maps:
 * the counts and fail-open flag in pools[p], and the ids of the pool's up
 * backends (up and not draining) in pool_up[first, first + up), so that a
 * forwarder picks a healthy backend with one hash and one array read.
 *
 * The pinned maps are output only: the counts, firsts and positions that
 * drive the writes are kept here, and the one value read back (the id at
 * the end of an up list, which moves into a leaver's place) is checked
 * against them before it is used.
 */
/*
 * Where a backend counts in its pool: every backend in exactly one bucket.
 * The first three are its state; an operator's maint or drain comes before
 * the state.  Only PV_UP backends are in the up list.
 */
enum pv_bucket {
	PV_UNKNOWN = XDPHC_STATE_UNKNOWN,
	PV_UP = XDPHC_STATE_UP,
	PV_DOWN = XDPHC_STATE_DOWN,
	PV_MAINT = XDPHC_STATE_MAINT,
	PV_DRAINING,
	PV_BUCKETS,
	PV_NONE = PV_BUCKETS,		/* not a backend: a free id */
};

static inline uint8_t poolview_bucket(struct health h)
{
	if (health_state(h) == XDPHC_STATE_MAINT)
		return PV_MAINT;
	if (health_has(h, HEALTH_F_DRAIN))
		return PV_DRAINING;
	return health_state(h);
}

struct poolview_pool {
	uint32_t first, capacity;
	uint32_t count[PV_BUCKETS];
	uint32_t total;
};

struct poolview {
	struct xdphc_pool_summary *pools;	/* pinned, mmap-ed */
	struct xdphc_pool_slot *up;		/* pinned pool_up, mmap-ed */
	struct poolview_pool *pv;		/* the truth, per pool */
	uint32_t *pos;				/* backend id -> its slot in up, or NONE */
	const struct health *health;		/* the controller's, per backend */
	const uint64_t *used;			/* bitmap of ids that hold a backend */
	size_t n_pools, n;
	uint64_t repairs;			/* up lists rewritten after a foreign write */
};

static inline bool id_used(const uint64_t *used, uint32_t id)
{
	return used[id / 64] >> (id % 64) & 1;
}

/*
 * Counts, flags and up lists from the backends' health; pool p owns ids
 * [first[p], first[p] + capacity[p]), of which those set in used hold a
 * backend.  The bitmap and the health records stay the caller's: it
 * reports every change to them with poolview_change().
 */
int poolview_init(struct poolview *pv, struct xdphc_pool_summary *pools,
		  struct xdphc_pool_slot *up, size_t n_pools, const uint32_t *first,
		  const uint32_t *capacity, const struct health *health, const uint64_t *used,
		  size_t n);
/*
 * Backend id of pool p moved from bucket from to bucket to (PV_NONE: it was
 * added, or removed).  health[id] and used already say to.
 */
void poolview_change(struct poolview *pv, uint32_t p, uint32_t id, uint8_t from, uint8_t to);
void poolview_free(struct poolview *pv);

#endif
