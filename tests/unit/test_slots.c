// SPDX-License-Identifier: MIT
/*
 * The controller's side of the slot protocol on plain memory (the maps are
 * mmap-ed arrays; no BPF here): claims, the slot table, and a probe's
 * generations as the scheduler drives them.  bpf-check runs probe_rx on
 * the same table.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <sys/socket.h>

#include "check.h"
#include "slots.h"

static int slots_mem(struct slots *sl, size_t n)
{
	memset(sl, 0, sizeof(*sl));
	sl->n = n;
	sl->nbuckets = slots_table_buckets(n);
	sl->s = calloc(n ? n : 1, sizeof(*sl->s));
	sl->table = calloc(sl->nbuckets, sizeof(*sl->table));
	return sl->s && sl->table ? 0 : -1;
}

static void slots_mem_free(struct slots *sl)
{
	free(sl->s);
	free(sl->table);
}

static struct xdphc_slot_key key_of(const struct xdphc_slot *s)
{
	struct xdphc_slot_key k = {
		.port = s->port, .sport = s->sport, .family = s->family, .proto = s->proto,
	};

	memcpy(k.addr, s->addr, sizeof(k.addr));
	return k;
}

/* 300 slots on 50 addresses and two ports: each (address, port) three times. */
static void claim_index_find(void)
{
	struct slots sl;
	uint32_t n = 300;
	int64_t lost = 0, clash = 0;
	char err[256] = "";

	CHECK_INT(slots_mem(&sl, n), 0);
	for (uint32_t i = 0; i < n; i++) {
		__be32 addr[4] = { htonl(0x0a000000 + i % 50) };

		slots_claim(&sl, i, AF_INET, IPPROTO_TCP, addr, htons(80 + i / 50 % 2), 0);
	}
	CHECK_INT(slots_index(&sl, 40000, 4, err, sizeof(err)), 0);
	for (uint32_t i = 0; i < n; i++) {
		struct xdphc_slot_key k = key_of(&sl.s[i]);

		lost += slots_find(&sl, &k) != i;
		for (uint32_t j = 0; j < i; j++)
			clash += xdphc_slot_is(&sl.s[j], &k);
		CHECK(sl.s[i].sport >= 40000 && sl.s[i].sport < 40004);
	}
	CHECK_INT(lost, 0);
	CHECK_INT(clash, 0);

	/* The family and protocol are part of the key. */
	struct xdphc_slot_key k = key_of(&sl.s[7]);

	k.proto = IPPROTO_UDP;
	CHECK_INT(slots_find(&sl, &k), -1);
	k = key_of(&sl.s[7]);
	k.family = AF_INET6;
	CHECK_INT(slots_find(&sl, &k), -1);

	/* A released slot matches nothing; the slots past its entry are still found. */
	k = key_of(&sl.s[7]);
	slots_release(&sl, 7);
	CHECK_INT(slots_find(&sl, &k), -1);
	CHECK_UINT(sl.s[7].family, 0);
	lost = 0;
	for (uint32_t i = 0; i < n; i++) {
		struct xdphc_slot_key ki = key_of(&sl.s[i]);

		if (i != 7)
			lost += slots_find(&sl, &ki) != i;
	}
	CHECK_INT(lost, 0);
	slots_mem_free(&sl);
}

/* More slots on one (address, port) than source ports: refused, with the backend named. */
static void index_refuses_crowding(void)
{
	__be32 addr[4] = { htonl(0xc0000201) };
	struct slots sl;
	char err[256] = "";

	CHECK_INT(slots_mem(&sl, 3), 0);
	for (uint32_t i = 0; i < 3; i++)
		slots_claim(&sl, i, AF_INET, IPPROTO_TCP, addr, htons(443), 0);
	CHECK(slots_index(&sl, 40000, 2, err, sizeof(err)) < 0);
	CHECK_CONTAINS(err, "192.0.2.1:443");
	CHECK_CONTAINS(err, "source ports (2)");
	slots_mem_free(&sl);
}

