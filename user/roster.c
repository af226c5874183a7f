// SPDX-License-Identifier: MIT
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <netinet/in.h>
#include <bpf/bpf.h>

#include "addr.h"
#include "keyindex.h"
#include "log.h"
#include "names.h"
#include "roster.h"
#include "seqlock.h"

#define NS_PER_MS 1000000ULL

/* ---- queues ------------------------------------------------------------- */

/* Double a ring of elem-sized entries, unwrapping it so that its head is 0. */
static int grow(void **v, size_t *cap, size_t *head, size_t len, size_t elem)
{
	size_t ncap = *cap ? *cap * 2 : 16;
	char *n = malloc(ncap * elem);

	if (!n)
		return -1;
	for (size_t i = 0; i < len; i++)
		memcpy(n + i * elem, (char *)*v + ((*head + i) % *cap) * elem, elem);
	free(*v);
	*v = n;
	*cap = ncap;
	*head = 0;
	return 0;
}

static int idq_push(struct idq *q, uint32_t id)
{
	if (q->len == q->cap && grow((void **)&q->v, &q->cap, &q->head, q->len, sizeof(*q->v)))
		return -1;
	q->v[(q->head + q->len) % q->cap] = id;
	q->len++;
	return 0;
}

static uint32_t idq_pop(struct idq *q)
{
	uint32_t id = q->v[q->head];

	q->head = (q->head + 1) % q->cap;
	q->len--;
	return id;
}

static int timerq_push(struct timerq *q, uint32_t id, uint16_t gen, uint64_t at)
{
	if (q->len == q->cap && grow((void **)&q->v, &q->cap, &q->head, q->len, sizeof(*q->v)))
		return -1;
	q->v[(q->head + q->len) % q->cap] = (struct timer){ .id = id, .gen = gen, .at = at };
	q->len++;
	return 0;
}

static const struct timer *timerq_due(const struct timerq *q, uint64_t now)
{
	return q->len && q->v[q->head].at <= now ? &q->v[q->head] : NULL;
}

static void timerq_pop(struct timerq *q)
{
	q->head = (q->head + 1) % q->cap;
	q->len--;
}

/* ---- setup -------------------------------------------------------------- */

static void set_used(struct roster *r, uint32_t id, bool on)
{
	if (on)
		r->used[id / 64] |= 1ULL << (id % 64);
	else
		r->used[id / 64] &= ~(1ULL << (id % 64));
}

/* Entries of one backend in several pools with the same probes: probed once. */
static int group_shared(struct roster *r, const struct config *cfg,
			const struct xdphc_backend_status *entries, const struct keyindex *first)
{
	for (size_t i = 0; i < r->n; i++) {
		int64_t j;

		if (!entries[i].key.family)
			continue;
		j = keyindex_find(first, &entries[i].key);
		if (j < 0 || (size_t)j == i ||
		    !config_same_probe(&cfg->pools[entries[j].pool_id].hc,
				       &cfg->pools[entries[i].pool_id].hc))
			continue;
		if (shared_join(&r->shared, (uint32_t)j, (uint32_t)i))
			return -1;
	}
	return 0;
}

int roster_init(struct roster *r, const struct config *cfg, size_t n,
		const struct xdphc_backend_status *entries, const struct keyindex *first)
{
	memset(r, 0, sizeof(*r));
	r->env.index_fd = -1;
	r->n = n;
	r->n_pools = cfg->n_pools;
	r->used = calloc((n + 63) / 64 + 1, sizeof(*r->used));
	r->pools = calloc(cfg->n_pools ? cfg->n_pools : 1, sizeof(*r->pools));
	if (!r->used || !r->pools || shared_init(&r->shared, n))
		return -1;
	for (size_t p = 0; p < cfg->n_pools; p++) {
		struct roster_pool *rp = &r->pools[p];

		rp->first = cfg->pools[p].first_id;
		rp->capacity = cfg->pools[p].max_backends;
		for (uint32_t id = rp->first; id < rp->first + rp->capacity; id++) {
			if (entries[id].key.family) {
				set_used(r, id, true);
				rp->count++;
			} else if (idq_push(&rp->free, id)) {
				return -1;
			}
		}
	}
	return group_shared(r, cfg, entries, first);
}

