// SPDX-License-Identifier: MIT
#include <stdlib.h>
#include <string.h>

#include "breaker.h"
#include "log.h"

#define NS_PER_MS 1000000ULL
/* Evidence is judged every publish tick (100 ms): two of them of slack. */
#define BREAKER_SLACK_NS (200 * NS_PER_MS)
/* Lost probes that make the prober suspect: the impaired flag clears below this. */
#define TROUBLE_LOST_DIV 10
#define TROUBLE_LOST_MIN 10

#define BREAKER_C_FAILING 0x1		/* the canary's last probe failed */
#define BREAKER_C_SEEN 0x2		/* it failed since the check began */

const char *breaker_cause_name(enum breaker_cause c)
{
	switch (c) {
	case BREAKER_CAUSE_CANARIES: return "canaries_timeout";
	case BREAKER_CAUSE_SILENT_CANARIES: return "canaries_silent";
	case BREAKER_CAUSE_NO_REPLIES: return "no_replies";
	case BREAKER_CAUSE_TRANSMIT: return "transmit_trouble";
	default: return "none";
	}
}

/*
 * A reply of any kind shows the path works; only silence and local
 * failures do not.  A connection check that connected reached the
 * backend, even if its reply then timed out.
 */
static bool answered(const struct probe_outcome *o)
{
	/* A UDP check that passed by silence heard nothing either. */
	if (o->silent)
		return false;
	switch (o->reason) {
	case XDPHC_REASON_TIMEOUT:
		return o->reached;
	case XDPHC_REASON_NONE:
	case XDPHC_REASON_NO_ROUTE:
	case XDPHC_REASON_NEIGH_FAILED:
		return false;
	default:
		return true;
	}
}

/* More than the fraction of the backends that still answered at the last verdict. */
static bool over(const struct breaker_count *c, uint32_t extra)
{
	uint64_t failing = (uint64_t)c->failing + extra;

	if (!c->total || failing <= c->base)
		return false;
	return (failing - c->base) * CONFIG_PPM > (uint64_t)c->ppm * (c->total - c->base);
}

/* The count whose fraction tripped the breaker. */
static const struct breaker_count *tripped(const struct breaker *b)
{
	return b->trip_pool == BREAKER_NONE ? &b->all : &b->pool[b->trip_pool];
}

/*
 * The mass timeout is over once the failing backends that tripped the
 * breaker fall to half the fraction: with timeouts held, only successes
 * lower the count, and one success alone must not end a check.  The
 * backend whose timeout tripped it is held, not counted: it counts here.
 */
static bool mass_over(const struct breaker *b)
{
	const struct breaker_count *c = tripped(b);
	uint64_t failing = (uint64_t)c->failing + 1;

	return failing <= c->base ||
	       (failing - c->base) * CONFIG_PPM * 2 <= (uint64_t)c->ppm * (c->total - c->base);
}

static void rebase_count(struct breaker_count *c, bool with_held)
{
	uint64_t base = (uint64_t)c->failing + (with_held ? c->held : 0);

	c->base = base < c->total ? (uint32_t)base : c->total;
	c->held = 0;
}

/*
 * The failing backends of this moment are accepted as real; with_held,
 * also those whose first timeout the check held (it found them real): the
 * next check then needs a new mass failure among the others.  A backend
 * held twice in one check is counted twice: that only lets one more
 * failure count without a check, never holds one.
 */
static void rebase(struct breaker *b, bool with_held)
{
	for (size_t p = 0; p < b->n_pools; p++)
		rebase_count(&b->pool[p], with_held);
	rebase_count(&b->all, with_held);
}

static uint64_t answers(const struct breaker *b)
{
	return b->n_canaries ? b->canary_replies : b->replies;
}

static const char *trip_name(const struct breaker *b, char *buf, size_t len)
{
	if (b->trip_pool == BREAKER_NONE)
		return "all pools";
	snprintf(buf, len, "pool %s", b->cfg->pools[b->trip_pool].name);
	return buf;
}

