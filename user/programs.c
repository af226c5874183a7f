// SPDX-License-Identifier: MIT
#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <linux/if_link.h>

#include "bpfmap.h"
#include "clock.h"
#include "log.h"
#include "pins.h"
#include "programs.h"
#include "slots.h"
#include "probe_rx.skel.h"
#include "probe_tx.skel.h"

#define DEFAULT_MSS 1460
#define BATCH_RETRY_NS 5000000000ULL

static int libxdp_log(enum libxdp_print_level level, const char *fmt, va_list ap)
{
	char buf[512];
	size_t n;

	if (!log_enabled(LOG_DEBUG) && level != LIBXDP_WARN)
		return 0;
	vsnprintf(buf, sizeof(buf), fmt, ap);
	n = strlen(buf);
	if (n && buf[n - 1] == '\n')
		buf[n - 1] = '\0';
	/* libxdp warns about the dispatcher before falling back; that is expected. */
	log_debug("libxdp: %s", buf);
	return 0;
}

static int libbpf_log(enum libbpf_print_level level, const char *fmt, va_list ap)
{
	char buf[512];
	size_t n;

	if (level == LIBBPF_DEBUG && !log_enabled(LOG_DEBUG))
		return 0;
	vsnprintf(buf, sizeof(buf), fmt, ap);
	n = strlen(buf);
	if (n && buf[n - 1] == '\n')
		buf[n - 1] = '\0';
	log_debug("libbpf: %s", buf);
	return 0;
}

static int fill_cfg(struct xdphc_bpf_cfg *c, const struct programs_params *pp,
		    char *err, size_t errlen)
{
	memset(c, 0, sizeof(*c));
	if (pp->nslots > XDPHC_SLOTS_MAX) {
		snprintf(err, errlen, "%zu backends: at most %u are supported", pp->nslots,
			 XDPHC_SLOTS_MAX);
		return -1;
	}
	if (getrandom(c->key, sizeof(c->key), 0) != sizeof(c->key)) {
		snprintf(err, errlen, "getrandom: %s", strerror(errno));
		return -1;
	}
	c->src4 = pp->src4;
	c->ifindex = pp->ifindex;
	c->nslots = pp->nslots;
	c->nbuckets = slots_table_buckets(pp->nslots);
	c->sport_lo = pp->sport_lo;
	c->sport_count = pp->sport_hi - pp->sport_lo + 1;
	c->mss = DEFAULT_MSS;
	return 0;
}

static void *map_mmap(struct bpf_map *map, size_t *len)
{
	return bpfmap_mmap(bpf_map__fd(map), bpf_map__value_size(map), bpf_map__max_entries(map),
			   PROT_READ | PROT_WRITE, len);
}

static const char *load_hint(int e)
{
	if (e == EPERM || e == EACCES)
		return " (xdphc needs root, or CAP_BPF, CAP_NET_ADMIN and CAP_PERFMON)";
	return "";
}

/*
 * One live-frames BPF_PROG_RUN of n frames, batch frames per flush to the
 * device.  Runs name the loopback device as ingress (XDPHC_TX_IFINDEX): the
 * program writes a SYN for each queued probe and redirects it out of the
 * probing interface.
 */
static int run_frames(struct programs *p, int prog_fd, unsigned int n, unsigned int batch)
{
	struct xdp_md ctx = {
		.data_end = XDPHC_FRAME_LEN,
		.ingress_ifindex = XDPHC_TX_IFINDEX,
	};
	LIBBPF_OPTS(bpf_test_run_opts, opts,
		    .data_in = p->frame,
		    .data_size_in = XDPHC_FRAME_LEN,
		    .ctx_in = &ctx,
		    .ctx_size_in = sizeof(ctx),
		    .repeat = n,
		    .flags = BPF_F_TEST_XDP_LIVE_FRAMES,
		    .batch_size = batch);

	if (bpf_prog_test_run_opts(prog_fd, &opts))
		return -errno;
	return 0;
}

