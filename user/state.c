// SPDX-License-Identifier: MIT
#include "state.h"

static const char *const state_names[] = { "unknown", "up", "down" };

static const char *const reason_names[XDPHC_REASON_MAX] = {
	[XDPHC_REASON_NONE] = "none",
	[XDPHC_REASON_OK] = "ok",
	[XDPHC_REASON_REFUSED] = "refused",
	[XDPHC_REASON_TIMEOUT] = "timeout",
	[XDPHC_REASON_UNREACHABLE] = "unreachable",
	[XDPHC_REASON_NO_ROUTE] = "no_route",
	[XDPHC_REASON_NEIGH_FAILED] = "neigh_failed",
};

const char *state_name(uint8_t state)
{
	return state < sizeof(state_names) / sizeof(state_names[0]) ? state_names[state] : "?";
}

const char *reason_name(uint8_t reason)
{
	return reason < XDPHC_REASON_MAX ? reason_names[reason] : "?";
}

static uint16_t inc_sat(uint16_t v)
{
	return v == UINT16_MAX ? v : v + 1;
}

bool state_update(struct xdphc_backend_status *st, const struct hc_config *hc,
		  const struct probe_outcome *o, uint64_t now)
{
	uint8_t next = st->state;

	st->reason = o->reason;
	st->icmp_type = o->icmp_type;
	st->icmp_code = o->icmp_code;
	if (o->ok) {
		st->last_rtt_us = o->rtt_us;
		st->consecutive_ok = inc_sat(st->consecutive_ok);
		st->consecutive_fail = 0;
		if (st->consecutive_ok >= hc->healthy_threshold)
			next = XDPHC_STATE_UP;
	} else {
		st->consecutive_fail = inc_sat(st->consecutive_fail);
		st->consecutive_ok = 0;
		if (st->consecutive_fail >= hc->unhealthy_threshold)
			next = XDPHC_STATE_DOWN;
	}
	if (next == st->state)
		return false;
	st->state = next;
	st->last_change_ns = now;
	return true;
}
