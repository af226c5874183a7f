// SPDX-License-Identifier: GPL-2.0 OR MIT
/*
 * Backend simulator for benchmarks and scale tests: attached to the backend
 * side of the lab's veth, it answers TCP SYNs and UDP datagrams to a block
 * of IPv4 addresses and a block of IPv6 addresses by itself, at XDP speed,
 * so that a million "backends" cost no kernel TCP or UDP work.  What each
 * backend does is chosen by rules over family, address, port and protocol
 * that the lab rewrites at run time:
 *
 *              TCP SYN                        UDP datagram
 *   SIM_UP     SYN-ACK (the prober then       the datagram back (addresses
 *              sends an RST, counted)         and ports swapped, payload kept)
 *   SIM_CLOSED RST|ACK, as a kernel answers   ICMP port unreachable (v4 type 3
 *              for a closed port              code 3, v6 type 1 code 4) quoting
 *                                             the datagram as a kernel does
 *   SIM_DEAD   nothing                        nothing
 *   SIM_OTHER  SYN-ACK, as SIM_UP             a fixed other payload (SIM_OTHER_
 *                                             PAYLOAD): a reply a check's
 *                                             expect does not find
 *
 * Unlike a kernel, the simulator does not rate-limit its ICMP errors.
 *
 * The first matching rule wins; without a match the default action applies.
 * Everything that is not TCP or UDP to a simulated block goes to the kernel
 * (ARP, neighbour discovery, ICMP, IPv4 options, IPv6 extension headers,
 * fragments).
 */
#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/in.h>
#include <linux/ip.h>
#include <linux/ipv6.h>
#include <linux/tcp.h>
#include <linux/udp.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>

char LICENSE[] SEC("license") = "Dual MIT/GPL";

enum sim_action { SIM_UP = 0, SIM_CLOSED = 1, SIM_DEAD = 2, SIM_OTHER = 3 };

/*
 * Counters, by kind.  The IPv4 TCP ones come first, with the names the
 * bench has always read; each other kind is a block of its own, in the same
 * order (tools/sim/backend_sim.py: COUNTERS).
 */
enum sim_tcp_counter {
	SIM_T_SYN = 0,		/* SYNs to the block */
	SIM_T_SYNACK,		/* SYN-ACKs sent */
	SIM_T_RST_SENT,		/* RSTs sent for closed backends */
	SIM_T_DEAD,		/* SYNs dropped for dead backends */
	SIM_T_RST_RX,		/* RSTs received (the prober tearing down) */
	SIM_T_OTHER,		/* other TCP to the block, dropped */
};

enum sim_udp_counter {
	SIM_U_RX = 0,		/* datagrams to the block */
	SIM_U_ECHO,		/* echoed (up) */
	SIM_U_UNREACH,		/* answered with port unreachable (closed) */
	SIM_U_DEAD,		/* dropped (dead) */
	SIM_U_OTHER,		/* answered with SIM_OTHER_PAYLOAD */
};

enum sim_counter {
	SIM_CNT_TCP4 = 0,	/* syn, synack, rst_sent, dead, rst_rx, other */
	SIM_CNT_BAD = 6,	/* packets to a block too short or too long to answer */
	SIM_CNT_TCP6 = 7,	/* the same six for IPv6 */
	SIM_CNT_UDP4 = 13,	/* udp, udp_echo, udp_unreach, udp_dead, udp_other */
	SIM_CNT_UDP6 = 18,	/* the same five for IPv6 */
	SIM_CNT_MAX = 23,
};

#define SIM_MAX_RULES 64
#define SIM_ANY_PROTO 0

/*
 * Ranges are inclusive, in host byte order: an address as two 64-bit
 * halves, IPv4 in the low half (hi 0).
 */
struct sim_rule {
	__u64 lo_hi, lo_lo;	/* first address */
	__u64 hi_hi, hi_lo;	/* last address */
	__u16 port_lo, port_hi;
	__u8 family;		/* 4 or 6 */
	__u8 proto;		/* IPPROTO_TCP, IPPROTO_UDP, or SIM_ANY_PROTO */
	__u16 action;		/* enum sim_action */
};

