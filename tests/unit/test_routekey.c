// SPDX-License-Identifier: MIT
/*
 * Which backends share a route lookup (routekey.h): the prefix set's
 * longest match, keys against a brute-force model of "the routes and rules
 * that contain an address", rules on destinations and ports, the cache.
 */
#include <stdlib.h>
#include <arpa/inet.h>
#include <sys/socket.h>

#include "check.h"
#include "routekey.h"

static void v4(const char *s, uint32_t a[4])
{
	a[0] = a[1] = a[2] = a[3] = 0;
	inet_pton(AF_INET, s, &a[0]);
}

static void v6(const char *s, uint32_t a[4])
{
	inet_pton(AF_INET6, s, a);
}

static void add4(struct pfxset *ps, const char *s, uint8_t len)
{
	uint32_t a[4];

	v4(s, a);
	CHECK_INT(pfxset_add(ps, AF_INET, a, len), 0);
}

static int lpm4(const struct pfxset *ps, const char *s)
{
	uint32_t a[4];

	v4(s, a);
	return pfxset_lpm(ps, AF_INET, a);
}

static void mask(void)
{
	uint32_t a[4], m[4];

	v6("2001:2:0:ffff:1234:5678:9abc:def0", a);
	routekey_mask(a, 0, m);
	CHECK(!m[0] && !m[1] && !m[2] && !m[3]);
	routekey_mask(a, 128, m);
	CHECK(!memcmp(a, m, 16));
	routekey_mask(a, 33, m);
	CHECK_UINT(ntohl(m[0]), 0x20010002);
	CHECK_UINT(ntohl(m[1]), 0);
	routekey_mask(a, 127, m);
	CHECK_UINT(ntohl(m[3]), 0x9abcdef0);
	routekey_mask(a, 120, m);
	CHECK_UINT(ntohl(m[3]), 0x9abcde00);
}

static void longest_match(void)
{
	struct pfxset ps = { 0 };
	uint32_t a[4];

	CHECK_INT(lpm4(&ps, "198.18.1.1"), -1);
	add4(&ps, "0.0.0.0", 0);
	add4(&ps, "198.18.0.0", 16);
	add4(&ps, "198.18.5.0", 24);
	add4(&ps, "198.18.5.7", 32);
	add4(&ps, "198.18.5.99", 24);	/* host bits ignored: the same prefix */
	CHECK_UINT(ps.n, 4);
	CHECK_INT(lpm4(&ps, "198.18.1.1"), 16);
	CHECK_INT(lpm4(&ps, "198.18.5.1"), 24);
	CHECK_INT(lpm4(&ps, "198.18.5.7"), 32);
	CHECK_INT(lpm4(&ps, "198.19.255.1"), 0);
	/* families apart: the v4 default route holds no IPv6 address */
	v6("2001:2::1", a);
	CHECK_INT(pfxset_lpm(&ps, AF_INET6, a), -1);
	CHECK_INT(pfxset_add(&ps, AF_INET6, a, 64), 0);
	CHECK_INT(pfxset_add(&ps, AF_INET6, a, 128), 0);
	CHECK_INT(pfxset_lpm(&ps, AF_INET6, a), 128);
	v6("2001:2::2", a);
	CHECK_INT(pfxset_lpm(&ps, AF_INET6, a), 64);
	v6("2001:2:0:1::2", a);
	CHECK_INT(pfxset_lpm(&ps, AF_INET6, a), -1);
	/* many prefixes: the table grows and still answers */
	for (uint32_t i = 0; i < 5000; i++) {
		a[0] = htonl(0xc6120000 | i << 2);
		CHECK_INT(pfxset_add(&ps, AF_INET, a, 30), 0);
	}
	a[0] = htonl(0xc6120000 | 4999 << 2 | 1);
	CHECK_INT(pfxset_lpm(&ps, AF_INET, a), 30);
	a[0] = htonl(0xc6120000 | 5000 << 2 | 1);
	CHECK_INT(pfxset_lpm(&ps, AF_INET, a), 16);
	pfxset_clear(&ps);
	CHECK_INT(lpm4(&ps, "198.18.5.7"), -1);
	pfxset_free(&ps);
}

static bool key_eq(const struct route_key *a, const struct route_key *b)
{
	return !memcmp(a, b, sizeof(*a));
}

/*
 * The property the cache rests on: two addresses share a key exactly when
 * the same routes and rules contain them, on random nested prefixes in a
 * small space (a /20), against a brute-force model.
 */
