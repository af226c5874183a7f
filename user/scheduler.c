// SPDX-License-Identifier: MIT
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <netinet/in.h>
#include <netinet/ip_icmp.h>
#include <netinet/icmp6.h>
#include <bpf/bpf.h>

#include "conncheck.h"
#include "log.h"
#include "neigh.h"
#include "scheduler.h"
#include "vec.h"

#define NS_PER_MS 1000000ULL
#define NS_PER_S 1000000000ULL
#define TICK_MAX_NS 1000000ULL		/* 1 ms */
#define TICK_MIN_NS 100000ULL		/* 100 us */
/*
 * Probes a tick should start at most, on average: a tick's SYNs leave in one
 * live-frames run, and a run much larger than a device ring (256 frames on
 * veth) overflows it whenever the receiver works on another CPU.
 */
#define TICK_PROBES 1024
#define IMPAIR_MIN_S 2
#define IMPAIR_MIN_LOST 10
#define RETRY_MIN_NS (10 * NS_PER_MS)
#define RESEND_NS (2 * NS_PER_MS)	/* a SYN the device dropped goes again after */
#define NEIGH_REASK_NS (100 * NS_PER_MS)
/*
 * Pacing.  Live-frames runs are not paced by the kernel: what does not fit
 * the device's ring is dropped.  The engine sends at most `budget` SYNs a
 * tick and hands the device `batch` frames per flush; both shrink when the
 * device drops frames and grow back while it does not.
 */
#define BUDGET_MIN 32
#define BUDGET_FLOOR 1024		/* budget_max is never below this */
#define BUDGET_HEADROOM 2		/* budget_max over a tick's demand */
#define PACE_CUT_NS (10 * NS_PER_MS)	/* one cut per burst of drops */
#define STALL_CATCHUP 8
#define STALL_NS (50 * NS_PER_MS)	/* a tick this late is a stall of the engine */
#define CONN_LATE_TICKS 4		/* a tick this many ticks apart halves conn_cap */
#define CONN_CAP_MIN 2			/* a late tick may send up to 8 ticks' budget */
#define BATCH_MIN 1
#define BATCH_MAX 64
#define BATCH_START 16
#define CLEAN_SENDS_TO_GROW 32		/* clean flushes before the batch grows by one */
#define CLEAN_SENDS_TO_RAISE 8		/* clean flushes before the budget grows by 1/4 */

enum verdict { V_PENDING, V_FINAL, V_RETRY, V_SKIP };

/*
 * Deadlines are kept in 32 bits of milliseconds since the scheduler started
 * (4 bytes a backend rather than 8; at a million backends that counts).
 * They wrap after 49 days, so they are compared as a signed difference; 0
 * means "no probe in flight".
 */
static uint32_t to_ms(const struct scheduler *s, uint64_t mono_ns)
{
	return (uint32_t)((mono_ns - s->epoch) / NS_PER_MS);
}

/* Rounded up: a probe never expires before its timeout. */
static void set_deadline(struct scheduler *s, uint32_t b, uint64_t at_ns)
{
	uint32_t ms = to_ms(s, at_ns + NS_PER_MS - 1);

	s->deadline[b] = ms ? ms : 1;
}

static bool deadline_passed(const struct scheduler *s, uint32_t b, uint64_t now_ns)
{
	return (int32_t)(to_ms(s, now_ns) - s->deadline[b]) >= 0;
}

static uint64_t rand64(void)
{
	uint64_t r = 0;

	if (getrandom(&r, sizeof(r), 0) != sizeof(r))
		r = (uint64_t)random() << 32 | (uint64_t)random();
	return r;
}

/*
 * A fresh random order per engine keeps many engines out of lock step.  The
 * order shuffles runs of SHUFFLE_RUN consecutive backends rather than single
 * ones: a run's slots and status entries share cache lines, which at a
 * million probes a second matters more than finer randomness.
 */
#define SHUFFLE_RUN 16

static void shuffle(uint32_t *perm, uint32_t runs)
{
	for (uint32_t i = 0; i < runs; i++)
		perm[i] = i;
	for (uint32_t i = runs; i > 1; i--) {
		uint32_t j = rand64() % i, t = perm[i - 1];

		perm[i - 1] = perm[j];
		perm[j] = t;
	}
}

/* The backend at position pos of the order, or UINT32_MAX past the pool's end. */
static uint32_t backend_at(const struct sched_pool *sp, uint32_t pos)
{
	uint32_t i = sp->runs[pos / SHUFFLE_RUN] * SHUFFLE_RUN + pos % SHUFFLE_RUN;

	return i < sp->n ? sp->first + i : UINT32_MAX;
}

/* A pace of 0 (a config not made by config_load()) is the interval. */
static uint32_t pace_or_interval(const struct hc_config *hc, uint32_t ms)
{
	return ms ? ms : hc->interval_ms;
}

/* The paces and retransmits of a pool, in the units the scheduler compares. */
static void pool_paces(struct sched_pool *sp, const struct hc_config *hc)
{
	sp->pace_ms[SCHED_PACE_POOL] = hc->interval_ms;
	sp->pace_ms[SCHED_PACE_FAST] = pace_or_interval(hc, hc->transition_interval_ms);
	sp->pace_ms[SCHED_PACE_DOWN] = pace_or_interval(hc, hc->unhealthy_interval_ms);
	sp->timeout_ms = hc->timeout_ms;
	sp->udp_silence_ok = hc->protocol == HC_PROTO_UDP && !hc->expect.len;
	sp->retransmits = hc->retransmits < SCHED_RETRANSMITS_MAX ?
		hc->retransmits : SCHED_RETRANSMITS_MAX;
	/* A connection has TCP's own retransmits. */
	if (sp->conn)
		sp->retransmits = 0;
}

