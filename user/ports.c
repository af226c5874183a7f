// SPDX-License-Identifier: MIT
/*
 * The host side of the source port range.
 *
 * Probes leave from (source_ipv4, a port of the range) and probe_rx takes
 * the replies that match a probe slot away from the kernel, so a kernel
 * socket on such a port collides with the probes' 4-tuples and can lose
 * its packets to probe_rx.  Two things can put one there: the kernel's own
 * automatic choice of a local port (connect() without bind(), bind() to
 * port 0), which stays inside ip_local_port_range and skips
 * ip_local_reserved_ports; and a program that binds a port of the range
 * explicitly, which no sysctl prevents.  The first is prevented here by
 * reserving the overlap for as long as the engine runs; the second is
 * detected at start.  NAT (masquerade, SNAT without a port range) picks its
 * ports without looking at either sysctl; the BPF side deals with that by
 * touching only replies that match a probe slot.
 *
 * Both sysctls are per network namespace (net->ipv4.ip_local_ports and
 * sysctl_local_reserved_ports), and /proc/sys/net shows the namespace of
 * the process that opens it: everything here acts on the engine's own.
 */
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <sys/file.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <linux/inet_diag.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <linux/sock_diag.h>

#include "log.h"
#include "ports.h"

#ifndef SO_NETNS_COOKIE
#define SO_NETNS_COOKIE 71
#endif

#define RESERVED_SYSCTL "/proc/sys/net/ipv4/ip_local_reserved_ports"
#define RANGE_SYSCTL "/proc/sys/net/ipv4/ip_local_port_range"
#define RESERVED_NAME "net.ipv4.ip_local_reserved_ports"
#define STATE_PARENT "/run"
#define STATE_DIR DEFAULT_RUN_DIR "/reserved-ports"
/*
 * The sysctl prints its whole list in one read() and returns nothing at a
 * non-zero offset, so it must be read with one buffer big enough for the
 * worst case: every other port listed alone is about 190 kB.
 */
#define SYSCTL_BUF (512 * 1024)
#define STATE_BUF (SYSCTL_BUF + 4096)
#define NPORTS 65536
#define NWORDS (NPORTS / 64)
#define LIST_SHOWN 160		/* characters of a port list put into one log line */

struct portset {
	uint64_t w[NWORDS];
};

static void ps_add_range(struct portset *s, unsigned int lo, unsigned int hi)
{
	for (unsigned int p = lo; p <= hi; p++)
		s->w[p / 64] |= 1ULL << (p % 64);
}

static bool ps_has(const struct portset *s, unsigned int p)
{
	return s->w[p / 64] >> (p % 64) & 1;
}

static unsigned int ps_count(const struct portset *s)
{
	unsigned int n = 0;

	for (size_t i = 0; i < NWORDS; i++)
		n += (unsigned int)__builtin_popcountll(s->w[i]);
	return n;
}

/* "8080,9000-9100": the sysctl's own syntax, read and written alike. */
static int ps_parse(struct portset *s, const char *text)
{
	const char *p = text;

	memset(s, 0, sizeof(*s));
	while (*p) {
		unsigned long lo, hi;
		char *end;

		while (*p == ',' || isspace((unsigned char)*p))
			p++;
		if (!*p)
			break;
		if (!isdigit((unsigned char)*p))
			return -1;
		lo = hi = strtoul(p, &end, 10);
		p = end;
		if (*p == '-') {
			if (!isdigit((unsigned char)p[1]))
				return -1;
			hi = strtoul(p + 1, &end, 10);
			p = end;
		}
		if (lo > hi || hi >= NPORTS)
			return -1;
		if (*p && *p != ',' && !isspace((unsigned char)*p))
			return -1;
		ps_add_range(s, lo, hi);
	}
	return 0;
}

/* The list in the sysctl's syntax, malloc-ed ("" for no port); NULL if out of memory. */
static char *ps_format(const struct portset *s)
{
	char *buf = malloc(SYSCTL_BUF), *at = buf;

	if (!buf)
		return NULL;
	*at = '\0';
	for (unsigned int p = 0; p < NPORTS; p++) {
		unsigned int q = p;

		if (!ps_has(s, p))
			continue;
		while (q + 1 < NPORTS && ps_has(s, q + 1))
			q++;
		at += sprintf(at, "%s%u", at == buf ? "" : ",", p);
		if (q > p)
			at += sprintf(at, "-%u", q);
		p = q;
	}
	return buf;
}

/* A list short enough for a log line, with the number of ports. */
static void ps_describe(const struct portset *s, char *out, size_t len)
{
	char *list = ps_format(s);
	unsigned int n = ps_count(s);

	if (!list) {
		snprintf(out, len, "%u ports", n);
		return;
	}
	if (strlen(list) > LIST_SHOWN) {
		char *cut = list + LIST_SHOWN;

		while (cut > list && *cut != ',')
			cut--;
		*cut = '\0';
		snprintf(out, len, "%s,... (%u port%s)", list, n, n == 1 ? "" : "s");
	} else {
		snprintf(out, len, "%s (%u port%s)", list, n, n == 1 ? "" : "s");
	}
	free(list);
}

