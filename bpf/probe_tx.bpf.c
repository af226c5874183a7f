// SPDX-License-Identifier: GPL-2.0 OR MIT
/*
 * probe_tx: run by the controller with BPF_PROG_RUN in live-frames mode, one
 * frame per queued probe.  Used on its own only when probe_rx cannot be run
 * in batches (libxdp's dispatcher owns the interface); otherwise probe_rx
 * writes the SYNs itself.  The object also owns the maps both share and the
 * tracepoint program that counts the frames the kernel dropped on the way
 * out.
 */
#include "probe_tx.h"
#include <bpf/bpf_tracing.h>

char LICENSE[] SEC("license") = "Dual MIT/GPL";

SEC("xdp")
int probe_tx(struct xdp_md *ctx)
{
	return tx_frame(ctx);
}

/* Only the field we read; CO-RE finds it in the running kernel's layout. */
struct net_device {
	int ifindex;
} __attribute__((preserve_access_index));

/* Frames our runs handed to the device but the device refused (full ring). */
__u64 tx_dropped;

/*
 * Live-frames transmission is not paced: a frame that does not fit the
 * device's ring is dropped and BPF_PROG_RUN still reports success.  The
 * kernel reports such drops only in this tracepoint, where we count the
 * ones of our runs: from the loopback ingress they use to our interface.
 */
SEC("tp_btf/xdp_devmap_xmit")
int BPF_PROG(count_tx_drops, const struct net_device *from, const struct net_device *to,
	     int sent, int drops, int err)
{
	if (drops <= 0 || from->ifindex != XDPHC_TX_IFINDEX || to->ifindex != (int)cfg.ifindex)
		return 0;
	__sync_fetch_and_add(&tx_dropped, (__u64)drops);
	return 0;
}
