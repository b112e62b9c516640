/* SPDX-License-Identifier: MIT */
/*
 * fifo.c - named pipes (the article's mkfifo): two FIFOs in the file system,
 * one per direction, so unrelated processes meet by name; framed into
 * messages by core/frame.c. A dialer that dies and dials again reattaches.
 *
 * fifo:///dir/name uses three files, all created by the listener (0600 or
 * ?mode=, exact, whatever the umask) and removed by it on close:
 *   name        FIFO, dialer -> listener
 *   name.reply  FIFO, listener -> dialer
 *   name.lock   regular file: OFD locks (core/attach.h: OWNER the
 *               listener, DIAL the dialer, CHAN the accepted channel), a
 *               32-byte session record {u64 dgen, u64 lgen, u64 dmax,
 *               u64 lmax} read and written with pread/pwrite (dmax, lmax:
 *               each side's maxmsg, so a send over the other's limit is
 *               refused at the sender),
 *               and the creation record (core/own.h) naming the two FIFOs.
 * A FIFO or lock file at these names that the record does not name is the
 * user's (the article's `mkfifo test`): refused with IPK_EFOREIGN, never
 * unlinked, truncated or reused.
 * (Not locks on a FIFO itself: a write lock needs a descriptor open for
 * writing, and a FIFO open for writing counts as a writer, which would
 * hide the peer's EOF; the session record needs a regular file anyway.)
 *
 * Opens never block: every FIFO is opened O_NONBLOCK, readers first (a
 * write-only open needs a reader, so each side keeps a read end of its own
 * outgoing FIFO: that guard also means a write never meets a FIFO without
 * readers, so no SIGPIPE). Every open is O_NOFOLLOW and checked with fstat
 * (type, owner). Peer death is the kernel's EOF/POLLHUP on the incoming
 * FIFO: each side is the only writer of its outgoing FIFO.
 *
 * Sessions: a dialer takes the dialer lock, bumps dgen, and writes nothing
 * until the listener's channel has set lgen = dgen. Before that, the
 * listener delivers whatever complete messages the previous dialer left,
 * drops a torn tail (a frame larger than PIPE_BUF can be cut by the
 * writer's death; smaller frames go out in one atomic write), resets both
 * framers and empties the reply FIFO, so the new dialer starts at a frame
 * boundary in both directions. Messages the dead dialer had not read, or
 * had read ahead, are lost: at most once in that direction.
 *
 * ?framing=raw|lines is the article's own use: the ONE FIFO at the path,
 * one direction, no lock file, no header. A listener reads, a dialer
 * writes, and the other end may as well be `echo x > path` or
 * `cat < path`. The user's FIFO is opened as it is: never created over,
 * chmod-ed or unlinked. When nothing is at the path the listener makes the
 * FIFO (?mode=), records it in its run-directory entry and removes that
 * very FIFO on close; a dialer waits for one to appear (-ENOENT) and for a
 * reader to open it (-ECONNREFUSED). The reader serves one writer after
 * another: when the last writer closes, recv gives IPK_ECLOSED once and
 * the next writer is read on the same channel (its read end is opened
 * afresh, on the same descriptor number, so poll waits for a new writer
 * instead of reporting the old one's hangup).
 */
#include "core/attach.h"
#include "core/frame.h"
#include "core/ledger.h"
#include "core/own.h"
#include "core/transport.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <unistd.h>

#define FIFO_OFF_DGEN 16 /* session record, after the lock bytes */
#define FIFO_OFF_LGEN 24
#define FIFO_OFF_DMAX 32 /* the dialer's maxmsg, written before dgen */
#define FIFO_OFF_LMAX 40 /* the listener's, written before lgen */
#define FIFO_OWN_IN 0 /* slots of the creation record */
#define FIFO_OWN_OUT 1

struct fifo_paths {
	char in[PATH_MAX]; /* dialer -> listener */
	char out[PATH_MAX]; /* listener -> dialer */
	char lock[PATH_MAX];
};

struct fifo_lst {
	int lockfd, rfd, gfd; /* rfd: read end of `in`; gfd: of `out` */
	unsigned char owner; /* holds the listener lock: may remove */
	const struct ipk__framing *plain; /* ?framing=raw|lines, or NULL */
	unsigned char made; /* plain: the FIFO at p.in is ours (dev, ino) */
	dev_t dev;
	ino_t ino;
	struct fifo_paths p;
};

struct fifo_chan {
	struct ipk__stream s;
	int rfd, wfd, gfd, lockfd;
	int listener; /* this end was accepted */
	/* Dialer flags, each written by one thread, read by both (atomic):
	 * the listener acknowledged `gen`; recv saw the listener's end go. */
	int ready, gone;
	int mu_init;
	uint64_t gen; /* the session this end belongs to */
	int64_t look_at; /* listener send: next look for a new dialer */
	pthread_mutex_t rx_mu, tx_mu; /* listener: session switch vs. I/O */
	int lim_known; /* dialer send side: the listener's lmax was read */
	int plain; /* ?framing=raw|lines: one FIFO, one direction */
	int seen; /* plain reader: a writer has come since the last EOF */
	char *path; /* plain reader: reopened after each writer */
};

