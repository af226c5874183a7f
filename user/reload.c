// SPDX-License-Identifier: MIT
#include <malloc.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <sys/resource.h>
#include <sys/syscall.h>

#include "clock.h"
#include "log.h"
#include "nexthop.h"
#include "reload.h"
#include "udpcheck.h"
#include "icmplimit.h"
#include "vec.h"

#define NS_PER_MS 1000000ULL
/*
 * Work a tick does for a reload at most: at a million backends a tick is
 * about a millisecond, and the scheduler makes up for a late one, so two
 * keep the schedule lag in single milliseconds.
 */
#define SLICE_NS (2 * NS_PER_MS)
#define SLICE_CHECK 16			/* operations between two looks at the clock */
/*
 * A reload's big arrays (the new file's backend list, the index of the
 * running keys: tens of MiB at a million backends) are made on the plan's
 * thread.  glibc would serve them from that thread's arena once the start
 * had freed a list that large (its mmap threshold grows with each large
 * free), and keep them there after the reload; above a fixed threshold
 * they are mmap-ed, and freeing them gives the memory back.
 */
#define MMAP_THRESHOLD (256 * 1024)
#define PLAN_NICE 10

/* ---- lists ---------------------------------------------------------------- */

static int push(struct id_list *l, uint32_t id, uint16_t gen)
{
	if (vec_room((void **)&l->v, &l->cap, l->n, sizeof(*l->v)))
		return -1;
	l->v[l->n++] = (struct id_gen){ .id = id, .gen = gen };
	return 0;
}

static void list_free(struct id_list *l)
{
	free(l->v);
	memset(l, 0, sizeof(*l));
}

/* Still the backend the plan saw: a drain may have ended since. */
static bool same_backend(const struct reload *rl, const struct id_gen *ig)
{
	const struct roster *r = rl->env.roster;

	return roster_used(r, ig->id) && roster_gen(r, ig->id) == ig->gen;
}

/* Whether the slice is used up; every SLICE_CHECK calls it looks at the clock. */
static bool slice_over(unsigned int *k, uint64_t t0)
{
	return (++*k % SLICE_CHECK) == 0 && mono_ns() - t0 >= SLICE_NS;
}

/* ---- start and end -------------------------------------------------------- */

void reload_init(struct reload *rl, const struct reload_env *env, uint64_t start_real)
{
	memset(rl, 0, sizeof(*rl));
	rl->env = *env;
	rl->last_ok = true;
	mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD);
	rl->ok_real_ns = start_real;	/* the config loaded at start is the first good one */
}

static void *plan_thread(void *arg)
{
	struct reload *rl = arg;

	/*
	 * Reading a million lines is a second of CPU: when the cores are
	 * busy, the probes' tick comes first (nice is per thread on Linux).
	 */
	setpriority(PRIO_PROCESS, (id_t)syscall(SYS_gettid), PLAN_NICE);
	rl->plan_ret = reload_plan(&rl->plan, rl->env.cfg->path, &rl->lv);
	__atomic_store_n(&rl->planned, 1, __ATOMIC_RELEASE);
	return NULL;
}

static void end(struct reload *rl, bool ok, const char *msg)
{
	reload_plan_free(&rl->plan);
	list_free(&rl->removes);
	list_free(&rl->unmarks);
	rl->phase = RELOAD_IDLE;
	if (ok)
		rl->ok_real_ns = real_ns();
	else
		rl->failures++;
	rl->last_ok = ok;
	/* The plan held the new file's million keys for a moment. */
	malloc_trim(0);
	if (rl->done)
		rl->done(rl->done_ctx, ok, msg);
}

__attribute__((format(printf, 2, 3)))
static void refuse(struct reload *rl, const char *fmt, ...)
{
	char msg[3 * CONFIG_ERR_LEN];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	log_err("reload refused, the running configuration stays: %s", msg);
	end(rl, false, msg);
}

bool reload_start(struct reload *rl, bool reset, reload_done_fn done, void *ctx,
		  uint64_t now_mono)
{
	const struct reload_env *env = &rl->env;

	if (reload_busy(rl))
		return false;
	rl->reloads++;
	rl->reset = reset;
	rl->done = done;
	rl->done_ctx = ctx;
	rl->t0 = now_mono;
	memset(&rl->c, 0, sizeof(rl->c));
	rl->next_add = 0;
	rl->rekey_pool = 0;
	rl->rekey_id = 0;
	rl->lv = (struct live_view){
		.cfg = env->cfg, .st = env->roster->env.st, .used = env->roster->used,
		.n = env->n, .dels = &env->rt->dels, .reset = reset, .nif = env->nif,
	};
	rl->planned = 0;
	rl->phase = RELOAD_PLANNING;
	log_info("reload: reading %s%s", env->cfg->path,
		 reset ? " without the runtime changes (runtime reset)" : "");
	if (pthread_create(&rl->thread, NULL, plan_thread, rl)) {
		refuse(rl, "cannot start a thread to read the config");
		return true;
	}
	return true;
}

