// SPDX-License-Identifier: MIT
#include "lathist.h"

#define SUB (1U << LATHIST_SUB_BITS)

/* Values below SUB get a bucket each; above, 8 buckets per octave. */
static unsigned int bucket_of(uint64_t v)
{
	unsigned int msb, i;

	if (v < SUB)
		return (unsigned int)v;
	msb = 63 - __builtin_clzll(v);
	i = ((msb - LATHIST_SUB_BITS + 1) << LATHIST_SUB_BITS) |
	    (unsigned int)((v >> (msb - LATHIST_SUB_BITS)) & (SUB - 1));
	return i < LATHIST_BUCKETS ? i : LATHIST_BUCKETS - 1;
}

uint64_t lathist_bucket_top(unsigned int i)
{
	unsigned int octave = i >> LATHIST_SUB_BITS, sub = i & (SUB - 1);

	if (!octave)
		return sub;
	return ((uint64_t)(SUB + sub + 1) << (octave - 1)) - 1;
}

void lathist_add(struct lathist *h, uint64_t us)
{
	h->count[bucket_of(us)]++;
	h->n++;
	if (us > h->max)
		h->max = us;
}

void lathist_merge(struct lathist *a, const struct lathist *b)
{
	for (unsigned int i = 0; i < LATHIST_BUCKETS; i++)
		a->count[i] += b->count[i];
	a->n += b->n;
	if (b->max > a->max)
		a->max = b->max;
}

uint64_t lathist_quantile(const struct lathist *h, double q)
{
	uint64_t want, seen = 0;

	if (!h->n)
		return 0;
	want = (uint64_t)(q * (double)h->n);
	if (want >= h->n)
		want = h->n - 1;
	for (unsigned int i = 0; i < LATHIST_BUCKETS; i++) {
		seen += h->count[i];
		if (seen > want) {
			uint64_t top = lathist_bucket_top(i);

			return top < h->max ? top : h->max;
		}
	}
	return h->max;
}
