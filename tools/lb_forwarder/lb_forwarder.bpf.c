// SPDX-License-Identifier: GPL-2.0 OR MIT
/*
 * A small XDP load balancer that follows xdphc's health results, using only
 * the pinned maps of include/xdphc/abi.h.  Packets to a VIP (address, port,
 * protocol in `vips`, or in `vips6` for IPv6) go to one backend of the VIP's
 * pool; the destination address and port are rewritten to the backend's
 * (NAT) and the frame is sent back out.  TCP and UDP, IPv4 and IPv6: a VIP's
 * flows go to the pool's backends of the VIP's own family (xdphc's status
 * keys say which: family AF_INET or AF_INET6, the address in addr[0] or
 * addr[0..3]), so a pool may mix both for a VIP of each family.
 *
 * A flow (its 5-tuple) keeps its backend in `flows` (`flows6`), an LRU hash, for as long
 * as that backend is up and still the same backend (same generation): a
 * draining backend keeps its flows, a down, removed or reused one loses
 * them.  A new flow, a TCP SYN, or a flow whose backend cannot keep it is
 * given one of the pool's up backends (pool_up: never a draining one), by a
 * hash of the 5-tuple, or any backend of the pool when it is fail-open.
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
#include <linux/ipv6.h>
#include <linux/tcp.h>
#include <linux/udp.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>
#include <xdphc/maps.h>

char LICENSE[] SEC("license") = "Dual MIT/GPL";

#ifndef AF_INET
#define AF_INET 2
#endif
#ifndef AF_INET6
#define AF_INET6 10
#endif

#define READ_ONCE_U32(p) (*(volatile const __u32 *)(p))
#define barrier() asm volatile("" ::: "memory")

/* The flow table's size when the loader does not give one (lb_forwarder.py does). */
#define LB_FLOW_ENTRIES 65536

/* An IPv4 VIP; the map's layout is the one forwarders before IPv6 had. */
struct lb_vip {
	__be32 addr;
	__be16 port;
	__u8 protocol;
	__u8 pad;
};

struct lb_vip6 {
	__be32 addr[4];
	__be16 port;
	__u8 protocol;
	__u8 pad;
};

enum lb_counter {
	LB_FORWARDED = 0,	/* a new pick: to an up backend */
	LB_FAIL_OPEN,		/* to any backend: no backend up */
	LB_RECHECKED,		/* the up list moved under us; picked again */
	LB_NO_ROUTE,		/* no next hop for the backend */
	LB_CHAINED,		/* not a VIP: tail call to xdphc */
	LB_FLOW_HIT,		/* a known flow, to its backend */
	LB_FLOW_MOVED,		/* a known flow whose backend cannot keep it: picked again */
	LB_CNT_MAX,
};

/* A flow, as the packets to the VIP carry it (network order). */
struct lb_flow_key {
	__be32 saddr;
	__be32 daddr;
	__be16 sport;
	__be16 dport;
	__u8 protocol;
	__u8 pad[3];
};

struct lb_flow_key6 {
	__be32 saddr[4];
	__be32 daddr[4];
	__be16 sport;
	__be16 dport;
	__u8 protocol;
	__u8 pad[3];
};

/*
 * The backend a flow was given: its id and the generation the id had then
 * (an id freed by `backend del` may later name another backend).
 */
struct lb_flow {
	__u32 id;
	__u16 generation;
	__u16 reserved;
};

/* What the forwarder needs of status[id], read as one record. */
struct lb_backend {
	__be32 addr[4];		/* IPv4 in addr[0] */
	__be16 port;
	__u16 generation;
	__u16 pool_id;
	__u8 family;
	__u8 state;
	__u8 flags;
};

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__type(key, struct lb_vip);
	__type(value, __u32);		/* xdphc pool id */
	__uint(max_entries, 64);
} vips SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__type(key, struct lb_vip6);
	__type(value, __u32);		/* xdphc pool id */
	__uint(max_entries, 64);
} vips6 SEC(".maps");

