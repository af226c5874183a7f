/* SPDX-License-Identifier: MIT */
#ifndef XDPHC_SCHEDULER_H
#define XDPHC_SCHEDULER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "bqueue.h"
#include "config.h"
#include "lathist.h"
#include "send.h"
#include "slots.h"
#include "state.h"

/* Called for every probe whose outcome is final. */
typedef void (*outcome_fn)(void *ctx, uint32_t backend, const struct probe_outcome *o);

/*
 * How often a backend is probed, by what its counters say.  A backend off
 * the pool's cadence is probed this long after the start of its last probe
 * (HAProxy's fastinter and downinter); a pace equal to the pool's interval
 * keeps it on the cadence.
 */
enum sched_pace {
	SCHED_PACE_POOL,	/* the pool's cadence: interval, in the shuffled order */
	SCHED_PACE_FAST,	/* transition_interval: counters between states */
	SCHED_PACE_DOWN,	/* unhealthy_interval: down, and still failing */
	SCHED_PACE_N
};

/*
 * The pace of a backend with record h: unknown, up with a run of failures
 * or down with a run of successes is between states (a run long enough to
 * change the state would have changed it).
 */
static inline enum sched_pace sched_pace_of(struct health h)
{
	uint8_t st = health_state(h);
	bool ok = health_ok_run(h), run = health_run(h) > 0;

	if (st == XDPHC_STATE_UNKNOWN || (st == XDPHC_STATE_UP && !ok && run) ||
	    (st == XDPHC_STATE_DOWN && ok && run))
		return SCHED_PACE_FAST;
	return st == XDPHC_STATE_DOWN ? SCHED_PACE_DOWN : SCHED_PACE_POOL;
}

/* Most retransmits a pool may ask for (config key retransmits). */
#define SCHED_RETRANSMITS_MAX CFG_MAX_RETRANSMITS

struct sched_pool {
	uint32_t first;			/* ids [first, first + n) belong to the pool */
	bool conn;			/* checked over connections (struct conncheck) */
	bool udp_silence_ok;		/* a UDP check without expect: silence is success */
	uint32_t n;			/* its capacity */
	uint32_t active;		/* ids that hold a backend: the demand */
	uint64_t interval_ns, timeout_ns, jitter_ns;
	/*
	 * Probe order within an interval: runs of SHUFFLE_RUN consecutive
	 * backends in shuffled order.  Positions run over runs * SHUFFLE_RUN;
	 * the few past n (in a short last run) are skipped.
	 */
	uint32_t *runs;
	uint32_t positions;
	uint32_t cursor;		/* positions passed in the current interval */
	uint64_t step_q32;		/* interval / positions, 32.32 fixed point */
	uint64_t cycle_start;		/* monotonic ns, before jitter */
	uint64_t offset;		/* this interval's jitter */
	uint64_t last_cycle_ns;		/* how long the last interval's probes took to go out */
	uint64_t probes;		/* probes started in this pool */
	uint64_t retransmitted;		/* SYNs sent again to unanswered probes */
	struct bqueue inflight;		/* probes in flight, in send order */
	/*
	 * Backends off the cadence, by pace, in due order: each queue holds
	 * one pace, and backends enter it in the order their probes started,
	 * as the in-flight queue gives them up.  [POOL]: backends whose slot
	 * on the cadence came while they were busy, due an interval after
	 * their last start.
	 */
	struct bqueue wait[SCHED_PACE_N];
	uint32_t pace_ms[SCHED_PACE_N];	/* [POOL] is the interval */
	uint32_t timeout_ms;
	unsigned int retransmits;
	/* Cursor k - 1 walks the in-flight queue for the k-th retransmit. */
	struct bq_cursor rtx[SCHED_RETRANSMITS_MAX];
};

struct sched_stats {
	uint64_t probes_queued;		/* probes started (new generation) */
	uint64_t frames;		/* SYNs handed to BPF_PROG_RUN, resends included */
	uint64_t runs;			/* BPF_PROG_RUN calls */
	uint64_t timeouts;
	uint64_t udp_silent;		/* UDP checks without expect passed by silence */
	uint64_t send_errors;		/* BPF_PROG_RUN failures */
	uint64_t retries;
	uint64_t neigh_requests;
	uint64_t tx_dropped;		/* frames the device dropped (ring full) */
	uint64_t resent;		/* SYNs sent again after such drops */
	uint64_t retransmitted;		/* SYNs sent again to unanswered probes (retransmits) */
	uint64_t lost;			/* probes never known sent: not held against backends */
	uint64_t stalled;		/* connection checks timed out in an engine stall (lost too) */
	uint64_t behind;		/* probes due but not sent, at the last tick */
	uint64_t behind_max;
};

/*
 * Schedule lag: how late a probe leaves against its scheduled time (its
 * place in the spread over the interval, plus the interval's jitter; off
 * the cadence, its due time).
 * Kept per second; the published quantiles cover the last LAG_WINDOW_S.
 */
#define LAG_WINDOW_S 10

struct sched_lag {
	struct lathist sec[LAG_WINDOW_S];
	unsigned int cur;
	uint64_t sec_start;
	uint64_t total;			/* probes measured since start */
	uint64_t sum_us;
};

