// SPDX-License-Identifier: MIT
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "keyindex.h"
#include "log.h"
#include "runtime.h"

#define NS_PER_MS 1000000ULL
#define WRITE_EVERY_NS 1000000000ULL	/* debounce: a burst of commands is one write */

static void warn_line(void *ctx, const char *msg)
{
	const char *path = ctx;

	log_warn("state_file %s, %s", path, msg);
}

static void skipped_line(void *ctx, const char *msg)
{
	(void)ctx;
	log_warn("state_file %s", msg);
}

/* Keep what cannot be read for the operator, rather than write over it. */
static void move_aside(const char *path, const char *err)
{
	char bad[PATH_MAX + 8];

	snprintf(bad, sizeof(bad), "%s.bad", path);
	if (rename(path, bad))
		log_err("state_file %s; starting from the config file alone", err);
	else
		log_err("state_file %s; moved to %s, starting from the config file alone", err,
			bad);
}

int runtime_load(struct runtime *rt, struct config *cfg)
{
	struct sf_list in = { 0 };
	char err[CONFIG_ERR_LEN];
	int ret = 0;

	memset(rt, 0, sizeof(*rt));
	snprintf(rt->path, sizeof(rt->path), "%s", cfg->state_file);
	snprintf(rt->config, sizeof(rt->config), "%s", cfg->path);
	if (!rt->path[0])
		return 0;
	if (statefile_read(rt->path, &in, skipped_line, NULL, err, sizeof(err))) {
		move_aside(rt->path, err);
		sf_free(&in);
		return 0;
	}
	if (in.n && overlay_merge(cfg, &in, &rt->start, warn_line, rt->path, err, sizeof(err))) {
		log_err("state_file %s: its runtime changes do not fit: %s", rt->path, err);
		ret = -1;
	} else if (in.n) {
		log_info("state_file %s: %zu runtime changes on top of %s", rt->path, in.n,
			 cfg->path);
	}
	sf_free(&in);
	return ret;
}

/* The id of each mark, from the backend list and the ids laid out after it. */
static void resolve_marks(struct runtime *rt, const struct config *cfg)
{
	struct keyindex ki;
	size_t n = rt->start.marks.n;

	rt->mark_ids = malloc((n ? n : 1) * sizeof(*rt->mark_ids));
	if (!rt->mark_ids || keyindex_init_x(&ki, cfg->n_backends, cfg->backends,
					     sizeof(*cfg->backends), sizeof(cfg->backends->pool))) {
		log_err("out of memory for the state file's marks: not set");
		rt->start.marks.n = 0;
		return;
	}
	for (size_t g = 0; g < cfg->n_backends; g++)
		keyindex_insert(&ki, (uint32_t)g);
	for (size_t i = 0; i < n; i++) {
		const struct sf_entry *e = &rt->start.marks.v[i];
		int p = config_find_pool(cfg, e->pool);
		struct backend_cfg b = { .key = e->key, .pool = (uint32_t)p };
		int64_t g = p < 0 ? -1 : keyindex_find_x(&ki, &b);

		/* A mark lasts while its backend exists, in its pool. */
		rt->mark_ids[i] = g < 0 ? UINT32_MAX :
				  cfg->pools[p].first_id + (uint32_t)(g - (int64_t)cfg->pools[p].first);
	}
	keyindex_free(&ki);
}

void runtime_resolve(struct runtime *rt, const struct config *cfg, struct health *health)
{
	rt->cfg = cfg;
	rt->health = health;
	for (size_t p = 0; rt->start.runtime && p < cfg->n_pools; p++) {
		const struct pool_cfg *pc = &cfg->pools[p];
		uint32_t end = pc->first_id + (uint32_t)pc->n_backends;

		for (uint32_t id = end - rt->start.runtime[p]; id < end; id++)
			health_set(&health[id], HEALTH_F_RUNTIME, true);
	}
	resolve_marks(rt, cfg);
}

static uint64_t mono_of(uint64_t until_ms, uint64_t now_mono, uint64_t now_real)
{
	uint64_t until = until_ms * NS_PER_MS;

	return until > now_real ? now_mono + (until - now_real) : now_mono;
}

