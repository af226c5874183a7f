// SPDX-License-Identifier: MIT
#define _GNU_SOURCE	/* memmem */
/*
 * The config: YAML in, struct config out.  Keys, their types, ranges,
 * defaults and help are declared once in config_keys.h; this file holds
 * the types that read them (one function each), the backend lists, the
 * checks between keys, and what is derived from the table: the messages,
 * `xdphc config-keys` and config_diff().
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <ctype.h>
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

#define ADDR_BUF_LEN		64	/* "[" INET6_ADDRSTRLEN "]:65535" */
/* Config and backends files: a million backends take about 20 MiB. */
#define MAX_INPUT_FILE		((size_t)1 << 30)
#define MAX_INPUT_FILE_TEXT	"1 GiB"
/* Keys to prefetch ahead: enough to overlap one DRAM miss with the next keys' work. */
#define DEDUPE_PREFETCH		8
/*
 * max_backends by default: room to add this many, or 1/64 more if that is
 * larger.  Spare ids cost their status, slot and up-list entries (about
 * 100 bytes each): a quarter more would add 25 bytes a backend at a million.
 */
#define HEADROOM_MIN		16
#define HEADROOM_DIV		64

/* The first key of a pool's healthcheck, of each list of its, and of its tls. */
#define CFG_HC_FIRST (CFG_TOP_N + (0 CFG_POOL_KEYS(CFG_KEY_ONE)))
#define CFG_HTTP_FIRST (CFG_HC_FIRST + (0 CFG_HC_KEYS(CFG_KEY_ONE)))
#define CFG_HTTPS_FIRST (CFG_HTTP_FIRST + (0 CFG_HTTP_KEYS(CFG_KEY_ONE)))
#define CFG_TCP_FIRST (CFG_HTTPS_FIRST + (0 CFG_HTTPS_KEYS(CFG_KEY_ONE)))
#define CFG_EXPECT_FIRST (CFG_TCP_FIRST + (0 CFG_TCP_KEYS(CFG_KEY_ONE)))
#define CFG_UDP_FIRST (CFG_EXPECT_FIRST + (0 CFG_EXPECT_KEYS(CFG_KEY_ONE)))
#define CFG_TLS_FIRST (CFG_UDP_FIRST + (0 CFG_UDP_KEYS(CFG_KEY_ONE)))
/* The placeholder of a udp payload for the probe's cookie. */
#define COOKIE_MARK "{cookie}"
/* Values in messages: at most this many characters, before escapes. */
#define SHOWN_CHARS 64
#define SHOWN_LEN (SHOWN_CHARS * 4 + 4)

_Static_assert(XDPHC_POOL_NAME_LEN == 32, "config_keys.h: pool names are 1..31 characters");
_Static_assert(CONFIG_MAX_IDS == 16777214, "config_keys.h: max_backends help says 16,777,214");
_Static_assert(XDPHC_MAX_POOLS == 256, "config_keys.h: pools says 1..256");
_Static_assert(HC_TEXT_LEN == 256, "config_keys.h: path, host, expect_body say 255");
_Static_assert(HC_BYTES_LEN == 256, "config_keys.h: send says 256 bytes");
_Static_assert(HC_BYTES_LEN == XDPHC_EXPECT_MAX, "a udp expect goes to the BPF side whole");
_Static_assert(HC_PAYLOAD_LEN == 1472, "config_keys.h: payload says 1472 bytes");
/* {cookie} is replaced in place: the payload keeps its length. */
_Static_assert(sizeof(COOKIE_MARK) - 1 == XDPHC_COOKIE_DIGITS, "{cookie}: as long as its digits");
/* add_backend() takes the key's protocol from the pool's healthcheck, read before. */
_Static_assert(CFG_POOL_HEALTHCHECK < CFG_POOL_BACKENDS, "healthcheck is read before backends");
/* The duplicate index reads keys straight from cfg->backends (keyindex's stride). */
_Static_assert(offsetof(struct backend_cfg, key) == 0, "backend_cfg: key first");

/* ---- the table ---------------------------------------------------------- */

enum cfg_type_id {
	CFG_T_UINT,
	CFG_T_DURATION,
	CFG_T_FRACTION,
	CFG_T_BOOL,
	CFG_T_ENUM,
	CFG_T_ABSPATH,
	CFG_T_LOGFILE,
	CFG_T_PROG_ARRAY,
	CFG_T_IFNAME,
	CFG_T_IPV4,
	CFG_T_PORTS,
	CFG_T_ADDR,
	CFG_T_PROTOCOL,
	CFG_T_POOL_NAME,
	CFG_T_POOLS,
	CFG_T_MAP,
	CFG_T_BACKENDS,
	CFG_T_BACKENDS_FILE,
	CFG_T_STATE_FILE,
	CFG_T_CANARIES,
	CFG_T_ENUM_ICASE,
	CFG_T_URL_PATH,
	CFG_T_HOST,
	CFG_T_SNI,
	CFG_T_TEXT,
	CFG_T_CODES,
	CFG_T_HEADERS,
	CFG_T_BYTES,
	CFG_T_CA_FILE,
	CFG_T_IPV6,
	CFG_T_PAYLOAD,
};

struct key_desc {
	const char *name;
	enum cfg_type_id type;
	unsigned long lo, hi;
	const char *valid;
	const char *dflt;
	size_t off, size;		/* the member in its scope's struct; size 0: none */
	const char *help;
};

/*
 * AT(m) is expanded inside each scope's list below, where SCOPE_STRUCT
 * names that scope's struct.
 */
#define AT(m)		offsetof(SCOPE_STRUCT, m), sizeof(((SCOPE_STRUCT *)0)->m)
#define NOWHERE		0, 0
#define KEY(id, name, type, lo, hi, valid, dflt, member, help) \
	[CFG_##id] = { name, CFG_T_##type, lo, hi, valid, dflt, member, help },

static const struct key_desc keys[CFG_KEY_N] = {
#define SCOPE_STRUCT struct config
	CFG_TOP_KEYS(KEY)
#undef SCOPE_STRUCT
#define SCOPE_STRUCT struct pool_cfg
	CFG_POOL_KEYS(KEY)
#undef SCOPE_STRUCT
#define SCOPE_STRUCT struct hc_config
	CFG_HC_KEYS(KEY)
	CFG_HTTP_KEYS(KEY)
	CFG_HTTPS_KEYS(KEY)
	CFG_TCP_KEYS(KEY)
	CFG_EXPECT_KEYS(KEY)
	CFG_UDP_KEYS(KEY)
	CFG_TLS_KEYS(KEY)
#undef SCOPE_STRUCT
};

#define PROTO_BIT(p) (1U << (p))

/* The healthcheck's lists after the common one: keys of some protocols only. */
static const struct proto_keys {
	enum cfg_key first, end;
	unsigned int protocols;		/* PROTO_BIT()s of enum hc_protocol */
	const char *words;		/* the protocols, in messages and the key reference */
	const char *hint;		/* what the others have instead, in messages */
} proto_keys[] = {
	{ CFG_HTTP_FIRST, CFG_HTTPS_FIRST, PROTO_BIT(HC_PROTO_HTTP) | PROTO_BIT(HC_PROTO_HTTPS),
	  "http or https", "" },
	{ CFG_HTTPS_FIRST, CFG_TCP_FIRST, PROTO_BIT(HC_PROTO_HTTPS), "https", "" },
	{ CFG_TCP_FIRST, CFG_EXPECT_FIRST, PROTO_BIT(HC_PROTO_TCP), "tcp",
	  " (udp checks send payload; http and https send a request)" },
	{ CFG_EXPECT_FIRST, CFG_UDP_FIRST, PROTO_BIT(HC_PROTO_TCP) | PROTO_BIT(HC_PROTO_UDP),
	  "tcp or udp",
	  " (http and https checks match the response with success_codes and expect_body)" },
	{ CFG_UDP_FIRST, CFG_TLS_FIRST, PROTO_BIT(HC_PROTO_UDP), "udp",
	  " (tcp connection checks send what send says)" },
	{ CFG_TLS_FIRST, CFG_KEY_N, PROTO_BIT(HC_PROTO_HTTPS), "https", "" },
};

enum cfg_scope { SCOPE_TOP, SCOPE_POOL, SCOPE_HC, SCOPE_TLS, SCOPE_N };

struct loader;

struct scope {
	const char *what;		/* in messages */
	const char *prefix;		/* in the key reference */
	enum cfg_key first, end;
	enum cfg_key parent;		/* the key whose value is this mapping */
	/* Checks between keys and defaults that depend on others, once all are read. */
	int (*finish)(struct loader *ld, const yaml_node_t *node);
};

static int top_finish(struct loader *ld, const yaml_node_t *node);
static int pool_finish(struct loader *ld, const yaml_node_t *node);
static int hc_finish(struct loader *ld, const yaml_node_t *node);
static int tls_finish(struct loader *ld, const yaml_node_t *node);

static const struct scope scopes[SCOPE_N] = {
	[SCOPE_TOP] = { "the config", "", 0, CFG_TOP_N, CFG_KEY_N, top_finish },
	[SCOPE_POOL] = { "pool", "pools[].", CFG_TOP_N, CFG_HC_FIRST, CFG_POOLS, pool_finish },
	[SCOPE_HC] = { "healthcheck", "pools[].healthcheck.", CFG_HC_FIRST, CFG_TLS_FIRST,
		       CFG_POOL_HEALTHCHECK, hc_finish },
	[SCOPE_TLS] = { "tls", "pools[].healthcheck.tls.", CFG_TLS_FIRST, CFG_KEY_N, CFG_HC_TLS,
			tls_finish },
};

/* The protocols a key is for, or NULL for a key of every protocol. */
static const struct proto_keys *proto_keys_of(enum cfg_key id)
{
	for (size_t i = 0; i < sizeof(proto_keys) / sizeof(proto_keys[0]); i++)
		if (id >= proto_keys[i].first && id < proto_keys[i].end)
			return &proto_keys[i];
	return NULL;
}

/* A default written as a value; "(...)" describes one computed at load. */
static bool literal_default(const char *dflt)
{
	return dflt && dflt[0] != '(';
}

/* ---- the loader --------------------------------------------------------- */

struct loader {
	struct config *cfg;
	yaml_document_t doc;
	bool have_doc;
	const char *path;		/* config file as given, for messages */
	char *err;
	size_t errlen;
	size_t cap;			/* room in cfg->backends */
	uint32_t *lines;		/* source line of each backend */
	size_t lines_cap;
	struct keyindex dups;		/* every backend checked so far, to refuse duplicates */
	size_t n_indexed;		/* backends in dups: cfg->backends[0, n_indexed) */
	size_t cur_pool;
	/* Per pool: how many leading backends came from the YAML list, and its
	 * resolved backends_file (for messages). */
	size_t pool_n_list[XDPHC_MAX_POOLS];
	char *pool_file[XDPHC_MAX_POOLS];
};

/* A key's value as read: its text for scalar types; nodes NULL for a default. */
struct value {
	const char *s;
	const yaml_node_t *key;
	yaml_node_t *node;
};

static struct pool_cfg *cur_pool(struct loader *ld)
{
	return &ld->cfg->pools[ld->cur_pool];
}

/* Where a key's line is kept: top-level keys in the config, the others per pool. */
static uint32_t *line_of(struct loader *ld, enum cfg_key id)
{
	return id < CFG_TOP_N ? &ld->cfg->line[id] : &cur_pool(ld)->line[id - CFG_TOP_N];
}

/* A pool's or healthcheck's key was in the file, not defaulted. */
static bool pool_has(const struct pool_cfg *pool, enum cfg_key id)
{
	return pool->line[id - CFG_TOP_N];
}

/* The struct a key's member is in. */
static void *scope_base(struct loader *ld, enum cfg_key id)
{
	if (id < CFG_TOP_N)
		return ld->cfg;
	return id < CFG_HC_FIRST ? (void *)cur_pool(ld) : (void *)&cur_pool(ld)->hc;
}

/* ---- error reporting ---------------------------------------------------- */

static const char *where(const char *path, unsigned long line, char *buf, size_t len)
{
	if (line)
		snprintf(buf, len, "%s:%lu", path, line);
	else
		snprintf(buf, len, "%s", path);
	return buf;
}

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
	return node ? (unsigned long)node->start_mark.line + 1 : 0;
}

