// SPDX-License-Identifier: MIT
/*
 * config_load() through files, table-driven.  To add a case, append to
 * valid[] (with a check function for what the config must hold) or to
 * errors[] (the message substring and the line it must name).  In the YAML,
 * the file contents and the expected message:
 *   @DIR@  the temporary directory holding the config (c.yaml) and the
 *          backends file (b.txt), @CFG@ and @FILE@ their paths,
 *   @LONG@ an absolute path of PATH_MAX characters (one too many),
 *   @MAXP@ an absolute path of PATH_MAX - 1 characters (just fits).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "check.h"
#include "config.h"
#include "keyindex.h"

struct cfg_case {
	const char *name;
	const char *yaml;		/* the config, c.yaml */
	size_t yaml_len;		/* for text with NUL bytes; 0: strlen */
	const char *file;		/* b.txt next to it, or NULL for none */
	size_t file_len;
	const char *err;		/* errors[]: a substring of the message */
	int line;			/* errors[]: the line it names; 0 for none */
	bool in_file;			/* errors[]: it names b.txt, not c.yaml */
	void (*check)(const struct config *c);	/* valid[]: what it must hold */
};

/* Shared fragments; POOLS is lines n+1..n+3 after what precedes it. */
#define IFACE "interface: eth0\n"
#define POOLS "pools:\n  - name: web\n    backends: [10.0.0.1:80]\n"
/* One pool; healthcheck keys start at line 6. */
#define HC IFACE "pools:\n  - name: web\n    backends: [10.0.0.1:80]\n    healthcheck:\n"
/* One pool; a block list whose first entry is line 5. */
#define BLOCK IFACE "pools:\n  - name: web\n    backends:\n"
/* An http and an https check; their other keys start at line 7. */
#define HTTP HC "      protocol: http\n"
#define HTTPS HC "      protocol: https\n"
/* A udp check; its other keys start at line 7. */
#define UDP HC "      protocol: udp\n"
/* Text of 254 bytes, and hex of 256 bytes. */
#define A16 "aaaaaaaaaaaaaaaa"
#define A64 A16 A16 A16 A16
#define A254 A64 A64 A64 A16 A16 A16 "aaaaaaaaaaaaaa"
#define HEX16 "00112233445566778899aabbccddeeff"
#define HEX128 HEX16 HEX16 HEX16 HEX16 HEX16 HEX16 HEX16 HEX16
#define HEX256 HEX128 HEX128
/* Text of 1472 bytes (a udp payload's most), and of 1473. */
#define A256 A64 A64 A64 A64
#define A1472 A256 A256 A256 A256 A256 A64 A64 A64
#define A1473 A1472 "a"
#define A1372 A256 A256 A256 A256 A256 A64 A16 "aaaaaaaaaaaa"
#define A1452 A1372 A64 A16
/* The start of the messages on bad paths and hosts. */
#define PATH_MUST "path must be a path starting with / (a query is fine) without spaces, " \
	"control characters, non-ASCII or #, at most 255 characters, got '"
#define HOST_MUST "host must be a name or address with an optional :PORT, without scheme, " \
	"path, spaces, control characters or non-ASCII, at most 255 characters, got '"

static char dir[PATH_MAX - 64];
static char cfg_path[PATH_MAX], file_path[PATH_MAX];

/* ---- helpers ------------------------------------------------------------ */

static uint32_t ip4(const char *s)
{
	struct in_addr a = { 0 };

	inet_pton(AF_INET, s, &a);
	return a.s_addr;
}

static bool key_is(const struct xdphc_backend_key *k, const char *addr, uint16_t port)
{
	return k->family == AF_INET && k->protocol == IPPROTO_TCP && k->addr[0] == ip4(addr) &&
	       !k->addr[1] && !k->addr[2] && !k->addr[3] && k->port == htons(port);
}

#define CHECK_KEY(k, addr, port) CHECK_MSG(key_is(k, addr, port), "%s is %s:%u", #k, addr, port)

/* An IPv6 key of the protocol: addr as inet_pton() reads it. */
static bool key6_is(const struct xdphc_backend_key *k, const char *addr, uint16_t port,
		    uint8_t protocol)
{
	struct in6_addr a = { 0 };

	inet_pton(AF_INET6, addr, &a);
	return k->family == AF_INET6 && k->protocol == protocol &&
	       !memcmp(k->addr, &a, sizeof(a)) && k->port == htons(port);
}

