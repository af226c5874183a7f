// SPDX-License-Identifier: MIT
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>
#include <yaml.h>

#include "addr.h"
#include "config.h"
#include "keyindex.h"

#include "defaults.h"
#define DEFAULT_XDP_MODE	"native"
#define DEFAULT_INTERVAL_MS	1000
#define DEFAULT_TIMEOUT_MS	500
#define DEFAULT_HEALTHY		3
#define DEFAULT_UNHEALTHY	2
#define MAX_INTERVAL_MS (24U * 3600 * 1000)
#define MAX_THRESHOLD		1000
#define ADDR_BUF_LEN		64	/* "[" INET6_ADDRSTRLEN "]:65535" */
/* Backend indexes are 32-bit throughout the engine (keyindex, scheduler). */
#define MAX_BACKENDS		(UINT32_MAX - 1)
/* Config and backends files: a million backends take about 20 MiB. */
#define MAX_INPUT_FILE		((size_t)1 << 30)
#define MAX_INPUT_FILE_TEXT	"1 GiB"
/* Keys to prefetch ahead: enough to overlap one DRAM miss with the next keys' work. */
#define DEDUPE_PREFETCH		8

/*
 * Set of every backend loaded so far, across pools, to reject duplicates in
 * O(1).  A slot packs the key's 32-bit hash (upper half) with its global
 * index + 1 (lower half, 0 = empty): comparing hashes first means a full key
 * comparison, a cache miss into the pool arrays, happens only on a real
 * duplicate, and the stored hash lets the table grow without rehashing keys.
 */
struct dupset {
	uint64_t *slots;
	size_t mask;
};

struct loader {
	struct config *cfg;
	yaml_document_t doc;
	bool have_doc;
	const char *path;		/* config file as given, for messages */
	char *err;
	size_t errlen;
	struct dupset dups;
	uint32_t *lines;		/* source line of each backend, by global index */
	size_t lines_cap;
	size_t total;			/* backends loaded so far, all pools */
	size_t cur_pool;
	/* Per pool: global index of its first backend, how many leading ones came
	 * from the YAML list, and its resolved backends_file (for messages). */
	size_t pool_start[XDPHC_MAX_POOLS];
	size_t pool_n_list[XDPHC_MAX_POOLS];
	char *pool_file[XDPHC_MAX_POOLS];
};

/* A known key of a mapping and, once collected, where it appeared. */
struct field {
	const char *name;
	yaml_node_t *key;
	yaml_node_t *val;
};

/* ---- error reporting ---------------------------------------------------- */

static void vformat_err(char *err, size_t errlen, const char *file, unsigned long line,
			const char *fmt, va_list ap)
{
	int n;

	if (!err || !errlen)
		return;
	if (line)
		n = snprintf(err, errlen, "%s:%lu: ", file, line);
	else
		n = snprintf(err, errlen, "%s: ", file);
	if (n >= 0 && (size_t)n < errlen)
		vsnprintf(err + n, errlen - (size_t)n, fmt, ap);
}

__attribute__((format(printf, 5, 6)))
static int format_err(char *err, size_t errlen, const char *file, unsigned long line,
		      const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vformat_err(err, errlen, file, line, fmt, ap);
	va_end(ap);
	return -1;
}

__attribute__((format(printf, 4, 5)))
static int fail_at(struct loader *ld, const char *file, unsigned long line,
		   const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vformat_err(ld->err, ld->errlen, file, line, fmt, ap);
	va_end(ap);
	return -1;
}

static unsigned long node_line(const yaml_node_t *node)
{
	return (unsigned long)node->start_mark.line + 1;
}

__attribute__((format(printf, 3, 4)))
static int fail_node(struct loader *ld, const yaml_node_t *node, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vformat_err(ld->err, ld->errlen, ld->path, node_line(node), fmt, ap);
	va_end(ap);
	return -1;
}

/* ---- files -------------------------------------------------------------- */

static const char *file_kind(mode_t mode)
{
	switch (mode & S_IFMT) {
	case S_IFCHR: return "a character device";
	case S_IFBLK: return "a block device";
	case S_IFIFO: return "a FIFO";
	case S_IFSOCK: return "a socket";
	default: return "a special file";
	}
}

/*
 * Read a whole file into one NUL-terminated buffer: one allocation however
 * many lines it has, and the parser may write terminators into it in place.
 * Regular files only, of at most MAX_INPUT_FILE bytes: /dev/zero would be
 * read until memory runs out, and opening a FIFO would block the start
 * (O_NONBLOCK keeps open() from waiting for a writer).  Returns 0, or -1
 * with the reason in why.
 */
static int slurp(const char *path, char **out, size_t *out_len, char *why, size_t whylen)
{
	struct stat st;
	size_t cap, ncap, len = 0;
	char *buf = NULL, *nbuf;
	ssize_t r;
	int fd;

	fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
	if (fd < 0) {
		snprintf(why, whylen, "%s", strerror(errno));
		return -1;
	}
	if (fstat(fd, &st)) {
		snprintf(why, whylen, "%s", strerror(errno));
		goto err;
	}
	if (S_ISDIR(st.st_mode)) {
		snprintf(why, whylen, "%s", strerror(EISDIR));
		goto err;
	}
	if (!S_ISREG(st.st_mode)) {
		snprintf(why, whylen, "%s, not a regular file", file_kind(st.st_mode));
		goto err;
	}
	if ((uint64_t)st.st_size > MAX_INPUT_FILE)
		goto too_big;
	/*
	 * st_size is only a hint: procfs reports 0, and a file may grow.  One
	 * byte more than the file and the NUL, so that EOF is seen without a
	 * realloc; never more than one byte past the bound, to see it crossed.
	 */
	cap = st.st_size > 0 ? (size_t)st.st_size + 2 : 4096;
	buf = malloc(cap);
	if (!buf)
		goto nomem;
	for (;;) {
		if (len + 1 == cap) {
			if (cap >= MAX_INPUT_FILE + 2)
				goto too_big;
			ncap = cap * 2 < MAX_INPUT_FILE + 2 ? cap * 2 : MAX_INPUT_FILE + 2;
			nbuf = realloc(buf, ncap);
			if (!nbuf)
				goto nomem;
			buf = nbuf;
			cap = ncap;
		}
		r = read(fd, buf + len, cap - 1 - len);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			snprintf(why, whylen, "%s", strerror(errno));
			goto err;
		}
		if (!r)
			break;
		len += (size_t)r;
	}
	if (len > MAX_INPUT_FILE)
		goto too_big;
	close(fd);
	buf[len] = '\0';
	*out = buf;
	*out_len = len;
	return 0;