static void keys_match_the_model(void)
{
	enum { NPFX = 40, SPACE = 1 << 12, PAIRS = 20000 };
	struct { uint32_t a; uint8_t len; } p[NPFX];
	struct routekey rk = { 0 };
	uint32_t bad = 0, bad_leaf = 0, leaves = 0;

	for (int i = 0; i < NPFX; i++) {
		uint32_t a[4] = { 0 };

		p[i].len = (uint8_t)(20 + check_rand() % 13);
		p[i].a = (0xc6120000 | (uint32_t)(check_rand() % SPACE)) &
			 (p[i].len ? ~0U << (32 - p[i].len) : 0);
		a[0] = htonl(p[i].a);
		if (i % 3)
			CHECK_INT(routekey_route(&rk, AF_INET, a, p[i].len), 0);
		else
			CHECK_INT(routekey_rule(&rk, &(struct rule_sel){
				.family = AF_INET, .dst_len = p[i].len, .dst = { a[0] } }), 0);
	}
	routekey_finish(&rk);
	for (int n = 0; n < PAIRS; n++) {
		uint32_t x = 0xc6120000 | (uint32_t)(check_rand() % SPACE);
		uint32_t y = 0xc6120000 | (uint32_t)(check_rand() % SPACE);
		uint32_t ax[4] = { htonl(x) }, ay[4] = { htonl(y) };
		struct route_key kx, ky;
		bool same = true;

		for (int i = 0; i < NPFX; i++) {
			uint32_t m = ~0U << (32 - p[i].len);

			same &= ((x & m) == p[i].a) == ((y & m) == p[i].a);
		}
		routekey_of(&rk, AF_INET, ax, IPPROTO_TCP, htons(40000), htons(80), false, &kx);
		routekey_of(&rk, AF_INET, ay, IPPROTO_TCP, htons(40001), htons(81), false, &ky);
		bad += key_eq(&kx, &ky) != same;
		/* the shortcut: a leaf key holds y only if a search gives y that key */
		if (routekey_leaf(&rk, &kx) && routekey_holds(&kx, AF_INET, ay))
			bad_leaf += !key_eq(&kx, &ky);
		leaves += routekey_leaf(&rk, &kx);
	}
	CHECK_UINT(bad, 0);
	CHECK_UINT(bad_leaf, 0);
	CHECK(leaves > 0);
	routekey_free(&rk);
}

/* A route more specific than the one an earlier lookup matched gets its own key. */
static void more_specific_route_splits(void)
{
	struct routekey rk = { 0 };
	struct route_key k1, k2, k3, k4;
	uint32_t a[4];

	v4("0.0.0.0", a);
	routekey_route(&rk, AF_INET, a, 0);
	v4("198.18.0.0", a);
	routekey_route(&rk, AF_INET, a, 16);
	v4("198.18.0.1", a);
	routekey_of(&rk, AF_INET, a, IPPROTO_TCP, 0, htons(80), false, &k1);
	v4("198.18.7.1", a);
	routekey_of(&rk, AF_INET, a, IPPROTO_TCP, 0, htons(80), false, &k2);
	CHECK(key_eq(&k1, &k2));
	CHECK_INT(k1.len, 16);
	routekey_finish(&rk);
	CHECK(routekey_leaf(&rk, &k1));
	v4("198.18.7.0", a);
	routekey_route(&rk, AF_INET, a, 24);	/* ip route add blackhole 198.18.7.0/24 */
	routekey_finish(&rk);
	CHECK(!routekey_leaf(&rk, &k1));	/* the /16 holds the /24 now */
	v4("198.18.7.1", a);
	CHECK(routekey_holds(&k1, AF_INET, a));
	CHECK(!routekey_holds(&k1, AF_INET6, a));
	v4("198.18.7.1", a);
	routekey_of(&rk, AF_INET, a, IPPROTO_TCP, 0, htons(80), false, &k3);
	CHECK(!key_eq(&k1, &k3));
	CHECK_INT(k3.len, 24);
	/* no route at all: one key for all such addresses */
	routekey_clear(&rk);
	v4("198.18.7.1", a);
	routekey_of(&rk, AF_INET, a, IPPROTO_TCP, 0, htons(80), false, &k3);
	v4("198.19.1.1", a);
	routekey_of(&rk, AF_INET, a, IPPROTO_TCP, 0, htons(80), false, &k4);
	CHECK(key_eq(&k3, &k4));
	CHECK_INT(k3.len, ROUTEKEY_NONE);
	routekey_free(&rk);
}

