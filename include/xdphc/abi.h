/* SPDX-License-Identifier: MIT */
/*
 * xdphc map ABI: the layout of every pinned map an outside consumer may read
 * (a BPF load balancer, bpftool, a monitoring agent).  This header is the only
 * xdphc code a consumer needs.  It compiles both for BPF (clang -target bpf)
 * and for userspace.
 *
 * Byte order: addresses and ports are in network byte order, exactly as they
 * appear in packets, so a forwarder can build a key straight from a header.
 * Times are CLOCK_REALTIME nanoseconds (Unix epoch) unless a name says _mono.
 *
 * Pinned under pin_path (default /sys/fs/bpf/xdphc):
 *   status  BPF_MAP_TYPE_ARRAY  __u32 backend id        -> struct xdphc_backend_status
 *           (BPF_F_MMAPABLE: the engine writes it in place, no syscall a probe)
 *   index   BPF_MAP_TYPE_HASH   struct xdphc_index_key  -> __u32 backend id
 *           (only with status_index: true, the default; see the README for its cost)
 *   pools   BPF_MAP_TYPE_ARRAY  __u32 pool id           -> struct xdphc_pool_summary
 *           (BPF_F_MMAPABLE: counts change in place, with the pool_up list)
 *   pool_up BPF_MAP_TYPE_ARRAY  __u32 slot              -> struct xdphc_pool_slot
 *           (BPF_F_MMAPABLE: pool p's up backends are slots [first, first + up))
 *   stats   BPF_MAP_TYPE_ARRAY  __u32 0                 -> struct xdphc_engine_stats
 *   meta    BPF_MAP_TYPE_ARRAY  __u32 0                 -> struct xdphc_meta
 */
#ifndef XDPHC_ABI_H
#define XDPHC_ABI_H

#include <linux/types.h>

#define XDPHC_ABI_VERSION 3

#define XDPHC_MAX_POOLS 256
#define XDPHC_POOL_NAME_LEN 32

/* Backend health as published; consumers treat anything but UP as "do not use". */
enum xdphc_state {
	XDPHC_STATE_UNKNOWN = 0,	/* not enough probes yet to decide */
	XDPHC_STATE_UP = 1,
	XDPHC_STATE_DOWN = 2,
	XDPHC_STATE_MAINT = 3,		/* taken out by an operator (`backend maint`): not probed */
};

/* Outcome of the most recent probe of a backend. */
enum xdphc_reason {
	XDPHC_REASON_NONE = 0,		/* never probed */
	XDPHC_REASON_OK = 1,		/* SYN-ACK received (UDP: a reply, or silence without expect) */
	XDPHC_REASON_REFUSED = 2,	/* RST received: port closed (UDP: ICMP port unreachable) */
	XDPHC_REASON_TIMEOUT = 3,	/* no reply within timeout */
	XDPHC_REASON_UNREACHABLE = 4,	/* ICMP destination unreachable (type/code kept) */
	XDPHC_REASON_NO_ROUTE = 5,	/* the prober's FIB has no route to the backend */
	XDPHC_REASON_NEIGH_FAILED = 6,	/* ARP/ND for the next hop never resolved */
	XDPHC_REASON_HTTP_STATUS = 7,	/* HTTP status not in success_codes (detail: the code) */
	XDPHC_REASON_TLS_ERROR = 8,	/* TLS handshake or verify failed (detail: verify result) */
	XDPHC_REASON_MISMATCH = 9,	/* reply body or payload lacks what expect asks */
	XDPHC_REASON_BAD_REPLY = 10,	/* connection closed or reply not of the protocol */
	XDPHC_REASON_MAX,
};

/* The kind of check a backend gets (its pool's), IPv4 or IPv6 alike. */
enum xdphc_check {
	XDPHC_CHECK_TCP_SYN = 0,	/* half-open SYN probe from XDP */
	XDPHC_CHECK_TCP = 1,		/* full connection, optional send/expect */
	XDPHC_CHECK_HTTP = 2,
	XDPHC_CHECK_HTTPS = 3,
	XDPHC_CHECK_UDP = 4,		/* a datagram from XDP; the key's protocol is 17 */
};