too_big:
	snprintf(why, whylen, "larger than %s", MAX_INPUT_FILE_TEXT);
	goto err;
nomem:
	snprintf(why, whylen, "%s", strerror(ENOMEM));
err:
	free(buf);
	close(fd);
	return -1;
}

static unsigned long line_of_offset(const char *buf, size_t off)
{
	unsigned long line = 1;
	const char *p = buf, *end = buf + off;

	while ((p = memchr(p, '\n', (size_t)(end - p)))) {
		line++;
		p++;
	}
	return line;
}

/* backends_file is relative to the config file, not to the working directory. */
static int resolve_path(const char *cfg_path, const char *file, char *out, size_t len)
{
	const char *slash = strrchr(cfg_path, '/');
	int n;

	if (file[0] == '/' || !slash)
		n = snprintf(out, len, "%s", file);
	else
		n = snprintf(out, len, "%.*s/%s", (int)(slash - cfg_path), cfg_path, file);
	return n < 0 || (size_t)n >= len ? -1 : 0;
}

/* ---- YAML helpers ------------------------------------------------------- */

static yaml_node_t *node_at(struct loader *ld, int index)
{
	return yaml_document_get_node(&ld->doc, index);
}

static const char *node_kind(const yaml_node_t *node)
{
	switch (node->type) {
	case YAML_SCALAR_NODE:
		/* What YAML makes of "key:" with nothing after it. */
		if (!node->data.scalar.length && node->data.scalar.style == YAML_PLAIN_SCALAR_STYLE)
			return "an empty value";
		return "a single value";
	case YAML_SEQUENCE_NODE:
		return "a list";
	case YAML_MAPPING_NODE:
		return "a mapping";
	default:
		return "nothing";
	}
}

static int unknown_key(struct loader *ld, const yaml_node_t *key, const struct field *f,
		       size_t n, const char *where)
{
	char known[256];
	size_t i, off = 0;
	int w;

	known[0] = '\0';
	for (i = 0; i < n && off < sizeof(known); i++) {
		w = snprintf(known + off, sizeof(known) - off, "%s%s", i ? ", " : "", f[i].name);
		if (w < 0)
			break;
		off += (size_t)w;
	}
	return fail_node(ld, key, "unknown key '%.64s' in %s (expected one of: %s)",
			 (const char *)key->data.scalar.value, where, known);
}

/*
 * A "\0" escape in a double-quoted scalar: the C string would end there and
 * silently disagree with what YAML holds ("198.18.1.1:80\0junk" would be read
 * as a valid backend, "pin_path\0x" as the key pin_path).
 */
static bool has_nul(const yaml_node_t *n)
{
	return memchr(n->data.scalar.value, '\0', n->data.scalar.length) != NULL;
}

/*
 * Match the keys of a mapping against the fields the caller knows, so that a
 * typo is an error rather than a silently ignored setting.
 */
static int collect(struct loader *ld, yaml_node_t *map, struct field *f, size_t n,
		   const char *where)
{
	yaml_node_pair_t *pair;
	yaml_node_t *k;
	size_t i;

	if (map->type != YAML_MAPPING_NODE)
		return fail_node(ld, map, "%s must be a mapping, got %s", where, node_kind(map));
	for (pair = map->data.mapping.pairs.start; pair < map->data.mapping.pairs.top; pair++) {
		k = node_at(ld, pair->key);
		if (k->type != YAML_SCALAR_NODE)
			return fail_node(ld, k, "keys in %s must be plain names, got %s",
					 where, node_kind(k));
		if (has_nul(k))
			return fail_node(ld, k, "a key in %s contains a NUL character", where);
		for (i = 0; i < n; i++)
			if (!strcmp(f[i].name, (const char *)k->data.scalar.value))
				break;
		if (i == n)
			return unknown_key(ld, k, f, n, where);
		if (f[i].key)
			return fail_node(ld, k, "duplicate key '%s' in %s (first at line %lu)",
					 f[i].name, where, node_line(f[i].key));
		f[i].key = k;
		f[i].val = node_at(ld, pair->value);
	}
	return 0;
}

/* The value of a field that must be a non-empty scalar, or NULL after an error. */
static const char *scalar(struct loader *ld, const struct field *f)
{
	const yaml_node_t *v = f->val;

	if (v->type != YAML_SCALAR_NODE) {
		fail_node(ld, v, "%s must be a single value, got %s", f->name, node_kind(v));
		return NULL;
	}
	if (!v->data.scalar.length) {
		fail_node(ld, v, "%s has no value", f->name);
		return NULL;
	}
	if (has_nul(v)) {
		fail_node(ld, v, "%s contains a NUL character", f->name);
		return NULL;
	}
	return (const char *)v->data.scalar.value;
}

/* Strict decimal: no sign, no spaces, no base prefixes. */
static int parse_uint(const char *s, unsigned long max, unsigned long *out)
{
	unsigned long v = 0;

	if (!*s)
		return -1;
	for (; *s; s++) {
		if (*s < '0' || *s > '9')
			return -1;
		v = v * 10 + (unsigned long)(*s - '0');
		if (v > max)
			return -1;
	}
	*out = v;
	return 0;
}

static int get_uint(struct loader *ld, const struct field *f, unsigned long lo,
		    unsigned long hi, unsigned long *out)
{
	const char *s = scalar(ld, f);

	if (!s)
		return -1;
	if (parse_uint(s, hi, out) || *out < lo)
		return fail_node(ld, f->val, "%s must be an integer in %lu..%lu, got '%.32s'",
				 f->name, lo, hi, s);
	return 0;
}

