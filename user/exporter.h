/* SPDX-License-Identifier: MIT */
#ifndef XDPHC_EXPORTER_H
#define XDPHC_EXPORTER_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <xdphc/abi.h>

#include "metrics.h"

/*
 * The /metrics endpoint (libmicrohttpd, its own thread).  The engine hands
 * it a copy of its counters every publish period; a scrape renders that
 * copy and never touches the probe path.
 */
struct exporter {
	struct MHD_Daemon *d;
	bool inited;
	bool published;		/* a first copy has arrived */
	pthread_mutex_t lock;
	struct metrics_snapshot snap;	/* owned copy, under lock */
	size_t cap_pools;		/* room in snap's pool arrays */
};

int exporter_start(struct exporter *x, const struct xdphc_backend_key *addr, size_t n_pools,
		   char *err, size_t errlen);
/* Copy the engine's current figures for the next scrapes. */
void exporter_publish(struct exporter *x, const struct metrics_snapshot *s);
void exporter_stop(struct exporter *x);

#endif
