// SPDX-License-Identifier: MIT
/*
 * TCP send/expect checks against real loopback sockets: the outcome of
 * each kind of reply, the deadline, and a check not started.
 */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include "check.h"
#include "clock.h"
#include "conncheck.h"
#include "scheduler.h"

enum srv_mode { SRV_PONG, SRV_ERR, SRV_ERR_OPEN, SRV_CLOSE, SRV_SILENT, SRV_LATE_PONG };

struct server {
	int fd;
	uint16_t port;			/* network order */
	enum srv_mode mode;
	pthread_t thread;
};

static void serve_one(int c, enum srv_mode mode)
{
	char buf[64];

	if (mode == SRV_CLOSE)
		return;
	if (mode == SRV_SILENT) {
		usleep(700 * 1000);	/* past every deadline here */
		return;
	}
	if (read(c, buf, sizeof(buf)) <= 0)
		return;
	if (mode == SRV_PONG) {
		(void)!write(c, "+PONG\r\n", 7);
	} else if (mode == SRV_LATE_PONG) {
		/* The expected reply in two writes: +PO, then NG. */
		(void)!write(c, "+PO", 3);
		usleep(5000);
		(void)!write(c, "NG\r\n", 4);
	} else {
		(void)!write(c, "-ERR unknown\r\n", 14);
	}
	/* Like redis, keep the connection open: the reply alone must decide. */
	usleep(mode == SRV_ERR_OPEN ? 400 * 1000 : 20 * 1000);
}

static void *serve(void *arg)
{
	struct server *s = arg;
	int c;

	while ((c = accept(s->fd, NULL, NULL)) >= 0) {
		serve_one(c, s->mode);
		close(c);
	}
	return NULL;
}

static int listen_any(uint16_t *port)
{
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t len = sizeof(a);
	int fd = socket(AF_INET, SOCK_STREAM, 0);

	if (fd < 0 || bind(fd, (struct sockaddr *)&a, sizeof(a)) ||
	    getsockname(fd, (struct sockaddr *)&a, &len))
		return -1;
	*port = a.sin_port;
	return fd;
}

static bool server_start(struct server *s, enum srv_mode mode)
{
	s->mode = mode;
	s->fd = listen_any(&s->port);
	return s->fd >= 0 && !listen(s->fd, 16) && !pthread_create(&s->thread, NULL, serve, s);
}

static void server_stop(struct server *s)
{
	shutdown(s->fd, SHUT_RDWR);
	pthread_join(s->thread, NULL);
	close(s->fd);
}

struct rig {
	struct pool_cfg pool;
	struct config cfg;
	struct xdphc_slot slot[8];
	struct slots slots;
	struct conncheck cc;
};

static bool rig_init(struct rig *r, const char *send, const char *expect)
{
	char err[128];

	memset(r, 0, sizeof(*r));
	snprintf(r->pool.name, sizeof(r->pool.name), "redis");
	r->pool.max_backends = 8;
	r->pool.hc.protocol = HC_PROTO_TCP;
	r->pool.hc.timeout_ms = 200;
	r->pool.hc.send.len = (uint16_t)strlen(send);
	memcpy(r->pool.hc.send.b, send, strlen(send));
	r->pool.hc.expect.len = (uint16_t)strlen(expect);
	memcpy(r->pool.hc.expect.b, expect, strlen(expect));
	r->cfg.pools = &r->pool;
	r->cfg.n_pools = 1;
	r->slots.s = r->slot;
	r->slots.n = 8;
	return !conncheck_init(&r->cc, &r->cfg, &r->slots, err, sizeof(err));
}

static void target(struct rig *r, uint32_t b, uint16_t port)
{
	r->slot[b].family = AF_INET;
	r->slot[b].addr[0] = htonl(INADDR_LOOPBACK);
	r->slot[b].port = port;
}

/* Check b until it ends or max_ms pass; whether it ended. */
static bool run(struct rig *r, uint32_t b, struct probe_outcome *o, bool *lost, int max_ms)
{
	uint64_t t0 = mono_ns();

	conncheck_start(&r->cc, 0, b, t0);
	while (mono_ns() - t0 < (uint64_t)max_ms * 1000000ULL) {
		conncheck_wait(&r->cc, mono_ns() + 1000000ULL);
		if (conncheck_result(&r->cc, 0, b, o, lost))
			return true;
	}
	return false;
}

static void outcome_of(enum srv_mode mode, uint8_t reason)
{
	struct server s;
	struct rig r;
	struct probe_outcome o;
	bool lost = true;

	check_context("server mode %d", mode);
	if (!server_start(&s, mode) || !rig_init(&r, "PING\r\n", "+PONG")) {
		CHECK_MSG(0, "loopback server or rig");
		return;
	}
	target(&r, 3, s.port);
	CHECK(run(&r, 3, &o, &lost, 150));
	CHECK(!lost);
	CHECK_INT(o.reason, reason);
	CHECK(o.ok == (reason == XDPHC_REASON_OK));
	CHECK_UINT(r.cc.st.connections, 1);
	conncheck_free(&r.cc);
	server_stop(&s);
	check_context("%s", "");
}