struct sim_cfg {
	__u32 net, mask;	/* the IPv4 block, host order; mask 0: none */
	__u32 n_rules;
	__u32 default_action;
	__u64 net6_hi, net6_lo;	/* the IPv6 block, host order halves */
	__u64 mask6_hi, mask6_lo; /* both 0: no IPv6 block */
};

/* The UDP answer of SIM_OTHER: 12 bytes, so that the UDP part stays a multiple of 4. */
#define SIM_OTHER_PAYLOAD "xhcsim:other"
#define SIM_OTHER_LEN 12

/*
 * ICMP and ICMPv6 errors share this header.  Declared here rather than taken
 * from <linux/icmp.h>, which pulls glibc's <sys/socket.h> (bpf/lib/parse.h).
 */
struct sim_icmp {
	__u8 type;
	__u8 code;
	__sum16 checksum;
	__be32 rest;		/* unused for destination unreachable */
};

#define SIM_ICMP4_UNREACH 3	/* destination unreachable */
#define SIM_ICMP4_PORT 3	/* port unreachable */
#define SIM_ICMP6_UNREACH 1
#define SIM_ICMP6_PORT 4
#ifndef IPPROTO_ICMPV6
#define IPPROTO_ICMPV6 58
#endif

/* What a kernel quotes of the offending packet (RFC 1812 4.3.2.3, RFC 4443 2.4 (c)). */
#define SIM_ICMP4_MAX 576
#define SIM_ICMP6_MAX 1280
#define SIM_ICMP4_HDRS (sizeof(struct iphdr) + sizeof(struct sim_icmp))
#define SIM_ICMP6_HDRS (sizeof(struct ipv6hdr) + sizeof(struct sim_icmp))

/* The longest run of packet bytes csum_bytes() sums: an Ethernet MTU and more. */
#define CSUM_CHUNK 64
#define CSUM_CHUNKS 24

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__type(key, __u32);
	__type(value, struct sim_cfg);
	__uint(max_entries, 1);
} sim_cfg SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__type(key, __u32);
	__type(value, struct sim_rule);
	__uint(max_entries, SIM_MAX_RULES);
} sim_rules SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__type(key, __u32);
	__type(value, __u64);
	__uint(max_entries, SIM_CNT_MAX);
} sim_counters SEC(".maps");

static __always_inline void count(__u32 which)
{
	__u64 *c = bpf_map_lookup_elem(&sim_counters, &which);

	if (c)
		*c += 1;
}

/* ---- rules ------------------------------------------------------------- */

struct rule_walk {
	__u64 hi, lo;		/* the address, as in struct sim_rule */
	__u16 port;
	__u8 family;
	__u8 proto;
	__u32 action;
	int found;
};

static long rule_step(__u32 i, void *ctx)
{
	struct rule_walk *w = ctx;
	struct sim_rule *r = bpf_map_lookup_elem(&sim_rules, &i);

	if (!r)
		return 1;
	if (r->family != w->family || (r->proto && r->proto != w->proto) ||
	    w->port < r->port_lo || w->port > r->port_hi)
		return 0;
	if (w->hi < r->lo_hi || (w->hi == r->lo_hi && w->lo < r->lo_lo))
		return 0;
	if (w->hi > r->hi_hi || (w->hi == r->hi_hi && w->lo > r->hi_lo))
		return 0;
	w->action = r->action;
	w->found = 1;
	return 1;
}

/* bpf_loop, so the verifier need not walk up to 64 rules by itself. */
static __always_inline __u32 rule_action(const struct sim_cfg *c, __u8 family, __u64 hi,
					 __u64 lo, __u8 proto, __u16 port)
{
	struct rule_walk w = { .hi = hi, .lo = lo, .port = port, .family = family,
			       .proto = proto };
	__u32 n = c->n_rules < SIM_MAX_RULES ? c->n_rules : SIM_MAX_RULES;

	if (n)
		bpf_loop(n, rule_step, &w, 0);
	return w.found ? w.action : c->default_action;
}