/* Rules on destinations split keys; rules on ports put the ports in them. */
static void rules(void)
{
	struct routekey rk = { 0 };
	struct route_key k1, k2;
	struct rule_sel any = { .family = AF_INET };
	struct rule_sel dst = { .family = AF_INET, .dst_len = 25 };
	struct rule_sel ports6 = { .family = AF_INET6, .ports = true };
	uint32_t a[4], b[4];

	CHECK_INT(routekey_rule(&rk, &any), 0);		/* from all lookup main */
	CHECK_UINT(rk.prefixes.n, 0);
	v4("198.18.0.0", a);
	routekey_route(&rk, AF_INET, a, 16);
	v4("198.18.3.1", a);
	v4("198.18.3.200", b);
	routekey_of(&rk, AF_INET, a, IPPROTO_TCP, htons(40000), htons(80), false, &k1);
	routekey_of(&rk, AF_INET, b, IPPROTO_TCP, htons(40001), htons(443), false, &k2);
	CHECK(key_eq(&k1, &k2));
	CHECK(!k1.proto && !k1.sport && !k1.dport);
	v4("198.18.3.128", dst.dst);	/* ip rule add to 198.18.3.128/25 table 100 */
	CHECK_INT(routekey_rule(&rk, &dst), 0);
	routekey_of(&rk, AF_INET, a, IPPROTO_TCP, htons(40000), htons(80), false, &k1);
	routekey_of(&rk, AF_INET, b, IPPROTO_TCP, htons(40001), htons(443), false, &k2);
	CHECK(!key_eq(&k1, &k2));
	CHECK_INT(k2.len, 25);
	/* an IPv6 rule on ports: IPv6 keys carry them, IPv4 keys do not */
	CHECK_INT(routekey_rule(&rk, &ports6), 0);
	routekey_of(&rk, AF_INET, a, IPPROTO_TCP, htons(40000), htons(80), false, &k1);
	CHECK(!k1.proto && !k1.dport);
	v6("2001:2::1", a);
	routekey_route(&rk, AF_INET6, a, 64);
	routekey_of(&rk, AF_INET6, a, IPPROTO_TCP, htons(40000), htons(80), false, &k1);
	routekey_of(&rk, AF_INET6, a, IPPROTO_TCP, htons(40000), htons(443), false, &k2);
	CHECK(!key_eq(&k1, &k2));
	CHECK_INT(k1.proto, IPPROTO_TCP);
	CHECK_UINT(k2.dport, htons(443));
	/* an exact key (multipath) is the address alone, apart from its prefix's key */
	routekey_of(&rk, AF_INET6, a, IPPROTO_TCP, htons(40000), htons(80), true, &k2);
	CHECK(!key_eq(&k1, &k2));
	CHECK(k2.exact && k2.len == 128 && !memcmp(k2.a, a, 16));
	routekey_clear(&rk);
	CHECK(!rk.ports[0] && !rk.ports[1] && !rk.prefixes.n);
	routekey_free(&rk);
}

static void cache(void)
{
	struct rcache c = { 0 };
	struct route_key k = { .family = AF_INET, .len = 24 };
	struct route_res *r;

	CHECK(!rcache_find(&c, &k));
	for (uint32_t i = 0; i < 1000; i++) {
		k.a[0] = htonl(0xc6000000 | i << 8);
		r = rcache_add(&c, &k);
		CHECK(r && r->state == RT_PENDING);
		if (r) {
			r->state = RT_OK;
			r->gw[0] = i;
		}
	}
	CHECK_UINT(c.n, 1000);
	for (uint32_t i = 0; i < 1000; i += 7) {
		k.a[0] = htonl(0xc6000000 | i << 8);
		r = rcache_find(&c, &k);
		CHECK(r && r->state == RT_OK && r->gw[0] == i);
	}
	k.exact = 1;	/* the same prefix, exact: another key */
	CHECK(!rcache_find(&c, &k));
	rcache_clear(&c);
	k.exact = 0;
	CHECK(!rcache_find(&c, &k));
	CHECK_UINT(c.n, 0);
	rcache_free(&c);
}

void suite_routekey(void)
{
	mask();
	longest_match();
	keys_match_the_model();
	more_specific_route_splits();
	rules();
	cache();
}
