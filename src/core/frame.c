/* SPDX-License-Identifier: MIT */
/*
 * frame.c - the stream framing codec and its I/O loops (see frame.h). The
 * only place that turns a byte stream into messages.
 */
#include "core/frame.h"
#include "core/testhook.h"

#include <errno.h>
#include <poll.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#define RBUF_SIZE ((size_t)64 * 1024)

static void
put32(unsigned char *p, uint32_t v)
{
	p[0] = (unsigned char)v;
	p[1] = (unsigned char)(v >> 8);
	p[2] = (unsigned char)(v >> 16);
	p[3] = (unsigned char)(v >> 24);
}

static uint32_t
get32(const unsigned char *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
	    (uint32_t)p[3] << 24;
}

void
ipk__frame_encode(
    unsigned char hdr[IPK__FRAME_HDR], uint32_t type, uint64_t len)
{
	put32(hdr, IPK__FRAME_MAGIC);
	put32(hdr + 4, type);
	put32(hdr + 8, (uint32_t)len);
	put32(hdr + 12, (uint32_t)(len >> 32));
}

int
ipk__frame_decode(
    const unsigned char hdr[IPK__FRAME_HDR], uint32_t *type, uint64_t *len)
{
	if (IPK__CHECK("frame.magic", get32(hdr) != IPK__FRAME_MAGIC))
		return -EBADMSG;
	uint64_t l = (uint64_t)get32(hdr + 8) | (uint64_t)get32(hdr + 12) << 32;
	if (IPK__CHECK("frame.sane", l > IPK__FRAME_SANE))
		return -EBADMSG;
	*type = get32(hdr + 4);
	*len = l;
	return 0;
}

static void
frame_ipk_encode(const struct ipk__framing *f, unsigned char *hdr,
    uint32_t type, uint64_t len)
{
	(void)f;
	ipk__frame_encode(hdr, type, len);
}

static int
frame_ipk_decode(const struct ipk__framing *f, const unsigned char *hdr,
    uint32_t *type, uint64_t *len)
{
	(void)f;
	return ipk__frame_decode(hdr, type, len);
}

static const struct ipk__framing frame_ipk = {
    .hdr_len = IPK__FRAME_HDR,
    .encode = frame_ipk_encode,
    .decode = frame_ipk_decode,
    .garbage = " (bad frame header): the peer does not speak ipckit's "
	       "framing or the stream was corrupted",
};

void
ipk__stream_init(struct ipk__stream *s, int rfd, int wfd, size_t max_msg)
{
	memset(s, 0, sizeof(*s));
	s->rfd = rfd;
	s->wfd = wfd;
	s->hup_fd = -1;
	s->max_msg = max_msg;
	s->framing = &frame_ipk;
}

void
ipk__stream_framing(struct ipk__stream *s, const struct ipk__framing *f)
{
	IPK__ASSERT(f->hdr_len > 0 && f->hdr_len <= IPK__FRAME_HDR_MAX);
	s->framing = f;
}

void
ipk__stream_fini(struct ipk__stream *s)
{
	ipk__free(s->rbuf);
	ipk__free(s->stash);
	ipk__free(s->pend);
	s->rbuf = s->stash = s->pend = NULL;
	s->rcap = s->pend_cap = 0;
}

void
ipk__stream_reset_rx(struct ipk__stream *s)
{
	s->roff = s->rlen = 0;
	s->have_hdr = 0;
	s->skip = 0;
	s->stash_len = 0;
	s->rx_err = 0;
}

void
ipk__stream_reset_tx(struct ipk__stream *s)
{
	s->pend_off = s->pend_len = 0;
	s->tx_err = 0;
}

int
ipk__stream_buffered(const struct ipk__stream *s)
{
	if (s->rx_err)
		return 1; /* recv reports it at once */
	if (s->skip)
		return 0;
	if (s->have_hdr)
		return s->stash_len + s->rlen >= s->hlen;
	size_t hl = s->framing->hdr_len;
	if (s->rlen < hl)
		return 0;
	uint32_t t;
	uint64_t l;
	if (s->framing->decode(s->framing, s->rbuf + s->roff, &t, &l) < 0)
		return 1; /* recv will report the garbage at once */
	return s->rlen - hl >= l;
}

