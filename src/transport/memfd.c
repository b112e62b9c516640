/* SPDX-License-Identifier: MIT */
/*
 * memfd.c - shared memory between users: the shm:// segment and rings
 * (src/shm/segment.h), but in an anonymous memfd sealed against shrinking
 * and growing, handed over a unix socket after both sides checked each
 * other's credentials. docs/transports/memfd.md tells the whole story.
 *
 * memfd:///path is the socket file where dialers meet the listener. Each
 * accepted dialer gets a segment of its own:
 *   listener -> dialer  hello {magic, size} + SCM_RIGHTS [memfd]
 *   dialer -> listener  ack {magic}, once the segment is mapped
 * The listener reads SO_PEERCRED before anything and closes, unheard, a
 * dialer whose uid is neither ours nor in allow=. The dialer trusts only a
 * listener of its own uid, root, or a uid in its allow=, and maps the
 * memfd only when the kernel reports F_SEAL_SHRINK and F_SEAL_GROW: the
 * other side can then write into the rings (validated as in shm://) but
 * can never make a page vanish under us (no SIGBUS).
 *
 * Doorbells go over the connection: the peer rings us by writing a byte
 * to the socket (MSG_DONTWAIT, so a peer that never reads cannot block
 * us); no descriptor of ours is ever handed out. ipk_fd() is an epoll set of
 * the socket (bell bytes, and hang-up when the peer dies) and our eventfd (rung
 * by ourselves when ipk_fd is asked for while records are queued).
 *
 * Liveness is the connection: the kernel hangs it up when the peer's last
 * descriptor closes (also on SIGKILL), and a blocked call polls for that
 * every IPK__SLICE_MS. No lock file, no name in /dev/shm.
 */
#include "core/sock.h"
#include "core/testhook.h"
#include "core/transport.h"
#include "shm/segment.h"

#include <fcntl.h>
#include <poll.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#define MEMFD_PATH_MAX 107 /* sun_path less its NUL */
#define MEMFD_MAX_ALLOW 16
#define MEMFD_HELLO "IPKMFD1"
#define MEMFD_ACK "IPKMFDA"
/* Seals the dialer insists on; the listener also adds F_SEAL_SEAL. */
#define MEMFD_SEALS (F_SEAL_SHRINK | F_SEAL_GROW)

struct memfd_msg {
	char magic[8];
	uint64_t size; /* hello: the segment's size; ack: 0 */
};

struct memfd_lst {
	int fd;
	uint64_t ino;
	uint64_t cap;
	int wait;
	int nallow;
	uid_t allow[MEMFD_MAX_ALLOW];
	char path[MEMFD_PATH_MAX + 1];
};

struct memfd_chan {
	struct ipk__ring_chan h; /* first: the ipk__segop_* ops use it */
	struct ipk__seg seg;
	int sock; /* the connection: liveness and the peer's bell bytes */
	int efd; /* our own eventfd, rung by ourselves */
	int side;
	struct ipk_peer peer;
	char name[MEMFD_PATH_MAX + 16]; /* "memfd:///path" for sentences */
};

/* --- Addresses, users, credentials -----------------------------------------
 */

static int
memfd_path(const struct ipk__url *u, char *out)
{
	size_t n = strlen(u->path);
	if (u->host[0] || u->port[0] || u->path[0] != '/' || n < 2 ||
	    n > MEMFD_PATH_MAX)
		return ipk__err(-EINVAL,
		    "%s: expected memfd:///path, the "
		    "socket file where dialers meet the listener (at most %d "
		    "bytes)",
		    u->text, MEMFD_PATH_MAX);
	memcpy(out, u->path, n + 1);
	return 0;
}

/* One entry of allow=: a number, or a user name looked up in passwd. */
static int
memfd_user(const char *s, size_t n, uid_t *out)
{
	char name[64], buf[4096], *end;
	if (n == 0 || n >= sizeof(name))
		return ipk__err(-EINVAL, "allow=: empty or overlong user");
	memcpy(name, s, n);
	name[n] = '\0';
	unsigned long v = strtoul(name, &end, 10);
	if (*end == '\0' && name[0] >= '0' && name[0] <= '9') {
		if (v > 0x7fffffff)
			return ipk__err(-EINVAL, "allow=%s: not a uid", name);
		*out = (uid_t)v;
		return 0;
	}
	struct passwd pw, *res = NULL;
	int rv = getpwnam_r(name, &pw, buf, sizeof(buf), &res);
	if (rv != 0 || !res)
		return ipk__err(-EINVAL, "allow=%s: no such user%s%s", name,
		    rv ? ": " : "", rv ? strerror(rv) : "");
	*out = pw.pw_uid;
	return 0;
}

