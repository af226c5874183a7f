// SPDX-License-Identifier: MIT
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <arpa/inet.h>
#include <sys/mman.h>
#include <linux/fib_rules.h>
#include <linux/if_link.h>
#include <linux/neighbour.h>
#include <internal/hash.h>

#include "bpfmap.h"
#include "clock.h"
#include "log.h"
#include "neigh.h"
#include "nexthop.h"

#define LOOKUP_BATCH 128		/* lookups a sendmsg: their answers fit REQ_RCVBUF */
#define REQ_RCVBUF (4 << 20)
#define EV_RCVBUF (8 << 20)
#define SLOTS_PER_TICK 4096		/* slots resolved a tick at most, about 0.5 ms */
#define ASKS_PER_TICK 256
#define NS_PER_MS 1000000ULL
#define REASK_NS (100 * NS_PER_MS)
#define SETTLE_NS (50 * NS_PER_MS)	/* a route change comes in bursts: wait for the last */
#define EV_READS_PER_TICK 16
#define DUMP_TRIES 3

static const char *fam_name(int f)
{
	return f ? "IPv6" : "IPv4";
}

static bool ctl(const struct nexthops *nh, uint8_t family)
{
	return (family == AF_INET || family == AF_INET6) && nh->ctl[routekey_fam(family)];
}

static bool active(const struct nexthops *nh)
{
	return nh->ctl[0] || nh->ctl[1];
}

static uint32_t *hop_word(struct nexthops *nh, uint32_t id)
{
	return &nh->slot_hop[id / XDPHC_HOPS_PER_ENTRY].hop[id % XDPHC_HOPS_PER_ENTRY];
}

static bool hop_real(uint32_t v)
{
	return v != XDPHC_HOP_UNRESOLVED && v != XDPHC_HOP_NO_ROUTE;
}

/* ---- slot id queues -------------------------------------------------------- */

static int idvec_push(struct idvec *q, uint32_t id)
{
	if (q->len == q->cap) {
		size_t cap = q->cap ? q->cap * 2 : 1024;
		uint32_t *v = realloc(q->v, cap * sizeof(*v));

		if (!v)
			return -1;
		q->v = v;
		q->cap = cap;
	}
	q->v[q->len++] = id;
	return 0;
}

static bool idvec_pop(struct idvec *q, uint32_t *id)
{
	if (q->head == q->len) {
		q->head = q->len = 0;
		return false;
	}
	*id = q->v[q->head++];
	return true;
}

/* ---- neighbour requests ------------------------------------------------------ */

static void flush_asks(struct nexthops *nh)
{
	if (nh->ab->n && neigh_send(nh->ask_fd, nh->ab))
		log_debug("neighbour requests: %s", strerror(errno));
}

static void put_ask(struct nexthops *nh, uint8_t family, const uint32_t a[4])
{
	if (neigh_put(nh->ab, nh->ifindex, family, a)) {
		flush_asks(nh);
		neigh_put(nh->ab, nh->ifindex, family, a);
	}
}

/*
 * Ask the kernel to resolve hop r: not while it is at it (INCOMPLETE: it
 * probes by itself, then says REACHABLE or FAILED), nor twice in REASK_NS.
 */
static unsigned int ask_hop(struct nexthops *nh, struct hop_rec *r)
{
	if (!nh->asks_left || nh->ask_fd < 0 || r->usable)
		return 0;
	if (r->in_kernel && r->nud & NUD_INCOMPLETE)
		return 0;
	if (r->asked_ns && nh->now - r->asked_ns < REASK_NS)
		return 0;
	r->asked_ns = nh->now;
	nh->asks_left--;
	put_ask(nh, r->family, r->a);
	return 1;
}

/* ---- a slot's hop -------------------------------------------------------------- */

static size_t addr_len(uint8_t family)
{
	return family == AF_INET6 ? 16 : 4;
}

/* Publish v as slot id's hop (the caller holds a reference on it) and drop the old one. */
static void set_hop(struct nexthops *nh, uint32_t id, uint32_t v)
{
	uint32_t *p = hop_word(nh, id), old = *p;

	if (old != v) {
		__atomic_store_n(p, v, __ATOMIC_RELEASE);
		/* What a route change moved, not backends coming or going. */
		nh->pass_changed += old != XDPHC_HOP_UNRESOLVED && v != XDPHC_HOP_UNRESOLVED;
	}
	if (hop_real(old))
		hoptab_unref(&nh->tab, old);
}

