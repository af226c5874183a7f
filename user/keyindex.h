/* SPDX-License-Identifier: MIT */
#ifndef XDPHC_KEYINDEX_H
#define XDPHC_KEYINDEX_H

#include <stddef.h>
#include <stdint.h>
#include <xdphc/abi.h>

/*
 * Open-addressing map from a backend key to a caller-owned index.  The keys
 * themselves stay in the caller's array; the table holds only indexes, so a
 * million backends cost 8 bytes each here.
 */
struct keyindex {
	uint32_t *slots;	/* index + 1; 0 = empty */
	size_t mask;
	const struct xdphc_backend_key *keys;
	size_t key_stride;	/* bytes between consecutive keys in the caller's array */
	size_t extra;		/* bytes after each key that are part of it (a pool id) */
};

int keyindex_init(struct keyindex *ki, size_t capacity, const void *keys, size_t stride);
/*
 * The same, with keys of a backend key and extra bytes right after it (a
 * pool id, say): keys equal in both.  keyindex_find_x() takes such a key.
 */
int keyindex_init_x(struct keyindex *ki, size_t capacity, const void *keys, size_t stride,
		    size_t extra);
int64_t keyindex_find_x(const struct keyindex *ki, const void *key);
/* Insert index i (its key is keys[i]); returns the existing index if the key is present. */
int64_t keyindex_insert(struct keyindex *ki, uint32_t i);
/* With extra bytes, key must be followed by them, as for keyindex_find_x(). */
int64_t keyindex_find(const struct keyindex *ki, const struct xdphc_backend_key *key);
/* Start loading the slot where key's search begins: loops call it a few keys ahead. */
void keyindex_prefetch(const struct keyindex *ki, const struct xdphc_backend_key *key);
void keyindex_free(struct keyindex *ki);

uint64_t backend_key_hash(const struct xdphc_backend_key *key);
int backend_key_equal(const struct xdphc_backend_key *a, const struct xdphc_backend_key *b);

#endif
