/* SPDX-License-Identifier: MIT */
#ifndef XDPHC_PROGRAMS_H
#define XDPHC_PROGRAMS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <xdp/libxdp.h>
#include <internal/probe.h>

#include "slots.h"

struct probe_tx_bpf;
struct probe_rx_bpf;

struct programs_params {
	int ifindex;
	uint32_t src4;			/* network order */
	uint16_t sport_lo, sport_hi;
	size_t nslots;
	bool skb_mode;
	bool tail_call;			/* load probe_rx for tail calls, do not attach */
};

struct programs {
	struct probe_tx_bpf *tx;
	struct probe_rx_bpf *rx;
	struct xdp_program *xprog;
	int ifindex;
	enum xdp_attach_mode mode;
	bool attached;
	bool dispatcher;		/* libxdp multi-program dispatcher in use */
	struct slots slots;		/* the slots and slot table, mapped */
	struct xdphc_txq *txq;		/* mmap of the tx queue */
	int batch_fd;			/* program for batched runs, or -1 */
	bool batch_owned;		/* batch_fd is the interface's program, ours to close */
	uint32_t batch_id, bad_id;	/* its id; an id that failed check_batch() */
	uint64_t bad_since;
	bool tail_call;
	char rx_pin[4096];		/* where probe_rx is pinned in tail-call mode */
	int chain_fd;			/* the load balancer's prog array, or 0 */
	uint32_t chain_index;
	struct bpf_link *drop_link;
	size_t txq_len;
	uint8_t frame[XDPHC_FRAME_LEN];
};

/* Load probe_tx (checking live-frames support) and open probe_rx. */
int programs_load(struct programs *p, const struct programs_params *pp,
		  char *err, size_t errlen);
/* Attach probe_rx to the interface through libxdp. */
int programs_attach(struct programs *p, char *err, size_t errlen);
void programs_detach(struct programs *p);
void programs_close(struct programs *p);

/*
 * Send SYNs for the n slots queued in txq, batch frames per flush to the
 * device.  *dropped: frames of this send the device refused (ring full).
 * Returns 0 or -errno.
 */
int programs_send(struct programs *p, unsigned int n, unsigned int batch, uint64_t *dropped);

/*
 * Tail-call mode: pin probe_rx at pin and, when chain is not "", put it at
 * index of that pinned prog array.  Teardown undoes both where they still
 * name this engine's program.
 */
int programs_tail_call_setup(struct programs *p, const char *pin, const char *chain,
			     uint32_t index, char *err, size_t errlen);
void programs_tail_call_teardown(struct programs *p);

/* Follow the interface's attached program for batched runs (see programs.c). */
void programs_batch_refresh(struct programs *p);
void programs_batch_release(struct programs *p);

/* Sum of the per-CPU counters. */
int programs_counters(struct programs *p, uint64_t out[XDPHC_CNT_MAX]);

/*
 * Remove a probe_rx left attached to ifindex by an engine that died.  Returns
 * 1 if one was removed, 0 if there was none, -1 (and a message in err) if the
 * probe_rx there belongs to an engine that is still running.
 */
int programs_clear_stale(int ifindex, char *err, size_t errlen);

#endif
