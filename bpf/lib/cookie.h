/* SPDX-License-Identifier: MIT */
/*
 * The keyed cookie a probe carries as its ISN.  All 32 bits are cookie: a
 * blind forger who knows the tuple still needs 2^31 guesses on average.
 * SipHash-2-4 keyed by a random 128-bit secret drawn at each start.
 */
#ifndef XDPHC_BPF_COOKIE_H
#define XDPHC_BPF_COOKIE_H

#include "maps.h"

#define ROTL64(x, b) (((x) << (b)) | ((x) >> (64 - (b))))

#define SIPROUND(v0, v1, v2, v3)                                   \
	do {                                                       \
		v0 += v1; v1 = ROTL64(v1, 13); v1 ^= v0;           \
		v0 = ROTL64(v0, 32);                               \
		v2 += v3; v3 = ROTL64(v3, 16); v3 ^= v2;           \
		v0 += v3; v3 = ROTL64(v3, 21); v3 ^= v0;           \
		v2 += v1; v1 = ROTL64(v1, 17); v1 ^= v2;           \
		v2 = ROTL64(v2, 32);                               \
	} while (0)

/* SipHash-2-4 of a 16-byte message. */
static __always_inline __u64 siphash16(__u64 m0, __u64 m1)
{
	__u64 k0 = cfg.key[0], k1 = cfg.key[1];
	__u64 v0 = k0 ^ 0x736f6d6570736575ULL;
	__u64 v1 = k1 ^ 0x646f72616e646f6dULL;
	__u64 v2 = k0 ^ 0x6c7967656e657261ULL;
	__u64 v3 = k1 ^ 0x7465646279746573ULL;
	__u64 b = 16ULL << 56;

	v3 ^= m0; SIPROUND(v0, v1, v2, v3); SIPROUND(v0, v1, v2, v3); v0 ^= m0;
	v3 ^= m1; SIPROUND(v0, v1, v2, v3); SIPROUND(v0, v1, v2, v3); v0 ^= m1;
	v3 ^= b; SIPROUND(v0, v1, v2, v3); SIPROUND(v0, v1, v2, v3); v0 ^= b;
	v2 ^= 0xff;
	SIPROUND(v0, v1, v2, v3); SIPROUND(v0, v1, v2, v3);
	SIPROUND(v0, v1, v2, v3); SIPROUND(v0, v1, v2, v3);
	return v0 ^ v1 ^ v2 ^ v3;
}

/* Cookie of one probe: its 4-tuple (ports in host order) and generation. */
static __always_inline __u32 probe_cookie(__be32 saddr, __be32 daddr,
					  __u16 sport, __u16 dport, __u32 gen)
{
	__u64 m0 = ((__u64)saddr << 32) | daddr;
	__u64 m1 = ((__u64)sport << 48) | ((__u64)dport << 32) | gen;

	return (__u32)(siphash16(m0, m1) >> 32);
}

#endif
