/* SPDX-License-Identifier: MIT */
/*
 * The runtime overlay of a running engine (overlay.h says what it is):
 * which backends were added at runtime (the HEALTH_F_RUNTIME bit of their
 * record), which file backends were deleted at runtime (a list kept here),
 * and the marks (drain, maint) the roster holds.  It loads the state file
 * at start, and writes it again shortly after each change (at most once a
 * second) and at stop.
 */
#ifndef XDPHC_RUNTIME_H
#define XDPHC_RUNTIME_H

#include <limits.h>
#include <stdbool.h>
#include <stdint.h>

#include "config.h"
#include "overlay.h"
#include "roster.h"
#include "state.h"
#include "statefile.h"

struct runtime {
	char path[PATH_MAX];		/* the state file; "": none */
	char config[PATH_MAX];		/* the config file, named in the state file */
	struct overlay_start start;	/* what the state file said at start */
	uint32_t *mark_ids;		/* ids of start.marks, or UINT32_MAX */
	struct roster *roster;		/* once the engine runs */
	const struct config *cfg;
	struct health *health;
	struct sf_list dels;		/* file backends deleted at runtime */
	uint64_t written;		/* the roster's changes the file has */
	bool dirty;			/* a change the roster does not count (a reload's) */
	uint64_t next_write;		/* monotonic ns: at most one write a second */
	bool failing;			/* the last write failed: said once */
};

/*
 * At start, before the ids are laid out: read the state file named by
 * cfg and merge it into cfg's backend lists.  A state file that cannot be
 * read is moved aside (PATH.bad) with an error in the log, and the engine
 * starts from the config file alone.  0, or -1 (logged) when its changes
 * do not fit the ids there are.
 */
int runtime_load(struct runtime *rt, struct config *cfg);
/*
 * Once restore gave every backend its id, while cfg still holds the
 * backend list: mark the backends added at runtime, find the ids of the
 * marks.
 */
void runtime_resolve(struct runtime *rt, const struct config *cfg, struct health *health);
/* Once the roster runs: drain and maint as the state file had them. */
void runtime_attach(struct runtime *rt, struct roster *r, uint64_t now_real);

/* roster_env.on_remove: a file backend deleted at runtime stays deleted. */
void runtime_on_remove(void *ctx, uint32_t pool, uint32_t id);
/* `backend add` put key on id of pool p: a deleted file backend back, or a runtime one. */
void runtime_added(struct runtime *rt, uint32_t p, uint32_t id);

/* The runtime changes as the state file lists them (for it, and for `runtime show`). */
int runtime_snapshot(const struct runtime *rt, struct sf_list *out, uint64_t now_real);

/* A reload changed state_file. */
void runtime_set_path(struct runtime *rt, const char *path);
/* A reload is done: the deletes whose keep[i] is 0 no longer apply. */
void runtime_keep_dels(struct runtime *rt, const uint8_t *keep);

/* Once a tick: write the state file if something changed, at most once a second. */
void runtime_tick(struct runtime *rt, uint64_t now_mono, uint64_t now_real);
/* At stop: write what is not written yet. */
void runtime_flush(struct runtime *rt, uint64_t now_real);
void runtime_free(struct runtime *rt);

#endif
