/* SPDX-License-Identifier: MIT */
/*
 * frame_test.c - the stream framing codec over real pipes and sockets:
 * round trips, garbage, oversized and absurd lengths, torn frames, stalled
 * sends, and receives that time out in the middle of a payload; the plain
 * framings (raw, lines), the limits' hello (issue 14) and drain.
 */
#include <fcntl.h>
#include <signal.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "core/frame.h"
#include "test.h"

static int64_t
dl(int ms)
{
	return ipk__deadline(ms);
}

static void
mkpipe(int p[2])
{
	T_ASSERT(pipe2(p, O_CLOEXEC | O_NONBLOCK) == 0);
}

static void
test_encode(void)
{
	unsigned char h[IPK__FRAME_HDR];
	uint32_t t;
	uint64_t l;
	ipk__frame_encode(h, 0xdeadbeef, 0x123456789ull);
	T_OK(ipk__frame_decode(h, &t, &l));
	T_EQ(t, 0xdeadbeef);
	T_EQ(l, 0x123456789ull);
	T_EQ(h[0], 'I');
	T_EQ(h[3], '1');
	ipk__frame_encode(h, 1, IPK__FRAME_SANE + 1);
	T_EQ(ipk__frame_decode(h, &t, &l), -EBADMSG);
	ipk__frame_encode(h, 1, 5);
	h[1] ^= 0x40;
	T_EQ(ipk__frame_decode(h, &t, &l), -EBADMSG);
}

static void
test_roundtrip(void)
{
	int p[2];
	mkpipe(p);
	struct ipk__stream w, r;
	ipk__stream_init(&w, -1, p[1], 1 << 20);
	ipk__stream_init(&r, p[0], -1, 1 << 20);
	char buf[300];
	for (uint64_t i = 0; i < 200; i++) {
		size_t n = (size_t)(i * 37 % 300);
		t_fill(buf, n, 1, i);
		T_OK(ipk__stream_send(&w, buf, n, (uint32_t)i, dl(1000)));
	}
	T_EQ(ipk__stream_buffered(&r), 0);
	for (uint64_t i = 0; i < 200; i++) {
		size_t len;
		uint32_t t;
		T_OK(
		    ipk__stream_recv(&r, buf, sizeof(buf), &len, &t, dl(1000)));
		T_EQ(len, i * 37 % 300);
		T_EQ(t, i);
		T_ASSERT(t_check(buf, len, 1, i));
		if (i == 0)
			T_EQ(ipk__stream_buffered(&r), 1);
	}
	size_t len;
	uint32_t t;
	T_EQ(ipk__stream_recv(&r, buf, sizeof(buf), &len, &t, dl(0)),
	    -ETIMEDOUT);
	/* Too small a buffer: size reported, message kept. */
	T_OK(ipk__stream_send(&w, "0123456789", 10, 9, dl(1000)));
	T_EQ(ipk__stream_recv(&r, buf, 4, &len, &t, dl(1000)), -EMSGSIZE);
	T_EQ(len, 10);
	T_OK(ipk__stream_recv(&r, buf, 10, &len, &t, dl(1000)));
	T_ASSERT(!memcmp(buf, "0123456789", 10));
	/* Writer gone: EOF is "peer closed". */
	close(p[1]);
	T_EQ(ipk__stream_recv(&r, buf, sizeof(buf), &len, &t, dl(1000)),
	    IPK_ECLOSED);
	ipk__stream_fini(&w);
	ipk__stream_fini(&r);
	close(p[0]);
}

static void
write_raw(int fd, const void *p, size_t n)
{
	T_EQ(write(fd, p, n), (ssize_t)n);
}

