/* SPDX-License-Identifier: MIT */
/*
 * tcp.c - TCP sockets (the article's "socket", the one mechanism that
 * crosses hosts): tcp://host:port over IPv4 or IPv6, one channel per
 * accepted connection, messages framed by core/frame.c.
 *
 * A peer that closes or dies is seen as EOF or ECONNRESET from the kernel
 * (IPK_ECLOSED); a peer that vanishes mid-frame leaves a torn message
 * (-EBADMSG). A peer whose host disappears without a FIN is noticed only
 * by TCP itself (keepalive, retransmission timeouts), see docs.
 * In ipckit's framing each side opens with the limits' hello (core/frame.h);
 * ?framing=raw|lines drops header and hello, for any TCP program.
 */
#include "core/frame.h"
#include "core/sock.h"
#include "core/transport.h"

#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>

struct tcp_chan {
	struct ipk__stream s;
	int fd;
};

struct tcp_lst {
	int fd;
};

#define TCP_FRAMINGS (IPK__FRAMING_RAW | IPK__FRAMING_LINES)

/* ?framing=: ipckit's own (with the limits' hello) or a plain one. */
static int
tcp_chan_setup(struct ipk_chan *c, int fd, const struct ipk__url *u)
{
	struct tcp_chan *t = ipk__chan_priv(c);
	const struct ipk__framing *f;
	t->fd = fd;
	int rv = ipk__url_framing(u, TCP_FRAMINGS, &f);
	if (rv < 0)
		return rv;
	ipk__sock_nodelay(fd);
	ipk__stream_init(&t->s, fd, fd, c->max_msg);
	t->s.flags = IPK__STREAM_SOCK;
	if (f)
		ipk__stream_framing(&t->s, f);
	else
		ipk__stream_hello(&t->s);
	return 0;
}

static int
tcp_listen(struct ipk_listener *l, const struct ipk__url *u)
{
	struct tcp_lst *t = ipk__lst_priv(l);
	const struct ipk__framing *f;
	t->fd = -1;
	int rv = ipk__url_framing(u, TCP_FRAMINGS, &f);
	if (rv < 0)
		return rv;
	rv = ipk__sock_bind_inet(u, SOCK_STREAM, &t->fd);
	if (rv < 0)
		return rv;
	return ipk__sock_fix_port(l, u, t->fd);
}

static int
tcp_accept(struct ipk_listener *l, struct ipk_chan *c, int64_t deadline)
{
	struct tcp_lst *t = ipk__lst_priv(l);
	struct tcp_chan *tc = ipk__chan_priv(c);
	int fd;
	tc->fd = -1;
	int rv = ipk__sock_accept(t->fd, deadline, &fd);
	if (rv < 0)
		return rv;
	return tcp_chan_setup(c, fd, &l->u);
}

static int
tcp_lfd(struct ipk_listener *l)
{
	struct tcp_lst *t = ipk__lst_priv(l);
	return t->fd;
}

static void
tcp_lclose(struct ipk_listener *l)
{
	struct tcp_lst *t = ipk__lst_priv(l);
	ipk__close_fd(&t->fd);
}

static int
tcp_dial(struct ipk_chan *c, const struct ipk__url *u, int64_t deadline)
{
	struct tcp_chan *t = ipk__chan_priv(c);
	int fd;
	t->fd = -1;
	int rv = ipk__sock_dial_inet(u, SOCK_STREAM, deadline, &fd, NULL);
	if (rv < 0)
		return rv;
	return tcp_chan_setup(c, fd, u);
}

static int
tcp_send(struct ipk_chan *c, const void *buf, size_t len, uint32_t type,
    int64_t deadline)
{
	struct tcp_chan *t = ipk__chan_priv(c);
	return ipk__stream_send(&t->s, buf, len, type, deadline);
}

static int
tcp_recv(struct ipk_chan *c, void *buf, size_t cap, size_t *len, uint32_t *type,
    int64_t deadline)
{
	struct tcp_chan *t = ipk__chan_priv(c);
	return ipk__stream_recv(&t->s, buf, cap, len, type, deadline);
}

static int
tcp_ready(struct ipk_chan *c)
{
	struct tcp_chan *t = ipk__chan_priv(c);
	return ipk__stream_ready(&t->s);
}

static int
tcp_drain(struct ipk_chan *c, int64_t deadline)
{
	struct tcp_chan *t = ipk__chan_priv(c);
	return ipk__stream_drain(&t->s, deadline);
}

static int
tcp_fd(struct ipk_chan *c)
{
	struct tcp_chan *t = ipk__chan_priv(c);
	return t->fd;
}

static int
tcp_writable(struct ipk_chan *c)
{
	struct tcp_chan *t = ipk__chan_priv(c);
	return ipk__stream_writable(&t->s);
}

static int
tcp_wfd(struct ipk_chan *c, short *events)
{
	struct tcp_chan *t = ipk__chan_priv(c);
	*events = POLLOUT;
	return t->fd;
}

static void
tcp_close(struct ipk_chan *c)
{
	struct tcp_chan *t = ipk__chan_priv(c);
	if (t->fd >= 0) {
		/* A frame stalled half-sent is finished if the peer takes it
		 * at once; never block in close. */
		(void)ipk__stream_flush(&t->s, 0);
		ipk__stream_fini(&t->s);
	}
	ipk__close_fd(&t->fd);
}

static const char *const tcp_options[] = {"framing", NULL};

const struct ipk__transport ipk__transport_tcp = {
    .scheme = "tcp",
    .caps = IPK_CAP_REMOTE | IPK_CAP_MULTI | IPK_CAP_PATTERNS | IPK_CAP_PUBSUB,
    .chan_size = sizeof(struct tcp_chan),
    .lst_size = sizeof(struct tcp_lst),
    .options = tcp_options,
    .example = "tcp://127.0.0.1:0",
    .variants =
	IPK__VARIANTS({"tcp", "", "block (loopback socket)", IPK__VARIANT_ALL}),
    .listen = tcp_listen,
    .accept = tcp_accept,
    .lfd = tcp_lfd,
    .lclose = tcp_lclose,
    .dial = tcp_dial,
    .send = tcp_send,
    .recv = tcp_recv,
    .drain = tcp_drain,
    .fd = tcp_fd,
    .ready = tcp_ready,
    .writable = tcp_writable,
    .wfd = tcp_wfd,
    .close = tcp_close,
};
