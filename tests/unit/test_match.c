// SPDX-License-Identifier: MIT
/* The streaming search behind expect_body: a pattern split across pieces. */
#include <string.h>

#include "check.h"
#include "match.h"

/* Feed text cut at every pair of places: found exactly when it contains pat. */
static void every_cut(const char *text, const char *pat)
{
	size_t n = strlen(text);
	bool want = strstr(text, pat) != NULL;

	for (size_t i = 0; i <= n; i++)
		for (size_t j = i; j <= n; j++) {
			struct match m;

			match_init(&m, pat, strlen(pat));
			match_feed(&m, text, i);
			match_feed(&m, text + i, j - i);
			match_feed(&m, text + j, n - j);
			check_context("'%s' in '%s' cut at %zu, %zu", pat, text, i, j);
			CHECK(m.found == want);
		}
	check_context("%s", "");
}

static void byte_by_byte(void)
{
	const char *text = "HTTP body: status: healthy\n";
	struct match m;
	size_t i;

	match_init(&m, "healthy", 7);
	for (i = 0; text[i] && !match_feed(&m, text + i, 1); i++)
		;
	CHECK_UINT(i, strlen("HTTP body: status: health"));
	/* Found stays found. */
	CHECK(match_feed(&m, "zzz", 3));
}

static void long_pattern(void)
{
	char pat[MATCH_MAX + 1], text[3 * MATCH_MAX];
	struct match m;

	memset(pat, 'a', MATCH_MAX);
	pat[MATCH_MAX - 1] = 'b';
	pat[MATCH_MAX] = '\0';
	memset(text, 'a', sizeof(text));
	memcpy(text + 300, pat, MATCH_MAX);
	match_init(&m, pat, MATCH_MAX);
	for (size_t i = 0; i < sizeof(text); i += 7)
		match_feed(&m, text + i, sizeof(text) - i < 7 ? sizeof(text) - i : 7);
	CHECK(m.found);
	match_init(&m, pat, MATCH_MAX);
	match_feed(&m, text, 300 + MATCH_MAX - 1);	/* all but the final 'b' */
	CHECK(!m.found);
}

void suite_match(void)
{
	every_cut("status: healthy", "healthy");
	every_cut("status: healthy", "status");
	every_cut("xxhealthyxx", "healthy");
	every_cut("healthhealthy", "healthy");
	every_cut("status: health", "healthy");
	every_cut("aab", "ab");
	every_cut("a", "a");
	every_cut("", "a");
	byte_by_byte();
	long_pattern();
}
