/* SPDX-License-Identifier: MIT */
/*
 * nng_test.c - nng+tcp/nng+ipc against an independent SP implementation,
 * nanomsg's `nanocat` (both directions, both transports), and against raw
 * sockets that send a wrong handshake, a monstrous length or a bad SP
 * message header.
 * `nng_test CASE` runs one case; no argument runs them all. The nanocat
 * cases skip (77) when nanocat is not installed.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>

#include "../test.h"

extern char **environ;

static pid_t child;
static char path[256];

static void
cleanup(void)
{
	if (child > 0)
		kill(child, SIGKILL), waitpid(child, NULL, 0);
	child = 0;
	if (path[0])
		unlink(path);
}

static int
have_nanocat(void)
{
	return access("/usr/bin/nanocat", X_OK) == 0 ||
	    system("command -v nanocat >/dev/null 2>&1") == 0;
}

/* Start nanocat with argv; its stdout into *out_fd when out_fd != NULL. */
static void
nanocat(char *const argv[], int *out_fd)
{
	posix_spawn_file_actions_t fa;
	posix_spawn_file_actions_init(&fa);
	int p[2] = {-1, -1};
	if (out_fd) {
		T_ASSERT(pipe2(p, O_CLOEXEC) == 0);
		posix_spawn_file_actions_adddup2(&fa, p[1], 1);
	}
	int rv = posix_spawnp(&child, "nanocat", &fa, NULL, argv, environ);
	posix_spawn_file_actions_destroy(&fa);
	T_ASSERT(rv == 0);
	if (out_fd) {
		close(p[1]);
		*out_fd = p[0];
	}
}

/* A TCP port nobody uses right now. */
static unsigned
free_port(void)
{
	struct ipk_listener *l;
	T_OK(ipk_listen("tcp://127.0.0.1:0", NULL, &l));
	const char *u = ipk_listener_url(l);
	unsigned port = (unsigned)atoi(strrchr(u, ':') + 1);
	ipk_listener_close(l);
	return port;
}

static void
wait_child(void)
{
	int st;
	T_ASSERT(waitpid(child, &st, 0) == child);
	child = 0;
	T_ASSERT(WIFEXITED(st));
}

/* nanocat dials and sends; ipckit listens and receives. */
static int
from_nanocat(int ipc)
{
	if (!have_nanocat())
		T_SKIPF("nanocat not installed (Debian: nanomsg-utils)");
	char url[300], addr[300];
	if (ipc) {
		snprintf(path, sizeof(path), "/tmp/%s.nng", t_unique());
		snprintf(url, sizeof(url), "nng+ipc://%s", path);
	} else {
		snprintf(url, sizeof(url), "nng+tcp://127.0.0.1:0");
	}
	struct ipk_listener *l;
	T_OK(ipk_listen(url, NULL, &l));
	snprintf(addr, sizeof(addr), "%s", ipk_listener_url(l) + 4);
	const char *msg = "hello from nanocat \x01\x02";
	char *argv[] = {"nanocat", "--pair", "--connect", addr, "--data",
	    (char *)msg, NULL};
	nanocat(argv, NULL);
	struct ipk_chan *c;
	T_OK(ipk_accept(l, 10000, &c));
	char buf[256];
	size_t len = 0;
	uint32_t t = 99;
	T_OK(ipk_recv(c, buf, sizeof(buf), &len, &t, 10000));
	T_EQ(len, strlen(msg));
	T_ASSERT(!memcmp(buf, msg, len));
	T_EQ(t, 0);
	struct ipk_peer who;
	if (ipc) {
		T_OK(ipk_peer(c, &who));
		T_EQ(who.pid, child);
	} else {
		T_ERR(ipk_peer(c, &who), -ENOTSUP);
	}
	/* nanocat keeps its socket open after sending: ours closes first. */
	ipk_close(c);
	ipk_listener_close(l);
	cleanup();
	return T_PASS;
}

/* nanocat binds and prints; ipckit dials and sends. The channel stays open
 * until nanocat has exited (nanomsg may drop data that arrives together
 * with the connection's end). */
