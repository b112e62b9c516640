/* SPDX-License-Identifier: MIT */
/*
 * shm.c - POSIX shared memory, the article's fastest mechanism: a named
 * segment in /dev/shm holding a header and two rings (src/shm/ring.h), one
 * per direction, so a message costs no system call while both sides are
 * awake. docs/transports/shm.md tells the whole story.
 *
 * The segment's layout is in src/shm/segment.h, shared with memfd://.
 *
 * Liveness: every endpoint holds an OFD lock on one byte of its own open
 * file description of the segment (core/attach.h's map: OWNER the listener,
 * DIAL the dialer's channel, CHAN the listener side's channel). The kernel
 * drops it when the holder dies; a blocked call re-checks it every
 * IPK__SLICE_MS.
 *
 * Creation: the segment is made whole in an unnamed file and only then
 * linked to its name (core/own.h), so an object at the name that has no
 * ipckit header was never ipckit's: it is refused with IPK_EFOREIGN and left
 * as it is (a user's segment, however small, zeroed or busy).
 *
 * Removal: the listener side unlinks the segment when both the listener and
 * its channel are closed, unless ?keep=1 or unread messages remain for the
 * dialer: then the segment lingers ("data outlives the writer until read")
 * and the dialer that drains it after the listener is gone removes it.
 */
#include "core/attach.h"
#include "core/own.h"
#include "core/testhook.h"
#include "core/transport.h"
#include "shm/bcast.h"
#include "shm/segment.h"

#include <fcntl.h>
#include <limits.h>
#include <linux/futex.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#define SHM_NAME_MAX 200

struct shm_lst {
	struct ipk__seg seg;
	char name[SHM_NAME_MAX + 2];
};

struct shm_chan {
	struct ipk__ring_chan h;
	struct ipk__seg seg;
	int side; /* 0: listener side, 1: dialer */
	int bell_wr; /* the peer's doorbell FIFO, opened when first rung */
	uint32_t bell_wr_gen;
	char name[SHM_NAME_MAX + 2];
	char path[SHM_NAME_MAX + 16]; /* "/dev/shm/name", for sentences */
};

/* --- Names, options, segments --------------------------------------------- */

static int
shm_name(const struct ipk__url *u, char *out)
{
	const char *p = u->path;
	size_t n = strlen(p);
	if (*u->host || p[0] != '/' || n < 2 || n > SHM_NAME_MAX ||
	    strchr(p + 1, '/') || !strcmp(p, "/.") || !strcmp(p, "/.."))
		return ipk__err(-EINVAL,
		    "shm names look like shm:///name: one "
		    "component of 1 to %d bytes without '/'",
		    SHM_NAME_MAX - 1);
	memcpy(out, p, n + 1);
	return 0;
}

static int
shm_held(int fd, int byte)
{
	return ipk__live_held(fd, byte) == 1;
}

static void
shm_unlock(int fd, int byte)
{
	struct flock fl = {.l_type = F_UNLCK,
	    .l_whence = SEEK_SET,
	    .l_start = byte,
	    .l_len = 1};
	(void)fcntl(fd, F_OFD_SETLK, &fl);
}

/*
 * Check an opened segment before trusting it: owner, mode, size, header.
 * Maps it on success. 0, 1 when it is still being created (size 0 or magic
 * not yet stored), or a negative code with a sentence.
 */
static int
shm_seg_check(struct ipk__seg *g, const char *name, unsigned mode, uid_t allow)
{
	struct stat st;
	if (fstat(g->fd, &st) < 0)
		return -errno;
	if (!S_ISREG(st.st_mode))
		return ipk__err(IPK_EFOREIGN,
		    "/dev/shm%s is not a shared memory "
		    "object",
		    name);
	char where[SHM_NAME_MAX + 16];
	snprintf(where, sizeof(where), "/dev/shm%s", name);
	if (IPK__CHECK("shm.owner", !ipk__uid_ours(st.st_uid, allow)))
		return ipk__owner_err(where, st.st_uid);
	if (IPK__CHECK("shm.mode", (st.st_mode & 0777) & ~mode))
		return ipk__err(-EACCES,
		    "/dev/shm%s has mode %03o, wider than %03o "
		    "(?mode=)",
		    name, (unsigned)(st.st_mode & 0777), mode);
	return ipk__seg_map(g, st.st_size, where);
}

