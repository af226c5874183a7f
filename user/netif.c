// SPDX-License-Identifier: MIT
#include <arpa/inet.h>
#include <errno.h>
#include <ifaddrs.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include <net/if.h>
#include <net/if_arp.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <linux/if_addr.h>
#include <linux/magic.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <internal/probe.h>

#include "config.h"
#include "netif.h"

#define BPFFS_DEFAULT "/sys/fs/bpf"
#define SPORT_WANT 4096		/* default source ports: at most this many */
#define SPORT_PREFER 1024	/* above ip_local_port_range if it leaves this many */
#define SPORT_FLOOR 1024	/* the default never uses ports up to this one */

int netif_primary_ipv4(const char *ifname, uint32_t *addr)
{
	struct ifaddrs *ifa, *it;
	int rc = -1;

	if (getifaddrs(&ifa))
		return -1;
	for (it = ifa; it; it = it->ifa_next) {
		if (!it->ifa_addr || it->ifa_addr->sa_family != AF_INET ||
		    strcmp(it->ifa_name, ifname))
			continue;
		*addr = ((struct sockaddr_in *)it->ifa_addr)->sin_addr.s_addr;
		rc = 0;
		break;
	}
	freeifaddrs(ifa);
	return rc;
}

/* An address to probe from: global, and through with duplicate address detection. */
static bool usable_ipv6(const struct ifaddrmsg *ifa, uint32_t flags)
{
	return ifa->ifa_scope == RT_SCOPE_UNIVERSE &&
	       !(flags & (IFA_F_TENTATIVE | IFA_F_DADFAILED));
}

/*
 * One RTM_NEWADDR of the dump: the address, if it is ifindex's and usable.
 * A deprecated one (its preferred lifetime over) only when nothing better
 * comes: *found says which kind addr holds (0 none, 1 deprecated, 2 good).
 */
static void take_ipv6(const struct nlmsghdr *h, int ifindex, uint32_t addr[4], int *found)
{
	const struct ifaddrmsg *ifa = NLMSG_DATA(h);
	int len = (int)(h->nlmsg_len - NLMSG_LENGTH(sizeof(*ifa)));
	const struct rtattr *a;
	const void *local = NULL;
	uint32_t flags = ifa->ifa_flags;
	int kind;

	if (ifa->ifa_family != AF_INET6 || (int)ifa->ifa_index != ifindex)
		return;
	for (a = IFA_RTA(ifa); RTA_OK(a, len); a = RTA_NEXT(a, len)) {
		if (a->rta_type == IFA_ADDRESS && RTA_PAYLOAD(a) == 16)
			local = RTA_DATA(a);
		else if (a->rta_type == IFA_FLAGS && RTA_PAYLOAD(a) >= 4)
			memcpy(&flags, RTA_DATA(a), 4);	/* the 32-bit flags */
	}
	if (!local || !usable_ipv6(ifa, flags))
		return;
	kind = flags & IFA_F_DEPRECATED ? 1 : 2;
	if (kind > *found) {
		memcpy(addr, local, 16);
		*found = kind;
	}
}

/* Read the dump's replies; 0 at its end, -1 on an error. */
static int read_addr_dump(int fd, int ifindex, uint32_t addr[4], int *found)
{
	static char buf[16384] __attribute__((aligned(NLMSG_ALIGNTO)));

	for (;;) {
		ssize_t n = recv(fd, buf, sizeof(buf), 0);
		int len = (int)n;

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return -1;
		for (struct nlmsghdr *h = (struct nlmsghdr *)buf; NLMSG_OK(h, len);
		     h = NLMSG_NEXT(h, len)) {
			if (h->nlmsg_type == NLMSG_DONE)
				return 0;
			if (h->nlmsg_type == NLMSG_ERROR)
				return -1;
			if (h->nlmsg_type == RTM_NEWADDR &&
			    h->nlmsg_len >= NLMSG_LENGTH(sizeof(struct ifaddrmsg)))
				take_ipv6(h, ifindex, addr, found);
		}
	}
}

/*
 * By netlink rather than getifaddrs(): only netlink tells a tentative or
 * failed address (duplicate address detection) from a usable one.
 */