/* The status entry's fields that follow the record: state, flags, counters. */
static void publish_record(struct roster *r, uint32_t id, bool changed)
{
	struct xdphc_backend_status *st = &r->env.st[id];
	struct health h = r->env.health[id];
	uint32_t seq = seqlock_write_begin(&st->seq);
	uint32_t run = health_run(h) > 255 ? 255 : health_run(h);

	st->state = health_state(h);
	st->flags = health_flags(h);
	st->consecutive_ok = health_ok_run(h) ? run : 0;
	st->consecutive_fail = health_ok_run(h) ? 0 : run;
	if (changed)
		st->last_change_ns = r->now_real;
	seqlock_write_end(&st->seq, seq);
}

static void grace_all(struct roster *r, uint32_t p, bool on)
{
	const struct roster_pool *rp = &r->pools[p];

	for (uint32_t id = rp->first; id < rp->first + rp->capacity; id++) {
		if (!roster_used(r, id))
			continue;
		health_set(&r->env.health[id], HEALTH_F_GRACE, on);
		publish_record(r, id, false);
	}
}

void roster_attach(struct roster *r, const struct roster_env *env, uint64_t now_mono)
{
	r->env = *env;
	r->now_mono = now_mono;
	for (size_t p = 0; p < r->n_pools; p++) {
		const struct pool_cfg *pc = &env->cfg->pools[p];

		if (!pc->grace_on_start || !pc->grace_period_ms)
			continue;
		r->pools[p].grace_all_until = now_mono + pc->grace_period_ms * NS_PER_MS;
		grace_all(r, p, true);
	}
}

void roster_free(struct roster *r)
{
	for (size_t p = 0; r->pools && p < r->n_pools; p++) {
		free(r->pools[p].free.v);
		free(r->pools[p].grace.v);
		free(r->pools[p].drain.v);
	}
	free(r->pools);
	free(r->used);
	free(r->pending.v);
	shared_free(&r->shared);
	memset(r, 0, sizeof(*r));
}

/* ---- lookups ------------------------------------------------------------ */

static const char *pool_name(const struct roster *r, uint32_t p)
{
	return r->env.cfg->pools[p].name;
}

static bool in_pool(const struct roster *r, uint32_t p, uint32_t id)
{
	const struct roster_pool *rp = &r->pools[p];

	return id >= rp->first && id < rp->first + rp->capacity;
}

/*
 * The id of key in pool p, or -1: by the index map when there is one (a
 * syscall), else by a scan of the pool's ids.  The keys are the published
 * ones: an id found is checked against the used bitmap.
 */
int64_t roster_find(const struct roster *r, uint32_t p, const struct xdphc_backend_key *key)
{
	const struct roster_pool *rp = &r->pools[p];
	struct xdphc_index_key k = { .backend = *key, .pool_id = (uint16_t)p };
	uint32_t id;

	if (r->env.index_fd >= 0) {
		if (bpf_map_lookup_elem(r->env.index_fd, &k, &id) || !in_pool(r, p, id) ||
		    !roster_used(r, id) || !backend_key_equal(&r->env.st[id].key, key))
			return -1;
		return id;
	}
	for (id = rp->first; id < rp->first + rp->capacity; id++)
		if (roster_used(r, id) && backend_key_equal(&r->env.st[id].key, key))
			return id;
	return -1;
}

/* An id of key in a pool other than skip, or -1. */
static int64_t find_other(const struct roster *r, const struct xdphc_backend_key *key,
			  uint32_t skip)
{
	for (uint32_t p = 0; p < r->n_pools; p++) {
		int64_t id = p == skip ? -1 : roster_find(r, p, key);

		if (id >= 0)
			return id;
	}
	return -1;
}

