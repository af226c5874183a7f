// SPDX-License-Identifier: MIT
#include <stdlib.h>
#include <string.h>
#include <netinet/in.h>

#include "check.h"
#include "poolview.h"

#define N_BACKENDS 100
#define N_POOLS 4

/* Pool p owns backend ids [first[p], first[p] + total[p]); pool 2 is empty. */
static const uint32_t pool_total[N_POOLS] = { 40, 1, 0, 59 };

struct fixture {
	struct xdphc_pool_summary pools[N_POOLS];
	struct xdphc_pool_slot up[N_BACKENDS];
	struct health h[N_BACKENDS];	/* the controller's records */
	uint8_t state[N_BACKENDS];	/* what the view should reflect */
	uint32_t first[N_POOLS], pool_of[N_BACKENDS];
	struct poolview pv;
};

static void set_state(struct fixture *f, uint32_t i, uint8_t s)
{
	f->h[i] = health_make(s, false, 0);
	f->state[i] = s <= XDPHC_STATE_DOWN ? s : XDPHC_STATE_UNKNOWN;
}

static int view_init(struct fixture *f)
{
	return poolview_init(&f->pv, f->pools, f->up, N_POOLS, f->first, pool_total, f->h, NULL,
			     N_BACKENDS);
}

static void fixture_init(struct fixture *f)
{
	uint32_t first = 0;

	memset(f, 0, sizeof(*f));
	for (uint32_t p = 0; p < N_POOLS; p++) {
		f->pools[p].total = pool_total[p];
		f->pools[p].first = first;
		f->first[p] = first;
		for (uint32_t i = first; i < first + pool_total[p]; i++) {
			f->pool_of[i] = p;
			set_state(f, i, (uint8_t)(check_rand() % 3));
		}
		first += pool_total[p];
	}
}

/* Counts, flag and up list of pool p agree with f->state. */
static bool pool_consistent(const struct fixture *f, uint32_t p)
{
	const struct xdphc_pool_summary *ps = &f->pools[p];
	uint32_t n[3] = { 0 };
	bool seen[N_BACKENDS] = { false };

	for (uint32_t i = ps->first; i < ps->first + ps->total; i++)
		n[f->state[i]]++;
	if (ps->unknown != n[0] || ps->up != n[1] || ps->down != n[2])
		return false;
	if (!!(ps->flags & XDPHC_POOL_F_FAIL_OPEN) != (ps->total && !ps->up))
		return false;
	for (uint32_t s = ps->first; s < ps->first + ps->up; s++) {
		uint32_t id = f->up[s].id;

		/* Every listed id is an up backend of this pool, listed once. */
		if (id < ps->first || id >= ps->first + ps->total)
			return false;
		if (f->state[id] != XDPHC_STATE_UP || seen[id])
			return false;
		seen[id] = true;
	}
	return true;
}

static void check_all(const struct fixture *f, const char *when)
{
	for (uint32_t p = 0; p < N_POOLS; p++)
		CHECK_MSG(pool_consistent(f, p), "pool %u consistent %s", p, when);
}

static void change(struct fixture *f, uint32_t id, uint8_t to)
{
	uint8_t from = f->state[id];

	set_state(f, id, to);
	poolview_change(&f->pv, f->pool_of[id], id, from, to);
}

static void random_transitions(void)
{
	static struct fixture f;
	unsigned long bad = 0;

	fixture_init(&f);
	CHECK_INT(view_init(&f), 0);
	check_all(&f, "after init");
	for (int step = 0; step < 20000; step++) {
		uint32_t id = (uint32_t)(check_rand() % N_BACKENDS);
		uint8_t to = (uint8_t)((f.state[id] + 1 + check_rand() % 2) % 3);

		change(&f, id, to);
		for (uint32_t p = 0; p < N_POOLS; p++)
			bad += !pool_consistent(&f, p);
	}
	CHECK_UINT(bad, 0);
	poolview_free(&f.pv);
}