static void set_state(struct breaker *b, enum breaker_state s, uint64_t now)
{
	enum breaker_state from = b->state;

	b->left_ns = now - b->since;
	b->state = s;
	b->since = now;
	if (b->report)
		b->report(b->ctx, b, from, now);
}

static void close_breaker(struct breaker *b, uint64_t now, bool answered, const char *why)
{
	double secs = (double)(now - b->since) / 1e9;
	char name[XDPHC_POOL_NAME_LEN + 8];

	if (b->state == BREAKER_OPEN)
		log_info("circuit breaker closed after %.1f s: %s; timeouts count again", secs,
			 why);
	else
		log_info("%s: %s: the timeouts are the backends' own and count again",
			 trip_name(b, name, sizeof(name)), why);
	/* Probes sent before now may still time out: not on the backends' account. */
	b->hold_until = now + b->settle_ns;
	b->closed_why = answered ? "answers" : "mass_over";
	b->settle_real = answered && b->state == BREAKER_CHECKING;
	rebase(b, b->settle_real);
	set_state(b, BREAKER_CLOSED, now);
}

static const char *cause_text(const struct breaker *b, char *buf, size_t len)
{
	double w = (double)b->window_ns / 1e9;

	switch (b->cause) {
	case BREAKER_CAUSE_CANARIES:
		if (b->n_canaries == 1)
			snprintf(buf, len, "the canary timed out too");
		else
			snprintf(buf, len, "all %u canaries timed out too", b->n_canaries);
		break;
	case BREAKER_CAUSE_SILENT_CANARIES:
		snprintf(buf, len, "no canary answered in %.1f s", w);
		break;
	case BREAKER_CAUSE_NO_REPLIES:
		snprintf(buf, len, "nothing answered at all in %.1f s (no SYN-ACK, RST or ICMP)",
			 w);
		break;
	default:
		snprintf(buf, len, "the prober has transmit trouble of its own (lost probes or "
			 "a schedule lag beyond a timeout)");
	}
	return buf;
}

static void open_breaker(struct breaker *b, enum breaker_cause cause, uint64_t now)
{
	char why[128], name[XDPHC_POOL_NAME_LEN + 8];

	b->cause = cause;
	b->opened++;
	log_err("circuit breaker OPEN: %u of %u backends of %s fail by timeout and %s: the "
		"prober's own path is the likely cause; backend states are held until it "
		"answers again", b->trip_failing, b->trip_total,
		trip_name(b, name, sizeof(name)), cause_text(b, why, sizeof(why)));
	set_state(b, BREAKER_OPEN, now);
}

/* What the evidence says now, in CHECKING or OPEN. */
static void decide(struct breaker *b, uint64_t now)
{
	bool answer = answers(b) > b->mark;
	const char *who = b->n_canaries ? "a canary answers" : "replies arrive";

	if (b->state == BREAKER_OPEN) {
		if (answer)
			close_breaker(b, now, true, b->n_canaries ? "a canary answers again" :
				      "replies arrive again");
		else if (mass_over(b))
			close_breaker(b, now, false, "the mass timeout is over");
		return;
	}
	if (answer)
		close_breaker(b, now, true, who);
	else if (mass_over(b))
		close_breaker(b, now, false, "the mass timeout ended before the check");
	else if (b->n_canaries && b->canaries_seen == b->n_canaries)
		open_breaker(b, BREAKER_CAUSE_CANARIES, now);
	else if (b->trouble)
		open_breaker(b, BREAKER_CAUSE_TRANSMIT, now);
	else if (now - b->since >= b->window_ns)
		open_breaker(b, b->n_canaries ? BREAKER_CAUSE_SILENT_CANARIES :
			     BREAKER_CAUSE_NO_REPLIES, now);
}

/*
 * An answer harvested less than half the shortest timeout ago was sent
 * after the probes whose timeouts tripped the breaker: the path worked
 * after they left, so their silence is the backends' own.
 */
