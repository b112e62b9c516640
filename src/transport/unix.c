/* SPDX-License-Identifier: MIT */
/*
 * unix.c - unix domain sockets (the article's local socket): one listener,
 * many peers, one channel each, with the peer's credentials (SO_PEERCRED).
 *
 * SOCK_STREAM framed by core/frame.c, not SOCK_SEQPACKET: a seqpacket
 * message must fit the socket buffer (net.core.wmem_max, about 200 KiB by
 * default), far below the 16 MiB default message limit, and a stream
 * shares the framing, limits and error handling of pipe, fifo and tcp.
 *
 * unix:///path binds a socket file of mode 0600 (or ?mode=) without a chmod
 * race: the socket is bound inside a fresh 0700 directory next to the
 * target, chmod-ed there where nobody else can reach it, then hard-linked
 * to the target name (link never replaces an existing file) and the
 * directory removed. The bound file's device and inode go into the
 * listener's run-directory entry (core/ledger.h): a socket file at the name
 * is ipckit's only when an entry for the address names it, and its
 * listener is alive when that entry's listening side is, so a second
 * listener never connects to the first (a single-peer server, ipckit's or
 * socat's, would take that probe for its client). A dead listener's socket
 * is removed and the link retried; a live one gives -EADDRINUSE; anything
 * else there (a file, a symlink, another program's socket, live or not) is
 * refused with IPK_EFOREIGN and left as it is. unix://@name is Linux's abstract
 * namespace: no file, gone with its listener, guarded by the uid check only.
 *
 * Both sides read SO_PEERCRED when the connection is made: a peer whose uid
 * is neither ours nor ?allow=UID is closed before any message, the limits'
 * hello included (core/frame.h). ?framing=raw|lines drops the header and
 * the hello, for socat, nc -U and other programs.
 */
#include "core/frame.h"
#include "core/ledger.h"
#include "core/own.h"
#include "core/sock.h"
#include "core/testhook.h"
#include "core/transport.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

struct unix_lst {
	int fd;
	int bound; /* the file at `path` is ours to remove */
	dev_t dev;
	ino_t ino;
	char path[sizeof(((struct sockaddr_un *)0)->sun_path)];
};

#define UNIX_FRAMINGS (IPK__FRAMING_RAW | IPK__FRAMING_LINES)

struct unix_chan {
	struct ipk__stream s;
	int fd;
	struct ipk_peer peer;
};

/* Fill `sa` from the URL path; *len gets the address length. */
static int
unix_addr(const struct ipk__url *u, struct sockaddr_un *sa, socklen_t *len)
{
	const char *p = u->path;
	memset(sa, 0, sizeof(*sa));
	sa->sun_family = AF_UNIX;
	if (u->host[0] || u->port[0] || (p[0] != '/' && p[0] != '@') || !p[1])
		return ipk__err(-EINVAL,
		    "%s: expected unix:///path or "
		    "unix://@name",
		    u->text);
	size_t n = strlen(p);
	if (n >= sizeof(sa->sun_path))
		return ipk__err(-ENAMETOOLONG,
		    "%s: socket address longer than "
		    "%zu bytes",
		    u->text, sizeof(sa->sun_path) - 1);
	memcpy(sa->sun_path, p, n);
	if (p[0] == '@') {
		sa->sun_path[0] = '\0'; /* abstract: no terminating NUL */
		*len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + n);
	} else {
		*len = (socklen_t)sizeof(*sa);
	}
	return 0;
}

static int
unix_socket(int *fd)
{
	*fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	return *fd < 0
	    ? ipk__err(-errno, "cannot make a socket: %s", strerror(errno))
	    : 0;
}

static int
unix_admit(uid_t uid, uid_t allow)
{
	return uid == geteuid() || (allow != 0 && uid == allow);
}

/* The thing at the target name: 0 absent or a dead ipckit listener's
 * socket (removed), or an error. Never connects to it. */
static int
unix_clear(struct ipk_listener *l, const char *path)
{
	struct stat st;
	if (lstat(path, &st) < 0)
		return errno == ENOENT ? 0 : -errno;
	if (S_ISLNK(st.st_mode))
		return ipk__foreign_err(path, "a symbolic link");
	if (!S_ISSOCK(st.st_mode))
		return ipk__foreign_err(path, "not a socket");
	if (st.st_uid != geteuid())
		return ipk__err(-EACCES, "%s belongs to uid %u, not to us",
		    path, (unsigned)st.st_uid);
	if (IPK__CHECK("unix.recorded", !ipk__ledger_has_obj(l->ledger, &st)))
		return ipk__foreign_err(path,
		    "a socket no ipckit listener's record names: another "
		    "program's server, or left by one");
	if (ipk__ledger_other_lside(l->ledger))
		return ipk__err(
		    -EADDRINUSE, "a live listener already uses %s", path);
	if (unlink(path) < 0 && errno != ENOENT)
		return ipk__err(-errno, "cannot remove stale socket %s", path);
	return 0;
}

