// SPDX-License-Identifier: MIT
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <arpa/inet.h>

#include "addr.h"
#include "eventlog.h"
#include "names.h"

/*
 * O_NOFOLLOW: the engine runs as root and appends to this path again on
 * every SIGHUP; a symlink put there (by whoever can write the directory)
 * would make it append to any file it names.  O_NONBLOCK only for the open:
 * a FIFO nobody reads would otherwise hang the start (ENXIO instead).
 */
static int open_file(struct eventlog *el, char *err, size_t errlen)
{
	int fd = open(el->path, O_WRONLY | O_APPEND | O_CREAT | O_NOFOLLOW | O_NONBLOCK |
		      O_CLOEXEC, 0666);

	if (fd < 0) {
		if (errno == ELOOP)
			snprintf(err, errlen, "event_log %s is a symbolic link; refusing to "
				 "follow it (name the file itself)", el->path);
		else if (errno == ENXIO)
			snprintf(err, errlen, "event_log %s is a FIFO that nobody reads",
				 el->path);
		else
			snprintf(err, errlen, "event_log %s: %s", el->path, strerror(errno));
		return -1;
	}
	fcntl(fd, F_SETFL, O_APPEND);
	el->f = fdopen(fd, "a");
	if (!el->f) {
		snprintf(err, errlen, "event_log %s: %s", el->path, strerror(errno));
		close(fd);
		return -1;
	}
	/* Large buffer: a start at a million backends writes a million lines. */
	setvbuf(el->f, NULL, _IOFBF, 1 << 20);
	return 0;
}

int eventlog_open(struct eventlog *el, const char *target, char *err, size_t errlen)
{
	memset(el, 0, sizeof(*el));
	if (!target[0])
		return 0;
	if (!strcmp(target, "stdout")) {
		el->f = stdout;
		return 0;
	}
	snprintf(el->path, sizeof(el->path), "%s", target);
	return open_file(el, err, errlen);
}

static void iso_time(uint64_t ns, char *buf, size_t len)
{
	time_t t = ns / 1000000000ULL;
	struct tm tm;
	char s[32];

	gmtime_r(&t, &tm);
	strftime(s, sizeof(s), "%Y-%m-%dT%H:%M:%S", &tm);
	snprintf(buf, len, "%s.%06uZ", s, (unsigned int)(ns % 1000000000ULL / 1000));
}

/* The common head of a line about one backend: time, pool, address, port. */
static void line_head(struct eventlog *el, uint64_t now_real_ns, const char *pool,
		      const struct xdphc_backend_key *key)
{
	char t[48], a[64], *colon;

	iso_time(now_real_ns, t, sizeof(t));
	addr_format(key, a, sizeof(a));
	colon = strrchr(a, ':');
	*colon = '\0';
	if (a[0] == '[') {
		memmove(a, a + 1, strlen(a));
		a[strlen(a) - 1] = '\0';
	}
	fprintf(el->f, "{\"time\":\"%s\",\"time_ns\":%llu,\"pool\":\"%s\",\"address\":\"%s\","
		"\"port\":%u,", t, (unsigned long long)now_real_ns, pool, a, ntohs(key->port));
}

void eventlog_write(struct eventlog *el, uint64_t now_real_ns, const char *pool,
		    const struct xdphc_backend_status *st, uint8_t from)
{
	uint16_t icmp = status_icmp(st);

	if (!el->f)
		return;
	line_head(el, now_real_ns, pool, &st->key);
	fprintf(el->f, "\"from\":\"%s\",\"to\":\"%s\",\"check\":\"%s\",\"reason\":\"%s\","
		"\"detail\":%u,\"http_status\":%u,\"icmp_type\":%u,"
		"\"icmp_code\":%u,\"rtt_us\":%u,\"consecutive_ok\":%u,\"consecutive_fail\":%u}\n",
		state_name(from), state_name(st->state), check_name(st->check),
		reason_name(st->reason), st->detail, status_http_code(st),
		XDPHC_DETAIL_ICMP_TYPE(icmp), XDPHC_DETAIL_ICMP_CODE(icmp),
		st->last_rtt_us, st->consecutive_ok, st->consecutive_fail);
	el->dirty = true;
}

void eventlog_admin(struct eventlog *el, uint64_t now_real_ns, const char *pool,
		    const struct xdphc_backend_key *key, const char *event, uint32_t id,
		    uint16_t generation, const char *state)
{
	if (!el->f)
		return;
	line_head(el, now_real_ns, pool, key);
	fprintf(el->f, "\"event\":\"%s\",\"id\":%u,\"generation\":%u,\"state\":\"%s\"}\n",
		event, id, generation, state);
	el->dirty = true;
}

void eventlog_circuit(struct eventlog *el, uint64_t now_real_ns, const struct circuit_event *ev)
{
	char t[48], pool[XDPHC_POOL_NAME_LEN + 2] = "null";

	if (!el->f)
		return;
	iso_time(now_real_ns, t, sizeof(t));
	/* Pool names are checked at load: no character needs escaping. */
	if (ev->pool)
		snprintf(pool, sizeof(pool), "\"%s\"", ev->pool);
	fprintf(el->f, "{\"time\":\"%s\",\"time_ns\":%llu,\"event\":\"%s\",\"cause\":\"%s\","
		"\"pool\":%s,\"failing\":%u,\"backends\":%u,\"open_s\":%.3f}\n", t,
		(unsigned long long)now_real_ns, ev->event, ev->cause, pool, ev->failing,
		ev->backends, ev->open_s);
	el->dirty = true;
}

void eventlog_flush(struct eventlog *el)
{
	if (!el->f || !el->dirty)
		return;
	fflush(el->f);
	el->dirty = false;
}

/* Also the retry after a failed reopen: f is NULL then, path still set. */
int eventlog_reopen(struct eventlog *el, char *err, size_t errlen)
{
	if (!el->path[0])
		return 0;
	if (el->f)
		fclose(el->f);
	el->f = NULL;
	return open_file(el, err, errlen);
}

void eventlog_close(struct eventlog *el)
{
	if (!el->f)
		return;
	fflush(el->f);
	if (el->path[0])
		fclose(el->f);
	el->f = NULL;
}
