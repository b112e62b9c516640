/* SPDX-License-Identifier: MIT */
/*
 * pattern.c - the contract's pattern section: publish/subscribe,
 * request/reply and push/pull, written once and run over every transport
 * with IPK_CAP_PATTERNS (`pattern --variants`). Each case runs in its own
 * process: `pattern SCHEME CASE`; its peers are forked children, each
 * opening its own channel after the fork and leaving with _exit (the
 * parent's channels are never touched by them). Readiness travels on
 * pipes; nothing waits by sleeping.
 */
#include <poll.h>
#include <sys/wait.h>

#include "../test.h"

static const char *g_scheme;
static char g_url[600];
static unsigned g_caps;
static struct ipk_chan *g_main;

#define CASES(X)                                                               \
	X(fanout)                                                              \
	X(drop)                                                                \
	X(block)                                                               \
	X(topic)                                                               \
	X(history)                                                             \
	X(subkill)                                                             \
	X(pubkill)                                                             \
	X(reqrep)                                                              \
	X(stale)                                                               \
	X(outoforder)                                                          \
	X(stall)                                                               \
	X(pushpull)                                                            \
	X(pollout)                                                             \
	X(misuse)

static int
sp_wire(void)
{
	return (g_caps & IPK_CAP_NOTYPES) != 0;
}

/* An address of the scheme with the query `q` (after a fresh name). */
static void
url_make(const char *q)
{
	char name[128];
	snprintf(name, sizeof(name), "%s", t_unique());
	int n = ipk_scheme_url(g_scheme, name, g_url, sizeof(g_url));
	if (n < 0)
		T_FAILF("ipk_scheme_url(%s): %s", g_scheme, ipk_strerror(n));
	snprintf(g_url + n, sizeof(g_url) - (size_t)n, "%s%s",
	    strchr(g_url, '?') ? "&" : "?", q);
}

/* Bind the pattern and take the bound address (port 0 -> real port). */
static struct ipk_chan *
bind_url(const char *q)
{
	struct ipk_chan *c;
	url_make(q);
	T_OK(ipk_bind(g_url, NULL, &c));
	snprintf(g_url, sizeof(g_url), "%s", ipk_url(c));
	g_main = c;
	return c;
}

/* The bound address with its role replaced by `role` and extra query. */
static const char *
peer_url(const char *role, const char *extra)
{
	static char u[700];
	char base[600];
	/* The bound address is g_url with the real port; drop its query. */
	snprintf(base, sizeof(base), "%s", g_url);
	char *q = strchr(base, '?');
	if (q)
		*q = '\0';
	snprintf(u, sizeof(u), "%s?pattern=%s%s%s", base, role,
	    extra && *extra ? "&" : "", extra ? extra : "");
	return u;
}

static void
cleanup(void)
{
	t_kill_children();
	ipk_close(g_main);
	g_main = NULL;
}

static void check_kids(void);

/* Pump c (ipk_poll, which admits peers) until n bytes came on fd. */
static void
wait_bytes(struct ipk_chan *c, int fd, int n)
{
	int64_t end = t_now_ns() + 10000000000ll;
	while (n > 0) {
		T_ASSERT(t_now_ns() < end);
		check_kids();
		struct pollfd pf[2] = {{fd, POLLIN, 0}, {ipk_fd(c), POLLIN, 0}};
		(void)poll(pf, 2, 100);
		if (pf[0].revents) {
			char b;
			T_ASSERT(read(fd, &b, 1) == 1);
			n--;
		}
		struct ipk_pollitem it = {c, IPK_POLLIN, 0};
		(void)ipk_poll(&it, 1, 0);
	}
}

/* A child that already ended with a failure fails the test at once. */
static void
check_kids(void)
{
	for (int k = 0; k < t_nkids; k++) {
		int st;
		if (t_kids[k] <= 0 ||
		    waitpid(t_kids[k], &st, WNOHANG) != t_kids[k])
			continue;
		pid_t p = t_kids[k];
		t_forget(p);
		if (!WIFEXITED(st) || WEXITSTATUS(st) != 0)
			T_FAILF("child %d ended with status 0x%x", (int)p, st);
		/* Ended well: remembered as reaped. */
		t_kids[k] = -p;
	}
}

