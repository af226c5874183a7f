// SPDX-License-Identifier: MIT
/*
 * The scheduler with an injected clock: sched_init() and sched_tick() take
 * the monotonic time as an argument, and the send path it drives is a fake
 * that takes every queued SYN at once (no BPF, no root).  Unless a test
 * gives the fake an answer rule, no probe is answered and every probe times
 * out.  The cadence tests add the engine's state machine (state.c), which
 * reports each backend's pace after each outcome as the engine does.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <netinet/in.h>

#include "check.h"
#include "scheduler.h"

#define MS 1000000ULL
#define S 1000000000ULL

/*
 * What the fake device saw of one backend: every SYN, with its time, its
 * probe generation and whether it was a resend of the same generation.
 */
#define SYN_LOG 512

struct syn_rec {
	uint64_t t;
	uint32_t gen;
	bool resend;
	uint8_t pace;		/* the backend's pace when it left (with health) */
};

struct syn_log {
	struct syn_rec syn[SYN_LOG];
	unsigned int n;
};

struct rig;

/*
 * The fake send_run(): counts the frames of each run and empties the
 * queue; while fake_drop_runs is not 0, the device drops every frame of a
 * run.  With fake_log, each SYN is logged per backend; with fake_answer,
 * the SYNs it says yes to are answered (a SYN-ACK recorded in the slot,
 * as probe_rx would) at once.
 */
static uint64_t fake_frames;
static unsigned int fake_drop_runs;
static uint64_t fake_now;
static struct rig *fake_rig;
static struct syn_log *fake_log;
static bool (*fake_answer)(uint32_t b, const struct syn_log *l);

struct rig {
	struct config cfg;
	struct pool_cfg pool;
	struct sender tx;
	struct slots slots;
	struct scheduler s;
	uint64_t outcomes, ok;
	struct health *health;		/* with the state machine: per backend */
};

static void fake_syn(uint32_t b)
{
	struct xdphc_slot *sl = &fake_rig->slots.s[b];
	struct syn_log *l = fake_log ? &fake_log[b] : NULL;

	if (l && l->n < SYN_LOG)
		l->syn[l->n++] = (struct syn_rec){
			fake_now, sl->gen, sl->flags & XDPHC_SLOT_F_RESEND,
			fake_rig->health ? sched_pace_of(fake_rig->health[b]) : SCHED_PACE_POOL,
		};
	if (fake_answer && fake_answer(b, l))
		sl->result = XDPHC_RESULT(sl->gen, XDPHC_RES_SYNACK, 0, 0);
}

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
		return 0;
	}
	for (unsigned int i = 0; i < n && fake_rig; i++)
		fake_syn(tx->txq->slot[i]);
	return 0;
}

/* The engine's on_outcome(), as far as the scheduler sees it. */
static void count_outcome(void *ctx, uint32_t b, const struct probe_outcome *o)
{
	struct rig *r = ctx;

	r->outcomes++;
	r->ok += o->ok;
	if (!r->health)
		return;
	health_update(&r->health[b], &r->pool.hc, o);
	sched_pace(&r->s, b, sched_pace_of(r->health[b]));
}

static void rig_setup(struct rig *r, uint32_t n, uint32_t interval_ms, uint32_t timeout_ms)
{
	memset(r, 0, sizeof(*r));
	snprintf(r->pool.name, sizeof(r->pool.name), "p");
	r->pool.n_backends = n;
	r->pool.max_backends = n;
	r->pool.hc.interval_ms = interval_ms;
	r->pool.hc.unhealthy_interval_ms = interval_ms;
	r->pool.hc.transition_interval_ms = interval_ms;
	r->pool.hc.timeout_ms = timeout_ms;
	r->pool.hc.jitter_ms = interval_ms / 100;
	r->pool.hc.healthy_threshold = 2;
	r->pool.hc.unhealthy_threshold = 2;
	r->cfg.pools = &r->pool;
	r->cfg.n_pools = 1;
	r->cfg.n_backends = n;
}