int netif_primary_ipv6(const char *ifname, uint32_t addr[4])
{
	struct {
		struct nlmsghdr nh;
		struct ifaddrmsg ifa;
	} req = {
		.nh = { .nlmsg_len = sizeof(req), .nlmsg_type = RTM_GETADDR,
			.nlmsg_flags = NLM_F_REQUEST | NLM_F_DUMP, .nlmsg_seq = 1 },
		.ifa = { .ifa_family = AF_INET6 },
	};
	struct sockaddr_nl kernel = { .nl_family = AF_NETLINK };
	int ifindex = (int)if_nametoindex(ifname), found = 0, fd, rc;

	if (!ifindex)
		return -1;
	fd = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_ROUTE);
	if (fd < 0)
		return -1;
	rc = sendto(fd, &req, sizeof(req), 0, (struct sockaddr *)&kernel, sizeof(kernel)) < 0 ?
	     -1 : read_addr_dump(fd, ifindex, addr, &found);
	close(fd);
	return rc || !found ? -1 : 0;
}

int netif_mtu(const char *ifname)
{
	struct ifreq ifr = { 0 };
	int fd, ret;

	fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -1;
	snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "%s", ifname);
	ret = ioctl(fd, SIOCGIFMTU, &ifr) ? -1 : ifr.ifr_mtu;
	close(fd);
	return ret;
}

int netif_is_loopback(const char *ifname, int ifindex)
{
	struct ifreq ifr = { 0 };
	int fd, ret;

	/* Batched sends name ifindex XDPHC_TX_IFINDEX as their ingress. */
	if (ifindex == XDPHC_TX_IFINDEX)
		return 1;
	fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -1;
	snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "%s", ifname);
	ret = ioctl(fd, SIOCGIFFLAGS, &ifr) ? -1 : !!(ifr.ifr_flags & IFF_LOOPBACK);
	close(fd);
	return ret;
}

int netif_is_broadcast(const char *ifname, uint32_t addr)
{
	struct ifaddrs *ifa, *it;
	int ret = 0;

	if (getifaddrs(&ifa))
		return -1;
	for (it = ifa; it; it = it->ifa_next) {
		if (!it->ifa_addr || it->ifa_addr->sa_family != AF_INET ||
		    !(it->ifa_flags & IFF_BROADCAST) || !it->ifa_broadaddr ||
		    strcmp(it->ifa_name, ifname))
			continue;
		if (((struct sockaddr_in *)it->ifa_broadaddr)->sin_addr.s_addr == addr) {
			ret = 1;
			break;
		}
	}
	freeifaddrs(ifa);
	return ret;
}

/*
 * The range is taken from the larger free side of ip_local_port_range, above
 * it when that side holds at least SPORT_PREFER ports (nothing usually
 * listens up there), never below SPORT_FLOOR.  All arithmetic is signed:
 * with the range starting below SPORT_WANT, an unsigned "a - SPORT_WANT"
 * wraps, and the range then ran from 64440 through port 0 to 2999.
 */
int netif_default_source_ports(uint16_t *lo, uint16_t *hi, char *err, size_t errlen)
{
	const char *path = "/proc/sys/net/ipv4/ip_local_port_range";
	long a, b, above, below, n, l, h;
	FILE *f = fopen(path, "r");
	char why[64];
	int k;

	if (!f) {
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		return -1;
	}
	k = fscanf(f, "%ld %ld", &a, &b);
	fclose(f);
	if (k != 2 || a < 0 || a > b || b > 65535) {
		snprintf(err, errlen, "%s: unexpected contents", path);
		return -1;
	}
	above = 65535 - b;				/* b+1 .. 65535 */
	below = a - 1 - SPORT_FLOOR;			/* SPORT_FLOOR+1 .. a-1 */
	if (below < 0)
		below = 0;
	if (above >= SPORT_PREFER || above >= below) {
		n = above < SPORT_WANT ? above : SPORT_WANT;
		l = b + 1;
		h = b + n;
	} else {
		n = below < SPORT_WANT ? below : SPORT_WANT;
		l = a - n;
		h = a - 1;
	}
	if (n < CONFIG_MIN_SOURCE_PORTS) {
		snprintf(err, errlen, "no source_ports configured, and net.ipv4.ip_local_port_range "
			 "(%ld %ld) leaves no range of %d or more ports outside it above %d; "
			 "set source_ports", a, b, CONFIG_MIN_SOURCE_PORTS, SPORT_FLOOR);
		return -1;
	}
	if (config_check_source_ports(l, h, why, sizeof(why))) {
		snprintf(err, errlen, "derived source ports %ld-%ld from "
			 "net.ipv4.ip_local_port_range (%ld %ld): %s; set source_ports",
			 l, h, a, b, why);
		return -1;
	}
	*lo = (uint16_t)l;
	*hi = (uint16_t)h;
	return 0;
}

