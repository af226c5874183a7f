// SPDX-License-Identifier: MIT
#include "check.h"
#include "lathist.h"

/* Every value lands in a bucket whose top is at least it and at most 1/8 above. */
static void buckets_bound_values(void)
{
	unsigned long bad = 0;

	for (uint64_t v = 0; v < (1ULL << 27); v = v < 64 ? v + 1 : v + v / 7 + 1) {
		struct lathist h = { 0 };
		uint64_t q;

		lathist_add(&h, v);
		lathist_add(&h, v + (1ULL << 40));	/* a second, larger value */
		q = lathist_quantile(&h, 0.0);
		bad += q < v || q > v + v / 8 + 1;
	}
	CHECK_UINT(bad, 0);
	for (unsigned int i = 1; i < LATHIST_BUCKETS; i++)
		bad += lathist_bucket_top(i) <= lathist_bucket_top(i - 1);
	CHECK_UINT(bad, 0);
}

static void quantiles(void)
{
	static struct lathist h, g;

	CHECK_UINT(lathist_quantile(&h, 0.99), 0);
	for (uint64_t v = 1; v <= 1000; v++)
		lathist_add(&h, v * 100);			/* 100 us .. 100 ms */
	CHECK(lathist_quantile(&h, 0.5) >= 50000 && lathist_quantile(&h, 0.5) <= 50000 * 9 / 8);
	CHECK(lathist_quantile(&h, 0.99) >= 99000 && lathist_quantile(&h, 0.99) <= 100000);
	CHECK_UINT(lathist_quantile(&h, 1.0), 100000);	/* never above the max */
	CHECK_UINT(h.max, 100000);
	lathist_add(&g, 5000000);
	lathist_merge(&g, &h);
	CHECK_UINT(g.n, 1001);
	CHECK_UINT(g.max, 5000000);
	CHECK(lathist_quantile(&g, 0.5) <= 50000 * 9 / 8);
}

void suite_lathist(void)
{
	buckets_bound_values();
	quantiles();
}
