/* SPDX-License-Identifier: MIT */
/*
 * A reload, the part that needs no engine: read the new config file and
 * compare it with the running set, so that what the engine then does is a
 * list of changes.  It runs on a thread of its own while the engine goes
 * on probing (reading a million backends takes half a second): whatever
 * it reads of the engine (struct live_view) must not change meanwhile, and
 * the engine sees to that by serving no command and running no timer that
 * adds or removes a backend until the plan is ready.
 *
 * The running set is compared by backend (a key in a pool) with the ids in
 * use (their keys are in the status entries), not with the config the
 * engine started from:
 * the engine does not keep a copy of a million backends (see
 * config_release_backends()), and runtime changes are part of it anyway.
 */
#ifndef XDPHC_RELOAD_PLAN_H
#define XDPHC_RELOAD_PLAN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <xdphc/abi.h>

#include "config.h"
#include "statefile.h"

#define PLAN_NONE UINT32_MAX

/* What the plan reads of the running engine. */
struct live_view {
	const struct config *cfg;	/* running pools (a removed one has no name), ids, settings */
	const struct xdphc_backend_status *st;	/* the keys of the ids in use */
	const uint64_t *used;		/* bitmap of the ids in use */
	size_t n;			/* every id, the spare ones too */
	const struct sf_list *dels;	/* file backends deleted at runtime */
	bool reset;			/* `runtime reset`: the overlay no longer counts */
	const struct cfg_netif *nif;	/* the engine's sources and MTU; NULL: not checked */
};

/* A backend of the new file that is not running in its pool. */
struct plan_add {
	struct xdphc_backend_key key;
	uint32_t pool;			/* the running pool it goes to (a new pool: its index-to-be) */
	uint32_t leader;		/* an id in another pool probing it the same way, or PLAN_NONE */
	bool deleted;			/* deleted at runtime: it stays out */
};

/* A pool of the new file. */
struct plan_pool {
	uint32_t live;			/* its index in the running engine */
	bool is_new;			/* it takes spare ids: [first_id, first_id + max_backends) */
	uint32_t first_id;
	bool changed;			/* a setting differs */
	bool port_changed;		/* the check port: every probe slot gets a new key */
	bool probe_changed;		/* port, interval, timeout, request: shared probes part */
};

struct reload_plan {
	struct config next;		/* the new config; its backend list goes once compared */
	struct plan_pool *pools;	/* per pool of next */
	size_t n_new;			/* pools of next that are new */
	bool gone[XDPHC_MAX_POOLS];	/* running pools the new file has no more */
	uint64_t *seen;			/* ids the new file lists, in their own pool */
	struct plan_add *adds;
	size_t n_adds, cap_adds;
	uint8_t *del_listed;		/* per runtime delete: the file still lists it */
	double t_read, t_compare;	/* seconds */
	char err[2 * CONFIG_ERR_LEN];	/* why the reload is refused */
};

/*
 * Read path and compare it with lv: 0, or -1 with the reason the reload is
 * refused in pl->err (a config error with its file:line, or the keys that
 * need a restart).  Either way reload_plan_free() follows.
 */
int reload_plan(struct reload_plan *pl, const char *path, const struct live_view *lv);
void reload_plan_free(struct reload_plan *pl);

static inline bool plan_bit(const uint64_t *bits, uint32_t id)
{
	return bits[id / 64] >> (id % 64) & 1;
}

#endif