static int
fifo_paths(const struct ipk__url *u, struct fifo_paths *p)
{
	if (u->host[0] || u->port[0] || u->path[0] != '/' || !u->path[1])
		return ipk__err(
		    -EINVAL, "%s: expected fifo:///dir/name", u->text);
	size_t n = strlen(u->path);
	if (n + sizeof(".reply") > sizeof(p->in) || u->path[n - 1] == '/')
		return ipk__err(-EINVAL, "%s: bad or too long path", u->text);
	snprintf(p->in, sizeof(p->in), "%s", u->path);
	snprintf(p->out, sizeof(p->out), "%s.reply", u->path);
	snprintf(p->lock, sizeof(p->lock), "%s.lock", u->path);
	return 0;
}

/* A descriptor must be of `type`, owned by us, the same inode as `same`
 * (when same >= 0) and, for a FIFO, the one the creation record in the lock
 * file `own` names in slot `slot` (when own >= 0). */
static int
fifo_check(int fd, mode_t type, const char *path, int same, int own, int slot)
{
	struct stat st, s2;
	if (fstat(fd, &st) < 0)
		return -errno;
	if (own >= 0 && !ipk__own_has_st(own, slot, &st))
		return ipk__foreign_err(
		    path, "not the FIFO its channel's record names");
	if ((st.st_mode & S_IFMT) != type)
		return ipk__err(IPK_EFOREIGN,
		    "%s exists and is not a %s "
		    "(refusing to touch it)",
		    path, type == S_IFIFO ? "FIFO" : "regular file");
	if (st.st_uid != geteuid())
		return ipk__err(-EACCES, "%s belongs to uid %u, not to us",
		    path, (unsigned)st.st_uid);
	if (same >= 0 &&
	    (fstat(same, &s2) < 0 || s2.st_ino != st.st_ino ||
		s2.st_dev != st.st_dev))
		return ipk__err(-ESTALE, "%s was replaced while opening", path);
	return 0;
}

static int
fifo_open_rec(const char *path, int flags, mode_t type, int same, int own,
    int slot, int *fd)
{
	*fd = open(path, flags | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK);
	if (*fd < 0) {
		int e = errno;
		if (e == ELOOP)
			return ipk__err(IPK_EFOREIGN,
			    "%s is a symbolic link "
			    "(refusing to follow it)",
			    path);
		if (e == ENOENT)
			return ipk__err(-ENOENT,
			    "%s does not exist: nobody "
			    "listens",
			    path);
		return ipk__err(-e, "cannot open %s: %s", path, strerror(e));
	}
	int rv = fifo_check(*fd, type, path, same, own, slot);
	if (rv < 0)
		ipk__close_fd(fd);
	return rv;
}

static int
fifo_open(const char *path, int flags, mode_t type, int same, int *fd)
{
	return fifo_open_rec(path, flags, type, same, -1, 0, fd);
}

static int
fifo_get(int lockfd, off_t off, uint64_t *v)
{
	ssize_t n = pread(lockfd, v, sizeof(*v), off);
	if (n < 0)
		return -errno;
	if (n != (ssize_t)sizeof(*v))
		*v = 0; /* a fresh record */
	return 0;
}

static int
fifo_put(int lockfd, off_t off, uint64_t v)
{
	ssize_t n = pwrite(lockfd, &v, sizeof(v), off);
	if (n < 0)
		return -errno;
	return n == (ssize_t)sizeof(v) ? 0 : -EIO;
}

/* Bytes waiting in a FIFO. */
static int
fifo_queued(int fd)
{
	int n = 0;
	if (ioctl(fd, FIONREAD, &n) < 0)
		return -errno;
	return n;
}

/* Throw away whatever a FIFO holds (through a read end). */
static void
fifo_drain(int fd)
{
	char buf[4096];
	while (read(fd, buf, sizeof(buf)) > 0)
		;
}

/* Sleep a growing slice (1 ms up to IPK__SLICE_MS) without passing the
 * deadline: nothing in the kernel wakes a wait for a lock or a record. */
static int
fifo_nap(int64_t deadline, int *slice)
{
	if (ipk__expired(deadline))
		return -ETIMEDOUT;
	int ms = ipk__poll_ms(deadline, *slice);
	if (ms > 0)
		(void)poll(NULL, 0, ms);
	*slice = IPK__MIN(*slice * 2, IPK__SLICE_MS);
	return 0;
}

/* --- Plain framings: the one FIFO at the path (see top) ------------------ */

#define FIFO_FRAMINGS (IPK__FRAMING_RAW | IPK__FRAMING_LINES)

/* What is at a plain FIFO's path: 0 a FIFO we may use (its stat in *st),
 * -ENOENT nothing, or an error naming what is there. */
static int
fifo_plain_stat(const char *path, uid_t allow, struct stat *st)
{
	if (lstat(path, st) < 0)
		return errno == ENOENT
		    ? -ENOENT
		    : ipk__err(-errno, "%s: %s", path, strerror(errno));
	if (S_ISLNK(st->st_mode))
		return ipk__err(IPK_EFOREIGN,
		    "%s is a symbolic link (refusing to follow it)", path);
	if (!S_ISFIFO(st->st_mode))
		return ipk__err(IPK_EFOREIGN,
		    "%s exists and is not a FIFO (left as it is)", path);
	if (!ipk__uid_ours(st->st_uid, allow))
		return ipk__owner_err(path, st->st_uid);
	return 0;
}