/* allow=UID|NAME[,...] plus ipk_opts.allow_uid: the other users we trust. */
static int
memfd_allow(const struct ipk__url *u, uid_t opt, uid_t *list, int *n)
{
	const char *s;
	*n = 0;
	if (opt)
		list[(*n)++] = opt;
	int rv = ipk__url_str(u, "allow", &s);
	if (rv != 0)
		return rv < 0 ? rv : 0;
	for (;;) {
		size_t len = strcspn(s, ",");
		if (*n == MEMFD_MAX_ALLOW)
			return ipk__err(-EINVAL, "allow=: at most %d users",
			    MEMFD_MAX_ALLOW);
		if ((rv = memfd_user(s, len, &list[*n])) < 0)
			return rv;
		(*n)++;
		if (!s[len])
			return 0;
		s += len + 1;
	}
}

static int
memfd_trusted(uid_t uid, const uid_t *list, int n)
{
	if (uid == geteuid())
		return 1;
	for (int i = 0; i < n; i++)
		if (list[i] == uid)
			return 1;
	return 0;
}

/* --- The handshake ---------------------------------------------------------
 */

static int
memfd_send_msg(struct memfd_chan *s, const struct memfd_msg *m, const int *fds,
    int nfd, int64_t deadline)
{
	union {
		struct cmsghdr h;
		char buf[CMSG_SPACE(sizeof(int))];
	} ctl;
	struct iovec iov = {(void *)m, sizeof(*m)};
	struct msghdr mh = {.msg_iov = &iov, .msg_iovlen = 1};
	memset(&ctl, 0, sizeof(ctl));
	if (nfd > 0) {
		mh.msg_control = ctl.buf;
		mh.msg_controllen = CMSG_SPACE((size_t)nfd * sizeof(int));
		struct cmsghdr *cm = CMSG_FIRSTHDR(&mh);
		cm->cmsg_level = SOL_SOCKET;
		cm->cmsg_type = SCM_RIGHTS;
		cm->cmsg_len = CMSG_LEN((size_t)nfd * sizeof(int));
		memcpy(CMSG_DATA(cm), fds, (size_t)nfd * sizeof(int));
	}
	for (;;) {
		ssize_t n = sendmsg(s->sock, &mh, MSG_NOSIGNAL | MSG_DONTWAIT);
		if (n == (ssize_t)sizeof(*m))
			return 0;
		if (n >= 0 || (errno != EAGAIN && errno != EINTR))
			return n >= 0 || errno == EPIPE || errno == ECONNRESET
			    ? IPK_ECLOSED
			    : -errno;
		int r = ipk__poll1(s->sock, POLLOUT, deadline, -1);
		if (r < 0)
			return r;
		if (r == 0)
			return -ETIMEDOUT;
	}
}

/*
 * Receive one handshake message carrying exactly `want` descriptors into
 * fds[]. Anything else is a protocol error: a short message, a wrong magic,
 * truncated or surplus control data, or another number of descriptors; all
 * descriptors that did arrive are closed then. IPK_ECLOSED on EOF.
 */
