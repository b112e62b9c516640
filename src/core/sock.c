/* SPDX-License-Identifier: MIT */
/*
 * sock.c - socket plumbing shared by the socket transports (see sock.h):
 * resolve, bind, accept and connect with deadlines, unix-path listeners.
 */
#include "core/ledger.h"
#include "core/own.h"
#include "core/sock.h"
#include "core/testhook.h"
#include "core/transport.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

void
ipk__sock_nodelay(int fd)
{
	int one = 1;
	(void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
}

static int
sock_resolve(
    const struct ipk__url *u, int type, int passive, struct addrinfo **res)
{
	const char *host = u->host;
	if (!*u->port)
		return ipk__err(-EINVAL,
		    "%s needs a port (host:port; 0 picks "
		    "a free one when listening)",
		    u->text);
	if (!*host || !strcmp(host, "*")) {
		if (!passive)
			return ipk__err(-EINVAL,
			    "%s needs a host to connect "
			    "to",
			    u->text);
		host = NULL;
	}
	struct addrinfo hints = {
	    .ai_family = AF_UNSPEC,
	    .ai_socktype = type,
	    .ai_flags = (passive ? AI_PASSIVE : 0) | AI_NUMERICSERV,
	};
	int rv = getaddrinfo(host, u->port, &hints, res);
	if (rv == 0)
		return 0;
	if (rv == EAI_SYSTEM)
		return ipk__err(-errno, "cannot resolve '%s': %s", u->host,
		    strerror(errno));
	if (rv == EAI_MEMORY)
		return -ENOMEM;
	return ipk__err(
	    -ENOENT, "cannot resolve host '%s': %s", u->host, gai_strerror(rv));
}

int
ipk__sock_bind_inet(const struct ipk__url *u, int type, int *fd)
{
	struct addrinfo *res, *ai;
	int rv = sock_resolve(u, type, 1, &res);
	if (rv < 0)
		return rv;
	rv = -EADDRNOTAVAIL;
	for (ai = res; ai; ai = ai->ai_next) {
		int s = socket(ai->ai_family,
		    ai->ai_socktype | SOCK_CLOEXEC | SOCK_NONBLOCK,
		    ai->ai_protocol);
		if (s < 0) {
			rv = -errno;
			continue;
		}
		int one = 1;
		/* TCP: rebinding over TIME_WAIT is fine; on Linux this never
		 * lets two live listeners share a port. */
		if (type == SOCK_STREAM)
			(void)setsockopt(
			    s, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
		if (bind(s, ai->ai_addr, ai->ai_addrlen) == 0 &&
		    (type != SOCK_STREAM || listen(s, SOMAXCONN) == 0)) {
			*fd = s;
			freeaddrinfo(res);
			return 0;
		}
		rv = -errno;
		ipk__close_fd(&s);
	}
	freeaddrinfo(res);
	if (rv == -EADDRINUSE)
		return ipk__err(
		    rv, "port %s on '%s' is already in use", u->port, u->host);
	return ipk__err(rv, "cannot bind %s: %s", u->text, strerror(-rv));
}

int
ipk__sock_fix_port(struct ipk_listener *l, const struct ipk__url *u, int fd)
{
	if (strcmp(u->port, "0") != 0)
		return 0;
	struct sockaddr_storage ss;
	socklen_t len = sizeof(ss);
	if (getsockname(fd, (struct sockaddr *)&ss, &len) < 0)
		return -errno;
	unsigned port = ss.ss_family == AF_INET6
	    ? ntohs(((struct sockaddr_in6 *)&ss)->sin6_port)
	    : ntohs(((struct sockaddr_in *)&ss)->sin_port);
	const char *q = strchr(u->text, '?');
	int v6 = strchr(u->host, ':') != NULL;
	char buf[4200];
	int n = snprintf(buf, sizeof(buf), "%s://%s%s%s:%u%s%s", u->scheme,
	    v6 ? "[" : "", u->host, v6 ? "]" : "", port, u->path, q ? q : "");
	if (n < 0 || (size_t)n >= sizeof(buf))
		return -ENAMETOOLONG;
	return ipk__listener_set_url(l, buf);
}

int
ipk__sock_accept(int lfd, int64_t deadline, int *fd)
{
	for (;;) {
		int s = accept4(lfd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);
		if (s >= 0) {
			*fd = s;
			return 0;
		}
		switch (errno) {
		case EINTR:
		case ECONNABORTED:
		case EPROTO:
			if (ipk__expired(deadline))
				return -ETIMEDOUT;
			continue;
		case EAGAIN:
			break;
		default:
			return ipk__err(
			    -errno, "accept failed: %s", strerror(errno));
		}
		int r = ipk__poll1(lfd, POLLIN, deadline, -1);
		if (r < 0)
			return r;
		if (r == 0 && ipk__expired(deadline))
			return -ETIMEDOUT;
	}
}

/* One non-blocking connect, its handshake waited for until `deadline`. */
static int
sock_connect1(int s, const struct sockaddr *sa, socklen_t len, int64_t deadline)
{
	while (connect(s, sa, len) < 0) {
		if (errno == EINTR && !ipk__expired(deadline))
			continue;
		if (errno == EINTR)
			return -ETIMEDOUT;
		/* EALREADY: an interrupted connect goes on in the kernel */
		if (errno != EINPROGRESS && errno != EALREADY)
			return -errno;
		for (;;) {
			int r = ipk__poll1(s, POLLOUT, deadline, -1);
			if (r < 0)
				return r;
			if (r > 0)
				break;
			if (ipk__expired(deadline))
				return -ETIMEDOUT;
		}
		int err = 0;
		socklen_t el = sizeof(err);
		if (getsockopt(s, SOL_SOCKET, SO_ERROR, &err, &el) < 0)
			return -errno;
		return -err;
	}
	return 0;
}

/* Sleep one liveness slice, or less when the deadline is nearer. */
static void
sock_pause(int64_t deadline)
{
	(void)poll(NULL, 0, ipk__poll_ms(deadline, IPK__SLICE_MS));
}

int
ipk__sock_dial_inet(const struct ipk__url *u, int type, int64_t deadline,
    int *fd, struct ipk__sockaddr *peer)
{
	struct addrinfo *res, *ai;
	int rv = sock_resolve(u, type, 0, &res);
	if (rv < 0)
		return rv;
	int once = ipk__expired(deadline);
	int64_t try_deadline = once
	    ? ipk__now_ns() + (int64_t)IPK__SOCK_TRY_MS * 1000000
	    : deadline;
	for (;;) {
		for (ai = res; ai; ai = ai->ai_next) {
			int s = socket(ai->ai_family,
			    ai->ai_socktype | SOCK_CLOEXEC | SOCK_NONBLOCK,
			    ai->ai_protocol);
			if (s < 0) {
				rv = -errno;
				continue;
			}
			rv = sock_connect1(
			    s, ai->ai_addr, ai->ai_addrlen, try_deadline);
			if (rv == 0) {
				if (peer) {
					memcpy(&peer->ss, ai->ai_addr,
					    ai->ai_addrlen);
					peer->len = ai->ai_addrlen;
				}
				*fd = s;
				freeaddrinfo(res);
				return 0;
			}
			ipk__close_fd(&s);
			if (rv == -ETIMEDOUT)
				break;
		}
		if (once || rv != -ECONNREFUSED || ipk__expired(deadline))
			break;
		sock_pause(deadline);
	}
	freeaddrinfo(res);
	if (rv == -ECONNREFUSED)
		return ipk__err(rv,
		    "nobody listens at %s:%s (connection "
		    "refused)",
		    u->host, u->port);
	if (rv == -ETIMEDOUT)
		return ipk__err(rv, "no answer from %s:%s before the timeout",
		    u->host, u->port);
	return ipk__err(
	    rv, "cannot connect to %s:%s: %s", u->host, u->port, strerror(-rv));
}

static int
sock_unix_addr(const char *path, struct sockaddr_un *sun, socklen_t *len)
{
	size_t n = strlen(path);
	memset(sun, 0, sizeof(*sun));
	sun->sun_family = AF_UNIX;
	if (n == 0)
		return ipk__err(-EINVAL, "empty socket path");
	if (n >= sizeof(sun->sun_path))
		return ipk__err(-ENAMETOOLONG,
		    "socket path '%s' is longer "
		    "than %zu bytes",
		    path, sizeof(sun->sun_path) - 1);
	memcpy(sun->sun_path, path, n);
	*len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + n + 1);
	return 0;
}

static int
sock_unix_socket(void)
{
	int s = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	return s < 0 ? -errno : s;
}

int
ipk__sock_keep_check(const struct ipk_listener *l, const char *path)
{
	if (!l->keep || l->ledger)
		return 0;
	return ipk__err(-ENOLCK,
	    "%s: ?keep=1 leaves the socket file for later, but the "
	    "run-directory entry that would prove it ipckit's could not be "
	    "made (see IPK_RUNDIR), so nothing could ever remove it",
	    path);
}

int
ipk__sock_listen_unix(struct ipk__ledger *g, const char *path, unsigned mode,
    int *fd, uint64_t *ino)
{
	struct sockaddr_un sun;
	socklen_t len;
	int rv = sock_unix_addr(path, &sun, &len);
	if (rv < 0)
		return rv;
	int s = sock_unix_socket();
	if (s < 0)
		return s;
	/* Linux creates the socket file with the socket inode's mode less
	 * the umask (unix_bind), so the file is never wider than `mode`. */
	if (fchmod(s, mode & 0777) < 0) {
		rv = -errno;
		goto err;
	}
	for (int tries = 0;; tries++) {
		rv = bind(s, (struct sockaddr *)&sun, len);
		if (rv == 0)
			break;
		rv = -errno;
		if (rv != -EADDRINUSE || tries > 0)
			goto err;
		/* Never a connect to what is there: a single-peer server
		 * would take it for its client. The run-directory entry
		 * says whose socket it is and whether its listener lives. */
		struct stat st;
		if (lstat(path, &st) < 0)
			continue;
		if (!S_ISSOCK(st.st_mode)) {
			rv = ipk__foreign_err(path, "not a socket");
			goto err;
		}
		if (IPK__CHECK("sock.recorded", !ipk__ledger_has_obj(g, &st))) {
			rv = ipk__foreign_err(path,
			    "a socket no ipckit listener's record names: "
			    "another program's server, or left by one");
			goto err;
		}
		if (ipk__ledger_other_lside(g)) {
			rv = ipk__err(-EADDRINUSE,
			    "a live listener already "
			    "accepts on '%s'",
			    path);
			goto err;
		}
		/* Ours, and its listener is gone: reclaim it. */
		(void)unlink(path);
	}
	/* Widen to exactly `mode` where the umask took bits away, never
	 * following a link swapped in meanwhile. On failure the file stays
	 * narrower than asked, never wider. */
	int chm = fchmodat(AT_FDCWD, path, mode & 0777, AT_SYMLINK_NOFOLLOW);
	(void)chm;
	if (listen(s, SOMAXCONN) < 0) {
		rv = -errno;
		(void)unlink(path);
		goto err;
	}
	struct stat st;
	if (stat(path, &st) < 0) {
		rv = -errno;
		goto err;
	}
	*ino = (uint64_t)st.st_ino;
	ipk__ledger_set_obj(g, &st);
	*fd = s;
	return 0;
err:
	ipk__close_fd(&s);
	if (rv == -EADDRINUSE || rv == IPK_EFOREIGN || rv == -ENAMETOOLONG ||
	    rv == -EINVAL)
		return rv;
	return ipk__err(rv, "cannot listen on '%s': %s", path, strerror(-rv));
}

void
ipk__sock_unlink_unix(const char *path, uint64_t ino)
{
	struct stat st;
	if (lstat(path, &st) == 0 && S_ISSOCK(st.st_mode) &&
	    (uint64_t)st.st_ino == ino)
		(void)unlink(path);
}

int
ipk__sock_peercred(int fd, struct ipk_peer *out)
{
	struct ucred uc;
	socklen_t n = sizeof(uc);
	if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &uc, &n) < 0)
		return -errno;
	out->pid = uc.pid;
	out->uid = uc.uid;
	out->gid = uc.gid;
	return 0;
}