/* What route r means for slot id: no route, or a hop (the gateway, or the address itself). */
static void apply(struct nexthops *nh, uint32_t id, const struct route_res *r)
{
	const struct xdphc_slot *s = &nh->slots->s[id];
	uint8_t family = r->gw_family ? r->gw_family : s->family;
	const uint32_t *a = r->gw_family ? r->gw : s->addr;
	struct hop_rec *rec;
	uint32_t hop;

	if (r->state != RT_OK) {
		set_hop(nh, id, XDPHC_HOP_NO_ROUTE);
		return;
	}
	/* Already there (a pass after a change elsewhere): nothing to count again. */
	rec = hoptab_rec(&nh->tab, *hop_word(nh, id));
	if (rec && rec->family == family && !memcmp(rec->a, a, addr_len(family))) {
		nh->st.asks += ask_hop(nh, rec);
		return;
	}
	hop = hoptab_ref(&nh->tab, family, a);
	if (!hop) {
		if (!nh->ids_warned)
			log_warn("next hops: out of memory or hop ids; some backends stay "
				 "unresolved (neigh_failed)");
		nh->ids_warned = true;
		set_hop(nh, id, XDPHC_HOP_UNRESOLVED);
		return;
	}
	set_hop(nh, id, hop);
	rec = hoptab_rec(&nh->tab, hop);
	if (rec)
		nh->st.asks += ask_hop(nh, rec);
}

/* ---- route lookups ---------------------------------------------------------------- */

static bool any(const uint32_t a[4])
{
	return a[0] | a[1] | a[2] | a[3];
}

/* Room for the largest lookup: header, rtmsg, two v6 addresses, protocol, two ports. */
#define LOOKUP_BYTES (NLMSG_SPACE(sizeof(struct rtmsg)) + 2 * RTA_SPACE(16) + \
		      RTA_SPACE(1) + 2 * RTA_SPACE(2))

/*
 * `ip route get ADDR from SRC ipproto P sport S dport D [fibmatch]`: the
 * route a packet of slot s would take, as the kernel's output path picks it
 * (policy rules included), without an output interface: like the
 * engine's own sockets, the probes are not bound to one.  fibmatch answers
 * with the route itself, to see a multipath one.
 */
static void put_lookup(struct nexthops *nh, uint32_t seq, const struct xdphc_slot *s,
		       bool fibmatch)
{
	struct rtmsg rtm = {
		.rtm_family = s->family,
		.rtm_dst_len = routekey_bits(s->family),
		.rtm_flags = fibmatch ? RTM_F_FIB_MATCH : 0,
	};
	const uint32_t *src = nh->src[routekey_fam(s->family)];
	uint16_t sport = htons(s->sport);
	struct nlmsghdr *m;

	if (any(src))
		rtm.rtm_src_len = routekey_bits(s->family);
	m = rtnl_msg(nh->qb, RTM_GETROUTE, NLM_F_REQUEST, seq, &rtm, sizeof(rtm));
	rtnl_attr(nh->qb, m, RTA_DST, s->addr, addr_len(s->family));
	if (any(src))
		rtnl_attr(nh->qb, m, RTA_SRC, src, addr_len(s->family));
	if (s->proto) {
		rtnl_attr(nh->qb, m, RTA_IP_PROTO, &s->proto, 1);
		rtnl_attr(nh->qb, m, RTA_SPORT, &sport, 2);
		rtnl_attr(nh->qb, m, RTA_DPORT, &s->port, 2);
	}
}

/* A gateway attribute: RTA_GATEWAY of the route's family, or RTA_VIA (IPv4 via IPv6). */
static void take_gw(const struct rtattr *gw, const struct rtattr *via, uint8_t family,
		    struct route_res *r)
{
	const struct rtvia *v;

	if (gw && RTA_PAYLOAD(gw) == addr_len(family)) {
		r->gw_family = family;
		memcpy(r->gw, RTA_DATA(gw), addr_len(family));
		return;
	}
	if (!via || RTA_PAYLOAD(via) < sizeof(*v))
		return;
	v = RTA_DATA(via);
	if ((v->rtvia_family == AF_INET || v->rtvia_family == AF_INET6) &&
	    RTA_PAYLOAD(via) >= sizeof(*v) + addr_len(v->rtvia_family)) {
		r->gw_family = v->rtvia_family;
		memcpy(r->gw, v->rtvia_addr, addr_len(v->rtvia_family));
	}
}

/* A multipath route with one path is that path: 1; with more, 0 (the kernel picks per flow). */
static int one_path(const struct rtattr *mp, uint8_t family, struct route_res *r)
{
	const struct rtnexthop *nhp = RTA_DATA(mp);
	int len = (int)RTA_PAYLOAD(mp);
	const struct rtattr *tb[RTA_MAX + 1];

	if (len < (int)sizeof(*nhp) || nhp->rtnh_len < sizeof(*nhp) ||
	    RTNH_ALIGN(nhp->rtnh_len) < len)
		return 0;
	rtnl_parse(RTNH_DATA(nhp), nhp->rtnh_len - (int)sizeof(*nhp), tb, RTA_MAX);
	r->oif = (uint32_t)nhp->rtnh_ifindex;
	take_gw(tb[RTA_GATEWAY], tb[RTA_VIA], family, r);
	return 1;
}

/* The answer to a lookup: where the route sends the slot's probes. */
static void parse_route(const struct nexthops *nh, const struct nlmsghdr *m, bool fibmatch,
			struct route_res *r)
{
	const struct rtmsg *rtm = NLMSG_DATA(m);
	const struct rtattr *tb[RTA_MAX + 1];