/* An empty live-frames run: old kernels reject the flag with EINVAL. */
static int check_live_frames(struct programs *p, char *err, size_t errlen)
{
	int e;

	p->txq->next = 0;
	p->txq->count = 0;
	e = run_frames(p, bpf_program__fd(p->tx->progs.probe_tx), 1, 1);
	if (!e)
		return 0;
	snprintf(err, errlen, "this kernel cannot run XDP programs in live-frames mode "
		 "(BPF_PROG_RUN with BPF_F_TEST_XDP_LIVE_FRAMES, Linux >= 5.18): %s",
		 strerror(-e));
	return -1;
}

static int load_tx(struct programs *p, const struct xdphc_bpf_cfg *c,
		   char *err, size_t errlen)
{
	int e;

	p->tx = probe_tx_bpf__open();
	if (!p->tx) {
		snprintf(err, errlen, "opening probe_tx: %s", strerror(errno));
		return -1;
	}
	p->tx->rodata->cfg = *c;
	bpf_map__set_max_entries(p->tx->maps.slots, c->nslots ? c->nslots : 1);
	bpf_map__set_max_entries(p->tx->maps.slot_table, c->nbuckets);
	e = probe_tx_bpf__load(p->tx);
	if (e) {
		snprintf(err, errlen, "loading probe_tx into the kernel: %s%s",
			 strerror(-e), load_hint(-e));
		return -1;
	}
	if (slots_open(&p->slots, bpf_map__fd(p->tx->maps.slots),
		       bpf_map__fd(p->tx->maps.slot_table), c->nslots, err, errlen))
		return -1;
	p->txq = map_mmap(p->tx->maps.txq, &p->txq_len);
	if (!p->txq) {
		snprintf(err, errlen, "mmap of probe maps: %s", strerror(errno));
		return -1;
	}
	p->drop_link = bpf_program__attach(p->tx->progs.count_tx_drops);
	if (!p->drop_link) {
		snprintf(err, errlen, "attaching the tx drop counter to tracepoint "
			 "xdp:xdp_devmap_xmit: %s", strerror(errno));
		return -1;
	}
	return 0;
}

static int open_rx(struct programs *p, const struct xdphc_bpf_cfg *c,
		   char *err, size_t errlen)
{
	DECLARE_LIBXDP_OPTS(xdp_program_opts, xopts);

	p->rx = probe_rx_bpf__open();
	if (!p->rx) {
		snprintf(err, errlen, "opening probe_rx: %s", strerror(errno));
		return -1;
	}
	p->rx->rodata->cfg = *c;
	if (bpf_map__reuse_fd(p->rx->maps.slots, bpf_map__fd(p->tx->maps.slots)) ||
	    bpf_map__reuse_fd(p->rx->maps.slot_table, bpf_map__fd(p->tx->maps.slot_table)) ||
	    bpf_map__reuse_fd(p->rx->maps.counters, bpf_map__fd(p->tx->maps.counters)) ||
	    bpf_map__reuse_fd(p->rx->maps.txq, bpf_map__fd(p->tx->maps.txq))) {
		snprintf(err, errlen, "sharing maps with probe_rx: %s", strerror(errno));
		return -1;
	}
	if (p->tail_call) {
		/* Nothing to attach: a load balancer's program tail-calls this one. */
		if (probe_rx_bpf__load(p->rx)) {
			snprintf(err, errlen, "loading probe_rx into the kernel: %s%s",
				 strerror(errno), load_hint(errno));
			return -1;
		}
		return 0;
	}
	xopts.obj = p->rx->obj;
	xopts.prog_name = "probe_rx";
	p->xprog = xdp_program__create(&xopts);
	if (libxdp_get_error(p->xprog)) {
		p->xprog = NULL;
		snprintf(err, errlen, "preparing probe_rx for libxdp: %s", strerror(errno));
		return -1;
	}
	return 0;
}