/* ---- commit: what the result would be, and whether it fits --------------- */

struct tally {
	uint32_t *count;		/* per pool (running, then new): backends after the reload */
	uint32_t *runtime;		/* of them, added at runtime */
	struct id_list clears;		/* runtime backends the file now lists */
};

/* What happens to id of running pool p; false when out of memory. */
static bool judge(struct reload *rl, struct tally *t, uint32_t p, uint32_t id)
{
	const struct reload_plan *pl = &rl->plan;
	struct health h = rl->env.health[id];
	uint16_t gen = roster_gen(rl->env.roster, id);
	bool runtime = health_has(h, HEALTH_F_RUNTIME), keep;

	if (pl->gone[p])
		keep = false;
	else if (plan_bit(pl->seen, id))
		keep = true;
	else
		keep = runtime && !rl->reset;
	if (keep && runtime && plan_bit(pl->seen, id) && push(&t->clears, id, gen))
		return false;
	if (!keep)
		return !push(&rl->removes, id, gen);
	t->count[p]++;
	t->runtime[p] += runtime && !plan_bit(pl->seen, id);
	if (rl->reset && (health_has(h, HEALTH_F_DRAIN) || health_state(h) == XDPHC_STATE_MAINT))
		return !push(&rl->unmarks, id, gen);
	return true;
}

/* Every id in use: kept, or removed. */
static int scan(struct reload *rl, struct tally *t)
{
	const struct config *cfg = rl->env.cfg;
	const uint64_t *used = rl->env.roster->used;

	for (uint32_t p = 0; p < cfg->n_pools; p++) {
		const struct pool_cfg *pc = &cfg->pools[p];
		uint32_t end = pc->first_id + pc->max_backends;

		for (uint32_t id = pc->first_id; pc->name[0] && id < end; id++) {
			if (!(id % 64) && !used[id / 64] && id + 64 <= end) {
				id += 63;	/* a word of free ids */
				continue;
			}
			if (id_used(used, id) && !judge(rl, t, p, id))
				return -1;
		}
	}
	for (size_t i = 0; i < rl->plan.n_adds; i++)
		if (!rl->plan.adds[i].deleted || rl->reset)
			t->count[rl->plan.adds[i].pool]++;
	return 0;
}

static uint32_t capacity_of(const struct reload *rl, uint32_t p)
{
	const struct config *cfg = rl->env.cfg;

	if (p < cfg->n_pools)
		return cfg->pools[p].max_backends;
	for (size_t q = 0; q < rl->plan.next.n_pools; q++)
		if (rl->plan.pools[q].live == p)
			return rl->plan.next.pools[q].max_backends;
	return 0;
}

/* Every pool's backends fit its ids: they were laid out at start. */
static int check_fit(struct reload *rl, const struct tally *t)
{
	for (size_t q = 0; q < rl->plan.next.n_pools; q++) {
		uint32_t p = rl->plan.pools[q].live, cap = capacity_of(rl, p);
		char at[CONFIG_WHERE_LEN];

		if (t->count[p] <= cap)
			continue;
		refuse(rl, "pool '%s' (%s) would have %u backends (%u of them added at runtime), "
		       "more than the %u ids it got at start (max_backends): needs a restart",
		       rl->plan.next.pools[q].name,
		       config_pool_where(&rl->plan.next, q, CFG_POOL_NAME, at, sizeof(at)),
		       t->count[p], t->runtime[p], cap);
		return -1;
	}
	return 0;
}

/* A new event_log opens before anything changes: it may fail. */
static int open_event_log(struct reload *rl, struct eventlog *el, bool *changed)
{
	const struct config *next = &rl->plan.next;
	char err[512], at[CONFIG_WHERE_LEN];

	*changed = strcmp(next->event_log, rl->env.cfg->event_log) != 0;
	memset(el, 0, sizeof(*el));
	if (!*changed || !eventlog_open(el, next->event_log, err, sizeof(err)))
		return 0;
	refuse(rl, "%s: %s", config_where(next, CFG_EVENT_LOG, at, sizeof(at)), err);
	return -1;
}