static void pool_cadence(struct sched_pool *sp, const struct hc_config *hc)
{
	pool_paces(sp, hc);
	bq_init(&sp->inflight);
	for (int p = 0; p < SCHED_PACE_N; p++)
		bq_init(&sp->wait[p]);
}

/*
 * The order covers the pool's every id, its free ones too (they are skipped
 * when due), so that backends added at runtime take their place in it.
 */
static int pool_init(struct sched_pool *sp, const struct pool_cfg *pc, uint32_t first,
		     uint64_t now)
{
	uint32_t runs = (pc->max_backends + SHUFFLE_RUN - 1) / SHUFFLE_RUN;

	sp->first = first;
	sp->n = pc->max_backends;
	sp->conn = hc_is_connection(&pc->hc);
	sp->active = pc->n_backends;
	sp->interval_ns = (uint64_t)pc->hc.interval_ms * NS_PER_MS;
	sp->timeout_ns = (uint64_t)pc->hc.timeout_ms * NS_PER_MS;
	sp->jitter_ns = (uint64_t)pc->hc.jitter_ms * NS_PER_MS;
	pool_cadence(sp, &pc->hc);
	sp->positions = runs * SHUFFLE_RUN;
	sp->step_q32 = sp->positions ?
		(uint64_t)(((unsigned __int128)sp->interval_ns << 32) / sp->positions) : 0;
	sp->runs = malloc(sizeof(*sp->runs) * (runs ? runs : 1));
	if (!sp->runs)
		return -1;
	shuffle(sp->runs, runs);
	/*
	 * The first interval starts now.  It used to start at a random phase in
	 * the past, to keep restarted engines out of lock step; the shuffled
	 * order already does that, and the backdated start sent a burst of
	 * overdue probes (and underflowed a monotonic clock younger than the
	 * phase: a 24 h interval probed nothing 28 minutes after boot).
	 */
	sp->cycle_start = now;
	return 0;
}

/* Short enough that a tick's share of the probe rate fits one run. */
static uint64_t choose_tick(double rate)
{
	uint64_t t;

	if (rate <= 0)
		return TICK_MAX_NS;
	t = (uint64_t)(TICK_PROBES * 1e9 / rate);
	return t > TICK_MAX_NS ? TICK_MAX_NS : t < TICK_MIN_NS ? TICK_MIN_NS : t;
}

/* Long enough for a dead backend to be noticed in every pool. */
static uint32_t impair_window_s(const struct config *cfg)
{
	uint64_t ms = 0;

	for (size_t i = 0; i < cfg->n_pools; i++) {
		const struct hc_config *hc = &cfg->pools[i].hc;
		uint64_t w = (uint64_t)hc->interval_ms * hc->unhealthy_threshold + hc->timeout_ms;

		if (w > ms)
			ms = w;
	}
	ms = (ms + 999) / 1000;
	return ms < IMPAIR_MIN_S ? IMPAIR_MIN_S : ms > IMPAIR_SLOTS - 1 ? IMPAIR_SLOTS - 1 : ms;
}

/*
 * Probes a second pool sp may ask for in a steady state: every backend it
 * holds at the fastest of its paces (all of them down, or many between
 * states).
 */
static double pool_rate(const struct sched_pool *sp)
{
	uint32_t ms = sp->pace_ms[SCHED_PACE_POOL];

	for (int p = SCHED_PACE_POOL + 1; p < SCHED_PACE_N; p++)
		if (sp->pace_ms[p] < ms)
			ms = sp->pace_ms[p];
	return sp->active * 1000.0 / ms;
}

/*
 * The budget counts SYNs, retransmits included: at most retransmits + 1 a
 * probe, when none is answered.
 */
static void budget_init(struct scheduler *s)
{
	double demand, syns = 0;

	s->rate = 0;
	for (size_t i = 0; i < s->n_pools; i++) {
		double r = pool_rate(&s->pools[i]);

		s->rate += r;
		syns += r * (1 + s->pools[i].retransmits);
	}
	s->tick_ns = choose_tick(s->rate);
	demand = syns * (double)s->tick_ns / 1e9;
	s->budget_max = (unsigned int)(demand * BUDGET_HEADROOM) + 1;
	if (s->budget_max < BUDGET_FLOOR)
		s->budget_max = BUDGET_FLOOR;
	/* From the start: halved at the first device drop, like any time. */
	if (!s->budget || s->budget > s->budget_max)
		s->budget = s->budget_max;
}

void sched_pool_resize(struct scheduler *s, uint32_t p, uint32_t active)
{
	unsigned int budget = s->budget;

	s->pools[p].active = active;
	budget_init(s);
	/* More demand: the budget may grow at once; pacing cuts it if the device drops. */
	if (s->budget_max > budget)
		s->budget = s->budget_max;
}

int sched_init(struct scheduler *s, const struct config *cfg, struct slots *slots,
	       struct sender *tx, uint64_t now, outcome_fn cb, void *cb_ctx)
{
	size_t total = config_map_ids(cfg);	/* the spare ids too: pools a reload adds */

