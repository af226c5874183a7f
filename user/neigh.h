/* SPDX-License-Identifier: MIT */
#ifndef XDPHC_NEIGH_H
#define XDPHC_NEIGH_H

#include <stdint.h>

/*
 * Ask the kernel to resolve an IPv4 next hop on ifindex (ARP), the way it
 * would before sending a packet itself.  XDP cannot trigger resolution, so
 * probe_tx reports the next hop it lacked and the controller asks here.
 */
int neigh_open(void);
int neigh_request4(int nl_fd, int ifindex, uint32_t addr);
void neigh_close(int nl_fd);

#endif
