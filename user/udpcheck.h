/* SPDX-License-Identifier: MIT */
/*
 * UDP checks as the XDP programs see them: each udp pool's payload, where
 * its cookie goes, its expect, and the payload's checksum share, in the
 * udp_checks map (struct xdphc_udp_check, by pool id).
 */
#ifndef XDPHC_UDPCHECK_H
#define XDPHC_UDPCHECK_H

#include "config.h"

/* A pool's entry, from its healthcheck. */
void udpcheck_build(struct xdphc_udp_check *u, const struct hc_config *hc);

/* The ones'-complement sum of len bytes as the programs add them (see probe.h). */
uint32_t udpcheck_sum(const uint8_t *b, size_t len);

/* Write every udp pool's entry into the map (fd).  0 or -errno. */
int udpcheck_publish(int map_fd, const struct config *cfg);

#endif
