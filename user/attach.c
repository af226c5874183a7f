// SPDX-License-Identifier: MIT
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/random.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <internal/nexthop.h>

#include "attach.h"
#include "log.h"
#include "probe_rx.skel.h"
#include "probe_tx.skel.h"

#define DEFAULT_MSS 1460

/*
 * libbpf and libxdp print through here: what they say is for -v.  libxdp
 * warns about the dispatcher before it falls back, which is expected.
 */
static int lib_log(const char *lib, const char *fmt, va_list ap)
{
	char buf[512];
	size_t n;

	if (!log_enabled(LOG_DEBUG))
		return 0;
	vsnprintf(buf, sizeof(buf), fmt, ap);
	n = strlen(buf);
	if (n && buf[n - 1] == '\n')
		buf[n - 1] = '\0';
	log_debug("%s: %s", lib, buf);
	return 0;
}

static int libbpf_log(enum libbpf_print_level level, const char *fmt, va_list ap)
{
	(void)level;
	return lib_log("libbpf", fmt, ap);
}

static int libxdp_log(enum libxdp_print_level level, const char *fmt, va_list ap)
{
	(void)level;
	return lib_log("libxdp", fmt, ap);
}

static const char *load_hint(int e)
{
	if (e == EPERM || e == EACCES)
		return " (xdphc needs root, or CAP_BPF, CAP_NET_ADMIN and CAP_PERFMON)";
	return "";
}

static int fill_cfg(struct xdphc_bpf_cfg *c, const struct programs_params *pp,
		    char *err, size_t errlen)
{
	ssize_t got;
	int e;

	memset(c, 0, sizeof(*c));
	if (pp->nslots > XDPHC_SLOTS_LIMIT) {
		snprintf(err, errlen, "%zu backends: at most %u are supported", pp->nslots,
			 XDPHC_SLOTS_LIMIT);
		return -E2BIG;
	}
	got = getrandom(c->key, sizeof(c->key), 0);
	if (got != sizeof(c->key)) {
		e = got < 0 ? -errno : -EIO;
		snprintf(err, errlen, "getrandom: %s", strerror(-e));
		return e;
	}
	c->src4 = pp->src4;
	memcpy(c->src6, pp->src6, sizeof(c->src6));
	xdphc_cfg_sip6(c);
	c->ifindex = pp->ifindex;
	c->nslots = pp->nslots;
	c->nbuckets = slots_table_buckets(pp->nslots);
	c->sport_lo = pp->sport_lo;
	c->sport_count = pp->sport_hi - pp->sport_lo + 1;
	c->mss = DEFAULT_MSS;
	memcpy(c->smac, pp->smac, sizeof(c->smac));
	c->fib4 = pp->fib4;
	c->fib6 = pp->fib6;
	return 0;
}

/* The next-hop maps: full size only when the controller resolves a family. */
static size_t slot_hop_entries(const struct xdphc_bpf_cfg *c)
{
	if (c->fib4 && c->fib6)
		return 1;
	return c->nslots / XDPHC_HOPS_PER_ENTRY + 1;
}

/* hops[0] stays invalid; a slot moving to a new hop holds both for a moment. */
static size_t hops_entries(const struct xdphc_bpf_cfg *c)
{
	return c->fib4 && c->fib6 ? 1 : (size_t)c->nslots + 2;
}

static int load_tx(struct programs *p, const struct xdphc_bpf_cfg *c,
		   char *err, size_t errlen)
{
	int e;

	p->tx = probe_tx_bpf__open();
	if (!p->tx) {
		e = -errno;
		snprintf(err, errlen, "opening probe_tx: %s", strerror(-e));
		return e;
	}
	p->tx->rodata->cfg = *c;
	bpf_map__set_max_entries(p->tx->maps.slots, c->nslots ? c->nslots : 1);
	bpf_map__set_max_entries(p->tx->maps.slot_table, c->nbuckets);
	bpf_map__set_max_entries(p->tx->maps.slot_hop, slot_hop_entries(c));
	bpf_map__set_max_entries(p->tx->maps.hops, hops_entries(c));
	e = probe_tx_bpf__load(p->tx);
	if (e) {
		snprintf(err, errlen, "loading probe_tx into the kernel: %s%s",
			 strerror(-e), load_hint(-e));
		return e;
	}
	e = slots_open(&p->slots, bpf_map__fd(p->tx->maps.slots),
		       bpf_map__fd(p->tx->maps.slot_table), c->nslots, err, errlen);
	if (e)
		return e;
	p->drop_link = bpf_program__attach(p->tx->progs.count_tx_drops);
	if (!p->drop_link) {
		e = -errno;
		snprintf(err, errlen, "attaching the tx drop counter to tracepoint "
			 "xdp:xdp_devmap_xmit: %s", strerror(-e));
		return e;
	}
	return 0;
}

