/* SPDX-License-Identifier: MIT */
/*
 * ledger.c - the run directory's per-channel entries: join and leave as an
 * endpoint, read one entry, walk them all (see ledger.h for the layout).
 */
#include "core/ledger.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#define LEDGER_VERSION 1
#define LEDGER_PAGE 4096
/* A listening-side endpoint (listener or accepted channel) of slot i also
 * holds byte LEDGER_LSIDE + i, taken before the slot itself: the kernel,
 * not a role written a moment after the claim, tells a leaving listener
 * whether another listening side is alive or joining. */
#define LEDGER_LSIDE LEDGER_PAGE

/* Two cache lines per slot, so two endpoints' counters never share one
 * (an adjacent-line prefetch included) and the hot path stays local. */
struct ledger_slot {
	_Alignas(128) int32_t pid;
	int32_t role;
	struct ipk_stats stats;
};

struct ledger_page {
	char magic[8];
	uint32_t version;
	uint32_t nslots;
	char scheme[16];
	char url[512];
	struct ledger_slot slot[IPK_OBJ_MAXEP];
	/* The file the listener bound (a unix socket: device, inode): what
	 * proves a socket file at the address is ipckit's. */
	uint64_t obj_dev, obj_ino;
};

_Static_assert(sizeof(struct ledger_page) <= LEDGER_PAGE, "ledger page");

static const char ledger_magic[8] = "IPKLEDG1";

struct ipk__ledger {
	int fd;
	int slot;
	int role;
	struct ledger_page *pg;
	char path[PATH_MAX];
};

/* The run directory; 0 or -errno. Made 0700 when it is ours to make. */
static int
ledger_dir(char *out, size_t n, int make)
{
	const char *env = getenv("IPK_RUNDIR");
	if (env && *env)
		snprintf(out, n, "%s", env);
	else
		snprintf(out, n, "/dev/shm/ipckit-%u", (unsigned)geteuid());
	if (make && mkdir(out, 0700) < 0 && errno != EEXIST)
		return -errno;
	struct stat st;
	if (lstat(out, &st) < 0)
		return -errno;
	if (!S_ISDIR(st.st_mode) || st.st_uid != geteuid() ||
	    (st.st_mode & 0022))
		return -EPERM;
	return 0;
}

/* "scheme-<fnv1a hex>" of the address without options. */
static void
ledger_name(const struct ipk__url *u, char *out, size_t n)
{
	char key[PATH_MAX + 64];
	snprintf(key, sizeof(key), "%s://%s%s%s%s", u->scheme, u->host,
	    *u->port ? ":" : "", u->port, u->path);
	uint64_t h = 0xcbf29ce484222325ull;
	for (const unsigned char *p = (const unsigned char *)key; *p; p++)
		h = (h ^ *p) * 0x100000001b3ull;
	snprintf(out, n, "%s-%016llx", u->scheme, (unsigned long long)h);
}

static int
ledger_path(const struct ipk__url *u, char *out, size_t n, int make)
{
	char dir[PATH_MAX - 64], name[64];
	int rv = ledger_dir(dir, sizeof(dir), make);
	if (rv < 0)
		return rv;
	ledger_name(u, name, sizeof(name));
	snprintf(out, n, "%s/%s", dir, name);
	return 0;
}

static int
ledger_valid(const struct ledger_page *pg)
{
	return !memcmp(pg->magic, ledger_magic, 8) &&
	    pg->version == LEDGER_VERSION && pg->nslots == IPK_OBJ_MAXEP &&
	    memchr(pg->scheme, 0, sizeof(pg->scheme)) &&
	    memchr(pg->url, 0, sizeof(pg->url));
}

static void
ledger_unlock(int fd, int byte)
{
	struct flock fl = {.l_type = F_UNLCK,
	    .l_whence = SEEK_SET,
	    .l_start = byte,
	    .l_len = 1};
	(void)fcntl(fd, F_OFD_SETLK, &fl);
}

/* A new listener forgets the slots of endpoints that are gone: each is
 * cleared under its own lock, so a joining endpoint is never wiped. */
static void
ledger_sweep(struct ipk__ledger *g)
{
	for (int i = 0; i < IPK_OBJ_MAXEP; i++) {
		if (i == g->slot || ipk__live_take(g->fd, i) != 0)
			continue;
		memset(&g->pg->slot[i], 0, sizeof(g->pg->slot[i]));
		ledger_unlock(g->fd, i);
	}
}

