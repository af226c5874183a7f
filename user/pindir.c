// SPDX-License-Identifier: MIT
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>

#include "pindir.h"

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

int pindir_lock(const char *dir, char *err, size_t errlen)
{
	struct stat st, now;
	int fd, pid;

	fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0) {
		snprintf(err, errlen, "pin_path %s: %s", dir, strerror(errno));
		return -1;
	}
	if (fstat(fd, &st)) {
		snprintf(err, errlen, "pin_path %s: %s", dir, strerror(errno));
		goto err;
	}
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
