// SPDX-License-Identifier: MIT
/* The state file (statefile.c) and its merge into a config at start (overlay.c). */
#include <arpa/inet.h>
#include <limits.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "addr.h"
#include "check.h"
#include "files.h"
#include "keyindex.h"
#include "overlay.h"
#include "statefile.h"

static char warnings[4096];

static void collect(void *ctx, const char *msg)
{
	(void)ctx;
	strncat(warnings, msg, sizeof(warnings) - strlen(warnings) - 2);
	strcat(warnings, "\n");
}

static struct xdphc_backend_key key(const char *text)
{
	struct xdphc_backend_key k = { 0 };
	char err[128];

	CHECK_MSG(!addr_parse_backend(text, &k, err, sizeof(err)), "%s: %s", text, err);
	return k;
}

static bool has(const struct sf_list *l, uint8_t kind, const char *pool, const char *addr)
{
	struct xdphc_backend_key k = key(addr);

	for (size_t i = 0; i < l->n; i++)
		if (l->v[i].kind == kind && !strcmp(l->v[i].pool, pool) &&
		    backend_key_equal(&l->v[i].key, &k))
			return true;
	return false;
}

/* One change, of the backend at addr, into l. */
static void push(struct sf_list *l, uint8_t kind, const char *pool, const char *addr)
{
	struct xdphc_backend_key k = key(addr);

	CHECK_INT(sf_push(l, kind, pool, &k, 0), 0);
}

static void read_good_and_bad_lines(void)
{
	char path[PATH_MAX], err[512];
	struct sf_list l = { 0 };
	const char *p = files_write("a.state",
		"# comment\n\nxdphc-state 1\n"
		"add web 10.0.0.1:80\n"
		"del web 10.0.0.2:80   # trailing comment\n"
		"drain api 10.0.1.1:81 1700000000123\n"
		"maint api 10.0.1.2:81\n"
		"frobnicate web 10.0.0.3:80\n"		/* line 8 */
		"add web 10.0.0.300:80\n"		/* line 9 */
		"drain web 10.0.0.4:80\n"		/* line 10 */
		"add web\n");				/* line 11 */

	check_context("statefile read");
	snprintf(path, sizeof(path), "%s", p);
	warnings[0] = '\0';
	CHECK_INT(statefile_read(path, &l, collect, NULL, err, sizeof(err)), 0);
	CHECK_UINT(l.n, 4);
	CHECK(has(&l, SF_ADD, "web", "10.0.0.1:80"));
	CHECK(has(&l, SF_DEL, "web", "10.0.0.2:80"));
	CHECK(has(&l, SF_DRAIN, "api", "10.0.1.1:81"));
	CHECK(has(&l, SF_MAINT, "api", "10.0.1.2:81"));
	CHECK_UINT(l.v[2].until_ms, 1700000000123ULL);
	CHECK_UINT(l.v[0].line, 4);
	CHECK_CONTAINS(warnings, ":8: unknown change 'frobnicate'");
	CHECK_CONTAINS(warnings, ":9: bad address '10.0.0.300:80'");
	CHECK_CONTAINS(warnings, ":10: drain takes POOL ADDR:PORT UNTIL_MS; line ignored");
	CHECK_CONTAINS(warnings, ":11: add takes POOL ADDR:PORT");
	sf_free(&l);
}

static void read_whole_file_errors(void)
{
	char err[512] = "";
	struct sf_list l = { 0 };
	const char *p;

	check_context("statefile errors");
	CHECK_INT(statefile_read(files_path("missing.state"), &l, collect, NULL, err,
				 sizeof(err)), 0);
	CHECK_UINT(l.n, 0);
	p = files_write("v2.state", "xdphc-state 2\nadd web 10.0.0.1:80\n");
	CHECK_INT(statefile_read(p, &l, collect, NULL, err, sizeof(err)), -1);
	CHECK_CONTAINS(err, "v2.state:1: not an xdphc state file of version 1");
	p = files_write("noversion.state", "# only\nadd web 10.0.0.1:80\n");
	CHECK_INT(statefile_read(p, &l, collect, NULL, err, sizeof(err)), -1);
	CHECK_CONTAINS(err, "noversion.state:2: not an xdphc state file");
	sf_free(&l);
}

