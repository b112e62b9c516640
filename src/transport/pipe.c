/* SPDX-License-Identifier: MIT */
/*
 * pipe.c - anonymous pipes (the article's `|`): two one-way pipes between a
 * parent and the child it started, framed into messages by core/frame.c.
 *
 * There is no name to listen on: channels come from ipk_spawn()/ipk_pair()
 * (src/core/spawn.c), which dial "pipe:?rfd=R&wfd=W&gfd=G" with descriptors
 * they created. G is a guard: a read end of our own outgoing pipe that this
 * side keeps open and never reads, so a write never meets a pipe without
 * readers and the kernel never raises SIGPIPE on the caller. The peer's
 * death is seen as EOF/POLLHUP on the incoming pipe instead.
 *
 * ?framing=raw|lines adopts any pipe descriptors, one direction or both
 * ("pipe:?rfd=0&framing=lines": the lines of a shell pipeline), with no
 * header; without gfd= the stream keeps the kernel's SIGPIPE from the
 * caller itself (IPK__STREAM_NOSIGPIPE).
 */
#include "core/frame.h"
#include "core/transport.h"

#include <errno.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

struct pipe_chan {
	struct ipk__stream s;
	int rfd, wfd, gfd;
};

/* Adopt the descriptor in option `key`: 1 when absent and `optional`. */
static int
pipe_adopt(const struct ipk__url *u, const char *key, int optional, int *fd)
{
	int64_t v;
	int rv = ipk__url_int(u, key, 0, 0x7fffffff, &v);
	if (rv < 0)
		return rv;
	if (rv == 1 && optional)
		return 1;
	if (rv == 1)
		return ipk__err(-EINVAL,
		    "pipe channels are made by ipk_spawn "
		    "or ipk_pair (option %s= missing)",
		    key);
	struct stat st;
	if (fstat((int)v, &st) < 0)
		return ipk__err(-EBADF, "%s=%lld is not an open descriptor",
		    key, (long long)v);
	if (!S_ISFIFO(st.st_mode))
		return ipk__err(
		    -EINVAL, "%s=%lld is not a pipe", key, (long long)v);
	*fd = (int)v;
	if (fcntl(*fd, F_SETFD, FD_CLOEXEC) < 0)
		return -errno;
	return 0;
}

/* ipckit's framing needs both directions and the guard; a plain one
 * (?framing=raw|lines: the shell's `|`) takes rfd=, wfd= or both, and
 * without gfd= a write to a pipe whose reader left gives IPK_ECLOSED. */
static int
pipe_dial(struct ipk_chan *c, const struct ipk__url *u, int64_t deadline)
{
	struct pipe_chan *p = ipk__chan_priv(c);
	const struct ipk__framing *f;
	int rv;
	(void)deadline;
	p->rfd = p->wfd = p->gfd = -1;
	if ((rv = ipk__url_framing(
		 u, IPK__FRAMING_RAW | IPK__FRAMING_LINES, &f)) < 0)
		return rv;
	int opt = f != NULL;
	if ((rv = pipe_adopt(u, "rfd", opt, &p->rfd)) < 0 ||
	    (rv = pipe_adopt(u, "wfd", opt, &p->wfd)) < 0 ||
	    (rv = pipe_adopt(u, "gfd", opt, &p->gfd)) < 0)
		goto err;
	if (p->rfd < 0 && p->wfd < 0) {
		rv = ipk__err(-EINVAL,
		    "%s: a pipe channel needs rfd=, wfd= "
		    "or both",
		    u->text);
		goto err;
	}
	if ((p->rfd >= 0 && (rv = ipk__set_nonblock(p->rfd, 1)) < 0) ||
	    (p->wfd >= 0 && (rv = ipk__set_nonblock(p->wfd, 1)) < 0))
		goto err;
	ipk__stream_init(&p->s, p->rfd, p->wfd, c->max_msg);
	p->s.hup_fd = p->rfd;
	if (f)
		ipk__stream_framing(&p->s, f);
	if (p->gfd < 0)
		p->s.flags |= IPK__STREAM_NOSIGPIPE;
	return 0;
err:
	/* Descriptors we did not adopt stay the caller's. */
	p->rfd = p->wfd = p->gfd = -1;
	return rv;
}

static int
pipe_oneway(const char *what)
{
	return ipk__err(
	    -ENOTSUP, "this pipe channel has no %s end (rfd=/wfd=)", what);
}

static int
pipe_send(struct ipk_chan *c, const void *buf, size_t len, uint32_t type,
    int64_t deadline)
{
	struct pipe_chan *p = ipk__chan_priv(c);
	if (p->wfd < 0)
		return pipe_oneway("write");
	return ipk__stream_send(&p->s, buf, len, type, deadline);
}

static int
pipe_recv(struct ipk_chan *c, void *buf, size_t cap, size_t *len,
    uint32_t *type, int64_t deadline)
{
	struct pipe_chan *p = ipk__chan_priv(c);
	if (p->rfd < 0)
		return pipe_oneway("read");
	return ipk__stream_recv(&p->s, buf, cap, len, type, deadline);
}

static int
pipe_drain(struct ipk_chan *c, int64_t deadline)
{
	struct pipe_chan *p = ipk__chan_priv(c);
	if (p->wfd < 0)
		return 0;
	return ipk__stream_drain(&p->s, deadline);
}

static int
pipe_fd(struct ipk_chan *c)
{
	struct pipe_chan *p = ipk__chan_priv(c);
	return p->rfd >= 0 ? p->rfd : pipe_oneway("read");
}

static int
pipe_ready(struct ipk_chan *c)
{
	struct pipe_chan *p = ipk__chan_priv(c);
	return ipk__stream_buffered(&p->s);
}

static void
pipe_close(struct ipk_chan *c)
{
	struct pipe_chan *p = ipk__chan_priv(c);
	if (p->wfd >= 0)
		(void)ipk__stream_flush(&p->s, 0);
	ipk__stream_fini(&p->s);
	ipk__close_fd(&p->rfd);
	ipk__close_fd(&p->wfd);
	ipk__close_fd(&p->gfd);
}

static const char *const pipe_options[] = {
    "rfd", "wfd", "gfd", "framing", NULL};

const struct ipk__transport ipk__transport_pipe = {
    .scheme = "pipe",
    .caps = IPK_CAP_KINSHIP,
    .chan_size = sizeof(struct pipe_chan),
    .options = pipe_options,
    .example = "pipe:",
    .variants =
	IPK__VARIANTS({"pipe", "", "block (poll on pipe)", IPK__VARIANT_ALL}),
    .dial = pipe_dial,
    .send = pipe_send,
    .recv = pipe_recv,
    .drain = pipe_drain,
    .fd = pipe_fd,
    .ready = pipe_ready,
    .close = pipe_close,
};