/* A probe's generations as the scheduler and the programs take turns. */
static void generations(void)
{
	__be32 addr[4] = { htonl(0xc0000201) };
	struct slot_outcome o = { 0 };
	struct slots sl;
	uint32_t gen;

	CHECK_INT(slots_mem(&sl, 1), 0);
	slots_claim(&sl, 0, AF_INET, IPPROTO_TCP, addr, htons(80), 0);
	slots_arm(&sl, 0);
	gen = sl.s[0].gen;
	CHECK(!slots_outcome(&sl, 0, &o));

	/* probe_rx: the RTT into t, then the result of this generation. */
	sl.s[0].t = 250;
	sl.s[0].result = XDPHC_RESULT(gen, XDPHC_RES_ICMP, 3, 1);
	CHECK(slots_outcome(&sl, 0, &o));
	CHECK_UINT(o.kind, XDPHC_RES_ICMP);
	CHECK_UINT(o.icmp_type, 3);
	CHECK_UINT(o.icmp_code, 1);
	CHECK_UINT(o.t, 250);

	/* An outcome of the generation before does not answer the new probe. */
	slots_mark_resend(&sl, 0);
	slots_arm(&sl, 0);
	CHECK_UINT(sl.s[0].gen, gen + 1);
	CHECK(!(sl.s[0].flags & XDPHC_SLOT_F_RESEND));
	CHECK(!slots_outcome(&sl, 0, &o));
	sl.s[0].result = XDPHC_RESULT(gen, XDPHC_RES_SYNACK, 0, 0);
	CHECK(!slots_outcome(&sl, 0, &o));
	sl.s[0].result = XDPHC_RESULT(gen + 1, XDPHC_RES_NONE, 0, 0);
	CHECK(!slots_outcome(&sl, 0, &o));

	slots_mark_unsure(&sl, 0, true);
	CHECK(slots_unsure(&sl, 0));
	slots_mark_resend(&sl, 0);
	CHECK(sl.s[0].flags & XDPHC_SLOT_F_RESEND);
	slots_mark_unsure(&sl, 0, false);
	CHECK(!slots_unsure(&sl, 0));
	CHECK(sl.s[0].flags & XDPHC_SLOT_F_RESEND);
	slots_mem_free(&sl);
}

/*
 * Runtime churn: ids released and given new keys, many times more often
 * than the table has entries.  Tombstones are taken again, so the table
 * never fills, and every live slot stays findable, the old keys not.
 */
static void churn_reuses_tombstones(void)
{
	struct slots sl;
	uint32_t n = 1000, lost = 0, ghosts = 0, fails = 0;
	char err[256] = "";

	CHECK_INT(slots_mem(&sl, n), 0);
	for (uint32_t i = 0; i < n; i++) {
		__be32 addr[4] = { htonl(0x0a000000 + i) };

		slots_claim(&sl, i, AF_INET, IPPROTO_TCP, addr, htons(80), 0);
	}
	CHECK_INT(slots_index(&sl, 40000, 16, err, sizeof(err)), 0);
	for (uint32_t round = 1; round <= 50; round++) {
		for (uint32_t i = 0; i < n; i += 3) {
			__be32 addr[4] = { htonl(0x0b000000 + round * n + i) };
			struct xdphc_slot_key old = key_of(&sl.s[i]);

			slots_release(&sl, i);
			ghosts += slots_find(&sl, &old) >= 0;
			slots_claim(&sl, i, AF_INET, IPPROTO_TCP, addr, htons(80), 0);
			fails += slots_add(&sl, i, 40000, 16, err, sizeof(err)) != 0;
		}
	}
	for (uint32_t i = 0; i < n; i++) {
		struct xdphc_slot_key k = key_of(&sl.s[i]);

		lost += slots_find(&sl, &k) != i;
	}
	CHECK_INT(fails, 0);
	CHECK_INT(ghosts, 0);
	CHECK_INT(lost, 0);
	slots_mem_free(&sl);
}

/*
 * UDP slots: a new source port for every probe, inside the range, found
 * by the port of the current probe only; three pools probing one target
 * over UDP take three lanes, whose ports never meet.
 */
