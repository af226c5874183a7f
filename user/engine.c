// SPDX-License-Identifier: MIT
#include <errno.h>
#include <malloc.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <net/if.h>
#include <netinet/in.h>
#include <sys/stat.h>
#include <bpf/bpf.h>

#include "addr.h"
#include "attach.h"
#include "breaker.h"
#include "chain.h"
#include "clock.h"
#include "command.h"
#include "control.h"
#include "config.h"
#include "conncheck.h"
#include "engine.h"
#include "eventlog.h"
#include "exporter.h"
#include "log.h"
#include "metrics.h"
#include "names.h"
#include "netif.h"
#include "nexthop.h"
#include "notify.h"
#include "owner.h"
#include "pindir.h"
#include "pins.h"
#include "poolview.h"
#include "ports.h"
#include "reload.h"
#include "restore.h"
#include "roster.h"
#include "runtime.h"
#include "scheduler.h"
#include "slots.h"
#include "state.h"
#include "udpcheck.h"
#include "icmplimit.h"

#define PUBLISH_NS 100000000ULL		/* stats and heartbeat every 100 ms */
#define PROGRESS_NS 5000000000ULL	/* a summary line every 5 s */
#define CONTROL_PER_TICK 32		/* commands a tick at most: the schedule comes first */

struct engine {
	struct config cfg;
	int ifindex;
	uint32_t src4;			/* 0: no IPv4 backend, and none on the interface */
	uint32_t src6[4];		/* all 0 when no source_ipv6 and no global address */
	struct cfg_netif nif;		/* the sources and MTU the config is checked against */
	uint16_t sport_lo, sport_hi;
	bool fib4, fib6;		/* the interface forwards: bpf_fib_lookup() answers */
	uint8_t mac[6];
	struct programs prog;
	struct nexthops nh;		/* next hops of the families it does not forward */
	struct chain chain;		/* tail-call mode: probe_rx pinned, linked in */
	struct pins pins;
	struct ports ports;		/* what start reserved in the netns */
	struct scheduler sched;
	struct conncheck cc;		/* HTTP(S) and TCP send/expect checks */
	struct xdphc_backend_status *st;	/* the pinned status map, mmap-ed: output only */
	struct health *health;			/* the truth behind it, per backend */
	size_t n;				/* backend ids, the pools' spare ones too */
	struct xdphc_pool_summary *pools;	/* the pinned pools map, mmap-ed */
	struct poolview view;
	struct roster roster;			/* which backend each id holds; runtime changes */
	struct runtime rt;			/* runtime changes over the file: the state file */
	struct reload rl;			/* SIGHUP */
	struct control ctl;			/* the control socket */
	struct command_ctx cmd;
	struct eventlog events;
	struct metrics_pool *mp;	/* per pool, for /metrics */
	struct exporter exp;
	struct notify notify;		/* systemd: READY=1, WATCHDOG=1 */
	struct breaker brk;		/* holds states while the prober suspects itself */
	uint64_t transitions;
	uint64_t start_real;
	uint64_t next_publish, next_progress;
	uint64_t log_window;
	uint64_t now_real;		/* realtime at the start of this tick */
	uint64_t now_mono;		/* monotonic, the same moment */
	uint64_t tick_lag_max;
	uint64_t last_progress_ns, last_probes, last_runs;
	uint32_t log_count, log_suppressed;
	char made_pin_top[PATH_MAX];	/* topmost pin_path dir this start created */
	int pin_lock;			/* holds the pin directory's lock; -1 until taken */
};

static volatile sig_atomic_t stop_requested;
static volatile sig_atomic_t reload_requested;

static void on_signal(int sig)
{
	if (sig == SIGHUP)
		reload_requested = 1;
	else
		stop_requested = 1;
}

#define LOG_TRANSITIONS_PER_S 50

/*
 * At a million backends a start or an outage changes thousands of states a
 * second: the log keeps the first few each second and sums up the rest.
 */
static bool transition_log_allowed(struct engine *e, uint64_t now)
{
	if (now - e->log_window >= 1000000000ULL) {
		if (e->log_suppressed)
			log_info("%u more state changes in the last second not logged one by one "
				 "(xdphc status lists them)", e->log_suppressed);
		e->log_window = now;
		e->log_count = 0;
		e->log_suppressed = 0;
	}
	if (e->log_count < LOG_TRANSITIONS_PER_S) {
		e->log_count++;
		return true;
	}
	e->log_suppressed++;
	return false;
}