static int
to_nanocat(int ipc)
{
	if (!have_nanocat())
		T_SKIPF("nanocat not installed (Debian: nanomsg-utils)");
	char url[320], addr[300];
	if (ipc) {
		snprintf(path, sizeof(path), "/tmp/%s.nng", t_unique());
		snprintf(addr, sizeof(addr), "ipc://%s", path);
	} else {
		snprintf(addr, sizeof(addr), "tcp://127.0.0.1:%u", free_port());
	}
	snprintf(url, sizeof(url), "nng+%s", addr);
	char *argv[] = {"nanocat", "--pair", "--bind", addr, "--raw",
	    "--recv-timeout", "2", NULL};
	int out;
	nanocat(argv, &out);
	struct ipk_chan *c;
	struct ipk_opts o = {.timeout_ms = 10000};
	T_OK(ipk_dial(url, &o, &c));
	const char *msg = "hello from ipckit";
	T_OK(ipk_send(c, msg, strlen(msg), 0, 10000));
	char buf[256];
	size_t got = 0;
	int64_t t0 = t_now_ns();
	for (;;) {
		struct pollfd p = {.fd = out, .events = POLLIN};
		T_ASSERT(t_ms_since(t0) < 15000.0);
		if (poll(&p, 1, 1000) <= 0)
			continue;
		ssize_t r = read(out, buf + got, sizeof(buf) - 1 - got);
		if (r <= 0)
			break;
		got += (size_t)r;
	}
	close(out);
	wait_child();
	ipk_close(c);
	buf[got] = '\0';
	if (strcmp(buf, msg) != 0)
		T_FAILF("nanocat printed '%s', expected '%s'", buf, msg);
	return T_PASS;
}

