// SPDX-License-Identifier: MIT
#include "seqlock.h"
#include "state.h"

bool health_update(struct health *h, const struct hc_config *hc, const struct probe_outcome *o)
{
	uint8_t state = health_state(*h), next = state;
	uint32_t run = health_ok_run(*h) == o->ok ? health_run(*h) + 1 : 1, marks;

	if (o->ok && run >= hc->healthy_threshold)
		next = XDPHC_STATE_UP;
	else if (!o->ok && (run >= hc->unhealthy_threshold || o->fail_fast))
		next = XDPHC_STATE_DOWN;
	marks = h->v & HEALTH_MARKS;
	*h = health_make(next, o->ok, run);
	h->v |= marks;
	health_set(h, HEALTH_F_TIMEOUT, o->reason == XDPHC_REASON_TIMEOUT);
	return next != state;
}

static uint8_t sat8(uint32_t v)
{
	return v > UINT8_MAX ? UINT8_MAX : (uint8_t)v;
}

void health_publish(struct xdphc_backend_status *st, struct health h,
		    const struct probe_outcome *o, bool changed, uint64_t now)
{
	uint32_t seq = seqlock_write_begin(&st->seq);
	bool ok = health_ok_run(h);

	st->state = health_state(h);
	st->reason = o->reason;
	st->flags = health_flags(h);
	st->detail = o->reason == XDPHC_REASON_UNREACHABLE ?
		XDPHC_DETAIL_ICMP(o->icmp_type, o->icmp_code) : o->detail;
	st->consecutive_ok = ok ? sat8(health_run(h)) : 0;
	st->consecutive_fail = ok ? 0 : sat8(health_run(h));
	if (o->ok)
		st->last_rtt_us = o->rtt_us;
	if (changed)
		st->last_change_ns = now;
	seqlock_write_end(&st->seq, seq);
}
