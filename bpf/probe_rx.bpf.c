// SPDX-License-Identifier: GPL-2.0 OR MIT
/*
 * probe_rx: attached (through libxdp) to the probing interface.  Everything
 * that is not an answer to one of our probes leaves with XDP_PASS after a
 * couple of compares.  Answers are matched statelessly: the slot index and
 * the keyed cookie travel in our source port and ISN.
 */
#include "probe_common.h"
#include "probe_tx.h"

char LICENSE[] SEC("license") = "Dual MIT/GPL";

enum match {
	MATCH_FRESH,
	MATCH_STALE,
	MATCH_FORGED,
};

struct reply {
	__be32 backend;		/* the probed address */
	__u16 backend_port;	/* host order */
	__u16 our_port;		/* host order */
	__u32 isn;		/* the ISN our probe carried */
};

static __always_inline int cookie_ok(const struct reply *r, __u32 gen)
{
	__u32 c = probe_cookie(cfg.src4, r->backend, r->our_port, r->backend_port, gen);

	return (c & ~idx_mask()) == (r->isn & ~idx_mask());
}

static __always_inline enum match match_reply(const struct reply *r,
					      struct xdphc_slot **slot, __u32 *gen)
{
	__u32 idx = slot_of(r->our_port, r->isn);
	struct xdphc_slot *s;

	if (idx >= cfg.nslots)
		return MATCH_FORGED;
	s = bpf_map_lookup_elem(&slots, &idx);
	if (!s || s->family != AF_INET || s->addr[0] != r->backend ||
	    s->port != bpf_htons(r->backend_port))
		return MATCH_FORGED;
	*slot = s;
	*gen = s->gen;
	if (cookie_ok(r, *gen))
		return MATCH_FRESH;
	if (cookie_ok(r, *gen - 1))
		return MATCH_STALE;
	return MATCH_FORGED;
}

/* First answer to a probe wins; retransmissions and late copies are ignored. */
static __always_inline void record(struct xdphc_slot *s, __u32 gen, __u32 kind,
				   __u8 type, __u8 code)
{
	__u64 old = s->result;

	if (XDPHC_RESULT_GEN(old) == gen && XDPHC_RESULT_KIND(old) != XDPHC_RES_NONE) {
		count(XDPHC_CNT_RX_DUP);
		return;
	}
	s->rtt_us = (__u32)((bpf_ktime_get_ns() - s->sent_ns) / 1000);
	barrier();	/* rtt before result: the controller reads result first */
	s->result = XDPHC_RESULT(gen, kind, type, code);
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
	((__u8 *)tcp)[12] = 5 << 4;		/* doff 5, no options */
	((__u8 *)tcp)[13] = TCP_FL_RST;
	tcp->window = 0;
	tcp->check = 0;
	tcp->urg_ptr = 0;
	tcp->check = csum_fold(csum_words(tcp, 10, pseudo_sum4(ip->saddr, ip->daddr,
							       sizeof(*tcp))));
	count(XDPHC_CNT_RST_SENT);
	return XDP_TX;
}

static __always_inline int handle_tcp(struct xdp_md *ctx, struct iphdr *ip,
				      void *data_end)
{
	struct tcphdr *tcp = (void *)ip + ip->ihl * 4;
	struct xdphc_slot *s = NULL;
	struct reply r;
	__u8 flags;
	__u32 gen = 0;
	enum match m;

	if ((void *)(tcp + 1) > data_end)
		return XDP_PASS;
	r.our_port = bpf_ntohs(tcp->dest);
	if (!our_port(r.our_port))
		return XDP_PASS;
	flags = ((__u8 *)tcp)[13];
	/* Anything else (e.g. a challenge ACK) goes to the kernel, which resets it. */
	if ((flags & (TCP_FL_SYN | TCP_FL_ACK | TCP_FL_RST)) != (TCP_FL_SYN | TCP_FL_ACK) &&
	    !(flags & TCP_FL_RST))
		return XDP_PASS;

	r.backend = ip->saddr;
	r.backend_port = bpf_ntohs(tcp->source);
	r.isn = bpf_ntohl(tcp->ack_seq) - 1;
	m = match_reply(&r, &s, &gen);
	if (m == MATCH_FORGED || !s) {
		count(XDPHC_CNT_RX_FORGED);
		return XDP_DROP;
	}
	if (flags & TCP_FL_RST) {
		if (m == MATCH_FRESH) {
			record(s, gen, XDPHC_RES_RST, 0, 0);
			count(XDPHC_CNT_RX_RST);
		} else {
			count(XDPHC_CNT_RX_STALE);
		}
		return XDP_DROP;
	}
	if (m == MATCH_FRESH) {
		record(s, gen, XDPHC_RES_SYNACK, 0, 0);
		count(XDPHC_CNT_RX_SYNACK);
	} else {
		count(XDPHC_CNT_RX_STALE);
	}
	/* Stale or not, it is our half-open connection: tear it down. */
	if (ip->ihl != 5)
		return XDP_DROP;
	return synack_to_rst(ctx);
}

/* ICMP errors quote our SYN's IP header and its first 8 TCP bytes. */
static __always_inline int handle_icmp(struct iphdr *ip, void *data_end)
{
	struct icmp_hdr *icmp = (void *)ip + ip->ihl * 4;
	struct xdphc_slot *s = NULL;
	struct iphdr *in;
	__u8 *l4;
	struct reply r;
	__u32 gen = 0;
	enum match m;

	if ((void *)(icmp + 1) > data_end || icmp->type != ICMP_DEST_UNREACH)
		return XDP_PASS;
	in = (void *)(icmp + 1);
	if ((void *)(in + 1) > data_end || in->saddr != cfg.src4 ||
	    in->protocol != IPPROTO_TCP || in->ihl != 5)
		return XDP_PASS;
	l4 = (void *)(in + 1);
	if ((void *)(l4 + 8) > data_end)
		return XDP_PASS;
	r.our_port = ((__u16)l4[0] << 8) | l4[1];
	if (!our_port(r.our_port))
		return XDP_PASS;
	r.backend = in->daddr;
	r.backend_port = ((__u16)l4[2] << 8) | l4[3];
	r.isn = ((__u32)l4[4] << 24) | ((__u32)l4[5] << 16) | ((__u32)l4[6] << 8) | l4[7];
	m = match_reply(&r, &s, &gen);
	if (m == MATCH_FORGED || !s) {
		count(XDPHC_CNT_RX_FORGED);
		return XDP_DROP;
	}
	if (m == MATCH_STALE) {
		count(XDPHC_CNT_RX_STALE);
		return XDP_DROP;
	}
	record(s, gen, XDPHC_RES_ICMP, icmp->type, icmp->code);
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
	if ((void *)(ip + 1) > data_end || ip->daddr != cfg.src4 || ip->ihl < 5)
		return XDP_PASS;
	/* Fragments are never answers to a 60-byte SYN. */
	if (ip->frag_off & bpf_htons(0x3fff))
		return XDP_PASS;
	if (ip->protocol == IPPROTO_TCP)
		return handle_tcp(ctx, ip, data_end);
	if (ip->protocol == IPPROTO_ICMP)
		return handle_icmp(ip, data_end);
	return XDP_PASS;
}