#define CHECK_KEY6(k, addr, port, proto)                                                 \
	CHECK_MSG(key6_is(k, addr, port, proto), "%s is [%s]:%u/%u", #k, addr, port, proto)
/* A set of status codes, as codes_format() writes it. */
#define CHECK_CODES(set, text)                                                  \
	do {                                                                    \
		char b_[256];                                                   \
		codes_format(set, b_, sizeof(b_));                              \
		CHECK_STR(b_, text);                                            \
	} while (0)
/* The bytes of a send or expect. */
#define CHECK_BYTES(hb, data)                                                   \
	do {                                                                    \
		CHECK_UINT((hb).len, sizeof(data) - 1);                         \
		CHECK(!memcmp((hb).b, data, sizeof(data) - 1));                 \
	} while (0)
/* The line of pool p's key (a pool or healthcheck key); 0 if it took its default. */
#define POOL_LINE(c, p, key) ((c)->pools[p].line[(key) - CFG_TOP_N])

static void long_path(char *out, size_t len)
{
	memset(out, 'a', len);
	out[0] = '/';
	out[len] = '\0';
}

/* tmpl with the @NAME@ placeholders replaced; malloc'ed. */
static char *expand(const char *tmpl, size_t tlen)
{
	static char lng[PATH_MAX + 1], maxp[PATH_MAX];
	const struct { const char *name; const char *val; } sub[] = {
		{ "@DIR@", dir }, { "@CFG@", cfg_path }, { "@FILE@", file_path },
		{ "@LONG@", lng }, { "@MAXP@", maxp },
	};
	char *out = NULL;
	size_t olen = 0, i;
	FILE *f = open_memstream(&out, &olen);

	long_path(lng, PATH_MAX);
	long_path(maxp, PATH_MAX - 1);
	for (const char *p = tmpl; f && p < tmpl + tlen; ) {
		for (i = 0; i < sizeof(sub) / sizeof(sub[0]); i++)
			if (!strncmp(p, sub[i].name, strlen(sub[i].name)))
				break;
		if (i < sizeof(sub) / sizeof(sub[0])) {
			fputs(sub[i].val, f);
			p += strlen(sub[i].name);
		} else {
			fputc(*p++, f);
		}
	}
	if (f)
		fclose(f);
	return out;
}

/* len != 0: bytes written as they are (they may hold NULs); else tmpl, expanded. */
static int write_file(const char *path, const char *tmpl, size_t len)
{
	char *text = len ? NULL : expand(tmpl, strlen(tmpl));
	const char *data = len ? tmpl : text;
	size_t n = len ? len : (text ? strlen(text) : 0);
	FILE *f = fopen(path, "w");
	int ret = 0;

	if (!f || !data || fwrite(data, 1, n, f) != n)
		ret = -1;
	if (f && fclose(f))
		ret = -1;
	free(text);
	return ret;
}

static int setup_case(const struct cfg_case *c)
{
	unlink(file_path);
	if (c->file && write_file(file_path, c->file, c->file_len))
		return -1;
	return write_file(cfg_path, c->yaml, c->yaml_len);
}

/* ---- checks on valid configs ------------------------------------------- */

/* The keys of connection checks, all at their defaults. */
static void request_defaults(const struct hc_config *hc)
{
	CHECK_INT(hc->method, HC_METHOD_HEAD);
	CHECK_INT(hc->http_version, HC_HTTP_1_1);
	CHECK(hc->reuse_connection);
	CHECK(!hc->tls_verify);
	CHECK_STR(hc->path, "/");
	CHECK_STR(hc->host, "");
	CHECK_STR(hc->expect_body, "");
	CHECK_STR(hc->headers, "");
	CHECK_STR(hc->ca_file, "");
	CHECK_STR(hc->sni, "");
	CHECK_CODES(&hc->success_codes, "200-399");
	CHECK_CODES(&hc->fail_fast_codes, "503");
	CHECK_UINT(hc->send.len, 0);
	CHECK_UINT(hc->expect.len, 0);
}

static void defaults(const struct config *c)
{
	const struct hc_config *hc = &c->pools[0].hc;

	CHECK_STR(c->interface, "eth0");
	CHECK_INT(c->line[CFG_INTERFACE], 1);
	CHECK(!config_has(c, CFG_SOURCE_IPV4));
	CHECK(!config_has(c, CFG_SOURCE_PORTS));
	CHECK_STR(c->pin_path, "/sys/fs/bpf/xdphc");
	CHECK_INT(c->line[CFG_PIN_PATH], 0);
	CHECK_INT(c->xdp_mode, CFG_XDP_NATIVE);
	CHECK(c->status_index);
	CHECK_STR(c->event_log, "");
	CHECK(!c->tail_call);
	CHECK_STR(c->tail_call_map, "");
	CHECK(!config_has(c, CFG_METRICS_LISTEN));
	CHECK_UINT(c->n_pools, 1);
	CHECK_STR(c->pools[0].name, "web");
	CHECK_INT(hc->protocol, HC_PROTO_TCP);
	CHECK_UINT(hc->port, 0);
	CHECK_UINT(hc->interval_ms, 1000);
	CHECK_UINT(hc->unhealthy_interval_ms, 1000);	/* the interval */
	CHECK_UINT(hc->transition_interval_ms, 1000);
	CHECK_UINT(hc->timeout_ms, 500);
	CHECK_UINT(hc->retransmits, 1);
	CHECK_INT(POOL_LINE(c, 0, CFG_HC_JITTER), 0);
	CHECK_UINT(hc->jitter_ms, 10);		/* 1 % of the interval */
	CHECK_UINT(hc->healthy_threshold, 3);
	CHECK_UINT(hc->unhealthy_threshold, 2);
	CHECK_INT(hc_check_kind(hc), XDPHC_CHECK_TCP_SYN);
	CHECK(!hc_is_connection(hc));
	request_defaults(hc);
	CHECK_UINT(c->pools[0].n_backends, 1);
	CHECK_KEY(&c->backends[0].key, "10.0.0.1", 80);
	CHECK_UINT(config_backend_count(c), 1);
	/* One backend, room for 16 more. */
	CHECK_UINT(c->pools[0].first_id, 0);
	CHECK_UINT(c->pools[0].max_backends, 17);
	CHECK_UINT(config_id_count(c), 17);
	CHECK_UINT(c->max_down_ppm, 500000);
	CHECK_UINT(c->pools[0].max_down_ppm, 500000);
	CHECK(!c->pools[0].canaries);
	CHECK(config_canaries(c) == NULL);
}

static void every_top_key(const struct config *c)
{
	CHECK_STR(c->interface, "veth-probe0");
	CHECK_INT(c->line[CFG_INTERFACE], 1);
	CHECK(config_has(c, CFG_SOURCE_IPV4));
	CHECK_UINT(c->source_ipv4, ip4("198.18.255.1"));
	CHECK(config_has(c, CFG_SOURCE_PORTS));
	CHECK_UINT(c->source_ports.lo, 61000);
	CHECK_UINT(c->source_ports.hi, 65095);
	CHECK_STR(c->pin_path, "/sys/fs/bpf/xhc-unit");
	CHECK_INT(c->line[CFG_PIN_PATH], 4);
	CHECK_INT(c->xdp_mode, CFG_XDP_SKB);
	CHECK(!c->status_index);
	CHECK_STR(c->event_log, "/var/log/xdphc/events.jsonl");
	CHECK_INT(c->line[CFG_EVENT_LOG], 7);
	CHECK(c->tail_call);
	CHECK_STR(c->tail_call_map, "/sys/fs/bpf/lb/chain");
	CHECK_INT(c->line[CFG_TAIL_CALL_MAP], 9);
	CHECK_UINT(c->tail_call_index, 7);
	CHECK(config_has(c, CFG_METRICS_LISTEN));
	CHECK_KEY(&c->metrics, "127.0.0.1", 9469);
	CHECK_INT(c->line[CFG_METRICS_LISTEN], 11);
	CHECK_UINT(c->n_pools, 1);
}

static void index_off(const struct config *c)
{
	CHECK(!c->status_index);
}

static void index_on(const struct config *c)
{
	CHECK(c->status_index);
}

static void log_stdout(const struct config *c)
{
	CHECK_STR(c->event_log, "stdout");
	CHECK_INT(c->line[CFG_EVENT_LOG], 2);
}

static void attach_interface(const struct config *c)
{
	CHECK(!c->tail_call);
	CHECK_INT(c->xdp_mode, CFG_XDP_NATIVE);
}

static void tail_call_no_map(const struct config *c)
{
	CHECK(c->tail_call);
	CHECK_STR(c->tail_call_map, "");
	CHECK_UINT(c->tail_call_index, 0);
}

static void tail_call_index_max(const struct config *c)
{
	CHECK_UINT(c->tail_call_index, 65535);
}

static void metrics_v6(const struct config *c)
{
	CHECK(config_has(c, CFG_METRICS_LISTEN));
	CHECK_INT(c->metrics.family, AF_INET6);
	CHECK_UINT(c->metrics.port, htons(9100));
	CHECK_UINT(c->metrics.addr[3], htonl(1));
}

static void every_hc_key(const struct config *c)
{
	const struct hc_config *hc = &c->pools[0].hc;

	CHECK_INT(hc->protocol, HC_PROTO_TCP);
	CHECK_UINT(hc->port, 8080);
	CHECK_UINT(hc->interval_ms, 2000);
	CHECK_UINT(hc->timeout_ms, 1500);
	CHECK_INT(POOL_LINE(c, 0, CFG_HC_JITTER), 10);
	CHECK_UINT(hc->jitter_ms, 5);
	CHECK_UINT(hc->healthy_threshold, 5);
	CHECK_UINT(hc->unhealthy_threshold, 4);
	CHECK_UINT(hc->unhealthy_interval_ms, 10000);
	CHECK_UINT(hc->transition_interval_ms, 1500);
	CHECK_UINT(hc->retransmits, 3);
}

/* The paces of down and moving backends follow the interval unless given. */
static void paces_follow_interval(const struct config *c)
{
	CHECK_UINT(c->pools[0].hc.unhealthy_interval_ms, 3000);
	CHECK_UINT(c->pools[0].hc.transition_interval_ms, 3000);
	CHECK_UINT(c->pools[0].hc.retransmits, 0);
}

/* A default timeout shrinks to the shortest interval, whichever it is. */
static void timeout_clamped_to_pace(const struct config *c)
{
	CHECK_UINT(c->pools[0].hc.interval_ms, 1000);
	CHECK_UINT(c->pools[0].hc.transition_interval_ms, 200);
	CHECK_UINT(c->pools[0].hc.unhealthy_interval_ms, 5000);
	CHECK_UINT(c->pools[0].hc.timeout_ms, 200);
}

static void jitter_off(const struct config *c)
{
	CHECK(POOL_LINE(c, 0, CFG_HC_JITTER));
	CHECK_UINT(c->pools[0].hc.jitter_ms, 0);
	CHECK_UINT(c->pools[0].hc.interval_ms, 1500);
}

static void default_jitter_follows(const struct config *c)
{
	CHECK(!POOL_LINE(c, 0, CFG_HC_JITTER));
	CHECK_UINT(c->pools[0].hc.jitter_ms, 15);
}

/* A short interval must not inherit a default timeout longer than itself. */
static void timeout_clamped(const struct config *c)
{
	CHECK_UINT(c->pools[0].hc.interval_ms, 200);
	CHECK_UINT(c->pools[0].hc.timeout_ms, 200);
	CHECK_UINT(c->pools[0].hc.jitter_ms, 2);
}

static void timeout_equals_interval(const struct config *c)
{
	CHECK_UINT(c->pools[0].hc.interval_ms, 60000);
	CHECK_UINT(c->pools[0].hc.timeout_ms, 60000);
}

static void interval_one_day(const struct config *c)
{
	CHECK_UINT(c->pools[0].hc.interval_ms, 24U * 3600 * 1000);
}

static void half_interval_jitter(const struct config *c)
{
	CHECK_UINT(c->pools[0].hc.jitter_ms, 50);
}

static void threshold_bounds(const struct config *c)
{
	CHECK_UINT(c->pools[0].hc.healthy_threshold, 1);
	CHECK_UINT(c->pools[0].hc.unhealthy_threshold, 1000);
	CHECK_UINT(c->pools[0].hc.port, 65535);
}

static void empty_healthcheck(const struct config *c)
{
	CHECK_UINT(c->pools[0].hc.interval_ms, 1000);
	CHECK_UINT(c->pools[0].hc.healthy_threshold, 3);
}

/* List entries come first, then the file's, whatever the key order. */
static void list_and_file(const struct config *c)
{
	const struct pool_cfg *web = &c->pools[0], *api = &c->pools[1];

	CHECK_UINT(c->n_pools, 2);
	CHECK_UINT(web->n_backends, 5);
	if (web->n_backends == 5) {
		CHECK_KEY(&c->backends[0].key, "10.0.0.1", 80);
		CHECK_KEY(&c->backends[1].key, "10.0.1.1", 80);
		CHECK_KEY(&c->backends[2].key, "10.0.1.2", 80);
		CHECK_KEY(&c->backends[3].key, "10.0.1.3", 81);
		CHECK_KEY(&c->backends[4].key, "10.0.1.4", 80);
	}
	CHECK_STR(api->name, "api");
	CHECK_UINT(api->n_backends, 2);
	if (api->n_backends == 2)
		CHECK_KEY(&c->backends[api->first + 1].key, "10.0.0.1", 81);
	/* Pools are slices of one list; their ids leave each room to grow. */
	CHECK_UINT(web->first, 0);
	CHECK_UINT(api->first, 5);
	CHECK_UINT(web->first_id, 0);
	CHECK_UINT(api->first_id, 21);
	CHECK_UINT(config_id_count(c), 21 + 18);
	CHECK_UINT(config_backend_count(c), 7);
}

static void only_file(const struct config *c)
{
	CHECK_UINT(c->pools[0].n_backends, 2);
	CHECK_KEY(&c->backends[1].key, "10.0.2.2", 80);
}

static void pool_name_chars(const struct config *c)
{
	CHECK_STR(c->pools[0].name, "Web_01.eu-west-1.abcdefghijklmn");
}

static void iface_15(const struct config *c)
{
	CHECK_STR(c->interface, "abcdefghijklmno");
}

static void ports_16(const struct config *c)
{
	CHECK_UINT(c->source_ports.lo, 1000);
	CHECK_UINT(c->source_ports.hi, 1015);
}

static void ports_15_chars(const struct config *c)
{
	CHECK_UINT(c->source_ports.lo, 1000);
	CHECK_UINT(c->source_ports.hi, 2000);
}

static void long_pin_path(const struct config *c)
{
	CHECK_UINT(strlen(c->pin_path), PATH_MAX - 1);
}

static void loaded(const struct config *c)
{
	CHECK_UINT(c->n_pools, 1);
}

/* An empty pool, runtime keys and their defaults, the control socket from the pin path. */
static void day_two(const struct config *c)
{
	const struct pool_cfg *web = &c->pools[0], *later = &c->pools[1];

	CHECK_UINT(later->n_backends, 0);
	CHECK_UINT(later->max_backends, 100);
	CHECK_UINT(later->first_id, web->max_backends);
	CHECK_INT(later->initial_state, XDPHC_STATE_DOWN);
	CHECK_UINT(later->deregistration_delay_ms, 30000);
	CHECK_UINT(later->grace_period_ms, 60000);
	CHECK(later->grace_on_start);
	CHECK_INT(web->initial_state, XDPHC_STATE_UNKNOWN);
	CHECK_UINT(web->deregistration_delay_ms, 300000);
	CHECK_UINT(web->grace_period_ms, 0);
	CHECK(!web->grace_on_start);
	CHECK_STR(c->control_socket, "/run/xdphc/lab-e1.sock");
	CHECK_STR(c->state_file, "/var/lib/xdphc/lab-e1.state");
	/* Room for pools a reload adds, after every pool's ids. */
	CHECK_UINT(c->spare_ids, 1024);
	CHECK_UINT(config_map_ids(c), config_id_count(c) + 1024);
}

static void state_file_given(const struct config *c)
{
	CHECK_STR(c->state_file, "/srv/xdphc/web.state");
	CHECK_UINT(c->spare_ids, 0);
	CHECK_UINT(config_map_ids(c), config_id_count(c));
}

static void state_file_none(const struct config *c)
{
	CHECK_STR(c->state_file, "");
	CHECK_UINT(c->spare_ids, 5000);
}

static void capacity_given(const struct config *c)
{
	CHECK_UINT(c->pools[0].max_backends, 1);
	CHECK_UINT(c->pools[1].first_id, 1);
	CHECK_UINT(c->pools[1].max_backends, 1000);
	CHECK_UINT(config_id_count(c), 1001);
	CHECK_INT(POOL_LINE(c, 1, CFG_POOL_MAX_BACKENDS), 8);
}

/* All the ids there are: default headroom gives way, the backends keep theirs. */
static void capacity_full(const struct config *c)
{
	CHECK_UINT(c->pools[0].max_backends, 16777212);
	CHECK_UINT(c->pools[1].first_id, 16777212);
	CHECK_UINT(c->pools[1].max_backends, 2);
	CHECK_UINT(config_id_count(c), 16777214);
	CHECK_UINT(c->spare_ids, 0);		/* the default gives way too */
}

/* The same backend in two pools: allowed (probed once), each pool has it. */
static void shared_backend(const struct config *c)
{
	CHECK_UINT(c->n_pools, 2);
	CHECK_UINT(c->pools[1].n_backends, 2);
	CHECK(backend_key_equal(&c->backends[0].key, &c->backends[2].key));
	CHECK_UINT(c->backends[0].pool, 0);
	CHECK_UINT(c->backends[2].pool, 1);
}

/*
 * The canaries: a last pool of their own, after the configured ones (whose
 * ids do not move), checked as often and as briefly as the most demanding
 * pool, with thresholds of 1.
 */
static void canaries(const struct config *c)
{
	const struct pool_cfg *cp = config_canaries(c);

	CHECK_UINT(c->max_down_ppm, 250000);
	CHECK_UINT(c->pools[0].max_down_ppm, 250000);
	CHECK_UINT(c->pools[1].max_down_ppm, 750000);
	CHECK_INT(POOL_LINE(c, 1, CFG_POOL_MAX_DOWN_FRACTION), 9);
	CHECK_UINT(c->n_pools, 3);
	CHECK(cp == &c->pools[2]);
	if (!cp)
		return;
	CHECK_STR(cp->name, "@canaries");
	CHECK(cp->canaries && !c->pools[0].canaries && !c->pools[1].canaries);
	CHECK_UINT(cp->n_backends, 2);
	CHECK_UINT(cp->max_backends, 2);
	CHECK_UINT(cp->first, 3);
	CHECK_UINT(cp->first_id, c->pools[1].first_id + c->pools[1].max_backends);
	CHECK_KEY(&c->backends[3].key, "198.18.200.1", 80);
	CHECK_KEY(&c->backends[4].key, "198.18.200.2", 443);
	CHECK_UINT(cp->hc.interval_ms, 500);
	CHECK_UINT(cp->hc.timeout_ms, 200);
	CHECK_UINT(cp->hc.jitter_ms, 5);
	CHECK_UINT(cp->hc.unhealthy_interval_ms, 500);	/* a down canary: same pace */
	CHECK_UINT(cp->hc.transition_interval_ms, 500);
	CHECK_UINT(cp->hc.retransmits, 1);
	CHECK_UINT(cp->hc.healthy_threshold, 1);
	CHECK_UINT(cp->hc.unhealthy_threshold, 1);
	CHECK_UINT(cp->hc.port, 0);
	CHECK_UINT(config_backend_count(c), 5);
}

static void fraction_one(const struct config *c)
{
	CHECK_UINT(c->max_down_ppm, 1000000);
	CHECK_UINT(c->pools[0].max_down_ppm, 1);
}

static void two_pools(const struct config *c)
{
	CHECK_UINT(c->n_pools, 2);
	CHECK_STR(c->pools[1].name, "api");
	CHECK_UINT(c->pools[1].hc.interval_ms, 5000);
	/* Each pool has its own health check: the second must not leak into the first. */
	CHECK_UINT(c->pools[0].hc.interval_ms, 1000);
}

static void http_defaults(const struct config *c)
{
	const struct hc_config *hc = &c->pools[0].hc;

	CHECK_INT(hc->protocol, HC_PROTO_HTTP);
	CHECK_INT(hc_check_kind(hc), XDPHC_CHECK_HTTP);
	CHECK(hc_is_connection(hc));
	CHECK_UINT(hc->retransmits, 1);		/* harmless: not used */
	CHECK_INT(POOL_LINE(c, 0, CFG_HC_PATH), 0);
	request_defaults(hc);
}

/* Keys in any order: each is read after those it depends on. */
static void every_https_key(const struct config *c)
{
	const struct hc_config *hc = &c->pools[0].hc;

	CHECK_INT(hc->protocol, HC_PROTO_HTTPS);
	CHECK_INT(hc_check_kind(hc), XDPHC_CHECK_HTTPS);
	CHECK_INT(POOL_LINE(c, 0, CFG_HC_PROTOCOL), 16);
	CHECK_INT(hc->method, HC_METHOD_GET);
	CHECK_STR(hc->path, "/healthz?full=1&x=%20");
	CHECK_STR(hc->host, "api.example.com:8443");
	CHECK_CODES(&hc->success_codes, "200,302");
	CHECK_CODES(&hc->fail_fast_codes, "500,502-504");
	CHECK_STR(hc->expect_body, "\"status\": \"ok\"");
	CHECK_STR(hc->headers, "X-Check: xdphc\nAccept: */*\nX-Num: 42\nX-Tab: a\tb\n");
	CHECK_INT(hc->http_version, HC_HTTP_2);
	CHECK(!hc->reuse_connection);
	CHECK(hc->tls_verify);
	CHECK_STR(hc->ca_file, file_path);
	CHECK_STR(hc->sni, "api.internal");
	CHECK_INT(POOL_LINE(c, 0, CFG_TLS_SNI), 8);
	CHECK_INT(POOL_LINE(c, 0, CFG_TLS_CA_FILE), 9);
	CHECK_UINT(hc->send.len, 0);
}

static void tls_defaults(const struct config *c)
{
	const struct hc_config *hc = &c->pools[0].hc;

	CHECK_INT(hc->protocol, HC_PROTO_HTTPS);
	CHECK(hc->tls_verify);
	CHECK_STR(hc->ca_file, "");
	CHECK_STR(hc->sni, "");
	CHECK_INT(hc->method, HC_METHOD_HEAD);
	CHECK_INT(hc->http_version, HC_HTTP_1_1);
}

static void one_code(const struct config *c)
{
	CHECK_CODES(&c->pools[0].hc.success_codes, "204");
	CHECK_CODES(&c->pools[0].hc.fail_fast_codes, "503");
}

static void code_list(const struct config *c)
{
	CHECK_CODES(&c->pools[0].hc.success_codes, "200-299,302,404-405");
}

static void code_classes(const struct config *c)
{
	CHECK_CODES(&c->pools[0].hc.success_codes, "200-299,404");
	CHECK_CODES(&c->pools[0].hc.fail_fast_codes, "500-599");
}

static void no_fail_fast(const struct config *c)
{
	CHECK_CODES(&c->pools[0].hc.success_codes, "200-599");
	CHECK_CODES(&c->pools[0].hc.fail_fast_codes, "");
}

static void http_lengths(const struct config *c)
{
	CHECK_UINT(strlen(c->pools[0].hc.path), 255);
	CHECK_UINT(strlen(c->pools[0].hc.expect_body), 255);
	CHECK_STR(c->pools[0].hc.headers, "");
}

static void send_text(const struct config *c)
{
	const struct hc_config *hc = &c->pools[0].hc;

	CHECK_INT(hc->protocol, HC_PROTO_TCP);
	CHECK_INT(hc_check_kind(hc), XDPHC_CHECK_TCP);
	CHECK(hc_is_connection(hc));
	CHECK_BYTES(hc->send, "PING\r\n");
	CHECK_BYTES(hc->expect, "+PONG");
}

static void send_hex(const struct config *c)
{
	CHECK_BYTES(c->pools[0].hc.send, "PING\r\n");
	CHECK_BYTES(c->pools[0].hc.expect, "\x00\xff\xab\xcd");
}

static void expect_only(const struct config *c)
{
	const struct hc_config *hc = &c->pools[0].hc;

	CHECK_INT(hc_check_kind(hc), XDPHC_CHECK_TCP);
	CHECK_UINT(hc->send.len, 0);
	CHECK_BYTES(hc->expect, "SSH-");
}

static void bytes_max(const struct config *c)
{
	const struct hc_bytes *send = &c->pools[0].hc.send, *expect = &c->pools[0].hc.expect;

	CHECK_UINT(send->len, 256);
	CHECK(send->b[0] == 0x00 && send->b[1] == 0x11 && send->b[15] == 0xff &&
	      send->b[255] == 0xff);
	CHECK_UINT(expect->len, 256);
	CHECK(expect->b[0] == 'a' && expect->b[255] == 'b');
}

/* The canaries stay half-open SYN probes whatever the pools check. */
static void canaries_of_connections(const struct config *c)
{
	const struct pool_cfg *cp = config_canaries(c);

	CHECK(cp != NULL);
	if (!cp)
		return;
	CHECK_INT(cp->hc.protocol, HC_PROTO_TCP);
	CHECK_INT(hc_check_kind(&cp->hc), XDPHC_CHECK_TCP_SYN);
	CHECK(!hc_is_connection(&cp->hc));
	request_defaults(&cp->hc);
	CHECK_UINT(cp->hc.interval_ms, 2000);
	CHECK_UINT(cp->hc.retransmits, 1);
	CHECK_UINT(cp->hc.healthy_threshold, 1);
}

/* ---- IPv6 and udp -------------------------------------------------------- */

static void source_ipv6(const struct config *c)
{
	struct in6_addr want;

	inet_pton(AF_INET6, "2001:2:0:ffff::1", &want);
	CHECK(config_has(c, CFG_SOURCE_IPV6));
	CHECK(!memcmp(c->source_ipv6, &want, sizeof(want)));
	CHECK(!config_has(c, CFG_SOURCE_IPV4));
}

/* v4 and v6 in one pool, from the list and from the file; the first of each noted. */
static void mixed_families(const struct config *c)
{
	char want[PATH_MAX + 16];

	CHECK_UINT(config_backend_count(c), 4);
	CHECK_KEY(&c->backends[0].key, "10.0.0.1", 80);
	CHECK_KEY6(&c->backends[1].key, "2001:db8::1", 80, IPPROTO_TCP);
	CHECK_KEY6(&c->backends[2].key, "2001:db8::2", 443, IPPROTO_TCP);
	CHECK_KEY(&c->backends[3].key, "10.0.0.2", 80);
	CHECK_KEY6(&c->first6.key, "2001:db8::1", 80, IPPROTO_TCP);
	snprintf(want, sizeof(want), "%s:7", cfg_path);
	CHECK_STR(c->first6.where, want);
	CHECK(!c->first6.canary);
	CHECK_KEY(&c->first4.key, "10.0.0.1", 80);
	snprintf(want, sizeof(want), "%s:6", cfg_path);
	CHECK_STR(c->first4.where, want);
}

static void canary_ipv6(const struct config *c)
{
	const struct pool_cfg *cp = config_canaries(c);

	CHECK(cp != NULL);
	if (!cp)
		return;
	CHECK_KEY6(&c->backends[cp->first].key, "2001:2::9", 80, IPPROTO_TCP);
	CHECK(c->first6.canary);
	CHECK_UINT(c->first4.key.family, AF_INET);
}

static void udp_defaults(const struct config *c)
{
	const struct hc_config *hc = &c->pools[0].hc;

	CHECK_INT(hc->protocol, HC_PROTO_UDP);
	CHECK_INT(hc_check_kind(hc), XDPHC_CHECK_UDP);
	CHECK(!hc_is_connection(hc));
	CHECK_UINT(hc_ipproto(hc), IPPROTO_UDP);
	CHECK_UINT(hc->payload.len, 0);			/* an empty datagram */
	CHECK_UINT(hc->payload.cookie_off, XDPHC_NO_COOKIE);
	CHECK_UINT(hc->expect.len, 0);
	CHECK_UINT(hc->retransmits, 1);
	CHECK_UINT(c->backends[0].key.protocol, IPPROTO_UDP);
	CHECK_UINT(c->pools[0].line[CFG_HC_PAYLOAD - CFG_TOP_N], 0);
}

static void udp_text(const struct config *c)
{
	const struct hc_config *hc = &c->pools[0].hc;

	CHECK_BYTES(hc->payload, "PING\r\n");
	CHECK_UINT(hc->payload.cookie_off, XDPHC_NO_COOKIE);
	CHECK_BYTES(hc->expect, "PONG");
	CHECK_UINT(hc->retransmits, 3);
	CHECK_INT(POOL_LINE(c, 0, CFG_HC_PAYLOAD), 7);
}

static void udp_cookie(const struct config *c)
{
	const struct hc_payload *pl = &c->pools[0].hc.payload;

	CHECK_BYTES(*pl, "check 00000000 please");
	CHECK_UINT(pl->cookie_off, 6);
}

/* The cookie at the very start and at the very end. */
static void udp_cookie_edges(const struct config *c)
{
	CHECK_BYTES(c->pools[0].hc.payload, "00000000");
	CHECK_UINT(c->pools[0].hc.payload.cookie_off, 0);
	CHECK_BYTES(c->pools[1].hc.payload, "id=00000000");
	CHECK_UINT(c->pools[1].hc.payload.cookie_off, 3);
}

/* Hex is bytes as they are: no placeholder there. */
static void udp_hex(const struct config *c)
{
	const struct hc_config *hc = &c->pools[0].hc;

	CHECK_BYTES(hc->payload, "\x00\x01{cookie}");
	CHECK_UINT(hc->payload.cookie_off, XDPHC_NO_COOKIE);
	CHECK_BYTES(hc->expect, "\xde\xad");
}

static void udp_payload_max(const struct config *c)
{
	const struct hc_payload *pl = &c->pools[0].hc.payload;

	CHECK_UINT(pl->len, HC_PAYLOAD_LEN);
	CHECK(pl->b[0] == 'a' && pl->b[HC_PAYLOAD_LEN - 1] == 'a');
}

/* A udp and a tcp pool with the same backend: two backends, keys apart. */
static void udp_and_tcp(const struct config *c)
{
	CHECK_UINT(config_backend_count(c), 4);		/* the canary too */
	CHECK_KEY(&c->backends[0].key, "10.0.0.1", 53);
	CHECK_UINT(c->backends[1].key.protocol, IPPROTO_UDP);
	CHECK_UINT(c->backends[2].key.protocol, IPPROTO_UDP);
	CHECK_KEY6(&c->backends[2].key, "2001:db8::53", 53, IPPROTO_UDP);
	CHECK(!backend_key_equal(&c->backends[0].key, &c->backends[1].key));
	CHECK(!config_same_probe(&c->pools[0].hc, &c->pools[1].hc));
	/* The canaries stay half-open SYN probes. */
	CHECK_UINT(c->backends[3].key.protocol, IPPROTO_TCP);
	CHECK_INT(hc_check_kind(&config_canaries(c)->hc), XDPHC_CHECK_TCP_SYN);
}

static const struct cfg_case valid[] = {
	{ "minimal: defaults", IFACE POOLS, .check = defaults },
	{ "a backend in two pools", IFACE POOLS "  - name: api\n"
	  "    backends: [10.0.0.2:80, 10.0.0.1:80]\n", .check = shared_backend },
	{ "every top-level key",
	  "interface: veth-probe0\n"
	  "source_ipv4: 198.18.255.1\n"
	  "source_ports: 61000-65095\n"
	  "pin_path: /sys/fs/bpf/xhc-unit\n"
	  "xdp_mode: skb\n"
	  "status_index: false\n"
	  "event_log: /var/log/xdphc/events.jsonl\n"
	  "xdp_attach: tail_call\n"
	  "tail_call_map: /sys/fs/bpf/lb/chain\n"
	  "tail_call_index: 7\n"
	  "metrics_listen: 127.0.0.1:9469\n"
	  POOLS, .check = every_top_key },
	{ "status_index no", IFACE "status_index: no\n" POOLS, .check = index_off },
	{ "status_index off", IFACE "status_index: off\n" POOLS, .check = index_off },
	{ "status_index yes", IFACE "status_index: yes\n" POOLS, .check = index_on },
	{ "status_index on", IFACE "status_index: on\n" POOLS, .check = index_on },
	{ "status_index true", IFACE "status_index: true\n" POOLS, .check = index_on },
	{ "event_log stdout", IFACE "event_log: stdout\n" POOLS, .check = log_stdout },
	{ "xdp_attach interface", IFACE "xdp_attach: interface\nxdp_mode: native\n" POOLS,
	  .check = attach_interface },
	{ "tail_call without a map", IFACE "xdp_attach: tail_call\n" POOLS,
	  .check = tail_call_no_map },
	{ "tail_call_index 65535",
	  IFACE "xdp_attach: tail_call\ntail_call_map: /sys/fs/bpf/x\ntail_call_index: 65535\n"
	  POOLS, .check = tail_call_index_max },
	{ "metrics_listen IPv6", IFACE "metrics_listen: '[::1]:9100'\n" POOLS,
	  .check = metrics_v6 },
	{ "every healthcheck key",
	  HC "      protocol: TCP\n      port: 8080\n      interval: 2s\n      timeout: 1500ms\n"
	  "      jitter: 5ms\n      healthy_threshold: 5\n      unhealthy_threshold: 4\n"
	  "      unhealthy_interval: 10s\n      transition_interval: 1.5s\n      retransmits: 3\n",
	  .check = every_hc_key },
	{ "paces follow the interval", HC "      interval: 3s\n      retransmits: 0\n",
	  .check = paces_follow_interval },
	{ "default timeout clamped to transition_interval",
	  HC "      transition_interval: 200ms\n      unhealthy_interval: 5s\n",
	  .check = timeout_clamped_to_pace },
	{ "jitter 0", HC "      jitter: 0\n      interval: 1.5s\n", .check = jitter_off },
	{ "default jitter follows interval", HC "      interval: 1.5s\n",
	  .check = default_jitter_follows },
	{ "default timeout clamped", HC "      interval: 200ms\n", .check = timeout_clamped },
	{ "timeout = interval", HC "      interval: 1m\n      timeout: 60s\n",
	  .check = timeout_equals_interval },
	{ "interval 1 day", HC "      interval: 1440m\n      jitter: 0\n", .check = interval_one_day },
	{ "jitter half the interval", HC "      interval: 100ms\n      jitter: 50ms\n",
	  .check = half_interval_jitter },
	{ "threshold and port bounds",
	  HC "      healthy_threshold: 1\n      unhealthy_threshold: 1000\n      port: 65535\n",
	  .check = threshold_bounds },
	{ "empty healthcheck", IFACE POOLS "    healthcheck: {}\n", .check = empty_healthcheck },
	{ "list, file with BOM, comments, CRLF, no final newline",
	  IFACE "pools:\n  - name: web\n    backends_file: b.txt\n    backends: [10.0.0.1:80]\n"
	  "  - name: api\n    backends: [10.0.0.2:80, 10.0.0.1:81]\n",
	  .file = "\xef\xbb\xbf# web backends\n10.0.1.1:80\n\n  10.0.1.2:80   # spare\r\n"
		  "\t10.0.1.3:81\n#10.0.9.9:80\n10.0.1.4:80",
	  .check = list_and_file },
	{ "absolute backends_file", IFACE "pools:\n  - name: web\n    backends_file: @DIR@/b.txt\n",
	  .file = "10.0.2.1:80\n10.0.2.2:80\n", .check = only_file },
	{ "pool name characters", IFACE "pools:\n  - name: Web_01.eu-west-1.abcdefghijklmn\n"
	  "    backends: [10.0.0.1:80]\n", .check = pool_name_chars },
	{ "interface of 15 characters", "interface: abcdefghijklmno\n" POOLS, .check = iface_15 },
	{ "16 source ports", IFACE "source_ports: 1000-1015\n" POOLS, .check = ports_16 },
	{ "source_ports of 15 characters", IFACE "source_ports: 1000-0000002000\n" POOLS,
	  .check = ports_15_chars },
	{ "pin_path of PATH_MAX - 1", IFACE "pin_path: @MAXP@\n" POOLS, .check = long_pin_path },
	{ "explicit document markers", "---\n" IFACE POOLS "...\n", .check = loaded },
	{ "pools before interface", POOLS IFACE, .check = loaded },
	{ "flow style", "{interface: eth0, pools: [{name: web, backends: ['10.0.0.1:80']}]}\n",
	  .check = loaded },
	{ "same address, other port", IFACE "pools:\n  - name: web\n"
	  "    backends: [10.0.0.1:80, 10.0.0.1:81]\n", .check = loaded },
	{ "two pools, own health checks", IFACE POOLS "  - name: api\n"
	  "    backends: [10.0.0.2:80]\n    healthcheck: {interval: 5s}\n", .check = two_pools },
	{ "max_down_fraction and canaries", IFACE "max_down_fraction: 0.25\n"
	  "pools:\n  - name: web\n    backends: [10.0.0.1:80, 10.0.0.2:80]\n"
	  "    healthcheck: {interval: 2s, timeout: 200ms}\n"
	  "  - name: api\n    backends: [10.0.0.3:80]\n    max_down_fraction: .75\n"
	  "    healthcheck: {interval: 500ms, timeout: 400ms}\n"
	  "canaries: [198.18.200.1:80, 198.18.200.2:443]\n", .check = canaries },
	{ "max_down_fraction 1 and 0.000001", IFACE "max_down_fraction: 1.0\n" POOLS
	  "    max_down_fraction: 0.000001\n", .check = fraction_one },
	{ "max_backends", IFACE POOLS "    max_backends: 1\n  - name: api\n"
	  "    backends: [10.0.0.2:80]\n    max_backends: 1000\n", .check = capacity_given },
	{ "max_backends up to the last id", IFACE POOLS "    max_backends: 16777212\n"
	  "  - name: api\n    backends: [10.0.0.2:80, 10.0.0.3:80]\n", .check = capacity_full },
	{ "empty pool, day-two keys", IFACE "pin_path: /sys/fs/bpf/lab/e1\n" POOLS
	  "  - name: later\n    backends: []\n    max_backends: 100\n"
	  "    initial_state: down\n    deregistration_delay: 30s\n    grace_period: 1m\n"
	  "    grace_on_start: true\n", .check = day_two },
	{ "state_file and spare_ids", IFACE "state_file: /srv/xdphc/web.state\nspare_ids: 0\n" POOLS,
	  .check = state_file_given },
	{ "state_file none", IFACE "state_file: none\nspare_ids: 5000\n" POOLS,
	  .check = state_file_none },
	{ "state_file empty", IFACE "state_file: ''\nspare_ids: 5000\n" POOLS,
	  .check = state_file_none },

	/* HTTP and TCP connection checks */
	{ "http: defaults", HTTP, .check = http_defaults },
	{ "https: every key, in any order",
	  HC "      expect_body: '\"status\": \"ok\"'\n"
	  "      tls:\n"
	  "        sni: api.internal\n"
	  "        ca_file: b.txt\n"
	  "        verify: yes\n"
	  "      headers:\n"
	  "        X-Check: xdphc\n"
	  "        Accept: '*/*'\n"
	  "        X-Num: 42\n"
	  "        X-Tab: \"a\\tb\"\n"
	  "      protocol: HTTPS\n"
	  "      method: get\n"
	  "      path: /healthz?full=1&x=%20\n"
	  "      host: api.example.com:8443\n"
	  "      success_codes: 200,302\n"
	  "      fail_fast_codes: [500, '502-504']\n"
	  "      http_version: 2\n"
	  "      reuse_connection: off\n",
	  .file = "-----BEGIN CERTIFICATE-----\n-----END CERTIFICATE-----\n",
	  .check = every_https_key },
	{ "tls: verify alone", HTTPS "      tls: {verify: true}\n      method: HEAD\n"
	  "      http_version: 1.1\n", .check = tls_defaults },
	{ "success_codes: a YAML integer", HTTP "      success_codes: 204\n", .check = one_code },
	{ "success_codes: a list", HTTP "      success_codes: [200, 302, \"2xx\", 404-405]\n",
	  .check = code_list },
	{ "success_codes: classes in any case",
	  HTTP "      success_codes: 2XX, 404\n      fail_fast_codes: 5xx\n",
	  .check = code_classes },
	{ "fail_fast_codes none",
	  HTTP "      success_codes: 200-599\n      fail_fast_codes: none\n",
	  .check = no_fail_fast },
	{ "fail_fast_codes []", HTTP "      fail_fast_codes: []\n      success_codes: 200-599\n",
	  .check = no_fail_fast },
	{ "path and expect_body of 255, no headers",
	  HTTP "      path: /" A254 "\n      method: GET\n      expect_body: a" A254 "\n"
	  "      headers: {}\n", .check = http_lengths },
	{ "tcp send and expect, text", HC "      send: \"PING\\r\\n\"\n      expect: +PONG\n",
	  .check = send_text },
	{ "tcp send and expect, hex", HC "      send: 0x50494E470d0A\n      expect: 0X00ffABcd\n",
	  .check = send_hex },
	{ "tcp expect alone", HC "      expect: SSH-\n", .check = expect_only },
	{ "send and expect of 256 bytes", HC "      send: 0x" HEX256 "\n      expect: a" A254 "b\n",
	  .check = bytes_max },
	{ "canaries of http and tcp connection pools",
	  IFACE "pools:\n  - name: web\n    backends: [10.0.0.1:80]\n"
	  "    healthcheck: {protocol: http, path: /x, interval: 2s, success_codes: 200}\n"
	  "  - name: db\n    backends: [10.0.0.2:6379]\n"
	  "    healthcheck: {send: PING, interval: 3s}\n"
	  "canaries: [198.18.200.1:80]\n", .check = canaries_of_connections },
	{ "source_ipv6", IFACE "source_ipv6: 2001:2:0:ffff::1\n" POOLS, .check = source_ipv6 },
	{ "IPv4 and IPv6 in a pool, list and file",
	  IFACE "pools:\n  - name: web\n    backends_file: b.txt\n    backends:\n"
	  "      - 10.0.0.1:80\n      - \"[2001:db8::1]:80\"\n",
	  .file = "[2001:db8::2]:443\n10.0.0.2:80\n", .check = mixed_families },
	{ "an IPv6 canary", IFACE POOLS "canaries: ['[2001:2::9]:80']\n", .check = canary_ipv6 },
	{ "udp: defaults, backends before the healthcheck",
	  IFACE "pools:\n  - name: dns\n    backends: [10.0.0.1:53]\n"
	  "    healthcheck:\n      protocol: udp\n", .check = udp_defaults },
	{ "udp: text payload and expect, retransmits",
	  HC "      protocol: UDP\n      payload: \"PING\\r\\n\"\n      expect: PONG\n"
	  "      retransmits: 3\n", .check = udp_text },
	{ "udp: a {cookie}", UDP "      payload: check {cookie} please\n",
	  .check = udp_cookie },
	{ "udp: {cookie} first and last",
	  IFACE "pools:\n  - name: a\n    backends: [10.0.0.1:53]\n"
	  "    healthcheck: {protocol: udp, payload: '{cookie}'}\n"
	  "  - name: b\n    backends: [10.0.0.1:54]\n"
	  "    healthcheck: {protocol: udp, payload: 'id={cookie}'}\n", .check = udp_cookie_edges },
	{ "udp: hex payload and expect",
	  UDP "      payload: 0x00017b636f6f6b69657d\n      expect: 0xDEAD\n",
	  .check = udp_hex },
	{ "udp: payload of 1472 bytes", UDP "      payload: " A1472 "\n",
	  .check = udp_payload_max },
	{ "udp and tcp pools share an address",
	  IFACE "pools:\n  - name: dns-tcp\n    backends: [10.0.0.1:53]\n"
	  "  - name: dns\n    healthcheck: {protocol: udp}\n"
	  "    backends: [10.0.0.1:53, '[2001:db8::53]:53']\n"
	  "canaries: [198.18.200.1:53]\n", .check = udp_and_tcp },
};

/* ---- error paths -------------------------------------------------------- */

static const struct cfg_case errors[] = {
	/* The document */
	{ "empty file", "", .err = "config is empty", .line = 1 },
	{ "only a comment", "# nothing here\n", .err = "config is empty", .line = 1 },
	{ "bad indentation", IFACE "pools:\n  - name: web\n   backends: [10.0.0.1:80]\n",
	  .err = "YAML syntax error: ", .line = 4 },
	{ "tab indentation", IFACE "pools:\n\t- name: web\n",
	  .err = "YAML syntax error: found character that cannot start any token", .line = 3 },
	{ "unclosed flow list", IFACE "pools: [\n  {name: web\n",
	  .err = "YAML syntax error: ", .line = 4 },
	{ "invalid UTF-8", IFACE "pools\xff: x\n", .err = "YAML syntax error: invalid", .line = 2 },
	{ "NUL in the config", IFACE "pools: x\0\n", .yaml_len = 26,
	  .err = "YAML syntax error: control characters are not allowed", .line = 2 },
	{ "two documents", IFACE POOLS "---\nfoo: 1\n",
	  .err = "only one YAML document is allowed", .line = 6 },
	{ "root is a list", "- interface\n", .err = "the config must be a mapping, got a list",
	  .line = 1 },
	{ "root is a value", "eth0\n", .err = "the config must be a mapping, got a single value",
	  .line = 1 },
	{ "key is a list", "? [a]\n: 1\n",
	  .err = "keys in the config must be plain names, got a list", .line = 1 },
	{ "unknown key", IFACE "interfaces: eth1\n" POOLS,
	  .err = "unknown key 'interfaces' in the config (expected one of: interface, "
		 "source_ipv4, source_ipv6, source_ports, pin_path, xdp_mode, status_index, "
		 "event_log, "
		 "xdp_attach, tail_call_map, tail_call_index, metrics_listen, ", .line = 2 },
	{ "duplicate key", IFACE POOLS "interface: eth1\n",
	  .err = "duplicate key 'interface' in the config (first at line 1)", .line = 5 },
	{ "missing interface", POOLS, .err = "missing required key 'interface'", .line = 1 },
	{ "missing pools", IFACE "xdp_mode: skb\n", .err = "missing required key 'pools'",
	  .line = 1 },

	/* interface */
	{ "interface list", "interface: [eth0]\n" POOLS,
	  .err = "interface must be a single value, got a list", .line = 1 },
	{ "interface mapping", "interface: {a: b}\n" POOLS,
	  .err = "interface must be a single value, got a mapping", .line = 1 },
	{ "interface empty", "interface:\n" POOLS, .err = "interface has no value", .line = 1 },
	{ "interface quoted empty", "interface: ''\n" POOLS, .err = "interface has no value",
	  .line = 1 },
	{ "interface NUL", "interface: \"eth\\0\"\n" POOLS,
	  .err = "interface contains a NUL character", .line = 1 },
	{ "interface too long", "interface: abcdefghijklmnop\n" POOLS,
	  .err = "interface name 'abcdefghijklmnop' is too long (max 15 characters)", .line = 1 },
	{ "interface slash", "interface: a/b\n" POOLS, .err = "'a/b' is not a valid interface name",
	  .line = 1 },
	{ "interface space", "interface: 'a b'\n" POOLS,
	  .err = "'a b' is not a valid interface name", .line = 1 },
	{ "interface colon", "interface: a:b\n" POOLS, .err = "'a:b' is not a valid interface name",
	  .line = 1 },
	{ "interface dot", "interface: .\n" POOLS, .err = "'.' is not a valid interface name",
	  .line = 1 },
	{ "interface dotdot", "interface: '..'\n" POOLS,
	  .err = "'..' is not a valid interface name", .line = 1 },

	/* source_ipv4, source_ports */
	{ "source_ipv4 short", IFACE "source_ipv4: 1.2.3\n" POOLS,
	  .err = "source_ipv4 '1.2.3' is not an IPv4 address", .line = 2 },
	{ "source_ipv4 IPv6", IFACE "source_ipv4: '::1'\n" POOLS,
	  .err = "source_ipv4 '::1' is not an IPv4 address", .line = 2 },
	{ "source_ipv4 list", IFACE "source_ipv4: [1.2.3.4]\n" POOLS,
	  .err = "source_ipv4 must be a single value, got a list", .line = 2 },
	{ "source_ports one port", IFACE "source_ports: 61000\n" POOLS,
	  .err = "source_ports must be LO-HI with 1 <= LO <= HI <= 65535, got '61000'", .line = 2 },
	{ "source_ports from 0", IFACE "source_ports: 0-100\n" POOLS,
	  .err = "source_ports must be LO-HI", .line = 2 },
	{ "source_ports reversed", IFACE "source_ports: 2000-1000\n" POOLS,
	  .err = "source_ports must be LO-HI", .line = 2 },
	{ "source_ports above 65535", IFACE "source_ports: 1000-65536\n" POOLS,
	  .err = "source_ports must be LO-HI", .line = 2 },
	{ "source_ports words", IFACE "source_ports: a-b\n" POOLS,
	  .err = "source_ports must be LO-HI", .line = 2 },
	{ "source_ports no LO", IFACE "source_ports: -1000\n" POOLS,
	  .err = "source_ports must be LO-HI", .line = 2 },
	{ "source_ports no HI", IFACE "source_ports: 1000-\n" POOLS,
	  .err = "source_ports must be LO-HI", .line = 2 },
	{ "source_ports spaces", IFACE "source_ports: 1000 - 2000\n" POOLS,
	  .err = "source_ports must be LO-HI", .line = 2 },
	{ "source_ports very long", IFACE "source_ports: 1000-0000000000002000\n" POOLS,
	  .err = "source_ports must be LO-HI", .line = 2 },
	/* One character more than the parser's buffer holds with its NUL. */
	{ "source_ports of 16 characters", IFACE "source_ports: 1000-00000002000\n" POOLS,
	  .err = "source_ports must be LO-HI", .line = 2 },
	{ "source_ports too few", IFACE "source_ports: 100-110\n" POOLS,
	  .err = "source_ports '100-110' has 11 ports, need at least 16", .line = 2 },

	/* pin_path, xdp_mode, status_index, event_log */
	{ "pin_path relative", IFACE "pin_path: bpf/xdphc\n" POOLS,
	  .err = "pin_path must be an absolute path, got 'bpf/xdphc'", .line = 2 },
	{ "pin_path too long", IFACE "pin_path: @LONG@\n" POOLS, .err = "pin_path is too long",
	  .line = 2 },
	{ "xdp_mode generic", IFACE "xdp_mode: generic\n" POOLS,
	  .err = "xdp_mode must be 'native' or 'skb', got 'generic'", .line = 2 },
	{ "xdp_mode upper case", IFACE "xdp_mode: SKB\n" POOLS,
	  .err = "xdp_mode must be 'native' or 'skb', got 'SKB'", .line = 2 },
	{ "status_index maybe", IFACE "status_index: maybe\n" POOLS,
	  .err = "status_index must be true or false, got 'maybe'", .line = 2 },
	{ "status_index 1", IFACE "status_index: 1\n" POOLS,
	  .err = "status_index must be true or false, got '1'", .line = 2 },
	{ "event_log relative", IFACE "event_log: events.jsonl\n" POOLS,
	  .err = "event_log must be 'stdout' or an absolute file path, got 'events.jsonl'",
	  .line = 2 },
	{ "event_log too long", IFACE "event_log: @LONG@\n" POOLS, .err = "event_log is too long",
	  .line = 2 },

	/* xdp_attach, tail_call_map, tail_call_index */
	{ "xdp_attach unknown", IFACE "xdp_attach: dispatcher\n" POOLS,
	  .err = "xdp_attach must be 'interface' or 'tail_call', got 'dispatcher'", .line = 2 },
	{ "tail_call_map alone", IFACE "tail_call_map: /sys/fs/bpf/lb/chain\n" POOLS,
	  .err = "tail_call_map needs xdp_attach: tail_call", .line = 2 },
	{ "tail_call_map with interface attach",
	  IFACE "xdp_attach: interface\ntail_call_map: /sys/fs/bpf/lb/chain\n" POOLS,
	  .err = "tail_call_map needs xdp_attach: tail_call", .line = 3 },
	{ "tail_call_map relative", IFACE "xdp_attach: tail_call\ntail_call_map: chain\n" POOLS,
	  .err = "tail_call_map must be the absolute path of a pinned BPF prog array", .line = 3 },
	{ "tail_call_map too long", IFACE "xdp_attach: tail_call\ntail_call_map: @LONG@\n" POOLS,
	  .err = "tail_call_map is too long", .line = 3 },
	{ "tail_call_index too big", IFACE "xdp_attach: tail_call\ntail_call_index: 65536\n" POOLS,
	  .err = "tail_call_index must be an integer in 0..65535, got '65536'", .line = 3 },
	{ "tail_call_index negative", IFACE "xdp_attach: tail_call\ntail_call_index: -1\n" POOLS,
	  .err = "tail_call_index must be an integer in 0..65535, got '-1'", .line = 3 },
	{ "tail_call_index hex", IFACE "xdp_attach: tail_call\ntail_call_index: 0x1\n" POOLS,
	  .err = "tail_call_index must be an integer in 0..65535, got '0x1'", .line = 3 },
	{ "tail_call_index empty", IFACE "xdp_attach: tail_call\ntail_call_index: ''\n" POOLS,
	  .err = "tail_call_index has no value", .line = 3 },

	/* metrics_listen */
	{ "metrics_listen name", IFACE "metrics_listen: localhost:9469\n" POOLS,
	  .err = "metrics_listen 'localhost:9469': not a valid IPv4 address "
		 "(expected e.g. 127.0.0.1:9469)", .line = 2 },
	{ "metrics_listen port 0", IFACE "metrics_listen: 127.0.0.1:0\n" POOLS,
	  .err = "metrics_listen '127.0.0.1:0': port must be 1..65535", .line = 2 },
	{ "metrics_listen no port", IFACE "metrics_listen: 9469\n" POOLS,
	  .err = "metrics_listen '9469': missing ':PORT'", .line = 2 },

	/* pools */
	{ "pools a value", IFACE "pools: web\n", .err = "pools must be a list, got a single value",
	  .line = 2 },
	{ "pools a mapping", IFACE "pools: {web: 1}\n", .err = "pools must be a list, got a mapping",
	  .line = 2 },
	{ "pools empty", IFACE "pools: []\n",
	  .err = "pools is empty: configure at least one pool", .line = 2 },
	{ "pool a value", IFACE "pools: [web]\n", .err = "pool must be a mapping, got a single value",
	  .line = 2 },
	{ "pool unknown key", IFACE "pools:\n  - name: web\n    backend: [10.0.0.1:80]\n",
	  .err = "unknown key 'backend' in pool (expected one of: name, healthcheck, backends, "
		 "backends_file, max_backends, initial_state, ", .line = 4 },
	{ "pool duplicate key", IFACE POOLS "    name: web2\n",
	  .err = "duplicate key 'name' in pool (first at line 3)", .line = 5 },
	{ "pool without name", IFACE "pools:\n  - backends: [10.0.0.1:80]\n",
	  .err = "missing required key 'name' in pool", .line = 3 },
	{ "pool name space", IFACE "pools:\n  - name: 'web pool'\n    backends: [10.0.0.1:80]\n",
	  .err = "bad pool name 'web pool': use 1..31 characters from A-Z a-z 0-9 _ . -",
	  .line = 3 },
	{ "pool name quote", IFACE "pools:\n  - name: 'a\"b'\n    backends: [10.0.0.1:80]\n",
	  .err = "bad pool name 'a\"b'", .line = 3 },
	{ "pool name UTF-8", IFACE "pools:\n  - name: w\xc3\xa9\x62\n    backends: [10.0.0.1:80]\n",
	  .err = "bad pool name", .line = 3 },
	{ "pool name 32 characters",
	  IFACE "pools:\n  - name: abcdefghijklmnopqrstuvwxyz012345\n    backends: [10.0.0.1:80]\n",
	  .err = "bad pool name 'abcdefghijklmnopqrstuvwxyz012345'", .line = 3 },
	{ "pool name list", IFACE "pools:\n  - name: [web]\n    backends: [10.0.0.1:80]\n",
	  .err = "name must be a single value, got a list", .line = 3 },
	{ "duplicate pool name", IFACE POOLS "  - name: web\n    backends: [10.0.0.2:80]\n",
	  .err = "duplicate pool name 'web'", .line = 5 },
	{ "pool without backends", IFACE "pools:\n  - name: web\n",
	  .err = "pool 'web' has no backends (give 'backends' or 'backends_file'; "
		 "'backends: []' for a pool filled at runtime)", .line = 3 },

	/* healthcheck */
	{ "healthcheck a value", IFACE POOLS "    healthcheck: fast\n",
	  .err = "healthcheck must be a mapping, got a single value", .line = 5 },
	{ "healthcheck unknown key", HC "      intervall: 1s\n",
	  .err = "unknown key 'intervall' in healthcheck (expected one of: protocol, port, "
		 "interval, unhealthy_interval, transition_interval, timeout, retransmits, "
		 "healthy_threshold, unhealthy_threshold, jitter, ", .line = 6 },
	{ "healthcheck duplicate key", HC "      interval: 1s\n      interval: 2s\n",
	  .err = "duplicate key 'interval' in healthcheck (first at line 6)", .line = 7 },
	{ "grace_period in the healthcheck", HC "      grace_period: 10s\n",
	  .err = "unknown key 'grace_period' in healthcheck", .line = 6 },
	{ "initial_state", IFACE POOLS "    initial_state: sideways\n",
	  .err = "initial_state must be 'unknown', 'up' or 'down', got 'sideways'", .line = 5 },
	{ "deregistration_delay", IFACE POOLS "    deregistration_delay: -1s\n",
	  .err = "deregistration_delay", .line = 5 },
	{ "protocol grpc", HC "      protocol: grpc\n",
	  .err = "protocol 'grpc' is not supported yet (only 'tcp', 'http', 'https' or 'udp')",
	  .line = 6 },
	{ "protocol unknown", HC "      protocol: sctp\n",
	  .err = "unknown protocol 'sctp' (expected 'tcp', 'http', 'https' or 'udp')", .line = 6 },
	{ "protocol a list", HC "      protocol: [http]\n",
	  .err = "protocol must be a single value, got a list", .line = 6 },
	{ "port 0", HC "      port: 0\n", .err = "port must be an integer in 1..65535, got '0'",
	  .line = 6 },
	{ "port 65536", HC "      port: 65536\n",
	  .err = "port must be an integer in 1..65535, got '65536'", .line = 6 },
	{ "port name", HC "      port: http\n",
	  .err = "port must be an integer in 1..65535, got 'http'", .line = 6 },
	{ "port huge", HC "      port: 99999999999999999999999\n",
	  .err = "port must be an integer in 1..65535", .line = 6 },
	{ "interval bad unit", HC "      interval: 5x\n",
	  .err = "interval: bad duration '5x' (use e.g. 500ms, 1.5s, 2s, 1m)", .line = 6 },
	{ "interval negative", HC "      interval: -1s\n", .err = "interval: bad duration '-1s'",
	  .line = 6 },
	{ "interval sub-millisecond", HC "      interval: 1.0005s\n",
	  .err = "interval: bad duration '1.0005s'", .line = 6 },
	{ "interval 0", HC "      interval: 0\n",
	  .err = "interval must be a duration in 1ms..1440m, got '0'", .line = 6 },
	{ "interval 0ms", HC "      interval: 0ms\n",
	  .err = "interval must be a duration in 1ms..1440m, got '0ms'", .line = 6 },
	{ "interval over a day", HC "      interval: 1441m\n",
	  .err = "interval must be a duration in 1ms..1440m, got '1441m'", .line = 6 },
	{ "interval a list", HC "      interval: [1s]\n",
	  .err = "interval must be a single value, got a list", .line = 6 },
	{ "timeout bad", HC "      timeout: soon\n", .err = "timeout: bad duration 'soon'",
	  .line = 6 },
	{ "timeout 0", HC "      timeout: 0\n",
	  .err = "timeout must be a duration in 1ms..1440m, got '0'", .line = 6 },
	{ "timeout over interval", HC "      interval: 1s\n      timeout: 2s\n",
	  .err = "timeout (2000ms) must not exceed interval (1000ms)", .line = 7 },
	{ "timeout over default interval", HC "      timeout: 1001ms\n",
	  .err = "timeout (1001ms) must not exceed interval (1000ms)", .line = 6 },
	{ "timeout over transition_interval",
	  HC "      timeout: 500ms\n      transition_interval: 200ms\n",
	  .err = "timeout (500ms) must not exceed transition_interval (200ms)", .line = 6 },
	{ "timeout over unhealthy_interval",
	  HC "      unhealthy_interval: 300ms\n      timeout: 400ms\n",
	  .err = "timeout (400ms) must not exceed unhealthy_interval (300ms)", .line = 7 },
	{ "timeout over the shortest of three",
	  HC "      interval: 1s\n      unhealthy_interval: 300ms\n"
	  "      transition_interval: 200ms\n      timeout: 250ms\n",
	  .err = "timeout (250ms) must not exceed transition_interval (200ms)", .line = 9 },
	{ "unhealthy_interval 0", HC "      unhealthy_interval: 0\n",
	  .err = "unhealthy_interval must be a duration in 1ms..1440m, got '0'", .line = 6 },
	{ "transition_interval over a day", HC "      transition_interval: 1441m\n",
	  .err = "transition_interval must be a duration in 1ms..1440m, got '1441m'", .line = 6 },
	{ "transition_interval bad", HC "      transition_interval: fast\n",
	  .err = "transition_interval: bad duration 'fast'", .line = 6 },
	{ "retransmits 4", HC "      retransmits: 4\n",
	  .err = "retransmits must be an integer in 0..3, got '4'", .line = 6 },
	{ "retransmits negative", HC "      retransmits: -1\n",
	  .err = "retransmits must be an integer in 0..3, got '-1'", .line = 6 },
	{ "jitter bad", HC "      jitter: lots\n",
	  .err = "jitter: bad duration 'lots' (use e.g. 0, 5ms, 20ms)", .line = 6 },
	{ "jitter empty", HC "      jitter: ''\n", .err = "jitter has no value", .line = 6 },
	{ "jitter a list", HC "      jitter: [5ms]\n",
	  .err = "jitter must be a single value, got a list", .line = 6 },
	{ "jitter over half", HC "      jitter: 501ms\n",
	  .err = "jitter (501ms) must not exceed half the interval (1000ms)", .line = 6 },
	{ "healthy_threshold 0", HC "      healthy_threshold: 0\n",
	  .err = "healthy_threshold must be an integer in 1..1000, got '0'", .line = 6 },
	{ "healthy_threshold 1001", HC "      healthy_threshold: 1001\n",
	  .err = "healthy_threshold must be an integer in 1..1000, got '1001'", .line = 6 },
	{ "healthy_threshold word", HC "      healthy_threshold: three\n",
	  .err = "healthy_threshold must be an integer in 1..1000, got 'three'", .line = 6 },
	{ "unhealthy_threshold 0", HC "      unhealthy_threshold: 0\n",
	  .err = "unhealthy_threshold must be an integer in 1..1000, got '0'", .line = 6 },
	{ "unhealthy_threshold signed", HC "      unhealthy_threshold: +2\n",
	  .err = "unhealthy_threshold must be an integer in 1..1000, got '+2'", .line = 6 },

	/* HTTP and TCP connection checks: keys of other protocols */
	{ "healthcheck keys listed", HC "      tls_verify: true\n",
	  .err = "unknown key 'tls_verify' in healthcheck (expected one of: protocol, port, "
		 "interval, unhealthy_interval, transition_interval, timeout, retransmits, "
		 "healthy_threshold, unhealthy_threshold, jitter, method, path, host, "
		 "success_codes, fail_fast_codes, expect_body, headers, http_version, "
		 "reuse_connection, tls, send, expect, payload)", .line = 6 },
	{ "path with tcp", HC "      path: /healthz\n",
	  .err = "path applies to protocol: http or https", .line = 6 },
	{ "method with tcp, protocol after it", HC "      method: GET\n      protocol: tcp\n",
	  .err = "method applies to protocol: http or https", .line = 6 },
	{ "host with tcp", HC "      host: example.com\n",
	  .err = "host applies to protocol: http or https", .line = 6 },
	{ "success_codes with tcp", HC "      success_codes: 200-299\n",
	  .err = "success_codes applies to protocol: http or https", .line = 6 },
	{ "reuse_connection with tcp send", HC "      send: PING\n      reuse_connection: false\n",
	  .err = "reuse_connection applies to protocol: http or https", .line = 7 },
	{ "tls with tcp", HC "      tls: {verify: true}\n",
	  .err = "tls applies to protocol: https", .line = 6 },
	{ "tls with http", HTTP "      tls:\n        verify: true\n",
	  .err = "tls applies to protocol: https", .line = 7 },
	{ "send with http", HTTP "      send: PING\n",
	  .err = "send applies to protocol: tcp (udp checks send payload; http and https send "
		 "a request)", .line = 7 },
	{ "expect with https, protocol after it", HC "      expect: PONG\n      protocol: https\n",
	  .err = "expect applies to protocol: tcp or udp (http and https checks match the "
		 "response with success_codes and expect_body)", .line = 6 },
	{ "retransmits with http", HTTP "      retransmits: 2\n",
	  .err = "retransmits applies to half-open tcp and udp probes only", .line = 7 },
	{ "retransmits with tcp send", HC "      retransmits: 0\n      send: PING\n",
	  .err = "retransmits applies to half-open tcp and udp probes only", .line = 6 },

	/* method, path, host */
	{ "method PUT", HTTP "      method: PUT\n",
	  .err = "method must be 'HEAD' or 'GET' (any case), got 'PUT'", .line = 7 },
	{ "path relative", HTTP "      path: healthz\n", .err = PATH_MUST "healthz'", .line = 7 },
	{ "path with a space", HTTP "      path: /a b\n", .err = PATH_MUST "/a b'", .line = 7 },
	{ "path with a fragment", HTTP "      path: '/a#top'\n", .err = PATH_MUST "/a#top'",
	  .line = 7 },
	{ "path with a tab", HTTP "      path: \"/a\\tb\"\n", .err = PATH_MUST "/a\\x09b'",
	  .line = 7 },
	{ "path not ASCII", HTTP "      path: /caf\xc3\xa9\n", .err = PATH_MUST "/caf\\xc3\\xa9'",
	  .line = 7 },
	{ "path empty", HTTP "      path: ''\n", .err = "path has no value", .line = 7 },
	{ "path of 256", HTTP "      path: /a" A254 "\n",
	  .err = "path is too long (max 255 characters)", .line = 7 },
	{ "host with a scheme", HTTP "      host: http://example.com\n",
	  .err = HOST_MUST "http://example.com'", .line = 7 },
	{ "host with a path", HTTP "      host: example.com/x\n", .err = HOST_MUST "example.com/x'",
	  .line = 7 },
	{ "host with a line break, shortened", HTTP "      host: \"" A64 "\\nb\"\n",
	  .err = HOST_MUST A64 "...'", .line = 7 },
	{ "host with a line break", HTTP "      host: \"a\\nb\"\n", .err = HOST_MUST "a\\x0ab'",
	  .line = 7 },

	/* success_codes, fail_fast_codes */
	{ "success_codes not a code", HTTP "      success_codes: 200,2x\n",
	  .err = "success_codes: '2x' is not a status code (100..599), a range like 200-399 or a "
		 "class like 2xx", .line = 7 },
	{ "success_codes 600", HTTP "      success_codes: 600\n",
	  .err = "success_codes: '600' is not a status code (100..599)", .line = 7 },
	{ "success_codes range reversed", HTTP "      success_codes: 399-200\n",
	  .err = "success_codes: '399-200' is not a range of codes like 200-399 (100..599, low to "
		 "high)", .line = 7 },
	{ "success_codes trailing comma", HTTP "      success_codes: '200,'\n",
	  .err = "success_codes: the list of codes '200,' ends with a comma", .line = 7 },
	{ "success_codes bad list entry",
	  HTTP "      success_codes:\n        - 200\n        - 20x\n",
	  .err = "success_codes: '20x' is not a status code", .line = 9 },
	{ "success_codes list in a list",
	  HTTP "      success_codes:\n        - 200\n        - [302]\n",
	  .err = "success_codes: each entry must be a code, a range or a class like 2xx, "
		 "got a list", .line = 9 },
	{ "success_codes []", HTTP "      success_codes: []\n",
	  .err = "success_codes must have at least one code", .line = 7 },
	{ "success_codes none", HTTP "      success_codes: none\n",
	  .err = "success_codes: 'none' is not a status code", .line = 7 },
	{ "success_codes empty", HTTP "      success_codes: ''\n",
	  .err = "success_codes has no value", .line = 7 },
	{ "success_codes a mapping", HTTP "      success_codes: {ok: 200}\n",
	  .err = "success_codes must be codes, ranges and classes, e.g. 200,302 or 200-399 or 2xx, "
		 "or a list of them, got a mapping", .line = 7 },
	{ "fail_fast_codes bad", HTTP "      fail_fast_codes: 5xx,6xx\n",
	  .err = "fail_fast_codes: '6xx' is not a status code", .line = 7 },
	{ "success_codes with the default fail-fast 503", HTTP "      success_codes: 200-599\n",
	  .err = "success_codes has 503, which fail_fast_codes (503 by default) takes down at "
		 "once: set fail_fast_codes (none for no code)", .line = 7 },
	{ "a code in both lists", HTTP "      fail_fast_codes: [500-504]\n"
	  "      success_codes: 2xx,502\n",
	  .err = "502 is in both fail_fast_codes and success_codes: a code passes or takes the "
		 "backend down at once, not both", .line = 7 },

	/* expect_body, headers */
	{ "expect_body with HEAD", HTTP "      expect_body: ok\n",
	  .err = "expect_body needs method: GET (HEAD has no body)", .line = 7 },
	{ "expect_body with method head", HTTP "      expect_body: ok\n      method: head\n",
	  .err = "expect_body needs method: GET (HEAD has no body)", .line = 7 },
	{ "expect_body empty", HTTP "      method: GET\n      expect_body: ''\n",
	  .err = "expect_body has no value", .line = 8 },
	{ "expect_body of 256", HTTP "      method: GET\n      expect_body: aa" A254 "\n",
	  .err = "expect_body is too long (max 255 characters)", .line = 8 },
	{ "headers a list", HTTP "      headers: [X-A]\n",
	  .err = "headers must be a mapping of header names to values, Host excepted (see host), "
		 "got a list", .line = 7 },
	{ "header name with a space", HTTP "      headers: {'X A': b}\n",
	  .err = "headers: 'X A' is not a header name (letters, digits and !#$%&'*+-.^_`|~)",
	  .line = 7 },
	{ "header name with a colon", HTTP "      headers: {'X-A:': b}\n",
	  .err = "headers: 'X-A:' is not a header name", .line = 7 },
	{ "header name empty", HTTP "      headers: {'': b}\n",
	  .err = "headers: '' is not a header name", .line = 7 },
	{ "header name a list", HTTP "      headers: {[a]: b}\n",
	  .err = "headers: a header name must be a single value, got a list", .line = 7 },
	{ "header Host", HTTP "      headers:\n        X-A: b\n        host: example.com\n",
	  .err = "headers: set the Host header with the host key", .line = 9 },
	{ "header twice", HTTP "      headers:\n        X-A: b\n        x-a: c\n",
	  .err = "headers: duplicate header 'x-a' (first at line 8)", .line = 9 },
	{ "header value with CRLF", HTTP "      headers: {X-A: \"b\\r\\nX-Evil: 1\"}\n",
	  .err = "headers: the value of 'X-A' must have no line breaks or control characters",
	  .line = 7 },
	{ "header value a list", HTTP "      headers: {X-A: [b]}\n",
	  .err = "headers: 'X-A' must be a single value, got a list", .line = 7 },
	{ "header value empty", HTTP "      headers:\n        X-A:\n",
	  .err = "headers: 'X-A' has no value", .line = 8 },
	{ "headers too long", HTTP "      headers:\n        X-A: " A254 "\n        X-B: " A254 "\n"
	  "        X-C: " A254 "\n        X-D: " A254 "\n",
	  .err = "headers are too long (max 1023 bytes as 'Name: value' lines)", .line = 11 },

	/* tls, http_version, reuse_connection */
	{ "tls unknown key", HTTPS "      tls:\n        verfy: true\n",
	  .err = "unknown key 'verfy' in tls (expected one of: verify, ca_file, sni)", .line = 8 },
	{ "tls a list", HTTPS "      tls: [verify]\n", .err = "tls must be a mapping, got a list",
	  .line = 7 },
	{ "tls verify maybe", HTTPS "      tls: {verify: maybe}\n",
	  .err = "verify must be true or false, got 'maybe'", .line = 7 },
	{ "ca_file missing", HTTPS "      tls:\n        verify: true\n        ca_file: nope.pem\n",
	  .err = "ca_file: cannot read '@DIR@/nope.pem': No such file or directory", .line = 9 },
	{ "ca_file a directory", HTTPS "      tls: {verify: true, ca_file: .}\n",
	  .err = "ca_file: cannot read '@DIR@/.': Is a directory", .line = 7 },
	{ "ca_file path too long", HTTPS "      tls: {verify: true, ca_file: @LONG@}\n",
	  .err = "ca_file: cannot resolve '/aaaa", .line = 7 },
	{ "ca_file without verify", HTTPS "      tls:\n        ca_file: b.txt\n", .file = "x\n",
	  .err = "ca_file needs verify: true (without it no certificate is checked)", .line = 8 },
	{ "sni with a space", HTTPS "      tls: {sni: 'a b'}\n",
	  .err = "sni must be a DNS name of letters, digits, . - and _, got 'a b'", .line = 7 },
	{ "sni with a port", HTTPS "      tls: {sni: 'api:443'}\n",
	  .err = "sni must be a DNS name of letters, digits, . - and _, got 'api:443'", .line = 7 },
	{ "http_version 2.0", HTTP "      http_version: 2.0\n",
	  .err = "http_version must be '1.1' or '2', got '2.0'", .line = 7 },
	{ "http_version 1.0", HTTP "      http_version: 1.0\n",
	  .err = "http_version must be '1.1' or '2', got '1.0'", .line = 7 },
	{ "reuse_connection maybe", HTTP "      reuse_connection: maybe\n",
	  .err = "reuse_connection must be true or false, got 'maybe'", .line = 7 },

	/* send, expect */
	{ "send not hex", HC "      send: 0x5g\n",
	  .err = "send: '0x5g' is not hex: after 0x come digits 0-9 a-f, two a byte, e.g. "
		 "0x50494e470d0a", .line = 6 },
	{ "send hex with a line break", HC "      send: \"0x0d\\r\"\n",
	  .err = "send: '0x0d\\x0d' is not hex", .line = 6 },
	{ "source_ipv6 not an address", IFACE "source_ipv6: 2001:2::g\n" POOLS,
	  .err = "source_ipv6 '2001:2::g' is not an IPv6 address", .line = 2 },
	{ "source_ipv6 IPv4", IFACE "source_ipv6: 198.18.0.1\n" POOLS,
	  .err = "source_ipv6 '198.18.0.1' is not an IPv6 address", .line = 2 },
	{ "source_ipv6 unspecified", IFACE "source_ipv6: '::'\n" POOLS,
	  .err = "source_ipv6 :: is the unspecified address; probes need a global unicast "
		 "address of the probing interface", .line = 2 },
	{ "source_ipv6 loopback", IFACE "source_ipv6: '::1'\n" POOLS,
	  .err = "source_ipv6 ::1 is the loopback address", .line = 2 },
	{ "source_ipv6 multicast", IFACE "source_ipv6: ff02::1\n" POOLS,
	  .err = "source_ipv6 ff02::1 is a multicast address", .line = 2 },
	{ "source_ipv6 link-local", IFACE "source_ipv6: fe80::1\n" POOLS,
	  .err = "source_ipv6 fe80::1 is a link-local address", .line = 2 },
	{ "source_ipv6 v4-mapped", IFACE "source_ipv6: '::ffff:198.18.0.1'\n" POOLS,
	  .err = "source_ipv6 ::ffff:198.18.0.1 is an IPv4-mapped address (set source_ipv4 "
		 "instead)", .line = 2 },
	{ "udp expect without payload", UDP "      expect: PONG\n",
	  .err = "expect without payload: a udp check with expect must send the request its "
		 "reply answers (set payload)", .line = 7 },
	{ "udp payload bad hex", UDP "      payload: 0xzz\n",
	  .err = "payload: '0xzz' is not hex: after 0x come digits 0-9 a-f, two a byte",
	  .line = 7 },
	{ "udp payload odd hex", UDP "      payload: 0x123\n",
	  .err = "payload: '0x123' has an odd number of hex digits (two a byte)", .line = 7 },
	{ "udp payload no hex digits", UDP "      payload: 0x\n",
	  .err = "payload: no hex digits after 0x", .line = 7 },
	{ "udp expect bad hex", UDP "      payload: x\n      expect: 0x1g\n",
	  .err = "expect: '0x1g' is not hex", .line = 8 },
	{ "udp payload too large", UDP "      payload: " A1473 "\n",
	  .err = "payload too large: 1473 bytes, at most 1472 (an Ethernet MTU less the IPv4 and "
		 "UDP headers)", .line = 7 },
	{ "udp payload too large in hex", UDP "      payload: 0x" HEX256 HEX256
	  HEX256 HEX256 HEX256 HEX256 "\n",
	  .err = "payload too large: 1536 bytes, at most 1472", .line = 7 },
	{ "udp expect too long", UDP "      payload: x\n      expect: a" A256 "\n",
	  .err = "expect is too long (max 256 bytes)", .line = 8 },
	{ "udp two cookies", UDP "      payload: '{cookie}{cookie}'\n",
	  .err = "payload has more than one {cookie} (a probe has one cookie)", .line = 7 },
	{ "udp payload NUL", UDP "      payload: \"a\\0b\"\n",
	  .err = "payload contains a NUL byte: write the bytes in hex (0x...)", .line = 7 },
	{ "udp payload a list", UDP "      payload: [1, 2]\n",
	  .err = "payload must be a single value, got a list", .line = 7 },
	{ "udp send", UDP "      send: PING\n",
	  .err = "send applies to protocol: tcp (udp checks send payload", .line = 7 },
	{ "udp path", UDP "      path: /x\n",
	  .err = "path applies to protocol: http or https", .line = 7 },
	{ "udp method", HC "      method: GET\n      protocol: udp\n",
	  .err = "method applies to protocol: http or https", .line = 6 },
	{ "udp tls", UDP "      tls: {verify: true}\n",
	  .err = "tls applies to protocol: https", .line = 7 },
	{ "udp success_codes", UDP "      success_codes: 200\n",
	  .err = "success_codes applies to protocol: http or https", .line = 7 },
	{ "payload with tcp", HC "      payload: PING\n",
	  .err = "payload applies to protocol: udp (tcp connection checks send what send says)",
	  .line = 6 },
	{ "payload with http", HTTP "      payload: PING\n",
	  .err = "payload applies to protocol: udp", .line = 7 },
	{ "send odd hex", HC "      send: 0x504\n",
	  .err = "send: '0x504' has an odd number of hex digits (two a byte)", .line = 6 },
	{ "send no hex digits", HC "      send: 0x\n", .err = "send: no hex digits after 0x",
	  .line = 6 },
	{ "expect NUL", HC "      expect: \"a\\0b\"\n",
	  .err = "expect contains a NUL byte: write the bytes in hex (0x...)", .line = 6 },
	{ "send of 257", HC "      send: aaa" A254 "\n", .err = "send is too long (max 256 bytes)",
	  .line = 6 },
	{ "expect hex of 257", HC "      expect: 0x" HEX256 "ff\n",
	  .err = "expect is too long (max 256 bytes)", .line = 6 },
	{ "send a list", HC "      send: [PING]\n",
	  .err = "send must be a single value, got a list", .line = 6 },
	{ "expect empty", HC "      expect: ''\n", .err = "expect has no value", .line = 6 },

	/* backends */
	{ "backends a value", IFACE "pools:\n  - name: web\n    backends: 10.0.0.1:80\n",
	  .err = "backends must be a list, got a single value", .line = 4 },
	{ "backend entry a list", BLOCK "      - [2001:db8::1]\n",
	  .err = "backends: each entry must be ADDR:PORT, got a list "
		 "(quote IPv6 entries: \"[2001:db8::1]:80\")", .line = 5 },
	{ "backend entry a mapping", BLOCK "      - 10.0.0.1: 80\n",
	  .err = "backends: each entry must be ADDR:PORT, got a mapping", .line = 5 },
	{ "backend without port", BLOCK "      - 10.0.0.1:80\n      - 10.0.0.2\n",
	  .err = "bad backend address '10.0.0.2': missing ':PORT'", .line = 6 },
	{ "backend port 0", BLOCK "      - 10.0.0.1:0\n",
	  .err = "bad backend address '10.0.0.1:0': port must be 1..65535", .line = 5 },
	{ "backend bad address", BLOCK "      - 10.0.0.300:80\n",
	  .err = "bad backend address '10.0.0.300:80': not a valid IPv4 address", .line = 5 },
	{ "backend host name", BLOCK "      - web1:80\n",
	  .err = "bad backend address 'web1:80': not a valid IPv4 address", .line = 5 },
	{ "backend IPv6 unquoted", BLOCK "      - [2001:db8::1]:80\n",
	  .err = "YAML syntax error", .line = 5 },
	{ "backend IPv6 without brackets", BLOCK "      - '2001:db8::1:80'\n",
	  .err = "bad backend address '2001:db8::1:80': write IPv6 backends as [ADDR]:PORT",
	  .line = 5 },
	{ "backend IPv6 bad address", BLOCK "      - '[2001:db8::g]:80'\n",
	  .err = "bad backend address '[2001:db8::g]:80': not a valid IPv6 address", .line = 5 },
	{ "duplicate IPv6 backend, other spelling",
	  BLOCK "      - '[2001:db8::1]:80'\n      - '[2001:DB8:0::0:1]:80'\n",
	  .err = "duplicate backend [2001:db8::1]:80: already in pool 'web' (@CFG@:5)", .line = 6 },
	{ "duplicate backend in the list",
	  BLOCK "      - 10.0.0.1:80\n      - 10.0.0.2:80\n      - 10.0.0.1:080\n",
	  .err = "duplicate backend 10.0.0.1:80: already in pool 'web' (@CFG@:5)", .line = 7 },

	/* max_down_fraction, canaries */
	{ "max_down_fraction 0", IFACE "max_down_fraction: 0\n" POOLS,
	  .err = "max_down_fraction must be a fraction above 0 and at most 1, e.g. 0.5 (1: no "
		 "circuit breaker), got '0'", .line = 2 },
	{ "max_down_fraction 0.0", IFACE "max_down_fraction: 0.0\n" POOLS,
	  .err = "max_down_fraction must be a fraction", .line = 2 },
	{ "max_down_fraction above 1", IFACE "max_down_fraction: 1.01\n" POOLS,
	  .err = "max_down_fraction must be a fraction above 0 and at most 1, e.g. 0.5 (1: no "
		 "circuit breaker), got '1.01'", .line = 2 },
	{ "max_down_fraction 2", IFACE "max_down_fraction: 2\n" POOLS,
	  .err = "max_down_fraction must be a fraction", .line = 2 },
	{ "max_down_fraction percent", IFACE "max_down_fraction: 50%\n" POOLS,
	  .err = "got '50%'", .line = 2 },
	{ "max_down_fraction 7 decimals", IFACE "max_down_fraction: 0.1234567\n" POOLS,
	  .err = "max_down_fraction must be a fraction", .line = 2 },
	{ "max_down_fraction dot", IFACE "max_down_fraction: '.'\n" POOLS,
	  .err = "max_down_fraction must be a fraction", .line = 2 },
	{ "max_down_fraction 0.", IFACE "max_down_fraction: '0.'\n" POOLS,
	  .err = "max_down_fraction must be a fraction", .line = 2 },
	{ "max_down_fraction signed", IFACE "max_down_fraction: -0.5\n" POOLS,
	  .err = "max_down_fraction must be a fraction", .line = 2 },
	{ "max_down_fraction exponent", IFACE "max_down_fraction: 5e-1\n" POOLS,
	  .err = "max_down_fraction must be a fraction", .line = 2 },
	{ "max_down_fraction 00.5", IFACE "max_down_fraction: 00.5\n" POOLS,
	  .err = "max_down_fraction must be a fraction", .line = 2 },
	{ "max_down_fraction a list", IFACE "max_down_fraction: [0.5]\n" POOLS,
	  .err = "max_down_fraction must be a single value, got a list", .line = 2 },
	{ "pool max_down_fraction", IFACE POOLS "    max_down_fraction: half\n",
	  .err = "max_down_fraction must be a fraction above 0 and at most 1, e.g. 0.5 (1: no "
		 "circuit breaker), got 'half'", .line = 5 },
	{ "canaries empty", IFACE POOLS "canaries: []\n",
	  .err = "canaries is empty: list addresses known to answer, or leave the key out",
	  .line = 5 },
	{ "canaries a value", IFACE POOLS "canaries: 198.18.200.1:80\n",
	  .err = "canaries must be a list, got a single value", .line = 5 },
	{ "canaries a mapping entry", IFACE POOLS "canaries:\n  - 198.18.200.1: 80\n",
	  .err = "canaries: each entry must be ADDR:PORT, got a mapping", .line = 6 },
	{ "canary port 0", IFACE POOLS "canaries:\n  - 198.18.200.1:80\n  - 198.18.200.2:0\n",
	  .err = "bad canary address '198.18.200.2:0': port must be 1..65535", .line = 7 },
	{ "canary IPv6 is a backend",
	  IFACE "pools:\n  - name: web\n    backends: ['[2001:2::1]:80']\n"
	  "canaries: ['[2001:2::1]:80']\n",
	  .err = "canary [2001:2::1]:80 is a backend of pool 'web' (@CFG@:4): canaries must be "
		 "addresses outside the pools", .line = 5 },
	{ "canary is a backend", IFACE POOLS "canaries: [198.18.200.1:80, 10.0.0.1:80]\n",
	  .err = "canary 10.0.0.1:80 is a backend of pool 'web' (@CFG@:4): canaries must be "
		 "addresses outside the pools", .line = 5 },
	{ "duplicate canary", IFACE POOLS "canaries:\n  - 198.18.200.1:80\n  - 198.18.200.1:80\n",
	  .err = "duplicate canary 198.18.200.1:80 (line 6)", .line = 7 },
	{ "too many canaries", IFACE POOLS "canaries: [1.0.0.1:1, 1.0.0.1:2, 1.0.0.1:3, "
	  "1.0.0.1:4, 1.0.0.1:5, 1.0.0.1:6, 1.0.0.1:7, 1.0.0.1:8, 1.0.0.1:9, 1.0.0.1:10, "
	  "1.0.0.1:11, 1.0.0.1:12, 1.0.0.1:13, 1.0.0.1:14, 1.0.0.1:15, 1.0.0.1:16, 1.0.0.1:17, "
	  "1.0.0.1:18, 1.0.0.1:19, 1.0.0.1:20, 1.0.0.1:21, 1.0.0.1:22, 1.0.0.1:23, 1.0.0.1:24, "
	  "1.0.0.1:25, 1.0.0.1:26, 1.0.0.1:27, 1.0.0.1:28, 1.0.0.1:29, 1.0.0.1:30, 1.0.0.1:31, "
	  "1.0.0.1:32, 1.0.0.1:33, 1.0.0.1:34, 1.0.0.1:35, 1.0.0.1:36, 1.0.0.1:37, 1.0.0.1:38, "
	  "1.0.0.1:39, 1.0.0.1:40, 1.0.0.1:41, 1.0.0.1:42, 1.0.0.1:43, 1.0.0.1:44, 1.0.0.1:45, "
	  "1.0.0.1:46, 1.0.0.1:47, 1.0.0.1:48, 1.0.0.1:49, 1.0.0.1:50, 1.0.0.1:51, 1.0.0.1:52, "
	  "1.0.0.1:53, 1.0.0.1:54, 1.0.0.1:55, 1.0.0.1:56, 1.0.0.1:57, 1.0.0.1:58, 1.0.0.1:59, "
	  "1.0.0.1:60, 1.0.0.1:61, 1.0.0.1:62, 1.0.0.1:63, 1.0.0.1:64, 1.0.0.1:65]\n",
	  .err = "too many canaries (65, max 64): a few stable addresses are enough", .line = 5 },
	{ "a pool named like the canaries", IFACE "pools:\n  - name: '@canaries'\n"
	  "    backends: [10.0.0.1:80]\n", .err = "bad pool name '@canaries'", .line = 3 },

	/* max_backends */
	{ "max_backends below the backends", BLOCK "      - 10.0.0.1:80\n      - 10.0.0.2:80\n"
	  "    max_backends: 1\n",
	  .err = "max_backends (1) is less than the 2 backends of pool 'web'", .line = 7 },
	{ "max_backends 0", IFACE POOLS "    max_backends: 0\n",
	  .err = "max_backends must be an integer in 1..16777214, got '0'", .line = 5 },
	{ "max_backends past the ids", IFACE POOLS "    max_backends: 16777214\n"
	  "  - name: api\n    backends: [10.0.0.2:80]\n  - name: db\n    backends: [10.0.0.3:80]\n",
	  .err = "max_backends of pools 'web' to 'api' add up to 16777215 backend ids, more than "
		 "the 16777214 there are", .line = 5 },
	{ "spare_ids past the ids", IFACE "spare_ids: 16777198\n" POOLS,
	  .err = "spare_ids (16777198) and the pools' 17 backend ids add up to more than the "
		 "16777214 there are", .line = 2 },
	{ "state_file relative", IFACE "state_file: web.state\n" POOLS,
	  .err = "state_file must be an absolute path, or none, got 'web.state'", .line = 2 },
	{ "state_file a list", IFACE "state_file: [a]\n" POOLS,
	  .err = "state_file must be a single value, got a list", .line = 2 },

	/* backends_file */
	{ "backends_file missing", IFACE "pools:\n  - name: web\n    backends_file: nothere.txt\n",
	  .err = "backends_file: cannot open '@DIR@/nothere.txt': No such file or directory",
	  .line = 4 },
	{ "backends_file a directory", IFACE "pools:\n  - name: web\n    backends_file: .\n",
	  .err = "backends_file: cannot open '@DIR@/.': Is a directory", .line = 4 },
	{ "backends_file path too long", IFACE "pools:\n  - name: web\n    backends_file: @LONG@\n",
	  .err = "backends_file: path too long", .line = 4 },
	{ "backends_file a list", IFACE "pools:\n  - name: web\n    backends_file: [b.txt]\n",
	  .err = "backends_file must be a single value, got a list", .line = 4 },
	{ "backends_file empty", IFACE "pools:\n  - name: web\n    backends_file: b.txt\n",
	  .file = "# nothing yet\n\n", .err = "pool 'web' has no backends", .line = 3 },
	{ "NUL in backends file", IFACE "pools:\n  - name: web\n    backends_file: b.txt\n",
	  .file = "10.0.0.1:80\n10.0.0.2:80\0\n", .file_len = 25,
	  .err = "NUL byte in backends file", .line = 2, .in_file = true },
	{ "bad address in backends file", IFACE "pools:\n  - name: web\n    backends_file: b.txt\n",
	  .file = "10.0.0.1:80\n# comment\n10.0.0.300:80\n",
	  .err = "bad backend address '10.0.0.300:80': not a valid IPv4 address", .line = 3,
	  .in_file = true },
	{ "bad IPv6 in backends file", IFACE "pools:\n  - name: web\n    backends_file: b.txt\n",
	  .file = "[2001:db8::1]:80\n[2001:db8::2:80\n",
	  .err = "bad backend address '[2001:db8::2:80': missing ']' after IPv6 address", .line = 2,
	  .in_file = true },
	{ "duplicate in backends file", IFACE "pools:\n  - name: web\n    backends_file: b.txt\n",
	  .file = "10.0.0.1:80\n10.0.0.2:80\n\n10.0.0.1:80\n",
	  .err = "duplicate backend 10.0.0.1:80: already in pool 'web' (@FILE@:1)", .line = 4,
	  .in_file = true },
	{ "duplicate of a list entry in backends file",
	  IFACE "pools:\n  - name: web\n    backends_file: b.txt\n    backends: [10.0.0.1:80]\n",
	  .file = "10.0.0.2:80\n10.0.0.1:80\n",
	  .err = "duplicate backend 10.0.0.1:80: already in pool 'web' (@CFG@:5)", .line = 2,
	  .in_file = true },
	{ "duplicate of a backends file entry in a list",
	  IFACE "pools:\n  - name: web\n    backends_file: b.txt\n"
	  "    backends: [10.0.0.3:80, 10.0.0.2:80]\n",
	  .file = "10.0.0.1:80\n10.0.0.2:80\n",
	  .err = "duplicate backend 10.0.0.2:80: already in pool 'web' (@CFG@:5)", .line = 2,
	  .in_file = true },
};

#define N(a) (sizeof(a) / sizeof((a)[0]))

static void run_valid(const struct cfg_case *c)
{
	struct config cfg;
	char err[CONFIG_ERR_LEN] = "x";

	check_context("config valid: %s", c->name);
	if (setup_case(c)) {
		CHECK_MSG(false, "write the case's files: %s", strerror(errno));
		return;
	}
	CHECK_INT(config_load(cfg_path, &cfg, err, sizeof(err)), 0);
	CHECK_STR(err, "");
	if (err[0])
		return;
	CHECK_STR(cfg.path, cfg_path);
	c->check(&cfg);
	config_free(&cfg);
	CHECK(cfg.pools == NULL && cfg.n_pools == 0);
}

static void run_error(const struct cfg_case *c)
{
	char err[CONFIG_ERR_LEN] = "", prefix[PATH_MAX + 32];
	char *want = expand(c->err, strlen(c->err));
	struct config cfg;

	check_context("config error: %s", c->name);
	if (setup_case(c) || !want) {
		CHECK_MSG(false, "write the case's files: %s", strerror(errno));
		free(want);
		return;
	}
	CHECK_INT(config_load(cfg_path, &cfg, err, sizeof(err)), -1);
	if (c->line)
		snprintf(prefix, sizeof(prefix), "%s:%d: ", c->in_file ? file_path : cfg_path, c->line);
	else
		snprintf(prefix, sizeof(prefix), "%s: ", c->in_file ? file_path : cfg_path);
	CHECK_MSG(!strncmp(err, prefix, strlen(prefix)), "'%s' starts with '%s'", err, prefix);
	CHECK_CONTAINS(err, want);
	/* A failed load leaves nothing to free. */
	CHECK(cfg.pools == NULL && cfg.n_pools == 0);
	free(want);
}

/* ---- cases that do not fit the table ------------------------------------ */

static void no_such_file(void)
{
	char err[CONFIG_ERR_LEN], path[PATH_MAX + 16], want[PATH_MAX + 64];
	struct config cfg;

	check_context("config: special cases");
	snprintf(path, sizeof(path), "%s/missing.yaml", dir);
	snprintf(want, sizeof(want), "%s: cannot open: No such file or directory", path);
	CHECK_INT(config_load(path, &cfg, err, sizeof(err)), -1);
	CHECK_STR(err, want);
	snprintf(want, sizeof(want), "%s: cannot open: Is a directory", dir);
	CHECK_INT(config_load(dir, &cfg, err, sizeof(err)), -1);
	CHECK_STR(err, want);
}

/* The message repeats the whole path: give it room to reach the reason. */
static void path_too_long(void)
{
	char err[2 * PATH_MAX], *path = malloc(PATH_MAX + 1);
	struct config cfg;

	if (!path)
		return;
	long_path(path, PATH_MAX);
	CHECK_INT(config_load(path, &cfg, err, sizeof(err)), -1);
	CHECK_CONTAINS(err, ": path too long");
	free(path);
}

static int append_text(const char *path, const char *text)
{
	FILE *f = fopen(path, "a");

	if (!f)
		return -1;
	fputs(text, f);
	return fclose(f);
}

/* n pools of one backend each. */
static int write_pools(size_t n)
{
	FILE *f = fopen(cfg_path, "w");

	if (!f)
		return -1;
	fputs(IFACE "pools:\n", f);
	for (size_t i = 0; i < n; i++)
		fprintf(f, "  - {name: p%zu, backends: ['10.1.%zu.%zu:80']}\n", i, i / 256, i % 256);
	return fclose(f);
}

static void pool_limit(void)
{
	char err[CONFIG_ERR_LEN], want[PATH_MAX + 128];
	struct config cfg;

	CHECK_INT(write_pools(XDPHC_MAX_POOLS), 0);
	CHECK_INT(config_load(cfg_path, &cfg, err, sizeof(err)), 0);
	CHECK_UINT(cfg.n_pools, XDPHC_MAX_POOLS);
	CHECK_UINT(config_backend_count(&cfg), XDPHC_MAX_POOLS);
	config_free(&cfg);
	CHECK_INT(write_pools(XDPHC_MAX_POOLS + 1), 0);
	/* A block list starts at its first '-'. */
	snprintf(want, sizeof(want), "%s:3: too many pools (%d, max %d)", cfg_path,
		 XDPHC_MAX_POOLS + 1, XDPHC_MAX_POOLS);
	CHECK_INT(config_load(cfg_path, &cfg, err, sizeof(err)), -1);
	CHECK_STR(err, want);
	/* The canaries take a pool id of their own. */
	CHECK_INT(write_pools(XDPHC_MAX_POOLS - 1), 0);
	CHECK(append_text(cfg_path, "canaries: [198.18.200.1:80]\n") == 0);
	CHECK_INT(config_load(cfg_path, &cfg, err, sizeof(err)), 0);
	CHECK_UINT(cfg.n_pools, XDPHC_MAX_POOLS);
	config_free(&cfg);
	CHECK_INT(write_pools(XDPHC_MAX_POOLS), 0);
	CHECK(append_text(cfg_path, "canaries: [198.18.200.1:80]\n") == 0);
	snprintf(want, sizeof(want), "%s:259: canaries take a pool of their own: at most %d "
		 "pools with canaries", cfg_path, XDPHC_MAX_POOLS - 1);
	CHECK_INT(config_load(cfg_path, &cfg, err, sizeof(err)), -1);
	CHECK_STR(err, want);
}

/* A relative backends_file is found next to a relative config path too. */
static void relative_config_path(void)
{
	static const struct cfg_case c = {
		.yaml = IFACE "pools:\n  - name: web\n    backends_file: b.txt\n",
		.file = "10.0.3.1:80\n",
	};
	char err[CONFIG_ERR_LEN], cwd[PATH_MAX];
	struct config cfg;

	if (!getcwd(cwd, sizeof(cwd)) || setup_case(&c) || chdir(dir)) {
		CHECK_MSG(false, "set up in %s: %s", dir, strerror(errno));
		return;
	}
	CHECK_INT(config_load("c.yaml", &cfg, err, sizeof(err)), 0);
	CHECK_UINT(config_backend_count(&cfg), 1);
	config_free(&cfg);
	CHECK_INT(chdir(cwd), 0);
}

/* Callers may pass no message buffer, or a short one. */
static void err_buffers(void)
{
	static const struct cfg_case c = { .yaml = IFACE "xdp_mode: fast\n" POOLS };
	char small[12];
	struct config cfg;

	CHECK_INT(setup_case(&c), 0);
	CHECK_INT(config_load(cfg_path, &cfg, NULL, 0), -1);
	memset(small, 'x', sizeof(small));
	CHECK_INT(config_load(cfg_path, &cfg, small, sizeof(small)), -1);
	CHECK_UINT(strlen(small), sizeof(small) - 1);
	CHECK(!strncmp(small, cfg_path, sizeof(small) - 1));
}

/* The engine frees the backend lists after start; the counts must stay. */
static void release_backends(void)
{
	static const struct cfg_case c = {
		.yaml = IFACE POOLS "  - name: api\n    backends: [10.0.0.2:80, 10.0.0.3:80]\n",
	};
	char err[CONFIG_ERR_LEN];
	struct config cfg;

	CHECK_INT(setup_case(&c), 0);
	CHECK_INT(config_load(cfg_path, &cfg, err, sizeof(err)), 0);
	config_release_backends(&cfg);
	CHECK(cfg.backends == NULL);
	CHECK_UINT(config_backend_count(&cfg), 3);
	config_free(&cfg);
}

/* Messages name the line a key was set on, or just the file for a default. */
static void where(void)
{
	static const struct cfg_case c = {
		.yaml = IFACE "pin_path: /sys/fs/bpf/x\n" POOLS "    healthcheck:\n      port: 81\n",
	};
	char err[CONFIG_ERR_LEN], buf[CONFIG_WHERE_LEN], want[PATH_MAX + 32];
	struct config cfg;

	CHECK_INT(setup_case(&c), 0);
	CHECK_INT(config_load(cfg_path, &cfg, err, sizeof(err)), 0);
	snprintf(want, sizeof(want), "%s:2", cfg_path);
	CHECK_STR(config_where(&cfg, CFG_PIN_PATH, buf, sizeof(buf)), want);
	CHECK(config_has(&cfg, CFG_PIN_PATH));
	CHECK_STR(config_where(&cfg, CFG_EVENT_LOG, buf, sizeof(buf)), cfg_path);
	CHECK(!config_has(&cfg, CFG_EVENT_LOG));
	snprintf(want, sizeof(want), "%s:7", cfg_path);
	CHECK_STR(config_pool_where(&cfg, 0, CFG_HC_PORT, buf, sizeof(buf)), want);
	CHECK_STR(config_pool_where(&cfg, 0, CFG_HC_INTERVAL, buf, sizeof(buf)), cfg_path);
	CHECK_STR(config_key_name(CFG_HC_PORT), "port");
	config_free(&cfg);
}

/* `xdphc config-keys`: every key, with what the table says of it. */
static void key_reference(void)
{
	static const char *const want[] = {
		"\ninterface\n    interface name: 1..15 characters, none of / : or blanks; "
		"required\n",
		"\nxdp_mode\n    one of: 'native' or 'skb'; default: native\n",
		"\npools[].max_backends\n    an integer in 1..16777214; default: the configured",
		"\npools[].healthcheck.interval\n    a duration in 1ms..1440m; default: 1s\n",
		"\npools[].healthcheck.jitter\n    a duration in 0..720m; default: 1 % of the "
		"interval\n",
		"\npools[].healthcheck.protocol\n    protocol: 'tcp', 'http', 'https' or 'udp' "
		"(any case); default: tcp\n",
		"\npools[].healthcheck.method\n    one of: 'HEAD' or 'GET' (any case); default: "
		"HEAD; only with protocol:\n    http or https\n",
		"\npools[].healthcheck.success_codes\n    status codes: codes, ranges and classes, "
		"e.g. 200,302 or 200-399 or 2xx,\n    or a list of them; default: 200-399; only "
		"with protocol: http or https\n",
		"\npools[].healthcheck.send\n    bytes: ",
		"; default: none; only with\n    protocol: tcp\n",
		"\npools[].healthcheck.tls\n    mapping; default: every key's default; only with "
		"protocol: https\n",
		"\npools[].healthcheck.tls.verify\n    boolean: true or false; default: false; "
		"only with protocol: https\n",
		"\nmax_down_fraction\n    a fraction above 0 and at most 1, e.g. 0.5 (1: no circuit "
		"breaker);\n    default: 0.5\n",
		"\npools[].max_down_fraction\n    a fraction above 0 and at most 1, e.g. 0.5 (1: no "
		"circuit breaker);\n    default: the top-level max_down_fraction\n",
		"\ncanaries\n    list: 1..64 ADDR:PORT entries, none of them a backend; default: "
		"none\n",
		"\npools[].healthcheck.expect\n    bytes: ",
		"; default: none; only with protocol: tcp or udp\n",
		"\npools[].healthcheck.payload\n    bytes: ",
		"default: an empty datagram;\n    only with protocol: udp\n",
		"\nsource_ipv6\n    IPv6 address: a global unicast address of the probing "
		"interface; default:\n    the interface's first global IPv6 address\n",
	};
	char *text = NULL, name[64];
	size_t len = 0;
	FILE *f = open_memstream(&text, &len);

	check_context("config: key reference");
	if (!f)
		return;
	config_print_keys(f);
	fclose(f);
	for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++)
		CHECK_CONTAINS(text, want[i]);
	for (int k = 0; k < CFG_KEY_N; k++) {
		snprintf(name, sizeof(name), "%s\n    ", config_key_name(k));
		CHECK_CONTAINS(text, name);
	}
	free(text);
}

