// SPDX-License-Identifier: MIT
#include <stdlib.h>
#include <string.h>

#include "shared.h"
#include "vec.h"

#define NONE UINT32_MAX

static void set_member(struct shared *sh, uint32_t id, bool on)
{
	if (on)
		sh->member[id / 64] |= 1ULL << (id % 64);
	else
		sh->member[id / 64] &= ~(1ULL << (id % 64));
}

int shared_init(struct shared *sh, size_t n_ids)
{
	memset(sh, 0, sizeof(*sh));
	sh->member = calloc(n_ids / 64 + 1, sizeof(*sh->member));
	return sh->member ? 0 : -1;
}

void shared_free(struct shared *sh)
{
	for (size_t i = 0; i < sh->ng; i++)
		free(sh->g[i].ids);
	free(sh->g);
	free(sh->hkey);
	free(sh->hval);
	free(sh->member);
	memset(sh, 0, sizeof(*sh));
}

/* ---- id -> group: linear probing, backward-shift deletion ---------------- */

static size_t slot_of(const struct shared *sh, uint32_t id)
{
	return (size_t)((id + 1) * 2654435761U) & (sh->hcap - 1);
}

static size_t find_slot(const struct shared *sh, uint32_t id)
{
	size_t s = slot_of(sh, id);

	while (sh->hkey[s] && sh->hkey[s] != id + 1)
		s = (s + 1) & (sh->hcap - 1);
	return s;
}

static int hash_put(struct shared *sh, uint32_t id, uint32_t group);

static int rehash(struct shared *sh)
{
	uint32_t *ok = sh->hkey, *ov = sh->hval;
	size_t ocap = sh->hcap;

	sh->hcap = ocap ? ocap * 2 : 64;
	sh->hkey = calloc(sh->hcap, sizeof(*sh->hkey));
	sh->hval = calloc(sh->hcap, sizeof(*sh->hval));
	if (!sh->hkey || !sh->hval) {
		free(sh->hkey);
		free(sh->hval);
		sh->hkey = ok;
		sh->hval = ov;
		sh->hcap = ocap;
		return -1;
	}
	sh->hlen = 0;
	for (size_t i = 0; i < ocap; i++)
		if (ok[i])
			hash_put(sh, ok[i] - 1, ov[i]);
	free(ok);
	free(ov);
	return 0;
}

static int hash_put(struct shared *sh, uint32_t id, uint32_t group)
{
	size_t s;

	if ((sh->hlen + 1) * 2 > sh->hcap && rehash(sh))
		return -1;
	s = find_slot(sh, id);
	if (!sh->hkey[s])
		sh->hlen++;
	sh->hkey[s] = id + 1;
	sh->hval[s] = group;
	return 0;
}

static uint32_t hash_get(const struct shared *sh, uint32_t id)
{
	size_t s;

	if (!sh->hcap)
		return NONE;
	s = find_slot(sh, id);
	return sh->hkey[s] ? sh->hval[s] : NONE;
}

static void hash_del(struct shared *sh, uint32_t id)
{
	size_t mask = sh->hcap - 1, i = find_slot(sh, id), j = i;

	if (!sh->hkey[i])
		return;
	sh->hkey[i] = 0;
	sh->hlen--;
	/* Move back every later entry of the run that may live in the hole. */
	for (;;) {
		size_t home;

		j = (j + 1) & mask;
		if (!sh->hkey[j])
			return;
		home = slot_of(sh, sh->hkey[j] - 1);
		if ((j > i && (home <= i || home > j)) || (j < i && home <= i && home > j)) {
			sh->hkey[i] = sh->hkey[j];
			sh->hval[i] = sh->hval[j];
			sh->hkey[j] = 0;
			i = j;
		}
	}
}

/* ---- groups ------------------------------------------------------------- */

static int push(struct shared_group *g, uint32_t id)
{
	if (vec_room((void **)&g->ids, &g->cap, g->n, sizeof(*g->ids)))
		return -1;
	g->ids[g->n++] = id;
	return 0;
}

static uint32_t new_group(struct shared *sh)
{
	for (size_t i = 0; i < sh->ng; i++)
		if (!sh->g[i].n)
			return (uint32_t)i;
	if (vec_room((void **)&sh->g, &sh->gcap, sh->ng, sizeof(*sh->g)))
		return NONE;
	sh->g[sh->ng] = (struct shared_group){ 0 };
	return (uint32_t)sh->ng++;
}

int shared_join(struct shared *sh, uint32_t leader, uint32_t follower)
{
	uint32_t gi = hash_get(sh, leader);

	if (gi == NONE) {
		gi = new_group(sh);
		if (gi == NONE || push(&sh->g[gi], leader) || hash_put(sh, leader, gi)) {
			if (gi != NONE)
				sh->g[gi].n = 0;
			return -1;
		}
		set_member(sh, leader, true);
	}
	if (push(&sh->g[gi], follower))
		return -1;
	if (hash_put(sh, follower, gi)) {
		sh->g[gi].n--;
		return -1;
	}
	set_member(sh, follower, true);
	return 0;
}

/* A group of one is no group: its last member leaves it too. */
static void dissolve_if_alone(struct shared *sh, struct shared_group *g)
{
	if (g->n != 1)
		return;
	hash_del(sh, g->ids[0]);
	set_member(sh, g->ids[0], false);
	g->n = 0;
}

uint32_t shared_leave(struct shared *sh, uint32_t id)
{
	uint32_t gi = hash_get(sh, id), leader;
	struct shared_group *g;

	if (gi == NONE)
		return NONE;
	g = &sh->g[gi];
	leader = g->ids[0];
	for (uint32_t k = 0; k < g->n; k++) {
		if (g->ids[k] != id)
			continue;
		/* Order kept: the next member leads, the one that joined first. */
		memmove(&g->ids[k], &g->ids[k + 1], (g->n - k - 1) * sizeof(*g->ids));
		g->n--;
		break;
	}
	hash_del(sh, id);
	set_member(sh, id, false);
	if (id != leader)
		leader = NONE;
	else
		leader = g->ids[0];
	dissolve_if_alone(sh, g);
	return leader;
}

const struct shared_group *shared_group_of(const struct shared *sh, uint32_t id)
{
	uint32_t gi = hash_get(sh, id);

	return gi == NONE ? NULL : &sh->g[gi];
}

uint32_t shared_leader(const struct shared *sh, uint32_t id)
{
	const struct shared_group *g;

	if (!shared_member(sh, id))
		return id;
	g = shared_group_of(sh, id);
	return g ? g->ids[0] : id;
}
