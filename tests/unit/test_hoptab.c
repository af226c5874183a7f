// SPDX-License-Identifier: MIT
/*
 * Next hops and the neighbour entries behind them (hoptab.h): counted hop
 * ids, what the programs' hops array says for each, neighbour changes,
 * dumps that leave entries out, running out of ids.
 */
#include <stdlib.h>
#include <arpa/inet.h>
#include <sys/socket.h>
#include <linux/neighbour.h>

#include "check.h"
#include "hoptab.h"

static const uint8_t MAC1[6] = { 2, 0, 0, 0, 0, 1 };
static const uint8_t MAC2[6] = { 2, 0, 0, 0, 0, 2 };

static void v4(uint32_t host, uint32_t a[4])
{
	a[0] = htonl(0xc6120000 | host);
	a[1] = a[2] = a[3] = 0;
}

static bool valid(const struct xdphc_hop *h, const uint8_t mac[6])
{
	return h->state == XDPHC_HOP_VALID && !memcmp(h->dmac, mac, 6);
}

static void refs_and_ids(void)
{
	struct xdphc_hop out[8] = { 0 };
	struct hoptab t;
	uint32_t a[4], b[4], ha, hb;

	CHECK_INT(hoptab_init(&t, out, 8), 0);
	v4(1, a);
	v4(2, b);
	ha = hoptab_ref(&t, AF_INET, a);
	CHECK(ha != 0);
	CHECK_UINT(hoptab_ref(&t, AF_INET, a), ha);	/* a second slot, the same hop */
	hb = hoptab_ref(&t, AF_INET, b);
	CHECK(hb != 0 && hb != ha);
	CHECK_UINT(hoptab_hops(&t), 2);
	CHECK(hoptab_rec(&t, ha) && hoptab_rec(&t, ha)->refs == 2);
	CHECK_INT(out[ha].state, XDPHC_HOP_INVALID);	/* no neighbour entry yet */
	hoptab_unref(&t, ha);
	CHECK(hoptab_rec(&t, ha) != NULL);
	hoptab_unref(&t, ha);
	CHECK(!hoptab_rec(&t, ha));
	CHECK(!hoptab_find(&t, AF_INET, a));	/* not in the kernel either: forgotten */
	CHECK_UINT(hoptab_hops(&t), 1);
	/* the same address in the other family is another hop */
	CHECK(hoptab_ref(&t, AF_INET6, b) != hb);
	hoptab_free(&t);
}

static void neighbour_states(void)
{
	struct xdphc_hop out[8] = { 0 };
	struct hoptab t;
	uint32_t a[4], b[4], ha, hb;

	CHECK_INT(hoptab_init(&t, out, 8), 0);
	v4(1, a);
	v4(2, b);
	/* known to the kernel before any slot uses it (the start's dump) */
	hoptab_neigh(&t, AF_INET, a, NUD_REACHABLE, MAC1);
	ha = hoptab_ref(&t, AF_INET, a);
	CHECK(valid(&out[ha], MAC1));
	/* a slot first, then resolution */
	hb = hoptab_ref(&t, AF_INET, b);
	CHECK_INT(out[hb].state, XDPHC_HOP_INVALID);
	hoptab_neigh(&t, AF_INET, b, NUD_INCOMPLETE, NULL);
	CHECK_INT(out[hb].state, XDPHC_HOP_INVALID);
	hoptab_neigh(&t, AF_INET, b, NUD_REACHABLE, MAC2);
	CHECK(valid(&out[hb], MAC2));
	/* stale, delay, probe still have an address to send to */
	hoptab_neigh(&t, AF_INET, b, NUD_STALE, MAC2);
	CHECK(valid(&out[hb], MAC2));
	hoptab_neigh(&t, AF_INET, b, NUD_PROBE, MAC2);
	CHECK(valid(&out[hb], MAC2));
	/* a new MAC (failover) is taken whole */
	hoptab_neigh(&t, AF_INET, b, NUD_REACHABLE, MAC1);
	CHECK(valid(&out[hb], MAC1));
	hoptab_neigh(&t, AF_INET, b, NUD_FAILED, NULL);
	CHECK_INT(out[hb].state, XDPHC_HOP_INVALID);
	hoptab_neigh(&t, AF_INET, b, NUD_REACHABLE, MAC2);
	hoptab_neigh_gone(&t, AF_INET, b);	/* ip neigh flush */
	CHECK_INT(out[hb].state, XDPHC_HOP_INVALID);
	CHECK(hoptab_rec(&t, hb) && !hoptab_rec(&t, hb)->in_kernel);
	/* an entry without a slot, gone: forgotten */
	v4(3, b);
	hoptab_neigh(&t, AF_INET, b, NUD_REACHABLE, MAC2);
	CHECK(hoptab_find(&t, AF_INET, b) != NULL);
	hoptab_neigh_gone(&t, AF_INET, b);
	CHECK(!hoptab_find(&t, AF_INET, b));
	/* a freed hop is cleared for the programs */
	hoptab_unref(&t, ha);
	CHECK_INT(out[ha].state, XDPHC_HOP_INVALID);
	CHECK(hoptab_find(&t, AF_INET, a) != NULL);	/* still in the kernel's table */
	hoptab_free(&t);
}