	memset(s, 0, sizeof(*s));
	s->slots = slots;
	s->tx = tx;
	s->cb = cb;
	s->cb_ctx = cb_ctx;
	s->batch = BATCH_START;
	s->imp.window_s = impair_window_s(cfg);
	s->imp.sec_start = now;
	s->lag.sec_start = now;
	s->nl_fd = neigh_open();
	if (s->nl_fd < 0)
		log_warn("netlink socket for neighbour resolution: %s", strerror(errno));
	s->pools = calloc(cfg->n_pools ? cfg->n_pools : 1, sizeof(*s->pools));
	s->epoch = now;
	s->deadline = calloc(total ? total : 1, sizeof(*s->deadline));
	s->next = calloc(total ? total : 1, sizeof(*s->next));
	s->pace = calloc(total / 32 + 1, sizeof(*s->pace));
	s->owed = calloc(total / 64 + 1, sizeof(*s->owed));
	s->excused = calloc(total / 64 + 1, sizeof(*s->excused));
	if (!s->pools || !s->deadline || !s->next || !s->pace || !s->owed || !s->excused)
		return -1;
	s->n_pools = cfg->n_pools;
	for (size_t i = 0; i < cfg->n_pools; i++) {
		if (pool_init(&s->pools[i], &cfg->pools[i], cfg->pools[i].first_id, now))
			return -1;
	}
	budget_init(s);
	return 0;
}

/*
 * The probes sent this interval stay sent; the rest spread over what is
 * left of the new interval, so that a shorter one is no burst and a longer
 * one no gap.
 */
static void pool_retime(struct sched_pool *sp, const struct hc_config *hc, uint64_t now)
{
	uint64_t interval = (uint64_t)hc->interval_ms * NS_PER_MS, elapsed;

	sp->timeout_ns = (uint64_t)hc->timeout_ms * NS_PER_MS;
	sp->jitter_ns = (uint64_t)hc->jitter_ms * NS_PER_MS;
	/*
	 * A wait queue holds one pace, in the order of its backends' last
	 * starts: a new pace moves every due time alike and keeps the order.
	 */
	pool_paces(sp, hc);
	if (interval == sp->interval_ns || !sp->positions)
		return;
	sp->interval_ns = interval;
	sp->step_q32 = (uint64_t)(((unsigned __int128)interval << 32) / sp->positions);
	elapsed = (uint64_t)((unsigned __int128)interval * sp->cursor / sp->positions);
	sp->cycle_start = now > sp->offset + elapsed ? now - sp->offset - elapsed : 0;
}

static int add_pools(struct scheduler *s, const struct config *cfg, uint64_t now)
{
	struct sched_pool *pools = realloc(s->pools, cfg->n_pools * sizeof(*pools));

	if (!pools)
		return -1;
	s->pools = pools;
	for (size_t i = s->n_pools; i < cfg->n_pools; i++) {
		memset(&pools[i], 0, sizeof(pools[i]));
		if (pool_init(&pools[i], &cfg->pools[i], cfg->pools[i].first_id, now))
			return -1;
		pools[i].active = 0;	/* its backends come one by one (sched_pool_resize()) */
		s->n_pools = i + 1;
	}
	return 0;
}

int sched_reload(struct scheduler *s, const struct config *cfg, uint64_t now)
{
	if (cfg->n_pools > s->n_pools && add_pools(s, cfg, now))
		return -1;
	if (s->cc && conncheck_reload(s->cc))
		return -1;
	for (size_t i = 0; i < s->n_pools; i++)
		pool_retime(&s->pools[i], &cfg->pools[i].hc, now);
	s->imp.window_s = impair_window_s(cfg);
	budget_init(s);
	return 0;
}

uint32_t sched_pool_of(const struct scheduler *s, uint32_t b)
{
	size_t lo = 0, hi = s->n_pools;

	while (hi - lo > 1) {
		size_t mid = (lo + hi) / 2;

		if (s->pools[mid].first <= b)
			lo = mid;
		else
			hi = mid;
	}
	return (uint32_t)lo;
}

static bool list_push(struct sched_list *l, uint32_t b, uint64_t at)
{
	if (vec_room((void **)&l->e, &l->cap, l->n, sizeof(*l->e)))
		return false;
	l->e[l->n].b = b;
	l->e[l->n].at = at;
	l->n++;
	return true;
}

/*
 * Drops halve batch and budget, once per burst: a full ring shows in several
 * flushes in a row, and halving at each would take the budget to its floor,
 * from where a slow climb back leaves the schedule seconds behind.  The
 * budget then grows back by a quarter every few clean flushes (from the
 * floor to 2,000 in about 150), the batch by one frame every 32.
 */
static void pace(struct scheduler *s, bool dropped, uint64_t now)
{
	unsigned int raise;

	if (dropped) {
		s->clean = 0;
		if (s->last_cut && now - s->last_cut < PACE_CUT_NS)
			return;
		s->last_cut = now;
		s->batch = s->batch / 2 > BATCH_MIN ? s->batch / 2 : BATCH_MIN;
		s->budget = s->budget / 2 > BUDGET_MIN ? s->budget / 2 : BUDGET_MIN;
		return;
	}
	if (++s->clean % CLEAN_SENDS_TO_RAISE == 0) {
		raise = s->budget / 4 > BUDGET_MIN ? s->budget / 4 : BUDGET_MIN;
		s->budget = s->budget + raise < s->budget_max ? s->budget + raise : s->budget_max;
	}
	if (s->clean % CLEAN_SENDS_TO_GROW == 0 && s->batch < BATCH_MAX)
		s->batch++;
}

