// SPDX-License-Identifier: MIT
#define _GNU_SOURCE	/* memmem */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/epoll.h>
#include <sys/socket.h>

#include "clock.h"
#include "tcpcheck.h"

/* A reply is searched for expect within its first this many bytes. */
#define READ_MAX 1024

enum stage {
	ST_CONNECT,
	ST_SEND,
	ST_READ,
};

struct tcp_run {
	int fd;
	uint32_t p, b;		/* its pool and backend: the epoll data names both */
	uint8_t stage;		/* enum stage */
	uint16_t sent, got;
	uint8_t buf[READ_MAX];
};

/* What a connect() error says of the backend. */
static uint8_t connect_reason(int err)
{
	switch (err) {
	case ECONNREFUSED:
		return XDPHC_REASON_REFUSED;
	case EHOSTUNREACH:
	case ENETUNREACH:
		return XDPHC_REASON_UNREACHABLE;
	case ETIMEDOUT:
		return XDPHC_REASON_TIMEOUT;
	default:
		return XDPHC_REASON_BAD_REPLY;
	}
}

/* Reset, not FIN: a check leaves no TIME_WAIT behind on the prober. */
static void run_close(struct tcp_run *r)
{
	struct linger lg = { .l_onoff = 1, .l_linger = 0 };

	setsockopt(r->fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
	close(r->fd);
	free(r);
}

static void end(struct conncheck *c, struct cc_check *k, uint8_t reason)
{
	run_close(k->h);
	k->h = NULL;
	k->rtt_us = (uint32_t)((mono_ns() - k->started) / 1000);
	conncheck_done(c, k, reason, 0);
}

static uint64_t ev_data(const struct tcp_run *r)
{
	return CC_TAG(CC_TAG_TCP, (uint64_t)r->p << 32 | r->b);
}

static void watch(struct conncheck *c, struct tcp_run *r, uint32_t events)
{
	struct epoll_event ev = { .events = events, .data.u64 = ev_data(r) };

	epoll_ctl(c->ep, EPOLL_CTL_MOD, r->fd, &ev);
}

static const struct hc_config *hc_of(const struct conncheck *c, const struct tcp_run *r)
{
	return &c->cfg->pools[r->p].hc;
}

/* Write what is left of send; then read, or pass without expect. */
static void do_send(struct conncheck *c, struct cc_check *k)
{
	struct tcp_run *r = k->h;
	const struct hc_config *hc = hc_of(c, r);

	while (r->sent < hc->send.len) {
		ssize_t n = send(r->fd, hc->send.b + r->sent, hc->send.len - r->sent,
				 MSG_NOSIGNAL);

		if (n < 0 && errno == EAGAIN) {
			watch(c, r, EPOLLOUT);
			return;
		}
		if (n <= 0) {
			end(c, k, XDPHC_REASON_BAD_REPLY);
			return;
		}
		r->sent += (uint16_t)n;
	}
	if (!hc->expect.len) {
		end(c, k, XDPHC_REASON_OK);
		return;
	}
	r->stage = ST_READ;
	watch(c, r, EPOLLIN);
}

/*
 * What came so far can still become the expected reply: it is the start
 * of expect.  A service that answers otherwise (redis' -ERR) and keeps
 * the connection open is judged at once, not at the deadline.
 */
static bool may_match(const struct tcp_run *r, const struct hc_bytes *want)
{
	return r->got < want->len && !memcmp(r->buf, want->b, r->got);
}

static void do_read(struct conncheck *c, struct cc_check *k)
{
	struct tcp_run *r = k->h;
	const struct hc_bytes *want = &hc_of(c, r)->expect;

	for (;;) {
		ssize_t n = recv(r->fd, r->buf + r->got, sizeof(r->buf) - r->got, 0);

		if (n < 0 && errno == EAGAIN) {
			/* The reply paused: wait only if it may still match. */
			if (r->got && !may_match(r, want))
				end(c, k, XDPHC_REASON_MISMATCH);
			return;
		}
		if (n <= 0) {
			/* Closed or reset: what came (if anything) is the reply. */
			end(c, k, r->got ? XDPHC_REASON_MISMATCH : XDPHC_REASON_BAD_REPLY);
			return;
		}
		r->got += (uint16_t)n;
		if (memmem(r->buf, r->got, want->b, want->len)) {
			end(c, k, XDPHC_REASON_OK);
			return;
		}
		if (r->got == sizeof(r->buf)) {
			end(c, k, XDPHC_REASON_MISMATCH);
			return;
		}
	}
}

static void connected(struct conncheck *c, struct cc_check *k)
{
	struct tcp_run *r = k->h;

	c->st.connections++;
	r->stage = ST_SEND;
	do_send(c, k);
}

static int open_socket(const struct xdphc_slot *s, int *err)
{
	struct sockaddr_in6 a6 = { .sin6_family = AF_INET6, .sin6_port = s->port };
	struct sockaddr_in a4 = { .sin_family = AF_INET, .sin_port = s->port };
	int one = 1, fd = socket(s->family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	struct sockaddr *sa = (struct sockaddr *)&a4;
	socklen_t len = sizeof(a4);

	if (fd < 0) {
		*err = errno;
		return -1;
	}
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	if (s->family == AF_INET6) {
		memcpy(&a6.sin6_addr, s->addr, 16);
		sa = (struct sockaddr *)&a6;
		len = sizeof(a6);
	} else {
		a4.sin_addr.s_addr = s->addr[0];
	}
	*err = connect(fd, sa, len) ? errno : 0;
	return fd;
}

void tcpcheck_start(struct conncheck *c, uint32_t p, uint32_t b, struct cc_check *k)
{
	struct epoll_event ev = { .events = EPOLLOUT };
	struct tcp_run *r = malloc(sizeof(*r));
	int err = ENOMEM, fd = r ? open_socket(&c->slots->s[b], &err) : -1;

	if (fd < 0) {
		free(r);
		conncheck_lost(c, k, "socket()", err);
		return;
	}
	r->fd = fd;
	r->p = p;
	r->b = b;
	r->stage = ST_CONNECT;
	r->sent = r->got = 0;
	k->h = r;
	/* Connected at once (or not): EPOLLOUT comes either way. */
	if (err && err != EINPROGRESS) {
		end(c, k, connect_reason(err));
		return;
	}
	ev.data.u64 = ev_data(r);
	if (epoll_ctl(c->ep, EPOLL_CTL_ADD, fd, &ev)) {
		err = errno;
		run_close(r);
		k->h = NULL;
		conncheck_lost(c, k, "epoll_ctl()", err);
	}
}

bool tcpcheck_cancel(struct conncheck *c, struct cc_check *k)
{
	struct tcp_run *r = k->h;
	bool reached;

	(void)c;
	if (!r)
		return false;
	reached = r->stage != ST_CONNECT;
	run_close(r);
	k->h = NULL;
	return reached;
}

void tcpcheck_ready(struct conncheck *c, uint64_t data, uint32_t events)
{
	uint32_t p = (uint32_t)(data >> 32) & 0xff, b = (uint32_t)data;
	struct cc_check *k = conncheck_of(c, p, b);
	struct tcp_run *r = k->h;
	int err = 0;
	socklen_t len = sizeof(err);

	if (!r || k->phase != CC_RUNNING)
		return;
	switch (r->stage) {
	case ST_CONNECT:
		getsockopt(r->fd, SOL_SOCKET, SO_ERROR, &err, &len);
		if (err || (events & (EPOLLERR | EPOLLHUP) && !(events & EPOLLOUT))) {
			end(c, k, connect_reason(err ? err : ECONNREFUSED));
			return;
		}
		connected(c, k);
		return;
	case ST_SEND:
		do_send(c, k);
		return;
	default:
		do_read(c, k);
	}
}
