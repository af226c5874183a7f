/* SPDX-License-Identifier: MIT */
#ifndef XDPHC_CONFIG_H
#define XDPHC_CONFIG_H

#include <limits.h>
#include <net/if.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <xdphc/abi.h>
#include <internal/probe.h>

#include "codes.h"
#include "config_keys.h"

#define CONFIG_ERR_LEN 512
#define CONFIG_WHERE_LEN (PATH_MAX + 16)	/* "path:line" */
#include "defaults.h"
/* A backend id is a probe slot: every pool's ids together fit the slot table. */
#define CONFIG_MAX_IDS XDPHC_SLOTS_LIMIT

/* Every key, top level first, then a pool's, then its healthcheck's, then tls's. */
#define CFG_KEY_ID(id, ...) CFG_##id,
#define CFG_KEY_ONE(...) +1
enum cfg_key {
	CFG_TOP_KEYS(CFG_KEY_ID)
	CFG_POOL_KEYS(CFG_KEY_ID)
	CFG_HC_KEYS(CFG_KEY_ID)
	CFG_HTTP_KEYS(CFG_KEY_ID)
	CFG_HTTPS_KEYS(CFG_KEY_ID)
	CFG_TCP_KEYS(CFG_KEY_ID)
	CFG_EXPECT_KEYS(CFG_KEY_ID)
	CFG_UDP_KEYS(CFG_KEY_ID)
	CFG_TLS_KEYS(CFG_KEY_ID)
	CFG_KEY_N
};

#define CFG_TOP_N (0 CFG_TOP_KEYS(CFG_KEY_ONE))
/* A pool's keys, its healthcheck's and their tls's: ids CFG_TOP_N and on. */
#define CFG_POOL_N (CFG_KEY_N - CFG_TOP_N)

enum hc_protocol {
	HC_PROTO_TCP = 0,		/* half-open SYN from XDP; a connection with send/expect */
	HC_PROTO_HTTP = 1,
	HC_PROTO_HTTPS = 2,
	HC_PROTO_UDP = 3,		/* a datagram from XDP; payload, optional expect */
};

enum hc_method {
	HC_METHOD_HEAD = 0,
	HC_METHOD_GET = 1,
};

enum hc_http_version {
	HC_HTTP_1_1 = 0,
	HC_HTTP_2 = 1,			/* ALPN over TLS, prior knowledge on http */
};

#define HC_TEXT_LEN 256			/* path, host, sni, expect_body, with the NUL */
#define HC_HEADERS_LEN 1024		/* every header line together */
#define HC_BYTES_LEN 256		/* send and expect, raw bytes */

/* Raw bytes of a send or expect: text, or hex after 0x. */
struct hc_bytes {
	uint16_t len;			/* 0: not set */
	uint8_t b[HC_BYTES_LEN];
};

/*
 * A UDP payload: text or hex, with at most one {cookie}, which is replaced
 * by XDPHC_COOKIE_DIGITS placeholder bytes at cookie_off (the XDP program
 * writes the probe's cookie there).
 */
#define HC_PAYLOAD_LEN XDPHC_PAYLOAD_MAX
struct hc_payload {
	uint16_t len;			/* 0: an empty datagram */
	uint16_t cookie_off;		/* XDPHC_NO_COOKIE: none */
	uint8_t b[HC_PAYLOAD_LEN];
};

/* xdp_mode, in the order of its choices in config_keys.h. */
enum cfg_xdp_mode {
	CFG_XDP_NATIVE = 0,
	CFG_XDP_SKB = 1,
};

struct hc_config {
	enum hc_protocol protocol;
	uint16_t port;			/* 0: probe each backend's own port */
	uint32_t interval_ms;
	uint32_t unhealthy_interval_ms;	/* the pace of down backends */
	uint32_t transition_interval_ms;	/* of backends between states */
	uint32_t timeout_ms;		/* at most each of the three intervals */
	uint32_t jitter_ms;		/* each interval starts up to this much late */
	uint32_t retransmits;		/* SYNs again per unanswered probe */
	uint32_t healthy_threshold;
	uint32_t unhealthy_threshold;
	/* protocol http and https: checked from userspace with libcurl */
	uint8_t method;			/* enum hc_method */
	uint8_t http_version;		/* enum hc_http_version */
	bool reuse_connection;		/* keep-alive across checks (true by default) */
	bool tls_verify;		/* verify the certificate chain and name */
	char path[HC_TEXT_LEN];		/* "/" by default; starts with '/' */
	char host[HC_TEXT_LEN];		/* Host header (and default SNI); "": the address */
	char expect_body[HC_TEXT_LEN];	/* "": none; GET only */
	char headers[HC_HEADERS_LEN];	/* "Name: value" lines, each ending in '\n' */
	char ca_file[PATH_MAX];		/* "": the system's CAs; else an absolute path */
	char sni[HC_TEXT_LEN];		/* "": host, or none for an address */
	struct codes success_codes;	/* "200-399" by default */
	struct codes fail_fast_codes;	/* "503" by default: down at once */
	/* protocol tcp: either set makes it a full connection (send/expect) */
	struct hc_bytes send;
	struct hc_bytes expect;		/* the reply must contain it (tcp and udp) */
	/* protocol udp */
	struct hc_payload payload;
};