/* What is written is read back the same, and no temporary file is left. */
static void write_read_back(void)
{
	struct sf_list out = { 0 }, in = { 0 };
	struct xdphc_backend_key k = key("10.9.9.9:443"), k6 = key("[2001:db8::9]:443");
	char path[PATH_MAX], tmp[PATH_MAX + 8], err[512];
	struct stat st;

	check_context("statefile write");
	snprintf(path, sizeof(path), "%s", files_path("w.state"));
	snprintf(tmp, sizeof(tmp), "%s.tmp", path);
	CHECK_INT(sf_push(&out, SF_ADD, "web", &k, 0), 0);
	CHECK_INT(sf_push(&out, SF_DRAIN, "web-2.eu", &k, 42), 0);
	CHECK_INT(sf_push(&out, SF_MAINT, "web", &k6, 0), 0);
	CHECK_INT(statefile_write(path, "/etc/xdphc/xdphc.yaml", &out, err, sizeof(err)), 0);
	CHECK_INT(stat(tmp, &st), -1);
	CHECK_INT(stat(path, &st), 0);
	CHECK_UINT(st.st_mode & 0777, 0600);
	CHECK_INT(statefile_read(path, &in, collect, NULL, err, sizeof(err)), 0);
	CHECK_UINT(in.n, 3);
	CHECK(in.n == 3 && in.v[1].kind == SF_DRAIN && in.v[1].until_ms == 42 &&
	      !strcmp(in.v[1].pool, "web-2.eu") && backend_key_equal(&in.v[1].key, &k));
	CHECK(in.n == 3 && in.v[2].kind == SF_MAINT && backend_key_equal(&in.v[2].key, &k6));
	CHECK_INT(statefile_write("/nonexistent-dir/x/y.state", "c", &out, err, sizeof(err)), -1);
	CHECK_CONTAINS(err, "state_file /nonexistent-dir/x/y.state: ");
	sf_free(&out);
	sf_free(&in);
}

/* ---- overlay_merge -------------------------------------------------------- */

static const char merge_cfg[] =
	"interface: eth0\n"
	"pools:\n"
	"  - name: web\n"
	"    backends: [10.0.0.1:80, 10.0.0.2:80, 10.0.0.3:80]\n"
	"  - name: api\n"
	"    backends: [10.0.1.1:80]\n"
	"    max_backends: 2\n";

/* Pool p's list is want ("" a hole: an id left unused). */
static bool pool_lists(const struct config *c, size_t p, const char *const *want, size_t n)
{
	const struct pool_cfg *pc = &c->pools[p];

	if (pc->n_backends != n)
		return false;
	for (size_t i = 0; i < n; i++) {
		struct xdphc_backend_key k = { 0 };

		if (want[i][0])
			k = key(want[i]);
		if (!backend_key_equal(&c->backends[pc->first + i].key, &k))
			return false;
	}
	return true;
}

