// SPDX-License-Identifier: MIT
#include <errno.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
#include <linux/neighbour.h>

#include "neigh.h"

int neigh_open(void)
{
	struct sockaddr_nl sa = { .nl_family = AF_NETLINK };
	int fd = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC | SOCK_NONBLOCK, NETLINK_ROUTE);

	if (fd < 0)
		return -1;
	if (bind(fd, (struct sockaddr *)&sa, sizeof(sa))) {
		close(fd);
		return -1;
	}
	return fd;
}

/* Drain acks without blocking; errors (e.g. EEXIST races) do not matter here. */
static void drain(int fd)
{
	char buf[4096];

	while (recv(fd, buf, sizeof(buf), MSG_DONTWAIT) > 0)
		;
}

int neigh_put(struct rtnl_batch *b, int ifindex, uint8_t family, const uint32_t addr[4])
{
	size_t alen = family == AF_INET6 ? 16 : 4;
	struct ndmsg ndm = {
		.ndm_family = family,
		.ndm_ifindex = ifindex,
		.ndm_state = NUD_NONE,
		/* NTF_USE: create the entry if needed and start resolution, like a send. */
		.ndm_flags = NTF_USE,
	};
	struct nlmsghdr *nh;

	if (!rtnl_batch_room(b, NLMSG_SPACE(sizeof(ndm)) + RTA_SPACE(alen)))
		return -1;
	nh = rtnl_msg(b, RTM_NEWNEIGH, NLM_F_REQUEST | NLM_F_CREATE, 0, &ndm, sizeof(ndm));
	rtnl_attr(b, nh, NDA_DST, addr, alen);
	return 0;
}

int neigh_send(int fd, struct rtnl_batch *b)
{
	struct rtnl r = { .fd = fd };

	drain(fd);
	return rtnl_send(&r, b);
}

void neigh_close(int fd)
{
	if (fd >= 0)
		close(fd);
}
