// SPDX-License-Identifier: MIT
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/mman.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "bpfmap.h"
#include "pins.h"
#include "pins.skel.h"

const char *const pin_names[PIN_NR] = { "status", "index", "pools", "pool_up", "stats", "meta" };

static struct bpf_map *skel_map(struct pins *p, enum pin_map which)
{
	switch (which) {
	case PIN_STATUS: return p->skel->maps.status;
	case PIN_INDEX: return p->skel->maps.status_index;
	case PIN_POOLS: return p->skel->maps.pools;
	case PIN_POOL_UP: return p->skel->maps.pool_up;
	case PIN_STATS: return p->skel->maps.stats;
	default: return p->skel->maps.meta;
	}
}

static void pin_path(char *buf, size_t len, const char *dir, enum pin_map which)
{
	snprintf(buf, len, "%s/%s", dir, pin_names[which]);
}

static bool sized_by_backends(enum pin_map which)
{
	return which == PIN_STATUS || which == PIN_INDEX || which == PIN_POOL_UP;
}

static bool same_layout(const struct bpf_map_info *info, struct bpf_map *want)
{
	return info->type == bpf_map__type(want) &&
	       info->key_size == bpf_map__key_size(want) &&
	       info->value_size == bpf_map__value_size(want) &&
	       info->map_flags == bpf_map__map_flags(want);
}

/*
 * A pinned map is kept when a consumer reading it with the current abi.h
 * would read it correctly and it fits the backends without wasting much:
 * consumers that hold its fd (a load balancer) then keep working.
 */
static bool compatible(const struct bpf_map_info *info, struct bpf_map *want,
		       size_t capacity, bool sized)
{
	if (!same_layout(info, want))
		return false;
	if (sized)
		return info->max_entries >= capacity && info->max_entries <= 2 * capacity;
	return info->max_entries == bpf_map__max_entries(want);
}

/*
 * The ABI version of the maps pinned in p->dir (0: none pinned).  Maps of
 * another version are never reused, even when their sizes match: a status
 * entry of version 2 is as long as one of version 3 and means other things.
 */
static __u32 pinned_abi(const struct pins *p)
{
	struct bpf_map_info info = {};
	__u32 len = sizeof(info), zero = 0, ver = 0;
	char path[PATH_MAX + 16], buf[256];
	int fd;

	pin_path(path, sizeof(path), p->dir, PIN_META);
	fd = bpf_obj_get(path);
	if (fd < 0)
		return 0;
	if (!bpf_obj_get_info_by_fd(fd, &info, &len) && info.value_size >= sizeof(ver) &&
	    info.value_size <= sizeof(buf) && !bpf_map_lookup_elem(fd, &zero, buf))
		memcpy(&ver, buf, sizeof(ver));
	close(fd);
	return ver;
}

/* The pinned map of which, if a consumer of the current abi.h could read it as ours. */
static int reusable(struct pins *p, enum pin_map which, size_t capacity,
		    struct bpf_map_info *info)
{
	__u32 len = sizeof(*info);
	struct bpf_map *map = skel_map(p, which);
	char path[PATH_MAX + 16];
	int fd;

	pin_path(path, sizeof(path), p->dir, which);
	fd = bpf_obj_get(path);
	if (fd < 0)
		return -1;
	memset(info, 0, sizeof(*info));
	if (bpf_obj_get_info_by_fd(fd, info, &len)) {
		close(fd);
		return -1;
	}
	if (p->old_abi != XDPHC_ABI_VERSION ||
	    !compatible(info, map, capacity, sized_by_backends(which))) {
		if (which == PIN_STATUS && same_layout(info, map)) {
			p->old_status_fd = fd;
			p->old_status_max = info->max_entries;
		} else {
			close(fd);
		}
		return -1;
	}
	return fd;
}

static int reuse(struct pins *p, enum pin_map which, int fd, const struct bpf_map_info *info)
{
	struct bpf_map *map = skel_map(p, which);
	int e;

	bpf_map__set_max_entries(map, info->max_entries);
	e = bpf_map__reuse_fd(map, fd) ? -errno : 0;
	close(fd);
	p->reused[which] = !e;
	return e;
}

/*
 * The maps that describe backends (status, index, pools, pool_up) are kept
 * all together or not at all: a consumer holding the old fds must not read
 * live pool counts over a frozen up list.
 */
static bool describes_backends(enum pin_map which)
{
	return which != PIN_STATS && which != PIN_META;
}