/*
 * The flow table.  No timestamps: the LRU forgets the flows least recently
 * seen when it is full, and a forgotten flow is picked again (the same
 * backend, unless the pool's up list changed meanwhile).
 */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__type(key, struct lb_flow_key);
	__type(value, struct lb_flow);
	__uint(max_entries, LB_FLOW_ENTRIES);
} flows SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__type(key, struct lb_flow_key6);
	__type(value, struct lb_flow);
	__uint(max_entries, LB_FLOW_ENTRIES);
} flows6 SEC(".maps");

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

static __always_inline __u32 flow_hash(__u32 saddr, __u32 daddr, __u16 sport, __u16 dport,
				       __u8 protocol)
{
	return mix(saddr ^ mix(daddr ^ mix(((__u32)sport << 16 | dport) ^ protocol)));
}

/* The IPv6 addresses folded into 32 bits each first. */
static __always_inline __u32 fold6(const __be32 *a)
{
	return mix(a[0] ^ mix(a[1] ^ mix(a[2] ^ mix(a[3]))));
}

/*
 * status[id] under its seqlock (docs/ABI.md, "Consistency"): the state,
 * generation and address a decision rests on belong to the same backend.
 * -1 if the engine was writing the entry on every try.
 */
static __always_inline int read_backend(__u32 id, struct lb_backend *b)
{
	struct xdphc_backend_status *st = bpf_map_lookup_elem(&status, &id);

	if (!st)
		return -1;
	for (int k = 0; k < 4; k++) {
		__u32 seq = READ_ONCE_U32(&st->seq);

		if (seq & 1)
			continue;
		barrier();
		b->family = st->key.family;
		b->addr[0] = st->key.addr[0];
		b->addr[1] = st->key.addr[1];
		b->addr[2] = st->key.addr[2];
		b->addr[3] = st->key.addr[3];
		b->port = st->key.port;
		b->state = st->state;
		b->flags = st->flags;
		b->generation = st->generation;
		b->pool_id = st->pool_id;
		barrier();
		if (READ_ONCE_U32(&st->seq) == seq)
			return 0;
	}
	return -1;
}

/*
 * May take new flows of FAMILY (AF_INET or AF_INET6): of that family, up
 * and not draining (what the up list holds).
 */
static __always_inline int takes_new(const struct lb_backend *b, __u8 family)
{
	return b->family == family && b->state == XDPHC_STATE_UP &&
	       !(b->flags & XDPHC_BACKEND_F_DRAIN);
}

/*
 * May keep flow F of pool POOL: still the backend F was given (same
 * generation, in the pool) and up.  Draining or not: a draining backend
 * keeps its flows.
 */
static __always_inline int keeps(const struct lb_backend *b, const struct lb_flow *f,
				 __u32 pool, __u8 family)
{
	return b->family == family && b->state == XDPHC_STATE_UP &&
	       b->generation == f->generation && b->pool_id == pool;
}

/*
 * A backend of FAMILY for a new flow: the pool's up list, or every backend
 * when the pool is fail-open.  An up list entry is checked against its
 * status entry: the engine may be moving entries at this very moment
 * (docs/ABI.md), and a pool may mix families.  0: an up backend, to
 * remember; 1: a fail-open pick, not worth remembering (its backend is not
 * up); -1: none.
 */
#define UP_TRIES 4
#define FAIL_OPEN_SCAN 64

