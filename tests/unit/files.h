/* SPDX-License-Identifier: MIT */
#ifndef XDPHC_UNIT_FILES_H
#define XDPHC_UNIT_FILES_H

#include <stddef.h>

/*
 * Files for the suites that read them (the state file, configs to reload):
 * in one temporary directory, removed with what is in it (and NAME.tmp) by
 * files_cleanup().  files_write() gives the file's path, or NULL when it
 * could not write it.  A path returned is good until the next call.
 */
const char *files_write(const char *name, const char *text);
/* The path name would have in the directory (the file need not exist). */
const char *files_path(const char *name);
void files_cleanup(void);

#endif