static void fail_open(void)
{
	static struct fixture f;
	uint32_t first = pool_total[0];	/* pool 1: one backend */

	fixture_init(&f);
	for (uint32_t i = 0; i < N_BACKENDS; i++)
		set_state(&f, i, XDPHC_STATE_UNKNOWN);
	CHECK_INT(view_init(&f), 0);
	/* Nothing known yet: a load balancer must use every backend. */
	CHECK(f.pools[0].flags & XDPHC_POOL_F_FAIL_OPEN);
	/* An empty pool has nothing to fail open to. */
	CHECK(!(f.pools[2].flags & XDPHC_POOL_F_FAIL_OPEN));
	change(&f, first, XDPHC_STATE_UP);
	CHECK(!(f.pools[1].flags & XDPHC_POOL_F_FAIL_OPEN));
	CHECK_UINT(f.pools[1].up, 1);
	CHECK_UINT(f.up[first].id, first);
	change(&f, first, XDPHC_STATE_DOWN);
	CHECK(f.pools[1].flags & XDPHC_POOL_F_FAIL_OPEN);
	CHECK_UINT(f.pools[1].up, 0);
	CHECK_UINT(f.pools[1].down, 1);
	/* One pool's changes leave the others alone. */
	CHECK_UINT(f.pools[0].unknown, pool_total[0]);
	check_all(&f, "fail-open");
	poolview_free(&f.pv);
}

/*
 * Maint and draining backends count apart from the states and are in no up
 * list; backends added and removed change the total; a free id (not in the
 * used bitmap) counts nowhere.
 */
static void marks_and_membership(void)
{
	struct xdphc_pool_summary pools[1] = { 0 };
	struct xdphc_pool_slot up[8] = { 0 };
	struct health h[8];
	uint64_t used = 0x3f;		/* ids 0..5 hold backends, 6 and 7 are free */
	uint32_t first = 0, cap = 8;
	struct poolview pv;

	for (uint32_t i = 0; i < 8; i++)
		h[i] = health_make(XDPHC_STATE_UP, true, 3);
	h[1] = health_make(XDPHC_STATE_MAINT, false, 0);
	health_set(&h[2], HEALTH_F_DRAIN, true);
	CHECK_INT(poolview_init(&pv, pools, up, 1, &first, &cap, h, &used, 8), 0);
	CHECK_UINT(pools[0].total, 6);
	CHECK_UINT(pools[0].up, 4);
	CHECK_UINT(pools[0].maint, 1);
	CHECK_UINT(pools[0].draining, 1);
	for (uint32_t k = 0; k < pools[0].up; k++)
		CHECK(up[k].id != 1 && up[k].id != 2 && up[k].id < 6);
	/* undrain: back in the up list */
	health_set(&h[2], HEALTH_F_DRAIN, false);
	poolview_change(&pv, 0, 2, PV_DRAINING, PV_UP);
	CHECK_UINT(pools[0].up, 5);
	CHECK_UINT(pools[0].draining, 0);
	/* add id 6 (unknown), remove id 0 (up) */
	used |= 1u << 6;
	h[6] = health_make(XDPHC_STATE_UNKNOWN, false, 0);
	poolview_change(&pv, 0, 6, PV_NONE, PV_UNKNOWN);
	used &= ~1ull;
	poolview_change(&pv, 0, 0, PV_UP, PV_NONE);
	CHECK_UINT(pools[0].total, 6);
	CHECK_UINT(pools[0].up, 4);
	CHECK_UINT(pools[0].unknown, 1);
	for (uint32_t k = 0; k < pools[0].up; k++)
		CHECK(up[k].id >= 2 && up[k].id <= 5);
	/* only maint left that is not removed: fail open */
	for (uint32_t i = 2; i <= 6; i++) {
		poolview_change(&pv, 0, i, poolview_bucket(h[i]), PV_NONE);
		used &= ~(1ull << i);
	}
	CHECK_UINT(pools[0].total, 1);
	CHECK_UINT(pools[0].up, 0);
	CHECK(pools[0].flags & XDPHC_POOL_F_FAIL_OPEN);
	poolview_free(&pv);
}