	memset(r, 0, sizeof(*r));
	r->state = RT_NO_ROUTE;
	if (m->nlmsg_len < NLMSG_LENGTH(sizeof(*rtm)) || rtm->rtm_type != RTN_UNICAST)
		return;		/* blackhole, local, broadcast...: not out of our interface */
	rtnl_parse(rtnl_attrs(m, sizeof(*rtm)), rtnl_attrs_len(m, sizeof(*rtm)), tb, RTA_MAX);
	if (tb[RTA_MULTIPATH]) {
		if (!fibmatch || !one_path(tb[RTA_MULTIPATH], rtm->rtm_family, r)) {
			r->state = fibmatch ? RT_PER_ADDR : RT_NO_ROUTE;
			return;
		}
	} else if (tb[RTA_OIF] && RTA_PAYLOAD(tb[RTA_OIF]) == 4) {
		memcpy(&r->oif, RTA_DATA(tb[RTA_OIF]), 4);
		take_gw(tb[RTA_GATEWAY], tb[RTA_VIA], rtm->rtm_family, r);
	} else {
		/* A nexthop object without compat attributes: the kernel resolves it per address. */
		r->state = fibmatch ? RT_PER_ADDR : RT_NO_ROUTE;
		return;
	}
	/* Replies come back only where probe_rx listens. */
	if (r->oif == (uint32_t)nh->ifindex)
		r->state = RT_OK;
}

/* A failed lookup: no route, or (out of memory) one to make again. */
static uint8_t lookup_error(int error)
{
	switch (-error) {
	case ENOBUFS:
	case ENOMEM:
	case EAGAIN:
	case EBUSY:
	case EINTR:
		return RT_RETRY;
	default:
		return RT_NO_ROUTE;	/* ENETUNREACH, EHOSTUNREACH, EACCES, EINVAL (blackhole) */
	}
}

struct answers {
	struct nexthops *nh;
	struct rcache *cache;
	uint32_t first;			/* seq of q[0] */
	unsigned int left;
};

static int take_answer(const struct nlmsghdr *m, void *arg)
{
	struct answers *a = arg;
	struct nexthops *nh = a->nh;
	uint32_t i = m->nlmsg_seq - a->first;
	struct route_res *r;

	if (i >= nh->nq || nh->q[i].seq != m->nlmsg_seq)
		return 0;	/* a late answer to an earlier batch */
	r = rcache_find(a->cache, &nh->q[i].k);
	if (!r || r->state != RT_PENDING)
		return 0;
	if (m->nlmsg_type == NLMSG_ERROR) {
		const struct nlmsgerr *e = NLMSG_DATA(m);

		r->state = e->error ? lookup_error(e->error) : RT_RETRY;
	} else if (m->nlmsg_type == RTM_NEWROUTE) {
		parse_route(nh, m, !nh->q[i].k.exact, r);
	} else {
		return 0;
	}
	a->left--;
	return 0;
}

/* Send the gathered lookups and read their answers into cache. */
static void run_lookups(struct nexthops *nh, struct rcache *cache)
{
	struct answers a = {
		.nh = nh, .cache = cache, .first = nh->nq ? nh->q[0].seq : 0, .left = nh->nq,
	};
	int dontwait = 0;
	long n;

	if (!nh->nq)
		return;
	nh->st.lookups += nh->nq;
	if (rtnl_send(&nh->req, nh->qb))
		a.left = nh->nq;	/* nothing sent: all retried below */
	else
		while (a.left) {
			n = rtnl_recv(&nh->req, take_answer, &a, dontwait);
			if (n == -ENOBUFS) {
				dontwait = 1;	/* some answers were dropped: take the rest */
				continue;
			}
			if (n <= 0)
				break;
		}
	for (unsigned int i = 0; a.left && i < nh->nq; i++) {
		struct route_res *r = rcache_find(cache, &nh->q[i].k);

		if (r && r->state == RT_PENDING)
			r->state = RT_RETRY;
	}
	nh->nq = 0;
}

enum wait { GOT, WAIT, LATER };

/*
 * Slot id's route from the cache (GOT, in *r), or WAIT: its lookup is
 * gathered in qb, resolve the slot again once the batch is answered, or
 * LATER: its last lookup failed and again is false, try at the next tick.
 */
static enum wait route_for(struct nexthops *nh, uint32_t id, bool again, struct route_res **out)
{
	const struct xdphc_slot *s = &nh->slots->s[id];
	struct route_key k;
	struct route_res *r;

