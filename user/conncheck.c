// SPDX-License-Identifier: MIT
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/epoll.h>
#include <sys/resource.h>

#include "clock.h"
#include "conncheck.h"
#include "http.h"
#include "log.h"
#include "tcpcheck.h"

#define EVENTS_PER_WAIT 256
#define READY_ROUNDS 16
#define WARN_EVERY_NS 1000000000ULL

static bool is_http(const struct hc_config *hc)
{
	return hc->protocol == HC_PROTO_HTTP || hc->protocol == HC_PROTO_HTTPS;
}

/*
 * Every kept-alive connection is a descriptor: take all the process may
 * have.  Returns the limit in force.
 */
static uint32_t raise_fd_limit(void)
{
	struct rlimit rl;

	if (getrlimit(RLIMIT_NOFILE, &rl))
		return 1024;
	if (rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		if (setrlimit(RLIMIT_NOFILE, &rl))
			getrlimit(RLIMIT_NOFILE, &rl);
	}
	return rl.rlim_cur > UINT32_MAX ? UINT32_MAX : (uint32_t)rl.rlim_cur;
}

static int pool_init(struct conncheck *c, uint32_t p, char *err, size_t errlen)
{
	const struct pool_cfg *pc = &c->cfg->pools[p];
	struct cc_pool *cp = &c->pools[p];

	memset(cp, 0, sizeof(*cp));
	cp->first = pc->first_id;
	cp->n = pc->max_backends;
	if (!hc_is_connection(&pc->hc))
		return 0;
	c->any = true;
	if (!(cp->chk = calloc(cp->n ? cp->n : 1, sizeof(*cp->chk)))) {
		snprintf(err, errlen, "out of memory for pool %s's checks", pc->name);
		return -1;
	}
	if (!is_http(&pc->hc))
		return 0;
	if (http_init(c, err, errlen))
		return -1;
	if (http_pool_setup(c, p)) {
		snprintf(err, errlen, "out of memory for pool %s's HTTP requests", pc->name);
		return -1;
	}
	return 0;
}

static int add_pools(struct conncheck *c, char *err, size_t errlen)
{
	struct cc_pool *pools;

	if (c->cfg->n_pools <= c->n_pools)
		return 0;
	pools = realloc(c->pools, c->cfg->n_pools * sizeof(*pools));
	if (!pools) {
		snprintf(err, errlen, "out of memory for %zu pools", c->cfg->n_pools);
		return -1;
	}
	c->pools = pools;
	for (size_t p = c->n_pools; p < c->cfg->n_pools; p++) {
		if (hc_is_connection(&c->cfg->pools[p].hc) && c->ep < 0 &&
		    (c->ep = epoll_create1(EPOLL_CLOEXEC)) < 0) {
			snprintf(err, errlen, "epoll_create1: %s", strerror(errno));
			return -1;
		}
		if (!c->st.fd_limit && hc_is_connection(&c->cfg->pools[p].hc))
			c->st.fd_limit = raise_fd_limit();
		if (pool_init(c, (uint32_t)p, err, errlen))
			return -1;
		c->n_pools = p + 1;
	}
	return 0;
}

int conncheck_init(struct conncheck *c, const struct config *cfg, struct slots *slots,
		   char *err, size_t errlen)
{
	memset(c, 0, sizeof(*c));
	c->cfg = cfg;
	c->slots = slots;
	c->ep = -1;
	c->epoch = 1;
	if (add_pools(c, err, errlen))
		return -1;
	if (c->http)
		log_info("HTTP checks: file descriptor limit %u, kept-alive connections for up "
			 "to %u backends (the rest connect per check)", c->st.fd_limit,
			 c->st.keepalive_budget);
	return 0;
}

int conncheck_reload(struct conncheck *c)
{
	char err[128];

	c->epoch++;
	for (size_t p = 0; p < c->n_pools; p++)
		if (c->pools[p].http && http_pool_setup(c, (uint32_t)p))
			return -1;
	if (add_pools(c, err, sizeof(err))) {
		log_err("reload: %s", err);
		return -1;
	}
	return 0;
}

static bool pool_http(const struct conncheck *c, uint32_t p)
{
	return c->pools[p].http != NULL;
}

