/* SPDX-License-Identifier: MIT */
/*
 * libnng_pattern_test.c - ipckit's patterns against the real nng library
 * (built only when CMake finds libnng): pub0/sub0, req0/rep0 and
 * push0/pull0, ipckit in each role against nng in the other, over nng+tcp
 * and nng+ipc, and each side binding in turn. nng runs its own threads,
 * so both ends live in this process; the ipckit side makes progress in
 * its calls (ipk_npeers admits a dialer).
 */
#include <nng/nng.h>
#include <nng/protocol/pipeline0/pull.h>
#include <nng/protocol/pipeline0/push.h>
#include <nng/protocol/pubsub0/pub.h>
#include <nng/protocol/pubsub0/sub.h>
#include <nng/protocol/reqrep0/rep.h>
#include <nng/protocol/reqrep0/req.h>

#include "../test.h"

static char ipk_url_s[512], nng_url_s[512], path[256];
static struct ipk_chan *ic;
static nng_socket ns;
static int ns_open;

static void
cleanup(void)
{
	ipk_close(ic);
	ic = NULL;
	if (ns_open)
		nng_close(ns);
	ns_open = 0;
	if (path[0])
		unlink(path);
}

#define N_OK(x)                                                                \
	do {                                                                   \
		int n_rv_ = (x);                                               \
		if (n_rv_ != 0)                                                \
			T_FAILF("%s: %s", #x, nng_strerror(n_rv_));            \
	} while (0)

/* Addresses for round k: an ipckit URL with the role, nng's URL. */
static void
addr(int ipc, int k, const char *role)
{
	if (ipc) {
		snprintf(path, sizeof(path), "/tmp/%s-%d.sock", t_unique(), k);
		snprintf(ipk_url_s, sizeof(ipk_url_s),
		    "nng+ipc://%s?pattern=%s", path, role);
		snprintf(nng_url_s, sizeof(nng_url_s), "ipc://%s", path);
	} else {
		int port = 20000 + (int)((t_now_ns() / 1000 + k * 7) % 12000);
		snprintf(ipk_url_s, sizeof(ipk_url_s),
		    "nng+tcp://127.0.0.1:%d?pattern=%s", port, role);
		snprintf(
		    nng_url_s, sizeof(nng_url_s), "tcp://127.0.0.1:%d", port);
	}
}

/* Connect the two ends: one binds, the other dials (waiting for it). */
static void
join(int ipk_binds)
{
	if (ipk_binds) {
		T_OK(ipk_bind(ipk_url_s, NULL, &ic));
		N_OK(nng_dial(ns, nng_url_s, NULL, NNG_FLAG_NONBLOCK));
		int64_t end = t_now_ns() + 10000000000ll;
		while (ipk_npeers(ic) < 1) {
			T_ASSERT(t_now_ns() < end);
			struct ipk_pollitem it = {ic, IPK_POLLIN, 0};
			(void)ipk_poll(&it, 1, 10);
		}
	} else {
		N_OK(nng_listen(ns, nng_url_s, NULL, 0));
		struct ipk_opts o = {.timeout_ms = 10000};
		T_OK(ipk_dial(ipk_url_s, &o, &ic));
	}
	nng_socket_set_ms(ns, NNG_OPT_RECVTIMEO, 10000);
	nng_socket_set_ms(ns, NNG_OPT_SENDTIMEO, 10000);
}

static void
done(void)
{
	ipk_close(ic);
	ic = NULL;
	nng_close(ns);
	ns_open = 0;
	if (path[0])
		unlink(path);
	path[0] = '\0';
}

static void
nng_expect(const char *want)
{
	char *buf;
	size_t n;
	N_OK(nng_recv(ns, &buf, &n, NNG_FLAG_ALLOC));
	T_ASSERT(n == strlen(want) && !memcmp(buf, want, n));
	nng_free(buf, n);
}

static void
ipk_expect(const char *want)
{
	char buf[256];
	size_t n;
	T_OK(ipk_recv(ic, buf, sizeof(buf), &n, NULL, 10000));
	T_ASSERT(n == strlen(want) && !memcmp(buf, want, n));
}

/* ipckit publishes, nng subscribes (topic "a"): only "a..." arrives. */
static void
pub_to_nng(int ipc, int k, int ipk_binds)
{
	addr(ipc, k, "pub");
	N_OK(nng_sub0_open(&ns));
	ns_open = 1;
	N_OK(nng_socket_set(ns, NNG_OPT_SUB_SUBSCRIBE, "a", 1));
	join(ipk_binds);
	if (!ipk_binds) {
		/* nng's side of the connection may still be starting: the
		 * handshake is done, nng's pipe may not be attached yet. */
		struct ipk_pollitem it = {ic, IPK_POLLOUT, 0};
		T_ASSERT(ipk_poll(&it, 1, 1000) == 1);
	}
	T_OK(ipk_send(ic, "b-no", 4, 0, 1000));
	T_OK(ipk_send(ic, "a-yes", 5, 0, 1000));
	nng_expect("a-yes");
	done();
}

/* nng publishes (until ipckit got two), ipckit subscribes. */
static void
nng_to_sub(int ipc, int k, int ipk_binds)
{
	addr(ipc, k, "sub");
	N_OK(nng_pub0_open(&ns));
	ns_open = 1;
	join(ipk_binds);
	int got = 0;
	for (int i = 0; got < 2 && i < 2000; i++) {
		N_OK(nng_send(ns, "hello", 5, 0));
		char buf[16];
		size_t n;
		int rv = ipk_recv(ic, buf, sizeof(buf), &n, NULL, 5);
		if (rv == 0) {
			T_ASSERT(n == 5 && !memcmp(buf, "hello", 5));
			got++;
		} else {
			T_ERR(rv, -ETIMEDOUT);
		}
	}
	T_EQ(got, 2);
	done();
}

/* nng asks, ipckit answers. */
static void
nng_req_ipk_rep(int ipc, int k, int ipk_binds)
{
	addr(ipc, k, "rep");
	N_OK(nng_req0_open(&ns));
	ns_open = 1;
	join(ipk_binds);
	for (int i = 0; i < 20; i++) {
		char q[32], a[40];
		snprintf(q, sizeof(q), "q%d", i);
		N_OK(nng_send(ns, q, strlen(q), 0));
		ipk_expect(q);
		snprintf(a, sizeof(a), "a%d", i);
		T_OK(ipk_send(ic, a, strlen(a), 0, 1000));
		nng_expect(a);
	}
	done();
}

/* ipckit asks, nng answers. */
static void
ipk_req_nng_rep(int ipc, int k, int ipk_binds)
{
	addr(ipc, k, "req");
	N_OK(nng_rep0_open(&ns));
	ns_open = 1;
	join(ipk_binds);
	for (int i = 0; i < 20; i++) {
		char q[32], a[40];
		snprintf(q, sizeof(q), "q%d", i);
		T_OK(ipk_send(ic, q, strlen(q), 0, 10000));
		nng_expect(q);
		snprintf(a, sizeof(a), "a%d", i);
		N_OK(nng_send(ns, a, strlen(a), 0));
		ipk_expect(a);
	}
	done();
}

/* nng pushes, ipckit pulls; then ipckit pushes, nng pulls. */
static void
pipeline(int ipc, int k, int ipk_binds)
{
	addr(ipc, k, "pull");
	N_OK(nng_push0_open(&ns));
	ns_open = 1;
	join(ipk_binds);
	N_OK(nng_send(ns, "work", 4, 0));
	ipk_expect("work");
	done();
	addr(ipc, k + 100, "push");
	N_OK(nng_pull0_open(&ns));
	ns_open = 1;
	join(ipk_binds);
	T_OK(ipk_send(ic, "done", 4, 0, 10000));
	nng_expect("done");
	done();
}

int
main(void)
{
	t_watchdog(60);
	t_cleanup_hook = cleanup;
	signal(SIGPIPE, SIG_IGN);
	int k = 0;
	for (int ipc = 0; ipc < 2; ipc++)
		for (int b = 0; b < 2; b++) {
			pub_to_nng(ipc, k++, b);
			nng_to_sub(ipc, k++, b);
			nng_req_ipk_rep(ipc, k++, b);
			ipk_req_nng_rep(ipc, k++, b);
			pipeline(ipc, k++, b);
			printf("ok %s, ipckit %s\n", ipc ? "ipc" : "tcp",
			    b ? "binds" : "dials");
		}
	printf("PASS interop libnng patterns\n");
	return T_PASS;
}
