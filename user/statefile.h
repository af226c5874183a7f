/* SPDX-License-Identifier: MIT */
/*
 * The state file: the changes made at runtime (backend add, del, drain,
 * maint) that a reload or a restart applies on top of the config file,
 * one a line after a version line, '#' starting a comment:
 *
 *   xdphc-state 1
 *   add POOL ADDR:PORT            added at runtime, not in the file
 *   del POOL ADDR:PORT            in the file, deleted at runtime
 *   drain POOL ADDR:PORT UNTIL    draining; UNTIL: Unix time in ms of its removal
 *   maint POOL ADDR:PORT          in maintenance
 *
 * Text, so that an operator can read it (and edit it while the engine is
 * stopped).  Written whole to PATH.tmp, synced, and renamed over PATH, so
 * that a crash leaves the old file or the new one, never a mix.
 */
#ifndef XDPHC_STATEFILE_H
#define XDPHC_STATEFILE_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <xdphc/abi.h>

#define STATEFILE_VERSION 1

enum sf_kind { SF_ADD, SF_DEL, SF_DRAIN, SF_MAINT, SF_KINDS };

struct sf_entry {
	struct xdphc_backend_key key;
	char pool[XDPHC_POOL_NAME_LEN];
	uint8_t kind;			/* enum sf_kind */
	uint32_t line;			/* where it was read; 0 when made here */
	uint64_t until_ms;		/* SF_DRAIN: Unix time in ms */
};

struct sf_list {
	struct sf_entry *v;
	size_t n, cap;
};

/* 0, or -1 when out of memory. */
int sf_push(struct sf_list *l, uint8_t kind, const char *pool,
	    const struct xdphc_backend_key *key, uint64_t until_ms);
void sf_free(struct sf_list *l);
/* The word of a kind: "add", "del", "drain", "maint". */
const char *sf_kind_name(uint8_t kind);

/* A line that is skipped: "PATH:LINE: what" for the log. */
typedef void (*sf_warn_fn)(void *ctx, const char *msg);

/*
 * Append the entries of the file at path to l.  A missing file is an empty
 * one.  A line that cannot be read is skipped, with a message to warn;
 * a file that cannot be read at all, or of another version, is -1 with the
 * reason in err ("PATH:LINE: ...").
 */
int statefile_read(const char *path, struct sf_list *l, sf_warn_fn warn, void *ctx, char *err,
		   size_t errlen);
/* The lines of l, after the version line (config: named in a comment). */
void statefile_format(FILE *f, const char *config, const struct sf_list *l);
/* Replace the file at path with l.  0, or -1 with the reason in err. */
int statefile_write(const char *path, const char *config, const struct sf_list *l, char *err,
		    size_t errlen);

#endif
