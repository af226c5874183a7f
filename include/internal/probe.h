/* SPDX-License-Identifier: MIT */
/*
 * Internal interface between the controller and the XDP programs, included
 * by both.  NOT part of the consumer ABI (include/xdphc/abi.h): these maps
 * are not pinned and may change with any release, which is why this header
 * lives outside include/xdphc/, the directory handed to consumers.
 */
#ifndef XDPHC_PROBE_H
#define XDPHC_PROBE_H

#include <linux/types.h>

#include "hash.h"
#include "siphash.h"

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
	/* UDP: a reply from the backend's tuple, with what the check expects, or without */
	XDPHC_RES_UDP_REPLY = 7,
	XDPHC_RES_UDP_MISMATCH = 8,
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
 * One probe target, indexed by slot number (the backend id).  The
 * controller's slots.c is the only user-space writer: it claims a slot
 * (key fields, once) and arms it (gen + 1) before it queues a probe.  `t` is
 * one word used in turn by each side, which keeps a slot at 40 bytes (a
 * million of them are mapped): probe_tx stores the send time in it,
 * probe_rx replaces that with the round-trip time before it publishes
 * result, and a send that found no neighbour stores the next hop it was
 * missing.  result says which of those t holds.
 */
struct xdphc_slot {
	__be32 addr[4];		/* the probed address, IPv4 in addr[0] */
	__be16 port;		/* destination (check) port */
	__u16 sport;		/* our source port, host order */
	__u8 family;		/* AF_INET or AF_INET6; 0 = unused slot */
	__u8 proto;		/* IPPROTO_TCP or IPPROTO_UDP: what kind of probe, and of reply */
	__u8 flags;		/* XDPHC_SLOT_F_* */
	__u8 check;		/* UDP: the pool whose xdphc_udp_check it sends */
	__u32 gen;		/* probe generation, part of the cookie */
	__u32 t;		/* sent (us, wraps) | rtt_us | next hop, see above */
	__u64 result;		/* XDPHC_RESULT() of the current or last probe */
};
_Static_assert(sizeof(struct xdphc_slot) == 40, "slot size");

/*
 * The slot table: how probe_rx finds the slot of a reply from the reply's
 * own tuple (backend address, backend port, our port).  The ISN then carries
 * nothing but the keyed cookie, 32 bits of it whatever the backend count and
 * port range (a slot index packed into the ISN left 16 to 24).
 *
 * A kernel hash map would cost about 97 bytes a backend; this is an array of
 * 64-byte buckets (one cache line) of 16 entries, filled by the controller at
 * start, at a load of 3/4: 5.3 bytes a backend.  A key lives in the first
 * bucket with room, starting at its hash's bucket, so a lookup reads one
 * cache line nearly always (at 16 M backends no key is more than 14 buckets
 * from its home) and stops at the first empty entry.
 *
 * An entry is tag << 24 | (slot + 1), 0 = empty: the tag (8 more bits of the
 * hash) skips most entries that are not the key without reading their slot.
 */
#define XDPHC_BUCKET_ENTRIES 16
#define XDPHC_BUCKET_PROBES 32		/* buckets a lookup reads at most */
#define XDPHC_SLOT_BITS 24
#define XDPHC_SLOTS_MAX ((1U << XDPHC_SLOT_BITS) - 1)	/* also the mask of an entry's slot */
/*
 * A released slot's entry becomes a tombstone: not empty, so lookups go on
 * past it, and naming slot XDPHC_SLOTS_MAX - 1, which no table has (slot
 * ids stay below XDPHC_SLOTS_LIMIT), so it matches nothing.  A new entry
 * may take its place.
 */
#define XDPHC_SLOT_TOMBSTONE XDPHC_SLOTS_MAX
#define XDPHC_SLOTS_LIMIT (XDPHC_SLOTS_MAX - 1)	/* slots a table may have */
#define XDPHC_SLOT_LOAD_NUM 3		/* entries : capacity = 3 : 4 */
#define XDPHC_SLOT_LOAD_DEN 4

struct xdphc_slot_bucket {
	__u32 e[XDPHC_BUCKET_ENTRIES];
};

/*
 * A slot's key: what a reply must carry to be taken for an answer to the
 * slot's probe (its tuple, seen from the probe), and the kind of probe.
 * Unique among the slots of a table.
 */
struct xdphc_slot_key {
	__be32 addr[4];
	__be16 port;
	__u16 sport;		/* host order */
	__u8 family;
	__u8 proto;
};

/* Does slot s have key k?  The one definition, for probe_rx and the controller. */
static inline int xdphc_slot_is(const struct xdphc_slot *s, const struct xdphc_slot_key *k)
{
	/* The fields that tell keys apart most often come first. */
	return s->addr[0] == k->addr[0] && s->port == k->port && s->sport == k->sport &&
	       s->family == k->family && s->proto == k->proto && s->addr[1] == k->addr[1] &&
	       s->addr[2] == k->addr[2] && s->addr[3] == k->addr[3];
}

#define XDPHC_PROTO_UDP 17	/* IPPROTO_UDP, without <netinet/in.h> here */

/*
 * Key hash, the same in BPF and in the controller: a multiply-xorshift
 * mix; it need not be keyed, since only the controller inserts keys and a
 * forged reply can only make one lookup.  Family and protocol are compared
 * but not hashed: keys that differ only there are rare, and share a bucket.
 *
 * A UDP probe's source port is drawn anew for each probe (slots.h): its
 * slot's place in the table cannot depend on it, so the port is left out
 * of UDP keys' hash; the slot's current port is still compared.
 */
