// SPDX-License-Identifier: MIT
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "poolview.h"

#define NONE UINT32_MAX

/* Readers may look at any time: every field is one aligned 32-bit store. */
static void store(uint32_t *p, uint32_t v)
{
	__atomic_store_n(p, v, __ATOMIC_RELEASE);
}

static uint32_t *published_count(struct xdphc_pool_summary *ps, uint8_t b)
{
	switch (b) {
	case PV_UP: return &ps->up;
	case PV_DOWN: return &ps->down;
	case PV_MAINT: return &ps->maint;
	case PV_DRAINING: return &ps->draining;
	default: return &ps->unknown;
	}
}

static void publish_count(struct poolview *pv, uint32_t p, uint8_t b)
{
	if (b < PV_BUCKETS)
		store(published_count(&pv->pools[p], b), pv->pv[p].count[b]);
}

/* Fail open when nothing may take new flows: nothing up, or only maint and draining. */
static void publish_flags(struct poolview *pv, uint32_t p)
{
	uint32_t f = 0;

	if (pv->pv[p].total && !pv->pv[p].count[PV_UP])
		f |= XDPHC_POOL_F_FAIL_OPEN;
	store(&pv->pools[p].total, pv->pv[p].total);
	store(&pv->pools[p].flags, f);
}

/*
 * Up list first, counts and flags last: during a restart on reused maps a
 * reader holds the old counts for a moment and may meet a slot already
 * rewritten, which the status check of docs/ABI.md catches; it never sees a
 * count of zero that is not true.
 */
static void build_pool(struct poolview *pv, uint32_t p)
{
	struct poolview_pool *pp = &pv->pv[p];

	memset(pp->count, 0, sizeof(pp->count));
	pp->total = 0;
	for (uint32_t id = pp->first; id < pp->first + pp->capacity; id++) {
		uint8_t b;

		pv->pos[id] = NONE;
		if (pv->used && !id_used(pv->used, id))
			continue;
		b = poolview_bucket(pv->health[id]);
		if (b == PV_UP) {
			pv->pos[id] = pp->first + pp->count[b];
			store(&pv->up[pv->pos[id]].id, id);
		}
		pp->count[b]++;
		pp->total++;
	}
	for (uint8_t b = 0; b < PV_BUCKETS; b++)
		publish_count(pv, p, b);
	publish_flags(pv, p);
}

/* The new id goes in before the count grows, so a reader never sees an empty slot. */
static void add_up(struct poolview *pv, uint32_t p, uint32_t id)
{
	struct poolview_pool *pp = &pv->pv[p];
	uint32_t slot = pp->first + pp->count[PV_UP];

	store(&pv->up[slot].id, id);
	pv->pos[id] = slot;
	pp->count[PV_UP]++;
}

/*
 * The last entry moves into the leaver's slot before the count shrinks: a
 * reader that still uses the old count finds an up backend in every slot,
 * except for the instant the leaver's own slot is rewritten; forwarders
 * check status[id].state for that (docs/ABI.md).  The last entry's id is
 * read from the shared map: it must name a backend whose private position
 * is that slot, or someone else wrote the list and it is rebuilt.
 */
static int remove_up(struct poolview *pv, uint32_t p, uint32_t id)
{
	struct poolview_pool *pp = &pv->pv[p];
	uint32_t slot = pv->pos[id], last = pp->first + pp->count[PV_UP] - 1;
	uint32_t moved = __atomic_load_n(&pv->up[last].id, __ATOMIC_RELAXED);

	if (slot == NONE || moved >= pv->n || pv->pos[moved] != last)
		return -1;
	store(&pv->up[slot].id, moved);
	pv->pos[moved] = slot;
	pv->pos[id] = NONE;
	pp->count[PV_UP]--;
	return 0;
}

int poolview_init(struct poolview *pv, struct xdphc_pool_summary *pools,
		  struct xdphc_pool_slot *up, size_t n_pools, const uint32_t *first,
		  const uint32_t *capacity, const struct health *health, const uint64_t *used,
		  size_t n)
{
	pv->used = used;
	pv->pools = pools;
	pv->up = up;
	pv->n_pools = n_pools;
	pv->n = n;
	pv->health = health;
	pv->repairs = 0;
	pv->pos = malloc((n ? n : 1) * sizeof(*pv->pos));
	pv->pv = calloc(n_pools ? n_pools : 1, sizeof(*pv->pv));
	if (!pv->pos || !pv->pv)
		return -1;
	/* Ids past a pool's backends (its room to grow) are in no list, ever. */
	for (size_t i = 0; i < n; i++)
		pv->pos[i] = NONE;
	for (size_t p = 0; p < n_pools; p++) {
		pv->pv[p].first = first[p];
		pv->pv[p].capacity = capacity[p];
		build_pool(pv, p);
	}
	return 0;
}

void poolview_change(struct poolview *pv, uint32_t p, uint32_t id, uint8_t from, uint8_t to)
{
	struct poolview_pool *pp = &pv->pv[p];

	if (from == to)
		return;
	if (from == PV_UP && remove_up(pv, p, id)) {
		if (!pv->repairs++)
			log_warn("pool %u: its pinned up list was written by someone else; "
				 "rebuilt from the engine's own state", p);
		build_pool(pv, p);
		return;
	}
	if (from == PV_NONE)
		pp->total++;
	else if (from != PV_UP)
		pp->count[from]--;
	if (to == PV_NONE)
		pp->total--;
	else if (to == PV_UP)
		add_up(pv, p, id);
	else
		pp->count[to]++;
	publish_count(pv, p, from);
	publish_count(pv, p, to);
	publish_flags(pv, p);
}

int poolview_add_pool(struct poolview *pv, uint32_t first, uint32_t capacity)
{
	struct poolview_pool *pools = realloc(pv->pv, (pv->n_pools + 1) * sizeof(*pools));

	if (!pools)
		return -1;
	pv->pv = pools;
	memset(&pools[pv->n_pools], 0, sizeof(pools[0]));
	pools[pv->n_pools].first = first;
	pools[pv->n_pools].capacity = capacity;
	build_pool(pv, (uint32_t)pv->n_pools++);
	return 0;
}

void poolview_describe(struct xdphc_pool_summary *ps, const struct pool_cfg *pc)
{
	snprintf(ps->name, sizeof(ps->name), "%s", pc->name);
	ps->interval_ms = pc->hc.interval_ms;
	ps->timeout_ms = pc->hc.timeout_ms;
	ps->port = pc->hc.port;
	ps->protocol = hc_ipproto(&pc->hc);
	ps->check = hc_check_kind(&pc->hc);
	ps->first = pc->first_id;
	ps->capacity = pc->max_backends;
	__atomic_store_n(&ps->in_use, 1, __ATOMIC_RELEASE);
}

void poolview_free(struct poolview *pv)
{
	free(pv->pos);
	free(pv->pv);
	pv->pos = NULL;
	pv->pv = NULL;
}