/*
 * The prober is impaired when most probes of a failure window were never
 * known to be sent (device drops that persist, send errors): their
 * backends' states would go stale without anyone being told.  Counted per
 * second over IMPAIR_SLOTS seconds at most.
 */
#define IMPAIR_SLOTS 64

struct sched_impair {
	uint32_t window_s;		/* seconds that decide */
	uint32_t done[IMPAIR_SLOTS], lost[IMPAIR_SLOTS];
	unsigned int cur;
	uint64_t sec_start;
	bool impaired;
	uint64_t since;			/* monotonic ns it was set */
};

struct sched_entry {
	uint32_t b;
	uint64_t at;
};

struct sched_list {
	struct sched_entry *e;
	size_t n, cap;
};

struct conncheck;

struct scheduler {
	struct slots *slots;
	struct conncheck *cc;		/* the connection pools' checks; NULL: none */
	struct sender *tx;
	struct sched_pool *pools;
	size_t n_pools;
	/*
	 * Per backend, ms since epoch: the deadline of its probe in flight or,
	 * while it waits off the cadence, of its last probe (passed); 0 =
	 * idle on the cadence.  Either way the cadence skips a backend with
	 * a deadline, which keeps it out of a second queue: a backend is in
	 * at most one (they share next[]), and has a deadline while it is.
	 */
	uint32_t *deadline;
	uint32_t *next;			/* per backend: its successor in its queue */
	uint64_t *pace;			/* 2 bits a backend: the enum sched_pace reported */
	uint64_t *owed;			/* 1 bit a backend: its cadence slot found it busy */
	uint64_t *excused;		/* 1 bit a backend: its last check was lost in a stall */
	uint64_t epoch;			/* monotonic ns when the scheduler started */
	struct sched_list retry;	/* probes the programs could not send yet */
	struct sched_list resend;	/* probes whose SYN the device may have dropped */
	uint64_t tick_ns;		/* the tick the engine should run at */
	double rate;			/* probes a second the pools ask for, at most */
	unsigned int budget;		/* most SYNs (probes, retransmits) in a nominal tick */
	unsigned int budget_max;	/* at least twice a tick's demand */
	unsigned int conn_cap;		/* connection checks a tick at most (conn_pace()) */
	uint64_t last_tick;
	/* The last stall: a tick this late (monotonic ns), for connection checks. */
	uint64_t stall_from, stall_to;
	unsigned int batch;		/* frames per flush to the device */
	unsigned int clean;		/* flushes without drops since the last drop */
	uint64_t last_cut;		/* when drops last halved batch and budget */
	uint64_t behind_now;
	int nl_fd;
	struct { uint32_t addr; uint64_t at; } neigh_cache[256];
	outcome_fn cb;
	void *cb_ctx;
	struct sched_stats st;
	struct sched_lag lag;
	struct sched_impair imp;
};

int sched_init(struct scheduler *s, const struct config *cfg, struct slots *slots,
	       struct sender *tx, uint64_t now, outcome_fn cb, void *cb_ctx);
/* The connection pools' checks run on cc (before the first tick). */
static inline void sched_set_conncheck(struct scheduler *s, struct conncheck *cc)
{
	s->cc = cc;
}

/* One tick: collect finished probes, then send the ones that are due. */
void sched_tick(struct scheduler *s, uint64_t now);
/*
 * Backend b's pace from now on, as the engine judges it after each outcome
 * (called from the outcome callback, or it takes effect at b's next
 * outcome).  Until told otherwise a backend keeps its pace; at start, the
 * pool's.
 */
void sched_pace(struct scheduler *s, uint32_t b, enum sched_pace pace);
/* Of paces x and y, the one that probes backend b again sooner. */
enum sched_pace sched_pace_sooner(const struct scheduler *s, uint32_t b, enum sched_pace x,
				  enum sched_pace y);
void sched_free(struct scheduler *s);

/* Schedule lag quantiles over the last LAG_WINDOW_S seconds, in microseconds. */
void sched_lag_quantiles(const struct scheduler *s, uint64_t *p50, uint64_t *p99,
			 uint64_t *max);
/*
 * A reload changed the pools' checks, or added pools after the others: the
 * interval, timeout and jitter of each pool follow cfg from now on, each
 * keeping its place in the current interval.  0, or -1 out of memory.
 */
int sched_reload(struct scheduler *s, const struct config *cfg, uint64_t now);
/* Probes finished and lost over the impaired flag's window (the current second too). */
void sched_impair_window(const struct scheduler *s, uint64_t *done, uint64_t *lost);
/* Pool p now has active backends: the demand, and with it tick and budget, follow. */
void sched_pool_resize(struct scheduler *s, uint32_t p, uint32_t active);

/*
 * A probe of b is in flight, or b waits off the cadence (until its due
 * time, when a removed backend's id is let go): its id is not to be given
 * to another backend yet.
 */
static inline bool sched_busy(const struct scheduler *s, uint32_t b)
{
	return s->deadline[b] != 0;
}

/* The pool backend b belongs to. */
uint32_t sched_pool_of(const struct scheduler *s, uint32_t b);

#endif
