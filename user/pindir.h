/* SPDX-License-Identifier: MIT */
#ifndef XDPHC_PINDIR_H
#define XDPHC_PINDIR_H

#include <stddef.h>

/*
 * Open the (existing) pin directory, make sure nobody but the engine's user
 * can change what is pinned there, and lock it for the engine's life: one
 * engine per pin directory.  Returns the descriptor that holds the lock
 * (keep it open; closing it releases the lock), or -1 with one message in
 * err naming the directory and how to fix it.
 */
int pindir_lock(const char *dir, char *err, size_t errlen);

#endif
