// SPDX-License-Identifier: GPL-2.0 OR MIT
/*
 * probe_rx: attached (through libxdp) to the probing interface.  A packet is
 * a candidate answer only when its tuple (backend address and port, our
 * address and port) is the tuple of a probe slot; everything else, the
 * host's own connections in our port range included, leaves with XDP_PASS.
 * A candidate is ours when it echoes the probe's 32-bit keyed cookie.
 */
#include "probe_tx.h"
#include "lib/search.h"

char LICENSE[] SEC("license") = "Dual MIT/GPL";

enum match {
	MATCH_NONE,	/* no probe has this tuple: not ours */
	MATCH_FRESH,	/* answers the slot's current probe */
	MATCH_STALE,	/* answers the probe before it */
	MATCH_FORGED,	/* a probe's tuple, but no cookie of ours */
};

/* Which generation of s's probe cookie is, if any. */
static __always_inline enum match cookie_match(const struct xdphc_slot_key *k, __u32 cookie,
					       __u32 gen)
{
	__u16 dport = bpf_ntohs(k->port);

	if (cookie_of(k->family, k->addr, k->sport, dport, gen) == cookie)
		return MATCH_FRESH;
	if (cookie_of(k->family, k->addr, k->sport, dport, gen - 1) == cookie)
		return MATCH_STALE;
	return MATCH_FORGED;
}

static __always_inline enum match match_reply(struct xdphc_slot_key *k, __u32 isn,
					      struct xdphc_slot **slot, __u32 *gen)
{
	struct xdphc_slot *s = slot_find(k);

	if (!s)
		return MATCH_NONE;
	*slot = s;
	*gen = s->gen;
	return cookie_match(k, isn, *gen);
}

/* The key of a reply from peer:port to our sport, for a probe of family and proto. */
static __always_inline void key_init(struct xdphc_slot_key *k, __u8 family, __u8 proto,
				     const __be32 *peer, __be16 port, __u16 sport)
{
	k->addr[0] = peer[0];
	if (family == AF_INET6) {
		k->addr[1] = peer[1];
		k->addr[2] = peer[2];
		k->addr[3] = peer[3];
	} else {
		k->addr[1] = 0;
		k->addr[2] = 0;
		k->addr[3] = 0;
	}
	k->port = port;
	k->sport = sport;
	k->family = family;
	k->proto = proto;
}

static __always_inline int our_port(__be16 port)
{
	return (__u16)(bpf_ntohs(port) - cfg.sport_lo) < cfg.sport_count;
}

static __always_inline void swap_macs(struct ethhdr *eth)
{
	__u8 mac[ETH_ALEN];

	__builtin_memcpy(mac, eth->h_dest, ETH_ALEN);
	__builtin_memcpy(eth->h_dest, eth->h_source, ETH_ALEN);
	__builtin_memcpy(eth->h_source, mac, ETH_ALEN);
}

/* The SYN-ACK's TCP header, turned around into an RST; checksum 0. */
static __always_inline void tcp_to_rst(struct tcphdr *tcp)
{
	__be16 p = tcp->source;

	tcp->source = tcp->dest;
	tcp->dest = p;
	tcp->seq = tcp->ack_seq;
	tcp->ack_seq = 0;
	tcp_set_doff_flags(tcp, TCP_HDR_WORDS, TCP_FL_RST);
	tcp->window = 0;
	tcp->check = 0;
	tcp->urg_ptr = 0;
}

/*
 * Turn the SYN-ACK into the RST that tears the backend's half-open entry
 * down (seq = its ack, i.e. our ISN + 1), and send it back out.
 */
