// SPDX-License-Identifier: MIT
#include <stdlib.h>
#include <string.h>
#include <internal/hash.h>

#include "keyindex.h"

static const struct xdphc_backend_key *key_at(const struct keyindex *ki, uint32_t i)
{
	return (const void *)((const char *)ki->keys + (size_t)i * ki->key_stride);
}

uint64_t backend_key_hash(const struct xdphc_backend_key *k)
{
	uint64_t h = xdphc_mix64(((uint64_t)k->family << 56) | ((uint64_t)k->protocol << 48) |
				 ((uint64_t)k->port << 32) | k->addr[0]);

	return xdphc_mix64(h ^ (((uint64_t)k->addr[1] << 32) | k->addr[2]) ^
			   ((uint64_t)k->addr[3] << 17));
}

int backend_key_equal(const struct xdphc_backend_key *a, const struct xdphc_backend_key *b)
{
	return a->family == b->family && a->protocol == b->protocol && a->port == b->port &&
	       !memcmp(a->addr, b->addr, sizeof(a->addr));
}

static int equal_x(const struct keyindex *ki, const struct xdphc_backend_key *a, const void *b)
{
	return backend_key_equal(a, b) &&
	       (!ki->extra || !memcmp(a + 1, (const struct xdphc_backend_key *)b + 1, ki->extra));
}

int keyindex_init_x(struct keyindex *ki, size_t capacity, const void *keys, size_t stride,
		    size_t extra)
{
	int e = keyindex_init(ki, capacity, keys, stride);

	ki->extra = extra;
	return e;
}

/* Where key k is, or the empty slot where it would go. */
static size_t probe(const struct keyindex *ki, const void *k)
{
	size_t pos = backend_key_hash(k) & ki->mask;

	while (ki->slots[pos] && !equal_x(ki, key_at(ki, ki->slots[pos] - 1), k))
		pos = (pos + 1) & ki->mask;
	return pos;
}

int64_t keyindex_find_x(const struct keyindex *ki, const void *k)
{
	size_t pos = probe(ki, k);

	return ki->slots[pos] ? (int64_t)ki->slots[pos] - 1 : -1;
}

int keyindex_init(struct keyindex *ki, size_t capacity, const void *keys, size_t stride)
{
	size_t n = 16;

	while (n < capacity * 2)
		n <<= 1;
	ki->slots = calloc(n, sizeof(*ki->slots));
	if (!ki->slots)
		return -1;
	ki->mask = n - 1;
	ki->keys = keys;
	ki->key_stride = stride;
	ki->extra = 0;
	return 0;
}

int64_t keyindex_insert(struct keyindex *ki, uint32_t i)
{
	size_t pos = probe(ki, key_at(ki, i));

	if (ki->slots[pos])
		return ki->slots[pos] - 1;
	ki->slots[pos] = i + 1;
	return -1;
}

int64_t keyindex_find(const struct keyindex *ki, const struct xdphc_backend_key *k)
{
	return keyindex_find_x(ki, k);
}

void keyindex_prefetch(const struct keyindex *ki, const struct xdphc_backend_key *key)
{
	__builtin_prefetch(&ki->slots[backend_key_hash(key) & ki->mask]);
}

void keyindex_free(struct keyindex *ki)
{
	free(ki->slots);
	memset(ki, 0, sizeof(*ki));
}
