// SPDX-License-Identifier: MIT
#include <errno.h>
#include <string.h>
#include <bpf/bpf.h>

#include "udpcheck.h"

uint32_t udpcheck_sum(const uint8_t *b, size_t len)
{
	uint32_t sum = 0;
	uint16_t w;
	size_t i;

	for (i = 0; i + 1 < len; i += 2) {
		memcpy(&w, b + i, sizeof(w));
		sum += w;
	}
	if (i < len) {
		uint8_t last[2] = { b[i], 0 };

		memcpy(&w, last, sizeof(w));
		sum += w;
	}
	/* Folded, so that the programs may add several such sums without overflow. */
	while (sum >> 16)
		sum = (sum & 0xffff) + (sum >> 16);
	return sum;
}

void udpcheck_build(struct xdphc_udp_check *u, const struct hc_config *hc)
{
	const struct hc_payload *p = &hc->payload;
	uint8_t buf[XDPHC_PAYLOAD_MAX];

	memset(u, 0, sizeof(*u));
	u->payload_len = p->len;
	u->cookie_off = p->cookie_off;
	memcpy(u->payload, p->b, p->len);
	u->expect_len = hc->expect.len;
	memcpy(u->expect, hc->expect.b, hc->expect.len);
	/* The cookie's place counts as zeros: the program adds the digits it writes. */
	memcpy(buf, p->b, p->len);
	if (p->cookie_off != XDPHC_NO_COOKIE && p->cookie_off + XDPHC_COOKIE_DIGITS <= p->len)
		memset(buf + p->cookie_off, 0, XDPHC_COOKIE_DIGITS);
	u->payload_sum = udpcheck_sum(buf, p->len);
}

int udpcheck_publish(int map_fd, const struct config *cfg)
{
	static struct xdphc_udp_check u;

	for (uint32_t i = 0; i < cfg->n_pools && i < XDPHC_UDP_CHECKS; i++) {
		if (cfg->pools[i].hc.protocol != HC_PROTO_UDP)
			continue;
		udpcheck_build(&u, &cfg->pools[i].hc);
		if (bpf_map_update_elem(map_fd, &i, &u, BPF_ANY))
			return -errno;
	}
	return 0;
}
