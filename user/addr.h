/* SPDX-License-Identifier: MIT */
#ifndef XDPHC_ADDR_H
#define XDPHC_ADDR_H

#include <stddef.h>
#include <stdint.h>
#include <xdphc/abi.h>

/*
 * Parse "A.B.C.D:PORT" or "[IPv6]:PORT" into a key (protocol TCP, network
 * order).  Port 0 is rejected.  Returns 0, or -1 with a reason in err.
 */
int addr_parse_backend(const char *s, struct xdphc_backend_key *key,
		       char *err, size_t errlen);

/* Format a key as "A.B.C.D:PORT" or "[IPv6]:PORT". */
const char *addr_format(const struct xdphc_backend_key *key, char *buf, size_t len);

/* Parse a duration: "500ms", "2s", "1m", plain integers are seconds. */
int parse_duration_ms(const char *s, uint32_t *ms);

#endif
