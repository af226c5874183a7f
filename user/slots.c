// SPDX-License-Identifier: MIT
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <stdbool.h>
#include <string.h>
#include <arpa/inet.h>
#include <sys/mman.h>
#include <sys/random.h>
#include <sys/socket.h>

#include "bpfmap.h"
#include "slots.h"

uint32_t slots_table_buckets(size_t n)
{
	uint64_t entries = ((uint64_t)n * XDPHC_SLOT_LOAD_DEN + XDPHC_SLOT_LOAD_NUM - 1) /
			   XDPHC_SLOT_LOAD_NUM;
	uint64_t b = (entries + XDPHC_BUCKET_ENTRIES - 1) / XDPHC_BUCKET_ENTRIES;

	return b ? (uint32_t)b : 1;
}

int slots_open(struct slots *sl, int slots_fd, int table_fd, size_t n, char *err,
	       size_t errlen)
{
	int e;

	memset(sl, 0, sizeof(*sl));
	sl->n = n;
	sl->nbuckets = slots_table_buckets(n);
	sl->lanes = 1;
	if (getrandom(&sl->rng, sizeof(sl->rng), 0) != sizeof(sl->rng) || !sl->rng)
		sl->rng = 0x9e3779b97f4a7c15ULL ^ (uint64_t)random();
	sl->s = bpfmap_mmap(slots_fd, sizeof(*sl->s), n ? n : 1, PROT_READ | PROT_WRITE, &sl->len);
	if (sl->s)
		sl->table = bpfmap_mmap(table_fd, sizeof(*sl->table), sl->nbuckets,
					PROT_READ | PROT_WRITE, &sl->table_len);
	if (sl->table)
		return 0;
	e = -errno;
	snprintf(err, errlen, "mmap of probe maps: %s", strerror(-e));
	slots_close(sl);
	return e;
}

void slots_close(struct slots *sl)
{
	bpfmap_munmap(sl->s, sl->len);
	bpfmap_munmap(sl->table, sl->table_len);
	memset(sl, 0, sizeof(*sl));
}

void slots_claim(struct slots *sl, uint32_t id, uint8_t family, uint8_t proto,
		 const __be32 addr[4], __be16 port, uint8_t check)
{
	struct xdphc_slot *s = &sl->s[id];

	memset(s, 0, sizeof(*s));
	memcpy(s->addr, addr, sizeof(s->addr));
	s->port = port;
	s->family = family;
	s->proto = proto;
	s->check = check;
	s->gen = (uint32_t)random();
}

static uint8_t lane_of(const struct xdphc_slot *s)
{
	return s->flags >> XDPHC_SLOT_LANE_SHIFT;
}

static void key_of(const struct xdphc_slot *s, struct xdphc_slot_key *k)
{
	memcpy(k->addr, s->addr, sizeof(k->addr));
	k->port = s->port;
	k->sport = s->sport;
	k->family = s->family;
	k->proto = s->proto;
}

/* Whether table entry e (not 0) names slot id; tombstones name none. */
static bool entry_is(uint32_t e, uint32_t id)
{
	return e != XDPHC_SLOT_TOMBSTONE && (e & XDPHC_SLOTS_MAX) - 1 == id;
}

/* Whether table entry e is a live one with tag and key k. */
static bool entry_has(const struct slots *sl, uint32_t e, uint32_t tag,
		      const struct xdphc_slot_key *k)
{
	return e != XDPHC_SLOT_TOMBSTONE && e >> XDPHC_SLOT_BITS == tag &&
	       xdphc_slot_is(&sl->s[(e & XDPHC_SLOTS_MAX) - 1], k);
}

/*
 * Whether table entry e is a slot that replies could not tell from slot
 * id: the same key, or for UDP, whose ports change with every probe, the
 * same target in the same lane.
 */
static bool entry_clashes(const struct slots *sl, uint32_t e, uint32_t tag,
			  const struct xdphc_slot_key *k, uint32_t id)
{
	const struct xdphc_slot *o, *s = &sl->s[id];

	if (k->proto != XDPHC_PROTO_UDP)
		return entry_has(sl, e, tag, k);
	if (e == XDPHC_SLOT_TOMBSTONE || e >> XDPHC_SLOT_BITS != tag)
		return false;
	o = &sl->s[(e & XDPHC_SLOTS_MAX) - 1];
	return o != s && o->proto == s->proto && o->family == s->family &&
	       o->port == s->port && !memcmp(o->addr, s->addr, sizeof(o->addr)) &&
	       lane_of(o) == lane_of(s);
}

