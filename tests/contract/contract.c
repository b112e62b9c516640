/* SPDX-License-Identifier: MIT */
/*
 * contract.c - one test suite, written once, run over every transport
 * variant. Each case runs in its own process: `contract VARIANT CASE [QUERY]`.
 * The peer is a real second process - this binary re-executed with --peer
 * (or started by ipk_spawn for pipes); for thread-only transports (inproc)
 * the peer is a thread. QUERY defaults to the variant's own (shm/futex:
 * wait=futex). CTest registers VARIANT x CASE from `contract --variants`
 * (the transport tables) and `contract --list` (cases.h) once this program
 * is built, so a new transport gets the whole suite from its table.
 */
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <spawn.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>

#include "../test.h"

extern char **environ;

struct ctx {
	const char *variant, *scheme, *query, *name;
	char url[512];
	unsigned caps;
	struct ipk_listener *l;
	struct ipk_chan *c;
	pid_t peer_pid;
	int threaded;
	pthread_t peer_thread;
	int is_peer;
	uint64_t seed;
};

static struct ctx g;

typedef int (*case_fn)(struct ctx *);
struct contract_case {
	const char *name;
	case_fn main_fn, peer_fn;
	int needs_peer;
};

#define CONTRACT_CASE(n)                                                       \
	static int case_##n##_main(struct ctx *);                              \
	static int case_##n##_peer(struct ctx *);
#define CONTRACT_SOLO(n) static int case_##n##_main(struct ctx *);
#include "cases.h"
#undef CONTRACT_CASE
#undef CONTRACT_SOLO

static const struct contract_case cases[] = {
#define CONTRACT_CASE(n) {#n, case_##n##_main, case_##n##_peer, 1},
#define CONTRACT_SOLO(n) {#n, case_##n##_main, NULL, 0},
#include "cases.h"
#undef CONTRACT_CASE
#undef CONTRACT_SOLO
};

/* --- Harness ---------------------------------------------------------------
 */

/* A fresh address from the transport's own example (ipk_scheme_url). */
static void
url_for(struct ctx *x, const char *tag)
{
	char name[128];
	snprintf(name, sizeof(name), "%s%s", t_unique(), tag);
	int n = ipk_scheme_url(x->scheme, name, x->url, sizeof(x->url));
	if (n < 0)
		T_FAILF("ipk_scheme_url(%s, %s): %s", x->scheme, name,
		    ipk_strerror(n));
	if (x->query && *x->query)
		snprintf(x->url + n, sizeof(x->url) - (size_t)n, "%s%s",
		    strchr(x->url, '?') ? "&" : "?", x->query);
}

/* The query a variant stands for ("" for a bare scheme), or NULL. */
static const char *
variant_query(const char *scheme, const char *variant)
{
	struct ipk_variant v;
	if (!strcmp(scheme, variant))
		return "";
	for (size_t i = 0; ipk_scheme_variant(scheme, i, &v) == 0; i++)
		if (!strcmp(v.name, variant))
			return v.query;
	return NULL;
}

/* `contract --variants`: every variant the suite runs, one per line, from
 * the transport tables (tests/CMakeLists.txt registers VARIANT x CASE). */
static int
list_variants(void)
{
	for (const char *const *s = ipk_schemes(); *s; s++) {
		struct ipk_variant v;
		for (size_t i = 0; ipk_scheme_variant(*s, i, &v) == 0; i++)
			if (v.flags & IPK_VARIANT_CONTRACT)
				printf("%s %s %s\n", v.name, *s, v.query);
	}
	return 0;
}

static void
cleanup(void)
{
	if (g.is_peer)
		return;
	if (g.peer_pid > 0) {
		kill(g.peer_pid, SIGKILL);
		waitpid(g.peer_pid, NULL, 0);
		g.peer_pid = 0;
	}
	ipk_close(g.c);
	g.c = NULL;
	ipk_listener_close(g.l);
	g.l = NULL;
}

static const struct contract_case *
find_case(const char *name)
{
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		if (!strcmp(cases[i].name, name))
			return &cases[i];
	return NULL;
}

static int
peer_run(struct ctx *x)
{
	const struct contract_case *cc = find_case(x->name);
	T_ASSERT(cc && cc->peer_fn);
	if (x->caps & IPK_CAP_KINSHIP) {
		T_OK(ipk_dial_env(&x->c));
	} else {
		struct ipk_opts o = {.timeout_ms = 10000};
		T_OK(ipk_dial(x->url, &o, &x->c));
	}
	int rv = cc->peer_fn(x);
	ipk_close(x->c);
	x->c = NULL;
	return rv;
}