int programs_load(struct programs *p, const struct programs_params *pp,
		  char *err, size_t errlen)
{
	struct xdphc_bpf_cfg c;

	memset(p, 0, sizeof(*p));
	p->batch_fd = -1;
	libxdp_set_print(libxdp_log);
	libbpf_set_print(libbpf_log);
	p->ifindex = pp->ifindex;
	p->tail_call = pp->tail_call;
	p->mode = pp->skb_mode ? XDP_MODE_SKB : XDP_MODE_NATIVE;
	if (fill_cfg(&c, pp, err, errlen))
		return -1;
	if (load_tx(p, &c, err, errlen))
		return -1;
	if (check_live_frames(p, err, errlen))
		return -1;
	return open_rx(p, &c, err, errlen);
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
		p->batch_fd = xdp_program__fd(p->xprog);
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
		return -1;
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
	programs_batch_release(p);
}

void programs_close(struct programs *p)
{
	programs_detach(p);
	programs_tail_call_teardown(p);
	bpf_link__destroy(p->drop_link);
	slots_close(&p->slots);
	bpfmap_munmap(p->txq, p->txq_len);
	xdp_program__close(p->xprog);
	probe_rx_bpf__destroy(p->rx);
	probe_tx_bpf__destroy(p->tx);
	memset(p, 0, sizeof(*p));
}

/*
 * Runs of the interface's attached program that did not reach probe_rx for
 * every frame: the program does not pass loopback-ingress frames on.  Its
 * frames are reported as dropped (the scheduler resends them) and the
 * engine falls back to single-frame runs of probe_tx for that program.
 */
static uint64_t check_batch(struct programs *p, uint32_t before, unsigned int n)
{
	uint32_t got = __atomic_load_n(&p->txq->taken, __ATOMIC_RELAXED) - before;

	if (got >= n)
		return 0;
	log_warn("the XDP program attached to the interface (id %u) did not hand all of a "
		 "batch's frames to probe_rx (%lu of %u); sending one SYN per run instead",
		 p->batch_id, (unsigned long)got, n);
	p->bad_id = p->batch_id;
	p->bad_since = mono_ns();
	programs_batch_release(p);
	return n - got;
}

/*
 * Why a program attached to a device: BPF_PROG_RUN with repeat > 1 adds the
 * program to the kernel's XDP dispatcher for the run and removes it
 * afterwards, and each change waits for an RCU grace period (about 25 ms
 * here), whatever the batch size.  An attached program is in the dispatcher
 * already, so a batched run of it changes nothing.  Without one that reaches
 * probe_rx, probe_tx runs one frame at a time, which skips the dispatcher too.
 */
int programs_send(struct programs *p, unsigned int n, unsigned int batch, uint64_t *dropped)
{
	uint64_t before = __atomic_load_n(&p->tx->bss->tx_dropped, __ATOMIC_RELAXED);
	uint64_t missing = 0;
	uint32_t frames;
	int e = 0;

	p->txq->next = 0;
	if (!++p->txq->run)
		p->txq->run = 1;
	if (p->batch_fd >= 0) {
		p->txq->count = n;
		frames = __atomic_load_n(&p->txq->taken, __ATOMIC_RELAXED);
		e = run_frames(p, p->batch_fd, n, batch);
		if (!e && p->batch_owned)
			missing = check_batch(p, frames, n);
	} else {
		for (unsigned int i = 0; i < n && !e; i++) {
			p->txq->next = i;
			p->txq->count = i + 1;
			e = run_frames(p, bpf_program__fd(p->tx->progs.probe_tx), 1, 1);
		}
	}
	*dropped = __atomic_load_n(&p->tx->bss->tx_dropped, __ATOMIC_RELAXED) - before + missing;
	return e;
}

void programs_batch_release(struct programs *p)
{
	if (p->batch_owned && p->batch_fd >= 0)
		close(p->batch_fd);
	p->batch_fd = -1;
	p->batch_owned = false;
	p->batch_id = 0;
}