/* ---- checksums ----------------------------------------------------------- */

static __always_inline __u16 csum_fold(__u64 s)
{
	s = (s & 0xffffffff) + (s >> 32);
	s = (s & 0xffffffff) + (s >> 32);
	s = (s & 0xffff) + (s >> 16);
	s = (s & 0xffff) + (s >> 16);
	return (__u16)~s;
}

/*
 * The one's complement sum of LEN packet bytes from OFF (an even offset from
 * the start of what is summed), odd tails padded with zero as RFC 1071 does.
 * The bytes are copied to the stack a chunk at a time, so that any length up
 * to CSUM_CHUNK * CSUM_CHUNKS costs the verifier one bounded loop.  -1 when
 * the packet is shorter than OFF + LEN or LEN too long.
 */
static __always_inline __s64 csum_bytes(struct xdp_md *ctx, __u32 off, __u32 len)
{
	__u8 buf[CSUM_CHUNK];
	__u64 sum = 0;

	if (len > CSUM_CHUNK * CSUM_CHUNKS)
		return -1;
	for (int i = 0; i < CSUM_CHUNKS && len >= CSUM_CHUNK; i++) {
		if (bpf_xdp_load_bytes(ctx, off, buf, CSUM_CHUNK))
			return -1;
		sum += (__u32)bpf_csum_diff(NULL, 0, (__be32 *)buf, CSUM_CHUNK, 0);
		off += CSUM_CHUNK;
		len -= CSUM_CHUNK;
	}
	/*
	 * What is left is below CSUM_CHUNK: masked, and 64 bits wide, so that
	 * the register the verifier checks is the one passed on.
	 */
	__u64 rest = len & (CSUM_CHUNK - 1);

	asm volatile("" : "+r"(rest));
	if (rest) {
		__u64 words = (rest + 3) & (2 * CSUM_CHUNK - 4);

		__builtin_memset(buf, 0, sizeof(buf));
		if (bpf_xdp_load_bytes(ctx, off, buf, rest))
			return -1;
		if (words > CSUM_CHUNK)
			return -1;
		sum += (__u32)bpf_csum_diff(NULL, 0, (__be32 *)buf, words, 0);
	}
	return sum;
}

/* The pseudo-header sums (RFC 793/768, RFC 8200 8.1), 32 bits at a time. */
static __always_inline __u64 pseudo4(const struct iphdr *ip, __u8 proto, __u32 len)
{
	return (__u64)ip->saddr + ip->daddr + bpf_htons(proto) + bpf_htons((__u16)len);
}

static __always_inline __u64 pseudo6(const struct ipv6hdr *ip6, __u8 proto, __u32 len)
{
	__u64 s = (__u64)bpf_htonl(len) + bpf_htonl(proto);

#pragma unroll
	for (int i = 0; i < 4; i++)
		s += (__u64)ip6->saddr.in6_u.u6_addr32[i] + ip6->daddr.in6_u.u6_addr32[i];
	return s;
}

static __always_inline __u16 ip4_checksum(const struct iphdr *ip)
{
	const __u32 *w = (const __u32 *)ip;
	__u64 s = 0;

#pragma unroll
	for (int i = 0; i < 5; i++)
		s += w[i];
	return csum_fold(s);
}

/* ---- in-place rewrites ------------------------------------------------------ */

static __always_inline void swap_mac(struct ethhdr *eth)
{
	__u8 mac[ETH_ALEN];

	__builtin_memcpy(mac, eth->h_dest, ETH_ALEN);
	__builtin_memcpy(eth->h_dest, eth->h_source, ETH_ALEN);
	__builtin_memcpy(eth->h_source, mac, ETH_ALEN);
}

static __always_inline void swap_ip4(struct iphdr *ip)
{
	__be32 a = ip->saddr;

	ip->saddr = ip->daddr;
	ip->daddr = a;
}

