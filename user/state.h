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
	uint32_t rtt_us;
};

/*
 * The controller's own record of a backend's health, in 4 bytes: the state,
 * whether the current run of outcomes is of successes, and its length.  The
 * published status map is output only: consumers can write to it (it is a
 * shared, writable mmap), so nothing is ever read back from it.
 */
struct health {
	uint32_t v;		/* state:2 | ok:1 | run:29 */
};

#define HEALTH_RUN_MAX ((1U << 29) - 1)

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
	return h.v >> 3;
}

static inline struct health health_make(uint8_t state, bool ok, uint32_t run)
{
	struct health h = { (run > HEALTH_RUN_MAX ? HEALTH_RUN_MAX : run) << 3 |
			    (uint32_t)ok << 2 | (state & 3) };

	return h;
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
