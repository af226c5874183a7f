// SPDX-License-Identifier: MIT
#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <xdp/libxdp.h>

#include "log.h"
#include "owner.h"

/* Does process pid hold an fd to the BPF program with this id? */
static bool pid_holds_prog(const char *pid, uint32_t id)
{
	char path[PATH_MAX], link[32], line[64];
	struct dirent *f;
	bool found = false;
	unsigned int v;
	DIR *fds;
	FILE *fi;
	ssize_t n;

	snprintf(path, sizeof(path), "/proc/%s/fd", pid);
	fds = opendir(path);
	if (!fds)
		return false;
	while (!found && (f = readdir(fds))) {
		snprintf(path, sizeof(path), "/proc/%s/fd/%s", pid, f->d_name);
		n = readlink(path, link, sizeof(link) - 1);
		if (n < 0)
			continue;
		link[n] = '\0';
		if (strcmp(link, "anon_inode:bpf-prog"))
			continue;
		snprintf(path, sizeof(path), "/proc/%s/fdinfo/%s", pid, f->d_name);
		fi = fopen(path, "r");
		if (!fi)
			continue;
		while (fgets(line, sizeof(line), fi))
			if (sscanf(line, "prog_id: %u", &v) == 1 && v == id)
				found = true;
		fclose(fi);
	}
	closedir(fds);
	return found;
}

/*
 * The pid of a live process other than us that holds the program open (an
 * engine that is still running), or 0: an attached program nobody holds was
 * left behind by an engine that died.
 */
static pid_t prog_holder(uint32_t id)
{
	DIR *proc = opendir("/proc");
	pid_t pid, found = 0, self = getpid();
	struct dirent *d;

	if (!proc)
		return 0;
	while (!found && (d = readdir(proc))) {
		pid = (pid_t)atoi(d->d_name);
		if (pid > 0 && pid != self && pid_holds_prog(d->d_name, id))
			found = pid;
	}
	closedir(proc);
	return found;
}

static bool is_probe_rx(struct xdp_program *prog)
{
	return prog && !strcmp(xdp_program__name(prog), "probe_rx");
}

/* The probe_rx attached to the interface of mp, alone or in the dispatcher, or NULL. */
static struct xdp_program *find_probe_rx(struct xdp_multiprog *mp)
{
	struct xdp_program *prog, *ours = NULL;

	for (prog = xdp_multiprog__next_prog(NULL, mp); prog;
	     prog = xdp_multiprog__next_prog(prog, mp))
		if (is_probe_rx(prog))
			ours = prog;
	prog = xdp_multiprog__main_prog(mp);
	if (xdp_multiprog__is_legacy(mp) && is_probe_rx(prog))
		ours = prog;
	return ours;
}

static void detach_probe_rx(struct xdp_multiprog *mp, int ifindex)
{
	struct xdp_program *prog;

	if (xdp_multiprog__is_legacy(mp)) {
		xdp_multiprog__detach(mp);
		return;
	}
	for (prog = xdp_multiprog__next_prog(NULL, mp); prog;
	     prog = xdp_multiprog__next_prog(prog, mp))
		if (is_probe_rx(prog))
			xdp_program__detach(prog, ifindex, xdp_multiprog__attach_mode(mp), 0);
}

int owner_clear_stale(int ifindex, char *err, size_t errlen)
{
	struct xdp_multiprog *mp = xdp_multiprog__get_from_ifindex(ifindex);
	struct xdp_program *ours;
	pid_t owner;

	if (libxdp_get_error(mp))
		return 0;
	ours = find_probe_rx(mp);
	if (!ours) {
		xdp_multiprog__close(mp);
		return 0;
	}
	/* Removing a running engine's probe_rx would blind it: refuse instead. */
	owner = prog_holder(xdp_program__id(ours));
	if (owner) {
		snprintf(err, errlen, "another xdphc engine (pid %d) is probing on this "
			 "interface; stop it first", (int)owner);
		xdp_multiprog__close(mp);
		return -EBUSY;
	}
	log_warn("removing a probe_rx left attached by an engine that did not stop cleanly");
	detach_probe_rx(mp, ifindex);
	xdp_multiprog__close(mp);
	return 1;
}