static int read_reserved(struct portset *s, char *err, size_t errlen)
{
	char *buf = malloc(SYSCTL_BUF);
	ssize_t n;
	int fd, ret = -1;

	if (!buf) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	fd = open(RESERVED_SYSCTL, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		snprintf(err, errlen, "%s: %s", RESERVED_SYSCTL, strerror(errno));
		goto out;
	}
	do
		n = read(fd, buf, SYSCTL_BUF - 1);
	while (n < 0 && errno == EINTR);
	close(fd);
	if (n < 0) {
		snprintf(err, errlen, "%s: %s", RESERVED_SYSCTL, strerror(errno));
		goto out;
	}
	buf[n] = '\0';
	/* The kernel ends the list with a newline: without one it was cut short. */
	if (n >= SYSCTL_BUF - 1 || !n || buf[n - 1] != '\n' || ps_parse(s, buf)) {
		snprintf(err, errlen, "%s: unexpected contents", RESERVED_SYSCTL);
		goto out;
	}
	ret = 0;
out:
	free(buf);
	return ret;
}

/*
 * The kernel takes at most a page per write() and stops at the last whole
 * number; later writes on the same open file add to what the first one
 * set.  An empty write changes nothing, so "no port" is written as "\n".
 */
static int write_reserved(const struct portset *s, char *err, size_t errlen)
{
	char *list = ps_format(s);
	size_t len, done = 0;
	int fd;

	if (!list) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	len = strlen(list);
	list[len++] = '\n';
	fd = open(RESERVED_SYSCTL, O_WRONLY | O_CLOEXEC);
	if (fd < 0) {
		snprintf(err, errlen, "%s: %s", RESERVED_SYSCTL, strerror(errno));
		free(list);
		return -1;
	}
	while (done < len) {
		ssize_t n = write(fd, list + done, len - done);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			snprintf(err, errlen, "writing %s: %s", RESERVED_SYSCTL,
				 n < 0 ? strerror(errno) : "no progress");
			close(fd);
			free(list);
			return -1;
		}
		done += (size_t)n;
	}
	free(list);
	if (close(fd)) {
		snprintf(err, errlen, "writing %s: %s", RESERVED_SYSCTL, strerror(errno));
		return -1;
	}
	return 0;
}

static int read_port_range(unsigned int *lo, unsigned int *hi, char *err, size_t errlen)
{
	FILE *f = fopen(RANGE_SYSCTL, "re");
	int n;

	if (!f) {
		snprintf(err, errlen, "%s: %s", RANGE_SYSCTL, strerror(errno));
		return -1;
	}
	n = fscanf(f, "%u %u", lo, hi);
	fclose(f);
	if (n != 2 || *lo > *hi || *hi >= NPORTS) {
		snprintf(err, errlen, "%s: unexpected contents", RANGE_SYSCTL);
		return -1;
	}
	return 0;
}

/* ---- who we are: process, network namespace ---------------------------- */

/* Start time of pid (clock ticks after boot); 0 if there is no such process. */
static unsigned long long proc_start_time(pid_t pid)
{
	char path[64], buf[1024], *rp;
	unsigned long long t = 0;
	ssize_t n;
	int fd;

	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return 0;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return 0;
	buf[n] = '\0';
	/* comm may hold spaces and parentheses: fields are counted after the last ')' */
	rp = strrchr(buf, ')');
	if (!rp || sscanf(rp + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %*u %*u %*d %*d "
			  "%*d %*d %*d %*d %llu", &t) != 1)
		return 0;
	return t;
}

/*
 * The nsfs inode names a namespace while it lives, but is reused after it
 * is gone; the cookie (Linux >= 5.14) never is, so a state file of a dead
 * namespace is told apart from one of a new namespace with the same inode.
 */
static int netns_ids(unsigned long long *ino, unsigned long long *cookie)
{
	socklen_t len = sizeof(*cookie);
	struct stat st;
	int fd;

	if (stat("/proc/thread-self/ns/net", &st))
		return -1;
	*ino = st.st_ino;
	*cookie = 0;
	fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (fd >= 0) {
		if (getsockopt(fd, SOL_SOCKET, SO_NETNS_COOKIE, cookie, &len))
			*cookie = 0;
		close(fd);
	}
	return 0;
}

static uint64_t fnv1a64(const char *s)
{
	uint64_t h = 0xcbf29ce484222325ULL;

	for (; *s; s++)
		h = (h ^ (unsigned char)*s) * 0x100000001b3ULL;
	return h;
}

