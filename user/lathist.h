/* SPDX-License-Identifier: MIT */
#ifndef XDPHC_LATHIST_H
#define XDPHC_LATHIST_H

#include <stdint.h>

/*
 * A log-linear histogram of microsecond values: 8 buckets per power of two,
 * so a quantile read off it is within 1/8 of the true value, up to 2^27 us
 * (134 s; larger values land in the last bucket).  Recording is a clz and an
 * increment, cheap enough for every probe.
 */
#define LATHIST_SUB_BITS 3
#define LATHIST_OCTAVES 27
#define LATHIST_BUCKETS ((LATHIST_OCTAVES + 1) << LATHIST_SUB_BITS)

struct lathist {
	uint64_t count[LATHIST_BUCKETS];
	uint64_t n;
	uint64_t max;
};

void lathist_add(struct lathist *h, uint64_t us);
/* Add every bucket of b into a. */
void lathist_merge(struct lathist *a, const struct lathist *b);
/* The upper bound of the bucket holding quantile q (0..1) of the values; 0 when empty. */
uint64_t lathist_quantile(const struct lathist *h, double q);
/* Largest value the bucket of index i holds. */
uint64_t lathist_bucket_top(unsigned int i);

#endif