	if (nh->last_leaf && routekey_holds(&nh->last, s->family, s->addr)) {
		k = nh->last;	/* consecutive backends behind one route: no search */
	} else {
		routekey_of(&nh->rk, s->family, s->addr, s->proto, htons(s->sport), s->port,
			    false, &k);
		nh->last = k;
		nh->last_leaf = routekey_leaf(&nh->rk, &k);
	}
	r = rcache_find(&nh->cache, &k);
	if (r && r->state == RT_PER_ADDR) {
		/* Multipath: the kernel's choice for this flow, ports included. */
		k.exact = 1;
		k.len = routekey_bits(s->family);
		memcpy(k.a, s->addr, sizeof(k.a));
		k.proto = s->proto;
		k.sport = htons(s->sport);
		k.dport = s->port;
		r = rcache_find(&nh->cache, &k);
	}
	*out = r;
	if (r && r->state != RT_PENDING && r->state != RT_RETRY)
		return GOT;
	if (r && r->state == RT_PENDING)
		return WAIT;
	if (r && !again)
		return LATER;
	if (nh->nq == LOOKUP_BATCH || !rtnl_batch_room(nh->qb, LOOKUP_BYTES))
		return WAIT;	/* in the next batch */
	if (!r && !(r = rcache_add(&nh->cache, &k)))
		return LATER;
	r->state = RT_PENDING;
	nh->q[nh->nq] = (struct hop_query){ .k = k, .seq = ++nh->req.seq, .slot = id };
	put_lookup(nh, nh->q[nh->nq].seq, s, !k.exact);
	nh->nq++;
	return WAIT;
}

static bool slot_ctl(struct nexthops *nh, uint32_t id)
{
	return ctl(nh, nh->slots->s[id].family);
}

static void resolve_one(struct nexthops *nh, uint32_t id, bool again)
{
	struct route_res *r;

	if (!slot_ctl(nh, id)) {
		set_hop(nh, id, XDPHC_HOP_UNRESOLVED);
		return;
	}
	switch (route_for(nh, id, again, &r)) {
	case GOT:
		apply(nh, id, r);
		break;
	case WAIT:
		if (!idvec_push(&nh->defer, id))
			break;
		nexthop_claim(nh, id);	/* no memory now */
		break;
	case LATER:
		nexthop_claim(nh, id);
		break;
	}
}

/*
 * Until no lookup is outstanding: lookups out, answers in, the slots that
 * waited for them resolved.  Each round answers at least one lookup; a
 * slot whose lookup failed waits for the next tick, not for another round.
 */
static void settle(struct nexthops *nh)
{
	uint32_t id;

	while (nh->nq) {
		struct idvec waiting = nh->defer;

		nh->defer = (struct idvec){ 0 };
		run_lookups(nh, &nh->cache);
		while (idvec_pop(&waiting, &id))
			resolve_one(nh, id, false);
		free(waiting.v);
	}
	while (idvec_pop(&nh->defer, &id))
		nexthop_claim(nh, id);
}

/* ---- dumps ------------------------------------------------------------------------ */

struct dump {
	struct nexthops *nh;
	int err;
};

static void addr_of(const struct rtattr *rta, uint8_t family, uint32_t a[4])
{
	memset(a, 0, 16);
	if (rta && RTA_PAYLOAD(rta) == addr_len(family))
		memcpy(a, RTA_DATA(rta), addr_len(family));
}

static int on_route(const struct nlmsghdr *m, void *arg)
{
	struct dump *d = arg;
	const struct rtmsg *rtm = NLMSG_DATA(m);
	const struct rtattr *tb[RTA_MAX + 1];
	uint32_t dst[4];

	if (m->nlmsg_type != RTM_NEWROUTE || !ctl(d->nh, rtm->rtm_family))
		return 0;
	rtnl_parse(rtnl_attrs(m, sizeof(*rtm)), rtnl_attrs_len(m, sizeof(*rtm)), tb, RTA_MAX);
	addr_of(tb[RTA_DST], rtm->rtm_family, dst);
	if (routekey_route(&d->nh->rk, rtm->rtm_family, dst, rtm->rtm_dst_len))
		d->err = -ENOMEM;
	return 0;
}

static int on_rule(const struct nlmsghdr *m, void *arg)
{
	struct dump *d = arg;
	const struct fib_rule_hdr *frh = NLMSG_DATA(m);
	const struct rtattr *tb[FRA_MAX + 1];
	struct rule_sel sel = { .family = frh->family, .dst_len = frh->dst_len };

	if (m->nlmsg_type != RTM_NEWRULE || !ctl(d->nh, frh->family))
		return 0;
	rtnl_parse(rtnl_attrs(m, sizeof(*frh)), rtnl_attrs_len(m, sizeof(*frh)), tb, FRA_MAX);
	addr_of(tb[FRA_DST], frh->family, sel.dst);
	sel.ports = tb[FRA_IP_PROTO] || tb[FRA_SPORT_RANGE] || tb[FRA_DPORT_RANGE];
	if (routekey_rule(&d->nh->rk, &sel))
		d->err = -ENOMEM;
	return 0;
}

/* A dump, made again if a change interrupted it. */
static int dump(struct nexthops *nh, uint16_t type, const void *hdr, size_t len, rtnl_cb cb)
{
	struct dump d = { .nh = nh };
	int e = -EINTR;

	for (int i = 0; i < DUMP_TRIES && e == -EINTR; i++) {
		d.err = 0;
		e = rtnl_dump(&nh->req, type, hdr, len, cb, &d);
	}
	return e ? e : d.err;
}