/* The peer thread's own context, copied before the thread starts: the main
 * thread goes on writing its context (accept fills x->c). */
static struct ctx peer_ctx;

static void *
peer_thread_main(void *arg)
{
	intptr_t rv = peer_run(arg);
	return (void *)rv;
}

static void
start_peer(struct ctx *x)
{
	char *argv[] = {"/proc/self/exe", "--peer", (char *)x->variant,
	    (char *)x->name, x->url, (char *)(x->query ? x->query : ""), NULL};
	char exe[4096];
	ssize_t n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
	T_ASSERT(n > 0);
	exe[n] = '\0';
	argv[0] = exe;
	if (x->caps & IPK_CAP_KINSHIP) {
		snprintf(x->url, sizeof(x->url), "pipe:");
		T_OK(ipk_spawn(argv, &x->c, &x->peer_pid));
		return;
	}
	T_OK(ipk_listen(x->url, NULL, &x->l));
	snprintf(x->url, sizeof(x->url), "%s", ipk_listener_url(x->l));
	if (x->caps & IPK_CAP_THREADS) {
		x->threaded = 1;
		peer_ctx = *x;
		peer_ctx.is_peer = 1;
		peer_ctx.l = NULL;
		peer_ctx.c = NULL;
		T_ASSERT(pthread_create(&x->peer_thread, NULL, peer_thread_main,
			     &peer_ctx) == 0);
	} else {
		int rv =
		    posix_spawn(&x->peer_pid, exe, NULL, NULL, argv, environ);
		T_ASSERT(rv == 0);
	}
	T_OK(ipk_accept(x->l, 10000, &x->c));
}

/* Wait for the peer to finish and check it passed. */
static void
finish_peer(struct ctx *x)
{
	if (x->threaded) {
		void *res;
		pthread_join(x->peer_thread, &res);
		x->threaded = 0;
		T_EQ((intptr_t)res, 0);
		return;
	}
	if (x->peer_pid <= 0)
		return;
	int st;
	pid_t p = waitpid(x->peer_pid, &st, 0);
	x->peer_pid = 0;
	T_ASSERT(p > 0);
	if (WIFSIGNALED(st))
		T_FAILF("peer killed by signal %d", WTERMSIG(st));
	T_EQ(WEXITSTATUS(st), 0);
}

static int
leftovers(const char *dir)
{
	char cmd[600];
	if (!dir)
		return 0;
	snprintf(cmd, sizeof(cmd), "ls -d %s/*%s* 2>/dev/null | grep -q .", dir,
	    t_unique());
	return system(cmd) == 0;
}

int
main(int argc, char **argv)
{
	t_watchdog(60);
	if (argc >= 2 && !strcmp(argv[1], "--variants"))
		return list_variants();
	if (argc >= 2 && !strcmp(argv[1], "--list")) {
		for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
			printf("%s\n", cases[i].name);
		return 0;
	}
	(void)t_mqueue_dir(); /* before any thread: may unshare */
	int peer = argc >= 2 && !strcmp(argv[1], "--peer");
	if (peer) {
		argv++;
		argc--;
	}
	if (argc < 3) {
		fprintf(stderr,
		    "usage: contract [--peer] VARIANT CASE [QUERY]\n"
		    "       contract --list | --variants\n");
		return 2;
	}
	g.variant = argv[1];
	g.name = argv[2];
	g.query = argc > (peer ? 4 : 3) ? argv[peer ? 4 : 3] : "";
	static char scheme[64];
	snprintf(scheme, sizeof(scheme), "%s", g.variant);
	char *slash = strchr(scheme, '/');
	if (slash)
		*slash = '\0';
	g.scheme = scheme;
	g.caps = ipk_scheme_caps(scheme);
	if (!*g.query && g.caps) {
		g.query = variant_query(scheme, g.variant);
		if (!g.query) {
			fprintf(stderr, "unknown variant %s\n", g.variant);
			return 2;
		}
	}
	g.is_peer = peer;
	const char *seed = getenv("IPK_CONTRACT_SEED");
	g.seed = seed ? strtoull(seed, NULL, 0) : 0x1234567;

	if (!g.caps)
		T_SKIPF("scheme %s is not compiled in", scheme);
	const struct contract_case *cc = find_case(g.name);
	if (!cc) {
		fprintf(stderr, "unknown case %s\n", g.name);
		return 2;
	}
	if (peer) {
		snprintf(g.url, sizeof(g.url), "%s", argv[3]);
		return peer_run(&g);
	}

	t_cleanup_hook = cleanup;
	int fds0 = t_count_fds();
	url_for(&g, "");
	/* The seed reaches the peer process through the environment. */
	char sbuf[32];
	snprintf(sbuf, sizeof(sbuf), "0x%llx", (unsigned long long)g.seed);
	setenv("IPK_CONTRACT_SEED", sbuf, 1);
	if (cc->needs_peer)
		start_peer(&g);
	int rv = cc->main_fn(&g);
	if (rv == T_PASS && cc->needs_peer)
		finish_peer(&g);
	cleanup();
	if (rv != T_PASS)
		return rv;
	int fds1 = t_count_fds();
	if (fds1 != fds0)
		T_FAILF(
		    "descriptor leak: %d open before, %d after", fds0, fds1);
	if (leftovers("/tmp") || leftovers("/dev/shm") ||
	    leftovers(t_mqueue_dir()))
		T_FAILF("kernel objects named *%s* left behind", t_unique());
	printf("PASS %s %s\n", g.variant, g.name);
	return T_PASS;
}

