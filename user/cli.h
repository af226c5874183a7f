/* SPDX-License-Identifier: MIT */
#ifndef XDPHC_CLI_H
#define XDPHC_CLI_H

#include <stdbool.h>

struct cli_opts {
	const char *pin_path;
	const char *pool;	/* status: only this pool */
	bool json;
	bool summary;	/* status: engine, stats and pools only, no backend list */
};

/* `xdphc status` and `xdphc show ADDR:PORT`: read the pins, never the daemon. */
int cli_status(const struct cli_opts *o);
int cli_show(const struct cli_opts *o, const char *backend);

#endif
