/* SPDX-License-Identifier: MIT */
/*
 * The probe writer (IPv4 and IPv6 SYNs, UDP datagrams), shared by probe_tx
 * (run alone) and probe_rx (which also writes probes when the controller runs it with BPF_PROG_RUN, see
 * XDPHC_TX_IFINDEX in probe.h).
 */
#ifndef XDPHC_PROBE_TX_H
#define XDPHC_PROBE_TX_H

#include "lib/cookie.h"
#include "lib/csum.h"
#include "lib/nexthop.h"
#include "lib/slot.h"

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(map_flags, BPF_F_MMAPABLE);
	__type(key, __u32);
	__type(value, struct xdphc_txq);
	__uint(max_entries, 1);
} txq SEC(".maps");

/*
 * The next hop of the previous probe of this run.  Consecutive probes often
 * go to one address (a backend's ports sit together in the probe order),
 * and a FIB lookup is the largest single cost of a SYN; within one run
 * (under a millisecond) the route and neighbour do not change under us.
 */
struct tx_nexthop {
	__u32 run;
	__u8 family;
	__be32 daddr[4];
	__u8 dmac[ETH_ALEN];
	__u8 smac[ETH_ALEN];
};

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__type(key, __u32);
	__type(value, struct tx_nexthop);
	__uint(max_entries, 1);
} tx_nexthop SEC(".maps");

/*
 * IPv4 SYN: Ethernet | IPv4 (20) | TCP (20) + MSS option (4) | 2 bytes of
 * padding, the 60-byte frame every run starts from.  IPv6 SYN: Ethernet |
 * IPv6 (40) | TCP + MSS, 78 bytes, and UDP frames of their payload's
 * length: the program grows or shrinks the frame to fit.
 */
#define SYN_IP_OFF sizeof(struct ethhdr)
#define SYN_TCP_OFF (SYN_IP_OFF + sizeof(struct iphdr))
#define SYN_OPT_OFF (SYN_TCP_OFF + sizeof(struct tcphdr))
#define SYN_TCP_LEN (sizeof(struct tcphdr) + TCP_OPT_MSS_LEN)
_Static_assert(SYN_OPT_OFF + 6 == XDPHC_FRAME_LEN, "frame size");
#define SYN6_TCP_OFF (SYN_IP_OFF + sizeof(struct ip6_hdr))
#define SYN6_LEN (SYN6_TCP_OFF + SYN_TCP_LEN)

static __always_inline int tx_fail(struct xdphc_slot *s, __u32 kind, __u32 cnt)
{
	slot_tx_failed(s, kind);
	count(cnt);
	return XDP_DROP;
}

static __always_inline int tx_error(struct xdphc_slot *s)
{
	return tx_fail(s, XDPHC_RES_TX_ERROR, XDPHC_CNT_TX_ERROR);
}

/* An IPv6 next hop does not fit slot.t: 0 asks the controller to find it itself. */
static __always_inline int fib_fail(struct xdphc_slot *s, int rc,
				    struct bpf_fib_lookup *fib)
{
	switch (rc) {
	case BPF_FIB_LKUP_RET_NO_NEIGH:
		slot_set_hop(s, fib->family == AF_INET ? fib->ipv4_dst : 0);
		return tx_fail(s, XDPHC_RES_TX_NO_NEIGH, XDPHC_CNT_TX_NO_NEIGH);
	case BPF_FIB_LKUP_RET_BLACKHOLE:
	case BPF_FIB_LKUP_RET_UNREACHABLE:
	case BPF_FIB_LKUP_RET_PROHIBIT:
	case BPF_FIB_LKUP_RET_NOT_FWDED:
		return tx_fail(s, XDPHC_RES_TX_NO_ROUTE, XDPHC_CNT_TX_NO_ROUTE);
	default:
		return tx_error(s);
	}
}

static __always_inline void eth_fill(struct ethhdr *eth, const struct tx_nexthop *nh,
				     __u16 proto)
{
	__builtin_memcpy(eth->h_dest, nh->dmac, ETH_ALEN);
	__builtin_memcpy(eth->h_source, nh->smac, ETH_ALEN);
	eth->h_proto = bpf_htons(proto);
}

