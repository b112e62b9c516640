/* SPDX-License-Identifier: MIT */
/*
 * sysv_test.c - System V queue specifics beyond the contract suite:
 * selective receive by type (in the kernel) and its ordering, a foreign
 * queue on our key is refused and left alone, a SIGKILLed reader reopens
 * and gets the queued messages, the queue is removed on close and kept
 * with keep=1, a queue left by a SIGKILLed creator is adopted with its
 * messages, records that are not ipckit's are refused, and so are
 * channel files with a bad record. Peers are forked
 * processes.
 */
#include <sys/msg.h>
#include <sys/resource.h>
#include <sys/wait.h>

#include "test.h"

static const char *const tags[] = {"-sel", "-seld", "-crash", "-keep",
    "-foreign", "-lcrash", "-raw", "-rec", "-rec2"};
static int foreign_ids[2] = {-1, -1};

static void
path_of(char *out, size_t n, const char *tag, const char *suffix)
{
	snprintf(out, n, "/tmp/%s%s%s", t_unique(), tag, suffix);
}

static void
objects_remove(void)
{
	char n[256];
	for (size_t i = 0; i < sizeof(tags) / sizeof(tags[0]); i++) {
		path_of(n, sizeof(n), tags[i], "");
		key_t k = ftok(n, 'i');
		int id = k == (key_t)-1 ? -1 : msgget(k, 0);
		if (id >= 0)
			msgctl(id, IPC_RMID, NULL);
		unlink(n);
		path_of(n, sizeof(n), tags[i], ".ring-l");
		unlink(n);
		path_of(n, sizeof(n), tags[i], ".ring-d");
		unlink(n);
	}
	for (int i = 0; i < 2; i++)
		if (foreign_ids[i] >= 0)
			msgctl(foreign_ids[i], IPC_RMID, NULL);
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
	snprintf(out, n, "sysv:///tmp/%s%s%s", t_unique(), tag, query);
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

static void
expect_typed(struct ipk_chan *c, const char *s, uint32_t type)
{
	char buf[256];
	size_t len = 0;
	T_OK(ipk_recv_type(c, type, buf, sizeof(buf) - 1, &len, 10000));
	buf[len] = '\0';
	if (strcmp(buf, s) != 0)
		T_FAILF("type %u: expected '%s', got '%s'", type, s, buf);
}

static struct ipk_chan *
dial(const char *u)
{
	struct ipk_opts o = {.timeout_ms = 10000};
	struct ipk_chan *c;
	T_OK(ipk_dial(u, &o, &c));
	return c;
}

/* The sender's interleaved types; "end" (type 9) is sent last. */
static void
send_mix(struct ipk_chan *c)
{
	send_str(c, "a1", 1);
	send_str(c, "b1", 2);
	send_str(c, "a2", 1);
	send_str(c, "c1", 3);
	send_str(c, "b2", 2);
	send_str(c, "a3", 1);
	send_str(c, "end", 9);
}

/* Receive by type: each type in send order, other types untouched and
 * still in send order for a plain receive. */
static void
check_mix(struct ipk_chan *c)
{
	expect_typed(c, "end", 9); /* everything else is queued by now */
	expect_typed(c, "b1", 2);
	char small[1];
	size_t len = 0;
	T_ERR(ipk_recv_type(c, 2, small, sizeof(small), &len, 1000), -EMSGSIZE);
	T_EQ(len, 2);
	expect_typed(c, "b2", 2);
	T_ERR(ipk_recv_type(c, 2, small, sizeof(small), &len, 0), -EAGAIN);
	expect_str(c, "a1", 1);
	expect_str(c, "a2", 1);
	expect_str(c, "c1", 3);
	expect_str(c, "a3", 1);
}

static void
test_select(void)
{
	char u[256];
	struct ipk_listener *l;
	struct ipk_chan *c;
	url(u, sizeof(u), "-sel", "");
	T_OK(ipk_listen(u, NULL, &l));
	pid_t p = t_fork();
	if (p == 0) {
		c = dial(u);
		send_mix(c);
		char b[8];
		size_t len;
		/* Messages to the dialer share one kernel type here. */
		T_ERR(ipk_recv_type(c, 1, b, sizeof(b), &len, 0), -ENOTSUP);
		expect_str(c, "bye", 0);
		ipk_close(c);
		_exit(0);
	}
	T_OK(ipk_accept(l, 10000, &c));
	check_mix(c);
	send_str(c, "bye", 0);
	t_reap(p);
	ipk_close(c);
	ipk_listener_close(l);

	/* ?select=dial turns it round. */
	url(u, sizeof(u), "-seld", "?select=dial");
	T_OK(ipk_listen(u, NULL, &l));
	p = t_fork();
	if (p == 0) {
		c = dial(u);
		check_mix(c);
		send_str(c, "bye", 0);
		ipk_close(c);
		_exit(0);
	}
	T_OK(ipk_accept(l, 10000, &c));
	send_mix(c);
	expect_str(c, "bye", 0);
	t_reap(p);
	ipk_close(c);
	ipk_listener_close(l);
	fprintf(stderr, "selective receive: ok\n");
}

/* A queue that merely has our key is refused with IPK_EFOREIGN, and left
 * as it was. */
static void
test_foreign(void)
{
	char path[256], u[256];
	struct ipk_listener *l = (void *)1;
	uint64_t s = t_seed();
	key_t key = (key_t)(0x69000000u | (uint32_t)(t_rand(&s) & 0xffffff));
	foreign_ids[0] = msgget(key, IPC_CREAT | IPC_EXCL | 0600);
	if (foreign_ids[0] < 0)
		T_SKIPF("key 0x%08x taken: %s", (unsigned)key, strerror(errno));
	struct {
		long mtype;
		char text[4];
	} m = {1, "hey"};
	T_ASSERT(msgsnd(foreign_ids[0], &m, 4, 0) == 0);
	snprintf(u, sizeof(u), "sysv:0x%08x", (unsigned)key);
	int rv = ipk_listen(u, NULL, &l);
	T_ERR(rv, IPK_EFOREIGN);
	T_ASSERT(l == NULL);
	fprintf(stderr, "  %s\n", ipk_strerror(rv));
	T_ASSERT(strstr(ipk_strerror(rv), "ipcrm"));
	char lock[64];
	snprintf(lock, sizeof(lock), "/dev/shm/ipk-sysv-0x%08x", (unsigned)key);
	T_ASSERT(access(lock, F_OK) != 0); /* the refused listen left nothing */

	/* The path form: a stale (empty) channel file whose ftok key is
	 * held by an unrelated queue. */
	path_of(path, sizeof(path), "-foreign", "");
	int fd = open(path, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	T_ASSERT(fd >= 0);
	close(fd);
	foreign_ids[1] = msgget(ftok(path, 'i'), IPC_CREAT | IPC_EXCL | 0600);
	T_ASSERT(foreign_ids[1] >= 0);
	url(u, sizeof(u), "-foreign", "");
	l = (void *)1;
	rv = ipk_listen(u, NULL, &l);
	T_ERR(rv, IPK_EFOREIGN);
	fprintf(stderr, "  %s\n", ipk_strerror(rv));

	/* Both foreign queues are untouched. */
	struct msqid_ds ds;
	T_ASSERT(msgctl(foreign_ids[0], IPC_STAT, &ds) == 0);
	T_EQ(ds.msg_qnum, 1);
	T_ASSERT(msgctl(foreign_ids[1], IPC_STAT, &ds) == 0);
	for (int i = 0; i < 2; i++) {
		msgctl(foreign_ids[i], IPC_RMID, NULL);
		foreign_ids[i] = -1;
	}
	unlink(path);
	fprintf(stderr, "foreign: ok\n");
}

/* The reader (dialer) is SIGKILLed while messages wait for it; it dials
 * again and gets them, in order. */
static void
test_reader_crash(void)
{
	char u[256];
	struct ipk_listener *l;
	struct ipk_chan *c;
	url(u, sizeof(u), "-crash", "");
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
	send_str(c, "m0", 0);
	expect_str(c, "ok", 0);
	send_str(c, "m1", 1);
	send_str(c, "m2", 2);
	kill(p, SIGKILL);
	waitpid(p, NULL, 0);
	t_forget(p);
	send_str(c, "m3", 3);
	char b[8];
	size_t len;
	uint32_t t;
	int rv = ipk_recv(c, b, sizeof(b), &len, &t, 100);
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
	/* Until the new dialer attaches, recv says the peer is gone. */
	int64_t end = t_now_ns() + 10000000000LL;
	while (
	    (rv = ipk_recv(c, b, sizeof(b), &len, &t, 1000)) == IPK_ECLOSED &&
	    t_now_ns() < end) {
		struct timespec ts = {0, 5000000};
		nanosleep(&ts, NULL); /* polling a fact: is the peer back? */
	}
	T_OK(rv);
	T_ASSERT(len == 4 && !memcmp(b, "done", 4));
	send_str(c, "bye", 0);
	t_reap(p);
	ipk_close(c);
	ipk_listener_close(l);
	fprintf(stderr, "reader crash: ok\n");
}

/* The creator (listener) is SIGKILLed: a new listener adopts the queue it
 * left, and the messages the dialer sent meanwhile. */
static void
test_listener_crash(void)
{
	char u[256], path[256];
	struct ipk_listener *l;
	struct ipk_chan *c;
	url(u, sizeof(u), "-lcrash", "");
	path_of(path, sizeof(path), "-lcrash", "");
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
	key_t k = ftok(path, 'i');
	int id = msgget(k, 0);
	T_ASSERT(id >= 0);
	send_str(c, "m1", 1);
	kill(p, SIGKILL);
	waitpid(p, NULL, 0);
	t_forget(p);
	send_str(c, "m2", 2);
	p = t_fork();
	if (p == 0) {
		struct ipk_chan *lc;
		T_OK(ipk_listen(u, NULL, &l));
		T_ASSERT(msgget(k, 0) == id); /* the same queue, adopted */
		T_OK(ipk_accept(l, 10000, &lc));
		expect_str(lc, "m1", 1);
		expect_str(lc, "m2", 2);
		send_str(lc, "done", 3);
		expect_str(lc, "bye", 0);
		ipk_close(lc);
		ipk_listener_close(l);
		_exit(0);
	}
	char b[8];
	size_t len;
	uint32_t t;
	int rv;
	int64_t end = t_now_ns() + 10000000000LL;
	while (
	    (rv = ipk_recv(c, b, sizeof(b), &len, &t, 1000)) == IPK_ECLOSED &&
	    t_now_ns() < end) {
		struct timespec ts = {0, 5000000};
		nanosleep(&ts, NULL); /* polling a fact: is the peer back? */
	}
	T_OK(rv);
	T_ASSERT(len == 4 && !memcmp(b, "done", 4));
	send_str(c, "bye", 0);
	t_reap(p);
	ipk_close(c);
	T_ASSERT(msgget(k, 0) < 0);
	fprintf(stderr, "listener crash: ok\n");
}

static int
queue_exists(key_t k)
{
	return msgget(k, 0) >= 0;
}

/* Removed on close; kept with keep=1 (and a later listener reuses it). */
static void
test_keep(void)
{
	char u[256], path[256];
	struct ipk_listener *l;
	struct ipk_chan *c, *d;
	path_of(path, sizeof(path), "-keep", "");
	url(u, sizeof(u), "-keep", "");
	T_OK(ipk_listen(u, NULL, &l));
	key_t k = ftok(path, 'i');
	T_ASSERT(k != (key_t)-1 && queue_exists(k));
	ipk_listener_close(l);
	T_ASSERT(!queue_exists(k));
	T_ASSERT(access(path, F_OK) != 0);

	url(u, sizeof(u), "-keep", "?keep=1");
	T_OK(ipk_listen(u, NULL, &l));
	k = ftok(path, 'i');
	d = dial(u);
	T_OK(ipk_accept(l, 10000, &c));
	send_str(d, "kept", 7);
	ipk_close(d);
	ipk_close(c);
	ipk_listener_close(l);
	T_ASSERT(queue_exists(k));
	T_ASSERT(access(path, F_OK) == 0);
	/* A new listener adopts the kept queue and its message. */
	url(u, sizeof(u), "-keep", "");
	T_OK(ipk_listen(u, NULL, &l));
	T_ASSERT(ftok(path, 'i') == k);
	d = dial(u);
	T_OK(ipk_accept(l, 10000, &c));
	expect_str(c, "kept", 7);
	ipk_close(d);
	ipk_close(c);
	ipk_listener_close(l);
	T_ASSERT(!queue_exists(k));
	fprintf(stderr, "keep: ok\n");
}

/* Not asserted: what an idle blocked receive costs (slices + doorbell). */
static void
measure_idle(void)
{
	char u[256];
	struct ipk_listener *l;
	struct ipk_chan *c, *d;
	url(u, sizeof(u), "-sel", "");
	T_OK(ipk_listen(u, NULL, &l));
	d = dial(u);
	T_OK(ipk_accept(l, 10000, &c));
	struct rusage r0, r1;
	char b[8];
	size_t len;
	uint32_t t;
	/* ipk_poll: the doorbell and the ready probe agree with recv. */
	struct ipk_pollitem it = {c, IPK_POLLIN, 0};
	T_EQ(ipk_poll(&it, 1, 20), -ETIMEDOUT);
	send_str(d, "polled", 5);
	T_EQ(ipk_poll(&it, 1, 10000), 1);
	T_ASSERT(it.revents & IPK_POLLIN);
	T_ERR(ipk_recv(c, b, 2, &len, &t, 0), -EMSGSIZE);
	T_EQ(ipk_poll(&it, 1, 0), 1); /* kept for a bigger buffer */
	T_OK(ipk_recv(c, b, sizeof(b), &len, &t, 0));
	T_EQ(len, 6);
	T_EQ(ipk_poll(&it, 1, 20), -ETIMEDOUT);
	getrusage(RUSAGE_SELF, &r0);
	int64_t t0 = t_now_ns();
	T_ERR(ipk_recv(c, b, sizeof(b), &len, &t, 1000), -ETIMEDOUT);
	double ms = t_ms_since(t0);
	getrusage(RUSAGE_SELF, &r1);
	double cpu = (double)(r1.ru_utime.tv_sec - r0.ru_utime.tv_sec) * 1e3 +
	    (double)(r1.ru_utime.tv_usec - r0.ru_utime.tv_usec) / 1e3 +
	    (double)(r1.ru_stime.tv_sec - r0.ru_stime.tv_sec) * 1e3 +
	    (double)(r1.ru_stime.tv_usec - r0.ru_stime.tv_usec) / 1e3;
	fprintf(stderr,
	    "idle recv: timeout 1000 ms returned after %.1f ms, "
	    "%.2f ms CPU (%.2f%% of a core)\n",
	    ms, cpu, cpu / ms * 100);
	int64_t n = 20000;
	t0 = t_now_ns();
	for (int64_t i = 0; i < n; i++) {
		T_OK(ipk_send(d, "x", 1, 1, 1000));
		T_OK(ipk_recv(c, b, sizeof(b), &len, &t, 1000));
	}
	fprintf(stderr, "send+recv in one thread: %.2f us per message\n",
	    t_ms_since(t0) * 1e3 / (double)n);
	ipk_close(d);
	ipk_close(c);
	ipk_listener_close(l);
}

/* Records that are not ipckit's, sent straight into the queue to the
 * typed (listener) side: shorter than the header (after a good one, so
 * stale header bytes sit in the receive buffer), without the magic, and
 * with a kernel type that does not match the ipckit type. Each is refused
 * with -EBADMSG and the channel carries on. */
static void
test_raw_records(void)
{
	char u[256], path[256];
	struct ipk_listener *l;
	struct ipk_chan *c;
	url(u, sizeof(u), "-raw", "");
	path_of(path, sizeof(path), "-raw", "");
	T_OK(ipk_listen(u, NULL, &l));
	pid_t p = t_fork();
	if (p == 0) {
		struct ipk_opts o = {.timeout_ms = 10000};
		T_OK(ipk_dial(u, &o, &c));
		send_str(c, "first", 0);
		expect_str(c, "done", 0);
		send_str(c, "last", 2);
		ipk_close(c);
		_exit(0);
	}
	T_OK(ipk_accept(l, 10000, &c));
	expect_str(c, "first", 0);
	int id = msgget(ftok(path, 'i'), 0);
	T_ASSERT(id >= 0);
	struct {
		long mtype;
		unsigned char text[16];
	} m[3] = {
	    {2, {0, 0}},
	    {2, {0, 0, 0, 0, 'n', 'o', 'p', 'e'}},
	    {5, {7, 0, 0, 0, 'i', 'p', 'k', 's', 'x'}},
	};
	static const size_t n[3] = {2, 8, 9};
	for (int i = 0; i < 3; i++)
		T_ASSERT(msgsnd(id, &m[i], n[i], IPC_NOWAIT) == 0);
	char b[256];
	size_t len;
	uint32_t t;
	for (int i = 0; i < 3; i++) {
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
}

/* The lock file of sysv:///path: /dev/shm/ipk-sysv-0x<ftok(path, 'i')>. */
static void
lock_of(char *out, size_t n, const char *path)
{
	key_t k = ftok(path, 'i');
	T_ASSERT(k != (key_t)-1);
	snprintf(out, n, "/dev/shm/ipk-sysv-0x%08x", (unsigned)k);
}

/* The channel's record (magic "IPKSYSV1", key, msqid, typed side) in its
 * lock file: a lock file ipckit did not make is not ours to take over (and
 * the key file, the user's, is only read), and a live listener's record
 * with a typed side that is neither side is refused by a dialer. */
static void
test_bad_records(void)
{
	char u[256], path[256];
	struct ipk_listener *l = NULL;
	struct ipk_chan *c = NULL;
	struct {
		char magic[8];
		int32_t key, msqid, typed_side, pad;
	} rec = {"IPKSYSV0", 0, 0, 0, 0};
	char lock[64];
	url(u, sizeof(u), "-rec", "");
	path_of(path, sizeof(path), "-rec", "");
	int fd = open(path, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	T_ASSERT(fd >= 0 && write(fd, "user data\n", 10) == 10);
	close(fd);
	lock_of(lock, sizeof(lock), path);
	fd = open(lock, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	T_ASSERT(fd >= 0);
	T_ASSERT(write(fd, &rec, sizeof(rec)) == (ssize_t)sizeof(rec));
	close(fd);
	int rv = ipk_listen(u, NULL, &l);
	T_ERR(rv, IPK_EFOREIGN);
	fprintf(stderr, "bad record: %s\n", ipk_strerror(rv));
	struct stat st;
	T_ASSERT(stat(lock, &st) == 0 && st.st_size == (off_t)sizeof(rec));
	T_ASSERT(stat(path, &st) == 0 && st.st_size == 10);
	unlink(lock);
	unlink(path);

	url(u, sizeof(u), "-rec2", "");
	path_of(path, sizeof(path), "-rec2", "");
	T_OK(ipk_listen(u, NULL, &l));
	lock_of(lock, sizeof(lock), path);
	fd = open(lock, O_RDWR | O_CLOEXEC);
	T_ASSERT(fd >= 0);
	/* another magic in the queue record of a live listener's lock file */
	char magic[8];
	T_ASSERT(pread(fd, magic, 8, 0) == 8);
	T_ASSERT(pwrite(fd, "IPKSYSV0", 8, 0) == 8);
	struct ipk_opts o = {.timeout_ms = 1000};
	rv = ipk_dial(u, &o, &c);
	T_ERR(rv, IPK_EFOREIGN);
	fprintf(stderr, "bad queue record: %s\n", ipk_strerror(rv));
	T_ASSERT(pwrite(fd, magic, 8, 0) == 8);
	int32_t side = 7;
	T_ASSERT(pwrite(fd, &side, 4, 16) == 4);
	close(fd);
	rv = ipk_dial(u, &o, &c);
	T_ERR(rv, IPK_EFOREIGN);
	fprintf(stderr, "bad typed side: %s\n", ipk_strerror(rv));
	ipk_listener_close(l);

	/* sysv:0xKEY: a record naming another queue of ours (its key and
	 * msqid), or our key with another msqid, is refused. */
	uint64_t seed = t_seed();
	key_t key = (key_t)(0x6a000000u | (uint32_t)(t_rand(&seed) & 0xffffff));
	key_t other = key ^ 0x00800000;
	foreign_ids[1] = msgget(other, IPC_CREAT | IPC_EXCL | 0600);
	if (foreign_ids[1] < 0)
		T_SKIPF(
		    "key 0x%08x taken: %s", (unsigned)other, strerror(errno));
	snprintf(u, sizeof(u), "sysv:0x%08x", (unsigned)key);
	snprintf(path, sizeof(path), "/dev/shm/ipk-sysv-0x%08x", (unsigned)key);
	for (int i = 0; i < 2; i++) {
		T_OK(ipk_listen(u, NULL, &l));
		fd = open(path, O_RDWR | O_CLOEXEC);
		T_ASSERT(fd >= 0 &&
		    pread(fd, &rec, sizeof(rec), 0) == (ssize_t)sizeof(rec));
		if (i == 0) {
			rec.key = other;
			rec.msqid = foreign_ids[1];
		} else {
			rec.msqid = foreign_ids[1];
		}
		T_ASSERT(
		    pwrite(fd, &rec, sizeof(rec), 0) == (ssize_t)sizeof(rec));
		close(fd);
		rv = ipk_dial(u, &o, &c);
		T_ERR(rv, IPK_EFOREIGN);
		fprintf(stderr, "record of %s: %s\n",
		    i ? "another msqid" : "another queue", ipk_strerror(rv));
		ipk_listener_close(l);
	}
	msgctl(foreign_ids[1], IPC_RMID, NULL);
	foreign_ids[1] = -1;
}

int
main(void)
{
	t_watchdog(60);
	t_cleanup_hook = cleanup;
	test_select();
	test_foreign();
	test_raw_records();
	test_bad_records();
	test_reader_crash();
	test_listener_crash();
	test_keep();
	measure_idle();
	char n[256];
	for (size_t i = 0; i < sizeof(tags) / sizeof(tags[0]); i++) {
		path_of(n, sizeof(n), tags[i], "");
		if (access(n, F_OK) == 0) {
			cleanup();
			T_FAILF("%s left behind", n);
		}
	}
	printf("PASS sysv\n");
	return 0;
}
