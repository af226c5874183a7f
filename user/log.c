// SPDX-License-Identifier: MIT
#include <stdarg.h>
#include <stdio.h>
#include <time.h>

#include "clock.h"
#include "log.h"

static enum log_level cur_level = LOG_INFO;

static const char *const level_names[] = { "error", "warn", "info", "debug" };

void log_set_level(enum log_level level)
{
	cur_level = level;
}

bool log_enabled(enum log_level level)
{
	return level <= cur_level;
}

void log_msg(enum log_level level, const char *fmt, ...)
{
	char stamp[32], line[1024];
	uint64_t now;
	struct tm tm;
	va_list ap;
	time_t sec;

	if (!log_enabled(level))
		return;
	now = real_ns();
	sec = (time_t)(now / 1000000000ULL);
	gmtime_r(&sec, &tm);
	strftime(stamp, sizeof(stamp), "%Y-%m-%dT%H:%M:%S", &tm);
	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	/* One fprintf per line keeps concurrent lines whole. */
	fprintf(stderr, "%s.%03uZ %s: %s\n", stamp, (unsigned int)(now % 1000000000ULL / 1000000),
		level_names[level], line);
}