int
ipk__stream_writable(const struct ipk__stream *s)
{
	struct pollfd p = {.fd = s->wfd, .events = POLLOUT};
	if (s->tx_err)
		return 1;
	return poll(&p, 1, 0) > 0;
}

/* Translate a failed write/read on a stream into the contract's codes. */
static int
stream_io_err(int e)
{
	if (e == EPIPE || e == ECONNRESET || e == ENOTCONN)
		return IPK_ECLOSED;
	return -e;
}

/*
 * Wait until `fd` has `events`, the peer is gone, or the deadline passes.
 * Returns 1 ready, 0 expired, IPK_ECLOSED, or -errno.
 */
static int
stream_wait(struct ipk__stream *s, int fd, short events, int64_t deadline)
{
	for (;;) {
		struct pollfd p[2] = {
		    {.fd = fd, .events = events},
		    {.fd = s->hup_fd, .events = 0},
		};
		nfds_t n = s->hup_fd >= 0 && s->hup_fd != fd ? 2 : 1;
		int ms = ipk__poll_ms(deadline, s->alive ? IPK__SLICE_MS : -1);
		int r = poll(p, n, ms);
		if (r < 0) {
			if (errno != EINTR)
				return -errno;
		} else if (r > 0) {
			if (n == 2 && (p[1].revents & (POLLHUP | POLLERR)))
				return IPK_ECLOSED;
			if (p[0].revents)
				return 1; /* errors surface in the I/O call */
		}
		if (s->alive) {
			int a = s->alive(s->arg);
			if (a == 0)
				return IPK_ECLOSED;
			if (a < 0)
				return a;
		}
		if (ipk__expired(deadline) || (r == 0 && ms == 0))
			return 0;
	}
}

static ssize_t
stream_writev(struct ipk__stream *s, struct iovec *iov, int n)
{
	if (s->flags & IPK__STREAM_SOCK) {
		struct msghdr m = {.msg_iov = iov, .msg_iovlen = (size_t)n};
		return sendmsg(s->wfd, &m, MSG_NOSIGNAL | MSG_DONTWAIT);
	}
	return writev(s->wfd, iov, n);
}

/*
 * Write iov fully, waiting until the deadline. Returns bytes written (may be
 * short only when the deadline expired) or a negative code.
 */
static ssize_t
stream_write_all(
    struct ipk__stream *s, struct iovec *iov, int n, int64_t deadline)
{
	size_t total = 0, want = 0;
	for (int i = 0; i < n; i++)
		want += iov[i].iov_len;
	while (total < want) {
		ssize_t w = stream_writev(s, iov, n);
		if (w > 0) {
			total += (size_t)w;
			size_t k = (size_t)w;
			while (n > 0 && k >= iov[0].iov_len) {
				k -= iov[0].iov_len;
				iov++;
				n--;
			}
			if (n > 0) {
				iov[0].iov_base = (char *)iov[0].iov_base + k;
				iov[0].iov_len -= k;
				IPK__CRASH_SITE("frame.write_mid_frame");
			}
			continue;
		}
		if (w < 0 && errno == EINTR && !ipk__expired(deadline))
			continue;
		if (w < 0 && errno == EINTR)
			break;
		if (w < 0 && errno != EAGAIN)
			return stream_io_err(errno);
		int r = stream_wait(s, s->wfd, POLLOUT, deadline);
		if (r < 0)
			return r;
		if (r == 0)
			break;
	}
	return (ssize_t)total;
}

int
ipk__stream_flush(struct ipk__stream *s, int64_t deadline)
{
	if (s->tx_err)
		return s->tx_err;
	if (s->pend_off == s->pend_len)
		return 0;
	struct iovec iov = {s->pend + s->pend_off, s->pend_len - s->pend_off};
	ssize_t w = stream_write_all(s, &iov, 1, deadline);
	if (w < 0) {
		s->tx_err = (int)w;
		return (int)w;
	}
	s->pend_off += (size_t)w;
	if (s->pend_off < s->pend_len)
		return -ETIMEDOUT;
	s->pend_off = s->pend_len = 0;
	return 0;
}