static bool fresh_answer(const struct breaker *b, uint64_t now)
{
	uint64_t last = b->n_canaries ? b->last_canary_reply : b->last_reply;

	return last && now - last <= b->timeout_min_ns / 2;
}

static void begin_check(struct breaker *b, uint64_t now)
{
	char name[XDPHC_POOL_NAME_LEN + 8];

	b->mark = answers(b);
	b->canaries_seen = 0;
	for (size_t p = 0; p < b->n_pools; p++)
		b->pool[p].held = 0;
	b->all.held = 0;
	for (uint32_t c = 0; c < b->n_canaries; c++)
		b->canary[c] &= (uint8_t)~BREAKER_C_SEEN;
	log_info("%s: %u of %u backends fail by timeout, more than max_down_fraction: "
		 "timeouts are held while the prober checks itself (%s)",
		 trip_name(b, name, sizeof(name)), b->trip_failing, b->trip_total,
		 b->n_canaries ? "waiting for the canaries" : "waiting for any reply");
	set_state(b, BREAKER_CHECKING, now);
	decide(b, now);
}

static void accept_one(struct breaker_count *c)
{
	if (c->base < c->total)
		c->base++;
}

/*
 * A held timeout of a backend that was not failing yet.  In a check, it is
 * one more the verdict "real" accepts; in the settling after that verdict,
 * it is accepted at once: the failures it spoke of were found real, and
 * counting them again would trip check after check.
 */
static void note_held(struct breaker *b, uint32_t p)
{
	if (b->state == BREAKER_CHECKING) {
		b->pool[p].held++;
		b->all.held++;
	} else if (b->state == BREAKER_CLOSED && b->settle_real) {
		accept_one(&b->pool[p]);
		accept_one(&b->all);
	}
}

/* This timeout makes a mass timeout (pool p's, or all pools'): check the prober. */
static bool trip(struct breaker *b, uint32_t p, uint64_t now)
{
	const struct breaker_count *c = over(&b->pool[p], 1) ? &b->pool[p] : &b->all;
	char name[XDPHC_POOL_NAME_LEN + 8];

	b->checks++;
	b->trip_pool = c == &b->all ? BREAKER_NONE : p;
	b->trip_failing = c->failing + 1;
	b->trip_total = c->total;
	if (fresh_answer(b, now)) {
		log_debug("%s: %u of %u backends fail by timeout; the prober answered for "
			  "itself just now: they count", trip_name(b, name, sizeof(name)),
			  b->trip_failing, b->trip_total);
		rebase(b, false);
		/* This timeout is counted right after: it is among the accepted. */
		accept_one(&b->pool[p]);
		accept_one(&b->all);
		return false;
	}
	begin_check(b, now);
	if (b->state == BREAKER_CLOSED)
		return false;
	note_held(b, p);
	return true;
}

static void canaries_changed(struct breaker *b, bool failing)
{
	if (b->state == BREAKER_OPEN)
		return;
	if (failing && b->canaries_failing == b->n_canaries)
		log_warn("%s: until one answers again, a mass timeout will be held as the "
			 "prober's own failure", b->n_canaries == 1 ? "the canary fails" :
			 "every canary fails");
	else if (!failing && b->canaries_failing == b->n_canaries - 1)
		log_info("a canary answers again");
}

static void canary_outcome(struct breaker *b, uint32_t c, const struct probe_outcome *o,
			   uint64_t now)
{
	bool fail = !answered(o);
	uint8_t *f;

	if (c >= b->n_canaries)
		return;
	f = &b->canary[c];
	if (!fail) {
		b->canary_replies++;
		b->last_canary_reply = now;
	} else if (!(*f & BREAKER_C_SEEN)) {
		*f |= BREAKER_C_SEEN;
		b->canaries_seen++;
	}
	if (fail != !!(*f & BREAKER_C_FAILING)) {
		*f ^= BREAKER_C_FAILING;
		b->canaries_failing += fail ? 1 : -1U;
		canaries_changed(b, fail);
	}
	if (b->state != BREAKER_CLOSED)
		decide(b, now);
}

