// SPDX-License-Identifier: MIT
/*
 * The circuit breaker's decisions, with the engine's path for one outcome
 * (hold? then health_update() and the count) on hand-made configs and an
 * injected clock.  Pools have 1 s intervals, 500 ms timeouts, 10 ms jitter
 * and fall 2: a check waits 1 s + 10 ms + 500 ms + 200 ms for its evidence,
 * an answer at most 250 ms old clears the prober at once, and timeouts
 * stay held for 700 ms after a close.
 */
#include <string.h>

#include "breaker.h"
#include "check.h"

#define MS 1000000ULL
#define MAX_IDS 64
#define HALF 500000U

struct fixture {
	struct config cfg;
	struct pool_cfg pools[4];
	struct health health[MAX_IDS];
	struct breaker b;
	int reports;
	enum breaker_state from;
	struct circuit_event ev;
	bool have_ev;
};

static const struct probe_outcome ok = { .ok = true, .reason = XDPHC_REASON_OK, .rtt_us = 50 };
static const struct probe_outcome timeout = { .reason = XDPHC_REASON_TIMEOUT };
static const struct probe_outcome refused = { .reason = XDPHC_REASON_REFUSED };
static const struct probe_outcome no_route = { .reason = XDPHC_REASON_NO_ROUTE };

static void on_report(void *ctx, const struct breaker *b, enum breaker_state from, uint64_t now)
{
	struct fixture *f = ctx;

	(void)now;
	f->reports++;
	f->from = from;
	f->have_ev = breaker_event(b, from, &f->ev);
}

static void pool_init(struct pool_cfg *pc, const char *name, uint32_t first, uint32_t n)
{
	memset(pc, 0, sizeof(*pc));
	snprintf(pc->name, sizeof(pc->name), "%s", name);
	pc->hc = (struct hc_config){ .interval_ms = 1000, .timeout_ms = 500, .jitter_ms = 10,
				     .healthy_threshold = 2, .unhealthy_threshold = 2 };
	pc->first_id = first;
	pc->n_backends = n;
	pc->max_backends = n;
	pc->max_down_ppm = HALF;
}

/* Pools of n[p] backends (ids in order), then n_canaries canaries if any. */
static void setup(struct fixture *f, const uint32_t *n, size_t n_pools, uint32_t n_canaries)
{
	uint32_t id = 0;

	memset(f, 0, sizeof(*f));
	for (size_t p = 0; p < n_pools; p++) {
		pool_init(&f->pools[p], p ? "api" : "web", id, n[p]);
		id += n[p];
	}
	if (n_canaries) {
		pool_init(&f->pools[n_pools], CONFIG_CANARY_POOL, id, n_canaries);
		f->pools[n_pools].canaries = true;
		f->pools[n_pools].hc.healthy_threshold = 1;
		f->pools[n_pools].hc.unhealthy_threshold = 1;
		n_pools++;
	}
	f->cfg.pools = f->pools;
	f->cfg.n_pools = n_pools;
	f->cfg.max_down_ppm = HALF;
}

/* As the engine starts it: every backend counted with its record. */
static void start(struct fixture *f)
{
	CHECK_INT(breaker_init(&f->b, &f->cfg, on_report, f), 0);
	for (size_t p = 0; p < f->cfg.n_pools; p++)
		for (uint32_t i = 0; i < f->pools[p].n_backends; i++)
			breaker_add(&f->b, (uint32_t)p, f->health[f->pools[p].first_id + i]);
}

static uint32_t pool_of(const struct fixture *f, uint32_t id)
{
	uint32_t p = 0;

	while (p + 1 < f->cfg.n_pools && f->pools[p + 1].first_id <= id)
		p++;
	return p;
}

/* The engine's path for one outcome at t ms; true when it was held. */
static bool feed(struct fixture *f, uint32_t id, const struct probe_outcome *o, uint64_t t)
{
	uint32_t p = pool_of(f, id);
	struct health h = f->health[id];

	if (breaker_hold(&f->b, p, id, h, o, t * MS))
		return true;
	health_update(&h, &f->pools[p].hc, o);
	breaker_count(&f->b, p, f->health[id], h);
	f->health[id] = h;
	return false;
}

/* The same outcome for ids [lo, hi); how many were held. */
static int feed_range(struct fixture *f, uint32_t lo, uint32_t hi,
		      const struct probe_outcome *o, uint64_t t)
{
	int held = 0;

	for (uint32_t id = lo; id < hi; id++)
		held += feed(f, id, o, t);
	return held;
}