/* Open the FIFO at `path` non-blocking, checked to be `want` (dev, ino)
 * when want->st_ino is set, else any FIFO we may use. */
static int
fifo_plain_open(
    const char *path, int flags, uid_t allow, const struct stat *want, int *fd)
{
	struct stat st;
	*fd = open(path, flags | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK);
	if (*fd < 0) {
		int e = errno;
		if (e == ENXIO)
			return ipk__err(-ECONNREFUSED,
			    "nobody has %s open for reading", path);
		if (e == ELOOP)
			return ipk__err(IPK_EFOREIGN,
			    "%s is a symbolic link (refusing to follow it)",
			    path);
		if (e == ENOENT)
			return ipk__err(
			    -ENOENT, "%s does not exist: nobody listens", path);
		return ipk__err(-e, "cannot open %s: %s", path, strerror(e));
	}
	int rv = 0;
	if (fstat(*fd, &st) < 0)
		rv = -errno;
	else if (!S_ISFIFO(st.st_mode))
		rv = ipk__err(IPK_EFOREIGN,
		    "%s exists and is not a FIFO (left as it is)", path);
	else if (!ipk__uid_ours(st.st_uid, allow))
		rv = ipk__owner_err(path, st.st_uid);
	else if (want && want->st_ino &&
	    (st.st_ino != want->st_ino || st.st_dev != want->st_dev))
		rv = ipk__err(-ESTALE, "%s was replaced", path);
	if (rv < 0)
		ipk__close_fd(fd);
	return rv;
}

static int
fifo_plain_listen(struct ipk_listener *l, struct fifo_lst *fl)
{
	const char *path = fl->p.in;
	struct stat st;
	if (ipk__ledger_other_lside(l->ledger))
		return ipk__err(
		    -EADDRINUSE, "a live listener already reads %s", path);
	int rv = fifo_plain_stat(path, l->allow_uid, &st);
	if (rv == -ENOENT) {
		if (mkfifo(path, 0600) < 0)
			return errno == EEXIST
			    ? ipk__err(-EAGAIN, "%s appeared meanwhile", path)
			    : ipk__err(-errno, "cannot create FIFO %s: %s",
				  path, strerror(errno));
		if (lstat(path, &st) < 0)
			return -errno;
		fl->made = 1;
		fl->dev = st.st_dev;
		fl->ino = st.st_ino;
		ipk__ledger_set_obj(l->ledger, &st);
	} else if (rv < 0) {
		return rv;
	}
	if ((rv = fifo_plain_open(
		 path, O_RDONLY, l->allow_uid, &st, &fl->rfd)) < 0)
		return rv;
	/* ?mode= on a FIFO of our making only; a user's FIFO keeps its own */
	if (fl->made && fchmod(fl->rfd, l->mode & 0777) < 0)
		return ipk__err(-errno, "cannot set the mode of %s: %s", path,
		    strerror(errno));
	return 0;
}

static void
fifo_plain_lclose(struct ipk_listener *l, struct fifo_lst *fl)
{
	struct stat st;
	/* Only the FIFO this listener made, and only while it is there. */
	if (fl->made && !l->keep && lstat(fl->p.in, &st) == 0 &&
	    S_ISFIFO(st.st_mode) && st.st_dev == fl->dev &&
	    st.st_ino == fl->ino)
		(void)unlink(fl->p.in);
	ipk__close_fd(&fl->rfd);
}

/* Plain reader: wait until a writer has written or come and gone. */
static int
fifo_plain_await(struct fifo_chan *p, int64_t deadline)
{
	int r = ipk__poll1(p->rfd, POLLIN, deadline, -1);
	if (r < 0)
		return r;
	if (r == 0)
		return -ETIMEDOUT;
	p->seen = 1;
	return 0;
}

static int
fifo_plain_accept(struct fifo_lst *fl, struct ipk_chan *c, int64_t deadline)
{
	struct fifo_chan *p = ipk__chan_priv(c);
	struct stat st;
	p->plain = p->listener = 1;
	if (fstat(fl->rfd, &st) < 0)
		return -errno;
	p->path = ipk__strdup(fl->p.in);
	if (!p->path)
		return -ENOMEM;
	int rv =
	    fifo_plain_open(fl->p.in, O_RDONLY, c->allow_uid, &st, &p->rfd);
	if (rv < 0)
		return rv;
	ipk__stream_init(&p->s, p->rfd, -1, c->max_msg);
	ipk__stream_framing(&p->s, fl->plain);
	return fifo_plain_await(p, deadline);
}

static int
fifo_plain_dial(struct ipk_chan *c, const struct ipk__url *u,
    const struct ipk__framing *f, int64_t deadline)
{
	struct fifo_chan *p = ipk__chan_priv(c);
	struct stat st;
	int rv, slice = 1;
	p->plain = 1;
	if (u->path[0] != '/' || !u->path[1] || u->host[0])
		return ipk__err(
		    -EINVAL, "%s: expected fifo:///dir/name", u->text);
	if ((rv = ipk__dir_check(u->path, c->allow_uid)) < 0)
		return rv;
	for (;;) {
		rv = fifo_plain_stat(u->path, c->allow_uid, &st);
		if (rv == 0)
			rv = fifo_plain_open(
			    u->path, O_WRONLY, c->allow_uid, NULL, &p->wfd);
		if (rv == -ENOENT)
			rv = ipk__err(-ENOENT,
			    "no FIFO at %s yet: nobody listens", u->path);
		if (rv != -ENOENT && rv != -ECONNREFUSED)
			break;
		if (fifo_nap(deadline, &slice) < 0)
			return rv;
	}
	if (rv < 0)
		return rv;
	ipk__stream_init(&p->s, -1, p->wfd, c->max_msg);
	ipk__stream_framing(&p->s, f);
	/* No guard read end: the reader may leave, and the kernel would
	 * raise SIGPIPE on our write. */
	p->s.flags = IPK__STREAM_NOSIGPIPE;
	return 0;
}