/* A raw TCP client: connect to `url`'s port and write `n` bytes. */
static int
raw_connect(const char *url, const void *bytes, size_t n)
{
	unsigned port = (unsigned)atoi(strrchr(url, ':') + 1);
	int s = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	T_ASSERT(s >= 0);
	struct sockaddr_in a = {.sin_family = AF_INET,
	    .sin_port = htons((uint16_t)port),
	    .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	T_ASSERT(connect(s, (struct sockaddr *)&a, sizeof(a)) == 0);
	T_ASSERT(write(s, bytes, n) == (ssize_t)n);
	return s;
}

static void
expect_refused(const void *bytes, size_t n, const char *why)
{
	struct ipk_listener *l;
	T_OK(ipk_listen("nng+tcp://127.0.0.1:0", NULL, &l));
	int s = raw_connect(ipk_listener_url(l), bytes, n);
	struct ipk_chan *c = (void *)1;
	int rv = ipk_accept(l, 10000, &c);
	T_ERR(rv, -EPROTO);
	T_ASSERT(c == NULL);
	fprintf(stderr, "refused: %s\n", ipk_strerror(rv));
	if (!strstr(ipk_strerror(rv), why))
		T_FAILF("error '%s' does not say '%s'", ipk_strerror(rv), why);
	close(s);
	ipk_listener_close(l);
}

static int
case_garbage(void)
{
	expect_refused("GET / HTTP/1.0\r\n\r\n", 18, "not an SP");
	expect_refused("\0SP\0\0\x31\0\0", 8, "rep");
	expect_refused("\0SP\0\0\x10\0\x07", 8, "reserved");
	expect_refused("\0SP\x01\0\x10\0\0", 8, "not an SP");
	return T_PASS;
}

/* A dialer that connects and hangs up half-way through its SP header is
 * skipped: ipk_accept returns the next, real dialer's channel. */
static int
case_deadhello(void)
{
	struct ipk_listener *l;
	struct ipk_chan *c, *c2;
	T_OK(ipk_listen("nng+tcp://127.0.0.1:0", NULL, &l));
	close(raw_connect(ipk_listener_url(l), "\0SP", 3));
	close(raw_connect(ipk_listener_url(l), "", 0));
	pid_t p = t_fork();
	if (p == 0) {
		struct ipk_opts o = {.timeout_ms = 5000};
		struct ipk_chan *d;
		T_OK(ipk_dial(ipk_listener_url(l), &o, &d));
		T_OK(ipk_send(d, "hi", 2, 0, 5000));
		ipk_close(d);
		_exit(0);
	}
	T_OK(ipk_accept(l, 10000, &c));
	char buf[8];
	size_t len;
	T_OK(ipk_recv(c, buf, sizeof(buf), &len, NULL, 5000));
	T_ASSERT(len == 2 && !memcmp(buf, "hi", 2));
	t_reap(p);
	/* Only dead dialers waiting: the accept times out, never "closed". */
	close(raw_connect(ipk_listener_url(l), "", 0));
	T_ERR(ipk_accept(l, 200, &c2), -ETIMEDOUT);
	ipk_close(c);
	ipk_listener_close(l);
	return T_PASS;
}

struct rawsrv {
	int lfd;
	unsigned char hdr[8];
};

static void *
rawsrv_main(void *arg)
{
	struct rawsrv *r = arg;
	int s = accept4(r->lfd, NULL, NULL, SOCK_CLOEXEC);
	if (s >= 0) {
		char tmp[8];
		if (write(s, r->hdr, 8) == 8 && read(s, tmp, sizeof(tmp)) < 0)
			perror("read");
		close(s);
	}
	return NULL;
}

/* The dialing side refuses a listener that speaks another protocol. */
static int
case_dialgarbage(void)
{
	struct rawsrv r = {.hdr = {0, 'S', 'P', 0, 0x00, 0x21, 0, 0}};
	r.lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	struct sockaddr_in a = {
	    .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	socklen_t al = sizeof(a);
	T_ASSERT(bind(r.lfd, (struct sockaddr *)&a, sizeof(a)) == 0);
	T_ASSERT(listen(r.lfd, 4) == 0);
	T_ASSERT(getsockname(r.lfd, (struct sockaddr *)&a, &al) == 0);
	pthread_t th;
	T_ASSERT(pthread_create(&th, NULL, rawsrv_main, &r) == 0);
	char url[64];
	snprintf(url, sizeof(url), "nng+tcp://127.0.0.1:%u", ntohs(a.sin_port));
	struct ipk_chan *c = (void *)1;
	struct ipk_opts o = {.timeout_ms = 5000};
	int rv = ipk_dial(url, &o, &c);
	T_ERR(rv, -EPROTO);
	T_ASSERT(c == NULL);
	fprintf(stderr, "refused: %s\n", ipk_strerror(rv));
	T_ASSERT(strstr(ipk_strerror(rv), "sub") != NULL);
	pthread_join(th, NULL);
	close(r.lfd);
	return T_PASS;
}

/* A peer announcing 1 TiB gets -EMSGSIZE without an allocation, a length
 * beyond any sane message -EBADMSG; its departure is then IPK_ECLOSED. */
static int
case_hugelen(void)
{
	struct ipk_listener *l;
	T_OK(ipk_listen("nng+tcp://127.0.0.1:0", NULL, &l));
	unsigned char b[16] = {
	    0, 'S', 'P', 0, 0, 0x10, 0, 0, 0, 0, 0x01, 0, 0, 0, 0, 0};
	int s = raw_connect(ipk_listener_url(l), b, sizeof(b));
	struct ipk_chan *c;
	T_OK(ipk_accept(l, 10000, &c));
	char buf[64];
	size_t len = 0;
	uint32_t t;
	T_ERR(ipk_recv(c, buf, sizeof(buf), &len, &t, 10000), -EMSGSIZE);
	fprintf(stderr, "huge: %s\n", ipk_strerror(-EMSGSIZE));
	close(s);
	T_ERR(ipk_recv(c, buf, sizeof(buf), &len, &t, 10000), IPK_ECLOSED);
	ipk_close(c);

	unsigned char g[16] = {0, 'S', 'P', 0, 0, 0x10, 0, 0, 0xff, 0xff, 0xff,
	    0xff, 0xff, 0xff, 0xff, 0xff};
	s = raw_connect(ipk_listener_url(l), g, sizeof(g));
	T_OK(ipk_accept(l, 10000, &c));
	T_ERR(ipk_recv(c, buf, sizeof(buf), &len, &t, 10000), -EBADMSG);
	close(s);
	ipk_close(c);
	ipk_listener_close(l);
	return T_PASS;
}

/* pair1: the hop count is removed on receipt; one over 255 is garbage. */
static int
case_pair1hop(void)
{
	struct ipk_listener *l;
	T_OK(ipk_listen("nng+tcp://127.0.0.1:0?proto=pair1", NULL, &l));
	unsigned char b[8 + 2 * 13] = {0, 'S', 'P', 0, 0, 0x11, 0, 0, 0, 0, 0,
	    0, 0, 0, 0, 5, 0, 0, 0, 1, 'x', 0, 0, 0, 0, 0, 0, 0, 5, 0, 0, 1, 0,
	    'y'};
	char url[300];
	snprintf(url, sizeof(url), "%s", ipk_listener_url(l));
	*strchr(url, '?') = '\0';
	int s = raw_connect(url, b, sizeof(b));
	struct ipk_chan *c;
	T_OK(ipk_accept(l, 10000, &c));
	char buf[16];
	size_t len = 0;
	uint32_t t;
	T_OK(ipk_recv(c, buf, sizeof(buf), &len, &t, 10000));
	T_EQ(len, 1);
	T_EQ(buf[0], 'x');
	int rv = ipk_recv(c, buf, sizeof(buf), &len, &t, 10000);
	T_ERR(rv, -EBADMSG);
	fprintf(stderr, "hop 256: %s\n", ipk_strerror(rv));
	/* What we send carries hop count 1 after the length. */
	T_OK(ipk_send(c, "z", 1, 0, 10000));
	unsigned char in[8 + 13];
	size_t got = 0;
	while (got < sizeof(in)) {
		ssize_t r = read(s, in + got, sizeof(in) - got);
		T_ASSERT(r > 0);
		got += (size_t)r;
	}
	static const unsigned char want[8 + 13] = {0, 'S', 'P', 0, 0, 0x11, 0,
	    0, 0, 0, 0, 0, 0, 0, 0, 5, 0, 0, 0, 1, 'z'};
	T_ASSERT(!memcmp(in, want, sizeof(want)));
	close(s);
	ipk_close(c);
	ipk_listener_close(l);
	return T_PASS;
}

/* The SP framing's header checks, one frame each on a fresh connection
 * (the first refused makes the stream garbage): over IPC the type byte
 * must be 0x01; pair1's length covers its 4-byte hop word. */
static int
sp_frame(int ipc, int pair1, const unsigned char *frame, size_t n, size_t *len)
{
	unsigned char hello[8] = {0, 'S', 'P', 0, 0, pair1 ? 0x11 : 0x10, 0, 0};
	unsigned char b[8 + 32];
	T_ASSERT(n <= sizeof(b) - 8);
	memcpy(b, hello, 8);
	memcpy(b + 8, frame, n);
	char url[300];
	struct ipk_listener *l;
	if (ipc) {
		snprintf(path, sizeof(path), "/tmp/%s.sp", t_unique());
		snprintf(url, sizeof(url), "nng+ipc://%s%s", path,
		    pair1 ? "?proto=pair1" : "");
	} else {
		snprintf(url, sizeof(url), "nng+tcp://127.0.0.1:0%s",
		    pair1 ? "?proto=pair1" : "");
	}
	T_OK(ipk_listen(url, NULL, &l));
	int s;
	if (ipc) {
		struct sockaddr_un a = {.sun_family = AF_UNIX};
		T_ASSERT(strlen(path) < sizeof(a.sun_path));
		memcpy(a.sun_path, path, strlen(path) + 1);
		s = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
		T_ASSERT(s >= 0);
		T_ASSERT(connect(s, (struct sockaddr *)&a, sizeof(a)) == 0);
		T_ASSERT(write(s, b, 8 + n) == (ssize_t)(8 + n));
	} else {
		snprintf(url, sizeof(url), "%s", ipk_listener_url(l));
		if (strchr(url, '?'))
			*strchr(url, '?') = '\0';
		s = raw_connect(url, b, 8 + n);
	}
	struct ipk_chan *c;
	T_OK(ipk_accept(l, 10000, &c));
	char buf[32];
	uint32_t t;
	int rv = ipk_recv(c, buf, sizeof(buf), len, &t, 10000);
	if (rv == 0)
		T_ASSERT(*len <= n && !memcmp(buf, frame + n - *len, *len));
	else
		fprintf(stderr, "%s\n", ipk_strerror(rv));
	close(s);
	ipk_close(c);
	ipk_listener_close(l);
	return rv;
}

static int
case_spheader(void)
{
	size_t len;
	const unsigned char ipc_ok[] = {1, 0, 0, 0, 0, 0, 0, 0, 2, 'h', 'i'};
	const unsigned char ipc_bad[] = {2, 0, 0, 0, 0, 0, 0, 0, 2, 'h', 'i'};
	T_OK(sp_frame(1, 0, ipc_ok, sizeof(ipc_ok), &len));
	T_EQ(len, 2);
	T_ERR(sp_frame(1, 0, ipc_bad, sizeof(ipc_bad), &len), -EBADMSG);
	const unsigned char hop_ok[] = {
	    0, 0, 0, 0, 0, 0, 0, 6, 0, 0, 0, 1, 'h', 'i'};
	const unsigned char hop_short[] = {
	    0, 0, 0, 0, 0, 0, 0, 2, 0, 0, 0, 1, 'h', 'i'};
	const unsigned char ipc_hop_short[] = {
	    1, 0, 0, 0, 0, 0, 0, 0, 2, 0, 0, 0, 1, 'h', 'i'};
	T_OK(sp_frame(0, 1, hop_ok, sizeof(hop_ok), &len));
	T_EQ(len, 2);
	T_ERR(sp_frame(0, 1, hop_short, sizeof(hop_short), &len), -EBADMSG);
	T_ERR(sp_frame(1, 1, ipc_hop_short, sizeof(ipc_hop_short), &len),
	    -EBADMSG);
	return T_PASS;
}

static int
case_from_nanocat_tcp(void)
{
	return from_nanocat(0);
}
static int
case_from_nanocat_ipc(void)
{
	return from_nanocat(1);
}
static int
case_to_nanocat_tcp(void)
{
	return to_nanocat(0);
}
static int
case_to_nanocat_ipc(void)
{
	return to_nanocat(1);
}

static const struct {
	const char *name;
	int (*fn)(void);
} cases[] = {
    {"garbage", case_garbage},
    {"deadhello", case_deadhello},
    {"dialgarbage", case_dialgarbage},
    {"hugelen", case_hugelen},
    {"pair1hop", case_pair1hop},
    {"spheader", case_spheader},
    {"from_nanocat_tcp", case_from_nanocat_tcp},
    {"from_nanocat_ipc", case_from_nanocat_ipc},
    {"to_nanocat_tcp", case_to_nanocat_tcp},
    {"to_nanocat_ipc", case_to_nanocat_ipc},
};

int
main(int argc, char **argv)
{
	t_watchdog(100);
	t_cleanup_hook = cleanup;
	int skipped = 0;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		if (argc > 1 && strcmp(argv[1], cases[i].name) != 0)
			continue;
		if (argc == 1) {
			/* One process per case, so a skip skips only it. */
			pid_t p = fork();
			T_ASSERT(p >= 0);
			if (p == 0)
				_exit(cases[i].fn());
			int st;
			T_ASSERT(waitpid(p, &st, 0) == p);
			T_ASSERT(WIFEXITED(st));
			if (WEXITSTATUS(st) == T_SKIP) {
				skipped++;
				continue;
			}
			if (WEXITSTATUS(st) != 0)
				T_FAILF("case %s failed", cases[i].name);
			printf("PASS nng %s\n", cases[i].name);
			continue;
		}
		int rv = cases[i].fn();
		cleanup();
		return rv;
	}
	if (skipped)
		printf("%d case(s) skipped (see above)\n", skipped);
	return T_PASS;
}