static __always_inline void swap_ip6(struct ipv6hdr *ip6)
{
	struct in6_addr a = ip6->saddr;

	ip6->saddr = ip6->daddr;
	ip6->daddr = a;
}

/* An IPv6 address as the rules see it. */
static __always_inline void addr6_halves(const struct in6_addr *a, __u64 *hi, __u64 *lo)
{
	*hi = (__u64)bpf_ntohl(a->in6_u.u6_addr32[0]) << 32 | bpf_ntohl(a->in6_u.u6_addr32[1]);
	*lo = (__u64)bpf_ntohl(a->in6_u.u6_addr32[2]) << 32 | bpf_ntohl(a->in6_u.u6_addr32[3]);
}

/* ---- TCP ------------------------------------------------------------------ */

/* A cheap per-connection ISN: the simulator keeps no state either. */
static __always_inline __u32 sim_isn(__u32 a, __u32 b, const struct tcphdr *tcp)
{
	__u32 h = a * 2654435761U ^ b * 2246822519U;

	return h ^ ((__u32)tcp->source << 16 | tcp->dest) * 3266489917U;
}

/*
 * The whole TCP checksum over the header, not an update of the old one: a
 * SYN from a local socket on a veth still carries only the pseudo-header sum
 * (checksum offload), so updating it would produce a wrong sum.
 */
static __always_inline int tcp_checksum(struct tcphdr *tcp, void *data_end, __u64 sum)
{
	__u32 words = tcp->doff;

	if (words < 5)
		return -1;
	tcp->check = 0;
	/* One's complement sums may be taken 32 bits at a time and folded. */
#pragma unroll
	for (__u32 i = 0; i < 15; i++) {
		__u32 *w = (__u32 *)tcp + i;

		if (i >= words)
			break;
		if ((void *)(w + 1) > data_end)
			return -1;
		sum += *w;
	}
	tcp->check = csum_fold(sum);
	return 0;
}

/* Turn the SYN (addresses already swapped) into the answer's TCP header. */
static __always_inline void tcp_answer(struct tcphdr *tcp, __u32 isn, __u32 action)
{
	__u16 p = tcp->source;
	__u32 seq = bpf_ntohl(tcp->seq);

	tcp->source = tcp->dest;
	tcp->dest = p;
	tcp->ack_seq = bpf_htonl(seq + 1);
	tcp->ack = 1;
	if (action == SIM_CLOSED) {
		tcp->seq = 0;
		tcp->syn = 0;
		tcp->rst = 1;
		tcp->window = 0;
	} else {
		tcp->seq = bpf_htonl(isn);
	}
}

/*
 * TCP to the block: the prober's RSTs, anything but a SYN, and SYNs to dead
 * backends end here (an XDP verdict); -1 for a SYN that the caller answers
 * with *ACTION.
 */
static __always_inline int tcp_rx(const struct tcphdr *tcp, __u32 base, const struct sim_cfg *c,
				  __u8 family, __u64 hi, __u64 lo, __u32 *action)
{
	if (tcp->rst) {
		count(base + SIM_T_RST_RX);
		return XDP_DROP;
	}
	if (!tcp->syn || tcp->ack) {
		count(base + SIM_T_OTHER);
		return XDP_DROP;
	}
	count(base + SIM_T_SYN);
	*action = rule_action(c, family, hi, lo, IPPROTO_TCP, bpf_ntohs(tcp->dest));
	if (*action == SIM_DEAD) {
		count(base + SIM_T_DEAD);
		return XDP_DROP;
	}
	return -1;
}

static __always_inline int tcp_done(int bad, __u32 base, __u32 action)
{
	if (bad) {
		count(SIM_CNT_BAD);
		return XDP_DROP;
	}
	count(base + (action == SIM_CLOSED ? SIM_T_RST_SENT : SIM_T_SYNACK));
	return XDP_TX;
}

