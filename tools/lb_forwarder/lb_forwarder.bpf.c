// SPDX-License-Identifier: GPL-2.0 OR MIT
/*
 * A small XDP load balancer that follows xdphc's health results, using only
 * the pinned maps of include/xdphc/abi.h.  Packets to a VIP (address, port,
 * protocol in `vips`) go to one backend of the VIP's pool, chosen by a hash
 * of the 5-tuple among the pool's up backends (pool_up), or among all of
 * them when the pool is fail-open; the destination address and port are
 * rewritten to the backend's (NAT) and the frame is sent back out.
 *
 * Everything else is handed to xdphc's reply program with a tail call
 * (xdphc_chain[0]): forwarding and probing share the interface without
 * libxdp's dispatcher.  The maps pools, pool_up and status are xdphc's own
 * pinned maps, reused at load time.
 */
#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/in.h>
#include <linux/ip.h>
#include <linux/tcp.h>
#include <linux/udp.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>
#include <xdphc/maps.h>

char LICENSE[] SEC("license") = "Dual MIT/GPL";

#ifndef AF_INET
#define AF_INET 2
#endif

#define READ_ONCE_U32(p) (*(volatile const __u32 *)(p))

struct lb_vip {
	__be32 addr;
	__be16 port;
	__u8 protocol;
	__u8 pad;
};

enum lb_counter {
	LB_FORWARDED = 0,	/* to an up backend */
	LB_FAIL_OPEN,		/* to any backend: no backend up */
	LB_RECHECKED,		/* the up list moved under us; picked again */
	LB_NO_ROUTE,		/* no next hop for the backend */
	LB_CHAINED,		/* not a VIP: tail call to xdphc */
	LB_CNT_MAX,
};

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__type(key, struct lb_vip);
	__type(value, __u32);		/* xdphc pool id */
	__uint(max_entries, 64);
} vips SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PROG_ARRAY);
	__uint(key_size, sizeof(__u32));
	__uint(value_size, sizeof(__u32));
	__uint(max_entries, 1);
} xdphc_chain SEC(".maps");

/* xdphc's maps: the loader reuses the pinned ones. */
XDPHC_MAP_POOLS(pools);
XDPHC_MAP_POOL_UP(pool_up);
XDPHC_MAP_STATUS(status);

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__type(key, __u32);
	__type(value, __u64);
	__uint(max_entries, LB_CNT_MAX);
} lb_counters SEC(".maps");

static __always_inline void count(__u32 which)
{
	__u64 *c = bpf_map_lookup_elem(&lb_counters, &which);

	if (c)
		*c += 1;
}

static __always_inline __u32 mix(__u32 h)
{
	h ^= h >> 16;
	h *= 0x7feb352d;
	h ^= h >> 15;
	h *= 0x846ca68b;
	h ^= h >> 16;
	return h;
}

static __always_inline __u32 flow_hash(const struct iphdr *ip, __u16 sport, __u16 dport)
{
	return mix(ip->saddr ^ mix(ip->daddr ^ mix(((__u32)sport << 16 | dport) ^ ip->protocol)));
}

static __always_inline int is_up(__u32 id)
{
	struct xdphc_backend_status *st = bpf_map_lookup_elem(&status, &id);

	return st && st->state == XDPHC_STATE_UP;
}

/*
 * The pool's up list, or every backend when the pool is fail-open.  An up
 * list entry is checked against its state byte: the engine may be moving
 * entries at this very moment (docs/ABI.md).
 */
static __always_inline int pick(const struct xdphc_pool_summary *ps, __u32 h, __u32 *id)
{
	__u32 total = ps->total, up = READ_ONCE_U32(&ps->up);

	if (!total)
		return -1;
	if (!(ps->flags & XDPHC_POOL_F_FAIL_OPEN) && up) {
		for (__u32 k = 0; k < 4; k++) {
			__u32 slot = ps->first + (h + k) % up;
			struct xdphc_pool_slot *cand = bpf_map_lookup_elem(&pool_up, &slot);

			if (cand && is_up(cand->id)) {
				*id = cand->id;
				count(k ? LB_RECHECKED : LB_FORWARDED);
				return 0;
			}
		}
	}
	*id = ps->first + h % total;
	count(LB_FAIL_OPEN);
	return 0;
}

