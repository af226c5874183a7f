// SPDX-License-Identifier: MIT
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <arpa/inet.h>
#include <curl/curl.h>

#include "clock.h"
#include "http.h"
#include "httpmulti.h"
#include "log.h"
#include "match.h"
#include "names.h"

/* Bodies are read (so the connection stays reusable) up to this much. */
#define BODY_MAX (1U << 20)
#define RECV_BUFFER 4096L
/* OpenSSL's X509_V_ERR_HOSTNAME_MISMATCH: libcurl checks the name itself. */
#define X509_HOSTNAME_MISMATCH 62
/* Descriptors kept for everything but kept-alive check connections. */
#define FD_RESERVE 512

struct http_pool {
	/*
	 * The pool's headers, Host included: [1] adds Connection: close for a
	 * connection per check, so that the server closes first and keeps the
	 * TIME_WAIT, as with HAProxy's checks.
	 */
	struct curl_slist *headers[2];
	struct curl_slist *retired;	/* earlier lists, still maybe in use: freed at the end */
};

/* One per backend: its easy handle's private data. */
struct http_ctx {
	uint32_t b, p;
	uint32_t epoch;			/* options set for this reload epoch; 0: never */
	uint8_t family;
	__be32 addr[4];
	__be16 port;
	bool keepalive;			/* counted in keepalive_used */
	bool running;			/* in its multi handle */
	bool late;			/* its check timed out; the reply may still come */
	bool want;			/* expect_body is set */
	uint32_t body;
	struct curl_slist *connect_to;	/* this backend's, with a host name */
	struct curl_slist *headers;	/* the pool's and Host: ADDR, with sni but no host */
	CURLU *url;			/* parsed once, not at every check */
	struct match body_match;	/* expect_body in the body */
};

static const struct hc_config *pool_hc(const struct conncheck *c, uint32_t p)
{
	return &c->cfg->pools[p].hc;
}

static void finish(void *ctx, CURL *e, CURLcode r);

int http_init(struct conncheck *c, char *err, size_t errlen)
{
	if (c->http)
		return 0;
	if (curl_global_init(CURL_GLOBAL_DEFAULT)) {
		snprintf(err, errlen, "libcurl: global init failed");
		return -1;
	}
	c->http = malloc(sizeof(*c->http));
	if (!c->http || hm_init(c->http, c->ep, CC_TAG(CC_TAG_CURL, 0), c->slots->n, finish, c)) {
		free(c->http);
		c->http = NULL;
		curl_global_cleanup();
		snprintf(err, errlen, "libcurl: out of memory");
		return -1;
	}
	c->st.keepalive_budget = c->st.fd_limit > FD_RESERVE * 2 ? c->st.fd_limit - FD_RESERVE :
				 c->st.fd_limit / 2;
	return 0;
}

/*
 * libcurl before 8.0 fails the second request on a reused HTTP/2
 * prior-knowledge connection ("Error in the HTTP2 framing layer", curl
 * issue 10634): those checks get a connection each.
 */
static bool h2c_reuse_broken(const struct hc_config *hc)
{
	return hc->protocol == HC_PROTO_HTTP && hc->http_version == HC_HTTP_2 &&
	       curl_version_info(CURLVERSION_NOW)->version_num < 0x080000;
}

static struct curl_slist *headers_of(const struct hc_config *hc, bool *oom)
{
	struct curl_slist *l = NULL, *n;
	char line[HC_TEXT_LEN + 8];
	const char *s = hc->headers, *e;

	*oom = false;
	if (hc->host[0]) {
		snprintf(line, sizeof(line), "Host: %s", hc->host);
		if (!(l = curl_slist_append(l, line)))
			goto fail;
	}
	for (; *s; s = e + 1) {
		char h[HC_HEADERS_LEN];

		e = strchr(s, '\n');
		if (!e)
			e = s + strlen(s);
		snprintf(h, sizeof(h), "%.*s", (int)(e - s), s);
		if (!(n = curl_slist_append(l, h)))
			goto fail;
		l = n;
		if (!*e)
			break;
	}
	return l;
fail:
	curl_slist_free_all(l);
	*oom = true;
	return NULL;
}