struct ipk__ledger *
ipk__ledger_join(
    const struct ipk__url *u, const char *url, int role, unsigned mode)
{
	/* Only the listener creates the entry; one it created and could not
	 * fill is removed again. */
	int listener = role == IPK_ROLE_LISTENER, made = 0;
	struct ipk__ledger *g = ipk__calloc(1, sizeof(*g));
	if (!g)
		return NULL;
	g->fd = -1;
	g->role = role;
	if (ledger_path(u, g->path, sizeof(g->path), listener) < 0)
		goto err;
	int fl = O_RDWR | O_NOFOLLOW | O_CLOEXEC;
	mode_t m = (mode_t)(mode & 0666) | 0600;
	if (listener) {
		g->fd = open(g->path, fl | O_CREAT | O_EXCL, m);
		made = g->fd >= 0;
	}
	if (g->fd < 0)
		g->fd = open(g->path, fl);
	struct stat st;
	if (g->fd < 0 || fstat(g->fd, &st) < 0 || !S_ISREG(st.st_mode) ||
	    st.st_uid != geteuid())
		goto err;
	/* The page is allocated, not just sized: a full /dev/shm must fail
	 * here, not raise SIGBUS at the first store through the mapping. */
	if (st.st_size != LEDGER_PAGE) {
		if (!listener || posix_fallocate(g->fd, 0, LEDGER_PAGE) != 0)
			goto err;
	}
	g->pg = mmap(
	    NULL, LEDGER_PAGE, PROT_READ | PROT_WRITE, MAP_SHARED, g->fd, 0);
	if (g->pg == MAP_FAILED) {
		g->pg = NULL;
		goto err;
	}
	if (role == IPK_ROLE_LISTENER) {
		memset(g->pg->url, 0, sizeof(g->pg->url));
		snprintf(g->pg->url, sizeof(g->pg->url), "%s", url);
		snprintf(g->pg->scheme, sizeof(g->pg->scheme), "%s", u->scheme);
		g->pg->version = LEDGER_VERSION;
		g->pg->nslots = IPK_OBJ_MAXEP;
		memcpy(g->pg->magic, ledger_magic, 8);
	} else if (!ledger_valid(g->pg)) {
		goto err;
	}
	/* Empty slots first, so a dead endpoint stays visible as long as
	 * there is room. */
	int lside = role != IPK_ROLE_DIALER;
	g->slot = -1;
	for (int pass = 0; pass < 2 && g->slot < 0; pass++)
		for (int i = 0; i < IPK_OBJ_MAXEP && g->slot < 0; i++) {
			if (!pass && g->pg->slot[i].pid != 0)
				continue;
			if (lside && ipk__live_take(g->fd, LEDGER_LSIDE + i))
				continue;
			if (ipk__live_take(g->fd, i) == 0)
				g->slot = i;
			else if (lside)
				ledger_unlock(g->fd, LEDGER_LSIDE + i);
		}
	if (g->slot < 0)
		goto err;
	struct ledger_slot *s = &g->pg->slot[g->slot];
	memset(&s->stats, 0, sizeof(s->stats));
	s->role = role;
	s->pid = (int32_t)getpid();
	if (role == IPK_ROLE_LISTENER)
		ledger_sweep(g);
	return g;
err:
	if (g->pg)
		munmap(g->pg, LEDGER_PAGE);
	if (made)
		(void)unlink(g->path);
	ipk__close_fd(&g->fd);
	ipk__free(g);
	return NULL;
}

struct ipk_stats *
ipk__ledger_stats(struct ipk__ledger *g)
{
	return &g->pg->slot[g->slot].stats;
}

void
ipk__ledger_leave(struct ipk__ledger *g, int keep)
{
	if (!g)
		return;
	/* DROP: the transport removed the channel's objects itself (a
	 * reader that drained what a closed listener left), so the entry
	 * goes whoever else has not yet left it: a listening side that is
	 * still closing may have decided to keep it a moment before. */
	int drop = keep == IPK__LEDGER_DROP;
	int last = drop || (g->role != IPK_ROLE_DIALER && !keep);
	/* Our own locks never conflict with our queries, so only other
	 * endpoints' slots can show as held. */
	for (int i = 0; last && !drop && i < IPK_OBJ_MAXEP; i++)
		if (i != g->slot &&
		    ipk__live_held(g->fd, LEDGER_LSIDE + i) == 1)
			last = 0;
	if (last) {
		struct stat a, b;
		if (fstat(g->fd, &a) == 0 && stat(g->path, &b) == 0 &&
		    a.st_ino == b.st_ino && a.st_dev == b.st_dev)
			(void)unlink(g->path);
	}
	munmap(g->pg, LEDGER_PAGE);
	ipk__close_fd(&g->fd);
	ipk__free(g);
}

void
ipk__ledger_set_obj(struct ipk__ledger *g, const struct stat *st)
{
	if (!g)
		return;
	__atomic_store_n(
	    &g->pg->obj_dev, (uint64_t)st->st_dev, __ATOMIC_RELAXED);
	__atomic_store_n(
	    &g->pg->obj_ino, (uint64_t)st->st_ino, __ATOMIC_RELAXED);
}

int
ipk__ledger_has_obj(struct ipk__ledger *g, const struct stat *st)
{
	if (!g)
		return 0;
	uint64_t dev = __atomic_load_n(&g->pg->obj_dev, __ATOMIC_RELAXED);
	uint64_t ino = __atomic_load_n(&g->pg->obj_ino, __ATOMIC_RELAXED);
	return (dev || ino) && dev == (uint64_t)st->st_dev &&
	    ino == (uint64_t)st->st_ino;
}