static int
fifo_plain_oneway(struct fifo_chan *p)
{
	return ipk__err(-ENOTSUP,
	    "with framing=raw|lines a fifo %s (one FIFO, one direction)",
	    p->listener ? "listener only reads" : "dialer only writes");
}

/* The writers left: read the next writer's bytes on a fresh open of the
 * same FIFO, on the same descriptor number (see top). */
static int
fifo_plain_reopen(struct ipk_chan *c, struct fifo_chan *p)
{
	struct stat st;
	int fd, rv;
	if (fstat(p->rfd, &st) < 0)
		return -errno;
	if ((rv = fifo_plain_open(p->path, O_RDONLY, c->allow_uid, &st, &fd)) <
	    0)
		return rv;
	if (dup3(fd, p->rfd, O_CLOEXEC) < 0)
		rv = -errno;
	ipk__close_fd(&fd);
	ipk__stream_reset_rx(&p->s);
	p->seen = 0;
	return rv;
}

static int
fifo_plain_recv(struct ipk_chan *c, struct fifo_chan *p, void *buf, size_t cap,
    size_t *len, uint32_t *type, int64_t deadline)
{
	int rv;
	if (!p->listener)
		return fifo_plain_oneway(p);
	if (!p->seen && !ipk__stream_buffered(&p->s) &&
	    (rv = fifo_plain_await(p, deadline)) < 0)
		return rv;
	rv = ipk__stream_recv(&p->s, buf, cap, len, type, deadline);
	if (rv != IPK_ECLOSED)
		return rv;
	int r = fifo_plain_reopen(c, p);
	return r < 0 ? r
		     : ipk__err(IPK_ECLOSED,
			   "the writer closed %s (the next one is read on "
			   "this channel)",
			   p->path);
}

/* The FIFO a plain listener made, from outside: only the very FIFO its
 * run-directory entry records (a dead listener's). */
static int
fifo_plain_remove(const struct ipk__url *u)
{
	struct stat st;
	if (lstat(u->path, &st) < 0)
		return -ENOENT;
	if (!S_ISFIFO(st.st_mode) || !ipk__ledger_obj_is(u, &st))
		return ipk__foreign_err(u->path,
		    "no ipckit lock file beside it, and no ipckit listener's "
		    "record names it");
	return unlink(u->path) < 0 ? -errno : 0;
}

/* Create the FIFO of `slot` (or reuse the one the record names, left by a
 * dead listener) with `mode`, record it, and open its read end. */
static int
fifo_make(
    struct fifo_lst *fl, int slot, const char *path, unsigned mode, int *fd)
{
	int rv = ipk__own_check_path(fl->lockfd, slot, path, "FIFO");
	if (rv < 0)
		return rv;
	if (rv == 0) {
		struct stat st;
		if (mkfifo(path, 0600) < 0)
			return ipk__err(-errno, "cannot create FIFO %s: %s",
			    path, strerror(errno));
		if (lstat(path, &st) < 0 ||
		    (rv = ipk__own_put_st(fl->lockfd, slot, &st)) < 0) {
			rv = rv < 0 ? rv : -errno;
			(void)unlink(path);
			return ipk__err(rv, "cannot record FIFO %s", path);
		}
	}
	if ((rv = fifo_open_rec(
		 path, O_RDONLY, S_IFIFO, -1, fl->lockfd, slot, fd)) < 0)
		return rv;
	/* ?mode= holds on a reclaimed FIFO too; the umask never narrows it */
	if (fchmod(*fd, mode) < 0)
		return ipk__err(-errno, "cannot set the mode of %s: %s", path,
		    strerror(errno));
	return 0;
}

/* Take the address: name.lock with its record (core/own.h), and a new
 * session record in it. */
static int
fifo_lock_listener(struct fifo_lst *fl, unsigned mode, uid_t allow)
{
	static const uint64_t zero[4]; /* a new session record */
	int fresh;
	int rv = ipk__own_take(
	    fl->p.lock, "fifo", mode, allow, fl->p.in, &fl->lockfd, &fresh);
	if (rv < 0)
		return rv;
	fl->owner = 1;
	if (pwrite(fl->lockfd, zero, sizeof(zero), FIFO_OFF_DGEN) !=
	    (ssize_t)sizeof(zero))
		return ipk__err(-EIO, "cannot write %s", fl->p.lock);
	return 0;
}

