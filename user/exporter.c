// SPDX-License-Identifier: MIT
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <microhttpd.h>

#include "exporter.h"

#define CONTENT_TYPE "text/plain; version=0.0.4; charset=utf-8"

static enum MHD_Result reply(struct MHD_Connection *c, unsigned int code, char *body,
			     size_t len, enum MHD_ResponseMemoryMode mode)
{
	struct MHD_Response *r = MHD_create_response_from_buffer(len, body, mode);
	enum MHD_Result ret;

	if (!r)
		return MHD_NO;
	MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, CONTENT_TYPE);
	ret = MHD_queue_response(c, code, r);
	MHD_destroy_response(r);
	return ret;
}

static enum MHD_Result handle(void *cls, struct MHD_Connection *c, const char *url,
			      const char *method, const char *version, const char *data,
			      size_t *data_len, void **state)
{
	static char not_found[] = "xdphc serves /metrics only\n";
	static char no_memory[] = "out of memory\n";
	static char starting[] = "xdphc is starting\n";
	struct exporter *x = cls;
	size_t len = 0;
	char *body;

	(void)version;
	(void)data;
	(void)data_len;
	(void)state;
	if (strcmp(method, "GET") && strcmp(method, "HEAD"))
		return reply(c, MHD_HTTP_METHOD_NOT_ALLOWED, not_found, strlen(not_found),
			     MHD_RESPMEM_PERSISTENT);
	if (strcmp(url, "/metrics"))
		return reply(c, MHD_HTTP_NOT_FOUND, not_found, strlen(not_found),
			     MHD_RESPMEM_PERSISTENT);
	pthread_mutex_lock(&x->lock);
	body = x->published ? metrics_render(&x->snap, &len) : NULL;
	pthread_mutex_unlock(&x->lock);
	if (!body && !x->published)
		return reply(c, MHD_HTTP_SERVICE_UNAVAILABLE, starting, strlen(starting),
			     MHD_RESPMEM_PERSISTENT);
	if (!body)
		return reply(c, MHD_HTTP_INTERNAL_SERVER_ERROR, no_memory, strlen(no_memory),
			     MHD_RESPMEM_PERSISTENT);
	return reply(c, MHD_HTTP_OK, body, len, MHD_RESPMEM_MUST_FREE);
}

int exporter_start(struct exporter *x, const struct xdphc_backend_key *addr, size_t n_pools,
		   char *err, size_t errlen)
{
	struct sockaddr_in6 s6 = { .sin6_family = AF_INET6, .sin6_port = addr->port };
	struct sockaddr_in s4 = { .sin_family = AF_INET, .sin_port = addr->port };
	const struct sockaddr *sa = (const struct sockaddr *)&s4;
	/*
	 * poll(), not select(): with a kept-alive connection per HTTP backend
	 * the listening socket's descriptor is past FD_SETSIZE, and select()
	 * would reset every scrape.
	 */
	unsigned int flags = MHD_USE_POLL_INTERNAL_THREAD;

	memset(x, 0, sizeof(*x));
	pthread_mutex_init(&x->lock, NULL);
	x->inited = true;
	x->snap.n_pools = n_pools;
	x->cap_pools = n_pools ? n_pools : 1;
	x->snap.pools = calloc(n_pools ? n_pools : 1, sizeof(*x->snap.pools));
	x->snap.mp = calloc(n_pools ? n_pools : 1, sizeof(*x->snap.mp));
	if (!x->snap.pools || !x->snap.mp) {
		snprintf(err, errlen, "out of memory for the metrics");
		return -1;
	}
	if (addr->family == AF_INET6) {
		memcpy(&s6.sin6_addr, addr->addr, sizeof(s6.sin6_addr));
		sa = (const struct sockaddr *)&s6;
		flags |= MHD_USE_IPv6;
	} else {
		s4.sin_addr.s_addr = addr->addr[0];
	}
	errno = 0;
	x->d = MHD_start_daemon(flags, ntohs(addr->port), NULL, NULL, handle, x,
				MHD_OPTION_SOCK_ADDR, sa, MHD_OPTION_CONNECTION_TIMEOUT, 10U,
				MHD_OPTION_CONNECTION_LIMIT, 64U, MHD_OPTION_END);
	if (!x->d) {
		snprintf(err, errlen, "cannot serve /metrics there: %s",
			 errno ? strerror(errno) : "libmicrohttpd refused to start");
		return -1;
	}
	return 0;
}

/* Room for the pools a reload adds; on no memory, the first ones are shown. */
static size_t room_for(struct exporter *x, size_t n)
{
	struct xdphc_pool_summary *pools;
	struct metrics_pool *mp;

	if (n <= x->cap_pools)
		return n;
	pools = realloc(x->snap.pools, n * sizeof(*pools));
	if (pools)
		x->snap.pools = pools;
	mp = pools ? realloc(x->snap.mp, n * sizeof(*mp)) : NULL;
	if (mp) {
		x->snap.mp = mp;
		x->cap_pools = n;
	}
	return x->cap_pools;
}

/* The pools in use: one that a reload removed keeps its id, unused, until a restart. */
static void copy_pools(struct exporter *x, const struct metrics_snapshot *s)
{
	size_t room = room_for(x, s->n_pools), n = 0;

	for (size_t p = 0; p < s->n_pools && n < room; p++) {
		if (!s->pools[p].in_use)
			continue;
		x->snap.pools[n] = s->pools[p];
		x->snap.mp[n++] = s->mp[p];
	}
	x->snap.n_pools = n;
}

void exporter_publish(struct exporter *x, const struct metrics_snapshot *s)
{
	if (!x->d)
		return;
	pthread_mutex_lock(&x->lock);
	x->snap.start_ns = s->start_ns;
	x->snap.heartbeat_ns = s->heartbeat_ns;
	x->snap.tick_lag_max_ns = s->tick_lag_max_ns;
	x->snap.impaired = s->impaired;
	x->snap.circuit_open = s->circuit_open;
	x->snap.circuit_opened = s->circuit_opened;
	x->snap.circuit_checks = s->circuit_checks;
	x->snap.lag_count = s->lag_count;
	x->snap.lag_sum_us = s->lag_sum_us;
	x->snap.reloads = s->reloads;
	x->snap.reload_failures = s->reload_failures;
	x->snap.reload_ok_ns = s->reload_ok_ns;
	x->snap.reload_ok = s->reload_ok;
	x->snap.stats = s->stats;
	x->snap.cc = s->cc;
	x->snap.udp_replies = s->udp_replies;
	x->snap.udp_mismatch = s->udp_mismatch;
	x->snap.udp_silent = s->udp_silent;
	copy_pools(x, s);
	x->published = true;
	pthread_mutex_unlock(&x->lock);
}

void exporter_stop(struct exporter *x)
{
	if (!x->inited)
		return;
	if (x->d)
		MHD_stop_daemon(x->d);
	x->d = NULL;
	free(x->snap.pools);
	free(x->snap.mp);
	x->snap.pools = NULL;
	x->snap.mp = NULL;
	pthread_mutex_destroy(&x->lock);
	x->inited = false;
}
