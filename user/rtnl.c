// SPDX-License-Identifier: MIT
#include <errno.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include "rtnl.h"

#define RECV_BYTES 65536
#define RECV_TIMEOUT_MS 2000	/* the kernel answers at once; this only guards a bug */
#ifndef SOL_NETLINK
#define SOL_NETLINK 270
#endif

static void set_rcvbuf(int fd, int bytes)
{
	/* FORCE passes net.core.rmem_max with CAP_NET_ADMIN, which the engine has. */
	if (setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &bytes, sizeof(bytes)))
		setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &bytes, sizeof(bytes));
}

int rtnl_open(struct rtnl *r, const unsigned int *groups, size_t ngroups, int rcvbuf,
	      int nonblock)
{
	struct sockaddr_nl sa = { .nl_family = AF_NETLINK };
	struct timeval tv = { .tv_sec = RECV_TIMEOUT_MS / 1000,
			      .tv_usec = RECV_TIMEOUT_MS % 1000 * 1000 };
	int e, one = 1;

	r->seq = 0;
	r->fd = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC | (nonblock ? SOCK_NONBLOCK : 0),
		       NETLINK_ROUTE);
	if (r->fd < 0)
		return -errno;
	if (rcvbuf)
		set_rcvbuf(r->fd, rcvbuf);
	if (!nonblock)
		setsockopt(r->fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	/* Errors come without a copy of the request: shorter answers. */
	setsockopt(r->fd, SOL_NETLINK, NETLINK_CAP_ACK, &one, sizeof(one));
	if (bind(r->fd, (struct sockaddr *)&sa, sizeof(sa)))
		goto fail;
	for (size_t i = 0; i < ngroups; i++)
		if (setsockopt(r->fd, SOL_NETLINK, NETLINK_ADD_MEMBERSHIP, &groups[i],
			       sizeof(groups[i])))
			goto fail;
	return 0;
fail:
	e = -errno;
	close(r->fd);
	r->fd = -1;
	return e;
}

void rtnl_close(struct rtnl *r)
{
	if (r->fd >= 0)
		close(r->fd);
	r->fd = -1;
}

int rtnl_batch_room(const struct rtnl_batch *b, size_t bytes)
{
	return b->n < RTNL_BATCH_MAX && b->len + NLMSG_ALIGN(bytes) <= sizeof(b->buf);
}

struct nlmsghdr *rtnl_msg(struct rtnl_batch *b, uint16_t type, uint16_t flags, uint32_t seq,
			  const void *hdr, size_t hdrlen)
{
	struct nlmsghdr *nh = (struct nlmsghdr *)(b->buf + b->len);

	memset(nh, 0, NLMSG_SPACE(hdrlen));
	nh->nlmsg_len = NLMSG_LENGTH(hdrlen);
	nh->nlmsg_type = type;
	nh->nlmsg_flags = flags;
	nh->nlmsg_seq = seq;
	memcpy(NLMSG_DATA(nh), hdr, hdrlen);
	b->len += NLMSG_ALIGN(nh->nlmsg_len);
	b->n++;
	return nh;
}

void rtnl_attr(struct rtnl_batch *b, struct nlmsghdr *nh, uint16_t type, const void *data,
	       size_t len)
{
	struct rtattr *rta = (struct rtattr *)((char *)nh + NLMSG_ALIGN(nh->nlmsg_len));
	size_t before = NLMSG_ALIGN(nh->nlmsg_len);

	rta->rta_type = type;
	rta->rta_len = RTA_LENGTH(len);
	memcpy(RTA_DATA(rta), data, len);
	nh->nlmsg_len = before + RTA_ALIGN(rta->rta_len);
	b->len += nh->nlmsg_len - before;
}

int rtnl_send(struct rtnl *r, struct rtnl_batch *b)
{
	struct sockaddr_nl sa = { .nl_family = AF_NETLINK };
	ssize_t n = 0;

	if (b->len)
		n = sendto(r->fd, b->buf, b->len, 0, (struct sockaddr *)&sa, sizeof(sa));
	b->len = 0;
	b->n = 0;
	return n < 0 ? -errno : 0;
}

long rtnl_recv(struct rtnl *r, rtnl_cb cb, void *ctx, int dontwait)
{
	static char buf[RECV_BYTES] __attribute__((aligned(NLMSG_ALIGNTO)));
	ssize_t n = recv(r->fd, buf, sizeof(buf), dontwait ? MSG_DONTWAIT : 0);
	size_t left = n > 0 ? (size_t)n : 0;	/* NLMSG_NEXT counts it down */

	if (n < 0)
		return errno == EAGAIN || errno == EWOULDBLOCK ? 0 : -errno;
	for (struct nlmsghdr *nh = (struct nlmsghdr *)buf; NLMSG_OK(nh, left);
	     nh = NLMSG_NEXT(nh, left))
		if (cb(nh, ctx))
			break;
	return n;
}

struct dump_ctx {
	uint32_t seq;
	rtnl_cb cb;
	void *ctx;
	int done, err, intr;
};

static int dump_msg(const struct nlmsghdr *nh, void *arg)
{
	struct dump_ctx *d = arg;

	if (nh->nlmsg_seq != d->seq)
		return 0;	/* an answer to an earlier request */
	if (nh->nlmsg_flags & NLM_F_DUMP_INTR)
		d->intr = 1;
	if (nh->nlmsg_type == NLMSG_DONE) {
		d->done = 1;
		return 1;
	}
	if (nh->nlmsg_type == NLMSG_ERROR) {
		const struct nlmsgerr *e = NLMSG_DATA(nh);

		d->err = e->error;
		d->done = 1;
		return 1;
	}
	d->cb(nh, d->ctx);
	return 0;
}

int rtnl_dump(struct rtnl *r, uint16_t type, const void *hdr, size_t hdrlen, rtnl_cb cb,
	      void *ctx)
{
	static struct rtnl_batch b;
	struct dump_ctx d = { .seq = ++r->seq, .cb = cb, .ctx = ctx };
	long n;
	int e;

	rtnl_msg(&b, type, NLM_F_REQUEST | NLM_F_DUMP, d.seq, hdr, hdrlen);
	e = rtnl_send(r, &b);
	if (e)
		return e;
	while (!d.done) {
		n = rtnl_recv(r, dump_msg, &d, 0);
		if (n < 0)
			return (int)n;
		if (!n)
			return -ETIMEDOUT;
	}
	if (d.err)
		return d.err;
	return d.intr ? -EINTR : 0;
}

void rtnl_parse(const struct rtattr *rta, int len, const struct rtattr **tb, int max)
{
	memset(tb, 0, sizeof(*tb) * (size_t)(max + 1));
	for (; RTA_OK(rta, len); rta = RTA_NEXT(rta, len))
		if (rta->rta_type <= max)
			tb[rta->rta_type] = rta;
}
