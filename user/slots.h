/* SPDX-License-Identifier: MIT */
/*
 * The probe slot protocol, controller side: the only user-space code that
 * writes a slot (include/internal/probe.h has the layout; bpf/lib/slot.h is
 * the BPF side).  Slot i probes backend i.  Its life:
 *
 *   slots_claim()	give it a key (family, protocol, address, port), once
 *   slots_index()	give every claimed slot a source port and enter it
 *			into the table probe_rx finds replies by
 *   slots_arm()	a new probe: a new generation, no result yet
 *   slots_mark_*()	how the probe was sent (resent, maybe lost)
 *   slots_outcome()	the result of the current probe, if there is one
 *   slots_release()	probe nothing any more
 */
#ifndef XDPHC_SLOTS_H
#define XDPHC_SLOTS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <internal/probe.h>

struct slots {
	struct xdphc_slot *s;			/* mmap of the slots map */
	size_t n;
	size_t len;
	struct xdphc_slot_bucket *table;	/* mmap of the slot table */
	uint32_t nbuckets;
	size_t table_len;
	uint16_t sport_lo, sport_count;		/* the source ports, from slots_index() */
	uint16_t lanes;				/* UDP lanes in use (see probe.h), at least 1 */
	uint64_t rng;				/* xorshift state for UDP source ports */
};

/* Buckets of the slot table for n slots (see probe.h): the size of its map. */
uint32_t slots_table_buckets(size_t n);

/*
 * Map the slots map (fd slots_fd, with n entries, or 1 when n is 0) and
 * the slot table (table_fd, slots_table_buckets(n) buckets) that the
 * programs' object created.  0, or -errno with a message in err.
 */
int slots_open(struct slots *sl, int slots_fd, int table_fd, size_t n, char *err,
	       size_t errlen);
void slots_close(struct slots *sl);

/*
 * Slot id probes addr:port (network order) with family and proto, from a
 * random generation; check: its pool, whose UDP payload it sends.
 */
void slots_claim(struct slots *sl, uint32_t id, uint8_t family, uint8_t proto,
		 const __be32 addr[4], __be16 port, uint8_t check);

/*
 * Give each claimed slot its source port and enter it into the slot table
 * (zeroed here).  A slot's port is sport_lo + id % sport_count unless
 * another slot has the same key from it: keys must be unique for replies
 * to find their slot.  0, or -errno with a message in err.
 */
int slots_index(struct slots *sl, uint16_t sport_lo, uint16_t sport_count, char *err,
		size_t errlen);

/*
 * At runtime: enter slot id, claimed with slots_claim(), into the table,
 * with a source port as slots_index() gives it.  0, or -errno with a
 * message in err, and then the slot is unclaimed again.
 */
int slots_add(struct slots *sl, uint32_t id, uint16_t sport_lo, uint16_t sport_count,
	      char *err, size_t errlen);

/* The slot with key k, or -1: the lookup probe_rx makes. */
int64_t slots_find(const struct slots *sl, const struct xdphc_slot_key *k);

/*
 * Slot id probes nothing any more.  Its table entry becomes a tombstone
 * that matches no reply (lookups go on past it) and that a later slots_add()
 * may take; a reply that races the release can record an outcome in the
 * cleared slot, which its next claim overwrites.
 */
void slots_release(struct slots *sl, uint32_t id);

/* What the current probe of a slot came to. */
struct slot_outcome {
	uint8_t kind;			/* enum xdphc_result_kind, never XDPHC_RES_NONE */
	uint8_t icmp_type, icmp_code;	/* with XDPHC_RES_ICMP */
	uint32_t t;			/* rtt_us (SYN-ACK), missing next hop (TX_NO_NEIGH) */
};

/* A UDP slot's new port is no other slot's (slots.c), with several lanes. */
void slots_udp_unclash(struct slots *sl, uint32_t id);

