/* SPDX-License-Identifier: MIT */
/*
 * notify_test.c - signal notifications across processes: a value arrives
 * through a pollable signalfd (both directions), pidfd sending, a dead pid
 * gives -ESRCH, another user's pid -EPERM, SIGKILL/SIGSTOP are refused,
 * many real-time notifications keep their count and order, standard
 * signals coalesce, and RLIMIT_SIGPENDING surfaces as -EAGAIN.
 */
#include "test.h"

#include <poll.h>
#include <pthread.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/wait.h>

#define QUEUED 1000

static int sig;

static void
reap_ok(pid_t pid)
{
	int st;
	T_EQ(waitpid(pid, &st, 0), pid);
	if (!WIFEXITED(st) || WEXITSTATUS(st) != 0)
		T_FAILF("child %d ended with status 0x%x", (int)pid, st);
}

static void
test_child_to_parent(struct ipk_notify *n)
{
	pid_t pid = fork();
	T_ASSERT(pid >= 0);
	if (pid == 0) {
		alarm(10);
		_exit(ipk_notify_send(getppid(), sig, 4242) == 0 ? 0 : 2);
	}
	struct pollfd p = {.fd = ipk_notify_fd(n), .events = POLLIN};
	T_ASSERT(p.fd >= 0);
	T_EQ(poll(&p, 1, 5000), 1);
	int v = 0;
	pid_t from = 0;
	T_OK(ipk_notify_recv(n, &v, &from, 0));
	T_EQ(v, 4242);
	T_EQ(from, pid);
	T_ERR(ipk_notify_recv(n, &v, &from, 0), -EAGAIN);
	int64_t t0 = t_now_ns();
	T_ERR(ipk_notify_recv(n, &v, &from, 50), -ETIMEDOUT);
	double ms = t_ms_since(t0);
	if (ms < 45 || ms > 2000)
		T_FAILF("50 ms receive took %.1f ms", ms);
	reap_ok(pid);
}

/* The child receives (it inherited the blocked mask) and checks the value
 * sent through `how`: 0 sigqueue, 1 pidfd. */
static void
test_parent_to_child(int how)
{
	int pfd[2];
	T_ASSERT(pipe(pfd) == 0);
	pid_t pid = fork();
	T_ASSERT(pid >= 0);
	if (pid == 0) {
		alarm(10);
		close(pfd[0]);
		struct ipk_notify *n;
		if (ipk_notify_open(sig, &n))
			_exit(2);
		char c = 'r';
		if (write(pfd[1], &c, 1) != 1)
			_exit(3);
		int v = 0;
		pid_t from = 0;
		if (ipk_notify_recv(n, &v, &from, 5000))
			_exit(4);
		if (v != -77 || from != getppid())
			_exit(5);
		ipk_notify_close(n);
		_exit(0);
	}
	close(pfd[1]);
	char c;
	T_EQ(read(pfd[0], &c, 1), 1);
	close(pfd[0]);
	if (how == 0) {
		T_OK(ipk_notify_send(pid, sig, -77));
	} else {
		int pidfd = (int)syscall(SYS_pidfd_open, pid, 0);
		if (pidfd < 0 && errno == ENOSYS) {
			T_OK(ipk_notify_send(pid, sig, -77));
		} else {
			T_ASSERT(pidfd >= 0);
			T_OK(ipk_notify_send_pidfd(pidfd, sig, -77));
			close(pidfd);
		}
	}
	reap_ok(pid);
}

static void
test_dead_pid(void)
{
	pid_t pid = fork();
	T_ASSERT(pid >= 0);
	if (pid == 0)
		_exit(0);
	int pidfd = (int)syscall(SYS_pidfd_open, pid, 0);
	reap_ok(pid);
	T_ERR(ipk_notify_send(pid, sig, 1), -ESRCH);
	T_ASSERT(strstr(ipk_strerror(-ESRCH), "does not exist"));
	if (pidfd >= 0) {
		/* The pidfd names the dead process, never a reuser. */
		T_ERR(ipk_notify_send_pidfd(pidfd, sig, 1), -ESRCH);
		close(pidfd);
	}
	T_ERR(ipk_notify_send(0, sig, 1), -EINVAL);
	T_ERR(ipk_notify_send(-1, sig, 1), -EINVAL);
}

