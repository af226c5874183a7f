// SPDX-License-Identifier: MIT
#include <ctype.h>
#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "metrics.h"

/* ---- a strict reader of the text exposition format (0.0.4) --------------- */

#define MAX_SERIES 1024

struct expo {
	char family[128];	/* the last # TYPE */
	char type[64];
	bool family_has_samples;
	char *series[MAX_SERIES];
	size_t n_series;
	char why[256];		/* first problem */
	int problems;
};

__attribute__((format(printf, 3, 4)))
static void problem(struct expo *e, int line, const char *fmt, ...)
{
	va_list ap;
	int n;

	if (e->problems++)
		return;
	n = snprintf(e->why, sizeof(e->why), "line %d: ", line);
	va_start(ap, fmt);
	vsnprintf(e->why + n, sizeof(e->why) - (size_t)n, fmt, ap);
	va_end(ap);
}

static size_t name_len(const char *s, bool metric)
{
	size_t i = 0;

	if (!(isalpha((unsigned char)s[0]) || s[0] == '_' || (metric && s[0] == ':')))
		return 0;
	while (isalnum((unsigned char)s[i]) || s[i] == '_' || (metric && s[i] == ':'))
		i++;
	return i;
}

/* name="value",... up to the closing brace; returns the length, 0 if malformed. */
static size_t labels_len(const char *s, bool *has_le)
{
	const char *p = s + 1;

	*has_le = false;
	if (*p == '}')
		return 2;
	for (;;) {
		size_t n = name_len(p, false);

		if (!n || p[n] != '=' || p[n + 1] != '"')
			return 0;
		*has_le |= n == 2 && !strncmp(p, "le", 2);
		for (p += n + 2; *p != '"'; p++) {
			if (!*p || *p == '\n')
				return 0;
			if (*p == '\\' && !strchr("\\\"n", *++p))
				return 0;
		}
		p++;
		if (*p == '}')
			return (size_t)(p + 1 - s);
		if (*p++ != ',')
			return 0;
	}
}

static bool valid_value(const char *s)
{
	char *end;

	if (!strcmp(s, "+Inf") || !strcmp(s, "-Inf") || !strcmp(s, "NaN"))
		return true;
	if (!*s || isspace((unsigned char)*s))
		return false;
	strtod(s, &end);
	return !*end;
}

/*
 * Which family a sample name belongs to, given the family's declared type:
 * a histogram has only _bucket, _sum and _count samples; a summary has its
 * quantiles under the family's own name, and _sum and _count.
 */
static bool in_family(const struct expo *e, const char *name, size_t len)
{
	static const char *const sfx[] = { "_sum", "_count", "_bucket" };
	bool hist = !strcmp(e->type, "histogram"), summary = !strcmp(e->type, "summary");
	size_t fl = strlen(e->family);

	if (len == fl && !strncmp(name, e->family, fl))
		return !hist;
	if (!(hist || summary) || len <= fl || strncmp(name, e->family, fl))
		return false;
	for (size_t i = 0; i < (hist ? 3u : 2u); i++)
		if (len - fl == strlen(sfx[i]) && !strncmp(name + fl, sfx[i], len - fl))
			return true;
	return false;
}

static void add_series(struct expo *e, int line, const char *s, size_t len)
{
	for (size_t i = 0; i < e->n_series; i++)
		if (strlen(e->series[i]) == len && !strncmp(e->series[i], s, len))
			return problem(e, line, "duplicate series %.*s", (int)len, s);
	if (e->n_series < MAX_SERIES)
		e->series[e->n_series++] = strndup(s, len);
}