bool breaker_hold(struct breaker *b, uint32_t p, uint32_t id, struct health h,
		  const struct probe_outcome *o, uint64_t now)
{
	if (p == b->canary_pool) {
		canary_outcome(b, id - b->canary_first, o, now);
		return false;
	}
	if (answered(o)) {
		b->replies++;
		b->last_reply = now;
		if (b->state != BREAKER_CLOSED && !b->n_canaries)
			decide(b, now);
		return false;
	}
	/* Failures in grace do not count: nothing to hold, nothing to trip. */
	if (o->reason != XDPHC_REASON_TIMEOUT || health_has(h, HEALTH_F_GRACE))
		return false;
	if (b->state != BREAKER_CLOSED || now < b->hold_until) {
		if (!health_has(h, HEALTH_F_TIMEOUT))
			note_held(b, p);
		return true;
	}
	/* Only a backend that starts failing can make the fraction grow. */
	if (health_has(h, HEALTH_F_TIMEOUT) ||
	    (!over(&b->pool[p], 1) && !over(&b->all, 1)))
		return false;
	return trip(b, p, now);
}

bool breaker_event(const struct breaker *b, enum breaker_state from, struct circuit_event *ev)
{
	const struct breaker_count *c = tripped(b);
	bool open = b->state == BREAKER_OPEN;

	if (!open && from != BREAKER_OPEN)
		return false;
	ev->event = open ? "circuit_open" : "circuit_close";
	ev->cause = open ? breaker_cause_name(b->cause) : b->closed_why;
	ev->pool = b->trip_pool == BREAKER_NONE ? NULL : b->cfg->pools[b->trip_pool].name;
	ev->failing = open ? b->trip_failing : c->failing;
	ev->backends = c->total;
	ev->open_s = open ? 0 : (double)b->left_ns / 1e9;
	return true;
}

/*
 * A backend starts or stops failing.  One that stops, while every failing
 * backend is an accepted one, leaves the accepted; base may exceed failing
 * by the held backends a verdict accepted before their timeouts counted.
 */
static void count_add(struct breaker_count *c, bool failing)
{
	if (failing) {
		c->failing++;
		return;
	}
	if (c->base >= c->failing)
		c->base--;
	c->failing--;
}

void breaker_failing(struct breaker *b, uint32_t p, bool failing)
{
	count_add(&b->pool[p], failing);
	count_add(&b->all, failing);
}

static bool troubled(const struct breaker *b, const struct breaker_prober *pr)
{
	return pr->impaired ||
	       (pr->lost >= TROUBLE_LOST_MIN &&
		pr->lost * TROUBLE_LOST_DIV >= pr->done + pr->lost) ||
	       pr->lag_p99_us * 1000 >= b->timeout_min_ns;
}

void breaker_tick(struct breaker *b, uint64_t now, const struct breaker_prober *pr)
{
	b->trouble = troubled(b, pr);
	if (b->state != BREAKER_CLOSED)
		decide(b, now);
}

/* A backend that joins failing (a restored record) is accepted as it is. */
static void join(struct breaker_count *c, bool failing)
{
	c->total++;
	c->failing += failing;
	c->base += failing;
}

static void leave(struct breaker_count *c, bool failing)
{
	if (failing)
		count_add(c, false);
	c->total--;
	if (c->base > c->total)
		c->base = c->total;
}

void breaker_add(struct breaker *b, uint32_t p, struct health h)
{
	bool f = health_has(h, HEALTH_F_TIMEOUT);

	if (p == b->canary_pool || p >= b->n_pools)
		return;
	join(&b->pool[p], f);
	join(&b->all, f);
}

