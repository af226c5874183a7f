/* SPDX-License-Identifier: MIT */
/*
 * What xdphc counts and decides, each described once: the engine stats
 * (struct xdphc_engine_stats), the backend states and the probe reasons.
 * `xdphc status --json`, /metrics, the log and the event log read their
 * names here, and so do the Python tools, through build/names.json, which
 * the build writes from these tables (names_write_json()).
 *
 * Adding a counter: its field in abi.h (an ABI change), and one row in
 * names_stats[]; with .prom set it is on /metrics too.
 */
#ifndef XDPHC_NAMES_H
#define XDPHC_NAMES_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <xdphc/abi.h>

/* One field of struct xdphc_engine_stats. */
struct stat_desc {
	const char *name;	/* the field's name, and its key in `status --json` */
	size_t offset;		/* offsetof(struct xdphc_engine_stats, field) */
	const char *help;	/* what it counts; the HELP line of its Prometheus family */
	/*
	 * Its own series on /metrics, or NULL: not exported, or rendered by
	 * metrics.c with other values (the schedule lag).  Consecutive rows
	 * of one family share its # HELP and # TYPE, and differ by label.
	 */
	const char *prom;
	const char *prom_type;	/* "counter" or "gauge" */
	const char *prom_label;	/* name="value" of this series in its family, or NULL */
};

extern const struct stat_desc names_stats[];
extern const size_t names_n_stats;

static inline uint64_t stat_value(const struct xdphc_engine_stats *st,
				  const struct stat_desc *d)
{
	uint64_t v;

	memcpy(&v, (const char *)st + d->offset, sizeof(v));
	return v;
}

#define NAMES_N_STATES (XDPHC_STATE_MAINT + 1)

/* enum xdphc_state as a word ("up"); "?" past the known ones. */
const char *state_name(uint8_t state);
/* enum xdphc_reason as a word ("refused"); "?" past the known ones. */
const char *reason_name(uint8_t reason);
/* The HTTP status a status entry keeps (HTTP checks' ok, http_status, mismatch), or 0. */
unsigned int status_http_code(const struct xdphc_backend_status *st);
/* The ICMP type << 8 | code an entry keeps (unreachable), or 0. */
uint16_t status_icmp(const struct xdphc_backend_status *st);
/* enum xdphc_check as `xdphc show` and the JSON name it. */
const char *check_name(uint8_t check);
/* The result label of a finished probe on /metrics ("rst"), NULL for none. */
const char *reason_result(uint8_t reason);

/* All of the above as one JSON document (build/names.json).  0 or -errno. */
int names_write_json(FILE *f);

#endif