/* A dump that no longer lists an entry means it is gone (notifications were lost). */
static void sweep(void)
{
	struct xdphc_hop out[8] = { 0 };
	struct hoptab t;
	uint32_t a[4], b[4], ha, hb;

	CHECK_INT(hoptab_init(&t, out, 8), 0);
	v4(1, a);
	v4(2, b);
	hoptab_neigh(&t, AF_INET, a, NUD_REACHABLE, MAC1);
	hoptab_neigh(&t, AF_INET, b, NUD_REACHABLE, MAC2);
	ha = hoptab_ref(&t, AF_INET, a);
	hb = hoptab_ref(&t, AF_INET, b);
	hoptab_sweep_begin(&t);
	hoptab_neigh(&t, AF_INET, a, NUD_STALE, MAC1);
	hoptab_sweep_end(&t);
	CHECK(valid(&out[ha], MAC1));
	CHECK_INT(out[hb].state, XDPHC_HOP_INVALID);
	CHECK(!hoptab_rec(&t, hb)->in_kernel);
	hoptab_free(&t);
}

/* Out of ids: 0, and nothing left behind; freed ids come back oldest first. */
static void ids_run_out(void)
{
	struct xdphc_hop out[4] = { 0 };
	struct hoptab t;
	uint32_t a[4], h[3];

	CHECK_INT(hoptab_init(&t, out, 4), 0);	/* ids 1, 2, 3 */
	for (uint32_t i = 0; i < 3; i++) {
		v4(10 + i, a);
		h[i] = hoptab_ref(&t, AF_INET, a);
		CHECK(h[i] != 0);
	}
	v4(20, a);
	CHECK_UINT(hoptab_ref(&t, AF_INET, a), 0);
	CHECK(!hoptab_find(&t, AF_INET, a));
	hoptab_unref(&t, h[1]);
	hoptab_unref(&t, h[0]);
	CHECK_UINT(hoptab_ref(&t, AF_INET, a), h[1]);
	v4(21, a);
	CHECK_UINT(hoptab_ref(&t, AF_INET, a), h[0]);
	hoptab_free(&t);
}

/* Many records: the table grows, every one is still found, and removal keeps chains whole. */
static void many(void)
{
	enum { N = 20000 };
	struct xdphc_hop *out = calloc(N + 1, sizeof(*out));
	struct hoptab t;
	uint32_t a[4], bad = 0;

	CHECK_INT(hoptab_init(&t, out, N + 1), 0);
	for (uint32_t i = 0; i < N; i++) {
		v4(i, a);
		if (i % 2)
			hoptab_neigh(&t, AF_INET, a, NUD_REACHABLE, MAC1);
		bad += !hoptab_ref(&t, AF_INET, a);
	}
	for (uint32_t i = 0; i < N; i += 3) {
		v4(i, a);
		hoptab_unref(&t, hoptab_find(&t, AF_INET, a)->hop);
	}
	for (uint32_t i = 0; i < N; i++) {
		struct hop_rec *r;

		v4(i, a);
		r = hoptab_find(&t, AF_INET, a);
		if (i % 3 == 0)
			bad += r && (r->hop || !(i % 2));	/* kept only as a kernel entry */
		else
			bad += !r || !r->hop || valid(&out[r->hop], MAC1) != (i % 2);
	}
	CHECK_UINT(bad, 0);
	hoptab_free(&t);
	free(out);
}

void suite_hoptab(void)
{
	refs_and_ids();
	neighbour_states();
	sweep();
	ids_run_out();
	many();
}
