/* SPDX-License-Identifier: MIT */
/*
 * Internal interface between the controller and the XDP programs.  NOT part
 * of the consumer ABI (see abi.h): these maps are not pinned and may change
 * with any release.
 */
#ifndef XDPHC_PROBE_H
#define XDPHC_PROBE_H

#include <linux/types.h>

/* Probe outcome kinds packed into xdphc_slot.result. */
enum xdphc_result_kind {
	XDPHC_RES_NONE = 0,
	XDPHC_RES_SYNACK = 1,
	XDPHC_RES_RST = 2,
	XDPHC_RES_ICMP = 3,
	/* probe_tx could not send: the engine's problem, never a backend timeout */
	XDPHC_RES_TX_NO_NEIGH = 4,
	XDPHC_RES_TX_NO_ROUTE = 5,
	XDPHC_RES_TX_ERROR = 6,
};

/*
 * result = gen << 32 | kind << 24 | icmp_type << 16 | icmp_code << 8.
 * One 64-bit store publishes an outcome, so the controller never reads a
 * kind from one probe with the generation of another.
 */
#define XDPHC_RESULT(gen, kind, type, code)                                   \
	(((__u64)(gen) << 32) | ((__u64)(kind) << 24) | ((__u64)(type) << 16) | \
	 ((__u64)(code) << 8))
#define XDPHC_RESULT_GEN(r) ((__u32)((r) >> 32))
#define XDPHC_RESULT_KIND(r) ((__u8)((r) >> 24))
#define XDPHC_RESULT_TYPE(r) ((__u8)((r) >> 16))
#define XDPHC_RESULT_CODE(r) ((__u8)((r) >> 8))

/*
 * One probe target, indexed by slot number.  The controller writes addr,
 * port, family and bumps gen before it queues a probe; probe_tx writes
 * sent_ns; probe_rx writes rtt_us and then result.
 */
struct xdphc_slot {
	__be32 addr[4];
	__be16 port;		/* destination (check) port */
	__u8 family;
	__u8 flags;
	__u32 gen;		/* probe generation, part of the cookie */
	__u64 sent_ns;		/* bpf_ktime_get_ns() when the SYN left */
	__u64 result;		/* XDPHC_RESULT() of the current or last probe */
	__u32 rtt_us;		/* a u32 of ns would wrap at 4.3 s */
	__be32 nexthop;		/* next hop that had no neighbour entry */
};

/* Per-CPU counters kept by the XDP programs, summed by the controller. */
enum xdphc_counter {
	XDPHC_CNT_TX = 0,
	XDPHC_CNT_TX_NO_NEIGH,
	XDPHC_CNT_TX_NO_ROUTE,
	XDPHC_CNT_TX_ERROR,
	XDPHC_CNT_RX_SYNACK,
	XDPHC_CNT_RX_RST,
	XDPHC_CNT_RX_ICMP,
	XDPHC_CNT_RX_FORGED,
	XDPHC_CNT_RX_STALE,
	XDPHC_CNT_RX_DUP,
	XDPHC_CNT_RST_SENT,
	XDPHC_CNT_MAX,
};

/*
 * Constants fixed at load time (.rodata).  A probe's slot travels in the
 * packet itself: the source port carries slot % sport_count and the low
 * idx_bits of the ISN carry slot / sport_count; the remaining ISN bits are
 * the keyed cookie.  Replies (SYN-ACK/RST ack-1, ICMP-quoted seq) echo both.
 */
struct xdphc_bpf_cfg {
	__u64 key[2];		/* SipHash key, random per start */
	__be32 src4;
	__u32 ifindex;
	__u32 nslots;
	__u32 idx_bits;
	__u16 sport_lo;		/* host order */
	__u16 sport_count;
	__u16 mss;
	__u16 pad;
};

#define XDPHC_TXQ_SIZE 1024

/*
 * The tx queue is one array element: mmap-ed array elements are padded to
 * 8 bytes, so an array of __u32 would not look like a C array to userspace.
 * The controller sets next = 0, count and a new run before each run; each
 * frame of the run takes slot[next++].
 */
struct xdphc_txq {
	__u32 next;
	__u32 count;
	__u32 run;		/* new for every run, never 0 */
	__u32 taken;		/* frames the programs took from the queue, ever */
	__u32 slot[XDPHC_TXQ_SIZE];
};

/*
 * Batched runs name the loopback device as their ingress: the program that
 * is attached to the probing interface (probe_rx) can then tell a SYN to
 * write from a packet received, and running the attached program itself
 * keeps BPF_PROG_RUN off the kernel's slow path (see programs.c).
 */
#define XDPHC_TX_IFINDEX 1
#define XDPHC_FRAME_LEN 60	/* Ethernet minimum without FCS */

/* xdphc_slot.flags, written by the controller */
#define XDPHC_SLOT_F_UNSURE 0x01	/* the last send of this probe lost frames in the device */
#define XDPHC_SLOT_F_RESEND 0x02	/* a resend: probe_tx keeps the first send's time */

#endif /* XDPHC_PROBE_H */
