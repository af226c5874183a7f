// SPDX-License-Identifier: MIT
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "keyindex.h"
#include "reload_plan.h"
#include "vec.h"

/* Keys to prefetch ahead in the comparison (as the config loader does). */
#define PREFETCH 8

static double seconds_since(const struct timespec *t0)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)(t.tv_sec - t0->tv_sec) + (double)(t.tv_nsec - t0->tv_nsec) / 1e9;
}

__attribute__((format(printf, 2, 3)))
static int fail(struct reload_plan *pl, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(pl->err, sizeof(pl->err), fmt, ap);
	va_end(ap);
	return -1;
}

static void set_bit(uint64_t *bits, uint32_t id)
{
	bits[id / 64] |= 1ULL << (id % 64);
}

/* ---- settings: what may change live ------------------------------------- */

/*
 * Top-level keys a running engine takes from a new file.  Everything else
 * is bound at start (the interface, the addresses and ports, the pins, the
 * programs, the sockets, the size of the maps): a key added to the config
 * later needs a restart until it is listed here.
 */
static bool live_top_key(enum cfg_key k)
{
	return k == CFG_EVENT_LOG || k == CFG_STATE_FILE || k == CFG_MAX_DOWN_FRACTION ||
	       k == CFG_POOLS;
}

struct differ {
	struct reload_plan *pl;
	const struct config *live;
	size_t len;			/* of pl->err so far */
};

__attribute__((format(printf, 2, 3)))
static void refuse(struct differ *d, const char *fmt, ...)
{
	va_list ap;
	int n;

	if (d->len >= sizeof(d->pl->err) - 1)
		return;
	if (d->len)
		d->len += (size_t)snprintf(d->pl->err + d->len, sizeof(d->pl->err) - d->len, "; ");
	va_start(ap, fmt);
	n = vsnprintf(d->pl->err + d->len, sizeof(d->pl->err) - d->len, fmt, ap);
	va_end(ap);
	d->len = n < 0 ? d->len : d->len + (size_t)n;
	if (d->len > sizeof(d->pl->err) - 1)
		d->len = sizeof(d->pl->err) - 1;
}

static void pool_key(struct differ *d, const struct cfg_change *ch)
{
	const struct config *next = &d->pl->next;
	const struct pool_cfg *pc = &next->pools[ch->b_pool];
	const struct hc_config *was = &d->live->pools[ch->a_pool].hc;
	struct plan_pool *pp = &d->pl->pools[ch->b_pool];
	char at[CONFIG_WHERE_LEN];

	config_pool_where(next, ch->b_pool, ch->key, at, sizeof(at));
	/* Another check is another prober; more ids would move every pool after it. */
	if (ch->key == CFG_HC_PROTOCOL ||
	    (ch->key == CFG_POOL_MAX_BACKENDS && pc->line[ch->key - CFG_TOP_N])) {
		refuse(d, "pool '%s': %s (%s) changed: needs a restart", pc->name,
		       config_key_name(ch->key), at);
		return;
	}
	/* send or expect set or cleared: half-open SYN probes or tcp connections. */
	if (was->protocol == pc->hc.protocol && hc_check_kind(was) != hc_check_kind(&pc->hc)) {
		refuse(d, "pool '%s': %s (%s) changed the check between a half-open SYN probe "
		       "and a tcp connection: needs a restart", pc->name,
		       config_key_name(ch->key), at);
		return;
	}
	/* A default max_backends follows the count: the running pool keeps its ids. */
	if (ch->key == CFG_POOL_MAX_BACKENDS)
		return;
	pp->changed = true;
	pp->port_changed |= ch->key == CFG_HC_PORT;
	/* Other probes: a backend it shares with another pool is probed apart. */
	pp->probe_changed |= ch->key == CFG_HC_PORT || ch->key == CFG_HC_INTERVAL ||
			     ch->key == CFG_HC_TIMEOUT || config_request_key(ch->key);
}