static void refused(void)
{
	struct probe_outcome o;
	struct rig r;
	uint16_t port;
	bool lost = true;
	int fd = listen_any(&port);

	close(fd);	/* bound, never listening: nobody is there */
	CHECK(rig_init(&r, "PING\r\n", "+PONG"));
	target(&r, 0, port);
	CHECK(run(&r, 0, &o, &lost, 150));
	CHECK_INT(o.reason, XDPHC_REASON_REFUSED);
	CHECK(!lost && !o.ok);
	conncheck_free(&r.cc);
}

/* A server in mode, and a rig whose backend b is that server. */
static void setup(struct server *s, struct rig *r, enum srv_mode mode, const char *send,
		  const char *expect, uint32_t b)
{
	CHECK(server_start(s, mode) && rig_init(r, send, expect));
	target(r, b, s->port);
}

/* Connected but silent: nothing ends it; at its deadline the path worked. */
static void silent_until_cancelled(void)
{
	struct server s;
	struct rig r;
	struct probe_outcome o;
	bool lost;

	setup(&s, &r, SRV_SILENT, "PING\r\n", "+PONG", 1);
	CHECK(!run(&r, 1, &o, &lost, 80));
	CHECK(conncheck_cancel(&r.cc, 0, 1));
	CHECK(!conncheck_result(&r.cc, 0, 1, &o, &lost));
	conncheck_free(&r.cc);
	server_stop(&s);
}

/* send alone: written in full is enough. */
static void send_only(void)
{
	struct server s;
	struct rig r;
	struct probe_outcome o;
	bool lost;

	setup(&s, &r, SRV_PONG, "PING\r\n", "", 2);
	CHECK(run(&r, 2, &o, &lost, 150));
	CHECK_INT(o.reason, XDPHC_REASON_OK);
	conncheck_free(&r.cc);
	server_stop(&s);
}

static void count(void *ctx, uint32_t b, const struct probe_outcome *o)
{
	(void)b;
	(void)o;
	(*(unsigned int *)ctx)++;
}

/* Tick and wait a millisecond at a time until cond or max_ms pass. */
#define TICK_UNTIL(sc, r, cond, max_ms)                                                  \
	for (uint64_t t0_ = mono_ns(); !(cond) && mono_ns() - t0_ < (max_ms) * 1000000ULL;) { \
		sched_tick(sc, mono_ns());                                               \
		conncheck_wait(&(r)->cc, mono_ns() + 1000000ULL);                        \
	}

/*
 * The scheduler over a send/expect pool whose backend never answers: tick
 * by tick each check is a timeout.  A check the engine stalled through
 * (no tick for longer than its timeout) is lost, not held against the
 * backend, but only once in a row: the next stalled one is a timeout.
 */
static void stalls(unsigned int n)
{
	struct sender tx = { .batch_fd = -1 };
	struct scheduler sc;
	struct server s;
	struct rig r;
	unsigned int outcomes = 0;

	setup(&s, &r, SRV_SILENT, "PING\r\n", "+PONG", 0);
	r.pool.n_backends = 1;
	r.pool.hc.interval_ms = r.pool.hc.unhealthy_interval_ms = 400;
	r.pool.hc.transition_interval_ms = 400;
	tx.txq = calloc(1, sizeof(*tx.txq));
	CHECK(tx.txq && !sched_init(&sc, &r.cfg, &r.slots, &tx, mono_ns(), count, &outcomes));
	sched_set_conncheck(&sc, &r.cc);
	check_context("%u stalls", n);
	for (unsigned int i = 1; i <= (n ? n : 1); i++) {
		TICK_UNTIL(&sc, &r, sc.pools[0].probes == i, 1000);
		CHECK_UINT(sc.pools[0].probes, i);
		if (n)
			conncheck_wait(&r.cc, mono_ns() + 300000000ULL);	/* 300 ms, no tick */
		TICK_UNTIL(&sc, &r, outcomes + sc.st.lost == i, 500);
	}
	/* Stalled once: lost; twice in a row: lost, then a timeout. */
	CHECK_UINT(sc.st.stalled, n ? 1 : 0);
	CHECK_UINT(outcomes, n == 1 ? 0 : 1);
	check_context("%s", "");
	sched_free(&sc);
	free(tx.txq);
	conncheck_free(&r.cc);
	server_stop(&s);
}

void suite_conncheck(void)
{
	outcome_of(SRV_PONG, XDPHC_REASON_OK);
	outcome_of(SRV_LATE_PONG, XDPHC_REASON_OK);
	outcome_of(SRV_ERR, XDPHC_REASON_MISMATCH);
	outcome_of(SRV_ERR_OPEN, XDPHC_REASON_MISMATCH);
	outcome_of(SRV_CLOSE, XDPHC_REASON_BAD_REPLY);
	refused();
	silent_until_cancelled();
	send_only();
	stalls(0);
	stalls(1);
	stalls(2);
}
