// SPDX-License-Identifier: MIT
#include <unistd.h>
#include <sys/mman.h>

#include "bpfmap.h"

void *bpfmap_mmap(int fd, size_t value_size, size_t n, int prot, size_t *len)
{
	size_t page = (size_t)sysconf(_SC_PAGESIZE);
	void *m;

	*len = (value_size * n + page - 1) / page * page;
	m = mmap(NULL, *len, prot, MAP_SHARED, fd, 0);
	return m == MAP_FAILED ? NULL : m;
}

void bpfmap_munmap(const void *m, size_t len)
{
	if (m)
		munmap((void *)m, len);
}
