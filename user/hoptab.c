// SPDX-License-Identifier: MIT
#include <stdlib.h>
#include <string.h>
#include <linux/neighbour.h>
#include <internal/hash.h>

#include "hoptab.h"

#define MIN_BUCKETS 256
#define MIN_RECS 256

bool hoptab_usable_state(uint16_t nud)
{
	/* The kernel's NUD_VALID (not exported to userspace): states with an address. */
	return nud & (NUD_PERMANENT | NUD_NOARP | NUD_REACHABLE | NUD_PROBE | NUD_STALE |
		      NUD_DELAY);
}

static uint32_t hash_of(uint8_t family, const uint32_t a[4])
{
	uint64_t h = ((uint64_t)a[0] << 32 | a[1]) * 0x9e3779b97f4a7c15ULL;

	h ^= ((uint64_t)a[2] << 32 | a[3]) * 0xc2b2ae3d27d4eb4fULL;
	return (uint32_t)xdphc_mix64(h ^ family);
}

static bool rec_is(const struct hop_rec *r, uint8_t family, const uint32_t a[4])
{
	return r->family == family && !memcmp(r->a, a, sizeof(r->a));
}

int hoptab_init(struct hoptab *t, struct xdphc_hop *out, uint32_t nhops)
{
	memset(t, 0, sizeof(*t));
	t->out = out;
	t->nhops = nhops;
	t->nbucket = MIN_BUCKETS;
	t->bucket = calloc(t->nbucket, sizeof(*t->bucket));
	t->hop_rec = calloc(nhops ? nhops : 1, sizeof(*t->hop_rec));
	t->free_ids = calloc(nhops ? nhops : 1, sizeof(*t->free_ids));
	if (!t->bucket || !t->hop_rec || !t->free_ids) {
		hoptab_free(t);
		return -1;
	}
	for (uint32_t id = 1; id < nhops; id++)
		t->free_ids[t->free_len++] = id;
	return 0;
}

void hoptab_free(struct hoptab *t)
{
	free(t->rec);
	free(t->bucket);
	free(t->hop_rec);
	free(t->free_ids);
	memset(t, 0, sizeof(*t));
}

/* A bigger table once chains get longer than one record on average. */
static void rehash(struct hoptab *t)
{
	uint32_t n = t->nbucket * 2, *b = calloc(n, sizeof(*b));

	if (!b)
		return;		/* longer chains, still correct */
	for (uint32_t i = 0; i < t->nrec; i++) {
		struct hop_rec *r = &t->rec[i];
		uint32_t h;

		if (!r->family)
			continue;
		h = hash_of(r->family, r->a) & (n - 1);
		r->next = b[h];
		b[h] = i + 1;
	}
	free(t->bucket);
	t->bucket = b;
	t->nbucket = n;
}

struct hop_rec *hoptab_find(struct hoptab *t, uint8_t family, const uint32_t a[4])
{
	uint32_t i = t->bucket[hash_of(family, a) & (t->nbucket - 1)];

	while (i && !rec_is(&t->rec[i - 1], family, a))
		i = t->rec[i - 1].next;
	return i ? &t->rec[i - 1] : NULL;
}

static uint32_t take_rec(struct hoptab *t)
{
	struct hop_rec *r;
	uint32_t i;

	if (t->free_rec) {
		i = t->free_rec - 1;
		t->free_rec = t->rec[i].next;
		return i;
	}
	if (t->nrec == t->cap_rec) {
		uint32_t cap = t->cap_rec ? t->cap_rec * 2 : MIN_RECS;

		r = realloc(t->rec, (size_t)cap * sizeof(*r));
		if (!r)
			return UINT32_MAX;
		t->rec = r;
		t->cap_rec = cap;
	}
	return t->nrec++;
}

static struct hop_rec *add_rec(struct hoptab *t, uint8_t family, const uint32_t a[4])
{
	uint32_t i = take_rec(t), h;
	struct hop_rec *r;

