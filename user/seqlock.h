/* SPDX-License-Identifier: MIT */
/*
 * The seqlock of a published status entry (docs/ABI.md): the writer makes
 * seq odd before it writes the entry and even after; a reader copies the
 * entry between two equal, even reads of seq.
 */
#ifndef XDPHC_SEQLOCK_H
#define XDPHC_SEQLOCK_H

#include <stdint.h>
#include <string.h>

/* Odd from whatever it was: a consumer's scribble on seq cannot wedge the writer. */
static inline uint32_t seqlock_write_begin(uint32_t *seq)
{
	uint32_t s = __atomic_load_n(seq, __ATOMIC_RELAXED) | 1;

	__atomic_store_n(seq, s, __ATOMIC_RELAXED);
	__atomic_thread_fence(__ATOMIC_RELEASE);
	return s;
}

static inline void seqlock_write_end(uint32_t *seq, uint32_t s)
{
	__atomic_thread_fence(__ATOMIC_RELEASE);
	__atomic_store_n(seq, s + 1, __ATOMIC_RELAXED);
}

/*
 * Copy len bytes at src (whose seq is *seq) to dst; gives up after many
 * tries and keeps the last copy, for an entry that never settles.
 */
static inline void seqlock_read(const uint32_t *seq, void *dst, const void *src, size_t len)
{
	for (int tries = 0; tries < 1000; tries++) {
		uint32_t s = __atomic_load_n(seq, __ATOMIC_ACQUIRE);

		if (s & 1)
			continue;
		memcpy(dst, src, len);
		__atomic_thread_fence(__ATOMIC_ACQUIRE);
		if (__atomic_load_n(seq, __ATOMIC_RELAXED) == s)
			return;
	}
	memcpy(dst, src, len);
}

#endif
