/* SPDX-License-Identifier: MIT */
/*
 * shm_test.c - what only shm:// promises, with real processes: data
 * outlives the writer until read, a reader killed mid-stream resumes where
 * it left off, a third process scribbling on the segment cannot crash
 * anyone, one endpoint per side, mode 0600 whatever the umask, size errors
 * that name a size= that fits, foreign or broken segments refused, and a
 * full /dev/shm reported at open.
 */
#include <sched.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include "test.h"

#define SHM_MAGIC 0x00314d48534b5049ull /* as in src/transport/shm.c */

static char names[40][128];
static int nnames;

static void
cleanup(void)
{
	char path[200];
	for (int i = 0; i < nnames; i++) {
		shm_unlink(names[i]);
		for (int s = 0; s < 2; s++) {
			snprintf(path, sizeof(path), "/dev/shm%.120s.bell%d",
			    names[i], s);
			unlink(path);
		}
	}
}

/* A fresh segment name "/<unique>-tag" and its URL with `query`. */
static const char *
name_for(const char *tag, const char *query, char *url, size_t n)
{
	T_ASSERT(nnames < 40);
	snprintf(names[nnames], sizeof(names[0]), "/%s-%s", t_unique(), tag);
	snprintf(
	    url, n, "shm://%s%s%s", names[nnames], *query ? "?" : "", query);
	return names[nnames++];
}

static int
exists(const char *name)
{
	char path[200];
	struct stat st;
	snprintf(path, sizeof(path), "/dev/shm%.120s", name);
	return stat(path, &st) == 0;
}

static int
wait_child(pid_t pid)
{
	int st;
	T_ASSERT(waitpid(pid, &st, 0) == pid);
	if (WIFSIGNALED(st))
		T_FAILF("child %d died of signal %d", (int)pid, WTERMSIG(st));
	return WEXITSTATUS(st);
}

static void
send_seq(struct ipk_chan *c, uint64_t seq, size_t len)
{
	unsigned char buf[256];
	memcpy(buf, &seq, 8);
	t_fill(buf + 8, len - 8, 77, seq);
	T_OK(ipk_send(c, buf, len, (uint32_t)seq, 5000));
}

static void
expect_seq(struct ipk_chan *c, uint64_t seq)
{
	unsigned char buf[256];
	size_t len = 0;
	uint32_t type = 0;
	T_OK(ipk_recv(c, buf, sizeof(buf), &len, &type, 5000));
	uint64_t got;
	memcpy(&got, buf, 8);
	T_EQ(got, seq);
	T_EQ(type, (uint32_t)seq);
	T_ASSERT(t_check(buf + 8, len - 8, 77, seq));
}

/* The writer exits after writing; the reader comes later and gets it all. */
static void
test_writer_exits(void)
{
	char url[256];
	const char *name = name_for("persist", "", url, sizeof(url));
	struct ipk_opts o = {.timeout_ms = 5000};
	/* (a) The listener writes and exits; a dialer reads afterwards. */
	pid_t w = fork();
	if (w == 0) {
		struct ipk_listener *l;
		struct ipk_chan *c;
		T_OK(ipk_listen(url, NULL, &l));
		T_OK(ipk_accept(l, 5000, &c));
		for (uint64_t i = 0; i < 1000; i++)
			send_seq(c, i, 8 + i % 200);
		ipk_close(c);
		ipk_listener_close(l);
		_exit(0);
	}
	struct ipk_chan *d;
	T_OK(ipk_dial(url, &o, &d)); /* lets the writer's accept return */
	ipk_close(d);
	T_EQ(wait_child(w), 0);
	T_ASSERT(exists(name));
	/* Lingering, it stays registered (so gc finds it), with no one alive.
	 */
	struct ipk_objinfo oi;
	T_OK(ipk_inspect(url, &oi));
	T_ASSERT(oi.registered && oi.exists);
	T_EQ(oi.nalive, 0);
	T_OK(ipk_dial(url, NULL, &d));
	for (uint64_t i = 0; i < 1000; i++)
		expect_seq(d, i);
	char b[8];
	size_t len;
	T_ERR(ipk_recv(d, b, sizeof(b), &len, NULL, 100), IPK_ECLOSED);
	ipk_close(d);
	T_ASSERT(!exists(name)); /* the last reader removed it */
	int rv = ipk_inspect(url, &oi);
	T_ASSERT(rv == -ENOENT || (rv == 0 && !oi.registered && !oi.exists));

	/* (b) The dialer writes and exits; the listener accepts later. */
	name = name_for("persist2", "", url, sizeof(url));
	struct ipk_listener *l;
	T_OK(ipk_listen(url, NULL, &l));
	w = fork();
	if (w == 0) {
		struct ipk_chan *c;
		T_OK(ipk_dial(url, &o, &c));
		for (uint64_t i = 0; i < 1000; i++)
			send_seq(c, i, 8 + i % 200);
		_exit(0); /* no close: as if it crashed */
	}
	T_EQ(wait_child(w), 0);
	struct ipk_chan *c;
	T_OK(ipk_accept(l, 5000, &c));
	for (uint64_t i = 0; i < 1000; i++)
		expect_seq(c, i);
	T_ERR(ipk_recv(c, b, sizeof(b), &len, NULL, 100), IPK_ECLOSED);
	ipk_close(c);
	ipk_listener_close(l);
	T_ASSERT(!exists(name));
	fprintf(stderr, "writer exits: ok\n");
}

