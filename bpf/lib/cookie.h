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
#include <internal/siphash.h>

/* The state after our IPv6 source's two words, which the controller hashed (cfg.sip6). */
static __always_inline void sip_init6(struct xdphc_sip *s)
{
	s->v0 = cfg.sip6[0];
	s->v1 = cfg.sip6[1];
	s->v2 = cfg.sip6[2];
	s->v3 = cfg.sip6[3];
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
	struct xdphc_sip s;

	xdphc_sip_init(&s, cfg.key[0], cfg.key[1]);
	xdphc_sip_word(&s, ((__u64)saddr << 32) | daddr);
	xdphc_sip_word(&s, cookie_tail(sport, dport, gen));
	return (__u32)(xdphc_sip_final(&s, 16) >> 32);
}

/*
 * Cookie of one IPv6 probe from our source: SipHash-2-4 over both whole
 * addresses, the ports and the generation (40 bytes), the same 32 bits of
 * keyed cookie as IPv4.  The source's two words are hashed already.
 */
static __always_inline __u32 probe_cookie6(const __be32 *daddr, __u16 sport, __u16 dport,
					   __u32 gen)
{
	struct xdphc_sip s;

	sip_init6(&s);
	xdphc_sip_word(&s, xdphc_sip_addr_hi(daddr));
	xdphc_sip_word(&s, xdphc_sip_addr_lo(daddr));
	xdphc_sip_word(&s, cookie_tail(sport, dport, gen));
	return (__u32)(xdphc_sip_final(&s, 40) >> 32);
}

/* The cookie of a probe from us to peer (a slot's or a reply's address). */
static __always_inline __u32 cookie_of(__u8 family, const __be32 *peer, __u16 sport,
				       __u16 dport, __u32 gen)
{
	if (family == AF_INET6)
		return probe_cookie6(peer, sport, dport, gen);
	return probe_cookie(cfg.src4, peer[0], sport, dport, gen);
}

#endif
