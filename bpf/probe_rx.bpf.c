// SPDX-License-Identifier: GPL-2.0 OR MIT
/*
 * probe_rx: attached (through libxdp) to the probing interface.  A packet is
 * a candidate answer only when its tuple (backend address and port, our
 * address and port) is the tuple of a probe slot; everything else, the
 * host's own connections in our port range included, leaves with XDP_PASS.
 * A candidate is ours when it echoes the probe's 32-bit keyed cookie.
 */
#include "probe_tx.h"

char LICENSE[] SEC("license") = "Dual MIT/GPL";

enum match {
	MATCH_NONE,	/* no probe has this tuple: not ours */
	MATCH_FRESH,	/* answers the slot's current probe */
	MATCH_STALE,	/* answers the probe before it */
	MATCH_FORGED,	/* a probe's tuple, but no cookie of ours */
};

static __always_inline enum match match_reply(struct xdphc_slot_key *k, __be32 src,
					      __u32 isn, struct xdphc_slot **slot, __u32 *gen)
{
	struct xdphc_slot *s = slot_find(k);
	__u16 dport = bpf_ntohs(k->port);

	if (!s)
		return MATCH_NONE;
	*slot = s;
	*gen = s->gen;
	if (probe_cookie(src, k->addr[0], k->sport, dport, *gen) == isn)
		return MATCH_FRESH;
	if (probe_cookie(src, k->addr[0], k->sport, dport, *gen - 1) == isn)
		return MATCH_STALE;
	return MATCH_FORGED;
}

/* The key of a TCP probe of an IPv4 backend: the kind of every reply probe_rx handles. */
static __always_inline void key_init(struct xdphc_slot_key *k, __be32 backend, __be16 port,
				     __u16 sport)
{
	k->addr[0] = backend;
	k->addr[1] = 0;
	k->addr[2] = 0;
	k->addr[3] = 0;
	k->port = port;
	k->sport = sport;
	k->family = AF_INET;
	k->proto = IPPROTO_TCP;
}

/*
 * Turn the SYN-ACK into the RST that tears the backend's half-open entry
 * down (seq = its ack, i.e. our ISN + 1), and send it back out.
 */
static __always_inline int synack_to_rst(struct xdp_md *ctx)
{
	void *data, *data_end;
	struct ethhdr *eth;
	struct iphdr *ip;
	struct tcphdr *tcp;
	__u8 mac[ETH_ALEN];
	__be32 a;
	__be16 p;
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
	eth = data;
	ip = (void *)(eth + 1);
	tcp = (void *)(ip + 1);
	if ((void *)(tcp + 1) > data_end)
		return XDP_DROP;

	__builtin_memcpy(mac, eth->h_dest, ETH_ALEN);
	__builtin_memcpy(eth->h_dest, eth->h_source, ETH_ALEN);
	__builtin_memcpy(eth->h_source, mac, ETH_ALEN);

	a = ip->saddr;
	ip4_fill(ip, ip->daddr, a, sizeof(*ip) + sizeof(*tcp));

	p = tcp->source;
	tcp->source = tcp->dest;
	tcp->dest = p;
	tcp->seq = tcp->ack_seq;
	tcp->ack_seq = 0;
	tcp_set_doff_flags(tcp, TCP_HDR_WORDS, TCP_FL_RST);
	tcp->window = 0;
	tcp->check = 0;
	tcp->urg_ptr = 0;
	tcp->check = csum_fold(csum_words(tcp, sizeof(*tcp) / 2,
					  pseudo_sum4(ip->saddr, ip->daddr, sizeof(*tcp))));
	count(XDPHC_CNT_RST_SENT);
	return XDP_TX;
}

static __always_inline int handle_tcp(struct xdp_md *ctx, struct iphdr *ip,
				      void *data_end)
{
	struct tcphdr *tcp = (void *)ip + ip->ihl * 4;
	struct xdphc_slot *s = NULL;
	struct xdphc_slot_key k;
	__u32 gen = 0;
	enum match m;
	__u8 flags;

	if ((void *)(tcp + 1) > data_end)
		return XDP_PASS;
	if ((__u16)(bpf_ntohs(tcp->dest) - cfg.sport_lo) >= cfg.sport_count)
		return XDP_PASS;
	flags = tcp_flags(tcp);
	/* Anything else (e.g. a challenge ACK) goes to the kernel, which resets it. */
	if ((flags & (TCP_FL_SYN | TCP_FL_ACK | TCP_FL_RST)) != (TCP_FL_SYN | TCP_FL_ACK) &&
	    !(flags & TCP_FL_RST))
		return XDP_PASS;

	key_init(&k, ip->saddr, tcp->source, bpf_ntohs(tcp->dest));
	m = match_reply(&k, ip->daddr, bpf_ntohl(tcp->ack_seq) - 1, &s, &gen);
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
	if (ip->ihl != IP4_HDR_WORDS)
		return XDP_DROP;
	return synack_to_rst(ctx);
}

/* ICMP errors quote our SYN's IP header and its first 8 TCP bytes. */
static __always_inline int handle_icmp(struct iphdr *ip, void *data_end)
{
	struct icmp_hdr *icmp = (void *)ip + ip->ihl * 4;
	struct xdphc_slot *s = NULL;
	struct xdphc_slot_key k;
	struct iphdr *in;
	__u32 gen = 0;
	enum match m;
	__u16 sport;
	__u8 *l4;

	if ((void *)(icmp + 1) > data_end || icmp->type != ICMP_DEST_UNREACH)
		return XDP_PASS;
	in = (void *)(icmp + 1);
	if ((void *)(in + 1) > data_end || in->saddr != ip->daddr ||
	    in->protocol != IPPROTO_TCP || in->ihl != IP4_HDR_WORDS)
		return XDP_PASS;
	l4 = (void *)(in + 1);
	if ((void *)(l4 + ICMP_QUOTED_L4) > data_end)
		return XDP_PASS;
	sport = be16_at(l4);
	if ((__u16)(sport - cfg.sport_lo) >= cfg.sport_count)
		return XDP_PASS;
	key_init(&k, in->daddr, bpf_htons(be16_at(l4 + 2)), sport);
	m = match_reply(&k, in->saddr, be32_at(l4 + 4), &s, &gen);
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
	slot_record(s, gen, XDPHC_RES_ICMP, icmp->type, icmp->code);
	count(XDPHC_CNT_RX_ICMP);
	return XDP_DROP;
}

SEC("xdp")
int probe_rx(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data;
	void *data_end = (void *)(long)ctx->data_end;
	struct ethhdr *eth = data;
	struct iphdr *ip;

	/* The controller's batched BPF_PROG_RUN: write a SYN. */
	if (ctx->ingress_ifindex == XDPHC_TX_IFINDEX)
		return tx_frame(ctx);
	if ((void *)(eth + 1) > data_end || eth->h_proto != bpf_htons(ETH_P_IP))
		return XDP_PASS;
	ip = (void *)(eth + 1);
	if ((void *)(ip + 1) > data_end || ip->daddr != cfg.src4 || ip->ihl < IP4_HDR_WORDS)
		return XDP_PASS;
	/* Fragments are never answers to a 60-byte SYN. */
	if (ip->frag_off & bpf_htons(IP_FRAG_BITS))
		return XDP_PASS;
	if (ip->protocol == IPPROTO_TCP)
		return handle_tcp(ctx, ip, data_end);
	if (ip->protocol == IPPROTO_ICMP)
		return handle_icmp(ip, data_end);
	return XDP_PASS;
}