static int
memfd_recv_msg(struct memfd_chan *s, const char *magic, struct memfd_msg *m,
    int *fds, int want, int64_t deadline)
{
	union {
		struct cmsghdr h;
		char buf[CMSG_SPACE(8 * sizeof(int))];
	} ctl;
	struct iovec iov = {m, sizeof(*m)};
	struct msghdr mh;
	ssize_t n;
	for (;;) {
		memset(&mh, 0, sizeof(mh));
		mh.msg_iov = &iov;
		mh.msg_iovlen = 1;
		mh.msg_control = ctl.buf;
		mh.msg_controllen = sizeof(ctl.buf);
		n = recvmsg(s->sock, &mh, MSG_CMSG_CLOEXEC | MSG_DONTWAIT);
		if (n >= 0)
			break;
		if (errno != EAGAIN && errno != EINTR)
			return errno == ECONNRESET ? IPK_ECLOSED : -errno;
		int r = ipk__poll1(s->sock, POLLIN, deadline, -1);
		if (r < 0)
			return r;
		if (r == 0)
			return -ETIMEDOUT;
	}
	int got = 0, bad = (mh.msg_flags & MSG_CTRUNC) != 0;
	for (struct cmsghdr *cm = CMSG_FIRSTHDR(&mh); cm;
	     cm = CMSG_NXTHDR(&mh, cm)) {
		if (cm->cmsg_level != SOL_SOCKET ||
		    cm->cmsg_type != SCM_RIGHTS) {
			bad = 1;
			continue;
		}
		size_t k = (cm->cmsg_len - CMSG_LEN(0)) / sizeof(int);
		for (size_t i = 0; i < k; i++) {
			int fd;
			memcpy(
			    &fd, CMSG_DATA(cm) + i * sizeof(int), sizeof(fd));
			if (got < want)
				fds[got++] = fd;
			else {
				bad = 1;
				close(fd);
			}
		}
	}
	if (n == 0 && got == 0)
		return IPK_ECLOSED;
	int right = n == (ssize_t)sizeof(*m) &&
	    memcmp(m->magic, magic, sizeof(m->magic)) == 0;
	if (IPK__CHECK("memfd.handshake", bad || got != want || !right)) {
		int had = got;
		while (got > 0)
			close(fds[--got]);
		return ipk__err(IPK_ECORRUPT,
		    "%s: malformed handshake: %zd "
		    "bytes%s with %d%s descriptor(s), expected %zu bytes "
		    "starting \"%s\" with %d",
		    s->name, n, right ? "" : " (wrong)", had,
		    bad ? " or more" : "", sizeof(*m), magic, want);
	}
	return 0;
}

/* --- Channels --------------------------------------------------------------
 */

static int
memfd_alive(void *arg)
{
	struct memfd_chan *s = arg;
	struct pollfd p = {.fd = s->sock, .events = POLLRDHUP};
	int n = poll(&p, 1, 0);
	return n == 0 ||
	    (n > 0 &&
		!(p.revents & (POLLRDHUP | POLLHUP | POLLERR | POLLNVAL)));
}

/* The consumer asked for its doorbell: one byte on the connection. A full
 * socket buffer means bells are already waiting there. */
static void
memfd_bell_ring(void *arg)
{
	struct memfd_chan *s = arg;
	char b = 1;
	(void)!send(s->sock, &b, 1, MSG_DONTWAIT | MSG_NOSIGNAL);
}

/* Empty both doorbells. Bounded: a peer that keeps writing only makes us
 * look again at the next arm. */
static void
memfd_drain(void *arg)
{
	struct memfd_chan *s = arg;
	char buf[256];
	uint64_t v;
	for (int i = 0; i < 16; i++)
		if (recv(s->sock, buf, sizeof(buf), MSG_DONTWAIT) <= 0)
			break;
	(void)!read(s->efd, &v, sizeof(v));
}

static void
memfd_chan_init(struct memfd_chan *s, const char *path, int side)
{
	ipk__seg_init(&s->seg);
	s->sock = s->efd = s->h.bell = -1;
	s->side = side;
	snprintf(s->name, sizeof(s->name), "memfd://%s", path);
}

/* Map the received segment: sealed, and valid for its real size. */
static int
memfd_map(struct ipk_chan *c, struct memfd_chan *s)
{
	struct stat st;
	int seals = fcntl(s->seg.fd, F_GET_SEALS);
	if (IPK__CHECK("memfd.seals",
		seals < 0 || (seals & MEMFD_SEALS) != MEMFD_SEALS))
		return ipk__err(-EACCES,
		    "%s: the listener's segment is not "
		    "sealed against shrinking and growing, so it could "
		    "vanish under us (SIGBUS); refusing it",
		    s->name);
	if (fstat(s->seg.fd, &st) < 0)
		return -errno;
	/* Only a sealable file gets past F_GET_SEALS; its header is checked
	 * against its real size by ipk__seg_map. */
	int rv = ipk__seg_map(&s->seg, st.st_size, s->name);
	if (rv == 1)
		rv =
		    ipk__err(IPK_ECORRUPT, "%s: the segment is empty", s->name);
	if (rv < 0)
		return rv;
	return ipk__seg_attach(c, &s->seg, &s->h, 1);
}