/* A transfer under way may still read an old list: freed at the end. */
static void retire(struct http_pool *hp, struct curl_slist *l)
{
	struct curl_slist *last = l;

	if (!l)
		return;
	while (last->next)
		last = last->next;
	last->next = hp->retired;
	hp->retired = l;
}

int http_pool_setup(struct conncheck *c, uint32_t p)
{
	struct cc_pool *cp = &c->pools[p];
	const struct hc_config *hc = pool_hc(c, p);
	struct curl_slist *l, *lc = NULL;
	bool oom;

	if (!cp->http && !(cp->http = calloc(1, sizeof(*cp->http))))
		return -1;
	l = headers_of(hc, &oom);
	if (!oom && hc->http_version != HC_HTTP_2) {
		for (const struct curl_slist *h = l; h && !oom; h = h->next)
			oom = !(lc = curl_slist_append(lc, h->data));
		oom = oom || !(lc = curl_slist_append(lc, "Connection: close"));
	}
	if (oom) {
		curl_slist_free_all(l);
		curl_slist_free_all(lc);
		return -1;
	}
	if (h2c_reuse_broken(pool_hc(c, p)) && pool_hc(c, p)->reuse_connection)
		log_warn("pool %s: HTTP/2 with prior knowledge: libcurl %s cannot reuse such "
			 "connections (curl issue 10634, fixed in 8.0): a connection per check",
			 c->cfg->pools[p].name, curl_version_info(CURLVERSION_NOW)->version);
	retire(cp->http, cp->http->headers[0]);
	retire(cp->http, cp->http->headers[1]);
	cp->http->headers[0] = l;
	cp->http->headers[1] = lc;	/* NULL with HTTP/2: no Connection header there */
	return 0;
}

void http_pool_free(struct http_pool *hp)
{
	if (!hp)
		return;
	curl_slist_free_all(hp->headers[0]);
	curl_slist_free_all(hp->headers[1]);
	curl_slist_free_all(hp->retired);
	free(hp);
}

void http_free(struct conncheck *c)
{
	if (!c->http)
		return;
	hm_free(c->http);
	free(c->http);
	c->http = NULL;
	curl_global_cleanup();
}

/* "198.18.0.1" or "[2001:2::1]": an address as a URL or CONNECT_TO writes it. */
static void addr_text(const struct http_ctx *x, char *buf, size_t len)
{
	char a[INET6_ADDRSTRLEN];

	if (x->family == AF_INET6) {
		inet_ntop(AF_INET6, x->addr, a, sizeof(a));
		snprintf(buf, len, "[%s]", a);
	} else {
		inet_ntop(AF_INET, x->addr, buf, len);
	}
}

static size_t on_body(char *d, size_t size, size_t nmemb, void *userp)
{
	struct http_ctx *x = userp;
	size_t n = size * nmemb;

	if (x->want)
		match_feed(&x->body_match, d, n);
	x->body += n;
	/* Past the cap the transfer stops: the verdict uses what came. */
	return x->body > BODY_MAX ? 0 : n;
}

static long version_of(const struct hc_config *hc)
{
	if (hc->http_version != HC_HTTP_2)
		return CURL_HTTP_VERSION_1_1;
	return hc->protocol == HC_PROTO_HTTPS ? CURL_HTTP_VERSION_2TLS :
	       CURL_HTTP_VERSION_2_PRIOR_KNOWLEDGE;
}

/*
 * With a name (sni, or host) an HTTPS URL names it, for SNI and the
 * certificate check, and CONNECT_TO sends the connection to the backend.
 */
