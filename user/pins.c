// SPDX-License-Identifier: MIT
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "pins.h"
#include "pins.skel.h"

const char *const pin_names[PIN_NR] = { "status", "pools", "stats", "meta" };

static struct bpf_map *skel_map(struct pins *p, enum pin_map which)
{
	switch (which) {
	case PIN_STATUS: return p->skel->maps.status;
	case PIN_POOLS: return p->skel->maps.pools;
	case PIN_STATS: return p->skel->maps.stats;
	default: return p->skel->maps.meta;
	}
}

static void pin_path(char *buf, size_t len, const char *dir, enum pin_map which)
{
	snprintf(buf, len, "%s/%s", dir, pin_names[which]);
}

/*
 * A pinned map can be kept when a consumer reading it with the current
 * abi.h would read it correctly, and it is big enough.
 */
static bool compatible(const struct bpf_map_info *info, struct bpf_map *want,
		       size_t capacity, bool sized)
{
	if (info->type != bpf_map__type(want) ||
	    info->key_size != bpf_map__key_size(want) ||
	    info->value_size != bpf_map__value_size(want))
		return false;
	if (sized)
		return info->max_entries >= capacity;
	return info->max_entries == bpf_map__max_entries(want);
}

static int try_reuse(struct pins *p, enum pin_map which, size_t capacity)
{
	struct bpf_map_info info = {};
	__u32 len = sizeof(info);
	struct bpf_map *map = skel_map(p, which);
	char path[PATH_MAX + 16];
	int fd;

	pin_path(path, sizeof(path), p->dir, which);
	fd = bpf_obj_get(path);
	if (fd < 0)
		return 0;
	if (bpf_obj_get_info_by_fd(fd, &info, &len)) {
		close(fd);
		return 0;
	}
	if (!compatible(&info, map, capacity, which == PIN_STATUS)) {
		if (which == PIN_STATUS && info.key_size == bpf_map__key_size(map) &&
		    info.value_size == bpf_map__value_size(map))
			p->old_status_fd = fd;
		else
			close(fd);
		return 0;
	}
	bpf_map__set_max_entries(map, info.max_entries);
	if (bpf_map__reuse_fd(map, fd)) {
		close(fd);
		return -1;
	}
	close(fd);
	p->reused[which] = true;
	return 0;
}

int pins_open(struct pins *p, const char *dir, size_t capacity, char *err, size_t errlen)
{
	int e;

	memset(p, 0, sizeof(*p));
	p->old_status_fd = -1;
	snprintf(p->dir, sizeof(p->dir), "%s", dir);
	p->skel = pins_bpf__open();
	if (!p->skel) {
		snprintf(err, errlen, "opening the status maps: %s", strerror(errno));
		return -1;
	}
	bpf_map__set_max_entries(p->skel->maps.status, capacity);
	for (int i = 0; i < PIN_NR; i++) {
		if (try_reuse(p, i, capacity)) {
			snprintf(err, errlen, "reusing %s/%s: %s", dir, pin_names[i],
				 strerror(errno));
			return -1;
		}
	}
	e = pins_bpf__load(p->skel);
	if (e) {
		snprintf(err, errlen, "creating the status maps: %s", strerror(-e));
		return -1;
	}
	for (int i = 0; i < PIN_NR; i++)
		p->fd[i] = bpf_map__fd(skel_map(p, i));
	return 0;
}

/* Pin next to the old pin, then rename over it: readers never see no map. */
static int pin_replace(struct pins *p, enum pin_map which, char *err, size_t errlen)
{
	char path[PATH_MAX + 16], tmp[PATH_MAX + 32];

	pin_path(path, sizeof(path), p->dir, which);
	/* bpffs refuses dots in names */
	snprintf(tmp, sizeof(tmp), "%s/new_%s", p->dir, pin_names[which]);
	unlink(tmp);
	if (bpf_obj_pin(p->fd[which], tmp) || rename(tmp, path)) {
		snprintf(err, errlen, "pinning %s: %s", path, strerror(errno));
		unlink(tmp);
		return -1;
	}
	return 0;
}

int pins_publish(struct pins *p, char *err, size_t errlen)
{
	for (int i = 0; i < PIN_NR; i++) {
		if (p->reused[i])
			continue;
		if (pin_replace(p, i, err, errlen))
			return -1;
	}
	return 0;
}

int pins_previous_status_fd(const struct pins *p)
{
	if (p->reused[PIN_STATUS])
		return p->fd[PIN_STATUS];
	return p->old_status_fd;
}

void pins_close(struct pins *p)
{
	if (!p->skel)
		return;
	if (p->old_status_fd >= 0)
		close(p->old_status_fd);
	pins_bpf__destroy(p->skel);
	memset(p, 0, sizeof(*p));
	p->old_status_fd = -1;
}

int pins_open_map(const char *dir, enum pin_map which, char *err, size_t errlen)
{
	LIBBPF_OPTS(bpf_obj_get_opts, opts, .file_flags = BPF_F_RDONLY);
	char path[PATH_MAX + 16];
	int fd;

	pin_path(path, sizeof(path), dir, which);
	fd = bpf_obj_get_opts(path, &opts);
	if (fd < 0) {
		if (errno == ENOENT)
			snprintf(err, errlen, "%s: no such pinned map (has xdphc ever run "
				 "with pin_path %s?)", path, dir);
		else
			snprintf(err, errlen, "%s: %s", path, strerror(errno));
		return -1;
	}
	return fd;
}

int pins_read_meta(const char *dir, struct xdphc_meta *m, char *err, size_t errlen)
{
	uint32_t zero = 0;
	int fd = pins_open_map(dir, PIN_META, err, errlen);

	if (fd < 0)
		return -1;
	if (bpf_map_lookup_elem(fd, &zero, m)) {
		snprintf(err, errlen, "%s/meta: %s", dir, strerror(errno));
		close(fd);
		return -1;
	}
	close(fd);
	return 0;
}
