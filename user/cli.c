// SPDX-License-Identifier: MIT
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <bpf/bpf.h>

#include "addr.h"
#include "bpfmap.h"
#include "cli.h"
#include "clock.h"
#include "keyindex.h"
#include "names.h"
#include "pins.h"
#include "seqlock.h"

#define STALE_AFTER_NS 3000000000ULL

#define TEXT_LIST_MAX 100	/* not-up backends listed by the text view */

/* A consistent copy of one status entry. */
struct entry {
	struct xdphc_backend_status st;
	uint32_t id;
};

struct snapshot {
	struct xdphc_meta meta;
	struct xdphc_engine_stats stats;
	struct xdphc_pool_summary pools[XDPHC_MAX_POOLS];
	struct entry *e;
	size_t n;
};

static const char *fmt_time(uint64_t ns, char *buf, size_t len)
{
	time_t t = ns / 1000000000ULL;
	struct tm tm;

	if (!ns)
		return "never";
	gmtime_r(&t, &tm);
	strftime(buf, len, "%Y-%m-%dT%H:%M:%SZ", &tm);
	return buf;
}

/* Open one pinned map for reading; on failure the reason goes to stderr. */
static int open_or_report(const char *dir, enum pin_map which)
{
	char err[512];
	int fd = pins_open_map(dir, which, err, sizeof(err));

	if (fd < 0)
		fprintf(stderr, "xdphc: %s\n", err);
	return fd;
}

static int read_pools(const char *dir, struct snapshot *s)
{
	int fd = open_or_report(dir, PIN_POOLS);

	if (fd < 0)
		return -1;
	for (uint32_t i = 0; i < XDPHC_MAX_POOLS; i++)
		if (bpf_map_lookup_elem(fd, &i, &s->pools[i]))
			memset(&s->pools[i], 0, sizeof(s->pools[i]));
	close(fd);
	return 0;
}

static int read_stats(const char *dir, struct snapshot *s)
{
	uint32_t zero = 0;
	int fd = open_or_report(dir, PIN_STATS);

	if (fd < 0)
		return -1;
	if (bpf_map_lookup_elem(fd, &zero, &s->stats))
		memset(&s->stats, 0, sizeof(s->stats));
	close(fd);
	return 0;
}

static void read_entry(const struct xdphc_backend_status *src, struct xdphc_backend_status *dst)
{
	seqlock_read(&src->seq, dst, src, sizeof(*dst));
}

static int read_status(const char *dir, struct snapshot *s)
{
	char err[512];
	size_t n, len;
	const struct xdphc_backend_status *m = pins_map_status(dir, &n, &len, err, sizeof(err));

	if (!m) {
		fprintf(stderr, "xdphc: %s\n", err);
		return -1;
	}
	s->e = malloc((n ? n : 1) * sizeof(*s->e));
	if (!s->e) {
		bpfmap_munmap(m, len);
		return -1;
	}
	for (size_t i = 0; i < n; i++)
		if (m[i].key.family) {
			s->e[s->n].id = i;
			read_entry(&m[i], &s->e[s->n++].st);
		}
	bpfmap_munmap(m, len);
	return 0;
}

static int snapshot_read(const char *dir, struct snapshot *s, bool with_status)
{
	char err[512];

	memset(s, 0, sizeof(*s));
	if (pins_read_meta(dir, &s->meta, err, sizeof(err))) {
		fprintf(stderr, "xdphc: %s\n", err);
		return -1;
	}
	if (read_pools(dir, s) || read_stats(dir, s))
		return -1;
	return with_status ? read_status(dir, s) : 0;
}

static const char *pool_name(const struct snapshot *s, uint32_t id)
{
	return id < XDPHC_MAX_POOLS && s->pools[id].in_use ? s->pools[id].name : "?";
}

/* IPv4 before IPv6, then by address, port and protocol (tcp before udp). */
static int cmp_entry(const void *a, const void *b)
{
	const struct xdphc_backend_key *x = &((const struct entry *)a)->st.key;
	const struct xdphc_backend_key *y = &((const struct entry *)b)->st.key;
	int c = (int)x->family - (int)y->family;

	if (!c)
		c = memcmp(x->addr, y->addr, sizeof(x->addr));
	if (!c)
		c = (int)ntohs(x->port) - (int)ntohs(y->port);
	return c ? c : (int)x->protocol - (int)y->protocol;
}

/* "running", "stopped" or "stale": what a consumer may conclude about freshness. */
static const char *engine_state(const struct xdphc_meta *m, uint64_t now)
{
	if (!m->running)
		return "stopped";
	if (now > m->last_tick_ns && now - m->last_tick_ns > STALE_AFTER_NS)
		return "stale";
	return "running";
}

