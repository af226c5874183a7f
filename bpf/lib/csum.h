/* SPDX-License-Identifier: MIT */
/* Internet checksums of the headers the XDP programs write. */
#ifndef XDPHC_BPF_CSUM_H
#define XDPHC_BPF_CSUM_H

#include "parse.h"

static __always_inline __u16 csum_fold(__u32 sum)
{
	sum = (sum & 0xffff) + (sum >> 16);
	sum = (sum & 0xffff) + (sum >> 16);
	return (__u16)~sum;
}

/* Sum of nwords 16-bit words; nwords must be a compile-time constant. */
static __always_inline __u32 csum_words(const void *p, int nwords, __u32 sum)
{
	const __u16 *w = p;

#pragma unroll
	for (int i = 0; i < nwords; i++)
		sum += w[i];
	return sum;
}

static __always_inline __u32 pseudo_sum4(__be32 saddr, __be32 daddr, __u8 proto,
				       __u16 l4len)
{
	return (saddr & 0xffff) + (saddr >> 16) + (daddr & 0xffff) + (daddr >> 16) +
	       bpf_htons(proto) + bpf_htons(l4len);
}

static __always_inline __u32 addr6_sum(const __be32 *a, __u32 sum)
{
#pragma unroll
	for (int i = 0; i < 4; i++)
		sum += (a[i] & 0xffff) + (a[i] >> 16);
	return sum;
}

static __always_inline __u32 pseudo_sum6(const __be32 *saddr, const __be32 *daddr,
					 __u8 proto, __u16 l4len)
{
	return addr6_sum(saddr, addr6_sum(daddr, bpf_htons(proto) + bpf_htons(l4len)));
}

/* An IPv6 header: no flow label, no extension headers. */
static __always_inline void ip6_fill(struct ip6_hdr *ip6, const __be32 *saddr,
				     const __be32 *daddr, __u8 proto, __u16 payload_len)
{
	ip6->vtc = IP6_VERSION_BYTE;
	ip6->flow[0] = 0;
	ip6->flow[1] = 0;
	ip6->flow[2] = 0;
	ip6->payload_len = bpf_htons(payload_len);
	ip6->nexthdr = proto;
	ip6->hop_limit = IP_DEFAULT_TTL;
	__builtin_memcpy(ip6->saddr, saddr, 16);
	__builtin_memcpy(ip6->daddr, daddr, 16);
}

/* An IPv4 header without options, DF set, checksum included. */
static __always_inline void ip4_fill(struct iphdr *ip, __be32 saddr, __be32 daddr,
				     __u8 proto, __u16 tot_len)
{
	ip->version = 4;
	ip->ihl = IP4_HDR_WORDS;
	ip->tos = 0;
	ip->tot_len = bpf_htons(tot_len);
	ip->id = 0;
	ip->frag_off = bpf_htons(IP_DF_BIT);
	ip->ttl = IP_DEFAULT_TTL;
	ip->protocol = proto;
	ip->check = 0;
	ip->saddr = saddr;
	ip->daddr = daddr;
	ip->check = csum_fold(csum_words(ip, sizeof(*ip) / 2, 0));
}

#endif
