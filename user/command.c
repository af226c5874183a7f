// SPDX-License-Identifier: MIT
#include <stdio.h>
#include <string.h>

#include "addr.h"
#include "clock.h"
#include "command.h"
#include "names.h"
#include "log.h"
#include "notify.h"

#define MAX_WORDS 8

static const char usage[] =
	"commands: backend add|del|drain|undrain|maint|ready POOL ADDR:PORT; pool list [json]; "
	"reload; runtime show|reset";

static int split(char *line, char **w)
{
	int n = 0;

	for (char *t = strtok(line, " \t"); t; t = strtok(NULL, " \t"))
		if (n < MAX_WORDS)
			w[n++] = t;
		else
			return MAX_WORDS + 1;
	return n;
}

static void unknown_pool(const struct config *cfg, const char *name, struct outbuf *out)
{
	const char *sep = "";

	outbuf_printf(out, "error: unknown pool '%s' (pools:", name);
	for (size_t p = 0; p < cfg->n_pools; p++) {
		if (!cfg->pools[p].name[0])
			continue;	/* removed by a reload */
		outbuf_printf(out, "%s %s", sep, cfg->pools[p].name);
		sep = ",";
	}
	outbuf_printf(out, ")\n");
}

/* The backend as pool p knows it: its key carries the pool's protocol (tcp or udp). */
static int parse_backend(const struct command_ctx *c, int p, const char *text,
			 struct xdphc_backend_key *key, struct outbuf *out)
{
	char err[128];

	if (addr_parse_backend(text, key, err, sizeof(err))) {
		outbuf_printf(out, "error: bad address '%s': %s\n", text, err);
		return -1;
	}
	key->protocol = hc_ipproto(&c->cfg->pools[p].hc);
	return 0;
}

/* A backend the engine can probe: a source address of its family, room for its datagram. */
static int check_fits(const struct command_ctx *c, int p, const struct xdphc_backend_key *key,
		      struct outbuf *out)
{
	char why[CONFIG_ERR_LEN];

	if (!c->nif || !config_backend_fits(c->cfg, (size_t)p, key, c->nif, why, sizeof(why)))
		return 0;
	outbuf_printf(out, "error: %s\n", why);
	return -1;
}

static void backend_cmd(struct command_ctx *c, char **w, int n, struct outbuf *out)
{
	struct xdphc_backend_key key;
	char res[512];
	int64_t id = -1;
	int p, rc;

	if (n != 4) {
		outbuf_printf(out, "error: usage: backend %s POOL ADDR:PORT\n", n > 1 ? w[1] : "ACTION");
		return;
	}
	p = w[2][0] ? config_find_pool(c->cfg, w[2]) : -1;
	if (p < 0) {
		unknown_pool(c->cfg, w[2], out);
		return;
	}
	if (c->cfg->pools[p].canaries) {
		outbuf_printf(out, "error: pool %s holds the canaries: they change with the config "
			      "(canaries:) only\n", w[2]);
		return;
	}
	if (parse_backend(c, p, w[3], &key, out))
		return;
	if (!strcmp(w[1], "add") && check_fits(c, p, &key, out))
		return;
	if (!strcmp(w[1], "add"))
		rc = (id = roster_add(c->roster, p, &key, res, sizeof(res))) < 0 ? -1 : 0;
	else if (!strcmp(w[1], "del"))
		rc = roster_del(c->roster, p, &key, res, sizeof(res));
	else if (!strcmp(w[1], "drain") || !strcmp(w[1], "undrain"))
		rc = roster_drain(c->roster, p, &key, w[1][0] == 'd', res, sizeof(res));
	else if (!strcmp(w[1], "maint") || !strcmp(w[1], "ready"))
		rc = roster_maint(c->roster, p, &key, w[1][0] == 'm', res, sizeof(res));
	else {
		outbuf_printf(out, "error: unknown backend action '%s' (add, del, drain, undrain, "
			      "maint, ready)\n", w[1]);
		return;
	}
	outbuf_printf(out, "%s%s\n", rc ? "error: " : "ok ", res);
	if (!rc)
		log_info("control: %s", res);
	if (id >= 0)
		runtime_added(c->rt, (uint32_t)p, (uint32_t)id);
}

static void pool_line(const struct command_ctx *c, size_t p, bool json, struct outbuf *out,
		      size_t shown)
{
	const struct pool_cfg *pc = &c->cfg->pools[p];
	const struct xdphc_pool_summary *ps = &c->pools[p];
	const struct roster_pool *rp = &c->roster->pools[p];

	if (json) {
		outbuf_printf(out, "%s{\"name\":\"%s\",\"total\":%u,\"up\":%u,\"down\":%u,"
			      "\"unknown\":%u,\"draining\":%u,\"maint\":%u,\"capacity\":%u,"
			      "\"free\":%zu,\"first_id\":%u,\"interval_ms\":%u,\"timeout_ms\":%u,"
			      "\"initial_state\":\"%s\",\"deregistration_delay_ms\":%u,"
			      "\"grace_period_ms\":%u,\"fail_open\":%s,\"check\":\"%s\"}",
			      shown ? "," : "", pc->name, ps->total, ps->up, ps->down, ps->unknown,
			      ps->draining, ps->maint, rp->capacity, rp->free.len, rp->first,
			      pc->hc.interval_ms, pc->hc.timeout_ms,
			      pc->initial_state == XDPHC_STATE_UP ? "up" :
			      pc->initial_state == XDPHC_STATE_DOWN ? "down" : "unknown",
			      pc->deregistration_delay_ms, pc->grace_period_ms,
			      ps->flags & XDPHC_POOL_F_FAIL_OPEN ? "true" : "false",
			      check_name(hc_check_kind(&pc->hc)));
		return;
	}
	outbuf_printf(out, "%-20s %8u %8u %8u %8u %8u %8u %8u %8zu  %-9s  %s\n", pc->name,
		      ps->total, ps->up, ps->down, ps->unknown, ps->draining, ps->maint,
		      rp->capacity, rp->free.len, ps->flags & XDPHC_POOL_F_FAIL_OPEN ? "yes" : "no",
		      check_name(hc_check_kind(&pc->hc)));
}

