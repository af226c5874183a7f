// SPDX-License-Identifier: MIT
/*
 * The names table: every stats field described once and in struct order
 * (the order of `status --json` and /metrics), families of several series
 * together, and the words the CLI, /metrics, the log and the Python tools
 * show for states and reasons.
 */
#include <stdio.h>
#include <stdlib.h>

#include "check.h"
#include "names.h"

static void state_and_reason_words(void)
{
	CHECK_STR(state_name(XDPHC_STATE_UNKNOWN), "unknown");
	CHECK_STR(state_name(XDPHC_STATE_UP), "up");
	CHECK_STR(state_name(XDPHC_STATE_DOWN), "down");
	CHECK_STR(state_name(XDPHC_STATE_MAINT), "maint");
	CHECK_STR(state_name(4), "?");
	CHECK_STR(state_name(255), "?");
	CHECK_STR(reason_name(XDPHC_REASON_NONE), "none");
	CHECK_STR(reason_name(XDPHC_REASON_OK), "ok");
	CHECK_STR(reason_name(XDPHC_REASON_REFUSED), "refused");
	CHECK_STR(reason_name(XDPHC_REASON_TIMEOUT), "timeout");
	CHECK_STR(reason_name(XDPHC_REASON_UNREACHABLE), "unreachable");
	CHECK_STR(reason_name(XDPHC_REASON_NO_ROUTE), "no_route");
	CHECK_STR(reason_name(XDPHC_REASON_NEIGH_FAILED), "neigh_failed");
	CHECK_STR(reason_name(XDPHC_REASON_MAX), "?");
	CHECK_STR(reason_name(255), "?");
	/* The result label of a finished probe on /metrics; "none" is never a result. */
	CHECK(reason_result(XDPHC_REASON_NONE) == NULL);
	CHECK_STR(reason_result(XDPHC_REASON_OK), "syn_ack");
	CHECK_STR(reason_result(XDPHC_REASON_REFUSED), "rst");
	CHECK_STR(reason_result(XDPHC_REASON_UNREACHABLE), "icmp");
	CHECK(reason_result(XDPHC_REASON_MAX) == NULL);
	/* The check kinds of `status`, `pool list`, the event log. */
	CHECK_STR(check_name(XDPHC_CHECK_TCP_SYN), "tcp_syn");
	CHECK_STR(check_name(XDPHC_CHECK_TCP), "tcp");
	CHECK_STR(check_name(XDPHC_CHECK_HTTP), "http");
	CHECK_STR(check_name(XDPHC_CHECK_HTTPS), "https");
	CHECK_STR(check_name(XDPHC_CHECK_UDP), "udp");
	CHECK_STR(check_name(XDPHC_CHECK_UDP + 1), "?");
}

static void stats_cover_the_struct(void)
{
	struct xdphc_engine_stats st;

	CHECK_UINT(names_n_stats * sizeof(__u64), sizeof(st));
	for (size_t i = 0; i < names_n_stats; i++) {
		const struct stat_desc *d = &names_stats[i];

		check_context("%s", d->name);
		CHECK_UINT(d->offset, i * sizeof(__u64));
		CHECK(d->help && d->help[0]);
		CHECK(!d->prom || !strncmp(d->prom, "xdphc_", 6));
		CHECK(!d->prom || (d->prom_type && (!strcmp(d->prom_type, "counter") ||
						    !strcmp(d->prom_type, "gauge"))));
	}
	check_context("%s", "");
	/* stat_value() reads the field the row names. */
	memset(&st, 0, sizeof(st));
	st.tx_runs = 42;
	for (size_t i = 0; i < names_n_stats; i++)
		if (!strcmp(names_stats[i].name, "tx_runs"))
			CHECK_UINT(stat_value(&st, &names_stats[i]), 42);
}

/* A family's rows are adjacent and agree on type and help; labels tell them apart. */
static void families_hold_together(void)
{
	for (size_t i = 1; i < names_n_stats; i++) {
		const struct stat_desc *d = &names_stats[i], *prev = &names_stats[i - 1];

		check_context("%s", d->name);
		if (d->prom && prev->prom && !strcmp(d->prom, prev->prom)) {
			CHECK_STR(d->prom_type, prev->prom_type);
			CHECK_STR(d->help, prev->help);
			CHECK(d->prom_label && prev->prom_label &&
			      strcmp(d->prom_label, prev->prom_label));
			continue;
		}
		/* A family starts here: no row before names it. */
		for (size_t k = 0; d->prom && k < i; k++)
			CHECK(!names_stats[k].prom || strcmp(names_stats[k].prom, d->prom));
	}
	check_context("%s", "");
}

static void json_document(void)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);

	CHECK(f != NULL);
	if (!f)
		return;
	CHECK_INT(names_write_json(f), 0);
	fclose(f);
	CHECK_CONTAINS(buf, "{\"value\": 2, \"name\": \"down\"");
	CHECK_CONTAINS(buf, "{\"value\": 6, \"name\": \"neigh_failed\"");
	CHECK_CONTAINS(buf, "\"label\": \"reason=\\\"forged\\\"\"");
	CHECK_CONTAINS(buf, "{\"name\": \"sched_lag_max_us\", \"offset\": 160");
	CHECK(len && buf[len - 1] == '\n');
	free(buf);
}

void suite_names(void)
{
	state_and_reason_words();
	stats_cover_the_struct();
	families_hold_together();
	json_document();
}
