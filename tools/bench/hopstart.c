// SPDX-License-Identifier: MIT
/*
 * The start cost of next hops the controller resolves (user/nexthop.c), on
 * its own: N backends from a first address up, in a network namespace
 * that tools/bench/hopstart.py builds, resolved by nexthop_start() against
 * real routes, rules and neighbours, with the programs' two maps real BPF
 * arrays.  No programs, no engine: only what start adds for next hops.
 *
 *   hopstart IFNAME SRC FIRST N [PORTS]
 *
 * FIRST and SRC are IPv4 or IPv6 addresses (one family); PORTS backends
 * per address (default 1) share it, as backends on several ports do.
 * Prints one JSON line.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <arpa/inet.h>
#include <net/if.h>
#include <unistd.h>
#include <bpf/bpf.h>

#include "clock.h"
#include "log.h"
#include "netif.h"
#include "nexthop.h"

static void add_host(uint32_t a[4], int family, uint64_t n)
{
	int last = family == AF_INET6 ? 3 : 0;
	uint64_t v = (uint64_t)ntohl(a[last]) + n;

	a[last] = htonl((uint32_t)v);
	if (family == AF_INET6 && v >> 32)
		a[2] = htonl(ntohl(a[2]) + (uint32_t)(v >> 32));
}

static int make_map(const char *name, size_t value_size, size_t n)
{
	LIBBPF_OPTS(bpf_map_create_opts, o, .map_flags = BPF_F_MMAPABLE);

	return bpf_map_create(BPF_MAP_TYPE_ARRAY, name, 4, (uint32_t)value_size,
			      (uint32_t)n, &o);
}

/* Resident memory now (the maps' pages count once touched). */
static long rss_kib(void)
{
	long size = 0, resident = 0;
	FILE *f = fopen("/proc/self/statm", "r");

	if (f) {
		if (fscanf(f, "%ld %ld", &size, &resident) != 2)
			resident = 0;
		fclose(f);
	}
	return resident * (sysconf(_SC_PAGESIZE) / 1024);
}

int main(int argc, char **argv)
{
	struct nexthop_params p = { 0 };
	struct slots sl = { 0 };
	struct nexthops nh;
	uint32_t first[4] = { 0 };
	uint8_t mac[6] = { 0 };
	size_t n, ports;
	long rss0;
	int family;
	char err[256];
	uint64_t t0;

	if (argc < 5) {
		fprintf(stderr, "usage: %s IFNAME SRC FIRST N [PORTS]\n", argv[0]);
		return 2;
	}
	family = strchr(argv[3], ':') ? AF_INET6 : AF_INET;
	n = strtoull(argv[4], NULL, 0);
	ports = argc > 5 ? strtoull(argv[5], NULL, 0) : 1;
	p.ifindex = (int)if_nametoindex(argv[1]);
	if (!p.ifindex || inet_pton(family, argv[3], first) != 1 || !n || !ports ||
	    inet_pton(family, argv[2], family == AF_INET ? &p.src4 : p.src6) != 1) {
		fprintf(stderr, "hopstart: bad interface, address or count\n");
		return 2;
	}
	netif_mac(argv[1], mac);
	p.ifname = argv[1];
	p.smac = mac;
	p.fib4 = family != AF_INET;
	p.fib6 = family != AF_INET6;
	sl.n = n;
	sl.s = calloc(n, sizeof(*sl.s));
	p.slots = &sl;
	p.n_slot_hop = n / XDPHC_HOPS_PER_ENTRY + 1;
	p.n_hops = n + 2;
	p.slot_hop_fd = make_map("hop_slot_hop", sizeof(struct xdphc_slot_hops), p.n_slot_hop);
	p.hops_fd = make_map("hop_hops", sizeof(struct xdphc_hop), p.n_hops);
	if (!sl.s || p.slot_hop_fd < 0 || p.hops_fd < 0) {
		fprintf(stderr, "hopstart: %s\n", strerror(errno));
		return 1;
	}
	for (size_t i = 0; i < n; i++) {
		struct xdphc_slot *s = &sl.s[i];

		memcpy(s->addr, first, sizeof(first));
		add_host(s->addr, family, i / ports);
		s->family = (uint8_t)family;
		s->proto = IPPROTO_TCP;
		s->port = htons((uint16_t)(80 + i % ports));
		s->sport = (uint16_t)(40000 + i % 4096);
	}
	rss0 = rss_kib();
	t0 = mono_ns();
	if (nexthop_open(&nh, &p, err, sizeof(err)) || nexthop_start(&nh, err, sizeof(err))) {
		fprintf(stderr, "hopstart: %s\n", err);
		return 1;
	}
	printf("{\"family\": %d, \"backends\": %zu, \"addresses\": %zu, \"start_ms\": %.1f, "
	       "\"lookups\": %lu, \"hops\": %u, \"neigh_requests\": %lu, "
	       "\"rss_growth_kib\": %ld}\n",
	       family == AF_INET6 ? 6 : 4, n, (n + ports - 1) / ports,
	       (double)(mono_ns() - t0) / 1e6, (unsigned long)nh.st.lookups,
	       hoptab_hops(&nh.tab), (unsigned long)nh.st.asks, rss_kib() - rss0);
	nexthop_close(&nh);
	free(sl.s);
	return 0;
}