static void sample_line(struct expo *e, int line, const char *s)
{
	size_t n = name_len(s, true), l = 0;
	bool has_le = false;

	if (!n)
		return problem(e, line, "bad metric name");
	if (!in_family(e, s, n))
		return problem(e, line, "sample outside its # TYPE family '%s'", e->family);
	if (s[n] == '{' && !(l = labels_len(s + n, &has_le)))
		return problem(e, line, "bad labels");
	if (n > 7 && !strncmp(s + n - 7, "_bucket", 7) && !has_le)
		return problem(e, line, "histogram bucket without le");
	if (s[n + l] != ' ')
		return problem(e, line, "no space before the value");
	if (!valid_value(s + n + l + 1))
		return problem(e, line, "bad value '%s'", s + n + l + 1);
	add_series(e, line, s, n + l);
	e->family_has_samples = true;
}

static void comment_line(struct expo *e, int line, const char *s)
{
	char name[128], word[64];
	static const char *const types[] = { "counter", "gauge", "histogram", "summary", "untyped" };
	size_t i;

	if (!strncmp(s, "# HELP ", 7)) {
		if (sscanf(s + 7, "%127s %63s", name, word) != 2 || name_len(name, true) != strlen(name))
			problem(e, line, "bad HELP");
		return;
	}
	if (strncmp(s, "# TYPE ", 7) || sscanf(s + 7, "%127s %63s", name, word) != 2)
		return problem(e, line, "unexpected comment");
	if (name_len(name, true) != strlen(name))
		return problem(e, line, "bad name in TYPE");
	for (i = 0; i < sizeof(types) / sizeof(types[0]); i++)
		if (!strcmp(word, types[i]))
			break;
	if (i == sizeof(types) / sizeof(types[0]))
		return problem(e, line, "unknown type '%s'", word);
	if (!strcmp(name, e->family))
		return problem(e, line, "second TYPE for %s", name);
	snprintf(e->family, sizeof(e->family), "%s", name);
	snprintf(e->type, sizeof(e->type), "%s", word);
	e->family_has_samples = false;
}

/* 0 if text is well formed; otherwise the count of problems, the first in e->why. */
static int expo_check(struct expo *e, const char *text)
{
	char *copy = strdup(text), *save = NULL, *ln;
	size_t len = strlen(text);
	int line = 0;

	memset(e, 0, sizeof(*e));
	if (!len || text[len - 1] != '\n')
		problem(e, 0, "no final newline");
	if (strstr(text, "\n\n"))
		problem(e, 0, "empty line");
	for (ln = strtok_r(copy, "\n", &save); ln; ln = strtok_r(NULL, "\n", &save)) {
		line++;
		if (ln[0] == '#')
			comment_line(e, line, ln);
		else
			sample_line(e, line, ln);
	}
	free(copy);
	for (size_t i = 0; i < e->n_series; i++)
		free(e->series[i]);
	return e->problems;
}

/* ---- the tests ---------------------------------------------------------- */

static bool has_line(const char *text, const char *line)
{
	size_t n = strlen(line);

	for (const char *p = text; (p = strstr(p, line)); p++)
		if ((p == text || p[-1] == '\n') && p[n] == '\n')
			return true;
	return false;
}

#define CHECK_LINE(text, line) CHECK_MSG(has_line(text, line), "line present: %s", line)
#define CHECK_NO_LINE(text, line) CHECK_MSG(!has_line(text, line), "line absent: %s", line)

static void reader_rejects_bad_text(void)
{
	static const char *const bad[] = {
		"# TYPE a gauge\na 1",			/* no final newline */
		"# TYPE a gauge\n\na 1\n",		/* empty line */
		"a 1\n",				/* no TYPE */
		"# TYPE a gauge\nb 1\n",		/* outside its family */
		"# TYPE a gauge\na{x=\"1} 1\n",		/* unterminated label */
		"# TYPE a gauge\na{x=1} 1\n",		/* unquoted label */
		"# TYPE a gauge\na 1x\n",		/* bad value */
		"# TYPE a gauge\na{x=\"1\"} 1\na{x=\"1\"} 2\n",	/* duplicate series */
		"# TYPE a histogram\na_bucket{p=\"1\"} 1\n",	/* bucket without le */
		"# TYPE a gauge\n# TYPE a gauge\n",	/* second TYPE */
		"# TYPE a meter\n",			/* unknown type */
		"# TYPE 1a gauge\n",			/* bad name in TYPE */
	};
	struct expo e;

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		CHECK_MSG(expo_check(&e, bad[i]) > 0, "reader rejects case %zu", i);
	CHECK_INT(expo_check(&e, "# HELP a b c\n# TYPE a gauge\na{x=\"\\\"\"} +Inf\n"), 0);
}