static int load_text(const char *yaml, struct config *cfg)
{
	struct cfg_case c = { .yaml = yaml };
	char err[CONFIG_ERR_LEN];

	if (setup_case(&c) || config_load(cfg_path, cfg, err, sizeof(err))) {
		CHECK_MSG(false, "load: %s", err);
		return -1;
	}
	return 0;
}

/* Each change as a line: what, the key or backend, the pools' indexes in a and b. */
static bool note_change(void *ctx, const struct cfg_change *ch)
{
	static const char *const kinds[] = {
		"key", "pool key", "pool added", "pool removed", "pool moved", "backend added",
		"backend removed",
	};
	char what[64] = "";
	FILE *f = ctx;

	if (ch->backend)
		inet_ntop(AF_INET, ch->backend->addr, what, sizeof(what));
	else if (ch->kind <= CFG_CHANGE_POOL_KEY)
		snprintf(what, sizeof(what), "%s", config_key_name(ch->key));
	fprintf(f, "%s%s%s %d %d\n", kinds[ch->kind], what[0] ? " " : "", what,
		(int)ch->a_pool, (int)ch->b_pool);
	return true;
}

static bool go_on(void *ctx, const struct cfg_change *ch)
{
	(void)ctx;
	(void)ch;
	return true;
}

static void diff(void)
{
	static const char a_yaml[] = IFACE
		"pools:\n"
		"  - {name: web, backends: [10.0.0.1:80, 10.0.0.2:80]}\n"
		"  - {name: api, backends: [10.0.1.1:80]}\n"
		"  - {name: old, backends: [10.0.2.1:80]}\n";
	/* The same config, written otherwise. */
	static const char a2_yaml[] =
		"pools:\n"
		"  - name: web   # comment\n"
		"    healthcheck: {interval: 1000ms}\n"
		"    backends: ['10.0.0.2:80', 10.0.0.1:80]\n"
		"  - {name: api, backends: [10.0.1.1:80], max_backends: 17}\n"
		"  - {name: old, backends: [10.0.2.1:80]}\n"
		"pin_path: /sys/fs/bpf/xdphc\n" IFACE;
	static const char b_yaml[] = IFACE
		"source_ports: 61000-65095\n"
		"pools:\n"
		"  - {name: api, backends: [10.0.1.1:80], healthcheck: {interval: 2s}}\n"
		"  - {name: web, backends: [10.0.0.2:80, 10.0.0.3:80]}\n"
		"  - {name: new, backends: [10.0.3.1:80]}\n";
	static const char want[] =
		"key source_ports -1 -1\n"
		"pool moved 0 1\n"
		"backend removed 10.0.0.1 0 1\n"
		"backend added 10.0.0.3 0 1\n"
		"pool moved 1 0\n"
		"pool key interval 1 0\n"
		/* the keys whose defaults follow the interval */
		"pool key unhealthy_interval 1 0\n"
		"pool key transition_interval 1 0\n"
		"pool key jitter 1 0\n"
		"pool removed 2 -1\n"
		"pool added -1 2\n";
	struct config a, a2, b;
	char *text = NULL;
	size_t len = 0;
	FILE *f;

	check_context("config: diff");
	if (load_text(a_yaml, &a))
		return;
	if (!load_text(a2_yaml, &a2)) {
		CHECK_INT(config_diff(&a, &a2, NULL, NULL), 0);
		config_free(&a2);
	}
	CHECK_INT(config_diff(&a, &a, NULL, NULL), 0);
	if (!load_text(b_yaml, &b)) {
		f = open_memstream(&text, &len);
		if (f) {
			CHECK_INT(config_diff(&a, &b, note_change, f), 11);
			fclose(f);
			CHECK_STR(text, want);
			free(text);
		}
		/* Without a callback, the first difference settles it. */
		CHECK_INT(config_diff(&a, &b, NULL, NULL), 1);
		config_release_backends(&a);
		CHECK_INT(config_diff(&a, &b, go_on, NULL), -1);
		config_free(&b);
	}
	config_free(&a);
}

