/* SPDX-License-Identifier: MIT */
/*
 * udp.c - UDP datagrams (the article's connectionless socket): one message
 * per datagram, udp://host:port. UDP may lose, duplicate or reorder; ipckit
 * never hides it: every datagram carries a sequence number and the
 * channel's stats count gaps (stats.gaps) and late arrivals
 * (stats.reordered). Nothing is retransmitted.
 *
 * Datagram: 16-byte header, big-endian, then the payload:
 *   'I' 'U' | u8 version 1 | u8 kind | u32 type | u64 seq
 * kind DATA carries a message; HELLO (seq = a random nonce) asks a listener
 * for a channel; WELCOME (same nonce, payload = u16 port) answers it; BYE
 * says the sender closed.
 *
 * listen binds host:port. accept waits for a HELLO, opens a new socket on
 * a free port connected to the sender, and answers WELCOME from that
 * socket; the dialer then connects its socket to the WELCOME's source, so
 * the listener keeps accepting others (IPK_CAP_MULTI), in the manner of
 * TFTP. dial connects to host:port and repeats HELLO every
 * UDP_HELLO_MS until WELCOME or the deadline (timeout 0: one attempt of up
 * to UDP_TRY_MS). A listener re-answers a repeated HELLO with the same
 * port, so a lost WELCOME does not open a second channel.
 *
 * Limits at connect: HELLO and WELCOME carry the sender's maxmsg in their
 * type field (0 from an ipckit that did not), and each side lowers its
 * sending limit to the other's, so a datagram the receiver would drop is
 * refused at the sender with -EMSGSIZE.
 *
 * ?framing=raw|lines speaks plain datagrams, for nc -u, socat and any
 * program: no header, no HELLO, no BYE, no type, no loss counting. raw: a
 * datagram is a message; lines: each datagram holds lines, a message each
 * (a datagram sent per message, its newline added). A plain dialer is a
 * connected socket. A plain listener hands out one channel, on its own
 * socket, that takes the datagrams of every sender and answers the last
 * one (as `nc -u -l` does, without locking to the first).
 *
 * Peer death: there is no connection. A peer that closes sends BYE
 * (IPK_ECLOSED on the other side, unless BYE itself is lost); a peer whose
 * socket is gone makes the kernel answer with ICMP port unreachable, which
 * a connected socket reports as ECONNREFUSED on a later send or recv
 * (IPK_ECLOSED). A killed peer that is not sent to is not noticed.
 */
#include "core/frame.h"
#include "core/sock.h"
#include "core/testhook.h"
#include "core/transport.h"

#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>

#define UDP_HDR 16
#define UDP_VERSION 1
#define UDP_DATA 0
#define UDP_HELLO 1
#define UDP_WELCOME 2
#define UDP_BYE 3
/* Largest UDP payload: 65535 - 8 (UDP) - 20 (IPv4 header), IPv6: - 0. */
#define UDP_MAX4 65507
#define UDP_MAX6 65527
#define UDP_BUF 65536
#define UDP_HELLO_MS 200
#define UDP_TRY_MS 1000
#define UDP_RCVBUF (4 << 20)
#define UDP_RECENT 8
#define UDP_FRAMINGS (IPK__FRAMING_RAW | IPK__FRAMING_LINES)

struct udp_chan {
	int fd;
	int bye; /* the peer said BYE */
	uint64_t tx_seq; /* last sequence number sent */
	uint64_t rx_next; /* sequence number expected next */
	unsigned char *rbuf; /* the last datagram read */
	size_t rlen; /* its size, when kept for a bigger buffer */
	int kept;
	/* Plain framings (?framing=raw|lines). */
	const struct ipk__framing *plain;
	size_t dlen, doff; /* lines: the datagram in rbuf, next line */
	struct sockaddr_storage to; /* listener: the last sender */
	socklen_t tolen;
	size_t rx_max; /* our limit; c->max_msg may be the peer's, lower */
	int answer_last; /* a plain listener's channel */
};

struct udp_recent {
	struct sockaddr_storage from;
	uint64_t nonce;
	uint16_t port;
};

struct udp_lst {
	int fd;
	const struct ipk__framing *plain;
	int handed; /* plain: its one channel was handed out */
	unsigned char buf[UDP_BUF];
	struct udp_recent recent[UDP_RECENT];
	unsigned nrecent;
};

