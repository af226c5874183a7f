// SPDX-License-Identifier: MIT
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>

#include "clock.h"
#include "httpmulti.h"

#define NO_HEAP UINT32_MAX

struct hm_shard {
	struct httpmulti *h;
	CURLM *m;
	uint32_t id;
	uint32_t heap_at;	/* index in h->heap, or NO_HEAP */
	uint64_t timer;		/* monotonic ns; 0: none */
	int running;
};

/* ---- the timer heap ------------------------------------------------------ */

static void heap_set(struct httpmulti *h, size_t i, struct hm_shard *s)
{
	h->heap[i] = s;
	s->heap_at = (uint32_t)i;
}

static void heap_up(struct httpmulti *h, size_t i)
{
	struct hm_shard *s = h->heap[i];

	while (i) {
		size_t up = (i - 1) / 2;

		if (h->heap[up]->timer <= s->timer)
			break;
		heap_set(h, i, h->heap[up]);
		i = up;
	}
	heap_set(h, i, s);
}

static void heap_down(struct httpmulti *h, size_t i)
{
	struct hm_shard *s = h->heap[i];

	for (;;) {
		size_t k = 2 * i + 1;

		if (k >= h->heap_n)
			break;
		if (k + 1 < h->heap_n && h->heap[k + 1]->timer < h->heap[k]->timer)
			k++;
		if (s->timer <= h->heap[k]->timer)
			break;
		heap_set(h, i, h->heap[k]);
		i = k;
	}
	heap_set(h, i, s);
}

static void heap_remove(struct httpmulti *h, struct hm_shard *s)
{
	size_t i = s->heap_at;
	struct hm_shard *last;

	if (i == NO_HEAP)
		return;
	s->heap_at = NO_HEAP;
	last = h->heap[--h->heap_n];
	if (last == s)
		return;
	heap_set(h, i, last);
	heap_up(h, i);
	heap_down(h, last->heap_at);
}

/* The heap has room for every shard: no allocation here. */
static void heap_put(struct httpmulti *h, struct hm_shard *s)
{
	if (s->heap_at == NO_HEAP) {
		heap_set(h, h->heap_n++, s);
		heap_up(h, s->heap_at);
		return;
	}
	heap_up(h, s->heap_at);
	heap_down(h, s->heap_at);
}

/* ---- curl's callbacks ---------------------------------------------------- */

static int on_socket(CURL *easy, curl_socket_t fd, int what, void *userp, void *socketp)
{
	struct hm_shard *s = userp;
	struct httpmulti *h = s->h;
	struct epoll_event ev = { .data.u64 = h->tag | (uint64_t)s->id << 32 | (uint32_t)fd };

	(void)easy;
	if (what == CURL_POLL_REMOVE) {
		epoll_ctl(h->ep, EPOLL_CTL_DEL, fd, NULL);
		return 0;
	}
	ev.events = (what & CURL_POLL_IN ? EPOLLIN : 0) | (what & CURL_POLL_OUT ? EPOLLOUT : 0);
	if (socketp && !epoll_ctl(h->ep, EPOLL_CTL_MOD, fd, &ev))
		return 0;
	if (epoll_ctl(h->ep, EPOLL_CTL_ADD, fd, &ev) && errno == EEXIST)
		epoll_ctl(h->ep, EPOLL_CTL_MOD, fd, &ev);
	curl_multi_assign(s->m, fd, s);
	return 0;
}

static int on_timer(CURLM *m, long ms, void *userp)
{
	struct hm_shard *s = userp;

	(void)m;
	if (ms < 0) {
		s->timer = 0;
		heap_remove(s->h, s);
		return 0;
	}
	s->timer = mono_ns() + (uint64_t)ms * 1000000ULL;
	heap_put(s->h, s);
	return 0;
}

/* ---- shards -------------------------------------------------------------- */

static struct hm_shard *shard_new(struct httpmulti *h, uint32_t id)
{
	struct hm_shard *s = calloc(1, sizeof(*s));