/* Pools own the same id ranges in the roster and the scheduler: one search serves both. */
uint32_t roster_pool_of(const struct roster *r, uint32_t id)
{
	return sched_pool_of(r->env.sched, id);
}

/* "ADDR:PORT is not in pool P" (and where it is, if elsewhere). */
static int not_found(const struct roster *r, uint32_t pool, const struct xdphc_backend_key *key,
		     char *out, size_t len)
{
	int64_t other = find_other(r, key, pool);
	char a[64];

	addr_format(key, a, sizeof(a));
	if (other >= 0)
		snprintf(out, len, "%s is not in pool %s (it is in pool %s)", a,
			 pool_name(r, pool), pool_name(r, roster_pool_of(r, (uint32_t)other)));
	else
		snprintf(out, len, "%s is not in pool %s", a, pool_name(r, pool));
	return -1;
}

/* ---- changes ------------------------------------------------------------ */

static void admin_event(struct roster *r, uint32_t p, uint32_t id,
			const struct xdphc_backend_key *key, const char *event)
{
	r->changes++;
	eventlog_admin(r->env.events, r->now_real, pool_name(r, p), key, event, id, roster_gen(r, id),
		       state_name(health_state(r->env.health[id])));
}

/* The circuit breaker counts the backends that are probed: not those in maintenance. */
static void breaker_note(struct roster *r, uint32_t p, struct health h, bool in)
{
	if (!r->env.breaker || health_state(h) == XDPHC_STATE_MAINT)
		return;
	if (in)
		breaker_add(r->env.breaker, p, h);
	else
		breaker_remove(r->env.breaker, p, h);
}

/* Record, status entry and pool view of a backend whose marks or state an operator changed. */
static void apply(struct roster *r, uint32_t p, uint32_t id, struct health h)
{
	uint8_t from = poolview_bucket(r->env.health[id]);
	bool changed = health_state(h) != health_state(r->env.health[id]);

	r->env.health[id] = h;
	publish_record(r, id, changed);
	poolview_change(r->env.view, p, id, from, poolview_bucket(h));
}

/* The id's new backend, with the generation after the one it held last. */
static void write_entry(struct roster *r, uint32_t p, uint32_t id,
			const struct xdphc_backend_key *key)
{
	uint16_t gen = generation_next(roster_gen(r, id));
	struct xdphc_backend_status *st = &r->env.st[id];
	uint32_t seq = seqlock_write_begin(&st->seq);
	const size_t at = offsetof(struct xdphc_backend_status, state);

	memset((char *)st + at, 0, sizeof(*st) - at);
	st->key = *key;
	st->pool_id = (uint16_t)p;
	st->check = hc_check_kind(&r->env.cfg->pools[p].hc);
	st->generation = gen;
	st->state = health_state(r->env.health[id]);
	st->flags = health_flags(r->env.health[id]);
	seqlock_write_end(&st->seq, seq);
}

static void clear_entry(struct roster *r, uint32_t id)
{
	struct xdphc_backend_status *st = &r->env.st[id];
	uint32_t seq = seqlock_write_begin(&st->seq);
	const size_t at = offsetof(struct xdphc_backend_status, state);
	uint16_t gen = st->generation;	/* what the id held last: its next gets one more */

	memset((char *)st + at, 0, sizeof(*st) - at);
	memset(&st->key, 0, sizeof(st->key));
	st->generation = gen;
	seqlock_write_end(&st->seq, seq);
}

/* A probe slot for key on id, entered into the slot table. */
static int claim_slot(struct roster *r, uint32_t p, uint32_t id,
		      const struct xdphc_backend_key *key, char *out, size_t len)
{
	const struct pool_cfg *pc = &r->env.cfg->pools[p];

	slots_claim(r->env.slots, id, key->family, key->protocol, key->addr,
		    pc->hc.port ? htons(pc->hc.port) : key->port, (uint8_t)p);
	return slots_add(r->env.slots, id, r->env.sport_lo, r->env.sport_count, out, len) ? -1 : 0;
}

/*
 * What can fail, first: id's probe slot (none when leader probes for it)
 * and its index entry.
 */
