// SPDX-License-Identifier: MIT
/* Groups of ids probed once: joining, leaving, the leader's succession. */
#include <stdlib.h>

#include "check.h"
#include "shared.h"

#define NONE UINT32_MAX

static void leader_succession(void)
{
	struct shared sh;
	const struct shared_group *g;

	CHECK_INT(shared_init(&sh, 1000), 0);
	CHECK(!shared_member(&sh, 5));
	CHECK_UINT(shared_leader(&sh, 5), 5);
	CHECK_INT(shared_join(&sh, 5, 900), 0);
	CHECK_INT(shared_join(&sh, 5, 70), 0);
	CHECK(shared_member(&sh, 5) && shared_member(&sh, 900) && shared_member(&sh, 70));
	CHECK_UINT(shared_leader(&sh, 70), 5);
	g = shared_group_of(&sh, 900);
	CHECK(g && g->n == 3 && g->ids[0] == 5);
	/* a follower leaves: no new leader */
	CHECK_UINT(shared_leave(&sh, 900), NONE);
	CHECK(!shared_member(&sh, 900));
	/* the leader leaves: the next one that joined leads; a group of one is none */
	CHECK_UINT(shared_leave(&sh, 5), 70);
	CHECK(!shared_member(&sh, 70) && !shared_member(&sh, 5));
	CHECK_UINT(shared_leader(&sh, 70), 70);
	CHECK(!shared_group_of(&sh, 70));
	shared_free(&sh);
}

/* Many groups, joined and left in a shuffled order: the map stays exact. */
static void churn(void)
{
	enum { N = 4000 };
	struct shared sh;
	uint32_t bad = 0;

	CHECK_INT(shared_init(&sh, N), 0);
	for (uint32_t i = 0; i < N / 2; i++)
		CHECK_INT(shared_join(&sh, i, i + N / 2), 0);
	for (uint32_t k = 0; k < N / 2; k += 2) {
		uint32_t i = (k * 7919) % (N / 2);

		bad += shared_leave(&sh, i) != i + N / 2;
	}
	for (uint32_t i = 0; i < N / 2; i++) {
		uint32_t led = shared_leader(&sh, i + N / 2);
		bool left = !shared_member(&sh, i);

		/* left: the follower stands alone; else it still follows i */
		bad += left ? (led != i + N / 2 || shared_member(&sh, i + N / 2)) : led != i;
	}
	CHECK_INT(bad, 0);
	shared_free(&sh);
}

void suite_shared(void)
{
	leader_succession();
	churn();
}