/*
 * Which frames of a run the device dropped is not known, only how many: every
 * probe of the run is resent unless answered, and until a send of it goes
 * through without drops, its timeout is not held against the backend.
 */
static void flush(struct scheduler *s, uint64_t now)
{
	const uint32_t *q;
	unsigned int n = send_queued(s->tx, &q);
	uint64_t dropped = 0;
	int e;

	if (!n)
		return;
	e = send_run(s->tx, s->batch, &dropped);
	s->st.runs++;
	if (e) {
		s->st.send_errors++;
		log_warn("BPF_PROG_RUN(probe_rx/probe_tx) failed: %s", strerror(-e));
		dropped = n;
	}
	s->st.tx_dropped += dropped;
	for (unsigned int i = 0; i < n; i++) {
		slots_mark_unsure(s->slots, q[i], dropped);
		if (dropped)
			list_push(&s->resend, q[i], now + RESEND_NS);
	}
	pace(s, dropped, now);
}

static void queue(struct scheduler *s, uint32_t b, uint64_t now)
{
	s->st.frames++;
	if (send_queue(s->tx, b))
		flush(s, now);
}

/* A new probe: answers to earlier ones no longer count. */
static void queue_probe(struct scheduler *s, uint32_t b, uint64_t now)
{
	slots_arm(s->slots, b);
	s->st.probes_queued++;
	queue(s, b, now);
}

static void ask_neigh(struct scheduler *s, uint32_t nexthop, uint64_t now)
{
	unsigned int h = (nexthop * 2654435761U) >> 24;

	if (!nexthop || s->nl_fd < 0)
		return;
	if (s->neigh_cache[h].addr == nexthop && now - s->neigh_cache[h].at < NEIGH_REASK_NS)
		return;
	s->neigh_cache[h].addr = nexthop;
	s->neigh_cache[h].at = now;
	s->st.neigh_requests++;
	if (neigh_request4(s->nl_fd, s->tx->ifindex, nexthop))
		log_debug("neighbour request failed: %s", strerror(errno));
}

static void fill(struct probe_outcome *o, bool ok, uint8_t reason)
{
	memset(o, 0, sizeof(*o));
	o->ok = ok;
	o->reason = reason;
}

/*
 * A UDP check without expect passes when nothing comes back: only an ICMP
 * error says the port is closed.  Not while the prober is impaired: its
 * datagrams may never have left, and silence then proves nothing.
 */
static enum verdict silence(struct scheduler *s, uint32_t b, struct probe_outcome *o)
{
	if (!s->pools[sched_pool_of(s, b)].udp_silence_ok) {
		fill(o, false, XDPHC_REASON_TIMEOUT);
		s->st.timeouts++;
		return V_FINAL;
	}
	if (s->imp.impaired)
		return V_SKIP;
	s->st.udp_silent++;
	fill(o, true, XDPHC_REASON_OK);
	o->silent = true;
	return V_FINAL;
}

/* ICMP port unreachable is a closed UDP port; the rest, and every ICMP error of a SYN, unreachable. */
static void icmp_outcome(struct scheduler *s, uint32_t b, const struct slot_outcome *so,
			 struct probe_outcome *o)
{
	const struct xdphc_slot *sl = &s->slots->s[b];
	bool port = sl->family == AF_INET6 ?
		so->icmp_type == ICMP6_DST_UNREACH && so->icmp_code == ICMP6_DST_UNREACH_NOPORT :
		so->icmp_type == ICMP_UNREACH && so->icmp_code == ICMP_PORT_UNREACH;

	if (sl->proto == IPPROTO_UDP && port) {
		fill(o, false, XDPHC_REASON_REFUSED);
		o->detail = XDPHC_DETAIL_ICMP(so->icmp_type, so->icmp_code);
		return;
	}
	fill(o, false, XDPHC_REASON_UNREACHABLE);
	o->icmp_type = so->icmp_type;
	o->icmp_code = so->icmp_code;
}

static enum verdict classify(struct scheduler *s, uint32_t b, uint64_t now,
			     struct probe_outcome *o)
{
	bool expired = deadline_passed(s, b, now);
	struct slot_outcome so;

	if (!slots_outcome(s->slots, b, &so)) {
		if (!expired)
			return V_PENDING;
		if (slots_unsure(s->slots, b))
			return V_SKIP;	/* maybe never delivered: not the backend's timeout */
		if (s->slots->s[b].proto == IPPROTO_UDP)
			return silence(s, b, o);
		fill(o, false, XDPHC_REASON_TIMEOUT);
		s->st.timeouts++;
		return V_FINAL;
	}
	switch (so.kind) {
	case XDPHC_RES_UDP_REPLY:
		fill(o, true, XDPHC_REASON_OK);
		o->rtt_us = so.t;
		return V_FINAL;
	case XDPHC_RES_UDP_MISMATCH:
		fill(o, false, XDPHC_REASON_MISMATCH);
		return V_FINAL;
	case XDPHC_RES_SYNACK:
		fill(o, true, XDPHC_REASON_OK);
		o->rtt_us = so.t;	/* probe_rx's RTT */
		return V_FINAL;
	case XDPHC_RES_RST:
		fill(o, false, XDPHC_REASON_REFUSED);
		return V_FINAL;
	case XDPHC_RES_ICMP:
		icmp_outcome(s, b, &so, o);
		return V_FINAL;
	case XDPHC_RES_TX_NO_NEIGH:
		ask_neigh(s, so.t, now);	/* the next hop that had no neighbour */
		if (!expired)
			return V_RETRY;
		fill(o, false, XDPHC_REASON_NEIGH_FAILED);
		return V_FINAL;
	case XDPHC_RES_TX_NO_ROUTE:
		fill(o, false, XDPHC_REASON_NO_ROUTE);
		return V_FINAL;
	default:
		/* Our own failure to send says nothing about the backend. */
		return expired ? V_SKIP : V_RETRY;
	}
}

