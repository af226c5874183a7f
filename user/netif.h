/* SPDX-License-Identifier: MIT */
#ifndef XDPHC_NETIF_H
#define XDPHC_NETIF_H

#include <stddef.h>
#include <stdint.h>

/* The interface's first IPv4 address (network order); -1 if it has none. */
int netif_primary_ipv4(const char *ifname, uint32_t *addr);

/*
 * The interface's first global IPv6 address (network order): scope
 * universe, not tentative, not failed duplicate address detection; a
 * deprecated one only when there is no other.  -1 if it has none.
 */
int netif_primary_ipv6(const char *ifname, uint32_t addr[4]);

/* The interface's MTU, or -1. */
int netif_mtu(const char *ifname);

/*
 * 1 if the interface is a loopback device (or has the ifindex that batched
 * sends name as their ingress, XDPHC_TX_IFINDEX), 0 if not, -1 if unknown.
 * probe_rx takes every frame arriving there for a request to send a SYN.
 */
int netif_is_loopback(const char *ifname, int ifindex);

/* 1 if addr (network order) is the broadcast address of an IPv4 network of ifname. */
int netif_is_broadcast(const char *ifname, uint32_t addr);

/*
 * A source port range that the local stack never picks for its own
 * connections: up to 4096 ports above ip_local_port_range, or below it (but
 * above 1024) when that side is larger; never wraps, never includes port 0.
 */
int netif_default_source_ports(uint16_t *lo, uint16_t *hi, char *err, size_t errlen);

/* Make sure dir lives on a bpf filesystem, mounting /sys/fs/bpf if needed. */
int bpffs_prepare(const char *dir, char *err, size_t errlen);

/*
 * Whether the interface forwards IPv4 / IPv6 (net.ipv4.conf.IF.forwarding,
 * net.ipv6.conf.IF.forwarding): bpf_fib_lookup() answers only where it
 * does.  1 if on, 0 if off, -1 if unknown.
 */
int netif_ipv4_forwarding(const char *ifname);
int netif_ipv6_forwarding(const char *ifname);

/* The interface's Ethernet address: 0, or -1 (none, or not Ethernet). */
int netif_mac(const char *ifname, uint8_t mac[6]);

/* mkdir -p */
int mkdir_p(const char *dir, int mode);

#endif