static int count_state(const struct fixture *f, uint32_t lo, uint32_t hi, uint8_t state)
{
	int n = 0;

	for (uint32_t id = lo; id < hi; id++)
		n += health_state(f->health[id]) == state;
	return n;
}

static void tick(struct fixture *f, uint64_t t)
{
	struct breaker_prober pr = { 0 };

	breaker_tick(&f->b, t * MS, &pr);
}

/* Ten backends up, an answer long ago. */
static void ten_up(struct fixture *f, uint32_t n_canaries)
{
	static const uint32_t n[] = { 10 };

	setup(f, n, 1, n_canaries);
	for (uint32_t id = 0; id < 10 + n_canaries; id++)
		f->health[id] = health_make(XDPHC_STATE_UP, true, 5);
	start(f);
	feed(f, 0, &ok, 1);
}

static void below_the_fraction_counts(void)
{
	struct fixture f;

	check_context("breaker: below the fraction");
	ten_up(&f, 0);
	CHECK_INT(feed_range(&f, 0, 5, &timeout, 10000), 0);
	CHECK_INT(feed_range(&f, 0, 5, &timeout, 11000), 0);
	CHECK_INT(count_state(&f, 0, 10, XDPHC_STATE_DOWN), 5);
	CHECK_UINT(f.b.pool[0].failing, 5);
	CHECK_UINT(f.b.all.failing, 5);
	CHECK_INT(f.b.state, BREAKER_CLOSED);
	CHECK_UINT(f.b.checks, 0);
	CHECK_INT(f.reports, 0);
	/* Successes take them out of the count again. */
	feed_range(&f, 0, 5, &ok, 12000);
	CHECK_UINT(f.b.pool[0].failing, 0);
	breaker_free(&f.b);
}

/*
 * The case: the prober's path breaks, every backend times out, and
 * nothing answers.  The sixth of ten trips a check (no answer since), the
 * rest are held, none goes down; after the window it opens, and the first
 * answer closes it.
 */
static void broken_path_without_canaries(void)
{
	struct fixture f;

	check_context("breaker: broken path, no canaries");
	ten_up(&f, 0);
	CHECK_INT(feed_range(&f, 0, 5, &timeout, 10000), 0);
	CHECK(feed(&f, 5, &timeout, 10100));
	CHECK_INT(f.b.state, BREAKER_CHECKING);
	CHECK_INT(f.reports, 1);
	CHECK(!f.have_ev);		/* a check is logged, not an event */
	CHECK_UINT(f.b.checks, 1);
	CHECK_INT(feed_range(&f, 6, 10, &timeout, 10200), 4);
	CHECK_INT(feed_range(&f, 0, 10, &timeout, 11000), 10);	/* their second timeouts */
	tick(&f, 11800);		/* 1.7 s after the check began: not yet */
	CHECK_INT(f.b.state, BREAKER_CHECKING);
	tick(&f, 11810);
	CHECK_INT(f.b.state, BREAKER_OPEN);
	CHECK_INT(f.b.cause, BREAKER_CAUSE_NO_REPLIES);
	CHECK(breaker_is_open(&f.b));
	CHECK_UINT(f.b.opened, 1);
	CHECK(f.have_ev);
	CHECK_STR(f.ev.event, "circuit_open");
	CHECK_STR(f.ev.cause, "no_replies");
	CHECK_STR(f.ev.pool, "web");
	CHECK_UINT(f.ev.failing, 6);
	CHECK_UINT(f.ev.backends, 10);
	CHECK_INT(feed_range(&f, 0, 10, &timeout, 20000), 10);
	CHECK_INT(count_state(&f, 0, 10, XDPHC_STATE_UP), 10);

	/* An answer: closed; the probes sent before it may still time out, held. */
	CHECK(!feed(&f, 7, &ok, 30000));
	CHECK_INT(f.b.state, BREAKER_CLOSED);
	CHECK_STR(f.ev.event, "circuit_close");
	CHECK_STR(f.ev.cause, "answers");
	CHECK(f.ev.open_s > 18.1 && f.ev.open_s < 18.3);
	CHECK_INT(feed_range(&f, 0, 5, &timeout, 30699), 5);
	CHECK_INT(count_state(&f, 0, 10, XDPHC_STATE_UP), 10);
	/* After that, timeouts count again: real failures go down. */
	CHECK(!feed(&f, 0, &timeout, 30700));
	CHECK_INT(health_state(f.health[0]), XDPHC_STATE_DOWN);
	breaker_free(&f.b);
}

