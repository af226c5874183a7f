/* SPDX-License-Identifier: MIT */
#ifndef XDPHC_METRICS_H
#define XDPHC_METRICS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <xdphc/abi.h>

#include "names.h"
#include "conncheck.h"
#include "state.h"

/*
 * What the Prometheus exporter shows, aggregated per pool (never a series
 * per backend).  The engine updates the live copy as probes finish; the
 * exporter renders a snapshot of it.
 */
#define METRICS_RTT_BUCKETS 15

extern const double metrics_rtt_bounds[METRICS_RTT_BUCKETS];	/* seconds; last is +Inf */

struct metrics_pool {
	uint64_t probes;				/* probes started */
	uint64_t retransmitted;				/* SYNs sent again to them */
	uint64_t results[XDPHC_REASON_MAX];		/* outcomes by reason */
	/* [from][to][reason] */
	uint64_t transitions[NAMES_N_STATES][NAMES_N_STATES][XDPHC_REASON_MAX];
	uint64_t rtt_buckets[METRICS_RTT_BUCKETS];	/* not cumulative */
	uint64_t rtt_count;
	double rtt_sum;					/* seconds */
};

struct metrics_snapshot {
	uint64_t start_ns, heartbeat_ns, tick_lag_max_ns;
	bool impaired;
	bool circuit_open;			/* the circuit breaker holds states */
	uint64_t circuit_opened, circuit_checks;
	uint64_t lag_count, lag_sum_us;		/* every probe's schedule lag since start */
	uint64_t reloads, reload_failures;	/* of the config: SIGHUP, xdphc reload */
	uint64_t reload_ok_ns;			/* the last good one (the start, at first) */
	bool reload_ok;				/* whether the last one was applied */
	struct xdphc_engine_stats stats;
	struct cc_stats cc;			/* HTTP and TCP send/expect checks */
	uint64_t udp_replies, udp_mismatch;	/* UDP replies matched in XDP; without expect */
	uint64_t udp_silent;			/* UDP checks passed by silence */
	size_t n_pools;				/* pools a reload removed: not in_use */
	struct xdphc_pool_summary *pools;
	struct metrics_pool *mp;
};

/* One finished probe (ok outcomes carry an RTT). */
void metrics_outcome(struct metrics_pool *mp, const struct probe_outcome *o);

/* Prometheus text exposition (format 0.0.4) of s, into a malloc'ed buffer. */
char *metrics_render(const struct metrics_snapshot *s, size_t *len);

#endif
