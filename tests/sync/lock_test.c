/* SPDX-License-Identifier: MIT */
/*
 * lock_test.c - the robust lock across processes: a holder SIGKILLed at a
 * random point while it breaks an invariant (a == b) hands the lock over
 * with -EOWNERDEAD exactly once; the successor repairs and carries on.
 * Also: a holder thread that exits, a successor that dies before
 * consistent, unlock without consistent (-ENOTRECOVERABLE for everyone),
 * timeouts, mode 0600 under umask 000 and corrupted headers.
 */
#include "test.h"

#include <pthread.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/wait.h>

#define TRIALS 100

struct state {
	volatile uint64_t a, b;
	volatile uint64_t child_locks;
};

static char url[160], shm_name[128];

static void
cleanup(void)
{
	char cu[200];
	snprintf(cu, sizeof(cu), "lock://%s-c", shm_name);
	ipk_lock_unlink(url);
	ipk_lock_unlink(cu);
}

static void
spin_us(uint64_t us)
{
	int64_t end = t_now_ns() + (int64_t)us * 1000;
	while (t_now_ns() < end)
		;
}

/* Holder: lock, a++, spin, b++, unlock, forever, until SIGKILL. Writes one
 * byte to `ready` after its first lock. */
static void
child_holder(int ready, uint64_t seed)
{
	alarm(10);
	struct ipk_lock *l;
	if (ipk_lock_open(url, 0, &l))
		_exit(2);
	struct state *st = ipk_lock_data(l, NULL);
	uint64_t rs = seed | 1;
	for (int i = 0;; i++) {
		int rv = ipk_lock_lock(l, 5000);
		if (rv != 0)
			_exit(3);
		st->child_locks++;
		st->a++;
		spin_us(t_rand(&rs) % 51);
		st->b++;
		if (ipk_lock_unlock(l))
			_exit(4);
		if (i == 0) {
			char c = 'r';
			if (write(ready, &c, 1) != 1)
				_exit(5);
		}
	}
}

static pid_t
start_holder(uint64_t seed)
{
	int pfd[2];
	T_ASSERT(pipe(pfd) == 0);
	pid_t pid = fork();
	T_ASSERT(pid >= 0);
	if (pid == 0) {
		close(pfd[0]);
		child_holder(pfd[1], seed);
	}
	close(pfd[1]);
	char c;
	T_EQ(read(pfd[0], &c, 1), 1);
	close(pfd[0]);
	return pid;
}

static void
reap_killed(pid_t pid)
{
	int st;
	T_EQ(waitpid(pid, &st, 0), pid);
	T_ASSERT(WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL);
}

static void
test_kill_trials(struct ipk_lock *l, uint64_t *rs)
{
	struct state *st = ipk_lock_data(l, NULL);
	int owner_dead = 0, broken = 0;
	for (int i = 0; i < TRIALS; i++) {
		pid_t pid = start_holder(t_rand(rs));
		spin_us(t_rand(rs) % 2000); /* the random kill point */
		T_ASSERT(kill(pid, SIGKILL) == 0);
		reap_killed(pid);
		int rv = ipk_lock_lock(l, 5000);
		if (rv == -EOWNERDEAD) {
			owner_dead++;
			if (st->a != st->b) {
				broken++;
				st->b = st->a;
			}
			T_OK(ipk_lock_consistent(l));
		} else {
			T_OK(rv);
			/* Died outside the lock: the invariant must hold. */
			T_EQ(st->a, st->b);
		}
		T_OK(ipk_lock_unlock(l));
		/* Exactly once per death: the next lock is a clean one. */
		T_OK(ipk_lock_lock(l, 0));
		T_EQ(st->a, st->b);
		T_OK(ipk_lock_unlock(l));
	}
	fprintf(stderr,
	    "lock: %d holders killed, %d handed over with "
	    "owner-died, %d of those left a != b (repaired)\n",
	    TRIALS, owner_dead, broken);
	if (broken == 0)
		T_FAILF("no trial caught a holder between a++ and b++: the "
			"test did not test anything");
}

static void *
thread_lock_and_exit(void *arg)
{
	struct ipk_lock *l = arg;
	return (void *)(intptr_t)ipk_lock_lock(l, 1000);
}