/*
 * The accessors below run for every probe (a million a second): inline.
 *
 * A UDP probe's source port, drawn for each probe: a datagram carries no
 * sequence number, so the port is what an off-path forger must guess (with
 * the cookie, when the payload has one).  The ports of one lane are those
 * equal to it modulo the lanes in use.  xorshift64*: not for secrets, but
 * seeded from getrandom() and never seen off the path.
 */
static inline uint16_t slots_udp_sport(struct slots *sl, const struct xdphc_slot *s)
{
	uint32_t lanes = sl->lanes ? sl->lanes : 1;
	uint32_t per_lane = sl->sport_count / lanes;
	uint32_t lane = (s->flags >> XDPHC_SLOT_LANE_SHIFT) % lanes;
	uint64_t x = sl->rng ? sl->rng : 0x9e3779b97f4a7c15ULL;

	if (!per_lane)
		return s->sport;	/* not indexed yet: no range to draw from */

	x ^= x >> 12;
	x ^= x << 25;
	x ^= x >> 27;
	sl->rng = x;
	x *= 0x2545f4914f6cdd1dULL;
	return sl->sport_lo + (uint16_t)((x >> 32) % per_lane * lanes + lane);
}

/*
 * A new probe on slot id: a new generation, so answers to older ones count
 * as stale, and no result yet.  A first send, not a resend.
 */
static inline void slots_arm(struct slots *sl, uint32_t id)
{
	struct xdphc_slot *s = &sl->s[id];

	if (s->proto == XDPHC_PROTO_UDP) {
		s->sport = slots_udp_sport(sl, s);
		if (sl->lanes > 1)
			slots_udp_unclash(sl, id);
	}
	s->gen++;
	s->result = 0;
	s->flags &= ~XDPHC_SLOT_F_RESEND;
}

/* The probe goes out again, same generation: probe_tx keeps the first send's time. */
static inline void slots_mark_resend(struct slots *sl, uint32_t id)
{
	sl->s[id].flags |= XDPHC_SLOT_F_RESEND;
}

/* Whether the last send of the probe may have been dropped by the device. */
static inline void slots_mark_unsure(struct slots *sl, uint32_t id, bool unsure)
{
	if (unsure)
		sl->s[id].flags |= XDPHC_SLOT_F_UNSURE;
	else
		sl->s[id].flags &= ~XDPHC_SLOT_F_UNSURE;
}

/* In maintenance: the slot keeps its key and table entry, and is not probed. */
static inline void slots_pause(struct slots *sl, uint32_t id, bool paused)
{
	if (paused)
		sl->s[id].flags |= XDPHC_SLOT_F_PAUSED;
	else
		sl->s[id].flags &= ~XDPHC_SLOT_F_PAUSED;
}

/* Whether the cadence probes slot id: claimed, and not paused. */
static inline bool slots_live(const struct slots *sl, uint32_t id)
{
	return sl->s[id].family && !(sl->s[id].flags & XDPHC_SLOT_F_PAUSED);
}

static inline bool slots_unsure(const struct slots *sl, uint32_t id)
{
	return sl->s[id].flags & XDPHC_SLOT_F_UNSURE;
}

/*
 * The outcome of slot id's current probe, if it has one (an outcome of an
 * earlier generation does not count).  The programs write t before they
 * publish result, and result is read first.
 */
static inline bool slots_outcome(const struct slots *sl, uint32_t id, struct slot_outcome *o)
{
	const struct xdphc_slot *s = &sl->s[id];
	uint64_t r = __atomic_load_n(&s->result, __ATOMIC_ACQUIRE);

	if (XDPHC_RESULT_GEN(r) != s->gen || XDPHC_RESULT_KIND(r) == XDPHC_RES_NONE)
		return false;
	o->kind = XDPHC_RESULT_KIND(r);
	o->icmp_type = XDPHC_RESULT_TYPE(r);
	o->icmp_code = XDPHC_RESULT_CODE(r);
	o->t = s->t;
	return true;
}

#endif