static bool on_change(void *ctx, const struct cfg_change *ch)
{
	struct differ *d = ctx;
	char at[CONFIG_WHERE_LEN];

	if (ch->kind == CFG_CHANGE_KEY && !live_top_key(ch->key))
		refuse(d, "%s (%s) changed: needs a restart", config_key_name(ch->key),
		       config_where(&d->pl->next, ch->key, at, sizeof(at)));
	else if (ch->kind == CFG_CHANGE_POOL_KEY && d->pl->pools[ch->b_pool].live != PLAN_NONE &&
		 !d->pl->pools[ch->b_pool].is_new)
		pool_key(d, ch);
	/* Pools added, removed or moved are matched by name (map_pools()). */
	return true;
}

/* c without its backends: config_diff() then compares settings only. */
static int settings_only(const struct config *c, struct config *out)
{
	*out = *c;
	out->backends = NULL;
	out->n_backends = 0;
	out->pools = malloc((c->n_pools ? c->n_pools : 1) * sizeof(*out->pools));
	if (!out->pools)
		return -1;
	memcpy(out->pools, c->pools, c->n_pools * sizeof(*out->pools));
	for (size_t p = 0; p < c->n_pools; p++) {
		out->pools[p].first = 0;
		out->pools[p].n_backends = 0;
	}
	return 0;
}

static int compare_settings(struct reload_plan *pl, const struct config *live)
{
	struct differ d = { .pl = pl, .live = live };
	struct config a, b = { 0 };
	long n = -1;

	if (!settings_only(live, &a) && !settings_only(&pl->next, &b))
		n = config_diff(&a, &b, on_change, &d);
	free(a.pools);
	free(b.pools);
	if (n < 0)
		return fail(pl, "out of memory comparing the configs");
	return d.len ? -1 : 0;
}

/* ---- pools ---------------------------------------------------------------- */

/* The end of the running pools' ids: new pools take spare ids from there on. */
static uint32_t live_end(const struct config *live)
{
	const struct pool_cfg *last;

	if (!live->n_pools)
		return 0;
	last = &live->pools[live->n_pools - 1];
	return last->first_id + last->max_backends;
}

static int place_new(struct reload_plan *pl, size_t q, const struct live_view *lv,
		     uint32_t *end)
{
	const struct pool_cfg *pc = &pl->next.pools[q];
	struct plan_pool *pp = &pl->pools[q];
	char at[CONFIG_WHERE_LEN];

	config_pool_where(&pl->next, q, CFG_POOL_NAME, at, sizeof(at));
	if (lv->cfg->n_pools + pl->n_new >= XDPHC_MAX_POOLS)
		return fail(pl, "pool '%s' (%s) is new, and the running engine has all %d pool "
			    "ids in use (removed pools free theirs at a restart): needs a restart",
			    pc->name, at, XDPHC_MAX_POOLS);
	if ((uint64_t)*end + pc->max_backends > lv->n)
		return fail(pl, "pool '%s' (%s) is new and needs %u backend ids (max_backends), "
			    "and the running engine has %llu spare ones left (spare_ids): needs "
			    "a restart", pc->name, at, pc->max_backends,
			    (unsigned long long)(lv->n - *end));
	pp->is_new = true;
	pp->live = (uint32_t)(lv->cfg->n_pools + pl->n_new++);
	pp->first_id = *end;
	*end += pc->max_backends;
	return 0;
}

/* Pools pair up by name; a new one is placed in the spare ids after the running ones. */
static int map_pools(struct reload_plan *pl, const struct live_view *lv)
{
	uint32_t end = live_end(lv->cfg);

	pl->pools = calloc(pl->next.n_pools, sizeof(*pl->pools));
	if (!pl->pools)
		return fail(pl, "out of memory");
	for (size_t p = 0; p < lv->cfg->n_pools; p++)
		pl->gone[p] = lv->cfg->pools[p].name[0] &&
			      config_find_pool(&pl->next, lv->cfg->pools[p].name) < 0;
	for (size_t q = 0; q < pl->next.n_pools; q++) {
		int p = config_find_pool(lv->cfg, pl->next.pools[q].name);

		pl->pools[q].live = p < 0 ? PLAN_NONE : (uint32_t)p;
		if (p < 0 && place_new(pl, q, lv, &end))
			return -1;
	}
	return 0;
}

/* ---- backends ------------------------------------------------------------- */

/*
 * A backend is a key in a pool: the same key may be in several pools (it
 * is probed once, see shared.h).  The new file's backends are indexed by
 * (key, pool) (struct backend_cfg), the ids in use are looked up in that
 * index, and what no id holds is to be added.
 */