static void log_transition(struct engine *e, uint32_t p, uint32_t i, struct health h,
			   const struct probe_outcome *o, uint8_t from)
{
	char a[64], extra[64] = "";

	if (!transition_log_allowed(e, mono_ns()))
		return;

	if (o->reason == XDPHC_REASON_OK)
		snprintf(extra, sizeof(extra), ", rtt %uus", o->rtt_us);
	else if (o->reason == XDPHC_REASON_HTTP_STATUS)
		snprintf(extra, sizeof(extra), ", status %u%s", o->detail,
			 o->fail_fast ? " in fail_fast_codes" : "");
	else if (o->reason == XDPHC_REASON_TLS_ERROR && o->detail)
		snprintf(extra, sizeof(extra), ", verify result %u", o->detail);
	else if (o->reason == XDPHC_REASON_UNREACHABLE)
		snprintf(extra, sizeof(extra), ", icmp type %u code %u", o->icmp_type,
			 o->icmp_code);
	log_info("pool %s backend %s: %s -> %s (%s%s, %u in a row)", e->cfg.pools[p].name,
		 addr_format(&e->st[i].key, a, sizeof(a)), state_name(from),
		 state_name(health_state(h)), reason_name(o->reason), extra, health_run(h));
}

/*
 * Outcomes go straight into the mmap-ed status map: no syscall per probe.
 * While the prober is impaired, states are held: what it still hears may
 * be a biased sample (the probes that did leave), and what it does not is
 * its own failure.  The circuit breaker holds timeouts likewise while a
 * mass timeout may be the prober's own.
 */
static void apply_outcome(struct engine *e, uint32_t i, const struct probe_outcome *o)
{
	uint32_t p = sched_pool_of(&e->sched, i);
	struct health h = e->health[i];
	uint8_t from = health_state(h), to, bucket = poolview_bucket(h);
	bool changed;

	/* A probe of a backend removed or put in maintenance since it left. */
	if (!roster_used(&e->roster, i) || from == XDPHC_STATE_MAINT)
		return;
	metrics_outcome(&e->mp[p], o);
	if (e->sched.imp.impaired || breaker_hold(&e->brk, p, i, h, o, e->now_mono))
		return;
	/* In its grace period a failure is shown but not counted. */
	if (health_has(h, HEALTH_F_GRACE) && !o->ok) {
		health_publish(&e->st[i], h, o, false, e->now_real);
		return;
	}
	changed = health_update(&h, &e->cfg.pools[p].hc, o);
	breaker_count(&e->brk, p, e->health[i], h);
	e->health[i] = h;
	sched_pace(&e->sched, i, sched_pace_of(h));
	health_publish(&e->st[i], h, o, changed, e->now_real);
	if (!changed)
		return;
	to = health_state(h);
	e->mp[p].transitions[from][to][o->reason]++;
	poolview_change(&e->view, p, i, bucket, poolview_bucket(h));
	e->transitions++;
	eventlog_write(&e->events, e->now_real, e->cfg.pools[p].name, &e->st[i], from);
	log_transition(e, p, i, h, o, from);
}

/* A group's probes follow the pace of the member that needs them soonest. */
static void pace_group(struct engine *e, const struct shared_group *g)
{
	enum sched_pace p = sched_pace_of(e->health[g->ids[0]]);

	for (uint32_t k = 1; k < g->n; k++)
		p = sched_pace_sooner(&e->sched, g->ids[0], p, sched_pace_of(e->health[g->ids[k]]));
	sched_pace(&e->sched, g->ids[0], p);
}

/* A backend in several pools is probed once: the outcome is each pool's. */
static void on_outcome(void *ctx, uint32_t i, const struct probe_outcome *o)
{
	struct engine *e = ctx;
	const struct shared_group *g;

	if (!shared_member(&e->roster.shared, i) ||
	    !(g = shared_group_of(&e->roster.shared, i)) || g->ids[0] != i) {
		apply_outcome(e, i, o);
		return;
	}
	for (uint32_t k = 0; k < g->n; k++)
		apply_outcome(e, g->ids[k], o);
	pace_group(e, g);
}

/* Counts change in place with each transition; this adds the achieved interval. */
static void publish_pools(struct engine *e)
{
	for (uint32_t i = 0; e->sched.pools && i < e->cfg.n_pools; i++)
		if (e->pools[i].in_use)		/* not a pool a reload removed */
			__atomic_store_n(&e->pools[i].last_cycle_us,
					 (uint32_t)(e->sched.pools[i].last_cycle_ns / 1000),
					 __ATOMIC_RELAXED);
}

/* st: the stats just published; c: probe_rx's counters they were made from. */
static void publish_metrics(struct engine *e, const struct xdphc_engine_stats *st,
			    const uint64_t c[XDPHC_CNT_MAX])
{
	struct metrics_snapshot snap = {
		.start_ns = e->start_real,
		.heartbeat_ns = real_ns(),
		.tick_lag_max_ns = e->tick_lag_max,
		.impaired = e->sched.imp.impaired,
		.circuit_open = breaker_is_open(&e->brk),
		.circuit_opened = e->brk.opened,
		.circuit_checks = e->brk.checks,
		.lag_count = e->sched.lag.total,
		.lag_sum_us = e->sched.lag.sum_us,
		.reloads = e->rl.reloads,
		.reload_failures = e->rl.failures,
		.reload_ok_ns = e->rl.ok_real_ns,
		.reload_ok = e->rl.last_ok,
		.stats = *st,
		.cc = e->cc.st,
		.udp_replies = c[XDPHC_CNT_RX_UDP],
		.udp_mismatch = c[XDPHC_CNT_RX_MISMATCH],
		.udp_silent = e->sched.st.udp_silent,
		.n_pools = e->cfg.n_pools,
		.pools = e->pools,
		.mp = e->mp,
	};

	for (size_t p = 0; e->sched.pools && p < e->cfg.n_pools; p++) {
		e->mp[p].probes = e->sched.pools[p].probes;
		e->mp[p].retransmitted = e->sched.pools[p].retransmitted;
	}
	exporter_publish(&e->exp, &snap);
}

