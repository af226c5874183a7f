// SPDX-License-Identifier: MIT
#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <bpf/bpf.h>

#include "log.h"
#include "restore.h"
#include "seqlock.h"
#include "state.h"

/* Entries of the configured backends at their ids; the pools' spare ids stay unused. */
static void fill_entries(struct restore *r, const struct config *cfg)
{
	memset(r->entries, 0, r->n * sizeof(*r->entries));
	for (uint32_t p = 0; p < cfg->n_pools; p++) {
		const struct pool_cfg *pc = &cfg->pools[p];

		for (size_t k = 0; k < pc->n_backends; k++) {
			struct xdphc_backend_status *st = &r->entries[pc->first_id + k];

			/* A hole: a backend deleted at runtime keeps its id unused (overlay.h). */
			if (!cfg->backends[pc->first + k].key.family)
				continue;
			st->key = cfg->backends[pc->first + k].key;	/* the pool's protocol */
			st->pool_id = p;
			st->check = hc_check_kind(&pc->hc);
			st->state = pc->initial_state;
		}
	}
}

/* Keep what the previous run learned: a restart must not flap every backend. */
static size_t carry_over(struct restore *r, const struct xdphc_backend_status *old,
			 size_t n_old, bool same_abi)
{
	size_t kept = 0;

	for (size_t j = 0; j < n_old; j++) {
		struct xdphc_backend_status *st;
		int64_t i;

		struct xdphc_index_key k = { .backend = old[j].key, .pool_id = old[j].pool_id };

		if (!old[j].key.family)
			continue;
		/* The same pool id first (a backend may be in several pools), else any. */
		i = keyindex_find_x(&r->pidx, &k);
		if (i < 0 && (i = keyindex_find(&r->idx, &old[j].key)) < 0)
			continue;
		st = &r->entries[i];
		st->state = old[j].state <= XDPHC_STATE_DOWN ? old[j].state : XDPHC_STATE_UNKNOWN;
		st->reason = old[j].reason;
		if (same_abi)
			st->detail = old[j].detail;
		st->last_change_ns = old[j].last_change_ns;
		st->last_rtt_us = old[j].last_rtt_us;
		kept++;
	}
	return kept;
}

/*
 * Ids keep their generation across restarts: the same backend on the same
 * id keeps it, another backend on an id that was used gets the next one.
 */
static void assign_generations(struct restore *r, const struct xdphc_backend_status *old,
			       size_t n_old, bool same_abi)
{
	for (size_t i = 0; i < r->n; i++) {
		struct xdphc_backend_status *st = &r->entries[i];
		uint16_t was = same_abi && i < n_old ? old[i].generation : 0;

		if (!st->key.family)
			st->generation = was;	/* a free id remembers, for its next backend */
		else if (was && backend_key_equal(&old[i].key, &st->key))
			st->generation = was;
		else
			st->generation = generation_next(was);
	}
}

int restore_build(struct restore *r, const struct config *cfg, size_t n, struct pins *pins,
		  char *err, size_t errlen)
{
	size_t n_old = 0;
	struct xdphc_backend_status *old = pins_previous_status(pins, &n_old);

	memset(r, 0, sizeof(*r));
	r->n = n;
	r->entries = malloc((n ? n : 1) * sizeof(*r->entries));
	r->pk = calloc(n ? n : 1, sizeof(*r->pk));
	if (!r->entries || !r->pk ||
	    keyindex_init(&r->idx, n, &r->entries[0].key, sizeof(r->entries[0])) ||
	    keyindex_init_x(&r->pidx, n, r->pk, sizeof(*r->pk),
			    sizeof(*r->pk) - sizeof(r->pk->backend))) {
		snprintf(err, errlen, "out of memory for %zu backends", n);
		free(old);
		return -ENOMEM;
	}
	fill_entries(r, cfg);
	for (uint32_t i = 0; i < n; i++) {
		if (!r->entries[i].key.family)
			continue;
		r->pk[i].backend = r->entries[i].key;
		r->pk[i].pool_id = r->entries[i].pool_id;
		keyindex_insert(&r->idx, i);	/* the first entry of a shared backend stays */
		keyindex_insert(&r->pidx, i);
	}
	if (old)
		r->kept = carry_over(r, old, n_old, pins->old_abi == XDPHC_ABI_VERSION);
	assign_generations(r, old, old ? n_old : 0, pins->old_abi == XDPHC_ABI_VERSION);
	free(old);
	return 0;
}

/*
 * Each entry is written once, inside its seqlock: on a reused map, readers
 * (a load balancer) see every backend go from its old record straight to the
 * new one, never through a reset.
 */
void restore_write_status(const struct restore *r, struct pins *pins)
{
	for (uint32_t i = 0; i < pins->status_max; i++) {
		struct xdphc_backend_status *st = &pins->status[i];
		uint32_t seq;

		if (i >= r->n && !st->key.family)
			continue;
		seq = seqlock_write_begin(&st->seq);
		if (i < r->n) {
			const struct xdphc_backend_status *src = &r->entries[i];
			const size_t at = offsetof(struct xdphc_backend_status, state);

			memcpy((char *)st + at, (const char *)src + at, sizeof(*st) - at);
			st->key = src->key;
		} else {
			memset(&st->key, 0, sizeof(st->key));
			st->state = XDPHC_STATE_UNKNOWN;
		}
		seqlock_write_end(&st->seq, seq);
	}
}

/* A reused index may name backends that are no longer configured. */
static void index_drop_unconfigured(const struct restore *r, struct pins *pins)
{
	struct xdphc_index_key key, next;
	int fd = pins->fd[PIN_INDEX];
	void *prev = NULL;
	size_t dropped = 0;

	if (!pins->reused[PIN_INDEX])
		return;
	while (!bpf_map_get_next_key(fd, prev, &next)) {
		if (keyindex_find_x(&r->pidx, &next) < 0) {
			bpf_map_delete_elem(fd, &next);
			dropped++;
			continue;	/* restart from prev: next was deleted */
		}
		key = next;
		prev = &key;
	}
	if (dropped)
		log_info("removed %zu backends that are no longer configured from %s/index",
			 dropped, pins->dir);
}

int restore_write_index(const struct restore *r, struct pins *pins, char *err, size_t errlen)
{
	struct xdphc_index_key *keys = malloc(r->n * sizeof(*keys));
	uint32_t *ids = malloc(r->n * sizeof(*ids));
	__u32 count = 0;
	int e = 0;

	if (!keys || !ids) {
		snprintf(err, errlen, "out of memory for the index of %zu backends", r->n);
		e = -ENOMEM;
		goto out;
	}
	for (uint32_t i = 0; i < r->n; i++) {
		if (!r->entries[i].key.family)
			continue;	/* a pool's spare id */
		keys[count] = r->pk[i];
		ids[count++] = i;
	}
	if (count && bpf_map_update_batch(pins->fd[PIN_INDEX], keys, ids, &count, NULL)) {
		e = -errno;
		snprintf(err, errlen, "filling %s/index: %s", pins->dir, strerror(-e));
		goto out;
	}
	index_drop_unconfigured(r, pins);
out:
	free(keys);
	free(ids);
	return e;
}

void restore_free(struct restore *r)
{
	keyindex_free(&r->idx);
	keyindex_free(&r->pidx);
	free(r->pk);
	free(r->entries);
	memset(r, 0, sizeof(*r));
}
