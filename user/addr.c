// SPDX-License-Identifier: MIT
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>

#include "addr.h"

static int fail(char *err, size_t errlen, const char *msg)
{
	if (err && errlen)
		snprintf(err, errlen, "%s", msg);
	return -1;
}

static int parse_port(const char *s, uint16_t *port, char *err, size_t errlen)
{
	uint32_t v = 0;
	const char *p;

	if (!*s)
		return fail(err, errlen, "missing port after ':'");
	for (p = s; *p; p++) {
		if (*p < '0' || *p > '9')
			return fail(err, errlen, "port is not a number");
		v = v * 10 + (uint32_t)(*p - '0');
		/* Stop before v can wrap on an absurdly long digit string. */
		if (v > 65535)
			return fail(err, errlen, "port must be 1..65535");
	}
	if (!v)
		return fail(err, errlen, "port must be 1..65535");
	*port = (uint16_t)v;
	return 0;
}

static int parse_ipv6(const char *s, struct xdphc_backend_key *key,
		      const char **port, char *err, size_t errlen)
{
	char buf[INET6_ADDRSTRLEN];
	const char *close = strchr(s, ']');
	size_t len;

	if (!close)
		return fail(err, errlen, "missing ']' after IPv6 address");
	if (close[1] != ':')
		return fail(err, errlen, "expected ':PORT' after ']'");
	len = (size_t)(close - s - 1);
	if (!len || len >= sizeof(buf))
		return fail(err, errlen, "not a valid IPv6 address");
	memcpy(buf, s + 1, len);
	buf[len] = '\0';
	if (inet_pton(AF_INET6, buf, key->addr) != 1)
		return fail(err, errlen, "not a valid IPv6 address");
	key->family = AF_INET6;
	*port = close + 2;
	return 0;
}

static int parse_ipv4(const char *s, struct xdphc_backend_key *key,
		      const char **port, char *err, size_t errlen)
{
	char buf[INET_ADDRSTRLEN];
	const char *colon = strrchr(s, ':');
	size_t len;

	if (!colon)
		return fail(err, errlen, "missing ':PORT'");
	len = (size_t)(colon - s);
	/* A bare IPv6 address is ambiguous: its last group looks like a port. */
	if (memchr(s, ':', len))
		return fail(err, errlen, "write IPv6 backends as [ADDR]:PORT");
	if (!len)
		return fail(err, errlen, "missing address before ':'");
	if (len >= sizeof(buf))
		return fail(err, errlen, "not a valid IPv4 address");
	memcpy(buf, s, len);
	buf[len] = '\0';
	if (inet_pton(AF_INET, buf, &key->addr[0]) != 1)
		return fail(err, errlen, "not a valid IPv4 address");
	key->family = AF_INET;
	*port = colon + 1;
	return 0;
}

int addr_parse_backend(const char *s, struct xdphc_backend_key *key,
		       char *err, size_t errlen)
{
	const char *port_str = NULL;
	uint16_t port;
	int ret;

	memset(key, 0, sizeof(*key));
	if (!*s)
		return fail(err, errlen, "empty address");
	if (*s == '[')
		ret = parse_ipv6(s, key, &port_str, err, errlen);
	else
		ret = parse_ipv4(s, key, &port_str, err, errlen);
	if (ret)
		return ret;
	if (parse_port(port_str, &port, err, errlen))
		return -1;
	key->protocol = IPPROTO_TCP;
	key->port = htons(port);
	return 0;
}

const char *addr_format(const struct xdphc_backend_key *key, char *buf, size_t len)
{
	char a[INET6_ADDRSTRLEN];
	unsigned int port = ntohs(key->port);

	if (!len)
		return buf;
	if (key->family == AF_INET6 && inet_ntop(AF_INET6, key->addr, a, sizeof(a)))
		snprintf(buf, len, "[%s]:%u", a, port);
	else if (key->family == AF_INET && inet_ntop(AF_INET, key->addr, a, sizeof(a)))
		snprintf(buf, len, "%s:%u", a, port);
	else
		snprintf(buf, len, "<family %u>:%u", key->family, port);
	return buf;
}

static int digit(char c)
{
	return c >= '0' && c <= '9';
}

/* Milliseconds per unit; 0 when the suffix is not a unit we know. */
static uint64_t unit_ms(const char *u)
{
	if (!*u || !strcmp(u, "s"))
		return 1000;
	if (!strcmp(u, "ms"))
		return 1;
	if (!strcmp(u, "m"))
		return 60 * 1000;
	return 0;
}

int parse_duration_ms(const char *s, uint32_t *ms)
{
	uint64_t whole = 0, frac = 0, scale = 1, mult, v;
	const char *p = s;

	if (!digit(*p))
		return -1;
	for (; digit(*p); p++) {
		whole = whole * 10 + (uint64_t)(*p - '0');
		if (whole > UINT32_MAX)
			return -1;
	}
	if (*p == '.') {
		if (!digit(*++p))
			return -1;
		for (; digit(*p); p++) {
			/* Nine decimals reach nanoseconds; more is noise, not intent. */
			if (scale >= 1000000000)
				return -1;
			frac = frac * 10 + (uint64_t)(*p - '0');
			scale *= 10;
		}
	}
	mult = unit_ms(p);
	if (!mult)
		return -1;
	/* Refuse sub-millisecond remainders instead of silently rounding them. */
	if (frac * mult % scale)
		return -1;
	v = whole * mult + frac * mult / scale;
	if (v > UINT32_MAX)
		return -1;
	*ms = (uint32_t)v;
	return 0;
}
