/* SPDX-License-Identifier: MIT */
#ifndef XDPHC_PINS_H
#define XDPHC_PINS_H

#include <limits.h>
#include <stdbool.h>
#include <stddef.h>
#include <xdphc/abi.h>

struct pins_bpf;

enum pin_map { PIN_STATUS, PIN_POOLS, PIN_STATS, PIN_META, PIN_NR };

struct pins {
	struct pins_bpf *skel;
	char dir[PATH_MAX];
	int fd[PIN_NR];
	bool reused[PIN_NR];	/* the pinned map was compatible and is kept */
	int old_status_fd;	/* an incompatible pinned status map, read for carry-over */
};

extern const char *const pin_names[PIN_NR];

/*
 * Create (or reuse the compatible pinned) maps for capacity backends.
 * Nothing is pinned until pins_publish().
 */
int pins_open(struct pins *p, const char *dir, size_t capacity, char *err, size_t errlen);
/* Pin the maps that were newly created, replacing incompatible old pins. */
int pins_publish(struct pins *p, char *err, size_t errlen);
void pins_close(struct pins *p);

/* The fd to read the previous run's status from, or -1. */
int pins_previous_status_fd(const struct pins *p);

/* Read side, for the CLI and consumers: open one pinned map read-only. */
int pins_open_map(const char *dir, enum pin_map which, char *err, size_t errlen);

/* The meta record of a pin dir: 0, or -1 with a message in err. */
int pins_read_meta(const char *dir, struct xdphc_meta *m, char *err, size_t errlen);

#endif