static __always_inline int synack_to_rst(struct xdp_md *ctx)
{
	void *data, *data_end;
	struct iphdr *ip;
	struct tcphdr *tcp;
	__be32 a;
	int len = ctx->data_end - ctx->data;

	/*
	 * Trim options away, but not below the Ethernet minimum: the IP length
	 * says where the RST ends and the rest is padding.  Never shrinking a
	 * minimum-size frame also keeps live-frames pages intact: when a peer
	 * on the same host answers with XDP_TX, our SYN's page comes back as
	 * the SYN-ACK, and a live-frames run that later reuses a page it sees
	 * unmoved sends it with its stale length.
	 */
	if (len > XDPHC_FRAME_LEN && bpf_xdp_adjust_tail(ctx, XDPHC_FRAME_LEN - len))
		return XDP_DROP;
	data = (void *)(long)ctx->data;
	data_end = (void *)(long)ctx->data_end;
	ip = data + sizeof(struct ethhdr);
	tcp = (void *)(ip + 1);
	if ((void *)(tcp + 1) > data_end)
		return XDP_DROP;

	swap_macs(data);
	a = ip->saddr;
	ip4_fill(ip, ip->daddr, a, IPPROTO_TCP, sizeof(*ip) + sizeof(*tcp));
	tcp_to_rst(tcp);
	tcp->check = csum_fold(csum_words(tcp, sizeof(*tcp) / 2,
					  pseudo_sum4(ip->saddr, ip->daddr, IPPROTO_TCP,
						      sizeof(*tcp))));
	count(XDPHC_CNT_RST_SENT);
	return XDP_TX;
}

#define RST6_LEN (sizeof(struct ethhdr) + sizeof(struct ip6_hdr) + sizeof(struct tcphdr))

/* The same for IPv6: the RST is 74 bytes, the SYN-ACK's options trimmed away. */
static __always_inline int synack_to_rst6(struct xdp_md *ctx)
{
	void *data, *data_end;
	struct ip6_hdr *ip6;
	struct tcphdr *tcp;
	__be32 peer[4], us[4];
	int len = ctx->data_end - ctx->data;

	if (len > (int)RST6_LEN && bpf_xdp_adjust_tail(ctx, (int)RST6_LEN - len))
		return XDP_DROP;
	data = (void *)(long)ctx->data;
	data_end = (void *)(long)ctx->data_end;
	ip6 = data + sizeof(struct ethhdr);
	tcp = (void *)(ip6 + 1);
	if ((void *)(tcp + 1) > data_end)
		return XDP_DROP;

	swap_macs(data);
	__builtin_memcpy(peer, ip6->saddr, 16);
	__builtin_memcpy(us, ip6->daddr, 16);
	ip6_fill(ip6, us, peer, IPPROTO_TCP, sizeof(*tcp));
	tcp_to_rst(tcp);
	tcp->check = csum_fold(csum_words(tcp, sizeof(*tcp) / 2,
					  pseudo_sum6(us, peer, IPPROTO_TCP, sizeof(*tcp))));
	count(XDPHC_CNT_RST_SENT);
	return XDP_TX;
}

/*
 * A TCP segment from peer to us.  plain: the IP header has no options (v4)
 * or extension headers (v6), so the RST can be written in place.
 */
static __always_inline int handle_tcp(struct xdp_md *ctx, __u8 family, const __be32 *peer,
				      struct tcphdr *tcp, void *data_end, int plain)
{
	struct xdphc_slot *s = NULL;
	struct xdphc_slot_key k;
	__u32 gen = 0;
	enum match m;
	__u8 flags;

	if ((void *)(tcp + 1) > data_end)
		return XDP_PASS;
	if (!our_port(tcp->dest))
		return XDP_PASS;
	flags = tcp_flags(tcp);
	/* Anything else (e.g. a challenge ACK) goes to the kernel, which resets it. */
	if ((flags & (TCP_FL_SYN | TCP_FL_ACK | TCP_FL_RST)) != (TCP_FL_SYN | TCP_FL_ACK) &&
	    !(flags & TCP_FL_RST))
		return XDP_PASS;

