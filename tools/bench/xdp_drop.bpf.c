// SPDX-License-Identifier: GPL-2.0 OR MIT
/*
 * Bench helper: the receiving end of the ceiling measurement drops every
 * frame in XDP, so the figure is the cost of sending, not of a stack.
 */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

char LICENSE[] SEC("license") = "Dual MIT/GPL";

SEC("xdp")
int xdp_drop(struct xdp_md *ctx)
{
	return XDP_DROP;
}
