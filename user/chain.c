// SPDX-License-Identifier: MIT
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include <bpf/bpf.h>

#include "chain.h"
#include "pins.h"

static uint32_t prog_id(int fd)
{
	struct bpf_prog_info info = {};
	__u32 len = sizeof(info);

	return bpf_obj_get_info_by_fd(fd, &info, &len) ? 0 : info.id;
}

/* Put probe_rx into the load balancer's prog array at c->index. */
static int chain_link(struct chain *c, int prog_fd, const char *map, char *err, size_t errlen)
{
	struct bpf_map_info info = {};
	__u32 len = sizeof(info);
	int e;

	c->map_fd = bpf_obj_get(map);
	if (c->map_fd < 0) {
		e = -errno;
		snprintf(err, errlen, "tail_call_map %s: %s", map, strerror(-e));
		return e;
	}
	if (bpf_obj_get_info_by_fd(c->map_fd, &info, &len) ||
	    info.type != BPF_MAP_TYPE_PROG_ARRAY || c->index >= info.max_entries) {
		snprintf(err, errlen, "tail_call_map %s: not a BPF prog array with an entry %u",
			 map, c->index);
		return -EINVAL;
	}
	if (bpf_map_update_elem(c->map_fd, &c->index, &prog_fd, BPF_ANY)) {
		e = -errno;
		snprintf(err, errlen, "tail_call_map %s: cannot put probe_rx at %u: %s (the "
			 "array's owner must be an XDP program)", map, c->index, strerror(-e));
		return e;
	}
	return 0;
}

int chain_setup(struct chain *c, int prog_fd, const char *pin, const char *map,
		uint32_t index, char *err, size_t errlen)
{
	int e;

	memset(c, 0, sizeof(*c));
	c->map_fd = -1;
	c->index = index;
	c->prog_id = prog_id(prog_fd);
	snprintf(c->pin, sizeof(c->pin), "%s", pin);
	e = pins_pin_replace(prog_fd, pin, err, errlen);
	if (e || !map[0])
		return e;
	return chain_link(c, prog_fd, map, err, errlen);
}

void chain_teardown(struct chain *c)
{
	uint32_t id = 0;
	int pinned;

	if (!c->pin[0])
		return;
	if (c->map_fd >= 0) {
		if (!bpf_map_lookup_elem(c->map_fd, &c->index, &id) && id == c->prog_id)
			bpf_map_delete_elem(c->map_fd, &c->index);
		close(c->map_fd);
		c->map_fd = -1;
	}
	pinned = bpf_obj_get(c->pin);
	if (pinned >= 0) {
		if (prog_id(pinned) == c->prog_id)
			unlink(c->pin);
		close(pinned);
	}
	c->pin[0] = '\0';
}