#define RESTART_N 20000
#define RESTART_KILLS 5

struct rlog {
	uint32_t count[RESTART_N];
	int64_t holding; /* seq between peek and release, or -1 */
	uint64_t done; /* messages released */
};

static void
restart_reader(const char *url, struct rlog *lg)
{
	struct ipk_opts o = {.timeout_ms = 5000};
	struct ipk_chan *c;
	T_OK(ipk_dial(url, &o, &c));
	for (;;) {
		const void *p;
		size_t len;
		uint32_t type;
		T_OK(ipk_peek(c, &p, &len, &type, 5000));
		uint64_t seq;
		T_ASSERT(len >= 8);
		memcpy(&seq, p, 8);
		T_ASSERT(seq < RESTART_N && type == (uint32_t)seq);
		__atomic_store_n(&lg->holding, (int64_t)seq, __ATOMIC_SEQ_CST);
		__atomic_add_fetch(&lg->count[seq], 1, __ATOMIC_SEQ_CST);
		T_OK(ipk_release(c));
		__atomic_store_n(&lg->holding, -1, __ATOMIC_SEQ_CST);
		__atomic_add_fetch(&lg->done, 1, __ATOMIC_SEQ_CST);
		if (seq == RESTART_N - 1)
			break;
	}
	ipk_close(c);
	_exit(0);
}

/* A reader SIGKILLed mid-stream and restarted loses nothing; it sees a
 * message twice only when it was killed between peek and release. */