/* probe_rx uses probe_tx's maps: one set of slots, one queue, one set of counters. */
static int share_maps(struct programs *p, char *err, size_t errlen)
{
	int e;

	if (!bpf_map__reuse_fd(p->rx->maps.slots, bpf_map__fd(p->tx->maps.slots)) &&
	    !bpf_map__reuse_fd(p->rx->maps.slot_table, bpf_map__fd(p->tx->maps.slot_table)) &&
	    !bpf_map__reuse_fd(p->rx->maps.counters, bpf_map__fd(p->tx->maps.counters)) &&
	    !bpf_map__reuse_fd(p->rx->maps.udp_checks, bpf_map__fd(p->tx->maps.udp_checks)) &&
	    !bpf_map__reuse_fd(p->rx->maps.txq, bpf_map__fd(p->tx->maps.txq)) &&
	    !bpf_map__reuse_fd(p->rx->maps.slot_hop, bpf_map__fd(p->tx->maps.slot_hop)) &&
	    !bpf_map__reuse_fd(p->rx->maps.hops, bpf_map__fd(p->tx->maps.hops)))
		return 0;
	e = -errno;
	snprintf(err, errlen, "sharing maps with probe_rx: %s", strerror(-e));
	return e;
}

static int open_rx(struct programs *p, const struct xdphc_bpf_cfg *c,
		   char *err, size_t errlen)
{
	DECLARE_LIBXDP_OPTS(xdp_program_opts, xopts);
	int e;

	p->rx = probe_rx_bpf__open();
	if (!p->rx) {
		e = -errno;
		snprintf(err, errlen, "opening probe_rx: %s", strerror(-e));
		return e;
	}
	p->rx->rodata->cfg = *c;
	e = share_maps(p, err, errlen);
	if (e)
		return e;
	if (p->tail_call) {
		/* Nothing to attach: a load balancer's program tail-calls this one. */
		e = probe_rx_bpf__load(p->rx);
		if (e)
			snprintf(err, errlen, "loading probe_rx into the kernel: %s%s",
				 strerror(-e), load_hint(-e));
		return e;
	}
	xopts.obj = p->rx->obj;
	xopts.prog_name = "probe_rx";
	p->xprog = xdp_program__create(&xopts);
	e = libxdp_get_error(p->xprog);
	if (e) {
		p->xprog = NULL;
		snprintf(err, errlen, "preparing probe_rx for libxdp: %s", strerror(-e));
		return e;
	}
	return 0;
}

int programs_load(struct programs *p, const struct programs_params *pp,
		  char *err, size_t errlen)
{
	struct xdphc_bpf_cfg c;
	int e;

	memset(p, 0, sizeof(*p));
	p->send.batch_fd = -1;
	libxdp_set_print(libxdp_log);
	libbpf_set_print(libbpf_log);
	p->ifindex = pp->ifindex;
	p->tail_call = pp->tail_call;
	p->mode = pp->skb_mode ? XDP_MODE_SKB : XDP_MODE_NATIVE;
	e = fill_cfg(&c, pp, err, errlen);
	if (!e)
		e = load_tx(p, &c, err, errlen);
	if (!e)
		e = send_open(&p->send, bpf_map__fd(p->tx->maps.txq),
			      bpf_program__fd(p->tx->progs.probe_tx), &p->tx->bss->tx_dropped,
			      p->ifindex, err, errlen);
	if (!e)
		e = open_rx(p, &c, err, errlen);
	return e;
}

