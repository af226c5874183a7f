// SPDX-License-Identifier: MIT
/*
 * rx_test: probe_rx's receive path, frame by frame under BPF_PROG_TEST_RUN.
 *
 * probe_rx is loaded through its skeleton and its slot table is built by
 * slots_index(), as the controller does.  Two kinds of test:
 *
 *  - a reference model of the receive verdict, written here from the
 *    matching rules (its own SipHash-2-4 from the paper, its own parsing, its
 *    own tuple lookup), fed tens of thousands of generated frames: each
 *    frame's verdict, output bytes, slot results and counters must be the
 *    model's;
 *  - forgery at scale: a million replies on real probe tuples with random
 *    cookies, none of which may be accepted.
 *
 * Needs root (BPF) but no lab: the only device made is a tap that exists as
 * long as this process holds it open.
 *
 * Usage: rx_test [--seed N] [--frames N] [--forged N] [--big N] [--cost N]
 * Prints "N passed, N failed" last and exits non-zero on any failure.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>
#include <net/if.h>
#include <linux/if_tun.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "clock.h"
#include "slots.h"
#include "probe_rx.skel.h"

#define FRAME_MAX 512
#define OUT_MAX 4096		/* more than any frame a test run can return */
#define ETH_HDR_LEN 14
#define MIN_FRAME 60		/* Ethernet minimum without FCS */
#define SHOW_MAX 5		/* mismatches printed in full per test */

#define ETHERTYPE_IPV4 0x0800
#define ETHERTYPE_IPV6 0x86dd
#define ETHERTYPE_VLAN 0x8100
#define ETHERTYPE_QINQ 0x88a8

#define F_FIN 0x01
#define F_SYN 0x02
#define F_RST 0x04
#define F_PSH 0x08
#define F_ACK 0x10
#define F_URG 0x20
#define F_ECE 0x40

static int passed, failed;

/* ---- Randomness: everything a run does follows from one printed seed. ---- */

static uint64_t rng;