/* Is the doorbell at `path` the one the header `h` says `side` made? */
static int
shm_bell_recorded(const struct ipk__seg_hdr *h, int side, const char *path)
{
	struct stat st;
	uint64_t dev = __atomic_load_n(&h->bell[side].dev, __ATOMIC_RELAXED);
	uint64_t ino = __atomic_load_n(&h->bell[side].ino, __ATOMIC_RELAXED);
	return lstat(path, &st) == 0 && S_ISFIFO(st.st_mode) && (dev || ino) &&
	    (uint64_t)st.st_dev == dev && (uint64_t)st.st_ino == ino;
}

/* Unlink the doorbells the header names (and nothing else at their
 * names). */
static void
shm_unlink_bells(const struct ipk__seg_hdr *h, const char *name)
{
	char path[SHM_NAME_MAX + 32];
	for (int side = 0; h && side < 2; side++) {
		snprintf(path, sizeof(path), "/dev/shm%s.bell%d", name, side);
		if (shm_bell_recorded(h, side, path))
			(void)unlink(path);
	}
}

/* Unlink `name` if it still is the object we have open. */
static void
shm_unlink_ours(struct ipk__seg *g, const char *name)
{
	char path[SHM_NAME_MAX + 32];
	struct stat a, b;
	snprintf(path, sizeof(path), "/dev/shm%s", name);
	if (fstat(g->fd, &a) == 0 && stat(path, &b) == 0 &&
	    a.st_ino == b.st_ino && a.st_dev == b.st_dev)
		(void)shm_unlink(name);
	shm_unlink_bells(g->hdr, name);
}

/* The listener side is gone: remove the segment, or leave it for the
 * dialer when it holds messages the dialer has not read. Returns
 * IPK__LEFT_LINGER when it left it (its run-directory entry stays, so
 * `ipckit gc` finds it if no dialer ever comes), else 0. */
static unsigned char
shm_remove_or_linger(struct ipk__seg *g, const char *name)
{
	if (g->hdr && ipk__ring_pending(ipk__seg_ctl(g, 0), g->cap) > 0) {
		__atomic_store_n(&g->hdr->linger, 1, __ATOMIC_RELEASE);
		return IPK__LEFT_LINGER;
	}
	shm_unlink_ours(g, name);
	return 0;
}

/* --- Listener ---------------------------------------------------------------
 */

struct shm_create_arg {
	struct shm_lst *s;
	uint64_t cap;
	int wait;
};

/* Fill the unnamed file that becomes the segment (ipk__create_whole). */
static int
shm_create(int fd, void *arg)
{
	struct shm_create_arg *a = arg;
	struct ipk__seg *g = &a->s->seg;
	g->fd = fd;
	int rv = ipk__live_take(g->fd, IPK__LOCK_OWNER);
	if (rv < 0)
		return rv == IPK_EBUSYSIDE ? -EADDRINUSE : rv;
	char where[SHM_NAME_MAX + 16];
	snprintf(where, sizeof(where), "/dev/shm%s", a->s->name);
	return ipk__seg_create(g, a->cap, a->wait, where);
}

/* The name exists: 0 when we took over a stale segment, 1 when a broken
 * one was removed (create again), or a negative code. Only a segment with
 * ipckit's header is ever taken over or removed. */
