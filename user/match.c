// SPDX-License-Identifier: MIT
#define _GNU_SOURCE	/* memmem */
#include <string.h>

#include "match.h"

void match_init(struct match *m, const void *pat, size_t len)
{
	if (len > MATCH_MAX)
		len = MATCH_MAX;
	m->len = (uint16_t)len;
	m->tail_len = 0;
	m->found = len == 0;
	memcpy(m->pat, pat, len);
}

/* The tail becomes the last len - 1 bytes of tail + data. */
static void keep_tail(struct match *m, const uint8_t *d, size_t n)
{
	size_t keep = (size_t)m->len - 1, from_tail;

	if (n >= keep) {
		memcpy(m->tail, d + n - keep, keep);
		m->tail_len = (uint16_t)keep;
		return;
	}
	from_tail = m->tail_len + n > keep ? keep - n : m->tail_len;
	memmove(m->tail, m->tail + m->tail_len - from_tail, from_tail);
	memcpy(m->tail + from_tail, d, n);
	m->tail_len = (uint16_t)(from_tail + n);
}

bool match_feed(struct match *m, const void *data, size_t n)
{
	const uint8_t *d = data;
	uint8_t joint[2 * MATCH_MAX];
	size_t take;

	if (m->found || !n)
		return m->found;
	if (m->tail_len) {
		/* Across the seam: the tail and the first len - 1 new bytes. */
		take = n < (size_t)m->len - 1 ? n : (size_t)m->len - 1;
		memcpy(joint, m->tail, m->tail_len);
		memcpy(joint + m->tail_len, d, take);
		if (memmem(joint, m->tail_len + take, m->pat, m->len))
			return m->found = true;
	}
	if (memmem(d, n, m->pat, m->len))
		return m->found = true;
	keep_tail(m, d, n);
	return false;
}