/* Each key of a connection check is a difference of its own; text and hex compare as bytes. */
static void diff_requests(void)
{
	static const struct { const char *a, *b, *want; } cases[] = {
		{ HTTP "      path: /a\n", HTTP "      path: /b\n", "pool key path 0 0\n" },
		{ HTTP "      path: /a\n", HC "      path: /a\n      protocol: HTTP\n", "" },
		{ HTTP "      success_codes: 200\n", HTTP "      success_codes: [200, 302]\n",
		  "pool key success_codes 0 0\n" },
		{ HTTP "      success_codes: 200,302\n", HTTP "      success_codes: [302, 200]\n",
		  "" },
		{ HTTP "      headers: {X-A: 1}\n", HTTP "      headers: {X-A: 2}\n",
		  "pool key headers 0 0\n" },
		{ HTTP, HTTP "      method: GET\n      expect_body: ok\n",
		  "pool key method 0 0\npool key expect_body 0 0\n" },
		{ HTTPS "      tls: {sni: a}\n", HTTPS "      tls: {sni: b, verify: true}\n",
		  "pool key verify 0 0\npool key sni 0 0\n" },
		{ HC "      port: 80\n", HC "      port: 80\n      send: PING\n",
		  "pool key send 0 0\n" },
		{ HC "      send: PING\n", HC "      send: 0x50494e47\n", "" },
		{ HC "      expect: \"a\"\n", HC "      expect: \"ab\"\n",
		  "pool key expect 0 0\n" },
		{ UDP "      payload: a\n", UDP "      payload: b\n", "pool key payload 0 0\n" },
		{ UDP "      payload: PING\n", UDP "      payload: 0x50494e47\n", "" },
		/* The same bytes, one with a cookie in them. */
		{ UDP "      payload: '00000000'\n", UDP "      payload: '{cookie}'\n",
		  "pool key payload 0 0\n" },
		{ UDP, UDP "      payload: a\n      expect: b\n",
		  "pool key expect 0 0\npool key payload 0 0\n" },
		/* Another protocol: its backends are others (their keys carry it). */
		{ HC "      port: 53\n", UDP "      port: 53\n",
		  "pool key protocol 0 0\nbackend removed 10.0.0.1 0 0\n"
		  "backend added 10.0.0.1 0 0\n" },
	};
	struct config a, b;
	char *text;
	size_t len;
	FILE *f;

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		check_context("config: diff of requests, case %zu", i);
		if (load_text(cases[i].a, &a))
			continue;
		if (!load_text(cases[i].b, &b)) {
			text = NULL;
			len = 0;
			f = open_memstream(&text, &len);
			if (f) {
				config_diff(&a, &b, note_change, f);
				fclose(f);
				CHECK_STR(text, cases[i].want);
				free(text);
			}
			CHECK(config_same_probe(&a.pools[0].hc, &b.pools[0].hc) ==
			      !cases[i].want[0]);
			config_free(&b);
		}
		config_free(&a);
	}
}