/* Every route prefix of every table, and every policy rule, of the families resolved here. */
static int load_routing(struct nexthops *nh)
{
	int e = 0;

	routekey_clear(&nh->rk);
	nh->last_leaf = false;
	for (int f = 0; f < 2 && !e; f++) {
		struct rtmsg rtm = { .rtm_family = f ? AF_INET6 : AF_INET };
		struct fib_rule_hdr frh = { .family = rtm.rtm_family };

		if (!nh->ctl[f])
			continue;
		e = dump(nh, RTM_GETRULE, &frh, sizeof(frh), on_rule);
		if (!e)
			e = dump(nh, RTM_GETROUTE, &rtm, sizeof(rtm), on_route);
	}
	routekey_finish(&nh->rk);
	return e;
}

/* A neighbour entry (dump or notification) of our interface: into the hop table. */
static void take_neigh(struct nexthops *nh, const struct nlmsghdr *m)
{
	const struct ndmsg *ndm = NLMSG_DATA(m);
	const struct rtattr *tb[NDA_MAX + 1];
	const uint8_t *mac = NULL;
	uint32_t a[4];

	if (m->nlmsg_len < NLMSG_LENGTH(sizeof(*ndm)) || ndm->ndm_ifindex != nh->ifindex ||
	    !ctl(nh, ndm->ndm_family) || ndm->ndm_flags & NTF_PROXY)
		return;
	rtnl_parse(rtnl_attrs(m, sizeof(*ndm)), rtnl_attrs_len(m, sizeof(*ndm)), tb, NDA_MAX);
	if (!tb[NDA_DST])
		return;
	addr_of(tb[NDA_DST], ndm->ndm_family, a);
	if (m->nlmsg_type == RTM_DELNEIGH) {
		struct hop_rec *r;

		hoptab_neigh_gone(&nh->tab, ndm->ndm_family, a);
		/* Flushed or collected while slots send through it: resolve it as a sender would. */
		r = hoptab_find(&nh->tab, ndm->ndm_family, a);
		if (r && r->hop)
			nh->st.asks += ask_hop(nh, r);
		return;
	}
	if (tb[NDA_LLADDR] && RTA_PAYLOAD(tb[NDA_LLADDR]) == 6)
		mac = RTA_DATA(tb[NDA_LLADDR]);
	hoptab_neigh(&nh->tab, ndm->ndm_family, a, ndm->ndm_state, mac);
}

static int on_neigh(const struct nlmsghdr *m, void *arg)
{
	struct dump *d = arg;

	if (m->nlmsg_type == RTM_NEWNEIGH)
		take_neigh(d->nh, m);
	return 0;
}

/* The kernel's neighbour table of our interface; entries it no longer lists are gone. */
static int load_neigh(struct nexthops *nh)
{
	int e = 0;

	hoptab_sweep_begin(&nh->tab);
	for (int f = 0; f < 2 && !e; f++) {
		struct ndmsg ndm = { .ndm_family = f ? AF_INET6 : AF_INET };

		if (nh->ctl[f])
			e = dump(nh, RTM_GETNEIGH, &ndm, sizeof(ndm), on_neigh);
	}
	if (!e)
		hoptab_sweep_end(&nh->tab);
	return e;
}

/* ---- notifications ------------------------------------------------------------------ */

static void mark_dirty(struct nexthops *nh)
{
	if (!nh->dirty)
		nh->dirty_at = nh->now;
	nh->dirty = true;
}

static void on_link(struct nexthops *nh, const struct nlmsghdr *m)
{
	const struct ifinfomsg *ifi = NLMSG_DATA(m);
	const struct rtattr *tb[IFLA_MAX + 1];

	if (m->nlmsg_len < NLMSG_LENGTH(sizeof(*ifi)) || ifi->ifi_index != nh->ifindex)
		return;
	mark_dirty(nh);		/* up, down, moved: its routes may have changed */
	rtnl_parse(rtnl_attrs(m, sizeof(*ifi)), rtnl_attrs_len(m, sizeof(*ifi)), tb, IFLA_MAX);
	if (tb[IFLA_ADDRESS] && RTA_PAYLOAD(tb[IFLA_ADDRESS]) == 6 &&
	    memcmp(RTA_DATA(tb[IFLA_ADDRESS]), nh->smac, 6) && !nh->mac_warned) {
		nh->mac_warned = true;
		log_warn("interface %s changed its MAC address: probes still leave from the "
			 "old one until the engine restarts", nh->ifname);
	}
}

static int on_event(const struct nlmsghdr *m, void *arg)
{
	struct nexthops *nh = arg;
	const struct rtmsg *rtm = NLMSG_DATA(m);

	switch (m->nlmsg_type) {
	case RTM_NEWNEIGH:
	case RTM_DELNEIGH:
		take_neigh(nh, m);
		break;
	case RTM_NEWROUTE:
	case RTM_DELROUTE:
		/* Cached clones (PMTU, redirects) do not change which route matches. */
		if (ctl(nh, rtm->rtm_family) && !(rtm->rtm_flags & RTM_F_CLONED))
			mark_dirty(nh);
		break;
	case RTM_NEWRULE:
	case RTM_DELRULE:
		if (ctl(nh, ((const struct fib_rule_hdr *)NLMSG_DATA(m))->family))
			mark_dirty(nh);
		break;
	case RTM_NEWLINK:
	case RTM_DELLINK:
		on_link(nh, m);
		break;
	}
	return 0;
}

