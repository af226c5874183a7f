// SPDX-License-Identifier: MIT
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <sys/socket.h>

#include "check.h"
#include "keyindex.h"

/* Keys live inside larger records, as in the engine: the stride must be honoured. */
struct rec {
	uint32_t before;
	struct xdphc_backend_key key;
	char after[5];
};

static struct xdphc_backend_key v4(uint32_t addr, uint16_t port)
{
	return (struct xdphc_backend_key){
		.family = AF_INET, .protocol = IPPROTO_TCP,
		.port = htons(port), .addr = { htonl(addr) },
	};
}

static void equal_and_hash(void)
{
	struct xdphc_backend_key a = v4(0x0a000001, 80), b = a;

	CHECK(backend_key_equal(&a, &b));
	CHECK_UINT(backend_key_hash(&a), backend_key_hash(&b));
	b.port = htons(81);
	CHECK(!backend_key_equal(&a, &b));
	b = a;
	b.family = AF_INET6;
	CHECK(!backend_key_equal(&a, &b));
	b = a;
	b.protocol = IPPROTO_UDP;
	CHECK(!backend_key_equal(&a, &b));
	b = a;
	b.addr[3] = 1;
	CHECK(!backend_key_equal(&a, &b));
	/* Neighbouring addresses must not pile into neighbouring slots. */
	b = v4(0x0a000002, 80);
	CHECK((backend_key_hash(&a) & 0xffff) != (backend_key_hash(&b) & 0xffff));
}

/* n distinct keys: consecutive addresses and ports, the engine's common case. */
static struct rec *make_recs(size_t n)
{
	struct rec *r = calloc(n, sizeof(*r));

	for (size_t i = 0; r && i < n; i++) {
		r[i].before = 0xdeadbeef;
		r[i].key = v4(0xc6120000 + (uint32_t)(i / 4), (uint16_t)(80 + i % 4));
	}
	return r;
}

static void insert_find(size_t n, size_t capacity)
{
	struct rec *r = make_recs(n);
	struct keyindex ki;
	struct xdphc_backend_key absent = v4(0x0b000000, 80);
	size_t bad_ins = 0, bad_find = 0;

	CHECK(r != NULL);
	if (!r)
		return;
	check_context("keyindex n=%zu capacity=%zu", n, capacity);
	CHECK_INT(keyindex_init(&ki, capacity, &r[0].key, sizeof(r[0])), 0);
	for (size_t i = 0; i < n; i++)
		bad_ins += keyindex_insert(&ki, (uint32_t)i) != -1;
	CHECK_UINT(bad_ins, 0);
	for (size_t i = 0; i < n; i++)
		bad_find += keyindex_find(&ki, &r[i].key) != (int64_t)i;
	CHECK_UINT(bad_find, 0);
	CHECK_INT(keyindex_find(&ki, &absent), -1);
	/* A second record with a key already present reports the first one. */
	if (n > 7) {
		r[n - 1].key = r[7].key;
		CHECK_INT(keyindex_insert(&ki, (uint32_t)(n - 1)), 7);
	}
	keyindex_free(&ki);
	CHECK(ki.slots == NULL);
	free(r);
	check_context("%s", "");
}

static void random_keys(void)
{
	enum { N = 5000 };
	struct xdphc_backend_key *k = calloc(N, sizeof(*k));
	struct keyindex ki;
	size_t dups = 0, bad = 0;

	CHECK(k != NULL);
	if (!k)
		return;
	CHECK_INT(keyindex_init(&ki, N, k, sizeof(*k)), 0);
	for (size_t i = 0; i < N; i++) {
		uint64_t r = check_rand();

		k[i] = v4((uint32_t)r, (uint16_t)(1 + (r >> 32) % 4));
		if (r & (1ULL << 60)) {
			k[i].family = AF_INET6;
			k[i].addr[1] = (uint32_t)(r >> 20);
		}
		/* Random keys may repeat: the index must say which came first. */
		int64_t prev = keyindex_insert(&ki, (uint32_t)i);

		if (prev >= 0) {
			dups++;
			bad += !backend_key_equal(&k[prev], &k[i]) || (size_t)prev >= i;
		}
	}
	CHECK_UINT(bad, 0);
	for (size_t i = 0; i < N; i++) {
		int64_t j = keyindex_find(&ki, &k[i]);

		bad += j < 0 || !backend_key_equal(&k[j], &k[i]) || (size_t)j > i;
	}
	CHECK_UINT(bad, 0);
	CHECK(dups < N / 10);
	keyindex_free(&ki);
	free(k);
}

void suite_keyindex(void)
{
	equal_and_hash();
	insert_find(1, 1);
	insert_find(10, 0);		/* capacity 0 still gets a usable table */
	insert_find(100, 100);
	insert_find(100000, 100000);
	insert_find(1000, 1000);
	random_keys();
}
