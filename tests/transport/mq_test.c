/* SPDX-License-Identifier: MIT */
/*
 * mq_test.c - POSIX queue specifics beyond the contract suite: priorities
 * overtake, limits are named in errors (also in a private IPC namespace with
 * lowered sysctls when allowed), queued messages survive a crash of either
 * reader and are delivered after it reopens, records that are not ipckit's
 * are refused. Peers are forked processes.
 */
#include <mqueue.h>
#include <sched.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/wait.h>

#include "test.h"

static const char *const tags[] = {
    "-prio", "-crash", "-lcrash", "-lim", "-ns", "-raw", "-tiny"};

static void
objects_remove(void)
{
	char n[256];
	for (size_t i = 0; i < sizeof(tags) / sizeof(tags[0]); i++) {
		snprintf(n, sizeof(n), "/%s%s.ipk-l", t_unique(), tags[i]);
		mq_unlink(n);
		snprintf(n, sizeof(n), "/%s%s.ipk-d", t_unique(), tags[i]);
		mq_unlink(n);
		snprintf(n, sizeof(n), "/%s%s.ipk-lock", t_unique(), tags[i]);
		shm_unlink(n);
	}
}

static void
cleanup(void)
{
	t_kill_children();
	objects_remove();
}

static void
url(char *out, size_t n, const char *tag, const char *query)
{
	snprintf(out, n, "mq:///%s%s%s", t_unique(), tag, query);
}

static void
send_str(struct ipk_chan *c, const char *s, uint32_t type)
{
	T_OK(ipk_send(c, s, strlen(s), type, 10000));
}

static void
expect_str(struct ipk_chan *c, const char *s, uint32_t type)
{
	char buf[256];
	size_t len = 0;
	uint32_t t = 0;
	T_OK(ipk_recv(c, buf, sizeof(buf) - 1, &len, &t, 10000));
	buf[len] = '\0';
	if (strcmp(buf, s) != 0)
		T_FAILF("expected '%s', got '%s'", s, buf);
	T_EQ(t, type);
}

/* A receive that waits for a peer that is (re)attaching. */
static void
expect_str_reattach(struct ipk_chan *c, const char *s, uint32_t type)
{
	char buf[256];
	size_t len = 0;
	uint32_t t = 0;
	int64_t end = t_now_ns() + 10000000000LL;
	int rv;
	while ((rv = ipk_recv(c, buf, sizeof(buf) - 1, &len, &t, 1000)) ==
		IPK_ECLOSED &&
	    t_now_ns() < end) {
		struct timespec ts = {0, 5000000};
		nanosleep(&ts, NULL); /* polling a fact: is the peer back? */
	}
	T_OK(rv);
	buf[len] = '\0';
	if (strcmp(buf, s) != 0)
		T_FAILF("expected '%s', got '%s'", s, buf);
	T_EQ(t, type);
}

static struct ipk_chan *
dial(const char *u)
{
	struct ipk_opts o = {.timeout_ms = 10000};
	struct ipk_chan *c;
	T_OK(ipk_dial(u, &o, &c));
	return c;
}