static void outcomes(struct metrics_pool *mp)
{
	static const struct probe_outcome o[] = {
		{ .ok = true, .reason = XDPHC_REASON_OK, .rtt_us = 70 },	/* le 0.0001 */
		{ .ok = true, .reason = XDPHC_REASON_OK, .rtt_us = 50 },	/* le 5e-05: bounds are inclusive */
		{ .ok = true, .reason = XDPHC_REASON_OK, .rtt_us = 2000000 },	/* +Inf */
		{ .ok = true, .reason = XDPHC_REASON_OK, .rtt_us = 1000000 },	/* le 1 */
		{ .reason = XDPHC_REASON_REFUSED },
		{ .reason = XDPHC_REASON_TIMEOUT },
		{ .reason = XDPHC_REASON_TIMEOUT },
		{ .reason = 99 },						/* ignored */
	};

	for (size_t i = 0; i < sizeof(o) / sizeof(o[0]); i++)
		metrics_outcome(mp, &o[i]);
}

static void outcome_buckets(void)
{
	struct metrics_pool mp = { 0 };

	outcomes(&mp);
	CHECK_UINT(mp.results[XDPHC_REASON_OK], 4);
	CHECK_UINT(mp.results[XDPHC_REASON_REFUSED], 1);
	CHECK_UINT(mp.results[XDPHC_REASON_TIMEOUT], 2);
	CHECK_UINT(mp.rtt_count, 4);
	CHECK(fabs(mp.rtt_sum - 3.00012) < 1e-9);
	CHECK_UINT(mp.rtt_buckets[0], 1);
	CHECK_UINT(mp.rtt_buckets[1], 1);
	CHECK_UINT(mp.rtt_buckets[13], 1);
	CHECK_UINT(mp.rtt_buckets[METRICS_RTT_BUCKETS - 1], 1);
}

struct fixture {
	struct xdphc_pool_summary pools[2];
	struct metrics_pool mp[2];
	struct metrics_snapshot s;
};

static void fixture_init(struct fixture *f)
{
	memset(f, 0, sizeof(*f));
	f->pools[0] = (struct xdphc_pool_summary){
		.name = "web", .total = 8, .up = 5, .down = 2, .unknown = 1,
		.interval_ms = 1000, .last_cycle_us = 1000068,
	};
	f->pools[1] = (struct xdphc_pool_summary){
		.name = "api", .total = 3, .down = 3, .flags = XDPHC_POOL_F_FAIL_OPEN,
		.interval_ms = 500, .last_cycle_us = 250000,
	};
	f->mp[0].probes = 100;
	f->mp[0].retransmitted = 6;
	outcomes(&f->mp[0]);
	f->mp[0].transitions[XDPHC_STATE_UNKNOWN][XDPHC_STATE_UP][XDPHC_REASON_OK] = 4;
	f->mp[0].transitions[XDPHC_STATE_UP][XDPHC_STATE_DOWN][XDPHC_REASON_TIMEOUT] = 1;
	f->s = (struct metrics_snapshot){
		.start_ns = 1700000000123456789ULL, .heartbeat_ns = 1700000100500000000ULL,
		.tick_lag_max_ns = 2500000, .n_pools = 2, .pools = f->pools, .mp = f->mp,
	};
	f->s.stats.ignored_forged = 7;
	f->s.stats.ignored_stale = 8;
	f->s.stats.rst_sent = 11;
	f->s.stats.probes_lost = 3;
	f->s.stats.sched_behind = 42;
	f->s.stats.sched_lag_p50_us = 1500;
	f->s.stats.sched_lag_p99_us = 42000;
	f->s.stats.sched_lag_max_us = 61000;
	f->s.lag_count = 1000;
	f->s.lag_sum_us = 2500000;
	f->s.impaired = true;
	f->s.circuit_open = true;
	f->s.circuit_opened = 2;
	f->s.circuit_checks = 5;
}

