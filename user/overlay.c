// SPDX-License-Identifier: MIT
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "addr.h"
#include "keyindex.h"
#include "overlay.h"

/* The merge's work: which file backends go, which runtime ones come, per pool. */
struct merge {
	struct config *cfg;
	struct keyindex file;		/* (key, pool) -> index in cfg->backends */
	uint8_t *deleted;		/* per file backend */
	struct backend_cfg *add;	/* accepted adds, in the state file's order */
	size_t n_adds;
	struct keyindex adds;		/* (key, pool) -> index in add */
	uint32_t *kept;			/* per pool: file backends, deleted ones too (holes) */
	uint32_t *extra;		/* per pool: adds accepted */
	sf_warn_fn warn;
	void *ctx;
};

__attribute__((format(printf, 3, 4)))
static void say(struct merge *m, const struct sf_entry *e, const char *fmt, ...)
{
	char msg[512], what[256], a[64];
	va_list ap;

	if (!m->warn)
		return;
	va_start(ap, fmt);
	vsnprintf(what, sizeof(what), fmt, ap);
	va_end(ap);
	snprintf(msg, sizeof(msg), "line %u: %s %s %s: %s", e->line, sf_kind_name(e->kind),
		 e->pool, addr_format(&e->key, a, sizeof(a)), what);
	m->warn(m->ctx, msg);
}

/* The file backend that is e's backend in pool p, or -1. */
static int64_t in_file(const struct merge *m, const struct sf_entry *e, int p)
{
	struct backend_cfg b = { .key = e->key, .pool = (uint32_t)p };

	return p < 0 ? -1 : keyindex_find_x(&m->file, &b);
}

static void take_add(struct merge *m, const struct sf_entry *e, int p)
{
	if (p < 0) {
		say(m, e, "pool '%s' is no longer in the config: dropped", e->pool);
		return;
	}
	/* In the file's pool now: a file backend like the others. */
	if (in_file(m, e, p) >= 0)
		return;
	m->add[m->n_adds] = (struct backend_cfg){ .key = e->key, .pool = (uint32_t)p };
	if (keyindex_insert(&m->adds, (uint32_t)m->n_adds) >= 0)
		return;		/* the same one twice: the first one counts */
	m->extra[p]++;
	m->n_adds++;
}

static int take_del(struct merge *m, const struct sf_entry *e, int p, struct overlay_start *out)
{
	int64_t g = in_file(m, e, p);

	/* Not in the file's pool any more: nothing is left to delete. */
	if (g < 0 || m->deleted[g])
		return 0;
	m->deleted[g] = 1;
	return sf_push(&out->dels, e->kind, e->pool, &e->key, 0);
}

/* A pool with a max_backends of its own takes the adds it has room for. */
static void fit_adds(struct merge *m)
{
	for (size_t i = m->n_adds; i-- > 0;) {
		uint32_t p = m->add[i].pool;
		const struct pool_cfg *pc = &m->cfg->pools[p];
		struct sf_entry e = { .key = m->add[i].key, .kind = SF_ADD };

		if (!pc->line[CFG_POOL_MAX_BACKENDS - CFG_TOP_N] ||
		    m->kept[p] + m->extra[p] <= pc->max_backends)
			continue;
		snprintf(e.pool, sizeof(e.pool), "%s", pc->name);
		say(m, &e, "pool '%s' is full at its max_backends (%u): dropped", pc->name,
		    pc->max_backends);
		m->add[i].pool = UINT32_MAX;
		m->extra[p]--;
	}
}

/*
 * The new list: each pool's file backends, then its runtime ones.  A file
 * backend deleted at runtime leaves a hole (a key of family 0: an id that
 * holds no backend), so that the others keep the ids they had.
 */