/* ?prio=type: a higher type overtakes; equal priorities keep their order. */
static void
test_prio(void)
{
	char u[256], du[300];
	struct ipk_listener *l;
	struct ipk_chan *c;
	url(u, sizeof(u), "-prio", "");
	snprintf(du, sizeof(du), "%s?prio=type", u);
	T_OK(ipk_listen(u, NULL, &l));
	/* A refused second listen must not remove the live one's queues. */
	struct ipk_listener *l2 = (void *)1;
	snprintf(du, sizeof(du), "%s?depth=100000", u);
	T_ERR(ipk_listen(du, NULL, &l2), -EINVAL);
	T_ERR(ipk_listen(u, NULL, &l2), -EADDRINUSE);
	snprintf(du, sizeof(du), "%s?prio=type", u);
	pid_t p = t_fork();
	if (p == 0) {
		c = dial(du);
		expect_str(c, "go", 0);
		send_str(c, "a", 1);
		send_str(c, "b", 1);
		send_str(c, "c", 5);
		send_str(c, "d", 3);
		send_str(c, "e", 0);
		ipk_close(c);
		_exit(0);
	}
	T_OK(ipk_accept(l, 10000, &c));
	send_str(c, "go", 0);
	t_reap(p);
	/* The sender is gone; its queued messages still come, by priority. */
	expect_str(c, "c", 5);
	expect_str(c, "d", 3);
	expect_str(c, "a", 1);
	expect_str(c, "b", 1);
	expect_str(c, "e", 0);
	char b[8];
	size_t len;
	uint32_t t;
	T_ERR(ipk_recv(c, b, sizeof(b), &len, &t, 100), IPK_ECLOSED);
	ipk_close(c);
	ipk_listener_close(l);
	snprintf(du, sizeof(du), "%s?prio=40000", u);
	T_ERR(ipk_listen(du, NULL, &l2), -EINVAL);
	fprintf(stderr, "prio: ok\n");
}

/* Records that are not ipckit's, written straight into the listener's
 * queue: shorter than the header (after a good one, so stale header bytes
 * sit in the receive buffer), and without the magic. Each is refused with
 * -EBADMSG and the channel carries on. */
static void
test_raw_records(void)
{
	char u[256], qn[300];
	struct ipk_listener *l;
	struct ipk_chan *c;
	url(u, sizeof(u), "-raw", "");
	T_OK(ipk_listen(u, NULL, &l));
	pid_t p = t_fork();
	if (p == 0) {
		c = dial(u);
		send_str(c, "first", 0);
		expect_str(c, "done", 0);
		send_str(c, "last", 2);
		ipk_close(c);
		_exit(0);
	}
	T_OK(ipk_accept(l, 10000, &c));
	expect_str(c, "first", 0);
	snprintf(qn, sizeof(qn), "/%s-raw.ipk-l", t_unique());
	mqd_t q = mq_open(qn, O_WRONLY);
	T_ASSERT(q != (mqd_t)-1);
	const unsigned char nomagic[12] = {
	    0, 0, 0, 0, 'n', 'o', 'p', 'e', 'a', 'b', 'c', 'd'};
	T_ASSERT(mq_send(q, "xy", 2, 0) == 0);
	T_ASSERT(mq_send(q, (const char *)nomagic, sizeof(nomagic), 0) == 0);
	mq_close(q);
	char b[256];
	size_t len;
	uint32_t t;
	for (int i = 0; i < 2; i++) {
		int rv = ipk_recv(c, b, sizeof(b), &len, &t, 10000);
		if (rv != -EBADMSG)
			T_FAILF("raw record %d: %d, want -EBADMSG", i, rv);
	}
	send_str(c, "done", 0);
	expect_str(c, "last", 2);
	t_reap(p);
	ipk_close(c);
	ipk_listener_close(l);
	fprintf(stderr, "raw records: ok\n");

	/* The queue to the dialer is swapped for one too small for any
	 * ipckit record: the dialer refuses it. */
	url(u, sizeof(u), "-tiny", "");
	T_OK(ipk_listen(u, NULL, &l));
	snprintf(qn, sizeof(qn), "/%s-tiny.ipk-d", t_unique());
	T_ASSERT(mq_unlink(qn) == 0);
	struct mq_attr a = {.mq_maxmsg = 1, .mq_msgsize = 4};
	q = mq_open(qn, O_RDWR | O_CREAT | O_EXCL, 0600, &a);
	T_ASSERT(q != (mqd_t)-1);
	mq_close(q);
	struct ipk_opts o = {.timeout_ms = 1000};
	int rv = ipk_dial(u, &o, &c);
	T_ERR(rv, IPK_EFOREIGN);
	fprintf(stderr, "tiny queue: %s\n", ipk_strerror(rv));
	ipk_listener_close(l);
}