static void print_engine(const struct snapshot *s, const char *dir)
{
	uint64_t now = real_ns();
	double age = now > s->meta.last_tick_ns ? (now - s->meta.last_tick_ns) / 1e9 : 0;
	const char *st = engine_state(&s->meta, now);
	char t[32];

	if (!strcmp(st, "running")) {
		printf("engine: running (pid %u), heartbeat %.1fs ago, pins %s\n",
		       s->meta.pid, age, dir);
		if (s->meta.flags & XDPHC_META_F_IMPAIRED)
			printf("engine: IMPAIRED: most recent probes were never known to be "
			       "sent (device drops or send errors); backend states are held\n");
		if (s->meta.flags & XDPHC_META_F_CIRCUIT_OPEN)
			printf("engine: CIRCUIT OPEN: more than max_down_fraction of the backends "
			       "time out and the prober looks like the cause; backend states are "
			       "held\n");
	} else if (!strcmp(st, "stale"))
		printf("engine: NOT RESPONDING (pid %u), last heartbeat %.1fs ago: the data "
		       "below is stale\n", s->meta.pid, age);
	else
		printf("engine: stopped (last heartbeat %s, %.0fs ago): showing the last known "
		       "state\n", fmt_time(s->meta.last_tick_ns, t, sizeof(t)), age);
}

static void print_pools_text(const struct snapshot *s, const char *only)
{
	printf("%-20s %8s %8s %8s %8s %8s %8s  %-9s  %s\n", "POOL", "TOTAL", "UP", "DOWN",
	       "UNKNOWN", "DRAINING", "MAINT", "FAIL-OPEN", "CHECK");
	for (int i = 0; i < XDPHC_MAX_POOLS; i++) {
		const struct xdphc_pool_summary *p = &s->pools[i];

		if (!p->in_use || (only && strcmp(only, p->name)))
			continue;
		printf("%-20s %8u %8u %8u %8u %8u %8u  %-9s  %s\n", p->name, p->total, p->up,
		       p->down, p->unknown, p->draining, p->maint,
		       p->flags & XDPHC_POOL_F_FAIL_OPEN ? "yes" : "no", check_name(p->check));
	}
}

static void print_reason(const struct xdphc_backend_status *st, char *buf, size_t len)
{
	unsigned int code = status_http_code(st);
	uint16_t icmp = status_icmp(st);

	if (icmp)
		snprintf(buf, len, "%s(icmp %u/%u)", reason_name(st->reason),
			 XDPHC_DETAIL_ICMP_TYPE(icmp), XDPHC_DETAIL_ICMP_CODE(icmp));
	else if (code)
		snprintf(buf, len, "%s(%u)", reason_name(st->reason), code);
	else if (st->reason == XDPHC_REASON_TLS_ERROR && st->detail)
		snprintf(buf, len, "%s(verify %u)", reason_name(st->reason), st->detail);
	else
		snprintf(buf, len, "%s", reason_name(st->reason));
}

static void print_not_up_text(const struct snapshot *s, int only_id)
{
	uint64_t now = real_ns();
	size_t shown = 0, more = 0;
	char a[64], r[48], t[32], sn[24];

	for (size_t i = 0; i < s->n; i++) {
		const struct entry *e = &s->e[i];

		bool drain = e->st.flags & XDPHC_BACKEND_F_DRAIN;

		if ((e->st.state == XDPHC_STATE_UP && !drain) ||
		    (only_id >= 0 && (int)e->st.pool_id != only_id))
			continue;
		if (shown == TEXT_LIST_MAX) {
			more++;
			continue;
		}
		if (!shown++)
			printf("\n%-28s %-16s %-10s %-22s %s\n", "BACKEND", "POOL", "STATE",
			       "REASON", "SINCE");
		print_reason(&e->st, r, sizeof(r));
		snprintf(sn, sizeof(sn), "%s%s", state_name(e->st.state), drain ? ",drain" : "");
		if (!e->st.last_change_ns) {
			printf("%-28s %-16s %-10s %-22s -\n", addr_format(&e->st.key, a, sizeof(a)),
			       pool_name(s, e->st.pool_id), sn, r);
			continue;
		}
		printf("%-28s %-16s %-10s %-22s %s (%.0fs ago)\n",
		       addr_format(&e->st.key, a, sizeof(a)), pool_name(s, e->st.pool_id),
		       sn, r, fmt_time(e->st.last_change_ns, t, sizeof(t)),
		       now > e->st.last_change_ns ? (now - e->st.last_change_ns) / 1e9 : 0.0);
	}
	if (more)
		printf("... and %zu more not up or draining (xdphc status --json lists every "
		       "backend)\n", more);
	if (!shown)
		printf("\nall backends are up\n");
}

