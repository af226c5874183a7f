// SPDX-License-Identifier: MIT
/* reload_plan(): a new config file against a running set, without an engine. */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <netinet/in.h>

#include "addr.h"
#include "check.h"
#include "files.h"
#include "keyindex.h"
#include "reload_plan.h"

/* What an engine started from OLD holds: ids laid out, keys in the status entries. */
struct running {
	struct config cfg;
	struct xdphc_backend_status *st;
	uint64_t *used;
	size_t n;
	struct sf_list dels;
	struct live_view lv;
};

static const char old_yaml[] =
	"interface: eth0\n"
	"source_ports: 40000-40999\n"
	"pools:\n"
	"  - name: web\n"
	"    backends: [10.0.0.1:80, 10.0.0.2:80, 10.0.0.3:80]\n"
	"    healthcheck: {interval: 1s}\n"
	"  - name: api\n"
	"    backends: [10.0.1.1:80]\n"
	"  - name: old\n"
	"    backends: [10.0.2.1:80]\n"
	"    max_backends: 4\n";

static struct xdphc_backend_key key(const char *text)
{
	struct xdphc_backend_key k = { 0 };
	char err[128];

	addr_parse_backend(text, &k, err, sizeof(err));
	k.protocol = IPPROTO_TCP;
	return k;
}

static int run_from(struct running *r, const char *yaml)
{
	char err[CONFIG_ERR_LEN];
	const char *path = files_write("old.yaml", yaml);

	memset(r, 0, sizeof(*r));
	if (!path || config_load(path, &r->cfg, err, sizeof(err))) {
		CHECK_MSG(false, "old config: %s", err);
		return -1;
	}
	r->n = config_map_ids(&r->cfg);
	r->st = calloc(r->n, sizeof(*r->st));
	r->used = calloc((r->n + 63) / 64 + 1, sizeof(*r->used));
	for (size_t p = 0; p < r->cfg.n_pools; p++) {
		const struct pool_cfg *pc = &r->cfg.pools[p];

		for (size_t i = 0; i < pc->n_backends; i++) {
			uint32_t id = pc->first_id + (uint32_t)i;

			/* The key as configured: it carries its pool's protocol. */
			r->st[id].key = r->cfg.backends[pc->first + i].key;
			r->used[id / 64] |= 1ULL << (id % 64);
		}
	}
	config_release_backends(&r->cfg);	/* as the engine does */
	r->lv = (struct live_view){ .cfg = &r->cfg, .st = r->st, .used = r->used, .n = r->n,
				    .dels = &r->dels };
	return 0;
}

static void run_free(struct running *r)
{
	config_free(&r->cfg);
	free(r->st);
	free(r->used);
	sf_free(&r->dels);
}

/* Plan NEW against a running OLD; the plan, whatever it says. */
static int plan(struct reload_plan *pl, struct running *r, const char *new_yaml)
{
	char path[PATH_MAX];

	snprintf(path, sizeof(path), "%s", files_write("new.yaml", new_yaml));
	return reload_plan(pl, path, &r->lv);
}

static uint32_t id_of(const struct running *r, const char *addr)
{
	struct xdphc_backend_key k = key(addr);

	for (uint32_t id = 0; id < r->n; id++)
		if (backend_key_equal(&r->st[id].key, &k))
			return id;
	return UINT32_MAX;
}

static const struct plan_add *add_of(const struct reload_plan *pl, const char *addr,
				     uint32_t pool)
{
	struct xdphc_backend_key k = key(addr);

	for (size_t i = 0; i < pl->n_adds; i++)
		if (backend_key_equal(&pl->adds[i].key, &k) && pl->adds[i].pool == pool)
			return &pl->adds[i];
	return NULL;
}

static bool added(const struct reload_plan *pl, const char *addr, uint32_t pool, bool deleted)
{
	const struct plan_add *a = add_of(pl, addr, pool);

	return a && a->deleted == deleted;
}

static void same_file(void)
{
	struct running r;
	struct reload_plan pl;

	check_context("plan: the same file");
	if (run_from(&r, old_yaml))
		return;
	CHECK_INT(plan(&pl, &r, old_yaml), 0);
	CHECK_UINT(pl.n_adds, 0);
	CHECK_UINT(pl.n_new, 0);
	for (uint32_t id = 0; id < r.n; id++)
		CHECK_MSG(plan_bit(pl.seen, id) == plan_bit(r.used, id), "id %u", id);
	for (size_t q = 0; q < pl.next.n_pools; q++)
		CHECK(!pl.pools[q].changed && pl.pools[q].live == q);
	CHECK(!pl.gone[0] && !pl.gone[1] && !pl.gone[2]);
	/* Compared and let go: the million keys do not stay. */
	CHECK(!pl.next.backends);
	reload_plan_free(&pl);
	run_free(&r);
}