static int
fifo_listen(struct ipk_listener *l, const struct ipk__url *u)
{
	struct fifo_lst *fl = ipk__lst_priv(l);
	fl->lockfd = fl->rfd = fl->gfd = -1;
	int rv = fifo_paths(u, &fl->p);
	if (rv < 0 || (rv = ipk__dir_check(fl->p.in, l->allow_uid)) < 0 ||
	    (rv = ipk__url_framing(u, FIFO_FRAMINGS, &fl->plain)) < 0)
		return rv;
	if (fl->plain)
		return fifo_plain_listen(l, fl);
	if ((rv = fifo_lock_listener(fl, l->mode, l->allow_uid)) < 0)
		return rv;
	if ((rv = fifo_make(fl, FIFO_OWN_IN, fl->p.in, l->mode, &fl->rfd)) < 0)
		return rv;
	return fifo_make(fl, FIFO_OWN_OUT, fl->p.out, l->mode, &fl->gfd);
}

static void
fifo_lclose(struct ipk_listener *l)
{
	struct fifo_lst *fl = ipk__lst_priv(l);
	if (fl->plain) {
		fifo_plain_lclose(l, fl);
		return;
	}
	if (!l->keep && fl->owner) {
		/* Names first, then the lock: a new listener never sees our
		 * FIFOs without the lock that guards them. Each only when
		 * the record names it. */
		(void)ipk__own_unlink(fl->lockfd, FIFO_OWN_IN, fl->p.in);
		(void)ipk__own_unlink(fl->lockfd, FIFO_OWN_OUT, fl->p.out);
		(void)ipk__own_unlink_self(fl->lockfd, fl->p.lock);
	}
	ipk__close_fd(&fl->rfd);
	ipk__close_fd(&fl->gfd);
	ipk__close_fd(&fl->lockfd);
}

/* Listener side, in a stream wait: still the same dialer's session? */
static int
fifo_alive(void *arg)
{
	struct fifo_chan *p = arg;
	uint64_t dgen;
	int rv = fifo_get(p->lockfd, FIFO_OFF_DGEN, &dgen);
	if (rv < 0)
		return rv;
	return dgen == p->gen;
}

/* Start the session of a new dialer: both directions at a frame boundary,
 * the reply FIFO empty, then tell the dialer it may go. Caller holds rx_mu
 * (or owns the channel alone); `gen` changes under both locks, so either
 * one makes reading it safe. */
static int
fifo_switch(struct fifo_chan *p, uint64_t dgen)
{
	uint64_t dmax = 0;
	(void)fifo_get(p->lockfd, FIFO_OFF_DMAX, &dmax);
	pthread_mutex_lock(&p->tx_mu);
	ipk__stream_reset_tx(&p->s);
	ipk__stream_peer_max(&p->s, (size_t)dmax);
	fifo_drain(p->gfd);
	p->gen = dgen;
	pthread_mutex_unlock(&p->tx_mu);
	ipk__stream_reset_rx(&p->s);
	return fifo_put(p->lockfd, FIFO_OFF_LGEN, dgen);
}

/* A dialer other than ours holds the dialer side: its dgen, else 0. */
static uint64_t
fifo_newcomer(struct fifo_chan *p)
{
	uint64_t dgen;
	if (fifo_get(p->lockfd, FIFO_OFF_DGEN, &dgen) < 0 || dgen == p->gen)
		return 0;
	if (ipk__live_held(p->lockfd, IPK__LOCK_DIAL) != 1)
		return 0;
	return dgen;
}

static int
fifo_partial(const struct ipk__stream *s)
{
	return s->have_hdr || s->rlen || s->stash_len || s->skip;
}

/*
 * Listener side after the framer saw the dialer go (EOF, or a new dgen):
 * 1 to read on (bytes of the old dialer remain, or a new session started),
 * or the code to return. `rv` is what the framer said.
 */
static int
fifo_resume(struct fifo_chan *p, int rv)
{
	if (fifo_queued(p->rfd) > 0) {
		p->s.rx_err = 0;
		return 1;
	}
	int torn = fifo_partial(&p->s);
	uint64_t dgen = fifo_newcomer(p);
	if (dgen) {
		int r = fifo_switch(p, dgen);
		if (r < 0)
			return r;
		if (!torn)
			return 1;
	} else if (torn) {
		ipk__stream_reset_rx(&p->s);
		p->s.rx_err = IPK_ECLOSED;
	} else {
		return rv == -EBADMSG ? IPK_ECLOSED : rv;
	}
	return ipk__err(-EBADMSG,
	    "the dialer died in the middle of a "
	    "message larger than PIPE_BUF; its torn rest was dropped");
}

static int
fifo_await_ack(struct fifo_chan *p, int64_t deadline)
{
	int slice = 1;
	while (!__atomic_load_n(&p->ready, __ATOMIC_ACQUIRE)) {
		uint64_t lgen;
		int rv = fifo_get(p->lockfd, FIFO_OFF_LGEN, &lgen);
		if (rv < 0)
			return rv;
		if (lgen == p->gen) {
			__atomic_store_n(&p->ready, 1, __ATOMIC_RELEASE);
			break;
		}
		if (ipk__live_held(p->lockfd, IPK__LOCK_OWNER) != 1)
			return ipk__err(IPK_ECLOSED,
			    "the listener went away "
			    "before taking this dialer");
		if (fifo_nap(deadline, &slice) < 0)
			return ipk__err(-ETIMEDOUT,
			    "the listener has not "
			    "taken this dialer yet (it does in accept, recv "
			    "or send)");
	}
	return 0;
}