int
ipk__stream_send(struct ipk__stream *s, const void *buf, size_t len,
    uint32_t type, int64_t deadline)
{
	int rv = ipk__stream_flush(s, deadline);
	if (rv < 0)
		return rv;
	unsigned char hdr[IPK__FRAME_HDR_MAX];
	size_t hl = s->framing->hdr_len;
	s->framing->encode(s->framing, hdr, type, len);
	struct iovec iov[2] = {{hdr, hl}, {(void *)buf, len}};
	ssize_t w = stream_write_all(s, iov, len ? 2 : 1, deadline);
	if (w < 0) {
		s->tx_err = (int)w;
		return (int)w;
	}
	size_t total = hl + len;
	if ((size_t)w == total)
		return 0;
	if (w == 0)
		return -ETIMEDOUT;
	/* Stalled mid-frame: keep the rest, the frame is committed. */
	size_t rest = total - (size_t)w;
	if (s->pend_cap < rest) {
		unsigned char *p = ipk__realloc(s->pend, rest);
		if (!p) {
			/* The stream is now torn: nothing sane can follow. */
			s->tx_err = -ENOMEM;
			return -ENOMEM;
		}
		s->pend = p;
		s->pend_cap = rest;
	}
	size_t off = (size_t)w;
	size_t n = 0;
	if (off < hl) {
		memcpy(s->pend, hdr + off, hl - off);
		n = hl - off;
		off = 0;
	} else {
		off -= hl;
	}
	memcpy(s->pend + n, (const char *)buf + off, len - off);
	s->pend_off = 0;
	s->pend_len = rest;
	return 0;
}

static ssize_t
stream_read(struct ipk__stream *s, void *buf, size_t n)
{
	if (s->flags & IPK__STREAM_SOCK)
		return recv(s->rfd, buf, n, MSG_DONTWAIT);
	return read(s->rfd, buf, n);
}

/*
 * Read up to n bytes into buf, waiting until at least one arrives or the
 * deadline. Returns bytes (> 0), 0 on expiry, or a negative code; EOF gives
 * IPK_ECLOSED.
 */
static ssize_t
stream_read_some(struct ipk__stream *s, void *buf, size_t n, int64_t deadline)
{
	for (;;) {
		ssize_t r = stream_read(s, buf, n);
		if (r > 0)
			return r;
		if (r == 0)
			return IPK_ECLOSED;
		if (errno == EINTR && !ipk__expired(deadline))
			continue;
		if (errno == EINTR)
			return 0;
		if (errno != EAGAIN)
			return stream_io_err(errno);
		int w = stream_wait(s, s->rfd, POLLIN, deadline);
		if (w <= 0)
			return w;
	}
}

/* Make the read-ahead buffer hold at least `need` bytes (need <= RBUF_SIZE). */
static int
stream_fill(struct ipk__stream *s, size_t need, int64_t deadline)
{
	if (!s->rbuf) {
		s->rbuf = ipk__malloc(RBUF_SIZE);
		if (!s->rbuf)
			return -ENOMEM;
		s->rcap = RBUF_SIZE;
	}
	while (s->rlen < need) {
		if (s->roff + s->rlen == s->rcap || s->rlen == 0) {
			memmove(s->rbuf, s->rbuf + s->roff, s->rlen);
			s->roff = 0;
		}
		ssize_t r = stream_read_some(s, s->rbuf + s->roff + s->rlen,
		    s->rcap - s->roff - s->rlen, deadline);
		if (r <= 0)
			return r == 0 ? -ETIMEDOUT : (int)r;
		s->rlen += (size_t)r;
	}
	return 0;
}

/* A peer that vanished in the middle of a frame sent a torn message. */
static int
stream_torn(struct ipk__stream *s, int rv, uint64_t got)
{
	if (rv != IPK_ECLOSED)
		return rv;
	s->rx_err = IPK_ECLOSED;
	if (!s->have_hdr && s->rlen == 0)
		return IPK_ECLOSED;
	return ipk__err(-EBADMSG,
	    "peer closed in the middle of a message "
	    "(%llu of %llu bytes arrived)",
	    (unsigned long long)got,
	    (unsigned long long)(s->have_hdr ? s->hlen + s->framing->hdr_len
					     : s->framing->hdr_len));
}

