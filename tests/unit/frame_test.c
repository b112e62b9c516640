/* SPDX-License-Identifier: MIT */
/*
 * frame_test.c - the stream framing codec over real pipes and sockets:
 * round trips, garbage, oversized and absurd lengths, torn frames, stalled
 * sends, and receives that time out in the middle of a payload.
 */
#include <fcntl.h>
#include <sys/socket.h>

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
	printf("PASS frame\n");
	return T_PASS;
}
