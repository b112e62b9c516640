/* SPDX-License-Identifier: MIT */
/*
 * own.c - the creation record of named channels (see own.h).
 */
#include "core/own.h"
#include "core/attach.h"
#include "core/testhook.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#define OWN_VERSION 1

struct own_slot {
	uint64_t a, b;
};

struct own_rec {
	char magic[8];
	uint32_t version;
	uint32_t nslots;
	char scheme[16];
	struct own_slot slot[IPK__OWN_SLOTS];
};

static const char own_magic[8] = "IPKOWN01";

int
ipk__foreign_err(const char *what, const char *why)
{
	return ipk__err(IPK_EFOREIGN,
	    "%s exists and ipckit did not make it (%s): it is left as it "
	    "is; remove it yourself if nothing uses it, or choose another "
	    "name",
	    what, why);
}

/* Read and check the record of an open lock file: 0 or IPK_EFOREIGN. */
static int
own_read(int fd, const char *path, const char *scheme, struct own_rec *r)
{
	memset(r, 0, sizeof(*r));
	ssize_t n = pread(fd, r, sizeof(*r), IPK__OWN_OFF);
	if (IPK__CHECK("own.rec",
		n != (ssize_t)sizeof(*r) ||
		    memcmp(r->magic, own_magic, sizeof(own_magic)) != 0 ||
		    r->version != OWN_VERSION || r->nslots != IPK__OWN_SLOTS))
		return ipk__foreign_err(path, "no ipckit record in it");
	if (IPK__CHECK("own.scheme",
		strncmp(r->scheme, scheme, sizeof(r->scheme)) != 0))
		return ipk__foreign_err(
		    path, "it is the lock file of another kind of channel");
	return 0;
}