static void
test_foreign_pid(void)
{
	if (geteuid() != 0) {
		/* pid 1 belongs to root. */
		T_ERR(ipk_notify_send(1, sig, 1), -EPERM);
		return;
	}
	pid_t parent = getpid();
	pid_t pid = fork();
	T_ASSERT(pid >= 0);
	if (pid == 0) {
		alarm(10);
		if (setresgid(65534, 65534, 65534) ||
		    setresuid(65534, 65534, 65534))
			_exit(2);
		int rv = ipk_notify_send(parent, sig, 1);
		if (rv != -EPERM || !strstr(ipk_strerror(rv), "another user"))
			_exit(3);
		_exit(0);
	}
	reap_ok(pid);
}

static void
test_refused(void)
{
	struct ipk_notify *n = (struct ipk_notify *)&n;
	T_ERR(ipk_notify_send(getpid(), SIGKILL, 1), -EINVAL);
	T_ASSERT(strstr(ipk_strerror(-EINVAL), "SIGKILL"));
	T_ERR(ipk_notify_send(getpid(), SIGSTOP, 1), -EINVAL);
	T_ERR(ipk_notify_open(SIGKILL, &n), -EINVAL);
	T_ASSERT(n == NULL);
	T_ERR(ipk_notify_block(SIGSTOP), -EINVAL);
	T_ERR(ipk_notify_send(getpid(), 32, 1), -EINVAL);
	T_ERR(ipk_notify_send(getpid(), 65, 1), -EINVAL);
}

static void
test_queue_order(struct ipk_notify *n)
{
	pid_t pid = fork();
	T_ASSERT(pid >= 0);
	if (pid == 0) {
		alarm(10);
		for (int i = 0; i < QUEUED; i++)
			if (ipk_notify_send(getppid(), sig, i * 3 + 1))
				_exit(2);
		_exit(0);
	}
	reap_ok(pid); /* every notification is queued before we read */
	int v, count = 0;
	while (ipk_notify_recv(n, &v, NULL, 0) == 0) {
		T_EQ(v, count * 3 + 1);
		count++;
	}
	T_EQ(count, QUEUED);
	fprintf(
	    stderr, "notify: %d queued notifications read in order\n", count);
}

static void
test_coalesce(void)
{
	struct ipk_notify *u;
	T_OK(ipk_notify_block(SIGUSR1));
	T_OK(ipk_notify_open(SIGUSR1, &u));
	for (int i = 0; i < 5; i++)
		T_OK(ipk_notify_send(getpid(), SIGUSR1, i));
	int v;
	T_OK(ipk_notify_recv(u, &v, NULL, 1000));
	T_EQ(v, 0);
	T_ERR(ipk_notify_recv(u, &v, NULL, 0), -EAGAIN);
	T_OK(ipk_notify_close(u));
}

