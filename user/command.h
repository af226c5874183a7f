/* SPDX-License-Identifier: MIT */
/*
 * The commands of the control socket, one a line:
 *
 *   backend add|del|drain|undrain|maint|ready POOL ADDR:PORT
 *   pool list [json]
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
#include "roster.h"

struct command_ctx {
	const struct config *cfg;
	struct roster *roster;
	const struct poolview *view;
	const struct xdphc_pool_summary *pools;
};

/* A control_fn: ctx is a struct command_ctx. */
void command_run(void *ctx, char *line, struct outbuf *out);

#endif