static void backends_and_pools(void)
{
	struct running r;
	struct reload_plan pl;
	static const char new_yaml[] =
		"interface: eth0\n"
		"source_ports: 40000-40999\n"
		"pools:\n"
		"  - name: api\n"				/* moved before web: ids stay */
		"    backends: [10.0.1.1:80, 10.0.0.3:80]\n"	/* 10.0.0.3: from web to api */
		"    healthcheck: {port: 8080}\n"
		"  - name: web\n"
		"    backends: [10.0.0.2:80, 10.0.0.1:80, 10.0.3.1:80, 10.0.3.2:80]\n"
		"    healthcheck: {interval: 500ms}\n"
		"  - name: new\n"				/* old is gone */
		"    backends: [10.0.4.1:80]\n";

	check_context("plan: backends and pools");
	if (run_from(&r, old_yaml))
		return;
	CHECK_INT(plan(&pl, &r, new_yaml), 0);
	CHECK_UINT(pl.n_adds, 4);
	CHECK(added(&pl, "10.0.3.1:80", 0, false));
	CHECK(added(&pl, "10.0.3.2:80", 0, false));
	CHECK(added(&pl, "10.0.0.3:80", 1, false));
	CHECK(added(&pl, "10.0.4.1:80", 3, false));
	CHECK(plan_bit(pl.seen, id_of(&r, "10.0.0.1:80")) && plan_bit(pl.seen, id_of(&r, "10.0.0.2:80")));
	CHECK(plan_bit(pl.seen, id_of(&r, "10.0.1.1:80")));
	/* A backend is a key in a pool: web's 10.0.0.3 goes, api's comes. */
	CHECK(!plan_bit(pl.seen, id_of(&r, "10.0.0.3:80")));
	CHECK(pl.gone[2] && !pl.gone[0] && !pl.gone[1]);
	CHECK(pl.pools[0].live == 1 && pl.pools[0].changed && pl.pools[0].port_changed);
	CHECK(pl.pools[1].live == 0 && pl.pools[1].changed && !pl.pools[1].port_changed);
	/* A new pool takes the next pool id, and spare ids after every running pool's. */
	CHECK(pl.pools[2].is_new && pl.pools[2].live == 3);
	CHECK_UINT(pl.pools[2].first_id, r.cfg.pools[2].first_id + 4);
	/* web's default max_backends follows its count (4 + 16): not a change. */
	CHECK_UINT(pl.n_new, 1);
	reload_plan_free(&pl);
	run_free(&r);
}

/* The same backend in two pools with the same probes: the new entry joins the running one. */
static void shared_backend(void)
{
	struct running r;
	struct reload_plan pl;
	const struct plan_add *a;
	static const char new_yaml[] =
		"interface: eth0\nsource_ports: 40000-40999\npools:\n"
		"  - name: web\n    backends: [10.0.0.1:80, 10.0.0.2:80, 10.0.0.3:80]\n"
		"  - name: api\n    backends: [10.0.1.1:80, 10.0.0.2:80]\n"
		"  - name: old\n    backends: [10.0.2.1:80, 10.0.0.3:80]\n    max_backends: 4\n"
		"    healthcheck: {interval: 2s}\n";

	check_context("plan: a backend in two pools");
	if (run_from(&r, old_yaml))
		return;
	CHECK_INT(plan(&pl, &r, new_yaml), 0);
	CHECK_UINT(pl.n_adds, 2);
	a = add_of(&pl, "10.0.0.2:80", 1);
	CHECK(a && a->leader == id_of(&r, "10.0.0.2:80"));
	/* old's checks are not web's: probed apart (and old's interval changed). */
	a = add_of(&pl, "10.0.0.3:80", 2);
	CHECK(a && a->leader == PLAN_NONE);
	CHECK(pl.pools[2].changed && pl.pools[2].probe_changed && !pl.pools[2].port_changed);
	reload_plan_free(&pl);
	run_free(&r);
}

