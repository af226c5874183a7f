// SPDX-License-Identifier: MIT
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "metrics.h"

const double metrics_rtt_bounds[METRICS_RTT_BUCKETS] = {
	0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025,
	0.05, 0.1, 0.25, 0.5, 1.0, 0 /* +Inf */
};

void metrics_outcome(struct metrics_pool *mp, const struct probe_outcome *o)
{
	double rtt;
	int b;

	if (o->reason < XDPHC_REASON_MAX)
		mp->results[o->reason]++;
	/* Silence passes a UDP check without expect, and has no round trip. */
	if (!o->ok || o->silent)
		return;
	rtt = o->rtt_us / 1e6;
	for (b = 0; b < METRICS_RTT_BUCKETS - 1 && rtt > metrics_rtt_bounds[b]; b++)
		;
	mp->rtt_buckets[b]++;
	mp->rtt_count++;
	mp->rtt_sum += rtt;
}

/* Label values here are pool names (checked at config load) and fixed words. */
static void header(FILE *f, const char *name, const char *type, const char *help)
{
	fprintf(f, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

/*
 * A connection check's success is no SYN-ACK: it is "ok"; a udp check is
 * refused by an ICMP port unreachable, not by a RST.
 */
static const char *result_label(const struct xdphc_pool_summary *ps, int r)
{
	if (r == XDPHC_REASON_OK && ps->check != XDPHC_CHECK_TCP_SYN)
		return "ok";
	if (r == XDPHC_REASON_REFUSED && ps->check == XDPHC_CHECK_UDP)
		return "port_unreachable";
	return reason_result(r);
}

static void render_pools(FILE *f, const struct metrics_snapshot *s)
{
	header(f, "xdphc_backends", "gauge",
	       "Backends by pool and state; draining ones apart, whatever their state.");
	for (size_t p = 0; p < s->n_pools; p++) {
		const struct xdphc_pool_summary *ps = &s->pools[p];
		const uint32_t n[NAMES_N_STATES] = {
			[XDPHC_STATE_UNKNOWN] = ps->unknown,
			[XDPHC_STATE_UP] = ps->up,
			[XDPHC_STATE_DOWN] = ps->down,
			[XDPHC_STATE_MAINT] = ps->maint,
		};

		for (int i = 0; i < NAMES_N_STATES; i++)
			fprintf(f, "xdphc_backends{pool=\"%s\",state=\"%s\"} %u\n", ps->name,
				state_name(i), n[i]);
		fprintf(f, "xdphc_backends{pool=\"%s\",state=\"draining\"} %u\n", ps->name,
			ps->draining);
	}
	header(f, "xdphc_pool_fail_open", "gauge",
	       "1 when no backend of the pool is up: load balancers should use them all.");
	for (size_t p = 0; p < s->n_pools; p++)
		fprintf(f, "xdphc_pool_fail_open{pool=\"%s\"} %d\n", s->pools[p].name,
			!!(s->pools[p].flags & XDPHC_POOL_F_FAIL_OPEN));
	header(f, "xdphc_pool_interval_seconds", "gauge", "Configured probe interval.");
	for (size_t p = 0; p < s->n_pools; p++)
		fprintf(f, "xdphc_pool_interval_seconds{pool=\"%s\"} %g\n", s->pools[p].name,
			s->pools[p].interval_ms / 1e3);
	header(f, "xdphc_pool_last_cycle_seconds", "gauge",
	       "How long the last pass over the pool took (the interval achieved).");
	for (size_t p = 0; p < s->n_pools; p++)
		fprintf(f, "xdphc_pool_last_cycle_seconds{pool=\"%s\"} %g\n", s->pools[p].name,
			s->pools[p].last_cycle_us / 1e6);
}

static void render_probes(FILE *f, const struct metrics_snapshot *s)
{
	header(f, "xdphc_probes_sent_total", "counter", "Probes started.");
	for (size_t p = 0; p < s->n_pools; p++)
		fprintf(f, "xdphc_probes_sent_total{pool=\"%s\"} %llu\n", s->pools[p].name,
			(unsigned long long)s->mp[p].probes);
	header(f, "xdphc_probes_retransmitted_total", "counter",
	       "SYNs sent again, same cookie, to probes unanswered after a share of the timeout.");
	for (size_t p = 0; p < s->n_pools; p++)
		fprintf(f, "xdphc_probes_retransmitted_total{pool=\"%s\"} %llu\n", s->pools[p].name,
			(unsigned long long)s->mp[p].retransmitted);
	header(f, "xdphc_probe_results_total", "counter", "Finished probes by result.");
	for (size_t p = 0; p < s->n_pools; p++)
		for (int r = 0; r < XDPHC_REASON_MAX; r++)
			if (reason_result(r))
				fprintf(f, "xdphc_probe_results_total{pool=\"%s\",result=\"%s\"} "
					"%llu\n", s->pools[p].name, result_label(&s->pools[p], r),
					(unsigned long long)s->mp[p].results[r]);
}

static void render_transitions(FILE *f, const struct metrics_snapshot *s)
{
	header(f, "xdphc_transitions_total", "counter",
	       "Backend state changes by direction and the reason of the deciding probe.");
	for (size_t p = 0; p < s->n_pools; p++)
		for (int a = 0; a < NAMES_N_STATES; a++)
			for (int b = 0; b < NAMES_N_STATES; b++)
				for (int r = 0; r < XDPHC_REASON_MAX; r++) {
					uint64_t v = s->mp[p].transitions[a][b][r];

					if (!v)
						continue;
					fprintf(f, "xdphc_transitions_total{pool=\"%s\",from=\"%s\","
						"to=\"%s\",reason=\"%s\"} %llu\n", s->pools[p].name,
						state_name(a), state_name(b), reason_name(r),
						(unsigned long long)v);
				}
}

static void render_rtt(FILE *f, const struct metrics_snapshot *s)
{
	header(f, "xdphc_rtt_seconds", "histogram", "Round-trip time of successful probes.");
	for (size_t p = 0; p < s->n_pools; p++) {
		const struct metrics_pool *m = &s->mp[p];
		uint64_t cum = 0;

		for (int b = 0; b < METRICS_RTT_BUCKETS; b++) {
			cum += m->rtt_buckets[b];
			if (b == METRICS_RTT_BUCKETS - 1)
				fprintf(f, "xdphc_rtt_seconds_bucket{pool=\"%s\",le=\"+Inf\"} %llu\n",
					s->pools[p].name, (unsigned long long)cum);
			else
				fprintf(f, "xdphc_rtt_seconds_bucket{pool=\"%s\",le=\"%g\"} %llu\n",
					s->pools[p].name, metrics_rtt_bounds[b],
					(unsigned long long)cum);
		}
		fprintf(f, "xdphc_rtt_seconds_sum{pool=\"%s\"} %.9f\n", s->pools[p].name, m->rtt_sum);
		fprintf(f, "xdphc_rtt_seconds_count{pool=\"%s\"} %llu\n", s->pools[p].name,
			(unsigned long long)m->rtt_count);
	}
}

/* The stats that are a series of their own (names.c), in the table's order. */
static void render_stats(FILE *f, const struct xdphc_engine_stats *st)
{
	const char *family = "";

	for (size_t i = 0; i < names_n_stats; i++) {
		const struct stat_desc *d = &names_stats[i];
		unsigned long long v = stat_value(st, d);

		if (!d->prom)
			continue;
		if (strcmp(family, d->prom))
			header(f, d->prom, d->prom_type, d->help);
		family = d->prom;
		if (d->prom_label)
			fprintf(f, "%s{%s} %llu\n", d->prom, d->prom_label, v);
		else
			fprintf(f, "%s %llu\n", d->prom, v);
	}
}

static void render_circuit(FILE *f, const struct metrics_snapshot *s)
{
	header(f, "xdphc_circuit_open", "gauge",
	       "1 while the circuit breaker holds backend states: a mass timeout looks like "
	       "the prober's own failure.");
	fprintf(f, "xdphc_circuit_open %d\n", s->circuit_open);
	header(f, "xdphc_circuit_opened_total", "counter", "Times the circuit breaker opened.");
	fprintf(f, "xdphc_circuit_opened_total %llu\n", (unsigned long long)s->circuit_opened);
	header(f, "xdphc_circuit_checks_total", "counter",
	       "Mass timeouts (over max_down_fraction) that made the prober check itself.");
	fprintf(f, "xdphc_circuit_checks_total %llu\n", (unsigned long long)s->circuit_checks);
}

static void render_engine(FILE *f, const struct metrics_snapshot *s)
{
	const struct xdphc_engine_stats *st = &s->stats;

	header(f, "xdphc_build_info", "gauge", "Version of the running engine.");
	fprintf(f, "xdphc_build_info{version=\"%s\",abi_version=\"%d\"} 1\n", XDPHC_VERSION,
		XDPHC_ABI_VERSION);
	header(f, "xdphc_start_time_seconds", "gauge", "When the engine started (Unix time).");
	fprintf(f, "xdphc_start_time_seconds %.3f\n", s->start_ns / 1e9);
	header(f, "xdphc_heartbeat_timestamp_seconds", "gauge",
	       "Last engine tick (Unix time); the data is stale when it lags.");
	fprintf(f, "xdphc_heartbeat_timestamp_seconds %.3f\n", s->heartbeat_ns / 1e9);
	render_stats(f, st);
	header(f, "xdphc_prober_impaired", "gauge",
	       "1 while most probes are never known to be sent; backend states are held.");
	fprintf(f, "xdphc_prober_impaired %d\n", s->impaired);
	render_circuit(f, s);
	header(f, "xdphc_schedule_lag_seconds", "summary",
	       "How late probes left against their scheduled time (quantiles over the last 10 s).");
	fprintf(f, "xdphc_schedule_lag_seconds{quantile=\"0.5\"} %g\n", st->sched_lag_p50_us / 1e6);
	fprintf(f, "xdphc_schedule_lag_seconds{quantile=\"0.99\"} %g\n", st->sched_lag_p99_us / 1e6);
	fprintf(f, "xdphc_schedule_lag_seconds_sum %.6f\n", s->lag_sum_us / 1e6);
	fprintf(f, "xdphc_schedule_lag_seconds_count %llu\n", (unsigned long long)s->lag_count);
	header(f, "xdphc_schedule_lag_max_seconds", "gauge",
	       "Latest probe departure against its schedule over the last 10 s.");
	fprintf(f, "xdphc_schedule_lag_max_seconds %g\n", st->sched_lag_max_us / 1e6);
	header(f, "xdphc_tick_lag_max_seconds", "gauge",
	       "Worst lateness of an engine tick since start.");
	fprintf(f, "xdphc_tick_lag_max_seconds %g\n", s->tick_lag_max_ns / 1e9);
}

/* As Prometheus says it of its own config. */
static void render_reloads(FILE *f, const struct metrics_snapshot *s)
{
	header(f, "xdphc_reloads_total", "counter",
	       "Config reloads asked for (SIGHUP, xdphc reload, xdphc runtime reset).");
	fprintf(f, "xdphc_reloads_total %llu\n", (unsigned long long)s->reloads);
	header(f, "xdphc_reload_failures_total", "counter",
	       "Config reloads refused: the running configuration stayed as it was.");
	fprintf(f, "xdphc_reload_failures_total %llu\n", (unsigned long long)s->reload_failures);
	header(f, "xdphc_config_last_reload_successful", "gauge",
	       "1 when the last reload was applied (or none was asked for yet).");
	fprintf(f, "xdphc_config_last_reload_successful %d\n", s->reload_ok);
	header(f, "xdphc_config_last_reload_success_timestamp_seconds", "gauge",
	       "When the running configuration was last loaded (Unix time).");
	fprintf(f, "xdphc_config_last_reload_success_timestamp_seconds %.3f\n",
		s->reload_ok_ns / 1e9);
}

static void render_connchecks(FILE *f, const struct cc_stats *cc)
{
	header(f, "xdphc_check_connections_opened_total", "counter",
	       "Connections opened by HTTP(S) and TCP send/expect checks.");
	fprintf(f, "xdphc_check_connections_opened_total %llu\n",
		(unsigned long long)cc->connections);
	header(f, "xdphc_check_connections_reused_total", "counter",
	       "HTTP(S) checks sent on a kept-alive connection.");
	fprintf(f, "xdphc_check_connections_reused_total %llu\n", (unsigned long long)cc->reused);
	header(f, "xdphc_check_late_replies_total", "counter",
	       "HTTP(S) replies after their check timed out: the kept-alive connection stays.");
	fprintf(f, "xdphc_check_late_replies_total %llu\n", (unsigned long long)cc->late);
	header(f, "xdphc_checks_not_started_total", "counter",
	       "Connection checks the engine could not start (no descriptor, no memory): "
	       "not held against the backends.");
	fprintf(f, "xdphc_checks_not_started_total %llu\n", (unsigned long long)cc->lost);
	header(f, "xdphc_check_keepalive_backends", "gauge",
	       "Backends of HTTP(S) pools allowed a kept-alive connection.");
	fprintf(f, "xdphc_check_keepalive_backends %u\n", cc->keepalive_used);
	header(f, "xdphc_check_keepalive_limit", "gauge",
	       "Most backends with a kept-alive connection (from RLIMIT_NOFILE); the rest "
	       "connect per check.");
	fprintf(f, "xdphc_check_keepalive_limit %u\n", cc->keepalive_budget);
}

static void render_udp(FILE *f, const struct metrics_snapshot *s)
{
	header(f, "xdphc_udp_replies_total", "counter",
	       "UDP replies that answered a current probe, by whether they held what the "
	       "check expects.");
	fprintf(f, "xdphc_udp_replies_total{result=\"expected\"} %llu\n",
		(unsigned long long)(s->udp_replies - s->udp_mismatch));
	fprintf(f, "xdphc_udp_replies_total{result=\"mismatch\"} %llu\n",
		(unsigned long long)s->udp_mismatch);
	header(f, "xdphc_udp_silent_passes_total", "counter",
	       "UDP checks without expect that passed because nothing came back (no ICMP "
	       "error either).");
	fprintf(f, "xdphc_udp_silent_passes_total %llu\n", (unsigned long long)s->udp_silent);
}

char *metrics_render(const struct metrics_snapshot *s, size_t *len)
{
	char *buf = NULL;
	FILE *f = open_memstream(&buf, len);

	if (!f)
		return NULL;
	render_engine(f, s);
	render_reloads(f, s);
	render_connchecks(f, &s->cc);
	render_udp(f, s);
	render_pools(f, s);
	render_probes(f, s);
	render_transitions(f, s);
	render_rtt(f, s);
	if (fclose(f)) {
		free(buf);
		return NULL;
	}
	return buf;
}
