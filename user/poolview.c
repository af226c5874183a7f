// SPDX-License-Identifier: MIT
#include <stdlib.h>

#include "poolview.h"

#define NONE UINT32_MAX

static uint32_t *count_of(struct xdphc_pool_summary *ps, uint8_t state)
{
	if (state == XDPHC_STATE_UP)
		return &ps->up;
	if (state == XDPHC_STATE_DOWN)
		return &ps->down;
	return &ps->unknown;
}

/* Readers may look at any time: every field is one aligned 32-bit store. */
static void store(uint32_t *p, uint32_t v)
{
	__atomic_store_n(p, v, __ATOMIC_RELEASE);
}

static void set_flags(struct xdphc_pool_summary *ps)
{
	uint32_t f = ps->flags & ~XDPHC_POOL_F_FAIL_OPEN;

	if (ps->total && !ps->up)
		f |= XDPHC_POOL_F_FAIL_OPEN;
	store(&ps->flags, f);
}

/* The new id goes in before the count grows, so a reader never sees an empty slot. */
static void add_up(struct poolview *pv, struct xdphc_pool_summary *ps, uint32_t id)
{
	uint32_t slot = ps->first + ps->up;

	store(&pv->up[slot].id, id);
	pv->pos[id] = slot;
	store(&ps->up, ps->up + 1);
}

/*
 * The last entry moves into the leaver's slot before the count shrinks: a
 * reader that still uses the old count finds an up backend in every slot,
 * except for the instant the leaver's own slot is rewritten; forwarders
 * check status[id].state for that (docs/ABI.md).
 */
static void remove_up(struct poolview *pv, struct xdphc_pool_summary *ps, uint32_t id)
{
	uint32_t slot = pv->pos[id], last = ps->first + ps->up - 1, moved = pv->up[last].id;

	store(&pv->up[slot].id, moved);
	pv->pos[moved] = slot;
	pv->pos[id] = NONE;
	store(&ps->up, ps->up - 1);
}

int poolview_init(struct poolview *pv, struct xdphc_pool_summary *pools,
		  struct xdphc_pool_slot *up,
		  size_t n_pools, const struct xdphc_backend_status *st, size_t n)
{
	pv->pools = pools;
	pv->up = up;
	pv->n_pools = n_pools;
	pv->pos = malloc((n ? n : 1) * sizeof(*pv->pos));
	if (!pv->pos)
		return -1;
	for (size_t p = 0; p < n_pools; p++)
		pools[p].up = pools[p].down = pools[p].unknown = 0;
	for (size_t i = 0; i < n; i++) {
		struct xdphc_pool_summary *ps = &pools[st[i].pool_id];

		pv->pos[i] = NONE;
		if (st[i].state == XDPHC_STATE_UP)
			add_up(pv, ps, i);
		else
			(*count_of(ps, st[i].state))++;
	}
	for (size_t p = 0; p < n_pools; p++)
		set_flags(&pools[p]);
	return 0;
}

void poolview_change(struct poolview *pv, uint32_t p, uint32_t id, uint8_t from, uint8_t to)
{
	struct xdphc_pool_summary *ps = &pv->pools[p];

	if (from == XDPHC_STATE_UP)
		remove_up(pv, ps, id);
	else
		store(count_of(ps, from), *count_of(ps, from) - 1);
	if (to == XDPHC_STATE_UP)
		add_up(pv, ps, id);
	else
		store(count_of(ps, to), *count_of(ps, to) + 1);
	set_flags(ps);
}

void poolview_free(struct poolview *pv)
{
	free(pv->pos);
	pv->pos = NULL;
}
