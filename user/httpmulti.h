/* SPDX-License-Identifier: MIT */
/*
 * libcurl multi handles for the HTTP checks, one per HM_SHARD backend ids.
 *
 * Why not one: libcurl 7.88 (Debian 12) walks the multi handle's whole
 * connection cache each time a transfer is removed (to close connect-only
 * connections), so with a kept-alive connection per backend one multi
 * handle costs O(backends) a check: at 10,000 backends the engine spent a
 * whole core there.  Small multi handles bound that walk; their sockets
 * share the connection checks' epoll set, and their timers one heap.
 */
#ifndef XDPHC_HTTPMULTI_H
#define XDPHC_HTTPMULTI_H

#include <stddef.h>
#include <stdint.h>
#include <curl/curl.h>

#define HM_SHARD_BITS 6
#define HM_SHARD (1U << HM_SHARD_BITS)

struct hm_shard;

/* A transfer ended (it is still in its multi handle: hm_remove() it). */
typedef void (*hm_done_fn)(void *ctx, CURL *e, CURLcode result);

struct httpmulti {
	int ep;				/* the epoll set sockets join */
	uint64_t tag;			/* epoll data tag of our sockets */
	struct hm_shard **shard;	/* by id >> HM_SHARD_BITS; made on first use */
	size_t n_shards;
	struct hm_shard **heap;		/* shards with a timer, soonest first */
	size_t heap_n;
	hm_done_fn done;
	void *ctx;
};

/* For ids [0, ids): 0, or -1 out of memory. */
int hm_init(struct httpmulti *h, int ep, uint64_t tag, size_t ids, hm_done_fn done, void *ctx);
void hm_free(struct httpmulti *h);

/* Start e, the transfer of backend id b.  0, or -1. */
int hm_add(struct httpmulti *h, uint32_t b, CURL *e);
/* Take e out of its multi handle: it stops if it still runs. */
void hm_remove(struct httpmulti *h, uint32_t b, CURL *e);

/* A socket of ours is ready: data is its epoll data, events the epoll events. */
void hm_socket_ready(struct httpmulti *h, uint64_t data, uint32_t events);
/* Run the timers due by now (monotonic ns). */
void hm_run_timers(struct httpmulti *h, uint64_t now);
/* When the next timer is due (monotonic ns), or 0: none. */
uint64_t hm_next_timer(const struct httpmulti *h);

#endif