void conncheck_free(struct conncheck *c)
{
	for (size_t p = 0; p < c->n_pools; p++) {
		struct cc_pool *cp = &c->pools[p];

		for (uint32_t i = 0; cp->chk && i < cp->n; i++) {
			if (pool_http(c, (uint32_t)p))
				http_forget(c, &cp->chk[i]);
			else
				(void)tcpcheck_cancel(c, &cp->chk[i]);
		}
		free(cp->chk);
		http_pool_free(cp->http);
	}
	free(c->pools);
	http_free(c);
	if (c->ep >= 0)
		close(c->ep);
	memset(c, 0, sizeof(*c));
	c->ep = -1;
}

void conncheck_start(struct conncheck *c, uint32_t p, uint32_t b, uint64_t now)
{
	struct cc_check *k = conncheck_of(c, p, b);

	k->phase = CC_RUNNING;
	k->lost = false;
	k->reached = false;
	k->fail_fast = false;
	k->detail = 0;
	k->rtt_us = 0;
	k->started = now;
	c->st.started++;
	if (pool_http(c, p))
		http_start(c, p, b, k);
	else
		tcpcheck_start(c, p, b, k);
}

void conncheck_done(struct conncheck *c, struct cc_check *k, uint8_t reason, uint16_t detail)
{
	k->phase = CC_DONE;
	k->reason = reason;
	k->detail = detail;
	c->st.done++;
}

void conncheck_lost(struct conncheck *c, struct cc_check *k, const char *what, int err)
{
	uint64_t now = mono_ns();

	k->lost = true;
	c->st.lost++;
	conncheck_done(c, k, XDPHC_REASON_NONE, 0);
	if (now - c->last_warn < WARN_EVERY_NS)
		return;
	c->last_warn = now;
	log_warn("connection check not started: %s: %s (%llu such so far; not held against "
		 "the backends)", what, strerror(err), (unsigned long long)c->st.lost);
}

bool conncheck_result(struct conncheck *c, uint32_t p, uint32_t b, struct probe_outcome *o,
		      bool *lost)
{
	struct cc_check *k = conncheck_of(c, p, b);

	if (k->phase != CC_DONE)
		return false;
	k->phase = CC_IDLE;
	memset(o, 0, sizeof(*o));
	*lost = k->lost;
	o->reason = k->reason;
	o->ok = k->reason == XDPHC_REASON_OK;
	o->fail_fast = k->fail_fast;
	o->reached = k->reached || o->reason != XDPHC_REASON_TIMEOUT;
	o->detail = k->detail;
	o->rtt_us = k->rtt_us;
	return true;
}

bool conncheck_cancel(struct conncheck *c, uint32_t p, uint32_t b)
{
	struct cc_check *k = conncheck_of(c, p, b);
	bool reached;

	if (k->phase != CC_RUNNING) {
		k->phase = CC_IDLE;
		return false;
	}
	reached = pool_http(c, p) ? http_cancel(c, k) : tcpcheck_cancel(c, k);
	k->phase = CC_IDLE;
	return reached;
}

static void dispatch(struct conncheck *c, const struct epoll_event *ev)
{
	if (ev->data.u64 >> CC_TAG_SHIFT == CC_TAG_CURL)
		http_socket_ready(c, ev->data.u64, ev->events);
	else
		tcpcheck_ready(c, ev->data.u64, ev->events);
}

/* Every socket that is ready now, in batches; at most a few rounds. */
static void take_ready(struct conncheck *c)
{
	struct epoll_event ev[EVENTS_PER_WAIT];
	int n = EVENTS_PER_WAIT;

	for (int round = 0; round < READY_ROUNDS && n == EVENTS_PER_WAIT; round++) {
		n = epoll_wait(c->ep, ev, EVENTS_PER_WAIT, 0);
		for (int i = 0; i < n; i++)
			dispatch(c, &ev[i]);
	}
}

static void sleep_until(uint64_t t)
{
	struct timespec ts = { .tv_sec = t / 1000000000ULL, .tv_nsec = t % 1000000000ULL };

	clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL);
}

/*
 * Checks move on once a tick, in a batch: waking for each socket event
 * (two or more a check) would cost a context switch each, and on a
 * 2-vCPU VM those were a third of the engine's time at 2,000 checks/s.
 * A check's steps wait a tick at most (1 ms or less).
 */
void conncheck_wait(struct conncheck *c, uint64_t until)
{
	http_run_timers(c, mono_ns());	/* the checks this tick started */
	sleep_until(until);
	take_ready(c);
	http_run_timers(c, mono_ns());
}