static void
udp_put(unsigned char *p, uint64_t v, int n)
{
	for (int i = n - 1; i >= 0; i--, v >>= 8)
		p[i] = (unsigned char)v;
}

static uint64_t
udp_get(const unsigned char *p, int n)
{
	uint64_t v = 0;
	for (int i = 0; i < n; i++)
		v = v << 8 | p[i];
	return v;
}

static void
udp_hdr(unsigned char *h, int kind, uint32_t type, uint64_t seq)
{
	h[0] = 'I';
	h[1] = 'U';
	h[2] = UDP_VERSION;
	h[3] = (unsigned char)kind;
	udp_put(h + 4, type, 4);
	udp_put(h + 8, seq, 8);
}

/* The kind of a well-formed datagram of n bytes, or -1. */
static int
udp_kind(const unsigned char *h, size_t n)
{
	if (IPK__CHECK("udp.short", n < UDP_HDR) ||
	    IPK__CHECK("udp.magic", h[0] != 'I' || h[1] != 'U') ||
	    IPK__CHECK("udp.version", h[2] != UDP_VERSION) ||
	    IPK__CHECK("udp.kind", h[3] > UDP_BYE))
		return -1;
	return h[3];
}

static void
udp_bufsize(int fd)
{
	int sz = UDP_RCVBUF;
	(void)setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &sz, sizeof(sz));
	(void)setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &sz, sizeof(sz));
}

static int
udp_set_port(struct sockaddr_storage *ss, unsigned port)
{
	if (ss->ss_family == AF_INET6)
		((struct sockaddr_in6 *)ss)->sin6_port = htons((uint16_t)port);
	else if (ss->ss_family == AF_INET)
		((struct sockaddr_in *)ss)->sin_port = htons((uint16_t)port);
	else
		return -EAFNOSUPPORT;
	return 0;
}

static socklen_t
udp_salen(const struct sockaddr_storage *ss)
{
	return ss->ss_family == AF_INET6 ? sizeof(struct sockaddr_in6)
					 : sizeof(struct sockaddr_in);
}

/* Set up a connected socket as channel `c`: limits, buffers. */
static int
udp_chan_setup(struct ipk_chan *c, int fd, int family)
{
	struct udp_chan *u = ipk__chan_priv(c);
	u->rbuf = ipk__malloc(UDP_BUF);
	if (!u->rbuf)
		return -ENOMEM;
	u->fd = fd;
	u->rx_next = 1;
	size_t lim = (family == AF_INET6 ? UDP_MAX6 : UDP_MAX4) -
	    (u->plain ? (u->plain->delim >= 0 ? 1 : 0) : UDP_HDR);
	if (c->max_msg > lim)
		c->max_msg = lim;
	u->rx_max = c->max_msg;
	udp_bufsize(fd);
	return 0;
}

static int
udp_listen(struct ipk_listener *l, const struct ipk__url *u)
{
	struct udp_lst *s = ipk__lst_priv(l);
	s->fd = -1;
	int rv = ipk__url_framing(u, UDP_FRAMINGS, &s->plain);
	if (rv < 0)
		return rv;
	rv = ipk__sock_bind_inet(u, SOCK_DGRAM, &s->fd);
	if (rv < 0)
		return rv;
	udp_bufsize(s->fd);
	return ipk__sock_fix_port(l, u, s->fd);
}

/* Answer a HELLO: from the new channel's socket (to NULL: connected), or
 * again from the listening socket when the first answer was lost. The
 * dialer takes the source address and the port in the payload. */
static void
udp_welcome(int fd, const struct sockaddr_storage *to, uint64_t nonce,
    unsigned port, size_t max)
{
	unsigned char d[UDP_HDR + 2];
	udp_hdr(d, UDP_WELCOME, (uint32_t)max, nonce);
	udp_put(d + UDP_HDR, port, 2);
	(void)sendto(fd, d, sizeof(d), MSG_DONTWAIT | MSG_NOSIGNAL,
	    (const struct sockaddr *)to, to ? udp_salen(to) : 0);
}