/* --- Helpers for cases --------------------------------------------------- */

static void
send_str(struct ctx *x, const char *s, uint32_t type)
{
	T_OK(ipk_send(x->c, s, strlen(s), type, 10000));
}

/* The type a receiver sees: transports whose wire has no type field
 * (IPK_CAP_NOTYPES) deliver every message as type 0. */
static uint32_t
ty(const struct ctx *x, uint32_t type)
{
	return x->caps & IPK_CAP_NOTYPES ? 0 : type;
}

static void
expect_str(struct ctx *x, const char *s, uint32_t type)
{
	char buf[256];
	size_t len = 0;
	uint32_t t = 0;
	T_OK(ipk_recv(x->c, buf, sizeof(buf) - 1, &len, &t, 10000));
	buf[len] = '\0';
	if (strcmp(buf, s) != 0)
		T_FAILF("expected message '%s', got '%s'", s, buf);
	T_EQ(t, ty(x, type));
}

static pid_t
t_gettid(void)
{
	return (pid_t)syscall(SYS_gettid);
}

/* --- Cases ------------------------------------------------------------------
 */

static int
case_pingpong_main(struct ctx *x)
{
	T_ASSERT(!strcmp(ipk_scheme(x->c), x->scheme));
	send_str(x, "ping", 7);
	expect_str(x, "pong", 8);
	send_str(x, "bye", 0);
	return T_PASS;
}

static int
case_pingpong_peer(struct ctx *x)
{
	expect_str(x, "ping", 7);
	send_str(x, "pong", 8);
	expect_str(x, "bye", 0); /* keep the channel until main has pong */
	return T_PASS;
}

static int
case_empty_main(struct ctx *x)
{
	T_OK(ipk_send(x->c, "", 0, 1, 10000));
	char buf[8];
	size_t len = 99;
	uint32_t t = 0;
	T_OK(ipk_recv(x->c, buf, sizeof(buf), &len, &t, 10000));
	T_EQ(len, 0);
	T_EQ(t, ty(x, 2));
	/* A NULL buffer with cap 0 is a valid way to take an empty message. */
	T_OK(ipk_send(x->c, NULL, 0, 3, 10000));
	T_OK(ipk_recv(x->c, NULL, 0, &len, &t, 10000));
	T_EQ(len, 0);
	T_EQ(t, ty(x, 4));
	send_str(x, "bye", 0);
	return T_PASS;
}

static int
case_empty_peer(struct ctx *x)
{
	char buf[8];
	size_t len = 99;
	uint32_t t = 0;
	T_OK(ipk_recv(x->c, buf, sizeof(buf), &len, &t, 10000));
	T_EQ(len, 0);
	T_EQ(t, ty(x, 1));
	T_OK(ipk_send(x->c, buf, 0, 2, 10000));
	T_OK(ipk_recv(x->c, buf, sizeof(buf), &len, &t, 10000));
	T_EQ(len, 0);
	T_EQ(t, ty(x, 3));
	T_OK(ipk_send(x->c, NULL, 0, 4, 10000));
	expect_str(x, "bye", 0);
	return T_PASS;
}

