/* SPDX-License-Identifier: MIT */
/*
 * Does a UDP reply hold what its check expects (expect's bytes, or the
 * probe's cookie digits)?  The reply is copied out of the packet into a
 * per-CPU scratch buffer, where a bounded search can index it freely.
 */
#ifndef XDPHC_BPF_SEARCH_H
#define XDPHC_BPF_SEARCH_H

#include "maps.h"

/* The reply's first bytes searched; larger than any payload we send. */
#define SEARCH_HAY_MAX XDPHC_PAYLOAD_MAX
#define SEARCH_HAY_MASK 2047	/* hay index mask: start + needle stays inside */
_Static_assert(SEARCH_HAY_MAX + XDPHC_EXPECT_MAX <= SEARCH_HAY_MASK + 1, "hay size");

struct rx_scratch {
	__u8 hay[SEARCH_HAY_MASK + 1];
	__u8 needle[XDPHC_EXPECT_MAX];
};

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__type(key, __u32);
	__type(value, struct rx_scratch);
	__uint(max_entries, 1);
} rx_scratch SEC(".maps");

struct search {
	__u32 hlen;
	__u32 nlen;
	int found;
};

/* Does the needle start at hay[i]?  A bpf_loop callback: verified once, run per start. */
static long search_at(__u32 i, void *ctx)
{
	struct search *q = ctx;
	struct rx_scratch *sc;
	__u32 zero = 0;

	if (i + q->nlen > q->hlen)
		return 1;
	sc = bpf_map_lookup_elem(&rx_scratch, &zero);
	if (!sc)
		return 1;
	for (__u32 j = 0; j < XDPHC_EXPECT_MAX; j++) {
		if (j >= q->nlen)
			break;
		if (sc->hay[(i + j) & SEARCH_HAY_MASK] != sc->needle[j])
			return 0;
	}
	q->found = 1;
	return 1;
}

/* Whether the needle (in the scratch buffer, nlen bytes) is in the hay (hlen bytes). */
static __always_inline int search_hay(__u32 hlen, __u32 nlen)
{
	struct search q = { .hlen = hlen, .nlen = nlen };

	if (!nlen)
		return 1;
	if (nlen > hlen)
		return 0;
	bpf_loop(SEARCH_HAY_MAX, search_at, &q, 0);
	return q.found;
}

/*
 * Copy the reply's payload (hlen bytes at off, at most SEARCH_HAY_MAX) to
 * the scratch buffer; the buffer, or NULL.
 */
static __always_inline struct rx_scratch *search_load(struct xdp_md *ctx, __u32 off,
						      __u32 hlen)
{
	__u32 zero = 0;
	struct rx_scratch *sc = bpf_map_lookup_elem(&rx_scratch, &zero);

	if (!sc)
		return NULL;
	if (!hlen)
		return sc;
	if (hlen > SEARCH_HAY_MAX)
		return NULL;
	/* 1..2048 whatever the compiler makes of the tests above: the verifier sees it. */
	hlen = ((hlen - 1) & SEARCH_HAY_MASK) + 1;
	if (bpf_xdp_load_bytes(ctx, off, sc->hay, hlen))
		return NULL;
	return sc;
}

#endif