static __always_inline int tcp4(struct ethhdr *eth, struct iphdr *ip, void *data_end,
				const struct sim_cfg *c, __u32 daddr)
{
	struct tcphdr *tcp = (void *)(ip + 1);
	__u32 action;
	int r;

	if ((void *)(tcp + 1) > data_end)
		return XDP_PASS;
	r = tcp_rx(tcp, SIM_CNT_TCP4, c, 4, 0, daddr, &action);
	if (r >= 0)
		return r;
	swap_mac(eth);
	swap_ip4(ip);
	tcp_answer(tcp, sim_isn(ip->saddr, ip->daddr, tcp), action);
	r = tcp_checksum(tcp, data_end, pseudo4(ip, IPPROTO_TCP, tcp->doff * 4));
	return tcp_done(r, SIM_CNT_TCP4, action);
}

static __always_inline int tcp6(struct ethhdr *eth, struct ipv6hdr *ip6, void *data_end,
				const struct sim_cfg *c, __u64 hi, __u64 lo)
{
	struct tcphdr *tcp = (void *)(ip6 + 1);
	__u32 action;
	int r;

	if ((void *)(tcp + 1) > data_end)
		return XDP_PASS;
	r = tcp_rx(tcp, SIM_CNT_TCP6, c, 6, hi, lo, &action);
	if (r >= 0)
		return r;
	swap_mac(eth);
	swap_ip6(ip6);
	ip6->hop_limit = 64;
	tcp_answer(tcp, sim_isn(ip6->saddr.in6_u.u6_addr32[3], ip6->daddr.in6_u.u6_addr32[3], tcp),
		   action);
	r = tcp_checksum(tcp, data_end, pseudo6(ip6, IPPROTO_TCP, tcp->doff * 4));
	return tcp_done(r, SIM_CNT_TCP6, action);
}

/* ---- UDP ------------------------------------------------------------------ */

/*
 * Frame offsets: Ethernet, then the IP header (v4 without options), then
 * the UDP header.
 */
#define OFF_IP ETH_HLEN
#define OFF_UDP4 (OFF_IP + sizeof(struct iphdr))
#define OFF_UDP6 (OFF_IP + sizeof(struct ipv6hdr))

static __always_inline int frame_len(struct xdp_md *ctx)
{
	return ctx->data_end - ctx->data;
}

/* Make the frame LEN bytes long, moving its end. */
static __always_inline int adjust_tail_to(struct xdp_md *ctx, __u32 len)
{
	int delta = (int)len - frame_len(ctx);

	return delta ? bpf_xdp_adjust_tail(ctx, delta) : 0;
}

/* The UDP checksum of the datagram at OFF, LEN long, in place; -1 if it cannot be read. */
static __always_inline int udp_checksum(struct xdp_md *ctx, struct udphdr *udp, __u32 off,
					__u32 len, __u64 pseudo)
{
	__s64 s;

	udp->check = 0;
	s = csum_bytes(ctx, off, len);
	if (s < 0)
		return -1;
	udp->check = csum_fold(pseudo + s);
	if (!udp->check)
		udp->check = 0xffff;	/* 0 means "no checksum" (RFC 768) */
	return 0;
}

/*
 * UP: the datagram back, addresses and ports swapped.  The IPv4 header
 * checksum does not change with a swap.
 */
static __always_inline int udp_echo(struct xdp_md *ctx, int v6, __u32 ulen)
{
	void *data = (void *)(long)ctx->data;
	void *data_end = (void *)(long)ctx->data_end;
	struct ethhdr *eth = data;
	struct udphdr *udp;
	__u64 pseudo;
	__u16 p;

	if (v6) {
		struct ipv6hdr *ip6 = data + OFF_IP;

		udp = data + OFF_UDP6;
		if ((void *)(udp + 1) > data_end)
			return -1;
		swap_ip6(ip6);
		ip6->hop_limit = 64;
		pseudo = pseudo6(ip6, IPPROTO_UDP, ulen);
	} else {
		struct iphdr *ip = data + OFF_IP;

		udp = data + OFF_UDP4;
		if ((void *)(udp + 1) > data_end)
			return -1;
		swap_ip4(ip);
		pseudo = pseudo4(ip, IPPROTO_UDP, ulen);
	}
	swap_mac(eth);
	p = udp->source;
	udp->source = udp->dest;
	udp->dest = p;
	return udp_checksum(ctx, udp, v6 ? OFF_UDP6 : OFF_UDP4, ulen, pseudo);
}