/* Largest message both ways, 3 times, every byte checked. */
static int
case_maxsize_main(struct ctx *x)
{
	size_t max = ipk_max_msg(x->c);
	T_ASSERT(max > 0);
	unsigned char *buf = malloc(max);
	T_ASSERT(buf);
	for (uint64_t i = 0; i < 3; i++) {
		t_fill(buf, max, x->seed, i);
		T_OK(ipk_send(x->c, buf, max, (uint32_t)i, 20000));
		memset(buf, 0, max);
		size_t len = 0;
		uint32_t t = 0;
		T_OK(ipk_recv(x->c, buf, max, &len, &t, 20000));
		T_EQ(len, max);
		T_EQ(t, ty(x, 100 + i));
		T_ASSERT(t_check(buf, len, x->seed, 100 + i));
	}
	free(buf);
	send_str(x, "bye", 0);
	return T_PASS;
}

static int
case_maxsize_peer(struct ctx *x)
{
	size_t max = ipk_max_msg(x->c);
	unsigned char *buf = malloc(max);
	T_ASSERT(buf);
	for (uint64_t i = 0; i < 3; i++) {
		size_t len = 0;
		uint32_t t = 0;
		T_OK(ipk_recv(x->c, buf, max, &len, &t, 20000));
		T_EQ(len, max);
		T_EQ(t, ty(x, i));
		T_ASSERT(t_check(buf, len, x->seed, i));
		t_fill(buf, max, x->seed, 100 + i);
		T_OK(ipk_send(x->c, buf, max, (uint32_t)(100 + i), 20000));
	}
	free(buf);
	expect_str(x, "bye", 0);
	return T_PASS;
}

#define STREAM_N 100000

static size_t
stream_len(uint64_t i, size_t max)
{
	size_t n = (size_t)((i * 7919) % 300);
	return n < max ? n : max;
}

/* 100,000 messages of 0..299 bytes in order; every byte and type checked. */
static int
case_stream_main(struct ctx *x)
{
	if (x->caps & IPK_CAP_LOSSY)
		T_SKIPF("%s: datagrams sent as fast as possible overflow the "
			"receiver and are lost (counted in stats.gaps); this "
			"case needs reliable delivery",
		    x->variant);
	unsigned char buf[512];
	size_t max = ipk_max_msg(x->c);
	for (uint64_t i = 0; i < STREAM_N; i++) {
		size_t n = stream_len(i, max);
		t_fill(buf, n, x->seed, i);
		int rv =
		    ipk_send(x->c, buf, n, (uint32_t)(i ^ 0x5a5a5a5a), 10000);
		if (rv != 0)
			T_FAILF("send #%llu: %s", (unsigned long long)i,
			    ipk_strerror(rv));
	}
	expect_str(x, "got all", 9);
	send_str(x, "bye", 0);
	return T_PASS;
}

static int
case_stream_peer(struct ctx *x)
{
	unsigned char buf[512];
	size_t max = ipk_max_msg(x->c);
	for (uint64_t i = 0; i < STREAM_N; i++) {
		size_t len = 0;
		uint32_t t = 0;
		int rv = ipk_recv(x->c, buf, sizeof(buf), &len, &t, 10000);
		if (rv != 0)
			T_FAILF("recv #%llu: %s", (unsigned long long)i,
			    ipk_strerror(rv));
		T_EQ(len, stream_len(i, max));
		T_EQ(t, ty(x, (uint32_t)(i ^ 0x5a5a5a5a)));
		if (!t_check(buf, len, x->seed, i))
			T_FAILF(
			    "message #%llu corrupted", (unsigned long long)i);
	}
	send_str(x, "got all", 9);
	expect_str(x, "bye", 0);
	return T_PASS;
}

