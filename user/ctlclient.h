/* SPDX-License-Identifier: MIT */
#ifndef XDPHC_CTLCLIENT_H
#define XDPHC_CTLCLIENT_H

/*
 * Send one command line to the engine's control socket and print its reply:
 * the result line (without "ok ") and any data on stdout, an error on
 * stderr.  Returns the exit code: 0 ok, 1 refused or unreachable.
 */
int ctlclient_run(const char *socket_path, const char *line);

#endif