/* Both sides, once the segment is mapped: the ring channel's hooks. */
static int
memfd_ready_chan(struct memfd_chan *s)
{
	s->efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (s->efd < 0)
		return ipk__err(
		    -errno, "%s: eventfd: %s", s->name, strerror(errno));
	s->h.name = s->name;
	s->h.alive = memfd_alive;
	s->h.drain = memfd_drain;
	s->h.arg = s;
	s->h.tx.bell = memfd_bell_ring;
	s->h.tx.bell_arg = s;
	return ipk__sock_peercred(s->sock, &s->peer);
}

/* Listener side: make, seal and hand over a segment to the dialer. */
static int
memfd_offer(struct ipk_chan *c, struct memfd_lst *ls, struct memfd_chan *s,
    int64_t deadline)
{
	struct ipk__seg *g = &s->seg;
	g->fd = memfd_create("ipckit", MFD_CLOEXEC | MFD_ALLOW_SEALING);
	if (g->fd < 0)
		return ipk__err(
		    -errno, "%s: memfd_create: %s", s->name, strerror(errno));
	int rv = ipk__seg_create(g, ls->cap, ls->wait, s->name);
	if (rv < 0)
		return rv;
	if (fcntl(g->fd, F_ADD_SEALS, MEMFD_SEALS | F_SEAL_SEAL) < 0)
		return ipk__err(-errno, "%s: cannot seal the segment: %s",
		    s->name, strerror(errno));
	s->h.wait = ls->wait;
	if ((rv = ipk__seg_attach(c, g, &s->h, 0)) < 0 ||
	    (rv = memfd_ready_chan(s)) < 0)
		return rv;
	struct memfd_msg m = {MEMFD_HELLO, g->len};
	if ((rv = memfd_send_msg(s, &m, &g->fd, 1, deadline)) < 0)
		return rv;
	return memfd_recv_msg(s, MEMFD_ACK, &m, NULL, 0, deadline);
}

static int
memfd_listen(struct ipk_listener *l, const struct ipk__url *u)
{
	struct memfd_lst *ls = ipk__lst_priv(l);
	const char *m;
	ls->fd = -1;
	ls->cap = IPK__SEG_DEFAULT_CAP;
	ls->wait = IPK__WAIT_ADAPTIVE;
	int rv;
	if ((rv = memfd_path(u, ls->path)) < 0 ||
	    (rv = ipk__ring_opts(u, &ls->cap, &ls->wait)) < 0 ||
	    (rv = memfd_allow(u, l->allow_uid, ls->allow, &ls->nallow)) < 0)
		return rv;
	/* Who gets in is decided by SO_PEERCRED; the file mode only has to
	 * let the allowed users connect. */
	unsigned mode = l->mode;
	if (ls->nallow > 0 && ipk__url_str(u, "mode", &m) == 1 && mode == 0600)
		mode = 0666;
	if ((rv = ipk__sock_keep_check(l, ls->path)) < 0)
		return rv;
	return ipk__sock_listen_unix(
	    l->ledger, ls->path, mode, &ls->fd, &ls->ino);
}

