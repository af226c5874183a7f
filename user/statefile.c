// SPDX-License-Identifier: MIT
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "addr.h"
#include "statefile.h"
#include "vec.h"

#define MAGIC "xdphc-state"
#define MAX_WORDS 5

static const char *const kinds[SF_KINDS] = {
	[SF_ADD] = "add", [SF_DEL] = "del", [SF_DRAIN] = "drain", [SF_MAINT] = "maint",
};

const char *sf_kind_name(uint8_t kind)
{
	return kind < SF_KINDS ? kinds[kind] : "?";
}

int sf_push(struct sf_list *l, uint8_t kind, const char *pool,
	    const struct xdphc_backend_key *key, uint64_t until_ms)
{
	struct sf_entry *e;

	if (vec_room((void **)&l->v, &l->cap, l->n, sizeof(*l->v)))
		return -1;
	e = &l->v[l->n++];
	memset(e, 0, sizeof(*e));
	e->key = *key;
	e->kind = kind;
	e->until_ms = until_ms;
	snprintf(e->pool, sizeof(e->pool), "%s", pool);
	return 0;
}

void sf_free(struct sf_list *l)
{
	free(l->v);
	memset(l, 0, sizeof(*l));
}

/* Cut a comment and split on blanks; the number of words. */
static int split(char *line, char **w)
{
	char *save = NULL, *hash = strchr(line, '#');
	int n = 0;

	if (hash)
		*hash = '\0';
	for (char *t = strtok_r(line, " \t\r\n", &save); t; t = strtok_r(NULL, " \t\r\n", &save))
		if (n < MAX_WORDS)
			w[n++] = t;
		else
			return MAX_WORDS + 1;
	return n;
}

static int kind_of(const char *word)
{
	for (int k = 0; k < SF_KINDS; k++)
		if (!strcmp(word, kinds[k]))
			return k;
	return -1;
}

static int parse_until(const char *s, uint64_t *ms)
{
	char *end;

	errno = 0;
	*ms = strtoull(s, &end, 10);
	return errno || end == s || *end || s[0] == '-' ? -1 : 0;
}

/* One entry line: 0, or -1 with what is wrong in why. */
static int parse_entry(char **w, int n, struct sf_entry *e, char *why, size_t len)
{
	int k = kind_of(w[0]);
	char err[128];

	if (k < 0) {
		snprintf(why, len, "unknown change '%.32s' (expected add, del, drain or maint)",
			 w[0]);
		return -1;
	}
	if (n != (k == SF_DRAIN ? 4 : 3)) {
		snprintf(why, len, "%s takes POOL ADDR:PORT%s", kinds[k],
			 k == SF_DRAIN ? " UNTIL_MS" : "");
		return -1;
	}
	if (strlen(w[1]) >= sizeof(e->pool)) {
		snprintf(why, len, "pool name '%.40s' is too long", w[1]);
		return -1;
	}
	if (addr_parse_backend(w[2], &e->key, err, sizeof(err))) {
		snprintf(why, len, "bad address '%.64s': %s", w[2], err);
		return -1;
	}
	if (k == SF_DRAIN && parse_until(w[3], &e->until_ms)) {
		snprintf(why, len, "bad drain end '%.32s' (Unix time in ms)", w[3]);
		return -1;
	}
	e->kind = (uint8_t)k;
	snprintf(e->pool, sizeof(e->pool), "%s", w[1]);
	return 0;
}

static void skip(const char *path, unsigned long line, const char *why, sf_warn_fn warn,
		 void *ctx)
{
	char msg[512];

	snprintf(msg, sizeof(msg), "%s:%lu: %s; line ignored", path, line, why);
	if (warn)
		warn(ctx, msg);
}

/* The version line: the first line that is not blank or a comment. */
static int check_version(char **w, int n, const char *path, unsigned long line, char *err,
			 size_t errlen)
{
	if (n == 2 && !strcmp(w[0], MAGIC) && !strcmp(w[1], "1"))
		return 0;
	snprintf(err, errlen, "%s:%lu: not an xdphc state file of version %d (expected '%s %d')",
		 path, line, STATEFILE_VERSION, MAGIC, STATEFILE_VERSION);
	return -1;
}