static void
test_garbage(void)
{
	int p[2];
	mkpipe(p);
	struct ipk__stream r;
	ipk__stream_init(&r, p[0], -1, 1024);
	write_raw(p[1], "GET / HTTP/1.1\r\n\r\n", 18);
	char buf[64];
	size_t len;
	uint32_t t;
	T_EQ(ipk__stream_recv(&r, buf, sizeof(buf), &len, &t, dl(1000)),
	    -EBADMSG);
	/* Sticky: a desynchronised stream never yields messages again. */
	T_EQ(ipk__stream_recv(&r, buf, sizeof(buf), &len, &t, dl(0)), -EBADMSG);
	ipk__stream_fini(&r);
	close(p[0]);
	close(p[1]);

	/* Absurd lengths (2^63, 2^64-1) are garbage, never an allocation. */
	uint64_t absurd[] = {1ull << 63, ~0ull, IPK__FRAME_SANE + 1};
	for (size_t i = 0; i < 3; i++) {
		mkpipe(p);
		ipk__stream_init(&r, p[0], -1, 1024);
		unsigned char h[IPK__FRAME_HDR];
		ipk__frame_encode(h, 0, 5);
		memcpy(h + 8, &absurd[i], 8); /* little-endian host */
		write_raw(p[1], h, sizeof(h));
		T_EQ(ipk__stream_recv(&r, buf, sizeof(buf), &len, &t, dl(1000)),
		    -EBADMSG);
		ipk__stream_fini(&r);
		close(p[0]);
		close(p[1]);
	}
}

static void
test_oversize(void)
{
	/* Over the receiver's limit: dropped without allocating, then the
	 * stream carries on with the next message. */
	int p[2];
	mkpipe(p);
	struct ipk__stream w, r;
	ipk__stream_init(&w, -1, p[1], 1 << 20);
	ipk__stream_init(&r, p[0], -1, 100);
	char big[5000];
	memset(big, 'x', sizeof(big));
	T_OK(ipk__stream_send(&w, big, sizeof(big), 1, dl(1000)));
	T_OK(ipk__stream_send(&w, "ok", 2, 2, dl(1000)));
	char buf[100];
	size_t len = 0;
	uint32_t t;
	T_EQ(ipk__stream_recv(&r, buf, sizeof(buf), &len, &t, dl(1000)),
	    -EMSGSIZE);
	T_EQ(len, 5000);
	T_ASSERT(strstr(ipk_strerror(-EMSGSIZE), "100") != NULL);
	T_OK(ipk__stream_recv(&r, buf, sizeof(buf), &len, &t, dl(1000)));
	T_EQ(len, 2);
	T_EQ(t, 2);
	ipk__stream_fini(&w);
	ipk__stream_fini(&r);
	close(p[0]);
	close(p[1]);
}

static void
test_torn(void)
{
	/* A frame cut short by the writer's death: -EBADMSG, then closed. */
	int p[2];
	mkpipe(p);
	struct ipk__stream r;
	ipk__stream_init(&r, p[0], -1, 1024);
	unsigned char h[IPK__FRAME_HDR];
	ipk__frame_encode(h, 0, 100);
	write_raw(p[1], h, sizeof(h));
	write_raw(p[1], "only part", 9);
	close(p[1]);
	char buf[128];
	size_t len;
	uint32_t t;
	T_EQ(ipk__stream_recv(&r, buf, sizeof(buf), &len, &t, dl(1000)),
	    -EBADMSG);
	T_EQ(ipk__stream_recv(&r, buf, sizeof(buf), &len, &t, dl(1000)),
	    IPK_ECLOSED);
	ipk__stream_fini(&r);
	close(p[0]);
	/* Torn header too. */
	mkpipe(p);
	ipk__stream_init(&r, p[0], -1, 1024);
	write_raw(p[1], h, 7);
	close(p[1]);
	T_EQ(ipk__stream_recv(&r, buf, sizeof(buf), &len, &t, dl(1000)),
	    -EBADMSG);
	ipk__stream_fini(&r);
	close(p[0]);
}