static void read_events(struct nexthops *nh)
{
	for (int i = 0; i < EV_READS_PER_TICK; i++) {
		long n = rtnl_recv(&nh->ev, on_event, nh, 1);

		if (n == -ENOBUFS) {
			/* Some changes are lost: take everything from the kernel again. */
			nh->st.lost++;
			nh->neigh_lost = true;
			mark_dirty(nh);
			continue;
		}
		if (n <= 0)
			return;
	}
}

/* ---- passes over the slots ---------------------------------------------------------- */

static void resolve_ids(struct nexthops *nh, const uint32_t *ids, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		resolve_one(nh, ids[i], true);
		if (nh->nq == LOOKUP_BATCH)
			settle(nh);
	}
	settle(nh);
}

/* Slots from scan_next on, up to budget of them; true once the pass is over. */
static bool scan(struct nexthops *nh, size_t budget)
{
	uint32_t ids[256];
	size_t n = 0;

	while (budget && nh->scan_next < nh->nslots) {
		uint32_t id = (uint32_t)nh->scan_next++;

		budget--;
		if (!slot_ctl(nh, id) && *hop_word(nh, id) == XDPHC_HOP_UNRESOLVED)
			continue;
		ids[n++] = id;
		if (n == sizeof(ids) / sizeof(ids[0])) {
			resolve_ids(nh, ids, n);
			n = 0;
		}
	}
	resolve_ids(nh, ids, n);
	return nh->scan_next >= nh->nslots;
}

static void start_pass(struct nexthops *nh)
{
	int e = load_routing(nh);

	if (e)
		log_warn("next hops: reading routes and rules: %s; tried again shortly",
			 strerror(-e));
	nh->dirty = false;
	if (e) {
		mark_dirty(nh);
		return;
	}
	rcache_clear(&nh->cache);
	nh->scanning = true;
	nh->scan_next = 0;
	nh->pass_changed = 0;
	nh->pass_start = nh->now;
	nh->st.passes++;
}

static void end_pass(struct nexthops *nh)
{
	nh->scanning = false;
	if (nh->pass_changed)
		log_info("next hops: routes, rules or the link changed: %u backends moved to "
			 "another next hop, re-resolved in %.0f ms", nh->pass_changed,
			 (double)(mono_ns() - nh->pass_start) / 1e6);
}

static void do_todo(struct nexthops *nh, size_t *budget)
{
	uint32_t ids[256], id;
	size_t n = 0;

	while (*budget && idvec_pop(&nh->todo, &id)) {
		(*budget)--;
		nh->queued[id / 64] &= ~(1ULL << (id % 64));
		ids[n++] = id;
		if (n == sizeof(ids) / sizeof(ids[0])) {
			resolve_ids(nh, ids, n);
			n = 0;
		}
	}
	resolve_ids(nh, ids, n);
}

/* ---- the FIB path's requests ------------------------------------------------------------ */

static bool fib_rate_ok(struct nexthops *nh, uint64_t key)
{
	unsigned int h = (unsigned int)(xdphc_mix64(key) >> 56);

	if (nh->fib_asked[h].key == key && nh->now - nh->fib_asked[h].at < REASK_NS)
		return false;
	nh->fib_asked[h].key = key;
	nh->fib_asked[h].at = nh->now;
	return true;
}

/* One lookup, answered now: the next hop of slot id, into family/a.  0, or -1. */
static int lookup_now(struct nexthops *nh, uint32_t id, uint8_t *family, uint32_t a[4])
{
	const struct xdphc_slot *s = &nh->slots->s[id];
	struct route_key k = { .family = s->family, .exact = 1, .len = ROUTEKEY_NONE };
	struct route_res *r;

	/* Nothing kept: this path follows no notifications. */
	rcache_clear(&nh->once);
	r = rcache_add(&nh->once, &k);
	if (!r)
		return -1;
	nh->q[0] = (struct hop_query){ .k = k, .seq = ++nh->req.seq, .slot = id };
	put_lookup(nh, nh->q[0].seq, s, false);
	nh->nq = 1;
	run_lookups(nh, &nh->once);
	if (r->state != RT_OK)
		return -1;
	*family = r->gw_family ? r->gw_family : s->family;
	memcpy(a, r->gw_family ? r->gw : s->addr, 16);
	return 0;
}

/* bpf_fib_lookup() found no neighbour: t is the IPv4 next hop, or 0 (IPv6: look it up). */
static unsigned int fib_missing(struct nexthops *nh, uint32_t id, uint32_t t)
{
	const struct xdphc_slot *s = &nh->slots->s[id];
	uint32_t a[4] = { t };
	uint8_t family = AF_INET;
	uint64_t key = t ? t : (1ULL << 63 | id);

	if (!nh->asks_left || nh->ask_fd < 0 || !fib_rate_ok(nh, key))
		return 0;
	if (!t && (s->family != AF_INET6 || lookup_now(nh, id, &family, a)))
		return 0;
	nh->asks_left--;
	put_ask(nh, family, a);
	return 1;
}

