/* SPDX-License-Identifier: MIT */
/*
 * SipHash-2-4, word by word, for the probes' cookies: the XDP programs
 * hash each probe's tuple (bpf/lib/cookie.h), and the controller hashes
 * the part of an IPv6 message that never changes, our source address,
 * once at start (xdphc_bpf_cfg.sip6), so that an IPv6 cookie costs the
 * programs no more rounds than an IPv4 one.  Messages are whole 8-byte
 * words.  Included by BPF and by userspace.
 */
#ifndef XDPHC_SIPHASH_H
#define XDPHC_SIPHASH_H

#include <linux/types.h>

#define XDPHC_INLINE inline __attribute__((always_inline))
#define XDPHC_ROTL64(x, b) (((x) << (b)) | ((x) >> (64 - (b))))

struct xdphc_sip {
	__u64 v0, v1, v2, v3;
};

static XDPHC_INLINE void xdphc_sip_round(struct xdphc_sip *s)
{
	s->v0 += s->v1; s->v1 = XDPHC_ROTL64(s->v1, 13); s->v1 ^= s->v0;
	s->v0 = XDPHC_ROTL64(s->v0, 32);
	s->v2 += s->v3; s->v3 = XDPHC_ROTL64(s->v3, 16); s->v3 ^= s->v2;
	s->v0 += s->v3; s->v3 = XDPHC_ROTL64(s->v3, 21); s->v3 ^= s->v0;
	s->v2 += s->v1; s->v1 = XDPHC_ROTL64(s->v1, 17); s->v1 ^= s->v2;
	s->v2 = XDPHC_ROTL64(s->v2, 32);
}

static XDPHC_INLINE void xdphc_sip_init(struct xdphc_sip *s, __u64 k0, __u64 k1)
{
	s->v0 = k0 ^ 0x736f6d6570736575ULL;
	s->v1 = k1 ^ 0x646f72616e646f6dULL;
	s->v2 = k0 ^ 0x6c7967656e657261ULL;
	s->v3 = k1 ^ 0x7465646279746573ULL;
}

/* One 8-byte word of the message: SipHash-2-4's two compression rounds. */
static XDPHC_INLINE void xdphc_sip_word(struct xdphc_sip *s, __u64 m)
{
	s->v3 ^= m;
	xdphc_sip_round(s);
	xdphc_sip_round(s);
	s->v0 ^= m;
}

/* The last block of a message of len bytes (a multiple of 8) and the finalization. */
static XDPHC_INLINE __u64 xdphc_sip_final(struct xdphc_sip *s, __u64 len)
{
	xdphc_sip_word(s, len << 56);
	s->v2 ^= 0xff;
	xdphc_sip_round(s);
	xdphc_sip_round(s);
	xdphc_sip_round(s);
	xdphc_sip_round(s);
	return s->v0 ^ s->v1 ^ s->v2 ^ s->v3;
}

/* An address's two message words: the four __be32 as they lie in memory, as numbers. */
static XDPHC_INLINE __u64 xdphc_sip_addr_hi(const __be32 *a)
{
	return ((__u64)a[0] << 32) | a[1];
}

static XDPHC_INLINE __u64 xdphc_sip_addr_lo(const __be32 *a)
{
	return ((__u64)a[2] << 32) | a[3];
}

#endif