/*
 * A backend in two pools is probed once only if both send it the same
 * probes at the same paces; thresholds may differ.
 */
static void same_probe(void)
{
	struct hc_config a = {
		.port = 80, .interval_ms = 1000, .unhealthy_interval_ms = 5000,
		.transition_interval_ms = 250, .timeout_ms = 200, .retransmits = 1,
		.healthy_threshold = 3, .unhealthy_threshold = 2,
	}, b = a;

	check_context("config: same probe");
	b.healthy_threshold = 5;
	CHECK(config_same_probe(&a, &b));
	b.unhealthy_interval_ms = 4000;
	CHECK(!config_same_probe(&a, &b));
	b = a;
	b.transition_interval_ms = 500;
	CHECK(!config_same_probe(&a, &b));
	b = a;
	b.retransmits = 0;
	CHECK(!config_same_probe(&a, &b));
	b = a;
	strcpy(b.path, "/x");
	CHECK(!config_same_probe(&a, &b));
	b = a;
	b.send.len = 1;
	CHECK(!config_same_probe(&a, &b));
	b = a;
	b.fail_fast_codes.bits[503 / 64] = 1;
	CHECK(!config_same_probe(&a, &b));
	/* A udp check's datagram, and where its cookie goes. */
	b = a;
	b.payload.len = 1;
	CHECK(!config_same_probe(&a, &b));
	b = a;
	b.payload.cookie_off = XDPHC_NO_COOKIE;
	CHECK(!config_same_probe(&a, &b));
	CHECK(config_request_key(CFG_HC_PAYLOAD) && config_request_key(CFG_HC_EXPECT));
	CHECK(!config_request_key(CFG_HC_RETRANSMITS));
}

