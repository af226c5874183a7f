/* SPDX-License-Identifier: MIT */
/*
 * The keyed cookie a probe carries: a SYN's ISN, or the {cookie} digits of
 * a UDP payload.  All 32 bits are cookie, in both families: a blind forger
 * who knows the tuple still needs 2^31 guesses on average.  SipHash-2-4
 * keyed by a random 128-bit secret drawn at each start.
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

struct sip {
	__u64 v0, v1, v2, v3;
};

static __always_inline void sip_init(struct sip *s)
{
	__u64 k0 = cfg.key[0], k1 = cfg.key[1];

	s->v0 = k0 ^ 0x736f6d6570736575ULL;
	s->v1 = k1 ^ 0x646f72616e646f6dULL;
	s->v2 = k0 ^ 0x6c7967656e657261ULL;
	s->v3 = k1 ^ 0x7465646279746573ULL;
}

/* One 8-byte word of the message: SipHash-2-4's two compression rounds. */
static __always_inline void sip_word(struct sip *s, __u64 m)
{
	s->v3 ^= m;
	SIPROUND(s->v0, s->v1, s->v2, s->v3);
	SIPROUND(s->v0, s->v1, s->v2, s->v3);
	s->v0 ^= m;
}

/* The last block of a message of len bytes (a multiple of 8) and the finalization. */
static __always_inline __u64 sip_final(struct sip *s, __u64 len)
{
	sip_word(s, len << 56);
	s->v2 ^= 0xff;
	SIPROUND(s->v0, s->v1, s->v2, s->v3);
	SIPROUND(s->v0, s->v1, s->v2, s->v3);
	SIPROUND(s->v0, s->v1, s->v2, s->v3);
	SIPROUND(s->v0, s->v1, s->v2, s->v3);
	return s->v0 ^ s->v1 ^ s->v2 ^ s->v3;
}

/* Ports (host order) and generation: the last word of both messages. */
static __always_inline __u64 cookie_tail(__u16 sport, __u16 dport, __u32 gen)
{
	return ((__u64)sport << 48) | ((__u64)dport << 32) | gen;
}

/* Cookie of one IPv4 probe: its 4-tuple (ports in host order) and generation. */
static __always_inline __u32 probe_cookie(__be32 saddr, __be32 daddr,
					  __u16 sport, __u16 dport, __u32 gen)
{
	struct sip s;

	sip_init(&s);
	sip_word(&s, ((__u64)saddr << 32) | daddr);
	sip_word(&s, cookie_tail(sport, dport, gen));
	return (__u32)(sip_final(&s, 16) >> 32);
}

/*
 * Cookie of one IPv6 probe: SipHash-2-4 over both whole addresses, the ports
 * and the generation (40 bytes): the same 32 bits of keyed cookie as IPv4.
 */
static __always_inline __u32 probe_cookie6(const __be32 *saddr, const __be32 *daddr,
					   __u16 sport, __u16 dport, __u32 gen)
{
	struct sip s;

	sip_init(&s);
	sip_word(&s, ((__u64)saddr[0] << 32) | saddr[1]);
	sip_word(&s, ((__u64)saddr[2] << 32) | saddr[3]);
	sip_word(&s, ((__u64)daddr[0] << 32) | daddr[1]);
	sip_word(&s, ((__u64)daddr[2] << 32) | daddr[3]);
	sip_word(&s, cookie_tail(sport, dport, gen));
	return (__u32)(sip_final(&s, 40) >> 32);
}

/* The cookie of a probe from us to peer (a slot's or a reply's address). */
static __always_inline __u32 cookie_of(__u8 family, const __be32 *peer, __u16 sport,
				       __u16 dport, __u32 gen)
{
	if (family == AF_INET6) {
		__be32 src[4];

		src6_load(src);
		return probe_cookie6(src, peer, sport, dport, gen);
	}
	return probe_cookie(cfg.src4, peer[0], sport, dport, gen);
}

#endif