/* The SYN's TCP header and MSS option; the checksum is left to the caller. */
static __always_inline void syn_fill(struct tcphdr *tcp, const struct xdphc_slot *s,
				     __u32 cookie)
{
	__u8 *opt = (__u8 *)(tcp + 1);

	__builtin_memset(tcp, 0, sizeof(*tcp));
	tcp->source = bpf_htons(s->sport);
	tcp->dest = s->port;
	tcp->seq = bpf_htonl(cookie);
	tcp_set_doff_flags(tcp, SYN_TCP_LEN / 4, TCP_FL_SYN);
	tcp->window = bpf_htons(TCP_SYN_WINDOW);
	opt[0] = TCP_OPT_MSS;
	opt[1] = TCP_OPT_MSS_LEN;
	opt[2] = cfg.mss >> 8;
	opt[3] = cfg.mss & 0xff;
}

static __always_inline void build_syn(void *frame, const struct tx_nexthop *nh,
				      struct xdphc_slot *s)
{
	struct iphdr *ip = frame + SYN_IP_OFF;
	struct tcphdr *tcp = frame + SYN_TCP_OFF;
	__u8 *pad = frame + SYN_OPT_OFF + TCP_OPT_MSS_LEN;
	__be32 daddr = s->addr[0];
	__u32 sum;

	eth_fill(frame, nh, ETH_P_IP);
	ip4_fill(ip, cfg.src4, daddr, IPPROTO_TCP, sizeof(*ip) + SYN_TCP_LEN);
	syn_fill(tcp, s, probe_cookie(cfg.src4, daddr, s->sport, bpf_ntohs(s->port), s->gen));
	pad[0] = 0;
	pad[1] = 0;
	sum = pseudo_sum4(cfg.src4, daddr, IPPROTO_TCP, SYN_TCP_LEN);
	sum = csum_words(tcp, SYN_TCP_LEN / 2, sum);
	tcp->check = csum_fold(sum);
}

/* Make the frame len bytes long: 0, or -1 if the kernel would not. */
static __always_inline int frame_resize(struct xdp_md *ctx, int len)
{
	int cur = ctx->data_end - ctx->data;

	if (cur == len)
		return 0;
	return bpf_xdp_adjust_tail(ctx, len - cur) ? -1 : 0;
}

static __always_inline int write_syn6(struct xdp_md *ctx, const struct tx_nexthop *nh,
				      struct xdphc_slot *s)
{
	void *data, *data_end;
	struct ip6_hdr *ip6;
	struct tcphdr *tcp;
	__be32 src[4];
	__u32 sum;

	src6_load(src);
	if (frame_resize(ctx, SYN6_LEN))
		return tx_error(s);
	data = (void *)(long)ctx->data;
	data_end = (void *)(long)ctx->data_end;
	if (data + SYN6_LEN > data_end)
		return tx_error(s);
	ip6 = data + SYN_IP_OFF;
	tcp = data + SYN6_TCP_OFF;
	eth_fill(data, nh, ETH_P_IPV6);
	ip6_fill(ip6, src, s->addr, IPPROTO_TCP, SYN_TCP_LEN);
	syn_fill(tcp, s, probe_cookie6(s->addr, s->sport, bpf_ntohs(s->port), s->gen));
	sum = pseudo_sum6(src, s->addr, IPPROTO_TCP, SYN_TCP_LEN);
	sum = csum_words(tcp, SYN_TCP_LEN / 2, sum);
	tcp->check = csum_fold(sum);
	return 0;
}

/* A cookie as XDPHC_COOKIE_DIGITS lowercase hex digits, most significant first. */
static __always_inline void cookie_digits(__u32 cookie, __u8 *d)
{
#pragma unroll
	for (int i = 0; i < XDPHC_COOKIE_DIGITS; i++) {
		__u8 n = (cookie >> (28 - 4 * i)) & 0xf;

		d[i] = n < 10 ? '0' + n : 'a' + n - 10;
	}
}

/* The ones'-complement sum of 8 digits placed at an odd or even offset. */
static __always_inline __u32 digits_sum(const __u8 *d, __u16 off)
{
	__u32 sum = (__u16)~csum_fold(csum_words(d, XDPHC_COOKIE_DIGITS / 2, 0));

	/* Odd offset: every byte sits in the other half of its 16-bit word. */
	if (off & 1)
		sum = ((sum & 0xff) << 8) | (sum >> 8);
	return sum;
}

