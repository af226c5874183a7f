/* SPDX-License-Identifier: MIT */
/*
 * TCP send/expect checks (HAProxy's tcp-check send/expect, Envoy's payload
 * check): connect, write send, read until the reply contains expect.
 * Plain non-blocking sockets on the connection checks' epoll set; each
 * check opens its own connection and ends it with a reset (no TIME_WAIT
 * left per check on the prober).
 */
#ifndef XDPHC_TCPCHECK_H
#define XDPHC_TCPCHECK_H

#include "conncheck.h"

void tcpcheck_start(struct conncheck *c, uint32_t p, uint32_t b, struct cc_check *k);
/* Stop a check under way; whether it had connected. */
bool tcpcheck_cancel(struct conncheck *c, struct cc_check *k);
/* A check's socket is ready (data: its epoll data; events: EPOLLIN/EPOLLOUT/...). */
void tcpcheck_ready(struct conncheck *c, uint64_t data, uint32_t events);

#endif