/*
 * Without probe_rx attached alone, batched runs go through whatever XDP
 * program the interface has (libxdp's dispatcher, or a load balancer that
 * tail-calls probe_rx): it is in the kernel's XDP dispatcher already, and
 * check_batch() verifies it reaches probe_rx.  Called every 100 ms: the
 * attached program can be replaced at any time.
 */
void programs_batch_refresh(struct programs *p)
{
	__u32 id = 0;
	int fd;

	if (!p->batch_owned && p->batch_fd >= 0)
		return;				/* probe_rx itself is attached */
	if (bpf_xdp_query_id(p->ifindex, 0, &id) || id == p->batch_id)
		return;
	programs_batch_release(p);
	/* A load balancer may link probe_rx in after it attached: try again later. */
	if (id == p->bad_id && mono_ns() - p->bad_since < BATCH_RETRY_NS)
		return;
	if (!id)
		return;
	fd = bpf_prog_get_fd_by_id(id);
	if (fd < 0)
		return;
	p->batch_fd = fd;
	p->batch_owned = true;
	p->batch_id = id;
	log_info("SYNs go out in batched runs of the interface's XDP program (id %u), which "
		 "hands them to probe_rx", id);
}

int programs_counters(struct programs *p, uint64_t out[XDPHC_CNT_MAX])
{
	int ncpu = libbpf_num_possible_cpus();
	uint64_t vals[ncpu > 0 ? ncpu : 1];
	int fd = bpf_map__fd(p->tx->maps.counters);

	if (ncpu <= 0)
		return -1;
	for (uint32_t i = 0; i < XDPHC_CNT_MAX; i++) {
		out[i] = 0;
		if (bpf_map_lookup_elem(fd, &i, vals))
			return -1;
		for (int c = 0; c < ncpu; c++)
			out[i] += vals[c];
	}
	return 0;
}

/* Does process pid hold an fd to the BPF program with this id? */
static bool pid_holds_prog(const char *pid, uint32_t id)
{
	char path[PATH_MAX], link[32], line[64];
	struct dirent *f;
	bool found = false;
	unsigned int v;
	DIR *fds;
	FILE *fi;
	ssize_t n;

	snprintf(path, sizeof(path), "/proc/%s/fd", pid);
	fds = opendir(path);
	if (!fds)
		return false;
	while (!found && (f = readdir(fds))) {
		snprintf(path, sizeof(path), "/proc/%s/fd/%s", pid, f->d_name);
		n = readlink(path, link, sizeof(link) - 1);
		if (n < 0)
			continue;
		link[n] = '\0';
		if (strcmp(link, "anon_inode:bpf-prog"))
			continue;
		snprintf(path, sizeof(path), "/proc/%s/fdinfo/%s", pid, f->d_name);
		fi = fopen(path, "r");
		if (!fi)
			continue;
		while (fgets(line, sizeof(line), fi))
			if (sscanf(line, "prog_id: %u", &v) == 1 && v == id)
				found = true;
		fclose(fi);
	}
	closedir(fds);
	return found;
}

/*
 * The pid of a live process other than us that holds the program open (an
 * engine that is still running), or 0: an attached program nobody holds was
 * left behind by an engine that died.
 */
static pid_t prog_holder(uint32_t id)
{
	DIR *proc = opendir("/proc");
	pid_t pid, found = 0, self = getpid();
	struct dirent *d;

	if (!proc)
		return 0;
	while (!found && (d = readdir(proc))) {
		pid = (pid_t)atoi(d->d_name);
		if (pid > 0 && pid != self && pid_holds_prog(d->d_name, id))
			found = pid;
	}
	closedir(proc);
	return found;
}