/* ---- the start's checks against the interface ------------------------------ */

static const struct cfg_netif nif_both = {
	.name = "eth0", .src4 = 0x010012c6, .src6 = { 0x02000120, 0, 0, 0x01000000 }, .mtu = 1500,
};

/* config_check_netif() of yaml (and b.txt) against nif: its message, or "" */
static void netif_case(const char *yaml, const char *file, const struct cfg_netif *nif,
		       const char *want)
{
	struct cfg_case c = { .yaml = yaml, .file = file };
	char err[CONFIG_ERR_LEN] = "", *w = expand(want, strlen(want));
	struct config cfg;

	if (setup_case(&c) || config_load(cfg_path, &cfg, err, sizeof(err))) {
		CHECK_MSG(false, "load: %s", err);
		free(w);
		return;
	}
	err[0] = '\0';
	CHECK_INT(config_check_netif(&cfg, nif, err, sizeof(err)), want[0] ? -1 : 0);
	CHECK_STR(err, w ? w : "");
	config_free(&cfg);
	free(w);
}

static void check_netif(void)
{
	struct cfg_netif no6 = nif_both, no4 = nif_both, mtu = nif_both;

	check_context("config: checks against the interface");
	memset(no6.src6, 0, sizeof(no6.src6));
	no4.src4 = 0;
	mtu.mtu = 1400;
	netif_case(IFACE POOLS, NULL, &no6, "");
	netif_case(IFACE POOLS "  - name: v6\n    backends: ['[2001:db8::1]:80']\n", NULL, &no6,
		   "@CFG@:6: backend '[2001:db8::1]:80' is IPv6 but interface 'eth0' has no "
		   "global IPv6 address; set source_ipv6");
	/* The first of them, from a file. */
	netif_case(IFACE "pools:\n  - name: web\n    backends_file: b.txt\n",
		   "10.0.0.1:80\n[2001:db8::7]:80\n[2001:db8::8]:80\n", &no6,
		   "@FILE@:2: backend '[2001:db8::7]:80' is IPv6 but interface 'eth0' has no "
		   "global IPv6 address; set source_ipv6");
	netif_case(IFACE POOLS "canaries: ['[2001:db8::9]:80']\n", NULL, &no6,
		   "@CFG@:5: canary '[2001:db8::9]:80' is IPv6 but interface 'eth0' has no global "
		   "IPv6 address; set source_ipv6");
	/* A v6-only config on an interface without IPv4 starts; a v4 backend does not. */
	netif_case(IFACE "pools:\n  - name: v6\n    backends: ['[2001:db8::1]:80']\n", NULL, &no4,
		   "");
	netif_case(IFACE POOLS, NULL, &no4, "@CFG@:4: backend '10.0.0.1:80' is IPv4 but "
		   "interface 'eth0' has no IPv4 address; set source_ipv4");
	/* 1372 + 8 + 20 = 1400 fits; with an IPv6 backend 1420 does not. */
	netif_case(UDP "      payload: " A1372 "\n", NULL, &mtu, "");
	netif_case(IFACE "pools:\n  - name: dns\n    backends: [10.0.0.1:53, '[2001:db8::1]:53']\n"
		   "    healthcheck:\n      protocol: udp\n      payload: " A1372 "\n", NULL, &mtu,
		   "@CFG@:7: payload too large for interface 'eth0' (MTU 1400): 1372 bytes + 8 "
		   "(UDP) + 40 (IPv6) = 1420 bytes, in pool 'dns'");
	netif_case(UDP "      payload: " A1372 "a\n", NULL, &mtu,
		   "@CFG@:7: payload too large for interface 'eth0' (MTU 1400): 1373 bytes + 8 "
		   "(UDP) + 20 (IPv4) = 1401 bytes, in pool 'web'");
	/* A tcp pool sends no payload; an unknown MTU is not checked. */
	mtu.mtu = 0;
	netif_case(UDP "      payload: " A1472 "\n", NULL, &mtu, "");
}