/* The prober's own figures for the circuit breaker. */
static void breaker_tick_engine(struct engine *e, const struct xdphc_engine_stats *s)
{
	struct breaker_prober pr = {
		.impaired = e->sched.imp.impaired,
		.lag_p99_us = s->sched_lag_p99_us,
	};

	sched_impair_window(&e->sched, &pr.done, &pr.lost);
	breaker_tick(&e->brk, mono_ns(), &pr);
}

/* The circuit breaker opened, or closed after being open: one event log line. */
static void on_breaker(void *ctx, const struct breaker *b, enum breaker_state from,
		       uint64_t now)
{
	struct engine *e = ctx;
	struct circuit_event ev;

	/* The tick's time, as its state changes have: the log stays in order. */
	(void)now;
	if (breaker_event(b, from, &ev))
		eventlog_circuit(&e->events, e->now_real, &ev);
}

static void publish_stats(struct engine *e, bool running)
{
	uint64_t c[XDPHC_CNT_MAX] = { 0 };
	struct xdphc_engine_stats s = { 0 };
	struct xdphc_meta m = { 0 };
	const struct sched_stats *ss = &e->sched.st;
	uint32_t zero = 0;

	programs_counters(&e->prog, c);
	s.probes_sent = c[XDPHC_CNT_TX];
	s.replies_synack = c[XDPHC_CNT_RX_SYNACK];
	s.replies_rst = c[XDPHC_CNT_RX_RST];
	s.replies_icmp = c[XDPHC_CNT_RX_ICMP];
	s.timeouts = ss->timeouts;
	s.ignored_forged = c[XDPHC_CNT_RX_FORGED];
	s.ignored_stale = c[XDPHC_CNT_RX_STALE];
	s.rst_sent = c[XDPHC_CNT_RST_SENT];
	s.tx_failed = c[XDPHC_CNT_TX_NO_NEIGH] + c[XDPHC_CNT_TX_NO_ROUTE] +
		      c[XDPHC_CNT_TX_ERROR] + ss->send_errors;
	s.neigh_requests = ss->neigh_requests + e->nh.st.asks;
	s.transitions = e->transitions;
	s.tx_dropped = ss->tx_dropped;
	s.probes_resent = ss->resent;
	s.probes_lost = ss->lost;
	s.tx_runs = ss->runs;
	s.sched_behind = ss->behind;
	s.sched_behind_max = ss->behind_max;
	s.tick_lag_max_us = e->tick_lag_max / 1000;
	if (e->sched.pools) {
		uint64_t p50, p99, max;

		sched_lag_quantiles(&e->sched, &p50, &p99, &max);
		s.sched_lag_p50_us = p50;
		s.sched_lag_p99_us = p99;
		s.sched_lag_max_us = max;
	}
	bpf_map_update_elem(e->pins.fd[PIN_STATS], &zero, &s, BPF_ANY);

	if (running)
		breaker_tick_engine(e, &s);
	publish_metrics(e, &s, c);

	m.abi_version = XDPHC_ABI_VERSION;
	m.pid = running ? getpid() : 0;
	m.start_ns = e->start_real;
	m.last_tick_ns = real_ns();
	m.tick_us = e->sched.tick_ns / 1000;
	m.running = running;
	m.flags = (e->sched.imp.impaired ? XDPHC_META_F_IMPAIRED : 0) |
		  (breaker_is_open(&e->brk) ? XDPHC_META_F_CIRCUIT_OPEN : 0);
	bpf_map_update_elem(e->pins.fd[PIN_META], &zero, &m, BPF_ANY);
}

