// SPDX-License-Identifier: MIT
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <netinet/in.h>

#include "addr.h"
#include "command.h"
#include "log.h"

#define MAX_WORDS 8

static const char usage[] =
	"commands: backend add|del|drain|undrain|maint|ready POOL ADDR:PORT; pool list [json]";

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

static int find_pool(const struct config *cfg, const char *name)
{
	for (size_t p = 0; p < cfg->n_pools; p++)
		if (!strcmp(cfg->pools[p].name, name))
			return (int)p;
	return -1;
}

static void unknown_pool(const struct config *cfg, const char *name, struct outbuf *out)
{
	outbuf_printf(out, "error: unknown pool '%s' (pools:", name);
	for (size_t p = 0; p < cfg->n_pools; p++)
		outbuf_printf(out, "%s %s", p ? "," : "", cfg->pools[p].name);
	outbuf_printf(out, ")\n");
}

static int parse_backend(const char *text, struct xdphc_backend_key *key, struct outbuf *out)
{
	char err[128];

	if (addr_parse_backend(text, key, err, sizeof(err))) {
		outbuf_printf(out, "error: bad address '%s': %s\n", text, err);
		return -1;
	}
	if (key->family != AF_INET) {
		outbuf_printf(out, "error: %s: IPv6 backends are not supported yet\n", text);
		return -1;
	}
	key->protocol = IPPROTO_TCP;
	return 0;
}

static void backend_cmd(struct command_ctx *c, char **w, int n, struct outbuf *out)
{
	struct xdphc_backend_key key;
	char res[512];
	int p, rc;

	if (n != 4) {
		outbuf_printf(out, "error: usage: backend %s POOL ADDR:PORT\n", n > 1 ? w[1] : "ACTION");
		return;
	}
	p = find_pool(c->cfg, w[2]);
	if (p < 0) {
		unknown_pool(c->cfg, w[2], out);
		return;
	}
	if (parse_backend(w[3], &key, out))
		return;
	if (!strcmp(w[1], "add"))
		rc = roster_add(c->roster, p, &key, res, sizeof(res));
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
}

static void pool_line(const struct command_ctx *c, size_t p, bool json, struct outbuf *out)
{
	const struct pool_cfg *pc = &c->cfg->pools[p];
	const struct xdphc_pool_summary *ps = &c->pools[p];
	const struct roster_pool *rp = &c->roster->pools[p];

	if (json) {
		outbuf_printf(out, "%s{\"name\":\"%s\",\"total\":%u,\"up\":%u,\"down\":%u,"
			      "\"unknown\":%u,\"draining\":%u,\"maint\":%u,\"capacity\":%u,"
			      "\"free\":%zu,\"first_id\":%u,\"interval_ms\":%u,\"timeout_ms\":%u,"
			      "\"initial_state\":\"%s\",\"deregistration_delay_ms\":%u,"
			      "\"grace_period_ms\":%u,\"fail_open\":%s}",
			      p ? "," : "", pc->name, ps->total, ps->up, ps->down, ps->unknown,
			      ps->draining, ps->maint, rp->capacity, rp->free.len, rp->first,
			      pc->hc.interval_ms, pc->hc.timeout_ms,
			      pc->initial_state == XDPHC_STATE_UP ? "up" :
			      pc->initial_state == XDPHC_STATE_DOWN ? "down" : "unknown",
			      pc->deregistration_delay_ms, pc->grace_period_ms,
			      ps->flags & XDPHC_POOL_F_FAIL_OPEN ? "true" : "false");
		return;
	}
	outbuf_printf(out, "%-20s %8u %8u %8u %8u %8u %8u %8u %8zu  %s\n", pc->name, ps->total,
		      ps->up, ps->down, ps->unknown, ps->draining, ps->maint, rp->capacity,
		      rp->free.len, ps->flags & XDPHC_POOL_F_FAIL_OPEN ? "yes" : "no");
}

static void pool_cmd(struct command_ctx *c, char **w, int n, struct outbuf *out)
{
	bool json = n == 3 && !strcmp(w[2], "json");

	if (n < 2 || strcmp(w[1], "list") || (n == 3 && !json) || n > 3) {
		outbuf_printf(out, "error: usage: pool list [json]\n");
		return;
	}
	outbuf_printf(out, "ok %zu pool%s\n", c->cfg->n_pools, c->cfg->n_pools == 1 ? "" : "s");
	if (json)
		outbuf_printf(out, "{\"pools\":[");
	else
		outbuf_printf(out, "%-20s %8s %8s %8s %8s %8s %8s %8s %8s  %s\n", "POOL", "TOTAL",
			      "UP", "DOWN", "UNKNOWN", "DRAINING", "MAINT", "CAPACITY", "FREE",
			      "FAIL-OPEN");
	for (size_t p = 0; p < c->cfg->n_pools; p++)
		pool_line(c, p, json, out);
	if (json)
		outbuf_printf(out, "]}\n");
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
	else
		outbuf_printf(out, "error: unknown command '%s'; %s\n", w[0], usage);
}
