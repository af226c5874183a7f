/* SPDX-License-Identifier: MIT */
/*
 * Defaults that more than one part of xdphc must agree on: the engine
 * (through the config) pins where the CLI reads by default.
 */
#ifndef XDPHC_DEFAULTS_H
#define XDPHC_DEFAULTS_H

#define DEFAULT_PIN_PATH "/sys/fs/bpf/xdphc"
/* Runtime state: reserved ports records, control sockets. */
#define DEFAULT_RUN_DIR "/run/xdphc"

#endif
