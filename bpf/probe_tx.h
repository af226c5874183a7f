/* SPDX-License-Identifier: MIT */
/*
 * The SYN writer, shared by probe_tx (run alone) and probe_rx (which also
 * writes SYNs when the controller runs it with BPF_PROG_RUN, see
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
 * The next hop of the previous SYN of this run.  Consecutive probes often go
 * to one address (a backend's ports sit together in the probe order), and a
 * FIB lookup is the largest single cost of a SYN; within one run (under a
 * millisecond) the route and neighbour do not change under us.
 */
struct tx_nexthop {
	__u32 run;
	__be32 daddr;
	__u8 dmac[ETH_ALEN];
	__u8 smac[ETH_ALEN];
};

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__type(key, __u32);
	__type(value, struct tx_nexthop);
	__uint(max_entries, 1);
} tx_nexthop SEC(".maps");

/* Ethernet | IPv4 (20) | TCP (20) + MSS option (4) | 2 bytes of padding */
#define SYN_IP_OFF sizeof(struct ethhdr)
#define SYN_TCP_OFF (SYN_IP_OFF + sizeof(struct iphdr))
#define SYN_OPT_OFF (SYN_TCP_OFF + sizeof(struct tcphdr))
#define SYN_TCP_LEN (sizeof(struct tcphdr) + TCP_OPT_MSS_LEN)
_Static_assert(SYN_OPT_OFF + 6 == XDPHC_FRAME_LEN, "frame size");

static __always_inline int tx_fail(struct xdphc_slot *s, __u32 kind, __u32 cnt)
{
	slot_tx_failed(s, kind);
	count(cnt);
	return XDP_DROP;
}

static __always_inline int fib_fail(struct xdphc_slot *s, int rc,
				    struct bpf_fib_lookup *fib)
{
	switch (rc) {
	case BPF_FIB_LKUP_RET_NO_NEIGH:
		slot_set_hop(s, fib->ipv4_dst);
		return tx_fail(s, XDPHC_RES_TX_NO_NEIGH, XDPHC_CNT_TX_NO_NEIGH);
	case BPF_FIB_LKUP_RET_BLACKHOLE:
	case BPF_FIB_LKUP_RET_UNREACHABLE:
	case BPF_FIB_LKUP_RET_PROHIBIT:
	case BPF_FIB_LKUP_RET_NOT_FWDED:
		return tx_fail(s, XDPHC_RES_TX_NO_ROUTE, XDPHC_CNT_TX_NO_ROUTE);
	default:
		return tx_fail(s, XDPHC_RES_TX_ERROR, XDPHC_CNT_TX_ERROR);
	}
}

static __always_inline void build_syn(void *frame, const struct tx_nexthop *nh,
				      struct xdphc_slot *s)
{
	struct ethhdr *eth = frame;
	struct iphdr *ip = frame + SYN_IP_OFF;
	struct tcphdr *tcp = frame + SYN_TCP_OFF;
	__u8 *opt = frame + SYN_OPT_OFF;
	__u16 sport = s->sport;
	__be32 daddr = s->addr[0];
	__u32 cookie = probe_cookie(cfg.src4, daddr, sport, bpf_ntohs(s->port), s->gen);
	__u32 sum;

	__builtin_memcpy(eth->h_dest, nh->dmac, ETH_ALEN);
	__builtin_memcpy(eth->h_source, nh->smac, ETH_ALEN);
	eth->h_proto = bpf_htons(ETH_P_IP);

	ip4_fill(ip, cfg.src4, daddr, sizeof(*ip) + SYN_TCP_LEN);

	__builtin_memset(tcp, 0, sizeof(*tcp));
	tcp->source = bpf_htons(sport);
	tcp->dest = s->port;
	tcp->seq = bpf_htonl(cookie);
	tcp_set_doff_flags(tcp, SYN_TCP_LEN / 4, TCP_FL_SYN);
	tcp->window = bpf_htons(TCP_SYN_WINDOW);
	opt[0] = TCP_OPT_MSS;
	opt[1] = TCP_OPT_MSS_LEN;
	opt[2] = cfg.mss >> 8;
	opt[3] = cfg.mss & 0xff;
	opt[4] = 0;
	opt[5] = 0;

	sum = pseudo_sum4(cfg.src4, daddr, SYN_TCP_LEN);
	sum = csum_words(tcp, SYN_TCP_LEN / 2, sum);
	tcp->check = csum_fold(sum);
}

/*
 * A next hop the controller resolved (lib/nexthop.h): the interface does
 * not forward.  Two loads, cheaper than the run's cache, which it leaves
 * invalid: a slot's hop may depend on more than its address (policy rules
 * on ports, multipath), and nh now holds this slot's MACs.
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
 * The next hop towards s, from this run's cache, the kernel's FIB (the
 * interface forwards the family) or the controller; 0 or a tx_fail verdict.
 */
static __always_inline int next_hop(struct xdp_md *ctx, struct xdphc_slot *s, __u32 slot_idx,
				    __u32 run, struct tx_nexthop *nh)
{
	struct bpf_fib_lookup fib = {};
	int rc;

	if (!cfg.fib4)
		return ctl_hop(s, slot_idx, nh);
	if (nh->run == run && nh->daddr == s->addr[0])
		return 0;
	fib.family = AF_INET;
	fib.l4_protocol = IPPROTO_TCP;
	fib.dport = s->port;
	fib.tot_len = sizeof(struct iphdr) + SYN_TCP_LEN;
	fib.ipv4_src = cfg.src4;
	fib.ipv4_dst = s->addr[0];
	fib.ifindex = cfg.ifindex;
	rc = bpf_fib_lookup(ctx, &fib, sizeof(fib), BPF_FIB_LOOKUP_OUTPUT);
	if (rc != BPF_FIB_LKUP_RET_SUCCESS)
		return fib_fail(s, rc, &fib);
	/* Replies come back only where probe_rx listens. */
	if (fib.ifindex != cfg.ifindex) {
		slot_set_hop(s, 0);
		return tx_fail(s, XDPHC_RES_TX_NO_ROUTE, XDPHC_CNT_TX_NO_ROUTE);
	}
	nh->run = run;
	nh->daddr = s->addr[0];
	__builtin_memcpy(nh->dmac, fib.dmac, ETH_ALEN);
	__builtin_memcpy(nh->smac, fib.smac, ETH_ALEN);
	return 0;
}

/* Turn the next queued probe into a SYN; the frame leaves through cfg.ifindex. */
static __always_inline int tx_frame(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data;
	void *data_end = (void *)(long)ctx->data_end;
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
	if (data + XDPHC_FRAME_LEN > data_end || !nh)
		return tx_fail(s, XDPHC_RES_TX_ERROR, XDPHC_CNT_TX_ERROR);
	rc = next_hop(ctx, s, slot_idx, q->run, nh);
	if (rc)
		return rc;

	build_syn(data, nh, s);
	slot_sent(s);
	count(XDPHC_CNT_TX);
	/*
	 * A redirect, not XDP_TX: batched runs use the loopback device as
	 * their ingress (see XDPHC_TX_IFINDEX), so XDP_TX would go there.
	 */
	return bpf_redirect(cfg.ifindex, 0);
}

#endif
