// SPDX-License-Identifier: GPL-2.0 OR MIT
/*
 * Bench helper: the sender of the simulator's ceiling.  Run with live-frames
 * BPF_PROG_RUN, it writes a template frame (a probe) over each frame and
 * sends it with XDP_TX, as the engine's probe_tx writes its SYNs.  The
 * frames come back from the simulator rewritten into answers, and the test
 * run recycles their pages without copying its data in again: a program
 * that did not write every frame would send the answers again.
 */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

char LICENSE[] SEC("license") = "Dual MIT/GPL";

#define TMPL_MAX 128

struct tmpl {
	__u32 len;		/* the frame's length: at least 8, at most TMPL_MAX */
	__u32 pad;
	__u8 data[TMPL_MAX];
};

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__type(key, __u32);
	__type(value, struct tmpl);
	__uint(max_entries, 1);
} tmpl SEC(".maps");

SEC("xdp")
int xdp_tmpl_tx(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data;
	void *data_end = (void *)(long)ctx->data_end;
	__u32 zero = 0;
	struct tmpl *t = bpf_map_lookup_elem(&tmpl, &zero);
	__u64 last;

	if (!t || t->len < 8 || t->len > TMPL_MAX)
		return XDP_ABORTED;
	/* Whole words, then the last 8 bytes (overlapping) for the rest. */
	for (int i = 0; i < TMPL_MAX / 8; i++) {
		if (data + (i + 1) * 8 > data_end || (i + 1) * 8 > t->len)
			break;
		((__u64 *)data)[i] = ((__u64 *)t->data)[i];
	}
	last = t->len - 8;
	asm volatile("" : "+r"(last));
	if (last > TMPL_MAX - 8 || data + last + 8 > data_end)
		return XDP_ABORTED;
	__builtin_memcpy(data + last, t->data + last, 8);
	return XDP_TX;
}