/* An answer newer than half a timeout postdates the failing probes: they count. */
static void fresh_answer_clears_at_once(void)
{
	struct fixture f;

	check_context("breaker: fresh answer");
	ten_up(&f, 0);
	CHECK_INT(feed_range(&f, 0, 5, &timeout, 10000), 0);
	feed(&f, 9, &refused, 10000);	/* an RST is an answer too */
	CHECK(!feed(&f, 5, &timeout, 10250));
	CHECK_INT(f.b.state, BREAKER_CLOSED);
	CHECK_UINT(f.b.checks, 1);
	CHECK_INT(f.reports, 0);
	CHECK_UINT(f.b.pool[0].failing, 6);
	/* The failing are the new baseline: 2 more of the 4 left are no mass. */
	CHECK_INT(feed_range(&f, 6, 8, &timeout, 20000), 0);
	CHECK_UINT(f.b.checks, 1);
	/* A third is more than half of the 4 that answered: check again. */
	CHECK(feed(&f, 8, &timeout, 20000));
	CHECK_INT(f.b.state, BREAKER_CHECKING);
	CHECK_UINT(f.b.checks, 2);
	breaker_free(&f.b);
}

/* A reply during the check: the failures are real and count again. */
static void reply_during_check_means_real(void)
{
	struct fixture f;

	check_context("breaker: real mass failure, no canaries");
	ten_up(&f, 0);
	feed_range(&f, 0, 5, &timeout, 10000);
	CHECK(feed(&f, 5, &timeout, 10500));
	CHECK(!feed(&f, 9, &ok, 10600));
	CHECK_INT(f.b.state, BREAKER_CLOSED);
	CHECK_INT(f.reports, 2);
	CHECK(!f.have_ev);		/* it never opened */
	CHECK_STR(f.b.closed_why, "answers");
	/* Held for a timeout after the check, then real failures go down. */
	CHECK(feed(&f, 0, &timeout, 11000));
	CHECK(!feed(&f, 0, &timeout, 11400));
	CHECK_INT(health_state(f.health[0]), XDPHC_STATE_DOWN);
	breaker_free(&f.b);
}

/* With canaries, the canaries decide; a backend's answer does not. */
static void canaries_answer_means_real(void)
{
	struct fixture f;

	check_context("breaker: canaries answer");
	ten_up(&f, 2);
	CHECK(f.b.canary_pool == 1 && f.b.n_canaries == 2);
	feed_range(&f, 0, 6, &timeout, 10000);
	CHECK_INT(f.b.state, BREAKER_CHECKING);
	CHECK(!feed(&f, 9, &ok, 10100));
	CHECK_INT(f.b.state, BREAKER_CHECKING);
	CHECK(!feed(&f, 10, &timeout, 10200));	/* one canary fails: not all */
	CHECK_INT(f.b.state, BREAKER_CHECKING);
	CHECK(!feed(&f, 11, &ok, 10300));
	CHECK_INT(f.b.state, BREAKER_CLOSED);
	/* Canaries are never held nor counted among the backends. */
	CHECK_UINT(f.b.all.total, 10);
	CHECK_UINT(f.b.canaries_failing, 1);
	CHECK_INT(health_state(f.health[10]), XDPHC_STATE_DOWN);
	/* 60 % of the pool really died: they go down. */
	feed_range(&f, 0, 6, &timeout, 11000);
	feed_range(&f, 0, 6, &timeout, 12000);
	CHECK_INT(count_state(&f, 0, 10, XDPHC_STATE_DOWN), 6);
	CHECK_INT(f.b.state, BREAKER_CLOSED);
	CHECK_UINT(f.b.opened, 0);
	breaker_free(&f.b);
}

/* Every canary times out after the check began: the prober is the suspect. */
static void canaries_fail_too(void)
{
	struct fixture f;

	check_context("breaker: canaries fail too");
	ten_up(&f, 2);
	feed(&f, 10, &timeout, 9000);		/* before the check: not evidence */
	feed_range(&f, 0, 6, &timeout, 10000);
	CHECK_INT(f.b.state, BREAKER_CHECKING);
	feed(&f, 10, &timeout, 10400);
	CHECK_INT(f.b.state, BREAKER_CHECKING);
	feed(&f, 11, &no_route, 10500);	/* it cannot reach it either */
	CHECK_INT(f.b.state, BREAKER_OPEN);
	CHECK_INT(f.b.cause, BREAKER_CAUSE_CANARIES);
	CHECK_STR(f.ev.cause, "canaries_timeout");
	/* Backends' answers do not close it; a canary's does. */
	CHECK(!feed(&f, 8, &ok, 11000));
	CHECK_INT(f.b.state, BREAKER_OPEN);
	CHECK(!feed(&f, 11, &ok, 12000));
	CHECK_INT(f.b.state, BREAKER_CLOSED);
	CHECK_INT(count_state(&f, 0, 10, XDPHC_STATE_DOWN), 0);
	breaker_free(&f.b);
}

