/* SPDX-License-Identifier: MIT */
#ifndef XDPHC_SLOTS_H
#define XDPHC_SLOTS_H

#include <stddef.h>
#include <stdint.h>
#include <internal/probe.h>

/* Buckets of the slot table for n slots (see probe.h). */
uint32_t slots_table_buckets(size_t n);

/*
 * Give each of the n slots its source port and enter it into the slot
 * table tab (nbuckets buckets, zeroed here).  A slot's port is
 * sport_lo + i % sport_count unless another slot probes the same backend
 * address and port from it: tuples must be unique for replies to find their
 * slot.  Returns 0, or -1 with a message in err.
 */
int slots_index(struct xdphc_slot *slots, size_t n, uint16_t sport_lo, uint16_t sport_count,
		struct xdphc_slot_bucket *tab, uint32_t nbuckets, char *err, size_t errlen);

/* The slot whose tuple this is, or -1: the lookup probe_rx makes. */
int64_t slots_find(const struct xdphc_slot *slots, const struct xdphc_slot_bucket *tab,
		   uint32_t nbuckets, const __be32 addr[4], __be16 port, uint16_t sport);

#endif