/*
 * OTHER: a datagram back with SIM_OTHER_PAYLOAD instead of what came.  The
 * frame is made the answer's length first (bpf_xdp_adjust_tail moves only
 * its end), then the headers are rewritten.
 */
static __always_inline int udp_other(struct xdp_md *ctx, int v6)
{
	__u32 off_udp = v6 ? OFF_UDP6 : OFF_UDP4;
	__u32 want = off_udp + sizeof(struct udphdr) + SIM_OTHER_LEN;
	__u16 ulen = sizeof(struct udphdr) + SIM_OTHER_LEN;
	void *data, *data_end;
	struct udphdr *udp;
	__u8 *pl;

	if (adjust_tail_to(ctx, want))
		return -1;
	data = (void *)(long)ctx->data;
	data_end = (void *)(long)ctx->data_end;
	udp = data + off_udp;
	pl = (void *)(udp + 1);
	if ((void *)(pl + SIM_OTHER_LEN) > data_end)
		return -1;
	__builtin_memcpy(pl, SIM_OTHER_PAYLOAD, SIM_OTHER_LEN);
	udp->len = bpf_htons(ulen);
	if (v6) {
		struct ipv6hdr *ip6 = data + OFF_IP;

		ip6->payload_len = bpf_htons(ulen);
	} else {
		struct iphdr *ip = data + OFF_IP;

		ip->tot_len = bpf_htons(sizeof(*ip) + ulen);
		ip->check = 0;
		ip->check = ip4_checksum(ip);
	}
	return udp_echo(ctx, v6, ulen);
}

/*
 * CLOSED: ICMP port unreachable, as the backend's kernel would send it: from
 * the address the datagram was for, quoting the datagram's IP packet from
 * its IP header on, as much of it as fits SIM_ICMP4_MAX / SIM_ICMP6_MAX
 * bytes of answer.  The frame is cut to the quote first, then grown at the
 * front by the new IP and ICMP headers; the old Ethernet header's place
 * becomes part of them.
 */