static __always_inline int pick(const struct xdphc_pool_summary *ps, __u32 h, __u8 family,
				__u32 *id, struct lb_backend *b)
{
	__u32 total = ps->total, up = READ_ONCE_U32(&ps->up);
	int open = (ps->flags & XDPHC_POOL_F_FAIL_OPEN) || !up;
	struct lb_backend fallback;
	__u32 fallback_id = 0;
	int have = 0;

	if (!total)
		return -1;
	if (!open) {
		for (__u32 k = 0; k < UP_TRIES; k++) {
			__u32 slot = ps->first + (h + k) % up;
			struct xdphc_pool_slot *cand = bpf_map_lookup_elem(&pool_up, &slot);

			if (cand && !read_backend(cand->id, b) && takes_new(b, family)) {
				*id = cand->id;
				count(k ? LB_RECHECKED : LB_FORWARDED);
				return 0;
			}
		}
	}
	/*
	 * The pool's ids, from [first, first + total) as long as they have no
	 * gaps.  Backends removed at runtime leave gaps (and others then sit
	 * past first + total), so the pick goes on from there to the next id of
	 * [first, first + capacity) that holds a backend of the family not in
	 * maintenance, within FAIL_OPEN_SCAN ids.  Fail-open, the first such
	 * backend will do.  Otherwise (the tries above met the other family or
	 * an up list in motion) an up one is looked for, and the first of the
	 * family taken only if none is: no backend of the VIP's family is up.
	 */
	__u32 cap = ps->capacity > total ? ps->capacity : total, start = h % total;

	for (__u32 k = 0; k < FAIL_OPEN_SCAN && k < cap; k++) {
		__u32 cand = ps->first + (start + k) % cap;

		if (read_backend(cand, b) || b->family != family || b->state == XDPHC_STATE_MAINT)
			continue;
		if (!open && takes_new(b, family)) {
			*id = cand;
			count(LB_RECHECKED);
			return 0;
		}
		if (open) {
			*id = cand;
			count(LB_FAIL_OPEN);
			return 1;
		}
		if (!have) {
			have = 1;
			fallback_id = cand;
			fallback = *b;
		}
	}
	if (!have)
		return -1;
	*id = fallback_id;
	*b = fallback;
	count(LB_FAIL_OPEN);
	return 1;
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

/* The next hop of the rewritten packet, and out it goes. */
static __always_inline int send_on(struct xdp_md *ctx, struct ethhdr *eth,
				   struct bpf_fib_lookup *fib)
{
	fib->ifindex = ctx->ingress_ifindex;
	if (bpf_fib_lookup(ctx, fib, sizeof(*fib), 0) != BPF_FIB_LKUP_RET_SUCCESS) {
		count(LB_NO_ROUTE);
		return XDP_DROP;
	}
	__builtin_memcpy(eth->h_dest, fib->dmac, ETH_ALEN);
	__builtin_memcpy(eth->h_source, fib->smac, ETH_ALEN);
	if (fib->ifindex == ctx->ingress_ifindex)
		return XDP_TX;
	return bpf_redirect(fib->ifindex, 0);
}

static __always_inline int forward4(struct xdp_md *ctx, struct ethhdr *eth, struct iphdr *ip,
				    __be16 *dport, __sum16 *l4check, const struct lb_backend *b)
{
	struct bpf_fib_lookup fib = {};
	__be32 old_addr = ip->daddr;
	__be16 old_port = *dport;

	if (b->family != AF_INET)
		return XDP_DROP;
	ip->daddr = b->addr[0];
	*dport = b->port;
	ip->check = csum_add_sub(ip->check, old_addr, ip->daddr);
	/* A UDP checksum of 0 means "none" and stays so. */
	if (ip->protocol == IPPROTO_TCP || *l4check) {
		*l4check = csum_add_sub(*l4check, old_addr, ip->daddr);
		*l4check = csum_add_sub(*l4check, old_port, *dport);
		/* In UDP a computed 0 is sent as 0xffff: 0 would mean "none" (RFC 768). */
		if (ip->protocol == IPPROTO_UDP && !*l4check)
			*l4check = 0xffff;
	}
	fib.family = AF_INET;
	fib.ipv4_src = ip->saddr;
	fib.ipv4_dst = ip->daddr;
	fib.tot_len = bpf_ntohs(ip->tot_len);
	return send_on(ctx, eth, &fib);
}

/* IPv6 has no header checksum; its UDP checksum is never 0 (RFC 8200). */
static __always_inline int forward6(struct xdp_md *ctx, struct ethhdr *eth,
				    struct ipv6hdr *ip6, __be16 *dport, __sum16 *l4check,
				    const struct lb_backend *b)
{
	struct bpf_fib_lookup fib = {};
	__be16 old_port = *dport;
	__sum16 check = *l4check;

	if (b->family != AF_INET6)
		return XDP_DROP;
#pragma unroll
	for (int i = 0; i < 4; i++) {
		check = csum_add_sub(check, ip6->daddr.in6_u.u6_addr32[i], b->addr[i]);
		ip6->daddr.in6_u.u6_addr32[i] = b->addr[i];
	}
	*dport = b->port;
	check = csum_add_sub(check, old_port, *dport);
	if (ip6->nexthdr == IPPROTO_UDP && !check)
		check = 0xffff;
	*l4check = check;
	fib.family = AF_INET6;
	__builtin_memcpy(fib.ipv6_src, &ip6->saddr, sizeof(fib.ipv6_src));
	__builtin_memcpy(fib.ipv6_dst, &ip6->daddr, sizeof(fib.ipv6_dst));
	fib.tot_len = sizeof(*ip6) + bpf_ntohs(ip6->payload_len);
	return send_on(ctx, eth, &fib);
}

static __always_inline int chain(struct xdp_md *ctx)
{
	count(LB_CHAINED);
	bpf_tail_call(ctx, &xdphc_chain, 0);
	return XDP_PASS;	/* xdphc not linked in: the kernel takes it */
}

/*
 * The backend of the flow FK (in FLOWS, the flow table of its family) to
 * pool POOL: the one it has if that backend can keep it, else a new pick,
 * remembered if it is an up backend.  A TCP SYN starts a new connection: it
 * is picked anew even on a known tuple (a port reused by the client), so it
 * never lands on a draining backend.
 */
static __always_inline int flow_backend(void *flows_map, const void *fk, int syn,
					const struct xdphc_pool_summary *ps, __u32 pool,
					__u32 h, __u8 family, struct lb_backend *b)
{
	struct lb_flow *f = syn ? NULL : bpf_map_lookup_elem(flows_map, fk);
	struct lb_flow nf = {};
	int known = 0, r;

	if (f) {
		nf = *f;
		if (!read_backend(nf.id, b) && keeps(b, &nf, pool, family)) {
			count(LB_FLOW_HIT);
			return 0;
		}
		count(LB_FLOW_MOVED);
		known = 1;
	}
	r = pick(ps, h, family, &nf.id, b);
	if (r < 0)
		return -1;
	if (r == 0) {
		nf.generation = b->generation;
		nf.reserved = 0;
		bpf_map_update_elem(flows_map, fk, &nf, BPF_ANY);
	} else if (known) {
		bpf_map_delete_elem(flows_map, fk);	/* its backend is gone: forget it */
	}
	return 0;
}

/* The ports, checksum and SYN flag of a TCP or UDP header at L4; -1 for anything else. */
static __always_inline int parse_l4(void *l4, void *data_end, __u8 protocol, __be16 **ports,
				    __sum16 **l4check, int *syn)
{
	if (protocol == IPPROTO_TCP) {
		struct tcphdr *tcp = l4;

		if ((void *)(tcp + 1) > data_end)
			return -1;
		*ports = &tcp->source;
		*l4check = &tcp->check;
		*syn = tcp->syn && !tcp->ack;
		return 0;
	}
	if (protocol == IPPROTO_UDP) {
		struct udphdr *udp = l4;

		if ((void *)(udp + 1) > data_end)
			return -1;
		*ports = &udp->source;
		*l4check = &udp->check;
		*syn = 0;
		return 0;
	}
	return -1;
}

/*
 * The backend of a packet to the VIP VK (a key of VIPS) of flow FK (a key of
 * FLOWS) into B: 0; 1 when it is for no VIP (chained); -1 when there is no
 * backend for it (dropped).
 */
static __always_inline int vip_backend(void *vips_map, const void *vk, void *flows_map,
				       const void *fk, int syn, __u32 h, __u8 family,
				       struct lb_backend *b)
{
	__u32 *pool = bpf_map_lookup_elem(vips_map, vk);
	struct xdphc_pool_summary *ps;

	if (!pool)
		return 1;
	ps = bpf_map_lookup_elem(&pools, pool);
	if (!ps || !ps->in_use)
		return -1;
	return flow_backend(flows_map, fk, syn, ps, *pool, h, family, b) ? -1 : 0;
}

static __always_inline int lb_forward4(struct xdp_md *ctx, struct ethhdr *eth, void *data_end)
{
	struct iphdr *ip = (void *)(eth + 1);
	struct lb_flow_key fk = {};
	struct lb_vip vip = {};
	struct lb_backend b = {};
	__sum16 *l4check;
	__be16 *ports;
	int syn, r;
	__u32 h;

	/* Fragments and IP options are never ours. */
	if ((void *)(ip + 1) > data_end || ip->ihl != 5 || (ip->frag_off & bpf_htons(0x3fff)) ||
	    parse_l4(ip + 1, data_end, ip->protocol, &ports, &l4check, &syn))
		return chain(ctx);
	vip.addr = fk.daddr = ip->daddr;
	fk.saddr = ip->saddr;
	vip.port = fk.dport = ports[1];
	fk.sport = ports[0];
	vip.protocol = fk.protocol = ip->protocol;
	h = flow_hash(ip->saddr, ip->daddr, bpf_ntohs(ports[0]), bpf_ntohs(ports[1]), ip->protocol);
	r = vip_backend(&vips, &vip, &flows, &fk, syn, h, AF_INET, &b);
	if (r)
		return r > 0 ? chain(ctx) : XDP_DROP;
	return forward4(ctx, eth, ip, &ports[1], l4check, &b);
}

/* Extension headers (fragments among them) are never ours: TCP or UDP right after. */
static __always_inline int lb_forward6(struct xdp_md *ctx, struct ethhdr *eth, void *data_end)
{
	struct ipv6hdr *ip6 = (void *)(eth + 1);
	struct lb_flow_key6 fk = {};
	struct lb_vip6 vip = {};
	struct lb_backend b = {};
	__sum16 *l4check;
	__be16 *ports;
	int syn, r;
	__u32 h;

	if ((void *)(ip6 + 1) > data_end ||
	    parse_l4(ip6 + 1, data_end, ip6->nexthdr, &ports, &l4check, &syn))
		return chain(ctx);
	__builtin_memcpy(vip.addr, &ip6->daddr, sizeof(vip.addr));
	__builtin_memcpy(fk.daddr, &ip6->daddr, sizeof(fk.daddr));
	__builtin_memcpy(fk.saddr, &ip6->saddr, sizeof(fk.saddr));
	vip.port = fk.dport = ports[1];
	fk.sport = ports[0];
	vip.protocol = fk.protocol = ip6->nexthdr;
	h = flow_hash(fold6(fk.saddr), fold6(fk.daddr), bpf_ntohs(ports[0]), bpf_ntohs(ports[1]),
		      ip6->nexthdr);
	r = vip_backend(&vips6, &vip, &flows6, &fk, syn, h, AF_INET6, &b);
	if (r)
		return r > 0 ? chain(ctx) : XDP_DROP;
	return forward6(ctx, eth, ip6, &ports[1], l4check, &b);
}

SEC("xdp")
int lb_forward(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data;
	void *data_end = (void *)(long)ctx->data_end;
	struct ethhdr *eth = data;

	/* xdphc's own probe runs (loopback ingress) are never ours. */
	if (ctx->ingress_ifindex == 1 || (void *)(eth + 1) > data_end)
		return chain(ctx);
	if (eth->h_proto == bpf_htons(ETH_P_IP))
		return lb_forward4(ctx, eth, data_end);
	if (eth->h_proto == bpf_htons(ETH_P_IPV6))
		return lb_forward6(ctx, eth, data_end);
	return chain(ctx);
}
