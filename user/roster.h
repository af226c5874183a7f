/* SPDX-License-Identifier: MIT */
/*
 * The roster: which backend each id holds, and the changes an operator
 * makes at runtime (add, del, drain, undrain, maint, ready), with the
 * timers of a backend's life (grace period, deregistration delay).
 *
 * Every change is all or nothing: what can fail (the slot table, the index
 * map) is done first and undone on failure; what follows cannot fail.  A
 * change touches, in this order: the probe slot, the index map, the status
 * entry (inside its seqlock), the private health record, the used bitmap,
 * the pool view (counts and up list), the scheduler's demand, the circuit
 * breaker's counts, the event log.
 *
 * Ids are given out per pool from the pool's range.  A freed id waits while
 * a probe of it is in flight (its outcome is dropped), then joins the back
 * of the pool's free queue: the id freed longest ago is reused first, with
 * the next generation.
 */
#ifndef XDPHC_ROSTER_H
#define XDPHC_ROSTER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <xdphc/abi.h>

#include "breaker.h"
#include "config.h"
#include "eventlog.h"
#include "poolview.h"
#include "keyindex.h"
#include "scheduler.h"
#include "shared.h"
#include "slots.h"
#include "state.h"

/* A FIFO of ids, growing as needed. */
struct nexthops;

struct idq {
	uint32_t *v;
	size_t head, len, cap;
};

/* A FIFO of timers in time order (one delay per pool keeps them sorted). */
struct timer {
	uint32_t id;
	uint16_t gen;
	uint64_t at;		/* monotonic ns */
};

struct timerq {
	struct timer *v;
	size_t head, len, cap;
};

struct roster_pool {
	uint32_t first, capacity, count;	/* count: ids that hold a backend */
	struct idq free;
	struct timerq grace, drain;
	uint64_t grace_all_until;	/* grace_on_start: every backend, until then */
};

/* What the roster works on: the engine's pieces, borrowed. */
struct roster_env {
	const struct config *cfg;
	struct xdphc_backend_status *st;	/* pinned status, mmap-ed: output only */
	struct health *health;
	struct slots *slots;
	struct scheduler *sched;
	struct poolview *view;
	struct eventlog *events;
	struct breaker *breaker;		/* counts the probed backends; NULL: none */
	int index_fd;				/* -1 without the index map */
	struct nexthops *nh;			/* told of claimed and released slots; NULL: none */
	uint16_t sport_lo, sport_count;
	/*
	 * Told before an operator's del or the end of a drain removes id
	 * (health and status entry still hold it), not before a reload's.
	 */
	void (*on_remove)(void *ctx, uint32_t pool, uint32_t id);
	void *ctx;
};

struct roster {
	struct roster_env env;
	struct roster_pool *pools;
	size_t n_pools, n;
	uint64_t *used;			/* bitmap of ids that hold a backend */
	struct idq pending;		/* freed ids whose probe is still in flight */
	struct shared shared;		/* backends in several pools, probed once */
	uint64_t now_mono, now_real;	/* of the current tick */
	uint64_t changes;		/* admin events so far: the state file follows */
};

/*
 * Ids that hold a backend are those whose status entry has a key (as
 * restore wrote them) with its generation.  A backend in several pools with
 * the same probes is probed by its first entry (first: key -> first id).
 * Before the pool view and the slots.
 */
int roster_init(struct roster *r, const struct config *cfg, size_t n,
		const struct xdphc_backend_status *entries, const struct keyindex *first);

/* Whether id probes for itself (and its group): else another id does for it. */
static inline bool roster_probes(const struct roster *r, uint32_t id)
{
	return shared_leader(&r->shared, id) == id;
}
/* The engine's pieces, once they exist; starts grace_on_start. */
void roster_attach(struct roster *r, const struct roster_env *env, uint64_t now_mono);
void roster_free(struct roster *r);

/*
 * The generation id holds (or held last, when free).  Kept only in the
 * status entry: the one field the engine reads back from the shared map, as
 * a private copy would cost 2 bytes a backend; a consumer that scribbles on
 * it can only confuse consumers of that id, never a probe or a state.
 */
static inline uint16_t roster_gen(const struct roster *r, uint32_t id)
{
	return __atomic_load_n(&r->env.st[id].generation, __ATOMIC_RELAXED);
}

static inline bool roster_used(const struct roster *r, uint32_t id)
{
	return id_used(r->used, id);
}

/*
 * Commands: 0 (add: the id), or -1 with the error in out; a result line in
 * out either way.
 */
int64_t roster_add(struct roster *r, uint32_t pool, const struct xdphc_backend_key *key,
		   char *out, size_t len);
int roster_del(struct roster *r, uint32_t pool, const struct xdphc_backend_key *key,
	       char *out, size_t len);
int roster_drain(struct roster *r, uint32_t pool, const struct xdphc_backend_key *key,
		 bool drain, char *out, size_t len);
int roster_maint(struct roster *r, uint32_t pool, const struct xdphc_backend_key *key,
		 bool maint, char *out, size_t len);

/* The id of key in pool, or -1. */
int64_t roster_find(const struct roster *r, uint32_t pool, const struct xdphc_backend_key *key);
/* The pool whose range holds id. */
uint32_t roster_pool_of(const struct roster *r, uint32_t id);

/*
 * By id, for a reload and the state file, which know the ids already:
 * key, known not to be in pool p, takes a free id of it, probed by leader
 * (an id probing the same key with the same probes) or by itself when
 * leader is -1 (the id, or -1 with the error in out; event names it in the
 * event log); id's backend leaves (no on_remove); id drains until at
 * (monotonic ns), or not; id goes into maintenance, or not.
 */
int64_t roster_insert(struct roster *r, uint32_t p, const struct xdphc_backend_key *key,
		      int64_t leader, const char *event, char *out, size_t len);
void roster_remove(struct roster *r, uint32_t id, const char *event);
int roster_drain_at(struct roster *r, uint32_t id, bool drain, uint64_t at, char *out,
		    size_t len);
int roster_maint_id(struct roster *r, uint32_t id, bool maint, char *out, size_t len);

/*
 * A reload shortened the pool's deregistration_delay or grace_period: no
 * drain or grace under way lasts past these (monotonic ns).
 */
void roster_cap_timers(struct roster *r, uint32_t p, uint64_t drain_until,
		       uint64_t grace_until);
/* A pool a reload adds: ids [first, first + capacity), all free. */
int roster_add_pool(struct roster *r, uint32_t first, uint32_t capacity);
/*
 * A reload changed the probes of id's pool: id probes for itself from now
 * on (a group it led goes on with its next member).  0, or -1 with why in out.
 */
int roster_unshare(struct roster *r, uint32_t id, char *out, size_t len);
/* The id probing for id (itself, or its group's leader), or -1 when id is unused. */
int64_t roster_leader_of(const struct roster *r, uint32_t id);

/* Once a tick: timers that are due, ids whose probe is over. */
void roster_tick(struct roster *r, uint64_t now_mono, uint64_t now_real);

#endif