static void json_backend(const struct snapshot *s, const struct entry *e)
{
	char a[64];
	struct xdphc_backend_key k = e->st.key;
	uint16_t icmp = status_icmp(&e->st);

	addr_format(&k, a, sizeof(a));
	/* The address without the port, for consumers that want them apart. */
	*strrchr(a, ':') = '\0';
	printf("{\"address\":\"%s\",\"port\":%u,\"pool\":\"%s\",\"state\":\"%s\","
	       "\"check\":\"%s\",\"reason\":\"%s\",\"detail\":%u,\"http_status\":%u,"
	       "\"icmp_type\":%u,\"icmp_code\":%u,\"consecutive_ok\":%u,"
	       "\"consecutive_fail\":%u,\"last_rtt_us\":%u,\"last_change_ns\":%llu,"
	       "\"draining\":%s,\"grace\":%s,\"generation\":%u,\"id\":%u}",
	       a[0] == '[' ? (a[strlen(a) - 1] = '\0', a + 1) : a, ntohs(e->st.key.port),
	       pool_name(s, e->st.pool_id), state_name(e->st.state), check_name(e->st.check),
	       reason_name(e->st.reason), e->st.detail, status_http_code(&e->st),
	       XDPHC_DETAIL_ICMP_TYPE(icmp), XDPHC_DETAIL_ICMP_CODE(icmp),
	       e->st.consecutive_ok, e->st.consecutive_fail,
	       e->st.last_rtt_us, (unsigned long long)e->st.last_change_ns,
	       e->st.flags & XDPHC_BACKEND_F_DRAIN ? "true" : "false",
	       e->st.flags & XDPHC_BACKEND_F_GRACE ? "true" : "false", e->st.generation, e->id);
}

static void json_engine(const struct snapshot *s)
{
	printf("\"engine\":{\"state\":\"%s\",\"pid\":%u,\"abi_version\":%u,"
	       "\"start_ns\":%llu,\"last_tick_ns\":%llu,\"impaired\":%s,\"circuit_open\":%s}",
	       engine_state(&s->meta, real_ns()), s->meta.pid, s->meta.abi_version,
	       (unsigned long long)s->meta.start_ns, (unsigned long long)s->meta.last_tick_ns,
	       s->meta.flags & XDPHC_META_F_IMPAIRED ? "true" : "false",
	       s->meta.flags & XDPHC_META_F_CIRCUIT_OPEN ? "true" : "false");
}

static void json_stats(const struct xdphc_engine_stats *st)
{
	printf("\"stats\":{");
	for (size_t i = 0; i < names_n_stats; i++)
		printf("%s\"%s\":%llu", i ? "," : "", names_stats[i].name,
		       (unsigned long long)stat_value(st, &names_stats[i]));
	printf("}");
}

static void print_json(const struct snapshot *s, int only_id, bool summary)
{
	bool first = true;

	printf("{");
	json_engine(s);
	printf(",");
	json_stats(&s->stats);
	printf(",\"pools\":[");
	for (int i = 0; i < XDPHC_MAX_POOLS; i++) {
		const struct xdphc_pool_summary *p = &s->pools[i];

		if (!p->in_use || (only_id >= 0 && i != only_id))
			continue;
		printf("%s{\"name\":\"%s\",\"total\":%u,\"up\":%u,\"down\":%u,\"unknown\":%u,"
		       "\"draining\":%u,\"maint\":%u,\"capacity\":%u,"
		       "\"fail_open\":%s,\"interval_ms\":%u,\"last_cycle_us\":%u,\"check\":\"%s\"}",
		       first ? "" : ",", p->name, p->total, p->up, p->down, p->unknown,
		       p->draining, p->maint, p->capacity,
		       p->flags & XDPHC_POOL_F_FAIL_OPEN ? "true" : "false", p->interval_ms,
		       p->last_cycle_us, check_name(p->check));
		first = false;
	}
	if (summary) {
		printf("]}\n");
		return;
	}
	printf("],\"backends\":[");
	first = true;
	for (size_t i = 0; i < s->n; i++) {
		if (only_id >= 0 && (int)s->e[i].st.pool_id != only_id)
			continue;
		printf("%s", first ? "" : ",");
		json_backend(s, &s->e[i]);
		first = false;
	}
	printf("]}\n");
}

static int find_pool(const struct snapshot *s, const char *name)
{
	for (int i = 0; i < XDPHC_MAX_POOLS; i++)
		if (s->pools[i].in_use && !strcmp(s->pools[i].name, name))
			return i;
	return -1;
}