static const char *tls_name(const struct hc_config *hc, char *buf, size_t len)
{
	const char *h = hc->host, *end;

	if (hc->protocol != HC_PROTO_HTTPS)
		return NULL;
	if (hc->sni[0])
		return hc->sni;
	if (!h[0])
		return NULL;
	/* The host header's name, without its :PORT (or an [IPv6] literal's). */
	end = h[0] == '[' ? strchr(h, ']') : strchr(h, ':');
	if (h[0] == '[' && end)
		end++;
	snprintf(buf, len, "%.*s", end ? (int)(end - h) : (int)strlen(h), h);
	return buf;
}

static bool reuses(const struct hc_config *hc, const struct http_ctx *x)
{
	return x->keepalive && hc->reuse_connection && !h2c_reuse_broken(hc);
}

/* The pool's headers for this backend: with Connection: close unless it keeps one. */
static struct curl_slist *headers_for(const struct http_pool *hp, const struct hc_config *hc,
				      const struct http_ctx *x)
{
	return !reuses(hc, x) && hp->headers[1] ? hp->headers[1] : hp->headers[0];
}

/*
 * The URL names the sni host, for SNI: without host, Host must still be
 * the backend's address (host's default), so this backend gets a header
 * list of its own.
 */
static int set_host_header(struct http_ctx *x, CURL *e, const struct hc_config *hc,
			   const struct http_pool *hp, const char *addr)
{
	char line[INET6_ADDRSTRLEN + 16];
	unsigned int port = ntohs(x->port);

	curl_slist_free_all(x->headers);
	x->headers = NULL;
	if (!hc->sni[0] || hc->host[0] || hc->protocol != HC_PROTO_HTTPS)
		return 0;
	if (port == 443)
		snprintf(line, sizeof(line), "Host: %s", addr);
	else
		snprintf(line, sizeof(line), "Host: %s:%u", addr, port);
	if (!(x->headers = curl_slist_append(NULL, line)))
		return -1;
	for (const struct curl_slist *l = headers_for(hp, hc, x); l; l = l->next)
		if (!curl_slist_append(x->headers, l->data))
			return -1;
	curl_easy_setopt(e, CURLOPT_HTTPHEADER, x->headers);
	return 0;
}

static int set_target(struct http_ctx *x, CURL *e, const struct hc_config *hc,
		      const struct http_pool *hp)
{
	char a[INET6_ADDRSTRLEN + 2], url[HC_TEXT_LEN * 2 + 64], ct[HC_TEXT_LEN + 80];
	char nb[HC_TEXT_LEN];
	const char *name = tls_name(hc, nb, sizeof(nb));
	unsigned int port = ntohs(x->port);

	addr_text(x, a, sizeof(a));
	curl_slist_free_all(x->connect_to);
	x->connect_to = NULL;
	if (name) {
		snprintf(ct, sizeof(ct), "%s:%u:%s:%u", name, port, a, port);
		if (!(x->connect_to = curl_slist_append(NULL, ct)))
			return -1;
	}
	snprintf(url, sizeof(url), "%s://%s:%u%s", hc->protocol == HC_PROTO_HTTPS ? "https" :
		 "http", name ? name : a, port, hc->path);
	curl_easy_setopt(e, CURLOPT_CONNECT_TO, x->connect_to);
	if (set_host_header(x, e, hc, hp, a))
		return -1;
	if (!x->url && !(x->url = curl_url()))
		return -1;
	if (curl_url_set(x->url, CURLUPART_URL, url, 0) != CURLUE_OK)
		return -1;
	return curl_easy_setopt(e, CURLOPT_CURLU, x->url) == CURLE_OK ? 0 : -1;
}


/* How long a transfer may run: until the soonest next check of its backend. */
static long late_ms(const struct hc_config *hc)
{
	uint32_t ms = hc->interval_ms;

	if (hc->unhealthy_interval_ms && hc->unhealthy_interval_ms < ms)
		ms = hc->unhealthy_interval_ms;
	if (hc->transition_interval_ms && hc->transition_interval_ms < ms)
		ms = hc->transition_interval_ms;
	return (long)(ms > hc->timeout_ms ? ms : hc->timeout_ms);
}

