/* SPDX-License-Identifier: MIT */
#ifndef XDPHC_ENGINE_H
#define XDPHC_ENGINE_H

/* `xdphc run -c CONFIG`: returns the process exit code. */
int engine_run(const char *config_path);

#endif
