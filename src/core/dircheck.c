/* SPDX-License-Identifier: MIT */
/*
 * dircheck.c - the directories above a named object must be ours: another
 * user who can write to one of them (or who owns a symbolic link on the way)
 * could rename our objects away and put theirs in their place, so such a
 * path is refused before anything is created or opened (sshd's StrictModes).
 */
#include "core/internal.h"

#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static int
dircheck_trusted(uid_t uid, uid_t allow)
{
	return uid == 0 || uid == geteuid() || (allow != 0 && uid == allow);
}

/* Every prefix of `dir` ("/a", "/a/b", ...), then `dir` itself: fn(prefix). */
static int
dircheck_walk(const char *dir, int (*fn)(const char *, uid_t), uid_t allow)
{
	char p[PATH_MAX];
	size_t n = strlen(dir);
	if (n >= sizeof(p))
		return ipk__err(-ENAMETOOLONG, "%s: path too long", dir);
	memcpy(p, dir, n + 1);
	for (size_t i = 1; i <= n; i++) {
		if (p[i] != '/' && p[i] != '\0')
			continue;
		char c = p[i];
		p[i] = '\0';
		int rv = fn(p, allow);
		p[i] = c;
		if (rv != 0)
			return rv;
	}
	return 0;
}

/* A component as written: a symbolic link must belong to a trusted uid. */
static int
dircheck_link(const char *p, uid_t allow)
{
	struct stat st;
	if (lstat(p, &st) < 0)
		return errno == ENOENT ? 1 : 0; /* the open will say so */
	if (S_ISLNK(st.st_mode) && !dircheck_trusted(st.st_uid, allow))
		return ipk__err(IPK_EFOREIGN,
		    "%s is a symbolic link of uid %u "
		    "(refusing to follow another user's link)",
		    p, (unsigned)st.st_uid);
	return 0;
}

/* A resolved directory: trusted owner, and nobody else may write to it
 * unless the sticky bit keeps them from renaming our entries. */
static int
dircheck_dir(const char *p, uid_t allow)
{
	struct stat st;
	if (stat(p[0] ? p : "/", &st) < 0)
		return 0;
	if (!S_ISDIR(st.st_mode))
		return 0; /* the open will say so */
	if (!dircheck_trusted(st.st_uid, allow))
		return ipk__err(-EACCES,
		    "directory %s belongs to uid %u, who "
		    "could replace the objects in it (use a directory of "
		    "ours or root's)",
		    p[0] ? p : "/", (unsigned)st.st_uid);
	if ((st.st_mode & (S_IWGRP | S_IWOTH)) && !(st.st_mode & S_ISVTX))
		return ipk__err(-EACCES,
		    "directory %s is writable by other "
		    "users (mode %04o, no sticky bit), who could replace the "
		    "objects in it",
		    p[0] ? p : "/", (unsigned)(st.st_mode & 07777));
	return 0;
}

int
ipk__dir_check(const char *path, uid_t allow)
{
	char dir[PATH_MAX], real[PATH_MAX];
	const char *slash = strrchr(path, '/');
	if (!slash || path[0] != '/')
		return 0;
	size_t n = (size_t)(slash - path);
	if (n >= sizeof(dir))
		return ipk__err(-ENAMETOOLONG, "%s: path too long", path);
	memcpy(dir, path, n);
	dir[n] = '\0';
	int rv = dircheck_walk(dir, dircheck_link, allow);
	if (rv != 0)
		return rv < 0 ? rv : 0;
	if (!n)
		return dircheck_dir("/", allow);
	if (!realpath(dir, real))
		return 0; /* missing or unreadable: the open will say so */
	rv = dircheck_walk(real, dircheck_dir, allow);
	return rv < 0 ? rv : 0;
}
