// SPDX-License-Identifier: MIT
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>

#include "control.h"
#include "defaults.h"

void outbuf_printf(struct outbuf *b, const char *fmt, ...)
{
	va_list ap;
	int n;

	for (;;) {
		va_start(ap, fmt);
		n = vsnprintf(b->p ? b->p + b->len : NULL, b->p ? b->cap - b->len : 0, fmt, ap);
		va_end(ap);
		if (n < 0)
			return;
		if (b->p && b->len + (size_t)n < b->cap) {
			b->len += (size_t)n;
			return;
		}
		size_t cap = b->cap ? b->cap : 256;

		while (cap < b->len + (size_t)n + 1)
			cap *= 2;
		char *p = realloc(b->p, cap);

		if (!p) {
			b->failed = true;
			return;
		}
		b->p = p;
		b->cap = cap;
	}
}

void outbuf_free(struct outbuf *b)
{
	free(b->p);
	memset(b, 0, sizeof(*b));
}

static int fail(char *err, size_t len, const char *path, const char *what)
{
	snprintf(err, len, "control_socket %s: %s: %s", path, what, strerror(errno));
	return -1;
}

/* Whether some process accepts connections on the socket at path. */
static bool served(const struct sockaddr_un *sa)
{
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	bool yes;

	if (fd < 0)
		return false;
	yes = !connect(fd, (const struct sockaddr *)sa, sizeof(*sa));
	close(fd);
	return yes;
}

/* The directory of the default sockets; other paths need theirs to exist. */
static void make_run_dir(const char *path)
{
	size_t n = strlen(DEFAULT_RUN_DIR);

	if (!strncmp(path, DEFAULT_RUN_DIR "/", n + 1))
		mkdir(DEFAULT_RUN_DIR, 0755);
}

static int clear_old(const struct sockaddr_un *sa, const char *path, char *err, size_t len)
{
	struct stat st;

	if (lstat(path, &st))
		return 0;
	if (!S_ISSOCK(st.st_mode)) {
		snprintf(err, len, "control_socket %s: exists and is not a socket", path);
		return -1;
	}
	if (served(sa)) {
		snprintf(err, len, "control_socket %s: another process serves it (another "
			 "engine on the same pin_path or control_socket?)", path);
		return -1;
	}
	if (unlink(path))
		return fail(err, len, path, "cannot remove the stale socket");
	return 0;
}

int control_open(struct control *ctl, const char *path, char *err, size_t errlen)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	mode_t old;
	int e;

	memset(ctl, 0, sizeof(*ctl));
	ctl->fd = -1;
	for (int i = 0; i < CONTROL_CLIENTS; i++)
		ctl->c[i].fd = -1;
	if (strlen(path) >= sizeof(sa.sun_path)) {
		snprintf(err, errlen, "control_socket %s: longer than the %zu "
			 "bytes a Unix socket path may have", path, sizeof(sa.sun_path) - 1);
		return -1;
	}
	strcpy(sa.sun_path, path);
	make_run_dir(path);
	if (clear_old(&sa, path, err, errlen))
		return -1;
	ctl->fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (ctl->fd < 0)
		return fail(err, errlen, path, "socket");
	/* Mode 0600 from the start: there is no moment anyone else may connect. */
	old = umask(0177);
	e = bind(ctl->fd, (struct sockaddr *)&sa, sizeof(sa));
	umask(old);
	if (e || listen(ctl->fd, CONTROL_CLIENTS)) {
		fail(err, errlen, path, e ? "bind" : "listen");
		close(ctl->fd);
		ctl->fd = -1;
		return -1;
	}
	snprintf(ctl->path, sizeof(ctl->path), "%s", path);
	return 0;
}

static void drop(struct control_client *c)
{
	close(c->fd);
	outbuf_free(&c->out);
	memset(c, 0, sizeof(*c));
	c->fd = -1;
}

static void accept_new(struct control *ctl)
{
	for (int i = 0; i < CONTROL_CLIENTS; i++) {
		struct control_client *c = &ctl->c[i];
		int fd;

		if (c->fd >= 0)
			continue;
		fd = accept(ctl->fd, NULL, NULL);
		if (fd < 0)
			return;
		fcntl(fd, F_SETFL, O_NONBLOCK);
		fcntl(fd, F_SETFD, FD_CLOEXEC);
		c->fd = fd;
	}
}

/* One complete line: run it and queue its reply block. */
static void run_line(struct control *ctl, struct control_client *c, char *line, control_fn fn,
		     void *ctx)
{
	size_t n = strlen(line);

	if (n && line[n - 1] == '\r')
		line[--n] = '\0';
	if (c->overlong) {
		c->overlong = false;
		outbuf_printf(&c->out, "error: command longer than %d bytes\n\n",
			      CONTROL_LINE_MAX - 1);
		return;
	}
	ctl->commands++;
	fn(ctx, line, &c->out);
	outbuf_printf(&c->out, "\n");
}

/* Complete lines of c's input, up to *budget of them. */
static void run_lines(struct control *ctl, struct control_client *c, control_fn fn, void *ctx,
		      unsigned int *budget)
{
	char *nl;

	while (*budget && (nl = memchr(c->in, '\n', c->in_len))) {
		size_t used = (size_t)(nl - c->in) + 1;

		*nl = '\0';
		run_line(ctl, c, c->in, fn, ctx);
		memmove(c->in, c->in + used, c->in_len - used);
		c->in_len -= used;
		(*budget)--;
	}
	if (c->in_len == sizeof(c->in)) {
		/* No end of line in a full buffer: drop it up to the next newline. */
		c->overlong = true;
		c->in_len = 0;
	}
}

static void read_more(struct control_client *c)
{
	ssize_t n;

	if (c->eof || c->in_len == sizeof(c->in))
		return;
	n = recv(c->fd, c->in + c->in_len, sizeof(c->in) - c->in_len, 0);
	if (n > 0)
		c->in_len += (size_t)n;
	else if (n == 0 || (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR))
		c->eof = true;
}

/* Send what is queued; false when the client is gone. */
static bool write_out(struct control_client *c)
{
	while (c->out_sent < c->out.len) {
		ssize_t n = send(c->fd, c->out.p + c->out_sent, c->out.len - c->out_sent,
				 MSG_NOSIGNAL);

		if (n < 0)
			return errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR;
		c->out_sent += (size_t)n;
	}
	c->out.len = 0;
	c->out_sent = 0;
	return true;
}

void control_poll(struct control *ctl, control_fn fn, void *ctx, unsigned int max_commands)
{
	unsigned int budget = max_commands;

	if (ctl->fd < 0)
		return;
	accept_new(ctl);
	for (int i = 0; i < CONTROL_CLIENTS; i++) {
		struct control_client *c = &ctl->c[i];

		if (c->fd < 0)
			continue;
		/* A client that does not read its replies gets no more answers. */
		if (!c->out.len)
			read_more(c);
		run_lines(ctl, c, fn, ctx, &budget);
		if (!write_out(c) || c->out.failed ||
		    (c->eof && !c->out.len && !memchr(c->in, '\n', c->in_len)))
			drop(c);
	}
}

void control_close(struct control *ctl)
{
	if (ctl->fd < 0)
		return;
	for (int i = 0; i < CONTROL_CLIENTS; i++)
		if (ctl->c[i].fd >= 0)
			drop(&ctl->c[i]);
	close(ctl->fd);
	unlink(ctl->path);
	ctl->fd = -1;
}
