/* SPDX-License-Identifier: MIT */
/*
 * Runtime changes are an overlay on the config file: at start, and at
 * each reload, the running set is the file plus what the state file says
 * was changed at runtime.
 *
 *   - a backend added at runtime stays, unless the file now lists it: then
 *     it is a file backend like the others and leaves the overlay;
 *   - a file backend deleted at runtime stays deleted, unless the file no
 *     longer lists it (then there is nothing left to delete);
 *   - drain and maint stay on their backend while it exists.
 *
 * overlay_merge() applies the first two to a freshly loaded config, before
 * the engine lays out its ids: a backend added at runtime then gets an id
 * like a configured one (after them, in the order of their ids when the
 * state file was written), and the state its previous run published of it;
 * a file backend deleted at runtime leaves its id unused, so that the ids of
 * the others do not move.
 */
#ifndef XDPHC_OVERLAY_H
#define XDPHC_OVERLAY_H

#include <stddef.h>
#include <stdint.h>

#include "config.h"
#include "statefile.h"

struct overlay_start {
	struct sf_list dels;		/* the deletes that still apply */
	struct sf_list marks;		/* drain and maint: set once the engine runs */
	uint32_t *runtime;		/* per pool: its last this many backends came from the overlay */
};

/*
 * Rewrite cfg's pools' backend lists (cfg still holds them) with the state
 * file's entries in.  What no longer applies is dropped, and said through
 * warn when the operator would not expect it (a pool gone, a pool full).
 * 0, or -1 with the reason in err (the ids do not fit).
 */
int overlay_merge(struct config *cfg, const struct sf_list *in, struct overlay_start *out,
		  sf_warn_fn warn, void *ctx, char *err, size_t errlen);
void overlay_start_free(struct overlay_start *o);

#endif
