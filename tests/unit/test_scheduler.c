// SPDX-License-Identifier: MIT
/*
 * The scheduler with an injected clock: sched_init() and sched_tick() take
 * the monotonic time as an argument, and the send path it drives is a fake
 * that takes every queued SYN at once (no BPF, no root).  No probe is
 * answered, so every probe times out: the state machine is not under test.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "check.h"
#include "scheduler.h"

#define MS 1000000ULL
#define S 1000000000ULL

/*
 * The fake send_run(): counts the frames of each run and empties the
 * queue; while fake_drop_runs is not 0, the device drops every frame of a
 * run.
 */
static uint64_t fake_frames;
static unsigned int fake_drop_runs;

int send_run(struct sender *tx, unsigned int batch, uint64_t *dropped)
{
	unsigned int n = tx->nq;

	(void)batch;
	tx->nq = 0;
	fake_frames += n;
	*dropped = 0;
	if (fake_drop_runs) {
		fake_drop_runs--;
		*dropped = n;
	}
	return 0;
}

struct rig {
	struct config cfg;
	struct pool_cfg pool;
	struct sender tx;
	struct slots slots;
	struct scheduler s;
	uint64_t outcomes;
};

static void count_outcome(void *ctx, uint32_t b, const struct probe_outcome *o)
{
	(void)b;
	(void)o;
	((struct rig *)ctx)->outcomes++;
}

static int rig_init(struct rig *r, uint32_t n, uint32_t interval_ms, uint32_t timeout_ms,
		    uint64_t now)
{
	memset(r, 0, sizeof(*r));
	snprintf(r->pool.name, sizeof(r->pool.name), "p");
	r->pool.n_backends = n;
	r->pool.max_backends = n;
	r->pool.hc.interval_ms = interval_ms;
	r->pool.hc.timeout_ms = timeout_ms;
	r->pool.hc.jitter_ms = interval_ms / 100;
	r->pool.hc.healthy_threshold = 2;
	r->pool.hc.unhealthy_threshold = 2;
	r->cfg.pools = &r->pool;
	r->cfg.n_pools = 1;
	r->cfg.n_backends = n;
	r->slots.s = calloc(n ? n : 1, sizeof(*r->slots.s));
	r->slots.n = n;
	r->tx.txq = calloc(1, sizeof(*r->tx.txq));
	r->tx.batch_fd = -1;
	fake_frames = 0;
	if (!r->slots.s || !r->tx.txq)
		return -1;
	/* Claimed: the scheduler skips ids that hold no backend. */
	for (uint32_t i = 0; i < n; i++)
		r->slots.s[i].family = AF_INET;
	return sched_init(&r->s, &r->cfg, &r->slots, &r->tx, now, count_outcome, r);
}

static void rig_free(struct rig *r)
{
	sched_free(&r->s);
	free(r->slots.s);
	free(r->tx.txq);
}

/* Tick at the scheduler's own tick from t to end; returns the time reached. */
static uint64_t run_until(struct rig *r, uint64_t t, uint64_t end)
{
	for (; t < end; t += r->s.tick_ns)
		sched_tick(&r->s, t);
	return t;
}

/*
 * The random start phase must not lie in the future when the monotonic
 * clock is younger than it: an engine started 20 s after boot with a
 * 10-minute interval, and one 28 minutes after boot with a 24 h interval,
 * both start probing at once.
 */
static void young_clock(void)
{
	static const struct { uint64_t now; uint32_t interval_ms; } c[] = {
		{ 20 * S, 600000 },
		{ 28 * 60 * S, 86400000 },
		{ 1 * MS, 1000 },
	};

	for (size_t i = 0; i < sizeof(c) / sizeof(c[0]); i++) {
		for (int k = 0; k < 20; k++) {
			struct rig r;

			CHECK_INT(rig_init(&r, 1000, c[i].interval_ms, 500, c[i].now), 0);
			run_until(&r, c[i].now, c[i].now + 10 * MS);
			CHECK_MSG(fake_frames > 0, "boot + %llu ms, interval %u ms: no probe in "
				  "the first 10 ms", (unsigned long long)(c[i].now / MS),
				  c[i].interval_ms);
			rig_free(&r);
		}
	}
}

