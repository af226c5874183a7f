// SPDX-License-Identifier: MIT
/*
 * Unit test runner: `run [SUITE...]`.  The last line of the output is
 * "N passed, N failed" for CI to read; the exit status is non-zero if any
 * check failed.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"

static const struct {
	const char *name;
	void (*run)(void);
} suites[] = {
	{ "addr", suite_addr },
	{ "config", suite_config },
	{ "state", suite_state },
	{ "names", suite_names },
	{ "keyindex", suite_keyindex },
	{ "poolview", suite_poolview },
	{ "metrics", suite_metrics },
	{ "lathist", suite_lathist },
	{ "scheduler", suite_scheduler },
	{ "slots", suite_slots },
	{ "breaker", suite_breaker },
	{ "shared", suite_shared },
	{ "codes", suite_codes },
	{ "match", suite_match },
	{ "conncheck", suite_conncheck },
	{ "statefile", suite_statefile },
	{ "reload_plan", suite_reload_plan },
	{ "routekey", suite_routekey },
	{ "hoptab", suite_hoptab },
};

#define N_SUITES (sizeof(suites) / sizeof(suites[0]))

static int wanted(const char *name, int argc, char **argv)
{
	if (argc < 2)
		return 1;
	for (int i = 1; i < argc; i++)
		if (!strcmp(argv[i], name))
			return 1;
	return 0;
}

int main(int argc, char **argv)
{
	const char *seed = getenv("XDPHC_UNIT_SEED");

	/* Failures go to stderr: keep the suite lines in order with them. */
	setvbuf(stdout, NULL, _IOLBF, 0);
	/* A fixed seed by default, so that a randomised failure reproduces. */
	if (seed)
		check_rand_seed(strtoull(seed, NULL, 0));
	for (size_t i = 0; i < N_SUITES; i++) {
		unsigned long before = check_failed_count();

		if (!wanted(suites[i].name, argc, argv))
			continue;
		check_context("%s", "");
		suites[i].run();
		printf("suite %-10s %s\n", suites[i].name,
		       check_failed_count() == before ? "ok" : "FAILED");
	}
	printf("%lu passed, %lu failed\n", check_passed_count(), check_failed_count());
	return check_failed_count() ? 1 : 0;
}