static void restart_keys(void)
{
	struct running r;
	struct reload_plan pl;
	static const char new_yaml[] =
		"interface: eth1\n"
		"source_ports: 41000-41999\n"
		"event_log: stdout\n"			/* live: no restart */
		"pools:\n"
		"  - name: web\n"
		"    backends: [10.0.0.1:80]\n"
		"    max_backends: 100\n";

	check_context("plan: keys that need a restart");
	if (run_from(&r, old_yaml))
		return;
	CHECK_INT(plan(&pl, &r, new_yaml), -1);
	CHECK_CONTAINS(pl.err, "interface (");
	CHECK_CONTAINS(pl.err, "new.yaml:1) changed: needs a restart; source_ports (");
	CHECK_CONTAINS(pl.err, "new.yaml:2) changed: needs a restart");
	CHECK_CONTAINS(pl.err, "pool 'web': max_backends (");
	CHECK_CONTAINS(pl.err, "new.yaml:7) changed: needs a restart");
	CHECK(!strstr(pl.err, "event_log"));
	reload_plan_free(&pl);
	run_free(&r);
}

static void refusals(void)
{
	struct running r;
	struct reload_plan pl;
	static const char big_pool[] =
		"interface: eth0\nsource_ports: 40000-40999\nspare_ids: 0\n"
		"pools:\n  - name: web\n    backends: [10.0.0.1:80]\n";

	check_context("plan: refusals");
	if (run_from(&r, old_yaml))
		return;
	CHECK_INT(plan(&pl, &r, "interface: eth0\npools: [\n"), -1);
	CHECK_CONTAINS(pl.err, "new.yaml:3: YAML syntax error");
	reload_plan_free(&pl);
	CHECK_INT(plan(&pl, &r, "interface: eth0\nsource_ports: 40000-40999\npools:\n"
		       "  - name: web\n    backends: [10.0.0.1:80]\n    colour: blue\n"), -1);
	CHECK_CONTAINS(pl.err, "new.yaml:6: unknown key 'colour' in pool");
	reload_plan_free(&pl);
	/* 1024 spare ids by default: a new pool of 2000 does not fit. */
	CHECK_INT(plan(&pl, &r, "interface: eth0\nsource_ports: 40000-40999\npools:\n"
		       "  - name: web\n    backends: [10.0.0.1:80]\n"
		       "  - name: big\n    backends: []\n    max_backends: 2000\n"), -1);
	CHECK_CONTAINS(pl.err, "pool 'big' (");
	CHECK_CONTAINS(pl.err, "is new and needs 2000 backend ids (max_backends), and the running "
		       "engine has 1024 spare ones left (spare_ids): needs a restart");
	reload_plan_free(&pl);
	run_free(&r);
	if (run_from(&r, big_pool))
		return;
	CHECK_INT(plan(&pl, &r, big_pool), 0);
	reload_plan_free(&pl);
	run_free(&r);
}

#define ONE_POOL "interface: eth0\nsource_ports: 40000-40999\npools:\n" \
	"  - name: web\n    backends: [10.0.0.1:80]\n"

/*
 * send or expect set or cleared makes another kind of check (SYN probes from
 * XDP, connections from userspace): a restart.  What a connection check
 * sends changes live, and parts the probes a pool shares.
 */
static void check_kind(void)
{
	static const char syn[] = ONE_POOL "    healthcheck: {port: 6379}\n";
	static const char send[] = ONE_POOL "    healthcheck: {port: 6379, send: \"PING\\r\\n\"}\n";
	static const char expect[] = ONE_POOL "    healthcheck:\n      port: 6379\n"
		"      send: \"PING\\r\\n\"\n      expect: +PONG\n";
	static const char http_a[] = ONE_POOL "    healthcheck: {protocol: http, path: /a}\n";
	static const char http_b[] = ONE_POOL "    healthcheck: {protocol: http, path: /b}\n";
	static const char https[] = ONE_POOL "    healthcheck: {protocol: https, path: /a}\n";
	struct running r;
	struct reload_plan pl;

	check_context("plan: the kind of check");
	if (run_from(&r, syn))
		return;
	CHECK_INT(plan(&pl, &r, send), -1);
	CHECK_CONTAINS(pl.err, "pool 'web': send (");
	CHECK_CONTAINS(pl.err, "new.yaml:6) changed the check between a half-open SYN probe and "
		       "a tcp connection: needs a restart");
	reload_plan_free(&pl);
	run_free(&r);
	if (run_from(&r, send))
		return;
	CHECK_INT(plan(&pl, &r, syn), -1);
	CHECK_CONTAINS(pl.err, "new.yaml) changed the check between a half-open SYN probe");
	reload_plan_free(&pl);
	CHECK_INT(plan(&pl, &r, expect), 0);
	CHECK(pl.pools[0].changed && pl.pools[0].probe_changed && !pl.pools[0].port_changed);
	reload_plan_free(&pl);
	run_free(&r);
	if (run_from(&r, http_a))
		return;
	CHECK_INT(plan(&pl, &r, http_b), 0);
	CHECK(pl.pools[0].changed && pl.pools[0].probe_changed && !pl.pools[0].port_changed);
	reload_plan_free(&pl);
	CHECK_INT(plan(&pl, &r, https), -1);
	CHECK_CONTAINS(pl.err, "pool 'web': protocol (");
	CHECK(!strstr(pl.err, "half-open"));
	reload_plan_free(&pl);
	run_free(&r);
}

