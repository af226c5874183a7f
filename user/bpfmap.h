/* SPDX-License-Identifier: MIT */
/*
 * Memory-mapped BPF arrays (BPF_F_MMAPABLE): the slots, slot table and tx
 * queue the controller shares with the XDP programs, and the published
 * status maps.  Values are read and written in place, without a syscall.
 */
#ifndef XDPHC_BPFMAP_H
#define XDPHC_BPFMAP_H

#include <stddef.h>

/*
 * Map n values of value_size bytes of the array map fd (prot: PROT_READ,
 * optionally | PROT_WRITE), rounded up to whole pages.  Returns the mapping
 * and its length in *len, or NULL with errno set.
 */
void *bpfmap_mmap(int fd, size_t value_size, size_t n, int prot, size_t *len);

/* Unmap what bpfmap_mmap() returned; NULL is ignored. */
void bpfmap_munmap(const void *m, size_t len);

#endif