/*
 * A connection check lives in the engine: its connect, request and reply
 * each wait for a tick.  When a quarter of its time went by in a stall of
 * the engine (a tick STALL_NS late or more: a burst of handshakes, a
 * starved CPU), a timeout is the engine's, not the backend's.  Once in a
 * row only: an engine that stalls all the time must still decide (a
 * backend's timeouts then count every other check).
 */
static bool stalled(const struct scheduler *s, const struct sched_pool *sp, uint32_t b)
{
	uint64_t end = s->epoch + (uint64_t)s->deadline[b] * NS_PER_MS;
	uint64_t start = end - sp->timeout_ns, from, to;

	from = start > s->stall_from ? start : s->stall_from;
	to = end < s->stall_to ? end : s->stall_to;
	return to > from && (to - from) * 4 >= sp->timeout_ns;
}

/* A connection check ends on its own, or at its deadline as a timeout. */
static enum verdict classify_conn(struct scheduler *s, struct sched_pool *sp, uint32_t b,
				  uint64_t now, struct probe_outcome *o)
{
	uint32_t p = (uint32_t)(sp - s->pools);
	uint64_t bit = 1ULL << (b % 64);
	bool lost, reached;

	if (conncheck_result(s->cc, p, b, o, &lost)) {
		s->excused[b / 64] &= ~bit;
		return lost ? V_SKIP : V_FINAL;
	}
	if (!deadline_passed(s, b, now))
		return V_PENDING;
	reached = conncheck_cancel(s->cc, p, b);
	if (stalled(s, sp, b) && !(s->excused[b / 64] & bit)) {
		s->excused[b / 64] |= bit;
		s->st.stalled++;
		return V_SKIP;
	}
	s->excused[b / 64] &= ~bit;
	fill(o, false, XDPHC_REASON_TIMEOUT);
	o->reached = reached;
	s->st.timeouts++;
	return V_FINAL;
}

static void retry_push(struct scheduler *s, uint32_t b, uint64_t now)
{
	if (!list_push(&s->retry, b, now + RETRY_MIN_NS)) {
		s->deadline[b] = 0;
		return;
	}
	s->st.retries++;
}

static enum sched_pace pace_get(const struct scheduler *s, uint32_t b)
{
	return (enum sched_pace)(s->pace[b / 32] >> (b % 32 * 2) & 3);
}

void sched_pace(struct scheduler *s, uint32_t b, enum sched_pace pace)
{
	uint64_t *w = &s->pace[b / 32];
	unsigned int shift = b % 32 * 2;

	*w = (*w & ~(3ULL << shift)) | (uint64_t)pace << shift;
}

enum sched_pace sched_pace_sooner(const struct scheduler *s, uint32_t b, enum sched_pace x,
				  enum sched_pace y)
{
	const struct sched_pool *sp = &s->pools[sched_pool_of(s, b)];

	return sp->pace_ms[y] < sp->pace_ms[x] ? y : x;
}

/* b's slot on the cadence came while it was busy: it is owed a probe. */
static void owe(struct scheduler *s, uint32_t b)
{
	s->owed[b / 64] |= 1ULL << (b % 64);
}

/* Clear b's owed bit; whether it was set. */
static bool repay(struct scheduler *s, uint32_t b)
{
	uint64_t bit = 1ULL << (b % 64), old = s->owed[b / 64];

	s->owed[b / 64] = old & ~bit;
	return old & bit;
}

/*
 * Idle and at the pool's pace, as at start: a backend removed or put in
 * maintenance since its last probe left (its id is free once not busy).
 */
static void release(struct scheduler *s, uint32_t b)
{
	s->deadline[b] = 0;
	repay(s, b);
	sched_pace(s, b, SCHED_PACE_POOL);
}

/*
 * After its probe, a backend goes back to the cadence, or waits in the
 * queue of its pace.  Waiting, it keeps the deadline of that probe: the
 * cadence skips it as it skips a probe in flight, and its due time is
 * that probe's start (the deadline less the timeout) plus the pace.  A
 * backend on the cadence whose slot passed while it was busy (a timeout as
 * long as the interval ends about when the next slot comes) waits for an
 * interval after its start instead of a whole turn of the cadence.
 */