/* ---- commit: the settings ------------------------------------------------- */

/* A running pool takes the new file's settings; its ids and backends stay. */
static void retune(struct reload *rl, uint32_t p, const struct pool_cfg *np, uint64_t now)
{
	struct pool_cfg *pc = &rl->env.cfg->pools[p];
	struct pool_cfg was = *pc;

	*pc = *np;
	pc->first = was.first;
	pc->n_backends = was.n_backends;
	pc->first_id = was.first_id;
	pc->max_backends = was.max_backends;
	/* Shorter: nothing under way lasts longer than a new one would. */
	if (pc->deregistration_delay_ms < was.deregistration_delay_ms ||
	    pc->grace_period_ms < was.grace_period_ms)
		roster_cap_timers(rl->env.roster, p, now + pc->deregistration_delay_ms * NS_PER_MS,
				  now + pc->grace_period_ms * NS_PER_MS);
	poolview_describe(&rl->env.pools[p], pc);
	rl->c.pools_changed++;
}

/* A new pool, after the running ones: the next pool id, ids from the spare ones. */
static int add_pool(struct reload *rl, size_t q)
{
	struct config *cfg = rl->env.cfg;
	struct pool_cfg pc = rl->plan.next.pools[q];
	uint32_t p = (uint32_t)cfg->n_pools;
	struct metrics_pool *mp = realloc(*rl->env.mp, (p + 1) * sizeof(*mp));
	struct pool_cfg *pools = realloc(cfg->pools, (p + 1) * sizeof(*pools));

	if (mp)
		*rl->env.mp = mp;
	if (pools)
		cfg->pools = pools;
	if (!mp || !pools)
		return -1;
	memset(&mp[p], 0, sizeof(mp[p]));
	pc.first = 0;
	pc.n_backends = 0;
	pc.first_id = rl->plan.pools[q].first_id;
	pools[p] = pc;
	if (roster_add_pool(rl->env.roster, pc.first_id, pc.max_backends) ||
	    poolview_add_pool(rl->env.view, pc.first_id, pc.max_backends))
		return -1;
	poolview_describe(&rl->env.pools[p], &pc);
	cfg->n_pools++;
	rl->c.pools_added++;
	return 0;
}

static int apply_pools(struct reload *rl, uint64_t now)
{
	for (size_t q = 0; q < rl->plan.next.n_pools; q++) {
		const struct plan_pool *pp = &rl->plan.pools[q];

		if (pp->is_new && add_pool(rl, q))
			return -1;
		if (!pp->is_new && pp->changed)
			retune(rl, pp->live, &rl->plan.next.pools[q], now);
	}
	if (rl->env.roster->env.breaker && breaker_reload(rl->env.roster->env.breaker, rl->env.cfg))
		return -1;
	if (udpcheck_publish(rl->env.udp_fd, rl->env.cfg))
		return -1;
	return sched_reload(rl->env.sched, rl->env.cfg, now);
}

static void apply_top(struct reload *rl, struct eventlog *el, bool log_changed)
{
	struct config *cfg = rl->env.cfg;
	const struct config *next = &rl->plan.next;

	if (log_changed) {
		eventlog_close(rl->env.events);
		*rl->env.events = *el;
		snprintf(cfg->event_log, sizeof(cfg->event_log), "%s", next->event_log);
		log_info("reload: event_log is now %s", next->event_log[0] ? next->event_log :
			 "off");
	}
	cfg->max_down_ppm = next->max_down_ppm;
	if (strcmp(cfg->state_file, next->state_file)) {
		snprintf(cfg->state_file, sizeof(cfg->state_file), "%s", next->state_file);
		runtime_set_path(rl->env.rt, next->state_file);
		log_info("reload: state_file is now %s", next->state_file[0] ?
			 next->state_file : "none");
	}
}

/* The file now lists them: backends like the others, out of the overlay. */
static void clear_runtime(struct reload *rl, const struct id_list *clears)
{
	for (size_t i = 0; i < clears->n; i++)
		health_set(&rl->env.health[clears->v[i].id], HEALTH_F_RUNTIME, false);
	runtime_keep_dels(rl->env.rt, rl->reset ? NULL : rl->plan.del_listed);
	rl->env.rt->dirty = true;
}