static int get_duration(struct loader *ld, const struct field *f, uint32_t *ms)
{
	const char *s = scalar(ld, f);

	if (!s)
		return -1;
	if (parse_duration_ms(s, ms))
		return fail_node(ld, f->val,
				 "%s: bad duration '%.32s' (use e.g. 500ms, 1.5s, 2s, 1m)",
				 f->name, s);
	if (!*ms)
		return fail_node(ld, f->val, "%s must be greater than 0", f->name);
	return 0;
}

/* ---- duplicate detection ------------------------------------------------ */

static int dupset_grow(struct dupset *ds, size_t want)
{
	size_t size = ds->mask + 1, i, pos, new_mask;
	uint64_t *slots;

	/* Linear probing stays short up to a load of about 0.7. */
	if (ds->slots && want * 10 <= size * 7)
		return 0;
	if (!ds->slots)
		size = 1024;
	while (want * 10 > size * 7)
		size *= 2;
	slots = calloc(size, sizeof(*slots));
	if (!slots)
		return -1;
	new_mask = size - 1;
	for (i = 0; ds->slots && i <= ds->mask; i++) {
		if (!ds->slots[i])
			continue;
		pos = (ds->slots[i] >> 32) & new_mask;
		while (slots[pos])
			pos = (pos + 1) & new_mask;
		slots[pos] = ds->slots[i];
	}
	free(ds->slots);
	ds->slots = slots;
	ds->mask = new_mask;
	return 0;
}

/* Which pool holds global index g: pools are filled strictly in order. */
static size_t pool_of(const struct loader *ld, size_t g)
{
	size_t p = ld->cur_pool;

	while (p > 0 && ld->pool_start[p] > g)
		p--;
	return p;
}

static const struct xdphc_backend_key *key_at(const struct loader *ld, size_t g)
{
	size_t p = pool_of(ld, g);

	return &ld->cfg->pools[p].backends[g - ld->pool_start[p]].key;
}

/*
 * Insert global index g (whose key is key); the table must have room.
 * Returns the index of an equal key already present, or -1.
 */
static int64_t dupset_insert(struct loader *ld, const struct xdphc_backend_key *key, size_t g)
{
	struct dupset *ds = &ld->dups;
	uint64_t h = (uint32_t)backend_key_hash(key);
	size_t pos = h & ds->mask;
	uint64_t s;

	while ((s = ds->slots[pos])) {
		if (s >> 32 == h) {
			size_t other = (uint32_t)s - 1;

			if (backend_key_equal(key_at(ld, other), key))
				return (int64_t)other;
		}
		pos = (pos + 1) & ds->mask;
	}
	ds->slots[pos] = h << 32 | (uint64_t)(g + 1);
	return -1;
}

/* ---- backends ----------------------------------------------------------- */

static int grow_array(void **arr, size_t *cap, size_t want, size_t elem)
{
	size_t n = *cap * 2;
	void *p;

	if (want <= *cap)
		return 0;
	/* Doubling keeps one-at-a-time appends amortised O(1); a known count is exact. */
	if (n < want)
		n = want;
	p = realloc(*arr, n * elem);
	if (!p)
		return -1;
	*arr = p;
	*cap = n;
	return 0;
}

/* Make room for `more` backends in pool idx, so the per-line path never allocates. */
static int reserve_backends(struct loader *ld, size_t idx, size_t more)
{
	struct pool_cfg *pool = &ld->cfg->pools[idx];

	if (more > MAX_BACKENDS - ld->total)
		more = MAX_BACKENDS - ld->total;
	if (grow_array((void **)&pool->backends, &pool->cap_backends,
		       pool->n_backends + more, sizeof(*pool->backends)))
		return -1;
	if (grow_array((void **)&ld->lines, &ld->lines_cap, ld->total + more,
		       sizeof(*ld->lines)))
		return -1;
	return dupset_grow(&ld->dups, ld->total + more);
}

static int dup_error(struct loader *ld, const struct xdphc_backend_key *key,
		     const char *file, unsigned long line, size_t other)
{
	size_t p = pool_of(ld, other);
	size_t i = other - ld->pool_start[p];
	const char *ofile = i < ld->pool_n_list[p] ? ld->path : ld->pool_file[p];
	char a[ADDR_BUF_LEN];

	return fail_at(ld, file, line, "duplicate backend %s: already in pool '%s' (%s:%u)",
		       addr_format(key, a, sizeof(a)), ld->cfg->pools[p].name,
		       ofile, ld->lines[other]);
}

/* Parse one backend and append it to the current pool; duplicates are checked later. */
static int add_backend(struct loader *ld, const char *text, const char *file,
		       unsigned long line)
{
	struct pool_cfg *pool = &ld->cfg->pools[ld->cur_pool];
	struct xdphc_backend_key key;
	char why[128];

	if (addr_parse_backend(text, &key, why, sizeof(why)))
		return fail_at(ld, file, line, "bad backend address '%.80s': %s", text, why);
	if (key.family != AF_INET)
		return fail_at(ld, file, line,
			       "backend '%.80s': IPv6 backends are not supported yet", text);
	if (ld->total >= MAX_BACKENDS)
		return fail_at(ld, file, line, "too many backends (max %u)", MAX_BACKENDS);
	if (reserve_backends(ld, ld->cur_pool, 1))
		return fail_at(ld, file, line, "out of memory");
	pool->backends[pool->n_backends++].key = key;
	ld->lines[ld->total++] = (uint32_t)line;
	return 0;
}

/*
 * Insert the current pool's backends from global index first on into the
 * duplicate set.  This runs as a separate pass so the random slot reads can
 * be prefetched a few keys ahead: done one line at a time, a million
 * backends spend most of their load time waiting on cache misses.
 */