/* backend add: the same checks for one backend. */
static void backend_fits(void)
{
	struct cfg_netif no6 = nif_both;
	struct xdphc_backend_key k4 = { .family = AF_INET, .protocol = IPPROTO_UDP },
				 k6 = { .family = AF_INET6, .protocol = IPPROTO_UDP };
	struct config cfg;
	char why[CONFIG_ERR_LEN];

	check_context("config: backend fits");
	memset(no6.src6, 0, sizeof(no6.src6));
	k4.addr[0] = ip4("10.0.0.9");
	k4.port = k6.port = htons(53);
	inet_pton(AF_INET6, "2001:db8::9", k6.addr);
	if (load_text(UDP "      payload: " A1452 "\n", &cfg))
		return;
	CHECK_INT(config_backend_fits(&cfg, 0, &k4, &nif_both, why, sizeof(why)), 0);
	CHECK_INT(config_backend_fits(&cfg, 0, &k6, &nif_both, why, sizeof(why)), 0);
	CHECK_INT(config_backend_fits(&cfg, 0, &k6, &no6, why, sizeof(why)), -1);
	CHECK_STR(why, "backend '[2001:db8::9]:53' is IPv6 but interface 'eth0' has no global "
		  "IPv6 address; set source_ipv6");
	cfg.pools[0].hc.payload.len++;		/* 1453 + 8 + 40 = 1501 */
	CHECK_INT(config_backend_fits(&cfg, 0, &k4, &nif_both, why, sizeof(why)), 0);
	CHECK_INT(config_backend_fits(&cfg, 0, &k6, &nif_both, why, sizeof(why)), -1);
	CHECK_STR(why, "payload too large for interface 'eth0' (MTU 1500): 1453 bytes + 8 (UDP) "
		  "+ 40 (IPv6) = 1501 bytes, in pool 'web'");
	config_free(&cfg);
}

static void special_cases(void)
{
	check_netif();
	backend_fits();
	same_probe();
	no_such_file();
	path_too_long();
	pool_limit();
	relative_config_path();
	err_buffers();
	release_backends();
	where();
	key_reference();
	diff();
	diff_requests();
}

static int make_dir(void)
{
	const char *tmp = getenv("TMPDIR");

	snprintf(dir, sizeof(dir), "%s/xdphc-unit-XXXXXX", tmp && *tmp ? tmp : "/tmp");
	if (!mkdtemp(dir))
		return -1;
	snprintf(cfg_path, sizeof(cfg_path), "%s/c.yaml", dir);
	snprintf(file_path, sizeof(file_path), "%s/b.txt", dir);
	return 0;
}

void suite_config(void)
{
	if (make_dir()) {
		CHECK_MSG(false, "mkdtemp: %s", strerror(errno));
		return;
	}
	for (size_t i = 0; i < N(valid); i++)
		run_valid(&valid[i]);
	for (size_t i = 0; i < N(errors); i++)
		run_error(&errors[i]);
	special_cases();
	check_context("%s", "");
	unlink(cfg_path);
	unlink(file_path);
	rmdir(dir);
}