struct compare {
	struct reload_plan *pl;
	const struct live_view *lv;
	struct keyindex next;		/* (key, pool of next) -> backend of next */
	struct keyindex dels;		/* (key, pool name) -> runtime delete */
	uint32_t *running;		/* per backend of next: the id holding it, or PLAN_NONE */
	uint32_t q_of[XDPHC_MAX_POOLS];	/* per running pool: its pool in next, or PLAN_NONE */
};

/* A runtime delete as the index compares it: the key, then the pool's name. */
struct del_key {
	struct xdphc_backend_key key;
	char pool[XDPHC_POOL_NAME_LEN];
};

_Static_assert(offsetof(struct sf_entry, pool) == sizeof(struct xdphc_backend_key),
	       "sf_entry: the pool's name right after the key");

static int push_add(struct reload_plan *pl, const struct plan_add *a)
{
	if (vec_room((void **)&pl->adds, &pl->cap_adds, pl->n_adds, sizeof(*pl->adds)))
		return -1;
	pl->adds[pl->n_adds++] = *a;
	return 0;
}

static int index_all(struct compare *c)
{
	const struct config *next = &c->pl->next;
	const struct sf_list *dels = c->lv->dels;

	if (keyindex_init_x(&c->next, next->n_backends, next->backends, sizeof(*next->backends),
			    sizeof(next->backends->pool)) ||
	    keyindex_init_x(&c->dels, dels->n, dels->n ? &dels->v[0].key : NULL,
			    sizeof(*dels->v), sizeof(dels->v->pool)))
		return -1;
	for (size_t g = 0; g < next->n_backends; g++) {
		if (g + PREFETCH < next->n_backends)
			keyindex_prefetch(&c->next, &next->backends[g + PREFETCH].key);
		keyindex_insert(&c->next, (uint32_t)g);
	}
	for (size_t d = 0; d < dels->n; d++)
		keyindex_insert(&c->dels, (uint32_t)d);
	return 0;
}

/* Each id in use of a pool the new file keeps: listed there, or not. */
static void match_pool(struct compare *c, const struct pool_cfg *lp, uint32_t q)
{
	const struct xdphc_backend_status *st = c->lv->st;
	uint32_t end = lp->first_id + lp->max_backends;

	for (uint32_t id = lp->first_id; id < end; id++) {
		struct backend_cfg b = { .pool = q };
		int64_t g;

		if (!plan_bit(c->lv->used, id))
			continue;
		if (id + PREFETCH < end)
			keyindex_prefetch(&c->next, &st[id + PREFETCH].key);
		b.key = st[id].key;
		g = keyindex_find_x(&c->next, &b);
		if (g < 0)
			continue;
		set_bit(c->pl->seen, id);
		c->running[g] = id;
	}
}

/* An id already probing key with the probes of pool q: the new entry joins it. */
static uint32_t leader_hint(const struct compare *c, const struct xdphc_backend_key *key,
			    uint32_t q)
{
	const struct config *next = &c->pl->next;

	for (uint32_t q2 = 0; q2 < next->n_pools; q2++) {
		struct backend_cfg b = { .key = *key, .pool = q2 };
		int64_t g;

		if (q2 == q || !config_same_probe(&next->pools[q].hc, &next->pools[q2].hc))
			continue;
		g = keyindex_find_x(&c->next, &b);
		if (g >= 0 && c->running[g] != PLAN_NONE)
			return c->running[g];
	}
	return PLAN_NONE;
}

/* A backend of the new file that no id holds: deleted at runtime, or to add. */
static int not_running(struct compare *c, const struct backend_cfg *b)
{
	const struct pool_cfg *pc = &c->pl->next.pools[b->pool];
	struct plan_add a = { .key = b->key, .pool = c->pl->pools[b->pool].live };
	struct del_key dk = { .key = b->key };
	int64_t d;

	snprintf(dk.pool, sizeof(dk.pool), "%s", pc->name);
	d = c->lv->reset ? -1 : keyindex_find_x(&c->dels, &dk);
	if (d >= 0) {
		c->pl->del_listed[d] = 1;
		a.deleted = true;
	}
	a.leader = a.deleted ? PLAN_NONE : leader_hint(c, &b->key, b->pool);
	return push_add(c->pl, &a);
}

