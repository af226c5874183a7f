/* SPDX-License-Identifier: MIT */
/* The hash mixing xdphc's tables share, in BPF and in the controller. */
#ifndef XDPHC_HASH_H
#define XDPHC_HASH_H

#include <linux/types.h>

/* A 64-bit multiply-xorshift finalizer: each input bit flips about half the output bits. */
static inline __u64 xdphc_mix64(__u64 h)
{
	h ^= h >> 33;
	h *= 0xff51afd7ed558ccdULL;
	h ^= h >> 33;
	h *= 0xc4ceb9fe1a85ec53ULL;
	h ^= h >> 33;
	return h;
}

#endif