/* The scheduler of the pool rig_setup() made, and hc changed since. */
static int rig_start(struct rig *r, uint64_t now, bool with_health)
{
	uint32_t n = r->pool.n_backends;

	r->slots.s = calloc(n ? n : 1, sizeof(*r->slots.s));
	r->slots.n = n;
	r->tx.txq = calloc(1, sizeof(*r->tx.txq));
	r->tx.batch_fd = -1;
	if (with_health)
		r->health = calloc(n ? n : 1, sizeof(*r->health));
	fake_frames = 0;
	fake_rig = r;
	if (!r->slots.s || !r->tx.txq || (with_health && !r->health))
		return -1;
	/* Claimed: the scheduler skips ids that hold no backend. */
	for (uint32_t i = 0; i < n; i++)
		r->slots.s[i].family = AF_INET;
	return sched_init(&r->s, &r->cfg, &r->slots, &r->tx, now, count_outcome, r);
}

static int rig_init(struct rig *r, uint32_t n, uint32_t interval_ms, uint32_t timeout_ms,
		    uint64_t now)
{
	rig_setup(r, n, interval_ms, timeout_ms);
	return rig_start(r, now, false);
}

static void rig_free(struct rig *r)
{
	sched_free(&r->s);
	free(r->slots.s);
	free(r->tx.txq);
	free(r->health);
	fake_rig = NULL;
	fake_log = NULL;
	fake_answer = NULL;
}