int programs_clear_stale(int ifindex, char *err, size_t errlen)
{
	struct xdp_multiprog *mp = xdp_multiprog__get_from_ifindex(ifindex);
	struct xdp_program *prog, *ours = NULL;
	int found = 0;
	pid_t owner;

	if (libxdp_get_error(mp))
		return 0;
	for (prog = xdp_multiprog__next_prog(NULL, mp); prog;
	     prog = xdp_multiprog__next_prog(prog, mp))
		if (!strcmp(xdp_program__name(prog), "probe_rx"))
			ours = prog;
	prog = xdp_multiprog__main_prog(mp);
	if (xdp_multiprog__is_legacy(mp) && prog && !strcmp(xdp_program__name(prog), "probe_rx"))
		ours = prog;
	found = ours != NULL;
	/* Removing a running engine's probe_rx would blind it: refuse instead. */
	if (found && (owner = prog_holder(xdp_program__id(ours)))) {
		snprintf(err, errlen, "another xdphc engine (pid %d) is probing on this "
			 "interface; stop it first", (int)owner);
		xdp_multiprog__close(mp);
		return -1;
	}
	if (found) {
		log_warn("removing a probe_rx left attached by an engine that did not stop cleanly");
		if (xdp_multiprog__is_legacy(mp))
			xdp_multiprog__detach(mp);
		else
			for (prog = xdp_multiprog__next_prog(NULL, mp); prog;
			     prog = xdp_multiprog__next_prog(prog, mp))
				if (!strcmp(xdp_program__name(prog), "probe_rx"))
					xdp_program__detach(prog, ifindex,
							    xdp_multiprog__attach_mode(mp), 0);
	}
	xdp_multiprog__close(mp);
	return found;
}

static uint32_t prog_id(int fd)
{
	struct bpf_prog_info info = {};
	__u32 len = sizeof(info);

	return bpf_obj_get_info_by_fd(fd, &info, &len) ? 0 : info.id;
}

int programs_tail_call_setup(struct programs *p, const char *pin, const char *chain,
			     uint32_t index, char *err, size_t errlen)
{
	int fd = bpf_program__fd(p->rx->progs.probe_rx);
	struct bpf_map_info info = {};
	__u32 len = sizeof(info);

	snprintf(p->rx_pin, sizeof(p->rx_pin), "%s", pin);
	if (pins_pin_replace(fd, pin, err, errlen))
		return -1;
	if (!chain[0])
		return 0;
	p->chain_fd = bpf_obj_get(chain);
	if (p->chain_fd < 0) {
		snprintf(err, errlen, "tail_call_map %s: %s", chain, strerror(errno));
		return -1;
	}
	if (bpf_obj_get_info_by_fd(p->chain_fd, &info, &len) ||
	    info.type != BPF_MAP_TYPE_PROG_ARRAY || index >= info.max_entries) {
		snprintf(err, errlen, "tail_call_map %s: not a BPF prog array with an entry %u",
			 chain, index);
		return -1;
	}
	if (bpf_map_update_elem(p->chain_fd, &index, &fd, BPF_ANY)) {
		snprintf(err, errlen, "tail_call_map %s: cannot put probe_rx at %u: %s (the "
			 "array's owner must be an XDP program)", chain, index, strerror(errno));
		return -1;
	}
	p->chain_index = index;
	return 0;
}

/* Leave the chain and the pin only if they still name this engine's probe_rx. */
void programs_tail_call_teardown(struct programs *p)
{
	int fd = p->rx ? bpf_program__fd(p->rx->progs.probe_rx) : -1;
	uint32_t ours = fd >= 0 ? prog_id(fd) : 0, id = 0;
	int pinned;

	if (p->chain_fd > 0) {
		if (!bpf_map_lookup_elem(p->chain_fd, &p->chain_index, &id) && id == ours)
			bpf_map_delete_elem(p->chain_fd, &p->chain_index);
		close(p->chain_fd);
		p->chain_fd = 0;
	}
	if (!p->rx_pin[0])
		return;
	pinned = bpf_obj_get(p->rx_pin);
	if (pinned >= 0) {
		if (prog_id(pinned) == ours)
			unlink(p->rx_pin);
		close(pinned);
	}
	p->rx_pin[0] = '\0';
}