static void
test_stall(void)
{
	/* A frame larger than the pipe: the send that stalls half-way keeps
	 * the rest and reports success; the next send finishes it first. */
	int p[2];
	mkpipe(p);
	int psz = fcntl(p[1], F_SETPIPE_SZ, 4096);
	T_ASSERT(psz >= 4096);
	struct ipk__stream w, r;
	ipk__stream_init(&w, -1, p[1], 1 << 20);
	ipk__stream_init(&r, p[0], -1, 1 << 20);
	size_t n = (size_t)psz * 4;
	char *big = malloc(n), *in = malloc(n);
	t_fill(big, n, 7, 1);
	T_OK(ipk__stream_send(&w, big, n, 1, dl(0)));
	T_ASSERT(w.pend_len > 0);
	memset(big, 0, n); /* the library must have kept its own copy */
	/* Pipe full, previous frame pending: this one cannot start. */
	T_EQ(ipk__stream_send(&w, "x", 1, 2, dl(0)), -ETIMEDOUT);
	/* The receiver times out mid-payload and keeps what it has. */
	size_t len;
	uint32_t t;
	T_EQ(ipk__stream_recv(&r, in, n, &len, &t, dl(10)), -ETIMEDOUT);
	T_ASSERT(r.stash_len > 0);
	/* Alternate flush and recv until the frame is through. */
	int rv;
	do {
		(void)ipk__stream_flush(&w, dl(0));
		rv = ipk__stream_recv(&r, in, n, &len, &t, dl(5));
	} while (rv == -ETIMEDOUT);
	T_OK(rv);
	T_EQ(len, n);
	T_ASSERT(t_check(in, n, 7, 1));
	T_OK(ipk__stream_flush(&w, dl(0)));
	T_OK(ipk__stream_send(&w, "x", 1, 2, dl(1000)));
	T_OK(ipk__stream_recv(&r, in, n, &len, &t, dl(1000)));
	T_EQ(len, 1);
	T_EQ(t, 2);
	free(big);
	free(in);
	ipk__stream_fini(&w);
	ipk__stream_fini(&r);
	close(p[0]);
	close(p[1]);
}

static int alive_flag = 1;

static int
alive_cb(void *arg)
{
	(void)arg;
	return alive_flag;
}

static void
test_alive(void)
{
	/* A peer reported dead by the liveness callback ends a blocked recv
	 * within a few slices, even though the descriptor stays silent. */
	int sv[2];
	T_ASSERT(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK,
		     0, sv) == 0);
	struct ipk__stream r;
	ipk__stream_init(&r, sv[0], sv[0], 1024);
	r.flags = IPK__STREAM_SOCK;
	r.alive = alive_cb;
	char buf[8];
	size_t len;
	uint32_t t;
	T_EQ(ipk__stream_recv(&r, buf, sizeof(buf), &len, &t, dl(60)),
	    -ETIMEDOUT);
	alive_flag = 0;
	int64_t t0 = t_now_ns();
	T_EQ(ipk__stream_recv(&r, buf, sizeof(buf), &len, &t, dl(5000)),
	    IPK_ECLOSED);
	T_ASSERT(t_ms_since(t0) < 1000);
	/* Socket peer closed: send says closed, and raises no SIGPIPE. */
	close(sv[1]);
	alive_flag = 1;
	int rv;
	for (int i = 0; i < 3; i++)
		rv = ipk__stream_send(&r, "abc", 3, 0, dl(1000));
	T_EQ(rv, IPK_ECLOSED);
	ipk__stream_fini(&r);
	close(sv[0]);
}

static void
spair(int sv[2])
{
	T_ASSERT(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK,
		     0, sv) == 0);
}

static void
expect_msg(struct ipk__stream *r, const char *want)
{
	char buf[256];
	size_t len = 0;
	uint32_t t = 99;
	T_OK(ipk__stream_recv(r, buf, sizeof(buf), &len, &t, dl(1000)));
	T_EQ(t, 0);
	if (len != strlen(want) || memcmp(buf, want, len))
		T_FAILF("got '%.*s', expected '%s'", (int)len, buf, want);
}

/* lines: split across writes, several per write, an empty line, a line
 * over the limit dropped (the next one kept), a buffer too small keeps the
 * line, the unterminated tail at EOF is the last message; a message with
 * a newline is refused at the sender. */
static void
test_lines(void)
{
	int p[2];
	mkpipe(p);
	struct ipk__stream w, r;
	ipk__stream_init(&w, -1, p[1], 1 << 20);
	ipk__stream_framing(&w, &ipk__framing_lines);
	ipk__stream_init(&r, p[0], -1, 10);
	ipk__stream_framing(&r, &ipk__framing_lines);
	T_ASSERT(write(p[1], "ab", 2) == 2);
	T_EQ(ipk__stream_buffered(&r), 0);
	T_ASSERT(write(p[1], "c\nde\n\n0123456789abc\nok", 22) == 22);
	expect_msg(&r, "abc");
	T_EQ(ipk__stream_buffered(&r), 1);
	expect_msg(&r, "de");
	expect_msg(&r, "");
	char buf[4];
	size_t len = 0;
	uint32_t t;
	T_ERR(ipk__stream_recv(&r, buf, sizeof(buf), &len, &t, dl(1000)),
	    -EMSGSIZE);
	T_ASSERT(len > 10);
	T_OK(ipk__stream_send(&w, "tail", 4, 7, dl(1000)));
	T_ERR(ipk__stream_send(&w, "a\nb", 3, 0, dl(1000)), -EINVAL);
	T_ERR(ipk__stream_recv(&r, buf, 3, &len, &t, dl(1000)), -EMSGSIZE);
	T_EQ(len, 6); /* "oktail" stays queued */
	expect_msg(&r, "oktail");
	T_ASSERT(write(p[1], "last", 4) == 4);
	close(p[1]);
	expect_msg(&r, "last");
	T_ERR(ipk__stream_recv(&r, buf, sizeof(buf), &len, &t, dl(1000)),
	    IPK_ECLOSED);
	ipk__stream_fini(&w);
	ipk__stream_fini(&r);
	close(p[0]);
}

