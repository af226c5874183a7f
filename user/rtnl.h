/* SPDX-License-Identifier: MIT */
/*
 * rtnetlink without a library: sockets, requests batched several to a
 * sendmsg, dumps, and attribute parsing (linux/rtnetlink.h).
 *
 * The kernel handles the requests of one sendmsg before the call returns,
 * queueing one answer each on the socket: a batch costs one system call
 * and a read of its answers, as long as the socket's receive buffer holds
 * them (rtnl_open() enlarges it; RTNL_BATCH_MAX bounds a batch).
 */
#ifndef XDPHC_RTNL_H
#define XDPHC_RTNL_H

#include <stddef.h>
#include <stdint.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>

#define RTNL_BATCH_BYTES 65536
#define RTNL_BATCH_MAX 256	/* requests a batch, answers the receive buffer holds */

struct rtnl {
	int fd;
	uint32_t seq;
};

/*
 * A NETLINK_ROUTE socket, member of groups[0..ngroups) (RTNLGRP_*), with a
 * receive buffer of rcvbuf bytes when root may set it.  Non-blocking, or
 * blocking with a receive timeout so a lost answer cannot hang the engine.
 * 0, or -errno.
 */
int rtnl_open(struct rtnl *r, const unsigned int *groups, size_t ngroups, int rcvbuf,
	      int nonblock);
void rtnl_close(struct rtnl *r);

/* Requests built in one buffer, sent with one sendmsg. */
struct rtnl_batch {
	char buf[RTNL_BATCH_BYTES];
	size_t len;
	unsigned int n;
};

/* Whether a request of up to `bytes` more fits (and the batch is not at RTNL_BATCH_MAX). */
int rtnl_batch_room(const struct rtnl_batch *b, size_t bytes);
/*
 * Append a request: header, then the family header hdr of hdrlen bytes.
 * Returns the message, to which rtnl_attr() adds attributes.
 */
struct nlmsghdr *rtnl_msg(struct rtnl_batch *b, uint16_t type, uint16_t flags, uint32_t seq,
			  const void *hdr, size_t hdrlen);
void rtnl_attr(struct rtnl_batch *b, struct nlmsghdr *nh, uint16_t type, const void *data,
	       size_t len);
/* Send the batch and empty it.  0, or -errno. */
int rtnl_send(struct rtnl *r, struct rtnl_batch *b);

/* Called for each message received; a non-zero return stops the reading. */
typedef int (*rtnl_cb)(const struct nlmsghdr *nh, void *ctx);

/*
 * One recv() of whatever is queued (MSG_DONTWAIT if dontwait), each message
 * handed to cb.  Bytes read, 0 when nothing was queued, or -errno (-ENOBUFS:
 * the kernel dropped messages for want of room).
 */
long rtnl_recv(struct rtnl *r, rtnl_cb cb, void *ctx, int dontwait);

/*
 * A dump: request type with family header hdr, every answer to cb up to
 * NLMSG_DONE.  0, or -errno (a dump interrupted by a change, NLM_F_DUMP_INTR,
 * is -EINTR: the caller dumps again).
 */
int rtnl_dump(struct rtnl *r, uint16_t type, const void *hdr, size_t hdrlen, rtnl_cb cb,
	      void *ctx);

/* tb[type] = the attribute of that type (the last one), for type <= max; others NULL. */
void rtnl_parse(const struct rtattr *rta, int len, const struct rtattr **tb, int max);

/* The attributes after a family header of hdrlen bytes. */
static inline const struct rtattr *rtnl_attrs(const struct nlmsghdr *nh, size_t hdrlen)
{
	return (const struct rtattr *)((const char *)NLMSG_DATA(nh) + NLMSG_ALIGN(hdrlen));
}

static inline int rtnl_attrs_len(const struct nlmsghdr *nh, size_t hdrlen)
{
	return (int)nh->nlmsg_len - (int)NLMSG_LENGTH(NLMSG_ALIGN(hdrlen));
}

#endif
