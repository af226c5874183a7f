// SPDX-License-Identifier: GPL-2.0 OR MIT
/*
 * Lab helper: an XDP program that passes everything.  A veth only takes
 * frames sent to it with XDP_TX/redirect promptly when its own side has an
 * XDP program: with GRO alone, the RSTs xdphc sends wait in the ring until
 * the next frame arrives, and half-open connections outlive a probe round.
 */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

char LICENSE[] SEC("license") = "Dual MIT/GPL";

SEC("xdp")
int xdp_pass(struct xdp_md *ctx)
{
	return XDP_PASS;
}
