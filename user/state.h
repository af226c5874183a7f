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
 * Feed one outcome into a backend's rise/fall counters.  Returns true when
 * the published state changed (unknown -> up/down, up <-> down).
 */
bool state_update(struct xdphc_backend_status *st, const struct hc_config *hc,
		  const struct probe_outcome *o, uint64_t now_realtime_ns);

const char *state_name(uint8_t state);
const char *reason_name(uint8_t reason);

#endif
