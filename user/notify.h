/* SPDX-License-Identifier: MIT */
#ifndef XDPHC_NOTIFY_H
#define XDPHC_NOTIFY_H

#include <stdint.h>

/*
 * The systemd service protocol (Type=notify, WatchdogSec=).  Outside
 * systemd (no NOTIFY_SOCKET) every call is a no-op: libsystemd's
 * sd_notify() returns 0 and sends nothing.
 */
struct notify {
	uint64_t watchdog_ns;		/* between two WATCHDOG=1; 0: no watchdog */
	uint64_t next_watchdog;		/* monotonic ns */
	int ready;			/* the first READY=1 was sent */
};

/* Reads WATCHDOG_USEC (and WATCHDOG_PID) once, at start. */
void notify_init(struct notify *n);
/*
 * Once per main-loop tick, after the tick's probes: the first call says
 * READY=1, later ones WATCHDOG=1 at most every WatchdogSec/2.
 */
void notify_tick(struct notify *n, uint64_t now_ns);
/* Around SIGHUP handling: RELOADING=1 before, READY=1 after. */
void notify_reloading(void);
void notify_reloaded(void);
void notify_stopping(void);

#endif
