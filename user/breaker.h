/* SPDX-License-Identifier: MIT */
#ifndef XDPHC_BREAKER_H
#define XDPHC_BREAKER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "config.h"
#include "eventlog.h"
#include "state.h"

/*
 * The circuit breaker: a prober that suspects itself.
 *
 * A prober whose own path breaks (a veth peer that discards its frames, a
 * dead uplink) sees every backend time out at once, and would take whole
 * pools out of service.  So when more than max_down_fraction of a pool, or
 * of all backends, are failing by timeout at once, the breaker checks the
 * prober before the timeouts may count:
 *
 *   - an answer (SYN-ACK, RST or ICMP) from a canary, or, without canaries,
 *     from anything, that is recent enough to postdate the failures clears
 *     the prober at once;
 *   - otherwise timeouts are held (CHECKING) until such an answer arrives
 *     (the failures are real: they count again), or every canary times out
 *     too, or nothing answers for a whole window, or the prober has
 *     transmit trouble of its own: then it OPENs and holds every backend's
 *     state until answers come back or the mass timeout is over.
 *
 * The counts of failing backends are kept per pool as records change (the
 * HEALTH_F_TIMEOUT bit), never by a scan; a verdict "the failures are real"
 * takes the failing backends of that moment as the new baseline, so that
 * the next check needs a new mass failure among the backends still
 * answering.
 */
#define BREAKER_NONE UINT32_MAX

enum breaker_state {
	BREAKER_CLOSED,		/* timeouts count */
	BREAKER_CHECKING,	/* a mass timeout: timeouts held while the prober is checked */
	BREAKER_OPEN,		/* the prober is the likely cause: timeouts held */
};

enum breaker_cause {
	BREAKER_CAUSE_NONE,
	BREAKER_CAUSE_CANARIES,		/* every canary timed out too */
	BREAKER_CAUSE_SILENT_CANARIES,	/* no canary answered within the window */
	BREAKER_CAUSE_NO_REPLIES,	/* nothing answered at all within the window */
	BREAKER_CAUSE_TRANSMIT,		/* the prober's own transmit trouble */
};

/* Backends of a pool (or of all pools) and those failing by timeout. */
struct breaker_count {
	uint32_t total;
	uint32_t failing;		/* records with HEALTH_F_TIMEOUT */
	uint32_t base;			/* failing when the last verdict found them real */
	uint32_t held;			/* of the others, those whose timeout a check held */
	uint32_t ppm;			/* max_down_fraction, in millionths */
};

/* The prober's own figures, every breaker_tick(). */
struct breaker_prober {
	bool impaired;			/* the scheduler's impaired flag */
	uint64_t done, lost;		/* probes finished and lost over its window */
	uint64_t lag_p99_us;		/* schedule lag p99 */
};

struct breaker;
/* A state change, after it happened (from: the state before). */
typedef void (*breaker_report_fn)(void *ctx, const struct breaker *b, enum breaker_state from,
				  uint64_t now);

struct breaker {
	const struct config *cfg;	/* pool names, for messages */
	struct breaker_count *pool;	/* per pool id; the canaries' pool counts nothing */
	struct breaker_count all;	/* every pool but the canaries' */
	size_t n_pools;
	uint32_t canary_pool;		/* pool id of the canaries, or BREAKER_NONE */
	uint32_t canary_first, n_canaries;
	uint8_t *canary;		/* per canary: BREAKER_C_* */
	uint32_t canaries_failing;	/* whose last probe failed */
	uint32_t canaries_seen;		/* that failed since the check began */
	uint64_t replies, canary_replies;	/* answers since start */
	uint64_t last_reply, last_canary_reply;	/* monotonic ns, 0: none yet */
	uint64_t mark;			/* the answers that count, when the check began */
	uint64_t timeout_min_ns;	/* shortest timeout of the pools */
	uint64_t window_ns;		/* longest a check waits for its evidence */
	uint64_t settle_ns;		/* after closing: timeouts of probes sent before */
	uint64_t hold_until;
	bool settle_real;		/* the settling follows a verdict "real" */
	enum breaker_state state;
	enum breaker_cause cause;
	uint32_t trip_pool;		/* the pool whose fraction tripped, BREAKER_NONE: all */
	uint32_t trip_failing, trip_total;
	uint64_t since;			/* monotonic ns the state began */
	uint64_t left_ns;		/* how long the state before the last change lasted */
	const char *closed_why;		/* "answers" or "mass_over": why it last closed */
	uint64_t checks, opened;	/* since start, for /metrics */
	bool trouble;
	breaker_report_fn report;
	void *ctx;
};

/*
 * From the config: the fractions, the canaries, the windows; no backend is
 * counted yet (breaker_add() each).  0, or -1 when out of memory.
 */
int breaker_init(struct breaker *b, const struct config *cfg, breaker_report_fn report,
		 void *ctx);
void breaker_free(struct breaker *b);
/*
 * A reload changed the config in place: the fractions and windows follow
 * it, and pools it added (after the others) are counted from now on.  The
 * canaries do not change without a restart.  0, or -1 out of memory.
 */
int breaker_reload(struct breaker *b, const struct config *cfg);

/*
 * Before the outcome o of backend id (pool p, record h) is applied: notes
 * the answers, checks the prober when this timeout makes a mass timeout,
 * and returns true when the outcome must be held (not applied).  now:
 * monotonic ns of the tick.
 */
bool breaker_hold(struct breaker *b, uint32_t p, uint32_t id, struct health h,
		  const struct probe_outcome *o, uint64_t now);

void breaker_failing(struct breaker *b, uint32_t p, bool failing);

/* After a record changed from -> to: keeps the counts of failing backends. */
static inline void breaker_count(struct breaker *b, uint32_t p, struct health from,
				 struct health to)
{
	bool f = health_has(to, HEALTH_F_TIMEOUT);

	if (f != health_has(from, HEALTH_F_TIMEOUT) && p != b->canary_pool)
		breaker_failing(b, p, f);
}

/* Every 100 ms or so: the prober's own trouble, checks that waited long enough. */
void breaker_tick(struct breaker *b, uint64_t now, const struct breaker_prober *pr);

/*
 * A backend with record h is counted in pool p (at start, or added at
 * runtime), or is no longer (removed, or in maintenance: not probed).  One
 * that joins failing is taken as it is: it trips nothing.  The canaries'
 * pool counts nothing.
 */
void breaker_add(struct breaker *b, uint32_t p, struct health h);
void breaker_remove(struct breaker *b, uint32_t p, struct health h);

static inline bool breaker_is_open(const struct breaker *b)
{
	return b->state == BREAKER_OPEN;
}

const char *breaker_cause_name(enum breaker_cause c);
/*
 * For the event log: the breaker opened, or closed after being open (from:
 * the state before).  false for the other changes (checks begin and end
 * in the log only).
 */
bool breaker_event(const struct breaker *b, enum breaker_state from, struct circuit_event *ev);

#endif