static int forwarding(const char *family, const char *ifname)
{
	char path[128];
	FILE *f;
	int v = -1;

	snprintf(path, sizeof(path), "/proc/sys/net/%s/conf/%s/forwarding", family, ifname);
	f = fopen(path, "r");
	if (!f)
		return -1;
	if (fscanf(f, "%d", &v) != 1)
		v = -1;
	fclose(f);
	return v > 0 ? 1 : v;
}

int netif_ipv4_forwarding(const char *ifname)
{
	return forwarding("ipv4", ifname);
}

int netif_ipv6_forwarding(const char *ifname)
{
	return forwarding("ipv6", ifname);
}

int netif_mac(const char *ifname, uint8_t mac[6])
{
	struct ifreq ifr = { 0 };
	int fd, ret = -1;

	fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -1;
	snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "%s", ifname);
	if (!ioctl(fd, SIOCGIFHWADDR, &ifr) && ifr.ifr_hwaddr.sa_family == ARPHRD_ETHER) {
		memcpy(mac, ifr.ifr_hwaddr.sa_data, 6);
		ret = 0;
	}
	close(fd);
	return ret;
}

int mkdir_p(const char *dir, int mode)
{
	char buf[PATH_MAX];
	size_t len = strlen(dir);

	if (len >= sizeof(buf)) {
		errno = ENAMETOOLONG;
		return -1;
	}
	memcpy(buf, dir, len + 1);
	for (char *p = buf + 1; *p; p++) {
		if (*p != '/')
			continue;
		*p = '\0';
		if (mkdir(buf, mode) && errno != EEXIST)
			return -1;
		*p = '/';
	}
	if (mkdir(buf, mode) && errno != EEXIST)
		return -1;
	return 0;
}

static int is_bpffs(const char *path)
{
	struct statfs st;

	if (statfs(path, &st))
		return -1;
	return st.f_type == BPF_FS_MAGIC;
}

/* The deepest existing ancestor of path (path itself if it exists). */
static void existing_ancestor(const char *path, char *out, size_t len)
{
	struct stat st;

	snprintf(out, len, "%s", path);
	while (stat(out, &st)) {
		char *slash = strrchr(out, '/');

		if (!slash || slash == out) {
			snprintf(out, len, "/");
			return;
		}
		*slash = '\0';
	}
}

int bpffs_prepare(const char *dir, char *err, size_t errlen)
{
	char anc[PATH_MAX];
	int under_default = !strncmp(dir, BPFFS_DEFAULT "/", strlen(BPFFS_DEFAULT) + 1) ||
			    !strcmp(dir, BPFFS_DEFAULT);

	existing_ancestor(dir, anc, sizeof(anc));
	if (is_bpffs(anc) != 1) {
		if (!under_default) {
			snprintf(err, errlen, "pin_path %s is not on a bpf filesystem "
				 "(mount one there: mount -t bpf bpf DIR)", dir);
			return -1;
		}
		if (mount("bpf", BPFFS_DEFAULT, "bpf", 0, "mode=0700")) {
			snprintf(err, errlen, "bpffs is not mounted at " BPFFS_DEFAULT
				 " and mounting it failed: %s (run as root, or mount it: "
				 "mount -t bpf bpf " BPFFS_DEFAULT ")", strerror(errno));
			return -1;
		}
	}
	if (mkdir_p(dir, 0700)) {
		snprintf(err, errlen, "pin_path %s: cannot create: %s", dir, strerror(errno));
		return -1;
	}
	if (is_bpffs(dir) != 1) {
		snprintf(err, errlen, "pin_path %s is not on a bpf filesystem", dir);
		return -1;
	}
	return 0;
}
