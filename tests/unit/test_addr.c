// SPDX-License-Identifier: MIT
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include "addr.h"
#include "check.h"

struct addr_ok_case {
	const char *in;
	int family;
	const char *addr;	/* as inet_pton reads it */
	uint16_t port;
	const char *formatted;	/* addr_format's spelling */
};

static const struct addr_ok_case addr_ok[] = {
	{ "10.0.0.1:80", AF_INET, "10.0.0.1", 80, "10.0.0.1:80" },
	{ "198.18.255.254:65535", AF_INET, "198.18.255.254", 65535, "198.18.255.254:65535" },
	{ "0.0.0.0:1", AF_INET, "0.0.0.0", 1, "0.0.0.0:1" },
	{ "10.0.0.1:00080", AF_INET, "10.0.0.1", 80, "10.0.0.1:80" },
	{ "[2001:db8::1]:443", AF_INET6, "2001:db8::1", 443, "[2001:db8::1]:443" },
	{ "[::1]:9469", AF_INET6, "::1", 9469, "[::1]:9469" },
	{ "[2001:DB8:0:0:0:0:0:2]:8080", AF_INET6, "2001:db8::2", 8080, "[2001:db8::2]:8080" },
	{ "[::ffff:10.1.2.3]:22", AF_INET6, "::ffff:10.1.2.3", 22, "[::ffff:10.1.2.3]:22" },
};

struct addr_bad_case {
	const char *in;
	const char *why;	/* substring of the reason */
};

static const struct addr_bad_case addr_bad[] = {
	{ "", "empty address" },
	{ "10.0.0.1", "missing ':PORT'" },
	{ "10.0.0.1:", "missing port after ':'" },
	{ ":80", "missing address before ':'" },
	{ "10.0.0.1:0", "port must be 1..65535" },
	{ "10.0.0.1:65536", "port must be 1..65535" },
	{ "10.0.0.1:99999999999999999999999", "port must be 1..65535" },
	{ "10.0.0.1:8a", "port is not a number" },
	{ "10.0.0.1:-1", "port is not a number" },
	{ "10.0.0.1:+80", "port is not a number" },
	{ "10.0.0.1: 80", "port is not a number" },
	{ "10.0.0.256:80", "not a valid IPv4 address" },
	{ "10.0.0:80", "not a valid IPv4 address" },
	{ " 10.0.0.1:80", "not a valid IPv4 address" },
	{ "web.example:80", "not a valid IPv4 address" },
	{ "100.100.100.100.100:80", "not a valid IPv4 address" },
	{ "2001:db8::1:80", "write IPv6 backends as [ADDR]:PORT" },
	{ "[2001:db8::1]80", "expected ':PORT' after ']'" },
	{ "[2001:db8::1]", "expected ':PORT' after ']'" },
	{ "[2001:db8::1:80", "missing ']'" },
	{ "[]:80", "not a valid IPv6 address" },
	{ "[zz::1]:80", "not a valid IPv6 address" },
	{ "[10.0.0.1]:80", "not a valid IPv6 address" },
	{ "[2001:0db8:0000:0000:0000:0000:0000:0001:ffff]:80", "not a valid IPv6 address" },
	{ "[::1]:0", "port must be 1..65535" },
	{ "[::1]:", "missing port after ':'" },
};

#define N(a) (sizeof(a) / sizeof((a)[0]))

static void addr_parse_ok(void)
{
	for (size_t i = 0; i < N(addr_ok); i++) {
		const struct addr_ok_case *c = &addr_ok[i];
		struct xdphc_backend_key k, want = { 0 };
		char err[128] = "", buf[80];

		check_context("addr '%s'", c->in);
		want.family = (uint8_t)c->family;
		want.protocol = IPPROTO_TCP;
		want.port = htons(c->port);
		CHECK(inet_pton(c->family, c->addr, want.addr) == 1);
		CHECK_INT(addr_parse_backend(c->in, &k, err, sizeof(err)), 0);
		CHECK_STR(err, "");
		CHECK(!memcmp(&k, &want, sizeof(k)));
		CHECK_STR(addr_format(&k, buf, sizeof(buf)), c->formatted);
	}
	check_context("%s", "");
}