static int
case_zerocopy_main(struct ctx *x)
{
	void *p;
	T_OK(ipk_loan(x->c, 1000, &p, 10000));
	T_ASSERT(p != NULL);
	void *p2;
	T_ERR(ipk_loan(x->c, 10, &p2, 0), -EBUSY);
	T_ASSERT(p2 == NULL);
	T_ERR(ipk_commit(x->c, 1001, 5), -EINVAL);
	t_fill(p, 777, x->seed, 5);
	T_OK(ipk_commit(x->c, 777, 5));
	T_ERR(ipk_commit(x->c, 1, 5), -EINVAL);
	T_ERR(ipk_release(x->c), -EINVAL);

	const void *q;
	size_t len = 0;
	uint32_t t = 0;
	T_OK(ipk_peek(x->c, &q, &len, &t, 10000));
	T_EQ(len, 500);
	T_EQ(t, ty(x, 6));
	T_ASSERT(t_check(q, len, x->seed, 6));
	const void *q2;
	T_ERR(ipk_peek(x->c, &q2, &len, &t, 0), -EBUSY);
	char tmp[8];
	T_ERR(ipk_recv(x->c, tmp, sizeof(tmp), &len, &t, 0), -EBUSY);
	T_OK(ipk_release(x->c));
	/* A message sent with send arrives through peek too, and back. */
	send_str(x, "plain", 11);
	T_OK(ipk_peek(x->c, &q, &len, &t, 10000));
	T_EQ(len, 4);
	T_ASSERT(!memcmp(q, "back", 4));
	T_OK(ipk_release(x->c));
	send_str(x, "bye", 0);
	return T_PASS;
}

static int
case_zerocopy_peer(struct ctx *x)
{
	const void *q;
	size_t len = 0;
	uint32_t t = 0;
	T_OK(ipk_peek(x->c, &q, &len, &t, 10000));
	T_EQ(len, 777);
	T_EQ(t, ty(x, 5));
	T_ASSERT(t_check(q, len, x->seed, 5));
	T_OK(ipk_release(x->c));
	void *p;
	T_OK(ipk_loan(x->c, 500, &p, 10000));
	t_fill(p, 500, x->seed, 6);
	T_OK(ipk_commit(x->c, 500, 6));
	T_OK(ipk_peek(x->c, &q, &len, &t, 10000));
	T_EQ(len, 5);
	T_EQ(t, ty(x, 11));
	T_ASSERT(!memcmp(q, "plain", 5));
	T_OK(ipk_release(x->c));
	T_OK(ipk_loan(x->c, 4, &p, 10000));
	memcpy(p, "back", 4);
	T_OK(ipk_commit(x->c, 4, 12));
	expect_str(x, "bye", 0);
	return T_PASS;
}

static int
case_timeout_main(struct ctx *x)
{
	char buf[16];
	size_t len;
	uint32_t t;
	int64_t t0 = t_now_ns();
	T_ERR(ipk_recv(x->c, buf, sizeof(buf), &len, &t, 50), -ETIMEDOUT);
	double ms = t_ms_since(t0);
	fprintf(stderr, "recv timeout 50 ms took %.1f ms\n", ms);
	T_ASSERT(ms >= 49.0 && ms < 1000.0);
	t0 = t_now_ns();
	T_ERR(ipk_recv(x->c, buf, sizeof(buf), &len, &t, 0), -EAGAIN);
	T_ASSERT(t_ms_since(t0) < 100.0);
	const void *q;
	T_ERR(ipk_peek(x->c, &q, &len, &t, 20), -ETIMEDOUT);
	T_ASSERT(q == NULL);
	send_str(x, "bye", 0);
	return T_PASS;
}

static int
case_timeout_peer(struct ctx *x)
{
	expect_str(x, "bye", 0);
	return T_PASS;
}

struct killer {
	pid_t victim, main_pid, main_tid;
	int64_t t_kill;
};

static void *
killer_main(void *arg)
{
	struct killer *k = arg;
	/* Kill once the main thread sleeps in recv; a spinning wait never
	 * sleeps, so give up waiting for that after 300 ms. */
	(void)t_wait_blocked(k->main_pid, k->main_tid, 300);
	k->t_kill = t_now_ns();
	kill(k->victim, SIGKILL);
	return NULL;
}

