// SPDX-License-Identifier: MIT
#include <stdarg.h>
#include <stdio.h>

#include "check.h"

/* Past this many, failures are counted but not printed: a loop can fail 10^4 times. */
#define MAX_PRINTED 200

static unsigned long n_passed, n_failed;
static char context[256];
static uint64_t rng = 0x9e3779b97f4a7c15ULL;

void check_context(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(context, sizeof(context), fmt, ap);
	va_end(ap);
}

void check_report(bool ok, const char *file, int line, const char *fmt, ...)
{
	va_list ap;

	if (ok) {
		n_passed++;
		return;
	}
	if (n_failed++ >= MAX_PRINTED)
		return;
	fprintf(stderr, "FAIL %s:%d: ", file, line);
	if (context[0])
		fprintf(stderr, "[%s] ", context);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

unsigned long check_failed_count(void)
{
	return n_failed;
}

unsigned long check_passed_count(void)
{
	return n_passed;
}

void check_rand_seed(uint64_t seed)
{
	rng = seed ? seed : 1;
}

/* xorshift64*: good enough to shuffle test inputs, and the same on every run. */
uint64_t check_rand(void)
{
	rng ^= rng >> 12;
	rng ^= rng << 25;
	rng ^= rng >> 27;
	return rng * 0x2545f4914f6cdd1dULL;
}
