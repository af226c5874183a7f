/* SPDX-License-Identifier: MIT */
/*
 * Reloading the config file into the running engine (SIGHUP, `xdphc
 * reload`, `xdphc runtime reset`), in three steps:
 *
 *   plan    on a thread: read the file and compare it with the running
 *           set (reload_plan.h); the engine probes on meanwhile, and holds
 *           back commands and the roster's timers, which would change
 *           what the thread reads;
 *   commit  in one tick: check that the result fits (every pool's ids),
 *           else refuse it whole; then the settings: event log, state
 *           file, each pool's check, new pools;
 *   apply   a slice of each tick until done: remove, unmark (reset only),
 *           give probe slots a new check port, add.
 *
 * Backends the file still lists are not touched: they keep their id,
 * state, counters and place in the schedule.  The runtime overlay
 * (overlay.h) applies on top of the file, unless the reload is a reset.
 */
#ifndef XDPHC_RELOAD_H
#define XDPHC_RELOAD_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <xdphc/abi.h>

#include "config.h"
#include "eventlog.h"
#include "metrics.h"
#include "poolview.h"
#include "reload_plan.h"
#include "roster.h"
#include "runtime.h"
#include "scheduler.h"
#include "slots.h"

/* The engine's pieces a reload changes, borrowed. */
struct reload_env {
	struct config *cfg;		/* the running config: its settings change in place */
	struct roster *roster;
	struct scheduler *sched;
	struct slots *slots;
	struct poolview *view;
	struct xdphc_pool_summary *pools;	/* the pinned pools map */
	struct metrics_pool **mp;	/* per pool: grows with the pools */
	struct health *health;
	struct eventlog *events;
	struct runtime *rt;
	size_t n;			/* backend ids, the spare ones too */
	const struct cfg_netif *nif;	/* sources and MTU the new file must fit; NULL: any */
	int udp_fd;			/* the udp_checks map: udp pools' payloads */
};

enum reload_phase {
	RELOAD_IDLE,
	RELOAD_PLANNING,
	RELOAD_REMOVING,
	RELOAD_UNMARKING,
	RELOAD_REKEYING,
	RELOAD_ADDING,
};

/* Told when a reload ends: whether it was applied, and its log line. */
typedef void (*reload_done_fn)(void *ctx, bool ok, const char *msg);

struct id_gen {
	uint32_t id;
	uint16_t gen;			/* the backend the id held when planned */
};

struct id_list {
	struct id_gen *v;
	size_t n, cap, next;
};

struct reload_counts {
	size_t added, removed, runtime_kept, pools_added, pools_removed, pools_changed, errors;
};

struct reload {
	struct reload_env env;
	enum reload_phase phase;
	bool reset;			/* runtime reset: the file alone */
	pthread_t thread;
	int planned;			/* the thread is done (atomic) */
	int plan_ret;
	struct live_view lv;
	struct reload_plan plan;
	struct id_list removes, unmarks;
	size_t next_add;
	size_t rekey_pool;		/* rekeying: a pool of the plan, and its next id */
	uint32_t rekey_id;
	uint64_t t0, t_commit;		/* monotonic ns */
	struct reload_counts c;
	/* For /metrics. */
	uint64_t reloads, failures, ok_real_ns;
	bool last_ok;
	reload_done_fn done;
	void *done_ctx;
};

void reload_init(struct reload *rl, const struct reload_env *env, uint64_t start_real);
/*
 * Begin a reload of env->cfg->path (reset: drop the runtime changes);
 * done is told when it ends.  False when one is under way already.
 */
bool reload_start(struct reload *rl, bool reset, reload_done_fn done, void *ctx,
		  uint64_t now_mono);

static inline bool reload_busy(const struct reload *rl)
{
	return rl->phase != RELOAD_IDLE;
}

/* While the plan is made, nothing may add or remove a backend (timers included). */
static inline bool reload_planning(const struct reload *rl)
{
	return rl->phase == RELOAD_PLANNING;
}

/* Once a tick while busy: the next step, within a slice of time. */
void reload_step(struct reload *rl, uint64_t now_mono);
/* At stop: wait for a plan under way, drop the rest. */
void reload_free(struct reload *rl);

#endif