static void
fifo_chan_init(struct ipk_chan *c, struct fifo_chan *p)
{
	ipk__stream_init(&p->s, p->rfd, p->wfd, c->max_msg);
	p->s.hup_fd = p->rfd;
	if (p->listener) {
		p->s.alive = fifo_alive;
		p->s.arg = p;
	}
}

static int
fifo_accept(struct ipk_listener *l, struct ipk_chan *c, int64_t deadline)
{
	struct fifo_lst *fl = ipk__lst_priv(l);
	struct fifo_chan *p = ipk__chan_priv(c);
	p->rfd = p->wfd = p->gfd = p->lockfd = -1;
	if (fl->plain)
		return fifo_plain_accept(fl, c, deadline);
	p->listener = 1;
	if (pthread_mutex_init(&p->rx_mu, NULL) ||
	    pthread_mutex_init(&p->tx_mu, NULL))
		return -ENOMEM;
	p->mu_init = 1;
	int rv = fifo_open(fl->p.lock, O_RDWR, S_IFREG, fl->lockfd, &p->lockfd);
	if (rv < 0)
		return rv;
	if (ipk__live_take(p->lockfd, IPK__LOCK_CHAN) == IPK_EBUSYSIDE)
		return ipk__err(-EBUSY,
		    "%s: the channel of this listener is "
		    "still open",
		    fl->p.in);
	int slice = 1;
	uint64_t dgen = 0, lgen = 0;
	for (;;) {
		if ((rv = fifo_get(p->lockfd, FIFO_OFF_DGEN, &dgen)) < 0 ||
		    (rv = fifo_get(p->lockfd, FIFO_OFF_LGEN, &lgen)) < 0)
			return rv;
		if (dgen != lgen &&
		    ipk__live_held(p->lockfd, IPK__LOCK_DIAL) == 1)
			break;
		if (fifo_nap(deadline, &slice) < 0)
			return -ETIMEDOUT;
	}
	p->rfd = fcntl(fl->rfd, F_DUPFD_CLOEXEC, 0);
	p->gfd = fcntl(fl->gfd, F_DUPFD_CLOEXEC, 0);
	if (p->rfd < 0 || p->gfd < 0)
		return -errno;
	if ((rv = fifo_open(fl->p.out, O_WRONLY, S_IFIFO, p->gfd, &p->wfd)) < 0)
		return rv;
	fifo_drain(p->rfd); /* what an earlier, gone dialer left */
	fifo_chan_init(c, p);
	if ((rv = fifo_put(p->lockfd, FIFO_OFF_LMAX, c->max_msg)) < 0)
		return rv;
	return fifo_switch(p, dgen);
}

static int
fifo_dial_once(
    struct ipk_chan *c, struct fifo_chan *p, const struct fifo_paths *fp)
{
	int rv =
	    ipk__own_open(fp->lock, "fifo", 0, 0, c->allow_uid, &p->lockfd);
	if (rv == -ENOENT)
		return ipk__err(
		    -ENOENT, "%s does not exist: nobody listens", fp->lock);
	if (rv < 0)
		return rv;
	if ((rv = ipk__live_held(p->lockfd, IPK__LOCK_OWNER)) != 1)
		return rv < 0 ? rv
			      : ipk__err(-ECONNREFUSED,
				    "%s: stale, its "
				    "listener is gone",
				    fp->in);
	if (ipk__live_take(p->lockfd, IPK__LOCK_DIAL) == IPK_EBUSYSIDE)
		return ipk__err(
		    -EBUSY, "%s: another dialer is attached", fp->in);
	if ((rv = fifo_open_rec(fp->out, O_RDONLY, S_IFIFO, -1, p->lockfd,
		 FIFO_OWN_OUT, &p->rfd)) < 0 ||
	    (rv = fifo_open_rec(fp->in, O_RDONLY, S_IFIFO, -1, p->lockfd,
		 FIFO_OWN_IN, &p->gfd)) < 0 ||
	    (rv = fifo_open(fp->in, O_WRONLY, S_IFIFO, p->gfd, &p->wfd)) < 0)
		return rv;
	uint64_t dgen;
	if ((rv = fifo_put(p->lockfd, FIFO_OFF_DMAX, c->max_msg)) < 0 ||
	    (rv = fifo_get(p->lockfd, FIFO_OFF_DGEN, &dgen)) < 0 ||
	    (rv = fifo_put(p->lockfd, FIFO_OFF_DGEN, dgen + 1)) < 0)
		return rv;
	p->gen = dgen + 1;
	fifo_chan_init(c, p);
	return 0;
}

static void
fifo_close_fds(struct fifo_chan *p)
{
	/* The lock last: whoever sees it free sees our FIFO ends closed. */
	ipk__close_fd(&p->wfd);
	ipk__close_fd(&p->rfd);
	ipk__close_fd(&p->gfd);
	ipk__close_fd(&p->lockfd);
}