static int dedupe_new(struct loader *ld, size_t first, const char *file)
{
	const struct pool_cfg *pool = &ld->cfg->pools[ld->cur_pool];
	size_t start = ld->pool_start[ld->cur_pool], g, ahead;
	const struct xdphc_backend_key *key;
	struct dupset *ds = &ld->dups;
	int64_t other;
	uint32_t h;

	for (g = first; g < ld->total; g++) {
		ahead = g + DEDUPE_PREFETCH;
		if (ahead < ld->total) {
			h = (uint32_t)backend_key_hash(&pool->backends[ahead - start].key);
			__builtin_prefetch(&ds->slots[h & ds->mask]);
		}
		key = &pool->backends[g - start].key;
		other = dupset_insert(ld, key, g);
		if (other >= 0)
			return dup_error(ld, key, file, ld->lines[g], (size_t)other);
	}
	return 0;
}

static int load_backend_list(struct loader *ld, yaml_node_t *seq)
{
	size_t first = ld->total;
	yaml_node_item_t *it, *top;
	yaml_node_t *n;

	if (seq->type != YAML_SEQUENCE_NODE)
		return fail_node(ld, seq, "backends must be a list, got %s", node_kind(seq));
	top = seq->data.sequence.items.top;
	if (reserve_backends(ld, ld->cur_pool, (size_t)(top - seq->data.sequence.items.start)))
		return fail_node(ld, seq, "out of memory");
	for (it = seq->data.sequence.items.start; it < top; it++) {
		n = node_at(ld, *it);
		/* An unquoted [v6]:port is a YAML flow list, hence the hint. */
		if (n->type != YAML_SCALAR_NODE)
			return fail_node(ld, n, "backends: each entry must be ADDR:PORT, got %s "
					 "(quote IPv6 entries: \"[2001:db8::1]:80\")",
					 node_kind(n));
		if (has_nul(n))
			return fail_node(ld, n, "backends: entry contains a NUL character");
		if (add_backend(ld, (const char *)n->data.scalar.value, ld->path, node_line(n)))
			return -1;
	}
	return dedupe_new(ld, first, ld->path);
}

static size_t count_lines(const char *buf, size_t len)
{
	const char *p = buf, *end = buf + len;
	size_t n = 1;

	while ((p = memchr(p, '\n', (size_t)(end - p)))) {
		n++;
		p++;
	}
	return n;
}

static bool is_blank(char c)
{
	return c == ' ' || c == '\t' || c == '\r' || c == '\v' || c == '\f';
}

/* Cut comments and surrounding blanks from [p, eol) in place; returns the start. */
static char *trim_line(char *p, char *eol)
{
	char *hash = memchr(p, '#', (size_t)(eol - p));

	if (hash)
		eol = hash;
	while (eol > p && is_blank(eol[-1]))
		eol--;
	while (p < eol && is_blank(*p))
		p++;
	*eol = '\0';
	return p;
}

static int parse_backends_buf(struct loader *ld, const char *file, char *buf, size_t len)
{
	char *p = buf, *end = buf + len, *nl, *line;
	unsigned long lineno = 0;

	/* Windows editors like to start files with a UTF-8 byte order mark. */
	if (len >= 3 && !memcmp(p, "\xef\xbb\xbf", 3))
		p += 3;

	while (p < end) {
		nl = memchr(p, '\n', (size_t)(end - p));
		if (!nl)
			nl = end;
		lineno++;
		line = trim_line(p, nl);
		p = nl + 1;
		if (*line && add_backend(ld, line, file, lineno))
			return -1;
	}
	return 0;
}

static int load_backends_file(struct loader *ld, const struct field *f)
{
	const char *name = scalar(ld, f), *nul;
	size_t first = ld->total;
	char path[PATH_MAX];
	size_t len;
	char *buf, why[128];
	int ret;

	if (!name)
		return -1;
	if (resolve_path(ld->path, name, path, sizeof(path)))
		return fail_node(ld, f->val, "backends_file: path too long");
	ld->pool_file[ld->cur_pool] = strdup(path);
	if (!ld->pool_file[ld->cur_pool])
		return fail_node(ld, f->val, "out of memory");
	if (slurp(path, &buf, &len, why, sizeof(why)))
		return fail_node(ld, f->val, "backends_file: cannot open '%s': %s", path, why);
	/* A NUL would silently end a line early and hide what follows it. */
	nul = memchr(buf, '\0', len);
	if (nul)
		ret = fail_at(ld, path, line_of_offset(buf, (size_t)(nul - buf)),
			      "NUL byte in backends file");
	else if (reserve_backends(ld, ld->cur_pool, count_lines(buf, len)))
		ret = fail_node(ld, f->val, "out of memory");
	else
		ret = parse_backends_buf(ld, path, buf, len);
	free(buf);
	return ret ? ret : dedupe_new(ld, first, path);
}

/* ---- health check ------------------------------------------------------- */

enum {
	HCK_PROTOCOL,
	HCK_PORT,
	HCK_INTERVAL,
	HCK_TIMEOUT,
	HCK_HEALTHY,
	HCK_UNHEALTHY,
	HCK_JITTER,
	HCK_GRACE,
	HCK_PATH,
	HCK_HOST,
	HCK_CODES,
	HCK_N
};

static int hc_protocol(struct loader *ld, const struct field *f, struct hc_config *hc)
{
	static const char *const later[] = { "http", "https", "udp", "tls", "ssl", "grpc", "icmp" };
	const char *s = scalar(ld, f);
	size_t i;

	if (!s)
		return -1;
	if (!strcasecmp(s, "tcp")) {
		hc->protocol = HC_PROTO_TCP;
		return 0;
	}
	for (i = 0; i < sizeof(later) / sizeof(later[0]); i++)
		if (!strcasecmp(s, later[i]))
			return fail_node(ld, f->val,
					 "protocol '%s' is not supported yet (only tcp)", s);
	return fail_node(ld, f->val, "unknown protocol '%.32s' (expected tcp)", s);
}

