/* SPDX-License-Identifier: MIT */
#ifndef XDPHC_PORTS_H
#define XDPHC_PORTS_H

#include <stdbool.h>
#include <stdint.h>

#include "config.h"

struct portset;

/* What this engine changed on the host for its source port range. */
struct ports {
	bool held;			/* ports to take out of the sysctl on stop */
	char key[64];			/* state file name: netns inode + pin path hash */
	struct portset *added;		/* exactly the ports this engine reserved */
};

/*
 * Make the source port range [lo, hi] safe to probe from, in the calling
 * thread's network namespace:
 *  - undo the reservation of a previous engine with the same pins that died
 *    without stopping (its state file under /run/xdphc/reserved-ports);
 *  - refuse if a local TCP or UDP socket on src4 or src6 (network order;
 *    0 or NULL: the engine does not probe that family) or on a wildcard
 *    address that covers one of them already uses a port of the range;
 *  - add the part of the range inside ip_local_port_range that is not
 *    reserved yet to net.ipv4.ip_local_reserved_ports, and record it;
 *    refuse if that would take more than half of the ports still free
 *    there (the kernel's own connections and DNS queries need them).
 * Logs one message and returns -1 on failure (nothing is left reserved).
 */
int ports_claim(struct ports *p, const struct config *c, uint32_t src4, const uint32_t src6[4],
		uint16_t lo, uint16_t hi);

/* Take the ports ports_claim() added out of the sysctl again; keeps the rest. */
void ports_release(struct ports *p);

#endif