	key_init(&k, family, IPPROTO_TCP, peer, tcp->source, bpf_ntohs(tcp->dest));
	m = match_reply(&k, bpf_ntohl(tcp->ack_seq) - 1, &s, &gen);
	if (m == MATCH_NONE || !s)
		return XDP_PASS;
	/*
	 * A probe's tuple without our cookie: forged, or a connection of the
	 * host's that happens to share the tuple (NAT may pick any port).
	 * Either way the kernel decides, as it would without us.
	 */
	if (m == MATCH_FORGED) {
		count(XDPHC_CNT_RX_FORGED);
		return XDP_PASS;
	}
	if (flags & TCP_FL_RST) {
		if (m == MATCH_FRESH) {
			slot_record(s, gen, XDPHC_RES_RST, 0, 0);
			count(XDPHC_CNT_RX_RST);
		} else {
			count(XDPHC_CNT_RX_STALE);
		}
		return XDP_DROP;
	}
	if (m == MATCH_FRESH) {
		slot_record(s, gen, XDPHC_RES_SYNACK, 0, 0);
		count(XDPHC_CNT_RX_SYNACK);
	} else {
		count(XDPHC_CNT_RX_STALE);
	}
	/* Stale or not, it is our half-open connection: tear it down. */
	if (!plain)
		return XDP_DROP;
	return family == AF_INET6 ? synack_to_rst6(ctx) : synack_to_rst(ctx);
}

/*
 * Whether a UDP reply carries the probe's cookie digits: fresh, stale (the
 * probe before, whose sport was the same by chance) or forged.
 */
static __always_inline enum match udp_cookie(const struct xdphc_slot_key *k, __u32 gen,
					     struct rx_scratch *sc, __u32 hlen)
{
	__u16 dport = bpf_ntohs(k->port);

	cookie_digits(cookie_of(k->family, k->addr, k->sport, dport, gen), sc->needle);
	if (search_hay(hlen, XDPHC_COOKIE_DIGITS))
		return MATCH_FRESH;
	cookie_digits(cookie_of(k->family, k->addr, k->sport, dport, gen - 1), sc->needle);
	if (search_hay(hlen, XDPHC_COOKIE_DIGITS))
		return MATCH_STALE;
	return MATCH_FORGED;
}

/* What the reply's payload (hlen bytes at off) says of the probe: a XDPHC_RES_UDP_* kind, or 0. */
static __always_inline __u32 udp_verdict(struct xdp_md *ctx, const struct xdphc_slot_key *k,
					 const struct xdphc_slot *s, __u32 gen, __u32 off,
					 __u32 hlen)
{
	const struct xdphc_udp_check *uc;
	struct rx_scratch *sc;
	__u32 c = s->check;
	enum match m;

	uc = bpf_map_lookup_elem(&udp_checks, &c);
	if (!uc)
		return 0;
	if (uc->cookie_off == XDPHC_NO_COOKIE && !uc->expect_len)
		return XDPHC_RES_UDP_REPLY;
	if (hlen > SEARCH_HAY_MAX)
		hlen = SEARCH_HAY_MAX;
	sc = search_load(ctx, off, hlen);
	if (!sc)
		return 0;
	if (uc->cookie_off != XDPHC_NO_COOKIE) {
		m = udp_cookie(k, gen, sc, hlen);
		if (m != MATCH_FRESH) {
			count(m == MATCH_STALE ? XDPHC_CNT_RX_STALE : XDPHC_CNT_RX_FORGED);
			return 0;
		}
	}
	__builtin_memcpy(sc->needle, uc->expect, XDPHC_EXPECT_MAX);
	if (search_hay(hlen, uc->expect_len & (XDPHC_EXPECT_MAX * 2 - 1)))
		return XDPHC_RES_UDP_REPLY;
	return XDPHC_RES_UDP_MISMATCH;
}

/*
 * A datagram from peer to one of our ports.  Its tuple with our port (each
 * probe's own) finds the slot; the payload must then hold what the check
 * expects.  Ours, it ends here: no socket of the host's has the port.
 */