static int hc_values(struct loader *ld, struct field *f, struct hc_config *hc)
{
	unsigned long v = 0;

	if (f[HCK_PROTOCOL].val && hc_protocol(ld, &f[HCK_PROTOCOL], hc))
		return -1;
	if (f[HCK_PORT].val) {
		if (get_uint(ld, &f[HCK_PORT], 1, 65535, &v))
			return -1;
		hc->port = (uint16_t)v;
	}
	if (f[HCK_INTERVAL].val && get_duration(ld, &f[HCK_INTERVAL], &hc->interval_ms))
		return -1;
	if (f[HCK_TIMEOUT].val && get_duration(ld, &f[HCK_TIMEOUT], &hc->timeout_ms))
		return -1;
	if (f[HCK_JITTER].val) {
		const char *js = scalar(ld, &f[HCK_JITTER]);

		/* 0 is allowed here: jitter off. */
		if (!js || parse_duration_ms(js, &hc->jitter_ms))
			return fail_node(ld, f[HCK_JITTER].val, "jitter: bad duration '%.32s' "
					 "(use e.g. 0, 5ms, 20ms)", js ? js : "");
		hc->has_jitter = true;
	}
	if (f[HCK_HEALTHY].val) {
		if (get_uint(ld, &f[HCK_HEALTHY], 1, MAX_THRESHOLD, &v))
			return -1;
		hc->healthy_threshold = (uint32_t)v;
	}
	if (f[HCK_UNHEALTHY].val) {
		if (get_uint(ld, &f[HCK_UNHEALTHY], 1, MAX_THRESHOLD, &v))
			return -1;
		hc->unhealthy_threshold = (uint32_t)v;
	}
	return 0;
}

static int load_healthcheck(struct loader *ld, yaml_node_t *node, struct hc_config *hc)
{
	struct field f[HCK_N] = {
		[HCK_PROTOCOL] = { .name = "protocol" },
		[HCK_PORT] = { .name = "port" },
		[HCK_INTERVAL] = { .name = "interval" },
		[HCK_TIMEOUT] = { .name = "timeout" },
		[HCK_HEALTHY] = { .name = "healthy_threshold" },
		[HCK_UNHEALTHY] = { .name = "unhealthy_threshold" },
		[HCK_JITTER] = { .name = "jitter" },
		[HCK_GRACE] = { .name = "grace_period" },
		[HCK_PATH] = { .name = "path" },
		[HCK_HOST] = { .name = "host" },
		[HCK_CODES] = { .name = "success_codes" },
	};
	size_t i;

	if (collect(ld, node, f, HCK_N, "healthcheck"))
		return -1;
	/* Documented keys the engine does not implement yet: say so, do not ignore them. */
	for (i = HCK_GRACE; i < HCK_N; i++)
		if (f[i].key)
			return fail_node(ld, f[i].key, "healthcheck %s is not supported yet",
					 f[i].name);
	if (hc_values(ld, f, hc))
		return -1;
	/* Deadlines are 32-bit milliseconds compared by signed difference. */
	if (hc->interval_ms > MAX_INTERVAL_MS)
		return fail_node(ld, f[HCK_INTERVAL].val, "interval must be at most 1 day (24h)");
	if (!hc->has_jitter)
		hc->jitter_ms = hc->interval_ms / 100;
	if (hc->jitter_ms > hc->interval_ms / 2)
		return fail_node(ld, f[HCK_JITTER].val,
				 "jitter (%ums) must not exceed half the interval (%ums)",
				 hc->jitter_ms, hc->interval_ms);
	if (!f[HCK_TIMEOUT].val) {
		/* A short interval must not trip over a timeout nobody wrote. */
		if (hc->timeout_ms > hc->interval_ms)
			hc->timeout_ms = hc->interval_ms;
		return 0;
	}
	if (hc->timeout_ms > hc->interval_ms)
		return fail_node(ld, f[HCK_TIMEOUT].val,
				 "timeout (%ums) must not exceed interval (%ums)",
				 hc->timeout_ms, hc->interval_ms);
	return 0;
}

/* ---- pools -------------------------------------------------------------- */

enum { POOL_NAME, POOL_HEALTHCHECK, POOL_BACKENDS, POOL_BACKENDS_FILE, POOL_N };

static bool valid_pool_name(const char *s, size_t len)
{
	size_t i;

	if (!len || len >= XDPHC_POOL_NAME_LEN)
		return false;
	for (i = 0; i < len; i++) {
		char c = s[i];

		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		      (c >= '0' && c <= '9') || c == '_' || c == '.' || c == '-'))
			return false;
	}
	return true;
}

static int pool_name(struct loader *ld, const struct field *f, size_t idx)
{
	const char *s = scalar(ld, f);
	size_t i;

	if (!s)
		return -1;
	if (!valid_pool_name(s, f->val->data.scalar.length))
		return fail_node(ld, f->val, "bad pool name '%.64s': use 1..%d characters "
				 "from A-Z a-z 0-9 _ . -", s, XDPHC_POOL_NAME_LEN - 1);
	for (i = 0; i < idx; i++)
		if (!strcmp(ld->cfg->pools[i].name, s))
			return fail_node(ld, f->val, "duplicate pool name '%s'", s);
	memcpy(ld->cfg->pools[idx].name, s, f->val->data.scalar.length + 1);
	return 0;
}

static int load_pool(struct loader *ld, yaml_node_t *node, size_t idx)
{
	struct pool_cfg *pool = &ld->cfg->pools[idx];
	struct field f[POOL_N] = {
		[POOL_NAME] = { .name = "name" },
		[POOL_HEALTHCHECK] = { .name = "healthcheck" },
		[POOL_BACKENDS] = { .name = "backends" },
		[POOL_BACKENDS_FILE] = { .name = "backends_file" },
	};

	if (collect(ld, node, f, POOL_N, "pool"))
		return -1;
	if (!f[POOL_NAME].val)
		return fail_node(ld, node, "pool has no 'name'");
	if (pool_name(ld, &f[POOL_NAME], idx))
		return -1;
	pool->hc = (struct hc_config){
		.protocol = HC_PROTO_TCP,
		.interval_ms = DEFAULT_INTERVAL_MS,
		.timeout_ms = DEFAULT_TIMEOUT_MS,
		/* A pool without a healthcheck section gets the default jitter too. */
		.jitter_ms = DEFAULT_INTERVAL_MS / 100,
		.healthy_threshold = DEFAULT_HEALTHY,
		.unhealthy_threshold = DEFAULT_UNHEALTHY,
	};
	if (f[POOL_HEALTHCHECK].val && load_healthcheck(ld, f[POOL_HEALTHCHECK].val, &pool->hc))
		return -1;

	/* List first, then file, whatever the key order: dup_error relies on it. */
	ld->cur_pool = idx;
	ld->pool_start[idx] = ld->total;
	ld->pool_n_list[idx] = SIZE_MAX;
	if (f[POOL_BACKENDS].val && load_backend_list(ld, f[POOL_BACKENDS].val))
		return -1;
	ld->pool_n_list[idx] = pool->n_backends;
	if (f[POOL_BACKENDS_FILE].val && load_backends_file(ld, &f[POOL_BACKENDS_FILE]))
		return -1;
	if (!pool->n_backends)
		return fail_node(ld, node, "pool '%s' has no backends "
				 "(give 'backends' or 'backends_file')", pool->name);
	return 0;
}

