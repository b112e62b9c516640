/* SPDX-License-Identifier: MIT */
/*
 * frame.c - the stream framing codec and its I/O loops (see frame.h). The
 * only place that turns a byte stream into messages.
 */
#include "core/frame.h"
#include "core/testhook.h"

#include <errno.h>
#include <linux/sockios.h>
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#define RBUF_SIZE ((size_t)64 * 1024)

static ssize_t stream_read(struct ipk__stream *s, void *buf, size_t n);
static ssize_t
stream_read_some(struct ipk__stream *s, void *buf, size_t n, int64_t deadline);

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

static void
put64(unsigned char *p, uint64_t v)
{
	put32(p, (uint32_t)v);
	put32(p + 4, (uint32_t)(v >> 32));
}

static uint64_t
get64(const unsigned char *p)
{
	return (uint64_t)get32(p) | (uint64_t)get32(p + 4) << 32;
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

/* raw: whatever one read brought is one message. */
static int
frame_raw_scan(const struct ipk__framing *f, const unsigned char *p, size_t n,
    size_t *len, size_t *used)
{
	(void)f;
	(void)p;
	*len = *used = n;
	return 1;
}

/* lines: up to the first newline, which is not part of the message. */
static int
frame_lines_scan(const struct ipk__framing *f, const unsigned char *p, size_t n,
    size_t *len, size_t *used)
{
	const unsigned char *nl = memchr(p, f->delim, n);
	if (!nl)
		return 0;
	*len = (size_t)(nl - p);
	*used = *len + 1;
	return 1;
}

const struct ipk__framing ipk__framing_raw = {
    .scan = frame_raw_scan,
    .delim = -1,
};

const struct ipk__framing ipk__framing_lines = {
    .scan = frame_lines_scan,
    .delim = '\n',
};

int
ipk__url_framing(
    const struct ipk__url *u, unsigned allowed, const struct ipk__framing **f)
{
	const char *v;
	*f = NULL;
	if (ipk__url_str(u, "framing", &v) == 1 || !strcmp(v, "ipk"))
		return 0;
	if (!strcmp(v, "raw") && (allowed & IPK__FRAMING_RAW)) {
		*f = &ipk__framing_raw;
		return 0;
	}
	if (!strcmp(v, "lines") && (allowed & IPK__FRAMING_LINES)) {
		*f = &ipk__framing_lines;
		return 0;
	}
	return ipk__err(-EINVAL, "%s: framing=%s: %s takes %s", u->text, v,
	    u->scheme,
	    (allowed & IPK__FRAMING_LINES) ? "ipk (the default), raw or lines"
					   : "ipk (the default) or raw");
}

void
ipk__stream_init(struct ipk__stream *s, int rfd, int wfd, size_t max_msg)
{
	memset(s, 0, sizeof(*s));
	s->rfd = rfd;
	s->wfd = wfd;
	s->hup_fd = -1;
	s->max_msg = max_msg;
	s->framing = &frame_ipk;
	s->tx_lim = SIZE_MAX; /* no hello: no limit of the peer's known */
}

void
ipk__stream_framing(struct ipk__stream *s, const struct ipk__framing *f)
{
	IPK__ASSERT(f->hdr_len <= IPK__FRAME_HDR_MAX &&
	    (f->hdr_len > 0) == (f->scan == NULL));
	s->framing = f;
}

void
ipk__stream_fini(struct ipk__stream *s)
{
	ipk__free(s->rbuf);
	ipk__free(s->stash);
	ipk__free(s->pend);
	s->rbuf = s->stash = s->pend = NULL;
	s->rcap = s->pend_cap = s->stash_cap = 0;
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
	const struct ipk__framing *f = s->framing;
	size_t hl = f->hdr_len;
	if (IPK__UNLIKELY(!hl)) {
		size_t ml, used;
		return s->rlen &&
		    f->scan(f, s->rbuf + s->roff, s->rlen, &ml, &used);
	}
	if (s->rx_hello)
		return 0;
	if (s->skip)
		return 0;
	if (s->have_hdr)
		return s->stash_len + s->rlen >= s->hlen;
	if (s->rlen < hl)
		return 0;
	uint32_t t;
	uint64_t l;
	if (f->decode(f, s->rbuf + s->roff, &t, &l) < 0)
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

/* writev on a pipe or FIFO whose reader may be gone, without letting the
 * kernel's SIGPIPE reach the caller: blocked in this thread for the call,
 * and taken back when this write raised it (it was not pending before). */
static ssize_t
stream_writev_nosig(int fd, struct iovec *iov, int n)
{
	sigset_t pipe_set, old, pending;
	sigemptyset(&pipe_set);
	sigaddset(&pipe_set, SIGPIPE);
	sigemptyset(&pending);
	(void)sigpending(&pending);
	int was_pending = sigismember(&pending, SIGPIPE) == 1;
	if (!was_pending)
		(void)pthread_sigmask(SIG_BLOCK, &pipe_set, &old);
	ssize_t w = writev(fd, iov, n);
	int e = errno;
	if (!was_pending) {
		if (w < 0 && e == EPIPE) {
			const struct timespec zero = {0, 0};
			while (sigtimedwait(&pipe_set, NULL, &zero) < 0 &&
			    errno == EINTR)
				;
		}
		(void)pthread_sigmask(SIG_SETMASK, &old, NULL);
	}
	errno = e;
	return w;
}

static ssize_t
stream_writev(struct ipk__stream *s, struct iovec *iov, int n)
{
	if (s->flags & IPK__STREAM_SOCK) {
		struct msghdr m = {.msg_iov = iov, .msg_iovlen = (size_t)n};
		return sendmsg(s->wfd, &m, MSG_NOSIGNAL | MSG_DONTWAIT);
	}
	if (IPK__UNLIKELY(s->flags & IPK__STREAM_NOSIGPIPE))
		return stream_writev_nosig(s->wfd, iov, n);
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

/* Keep the unwritten rest of a stalled message (its segments seg[0..n),
 * `w` bytes of which went out): it goes out before the next one. */
static int
stream_keep_rest(
    struct ipk__stream *s, const struct iovec *seg, int n, size_t w)
{
	size_t total = 0;
	for (int i = 0; i < n; i++)
		total += seg[i].iov_len;
	size_t rest = total - w;
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
	size_t k = 0;
	for (int i = 0; i < n; i++) {
		size_t l = seg[i].iov_len;
		if (w >= l) {
			w -= l;
			continue;
		}
		memcpy(s->pend + k, (const char *)seg[i].iov_base + w, l - w);
		k += l - w;
		w = 0;
	}
	s->pend_off = 0;
	s->pend_len = rest;
	return 0;
}

/* Write one message of segments seg[0..n) (a copy is written through). */
static int
stream_put(
    struct ipk__stream *s, const struct iovec *seg, int n, int64_t deadline)
{
	struct iovec iov[3];
	size_t total = 0;
	for (int i = 0; i < n; i++) {
		iov[i] = seg[i];
		total += seg[i].iov_len;
	}
	ssize_t w = stream_write_all(s, iov, n, deadline);
	if (w < 0) {
		s->tx_err = (int)w;
		return (int)w;
	}
	if ((size_t)w == total)
		return 0;
	if (w == 0)
		return -ETIMEDOUT;
	/* Stalled mid-message: keep the rest, the message is committed. */
	return stream_keep_rest(s, seg, n, (size_t)w);
}

/* What the peer's first bytes were, for a sentence: a greeting we know,
 * else the text or the bytes. */
static void
stream_hello_what(const struct ipk__stream *s, char *out, size_t n)
{
	const unsigned char *h = s->hello_buf;
	size_t got = s->hello_got, k = 0;
	if (got >= 4 && !memcmp(h, "\0SP\0", 4)) {
		snprintf(out, n,
		    "an SP header of nng/nanomsg (use nng+tcp:// or "
		    "nng+ipc://)");
		return;
	}
	if (got >= 1 && h[0] == 0xff && (got < 10 || h[9] == 0x7f)) {
		snprintf(out, n, "a ZeroMQ greeting");
		return;
	}
	int text = 1;
	for (size_t i = 0; i < got; i++)
		if ((h[i] < 0x20 || h[i] > 0x7e) && h[i] != '\n' &&
		    h[i] != '\r' && h[i] != '\t')
			text = 0;
	k = (size_t)snprintf(out, n, text ? "\"" : "bytes");
	for (size_t i = 0; i < got && k + 6 < n; i++) {
		if (!text)
			k += (size_t)snprintf(out + k, n - k, " %02x", h[i]);
		else if (h[i] == '\n')
			k += (size_t)snprintf(out + k, n - k, "\\n");
		else if (h[i] >= 0x20 && h[i] <= 0x7e)
			out[k++] = (char)h[i];
		else
			k += (size_t)snprintf(out + k, n - k, " ");
	}
	if (k < n)
		snprintf(out + k, n - k, "%s", text ? "\"" : "");
}

/* The hello's bytes are all in (or the peer stopped short, or they cannot
 * be a hello): publish the peer's limit. A frame instead of a hello is an
 * ipckit without hellos: its header is kept for recv. Claim held. */
static void
stream_hello_parse(struct ipk__stream *s)
{
	const unsigned char *h = s->hello_buf;
	size_t v = SIZE_MAX; /* not ipckit */
	if (s->hello_got == sizeof(s->hello_buf) &&
	    get32(h) == IPK__FRAME_MAGIC) {
		if (!s->rbuf && (s->rbuf = ipk__malloc(RBUF_SIZE)) != NULL)
			s->rcap = RBUF_SIZE;
		if (s->rbuf) {
			memcpy(s->rbuf, h, IPK__FRAME_HDR);
			s->roff = 0;
			s->rlen = IPK__FRAME_HDR;
			v = (size_t)IPK__FRAME_SANE;
		}
	} else if (s->hello_got == sizeof(s->hello_buf)) {
		uint64_t m = get64(h + 8);
		if (!IPK__CHECK("frame.hello",
			get32(h) != IPK__HELLO_MAGIC || get32(h + 4) != 1 ||
			    m == 0 || m > IPK__FRAME_SANE))
			v = (size_t)m;
	}
	__atomic_store_n(&s->peer_max, v, __ATOMIC_RELEASE);
}

/* One read towards the peer's hello, claim held: > 0 progress, 0 nothing
 * there yet, or a negative code. Reads the hello's own bytes, never more. */
static ssize_t
stream_hello_read(struct ipk__stream *s, int64_t deadline, int wait)
{
	size_t need = sizeof(s->hello_buf) - s->hello_got;
	ssize_t r;
	if (wait) {
		r = stream_read_some(
		    s, s->hello_buf + s->hello_got, need, deadline);
		if (r == 0)
			return -ETIMEDOUT;
	} else {
		r = stream_read(s, s->hello_buf + s->hello_got, need);
		if (r == 0)
			r = IPK_ECLOSED;
		else if (r < 0 && (errno == EAGAIN || errno == EINTR))
			return 0;
		else if (r < 0)
			r = stream_io_err(errno);
	}
	if (r == IPK_ECLOSED && s->hello_got) {
		stream_hello_parse(s); /* cut short: not ipckit */
		return 1;
	}
	if (r < 0)
		return r;
	s->hello_got += (size_t)r;
	/* Both "IPKH" and "IPK1" start so: anything else is known at once. */
	if (s->hello_got == sizeof(s->hello_buf) ||
	    memcmp(s->hello_buf, "IPK", IPK__MIN(s->hello_got, (size_t)3)) != 0)
		stream_hello_parse(s);
	return r;
}

static int
stream_claim_try(struct ipk__stream *s)
{
	return __atomic_exchange_n(&s->hello_claim, 1, __ATOMIC_ACQUIRE) == 0;
}

static void
stream_claim_drop(struct ipk__stream *s)
{
	__atomic_store_n(&s->hello_claim, 0, __ATOMIC_RELEASE);
}

static int
stream_not_ipk(struct ipk__stream *s, int code)
{
	char what[96];
	stream_hello_what(s, what, sizeof(what));
	return ipk__err(code,
	    "the peer does not speak ipckit's framing: it sent %s where "
	    "ipckit's hello belongs (?framing=raw or lines talks to other "
	    "programs)",
	    what);
}

/* Send side: learn the peer's limit (its hello), then refuse a message
 * over it. */
static int
stream_peer_limit(struct ipk__stream *s, size_t len, int64_t deadline)
{
	size_t m;
	while (!(m = __atomic_load_n(&s->peer_max, __ATOMIC_ACQUIRE))) {
		int mine = stream_claim_try(s), slice = 1;
		if (mine) {
			ssize_t r =
			    s->peer_max ? 1 : stream_hello_read(s, 0, 0);
			stream_claim_drop(s);
			if (r == IPK_ECLOSED)
				return ipk__err(IPK_ECLOSED,
				    "the peer closed before saying its "
				    "message limit");
			if (r < 0)
				return (int)r;
			if (r > 0)
				continue;
			slice = IPK__SLICE_MS;
		}
		if (ipk__now_ns() >= s->hello_by)
			return ipk__err(-EPROTO,
			    "the peer said nothing within %d ms of "
			    "connecting: it does not speak ipckit's framing "
			    "(?framing=raw or lines talks to other programs)",
			    IPK__HELLO_MS);
		if (ipk__expired(deadline))
			return -ETIMEDOUT;
		/* Without the claim the other side is reading it: look
		 * again soon. */
		int r = ipk__poll1(s->rfd, POLLIN,
		    IPK__MIN(deadline, s->hello_by), mine ? slice : 1);
		if (r < 0)
			return r;
	}
	if (m == SIZE_MAX)
		return stream_not_ipk(s, -EPROTO);
	s->tx_lim = m + 1;
	if (len > m)
		return ipk__err(-EMSGSIZE,
		    "message of %zu bytes is over the receiver's limit of "
		    "%zu bytes (its maxmsg=); nothing was sent",
		    len, m);
	return 0;
}

/* Receive side: the peer's hello before its first frame. */
static int
stream_hello_rx(struct ipk__stream *s, int64_t deadline)
{
	ssize_t r = 0;
	while (!stream_claim_try(s))
		sched_yield(); /* the sender reads without waiting */
	while (!__atomic_load_n(&s->peer_max, __ATOMIC_ACQUIRE) && r >= 0)
		r = stream_hello_read(s, deadline, 1);
	stream_claim_drop(s);
	if (r == IPK_ECLOSED)
		s->rx_err = IPK_ECLOSED;
	if (r < 0)
		return (int)r;
	s->rx_hello = 0;
	if (__atomic_load_n(&s->peer_max, __ATOMIC_ACQUIRE) == SIZE_MAX) {
		s->rx_err = -EBADMSG;
		return stream_not_ipk(s, -EBADMSG);
	}
	return 0;
}

int
ipk__stream_ready(struct ipk__stream *s)
{
	if (IPK__UNLIKELY(s->rx_hello) && !s->rx_err && stream_claim_try(s)) {
		ssize_t r = 1;
		while (
		    !__atomic_load_n(&s->peer_max, __ATOMIC_ACQUIRE) && r > 0)
			r = stream_hello_read(s, 0, 0);
		stream_claim_drop(s);
		size_t m = __atomic_load_n(&s->peer_max, __ATOMIC_ACQUIRE);
		if (r < 0 || m == SIZE_MAX)
			return 1; /* recv reports it at once */
		if (m)
			s->rx_hello = 0;
	}
	return ipk__stream_buffered(s);
}

void
ipk__stream_hello(struct ipk__stream *s)
{
	unsigned char h[IPK__FRAME_HDR];
	put32(h, IPK__HELLO_MAGIC);
	put32(h + 4, 1);
	put64(h + 8, s->max_msg);
	s->tx_lim = 0;
	s->rx_hello = 1;
	s->hello_by = ipk__now_ns() + (int64_t)IPK__HELLO_MS * 1000000;
	/* A new connection has room; what does not fit waits in pend. The
	 * deadline is not 0, so a write interrupted by a signal (EINTR) is
	 * made again, not dropped. */
	struct iovec seg = {h, sizeof(h)};
	(void)stream_put(s, &seg, 1, ipk__now_ns() + 100 * 1000000LL);
}

void
ipk__stream_peer_max(struct ipk__stream *s, size_t max)
{
	s->tx_lim = max ? max + 1 : SIZE_MAX;
	__atomic_store_n(&s->peer_max, max ? max : SIZE_MAX, __ATOMIC_RELEASE);
}

/* A plain framing's message: the payload, then the delimiter. */
static int
stream_send_plain(
    struct ipk__stream *s, const void *buf, size_t len, int64_t deadline)
{
	const struct ipk__framing *f = s->framing;
	static const unsigned char nl[1] = {'\n'};
	if (f->delim >= 0 && len && memchr(buf, f->delim, len))
		return ipk__err(-EINVAL,
		    "a message of the lines framing cannot hold a newline "
		    "(it would arrive as two)");
	struct iovec seg[2] = {{(void *)buf, len}, {(void *)nl, 1}};
	int n = f->delim >= 0 ? 2 : 1;
	if (!len) {
		if (n == 1)
			return 0; /* raw: an empty message is no bytes */
		seg[0] = seg[1];
		n = 1;
	}
	return stream_put(s, seg, n, deadline);
}

int
ipk__stream_send(struct ipk__stream *s, const void *buf, size_t len,
    uint32_t type, int64_t deadline)
{
	int rv = ipk__stream_flush(s, deadline);
	if (rv < 0)
		return rv;
	if (IPK__UNLIKELY(len >= s->tx_lim) &&
	    (rv = stream_peer_limit(s, len, deadline)) < 0)
		return rv;
	size_t hl = s->framing->hdr_len;
	if (IPK__UNLIKELY(!hl))
		return stream_send_plain(s, buf, len, deadline);
	unsigned char hdr[IPK__FRAME_HDR_MAX];
	s->framing->encode(s->framing, hdr, type, len);
	struct iovec iov[2] = {{hdr, hl}, {(void *)buf, len}};
	ssize_t w = stream_write_all(s, iov, len ? 2 : 1, deadline);
	if (w < 0) {
		s->tx_err = (int)w;
		return (int)w;
	}
	if ((size_t)w == hl + len)
		return 0;
	if (w == 0)
		return -ETIMEDOUT;
	/* Stalled mid-frame: keep the rest, the frame is committed. */
	struct iovec seg[2] = {{hdr, hl}, {(void *)buf, len}};
	return stream_keep_rest(s, seg, 2, (size_t)w);
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

/* A plain framing's bytes that have no end yet go to the stash (lines);
 * past max_msg they are dropped up to the next delimiter (s->skip). */
static int
stream_stash_plain(struct ipk__stream *s)
{
	size_t n = s->rlen;
	if (!s->skip && s->stash_len + n > s->max_msg) {
		s->skip = 1;
		s->stash_len = 0;
	}
	if (!s->skip) {
		if (s->stash_cap < s->stash_len + n) {
			size_t want =
			    IPK__MAX(s->stash_len + n, 2 * s->stash_cap);
			want = IPK__MIN(want, s->max_msg);
			unsigned char *p = ipk__realloc(s->stash, want);
			if (!p)
				return -ENOMEM;
			s->stash = p;
			s->stash_cap = want;
		}
		memcpy(s->stash + s->stash_len, s->rbuf + s->roff, n);
		s->stash_len += n;
	}
	s->roff = s->rlen = 0;
	return 0;
}

/* Hand over a plain message: the stash, then `mlen` bytes of read-ahead
 * taking `used` bytes. */
static int
stream_give_plain(struct ipk__stream *s, void *buf, size_t cap, size_t *len,
    size_t mlen, size_t used)
{
	size_t total = s->stash_len + mlen;
	if (s->skip || total > s->max_msg) {
		s->roff += used;
		s->rlen -= used;
		s->skip = 0;
		s->stash_len = 0;
		*len = s->max_msg + 1;
		return ipk__err(-EMSGSIZE,
		    "peer sent a line of more than %zu bytes, over this "
		    "channel's limit (maxmsg=); it was dropped",
		    s->max_msg);
	}
	if (IPK__CHECK("frame.plain_buf", cap < total)) {
		*len = total;
		return ipk__err(-EMSGSIZE,
		    "message of %zu bytes does not fit "
		    "the %zu-byte buffer (it stays queued)",
		    total, cap);
	}
	if (s->stash_len)
		memcpy(buf, s->stash, s->stash_len);
	if (mlen)
		memcpy((char *)buf + s->stash_len, s->rbuf + s->roff, mlen);
	s->roff += used;
	s->rlen -= used;
	s->stash_len = 0;
	*len = total;
	return 0;
}

/* recv of a plain framing (raw, lines): no header, no type. */
static int
stream_recv_plain(struct ipk__stream *s, void *buf, size_t cap, size_t *len,
    uint32_t *type, int64_t deadline)
{
	const struct ipk__framing *f = s->framing;
	*type = 0;
	if (!s->rbuf) {
		s->rbuf = ipk__malloc(RBUF_SIZE);
		if (!s->rbuf)
			return -ENOMEM;
		s->rcap = RBUF_SIZE;
	}
	for (;;) {
		size_t mlen, used;
		if (s->rlen &&
		    f->scan(f, s->rbuf + s->roff, s->rlen, &mlen, &used))
			return stream_give_plain(s, buf, cap, len, mlen, used);
		if (s->rlen && stream_stash_plain(s) < 0)
			return -ENOMEM;
		/* raw: one read is one message, never over max_msg */
		size_t room = s->rcap;
		if (f->delim < 0)
			room = IPK__MIN(room, s->max_msg);
		s->roff = 0;
		ssize_t r = stream_read_some(s, s->rbuf, room, deadline);
		if (r > 0) {
			s->rlen = (size_t)r;
			continue;
		}
		if (r == 0)
			return -ETIMEDOUT;
		if (r == IPK_ECLOSED && (s->stash_len || s->skip))
			/* The last line had no newline: still a message. */
			return stream_give_plain(s, buf, cap, len, 0, 0);
		if (r == IPK_ECLOSED)
			s->rx_err = IPK_ECLOSED;
		return (int)r;
	}
}

int
ipk__stream_recv(struct ipk__stream *s, void *buf, size_t cap, size_t *len,
    uint32_t *type, int64_t deadline)
{
	int rv;
	if (s->rx_err)
		return s->rx_err;
	if (IPK__UNLIKELY(!s->framing->hdr_len))
		return stream_recv_plain(s, buf, cap, len, type, deadline);
	if (IPK__UNLIKELY(s->rx_hello) &&
	    (rv = stream_hello_rx(s, deadline)) < 0)
		return rv;
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

int
ipk__stream_drain(struct ipk__stream *s, int64_t deadline)
{
	int rv = ipk__stream_flush(s, deadline), slice = 1;
	if (rv < 0)
		return rv;
	int sock = (s->flags & IPK__STREAM_SOCK) != 0;
	/* The peer reads EOF after our last message; it answers by closing
	 * or by shutting down its own side. */
	if (sock && shutdown(s->wfd, SHUT_WR) < 0 && errno != ENOTCONN)
		return -errno;
	for (;;) {
		int q = 0;
		if (!sock || (s->flags & IPK__STREAM_OUTQ)) {
			if (ioctl(s->wfd, sock ? SIOCOUTQ : FIONREAD, &q) < 0)
				return -errno;
			if (q == 0)
				return 0;
		}
		struct pollfd p = {
		    .fd = s->wfd, .events = sock ? POLLRDHUP : 0};
		struct pollfd h = {.fd = s->hup_fd};
		if (s->hup_fd >= 0 && poll(&h, 1, 0) > 0 &&
		    (h.revents & (POLLHUP | POLLERR)))
			return ipk__err(IPK_ECLOSED,
			    "the peer went away with %d bytes unread", q);
		int r = poll(&p, 1, ipk__poll_ms(deadline, slice));
		if (r < 0 && errno != EINTR)
			return -errno;
		if (r > 0 && sock) {
			int err = 0;
			socklen_t el = sizeof(err);
			(void)getsockopt(
			    s->wfd, SOL_SOCKET, SO_ERROR, &err, &el);
			if (err == ECONNRESET || err == EPIPE)
				return ipk__err(IPK_ECLOSED,
				    "the peer closed without reading "
				    "everything");
			return 0;
		}
		if (r > 0 && (p.revents & POLLERR)) {
			/* The reader left: after reading everything? */
			if (ioctl(s->wfd, FIONREAD, &q) == 0 && q == 0)
				return 0;
			return ipk__err(IPK_ECLOSED,
			    "the reader went away with %d bytes unread", q);
		}
		if (s->alive && s->alive(s->arg) == 0)
			return ipk__err(IPK_ECLOSED,
			    "the peer went away with %d bytes unread", q);
		if (ipk__expired(deadline))
			return ipk__err(-ETIMEDOUT,
			    "the peer has not taken everything yet%s",
			    sock ? " (it has not closed)" : "");
		slice = IPK__MIN(slice * 2, IPK__SLICE_MS);
	}
}
