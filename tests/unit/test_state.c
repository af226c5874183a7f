// SPDX-License-Identifier: MIT
#include <string.h>

#include "check.h"
#include "state.h"

static const struct probe_outcome ok_70 = { .ok = true, .reason = XDPHC_REASON_OK, .rtt_us = 70 };
static const struct probe_outcome refused = { .reason = XDPHC_REASON_REFUSED };
static const struct probe_outcome timeout = { .reason = XDPHC_REASON_TIMEOUT };
static const struct probe_outcome unreach = {
	.reason = XDPHC_REASON_UNREACHABLE, .icmp_type = 3, .icmp_code = 13,
};

static struct hc_config hc(uint32_t rise, uint32_t fall)
{
	return (struct hc_config){ .healthy_threshold = rise, .unhealthy_threshold = fall };
}

/*
 * The engine's path for one outcome: its own record decides, the published
 * entry only receives.  The fixtures below describe a backend by its
 * published entry; its record is seeded from it the first time the entry
 * is seen (the engine never does that: it keeps the record), and kept here
 * after, since the published counters saturate.
 */
static struct {
	const struct xdphc_backend_status *st;
	struct health rec;
} records[16];

static struct health *record_of(const struct xdphc_backend_status *st)
{
	size_t i;
	bool ok = st->consecutive_ok > 0;

	for (i = 0; i < 16 && records[i].st; i++)
		if (records[i].st == st)
			return &records[i].rec;
	if (i == 16)
		i = 0;
	records[i].st = st;
	records[i].rec = health_make(st->state, ok, ok ? st->consecutive_ok :
						     st->consecutive_fail);
	return &records[i].rec;
}

static bool state_update(struct xdphc_backend_status *st, const struct hc_config *h,
			 const struct probe_outcome *o, uint64_t now)
{
	struct health *rec = record_of(st);
	bool changed = health_update(rec, h, o);

	health_publish(st, *rec, o, changed, now);
	return changed;
}

/* Feed o n times; returns how many of those calls reported a change. */
static int feed(struct xdphc_backend_status *st, const struct hc_config *h,
		const struct probe_outcome *o, int n, uint64_t now)
{
	int changes = 0;

	for (int i = 0; i < n; i++)
		changes += state_update(st, h, o, now);
	return changes;
}

static void rise_from_unknown(void)
{
	struct xdphc_backend_status st = { 0 };
	struct hc_config h = hc(3, 2);

	CHECK_INT(feed(&st, &h, &ok_70, 2, 100), 0);
	CHECK_INT(st.state, XDPHC_STATE_UNKNOWN);
	CHECK_INT(st.consecutive_ok, 2);
	CHECK_UINT(st.last_change_ns, 0);
	CHECK(state_update(&st, &h, &ok_70, 200));
	CHECK_INT(st.state, XDPHC_STATE_UP);
	CHECK_INT(st.reason, XDPHC_REASON_OK);
	CHECK_UINT(st.last_rtt_us, 70);
	CHECK_UINT(st.last_change_ns, 200);
	/* Staying up is not a change, and does not move the change time. */
	CHECK(!state_update(&st, &h, &ok_70, 300));
	CHECK_UINT(st.last_change_ns, 200);
	CHECK_INT(st.consecutive_ok, 4);
}

static void fall_from_up(void)
{
	struct xdphc_backend_status st = { .state = XDPHC_STATE_UP, .consecutive_ok = 9,
					   .last_rtt_us = 55 };
	struct hc_config h = hc(3, 2);

	CHECK(!state_update(&st, &h, &timeout, 10));
	CHECK_INT(st.state, XDPHC_STATE_UP);
	CHECK_INT(st.consecutive_ok, 0);
	CHECK_INT(st.consecutive_fail, 1);
	/* The reason follows the last probe even while the state holds. */
	CHECK_INT(st.reason, XDPHC_REASON_TIMEOUT);
	CHECK(state_update(&st, &h, &refused, 20));
	CHECK_INT(st.state, XDPHC_STATE_DOWN);
	CHECK_INT(st.reason, XDPHC_REASON_REFUSED);
	CHECK_UINT(st.last_change_ns, 20);
	/* A failure keeps the RTT of the last success. */
	CHECK_UINT(st.last_rtt_us, 55);
}

static void fall_from_unknown(void)
{
	struct xdphc_backend_status st = { 0 };
	struct hc_config h = hc(3, 2);

	CHECK(!state_update(&st, &h, &unreach, 1));
	CHECK(state_update(&st, &h, &unreach, 2));
	CHECK_INT(st.state, XDPHC_STATE_DOWN);
	CHECK_INT(st.reason, XDPHC_REASON_UNREACHABLE);
	CHECK_INT(XDPHC_DETAIL_ICMP_TYPE(st.detail), 3);
	CHECK_INT(XDPHC_DETAIL_ICMP_CODE(st.detail), 13);
	/* The ICMP details belong to the last probe only. */
	state_update(&st, &h, &timeout, 3);
	CHECK_INT(st.detail, 0);
}