	if (i == UINT32_MAX)
		return NULL;
	r = &t->rec[i];
	memset(r, 0, sizeof(*r));
	r->family = family;
	memcpy(r->a, a, sizeof(r->a));
	h = hash_of(family, a) & (t->nbucket - 1);
	r->next = t->bucket[h];
	t->bucket[h] = i + 1;
	if (++t->live > t->nbucket)
		rehash(t);
	return r;
}

/* A record neither the kernel nor a slot needs any more. */
static void drop_rec(struct hoptab *t, struct hop_rec *r)
{
	uint32_t i = (uint32_t)(r - t->rec), *p = &t->bucket[hash_of(r->family, r->a) &
							     (t->nbucket - 1)];

	while (*p != i + 1)
		p = &t->rec[*p - 1].next;
	*p = r->next;
	memset(r, 0, sizeof(*r));
	r->next = t->free_rec;
	t->free_rec = i + 1;
	t->live--;
}

/* The program reads a hop with one 64-bit load: write it with one store. */
static void publish(struct hoptab *t, const struct hop_rec *r)
{
	struct xdphc_hop h = { .state = XDPHC_HOP_INVALID };
	uint64_t w;

	if (!r->hop)
		return;
	if (r->usable) {
		memcpy(h.dmac, r->mac, sizeof(h.dmac));
		h.state = XDPHC_HOP_VALID;
	}
	memcpy(&w, &h, sizeof(w));
	__atomic_store_n((uint64_t *)&t->out[r->hop], w, __ATOMIC_RELEASE);
}

uint32_t hoptab_ref(struct hoptab *t, uint8_t family, const uint32_t a[4])
{
	struct hop_rec *r = hoptab_find(t, family, a);

	if (!r && !(r = add_rec(t, family, a)))
		return 0;
	if (!r->hop) {
		if (!t->free_len) {
			if (!r->in_kernel)
				drop_rec(t, r);
			return 0;
		}
		r->hop = t->free_ids[t->free_head];
		t->free_head = (t->free_head + 1) % t->nhops;
		t->free_len--;
		t->hop_rec[r->hop] = (uint32_t)(r - t->rec) + 1;
		publish(t, r);
	}
	r->refs++;
	return r->hop;
}

struct hop_rec *hoptab_rec(struct hoptab *t, uint32_t hop)
{
	if (!hop || hop >= t->nhops || !t->hop_rec[hop])
		return NULL;
	return &t->rec[t->hop_rec[hop] - 1];
}

void hoptab_unref(struct hoptab *t, uint32_t hop)
{
	struct hop_rec *r = hoptab_rec(t, hop);
	uint64_t zero = 0;

	if (!r || --r->refs)
		return;
	__atomic_store_n((uint64_t *)&t->out[hop], zero, __ATOMIC_RELEASE);
	t->hop_rec[hop] = 0;
	t->free_ids[(t->free_head + t->free_len) % t->nhops] = hop;
	t->free_len++;
	r->hop = 0;
	if (!r->in_kernel)
		drop_rec(t, r);
}

void hoptab_neigh(struct hoptab *t, uint8_t family, const uint32_t a[4], uint16_t nud,
		  const uint8_t *mac)
{
	struct hop_rec *r = hoptab_find(t, family, a);

	if (!r && !(r = add_rec(t, family, a)))
		return;
	r->in_kernel = 1;
	r->seen = t->mark;
	r->nud = nud;
	r->usable = mac && hoptab_usable_state(nud);
	if (r->usable)
		memcpy(r->mac, mac, sizeof(r->mac));
	publish(t, r);
}

void hoptab_neigh_gone(struct hoptab *t, uint8_t family, const uint32_t a[4])
{
	struct hop_rec *r = hoptab_find(t, family, a);

	if (!r)
		return;
	r->in_kernel = 0;
	r->usable = 0;
	r->nud = 0;
	publish(t, r);
	if (!r->refs)
		drop_rec(t, r);
}

void hoptab_sweep_begin(struct hoptab *t)
{
	t->mark++;
}

void hoptab_sweep_end(struct hoptab *t)
{
	for (uint32_t i = 0; i < t->nrec; i++) {
		struct hop_rec *r = &t->rec[i];

		if (r->family && r->in_kernel && r->seen != t->mark)
			hoptab_neigh_gone(t, r->family, r->a);
	}
}