static void
test_reader_restart(void)
{
	char url[256];
	(void)name_for("restart", "size=16K", url, sizeof(url));
	struct rlog *lg = mmap(NULL, sizeof(*lg), PROT_READ | PROT_WRITE,
	    MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	T_ASSERT(lg != MAP_FAILED);
	lg->holding = -1;
	struct ipk_listener *l;
	T_OK(ipk_listen(url, NULL, &l));
	pid_t r = fork();
	if (r == 0)
		restart_reader(url, lg);
	struct ipk_chan *c;
	T_OK(ipk_accept(l, 5000, &c));
	uint64_t rnd = t_seed();
	int64_t held[RESTART_KILLS];
	int kills = 0;
	uint64_t next_kill = 1000 + t_rand(&rnd) % 3000;
	for (uint64_t i = 0; i < RESTART_N;) {
		int rv = 0;
		if (i < RESTART_N) {
			unsigned char buf[64];
			memcpy(buf, &i, 8);
			rv = ipk_send(c, buf, 8 + i % 50, (uint32_t)i, 50);
			if (rv == 0)
				i++;
			else if (rv != IPK_ECLOSED && rv != -ETIMEDOUT)
				T_FAILF("send: %s", ipk_strerror(rv));
		}
		if (kills < RESTART_KILLS &&
		    __atomic_load_n(&lg->done, __ATOMIC_SEQ_CST) >= next_kill) {
			kill(r, SIGKILL);
			int st;
			T_ASSERT(waitpid(r, &st, 0) == r);
			held[kills++] = lg->holding;
			lg->holding = -1;
			next_kill = lg->done + 500 + t_rand(&rnd) % 3000;
			r = fork();
			if (r == 0)
				restart_reader(url, lg);
		}
	}
	T_EQ(wait_child(r), 0);
	int dups = 0;
	for (uint64_t s = 0; s < RESTART_N; s++) {
		if (lg->count[s] == 0)
			T_FAILF("message %llu lost", (unsigned long long)s);
		if (lg->count[s] > 1) {
			int ok = 0;
			for (int k = 0; k < kills; k++)
				ok |= held[k] == (int64_t)s;
			if (!ok || lg->count[s] > 2)
				T_FAILF("message %llu seen %u times, not held "
					"at a kill",
				    (unsigned long long)s, lg->count[s]);
			dups++;
		}
	}
	fprintf(stderr, "reader restart: %d kills, %d duplicates, no loss\n",
	    kills, dups);
	T_ASSERT(kills == RESTART_KILLS);
	ipk_close(c);
	ipk_listener_close(l);
	munmap(lg, sizeof(*lg));
}

/* Both ends talk with short timeouts; any result other than these is a
 * failure, and so is a crash. */
static int
scribble_ok(int rv)
{
	return rv == 0 || rv == IPK_ECORRUPT || rv == -ETIMEDOUT ||
	    rv == IPK_ECLOSED || rv == -EMSGSIZE;
}

static int
scribble_talk(struct ipk_chan *c, int64_t until, uint64_t seed)
{
	unsigned char buf[4096];
	long n = 0, bad = 0;
	while (t_now_ns() < until) {
		size_t len = t_rand(&seed) % sizeof(buf);
		int rv = ipk_send(c, buf, len, 1, 20);
		if (!scribble_ok(rv))
			T_FAILF("send: %d %s", rv, ipk_strerror(rv));
		rv = ipk_recv(c, buf, sizeof(buf), &len, NULL, 20);
		if (!scribble_ok(rv))
			T_FAILF("recv: %d %s", rv, ipk_strerror(rv));
		const void *p;
		if ((rv = ipk_peek(c, &p, &len, NULL, 1)) == 0) {
			volatile unsigned char x = 0;
			for (size_t i = 0; i < len; i++)
				x ^= ((const unsigned char *)p)[i];
			(void)x;
			rv = ipk_release(c);
		}
		if (!scribble_ok(rv))
			T_FAILF("peek: %d %s", rv, ipk_strerror(rv));
		bad += rv == IPK_ECORRUPT;
		n++;
	}
	return (int)(bad > 0);
}

/* A third process writes random bytes into the header and the rings
 * during a transfer: nobody crashes or reads out of bounds. */
static void
test_scribbler(const char *wait)
{
	char url[256], q[64];
	snprintf(q, sizeof(q), "size=16K&wait=%s", wait);
	const char *name = name_for(wait, q, url, sizeof(url));
	struct ipk_listener *l;
	T_OK(ipk_listen(url, NULL, &l));
	int64_t until = t_now_ns() + 1500000000;
	pid_t d = fork();
	if (d == 0) {
		struct ipk_opts o = {.timeout_ms = 5000};
		struct ipk_chan *c;
		T_OK(ipk_dial(url, &o, &c));
		scribble_talk(c, until, 99);
		ipk_close(c);
		_exit(0);
	}
	struct ipk_chan *c;
	T_OK(ipk_accept(l, 5000, &c));
	pid_t s = fork();
	if (s == 0) {
		int fd = shm_open(name, O_RDWR, 0);
		struct stat st;
		T_ASSERT(fd >= 0 && fstat(fd, &st) == 0);
		unsigned char *m = mmap(NULL, (size_t)st.st_size,
		    PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
		T_ASSERT(m != MAP_FAILED);
		uint64_t r = t_seed();
		/* Let the transfer start, then scribble every ~100 us. */
		struct timespec ts = {0, 100000};
		nanosleep(&ts, NULL);
		while (t_now_ns() < until - 300000000) {
			uint64_t v = t_rand(&r);
			size_t off;
			switch (v % 4) {
			case 0: /* header */
				off = t_rand(&r) % 4096;
				break;
			case 1: /* ring controls */
				off = 4096 + t_rand(&r) % 1024;
				break;
			default: /* record headers and payloads */
				off = 8192 +
				    t_rand(&r) % ((size_t)st.st_size - 8192);
				break;
			}
			off &= ~(size_t)7;
			uint64_t vals[] = {t_rand(&r), 0, 0xffffffffu,
			    0x7fffffffu, 16385, 0xffffffffffffffffull,
			    t_rand(&r) & 0xffff0};
			uint64_t x = vals[t_rand(&r) % 7];
			memcpy(m + off, &x, 8);
			nanosleep(&ts, NULL);
		}
		_exit(0);
	}
	int saw = scribble_talk(c, until, 7);
	T_EQ(wait_child(s), 0);
	T_EQ(wait_child(d), 0);
	fprintf(stderr, "scribbler (%s): no crash%s\n", wait,
	    saw ? ", corruption reported" : "");
	ipk_close(c);
	ipk_listener_close(l);
	shm_unlink(name);
}

/* Sleeping strategies must not lose a wake-up: 200 round trips where each
 * side sleeps every time. A lost wake-up costs a whole liveness slice
 * (20 ms), so 400 of them would take 8 s; the bound is 100x the ~10 us a
 * wake-up costs here, generous for a loaded machine. */
static void
test_wakeups(const char *wait)
{
	char url[256], q[64], tag[32];
	snprintf(q, sizeof(q), "wait=%s", wait);
	snprintf(tag, sizeof(tag), "wake-%s", wait);
	(void)name_for(tag, q, url, sizeof(url));
	struct ipk_listener *l;
	T_OK(ipk_listen(url, NULL, &l));
	pid_t p = fork();
	if (p == 0) {
		struct ipk_opts o = {.timeout_ms = 5000};
		struct ipk_chan *c;
		char b[8];
		size_t len;
		T_OK(ipk_dial(url, &o, &c));
		for (int i = 0; i < 200; i++) {
			T_OK(ipk_recv(c, b, sizeof(b), &len, NULL, 5000));
			T_OK(ipk_send(c, b, len, 0, 5000));
		}
		ipk_close(c);
		_exit(0);
	}
	struct ipk_chan *c;
	T_OK(ipk_accept(l, 5000, &c));
	char b[8] = "x";
	size_t len;
	int64_t t0 = t_now_ns();
	for (int i = 0; i < 200; i++) {
		T_OK(ipk_send(c, b, 1, 0, 5000));
		T_OK(ipk_recv(c, b, sizeof(b), &len, NULL, 5000));
	}
	double ms = t_ms_since(t0);
	fprintf(
	    stderr, "wake-ups (%s): 200 round trips in %.1f ms\n", wait, ms);
	T_ASSERT(ms < 2000.0);
	T_EQ(wait_child(p), 0);
	ipk_close(c);
	ipk_listener_close(l);
}

/* The listener is SIGKILLed; a new listener on the same name takes the
 * segment over and the dialer carries on. A SIGSTOPped peer is never
 * reported dead. */
static void
test_listener_restart(void)
{
	char url[256];
	(void)name_for("lrestart", "", url, sizeof(url));
	int ready[2];
	T_ASSERT(pipe(ready) == 0);
	pid_t p = fork();
	if (p == 0) {
		struct ipk_listener *l;
		struct ipk_chan *c;
		T_OK(ipk_listen(url, NULL, &l));
		T_ASSERT(write(ready[1], "x", 1) == 1);
		T_OK(ipk_accept(l, 5000, &c));
		T_OK(ipk_send(c, "first", 5, 1, 1000));
		for (;;)
			pause();
	}
	char b[16];
	size_t len;
	T_ASSERT(read(ready[0], b, 1) == 1);
	struct ipk_chan *d;
	T_OK(ipk_dial(url, NULL, &d));
	T_OK(ipk_recv(d, b, sizeof(b), &len, NULL, 5000));
	T_EQ(len, 5);
	/* Frozen: calls time out, the peer is not declared dead. */
	kill(p, SIGSTOP);
	T_ERR(ipk_recv(d, b, sizeof(b), &len, NULL, 200), -ETIMEDOUT);
	kill(p, SIGCONT);
	kill(p, SIGKILL);
	waitpid(p, NULL, 0);
	close(ready[0]);
	close(ready[1]);
	int64_t t0 = t_now_ns();
	T_ERR(ipk_recv(d, b, sizeof(b), &len, NULL, 5000), IPK_ECLOSED);
	T_ASSERT(t_ms_since(t0) < 1000.0);
	/* Written while nobody listens: kept for the next listener. */
	T_OK(ipk_send(d, "second", 6, 2, 1000));
	struct ipk_listener *l;
	struct ipk_chan *c;
	T_OK(ipk_listen(url, NULL, &l));
	T_OK(ipk_accept(l, 1000, &c));
	uint32_t type;
	T_OK(ipk_recv(c, b, sizeof(b), &len, &type, 1000));
	T_EQ(len, 6);
	T_EQ(type, 2);
	T_OK(ipk_send(c, "third", 5, 3, 1000));
	T_OK(ipk_recv(d, b, sizeof(b), &len, &type, 1000));
	T_EQ(type, 3);
	ipk_close(d);
	ipk_close(c);
	ipk_listener_close(l);
	fprintf(stderr, "listener restart: ok\n");
}

static void
test_one_per_side(void)
{
	char url[256];
	(void)name_for("side", "", url, sizeof(url));
	struct ipk_listener *l, *l2 = (void *)1;
	struct ipk_chan *a, *b = (void *)1;
	T_OK(ipk_listen(url, NULL, &l));
	T_ERR(ipk_listen(url, NULL, &l2), -EADDRINUSE);
	T_OK(ipk_dial(url, NULL, &a));
	int rv = ipk_dial(url, NULL, &b);
	T_ERR(rv, IPK_EBUSYSIDE);
	T_ASSERT(b == NULL);
	fprintf(stderr, "second dialer: %s\n", ipk_strerror(rv));
	struct ipk_chan *c, *c2;
	T_OK(ipk_accept(l, 1000, &c));
	T_ERR(ipk_accept(l, 0, &c2), -EBUSY);
	/* The dialer goes away and comes back: the conversation goes on. */
	T_OK(ipk_send(c, "one", 3, 1, 1000));
	ipk_close(a);
	T_OK(ipk_dial(url, NULL, &a));
	char buf[8];
	size_t len;
	T_OK(ipk_recv(a, buf, sizeof(buf), &len, NULL, 1000));
	T_EQ(len, 3);
	ipk_close(a);
	ipk_close(c);
	ipk_listener_close(l);
}

static void
test_mode(void)
{
	char url[256], path[200];
	struct stat st;
	mode_t old = umask(0);
	const char *name = name_for("mode", "", url, sizeof(url));
	snprintf(path, sizeof(path), "/dev/shm%.120s", name);
	struct ipk_listener *l;
	T_OK(ipk_listen(url, NULL, &l));
	T_ASSERT(stat(path, &st) == 0);
	T_EQ(st.st_mode & 0777, 0600);
	struct ipk_chan *d;
	T_OK(ipk_dial(url, NULL, &d));
	int fd = ipk_fd(d);
	T_ASSERT(fd >= 0);
	snprintf(path, sizeof(path), "/dev/shm%.120s.bell1", name);
	T_ASSERT(stat(path, &st) == 0 && S_ISFIFO(st.st_mode));
	T_EQ(st.st_mode & 0777, 0600);
	ipk_close(d);
	ipk_listener_close(l);
	umask(old);
	T_ASSERT(!exists(name));
	T_ASSERT(stat(path, &st) < 0);

	/* ?keep=1 leaves the segment for later (or `ipckit rm`). */
	name = name_for("keep", "keep=1", url, sizeof(url));
	T_OK(ipk_listen(url, NULL, &l));
	T_OK(ipk_dial(url, NULL, &d));
	ipk_close(d);
	ipk_listener_close(l);
	T_ASSERT(exists(name));
	T_OK(ipk_remove(url, 0));
	T_ASSERT(!exists(name));
}

static void
test_oversize(void)
{
	char url[256];
	(void)name_for("big", "size=64K", url, sizeof(url));
	struct ipk_listener *l;
	struct ipk_chan *d;
	T_OK(ipk_listen(url, NULL, &l));
	T_OK(ipk_dial(url, NULL, &d));
	T_EQ(ipk_max_msg(d), 65536 - 16);
	static unsigned char big[100000];
	int rv = ipk_send(d, big, sizeof(big), 1, 0);
	T_ERR(rv, -EMSGSIZE);
	const char *msg = ipk_strerror(rv);
	fprintf(stderr, "oversize: %s\n", msg);
	T_ASSERT(strstr(msg, "size=128K would fit"));
	ipk_close(d);
	ipk_listener_close(l);
	/* And it does. */
	(void)name_for("big2", "size=128K", url, sizeof(url));
	T_OK(ipk_listen(url, NULL, &l));
	T_OK(ipk_dial(url, NULL, &d));
	T_OK(ipk_send(d, big, sizeof(big), 1, 0));
	ipk_close(d);
	ipk_listener_close(l);
}

/* Make an object by hand: `magic`, `version`, a header claiming 4K rings,
 * and `size` bytes. */
static void
make_seg(const char *name, uint64_t magic, uint32_t version, off_t size)
{
	int fd = shm_open(name, O_RDWR | O_CREAT | O_EXCL, 0600);
	T_ASSERT(fd >= 0);
	T_ASSERT(ftruncate(fd, size) == 0);
	unsigned char hdr[32] = {0};
	uint64_t cap = 4096, seg = 8192 + 2 * 4096;
	memcpy(hdr, &magic, 8);
	memcpy(hdr + 8, &version, 4);
	memcpy(hdr + 16, &seg, 8);
	memcpy(hdr + 24, &cap, 8);
	T_ASSERT(pwrite(fd, hdr, sizeof(hdr), 0) == (ssize_t)sizeof(hdr));
	close(fd);
}

/* A segment whose header is consistent with its size but claims rings of
 * `cap` bytes. */
static void
make_seg_cap(const char *name, uint64_t cap)
{
	uint64_t magic = SHM_MAGIC, seg = 8192 + 2 * cap;
	uint32_t version = 2;
	int fd = shm_open(name, O_RDWR | O_CREAT | O_EXCL, 0600);
	T_ASSERT(fd >= 0);
	T_ASSERT(ftruncate(fd, (off_t)seg) == 0);
	unsigned char hdr[32] = {0};
	memcpy(hdr, &magic, 8);
	memcpy(hdr + 8, &version, 4);
	memcpy(hdr + 16, &seg, 8);
	memcpy(hdr + 24, &cap, 8);
	T_ASSERT(pwrite(fd, hdr, sizeof(hdr), 0) == (ssize_t)sizeof(hdr));
	close(fd);
}

static void
test_bad_segments(void)
{
	char url[256];
	struct ipk_chan *d = (void *)1;
	struct ipk_listener *l = (void *)1;
	const char *name = name_for("magic", "", url, sizeof(url));
	make_seg(name, 0x1122334455667788ull, 1, 16384);
	int rv = ipk_dial(url, NULL, &d);
	T_ERR(rv, IPK_EFOREIGN);
	fprintf(stderr, "bad magic: %s\n", ipk_strerror(rv));
	T_ERR(ipk_listen(url, NULL, &l), IPK_EFOREIGN);
	T_ERR(ipk_remove(url, 0), IPK_EFOREIGN);
	T_ASSERT(exists(name)); /* not ours to remove */
	shm_unlink(name);

	name = name_for("version", "", url, sizeof(url));
	make_seg(name, SHM_MAGIC, 99, 16384);
	rv = ipk_dial(url, NULL, &d);
	T_ERR(rv, IPK_ECORRUPT);
	fprintf(stderr, "bad version: %s\n", ipk_strerror(rv));
	/* A broken segment of ours that nobody uses is reclaimed. */
	T_OK(ipk_listen(url, NULL, &l));
	ipk_listener_close(l);

	name = name_for("size", "", url, sizeof(url));
	make_seg(name, SHM_MAGIC, 2, 12288);
	rv = ipk_dial(url, NULL, &d);
	T_ERR(rv, IPK_ECORRUPT);
	fprintf(stderr, "bad size: %s\n", ipk_strerror(rv));
	T_ASSERT(d == NULL);
	shm_unlink(name);

	/* Sizes agree, but the rings are below the 4 KiB minimum, or not a
	 * power of two. */
	static const uint64_t caps[] = {32, 6144};
	for (int i = 0; i < 2; i++) {
		name = name_for(i ? "cap2" : "cap", "", url, sizeof(url));
		make_seg_cap(name, caps[i]);
		rv = ipk_dial(url, NULL, &d);
		T_ERR(rv, IPK_ECORRUPT);
		shm_unlink(name);
	}
	fprintf(stderr, "bad ring size: %s\n", ipk_strerror(rv));

	/* Shorter than any segment, but not empty (an empty one is still
	 * being made, and dial waits for it). */
	name = name_for("short", "", url, sizeof(url));
	int fd = shm_open(name, O_RDWR | O_CREAT | O_EXCL, 0600);
	T_ASSERT(fd >= 0 && ftruncate(fd, 100) == 0);
	close(fd);
	struct ipk_opts o = {.timeout_ms = 100};
	rv = ipk_dial(url, &o, &d);
	T_ERR(rv, IPK_ECORRUPT);
	fprintf(stderr, "short object: %s\n", ipk_strerror(rv));
	shm_unlink(name);

	/* A good segment, but readable by others, or someone else's. */
	for (int i = 0; i < 2; i++) {
		name = name_for(i ? "owner" : "wide", "", url, sizeof(url));
		make_seg_cap(name, 4096);
		fd = shm_open(name, O_RDWR, 0);
		T_ASSERT(fd >= 0);
		if (i == 0)
			T_ASSERT(fchmod(fd, 0644) == 0);
		else if (geteuid() != 0 || fchown(fd, 65534, 65534) < 0) {
			fprintf(
			    stderr, "foreign owner: skipped (needs root)\n");
			close(fd);
			shm_unlink(name);
			continue;
		}
		close(fd);
		rv = ipk_dial(url, &o, &d);
		T_ERR(rv, -EACCES);
		fprintf(stderr, "%s: %s\n", i ? "foreign owner" : "wide mode",
		    ipk_strerror(rv));
		shm_unlink(name);
	}
}

/* The segment is replaced between dial and accept: accept refuses the
 * stranger. The consumer's doorbell is replaced by a regular file: the
 * producer does not write into it. */
static void
test_replaced(void)
{
	char url[256], path[256];
	struct ipk_listener *l;
	struct ipk_chan *c, *d;
	struct ipk_opts o = {.timeout_ms = 1000};
	const char *name = name_for("swap", "size=4K", url, sizeof(url));
	T_OK(ipk_listen(url, NULL, &l));
	T_OK(ipk_dial(url, &o, &d));
	T_ASSERT(shm_unlink(name) == 0);
	int fd = shm_open(name, O_RDWR | O_CREAT | O_EXCL, 0600);
	T_ASSERT(fd >= 0 && ftruncate(fd, 16384) == 0);
	close(fd);
	int rv = ipk_accept(l, 1000, &c);
	T_ERR(rv, -ENOENT);
	fprintf(stderr, "replaced segment: %s\n", ipk_strerror(rv));
	ipk_close(d);
	ipk_listener_close(l);
	shm_unlink(name);

	name = name_for("bell", "size=4K", url, sizeof(url));
	T_OK(ipk_listen(url, NULL, &l));
	T_OK(ipk_dial(url, &o, &d));
	T_OK(ipk_accept(l, 1000, &c));
	T_ASSERT(ipk_fd(c) >= 0);
	snprintf(path, sizeof(path), "/dev/shm%s.bell0", name);
	T_ASSERT(unlink(path) == 0);
	fd = open(path, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	T_ASSERT(fd >= 0);
	T_OK(ipk_send(d, "x", 1, 0, 1000));
	struct stat st;
	T_ASSERT(fstat(fd, &st) == 0);
	close(fd);
	T_EQ(st.st_size, 0);
	char b[8];
	size_t len;
	uint32_t t;
	T_OK(ipk_recv(c, b, sizeof(b), &len, &t, 1000));
	T_EQ(len, 1);
	ipk_close(d);
	ipk_close(c);
	ipk_listener_close(l);
	unlink(path);
}

/* One hand-made object per rejection path of the dialer's segment check
 * and of the ring attach: `cap` and `seg` as the header says, `size` bytes,
 * `mode`, and ring 1's (dialer to listener) tail and head. */
struct bad_seg {
	const char *what;
	uint64_t magic, cap, seg;
	off_t size;
	mode_t mode;
	uint64_t tail0, tail1, head1;
	int want;
	uid_t owner; /* 0: ours; else chown to it (root only) */
	const char *query;
	uint64_t head0; /* ring 0's head (the dialer consumes ring 0) */
};

static void
test_bad_headers(void)
{
	const uint64_t k4 = 4096, ok = 8192 + 2 * 4096;
	/* what, magic, cap, seg, size, mode, tail0, tail1, head1, want,
	 * owner, query */
	static const struct bad_seg segs[] = {
	    {"mode wider than 0600", SHM_MAGIC, k4, ok, ok, 0644, 0, 0, 0,
		-EACCES, 0, "", 0},
	    {"too small", SHM_MAGIC, k4, ok, 100, 0600, 0, 0, 0, IPK_ECORRUPT,
		0, "", 0},
	    {"empty (being made)", SHM_MAGIC, k4, ok, 0, 0600, 0, 0, 0,
		-ECONNREFUSED, 0, "", 0},
	    {"no magic yet", 0, k4, ok, ok, 0600, 0, 0, 0, -ECONNREFUSED, 0, "",
		0},
	    {"rings under 4K", SHM_MAGIC, 1024, 8192 + 2048, 8192 + 2048, 0600,
		0, 0, 0, IPK_ECORRUPT, 0, "", 0},
	    {"rings over 1G", SHM_MAGIC, 1ull << 31, ok, ok, 0600, 0, 0, 0,
		IPK_ECORRUPT, 0, "", 0},
	    {"rings not a power of two", SHM_MAGIC, 6144, 8192 + 12288,
		8192 + 12288, 0600, 0, 0, 0, IPK_ECORRUPT, 0, "", 0},
	    {"header size wrong", SHM_MAGIC, k4, 20480, 20480, 0600, 0, 0, 0,
		IPK_ECORRUPT, 0, "", 0},
	    /* Dead listener, unread data: the dialer attaches, and then
	     * finds the indices of a ring broken. */
	    {"producer tail misaligned", SHM_MAGIC, k4, ok, ok, 0600, 16, 8, 0,
		IPK_ECORRUPT, 0, "", 0},
	    {"producer tail past the ring", SHM_MAGIC, k4, ok, ok, 0600, 16,
		2 * k4, 0, IPK_ECORRUPT, 0, "", 0},
	    {"consumer head misaligned", SHM_MAGIC, k4, ok, ok, 0600, 16, 0, 0,
		IPK_ECORRUPT, 0, "", 8},
	    {"another uid's", SHM_MAGIC, k4, ok, ok, 0600, 0, 0, 0, -EACCES,
		65534, "", 0},
	    {"another uid's, not the allowed one", SHM_MAGIC, k4, ok, ok, 0600,
		0, 0, 0, -EACCES, 65534, "&allow=65533", 0},
	    {"another uid's, allowed", SHM_MAGIC, k4, ok, ok, 0600, 0, 0, 0,
		-ECONNREFUSED, 65534, "&allow=65534", 0},
	};
	for (size_t i = 0; i < sizeof(segs) / sizeof(segs[0]); i++) {
		const struct bad_seg *b = &segs[i];
		char name[128], url[192];
		snprintf(name, sizeof(name), "/%s-hdr%zu", t_unique(), i);
		snprintf(
		    url, sizeof(url), "shm://%s?timeout=0%s", name, b->query);
		int fd = shm_open(name, O_RDWR | O_CREAT | O_EXCL, 0600);
		T_ASSERT(fd >= 0);
		if (b->owner && fchown(fd, b->owner, (gid_t)-1) < 0) {
			fprintf(stderr, "%s: skipped (chown: %s)\n", b->what,
			    strerror(errno));
			close(fd);
			T_ASSERT(shm_unlink(name) == 0);
			continue;
		}
		T_ASSERT(fchmod(fd, b->mode) == 0);
		T_ASSERT(ftruncate(fd, b->size) == 0);
		if (b->size >= 8192) {
			uint32_t version = 2;
			uint64_t ctl[2][9] = {{0}};
			ctl[0][0] = b->tail0;
			ctl[0][8] = b->head0;
			ctl[1][0] = b->tail1;
			ctl[1][8] = b->head1; /* head: the next cache line */
			T_ASSERT(pwrite(fd, &version, 4, 8) == 4);
			T_ASSERT(pwrite(fd, &b->seg, 8, 16) == 8);
			T_ASSERT(pwrite(fd, &b->cap, 8, 24) == 8);
			T_ASSERT(pwrite(fd, ctl[0], 72, 4096) == 72);
			T_ASSERT(pwrite(fd, ctl[1], 72, 4608) == 72);
			T_ASSERT(pwrite(fd, &b->magic, 8, 0) == 8);
		}
		close(fd);
		struct ipk_chan *d = (void *)1;
		int rv = ipk_dial(url, NULL, &d);
		fprintf(stderr, "%s: %s\n", b->what, ipk_strerror(rv));
		T_ERR(rv, b->want);
		T_ASSERT(d == NULL);
		T_ASSERT(shm_unlink(name) == 0);
	}
}

/* /dev/shm too small: the error comes at listen, never a SIGBUS later. */
static void
test_full(void)
{
	pid_t p = fork();
	if (p == 0) {
		if (unshare(CLONE_NEWNS) < 0 ||
		    mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0 ||
		    mount("tmpfs", "/dev/shm", "tmpfs", 0, "size=1m") < 0) {
			fprintf(stderr, "full /dev/shm: skipped (%s)\n",
			    strerror(errno));
			_exit(77);
		}
		struct ipk_listener *l;
		int rv = ipk_listen("shm:///full?size=4M", NULL, &l);
		fprintf(stderr, "full /dev/shm: %s\n", ipk_strerror(rv));
		T_ERR(rv, -ENOSPC);
		T_ASSERT(!exists("/full"));
		T_OK(ipk_listen("shm:///small?size=64K", NULL, &l));
		ipk_listener_close(l);
		_exit(0);
	}
	int st = wait_child(p);
	T_ASSERT(st == 0 || st == 77);
}

/* `shm_test quick`: without the /dev/shm-full and scribbler runs (the
 * negative-control run, tests/negative/run.sh). */
int
main(int argc, char **argv)
{
	int quick = argc > 1 && !strcmp(argv[1], "quick");
	t_watchdog(100);
	t_cleanup_hook = cleanup;
	test_writer_exits();
	test_reader_restart();
	test_wakeups("futex");
	test_wakeups("sem");
	test_listener_restart();
	test_one_per_side();
	test_mode();
	test_oversize();
	test_bad_segments();
	test_bad_headers();
	test_replaced();
	if (!quick) {
		test_full();
		test_scribbler("adaptive");
		test_scribbler("futex");
		test_scribbler("sem");
		test_scribbler("spin");
	}
	cleanup();
	printf("PASS shm\n");
	return T_PASS;
}