static int
shm_reclaim(struct ipk_listener *l, struct shm_lst *s, int wait)
{
	struct ipk__seg *g = &s->seg;
	char where[SHM_NAME_MAX + 16];
	uint64_t magic = 0;
	struct stat st;
	snprintf(where, sizeof(where), "/dev/shm%s", s->name);
	g->fd =
	    shm_open(s->name, O_RDWR | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC, 0);
	if (g->fd < 0)
		return errno == ENOENT ? 1
		    : errno == ELOOP
		    ? ipk__foreign_err(where, "a symbolic link")
		    : ipk__err(-errno,
			  "%s exists and cannot be opened: "
			  "%s",
			  where, strerror(errno));
	if (fstat(g->fd, &st) < 0)
		return -errno;
	if (!S_ISREG(st.st_mode))
		return ipk__foreign_err(where, "not a shared memory object");
	if (!ipk__uid_ours(st.st_uid, l->allow_uid))
		return ipk__owner_err(where, st.st_uid);
	if (IPK__CHECK("shm.reclaim_magic",
		pread(g->fd, &magic, sizeof(magic), 0) !=
			(ssize_t)sizeof(magic) ||
		    magic != IPK__SEG_MAGIC))
		return ipk__foreign_err(where, "no ipckit header in it");
	int rv = ipk__live_take(g->fd, IPK__LOCK_OWNER);
	if (rv == IPK_EBUSYSIDE)
		return ipk__err(-EADDRINUSE,
		    "/dev/shm%s: a live listener holds it", s->name);
	if (rv < 0)
		return rv;
	rv = shm_seg_check(g, s->name, 0777, l->allow_uid);
	if (rv == 0) {
		(void)fchmod(g->fd, l->mode & 0777);
		__atomic_store_n(
		    &g->hdr->wait, (uint32_t)wait, __ATOMIC_RELAXED);
		__atomic_store_n(&g->hdr->linger, 0, __ATOMIC_RELAXED);
		return 0;
	}
	if (rv == -EACCES || rv == IPK_EFOREIGN ||
	    shm_held(g->fd, IPK__LOCK_DIAL) || shm_held(g->fd, IPK__LOCK_CHAN))
		return rv == 1 ? ipk__err(IPK_ECORRUPT,
				     "/dev/shm%s: half-made "
				     "segment still in use",
				     s->name)
			       : rv;
	/* Ours (our header), broken and unused. */
	shm_unlink_ours(g, s->name);
	ipk__seg_fini(g);
	return 1;
}

static int
shm_listen(struct ipk_listener *l, const struct ipk__url *u)
{
	struct shm_lst *s = ipk__lst_priv(l);
	uint64_t cap = IPK__SEG_DEFAULT_CAP;
	int wait = IPK__WAIT_ADAPTIVE, rv;
	ipk__seg_init(&s->seg);
	if ((rv = shm_name(u, s->name)) < 0 ||
	    (rv = ipk__ring_opts(u, &cap, &wait)) < 0)
		return rv;
	char path[SHM_NAME_MAX + 16];
	snprintf(path, sizeof(path), "/dev/shm%s", s->name);
	for (int tries = 0; tries < 4; tries++) {
		struct shm_create_arg a = {s, cap, wait};
		int fd;
		rv = ipk__create_whole(path, l->mode, shm_create, &a, &fd);
		if (rv == 1)
			return 0; /* s->seg.fd is fd */
		s->seg.fd = -1; /* closed by ipk__create_whole */
		ipk__seg_fini(&s->seg); /* what a failed create mapped */
		if (rv != -EEXIST)
			return rv;
		if ((rv = shm_reclaim(l, s, wait)) <= 0)
			return rv;
	}
	return ipk__err(
	    -EADDRINUSE, "/dev/shm%s: keeps being recreated", s->name);
}

static void
shm_lclose(struct ipk_listener *l)
{
	struct shm_lst *s = ipk__lst_priv(l);
	if (s->seg.fd >= 0 && s->seg.hdr) {
		/* Drop our lock first: of the listener and its channel,
		 * whichever closes last then sees the other gone. */
		shm_unlock(s->seg.fd, IPK__LOCK_OWNER);
		if (!l->keep && !shm_held(s->seg.fd, IPK__LOCK_CHAN))
			l->left = shm_remove_or_linger(&s->seg, s->name);
	}
	ipk__seg_fini(&s->seg);
}

/* --- Channels ------------------------------------------------------------- */

static void shm_bell_ring(void *arg);
static int shm_alive(void *arg);

/* Both kinds of channel: take our lock, attach to the rings. */
static int
shm_attach(struct ipk_chan *c, struct shm_chan *s, int side)
{
	int rv =
	    ipk__live_take(s->seg.fd, side ? IPK__LOCK_DIAL : IPK__LOCK_CHAN);
	if (rv == IPK_EBUSYSIDE)
		return ipk__err(side ? IPK_EBUSYSIDE : -EBUSY,
		    "/dev/shm%s: another "
		    "live %s is attached (a ring has one writer and one "
		    "reader)",
		    s->name, side ? "dialer" : "listener channel");
	if (rv < 0)
		return rv;
	s->side = side;
	snprintf(s->path, sizeof(s->path), "/dev/shm%s", s->name);
	s->h.name = s->path;
	s->h.alive = shm_alive;
	s->h.arg = s;
	rv = ipk__seg_attach(c, &s->seg, &s->h, side);
	s->h.tx.bell = shm_bell_ring;
	s->h.tx.bell_arg = s;
	return rv;
}