static int take_id(struct roster *r, uint32_t p, uint32_t id,
		   const struct xdphc_backend_key *key, int64_t leader, char *out, size_t len)
{
	struct xdphc_index_key k = { .backend = *key, .pool_id = (uint16_t)p };

	if (leader < 0 && claim_slot(r, p, id, key, out, len))
		return -1;
	if (leader >= 0 && shared_join(&r->shared, (uint32_t)leader, id)) {
		snprintf(out, len, "out of memory for the group of a shared backend");
		return -1;
	}
	if (r->env.index_fd >= 0 && bpf_map_update_elem(r->env.index_fd, &k, &id, BPF_NOEXIST)) {
		snprintf(out, len, "the index map refused the backend: %s", strerror(errno));
		if (leader < 0)
			slots_release(r->env.slots, id);
		else
			shared_leave(&r->shared, id);
		return -1;
	}
	/* A leader in maintenance was not probed: it is now, for its new follower. */
	if (leader >= 0)
		slots_pause(r->env.slots, (uint32_t)leader, false);
	return 0;
}

/*
 * The id already probing key with the probes pool p would send (a backend
 * shared by pools is probed once), or -1.
 */
static int64_t probing_leader(const struct roster *r, uint32_t p,
			      const struct xdphc_backend_key *key)
{
	const struct config *cfg = r->env.cfg;

	for (uint32_t q = 0; q < r->n_pools; q++) {
		int64_t id = q == p ? -1 : roster_find(r, q, key);

		if (id >= 0 && config_same_probe(&cfg->pools[q].hc, &cfg->pools[p].hc))
			return shared_leader(&r->shared, (uint32_t)id);
	}
	return -1;
}

static int pool_full(const struct roster *r, uint32_t p, char *out, size_t len)
{
	const struct roster_pool *rp = &r->pools[p];
	size_t waiting = 0;

	for (size_t i = 0; i < r->pending.len; i++)
		waiting += in_pool(r, p, r->pending.v[(r->pending.head + i) % r->pending.cap]);
	snprintf(out, len, "pool %s is full: %u of %u backend ids in use (max_backends)%s",
		 pool_name(r, p), rp->count, rp->capacity,
		 waiting ? "; ids of removed backends free up once their last probe ends" : "");
	return -1;
}

int64_t roster_add(struct roster *r, uint32_t p, const struct xdphc_backend_key *key, char *out,
		   size_t len)
{
	int64_t dup = roster_find(r, p, key);
	char a[64];

	if (dup >= 0) {
		snprintf(out, len, "%s is already in pool %s (id %lld)",
			 addr_format(key, a, sizeof(a)), pool_name(r, p), (long long)dup);
		return -1;
	}
	return roster_insert(r, p, key, probing_leader(r, p, key), "added", out, len);
}

int64_t roster_insert(struct roster *r, uint32_t p, const struct xdphc_backend_key *key,
		      int64_t leader, const char *event, char *out, size_t len)
{
	const struct pool_cfg *pc = &r->env.cfg->pools[p];
	struct roster_pool *rp = &r->pools[p];
	struct health h;
	uint32_t id;
	char a[64];

	addr_format(key, a, sizeof(a));
	if (!rp->free.len)
		return pool_full(r, p, out, len);
	id = rp->free.v[rp->free.head];
	if (take_id(r, p, id, key, leader, out, len))
		return -1;
	idq_pop(&rp->free);
	h = health_make(pc->initial_state, false, 0);
	health_set(&h, HEALTH_F_GRACE, pc->grace_period_ms > 0);
	r->env.health[id] = h;
	write_entry(r, p, id, key);
	set_used(r, id, true);
	rp->count++;
	poolview_change(r->env.view, p, id, PV_NONE, poolview_bucket(h));
	sched_pool_resize(r->env.sched, p, rp->count);
	breaker_note(r, p, h, true);
	if (pc->grace_period_ms &&
	    timerq_push(&rp->grace, id, roster_gen(r, id),
			r->now_mono + pc->grace_period_ms * NS_PER_MS))
		health_set(&r->env.health[id], HEALTH_F_GRACE, false);	/* no memory: no grace */
	admin_event(r, p, id, key, event);
	snprintf(out, len, "added %s to pool %s as id %u (generation %u), state %s%s", a,
		 pool_name(r, p), id, roster_gen(r, id), state_name(pc->initial_state),
		 leader >= 0 ? "; probed once with its entry in another pool" : "");
	return id;
}