static void settle(struct scheduler *s, uint32_t b)
{
	struct sched_pool *sp = &s->pools[sched_pool_of(s, b)];
	enum sched_pace p = pace_get(s, b);
	bool owed = repay(s, b);

	if (!s->deadline[b] || !slots_live(s->slots, b)) {
		release(s, b);
		return;
	}
	if (sp->pace_ms[p] == sp->pace_ms[SCHED_PACE_POOL])
		p = SCHED_PACE_POOL;
	if (p == SCHED_PACE_POOL && !owed) {
		s->deadline[b] = 0;
		return;
	}
	bq_push(&sp->wait[p], s->next, b);
}

static uint32_t due_ms(const struct scheduler *s, const struct sched_pool *sp,
		       enum sched_pace p, uint32_t b)
{
	return s->deadline[b] - sp->timeout_ms + sp->pace_ms[p];
}

static void finish(struct scheduler *s, uint32_t b, enum verdict v,
		   const struct probe_outcome *o)
{
	if (v == V_FINAL) {
		s->imp.done[s->imp.cur]++;
		s->cb(s->cb_ctx, b, o);		/* may set b's pace */
	} else {
		s->imp.lost[s->imp.cur]++;
		s->st.lost++;
	}
	settle(s, b);
}

static void harvest_pool(struct scheduler *s, struct sched_pool *sp, uint64_t now)
{
	struct probe_outcome o;
	uint32_t b;

	while ((b = sp->inflight.head) != BQ_NONE) {
		enum verdict v = sp->conn ? classify_conn(s, sp, b, now, &o) :
			classify(s, b, now, &o);

		if (v == V_PENDING)
			break;
		bq_pop(&sp->inflight, s->next);
		if (v == V_RETRY)
			retry_push(s, b, now);
		else
			finish(s, b, v, &o);
	}
}

/*
 * Probes that could not be sent yet (e.g. ARP in progress) go again until
 * their deadline.  An entry with at != 0 waits to be sent; at == 0 means
 * sent again and waiting for its outcome.
 */
static void run_retries(struct scheduler *s, uint64_t now)
{
	struct sched_list *l = &s->retry;
	struct probe_outcome o;
	size_t keep = 0;

	for (size_t i = 0; i < l->n; i++) {
		struct sched_entry en = l->e[i];
		enum verdict v;

		if (en.at && en.at <= now && !slots_live(s->slots, en.b)) {
			/* Removed or paused since: not sent again; the engine drops its outcome. */
			finish(s, en.b, V_SKIP, &o);
			continue;
		}
		if (en.at && en.at <= now && deadline_passed(s, en.b, now)) {
			/* Too late to send again: judge what the last attempt got. */
			v = classify(s, en.b, now, &o);
			finish(s, en.b, v == V_RETRY ? V_SKIP : v, &o);
			continue;
		}
		if (en.at) {
			if (en.at <= now) {
				en.at = 0;
				queue_probe(s, en.b, now);
			}
			l->e[keep++] = en;
			continue;
		}
		v = classify(s, en.b, now, &o);
		if (v == V_PENDING) {
			l->e[keep++] = en;
		} else if (v == V_RETRY) {
			en.at = now + RETRY_MIN_NS;
			s->st.retries++;
			l->e[keep++] = en;
		} else {
			finish(s, en.b, v, &o);
		}
	}
	l->n = keep;
}

/* SYNs the device dropped go out again, same generation, if still unanswered. */
static void run_resends(struct scheduler *s, uint64_t now)
{
	struct sched_list *l = &s->resend;
	size_t keep = 0;

	for (size_t i = 0; i < l->n; i++) {
		struct sched_entry en = l->e[i];
		struct slot_outcome so;

		if (en.at > now) {
			l->e[keep++] = en;
			continue;
		}
		if (!s->deadline[en.b] || deadline_passed(s, en.b, now) ||
		    !slots_live(s->slots, en.b) || slots_outcome(s->slots, en.b, &so))
			continue;
		s->st.resent++;
		slots_mark_resend(s->slots, en.b);
		queue(s, en.b, now);
	}
	l->n = keep;
}

/* Each interval starts up to jitter late, so engines never settle into lock step. */
static void next_cycle(struct sched_pool *sp, uint64_t now)
{
	uint64_t end = sp->cycle_start + sp->offset;

	sp->last_cycle_ns = now - end;
	sp->cursor = 0;
	sp->cycle_start += sp->interval_ns;
	/* Fell more than an interval behind: restart the clock, do not burst. */
	if (now > sp->cycle_start + sp->interval_ns)
		sp->cycle_start = now;
	sp->offset = sp->jitter_ns ? rand64() % (sp->jitter_ns + 1) : 0;
}

static void lag_add(struct scheduler *s, uint64_t now, uint64_t at)
{
	uint64_t us = now > at ? (now - at) / 1000 : 0;

	lathist_add(&s->lag.sec[s->lag.cur], us);
	s->lag.total++;
	s->lag.sum_us += us;
}

/*
 * Every probe joins its pool's in-flight queue: they share one timeout, so
 * the queue stays in deadline order.
 */
static void start_probe(struct scheduler *s, struct sched_pool *sp, uint32_t b, uint64_t now)
{
	set_deadline(s, b, now + sp->timeout_ns);
	bq_push(&sp->inflight, s->next, b);
	sp->probes++;
	if (!sp->conn) {
		queue_probe(s, b, now);
		return;
	}
	s->st.probes_queued++;
	conncheck_start(s->cc, (uint32_t)(sp - s->pools), b, now);
}

/* Due entries of a wait queue left for the next tick; counting stops at max. */
static uint64_t count_due(const struct scheduler *s, const struct sched_pool *sp,
			  enum sched_pace p, uint32_t now_ms, uint64_t max)
{
	uint64_t n = 0;

