/* SPDX-License-Identifier: MIT */
/*
 * Who owns a probe_rx attached to the interface: an engine that died leaves
 * its probe_rx behind (nothing detaches it), and the next start removes it;
 * one that runs still holds it open, and must not be blinded.
 */
#ifndef XDPHC_OWNER_H
#define XDPHC_OWNER_H

#include <stddef.h>

/*
 * Remove a probe_rx left attached to ifindex by an engine that died.
 * Returns 1 if one was removed, 0 if there was none, -EBUSY (and a message
 * in err) if the probe_rx there belongs to an engine that is still running.
 */
int owner_clear_stale(int ifindex, char *err, size_t errlen);

#endif