/* Bind a socket file at the target path with exactly `mode` (see top). */
static int
unix_bind_file(struct ipk_listener *l, struct unix_lst *ul, unsigned mode)
{
	char dir[PATH_MAX], tmp[PATH_MAX];
	const char *slash = strrchr(ul->path, '/');
	snprintf(dir, sizeof(dir), "%.*s/.ipk-XXXXXX", (int)(slash - ul->path),
	    ul->path);
	if (!mkdtemp(dir))
		return ipk__err(-errno,
		    "cannot create a private directory "
		    "next to %s: %s",
		    ul->path, strerror(errno));
	struct sockaddr_un ta = {.sun_family = AF_UNIX};
	int n = snprintf(tmp, sizeof(tmp), "%s/s", dir);
	int rv = 0;
	if ((size_t)n >= sizeof(ta.sun_path)) {
		rv = ipk__err(-ENAMETOOLONG,
		    "%s: path too long for the "
		    "private bind directory (keep it under %zu bytes)",
		    ul->path, sizeof(ta.sun_path) - 16);
		goto out;
	}
	memcpy(ta.sun_path, tmp, (size_t)n + 1);
	if (bind(ul->fd, (struct sockaddr *)&ta, sizeof(ta)) < 0 ||
	    chmod(tmp, mode) < 0) {
		rv = ipk__err(
		    -errno, "cannot bind %s: %s", ul->path, strerror(errno));
		goto out;
	}
	for (int attempt = 0;; attempt++) {
		if (link(tmp, ul->path) == 0)
			break;
		if (errno != EEXIST || attempt == 8) {
			rv = ipk__err(-errno, "cannot create %s: %s", ul->path,
			    strerror(errno));
			goto out;
		}
		if ((rv = unix_clear(l, ul->path)) < 0)
			goto out;
	}
	struct stat st;
	if (lstat(ul->path, &st) == 0) {
		ul->dev = st.st_dev;
		ul->ino = st.st_ino;
		ipk__ledger_set_obj(l->ledger, &st);
	}
	ul->bound = 1;
out:
	(void)unlink(tmp);
	(void)rmdir(dir);
	return rv;
}

static int
unix_listen(struct ipk_listener *l, const struct ipk__url *u)
{
	struct unix_lst *ul = ipk__lst_priv(l);
	ul->fd = -1;
	struct sockaddr_un sa;
	socklen_t len;
	const struct ipk__framing *f;
	int rv = unix_addr(u, &sa, &len);
	if (rv < 0 || (rv = ipk__url_framing(u, UNIX_FRAMINGS, &f)) < 0 ||
	    (rv = unix_socket(&ul->fd)) < 0)
		return rv;
	if (u->path[0] == '@') {
		if (bind(ul->fd, (struct sockaddr *)&sa, len) < 0)
			return ipk__err(-errno, "cannot bind %s: %s", u->path,
			    errno == EADDRINUSE ? "a live listener uses it"
						: strerror(errno));
	} else {
		snprintf(ul->path, sizeof(ul->path), "%s", u->path);
		if ((rv = ipk__dir_check(ul->path, l->allow_uid)) < 0 ||
		    (rv = ipk__sock_keep_check(l, ul->path)) < 0 ||
		    (rv = unix_clear(l, ul->path)) < 0 ||
		    (rv = unix_bind_file(l, ul, l->mode)) < 0)
			return rv;
	}
	if (listen(ul->fd, SOMAXCONN) < 0)
		return -errno;
	return 0;
}

/* ?framing=: ipckit's own or a plain one. */
static int
unix_chan_init(
    struct ipk_chan *c, struct unix_chan *p, const struct ipk__url *u)
{
	const struct ipk__framing *f;
	int rv = ipk__sock_peercred(p->fd, &p->peer);
	if (rv < 0 || (rv = ipk__url_framing(u, UNIX_FRAMINGS, &f)) < 0)
		return rv;
	ipk__stream_init(&p->s, p->fd, p->fd, c->max_msg);
	p->s.flags = IPK__STREAM_SOCK | IPK__STREAM_OUTQ;
	if (f)
		ipk__stream_framing(&p->s, f);
	return 0;
}

/* An admitted peer: ipckit's framing starts with the limits' hello. */
static int
unix_chan_start(struct unix_chan *p)
{
	if (p->s.framing->hdr_len)
		ipk__stream_hello(&p->s);
	return 0;
}

