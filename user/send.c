// SPDX-License-Identifier: MIT
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include <sys/mman.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "bpfmap.h"
#include "clock.h"
#include "log.h"
#include "send.h"

#define BATCH_RETRY_NS 5000000000ULL

/*
 * Runs name the loopback device as ingress (XDPHC_TX_IFINDEX): the program
 * writes a SYN for each queued probe into the frame and redirects it out
 * of the probing interface.  The frame's bytes in are never read.
 */
int send_frames(int prog_fd, unsigned int n, unsigned int batch)
{
	static const uint8_t frame[XDPHC_FRAME_LEN];
	struct xdp_md ctx = {
		.data_end = XDPHC_FRAME_LEN,
		.ingress_ifindex = XDPHC_TX_IFINDEX,
	};
	LIBBPF_OPTS(bpf_test_run_opts, opts,
		    .data_in = frame,
		    .data_size_in = XDPHC_FRAME_LEN,
		    .ctx_in = &ctx,
		    .ctx_size_in = sizeof(ctx),
		    .repeat = n,
		    .flags = BPF_F_TEST_XDP_LIVE_FRAMES,
		    .batch_size = batch);

	if (bpf_prog_test_run_opts(prog_fd, &opts))
		return -errno;
	return 0;
}

/* An empty live-frames run: old kernels reject the flag with EINVAL. */
static int check_live_frames(struct sender *tx, char *err, size_t errlen)
{
	int e;

	tx->txq->next = 0;
	tx->txq->count = 0;
	e = send_frames(tx->tx_fd, 1, 1);
	if (!e)
		return 0;
	snprintf(err, errlen, "this kernel cannot run XDP programs in live-frames mode "
		 "(BPF_PROG_RUN with BPF_F_TEST_XDP_LIVE_FRAMES, Linux >= 5.18): %s",
		 strerror(-e));
	return e;
}

int send_open(struct sender *tx, int txq_fd, int tx_fd, const __u64 *dropped, int ifindex,
	      char *err, size_t errlen)
{
	int e;

	memset(tx, 0, sizeof(*tx));
	tx->batch_fd = -1;
	tx->tx_fd = tx_fd;
	tx->dropped = dropped;
	tx->ifindex = ifindex;
	tx->txq = bpfmap_mmap(txq_fd, sizeof(*tx->txq), 1, PROT_READ | PROT_WRITE, &tx->txq_len);
	if (!tx->txq) {
		e = -errno;
		snprintf(err, errlen, "mmap of probe maps: %s", strerror(-e));
		return e;
	}
	return check_live_frames(tx, err, errlen);
}

void send_close(struct sender *tx)
{
	if (!tx->txq)
		return;
	send_release(tx);
	bpfmap_munmap(tx->txq, tx->txq_len);
	memset(tx, 0, sizeof(*tx));
	tx->batch_fd = -1;
}

void send_use_attached(struct sender *tx, int fd)
{
	send_release(tx);
	tx->batch_fd = fd;
}

void send_release(struct sender *tx)
{
	if (tx->batch_owned && tx->batch_fd >= 0)
		close(tx->batch_fd);
	tx->batch_fd = -1;
	tx->batch_owned = false;
	tx->batch_id = 0;
}

/*
 * Runs of the interface's attached program that did not reach probe_rx for
 * every frame: the program does not pass loopback-ingress frames on.  Its
 * frames are reported as dropped (the scheduler resends them) and the
 * engine falls back to single-frame runs of probe_tx for that program.
 */
static uint64_t check_batch(struct sender *tx, uint32_t before, unsigned int n)
{
	uint32_t got = __atomic_load_n(&tx->txq->taken, __ATOMIC_RELAXED) - before;

	if (got >= n)
		return 0;
	log_warn("the XDP program attached to the interface (id %u) did not hand all of a "
		 "batch's frames to probe_rx (%lu of %u); sending one SYN per run instead",
		 tx->batch_id, (unsigned long)got, n);
	tx->bad_id = tx->batch_id;
	tx->bad_since = mono_ns();
	send_release(tx);
	return n - got;
}

/*
 * Why a program attached to a device: BPF_PROG_RUN with repeat > 1 adds the
 * program to the kernel's XDP dispatcher for the run and removes it
 * afterwards, and each change waits for an RCU grace period (about 25 ms
 * here), whatever the batch size.  An attached program is in the dispatcher
 * already, so a batched run of it changes nothing.  Without one that reaches
 * probe_rx, probe_tx runs one frame at a time, which skips the dispatcher too.
 */
int send_run(struct sender *tx, unsigned int batch, uint64_t *dropped)
{
	uint64_t before = __atomic_load_n(tx->dropped, __ATOMIC_RELAXED);
	unsigned int n = tx->nq;
	uint64_t missing = 0;
	uint32_t frames;
	int e = 0;

	tx->nq = 0;
	tx->txq->next = 0;
	if (!++tx->txq->run)
		tx->txq->run = 1;
	if (tx->batch_fd >= 0) {
		tx->txq->count = n;
		frames = __atomic_load_n(&tx->txq->taken, __ATOMIC_RELAXED);
		e = send_frames(tx->batch_fd, n, batch);
		if (!e && tx->batch_owned)
			missing = check_batch(tx, frames, n);
	} else {
		for (unsigned int i = 0; i < n && !e; i++) {
			tx->txq->next = i;
			tx->txq->count = i + 1;
			e = send_frames(tx->tx_fd, 1, 1);
		}
	}
	*dropped = __atomic_load_n(tx->dropped, __ATOMIC_RELAXED) - before + missing;
	return e;
}

/*
 * Without probe_rx attached alone, batched runs go through whatever XDP
 * program the interface has (libxdp's dispatcher, or a load balancer that
 * tail-calls probe_rx): it is in the kernel's XDP dispatcher already, and
 * check_batch() verifies it reaches probe_rx.  Called every 100 ms: the
 * attached program can be replaced at any time.
 */
void send_refresh(struct sender *tx)
{
	__u32 id = 0;
	int fd;

	if (!tx->batch_owned && tx->batch_fd >= 0)
		return;				/* probe_rx itself is attached */
	if (bpf_xdp_query_id(tx->ifindex, 0, &id) || id == tx->batch_id)
		return;
	send_release(tx);
	/* A load balancer may link probe_rx in after it attached: try again later. */
	if (id == tx->bad_id && mono_ns() - tx->bad_since < BATCH_RETRY_NS)
		return;
	if (!id)
		return;
	fd = bpf_prog_get_fd_by_id(id);
	if (fd < 0)
		return;
	tx->batch_fd = fd;
	tx->batch_owned = true;
	tx->batch_id = id;
	log_info("SYNs go out in batched runs of the interface's XDP program (id %u), which "
		 "hands them to probe_rx", id);
}
