/* SPDX-License-Identifier: MIT */
/*
 * pidreuse_test.c - a dead peer whose pid is given to a new process is
 * still dead: in a private PID namespace the dialer is killed, its pid is
 * forced onto a fresh process (ns_last_pid), and the survivor must still
 * see IPK_ECLOSED, ipk_inspect must call the dialer's slot dead, and a
 * notification through the dead peer's pidfd must not reach the newcomer.
 */
#include "test.h"

#include <sched.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>

#define PR_TRIALS 50

static const char *const pr_variants[] = {"fifo", "mq", "sysv", "shm"};
static char pr_url[256]; /* the trial's address, for the cleanup */

static void
pr_cleanup(void)
{
	t_kill_children();
	if (pr_url[0])
		(void)ipk_remove(pr_url, IPK_REMOVE_FORCE);
}

static void
pr_put(int fd, char b)
{
	if (write(fd, &b, 1) != 1)
		_exit(3);
}

/* One byte from fd, or '\0' when the writer is gone. */
static char
pr_get(int fd)
{
	char b = '\0';
	return read(fd, &b, 1) == 1 ? b : '\0';
}

/*
 * The survivor: listen, accept, receive the victim's one message, then
 * (at "go") receive again: the victim is dead, whatever owns its pid now.
 * Exit 0 when that is IPK_ECLOSED within a second.
 */
static int
pr_survivor(int up, int down)
{
	struct ipk_listener *l;
	struct ipk_chan *c;
	char buf[64];
	size_t len;
	if (ipk_listen(pr_url, NULL, &l))
		return 10;
	pr_put(up, 'l');
	if (ipk_accept(l, 10000, &c))
		return 11;
	if (ipk_recv(c, buf, sizeof(buf), &len, NULL, 10000) || len != 5)
		return 12;
	pr_put(up, 'a');
	if (pr_get(down) != 'g')
		return 13;
	int64_t t0 = t_now_ns();
	int rv = ipk_recv(c, buf, sizeof(buf), &len, NULL, 3000);
	double ms = t_ms_since(t0);
	ipk_close(c);
	ipk_listener_close(l);
	if (rv != IPK_ECLOSED) {
		fprintf(stderr,
		    "survivor: receive after the pid was reused: "
		    "%s %s\n",
		    ipk_errname(rv), ipk_strerror(rv));
		return 14;
	}
	return ms > 1000 ? 15 : 0;
}

/* The victim: dial, send one message, wait to be killed. */
static int
pr_victim(int up)
{
	struct ipk_chan *c;
	char u[300];
	snprintf(u, sizeof(u), "%s?timeout=5000", pr_url);
	if (ipk_dial(u, NULL, &c) || ipk_send(c, "hello", 5, 0, 5000))
		return 20;
	pr_put(up, 'v');
	pause();
	return 21;
}

/*
 * The newcomer with the victim's pid: receive notifications; exit 0 when
 * the first one carries `want` (the plain-pid one), 1 when it carries
 * anything else (the pidfd one reached it), 2 when none came.
 */
static int
pr_newcomer(int up, int want)
{
	struct ipk_notify *n;
	int v = 0;
	if (ipk_notify_open(IPK_NOTIFY_SIGNAL, &n))
		return 30;
	pr_put(up, 'n');
	int rv = ipk_notify_recv(n, &v, NULL, 5000);
	ipk_notify_close(n);
	if (rv)
		return 2;
	return v == want ? 0 : 1;
}

/* Give the next fork `pid` (we are alone in this namespace). */
static pid_t
pr_fork_as(pid_t pid)
{
	int fd = open("/proc/sys/kernel/ns_last_pid", O_WRONLY | O_CLOEXEC);
	char s[32];
	int n = snprintf(s, sizeof(s), "%d", (int)pid - 1);
	T_ASSERT(fd >= 0);
	T_ASSERT(write(fd, s, (size_t)n) == n);
	close(fd);
	return t_fork();
}

