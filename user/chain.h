/* SPDX-License-Identifier: MIT */
/*
 * Tail-call chaining (xdp_attach: tail_call): probe_rx is not attached but
 * pinned, for a load balancer's program to bpf_tail_call() it, and put into
 * the balancer's pinned prog array when the config names one.  Teardown
 * takes out only what still names this engine's probe_rx.
 */
#ifndef XDPHC_CHAIN_H
#define XDPHC_CHAIN_H

#include <limits.h>
#include <stddef.h>
#include <stdint.h>

struct chain {
	char pin[PATH_MAX];	/* where probe_rx is pinned; "" before chain_setup() */
	int map_fd;		/* the load balancer's prog array, or -1 */
	uint32_t index;
	uint32_t prog_id;	/* probe_rx's id: what teardown may take out */
};

/*
 * Pin probe_rx (prog_fd) at pin and, when map is not "", put it at index
 * of that pinned prog array.  0, or -errno with a message in err.
 */
int chain_setup(struct chain *c, int prog_fd, const char *pin, const char *map,
		uint32_t index, char *err, size_t errlen);
/* Undo chain_setup() where the pin and the array still name our probe_rx. */
void chain_teardown(struct chain *c);

#endif