struct mark_order {
	uint64_t until_ms;
	size_t i;
};

/* Drains in the order they end: each pool's timer queue must stay sorted. */
static int by_until(const void *a, const void *b)
{
	const struct mark_order *x = a, *y = b;

	return (x->until_ms > y->until_ms) - (x->until_ms < y->until_ms);
}

static void set_mark(struct runtime *rt, const struct sf_entry *e, uint32_t id,
		     uint64_t now_real)
{
	struct roster *r = rt->roster;
	const struct pool_cfg *pc = &rt->cfg->pools[roster_pool_of(r, id)];
	uint64_t cap = r->now_mono + pc->deregistration_delay_ms * NS_PER_MS;
	uint64_t at = mono_of(e->until_ms, r->now_mono, now_real);
	char out[512];

	if (e->kind == SF_MAINT)
		roster_maint_id(r, id, true, out, sizeof(out));
	else
		roster_drain_at(r, id, true, at < cap ? at : cap, out, sizeof(out));
}

void runtime_attach(struct runtime *rt, struct roster *r, uint64_t now_real)
{
	const struct sf_list *m = &rt->start.marks;
	struct mark_order *order = malloc((m->n ? m->n : 1) * sizeof(*order));

	rt->roster = r;
	for (size_t i = 0; order && i < m->n; i++)
		order[i] = (struct mark_order){ .until_ms = m->v[i].until_ms, .i = i };
	if (order)
		qsort(order, m->n, sizeof(*order), by_until);
	for (size_t k = 0; order && k < m->n; k++)
		if (rt->mark_ids[order[k].i] != UINT32_MAX)
			set_mark(rt, &m->v[order[k].i], rt->mark_ids[order[k].i], now_real);
	if (!order && m->n)
		log_err("out of memory for the state file's marks: not set");
	free(order);
	rt->dels = rt->start.dels;
	memset(&rt->start.dels, 0, sizeof(rt->start.dels));
	rt->written = r->changes;
}

/* The delete of key from pool p, or -1: a backend may be in several pools. */
static int find_del(const struct runtime *rt, uint32_t p, const struct xdphc_backend_key *key)
{
	const char *pool = rt->cfg->pools[p].name;

	for (size_t i = 0; i < rt->dels.n; i++)
		if (backend_key_equal(&rt->dels.v[i].key, key) && !strcmp(rt->dels.v[i].pool, pool))
			return (int)i;
	return -1;
}

static void drop_del(struct runtime *rt, int i)
{
	rt->dels.v[i] = rt->dels.v[--rt->dels.n];
	rt->dirty = true;
}

void runtime_on_remove(void *ctx, uint32_t pool, uint32_t id)
{
	struct runtime *rt = ctx;
	const struct xdphc_backend_key *key = &rt->roster->env.st[id].key;

	if (health_has(rt->health[id], HEALTH_F_RUNTIME))
		return;		/* it leaves the overlay's adds, which the roster shows */
	if (find_del(rt, pool, key) >= 0)
		return;
	if (sf_push(&rt->dels, SF_DEL, rt->cfg->pools[pool].name, key, 0))
		log_err("out of memory: the deletion of a file backend is not kept in the "
			"state file");
	rt->dirty = true;
}

void runtime_added(struct runtime *rt, uint32_t p, uint32_t id)
{
	int i = find_del(rt, p, &rt->roster->env.st[id].key);

	/* A file backend deleted at runtime, back in its pool: the file's again. */
	if (i >= 0) {
		drop_del(rt, i);
		return;
	}
	health_set(&rt->health[id], HEALTH_F_RUNTIME, true);
}