static void
shm_chan_init(struct shm_chan *s)
{
	ipk__seg_init(&s->seg);
	s->h.bell = s->bell_wr = -1;
}

static int
shm_accept(struct ipk_listener *l, struct ipk_chan *c, int64_t deadline)
{
	struct shm_lst *ls = ipk__lst_priv(l);
	struct shm_chan *s = ipk__chan_priv(c);
	shm_chan_init(s);
	memcpy(s->name, ls->name, sizeof(s->name));
	if (shm_held(ls->seg.fd, IPK__LOCK_CHAN))
		return ipk__err(-EBUSY,
		    "/dev/shm%s: the channel is already accepted "
		    "and open",
		    s->name);
	uint32_t *gen = &ls->seg.hdr->dial_gen;
	while (__atomic_load_n(gen, __ATOMIC_ACQUIRE) == 0) {
		if (ipk__expired(deadline))
			return -ETIMEDOUT;
		int ms = ipk__poll_ms(deadline, IPK__SLICE_MS);
		struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
		(void)syscall(SYS_futex, gen, FUTEX_WAIT, 0, &ts, NULL, 0);
	}
	/* A description of our own, so our lock is the channel's alone. */
	s->seg.fd = shm_open(s->name, O_RDWR | O_NOFOLLOW | O_CLOEXEC, 0);
	if (s->seg.fd < 0 && errno != ENOENT)
		return ipk__err(-errno, "/dev/shm%s: cannot open: %s", s->name,
		    strerror(errno));
	struct stat a, b;
	if (s->seg.fd < 0 || fstat(s->seg.fd, &a) < 0 ||
	    fstat(ls->seg.fd, &b) < 0 ||
	    IPK__CHECK("shm.accept_same",
		a.st_ino != b.st_ino || a.st_dev != b.st_dev ||
		    (size_t)a.st_size != ls->seg.len))
		return ipk__err(
		    -ENOENT, "/dev/shm%s was removed or replaced", s->name);
	s->seg.len = ls->seg.len;
	s->seg.cap = ls->seg.cap;
	s->seg.map = mmap(
	    NULL, s->seg.len, PROT_READ | PROT_WRITE, MAP_SHARED, s->seg.fd, 0);
	if (s->seg.map == MAP_FAILED) {
		s->seg.map = NULL;
		return -errno;
	}
	s->seg.hdr = (struct ipk__seg_hdr *)(void *)s->seg.map;
	s->h.wait =
	    (int)(__atomic_load_n(&ls->seg.hdr->wait, __ATOMIC_RELAXED) & 3);
	int rv = shm_attach(c, s, 0);
	if (rv == 0)
		__atomic_store_n(&s->seg.hdr->accepted, 1, __ATOMIC_RELEASE);
	return rv;
}

/* One attempt: 0 attached, 1 not yet (why in *why), or an error. */
static int
shm_dial_try(struct ipk_chan *c, struct shm_chan *s, int wait, int *why)
{
	struct ipk__seg *g = &s->seg;
	g->fd = shm_open(s->name, O_RDWR | O_NOFOLLOW | O_CLOEXEC, 0);
	if (g->fd < 0) {
		*why = -errno;
		return errno == ENOENT ? 1
				       : ipk__err(-errno, "/dev/shm%s: %s",
					     s->name, strerror(errno));
	}
	int rv = shm_seg_check(g, s->name, c->mode, c->allow_uid);
	if (rv == 0 && !shm_held(g->fd, IPK__LOCK_OWNER) &&
	    !shm_held(g->fd, IPK__LOCK_CHAN) &&
	    ipk__ring_pending(ipk__seg_ctl(g, 0), g->cap) == 0)
		rv = 1; /* a dead listener's segment with nothing for us */
	if (rv != 0) {
		*why = -ECONNREFUSED;
		ipk__seg_fini(g);
		return rv;
	}
	s->h.wait = wait >= 0
	    ? wait
	    : (int)(__atomic_load_n(&g->hdr->wait, __ATOMIC_RELAXED) & 3);
	if ((rv = shm_attach(c, s, 1)) < 0)
		return rv;
	IPK__CRASH_SITE("shm.dial_attached");
	/* Tell a waiting accept; pairs with its acquire load. */
	__atomic_add_fetch(&g->hdr->dial_gen, 1, __ATOMIC_RELEASE);
	(void)syscall(
	    SYS_futex, &g->hdr->dial_gen, FUTEX_WAKE, INT_MAX, NULL, NULL, 0);
	return 0;
}