static void commit(struct reload *rl, uint64_t now)
{
	size_t np = rl->env.cfg->n_pools + rl->plan.n_new;
	struct tally t = { .count = calloc(np, sizeof(*t.count)),
			   .runtime = calloc(np, sizeof(*t.runtime)) };
	struct eventlog el;
	bool log_changed = false;

	rl->t_commit = now;
	if (!t.count || !t.runtime || scan(rl, &t))
		refuse(rl, "out of memory");
	else if (!check_fit(rl, &t) && !open_event_log(rl, &el, &log_changed)) {
		apply_top(rl, &el, log_changed);
		clear_runtime(rl, &t.clears);
		rl->c.runtime_kept = 0;
		for (size_t p = 0; p < np; p++)
			rl->c.runtime_kept += t.runtime[p];
		if (apply_pools(rl, now))
			log_err("reload: out of memory adding pools; the reload goes on without "
				"them");
		rl->phase = RELOAD_REMOVING;
	}
	free(t.count);
	free(t.runtime);
	list_free(&t.clears);
}

/* ---- apply, a slice a tick ------------------------------------------------ */

/* Pools the file no longer has, once their backends are gone: ids unused till a restart. */
static void retire_pools(struct reload *rl)
{
	struct config *cfg = rl->env.cfg;

	for (uint32_t p = 0; p < cfg->n_pools; p++) {
		if (!rl->plan.gone[p])
			continue;
		log_info("reload: pool %s removed", cfg->pools[p].name);
		memset(&rl->env.pools[p], 0, sizeof(rl->env.pools[p]));
		cfg->pools[p].name[0] = '\0';
		rl->c.pools_removed++;
	}
}

static bool do_removes(struct reload *rl, uint64_t t0)
{
	struct id_list *l = &rl->removes;
	unsigned int k = 0;

	while (l->next < l->n) {
		const struct id_gen *ig = &l->v[l->next++];

		if (same_backend(rl, ig)) {
			roster_remove(rl->env.roster, ig->id, "config_removed");
			rl->c.removed++;
		}
		if (slice_over(&k, t0))
			return false;
	}
	retire_pools(rl);
	return true;
}

/* runtime reset: no drain, no maintenance. */
static bool do_unmarks(struct reload *rl, uint64_t t0)
{
	struct id_list *l = &rl->unmarks;
	unsigned int k = 0;
	char out[512];

	while (l->next < l->n) {
		const struct id_gen *ig = &l->v[l->next++];
		struct health h = rl->env.health[ig->id];

		if (same_backend(rl, ig) && health_has(h, HEALTH_F_DRAIN))
			roster_drain_at(rl->env.roster, ig->id, false, 0, out, sizeof(out));
		if (same_backend(rl, ig) && health_state(h) == XDPHC_STATE_MAINT)
			roster_maint_id(rl->env.roster, ig->id, false, out, sizeof(out));
		if (slice_over(&k, t0))
			return false;
	}
	return true;
}

/*
 * A new check port: the slot's key changes.  A probe in flight to the old
 * port can no longer be answered, and is not held against its backend.
 */
static void rekey_slot(struct reload *rl, uint32_t id, uint16_t port)
{
	const struct xdphc_backend_key *k = &rl->env.roster->env.st[id].key;
	const struct roster_env *re = &rl->env.roster->env;
	bool busy = sched_busy(rl->env.sched, id);
	char err[256];

	slots_release(rl->env.slots, id);
	slots_claim(rl->env.slots, id, k->family, k->protocol, k->addr, port ? htons(port) : k->port,
		    (uint8_t)rl->env.roster->env.st[id].pool_id);
	if (slots_add(rl->env.slots, id, re->sport_lo, re->sport_count, err, sizeof(err))) {
		log_err("reload: %s; the backend is removed", err);
		roster_remove(rl->env.roster, id, "config_removed");
		rl->c.errors++;
		return;
	}
	slots_mark_unsure(rl->env.slots, id, busy);
	slots_pause(rl->env.slots, id, health_state(rl->env.health[id]) == XDPHC_STATE_MAINT);
	/* Policy rules may route by port: the next hop is looked up again. */
	nexthop_claim(re->nh, id);
}

/*
 * The pool's probes changed: a backend it shared with another pool (probed
 * once for both) is probed apart from now on, and with a new port every
 * slot of the pool gets its new key.
 */
static void rekey(struct reload *rl, const struct plan_pool *pp, uint32_t id)
{
	struct roster *r = rl->env.roster;
	const struct pool_cfg *pc = &rl->env.cfg->pools[pp->live];
	char err[256];

	if (shared_member(&r->shared, id)) {
		if (!roster_unshare(r, id, err, sizeof(err)))
			return;
		log_err("reload: %s; the backend is removed", err);
		roster_remove(r, id, "config_removed");
		rl->c.errors++;
	} else if (pp->port_changed) {
		rekey_slot(rl, id, pc->hc.port);
	}
}

