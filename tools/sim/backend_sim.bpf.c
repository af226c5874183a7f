// SPDX-License-Identifier: GPL-2.0 OR MIT
/*
 * Backend simulator for benchmarks and scale tests: attached to the backend
 * side of the lab's veth, it answers TCP SYNs to a block of addresses by
 * itself, at XDP speed, so that a million "backends" cost no kernel TCP
 * work.  What each backend does is chosen by rules over address and port
 * that the lab rewrites at run time:
 *
 *   SIM_UP      SYN-ACK (the prober must then send an RST, which is counted)
 *   SIM_CLOSED  RST|ACK, as a kernel answers for a closed port
 *   SIM_DEAD    nothing
 *
 * The first matching rule wins; without a match the default action applies.
 * Everything that is not TCP to the simulated block goes to the kernel.
 */
#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/in.h>
#include <linux/ip.h>
#include <linux/tcp.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>

char LICENSE[] SEC("license") = "Dual MIT/GPL";

enum sim_action { SIM_UP = 0, SIM_CLOSED = 1, SIM_DEAD = 2 };

enum sim_counter {
	SIM_CNT_SYN = 0,	/* SYNs to the block */
	SIM_CNT_SYNACK,		/* SYN-ACKs sent */
	SIM_CNT_RST_SENT,	/* RSTs sent for closed backends */
	SIM_CNT_DEAD,		/* SYNs dropped for dead backends */
	SIM_CNT_RST_RX,		/* RSTs received (the prober tearing down) */
	SIM_CNT_OTHER,		/* other TCP to the block, dropped */
	SIM_CNT_BAD,		/* SYNs too short to answer */
	SIM_CNT_MAX,
};

#define SIM_MAX_RULES 64

/* Ranges are inclusive, in host byte order. */
struct sim_rule {
	__u32 addr_lo, addr_hi;
	__u16 port_lo, port_hi;
	__u32 action;
};

struct sim_cfg {
	__u32 net, mask;	/* the simulated block, host order */
	__u32 n_rules;
	__u32 default_action;
};

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

struct rule_walk {
	__u32 addr;
	__u16 port;
	__u32 action;
	int found;
};

static long rule_step(__u32 i, void *ctx)
{
	struct rule_walk *w = ctx;
	struct sim_rule *r = bpf_map_lookup_elem(&sim_rules, &i);

	if (!r)
		return 1;
	if (w->addr >= r->addr_lo && w->addr <= r->addr_hi &&
	    w->port >= r->port_lo && w->port <= r->port_hi) {
		w->action = r->action;
		w->found = 1;
		return 1;
	}
	return 0;
}

/* bpf_loop, so the verifier need not walk up to 64 rules by itself. */
static __always_inline __u32 rule_action(const struct sim_cfg *c, __u32 addr, __u16 port)
{
	struct rule_walk w = { .addr = addr, .port = port };
	__u32 n = c->n_rules < SIM_MAX_RULES ? c->n_rules : SIM_MAX_RULES;

	if (n)
		bpf_loop(n, rule_step, &w, 0);
	return w.found ? w.action : c->default_action;
}

static __always_inline __u16 csum_fold(__u64 s)
{
	s = (s & 0xffffffff) + (s >> 32);
	s = (s & 0xffff) + (s >> 16);
	s = (s & 0xffff) + (s >> 16);
	return (__u16)~s;
}

/* A cheap per-connection ISN: the simulator keeps no state either. */
static __always_inline __u32 sim_isn(const struct iphdr *ip, const struct tcphdr *tcp)
{
	__u32 h = ip->saddr * 2654435761U ^ ip->daddr * 2246822519U;

	return h ^ ((__u32)tcp->source << 16 | tcp->dest) * 3266489917U;
}

/*
 * The whole TCP checksum, not an update of the old one: a SYN from a local
 * socket on a veth still carries only the pseudo-header sum (checksum
 * offload), so updating it would produce a wrong sum.
 */
static __always_inline int tcp_checksum(struct iphdr *ip, struct tcphdr *tcp, void *data_end)
{
	__u32 words = tcp->doff;
	__u64 sum;

	if (words < 5)
		return -1;
	sum = (__u64)ip->saddr + ip->daddr + bpf_htons(IPPROTO_TCP) + bpf_htons((__u16)(words * 4));
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

/* Turn the SYN in place into the answer. */
static __always_inline int answer(struct ethhdr *eth, struct iphdr *ip,
				  struct tcphdr *tcp, void *data_end, __u32 action)
{
	__u8 mac[ETH_ALEN];
	__u32 a = ip->saddr;
	__u16 p = tcp->source;
	__u32 seq = bpf_ntohl(tcp->seq);

	__builtin_memcpy(mac, eth->h_dest, ETH_ALEN);
	__builtin_memcpy(eth->h_dest, eth->h_source, ETH_ALEN);
	__builtin_memcpy(eth->h_source, mac, ETH_ALEN);
	ip->saddr = ip->daddr;
	ip->daddr = a;
	tcp->source = tcp->dest;
	tcp->dest = p;
	tcp->ack_seq = bpf_htonl(seq + 1);
	tcp->ack = 1;
	if (action == SIM_UP) {
		tcp->seq = bpf_htonl(sim_isn(ip, tcp));
	} else {
		tcp->seq = 0;
		tcp->syn = 0;
		tcp->rst = 1;
		tcp->window = 0;
	}
	if (tcp_checksum(ip, tcp, data_end)) {
		count(SIM_CNT_BAD);
		return XDP_DROP;
	}
	count(action == SIM_UP ? SIM_CNT_SYNACK : SIM_CNT_RST_SENT);
	return XDP_TX;
}

SEC("xdp")
int backend_sim(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data;
	void *data_end = (void *)(long)ctx->data_end;
	struct ethhdr *eth = data;
	struct iphdr *ip = data + sizeof(*eth);
	struct tcphdr *tcp;
	struct sim_cfg *c;
	__u32 zero = 0, daddr, action;

	if ((void *)(ip + 1) > data_end || eth->h_proto != bpf_htons(ETH_P_IP))
		return XDP_PASS;
	if (ip->ihl != 5 || ip->protocol != IPPROTO_TCP)
		return XDP_PASS;
	c = bpf_map_lookup_elem(&sim_cfg, &zero);
	if (!c)
		return XDP_PASS;
	daddr = bpf_ntohl(ip->daddr);
	if ((daddr & c->mask) != c->net || !c->mask)
		return XDP_PASS;
	tcp = (void *)(ip + 1);
	if ((void *)(tcp + 1) > data_end)
		return XDP_PASS;
	if (tcp->rst) {
		count(SIM_CNT_RST_RX);
		return XDP_DROP;
	}
	if (!tcp->syn || tcp->ack) {
		count(SIM_CNT_OTHER);
		return XDP_DROP;
	}
	count(SIM_CNT_SYN);
	action = rule_action(c, daddr, bpf_ntohs(tcp->dest));
	if (action == SIM_DEAD) {
		count(SIM_CNT_DEAD);
		return XDP_DROP;
	}
	return answer(eth, ip, tcp, data_end, action);
}
