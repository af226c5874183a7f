/* SPDX-License-Identifier: MIT */
/* Header layouts and protocol constants the XDP programs parse and write. */
#ifndef XDPHC_BPF_PARSE_H
#define XDPHC_BPF_PARSE_H

#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/in.h>
#include <linux/ip.h>
#include <linux/tcp.h>
#include <linux/udp.h>
#include <bpf/bpf_endian.h>

#ifndef AF_INET
#define AF_INET 2
#endif
#ifndef AF_INET6
#define AF_INET6 10
#endif
#define ETH_P_IPV6_BE 0xdd86		/* ETH_P_IPV6 in network order, for a compare */

/*
 * The IPv6 header, declared here: <linux/ipv6.h> pulls <linux/in6.h> and
 * glibc's headers with it (see icmp_hdr below).
 */
struct ip6_hdr {
	__u8 vtc;			/* version 6 << 4, traffic class high bits */
	__u8 flow[3];
	__be16 payload_len;
	__u8 nexthdr;
	__u8 hop_limit;
	__be32 saddr[4];
	__be32 daddr[4];
};

#define IPPROTO_ICMP6 58
#define IP6_VERSION_BYTE 0x60

/* IPv4 frag_off: DF, and the bits that make a packet a fragment (MF, offset). */
#define IP_DF_BIT 0x4000
#define IP_FRAG_BITS 0x3fff

#define IP4_HDR_WORDS 5			/* ihl without options */
#define IP_DEFAULT_TTL 64

/* TCP flags, as in the 14th byte of the header. */
#define TCP_FL_FIN 0x01
#define TCP_FL_SYN 0x02
#define TCP_FL_RST 0x04
#define TCP_FL_ACK 0x10

#define TCP_HDR_WORDS 5			/* doff without options */
#define TCP_OPT_MSS 2			/* option kind */
#define TCP_OPT_MSS_LEN 4
/* The window Linux advertises in a SYN with a 1460-byte MSS. */
#define TCP_SYN_WINDOW 64240

static __always_inline __u8 tcp_flags(const struct tcphdr *tcp)
{
	return ((const __u8 *)tcp)[13];
}

/* Data offset and flags share two bytes that the bitfields spread over four fields. */
static __always_inline void tcp_set_doff_flags(struct tcphdr *tcp, __u8 words, __u8 flags)
{
	((__u8 *)tcp)[12] = words << 4;
	((__u8 *)tcp)[13] = flags;
}

/*
 * ICMP is declared here rather than taken from <linux/icmp.h>, which pulls
 * <linux/if.h> and through it glibc's <sys/socket.h>: a BPF object must
 * build from the kernel's UAPI headers alone (no 32-bit glibc stubs).
 */
struct icmp_hdr {
	__u8 type;
	__u8 code;
	__sum16 checksum;
	__be32 rest;		/* unused for destination unreachable */
};

#define ICMP_DEST_UNREACH 3
#define ICMP6_DEST_UNREACH 1		/* packet-too-big (2) and the rest are not answers */

/* What an ICMP error quotes of the packet that caused it: at least 8 bytes of L4. */
#define ICMP_QUOTED_L4 8

static __always_inline __u16 be16_at(const __u8 *p)
{
	return (__u16)p[0] << 8 | p[1];
}

static __always_inline __u32 be32_at(const __u8 *p)
{
	return (__u32)p[0] << 24 | (__u32)p[1] << 16 | (__u32)p[2] << 8 | p[3];
}

#define barrier() asm volatile("" ::: "memory")

#endif