static int try_reuse_all(struct pins *p, size_t capacity, bool index, char *err, size_t errlen)
{
	struct bpf_map_info info[PIN_NR];
	int fd[PIN_NR], e = 0;
	bool all = true;

	for (int i = 0; i < PIN_NR; i++) {
		fd[i] = i == PIN_INDEX && !index ? -1 : reusable(p, i, capacity, &info[i]);
		if (fd[i] < 0 && describes_backends(i) && (i != PIN_INDEX || index))
			all = false;
	}
	for (int i = 0; i < PIN_NR; i++) {
		if (fd[i] < 0)
			continue;
		if (describes_backends(i) && !all) {
			if (i == PIN_STATUS) {		/* still read, to carry states over */
				p->old_status_fd = fd[i];
				p->old_status_max = info[i].max_entries;
			} else {
				close(fd[i]);
			}
			continue;
		}
		if (!e && (e = reuse(p, i, fd[i], &info[i])))
			snprintf(err, errlen, "reusing %s/%s: %s", p->dir, pin_names[i], strerror(-e));
		else if (e)
			close(fd[i]);
	}
	return e;
}

int pins_open(struct pins *p, const char *dir, size_t capacity, bool index,
	      char *err, size_t errlen)
{
	int e;

	memset(p, 0, sizeof(*p));
	p->old_status_fd = -1;
	p->with_index = index;
	snprintf(p->dir, sizeof(p->dir), "%s", dir);
	p->skel = pins_bpf__open();
	if (!p->skel) {
		e = -errno;
		snprintf(err, errlen, "opening the status maps: %s", strerror(-e));
		return e;
	}
	if (capacity < 1)
		capacity = 1;
	bpf_map__set_max_entries(p->skel->maps.status, capacity);
	bpf_map__set_max_entries(p->skel->maps.status_index, capacity);
	bpf_map__set_max_entries(p->skel->maps.pool_up, capacity);
	if (!index)
		bpf_map__set_autocreate(p->skel->maps.status_index, false);
	p->old_abi = pinned_abi(p);
	if (!p->old_abi)
		p->old_abi = XDPHC_ABI_VERSION;	/* nothing pinned, or a map without meta */
	e = try_reuse_all(p, capacity, index, err, errlen);
	if (e)
		return e;
	e = pins_bpf__load(p->skel);
	if (e) {
		snprintf(err, errlen, "creating the status maps: %s", strerror(-e));
		return e;
	}
	for (int i = 0; i < PIN_NR; i++)
		p->fd[i] = i == PIN_INDEX && !index ? -1 : bpf_map__fd(skel_map(p, i));
	p->status_max = bpf_map__max_entries(p->skel->maps.status);
	p->status = bpfmap_mmap(p->fd[PIN_STATUS], sizeof(*p->status), p->status_max,
				PROT_READ | PROT_WRITE, &p->status_len);
	p->pools = bpfmap_mmap(p->fd[PIN_POOLS], sizeof(*p->pools), XDPHC_MAX_POOLS,
			       PROT_READ | PROT_WRITE, &p->pools_len);
	p->pool_up = bpfmap_mmap(p->fd[PIN_POOL_UP], sizeof(*p->pool_up),
				 bpf_map__max_entries(p->skel->maps.pool_up),
				 PROT_READ | PROT_WRITE, &p->pool_up_len);
	if (!p->status || !p->pools || !p->pool_up) {
		e = -errno;
		snprintf(err, errlen, "mmap of the status maps: %s", strerror(-e));
		return e;
	}
	return 0;
}

/* Pin next to the old pin, then rename over it: readers never see no map. */
int pins_pin_replace(int fd, const char *path, char *err, size_t errlen)
{
	const char *slash = strrchr(path, '/');
	char tmp[PATH_MAX + 32];
	int e;

	/* bpffs refuses dots in names: a sibling "new_" name, then rename over. */
	snprintf(tmp, sizeof(tmp), "%.*snew_%s", slash ? (int)(slash - path + 1) : 0, path,
		 slash ? slash + 1 : path);
	unlink(tmp);
	if (bpf_obj_pin(fd, tmp)) {
		e = -errno;
		snprintf(err, errlen, "pinning %s: cannot pin at %s first: %s", path, tmp,
			 strerror(-e));
		return e;
	}
	if (rename(tmp, path)) {
		e = -errno;
		snprintf(err, errlen, "pinning %s: cannot rename %s over it: %s", path, tmp,
			 strerror(-e));
		unlink(tmp);
		return e;
	}
	return 0;
}

static int pin_replace(struct pins *p, enum pin_map which, char *err, size_t errlen)
{
	char path[PATH_MAX + 16];

	pin_path(path, sizeof(path), p->dir, which);
	return pins_pin_replace(p->fd[which], path, err, errlen);
}