static void log_progress(struct engine *e, uint64_t now)
{
	const struct sched_stats *ss = &e->sched.st;
	double secs = (double)(now - e->last_progress_ns) / 1e9;

	if (e->last_progress_ns && secs > 0)
		log_info("probes %.0f/s in %.0f runs/s (batch %u, budget %u a tick); device "
			 "drops %lu, resent %lu, lost %lu (%lu in engine stalls); behind schedule "
			 "%lu (max %lu)",
			 (double)(ss->probes_queued - e->last_probes) / secs,
			 (double)(ss->runs - e->last_runs) / secs, e->sched.batch,
			 e->sched.budget, (unsigned long)ss->tx_dropped,
			 (unsigned long)ss->resent, (unsigned long)ss->lost,
			 (unsigned long)ss->stalled,
			 (unsigned long)ss->behind, (unsigned long)ss->behind_max);
	e->last_progress_ns = now;
	e->last_probes = ss->probes_queued;
	e->last_runs = ss->runs;
	for (size_t i = 0; i < e->cfg.n_pools; i++) {
		const struct xdphc_pool_summary *ps = &e->pools[i];

		if (!ps->in_use)
			continue;
		log_info("pool %s: %u up, %u down, %u unknown, %u draining, %u in maintenance "
			 "of %u%s", ps->name, ps->up, ps->down, ps->unknown, ps->draining, ps->maint,
			 ps->total,
			 ps->flags & XDPHC_POOL_F_FAIL_OPEN ? " (fail-open: all down)" : "");
	}
}

/*
 * The source address of each family, configured or the interface's; a
 * family without one is refused only when a backend needs it.
 */
static int resolve_sources(struct engine *e)
{
	struct config *c = &e->cfg;
	char err[CONFIG_ERR_LEN];
	int mtu = netif_mtu(c->interface);

	if (config_has(c, CFG_SOURCE_IPV4))
		e->src4 = c->source_ipv4;
	else if (netif_primary_ipv4(c->interface, &e->src4))
		e->src4 = 0;
	if (config_has(c, CFG_SOURCE_IPV6))
		memcpy(e->src6, c->source_ipv6, sizeof(e->src6));
	else if (netif_primary_ipv6(c->interface, e->src6))
		memset(e->src6, 0, sizeof(e->src6));
	e->nif = (struct cfg_netif){ .name = c->interface, .src4 = e->src4,
				     .mtu = mtu > 0 ? (uint32_t)mtu : 0 };
	memcpy(e->nif.src6, e->src6, sizeof(e->src6));
	if (config_check_netif(c, &e->nif, err, sizeof(err))) {
		log_err("%s", err);
		return -1;
	}
	return 0;
}

static int resolve_interface(struct engine *e)
{
	struct config *c = &e->cfg;
	char err[256], at[CONFIG_WHERE_LEN];
	const char *w = config_where(c, CFG_INTERFACE, at, sizeof(at));

	e->ifindex = if_nametoindex(c->interface);
	if (!e->ifindex) {
		log_err("%s: interface '%s': no such network interface", w, c->interface);
		return -1;
	}
	if (netif_is_loopback(c->interface, e->ifindex) == 1) {
		log_err("%s: interface '%s' is a loopback device: probes need the interface "
			"the backends are reached through (on loopback, probe_rx would take "
			"every packet for a request to send)", w, c->interface);
		return -1;
	}
	if (config_has(c, CFG_SOURCE_IPV4) &&
	    netif_is_broadcast(c->interface, c->source_ipv4) == 1) {
		log_err("%s: source_ipv4 is the broadcast address of interface '%s'",
			config_where(c, CFG_SOURCE_IPV4, at, sizeof(at)), c->interface);
		return -1;
	}
	if (resolve_sources(e))
		return -1;
	/*
	 * bpf_fib_lookup() answers only for a family the interface forwards;
	 * for the others the engine resolves next hops itself (nexthop.h),
	 * rather than ask for forwarding a health checker has no business with.
	 */
	e->fib4 = netif_ipv4_forwarding(c->interface) == 1;
	e->fib6 = netif_ipv6_forwarding(c->interface) == 1;
	if (!(e->fib4 && e->fib6) && netif_mac(c->interface, e->mac)) {
		log_err("%s: interface '%s' has no Ethernet address to send probes from", w,
			c->interface);
		return -1;
	}
	if (config_has(c, CFG_SOURCE_PORTS)) {
		e->sport_lo = c->source_ports.lo;
		e->sport_hi = c->source_ports.hi;
	} else if (netif_default_source_ports(&e->sport_lo, &e->sport_hi, err, sizeof(err))) {
		log_err("%s: %s", c->path, err);
		return -1;
	}
	/* One gate for both: the BPF side takes the range as lo + count. */
	if (config_check_source_ports(e->sport_lo, e->sport_hi, err, sizeof(err))) {
		if (config_has(c, CFG_SOURCE_PORTS))
			log_err("%s: source_ports %u-%u: %s",
				config_where(c, CFG_SOURCE_PORTS, at, sizeof(at)), e->sport_lo,
				e->sport_hi, err);
		else
			log_err("%s: source ports %u-%u derived from net.ipv4.ip_local_port_range: "
				"%s; set source_ports", c->path, e->sport_lo, e->sport_hi, err);
		return -1;
	}
	return 0;
}

static int alloc_pools(struct engine *e)
{
	e->n = config_map_ids(&e->cfg);
	e->mp = calloc(e->cfg.n_pools, sizeof(*e->mp));
	return e->mp ? 0 : -1;
}