static bool do_rekeys(struct reload *rl, uint64_t t0)
{
	unsigned int k = 0;

	for (; rl->rekey_pool < rl->plan.next.n_pools; rl->rekey_pool++, rl->rekey_id = 0) {
		const struct plan_pool *pp = &rl->plan.pools[rl->rekey_pool];
		const struct pool_cfg *pc = &rl->env.cfg->pools[pp->live];

		if (pp->is_new || !pp->probe_changed)
			continue;
		if (rl->rekey_id < pc->first_id)
			rl->rekey_id = pc->first_id;
		while (rl->rekey_id < pc->first_id + pc->max_backends) {
			uint32_t id = rl->rekey_id++;

			if (roster_used(rl->env.roster, id))
				rekey(rl, pp, id);
			if (slice_over(&k, t0))
				return false;
		}
	}
	return true;
}

/* Ids of pool p freed by this reload, still waiting for their last probe. */
static bool pending_in(const struct roster *r, uint32_t p)
{
	const struct idq *q = &r->pending;

	for (size_t i = 0; i < q->len; i++)
		if (roster_pool_of(r, q->v[(q->head + i) % q->cap]) == p)
			return true;
	return false;
}

static bool do_adds(struct reload *rl, uint64_t t0)
{
	struct roster *r = rl->env.roster;
	unsigned int k = 0;
	char out[512];

	while (rl->next_add < rl->plan.n_adds) {
		const struct plan_add *a = &rl->plan.adds[rl->next_add];

		if (a->deleted && !rl->reset) {
			rl->next_add++;
			continue;
		}
		/* Room was checked: it comes once the removed ids' probes end. */
		if (!r->pools[a->pool].free.len && pending_in(r, a->pool))
			return false;
		rl->next_add++;
		if (roster_insert(r, a->pool, &a->key, a->leader == PLAN_NONE ? -1 :
				  roster_leader_of(r, a->leader), "config_added", out, sizeof(out)) < 0) {
			log_err("reload: %s", out);
			rl->c.errors++;
		} else {
			rl->c.added++;
		}
		if (slice_over(&k, t0))
			return false;
	}
	return true;
}

static void finish(struct reload *rl, uint64_t now)
{
	char msg[512];

	snprintf(msg, sizeof(msg), "reload: +%zu -%zu backends, +%zu -%zu pools, %zu pools "
		 "changed, %zu runtime additions kept, in %.2f s (read %.2f s, compare %.2f s, "
		 "apply %.3f s)%s", rl->c.added, rl->c.removed, rl->c.pools_added,
		 rl->c.pools_removed, rl->c.pools_changed, rl->c.runtime_kept,
		 (double)(now - rl->t0) / 1e9, rl->plan.t_read, rl->plan.t_compare,
		 (double)(now - rl->t_commit) / 1e9,
		 rl->c.errors ? "; some changes failed, see above" : "");
	log_info("%s", msg);
	icmp_limit_warn(rl->env.cfg, rl->env.slots, rl->env.n);
	end(rl, rl->c.errors == 0, msg);
}

void reload_step(struct reload *rl, uint64_t now)
{
	/* The slice starts now, not with the tick: the tick's probes went first. */
	uint64_t t0 = mono_ns();

	switch (rl->phase) {
	case RELOAD_IDLE:
		return;
	case RELOAD_PLANNING:
		if (!__atomic_load_n(&rl->planned, __ATOMIC_ACQUIRE))
			return;
		pthread_join(rl->thread, NULL);
		if (rl->plan_ret)
			refuse(rl, "%s", rl->plan.err);
		else
			commit(rl, now);
		return;
	case RELOAD_REMOVING:
		if (do_removes(rl, t0))
			rl->phase = rl->reset ? RELOAD_UNMARKING : RELOAD_REKEYING;
		return;
	case RELOAD_UNMARKING:
		if (do_unmarks(rl, t0))
			rl->phase = RELOAD_REKEYING;
		return;
	case RELOAD_REKEYING:
		if (do_rekeys(rl, t0))
			rl->phase = RELOAD_ADDING;
		return;
	case RELOAD_ADDING:
		if (do_adds(rl, t0))
			finish(rl, mono_ns());
		return;
	}
}

void reload_free(struct reload *rl)
{
	if (rl->phase == RELOAD_PLANNING)
		pthread_join(rl->thread, NULL);
	rl->done = NULL;
	if (reload_busy(rl))
		end(rl, false, "the engine stopped");
}