/* A message about node; with no node (a default), about the file. */
__attribute__((format(printf, 3, 4)))
static int fail_node(struct loader *ld, const yaml_node_t *node, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vformat_err(ld->err, ld->errlen, ld->path, node_line(node), fmt, ap);
	va_end(ap);
	return -1;
}

/* A message about a key already read, at the line of its value. */
__attribute__((format(printf, 3, 4)))
static int fail_key(struct loader *ld, enum cfg_key id, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vformat_err(ld->err, ld->errlen, ld->path, *line_of(ld, id), fmt, ap);
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
 * Open a file to read, a regular file only: /dev/zero would be read until
 * memory runs out, and opening a FIFO would block the start (O_NONBLOCK
 * keeps open() from waiting for a writer).  Returns the descriptor, or -1
 * with the reason in why.
 */
static int open_regular(const char *path, struct stat *st, char *why, size_t whylen)
{
	int fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC);

	if (fd < 0) {
		snprintf(why, whylen, "%s", strerror(errno));
		return -1;
	}
	if (fstat(fd, st))
		snprintf(why, whylen, "%s", strerror(errno));
	else if (S_ISDIR(st->st_mode))
		snprintf(why, whylen, "%s", strerror(EISDIR));
	else if (!S_ISREG(st->st_mode))
		snprintf(why, whylen, "%s, not a regular file", file_kind(st->st_mode));
	else
		return fd;
	close(fd);
	return -1;
}

/*
 * Read a whole file into one NUL-terminated buffer: one allocation however
 * many lines it has, and the parser may write terminators into it in place.
 * Regular files only (open_regular()), of at most MAX_INPUT_FILE bytes.
 * Returns 0, or -1 with the reason in why.
 */