static __always_inline int handle_udp(struct xdp_md *ctx, __u8 family, const __be32 *peer,
				      struct udphdr *udp, void *data_end)
{
	void *data = (void *)(long)ctx->data;
	struct xdphc_slot_key k;
	struct xdphc_slot *s;
	__u32 off, hlen, kind, gen;
	__u16 ulen;

	if ((void *)(udp + 1) > data_end || !our_port(udp->dest))
		return XDP_PASS;
	key_init(&k, family, IPPROTO_UDP, peer, udp->source, bpf_ntohs(udp->dest));
	s = slot_find(&k);
	if (!s)
		return XDP_PASS;
	gen = s->gen;
	off = (void *)(udp + 1) - data;
	ulen = bpf_ntohs(udp->len);
	hlen = data_end - (void *)(udp + 1);
	/* The UDP length, not the frame's: short frames are padded. */
	if (ulen >= sizeof(*udp) && ulen - sizeof(*udp) < hlen)
		hlen = ulen - sizeof(*udp);
	kind = udp_verdict(ctx, &k, s, gen, off, hlen);
	if (!kind)
		return XDP_PASS;
	slot_record(s, gen, kind, 0, 0);
	count(XDPHC_CNT_RX_UDP);
	if (kind == XDPHC_RES_UDP_MISMATCH)
		count(XDPHC_CNT_RX_MISMATCH);
	return XDP_DROP;
}

/*
 * An ICMP or ICMPv6 error quoting a probe of ours: the quoted IP header's
 * destination (peer), protocol, and the first 8 bytes of its L4 header.
 * A SYN's quoted sequence number must be its cookie; a datagram's quoted
 * ports must be its probe's (the source port is each probe's own).
 */
static __always_inline int handle_quote(__u8 family, __u8 proto, const __be32 *peer,
					const __u8 *l4, __u8 type, __u8 code)
{
	struct xdphc_slot *s = NULL;
	struct xdphc_slot_key k;
	__u32 gen = 0;
	enum match m;
	__u16 sport = be16_at(l4);

	if ((__u16)(sport - cfg.sport_lo) >= cfg.sport_count)
		return XDP_PASS;
	key_init(&k, family, proto, peer, bpf_htons(be16_at(l4 + 2)), sport);
	if (proto == IPPROTO_UDP) {
		s = slot_find(&k);
		m = s ? MATCH_FRESH : MATCH_NONE;
		gen = s ? s->gen : 0;
	} else {
		m = match_reply(&k, be32_at(l4 + 4), &s, &gen);
	}
	if (m == MATCH_NONE || !s)
		return XDP_PASS;
	if (m == MATCH_FORGED) {
		count(XDPHC_CNT_RX_FORGED);
		return XDP_PASS;
	}
	if (m == MATCH_STALE) {
		count(XDPHC_CNT_RX_STALE);
		return XDP_DROP;
	}
	slot_record(s, gen, XDPHC_RES_ICMP, type, code);
	count(XDPHC_CNT_RX_ICMP);
	return XDP_DROP;
}

static __always_inline int quoted_proto(__u8 proto)
{
	return proto == IPPROTO_TCP || proto == IPPROTO_UDP;
}

/* ICMP errors quote our probe's IP header and its first 8 L4 bytes. */
static __always_inline int handle_icmp(struct iphdr *ip, void *data_end)
{
	struct icmp_hdr *icmp = (void *)ip + ip->ihl * 4;
	struct iphdr *in;
	__u8 *l4;

	if ((void *)(icmp + 1) > data_end || icmp->type != ICMP_DEST_UNREACH)
		return XDP_PASS;
	in = (void *)(icmp + 1);
	if ((void *)(in + 1) > data_end || in->saddr != ip->daddr ||
	    !quoted_proto(in->protocol) || in->ihl != IP4_HDR_WORDS)
		return XDP_PASS;
	l4 = (void *)(in + 1);
	if ((void *)(l4 + ICMP_QUOTED_L4) > data_end)
		return XDP_PASS;
	return handle_quote(AF_INET, in->protocol, &in->daddr, l4, icmp->type, icmp->code);
}