static void
pr_trial(const char *scheme, unsigned idx, unsigned *reused)
{
	int up[2], down[2];
	if (!strcmp(scheme, "shm") || !strcmp(scheme, "mq"))
		snprintf(pr_url, sizeof(pr_url), "%s:///%s-p%u", scheme,
		    t_unique(), idx);
	else
		snprintf(pr_url, sizeof(pr_url), "%s:///tmp/%s-p%u", scheme,
		    t_unique(), idx);
	T_ASSERT(pipe2(up, O_CLOEXEC) == 0 && pipe2(down, O_CLOEXEC) == 0);
	pid_t surv = t_fork();
	if (surv == 0) {
		close(up[0]);
		close(down[1]);
		_exit(pr_survivor(up[1], down[0]));
	}
	T_EQ(pr_get(up[0]), 'l');
	pid_t vict = t_fork();
	if (vict == 0) {
		close(up[0]);
		close(down[1]);
		_exit(pr_victim(up[1]));
	}
	char a = pr_get(up[0]), b = pr_get(up[0]);
	if (!((a == 'a' && b == 'v') || (a == 'v' && b == 'a')))
		T_FAILF("%s: survivor/victim did not start (%c %c)", scheme,
		    a ? a : '0', b ? b : '0');
	int pidfd = (int)syscall(SYS_pidfd_open, vict, 0);
	T_ASSERT(pidfd >= 0);
	t_reap_kill(vict);
	/* The victim's pid on a fresh process; retried if taken. */
	pid_t nc = 0;
	for (int i = 0; i < 5 && nc != vict; i++) {
		if (nc > 0)
			t_reap_kill(nc);
		nc = pr_fork_as(vict);
		if (nc == 0) {
			close(up[0]);
			close(down[1]);
			_exit(getpid() == vict ? pr_newcomer(up[1], 2) : 40);
		}
	}
	if (nc != vict)
		T_FAILF("%s: could not reuse pid %d", scheme, (int)vict);
	T_EQ(pr_get(up[0]), 'n');
	(*reused)++;
	/* A notification through the dead victim's pidfd never reaches the
	 * newcomer; one by number does (the pid really was reused). */
	T_ERR(ipk_notify_send_pidfd(pidfd, IPK_NOTIFY_SIGNAL, 1), -ESRCH);
	close(pidfd);
	T_OK(ipk_notify_send(vict, IPK_NOTIFY_SIGNAL, 2));
	/* Liveness is a lock, not a pid: the slot of pid `vict` is dead. */
	struct ipk_objinfo o;
	int found = 0;
	T_OK(ipk_inspect(pr_url, &o));
	for (int i = 0; i < o.nep; i++)
		if (o.ep[i].pid == vict && o.ep[i].role == IPK_ROLE_DIALER) {
			found = 1;
			if (o.ep[i].alive)
				T_FAILF("%s: ipk_inspect calls the dead dialer "
					"(pid %d, now another process) alive",
				    scheme, (int)vict);
		}
	if (!found)
		T_FAILF("%s: ipk_inspect lists no dialer with pid %d", scheme,
		    (int)vict);
	pr_put(down[1], 'g');
	t_reap(surv);
	int st;
	T_EQ(waitpid(nc, &st, 0), nc);
	t_forget(nc);
	if (!WIFEXITED(st) || WEXITSTATUS(st) != 0)
		T_FAILF("%s: the newcomer with pid %d %s", scheme, (int)vict,
		    WIFEXITED(st) && WEXITSTATUS(st) == 1
			? "received the "
			  "notification sent through the dead process's pidfd"
			: "did not receive its notification");
	T_ERR(ipk_inspect(pr_url, &o), -ENOENT);
	pr_url[0] = '\0';
	t_nkids = 0; /* every child of the trial has been reaped */
	close(up[0]);
	close(up[1]);
	close(down[0]);
	close(down[1]);
}

/* Pid 1 of the private namespace: every trial. */
static int
pr_init(void)
{
	(void)prctl(PR_SET_PDEATHSIG, SIGKILL);
	t_cleanup_hook = pr_cleanup;
	T_OK(ipk_notify_block(IPK_NOTIFY_SIGNAL)); /* inherited by children */
	int fds = t_count_fds();
	for (size_t v = 0; v < sizeof(pr_variants) / sizeof(*pr_variants);
	     v++) {
		unsigned reused = 0;
		int64_t t0 = t_now_ns();
		for (unsigned i = 0; i < PR_TRIALS; i++)
			pr_trial(pr_variants[v], i, &reused);
		printf("%-5s %u trials, pid reused %u times: survivor saw "
		       "IPK_ECLOSED, inspect said dead, pidfd notification "
		       "refused (ESRCH) every time (%.0f ms)\n",
		    pr_variants[v], PR_TRIALS, reused, t_ms_since(t0));
		fflush(stdout);
	}
	T_EQ(t_count_fds(), fds);
	return T_PASS;
}

int
main(void)
{
	if (geteuid() != 0) {
		printf("skipped: the PID reuse test needs root (a private PID "
		       "namespace and ns_last_pid)\n");
		return T_SKIP;
	}
	if (access("/proc/sys/kernel/ns_last_pid", W_OK) != 0) {
		printf("skipped: /proc/sys/kernel/ns_last_pid is not writable "
		       "here\n");
		return T_SKIP;
	}
	t_watchdog(110);
	fflush(stdout);
	/* A child enters the namespace, so this process (and the leak
	 * checker's helper it may clone at exit) stays outside it. */
	pid_t holder = fork();
	T_ASSERT(holder >= 0);
	if (holder == 0) {
		(void)prctl(PR_SET_PDEATHSIG, SIGKILL);
		if (unshare(CLONE_NEWPID) < 0) {
			printf("skipped: cannot make a PID namespace: %s\n",
			    strerror(errno));
			fflush(stdout);
			_exit(T_SKIP);
		}
		pid_t init = fork();
		if (init < 0)
			_exit(T_FAIL);
		if (init == 0)
			_exit(pr_init());
		int st;
		if (waitpid(init, &st, 0) != init)
			_exit(T_FAIL);
		if (WIFSIGNALED(st)) {
			fprintf(stderr, "namespace init killed by signal %d\n",
			    WTERMSIG(st));
			_exit(T_FAIL);
		}
		_exit(WEXITSTATUS(st));
	}
	int st;
	T_EQ(waitpid(holder, &st, 0), holder);
	if (WIFSIGNALED(st))
		T_FAILF("killed by signal %d", WTERMSIG(st));
	return WEXITSTATUS(st);
}