/* Everything the pool's config says, set again after a reload. */
static int set_request(struct conncheck *c, struct http_ctx *x, CURL *e)
{
	const struct hc_config *hc = pool_hc(c, x->p);
	long verify = hc->tls_verify;

	x->want = hc->method == HC_METHOD_GET && hc->expect_body[0];
	if (hc->method == HC_METHOD_GET)
		curl_easy_setopt(e, CURLOPT_HTTPGET, 1L);
	else
		curl_easy_setopt(e, CURLOPT_NOBODY, 1L);
	curl_easy_setopt(e, CURLOPT_HTTPHEADER, headers_for(c->pools[x->p].http, hc, x));
	curl_easy_setopt(e, CURLOPT_HTTP_VERSION, version_of(hc));
	/*
	 * The check's deadline is the scheduler's; a reply later than that
	 * may still come, until the next check (late_ms), and keep the
	 * connection (see http_cancel()).
	 */
	curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, late_ms(hc));
	curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS, late_ms(hc));
	curl_easy_setopt(e, CURLOPT_SSL_VERIFYPEER, verify);
	curl_easy_setopt(e, CURLOPT_SSL_VERIFYHOST, verify ? 2L : 0L);
	curl_easy_setopt(e, CURLOPT_CAINFO, hc->ca_file[0] ? hc->ca_file : NULL);
	/* Idle longer than a few intervals, a connection is not trusted any more. */
	curl_easy_setopt(e, CURLOPT_MAXAGE_CONN, (long)(hc->interval_ms / 1000 * 3 + 118));
	if (!reuses(hc, x)) {
		curl_easy_setopt(e, CURLOPT_FORBID_REUSE, 1L);
		curl_easy_setopt(e, CURLOPT_FRESH_CONNECT, 1L);
	} else {
		curl_easy_setopt(e, CURLOPT_FORBID_REUSE, 0L);
		curl_easy_setopt(e, CURLOPT_FRESH_CONNECT, 0L);
	}
	x->family = 0;		/* the target follows */
	x->epoch = c->epoch;
	return 0;
}

static CURL *handle_new(struct conncheck *c, uint32_t p, uint32_t b)
{
	struct http_ctx *x = calloc(1, sizeof(*x));
	CURL *e = x ? curl_easy_init() : NULL;

	if (!e) {
		free(x);
		return NULL;
	}
	x->b = b;
	x->p = p;
	x->keepalive = pool_hc(c, p)->reuse_connection &&
		       c->st.keepalive_used < c->st.keepalive_budget;
	if (x->keepalive)
		c->st.keepalive_used++;
	curl_easy_setopt(e, CURLOPT_PRIVATE, x);
	curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(e, CURLOPT_USERAGENT, "xdphc/" XDPHC_VERSION);
	/* Straight to the backend: never through a proxy from the environment. */
	curl_easy_setopt(e, CURLOPT_PROXY, "");
	curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, on_body);
	curl_easy_setopt(e, CURLOPT_WRITEDATA, x);
	/*
	 * Targets are addresses, never resolved; pruning the name cache walks
	 * all of it (an entry per backend) on every connect: O(n) a check.
	 */
	curl_easy_setopt(e, CURLOPT_DNS_CACHE_TIMEOUT, -1L);
	/* A check's reply is small: 4 KiB, not 16, of receive buffer a backend. */
	curl_easy_setopt(e, CURLOPT_BUFFERSIZE, RECV_BUFFER);
	return e;
}

/* Out of its multi handle: done, or stopped (which closes its connection). */
static void stop_transfer(struct conncheck *c, struct http_ctx *x, CURL *e)
{
	long conns = 0;

	if (!x->running)
		return;
	curl_easy_getinfo(e, CURLINFO_NUM_CONNECTS, &conns);
	c->st.connections += (uint64_t)conns;
	hm_remove(c->http, x->b, e);
	x->running = false;
	x->late = false;
}