/* The receiver lowers its RLIMIT_SIGPENDING; the sender meets -EAGAIN. */
static void
test_sigpending_limit(void)
{
	int ready[2], done[2];
	T_ASSERT(pipe(ready) == 0 && pipe(done) == 0);
	pid_t pid = fork();
	T_ASSERT(pid >= 0);
	if (pid == 0) {
		alarm(10);
		close(ready[0]);
		close(done[1]);
		struct rlimit rl = {8, 8};
		if (setrlimit(RLIMIT_SIGPENDING, &rl))
			_exit(2);
		char c = 'r';
		if (write(ready[1], &c, 1) != 1)
			_exit(3);
		if (read(done[0], &c, 1) < 0)
			_exit(4);
		_exit(0); /* pending signals die with us */
	}
	close(ready[1]);
	close(done[0]);
	char c;
	T_EQ(read(ready[0], &c, 1), 1);
	int rv = 0, sent = 0;
	for (; sent < 100000; sent++)
		if ((rv = ipk_notify_send(pid, sig, sent)) != 0)
			break;
	T_ERR(rv, -EAGAIN);
	T_ASSERT(strstr(ipk_strerror(rv), "RLIMIT_SIGPENDING"));
	fprintf(stderr,
	    "notify: -EAGAIN after %d notifications with RLIMIT_SIGPENDING=8\n",
	    sent);
	close(ready[0]);
	close(done[1]);
	reap_ok(pid);
}

struct thread_ctl {
	int go[2], done[2];
	int signo;
};

static void *
thread_main(void *arg)
{
	struct thread_ctl *t = arg;
	char c = 's';
	/* Running: glibc has restored the creator's mask (a thread still
	 * starting shows every signal blocked). */
	if (write(t->done[1], &c, 1) != 1)
		return NULL;
	if (read(t->go[0], &c, 1) != 1)
		return NULL;
	ipk_notify_block(t->signo);
	if (write(t->done[1], &c, 1) != 1)
		return NULL;
	return NULL;
}

/* A thread that does not block the signal makes ipk_notify_open refuse,
 * naming it; once it blocks the signal, open succeeds. */
static void
test_thread_rule(void)
{
	struct thread_ctl t = {.signo = SIGRTMIN + 5};
	T_ASSERT(pipe(t.go) == 0 && pipe(t.done) == 0);
	pthread_t th;
	T_ASSERT(pthread_create(&th, NULL, thread_main, &t) == 0);
	char c;
	T_EQ(read(t.done[0], &c, 1), 1);
	struct ipk_notify *n;
	T_ERR(ipk_notify_open(t.signo, &n), -EINVAL);
	T_ASSERT(strstr(ipk_strerror(-EINVAL), "does not block"));
	c = 'g';
	T_EQ(write(t.go[1], &c, 1), 1);
	T_EQ(read(t.done[0], &c, 1), 1);
	T_OK(ipk_notify_open(t.signo, &n));
	T_ASSERT(pthread_join(th, NULL) == 0);
	T_OK(ipk_notify_close(n));
	close(t.go[0]);
	close(t.go[1]);
	close(t.done[0]);
	close(t.done[1]);
}

int
main(void)
{
	t_watchdog(100);
	sig = SIGRTMIN + 1;
	/* Before anything else, so no signal can meet an unblocked thread:
	 * children inherit the mask. */
	T_OK(ipk_notify_block(sig));
	T_OK(ipk_notify_block(IPK_NOTIFY_SIGNAL));
	struct ipk_notify *n;
	T_OK(ipk_notify_open(sig, &n));
	int fds = t_count_fds();

	test_child_to_parent(n);
	test_parent_to_child(0);
	test_parent_to_child(1);
	test_dead_pid();
	test_foreign_pid();
	test_refused();
	test_queue_order(n);
	test_coalesce();
	test_sigpending_limit();
	test_thread_rule();

	/* The default signal is SIGRTMIN. */
	struct ipk_notify *d;
	T_OK(ipk_notify_open(IPK_NOTIFY_SIGNAL, &d));
	T_OK(ipk_notify_send(getpid(), SIGRTMIN, 9));
	int v = 0;
	T_OK(ipk_notify_recv(d, &v, NULL, 1000));
	T_EQ(v, 9);
	T_OK(ipk_notify_close(d));
	T_EQ(t_count_fds(), fds);
	T_OK(ipk_notify_close(n));
	T_OK(ipk_notify_close(NULL));
	fprintf(stderr, "notify: all cases passed\n");
	return T_PASS;
}
