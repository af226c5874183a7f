/* SPDX-License-Identifier: MIT */
/*
 * HTTP and HTTPS checks on libcurl's multi socket interface.  Each backend
 * keeps one easy handle from its first check on, so that its kept-alive
 * connection (in the multi handle's connection cache, sized for every
 * backend) serves the next check.  Descriptors are the limit: backends
 * past the keep-alive budget (RLIMIT_NOFILE, raised as far as allowed,
 * less a reserve) open a connection per check instead.
 */
#ifndef XDPHC_HTTP_H
#define XDPHC_HTTP_H

#include "conncheck.h"

/* The multi handle, once the first HTTP pool exists.  0, or -1 with err. */
int http_init(struct conncheck *c, char *err, size_t errlen);
/* Pool p's request (URL parts, headers, TLS) from its config.  0, or -1. */
int http_pool_setup(struct conncheck *c, uint32_t p);
void http_pool_free(struct http_pool *hp);
void http_free(struct conncheck *c);

void http_start(struct conncheck *c, uint32_t p, uint32_t b, struct cc_check *k);
/* Stop a check under way; whether it had connected. */
bool http_cancel(struct conncheck *c, struct cc_check *k);
/* Backend b's id is let go: its easy handle goes with it. */
void http_forget(struct conncheck *c, struct cc_check *k);

/* A descriptor curl watches is ready (data: its epoll data; events: EPOLLIN/...). */
void http_socket_ready(struct conncheck *c, uint64_t data, uint32_t events);
/* curl's timers due by now (monotonic ns); the next one's time, or 0. */
void http_run_timers(struct conncheck *c, uint64_t now);
uint64_t http_next_timer(const struct conncheck *c);

#endif