static inline __u64 xdphc_slot_hash(const struct xdphc_slot_key *k)
{
	__u64 h = ((__u64)k->addr[0] << 32 | k->addr[1]) * 0x9e3779b97f4a7c15ULL;

	h ^= ((__u64)k->addr[2] << 32 | k->addr[3]) * 0xc2b2ae3d27d4eb4fULL;
	h ^= (__u64)k->port << 16 | (k->proto == XDPHC_PROTO_UDP ? 0 : k->sport);
	return xdphc_mix64(h);
}

static inline __u32 xdphc_slot_home(__u64 h, __u32 nbuckets)
{
	return (__u32)(((h & 0xffffffffULL) * nbuckets) >> 32);
}

static inline __u32 xdphc_slot_tag(__u64 h)
{
	return (__u32)(h >> 56);
}

static inline __u32 xdphc_slot_entry(__u64 h, __u32 slot)
{
	return xdphc_slot_tag(h) << XDPHC_SLOT_BITS | (slot + 1);
}

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
	XDPHC_CNT_RX_UDP,		/* UDP replies matched to a probe */
	XDPHC_CNT_RX_MISMATCH,		/* of those, without what the check expects */
	XDPHC_CNT_MAX,
};

/*
 * Constants fixed at load time (.rodata).  The ISN of a probe is its keyed
 * cookie, all 32 bits; replies echo it (SYN-ACK/RST ack - 1, ICMP-quoted
 * seq), and their tuple finds the slot through the slot table.
 */
struct xdphc_bpf_cfg {
	__u64 key[2];		/* SipHash key, random per start */
	__be32 src4;
	__u32 ifindex;
	__u32 nslots;
	__u32 nbuckets;		/* slot table size */
	__u16 sport_lo;		/* host order */
	__u16 sport_count;
	__u16 mss;
	__u16 pad;
	__be32 src6[4];		/* 0 when no backend is IPv6 */
	/*
	 * The SipHash state (v0..v3) after key and the two words of src6: the
	 * IPv6 cookie's constant half, hashed once (include/internal/siphash.h).
	 */
	__u64 sip6[4];
	__u8 smac[6];		/* the interface's, for next hops the controller resolves */
	/*
	 * Per family: 1 when the interface forwards it, so bpf_fib_lookup()
	 * answers; 0 when the controller resolves next hops (bpf/lib/nexthop.h).
	 */
	__u8 fib4;
	__u8 fib6;
};

/*
 * A UDP check's datagram and what its reply must hold, per pool (the map
 * udp_checks, indexed by xdphc_slot.check).  A payload with a {cookie}
 * placeholder gets the probe's keyed cookie there, as 8 lowercase hex
 * digits, and a reply must then carry those 8 digits too.
 */
#define XDPHC_PAYLOAD_MAX 1472		/* an Ethernet MTU less IPv4 and UDP headers */
#define XDPHC_EXPECT_MAX 256
#define XDPHC_NO_COOKIE 0xffff
#define XDPHC_UDP_CHECKS 256		/* one per pool id (XDPHC_MAX_POOLS) */
#define XDPHC_COOKIE_DIGITS 8

struct xdphc_udp_check {
	__u16 payload_len;
	__u16 cookie_off;	/* where the 8 digits go, or XDPHC_NO_COOKIE */
	__u16 expect_len;	/* 0: any reply will do */
	__u16 pad;
	/*
	 * The payload's ones'-complement sum, as the programs add it: 16-bit
	 * words loaded in the host's byte order, an odd last byte padded with
	 * zero, the cookie's place counted as zero bytes.
	 */
	__u32 payload_sum;
	__u32 pad2;
	__u8 payload[XDPHC_PAYLOAD_MAX];
	__u8 expect[XDPHC_EXPECT_MAX];
};

/*
 * cfg.sip6 from cfg.key and cfg.src6: what the controller must compute
 * before it loads the programs.
 */
static inline void xdphc_cfg_sip6(struct xdphc_bpf_cfg *c)
{
	struct xdphc_sip s;

	xdphc_sip_init(&s, c->key[0], c->key[1]);
	xdphc_sip_word(&s, xdphc_sip_addr_hi(c->src6));
	xdphc_sip_word(&s, xdphc_sip_addr_lo(c->src6));
	c->sip6[0] = s.v0;
	c->sip6[1] = s.v1;
	c->sip6[2] = s.v2;
	c->sip6[3] = s.v3;
}

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
 * keeps BPF_PROG_RUN off the kernel's slow path (see send.c).
 */
#define XDPHC_TX_IFINDEX 1
#define XDPHC_FRAME_LEN 60	/* Ethernet minimum without FCS */

/* xdphc_slot.flags, written by the controller (slots.h) */
#define XDPHC_SLOT_F_UNSURE 0x01	/* the last send of this probe lost frames in the device */
#define XDPHC_SLOT_F_RESEND 0x02	/* a resend: probe_tx keeps the first send's time */
#define XDPHC_SLOT_F_PAUSED 0x04	/* controller only: in maintenance, not probed */
/*
 * Controller only: a UDP slot's lane, in the high nibble.  Slots probing the
 * same address and port over UDP (pools with other payloads) draw their
 * ports from disjoint sets, port = lane mod lanes, so that a reply's port
 * names one of them.
 */
#define XDPHC_SLOT_LANE_SHIFT 4
#define XDPHC_SLOT_LANES 16

#endif /* XDPHC_PROBE_H */