/* An existing lock file: open it without following or blocking, check. */
static int
own_open_existing(const char *path, const char *scheme, uid_t allow, int *fd)
{
	*fd = open(path, O_RDWR | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
	if (*fd < 0) {
		int e = errno;
		if (e == ENOENT)
			return -ENOENT;
		if (e == ELOOP)
			return ipk__foreign_err(path, "a symbolic link");
		if (e == ENXIO || e == EISDIR)
			return ipk__foreign_err(path, "not a regular file");
		return ipk__err(-e, "cannot open %s: %s", path, strerror(e));
	}
	struct stat st;
	struct own_rec r;
	int rv;
	if (fstat(*fd, &st) < 0)
		rv = -errno;
	else if (!S_ISREG(st.st_mode))
		rv = ipk__foreign_err(path, "not a regular file");
	else if (IPK__CHECK("own.uid", !ipk__uid_ours(st.st_uid, allow)))
		rv = ipk__owner_err(path, st.st_uid);
	else
		rv = own_read(*fd, path, scheme, &r);
	if (rv < 0)
		ipk__close_fd(fd);
	return rv;
}

/* Link the unnamed file `fd` to `path`; fails with EEXIST when taken. */
static int
own_link_tmpfile(int fd, const char *path)
{
	char proc[64];
	snprintf(proc, sizeof(proc), "/proc/self/fd/%d", fd);
	return linkat(AT_FDCWD, proc, AT_FDCWD, path, AT_SYMLINK_FOLLOW);
}

/* Where O_TMPFILE is not supported: a hidden temporary name beside
 * `path`, linked to it, then unlinked. */
static int
own_tmp_named(const char *path, unsigned mode, char *tmp, size_t n)
{
	const char *slash = strrchr(path, '/');
	int dlen = slash ? (int)(slash - path + 1) : 0;
	for (int i = 0; i < 8; i++) {
		uint32_t r = 0;
		if (ipk__random_bytes(&r, sizeof(r)) < 0)
			return -EIO;
		if (snprintf(tmp, n, "%.*s.ipk-tmp.%08x", dlen, path, r) >=
		    (int)n)
			return -ENAMETOOLONG;
		int fd = open(tmp,
		    O_RDWR | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC,
		    (mode_t)(mode & 0600));
		if (fd >= 0 || errno != EEXIST)
			return fd >= 0 ? fd : -errno;
	}
	return -EEXIST;
}

int
ipk__create_whole(const char *path, unsigned mode,
    int (*init)(int fd, void *arg), void *arg, int *fd)
{
	char dir[PATH_MAX], tmp[PATH_MAX + 32];
	const char *slash = strrchr(path, '/');
	int dlen = slash ? (int)(slash - path) : 0;
	snprintf(dir, sizeof(dir), "%.*s", dlen ? dlen : 1, dlen ? path : ".");
	tmp[0] = '\0';
	*fd = open(dir, O_TMPFILE | O_RDWR | O_CLOEXEC, (mode_t)(mode & 0600));
	if (*fd < 0 &&
	    (errno == EOPNOTSUPP || errno == EISDIR || errno == EINVAL ||
		errno == ENOENT)) {
		int r = own_tmp_named(path, mode, tmp, sizeof(tmp));
		if (r < 0)
			return ipk__err(r, "cannot create a file beside %s: %s",
			    path, strerror(-r));
		*fd = r;
	}
	if (*fd < 0)
		return ipk__err(
		    -errno, "cannot create %s: %s", path, strerror(errno));
	int rv = init(*fd, arg);
	if (rv == 0 && fchmod(*fd, (mode_t)(mode & 0777)) < 0)
		rv = ipk__err(-errno, "cannot set the mode of %s: %s", path,
		    strerror(errno));
	if (rv == 0 &&
	    (tmp[0] ? link(tmp, path) : own_link_tmpfile(*fd, path)) < 0)
		rv = errno == EEXIST ? -EEXIST
				     : ipk__err(-errno, "cannot create %s: %s",
					   path, strerror(errno));
	if (tmp[0])
		(void)unlink(tmp);
	if (rv < 0)
		ipk__close_fd(fd);
	return rv < 0 ? rv : 1;
}

struct own_init_arg {
	const char *path, *scheme;
};

static int
own_init(int fd, void *arg)
{
	const struct own_init_arg *a = arg;
	struct own_rec r;
	memset(&r, 0, sizeof(r));
	memcpy(r.magic, own_magic, sizeof(own_magic));
	r.version = OWN_VERSION;
	r.nslots = IPK__OWN_SLOTS;
	snprintf(r.scheme, sizeof(r.scheme), "%s", a->scheme);
	if (pwrite(fd, &r, sizeof(r), IPK__OWN_OFF) != (ssize_t)sizeof(r))
		return ipk__err(-EIO, "cannot write %s", a->path);
	return 0;
}

int
ipk__own_open(const char *path, const char *scheme, int create, unsigned mode,
    uid_t allow, int *fd)
{
	*fd = -1;
	/* A listener closing just now may remove the file between our two
	 * looks: try again a few times. */
	for (int i = 0; i < 8; i++) {
		int rv = own_open_existing(path, scheme, allow, fd);
		if (rv != -ENOENT)
			return rv;
		if (!create)
			return -ENOENT;
		struct own_init_arg a = {path, scheme};
		rv = ipk__create_whole(path, mode, own_init, &a, fd);
		if (rv != -EEXIST)
			return rv;
	}
	return ipk__err(-EAGAIN, "%s keeps changing under us", path);
}

int
ipk__own_put(int fd, int slot, uint64_t a, uint64_t b)
{
	if (slot < 0 || slot >= IPK__OWN_SLOTS)
		return -EINVAL;
	struct own_slot s = {a, b};
	off_t off = IPK__OWN_OFF + (off_t)offsetof(struct own_rec, slot) +
	    (off_t)slot * (off_t)sizeof(s);
	return pwrite(fd, &s, sizeof(s), off) == (ssize_t)sizeof(s) ? 0 : -EIO;
}

int
ipk__own_put_st(int fd, int slot, const struct stat *st)
{
	return st
	    ? ipk__own_put(fd, slot, (uint64_t)st->st_dev, (uint64_t)st->st_ino)
	    : ipk__own_put(fd, slot, 0, 0);
}

int
ipk__own_has(int fd, int slot, uint64_t a, uint64_t b)
{
	struct own_slot s;
	if (slot < 0 || slot >= IPK__OWN_SLOTS || (a == 0 && b == 0))
		return 0;
	off_t off = IPK__OWN_OFF + (off_t)offsetof(struct own_rec, slot) +
	    (off_t)slot * (off_t)sizeof(s);
	if (pread(fd, &s, sizeof(s), off) != (ssize_t)sizeof(s))
		return 0;
	return s.a == a && s.b == b;
}

int
ipk__own_has_st(int fd, int slot, const struct stat *st)
{
	return ipk__own_has(
	    fd, slot, (uint64_t)st->st_dev, (uint64_t)st->st_ino);
}

int
ipk__own_check_path(int fd, int slot, const char *path, const char *what)
{
	struct stat st;
	if (lstat(path, &st) < 0)
		return errno == ENOENT
		    ? 0
		    : ipk__err(-errno, "%s: %s", path, strerror(errno));
	if (ipk__own_has_st(fd, slot, &st))
		return 1;
	char why[96];
	snprintf(
	    why, sizeof(why), "not the %s its channel's record names", what);
	return ipk__foreign_err(path, why);
}

int
ipk__own_unlink(int fd, int slot, const char *path)
{
	struct stat st;
	int done = 0;
	if (lstat(path, &st) == 0 && ipk__own_has_st(fd, slot, &st))
		done = unlink(path) == 0;
	(void)ipk__own_put(fd, slot, 0, 0);
	return done;
}

int
ipk__own_unlink_self(int fd, const char *path)
{
	struct stat a, b;
	if (fstat(fd, &a) == 0 && lstat(path, &b) == 0 &&
	    a.st_ino == b.st_ino && a.st_dev == b.st_dev)
		return unlink(path) == 0;
	return 0;
}

int
ipk__own_take(const char *path, const char *scheme, unsigned mode, uid_t allow,
    const char *what, int *fd, int *fresh)
{
	for (int attempt = 0; attempt < 8; attempt++) {
		int rv = ipk__own_open(path, scheme, 1, mode, allow, fd);
		if (rv < 0)
			return rv;
		*fresh = rv == 1;
		if ((rv = ipk__att_own(*fd, what)) < 0) {
			/* Made by us a moment ago, for nothing (unless another
			 * listener got it first: then it is theirs). */
			if (*fresh && rv != -EADDRINUSE)
				(void)ipk__own_unlink_self(*fd, path);
			ipk__close_fd(fd);
			return rv;
		}
		struct stat a, b;
		if (lstat(path, &a) == 0 && fstat(*fd, &b) == 0 &&
		    a.st_ino == b.st_ino && a.st_dev == b.st_dev) {
			if (fchmod(*fd, (mode_t)(mode & 0777)) == 0)
				return 0;
			rv = ipk__err(-errno, "cannot set the mode of %s: %s",
			    path, strerror(errno));
			if (*fresh)
				(void)ipk__own_unlink_self(*fd, path);
			ipk__close_fd(fd);
			return rv;
		}
		ipk__close_fd(fd); /* removed under us: start again */
	}
	return ipk__err(-EAGAIN, "%s keeps changing under us", path);
}