/*
 * The table entry of a claimed, indexed slot becomes a tombstone before the
 * slot is cleared: a lookup racing it finds the slot or nothing, and its
 * place can be taken again (ids are reused at runtime).
 */
static void unplace(struct slots *sl, uint32_t id)
{
	struct xdphc_slot_key k;
	uint64_t h;
	uint32_t b;

	key_of(&sl->s[id], &k);
	h = xdphc_slot_hash(&k);
	b = xdphc_slot_home(h, sl->nbuckets);
	for (uint32_t n = 0; n < XDPHC_BUCKET_PROBES; n++) {
		uint32_t *e = sl->table[b].e;

		for (uint32_t j = 0; j < XDPHC_BUCKET_ENTRIES; j++) {
			if (!e[j])
				return;
			if (entry_is(e[j], id)) {
				__atomic_store_n(&e[j], XDPHC_SLOT_TOMBSTONE, __ATOMIC_RELEASE);
				return;
			}
		}
		if (++b >= sl->nbuckets)
			b = 0;
	}
}

void slots_release(struct slots *sl, uint32_t id)
{
	if (sl->s[id].family && sl->table)
		unplace(sl, id);
	memset(&sl->s[id], 0, sizeof(sl->s[id]));
}

enum place { PLACED, TAKEN, FULL };

/*
 * Put slot id at the first free entry from its home bucket on: the first
 * tombstone, or else the empty entry that ends the search (the whole
 * search is made, for a slot with the same key would be found first).
 */
static enum place place(struct slots *sl, uint32_t id)
{
	struct xdphc_slot_key k;
	uint32_t *tomb = NULL;
	uint64_t h;
	uint32_t b, tag;

	key_of(&sl->s[id], &k);
	h = xdphc_slot_hash(&k);
	b = xdphc_slot_home(h, sl->nbuckets);
	tag = xdphc_slot_tag(h);
	for (uint32_t n = 0; n < XDPHC_BUCKET_PROBES; n++) {
		uint32_t *e = sl->table[b].e;

		for (uint32_t j = 0; j < XDPHC_BUCKET_ENTRIES; j++) {
			if (!e[j]) {
				if (!tomb)
					tomb = &e[j];
				__atomic_store_n(tomb, xdphc_slot_entry(h, id), __ATOMIC_RELEASE);
				return PLACED;
			}
			if (e[j] == XDPHC_SLOT_TOMBSTONE && !tomb)
				tomb = &e[j];
			else if (entry_clashes(sl, e[j], tag, &k, id))
				return TAKEN;
		}
		if (++b >= sl->nbuckets)
			b = 0;
	}
	if (!tomb)
		return FULL;
	__atomic_store_n(tomb, xdphc_slot_entry(h, id), __ATOMIC_RELEASE);
	return PLACED;
}

static void format_target(const struct xdphc_slot *s, char *buf, size_t len)
{
	char a[INET6_ADDRSTRLEN] = "?";

	inet_ntop(s->family == AF_INET6 ? AF_INET6 : AF_INET, s->addr, a, sizeof(a));
	snprintf(buf, len, s->family == AF_INET6 ? "[%s]:%u" : "%s:%u", a, ntohs(s->port));
}

/*
 * A UDP slot takes the first lane that no other slot probing its target
 * over UDP has; its port is drawn at each probe.
 */
static enum place enter_udp(struct slots *sl, uint32_t id, uint16_t sport_lo)
{
	struct xdphc_slot *s = &sl->s[id];
	enum place p = TAKEN;

	for (uint32_t lane = 0; lane < XDPHC_SLOT_LANES && lane < sl->sport_count && p == TAKEN;
	     lane++) {
		s->flags = (s->flags & ((1 << XDPHC_SLOT_LANE_SHIFT) - 1)) |
			   lane << XDPHC_SLOT_LANE_SHIFT;
		s->sport = sport_lo + lane;
		p = place(sl, id);
	}
	if (p == PLACED && lane_of(s) >= sl->lanes)
		sl->lanes = lane_of(s) + 1;
	return p;
}

