/* SPDX-License-Identifier: MIT */
#ifndef XDPHC_NEIGH_H
#define XDPHC_NEIGH_H

#include <stdint.h>

#include "rtnl.h"

/*
 * Ask the kernel to resolve a next hop on ifindex (ARP for IPv4, neighbour
 * discovery for IPv6), the way it would before sending a packet itself:
 * XDP cannot trigger resolution, so the controller asks here for the next
 * hops probe_tx found no neighbour for.  The answer is the kernel's
 * neighbour entry going to REACHABLE (or FAILED), which nexthop.c follows
 * through its notifications.
 */
int neigh_open(void);
void neigh_close(int nl_fd);

/* Append a request for family addr (network order, IPv4 in addr[0]): 0, or -1 when b is full. */
int neigh_put(struct rtnl_batch *b, int ifindex, uint8_t family, const uint32_t addr[4]);
/* Send a batch of requests.  0, or -errno. */
int neigh_send(int nl_fd, struct rtnl_batch *b);

#endif