static int
shm_dial(struct ipk_chan *c, const struct ipk__url *u, int64_t deadline)
{
	struct shm_chan *s = ipk__chan_priv(c);
	uint64_t size; /* the segment's size wins over the dialer's */
	int wait = -1, why = -ENOENT, rv;
	shm_chan_init(s);
	if ((rv = shm_name(u, s->name)) < 0 ||
	    (rv = ipk__ring_opts(u, &size, &wait)) < 0)
		return rv;
	for (;;) {
		rv = shm_dial_try(c, s, wait, &why);
		if (rv != 1)
			return rv;
		if (ipk__expired(deadline))
			break;
		/* Polling for a name to appear: nothing can wake us. */
		int64_t left = deadline - ipk__now_ns();
		struct timespec ts = {0, left < 2000000 ? left : 2000000};
		nanosleep(&ts, NULL);
	}
	if (why == -ENOENT)
		return ipk__err(-ENOENT,
		    "no shared memory segment /dev/shm%s (is the "
		    "listener running?)",
		    s->name);
	return ipk__err(-ECONNREFUSED,
	    "/dev/shm%s exists but no live listener holds "
	    "it",
	    s->name);
}

static int
shm_alive(void *arg)
{
	struct shm_chan *s = arg;
	if (s->side == 0)
		return shm_held(s->seg.fd, IPK__LOCK_DIAL);
	if (shm_held(s->seg.fd, IPK__LOCK_CHAN))
		return 1;
	/* Before the first accept, a live listener counts as the peer. */
	return !__atomic_load_n(&s->seg.hdr->accepted, __ATOMIC_ACQUIRE) &&
	    shm_held(s->seg.fd, IPK__LOCK_OWNER);
}

static void
shm_bell_path(struct shm_chan *s, int side, char *out, size_t n)
{
	snprintf(out, n, "/dev/shm%s.bell%d", s->name, side);
}

/* Producer side: the consumer asked for its doorbell. A FIFO opened
 * read-write never has "no reader", so the write cannot raise SIGPIPE. */
static void
shm_bell_ring(void *arg)
{
	struct shm_chan *s = arg;
	uint32_t gen =
	    __atomic_load_n(&s->h.tx.ctl->bell_gen, __ATOMIC_ACQUIRE);
	if (s->bell_wr < 0 || gen != s->bell_wr_gen) {
		char path[SHM_NAME_MAX + 32];
		struct stat st;
		ipk__close_fd(&s->bell_wr);
		shm_bell_path(s, !s->side, path, sizeof(path));
		s->bell_wr =
		    open(path, O_RDWR | O_NONBLOCK | O_NOFOLLOW | O_CLOEXEC);
		if (s->bell_wr < 0)
			return;
		if (fstat(s->bell_wr, &st) < 0 ||
		    IPK__CHECK("shm.bell_fifo", !S_ISFIFO(st.st_mode)) ||
		    st.st_uid != geteuid()) {
			ipk__close_fd(&s->bell_wr);
			return;
		}
		s->bell_wr_gen = gen;
	}
	char b = 1;
	(void)!write(s->bell_wr, &b, 1);
}