static int
memfd_accept(struct ipk_listener *l, struct ipk_chan *c, int64_t deadline)
{
	struct memfd_lst *ls = ipk__lst_priv(l);
	struct memfd_chan *s = ipk__chan_priv(c);
	memfd_chan_init(s, ls->path, 0);
	for (;;) {
		int rv = ipk__sock_accept(ls->fd, deadline, &s->sock);
		if (rv < 0)
			return rv;
		if (ipk__sock_peercred(s->sock, &s->peer) == 0 &&
		    !IPK__CHECK("memfd.admit_dialer",
			!memfd_trusted(s->peer.uid, ls->allow, ls->nallow))) {
			/* A dialer gets a few seconds for its answer even
			 * when accept was asked not to wait. */
			int64_t d = IPK__MAX(deadline,
			    ipk__now_ns() +
				(int64_t)IPK__SOCK_TRY_MS * 1000000);
			rv = memfd_offer(c, ls, s, d);
			if (rv == 0)
				return 0;
			if (rv != IPK_ECLOSED && rv != IPK_ECORRUPT &&
			    rv != -ETIMEDOUT)
				return rv;
		}
		/* Not admitted (dropped unheard), or the dialer went away or
		 * misbehaved during the handshake: serve the next one. */
		ipk__close_fd(&s->sock);
		ipk__close_fd(&s->efd);
		ipk__seg_fini(&s->seg);
		ipk__err_clear();
		if (ipk__expired(deadline))
			return -ETIMEDOUT;
	}
}

static int
memfd_lfd(struct ipk_listener *l)
{
	struct memfd_lst *ls = ipk__lst_priv(l);
	return ls->fd;
}

static void
memfd_lclose(struct ipk_listener *l)
{
	struct memfd_lst *ls = ipk__lst_priv(l);
	if (ls->fd >= 0 && !l->keep)
		ipk__sock_unlink_unix(ls->path, ls->ino);
	ipk__close_fd(&ls->fd);
}

static int
memfd_dial(struct ipk_chan *c, const struct ipk__url *u, int64_t deadline)
{
	struct memfd_chan *s = ipk__chan_priv(c);
	char path[MEMFD_PATH_MAX + 1];
	uid_t allow[MEMFD_MAX_ALLOW];
	int nallow, wait = -1, rv;
	uint64_t size;
	memfd_chan_init(s, u->path, 1);
	if ((rv = memfd_path(u, path)) < 0 ||
	    (rv = ipk__ring_opts(u, &size, &wait)) < 0 ||
	    (rv = memfd_allow(u, c->allow_uid, allow, &nallow)) < 0 ||
	    (rv = ipk__sock_dial_unix(path, deadline, &s->sock)) < 0 ||
	    (rv = ipk__sock_peercred(s->sock, &s->peer)) < 0)
		return rv;
	if (IPK__CHECK("memfd.admit_listener",
		s->peer.uid != 0 && !memfd_trusted(s->peer.uid, allow, nallow)))
		return ipk__err(-EACCES,
		    "%s: the listener runs as uid %u, "
		    "neither us nor root (?allow=%u trusts it)",
		    s->name, (unsigned)s->peer.uid, (unsigned)s->peer.uid);
	int64_t d = ipk__expired(deadline)
	    ? ipk__now_ns() + (int64_t)IPK__SOCK_TRY_MS * 1000000
	    : deadline;
	struct memfd_msg m;
	rv = memfd_recv_msg(s, MEMFD_HELLO, &m, &s->seg.fd, 1, d);
	if (rv == IPK_ECLOSED)
		return ipk__err(-ECONNREFUSED,
		    "%s: the listener closed the "
		    "connection without a segment (is uid %u in its "
		    "allow=?)",
		    s->name, (unsigned)geteuid());
	if (rv == -ETIMEDOUT)
		return ipk__err(rv,
		    "%s: the listener did not hand over a "
		    "segment in time (is it accepting?)",
		    s->name);
	if (rv < 0)
		return rv;
	if ((rv = memfd_map(c, s)) < 0)
		return rv;
	s->h.wait = wait >= 0
	    ? wait
	    : (int)(__atomic_load_n(&s->seg.hdr->wait, __ATOMIC_RELAXED) & 3);
	if ((rv = memfd_ready_chan(s)) < 0)
		return rv;
	struct memfd_msg ack = {MEMFD_ACK, 0};
	rv = memfd_send_msg(s, &ack, NULL, 0, d);
	if (rv == IPK_ECLOSED)
		return ipk__err(-ECONNREFUSED,
		    "%s: the listener hung up "
		    "during the handshake",
		    s->name);
	return rv;
}

/* ipk_fd: an epoll set of the connection (bell bytes, hang-up) and our
 * eventfd, made on first use; see docs/transports/memfd.md. */