static int
fifo_dial(struct ipk_chan *c, const struct ipk__url *u, int64_t deadline)
{
	struct fifo_chan *p = ipk__chan_priv(c);
	p->rfd = p->wfd = p->gfd = p->lockfd = -1;
	const struct ipk__framing *f;
	struct fifo_paths fp;
	int rv = ipk__url_framing(u, FIFO_FRAMINGS, &f);
	if (rv < 0)
		return rv;
	if (f)
		return fifo_plain_dial(c, u, f, deadline);
	rv = fifo_paths(u, &fp);
	if (rv < 0 || (rv = ipk__dir_check(fp.in, c->allow_uid)) < 0)
		return rv;
	int slice = 1;
	for (;;) {
		rv = fifo_dial_once(c, p, &fp);
		if (rv == 0)
			return 0;
		fifo_close_fds(p);
		if (rv != -ENOENT && rv != -ECONNREFUSED && rv != -EBUSY &&
		    rv != -ESTALE)
			return rv;
		if (fifo_nap(deadline, &slice) < 0)
			return rv;
	}
}

/* Listener send: start a waiting new dialer's session unless a receiving
 * thread is about to (it holds rx_mu) or the old one's bytes remain; 1 when
 * started. */
static int
fifo_take_newcomer(struct fifo_chan *p)
{
	int rv = 0;
	if (pthread_mutex_trylock(&p->rx_mu) != 0)
		return 0;
	uint64_t dgen = fifo_newcomer(p);
	if (dgen && fifo_queued(p->rfd) == 0 && !fifo_partial(&p->s) &&
	    fifo_switch(p, dgen) == 0)
		rv = 1;
	pthread_mutex_unlock(&p->rx_mu);
	return rv;
}

static int
fifo_send(struct ipk_chan *c, const void *buf, size_t len, uint32_t type,
    int64_t deadline)
{
	struct fifo_chan *p = ipk__chan_priv(c);
	int rv;
	if (p->plain)
		return p->listener
		    ? fifo_plain_oneway(p)
		    : ipk__stream_send(&p->s, buf, len, type, deadline);
	if (!p->listener) {
		if ((rv = fifo_await_ack(p, deadline)) < 0)
			return rv;
		/* The listener's end is gone for good once recv saw it. */
		if (__atomic_load_n(&p->gone, __ATOMIC_RELAXED))
			return ipk__err(IPK_ECLOSED, "the listener closed");
		if (!p->lim_known) {
			uint64_t lmax = 0;
			(void)fifo_get(p->lockfd, FIFO_OFF_LMAX, &lmax);
			ipk__stream_peer_max(&p->s, (size_t)lmax);
			p->lim_known = 1;
		}
		return ipk__stream_send(&p->s, buf, len, type, deadline);
	}
	/* A listener that only sends fills the reply FIFO slowly, so it
	 * would notice a new dialer only when the FIFO is full: look every
	 * IPK__SLICE_MS, so the new dialer is taken promptly. */
	int64_t now = ipk__now_ns();
	if (now >= __atomic_load_n(&p->look_at, __ATOMIC_RELAXED)) {
		__atomic_store_n(&p->look_at,
		    now + (int64_t)IPK__SLICE_MS * 1000000, __ATOMIC_RELAXED);
		(void)fifo_take_newcomer(p);
	}
	pthread_mutex_lock(&p->tx_mu);
	rv = ipk__stream_send(&p->s, buf, len, type, deadline);
	pthread_mutex_unlock(&p->tx_mu);
	if (rv != IPK_ECLOSED)
		return rv;
	if (fifo_take_newcomer(p) == 1) {
		pthread_mutex_lock(&p->tx_mu);
		rv = ipk__stream_send(&p->s, buf, len, type, deadline);
		pthread_mutex_unlock(&p->tx_mu);
	}
	return rv;
}

static int
fifo_recv(struct ipk_chan *c, void *buf, size_t cap, size_t *len,
    uint32_t *type, int64_t deadline)
{
	struct fifo_chan *p = ipk__chan_priv(c);
	int rv;
	if (p->plain)
		return fifo_plain_recv(c, p, buf, cap, len, type, deadline);
	if (!p->listener) {
		if ((rv = fifo_await_ack(p, deadline)) < 0)
			return rv;
		rv = ipk__stream_recv(&p->s, buf, cap, len, type, deadline);
		if (rv == IPK_ECLOSED || p->s.rx_err == IPK_ECLOSED)
			__atomic_store_n(&p->gone, 1, __ATOMIC_RELAXED);
		return rv;
	}
	pthread_mutex_lock(&p->rx_mu);
	for (;;) {
		if (p->s.rx_err == IPK_ECLOSED &&
		    (rv = fifo_resume(p, IPK_ECLOSED)) != 1)
			break;
		rv = ipk__stream_recv(&p->s, buf, cap, len, type, deadline);
		if (rv == 0 || p->s.rx_err != IPK_ECLOSED)
			break;
		if ((rv = fifo_resume(p, rv)) != 1)
			break;
	}
	pthread_mutex_unlock(&p->rx_mu);
	return rv;
}

static int
fifo_fd(struct ipk_chan *c)
{
	struct fifo_chan *p = ipk__chan_priv(c);
	if (p->plain && !p->listener)
		return fifo_plain_oneway(p);
	return p->rfd;
}

/* The peer has what we wrote: nothing of ours is left in the FIFO. */
static int
fifo_drain_op(struct ipk_chan *c, int64_t deadline)
{
	struct fifo_chan *p = ipk__chan_priv(c);
	if (p->wfd < 0 || (!p->plain && !p->listener && !p->ready))
		return 0;
	return ipk__stream_drain(&p->s, deadline);
}

