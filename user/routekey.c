// SPDX-License-Identifier: MIT
#include <stdlib.h>
#include <string.h>
#include <arpa/inet.h>
#include <internal/hash.h>

#include "routekey.h"

#define MIN_CAP 64

void routekey_mask(const uint32_t a[4], uint8_t len, uint32_t out[4])
{
	for (int i = 0; i < 4; i++) {
		int bits = (int)len - 32 * i;

		if (bits >= 32)
			out[i] = a[i];
		else if (bits <= 0)
			out[i] = 0;
		else
			out[i] = a[i] & htonl(~0U << (32 - bits));
	}
}

static uint64_t hash_addr(const uint32_t a[4], uint64_t more)
{
	uint64_t h = ((uint64_t)a[0] << 32 | a[1]) * 0x9e3779b97f4a7c15ULL;

	h ^= ((uint64_t)a[2] << 32 | a[3]) * 0xc2b2ae3d27d4eb4fULL;
	return xdphc_mix64(h ^ more);
}

/* ---- prefix set -------------------------------------------------------- */

static bool pfx_is(const struct pfx_entry *e, uint8_t family, const uint32_t a[4], uint8_t len)
{
	return e->family == family && e->len == len && !memcmp(e->a, a, sizeof(e->a));
}

static size_t pfx_slot(const struct pfxset *ps, uint8_t family, const uint32_t a[4],
		       uint8_t len)
{
	size_t i = hash_addr(a, (uint64_t)family << 8 | len) & (ps->cap - 1);

	while (ps->e[i].used && !pfx_is(&ps->e[i], family, a, len))
		i = (i + 1) & (ps->cap - 1);
	return i;
}

static int pfx_grow(struct pfxset *ps)
{
	size_t old_cap = ps->cap, cap = old_cap ? old_cap * 2 : MIN_CAP;
	struct pfx_entry *old = ps->e, *e = calloc(cap, sizeof(*e));

	if (!e)
		return -1;
	ps->e = e;
	ps->cap = cap;
	for (size_t i = 0; i < old_cap; i++)
		if (old[i].used)
			ps->e[pfx_slot(ps, old[i].family, old[i].a, old[i].len)] = old[i];
	free(old);
	return 0;
}

void pfxset_free(struct pfxset *ps)
{
	free(ps->e);
	memset(ps, 0, sizeof(*ps));
}

void pfxset_clear(struct pfxset *ps)
{
	if (ps->e)
		memset(ps->e, 0, ps->cap * sizeof(*ps->e));
	ps->n = 0;
	memset(ps->lens, 0, sizeof(ps->lens));
}

int pfxset_add(struct pfxset *ps, uint8_t family, const uint32_t a[4], uint8_t len)
{
	uint32_t m[4];
	size_t i;

	if (len > routekey_bits(family))
		len = routekey_bits(family);
	routekey_mask(a, len, m);
	if ((ps->n + 1) * 2 > ps->cap && pfx_grow(ps))
		return -1;
	i = pfx_slot(ps, family, m, len);
	if (ps->e[i].used)
		return 0;
	ps->e[i] = (struct pfx_entry){ .family = family, .len = len, .used = 1 };
	memcpy(ps->e[i].a, m, sizeof(m));
	ps->n++;
	ps->lens[routekey_fam(family)][len / 64] |= 1ULL << (len % 64);
	return 0;
}

int pfxset_lpm(const struct pfxset *ps, uint8_t family, const uint32_t a[4])
{
	const uint64_t *lens = ps->lens[routekey_fam(family)];
	uint32_t m[4];

	if (!ps->n)
		return -1;
	for (int len = routekey_bits(family); len >= 0; len--) {
		if (!(lens[len / 64] >> (len % 64) & 1))
			continue;
		routekey_mask(a, (uint8_t)len, m);
		if (ps->e[pfx_slot(ps, family, m, (uint8_t)len)].used)
			return len;
	}
	return -1;
}

void pfxset_finish(struct pfxset *ps)
{
	uint32_t m[4];

	for (size_t i = 0; i < ps->cap; i++) {
		const struct pfx_entry *e = &ps->e[i];
		const uint64_t *lens = ps->lens[routekey_fam(e->family)];

		if (!e->used)
			continue;
		for (int len = 0; len < e->len; len++) {
			struct pfx_entry *outer;

			if (!(lens[len / 64] >> (len % 64) & 1))
				continue;
			routekey_mask(e->a, (uint8_t)len, m);
			outer = &ps->e[pfx_slot(ps, e->family, m, (uint8_t)len)];
			if (outer->used)
				outer->inner = 1;
		}
	}
}

bool pfxset_leaf(const struct pfxset *ps, uint8_t family, const uint32_t a[4], uint8_t len)
{
	const struct pfx_entry *e;

	if (!ps->n)
		return false;
	e = &ps->e[pfx_slot(ps, family, a, len)];
	return e->used && !e->inner;
}