static int
memfd_fd(struct ipk_chan *c)
{
	struct memfd_chan *s = ipk__chan_priv(c);
	if (s->h.bell >= 0)
		return s->h.bell;
	int ep = epoll_create1(EPOLL_CLOEXEC);
	struct epoll_event ev = {.events = EPOLLIN | EPOLLRDHUP};
	ev.data.fd = s->sock;
	if (ep < 0 || epoll_ctl(ep, EPOLL_CTL_ADD, s->sock, &ev) < 0 ||
	    (ev.events = EPOLLIN, ev.data.fd = s->efd,
		epoll_ctl(ep, EPOLL_CTL_ADD, s->efd, &ev) < 0)) {
		int e = -errno;
		if (ep >= 0)
			close(ep);
		return ipk__err(e, "%s: cannot make the doorbell: %s", s->name,
		    strerror(-e));
	}
	s->h.bell = ep;
	ipk__ring_chan_arm(&s->h);
	if (ipk__ring_pending(s->h.rx.ctl, s->h.rx.cap) > 0) {
		uint64_t one = 1;
		(void)!write(s->efd, &one, sizeof(one));
	}
	return s->h.bell;
}

static int
memfd_peer(struct ipk_chan *c, struct ipk_peer *out)
{
	struct memfd_chan *s = ipk__chan_priv(c);
	*out = s->peer;
	return 0;
}

static void
memfd_close(struct ipk_chan *c)
{
	struct memfd_chan *s = ipk__chan_priv(c);
	/* Hang up first, then wake the peer wherever it sleeps: it finds the
	 * connection gone. */
	ipk__close_fd(&s->sock);
	if (s->seg.hdr && s->h.tx.ctl) {
		ipk__ring_wake_reader(&s->h.tx);
		ipk__ring_wake_writer(&s->h.rx);
	}
	ipk__close_fd(&s->h.bell);
	ipk__close_fd(&s->efd);
	ipk__seg_fini(&s->seg);
}

static const char *const memfd_options[] = {"size", "wait", "allow", NULL};

/* --- Operating: the socket file, ipckit's only when its run-directory
 * entry names it (the segments are unnamed). --- */

static int
memfd_inspect(const struct ipk__url *u, struct ipk_objinfo *o)
{
	char path[sizeof(((struct memfd_lst *)0)->path)];
	int rv = memfd_path(u, path);
	return rv < 0 ? rv : ipk__sock_inspect_unix(u, o);
}

static int
memfd_remove(const struct ipk__url *u, int force)
{
	char path[sizeof(((struct memfd_lst *)0)->path)];
	(void)force; /* ipk_remove asked the entry whether it lives */
	int rv = memfd_path(u, path);
	return rv < 0 ? rv : ipk__sock_remove_unix(u);
}

const struct ipk__transport ipk__transport_memfd = {
    .scheme = "memfd",
    .caps =
	IPK_CAP_BOUNDARIES | IPK_CAP_TYPES | IPK_CAP_ZEROCOPY | IPK_CAP_MULTI,
    .chan_size = sizeof(struct memfd_chan),
    .lst_size = sizeof(struct memfd_lst),
    .options = memfd_options,
    .example = "memfd:///tmp/%s",
    .variants =
	IPK__VARIANTS({"memfd", "", "spin, then futex", IPK_VARIANT_BENCH},
	    {"memfd/futex", "wait=futex", "futex", IPK_VARIANT_CONTRACT},
	    {"memfd/spin", "wait=spin", "spin (bounded)", IPK_VARIANT_CONTRACT},
	    {"memfd/adaptive", "wait=adaptive", "spin, then futex",
		IPK_VARIANT_CONTRACT}),
    .listen = memfd_listen,
    .accept = memfd_accept,
    .lfd = memfd_lfd,
    .lclose = memfd_lclose,
    .dial = memfd_dial,
    .send = ipk__segop_send,
    .recv = ipk__segop_recv,
    .loan = ipk__segop_loan,
    .commit = ipk__segop_commit,
    .peek = ipk__segop_peek,
    .release = ipk__segop_release,
    .toobig = ipk__segop_toobig,
    .fd = memfd_fd,
    .ready = ipk__segop_ready,
    .doorbell = 1,
    .peer = memfd_peer,
    .close = memfd_close,
    .inspect = memfd_inspect,
    .remove = memfd_remove,
};
