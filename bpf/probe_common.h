/* SPDX-License-Identifier: MIT */
/* Pieces shared by probe_tx and probe_rx: the shared maps, cookies, checksums. */
#ifndef XDPHC_PROBE_COMMON_H
#define XDPHC_PROBE_COMMON_H

#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/in.h>
#include <linux/ip.h>
#include <linux/tcp.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>
#include <xdphc/abi.h>
#include <xdphc/probe.h>

#ifndef AF_INET
#define AF_INET 2
#endif

#define TCP_FL_FIN 0x01
#define TCP_FL_SYN 0x02
#define TCP_FL_RST 0x04
#define TCP_FL_ACK 0x10

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

#define barrier() asm volatile("" ::: "memory")

const volatile struct xdphc_bpf_cfg cfg = {};

/*
 * Both objects declare these; the controller creates them once (probe_tx)
 * and hands the same fds to probe_rx before it is loaded.
 */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(map_flags, BPF_F_MMAPABLE);
	__type(key, __u32);
	__type(value, struct xdphc_slot);
	__uint(max_entries, 1);		/* sized by the controller */
} slots SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__type(key, __u32);
	__type(value, __u64);
	__uint(max_entries, XDPHC_CNT_MAX);
} counters SEC(".maps");

static __always_inline void count(__u32 which)
{
	__u64 *c = bpf_map_lookup_elem(&counters, &which);

	if (c)
		*c += 1;
}

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

/* SipHash-2-4 of a 16-byte message, keyed by the per-start secret. */
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

/* Keyed cookie of one probe: the 4-tuple (host order ports) and generation. */
static __always_inline __u32 probe_cookie(__be32 saddr, __be32 daddr,
					  __u16 sport, __u16 dport, __u32 gen)
{
	__u64 m0 = ((__u64)saddr << 32) | daddr;
	__u64 m1 = ((__u64)sport << 48) | ((__u64)dport << 32) | gen;

	return (__u32)(siphash16(m0, m1) >> 32);
}

static __always_inline __u32 idx_mask(void)
{
	return cfg.idx_bits ? (1U << cfg.idx_bits) - 1 : 0;
}

static __always_inline __u32 make_isn(__u32 cookie, __u32 slot)
{
	return (cookie & ~idx_mask()) | (slot / cfg.sport_count);
}

/* Recover the slot index from our source port and the ISN a reply echoes. */
static __always_inline __u32 slot_of(__u16 sport, __u32 isn)
{
	return (__u32)(sport - cfg.sport_lo) + (isn & idx_mask()) * cfg.sport_count;
}

static __always_inline int our_port(__u16 port)
{
	return (__u16)(port - cfg.sport_lo) < cfg.sport_count;
}

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

static __always_inline __u32 pseudo_sum4(__be32 saddr, __be32 daddr, __u16 l4len)
{
	return (saddr & 0xffff) + (saddr >> 16) + (daddr & 0xffff) + (daddr >> 16) +
	       bpf_htons(IPPROTO_TCP) + bpf_htons(l4len);
}

static __always_inline void ip4_fill(struct iphdr *ip, __be32 saddr, __be32 daddr,
				     __u16 tot_len)
{
	ip->version = 4;
	ip->ihl = 5;
	ip->tos = 0;
	ip->tot_len = bpf_htons(tot_len);
	ip->id = 0;
	ip->frag_off = bpf_htons(0x4000);	/* DF */
	ip->ttl = 64;
	ip->protocol = IPPROTO_TCP;
	ip->check = 0;
	ip->saddr = saddr;
	ip->daddr = daddr;
	ip->check = csum_fold(csum_words(ip, 10, 0));
}

#endif