/*
 * The probing of a group whose leader leaves moves to its next member;
 * the slot is released first, so the new one finds its key free.
 */
static void hand_over(struct roster *r, uint32_t id)
{
	uint32_t next = shared_leave(&r->shared, id);
	char err[256];

	slots_release(r->env.slots, id);
	if (next == UINT32_MAX)
		return;
	if (claim_slot(r, roster_pool_of(r, next), next, &r->env.st[next].key, err, sizeof(err))) {
		log_err("backend id %u takes over the probes of id %u: %s", next, id, err);
		return;
	}
	slots_pause(r->env.slots, next, health_state(r->env.health[next]) == XDPHC_STATE_MAINT &&
		    !shared_member(&r->shared, next));
}

/* The id's backend leaves: everything but its generation is cleared. */
static void drop_id(struct roster *r, uint32_t p, uint32_t id, const char *event)
{
	struct roster_pool *rp = &r->pools[p];
	struct xdphc_backend_key key = r->env.st[id].key;
	struct xdphc_index_key k = { .backend = key, .pool_id = (uint16_t)p };
	uint8_t from = poolview_bucket(r->env.health[id]);

	if (r->env.index_fd >= 0)
		bpf_map_delete_elem(r->env.index_fd, &k);
	hand_over(r, id);
	admin_event(r, p, id, &key, event);
	clear_entry(r, id);
	breaker_note(r, p, r->env.health[id], false);
	r->env.health[id] = health_make(XDPHC_STATE_UNKNOWN, false, 0);
	set_used(r, id, false);
	rp->count--;
	poolview_change(r->env.view, p, id, from, PV_NONE);
	sched_pool_resize(r->env.sched, p, rp->count);
	/* Out of memory for the queue: the id stays unused rather than reused too early. */
	if (sched_busy(r->env.sched, id))
		idq_push(&r->pending, id);
	else
		idq_push(&rp->free, id);
}

/* An operator's del, or the end of a drain: the state file hears of it first. */
static void remove_id(struct roster *r, uint32_t p, uint32_t id, const char *event)
{
	if (r->env.on_remove)
		r->env.on_remove(r->env.ctx, p, id);
	drop_id(r, p, id, event);
}

void roster_remove(struct roster *r, uint32_t id, const char *event)
{
	drop_id(r, roster_pool_of(r, id), id, event);
}

int roster_del(struct roster *r, uint32_t p, const struct xdphc_backend_key *key, char *out,
	       size_t len)
{
	int64_t id = roster_find(r, p, key);
	char a[64];

	if (id < 0)
		return not_found(r, p, key, out, len);
	addr_format(key, a, sizeof(a));
	remove_id(r, p, (uint32_t)id, "removed");
	snprintf(out, len, "removed %s from pool %s (id %lld)", a, pool_name(r, p), (long long)id);
	return 0;
}

/* The id of key in pool p and its address as text, or -1 with the error in out. */
static int64_t lookup(const struct roster *r, uint32_t p, const struct xdphc_backend_key *key,
		      char *a, size_t alen, char *out, size_t len)
{
	int64_t id = roster_find(r, p, key);

	if (id < 0)
		return not_found(r, p, key, out, len);
	addr_format(key, a, alen);
	return id;
}

int roster_drain(struct roster *r, uint32_t p, const struct xdphc_backend_key *key, bool drain,
		 char *out, size_t len)
{
	const struct pool_cfg *pc = &r->env.cfg->pools[p];
	char a[64];
	int64_t id = lookup(r, p, key, a, sizeof(a), out, len);

	if (id < 0)
		return -1;
	return roster_drain_at(r, (uint32_t)id, drain,
			       r->now_mono + pc->deregistration_delay_ms * NS_PER_MS, out, len);
}

