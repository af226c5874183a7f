/* SPDX-License-Identifier: MIT */
/*
 * Sets of HTTP status codes as users write them in ELB and HAProxy
 * configs: "200", "200,302", "200-399", "2xx", and any mix of those
 * ("2xx,404"), for success_codes and fail_fast_codes.
 */
#ifndef XDPHC_CODES_H
#define XDPHC_CODES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define CODES_MIN 100
#define CODES_MAX 599

struct codes {
	uint64_t bits[(CODES_MAX + 1 + 63) / 64];
};

/*
 * Parse text into set.  0, or -1 with the reason in err ("'2x' is not a
 * code, a range or a class like 2xx").  An empty list is an error.
 */
int codes_parse(const char *text, struct codes *set, char *err, size_t errlen);

static inline bool codes_has(const struct codes *set, unsigned int code)
{
	return code <= CODES_MAX && (set->bits[code / 64] >> (code % 64) & 1);
}

/* The set back as text, ranges joined ("200-399,404"): for messages and `xdphc pool list`. */
void codes_format(const struct codes *set, char *buf, size_t len);

#endif