/*
 * A healthcheck key of what a connection check sends and how it judges the
 * reply (method, path, ..., send, expect, the tls keys): config_same_probe()
 * compares them, so a change parts a backend shared with another pool.
 */
bool config_request_key(enum cfg_key key);

/* What kind of check a pool's backends get: enum xdphc_check. */
uint8_t hc_check_kind(const struct hc_config *hc);
/* The check runs from userspace over a real connection, not from XDP. */
static inline bool hc_is_connection(const struct hc_config *hc)
{
	if (hc->protocol == HC_PROTO_TCP)
		return hc->send.len || hc->expect.len;
	return hc->protocol != HC_PROTO_UDP;
}

/* The IP protocol of a pool's backends (xdphc_backend_key.protocol): IPPROTO_UDP or _TCP. */
uint8_t hc_ipproto(const struct hc_config *hc);

/*
 * One backend as configured; key.port is the serving port (network order).
 * The same backend may be in several pools (it is probed once), not twice
 * in one: key and pool together are unique.
 */
struct backend_cfg {
	struct xdphc_backend_key key;
	uint32_t pool;			/* index of its pool: the key's other half */
};

/*
 * A pool's backends are the slice cfg->backends[first, first + n_backends).
 * Its backend ids are [first_id, first_id + max_backends): the configured
 * backends take the first n_backends of them, in order; the rest stay
 * unused until backends are added at runtime, so ids never move.
 */
struct pool_cfg {
	char name[XDPHC_POOL_NAME_LEN];
	struct hc_config hc;
	size_t first;
	size_t n_backends;
	uint32_t first_id;
	uint32_t max_backends;
	uint8_t initial_state;		/* enum xdphc_state: unknown, up or down */
	bool grace_on_start;
	uint32_t deregistration_delay_ms;
	uint32_t grace_period_ms;
	uint32_t max_down_ppm;		/* max_down_fraction, in millionths */
	bool canaries;			/* the canaries' pool (CONFIG_CANARY_POOL), always last */
	uint32_t line[CFG_POOL_N];	/* of each pool and healthcheck key; 0: default */
};

struct cfg_ports {
	uint16_t lo, hi;		/* inclusive, host order */
};

/* The first backend of an address family in the files, for messages. */
struct cfg_first {
	struct xdphc_backend_key key;	/* family 0: the files have none */
	bool canary;
	char where[CONFIG_WHERE_LEN];	/* "file:line" */
};

struct config {
	char path[PATH_MAX];
	char interface[IF_NAMESIZE];
	uint32_t source_ipv4;		/* network order; see config_has() */
	uint32_t source_ipv6[4];	/* network order; see config_has() */
	struct cfg_ports source_ports;	/* see config_has() */
	char pin_path[PATH_MAX];
	uint8_t xdp_mode;		/* enum cfg_xdp_mode */
	bool status_index;		/* pin the key -> id index map */
	char event_log[PATH_MAX];	/* "" (off), "stdout" or an absolute path */
	bool tail_call;			/* xdp_attach: tail_call */
	char tail_call_map[PATH_MAX];	/* optional pinned prog array to put probe_rx in */
	uint32_t tail_call_index;
	struct xdphc_backend_key metrics;	/* metrics_listen; see config_has() */
	char control_socket[PATH_MAX];	/* always set: configured or derived from pin_path */
	char state_file[PATH_MAX];	/* "": none; else configured or derived from pin_path */
	uint32_t spare_ids;		/* ids past the pools', for pools added by a reload */
	uint32_t max_down_ppm;		/* max_down_fraction, in millionths */
	struct pool_cfg *pools;
	size_t n_pools;
	struct backend_cfg *backends;	/* all pools', pool after pool */
	size_t n_backends;
	uint32_t line[CFG_TOP_N];	/* of each top-level key; 0: default */
	struct cfg_first first4, first6;	/* see config_check_netif() */
};

/*
 * Whether two pools' checks send the same probes to a backend (protocol,
 * port, the three intervals, timeout, retransmits): a backend in both is
 * then probed once.  Thresholds may differ: each pool judges the outcomes
 * itself, and the probes follow the pace of the member that needs them
 * soonest.
 */
bool config_same_probe(const struct hc_config *a, const struct hc_config *b);

/* The control socket of an engine on pin_path when control_socket is not set. */
void config_default_socket(const char *pin_path, char *out, size_t len);
/* Its state file when state_file is not set. */
void config_default_state_file(const char *pin_path, char *out, size_t len);

/*
 * Parse and validate a YAML config.  On failure returns -1 and writes one
 * message naming the file and line ("web.yaml:12: ...") into err.
 */
int config_load(const char *path, struct config *cfg, char *err, size_t errlen);
void config_free(struct config *cfg);
/* Free the backend list once it is copied out; counts and ids stay. */
void config_release_backends(struct config *cfg);