static void canaries_silent(void)
{
	struct fixture f;

	check_context("breaker: canaries silent");
	ten_up(&f, 2);
	feed_range(&f, 0, 6, &timeout, 10000);
	tick(&f, 11709);
	CHECK_INT(f.b.state, BREAKER_CHECKING);
	tick(&f, 11710);
	CHECK_INT(f.b.state, BREAKER_OPEN);
	CHECK_INT(f.b.cause, BREAKER_CAUSE_SILENT_CANARIES);
	breaker_free(&f.b);
}

/* Lost probes, the impaired flag or a lag beyond a timeout open a check at once. */
static void transmit_trouble(void)
{
	struct breaker_prober lost = { .done = 90, .lost = 10 };
	struct breaker_prober few = { .done = 1, .lost = 9 };
	struct breaker_prober lag = { .lag_p99_us = 500000 };
	struct breaker_prober fine = { .done = 91, .lost = 9, .lag_p99_us = 499999 };
	struct fixture f;

	check_context("breaker: transmit trouble");
	ten_up(&f, 0);
	breaker_tick(&f.b, 5000 * MS, &lost);
	CHECK(f.b.trouble);
	breaker_tick(&f.b, 5000 * MS, &few);
	CHECK(!f.b.trouble);
	breaker_tick(&f.b, 5000 * MS, &lag);
	CHECK(f.b.trouble);
	breaker_tick(&f.b, 5000 * MS, &fine);
	CHECK(!f.b.trouble);
	CHECK_INT(f.b.state, BREAKER_CLOSED);	/* trouble alone is no reason */
	feed_range(&f, 0, 6, &timeout, 10000);
	CHECK_INT(f.b.state, BREAKER_CHECKING);
	breaker_tick(&f.b, 10100 * MS, &lag);
	CHECK_INT(f.b.state, BREAKER_OPEN);
	CHECK_INT(f.b.cause, BREAKER_CAUSE_TRANSMIT);
	breaker_free(&f.b);
}

/* Open with canaries still silent: enough successes end the mass timeout. */
static void mass_over_closes(void)
{
	struct fixture f;

	check_context("breaker: mass over");
	ten_up(&f, 1);
	feed_range(&f, 0, 6, &timeout, 10000);
	feed(&f, 10, &timeout, 10500);
	CHECK_INT(f.b.state, BREAKER_OPEN);
	/* 2 of 10 failing, and the held one: above half the fraction (2.5). */
	feed_range(&f, 0, 3, &ok, 11000);
	tick(&f, 11100);
	CHECK_INT(f.b.state, BREAKER_OPEN);
	feed(&f, 3, &ok, 11200);		/* 1 and the held one: below */
	tick(&f, 11300);
	CHECK_INT(f.b.state, BREAKER_CLOSED);
	CHECK_STR(f.ev.cause, "mass_over");
	breaker_free(&f.b);
}

/* More than the fraction of all backends, with no pool over its own. */
static void all_pools_fraction(void)
{
	static const uint32_t n[] = { 10, 10 };
	struct fixture f;

	check_context("breaker: all pools");
	setup(&f, n, 2, 0);
	f.pools[0].max_down_ppm = CONFIG_PPM;	/* 1: this pool never trips alone */
	f.pools[1].max_down_ppm = CONFIG_PPM;
	start(&f);
	CHECK_INT(feed_range(&f, 0, 10, &timeout, 10000), 0);
	CHECK(feed(&f, 10, &timeout, 10000));
	CHECK_INT(f.b.state, BREAKER_CHECKING);
	CHECK(f.b.trip_pool == BREAKER_NONE);
	CHECK_UINT(f.b.trip_failing, 11);
	CHECK_UINT(f.b.trip_total, 20);
	tick(&f, 12000);
	CHECK(f.have_ev && f.ev.pool == NULL);
	breaker_free(&f.b);
}