	if (!s || !(s->m = curl_multi_init())) {
		free(s);
		return NULL;
	}
	s->h = h;
	s->id = id;
	s->heap_at = NO_HEAP;
	curl_multi_setopt(s->m, CURLMOPT_SOCKETFUNCTION, on_socket);
	curl_multi_setopt(s->m, CURLMOPT_SOCKETDATA, s);
	curl_multi_setopt(s->m, CURLMOPT_TIMERFUNCTION, on_timer);
	curl_multi_setopt(s->m, CURLMOPT_TIMERDATA, s);
	/*
	 * Its default (four times the transfers in it) would close idle
	 * kept-alive connections: every backend keeps one between checks.
	 */
	curl_multi_setopt(s->m, CURLMOPT_MAXCONNECTS, (long)HM_SHARD * 2);
	return s;
}

static int hm_grow(struct httpmulti *h, size_t ids)
{
	size_t n = (ids + HM_SHARD - 1) / HM_SHARD;
	struct hm_shard **sh, **heap;

	if (n <= h->n_shards)
		return 0;
	sh = realloc(h->shard, n * sizeof(*sh));
	if (!sh)
		return -1;
	h->shard = sh;
	heap = realloc(h->heap, n * sizeof(*heap));
	if (!heap)
		return -1;
	h->heap = heap;
	memset(sh + h->n_shards, 0, (n - h->n_shards) * sizeof(*sh));
	h->n_shards = n;
	return 0;
}

int hm_init(struct httpmulti *h, int ep, uint64_t tag, size_t ids, hm_done_fn done, void *ctx)
{
	memset(h, 0, sizeof(*h));
	h->ep = ep;
	h->tag = tag;
	h->done = done;
	h->ctx = ctx;
	return hm_grow(h, ids);
}

void hm_free(struct httpmulti *h)
{
	for (size_t i = 0; i < h->n_shards; i++) {
		if (!h->shard[i])
			continue;
		curl_multi_cleanup(h->shard[i]->m);
		free(h->shard[i]);
	}
	free(h->shard);
	free(h->heap);
	memset(h, 0, sizeof(*h));
}

static struct hm_shard *shard_of(struct httpmulti *h, uint32_t b)
{
	size_t i = b >> HM_SHARD_BITS;

	if (i >= h->n_shards)
		return NULL;
	if (!h->shard[i])
		h->shard[i] = shard_new(h, (uint32_t)i);
	return h->shard[i];
}

int hm_add(struct httpmulti *h, uint32_t b, CURL *e)
{
	struct hm_shard *s = shard_of(h, b);

	return s && curl_multi_add_handle(s->m, e) == CURLM_OK ? 0 : -1;
}

void hm_remove(struct httpmulti *h, uint32_t b, CURL *e)
{
	struct hm_shard *s = shard_of(h, b);

	if (s)
		curl_multi_remove_handle(s->m, e);
}

static void read_done(struct httpmulti *h, struct hm_shard *s)
{
	CURLMsg *msg;
	int left;

	while ((msg = curl_multi_info_read(s->m, &left)))
		if (msg->msg == CURLMSG_DONE)
			h->done(h->ctx, msg->easy_handle, msg->data.result);
}

void hm_socket_ready(struct httpmulti *h, uint64_t data, uint32_t events)
{
	uint32_t id = (uint32_t)(data >> 32) & 0xffffff;
	int fd = (int)(uint32_t)data;
	int mask = (events & EPOLLIN ? CURL_CSELECT_IN : 0) |
		   (events & EPOLLOUT ? CURL_CSELECT_OUT : 0) |
		   (events & (EPOLLERR | EPOLLHUP) ? CURL_CSELECT_ERR : 0);
	struct hm_shard *s = id < h->n_shards ? h->shard[id] : NULL;

	if (!s)
		return;
	curl_multi_socket_action(s->m, fd, mask, &s->running);
	read_done(h, s);
}

void hm_run_timers(struct httpmulti *h, uint64_t now)
{
	/* Each shard once: a timer curl sets again at once waits for the next call. */
	for (size_t n = h->heap_n; n && h->heap_n && h->heap[0]->timer <= now; n--) {
		struct hm_shard *s = h->heap[0];

		s->timer = 0;
		heap_remove(h, s);
		curl_multi_socket_action(s->m, CURL_SOCKET_TIMEOUT, 0, &s->running);
		read_done(h, s);
	}
}

uint64_t hm_next_timer(const struct httpmulti *h)
{
	return h->heap_n ? h->heap[0]->timer : 0;
}