/* Pool records into the mmap-ed pools map; ids past the configured pools are cleared. */
static void write_pools(struct engine *e)
{
	/*
	 * No reset first: a reused map has readers, and the counts and flags
	 * stay as they were until poolview_init() writes the new ones.
	 */
	e->pools = e->pins.pools;
	for (uint32_t p = e->cfg.n_pools; p < XDPHC_MAX_POOLS; p++)
		if (e->pools[p].in_use)
			memset(&e->pools[p], 0, sizeof(e->pools[p]));
	for (uint32_t p = 0; p < e->cfg.n_pools; p++) {
		e->pools[p].total = e->cfg.pools[p].n_backends;
		poolview_describe(&e->pools[p], &e->cfg.pools[p]);
	}
}

/* The probe slots of the backends in buf (config order), and the table replies find them by. */
static int init_slots(struct engine *e, const struct xdphc_backend_status *buf)
{
	struct slots *sl = &e->prog.slots;
	char err[256];

	for (uint32_t i = 0; i < e->n; i++) {
		const struct xdphc_backend_key *k = &buf[i].key;
		const struct pool_cfg *pc = &e->cfg.pools[buf[i].pool_id];

		if (!k->family || !roster_probes(&e->roster, i))
			continue;	/* a free id, or one whose group another id probes for */
		slots_claim(sl, i, k->family, k->protocol, k->addr,
			    pc->hc.port ? htons(pc->hc.port) : k->port, (uint8_t)buf[i].pool_id);
	}
	if (!slots_index(sl, e->sport_lo, e->sport_hi - e->sport_lo + 1, err, sizeof(err)))
		return 0;
	log_err("%s: %s", e->cfg.path, err);
	return -1;
}

/* The pool view from the controller's own health records. */
static int init_poolview(struct engine *e)
{
	uint32_t *first = calloc(e->cfg.n_pools + 1, sizeof(*first));
	uint32_t *cap = calloc(e->cfg.n_pools + 1, sizeof(*cap));
	int ret = -1;

	if (first && cap) {
		for (uint32_t p = 0; p < e->cfg.n_pools; p++) {
			first[p] = e->cfg.pools[p].first_id;
			cap[p] = e->cfg.pools[p].max_backends;
		}
		ret = poolview_init(&e->view, e->pools, e->pins.pool_up, e->cfg.n_pools, first,
				    cap, e->health, e->roster.used, e->n);
	}
	free(first);
	free(cap);
	if (ret)
		log_err("out of memory for the pool view of %zu backends", e->n);
	return ret;
}

/*
 * Status entries, probe slots, the index and the pool view of the
 * configured backends, keeping what a previous run published of them.
 */
static int init_status(struct engine *e)
{
	struct restore r = { 0 };
	char err[256];
	int ret = -1;

	e->health = calloc(e->n ? e->n : 1, sizeof(*e->health));
	if (!e->health) {
		log_err("out of memory for %zu backends", e->n);
		return -1;
	}
	if (restore_build(&r, &e->cfg, e->n, &e->pins, err, sizeof(err))) {
		log_err("%s", err);
		goto out;
	}
	for (uint32_t i = 0; i < e->n; i++)
		e->health[i] = health_make(r.entries[i].state, false, 0);
	runtime_resolve(&e->rt, &e->cfg, e->health);
	if (roster_init(&e->roster, &e->cfg, e->n, r.entries, &r.idx)) {
		log_err("out of memory for the roster of %zu backend ids", e->n);
		goto out;
	}
	e->st = e->pins.status;
	restore_write_status(&r, &e->pins);
	if (init_slots(e, r.entries))
		goto out;
	if (e->pins.with_index && restore_write_index(&r, &e->pins, err, sizeof(err))) {
		log_err("%s", err);
		goto out;
	}
	write_pools(e);
	if (init_poolview(e))
		goto out;
	if (r.kept)
		log_info("kept the last known state of %zu backends from %s/status", r.kept,
			 e->cfg.pin_path);
	ret = 0;
out:
	restore_free(&r);
	return ret;
}

/* The topmost directory of path that does not exist yet ("" if path exists). */
static void first_missing_dir(const char *path, char *out, size_t len)
{
	char buf[PATH_MAX];
	struct stat st;
	char *slash;

	out[0] = '\0';
	snprintf(buf, sizeof(buf), "%s", path);
	while (buf[0] && stat(buf, &st)) {
		snprintf(out, len, "%s", buf);
		slash = strrchr(buf, '/');
		if (!slash || slash == buf)
			break;
		*slash = '\0';
	}
}

/* After a failed start: remove the (empty) directories that start created. */
static void remove_made_dirs(struct engine *e)
{
	size_t top = strlen(e->made_pin_top);
	char buf[PATH_MAX];
	char *slash;

	if (!top)
		return;
	snprintf(buf, sizeof(buf), "%s", e->cfg.pin_path);
	while (strlen(buf) >= top && !rmdir(buf)) {
		slash = strrchr(buf, '/');
		if (!slash || slash == buf)
			break;
		*slash = '\0';
	}
}