static void pool_cmd(struct command_ctx *c, char **w, int n, struct outbuf *out)
{
	bool json = n == 3 && !strcmp(w[2], "json");
	size_t n_live = 0;

	if (n < 2 || strcmp(w[1], "list") || (n == 3 && !json) || n > 3) {
		outbuf_printf(out, "error: usage: pool list [json]\n");
		return;
	}
	for (size_t p = 0; p < c->cfg->n_pools; p++)
		n_live += c->cfg->pools[p].name[0] != '\0';
	outbuf_printf(out, "ok %zu pool%s\n", n_live, n_live == 1 ? "" : "s");
	if (json)
		outbuf_printf(out, "{\"pools\":[");
	else
		outbuf_printf(out, "%-20s %8s %8s %8s %8s %8s %8s %8s %8s  %-9s  %s\n", "POOL",
			      "TOTAL", "UP", "DOWN", "UNKNOWN", "DRAINING", "MAINT", "CAPACITY",
			      "FREE", "FAIL-OPEN", "CHECK");
	for (size_t p = 0, shown = 0; p < c->cfg->n_pools; p++)
		if (c->cfg->pools[p].name[0])
			pool_line(c, p, json, out, shown++);
	if (json)
		outbuf_printf(out, "]}\n");
}

/* The end of a reload the socket asked for: its log line is the answer. */
static void answered(void *ctx, bool ok, const char *msg)
{
	struct command_ctx *c = ctx;
	char reply[3 * CONFIG_ERR_LEN + 16];

	notify_reloaded();
	snprintf(reply, sizeof(reply), "%s%s\n", ok ? "ok " : "error: ", msg);
	control_answer(c->ctl, reply);
}

static void reload_cmd(struct command_ctx *c, bool reset, struct outbuf *out)
{
	if (reload_busy(c->rl) || c->ctl->held) {
		outbuf_printf(out, "error: a reload is under way; ask again when it is done\n");
		return;
	}
	notify_reloading();
	control_hold(c->ctl);
	reload_start(c->rl, reset, answered, c, mono_ns());
}

static void runtime_show(struct command_ctx *c, struct outbuf *out)
{
	struct sf_list l = { 0 };
	uint64_t now = real_ns();
	char a[64];

	if (runtime_snapshot(c->rt, &l, now)) {
		outbuf_printf(out, "error: out of memory\n");
		sf_free(&l);
		return;
	}
	outbuf_printf(out, "ok %zu runtime change%s on top of %s (state_file %s)\n", l.n,
		      l.n == 1 ? "" : "s", c->cfg->path, c->rt->path[0] ? c->rt->path : "none");
	for (size_t i = 0; i < l.n; i++) {
		const struct sf_entry *e = &l.v[i];

		outbuf_printf(out, "%-5s %s %s", sf_kind_name(e->kind), e->pool,
			      addr_format(&e->key, a, sizeof(a)));
		if (e->kind == SF_DRAIN)
			outbuf_printf(out, " (removed in %.0f s)",
				      e->until_ms * 1e6 > now ? (e->until_ms * 1e6 - now) / 1e9 : 0);
		outbuf_printf(out, "\n");
	}
	sf_free(&l);
}

static void runtime_cmd(struct command_ctx *c, char **w, int n, struct outbuf *out)
{
	if (n == 2 && !strcmp(w[1], "show"))
		runtime_show(c, out);
	else if (n == 2 && !strcmp(w[1], "reset"))
		reload_cmd(c, true, out);
	else
		outbuf_printf(out, "error: usage: runtime show|reset\n");
}

void command_run(void *ctx, char *line, struct outbuf *out)
{
	struct command_ctx *c = ctx;
	char *w[MAX_WORDS];
	int n = split(line, w);

	if (n > MAX_WORDS)
		outbuf_printf(out, "error: too many words; %s\n", usage);
	else if (n == 0 || !strcmp(w[0], "help"))
		outbuf_printf(out, "ok %s\n", usage);
	else if (!strcmp(w[0], "backend"))
		backend_cmd(c, w, n, out);
	else if (!strcmp(w[0], "pool"))
		pool_cmd(c, w, n, out);
	else if (!strcmp(w[0], "reload") && n == 1)
		reload_cmd(c, false, out);
	else if (!strcmp(w[0], "runtime"))
		runtime_cmd(c, w, n, out);
	else
		outbuf_printf(out, "error: unknown command '%s'; %s\n", w[0], usage);
}
