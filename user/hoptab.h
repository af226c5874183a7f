/* SPDX-License-Identifier: MIT */
/*
 * The next hops the controller resolves, and the kernel's neighbour entries
 * behind them: a mirror of the probing interface's neighbour table (from a
 * dump, then its notifications) and, for each address that slots send
 * through, a hop id whose element of the programs' `hops` array
 * (include/internal/nexthop.h) carries the MAC while the kernel has a
 * usable one.  No I/O here: nexthop.c feeds it what netlink says.
 *
 * Hop ids are counted references: allocated when the first slot sends
 * through an address and freed with the last, oldest free id first, so an
 * id a program may still be reading is not reused at once.
 */
#ifndef XDPHC_HOPTAB_H
#define XDPHC_HOPTAB_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <internal/nexthop.h>

struct hop_rec {
	uint32_t a[4];		/* network order, IPv4 in a[0] */
	uint8_t family;
	uint8_t in_kernel;	/* the kernel has an entry for it, in any state */
	uint8_t usable;		/* ... with a link-layer address to send to */
	uint8_t seen;		/* the mark of the last dump that listed it */
	uint8_t mac[6];
	uint16_t nud;		/* the kernel's NUD_* state */
	uint32_t refs;		/* slots sending through it */
	uint32_t hop;		/* its id while refs > 0, else 0 */
	uint32_t next;		/* hash chain, or free list: record index + 1 */
	uint64_t asked_ns;	/* when the controller last asked the kernel to resolve it */
};

struct hoptab {
	struct hop_rec *rec;
	uint32_t nrec, cap_rec;		/* records made, records allocated */
	uint32_t free_rec;		/* free list head: index + 1 */
	uint32_t live;			/* records in use */
	uint32_t *bucket;		/* chain heads: index + 1 */
	uint32_t nbucket;		/* a power of two */
	struct xdphc_hop *out;		/* the programs' hops array (nhops elements) */
	uint32_t nhops;
	uint32_t *hop_rec;		/* per hop id: its record index + 1 */
	uint32_t *free_ids;		/* ring of free hop ids, oldest first */
	uint32_t free_head, free_len;
	uint8_t mark;			/* of the dump in progress (hoptab_sweep_*) */
};

/* Neighbour states whose link-layer address can be sent to. */
bool hoptab_usable_state(uint16_t nud);

/* out: the hops array, nhops elements (id 0 is never handed out).  0, or -1. */
int hoptab_init(struct hoptab *t, struct xdphc_hop *out, uint32_t nhops);
void hoptab_free(struct hoptab *t);

/* One more slot sends through family a: its hop id, or 0 (out of ids or memory). */
uint32_t hoptab_ref(struct hoptab *t, uint8_t family, const uint32_t a[4]);
/* One slot fewer sends through hop: the last one frees the id. */
void hoptab_unref(struct hoptab *t, uint32_t hop);
/* The record of a hop id in use, or NULL. */
struct hop_rec *hoptab_rec(struct hoptab *t, uint32_t hop);
/* The record of family a, or NULL. */
struct hop_rec *hoptab_find(struct hoptab *t, uint8_t family, const uint32_t a[4]);

/*
 * The kernel has an entry for family a in state nud, with link-layer
 * address mac (NULL: none, or not 6 bytes).  The record's hop, if any, is
 * republished.
 */
void hoptab_neigh(struct hoptab *t, uint8_t family, const uint32_t a[4], uint16_t nud,
		  const uint8_t *mac);
/* The kernel's entry for family a is gone. */
void hoptab_neigh_gone(struct hoptab *t, uint8_t family, const uint32_t a[4]);

/*
 * A full dump: entries it does not list (begin, hoptab_neigh() for each
 * entry listed, end) are gone, e.g. after notifications were lost.
 */
void hoptab_sweep_begin(struct hoptab *t);
void hoptab_sweep_end(struct hoptab *t);

/* Hop ids in use. */
static inline uint32_t hoptab_hops(const struct hoptab *t)
{
	return t->nhops ? t->nhops - 1 - t->free_len : 0;
}

#endif