static void render_values(const char *t)
{
	CHECK_LINE(t, "xdphc_build_info{version=\"" XDPHC_VERSION "\",abi_version=\"3\"} 1");
	CHECK_LINE(t, "xdphc_start_time_seconds 1700000000.123");
	CHECK_LINE(t, "xdphc_heartbeat_timestamp_seconds 1700000100.500");
	CHECK_LINE(t, "xdphc_replies_ignored_total{reason=\"forged\"} 7");
	CHECK_LINE(t, "xdphc_replies_ignored_total{reason=\"stale\"} 8");
	CHECK_LINE(t, "xdphc_rst_sent_total 11");
	CHECK_LINE(t, "xdphc_prober_impaired 1");
	CHECK_LINE(t, "xdphc_circuit_open 1");
	CHECK_LINE(t, "xdphc_circuit_opened_total 2");
	CHECK_LINE(t, "xdphc_circuit_checks_total 5");
	CHECK_LINE(t, "xdphc_schedule_lag_seconds{quantile=\"0.5\"} 0.0015");
	CHECK_LINE(t, "xdphc_schedule_lag_seconds{quantile=\"0.99\"} 0.042");
	CHECK_LINE(t, "xdphc_schedule_lag_seconds_sum 2.500000");
	CHECK_LINE(t, "xdphc_schedule_lag_seconds_count 1000");
	CHECK_LINE(t, "xdphc_schedule_lag_max_seconds 0.061");
	CHECK_LINE(t, "xdphc_probes_lost_total 3");
	CHECK_LINE(t, "xdphc_sched_behind_probes 42");
	CHECK_LINE(t, "xdphc_tick_lag_max_seconds 0.0025");
	CHECK_LINE(t, "xdphc_backends{pool=\"web\",state=\"up\"} 5");
	CHECK_LINE(t, "xdphc_backends{pool=\"web\",state=\"down\"} 2");
	CHECK_LINE(t, "xdphc_backends{pool=\"web\",state=\"unknown\"} 1");
	CHECK_LINE(t, "xdphc_backends{pool=\"api\",state=\"up\"} 0");
	CHECK_LINE(t, "xdphc_pool_fail_open{pool=\"web\"} 0");
	CHECK_LINE(t, "xdphc_pool_fail_open{pool=\"api\"} 1");
	CHECK_LINE(t, "xdphc_pool_interval_seconds{pool=\"api\"} 0.5");
	CHECK_LINE(t, "xdphc_pool_last_cycle_seconds{pool=\"web\"} 1.00007");
	CHECK_LINE(t, "xdphc_probes_sent_total{pool=\"web\"} 100");
	CHECK_LINE(t, "xdphc_probes_retransmitted_total{pool=\"web\"} 6");
	CHECK_LINE(t, "xdphc_probes_retransmitted_total{pool=\"api\"} 0");
	CHECK_LINE(t, "xdphc_probe_results_total{pool=\"web\",result=\"syn_ack\"} 4");
	CHECK_LINE(t, "xdphc_probe_results_total{pool=\"web\",result=\"rst\"} 1");
	CHECK_LINE(t, "xdphc_probe_results_total{pool=\"web\",result=\"timeout\"} 2");
	CHECK_LINE(t, "xdphc_probe_results_total{pool=\"web\",result=\"icmp\"} 0");
	CHECK_LINE(t, "xdphc_probe_results_total{pool=\"api\",result=\"neigh_failed\"} 0");
	CHECK_LINE(t, "xdphc_transitions_total{pool=\"web\",from=\"unknown\",to=\"up\",reason=\"ok\"} 4");
	CHECK_LINE(t, "xdphc_transitions_total{pool=\"web\",from=\"up\",to=\"down\","
		   "reason=\"timeout\"} 1");
	/* Never-seen transitions are left out (cardinality). */
	CHECK(!strstr(t, "xdphc_transitions_total{pool=\"api\""));
	CHECK(!strstr(t, "reason=\"none\""));
}