static __always_inline int same_addr6(const __be32 *a, const __be32 *b)
{
	return a[0] == b[0] && a[1] == b[1] && a[2] == b[2] && a[3] == b[3];
}

static __always_inline int is_src6(const __be32 *a)
{
	return a[0] == cfg.src6[0] && a[1] == cfg.src6[1] && a[2] == cfg.src6[2] &&
	       a[3] == cfg.src6[3];
}

/* ICMPv6 destination unreachable; packet-too-big and the rest pass. */
static __always_inline int handle_icmp6(struct ip6_hdr *ip6, void *data_end)
{
	struct icmp_hdr *icmp = (void *)(ip6 + 1);
	struct ip6_hdr *in;
	__u8 *l4;

	if ((void *)(icmp + 1) > data_end || icmp->type != ICMP6_DEST_UNREACH)
		return XDP_PASS;
	in = (void *)(icmp + 1);
	if ((void *)(in + 1) > data_end || !same_addr6(in->saddr, ip6->daddr) ||
	    !quoted_proto(in->nexthdr))
		return XDP_PASS;
	l4 = (void *)(in + 1);
	if ((void *)(l4 + ICMP_QUOTED_L4) > data_end)
		return XDP_PASS;
	return handle_quote(AF_INET6, in->nexthdr, in->daddr, l4, icmp->type, icmp->code);
}

static __always_inline int rx4(struct xdp_md *ctx, struct iphdr *ip, void *data_end)
{
	void *l4;

	if ((void *)(ip + 1) > data_end || ip->daddr != cfg.src4 || !cfg.src4 ||
	    ip->ihl < IP4_HDR_WORDS)
		return XDP_PASS;
	/* Fragments are never answers to our probes. */
	if (ip->frag_off & bpf_htons(IP_FRAG_BITS))
		return XDP_PASS;
	l4 = (void *)ip + ip->ihl * 4;
	if (ip->protocol == IPPROTO_TCP)
		return handle_tcp(ctx, AF_INET, &ip->saddr, l4, data_end,
				  ip->ihl == IP4_HDR_WORDS);
	if (ip->protocol == IPPROTO_UDP)
		return handle_udp(ctx, AF_INET, &ip->saddr, l4, data_end);
	if (ip->protocol == IPPROTO_ICMP)
		return handle_icmp(ip, data_end);
	return XDP_PASS;
}

/* Replies to our probes carry no extension headers: a packet with them passes. */
static __always_inline int rx6(struct xdp_md *ctx, struct ip6_hdr *ip6, void *data_end)
{
	if ((void *)(ip6 + 1) > data_end || !cfg.src6[0] || !is_src6(ip6->daddr))
		return XDP_PASS;
	if (ip6->nexthdr == IPPROTO_TCP)
		return handle_tcp(ctx, AF_INET6, ip6->saddr, (void *)(ip6 + 1), data_end, 1);
	if (ip6->nexthdr == IPPROTO_UDP)
		return handle_udp(ctx, AF_INET6, ip6->saddr, (void *)(ip6 + 1), data_end);
	if (ip6->nexthdr == IPPROTO_ICMP6)
		return handle_icmp6(ip6, data_end);
	return XDP_PASS;
}

SEC("xdp")
int probe_rx(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data;
	void *data_end = (void *)(long)ctx->data_end;
	struct ethhdr *eth = data;

	/* The controller's batched BPF_PROG_RUN: write a probe. */
	if (ctx->ingress_ifindex == XDPHC_TX_IFINDEX)
		return tx_frame(ctx);
	if ((void *)(eth + 1) > data_end)
		return XDP_PASS;
	if (eth->h_proto == bpf_htons(ETH_P_IP))
		return rx4(ctx, (void *)(eth + 1), data_end);
	if (eth->h_proto == bpf_htons(ETH_P_IPV6))
		return rx6(ctx, (void *)(eth + 1), data_end);
	return XDP_PASS;
}
