/* SPDX-License-Identifier: MIT */
#ifndef XDPHC_VEC_H
#define XDPHC_VEC_H

#include <stddef.h>
#include <stdlib.h>

/*
 * Room for one more element of elem bytes in the array *v of *cap, n of
 * them used: doubled when full.  0, or -1 out of memory (*v unchanged).
 */
static inline int vec_room(void **v, size_t *cap, size_t n, size_t elem)
{
	size_t ncap = *cap ? *cap * 2 : 16;
	void *p;

	if (n < *cap)
		return 0;
	p = realloc(*v, ncap * elem);
	if (!p)
		return -1;
	*v = p;
	*cap = ncap;
	return 0;
}

#endif
