/* SPDX-License-Identifier: MIT */
/*
 * libnng_test.c - ipckit's nng+tcp and nng+ipc against the real nng
 * library (built only when CMake finds libnng). A forked child opens an
 * nng pair0 socket and echoes every message back; this process sends
 * messages of many sizes (up to 1 MiB, every byte checked) and reads the
 * echoes. Over TCP ipckit listens and nng dials; over IPC nng listens and
 * ipckit dials; then PAIR v1 (?proto=pair1) over TCP, and a protocol
 * mismatch (pair0 against pair1) refused on both sides.
 */
#include <nng/nng.h>
#include <nng/protocol/pair0/pair.h>
#include <nng/protocol/pair1/pair.h>
#include <sys/wait.h>

#include "../test.h"

#define N_MSGS 2000
#define BIG (1u << 20)

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

/* The nng side: echo until an empty message, then exit 0. */
static int
echo_main(const char *url, int listen, int pair1)
{
	nng_socket s;
	if ((pair1 ? nng_pair1_open(&s) : nng_pair0_open(&s)) != 0)
		return 1;
	nng_socket_set_size(s, NNG_OPT_RECVMAXSZ, 4 * BIG);
	nng_socket_set_ms(s, NNG_OPT_RECVTIMEO, 20000);
	nng_socket_set_ms(s, NNG_OPT_SENDTIMEO, 20000);
	int rv =
	    listen ? nng_listen(s, url, NULL, 0) : nng_dial(s, url, NULL, 0);
	if (rv != 0) {
		fprintf(stderr, "nng %s %s: %s\n", listen ? "listen" : "dial",
		    url, nng_strerror(rv));
		return 1;
	}
	for (;;) {
		void *buf;
		size_t n;
		if ((rv = nng_recv(s, &buf, &n, NNG_FLAG_ALLOC)) != 0) {
			fprintf(stderr, "nng recv: %s\n", nng_strerror(rv));
			return 1;
		}
		if (n == 0) {
			nng_free(buf, n);
			break;
		}
		if ((rv = nng_send(s, buf, n, NNG_FLAG_ALLOC)) != 0) {
			fprintf(stderr, "nng send: %s\n", nng_strerror(rv));
			return 1;
		}
	}
	/* Every echo was received before the empty message was sent. */
	nng_close(s);
	return 0;
}

static size_t
msg_len(uint64_t i)
{
	if (i % 500 == 7)
		return BIG;
	return 1 + (size_t)((i * 7919) % 5000);
}

static void
run_echo(struct ipk_chan *c, uint64_t seed)
{
	unsigned char *out = malloc(BIG), *in = malloc(BIG);
	T_ASSERT(out && in);
	for (uint64_t i = 0; i < N_MSGS; i++) {
		size_t n = msg_len(i);
		t_fill(out, n, seed, i);
		T_OK(ipk_send(c, out, n, 0, 20000));
		size_t len = 0;
		uint32_t t = 1;
		T_OK(ipk_recv(c, in, BIG, &len, &t, 20000));
		T_EQ(len, n);
		T_EQ(t, 0);
		if (!t_check(in, len, seed, i))
			T_FAILF("echo #%llu corrupted", (unsigned long long)i);
	}
	T_OK(ipk_send(c, "", 0, 0, 20000));
	free(out);
	free(in);
}

static void
wait_child(void)
{
	int st;
	T_ASSERT(waitpid(child, &st, 0) == child);
	child = 0;
	T_ASSERT(WIFEXITED(st));
	T_EQ(WEXITSTATUS(st), 0);
}

int
main(void)
{
	t_watchdog(100);
	t_cleanup_hook = cleanup;
	uint64_t seed = t_seed();

	/* TCP: ipckit listens, nng dials. */
	struct ipk_listener *l;
	T_OK(ipk_listen("nng+tcp://127.0.0.1:0", NULL, &l));
	char url[300];
	snprintf(url, sizeof(url), "%s", ipk_listener_url(l) + 4);
	child = fork();
	T_ASSERT(child >= 0);
	if (child == 0)
		_exit(echo_main(url, 0, 0));
	struct ipk_chan *c;
	T_OK(ipk_accept(l, 20000, &c));
	int64_t t0 = t_now_ns();
	run_echo(c, seed);
	fprintf(stderr, "tcp: %d echoes from libnng in %.0f ms\n", N_MSGS,
	    t_ms_since(t0));
	wait_child();
	ipk_close(c);
	ipk_listener_close(l);

	/* IPC: nng listens, ipckit dials. */
	snprintf(path, sizeof(path), "/tmp/%s.nng", t_unique());
	snprintf(url, sizeof(url), "ipc://%s", path);
	child = fork();
	T_ASSERT(child >= 0);
	if (child == 0)
		_exit(echo_main(url, 1, 0));
	char iurl[320];
	snprintf(iurl, sizeof(iurl), "nng+%s", url);
	struct ipk_opts o = {.timeout_ms = 20000};
	T_OK(ipk_dial(iurl, &o, &c));
	t0 = t_now_ns();
	run_echo(c, seed + 1);
	fprintf(stderr, "ipc: %d echoes from libnng in %.0f ms\n", N_MSGS,
	    t_ms_since(t0));
	wait_child();
	ipk_close(c);

	/* PAIR v1 over TCP: ipckit listens, nng dials. */
	T_OK(ipk_listen("nng+tcp://127.0.0.1:0?proto=pair1", NULL, &l));
	snprintf(url, sizeof(url), "%s", ipk_listener_url(l) + 4);
	*strchr(url, '?') = '\0';
	child = fork();
	T_ASSERT(child >= 0);
	if (child == 0)
		_exit(echo_main(url, 0, 1));
	T_OK(ipk_accept(l, 20000, &c));
	run_echo(c, seed + 2);
	wait_child();
	ipk_close(c);
	ipk_listener_close(l);

	/* pair0 here, pair1 there: refused with a sentence naming both. */
	T_OK(ipk_listen("nng+tcp://127.0.0.1:0", NULL, &l));
	snprintf(url, sizeof(url), "%s", ipk_listener_url(l) + 4);
	child = fork();
	T_ASSERT(child >= 0);
	if (child == 0) {
		nng_socket s;
		if (nng_pair1_open(&s) != 0)
			_exit(1);
		/* nng refuses the pipe too: its dial fails or the pipe
		 * closes; either way it exits when we do. */
		(void)nng_dial(s, url, NULL, 0);
		char *m;
		size_t n;
		nng_socket_set_ms(s, NNG_OPT_RECVTIMEO, 500);
		(void)nng_recv(s, &m, &n, NNG_FLAG_ALLOC);
		_exit(0);
	}
	int rv = ipk_accept(l, 20000, &c);
	T_ERR(rv, -EPROTO);
	fprintf(stderr, "mismatch: %s\n", ipk_strerror(rv));
	T_ASSERT(strstr(ipk_strerror(rv), "pair1") != NULL);
	wait_child();
	ipk_listener_close(l);
	cleanup();
	printf("PASS libnng interop (tcp, ipc, pair1, mismatch)\n");
	return T_PASS;
}