static int pin_path_error(const struct config *c, const char *err)
{
	char at[CONFIG_WHERE_LEN];

	log_err("%s: %s", config_where(c, CFG_PIN_PATH, at, sizeof(at)), err);
	return -1;
}

/* Next hops of the families the interface does not forward, before the first probe. */
static int start_nexthops(struct engine *e)
{
	struct nexthop_params np = {
		.ifindex = e->ifindex,
		.ifname = e->cfg.interface,
		.fib4 = e->fib4,
		.fib6 = e->fib6,
		.src4 = e->src4,
		.smac = e->mac,
		.slots = &e->prog.slots,
	};
	char err[256];

	memcpy(np.src6, e->src6, sizeof(np.src6));
	programs_hop_maps(&e->prog, &np.slot_hop_fd, &np.n_slot_hop, &np.hops_fd, &np.n_hops);
	if (!nexthop_open(&e->nh, &np, err, sizeof(err)) &&
	    !nexthop_start(&e->nh, err, sizeof(err)))
		return 0;
	log_err("%s", err);
	return -1;
}

static int setup(struct engine *e)
{
	struct programs_params pp = { 0 };
	struct config *c = &e->cfg;
	char err[CONFIG_ERR_LEN], at[CONFIG_WHERE_LEN];

	if (resolve_interface(e))
		return -1;
	/* One engine per pin directory: locked before anything is opened or attached. */
	first_missing_dir(c->pin_path, e->made_pin_top, sizeof(e->made_pin_top));
	if (bpffs_prepare(c->pin_path, err, sizeof(err)))
		return pin_path_error(c, err);
	e->pin_lock = pindir_lock(c->pin_path, err, sizeof(err));
	if (e->pin_lock < 0) {
		/* Both may have created them: the engine holding the lock keeps them. */
		e->made_pin_top[0] = '\0';
		return pin_path_error(c, err);
	}
	/*
	 * IPv6 sockets on the source ports matter once the engine probes IPv6;
	 * an interface's IPv6 address alone must not hold back an IPv4 config.
	 */
	if (ports_claim(&e->ports, c, e->src4, config_has(c, CFG_SOURCE_IPV6) ||
			config_has_family(c, AF_INET6) ? e->src6 : NULL, e->sport_lo, e->sport_hi))
		return -1;
	if (control_open(&e->ctl, c->control_socket, err, sizeof(err))) {
		log_err("%s: %s", config_has(c, CFG_CONTROL_SOCKET) ?
			config_where(c, CFG_CONTROL_SOCKET, at, sizeof(at)) : c->path, err);
		return -1;
	}
	if (eventlog_open(&e->events, c->event_log, err, sizeof(err))) {
		log_err("%s: %s", config_where(c, CFG_EVENT_LOG, at, sizeof(at)), err);
		return -1;
	}
	if (config_has(c, CFG_METRICS_LISTEN) &&
	    exporter_start(&e->exp, &c->metrics, c->n_pools, err, sizeof(err))) {
		char a[64];

		log_err("%s: metrics_listen %s: %s",
			config_where(c, CFG_METRICS_LISTEN, at, sizeof(at)),
			addr_format(&c->metrics, a, sizeof(a)), err);
		return -1;
	}
	if (alloc_pools(e)) {
		log_err("out of memory for %zu pools", e->cfg.n_pools);
		return -1;
	}
	if (owner_clear_stale(e->ifindex, err, sizeof(err)) < 0) {
		log_err("%s: interface '%s': %s", config_where(c, CFG_INTERFACE, at, sizeof(at)),
			c->interface, err);
		return -1;
	}
	pp.ifindex = e->ifindex;
	pp.src4 = e->src4;
	memcpy(pp.src6, e->src6, sizeof(pp.src6));
	pp.sport_lo = e->sport_lo;
	pp.sport_hi = e->sport_hi;
	pp.nslots = e->n;
	memcpy(pp.smac, e->mac, sizeof(pp.smac));
	pp.fib4 = e->fib4;
	pp.fib6 = e->fib6;
	pp.skb_mode = c->xdp_mode == CFG_XDP_SKB;
	pp.tail_call = c->tail_call;
	if (programs_load(&e->prog, &pp, err, sizeof(err)) ||
	    pins_open(&e->pins, e->cfg.pin_path, e->n, e->cfg.status_index, err, sizeof(err))) {
		log_err("%s", err);
		return -1;
	}
	if (udpcheck_publish(programs_udp_fd(&e->prog), &e->cfg)) {
		log_err("writing the UDP checks to the udp_checks map: %s", strerror(errno));
		return -1;
	}
	if (c->tail_call) {
		char pin[PATH_MAX + 16];

		snprintf(pin, sizeof(pin), "%s/probe_rx", c->pin_path);
		if (chain_setup(&e->chain, programs_rx_fd(&e->prog), pin, c->tail_call_map,
				c->tail_call_index, err, sizeof(err))) {
			log_err("%s: %s", config_where(c, config_has(c, CFG_TAIL_CALL_MAP) ?
						       CFG_TAIL_CALL_MAP : CFG_XDP_ATTACH,
						       at, sizeof(at)), err);
			return -1;
		}
		log_info("probe_rx is not attached (xdp_attach: tail_call): pinned at %s%s%s",
			 pin,
			 c->tail_call_map[0] ? " and put into " : "", c->tail_call_map);
	} else if (programs_attach(&e->prog, err, sizeof(err))) {
		log_err("%s: interface '%s': %s", config_where(c, CFG_INTERFACE, at, sizeof(at)),
			c->interface, err);
		return -1;
	}
	if (init_status(e) || start_nexthops(e))
		return -1;
	icmp_limit_warn(&e->cfg, &e->prog.slots, e->n);
	/* Everything per backend now lives in the maps: give the lists back. */
	config_release_backends(&e->cfg);
	malloc_trim(0);
	publish_pools(e);
	/*
	 * Not running yet: new maps are pinned with their ABI version and start
	 * time, and meta says running only once the whole start has succeeded
	 * (engine_run), so no failure can leave it naming a dead pid.
	 */
	publish_stats(e, false);
	if (pins_publish(&e->pins, err, sizeof(err)))
		return pin_path_error(c, err);
	return 0;
}