/* Recovery needs the full rise threshold again, counted from the first success. */
static void recover_needs_full_rise(void)
{
	struct xdphc_backend_status st = { 0 };
	struct hc_config h = hc(3, 2);

	feed(&st, &h, &refused, 2, 1);
	CHECK_INT(st.state, XDPHC_STATE_DOWN);
	CHECK_INT(feed(&st, &h, &ok_70, 2, 2), 0);
	CHECK(!state_update(&st, &h, &timeout, 3));
	CHECK_INT(st.consecutive_ok, 0);
	CHECK_INT(feed(&st, &h, &ok_70, 2, 4), 0);
	CHECK_INT(st.state, XDPHC_STATE_DOWN);
	CHECK(state_update(&st, &h, &ok_70, 5));
	CHECK_INT(st.state, XDPHC_STATE_UP);
}

/* With thresholds of 2 or more, a flapping backend never changes state. */
static void flapping_holds(void)
{
	struct xdphc_backend_status st = { .state = XDPHC_STATE_UP };
	struct hc_config h = hc(2, 2);
	int changes = 0;

	for (int i = 0; i < 100; i++)
		changes += state_update(&st, &h, i & 1 ? &ok_70 : &timeout, (uint64_t)i);
	CHECK_INT(changes, 0);
	CHECK_INT(st.state, XDPHC_STATE_UP);
}

static void threshold_one(void)
{
	struct xdphc_backend_status st = { 0 };
	struct hc_config h = hc(1, 1);

	CHECK(state_update(&st, &h, &ok_70, 1));
	CHECK_INT(st.state, XDPHC_STATE_UP);
	CHECK(state_update(&st, &h, &refused, 2));
	CHECK_INT(st.state, XDPHC_STATE_DOWN);
	CHECK(state_update(&st, &h, &ok_70, 3));
	CHECK_INT(st.state, XDPHC_STATE_UP);
}

/* A threshold of 1000 (the config's maximum) must still be reached exactly. */
static void large_threshold(void)
{
	struct xdphc_backend_status st = { 0 };
	struct hc_config h = hc(1000, 1000);

	CHECK_INT(feed(&st, &h, &ok_70, 999, 1), 0);
	CHECK_INT(feed(&st, &h, &ok_70, 1, 2), 1);
	CHECK_INT(feed(&st, &h, &timeout, 999, 3), 0);
	CHECK_INT(feed(&st, &h, &timeout, 1, 4), 1);
	CHECK_INT(st.state, XDPHC_STATE_DOWN);
}

/* The published 8-bit counters stop at 255 instead of wrapping; the record counts on. */
static void counters_saturate(void)
{
	struct xdphc_backend_status st = { .state = XDPHC_STATE_UP, .consecutive_ok = 254 };
	struct xdphc_backend_status dn = { .state = XDPHC_STATE_DOWN, .consecutive_fail = 254 };
	struct hc_config h = hc(3, 2);

	CHECK(!state_update(&st, &h, &ok_70, 1));
	CHECK_UINT(st.consecutive_ok, 255);
	CHECK(!state_update(&st, &h, &ok_70, 2));
	CHECK_UINT(st.consecutive_ok, 255);
	CHECK_UINT(health_run(*record_of(&st)), 256);
	CHECK_INT(st.state, XDPHC_STATE_UP);
	CHECK_INT(feed(&dn, &h, &timeout, 3, 3), 0);
	CHECK_UINT(dn.consecutive_fail, 255);
	CHECK_INT(dn.state, XDPHC_STATE_DOWN);
}

/* What a consumer writes into the published entry changes nothing. */
static void record_decides(void)
{
	struct xdphc_backend_status st = { 0 };
	struct hc_config h = hc(2, 2);
	struct health rec = health_make(XDPHC_STATE_DOWN, false, 5);
	uint32_t seq;

	st.state = XDPHC_STATE_UP;		/* a consumer's write */
	st.consecutive_ok = 200;
	st.seq = 41;				/* odd: a writer must not wait on it */
	CHECK(!health_update(&rec, &h, &ok_70));
	health_publish(&st, rec, &ok_70, false, 9);
	CHECK_INT(st.state, XDPHC_STATE_DOWN);
	CHECK_INT(st.consecutive_ok, 1);
	CHECK_INT(st.consecutive_fail, 0);
	CHECK_UINT(st.last_change_ns, 0);
	seq = st.seq;
	CHECK_UINT(seq % 2, 0);			/* even again after the write */
	CHECK(health_update(&rec, &h, &ok_70));
	CHECK_INT(health_state(rec), XDPHC_STATE_UP);
	CHECK_UINT(health_run(rec), 2);
}

void suite_state(void)
{
	static void (*const tests[])(void) = {
		rise_from_unknown, fall_from_up, fall_from_unknown, recover_needs_full_rise,
		flapping_holds, threshold_one, large_threshold, counters_saturate,
		record_decides,
	};

	for (size_t i = 0; i < sizeof(tests) / sizeof(tests[0]); i++) {
		/* Each test's entries live on its own stack: forget the last one's. */
		memset(records, 0, sizeof(records));
		tests[i]();
	}
}