/* A HELLO seen before: its port, or 0. */
static unsigned
udp_seen(struct udp_lst *s, const struct sockaddr_storage *from, uint64_t nonce)
{
	for (unsigned i = 0; i < IPK__MIN(s->nrecent, UDP_RECENT); i++) {
		struct udp_recent *r = &s->recent[i];
		if (r->nonce == nonce &&
		    !memcmp(&r->from, from, udp_salen(from)))
			return r->port;
	}
	return 0;
}

/* Open the channel socket for a new dialer at `from`; its port in *port. */
static int
udp_open_for(struct udp_lst *s, const struct sockaddr_storage *from, int *fd,
    unsigned *port)
{
	struct sockaddr_storage me;
	socklen_t len = sizeof(me);
	if (getsockname(s->fd, (struct sockaddr *)&me, &len) < 0)
		return -errno;
	(void)udp_set_port(&me, 0);
	int c =
	    socket(me.ss_family, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (c < 0)
		return -errno;
	int rv = 0;
	if (bind(c, (struct sockaddr *)&me, len) < 0 ||
	    connect(c, (const struct sockaddr *)from, udp_salen(from)) < 0) {
		rv = -errno;
		goto err;
	}
	len = sizeof(me);
	if (getsockname(c, (struct sockaddr *)&me, &len) < 0) {
		rv = -errno;
		goto err;
	}
	*port = me.ss_family == AF_INET6
	    ? ntohs(((struct sockaddr_in6 *)&me)->sin6_port)
	    : ntohs(((struct sockaddr_in *)&me)->sin_port);
	*fd = c;
	return 0;
err:
	ipk__close_fd(&c);
	return ipk__err(
	    rv, "cannot open a socket for a new peer: %s", strerror(-rv));
}

/* The other side's maxmsg from its HELLO or WELCOME (0: not said): ours
 * to send no more than that. */
static void
udp_peer_max(struct ipk_chan *c, size_t max)
{
	if (!max || max >= c->max_msg)
		return;
	c->max_msg = max;
	snprintf(c->limit_why, sizeof(c->limit_why),
	    "the receiver's maxmsg=%zu", max);
}

/* A plain listener's one channel: its own socket (a duplicate of the
 * listening one), handed out when the first datagram is there. */
static int
udp_plain_accept(struct ipk_listener *l, struct udp_lst *s, struct ipk_chan *c,
    int64_t deadline)
{
	struct udp_chan *uc = ipk__chan_priv(c);
	struct sockaddr_storage me;
	socklen_t len = sizeof(me);
	if (s->handed) {
		(void)ipk__poll1(-1, 0, deadline, -1);
		return ipk__err(-ETIMEDOUT,
		    "a plain udp listener has one channel, already handed out");
	}
	int r = ipk__poll1(s->fd, POLLIN, deadline, -1);
	if (r < 0)
		return r;
	if (r == 0)
		return -ETIMEDOUT;
	if (getsockname(s->fd, (struct sockaddr *)&me, &len) < 0)
		return -errno;
	int fd = fcntl(s->fd, F_DUPFD_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	uc->plain = s->plain;
	uc->answer_last = 1;
	int rv = udp_chan_setup(c, fd, me.ss_family);
	if (rv < 0) {
		ipk__close_fd(&fd);
		return rv;
	}
	(void)l;
	s->handed = 1;
	return 0;
}

static int
udp_accept(struct ipk_listener *l, struct ipk_chan *c, int64_t deadline)
{
	struct udp_lst *s = ipk__lst_priv(l);
	struct udp_chan *uc = ipk__chan_priv(c);
	uc->fd = -1;
	if (s->plain)
		return udp_plain_accept(l, s, c, deadline);
	for (;;) {
		struct sockaddr_storage from;
		socklen_t flen = sizeof(from);
		ssize_t n = recvfrom(s->fd, s->buf, sizeof(s->buf),
		    MSG_DONTWAIT, (struct sockaddr *)&from, &flen);
		if (n < 0) {
			if (errno == EINTR || errno == ECONNREFUSED)
				continue;
			if (errno != EAGAIN)
				return -errno;
			int r = ipk__poll1(s->fd, POLLIN, deadline, -1);
			if (r < 0)
				return r;
			if (r == 0 && ipk__expired(deadline))
				return -ETIMEDOUT;
			continue;
		}
		/* Only HELLOs matter here; anything else is a stray. */
		if (udp_kind(s->buf, (size_t)n) != UDP_HELLO)
			continue;
		uint64_t nonce = udp_get(s->buf + 8, 8);
		unsigned port = udp_seen(s, &from, nonce);
		if (port) {
			udp_welcome(s->fd, &from, nonce, port,
			    IPK__MIN(l->max_msg, (size_t)UDP_MAX6));
			continue;
		}
		int fd;
		int rv = udp_open_for(s, &from, &fd, &port);
		if (rv < 0)
			return rv;
		rv = udp_chan_setup(c, fd, from.ss_family);
		if (rv < 0) {
			ipk__close_fd(&fd);
			return rv;
		}
		struct udp_recent *r = &s->recent[s->nrecent++ % UDP_RECENT];
		memcpy(&r->from, &from, sizeof(from));
		r->nonce = nonce;
		r->port = (uint16_t)port;
		udp_welcome(fd, NULL, nonce, port, uc->rx_max);
		udp_peer_max(c, (size_t)udp_get(s->buf + 4, 4));
		return 0;
	}
}

static int
udp_lfd(struct ipk_listener *l)
{
	struct udp_lst *s = ipk__lst_priv(l);
	return s->fd;
}

static void
udp_lclose(struct ipk_listener *l)
{
	struct udp_lst *s = ipk__lst_priv(l);
	ipk__close_fd(&s->fd);
}

/* Wait for the WELCOME that answers `nonce`: 1 with the channel's address
 * in *to, 0 if none came before `until`, or a negative code. */
static int
udp_await_welcome(int fd, uint64_t nonce, unsigned char *buf, int64_t until,
    struct sockaddr_storage *to)
{
	for (;;) {
		socklen_t tl = sizeof(*to);
		ssize_t n = recvfrom(
		    fd, buf, UDP_BUF, MSG_DONTWAIT, (struct sockaddr *)to, &tl);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			if (errno != EAGAIN)
				return -errno;
			int r = ipk__poll1(fd, POLLIN, until, -1);
			if (r < 0)
				return r;
			if (r == 0 && ipk__expired(until))
				return 0;
			continue;
		}
		if (udp_kind(buf, (size_t)n) == UDP_WELCOME &&
		    n == UDP_HDR + 2 && udp_get(buf + 8, 8) == nonce) {
			unsigned port = (unsigned)udp_get(buf + UDP_HDR, 2);
			if (port && udp_set_port(to, port) == 0)
				return 1;
		}
	}
}

/* Report ICMP errors on an unconnected socket too (ECONNREFUSED while the
 * HELLO is unanswered); off again drops the queued reports. */
static void
udp_recverr(int fd, int family, int on)
{
	if (family == AF_INET6)
		(void)setsockopt(
		    fd, IPPROTO_IPV6, IPV6_RECVERR, &on, sizeof(on));
	else
		(void)setsockopt(fd, IPPROTO_IP, IP_RECVERR, &on, sizeof(on));
}

static int
udp_dial(struct ipk_chan *c, const struct ipk__url *u, int64_t deadline)
{
	struct udp_chan *uc = ipk__chan_priv(c);
	struct ipk__sockaddr peer;
	struct sockaddr_storage to;
	int fd, rv;
	uc->fd = -1;
	if ((rv = ipk__url_framing(u, UDP_FRAMINGS, &uc->plain)) < 0)
		return rv;
	rv = ipk__sock_dial_inet(u, SOCK_DGRAM, deadline, &fd, &peer);
	if (rv < 0)
		return rv;
	if (uc->plain) {
		/* Plain: a connected socket, nothing to agree on. */
		if ((rv = udp_chan_setup(c, fd, peer.ss.ss_family)) < 0)
			ipk__close_fd(&fd);
		return rv;
	}
	/* The WELCOME comes from the new channel's own socket: undo the
	 * association so that it is not filtered out. */
	struct sockaddr unspec = {.sa_family = AF_UNSPEC};
	int family = peer.ss.ss_family;
	if (connect(fd, &unspec, sizeof(unspec)) < 0) {
		rv = -errno;
		goto err;
	}
	udp_recverr(fd, family, 1);
	if ((rv = udp_chan_setup(c, fd, family)) < 0)
		goto err;
	uint64_t nonce;
	if ((rv = ipk__random_bytes(&nonce, sizeof(nonce))) < 0)
		goto err;
	int64_t end = ipk__expired(deadline)
	    ? ipk__now_ns() + (int64_t)UDP_TRY_MS * 1000000
	    : deadline;
	unsigned char hello[UDP_HDR];
	udp_hdr(hello, UDP_HELLO, (uint32_t)uc->rx_max, nonce);
	for (;;) {
		if (ipk__expired(end)) {
			rv = ipk__err(-ETIMEDOUT,
			    "no udp listener answered at "
			    "%s:%s before the timeout",
			    u->host, u->port);
			goto err;
		}
		if (sendto(fd, hello, sizeof(hello), MSG_NOSIGNAL,
			(struct sockaddr *)&peer.ss, peer.len) < 0 &&
		    errno != ECONNREFUSED && errno != EAGAIN &&
		    errno != EINTR) {
			rv = -errno;
			goto err;
		}
		int64_t slice = ipk__now_ns() + (int64_t)UDP_HELLO_MS * 1000000;
		rv = udp_await_welcome(
		    fd, nonce, uc->rbuf, IPK__MIN(slice, end), &to);
		if (rv == 1)
			break;
		if (rv == -ECONNREFUSED) {
			/* ICMP port unreachable: nobody bound there (yet). */
			if (ipk__expired(deadline)) {
				rv = ipk__err(-ECONNREFUSED,
				    "nobody listens "
				    "at udp %s:%s (port unreachable)",
				    u->host, u->port);
				goto err;
			}
			(void)poll(NULL, 0,
			    ipk__poll_ms(IPK__MIN(slice, end), IPK__SLICE_MS));
		} else if (rv < 0) {
			goto err;
		}
	}
	udp_recverr(fd, family, 0);
	udp_peer_max(c, (size_t)udp_get(uc->rbuf + 4, 4));
	if (connect(fd, (struct sockaddr *)&to, udp_salen(&to)) < 0) {
		rv = -errno;
		goto err;
	}
	return 0;
err:
	if (uc->fd < 0)
		ipk__close_fd(&fd);
	return rv;
}

static int
udp_gone(void)
{
	return ipk__err(IPK_ECLOSED,
	    "the peer's socket is gone (ICMP port "
	    "unreachable)");
}

/* One datagram out, waiting for room until `deadline`: 0 or a code; a bare
 * -EMSGSIZE is the caller's to word. */
static int
udp_sendmsg(struct udp_chan *u, const struct msghdr *m, int64_t deadline)
{
	for (;;) {
		if (sendmsg(u->fd, m, MSG_NOSIGNAL | MSG_DONTWAIT) >= 0)
			return 0;
		if (errno == EINTR && !ipk__expired(deadline))
			continue;
		if (errno == EINTR)
			return -ETIMEDOUT;
		if (errno == ECONNREFUSED)
			return udp_gone();
		if (errno == EMSGSIZE)
			return -EMSGSIZE;
		if (errno != EAGAIN && errno != ENOBUFS)
			return -errno;
		int r = ipk__poll1(u->fd, POLLOUT, deadline, -1);
		if (r < 0)
			return r;
		if (r == 0 && ipk__expired(deadline))
			return -ETIMEDOUT;
	}
}

/* After a receive that failed (errno): 0 to receive again (interrupted,
 * or the socket became readable), or the code to return. */
static int
udp_rx_wait(struct udp_chan *u, int64_t deadline)
{
	if (errno == EINTR)
		return 0;
	if (errno == ECONNREFUSED)
		return udp_gone();
	if (errno != EAGAIN)
		return -errno;
	int r = ipk__poll1(u->fd, POLLIN, deadline, -1);
	if (r < 0)
		return r;
	if (r == 0 && ipk__expired(deadline))
		return -ETIMEDOUT;
	return 0;
}

/* A plain datagram: the payload (and a newline for lines), to the
 * connected peer or, on a listener's channel, to the last sender. */
static int
udp_plain_send(struct ipk_chan *c, struct udp_chan *u, const void *buf,
    size_t len, int64_t deadline)
{
	static const unsigned char nl[1] = {'\n'};
	int lines = u->plain->delim >= 0;
	if (lines && len && memchr(buf, '\n', len))
		return ipk__err(-EINVAL,
		    "a message of the lines framing cannot hold a newline "
		    "(it would arrive as two)");
	if (u->answer_last && !u->tolen)
		return ipk__err(-ENOTCONN,
		    "no datagram has come yet: a plain udp listener answers "
		    "whoever sent last");
	struct iovec iov[2] = {{(void *)buf, len}, {(void *)nl, 1}};
	struct msghdr m = {.msg_iov = iov,
	    .msg_iovlen = lines ? 2 : 1,
	    .msg_name = u->tolen ? &u->to : NULL,
	    .msg_namelen = u->tolen};
	(void)c;
	int rv = udp_sendmsg(u, &m, deadline);
	if (rv == -EMSGSIZE)
		return ipk__err(-EMSGSIZE,
		    "a %zu-byte datagram does not fit this path", len);
	return rv;
}

/* The next plain message: a datagram (raw) or its next line (lines). */
static int
udp_plain_recv(struct ipk_chan *c, struct udp_chan *u, void *buf, size_t cap,
    size_t *len, uint32_t *type, int64_t deadline)
{
	int lines = u->plain->delim >= 0;
	(void)c;
	*type = 0;
	while (u->doff >= u->dlen) {
		struct sockaddr_storage from;
		socklen_t flen = sizeof(from);
		ssize_t n = recvfrom(u->fd, u->rbuf, UDP_BUF,
		    MSG_DONTWAIT | MSG_TRUNC, (struct sockaddr *)&from, &flen);
		if (n < 0) {
			int r = udp_rx_wait(u, deadline);
			if (r < 0)
				return r;
			continue;
		}
		if (u->answer_last && flen) {
			memcpy(&u->to, &from, flen);
			u->tolen = flen;
		}
		if ((size_t)n > u->rx_max + (size_t)lines || n > UDP_BUF)
			return ipk__err(-EMSGSIZE,
			    "peer sent a datagram of %zd bytes, over this "
			    "channel's limit of %zu (maxmsg=); it was dropped",
			    n, u->rx_max);
		u->dlen = (size_t)n;
		u->doff = 0;
		if (n == 0 && !lines)
			break; /* raw: an empty datagram is an empty message */
	}
	size_t mlen = u->dlen - u->doff, used = mlen;
	const unsigned char *p = u->rbuf + u->doff;
	if (lines) {
		const unsigned char *nl = memchr(p, '\n', mlen);
		if (nl) {
			mlen = (size_t)(nl - p);
			used = mlen + 1;
		}
	}
	if (cap < mlen) {
		*len = mlen;
		return ipk__err(-EMSGSIZE,
		    "message of %zu bytes does not fit the %zu-byte buffer "
		    "(it stays queued)",
		    mlen, cap);
	}
	if (mlen)
		memcpy(buf, p, mlen);
	u->doff += used;
	if (!lines)
		u->doff = u->dlen = 0;
	*len = mlen;
	return 0;
}

static int
udp_send(struct ipk_chan *c, const void *buf, size_t len, uint32_t type,
    int64_t deadline)
{
	struct udp_chan *u = ipk__chan_priv(c);
	if (u->plain)
		return udp_plain_send(c, u, buf, len, deadline);
	if (u->bye)
		return ipk__err(IPK_ECLOSED, "the peer closed the channel");
	unsigned char h[UDP_HDR];
	udp_hdr(h, UDP_DATA, type, u->tx_seq + 1);
	struct iovec iov[2] = {{h, UDP_HDR}, {(void *)buf, len}};
	struct msghdr m = {.msg_iov = iov, .msg_iovlen = len ? 2 : 1};
	int rv = udp_sendmsg(u, &m, deadline);
	if (rv == 0)
		u->tx_seq++;
	else if (rv == -EMSGSIZE)
		rv = ipk__err(-EMSGSIZE,
		    "a %zu-byte datagram does "
		    "not fit this path (channel limit %zu, maxmsg=)",
		    len + UDP_HDR, c->max_msg);
	return rv;
}

/* Account for sequence number `seq` of a DATA datagram. */
static void
udp_count(struct ipk_chan *c, struct udp_chan *u, uint64_t seq)
{
	if (seq == u->rx_next) {
		u->rx_next++;
	} else if (seq > u->rx_next) {
		c->stats->gaps += seq - u->rx_next;
		u->rx_next = seq + 1;
	} else {
		/* Counted missing before, arrived after all (or a
		 * duplicate). */
		c->stats->reordered++;
		if (c->stats->gaps)
			c->stats->gaps--;
	}
}

static int
udp_recv(struct ipk_chan *c, void *buf, size_t cap, size_t *len, uint32_t *type,
    int64_t deadline)
{
	struct udp_chan *u = ipk__chan_priv(c);
	if (u->plain)
		return udp_plain_recv(c, u, buf, cap, len, type, deadline);
	while (!u->kept) {
		if (u->bye)
			return ipk__err(IPK_ECLOSED,
			    "the peer closed the "
			    "channel");
		ssize_t n =
		    recv(u->fd, u->rbuf, UDP_BUF, MSG_DONTWAIT | MSG_TRUNC);
		if (n < 0) {
			int r = udp_rx_wait(u, deadline);
			if (r < 0)
				return r;
			continue;
		}
		int kind = udp_kind(u->rbuf, (size_t)n);
		if (kind == UDP_BYE) {
			u->bye = 1;
			continue;
		}
		if (kind != UDP_DATA) {
			if (kind < 0)
				return ipk__err(-EBADMSG,
				    "dropped a %zd-byte "
				    "datagram that is not an ipckit udp "
				    "message",
				    n);
			continue; /* a repeated HELLO/WELCOME */
		}
		udp_count(c, u, udp_get(u->rbuf + 8, 8));
		size_t plen = (size_t)n - UDP_HDR;
		if (IPK__CHECK("udp.maxmsg", plen > u->rx_max))
			return ipk__err(-EMSGSIZE,
			    "peer sent a message of %zu "
			    "bytes, over this channel's limit of %zu "
			    "(maxmsg=); it was dropped",
			    plen, u->rx_max);
		u->rlen = plen;
		u->kept = 1;
	}
	if (IPK__CHECK("udp.buf", cap < u->rlen)) {
		*len = u->rlen;
		return ipk__err(-EMSGSIZE,
		    "message of %zu bytes does not fit "
		    "the %zu-byte buffer (it stays queued)",
		    u->rlen, cap);
	}
	if (u->rlen)
		memcpy(buf, u->rbuf + UDP_HDR, u->rlen);
	*len = u->rlen;
	*type = (uint32_t)udp_get(u->rbuf + 4, 4);
	u->kept = 0;
	return 0;
}

static int
udp_fd(struct ipk_chan *c)
{
	struct udp_chan *u = ipk__chan_priv(c);
	return u->fd;
}

static void
udp_close(struct ipk_chan *c)
{
	struct udp_chan *u = ipk__chan_priv(c);
	if (u->fd >= 0 && u->rbuf && !u->bye && !u->plain) {
		unsigned char h[UDP_HDR];
		udp_hdr(h, UDP_BYE, 0, u->tx_seq + 1);
		(void)send(u->fd, h, sizeof(h), MSG_NOSIGNAL | MSG_DONTWAIT);
	}
	ipk__free(u->rbuf);
	u->rbuf = NULL;
	ipk__close_fd(&u->fd);
}

/* A datagram kept for a bigger buffer, or lines of one already read. */
static int
udp_ready(struct ipk_chan *c)
{
	struct udp_chan *u = ipk__chan_priv(c);
	return u->kept || u->doff < u->dlen;
}

static const char *const udp_options[] = {"framing", NULL};

const struct ipk__transport ipk__transport_udp = {
    .scheme = "udp",
    .caps = IPK_CAP_BOUNDARIES | IPK_CAP_REMOTE | IPK_CAP_LOSSY | IPK_CAP_MULTI,
    .chan_size = sizeof(struct udp_chan),
    .lst_size = sizeof(struct udp_lst),
    .options = udp_options,
    .example = "udp://127.0.0.1:0",
    .variants = IPK__VARIANTS({"udp", "", "block (loopback socket)",
	IPK_VARIANT_CONTRACT | IPK_VARIANT_BENCH}),
    .listen = udp_listen,
    .accept = udp_accept,
    .lfd = udp_lfd,
    .lclose = udp_lclose,
    .dial = udp_dial,
    .send = udp_send,
    .recv = udp_recv,
    .fd = udp_fd,
    .ready = udp_ready,
    .close = udp_close,
};
