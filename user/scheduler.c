// SPDX-License-Identifier: MIT
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <bpf/bpf.h>

#include "log.h"
#include "neigh.h"
#include "scheduler.h"

#define NS_PER_MS 1000000ULL
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
#define BUDGET_MAX 1024
#define BUDGET_STEP 32
#define BATCH_MIN 1
#define BATCH_MAX 64
#define BATCH_START 16
#define CLEAN_SENDS_TO_GROW 32

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

/* The slot holds an outcome of its current probe (not of an earlier one). */
static bool answered(const struct xdphc_slot *slot, uint64_t *result)
{
	uint64_t r = __atomic_load_n(&slot->result, __ATOMIC_ACQUIRE);

	*result = r;
	return XDPHC_RESULT_GEN(r) == slot->gen && XDPHC_RESULT_KIND(r) != XDPHC_RES_NONE;
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

static void shuffle(uint32_t *a, uint32_t n, uint32_t first)
{
	uint32_t runs = (n + SHUFFLE_RUN - 1) / SHUFFLE_RUN, k = 0;
	uint32_t *perm = malloc(sizeof(*perm) * (runs ? runs : 1));

	for (uint32_t i = 0; i < runs; i++)
		perm[i] = i;
	for (uint32_t i = runs; i > 1; i--) {
		uint32_t j = rand64() % i, t = perm[i - 1];

		perm[i - 1] = perm[j];
		perm[j] = t;
	}
	for (uint32_t r = 0; r < runs; r++)
		for (uint32_t i = perm[r] * SHUFFLE_RUN; i < n && i < (perm[r] + 1) * SHUFFLE_RUN; i++)
			a[k++] = first + i;
	free(perm);
}

static int pool_init(struct sched_pool *sp, const struct pool_cfg *pc, uint32_t first,
		     uint64_t now)
{
	sp->first = first;
	sp->n = pc->n_backends;
	sp->interval_ns = (uint64_t)pc->hc.interval_ms * NS_PER_MS;
	sp->timeout_ns = (uint64_t)pc->hc.timeout_ms * NS_PER_MS;
	sp->jitter_ns = (uint64_t)pc->hc.jitter_ms * NS_PER_MS;
	sp->order = malloc(sizeof(*sp->order) * sp->n);
	sp->fifo = malloc(sizeof(*sp->fifo) * sp->n);
	if (!sp->order || !sp->fifo)
		return -1;
	shuffle(sp->order, sp->n, first);
	/* Start at a random phase so restarts do not line engines up either. */
	sp->cycle_start = now - rand64() % (sp->interval_ns / 8 + 1);
	return 0;
}

int sched_init(struct scheduler *s, const struct config *cfg, struct programs *prog,
	       uint64_t now, outcome_fn cb, void *cb_ctx)
{
	size_t total = config_backend_count(cfg);
	uint32_t first = 0;

	memset(s, 0, sizeof(*s));
	s->prog = prog;
	s->cb = cb;
	s->cb_ctx = cb_ctx;
	s->budget = BUDGET_MAX / 4;
	s->batch = BATCH_START;
	s->nl_fd = neigh_open();
	if (s->nl_fd < 0)
		log_warn("netlink socket for neighbour resolution: %s", strerror(errno));
	s->pools = calloc(cfg->n_pools, sizeof(*s->pools));
	s->epoch = now;
	s->deadline = calloc(total, sizeof(*s->deadline));
	if (!s->pools || !s->deadline)
		return -1;
	s->n_pools = cfg->n_pools;
	for (size_t i = 0; i < cfg->n_pools; i++) {
		if (pool_init(&s->pools[i], &cfg->pools[i], first, now))
			return -1;
		first += cfg->pools[i].n_backends;
	}
	return 0;
}

static bool list_push(struct sched_list *l, uint32_t b, uint64_t at)
{
	if (l->n == l->cap) {
		size_t cap = l->cap ? l->cap * 2 : 64;
		struct sched_entry *n = realloc(l->e, cap * sizeof(*n));

		if (!n)
			return false;
		l->e = n;
		l->cap = cap;
	}
	l->e[l->n].b = b;
	l->e[l->n].at = at;
	l->n++;
	return true;
}

static void pace(struct scheduler *s, bool dropped)
{
	if (dropped) {
		s->batch = s->batch / 2 > BATCH_MIN ? s->batch / 2 : BATCH_MIN;
		s->budget = s->budget / 2 > BUDGET_MIN ? s->budget / 2 : BUDGET_MIN;
		s->clean = 0;
		return;
	}
	if (++s->clean < CLEAN_SENDS_TO_GROW)
		return;
	s->clean = 0;
	if (s->batch < BATCH_MAX)
		s->batch++;
	if (s->budget < BUDGET_MAX)
		s->budget += BUDGET_STEP;
}

/*
 * Which frames of a run the device dropped is not known, only how many: every
 * probe of the run is resent unless answered, and until a send of it goes
 * through without drops, its timeout is not held against the backend.
 */
static void flush(struct scheduler *s, uint64_t now)
{
	const uint32_t *q = s->prog->txq->slot;
	unsigned int n = s->nq;
	uint64_t dropped = 0;
	int e;

	if (!n)
		return;
	e = programs_send(s->prog, n, s->batch, &dropped);
	s->nq = 0;
	s->st.runs++;
	if (e) {
		s->st.send_errors++;
		log_warn("BPF_PROG_RUN(probe_rx/probe_tx) failed: %s", strerror(-e));
		dropped = n;
	}
	s->st.tx_dropped += dropped;
	for (unsigned int i = 0; i < n; i++) {
		struct xdphc_slot *slot = &s->prog->slots[q[i]];

		if (!dropped) {
			slot->flags &= ~XDPHC_SLOT_F_UNSURE;
			continue;
		}
		slot->flags |= XDPHC_SLOT_F_UNSURE;
		list_push(&s->resend, q[i], now + RESEND_NS);
	}
	pace(s, dropped);
}

static void queue(struct scheduler *s, uint32_t b, uint64_t now)
{
	s->prog->txq->slot[s->nq++] = b;
	s->st.frames++;
	if (s->nq == XDPHC_TXQ_SIZE)
		flush(s, now);
}

/* A new probe: a new generation, so answers to older ones count as stale. */
static void queue_probe(struct scheduler *s, uint32_t b, uint64_t now)
{
	struct xdphc_slot *slot = &s->prog->slots[b];

	slot->gen++;
	slot->result = 0;
	slot->flags &= ~XDPHC_SLOT_F_RESEND;
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
	if (neigh_request4(s->nl_fd, s->prog->ifindex, nexthop))
		log_debug("neighbour request failed: %s", strerror(errno));
}

static void fill(struct probe_outcome *o, bool ok, uint8_t reason)
{
	memset(o, 0, sizeof(*o));
	o->ok = ok;
	o->reason = reason;
}

static enum verdict classify(struct scheduler *s, uint32_t b, uint64_t now,
			     struct probe_outcome *o)
{
	struct xdphc_slot *slot = &s->prog->slots[b];
	bool expired = deadline_passed(s, b, now);
	uint64_t r;

	if (!answered(slot, &r)) {
		if (!expired)
			return V_PENDING;
		if (slot->flags & XDPHC_SLOT_F_UNSURE) {
			/* We may never have delivered it: not the backend's timeout. */
			s->st.lost++;
			return V_SKIP;
		}
		fill(o, false, XDPHC_REASON_TIMEOUT);
		s->st.timeouts++;
		return V_FINAL;
	}
	switch (XDPHC_RESULT_KIND(r)) {
	case XDPHC_RES_SYNACK:
		fill(o, true, XDPHC_REASON_OK);
		o->rtt_us = slot->t;	/* probe_rx's RTT, written before result */
		return V_FINAL;
	case XDPHC_RES_RST:
		fill(o, false, XDPHC_REASON_REFUSED);
		return V_FINAL;
	case XDPHC_RES_ICMP:
		fill(o, false, XDPHC_REASON_UNREACHABLE);
		o->icmp_type = XDPHC_RESULT_TYPE(r);
		o->icmp_code = XDPHC_RESULT_CODE(r);
		return V_FINAL;
	case XDPHC_RES_TX_NO_NEIGH:
		ask_neigh(s, slot->t, now);	/* the next hop that had no neighbour */
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

static void retry_push(struct scheduler *s, uint32_t b, uint64_t now)
{
	if (!list_push(&s->retry, b, now + RETRY_MIN_NS)) {
		s->deadline[b] = 0;
		return;
	}
	s->st.retries++;
}

static void finish(struct scheduler *s, uint32_t b, enum verdict v,
		   const struct probe_outcome *o)
{
	s->deadline[b] = 0;
	if (v == V_FINAL)
		s->cb(s->cb_ctx, b, o);
}

static void harvest_pool(struct scheduler *s, struct sched_pool *sp, uint64_t now)
{
	struct probe_outcome o;

	while (sp->len) {
		uint32_t b = sp->fifo[sp->head];
		enum verdict v = classify(s, b, now, &o);

		if (v == V_PENDING)
			break;
		sp->head = (sp->head + 1) % sp->n;
		sp->len--;
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
		struct xdphc_slot *slot = &s->prog->slots[en.b];
		uint64_t r;

		if (en.at > now) {
			l->e[keep++] = en;
			continue;
		}
		if (!s->deadline[en.b] || deadline_passed(s, en.b, now) || answered(slot, &r))
			continue;
		s->st.resent++;
		slot->flags |= XDPHC_SLOT_F_RESEND;
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
		due = sp->n;
	} else {
		due = (uint64_t)((unsigned __int128)sp->n * elapsed / sp->interval_ns) + 1;
		if (due > sp->n)
			due = sp->n;
	}
	while (sp->cursor < due && *budget) {
		uint32_t b = sp->order[sp->cursor++];

		if (s->deadline[b])
			continue;	/* still in flight: never two probes at once */
		set_deadline(s, b, now + sp->timeout_ns);
		sp->fifo[(sp->head + sp->len) % sp->n] = b;
		sp->len++;
		sp->probes++;
		queue_probe(s, b, now);
		(*budget)--;
	}
	s->behind_now += due - sp->cursor;
	if (sp->cursor == sp->n)
		next_cycle(sp, now);
}

void sched_tick(struct scheduler *s, uint64_t now)
{
	unsigned int budget = s->budget;

	s->behind_now = 0;
	for (size_t i = 0; i < s->n_pools; i++)
		harvest_pool(s, &s->pools[i], now);
	run_retries(s, now);
	run_resends(s, now);
	for (size_t i = 0; i < s->n_pools; i++)
		issue_pool(s, &s->pools[i], now, &budget);
	flush(s, now);
	s->st.behind = s->behind_now;
	if (s->behind_now > s->st.behind_max)
		s->st.behind_max = s->behind_now;
}

void sched_free(struct scheduler *s)
{
	if (!s->pools)
		return;
	for (size_t i = 0; i < s->n_pools; i++) {
		free(s->pools[i].order);
		free(s->pools[i].fifo);
	}
	free(s->pools);
	free(s->deadline);
	free(s->retry.e);
	free(s->resend.e);
	neigh_close(s->nl_fd);
	memset(s, 0, sizeof(*s));
}
