// SPDX-License-Identifier: MIT
#include <arpa/inet.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>

#include "slots.h"

uint32_t slots_table_buckets(size_t n)
{
	uint64_t entries = ((uint64_t)n * XDPHC_SLOT_LOAD_DEN + XDPHC_SLOT_LOAD_NUM - 1) /
			   XDPHC_SLOT_LOAD_NUM;
	uint64_t b = (entries + XDPHC_BUCKET_ENTRIES - 1) / XDPHC_BUCKET_ENTRIES;

	return b ? (uint32_t)b : 1;
}

static int same_tuple(const struct xdphc_slot *a, const struct xdphc_slot *b)
{
	return a->family == b->family && a->port == b->port && a->sport == b->sport &&
	       !memcmp(a->addr, b->addr, sizeof(a->addr));
}

enum place { PLACED, TAKEN, FULL };

/* Put slot i at the first free entry from its home bucket on. */
static enum place place(struct xdphc_slot *slots, uint32_t i, struct xdphc_slot_bucket *tab,
			uint32_t nbuckets)
{
	const struct xdphc_slot *s = &slots[i];
	uint64_t h = xdphc_slot_hash(s->addr, s->port, s->sport);
	uint32_t b = xdphc_slot_home(h, nbuckets), tag = xdphc_slot_tag(h);

	for (uint32_t n = 0; n < XDPHC_BUCKET_PROBES; n++) {
		uint32_t *e = tab[b].e;

		for (uint32_t j = 0; j < XDPHC_BUCKET_ENTRIES; j++) {
			if (!e[j]) {
				e[j] = xdphc_slot_entry(h, i);
				return PLACED;
			}
			if (e[j] >> XDPHC_SLOT_BITS == tag &&
			    same_tuple(&slots[(e[j] & XDPHC_SLOTS_MAX) - 1], s))
				return TAKEN;
		}
		if (++b >= nbuckets)
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

int slots_index(struct xdphc_slot *slots, size_t n, uint16_t sport_lo, uint16_t sport_count,
		struct xdphc_slot_bucket *tab, uint32_t nbuckets, char *err, size_t errlen)
{
	char t[64];

	if (n > XDPHC_SLOTS_MAX) {
		snprintf(err, errlen, "%zu backends: at most %u are supported", n,
			 XDPHC_SLOTS_MAX);
		return -1;
	}
	memset(tab, 0, (size_t)nbuckets * sizeof(*tab));
	for (uint32_t i = 0; i < n; i++) {
		enum place p = TAKEN;

		/* An id no backend has yet (a pool's room to grow): nothing to find. */
		if (!slots[i].family)
			continue;
		for (uint32_t k = 0; k < sport_count && p == TAKEN; k++) {
			slots[i].sport = sport_lo + (uint16_t)((i + k) % sport_count);
			p = place(slots, i, tab, nbuckets);
		}
		if (p == PLACED)
			continue;
		format_target(&slots[i], t, sizeof(t));
		if (p == TAKEN)
			snprintf(err, errlen, "%s is probed by more backends than there are "
				 "source ports (%u)", t, sport_count);
		else
			snprintf(err, errlen, "the slot table of %u buckets overflowed at %s",
				 nbuckets, t);
		return -1;
	}
	return 0;
}

int64_t slots_find(const struct xdphc_slot *slots, const struct xdphc_slot_bucket *tab,
		   uint32_t nbuckets, const __be32 addr[4], __be16 port, uint16_t sport)
{
	uint64_t h = xdphc_slot_hash(addr, port, sport);
	uint32_t b = xdphc_slot_home(h, nbuckets), tag = xdphc_slot_tag(h);

	for (uint32_t n = 0; n < XDPHC_BUCKET_PROBES; n++) {
		for (uint32_t j = 0; j < XDPHC_BUCKET_ENTRIES; j++) {
			uint32_t e = tab[b].e[j];
			const struct xdphc_slot *s;

			if (!e)
				return -1;
			s = &slots[(e & XDPHC_SLOTS_MAX) - 1];
			if (e >> XDPHC_SLOT_BITS == tag && s->port == port && s->sport == sport &&
			    !memcmp(s->addr, addr, sizeof(s->addr)))
				return (e & XDPHC_SLOTS_MAX) - 1;
		}
		if (++b >= nbuckets)
			b = 0;
	}
	return -1;
}