int
ipk__ledger_other_lside(struct ipk__ledger *g)
{
	for (int i = 0; g && i < IPK_OBJ_MAXEP; i++)
		if (i != g->slot &&
		    ipk__live_held(g->fd, LEDGER_LSIDE + i) != 0)
			return 1; /* alive, or cannot tell */
	return 0;
}

int
ipk__ledger_obj_is(const struct ipk__url *u, const struct stat *st)
{
	char path[PATH_MAX];
	struct ledger_page pg;
	if (ledger_path(u, path, sizeof(path), 0) < 0)
		return 0;
	int fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		return 0;
	int ok = pread(fd, &pg, sizeof(pg), 0) == (ssize_t)sizeof(pg) &&
	    ledger_valid(&pg) && (pg.obj_dev || pg.obj_ino) &&
	    pg.obj_dev == (uint64_t)st->st_dev &&
	    pg.obj_ino == (uint64_t)st->st_ino;
	ipk__close_fd(&fd);
	return ok;
}

/* Read an open entry into o; 0 or -ENOENT when it is not one. */
static int
ledger_read_fd(int fd, struct ipk_objinfo *o)
{
	struct ledger_page pg;
	if (pread(fd, &pg, sizeof(pg), 0) != (ssize_t)sizeof(pg) ||
	    !ledger_valid(&pg))
		return -ENOENT;
	o->registered = 1;
	snprintf(o->url, sizeof(o->url), "%s", pg.url);
	snprintf(o->scheme, sizeof(o->scheme), "%s", pg.scheme);
	o->nep = o->nalive = 0;
	for (int i = 0; i < IPK_OBJ_MAXEP; i++) {
		const struct ledger_slot *s = &pg.slot[i];
		if (s->pid <= 0 || s->role < IPK_ROLE_LISTENER ||
		    s->role > IPK_ROLE_DIALER)
			continue;
		struct ipk_endpoint *e = &o->ep[o->nep++];
		e->pid = s->pid;
		e->role = s->role;
		e->alive = ipk__live_held(fd, i) == 1;
		e->stats = s->stats;
		e->lag = -1;
		o->nalive += e->alive;
	}
	return 0;
}

int
ipk__ledger_read(const struct ipk__url *u, struct ipk_objinfo *o)
{
	char path[PATH_MAX];
	if (ledger_path(u, path, sizeof(path), 0) < 0)
		return -ENOENT;
	int fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		return -ENOENT;
	int rv = ledger_read_fd(fd, o);
	ipk__close_fd(&fd);
	return rv;
}

int
ipk__ledger_drop(const struct ipk__url *u)
{
	char path[PATH_MAX];
	if (ledger_path(u, path, sizeof(path), 0) < 0)
		return -ENOENT;
	return unlink(path) < 0 ? -errno : 0;
}

/* Every entry of one directory. */
static int
ledger_walk_dir(const char *dir, int (*fn)(const char *, void *), void *arg)
{
	DIR *d = opendir(dir);
	if (!d)
		return 0;
	/* An entry counts only when the directory's owner wrote it: the URL
	 * it names is what ipckit gc may remove. */
	struct stat ds;
	int rv = fstat(dirfd(d), &ds) < 0 ? -errno : 0;
	struct dirent *de;
	while (rv == 0 && (de = readdir(d))) {
		if (de->d_name[0] == '.')
			continue;
		int fd = openat(dirfd(d), de->d_name,
		    O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK);
		if (fd < 0)
			continue;
		struct ipk_objinfo *o = ipk__calloc(1, sizeof(*o));
		if (!o) {
			ipk__close_fd(&fd);
			rv = -ENOMEM;
			break;
		}
		struct stat st;
		if (fstat(fd, &st) == 0 && S_ISREG(st.st_mode) &&
		    st.st_uid == ds.st_uid && ledger_read_fd(fd, o) == 0)
			rv = fn(o->url, arg);
		ipk__close_fd(&fd);
		ipk__free(o);
	}
	closedir(d);
	return rv;
}

int
ipk__ledger_walk(int (*fn)(const char *url, void *arg), void *arg)
{
	const char *env = getenv("IPK_RUNDIR");
	if (env && *env)
		return ledger_walk_dir(env, fn, arg);
	DIR *d = opendir("/dev/shm");
	if (!d)
		return -errno;
	int rv = 0;
	struct dirent *de;
	char path[PATH_MAX];
	while (rv == 0 && (de = readdir(d))) {
		if (strncmp(de->d_name, "ipckit-", 7) != 0)
			continue;
		snprintf(path, sizeof(path), "/dev/shm/%s", de->d_name);
		rv = ledger_walk_dir(path, fn, arg);
	}
	closedir(d);
	return rv;
}
