/* SPDX-License-Identifier: MIT */
/*
 * A restart carries state over: the status entries of the configured
 * backends keep what the previous run published of them (state, last
 * result, when it changed), so that a restart does not flap every backend,
 * and they reach the pinned maps without readers ever seeing a reset.
 */
#ifndef XDPHC_RESTORE_H
#define XDPHC_RESTORE_H

#include <stddef.h>
#include <xdphc/abi.h>

#include "config.h"
#include "keyindex.h"
#include "pins.h"

struct restore {
	struct xdphc_backend_status *entries;	/* by backend id: config order */
	size_t n;
	struct keyindex idx;			/* backend key -> id of its first entry */
	struct xdphc_index_key *pk;		/* by id: (backend, pool), the index map's key */
	struct keyindex pidx;			/* (backend, pool) -> id */
	size_t kept;				/* entries that kept a previous state */
};

/*
 * The entries of cfg's n backends, with what pins' previous status map
 * (reused or replaced) says of them.  0, or -errno with a message in err.
 */
int restore_build(struct restore *r, const struct config *cfg, size_t n, struct pins *pins,
		  char *err, size_t errlen);
/* Write the entries into the pinned status map; entries past them are cleared. */
void restore_write_status(const struct restore *r, struct pins *pins);
/*
 * Fill the pinned key -> id index and drop the keys of backends no longer
 * configured from a reused one.  0, or -errno with a message in err.
 */
int restore_write_index(const struct restore *r, struct pins *pins, char *err, size_t errlen);
void restore_free(struct restore *r);

#endif