/* ipk_fd: a FIFO doorbell made on first use; see docs/transports/shm.md. */
static int
shm_fd(struct ipk_chan *c)
{
	struct shm_chan *s = ipk__chan_priv(c);
	if (s->h.bell >= 0)
		return s->h.bell;
	char path[SHM_NAME_MAX + 32];
	struct stat st;
	shm_bell_path(s, s->side, path, sizeof(path));
	/* A crashed predecessor's doorbell goes; anything else there is
	 * not ours to remove. */
	if (shm_bell_recorded(s->seg.hdr, s->side, path))
		(void)unlink(path);
	if (mkfifo(path, 0600) < 0)
		return errno == EEXIST
		    ? ipk__foreign_err(
			  path, "not the doorbell this channel made")
		    : ipk__err(-errno,
			  "/dev/shm%s: cannot make the doorbell %s: %s",
			  s->name, path, strerror(errno));
	s->h.bell = open(path, O_RDWR | O_NONBLOCK | O_NOFOLLOW | O_CLOEXEC);
	if (s->h.bell < 0 || fstat(s->h.bell, &st) < 0 ||
	    !S_ISFIFO(st.st_mode) || fchmod(s->h.bell, 0600) < 0) {
		int e = -errno;
		ipk__close_fd(&s->h.bell);
		(void)unlink(path);
		return ipk__err(e ? e : -EIO,
		    "/dev/shm%s: cannot open the doorbell", s->name);
	}
	__atomic_store_n(&s->seg.hdr->bell[s->side].dev, (uint64_t)st.st_dev,
	    __ATOMIC_RELAXED);
	__atomic_store_n(&s->seg.hdr->bell[s->side].ino, (uint64_t)st.st_ino,
	    __ATOMIC_RELAXED);
	__atomic_add_fetch(&s->h.rx.ctl->bell_gen, 1, __ATOMIC_RELEASE);
	ipk__ring_chan_arm(&s->h);
	if (ipk__ring_pending(s->h.rx.ctl, s->h.rx.cap) > 0) {
		char b = 1;
		(void)!write(s->h.bell, &b, 1);
	}
	return s->h.bell;
}

static void
shm_close(struct ipk_chan *c)
{
	struct shm_chan *s = ipk__chan_priv(c);
	struct ipk__seg *g = &s->seg;
	if (g->fd >= 0 && g->hdr && s->h.tx.ctl) {
		/* Drop our lock before looking at the others' (see
		 * shm_lclose). */
		shm_unlock(g->fd, s->side ? IPK__LOCK_DIAL : IPK__LOCK_CHAN);
		IPK__CRASH_SITE("shm.close_unlocked");
		int lst = shm_held(g->fd, IPK__LOCK_OWNER);
		/* Wake the peer wherever it sleeps: it finds our lock gone. */
		ipk__ring_wake_reader(&s->h.tx);
		ipk__ring_wake_writer(&s->h.rx);
		int drained = ipk__ring_pending(s->h.rx.ctl, s->h.rx.cap) == 0;
		if (c->keep || lst)
			; /* the listener (or ?keep=1) decides */
		else if (s->side == 0)
			c->left = shm_remove_or_linger(g, s->name);
		else if (__atomic_load_n(&g->hdr->linger, __ATOMIC_ACQUIRE) &&
		    !shm_held(g->fd, IPK__LOCK_CHAN) && drained) {
			shm_unlink_ours(g, s->name);
			c->left = IPK__LEFT_REAPED;
		}
	}
	if (s->h.bell >= 0) {
		char path[SHM_NAME_MAX + 32];
		struct stat a, b;
		shm_bell_path(s, s->side, path, sizeof(path));
		if (fstat(s->h.bell, &a) == 0 && lstat(path, &b) == 0 &&
		    a.st_ino == b.st_ino && a.st_dev == b.st_dev)
			(void)unlink(path);
	}
	ipk__close_fd(&s->h.bell);
	ipk__close_fd(&s->bell_wr);
	ipk__seg_fini(g);
}

/* --- Operating: the header is read with pread, nothing is mapped. ------ */

static int
shm_find(const struct ipk__url *u, char *name, int *fd, struct ipk__seg_hdr *h)
{
	int rv = shm_name(u, name);
	if (rv < 0)
		return rv;
	*fd = shm_open(name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC, 0);
	if (*fd < 0)
		return -errno;
	uint64_t magic = 0;
	if (pread(*fd, &magic, sizeof(magic), 0) == (ssize_t)sizeof(magic) &&
	    magic == IPK__BC_MAGIC)
		return 1; /* a publisher's segment (shm/pubsub.c) */
	if (pread(*fd, h, sizeof(*h), 0) != (ssize_t)sizeof(*h) ||
	    IPK__CHECK("shm.find_magic", h->magic != IPK__SEG_MAGIC))
		return ipk__err(IPK_EFOREIGN,
		    "/dev/shm%s is not an ipckit "
		    "shm channel",
		    name);
	return 0;
}