/* splitmix64: small, fast and good enough to drive a test generator. */
static uint64_t rnd64(void)
{
	uint64_t z = (rng += 0x9e3779b97f4a7c15ULL);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

static uint32_t rnd32(void)
{
	return (uint32_t)(rnd64() >> 32);
}

static uint32_t rnd_below(uint32_t n)
{
	return (uint32_t)(((uint64_t)rnd32() * n) >> 32);
}

static void rnd_bytes(uint8_t *p, size_t n)
{
	for (size_t i = 0; i < n; i++)
		p[i] = (uint8_t)rnd32();
}

/* ---- Bytes on the wire ---- */

static uint16_t get16(const uint8_t *p)
{
	return (uint16_t)(p[0] << 8 | p[1]);
}

static uint32_t get32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static void put16(uint8_t *p, uint16_t v)
{
	p[0] = v >> 8;
	p[1] = (uint8_t)v;
}

static void put32(uint8_t *p, uint32_t v)
{
	p[0] = v >> 24;
	p[1] = (uint8_t)(v >> 16);
	p[2] = (uint8_t)(v >> 8);
	p[3] = (uint8_t)v;
}

static uint64_t le64(const uint8_t *p)
{
	uint64_t v = 0;

	for (int i = 7; i >= 0; i--)
		v = v << 8 | p[i];
	return v;
}

/* RFC 1071 sum of big-endian 16-bit words, an odd byte padded with zero. */
static uint32_t sum16(const uint8_t *p, size_t n, uint32_t sum)
{
	for (size_t i = 0; i + 1 < n; i += 2)
		sum += get16(p + i);
	if (n & 1)
		sum += (uint32_t)p[n - 1] << 8;
	return sum;
}

static uint16_t fold16(uint32_t sum)
{
	while (sum >> 16)
		sum = (sum & 0xffff) + (sum >> 16);
	return (uint16_t)~sum;
}

static void ip_csum(uint8_t *ip)
{
	size_t hl = (size_t)(ip[0] & 0x0f) * 4;

	put16(ip + 10, 0);
	put16(ip + 10, fold16(sum16(ip, hl < 20 ? 20 : hl, 0)));
}

/* Checksum of a TCP segment of len bytes at l4, under the pseudo header. */
static void tcp_csum(uint8_t *l4, size_t len, const uint8_t *saddr, const uint8_t *daddr)
{
	uint32_t sum = sum16(saddr, 4, 0) + sum16(daddr, 4, 0) + IPPROTO_TCP + (uint32_t)len;

	put16(l4 + 16, 0);
	put16(l4 + 16, fold16(sum16(l4, len, sum)));
}

static void hexdump(const char *what, const uint8_t *p, size_t n)
{
	fprintf(stderr, "    %s (%zu bytes):", what, n);
	for (size_t i = 0; i < n; i++)
		fprintf(stderr, "%s%02x", i % 32 ? (i % 4 ? "" : " ") : "\n      ", p[i]);
	fprintf(stderr, "\n");
}

/* Microseconds, wrapping, as probe_tx stores a send time. */
static uint32_t mono_us(void)
{
	return (uint32_t)(mono_ns() / 1000);
}

static double mono_s(void)
{
	return mono_ns() / 1e9;
}

static void report(bool ok, const char *name, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static void report(bool ok, const char *name, const char *fmt, ...)
{
	va_list ap;

	printf("%s %s: ", ok ? "ok  " : "FAIL", name);
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	printf("\n");
	fflush(stdout);
	if (ok)
		passed++;
	else
		failed++;
}

/*
 * ---- SipHash-2-4, from the paper (Aumasson, Bernstein 2012) ----
 *
 * Written over bytes, not over the two words probe_rx hashes, so that the
 * model's cookie does not share the BPF code's word layout: the two meet only
 * if the BPF code packs the tuple the way the rules say.
 */
#define ROTL(x, b) (((x) << (b)) | ((x) >> (64 - (b))))

static void sip_round(uint64_t v[4])
{
	v[0] += v[1];
	v[1] = ROTL(v[1], 13);
	v[1] ^= v[0];
	v[0] = ROTL(v[0], 32);
	v[2] += v[3];
	v[3] = ROTL(v[3], 16);
	v[3] ^= v[2];
	v[0] += v[3];
	v[3] = ROTL(v[3], 21);
	v[3] ^= v[0];
	v[2] += v[1];
	v[1] = ROTL(v[1], 17);
	v[1] ^= v[2];
	v[2] = ROTL(v[2], 32);
}

static void sip_absorb(uint64_t v[4], uint64_t m)
{
	v[3] ^= m;
	sip_round(v);
	sip_round(v);
	v[0] ^= m;
}

static uint64_t siphash24(const uint8_t key[16], const uint8_t *msg, size_t len)
{
	uint64_t k0 = le64(key), k1 = le64(key + 8);
	uint64_t v[4] = {
		k0 ^ 0x736f6d6570736575ULL, k1 ^ 0x646f72616e646f6dULL,
		k0 ^ 0x6c7967656e657261ULL, k1 ^ 0x7465646279746573ULL,
	};
	size_t full = len & ~(size_t)7;
	uint64_t last = (uint64_t)(len & 0xff) << 56;

	for (size_t i = 0; i < full; i += 8)
		sip_absorb(v, le64(msg + i));
	for (size_t i = full; i < len; i++)
		last |= (uint64_t)msg[i] << (8 * (i - full));
	sip_absorb(v, last);
	v[2] ^= 0xff;
	for (int i = 0; i < 4; i++)
		sip_round(v);
	return v[0] ^ v[1] ^ v[2] ^ v[3];
}

/*
 * The cookie of the probe from ours:our_port to backend:port, generation gen.
 * The rules hash m0 = saddr << 32 | daddr and m1 = sport << 48 | dport << 32 |
 * gen, an address being its network-order bytes loaded as a little-endian
 * u32 and ports host numbers.  SipHash reads words little-endian, so that
 * message is, byte for byte: the backend address as on the wire, ours as on
 * the wire, gen, the backend's port, our port (the last three little-endian).
 */
static uint32_t model_cookie(const uint8_t key[16], const uint8_t ours[4], const uint8_t backend[4],
			     uint16_t our_port, uint16_t port, uint32_t gen)
{
	uint8_t m[16];

	memcpy(m, backend, 4);
	memcpy(m + 4, ours, 4);
	for (int i = 0; i < 4; i++)
		m[8 + i] = (uint8_t)(gen >> (8 * i));
	m[12] = (uint8_t)port;
	m[13] = port >> 8;
	m[14] = (uint8_t)our_port;
	m[15] = our_port >> 8;
	return (uint32_t)(siphash24(key, m, sizeof(m)) >> 32);
}

/* The paper's appendix vector and the reference implementation's first one. */
static void test_siphash(void)
{
	uint8_t key[16], msg[15];
	uint64_t a, b;

	for (int i = 0; i < 16; i++)
		key[i] = (uint8_t)i;
	for (int i = 0; i < 15; i++)
		msg[i] = (uint8_t)i;
	a = siphash24(key, msg, sizeof(msg));
	b = siphash24(key, msg, 0);
	report(a == 0xa129ca6149be45e5ULL && b == 0x726fdb47dd0e0e31ULL,
	       "siphash-2-4 spec vectors", "15 bytes -> %016" PRIx64 ", empty -> %016" PRIx64,
	       a, b);
}

/* ---- The program under test ---- */

/*
 * Test runs need an ingress device other than the loopback: without a ctx
 * the kernel names the loopback (ifindex 1), which tells probe_rx to write a
 * SYN (XDPHC_TX_IFINDEX), not to receive.  Any registered device will do,
 * and nothing is sent through it (the runs only return verdicts): the first
 * device the machine has besides the loopback, or where there is none, a
 * tap we hold open, which goes away with this process even when it is killed.
 */
static int tap_fd = -1;

static int existing_device(char *name)
{
	struct if_nameindex *all = if_nameindex(), *i;
	int idx = -1;

	for (i = all; i && i->if_index; i++) {
		if (i->if_index > 1) {
			idx = (int)i->if_index;
			snprintf(name, IFNAMSIZ, "%s", i->if_name);
			break;
		}
	}
	if (all)
		if_freenameindex(all);
	return idx;
}

static int tap_open(char *name)
{
	struct ifreq ifr;
	int idx = existing_device(name);

	if (idx > 1)
		return idx;
	tap_fd = open("/dev/net/tun", O_RDWR | O_CLOEXEC);
	if (tap_fd < 0) {
		fprintf(stderr, "rx_test: /dev/net/tun: %s\n", strerror(errno));
		return -1;
	}
	memset(&ifr, 0, sizeof(ifr));
	ifr.ifr_flags = IFF_TAP | IFF_NO_PI;
	snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "xhcrx%d", (int)getpid() % 10000000);
	if (ioctl(tap_fd, TUNSETIFF, &ifr) < 0) {
		fprintf(stderr, "rx_test: creating tap %s: %s\n", ifr.ifr_name, strerror(errno));
		return -1;
	}
	idx = (int)if_nametoindex(ifr.ifr_name);
	if (idx <= 1) {
		fprintf(stderr, "rx_test: no ifindex for %s\n", ifr.ifr_name);
		return -1;
	}
	snprintf(name, IFNAMSIZ, "%s", ifr.ifr_name);
	return idx;
}

struct rx {
	struct probe_rx_bpf *skel;
	int prog_fd, cnt_fd, ifindex;
	struct slots sl;	/* the slots and slot table, as the controller maps them */
	uint32_t n;
	uint16_t sport_lo, sport_count;
	uint8_t key[16];
	uint8_t src4[4];
};

/* 192.0.2.1 is us, 192.0.2.2 another address of the host (TEST-NET-1). */
static const uint8_t our_addr[4] = { 192, 0, 2, 1 };
static const uint8_t other_local[4] = { 192, 0, 2, 2 };
/* Backends in 198.18.0.0/15 (RFC 2544): 131,072 addresses; nothing is sent. */
#define BACKEND_NET 0xc6120000u
#define BACKEND_ADDRS 131072u

static void rx_close(struct rx *rx)
{
	slots_close(&rx->sl);
	probe_rx_bpf__destroy(rx->skel);
	memset(rx, 0, sizeof(*rx));
}

/* Load probe_rx for n slots with its load-time constants, as attach.c does. */
static int rx_load(struct rx *rx, int ifindex, uint32_t n, uint16_t sport_lo,
		   uint16_t sport_count)
{
	uint32_t nbuckets = slots_table_buckets(n);
	struct xdphc_bpf_cfg *c;
	char err[256];
	int e;

	memset(rx, 0, sizeof(*rx));
	rx->ifindex = ifindex;
	rx->n = n;
	rx->sport_lo = sport_lo;
	rx->sport_count = sport_count;
	rnd_bytes(rx->key, sizeof(rx->key));
	memcpy(rx->src4, our_addr, 4);

	rx->skel = probe_rx_bpf__open();
	if (!rx->skel) {
		fprintf(stderr, "rx_test: opening probe_rx: %s\n", strerror(errno));
		return -1;
	}
	c = &rx->skel->rodata->cfg;
	memset(c, 0, sizeof(*c));
	/* SipHash's key is 16 bytes read as two little-endian words. */
	c->key[0] = le64(rx->key);
	c->key[1] = le64(rx->key + 8);
	memcpy(&c->src4, rx->src4, 4);
	c->ifindex = (uint32_t)ifindex;
	c->nslots = n;
	c->nbuckets = nbuckets;
	c->sport_lo = sport_lo;
	c->sport_count = sport_count;
	c->mss = 1460;
	bpf_map__set_max_entries(rx->skel->maps.slots, n);
	bpf_map__set_max_entries(rx->skel->maps.slot_table, nbuckets);
	e = probe_rx_bpf__load(rx->skel);
	if (e) {
		fprintf(stderr, "rx_test: loading probe_rx: %s\n", strerror(-e));
		rx_close(rx);
		return -1;
	}
	rx->prog_fd = bpf_program__fd(rx->skel->progs.probe_rx);
	rx->cnt_fd = bpf_map__fd(rx->skel->maps.counters);
	if (slots_open(&rx->sl, bpf_map__fd(rx->skel->maps.slots),
		       bpf_map__fd(rx->skel->maps.slot_table), n, err, sizeof(err))) {
		fprintf(stderr, "rx_test: %s\n", err);
		rx_close(rx);
		return -1;
	}
	return 0;
}

static int rx_counters(const struct rx *rx, uint64_t out[XDPHC_CNT_MAX])
{
	int ncpu = libbpf_num_possible_cpus();
	uint64_t vals[512];

	if (ncpu <= 0 || ncpu > 512)
		return -1;
	for (uint32_t i = 0; i < XDPHC_CNT_MAX; i++) {
		out[i] = 0;
		if (bpf_map_lookup_elem(rx->cnt_fd, &i, vals))
			return -1;
		for (int c = 0; c < ncpu; c++)
			out[i] += vals[c];
	}
	return 0;
}

static int rx_run(const struct rx *rx, const uint8_t *in, size_t len, uint8_t *out,
		  size_t *out_len, uint32_t *verdict)
{
	struct xdp_md ctx = {
		.data_end = (__u32)len,
		.ingress_ifindex = (__u32)rx->ifindex,
	};
	LIBBPF_OPTS(bpf_test_run_opts, o,
		    .data_in = in,
		    .data_size_in = (__u32)len,
		    .data_out = out,
		    .data_size_out = OUT_MAX,
		    .ctx_in = &ctx,
		    .ctx_size_in = sizeof(ctx));

	if (bpf_prog_test_run_opts(rx->prog_fd, &o))
		return -errno;
	*verdict = o.retval;
	*out_len = o.data_size_out;
	return 0;
}

/*
 * Backends the way a configuration gives them: naddr addresses, each probed
 * on some of the ports, some (address, port) pairs probed by several slots
 * (pools that share a backend), which slots_index() must give distinct
 * source ports: never more slots on one pair than there are ports.
 */
static void fill_backends(struct rx *rx, uint32_t naddr, const uint16_t *ports, uint32_t nports)
{
	uint8_t *uses = calloc((size_t)naddr * nports, 1);
	uint32_t now = mono_us();

	if (!uses) {
		perror("calloc");
		exit(2);
	}
	for (uint32_t i = 0; i < rx->n; i++) {
		struct xdphc_slot *s = &rx->sl.s[i];
		__be32 addr[4] = { 0 };
		uint32_t a, p;

		do {
			a = rnd_below(naddr);
			p = rnd_below(nports);
		} while (uses[(size_t)a * nports + p] >= rx->sport_count);
		uses[(size_t)a * nports + p]++;
		addr[0] = htonl(BACKEND_NET + a);
		slots_claim(&rx->sl, i, AF_INET, IPPROTO_TCP, addr, htons(ports[p]), 0);
		s->gen = rnd32();	/* from the test's seed */
		s->t = now;	/* as if probe_tx had just sent every probe */
	}
	/* Generations at the wrap: gen - 1 must be computed modulo 2^32. */
	if (rx->n > 3) {
		rx->sl.s[0].gen = 0;
		rx->sl.s[1].gen = 0xffffffffu;
		rx->sl.s[2].gen = 1;
	}
	free(uses);
}

/* ---- The reference model ---- */

struct tuple {
	uint32_t addr;		/* the backend's address, host order */
	uint16_t port;		/* the backend's port */
	uint16_t sport;		/* ours */
	uint32_t slot;
};

static int tuple_cmp(const void *a, const void *b)
{
	const struct tuple *x = a, *y = b;

	if (x->addr != y->addr)
		return x->addr < y->addr ? -1 : 1;
	if (x->port != y->port)
		return x->port < y->port ? -1 : 1;
	return (x->sport > y->sport) - (x->sport < y->sport);
}

enum why {
	W_NOT_IP4, W_SHORT, W_NOT_OURS, W_BAD_IHL, W_FRAGMENT, W_OTHER_PROTO,
	W_TCP_FLAGS, W_ICMP_TYPE, W_ICMP_QUOTE, W_NO_SLOT, W_FORGED,
	W_SYNACK_FRESH, W_SYNACK_STALE, W_SYNACK_IPOPT, W_RST_FRESH, W_RST_STALE,
	W_ICMP_FRESH, W_ICMP_STALE, W_DUP, W_TRIMMED, W_MAX,
};

static const char *const why_name[W_MAX] = {
	"not-ipv4", "short", "not-ours", "bad-ihl", "fragment", "other-proto",
	"tcp-not-reply", "icmp-type", "icmp-quote", "no-slot", "forged",
	"synack-fresh", "synack-stale", "synack-ipopt-drop", "rst-fresh", "rst-stale",
	"icmp-fresh", "icmp-stale", "dup", "trimmed",
};

struct model {
	uint8_t key[16];
	uint8_t src4[4];
	uint32_t n;
	struct xdphc_slot *exp;	/* the slots as they must be */
	struct tuple *tuples;	/* sorted: the model's own way to a slot */
	uint64_t cnt[XDPHC_CNT_MAX];
	uint64_t seen[W_MAX];	/* coverage */
};

struct outcome {
	uint32_t verdict;
	uint8_t frame[FRAME_MAX];
	size_t len;
	int64_t slot;		/* the slot whose result this frame set, or -1 */
	enum why why;
};

static int64_t model_find(const struct model *m, const uint8_t addr[4], uint16_t port,
			  uint16_t sport)
{
	struct tuple k = { .addr = get32(addr), .port = port, .sport = sport }, *t;

	t = bsearch(&k, m->tuples, m->n, sizeof(k), tuple_cmp);
	return t ? (int64_t)t->slot : -1;
}

enum judge { J_FRESH, J_STALE, J_FORGED };

static enum judge model_judge(const struct model *m, const uint8_t backend[4], uint16_t port,
			      uint16_t sport, uint32_t gen, uint32_t isn)
{
	if (model_cookie(m->key, m->src4, backend, sport, port, gen) == isn)
		return J_FRESH;
	if (model_cookie(m->key, m->src4, backend, sport, port, gen - 1) == isn)
		return J_STALE;
	return J_FORGED;
}

/* The first answer to a generation is its result; later ones are duplicates. */
static void model_record(struct model *m, struct outcome *o, int64_t j, uint32_t kind,
			 uint8_t type, uint8_t code)
{
	struct xdphc_slot *s = &m->exp[j];

	if (XDPHC_RESULT_GEN(s->result) == s->gen && XDPHC_RESULT_KIND(s->result) != XDPHC_RES_NONE) {
		m->cnt[XDPHC_CNT_RX_DUP]++;
		m->seen[W_DUP]++;
		return;
	}
	s->result = XDPHC_RESULT(s->gen, kind, type, code);
	o->slot = j;
}

/* The RST that answers a SYN-ACK of ours: built from the rules, byte by byte. */
static void model_rst(const uint8_t *f, size_t len, struct outcome *o)
{
	const uint8_t *ip = f + ETH_HDR_LEN, *tcp = ip + 20;
	uint8_t *oip = o->frame + ETH_HDR_LEN, *otcp = oip + 20;

	/* Trimmed to the Ethernet minimum if longer, never shorter. */
	o->len = len > MIN_FRAME ? MIN_FRAME : len;
	memcpy(o->frame, f, o->len);
	memcpy(o->frame, f + 6, 6);
	memcpy(o->frame + 6, f, 6);
	put16(o->frame + 12, ETHERTYPE_IPV4);

	memset(oip, 0, 20);
	oip[0] = 0x45;
	put16(oip + 2, 40);
	put16(oip + 6, 0x4000);		/* DF */
	oip[8] = 64;
	oip[9] = IPPROTO_TCP;
	memcpy(oip + 12, ip + 16, 4);
	memcpy(oip + 16, ip + 12, 4);
	ip_csum(oip);

	memset(otcp, 0, 20);
	memcpy(otcp, tcp + 2, 2);
	memcpy(otcp + 2, tcp, 2);
	memcpy(otcp + 4, tcp + 8, 4);	/* seq = the SYN-ACK's ack: our ISN + 1 */
	otcp[12] = 5 << 4;
	otcp[13] = F_RST;
	tcp_csum(otcp, 20, oip + 12, oip + 16);
	if (len > MIN_FRAME)
		o->why = W_TRIMMED;
}

static void model_tcp(struct model *m, const uint8_t *f, size_t len, size_t ihl,
		      struct outcome *o)
{
	const uint8_t *ip = f + ETH_HDR_LEN, *tcp = ip + ihl;
	uint8_t flags;
	bool rst, synack;
	int64_t j;
	enum judge jd;

	if (len < ETH_HDR_LEN + ihl + 20) {
		o->why = W_SHORT;
		return;
	}
	flags = tcp[13];
	rst = flags & F_RST;
	synack = (flags & (F_SYN | F_ACK | F_RST)) == (F_SYN | F_ACK);
	if (!rst && !synack) {
		o->why = W_TCP_FLAGS;
		return;
	}
	j = model_find(m, ip + 12, get16(tcp), get16(tcp + 2));
	if (j < 0) {
		o->why = W_NO_SLOT;
		return;
	}
	jd = model_judge(m, ip + 12, get16(tcp), get16(tcp + 2), m->exp[j].gen,
			 get32(tcp + 8) - 1);
	if (jd == J_FORGED) {
		m->cnt[XDPHC_CNT_RX_FORGED]++;
		o->why = W_FORGED;
		return;
	}
	if (rst) {
		o->verdict = XDP_DROP;
		if (jd == J_FRESH) {
			model_record(m, o, j, XDPHC_RES_RST, 0, 0);
			m->cnt[XDPHC_CNT_RX_RST]++;
			o->why = W_RST_FRESH;
		} else {
			m->cnt[XDPHC_CNT_RX_STALE]++;
			o->why = W_RST_STALE;
		}
		return;
	}
	if (jd == J_FRESH) {
		model_record(m, o, j, XDPHC_RES_SYNACK, 0, 0);
		m->cnt[XDPHC_CNT_RX_SYNACK]++;
		o->why = W_SYNACK_FRESH;
	} else {
		m->cnt[XDPHC_CNT_RX_STALE]++;
		o->why = W_SYNACK_STALE;
	}
	if (ihl != 20) {
		o->verdict = XDP_DROP;
		o->why = W_SYNACK_IPOPT;
		return;
	}
	o->verdict = XDP_TX;
	m->cnt[XDPHC_CNT_RST_SENT]++;
	model_rst(f, len, o);
}

static void model_icmp(struct model *m, const uint8_t *f, size_t len, size_t ihl,
		       struct outcome *o)
{
	const uint8_t *ip = f + ETH_HDR_LEN, *icmp = ip + ihl, *in = icmp + 8, *q = in + 20;
	size_t have = len - ETH_HDR_LEN - ihl;	/* bytes from the ICMP header on */
	int64_t j;
	enum judge jd;

	if (have < 8 || icmp[0] != 3) {
		o->why = have < 8 ? W_SHORT : W_ICMP_TYPE;
		return;
	}
	/* The quote must be our SYN: our address, TCP, no options, 8 bytes of it. */
	if (have < 8 + 20 + 8 || memcmp(in + 12, m->src4, 4) || in[9] != IPPROTO_TCP ||
	    (in[0] & 0x0f) != 5) {
		o->why = W_ICMP_QUOTE;
		return;
	}
	j = model_find(m, in + 16, get16(q + 2), get16(q));
	if (j < 0) {
		o->why = W_NO_SLOT;
		return;
	}
	jd = model_judge(m, in + 16, get16(q + 2), get16(q), m->exp[j].gen, get32(q + 4));
	if (jd == J_FORGED) {
		m->cnt[XDPHC_CNT_RX_FORGED]++;
		o->why = W_FORGED;
		return;
	}
	o->verdict = XDP_DROP;
	if (jd == J_STALE) {
		m->cnt[XDPHC_CNT_RX_STALE]++;
		o->why = W_ICMP_STALE;
		return;
	}
	model_record(m, o, j, XDPHC_RES_ICMP, icmp[0], icmp[1]);
	m->cnt[XDPHC_CNT_RX_ICMP]++;
	o->why = W_ICMP_FRESH;
}

/* What probe_rx must do with frame f: verdict, frame out, state changes in m. */
static void model_rx(struct model *m, const uint8_t *f, size_t len, struct outcome *o)
{
	const uint8_t *ip = f + ETH_HDR_LEN;
	size_t ihl;

	o->verdict = XDP_PASS;
	memcpy(o->frame, f, len);
	o->len = len;
	o->slot = -1;
	o->why = W_NOT_IP4;
	/* VLAN tags are not parsed: such a frame is the kernel's. */
	if (len < ETH_HDR_LEN || get16(f + 12) != ETHERTYPE_IPV4)
		goto out;
	if (len < ETH_HDR_LEN + 20) {
		o->why = W_SHORT;
		goto out;
	}
	if (memcmp(ip + 16, m->src4, 4)) {
		o->why = W_NOT_OURS;
		goto out;
	}
	ihl = (size_t)(ip[0] & 0x0f) * 4;
	if (ihl < 20) {
		o->why = W_BAD_IHL;
		goto out;
	}
	if (get16(ip + 6) & 0x3fff) {
		o->why = W_FRAGMENT;
		goto out;
	}
	if (len < ETH_HDR_LEN + ihl) {
		o->why = W_SHORT;
		goto out;
	}
	if (ip[9] == IPPROTO_TCP)
		model_tcp(m, f, len, ihl, o);
	else if (ip[9] == IPPROTO_ICMP)
		model_icmp(m, f, len, ihl, o);
	else
		o->why = W_OTHER_PROTO;
out:
	m->seen[o->why]++;
}

static int model_init(struct model *m, const struct rx *rx)
{
	memset(m, 0, sizeof(*m));
	memcpy(m->key, rx->key, sizeof(m->key));
	memcpy(m->src4, rx->src4, 4);
	m->n = rx->n;
	m->exp = malloc((size_t)rx->n * sizeof(*m->exp));
	m->tuples = malloc((size_t)rx->n * sizeof(*m->tuples));
	if (!m->exp || !m->tuples)
		return -1;
	memcpy(m->exp, rx->sl.s, (size_t)rx->n * sizeof(*m->exp));
	for (uint32_t i = 0; i < rx->n; i++) {
		const struct xdphc_slot *s = &rx->sl.s[i];

		m->tuples[i] = (struct tuple){
			.addr = ntohl(s->addr[0]),
			.port = ntohs(s->port),
			.sport = s->sport,
			.slot = i,
		};
	}
	qsort(m->tuples, rx->n, sizeof(*m->tuples), tuple_cmp);
	return 0;
}

static void model_free(struct model *m)
{
	free(m->exp);
	free(m->tuples);
}

/*
 * What slots_index() must guarantee for replies to find their slot: each
 * slot's source port in the range, tuples unique, every slot found by the
 * table lookup probe_rx makes (slots_find() is its C twin).
 */
static void check_index(const char *name, const struct rx *rx, const struct model *m)
{
	uint32_t bad_port = 0, dup = 0, lost = 0;

	for (uint32_t i = 0; i < rx->n; i++) {
		const struct xdphc_slot *s = &rx->sl.s[i];

		if ((uint16_t)(s->sport - rx->sport_lo) >= rx->sport_count)
			bad_port++;
		struct xdphc_slot_key k = {
			.port = s->port, .sport = s->sport, .family = s->family, .proto = s->proto,
		};

		memcpy(k.addr, s->addr, sizeof(k.addr));
		if (slots_find(&rx->sl, &k) != i)
			lost++;
		if (i && !tuple_cmp(&m->tuples[i - 1], &m->tuples[i]))
			dup++;
	}
	report(!bad_port && !dup && !lost, name,
	       "%u slots, %u buckets: %u source ports out of range, %u duplicate tuples, "
	       "%u not found", rx->n, rx->sl.nbuckets, bad_port, dup, lost);
}

/* ---- Frames ---- */

static uint8_t peer_mac[6], host_mac[6];

struct tcp_reply {
	uint8_t saddr[4], daddr[4];
	uint16_t sport, dport;	/* TCP source (the backend's port) and destination (ours) */
	uint32_t seq, ack;
	uint8_t flags;
	uint8_t ip_opt_words;	/* IP options, 4-byte words */
	uint8_t tcp_opt_len;	/* TCP options, bytes, a multiple of 4 */
	uint16_t frag_off;
	size_t min_len;		/* padded up to this (the Ethernet minimum), or 0 */
};

static void eth_fill(uint8_t *f, uint16_t proto)
{
	memcpy(f, host_mac, 6);
	memcpy(f + 6, peer_mac, 6);
	put16(f + 12, proto);
}

static void ip_fill(uint8_t *ip, size_t opt_words, size_t tot_len, uint16_t frag_off,
		    uint8_t proto, const uint8_t *saddr, const uint8_t *daddr)
{
	ip[0] = (uint8_t)(0x40 | (5 + opt_words));
	ip[1] = rnd_below(4) ? 0 : (uint8_t)rnd32();
	put16(ip + 2, (uint16_t)tot_len);
	put16(ip + 4, (uint16_t)rnd32());
	put16(ip + 6, frag_off);
	ip[8] = (uint8_t)(32 + rnd_below(224));
	ip[9] = proto;
	memcpy(ip + 12, saddr, 4);
	memcpy(ip + 16, daddr, 4);
	/* Options: NOPs, then random bytes; probe_rx must not care what they say. */
	for (size_t i = 0; i < opt_words * 4; i++)
		ip[20 + i] = i < 2 ? 1 : (uint8_t)rnd32();
	ip_csum(ip);
}

static size_t pad_to(uint8_t *f, size_t len, size_t min_len)
{
	/* Padding is whatever the sender's buffer held: not always zeros. */
	for (; len < min_len; len++)
		f[len] = rnd_below(2) ? 0 : (uint8_t)rnd32();
	return len;
}

static size_t build_tcp(uint8_t *f, const struct tcp_reply *r)
{
	uint8_t *ip = f + ETH_HDR_LEN, *tcp = ip + 20 + r->ip_opt_words * 4;
	size_t tl = 20 + r->tcp_opt_len, len = (size_t)(tcp - f) + tl;

	eth_fill(f, ETHERTYPE_IPV4);
	memset(tcp, 0, tl);
	put16(tcp, r->sport);
	put16(tcp + 2, r->dport);
	put32(tcp + 4, r->seq);
	put32(tcp + 8, r->ack);
	tcp[12] = (uint8_t)(tl / 4) << 4;
	tcp[13] = r->flags;
	put16(tcp + 14, (r->flags & F_SYN) ? 64240 : (uint16_t)rnd32());
	if (r->tcp_opt_len >= 4) {
		tcp[20] = 2;	/* MSS, then whatever else a stack sends */
		tcp[21] = 4;
		put16(tcp + 22, 1460);
		rnd_bytes(tcp + 24, r->tcp_opt_len - 4u);
	}
	ip_fill(ip, r->ip_opt_words, (size_t)(tcp - ip) + tl, r->frag_off, IPPROTO_TCP,
		r->saddr, r->daddr);
	tcp_csum(tcp, tl, r->saddr, r->daddr);
	return pad_to(f, len, r->min_len);
}

struct icmp_reply {
	uint8_t saddr[4], daddr[4];	/* outer: the reporting router or backend, and us */
	uint8_t type, code;
	uint8_t ip_opt_words;
	uint16_t frag_off;
	/* the quoted SYN */
	uint8_t in_saddr[4], in_daddr[4];
	uint8_t in_ihl;			/* header words as written in the quote */
	uint8_t in_opt_words;		/* option words actually quoted */
	uint8_t in_proto;
	uint16_t in_sport, in_dport;
	uint32_t in_seq;
	size_t quote_l4;		/* bytes of the SYN's TCP header quoted: 8 (RFC 792) to 24 */
	size_t min_len;
};

static size_t build_icmp(uint8_t *f, const struct icmp_reply *r)
{
	uint8_t *ip = f + ETH_HDR_LEN, *icmp = ip + 20 + r->ip_opt_words * 4, *in = icmp + 8;
	uint8_t *q = in + 20 + r->in_opt_words * 4, syn[24];
	size_t len = (size_t)(q - f) + r->quote_l4;

	eth_fill(f, ETHERTYPE_IPV4);
	/* Our SYN as probe_tx writes it, then cut where the reporter cut it. */
	memset(syn, 0, sizeof(syn));
	put16(syn, r->in_sport);
	put16(syn + 2, r->in_dport);
	put32(syn + 4, r->in_seq);
	syn[12] = 6 << 4;
	syn[13] = F_SYN;
	put16(syn + 14, 64240);
	syn[20] = 2;
	syn[21] = 4;
	put16(syn + 22, 1460);
	tcp_csum(syn, sizeof(syn), r->in_saddr, r->in_daddr);
	memcpy(q, syn, r->quote_l4);

	ip_fill(in, r->in_opt_words, 20 + r->in_opt_words * 4 + sizeof(syn), 0x4000,
		r->in_proto, r->in_saddr, r->in_daddr);
	in[0] = (uint8_t)(0x40 | r->in_ihl);
	ip_csum(in);

	icmp[0] = r->type;
	icmp[1] = r->code;
	put32(icmp + 4, r->code == 4 ? 1400 : 0);	/* next-hop MTU for "fragmentation needed" */
	put16(icmp + 2, 0);
	put16(icmp + 2, fold16(sum16(icmp, len - (size_t)(icmp - f), 0)));
	ip_fill(ip, r->ip_opt_words, len - ETH_HDR_LEN, r->frag_off, IPPROTO_ICMP, r->saddr,
		r->daddr);
	return pad_to(f, len, r->min_len);
}

/* ---- The generator ---- */

#define RING 16

struct gen {
	struct model *m;
	struct rx *rx;
	const uint16_t *ports;
	uint32_t nports, naddr;
	uint8_t ring[RING][FRAME_MAX];
	size_t ring_len[RING];
	uint32_t ring_n;
};

/*
 * An ISN for a reply to slot s: its fresh or stale cookie, or a wrong one.
 * Wrong ones include the right cookie with one bit flipped: a comparison of
 * fewer than 32 bits takes some of those, where random ISNs would need
 * about 2^16 tries to show it.
 */
static uint32_t pick_isn(const struct model *m, const struct xdphc_slot *s)
{
	uint32_t r = rnd_below(100), gen = s->gen, flip = 0;
	uint8_t a[4];

	memcpy(a, s->addr, 4);
	if (r >= 90)
		return rnd32();
	if (r >= 75) {
		flip = 1u << rnd_below(32);
		gen -= rnd_below(2);
	} else if (r >= 70) {
		gen += 1;
	} else if (r >= 60) {
		gen -= 2;
	} else if (r >= 40) {
		gen -= 1;
	}
	return model_cookie(m->key, m->src4, a, s->sport, ntohs(s->port), gen) ^ flip;
}

static const struct xdphc_slot *any_slot(const struct gen *g)
{
	return &g->m->exp[rnd_below(g->m->n)];
}

static void tcp_reply_for(const struct gen *g, const struct xdphc_slot *s, struct tcp_reply *r)
{
	static const uint8_t reply_flags[] = {
		F_SYN | F_ACK, F_SYN | F_ACK, F_SYN | F_ACK, F_RST | F_ACK, F_RST | F_ACK,
		F_RST, F_SYN | F_ACK | F_PSH, F_SYN | F_ACK | F_ECE,
	};

	memset(r, 0, sizeof(*r));
	memcpy(r->saddr, s->addr, 4);
	memcpy(r->daddr, g->m->src4, 4);
	r->sport = ntohs(s->port);
	r->dport = s->sport;
	r->flags = reply_flags[rnd_below(sizeof(reply_flags))];
	r->ack = pick_isn(g->m, s) + 1;
	r->seq = (r->flags & F_SYN) ? rnd32() : 0;
	r->frag_off = rnd_below(3) ? 0x4000 : 0;	/* DF alone is no fragment */
	r->min_len = rnd_below(4) ? MIN_FRAME : 0;
}

static void icmp_reply_for(const struct gen *g, const struct xdphc_slot *s,
			   struct icmp_reply *r)
{
	static const size_t quotes[] = { 8, 8, 20, 24 };

	memset(r, 0, sizeof(*r));
	if (rnd_below(2))
		memcpy(r->saddr, s->addr, 4);	/* the backend's host itself */
	else
		put32(r->saddr, 0xcb007100u | rnd_below(256));	/* a router, 203.0.113.x */
	memcpy(r->daddr, g->m->src4, 4);
	r->type = 3;
	r->code = (uint8_t)rnd_below(16);
	memcpy(r->in_saddr, g->m->src4, 4);
	memcpy(r->in_daddr, s->addr, 4);
	r->in_ihl = 5;
	r->in_proto = IPPROTO_TCP;
	r->in_sport = s->sport;
	r->in_dport = ntohs(s->port);
	r->in_seq = pick_isn(g->m, s);
	r->quote_l4 = quotes[rnd_below(4)];
	r->min_len = rnd_below(4) ? MIN_FRAME : 0;
}

/* A valid-looking reply (TCP or ICMP) to a random slot: the base of most frames. */
static size_t valid_reply(const struct gen *g, uint8_t *f)
{
	const struct xdphc_slot *s = any_slot(g);
	struct icmp_reply ir;
	struct tcp_reply tr;

	if (rnd_below(4) == 0) {
		icmp_reply_for(g, s, &ir);
		return build_icmp(f, &ir);
	}
	tcp_reply_for(g, s, &tr);
	if (rnd_below(3) == 0)
		tr.tcp_opt_len = (uint8_t)(4 * (1 + rnd_below(10)));
	return build_tcp(f, &tr);
}

static size_t gen_random(const struct gen *g, uint8_t *f)
{
	size_t len = ETH_HDR_LEN + rnd_below(200);
	uint8_t *ip = f + ETH_HDR_LEN;
	const struct xdphc_slot *s;

	rnd_bytes(f, len);
	switch (rnd_below(4)) {
	case 0:
		break;
	case 1:
		put16(f + 12, ETHERTYPE_IPV4);
		break;
	case 2:
		/* Deep enough to reach the protocol handlers. */
		if (len < ETH_HDR_LEN + 20)
			len = ETH_HDR_LEN + 20 + rnd_below(100);
		put16(f + 12, ETHERTYPE_IPV4);
		ip[0] = (uint8_t)(0x40 | (rnd_below(3) ? 5 : rnd_below(16)));
		ip[6] &= rnd_below(2) ? 0x40 : 0xff;
		ip[7] = rnd_below(2) ? 0 : ip[7];
		ip[9] = rnd_below(2) ? IPPROTO_TCP : IPPROTO_ICMP;
		memcpy(ip + 16, g->m->src4, 4);
		break;
	default:
		/* A probe's tuple, every other byte random: forged or no reply at all. */
		len = ETH_HDR_LEN + 40 + rnd_below(60);
		rnd_bytes(f, len);
		s = any_slot(g);
		put16(f + 12, ETHERTYPE_IPV4);
		ip[0] = 0x45;
		put16(ip + 6, 0);
		ip[9] = IPPROTO_TCP;
		memcpy(ip + 12, s->addr, 4);
		memcpy(ip + 16, g->m->src4, 4);
		put16(ip + 20, ntohs(s->port));
		put16(ip + 22, s->sport);
		break;
	}
	return len;
}

static size_t gen_frame(struct gen *g, uint8_t *f, const char **label)
{
	const struct xdphc_slot *s = any_slot(g);
	uint32_t r = rnd_below(1000);
	struct icmp_reply ir;
	struct tcp_reply tr;
	uint8_t tmp[FRAME_MAX];
	size_t len;

	if (r < 50) {
		*label = "random bytes";
		return gen_random(g, f);
	}
	if (r < 330) {
		*label = "tcp reply";
		tcp_reply_for(g, s, &tr);
		return build_tcp(f, &tr);
	}
	if (r < 400) {
		*label = "tcp reply with tcp options";
		tcp_reply_for(g, s, &tr);
		tr.tcp_opt_len = (uint8_t)(4 * (1 + rnd_below(10)));
		return build_tcp(f, &tr);
	}
	if (r < 450) {
		*label = "tcp reply with ip options";
		tcp_reply_for(g, s, &tr);
		tr.ip_opt_words = (uint8_t)(1 + rnd_below(10));
		return build_tcp(f, &tr);
	}
	if (r < 500) {
		*label = "truncated reply";
		len = valid_reply(g, f);
		return ETH_HDR_LEN + rnd_below((uint32_t)(len - ETH_HDR_LEN));
	}
	if (r < 540) {
		*label = "vlan-tagged reply";
		len = valid_reply(g, tmp);
		memcpy(f, tmp, 12);
		put16(f + 12, rnd_below(4) ? ETHERTYPE_VLAN : ETHERTYPE_QINQ);
		put16(f + 14, (uint16_t)rnd32());
		memcpy(f + 16, tmp + 12, len - 12);
		return len + 4;
	}
	if (r < 580) {
		*label = "fragment";
		tcp_reply_for(g, s, &tr);
		/* MF, an offset, or both, with or without DF (nonsense, but seen). */
		tr.frag_off = (uint16_t)(rnd_below(2) ? 0x2000 : 0) | (uint16_t)rnd_below(0x2000);
		if (!(tr.frag_off & 0x3fff))
			tr.frag_off |= 0x2000;
		tr.frag_off |= rnd_below(2) ? 0x4000 : 0;
		if (rnd_below(4))
			return build_tcp(f, &tr);
		icmp_reply_for(g, s, &ir);
		ir.frag_off = tr.frag_off;
		return build_icmp(f, &ir);
	}
	if (r < 760) {
		icmp_reply_for(g, s, &ir);
		switch (rnd_below(8)) {
		case 0:
			*label = "icmp: inner saddr not ours";
			if (rnd_below(2))
				memcpy(ir.in_saddr, other_local, 4);
			else
				rnd_bytes(ir.in_saddr, 4);
			break;
		case 1:
			*label = "icmp: inner ihl != 5";
			ir.in_ihl = (uint8_t)rnd_below(16);
			if (ir.in_ihl > 5 && rnd_below(2))
				ir.in_opt_words = (uint8_t)(ir.in_ihl - 5);
			break;
		case 2:
			*label = "icmp: quote too short";
			ir.quote_l4 = rnd_below(8);
			ir.min_len = 0;
			break;
		case 3:
			*label = "icmp: quoted udp";
			ir.in_proto = IPPROTO_UDP;
			break;
		case 4:
			*label = "icmp with ip options";
			ir.ip_opt_words = (uint8_t)(1 + rnd_below(10));
			break;
		default:
			*label = "icmp dest unreachable";
			break;
		}
		return build_icmp(f, &ir);
	}
	if (r < 790) {
		static const uint8_t types[] = { 0, 4, 5, 8, 11, 12, 13, 14 };

		*label = "icmp other type";
		icmp_reply_for(g, s, &ir);
		ir.type = types[rnd_below(sizeof(types))];
		return build_icmp(f, &ir);
	}
	if (r < 810) {
		*label = "ipv6";
		tcp_reply_for(g, s, &tr);
		len = build_tcp(tmp, &tr);
		/* The same TCP reply behind an IPv6 header. */
		eth_fill(f, ETHERTYPE_IPV6);
		memset(f + ETH_HDR_LEN, 0, 40);
		f[ETH_HDR_LEN] = 0x60;
		put16(f + ETH_HDR_LEN + 4, 20);
		f[ETH_HDR_LEN + 6] = IPPROTO_TCP;
		f[ETH_HDR_LEN + 7] = 64;
		memcpy(f + ETH_HDR_LEN + 8 + 12, s->addr, 4);	/* ::ffff:backend */
		memcpy(f + ETH_HDR_LEN + 24 + 12, g->m->src4, 4);
		memcpy(f + ETH_HDR_LEN + 40, tmp + ETH_HDR_LEN + 20, 20);
		return ETH_HDR_LEN + 60;
	}
	if (r < 840) {
		*label = "to another local address";
		if (rnd_below(3)) {
			tcp_reply_for(g, s, &tr);
			memcpy(tr.daddr, other_local, 4);
			return build_tcp(f, &tr);
		}
		icmp_reply_for(g, s, &ir);
		memcpy(ir.daddr, other_local, 4);
		return build_icmp(f, &ir);
	}
	if (r < 930) {
		uint16_t sport = s->sport, port = ntohs(s->port);
		uint8_t addr[4];

		memcpy(addr, s->addr, 4);
		switch (rnd_below(4)) {
		case 0:
			/* Another of our ports: often another slot's tuple, then a candidate. */
			*label = "other source port in range";
			sport = (uint16_t)(g->rx->sport_lo + rnd_below(g->rx->sport_count));
			break;
		case 1:
			*label = "source port out of range";
			sport = (uint16_t)(g->rx->sport_lo + g->rx->sport_count +
					   rnd_below(65536 - g->rx->sport_count));
			break;
		case 2:
			*label = "unprobed backend";
			put32(addr, rnd_below(2) ? BACKEND_NET + g->naddr + rnd_below(1000) : rnd32());
			break;
		default:
			*label = "probed backend, other port";
			port = (uint16_t)(1 + rnd_below(65535));
			break;
		}
		/* The cookie is the one that tuple would have: only the tuple is wrong. */
		if (rnd_below(3)) {
			tcp_reply_for(g, s, &tr);
			memcpy(tr.saddr, addr, 4);
			tr.sport = port;
			tr.dport = sport;
			tr.ack = model_cookie(g->m->key, g->m->src4, addr, sport, port, s->gen) + 1;
			return build_tcp(f, &tr);
		}
		icmp_reply_for(g, s, &ir);
		memcpy(ir.in_daddr, addr, 4);
		ir.in_sport = sport;
		ir.in_dport = port;
		ir.in_seq = model_cookie(g->m->key, g->m->src4, addr, sport, port, s->gen);
		return build_icmp(f, &ir);
	}
	if (r < 980 && g->ring_n) {
		uint32_t i = rnd_below(g->ring_n < RING ? g->ring_n : RING);

		*label = "replayed frame";
		memcpy(f, g->ring[i], g->ring_len[i]);
		return g->ring_len[i];
	}
	tcp_reply_for(g, s, &tr);
	switch (rnd_below(4)) {
	case 0:
		/* The bytes of a fresh SYN-ACK under another protocol number. */
		*label = "other ip protocol";
		len = build_tcp(f, &tr);
		f[ETH_HDR_LEN + 9] = rnd_below(2) ? IPPROTO_UDP : (uint8_t)rnd32();
		if (f[ETH_HDR_LEN + 9] == IPPROTO_TCP || f[ETH_HDR_LEN + 9] == IPPROTO_ICMP)
			f[ETH_HDR_LEN + 9] = IPPROTO_GRE;
		ip_csum(f + ETH_HDR_LEN);
		return len;
	case 1:
		*label = "ihl below 5";
		len = build_tcp(f, &tr);
		f[ETH_HDR_LEN] = (uint8_t)(0x40 | rnd_below(5));
		return len;
	default:
		*label = "tcp reply, other flags";
		tr.flags = (uint8_t)rnd32();
		return build_tcp(f, &tr);
	}
}

/*
 * What the controller does between replies: a new probe on a slot (gen + 1,
 * a new send time), or a send that failed for the current generation.
 */
static void gen_event(struct gen *g)
{
	uint32_t j = rnd_below(g->m->n), r = rnd_below(100);
	struct xdphc_slot *s = &g->rx->sl.s[j], *e = &g->m->exp[j];

	if (r < 80) {
		s->gen++;
		s->t = mono_us();
		s->flags = 0;
	} else if (r < 90) {
		/* A resend: the same generation, the first send's time kept. */
		s->flags = XDPHC_SLOT_F_RESEND;
	} else {
		s->result = XDPHC_RESULT(s->gen, XDPHC_RES_TX_NO_NEIGH, 0, 0);
	}
	*e = *s;
}

/* ---- Model test runner ---- */

struct mcheck {
	const char *name;
	struct rx *rx;
	struct model *m;
	uint64_t frames, bad;
	uint8_t out[OUT_MAX];
	struct outcome o;
	bool full_every_frame;
};

static const char *verdict_name(uint32_t v)
{
	static const char *const names[] = { "ABORTED", "DROP", "PASS", "TX", "REDIRECT" };

	return v < 5 ? names[v] : "?";
}

static void show_mismatch(struct mcheck *c, const char *label, const uint8_t *f, size_t len,
			  const char *what)
{
	if (++c->bad > SHOW_MAX)
		return;
	fprintf(stderr, "  %s: frame %" PRIu64 " (%s, model: %s): %s\n", c->name, c->frames,
		label, why_name[c->o.why], what);
	hexdump("in", f, len);
}

/* After a mismatch the model takes the program's state, so one bug is reported once. */
static void resync(struct mcheck *c)
{
	memcpy(c->m->exp, c->rx->sl.s, (size_t)c->m->n * sizeof(*c->m->exp));
	rx_counters(c->rx, c->m->cnt);
}

static bool check_slots(struct mcheck *c, const char *label, const uint8_t *f, size_t len)
{
	for (uint32_t i = 0; i < c->m->n; i++) {
		const struct xdphc_slot *a = &c->rx->sl.s[i], *e = &c->m->exp[i];
		char what[256];

		if (!memcmp(a, e, sizeof(*a)))
			continue;
		snprintf(what, sizeof(what),
			 "slot %u: result %016" PRIx64 " t %u, expected result %016" PRIx64
			 " t %u", i, (uint64_t)a->result, a->t, (uint64_t)e->result, e->t);
		show_mismatch(c, label, f, len, what);
		return false;
	}
	return true;
}

/* One frame through the model and through probe_rx; false on any difference. */
static bool check_frame(struct mcheck *c, const uint8_t *f, size_t len, const char *label)
{
	struct outcome *o = &c->o;
	uint64_t cnt[XDPHC_CNT_MAX];
	uint32_t verdict, sent = 0, before;
	size_t out_len;
	char what[256];
	int e;

	c->frames++;
	model_rx(c->m, f, len, o);
	if (o->slot >= 0)
		sent = c->m->exp[o->slot].t;
	before = mono_us();
	e = rx_run(c->rx, f, len, c->out, &out_len, &verdict);
	if (e) {
		snprintf(what, sizeof(what), "BPF_PROG_TEST_RUN: %s", strerror(-e));
		goto bad;
	}
	if (verdict != o->verdict) {
		snprintf(what, sizeof(what), "verdict %s, expected %s", verdict_name(verdict),
			 verdict_name(o->verdict));
		goto bad;
	}
	if (out_len != o->len || memcmp(c->out, o->frame, o->len)) {
		snprintf(what, sizeof(what), "output frame differs");
		show_mismatch(c, label, f, len, what);
		if (c->bad <= SHOW_MAX) {
			hexdump("out", c->out, out_len);
			hexdump("expected", o->frame, o->len);
		}
		resync(c);
		return false;
	}
	if (o->slot >= 0) {
		/* t became the RTT: no more than the time since the probe was "sent". */
		uint32_t rtt = c->rx->sl.s[o->slot].t;

		if (rtt < (uint32_t)(before - sent) || rtt > (uint32_t)(mono_us() - sent)) {
			snprintf(what, sizeof(what), "slot %" PRId64 ": rtt %u us, sent %u us ago",
				 o->slot, rtt, mono_us() - sent);
			goto bad;
		}
		c->m->exp[o->slot].t = rtt;
	}
	if (c->full_every_frame || o->slot >= 0 || (c->frames & 255) == 0) {
		if (!check_slots(c, label, f, len)) {
			resync(c);
			return false;
		}
	}
	if (rx_counters(c->rx, cnt)) {
		snprintf(what, sizeof(what), "reading counters: %s", strerror(errno));
		goto bad;
	}
	for (int i = 0; i < XDPHC_CNT_MAX; i++) {
		if (cnt[i] != c->m->cnt[i]) {
			snprintf(what, sizeof(what), "counter %d = %" PRIu64 ", expected %" PRIu64,
				 i, cnt[i], c->m->cnt[i]);
			goto bad;
		}
	}
	return true;
bad:
	show_mismatch(c, label, f, len, what);
	resync(c);
	return false;
}

/* Every length of one reply, from the Ethernet header to the whole frame. */
static void check_truncations(struct mcheck *c, const uint8_t *f, size_t len, const char *label)
{
	/* BPF_PROG_TEST_RUN refuses frames shorter than an Ethernet header (EINVAL). */
	for (size_t l = ETH_HDR_LEN; l <= len; l++)
		check_frame(c, f, l, label);
}

static void truncation_templates(struct gen *g, struct mcheck *c)
{
	const struct xdphc_slot *s;
	struct icmp_reply ir;
	struct tcp_reply tr;
	uint8_t f[FRAME_MAX];

	for (int k = 0; k < 8; k++) {
		/* A fresh cookie each time: a slot no earlier frame answered. */
		s = &g->m->exp[(uint32_t)k * (g->m->n / 8)];
		tcp_reply_for(g, s, &tr);
		tr.ack = 1 + model_cookie(g->m->key, g->m->src4, (const uint8_t *)s->addr,
					  s->sport, ntohs(s->port), s->gen);
		switch (k) {
		case 0:
			tr.flags = F_SYN | F_ACK;
			tr.min_len = MIN_FRAME;
			check_truncations(c, f, build_tcp(f, &tr), "truncated syn-ack");
			break;
		case 1:
			tr.flags = F_SYN | F_ACK;
			tr.tcp_opt_len = 20;	/* MSS, SACK, timestamps, window scale: 74 bytes */
			check_truncations(c, f, build_tcp(f, &tr), "truncated syn-ack, options");
			break;
		case 2:
			tr.flags = F_RST | F_ACK;
			tr.min_len = 0;
			check_truncations(c, f, build_tcp(f, &tr), "truncated rst");
			break;
		case 3:
			tr.flags = F_SYN | F_ACK;
			tr.ip_opt_words = 3;
			check_truncations(c, f, build_tcp(f, &tr), "truncated syn-ack, ip options");
			break;
		case 4:
		case 5:
		case 6:
			icmp_reply_for(g, s, &ir);
			ir.in_seq = tr.ack - 1;
			ir.quote_l4 = k == 4 ? 8 : 24;
			ir.ip_opt_words = k == 6 ? 2 : 0;
			ir.min_len = 0;
			check_truncations(c, f, build_icmp(f, &ir), "truncated icmp");
			break;
		default:
			tr.flags = F_SYN | F_ACK;
			tr.ack = 1 + model_cookie(g->m->key, g->m->src4, (const uint8_t *)s->addr,
						  s->sport, ntohs(s->port), s->gen - 1);
			check_truncations(c, f, build_tcp(f, &tr), "truncated stale syn-ack");
			break;
		}
	}
}

struct model_cfg {
	const char *name;
	uint32_t n, naddr, frames;
	uint16_t sport_lo, sport_count;
	const uint16_t *ports;
	uint32_t nports;
};

static void model_test(int ifindex, const struct model_cfg *mc)
{
	static struct mcheck c;
	struct gen *g = calloc(1, sizeof(*g));
	struct model m;
	struct rx rx;
	uint8_t f[FRAME_MAX];
	const char *label;
	char name[128], err[256] = "";
	double t0 = mono_s();
	uint32_t missing = 0;
	char miss[256] = "";
	size_t len;

	snprintf(name, sizeof(name), "model %s: load", mc->name);
	if (!g || rx_load(&rx, ifindex, mc->n, mc->sport_lo, mc->sport_count)) {
		report(false, name, "probe_rx did not load");
		free(g);
		return;
	}
	fill_backends(&rx, mc->naddr, mc->ports, mc->nports);

	if (slots_index(&rx.sl, rx.sport_lo, rx.sport_count, err, sizeof(err)) ||
	    model_init(&m, &rx)) {
		report(false, name, "slots_index: %s", err);
		rx_close(&rx);
		free(g);
		return;
	}
	snprintf(name, sizeof(name), "model %s: slot table", mc->name);
	check_index(name, &rx, &m);

	memset(&c, 0, sizeof(c));
	snprintf(name, sizeof(name), "model %s: %u backends, ports %u-%u", mc->name, mc->n,
		 mc->sport_lo, mc->sport_lo + mc->sport_count - 1);
	c.name = name;
	c.rx = &rx;
	c.m = &m;
	c.full_every_frame = (size_t)mc->n * sizeof(struct xdphc_slot) <= 256 * 1024;
	*g = (struct gen){ .m = &m, .rx = &rx, .ports = mc->ports, .nports = mc->nports,
			   .naddr = mc->naddr };

	truncation_templates(g, &c);
	for (uint32_t i = 0; i < mc->frames; i++) {
		if (rnd_below(100) < 3)
			gen_event(g);
		len = gen_frame(g, f, &label);
		check_frame(&c, f, len, label);
		memcpy(g->ring[g->ring_n % RING], f, len);
		g->ring_len[g->ring_n++ % RING] = len;
		/* Now and then every length of the frame just sent, whatever it was. */
		if (i % 2000 == 1999)
			check_truncations(&c, f, len, label);
	}
	c.full_every_frame = true;
	if (c.frames && c.bad == 0)
		check_slots(&c, "end", f, 0);

	for (int w = 0; w < W_MAX; w++) {
		if (m.seen[w])
			continue;
		missing++;
		snprintf(miss + strlen(miss), sizeof(miss) - strlen(miss), " %s", why_name[w]);
	}
	report(!c.bad && !missing, name,
	       "%" PRIu64 " frames, %" PRIu64 " mismatches, %.1f s; %" PRIu64 " not candidates, %"
	       PRIu64 " forged, %" PRIu64 " fresh, %" PRIu64 " stale, %" PRIu64 " dup, %" PRIu64
	       " trimmed%s%s", c.frames, c.bad, mono_s() - t0,
	       m.seen[W_NOT_IP4] + m.seen[W_SHORT] + m.seen[W_NOT_OURS] + m.seen[W_BAD_IHL] +
	       m.seen[W_FRAGMENT] + m.seen[W_OTHER_PROTO] + m.seen[W_TCP_FLAGS] +
	       m.seen[W_ICMP_TYPE] + m.seen[W_ICMP_QUOTE] + m.seen[W_NO_SLOT],
	       m.seen[W_FORGED],
	       m.seen[W_SYNACK_FRESH] + m.seen[W_RST_FRESH] + m.seen[W_ICMP_FRESH],
	       m.seen[W_SYNACK_STALE] + m.seen[W_RST_STALE] + m.seen[W_ICMP_STALE],
	       m.seen[W_DUP], m.seen[W_TRIMMED], missing ? "; never seen:" : "", miss);
	model_free(&m);
	rx_close(&rx);
	free(g);
}

/* ---- Forgery at scale ---- */

/*
 * n backends on 16 source ports; `frames` replies on real probe tuples
 * (a random slot's backend address and port, the source port slots_index()
 * gave it), a third each SYN-ACK, RST and ICMP destination unreachable
 * quoting our SYN, with random ack/seq.  None may be taken for an answer.
 *
 * A random ISN is the fresh or the stale cookie with probability 2 / 2^32,
 * so 10^6 forgeries would be accepted 10^6 * 2 / 2^32 ~ 0.0005 times on
 * average (a stale acceptance would record nothing, only drop).  Those rare
 * draws are redrawn, with the model's cookie, so that a failure here is
 * always a bug and never bad luck.
 */
static void forgery_test(int ifindex, uint32_t n, uint32_t naddr, uint64_t frames)
{
	static const uint16_t ports[] = { 80, 443, 8080, 8443, 3306, 5432, 6379, 9000 };
	static uint8_t out[OUT_MAX];
	struct rx rx;
	struct model m;
	struct xdphc_slot *before;
	uint64_t cnt[XDPHC_CNT_MAX], bad = 0, other = 0;
	uint32_t changed = 0, answered = 0;
	uint8_t f[FRAME_MAX];
	char name[128], err[256] = "";
	double t0 = mono_s(), t_run;

	snprintf(name, sizeof(name), "forgery: %" PRIu64 " forged replies, %u backends, "
		 "16 source ports", frames, n);
	if (rx_load(&rx, ifindex, n, 40000, 16)) {
		report(false, name, "probe_rx did not load");
		return;
	}
	fill_backends(&rx, naddr, ports, 8);
	if (slots_index(&rx.sl, rx.sport_lo, rx.sport_count, err, sizeof(err)) ||
	    model_init(&m, &rx)) {
		report(false, name, "slots_index: %s", err);
		rx_close(&rx);
		return;
	}
	before = malloc((size_t)n * sizeof(*before));
	if (!before) {
		report(false, name, "out of memory");
		goto out;
	}
	memcpy(before, rx.sl.s, (size_t)n * sizeof(*before));
	t_run = mono_s();

	for (uint64_t i = 0; i < frames; i++) {
		const struct xdphc_slot *s = &rx.sl.s[rnd_below(n)];
		uint8_t addr[4];
		uint16_t port = ntohs(s->port);
		uint32_t isn, c0, c1, verdict;
		size_t len, out_len;
		int e;

		memcpy(addr, s->addr, 4);
		c0 = model_cookie(m.key, m.src4, addr, s->sport, port, s->gen);
		c1 = model_cookie(m.key, m.src4, addr, s->sport, port, s->gen - 1);
		do
			isn = rnd32();
		while (isn == c0 || isn == c1);

		if (i % 3 == 2) {
			struct icmp_reply r = {
				.type = 3, .code = (uint8_t)(i % 16), .in_ihl = 5,
				.in_proto = IPPROTO_TCP, .in_sport = s->sport, .in_dport = port,
				.in_seq = isn, .quote_l4 = i & 8 ? 24 : 8, .min_len = MIN_FRAME,
			};

			memcpy(r.saddr, addr, 4);
			memcpy(r.daddr, m.src4, 4);
			memcpy(r.in_saddr, m.src4, 4);
			memcpy(r.in_daddr, addr, 4);
			len = build_icmp(f, &r);
		} else {
			struct tcp_reply r = {
				.sport = port, .dport = s->sport, .ack = isn + 1,
				.flags = i % 3 ? F_RST | F_ACK : F_SYN | F_ACK,
				.seq = i % 3 ? 0 : rnd32(), .frag_off = 0x4000, .min_len = MIN_FRAME,
			};

			memcpy(r.saddr, addr, 4);
			memcpy(r.daddr, m.src4, 4);
			len = build_tcp(f, &r);
		}
		e = rx_run(&rx, f, len, out, &out_len, &verdict);
		if (!e && verdict == XDP_PASS && out_len == len && !memcmp(out, f, len))
			continue;
		if (++bad <= SHOW_MAX) {
			fprintf(stderr, "  forgery: frame %" PRIu64 ": %s, verdict %s, %zu bytes out "
				"of %zu%s\n", i, e ? strerror(-e) : "accepted", verdict_name(verdict),
				out_len, len,
				!e && out_len == len && memcmp(out, f, len) ? ", changed" : "");
			hexdump("in", f, len);
		}
	}
	t_run = mono_s() - t_run;

	if (rx_counters(&rx, cnt)) {
		report(false, name, "reading counters: %s", strerror(errno));
		goto out;
	}
	for (int i = 0; i < XDPHC_CNT_MAX; i++)
		if (i != XDPHC_CNT_RX_FORGED)
			other += cnt[i];
	/* The first answer to a generation would have changed the slot's result. */
	for (uint32_t i = 0; i < n; i++) {
		if (memcmp(&rx.sl.s[i], &before[i], sizeof(before[i])))
			changed++;
		if (XDPHC_RESULT_GEN(rx.sl.s[i].result) == rx.sl.s[i].gen &&
		    XDPHC_RESULT_KIND(rx.sl.s[i].result) != XDPHC_RES_NONE)
			answered++;
	}
	report(!bad && !changed && !answered && !other && cnt[XDPHC_CNT_RX_FORGED] == frames,
	       name, "%" PRIu64 " not passed untouched, %u slots changed (%u answered), "
	       "RX_FORGED %" PRIu64 ", SYNACK %" PRIu64 " RST %" PRIu64 " ICMP %" PRIu64
	       " STALE %" PRIu64 ", other counters %" PRIu64 "; %.0f frames/s, %.1f s",
	       bad, changed, answered, cnt[XDPHC_CNT_RX_FORGED], cnt[XDPHC_CNT_RX_SYNACK],
	       cnt[XDPHC_CNT_RX_RST], cnt[XDPHC_CNT_RX_ICMP], cnt[XDPHC_CNT_RX_STALE],
	       other, frames / t_run, mono_s() - t0);
	free(before);
out:
	model_free(&m);
	rx_close(&rx);
}

/* ---- Receive cost (make bench) ---- */

enum cost_case { COST_NOT_OURS, COST_MISS, COST_FORGED, COST_REPLY, COST_MAX };

static const char *const cost_name[COST_MAX] = {
	"not_ours_ns", "lookup_miss_ns", "forged_ns", "reply_ns",
};

/* A reply to slot s of kind c: see cost_test(). */
static size_t cost_frame(const struct model *m, const struct xdphc_slot *s, enum cost_case c,
			 uint8_t *f)
{
	uint8_t addr[4];
	uint16_t port = ntohs(s->port);
	uint32_t isn = model_cookie(m->key, m->src4, (memcpy(addr, s->addr, 4), addr), s->sport,
				    port, s->gen);
	struct tcp_reply r = {
		.sport = port, .dport = s->sport, .ack = isn + 1, .flags = F_RST | F_ACK,
		.frag_off = 0x4000, .min_len = MIN_FRAME,
	};

	memcpy(r.saddr, addr, 4);
	memcpy(r.daddr, m->src4, 4);
	if (c == COST_NOT_OURS)
		r.dport = (uint16_t)(s->sport - 20000);
	else if (c == COST_MISS)
		put32(r.saddr, BACKEND_NET + BACKEND_ADDRS + rnd_below(BACKEND_ADDRS));
	else if (c == COST_FORGED)
		r.ack = isn + 2;
	return build_tcp(f, &r);
}

/*
 * What a reply costs probe_rx at n backends, each case on frames for random
 * slots (cold caches, as at a million probes a second), timed by the kernel
 * around each run (BPF_PROG_TEST_RUN's duration).  A packet outside the
 * port range never reaches the slot table; one inside it with no probe on
 * its tuple costs a lookup that misses; the difference is what the table
 * adds to foreign traffic.  Prints one JSON line.
 */
static int cost_test(int ifindex, uint32_t n, uint32_t frames)
{
	static const uint16_t ports[] = { 8000, 8001, 8002, 8003, 8004, 8005, 8006, 8007 };
	static uint8_t out[OUT_MAX];
	uint64_t total[COST_MAX] = { 0 };
	char err[256] = "";
	uint8_t f[FRAME_MAX];
	struct model m;
	struct rx rx;

	if (rx_load(&rx, ifindex, n, 32768, 32768))
		return -1;
	fill_backends(&rx, BACKEND_ADDRS, ports, 8);
	if (slots_index(&rx.sl, rx.sport_lo, rx.sport_count, err, sizeof(err)) ||
	    model_init(&m, &rx)) {
		fprintf(stderr, "rx_test: slots_index: %s\n", err);
		rx_close(&rx);
		return -1;
	}
	for (uint32_t i = 0; i < frames; i++) {
		for (int c = 0; c < COST_MAX; c++) {
			const struct xdphc_slot *s = &rx.sl.s[rnd_below(n)];
			size_t len = cost_frame(&m, s, (enum cost_case)c, f);
			struct xdp_md ctx = { .data_end = (__u32)len,
					      .ingress_ifindex = (__u32)rx.ifindex };
			LIBBPF_OPTS(bpf_test_run_opts, o, .data_in = f, .data_size_in = (__u32)len,
				    .data_out = out, .data_size_out = OUT_MAX,
				    .ctx_in = &ctx, .ctx_size_in = sizeof(ctx), .repeat = 1);

			if (bpf_prog_test_run_opts(rx.prog_fd, &o)) {
				fprintf(stderr, "rx_test: test run: %s\n", strerror(errno));
				model_free(&m);
				rx_close(&rx);
				return -1;
			}
			total[c] += o.duration;
		}
	}
	printf("{\"backends\": %u, \"frames\": %u", n, frames);
	for (int c = 0; c < COST_MAX; c++)
		printf(", \"%s\": %.1f", cost_name[c], (double)total[c] / frames);
	printf(", \"table_bytes_per_backend\": %.2f}\n",
	       (double)rx.sl.nbuckets * sizeof(struct xdphc_slot_bucket) / n);
	model_free(&m);
	rx_close(&rx);
	return 0;
}

/* ---- main ---- */

static void usage(void)
{
	fprintf(stderr, "usage: rx_test [--seed N] [--frames N] [--forged N] [--big N] "
		"[--cost N]\n"
		"  --frames  model frames, first configuration (default 30000; half that\n"
		"            for the other two)\n"
		"  --forged  forged replies at 65,536 backends (default 1000000)\n"
		"  --big     forged replies at 1,000,000 backends (default 1000000, 0 skips)\n"
		"  --cost    only measure: BPF run time of N replies of each kind at\n"
		"            1,000,000 backends, as one JSON line (make bench)\n");
	exit(2);
}

static int finish(void)
{
	printf("%d passed, %d failed\n", passed, failed);
	return failed ? 1 : 0;
}

int main(int argc, char **argv)
{
	static const uint16_t few_ports[] = { 80, 443, 8080, 9090 };
	static const uint16_t many_ports[] = { 22, 80, 443, 5432, 6379, 8080, 8443, 9000 };
	uint64_t seed = 0, frames = 30000, forged = 1000000, big = 1000000, cost = 0;
	bool have_seed = false;
	char tap[IFNAMSIZ];
	int ifindex;

	for (int i = 1; i < argc; i++) {
		char *end;
		uint64_t v;

		if (i + 1 >= argc)
			usage();
		v = strtoull(argv[i + 1], &end, 0);
		if (*end || !*argv[i + 1])
			usage();
		if (!strcmp(argv[i], "--seed")) {
			seed = v;
			have_seed = true;
		} else if (!strcmp(argv[i], "--frames")) {
			frames = v;
		} else if (!strcmp(argv[i], "--forged")) {
			forged = v;
		} else if (!strcmp(argv[i], "--big")) {
			big = v;
		} else if (!strcmp(argv[i], "--cost")) {
			cost = v;
		} else {
			usage();
		}
		i++;
	}
	if (!have_seed && getrandom(&seed, sizeof(seed), 0) != sizeof(seed))
		seed = (uint64_t)time(NULL) ^ (uint64_t)getpid() << 32;
	rng = seed;
	printf("rx_test: seed %" PRIu64 " (rerun with --seed %" PRIu64 ")\n", seed, seed);
	fflush(stdout);
	rnd_bytes(peer_mac, 6);
	rnd_bytes(host_mac, 6);
	peer_mac[0] &= 0xfe;
	host_mac[0] &= 0xfe;

	test_siphash();

	/* No skipping: without root and BPF nothing here is tested, and that is a failure. */
	if (geteuid() != 0) {
		report(false, "setup", "must run as root (loads BPF programs, makes a tap)");
		return finish();
	}
	ifindex = tap_open(tap);
	if (ifindex < 0) {
		report(false, "setup", "no tap device for the test runs' ingress");
		return finish();
	}

	if (cost) {
		int e = cost_test(ifindex, 1000000, (uint32_t)cost);

		if (tap_fd >= 0)
			close(tap_fd);
		return e ? 1 : 0;
	}
	{
		struct model_cfg a = {
			/* Few addresses and ports: pairs probed by up to 16 slots each. */
			.name = "crowded", .n = 2000, .naddr = 64, .frames = (uint32_t)frames,
			.sport_lo = 40000, .sport_count = 16,
			.ports = few_ports, .nports = 4,
		};
		struct model_cfg b = {
			/* The port range ends at 65535: range checks must not wrap. */
			.name = "edge ports", .n = 1500, .naddr = 256, .frames = (uint32_t)frames / 2,
			.sport_lo = 65528, .sport_count = 8,
			.ports = many_ports, .nports = 8,
		};
		struct model_cfg cbig = {
			.name = "large", .n = 65536, .naddr = 16384, .frames = (uint32_t)frames / 2,
			.sport_lo = 40000, .sport_count = 16,
			.ports = many_ports, .nports = 8,
		};

		model_test(ifindex, &a);
		model_test(ifindex, &b);
		model_test(ifindex, &cbig);
	}
	if (forged)
		forgery_test(ifindex, 65536, 16384, forged);
	if (big)
		forgery_test(ifindex, 1000000, BACKEND_ADDRS, big);
	if (tap_fd >= 0)
		close(tap_fd);
	return finish();
}
