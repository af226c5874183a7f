// SPDX-License-Identifier: MIT
#include <arpa/inet.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "icmplimit.h"
#include "log.h"

#define SHOWN_HOSTS 3

struct host_rate {
	uint8_t family;
	__be32 addr[4];
	double rate;		/* probes a second */
	uint32_t pool;		/* the pool of its first such backend */
};

static int cmp_host(const void *a, const void *b)
{
	const struct host_rate *x = a, *y = b;

	if (x->family != y->family)
		return x->family < y->family ? -1 : 1;
	return memcmp(x->addr, y->addr, sizeof(x->addr));
}

/* Datagrams a second a backend of the pool may be sent: its fastest pace, each retransmit too. */
static double pool_udp_rate(const struct hc_config *hc)
{
	uint32_t ms = hc->interval_ms;

	if (hc->unhealthy_interval_ms && hc->unhealthy_interval_ms < ms)
		ms = hc->unhealthy_interval_ms;
	if (hc->transition_interval_ms && hc->transition_interval_ms < ms)
		ms = hc->transition_interval_ms;
	return ms ? 1000.0 * (1 + hc->retransmits) / ms : 0;
}

static bool silence_ok(const struct config *cfg, uint32_t pool)
{
	return pool < cfg->n_pools && cfg->pools[pool].hc.protocol == HC_PROTO_UDP &&
	       !cfg->pools[pool].hc.expect.len;
}

static size_t collect(const struct config *cfg, const struct slots *sl, size_t n,
		      struct host_rate *h)
{
	size_t k = 0;

	for (size_t i = 0; i < n; i++) {
		const struct xdphc_slot *s = &sl->s[i];

		if (!s->family || s->proto != XDPHC_PROTO_UDP || !silence_ok(cfg, s->check))
			continue;
		h[k].family = s->family;
		memcpy(h[k].addr, s->addr, sizeof(h[k].addr));
		h[k].rate = pool_udp_rate(&cfg->pools[s->check].hc);
		h[k].pool = s->check;
		k++;
	}
	return k;
}

static void log_host(const struct config *cfg, const struct host_rate *h, double rate)
{
	char a[INET6_ADDRSTRLEN] = "?";

	inet_ntop(h->family == AF_INET6 ? AF_INET6 : AF_INET, h->addr, a, sizeof(a));
	log_warn("pool %s: host %s is sent %.1f UDP probes a second; with a kernel's default "
		 "ICMP rate limit (%s: about %.0f error a second to one peer) its closed ports "
		 "may go unanswered and pass, for a check without expect takes silence for "
		 "success: set expect, or probe it less often",
		 cfg->pools[h->pool].name, a, rate,
		 h->family == AF_INET6 ? "net.ipv6.icmp.ratelimit" : "net.ipv4.icmp_ratelimit",
		 ICMP_LIMIT_PER_S);
}

size_t icmp_limit_warn(const struct config *cfg, const struct slots *sl, size_t n)
{
	struct host_rate *h = calloc(n ? n : 1, sizeof(*h));
	size_t k, hosts = 0;

	if (!h)
		return 0;
	k = collect(cfg, sl, n, h);
	qsort(h, k, sizeof(*h), cmp_host);
	for (size_t i = 0; i < k;) {
		size_t j = i;
		double rate = 0;

		for (; j < k && !cmp_host(&h[i], &h[j]); j++)
			rate += h[j].rate;
		/* A little over: the limit's burst of 6 absorbs jitter. */
		if (rate > ICMP_LIMIT_PER_S * 1.01) {
			if (hosts < SHOWN_HOSTS)
				log_host(cfg, &h[i], rate);
			hosts++;
		}
		i = j;
	}
	if (hosts > SHOWN_HOSTS)
		log_warn("%zu backend hosts in all are sent UDP probes faster than a default ICMP "
			 "rate limit answers (the first %d are named above)", hosts, SHOWN_HOSTS);
	free(h);
	return hosts;
}