static int
fifo_ready(struct ipk_chan *c)
{
	struct fifo_chan *p = ipk__chan_priv(c);
	return ipk__stream_buffered(&p->s);
}

static void
fifo_close(struct ipk_chan *c)
{
	struct fifo_chan *p = ipk__chan_priv(c);
	if (p->wfd >= 0 && (p->listener || p->ready || p->plain) && !p->gone)
		(void)ipk__stream_flush(&p->s, 0);
	ipk__stream_fini(&p->s);
	fifo_close_fds(p);
	ipk__free(p->path);
	p->path = NULL;
	if (p->mu_init) {
		pthread_mutex_destroy(&p->rx_mu);
		pthread_mutex_destroy(&p->tx_mu);
	}
}

/* --- Operating ------------------------------------------------------------
 * Nothing is opened but the lock file (a FIFO open would be seen by the
 * peer), so the bytes queued in a FIFO are not known from outside. */

/* The lock file of an address from outside: 0 with *fd, -ENOENT when
 * nothing is there, IPK_EFOREIGN when what is there is not ipckit's. */
static int
fifo_own_find(const struct fifo_paths *p, int *fd)
{
	struct stat st;
	int rv = ipk__own_open(p->lock, "fifo", 0, 0, 0, fd);
	if (rv == -ENOENT && lstat(p->in, &st) == 0)
		return ipk__foreign_err(p->in, "no ipckit lock file beside it");
	return rv;
}

static int
fifo_inspect(const struct ipk__url *u, struct ipk_objinfo *o)
{
	struct fifo_paths p;
	struct stat st;
	const struct ipk__framing *f;
	int fd = -1, rv = fifo_paths(u, &p);
	if (rv < 0 || (rv = ipk__url_framing(u, FIFO_FRAMINGS, &f)) < 0)
		return rv;
	rv = fifo_own_find(&p, &fd);
	if ((f || rv == IPK_EFOREIGN) && lstat(p.in, &st) == 0 &&
	    S_ISFIFO(st.st_mode) && ipk__ledger_obj_is(u, &st)) {
		/* The one FIFO of a plain listener (see top). */
		ipk__close_fd(&fd);
		o->uid = st.st_uid;
		o->mode = st.st_mode & 07777;
		snprintf(o->objects[0], sizeof(o->objects[0]), "%.255s", p.in);
		return 0;
	}
	if (rv < 0)
		return rv;
	if (lstat(p.in, &st) < 0)
		rv = -errno;
	else if (!ipk__own_has_st(fd, FIFO_OWN_IN, &st))
		rv = ipk__foreign_err(p.in, "not the FIFO its lock file names");
	ipk__close_fd(&fd);
	if (rv < 0)
		return rv;
	o->uid = st.st_uid;
	o->mode = st.st_mode & 07777;
	snprintf(o->objects[0], sizeof(o->objects[0]), "%.255s", p.in);
	snprintf(o->objects[1], sizeof(o->objects[1]), "%.255s", p.out);
	snprintf(o->objects[2], sizeof(o->objects[2]), "%.255s", p.lock);
	return 0;
}

static int
fifo_remove(const struct ipk__url *u, int force)
{
	struct fifo_paths p;
	const struct ipk__framing *f;
	int fd = -1, rv = fifo_paths(u, &p);
	if (rv < 0 || (rv = ipk__url_framing(u, FIFO_FRAMINGS, &f)) < 0)
		return rv;
	rv = fifo_own_find(&p, &fd);
	/* No lock file: a FIFO a plain listener made, if its entry says so. */
	if (f || rv == IPK_EFOREIGN) {
		ipk__close_fd(&fd);
		return fifo_plain_remove(u);
	}
	if (rv < 0)
		return rv;
	for (int i = 0; !force && i < IPK__LOCK_NBYTES; i++)
		if (ipk__live_held(fd, i) == 1) {
			ipk__close_fd(&fd);
			return ipk__err(
			    -EBUSY, "%s is held by a live endpoint", p.lock);
		}
	/* Each name only when the record names what is there. */
	int n = ipk__own_unlink(fd, FIFO_OWN_IN, p.in);
	n += ipk__own_unlink(fd, FIFO_OWN_OUT, p.out);
	n += ipk__own_unlink_self(fd, p.lock);
	ipk__close_fd(&fd);
	return n ? 0 : -ENOENT;
}

static const char *const fifo_options[] = {"framing", NULL};

const struct ipk__transport ipk__transport_fifo = {
    .scheme = "fifo",
    .caps = IPK_CAP_REATTACH,
    .chan_size = sizeof(struct fifo_chan),
    .lst_size = sizeof(struct fifo_lst),
    .options = fifo_options,
    .example = "fifo:///tmp/%s",
    .variants =
	IPK__VARIANTS({"fifo", "", "block (poll on FIFO)", IPK__VARIANT_ALL}),
    .listen = fifo_listen,
    .accept = fifo_accept,
    .lclose = fifo_lclose,
    .dial = fifo_dial,
    .send = fifo_send,
    .recv = fifo_recv,
    .drain = fifo_drain_op,
    .fd = fifo_fd,
    .ready = fifo_ready,
    .close = fifo_close,
    .inspect = fifo_inspect,
    .remove = fifo_remove,
};
