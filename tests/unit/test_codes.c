// SPDX-License-Identifier: MIT
/* HTTP status code sets as configs write them: codes, ranges, classes. */
#include <string.h>

#include "check.h"
#include "codes.h"

static unsigned int count(const struct codes *s)
{
	unsigned int n = 0;

	for (unsigned int c = 0; c <= CODES_MAX; c++)
		n += codes_has(s, c);
	return n;
}

static void forms(void)
{
	struct codes s;
	char err[160] = "", buf[128];

	CHECK_INT(codes_parse("200,302", &s, err, sizeof(err)), 0);
	CHECK(codes_has(&s, 200) && codes_has(&s, 302) && !codes_has(&s, 301));
	CHECK_UINT(count(&s), 2);
	CHECK_INT(codes_parse("200-399", &s, err, sizeof(err)), 0);
	CHECK(codes_has(&s, 200) && codes_has(&s, 399) && !codes_has(&s, 400));
	CHECK_UINT(count(&s), 200);
	codes_format(&s, buf, sizeof(buf));
	CHECK_STR(buf, "200-399");
	CHECK_INT(codes_parse("2xx", &s, err, sizeof(err)), 0);
	CHECK(codes_has(&s, 204) && !codes_has(&s, 300) && !codes_has(&s, 199));
	CHECK_INT(codes_parse(" 2XX , 404,500-503 ", &s, err, sizeof(err)), 0);
	CHECK_UINT(count(&s), 100 + 1 + 4);
	codes_format(&s, buf, sizeof(buf));
	CHECK_STR(buf, "200-299,404,500-503");
	CHECK_INT(codes_parse("503", &s, err, sizeof(err)), 0);
	CHECK(codes_has(&s, 503) && !codes_has(&s, 600) && !codes_has(&s, 1000));
}

static void errors(void)
{
	static const struct { const char *text, *err; } bad[] = {
		{ "", "no status codes given" },
		{ "2x", "'2x' is not a status code" },
		{ "20", "'20' is not a status code" },
		{ "99", "'99' is not a status code" },
		{ "600", "'600' is not a status code" },
		{ "6xx", "'6xx' is not a status code" },
		{ "399-200", "'399-200' is not a range of codes" },
		{ "200-", "'200-' is not a range of codes" },
		{ "200,,302", "empty item" },
		{ "200,", "ends with a comma" },
		{ "ok", "'ok' is not a status code" },
		{ "200 302", "'200 302' is not a status code" },
	};
	struct codes s;
	char err[160];

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		err[0] = '\0';
		CHECK_INT(codes_parse(bad[i].text, &s, err, sizeof(err)), -1);
		CHECK_CONTAINS(err, bad[i].err);
	}
}

void suite_codes(void)
{
	forms();
	errors();
}
