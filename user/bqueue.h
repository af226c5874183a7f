/* SPDX-License-Identifier: MIT */
/*
 * FIFO queues of backend ids threaded through one array of links, next[id].
 * A backend is in at most one of the scheduler's queues at a time (its probe
 * is in flight, or it waits for a due time off its pool's cadence), so all
 * of them share that array: 4 bytes a backend in all, like the ring of
 * in-flight probes it replaces, and no queue can fill up or allocates when
 * it grows (an outage that sends every backend to a wait queue asks for no
 * memory).
 */
#ifndef XDPHC_BQUEUE_H
#define XDPHC_BQUEUE_H

#include <stdint.h>

#define BQ_NONE UINT32_MAX

struct bqueue {
	uint32_t head, tail;		/* BQ_NONE when empty */
	uint64_t popped, pushed;	/* entries ever popped, ever pushed */
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

#endif
