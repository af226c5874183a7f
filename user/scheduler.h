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
	uint64_t interval_ns, timeout_ns, jitter_ns;
	uint32_t *order;		/* probe order within an interval (shuffled) */
	uint32_t cursor;		/* probes issued in the current interval */
	uint64_t cycle_start;		/* monotonic ns, before jitter */
	uint64_t offset;		/* this interval's jitter */
	uint64_t last_cycle_ns;		/* how long the last interval's probes took to go out */
	uint64_t probes;		/* probes started in this pool */
	uint32_t *fifo;			/* in-flight probes in send order (ring of n) */
	uint32_t head, len;
};

struct sched_stats {
	uint64_t probes_queued;		/* probes started (new generation) */
	uint64_t frames;		/* SYNs handed to BPF_PROG_RUN, resends included */
	uint64_t runs;			/* BPF_PROG_RUN calls */
	uint64_t timeouts;
	uint64_t send_errors;		/* BPF_PROG_RUN failures */
	uint64_t retries;
	uint64_t neigh_requests;
	uint64_t tx_dropped;		/* frames the device dropped (ring full) */
	uint64_t resent;		/* SYNs sent again after such drops */
	uint64_t lost;			/* probes never known delivered: not counted */
	uint64_t behind;		/* probes due but not sent, at the last tick */
	uint64_t behind_max;
};

struct sched_entry {
	uint32_t b;
	uint64_t at;
};

struct sched_list {
	struct sched_entry *e;
	size_t n, cap;
};

struct scheduler {
	struct programs *prog;
	struct sched_pool *pools;
	size_t n_pools;
	uint32_t *deadline;		/* per backend, ms since epoch; 0 = idle */
	uint64_t epoch;			/* monotonic ns when the scheduler started */
	struct sched_list retry;	/* probes the programs could not send yet */
	struct sched_list resend;	/* probes whose SYN the device may have dropped */
	unsigned int nq;		/* entries queued in prog->txq */
	unsigned int budget;		/* most probes started in one tick */
	unsigned int batch;		/* frames per flush to the device */
	unsigned int clean;		/* sends without drops since the last change */
	uint64_t behind_now;
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