static int load_pools(struct loader *ld, yaml_node_t *seq)
{
	struct config *cfg = ld->cfg;
	yaml_node_item_t *it;
	size_t n, i;

	if (seq->type != YAML_SEQUENCE_NODE)
		return fail_node(ld, seq, "pools must be a list, got %s", node_kind(seq));
	n = (size_t)(seq->data.sequence.items.top - seq->data.sequence.items.start);
	if (!n)
		return fail_node(ld, seq, "pools is empty: configure at least one pool");
	if (n > XDPHC_MAX_POOLS)
		return fail_node(ld, seq, "too many pools (%zu, max %d)", n, XDPHC_MAX_POOLS);
	cfg->pools = calloc(n, sizeof(*cfg->pools));
	if (!cfg->pools)
		return fail_node(ld, seq, "out of memory");
	cfg->n_pools = n;
	for (i = 0, it = seq->data.sequence.items.start; i < n; i++, it++)
		if (load_pool(ld, node_at(ld, *it), i))
			return -1;
	return 0;
}

/* ---- top level ---------------------------------------------------------- */

enum {
	TOP_INTERFACE,
	TOP_SOURCE_IPV4,
	TOP_SOURCE_PORTS,
	TOP_PIN_PATH,
	TOP_XDP_MODE,
	TOP_STATUS_INDEX,
	TOP_EVENT_LOG,
	TOP_XDP_ATTACH,
	TOP_TAIL_CALL_MAP,
	TOP_TAIL_CALL_INDEX,
	TOP_METRICS_LISTEN,
	TOP_POOLS,
	TOP_N
};

static bool valid_ifname_char(char c)
{
	/* The kernel's dev_valid_name() rejects these. */
	return c != '/' && c != ':' && c != ' ' && c != '\t' && c != '\n' &&
	       c != '\r' && c != '\v' && c != '\f';
}

static int set_interface(struct loader *ld, const struct field *f)
{
	const char *s = scalar(ld, f);
	size_t len, i;

	if (!s)
		return -1;
	len = f->val->data.scalar.length;
	if (len > IF_NAMESIZE - 1)
		return fail_node(ld, f->val,
				 "interface name '%.64s' is too long (max %d characters)",
				 s, IF_NAMESIZE - 1);
	for (i = 0; i < len; i++)
		if (!valid_ifname_char(s[i]))
			break;
	if (i < len || !strcmp(s, ".") || !strcmp(s, ".."))
		return fail_node(ld, f->val, "'%s' is not a valid interface name", s);
	memcpy(ld->cfg->interface, s, len + 1);
	ld->cfg->interface_line = (int)node_line(f->val);
	return 0;
}

static int set_source_ipv4(struct loader *ld, const struct field *f)
{
	const char *s = scalar(ld, f), *why = NULL;
	struct in_addr a;
	uint32_t h;

	if (!s)
		return -1;
	if (inet_pton(AF_INET, s, &a) != 1)
		return fail_node(ld, f->val, "source_ipv4 '%.64s' is not an IPv4 address", s);
	/* Replies must come back to it: only a unicast address of this host will do. */
	h = ntohl(a.s_addr);
	if (h >> 24 == 0)
		why = "an unspecified address (0.0.0.0/8)";
	else if (h >> 24 == 127)
		why = "a loopback address";
	else if (h >> 28 == 0xe)
		why = "a multicast address";
	else if (h == 0xffffffff)
		why = "the broadcast address";
	if (why)
		return fail_node(ld, f->val, "source_ipv4 %s is %s; probes need a unicast "
				 "address of the probing interface", s, why);
	ld->cfg->source_ipv4 = a.s_addr;
	ld->cfg->has_source_ipv4 = true;
	ld->cfg->source_ipv4_line = (int)node_line(f->val);
	return 0;
}

int config_check_source_ports(long lo, long hi, char *why, size_t len)
{
	if (lo < 1)
		snprintf(why, len, "port 0 is not a usable source port");
	else if (hi > 65535)
		snprintf(why, len, "ports end at 65535");
	else if (lo > hi)
		snprintf(why, len, "the range is inverted (LO > HI)");
	else if (hi - lo + 1 < CONFIG_MIN_SOURCE_PORTS)
		snprintf(why, len, "has %ld ports, need at least %d", hi - lo + 1,
			 CONFIG_MIN_SOURCE_PORTS);
	else
		return 0;
	return -1;
}

static int set_source_ports(struct loader *ld, const struct field *f)
{
	const char *s = scalar(ld, f);
	unsigned long lo, hi;
	char buf[16], why[64];
	char *dash;

	if (!s)
		return -1;
	if (f->val->data.scalar.length >= sizeof(buf))
		goto bad;
	memcpy(buf, s, f->val->data.scalar.length + 1);
	dash = strchr(buf, '-');
	if (!dash)
		goto bad;
	*dash = '\0';
	/* Out-of-range numbers parse here so that the check below can say why. */
	if (parse_uint(buf, 999999, &lo) || parse_uint(dash + 1, 999999, &hi))
		goto bad;
	if (config_check_source_ports((long)lo, (long)hi, why, sizeof(why))) {
		if (lo >= 1 && lo <= hi && hi <= 65535)
			return fail_node(ld, f->val, "source_ports '%s' %s", s, why);
		return fail_node(ld, f->val, "source_ports must be LO-HI with 1 <= LO <= HI <= "
				 "65535, got '%s': %s", s, why);
	}
	ld->cfg->sport_lo = (uint16_t)lo;
	ld->cfg->sport_hi = (uint16_t)hi;
	ld->cfg->has_source_ports = true;
	ld->cfg->source_ports_line = (int)node_line(f->val);
	return 0;
bad:
	return fail_node(ld, f->val, "source_ports must be LO-HI with 1 <= LO <= HI <= 65535, "
			 "got '%.32s'", s);
}