static void addr_parse_bad(void)
{
	for (size_t i = 0; i < N(addr_bad); i++) {
		const struct addr_bad_case *c = &addr_bad[i];
		struct xdphc_backend_key k;
		char err[128] = "";

		check_context("addr '%s'", c->in);
		CHECK_INT(addr_parse_backend(c->in, &k, err, sizeof(err)), -1);
		CHECK_CONTAINS(err, c->why);
		/* Callers may not care why: no buffer must be fine too. */
		CHECK_INT(addr_parse_backend(c->in, &k, NULL, 0), -1);
	}
	check_context("%s", "");
}

static void addr_format_edges(void)
{
	struct xdphc_backend_key k = { .family = 0, .port = htons(7) };
	char buf[64], small[6];

	CHECK_STR(addr_format(&k, buf, sizeof(buf)), "<family 0>:7");
	CHECK_INT(addr_parse_backend("10.0.0.1:80", &k, NULL, 0), 0);
	/* Truncated, but still a C string. */
	memset(small, 'x', sizeof(small));
	CHECK_STR(addr_format(&k, small, sizeof(small)), "10.0.");
	/* A zero-length buffer is left alone. */
	small[0] = 'x';
	CHECK(addr_format(&k, small, 0) == small);
	CHECK_INT(small[0], 'x');
}

struct dur_case {
	const char *in;
	int ret;
	uint32_t ms;
};

static const struct dur_case durations[] = {
	{ "500ms", 0, 500 },
	{ "2s", 0, 2000 },
	{ "1m", 0, 60000 },
	{ "10", 0, 10000 },		/* a plain number is seconds */
	{ "0", 0, 0 },
	{ "0ms", 0, 0 },
	{ "1.5s", 0, 1500 },
	{ "1.5", 0, 1500 },
	{ "0.001s", 0, 1 },
	{ "1.500000000s", 0, 1500 },
	{ "0.5m", 0, 30000 },
	{ "2.25ms", -1, 0 },		/* sub-millisecond remainder */
	{ "0.0001s", -1, 0 },
	{ "1.0000000001s", -1, 0 },	/* more than nine decimals */
	{ "4294967295ms", 0, UINT32_MAX },
	{ "4294967296ms", -1, 0 },
	{ "4294967s", 0, 4294967000U },
	{ "4294968s", -1, 0 },
	{ "71582m", 0, 4294920000U },
	{ "71583m", -1, 0 },
	{ "99999999999999999999s", -1, 0 },
	{ "", -1, 0 },
	{ "s", -1, 0 },
	{ "ms", -1, 0 },
	{ ".5s", -1, 0 },
	{ "1.", -1, 0 },
	{ "1.s", -1, 0 },
	{ "-1s", -1, 0 },
	{ "+1s", -1, 0 },
	{ " 1s", -1, 0 },
	{ "1 s", -1, 0 },
	{ "1s ", -1, 0 },
	{ "1h", -1, 0 },
	{ "1S", -1, 0 },
	{ "1sec", -1, 0 },
	{ "1mss", -1, 0 },
	{ "1e3ms", -1, 0 },
	{ "0x10s", -1, 0 },
};

static void duration_table(void)
{
	for (size_t i = 0; i < N(durations); i++) {
		const struct dur_case *c = &durations[i];
		uint32_t ms = 12345;

		check_context("duration '%s'", c->in);
		CHECK_INT(parse_duration_ms(c->in, &ms), c->ret);
		/* A refused duration leaves the output alone. */
		CHECK_UINT(ms, c->ret ? 12345 : c->ms);
	}
	check_context("%s", "");
}

void suite_addr(void)
{
	addr_parse_ok();
	addr_parse_bad();
	addr_format_edges();
	duration_table();
}
