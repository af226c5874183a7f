// SPDX-License-Identifier: MIT
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <arpa/inet.h>
#include <sys/mman.h>
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
		 const __be32 addr[4], __be16 port)
{
	struct xdphc_slot *s = &sl->s[id];

	memset(s, 0, sizeof(*s));
	memcpy(s->addr, addr, sizeof(s->addr));
	s->port = port;
	s->family = family;
	s->proto = proto;
	s->gen = (uint32_t)random();
}

void slots_release(struct slots *sl, uint32_t id)
{
	memset(&sl->s[id], 0, sizeof(sl->s[id]));
}

static void key_of(const struct xdphc_slot *s, struct xdphc_slot_key *k)
{
	memcpy(k->addr, s->addr, sizeof(k->addr));
	k->port = s->port;
	k->sport = s->sport;
	k->family = s->family;
	k->proto = s->proto;
}

/* The slot of table entry e (not 0). */
static const struct xdphc_slot *entry_slot(const struct slots *sl, uint32_t e)
{
	return &sl->s[(e & XDPHC_SLOTS_MAX) - 1];
}

enum place { PLACED, TAKEN, FULL };

/* Put slot id at the first free entry from its home bucket on. */
static enum place place(struct slots *sl, uint32_t id)
{
	struct xdphc_slot_key k;
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
				e[j] = xdphc_slot_entry(h, id);
				return PLACED;
			}
			if (e[j] >> XDPHC_SLOT_BITS == tag &&
			    xdphc_slot_is(entry_slot(sl, e[j]), &k))
				return TAKEN;
		}
		if (++b >= sl->nbuckets)
			b = 0;
	}
	return FULL;
}

static void format_target(const struct xdphc_slot *s, char *buf, size_t len)
{
	char a[INET6_ADDRSTRLEN] = "?";

	inet_ntop(s->family == AF_INET6 ? AF_INET6 : AF_INET, s->addr, a, sizeof(a));
	snprintf(buf, len, s->family == AF_INET6 ? "[%s]:%u" : "%s:%u", a, ntohs(s->port));
}

int slots_index(struct slots *sl, uint16_t sport_lo, uint16_t sport_count, char *err,
		size_t errlen)
{
	char t[64];

	if (sl->n > XDPHC_SLOTS_MAX) {
		snprintf(err, errlen, "%zu backends: at most %u are supported", sl->n,
			 XDPHC_SLOTS_MAX);
		return -E2BIG;
	}
	memset(sl->table, 0, (size_t)sl->nbuckets * sizeof(*sl->table));
	for (uint32_t i = 0; i < sl->n; i++) {
		enum place p = TAKEN;

		/* An id no backend has yet (a pool's room to grow): nothing to find. */
		if (!sl->s[i].family)
			continue;
		for (uint32_t k = 0; k < sport_count && p == TAKEN; k++) {
			sl->s[i].sport = sport_lo + (uint16_t)((i + k) % sport_count);
			p = place(sl, i);
		}
		if (p == PLACED)
			continue;
		format_target(&sl->s[i], t, sizeof(t));
		if (p == TAKEN) {
			snprintf(err, errlen, "%s is probed by more backends than there are "
				 "source ports (%u)", t, sport_count);
			return -EADDRINUSE;
		}
		snprintf(err, errlen, "the slot table of %u buckets overflowed at %s",
			 sl->nbuckets, t);
		return -ENOSPC;
	}
	return 0;
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
			if (e >> XDPHC_SLOT_BITS == tag && xdphc_slot_is(entry_slot(sl, e), k))
				return (e & XDPHC_SLOTS_MAX) - 1;
		}
		if (++b >= sl->nbuckets)
			b = 0;
	}
	return -1;
}