/*
 * 1,000,000 backends at 1 s: every second of steady state starts N probes
 * (within 1 %), and no probe leaves more than a couple of ticks late.
 */
static void steady_rate(void)
{
	struct rig r;
	uint64_t t0 = 1000 * S, t, before, p50, p99, max;

	CHECK_INT(rig_init(&r, 1000000, 1000, 500, t0), 0);
	CHECK(r.s.budget_max * 1e9 / r.s.tick_ns >= 2 * 1000000);
	t = run_until(&r, t0, t0 + 2 * S);
	for (int sec = 0; sec < 3; sec++) {
		before = r.s.st.probes_queued;
		t = run_until(&r, t, t + S);
		CHECK_MSG(llabs((long long)(r.s.st.probes_queued - before) - 1000000) <= 10000,
			  "second %d: %llu probes started, want 1000000 +- 1 %%", sec,
			  (unsigned long long)(r.s.st.probes_queued - before));
	}
	sched_lag_quantiles(&r.s, &p50, &p99, &max);
	CHECK_MSG(p99 <= 2 * r.s.tick_ns / 1000, "lag p99 %llu us", (unsigned long long)p99);
	CHECK(r.outcomes > 0);
	CHECK_UINT(r.s.st.behind, 0);
	rig_free(&r);
}

/*
 * A stall of 100 ms (the engine descheduled) at 2,000,000 probes a second:
 * the backlog is made up within 200 ms (the budget has twice the demand,
 * and a late tick gets the budget of the time it missed), and the lag
 * shows the stall.
 */
static void catch_up(void)
{
	struct rig r;
	uint64_t t0 = 1000 * S, t, p50, p99, max;
	int ms = 0;

	CHECK_INT(rig_init(&r, 2000000, 1000, 500, t0), 0);
	CHECK(r.s.budget_max * 1e9 / r.s.tick_ns >= 2 * 2000000);
	t = run_until(&r, t0, t0 + 3 * S);
	CHECK_UINT(r.s.st.behind, 0);
	t += 100 * MS;
	sched_tick(&r.s, t);
	CHECK_MSG(r.s.st.behind > 0 || fake_frames, "the stall left work behind");
	while (r.s.st.behind && ms < 1000) {
		t += r.s.tick_ns;
		sched_tick(&r.s, t);
		ms = (int)((t - t0 - 3 * S - 100 * MS) / MS);
	}
	CHECK_MSG(ms < 200, "still behind %d ms after a 100 ms stall", ms);
	sched_lag_quantiles(&r.s, &p50, &p99, &max);
	CHECK_MSG(max >= 90000 && max < 400000, "lag max %llu us after a 100 ms stall",
		  (unsigned long long)max);
	rig_free(&r);
}

/*
 * A burst of device drops (a full ring for 8 flushes in a row at a million
 * probes a second: 2 flushes a 1 ms tick, so well inside one 10 ms cut
 * window) cuts the budget once, not eight times, and the engine is back on
 * schedule within 300 ms.
 */
static void drops_recover(void)
{
	struct rig r;
	uint64_t t0 = 1000 * S, t, start;
	unsigned int before;

	CHECK_INT(rig_init(&r, 1000000, 1000, 500, t0), 0);
	t = run_until(&r, t0, t0 + 2 * S);
	before = r.s.budget;
	fake_drop_runs = 8;
	t = run_until(&r, t, t + 8 * r.s.tick_ns);
	CHECK_MSG(r.s.budget >= before / 2, "budget %u after one burst, was %u", r.s.budget,
		  before);
	start = t;
	while ((r.s.st.behind || r.s.budget < r.s.budget_max) && t - start < S) {
		t += r.s.tick_ns;
		sched_tick(&r.s, t);
	}
	CHECK_MSG(t - start < 300 * MS, "back on schedule %llu ms after the burst",
		  (unsigned long long)((t - start) / MS));
	CHECK(r.s.st.tx_dropped > 0 && r.s.st.resent > 0);
	rig_free(&r);
}

void suite_scheduler(void)
{
	drops_recover();
	young_clock();
	steady_rate();
	catch_up();
}