/* max_down_fraction 1 turns it off: even all of them may go down. */
static void fraction_one_disables(void)
{
	static const uint32_t n[] = { 10 };
	struct fixture f;

	check_context("breaker: fraction 1");
	setup(&f, n, 1, 0);
	f.pools[0].max_down_ppm = CONFIG_PPM;
	f.cfg.max_down_ppm = CONFIG_PPM;
	start(&f);
	CHECK_INT(feed_range(&f, 0, 10, &timeout, 10000), 0);
	CHECK_INT(feed_range(&f, 0, 10, &timeout, 11000), 0);
	CHECK_INT(count_state(&f, 0, 10, XDPHC_STATE_DOWN), 10);
	CHECK_UINT(f.b.checks, 0);
	breaker_free(&f.b);
}

/* One backend, one pool: its own failure is all of it. */
static void tiny_pool(void)
{
	static const uint32_t n[] = { 1 };
	struct fixture f;

	check_context("breaker: one backend");
	setup(&f, n, 1, 0);
	start(&f);
	CHECK(feed(&f, 0, &timeout, 10000));
	CHECK_INT(f.b.state, BREAKER_CHECKING);
	tick(&f, 10100);
	CHECK_INT(f.b.state, BREAKER_CHECKING);	/* the held one counts: no "mass over" */
	breaker_free(&f.b);
}

/*
 * A whole pool dies while the canary answers: every backend goes down,
 * after one check.  What the check held, and what the settling after it
 * held, are accepted with the verdict: no check after check (a 4-backend
 * pool used to trip again on its last backend, round after round).
 */
static void whole_pool_dies(uint32_t n_backends, int rounds)
{
	const uint32_t n[] = { n_backends };
	struct fixture f;
	uint64_t t = 10000;

	check_context("breaker: a pool of %u dies, the canary answers", n_backends);
	setup(&f, n, 1, 1);
	for (uint32_t id = 0; id <= n_backends; id++)
		f.health[id] = health_make(XDPHC_STATE_UP, true, 5);
	start(&f);
	for (int r = 0; r < rounds; r++, t += 1000) {
		/* Probes spread over the interval; the canary's early in it. */
		for (uint32_t id = 0; id < n_backends; id++)
			feed(&f, id, &timeout, t + 100 + id * 800 / n_backends);
		feed(&f, n_backends, &ok, t + 50);
	}
	CHECK_INT(count_state(&f, 0, n_backends, XDPHC_STATE_DOWN), (int)n_backends);
	CHECK_UINT(f.b.checks, 1);
	CHECK_UINT(f.b.opened, 0);
	CHECK_INT(f.b.state, BREAKER_CLOSED);
	breaker_free(&f.b);
}

static void grace_and_runtime_changes(void)
{
	static const uint32_t n[] = { 4 };
	struct fixture f;
	struct health failing = health_make(XDPHC_STATE_UP, false, 1);

	check_context("breaker: grace, add, remove, init");
	health_set(&failing, HEALTH_F_TIMEOUT, true);
	setup(&f, n, 1, 0);
	f.health[1] = failing;
	start(&f);
	CHECK_UINT(f.b.pool[0].failing, 1);	/* counted with its record */
	CHECK_UINT(f.b.pool[0].base, 1);
	health_set(&f.health[2], HEALTH_F_GRACE, true);
	CHECK(!feed(&f, 2, &timeout, 1000));
	CHECK_UINT(f.b.checks, 0);
	breaker_add(&f.b, 0, failing);
	CHECK_UINT(f.b.pool[0].total, 5);
	CHECK_UINT(f.b.all.total, 5);
	CHECK_UINT(f.b.pool[0].failing, f.b.all.failing);
	breaker_remove(&f.b, 0, failing);
	breaker_remove(&f.b, 0, f.health[1]);
	CHECK_UINT(f.b.pool[0].total, 3);
	CHECK(f.b.pool[0].base <= f.b.pool[0].failing);
	breaker_free(&f.b);
}

void suite_breaker(void)
{
	below_the_fraction_counts();
	broken_path_without_canaries();
	fresh_answer_clears_at_once();
	reply_during_check_means_real();
	canaries_answer_means_real();
	canaries_fail_too();
	canaries_silent();
	transmit_trouble();
	mass_over_closes();
	all_pools_fraction();
	fraction_one_disables();
	tiny_pool();
	whole_pool_dies(4, 5);
	whole_pool_dies(40, 5);
	grace_and_runtime_changes();
}
