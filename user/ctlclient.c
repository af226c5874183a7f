// SPDX-License-Identifier: MIT
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/socket.h>
#include <sys/un.h>

#include "ctlclient.h"

static int connect_to(const char *path)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int fd;

	if (strlen(path) >= sizeof(sa.sun_path)) {
		fprintf(stderr, "xdphc: control socket path too long: %s\n", path);
		return -1;
	}
	strcpy(sa.sun_path, path);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd >= 0 && !connect(fd, (struct sockaddr *)&sa, sizeof(sa)))
		return fd;
	fprintf(stderr, "xdphc: cannot reach the engine at %s: %s%s\n", path, strerror(errno),
		errno == ENOENT || errno == ECONNREFUSED ?
		" (is `xdphc run` up? give --socket, --pin-path or -c if it uses another)" : "");
	if (fd >= 0)
		close(fd);
	return -1;
}

/* The reply block: up to an empty line, or to the end of the connection. */
static char *read_reply(int fd)
{
	size_t len = 0, cap = 4096;
	char *buf = malloc(cap);
	ssize_t n;

	while (buf) {
		if (len + 1 >= cap) {
			char *b = realloc(buf, cap *= 2);

			if (!b)
				break;
			buf = b;
		}
		n = read(fd, buf + len, cap - len - 1);
		if (n <= 0)
			break;
		len += (size_t)n;
		buf[len] = '\0';
		if (strstr(buf, "\n\n"))
			return buf;
	}
	if (buf)
		buf[len] = '\0';
	return buf;
}

static int print_reply(const char *reply)
{
	const char *nl = strchr(reply, '\n');
	size_t first = nl ? (size_t)(nl - reply) : strlen(reply);
	const char *data = nl ? nl + 1 : "";
	size_t dlen = strlen(data);

	if (!strncmp(reply, "ok", 2)) {
		if (first > 3)
			printf("%.*s\n", (int)(first - 3), reply + 3);
		while (dlen && data[dlen - 1] == '\n')
			dlen--;
		if (dlen)
			printf("%.*s\n", (int)dlen, data);
		return 0;
	}
	if (!first) {
		fprintf(stderr, "xdphc: the engine closed the connection without an answer\n");
		return 1;
	}
	fprintf(stderr, "xdphc: %.*s\n", (int)first, reply);
	return 1;
}

int ctlclient_run(const char *socket_path, const char *line)
{
	int fd = connect_to(socket_path), rc;
	size_t len = strlen(line);
	char *reply;

	if (fd < 0)
		return 1;
	if (write(fd, line, len) != (ssize_t)len || write(fd, "\n", 1) != 1) {
		fprintf(stderr, "xdphc: sending to %s: %s\n", socket_path, strerror(errno));
		close(fd);
		return 1;
	}
	shutdown(fd, SHUT_WR);
	reply = read_reply(fd);
	close(fd);
	if (!reply) {
		fprintf(stderr, "xdphc: out of memory\n");
		return 1;
	}
	rc = print_reply(reply);
	free(reply);
	return rc;
}