static const char *mode_name(enum xdp_attach_mode m)
{
	switch (m) {
	case XDP_MODE_NATIVE: return "native";
	case XDP_MODE_SKB: return "skb";
	case XDP_MODE_HW: return "hw";
	default: return "unspecified";
	}
}

static void describe_attachment(struct programs *p)
{
	struct xdp_multiprog *mp = xdp_multiprog__get_from_ifindex(p->ifindex);

	if (libxdp_get_error(mp)) {
		log_warn("attached probe_rx, but cannot read the interface's XDP state back");
		return;
	}
	p->dispatcher = !xdp_multiprog__is_legacy(mp);
	if (p->dispatcher) {
		log_info("probe_rx attached in %s mode through libxdp's dispatcher "
			 "(%d programs on the interface)",
			 mode_name(p->mode), xdp_multiprog__program_count(mp));
	} else {
		/* Attached alone, probe_rx is in the kernel's XDP dispatcher already. */
		send_use_attached(&p->send, xdp_program__fd(p->xprog));
		log_info("probe_rx attached in %s mode as the interface's only XDP program "
			 "(libxdp dispatcher unavailable on this kernel); SYNs go out in "
			 "batched runs of probe_rx", mode_name(p->mode));
	}
	xdp_multiprog__close(mp);
}

int programs_attach(struct programs *p, char *err, size_t errlen)
{
	char msg[256];
	int e = xdp_program__attach(p->xprog, p->ifindex, p->mode, 0);

	if (e) {
		libxdp_strerror(e, msg, sizeof(msg));
		snprintf(err, errlen, "attaching probe_rx (%s mode): %s%s%s", mode_name(p->mode),
			 msg, e == -EEXIST || e == -EBUSY ?
			 " (another XDP program that does not use libxdp is attached)" : "",
			 load_hint(-e));
		return e;
	}
	p->attached = true;
	describe_attachment(p);
	return 0;
}

void programs_detach(struct programs *p)
{
	int e;

	if (!p->attached)
		return;
	e = xdp_program__detach(p->xprog, p->ifindex, p->mode, 0);
	if (e)
		log_warn("detaching probe_rx: %s", strerror(-e));
	else
		log_info("probe_rx detached");
	p->attached = false;
	send_release(&p->send);
}

void programs_close(struct programs *p)
{
	programs_detach(p);
	bpf_link__destroy(p->drop_link);
	send_close(&p->send);
	slots_close(&p->slots);
	xdp_program__close(p->xprog);
	probe_rx_bpf__destroy(p->rx);
	probe_tx_bpf__destroy(p->tx);
	memset(p, 0, sizeof(*p));
	p->send.batch_fd = -1;
}

int programs_udp_fd(const struct programs *p)
{
	return p->tx ? bpf_map__fd(p->tx->maps.udp_checks) : -1;
}

int programs_rx_fd(const struct programs *p)
{
	return p->rx ? bpf_program__fd(p->rx->progs.probe_rx) : -1;
}

void programs_hop_maps(const struct programs *p, int *slot_hop_fd, size_t *n_slot_hop,
		       int *hops_fd, size_t *n_hops)
{
	*slot_hop_fd = bpf_map__fd(p->tx->maps.slot_hop);
	*n_slot_hop = bpf_map__max_entries(p->tx->maps.slot_hop);
	*hops_fd = bpf_map__fd(p->tx->maps.hops);
	*n_hops = bpf_map__max_entries(p->tx->maps.hops);
}

int programs_counters(struct programs *p, uint64_t out[XDPHC_CNT_MAX])
{
	int ncpu = libbpf_num_possible_cpus();
	uint64_t vals[ncpu > 0 ? ncpu : 1];
	int fd = bpf_map__fd(p->tx->maps.counters);

	if (ncpu <= 0)
		return ncpu < 0 ? ncpu : -EINVAL;
	for (uint32_t i = 0; i < XDPHC_CNT_MAX; i++) {
		out[i] = 0;
		if (bpf_map_lookup_elem(fd, &i, vals))
			return -errno;
		for (int c = 0; c < ncpu; c++)
			out[i] += vals[c];
	}
	return 0;
}