void breaker_remove(struct breaker *b, uint32_t p, struct health h)
{
	bool f = health_has(h, HEALTH_F_TIMEOUT);

	if (p == b->canary_pool || p >= b->n_pools || !b->pool[p].total)
		return;
	leave(&b->pool[p], f);
	leave(&b->all, f);
}

/* The windows, from the pools' health checks (the canaries' own when there are some). */
static void init_windows(struct breaker *b, const struct config *cfg)
{
	uint64_t wmax = 0, tmax = 0;

	b->timeout_min_ns = UINT64_MAX;
	for (size_t p = 0; p < cfg->n_pools; p++) {
		const struct hc_config *hc = &cfg->pools[p].hc;
		uint64_t t = hc->timeout_ms * NS_PER_MS;
		uint64_t w = (uint64_t)(hc->interval_ms + hc->jitter_ms) * NS_PER_MS + t;

		if (!cfg->pools[p].name[0])
			continue;	/* a pool a reload removed */
		if (p == b->canary_pool) {
			b->window_ns = w;
			continue;
		}
		if (t < b->timeout_min_ns)
			b->timeout_min_ns = t;
		if (t > tmax)
			tmax = t;
		if (w > wmax)
			wmax = w;
	}
	/* Without canaries: long enough for every backend that answers to be asked again. */
	if (!b->n_canaries)
		b->window_ns = wmax;
	b->window_ns += BREAKER_SLACK_NS;
	b->settle_ns = tmax + BREAKER_SLACK_NS;
}

int breaker_init(struct breaker *b, const struct config *cfg, breaker_report_fn report,
		 void *ctx)
{
	const struct pool_cfg *cp = config_canaries(cfg);

	memset(b, 0, sizeof(*b));
	b->cfg = cfg;
	b->report = report;
	b->ctx = ctx;
	b->canary_pool = BREAKER_NONE;
	b->trip_pool = BREAKER_NONE;
	b->n_pools = cfg->n_pools;
	b->pool = calloc(cfg->n_pools ? cfg->n_pools : 1, sizeof(*b->pool));
	if (cp) {
		b->canary_pool = (uint32_t)(cp - cfg->pools);
		b->canary_first = cp->first_id;
		b->n_canaries = (uint32_t)cp->n_backends;
		b->canary = calloc(b->n_canaries, sizeof(*b->canary));
	}
	if (!b->pool || (cp && !b->canary)) {
		breaker_free(b);
		return -1;
	}
	b->all.ppm = cfg->max_down_ppm;
	for (size_t p = 0; p < cfg->n_pools; p++)
		b->pool[p].ppm = cfg->pools[p].max_down_ppm;
	init_windows(b, cfg);
	log_info("circuit breaker: max_down_fraction %g of all backends%s; %s",
		 cfg->max_down_ppm / 1e6, cfg->max_down_ppm == CONFIG_PPM ? " (off)" : "",
		 cp ? "the canaries (pool " CONFIG_CANARY_POOL ") decide whether it is the prober" :
		 "no canaries: when nothing answers at all, the prober is the suspect");
	return 0;
}

int breaker_reload(struct breaker *b, const struct config *cfg)
{
	struct breaker_count *pool;

	if (cfg->n_pools > b->n_pools) {
		pool = realloc(b->pool, cfg->n_pools * sizeof(*pool));
		if (!pool)
			return -1;
		memset(&pool[b->n_pools], 0, (cfg->n_pools - b->n_pools) * sizeof(*pool));
		b->pool = pool;
		b->n_pools = cfg->n_pools;
	}
	b->all.ppm = cfg->max_down_ppm;
	for (size_t p = 0; p < cfg->n_pools; p++)
		b->pool[p].ppm = cfg->pools[p].max_down_ppm;
	init_windows(b, cfg);
	return 0;
}

void breaker_free(struct breaker *b)
{
	free(b->pool);
	free(b->canary);
	b->pool = NULL;
	b->canary = NULL;
}