static int read_lines(FILE *f, const char *path, struct sf_list *l, sf_warn_fn warn, void *ctx,
		      char *err, size_t errlen)
{
	char *buf = NULL, *w[MAX_WORDS], why[256];
	unsigned long line = 0;
	size_t cap = 0;
	bool versioned = false;
	int n, ret = 0;

	while (getline(&buf, &cap, f) >= 0) {
		struct sf_entry e = { 0 };

		line++;
		n = split(buf, w);
		if (!n)
			continue;
		if (!versioned) {
			ret = check_version(w, n, path, line, err, errlen);
			if (ret)
				break;
			versioned = true;
		} else if (n > MAX_WORDS || parse_entry(w, n, &e, why, sizeof(why))) {
			skip(path, line, n > MAX_WORDS ? "too many words" : why, warn, ctx);
		} else if (sf_push(l, e.kind, e.pool, &e.key, e.until_ms)) {
			snprintf(err, errlen, "%s: out of memory", path);
			ret = -1;
			break;
		} else {
			l->v[l->n - 1].line = (uint32_t)line;
		}
	}
	free(buf);
	return ret;
}

int statefile_read(const char *path, struct sf_list *l, sf_warn_fn warn, void *ctx, char *err,
		   size_t errlen)
{
	FILE *f = fopen(path, "re");
	int ret;

	if (!f && errno == ENOENT)
		return 0;
	if (!f) {
		snprintf(err, errlen, "%s: cannot open: %s", path, strerror(errno));
		return -1;
	}
	ret = read_lines(f, path, l, warn, ctx, err, errlen);
	if (!ret && ferror(f)) {
		snprintf(err, errlen, "%s: read error", path);
		ret = -1;
	}
	fclose(f);
	return ret;
}

void statefile_format(FILE *f, const char *config, const struct sf_list *l)
{
	char a[64];

	fprintf(f, "# xdphc: changes made at runtime, applied on top of %s at each reload\n"
		"# and restart (xdphc(8): RUNTIME CHANGES).  `xdphc runtime reset` drops them.\n"
		"# Written by the engine: edit only while it is stopped.\n%s %d\n",
		config, MAGIC, STATEFILE_VERSION);
	for (size_t i = 0; i < l->n; i++) {
		const struct sf_entry *e = &l->v[i];

		fprintf(f, "%s %s %s", kinds[e->kind], e->pool, addr_format(&e->key, a, sizeof(a)));
		if (e->kind == SF_DRAIN)
			fprintf(f, " %llu", (unsigned long long)e->until_ms);
		fputc('\n', f);
	}
}

/* The file's directory, if it is missing (/var/lib/xdphc outside systemd). */
static void make_parent(const char *path)
{
	char dir[4096];
	char *slash;

	snprintf(dir, sizeof(dir), "%s", path);
	slash = strrchr(dir, '/');
	if (slash && slash != dir) {
		*slash = '\0';
		mkdir(dir, 0755);
	}
}

static int write_tmp(const char *tmp, const char *config, const struct sf_list *l)
{
	int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	FILE *f = fd >= 0 ? fdopen(fd, "w") : NULL;
	int ret;

	if (!f) {
		if (fd >= 0)
			close(fd);
		return -1;
	}
	statefile_format(f, config, l);
	ret = fflush(f) || ferror(f) || fsync(fd) ? -1 : 0;
	if (fclose(f))
		ret = -1;
	return ret;
}

int statefile_write(const char *path, const char *config, const struct sf_list *l, char *err,
		    size_t errlen)
{
	char tmp[4096 + 8];

	snprintf(tmp, sizeof(tmp), "%s.tmp", path);
	make_parent(path);
	if (write_tmp(tmp, config, l) || rename(tmp, path)) {
		snprintf(err, errlen, "state_file %s: %s", path, strerror(errno));
		unlink(tmp);
		return -1;
	}
	return 0;
}