/* Zero the frame from off to the Ethernet minimum (off < XDPHC_FRAME_LEN). */
static __always_inline int zero_tail(struct xdp_md *ctx, __u32 off)
{
	void *data = (void *)(long)ctx->data;
	void *data_end = (void *)(long)ctx->data_end;
	__u8 *p = data;

	if (data + XDPHC_FRAME_LEN > data_end)
		return -1;
#pragma unroll
	for (__u32 i = sizeof(struct ethhdr) + sizeof(struct iphdr) + sizeof(struct udphdr);
	     i < XDPHC_FRAME_LEN; i++)
		if (i >= off)
			p[i] = 0;
	return 0;
}

/* The probe's cookie into its payload; the sum of the digits written, for the checksum. */
static __always_inline __u32 write_cookie(struct xdp_md *ctx, const struct xdphc_slot *s,
					  const struct xdphc_udp_check *uc, __u32 l4off)
{
	/* Stack accesses must be aligned: csum_words() reads it in 16-bit words. */
	__u8 d[XDPHC_COOKIE_DIGITS] __attribute__((aligned(8)));
	__u32 off = uc->cookie_off;

	if (off == XDPHC_NO_COOKIE || off + XDPHC_COOKIE_DIGITS > uc->payload_len)
		return 0;
	cookie_digits(cookie_of(s->family, s->addr, s->sport, bpf_ntohs(s->port), s->gen), d);
	off &= 2047;
	if (bpf_xdp_store_bytes(ctx, l4off + sizeof(struct udphdr) + off, d, sizeof(d)))
		return 0;
	return digits_sum(d, (__u16)off);
}

/* The Ethernet, IP and UDP headers of a datagram of plen payload bytes; 0 or -1. */
static __always_inline int udp_headers(struct xdp_md *ctx, const struct tx_nexthop *nh,
				       const struct xdphc_slot *s, __u32 l4off, __u16 plen,
				       struct udphdr **udp)
{
	void *data = (void *)(long)ctx->data;
	void *data_end = (void *)(long)ctx->data_end;
	__u16 l4len = sizeof(struct udphdr) + plen;

	if (data + l4off + sizeof(struct udphdr) > data_end)
		return -1;
	*udp = data + l4off;
	if (s->family == AF_INET6) {
		struct ip6_hdr *ip6 = data + SYN_IP_OFF;
		__be32 src[4];

		if ((void *)(ip6 + 1) > data_end)
			return -1;
		src6_load(src);
		eth_fill(data, nh, ETH_P_IPV6);
		ip6_fill(ip6, src, s->addr, IPPROTO_UDP, l4len);
	} else {
		struct iphdr *ip = data + SYN_IP_OFF;

		if ((void *)(ip + 1) > data_end)
			return -1;
		eth_fill(data, nh, ETH_P_IP);
		ip4_fill(ip, cfg.src4, s->addr[0], IPPROTO_UDP, sizeof(*ip) + l4len);
	}
	(*udp)->source = bpf_htons(s->sport);
	(*udp)->dest = s->port;
	(*udp)->len = bpf_htons(l4len);
	(*udp)->check = 0;
	return 0;
}

static __always_inline __u16 ip_hdr_len(const struct xdphc_slot *s)
{
	return s->family == AF_INET6 ? sizeof(struct ip6_hdr) : sizeof(struct iphdr);
}

static __always_inline __u32 udp_l4off(const struct xdphc_slot *s)
{
	return SYN_IP_OFF + ip_hdr_len(s);
}

/*
 * A UDP probe: its pool's payload, with the cookie where {cookie} was.  The
 * checksum comes from the payload's precomputed sum, the headers' and the
 * digits': the payload itself is never summed here.
 */
static __always_inline int write_udp(struct xdp_md *ctx, const struct tx_nexthop *nh,
				     struct xdphc_slot *s, const struct xdphc_udp_check *uc)
{
	__u32 l4off = udp_l4off(s), plen = uc->payload_len, len, sum;
	struct udphdr *udp;