static int
unix_accept(struct ipk_listener *l, struct ipk_chan *c, int64_t deadline)
{
	struct unix_lst *ul = ipk__lst_priv(l);
	struct unix_chan *p = ipk__chan_priv(c);
	p->fd = -1;
	for (;;) {
		p->fd =
		    accept4(ul->fd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);
		if (p->fd >= 0) {
			int rv = unix_chan_init(c, p, &l->u);
			if (rv == 0 &&
			    !IPK__CHECK("unix.admit_dialer",
				!unix_admit(p->peer.uid, l->allow_uid)))
				return unix_chan_start(p);
			/* Not admitted (or gone already): drop it unheard. */
			ipk__close_fd(&p->fd);
			continue;
		}
		if ((errno == EINTR || errno == ECONNABORTED) &&
		    !ipk__expired(deadline))
			continue;
		if (errno == EINTR || errno == ECONNABORTED)
			return -ETIMEDOUT;
		if (errno != EAGAIN)
			return ipk__err(-errno, "accept: %s", strerror(errno));
		int r = ipk__poll1(ul->fd, POLLIN, deadline, -1);
		if (r < 0)
			return r;
		if (r == 0)
			return -ETIMEDOUT;
	}
}

static int
unix_lfd(struct ipk_listener *l)
{
	struct unix_lst *ul = ipk__lst_priv(l);
	return ul->fd;
}

static void
unix_lclose(struct ipk_listener *l)
{
	struct unix_lst *ul = ipk__lst_priv(l);
	struct stat st;
	/* Remove the name only while it is still our socket. */
	if (ul->bound && !l->keep && lstat(ul->path, &st) == 0 &&
	    st.st_dev == ul->dev && st.st_ino == ul->ino)
		(void)unlink(ul->path);
	ipk__close_fd(&ul->fd);
}

/* One connect: 0, or -errno (-ENOENT/-ECONNREFUSED/-EAGAIN: try again). */
static int
unix_connect(struct unix_chan *p, const struct sockaddr_un *sa, socklen_t len,
    int64_t deadline)
{
	int rv = unix_socket(&p->fd);
	if (rv < 0)
		return rv;
	if (connect(p->fd, (const struct sockaddr *)sa, len) == 0)
		return 0;
	rv = -errno;
	if (rv == -EINPROGRESS) {
		int r = ipk__poll1(p->fd, POLLOUT, deadline, -1);
		int err = 0;
		socklen_t n = sizeof(err);
		if (r <= 0)
			rv = r < 0 ? r : -ETIMEDOUT;
		else if (getsockopt(p->fd, SOL_SOCKET, SO_ERROR, &err, &n) < 0)
			rv = -errno;
		else
			rv = -err;
	}
	if (rv < 0)
		ipk__close_fd(&p->fd);
	return rv;
}

static int
unix_dial(struct ipk_chan *c, const struct ipk__url *u, int64_t deadline)
{
	struct unix_chan *p = ipk__chan_priv(c);
	p->fd = -1;
	struct sockaddr_un sa;
	socklen_t len;
	int rv = unix_addr(u, &sa, &len);
	if (rv < 0)
		return rv;
	struct stat st;
	if (u->path[0] == '/' &&
	    (rv = ipk__dir_check(u->path, c->allow_uid)) < 0)
		return rv;
	if (u->path[0] == '/' && lstat(u->path, &st) == 0 &&
	    S_ISLNK(st.st_mode))
		return ipk__err(IPK_EFOREIGN,
		    "%s is a symbolic link (refusing "
		    "to follow it)",
		    u->path);
	for (;;) {
		rv = unix_connect(p, &sa, len, deadline);
		if (rv == 0)
			break;
		if (rv != -ENOENT && rv != -ECONNREFUSED && rv != -EAGAIN)
			return ipk__err(rv, "cannot connect to %s: %s", u->path,
			    strerror(-rv));
		if (ipk__expired(deadline))
			return ipk__err(rv == -EAGAIN ? -ECONNREFUSED : rv,
			    "nobody listens at %s (%s)", u->path,
			    strerror(-rv));
		(void)poll(NULL, 0, ipk__poll_ms(deadline, 2));
	}
	if ((rv = unix_chan_init(c, p, u)) < 0)
		return rv;
	if (IPK__CHECK(
		"unix.admit_listener", !unix_admit(p->peer.uid, c->allow_uid)))
		return ipk__err(-EACCES,
		    "the listener at %s runs as uid %u, "
		    "not as us (?allow=%u admits it)",
		    u->path, (unsigned)p->peer.uid, (unsigned)p->peer.uid);
	return unix_chan_start(p);
}