static void
test_thread_exit(struct ipk_lock *l)
{
	pthread_t t;
	void *ret;
	T_ASSERT(pthread_create(&t, NULL, thread_lock_and_exit, l) == 0);
	T_ASSERT(pthread_join(t, &ret) == 0);
	T_OK((int)(intptr_t)ret);
	T_ERR(ipk_lock_lock(l, 1000), -EOWNERDEAD);
	T_OK(ipk_lock_consistent(l));
	T_ERR(ipk_lock_lock(l, 0), -EDEADLK);
	T_OK(ipk_lock_unlock(l));
	T_ERR(ipk_lock_unlock(l), -EPERM);
	T_ERR(ipk_lock_consistent(l), -EINVAL);
}

/* A child locks, says `tag` on the pipe with its lock result, then waits
 * to be killed. */
static pid_t
start_locker(int *rv_out)
{
	int pfd[2];
	T_ASSERT(pipe(pfd) == 0);
	pid_t pid = fork();
	T_ASSERT(pid >= 0);
	if (pid == 0) {
		alarm(10);
		close(pfd[0]);
		struct ipk_lock *l;
		int rv = ipk_lock_open(url, 0, &l);
		if (rv == 0)
			rv = ipk_lock_lock(l, 5000);
		if (write(pfd[1], &rv, sizeof(rv)) != sizeof(rv))
			_exit(5);
		for (;;)
			pause();
	}
	close(pfd[1]);
	T_EQ(read(pfd[0], rv_out, sizeof(*rv_out)), sizeof(*rv_out));
	close(pfd[0]);
	return pid;
}

static void
test_successor_dies(struct ipk_lock *l)
{
	int rv;
	pid_t p1 = start_locker(&rv);
	T_OK(rv);
	T_ASSERT(kill(p1, SIGKILL) == 0);
	reap_killed(p1);
	/* The successor is told, then dies before consistent. */
	pid_t p2 = start_locker(&rv);
	T_ERR(rv, -EOWNERDEAD);
	T_ASSERT(kill(p2, SIGKILL) == 0);
	reap_killed(p2);
	T_ERR(ipk_lock_lock(l, 1000), -EOWNERDEAD);
	T_OK(ipk_lock_consistent(l));
	T_OK(ipk_lock_unlock(l));
}

/* A holder that exits normally without unlocking is a death too. */
static void
test_exit_holding(struct ipk_lock *l)
{
	pid_t pid = fork();
	T_ASSERT(pid >= 0);
	if (pid == 0) {
		alarm(10);
		struct ipk_lock *c;
		if (ipk_lock_open(url, 0, &c) || ipk_lock_lock(c, 5000))
			_exit(2);
		_exit(0);
	}
	int st;
	T_EQ(waitpid(pid, &st, 0), pid);
	T_ASSERT(WIFEXITED(st) && WEXITSTATUS(st) == 0);
	T_ERR(ipk_lock_lock(l, 1000), -EOWNERDEAD);
	T_OK(ipk_lock_consistent(l));
	T_OK(ipk_lock_unlock(l));
}

static void
test_timeouts(struct ipk_lock *l)
{
	int rv;
	pid_t p = start_locker(&rv);
	T_OK(rv);
	T_ERR(ipk_lock_lock(l, 0), -EAGAIN);
	int64_t t0 = t_now_ns();
	T_ERR(ipk_lock_lock(l, 50), -ETIMEDOUT);
	double ms = t_ms_since(t0);
	if (ms < 45 || ms > 2000)
		T_FAILF("50 ms timed lock took %.1f ms", ms);
	T_ASSERT(kill(p, SIGKILL) == 0);
	reap_killed(p);
	T_ERR(ipk_lock_lock(l, 1000), -EOWNERDEAD);
	T_OK(ipk_lock_consistent(l));
	T_OK(ipk_lock_unlock(l));
}

/* Last: leaves the lock unusable. */
static void
test_not_recoverable(struct ipk_lock *l)
{
	int rv;
	pid_t p = start_locker(&rv);
	T_OK(rv);
	T_ASSERT(kill(p, SIGKILL) == 0);
	reap_killed(p);
	T_ERR(ipk_lock_lock(l, 1000), -EOWNERDEAD);
	T_OK(ipk_lock_unlock(l)); /* without consistent */
	T_ERR(ipk_lock_lock(l, 1000), -ENOTRECOVERABLE);
	T_ASSERT(strstr(ipk_strerror(-ENOTRECOVERABLE), "unusable"));
	p = start_locker(&rv);
	T_ERR(rv, -ENOTRECOVERABLE);
	T_ASSERT(kill(p, SIGKILL) == 0);
	reap_killed(p);
}

