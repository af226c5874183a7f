// SPDX-License-Identifier: MIT
#include <ctype.h>
#include <stdio.h>
#include <string.h>

#include "codes.h"

static void add_range(struct codes *set, unsigned int lo, unsigned int hi)
{
	for (unsigned int c = lo; c <= hi; c++)
		set->bits[c / 64] |= 1ULL << (c % 64);
}

/* A three-digit code in [CODES_MIN, CODES_MAX] at s (exactly n characters), or 0. */
static unsigned int code_at(const char *s, size_t n)
{
	unsigned int v = 0;

	if (n != 3)
		return 0;
	for (size_t i = 0; i < n; i++) {
		if (!isdigit((unsigned char)s[i]))
			return 0;
		v = v * 10 + (unsigned int)(s[i] - '0');
	}
	return v >= CODES_MIN && v <= CODES_MAX ? v : 0;
}

/* One item of the list: "200", "200-399" or "2xx". */
static int parse_item(const char *s, size_t n, struct codes *set, char *err, size_t errlen)
{
	const char *dash = memchr(s, '-', n);
	unsigned int lo, hi;

	if (n == 3 && s[0] >= '1' && s[0] <= '5' && tolower((unsigned char)s[1]) == 'x' &&
	    tolower((unsigned char)s[2]) == 'x') {
		lo = (unsigned int)(s[0] - '0') * 100;
		add_range(set, lo, lo + 99);
		return 0;
	}
	if (dash) {
		lo = code_at(s, (size_t)(dash - s));
		hi = code_at(dash + 1, n - (size_t)(dash - s) - 1);
		if (lo && hi && lo <= hi) {
			add_range(set, lo, hi);
			return 0;
		}
		snprintf(err, errlen, "'%.*s' is not a range of codes like 200-399 (%u..%u, low "
			 "to high)", (int)n, s, CODES_MIN, CODES_MAX);
		return -1;
	}
	lo = code_at(s, n);
	if (lo) {
		add_range(set, lo, lo);
		return 0;
	}
	snprintf(err, errlen, "'%.*s' is not a status code (%u..%u), a range like 200-399 or a "
		 "class like 2xx", (int)n, s, CODES_MIN, CODES_MAX);
	return -1;
}

int codes_parse(const char *text, struct codes *set, char *err, size_t errlen)
{
	const char *p = text;
	bool any = false;

	memset(set, 0, sizeof(*set));
	while (*p) {
		size_t n;

		while (*p == ' ' || *p == '\t')
			p++;
		n = strcspn(p, ",");
		while (n && (p[n - 1] == ' ' || p[n - 1] == '\t'))
			n--;
		if (!n) {
			snprintf(err, errlen, "empty item in the list of codes '%s'", text);
			return -1;
		}
		if (parse_item(p, n, set, err, errlen))
			return -1;
		any = true;
		p += strcspn(p, ",");
		if (*p == ',' && !*++p) {
			snprintf(err, errlen, "the list of codes '%s' ends with a comma", text);
			return -1;
		}
	}
	if (!any) {
		snprintf(err, errlen, "no status codes given");
		return -1;
	}
	return 0;
}

void codes_format(const struct codes *set, char *buf, size_t len)
{
	size_t o = 0;

	buf[0] = '\0';
	for (unsigned int c = CODES_MIN; c <= CODES_MAX && o < len; c++) {
		unsigned int end = c;
		int n;

		if (!codes_has(set, c))
			continue;
		while (end < CODES_MAX && codes_has(set, end + 1))
			end++;
		n = end == c ? snprintf(buf + o, len - o, "%s%u", o ? "," : "", c) :
			       snprintf(buf + o, len - o, "%s%u-%u", o ? "," : "", c, end);
		if (n < 0)
			return;
		o += (size_t)n;
		c = end;
	}
}