/* Discard the rest of an oversized message. */
static int
stream_skip(struct ipk__stream *s, int64_t deadline)
{
	while (s->skip) {
		if (s->rlen) {
			size_t k = (size_t)IPK__MIN((uint64_t)s->rlen, s->skip);
			s->roff += k;
			s->rlen -= k;
			s->skip -= k;
			continue;
		}
		int rv = stream_fill(s, 1, deadline);
		if (rv < 0)
			return stream_torn(s, rv, 0);
	}
	return 0;
}

int
ipk__stream_recv(struct ipk__stream *s, void *buf, size_t cap, size_t *len,
    uint32_t *type, int64_t deadline)
{
	int rv;
	if (s->rx_err)
		return s->rx_err;
	if (s->skip && (rv = stream_skip(s, deadline)) < 0)
		return rv;
	if (!s->have_hdr) {
		const struct ipk__framing *f = s->framing;
		size_t hl = f->hdr_len;
		rv = stream_fill(s, hl, deadline);
		if (rv < 0)
			return stream_torn(s, rv, s->rlen);
		uint32_t t;
		uint64_t l;
		if (f->decode(f, s->rbuf + s->roff, &t, &l) < 0) {
			s->rx_err = -EBADMSG;
			return ipk__err(
			    -EBADMSG, "garbage on the stream%s", f->garbage);
		}
		s->roff += hl;
		s->rlen -= hl;
		if (IPK__CHECK("frame.maxmsg", l > s->max_msg)) {
			s->skip = l;
			*len = (size_t)IPK__MIN(l, (uint64_t)SIZE_MAX);
			return ipk__err(-EMSGSIZE,
			    "peer sent a message of %llu "
			    "bytes, over this channel's limit of %zu "
			    "(maxmsg=); "
			    "it was dropped",
			    (unsigned long long)l, s->max_msg);
		}
		s->have_hdr = 1;
		s->htype = t;
		s->hlen = l;
	}
	size_t need = (size_t)s->hlen;
	if (IPK__CHECK("frame.buf", cap < need)) {
		*len = need;
		return ipk__err(-EMSGSIZE,
		    "message of %zu bytes does not fit "
		    "the %zu-byte buffer (it stays queued)",
		    need, cap);
	}
	/* Payload: what a timed-out call kept, then read-ahead, then reads. */
	size_t got = s->stash_len;
	if (got)
		memcpy(buf, s->stash, got);
	while (got < need) {
		if (s->rlen) {
			size_t k = IPK__MIN(s->rlen, need - got);
			memcpy((char *)buf + got, s->rbuf + s->roff, k);
			s->roff += k;
			s->rlen -= k;
			got += k;
			continue;
		}
		ssize_t r;
		if (need - got >= RBUF_SIZE / 2) {
			r = stream_read_some(
			    s, (char *)buf + got, need - got, deadline);
			if (r > 0) {
				got += (size_t)r;
				IPK__CRASH_SITE("frame.read_mid_payload");
				continue;
			}
			rv = r == 0 ? -ETIMEDOUT : (int)r;
		} else {
			rv = stream_fill(s, 1, deadline);
			if (rv == 0)
				continue;
		}
		/* Keep what arrived for the next call. */
		if (rv == -ETIMEDOUT && got > s->stash_len) {
			unsigned char *p = ipk__realloc(s->stash, need);
			if (!p) {
				s->rx_err = -ENOMEM;
				return -ENOMEM;
			}
			s->stash = p;
			memcpy(s->stash + s->stash_len,
			    (char *)buf + s->stash_len, got - s->stash_len);
			s->stash_len = got;
		}
		return stream_torn(s, rv, got + s->framing->hdr_len);
	}
	s->have_hdr = 0;
	s->stash_len = 0;
	*len = need;
	*type = s->htype;
	return 0;
}