/* Backends added at runtime and those in maintenance, from their records. */
static int snapshot_records(const struct runtime *rt, struct sf_list *out)
{
	const struct roster *r = rt->roster;

	for (uint32_t p = 0; p < r->n_pools; p++) {
		const struct roster_pool *rp = &r->pools[p];
		const char *name = rt->cfg->pools[p].name;

		for (uint32_t id = rp->first; name[0] && id < rp->first + rp->capacity; id++) {
			struct health h = rt->health[id];

			if (!roster_used(r, id))
				continue;
			if (health_has(h, HEALTH_F_RUNTIME) &&
			    sf_push(out, SF_ADD, name, &r->env.st[id].key, 0))
				return -1;
			if (health_state(h) == XDPHC_STATE_MAINT &&
			    sf_push(out, SF_MAINT, name, &r->env.st[id].key, 0))
				return -1;
		}
	}
	return 0;
}

/* Drains, from the roster's timers: when each one ends. */
static int snapshot_drains(const struct runtime *rt, struct sf_list *out, uint64_t now_real)
{
	const struct roster *r = rt->roster;

	for (uint32_t p = 0; p < r->n_pools; p++) {
		const struct timerq *q = &r->pools[p].drain;

		for (size_t i = 0; i < q->len; i++) {
			const struct timer *t = &q->v[(q->head + i) % q->cap];
			uint64_t left = t->at > r->now_mono ? t->at - r->now_mono : 0;

			if (!roster_used(r, t->id) || roster_gen(r, t->id) != t->gen ||
			    !health_has(rt->health[t->id], HEALTH_F_DRAIN))
				continue;
			if (sf_push(out, SF_DRAIN, rt->cfg->pools[p].name, &r->env.st[t->id].key,
				    (now_real + left) / NS_PER_MS))
				return -1;
		}
	}
	return 0;
}

int runtime_snapshot(const struct runtime *rt, struct sf_list *out, uint64_t now_real)
{
	if (snapshot_records(rt, out))
		return -1;
	for (size_t i = 0; i < rt->dels.n; i++)
		if (sf_push(out, SF_DEL, rt->dels.v[i].pool, &rt->dels.v[i].key, 0))
			return -1;
	return snapshot_drains(rt, out, now_real);
}

void runtime_set_path(struct runtime *rt, const char *path)
{
	if (!strcmp(rt->path, path))
		return;
	snprintf(rt->path, sizeof(rt->path), "%s", path);
	rt->dirty = true;
	rt->failing = false;
}

void runtime_keep_dels(struct runtime *rt, const uint8_t *keep)
{
	size_t n = 0;

	for (size_t i = 0; i < rt->dels.n; i++)
		if (keep && keep[i])
			rt->dels.v[n++] = rt->dels.v[i];
	if (n != rt->dels.n)
		rt->dirty = true;
	rt->dels.n = n;
}

static void write_now(struct runtime *rt, uint64_t now_real)
{
	struct sf_list l = { 0 };
	char err[PATH_MAX + 128];

	rt->written = rt->roster->changes;
	rt->dirty = false;
	if (runtime_snapshot(rt, &l, now_real)) {
		snprintf(err, sizeof(err), "out of memory");
	} else if (!statefile_write(rt->path, rt->config, &l, err, sizeof(err))) {
		if (rt->failing)
			log_info("state_file %s: written again", rt->path);
		rt->failing = false;
		sf_free(&l);
		return;
	}
	if (!rt->failing)
		log_err("%s: runtime changes are not kept across a restart until it can be "
			"written", err);
	rt->failing = true;
	rt->dirty = true;	/* try again a second later */
	sf_free(&l);
}

void runtime_tick(struct runtime *rt, uint64_t now_mono, uint64_t now_real)
{
	if (!rt->path[0] || !rt->roster || now_mono < rt->next_write ||
	    (!rt->dirty && rt->written == rt->roster->changes))
		return;
	rt->next_write = now_mono + WRITE_EVERY_NS;
	write_now(rt, now_real);
}

void runtime_flush(struct runtime *rt, uint64_t now_real)
{
	if (rt->path[0] && rt->roster && (rt->dirty || rt->written != rt->roster->changes))
		write_now(rt, now_real);
}

void runtime_free(struct runtime *rt)
{
	overlay_start_free(&rt->start);
	sf_free(&rt->dels);
	free(rt->mark_ids);
	memset(rt, 0, sizeof(*rt));
}
