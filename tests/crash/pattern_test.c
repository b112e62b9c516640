/* SPDX-License-Identifier: MIT */
/*
 * pattern_test.c - the crash matrix of the patterns: a subscriber, a
 * publisher, a client and a server SIGKILLed at a random moment, TRIALS
 * times each, over every transport with IPK_CAP_PATTERNS. Checks per
 * trial: the survivors are never stalled by the dead (every call returns
 * within its bound), every message they got is whole (checksummed) and in
 * order, a dead publisher or server is seen (IPK_ECLOSED) within 1 s
 * (p50 and max reported), and a publisher or server restarted at the
 * same address is found again. IPK_TEST_SEED replays a run;
 * IPK_PATTERN_TRIALS changes the count (default 8).
 */
#include <poll.h>
#include <sys/wait.h>

#include "../test.h"

#define PAY 48 /* payload bytes after the u64 number */

static const char *scheme;
static char url[700], fixed[512];
static struct ipk_chan *mine;
static uint64_t seed;
static double detect[4096];
static int ndetect;

static void
cleanup(void)
{
	t_kill_children();
	ipk_close(mine);
	mine = NULL;
}

#define C_CHECK(x)                                                             \
	do {                                                                   \
		if (!(x)) {                                                    \
			fprintf(stderr, "FAIL (child) %s:%d: %s\n", __FILE__,  \
			    __LINE__, #x);                                     \
			_exit(4);                                              \
		}                                                              \
	} while (0)

/* A fresh address of the scheme; tcp ports are fixed by a first bind so
 * that a restarted server can take the same one. */
static void
new_addr(int k)
{
	char name[96];
	snprintf(name, sizeof(name), "%s-%d", t_unique(), k);
	T_ASSERT(ipk_scheme_url(scheme, name, fixed, sizeof(fixed)) > 0);
	if (strstr(fixed, ":0")) {
		struct ipk_listener *l;
		T_OK(ipk_listen(fixed, NULL, &l));
		snprintf(fixed, sizeof(fixed), "%s", ipk_listener_url(l));
		ipk_listener_close(l);
	}
}

static const char *
role_url(const char *role, const char *q)
{
	snprintf(url, sizeof(url), "%s?pattern=%s%s%s", fixed, role,
	    q ? "&" : "", q ? q : "");
	return url;
}

static void
msg_make(unsigned char *m, uint64_t i)
{
	memcpy(m, &i, 8);
	t_fill(m + 8, PAY, 0xabcdef, i);
}

static int
msg_ok(const unsigned char *m, size_t n, uint64_t *i)
{
	if (n != 8 + PAY)
		return 0;
	memcpy(i, m, 8);
	return t_check(m + 8, PAY, 0xabcdef, *i);
}

/* Bind with retries: a tcp port or socket file of a process just killed
 * may take a moment to be free. */
static struct ipk_chan *
bind_retry(const char *u)
{
	struct ipk_chan *c = NULL;
	int64_t end = t_now_ns() + 5000000000ll;
	int rv;
	while ((rv = ipk_bind(u, NULL, &c)) == -EADDRINUSE && t_now_ns() < end)
		(void)poll(NULL, 0, 5);
	return rv == 0 ? c : NULL;
}

/* --- the four victims --------------------------------------------------- */

/* A subscriber dies; the publisher (slow=block) goes on, the other
 * subscriber gets everything. */
static void
kill_sub(int k)
{
	t_nkids = 0; /* every child of the last trial is reaped */
	new_addr(k);
	T_OK(ipk_bind(role_url("pub", "slow=block&queue=16"), NULL, &mine));
	int ready[2], res[2];
	T_ASSERT(pipe(ready) == 0 && pipe(res) == 0);
	const uint64_t N = 1500;
	pid_t kid[2];
	for (int j = 0; j < 2; j++) {
		if ((kid[j] = t_fork()) != 0)
			continue;
		struct ipk_opts o = {.timeout_ms = 5000};
		struct ipk_chan *s;
		C_CHECK(ipk_dial(role_url("sub", NULL), &o, &s) == 0);
		C_CHECK(write(ready[1], "r", 1) == 1);
		uint64_t got = 0;
		unsigned char m[8 + PAY];
		for (uint64_t want = 0; want < N; want++) {
			size_t n;
			uint64_t i;
			C_CHECK(ipk_recv(s, m, sizeof(m), &n, NULL, 5000) == 0);
			C_CHECK(msg_ok(m, n, &i) && i == want);
			got++;
		}
		C_CHECK(write(res[1], &got, 8) == 8);
		_exit(0);
	}
	for (int n = 0; n < 2;) {
		struct pollfd pf[2] = {
		    {ready[0], POLLIN, 0}, {ipk_fd(mine), POLLIN, 0}};
		T_ASSERT(poll(pf, 2, 5000) > 0);
		char b;
		if (pf[0].revents && read(ready[0], &b, 1) == 1)
			n++;
		struct ipk_pollitem it = {mine, IPK_POLLIN, 0};
		(void)ipk_poll(&it, 1, 0);
	}
	uint64_t at = t_rand(&seed) % N;
	unsigned char m[8 + PAY];
	for (uint64_t i = 0; i < N; i++) {
		if (i == at)
			t_reap_kill(kid[0]);
		msg_make(m, i);
		int64_t t0 = t_now_ns();
		T_OK(ipk_send(mine, m, sizeof(m), 0, 5000));
		T_ASSERT(t_ms_since(t0) < 1000);
	}
	uint64_t got = 0;
	int64_t end = t_now_ns() + 10000000000ll;
	for (;;) {
		struct pollfd pf = {res[0], POLLIN, 0};
		if (poll(&pf, 1, 0) > 0)
			break;
		T_ASSERT(t_now_ns() < end);
		(void)ipk_flush(mine, 5);
	}
	T_ASSERT(read(res[0], &got, 8) == 8);
	T_EQ(got, N);
	t_reap(kid[1]);
	close(ready[0]), close(ready[1]), close(res[0]), close(res[1]);
	ipk_close(mine);
	mine = NULL;
}

/* The publisher child: bind (retrying), say so, publish numbered
 * messages until killed. */
static void
pub_child(int ready)
{
	struct ipk_chan *p = bind_retry(role_url("pub", "slow=block"));
	C_CHECK(p != NULL);
	C_CHECK(write(ready, "r", 1) == 1);
	unsigned char m[8 + PAY];
	for (uint64_t i = 0;; i++) {
		msg_make(m, i);
		while (ipk_send(p, m, sizeof(m), 0, 100) == -ETIMEDOUT)
			;
	}
}

/* A publisher dies: the subscriber sees every message whole and in
 * order, then IPK_ECLOSED; a publisher restarted at the address is found
 * again. */
static void
kill_pub(int k)
{
	t_nkids = 0; /* every child of the last trial is reaped */
	new_addr(k);
	for (int life = 0; life < 2; life++) {
		int ready[2];
		T_ASSERT(pipe(ready) == 0);
		pid_t p = t_fork();
		if (p == 0)
			pub_child(ready[1]);
		char b;
		T_ASSERT(read(ready[0], &b, 1) == 1);
		close(ready[0]), close(ready[1]);
		struct ipk_opts o = {.timeout_ms = 5000};
		T_OK(ipk_dial(role_url("sub", NULL), &o, &mine));
		uint64_t want = t_rand(&seed) % 400, n = 0, last = 0;
		unsigned char m[8 + PAY];
		for (; n < want; n++) {
			size_t len;
			uint64_t i;
			T_OK(ipk_recv(mine, m, sizeof(m), &len, NULL, 5000));
			T_ASSERT(msg_ok(m, len, &i));
			T_ASSERT(n == 0 || i == last + 1);
			last = i;
		}
		int64_t t0 = t_now_ns();
		t_reap_kill(p);
		int rv;
		do {
			size_t len;
			uint64_t i;
			rv = ipk_recv(mine, m, sizeof(m), &len, NULL, 2000);
			if (rv == 0) {
				T_ASSERT(msg_ok(m, len, &i));
				T_ASSERT(n++ == 0 || i == last + 1);
				last = i;
			}
		} while (rv == 0);
		T_ERR(rv, IPK_ECLOSED);
		detect[ndetect++ % 4096] = t_ms_since(t0);
		T_ASSERT(t_ms_since(t0) < 1000);
		struct ipk_stats st;
		T_OK(ipk_stats(mine, &st));
		T_EQ(st.gaps, 0);
		ipk_close(mine);
		mine = NULL;
	}
}

/* A client dies while asking: the server goes on answering the other
 * client, whose every reply is its own. */
static void
kill_client(int k)
{
	t_nkids = 0; /* every child of the last trial is reaped */
	new_addr(k);
	T_OK(ipk_bind(role_url("rep", NULL), NULL, &mine));
	pid_t kid[2];
	int done[2];
	T_ASSERT(pipe(done) == 0);
	for (int j = 0; j < 2; j++) {
		if ((kid[j] = t_fork()) != 0)
			continue;
		struct ipk_opts o = {.timeout_ms = 5000};
		struct ipk_chan *r;
		C_CHECK(ipk_dial(role_url("req", NULL), &o, &r) == 0);
		for (uint64_t i = 0; j == 0 || i < 300; i++) {
			unsigned char q[8 + PAY], a[8 + PAY];
			size_t n;
			uint64_t v;
			msg_make(q, i * 2 + (uint64_t)j);
			C_CHECK(ipk_send(r, q, sizeof(q), 0, 5000) == 0);
			C_CHECK(ipk_recv(r, a, sizeof(a), &n, NULL, 5000) == 0);
			C_CHECK(msg_ok(a, n, &v) && v == i * 2 + (uint64_t)j);
		}
		C_CHECK(write(done[1], "d", 1) == 1);
		_exit(0);
	}
	int64_t kill_ns = t_now_ns() + (int64_t)(t_rand(&seed) % 30) * 1000000;
	int killed = 0;
	int64_t end = t_now_ns() + 20000000000ll;
	for (;;) {
		T_ASSERT(t_now_ns() < end);
		if (!killed && t_now_ns() >= kill_ns) {
			t_reap_kill(kid[0]);
			killed = 1;
		}
		struct pollfd pf = {done[0], POLLIN, 0};
		if (killed && poll(&pf, 1, 0) > 0)
			break;
		unsigned char q[8 + PAY];
		size_t n;
		int rv = ipk_recv(mine, q, sizeof(q), &n, NULL, 5);
		if (rv == -ETIMEDOUT)
			continue;
		T_OK(rv);
		int64_t t0 = t_now_ns();
		T_OK(ipk_send(mine, q, n, 0, 0)); /* the echo is the answer */
		T_ASSERT(t_ms_since(t0) < 100);
	}
	t_reap(kid[1]);
	close(done[0]), close(done[1]);
	ipk_close(mine);
	mine = NULL;
}

/* A server dies: the client's waiting call sees IPK_ECLOSED within the
 * bound; a server restarted at the address answers again. */
static void
kill_server(int k)
{
	t_nkids = 0; /* every child of the last trial is reaped */
	new_addr(k);
	for (int life = 0; life < 2; life++) {
		int ready[2];
		T_ASSERT(pipe(ready) == 0);
		uint64_t answer = t_rand(&seed) % 200;
		pid_t p = t_fork();
		if (p == 0) {
			struct ipk_chan *s = bind_retry(role_url("rep", NULL));
			C_CHECK(s != NULL);
			C_CHECK(write(ready[1], "r", 1) == 1);
			for (uint64_t i = 0;; i++) {
				unsigned char q[8 + PAY];
				size_t n;
				if (ipk_recv(s, q, sizeof(q), &n, NULL, -1))
					continue;
				if (i < answer)
					(void)ipk_send(s, q, n, 0, 0);
			}
		}
		char b;
		T_ASSERT(read(ready[0], &b, 1) == 1);
		close(ready[0]), close(ready[1]);
		struct ipk_opts o = {.timeout_ms = 5000};
		T_OK(ipk_dial(role_url("req", NULL), &o, &mine));
		int rv = 0;
		int64_t t0 = 0;
		for (uint64_t i = 0; rv == 0; i++) {
			unsigned char q[8 + PAY], a[8 + PAY];
			size_t n;
			uint64_t v;
			msg_make(q, i);
			if ((rv = ipk_send(mine, q, sizeof(q), 0, 5000)) != 0)
				break;
			if (i == answer) { /* unanswered: kill it now */
				t0 = t_now_ns();
				t_reap_kill(p);
			}
			rv = ipk_recv(mine, a, sizeof(a), &n, NULL, 5000);
			if (rv == 0)
				T_ASSERT(msg_ok(a, n, &v) && v == i);
		}
		T_ERR(rv, IPK_ECLOSED);
		detect[ndetect++ % 4096] = t_ms_since(t0);
		T_ASSERT(t_ms_since(t0) < 1000);
		ipk_close(mine);
		mine = NULL;
	}
}

static int
cmp_d(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return x < y ? -1 : x > y;
}

int
main(int argc, char **argv)
{
	t_watchdog(240);
	t_cleanup_hook = cleanup;
	signal(SIGPIPE, SIG_IGN);
	seed = t_seed();
	const char *tr = getenv("IPK_PATTERN_TRIALS");
	int trials = tr ? atoi(tr) : 8;
	int k = 0;
	for (const char *const *s = ipk_schemes(); *s; s++) {
		if (!(ipk_scheme_caps(*s) & IPK_CAP_PATTERNS))
			continue;
		if (argc > 1 && strcmp(argv[1], *s) != 0)
			continue;
		scheme = *s;
		ndetect = 0;
		for (int t = 0; t < trials; t++) {
			kill_sub(k++);
			kill_pub(k++);
			kill_client(k++);
			kill_server(k++);
		}
		qsort(detect, (size_t)(ndetect < 4096 ? ndetect : 4096),
		    sizeof(double), cmp_d);
		printf("%-8s %d trials x 4 victims: death seen p50 %.2f ms, "
		       "max %.2f ms\n",
		    scheme, trials, detect[ndetect / 2], detect[ndetect - 1]);
	}
	printf("PASS crash patterns\n");
	return T_PASS;
}