int pins_publish(struct pins *p, char *err, size_t errlen)
{
	char path[PATH_MAX + 16];
	int e;

	for (int i = 0; i < PIN_NR; i++) {
		if (i == PIN_INDEX && !p->with_index) {
			/* An index left from a run with it on would go stale: remove it. */
			pin_path(path, sizeof(path), p->dir, i);
			unlink(path);
			continue;
		}
		if (p->reused[i])
			continue;
		e = pin_replace(p, i, err, errlen);
		if (e)
			return e;
	}
	return 0;
}

struct xdphc_backend_status *pins_previous_status(struct pins *p, size_t *n)
{
	const struct xdphc_backend_status *src = p->status;
	struct xdphc_backend_status *copy;
	size_t len = 0;

	*n = 0;
	if (p->reused[PIN_STATUS]) {
		*n = p->status_max;
	} else if (p->old_status_fd >= 0) {
		src = bpfmap_mmap(p->old_status_fd, sizeof(*src), p->old_status_max, PROT_READ,
				  &len);
		if (!src)
			return NULL;
		*n = p->old_status_max;
	} else {
		return NULL;
	}
	copy = malloc(*n * sizeof(*copy));
	if (copy)
		memcpy(copy, src, *n * sizeof(*copy));
	else
		*n = 0;
	if (len)
		bpfmap_munmap(src, len);
	/* Read once: holding it would keep the replaced map (48 B a backend) alive. */
	if (p->old_status_fd >= 0) {
		close(p->old_status_fd);
		p->old_status_fd = -1;
	}
	return copy;
}

void pins_close(struct pins *p)
{
	if (!p->skel)
		return;
	if (p->old_status_fd >= 0)
		close(p->old_status_fd);
	bpfmap_munmap(p->status, p->status_len);
	bpfmap_munmap(p->pools, p->pools_len);
	bpfmap_munmap(p->pool_up, p->pool_up_len);
	pins_bpf__destroy(p->skel);
	memset(p, 0, sizeof(*p));
	p->old_status_fd = -1;
}

static int open_map(const char *dir, enum pin_map which, __u32 flags, char *err, size_t errlen)
{
	LIBBPF_OPTS(bpf_obj_get_opts, opts, .file_flags = flags);
	char path[PATH_MAX + 16];
	int fd;

	pin_path(path, sizeof(path), dir, which);
	fd = bpf_obj_get_opts(path, &opts);
	if (fd >= 0)
		return fd;
	fd = -errno;
	if (fd == -ENOENT)
		snprintf(err, errlen, "%s: no such pinned map (has xdphc ever run with pin_path "
			 "%s?)", path, dir);
	else
		snprintf(err, errlen, "%s: %s", path, strerror(-fd));
	return fd;
}

int pins_open_map(const char *dir, enum pin_map which, char *err, size_t errlen)
{
	return open_map(dir, which, BPF_F_RDONLY, err, errlen);
}

int pins_read_meta(const char *dir, struct xdphc_meta *m, char *err, size_t errlen)
{
	uint32_t zero = 0;
	int fd = pins_open_map(dir, PIN_META, err, errlen), e = 0;

	if (fd < 0)
		return fd;
	if (bpf_map_lookup_elem(fd, &zero, m)) {
		e = -errno;
		snprintf(err, errlen, "%s/meta: %s", dir, strerror(-e));
	}
	close(fd);
	return e;
}

const struct xdphc_backend_status *pins_map_status(const char *dir, size_t *n, size_t *len,
						    char *err, size_t errlen)
{
	struct bpf_map_info info = {};
	__u32 ilen = sizeof(info);
	const struct xdphc_backend_status *m;
	/* mmap refuses read-only map fds even for PROT_READ (EINVAL). */
	int fd = open_map(dir, PIN_STATUS, 0, err, errlen);

	if (fd < 0)
		return NULL;
	if (bpf_obj_get_info_by_fd(fd, &info, &ilen) || info.type != BPF_MAP_TYPE_ARRAY ||
	    info.value_size != sizeof(*m)) {
		snprintf(err, errlen, "%s/status: not a status map of this xdphc version "
			 "(ABI %d); was it written by an older engine?", dir, XDPHC_ABI_VERSION);
		close(fd);
		return NULL;
	}
	m = bpfmap_mmap(fd, sizeof(*m), info.max_entries, PROT_READ, len);
	close(fd);
	if (!m) {
		snprintf(err, errlen, "%s/status: mmap: %s", dir, strerror(errno));
		return NULL;
	}
	*n = info.max_entries;
	return m;
}
