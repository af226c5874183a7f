/* SPDX-License-Identifier: MIT */
/*
 * FIFO queues of backend ids threaded through one array of links, next[id].
 * A backend is in at most one of the scheduler's queues at a time (its probe
 * is in flight, or it waits for a due time off its pool's cadence), so all
 * of them share that array: 4 bytes a backend in all, like the ring of
 * in-flight probes it replaces, and no queue can fill up or allocates when
 * it grows (an outage that sends every backend to a wait queue asks for no
 * memory).
 *
 * Positions are absolute counts of pushes and pops, never wrapping, so a
 * cursor walking a queue (the retransmits) can tell whether the entry it
 * stood on has been popped since.
 */
#ifndef XDPHC_BQUEUE_H
#define XDPHC_BQUEUE_H

#include <stdint.h>

#define BQ_NONE UINT32_MAX

struct bqueue {
	uint32_t head, tail;		/* BQ_NONE when empty */
	uint64_t popped, pushed;	/* entries ever popped, ever pushed */
};

/* A place in a queue: the entry at position pos, prev the one at pos - 1. */
struct bq_cursor {
	uint64_t pos;
	uint32_t prev;
};

static inline void bq_init(struct bqueue *q)
{
	q->head = q->tail = BQ_NONE;
	q->popped = q->pushed = 0;
}

static inline uint64_t bq_len(const struct bqueue *q)
{
	return q->pushed - q->popped;
}

static inline void bq_push(struct bqueue *q, uint32_t *next, uint32_t b)
{
	next[b] = BQ_NONE;
	if (q->head == BQ_NONE)
		q->head = b;
	else
		next[q->tail] = b;
	q->tail = b;
	q->pushed++;
}

/* The head, taken out of the queue; BQ_NONE when empty. */
static inline uint32_t bq_pop(struct bqueue *q, const uint32_t *next)
{
	uint32_t b = q->head;

	if (b == BQ_NONE)
		return BQ_NONE;
	q->head = next[b];
	if (q->head == BQ_NONE)
		q->tail = BQ_NONE;
	q->popped++;
	return b;
}

/*
 * The entry at cursor c, or BQ_NONE past the tail.  A cursor whose place
 * was popped moves up to the head; otherwise prev is still queued, and its
 * link is the entry at pos (BQ_NONE when prev is the tail).
 */
static inline uint32_t bq_at(const struct bqueue *q, const uint32_t *next, struct bq_cursor *c)
{
	if (c->pos <= q->popped) {
		c->pos = q->popped;
		return q->head;
	}
	return next[c->prev];
}

/* Move cursor c past b, the entry bq_at() gave. */
static inline void bq_step(struct bq_cursor *c, uint32_t b)
{
	c->prev = b;
	c->pos++;
}

#endif
