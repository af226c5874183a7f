/* SPDX-License-Identifier: MIT */
/*
 * A UDP check without expect takes silence for success: only an ICMP port
 * unreachable fails it.  Kernels rate-limit the ICMP errors they send each
 * peer (net.ipv4.icmp_ratelimit, net.ipv6.icmp.ratelimit: by default one a
 * second, in bursts of 6), so a host whose closed ports are probed more
 * often than that answers some probes with nothing, and they pass.  The
 * engine warns about every backend host its probes would push past the
 * default limit.
 */
#ifndef XDPHC_ICMPLIMIT_H
#define XDPHC_ICMPLIMIT_H

#include <stddef.h>

#include "config.h"
#include "slots.h"

/* The probes a second a host may get before its ICMP errors are dropped (kernel defaults). */
#define ICMP_LIMIT_PER_S 1.0

/*
 * Warn (log) about the hosts that the probes of the claimed slots sl->s[0, n)
 * of udp pools without expect send more than ICMP_LIMIT_PER_S probes a
 * second, at the fastest pace of each pool.  Returns how many hosts.
 */
size_t icmp_limit_warn(const struct config *cfg, const struct slots *sl, size_t n);

#endif