int roster_drain_at(struct roster *r, uint32_t id, bool drain, uint64_t at, char *out,
		    size_t len)
{
	uint32_t p = roster_pool_of(r, id);
	const struct xdphc_backend_key *key = &r->env.st[id].key;
	struct health h = r->env.health[id];
	char a[64];

	addr_format(key, a, sizeof(a));
	if (health_has(h, HEALTH_F_DRAIN) == drain) {
		snprintf(out, len, "%s in pool %s is %s draining", a, pool_name(r, p),
			 drain ? "already" : "not");
		return 0;
	}
	if (drain && timerq_push(&r->pools[p].drain, id, roster_gen(r, id), at)) {
		snprintf(out, len, "out of memory for the drain timer of %s", a);
		return -1;
	}
	health_set(&h, HEALTH_F_DRAIN, drain);
	apply(r, p, id, h);
	admin_event(r, p, id, key, drain ? "drain" : "undrain");
	if (drain)
		snprintf(out, len, "draining %s in pool %s: no new flows; removed in %.0f s "
			 "(deregistration_delay)", a, pool_name(r, p),
			 (double)(at > r->now_mono ? at - r->now_mono : 0) / 1e9);
	else
		snprintf(out, len, "%s in pool %s is no longer draining", a, pool_name(r, p));
	return 0;
}

int roster_maint(struct roster *r, uint32_t p, const struct xdphc_backend_key *key, bool maint,
		 char *out, size_t len)
{
	char a[64];
	int64_t id = lookup(r, p, key, a, sizeof(a), out, len);

	return id < 0 ? -1 : roster_maint_id(r, (uint32_t)id, maint, out, len);
}

int roster_maint_id(struct roster *r, uint32_t id, bool maint, char *out, size_t len)
{
	uint32_t p = roster_pool_of(r, id);
	const struct pool_cfg *pc = &r->env.cfg->pools[p];
	const struct xdphc_backend_key *key = &r->env.st[id].key;
	struct health h = r->env.health[id];
	char a[64];

	addr_format(key, a, sizeof(a));
	if ((health_state(h) == XDPHC_STATE_MAINT) == maint) {
		snprintf(out, len, "%s in pool %s is %s in maintenance", a, pool_name(r, p),
			 maint ? "already" : "not");
		return 0;
	}
	/* Out of maintenance like a new backend: its old state is stale by now. */
	h = health_make(maint ? XDPHC_STATE_MAINT : pc->initial_state, false, 0);
	h.v |= r->env.health[id].v & HEALTH_MARKS;
	/*
	 * A probe still in flight is dropped (state maint) or counts (ready):
	 * both fine.  A leader in maintenance goes on probing for its group.
	 */
	if (roster_probes(r, id))
		slots_pause(r->env.slots, id, maint && !shared_member(&r->shared, id));
	breaker_note(r, p, r->env.health[id], false);
	breaker_note(r, p, h, true);
	apply(r, p, id, h);
	admin_event(r, p, id, key, maint ? "maint" : "ready");
	snprintf(out, len, maint ? "%s in pool %s is in maintenance: out of rotation, not probed" :
		 "%s in pool %s is ready: probed again, state %s", a, pool_name(r, p),
		 state_name(health_state(h)));
	return 0;
}

/* ---- timers ------------------------------------------------------------- */

static bool timer_live(const struct roster *r, const struct timer *t)
{
	return roster_used(r, t->id) && roster_gen(r, t->id) == t->gen;
}