/* A backend as a load balancer knows it: key of the index map. */
struct xdphc_backend_key {
	__u8 family;		/* AF_INET (2) or AF_INET6 (10) */
	__u8 protocol;		/* IPPROTO_TCP (6), IPPROTO_UDP (17) */
	__be16 port;		/* the backend's serving port */
	__be32 addr[4];		/* IPv4 in addr[0], addr[1..3] zero */
};

/*
 * Key of the index map: a backend in a pool.  The same backend may be in
 * several pools (it is probed once; each pool has its own entry, id and
 * state), so the pool is part of the key.
 */
struct xdphc_index_key {
	struct xdphc_backend_key backend;
	__u16 pool_id;
	__u16 reserved;		/* 0 */
};

/*
 * Backend flags (status.flags), set by an operator or by the engine.
 *
 * DRAIN: `backend drain` (ELB deregistration): still probed and its state
 * kept, but out of the pool's up list; a load balancer sends it no new
 * flows and keeps the existing ones.  It is removed after the pool's
 * deregistration_delay.
 *
 * GRACE: in its grace period (a new backend, or every backend just after a
 * start with grace_on_start): failures do not count yet, successes do.
 */
#define XDPHC_BACKEND_F_DRAIN 0x01
#define XDPHC_BACKEND_F_GRACE 0x02

/*
 * One backend's published health, status[backend id].  Entries whose
 * key.family is 0 are unused.
 *
 * Usable for new flows: state == XDPHC_STATE_UP and not XDPHC_BACKEND_F_DRAIN
 * (exactly the backends of the pool_up list).
 *
 * generation: an id freed by `backend del` may be given to another backend
 * later; each backend an id holds gets the next generation (never 0 once
 * used), so a consumer that cached (id, generation) can tell the id now
 * names someone else.
 *
 * Consistency: `state` is one byte and always safe to read alone.  To read
 * several fields as one record, use seq like a seqlock: read seq (retry
 * while it is odd), read the fields, read seq again and retry if it
 * changed.  The engine makes seq odd before it writes and even after.
 */
#define XDPHC_DETAIL_ICMP(type, code) ((__u16)((type) << 8 | (code)))
#define XDPHC_DETAIL_ICMP_TYPE(d) ((__u8)((d) >> 8))
#define XDPHC_DETAIL_ICMP_CODE(d) ((__u8)(d))

struct xdphc_backend_status {
	struct xdphc_backend_key key;
	__u32 seq;
	__u8 state;		/* enum xdphc_state */
	__u8 reason;		/* enum xdphc_reason of the last probe */
	__u8 flags;		/* XDPHC_BACKEND_F_* */
	__u8 check;		/* enum xdphc_check */
	__u8 consecutive_ok;	/* successes in a row (saturates at 255) */
	__u8 consecutive_fail;	/* failures in a row (saturates at 255) */
	__u16 pool_id;		/* index into the pools map */
	/*
	 * What the reason says more: with XDPHC_REASON_UNREACHABLE the ICMP
	 * type << 8 | code; with HTTP checks the status code of the reply (OK,
	 * HTTP_STATUS, MISMATCH); with TLS_ERROR the X.509 verify result
	 * (OpenSSL's X509_V_ERR_*, 0 when the handshake itself failed).
	 */
	__u16 detail;
	__u16 generation;	/* see above; wraps, skipping 0 */
	__u32 last_rtt_us;	/* round-trip time of the last successful probe */
	__u64 last_change_ns;	/* when state last changed (realtime ns), 0 = never */
};
_Static_assert(sizeof(struct xdphc_backend_status) == 48, "xdphc ABI: status layout");

/*
 * fail_open: no backend of the pool is up (all down, or none known yet): a
 * load balancer should spread over all of them rather than drop the traffic.
 */
#define XDPHC_POOL_F_FAIL_OPEN 0x1

