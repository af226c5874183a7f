/* SPDX-License-Identifier: MIT */
#ifndef XDPHC_PINS_H
#define XDPHC_PINS_H

#include <limits.h>
#include <stdbool.h>
#include <stddef.h>
#include <xdphc/abi.h>

struct pins_bpf;

enum pin_map { PIN_STATUS, PIN_INDEX, PIN_POOLS, PIN_POOL_UP, PIN_STATS, PIN_META, PIN_NR };

struct pins {
	struct pins_bpf *skel;
	char dir[PATH_MAX];
	int fd[PIN_NR];		/* fd[PIN_INDEX] is -1 without the index */
	bool reused[PIN_NR];	/* the pinned map was compatible and is kept */
	bool with_index;
	__u32 old_abi;		/* ABI version of the pinned maps found, else ours */
	int old_status_fd;	/* a pinned status map not reused, read for carry-over */
	__u32 old_status_max;
	struct xdphc_backend_status *status;	/* mmap of the status map */
	size_t status_len;
	__u32 status_max;
	struct xdphc_pool_summary *pools;	/* mmap of the pools map */
	size_t pools_len;
	struct xdphc_pool_slot *pool_up;	/* mmap of the pool_up map */
	size_t pool_up_len;
};

extern const char *const pin_names[PIN_NR];

/*
 * Create (or reuse the compatible pinned) maps for capacity backends, with
 * or without the key -> id index.  Nothing is pinned until pins_publish().
 * Here as everywhere in pins.c: 0 (or an fd), or -errno with a message in err.
 */
int pins_open(struct pins *p, const char *dir, size_t capacity, bool index,
	      char *err, size_t errlen);
/* Pin fd at path, replacing what is pinned there without a moment where readers find nothing. */
int pins_pin_replace(int fd, const char *path, char *err, size_t errlen);

/* Pin the maps that were newly created, replacing incompatible old pins. */
int pins_publish(struct pins *p, char *err, size_t errlen);
void pins_close(struct pins *p);

/*
 * A copy of the previous run's status entries (*n of them, some unused), to
 * carry states over; NULL if there is none.  Call before writing p->status.
 * Of entries of another ABI version (p->old_abi), only key, state, reason,
 * last_rtt_us and last_change_ns mean the same (versions 2 and 3).
 */
struct xdphc_backend_status *pins_previous_status(struct pins *p, size_t *n);

/* Read side, for the CLI and consumers: open one pinned map read-only. */
int pins_open_map(const char *dir, enum pin_map which, char *err, size_t errlen);

/* Read-only mmap of a pin dir's status map (*n entries, munmap *len bytes). */
const struct xdphc_backend_status *pins_map_status(const char *dir, size_t *n, size_t *len,
						    char *err, size_t errlen);

/* The meta record of a pin dir. */
int pins_read_meta(const char *dir, struct xdphc_meta *m, char *err, size_t errlen);

#endif