static int
unix_send(struct ipk_chan *c, const void *buf, size_t len, uint32_t type,
    int64_t deadline)
{
	struct unix_chan *p = ipk__chan_priv(c);
	return ipk__stream_send(&p->s, buf, len, type, deadline);
}

static int
unix_recv(struct ipk_chan *c, void *buf, size_t cap, size_t *len,
    uint32_t *type, int64_t deadline)
{
	struct unix_chan *p = ipk__chan_priv(c);
	return ipk__stream_recv(&p->s, buf, cap, len, type, deadline);
}

static int
unix_drain(struct ipk_chan *c, int64_t deadline)
{
	struct unix_chan *p = ipk__chan_priv(c);
	return ipk__stream_drain(&p->s, deadline);
}

static int
unix_fd(struct ipk_chan *c)
{
	struct unix_chan *p = ipk__chan_priv(c);
	return p->fd;
}

static int
unix_peer(struct ipk_chan *c, struct ipk_peer *out)
{
	struct unix_chan *p = ipk__chan_priv(c);
	*out = p->peer;
	return 0;
}

static int
unix_ready(struct ipk_chan *c)
{
	struct unix_chan *p = ipk__chan_priv(c);
	return ipk__stream_ready(&p->s);
}

static int
unix_writable(struct ipk_chan *c)
{
	struct unix_chan *p = ipk__chan_priv(c);
	return ipk__stream_writable(&p->s);
}

static int
unix_wfd(struct ipk_chan *c, short *events)
{
	struct unix_chan *p = ipk__chan_priv(c);
	*events = POLLOUT;
	return p->fd;
}

static void
unix_close(struct ipk_chan *c)
{
	struct unix_chan *p = ipk__chan_priv(c);
	if (p->fd >= 0)
		(void)ipk__stream_flush(&p->s, 0);
	ipk__stream_fini(&p->s);
	ipk__close_fd(&p->fd);
}

/* --- Operating: a socket file holds no messages; an abstract name is gone
 * with its socket, so there is nothing to remove. --- */

static int
unix_inspect(const struct ipk__url *u, struct ipk_objinfo *o)
{
	struct sockaddr_un sa;
	socklen_t len;
	struct stat st;
	int rv = unix_addr(u, &sa, &len);
	if (rv < 0)
		return rv;
	if (u->path[0] == '@')
		return -ENOENT;
	if (lstat(u->path, &st) < 0)
		return -errno;
	if (!S_ISSOCK(st.st_mode))
		return ipk__err(IPK_EFOREIGN, "%s is not a socket", u->path);
	o->uid = st.st_uid;
	o->mode = st.st_mode & 07777;
	snprintf(o->objects[0], sizeof(o->objects[0]), "%s", u->path);
	return 0;
}

static int
unix_remove(const struct ipk__url *u, int force)
{
	struct sockaddr_un sa;
	socklen_t len;
	struct stat st;
	int rv = unix_addr(u, &sa, &len);
	if (rv < 0)
		return rv;
	if (u->path[0] == '@' || lstat(u->path, &st) < 0)
		return -ENOENT;
	if (!S_ISSOCK(st.st_mode))
		return ipk__foreign_err(u->path, "not a socket");
	/* Ours only when the address's entry names this very file; whether
	 * its listener lives, the entry told ipk_remove already. */
	if (!ipk__ledger_obj_is(u, &st))
		return ipk__foreign_err(
		    u->path, "a socket no ipckit listener's record names");
	return unlink(u->path) < 0 ? -errno : 0;
}

static const char *const unix_options[] = {"framing", NULL};

const struct ipk__transport ipk__transport_unix = {
    .scheme = "unix",
    .caps = IPK_CAP_MULTI | IPK_CAP_PATTERNS | IPK_CAP_PUBSUB,
    .chan_size = sizeof(struct unix_chan),
    .lst_size = sizeof(struct unix_lst),
    .options = unix_options,
    .example = "unix:///tmp/%s",
    .variants =
	IPK__VARIANTS({"unix", "", "block (poll on socket)", IPK__VARIANT_ALL}),
    .listen = unix_listen,
    .accept = unix_accept,
    .lfd = unix_lfd,
    .lclose = unix_lclose,
    .dial = unix_dial,
    .send = unix_send,
    .recv = unix_recv,
    .drain = unix_drain,
    .fd = unix_fd,
    .ready = unix_ready,
    .writable = unix_writable,
    .wfd = unix_wfd,
    .peer = unix_peer,
    .close = unix_close,
    .inspect = unix_inspect,
    .remove = unix_remove,
};