/* ---- keys ---------------------------------------------------------------- */

void routekey_free(struct routekey *rk)
{
	pfxset_free(&rk->prefixes);
	memset(rk, 0, sizeof(*rk));
}

void routekey_clear(struct routekey *rk)
{
	pfxset_clear(&rk->prefixes);
	memset(rk->ports, 0, sizeof(rk->ports));
}

int routekey_route(struct routekey *rk, uint8_t family, const uint32_t dst[4], uint8_t len)
{
	return pfxset_add(&rk->prefixes, family, dst, len);
}

void routekey_finish(struct routekey *rk)
{
	pfxset_finish(&rk->prefixes);
}

bool routekey_leaf(const struct routekey *rk, const struct route_key *k)
{
	if (k->exact || k->len == ROUTEKEY_NONE || rk->ports[routekey_fam(k->family)])
		return false;
	return pfxset_leaf(&rk->prefixes, k->family, k->a, k->len);
}

bool routekey_holds(const struct route_key *k, uint8_t family, const uint32_t a[4])
{
	uint32_t m[4];

	if (k->family != family || k->len == ROUTEKEY_NONE)
		return false;
	routekey_mask(a, k->len, m);
	return !memcmp(m, k->a, sizeof(m));
}

int routekey_rule(struct routekey *rk, const struct rule_sel *r)
{
	/*
	 * Every other selector (source, iif, oif, fwmark, uid, tos, l3mdev)
	 * is the same for all of our probes; suppress_prefixlength and
	 * goto act on what the lookup matched, which the key already fixes.
	 */
	if (r->ports)
		rk->ports[routekey_fam(r->family)] = true;
	if (!r->dst_len)
		return 0;
	return pfxset_add(&rk->prefixes, r->family, r->dst, r->dst_len);
}

void routekey_of(const struct routekey *rk, uint8_t family, const uint32_t a[4],
		 uint8_t proto, uint16_t sport, uint16_t dport, bool exact,
		 struct route_key *k)
{
	int len = exact ? routekey_bits(family) : pfxset_lpm(&rk->prefixes, family, a);

	memset(k, 0, sizeof(*k));
	k->family = family;
	k->exact = exact;
	k->len = len < 0 ? ROUTEKEY_NONE : (uint8_t)len;
	if (len >= 0)
		routekey_mask(a, (uint8_t)len, k->a);
	if (rk->ports[routekey_fam(family)]) {
		k->proto = proto;
		k->sport = sport;
		k->dport = dport;
	}
}

/* ---- route cache --------------------------------------------------------- */

static bool key_eq(const struct route_key *a, const struct route_key *b)
{
	return a->family == b->family && a->len == b->len && a->exact == b->exact &&
	       a->proto == b->proto && a->sport == b->sport && a->dport == b->dport &&
	       !memcmp(a->a, b->a, sizeof(a->a));
}

static size_t ent_slot(const struct rcache *c, const struct route_key *k)
{
	uint64_t more = (uint64_t)k->family << 56 | (uint64_t)k->len << 48 |
			(uint64_t)k->exact << 40 | (uint64_t)k->proto << 32 |
			(uint64_t)k->sport << 16 | k->dport;
	size_t i = hash_addr(k->a, more) & (c->cap - 1);

	while (c->e[i].used && !key_eq(&c->e[i].k, k))
		i = (i + 1) & (c->cap - 1);
	return i;
}

static int rcache_grow(struct rcache *c)
{
	size_t old_cap = c->cap, cap = old_cap ? old_cap * 2 : MIN_CAP;
	struct route_ent *old = c->e, *e = calloc(cap, sizeof(*e));

	if (!e)
		return -1;
	c->e = e;
	c->cap = cap;
	for (size_t i = 0; i < old_cap; i++)
		if (old[i].used)
			c->e[ent_slot(c, &old[i].k)] = old[i];
	free(old);
	return 0;
}

void rcache_free(struct rcache *c)
{
	free(c->e);
	memset(c, 0, sizeof(*c));
}

void rcache_clear(struct rcache *c)
{
	if (c->e)
		memset(c->e, 0, c->cap * sizeof(*c->e));
	c->n = 0;
}

struct route_res *rcache_find(const struct rcache *c, const struct route_key *k)
{
	size_t i;

	if (!c->n)
		return NULL;
	i = ent_slot(c, k);
	return c->e[i].used ? &c->e[i].r : NULL;
}

struct route_res *rcache_add(struct rcache *c, const struct route_key *k)
{
	size_t i;

	if ((c->n + 1) * 2 > c->cap && rcache_grow(c))
		return NULL;
	i = ent_slot(c, k);
	c->e[i] = (struct route_ent){ .k = *k, .used = 1 };
	c->n++;
	return &c->e[i].r;
}