/*
 * Give slot id a source port and enter it: its own port (sport_lo + id %
 * sport_count) unless another slot has the same key from it.
 */
static int enter(struct slots *sl, uint32_t id, uint16_t sport_lo, uint16_t sport_count,
		 char *err, size_t errlen)
{
	enum place p = TAKEN;
	char t[64];

	sl->sport_lo = sport_lo;
	sl->sport_count = sport_count;
	if (sl->s[id].proto == XDPHC_PROTO_UDP)
		p = enter_udp(sl, id, sport_lo);
	for (uint32_t k = 0; k < sport_count && p == TAKEN &&
	     sl->s[id].proto != XDPHC_PROTO_UDP; k++) {
		sl->s[id].sport = sport_lo + (uint16_t)((id + k) % sport_count);
		p = place(sl, id);
	}
	if (p == PLACED)
		return 0;
	format_target(&sl->s[id], t, sizeof(t));
	if (p == TAKEN && sl->s[id].proto == XDPHC_PROTO_UDP) {
		snprintf(err, errlen, "%s is probed over UDP by more than %u pools with "
			 "different checks", t,
			 sport_count < XDPHC_SLOT_LANES ? sport_count : XDPHC_SLOT_LANES);
		return -EADDRINUSE;
	}
	if (p == TAKEN) {
		snprintf(err, errlen, "%s is probed by more backends than there are "
			 "source ports (%u)", t, sport_count);
		return -EADDRINUSE;
	}
	snprintf(err, errlen, "the slot table of %u buckets overflowed at %s", sl->nbuckets, t);
	return -ENOSPC;
}

int slots_index(struct slots *sl, uint16_t sport_lo, uint16_t sport_count, char *err,
		size_t errlen)
{
	int e;

	if (sl->n > XDPHC_SLOTS_LIMIT) {
		snprintf(err, errlen, "%zu backends: at most %u are supported", sl->n,
			 XDPHC_SLOTS_LIMIT);
		return -E2BIG;
	}
	memset(sl->table, 0, (size_t)sl->nbuckets * sizeof(*sl->table));
	sl->lanes = 1;
	for (uint32_t i = 0; i < sl->n; i++) {
		/* An id no backend has yet (a pool's room to grow): nothing to find. */
		if (!sl->s[i].family)
			continue;
		e = enter(sl, i, sport_lo, sport_count, err, errlen);
		if (e)
			return e;
	}
	return 0;
}

int slots_add(struct slots *sl, uint32_t id, uint16_t sport_lo, uint16_t sport_count,
	      char *err, size_t errlen)
{
	int e = enter(sl, id, sport_lo, sport_count, err, errlen);

	if (e)
		memset(&sl->s[id], 0, sizeof(sl->s[id]));
	return e;
}

/*
 * With several lanes, a slot's new port may still be another slot's of an
 * earlier lane count (lanes grow when a pool is added at runtime): draw
 * again until no other slot of the target holds it.
 */
void slots_udp_unclash(struct slots *sl, uint32_t id)
{
	struct xdphc_slot *s = &sl->s[id];
	struct xdphc_slot_key k;

	for (int tries = 0; tries < 8; tries++) {
		int64_t o;

		key_of(s, &k);
		o = slots_find(sl, &k);
		if (o < 0 || o == id)
			return;
		s->sport = slots_udp_sport(sl, s);
	}
}

int64_t slots_find(const struct slots *sl, const struct xdphc_slot_key *k)
{
	uint64_t h = xdphc_slot_hash(k);
	uint32_t b = xdphc_slot_home(h, sl->nbuckets), tag = xdphc_slot_tag(h);

	for (uint32_t n = 0; n < XDPHC_BUCKET_PROBES; n++) {
		for (uint32_t j = 0; j < XDPHC_BUCKET_ENTRIES; j++) {
			uint32_t e = sl->table[b].e[j];

			if (!e)
				return -1;
			if (entry_has(sl, e, tag, k))
				return (e & XDPHC_SLOTS_MAX) - 1;
		}
		if (++b >= sl->nbuckets)
			b = 0;
	}
	return -1;
}