/* Read n bytes of a child's result from fd, pumping c (events) meanwhile;
 * at most 20 s. */
static void
wait_result(struct ipk_chan *c, unsigned events, int fd, void *out, size_t n)
{
	int64_t end = t_now_ns() + 20000000000ll;
	for (;;) {
		struct pollfd pf = {fd, POLLIN, 0};
		if (poll(&pf, 1, 0) > 0)
			break;
		T_ASSERT(t_now_ns() < end);
		check_kids();
		struct ipk_pollitem it = {c, events, 0};
		(void)ipk_poll(&it, 1, 5);
	}
	T_ASSERT(read(fd, out, n) == (ssize_t)n);
}

/* Reap every child: each must have exited 0. */
static void
reap_all(void)
{
	for (int k = 0; k < t_nkids; k++)
		if (t_kids[k] > 0)
			t_reap(t_kids[k]);
	t_nkids = 0;
}

static void
say(int fd)
{
	char b = 1;
	if (write(fd, &b, 1) != 1)
		_exit(3);
}

/* A child's check: exits 4 with the line number. */
#define C_ASSERT(x)                                                            \
	do {                                                                   \
		if (!(x)) {                                                    \
			fprintf(stderr, "FAIL (child) %s:%d: %s\n", __FILE__,  \
			    __LINE__, #x);                                     \
			_exit(4);                                              \
		}                                                              \
	} while (0)
#define C_OK(x)                                                                \
	do {                                                                   \
		int c_rv_ = (x);                                               \
		if (c_rv_ != 0) {                                              \
			fprintf(stderr, "FAIL (child) %s:%d: %s: %s\n",        \
			    __FILE__, __LINE__, #x, ipk_strerror(c_rv_));      \
			_exit(4);                                              \
		}                                                              \
	} while (0)

static struct ipk_chan *
c_dial(const char *url)
{
	struct ipk_opts o = {.timeout_ms = 10000};
	struct ipk_chan *c;
	C_OK(ipk_dial(url, &o, &c));
	return c;
}

/* A subscriber child: dial, say so, then take `n` numbered messages (or
 * until the publisher closes when n < 0) and check their order; it writes
 * what it received and lost (two u64) on `res`. */
static void
sub_child(const char *url, int ready, int res, long n, int go)
{
	struct ipk_chan *s = c_dial(url);
	say(ready);
	if (go >= 0) {
		char b;
		C_ASSERT(read(go, &b, 1) == 1);
	}
	uint64_t got = 0, last = 0;
	char buf[8192];
	for (long i = 0; n < 0 || i < n; i++) {
		size_t len;
		int rv = ipk_recv(s, buf, sizeof(buf), &len, NULL, 10000);
		if (rv == IPK_ECLOSED && n < 0)
			break;
		C_OK(rv);
		if (len == 3 && !memcmp(buf, "END", 3))
			break;
		C_ASSERT(len >= 8);
		uint64_t v;
		memcpy(&v, buf, 8);
		C_ASSERT(got == 0 || v > last);
		last = v;
		got++;
	}
	struct ipk_stats st;
	C_OK(ipk_stats(s, &st));
	uint64_t out[2] = {got, st.gaps};
	C_ASSERT(write(res, out, sizeof(out)) == sizeof(out));
	ipk_close(s);
	_exit(0);
}

/* --- pub/sub ------------------------------------------------------------ */

/* Three subscribers each get every one of 3000 messages, in order. */
static void
case_fanout(void)
{
	struct ipk_chan *pub = bind_url("pattern=pub&slow=block");
	int ready[2], res[2];
	T_ASSERT(pipe(ready) == 0 && pipe(res) == 0);
	const long N = 3000;
	for (int k = 0; k < 3; k++)
		if (t_fork() == 0)
			sub_child(peer_url("sub", ""), ready[1], res[1], N, -1);
	wait_bytes(pub, ready[0], 3);
	char buf[100];
	for (uint64_t i = 0; i < (uint64_t)N; i++) {
		memcpy(buf, &i, 8);
		T_OK(ipk_send(pub, buf, 8 + i % 90, 7, 5000));
	}
	for (int k = 0; k < 3; k++) {
		uint64_t r[2];
		/* The subscribers read while the publisher flushes. */
		wait_result(pub, IPK_POLLOUT, res[0], r, sizeof(r));
		T_EQ(r[0], N);
		T_EQ(r[1], 0);
	}
	struct ipk_stats st;
	T_OK(ipk_stats(pub, &st));
	T_EQ(st.msgs_sent, N);
	T_EQ(st.gaps, 0);
	reap_all();
}

/* slow=drop: a subscriber that reads late loses its oldest messages; what
 * it got plus what it was told it lost is every message, and the
 * publisher counted the same losses. */
static void
case_drop(void)
{
	struct ipk_chan *pub = bind_url("pattern=pub&queue=4");
	int ready[2], res[2], go[2];
	T_ASSERT(pipe(ready) == 0 && pipe(res) == 0 && pipe(go) == 0);
	if (t_fork() == 0)
		sub_child(peer_url("sub", ""), ready[1], res[1], -1, go[0]);
	wait_bytes(pub, ready[0], 1);
	const uint64_t N = 20000;
	char buf[1024] = {0};
	for (uint64_t i = 0; i < N; i++) {
		memcpy(buf, &i, 8);
		T_OK(ipk_send(pub, buf, sizeof(buf), 0, 0));
	}
	struct ipk_stats st;
	T_OK(ipk_stats(pub, &st));
	T_ASSERT(st.gaps > 0);
	T_OK(ipk_send(pub, "END", 3, 0, 0)); /* the newest is never dropped */
	say(go[1]);
	uint64_t r[2];
	wait_result(pub, IPK_POLLIN, res[0], r, sizeof(r));
	T_OK(ipk_stats(pub, &st));
	if (!sp_wire())
		T_EQ(r[1], st.gaps); /* told exactly what it lost */
	T_EQ(r[0] + st.gaps, N);
	reap_all();
}

/* slow=block: a subscriber that does not read holds the publisher back
 * for the timeout, then -ETIMEDOUT; the message it refused went to
 * nobody, and nothing was lost. */
static void
case_block(void)
{
	struct ipk_chan *pub = bind_url("pattern=pub&slow=block&queue=2");
	int ready[2], res[2], go[2];
	T_ASSERT(pipe(ready) == 0 && pipe(res) == 0 && pipe(go) == 0);
	if (t_fork() == 0)
		sub_child(peer_url("sub", ""), ready[1], res[1], -1, go[0]);
	wait_bytes(pub, ready[0], 1);
	char buf[4096] = {0};
	uint64_t i = 0;
	int rv;
	int64_t t0;
	for (;; i++) {
		memcpy(buf, &i, 8);
		t0 = t_now_ns();
		rv = ipk_send(pub, buf, sizeof(buf), 0, 50);
		if (rv != 0)
			break;
		T_ASSERT(i < 100000);
	}
	double ms = t_ms_since(t0);
	T_ERR(rv, -ETIMEDOUT);
	T_ASSERT(ms >= 45 && ms < 1000);
	struct ipk_pollitem it = {pub, IPK_POLLOUT, 0};
	T_ERR(ipk_poll(&it, 1, 0), -EAGAIN);
	T_ERR(ipk_send(pub, buf, sizeof(buf), 0, 0), -EAGAIN);
	say(go[1]);
	/* Once the subscriber reads, the publisher has room again. */
	T_ASSERT(ipk_poll(&it, 1, 10000) == 1);
	memcpy(buf, &i, 8);
	T_OK(ipk_send(pub, buf, sizeof(buf), 0, 10000));
	T_OK(ipk_send(pub, "END", 3, 0, 10000));
	uint64_t r[2];
	wait_result(pub, IPK_POLLIN, res[0], r, sizeof(r));
	T_EQ(r[0], i + 1);
	T_EQ(r[1], 0);
	reap_all();
}

/* Topics are prefixes; a subscriber takes what starts with one of its
 * topics (from the URL and ipk_subscribe) and nothing else. */
static void
case_topic(void)
{
	struct ipk_chan *pub = bind_url("pattern=pub&slow=block");
	int ready[2];
	T_ASSERT(pipe(ready) == 0);
	if (t_fork() == 0) {
		struct ipk_chan *s = c_dial(peer_url("sub", "topic=temp."));
		C_OK(ipk_subscribe(s, "hum", 3));
		say(ready[1]);
		const char *want[] = {"temp.a", "humid", "temp.b", "humEND"};
		for (int k = 0; k < 4; k++) {
			char buf[64];
			size_t len;
			C_OK(ipk_recv(s, buf, sizeof(buf), &len, NULL, 10000));
			C_ASSERT(len == strlen(want[k]) &&
			    !memcmp(buf, want[k], len));
		}
		ipk_close(s);
		_exit(0);
	}
	wait_bytes(pub, ready[0], 1);
	const char *msgs[] = {
	    "press", "temp.a", "tem", "humid", "temp.b", "x", "temp", "humEND"};
	for (size_t k = 0; k < sizeof(msgs) / sizeof(msgs[0]); k++)
		T_OK(ipk_send(pub, msgs[k], strlen(msgs[k]), 0, 5000));
	reap_all();
}

/* ?history=K: a late subscriber gets the last K messages first. */
static void
case_history(void)
{
	struct ipk_chan *pub = bind_url("pattern=pub&history=3");
	char buf[16];
	for (uint64_t i = 0; i < 5; i++) {
		memcpy(buf, &i, 8);
		T_OK(ipk_send(pub, buf, 8, 0, 1000));
	}
	int ready[2], got[2];
	T_ASSERT(pipe(ready) == 0 && pipe(got) == 0);
	if (t_fork() == 0) {
		struct ipk_chan *s = c_dial(peer_url("sub", ""));
		say(ready[1]);
		for (uint64_t want = 2; want <= 5; want++) {
			size_t len;
			uint64_t v;
			C_OK(ipk_recv(s, buf, sizeof(buf), &len, NULL, 10000));
			memcpy(&v, buf, 8);
			C_ASSERT(len == 8 && v == want);
		}
		say(got[1]);
		ipk_close(s);
		_exit(0);
	}
	wait_bytes(pub, ready[0], 1);
	uint64_t five = 5;
	memcpy(buf, &five, 8);
	T_OK(ipk_send(pub, buf, 8, 0, 1000));
	wait_bytes(pub, got[0], 1);
	reap_all();
}

/* A subscriber SIGKILLed at a random moment never stalls the publisher
 * (slow=block would wait on it forever were it not dropped), and the
 * other subscriber gets everything. */
static void
case_subkill(void)
{
	struct ipk_chan *pub = bind_url("pattern=pub&slow=block&queue=8");
	int ready[2], res[2];
	T_ASSERT(pipe(ready) == 0 && pipe(res) == 0);
	const long N = 4000;
	pid_t victim = t_fork();
	if (victim == 0)
		sub_child(peer_url("sub", ""), ready[1], res[1], N, -1);
	pid_t good = t_fork();
	if (good == 0)
		sub_child(peer_url("sub", ""), ready[1], res[1], N, -1);
	wait_bytes(pub, ready[0], 2);
	uint64_t seed = t_seed();
	long kill_at = (long)(t_rand(&seed) % (uint64_t)N);
	char buf[512] = {0};
	for (uint64_t i = 0; i < (uint64_t)N; i++) {
		if ((long)i == kill_at)
			t_reap_kill(victim);
		memcpy(buf, &i, 8);
		int64_t t0 = t_now_ns();
		T_OK(ipk_send(pub, buf, sizeof(buf), 0, 5000));
		T_ASSERT(t_ms_since(t0) < 2000);
	}
	uint64_t r[2];
	wait_result(pub, IPK_POLLOUT, res[0], r, sizeof(r));
	T_EQ(r[0], N);
	T_EQ(r[1], 0);
	reap_all();
}

/* A publisher SIGKILLed at a random moment is noticed by a blocked
 * subscriber (IPK_ECLOSED): hard bound 1 s, reported. */
static void
case_pubkill(void)
{
	url_make("pattern=pub");
	int pfd[2];
	T_ASSERT(pipe(pfd) == 0);
	pid_t pubp = t_fork();
	if (pubp == 0) {
		struct ipk_chan *p;
		char u[600] = {0};
		C_OK(ipk_bind(g_url, NULL, &p));
		snprintf(u, sizeof(u), "%s", ipk_url(p));
		C_ASSERT(write(pfd[1], u, sizeof(u)) == sizeof(u));
		for (;;) {
			struct ipk_pollitem it = {p, IPK_POLLIN, 0};
			(void)ipk_poll(&it, 1, 1);
			(void)ipk_send(p, "tick", 4, 0, 0);
		}
	}
	T_ASSERT(read(pfd[0], g_url, sizeof(g_url)) == sizeof(g_url));
	struct ipk_opts o = {.timeout_ms = 10000};
	struct ipk_chan *s;
	T_OK(ipk_dial(peer_url("sub", ""), &o, &s));
	g_main = s;
	uint64_t seed = t_seed();
	int ticks = 1 + (int)(t_rand(&seed) % 200);
	char buf[16];
	size_t len;
	for (int i = 0; i < ticks; i++)
		T_OK(ipk_recv(s, buf, sizeof(buf), &len, NULL, 10000));
	int64_t t0 = t_now_ns();
	t_reap_kill(pubp);
	int rv;
	do
		rv = ipk_recv(s, buf, sizeof(buf), &len, NULL, 5000);
	while (rv == 0);
	double ms = t_ms_since(t0);
	T_ERR(rv, IPK_ECLOSED);
	fprintf(stderr, "publisher death seen after %.1f ms\n", ms);
	T_ASSERT(ms < 1000);
}

/* --- req/rep ------------------------------------------------------------ */

/* Eight clients, 200 requests each: every reply is the answer to the
 * request its client sent. */
static void
case_reqrep(void)
{
	struct ipk_chan *rep = bind_url("pattern=rep");
	const int K = 8, N = 200;
	int done[2];
	T_ASSERT(pipe(done) == 0);
	for (int k = 0; k < K; k++) {
		if (t_fork() != 0)
			continue;
		struct ipk_chan *r = c_dial(peer_url("req", ""));
		for (int i = 0; i < N; i++) {
			char q[64], a[80], want[80];
			int n = snprintf(q, sizeof(q), "%d:%d", k, i);
			C_OK(ipk_send(r, q, (size_t)n, 0, 10000));
			size_t len;
			C_OK(ipk_recv(r, a, sizeof(a), &len, NULL, 10000));
			int m = snprintf(want, sizeof(want), "re %s", q);
			C_ASSERT(len == (size_t)m && !memcmp(a, want, len));
		}
		say(done[1]);
		ipk_close(r);
		_exit(0);
	}
	int finished = 0;
	int64_t end = t_now_ns() + 30000000000ll;
	while (finished < K) {
		T_ASSERT(t_now_ns() < end);
		char q[64], a[80];
		size_t len;
		int rv = ipk_recv(rep, q, sizeof(q) - 1, &len, NULL, 20);
		if (rv == 0) {
			int n = snprintf(a, sizeof(a), "re %.*s", (int)len, q);
			T_OK(ipk_send(rep, a, (size_t)n, 0, 1000));
		} else {
			T_ASSERT(rv == -ETIMEDOUT);
		}
		struct pollfd pf = {done[0], POLLIN, 0};
		char b;
		while (poll(&pf, 1, 0) > 0 && read(done[0], &b, 1) == 1)
			finished++;
	}
	reap_all();
}

/* A client that timed out and asked again never gets the late reply to
 * its first request. */
static void
case_stale(void)
{
	struct ipk_chan *rep = bind_url("pattern=rep");
	if (t_fork() == 0) {
		struct ipk_chan *r = c_dial(peer_url("req", ""));
		char a[64];
		size_t len;
		C_OK(ipk_send(r, "one", 3, 0, 5000));
		C_ASSERT(
		    ipk_recv(r, a, sizeof(a), &len, NULL, 50) == -ETIMEDOUT);
		C_OK(ipk_send(r, "two", 3, 0, 5000));
		C_OK(ipk_recv(r, a, sizeof(a), &len, NULL, 10000));
		C_ASSERT(len == 6 && !memcmp(a, "re two", 6));
		/* No request outstanding now. */
		C_ASSERT(ipk_recv(r, a, sizeof(a), &len, NULL, 0) == -EINVAL);
		ipk_close(r);
		_exit(0);
	}
	char q[64];
	size_t len;
	uint64_t id1, id2;
	T_OK(ipk_recv(rep, q, sizeof(q), &len, NULL, 10000));
	T_ASSERT(len == 3 && !memcmp(q, "one", 3));
	T_OK(ipk_request_id(rep, &id1));
	T_OK(ipk_recv(rep, q, sizeof(q), &len, NULL, 10000));
	T_ASSERT(len == 3 && !memcmp(q, "two", 3));
	T_OK(ipk_request_id(rep, &id2));
	T_ASSERT(id1 != id2);
	T_OK(ipk_reply(rep, id1, "re one", 6, 0, 1000));
	T_OK(ipk_reply(rep, id2, "re two", 6, 0, 1000));
	int64_t end = t_now_ns() + 10000000000ll;
	for (;;) {
		int st;
		pid_t p = waitpid(t_kids[0], &st, WNOHANG);
		if (p == t_kids[0]) {
			t_forget(p);
			T_ASSERT(WIFEXITED(st) && WEXITSTATUS(st) == 0);
			break;
		}
		T_ASSERT(t_now_ns() < end);
		struct ipk_pollitem it = {rep, IPK_POLLIN, 0};
		(void)ipk_poll(&it, 1, 10);
	}
}

/* Two clients, answered in the reverse order of their requests: each gets
 * its own answer. */
static void
case_outoforder(void)
{
	struct ipk_chan *rep = bind_url("pattern=rep");
	int done[2];
	T_ASSERT(pipe(done) == 0);
	for (int k = 0; k < 2; k++) {
		if (t_fork() != 0)
			continue;
		struct ipk_chan *r = c_dial(peer_url("req", ""));
		char q[8] = {(char)('a' + k)}, a[64];
		size_t len;
		C_OK(ipk_send(r, q, 1, 0, 5000));
		C_OK(ipk_recv(r, a, sizeof(a), &len, NULL, 10000));
		C_ASSERT(len == 2 && a[0] == 'A' + k && a[1] == q[0]);
		say(done[1]);
		ipk_close(r);
		_exit(0);
	}
	uint64_t id[2];
	char who[2];
	for (int k = 0; k < 2; k++) {
		size_t len;
		T_OK(ipk_recv(rep, &who[k], 1, &len, NULL, 10000));
		T_OK(ipk_request_id(rep, &id[k]));
	}
	for (int k = 1; k >= 0; k--) {
		char a[2] = {(char)(who[k] - 'a' + 'A'), who[k]};
		T_OK(ipk_reply(rep, id[k], a, 2, 0, 1000));
	}
	wait_bytes(rep, done[0], 2);
	reap_all();
}

/* A client that never reads its replies does not stall the server: every
 * send returns at once, and another client is served meanwhile. */
static void
case_stall(void)
{
	struct ipk_chan *rep = bind_url("pattern=rep&queue=2");
	int ready[2], done[2], go[2];
	T_ASSERT(pipe(ready) == 0 && pipe(done) == 0 && pipe(go) == 0);
	if (t_fork() == 0) { /* the stuck client: asks, never reads */
		struct ipk_chan *r = c_dial(peer_url("req", ""));
		for (int i = 0; i < 40; i++)
			C_OK(ipk_send(r, "big", 3, 0, 5000));
		say(ready[1]);
		char b;
		C_ASSERT(read(go[0], &b, 1) == 1);
		ipk_close(r);
		_exit(0);
	}
	static char big[256 * 1024];
	int big_answered = 0;
	int64_t end = t_now_ns() + 20000000000ll;
	while (big_answered < 40) {
		T_ASSERT(t_now_ns() < end);
		char q[16];
		size_t len;
		T_OK(ipk_recv(rep, q, sizeof(q), &len, NULL, 10000));
		int64_t t0 = t_now_ns();
		T_OK(ipk_send(rep, big, sizeof(big), 0, 0));
		T_ASSERT(t_ms_since(t0) < 100);
		big_answered++;
	}
	wait_bytes(rep, ready[0], 1);
	if (t_fork() == 0) { /* a good client, served meanwhile */
		struct ipk_chan *r = c_dial(peer_url("req", ""));
		for (int i = 0; i < 50; i++) {
			char a[16];
			size_t len;
			C_OK(ipk_send(r, "hi", 2, 0, 5000));
			C_OK(ipk_recv(r, a, sizeof(a), &len, NULL, 5000));
			C_ASSERT(len == 2 && !memcmp(a, "ok", 2));
		}
		say(done[1]);
		ipk_close(r);
		_exit(0);
	}
	for (int i = 0; i < 50; i++) {
		char q[16];
		size_t len;
		T_OK(ipk_recv(rep, q, sizeof(q), &len, NULL, 10000));
		T_ASSERT(len == 2);
		int64_t t0 = t_now_ns();
		T_OK(ipk_send(rep, "ok", 2, 0, 0));
		T_ASSERT(t_ms_since(t0) < 100);
	}
	wait_bytes(rep, done[0], 1);
	say(go[1]);
	reap_all();
}

/* --- push/pull ---------------------------------------------------------- */

/* Three pushers, 500 messages each: the puller gets each exactly once. */
static void
case_pushpull(void)
{
	struct ipk_chan *pull = bind_url("pattern=pull");
	const int K = 3, N = 500;
	for (int k = 0; k < K; k++) {
		if (t_fork() != 0)
			continue;
		struct ipk_chan *p = c_dial(peer_url("push", ""));
		for (int i = 0; i < N; i++) {
			int v[2] = {k, i};
			C_OK(ipk_send(p, v, sizeof(v), 0, 5000));
		}
		/* Closing flushes; the puller reads what the socket holds. */
		ipk_close(p);
		_exit(0);
	}
	static unsigned char seen[3][500];
	int last[3] = {-1, -1, -1};
	for (int n = 0; n < K * N; n++) {
		int v[2];
		size_t len;
		T_OK(ipk_recv(pull, v, sizeof(v), &len, NULL, 10000));
		T_EQ(len, sizeof(v));
		T_ASSERT(v[0] >= 0 && v[0] < K && v[1] >= 0 && v[1] < N);
		T_ASSERT(!seen[v[0]][v[1]]);
		T_ASSERT(v[1] > last[v[0]]); /* in order per pusher */
		last[v[0]] = v[1];
		seen[v[0]][v[1]] = 1;
	}
	reap_all();
}

/* IPK_POLLOUT on a plain channel of the transport and on a req. */
static void
case_pollout(void)
{
	struct ipk_chan *rep = bind_url("pattern=rep");
	int ready[2];
	T_ASSERT(pipe(ready) == 0);
	if (t_fork() == 0) {
		struct ipk_chan *r = c_dial(peer_url("req", ""));
		struct ipk_pollitem it = {r, IPK_POLLOUT, 0};
		C_ASSERT(ipk_poll(&it, 1, 1000) == 1);
		C_ASSERT(it.revents == IPK_POLLOUT);
		C_OK(ipk_send(r, "q", 1, 0, 1000));
		it.events = IPK_POLLIN;
		C_ASSERT(ipk_poll(&it, 1, 10000) == 1);
		char a[8];
		size_t len;
		C_OK(ipk_recv(r, a, sizeof(a), &len, NULL, 0));
		say(ready[1]);
		ipk_close(r);
		_exit(0);
	}
	struct ipk_pollitem it = {rep, IPK_POLLIN | IPK_POLLOUT, 0};
	T_ASSERT(ipk_poll(&it, 1, 10000) >= 1);
	it.events = IPK_POLLIN;
	T_ASSERT(ipk_poll(&it, 1, 10000) == 1);
	char q[8];
	size_t len;
	T_OK(ipk_recv(rep, q, sizeof(q), &len, NULL, 0));
	it.events = IPK_POLLOUT;
	T_ASSERT(ipk_poll(&it, 1, 1000) == 1);
	T_OK(ipk_send(rep, "a", 1, 0, 0));
	wait_bytes(rep, ready[0], 1);
	reap_all();
}

/* What a role does not do is refused with a sentence. */
static void
case_misuse(void)
{
	struct ipk_chan *c;
	char buf[8];
	size_t len;
	url_make("pattern=pub");
	char plain[600];
	snprintf(plain, sizeof(plain), "%s", g_url);
	*strchr(plain, '?') = '\0';
	T_ERR(ipk_bind(plain, NULL, &c), -EINVAL);
	struct ipk_listener *l;
	T_ERR(ipk_listen(g_url, NULL, &l), -EINVAL);
	url_make("pattern=pub&topic=x");
	T_ERR(ipk_bind(g_url, NULL, &c), -EINVAL);
	url_make("pattern=bus");
	T_ERR(ipk_bind(g_url, NULL, &c), -EINVAL);
	url_make("pattern=sub&slow=block");
	T_ERR(ipk_bind(g_url, NULL, &c), -EINVAL);
	T_ERR(ipk_bind("fifo:///tmp/x?pattern=pub", NULL, &c), -ENOTSUP);
	struct ipk_chan *pub = bind_url("pattern=pub");
	T_ERR(ipk_recv(pub, buf, sizeof(buf), &len, NULL, 0), -ENOTSUP);
	T_ERR(ipk_subscribe(pub, "a", 1), -EINVAL);
	T_ERR(ipk_reply(pub, 0x80000001, "a", 1, 0, 0), -EINVAL);
	ipk_close(pub);
	g_main = NULL;
	if (!(g_caps & IPK_CAP_PATTERNS)) {
		/* pub/sub only: the other roles are refused with -ENOTSUP. */
		url_make("pattern=rep");
		T_ERR(ipk_bind(g_url, NULL, &c), -ENOTSUP);
		return;
	}
	struct ipk_chan *rep = bind_url("pattern=rep");
	T_ERR(ipk_send(rep, "a", 1, 0, 0), -EINVAL);
	uint64_t id;
	T_ERR(ipk_request_id(rep, &id), -EINVAL);
	T_ERR(ipk_reply(rep, 1, "a", 1, 0, 0), -EINVAL);
	/* A reply to a client that is not there is dropped, not an error. */
	T_OK(ipk_reply(rep, 0x1234567880000001ull, "a", 1, 0, 0));
	T_ASSERT(!strcmp(ipk_scheme(rep), g_scheme));
	T_ASSERT(ipk_caps(rep) & IPK_CAP_PATTERNS);
}

/* Cases that need only pub and sub (IPK_CAP_PUBSUB). */
static int
pubsub_case(const char *name)
{
	static const char *const ps[] = {"fanout", "drop", "block", "topic",
	    "history", "subkill", "pubkill", "misuse"};
	for (size_t i = 0; i < sizeof(ps) / sizeof(ps[0]); i++)
		if (!strcmp(ps[i], name))
			return 1;
	return 0;
}

static const struct {
	const char *name;
	void (*fn)(void);
} cases[] = {
#define X(n) {#n, case_##n},
    CASES(X)
#undef X
};

int
main(int argc, char **argv)
{
	t_watchdog(60);
	if (argc == 2 && !strcmp(argv[1], "--variants")) {
		for (const char *const *s = ipk_schemes(); *s; s++)
			/* (a broker's scheme needs a broker: tests/mqtt) */
			if ((ipk_scheme_caps(*s) &
				(IPK_CAP_PATTERNS | IPK_CAP_PUBSUB)) &&
			    !(ipk_scheme_caps(*s) & IPK_CAP_BROKER))
				printf("%s\n", *s);
		return 0;
	}
	if (argc == 2 && !strcmp(argv[1], "--list")) {
		for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
			printf("%s\n", cases[i].name);
		return 0;
	}
	if (argc != 3) {
		fprintf(stderr,
		    "usage: pattern SCHEME CASE | --list | "
		    "--variants\n");
		return 2;
	}
	g_scheme = argv[1];
	g_caps = ipk_scheme_caps(g_scheme);
	if (!(g_caps & (IPK_CAP_PATTERNS | IPK_CAP_PUBSUB)))
		T_SKIPF("%s has no patterns", g_scheme);
	if (!(g_caps & IPK_CAP_PATTERNS) && !pubsub_case(argv[2]))
		T_SKIPF("%s has only pub/sub", g_scheme);
	signal(SIGPIPE, SIG_IGN);
	t_cleanup_hook = cleanup;
	int fds0 = t_count_fds();
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		if (strcmp(cases[i].name, argv[2]) != 0)
			continue;
		cases[i].fn();
		cleanup();
		(void)fds0;
		printf("PASS pattern %s %s\n", g_scheme, argv[2]);
		return T_PASS;
	}
	fprintf(stderr, "unknown case %s\n", argv[2]);
	return 2;
}
