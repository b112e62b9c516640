/* SPDX-License-Identifier: MIT */
/*
 * hostile_test.c - peers that are not ipckit. Against a unix and a tcp
 * listener and a fifo channel (there the peer dials for real, then writes
 * raw bytes into the FIFO): stream garbage (header lengths 0, 2^31,
 * 2^32-1, 2^63, 2^64-1, a truncated frame, 1 MiB of random bytes, a
 * slowloris writing one byte every 10 ms while the listener serves another
 * client); over unix, a peer that stuffs 253 descriptors into each of 100
 * messages. Each hostile peer is a separate process. The receiver must
 * answer with a message, a protocol or size error, "closed", or a timeout
 * within its timeout; its memory must not grow by more than the message
 * limit plus slack; and no descriptor may arrive.
 */
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>

#include "../test.h"

#define MAXMSG (1u << 20)
#define NSTUFF 253
#define NSTUFFMSG 100

static pid_t kids[8];
static int nkids;

static void
cleanup(void)
{
	for (int i = 0; i < nkids; i++)
		if (kids[i] > 0) {
			kill(kids[i], SIGKILL);
			waitpid(kids[i], NULL, 0);
		}
	nkids = 0;
	char cmd[256];
	snprintf(cmd, sizeof(cmd), "rm -rf /tmp/%s*", t_unique());
	if (system(cmd) != 0)
		fprintf(stderr, "cleanup: '%s' failed\n", cmd);
}

static pid_t
fork_kid(void)
{
	pid_t pid = fork();
	T_ASSERT(pid >= 0);
	if (pid > 0)
		kids[nkids++] = pid;
	return pid;
}

static void
reap_all(void)
{
	for (int i = 0; i < nkids; i++) {
		int st;
		T_ASSERT(waitpid(kids[i], &st, 0) == kids[i]);
		if (!WIFEXITED(st) || WEXITSTATUS(st) != 0)
			T_FAILF("hostile peer %d ended with status 0x%x",
			    (int)kids[i], st);
	}
	nkids = 0;
}

static size_t
rss_bytes(void)
{
	long pages = 0, res = 0;
	FILE *f = fopen("/proc/self/statm", "r");
	T_ASSERT(f);
	T_ASSERT(fscanf(f, "%ld %ld", &pages, &res) == 2);
	fclose(f);
	return (size_t)res * (size_t)sysconf(_SC_PAGESIZE);
}

/* --- the hostile side (child processes, raw sockets) --------------------- */

static struct ipk_chan *fifo_session;

/* fifo: dial for real (the session handshake), send one good message,
 * then write raw bytes into the dialer-to-listener FIFO directly. */
static int
raw_fifo(const char *url)
{
	struct ipk_opts o = {.timeout_ms = 2000};
	if (ipk_dial(url, &o, &fifo_session) < 0 ||
	    ipk_send(fifo_session, "hello", 5, 0, 2000) < 0)
		_exit(11);
	int fd = open(url + 7, O_WRONLY | O_NONBLOCK | O_CLOEXEC);
	if (fd < 0)
		_exit(12);
	return fd;
}

