/* SPDX-License-Identifier: MIT */
/*
 * The control socket: a Unix stream socket (mode 0600) that takes one
 * command a line and answers each with a block: a first line "ok ..." or
 * "error: ...", maybe lines of data, and an empty line.  Served from the
 * engine's loop without blocking it: a few commands a tick at most.
 */
#ifndef XDPHC_CONTROL_H
#define XDPHC_CONTROL_H

#include <limits.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define CONTROL_LINE_MAX 1024
#define CONTROL_CLIENTS 16

/* A reply being built, and the bytes a client has still to be sent. */
struct outbuf {
	char *p;
	size_t len, cap;
	bool failed;		/* out of memory: the reply is cut */
};

void outbuf_printf(struct outbuf *b, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
void outbuf_free(struct outbuf *b);

/* Run one command line; the reply (without the closing empty line) goes into out. */
typedef void (*control_fn)(void *ctx, char *line, struct outbuf *out);

struct control_client {
	int fd;			/* -1: free */
	char in[CONTROL_LINE_MAX];
	size_t in_len;
	bool overlong;		/* discarding the rest of a line too long */
	bool eof;
	struct outbuf out;
	size_t out_sent;
};

struct control {
	int fd;			/* the listening socket; -1 when not open */
	char path[PATH_MAX];
	struct control_client c[CONTROL_CLIENTS];
	uint64_t commands;
};

/*
 * Listen on path, replacing a stale socket there (one nobody listens on)
 * and refusing one that another process serves.  0, or -1 with a message.
 */
int control_open(struct control *ctl, const char *path, char *err, size_t errlen);
/* Serve clients: at most max_commands commands this call. */
void control_poll(struct control *ctl, control_fn fn, void *ctx, unsigned int max_commands);
/* Close every connection and remove the socket. */
void control_close(struct control *ctl);

#endif