struct xdphc_pool_summary {
	char name[XDPHC_POOL_NAME_LEN];
	/*
	 * Every backend of the pool is counted once: total = up + down +
	 * unknown + draining + maint.  up is the length of the pool's up list
	 * (state up, not draining).
	 */
	__u32 total;
	__u32 up;
	__u32 down;
	__u32 unknown;
	__u32 flags;		/* XDPHC_POOL_F_* */
	__u32 interval_ms;
	__u32 timeout_ms;
	__u16 port;		/* check port override, host order; 0 = backend's own */
	__u8 protocol;
	__u8 in_use;		/* 1 when this id names a configured pool */
	__u32 last_cycle_us;	/* how long the last pass over the pool took */
	/*
	 * Backend ids [first, first + capacity) are the pool's.  The configured
	 * backends take the first ids; backends added at runtime take free ids
	 * of the range, so a pool's ids may have gaps (status key.family 0).
	 */
	__u32 first;
	__u32 capacity;
	__u32 draining;		/* backends with XDPHC_BACKEND_F_DRAIN, whatever their state */
	__u32 maint;		/* backends in XDPHC_STATE_MAINT */
	__u8 check;		/* enum xdphc_check */
	__u8 reserved[3];
};
_Static_assert(sizeof(struct xdphc_pool_summary) == 88, "xdphc ABI: pools layout");

/*
 * One slot of the pool_up list.  8 bytes, not 4: BPF arrays lay their values
 * out 8-byte aligned, and the mmap-ed view must match a C array.
 */
struct xdphc_pool_slot {
	__u32 id;		/* backend id: index into status */
	__u32 reserved;
};

/* Counters since the engine started (they restart at zero with the engine). */
struct xdphc_engine_stats {
	__u64 probes_sent;
	__u64 replies_synack;
	__u64 replies_rst;
	__u64 replies_icmp;
	__u64 timeouts;
	__u64 ignored_forged;	/* replies whose cookie matched no probe */
	__u64 ignored_stale;	/* replies to an earlier probe of the same backend */
	__u64 rst_sent;		/* SYN-ACKs turned into RSTs */
	__u64 tx_failed;	/* probes the engine could not send (counted, retried) */
	__u64 neigh_requests;	/* next-hop resolutions asked of the kernel */
	__u64 transitions;
	__u64 tx_dropped;	/* SYN frames the device dropped (its ring was full) */
	__u64 probes_resent;	/* SYNs sent again after such drops */
	__u64 probes_lost;	/* probes never known sent (device drops, send errors): not
				 * held against backends */
	__u64 tx_runs;		/* BPF_PROG_RUN calls that sent SYNs */
	__u64 sched_behind;	/* probes due but not sent yet, at the last tick */
	__u64 sched_behind_max;
	__u64 tick_lag_max_us;	/* worst lateness of a tick */
	/*
	 * Schedule lag over the last 10 s: how late probes left against their
	 * scheduled time (place in the interval's spread plus its jitter).
	 * Quantiles are bucket upper bounds, within 1/8 of the true value.
	 */
	__u64 sched_lag_p50_us;
	__u64 sched_lag_p99_us;
	__u64 sched_lag_max_us;
};

/*
 * The prober cannot tell whether its probes leave: over a failure window
 * (the longest interval * unhealthy_threshold + timeout of any pool) at
 * least half of them were never known to be sent (device drops that
 * persist, send errors).  Backend states are held while it is set; a load
 * balancer may fail open or fall back to another source of health.
 */
#define XDPHC_META_F_IMPAIRED 0x1
/*
 * The circuit breaker is open: more than max_down_fraction of a pool (or of
 * all backends) would have gone down by timeout at once while the prober
 * itself looked like the cause.  Backend states are held until it closes.
 */
#define XDPHC_META_F_CIRCUIT_OPEN 0x2

/* Engine identity and liveness: a consumer compares now with last_tick_ns. */
struct xdphc_meta {
	__u32 abi_version;	/* XDPHC_ABI_VERSION of the writer */
	__u32 pid;		/* engine pid, 0 after a clean stop */
	__u64 start_ns;
	__u64 last_tick_ns;
	__u32 tick_us;		/* the engine's tick; stale if last_tick is far older */
	__u32 running;		/* 1 while the engine runs, 0 after a clean stop */
	__u32 flags;		/* XDPHC_META_F_*, written with the heartbeat */
	__u32 reserved;
};

_Static_assert(sizeof(struct xdphc_engine_stats) == 168, "xdphc ABI: stats layout");
_Static_assert(sizeof(struct xdphc_meta) == 40, "xdphc ABI: meta layout");

#endif /* XDPHC_ABI_H */
