/* SPDX-License-Identifier: MIT */
/*
 * The BPF view of a probe slot (include/internal/probe.h; the controller's
 * side is user/slots.h): finding it from a reply, and every store the
 * programs make into it, sending (probe_tx) and recording an outcome
 * (probe_rx).
 */
#ifndef XDPHC_BPF_SLOT_H
#define XDPHC_BPF_SLOT_H

#include "maps.h"

/*
 * A reply's key (struct xdphc_slot_key in probe.h): its tuple seen from the
 * probe it answers, and the family and protocol of that probe.
 */
static __always_inline int slot_is(const struct xdphc_slot *s, const struct xdphc_slot_key *k)
{
	return xdphc_slot_is(s, k);
}

struct slot_search {
	const struct xdphc_slot_key *key;
	struct xdphc_slot *found;
	__u32 bucket;
	__u32 tag;
	int done;
};

/* One bucket of a lookup (a bpf_loop callback: verified once, not per bucket). */
static long slot_search_bucket(__u32 n, void *ctx)
{
	struct slot_search *q = ctx;
	struct xdphc_slot_bucket *bk = bpf_map_lookup_elem(&slot_table, &q->bucket);

	(void)n;
	if (!bk)
		return 1;
	for (__u32 j = 0; j < XDPHC_BUCKET_ENTRIES; j++) {
		__u32 e = bk->e[j], idx;
		struct xdphc_slot *s;

		if (!e)
			return 1;	/* the key would have been here */
		if (e >> XDPHC_SLOT_BITS != q->tag)
			continue;
		idx = (e & XDPHC_SLOTS_MAX) - 1;
		s = bpf_map_lookup_elem(&slots, &idx);
		if (s && slot_is(s, q->key)) {
			q->found = s;
			return 1;
		}
	}
	if (++q->bucket >= cfg.nbuckets)
		q->bucket = 0;
	return 0;
}

/*
 * The slot probing k's tuple, or NULL: then the packet is not a reply to
 * any probe and must pass untouched.  See the slot table in probe.h.
 */
static __always_inline struct xdphc_slot *slot_find(const struct xdphc_slot_key *k)
{
	__u64 h = xdphc_slot_hash(k);
	struct slot_search q = {
		.key = k,
		.bucket = xdphc_slot_home(h, cfg.nbuckets),
		.tag = xdphc_slot_tag(h),
	};

	bpf_loop(XDPHC_BUCKET_PROBES, slot_search_bucket, &q, 0);
	return q.found;
}

/* Microseconds, wrapping: RTTs are differences of two of these. */
static __always_inline __u32 now_us(void)
{
	return (__u32)(bpf_ktime_get_ns() / 1000);
}

/* The current probe leaves now.  A resend keeps the first send's time: the RTT is not flattered. */
static __always_inline void slot_sent(struct xdphc_slot *s)
{
	if (!(s->flags & XDPHC_SLOT_F_RESEND))
		s->t = now_us();
}

/* The next hop probe_tx found no neighbour for, for the controller to resolve. */
static __always_inline void slot_set_hop(struct xdphc_slot *s, __be32 hop)
{
	s->t = hop;
}

/* probe_tx could not send the current probe (kind: XDPHC_RES_TX_*). */
static __always_inline void slot_tx_failed(struct xdphc_slot *s, __u32 kind)
{
	s->result = XDPHC_RESULT(s->gen, kind, 0, 0);
}

/*
 * An answer to generation gen of the probe.  The first answer wins;
 * retransmissions and late copies are ignored.  t held the send time: it
 * becomes the RTT before result is published.
 */
static __always_inline void slot_record(struct xdphc_slot *s, __u32 gen, __u32 kind,
					__u8 type, __u8 code)
{
	__u64 old = s->result;

	if (XDPHC_RESULT_GEN(old) == gen && XDPHC_RESULT_KIND(old) != XDPHC_RES_NONE) {
		count(XDPHC_CNT_RX_DUP);
		return;
	}
	s->t = now_us() - s->t;
	barrier();	/* rtt before result: the controller reads result first */
	s->result = XDPHC_RESULT(gen, kind, type, code);
}

#endif
