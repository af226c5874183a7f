/* SPDX-License-Identifier: MIT */
/*
 * The send path: slots queued in the tx queue leave as SYNs in live-frames
 * BPF_PROG_RUN runs, batched through the interface's attached program when
 * it hands loopback-ingress frames to probe_rx, one frame a run of probe_tx
 * otherwise.  The device's drops are counted per run; pacing them is the
 * scheduler's business.
 */
#ifndef XDPHC_SEND_H
#define XDPHC_SEND_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <internal/probe.h>

struct sender {
	struct xdphc_txq *txq;		/* mmap of the tx queue */
	size_t txq_len;
	unsigned int nq;		/* slots queued for the next run */
	int ifindex;			/* the probing interface */
	int tx_fd;			/* probe_tx, for runs of one frame */
	const __u64 *dropped;		/* probe_tx's count of frames the device refused */
	int batch_fd;			/* program for batched runs, or -1 */
	bool batch_owned;		/* batch_fd is the interface's program, ours to close */
	uint32_t batch_id, bad_id;	/* its id; an id that failed check_batch() */
	uint64_t bad_since;
};

/*
 * One live-frames BPF_PROG_RUN of prog_fd over n frames, batch frames per
 * flush to the device.  0 or -errno.
 */
int send_frames(int prog_fd, unsigned int n, unsigned int batch);

/*
 * Map the tx queue (txq_fd) and check that the kernel runs programs in
 * live-frames mode.  tx_fd is probe_tx, dropped its drop counter, ifindex
 * the probing interface.  0, or -errno with a message in err.
 */
int send_open(struct sender *tx, int txq_fd, int tx_fd, const __u64 *dropped, int ifindex,
	      char *err, size_t errlen);
void send_close(struct sender *tx);

/* probe_rx is attached alone (fd, not ours to close): batched runs of it. */
void send_use_attached(struct sender *tx, int fd);

/* Queue slot id for the next run; true when the queue is full and must be sent. */
static inline bool send_queue(struct sender *tx, uint32_t id)
{
	tx->txq->slot[tx->nq++] = id;
	return tx->nq == XDPHC_TXQ_SIZE;
}

/* The slots queued for the next run (*ids), and how many. */
static inline unsigned int send_queued(const struct sender *tx, const uint32_t **ids)
{
	*ids = tx->txq->slot;
	return tx->nq;
}

/*
 * Send SYNs for the queued slots, batch frames per flush to the device, and
 * empty the queue.  *dropped: frames of this send the device refused (ring
 * full), or that the attached program did not hand to probe_rx.
 * 0 or -errno.
 */
int send_run(struct sender *tx, unsigned int batch, uint64_t *dropped);

/* Follow the interface's attached program for batched runs (see send.c). */
void send_refresh(struct sender *tx);
void send_release(struct sender *tx);

#endif
