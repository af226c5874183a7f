/* SPDX-License-Identifier: MIT */
#ifndef XDPHC_STATE_H
#define XDPHC_STATE_H

#include <stdbool.h>
#include <stdint.h>
#include <xdphc/abi.h>

#include "config.h"

/* What one probe found out about a backend. */
struct probe_outcome {
	bool ok;
	uint8_t reason;		/* enum xdphc_reason */
	uint8_t icmp_type, icmp_code;
	bool fail_fast;		/* down at once, whatever unhealthy_threshold says */
	bool reached;		/* a connection check connected, whatever came after */
	bool silent;		/* a UDP check passed because nothing came back */
	uint16_t detail;	/* an HTTP status, a TLS verify result (ICMP: from the above) */
	uint32_t rtt_us;
};

/*
 * The controller's own record of a backend's health, in 4 bytes: the state,
 * whether the current run of outcomes is of successes (and, if not, whether
 * its last failure was a timeout), the operator's and the engine's marks,
 * and the run's length.  The published status map is output only:
 * consumers can write to it (it is a shared, writable mmap), so nothing is
 * ever read back from it.
 */
struct health {
	uint32_t v;	/* state:2 | ok:1 | timeout:1 | drain:1 | grace:1 | runtime:1 | run:25 */
};

#define HEALTH_RUN_SHIFT 7
#define HEALTH_RUN_MAX ((1U << (32 - HEALTH_RUN_SHIFT)) - 1)
#define HEALTH_F_TIMEOUT (1U << 3)	/* the run is of failures, the last a timeout */
#define HEALTH_F_DRAIN (1U << 4)	/* draining: out of the up list, still probed */
#define HEALTH_F_GRACE (1U << 5)	/* in its grace period: failures do not count */
/*
 * Added at runtime (backend add), not listed by the config file: a reload
 * keeps it, and the state file records it (overlay.h).
 */
#define HEALTH_F_RUNTIME (1U << 6)
/* What a backend keeps through outcomes and maintenance: marks and origin. */
#define HEALTH_MARKS (HEALTH_F_DRAIN | HEALTH_F_GRACE | HEALTH_F_RUNTIME)

static inline uint8_t health_state(struct health h)
{
	return h.v & 3;
}

static inline bool health_ok_run(struct health h)
{
	return h.v >> 2 & 1;
}

static inline uint32_t health_run(struct health h)
{
	return h.v >> HEALTH_RUN_SHIFT;
}

static inline bool health_has(struct health h, uint32_t flag)
{
	return h.v & flag;
}

static inline void health_set(struct health *h, uint32_t flag, bool on)
{
	h->v = on ? h->v | flag : h->v & ~flag;
}

static inline struct health health_make(uint8_t state, bool ok, uint32_t run)
{
	struct health h = { (run > HEALTH_RUN_MAX ? HEALTH_RUN_MAX : run) << HEALTH_RUN_SHIFT |
			    (uint32_t)ok << 2 | (state & 3) };

	return h;
}

/* The XDPHC_BACKEND_F_* flags a record publishes. */
static inline uint8_t health_flags(struct health h)
{
	return (health_has(h, HEALTH_F_DRAIN) ? XDPHC_BACKEND_F_DRAIN : 0) |
	       (health_has(h, HEALTH_F_GRACE) ? XDPHC_BACKEND_F_GRACE : 0);
}

/* The generation of the next backend an id holds: never 0, the mark of "never used". */
static inline uint16_t generation_next(uint16_t g)
{
	return g == UINT16_MAX ? 1 : g + 1;
}

/*
 * Feed one outcome into the rise/fall counters.  Returns true when the
 * state changed (unknown -> up/down, up <-> down).
 */
bool health_update(struct health *h, const struct hc_config *hc, const struct probe_outcome *o);

/*
 * Write a backend's record after an outcome into its published entry (only
 * stores, inside the entry's seqlock).  changed: set last_change_ns.
 */
void health_publish(struct xdphc_backend_status *st, struct health h,
		    const struct probe_outcome *o, bool changed, uint64_t now_realtime_ns);

#endif