static __always_inline int udp_unreach(struct xdp_md *ctx, int v6, __u32 pkt_len)
{
	__u32 hdrs = v6 ? SIM_ICMP6_HDRS : SIM_ICMP4_HDRS;
	__u32 max = (v6 ? SIM_ICMP6_MAX : SIM_ICMP4_MAX) - hdrs;
	__u32 quote = pkt_len < max ? pkt_len : max;
	void *data = (void *)(long)ctx->data;
	void *data_end = (void *)(long)ctx->data_end;
	struct ethhdr *eth = data;
	__u8 smac[ETH_ALEN], dmac[ETH_ALEN];
	struct in6_addr a6 = {}, b6 = {};
	struct sim_icmp *ic;
	__be32 a4 = 0, b4 = 0;
	__s64 qsum;
	__u64 s;

	if (v6) {
		struct ipv6hdr *ip6 = data + OFF_IP;

		if ((void *)(ip6 + 1) > data_end)
			return -1;
		a6 = ip6->daddr;	/* the backend: the answer's source */
		b6 = ip6->saddr;
	} else {
		struct iphdr *ip = data + OFF_IP;

		if ((void *)(ip + 1) > data_end)
			return -1;
		a4 = ip->daddr;
		b4 = ip->saddr;
	}
	if ((void *)(eth + 1) > data_end)
		return -1;
	__builtin_memcpy(smac, eth->h_dest, ETH_ALEN);
	__builtin_memcpy(dmac, eth->h_source, ETH_ALEN);

	if (adjust_tail_to(ctx, ETH_HLEN + quote))
		return -1;
	if (bpf_xdp_adjust_head(ctx, -(int)hdrs))
		return -1;
	/* The quote now starts after the new headers. */
	qsum = csum_bytes(ctx, ETH_HLEN + hdrs, quote);
	if (qsum < 0)
		return -1;
	data = (void *)(long)ctx->data;
	data_end = (void *)(long)ctx->data_end;
	eth = data;
	if ((void *)(eth + 1) > data_end)
		return -1;
	__builtin_memcpy(eth->h_dest, dmac, ETH_ALEN);
	__builtin_memcpy(eth->h_source, smac, ETH_ALEN);

	if (v6) {
		struct ipv6hdr *ip6 = data + OFF_IP;

		ic = (void *)(ip6 + 1);
		if ((void *)(ic + 1) > data_end)
			return -1;
		eth->h_proto = bpf_htons(ETH_P_IPV6);
		*(__be32 *)ip6 = bpf_htonl(6U << 28);	/* version, no class, no flow label */
		ip6->payload_len = bpf_htons(sizeof(*ic) + quote);
		ip6->nexthdr = IPPROTO_ICMPV6;
		ip6->hop_limit = 64;
		ip6->saddr = a6;
		ip6->daddr = b6;
		ic->type = SIM_ICMP6_UNREACH;
		ic->code = SIM_ICMP6_PORT;
		s = pseudo6(ip6, IPPROTO_ICMPV6, sizeof(*ic) + quote);
	} else {
		struct iphdr *ip = data + OFF_IP;

		ic = (void *)(ip + 1);
		if ((void *)(ic + 1) > data_end)
			return -1;
		eth->h_proto = bpf_htons(ETH_P_IP);
		ip->version = 4;
		ip->ihl = 5;
		ip->tos = 0xc0;		/* the kernel's ICMP errors: internetwork control */
		ip->tot_len = bpf_htons(SIM_ICMP4_HDRS + quote);
		ip->id = 0;
		ip->frag_off = 0;
		ip->ttl = 64;
		ip->protocol = IPPROTO_ICMP;
		ip->saddr = a4;
		ip->daddr = b4;
		ip->check = 0;
		ip->check = ip4_checksum(ip);
		ic->type = SIM_ICMP4_UNREACH;
		ic->code = SIM_ICMP4_PORT;
		s = 0;			/* ICMP for IPv4 has no pseudo-header */
	}
	ic->checksum = 0;
	ic->rest = 0;
	s += qsum + ((__u32 *)ic)[0] + ((__u32 *)ic)[1];
	ic->checksum = csum_fold(s);
	return 0;
}

/*
 * A datagram to the block: PKT_LEN is its IP packet's length, ULEN the UDP
 * length, both checked against the frame by the caller.
 */
static __always_inline int udp_answer(struct xdp_md *ctx, int v6, __u32 action, __u32 pkt_len,
				      __u32 ulen)
{
	__u32 base = v6 ? SIM_CNT_UDP6 : SIM_CNT_UDP4;
	__u32 done;
	int r;

	count(base + SIM_U_RX);
	switch (action) {
	case SIM_DEAD:
		count(base + SIM_U_DEAD);
		return XDP_DROP;
	case SIM_CLOSED:
		r = udp_unreach(ctx, v6, pkt_len);
		done = SIM_U_UNREACH;
		break;
	case SIM_OTHER:
		r = udp_other(ctx, v6);
		done = SIM_U_OTHER;
		break;
	default:
		r = udp_echo(ctx, v6, ulen);
		done = SIM_U_ECHO;
		break;
	}
	if (r) {
		count(SIM_CNT_BAD);
		return XDP_DROP;
	}
	count(base + done);
	return XDP_TX;
}

/* ---- the program ------------------------------------------------------------ */