static int rebuild(struct merge *m)
{
	struct config *cfg = m->cfg;
	size_t n = 0, total = 0;
	struct backend_cfg *b;

	for (size_t p = 0; p < cfg->n_pools; p++)
		total += m->kept[p] + m->extra[p];
	b = malloc((total ? total : 1) * sizeof(*b));
	if (!b)
		return -1;
	for (uint32_t p = 0; p < cfg->n_pools; p++) {
		struct pool_cfg *pc = &cfg->pools[p];
		size_t first = n;

		for (size_t g = pc->first; g < pc->first + pc->n_backends; g++, n++)
			if (m->deleted[g])
				b[n] = (struct backend_cfg){ .pool = p };	/* family 0 */
			else
				b[n] = cfg->backends[g];
		for (size_t i = 0; i < m->n_adds; i++)
			if (m->add[i].pool == p)
				b[n++] = m->add[i];
		pc->first = first;
		pc->n_backends = n - first;
	}
	free(cfg->backends);
	cfg->backends = b;
	cfg->n_backends = n;
	return 0;
}

static int merge_init(struct merge *m, struct config *cfg, const struct sf_list *in,
		      struct overlay_start *out)
{
	size_t np = cfg->n_pools ? cfg->n_pools : 1, n = in->n ? in->n : 1;

	m->cfg = cfg;
	m->deleted = calloc(cfg->n_backends ? cfg->n_backends : 1, 1);
	m->add = malloc(n * sizeof(*m->add));
	m->kept = calloc(np, sizeof(*m->kept));
	m->extra = calloc(np, sizeof(*m->extra));
	out->runtime = calloc(np, sizeof(*out->runtime));
	if (!m->deleted || !m->add || !m->kept || !m->extra || !out->runtime ||
	    keyindex_init_x(&m->file, cfg->n_backends, cfg->backends, sizeof(*cfg->backends),
			    sizeof(cfg->backends->pool)) ||
	    keyindex_init_x(&m->adds, in->n, m->add, sizeof(*m->add), sizeof(m->add->pool)))
		return -1;
	for (size_t g = 0; g < cfg->n_backends; g++)
		keyindex_insert(&m->file, (uint32_t)g);
	for (size_t p = 0; p < cfg->n_pools; p++)
		m->kept[p] = (uint32_t)cfg->pools[p].n_backends;
	return 0;
}

static void merge_free(struct merge *m)
{
	keyindex_free(&m->file);
	keyindex_free(&m->adds);
	free(m->deleted);
	free(m->add);
	free(m->kept);
	free(m->extra);
}

static int take_all(struct merge *m, const struct sf_list *in, struct overlay_start *out)
{
	for (size_t i = 0; i < in->n; i++) {
		struct sf_entry one = in->v[i];
		const struct sf_entry *e = &one;
		int p = config_find_pool(m->cfg, e->pool);

		/* The file writes ADDR:PORT: the key's protocol (tcp or udp) is its pool's. */
		if (p >= 0)
			one.key.protocol = hc_ipproto(&m->cfg->pools[p].hc);
		if (e->kind == SF_ADD)
			take_add(m, e, p);
		else if (e->kind == SF_DEL && take_del(m, e, p, out))
			return -1;
		else if ((e->kind == SF_DRAIN || e->kind == SF_MAINT) &&
			 sf_push(&out->marks, e->kind, e->pool, &e->key, e->until_ms))
			return -1;
	}
	return 0;
}

int overlay_merge(struct config *cfg, const struct sf_list *in, struct overlay_start *out,
		  sf_warn_fn warn, void *ctx, char *err, size_t errlen)
{
	struct merge m = { .warn = warn, .ctx = ctx };
	int ret = -1;

	memset(out, 0, sizeof(*out));
	if (merge_init(&m, cfg, in, out) || take_all(&m, in, out)) {
		snprintf(err, errlen, "%s: out of memory for the state file's changes", cfg->path);
		goto done;
	}
	fit_adds(&m);
	if (rebuild(&m)) {
		snprintf(err, errlen, "%s: out of memory for the state file's changes", cfg->path);
		goto done;
	}
	memcpy(out->runtime, m.extra, cfg->n_pools * sizeof(*out->runtime));
	ret = config_layout(cfg, err, errlen);
done:
	merge_free(&m);
	return ret;
}

void overlay_start_free(struct overlay_start *o)
{
	sf_free(&o->dels);
	sf_free(&o->marks);
	free(o->runtime);
	memset(o, 0, sizeof(*o));
}