/* A path-like scalar into out (len bytes) and its line into *line. */
static int store_path(struct loader *ld, const struct field *f, const char *s, char *out,
		      size_t len, int *line)
{
	if (f->val->data.scalar.length >= len)
		return fail_node(ld, f->val, "%s is too long", f->name);
	memcpy(out, s, f->val->data.scalar.length + 1);
	*line = (int)node_line(f->val);
	return 0;
}

static int set_pin_path(struct loader *ld, const struct field *f)
{
	const char *s = scalar(ld, f);

	if (!s)
		return -1;
	/* Pins outlive the engine; a cwd-relative path would move between runs. */
	if (s[0] != '/')
		return fail_node(ld, f->val, "pin_path '%.64s' must be an absolute path", s);
	return store_path(ld, f, s, ld->cfg->pin_path, sizeof(ld->cfg->pin_path),
			  &ld->cfg->pin_path_line);
}

static int set_xdp_mode(struct loader *ld, const struct field *f)
{
	const char *s = scalar(ld, f);

	if (!s)
		return -1;
	if (strcmp(s, "native") && strcmp(s, "skb"))
		return fail_node(ld, f->val, "xdp_mode must be 'native' or 'skb', got '%.32s'", s);
	snprintf(ld->cfg->xdp_mode, sizeof(ld->cfg->xdp_mode), "%s", s);
	return 0;
}

/*
 * xdp_attach: interface (default: probe_rx is attached through libxdp) or
 * tail_call (a load balancer's XDP program owns the interface and tail-calls
 * probe_rx; the engine pins it, and puts it into tail_call_map if given).
 */
static int set_attach(struct loader *ld, struct field *f)
{
	struct config *c = ld->cfg;
	unsigned long v = 0;
	const char *s;

	if (f[TOP_XDP_ATTACH].val) {
		s = scalar(ld, &f[TOP_XDP_ATTACH]);
		if (!s)
			return -1;
		if (strcmp(s, "interface") && strcmp(s, "tail_call"))
			return fail_node(ld, f[TOP_XDP_ATTACH].val, "xdp_attach must be 'interface' "
					 "or 'tail_call', got '%.32s'", s);
		c->tail_call = !strcmp(s, "tail_call");
	}
	if (f[TOP_TAIL_CALL_MAP].val) {
		s = scalar(ld, &f[TOP_TAIL_CALL_MAP]);
		if (!s)
			return -1;
		if (!c->tail_call)
			return fail_node(ld, f[TOP_TAIL_CALL_MAP].key,
					 "tail_call_map needs xdp_attach: tail_call");
		if (s[0] != '/')
			return fail_node(ld, f[TOP_TAIL_CALL_MAP].val, "tail_call_map must be the "
					 "absolute path of a pinned BPF prog array");
		if (store_path(ld, &f[TOP_TAIL_CALL_MAP], s, c->tail_call_map,
			       sizeof(c->tail_call_map), &c->tail_call_line))
			return -1;
	}
	if (f[TOP_TAIL_CALL_INDEX].val) {
		if (get_uint(ld, &f[TOP_TAIL_CALL_INDEX], 0, 65535, &v))
			return -1;
		c->tail_call_index = (uint32_t)v;
	}
	return 0;
}

/* "stdout", or a file the engine appends to (reopened on SIGHUP, for logrotate). */
static int set_event_log(struct loader *ld, const struct field *f)
{
	const char *s = scalar(ld, f);

	if (!s)
		return -1;
	if (strcmp(s, "stdout") && s[0] != '/')
		return fail_node(ld, f->val, "event_log must be 'stdout' or an absolute file path, "
				 "got '%.64s'", s);
	return store_path(ld, f, s, ld->cfg->event_log, sizeof(ld->cfg->event_log),
			  &ld->cfg->event_log_line);
}

/* ADDR:PORT with a numeric IPv4 or [IPv6] address; port 0 is refused. */
static int set_metrics_listen(struct loader *ld, const struct field *f)
{
	struct xdphc_backend_key key;
	const char *s = scalar(ld, f);
	char err[128];

	if (!s)
		return -1;
	if (addr_parse_backend(s, &key, err, sizeof(err)))
		return fail_node(ld, f->val, "metrics_listen '%.64s': %s (expected e.g. "
				 "127.0.0.1:9469)", s, err);
	ld->cfg->metrics = key;
	ld->cfg->has_metrics = true;
	ld->cfg->metrics_line = (int)node_line(f->val);
	return 0;
}

static int get_bool(struct loader *ld, const struct field *f, bool *out)
{
	const char *s = scalar(ld, f);

	if (!s)
		return -1;
	if (!strcmp(s, "true") || !strcmp(s, "yes") || !strcmp(s, "on")) {
		*out = true;
		return 0;
	}
	if (!strcmp(s, "false") || !strcmp(s, "no") || !strcmp(s, "off")) {
		*out = false;
		return 0;
	}
	return fail_node(ld, f->val, "%s must be true or false, got '%.32s'", f->name, s);
}