	if (plen > XDPHC_PAYLOAD_MAX)
		return tx_error(s);
	len = l4off + sizeof(*udp) + plen;
	if (frame_resize(ctx, len < XDPHC_FRAME_LEN ? XDPHC_FRAME_LEN : len))
		return tx_error(s);
	/*
	 * A short datagram is padded to the Ethernet minimum, with zeros: the
	 * page held an earlier probe, whose cookie must not leak.
	 */
	if (len < XDPHC_FRAME_LEN && zero_tail(ctx, len))
		return tx_error(s);
	if (plen && bpf_xdp_store_bytes(ctx, l4off + sizeof(*udp), (void *)uc->payload,
					plen & 2047))
		return tx_error(s);
	sum = write_cookie(ctx, s, uc, l4off) + uc->payload_sum;
	if (udp_headers(ctx, nh, s, l4off, (__u16)plen, &udp))
		return tx_error(s);
	if (s->family == AF_INET6) {
		__be32 src[4];

		src6_load(src);
		sum += pseudo_sum6(src, s->addr, IPPROTO_UDP, sizeof(*udp) + plen);
	} else {
		sum += pseudo_sum4(cfg.src4, s->addr[0], IPPROTO_UDP, sizeof(*udp) + plen);
	}
	sum = csum_words(udp, sizeof(*udp) / 2, sum);
	udp->check = csum_fold(sum);
	/* 0 means "no checksum" (and is not allowed in IPv6): send its other form. */
	if (!udp->check)
		udp->check = 0xffff;
	return 0;
}

static __always_inline int same_hop(const struct tx_nexthop *nh, const struct xdphc_slot *s,
				    __u32 run)
{
	if (nh->run != run || nh->family != s->family || nh->daddr[0] != s->addr[0])
		return 0;
	return s->family != AF_INET6 || (nh->daddr[1] == s->addr[1] &&
					 nh->daddr[2] == s->addr[2] &&
					 nh->daddr[3] == s->addr[3]);
}

/*
 * A next hop the controller resolved (lib/nexthop.h): the interface does
 * not forward the family.  Two loads, cheaper than the run's cache, which
 * it leaves invalid: a slot's hop may depend on more than its address
 * (policy rules on ports, multipath), and nh now holds this slot's MACs.
 */
static __always_inline int ctl_hop(struct xdphc_slot *s, __u32 slot_idx,
				   struct tx_nexthop *nh)
{
	int rc = ctl_next_hop(s, slot_idx, nh->dmac);

	nh->run = 0;
	if (rc)
		return tx_fail(s, rc, ctl_hop_counter(rc));
	/* .rodata is frozen at load: volatile only keeps clang from folding it */
	__builtin_memcpy(nh->smac, (const __u8 *)cfg.smac, ETH_ALEN);
	return 0;
}

/*
 * The next hop towards slot slot_idx (s), from the controller where the
 * interface does not forward the family, else from this run's cache or the
 * kernel's FIB; 0 or a tx_fail verdict.  l3len: the packet's length from
 * its IP header on.
 */
static __always_inline int next_hop(struct xdp_md *ctx, struct xdphc_slot *s, __u32 slot_idx,
				    __u32 run, __u16 l3len, struct tx_nexthop *nh)
{
	struct bpf_fib_lookup fib = {};
	int rc;

	if (s->family == AF_INET6 ? !cfg.fib6 : !cfg.fib4)
		return ctl_hop(s, slot_idx, nh);
	if (same_hop(nh, s, run))
		return 0;
	fib.l4_protocol = s->proto;
	fib.dport = s->port;
	fib.tot_len = l3len;
	fib.ifindex = cfg.ifindex;
	if (s->family == AF_INET6) {
		fib.family = AF_INET6;
		src6_load(fib.ipv6_src);
		__builtin_memcpy(fib.ipv6_dst, s->addr, 16);
	} else {
		fib.family = AF_INET;
		fib.ipv4_src = cfg.src4;
		fib.ipv4_dst = s->addr[0];
	}
	rc = bpf_fib_lookup(ctx, &fib, sizeof(fib), BPF_FIB_LOOKUP_OUTPUT);
	if (rc != BPF_FIB_LKUP_RET_SUCCESS)
		return fib_fail(s, rc, &fib);
	/* Replies come back only where probe_rx listens. */
	if (fib.ifindex != cfg.ifindex) {
		slot_set_hop(s, 0);
		return tx_fail(s, XDPHC_RES_TX_NO_ROUTE, XDPHC_CNT_TX_NO_ROUTE);
	}
	nh->run = run;
	nh->family = s->family;
	__builtin_memcpy(nh->daddr, s->addr, 16);
	__builtin_memcpy(nh->dmac, fib.dmac, ETH_ALEN);
	__builtin_memcpy(nh->smac, fib.smac, ETH_ALEN);
	return 0;
}