int
ipk__sock_dial_unix(const char *path, int64_t deadline, int *fd)
{
	struct sockaddr_un sun;
	socklen_t len;
	int rv = sock_unix_addr(path, &sun, &len);
	if (rv < 0)
		return rv;
	for (;;) {
		int s = sock_unix_socket();
		if (s < 0)
			return s;
		int64_t d = ipk__expired(deadline)
		    ? ipk__now_ns() + (int64_t)IPK__SOCK_TRY_MS * 1000000
		    : deadline;
		rv = sock_connect1(s, (struct sockaddr *)&sun, len, d);
		if (rv == 0) {
			*fd = s;
			return 0;
		}
		ipk__close_fd(&s);
		if ((rv != -ECONNREFUSED && rv != -ENOENT) ||
		    ipk__expired(deadline))
			break;
		sock_pause(deadline);
	}
	if (rv == -ENOENT)
		return ipk__err(rv, "no socket at '%s' (nobody listens)", path);
	if (rv == -ECONNREFUSED)
		return ipk__err(rv,
		    "nobody accepts on '%s' (connection "
		    "refused)",
		    path);
	return ipk__err(rv, "cannot connect to '%s': %s", path, strerror(-rv));
}

int
ipk__sock_inspect_unix(const struct ipk__url *u, struct ipk_objinfo *o)
{
	struct stat st;
	if (lstat(u->path, &st) < 0)
		return -errno;
	if (!S_ISSOCK(st.st_mode) || !ipk__ledger_obj_is(u, &st))
		return ipk__foreign_err(
		    u->path, "a socket no ipckit listener's record names");
	o->uid = st.st_uid;
	o->mode = st.st_mode & 07777;
	snprintf(o->objects[0], sizeof(o->objects[0]), "%.255s", u->path);
	return 0;
}

int
ipk__sock_remove_unix(const struct ipk__url *u)
{
	struct stat st;
	if (lstat(u->path, &st) < 0)
		return -ENOENT;
	if (!S_ISSOCK(st.st_mode) || !ipk__ledger_obj_is(u, &st))
		return ipk__foreign_err(
		    u->path, "a socket no ipckit listener's record names");
	return unlink(u->path) < 0 ? -errno : 0;
}