static int compare_backends(struct reload_plan *pl, const struct live_view *lv)
{
	struct compare c = { .pl = pl, .lv = lv };
	const struct config *next = &pl->next;
	size_t nd = lv->dels->n;
	int ret = -1;

	pl->seen = calloc((lv->n + 63) / 64 + 1, sizeof(*pl->seen));
	pl->del_listed = calloc(nd ? nd : 1, 1);
	c.running = malloc((next->n_backends ? next->n_backends : 1) * sizeof(*c.running));
	if (pl->seen && pl->del_listed && c.running && !index_all(&c)) {
		memset(c.running, 0xff, next->n_backends * sizeof(*c.running));	/* PLAN_NONE */
		for (size_t p = 0; p < lv->cfg->n_pools; p++)
			c.q_of[p] = PLAN_NONE;
		for (size_t q = 0; q < next->n_pools; q++)
			if (!pl->pools[q].is_new)
				c.q_of[pl->pools[q].live] = (uint32_t)q;
		for (size_t p = 0; p < lv->cfg->n_pools; p++)
			if (c.q_of[p] != PLAN_NONE)
				match_pool(&c, &lv->cfg->pools[p], c.q_of[p]);
		ret = 0;
		for (size_t g = 0; g < next->n_backends && !ret; g++)
			if (c.running[g] == PLAN_NONE)
				ret = not_running(&c, &next->backends[g]);
	}
	keyindex_free(&c.next);
	keyindex_free(&c.dels);
	free(c.running);
	return ret ? fail(pl, "out of memory comparing %zu backends", next->n_backends) : 0;
}

/* Ids of running pool p that the new file does not list there. */
static size_t unlisted(const struct reload_plan *pl, const struct live_view *lv, size_t p)
{
	const struct pool_cfg *pc = &lv->cfg->pools[p];
	size_t n = 0;

	for (uint32_t id = pc->first_id; id < pc->first_id + pc->max_backends; id++)
		n += plan_bit(lv->used, id) && !plan_bit(pl->seen, id);
	return n;
}

/*
 * The canaries are counted by the circuit breaker from start (breaker.h):
 * they change with a restart only.
 */
static int check_canaries(struct reload_plan *pl, const struct live_view *lv)
{
	char at[CONFIG_WHERE_LEN];
	bool changed = false;

	for (size_t p = 0; p < lv->cfg->n_pools; p++)
		changed |= lv->cfg->pools[p].canaries && (pl->gone[p] || unlisted(pl, lv, p));
	for (size_t q = 0; q < pl->next.n_pools; q++)
		changed |= pl->next.pools[q].canaries && pl->pools[q].is_new;
	for (size_t i = 0; i < pl->n_adds; i++)
		changed |= lv->cfg->n_pools > pl->adds[i].pool &&
			   lv->cfg->pools[pl->adds[i].pool].canaries;
	if (!changed)
		return 0;
	return fail(pl, "canaries (%s) changed: needs a restart",
		    config_where(&pl->next, CFG_CANARIES, at, sizeof(at)));
}

int reload_plan(struct reload_plan *pl, const char *path, const struct live_view *lv)
{
	struct timespec t0;

	memset(pl, 0, sizeof(*pl));
	clock_gettime(CLOCK_MONOTONIC, &t0);
	if (config_load(path, &pl->next, pl->err, sizeof(pl->err)))
		return -1;
	/* A backend of a family without a source, a datagram past the MTU: as at start. */
	if (lv->nif && config_check_netif(&pl->next, lv->nif, pl->err, sizeof(pl->err)))
		return -1;
	pl->t_read = seconds_since(&t0);
	clock_gettime(CLOCK_MONOTONIC, &t0);
	if (map_pools(pl, lv) || compare_settings(pl, lv->cfg) || compare_backends(pl, lv) ||
	    check_canaries(pl, lv))
		return -1;
	/* The list is a million keys: the adds hold what is left to do. */
	config_release_backends(&pl->next);
	pl->t_compare = seconds_since(&t0);
	return 0;
}

void reload_plan_free(struct reload_plan *pl)
{
	config_free(&pl->next);
	free(pl->pools);
	free(pl->seen);
	free(pl->adds);
	free(pl->del_listed);
	memset(pl, 0, sizeof(*pl));
}