static __always_inline __u16 csum_add_sub(__u16 check, __u32 from, __u32 to)
{
	/* RFC 1624: HC' = ~(~HC + ~m + m'), on 16-bit halves. */
	__u32 s = (__u16)~check;

	s += (__u16)~(from & 0xffff) + (__u16)~(from >> 16);
	s += (to & 0xffff) + (to >> 16);
	s = (s & 0xffff) + (s >> 16);
	s = (s & 0xffff) + (s >> 16);
	return (__u16)~s;
}

static __always_inline int forward(struct xdp_md *ctx, struct ethhdr *eth, struct iphdr *ip,
				   __be16 *dport, __sum16 *l4check, __u32 id)
{
	struct xdphc_backend_status *st = bpf_map_lookup_elem(&status, &id);
	struct bpf_fib_lookup fib = {};
	__be32 old_addr = ip->daddr;
	__be16 old_port = *dport;

	if (!st || st->key.family != AF_INET)
		return XDP_DROP;
	ip->daddr = st->key.addr[0];
	*dport = st->key.port;
	ip->check = csum_add_sub(ip->check, old_addr, ip->daddr);
	/* A UDP checksum of 0 means "none" and stays so. */
	if (l4check && (ip->protocol == IPPROTO_TCP || *l4check)) {
		*l4check = csum_add_sub(*l4check, old_addr, ip->daddr);
		*l4check = csum_add_sub(*l4check, old_port, *dport);
		/* In UDP a computed 0 is sent as 0xffff: 0 would mean "none" (RFC 768). */
		if (ip->protocol == IPPROTO_UDP && !*l4check)
			*l4check = 0xffff;
	}
	fib.family = AF_INET;
	fib.ipv4_src = ip->saddr;
	fib.ipv4_dst = ip->daddr;
	fib.ifindex = ctx->ingress_ifindex;
	fib.tot_len = bpf_ntohs(ip->tot_len);
	if (bpf_fib_lookup(ctx, &fib, sizeof(fib), 0) != BPF_FIB_LKUP_RET_SUCCESS) {
		count(LB_NO_ROUTE);
		return XDP_DROP;
	}
	__builtin_memcpy(eth->h_dest, fib.dmac, ETH_ALEN);
	__builtin_memcpy(eth->h_source, fib.smac, ETH_ALEN);
	if (fib.ifindex == ctx->ingress_ifindex)
		return XDP_TX;
	return bpf_redirect(fib.ifindex, 0);
}

static __always_inline int chain(struct xdp_md *ctx)
{
	count(LB_CHAINED);
	bpf_tail_call(ctx, &xdphc_chain, 0);
	return XDP_PASS;	/* xdphc not linked in: the kernel takes it */
}

SEC("xdp")
int lb_forward(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data;
	void *data_end = (void *)(long)ctx->data_end;
	struct ethhdr *eth = data;
	struct iphdr *ip = (void *)(eth + 1);
	struct lb_vip vip = {};
	__sum16 *l4check = NULL;
	__be16 *ports;
	struct xdphc_pool_summary *ps;
	__u32 *pool, id;

	/* xdphc's own SYN runs (loopback ingress) and fragments are never ours. */
	if (ctx->ingress_ifindex == 1 || (void *)(ip + 1) > data_end ||
	    eth->h_proto != bpf_htons(ETH_P_IP) || ip->ihl != 5 ||
	    (ip->frag_off & bpf_htons(0x3fff)))
		return chain(ctx);
	if (ip->protocol == IPPROTO_TCP) {
		struct tcphdr *tcp = (void *)(ip + 1);

		if ((void *)(tcp + 1) > data_end)
			return chain(ctx);
		ports = &tcp->source;
		l4check = &tcp->check;
	} else if (ip->protocol == IPPROTO_UDP) {
		struct udphdr *udp = (void *)(ip + 1);

		if ((void *)(udp + 1) > data_end)
			return chain(ctx);
		ports = &udp->source;
		l4check = &udp->check;
	} else {
		return chain(ctx);
	}
	vip.addr = ip->daddr;
	vip.port = ports[1];
	vip.protocol = ip->protocol;
	pool = bpf_map_lookup_elem(&vips, &vip);
	if (!pool)
		return chain(ctx);
	ps = bpf_map_lookup_elem(&pools, pool);
	if (!ps || !ps->in_use ||
	    pick(ps, flow_hash(ip, bpf_ntohs(ports[0]), bpf_ntohs(ports[1])), &id))
		return XDP_DROP;
	return forward(ctx, eth, ip, &ports[1], l4check, id);
}
