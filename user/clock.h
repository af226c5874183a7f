/* SPDX-License-Identifier: MIT */
/*
 * The engine's two clocks.  Monotonic time drives everything that measures
 * or schedules (ticks, deadlines, RTT windows); realtime is only what is
 * published (docs/ABI.md: times are CLOCK_REALTIME ns) and logged.
 */
#ifndef XDPHC_CLOCK_H
#define XDPHC_CLOCK_H

#include <stdint.h>
#include <time.h>

static inline uint64_t clock_read_ns(clockid_t id)
{
	struct timespec ts;

	clock_gettime(id, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec;
}

static inline uint64_t mono_ns(void)
{
	return clock_read_ns(CLOCK_MONOTONIC);
}

static inline uint64_t real_ns(void)
{
	return clock_read_ns(CLOCK_REALTIME);
}

#endif