static __always_inline int sim4(struct xdp_md *ctx, const struct sim_cfg *c)
{
	void *data = (void *)(long)ctx->data;
	void *data_end = (void *)(long)ctx->data_end;
	struct ethhdr *eth = data;
	struct iphdr *ip = data + OFF_IP;
	__u32 daddr, pkt_len, ulen;
	struct udphdr *udp;
	__u16 port;

	if ((void *)(ip + 1) > data_end || ip->ihl != 5 ||
	    (ip->frag_off & bpf_htons(0x3fff)))
		return XDP_PASS;
	if (ip->protocol != IPPROTO_TCP && ip->protocol != IPPROTO_UDP)
		return XDP_PASS;
	daddr = bpf_ntohl(ip->daddr);
	if (!c->mask || (daddr & c->mask) != c->net)
		return XDP_PASS;
	if (ip->protocol == IPPROTO_TCP)
		return tcp4(eth, ip, data_end, c, daddr);
	udp = (void *)(ip + 1);
	if ((void *)(udp + 1) > data_end)
		return XDP_PASS;
	pkt_len = bpf_ntohs(ip->tot_len);
	ulen = bpf_ntohs(udp->len);
	if (ulen < sizeof(*udp) || pkt_len != sizeof(*ip) + ulen ||
	    OFF_IP + pkt_len > (__u32)frame_len(ctx)) {
		count(SIM_CNT_BAD);
		return XDP_DROP;
	}
	port = bpf_ntohs(udp->dest);
	return udp_answer(ctx, 0, rule_action(c, 4, 0, daddr, IPPROTO_UDP, port), pkt_len, ulen);
}

static __always_inline int sim6(struct xdp_md *ctx, const struct sim_cfg *c)
{
	void *data = (void *)(long)ctx->data;
	void *data_end = (void *)(long)ctx->data_end;
	struct ethhdr *eth = data;
	struct ipv6hdr *ip6 = data + OFF_IP;
	__u32 pkt_len, ulen;
	struct udphdr *udp;
	__u64 hi, lo;
	__u16 port;

	if ((void *)(ip6 + 1) > data_end)
		return XDP_PASS;
	if (ip6->nexthdr != IPPROTO_TCP && ip6->nexthdr != IPPROTO_UDP)
		return XDP_PASS;
	if (!(c->mask6_hi | c->mask6_lo))
		return XDP_PASS;
	addr6_halves(&ip6->daddr, &hi, &lo);
	if ((hi & c->mask6_hi) != c->net6_hi || (lo & c->mask6_lo) != c->net6_lo)
		return XDP_PASS;
	if (ip6->nexthdr == IPPROTO_TCP)
		return tcp6(eth, ip6, data_end, c, hi, lo);
	udp = (void *)(ip6 + 1);
	if ((void *)(udp + 1) > data_end)
		return XDP_PASS;
	ulen = bpf_ntohs(udp->len);
	pkt_len = sizeof(*ip6) + ulen;
	if (ulen < sizeof(*udp) || bpf_ntohs(ip6->payload_len) != ulen ||
	    OFF_IP + pkt_len > (__u32)frame_len(ctx)) {
		count(SIM_CNT_BAD);
		return XDP_DROP;
	}
	port = bpf_ntohs(udp->dest);
	return udp_answer(ctx, 1, rule_action(c, 6, hi, lo, IPPROTO_UDP, port), pkt_len, ulen);
}

SEC("xdp")
int backend_sim(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data;
	void *data_end = (void *)(long)ctx->data_end;
	struct ethhdr *eth = data;
	struct sim_cfg *c;
	__u32 zero = 0;

	if ((void *)(eth + 1) > data_end)
		return XDP_PASS;
	c = bpf_map_lookup_elem(&sim_cfg, &zero);
	if (!c)
		return XDP_PASS;
	if (eth->h_proto == bpf_htons(ETH_P_IP))
		return sim4(ctx, c);
	if (eth->h_proto == bpf_htons(ETH_P_IPV6))
		return sim6(ctx, c);
	return XDP_PASS;
}
