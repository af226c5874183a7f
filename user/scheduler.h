/* SPDX-License-Identifier: MIT */
#ifndef XDPHC_SCHEDULER_H
#define XDPHC_SCHEDULER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "config.h"
#include "programs.h"
#include "state.h"

/* Called for every probe whose outcome is final. */
typedef void (*outcome_fn)(void *ctx, uint32_t backend, const struct probe_outcome *o);

struct sched_pool {
	uint32_t first;			/* backends [first, first + n) belong to the pool */
	uint32_t n;
	uint64_t interval_ns, timeout_ns;
	uint32_t *order;		/* probe order within an interval (shuffled) */
	uint32_t cursor;		/* probes issued in the current interval */
	uint64_t cycle_start;		/* monotonic ns */
	uint32_t *fifo;			/* in-flight probes in send order (ring of n) */
	uint32_t head, len;
};

struct sched_stats {
	uint64_t probes_queued;
	uint64_t timeouts;
	uint64_t send_errors;		/* BPF_PROG_RUN failures */
	uint64_t retries;
	uint64_t neigh_requests;
	uint64_t behind;		/* probes issued later than their slot in the interval */
};

struct scheduler {
	struct programs *prog;
	struct sched_pool *pools;
	size_t n_pools;
	uint64_t *deadline;		/* per backend, monotonic ns; 0 = idle */
	uint64_t *retry_at;		/* per backend: resend at, 0 = in flight */
	uint32_t *retry;		/* backends whose probe could not be sent yet */
	size_t n_retry, cap_retry;
	unsigned int nq;		/* entries queued in prog->txq */
	unsigned int per_tick;		/* most probes sent in one tick */
	int nl_fd;
	struct { uint32_t addr; uint64_t at; } neigh_cache[256];
	outcome_fn cb;
	void *cb_ctx;
	struct sched_stats st;
};

int sched_init(struct scheduler *s, const struct config *cfg, struct programs *prog,
	       uint64_t now, outcome_fn cb, void *cb_ctx);
/* One tick: collect finished probes, then send the ones that are due. */
void sched_tick(struct scheduler *s, uint64_t now);
void sched_free(struct scheduler *s);

#endif