static void teardown(struct engine *e, bool ok)
{
	programs_detach(&e->prog);
	reload_free(&e->rl);
	if (ok) {
		publish_pools(e);
		publish_stats(e, false);
		runtime_flush(&e->rt, real_ns());
	}
	sched_free(&e->sched);
	conncheck_free(&e->cc);
	breaker_free(&e->brk);
	chain_teardown(&e->chain);
	nexthop_close(&e->nh);
	programs_close(&e->prog);
	ports_release(&e->ports);
	pins_close(&e->pins);
	/* A failed first start leaves no empty pin directory behind. */
	if (!ok)
		remove_made_dirs(e);
	exporter_stop(&e->exp);
	control_close(&e->ctl);
	poolview_free(&e->view);
	roster_free(&e->roster);
	runtime_free(&e->rt);
	free(e->health);
	free(e->mp);
	eventlog_close(&e->events);
	config_free(&e->cfg);
	if (e->pin_lock >= 0)
		close(e->pin_lock);
}

/* Every backend the roster holds is counted; one in maintenance is not probed. */
static int init_breaker(struct engine *e)
{
	if (breaker_init(&e->brk, &e->cfg, on_breaker, e))
		return -1;
	for (uint32_t i = 0; i < e->n; i++)
		if (roster_used(&e->roster, i) && health_state(e->health[i]) != XDPHC_STATE_MAINT)
			breaker_add(&e->brk, sched_pool_of(&e->sched, i), e->health[i]);
	return 0;
}

/* The roster works on the engine's pieces once they all exist. */
static void attach_roster(struct engine *e)
{
	struct roster_env env = {
		.cfg = &e->cfg,
		.st = e->st,
		.health = e->health,
		.slots = &e->prog.slots,
		.sched = &e->sched,
		.view = &e->view,
		.events = &e->events,
		.breaker = &e->brk,
		.index_fd = e->pins.with_index ? e->pins.fd[PIN_INDEX] : -1,
		.nh = &e->nh,
		.sport_lo = e->sport_lo,
		.sport_count = (uint16_t)(e->sport_hi - e->sport_lo + 1),
		.on_remove = runtime_on_remove,
		.ctx = &e->rt,
	};
	struct reload_env renv = {
		.cfg = &e->cfg, .roster = &e->roster, .sched = &e->sched, .slots = &e->prog.slots,
		.view = &e->view, .pools = e->pools, .mp = &e->mp, .health = e->health,
		.events = &e->events, .rt = &e->rt, .n = e->n, .nif = &e->nif,
		.udp_fd = programs_udp_fd(&e->prog),
	};

	roster_attach(&e->roster, &env, mono_ns());
	runtime_attach(&e->rt, &e->roster, real_ns());
	reload_init(&e->rl, &renv, e->start_real);
	e->cmd = (struct command_ctx){
		.cfg = &e->cfg, .roster = &e->roster, .view = &e->view, .pools = e->pools,
		.rt = &e->rt, .rl = &e->rl, .ctl = &e->ctl, .nif = &e->nif,
	};
}

static void install_signals(void)
{
	struct sigaction sa = { .sa_handler = on_signal };

	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGHUP, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);
}

static void sleep_until(uint64_t t)
{
	struct timespec ts = { .tv_sec = t / 1000000000ULL, .tv_nsec = t % 1000000000ULL };

	while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL) == EINTR &&
	       !stop_requested)
		;
}

static void sighup_done(void *ctx, bool ok, const char *msg)
{
	(void)ctx;
	(void)ok;
	(void)msg;
	notify_reloaded();
}

