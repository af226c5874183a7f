/* SPDX-License-Identifier: MIT */
/*
 * Backends shared by several pools: the same address, port and probe
 * settings in more than one pool are probed once, by one of their ids (the
 * leader); each probe's outcome then applies to every id of the group,
 * and each pool runs its own thresholds on it.  keepalived probes one real
 * server once per virtual server; this does not.
 *
 * Groups are rare (a few backends in several pools), so they live in a
 * small hash map; a bitmap answers "is this id in a group?" on the
 * million-a-second outcome path.
 */
#ifndef XDPHC_SHARED_H
#define XDPHC_SHARED_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct shared_group {
	uint32_t n;
	size_t cap;
	uint32_t *ids;		/* ids[0] is the leader */
};

struct shared {
	uint64_t *member;		/* bitmap: the id is in a group */
	struct shared_group *g;		/* groups; n == 0: free */
	size_t ng, gcap;
	uint32_t *hkey, *hval;		/* id + 1 -> group index, open addressing */
	size_t hcap, hlen;
};

int shared_init(struct shared *sh, size_t n_ids);
void shared_free(struct shared *sh);

static inline bool shared_member(const struct shared *sh, uint32_t id)
{
	return sh->member[id / 64] >> (id % 64) & 1;
}

/* Follower joins leader's group (made if need be).  0, or -1: out of memory. */
int shared_join(struct shared *sh, uint32_t leader, uint32_t follower);
/*
 * id leaves its group.  Returns the group's new leader when id led it and
 * others remain (the caller moves the probing to it), else UINT32_MAX.
 */
uint32_t shared_leave(struct shared *sh, uint32_t id);
/* The group of id (a member): its ids, the leader first. */
const struct shared_group *shared_group_of(const struct shared *sh, uint32_t id);
/* The leader probing for id, or id itself when it is in no group. */
uint32_t shared_leader(const struct shared *sh, uint32_t id);

#endif