/* ---- the engine's interface ----------------------------------------------------------------- */

static int map_hops(struct nexthops *nh, const struct nexthop_params *p)
{
	nh->slot_hop = bpfmap_mmap(p->slot_hop_fd, sizeof(*nh->slot_hop), p->n_slot_hop,
				   PROT_READ | PROT_WRITE, &nh->slot_hop_len);
	if (!nh->slot_hop)
		return -errno;
	nh->hops = bpfmap_mmap(p->hops_fd, sizeof(*nh->hops), p->n_hops, PROT_READ | PROT_WRITE,
			       &nh->hops_len);
	if (!nh->hops)
		return -errno;
	if (p->n_slot_hop * XDPHC_HOPS_PER_ENTRY < nh->nslots || p->n_hops < 2)
		return -EINVAL;
	if (hoptab_init(&nh->tab, nh->hops, (uint32_t)p->n_hops))
		return -ENOMEM;
	nh->queued = calloc(nh->nslots / 64 + 1, sizeof(*nh->queued));
	return nh->queued ? 0 : -ENOMEM;
}

static int subscribe(struct nexthops *nh)
{
	unsigned int groups[6], n = 0;

	groups[n++] = RTNLGRP_NEIGH;
	groups[n++] = RTNLGRP_LINK;
	if (nh->ctl[0]) {
		groups[n++] = RTNLGRP_IPV4_ROUTE;
		groups[n++] = RTNLGRP_IPV4_RULE;
	}
	if (nh->ctl[1]) {
		groups[n++] = RTNLGRP_IPV6_ROUTE;
		groups[n++] = RTNLGRP_IPV6_RULE;
	}
	return rtnl_open(&nh->ev, groups, n, EV_RCVBUF, 1);
}

int nexthop_open(struct nexthops *nh, const struct nexthop_params *p, char *err,
		 size_t errlen)
{
	int e;

	memset(nh, 0, sizeof(*nh));
	nh->req.fd = nh->ev.fd = -1;
	nh->ifindex = p->ifindex;
	snprintf(nh->ifname, sizeof(nh->ifname), "%s", p->ifname);
	memcpy(nh->smac, p->smac, sizeof(nh->smac));
	nh->ctl[0] = !p->fib4;
	nh->ctl[1] = !p->fib6;
	nh->src[0][0] = p->src4;
	memcpy(nh->src[1], p->src6, sizeof(nh->src[1]));
	nh->slots = p->slots;
	nh->nslots = p->slots->n;
	nh->asks_left = UINT32_MAX;	/* at start, every next hop is asked for at once */
	nh->ask_fd = neigh_open();
	nh->qb = malloc(sizeof(*nh->qb));
	nh->ab = calloc(1, sizeof(*nh->ab));
	nh->q = calloc(LOOKUP_BATCH, sizeof(*nh->q));
	if (nh->ask_fd < 0 || !nh->qb || !nh->ab || !nh->q) {
		e = nh->ask_fd < 0 ? -errno : -ENOMEM;
		snprintf(err, errlen, "next hops: %s", strerror(-e));
		return e;
	}
	nh->qb->len = nh->qb->n = 0;
	e = rtnl_open(&nh->req, NULL, 0, REQ_RCVBUF, 0);
	if (!e && active(nh))
		e = map_hops(nh, p);
	if (!e && active(nh))
		e = subscribe(nh);
	if (e)
		snprintf(err, errlen, "next hops resolved by the controller: %s", strerror(-e));
	return e;
}

static void log_fib(const struct nexthops *nh, int f)
{
	log_info("next hops (%s): bpf_fib_lookup, interface %s forwards %s "
		 "(net.%s.conf.%s.forwarding=1)", fam_name(f), nh->ifname, fam_name(f),
		 f ? "ipv6" : "ipv4", nh->ifname);
}

/* The kernel's neighbour table size (global, readable in the first namespace only), or 0. */
static long gc_thresh3(int f)
{
	char path[64];
	long v = 0;
	FILE *fp;

	snprintf(path, sizeof(path), "/proc/sys/net/%s/neigh/default/gc_thresh3",
		 f ? "ipv6" : "ipv4");
	fp = fopen(path, "r");
	if (!fp)
		return 0;
	if (fscanf(fp, "%ld", &v) != 1)
		v = 0;
	fclose(fp);
	return v;
}

/* More next hops than the kernel keeps neighbours: most of them never resolve. */
static void warn_table(struct nexthops *nh)
{
	size_t hops[2] = { 0 };

	for (uint32_t id = 1; id < nh->tab.nhops; id++) {
		struct hop_rec *r = hoptab_rec(&nh->tab, id);

		if (r)
			hops[routekey_fam(r->family)]++;
	}
	for (int f = 0; f < 2; f++) {
		long max = gc_thresh3(f);

		if (max && hops[f] > (size_t)max)
			log_warn("next hops (%s): %zu neighbours needed (on-link backends), but the "
				 "kernel keeps at most %ld (net.%s.neigh.default.gc_thresh3): route "
				 "the backends via a gateway, or raise it", fam_name(f), hops[f],
				 max, f ? "ipv6" : "ipv4");
	}
}