static struct http_ctx *ctx_of(CURL *e)
{
	struct http_ctx *x = NULL;

	curl_easy_getinfo(e, CURLINFO_PRIVATE, (char **)&x);
	return x;
}

void http_start(struct conncheck *c, uint32_t p, uint32_t b, struct cc_check *k)
{
	const struct xdphc_slot *s = &c->slots->s[b];
	struct http_ctx *x;
	CURL *e = k->h;

	if (!e && !(e = k->h = handle_new(c, p, b))) {
		conncheck_lost(c, k, "libcurl handle", ENOMEM);
		return;
	}
	x = ctx_of(e);
	x->p = p;
	/* The last check's late reply did not come in time: its connection goes. */
	if (x->running)
		stop_transfer(c, x, e);
	if (x->epoch != c->epoch && set_request(c, x, e))
		goto fail;
	if (x->family != s->family || memcmp(x->addr, s->addr, sizeof(x->addr)) ||
	    x->port != s->port) {
		x->family = s->family;
		memcpy(x->addr, s->addr, sizeof(x->addr));
		x->port = s->port;
		if (set_target(x, e, pool_hc(c, p), c->pools[p].http))
			goto fail;
	}
	match_init(&x->body_match, pool_hc(c, p)->expect_body, strlen(pool_hc(c, p)->expect_body));
	x->body = 0;
	if (!hm_add(c->http, b, e)) {
		x->running = true;
		return;
	}
fail:
	x->family = 0;
	conncheck_lost(c, k, "libcurl request", ENOMEM);
}

/*
 * A check past its deadline is a timeout, but its transfer goes on: on a
 * kept-alive connection, aborting would close it, and a backend slow for a
 * moment (or an engine late for a moment) would pay a new connection, and
 * TLS handshake, at its next check, when it can least afford it.  The
 * late reply keeps the connection; if none comes before the next check,
 * that check closes it.
 */
bool http_cancel(struct conncheck *c, struct cc_check *k)
{
	struct http_ctx *x;
	curl_off_t t = 0;

	if (!k->h)
		return false;
	x = ctx_of(k->h);
	curl_easy_getinfo(k->h, CURLINFO_CONNECT_TIME_T, &t);
	if (x->running && reuses(pool_hc(c, x->p), x))
		x->late = true;
	else
		stop_transfer(c, x, k->h);
	return t > 0;
}

void http_forget(struct conncheck *c, struct cc_check *k)
{
	struct http_ctx *x;

	if (!k->h)
		return;
	x = ctx_of(k->h);
	stop_transfer(c, x, k->h);
	curl_easy_cleanup(k->h);
	k->h = NULL;
	if (x->keepalive)
		c->st.keepalive_used--;
	curl_slist_free_all(x->connect_to);
	curl_slist_free_all(x->headers);
	curl_url_cleanup(x->url);
	free(x);
}

static bool tls_failure(CURLcode r)
{
	switch (r) {
	case CURLE_SSL_CONNECT_ERROR:
	case CURLE_PEER_FAILED_VERIFICATION:
	case CURLE_SSL_CERTPROBLEM:
	case CURLE_SSL_CIPHER:
	case CURLE_SSL_CACERT_BADFILE:
	case CURLE_SSL_ISSUER_ERROR:
	case CURLE_SSL_PINNEDPUBKEYNOTMATCH:
	case CURLE_SSL_INVALIDCERTSTATUS:
	case CURLE_SSL_SHUTDOWN_FAILED:
	case CURLE_SSL_CRL_BADFILE:
	case CURLE_SSL_ENGINE_INITFAILED:
	case CURLE_SSL_ENGINE_NOTFOUND:
	case CURLE_SSL_ENGINE_SETFAILED:
	case CURLE_USE_SSL_FAILED:
		return true;
	default:
		return false;
	}
}