	for (uint32_t b = sp->wait[p].head; b != BQ_NONE && n < max; b = s->next[b], n++)
		if ((int32_t)(now_ms - due_ms(s, sp, p, b)) < 0)
			break;
	return n;
}

/*
 * Backends off the cadence whose time has come, in due order, from the
 * tick's budget like any probe; their lag is against their due time.
 */
static void issue_waiting(struct scheduler *s, struct sched_pool *sp, enum sched_pace p,
			  uint64_t now, unsigned int *budget)
{
	struct bqueue *q = &sp->wait[p];
	uint32_t now_ms = to_ms(s, now), b, due;

	while ((b = q->head) != BQ_NONE) {
		due = due_ms(s, sp, p, b);
		if ((int32_t)(now_ms - due) < 0)
			return;
		if (!*budget) {
			s->behind_now += count_due(s, sp, p, now_ms, s->budget_max);
			return;
		}
		bq_pop(q, s->next);
		if (!slots_live(s->slots, b)) {
			release(s, b);
			continue;
		}
		lag_add(s, now, s->epoch + (uint64_t)due * NS_PER_MS);
		start_probe(s, sp, b, now);
		(*budget)--;
	}
}

/*
 * The same SYN again, if the probe is still unanswered, before its
 * deadline, and its backend still probed (not removed or paused since):
 * same generation, so the first answer to either SYN counts.
 */
static bool retransmit(struct scheduler *s, struct sched_pool *sp, uint32_t b, uint64_t now)
{
	struct slot_outcome so;

	if (deadline_passed(s, b, now) || !slots_live(s->slots, b) ||
	    slots_outcome(s->slots, b, &so))
		return false;
	sp->retransmitted++;
	s->st.retransmitted++;
	slots_mark_resend(s->slots, b);
	queue(s, b, now);
	return true;
}

/*
 * The k-th retransmit of a probe leaves timeout * k / (N + 1) after its
 * send.  Cursor k walks the in-flight queue: its entries are in send order
 * and share one timeout, so their k-th retransmit times are in order too,
 * each at its deadline less the timeout plus that share.  Nothing per
 * backend is kept.
 */
static void retransmit_pool(struct scheduler *s, struct sched_pool *sp, uint64_t now,
			    unsigned int *budget)
{
	uint32_t now_ms = to_ms(s, now), n = sp->retransmits, b;

	for (uint32_t k = 1; k <= n; k++) {
		struct bq_cursor *c = &sp->rtx[k - 1];
		/* Rounded up: never before its share of the timeout. */
		uint32_t after = (sp->timeout_ms * k + n) / (n + 1);

		while (*budget && (b = bq_at(&sp->inflight, s->next, c)) != BQ_NONE) {
			if ((int32_t)(now_ms - (s->deadline[b] - sp->timeout_ms + after)) < 0)
				break;
			if (retransmit(s, sp, b, now))
				(*budget)--;
			bq_step(c, b);
		}
	}
}

static void issue_pool(struct scheduler *s, struct sched_pool *sp, uint64_t now,
		       unsigned int *budget)
{
	uint64_t start = sp->cycle_start + sp->offset;
	uint64_t elapsed, due;

	if (now < start)
		return;
	elapsed = now - start;
	if (elapsed >= sp->interval_ns) {
		/* Finish the previous interval first, then start the next one. */
		due = sp->positions;
	} else {
		due = (uint64_t)((unsigned __int128)sp->positions * elapsed / sp->interval_ns) + 1;
		if (due > sp->positions)
			due = sp->positions;
	}
	while (sp->cursor < due && *budget) {
		uint32_t pos = sp->cursor++, b = backend_at(sp, pos);

		/* Past the end, free or in maintenance. */
		if (b == UINT32_MAX || !slots_live(s->slots, b))
			continue;
		/* In flight or off the cadence: never two probes at once. */
		if (s->deadline[b]) {
			owe(s, b);
			continue;
		}
		lag_add(s, now, start + (uint64_t)(((unsigned __int128)pos * sp->step_q32) >> 32));
		start_probe(s, sp, b, now);
		(*budget)--;
	}
	s->behind_now += due - sp->cursor;
	if (sp->cursor == sp->positions)
		next_cycle(sp, now);
}

/*
 * The budget of this tick: the nominal one, scaled by how long the last
 * tick really took, so that a late tick (or a stall) is made up for
 * rather than lost; bounded so that a long stall does not become one burst.
 */
static unsigned int tick_budget(struct scheduler *s, uint64_t now)
{
	uint64_t dt = s->last_tick ? now - s->last_tick : s->tick_ns;
	uint64_t b = (uint64_t)s->budget * dt / s->tick_ns;

	if (dt > s->tick_ns + STALL_NS) {
		s->stall_from = s->last_tick;
		s->stall_to = now;
	}
	s->last_tick = now;
	if (b < s->budget)
		b = s->budget;
	if (b > (uint64_t)s->budget * STALL_CATCHUP)
		b = (uint64_t)s->budget * STALL_CATCHUP;
	return (unsigned int)b;
}

