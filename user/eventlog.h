/* SPDX-License-Identifier: MIT */
#ifndef XDPHC_EVENTLOG_H
#define XDPHC_EVENTLOG_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <xdphc/abi.h>

/*
 * The event log: one JSON line per state change and per change an operator
 * made, so that "why did this backend go down at 03:12" can be answered
 * afterwards, and one per engine event (lines with an "event" key and no
 * "address": the circuit breaker's).
 */
struct eventlog {
	FILE *f;
	char path[4096];	/* "" when writing to stdout */
	bool dirty;
};

/* target: "stdout" or an absolute path.  0, or -1 with a message in err. */
int eventlog_open(struct eventlog *el, const char *target, char *err, size_t errlen);
void eventlog_write(struct eventlog *el, uint64_t now_real_ns, const char *pool,
		    const struct xdphc_backend_status *st, uint8_t from);
/*
 * A change made by an operator or by the backend's life rather than by a
 * probe: event is "added", "removed", "drain", "undrain", "maint", "ready",
 * "deregistered" (removed after deregistration_delay) or "grace_over";
 * state is the backend's state after it.
 */
void eventlog_admin(struct eventlog *el, uint64_t now_real_ns, const char *pool,
		    const struct xdphc_backend_key *key, const char *event, uint32_t id,
		    uint16_t generation, const char *state);
/* The circuit breaker opened or closed (docs: README, Event log). */
struct circuit_event {
	const char *event;	/* "circuit_open" or "circuit_close" */
	const char *cause;	/* why it opened, or why it closed */
	const char *pool;	/* the pool whose fraction tripped it; NULL: all pools */
	uint32_t failing;	/* its backends failing by timeout */
	uint32_t backends;	/* its backends */
	double open_s;		/* circuit_close: how long it was open */
};
void eventlog_circuit(struct eventlog *el, uint64_t now_real_ns, const struct circuit_event *ev);
/* Once a tick: lines reach the file in whole ticks. */
void eventlog_flush(struct eventlog *el);
/* After logrotate moved the file away (SIGHUP). */
int eventlog_reopen(struct eventlog *el, char *err, size_t errlen);
void eventlog_close(struct eventlog *el);

#endif