int cli_status(const struct cli_opts *o)
{
	struct snapshot s;
	int only = -1;

	if (snapshot_read(o->pin_path, &s, !o->summary))
		return 1;
	if (o->pool && (only = find_pool(&s, o->pool)) < 0) {
		fprintf(stderr, "xdphc: --pool %s: no such pool in %s\n", o->pool, o->pin_path);
		free(s.e);
		return 1;
	}
	qsort(s.e, s.n, sizeof(*s.e), cmp_entry);
	if (o->json) {
		print_json(&s, only, o->summary);
	} else {
		print_engine(&s, o->pin_path);
		print_pools_text(&s, o->pool);
		if (!o->summary)
			print_not_up_text(&s, only);
	}
	free(s.e);
	return 0;
}

/* By the index map when there is one, else by a scan of the status map. */
/*
 * The backend's entry in pool only (-1: its first pool; a backend may be in
 * several).  0 found, 1 not found, -1 error.
 */
static int find_backend(const char *dir, const struct snapshot *s, int only,
			const struct xdphc_backend_key *key, struct entry *out)
{
	char err[512];
	size_t n, len;
	const struct xdphc_backend_status *m = pins_map_status(dir, &n, &len, err, sizeof(err));
	int found = -1, fd;
	uint32_t id;

	if (!m) {
		fprintf(stderr, "xdphc: %s\n", err);
		return -1;
	}
	fd = pins_open_map(dir, PIN_INDEX, err, sizeof(err));
	if (fd >= 0) {
		for (int p = 0; p < XDPHC_MAX_POOLS && found < 0; p++) {
			struct xdphc_index_key k = { .backend = *key, .pool_id = (__u16)p };

			if ((only < 0 || p == only) && s->pools[p].in_use &&
			    !bpf_map_lookup_elem(fd, &k, &id) && id < n)
				found = (int)id;
		}
		close(fd);
	} else {
		for (size_t i = 0; i < n && found < 0; i++)
			if (m[i].key.family && backend_key_equal(&m[i].key, key) &&
			    (only < 0 || m[i].pool_id == only))
				found = (int)i;
	}
	if (found >= 0) {
		out->id = found;
		read_entry(&m[found], &out->st);
	}
	bpfmap_munmap(m, len);
	if (found < 0)
		return 1;
	return 0;
}

int cli_show(const struct cli_opts *o, const char *backend)
{
	struct xdphc_backend_key key;
	struct snapshot s;
	struct entry e;
	char err[256], t[32], r[48];
	int rc, only;

	if (addr_parse_backend(backend, &key, err, sizeof(err))) {
		fprintf(stderr, "xdphc: show %s: %s\n", backend, err);
		return 2;
	}
	if (snapshot_read(o->pin_path, &s, false))
		return 1;
	only = o->pool ? find_pool(&s, o->pool) : -1;
	if (o->pool && only < 0) {
		fprintf(stderr, "xdphc: show: no pool '%s' in %s/pools\n", o->pool, o->pin_path);
		return 1;
	}
	/* ADDR:PORT names a tcp backend, else a udp one (--pool tells them apart). */
	key.protocol = IPPROTO_TCP;
	rc = find_backend(o->pin_path, &s, only, &key, &e);
	if (rc > 0) {
		key.protocol = IPPROTO_UDP;
		rc = find_backend(o->pin_path, &s, only, &key, &e);
	}
	if (rc < 0)
		return 1;
	if (rc > 0) {
		fprintf(stderr, "xdphc: %s: not a configured backend (not in %s/status)\n",
			backend, o->pin_path);
		return 1;
	}
	if (o->json) {
		json_backend(&s, &e);
		printf("\n");
		return 0;
	}
	print_engine(&s, o->pin_path);
	print_reason(&e.st, r, sizeof(r));
	printf("backend:          %s\n", backend);
	printf("pool:             %s\n", pool_name(&s, e.st.pool_id));
	printf("check:            %s\n", check_name(e.st.check));
	printf("id:               %u (generation %u)\n", e.id, e.st.generation);
	printf("state:            %s%s%s\n", state_name(e.st.state),
	       e.st.flags & XDPHC_BACKEND_F_DRAIN ? ", draining (no new flows)" : "",
	       e.st.flags & XDPHC_BACKEND_F_GRACE ? ", in its grace period" : "");
	printf("last result:      %s\n", r);
	printf("consecutive ok:   %u\n", e.st.consecutive_ok);
	printf("consecutive fail: %u\n", e.st.consecutive_fail);
	printf("last rtt:         %u us\n", e.st.last_rtt_us);
	printf("state since:      %s\n", fmt_time(e.st.last_change_ns, t, sizeof(t)));
	return 0;
}