static void
test_corrupt(void)
{
	char cu[200], cname[160];
	snprintf(cname, sizeof(cname), "%s-c", shm_name);
	snprintf(cu, sizeof(cu), "lock://%s", cname);
	struct ipk_lock *l, *l2;
	T_OK(ipk_lock_open(cu, IPK_SYNC_CREATE, &l));
	int fd = shm_open(cname, O_RDWR, 0);
	T_ASSERT(fd >= 0);
	struct stat sb;
	T_ASSERT(fstat(fd, &sb) == 0);
	unsigned char *p = mmap(NULL, (size_t)sb.st_size,
	    PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	T_ASSERT(p != MAP_FAILED);
	unsigned char saved[64];
	memcpy(saved, p, sizeof(saved));
	uint64_t rs = t_seed() ^ 0x55;
	for (int i = 0; i < 200; i++) {
		/* Scribble on one header byte; every result is an error code
		 * or success, never a crash. */
		size_t off = t_rand(&rs) % 32;
		p[off] ^= (unsigned char)(1u + t_rand(&rs) % 255);
		int rv = ipk_lock_open(cu, 0, &l2);
		T_ERR(rv, IPK_ECORRUPT);
		T_ERR(ipk_lock_lock(l, 0), IPK_ECORRUPT);
		memcpy(p, saved, sizeof(saved));
	}
	T_OK(ipk_lock_open(cu, 0, &l2));
	T_OK(ipk_lock_close(l2));
	/* A segment of the wrong size. */
	T_ASSERT(ftruncate(fd, sb.st_size + 4096) == 0);
	T_ERR(ipk_lock_open(cu, 0, &l2), IPK_ECORRUPT);
	munmap(p, (size_t)sb.st_size);
	close(fd);
	T_OK(ipk_lock_close(l));
	T_OK(ipk_lock_unlink(cu));
	/* An object someone else made: too small, never initialised. */
	fd = shm_open(cname, O_RDWR | O_CREAT | O_EXCL, 0600);
	T_ASSERT(fd >= 0);
	close(fd);
	T_ERR(ipk_lock_open(cu, 0, &l2), IPK_ECORRUPT);
	T_OK(ipk_lock_unlink(cu));
}

int
main(void)
{
	t_watchdog(100);
	t_cleanup_hook = cleanup;
	uint64_t rs = t_seed();
	snprintf(shm_name, sizeof(shm_name), "/%s", t_unique());
	snprintf(url, sizeof(url), "lock://%s?size=64", shm_name);

	struct ipk_lock *l, *dup = (struct ipk_lock *)&dup;
	T_ERR(ipk_lock_open("lock:///a/b", 0, &l), -EINVAL);
	T_ERR(ipk_lock_open(url, 0, &l), -ENOENT);
	mode_t old = umask(0);
	T_OK(ipk_lock_open(url, IPK_SYNC_CREATE, &l));
	umask(old);
	T_ERR(ipk_lock_open(url, IPK_SYNC_CREATE, &dup), -EEXIST);
	T_ASSERT(dup == NULL);
	char path[200];
	snprintf(path, sizeof(path), "/dev/shm%s", shm_name);
	struct stat sb;
	T_ASSERT(stat(path, &sb) == 0);
	T_EQ(sb.st_mode & 0777, 0600);
	size_t size = 0;
	T_ASSERT(ipk_lock_data(l, &size) != NULL);
	T_EQ(size, 64);

	test_kill_trials(l, &rs);
	test_thread_exit(l);
	/* Closing a handle while holding the lock releases it. */
	struct ipk_lock *l2;
	T_OK(ipk_lock_open(url, 0, &l2));
	T_OK(ipk_lock_lock(l2, 0));
	T_ERR(ipk_lock_lock(l, 0), -EDEADLK);
	T_OK(ipk_lock_close(l2));
	T_OK(ipk_lock_lock(l, 0));
	T_OK(ipk_lock_unlock(l));
	test_successor_dies(l);
	test_exit_holding(l);
	test_timeouts(l);
	test_corrupt();
	test_not_recoverable(l);
	T_OK(ipk_lock_close(l));
	T_OK(ipk_lock_unlink(url));
	T_ERR(ipk_lock_unlink(url), -ENOENT);
	fprintf(stderr, "lock: all cases passed\n");
	return T_PASS;
}