/* A transfer that failed before a full reply: why, in our reasons. */
static uint8_t failure_reason(CURL *e, CURLcode r, uint16_t *detail)
{
	long os = 0, v = 0;

	if (tls_failure(r)) {
		/* Only a certificate check has a verify result (else libcurl says 1). */
		if (r == CURLE_PEER_FAILED_VERIFICATION) {
			curl_easy_getinfo(e, CURLINFO_SSL_VERIFYRESULT, &v);
			/* The chain passed (0, or libcurl's 1): the name did not. */
			if (v <= 1)
				v = X509_HOSTNAME_MISMATCH;
		}
		*detail = (uint16_t)v;
		return XDPHC_REASON_TLS_ERROR;
	}
	if (r == CURLE_OPERATION_TIMEDOUT)
		return XDPHC_REASON_TIMEOUT;
	curl_easy_getinfo(e, CURLINFO_OS_ERRNO, &os);
	if (r == CURLE_COULDNT_CONNECT) {
		if (os == ECONNREFUSED)
			return XDPHC_REASON_REFUSED;
		if (os == EHOSTUNREACH || os == ENETUNREACH)
			return XDPHC_REASON_UNREACHABLE;
		if (os == ETIMEDOUT)
			return XDPHC_REASON_TIMEOUT;
		return XDPHC_REASON_REFUSED;
	}
	return XDPHC_REASON_BAD_REPLY;
}

/* A whole reply (or as much of a long body as we read). */
static uint8_t reply_reason(const struct hc_config *hc, const struct http_ctx *x, long code,
			    bool *fail_fast)
{
	*fail_fast = false;
	if (codes_has(&hc->fail_fast_codes, (unsigned int)code)) {
		*fail_fast = true;
		return XDPHC_REASON_HTTP_STATUS;
	}
	if (!codes_has(&hc->success_codes, (unsigned int)code))
		return XDPHC_REASON_HTTP_STATUS;
	if (x->want && !x->body_match.found)
		return XDPHC_REASON_MISMATCH;
	return XDPHC_REASON_OK;
}

static void finish(void *ctx, CURL *e, CURLcode r)
{
	struct conncheck *c = ctx;
	struct http_ctx *x = ctx_of(e);
	struct cc_check *k = conncheck_of(c, x->p, x->b);
	curl_off_t total = 0, conn_t = 0;
	long code = 0, conns = 0;
	uint16_t detail = 0;
	uint8_t reason;
	bool ff = false;

	if (x->late) {
		/* Its check timed out already: only the connection is kept. */
		c->st.late++;
		stop_transfer(c, x, e);
		return;
	}
	curl_easy_getinfo(e, CURLINFO_RESPONSE_CODE, &code);
	curl_easy_getinfo(e, CURLINFO_NUM_CONNECTS, &conns);
	curl_easy_getinfo(e, CURLINFO_TOTAL_TIME_T, &total);
	curl_easy_getinfo(e, CURLINFO_CONNECT_TIME_T, &conn_t);
	k->reached = conn_t > 0;
	if (!conns && code)
		c->st.reused++;
	if ((r == CURLE_OK || (r == CURLE_WRITE_ERROR && x->body > BODY_MAX)) && code) {
		reason = reply_reason(pool_hc(c, x->p), x, code, &ff);
		detail = (uint16_t)code;
	} else {
		reason = failure_reason(e, r, &detail);
		if (log_enabled(LOG_DEBUG))
			log_debug("HTTP check of id %u: %s (%s)", x->b, curl_easy_strerror(r),
				  reason_name(reason));
	}
	stop_transfer(c, x, e);
	k->rtt_us = total > 0 ? (uint32_t)total : 0;
	k->fail_fast = ff;
	conncheck_done(c, k, reason, detail);
}

void http_socket_ready(struct conncheck *c, uint64_t data, uint32_t events)
{
	hm_socket_ready(c->http, data, events);
}

void http_run_timers(struct conncheck *c, uint64_t now)
{
	if (c->http)
		hm_run_timers(c->http, now);
}

uint64_t http_next_timer(const struct conncheck *c)
{
	return c->http ? hm_next_timer(c->http) : 0;
}