/* The dialing reader is SIGKILLed; messages sent meanwhile wait in the
 * queue and a new dialer gets them. Also: the size error names msgsize=. */
static void
test_reader_crash(void)
{
	char u[256];
	struct ipk_listener *l;
	struct ipk_chan *c;
	url(u, sizeof(u), "-crash", "?msgsize=256");
	T_OK(ipk_listen(u, NULL, &l));
	pid_t p = t_fork();
	if (p == 0) {
		c = dial(u);
		expect_str(c, "m0", 0);
		send_str(c, "ok", 0);
		for (;;)
			pause();
	}
	T_OK(ipk_accept(l, 10000, &c));
	T_EQ(ipk_max_msg(c), 248);
	char big[249];
	memset(big, 'x', sizeof(big));
	int rv = ipk_send(c, big, sizeof(big), 0, 0);
	T_ERR(rv, -EMSGSIZE);
	if (!strstr(ipk_strerror(rv), "248") ||
	    !strstr(ipk_strerror(rv), "msgsize=256"))
		T_FAILF("size error lacks the limit: %s", ipk_strerror(rv));
	send_str(c, "m0", 0);
	expect_str(c, "ok", 0);
	t_reap_kill(p);
	send_str(c, "m1", 1);
	send_str(c, "m2", 2);
	send_str(c, "m3", 3);
	char b[8];
	size_t len;
	uint32_t t;
	rv = ipk_recv(c, b, sizeof(b), &len, &t, 100);
	T_ASSERT(rv == IPK_ECLOSED || rv == -ETIMEDOUT);
	p = t_fork();
	if (p == 0) {
		c = dial(u);
		expect_str(c, "m1", 1);
		expect_str(c, "m2", 2);
		expect_str(c, "m3", 3);
		send_str(c, "done", 4);
		expect_str(c, "bye", 0);
		ipk_close(c);
		_exit(0);
	}
	expect_str_reattach(c, "done", 4);
	send_str(c, "bye", 0);
	t_reap(p);
	ipk_close(c);
	ipk_listener_close(l);
	fprintf(stderr, "reader crash: ok\n");
}

/* The listening reader is SIGKILLed; a new listener reclaims the address,
 * keeps the queues and delivers what the dialer sent meanwhile. */
static void
test_listener_crash(void)
{
	char u[256];
	struct ipk_listener *l;
	struct ipk_chan *c;
	url(u, sizeof(u), "-lcrash", "");
	pid_t p = t_fork();
	if (p == 0) {
		T_OK(ipk_listen(u, NULL, &l));
		T_OK(ipk_accept(l, 10000, &c));
		send_str(c, "ready", 0);
		for (;;)
			pause();
	}
	c = dial(u);
	expect_str(c, "ready", 0);
	send_str(c, "m1", 1);
	send_str(c, "m2", 2);
	t_reap_kill(p);
	send_str(c, "m3", 3);
	p = t_fork();
	if (p == 0) {
		struct ipk_chan *lc;
		T_OK(ipk_listen(u, NULL, &l));
		T_OK(ipk_accept(l, 10000, &lc));
		expect_str(lc, "m1", 1);
		expect_str(lc, "m2", 2);
		expect_str(lc, "m3", 3);
		send_str(lc, "done", 4);
		expect_str(lc, "bye", 0);
		ipk_close(lc);
		ipk_listener_close(l);
		_exit(0);
	}
	expect_str_reattach(c, "done", 4);
	send_str(c, "bye", 0);
	t_reap(p);
	ipk_close(c);
	fprintf(stderr, "listener crash: ok\n");
}

static long
proc_long(const char *path)
{
	FILE *f = fopen(path, "r");
	long v = -1;
	if (f) {
		if (fscanf(f, "%ld", &v) != 1)
			v = -1;
		fclose(f);
	}
	return v;
}