/* A SYN of either family for s, to its next hop; 0 or a tx_fail verdict. */
static __always_inline int tx_syn(struct xdp_md *ctx, struct xdphc_slot *s, __u32 slot_idx,
				  __u32 run, struct tx_nexthop *nh)
{
	void *data, *data_end;
	int rc = next_hop(ctx, s, slot_idx, run, ip_hdr_len(s) + SYN_TCP_LEN, nh);

	if (rc)
		return rc;
	if (s->family == AF_INET6)
		return write_syn6(ctx, nh, s);
	/* A frame an earlier probe of the run resized comes back at its run's length. */
	if (frame_resize(ctx, XDPHC_FRAME_LEN))
		return tx_error(s);
	data = (void *)(long)ctx->data;
	data_end = (void *)(long)ctx->data_end;
	if (data + XDPHC_FRAME_LEN > data_end)
		return tx_error(s);
	build_syn(data, nh, s);
	return 0;
}

/* A datagram of s's pool for s, to its next hop; 0 or a tx_fail verdict. */
static __always_inline int tx_udp(struct xdp_md *ctx, struct xdphc_slot *s, __u32 slot_idx,
				  __u32 run, struct tx_nexthop *nh)
{
	const struct xdphc_udp_check *uc;
	__u32 c = s->check;
	int rc;

	uc = bpf_map_lookup_elem(&udp_checks, &c);
	if (!uc)
		return tx_error(s);
	rc = next_hop(ctx, s, slot_idx, run, ip_hdr_len(s) + sizeof(struct udphdr) +
		      (uc->payload_len & 2047), nh);
	if (rc)
		return rc;
	return write_udp(ctx, nh, s, uc);
}

/* Turn the next queued probe into a packet; the frame leaves through cfg.ifindex. */
static __always_inline int tx_frame(struct xdp_md *ctx)
{
	struct tx_nexthop *nh;
	struct xdphc_slot *s;
	struct xdphc_txq *q;
	__u32 i, zero = 0;
	__u32 slot_idx;
	int rc;

	q = bpf_map_lookup_elem(&txq, &zero);
	if (!q)
		return XDP_DROP;
	/* Frames of one run are processed in order, on one CPU. */
	i = q->next++;
	if (i >= q->count || i >= XDPHC_TXQ_SIZE)
		return XDP_DROP;
	/*
	 * The controller compares this with what it queued: when it runs the
	 * interface's attached program (libxdp's dispatcher, or a load balancer
	 * that tail-calls us), that program must hand loopback-ingress frames
	 * on to us, and this is how the engine knows it did.
	 */
	__sync_fetch_and_add(&q->taken, 1);
	slot_idx = q->slot[i];
	s = bpf_map_lookup_elem(&slots, &slot_idx);
	if (!s)
		return XDP_DROP;
	nh = bpf_map_lookup_elem(&tx_nexthop, &zero);
	if (!nh)
		return tx_error(s);
	if (s->proto == IPPROTO_UDP)
		rc = tx_udp(ctx, s, slot_idx, q->run, nh);
	else
		rc = tx_syn(ctx, s, slot_idx, q->run, nh);
	if (rc)
		return rc;
	slot_sent(s);
	count(XDPHC_CNT_TX);
	/*
	 * A redirect, not XDP_TX: batched runs use the loopback device as
	 * their ingress (see XDPHC_TX_IFINDEX), so XDP_TX would go there.
	 */
	return bpf_redirect(cfg.ifindex, 0);
}

#endif