/* What start resolved, per family: the hops in use, and the slots without one. */
static void log_start(struct nexthops *nh, double ms)
{
	size_t slots[2] = { 0 }, no_route[2] = { 0 }, waiting[2] = { 0 };

	for (size_t id = 0; id < nh->nslots; id++) {
		const struct xdphc_slot *s = &nh->slots->s[id];
		uint32_t v = *hop_word(nh, (uint32_t)id);
		struct hop_rec *r = hoptab_rec(&nh->tab, v);
		int f = routekey_fam(s->family);

		if (!ctl(nh, s->family))
			continue;
		slots[f]++;
		no_route[f] += v == XDPHC_HOP_NO_ROUTE;
		waiting[f] += v == XDPHC_HOP_UNRESOLVED || (r && !r->usable);
	}
	for (int f = 0; f < 2; f++) {
		if (!nh->ctl[f]) {
			log_fib(nh, f);
			continue;
		}
		log_info("next hops (%s): resolved by the engine over netlink, interface %s does "
			 "not forward %s: %zu backends, %zu without a route, %zu waiting for "
			 "their neighbour", fam_name(f), nh->ifname, fam_name(f), slots[f],
			 no_route[f], waiting[f]);
	}
	log_info("next hops: %u in use, %lu route lookups, %lu neighbour requests, in %.1f ms",
		 hoptab_hops(&nh->tab), (unsigned long)nh->st.lookups,
		 (unsigned long)nh->st.asks, ms);
	warn_table(nh);
}

int nexthop_start(struct nexthops *nh, char *err, size_t errlen)
{
	uint64_t t0 = mono_ns();
	int e;

	nh->now = t0;
	if (!active(nh)) {
		log_fib(nh, 0);
		log_fib(nh, 1);
		return 0;
	}
	e = load_routing(nh);
	if (!e)
		e = load_neigh(nh);
	if (e) {
		snprintf(err, errlen, "next hops: reading routes, rules and neighbours of %s: %s",
			 nh->ifname, strerror(-e));
		return e;
	}
	nh->scan_next = 0;
	scan(nh, nh->nslots);
	flush_asks(nh);
	nh->asks_left = ASKS_PER_TICK;
	log_start(nh, (double)(mono_ns() - t0) / 1e6);
	return 0;
}

void nexthop_claim(struct nexthops *nh, uint32_t id)
{
	uint64_t bit = 1ULL << (id % 64);

	if (!nh || !nh->queued || id >= nh->nslots || nh->queued[id / 64] & bit)
		return;
	if (idvec_push(&nh->todo, id))
		return;		/* no memory: NO_NEIGH with t = 0 asks again */
	nh->queued[id / 64] |= bit;
}

void nexthop_release(struct nexthops *nh, uint32_t id)
{
	if (!nh || !nh->slot_hop || id >= nh->nslots)
		return;
	set_hop(nh, id, XDPHC_HOP_UNRESOLVED);
}

unsigned int nexthop_missing(struct nexthops *nh, uint32_t id, uint32_t t, uint64_t now)
{
	uint8_t family;
	struct hop_rec *r;

	if (!nh || !nh->slots || id >= nh->nslots)
		return 0;
	nh->now = now;
	family = nh->slots->s[id].family;
	if (!ctl(nh, family))
		return fib_missing(nh, id, t);
	if (!t) {
		nexthop_claim(nh, id);	/* resolved at the next tick */
		return 0;
	}
	r = hoptab_rec(&nh->tab, t);
	return r ? ask_hop(nh, r) : 0;
}

void nexthop_tick(struct nexthops *nh, uint64_t now)
{
	size_t budget = SLOTS_PER_TICK;

	nh->now = now;
	if (active(nh)) {
		read_events(nh);
		if (nh->neigh_lost && !load_neigh(nh))
			nh->neigh_lost = false;
		if (nh->dirty && !nh->scanning && now - nh->dirty_at >= SETTLE_NS)
			start_pass(nh);
		do_todo(nh, &budget);
		if (nh->scanning && scan(nh, budget))
			end_pass(nh);
	}
	flush_asks(nh);
	nh->asks_left = ASKS_PER_TICK;
}

void nexthop_close(struct nexthops *nh)
{
	if (!nh->slots)
		return;		/* never opened */
	rtnl_close(&nh->req);
	rtnl_close(&nh->ev);
	neigh_close(nh->ask_fd);
	bpfmap_munmap(nh->slot_hop, nh->slot_hop_len);
	bpfmap_munmap(nh->hops, nh->hops_len);
	hoptab_free(&nh->tab);
	routekey_free(&nh->rk);
	rcache_free(&nh->cache);
	rcache_free(&nh->once);
	free(nh->qb);
	free(nh->ab);
	free(nh->q);
	free(nh->defer.v);
	free(nh->todo.v);
	free(nh->queued);
	memset(nh, 0, sizeof(*nh));
	nh->req.fd = nh->ev.fd = nh->ask_fd = -1;
}
