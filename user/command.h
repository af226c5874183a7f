/* SPDX-License-Identifier: MIT */
/*
 * The commands of the control socket, one a line:
 *
 *   backend add|del|drain|undrain|maint|ready POOL ADDR:PORT   (ADDR: IPv4 or [IPv6])
 *   pool list [json]
 *   reload                 the config file, as SIGHUP does; answers when done
 *   runtime show           the runtime changes the state file keeps
 *   runtime reset          drop them: a reload of the config file alone
 *   help
 *
 * Each runs on the roster as one atomic change and answers "ok <what was
 * done>" or "error: <why nothing was>".
 */
#ifndef XDPHC_COMMAND_H
#define XDPHC_COMMAND_H

#include "config.h"
#include "control.h"
#include "poolview.h"
#include "reload.h"
#include "roster.h"
#include "runtime.h"

struct command_ctx {
	const struct config *cfg;
	struct roster *roster;
	const struct poolview *view;
	const struct xdphc_pool_summary *pools;
	struct runtime *rt;
	struct reload *rl;
	struct control *ctl;		/* a reload answers later */
	const struct cfg_netif *nif;	/* sources and MTU for backend add; NULL: any */
};

/* A control_fn: ctx is a struct command_ctx. */
void command_run(void *ctx, char *line, struct outbuf *out);

#endif