static void empty(void)
{
	struct poolview pv;

	CHECK_INT(poolview_init(&pv, NULL, NULL, 0, NULL, NULL, NULL, NULL, 0), 0);
	poolview_free(&pv);
	CHECK(pv.pos == NULL);
}

/*
 * The published maps are output only: a consumer that scribbles over the
 * counts and the up list (an id far out of range at the end of the list)
 * does not make the view write out of bounds, and the next change
 * publishes the truth again.
 */
static void foreign_writes(void)
{
	static struct fixture f;
	uint32_t p = 3, first;
	unsigned long bad = 0;

	fixture_init(&f);
	first = f.first[p];
	for (uint32_t i = first; i < first + pool_total[p]; i++)
		set_state(&f, i, XDPHC_STATE_UP);
	CHECK_INT(view_init(&f), 0);
	f.pools[p].up = 12345;
	f.pools[p].down = 7;
	f.up[first + pool_total[p] - 1].id = 0xdeadbeef;
	change(&f, first, XDPHC_STATE_DOWN);
	CHECK_UINT(f.pv.repairs, 1);
	check_all(&f, "after a foreign write to the up list");
	for (int step = 0; step < 2000; step++) {
		uint32_t id = first + (uint32_t)(check_rand() % pool_total[p]);

		change(&f, id, (uint8_t)((f.state[id] + 1 + check_rand() % 2) % 3));
		bad += !pool_consistent(&f, p);
	}
	CHECK_UINT(bad, 0);
	CHECK_UINT(f.pv.repairs, 1);
	poolview_free(&f.pv);
}

/*
 * A pool's spare ids (past its backends, up to its capacity) have no
 * backend: an up list naming one was written by someone else.
 */
static void spare_ids(void)
{
	static const uint32_t first[2] = { 0, 8 }, total[2] = { 3, 2 };
	struct xdphc_pool_summary pools[2] = { 0 };
	struct xdphc_pool_slot up[10] = { 0 };
	struct health h[10] = { 0 };
	struct poolview pv;

	for (uint32_t i = 0; i < 10; i++)
		h[i] = health_make(XDPHC_STATE_UP, false, 0);
	CHECK_INT(poolview_init(&pv, pools, up, 2, first, total, h, NULL, 10), 0);
	CHECK_UINT(pools[0].up, 3);
	CHECK_UINT(pools[1].up, 2);
	up[9].id = 5;			/* pool 1's last up slot now names a spare id of pool 0 */
	h[8] = health_make(XDPHC_STATE_DOWN, false, 0);
	poolview_change(&pv, 1, 8, XDPHC_STATE_UP, XDPHC_STATE_DOWN);
	CHECK_UINT(pv.repairs, 1);
	CHECK_UINT(pools[1].up, 1);
	CHECK_UINT(up[8].id, 9);
	poolview_free(&pv);
}

/* What the pools map says of a pool's check: its IP protocol and kind. */
static void describe(void)
{
	struct pool_cfg pc = { .name = "dns", .first_id = 7, .max_backends = 9 };
	struct xdphc_pool_summary ps = { 0 };

	check_context("poolview: describe");
	pc.hc.protocol = HC_PROTO_UDP;
	pc.hc.port = 53;
	poolview_describe(&ps, &pc);
	CHECK_STR(ps.name, "dns");
	CHECK_UINT(ps.protocol, IPPROTO_UDP);
	CHECK_UINT(ps.check, XDPHC_CHECK_UDP);
	CHECK_UINT(ps.port, 53);
	CHECK_UINT(ps.first, 7);
	CHECK_UINT(ps.capacity, 9);
	pc.hc.protocol = HC_PROTO_TCP;
	poolview_describe(&ps, &pc);
	CHECK_UINT(ps.protocol, IPPROTO_TCP);
	CHECK_UINT(ps.check, XDPHC_CHECK_TCP_SYN);
	check_context("%s", "");
}

void suite_poolview(void)
{
	describe();
	random_transitions();
	foreign_writes();
	fail_open();
	marks_and_membership();
	empty();
	spare_ids();
}