static int slurp(const char *path, char **out, size_t *out_len, char *why, size_t whylen)
{
	struct stat st;
	size_t cap, ncap, len = 0;
	char *buf = NULL, *nbuf;
	ssize_t r;
	int fd;

	fd = open_regular(path, &st, why, whylen);
	if (fd < 0)
		return -1;
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

/*
 * As resolve_path(), and from the working directory when that leaves it
 * relative: the engine reads the file later, whatever its directory then.
 * 0, or -1 with errno set.
 */
static int resolve_abs_path(const char *cfg_path, const char *file, char *out, size_t len)
{
	char rel[PATH_MAX], cwd[PATH_MAX];
	int n;

	errno = ENAMETOOLONG;
	if (resolve_path(cfg_path, file, rel, sizeof(rel)))
		return -1;
	if (rel[0] == '/')
		n = snprintf(out, len, "%s", rel);
	else if (getcwd(cwd, sizeof(cwd)))
		n = snprintf(out, len, "%s/%s", cwd, rel);
	else
		return -1;
	errno = ENAMETOOLONG;
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

/*
 * A "\0" escape in a double-quoted scalar: the C string would end there and
 * silently disagree with what YAML holds ("198.18.1.1:80\0junk" would be read
 * as a valid backend, "pin_path\0x" as the key pin_path).
 */
static bool has_nul(const yaml_node_t *n)
{
	return memchr(n->data.scalar.value, '\0', n->data.scalar.length) != NULL;
}

static int unknown_key(struct loader *ld, const yaml_node_t *key, const struct scope *sc)
{
	char known[384];
	size_t off = 0;
	int w;

	known[0] = '\0';
	for (enum cfg_key k = sc->first; k < sc->end && off < sizeof(known); k++) {
		w = snprintf(known + off, sizeof(known) - off, "%s%s", k > sc->first ? ", " : "",
			     keys[k].name);
		if (w < 0)
			break;
		off += (size_t)w;
	}
	return fail_node(ld, key, "unknown key '%.64s' in %s (expected one of: %s)",
			 (const char *)key->data.scalar.value, sc->what, known);
}

static enum cfg_key find_key(const struct scope *sc, const char *name)
{
	enum cfg_key k;

	for (k = sc->first; k < sc->end; k++)
		if (!strcmp(keys[k].name, name))
			break;
	return k;
}

/*
 * Match the keys of a mapping against the scope's keys, so that a typo is an
 * error rather than a silently ignored setting.
 */
static int collect(struct loader *ld, yaml_node_t *map, const struct scope *sc,
		   struct value *vals)
{
	yaml_node_pair_t *pair;
	yaml_node_t *k;
	enum cfg_key id;

	if (map->type != YAML_MAPPING_NODE)
		return fail_node(ld, map, "%s must be a mapping, got %s", sc->what,
				 node_kind(map));
	for (pair = map->data.mapping.pairs.start; pair < map->data.mapping.pairs.top; pair++) {
		k = node_at(ld, pair->key);
		if (k->type != YAML_SCALAR_NODE)
			return fail_node(ld, k, "keys in %s must be plain names, got %s",
					 sc->what, node_kind(k));
		if (has_nul(k))
			return fail_node(ld, k, "a key in %s contains a NUL character", sc->what);
		id = find_key(sc, (const char *)k->data.scalar.value);
		if (id == sc->end)
			return unknown_key(ld, k, sc);
		if (vals[id].key)
			return fail_node(ld, k, "duplicate key '%s' in %s (first at line %lu)",
					 keys[id].name, sc->what, node_line(vals[id].key));
		vals[id].key = k;
		vals[id].node = node_at(ld, pair->value);
	}
	return 0;
}

/* The text of a value that must be a non-empty scalar, or NULL after an error. */
static const char *scalar(struct loader *ld, const struct key_desc *k, const yaml_node_t *v)
{
	if (v->type != YAML_SCALAR_NODE) {
		fail_node(ld, v, "%s must be a single value, got %s", k->name, node_kind(v));
		return NULL;
	}
	if (!v->data.scalar.length) {
		fail_node(ld, v, "%s has no value", k->name);
		return NULL;
	}
	if (has_nul(v)) {
		fail_node(ld, v, "%s contains a NUL character", k->name);
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

/* ms as a duration the parser takes back: "0", "250ms", "2s", "1440m". */
static const char *format_ms(uint32_t ms, char *buf, size_t len)
{
	if (!ms)
		snprintf(buf, len, "0");
	else if (ms % 60000 == 0)
		snprintf(buf, len, "%um", ms / 60000);
	else if (ms % 1000 == 0)
		snprintf(buf, len, "%us", ms / 1000);
	else
		snprintf(buf, len, "%ums", ms);
	return buf;
}

/* An ENUM's choices "a|b|c" as "'a', 'b' or 'c'". */
static const char *format_choices(const char *choices, char *buf, size_t len)
{
	size_t off = 0, n;
	const char *p = choices, *bar;
	int w;

	buf[0] = '\0';
	while (*p && off < len) {
		bar = strchr(p, '|');
		n = bar ? (size_t)(bar - p) : strlen(p);
		w = snprintf(buf + off, len - off, "%s'%.*s'", p == choices ? "" :
			     bar ? ", " : " or ", (int)n, p);
		if (w < 0)
			break;
		off += (size_t)w;
		p += n + (bar != NULL);
	}
	return buf;
}

/* The index of s among an ENUM's choices, or -1. */
static int choice_index(const char *choices, const char *s, bool icase)
{
	size_t n, len = strlen(s);
	const char *p = choices;

	for (int i = 0; *p; i++) {
		n = strcspn(p, "|");
		if (n == len && !(icase ? strncasecmp : strncmp)(p, s, n))
			return i;
		p += n + (p[n] == '|');
	}
	return -1;
}

/* What values a key takes, in words: from lo..hi for numbers. */
static const char *describe_valid(const struct key_desc *k, char *buf, size_t len)
{
	char lo[24], hi[24], choices[96];

	if (k->type == CFG_T_UINT)
		snprintf(buf, len, "an integer in %lu..%lu", k->lo, k->hi);
	else if (k->type == CFG_T_DURATION)
		snprintf(buf, len, "a duration in %s..%s", format_ms((uint32_t)k->lo, lo, sizeof(lo)),
			 format_ms((uint32_t)k->hi, hi, sizeof(hi)));
	else if (k->type == CFG_T_ENUM)
		format_choices(k->valid, buf, len);
	else if (k->type == CFG_T_ENUM_ICASE || k->type == CFG_T_PROTOCOL)
		snprintf(buf, len, "%s (any case)",
			 format_choices(k->valid, choices, sizeof(choices)));
	else
		snprintf(buf, len, "%s", k->valid ? k->valid : "");
	return buf;
}

/* ---- value types: each reads one kind of value into its member ---------- */

static void store_uint(void *dst, size_t size, unsigned long v)
{
	if (size == sizeof(uint8_t))
		*(uint8_t *)dst = (uint8_t)v;
	else if (size == sizeof(uint16_t))
		*(uint16_t *)dst = (uint16_t)v;
	else
		*(uint32_t *)dst = (uint32_t)v;
}

static int read_uint(struct loader *ld, const struct key_desc *k, const struct value *v,
		     void *dst)
{
	unsigned long n;
	char valid[64];

	if (parse_uint(v->s, k->hi, &n) || n < k->lo)
		return fail_node(ld, v->node, "%s must be %s, got '%.32s'", k->name,
				 describe_valid(k, valid, sizeof(valid)), v->s);
	store_uint(dst, k->size, n);
	return 0;
}

static int read_duration(struct loader *ld, const struct key_desc *k, const struct value *v,
			 void *dst)
{
	char valid[64];
	uint32_t ms;

	/* A key that may be 0 (jitter: off) shows it among the examples. */
	if (parse_duration_ms(v->s, &ms))
		return fail_node(ld, v->node, "%s: bad duration '%.32s' (use e.g. %s)", k->name,
				 v->s, k->lo ? "500ms, 1.5s, 2s, 1m" : "0, 5ms, 20ms");
	if (ms < k->lo || ms > k->hi)
		return fail_node(ld, v->node, "%s must be %s, got '%.32s'", k->name,
				 describe_valid(k, valid, sizeof(valid)), v->s);
	*(uint32_t *)dst = ms;
	return 0;
}

/*
 * A fraction 0 < f <= 1 as "0.5", ".25", "1" or "1.0", kept in millionths:
 * the breaker compares counts with integers only.  No exponent, no sign, at
 * most 6 decimals (finer than any pool's backend count needs).
 */
static int parse_fraction(const char *s, uint32_t *ppm)
{
	unsigned long v = 0, scale = CONFIG_PPM;
	const char *p = s;

	if (*p == '0' || *p == '1')
		v = (unsigned long)(*p++ - '0') * CONFIG_PPM;
	if (*p == '.') {
		for (p++; *p >= '0' && *p <= '9' && scale > 1; p++) {
			scale /= 10;
			v += (unsigned long)(*p - '0') * scale;
		}
		if (p[-1] == '.')
			return -1;
	}
	if (*p || p == s || !v || v > CONFIG_PPM)
		return -1;
	*ppm = (uint32_t)v;
	return 0;
}

static int read_fraction(struct loader *ld, const struct key_desc *k, const struct value *v,
			 void *dst)
{
	if (parse_fraction(v->s, dst))
		return fail_node(ld, v->node, "%s must be %s, got '%.32s'", k->name, k->valid,
				 v->s);
	return 0;
}

static int read_bool(struct loader *ld, const struct key_desc *k, const struct value *v,
		     void *dst)
{
	const char *s = v->s;

	if (!strcmp(s, "true") || !strcmp(s, "yes") || !strcmp(s, "on"))
		*(bool *)dst = true;
	else if (!strcmp(s, "false") || !strcmp(s, "no") || !strcmp(s, "off"))
		*(bool *)dst = false;
	else
		return fail_node(ld, v->node, "%s must be %s, got '%.32s'", k->name, k->valid, s);
	return 0;
}

/* The choice's index goes into the member: choices are listed in the order of its enum. */
static int read_enum(struct loader *ld, const struct key_desc *k, const struct value *v,
		     void *dst)
{
	int i = choice_index(k->valid, v->s, k->type == CFG_T_ENUM_ICASE);
	char valid[128];

	if (i < 0)
		return fail_node(ld, v->node, "%s must be %s, got '%.32s'", k->name,
				 describe_valid(k, valid, sizeof(valid)), v->s);
	store_uint(dst, k->size, (unsigned long)i);
	return 0;
}

static int store_text(struct loader *ld, const struct key_desc *k, const struct value *v,
		      void *dst)
{
	size_t len = strlen(v->s);

	if (len >= k->size)
		return fail_node(ld, v->node, "%s is too long (max %zu characters)", k->name,
				 k->size - 1);
	memcpy(dst, v->s, len + 1);
	return 0;
}

/* Pins and files outlive the engine's working directory: relative paths would move. */
static int read_abspath(struct loader *ld, const struct key_desc *k, const struct value *v,
			void *dst)
{
	if (v->s[0] != '/')
		return fail_node(ld, v->node, "%s must be %s, got '%.64s'", k->name, k->valid,
				 v->s);
	return store_text(ld, k, v, dst);
}

/* An absolute path; none, or an empty value: runtime changes are not kept. */
static int read_state_file(struct loader *ld, const struct key_desc *k, const struct value *v,
			   void *dst)
{
	struct value path = *v;

	if (v->node->type == YAML_SCALAR_NODE &&
	    (!v->node->data.scalar.length || !strcmp((char *)v->node->data.scalar.value, "none"))) {
		*(char *)dst = '\0';
		return 0;
	}
	path.s = scalar(ld, k, v->node);
	return path.s ? read_abspath(ld, k, &path, dst) : -1;
}

/* "stdout", or a file the engine appends to (reopened on SIGHUP, for logrotate). */
static int read_logfile(struct loader *ld, const struct key_desc *k, const struct value *v,
			void *dst)
{
	if (!strcmp(v->s, "stdout"))
		return store_text(ld, k, v, dst);
	return read_abspath(ld, k, v, dst);
}

/* xdp_attach is read first (config_keys.h keeps the order). */
static int read_prog_array(struct loader *ld, const struct key_desc *k, const struct value *v,
			   void *dst)
{
	if (!ld->cfg->tail_call)
		return fail_node(ld, v->key, "%s needs xdp_attach: tail_call", k->name);
	return read_abspath(ld, k, v, dst);
}

static bool valid_ifname_char(char c)
{
	/* The kernel's dev_valid_name() rejects these. */
	return c != '/' && c != ':' && c != ' ' && c != '\t' && c != '\n' &&
	       c != '\r' && c != '\v' && c != '\f';
}

static int read_ifname(struct loader *ld, const struct key_desc *k, const struct value *v,
		       void *dst)
{
	const char *s = v->s;
	size_t len = strlen(s), i;

	(void)k;
	if (len > IF_NAMESIZE - 1)
		return fail_node(ld, v->node,
				 "interface name '%.64s' is too long (max %d characters)",
				 s, IF_NAMESIZE - 1);
	for (i = 0; i < len; i++)
		if (!valid_ifname_char(s[i]))
			break;
	if (i < len || !strcmp(s, ".") || !strcmp(s, ".."))
		return fail_node(ld, v->node, "'%s' is not a valid interface name", s);
	memcpy(dst, s, len + 1);
	return 0;
}

static int read_ipv4(struct loader *ld, const struct key_desc *k, const struct value *v,
		     void *dst)
{
	const char *s = v->s, *why = NULL;
	struct in_addr a;
	uint32_t h;

	if (inet_pton(AF_INET, s, &a) != 1)
		return fail_node(ld, v->node, "%s '%.64s' is not an IPv4 address", k->name, s);
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
		return fail_node(ld, v->node, "%s %s is %s; probes need a unicast "
				 "address of the probing interface", k->name, s, why);
	*(uint32_t *)dst = a.s_addr;
	return 0;
}

static int read_ipv6(struct loader *ld, const struct key_desc *k, const struct value *v,
		     void *dst)
{
	const char *s = v->s, *why = NULL;
	struct in6_addr a;

	if (inet_pton(AF_INET6, s, &a) != 1)
		return fail_node(ld, v->node, "%s '%.64s' is not an IPv6 address", k->name, s);
	/* Replies must come back to it from other networks: a global unicast address. */
	if (IN6_IS_ADDR_UNSPECIFIED(&a))
		why = "the unspecified address";
	else if (IN6_IS_ADDR_LOOPBACK(&a))
		why = "the loopback address";
	else if (IN6_IS_ADDR_MULTICAST(&a))
		why = "a multicast address";
	else if (IN6_IS_ADDR_LINKLOCAL(&a))
		why = "a link-local address";
	else if (IN6_IS_ADDR_V4MAPPED(&a))
		why = "an IPv4-mapped address (set source_ipv4 instead)";
	if (why)
		return fail_node(ld, v->node, "%s %s is %s; probes need a global unicast "
				 "address of the probing interface", k->name, s, why);
	memcpy(dst, &a, sizeof(a));
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

static int read_ports(struct loader *ld, const struct key_desc *k, const struct value *v,
		      void *dst)
{
	struct cfg_ports *ports = dst;
	const char *s = v->s;
	unsigned long lo, hi;
	char buf[16], why[64];
	char *dash;

	if (strlen(s) >= sizeof(buf))
		goto bad;
	memcpy(buf, s, strlen(s) + 1);
	dash = strchr(buf, '-');
	if (!dash)
		goto bad;
	*dash = '\0';
	/* Out-of-range numbers parse here so that the check below can say why. */
	if (parse_uint(buf, 999999, &lo) || parse_uint(dash + 1, 999999, &hi))
		goto bad;
	if (config_check_source_ports((long)lo, (long)hi, why, sizeof(why))) {
		if (lo >= 1 && lo <= hi && hi <= 65535)
			return fail_node(ld, v->node, "%s '%s' %s", k->name, s, why);
		return fail_node(ld, v->node, "%s must be LO-HI with 1 <= LO <= HI <= "
				 "65535, got '%s': %s", k->name, s, why);
	}
	ports->lo = (uint16_t)lo;
	ports->hi = (uint16_t)hi;
	return 0;
bad:
	return fail_node(ld, v->node, "%s must be LO-HI with 1 <= LO <= HI <= 65535, "
			 "got '%.32s'", k->name, s);
}

/* ADDR:PORT with a numeric IPv4 or [IPv6] address; port 0 is refused. */
static int read_addr(struct loader *ld, const struct key_desc *k, const struct value *v,
		     void *dst)
{
	char err[128];

	if (addr_parse_backend(v->s, dst, err, sizeof(err)))
		return fail_node(ld, v->node, "%s '%.64s': %s (expected e.g. 127.0.0.1:9469)",
				 k->name, v->s, err);
	return 0;
}

/* An ENUM in any case, but protocols the engine may check one day are named as such. */
static int read_protocol(struct loader *ld, const struct key_desc *k, const struct value *v,
			 void *dst)
{
	static const char *const later[] = { "tls", "ssl", "grpc", "icmp" };
	const char *s = v->s;
	int i = choice_index(k->valid, s, true);
	char valid[64];

	if (i >= 0) {
		store_uint(dst, k->size, (unsigned long)i);
		return 0;
	}
	format_choices(k->valid, valid, sizeof(valid));
	for (size_t j = 0; j < sizeof(later) / sizeof(later[0]); j++)
		if (!strcasecmp(s, later[j]))
			return fail_node(ld, v->node, "%s '%s' is not supported yet (only %s)",
					 k->name, s, valid);
	return fail_node(ld, v->node, "unknown %s '%.32s' (expected %s)", k->name, s, valid);
}

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

static int read_pool_name(struct loader *ld, const struct key_desc *k, const struct value *v,
			  void *dst)
{
	const char *s = v->s;
	size_t len = strlen(s);

	if (!valid_pool_name(s, len))
		return fail_node(ld, v->node, "bad pool name '%.64s': use %s", s, k->valid);
	for (size_t i = 0; i < ld->cur_pool; i++)
		if (!strcmp(ld->cfg->pools[i].name, s))
			return fail_node(ld, v->node, "duplicate pool name '%s'", s);
	memcpy(dst, s, len + 1);
	return 0;
}

/* ---- connection checks: the HTTP request, TCP send and expect ------------ */

/* s for a message: its first SHOWN_CHARS characters, control and non-ASCII bytes as \xNN. */
static const char *shown(const char *s, char *buf)
{
	size_t o = 0, i;

	for (i = 0; s[i] && i < SHOWN_CHARS; i++) {
		unsigned char c = (unsigned char)s[i];

		if (c < ' ' || c >= 0x7f)
			o += (size_t)snprintf(buf + o, 5, "\\x%02x", c);
		else
			buf[o++] = (char)c;
	}
	strcpy(buf + o, s[i] ? "..." : "");
	return buf;
}

/* A value refused for what the key's valid says. */
static int bad_value(struct loader *ld, const struct key_desc *k, const struct value *v)
{
	char buf[SHOWN_LEN];

	return fail_node(ld, v->node, "%s must be %s, got '%s'", k->name, k->valid,
			 shown(v->s, buf));
}

/* Text of the characters ok allows. */
static int read_chars(struct loader *ld, const struct key_desc *k, const struct value *v,
		      void *dst, bool (*ok)(unsigned char c))
{
	for (const char *p = v->s; *p; p++)
		if (!ok((unsigned char)*p))
			return bad_value(ld, k, v);
	return store_text(ld, k, v, dst);
}

/* A byte that URLs and Host headers carry only percent-encoded, if at all. */
static bool url_char(unsigned char c)
{
	return c > ' ' && c < 0x7f;
}

/* A fragment (#...) is never sent: libcurl cuts it off the URL. */
static bool path_char(unsigned char c)
{
	return url_char(c) && c != '#';
}

static bool host_char(unsigned char c)
{
	return url_char(c) && c != '/';
}

static bool dns_char(unsigned char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
	       c == '.' || c == '-' || c == '_';
}

/* A header name: an HTTP token. */
static bool token_char(unsigned char c)
{
	return dns_char(c) || (c && strchr("!#$%&'*+^`|~", c));
}

static int read_url_path(struct loader *ld, const struct key_desc *k, const struct value *v,
			 void *dst)
{
	if (v->s[0] != '/')
		return bad_value(ld, k, v);
	return read_chars(ld, k, v, dst, path_char);
}

static int read_host(struct loader *ld, const struct key_desc *k, const struct value *v,
		     void *dst)
{
	return read_chars(ld, k, v, dst, host_char);
}

static int read_sni(struct loader *ld, const struct key_desc *k, const struct value *v,
		    void *dst)
{
	return read_chars(ld, k, v, dst, dns_char);
}

/* Add the codes of text ("200,302", "200-399", "2xx", a YAML integer) to set. */
static int add_codes(struct loader *ld, const struct key_desc *k, const yaml_node_t *n,
		     const char *text, struct codes *set)
{
	struct codes one;
	char why[160];

	if (codes_parse(text, &one, why, sizeof(why)))
		return fail_node(ld, n, "%s: %s", k->name, why);
	for (size_t i = 0; i < sizeof(set->bits) / sizeof(set->bits[0]); i++)
		set->bits[i] |= one.bits[i];
	return 0;
}

static int add_code_list(struct loader *ld, const struct key_desc *k, const yaml_node_t *seq,
			 struct codes *set)
{
	const yaml_node_item_t *it = seq->data.sequence.items.start;
	const yaml_node_t *n;
	const char *s;

	if (it == seq->data.sequence.items.top && k->lo)
		return fail_node(ld, seq, "%s must have at least one code", k->name);
	for (; it < seq->data.sequence.items.top; it++) {
		n = node_at(ld, *it);
		if (n->type != YAML_SCALAR_NODE)
			return fail_node(ld, n, "%s: each entry must be a code, a range or a class "
					 "like 2xx, got %s", k->name, node_kind(n));
		s = scalar(ld, k, n);
		if (!s || add_codes(ld, k, n, s, set))
			return -1;
	}
	return 0;
}

/*
 * Status codes: text ("200,302", "200-399", "2xx" and mixes), a YAML
 * integer, or a list of those.  With lo 0, none and [] are the empty set.
 */
static int read_codes(struct loader *ld, const struct key_desc *k, const struct value *v,
		      void *dst)
{
	const yaml_node_t *n = v->node;
	struct codes *set = dst;
	const char *s;

	memset(set, 0, sizeof(*set));
	if (!n)
		return add_codes(ld, k, n, v->s, set);
	if (n->type == YAML_SEQUENCE_NODE)
		return add_code_list(ld, k, n, set);
	if (n->type != YAML_SCALAR_NODE)
		return fail_node(ld, n, "%s must be %s, got %s", k->name, k->valid, node_kind(n));
	s = scalar(ld, k, n);
	if (!s)
		return -1;
	if (!k->lo && !strcmp(s, "none"))
		return 0;
	return add_codes(ld, k, n, s, set);
}

/* A header's name: a token, not Host, not twice in any case. */
static int header_name(struct loader *ld, const struct key_desc *k, const yaml_node_t *map,
		       const yaml_node_pair_t *pair)
{
	const yaml_node_t *name = node_at(ld, pair->key), *prev;
	char buf[SHOWN_LEN];
	const char *s;
	size_t i;

	if (name->type != YAML_SCALAR_NODE)
		return fail_node(ld, name, "%s: a header name must be a single value, got %s",
				 k->name, node_kind(name));
	s = (const char *)name->data.scalar.value;
	for (i = 0; i < name->data.scalar.length && token_char((unsigned char)s[i]); i++)
		;
	if (!i || i < name->data.scalar.length)
		return fail_node(ld, name, "%s: '%s' is not a header name (letters, digits and "
				 "!#$%%&'*+-.^_`|~)", k->name, shown(s, buf));
	if (!strcasecmp(s, "host"))
		return fail_node(ld, name, "%s: set the Host header with the host key", k->name);
	for (const yaml_node_pair_t *p = map->data.mapping.pairs.start; p < pair; p++) {
		prev = node_at(ld, p->key);
		if (!strcasecmp((const char *)prev->data.scalar.value, s))
			return fail_node(ld, name, "%s: duplicate header '%s' (first at line %lu)",
					 k->name, s, node_line(prev));
	}
	return 0;
}

/* One "Name: value\n" line at out + *off. */
static int add_header(struct loader *ld, const struct key_desc *k, const yaml_node_t *map,
		      const yaml_node_pair_t *pair, char *out, size_t *off)
{
	const yaml_node_t *val = node_at(ld, pair->value);
	const char *name, *s;
	int w;

	if (header_name(ld, k, map, pair))
		return -1;
	name = (const char *)node_at(ld, pair->key)->data.scalar.value;
	if (val->type != YAML_SCALAR_NODE)
		return fail_node(ld, val, "%s: '%s' must be a single value, got %s", k->name, name,
				 node_kind(val));
	if (!val->data.scalar.length)
		return fail_node(ld, val, "%s: '%s' has no value", k->name, name);
	s = (const char *)val->data.scalar.value;
	for (size_t i = 0; i < val->data.scalar.length; i++)
		if (((unsigned char)s[i] < ' ' && s[i] != '\t') || s[i] == 0x7f)
			return fail_node(ld, val, "%s: the value of '%s' must have no line breaks "
					 "or control characters", k->name, name);
	w = snprintf(out + *off, k->size - *off, "%s: %s\n", name, s);
	if (w < 0 || (size_t)w >= k->size - *off)
		return fail_node(ld, val, "%s are too long (max %zu bytes as 'Name: value' "
				 "lines)", k->name, k->size - 1);
	*off += (size_t)w;
	return 0;
}

/* A mapping of header names to values, kept as "Name: value\n" lines. */
static int read_headers(struct loader *ld, const struct key_desc *k, const struct value *v,
			void *dst)
{
	const yaml_node_t *map = v->node;
	const yaml_node_pair_t *p;
	size_t off = 0;

	if (map->type != YAML_MAPPING_NODE)
		return fail_node(ld, map, "%s must be %s, got %s", k->name, k->valid,
				 node_kind(map));
	for (p = map->data.mapping.pairs.start; p < map->data.mapping.pairs.top; p++)
		if (add_header(ld, k, map, p, dst, &off))
			return -1;
	return 0;
}

static int hex_value(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	c = (char)tolower((unsigned char)c);
	return c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}

/* s is 0x and then hex digits, two a byte. */
static int check_hex(struct loader *ld, const struct key_desc *k, const yaml_node_t *n,
		     const char *s)
{
	const char *p = s + 2;
	char buf[SHOWN_LEN];

	while (*p && hex_value(*p) >= 0)
		p++;
	if (*p)
		return fail_node(ld, n, "%s: '%s' is not hex: after 0x come digits 0-9 a-f, two a "
				 "byte, e.g. 0x50494e470d0a", k->name, shown(s, buf));
	if (p == s + 2)
		return fail_node(ld, n, "%s: no hex digits after 0x", k->name);
	if ((p - s) % 2)
		return fail_node(ld, n, "%s: '%s' has an odd number of hex digits (two a byte)",
				 k->name, shown(s, buf));
	return 0;
}

/* Bytes in a value: text as it is (YAML escapes included), or hex after 0x. */
struct raw_bytes {
	const char *s;
	size_t len;			/* of the bytes, not of the text */
	bool hex;
};

/* The value's bytes, their length checked by the caller before decode_bytes(). */
static int raw_bytes(struct loader *ld, const struct key_desc *k, const yaml_node_t *n,
		     struct raw_bytes *r)
{
	if (n->type == YAML_SCALAR_NODE && has_nul(n))
		return fail_node(ld, n, "%s contains a NUL byte: write the bytes in hex (0x...)",
				 k->name);
	r->s = scalar(ld, k, n);
	if (!r->s)
		return -1;
	r->hex = r->s[0] == '0' && (r->s[1] == 'x' || r->s[1] == 'X');
	if (r->hex && check_hex(ld, k, n, r->s))
		return -1;
	r->len = r->hex ? strlen(r->s) / 2 - 1 : n->data.scalar.length;
	return 0;
}

static void decode_bytes(const struct raw_bytes *r, uint8_t *out)
{
	const char *s = r->s, *h = r->s + 2;

	for (size_t i = 0; i < r->len; i++)
		out[i] = r->hex ? (uint8_t)(hex_value(h[2 * i]) << 4 | hex_value(h[2 * i + 1])) :
			 (uint8_t)s[i];
}

static int read_bytes(struct loader *ld, const struct key_desc *k, const struct value *v,
		      void *dst)
{
	struct hc_bytes *b = dst;
	struct raw_bytes r;

	if (raw_bytes(ld, k, v->node, &r))
		return -1;
	if (r.len > sizeof(b->b))
		return fail_node(ld, v->node, "%s is too long (max %zu bytes)", k->name,
				 sizeof(b->b));
	decode_bytes(&r, b->b);
	b->len = (uint16_t)r.len;
	return 0;
}

/*
 * A udp datagram: bytes as for send, and in text at most one {cookie},
 * where the XDP program writes each probe's cookie (zeros until then).
 */
static int read_payload(struct loader *ld, const struct key_desc *k, const struct value *v,
			void *dst)
{
	struct hc_payload *pl = dst;
	struct raw_bytes r;
	const char *mark;

	if (raw_bytes(ld, k, v->node, &r))
		return -1;
	if (r.len > sizeof(pl->b))
		return fail_node(ld, v->node, "%s too large: %zu bytes, at most %zu (an Ethernet "
				 "MTU less the IPv4 and UDP headers)", k->name, r.len,
				 sizeof(pl->b));
	decode_bytes(&r, pl->b);
	pl->len = (uint16_t)r.len;
	pl->cookie_off = XDPHC_NO_COOKIE;
	mark = r.hex ? NULL : memmem(pl->b, pl->len, COOKIE_MARK, sizeof(COOKIE_MARK) - 1);
	if (!mark)
		return 0;
	pl->cookie_off = (uint16_t)((const uint8_t *)mark - pl->b);
	if (memmem(mark + 1, pl->len - pl->cookie_off - 1, COOKIE_MARK, sizeof(COOKIE_MARK) - 1))
		return fail_node(ld, v->node, "%s has more than one %s (a probe has one cookie)",
				 k->name, COOKIE_MARK);
	memset(pl->b + pl->cookie_off, '0', XDPHC_COOKIE_DIGITS);
	return 0;
}

/* CAs the engine reads at its checks: readable now, kept as an absolute path. */
static int read_ca_file(struct loader *ld, const struct key_desc *k, const struct value *v,
			void *dst)
{
	char path[PATH_MAX], why[128], buf[SHOWN_LEN];
	struct stat st;
	int fd;

	if (resolve_abs_path(ld->path, v->s, path, sizeof(path)))
		return fail_node(ld, v->node, "%s: cannot resolve '%s': %s", k->name,
				 shown(v->s, buf), strerror(errno));
	fd = open_regular(path, &st, why, sizeof(why));
	if (fd < 0)
		return fail_node(ld, v->node, "%s: cannot read '%s': %s", k->name, path, why);
	close(fd);
	memcpy(dst, path, strlen(path) + 1);
	return 0;
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

/*
 * Room in the duplicate index for want backends.  It is rebuilt larger
 * when a list or file needs more: at least twice the size, so that a
 * config of many short lists rebuilds it O(log n) times.
 */
static int dups_reserve(struct loader *ld, size_t want)
{
	struct keyindex *ki = &ld->dups;
	size_t n = ld->n_indexed;

	/* keyindex_init() gives room for twice its capacity: this keeps the load at 1/2. */
	if (ki->slots && want * 2 <= ki->mask + 1)
		return 0;
	keyindex_free(ki);
	if (keyindex_init_x(ki, want > 2 * n ? want : 2 * n, ld->cfg->backends,
			    sizeof(*ld->cfg->backends), sizeof(ld->cfg->backends->pool)))
		return -1;
	/* Those indexed so far are known to be distinct: a plain reinsert. */
	for (size_t i = 0; i < n; i++)
		keyindex_insert(ki, (uint32_t)i);
	return 0;
}

/* Make room for `more` backends, so the per-line path never allocates. */
static int reserve_backends(struct loader *ld, size_t more)
{
	struct config *cfg = ld->cfg;
	size_t want;

	if (more > CONFIG_MAX_IDS - cfg->n_backends)
		more = CONFIG_MAX_IDS - cfg->n_backends;
	want = cfg->n_backends + more;
	if (grow_array((void **)&cfg->backends, &ld->cap, want, sizeof(*cfg->backends)) ||
	    grow_array((void **)&ld->lines, &ld->lines_cap, want, sizeof(*ld->lines)))
		return -1;
	/* The index reads its keys in place, and realloc may have moved them. */
	ld->dups.keys = (const void *)cfg->backends;
	return dups_reserve(ld, want);
}

/* Which pool holds backend g: pools are filled strictly in order. */
static size_t pool_of(const struct loader *ld, size_t g)
{
	size_t p = ld->cur_pool;

	while (p > 0 && ld->cfg->pools[p].first > g)
		p--;
	return p;
}

static int dup_error(struct loader *ld, size_t g, const char *file, size_t other)
{
	size_t p = pool_of(ld, other);
	const struct pool_cfg *pool = &ld->cfg->pools[p];
	const char *ofile = other - pool->first < ld->pool_n_list[p] ? ld->path : ld->pool_file[p];
	char a[ADDR_BUF_LEN];

	addr_format(&ld->cfg->backends[g].key, a, sizeof(a));
	/* A canary must be a reference outside the pools it speaks for. */
	if (pool->canaries)
		return fail_at(ld, file, ld->lines[g], "duplicate canary %s (line %u)", a,
			       ld->lines[other]);
	if (cur_pool(ld)->canaries)
		return fail_at(ld, file, ld->lines[g], "canary %s is a backend of pool '%s' "
			       "(%s:%u): canaries must be addresses outside the pools", a,
			       pool->name, ofile, ld->lines[other]);
	return fail_at(ld, file, ld->lines[g], "duplicate backend %s: already in pool '%s' (%s:%u)",
		       a, pool->name, ofile, ld->lines[other]);
}

/* The first backend of its family, for the start's checks (config_check_netif()). */
static void note_family(struct loader *ld, const struct xdphc_backend_key *key,
			const char *file, unsigned long line)
{
	struct cfg_first *f = key->family == AF_INET6 ? &ld->cfg->first6 : &ld->cfg->first4;

	if (f->key.family)
		return;
	f->key = *key;
	f->canary = cur_pool(ld)->canaries;
	where(file, line, f->where, sizeof(f->where));
}

/* Parse one backend and append it to the current pool; duplicates are checked later. */
static int add_backend(struct loader *ld, const char *text, const char *file,
		       unsigned long line)
{
	struct config *cfg = ld->cfg;
	const char *what = cur_pool(ld)->canaries ? "canary" : "backend";
	struct xdphc_backend_key key;
	char why[128];

	if (addr_parse_backend(text, &key, why, sizeof(why)))
		return fail_at(ld, file, line, "bad %s address '%.80s': %s", what, text, why);
	/* The same address and port in a tcp and a udp pool are two backends. */
	key.protocol = hc_ipproto(&cur_pool(ld)->hc);
	note_family(ld, &key, file, line);
	if (cfg->n_backends >= CONFIG_MAX_IDS)
		return fail_at(ld, file, line, "too many backends (max %u)", CONFIG_MAX_IDS);
	if (reserve_backends(ld, 1))
		return fail_at(ld, file, line, "out of memory");
	cfg->backends[cfg->n_backends].key = key;
	cfg->backends[cfg->n_backends].pool = (uint32_t)ld->cur_pool;
	ld->lines[cfg->n_backends++] = (uint32_t)line;
	cur_pool(ld)->n_backends++;
	return 0;
}

/*
 * Check the backends added since the last call against all before them.
 * This runs as a separate pass so the random index reads can be prefetched
 * a few keys ahead: done one line at a time, a million backends spend most
 * of their load time waiting on cache misses.
 */
static int dedupe_new(struct loader *ld, const char *file)
{
	const struct config *cfg = ld->cfg;
	size_t n = cfg->n_backends;
	int64_t other;

	for (size_t g = ld->n_indexed; g < n; g++) {
		if (g + DEDUPE_PREFETCH < n)
			keyindex_prefetch(&ld->dups, &cfg->backends[g + DEDUPE_PREFETCH].key);
		other = keyindex_insert(&ld->dups, (uint32_t)g);
		if (other >= 0)
			return dup_error(ld, g, file, (size_t)other);
	}
	ld->n_indexed = n;
	return 0;
}

static int read_backends(struct loader *ld, const struct key_desc *k, const struct value *v,
			 void *dst)
{
	yaml_node_t *seq = v->node, *n;
	yaml_node_item_t *it, *top;

	(void)dst;
	if (seq->type != YAML_SEQUENCE_NODE)
		return fail_node(ld, seq, "%s must be a list, got %s", k->name, node_kind(seq));
	top = seq->data.sequence.items.top;
	if (reserve_backends(ld, (size_t)(top - seq->data.sequence.items.start)))
		return fail_node(ld, seq, "out of memory");
	for (it = seq->data.sequence.items.start; it < top; it++) {
		n = node_at(ld, *it);
		/* An unquoted [v6]:port is a YAML flow list, hence the hint. */
		if (n->type != YAML_SCALAR_NODE)
			return fail_node(ld, n, "%s: each entry must be ADDR:PORT, got %s "
					 "(quote IPv6 entries: \"[2001:db8::1]:80\")",
					 k->name, node_kind(n));
		if (has_nul(n))
			return fail_node(ld, n, "%s: entry contains a NUL character", k->name);
		if (add_backend(ld, (const char *)n->data.scalar.value, ld->path, node_line(n)))
			return -1;
	}
	return dedupe_new(ld, ld->path);
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

static int read_backends_file(struct loader *ld, const struct key_desc *k,
			      const struct value *v, void *dst)
{
	char path[PATH_MAX], *buf, why[128];
	const char *nul;
	size_t len;
	int ret;

	(void)dst;
	/* What the pool has by now came from its list (dup_error tells them apart). */
	ld->pool_n_list[ld->cur_pool] = cur_pool(ld)->n_backends;
	if (resolve_path(ld->path, v->s, path, sizeof(path)))
		return fail_node(ld, v->node, "%s: path too long", k->name);
	ld->pool_file[ld->cur_pool] = strdup(path);
	if (!ld->pool_file[ld->cur_pool])
		return fail_node(ld, v->node, "out of memory");
	if (slurp(path, &buf, &len, why, sizeof(why)))
		return fail_node(ld, v->node, "%s: cannot open '%s': %s", k->name, path, why);
	/* A NUL would silently end a line early and hide what follows it. */
	nul = memchr(buf, '\0', len);
	if (nul)
		ret = fail_at(ld, path, line_of_offset(buf, (size_t)(nul - buf)),
			      "NUL byte in backends file");
	else if (reserve_backends(ld, line_of_offset(buf, len)))
		ret = fail_node(ld, v->node, "out of memory");
	else
		ret = parse_backends_buf(ld, path, buf, len);
	free(buf);
	return ret ? ret : dedupe_new(ld, path);
}

/* ---- pools and scopes --------------------------------------------------- */

static int read_scope(struct loader *ld, yaml_node_t *node, const struct scope *sc);

/* A mapping of keys of its own: the scope whose parent this key is. */
static int read_map(struct loader *ld, const struct key_desc *k, const struct value *v,
		    void *dst)
{
	const struct scope *sc = scopes;

	(void)dst;
	while (sc->parent != (enum cfg_key)(k - keys))
		sc++;
	return read_scope(ld, v->node, sc);
}

static int load_pool(struct loader *ld, yaml_node_t *node, size_t idx)
{
	ld->cur_pool = idx;
	cur_pool(ld)->first = ld->cfg->n_backends;
	ld->pool_n_list[idx] = SIZE_MAX;
	return read_scope(ld, node, &scopes[SCOPE_POOL]);
}

static int read_pools(struct loader *ld, const struct key_desc *k, const struct value *v,
		      void *dst)
{
	yaml_node_t *seq = v->node;
	struct config *cfg = ld->cfg;
	yaml_node_item_t *it;
	size_t n, i;

	(void)dst;
	if (seq->type != YAML_SEQUENCE_NODE)
		return fail_node(ld, seq, "%s must be a list, got %s", k->name, node_kind(seq));
	n = (size_t)(seq->data.sequence.items.top - seq->data.sequence.items.start);
	if (n < k->lo)
		return fail_node(ld, seq, "%s is empty: configure at least one pool", k->name);
	if (n > k->hi)
		return fail_node(ld, seq, "too many pools (%zu, max %lu)", n, k->hi);
	cfg->pools = calloc(n, sizeof(*cfg->pools));
	if (!cfg->pools)
		return fail_node(ld, seq, "out of memory");
	cfg->n_pools = n;
	for (i = 0, it = seq->data.sequence.items.start; i < n; i++, it++)
		if (load_pool(ld, node_at(ld, *it), i))
			return -1;
	return 0;
}

/*
 * The canaries' health check, a half-open SYN probe whatever the pools'
 * (hc holds every key's default): as often, as impatient and as persistent
 * (retransmits) as the most demanding pool, so that a canary's verdict is
 * never older than the timeouts it is asked to explain; at that pace
 * whatever their state (a down canary must be heard again soon);
 * thresholds of 1, so that its published state is its last probe's result.
 */
static void canary_pool_init(struct config *cfg, struct pool_cfg *cp)
{
	struct hc_config *hc = &cp->hc;

	snprintf(cp->name, sizeof(cp->name), "%s", CONFIG_CANARY_POOL);
	cp->canaries = true;
	cp->max_down_ppm = CONFIG_PPM;
	cp->first = cfg->n_backends;
	hc->interval_ms = cfg->pools[0].hc.interval_ms;
	hc->timeout_ms = cfg->pools[0].hc.timeout_ms;
	hc->retransmits = cfg->pools[0].hc.retransmits;
	for (size_t p = 1; p < cfg->n_pools && !cfg->pools[p].canaries; p++) {
		const struct hc_config *o = &cfg->pools[p].hc;

		if (o->interval_ms < hc->interval_ms)
			hc->interval_ms = o->interval_ms;
		if (o->timeout_ms < hc->timeout_ms)
			hc->timeout_ms = o->timeout_ms;
		if (o->retransmits > hc->retransmits)
			hc->retransmits = o->retransmits;
	}
	hc->unhealthy_interval_ms = hc->interval_ms;
	hc->transition_interval_ms = hc->interval_ms;
	hc->port = 0;
	hc->jitter_ms = hc->interval_ms / 100;
	hc->healthy_threshold = 1;
	hc->unhealthy_threshold = 1;
}

/*
 * A canary that is also a backend would fail with its pool and vouch for
 * the prober's path exactly when it should not: refused.  The duplicate
 * index is per pool, so each canary is looked up in every other pool.
 */
static int canaries_outside(struct loader *ld)
{
	const struct pool_cfg *cp = cur_pool(ld);
	struct backend_cfg probe;
	int64_t other;

	for (size_t g = cp->first; g < cp->first + cp->n_backends; g++) {
		probe.key = ld->cfg->backends[g].key;
		for (uint32_t p = 0; p < ld->cur_pool; p++) {
			probe.pool = p;
			other = keyindex_find_x(&ld->dups, &probe);
			if (other >= 0)
				return dup_error(ld, g, ld->path, (size_t)other);
		}
	}
	return 0;
}

/* After the pools (config_keys.h keeps the order): the canaries become the last pool. */
static int read_canaries(struct loader *ld, const struct key_desc *k, const struct value *v,
			 void *dst)
{
	yaml_node_t *seq = v->node;
	struct config *cfg = ld->cfg;
	struct pool_cfg *pools;
	size_t n;

	if (seq->type != YAML_SEQUENCE_NODE)
		return fail_node(ld, seq, "%s must be a list, got %s", k->name, node_kind(seq));
	n = (size_t)(seq->data.sequence.items.top - seq->data.sequence.items.start);
	if (n < k->lo)
		return fail_node(ld, seq, "%s is empty: list addresses known to answer, or leave "
				 "the key out", k->name);
	if (n > k->hi)
		return fail_node(ld, seq, "too many %s (%zu, max %lu): a few stable addresses "
				 "are enough", k->name, n, k->hi);
	if (cfg->n_pools >= XDPHC_MAX_POOLS)
		return fail_node(ld, v->key, "%s take a pool of their own: at most %d pools with "
				 "canaries", k->name, XDPHC_MAX_POOLS - 1);
	pools = realloc(cfg->pools, (cfg->n_pools + 1) * sizeof(*pools));
	if (!pools)
		return fail_node(ld, seq, "out of memory");
	cfg->pools = pools;
	memset(&pools[cfg->n_pools], 0, sizeof(*pools));
	ld->cur_pool = cfg->n_pools++;
	ld->pool_n_list[ld->cur_pool] = SIZE_MAX;
	if (read_scope(ld, NULL, &scopes[SCOPE_HC]))
		return -1;
	canary_pool_init(cfg, cur_pool(ld));
	if (read_backends(ld, k, v, dst) || canaries_outside(ld))
		return -1;
	cur_pool(ld)->max_backends = (uint32_t)n;	/* changed by config only */
	return 0;
}

static const struct cfg_type {
	const char *name;		/* in the key reference */
	bool scalar;			/* read from one value's text, else from its node */
	bool text;			/* the member is a string */
	int (*read)(struct loader *ld, const struct key_desc *k, const struct value *v,
		    void *dst);
} types[] = {
	[CFG_T_UINT] = { NULL, true, false, read_uint },	/* describe_valid() says it */
	[CFG_T_DURATION] = { NULL, true, false, read_duration },
	[CFG_T_FRACTION] = { NULL, true, false, read_fraction },	/* valid says it */
	[CFG_T_BOOL] = { "boolean", true, false, read_bool },
	[CFG_T_ENUM] = { "one of", true, false, read_enum },
	[CFG_T_ABSPATH] = { "path", true, true, read_abspath },
	[CFG_T_LOGFILE] = { "path", true, true, read_logfile },
	[CFG_T_PROG_ARRAY] = { "path", true, true, read_prog_array },
	[CFG_T_IFNAME] = { "interface name", true, true, read_ifname },
	[CFG_T_IPV4] = { "IPv4 address", true, false, read_ipv4 },
	[CFG_T_PORTS] = { "port range", true, false, read_ports },
	[CFG_T_ADDR] = { "ADDR:PORT", true, false, read_addr },
	[CFG_T_PROTOCOL] = { "protocol", true, false, read_protocol },
	[CFG_T_POOL_NAME] = { "name", true, true, read_pool_name },
	[CFG_T_POOLS] = { "list of pools", false, false, read_pools },
	[CFG_T_MAP] = { "mapping", false, false, read_map },
	[CFG_T_BACKENDS] = { "list", false, false, read_backends },
	[CFG_T_BACKENDS_FILE] = { "path", true, false, read_backends_file },
	[CFG_T_STATE_FILE] = { "path", false, true, read_state_file },
	[CFG_T_CANARIES] = { "list", false, false, read_canaries },
	[CFG_T_ENUM_ICASE] = { "one of", true, false, read_enum },
	[CFG_T_URL_PATH] = { "path", true, true, read_url_path },
	[CFG_T_HOST] = { "host", true, true, read_host },
	[CFG_T_SNI] = { "name", true, true, read_sni },
	[CFG_T_TEXT] = { "text", true, true, store_text },
	[CFG_T_CODES] = { "status codes", false, false, read_codes },
	[CFG_T_HEADERS] = { "headers", false, true, read_headers },
	[CFG_T_BYTES] = { "bytes", false, false, read_bytes },
	[CFG_T_CA_FILE] = { "path", true, true, read_ca_file },
	[CFG_T_IPV6] = { "IPv6 address", true, false, read_ipv6 },
	[CFG_T_PAYLOAD] = { "bytes", false, false, read_payload },
};

/* A key of some protocols only, in the healthcheck of another. */
static int check_protocol(struct loader *ld, enum cfg_key id, const struct value *v)
{
	const struct proto_keys *pk = proto_keys_of(id);

	if (!pk || pk->protocols & PROTO_BIT(cur_pool(ld)->hc.protocol))
		return 0;
	return fail_node(ld, v->key, "%s applies to protocol: %s%s", keys[id].name, pk->words,
			 pk->hint);
}

/*
 * One key: its value from the file, or its default.  A default "(...)" is
 * computed elsewhere (the scope's finish) or is nothing; only a mapping has
 * defaults of its own to apply.
 */
static int read_key(struct loader *ld, enum cfg_key id, struct value *v)
{
	const struct key_desc *k = &keys[id];
	const struct cfg_type *t = &types[k->type];
	void *dst = (char *)scope_base(ld, id) + k->off;

	if (v->node) {
		*line_of(ld, id) = (uint32_t)node_line(v->node);
		if (check_protocol(ld, id, v))
			return -1;
		if (t->scalar && !(v->s = scalar(ld, k, v->node)))
			return -1;
	} else if (literal_default(k->dflt)) {
		v->s = k->dflt;
	} else if (k->type != CFG_T_MAP) {
		return 0;
	}
	return t->read(ld, k, v, dst);
}

/*
 * The keys of a mapping (NULL: all take their defaults), in table order,
 * then the checks between them.
 */
static int read_scope(struct loader *ld, yaml_node_t *node, const struct scope *sc)
{
	struct value vals[CFG_KEY_N] = { 0 };
	enum cfg_key k;

	if (node && collect(ld, node, sc, vals))
		return -1;
	for (k = sc->first; k < sc->end; k++)
		if (!keys[k].dflt && !vals[k].node)
			return fail_node(ld, node, "missing required key '%s' in %s",
					 keys[k].name, sc->what);
	for (k = sc->first; k < sc->end; k++)
		if (read_key(ld, k, &vals[k]))
			return -1;
	return sc->finish(ld, node);
}

/*
 * A probe must end before the next probe of its backend is due, at every
 * pace the backend may be probed at: the timeout is at most the shortest
 * of the intervals.
 */
static int hc_timeout(struct loader *ld, const struct pool_cfg *pool, struct hc_config *hc)
{
	const struct { enum cfg_key key; uint32_t ms; } iv[] = {
		{ CFG_HC_INTERVAL, hc->interval_ms },
		{ CFG_HC_UNHEALTHY_INTERVAL, hc->unhealthy_interval_ms },
		{ CFG_HC_TRANSITION_INTERVAL, hc->transition_interval_ms },
	};
	size_t min = 0;

	for (size_t i = 1; i < sizeof(iv) / sizeof(iv[0]); i++)
		if (iv[i].ms < iv[min].ms)
			min = i;
	if (hc->timeout_ms <= iv[min].ms)
		return 0;
	/* A short interval must not trip over a timeout nobody wrote. */
	if (!pool_has(pool, CFG_HC_TIMEOUT)) {
		hc->timeout_ms = iv[min].ms;
		return 0;
	}
	return fail_key(ld, CFG_HC_TIMEOUT, "timeout (%ums) must not exceed %s (%ums)",
			hc->timeout_ms, keys[iv[min].key].name, iv[min].ms);
}

/* A status code passes or takes a backend down at once, never both. */
static int codes_apart(struct loader *ld, const struct pool_cfg *pool)
{
	const struct hc_config *hc = &pool->hc;
	unsigned int c;

	for (c = CODES_MIN; c <= CODES_MAX; c++)
		if (codes_has(&hc->success_codes, c) && codes_has(&hc->fail_fast_codes, c))
			break;
	if (c > CODES_MAX)
		return 0;
	if (!pool_has(pool, CFG_HC_FAIL_FAST_CODES))
		return fail_key(ld, CFG_HC_CODES, "success_codes has %u, which fail_fast_codes (%s "
				"by default) takes down at once: set fail_fast_codes (none for no "
				"code)", c, keys[CFG_HC_FAIL_FAST_CODES].dflt);
	return fail_key(ld, CFG_HC_FAIL_FAST_CODES, "%u is in both fail_fast_codes and "
			"success_codes: a code passes or takes the backend down at once, not both",
			c);
}

/* The checks between the keys of connection checks (http, https, tcp with send or expect). */
static int connection_finish(struct loader *ld, const struct pool_cfg *pool)
{
	const struct hc_config *hc = &pool->hc;

	if (pool_has(pool, CFG_HC_RETRANSMITS) && hc_is_connection(hc))
		return fail_key(ld, CFG_HC_RETRANSMITS,
				"retransmits applies to half-open tcp and udp probes only");
	if (pool_has(pool, CFG_HC_EXPECT_BODY) && hc->method != HC_METHOD_GET)
		return fail_key(ld, CFG_HC_EXPECT_BODY,
				"expect_body needs method: GET (HEAD has no body)");
	return codes_apart(ld, pool);
}

/* A udp check's reply is matched to its datagram: expect needs one that asks for it. */
static int udp_finish(struct loader *ld, const struct pool_cfg *pool)
{
	const struct hc_config *hc = &pool->hc;

	if (hc->protocol != HC_PROTO_UDP || !hc->expect.len || pool_has(pool, CFG_HC_PAYLOAD))
		return 0;
	return fail_key(ld, CFG_HC_EXPECT, "expect without payload: a udp check with expect "
			"must send the request its reply answers (set payload)");
}

static int hc_finish(struct loader *ld, const yaml_node_t *node)
{
	const struct pool_cfg *pool = cur_pool(ld);
	struct hc_config *hc = &cur_pool(ld)->hc;

	(void)node;
	if (!pool_has(pool, CFG_HC_PAYLOAD))
		hc->payload.cookie_off = XDPHC_NO_COOKIE;	/* an empty datagram */
	if (!pool_has(pool, CFG_HC_JITTER))
		hc->jitter_ms = hc->interval_ms / 100;
	else if (hc->jitter_ms > hc->interval_ms / 2)
		return fail_key(ld, CFG_HC_JITTER,
				"jitter (%ums) must not exceed half the interval (%ums)",
				hc->jitter_ms, hc->interval_ms);
	if (!pool_has(pool, CFG_HC_UNHEALTHY_INTERVAL))
		hc->unhealthy_interval_ms = hc->interval_ms;
	if (!pool_has(pool, CFG_HC_TRANSITION_INTERVAL))
		hc->transition_interval_ms = hc->interval_ms;
	if (hc_timeout(ld, pool, hc) || udp_finish(ld, pool))
		return -1;
	return connection_finish(ld, pool);
}

static int tls_finish(struct loader *ld, const yaml_node_t *node)
{
	const struct pool_cfg *pool = cur_pool(ld);

	(void)node;
	if (pool_has(pool, CFG_TLS_CA_FILE) && !pool->hc.tls_verify)
		return fail_key(ld, CFG_TLS_CA_FILE, "ca_file needs verify: true (without it no "
				"certificate is checked)");
	return 0;
}

/* Room to add backends at runtime without moving any backend's id. */
static uint32_t default_capacity(size_t n)
{
	size_t cap = n + (n / HEADROOM_DIV > HEADROOM_MIN ? n / HEADROOM_DIV : HEADROOM_MIN);

	return cap < CONFIG_MAX_IDS ? (uint32_t)cap : CONFIG_MAX_IDS;
}

static int pool_finish(struct loader *ld, const yaml_node_t *node)
{
	struct pool_cfg *pool = cur_pool(ld);

	/* backends: [] says "filled at runtime"; no key at all is more likely a slip. */
	if (!pool->n_backends && !pool_has(pool, CFG_POOL_BACKENDS))
		return fail_node(ld, node, "pool '%s' has no backends (give 'backends' or "
				 "'backends_file'; 'backends: []' for a pool filled at runtime)",
				 pool->name);
	if (!pool_has(pool, CFG_POOL_MAX_DOWN_FRACTION))
		pool->max_down_ppm = ld->cfg->max_down_ppm;
	/* The default comes with the layout (lay_out()), once all pools are read. */
	if (pool_has(pool, CFG_POOL_MAX_BACKENDS) && pool->max_backends < pool->n_backends)
		return fail_key(ld, CFG_POOL_MAX_BACKENDS, "max_backends (%u) is less than the "
				"%zu backends of pool '%s'", pool->max_backends,
				pool->n_backends, pool->name);
	return 0;
}

static uint64_t ids_wanted(const struct config *cfg)
{
	uint64_t n = 0;

	for (size_t p = 0; p < cfg->n_pools; p++)
		n += cfg->pools[p].max_backends;
	return n;
}

#define SPARE_IDS_DEFAULT 1024

/* Where the ids ran out: pools [0, pool] need `ids`. */
struct overflow {
	size_t pool, given;		/* given: the last pool with a max_backends of its own */
	uint64_t ids;
};

/*
 * Lay the pools' id ranges out one after the other, the spare ids after
 * them.  Default headroom, and the default spare ids, are given only where
 * all of it fits; the backends themselves always fit (add_backend() counts
 * them).  0, or -1 with where the given max_backends went past the end.
 */
static int lay_out(struct config *cfg, struct overflow *o)
{
	uint64_t id = 0;
	size_t p;

	memset(o, 0, sizeof(*o));
	/* The canaries' pool has no room to grow: its list is the config's alone. */
	for (p = 0; p < cfg->n_pools; p++)
		if (!pool_has(&cfg->pools[p], CFG_POOL_MAX_BACKENDS))
			cfg->pools[p].max_backends = cfg->pools[p].canaries ?
				(uint32_t)cfg->pools[p].n_backends :
				default_capacity(cfg->pools[p].n_backends);
	if (ids_wanted(cfg) > CONFIG_MAX_IDS)
		for (p = 0; p < cfg->n_pools; p++)
			if (!pool_has(&cfg->pools[p], CFG_POOL_MAX_BACKENDS))
				cfg->pools[p].max_backends = (uint32_t)cfg->pools[p].n_backends;
	for (p = 0; p < cfg->n_pools; p++) {
		if (pool_has(&cfg->pools[p], CFG_POOL_MAX_BACKENDS))
			o->given = p;
		cfg->pools[p].first_id = (uint32_t)id;
		id += cfg->pools[p].max_backends;
		if (id > CONFIG_MAX_IDS) {
			o->pool = p;
			o->ids = id;
			return -1;
		}
	}
	if (!config_has(cfg, CFG_SPARE_IDS))
		cfg->spare_ids = (uint32_t)(id + SPARE_IDS_DEFAULT <= CONFIG_MAX_IDS ?
					    SPARE_IDS_DEFAULT : CONFIG_MAX_IDS - id);
	o->ids = id + cfg->spare_ids;
	return o->ids > CONFIG_MAX_IDS ? -1 : 0;
}

static int overflow_error(struct loader *ld, const struct overflow *o)
{
	struct config *cfg = ld->cfg;

	if (o->ids - cfg->spare_ids <= CONFIG_MAX_IDS)
		return fail_key(ld, CFG_SPARE_IDS, "spare_ids (%u) and the pools' %llu backend "
				"ids add up to more than the %u there are", cfg->spare_ids,
				(unsigned long long)(o->ids - cfg->spare_ids), CONFIG_MAX_IDS);
	/* Only a given max_backends can go past the end: name the last one. */
	ld->cur_pool = o->given;
	return fail_key(ld, CFG_POOL_MAX_BACKENDS, "max_backends of pools '%s' to '%s' "
			"add up to %llu backend ids, more than the %u there are",
			cfg->pools[0].name, cfg->pools[o->pool].name,
			(unsigned long long)o->ids, CONFIG_MAX_IDS);
}

static int top_finish(struct loader *ld, const yaml_node_t *node)
{
	struct config *cfg = ld->cfg;
	struct overflow o;

	(void)node;
	if (lay_out(cfg, &o))
		return overflow_error(ld, &o);
	if (!config_has(cfg, CFG_CONTROL_SOCKET))
		config_default_socket(cfg->pin_path, cfg->control_socket,
				      sizeof(cfg->control_socket));
	if (!config_has(cfg, CFG_STATE_FILE))
		config_default_state_file(cfg->pin_path, cfg->state_file, sizeof(cfg->state_file));
	return 0;
}

int config_layout(struct config *cfg, char *err, size_t errlen)
{
	struct loader *ld;
	struct overflow o;
	int ret = 0;

	if (!lay_out(cfg, &o))
		return 0;
	ld = calloc(1, sizeof(*ld));	/* a few KiB of per-pool tables: off the stack */
	if (!ld)
		return format_err(err, errlen, cfg->path, 0, "out of memory");
	*ld = (struct loader){ .cfg = cfg, .path = cfg->path, .err = err, .errlen = errlen };
	ret = overflow_error(ld, &o);
	free(ld);
	return ret;
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
	return read_scope(ld, root, &scopes[SCOPE_TOP]);
}

static void loader_free(struct loader *ld)
{
	size_t i;

	if (ld->have_doc)
		yaml_document_delete(&ld->doc);
	keyindex_free(&ld->dups);
	free(ld->lines);
	for (i = 0; i < XDPHC_MAX_POOLS; i++)
		free(ld->pool_file[i]);
}

/* The list grew by doubling: give back what it did not use. */
static void trim_backends(struct config *cfg)
{
	void *p;

	if (!cfg->n_backends)
		return;
	p = realloc(cfg->backends, cfg->n_backends * sizeof(*cfg->backends));
	if (p)
		cfg->backends = p;
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

	ret = load_document(ld, buf, len);
	loader_free(ld);
	free(ld);
	free(buf);
	if (ret)
		config_free(cfg);
	else
		trim_backends(cfg);
	return ret ? -1 : 0;
}

void config_free(struct config *cfg)
{
	free(cfg->backends);
	free(cfg->pools);
	memset(cfg, 0, sizeof(*cfg));
}

void config_release_backends(struct config *cfg)
{
	free(cfg->backends);
	cfg->backends = NULL;
}

size_t config_backend_count(const struct config *cfg)
{
	return cfg->n_backends;
}

const struct pool_cfg *config_canaries(const struct config *cfg)
{
	if (!cfg->n_pools || !cfg->pools[cfg->n_pools - 1].canaries)
		return NULL;
	return &cfg->pools[cfg->n_pools - 1];
}

uint32_t config_id_count(const struct config *cfg)
{
	const struct pool_cfg *last;

	if (!cfg->n_pools)
		return 0;
	last = &cfg->pools[cfg->n_pools - 1];
	return last->first_id + last->max_backends;
}

uint32_t config_map_ids(const struct config *cfg)
{
	return config_id_count(cfg) + cfg->spare_ids;
}

/* ---- the interface: the engine's start checks ---------------------------- */

#define UDP_HDR_LEN	8
#define IPV4_HDR_LEN	20
#define IPV6_HDR_LEN	40

static bool has_source(const struct cfg_netif *nif, uint8_t family)
{
	if (family == AF_INET)
		return nif->src4 != 0;
	return (nif->src6[0] | nif->src6[1] | nif->src6[2] | nif->src6[3]) != 0;
}

/* "backend 'ADDR' is IPv6 but ...; set source_ipv6". */
static void no_source(const struct cfg_netif *nif, const struct xdphc_backend_key *key,
		      bool canary, char *buf, size_t len)
{
	char a[ADDR_BUF_LEN];

	addr_format(key, a, sizeof(a));
	if (key->family == AF_INET)
		snprintf(buf, len, "%s '%s' is IPv4 but interface '%s' has no IPv4 address; set "
			 "source_ipv4", canary ? "canary" : "backend", a, nif->name);
	else
		snprintf(buf, len, "%s '%s' is IPv6 but interface '%s' has no global IPv6 address; "
			 "set source_ipv6", canary ? "canary" : "backend", a, nif->name);
}

/* The IP packet a udp check sends to a backend of the family. */
static size_t datagram_len(const struct hc_config *hc, uint8_t family)
{
	return (size_t)hc->payload.len + UDP_HDR_LEN +
	       (family == AF_INET6 ? IPV6_HDR_LEN : IPV4_HDR_LEN);
}

/* NULL if pool p's probes to the family fit the MTU; else why, in buf. */
static const char *too_large(const struct config *cfg, size_t p, uint8_t family,
			     const struct cfg_netif *nif, char *buf, size_t len)
{
	const struct hc_config *hc = &cfg->pools[p].hc;

	if (hc->protocol != HC_PROTO_UDP || !nif->mtu || datagram_len(hc, family) <= nif->mtu)
		return NULL;
	snprintf(buf, len, "payload too large for interface '%s' (MTU %u): %u bytes + %d (UDP) "
		 "+ %d (%s) = %zu bytes, in pool '%s'", nif->name, nif->mtu, hc->payload.len,
		 UDP_HDR_LEN, family == AF_INET6 ? IPV6_HDR_LEN : IPV4_HDR_LEN,
		 family == AF_INET6 ? "IPv6" : "IPv4", datagram_len(hc, family),
		 cfg->pools[p].name);
	return buf;
}

int config_backend_fits(const struct config *cfg, size_t p, const struct xdphc_backend_key *key,
			const struct cfg_netif *nif, char *why, size_t len)
{
	if (!has_source(nif, key->family)) {
		no_source(nif, key, false, why, len);
		return -1;
	}
	return too_large(cfg, p, key->family, nif, why, len) ? -1 : 0;
}

/* The first backend of the family in pools [0, n_pools) (holes skipped), or -1. */
static int64_t find_family(const struct config *cfg, size_t p0, size_t n_pools, uint8_t family)
{
	for (size_t p = p0; p < p0 + n_pools; p++) {
		const struct pool_cfg *pc = &cfg->pools[p];

		for (size_t g = pc->first; g < pc->first + pc->n_backends; g++)
			if (cfg->backends[g].key.family == family)
				return (int64_t)g;
	}
	return -1;
}

bool config_has_family(const struct config *cfg, uint8_t family)
{
	return find_family(cfg, 0, cfg->n_pools, family) >= 0;
}

static int check_source(const struct config *cfg, const struct cfg_netif *nif, uint8_t family,
			char *err, size_t errlen)
{
	const struct cfg_first *first = family == AF_INET6 ? &cfg->first6 : &cfg->first4;
	char why[CONFIG_ERR_LEN];
	int64_t g;

	if (has_source(nif, family) || (g = find_family(cfg, 0, cfg->n_pools, family)) < 0)
		return 0;
	if (first->key.family) {
		no_source(nif, &first->key, first->canary, why, sizeof(why));
		snprintf(err, errlen, "%s: %s", first->where, why);
		return -1;
	}
	/* Not in the files: added at runtime, and kept in the state file. */
	no_source(nif, &cfg->backends[g].key, false, why, sizeof(why));
	return format_err(err, errlen, cfg->path, 0, "%s (added at runtime, kept in %s)", why,
			  cfg->state_file);
}

static int check_mtu(const struct config *cfg, const struct cfg_netif *nif, char *err,
		     size_t errlen)
{
	char why[CONFIG_ERR_LEN], at[CONFIG_WHERE_LEN];

	for (size_t p = 0; p < cfg->n_pools; p++) {
		/* The larger IPv6 header only where there is an IPv6 backend. */
		uint8_t family = find_family(cfg, p, 1, AF_INET6) >= 0 ? AF_INET6 : AF_INET;

		if (!too_large(cfg, p, family, nif, why, sizeof(why)))
			continue;
		config_pool_where(cfg, p, pool_has(&cfg->pools[p], CFG_HC_PAYLOAD) ?
				  CFG_HC_PAYLOAD : CFG_HC_PROTOCOL, at, sizeof(at));
		snprintf(err, errlen, "%s: %s", at, why);
		return -1;
	}
	return 0;
}

int config_check_netif(const struct config *cfg, const struct cfg_netif *nif, char *err,
		       size_t errlen)
{
	if (check_source(cfg, nif, AF_INET, err, errlen) ||
	    check_source(cfg, nif, AF_INET6, err, errlen))
		return -1;
	return check_mtu(cfg, nif, err, errlen);
}

/* ---- checks ------------------------------------------------------------- */

uint8_t hc_check_kind(const struct hc_config *hc)
{
	switch (hc->protocol) {
	case HC_PROTO_HTTP:
		return XDPHC_CHECK_HTTP;
	case HC_PROTO_HTTPS:
		return XDPHC_CHECK_HTTPS;
	case HC_PROTO_UDP:
		return XDPHC_CHECK_UDP;
	default:
		return hc_is_connection(hc) ? XDPHC_CHECK_TCP : XDPHC_CHECK_TCP_SYN;
	}
}

uint8_t hc_ipproto(const struct hc_config *hc)
{
	return hc->protocol == HC_PROTO_UDP ? IPPROTO_UDP : IPPROTO_TCP;
}

static bool same_bytes(const struct hc_bytes *a, const struct hc_bytes *b)
{
	return a->len == b->len && !memcmp(a->b, b->b, a->len);
}

static bool same_payload(const struct hc_payload *a, const struct hc_payload *b)
{
	return a->len == b->len && a->cookie_off == b->cookie_off && !memcmp(a->b, b->b, a->len);
}

bool config_request_key(enum cfg_key key)
{
	return key >= CFG_HTTP_FIRST && key < CFG_KEY_N;
}

/* What a connection check sends and how it judges the reply. */
static bool same_request(const struct hc_config *a, const struct hc_config *b)
{
	return a->method == b->method && a->http_version == b->http_version &&
	       a->reuse_connection == b->reuse_connection && a->tls_verify == b->tls_verify &&
	       !strcmp(a->path, b->path) && !strcmp(a->host, b->host) &&
	       !strcmp(a->expect_body, b->expect_body) && !strcmp(a->headers, b->headers) &&
	       !strcmp(a->ca_file, b->ca_file) && !strcmp(a->sni, b->sni) &&
	       !memcmp(&a->success_codes, &b->success_codes, sizeof(a->success_codes)) &&
	       !memcmp(&a->fail_fast_codes, &b->fail_fast_codes, sizeof(a->fail_fast_codes)) &&
	       same_bytes(&a->send, &b->send) && same_bytes(&a->expect, &b->expect) &&
	       same_payload(&a->payload, &b->payload);
}

bool config_same_probe(const struct hc_config *a, const struct hc_config *b)
{
	return a->protocol == b->protocol && a->port == b->port && same_request(a, b) &&
	       a->interval_ms == b->interval_ms && a->timeout_ms == b->timeout_ms &&
	       a->unhealthy_interval_ms == b->unhealthy_interval_ms &&
	       a->transition_interval_ms == b->transition_interval_ms &&
	       a->retransmits == b->retransmits;
}

/*
 * NAME of /run/xdphc/NAME.sock and /var/lib/xdphc/NAME.state: the pin path
 * below /sys/fs/bpf with '/' as '-' (xdphc for the default), so that
 * engines on other pin paths never share them; a pin path elsewhere names
 * them by a hash.
 */
static void pin_name(const char *pin_path, char *name, size_t len)
{
	static const char root[] = "/sys/fs/bpf/";
	size_t n = 0;

	if (!strncmp(pin_path, root, sizeof(root) - 1) && strlen(pin_path) < 80) {
		for (const char *p = pin_path + sizeof(root) - 1; *p; p++)
			if (n + 1 < len)
				name[n++] = *p == '/' ? '-' : *p;
		while (n && name[n - 1] == '-')
			n--;
	}
	name[n] = '\0';
	if (!n) {
		uint64_t h = 1469598103934665603ULL;	/* FNV-1a */

		for (const char *p = pin_path; *p; p++)
			h = (h ^ (uint8_t)*p) * 1099511628211ULL;
		snprintf(name, len, "pins-%016llx", (unsigned long long)h);
	}
}

void config_default_socket(const char *pin_path, char *out, size_t len)
{
	char name[96];

	pin_name(pin_path, name, sizeof(name));
	snprintf(out, len, "%s/%s.sock", DEFAULT_RUN_DIR, name);
}

void config_default_state_file(const char *pin_path, char *out, size_t len)
{
	char name[96];

	pin_name(pin_path, name, sizeof(name));
	snprintf(out, len, "%s/%s.state", DEFAULT_STATE_DIR, name);
}

/* ---- where keys were set ------------------------------------------------ */

int config_find_pool(const struct config *cfg, const char *name)
{
	for (size_t p = 0; p < cfg->n_pools; p++)
		if (!strcmp(cfg->pools[p].name, name))
			return (int)p;
	return -1;
}

bool config_has(const struct config *cfg, enum cfg_key key)
{
	return key < CFG_TOP_N && cfg->line[key];
}

const char *config_where(const struct config *cfg, enum cfg_key key, char *buf, size_t len)
{
	return where(cfg->path, key < CFG_TOP_N ? cfg->line[key] : 0, buf, len);
}

const char *config_pool_where(const struct config *cfg, size_t p, enum cfg_key key, char *buf,
			      size_t len)
{
	uint32_t line = 0;

	if (key >= CFG_TOP_N && key < CFG_KEY_N && p < cfg->n_pools)
		line = cfg->pools[p].line[key - CFG_TOP_N];
	return where(cfg->path, line, buf, len);
}

/* ---- the key reference: `xdphc config-keys` ----------------------------- */

/* Text wrapped at 79 columns, each line indented by four spaces. */
static void print_wrapped(FILE *f, const char *text)
{
	const char *p = text;
	size_t col = 0, n;

	while (*p) {
		n = strcspn(p, " ");
		if (col && col + 1 + n > 75) {
			fputc('\n', f);
			col = 0;
		}
		fprintf(f, "%s%.*s", col ? " " : "    ", (int)n, p);
		col += n + 1;
		p += n;
		p += strspn(p, " ");
	}
	fputc('\n', f);
}

static void print_key(FILE *f, const struct scope *sc, const struct key_desc *k)
{
	const struct proto_keys *pk = proto_keys_of((enum cfg_key)(k - keys));
	const char *d = k->dflt, *type = types[k->type].name;
	char valid[256], line[512];
	int n;

	describe_valid(k, valid, sizeof(valid));
	n = snprintf(line, sizeof(line), "%s%s%s", type ? type : "", type && valid[0] ? ": " : "",
		     valid);
	if (!d)
		n += snprintf(line + n, sizeof(line) - n, "; required");
	else if (d[0] == '(')
		n += snprintf(line + n, sizeof(line) - n, "; default: %.*s", (int)strlen(d) - 2,
			      d + 1);
	else
		n += snprintf(line + n, sizeof(line) - n, "; default: %s", d);
	if (pk)
		snprintf(line + n, sizeof(line) - n, "; only with protocol: %s", pk->words);
	fprintf(f, "%s%s\n", sc->prefix, k->name);
	print_wrapped(f, line);
	print_wrapped(f, k->help);
}

const char *config_key_name(enum cfg_key key)
{
	return key < CFG_KEY_N ? keys[key].name : "?";
}

void config_print_keys(FILE *f)
{
	fputs("xdphc config keys (YAML).  pools[] is each entry of the pools list.\n"
	      "Durations: 500ms, 1.5s, 2s, 1m; a plain number is seconds.\n", f);
	for (const struct scope *sc = scopes; sc < scopes + SCOPE_N; sc++)
		for (enum cfg_key k = sc->first; k < sc->end; k++) {
			fputc('\n', f);
			print_key(f, sc, &keys[k]);
		}
}

/* ---- comparing configs -------------------------------------------------- */

struct differ {
	config_diff_fn cb;
	void *ctx;
	long n;
	bool stop;
};

/* One difference; with no callback the first one settles it. */
static void report(struct differ *d, enum cfg_change_kind kind, enum cfg_key key,
		   size_t a_pool, size_t b_pool, const struct xdphc_backend_key *backend)
{
	struct cfg_change ch = {
		.kind = kind, .key = key, .a_pool = a_pool, .b_pool = b_pool, .backend = backend,
	};

	d->n++;
	if (!d->cb || !d->cb(d->ctx, &ch))
		d->stop = true;
}

/*
 * The members of keys that hold their values: lists compare by what they
 * hold, mappings key by key.
 */
static bool same_value(const struct key_desc *k, const void *a, const void *b)
{
	const char *x = (const char *)a + k->off, *y = (const char *)b + k->off;

	if (!k->size || k->type == CFG_T_MAP)
		return true;
	if (k->type == CFG_T_BYTES)
		return same_bytes((const struct hc_bytes *)x, (const struct hc_bytes *)y);
	if (k->type == CFG_T_PAYLOAD)
		return same_payload((const struct hc_payload *)x, (const struct hc_payload *)y);
	return types[k->type].text ? !strncmp(x, y, k->size) : !memcmp(x, y, k->size);
}

static const void *member_base(const struct config *cfg, size_t p, enum cfg_key id)
{
	if (id < CFG_TOP_N)
		return cfg;
	return id < CFG_HC_FIRST ? (const void *)&cfg->pools[p] : (const void *)&cfg->pools[p].hc;
}

static size_t find_pool(const struct config *cfg, const char *name)
{
	int p = config_find_pool(cfg, name);

	return p < 0 ? SIZE_MAX : (size_t)p;
}

/* Report the backends of x's pool px that y's pool py lacks. */
static int backends_missing(struct differ *d, const struct config *x, size_t px,
			    const struct config *y, size_t py, enum cfg_change_kind kind)
{
	const struct pool_cfg *xp = &x->pools[px], *yp = &y->pools[py];
	const struct backend_cfg *xb = x->backends + xp->first;
	struct keyindex ki;

	/* Pools may be empty, and so may a config's whole list (backends NULL). */
	if (!xp->n_backends)
		return 0;
	if (keyindex_init(&ki, yp->n_backends, yp->n_backends ? &y->backends[yp->first].key : NULL,
			  sizeof(*y->backends)))
		return -1;
	for (size_t i = 0; i < yp->n_backends; i++)
		keyindex_insert(&ki, (uint32_t)i);
	for (size_t i = 0; i < xp->n_backends && !d->stop; i++)
		if (keyindex_find(&ki, &xb[i].key) < 0)
			report(d, kind, CFG_KEY_N, kind == CFG_CHANGE_BACKEND_REMOVED ? px : py,
			       kind == CFG_CHANGE_BACKEND_REMOVED ? py : px, &xb[i].key);
	keyindex_free(&ki);
	return 0;
}

static int diff_pool(struct differ *d, const struct config *a, size_t pa,
		     const struct config *b, size_t pb)
{
	if (pa != pb)
		report(d, CFG_CHANGE_POOL_MOVED, CFG_KEY_N, pa, pb, NULL);
	for (enum cfg_key k = CFG_TOP_N; k < CFG_KEY_N && !d->stop; k++)
		if (!same_value(&keys[k], member_base(a, pa, k), member_base(b, pb, k)))
			report(d, CFG_CHANGE_POOL_KEY, k, pa, pb, NULL);
	if (d->stop)
		return 0;
	if ((!a->backends && a->n_backends) || (!b->backends && b->n_backends))
		return -1;
	if (backends_missing(d, a, pa, b, pb, CFG_CHANGE_BACKEND_REMOVED) ||
	    (!d->stop && backends_missing(d, b, pb, a, pa, CFG_CHANGE_BACKEND_ADDED)))
		return -1;
	return 0;
}

long config_diff(const struct config *a, const struct config *b, config_diff_fn cb, void *ctx)
{
	struct differ d = { .cb = cb, .ctx = ctx };
	size_t p, q;

	for (enum cfg_key k = 0; k < CFG_TOP_N && !d.stop; k++)
		if (!same_value(&keys[k], a, b))
			report(&d, CFG_CHANGE_KEY, k, SIZE_MAX, SIZE_MAX, NULL);
	for (p = 0; p < a->n_pools && !d.stop; p++) {
		q = find_pool(b, a->pools[p].name);
		if (q == SIZE_MAX)
			report(&d, CFG_CHANGE_POOL_REMOVED, CFG_KEY_N, p, SIZE_MAX, NULL);
		else if (diff_pool(&d, a, p, b, q))
			return -1;
	}
	for (q = 0; q < b->n_pools && !d.stop; q++)
		if (find_pool(a, b->pools[q].name) == SIZE_MAX)
			report(&d, CFG_CHANGE_POOL_ADDED, CFG_KEY_N, SIZE_MAX, q, NULL);
	return d.n;
}
