/* SPDX-License-Identifier: MIT */
/*
 * Whether a byte stream contains a pattern, fed in pieces as they arrive
 * (a reply body from libcurl's write callback): the pattern may straddle
 * two pieces, so the last len - 1 bytes seen are kept.
 */
#ifndef XDPHC_MATCH_H
#define XDPHC_MATCH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define MATCH_MAX 256

struct match {
	uint16_t len;			/* of the pattern, 1..MATCH_MAX */
	uint16_t tail_len;
	bool found;
	uint8_t pat[MATCH_MAX];
	uint8_t tail[MATCH_MAX];
};

/* Look for pat (len bytes, at most MATCH_MAX; 0: matches at once) from here on. */
void match_init(struct match *m, const void *pat, size_t len);
/* The stream goes on with n bytes; whether the pattern has been seen. */
bool match_feed(struct match *m, const void *data, size_t n);

#endif