static int
shm_inspect(const struct ipk__url *u, struct ipk_objinfo *o)
{
	char name[SHM_NAME_MAX + 2];
	struct ipk__seg_hdr h;
	struct stat st;
	int fd = -1;
	int rv = shm_find(u, name, &fd, &h);
	if (rv == 1) {
		rv = ipk__bc_inspect(fd, name, o);
		ipk__close_fd(&fd);
		return rv;
	}
	if (rv == 0 && fstat(fd, &st) < 0)
		rv = -errno;
	if (rv < 0) {
		ipk__close_fd(&fd);
		return rv;
	}
	o->uid = st.st_uid;
	o->mode = st.st_mode & 07777;
	snprintf(o->objects[0], sizeof(o->objects[0]), "/dev/shm%s", name);
	if (h.ring_cap > (uint64_t)st.st_size) {
		ipk__close_fd(&fd);
		return 0;
	}
	o->cap_bytes = 2 * (int64_t)h.ring_cap;
	/* Bytes in use in both rings, record headers included: the
	 * consumer's head is the only count outside the endpoints. */
	o->queued_bytes = 0;
	for (int ring = 0; ring < 2; ring++) {
		struct ipk__ring_ctl ctl;
		if (pread(fd, &ctl, sizeof(ctl),
			IPK__SEG_CTL_OFF + ring * IPK__RING_CTL_SIZE) !=
			(ssize_t)sizeof(ctl) ||
		    ctl.tail - ctl.head > h.ring_cap) {
			o->queued_bytes = -1;
			break;
		}
		o->queued_bytes += (int64_t)(ctl.tail - ctl.head);
	}
	ipk__close_fd(&fd);
	return 0;
}

static int
shm_remove(const struct ipk__url *u, int force)
{
	char name[SHM_NAME_MAX + 2], path[SHM_NAME_MAX + 32];
	struct ipk__seg_hdr h;
	int fd = -1;
	int rv = shm_find(u, name, &fd, &h);
	if (rv == 1) {
		rv = ipk__bc_remove(fd, name, force);
		ipk__close_fd(&fd);
		return rv;
	}
	for (int b = 0; rv == 0 && !force && b < IPK__LOCK_NBYTES; b++)
		if (shm_held(fd, b))
			rv = ipk__err(-EBUSY,
			    "/dev/shm%s is held by a live "
			    "endpoint",
			    name);
	if (rv == 0) {
		/* The segment we checked, not whatever is at the name now;
		 * then the doorbells its header names. */
		struct stat a, b;
		snprintf(path, sizeof(path), "/dev/shm%s", name);
		if (fstat(fd, &a) == 0 && lstat(path, &b) == 0 &&
		    a.st_ino == b.st_ino && a.st_dev == b.st_dev &&
		    shm_unlink(name) < 0)
			rv = -errno;
		shm_unlink_bells(&h, name);
	}
	ipk__close_fd(&fd);
	return rv;
}

static const char *const shm_options[] = {"size", "wait", NULL};

const struct ipk__transport ipk__transport_shm = {
    .scheme = "shm",
    .caps = IPK_CAP_BOUNDARIES | IPK_CAP_TYPES | IPK_CAP_REATTACH |
	IPK_CAP_ZEROCOPY | IPK_CAP_PERSIST | IPK_CAP_PUBSUB,
    .chan_size = sizeof(struct shm_chan),
    .lst_size = sizeof(struct shm_lst),
    .options = shm_options,
    .example = "shm:///%s",
    .variants = IPK__VARIANTS(
	{"shm/spin", "wait=spin", "spin (bounded)", IPK__VARIANT_ALL},
	{"shm/futex", "wait=futex", "futex", IPK__VARIANT_ALL},
	{"shm/sem", "wait=sem", "semaphore", IPK__VARIANT_ALL},
	{"shm/adaptive", "wait=adaptive", "spin, then futex",
	    IPK__VARIANT_ALL}),
    .listen = shm_listen,
    .accept = shm_accept,
    .lclose = shm_lclose,
    .dial = shm_dial,
    .send = ipk__segop_send,
    .recv = ipk__segop_recv,
    .loan = ipk__segop_loan,
    .commit = ipk__segop_commit,
    .peek = ipk__segop_peek,
    .release = ipk__segop_release,
    .toobig = ipk__segop_toobig,
    .fd = shm_fd,
    .ready = ipk__segop_ready,
    .doorbell = 1,
    .close = shm_close,
    .inspect = shm_inspect,
    .remove = shm_remove,
    .pattern = ipk__shm_pattern,
};
