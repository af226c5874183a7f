// SPDX-License-Identifier: MIT
#include <systemd/sd-daemon.h>

#include "clock.h"
#include "log.h"
#include "notify.h"

void notify_init(struct notify *n)
{
	uint64_t usec = 0;

	n->ready = 0;
	n->next_watchdog = 0;
	n->watchdog_ns = 0;
	/*
	 * Half the interval, as sd_watchdog_enabled(3) advises: one late tick
	 * (a long BPF run, a slow publish) must not get the engine killed.
	 */
	if (sd_watchdog_enabled(0, &usec) > 0 && usec)
		n->watchdog_ns = usec * 1000 / 2;
	if (n->watchdog_ns)
		log_debug("systemd watchdog: WATCHDOG=1 every %llu ms",
			  (unsigned long long)(n->watchdog_ns / 1000000));
}

void notify_tick(struct notify *n, uint64_t now_ns)
{
	if (!n->ready) {
		/* After a tick, not before: the first tick proves probing runs. */
		sd_notify(0, "READY=1\nSTATUS=probing");
		n->ready = 1;
		n->next_watchdog = now_ns + n->watchdog_ns;
		return;
	}
	if (n->watchdog_ns && now_ns >= n->next_watchdog) {
		sd_notify(0, "WATCHDOG=1");
		n->next_watchdog = now_ns + n->watchdog_ns;
	}
}

void notify_reloading(void)
{
	/* systemd >= 253 wants the timestamp with RELOADING=1; older ones ignore it. */
	sd_notifyf(0, "RELOADING=1\nMONOTONIC_USEC=%llu",
		   (unsigned long long)(mono_ns() / 1000));
}

void notify_reloaded(void)
{
	sd_notify(0, "READY=1\nSTATUS=probing");
}

void notify_stopping(void)
{
	sd_notify(0, "STOPPING=1");
}
