/* SPDX-License-Identifier: MIT */
/*
 * test.h - the small test kit every ipckit test uses: assertions that print
 * the expression, expected and actual codes with ipk_strerror; exit codes
 * 0 pass / 1 fail / 77 skip; unique names per run; a monotonic clock; and a
 * watchdog so no test can hang.
 */
#ifndef IPK_TEST_H
#define IPK_TEST_H

#include <errno.h>
#include <fcntl.h>
#include <mqueue.h>
#include <sched.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "ipckit.h"

#define T_PASS 0
#define T_FAIL 1
#define T_SKIP 77

/* Called before exiting on failure (remove kernel objects). */
static void (*t_cleanup_hook)(void);

static inline void
t_fail_exit(void)
{
	if (t_cleanup_hook)
		t_cleanup_hook();
	exit(T_FAIL);
}

#define T_FAILF(...)                                                           \
	do {                                                                   \
		fprintf(stderr, "FAIL %s:%d: ", __FILE__, __LINE__);           \
		fprintf(stderr, __VA_ARGS__);                                  \
		fprintf(stderr, "\n");                                         \
		t_fail_exit();                                                 \
	} while (0)

#define T_ASSERT(x)                                                            \
	do {                                                                   \
		if (!(x))                                                      \
			T_FAILF("assertion failed: %s", #x);                   \
	} while (0)

/* An ipckit call that must succeed. */
#define T_OK(x)                                                                \
	do {                                                                   \
		int t_rv_ = (x);                                               \
		if (t_rv_ != 0)                                                \
			T_FAILF("%s\n  expected 0, got %d %s: %s", #x, t_rv_,  \
			    ipk_errname(t_rv_), ipk_strerror(t_rv_));          \
	} while (0)

/* An ipckit call that must fail with exactly `code`. */
#define T_ERR(x, code)                                                         \
	do {                                                                   \
		int t_rv_ = (x);                                               \
		if (t_rv_ != (code))                                           \
			T_FAILF("%s\n  expected %d %s, got %d %s: %s", #x,     \
			    (int)(code), ipk_errname(code), t_rv_,             \
			    ipk_errname(t_rv_), ipk_strerror(t_rv_));          \
	} while (0)

#define T_EQ(a, b)                                                             \
	do {                                                                   \
		long long t_a_ = (long long)(a), t_b_ = (long long)(b);        \
		if (t_a_ != t_b_)                                              \
			T_FAILF("%s == %s\n  expected %lld, got %lld", #a, #b, \
			    t_b_, t_a_);                                       \
	} while (0)

#define T_SKIPF(...)                                                           \
	do {                                                                   \
		fprintf(stderr, "SKIP: ");                                     \
		fprintf(stderr, __VA_ARGS__);                                  \
		fprintf(stderr, "\n");                                         \
		if (t_cleanup_hook)                                            \
			t_cleanup_hook();                                      \
		exit(T_SKIP);                                                  \
	} while (0)

static inline int64_t
t_now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static inline double
t_ms_since(int64_t t0)
{
	return (double)(t_now_ns() - t0) / 1e6;
}

/* A name unique to this run: "ipkt-<pid>-<random>". */
static inline const char *
t_unique(void)
{
	static char name[64];
	if (!name[0]) {
		unsigned r =
		    (unsigned)t_now_ns() ^ (unsigned)getpid() * 2654435761u;
		snprintf(name, sizeof(name), "ipkt-%d-%08x", (int)getpid(), r);
	}
	return name;
}

/* The seed of this run: IPK_TEST_SEED or random; printed on failure. */
static inline uint64_t
t_seed(void)
{
	static uint64_t seed;
	if (!seed) {
		const char *s = getenv("IPK_TEST_SEED");
		seed = s ? strtoull(s, NULL, 0) : (uint64_t)t_now_ns() | 1;
		fprintf(stderr, "seed: IPK_TEST_SEED=0x%llx\n",
		    (unsigned long long)seed);
	}
	return seed;
}

/* xorshift64*: deterministic pseudo-random stream from a state. */
static inline uint64_t
t_rand(uint64_t *s)
{
	*s ^= *s >> 12;
	*s ^= *s << 25;
	*s ^= *s >> 27;
	return *s * 2685821657736338717ull;
}

/* Fill buf with bytes derived from (seed, seq): a receiver can recompute
 * them and so check every byte. */
static inline void
t_fill(void *buf, size_t n, uint64_t seed, uint64_t seq)
{
	uint64_t s = seed ^ (seq * 0x9e3779b97f4a7c15ull) ^ n;
	if (!s)
		s = 1;
	unsigned char *p = buf;
	size_t i = 0;
	for (; i + 8 <= n; i += 8) {
		uint64_t v = t_rand(&s);
		memcpy(p + i, &v, 8);
	}
	uint64_t v = t_rand(&s);
	for (; i < n; i++, v >>= 8)
		p[i] = (unsigned char)v;
}

static inline int
t_check(const void *buf, size_t n, uint64_t seed, uint64_t seq)
{
	unsigned char tmp[4096];
	const unsigned char *p = buf;
	if (n <= sizeof(tmp)) {
		t_fill(tmp, n, seed, seq);
		return memcmp(tmp, p, n) == 0;
	}
	unsigned char *big = malloc(n);
	if (!big)
		return 0;
	t_fill(big, n, seed, seq);
	int ok = memcmp(big, p, n) == 0;
	free(big);
	return ok;
}

/* Number of open descriptors of this process. */
static inline int
t_count_fds(void)
{
	int n = 0;
	for (int fd = 0; fd < 4096; fd++)
		if (fcntl(fd, F_GETFD) >= 0)
			n++;
	return n;
}

/* Wait (bounded) until thread/process `tid` sleeps in the kernel: the LTP
 * way to know a call is blocked without sleeping as synchronisation. */
static inline int
t_wait_blocked(pid_t pid, pid_t tid, int timeout_ms)
{
	char path[96];
	snprintf(
	    path, sizeof(path), "/proc/%d/task/%d/stat", (int)pid, (int)tid);
	int64_t end = t_now_ns() + (int64_t)timeout_ms * 1000000;
	while (t_now_ns() < end) {
		FILE *f = fopen(path, "r");
		if (!f)
			return -1;
		char buf[512];
		size_t n = fread(buf, 1, sizeof(buf) - 1, f);
		fclose(f);
		buf[n] = '\0';
		char *rp = strrchr(buf, ')');
		if (rp && rp[1] == ' ' && rp[2] == 'S')
			return 0;
		struct timespec ts = {0, 200000};
		nanosleep(&ts, NULL); /* polling a fact, not synchronising */
	}
	return -1;
}

/* The watchdog: the default SIGALRM action ends a stuck test. */
static inline void
t_watchdog(unsigned seconds)
{
	signal(SIGALRM, SIG_DFL);
	alarm(seconds);
}

/* --- Child processes of a test ---------------------------------------------
 * t_fork() forks and remembers the child (in the child: returns 0 and
 * drops the cleanup hook, which belongs to the parent); t_reap() waits for
 * one that must exit 0; t_reap_kill() SIGKILLs and reaps one;
 * t_kill_children() ends every child still remembered (failure paths). */
#define T_MAXKIDS 64
static pid_t t_kids[T_MAXKIDS];
static int t_nkids;

static inline void
t_forget(pid_t p)
{
	for (int i = 0; i < t_nkids; i++)
		if (t_kids[i] == p)
			t_kids[i] = 0;
}

static inline void
t_kill_children(void)
{
	for (int i = 0; i < t_nkids; i++)
		if (t_kids[i] > 0) {
			kill(t_kids[i], SIGKILL);
			waitpid(t_kids[i], NULL, 0);
			t_kids[i] = 0;
		}
}

static inline pid_t
t_fork(void)
{
	pid_t p = fork();
	T_ASSERT(p >= 0);
	if (p == 0) {
		t_cleanup_hook = NULL;
		t_nkids = 0;
		return 0;
	}
	T_ASSERT(t_nkids < T_MAXKIDS);
	t_kids[t_nkids++] = p;
	return p;
}

static inline void
t_reap(pid_t p)
{
	int st;
	T_ASSERT(waitpid(p, &st, 0) == p);
	t_forget(p);
	if (WIFSIGNALED(st))
		T_FAILF("child %d killed by signal %d", (int)p, WTERMSIG(st));
	T_EQ(WEXITSTATUS(st), 0);
}

static inline void
t_reap_kill(pid_t p)
{
	kill(p, SIGKILL);
	waitpid(p, NULL, 0);
	t_forget(p);
}

/* --- POSIX queues without /dev/mqueue -------------------------------------
 * The queues belong to the IPC namespace and work whether or not an mqueue
 * file system is mounted; only listing them by pattern, or reading their
 * mode as a file, needs one. Tests name a queue "/dev/mqueue/NAME" either
 * way: t_obj_stat() reads such a name through mq_open, any other path
 * through lstat. t_mqueue_dir() finds a mounted mqueue file system, or
 * mounts one for this process alone. */

static inline int
t_obj_stat(const char *path, struct stat *st)
{
	static const char mqp[] = "/dev/mqueue/";
	if (strncmp(path, mqp, sizeof(mqp) - 1) != 0)
		return lstat(path, st);
	char q[300];
	snprintf(q, sizeof(q), "/%.255s", path + sizeof(mqp) - 1);
	mqd_t d = mq_open(q, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
	if (d == (mqd_t)-1)
		return -1;
	int rv = fstat((int)d, st);
	mq_close(d);
	return rv;
}

static inline int
t_obj_exists(const char *path)
{
	struct stat st;
	return t_obj_stat(path, &st) == 0 || errno != ENOENT;
}

static char t_mqfs_dir[64];
static pid_t t_mqfs_owner;

static inline void
t_mqfs_unmount(void)
{
	if (t_mqfs_owner != getpid()) /* a forked child shares the mount */
		return;
	(void)umount2(t_mqfs_dir, MNT_DETACH);
	(void)rmdir(t_mqfs_dir);
}

/* Where the mqueue file system of this process is mounted: the one in
 * /proc/self/mountinfo ("... MOUNTPOINT OPTS [TAGS] - mqueue ..."); else,
 * as root, one mounted in a private mount namespace of this process (and
 * the children it forks later) on a fresh /tmp/ipk-mqfs.XXXXXX, unmounted
 * and removed at exit. NULL when neither is possible (not root), with the
 * reason printed once. Call it before starting threads. */
static inline const char *
t_mqueue_dir(void)
{
	static char dir[512];
	static int tried;
	if (tried)
		return dir[0] ? dir : NULL;
	tried = 1;
	FILE *f = fopen("/proc/self/mountinfo", "r");
	char line[1024];
	while (f && fgets(line, sizeof(line), f))
		/* NOLINTNEXTLINE(cert-err34-c): the kernel's own table */
		if (strstr(line, " - mqueue ") &&
		    sscanf(line, "%*s %*s %*s %*s %511s", dir) == 1 &&
		    !strchr(dir, '\\'))
			break;
		else
			dir[0] = '\0';
	if (f)
		fclose(f);
	if (dir[0])
		return dir;
	snprintf(t_mqfs_dir, sizeof(t_mqfs_dir), "/tmp/ipk-mqfs.XXXXXX");
	if (geteuid() != 0 || unshare(CLONE_NEWNS) != 0 ||
	    mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) != 0 ||
	    !mkdtemp(t_mqfs_dir)) {
		fprintf(stderr,
		    "note: no mqueue file system, and none can be "
		    "mounted here (needs root): queues are checked "
		    "by the names the test knows\n");
		return NULL;
	}
	if (mount("mqueue", t_mqfs_dir, "mqueue", 0, NULL) != 0) {
		fprintf(stderr, "note: mount -t mqueue on %s: %s\n", t_mqfs_dir,
		    strerror(errno));
		(void)rmdir(t_mqfs_dir);
		return NULL;
	}
	t_mqfs_owner = getpid();
	atexit(t_mqfs_unmount);
	snprintf(dir, sizeof(dir), "%s", t_mqfs_dir);
	return dir;
}

#endif /* IPK_TEST_H */