/* The peer is SIGKILLed while we are blocked in recv: IPK_ECLOSED, fast. */
static int
case_peerkill_main(struct ctx *x)
{
	if (x->threaded)
		T_SKIPF("%s: peers are threads, nothing to kill", x->variant);
	if (x->caps & IPK_CAP_LOSSY)
		T_SKIPF("%s: no connection, so a killed peer sends nothing "
			"and cannot be noticed by a receiver",
		    x->variant);
	expect_str(x, "ready", 1);
	struct killer k = {x->peer_pid, getpid(), t_gettid(), 0};
	pthread_t th;
	T_ASSERT(pthread_create(&th, NULL, killer_main, &k) == 0);
	char buf[16];
	size_t len;
	uint32_t t;
	int rv = ipk_recv(x->c, buf, sizeof(buf), &len, &t, 10000);
	int64_t t_detect = t_now_ns();
	pthread_join(th, NULL);
	T_ERR(rv, IPK_ECLOSED);
	double ms = (double)(t_detect - k.t_kill) / 1e6;
	fprintf(stderr, "peer death detected in %.2f ms\n", ms);
	T_ASSERT(ms < 1000.0);
	int st;
	T_ASSERT(waitpid(x->peer_pid, &st, 0) == x->peer_pid);
	x->peer_pid = 0;
	T_ASSERT(WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL);
	/* Later calls keep saying so (or time out, where the channel waits for
	 * a peer to reattach). */
	rv = ipk_recv(x->c, buf, sizeof(buf), &len, &t, 100);
	if (rv != IPK_ECLOSED && rv != -ETIMEDOUT)
		T_FAILF("recv after peer death: %s", ipk_strerror(rv));
	return T_PASS;
}

static int
case_peerkill_peer(struct ctx *x)
{
	send_str(x, "ready", 1);
	for (;;)
		pause();
	return T_PASS;
}

/* Our side closes while the peer is blocked in recv: the peer gets
 * IPK_ECLOSED within a bound. */
static int
case_closeblock_main(struct ctx *x)
{
	expect_str(x, "ready", 1);
	/* The peer's main thread sleeps in recv (spinning variants never
	 * sleep; then we go ahead after the bound). */
	(void)t_wait_blocked(x->peer_pid, x->peer_pid, 300);
	ipk_close(x->c);
	x->c = NULL;
	return T_PASS;
}

static int
case_closeblock_peer(struct ctx *x)
{
	send_str(x, "ready", 1);
	char buf[16];
	size_t len;
	uint32_t t;
	int64_t t0 = t_now_ns();
	int rv = ipk_recv(x->c, buf, sizeof(buf), &len, &t, 10000);
	double ms = t_ms_since(t0);
	fprintf(stderr, "peer close noticed after %.2f ms blocked\n", ms);
	T_ERR(rv, IPK_ECLOSED);
	T_ASSERT(ms < 5000.0);
	return T_PASS;
}

/* Over the limit: the size error names the limit; the channel still works.
 * A buffer too small: -EMSGSIZE, *len = size needed, message kept. */
static int
case_oversize_main(struct ctx *x)
{
	size_t max = ipk_max_msg(x->c);
	unsigned char *big = malloc(max + 1);
	T_ASSERT(big);
	memset(big, 0xab, max + 1);
	int rv = ipk_send(x->c, big, max + 1, 1, 1000);
	T_ERR(rv, -EMSGSIZE);
	char num[32];
	snprintf(num, sizeof(num), "%zu", max);
	if (!strstr(ipk_strerror(rv), num))
		T_FAILF("size error does not name the limit %s: '%s'", num,
		    ipk_strerror(rv));
	void *p;
	T_ERR(ipk_loan(x->c, max + 1, &p, 0), -EMSGSIZE);
	free(big);
	send_str(x, "still works", 2);

	char small[10];
	size_t len = 0;
	uint32_t t = 0;
	T_ERR(ipk_recv(x->c, small, sizeof(small), &len, &t, 10000), -EMSGSIZE);
	T_EQ(len, 100);
	char buf[100];
	T_OK(ipk_recv(x->c, buf, sizeof(buf), &len, &t, 10000));
	T_EQ(len, 100);
	T_EQ(t, ty(x, 3));
	T_ASSERT(t_check(buf, 100, x->seed, 3));
	send_str(x, "bye", 0);
	return T_PASS;
}

static int
case_oversize_peer(struct ctx *x)
{
	expect_str(x, "still works", 2);
	unsigned char buf[100];
	t_fill(buf, sizeof(buf), x->seed, 3);
	T_OK(ipk_send(x->c, buf, sizeof(buf), 3, 10000));
	expect_str(x, "bye", 0);
	return T_PASS;
}

/* ipk_fd becomes readable when a message is there. */
static int
case_fd_main(struct ctx *x)
{
	int fd = ipk_fd(x->c);
	T_ASSERT(fd >= 0);
	send_str(x, "go", 1);
	struct pollfd p = {.fd = fd, .events = POLLIN};
	int n = poll(&p, 1, 10000);
	T_EQ(n, 1);
	T_ASSERT(p.revents & POLLIN);
	char buf[16];
	size_t len;
	uint32_t t;
	/* Readable means a recv may succeed: retry briefly for mechanisms
	 * whose descriptor is a doorbell rung just before the data lands. */
	int rv = ipk_recv(x->c, buf, sizeof(buf), &len, &t, 1000);
	T_OK(rv);
	T_EQ(len, 4);
	send_str(x, "bye", 0);
	return T_PASS;
}