/* raw: what one read returns, at most max_msg bytes; an empty message is
 * no bytes; a buffer too small keeps it. */
static void
test_raw(void)
{
	int p[2];
	mkpipe(p);
	struct ipk__stream w, r;
	ipk__stream_init(&w, -1, p[1], 1 << 20);
	ipk__stream_framing(&w, &ipk__framing_raw);
	ipk__stream_init(&r, p[0], -1, 8);
	ipk__stream_framing(&r, &ipk__framing_raw);
	T_OK(ipk__stream_send(&w, "", 0, 0, dl(1000)));
	T_OK(ipk__stream_send(&w, "hello\n", 6, 3, dl(1000)));
	char buf[16];
	size_t len = 0;
	uint32_t t;
	T_ERR(ipk__stream_recv(&r, buf, 2, &len, &t, dl(1000)), -EMSGSIZE);
	T_EQ(len, 6);
	expect_msg(&r, "hello\n");
	T_OK(ipk__stream_send(&w, "0123456789", 10, 0, dl(1000)));
	expect_msg(&r, "01234567"); /* one read of at most max_msg */
	expect_msg(&r, "89");
	ipk__stream_fini(&w);
	ipk__stream_fini(&r);
	close(p[0]);
	close(p[1]);
}

/* Two ipckit ends: each learns the other's limit from its hello; a
 * message over the receiver's limit is refused at the sender and the
 * stream goes on. */
static void
test_hello(void)
{
	int sv[2];
	spair(sv);
	struct ipk__stream a, b;
	ipk__stream_init(&a, sv[0], sv[0], 1000);
	a.flags = IPK__STREAM_SOCK;
	ipk__stream_init(&b, sv[1], sv[1], 5);
	b.flags = IPK__STREAM_SOCK;
	ipk__stream_hello(&a);
	ipk__stream_hello(&b);
	int rv = ipk__stream_send(&a, "too long", 8, 1, dl(1000));
	T_ERR(rv, -EMSGSIZE);
	if (!strstr(ipk_strerror(rv), "receiver's limit of 5"))
		T_FAILF("size error: '%s'", ipk_strerror(rv));
	T_OK(ipk__stream_send(&a, "ok", 2, 4, dl(1000)));
	T_OK(ipk__stream_send(&b, "from b", 6, 2, dl(1000)));
	char buf[16];
	size_t len;
	uint32_t t;
	T_OK(ipk__stream_recv(&b, buf, sizeof(buf), &len, &t, dl(1000)));
	T_EQ(len, 2);
	T_EQ(t, 4);
	T_OK(ipk__stream_recv(&a, buf, sizeof(buf), &len, &t, dl(1000)));
	T_EQ(len, 6);
	ipk__stream_fini(&a);
	ipk__stream_fini(&b);
	close(sv[0]);
	close(sv[1]);
}

/* What a peer sends where the hello belongs: an ipckit without hellos
 * (a frame: kept, no limit known); a hello with a limit of 0 or an absurd
 * one, or other bytes: not ipckit, named in the sentence. */