/* The fewest source ports the engine accepts, configured or by default. */
#define CONFIG_MIN_SOURCE_PORTS 16

/*
 * 0 if lo-hi is a usable source port range (1 <= lo <= hi <= 65535, at least
 * CONFIG_MIN_SOURCE_PORTS ports); else -1 and the reason in why.
 */
int config_check_source_ports(long lo, long hi, char *why, size_t len);

/*
 * The canaries become a pool of their own, after the configured ones: probed,
 * published and exported like any pool, under a name no configured pool can
 * have ('@' is not a pool name character).
 */
#define CONFIG_CANARY_POOL "@canaries"
#define CONFIG_PPM 1000000U		/* max_down_fraction 1 */

/* Total number of configured backends over all pools (canaries included). */
size_t config_backend_count(const struct config *cfg);
/* The canaries' pool, or NULL without canaries. */
const struct pool_cfg *config_canaries(const struct config *cfg);
/* Backend ids over all pools: the sum of their max_backends. */
uint32_t config_id_count(const struct config *cfg);
/* The size of the maps: every pool's ids and the spare ones after them. */
uint32_t config_map_ids(const struct config *cfg);

/*
 * Once pools' backend lists changed (the state file's runtime changes at
 * start): the default max_backends of each pool that has none of its own,
 * the default spare_ids, and the id ranges laid out again.  0, or -1 with
 * a message naming the file and line in err.
 */
int config_layout(struct config *cfg, char *err, size_t errlen);

/*
 * What the engine found on its interface at start: the source address of
 * each family and the MTU, against which the config is checked.
 */
struct cfg_netif {
	const char *name;		/* the interface */
	uint32_t src4;			/* network order; 0: no IPv4 source */
	uint32_t src6[4];		/* network order; all 0: no IPv6 source */
	uint32_t mtu;			/* 0: unknown (not checked) */
};

/*
 * The engine's start checks of cfg (its backends still loaded) against
 * nif: every backend has a source address of its family (a configured one,
 * or the interface's), and every udp pool's datagram fits the MTU with the
 * headers of the families it probes.  0, or -1 with one message naming
 * the file and line in err.
 */
int config_check_netif(const struct config *cfg, const struct cfg_netif *nif, char *err,
		       size_t errlen);

/* A backend of the family (AF_INET, AF_INET6) is configured; the backends still loaded. */
bool config_has_family(const struct config *cfg, uint8_t family);

/*
 * The same for one backend that pool p is to take at runtime (backend add).
 * 0, or -1 with the reason in why.
 */
int config_backend_fits(const struct config *cfg, size_t p, const struct xdphc_backend_key *key,
			const struct cfg_netif *nif, char *why, size_t len);

/* The index of the pool named name, or -1. */
int config_find_pool(const struct config *cfg, const char *name);

/* The top-level key was in the file (not defaulted). */
bool config_has(const struct config *cfg, enum cfg_key key);
/*
 * Where a key was set, for messages: "file:line", or "file" when it took its
 * default.  config_where() is for top-level keys, config_pool_where() for
 * the keys of pool p and of its healthcheck.  Returns buf.
 */
const char *config_where(const struct config *cfg, enum cfg_key key, char *buf, size_t len);
const char *config_pool_where(const struct config *cfg, size_t p, enum cfg_key key, char *buf,
			      size_t len);

/* The key's name as written in YAML. */
const char *config_key_name(enum cfg_key key);
/* Every key with its type, valid values, default and help: `xdphc config-keys`. */
void config_print_keys(FILE *f);

/* ---- comparing two configs (reload, runtime changes) --------------------- */

enum cfg_change_kind {
	CFG_CHANGE_KEY,			/* top-level key differs */
	CFG_CHANGE_POOL_KEY,		/* key of a pool or its healthcheck differs */
	CFG_CHANGE_POOL_ADDED,		/* a pool name only b has */
	CFG_CHANGE_POOL_REMOVED,	/* a pool name only a has */
	CFG_CHANGE_POOL_MOVED,		/* same name, another place: its ids move */
	CFG_CHANGE_BACKEND_ADDED,	/* in b's pool, not in a's pool of that name */
	CFG_CHANGE_BACKEND_REMOVED,	/* in a's pool, not in b's */
};

struct cfg_change {
	enum cfg_change_kind kind;
	enum cfg_key key;		/* with _KEY and _POOL_KEY */
	size_t a_pool, b_pool;		/* the pool's index in a and in b; SIZE_MAX: none */
	const struct xdphc_backend_key *backend;	/* with _BACKEND_*: a's or b's */
};

/* Called for each difference; return false to stop. */
typedef bool (*config_diff_fn)(void *ctx, const struct cfg_change *ch);

/*
 * Compare the values that take effect, not where they were written: report
 * every difference between a and b to cb (or stop at the first when cb is
 * NULL).  Pools pair up by name, backends by key.  Returns the number of
 * differences reported, or -1 when it cannot tell (a config's backend list
 * was released, or out of memory).
 */
long config_diff(const struct config *a, const struct config *b, config_diff_fn cb, void *ctx);

#endif