static void merge_rules(void)
{
	static const char *const web[] = { "10.0.0.1:80", "", "10.0.0.3:80", "10.0.2.1:80" };
	static const char *const api[] = { "10.0.1.1:80", "10.0.2.2:80" };
	char path[PATH_MAX], err[512];
	struct sf_list in = { 0 };
	struct overlay_start o;
	struct config c;

	check_context("overlay merge");
	snprintf(path, sizeof(path), "%s", files_write("m.yaml", merge_cfg));
	CHECK_INT(config_load(path, &c, err, sizeof(err)), 0);
	push(&in, SF_ADD, "web", "10.0.2.1:80"); /* runtime add: kept */
	push(&in, SF_ADD, "web", "10.0.0.1:80"); /* the file lists it now: a file backend */
	push(&in, SF_ADD, "gone", "10.0.2.9:80"); /* its pool is gone: dropped, said */
	push(&in, SF_DEL, "web", "10.0.0.2:80"); /* still listed: stays deleted */
	push(&in, SF_DEL, "web", "10.0.0.9:80"); /* no longer listed: nothing to delete */
	push(&in, SF_ADD, "api", "10.0.2.2:80"); /* fits max_backends 2 */
	push(&in, SF_ADD, "api", "10.0.2.3:80"); /* does not: dropped, said */
	push(&in, SF_MAINT, "web", "10.0.0.3:80");
	warnings[0] = '\0';
	CHECK_INT(overlay_merge(&c, &in, &o, collect, NULL, err, sizeof(err)), 0);
	CHECK(pool_lists(&c, 0, web, 4));
	CHECK(pool_lists(&c, 1, api, 2));
	CHECK_UINT(c.n_backends, 6);
	CHECK_UINT(o.runtime[0], 1);
	CHECK_UINT(o.runtime[1], 1);
	CHECK_UINT(o.dels.n, 1);
	CHECK(has(&o.dels, SF_DEL, "web", "10.0.0.2:80"));
	CHECK_UINT(o.marks.n, 1);
	CHECK_CONTAINS(warnings, "add gone 10.0.2.9:80: pool 'gone' is no longer in the config");
	CHECK_CONTAINS(warnings, "add api 10.0.2.3:80: pool 'api' is full at its max_backends (2)");
	CHECK(!strstr(warnings, "10.0.0.1:80") && !strstr(warnings, "10.0.0.9:80"));
	/* The ids are laid out again: web's default room follows its count. */
	CHECK_UINT(c.pools[0].max_backends, 4 + 16);
	CHECK_UINT(c.pools[1].first_id, 20);
	overlay_start_free(&o);
	config_free(&c);
	sf_free(&in);
}

static const char udp_cfg[] =
	"interface: eth0\n"
	"pools:\n"
	"  - name: dns\n"
	"    healthcheck: {protocol: udp}\n"
	"    backends: [10.0.0.1:53, '[2001:db8::1]:53']\n"
	"  - name: dns-tcp\n"
	"    backends: [10.0.0.1:53]\n";

/*
 * The file writes ADDR:PORT: merged into a udp pool, a key takes the pool's
 * protocol, so that it matches the pool's backends (a del, a mark) and adds
 * a udp backend.
 */
static void merge_udp(void)
{
	char path[PATH_MAX], err[512];
	struct sf_list in = { 0 };
	struct overlay_start o;
	struct config c;
	struct xdphc_backend_key k;

	check_context("overlay merge, udp and IPv6");
	snprintf(path, sizeof(path), "%s", files_write("u.yaml", udp_cfg));
	CHECK_INT(config_load(path, &c, err, sizeof(err)), 0);
	push(&in, SF_DEL, "dns", "[2001:db8::1]:53");
	push(&in, SF_MAINT, "dns", "10.0.0.1:53");
	push(&in, SF_DEL, "dns-tcp", "10.0.0.1:53");
	push(&in, SF_ADD, "dns", "[2001:db8::2]:53");
	CHECK_INT(overlay_merge(&c, &in, &o, collect, NULL, err, sizeof(err)), 0);
	CHECK_UINT(c.pools[0].n_backends, 3);
	/* The deleted one leaves a hole. */
	CHECK_UINT(c.backends[c.pools[0].first + 1].key.family, 0);
	k = key("[2001:db8::2]:53");
	k.protocol = IPPROTO_UDP;
	CHECK(backend_key_equal(&c.backends[c.pools[0].first + 2].key, &k));
	CHECK_UINT(o.dels.n, 2);
	CHECK_UINT(o.dels.v[0].key.protocol, IPPROTO_UDP);
	CHECK_UINT(o.dels.v[1].key.protocol, IPPROTO_TCP);
	CHECK_UINT(o.marks.n, 1);
	CHECK_UINT(o.marks.v[0].key.protocol, IPPROTO_UDP);
	overlay_start_free(&o);
	config_free(&c);
	sf_free(&in);
}

void suite_statefile(void)
{
	read_good_and_bad_lines();
	read_whole_file_errors();
	write_read_back();
	merge_rules();
	merge_udp();
	check_context("%s", "");
	files_cleanup();
}