/* The histogram is cumulative and ends in +Inf == _count. */
static void render_histogram(const char *t)
{
	CHECK_LINE(t, "xdphc_rtt_seconds_bucket{pool=\"web\",le=\"5e-05\"} 1");
	CHECK_LINE(t, "xdphc_rtt_seconds_bucket{pool=\"web\",le=\"0.0001\"} 2");
	CHECK_LINE(t, "xdphc_rtt_seconds_bucket{pool=\"web\",le=\"0.5\"} 2");
	CHECK_LINE(t, "xdphc_rtt_seconds_bucket{pool=\"web\",le=\"1\"} 3");
	CHECK_LINE(t, "xdphc_rtt_seconds_bucket{pool=\"web\",le=\"+Inf\"} 4");
	CHECK_LINE(t, "xdphc_rtt_seconds_count{pool=\"web\"} 4");
	CHECK_LINE(t, "xdphc_rtt_seconds_sum{pool=\"web\"} 3.000120000");
	CHECK_LINE(t, "xdphc_rtt_seconds_bucket{pool=\"api\",le=\"+Inf\"} 0");
	CHECK_LINE(t, "xdphc_rtt_seconds_count{pool=\"api\"} 0");
}

static void render(void)
{
	static struct fixture f;
	struct expo e;
	size_t len = 0;
	char *t;

	fixture_init(&f);
	t = metrics_render(&f.s, &len);
	CHECK(t != NULL);
	if (!t)
		return;
	CHECK_UINT(len, strlen(t));
	CHECK_INT(expo_check(&e, t), 0);
	CHECK_MSG(!e.problems, "well formed: %s", e.why);
	render_values(t);
	render_histogram(t);
	free(t);
}

/* A udp pool's results: "ok" and, for refused, the ICMP port unreachable. */
static void render_udp(void)
{
	static struct fixture f;
	size_t len = 0;
	char *t;

	fixture_init(&f);
	f.pools[1].check = XDPHC_CHECK_UDP;
	outcomes(&f.mp[1]);
	t = metrics_render(&f.s, &len);
	CHECK(t != NULL);
	if (!t)
		return;
	CHECK_LINE(t, "xdphc_probe_results_total{pool=\"api\",result=\"ok\"} 4");
	CHECK_LINE(t, "xdphc_probe_results_total{pool=\"api\",result=\"port_unreachable\"} 1");
	CHECK(!strstr(t, "{pool=\"api\",result=\"rst\"}"));
	CHECK(!strstr(t, "{pool=\"api\",result=\"syn_ack\"}"));
	/* The tcp pool beside it keeps its words. */
	CHECK_LINE(t, "xdphc_probe_results_total{pool=\"web\",result=\"rst\"} 1");
	free(t);
}

static void render_no_pools(void)
{
	struct metrics_snapshot s = { 0 };
	struct expo e;
	size_t len = 0;
	char *t = metrics_render(&s, &len);

	CHECK(t != NULL);
	if (!t)
		return;
	CHECK_INT(expo_check(&e, t), 0);
	CHECK_MSG(!e.problems, "well formed: %s", e.why);
	CHECK(!strstr(t, "pool="));
	free(t);
}

void suite_metrics(void)
{
	reader_rejects_bad_text();
	outcome_buckets();
	render();
	render_udp();
	render_no_pools();
}
