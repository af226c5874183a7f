/* SPDX-License-Identifier: MIT */
/*
 * Connection checks: the checks that need a real connection from
 * userspace (HTTP and HTTPS through libcurl's multi socket interface, TCP
 * send/expect on plain non-blocking sockets), on the scheduler the SYN
 * probes use.  One epoll set carries every socket of every check; the
 * engine's loop waits on it between ticks (conncheck_wait) instead of
 * sleeping, so there is no thread and no blocking call.
 *
 * A check's life, for backend b of a connection pool:
 *   conncheck_start()	 the scheduler's slot for b came: begin a check
 *   ...			 sockets make progress in conncheck_wait()
 *   conncheck_result()	 the scheduler asks, each tick, whether it ended
 *   conncheck_cancel()	 its deadline passed first: a timeout
 * The destination is b's probe slot (address, and the check port).
 */
#ifndef XDPHC_CONNCHECK_H
#define XDPHC_CONNCHECK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "config.h"
#include "slots.h"
#include "state.h"

struct http_pool;
struct httpmulti;

enum cc_phase {
	CC_IDLE = 0,
	CC_RUNNING,
	CC_DONE,
};

/* One backend's check (a backend of a connection pool). */
struct cc_check {
	uint8_t phase;		/* enum cc_phase */
	uint8_t reason;		/* with CC_DONE: enum xdphc_reason */
	bool fail_fast;		/* the status is in fail_fast_codes */
	bool lost;		/* our own failure (no socket): not the backend's */
	bool reached;		/* it connected (the path works), whatever came after */
	uint16_t detail;	/* HTTP status, TLS verify result */
	uint32_t rtt_us;
	uint64_t started;	/* monotonic ns */
	void *h;		/* http: its easy handle (kept); tcp: the run in flight */
};

struct cc_pool {
	uint32_t first, n;	/* its ids, as the config lays them out */
	struct cc_check *chk;	/* n entries; NULL: a SYN pool */
	struct http_pool *http;	/* per pool HTTP settings; NULL unless http(s) */
};

struct cc_stats {
	uint64_t started, done, lost;
	uint64_t connections;		/* connections curl or we opened */
	uint64_t reused;		/* HTTP checks on a kept-alive connection */
	uint64_t late;			/* replies after their check's deadline (connection kept) */
	uint32_t keepalive_budget;	/* backends allowed a kept-alive connection */
	uint32_t keepalive_used;	/* backends that have one (or will) */
	uint32_t fd_limit;		/* RLIMIT_NOFILE after raising it */
};

struct conncheck {
	const struct config *cfg;
	struct slots *slots;
	struct cc_pool *pools;
	size_t n_pools;
	bool any;		/* some pool is a connection pool */
	int ep;			/* epoll: every check's sockets */
	struct httpmulti *http;	/* libcurl's side, made with the first HTTP pool */
	uint32_t epoch;		/* bumped by a reload: handles set their options again */
	uint64_t last_warn;
	struct cc_stats st;
};

/*
 * For cfg's pools (their ids as laid out) over the probe slots.  Nothing
 * is opened unless a pool checks over connections.  0, or -1 with a
 * message in err.
 */
int conncheck_init(struct conncheck *c, const struct config *cfg, struct slots *slots,
		   char *err, size_t errlen);
/* A reload changed the pools' checks or added pools.  0, or -1 out of memory. */
int conncheck_reload(struct conncheck *c);
void conncheck_free(struct conncheck *c);

static inline bool conncheck_pool(const struct conncheck *c, uint32_t p)
{
	return p < c->n_pools && c->pools[p].chk;
}

/* The check of backend b, of connection pool p. */
static inline struct cc_check *conncheck_of(struct conncheck *c, uint32_t p, uint32_t b)
{
	return &c->pools[p].chk[b - c->pools[p].first];
}

/* Begin a check of backend b in pool p (a connection pool). */
void conncheck_start(struct conncheck *c, uint32_t p, uint32_t b, uint64_t now);
/*
 * Whether b's check ended: then o has its outcome (*lost: ours, not the
 * backend's, and o says nothing) and b is idle again.
 */
bool conncheck_result(struct conncheck *c, uint32_t p, uint32_t b, struct probe_outcome *o,
		      bool *lost);
/*
 * b's deadline passed: stop its check, whatever it was doing.  Returns
 * whether it had connected (the path works; the reply was late).
 */
bool conncheck_cancel(struct conncheck *c, uint32_t p, uint32_t b);
/*
 * Drive the checks' sockets until monotonic time until (or a signal):
 * the engine's wait between ticks.
 */
void conncheck_wait(struct conncheck *c, uint64_t until);

/* ---- for http.c and tcpcheck.c ---------------------------------------- */

/* epoll data: what a registered descriptor is (the top byte), and its data. */
#define CC_TAG_CURL 1ULL
#define CC_TAG_TCP 2ULL
#define CC_TAG_SHIFT 56
#define CC_TAG(tag, v) ((tag) << CC_TAG_SHIFT | (v))

/* b's check ended with this outcome. */
void conncheck_done(struct conncheck *c, struct cc_check *k, uint8_t reason, uint16_t detail);
/* b's check could not run, our own failure (what failed, errno): logged, not held against b. */
void conncheck_lost(struct conncheck *c, struct cc_check *k, const char *what, int err);

#endif