/* ---- state files: what an engine added, for the next start after a crash -- */

struct state {
	pid_t pid;
	unsigned long long start;	/* of pid, to survive pid reuse */
	unsigned long long ino, cookie;	/* of the network namespace */
	struct portset added;
};

/*
 * Open (and with create, make) STATE_DIR, refusing a symlink or a directory
 * someone else could write to: the files in it decide what is taken out of a
 * sysctl.  Returns the fd, -ENOENT if it is missing and !create, or -1.
 */
static int state_dir_open(bool create, char *err, size_t errlen)
{
	static const char *const parts[] = { "xdphc", "reserved-ports" };
	int fd = open(STATE_PARENT, O_RDONLY | O_DIRECTORY | O_CLOEXEC);

	if (fd < 0) {
		snprintf(err, errlen, "%s: %s", STATE_PARENT, strerror(errno));
		return -1;
	}
	for (size_t i = 0; i < sizeof(parts) / sizeof(parts[0]); i++) {
		struct stat st;
		int next;

		if (create && mkdirat(fd, parts[i], 0700) && errno != EEXIST) {
			snprintf(err, errlen, "cannot create %s: %s", STATE_DIR, strerror(errno));
			close(fd);
			return -1;
		}
		next = openat(fd, parts[i], O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		close(fd);
		if (next < 0 && errno == ENOENT && !create)
			return -ENOENT;
		if (next < 0) {
			snprintf(err, errlen, "%s: %s", STATE_DIR,
				 errno == ELOOP || errno == ENOTDIR ? "not a directory (a symlink?)" :
				 strerror(errno));
			return -1;
		}
		if (fstat(next, &st) || st.st_uid != geteuid() || (st.st_mode & 022)) {
			snprintf(err, errlen, "%s: not owned by uid %u or writable by others; "
				 "remove it", STATE_DIR, (unsigned int)geteuid());
			close(next);
			return -1;
		}
		fd = next;
	}
	return fd;
}

/* 1 and *s filled if the file exists, 0 if not, -1 if it cannot be read. */
static int state_read(int dfd, const char *key, struct state *s, char *err, size_t errlen)
{
	char *buf, *line, *save;
	unsigned int seen = 0;
	struct stat st;
	ssize_t n;
	int fd = openat(dfd, key, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);

	if (fd < 0 && errno == ENOENT)
		return 0;
	if (fd < 0) {
		snprintf(err, errlen, "%s/%s: %s", STATE_DIR, key, strerror(errno));
		return -1;
	}
	buf = malloc(STATE_BUF);
	if (!buf || fstat(fd, &st) || !S_ISREG(st.st_mode) || st.st_size >= STATE_BUF) {
		snprintf(err, errlen, "%s/%s: not a state file", STATE_DIR, key);
		close(fd);
		free(buf);
		return -1;
	}
	n = read(fd, buf, STATE_BUF - 1);
	close(fd);
	if (n < 0) {
		snprintf(err, errlen, "%s/%s: %s", STATE_DIR, key, strerror(errno));
		free(buf);
		return -1;
	}
	buf[n] = '\0';
	memset(s, 0, sizeof(*s));
	for (line = strtok_r(buf, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		int pid;

		if (sscanf(line, "pid %d", &pid) == 1) {
			s->pid = pid;
			seen |= 1;
		} else if (sscanf(line, "pid_start %llu", &s->start) == 1) {
			seen |= 2;
		} else if (sscanf(line, "netns_inode %llu", &s->ino) == 1) {
			seen |= 4;
		} else if (sscanf(line, "netns_cookie %llu", &s->cookie) == 1) {
			seen |= 8;
		} else if (!strncmp(line, "added ", 6)) {
			if (ps_parse(&s->added, line + 6))
				break;
			seen |= 16;
		}
	}
	free(buf);
	if (seen != 31) {
		snprintf(err, errlen, "%s/%s: not a complete state file", STATE_DIR, key);
		return -1;
	}
	return 1;
}

/*
 * Written whole under a temporary name and renamed, so a crash never leaves
 * half a list.  No fsync: /run is a tmpfs, and a reboot that would lose the
 * file also resets the sysctl it describes.
 */
static int state_write(int dfd, const char *key, const struct state *s, const char *pin_path,
		       char *err, size_t errlen)
{
	char tmp[96], *list = ps_format(&s->added);
	FILE *f = NULL;
	int fd, bad;

	snprintf(tmp, sizeof(tmp), ".%s.%d", key, (int)getpid());
	unlinkat(dfd, tmp, 0);
	fd = list ? openat(dfd, tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600)
		  : -1;
	if (fd >= 0)
		f = fdopen(fd, "w");
	if (!f) {
		snprintf(err, errlen, "cannot write %s/%s: %s", STATE_DIR, tmp,
			 list ? strerror(errno) : "out of memory");
		if (fd >= 0)
			close(fd);
		free(list);
		return -1;
	}
	fprintf(f, "# ports xdphc added to " RESERVED_NAME "; taken out again on stop,\n"
		"# or by the next start with the same pin_path if this engine died\n");
	fprintf(f, "pid %d\npid_start %llu\nnetns_inode %llu\nnetns_cookie %llu\n",
		(int)s->pid, s->start, s->ino, s->cookie);
	fprintf(f, "pin_path ");
	for (const char *c = pin_path; *c; c++)
		fputc(isprint((unsigned char)*c) ? *c : '?', f);
	fprintf(f, "\nadded %s\n", list);
	free(list);
	bad = ferror(f);
	if (fclose(f) || bad || renameat(dfd, tmp, dfd, key)) {
		snprintf(err, errlen, "cannot write %s/%s: %s", STATE_DIR, key, strerror(errno));
		unlinkat(dfd, tmp, 0);
		return -1;
	}
	return 0;
}

/*
 * A previous engine with the same key that did not stop cleanly left its
 * reservation behind: take out exactly what it had added.
 */
static int recover(int dfd, const char *key, const char *where, unsigned long long cookie)
{
	struct state *old = malloc(sizeof(*old));
	struct portset cur;
	char err[512], list[256];
	int rc;

	if (!old) {
		log_err("%s: out of memory", where);
		return -1;
	}
	rc = state_read(dfd, key, old, err, sizeof(err));
	if (rc <= 0) {
		/* Unreadable: nothing can be undone safely; say so and start over. */
		if (rc < 0) {
			log_warn("%s; removed it, check " RESERVED_NAME " for ports a previous "
				 "engine may have left", err);
			unlinkat(dfd, key, 0);
		}
		free(old);
		return 0;
	}
	if (old->pid != getpid() && old->start && proc_start_time(old->pid) == old->start) {
		log_err("%s: another xdphc engine (pid %d) holds the port reservation recorded in "
			"%s/%s", where, (int)old->pid, STATE_DIR, key);
		free(old);
		return -1;
	}
	if (old->cookie && cookie && old->cookie != cookie) {
		/* Its namespace is gone, and its sysctl with it; the inode was reused. */
		unlinkat(dfd, key, 0);
		free(old);
		return 0;
	}
	if (read_reserved(&cur, err, sizeof(err))) {
		log_err("%s: %s", where, err);
		free(old);
		return -1;
	}
	ps_describe(&old->added, list, sizeof(list));
	for (size_t i = 0; i < NWORDS; i++)
		cur.w[i] &= ~old->added.w[i];
	if (write_reserved(&cur, err, sizeof(err))) {
		log_err("%s: removing the ports a dead engine reserved: %s", where, err);
		free(old);
		return -1;
	}
	unlinkat(dfd, key, 0);
	log_info("removed source ports %s from " RESERVED_NAME ": reserved by xdphc pid %d, "
		 "which did not stop cleanly", list, (int)old->pid);
	free(old);
	return 0;
}

/*
 * Files of our nsfs inode but another cookie were left in namespaces that
 * are gone (the inode was reused), with other pin paths: the sysctls they
 * describe went with those namespaces, so they are only dropped.  Our own
 * key is recover()'s.
 */
static void sweep_gone_namespaces(int dfd, const char *key, unsigned long long ino,
				  unsigned long long cookie)
{
	struct state *st = malloc(sizeof(*st));
	int fd = openat(dfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	char prefix[32], err[512];
	struct dirent *de;
	size_t plen;
	DIR *d;

	if (!st || !cookie || fd < 0 || !(d = fdopendir(fd))) {
		if (fd >= 0)
			close(fd);
		free(st);
		return;
	}
	plen = (size_t)snprintf(prefix, sizeof(prefix), "%llu-", ino);
	while ((de = readdir(d)))
		if (!strncmp(de->d_name, prefix, plen) && strcmp(de->d_name, key) &&
		    state_read(dfd, de->d_name, st, err, sizeof(err)) == 1 && st->cookie &&
		    st->cookie != cookie)
			unlinkat(dfd, de->d_name, 0);
	closedir(d);
	free(st);
}

/* ---- local sockets in the range ----------------------------------------- */

/*
 * Which sockets conflict: every TCP and UDP socket, IPv4 or IPv6, in any
 * state, whose local port is in the range and whose local address is the
 * source address, a wildcard, or the source address mapped into IPv6.
 * probe_rx only looks at packets addressed to the source address, so a
 * socket on another local address (127.0.0.1, another interface) never
 * meets a probe and is left alone, as is an IPV6_V6ONLY socket on [::]
 * (probes are IPv4).  TIME_WAIT and orphaned FIN_WAIT/LAST_ACK sockets
 * count although no process owns them: they show that a connection used the
 * port within the last minute, so whatever chose it (a daemon that binds
 * there, or the kernel's own pick before the port was reserved) will do it
 * again while the engine probes from it; refusing at start names the cause
 * instead of leaving a silent 4-tuple collision, and the entry expires by
 * itself within a minute.
 *
 * Listed with NETLINK_SOCK_DIAG rather than /proc/net/{tcp,udp}{,6}: with
 * a port-range filter the kernel returns only the sockets in the range,
 * where the text files print every socket of a busy LB node (hundreds of
 * thousands of lines, with the hash table walked under its locks); the
 * reply carries the same inode /proc/PID/fd links point to.
 */
struct sock_hit {
	uint8_t proto, family, state;
	uint16_t port, dport;
	uint32_t inode;
	uint8_t src[16], dst[16];
};

struct scan {
	struct sock_hit first;	/* the one the message names */
	unsigned int n;
};

/* The engine's source addresses, network order. */
struct src_addrs {
	bool has4, has6;
	uint32_t v4;
	uint8_t v6[16];
};

static const char *const tcp_states[] = {
	[1] = "ESTABLISHED", [2] = "SYN_SENT", [3] = "SYN_RECV", [4] = "FIN_WAIT1",
	[5] = "FIN_WAIT2", [6] = "TIME_WAIT", [7] = "CLOSE", [8] = "CLOSE_WAIT",
	[9] = "LAST_ACK", [10] = "LISTEN", [11] = "CLOSING", [12] = "SYN_RECV",
};

static const char *state_name(const struct sock_hit *h)
{
	if (h->proto == IPPROTO_UDP)
		return h->state == 1 ? "connected" : "unconnected";
	return h->state < sizeof(tcp_states) / sizeof(tcp_states[0]) && tcp_states[h->state] ?
	       tcp_states[h->state] : "unknown state";
}

/*
 * A socket that could take replies to our probes: bound to a source
 * address of ours, or to a wildcard that covers one.  A family the engine
 * does not probe from (src 0) collides with nothing.
 */
static bool addr_conflicts(const struct inet_diag_msg *m, const struct src_addrs *src,
			   bool v6only)
{
	static const uint8_t mapped[12] = { [10] = 0xff, [11] = 0xff };
	static const uint8_t any[16];
	const uint8_t *a = (const uint8_t *)m->id.idiag_src;
	uint32_t v4;

	if (m->idiag_family == AF_INET) {
		memcpy(&v4, a, 4);
		return src->has4 && (v4 == 0 || v4 == src->v4);
	}
	memcpy(&v4, a + 12, 4);
	if (!memcmp(a, mapped, 12))
		return src->has4 && (v4 == 0 || v4 == src->v4);
	if (!memcmp(a, any, 16))
		return (src->has4 && !v6only) || src->has6;
	return src->has6 && !memcmp(a, src->v6, 16);
}

/* Sockets with an owner first (something to act on), then the lowest port. */
static bool better(const struct sock_hit *a, const struct sock_hit *b)
{
	if (!a->inode != !b->inode)
		return a->inode;
	return a->port < b->port;
}

static void take(struct scan *sc, const struct inet_diag_msg *m, uint8_t proto, bool v6only,
		 const struct src_addrs *src)
{
	struct sock_hit h = {
		.proto = proto, .family = m->idiag_family, .state = m->idiag_state,
		.port = ntohs(m->id.idiag_sport), .dport = ntohs(m->id.idiag_dport),
		.inode = m->idiag_inode,
	};

	if (!addr_conflicts(m, src, v6only))
		return;
	memcpy(h.src, m->id.idiag_src, 16);
	memcpy(h.dst, m->id.idiag_dst, 16);
	if (!sc->n++ || better(&h, &sc->first))
		sc->first = h;
}

/* One dump of one family and protocol, filtered in the kernel to [lo, hi]. */
static int diag_dump(int nl, uint8_t family, uint8_t proto, uint16_t lo, uint16_t hi,
		     const struct src_addrs *src, struct scan *sc, char *err, size_t errlen)
{
	struct {
		struct nlmsghdr nlh;
		struct inet_diag_req_v2 req;
		struct nlattr nla;
		struct inet_diag_bc_op bc[4];
	} msg = {
		.nlh = {
			.nlmsg_len = sizeof(msg),
			.nlmsg_type = SOCK_DIAG_BY_FAMILY,
			.nlmsg_flags = NLM_F_REQUEST | NLM_F_DUMP,
			.nlmsg_seq = 1,
		},
		.req = {
			.sdiag_family = family,
			.sdiag_protocol = proto,
			.idiag_states = ~0U,
		},
		.nla = { .nla_len = sizeof(msg.nla) + sizeof(msg.bc),
			 .nla_type = INET_DIAG_REQ_BYTECODE },
		/*
		 * sport >= lo && sport <= hi.  A jump to the end accepts, a jump
		 * 4 bytes past it rejects; the port follows its comparison.
		 */
		.bc = {
			{ INET_DIAG_BC_S_GE, 8, 20 }, { 0, 0, lo },
			{ INET_DIAG_BC_S_LE, 8, 12 }, { 0, 0, hi },
		},
	};
	struct sockaddr_nl kernel = { .nl_family = AF_NETLINK };
	const char *what = proto == IPPROTO_TCP ? family == AF_INET ? "TCP" : "TCP/IPv6" :
			   family == AF_INET ? "UDP" : "UDP/IPv6";
	static char buf[32768] __attribute__((aligned(NLMSG_ALIGNTO)));

	_Static_assert(sizeof(msg) == NLMSG_LENGTH(sizeof(struct inet_diag_req_v2)) +
		       NLA_HDRLEN + 4 * sizeof(struct inet_diag_bc_op), "no padding in the request");
	if (sendto(nl, &msg, sizeof(msg), 0, (struct sockaddr *)&kernel, sizeof(kernel)) < 0) {
		snprintf(err, errlen, "listing %s sockets (sock_diag): %s", what, strerror(errno));
		return -1;
	}
	for (;;) {
		ssize_t n = recv(nl, buf, sizeof(buf), 0);
		struct nlmsghdr *h;
		int len = (int)n;

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			snprintf(err, errlen, "listing %s sockets (sock_diag): %s", what,
				 n < 0 ? strerror(errno) : "connection closed");
			return -1;
		}
		for (h = (struct nlmsghdr *)buf; NLMSG_OK(h, len); h = NLMSG_NEXT(h, len)) {
			const struct inet_diag_msg *m = NLMSG_DATA(h);
			bool v6only = false;
			struct rtattr *a;
			int alen;

			if (h->nlmsg_type == NLMSG_DONE)
				return 0;
			if (h->nlmsg_type == NLMSG_ERROR) {
				const struct nlmsgerr *e = NLMSG_DATA(h);

				/* No IPv6 in this kernel: no IPv6 socket either. */
				if (family == AF_INET6 && (e->error == -EAFNOSUPPORT ||
							   e->error == -ENOENT))
					return 0;
				snprintf(err, errlen, "listing %s sockets (sock_diag): %s", what,
					 strerror(-e->error));
				return -1;
			}
			if (h->nlmsg_type != SOCK_DIAG_BY_FAMILY ||
			    h->nlmsg_len < NLMSG_LENGTH(sizeof(*m)))
				continue;
			alen = (int)(h->nlmsg_len - NLMSG_LENGTH(sizeof(*m)));
			for (a = (struct rtattr *)(m + 1); RTA_OK(a, alen); a = RTA_NEXT(a, alen))
				if (a->rta_type == INET_DIAG_SKV6ONLY &&
				    RTA_PAYLOAD(a) >= 1)
					v6only = *(uint8_t *)RTA_DATA(a);
			take(sc, m, proto, v6only, src);
		}
	}
}

/* The first process holding socket inode (pid 0 if none is found), and its name. */
static pid_t socket_owner(uint32_t inode, char *comm, size_t commlen)
{
	char want[32], link[64], path[64];
	struct dirent *de;
	size_t wlen;
	pid_t found = 0;
	DIR *proc = opendir("/proc");

	if (!proc)
		return 0;
	wlen = (size_t)snprintf(want, sizeof(want), "socket:[%u]", inode);
	while (!found && (de = readdir(proc))) {
		struct dirent *fe;
		DIR *fds;

		if (!isdigit((unsigned char)de->d_name[0]))
			continue;
		snprintf(path, sizeof(path), "/proc/%.20s/fd", de->d_name);
		fds = opendir(path);
		if (!fds)
			continue;	/* gone, or a kernel thread */
		while ((fe = readdir(fds))) {
			ssize_t n = readlinkat(dirfd(fds), fe->d_name, link, sizeof(link));

			if (n == (ssize_t)wlen && !memcmp(link, want, wlen)) {
				found = (pid_t)atoi(de->d_name);
				break;
			}
		}
		closedir(fds);
	}
	closedir(proc);
	comm[0] = '\0';
	if (found) {
		FILE *f;

		snprintf(path, sizeof(path), "/proc/%d/comm", (int)found);
		f = fopen(path, "re");
		if (f) {
			if (fgets(comm, (int)commlen, f))
				comm[strcspn(comm, "\n")] = '\0';
			fclose(f);
		}
	}
	return found;
}

static void format_addr(const struct sock_hit *h, const uint8_t *a, uint16_t port, char *out,
			size_t len)
{
	char s[INET6_ADDRSTRLEN];

	if (h->family == AF_INET) {
		inet_ntop(AF_INET, a, s, sizeof(s));
		snprintf(out, len, "%s:%u", s, port);
	} else {
		inet_ntop(AF_INET6, a, s, sizeof(s));
		snprintf(out, len, "[%s]:%u", s, port);
	}
}

static int check_sockets(const char *where, const char *hint, const struct src_addrs *src,
			 uint16_t lo, uint16_t hi)
{
	static const uint8_t fams[] = { AF_INET, AF_INET6 };
	static const uint8_t protos[] = { IPPROTO_TCP, IPPROTO_UDP };
	const struct sock_hit *h;
	struct scan sc = { 0 };
	char err[256], local[64], peer[80] = "", owner[128], more[64] = "", comm[32];
	int nl = socket(AF_NETLINK, SOCK_DGRAM | SOCK_CLOEXEC, NETLINK_SOCK_DIAG);
	pid_t pid;

	if (nl < 0) {
		log_err("%s: cannot list local sockets (sock_diag): %s", where, strerror(errno));
		return -1;
	}
	for (size_t p = 0; p < 2; p++) {
		for (size_t f = 0; f < 2; f++) {
			if (diag_dump(nl, fams[f], protos[p], lo, hi, src, &sc, err,
				      sizeof(err))) {
				log_err("%s: %s", where, err);
				close(nl);
				return -1;
			}
		}
	}
	close(nl);
	if (!sc.n)
		return 0;
	h = &sc.first;
	format_addr(h, h->src, h->port, local, sizeof(local));
	if (h->dport) {
		char d[64];

		format_addr(h, h->dst, h->dport, d, sizeof(d));
		snprintf(peer, sizeof(peer), " -> %s", d);
	}
	pid = h->inode ? socket_owner(h->inode, comm, sizeof(comm)) : 0;
	if (pid)
		snprintf(owner, sizeof(owner), "owned by pid %d (%s)", (int)pid, comm);
	else if (h->inode)
		snprintf(owner, sizeof(owner), "socket inode %u, no process found holding it",
			 h->inode);
	else if (h->state == 6)
		snprintf(owner, sizeof(owner), "no owning process (TIME_WAIT: the kernel "
			 "drops it within 60 s)");
	else
		snprintf(owner, sizeof(owner), "no owning process (%s)", state_name(h));
	if (sc.n > 1)
		snprintf(more, sizeof(more), " (and %u more socket%s in the range)", sc.n - 1,
			 sc.n == 2 ? "" : "s");
	log_err("%s: %s port %u is already in use in this network namespace: %s%s%s (%s), %s%s; "
		"%s", where, h->proto == IPPROTO_TCP ? "TCP" : "UDP", h->port,
		h->family == AF_INET6 ? "IPv6 " : "", local, peer, state_name(h), owner, more,
		hint);
	return -1;
}

/* ---- claim and release ---------------------------------------------------- */

/*
 * The kernel takes a port from ip_local_port_range, skipping reserved ones,
 * for every connect() without bind() and every send on an unbound UDP
 * socket (each DNS query): with none left they fail (EADDRNOTAVAIL,
 * EAGAIN).  A source range that would take most of what is still free is a
 * configuration mistake that is better named at start than found later in
 * some other program's errors; "more than half" is a generous line, not a
 * measured one.  after: the sysctl with our ports added.
 */
static bool starves_kernel(const struct portset *added, const struct portset *after,
			   unsigned int plo, unsigned int phi, const char *where)
{
	unsigned int n_added = ps_count(added), left = 0;

	for (unsigned int port = plo; port <= phi; port++)
		left += !ps_has(after, port);
	if (n_added <= left)
		return false;
	log_err("%s: the range takes %u of the ports still free in ip_local_port_range %u-%u; "
		"reserving them would leave the kernel only %u for the node's own connections "
		"and DNS queries; choose source_ports outside %u-%u", where, n_added, plo, phi,
		left, plo, phi);
	return true;
}

int ports_claim(struct ports *p, const struct config *c, uint32_t src4, const uint32_t src6[4],
		uint16_t lo, uint16_t hi)
{
	struct src_addrs src = { .has4 = src4 != 0, .v4 = src4 };
	unsigned long long ino, cookie;
	unsigned int plo, phi, olo, ohi;
	char where[PATH_MAX + 160], at[CONFIG_WHERE_LEN], err[512], list[256];
	const char *hint;
	struct portset cur;
	struct state *st = NULL;
	bool overlap;
	int dfd, ret = -1;

	memset(p, 0, sizeof(*p));
	if (src6) {
		memcpy(src.v6, src6, sizeof(src.v6));
		src.has6 = (src6[0] | src6[1] | src6[2] | src6[3]) != 0;
	}
	if (read_port_range(&plo, &phi, err, sizeof(err))) {
		log_err("%s: %s", c->path, err);
		return -1;
	}
	if (config_has(c, CFG_SOURCE_PORTS)) {
		snprintf(where, sizeof(where), "%s: source_ports %u-%u",
			 config_where(c, CFG_SOURCE_PORTS, at, sizeof(at)), lo, hi);
		hint = "stop it or choose source_ports that no local socket uses";
	} else {
		snprintf(where, sizeof(where), "%s: source ports %u-%u (the default, derived "
			 "from ip_local_port_range %u-%u)", c->path, lo, hi, plo, phi);
		hint = "stop it or set source_ports to a range that no local socket uses";
	}
	if (netns_ids(&ino, &cookie)) {
		log_err("%s: cannot identify the network namespace: %s", where, strerror(errno));
		return -1;
	}
	snprintf(p->key, sizeof(p->key), "%llu-%016llx", ino,
		 (unsigned long long)fnv1a64(c->pin_path));
	olo = lo > plo ? lo : plo;
	ohi = hi < phi ? hi : phi;
	overlap = olo <= ohi;

	/* Missing and nothing to reserve: no earlier engine left anything, change nothing. */
	dfd = state_dir_open(overlap, err, sizeof(err));
	if (dfd == -ENOENT)
		return check_sockets(where, hint, &src, lo, hi);
	if (dfd < 0) {
		log_err("%s: cannot record the ports it reserves: %s", where, err);
		return -1;
	}
	/* Engines of other namespaces and pins share the directory: one at a time. */
	if (flock(dfd, LOCK_EX)) {
		log_err("%s: locking %s: %s", where, STATE_DIR, strerror(errno));
		goto out;
	}
	sweep_gone_namespaces(dfd, p->key, ino, cookie);
	if (recover(dfd, p->key, where, cookie) || check_sockets(where, hint, &src, lo, hi))
		goto out;
	if (!overlap) {
		ret = 0;
		goto out;
	}
	st = calloc(1, sizeof(*st));
	p->added = calloc(1, sizeof(*p->added));
	if (!st || !p->added) {
		log_err("%s: out of memory", where);
		goto out;
	}
	if (read_reserved(&cur, err, sizeof(err))) {
		log_err("%s: %s", where, err);
		goto out;
	}
	ps_add_range(p->added, olo, ohi);
	for (size_t i = 0; i < NWORDS; i++) {
		p->added->w[i] &= ~cur.w[i];
		cur.w[i] |= p->added->w[i];
	}
	if (starves_kernel(p->added, &cur, plo, phi, where))
		goto out;
	if (!ps_count(p->added)) {
		log_info("source ports %u-%u inside ip_local_port_range %u-%u are all in "
			 RESERVED_NAME " already", olo, ohi, plo, phi);
		ret = 0;
		goto out;
	}
	/* Recorded before the sysctl changes: a crash in between leaves nothing unrecorded. */
	st->pid = getpid();
	st->start = proc_start_time(st->pid);
	st->ino = ino;
	st->cookie = cookie;
	st->added = *p->added;
	if (state_write(dfd, p->key, st, c->pin_path, err, sizeof(err))) {
		log_err("%s: cannot record the ports it reserves: %s", where, err);
		goto out;
	}
	if (write_reserved(&cur, err, sizeof(err))) {
		unlinkat(dfd, p->key, 0);
		log_err("%s: the range overlaps ip_local_port_range %u-%u and reserving the "
			"overlap failed (%s); choose source_ports outside %u-%u", where, plo, phi,
			err, plo, phi);
		goto out;
	}
	p->held = true;
	ps_describe(p->added, list, sizeof(list));
	log_info("reserved source ports %s in " RESERVED_NAME " (inside ip_local_port_range "
		 "%u-%u) until the engine stops", list, plo, phi);
	ret = 0;
out:
	if (!p->held) {
		free(p->added);
		p->added = NULL;
	}
	free(st);
	close(dfd);
	return ret;
}

void ports_release(struct ports *p)
{
	struct portset cur;
	char err[512], list[256];
	int dfd;

	if (!p->held)
		return;
	p->held = false;
	dfd = state_dir_open(false, err, sizeof(err));
	if (dfd >= 0)
		flock(dfd, LOCK_EX);
	ps_describe(p->added, list, sizeof(list));
	/* Re-read: the operator may have changed the sysctl while the engine ran. */
	if (read_reserved(&cur, err, sizeof(err)) == 0) {
		for (size_t i = 0; i < NWORDS; i++)
			cur.w[i] &= ~p->added->w[i];
		if (write_reserved(&cur, err, sizeof(err)) == 0) {
			if (dfd >= 0)
				unlinkat(dfd, p->key, 0);
			log_info("released source ports %s from " RESERVED_NAME, list);
			goto out;
		}
	}
	log_err("could not release source ports %s from " RESERVED_NAME ": %s; %s/%s keeps "
		"them for the next start to remove", list, err, STATE_DIR, p->key);
out:
	if (dfd >= 0)
		close(dfd);
	free(p->added);
	p->added = NULL;
}