static void
test_hello_peer(void)
{
	unsigned char h[IPK__FRAME_HDR + 3];
	char buf[16];
	size_t len;
	uint32_t t;
	for (int k = 0; k < 4; k++) {
		int sv[2];
		spair(sv);
		struct ipk__stream r;
		ipk__stream_init(&r, sv[0], sv[0], 1000);
		r.flags = IPK__STREAM_SOCK;
		ipk__stream_hello(&r);
		size_t n = IPK__FRAME_HDR;
		if (k == 0) { /* a frame: an ipckit without hellos */
			ipk__frame_encode(h, 9, 3);
			memcpy(h + IPK__FRAME_HDR, "old", 3);
			n += 3;
		} else if (k == 3) {
			memcpy(h, "GET / HTTP/1.1\r\n", 16);
		} else {
			/* "IPKH" v1, limit 0 (k 1) or absurd (k 2) */
			memcpy(h, "IPKH\1\0\0\0", 8);
			memset(h + 8, k == 1 ? 0 : 0xff, 8);
		}
		T_ASSERT(write(sv[1], h, n) == (ssize_t)n);
		if (k == 0) {
			T_OK(ipk__stream_recv(
			    &r, buf, sizeof(buf), &len, &t, dl(1000)));
			T_EQ(len, 3);
			T_EQ(t, 9);
			T_OK(ipk__stream_send(&r, "x", 1, 0, dl(1000)));
		} else {
			/* the sender first, then the receiver: both refuse */
			int rv = ipk__stream_send(&r, "x", 1, 0, dl(1000));
			T_ERR(rv, -EPROTO);
			if (k == 3 && !strstr(ipk_strerror(rv), "GET / HTTP"))
				T_FAILF(
				    "does not name it: '%s'", ipk_strerror(rv));
			T_ERR(ipk__stream_recv(
				  &r, buf, sizeof(buf), &len, &t, dl(1000)),
			    -EBADMSG);
		}
		ipk__stream_fini(&r);
		close(sv[0]);
		close(sv[1]);
	}
}

/* drain: a pipe's reader that reads everything lets it return 0; one that
 * leaves with bytes unread gives IPK_ECLOSED; a reader-less pipe raises no
 * SIGPIPE on a NOSIGPIPE stream. A socket peer that closes ends it. */
static void
test_drain(void)
{
	int p[2];
	mkpipe(p);
	struct ipk__stream w, r;
	ipk__stream_init(&w, -1, p[1], 1 << 20);
	w.flags = IPK__STREAM_NOSIGPIPE;
	ipk__stream_init(&r, p[0], -1, 1 << 20);
	T_OK(ipk__stream_send(&w, "abc", 3, 0, dl(1000)));
	T_ERR(ipk__stream_drain(&w, dl(30)), -ETIMEDOUT);
	char buf[16];
	size_t len;
	uint32_t t;
	T_OK(ipk__stream_recv(&r, buf, sizeof(buf), &len, &t, dl(1000)));
	T_OK(ipk__stream_drain(&w, dl(1000)));
	T_OK(ipk__stream_send(&w, "abc", 3, 0, dl(1000)));
	close(p[0]);
	T_ERR(ipk__stream_drain(&w, dl(1000)), IPK_ECLOSED);
	sigset_t pend;
	T_ERR(ipk__stream_send(&w, "abc", 3, 0, dl(1000)), IPK_ECLOSED);
	sigemptyset(&pend);
	T_ASSERT(sigpending(&pend) == 0 && !sigismember(&pend, SIGPIPE));
	ipk__stream_fini(&w);
	ipk__stream_fini(&r);
	close(p[1]);

	int sv[2];
	spair(sv);
	ipk__stream_init(&w, sv[0], sv[0], 1 << 20);
	w.flags = IPK__STREAM_SOCK;
	T_OK(ipk__stream_send(&w, "abc", 3, 0, dl(1000)));
	T_ERR(ipk__stream_drain(&w, dl(30)), -ETIMEDOUT);
	char all[64];
	T_EQ(read(sv[1], all, sizeof(all)), IPK__FRAME_HDR + 3);
	T_ASSERT(read(sv[1], all, sizeof(all)) == 0); /* our EOF */
	close(sv[1]);
	T_OK(ipk__stream_drain(&w, dl(1000)));
	ipk__stream_fini(&w);
	close(sv[0]);
}

int
main(void)
{
	t_watchdog(30);
	test_encode();
	test_roundtrip();
	test_garbage();
	test_oversize();
	test_torn();
	test_stall();
	test_alive();
	test_lines();
	test_raw();
	test_hello();
	test_hello_peer();
	test_drain();
	printf("PASS frame\n");
	return T_PASS;
}
