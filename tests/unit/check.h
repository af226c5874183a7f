/* SPDX-License-Identifier: MIT */
#ifndef XDPHC_UNIT_CHECK_H
#define XDPHC_UNIT_CHECK_H

#include <stdbool.h>
#include <stdint.h>
#include <string.h>

/*
 * A deliberately tiny assertion harness: every CHECK counts as one passed or
 * failed check, a failure prints where it was and why, and the run goes on
 * so that one broken module does not hide the state of the others.
 */
void check_report(bool ok, const char *file, int line, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

/* Named context (e.g. the table case being run) printed with each failure. */
void check_context(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

unsigned long check_passed_count(void);
unsigned long check_failed_count(void);

/* Deterministic PRNG for the randomised tests: a failure must reproduce. */
uint64_t check_rand(void);
void check_rand_seed(uint64_t seed);

#define CHECK(cond) check_report(!!(cond), __FILE__, __LINE__, "%s", #cond)

#define CHECK_MSG(cond, ...) check_report(!!(cond), __FILE__, __LINE__, __VA_ARGS__)

#define CHECK_INT(a, b)                                                         \
	do {                                                                    \
		long long a_ = (long long)(a), b_ = (long long)(b);             \
		check_report(a_ == b_, __FILE__, __LINE__, "%s == %s (%lld != %lld)", \
			     #a, #b, a_, b_);                                   \
	} while (0)

#define CHECK_UINT(a, b)                                                        \
	do {                                                                    \
		unsigned long long a_ = (a), b_ = (b);                          \
		check_report(a_ == b_, __FILE__, __LINE__, "%s == %s (%llu != %llu)", \
			     #a, #b, a_, b_);                                   \
	} while (0)

#define CHECK_STR(a, b)                                                         \
	do {                                                                    \
		const char *a_ = (a), *b_ = (b);                                \
		check_report(a_ && b_ && !strcmp(a_, b_), __FILE__, __LINE__,   \
			     "%s == %s ('%s' != '%s')", #a, #b, a_ ? a_ : "(null)", \
			     b_ ? b_ : "(null)");                               \
	} while (0)

#define CHECK_CONTAINS(hay, needle)                                             \
	do {                                                                    \
		const char *h_ = (hay), *n_ = (needle);                         \
		check_report(h_ && n_ && strstr(h_, n_), __FILE__, __LINE__,    \
			     "'%s' contains '%s'", h_ ? h_ : "(null)", n_ ? n_ : "(null)"); \
	} while (0)

/* The test suites, one per module (see main.c). */
void suite_addr(void);
void suite_config(void);
void suite_state(void);
void suite_names(void);
void suite_keyindex(void);
void suite_poolview(void);
void suite_metrics(void);
void suite_lathist(void);
void suite_scheduler(void);
void suite_slots(void);
void suite_breaker(void);
void suite_shared(void);
void suite_codes(void);
void suite_match(void);
void suite_conncheck(void);
void suite_statefile(void);
void suite_reload_plan(void);
void suite_routekey(void);
void suite_hoptab(void);

#endif