static int
case_fd_peer(struct ctx *x)
{
	expect_str(x, "go", 1);
	send_str(x, "data", 2);
	expect_str(x, "bye", 0);
	return T_PASS;
}

/* Malformed URLs and options give -EINVAL, never a crash. */
static int
case_badurl_main(struct ctx *x)
{
	char u[600];
	const char *bad[] = {"%s:///x?bogus=1", "%s:///x?maxmsg=abc",
	    "%s:///x?maxmsg=0", "%s:///x?mode=99999", "%s:///x?keep=2",
	    "%s:///x?timeout=fast", "%s:///x?=1", "%s:///x?a", "%s:///x?",
	    "%s:///x?maxmsg=1&maxmsg=2", "%s://[::1", "%s://h:99999",
	    "%s://h:port", "%s:///a//b"};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		snprintf(u, sizeof(u), bad[i], x->scheme);
		struct ipk_listener *l = (void *)1;
		struct ipk_chan *c = (void *)1;
		int rv = ipk_listen(u, NULL, &l);
		T_ASSERT(l == NULL);
		if (rv != -EINVAL)
			T_FAILF("listen('%s') = %s, expected EINVAL", u,
			    ipk_errname(rv));
		rv = ipk_dial(u, NULL, &c);
		T_ASSERT(c == NULL);
		if (rv != -EINVAL)
			T_FAILF("dial('%s') = %s, expected EINVAL", u,
			    ipk_errname(rv));
		if (!strstr(ipk_strerror(rv), x->scheme))
			T_FAILF("error for '%s' does not name the URL: %s", u,
			    ipk_strerror(rv));
	}
	struct ipk_chan *c;
	T_ERR(ipk_dial(NULL, NULL, &c), -EINVAL);
	T_ERR(ipk_dial("nosuch:///x", NULL, &c), -EINVAL);
	T_ERR(ipk_dial("", NULL, &c), -EINVAL);
	T_ERR(ipk_dial(x->url, NULL, NULL), -EINVAL);
	T_ERR(ipk_send(NULL, "x", 1, 0, 0), -EINVAL);
	T_OK(ipk_close(NULL));
	T_OK(ipk_listener_close(NULL));
	return T_PASS;
}

/* Dialing where nobody listens fails at once with a clear error. */
static int
case_refuse_main(struct ctx *x)
{
	if (x->caps & (IPK_CAP_KINSHIP | IPK_CAP_LOSSY))
		T_SKIPF("%s: no connection to refuse", x->variant);
	if (x->caps & IPK_CAP_REMOTE) {
		/* A port we just freed: nobody listens there now. */
		struct ipk_listener *l;
		T_OK(ipk_listen(x->url, NULL, &l));
		snprintf(x->url, sizeof(x->url), "%s", ipk_listener_url(l));
		ipk_listener_close(l);
	}
	struct ipk_chan *c = (void *)1;
	int64_t t0 = t_now_ns();
	int rv = ipk_dial(x->url, NULL, &c);
	T_ASSERT(rv < 0);
	T_ASSERT(c == NULL);
	T_ASSERT(t_ms_since(t0) < 1000.0);
	fprintf(stderr, "dial with no listener: %s (%s)\n", ipk_errname(rv),
	    ipk_strerror(rv));
	return T_PASS;
}

/* A second listener on a live address is refused, never a takeover. */
static int
case_duplisten_main(struct ctx *x)
{
	if (x->caps & IPK_CAP_KINSHIP)
		T_SKIPF("%s: nothing to listen on", x->variant);
	T_OK(ipk_listen(x->url, NULL, &x->l));
	struct ipk_listener *l2 = (void *)1;
	T_ERR(ipk_listen(ipk_listener_url(x->l), NULL, &l2), -EADDRINUSE);
	T_ASSERT(l2 == NULL);
	ipk_listener_close(x->l);
	x->l = NULL;
	/* Once closed, the address can be listened on again. */
	url_for(x, "");
	T_OK(ipk_listen(x->url, NULL, &x->l));
	return T_PASS;
}