static void end_grace(struct roster *r, uint32_t p, uint64_t now)
{
	struct roster_pool *rp = &r->pools[p];
	const struct timer *t;

	if (rp->grace_all_until && rp->grace_all_until <= now) {
		rp->grace_all_until = 0;
		grace_all(r, p, false);
		/* Backends added since keep the rest of their own period. */
		for (size_t i = 0; i < rp->grace.len; i++) {
			const struct timer *g = &rp->grace.v[(rp->grace.head + i) % rp->grace.cap];

			if (timer_live(r, g)) {
				health_set(&r->env.health[g->id], HEALTH_F_GRACE, true);
				publish_record(r, g->id, false);
			}
		}
	}
	while ((t = timerq_due(&rp->grace, now))) {
		if (timer_live(r, t) && !rp->grace_all_until) {
			health_set(&r->env.health[t->id], HEALTH_F_GRACE, false);
			publish_record(r, t->id, false);
		}
		timerq_pop(&rp->grace);
	}
}

static void end_drains(struct roster *r, uint32_t p, uint64_t now)
{
	struct roster_pool *rp = &r->pools[p];
	const struct timer *t;

	while ((t = timerq_due(&rp->drain, now))) {
		uint32_t id = t->id;

		if (timer_live(r, t) && health_has(r->env.health[id], HEALTH_F_DRAIN))
			remove_id(r, p, id, "deregistered");
		timerq_pop(&rp->drain);
	}
}

/* Freed ids whose last probe has ended join their pool's free queue. */
static void settle_pending(struct roster *r)
{
	size_t n = r->pending.len;

	for (size_t i = 0; i < n; i++) {
		uint32_t id = idq_pop(&r->pending);

		if (sched_busy(r->env.sched, id))
			idq_push(&r->pending, id);
		else
			idq_push(&r->pools[roster_pool_of(r, id)].free, id);
	}
}

void roster_tick(struct roster *r, uint64_t now_mono, uint64_t now_real)
{
	r->now_mono = now_mono;
	r->now_real = now_real;
	if (r->pending.len)
		settle_pending(r);
	for (uint32_t p = 0; p < r->n_pools; p++) {
		end_grace(r, p, now_mono);
		end_drains(r, p, now_mono);
	}
}

/* ---- a reload ------------------------------------------------------------ */

static void cap_timers(struct timerq *q, uint64_t until)
{
	for (size_t i = 0; i < q->len; i++) {
		struct timer *t = &q->v[(q->head + i) % q->cap];

		if (t->at > until)
			t->at = until;
	}
}

/*
 * Capping keeps each queue in time order (the min of a sorted list and a
 * constant is sorted), and every later timer is due after until.
 */
void roster_cap_timers(struct roster *r, uint32_t p, uint64_t drain_until,
		       uint64_t grace_until)
{
	struct roster_pool *rp = &r->pools[p];

	cap_timers(&rp->drain, drain_until);
	cap_timers(&rp->grace, grace_until);
	if (rp->grace_all_until > grace_until)
		rp->grace_all_until = grace_until;
}

int roster_add_pool(struct roster *r, uint32_t first, uint32_t capacity)
{
	struct roster_pool *pools = realloc(r->pools, (r->n_pools + 1) * sizeof(*pools));
	struct roster_pool *rp;

	if (!pools)
		return -1;
	r->pools = pools;
	rp = &pools[r->n_pools];
	memset(rp, 0, sizeof(*rp));
	rp->first = first;
	rp->capacity = capacity;
	for (uint32_t id = first; id < first + capacity; id++)
		if (idq_push(&rp->free, id)) {
			free(rp->free.v);
			return -1;
		}
	r->n_pools++;
	return 0;
}

int roster_unshare(struct roster *r, uint32_t id, char *out, size_t len)
{
	if (!shared_member(&r->shared, id))
		return 0;
	/* A leader hands its group to the next member; id then probes alone. */
	hand_over(r, id);
	if (claim_slot(r, roster_pool_of(r, id), id, &r->env.st[id].key, out, len))
		return -1;
	slots_pause(r->env.slots, id, health_state(r->env.health[id]) == XDPHC_STATE_MAINT);
	return 0;
}

int64_t roster_leader_of(const struct roster *r, uint32_t id)
{
	return roster_used(r, id) ? (int64_t)shared_leader(&r->shared, id) : -1;
}