static void udp_ports_per_probe(void)
{
	struct slots sl;
	__be32 addr[4] = { htonl(0xc6120001) };
	uint32_t seen[64] = { 0 }, distinct = 0, out = 0, lost = 0, stale = 0, mixed = 0;
	char err[256] = "";

	CHECK_INT(slots_mem(&sl, 4), 0);
	for (uint32_t i = 0; i < 3; i++)
		slots_claim(&sl, i, AF_INET, IPPROTO_UDP, addr, htons(53), (uint8_t)i);
	CHECK_INT(slots_index(&sl, 40000, 64, err, sizeof(err)), 0);
	CHECK_UINT(sl.lanes, 3);
	for (int round = 0; round < 200; round++) {
		for (uint32_t i = 0; i < 3; i++) {
			uint16_t before = sl.s[i].sport;
			struct xdphc_slot_key k;

			slots_arm(&sl, i);
			k = key_of(&sl.s[i]);
			out += sl.s[i].sport < 40000 || sl.s[i].sport >= 40064;
			mixed += (uint32_t)(sl.s[i].sport - 40000) % 3 != i;
			lost += slots_find(&sl, &k) != i;
			if (before != sl.s[i].sport) {
				k.sport = before;
				stale += slots_find(&sl, &k) == i;
			}
			if (!i && !seen[(sl.s[0].sport - 40000) & 63]++)
				distinct++;
		}
	}
	CHECK_UINT(out, 0);
	CHECK_UINT(mixed, 0);
	CHECK_UINT(lost, 0);
	CHECK_UINT(stale, 0);
	/* Lane 0 of 64 ports in 3 lanes has 21: 200 draws take nearly all. */
	CHECK_MSG(distinct >= 18, "%u distinct ports in 200 probes", distinct);
	slots_mem_free(&sl);
}

/* More UDP pools on one target than there are lanes: one clear error. */
static void udp_lanes_run_out(void)
{
	struct slots sl;
	__be32 addr[4] = { htonl(0xc6120002) };
	char err[256] = "";

	CHECK_INT(slots_mem(&sl, XDPHC_SLOT_LANES + 1), 0);
	for (uint32_t i = 0; i <= XDPHC_SLOT_LANES; i++)
		slots_claim(&sl, i, AF_INET, IPPROTO_UDP, addr, htons(53), (uint8_t)i);
	CHECK(slots_index(&sl, 40000, 64, err, sizeof(err)) < 0);
	CHECK_CONTAINS(err, "198.18.0.2:53 is probed over UDP by more than 16 pools");
	slots_mem_free(&sl);
}

/*
 * A UDP pool added at runtime on a target two others probe: a third lane.
 * A slot that drew its port with two lanes may hold one of the third
 * lane's until its next probe: the new slot must never draw that one (a
 * reply would go to the wrong slot).
 */
static void udp_lane_added_at_runtime(void)
{
	struct slots sl;
	__be32 addr[4] = { htonl(0xc6120003) };
	uint32_t clashes = 0;
	char err[256] = "";
	int tries = 0;

	CHECK_INT(slots_mem(&sl, 3), 0);
	for (uint32_t i = 0; i < 2; i++)
		slots_claim(&sl, i, AF_INET, IPPROTO_UDP, addr, htons(53), (uint8_t)i);
	CHECK_INT(slots_index(&sl, 40000, 16, err, sizeof(err)), 0);
	/* Slot 0 holds a port that the third lane will draw from. */
	do
		slots_arm(&sl, 0);
	while ((sl.s[0].sport - 40000) % 3 != 2 && ++tries < 1000);
	CHECK((sl.s[0].sport - 40000) % 3 == 2);
	slots_claim(&sl, 2, AF_INET, IPPROTO_UDP, addr, htons(53), 2);
	CHECK_INT(slots_add(&sl, 2, 40000, 16, err, sizeof(err)), 0);
	CHECK_UINT(sl.lanes, 3);
	for (int round = 0; round < 100; round++) {
		slots_arm(&sl, 2);
		clashes += sl.s[2].sport == sl.s[0].sport || sl.s[2].sport == sl.s[1].sport;
	}
	CHECK_UINT(clashes, 0);
	slots_mem_free(&sl);
}

void suite_slots(void)
{
	udp_lane_added_at_runtime();
	udp_ports_per_probe();
	udp_lanes_run_out();
	claim_index_find();
	churn_reuses_tombstones();
	index_refuses_crowding();
	generations();
}