/*
 * A udp pool: its protocol to or from tcp is another kind of check (a
 * restart); its payload and expect change live, as a request does.
 */
static void udp_kind(void)
{
	static const char syn[] = ONE_POOL "    healthcheck: {port: 53}\n";
	static const char udp_a[] = ONE_POOL "    healthcheck: {protocol: udp, port: 53, "
		"payload: a}\n";
	static const char udp_b[] = ONE_POOL "    healthcheck: {protocol: udp, port: 53, "
		"payload: b, expect: c}\n";
	struct running r;
	struct reload_plan pl;

	check_context("plan: udp checks");
	if (run_from(&r, syn))
		return;
	CHECK_INT(plan(&pl, &r, udp_a), -1);
	CHECK_CONTAINS(pl.err, "pool 'web': protocol (");
	CHECK_CONTAINS(pl.err, "new.yaml:6) changed: needs a restart");
	reload_plan_free(&pl);
	run_free(&r);
	if (run_from(&r, udp_a))
		return;
	CHECK_INT(plan(&pl, &r, syn), -1);
	CHECK_CONTAINS(pl.err, "pool 'web': protocol (");
	reload_plan_free(&pl);
	CHECK_INT(plan(&pl, &r, udp_b), 0);
	CHECK(pl.pools[0].changed && pl.pools[0].probe_changed && !pl.pools[0].port_changed);
	CHECK_UINT(pl.n_adds, 0);		/* the same udp backend */
	reload_plan_free(&pl);
	run_free(&r);
}

/* A new file is checked against the interface as at start. */
static void netif(void)
{
	static const char v4[] = ONE_POOL;
	static const char v6[] = ONE_POOL "  - name: six\n    backends: ['[2001:db8::1]:80']\n";
	struct cfg_netif nif = { .name = "eth0", .src4 = 1, .mtu = 1500 };
	struct running r;
	struct reload_plan pl;

	check_context("plan: the interface");
	if (run_from(&r, v4))
		return;
	r.lv.nif = &nif;
	CHECK_INT(plan(&pl, &r, v6), -1);
	CHECK_CONTAINS(pl.err, "new.yaml:7: backend '[2001:db8::1]:80' is IPv6 but interface "
		       "'eth0' has no global IPv6 address; set source_ipv6");
	reload_plan_free(&pl);
	nif.src6[3] = 1;
	CHECK_INT(plan(&pl, &r, v6), 0);
	CHECK_UINT(pl.n_adds, 1);
	reload_plan_free(&pl);
	run_free(&r);
}

/* Runtime deletes: a deleted file backend the file still lists stays out. */
static void deletes(void)
{
	struct running r;
	struct reload_plan pl;
	struct xdphc_backend_key k;
	static const char new_yaml[] =
		"interface: eth0\nsource_ports: 40000-40999\npools:\n"
		"  - name: web\n    backends: [10.0.0.1:80, 10.0.0.2:80, 10.0.0.9:80]\n"
		"  - name: api\n    backends: [10.0.1.1:80]\n"
		"  - name: old\n    backends: [10.0.2.1:80]\n    max_backends: 4\n";

	check_context("plan: runtime deletes");
	if (run_from(&r, old_yaml))
		return;
	/* 10.0.0.9 was in the file and deleted at runtime; 10.0.0.8 too, now unlisted. */
	k = key("10.0.0.9:80");
	sf_push(&r.dels, SF_DEL, "web", &k, 0);
	k = key("10.0.0.8:80");
	sf_push(&r.dels, SF_DEL, "web", &k, 0);
	CHECK_INT(plan(&pl, &r, new_yaml), 0);
	CHECK(added(&pl, "10.0.0.9:80", 0, true));
	CHECK(pl.del_listed[0] == 1 && pl.del_listed[1] == 0);
	reload_plan_free(&pl);
	r.lv.reset = true;		/* runtime reset: the file alone */
	CHECK_INT(plan(&pl, &r, new_yaml), 0);
	CHECK(added(&pl, "10.0.0.9:80", 0, false));
	reload_plan_free(&pl);
	run_free(&r);
}

void suite_reload_plan(void)
{
	same_file();
	backends_and_pools();
	shared_backend();
	restart_keys();
	refusals();
	check_kind();
	udp_kind();
	netif();
	deletes();
	check_context("%s", "");
	files_cleanup();
}
