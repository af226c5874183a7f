// SPDX-License-Identifier: MIT
/*
 * rx_test: probe_rx frame by frame under BPF_PROG_TEST_RUN.
 *
 * probe_rx is loaded through its skeleton and its slot table is built by
 * slots_index(), as the controller does.  Three kinds of test:
 *
 *  - a reference model of the receive verdict, written here from the
 *    matching rules (its own SipHash-2-4 from the paper, its own parsing, its
 *    own tuple lookup, its own payload search), fed tens of thousands of
 *    generated frames: IPv4 and IPv6, TCP and UDP probes, ICMP and ICMPv6
 *    errors.  Each frame's verdict, output bytes, slot results and counters
 *    must be the model's;
 *  - forgery at scale: a million replies on real probe tuples with random
 *    cookies (IPv4 TCP; and IPv6 TCP and UDP in both families), none of
 *    which may be accepted;
 *  - the probe writer (the batched runs: ingress ifindex 1), SYNs and UDP
 *    datagrams of both families checked byte by byte.
 *
 * Needs root (BPF) but no lab: the test makes its own network namespace,
 * where a tap it holds open is the probing interface, with the routes and
 * neighbours the writer's FIB lookups need; both go away with the process.
 *
 * Usage: rx_test [--seed N] [--frames N] [--forged N] [--big N] [--cost N]
 *                [--strict 1]
 * Prints "N passed, N failed" last and exits non-zero on any failure.
 * Checks of bugs reported but not fixed yet print KNOWN and are not counted
 * (report_known()); --strict 1 counts them as failures.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <sched.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <net/if.h>
#include <linux/if_tun.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "clock.h"
#include "slots.h"
#include "probe_rx.skel.h"

#define FRAME_MAX 2048		/* UDP replies past the 1472 bytes probe_rx searches */
#define OUT_MAX 4096		/* more than any frame a test run can return */
#define ETH_HDR_LEN 14
#define IP6_HDR_LEN 40
#define MIN_FRAME 60		/* Ethernet minimum without FCS */
#define RST6_FRAME 74		/* Ethernet, IPv6, TCP without options */
#define SHOW_MAX 5		/* mismatches printed in full per test */
#define HAY_MAX 1472		/* the payload bytes a UDP reply is searched in */
#define DIGITS 8		/* a cookie in a UDP payload: lowercase hex */

#define ETHERTYPE_IPV4 0x0800
#define ETHERTYPE_IPV6 0x86dd
#define ETHERTYPE_VLAN 0x8100
#define ETHERTYPE_QINQ 0x88a8

#define PROTO_ICMP6 58
#define NO_EXT 0xff		/* no IPv6 extension header */

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

