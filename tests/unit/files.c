// SPDX-License-Identifier: MIT
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "files.h"

#define MAX_FILES 32

static char dir[PATH_MAX - 64];
static char paths[MAX_FILES][PATH_MAX];
static size_t n_paths;

const char *files_path(const char *name)
{
	static char path[PATH_MAX];

	if (!dir[0]) {
		snprintf(dir, sizeof(dir), "/tmp/xdphc-unit-XXXXXX");
		if (!mkdtemp(dir))
			return NULL;
	}
	snprintf(path, sizeof(path), "%s/%s", dir, name);
	for (size_t i = 0; i < n_paths; i++)
		if (!strcmp(paths[i], path))
			return path;
	if (n_paths < MAX_FILES)
		snprintf(paths[n_paths++], sizeof(paths[0]), "%s", path);
	return path;
}

const char *files_write(const char *name, const char *text)
{
	const char *path = files_path(name);
	FILE *f = path ? fopen(path, "w") : NULL;
	int bad;

	if (!f)
		return NULL;
	bad = fputs(text, f) < 0;
	bad |= fclose(f);
	return bad ? NULL : path;
}

void files_cleanup(void)
{
	char tmp[PATH_MAX + 8];

	for (size_t i = 0; i < n_paths; i++) {
		unlink(paths[i]);
		snprintf(tmp, sizeof(tmp), "%.*s.tmp", PATH_MAX - 1, paths[i]);
		unlink(tmp);
	}
	n_paths = 0;
	if (dir[0])
		rmdir(dir);
	dir[0] = '\0';
}