static void
expect_limit(const char *u, const char *words)
{
	struct ipk_listener *l = (void *)1;
	int rv = ipk_listen(u, NULL, &l);
	T_ERR(rv, -EINVAL);
	T_ASSERT(l == NULL);
	if (!strstr(ipk_strerror(rv), words))
		T_FAILF(
		    "error does not name '%s': %s", words, ipk_strerror(rv));
	fprintf(stderr, "  %s\n", ipk_strerror(rv));
}

static void
test_limits(void)
{
	char u[256], q[64];
	long size_max = proc_long("/proc/sys/fs/mqueue/msgsize_max");
	long msg_max = proc_long("/proc/sys/fs/mqueue/msg_max");
	T_ASSERT(size_max > 0 && msg_max > 0);
	snprintf(q, sizeof(q), "?msgsize=%ld", size_max + 1);
	url(u, sizeof(u), "-lim", q);
	snprintf(q, sizeof(q), "msgsize_max=%ld", size_max);
	expect_limit(u, q);
	snprintf(q, sizeof(q), "?depth=%ld", msg_max + 1);
	url(u, sizeof(u), "-lim", q);
	snprintf(q, sizeof(q), "msg_max=%ld", msg_max);
	expect_limit(u, q);

	pid_t p = t_fork();
	if (p == 0) {
		struct rlimit rl = {4096, 4096};
		T_ASSERT(setrlimit(RLIMIT_MSGQUEUE, &rl) == 0);
		url(u, sizeof(u), "-lim", "?depth=4&msgsize=1024");
		expect_limit(u, "RLIMIT_MSGQUEUE=4096");
		_exit(0);
	}
	t_reap(p);

	/* Lowered sysctls in a private IPC namespace (root only). */
	p = t_fork();
	if (p == 0) {
		if (unshare(CLONE_NEWIPC) < 0) {
			fprintf(stderr,
			    "  namespace part skipped: unshare: "
			    "%s\n",
			    strerror(errno));
			_exit(0);
		}
		FILE *f = fopen("/proc/sys/fs/mqueue/msg_max", "w");
		T_ASSERT(f && fprintf(f, "3\n") > 0 && fclose(f) == 0);
		f = fopen("/proc/sys/fs/mqueue/msgsize_max", "w");
		T_ASSERT(f && fprintf(f, "128\n") > 0 && fclose(f) == 0);
		url(u, sizeof(u), "-ns", "?depth=4");
		expect_limit(u, "fs.mqueue.msg_max=3");
		url(u, sizeof(u), "-ns", "?msgsize=129");
		expect_limit(u, "fs.mqueue.msgsize_max=128");
		struct ipk_listener *l;
		url(u, sizeof(u), "-ns", "");
		T_OK(ipk_listen(u, NULL, &l));
		ipk_listener_close(l);
		_exit(0);
	}
	t_reap(p);
	fprintf(stderr, "limits: ok\n");
}

int
main(void)
{
	t_watchdog(60);
	t_cleanup_hook = cleanup;
	test_prio();
	test_raw_records();
	test_reader_crash();
	test_listener_crash();
	test_limits();
	char n[256];
	for (size_t i = 0; i < sizeof(tags) / sizeof(tags[0]); i++) {
		snprintf(n, sizeof(n), "/%s%s.ipk-l", t_unique(), tags[i]);
		mqd_t q = mq_open(n, O_RDONLY);
		if (q != (mqd_t)-1) {
			mq_close(q);
			cleanup();
			T_FAILF("queue %s left behind", n);
		}
		snprintf(n, sizeof(n), "/dev/shm/%s%s.ipk-lock", t_unique(),
		    tags[i]);
		if (access(n, F_OK) == 0) {
			cleanup();
			T_FAILF("%s left behind", n);
		}
	}
	printf("PASS mq\n");
	return 0;
}