static int load_root(struct loader *ld, yaml_node_t *root)
{
	struct field f[TOP_N] = {
		[TOP_INTERFACE] = { .name = "interface" },
		[TOP_SOURCE_IPV4] = { .name = "source_ipv4" },
		[TOP_SOURCE_PORTS] = { .name = "source_ports" },
		[TOP_PIN_PATH] = { .name = "pin_path" },
		[TOP_XDP_MODE] = { .name = "xdp_mode" },
		[TOP_STATUS_INDEX] = { .name = "status_index" },
		[TOP_EVENT_LOG] = { .name = "event_log" },
		[TOP_XDP_ATTACH] = { .name = "xdp_attach" },
		[TOP_TAIL_CALL_MAP] = { .name = "tail_call_map" },
		[TOP_TAIL_CALL_INDEX] = { .name = "tail_call_index" },
		[TOP_METRICS_LISTEN] = { .name = "metrics_listen" },
		[TOP_POOLS] = { .name = "pools" },
	};

	if (collect(ld, root, f, TOP_N, "the config"))
		return -1;
	if (!f[TOP_INTERFACE].val)
		return fail_node(ld, root, "missing required key 'interface'");
	if (!f[TOP_POOLS].val)
		return fail_node(ld, root, "missing required key 'pools'");
	if (set_interface(ld, &f[TOP_INTERFACE]))
		return -1;
	if (f[TOP_SOURCE_IPV4].val && set_source_ipv4(ld, &f[TOP_SOURCE_IPV4]))
		return -1;
	if (f[TOP_SOURCE_PORTS].val && set_source_ports(ld, &f[TOP_SOURCE_PORTS]))
		return -1;
	if (f[TOP_PIN_PATH].val && set_pin_path(ld, &f[TOP_PIN_PATH]))
		return -1;
	if (f[TOP_STATUS_INDEX].val && get_bool(ld, &f[TOP_STATUS_INDEX], &ld->cfg->status_index))
		return -1;
	if (f[TOP_EVENT_LOG].val && set_event_log(ld, &f[TOP_EVENT_LOG]))
		return -1;
	if (set_attach(ld, f))
		return -1;
	if (f[TOP_METRICS_LISTEN].val && set_metrics_listen(ld, &f[TOP_METRICS_LISTEN]))
		return -1;
	if (f[TOP_XDP_MODE].val && set_xdp_mode(ld, &f[TOP_XDP_MODE]))
		return -1;
	return load_pools(ld, f[TOP_POOLS].val);
}

/* ---- YAML document ------------------------------------------------------ */

static int yaml_error(struct loader *ld, const yaml_parser_t *parser, const char *buf)
{
	unsigned long line;

	if (parser->error == YAML_MEMORY_ERROR)
		return fail_at(ld, ld->path, 0, "out of memory while parsing YAML");
	/* Reader errors (bad encoding) carry an offset but no mark. */
	if (parser->error == YAML_READER_ERROR)
		line = line_of_offset(buf, parser->problem_offset);
	else
		line = (unsigned long)parser->problem_mark.line + 1;
	return fail_at(ld, ld->path, line, "YAML syntax error: %s",
		       parser->problem ? parser->problem : "unknown error");
}

/* Load the first document and make sure nothing but whitespace follows it. */
static int parse_yaml(struct loader *ld, yaml_parser_t *parser, const char *buf)
{
	yaml_document_t extra;
	yaml_node_t *root;
	unsigned long line;

	if (!yaml_parser_load(parser, &ld->doc))
		return yaml_error(ld, parser, buf);
	ld->have_doc = true;
	if (!yaml_parser_load(parser, &extra))
		return yaml_error(ld, parser, buf);
	root = yaml_document_get_root_node(&extra);
	line = root ? node_line(root) : 0;
	yaml_document_delete(&extra);
	if (root)
		return fail_at(ld, ld->path, line, "only one YAML document is allowed");
	return 0;
}

static int load_document(struct loader *ld, const char *buf, size_t len)
{
	yaml_parser_t parser;
	yaml_node_t *root;
	int ret;

	if (!yaml_parser_initialize(&parser))
		return fail_at(ld, ld->path, 0, "out of memory");
	yaml_parser_set_input_string(&parser, (const unsigned char *)buf, len);
	ret = parse_yaml(ld, &parser, buf);
	yaml_parser_delete(&parser);
	if (ret)
		return ret;
	root = yaml_document_get_root_node(&ld->doc);
	if (!root)
		return fail_at(ld, ld->path, 1, "config is empty");
	return load_root(ld, root);
}

static void loader_free(struct loader *ld)
{
	size_t i;

	if (ld->have_doc)
		yaml_document_delete(&ld->doc);
	free(ld->dups.slots);
	free(ld->lines);
	for (i = 0; i < XDPHC_MAX_POOLS; i++)
		free(ld->pool_file[i]);
}

int config_load(const char *path, struct config *cfg, char *err, size_t errlen)
{
	struct loader *ld;
	size_t len;
	char *buf, why[128];
	int ret;

	memset(cfg, 0, sizeof(*cfg));
	if (err && errlen)
		err[0] = '\0';
	if (strlen(path) >= sizeof(cfg->path))
		return format_err(err, errlen, path, 0, "path too long");
	if (slurp(path, &buf, &len, why, sizeof(why)))
		return format_err(err, errlen, path, 0, "cannot open: %s", why);
	/* The loader's per-pool tables are a few KiB: keep them off the stack. */
	ld = calloc(1, sizeof(*ld));
	if (!ld) {
		free(buf);
		return format_err(err, errlen, path, 0, "out of memory");
	}
	ld->cfg = cfg;
	ld->path = path;
	ld->err = err;
	ld->errlen = errlen;
	strcpy(cfg->path, path);
	strcpy(cfg->pin_path, DEFAULT_PIN_PATH);
	strcpy(cfg->xdp_mode, DEFAULT_XDP_MODE);
	cfg->status_index = true;

	ret = load_document(ld, buf, len);
	loader_free(ld);
	free(ld);
	free(buf);
	if (ret)
		config_free(cfg);
	return ret ? -1 : 0;
}

void config_free(struct config *cfg)
{
	size_t i;

	for (i = 0; i < cfg->n_pools; i++)
		free(cfg->pools[i].backends);
	free(cfg->pools);
	memset(cfg, 0, sizeof(*cfg));
}

void config_release_backends(struct config *cfg)
{
	for (size_t i = 0; i < cfg->n_pools; i++) {
		free(cfg->pools[i].backends);
		cfg->pools[i].backends = NULL;
	}
}

size_t config_backend_count(const struct config *cfg)
{
	size_t i, n = 0;

	for (i = 0; i < cfg->n_pools; i++)
		n += cfg->pools[i].n_backends;
	return n;
}