/* Tick at the scheduler's own tick from t to end; returns the time reached. */
static uint64_t run_until(struct rig *r, uint64_t t, uint64_t end)
{
	for (; t < end; t += r->s.tick_ns) {
		fake_now = t;
		sched_tick(&r->s, t);
	}
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

/* ---- cadence: paces off the pool's interval, and retransmits ------------ */

#define SLACK (3 * MS)		/* ms deadlines (1 ms) and the tick (1 ms) */

static const char *const pace_names[SCHED_PACE_N] = { "pool", "fast", "down" };

struct gaps {
	unsigned int n[SCHED_PACE_N];	/* gaps checked, by the pace of the later probe */
	unsigned int bad;
};

/*
 * Each probe of a backend (a SYN of a new generation) against the one
 * before: a pace off the cadence starts it exactly that long after the
 * last start; on the cadence after the cadence, an interval later, give or
 * take the jitter.  Coming back to the cadence may take any time.
 */
static void check_gaps(const struct rig *r, uint32_t b, const struct syn_log *l, struct gaps *g)
{
	const struct sched_pool *sp = &r->s.pools[0];
	uint64_t iv = sp->interval_ns, jit = sp->jitter_ns, prev_t = 0, want, gap;
	int prev = -1, p;
	bool ok;

	for (unsigned int i = 0; i < l->n; i++) {
		const struct syn_rec *x = &l->syn[i];

		if (x->resend)
			continue;
		/* A pace equal to the interval is the cadence's. */
		p = sp->pace_ms[x->pace] == sp->pace_ms[SCHED_PACE_POOL] ? SCHED_PACE_POOL : x->pace;
		if (prev >= 0 && (p != SCHED_PACE_POOL || prev == SCHED_PACE_POOL)) {
			gap = x->t - prev_t;
			want = p == SCHED_PACE_POOL ? iv : sp->pace_ms[p] * MS;
			ok = p == SCHED_PACE_POOL ?
				gap + jit + SLACK >= want && gap <= want + jit + SLACK :
				gap >= want && gap <= want + SLACK;
			g->n[p]++;
			if (!ok && g->bad++ < 5)
				CHECK_MSG(ok, "backend %u: %s gap %.3f ms, want %.0f ms", b,
					  pace_names[p], gap / 1e6, want / 1e6);
		}
		prev = p;
		prev_t = x->t;
	}
}

static struct gaps all_gaps(const struct rig *r, const struct syn_log *log)
{
	struct gaps g = { { 0 }, 0 };

	for (uint32_t b = 0; b < r->pool.n_backends; b++)
		check_gaps(r, b, &log[b], &g);
	return g;
}

static bool fake_up;

static bool answer_if_up(uint32_t b, const struct syn_log *l)
{
	(void)b;
	(void)l;
	return fake_up;
}

/*
 * 64 backends at interval 1 s, transition_interval 250 ms,
 * unhealthy_interval 4 s, fall 3, rise 2: dead for 14 s, each goes through
 * two probes at 250 ms to down, then one every 4 s; alive again, the next
 * down probe passes, one more 250 ms later makes it up, and from then on
 * the cadence probes it once an interval, with no backend left waiting.
 */
static void paces(void)
{
	static struct syn_log log[64];
	uint64_t t0 = 1000 * S, t;
	struct gaps g;
	struct rig r;

	memset(log, 0, sizeof(log));
	rig_setup(&r, 64, 1000, 100);
	r.pool.hc.transition_interval_ms = 250;
	r.pool.hc.unhealthy_interval_ms = 4000;
	r.pool.hc.unhealthy_threshold = 3;
	CHECK_INT(rig_start(&r, t0, true), 0);
	fake_log = log;
	fake_answer = answer_if_up;
	fake_up = false;
	t = run_until(&r, t0, t0 + 14 * S);
	for (uint32_t b = 0; b < 64; b++)
		CHECK_INT(health_state(r.health[b]), XDPHC_STATE_DOWN);
	CHECK_UINT(bq_len(&r.s.pools[0].wait[SCHED_PACE_DOWN]), 64);
	fake_up = true;
	run_until(&r, t, t + 12 * S);
	g = all_gaps(&r, log);
	CHECK_UINT(g.bad, 0);
	CHECK_MSG(g.n[SCHED_PACE_FAST] >= 64 * 3, "%u fast gaps", g.n[SCHED_PACE_FAST]);
	CHECK_MSG(g.n[SCHED_PACE_DOWN] >= 64 * 3, "%u down gaps", g.n[SCHED_PACE_DOWN]);
	CHECK_MSG(g.n[SCHED_PACE_POOL] >= 64 * 4, "%u pool gaps", g.n[SCHED_PACE_POOL]);
	for (uint32_t b = 0; b < 64; b++)
		CHECK_INT(health_state(r.health[b]), XDPHC_STATE_UP);
	for (int p = 0; p < SCHED_PACE_N; p++)
		CHECK_UINT(bq_len(&r.s.pools[0].wait[p]), 0);
	CHECK_UINT(r.s.st.behind, 0);
	rig_free(&r);
}

/*
 * Paces equal to the interval keep every backend on the cadence, however
 * its counters move: the defaults change nothing.
 */
static void default_paces_stay_on_cadence(void)
{
	static struct syn_log log[64];
	uint64_t t0 = 1000 * S;
	struct gaps g;
	struct rig r;

	memset(log, 0, sizeof(log));
	rig_setup(&r, 64, 500, 200);
	CHECK_INT(rig_start(&r, t0, true), 0);
	fake_log = log;
	run_until(&r, t0, t0 + 6 * S);
	g = all_gaps(&r, log);
	CHECK_UINT(g.bad, 0);
	CHECK_UINT(g.n[SCHED_PACE_FAST] + g.n[SCHED_PACE_DOWN], 0);
	CHECK_UINT(bq_len(&r.s.pools[0].wait[SCHED_PACE_FAST]) +
		   bq_len(&r.s.pools[0].wait[SCHED_PACE_DOWN]), 0);
	CHECK_MSG(g.n[SCHED_PACE_POOL] >= 64 * 10, "%u pool gaps", g.n[SCHED_PACE_POOL]);
	rig_free(&r);
}

/* The first SYN of each probe is lost; its retransmit is answered. */
static bool answer_resends(uint32_t b, const struct syn_log *l)
{
	(void)b;
	return l && l->n && l->syn[l->n - 1].resend;
}

static bool answer_odd(uint32_t b, const struct syn_log *l)
{
	(void)l;
	return b & 1;
}

/*
 * Every SYN of one probe (one generation) against the first: the k-th
 * retransmit timeout * k / (n + 1) after it, none at or past the deadline;
 * with all, n of them.  Returns the probes seen whole.
 */
static unsigned int check_retransmits(const struct syn_log *l, unsigned int n,
				      uint64_t timeout, uint32_t b, bool all)
{
	unsigned int probes = 0, i = 0;

	while (i < l->n) {
		const struct syn_rec *first = &l->syn[i];
		unsigned int k = 1;

		CHECK(!first->resend);
		for (i++; i < l->n && l->syn[i].gen == first->gen; i++, k++) {
			uint64_t off = l->syn[i].t - first->t, want = (timeout * k + n) / (n + 1);

			CHECK(l->syn[i].resend);
			CHECK_MSG(off >= want && off <= want + SLACK && off < timeout,
				  "backend %u: retransmit %u at %.3f ms, want %.0f ms", b, k,
				  off / 1e6, want / 1e6);
		}
		/* The last probe may be cut short by the end of the run. */
		if (i < l->n && all)
			CHECK_MSG(k == n + 1, "backend %u: %u SYNs for a probe, want %u", b, k, n + 1);
		probes += i < l->n;
	}
	return probes;
}

#define RTX_N 32
static struct syn_log rtx_log[RTX_N];

/*
 * RTX_N backends at interval 1 s, timeout 400 ms, n retransmits, every
 * SYN logged and answered as answer says.
 */
static int rtx_start(struct rig *r, unsigned int n,
		     bool (*answer)(uint32_t b, const struct syn_log *l))
{
	memset(rtx_log, 0, sizeof(rtx_log));
	rig_setup(r, RTX_N, 1000, 400);
	r->pool.hc.retransmits = n;
	if (rig_start(r, 1000 * S, false))
		return -1;
	fake_log = rtx_log;
	fake_answer = answer;
	return 0;
}

struct rtx_tally {
	unsigned int probes;		/* seen whole */
	unsigned int resends;		/* SYNs sent again */
};

/* check_retransmits() for every backend: n retransmits each, n_odd for odd ones. */
static struct rtx_tally rtx_check(unsigned int n, unsigned int n_odd, bool all)
{
	struct rtx_tally t = { 0, 0 };

	for (uint32_t b = 0; b < RTX_N; b++) {
		unsigned int p = check_retransmits(&rtx_log[b], b & 1 ? n_odd : n, 400 * MS, b, all);

		CHECK_MSG(p >= 3, "backend %u: %u probes", b, p);
		t.probes += p;
		for (unsigned int i = 0; i < rtx_log[b].n; i++)
			t.resends += rtx_log[b].syn[i].resend;
	}
	return t;
}

static void retransmits_unanswered(unsigned int n)
{
	struct rtx_tally t;
	struct rig r;

	CHECK_INT(rtx_start(&r, n, NULL), 0);
	run_until(&r, 1000 * S, 1005 * S);
	t = rtx_check(n, n, true);
	CHECK_UINT(r.s.st.retransmitted, t.resends);
	CHECK_UINT(r.s.pools[0].retransmitted, t.resends);
	CHECK_UINT(r.s.st.timeouts, r.outcomes);
	rig_free(&r);
}

/*
 * A lost first SYN is not a failed check: its retransmit is answered, and
 * every probe succeeds.  A probe answered at once is never retransmitted,
 * even while it waits in the in-flight queue behind unanswered ones (odd
 * backends answer, even ones never do).
 */
static void retransmits_answered(void)
{
	struct rig r;

	CHECK_INT(rtx_start(&r, 1, answer_resends), 0);
	run_until(&r, 1000 * S, 1005 * S);
	CHECK(r.outcomes >= RTX_N * 4);
	CHECK_UINT(r.ok, r.outcomes);
	CHECK_UINT(r.s.st.timeouts, 0);
	/* One each, but for probes started too late in the run for theirs. */
	CHECK(r.s.st.retransmitted >= r.outcomes);
	CHECK(r.s.st.retransmitted <= r.s.st.probes_queued);
	rig_free(&r);

	CHECK_INT(rtx_start(&r, 3, answer_odd), 0);
	run_until(&r, 1000 * S, 1005 * S);
	CHECK_UINT(r.ok + r.s.st.timeouts, r.outcomes);
	rtx_check(3, 0, true);
	rig_free(&r);
}

/*
 * A stall (the engine descheduled) carries the clock past the deadlines of
 * the probes in flight, and past their retransmit times: no retransmit
 * goes out late, at or after the deadline.
 */
static void retransmits_not_past_deadline(void)
{
	struct rtx_tally t;
	uint64_t tm;
	struct rig r;

	CHECK_INT(rtx_start(&r, 1, NULL), 0);
	tm = run_until(&r, 1000 * S, 1002 * S + 100 * MS);
	for (int i = 0; i < 5; i++) {
		tm += 450 * MS;
		fake_now = tm;
		sched_tick(&r.s, tm);
		tm = run_until(&r, tm, tm + 300 * MS);
	}
	t = rtx_check(1, 1, false);
	/* Some were due during a stall: those never went. */
	CHECK_MSG(t.resends < t.probes, "%u probes, %u retransmits", t.probes, t.resends);
	rig_free(&r);
}

/*
 * Even backends are removed (their slots released) while their probes are
 * in flight or waiting off the cadence: from then on they get no SYN, no
 * retransmit, and once their probes end their ids are free, the owed and
 * pace bits with them.
 */
static void removed_get_nothing(void)
{
	uint64_t t0 = 1000 * S, t, cut;
	struct rig r;

	memset(rtx_log, 0, sizeof(rtx_log));
	rig_setup(&r, RTX_N, 1000, 400);
	r.pool.hc.retransmits = 1;
	r.pool.hc.transition_interval_ms = 500;
	r.pool.hc.unhealthy_interval_ms = 3000;
	CHECK_INT(rig_start(&r, t0, true), 0);
	fake_log = rtx_log;
	t = run_until(&r, t0, t0 + 1500 * MS);
	CHECK(bq_len(&r.s.pools[0].wait[SCHED_PACE_DOWN]) > 4);
	CHECK(bq_len(&r.s.pools[0].inflight) > 4);
	cut = t;
	for (uint32_t b = 0; b < RTX_N; b += 2)
		r.slots.s[b].family = 0;
	run_until(&r, t, t + 3 * S);
	for (uint32_t b = 0; b < RTX_N; b++) {
		const struct syn_log *l = &rtx_log[b];

		CHECK_MSG(b & 1 ? l->syn[l->n - 1].t > cut : l->syn[l->n - 1].t < cut,
			  "backend %u: last SYN %.3f s after the cut", b,
			  ((double)l->syn[l->n - 1].t - cut) / 1e9);
		if (!(b & 1))
			CHECK_MSG(!sched_busy(&r.s, b), "removed backend %u still busy", b);
	}
	rig_free(&r);
}

/* One probe in ten gets no answer (by backend and generation: no pattern per backend). */
static bool answer_nine_in_ten(uint32_t b, const struct syn_log *l)
{
	(void)l;
	return (b * 2654435761U + fake_rig->slots.s[b].gen * 40503U) % 10 != 0;
}

/*
 * A timeout as long as the interval: a probe may still be in flight when
 * its backend's next slot comes (an unanswered one ends just then, give or
 * take the jitter and a tick; an answered one may wait in the in-flight
 * queue behind it).  That slot is owed, and paid when the probe ends: every
 * backend is still probed once an interval.
 */
static void timeout_equal_to_interval(void)
{
	uint64_t t0 = 1000 * S, t, before, p50, p99, max;
	struct rig r;

	rig_setup(&r, 1000, 500, 500);
	CHECK_INT(rig_start(&r, t0, false), 0);
	fake_answer = answer_nine_in_ten;
	t = run_until(&r, t0, t0 + 2 * S);
	before = r.s.st.probes_queued;
	run_until(&r, t, t + 10 * S);
	CHECK_MSG(llabs((long long)(r.s.st.probes_queued - before) - 20000) <= 200,
		  "%llu probes in 10 s, want 20000 +- 1 %%",
		  (unsigned long long)(r.s.st.probes_queued - before));
	CHECK(r.s.st.timeouts > 1000);
	sched_lag_quantiles(&r.s, &p50, &p99, &max);
	CHECK_MSG(p99 <= 2 * r.s.tick_ns / 1000 + 1000, "lag p99 %llu us",
		  (unsigned long long)p99);
	rig_free(&r);
}

/*
 * 1,000,000 backends that never answer, interval 1 s, transition_interval
 * 500 ms, unhealthy_interval 2 s, one retransmit: all of them go down and
 * stay off the cadence.  The budget holds twice the SYNs of every backend
 * at its fastest pace, the steady state starts N / unhealthy_interval
 * probes a second, and the lag, measured against each due time, stays
 * within a couple of ticks.
 */
static void paces_at_scale(void)
{
	const uint32_t n = 1000000;
	uint64_t t0 = 1000 * S, t, before, p50, p99, max, rtx;
	struct rig r;

	rig_setup(&r, n, 1000, 400);
	r.pool.hc.transition_interval_ms = 500;
	r.pool.hc.unhealthy_interval_ms = 2000;
	r.pool.hc.retransmits = 1;
	CHECK_INT(rig_start(&r, t0, true), 0);
	CHECK(r.s.budget_max * 1e9 / r.s.tick_ns >= 2 * 2.0 * n / 0.5);
	t = run_until(&r, t0, t0 + 6 * S);
	CHECK_UINT(bq_len(&r.s.pools[0].wait[SCHED_PACE_DOWN]) +
		   bq_len(&r.s.pools[0].inflight), n);
	before = r.s.st.probes_queued;
	rtx = r.s.st.retransmitted;
	t = run_until(&r, t, t + 4 * S);
	CHECK_MSG(llabs((long long)(r.s.st.probes_queued - before) - 2000000) <= 20000,
		  "%llu probes in 4 s, want 2000000 +- 1 %%",
		  (unsigned long long)(r.s.st.probes_queued - before));
	CHECK_MSG(llabs((long long)(r.s.st.retransmitted - rtx) - 2000000) <= 20000,
		  "%llu retransmits in 4 s", (unsigned long long)(r.s.st.retransmitted - rtx));
	sched_lag_quantiles(&r.s, &p50, &p99, &max);
	CHECK_MSG(p99 <= 2 * r.s.tick_ns / 1000 + 1000, "lag p99 %llu us",
		  (unsigned long long)p99);
	CHECK_UINT(r.s.st.behind, 0);
	for (uint32_t b = 0; b < n; b += 997)
		CHECK_INT(health_state(r.health[b]), XDPHC_STATE_DOWN);
	rig_free(&r);
}

/*
 * UDP without expect: a probe that nothing answers passes (silence), with
 * no RTT; while the prober is impaired it counts for nothing; with expect
 * it is a timeout.
 */
static void udp_silence(void)
{
	uint64_t ok, outcomes, silent;
	struct rig r;

	for (int expect = 0; expect < 2; expect++) {
		rig_setup(&r, 20, 1000, 200);
		r.pool.hc.protocol = HC_PROTO_UDP;
		r.pool.hc.expect.len = expect ? 4 : 0;
		CHECK_INT(rig_start(&r, 1000 * S, false), 0);
		for (uint32_t i = 0; i < 20; i++)
			r.slots.s[i].proto = IPPROTO_UDP;
		r.slots.sport_lo = 40000;
		r.slots.sport_count = 64;
		run_until(&r, 1000 * S, 1003 * S);
		CHECK(r.outcomes >= 40);
		CHECK_UINT(r.ok, expect ? 0 : r.outcomes);
		CHECK_UINT(r.s.st.udp_silent, expect ? 0 : r.outcomes);
		CHECK_UINT(r.s.st.timeouts, expect ? r.outcomes : 0);
		ok = r.ok;
		outcomes = r.outcomes;
		silent = r.s.st.udp_silent;
		/* Held set: the engine would judge it anew each second. */
		for (uint64_t t = 1003 * S; t < 1005 * S; t += r.s.tick_ns) {
			r.s.imp.impaired = true;
			fake_now = t;
			sched_tick(&r.s, t);
		}
		/* Impaired: silence proves nothing; a timeout with expect still counts. */
		CHECK_UINT(r.ok, ok);
		CHECK_UINT(r.s.st.udp_silent, silent);
		if (expect)
			CHECK(r.outcomes > outcomes);
		else
			CHECK_UINT(r.outcomes, outcomes);
		rig_free(&r);
	}
}

void suite_scheduler(void)
{
	udp_silence();
	drops_recover();
	young_clock();
	steady_rate();
	catch_up();
	paces();
	default_paces_stay_on_cadence();
	retransmits_unanswered(0);
	retransmits_unanswered(1);
	retransmits_unanswered(3);
	retransmits_answered();
	retransmits_not_past_deadline();
	removed_get_nothing();
	timeout_equal_to_interval();
	paces_at_scale();
}