void sched_impair_window(const struct scheduler *s, uint64_t *done, uint64_t *lost)
{
	const struct sched_impair *im = &s->imp;

	*done = *lost = 0;
	for (uint32_t i = 0; i < im->window_s; i++) {
		unsigned int k = (im->cur + IMPAIR_SLOTS - i) % IMPAIR_SLOTS;

		*done += im->done[k];
		*lost += im->lost[k];
	}
}

/* Once a second: roll the lag window and judge whether the prober is impaired. */
static void roll_second(struct scheduler *s, uint64_t now)
{
	struct sched_impair *im = &s->imp;
	uint64_t done, lost;

	if (now - s->lag.sec_start >= NS_PER_S) {
		s->lag.cur = (s->lag.cur + 1) % LAG_WINDOW_S;
		memset(&s->lag.sec[s->lag.cur], 0, sizeof(s->lag.sec[0]));
		s->lag.sec_start = now;
	}
	if (now - im->sec_start < NS_PER_S)
		return;
	im->sec_start = now;
	sched_impair_window(s, &done, &lost);
	if (!im->impaired && lost >= IMPAIR_MIN_LOST && lost * 2 >= done + lost) {
		im->impaired = true;
		im->since = now;
		log_err("prober impaired: %lu of %lu probes in the last %u s were never known "
			"to be sent (device drops or send errors); backend states are held "
			"until it recovers", (unsigned long)lost, (unsigned long)(done + lost),
			im->window_s);
	} else if (im->impaired && lost * 10 < done + lost) {
		im->impaired = false;
		log_info("prober recovered: %lu of %lu probes in the last %u s undelivered; "
			 "backend states follow probes again", (unsigned long)lost,
			 (unsigned long)(done + lost), im->window_s);
	}
	im->cur = (im->cur + 1) % IMPAIR_SLOTS;
	im->done[im->cur] = 0;
	im->lost[im->cur] = 0;
}

/*
 * Connection checks cost the engine itself (a connect, a handshake, curl's
 * work), and past what its core can do it would stall and time checks out
 * rather than fall behind.  So their starts a tick are capped, the cap
 * halved whenever a tick comes late and grown back while ticks are on
 * time: overloaded, the engine stretches its schedule, as HAProxy does.
 */
static void conn_pace(struct scheduler *s, uint64_t now)
{
	uint64_t dt = s->last_tick ? now - s->last_tick : s->tick_ns;

	if (!s->conn_cap)
		s->conn_cap = s->budget_max;
	if (dt > s->tick_ns * CONN_LATE_TICKS)
		s->conn_cap = s->conn_cap / 2 > CONN_CAP_MIN ? s->conn_cap / 2 : CONN_CAP_MIN;
	else if (s->conn_cap < s->budget_max)
		s->conn_cap += s->conn_cap / 16 + 1;
}

/*
 * Pool sp's due probes from the tick's budget, a connection pool's also
 * within conn_left; pace < 0: its cadence, else that pace's wait queue.
 */
static void issue_capped(struct scheduler *s, struct sched_pool *sp, int pace, uint64_t now,
			 unsigned int *budget, unsigned int *conn_left)
{
	unsigned int b = sp->conn && *conn_left < *budget ? *conn_left : *budget, was = b;

	if (pace < 0)
		issue_pool(s, sp, now, &b);
	else
		issue_waiting(s, sp, (enum sched_pace)pace, now, &b);
	*budget -= was - b;
	if (sp->conn)
		*conn_left -= was - b;
}

void sched_tick(struct scheduler *s, uint64_t now)
{
	unsigned int budget, conn_left;

	conn_pace(s, now);
	budget = tick_budget(s, now);
	conn_left = s->conn_cap;
	s->behind_now = 0;
	roll_second(s, now);
	for (size_t i = 0; i < s->n_pools; i++)
		harvest_pool(s, &s->pools[i], now);
	run_retries(s, now);
	run_resends(s, now);
	/* Retransmits first: they have a deadline, a late new probe only lag. */
	for (size_t i = 0; i < s->n_pools; i++)
		retransmit_pool(s, &s->pools[i], now, &budget);
	for (size_t i = 0; i < s->n_pools; i++)
		for (int p = 0; p < SCHED_PACE_N; p++)
			issue_capped(s, &s->pools[i], p, now, &budget, &conn_left);
	for (size_t i = 0; i < s->n_pools; i++)
		issue_capped(s, &s->pools[i], -1, now, &budget, &conn_left);
	flush(s, now);
	s->st.behind = s->behind_now;
	if (s->behind_now > s->st.behind_max)
		s->st.behind_max = s->behind_now;
}

void sched_lag_quantiles(const struct scheduler *s, uint64_t *p50, uint64_t *p99,
			 uint64_t *max)
{
	static struct lathist all;

	memset(&all, 0, sizeof(all));
	for (unsigned int i = 0; i < LAG_WINDOW_S; i++)
		lathist_merge(&all, &s->lag.sec[i]);
	*p50 = lathist_quantile(&all, 0.50);
	*p99 = lathist_quantile(&all, 0.99);
	*max = all.max;
}

void sched_free(struct scheduler *s)
{
	if (!s->pools)
		return;
	for (size_t i = 0; i < s->n_pools; i++)
		free(s->pools[i].runs);
	free(s->pools);
	free(s->deadline);
	free(s->next);
	free(s->pace);
	free(s->owed);
	free(s->excused);
	free(s->retry.e);
	free(s->resend.e);
	neigh_close(s->nl_fd);
	memset(s, 0, sizeof(*s));
}
