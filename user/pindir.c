// SPDX-License-Identifier: MIT
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>

#include "pindir.h"

/*
 * Consumers (a load balancer) trust what they find under pin_path.  Whoever
 * can rename, remove or create entries in the pin directory, or in one of
 * the directories above it, could put their own maps in its place: bpffs is
 * often mounted 1777, so an unprivileged user can create /sys/fs/bpf/xdphc
 * before the engine first runs.
 */
static bool trusted_uid(uid_t uid)
{
	return uid == 0 || uid == geteuid();
}

/* Writable by group or others, and without the sticky bit that stops renames. */
static bool open_to_others(const struct stat *st)
{
	return S_ISDIR(st->st_mode) && (st->st_mode & (S_IWGRP | S_IWOTH)) &&
	       !(st->st_mode & S_ISVTX);
}

/*
 * Every directory above path, up to "/".  lstat: a symlink on the way is
 * judged by its own owner; pindir_lock() also checks the resolved path.
 */
static int check_parents(const char *dir, const char *path, char *err, size_t errlen)
{
	char buf[PATH_MAX];
	struct stat st;
	char *slash;
	size_t len;

	if (snprintf(buf, sizeof(buf), "%s", path) >= (int)sizeof(buf)) {
		snprintf(err, errlen, "pin_path %s: path too long", dir);
		return -1;
	}
	/* "/sys/fs/bpf/xdphc/": the directory itself is not one above it. */
	for (len = strlen(buf); len > 1 && buf[len - 1] == '/'; len--)
		buf[len - 1] = '\0';
	while ((slash = strrchr(buf, '/'))) {
		bool root = slash == buf;

		slash[root ? 1 : 0] = '\0';
		if (lstat(buf, &st)) {
			snprintf(err, errlen, "pin_path %s: %s: %s", dir, buf, strerror(errno));
			return -1;
		}
		if (!trusted_uid(st.st_uid)) {
			snprintf(err, errlen, "pin_path %s: %s above it is owned by uid %u (mode "
				 "%04o), who could replace the pin directory; use a pin_path "
				 "whose parent directories only root or uid %u can change", dir,
				 buf, (unsigned int)st.st_uid, (unsigned int)(st.st_mode & 07777),
				 (unsigned int)geteuid());
			return -1;
		}
		if (open_to_others(&st)) {
			snprintf(err, errlen, "pin_path %s: %s above it is writable by group or "
				 "others without the sticky bit (owner uid %u, mode %04o), so they "
				 "could replace the pin directory; chmod go-w %s (or +t)", dir, buf,
				 (unsigned int)st.st_uid, (unsigned int)(st.st_mode & 07777), buf);
			return -1;
		}
		if (root)
			break;
	}
	return 0;
}

/* The pid that holds the flock on st's inode, from /proc/locks; 0 if unknown. */
static int lock_holder(const struct stat *st)
{
	FILE *f = fopen("/proc/locks", "re");
	unsigned int maj, min;
	unsigned long ino;
	char line[256], type[16];
	int pid, found = 0;

	if (!f)
		return 0;
	/* "1: FLOCK  ADVISORY  WRITE 4242 00:28:54297 0 EOF"; waiters have "->" first. */
	while (!found && fgets(line, sizeof(line), f))
		if (sscanf(line, "%*d: %15s %*s %*s %d %x:%x:%lu", type, &pid, &maj, &min,
			   &ino) == 5 && !strcmp(type, "FLOCK") && maj == major(st->st_dev) &&
		    min == minor(st->st_dev) && ino == st->st_ino)
			found = pid;
	fclose(f);
	return found > 0 ? found : 0;
}

static int check_dir(const char *dir, const struct stat *st, char *err, size_t errlen)
{
	unsigned int uid = (unsigned int)st->st_uid, mode = (unsigned int)(st->st_mode & 07777);

	if (st->st_uid != geteuid()) {
		snprintf(err, errlen, "pin_path %s is owned by uid %u (mode %04o), not by uid %u "
			 "that runs the engine: its owner could replace the maps consumers read; "
			 "remove it (rm -r %s) and let the engine create it, or chown %u %s",
			 dir, uid, mode, (unsigned int)geteuid(), dir, (unsigned int)geteuid(), dir);
		return -1;
	}
	if (st->st_mode & (S_IWGRP | S_IWOTH)) {
		snprintf(err, errlen, "pin_path %s is writable by group or others (owner uid %u, "
			 "mode %04o): they could replace the maps consumers read; chmod go-w %s",
			 dir, uid, mode, dir);
		return -1;
	}
	return 0;
}

int pindir_lock(const char *dir, char *err, size_t errlen)
{
	char real[PATH_MAX];
	struct stat st, now;
	int fd, pid;

	if (check_parents(dir, dir, err, errlen))
		return -1;
	if (!realpath(dir, real)) {
		snprintf(err, errlen, "pin_path %s: %s", dir, strerror(errno));
		return -1;
	}
	if (strcmp(real, dir) && check_parents(dir, real, err, errlen))
		return -1;
	fd = open(dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0) {
		/* O_DIRECTORY on a symlink says ENOTDIR before O_NOFOLLOW says ELOOP. */
		if ((errno == ELOOP || errno == ENOTDIR) && !lstat(dir, &st) &&
		    S_ISLNK(st.st_mode))
			snprintf(err, errlen, "pin_path %s is a symbolic link; name the "
				 "directory itself", dir);
		else
			snprintf(err, errlen, "pin_path %s: %s", dir, strerror(errno));
		return -1;
	}
	if (fstat(fd, &st)) {
		snprintf(err, errlen, "pin_path %s: %s", dir, strerror(errno));
		goto err;
	}
	if (check_dir(dir, &st, err, errlen))
		goto err;
	/*
	 * Held until the engine exits (flock on a bpffs directory works: the
	 * VFS implements it for every filesystem).  Taken before anything is
	 * attached or pinned, so two engines started together cannot both pass.
	 */
	if (flock(fd, LOCK_EX | LOCK_NB)) {
		if (errno != EWOULDBLOCK) {
			snprintf(err, errlen, "pin_path %s: cannot lock it: %s", dir,
				 strerror(errno));
		} else if ((pid = lock_holder(&st))) {
			snprintf(err, errlen, "another xdphc engine (pid %d) is running with "
				 "pin_path %s", pid, dir);
		} else {
			snprintf(err, errlen, "another xdphc engine is running with pin_path %s "
				 "(it holds the lock on that directory)", dir);
		}
		goto err;
	}
	/*
	 * An engine whose start failed removes the directories it created
	 * before it lets go of the lock: the one locked must still be at dir.
	 */
	if (stat(dir, &now) || now.st_dev != st.st_dev || now.st_ino != st.st_ino) {
		snprintf(err, errlen, "pin_path %s was removed or replaced while the engine "
			 "started; start it again", dir);
		goto err;
	}
	return fd;
err:
	close(fd);
	return -1;
}
