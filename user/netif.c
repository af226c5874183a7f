// SPDX-License-Identifier: MIT
#include <arpa/inet.h>
#include <errno.h>
#include <ifaddrs.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <linux/magic.h>

#include "netif.h"

#define BPFFS_DEFAULT "/sys/fs/bpf"
#define SPORT_WANT 4096

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

int netif_default_source_ports(uint16_t *lo, uint16_t *hi, char *err, size_t errlen)
{
	const char *path = "/proc/sys/net/ipv4/ip_local_port_range";
	unsigned int a, b;
	FILE *f = fopen(path, "r");
	int n;

	if (!f) {
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		return -1;
	}
	n = fscanf(f, "%u %u", &a, &b);
	fclose(f);
	if (n != 2 || a > b || b > 65535) {
		snprintf(err, errlen, "%s: unexpected contents", path);
		return -1;
	}
	if (65535 - b >= 1024) {
		*lo = b + 1;
		*hi = b + (65535 - b > SPORT_WANT ? SPORT_WANT : 65535 - b);
		return 0;
	}
	if (a > 1024 + 1024) {
		*hi = a - 1;
		*lo = a - 1 - SPORT_WANT + 1 > 1024 ? a - SPORT_WANT : 1025;
		return 0;
	}
	snprintf(err, errlen,
		 "ip_local_port_range %u-%u leaves no free source port range; set source_ports",
		 a, b);
	return -1;
}

int netif_ipv4_forwarding(const char *ifname)
{
	char path[128];
	FILE *f;
	int v = -1;

	snprintf(path, sizeof(path), "/proc/sys/net/ipv4/conf/%s/forwarding", ifname);
	f = fopen(path, "r");
	if (!f)
		return -1;
	if (fscanf(f, "%d", &v) != 1)
		v = -1;
	fclose(f);
	return v > 0 ? 1 : v;
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
