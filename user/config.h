/* SPDX-License-Identifier: MIT */
#ifndef XDPHC_CONFIG_H
#define XDPHC_CONFIG_H

#include <limits.h>
#include <net/if.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <xdphc/abi.h>

#define CONFIG_ERR_LEN 512

enum hc_protocol {
	HC_PROTO_TCP = 0,
};

struct hc_config {
	enum hc_protocol protocol;
	uint16_t port;			/* 0: probe each backend's own port */
	uint32_t interval_ms;
	uint32_t timeout_ms;
	uint32_t jitter_ms;		/* each interval starts up to this much late */
	bool has_jitter;
	uint32_t healthy_threshold;
	uint32_t unhealthy_threshold;
};

/* One backend as configured; key.port is the serving port (network order). */
struct backend_cfg {
	struct xdphc_backend_key key;
};

struct pool_cfg {
	char name[XDPHC_POOL_NAME_LEN];
	struct hc_config hc;
	struct backend_cfg *backends;
	size_t n_backends;
	size_t cap_backends;
};

struct config {
	char path[PATH_MAX];
	char interface[IF_NAMESIZE];
	int interface_line;		/* for messages about the interface */
	bool has_source_ipv4;
	uint32_t source_ipv4;		/* network order */
	int source_ipv4_line;
	bool has_source_ports;
	uint16_t sport_lo, sport_hi;	/* inclusive, host order */
	int source_ports_line;		/* 0 if the default range is used */
	char pin_path[PATH_MAX];	/* default /sys/fs/bpf/xdphc */
	int pin_path_line;		/* 0 if the default is used */
	char xdp_mode[16];		/* "native" (default) or "skb" */
	bool status_index;		/* pin the key -> id index map (default true) */
	char event_log[PATH_MAX];	/* "" (off), "stdout" or an absolute path */
	bool tail_call;			/* xdp_attach: tail_call */
	char tail_call_map[PATH_MAX];	/* optional pinned prog array to put probe_rx in */
	uint32_t tail_call_index;
	int tail_call_line;
	int event_log_line;
	bool has_metrics;
	struct xdphc_backend_key metrics;	/* metrics_listen address and port */
	int metrics_line;
	struct pool_cfg *pools;
	size_t n_pools;
};

/*
 * Parse and validate a YAML config.  On failure returns -1 and writes one
 * message naming the file and line ("web.yaml:12: ...") into err.
 */
int config_load(const char *path, struct config *cfg, char *err, size_t errlen);
void config_free(struct config *cfg);
/* Free the per-backend lists once they are copied out; counts stay. */
void config_release_backends(struct config *cfg);

/* The fewest source ports the engine accepts, configured or by default. */
#define CONFIG_MIN_SOURCE_PORTS 16

/*
 * 0 if lo-hi is a usable source port range (1 <= lo <= hi <= 65535, at least
 * CONFIG_MIN_SOURCE_PORTS ports); else -1 and the reason in why.
 */
int config_check_source_ports(long lo, long hi, char *why, size_t len);

/* Total number of backends over all pools. */
size_t config_backend_count(const struct config *cfg);

#endif