/* SIGHUP: reopen the event log (logrotate), and reload the config file. */
static void on_sighup(struct engine *e, uint64_t now)
{
	char err[512];

	if (eventlog_reopen(&e->events, err, sizeof(err)))
		log_err("SIGHUP: %s; state changes are no longer written to it", err);
	else if (e->events.path[0])
		log_info("SIGHUP: reopened event_log %s", e->events.path);
	notify_reloading();
	reload_start(&e->rl, false, sighup_done, e, now);
}

/*
 * A reload reads the roster from a thread: nothing adds or removes a
 * backend meanwhile (timers wait a moment, commands queue up); while it
 * applies its changes, commands still wait, so that each sees all of it.
 */
static void roster_and_reload(struct engine *e, uint64_t now)
{
	if (!reload_planning(&e->rl))
		roster_tick(&e->roster, now, e->now_real);
	if (reload_busy(&e->rl))
		reload_step(&e->rl, now);
	control_poll(&e->ctl, command_run, &e->cmd, reload_busy(&e->rl) ? 0 : CONTROL_PER_TICK);
	runtime_tick(&e->rt, now, e->now_real);
}

static void loop(struct engine *e)
{
	uint64_t next = mono_ns();

	while (!stop_requested) {
		uint64_t now = mono_ns();

		if (now - next > e->tick_lag_max)
			e->tick_lag_max = now - next;
		e->now_real = real_ns();
		e->now_mono = now;
		sched_tick(&e->sched, now);
		roster_and_reload(e, now);
		nexthop_tick(&e->nh, now);
		notify_tick(&e->notify, now);
		eventlog_flush(&e->events);
		if (now >= e->next_publish) {
			send_refresh(&e->prog.send);
			publish_pools(e);
			publish_stats(e, true);
			e->next_publish = now + PUBLISH_NS;
		}
		if (now >= e->next_progress) {
			if (e->next_progress)
				log_progress(e, now);
			e->next_progress = now + PROGRESS_NS;
		}
		/* One reload at a time: a SIGHUP during one waits for its end. */
		if (reload_requested && !reload_busy(&e->rl)) {
			reload_requested = 0;
			on_sighup(e, now);
		}
		next += e->sched.tick_ns;
		if (next < now)
			next = now;
		if (e->cc.any)
			conncheck_wait(&e->cc, next);
		else
			sleep_until(next);
	}
}

/* "198.19.255.1 and 2001:2:0:ffff::1": the sources the probes leave from. */
static const char *format_sources(const struct engine *e, char *buf, size_t len)
{
	char a4[INET_ADDRSTRLEN] = "", a6[INET6_ADDRSTRLEN] = "";

	if (e->src4)
		inet_ntop(AF_INET, &e->src4, a4, sizeof(a4));
	if (e->src6[0] | e->src6[1] | e->src6[2] | e->src6[3])
		inet_ntop(AF_INET6, e->src6, a6, sizeof(a6));
	snprintf(buf, len, "%s%s%s", a4, a4[0] && a6[0] ? " and " : "", a6);
	return buf;
}

int engine_run(const char *config_path)
{
	static struct engine e;
	char err[CONFIG_ERR_LEN], src[INET_ADDRSTRLEN + INET6_ADDRSTRLEN + 8];
	int ok;

	uint64_t t0 = mono_ns();

	memset(&e, 0, sizeof(e));
	e.pin_lock = -1;
	e.cc.ep = -1;
	e.ctl.fd = -1;
	if (config_load(config_path, &e.cfg, err, sizeof(err))) {
		log_err("%s", err);
		return 1;
	}
	if (runtime_load(&e.rt, &e.cfg)) {
		config_free(&e.cfg);
		return 1;
	}
	e.start_real = real_ns();
	install_signals();
	ok = !setup(&e);
	if (ok && conncheck_init(&e.cc, &e.cfg, &e.prog.slots, err, sizeof(err))) {
		log_err("%s", err);
		ok = 0;
	}
	if (ok && (sched_init(&e.sched, &e.cfg, &e.prog.slots, &e.prog.send, mono_ns(),
			      on_outcome, &e) || init_breaker(&e))) {
		log_err("out of memory for the scheduler");
		ok = 0;
	}
	sched_set_conncheck(&e.sched, &e.cc);
	sched_set_nexthops(&e.sched, &e.nh);
	if (!ok) {
		teardown(&e, false);
		return 1;
	}
	attach_roster(&e);
	publish_stats(&e, true);	/* the last step of the start */
	log_info("probing %zu backends in %zu pools on %s from %s, source ports "
		 "%u-%u, pins in %s, tick %lu us (ready %.2f s after start)",
		 config_backend_count(&e.cfg), e.cfg.n_pools, e.cfg.interface,
		 format_sources(&e, src, sizeof(src)), e.sport_lo, e.sport_hi,
		 e.cfg.pin_path, (unsigned long)(e.sched.tick_ns / 1000),
		 (double)(mono_ns() - t0) / 1e9);
	notify_init(&e.notify);
	loop(&e);
	notify_stopping();
	log_info("stopping: %s", stop_requested ? "signal received" : "done");
	teardown(&e, true);
	return 0;
}