static size_t addr_len(uint8_t family)
{
	return family == AF_INET6 ? 16 : 4;
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

/* The pseudo header's sum: addresses of the family, protocol, L4 length. */
static uint32_t pseudo_sum(uint8_t family, const uint8_t *saddr, const uint8_t *daddr,
			   uint8_t proto, size_t len)
{
	size_t al = addr_len(family);

	return sum16(saddr, al, 0) + sum16(daddr, al, 0) + proto + (uint32_t)len;
}

/* The checksum at csum_off of len L4 bytes at l4 (UDP's 0 sent as 0xffff). */
static void l4_csum(uint8_t family, const uint8_t *saddr, const uint8_t *daddr, uint8_t proto,
		    uint8_t *l4, size_t len, size_t csum_off)
{
	uint16_t c;

	put16(l4 + csum_off, 0);
	c = fold16(sum16(l4, len, pseudo_sum(family, saddr, daddr, proto, len)));
	put16(l4 + csum_off, proto == IPPROTO_UDP && !c ? 0xffff : c);
}

/* Whether len L4 bytes sum to all ones under their pseudo header: a valid checksum. */
static bool l4_csum_ok(uint8_t family, const uint8_t *saddr, const uint8_t *daddr,
		       uint8_t proto, const uint8_t *l4, size_t len)
{
	return fold16(sum16(l4, len, pseudo_sum(family, saddr, daddr, proto, len))) == 0;
}

static void hexdump(const char *what, const uint8_t *p, size_t n)
{
	fprintf(stderr, "    %s (%zu bytes):", what, n);
	for (size_t i = 0; i < n; i++)
		fprintf(stderr, "%s%02x", i % 32 ? (i % 4 ? "" : " ") : "\n      ", p[i]);
	fprintf(stderr, "\n");
}

/* Where needle is in hay, or NULL: the model's own search, byte by byte. */
static const uint8_t *find_bytes(const uint8_t *hay, size_t hlen, const uint8_t *needle,
				 size_t nlen)
{
	if (!nlen)
		return hay;
	for (size_t i = 0; i + nlen <= hlen; i++)
		if (hay[i] == needle[0] && !memcmp(hay + i, needle, nlen))
			return hay + i;
	return NULL;
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
 * A check that a reported, not yet fixed bug fails: printed as KNOWN with
 * the bug, not counted as a failure (make check stays usable meanwhile),
 * unless --strict.  Once the bug is fixed the check passes as any other.
 */
static int known;
static bool strict;

static void report_known(bool ok, const char *bug, const char *name, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

static void report_known(bool ok, const char *bug, const char *name, const char *fmt, ...)
{
	char msg[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (ok || strict) {
		report(ok, name, "%s%s%s", msg, ok ? "" : "; known bug: ", ok ? "" : bug);
		return;
	}
	printf("KNOWN %s: %s; known bug: %s\n", name, msg, bug);
	fflush(stdout);
	known++;
}

/*
 * ---- SipHash-2-4, from the paper (Aumasson, Bernstein 2012) ----
 *
 * Written over bytes, not over the words probe_rx hashes, so that the
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

/* What the cookies of a run depend on besides the tuple: the key and our addresses. */
struct secret {
	uint8_t key[16];
	uint8_t src4[4];
	uint8_t src6[16];
};

static const uint8_t *our_addr_of(const struct secret *k, uint8_t family)
{
	return family == AF_INET6 ? k->src6 : k->src4;
}

/*
 * The cookie of the probe from ours:our_port to backend:port, generation gen.
 *
 * IPv4: the rules hash m0 = saddr << 32 | daddr and m1 = sport << 48 |
 * dport << 32 | gen, an address being its network-order bytes loaded as a
 * little-endian u32 and ports host numbers.  SipHash reads words
 * little-endian, so that message is, byte for byte: the backend address as
 * on the wire, ours as on the wire, gen, the backend's port, our port (the
 * last three little-endian).
 *
 * IPv6: five words, (a[0] << 32 | a[1]) and (a[2] << 32 | a[3]) of our
 * address, then of the backend's, then m1 as above: each word's bytes are
 * the address's 32-bit groups 1, 0 (then 3, 2) as on the wire.
 */
static uint32_t model_cookie(const struct secret *k, uint8_t family, const uint8_t *backend,
			     uint16_t our_port, uint16_t port, uint32_t gen)
{
	uint8_t m[40];
	size_t n = 0;

	if (family == AF_INET6) {
		const uint8_t *a[2] = { k->src6, backend };

		for (int w = 0; w < 2; w++) {
			for (int half = 0; half < 16; half += 8) {
				memcpy(m + n, a[w] + half + 4, 4);
				memcpy(m + n + 4, a[w] + half, 4);
				n += 8;
			}
		}
	} else {
		memcpy(m, backend, 4);
		memcpy(m + 4, k->src4, 4);
		n = 8;
	}
	for (int i = 0; i < 4; i++)
		m[n + i] = (uint8_t)(gen >> (8 * i));
	m[n + 4] = (uint8_t)port;
	m[n + 5] = port >> 8;
	m[n + 6] = (uint8_t)our_port;
	m[n + 7] = our_port >> 8;
	return (uint32_t)(siphash24(k->key, m, n + 8) >> 32);
}

/* A cookie as a UDP payload carries it: 8 lowercase hex digits, most significant first. */
static void cookie_hex(uint32_t cookie, uint8_t d[DIGITS])
{
	char s[DIGITS + 1];

	snprintf(s, sizeof(s), "%08" PRIx32, cookie);
	memcpy(d, s, DIGITS);
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

/* ---- The network the test runs in ---- */

/*
 * Test runs need an ingress device other than the loopback: without a ctx
 * the kernel names the loopback (ifindex 1), which tells probe_rx to write a
 * probe (XDPHC_TX_IFINDEX), not to receive.  The test makes a network
 * namespace of its own and a tap in it, held open by this process: both go
 * away with it, even when it is killed.  The tap is the probing interface:
 * the writer's FIB lookups find their routes and neighbours through it
 * (net_setup()); the receive runs only return verdicts, nothing is sent.
 */
static int tap_fd = -1;
static bool own_netns;
static char tap_name[IFNAMSIZ];

/* The first device the machine has besides the loopback, if the namespace could not be made. */
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
	int idx;

	own_netns = unshare(CLONE_NEWNET) == 0;
	if (!own_netns) {
		fprintf(stderr, "rx_test: no network namespace of its own (%s): the writer "
			"test cannot run\n", strerror(errno));
		idx = existing_device(name);
		if (idx > 1)
			return idx;
	}
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
	struct secret k;
};

/*
 * 192.0.2.1 and 2001:db8::1 are us, 192.0.2.2 and 2001:db8::2 other
 * addresses of the host (documentation prefixes).
 */
static const uint8_t our_addr[4] = { 192, 0, 2, 1 };
static const uint8_t other_local[4] = { 192, 0, 2, 2 };
static const uint8_t our_addr6[16] = { 0x20, 0x01, 0x0d, 0xb8, [15] = 1 };
static const uint8_t other_local6[16] = { 0x20, 0x01, 0x0d, 0xb8, [15] = 2 };
/* IPv4 backends in 198.18.0.0/15 (RFC 2544): 131,072 addresses; nothing is sent. */
#define BACKEND_NET 0xc6120000u
#define BACKEND_ADDRS 131072u

/*
 * IPv6 backend a: 2001:db8:b::/48, every 32-bit group of the address
 * depending on a (the lookup and the cookie must use all four).
 */
static void backend6(uint32_t a, uint8_t out[16])
{
	uint64_t h = (a + 1) * 0x9e3779b97f4a7c15ULL;

	h ^= h >> 29;
	memcpy(out, (const uint8_t[]){ 0x20, 0x01, 0x0d, 0xb8, 0x00, 0x0b }, 6);
	put16(out + 6, (uint16_t)(a >> 16));
	put32(out + 8, (uint32_t)(h >> 32) ^ a);
	put32(out + 12, (uint32_t)h);
}

static void backend_addr(uint8_t family, uint32_t a, uint8_t out[16])
{
	memset(out, 0, 16);
	if (family == AF_INET6)
		backend6(a, out);
	else
		put32(out, BACKEND_NET + a);
}

/* ---- UDP checks: what probes send and what replies must hold, by pool ---- */

/*
 * The checks the tests configure.  "{cookie}" marks where the cookie goes
 * (8 bytes: the placeholder is as long as the digits); expect_gen builds
 * the longer expects.
 */
enum expect_gen { EXP_TEXT, EXP_WORST };

struct check_def {
	uint32_t id;
	const char *payload;
	const char *expect;		/* NULL: none */
	enum expect_gen how;
};

static const struct check_def check_defs[] = {
	{ 0, "PING\r\n", NULL, EXP_TEXT },		/* any reply will do */
	{ 1, "id={cookie};", NULL, EXP_TEXT },		/* cookie, odd offset, no expect */
	{ 2, "status", "OK", EXP_TEXT },		/* expect, no cookie */
	{ 3, "{cookie}", "+PONG", EXP_TEXT },		/* both */
	{ 7, "x", "\n", EXP_TEXT },			/* a one-byte expect */
	{ 200, "q{cookie}", "aab", EXP_TEXT },	/* an expect that overlaps itself */
	/* 255 'a' and a 'b': the longest expect, the slowest search */
	{ 255, "{cookie} big", "", EXP_WORST },
};
#define NCHECKS (sizeof(check_defs) / sizeof(check_defs[0]))

/* The checks with a cookie: forged replies to them are refused. */
static const uint32_t cookie_checks[] = { 1, 3, 200, 255 };

/* The sum probe.h defines: host-order 16-bit words, odd byte padded, cookie bytes zero. */
static uint32_t payload_sum(const uint8_t *p, size_t len, uint16_t cookie_off)
{
	uint32_t sum = 0;

	for (size_t i = 0; i < len; i += 2) {
		uint8_t w[2] = { p[i], i + 1 < len ? p[i + 1] : 0 };
		uint16_t v;

		for (int b = 0; b < 2; b++)
			if (cookie_off != XDPHC_NO_COOKIE && i + b >= cookie_off &&
			    i + b < (size_t)cookie_off + DIGITS)
				w[b] = 0;
		memcpy(&v, w, 2);
		sum += v;
	}
	while (sum >> 16)
		sum = (sum & 0xffff) + (sum >> 16);
	return sum;
}

/* A map entry from a payload ("{cookie}" placeholder or none) and an expect. */
static void check_make(struct xdphc_udp_check *u, const uint8_t *payload, size_t plen,
		       const uint8_t *expect, size_t elen)
{
	const uint8_t *c = find_bytes(payload, plen, (const uint8_t *)"{cookie}", DIGITS);

	memset(u, 0, sizeof(*u));
	u->payload_len = (uint16_t)plen;
	memcpy(u->payload, payload, plen);
	u->cookie_off = c ? (uint16_t)(c - payload) : XDPHC_NO_COOKIE;
	u->expect_len = (uint16_t)elen;
	memcpy(u->expect, expect, elen);
	u->payload_sum = payload_sum(u->payload, plen, u->cookie_off);
}

static void check_from_def(struct xdphc_udp_check *u, const struct check_def *d)
{
	uint8_t e[XDPHC_EXPECT_MAX];
	size_t elen = d->expect ? strlen(d->expect) : 0;

	if (d->how == EXP_WORST) {
		memset(e, 'a', sizeof(e));
		e[sizeof(e) - 1] = 'b';
		elen = sizeof(e);
	} else {
		memcpy(e, d->expect ? d->expect : "", elen);
	}
	check_make(u, (const uint8_t *)d->payload, strlen(d->payload), e, elen);
}

/* ---- The program under test ---- */

static void rx_close(struct rx *rx)
{
	slots_close(&rx->sl);
	probe_rx_bpf__destroy(rx->skel);
	memset(rx, 0, sizeof(*rx));
}

static int rx_set_check(const struct rx *rx, uint32_t id, const struct xdphc_udp_check *u)
{
	return bpf_map_update_elem(bpf_map__fd(rx->skel->maps.udp_checks), &id, u, BPF_ANY);
}

/* Load probe_rx for n slots with its load-time constants, as attach.c does. */
static int rx_load(struct rx *rx, int ifindex, uint32_t n, uint16_t sport_lo,
		   uint16_t sport_count)
{
	static struct xdphc_udp_check u;
	uint32_t nbuckets = slots_table_buckets(n);
	struct xdphc_bpf_cfg *c;
	char err[256];
	int e;

	memset(rx, 0, sizeof(*rx));
	rx->ifindex = ifindex;
	rx->n = n;
	rx->sport_lo = sport_lo;
	rx->sport_count = sport_count;
	rnd_bytes(rx->k.key, sizeof(rx->k.key));
	memcpy(rx->k.src4, our_addr, 4);
	memcpy(rx->k.src6, our_addr6, 16);

	rx->skel = probe_rx_bpf__open();
	if (!rx->skel) {
		fprintf(stderr, "rx_test: opening probe_rx: %s\n", strerror(errno));
		return -1;
	}
	c = &rx->skel->rodata->cfg;
	memset(c, 0, sizeof(*c));
	/* SipHash's key is 16 bytes read as two little-endian words. */
	c->key[0] = le64(rx->k.key);
	c->key[1] = le64(rx->k.key + 8);
	memcpy(&c->src4, rx->k.src4, 4);
	memcpy(c->src6, rx->k.src6, 16);
	/* The controller's duty, which the programs take on trust: the same call as attach.c's. */
	xdphc_cfg_sip6(c);
	c->ifindex = (uint32_t)ifindex;
	c->nslots = n;
	c->nbuckets = nbuckets;
	c->sport_lo = sport_lo;
	c->sport_count = sport_count;
	c->mss = 1460;
	c->fib4 = 1;
	c->fib6 = 1;
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
	for (size_t i = 0; i < NCHECKS; i++) {
		check_from_def(&u, &check_defs[i]);
		if (rx_set_check(rx, check_defs[i].id, &u)) {
			fprintf(stderr, "rx_test: udp_checks: %s\n", strerror(errno));
			rx_close(rx);
			return -1;
		}
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

/* One run of the program on a frame received on ingress (XDPHC_TX_IFINDEX: a batched run). */
static int rx_run_on(const struct rx *rx, int ingress, const uint8_t *in, size_t len,
		     uint8_t *out, size_t *out_len, uint32_t *verdict)
{
	struct xdp_md ctx = {
		.data_end = (__u32)len,
		.ingress_ifindex = (__u32)ingress,
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

static int rx_run(const struct rx *rx, const uint8_t *in, size_t len, uint8_t *out,
		  size_t *out_len, uint32_t *verdict)
{
	return rx_run_on(rx, rx->ifindex, in, len, out, out_len, verdict);
}

/* ---- Backends ---- */

/* The kinds of probe, in the order of struct mix. */
enum kind { K_TCP4, K_TCP6, K_UDP4, K_UDP6, K_MAX };

static const char *const kind_name[K_MAX] = { "tcp4", "tcp6", "udp4", "udp6" };

static uint8_t kind_family(enum kind k)
{
	return k == K_TCP6 || k == K_UDP6 ? AF_INET6 : AF_INET;
}

static uint8_t kind_proto(enum kind k)
{
	return k >= K_UDP4 ? IPPROTO_UDP : IPPROTO_TCP;
}

/* Shares of the slots per kind (any scale), and the checks UDP slots get. */
struct mix {
	uint32_t share[K_MAX];
	const uint32_t *checks;
	uint32_t nchecks;
};

static uint32_t all_checks[NCHECKS];

/*
 * A UDP probe's source port, drawn for each probe by the controller's own
 * slots_udp_sport() (slots_arm() draws it for each new probe), from the
 * test's seed.
 */
static uint16_t udp_sport(struct rx *rx, const struct xdphc_slot *s)
{
	return slots_udp_sport(&rx->sl, s);
}

/*
 * Backends the way a configuration gives them: naddr addresses per family,
 * each probed on some of the ports, over TCP or UDP, some (address, port,
 * protocol) triples probed by several slots (pools that share a backend),
 * which slots_index() must give distinct source ports, or for UDP distinct
 * lanes: never more slots on one triple than there are ports.  Then slots
 * are indexed, and every UDP probe gets a port of its own.
 */
static int fill_backends(struct rx *rx, uint32_t naddr, const uint16_t *ports, uint32_t nports,
			 const struct mix *mx, char *err, size_t errlen)
{
	uint8_t *uses = calloc((size_t)K_MAX * naddr * nports, 1);
	uint32_t now = mono_us(), total = 0, cap = rx->sport_count;

	if (!uses) {
		perror("calloc");
		exit(2);
	}
	if (cap > XDPHC_SLOT_LANES)
		cap = XDPHC_SLOT_LANES;	/* UDP: one lane a slot */
	for (int k = 0; k < K_MAX; k++)
		total += mx->share[k];
	for (uint32_t i = 0; i < rx->n; i++) {
		struct xdphc_slot *s = &rx->sl.s[i];
		uint8_t addr[16];
		uint32_t a, p, r = rnd_below(total), k = 0;
		uint8_t *u;

		while (r >= mx->share[k])
			r -= mx->share[k++];
		do {
			a = rnd_below(naddr);
			p = rnd_below(nports);
			u = &uses[((size_t)k * naddr + a) * nports + p];
		} while (*u >= (kind_proto(k) == IPPROTO_UDP ? cap : rx->sport_count));
		(*u)++;
		backend_addr(kind_family(k), a, addr);
		slots_claim(&rx->sl, i, kind_family(k), kind_proto(k), (const __be32 *)addr,
			    htons(ports[p]),
			    kind_proto(k) == IPPROTO_UDP ?
			    (uint8_t)mx->checks[rnd_below(mx->nchecks)] : 0);
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
	if (slots_index(&rx->sl, rx->sport_lo, rx->sport_count, err, errlen))
		return -1;
	rx->sl.rng = rnd64() | 1;
	for (uint32_t i = 0; i < rx->n; i++)
		if (rx->sl.s[i].proto == IPPROTO_UDP)
			rx->sl.s[i].sport = udp_sport(rx, &rx->sl.s[i]);
	return 0;
}

/* ---- The reference model ---- */

/*
 * The model's own way to a slot: every slot's target (family, protocol,
 * backend address and port), sorted; a reply's slot is the one among those
 * with the reply's target whose source port is the reply's port now.  A UDP
 * slot's port changes with each probe: the sort does not depend on it.
 */
struct tuple {
	uint8_t family, proto;
	uint16_t port;		/* the backend's, host order */
	uint8_t addr[16];
	uint32_t slot;
};

static int tuple_cmp(const void *a, const void *b)
{
	const struct tuple *x = a, *y = b;
	int c;

	if (x->family != y->family)
		return x->family < y->family ? -1 : 1;
	if (x->proto != y->proto)
		return x->proto < y->proto ? -1 : 1;
	c = memcmp(x->addr, y->addr, 16);
	if (c)
		return c;
	return (x->port > y->port) - (x->port < y->port);
}

enum why {
	W_NOT_IP, W_SHORT, W_NOT_OURS, W_BAD_IHL, W_FRAGMENT, W_EXTHDR, W_OTHER_PROTO,
	W_TCP_FLAGS, W_ICMP_TYPE, W_ICMP_QUOTE, W_NO_SLOT, W_FORGED,
	W_SYNACK_FRESH, W_SYNACK_STALE, W_SYNACK_IPOPT, W_RST_FRESH, W_RST_STALE,
	W_ICMP_FRESH, W_ICMP_STALE, W_ICMP_UDP,
	W_UDP_ANY, W_UDP_REPLY, W_UDP_MISMATCH, W_UDP_STALE, W_UDP_FORGED,
	W_DUP, W_TRIMMED, W_MAX,
};

static const char *const why_name[W_MAX] = {
	"not-ip", "short", "not-ours", "bad-ihl", "fragment", "ext-header", "other-proto",
	"tcp-not-reply", "icmp-type", "icmp-quote", "no-slot", "forged",
	"synack-fresh", "synack-stale", "synack-ipopt-drop", "rst-fresh", "rst-stale",
	"icmp-fresh", "icmp-stale", "icmp-udp",
	"udp-any-reply", "udp-reply", "udp-mismatch", "udp-stale", "udp-forged",
	"dup", "trimmed",
};

/* Coverage is counted per network layer: not IP, IPv4, IPv6. */
enum layer { L_OTHER, L_IP4, L_IP6, L_MAX };

static const char *const layer_name[L_MAX] = { "", "v4 ", "v6 " };

/* Whether a model run must have seen why on layer l. */
static bool why_expected(enum layer l, enum why w)
{
	if (l == L_OTHER)
		return w == W_NOT_IP;
	if (w == W_NOT_IP)
		return false;
	if (l == L_IP6)
		return w != W_BAD_IHL && w != W_FRAGMENT && w != W_SYNACK_IPOPT;
	return w != W_EXTHDR;
}

/* A UDP check as the model reads it: whether replies carry a cookie, and the expect. */
struct model_check {
	bool cookie;
	uint16_t expect_len;
	uint8_t expect[XDPHC_EXPECT_MAX];
};

struct model {
	struct secret k;
	uint32_t n;
	struct xdphc_slot *exp;	/* the slots as they must be */
	struct tuple *tuples;	/* sorted: the model's own way to a slot */
	struct model_check chk[XDPHC_UDP_CHECKS];
	uint64_t cnt[XDPHC_CNT_MAX];
	uint64_t seen[L_MAX][W_MAX];	/* coverage */
};

struct outcome {
	uint32_t verdict;
	uint8_t frame[FRAME_MAX];
	size_t len;
	int64_t slot;		/* the slot whose result this frame set, or -1 */
	enum layer layer;
	enum why why;
};

static const uint8_t *our(const struct model *m, uint8_t family)
{
	return our_addr_of(&m->k, family);
}

/* The slot probing backend:port over family and proto from our port sport, or -1. */
static int64_t model_find(const struct model *m, uint8_t family, uint8_t proto,
			  const uint8_t *backend, uint16_t port, uint16_t sport)
{
	struct tuple k = { .family = family, .proto = proto, .port = port };
	size_t lo = 0, hi = m->n;

	memcpy(k.addr, backend, addr_len(family));
	while (lo < hi) {
		size_t mid = (lo + hi) / 2;

		if (tuple_cmp(&m->tuples[mid], &k) < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	for (; lo < m->n && !tuple_cmp(&m->tuples[lo], &k); lo++) {
		const struct xdphc_slot *s = &m->exp[m->tuples[lo].slot];

		/* A released slot (family 0) probes nothing. */
		if (s->family && s->sport == sport)
			return m->tuples[lo].slot;
	}
	return -1;
}

enum judge { J_FRESH, J_STALE, J_FORGED };

static enum judge model_judge(const struct model *m, uint8_t family, const uint8_t *backend,
			      uint16_t port, uint16_t sport, uint32_t gen, uint32_t isn)
{
	if (model_cookie(&m->k, family, backend, sport, port, gen) == isn)
		return J_FRESH;
	if (model_cookie(&m->k, family, backend, sport, port, gen - 1) == isn)
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
		m->seen[o->layer][W_DUP]++;
		return;
	}
	s->result = XDPHC_RESULT(s->gen, kind, type, code);
	o->slot = j;
}

/* The RST's TCP header: the SYN-ACK's ports swapped, seq = its ack (our ISN + 1), RST alone. */
static void model_rst_tcp(const uint8_t *tcp, uint8_t *otcp)
{
	memset(otcp, 0, 20);
	memcpy(otcp, tcp + 2, 2);
	memcpy(otcp + 2, tcp, 2);
	memcpy(otcp + 4, tcp + 8, 4);
	otcp[12] = 5 << 4;
	otcp[13] = F_RST;
}

/* The RST that answers a SYN-ACK of ours: built from the rules, byte by byte. */
static void model_rst4(const uint8_t *f, size_t len, struct outcome *o)
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
	model_rst_tcp(tcp, otcp);
	l4_csum(AF_INET, oip + 12, oip + 16, IPPROTO_TCP, otcp, 20, 16);
	if (len > MIN_FRAME)
		o->why = W_TRIMMED;
}

/* The same in IPv6: 74 bytes, no traffic class or flow label, hop limit 64. */
static void model_rst6(const uint8_t *f, size_t len, struct outcome *o)
{
	const uint8_t *ip = f + ETH_HDR_LEN, *tcp = ip + IP6_HDR_LEN;
	uint8_t *oip = o->frame + ETH_HDR_LEN, *otcp = oip + IP6_HDR_LEN;

	o->len = RST6_FRAME;
	memcpy(o->frame, f + 6, 6);
	memcpy(o->frame + 6, f, 6);
	put16(o->frame + 12, ETHERTYPE_IPV6);
	memset(oip, 0, IP6_HDR_LEN);
	oip[0] = 0x60;
	put16(oip + 4, 20);
	oip[6] = IPPROTO_TCP;
	oip[7] = 64;
	memcpy(oip + 8, ip + 24, 16);
	memcpy(oip + 24, ip + 8, 16);
	model_rst_tcp(tcp, otcp);
	l4_csum(AF_INET6, oip + 8, oip + 24, IPPROTO_TCP, otcp, 20, 16);
	if (len > RST6_FRAME)
		o->why = W_TRIMMED;
}

/*
 * A TCP segment at l4off from backend to us.  plain: no IPv4 options (an
 * IPv6 packet with extension headers never gets here), so the RST can be
 * written in place of the SYN-ACK.
 */
static void model_tcp(struct model *m, const uint8_t *f, size_t len, uint8_t family,
		      const uint8_t *backend, size_t l4off, bool plain, struct outcome *o)
{
	const uint8_t *tcp = f + l4off;
	uint8_t flags;
	bool rst, synack;
	int64_t j;
	enum judge jd;

	if (len < l4off + 20) {
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
	j = model_find(m, family, IPPROTO_TCP, backend, get16(tcp), get16(tcp + 2));
	if (j < 0) {
		o->why = W_NO_SLOT;
		return;
	}
	jd = model_judge(m, family, backend, get16(tcp), get16(tcp + 2), m->exp[j].gen,
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
	if (!plain) {
		o->verdict = XDP_DROP;
		o->why = W_SYNACK_IPOPT;
		return;
	}
	o->verdict = XDP_TX;
	m->cnt[XDPHC_CNT_RST_SENT]++;
	if (family == AF_INET6)
		model_rst6(f, len, o);
	else
		model_rst4(f, len, o);
}

/*
 * A UDP datagram at l4off from backend to one of our ports.  Its payload is
 * what the UDP length says, as far as the frame goes (padding is not
 * payload), its first 1472 bytes searched.  A UDP length below the header's
 * own or past the frame: the frame's bytes (the rules say nothing of
 * malformed lengths).
 */
static void model_udp(struct model *m, const uint8_t *f, size_t len, uint8_t family,
		      const uint8_t *backend, size_t l4off, struct outcome *o)
{
	const uint8_t *udp = f + l4off, *p = udp + 8;
	const struct model_check *c;
	const struct xdphc_slot *s;
	uint8_t d[DIGITS];
	uint32_t kind;
	size_t plen, ulen;
	int64_t j;

	if (len < l4off + 8) {
		o->why = W_SHORT;
		return;
	}
	j = model_find(m, family, IPPROTO_UDP, backend, get16(udp), get16(udp + 2));
	if (j < 0) {
		o->why = W_NO_SLOT;
		return;
	}
	s = &m->exp[j];
	c = &m->chk[s->check];
	plen = len - l4off - 8;
	ulen = get16(udp + 4);
	if (ulen >= 8 && ulen - 8 < plen)
		plen = ulen - 8;
	if (plen > HAY_MAX)
		plen = HAY_MAX;
	if (c->cookie) {
		cookie_hex(model_cookie(&m->k, family, backend, s->sport, ntohs(s->port), s->gen), d);
		if (!find_bytes(p, plen, d, DIGITS)) {
			cookie_hex(model_cookie(&m->k, family, backend, s->sport, ntohs(s->port),
						s->gen - 1), d);
			if (find_bytes(p, plen, d, DIGITS)) {
				m->cnt[XDPHC_CNT_RX_STALE]++;
				o->why = W_UDP_STALE;
			} else {
				m->cnt[XDPHC_CNT_RX_FORGED]++;
				o->why = W_UDP_FORGED;
			}
			return;
		}
	}
	if (!c->cookie && !c->expect_len)
		o->why = W_UDP_ANY;
	else if (!c->expect_len || find_bytes(p, plen, c->expect, c->expect_len))
		o->why = W_UDP_REPLY;
	else
		o->why = W_UDP_MISMATCH;
	kind = o->why == W_UDP_MISMATCH ? XDPHC_RES_UDP_MISMATCH : XDPHC_RES_UDP_REPLY;
	o->verdict = XDP_DROP;
	model_record(m, o, j, kind, 0, 0);
	m->cnt[XDPHC_CNT_RX_UDP]++;
	if (kind == XDPHC_RES_UDP_MISMATCH)
		m->cnt[XDPHC_CNT_RX_MISMATCH]++;
}

/*
 * An ICMP error quoting a probe of ours to backend: q holds the first 8
 * bytes of its L4 header.  A SYN's quoted sequence number must be its
 * cookie; a datagram's quoted ports its probe's (no cookie there).
 */
static void model_quote(struct model *m, uint8_t family, uint8_t proto, const uint8_t *backend,
			const uint8_t *q, uint8_t type, uint8_t code, struct outcome *o)
{
	int64_t j = model_find(m, family, proto, backend, get16(q + 2), get16(q));
	enum judge jd = J_FRESH;

	if (j < 0) {
		o->why = W_NO_SLOT;
		return;
	}
	if (proto == IPPROTO_TCP)
		jd = model_judge(m, family, backend, get16(q + 2), get16(q), m->exp[j].gen,
				 get32(q + 4));
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
	model_record(m, o, j, XDPHC_RES_ICMP, type, code);
	m->cnt[XDPHC_CNT_RX_ICMP]++;
	o->why = proto == IPPROTO_UDP ? W_ICMP_UDP : W_ICMP_FRESH;
}

static void model_icmp4(struct model *m, const uint8_t *f, size_t len, size_t ihl,
			struct outcome *o)
{
	const uint8_t *ip = f + ETH_HDR_LEN, *icmp = ip + ihl, *in = icmp + 8, *q = in + 20;
	size_t have = len - ETH_HDR_LEN - ihl;	/* bytes from the ICMP header on */

	if (have < 8 || icmp[0] != 3) {
		o->why = have < 8 ? W_SHORT : W_ICMP_TYPE;
		return;
	}
	/* The quote must be our probe: our address, TCP or UDP, no options, 8 bytes of it. */
	if (have < 8 + 20 + 8 || memcmp(in + 12, m->k.src4, 4) ||
	    (in[9] != IPPROTO_TCP && in[9] != IPPROTO_UDP) || (in[0] & 0x0f) != 5) {
		o->why = W_ICMP_QUOTE;
		return;
	}
	model_quote(m, AF_INET, in[9], in + 16, q, icmp[0], icmp[1], o);
}

/* ICMPv6 destination unreachable (type 1) quoting our probe; the other types pass. */
static void model_icmp6(struct model *m, const uint8_t *f, size_t len, struct outcome *o)
{
	const uint8_t *icmp = f + ETH_HDR_LEN + IP6_HDR_LEN, *in = icmp + 8, *q = in + IP6_HDR_LEN;
	size_t have = len - ETH_HDR_LEN - IP6_HDR_LEN;

	if (have < 8 || icmp[0] != 1) {
		o->why = have < 8 ? W_SHORT : W_ICMP_TYPE;
		return;
	}
	if (have < 8 + IP6_HDR_LEN + 8 || memcmp(in + 8, m->k.src6, 16) ||
	    (in[6] != IPPROTO_TCP && in[6] != IPPROTO_UDP)) {
		o->why = W_ICMP_QUOTE;
		return;
	}
	model_quote(m, AF_INET6, in[6], in + 24, q, icmp[0], icmp[1], o);
}

static void model_rx4(struct model *m, const uint8_t *f, size_t len, struct outcome *o)
{
	const uint8_t *ip = f + ETH_HDR_LEN;
	size_t ihl;

	if (len < ETH_HDR_LEN + 20) {
		o->why = W_SHORT;
		return;
	}
	if (memcmp(ip + 16, m->k.src4, 4)) {
		o->why = W_NOT_OURS;
		return;
	}
	ihl = (size_t)(ip[0] & 0x0f) * 4;
	if (ihl < 20) {
		o->why = W_BAD_IHL;
		return;
	}
	if (get16(ip + 6) & 0x3fff) {
		o->why = W_FRAGMENT;
		return;
	}
	if (len < ETH_HDR_LEN + ihl) {
		o->why = W_SHORT;
		return;
	}
	if (ip[9] == IPPROTO_TCP)
		model_tcp(m, f, len, AF_INET, ip + 12, ETH_HDR_LEN + ihl, ihl == 20, o);
	else if (ip[9] == IPPROTO_UDP)
		model_udp(m, f, len, AF_INET, ip + 12, ETH_HDR_LEN + ihl, o);
	else if (ip[9] == IPPROTO_ICMP)
		model_icmp4(m, f, len, ihl, o);
	else
		o->why = W_OTHER_PROTO;
}

/* Replies to our probes carry no extension headers: a packet with them is not one. */
static void model_rx6(struct model *m, const uint8_t *f, size_t len, struct outcome *o)
{
	const uint8_t *ip = f + ETH_HDR_LEN;
	static const uint8_t ext[] = { 0, 43, 44, 50, 51, 60, 135, 139, 140 };

	if (len < ETH_HDR_LEN + IP6_HDR_LEN) {
		o->why = W_SHORT;
		return;
	}
	if (memcmp(ip + 24, m->k.src6, 16)) {
		o->why = W_NOT_OURS;
		return;
	}
	if (ip[6] == IPPROTO_TCP)
		model_tcp(m, f, len, AF_INET6, ip + 8, ETH_HDR_LEN + IP6_HDR_LEN, true, o);
	else if (ip[6] == IPPROTO_UDP)
		model_udp(m, f, len, AF_INET6, ip + 8, ETH_HDR_LEN + IP6_HDR_LEN, o);
	else if (ip[6] == PROTO_ICMP6)
		model_icmp6(m, f, len, o);
	else
		o->why = memchr(ext, ip[6], sizeof(ext)) ? W_EXTHDR : W_OTHER_PROTO;
}

/* What probe_rx must do with frame f: verdict, frame out, state changes in m. */
static void model_rx(struct model *m, const uint8_t *f, size_t len, struct outcome *o)
{
	o->verdict = XDP_PASS;
	memcpy(o->frame, f, len);
	o->len = len;
	o->slot = -1;
	o->why = W_NOT_IP;
	o->layer = L_OTHER;
	/* VLAN tags are not parsed: such a frame is the kernel's. */
	if (len >= ETH_HDR_LEN && get16(f + 12) == ETHERTYPE_IPV4) {
		o->layer = L_IP4;
		model_rx4(m, f, len, o);
	} else if (len >= ETH_HDR_LEN && get16(f + 12) == ETHERTYPE_IPV6) {
		o->layer = L_IP6;
		model_rx6(m, f, len, o);
	}
	m->seen[o->layer][o->why]++;
}

static void model_checks(struct model *m)
{
	static struct xdphc_udp_check u;

	for (size_t i = 0; i < NCHECKS; i++) {
		struct model_check *c = &m->chk[check_defs[i].id];

		check_from_def(&u, &check_defs[i]);
		c->cookie = u.cookie_off != XDPHC_NO_COOKIE;
		c->expect_len = u.expect_len;
		memcpy(c->expect, u.expect, u.expect_len);
	}
}

static int model_init(struct model *m, const struct rx *rx)
{
	memset(m, 0, sizeof(*m));
	m->k = rx->k;
	m->n = rx->n;
	m->exp = malloc((size_t)rx->n * sizeof(*m->exp));
	m->tuples = malloc((size_t)rx->n * sizeof(*m->tuples));
	if (!m->exp || !m->tuples)
		return -1;
	memcpy(m->exp, rx->sl.s, (size_t)rx->n * sizeof(*m->exp));
	for (uint32_t i = 0; i < rx->n; i++) {
		const struct xdphc_slot *s = &rx->sl.s[i];

		m->tuples[i] = (struct tuple){
			.family = s->family,
			.proto = s->proto,
			.port = ntohs(s->port),
			.slot = i,
		};
		memcpy(m->tuples[i].addr, s->addr, addr_len(s->family));
	}
	qsort(m->tuples, rx->n, sizeof(*m->tuples), tuple_cmp);
	model_checks(m);
	return 0;
}

static void model_free(struct model *m)
{
	free(m->exp);
	free(m->tuples);
}

/*
 * What slots_index() must guarantee for replies to find their slot: each
 * slot's source port in the range, no two slots on one target from one
 * port, every slot found by the table lookup probe_rx makes (slots_find()
 * is its C twin), UDP slots whatever port their probe drew.
 */
static void check_index(const char *name, const struct rx *rx, const struct model *m)
{
	uint32_t bad_port = 0, dup = 0, lost = 0;

	for (uint32_t i = 0; i < rx->n; i++) {
		const struct xdphc_slot *s = &rx->sl.s[i];
		struct xdphc_slot_key k = {
			.port = s->port, .sport = s->sport, .family = s->family, .proto = s->proto,
		};

		if ((uint16_t)(s->sport - rx->sport_lo) >= rx->sport_count)
			bad_port++;
		memcpy(k.addr, s->addr, sizeof(k.addr));
		if (slots_find(&rx->sl, &k) != i)
			lost++;
		for (uint32_t j = i + 1; j < rx->n && !tuple_cmp(&m->tuples[i], &m->tuples[j]); j++)
			if (m->exp[m->tuples[i].slot].sport == m->exp[m->tuples[j].slot].sport)
				dup++;
	}
	report(!bad_port && !dup && !lost, name,
	       "%u slots, %u buckets, %u UDP lanes: %u source ports out of range, "
	       "%u duplicate tuples, %u not found", rx->n, rx->sl.nbuckets, rx->sl.lanes,
	       bad_port, dup, lost);
}

/* ---- Frames ---- */

static uint8_t peer_mac[6], host_mac[6];

/* The IP header of a reply (or of an ICMP error's outer packet). */
struct l3 {
	uint8_t family;
	uint8_t saddr[16], daddr[16];
	uint8_t opt_words;	/* IPv4 options, 4-byte words */
	uint16_t frag_off;	/* IPv4 */
	uint8_t ext;		/* IPv6: an extension header of this type first, or NO_EXT */
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

/* An IPv6 header (traffic class and flow label as senders set them: anything). */
static void ip6_fill(uint8_t *ip, size_t payload_len, uint8_t nexthdr, const uint8_t *saddr,
		     const uint8_t *daddr)
{
	ip[0] = (uint8_t)(0x60 | (rnd_below(4) ? 0 : rnd_below(16)));
	ip[1] = rnd_below(2) ? 0 : (uint8_t)rnd32();
	ip[2] = rnd_below(2) ? 0 : (uint8_t)rnd32();
	ip[3] = (uint8_t)rnd32();
	put16(ip + 4, (uint16_t)payload_len);
	ip[6] = nexthdr;
	ip[7] = (uint8_t)(32 + rnd_below(224));
	memcpy(ip + 8, saddr, 16);
	memcpy(ip + 24, daddr, 16);
}

/* Ethernet and IP headers of a packet of l4len bytes of proto: the L4 header's offset. */
static size_t put_l3(uint8_t *f, const struct l3 *h, uint8_t proto, size_t l4len)
{
	uint8_t *ip = f + ETH_HDR_LEN, *x;
	size_t ext = h->ext == NO_EXT ? 0 : 8;

	if (h->family != AF_INET6) {
		eth_fill(f, ETHERTYPE_IPV4);
		ip_fill(ip, h->opt_words, 20 + h->opt_words * 4u + l4len, h->frag_off, proto,
			h->saddr, h->daddr);
		return ETH_HDR_LEN + 20 + h->opt_words * 4u;
	}
	eth_fill(f, ETHERTYPE_IPV6);
	ip6_fill(ip, ext + l4len, ext ? h->ext : proto, h->saddr, h->daddr);
	x = ip + IP6_HDR_LEN;
	if (ext) {
		/* 8 bytes: a fragment header (offset 0, last), or options that are all padding. */
		x[0] = proto;
		x[1] = 0;
		if (h->ext == 44) {
			put16(x + 2, 0);
			put32(x + 4, rnd32());
		} else {
			x[2] = 1;	/* PadN, 4 bytes of it */
			x[3] = 4;
			memset(x + 4, 0, 4);
		}
	}
	return ETH_HDR_LEN + IP6_HDR_LEN + ext;
}

static size_t pad_to(uint8_t *f, size_t len, size_t min_len)
{
	/* Padding is whatever the sender's buffer held: not always zeros. */
	for (; len < min_len; len++)
		f[len] = rnd_below(2) ? 0 : (uint8_t)rnd32();
	return len;
}

struct tcp_reply {
	struct l3 ip;
	uint16_t sport, dport;	/* TCP source (the backend's port) and destination (ours) */
	uint32_t seq, ack;
	uint8_t flags;
	uint8_t tcp_opt_len;	/* TCP options, bytes, a multiple of 4 */
	size_t min_len;		/* padded up to this (the Ethernet minimum), or 0 */
};

static size_t build_tcp(uint8_t *f, const struct tcp_reply *r)
{
	size_t tl = 20 + r->tcp_opt_len, off = put_l3(f, &r->ip, IPPROTO_TCP, tl);
	uint8_t *tcp = f + off;

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
	l4_csum(r->ip.family, r->ip.saddr, r->ip.daddr, IPPROTO_TCP, tcp, tl, 16);
	return pad_to(f, off + tl, r->min_len);
}

struct udp_reply {
	struct l3 ip;
	uint16_t sport, dport;	/* the backend's port, ours */
	const uint8_t *payload;
	size_t plen;
	int ulen;		/* the UDP length field, or -1: 8 + plen */
	size_t min_len;
};

static size_t build_udp(uint8_t *f, const struct udp_reply *r)
{
	size_t l4len = 8 + r->plen, off = put_l3(f, &r->ip, IPPROTO_UDP, l4len);
	uint8_t *udp = f + off;

	put16(udp, r->sport);
	put16(udp + 2, r->dport);
	put16(udp + 4, (uint16_t)(r->ulen < 0 ? (int)l4len : r->ulen));
	memcpy(udp + 8, r->payload, r->plen);
	l4_csum(r->ip.family, r->ip.saddr, r->ip.daddr, IPPROTO_UDP, udp, l4len, 6);
	return pad_to(f, off + l4len, r->min_len);
}

struct icmp_reply {
	struct l3 ip;			/* outer: the reporting router or backend, and us */
	uint8_t type, code;
	/* the quoted probe */
	uint8_t in_saddr[16], in_daddr[16];
	uint8_t in_ihl;			/* IPv4: header words as written in the quote */
	uint8_t in_opt_words;		/* IPv4: option words actually quoted */
	uint8_t in_proto;		/* protocol, or IPv6 next header */
	uint16_t in_sport, in_dport;
	uint32_t in_seq;		/* a SYN's */
	size_t quote_l4;		/* bytes of the probe's L4 quoted: 8 (RFC 792) to 24 */
	size_t min_len;
};

static size_t build_icmp(uint8_t *f, const struct icmp_reply *r)
{
	bool v6 = r->ip.family == AF_INET6;
	uint8_t fam = r->ip.family;
	size_t inhl = v6 ? IP6_HDR_LEN : 20 + r->in_opt_words * 4u;
	size_t icmplen = 8 + inhl + r->quote_l4;
	size_t off = put_l3(f, &r->ip, v6 ? PROTO_ICMP6 : IPPROTO_ICMP, icmplen);
	uint8_t *icmp = f + off, *in = icmp + 8, *q = in + inhl, probe[24];

	/* Our probe as the writer sends it, then cut where the reporter cut it. */
	memset(probe, 0, sizeof(probe));
	put16(probe, r->in_sport);
	put16(probe + 2, r->in_dport);
	if (r->in_proto == IPPROTO_UDP) {
		put16(probe + 4, sizeof(probe));
		rnd_bytes(probe + 8, 16);
		l4_csum(fam, r->in_saddr, r->in_daddr, IPPROTO_UDP, probe, sizeof(probe), 6);
	} else {
		put32(probe + 4, r->in_seq);
		probe[12] = 6 << 4;
		probe[13] = F_SYN;
		put16(probe + 14, 64240);
		probe[20] = 2;
		probe[21] = 4;
		put16(probe + 22, 1460);
		l4_csum(fam, r->in_saddr, r->in_daddr, IPPROTO_TCP, probe, sizeof(probe), 16);
	}
	memcpy(q, probe, r->quote_l4);

	if (v6) {
		memset(in, 0, IP6_HDR_LEN);
		in[0] = 0x60;
		put16(in + 4, sizeof(probe));
		in[6] = r->in_proto;
		in[7] = 64;
		memcpy(in + 8, r->in_saddr, 16);
		memcpy(in + 24, r->in_daddr, 16);
	} else {
		ip_fill(in, r->in_opt_words, inhl + sizeof(probe), 0x4000, r->in_proto,
			r->in_saddr, r->in_daddr);
		in[0] = (uint8_t)(0x40 | r->in_ihl);
		ip_csum(in);
	}
	icmp[0] = r->type;
	icmp[1] = r->code;
	/* The MTU of "fragmentation needed" and of "packet too big". */
	put32(icmp + 4, !v6 && r->code == 4 ? 1400 : v6 && r->type == 2 ? 1280 : 0);
	if (v6) {
		l4_csum(AF_INET6, r->ip.saddr, r->ip.daddr, PROTO_ICMP6, icmp, icmplen, 2);
	} else {
		put16(icmp + 2, 0);
		put16(icmp + 2, fold16(sum16(icmp, icmplen, 0)));
	}
	return pad_to(f, off + icmplen, r->min_len);
}

/* ---- The generator ---- */

#define RING 16

/* One reply of any kind, to be changed before it is built. */
enum rkind { R_TCP, R_UDP, R_ICMP };

struct any_reply {
	enum rkind kind;
	struct tcp_reply t;
	struct udp_reply u;
	struct icmp_reply i;
	uint8_t payload[FRAME_MAX];
};

struct gen {
	struct model *m;
	struct rx *rx;
	const uint16_t *ports;
	uint32_t nports, naddr;
	uint8_t ring[RING][FRAME_MAX];
	size_t ring_len[RING];
	uint32_t ring_n;
	struct any_reply ar;
	struct xdphc_slot gone[64];	/* released slots, to come back */
	uint32_t ngone;
	uint64_t dup_keys;		/* UDP ports drawn that another slot had */
};

static const uint8_t *slot_addr(const struct xdphc_slot *s)
{
	return (const uint8_t *)s->addr;
}

static enum kind slot_kind(const struct xdphc_slot *s)
{
	return (s->family == AF_INET6 ? 1 : 0) + (s->proto == IPPROTO_UDP ? 2 : 0);
}

static uint32_t slot_cookie(const struct model *m, const struct xdphc_slot *s, uint32_t gen)
{
	return model_cookie(&m->k, s->family, slot_addr(s), s->sport, ntohs(s->port), gen);
}

/*
 * An ISN for a reply to slot s: its fresh or stale cookie, or a wrong one.
 * Wrong ones include the right cookie with one bit flipped: a comparison of
 * fewer than 32 bits takes some of those, where random ISNs would need
 * about 2^16 tries to show it.
 */
static uint32_t pick_isn(const struct model *m, const struct xdphc_slot *s)
{
	uint32_t r = rnd_below(100), gen = s->gen, flip = 0;

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
	return slot_cookie(m, s, gen) ^ flip;
}

static const struct xdphc_slot *any_slot(const struct gen *g)
{
	return &g->m->exp[rnd_below(g->m->n)];
}

/* One bit of one of the address's 32-bit groups flipped: any group must count. */
static void flip_bit(uint8_t *addr, uint8_t family)
{
	addr[rnd_below((uint32_t)addr_len(family))] ^= (uint8_t)(1u << rnd_below(8));
}

/* The IP header of a reply from s's backend to us: DF, no options, no extension header. */
static void l3_of(struct l3 *h, const struct secret *k, const struct xdphc_slot *s)
{
	memset(h, 0, sizeof(*h));
	h->family = s->family;
	h->ext = NO_EXT;
	h->frag_off = 0x4000;
	memcpy(h->saddr, s->addr, addr_len(s->family));
	memcpy(h->daddr, our_addr_of(k, s->family), addr_len(s->family));
}

static void l3_reply(const struct gen *g, const struct xdphc_slot *s, struct l3 *h)
{
	l3_of(h, &g->m->k, s);
	h->frag_off = rnd_below(3) ? 0x4000 : 0;	/* DF alone is no fragment */
}

static void tcp_reply_for(const struct gen *g, const struct xdphc_slot *s, struct tcp_reply *r)
{
	static const uint8_t reply_flags[] = {
		F_SYN | F_ACK, F_SYN | F_ACK, F_SYN | F_ACK, F_RST | F_ACK, F_RST | F_ACK,
		F_RST, F_SYN | F_ACK | F_PSH, F_SYN | F_ACK | F_ECE,
	};

	memset(r, 0, sizeof(*r));
	l3_reply(g, s, &r->ip);
	r->sport = ntohs(s->port);
	r->dport = s->sport;
	r->flags = reply_flags[rnd_below(sizeof(reply_flags))];
	r->ack = pick_isn(g->m, s) + 1;
	r->seq = (r->flags & F_SYN) ? rnd32() : 0;
	r->min_len = rnd_below(4) ? MIN_FRAME : 0;
}

static void icmp_reply_for(const struct gen *g, const struct xdphc_slot *s,
			   struct icmp_reply *r)
{
	static const size_t quotes[] = { 8, 8, 20, 24 };
	bool v6 = s->family == AF_INET6;

	memset(r, 0, sizeof(*r));
	l3_reply(g, s, &r->ip);
	if (rnd_below(2)) {
		/* A router: 203.0.113.x, 2001:db8:ffff::x */
		if (v6)
			memcpy(r->ip.saddr, (const uint8_t[]){ 0x20, 0x01, 0x0d, 0xb8, 0xff, 0xff }, 6);
		else
			put32(r->ip.saddr, 0xcb007100u);
		r->ip.saddr[addr_len(s->family) - 1] = (uint8_t)rnd32();
	}
	r->type = v6 ? 1 : 3;
	r->code = (uint8_t)rnd_below(v6 ? 8 : 16);
	memcpy(r->in_saddr, our(g->m, s->family), addr_len(s->family));
	memcpy(r->in_daddr, s->addr, addr_len(s->family));
	r->in_ihl = 5;
	r->in_proto = s->proto;
	r->in_sport = s->sport;
	r->in_dport = ntohs(s->port);
	r->in_seq = s->proto == IPPROTO_TCP ? pick_isn(g->m, s) : rnd32();
	r->quote_l4 = quotes[rnd_below(4)];
	r->min_len = rnd_below(4) ? MIN_FRAME : 0;
}

/*
 * Filler between the pieces of a payload: random bytes, hex digits (to
 * tempt a cookie search), or the expect's prefix over and over (to tempt a
 * search that does not go back after a partial match).
 */
static void filler(const struct model_check *c, uint8_t *p, size_t n, uint32_t style)
{
	static const char hex[] = "0123456789abcdef";

	for (size_t i = 0; i < n; i++) {
		if (style == 0)
			p[i] = (uint8_t)rnd32();
		else if (style == 1)
			p[i] = (uint8_t)hex[rnd_below(16)];
		else
			p[i] = c->expect_len > 1 ? c->expect[i % (c->expect_len - 1u)] : 'a';
	}
}

/*
 * A reply's payload for UDP slot s: a cookie (this probe's, the one
 * before's, another's, a digit off, in capitals, or none) and an expect
 * (whole, short of its last byte, a bit off, or none) in either order
 * among filler; now and then the last piece where the search ends (across
 * byte 1472), or a UDP length (*ulen) that ends the datagram before the
 * frame does, so that what follows is padding.
 */
static size_t gen_payload(const struct gen *g, const struct xdphc_slot *s, uint8_t *p, int *ulen)
{
	static const char hex[] = "0123456789abcdef";
	const struct model_check *c = &g->m->chk[s->check];
	uint8_t ck[DIGITS], ex[XDPHC_EXPECT_MAX];
	const uint8_t *piece[2];
	size_t ckn = DIGITS, exn = 0, n, len[2], at, last;
	uint32_t r = rnd_below(100), gen = s->gen, style = rnd_below(3);

	*ulen = -1;
	if (r >= 50 && r < 62)
		gen = s->gen - 1;
	else if (r >= 62 && r < 66)
		gen = s->gen + 1;
	else if (r >= 66 && r < 70)
		gen = s->gen - 2;
	cookie_hex(slot_cookie(g->m, s, gen), ck);
	if (r >= 70 && r < 78) {
		uint32_t i = rnd_below(DIGITS);
		const char *h = strchr(hex, ck[i]);

		ck[i] = (uint8_t)hex[(h - hex + 1 + rnd_below(15)) % 16];
	} else if (r >= 78 && r < 84) {
		for (int i = 0; i < DIGITS; i++)
			ck[i] = (uint8_t)toupper(ck[i]);
	} else if (r >= 84) {
		ckn = 0;
	}
	r = rnd_below(100);
	if (c->expect_len) {
		memcpy(ex, c->expect, c->expect_len);
		exn = c->expect_len;
		if (r >= 60 && r < 70)
			exn--;
		else if (r >= 70 && r < 76)
			ex[rnd_below((uint32_t)exn)] ^= (uint8_t)(1u << rnd_below(8));
		else if (r >= 76)
			exn = 0;
	} else if (r < 30) {
		exn = 1 + rnd_below(16);
		rnd_bytes(ex, exn);
	}
	r = rnd_below(2);
	piece[r] = ck;
	len[r] = ckn;
	piece[!r] = ex;
	len[!r] = exn;

	n = rnd_below(20) ? rnd_below(40) : rnd_below(1400);
	filler(c, p, n, style);
	memcpy(p + n, piece[0], len[0]);
	n += len[0];
	at = rnd_below(24);
	filler(c, p + n, at, style);
	n += at;
	/* The last piece where the search ends: inside it, across it, past it. */
	if (len[1] && rnd_below(10) == 0) {
		at = HAY_MAX - len[1] + rnd_below((uint32_t)len[1] + 2);
		if (at > n) {
			filler(c, p + n, at - n, style);
			n = at;
		}
	}
	last = n;
	memcpy(p + n, piece[1], len[1]);
	n += len[1];
	at = rnd_below(3) ? rnd_below(24) : 0;
	filler(c, p + n, at, style);
	n += at;
	r = rnd_below(100);
	if (r < 8)
		*ulen = (int)(8 + last + rnd_below((uint32_t)len[1] + 1));
	else if (r < 10)
		*ulen = (int)rnd_below(8);		/* shorter than its own header */
	else if (r < 12)
		*ulen = (int)(8 + n + 1 + rnd_below(100));	/* past the frame */
	return n;
}

static void udp_reply_for(const struct gen *g, const struct xdphc_slot *s, struct udp_reply *r,
			  uint8_t *payload)
{
	memset(r, 0, sizeof(*r));
	l3_reply(g, s, &r->ip);
	r->sport = ntohs(s->port);
	r->dport = s->sport;
	r->payload = payload;
	r->plen = gen_payload(g, s, payload, &r->ulen);
	r->min_len = rnd_below(4) ? MIN_FRAME : 0;
}

/*
 * A reply to slot s as its probe gets them: TCP segments (with options now
 * and then) or UDP datagrams, and ICMP errors quoting the probe.  The IP
 * header of what it returns can be changed before any_build().
 */
static struct l3 *any_reply_for(struct gen *g, const struct xdphc_slot *s, struct any_reply *a)
{
	if (rnd_below(4) == 0) {
		a->kind = R_ICMP;
		icmp_reply_for(g, s, &a->i);
		return &a->i.ip;
	}
	if (s->proto == IPPROTO_UDP) {
		a->kind = R_UDP;
		udp_reply_for(g, s, &a->u, a->payload);
		return &a->u.ip;
	}
	a->kind = R_TCP;
	tcp_reply_for(g, s, &a->t);
	if (rnd_below(4) == 0)
		a->t.tcp_opt_len = (uint8_t)(4 * (1 + rnd_below(10)));
	return &a->t.ip;
}

static size_t any_build(uint8_t *f, const struct any_reply *a)
{
	if (a->kind == R_ICMP)
		return build_icmp(f, &a->i);
	if (a->kind == R_UDP)
		return build_udp(f, &a->u);
	return build_tcp(f, &a->t);
}

static const char *kind_label(const struct xdphc_slot *s, const char *const labels[K_MAX])
{
	return labels[slot_kind(s)];
}

static size_t gen_random(const struct gen *g, uint8_t *f)
{
	size_t len = ETH_HDR_LEN + rnd_below(200);
	uint8_t *ip = f + ETH_HDR_LEN;
	const struct xdphc_slot *s = any_slot(g);
	static const uint8_t protos[] = { IPPROTO_TCP, IPPROTO_UDP, IPPROTO_ICMP, PROTO_ICMP6 };

	rnd_bytes(f, len);
	switch (rnd_below(6)) {
	case 0:
		break;
	case 1:
		put16(f + 12, rnd_below(2) ? ETHERTYPE_IPV4 : ETHERTYPE_IPV6);
		break;
	case 2:
		/* Deep enough to reach the protocol handlers. */
		if (len < ETH_HDR_LEN + 20)
			len = ETH_HDR_LEN + 20 + rnd_below(100);
		put16(f + 12, ETHERTYPE_IPV4);
		ip[0] = (uint8_t)(0x40 | (rnd_below(3) ? 5 : rnd_below(16)));
		ip[6] &= rnd_below(2) ? 0x40 : 0xff;
		ip[7] = rnd_below(2) ? 0 : ip[7];
		ip[9] = protos[rnd_below(3)];
		memcpy(ip + 16, g->m->k.src4, 4);
		break;
	case 3:
		if (len < ETH_HDR_LEN + IP6_HDR_LEN)
			len = ETH_HDR_LEN + IP6_HDR_LEN + rnd_below(100);
		put16(f + 12, ETHERTYPE_IPV6);
		ip[0] = 0x60;
		ip[6] = rnd_below(4) ? protos[rnd_below(4)] : ip[6];
		memcpy(ip + 24, g->m->k.src6, 16);
		break;
	default:
		/* A probe's tuple, every other byte random: forged or no reply at all. */
		if (s->family == AF_INET6) {
			len = ETH_HDR_LEN + IP6_HDR_LEN + 8 + rnd_below(60);
			rnd_bytes(f, len);
			put16(f + 12, ETHERTYPE_IPV6);
			ip[0] = 0x60;
			ip[6] = s->proto;
			memcpy(ip + 8, s->addr, 16);
			memcpy(ip + 24, g->m->k.src6, 16);
			ip += IP6_HDR_LEN - 20;	/* L4 at ip + 20 below */
		} else {
			len = ETH_HDR_LEN + 40 + rnd_below(60);
			rnd_bytes(f, len);
			put16(f + 12, ETHERTYPE_IPV4);
			ip[0] = 0x45;
			put16(ip + 6, 0);
			ip[9] = s->proto;
			memcpy(ip + 12, s->addr, 4);
			memcpy(ip + 16, g->m->k.src4, 4);
		}
		put16(ip + 20, ntohs(s->port));
		put16(ip + 22, s->sport);
		break;
	}
	return len;
}

/* Replies with something odd in their IP header or ICMP quote. */
static size_t gen_odd(struct gen *g, const struct xdphc_slot *s, uint8_t *f, const char **label)
{
	static const uint8_t exts[] = { 0, 43, 44, 60 };
	/* ICMPv6 packet too big (2) is no answer: the probe got through to a router. */
	static const uint8_t types4[] = { 0, 4, 5, 8, 11, 12, 13, 14 };
	static const uint8_t types6[] = { 2, 2, 3, 4, 128, 129, 135, 136, 0 };
	bool v6 = s->family == AF_INET6;
	size_t proto_at = ETH_HDR_LEN + (v6 ? 6 : 9), len;
	struct any_reply *a = &g->ar;
	struct l3 *h;
	uint8_t p;

	switch (rnd_below(11)) {
	case 0:
		/* The bytes of a reply under another protocol number (next header). */
		*label = "other ip protocol";
		any_reply_for(g, s, a);
		len = any_build(f, a);
		do
			p = rnd_below(2) ? IPPROTO_GRE : (uint8_t)rnd32();
		while (p == IPPROTO_TCP || p == IPPROTO_UDP || p == (v6 ? PROTO_ICMP6 : IPPROTO_ICMP));
		f[proto_at] = p;
		if (!v6)
			ip_csum(f + ETH_HDR_LEN);
		return len;
	case 1:
		*label = "tcp reply, other flags";
		tcp_reply_for(g, s, &a->t);
		a->t.flags = (uint8_t)rnd32();
		return build_tcp(f, &a->t);
	case 2:
	case 3:
		h = any_reply_for(g, s, a);
		if (v6) {
			*label = "ipv6 extension header";
			h->ext = exts[rnd_below(sizeof(exts))];
		} else if (rnd_below(2)) {
			*label = "reply with ip options";
			h->opt_words = (uint8_t)(1 + rnd_below(10));
		} else {
			/* MF, an offset, or both, with or without DF (nonsense, but seen). */
			*label = "fragment";
			h->frag_off = (uint16_t)(rnd_below(2) ? 0x2000 : 0) |
				      (uint16_t)rnd_below(0x2000);
			if (!(h->frag_off & 0x3fff))
				h->frag_off |= 0x2000;
			h->frag_off |= rnd_below(2) ? 0x4000 : 0;
		}
		return any_build(f, a);
	case 4:
		if (v6)
			break;
		*label = "ihl below 5";
		any_reply_for(g, s, a);
		len = any_build(f, a);
		f[ETH_HDR_LEN] = (uint8_t)(0x40 | rnd_below(5));
		return len;
	default:
		break;
	}
	icmp_reply_for(g, s, &a->i);
	switch (rnd_below(7)) {
	case 0:
		*label = "icmp: inner saddr not ours";
		if (rnd_below(3))
			flip_bit(a->i.in_saddr, s->family);
		else
			memcpy(a->i.in_saddr, v6 ? other_local6 : other_local, addr_len(s->family));
		break;
	case 1:
		*label = "icmp: quote too short";
		a->i.quote_l4 = rnd_below(8);
		a->i.min_len = 0;
		break;
	case 2:
		*label = "icmp: quoted other protocol";
		do
			p = rnd_below(2) ? (v6 ? PROTO_ICMP6 : IPPROTO_ICMP) : (uint8_t)rnd32();
		while (p == IPPROTO_TCP || p == IPPROTO_UDP);
		a->i.in_proto = v6 && rnd_below(4) == 0 ? 44 : p;
		break;
	case 3:
		*label = "icmp: quoted other l4 protocol";
		a->i.in_proto = s->proto == IPPROTO_TCP ? IPPROTO_UDP : IPPROTO_TCP;
		break;
	case 4:
		*label = "icmp other type";
		a->i.type = v6 ? types6[rnd_below(sizeof(types6))] : types4[rnd_below(sizeof(types4))];
		break;
	case 5:
		if (v6) {
			*label = "icmpv6 packet too big";
			a->i.type = 2;
			break;
		}
		*label = "icmp: inner ihl != 5";
		a->i.in_ihl = (uint8_t)rnd_below(16);
		if (a->i.in_ihl > 5 && rnd_below(2))
			a->i.in_opt_words = (uint8_t)(a->i.in_ihl - 5);
		break;
	default:
		*label = "icmp with ip options";
		a->i.ip.opt_words = (uint8_t)(1 + rnd_below(10));	/* IPv6: none */
		break;
	}
	return build_icmp(f, &a->i);
}

/*
 * A reply on a tuple next to s's: another of our ports, a port out of our
 * range, an address or a backend port no slot probes.  The cookie is the
 * one that tuple would have: only the tuple is wrong (or it is another
 * slot's, and then a candidate).
 */
static size_t gen_wrong_tuple(struct gen *g, const struct xdphc_slot *s, uint8_t *f,
			      const char **label)
{
	struct xdphc_slot t = *s;
	uint8_t *a = (uint8_t *)t.addr;

	switch (rnd_below(4)) {
	case 0:
		*label = "other source port in range";
		t.sport = (uint16_t)(g->rx->sport_lo + rnd_below(g->rx->sport_count));
		break;
	case 1:
		*label = "source port out of range";
		t.sport = (uint16_t)(g->rx->sport_lo + g->rx->sport_count +
				     rnd_below(65536 - g->rx->sport_count));
		break;
	case 2:
		*label = "unprobed backend";
		if (rnd_below(2))
			flip_bit(a, s->family);
		else if (rnd_below(2))
			backend_addr(s->family, g->naddr + rnd_below(1000), a);
		else
			rnd_bytes(a, addr_len(s->family));
		break;
	default:
		*label = "probed backend, other port";
		t.port = htons((uint16_t)(1 + rnd_below(65535)));
		break;
	}
	any_reply_for(g, &t, &g->ar);
	return any_build(f, &g->ar);
}

/* The family or protocol of another kind of probe on s's tuple. */
static size_t gen_confused(struct gen *g, const struct xdphc_slot *s, uint8_t *f,
			   const char **label)
{
	struct xdphc_slot t = *s;
	uint8_t tmp[FRAME_MAX], *ip = f + ETH_HDR_LEN;
	size_t len;

	if (rnd_below(3)) {
		*label = s->proto == IPPROTO_TCP ? "udp on a tcp probe's tuple" :
						   "tcp on a udp probe's tuple";
		t.proto = s->proto == IPPROTO_TCP ? IPPROTO_UDP : IPPROTO_TCP;
		t.check = 0;
		any_reply_for(g, &t, &g->ar);
		return any_build(f, &g->ar);
	}
	if (s->family == AF_INET6) {
		/* An IPv6 packet's bytes under IPv4's ethertype. */
		*label = "ipv6 reply as ipv4";
		any_reply_for(g, s, &g->ar);
		len = any_build(f, &g->ar);
		put16(f + 12, ETHERTYPE_IPV4);
		return len;
	}
	/* The same reply behind an IPv6 header, to and from IPv4-mapped addresses. */
	*label = "ipv4 reply in ipv6";
	any_reply_for(g, s, &g->ar);
	g->ar.kind = g->ar.kind == R_ICMP ? R_TCP : g->ar.kind;
	if (g->ar.kind == R_TCP)
		tcp_reply_for(g, s, &g->ar.t);
	len = any_build(tmp, &g->ar) - ETH_HDR_LEN - 20;
	eth_fill(f, ETHERTYPE_IPV6);
	memset(ip, 0, IP6_HDR_LEN);
	ip[0] = 0x60;
	put16(ip + 4, (uint16_t)len);
	ip[6] = s->proto;
	ip[7] = 64;
	ip[18] = ip[19] = ip[34] = ip[35] = 0xff;	/* ::ffff:a.b.c.d */
	memcpy(ip + 20, s->addr, 4);
	memcpy(ip + 36, g->m->k.src4, 4);
	memcpy(ip + IP6_HDR_LEN, tmp + ETH_HDR_LEN + 20, len);
	return ETH_HDR_LEN + IP6_HDR_LEN + len;
}

static size_t gen_frame(struct gen *g, uint8_t *f, const char **label)
{
	static const char *const reply_labels[K_MAX] = {
		"tcp4 reply", "tcp6 reply", "udp4 reply", "udp6 reply",
	};
	static const char *const icmp_labels[K_MAX] = {
		"icmp quoting a tcp4 probe", "icmpv6 quoting a tcp6 probe",
		"icmp quoting a udp4 probe", "icmpv6 quoting a udp6 probe",
	};
	const struct xdphc_slot *s = any_slot(g);
	uint32_t r = rnd_below(1000);
	uint8_t tmp[FRAME_MAX];
	struct l3 *h;
	size_t len;

	if (r < 50) {
		*label = "random bytes";
		return gen_random(g, f);
	}
	if (r < 500) {
		any_reply_for(g, s, &g->ar);
		*label = kind_label(s, g->ar.kind == R_ICMP ? icmp_labels : reply_labels);
		return any_build(f, &g->ar);
	}
	if (r < 550) {
		*label = "truncated reply";
		any_reply_for(g, s, &g->ar);
		len = any_build(f, &g->ar);
		return ETH_HDR_LEN + rnd_below((uint32_t)(len - ETH_HDR_LEN));
	}
	if (r < 580) {
		*label = "vlan-tagged reply";
		any_reply_for(g, s, &g->ar);
		len = any_build(tmp, &g->ar);
		memcpy(f, tmp, 12);
		put16(f + 12, rnd_below(4) ? ETHERTYPE_VLAN : ETHERTYPE_QINQ);
		put16(f + 14, (uint16_t)rnd32());
		memcpy(f + 16, tmp + 12, len - 12);
		return len + 4;
	}
	if (r < 700)
		return gen_odd(g, s, f, label);
	if (r < 750)
		return gen_confused(g, s, f, label);
	if (r < 790) {
		*label = "to another local address";
		h = any_reply_for(g, s, &g->ar);
		if (s->family == AF_INET6 && rnd_below(2))
			flip_bit(h->daddr, AF_INET6);
		else
			memcpy(h->daddr, s->family == AF_INET6 ? other_local6 : other_local,
			       addr_len(s->family));
		return any_build(f, &g->ar);
	}
	if (r < 930 || !g->ring_n)
		return gen_wrong_tuple(g, s, f, label);
	{
		uint32_t i = rnd_below(g->ring_n < RING ? g->ring_n : RING);

		*label = "replayed frame";
		memcpy(f, g->ring[i], g->ring_len[i]);
		return g->ring_len[i];
	}
}

/*
 * Replies find a slot by its key: after a UDP probe drew its port, no other
 * slot on its target may have that port.
 */
static void check_unique_key(struct gen *g, uint32_t j)
{
	const struct model *m = g->m;
	const struct xdphc_slot *s = &g->rx->sl.s[j];

	for (uint32_t i = 0; i < m->n; i++) {
		const struct xdphc_slot *o = &g->rx->sl.s[i];

		if (i == j || !o->family || o->sport != s->sport || o->port != s->port ||
		    o->proto != s->proto || o->family != s->family ||
		    memcmp(o->addr, s->addr, sizeof(o->addr)))
			continue;
		if (++g->dup_keys <= SHOW_MAX)
			fprintf(stderr, "  slot %u drew port %u, which slot %u of the same target "
				"has (lanes %u)\n", j, s->sport, i, g->rx->sl.lanes);
		return;
	}
}

/*
 * A backend leaves: its slot is released, its table entry becomes a
 * tombstone that lookups go on past.  Or one that left comes back, on its
 * old slot and key, and slots_add() gives it a port (maybe another).
 */
static void gen_leave_or_return(struct gen *g, uint32_t j)
{
	struct rx *rx = g->rx;
	struct xdphc_slot *s;
	char err[256];

	if (g->ngone && (g->ngone == 64 || rnd_below(2))) {
		uint32_t i = rnd_below(g->ngone);
		struct xdphc_slot k = g->gone[i];

		g->gone[i] = g->gone[--g->ngone];
		j = k.t;	/* the slot id, kept there */
		s = &rx->sl.s[j];
		slots_claim(&rx->sl, j, k.family, k.proto, k.addr, k.port, k.check);
		s->gen = rnd32();
		s->t = mono_us();
		if (!slots_add(&rx->sl, j, rx->sport_lo, rx->sport_count, err, sizeof(err)) &&
		    s->proto == IPPROTO_UDP)
			s->sport = udp_sport(rx, s);
	} else {
		s = &rx->sl.s[j];
		if (!s->family || j < 3)
			return;
		g->gone[g->ngone] = *s;
		g->gone[g->ngone++].t = j;
		slots_release(&rx->sl, j);
	}
	g->m->exp[j] = *s;
}

/*
 * What the controller does between replies: a new probe on a slot (gen + 1,
 * a new send time, for UDP a new source port), a send that failed for the
 * current generation, a backend that leaves or comes back.
 */
static void gen_event(struct gen *g)
{
	uint32_t j = rnd_below(g->m->n), r = rnd_below(100);
	struct xdphc_slot *s = &g->rx->sl.s[j], *e = &g->m->exp[j];

	if (r >= 94) {
		gen_leave_or_return(g, j);
		return;
	}
	if (r < 80) {
		/* As probe_tx would, the new probe leaves now. */
		slots_arm(&g->rx->sl, j);
		s->t = mono_us();
		if (s->proto == IPPROTO_UDP)
			check_unique_key(g, j);
	} else if (r < 90) {
		/* A resend: the same generation, the first send's time kept. */
		s->flags |= XDPHC_SLOT_F_RESEND;
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
	fprintf(stderr, "  %s: frame %" PRIu64 " (%s, model: %s%s): %s\n", c->name, c->frames,
		label, layer_name[c->o.layer], why_name[c->o.why], what);
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
			 "slot %u (%s): result %016" PRIx64 " t %u, expected result %016" PRIx64
			 " t %u", i, kind_name[slot_kind(e)], (uint64_t)a->result, a->t,
			 (uint64_t)e->result, e->t);
		show_mismatch(c, label, f, len, what);
		return false;
	}
	return true;
}

static const char *const counter_name[XDPHC_CNT_MAX] = {
	"TX", "TX_NO_NEIGH", "TX_NO_ROUTE", "TX_ERROR", "RX_SYNACK", "RX_RST", "RX_ICMP",
	"RX_FORGED", "RX_STALE", "RX_DUP", "RST_SENT", "RX_UDP", "RX_MISMATCH",
};

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
			snprintf(what, sizeof(what), "counter %s = %" PRIu64 ", expected %" PRIu64,
				 counter_name[i], cnt[i], c->m->cnt[i]);
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

/* The first slot of kind k from slot i on, or NULL. */
static const struct xdphc_slot *slot_of_kind(const struct model *m, uint32_t i, enum kind k)
{
	for (uint32_t n = 0; n < m->n; n++) {
		const struct xdphc_slot *s = &m->exp[(i + n) % m->n];

		if (slot_kind(s) == k)
			return s;
	}
	return NULL;
}

/* Every length of replies that must be answers when whole: fresh cookies, each kind. */
static void truncation_templates(struct gen *g, struct mcheck *c)
{
	static uint8_t f[FRAME_MAX];
	struct any_reply *a = &g->ar;
	const struct xdphc_slot *s;
	uint32_t at = 0;

	for (int k = 0; k < 16; k++) {
		enum kind kind = (enum kind)(k % K_MAX);

		/* A fresh cookie each time: a slot no earlier frame answered. */
		at += g->m->n / 17 + 1;
		s = slot_of_kind(g->m, at, kind);
		if (!s)
			continue;
		if (kind_proto(kind) == IPPROTO_UDP) {
			udp_reply_for(g, s, &a->u, a->payload);
			if (k < 8) {
				/* The cookie and the whole expect, at the end of the payload. */
				const struct model_check *mc = &g->m->chk[s->check];
				uint8_t *p = a->payload;

				cookie_hex(slot_cookie(g->m, s, s->gen), p);
				memcpy(p + DIGITS, mc->expect, mc->expect_len);
				a->u.plen = DIGITS + mc->expect_len;
				a->u.ulen = -1;
				a->u.min_len = 0;
				check_truncations(c, f, build_udp(f, &a->u), "truncated udp reply");
			} else {
				icmp_reply_for(g, s, &a->i);
				a->i.quote_l4 = k < 12 ? 8 : 24;
				a->i.min_len = 0;
				check_truncations(c, f, build_icmp(f, &a->i), "truncated icmp, udp");
			}
			continue;
		}
		tcp_reply_for(g, s, &a->t);
		a->t.ack = 1 + slot_cookie(g->m, s, s->gen);
		switch (k / K_MAX) {
		case 0:
			a->t.flags = F_SYN | F_ACK;
			a->t.min_len = MIN_FRAME;
			a->t.tcp_opt_len = k & 1 ? 20 : 0;  /* MSS, SACK, timestamps, window scale */
			check_truncations(c, f, build_tcp(f, &a->t), "truncated syn-ack");
			break;
		case 1:
			/* IPv4: a SYN-ACK with IP options (no RST in place); IPv6: an RST. */
			a->t.flags = k & 1 ? F_RST | F_ACK : F_SYN | F_ACK;
			a->t.min_len = 0;
			a->t.ip.opt_words = 3;
			check_truncations(c, f, build_tcp(f, &a->t), "truncated reply, ip options");
			break;
		case 2:
			icmp_reply_for(g, s, &a->i);
			a->i.in_seq = a->t.ack - 1;
			a->i.quote_l4 = 24;
			a->i.ip.opt_words = 2;
			a->i.min_len = 0;
			check_truncations(c, f, build_icmp(f, &a->i), "truncated icmp");
			break;
		default:
			a->t.flags = F_SYN | F_ACK;
			a->t.ack = 1 + slot_cookie(g->m, s, s->gen - 1);
			check_truncations(c, f, build_tcp(f, &a->t), "truncated stale syn-ack");
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
	struct mix mix;
};

static void model_test(int ifindex, const struct model_cfg *mc)
{
	static struct mcheck c;
	static struct model m;
	static uint8_t f[FRAME_MAX];
	struct gen *g = calloc(1, sizeof(*g));
	struct rx rx;
	const char *label;
	char name[128], err[256] = "";
	double t0 = mono_s();
	uint32_t missing = 0;
	char miss[1024] = "";
	uint64_t nk[K_MAX] = { 0 };
	size_t len;

	snprintf(name, sizeof(name), "model %s: load", mc->name);
	if (!g || rx_load(&rx, ifindex, mc->n, mc->sport_lo, mc->sport_count)) {
		report(false, name, "probe_rx did not load");
		free(g);
		return;
	}
	if (fill_backends(&rx, mc->naddr, mc->ports, mc->nports, &mc->mix, err, sizeof(err)) ||
	    model_init(&m, &rx)) {
		report(false, name, "slots_index: %s", err);
		rx_close(&rx);
		free(g);
		return;
	}
	for (uint32_t i = 0; i < rx.n; i++)
		nk[slot_kind(&rx.sl.s[i])]++;
	snprintf(name, sizeof(name), "model %s: slot table", mc->name);
	check_index(name, &rx, &m);

	memset(&c, 0, sizeof(c));
	snprintf(name, sizeof(name), "model %s: %u backends (%" PRIu64 " tcp4, %" PRIu64 " tcp6, %"
		 PRIu64 " udp4, %" PRIu64 " udp6), ports %u-%u", mc->name, mc->n, nk[K_TCP4],
		 nk[K_TCP6], nk[K_UDP4], nk[K_UDP6], mc->sport_lo,
		 mc->sport_lo + mc->sport_count - 1);
	c.name = name;
	c.rx = &rx;
	c.m = &m;
	c.full_every_frame = (size_t)mc->n * sizeof(struct xdphc_slot) <= 256 * 1024;
	g->m = &m;
	g->rx = &rx;
	g->ports = mc->ports;
	g->nports = mc->nports;
	g->naddr = mc->naddr;

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

	for (int l = 0; l < L_MAX; l++) {
		for (int w = 0; w < W_MAX; w++) {
			if (m.seen[l][w] || !why_expected((enum layer)l, (enum why)w))
				continue;
			missing++;
			snprintf(miss + strlen(miss), sizeof(miss) - strlen(miss), " %s%s",
				 layer_name[l], why_name[w]);
		}
	}
	{
		uint64_t sum[W_MAX] = { 0 }, nl[L_MAX] = { 0 }, other = 0;

		for (int l = 0; l < L_MAX; l++) {
			for (int w = 0; w < W_MAX; w++) {
				sum[w] += m.seen[l][w];
				nl[l] += m.seen[l][w];
			}
		}
		for (int w = W_NOT_IP; w <= W_NO_SLOT; w++)
			other += sum[w];
		report(!c.bad && !missing && !g->dup_keys, name,
		       "%" PRIu64 " frames (%" PRIu64 " v4, %" PRIu64 " v6), %" PRIu64
		       " mismatches, %" PRIu64 " udp ports drawn twice, %.1f s; %" PRIu64
		       " not candidates, %" PRIu64 " forged, %"
		       PRIu64 " fresh tcp/icmp, %" PRIu64 " stale, %" PRIu64 " udp replies (%"
		       PRIu64 " mismatched), %" PRIu64 " dup, %" PRIu64 " trimmed%s%s",
		       c.frames, nl[L_IP4], nl[L_IP6], c.bad, g->dup_keys, mono_s() - t0, other,
		       sum[W_FORGED] + sum[W_UDP_FORGED],
		       sum[W_SYNACK_FRESH] + sum[W_RST_FRESH] + sum[W_ICMP_FRESH] + sum[W_ICMP_UDP],
		       sum[W_SYNACK_STALE] + sum[W_RST_STALE] + sum[W_ICMP_STALE] + sum[W_UDP_STALE],
		       sum[W_UDP_ANY] + sum[W_UDP_REPLY] + sum[W_UDP_MISMATCH], sum[W_UDP_MISMATCH],
		       sum[W_DUP], sum[W_TRIMMED], missing ? "; never seen:" : "", miss);
	}
	model_free(&m);
	rx_close(&rx);
	free(g);
}

/* ---- Forgery at scale ---- */

/*
 * A UDP payload carrying 8 random lowercase hex digits where the cookie
 * would be (among more hex digits) and the check's whole expect: were the
 * cookie not checked, it would be taken for a reply.  Never the fresh or
 * the stale cookie (c0, c1) anywhere in it.
 */
static size_t forged_payload(const struct model_check *mc, uint32_t c0, uint32_t c1, uint8_t *p)
{
	static const char hex[] = "0123456789abcdef";
	uint8_t d0[DIGITS], d1[DIGITS];
	size_t n;

	cookie_hex(c0, d0);
	cookie_hex(c1, d1);
	do {
		size_t lead = DIGITS + rnd_below(40), tail = rnd_below(24);

		for (n = 0; n < lead; n++)
			p[n] = (uint8_t)hex[rnd_below(16)];
		memcpy(p + n, mc->expect, mc->expect_len);
		n += mc->expect_len;
		for (size_t i = 0; i < tail; i++)
			p[n++] = (uint8_t)hex[rnd_below(16)];
	} while (find_bytes(p, n, d0, DIGITS) || find_bytes(p, n, d1, DIGITS));
	return n;
}

/*
 * n backends on 16 source ports; `frames` replies on real probe tuples
 * (a random slot's backend address and port, the source port its probe
 * has): to TCP probes a third each SYN-ACK, RST and ICMP destination
 * unreachable quoting our SYN, with random ack/seq; to UDP probes (whose
 * checks all have a cookie) datagrams with random digits and the check's
 * expect.  None may be taken for an answer.
 *
 * A random ISN or digit string is the fresh or the stale cookie with
 * probability 2 / 2^32, so 10^6 forgeries would be accepted 10^6 * 2 / 2^32
 * ~ 0.0005 times on average (a stale acceptance would record nothing, only
 * drop).  Those rare draws are redrawn, with the model's cookie, so that a
 * failure here is always a bug and never bad luck.
 */
static void forgery_test(int ifindex, const char *what, uint32_t n, uint32_t naddr,
			 uint64_t frames, const struct mix *mx)
{
	static const uint16_t ports[] = { 80, 443, 8080, 8443, 3306, 5432, 6379, 9000 };
	static uint8_t out[OUT_MAX], payload[FRAME_MAX], f[FRAME_MAX];
	static struct model m;
	struct rx rx;
	struct xdphc_slot *before;
	uint64_t cnt[XDPHC_CNT_MAX], bad = 0, other = 0, nk[K_MAX] = { 0 };
	uint32_t changed = 0, answered = 0;
	char name[160], err[256] = "";
	double t0 = mono_s(), t_run;

	snprintf(name, sizeof(name), "forgery: %" PRIu64 " forged replies (%s), %u backends, "
		 "16 source ports", frames, what, n);
	if (rx_load(&rx, ifindex, n, 40000, 16)) {
		report(false, name, "probe_rx did not load");
		return;
	}
	if (fill_backends(&rx, naddr, ports, 8, mx, err, sizeof(err)) || model_init(&m, &rx)) {
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
		struct tcp_reply tr;
		struct icmp_reply ir;
		struct udp_reply ur;
		uint32_t isn, c0, c1, verdict;
		size_t len, out_len;
		int e;

		c0 = slot_cookie(&m, s, s->gen);
		c1 = slot_cookie(&m, s, s->gen - 1);
		nk[slot_kind(s)]++;
		if (s->proto == IPPROTO_UDP) {
			memset(&ur, 0, sizeof(ur));
			l3_of(&ur.ip, &m.k, s);
			ur.sport = ntohs(s->port);
			ur.dport = s->sport;
			ur.payload = payload;
			ur.plen = forged_payload(&m.chk[s->check], c0, c1, payload);
			ur.ulen = -1;
			ur.min_len = MIN_FRAME;
			len = build_udp(f, &ur);
		} else {
			do
				isn = rnd32();
			while (isn == c0 || isn == c1);
			if (i % 3 == 2) {
				memset(&ir, 0, sizeof(ir));
				l3_of(&ir.ip, &m.k, s);
				ir.type = s->family == AF_INET6 ? 1 : 3;
				ir.code = (uint8_t)(i % (s->family == AF_INET6 ? 8 : 16));
				ir.in_ihl = 5;
				ir.in_proto = IPPROTO_TCP;
				ir.in_sport = s->sport;
				ir.in_dport = ntohs(s->port);
				ir.in_seq = isn;
				ir.quote_l4 = i & 8 ? 24 : 8;
				ir.min_len = MIN_FRAME;
				memcpy(ir.in_saddr, our(&m, s->family), addr_len(s->family));
				memcpy(ir.in_daddr, s->addr, addr_len(s->family));
				len = build_icmp(f, &ir);
			} else {
				memset(&tr, 0, sizeof(tr));
				l3_of(&tr.ip, &m.k, s);
				tr.sport = ntohs(s->port);
				tr.dport = s->sport;
				tr.ack = isn + 1;
				tr.flags = i % 3 ? F_RST | F_ACK : F_SYN | F_ACK;
				tr.seq = i % 3 ? 0 : rnd32();
				tr.min_len = MIN_FRAME;
				len = build_tcp(f, &tr);
			}
		}
		e = rx_run(&rx, f, len, out, &out_len, &verdict);
		if (!e && verdict == XDP_PASS && out_len == len && !memcmp(out, f, len))
			continue;
		if (++bad <= SHOW_MAX) {
			fprintf(stderr, "  forgery: frame %" PRIu64 " (%s): %s, verdict %s, %zu bytes "
				"out of %zu%s\n", i, kind_name[slot_kind(s)],
				e ? strerror(-e) : "accepted", verdict_name(verdict), out_len, len,
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
	       name, "%" PRIu64 " tcp4, %" PRIu64 " tcp6, %" PRIu64 " udp4, %" PRIu64 " udp6: %"
	       PRIu64 " not passed untouched, %u slots changed (%u answered), RX_FORGED %" PRIu64
	       ", SYNACK %" PRIu64 " RST %" PRIu64 " ICMP %" PRIu64 " UDP %" PRIu64 " STALE %"
	       PRIu64 ", other counters %" PRIu64 "; %.0f frames/s, %.1f s",
	       nk[K_TCP4], nk[K_TCP6], nk[K_UDP4], nk[K_UDP6], bad, changed, answered,
	       cnt[XDPHC_CNT_RX_FORGED], cnt[XDPHC_CNT_RX_SYNACK], cnt[XDPHC_CNT_RX_RST],
	       cnt[XDPHC_CNT_RX_ICMP], cnt[XDPHC_CNT_RX_UDP], cnt[XDPHC_CNT_RX_STALE], other,
	       frames / t_run, mono_s() - t0);
	free(before);
out:
	model_free(&m);
	rx_close(&rx);
}

/* ---- The probe writer ---- */

/*
 * The probing interface's network, in the test's own namespace (see
 * tap_open()), for the writer's bpf_fib_lookup():
 *
 *   the tap: 192.0.2.1/24, 2001:db8::1/64, MAC 02:00:00:00:00:01
 *   198.18.0.0/15 via 192.0.2.254, a neighbour (02:00:00:00:00:fe)
 *   192.0.2.77 on the link, a neighbour of its own (02:00:00:00:00:77)
 *   198.51.100.0/24 via 192.0.2.253, no neighbour
 *   203.0.113.0/24 unreachable
 *   2001:db8:b::/48 via 2001:db8::fe (02:00:00:00:00:fe)
 *   2001:db8:dead::/48 via 2001:db8::fd, no neighbour
 *
 * and forwarding on, which bpf_fib_lookup() wants of the interface.
 */
static const uint8_t tap_mac[6] = { 2, 0, 0, 0, 0, 0x01 };
static const uint8_t gw_mac[6] = { 2, 0, 0, 0, 0, 0xfe };
static const uint8_t host77_mac[6] = { 2, 0, 0, 0, 0, 0x77 };

static int write_sysctl(const char *path)
{
	int fd = open(path, O_WRONLY | O_CLOEXEC), ok;

	if (fd < 0)
		return -1;
	ok = write(fd, "1", 1) == 1;
	close(fd);
	return ok ? 0 : -1;
}

static int net_setup(const char *dev)
{
	static const char *const ips[] = { "/usr/sbin/ip", "/sbin/ip", "/usr/bin/ip", "/bin/ip" };
	const char *ip = "ip";
	char cmd[64], path[128];
	FILE *p;
	int rc;

	for (size_t i = 0; i < sizeof(ips) / sizeof(ips[0]); i++)
		if (!access(ips[i], X_OK)) {
			ip = ips[i];
			break;
		}
	snprintf(cmd, sizeof(cmd), "%s -batch -", ip);
	p = popen(cmd, "w");
	if (!p)
		return -1;
	fprintf(p, "link set dev %s address 02:00:00:00:00:01\n"
		"link set dev %s up\n"
		"addr add 192.0.2.1/24 dev %s\n"
		"addr add 2001:db8::1/64 dev %s nodad\n"
		"neigh replace 192.0.2.254 lladdr 02:00:00:00:00:fe dev %s nud permanent\n"
		"neigh replace 192.0.2.77 lladdr 02:00:00:00:00:77 dev %s nud permanent\n"
		"route add 198.18.0.0/15 via 192.0.2.254 dev %s\n"
		"route add 198.51.100.0/24 via 192.0.2.253 dev %s\n"
		"route add unreachable 203.0.113.0/24\n"
		"neigh replace 2001:db8::fe lladdr 02:00:00:00:00:fe dev %s nud permanent\n"
		"route add 2001:db8:b::/48 via 2001:db8::fe dev %s\n"
		"route add 2001:db8:dead::/48 via 2001:db8::fd dev %s\n",
		dev, dev, dev, dev, dev, dev, dev, dev, dev, dev, dev);
	rc = pclose(p);
	if (rc) {
		fprintf(stderr, "rx_test: %s -batch: exit %d\n", ip, rc);
		return -1;
	}
	snprintf(path, sizeof(path), "/proc/sys/net/ipv4/conf/%s/forwarding", dev);
	if (write_sysctl("/proc/sys/net/ipv4/conf/all/forwarding") || write_sysctl(path) ||
	    write_sysctl("/proc/sys/net/ipv6/conf/all/forwarding")) {
		fprintf(stderr, "rx_test: forwarding: %s\n", strerror(errno));
		return -1;
	}
	return 0;
}

/* One probe the writer must send, or fail to send. */
struct wcase {
	const char *name;
	uint8_t family, proto;
	const char *addr;
	uint16_t port;
	uint32_t check;			/* UDP: its pool's check */
	const uint8_t *dmac;		/* the next hop's MAC, or NULL: no send */
	uint32_t fail;			/* then: the XDPHC_RES_TX_* recorded */
	const char *hop;		/* and the next hop stored in t, IPv4 ("" none) */
	size_t in_len;			/* the length of the frame it is written into */
};

/* Checks for the writer: payloads of every shape (ids 20-26). */
#define WCHECK_ZERO4 24		/* payloads made so that the UDP checksum comes to 0 */
#define WCHECK_ZERO6 25

static const struct wcase wcases[] = {
	{ "tcp4 SYN", AF_INET, IPPROTO_TCP, "198.18.0.5", 80, 0, gw_mac, 0, NULL, 60 },
	{ "tcp6 SYN", AF_INET6, IPPROTO_TCP, "2001:db8:b:1::5", 443, 0, gw_mac, 0, NULL, 60 },
	{ "tcp6 SYN, from a long frame", AF_INET6, IPPROTO_TCP, "2001:db8:b:7:1:2:3:4", 80, 0,
	  gw_mac, 0, NULL, 1514 },
	{ "tcp4 SYN, from a long frame", AF_INET, IPPROTO_TCP, "198.18.0.6", 22, 0, gw_mac, 0,
	  NULL, 1514 },
	{ "tcp4 SYN, on-link backend", AF_INET, IPPROTO_TCP, "192.0.2.77", 8080, 0, host77_mac, 0,
	  NULL, 60 },
	{ "udp4, cookie at an odd offset", AF_INET, IPPROTO_UDP, "198.18.0.9", 53, 21, gw_mac, 0,
	  NULL, 60 },
	{ "udp6, cookie at an odd offset", AF_INET6, IPPROTO_UDP, "2001:db8:b::9", 53, 21, gw_mac,
	  0, NULL, 60 },
	{ "udp4, empty payload", AF_INET, IPPROTO_UDP, "198.18.0.10", 7, 20, gw_mac, 0, NULL, 60 },
	{ "udp6, empty payload", AF_INET6, IPPROTO_UDP, "2001:db8:b::10", 7, 20, gw_mac, 0, NULL,
	  60 },
	{ "udp6, odd length, cookie first", AF_INET6, IPPROTO_UDP, "2001:db8:b::11", 9, 22, gw_mac,
	  0, NULL, 60 },
	{ "udp4, odd length, cookie first", AF_INET, IPPROTO_UDP, "198.18.0.11", 9, 22, gw_mac, 0,
	  NULL, 1514 },
	{ "udp4, 1472-byte payload, cookie last", AF_INET, IPPROTO_UDP, "198.18.0.12", 1234, 23,
	  gw_mac, 0, NULL, 60 },
	{ "udp6, 1452-byte payload (a 1500 MTU's most), cookie last", AF_INET6, IPPROTO_UDP,
	  "2001:db8:b::12", 1234, 26, gw_mac, 0, NULL, 60 },
	/*
	 * XDPHC_PAYLOAD_MAX is IPv4's: over IPv6 it makes a 1520-byte packet,
	 * which the FIB refuses (frag needed).  Not sent, and recorded as the
	 * engine's error, not left to time out as the backend's.
	 */
	{ "udp6, 1472-byte payload: over the MTU", AF_INET6, IPPROTO_UDP, "2001:db8:b::15", 1234,
	  23, NULL, XDPHC_RES_TX_ERROR, NULL, 60 },
	{ "udp4, checksum 0 sent as ffff", AF_INET, IPPROTO_UDP, "198.18.0.13", 4000,
	  WCHECK_ZERO4, gw_mac, 0, NULL, 60 },
	{ "udp6, checksum 0 sent as ffff", AF_INET6, IPPROTO_UDP, "2001:db8:b::13", 4000,
	  WCHECK_ZERO6, gw_mac, 0, NULL, 60 },
	{ "udp4, no cookie", AF_INET, IPPROTO_UDP, "198.18.0.14", 5000, 0, gw_mac, 0, NULL, 60 },
	{ "udp4, payload {cookie}", AF_INET, IPPROTO_UDP, "198.18.0.15", 53, 3, gw_mac, 0, NULL,
	  60 },
	{ "tcp4, no neighbour", AF_INET, IPPROTO_TCP, "198.51.100.5", 80, 0, NULL,
	  XDPHC_RES_TX_NO_NEIGH, "192.0.2.253", 60 },
	{ "tcp6, no neighbour", AF_INET6, IPPROTO_TCP, "2001:db8:dead::5", 80, 0, NULL,
	  XDPHC_RES_TX_NO_NEIGH, "", 60 },
	{ "udp6, no neighbour", AF_INET6, IPPROTO_UDP, "2001:db8:dead::6", 53, 21, NULL,
	  XDPHC_RES_TX_NO_NEIGH, "", 60 },
	{ "udp4, unreachable", AF_INET, IPPROTO_UDP, "203.0.113.5", 53, 21, NULL,
	  XDPHC_RES_TX_NO_ROUTE, NULL, 60 },
};
#define NWCASES (sizeof(wcases) / sizeof(wcases[0]))

static uint32_t wcase_index(const char *name)
{
	for (uint32_t i = 0; i < NWCASES; i++)
		if (!strcmp(wcases[i].name, name))
			return i;
	abort();
}

/* The writer's checks; the zero-checksum ones are finished per slot (zero_sum_check()). */
static void writer_checks(struct xdphc_udp_check *w)
{
	static uint8_t big[XDPHC_PAYLOAD_MAX], big6[XDPHC_PAYLOAD_MAX - 20];

	check_make(&w[0], (const uint8_t *)"", 0, NULL, 0);
	check_make(&w[1], (const uint8_t *)"hello{cookie}!", 14, (const uint8_t *)"x", 1);
	check_make(&w[2], (const uint8_t *)"{cookie}abcde", 13, NULL, 0);
	for (size_t i = 0; i < sizeof(big); i++)
		big[i] = (uint8_t)rnd32();
	memcpy(big + sizeof(big) - DIGITS, "{cookie}", DIGITS);
	check_make(&w[3], big, sizeof(big), NULL, 0);
	memcpy(big6, big, sizeof(big6));
	memcpy(big6 + sizeof(big6) - DIGITS, "{cookie}", DIGITS);
	check_make(&w[6], big6, sizeof(big6), NULL, 0);
}

/* The datagram's payload as it must leave: the check's, with the cookie's digits. */
static void udp_payload_of(const struct secret *k, const struct xdphc_slot *s,
			   const struct xdphc_udp_check *u, uint8_t *p)
{
	memcpy(p, u->payload, u->payload_len);
	if (u->cookie_off != XDPHC_NO_COOKIE)
		cookie_hex(model_cookie(k, s->family, slot_addr(s), s->sport, ntohs(s->port),
					s->gen), p + u->cookie_off);
}

/*
 * A payload for slot s whose datagram sums to all ones, so that its
 * checksum computes to 0: one word (at 30, away from the cookie at 2) is
 * chosen for it.
 */
static void zero_sum_check(const struct secret *k, const struct xdphc_slot *s,
			   struct xdphc_udp_check *u)
{
	uint8_t p[32], d[8 + sizeof(p)];
	uint32_t sum;

	memcpy(p, "zz{cookie}", 10);
	for (size_t i = 10; i < sizeof(p); i++)
		p[i] = (uint8_t)('a' + rnd_below(26));
	put16(p + 30, 0);
	check_make(u, p, sizeof(p), NULL, 0);
	udp_payload_of(k, s, u, d + 8);
	put16(d, s->sport);
	memcpy(d + 2, &s->port, 2);
	put16(d + 4, sizeof(d));
	put16(d + 6, 0);
	sum = sum16(d, sizeof(d), pseudo_sum(s->family, our_addr_of(k, s->family), slot_addr(s),
					     IPPROTO_UDP, sizeof(d)));
	sum = (uint16_t)~fold16(sum);	/* the folded sum */
	put16(p + 30, (uint16_t)(0xffff - sum));
	check_make(u, p, sizeof(p), NULL, 0);
}

/* What is wrong with frame out as the probe of slot s, or NULL. */
static const char *probe_wrong(const struct rx *rx, const struct xdphc_slot *s,
			       const struct xdphc_udp_check *u, const uint8_t *dmac,
			       const uint8_t *out, size_t len, bool zero_sum)
{
	static uint8_t payload[XDPHC_PAYLOAD_MAX];
	bool v6 = s->family == AF_INET6, udp = s->proto == IPPROTO_UDP;
	size_t l3 = v6 ? IP6_HDR_LEN : 20, l4len = udp ? 8u + u->payload_len : 24;
	size_t want = ETH_HDR_LEN + l3 + l4len;
	const uint8_t *ip = out + ETH_HDR_LEN, *l4 = ip + l3, *src, *dst;

	if (!v6 && want < MIN_FRAME)
		want = MIN_FRAME;
	if (len != want)
		return "frame length";

	if (memcmp(out, dmac, 6) || memcmp(out + 6, tap_mac, 6))
		return "MAC addresses";
	if (get16(out + 12) != (v6 ? ETHERTYPE_IPV6 : ETHERTYPE_IPV4))
		return "ethertype";
	if (v6) {
		src = ip + 8;
		dst = ip + 24;
		if (ip[0] >> 4 != 6 || get16(ip + 4) != l4len || ip[6] != s->proto || !ip[7])
			return "IPv6 header";
	} else {
		src = ip + 12;
		dst = ip + 16;
		if (ip[0] != 0x45 || get16(ip + 2) != 20 + l4len || (get16(ip + 6) & 0x3fff) ||
		    !ip[8] || ip[9] != s->proto)
			return "IPv4 header";
		if (fold16(sum16(ip, 20, 0)))
			return "IPv4 header checksum";
	}
	if (memcmp(src, our_addr_of(&rx->k, s->family), addr_len(s->family)) ||
	    memcmp(dst, s->addr, addr_len(s->family)))
		return "IP addresses";
	if (get16(l4) != s->sport || memcmp(l4 + 2, &s->port, 2))
		return "ports";
	if (!l4_csum_ok(s->family, src, dst, s->proto, l4, l4len))
		return udp ? "UDP checksum" : "TCP checksum";
	if (!udp) {
		static const uint8_t mss[4] = { 2, 4, 1460 >> 8, 1460 & 0xff };

		if (get32(l4 + 4) != model_cookie(&rx->k, s->family, slot_addr(s), s->sport,
						  ntohs(s->port), s->gen))
			return "ISN is not the cookie";
		if (get32(l4 + 8) || l4[12] != 6 << 4 || l4[13] != F_SYN)
			return "TCP header (ack, data offset, flags)";
		if (memcmp(l4 + 20, mss, 4))
			return "MSS option";
		return NULL;
	}
	if (get16(l4 + 4) != l4len)
		return "UDP length";
	if (!get16(l4 + 6) || (zero_sum && get16(l4 + 6) != 0xffff))
		return "UDP checksum 0 (none), which must be sent as ffff";
	udp_payload_of(&rx->k, s, u, payload);
	if (memcmp(l4 + 8, payload, u->payload_len))
		return "UDP payload (or cookie digits)";
	return NULL;
}

/* The check a writer's UDP slot sends: the writer's own (ids 20-26) or one of check_defs. */
static const struct xdphc_udp_check *writer_check_of(const struct xdphc_slot *s,
						     const struct xdphc_udp_check *wchk)
{
	static struct xdphc_udp_check u;

	if (s->proto != IPPROTO_UDP)
		return NULL;
	if (s->check >= 20)
		return &wchk[s->check - 20];
	for (size_t i = 0; i < NCHECKS; i++)
		if (check_defs[i].id == s->check)
			check_from_def(&u, &check_defs[i]);
	return &u;
}

static int txq_set(const struct rx *rx, const uint32_t *ids, uint32_t n, uint32_t run)
{
	static struct xdphc_txq q;
	uint32_t zero = 0;

	memset(&q, 0, sizeof(q));
	q.count = n;
	q.run = run;
	memcpy(q.slot, ids, n * sizeof(*ids));
	return bpf_map_update_elem(bpf_map__fd(rx->skel->maps.txq), &zero, &q, BPF_ANY);
}

static uint32_t txq_taken(const struct rx *rx)
{
	static struct xdphc_txq q;
	uint32_t zero = 0;

	if (bpf_map_lookup_elem(bpf_map__fd(rx->skel->maps.txq), &zero, &q))
		return UINT32_MAX;
	return q.taken;
}

/* A batched run's frame: ingress XDPHC_TX_IFINDEX, the writer takes the queue's next slot. */
static int writer_frame(const struct rx *rx, size_t in_len, uint8_t *out, size_t *out_len,
			uint32_t *verdict)
{
	static uint8_t in[1514];

	/* What a page of a live-frames run holds: an earlier probe's bytes, never zeros. */
	memset(in, 0xaa, sizeof(in));
	return rx_run_on(rx, XDPHC_TX_IFINDEX, in, in_len, out, out_len, verdict);
}

/*
 * The padding of a frame shorter than the Ethernet minimum is zeros (RFC
 * 894), not what the frame held before: in a live-frames run that is an
 * earlier probe's bytes, another backend's address or cookie among them.
 */
#define BUG_PADDING "probe_tx.h write_udp() grows an IPv4 datagram under 60 bytes " \
	"without zeroing the padding: a reused page's bytes (an earlier probe's) go out"
static uint32_t pad_dirty, pad_short;

static void check_padding(const uint8_t *out, size_t len, size_t end)
{
	if (end >= len)
		return;
	pad_short++;
	for (size_t i = end; i < len; i++) {
		if (out[i]) {
			pad_dirty++;
			return;
		}
	}
}

/* One queued probe through the writer, checked; false on any difference. */
static bool writer_case(struct rx *rx, uint32_t id, const struct wcase *w,
			const struct xdphc_udp_check *u, char *what, size_t wlen)
{
	static uint8_t out[OUT_MAX];
	struct xdphc_slot *s = &rx->sl.s[id], before_s = *s;
	uint64_t before[XDPHC_CNT_MAX], after[XDPHC_CNT_MAX];
	uint32_t verdict, t0, t1, hop = 0;
	size_t out_len;
	const char *wrong;
	int e;

	if (rx_counters(rx, before)) {
		snprintf(what, wlen, "reading counters: %s", strerror(errno));
		return false;
	}
	t0 = mono_us();
	e = writer_frame(rx, w->in_len, out, &out_len, &verdict);
	t1 = mono_us();
	if (e || rx_counters(rx, after)) {
		snprintf(what, wlen, "BPF_PROG_TEST_RUN: %s", strerror(e ? -e : errno));
		return false;
	}
	if (!w->dmac) {
		uint32_t cnt = w->fail == XDPHC_RES_TX_NO_NEIGH ? XDPHC_CNT_TX_NO_NEIGH :
			       w->fail == XDPHC_RES_TX_NO_ROUTE ? XDPHC_CNT_TX_NO_ROUTE :
			       XDPHC_CNT_TX_ERROR;

		if (w->hop && *w->hop)
			inet_pton(AF_INET, w->hop, &hop);
		if (verdict != XDP_DROP)
			snprintf(what, wlen, "verdict %s, expected DROP", verdict_name(verdict));
		else if (s->result != XDPHC_RESULT(s->gen, w->fail, 0, 0))
			snprintf(what, wlen, "result %016" PRIx64 ", expected kind %u",
				 (uint64_t)s->result, w->fail);
		else if (w->hop && s->t != hop)
			snprintf(what, wlen, "t %08x, expected the next hop %08x", s->t, hop);
		else if (after[cnt] != before[cnt] + 1 || after[XDPHC_CNT_TX] != before[XDPHC_CNT_TX])
			snprintf(what, wlen, "counters: %s %" PRIu64 " -> %" PRIu64 ", TX %" PRIu64
				 " -> %" PRIu64, counter_name[cnt], before[cnt], after[cnt],
				 before[XDPHC_CNT_TX], after[XDPHC_CNT_TX]);
		else
			return true;
		hexdump("out", out, out_len);
		return false;
	}
	wrong = verdict != XDP_REDIRECT ? "verdict is not REDIRECT" :
		probe_wrong(rx, s, u, w->dmac, out, out_len,
			    w->check == WCHECK_ZERO4 || w->check == WCHECK_ZERO6);
	if (!wrong && s->result != before_s.result)
		wrong = "the slot's result changed";
	if (!wrong && (s->flags & XDPHC_SLOT_F_RESEND ? s->t != before_s.t :
		       (uint32_t)(s->t - t0) > (uint32_t)(t1 - t0)))
		wrong = "t is not the send time (or a resend's first one)";
	if (!wrong && after[XDPHC_CNT_TX] != before[XDPHC_CNT_TX] + 1)
		wrong = "TX counter";
	if (!wrong) {
		check_padding(out, out_len, ETH_HDR_LEN + (s->family == AF_INET6 ? IP6_HDR_LEN : 20) +
			      (s->proto == IPPROTO_UDP ? 8u + u->payload_len : 24u));
		return true;
	}
	snprintf(what, wlen, "%s (verdict %s, result kind %u)", wrong, verdict_name(verdict),
		 XDPHC_RESULT_KIND(s->result));
	hexdump("out", out, out_len);
	return false;
}

/*
 * The padding bug as a live-frames run meets it: probe B, an empty
 * datagram, written into the frame that probe A, a datagram starting with
 * its cookie, left (pages are reused as they are).  B's padding must not
 * be A's cookie.
 */
static void padding_reuse(struct rx *rx, uint32_t a, uint32_t b)
{
	static uint8_t out_a[OUT_MAX], out_b[OUT_MAX];
	const uint32_t ids[2] = { a, b };
	uint32_t va = 0, vb = 0;
	size_t la = 0, lb = 0, pad = ETH_HDR_LEN + 20 + 8;
	bool leak, dirty = false;
	char sa[INET_ADDRSTRLEN], sb[INET_ADDRSTRLEN];

	if (txq_set(rx, ids, 2, 8) || writer_frame(rx, MIN_FRAME, out_a, &la, &va) ||
	    rx_run_on(rx, XDPHC_TX_IFINDEX, out_a, la, out_b, &lb, &vb) ||
	    va != XDP_REDIRECT || vb != XDP_REDIRECT || la != MIN_FRAME || lb != MIN_FRAME) {
		report(false, "writer: padding over a reused frame", "runs failed: verdicts %s, %s, "
		       "%zu and %zu bytes", verdict_name(va), verdict_name(vb), la, lb);
		return;
	}
	for (size_t i = pad; i < lb; i++)
		dirty |= out_b[i] != 0;
	leak = !memcmp(out_b + pad, out_a + pad, DIGITS);
	inet_ntop(AF_INET, rx->sl.s[a].addr, sa, sizeof(sa));
	inet_ntop(AF_INET, rx->sl.s[b].addr, sb, sizeof(sb));
	if (dirty) {
		hexdump("probe A (its cookie at 42)", out_a, la);
		hexdump("probe B, written over A", out_b, lb);
	}
	report_known(!dirty, BUG_PADDING, "writer: padding over a reused frame",
		     "the probe to %s %s", sb, !dirty ? "has zeros for padding" :
		     leak ? "carries the cookie of the probe to another backend in its padding" :
		     "carries the earlier frame's bytes in its padding");
	if (leak)
		printf("      (the cookie of the probe to %s went to %s)\n", sa, sb);
}

/*
 * The writer, run as the controller's batched runs run it (BPF_PROG_RUN on
 * ingress XDPHC_TX_IFINDEX, here without live frames: the frame comes back
 * instead of leaving), for a probe of each kind and shape, one run: every
 * frame it writes checked byte by byte (cookie, checksums, lengths, next
 * hop), and the sends it cannot make recorded as such.
 */
static void writer_test(int ifindex)
{
	static struct xdphc_udp_check wchk[7];
	uint32_t ids[NWCASES + 4], n = NWCASES, bad = 0, taken;
	char err[256] = "", what[256], name[160];
	struct rx rx;

	if (!own_netns) {
		report(false, "writer", "not run: no network namespace of its own, where "
		       "its FIB lookups would find routes and neighbours");
		return;
	}
	if (net_setup(tap_name)) {
		report(false, "writer", "not run: the namespace's network could not be set up");
		return;
	}
	if (rx_load(&rx, ifindex, n, 40000, 16)) {
		report(false, "writer", "probe_rx did not load");
		return;
	}
	for (uint32_t i = 0; i < n; i++) {
		uint8_t a[16] = { 0 };

		inet_pton(wcases[i].family, wcases[i].addr, a);
		slots_claim(&rx.sl, i, wcases[i].family, wcases[i].proto, (const __be32 *)a,
			    htons(wcases[i].port), (uint8_t)wcases[i].check);
		rx.sl.s[i].gen = i == 0 ? 0 : rnd32();
		ids[i] = i;
	}
	if (slots_index(&rx.sl, rx.sport_lo, rx.sport_count, err, sizeof(err))) {
		report(false, "writer", "slots_index: %s", err);
		goto out;
	}
	rx.sl.rng = rnd64() | 1;
	writer_checks(wchk);
	for (uint32_t i = 0; i < n; i++) {
		const struct xdphc_slot *s = &rx.sl.s[i];

		if (s->proto == IPPROTO_UDP)
			rx.sl.s[i].sport = udp_sport(&rx, s);
		if (wcases[i].check == WCHECK_ZERO4 || wcases[i].check == WCHECK_ZERO6)
			zero_sum_check(&rx.k, s, &wchk[wcases[i].check - 20]);
	}
	for (uint32_t c = 20; c < 27; c++)
		if (rx_set_check(&rx, c, &wchk[c - 20])) {
			report(false, "writer", "udp_checks: %s", strerror(errno));
			goto out;
		}
	/* After the rest, slot 0 again as a resend, then one frame past the queue's end. */
	ids[n] = 0;
	if (txq_set(&rx, ids, n + 1, 7)) {
		report(false, "writer", "txq: %s", strerror(errno));
		goto out;
	}
	for (uint32_t i = 0; i < n; i++) {
		const struct xdphc_slot *s = &rx.sl.s[i];
		bool ok;

		ok = writer_case(&rx, i, &wcases[i], writer_check_of(s, wchk), what, sizeof(what));
		snprintf(name, sizeof(name), "writer %s [%s]:%u", wcases[i].name, wcases[i].addr,
			 wcases[i].port);
		if (ok)
			report(true, name, "%s", wcases[i].dmac ? "sent, checked byte by byte" :
			       "not sent, recorded");
		else
			report(false, name, "%s", what);
		bad += !ok;
	}
	rx.sl.s[0].flags |= XDPHC_SLOT_F_RESEND;
	rx.sl.s[0].t = 12345;
	{
		bool ok = writer_case(&rx, 0, &wcases[0], NULL, what, sizeof(what));

		report(ok, "writer tcp4 SYN, resent", "%s", ok ? "the first send's time kept" : what);
	}
	{
		static uint8_t out[OUT_MAX];
		uint64_t cnt0[XDPHC_CNT_MAX] = { 0 }, cnt[XDPHC_CNT_MAX] = { 0 };
		uint32_t verdict = 0;
		size_t out_len = 0;
		int e;

		rx_counters(&rx, cnt0);
		e = writer_frame(&rx, MIN_FRAME, out, &out_len, &verdict);
		taken = txq_taken(&rx);
		rx_counters(&rx, cnt);
		report(!e && verdict == XDP_DROP && taken == n + 1 &&
		       !memcmp(cnt, cnt0, sizeof(cnt)),
		       "writer: a frame past the queue's end",
		       "verdict %s, %u frames taken of %u queued", verdict_name(verdict), taken,
		       n + 1);
	}
	report_known(!pad_dirty, BUG_PADDING, "writer: padding of short udp4 datagrams",
		     "%u of %u frames under the minimum padded with an earlier frame's bytes",
		     pad_dirty, pad_short);
	padding_reuse(&rx, wcase_index("udp4, payload {cookie}"), wcase_index("udp4, empty payload"));
out:
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
	uint16_t port = ntohs(s->port);
	uint32_t isn = slot_cookie(m, s, s->gen);
	struct tcp_reply r = {
		.sport = port, .dport = s->sport, .ack = isn + 1, .flags = F_RST | F_ACK,
		.min_len = MIN_FRAME,
	};

	l3_of(&r.ip, &m->k, s);
	if (c == COST_NOT_OURS)
		r.dport = (uint16_t)(s->sport - 20000);
	else if (c == COST_MISS)
		put32(r.ip.saddr, BACKEND_NET + BACKEND_ADDRS + rnd_below(BACKEND_ADDRS));
	else if (c == COST_FORGED)
		r.ack = isn + 2;
	return build_tcp(f, &r);
}

static const struct mix mix_tcp4 = { .share = { 1, 0, 0, 0 } };

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
	static struct model m;
	uint64_t total[COST_MAX] = { 0 };
	char err[256] = "";
	uint8_t f[FRAME_MAX];
	struct rx rx;

	if (rx_load(&rx, ifindex, n, 32768, 32768))
		return -1;
	if (fill_backends(&rx, BACKEND_ADDRS, ports, 8, &mix_tcp4, err, sizeof(err)) ||
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
		"[--cost N] [--strict 1]\n"
		"  --frames  model frames, first configuration (default 30000; half that\n"
		"            for the other two)\n"
		"  --forged  forged replies at 65,536 backends, IPv4 TCP, and again\n"
		"            IPv6 TCP and UDP (default 1000000 each)\n"
		"  --big     forged replies at 1,000,000 backends (default 1000000, 0 skips)\n"
		"  --cost    only measure: BPF run time of N replies of each kind at\n"
		"            1,000,000 backends, as one JSON line (make bench)\n"
		"  --strict  1: the known bugs (KNOWN lines) count as failures\n");
	exit(2);
}

static int finish(void)
{
	if (known)
		printf("%d known bugs (KNOWN above; not counted, --strict 1 counts them)\n", known);
	printf("%d passed, %d failed\n", passed, failed);
	return failed ? 1 : 0;
}

int main(int argc, char **argv)
{
	static const uint16_t few_ports[] = { 80, 443, 8080, 9090 };
	static const uint16_t many_ports[] = { 22, 53, 443, 5432, 6379, 8080, 8443, 9000 };
	uint64_t seed = 0, frames = 30000, forged = 1000000, big = 1000000, cost = 0;
	bool have_seed = false;
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
		} else if (!strcmp(argv[i], "--strict")) {
			strict = v;
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
	for (size_t i = 0; i < NCHECKS; i++)
		all_checks[i] = check_defs[i].id;

	test_siphash();

	/* No skipping: without root and BPF nothing here is tested, and that is a failure. */
	if (geteuid() != 0) {
		report(false, "setup", "must run as root (loads BPF programs, makes a tap)");
		return finish();
	}
	ifindex = tap_open(tap_name);
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
		/* Both families, both protocols, every UDP check. */
		const struct mix mixed = { .share = { 40, 20, 20, 20 }, .checks = all_checks,
					   .nchecks = NCHECKS };
		const struct mix even = { .share = { 25, 25, 25, 25 }, .checks = all_checks,
					  .nchecks = NCHECKS };
		const struct mix forged6 = { .share = { 0, 34, 33, 33 }, .checks = cookie_checks,
					     .nchecks = sizeof(cookie_checks) /
							sizeof(cookie_checks[0]) };
		struct model_cfg a = {
			/* Few addresses and ports: triples probed by up to 16 slots each. */
			.name = "crowded", .n = 2000, .naddr = 64, .frames = (uint32_t)frames,
			.sport_lo = 40000, .sport_count = 16,
			.ports = few_ports, .nports = 4, .mix = mixed,
		};
		struct model_cfg b = {
			/* The port range ends at 65535: range checks must not wrap. */
			.name = "edge ports", .n = 1500, .naddr = 256, .frames = (uint32_t)frames / 2,
			.sport_lo = 65528, .sport_count = 8,
			.ports = many_ports, .nports = 8, .mix = even,
		};
		struct model_cfg cbig = {
			.name = "large", .n = 65536, .naddr = 16384, .frames = (uint32_t)frames / 2,
			.sport_lo = 40000, .sport_count = 16,
			.ports = many_ports, .nports = 8, .mix = mixed,
		};

		model_test(ifindex, &a);
		model_test(ifindex, &b);
		model_test(ifindex, &cbig);
		writer_test(ifindex);
		if (forged) {
			forgery_test(ifindex, "ipv4 tcp", 65536, 16384, forged, &mix_tcp4);
			forgery_test(ifindex, "ipv6 tcp, udp4, udp6", 65536, 16384, forged,
				     &forged6);
		}
		if (big)
			forgery_test(ifindex, "ipv4 tcp", 1000000, BACKEND_ADDRS, big, &mix_tcp4);
	}
	if (tap_fd >= 0)
		close(tap_fd);
	return finish();
}