static int
raw_connect(const char *url)
{
	int fd;
	if (!strncmp(url, "fifo://", 7))
		return raw_fifo(url);
	if (!strncmp(url, "unix://", 7)) {
		struct sockaddr_un a = {.sun_family = AF_UNIX};
		snprintf(a.sun_path, sizeof(a.sun_path), "%s", url + 7);
		fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
		if (fd < 0 || connect(fd, (void *)&a, sizeof(a)) < 0)
			_exit(10);
	} else {
		const char *p = strrchr(url, ':');
		struct sockaddr_in a = {.sin_family = AF_INET,
		    .sin_port = htons((uint16_t)atoi(p + 1)),
		    .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
		fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
		if (fd < 0 || connect(fd, (void *)&a, sizeof(a)) < 0)
			_exit(10);
	}
	return fd;
}

static void
put_hdr(unsigned char *h, uint64_t len)
{
	memcpy(h, "IPK1", 4); /* magic 0x314b5049 little-endian */
	memset(h + 4, 0, 4); /* type 0 */
	for (int i = 0; i < 8; i++)
		h[8 + i] = (unsigned char)(len >> (8 * i));
}

static void
raw_send(int fd, const void *p, size_t n)
{
	/* A receiver that gave up closes: EPIPE/ECONNRESET end us quietly. */
	while (n) {
		ssize_t w = fifo_session ? write(fd, p, n)
					 : send(fd, p, n, MSG_NOSIGNAL);
		if (w < 0 && errno == EAGAIN) {
			/* Our own guard keeps a reader on the FIFO: a full
			 * FIFO nobody drains for 500 ms means it gave up. */
			struct pollfd pf = {fd, POLLOUT, 0};
			if (poll(&pf, 1, 500) == 1)
				continue;
		}
		if (w <= 0)
			return;
		p = (const char *)p + w;
		n -= (size_t)w;
	}
}

enum {
	G_LEN0,
	G_LEN31,
	G_LEN32,
	G_LEN63,
	G_LEN64,
	G_TRUNC,
	G_RANDOM,
	G_SLOW,
	G_COUNT
};
static const char *const g_name[G_COUNT] = {"length 0", "length 2^31",
    "length 2^32-1", "length 2^63", "length 2^64-1", "truncated frame",
    "1 MiB random", "slowloris"};

static void
hostile(const char *url, int kind)
{
	static const uint64_t lens[] = {
	    0, 1ull << 31, 0xffffffffull, 1ull << 63, ~0ull};
	unsigned char h[16 + 16];
	int fd = raw_connect(url);
	switch (kind) {
	case G_LEN0:
	case G_LEN31:
	case G_LEN32:
	case G_LEN63:
	case G_LEN64:
		put_hdr(h, lens[kind]);
		raw_send(fd, h, 16);
		break;
	case G_TRUNC:
		put_hdr(h, 100);
		memset(h + 16, 'x', 10);
		raw_send(fd, h, 26);
		break;
	case G_RANDOM: {
		unsigned char *b = malloc(1 << 20);
		uint64_t s = t_seed() | 1;
		for (size_t i = 0; i < (1u << 20); i++)
			b[i] = (unsigned char)t_rand(&s);
		b[0] = 'X'; /* never the magic */
		raw_send(fd, b, 1u << 20);
		free(b);
		break;
	}
	case G_SLOW:
		/* A 14-byte message, one byte per 10 ms: 300 ms. */
		put_hdr(h, 14);
		memcpy(h + 16, "slow but valid", 14);
		for (int i = 0; i < 30; i++) {
			struct timespec ts = {0, 10000000};
			raw_send(fd, h + i, 1);
			nanosleep(&ts, NULL); /* the attack's pace */
		}
		break;
	}
	close(fd);
	_exit(0);
}

/* A well-behaved ipckit client: one request, one reply. */
static void
good_client(const char *url)
{
	struct ipk_chan *c;
	struct ipk_opts o = {.timeout_ms = 2000};
	char buf[16];
	size_t len;
	if (ipk_dial(url, &o, &c) < 0 || ipk_send(c, "good", 4, 0, 2000) < 0 ||
	    ipk_recv(c, buf, sizeof(buf), &len, NULL, 2000) < 0 || len != 3 ||
	    memcmp(buf, "ack", 3))
		_exit(20);
	ipk_close(c);
	_exit(0);
}

/* --- the receiving side --------------------------------------------------- */

static void
serve_good(struct ipk_listener *l)
{
	struct ipk_chan *c;
	char buf[16];
	size_t len;
	T_OK(ipk_accept(l, 2000, &c));
	T_OK(ipk_recv(c, buf, sizeof(buf), &len, NULL, 2000));
	T_ASSERT(len == 4 && !memcmp(buf, "good", 4));
	T_OK(ipk_send(c, "ack", 3, 0, 2000));
	T_OK(ipk_close(c));
}

/* Receive until an end; check each result is allowed for `kind`. */
static void
garbage_case(struct ipk_listener *l, const char *url, int kind)
{
	static unsigned char buf[MAXMSG];
	struct ipk_chan *c;
	size_t rss0 = rss_bytes();
	if (fork_kid() == 0)
		hostile(url, kind);
	T_OK(ipk_accept(l, 2000, &c));
	int fifo = !strncmp(url, "fifo://", 7);
	if (fifo) {
		size_t len;
		T_OK(ipk_recv(c, buf, sizeof(buf), &len, NULL, 2000));
		T_ASSERT(len == 5 && !memcmp(buf, "hello", 5));
	}
	int msgs = 0, timeouts = 0, served = 0, toobig = 0, rv = 0;
	for (int i = 0; i < 200; i++) {
		size_t len = 0;
		int tmo = kind == G_SLOW ? 50 : 2000;
		int64_t t0 = t_now_ns();
		rv = ipk_recv(c, buf, sizeof(buf), &len, NULL, tmo);
		double ms = t_ms_since(t0);
		if (ms > tmo + 1000)
			T_FAILF("%s %s: recv took %.0f ms with a %d ms "
				"timeout",
			    url, g_name[kind], ms, tmo);
		if (rv == 0) {
			msgs++;
			if (kind == G_LEN0)
				T_ASSERT(len == 0);
			else if (kind == G_SLOW)
				T_ASSERT(len == 14 &&
				    !memcmp(buf, "slow but valid", 14));
			else
				T_FAILF("%s %s: a message of %zu bytes came "
					"out of garbage",
				    url, g_name[kind], len);
			continue;
		}
		if (rv == -ETIMEDOUT && kind == G_SLOW) {
			timeouts++;
			if (!served && !fifo) {
				/* The listener still serves others. */
				if (fork_kid() == 0)
					good_client(url);
				serve_good(l);
				served = 1;
			}
			continue;
		}
		if (rv == -EMSGSIZE && (kind == G_LEN31 || kind == G_LEN32)) {
			toobig++;
			continue; /* skipped; the stream stays usable */
		}
		break;
	}
	int ok_end = rv == IPK_ECLOSED ||
	    (rv == -EBADMSG && kind != G_LEN0 && kind != G_SLOW);
	if (kind == G_LEN63 || kind == G_LEN64 || kind == G_RANDOM)
		ok_end = rv == -EBADMSG;
	if (!ok_end)
		T_FAILF("%s %s: ended with %d %s: %s", url, g_name[kind], rv,
		    ipk_errname(rv), ipk_strerror(rv));
	if (kind == G_LEN0 || kind == G_SLOW)
		T_EQ(msgs, 1);
	if (kind == G_LEN31 || kind == G_LEN32)
		T_EQ(toobig, 1); /* named as too big before "closed" */
	if (kind == G_SLOW) {
		T_ASSERT(timeouts >= 2);
		T_ASSERT(served || fifo);
	}
	T_OK(ipk_close(c));
	reap_all();
	size_t rss1 = rss_bytes();
	size_t slack = 4u << 20; /* allocator and sanitizer bookkeeping */
	if (rss1 > rss0 + MAXMSG + (64u << 10) + slack)
		T_FAILF("%s %s: resident memory grew by %zu KiB", url,
		    g_name[kind], (rss1 - rss0) >> 10);
	printf("%-40s %-16s -> %s, rss %+ld KiB\n", url, g_name[kind],
	    ipk_errname(rv), ((long)rss1 - (long)rss0) / 1024);
}

/* --- descriptor stuffing -------------------------------------------------- */

static void
stuffer(const char *url)
{
	int fds[NSTUFF];
	for (int i = 0; i < NSTUFF; i++)
		if ((fds[i] = open("/dev/null", O_RDONLY | O_CLOEXEC)) < 0)
			_exit(30);
	int s = raw_connect(url);
	for (int m = 0; m < NSTUFFMSG; m++) {
		unsigned char frame[16 + 8];
		put_hdr(frame, 8);
		memcpy(frame + 16, &m, sizeof(m));
		memset(frame + 16 + sizeof(m), 0, 8 - sizeof(m));
		union {
			char buf[CMSG_SPACE(sizeof(fds))];
			struct cmsghdr align;
		} u;
		struct iovec iov = {frame, sizeof(frame)};
		struct msghdr mh = {.msg_iov = &iov,
		    .msg_iovlen = 1,
		    .msg_control = u.buf,
		    .msg_controllen = sizeof(u.buf)};
		struct cmsghdr *cm = CMSG_FIRSTHDR(&mh);
		cm->cmsg_level = SOL_SOCKET;
		cm->cmsg_type = SCM_RIGHTS;
		cm->cmsg_len = CMSG_LEN(sizeof(fds));
		memcpy(CMSG_DATA(cm), fds, sizeof(fds));
		if (sendmsg(s, &mh, MSG_NOSIGNAL) != (ssize_t)sizeof(frame))
			_exit(31);
	}
	close(s);
	_exit(0);
}

static void
stuffing_case(struct ipk_listener *l, const char *url)
{
	struct ipk_chan *c;
	char buf[16];
	size_t len;
	int before = t_count_fds();
	if (fork_kid() == 0)
		stuffer(url);
	T_OK(ipk_accept(l, 2000, &c));
	int with_chan = t_count_fds();
	for (int m = 0; m < NSTUFFMSG; m++) {
		int got;
		T_OK(ipk_recv(c, buf, sizeof(buf), &len, NULL, 2000));
		T_ASSERT(len == 8);
		memcpy(&got, buf, sizeof(got));
		T_EQ(got, m);
	}
	T_ERR(ipk_recv(c, buf, sizeof(buf), &len, NULL, 2000), IPK_ECLOSED);
	int after = t_count_fds();
	T_OK(ipk_close(c));
	reap_all();
	if (after != with_chan || t_count_fds() != before)
		T_FAILF("descriptors: %d before, %d with the channel, %d after "
			"%d x %d stuffed, %d closed",
		    before, with_chan, after, NSTUFFMSG, NSTUFF, t_count_fds());
	printf("%-40s %d msgs x %d fds stuffed -> fd count %d, unchanged\n",
	    url, NSTUFFMSG, NSTUFF, after);
}

int
main(void)
{
	t_watchdog(120);
	t_cleanup_hook = cleanup;
	char url[2][256];
	snprintf(url[0], sizeof(url[0]), "unix:///tmp/%s.sock", t_unique());
	snprintf(url[1], sizeof(url[1]), "tcp://127.0.0.1:0");
	for (int k = 0; k < 2; k++) {
		struct ipk_listener *l;
		struct ipk_opts o = {.max_msg = MAXMSG};
		T_OK(ipk_listen(url[k], &o, &l));
		char real[256];
		snprintf(real, sizeof(real), "%s", ipk_listener_url(l));
		for (int g = 0; g < G_COUNT; g++)
			garbage_case(l, real, g);
		if (k == 0)
			stuffing_case(l, real);
		T_OK(ipk_listener_close(l));
	}
	/* fifo: one channel per listener, so a listener per case. */
	for (int g = 0; g < G_COUNT; g++) {
		struct ipk_listener *l;
		struct ipk_opts o = {.max_msg = MAXMSG};
		char fifo[256];
		snprintf(
		    fifo, sizeof(fifo), "fifo:///tmp/%s-f%d", t_unique(), g);
		T_OK(ipk_listen(fifo, &o, &l));
		garbage_case(l, fifo, g);
		T_OK(ipk_listener_close(l));
	}
	cleanup();
	return T_PASS;
}
