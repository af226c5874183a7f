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

/*
 * Up lists first, counts and flags last: during a restart on reused maps a
 * reader holds the old counts for a moment and may meet a slot already
 * rewritten, which the status check of docs/ABI.md catches; it never sees a
 * count of zero that is not true.
 */
int poolview_init(struct poolview *pv, struct xdphc_pool_summary *pools,
		  struct xdphc_pool_slot *up, size_t n_pools,
		  const struct xdphc_backend_status *st, size_t n)
{
	uint32_t (*cnt)[3] = calloc(n_pools ? n_pools : 1, sizeof(*cnt));

	pv->pools = pools;
	pv->up = up;
	pv->n_pools = n_pools;
	pv->pos = malloc((n ? n : 1) * sizeof(*pv->pos));
	if (!pv->pos || !cnt) {
		free(cnt);
		return -1;
	}
	for (size_t i = 0; i < n; i++) {
		uint32_t p = st[i].pool_id, s = st[i].state <= XDPHC_STATE_DOWN ? st[i].state : 0;

		pv->pos[i] = NONE;
		if (s == XDPHC_STATE_UP) {
			pv->pos[i] = pools[p].first + cnt[p][s];
			store(&up[pv->pos[i]].id, i);
		}
		cnt[p][s]++;
	}
	for (size_t p = 0; p < n_pools; p++) {
		store(&pools[p].unknown, cnt[p][XDPHC_STATE_UNKNOWN]);
		store(&pools[p].down, cnt[p][XDPHC_STATE_DOWN]);
		store(&pools[p].up, cnt[p][XDPHC_STATE_UP]);
		set_flags(&pools[p]);
	}
	free(cnt);
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
