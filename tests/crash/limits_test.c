/* SPDX-License-Identifier: MIT */
/*
 * limits_test.c - notifications to a dead pid (-ESRCH) and, as uid 65534,
 * to a root process (-EPERM); a receiver whose RLIMIT_SIGPENDING is 4
 * makes the 5th queued notification fail with -EAGAIN naming the limit;
 * and 1,000 pipe channels of a user past fs.pipe-user-pages-soft (uid
 * 65534, which CAP_SYS_RESOURCE does not exempt) neither hang nor fail
 * without a sentence. Parts that need root are skipped with a reason.
 */
#include <grp.h>
#include <sys/resource.h>

#include "test.h"

#define LIM_UID 65534
#define LIM_PAIRS 1000

static void
lim_become(uid_t uid)
{
	if (setgroups(0, NULL) || setresgid(uid, uid, uid) ||
	    setresuid(uid, uid, uid)) {
		perror("setresuid");
		_exit(2);
	}
}

static void
lim_says(int rv, int want, const char *what, const char *words)
{
	const char *msg = ipk_strerror(rv);
	if (rv != want)
		T_FAILF("%s: expected %s, got %s: %s", what, ipk_errname(want),
		    ipk_errname(rv), msg);
	if (!strstr(msg, words))
		T_FAILF("%s: \"%s\" does not say \"%s\"", what, msg, words);
	printf("%-34s %-7s \"%s\"\n", what, ipk_errname(rv), msg);
}

static void
lim_dead_pid(void)
{
	pid_t pid = t_fork();
	if (pid == 0)
		_exit(0);
	t_reap(pid); /* reaped: the pid names nobody until it is reused */
	lim_says(ipk_notify_send(pid, 0, 1), -ESRCH, "notify to a dead pid",
	    "does not exist");
}

static void
lim_foreign(void)
{
	pid_t me = getpid();
	fflush(stdout);
	pid_t pid = t_fork();
	if (pid == 0) {
		alarm(20);
		lim_become(LIM_UID);
		int rv = ipk_notify_send(me, 0, 7);
		if (rv != -EPERM || !strstr(ipk_strerror(rv), "another user")) {
			fprintf(stderr, "uid %u -> root: %s: %s\n", LIM_UID,
			    ipk_errname(rv), ipk_strerror(rv));
			_exit(1);
		}
		printf("%-34s %-7s \"%s\"\n", "notify from uid 65534 to root",
		    ipk_errname(rv), ipk_strerror(rv));
		fflush(stdout);
		_exit(0);
	}
	t_reap(pid);
	/* Nothing arrived (the signal is blocked here, so it would wait). */
	struct ipk_notify *n;
	int v;
	T_OK(ipk_notify_open(0, &n));
	T_ERR(ipk_notify_recv(n, &v, NULL, 0), -EAGAIN);
	T_OK(ipk_notify_close(n));
}

static void
lim_sigpending(int root)
{
	int r[2], h[2];
	T_ASSERT(pipe2(r, O_CLOEXEC) == 0 && pipe2(h, O_CLOEXEC) == 0);
	pid_t pid = t_fork();
	if (pid == 0) {
		struct rlimit rl = {4, 4};
		char b;
		alarm(20);
		close(r[0]);
		close(h[1]);
		if (ipk_notify_block(0) != 0 ||
		    setrlimit(RLIMIT_SIGPENDING, &rl) != 0)
			_exit(2);
		if (root)
			lim_become(LIM_UID); /* a user with nothing pending */
		if (write(r[1], "k", 1) != 1)
			_exit(3);
		while (read(h[0], &b, 1) < 0 && errno == EINTR)
			;
		_exit(0);
	}
	char b;
	close(r[1]);
	close(h[0]);
	T_ASSERT(read(r[0], &b, 1) == 1);
	close(r[0]);
	for (int i = 0; i < 4; i++)
		T_OK(ipk_notify_send(pid, 0, i));
	lim_says(ipk_notify_send(pid, 0, 4), -EAGAIN,
	    "5th notification, sigpending=4",
	    "RLIMIT_SIGPENDING (its limit "
	    "is 4");
	close(h[1]);
	t_reap(pid);
}

/* As uid 65534 (past the soft limit its pipes shrink to a page or two):
 * 1,000 pairs, a small message through each, then a 64 KiB one. */
static void
lim_pipes(int root)
{
	fflush(stdout);
	pid_t pid = t_fork();
	if (pid != 0) {
		t_reap(pid);
		return;
	}
	static struct ipk_chan *a[LIM_PAIRS], *b[LIM_PAIRS];
	static char big[65536];
	struct rlimit rl = {8 * LIM_PAIRS, 8 * LIM_PAIRS};
	char buf[1024];
	int made = 0, failed = 0, sent = 0, named = 0;
	size_t n;
	alarm(60);
	if (root && setrlimit(RLIMIT_NOFILE, &rl) != 0)
		_exit(2);
	if (root)
		lim_become(LIM_UID);
	int64_t t0 = t_now_ns();
	for (int i = 0; i < LIM_PAIRS; i++) {
		int rv = ipk_pair(&a[made], &b[made]);
		if (rv != 0) {
			const char *m = ipk_strerror(rv);
			failed++;
			named += m && strlen(m) > 20;
			if (failed == 1)
				printf(
				    "pair %d: %s: %s\n", i, ipk_errname(rv), m);
			continue;
		}
		memset(buf, i & 0xff, sizeof(buf));
		if (ipk_send(a[made], buf, sizeof(buf), 1, 2000) != 0 ||
		    ipk_recv(b[made], buf, sizeof(buf), &n, NULL, 2000) != 0 ||
		    n != sizeof(buf) || buf[0] != (char)(i & 0xff))
			_exit(4);
		made++;
	}
	/* 64 KiB into a shrunken pipe nobody reads yet: whole or timed out */
	int big_rv = made ? ipk_send(a[made - 1], big, sizeof(big), 1, 300) : 0;
	if (big_rv != 0 && big_rv != -ETIMEDOUT && big_rv != -EAGAIN)
		_exit(5);
	int psz = made ? fcntl(ipk_fd(b[made - 1]), F_GETPIPE_SZ) : -1;
	for (int i = 0; i < made; i++) {
		ipk_close(a[i]);
		ipk_close(b[i]);
		sent++;
	}
	printf("%d pipe pairs as uid %u: %d made (last pipe %d bytes), %d "
	       "refused with a sentence (%d), 64 KiB send: %s, %.0f ms\n",
	    LIM_PAIRS, root ? LIM_UID : (unsigned)getuid(), made, psz, failed,
	    named, big_rv ? ipk_errname(big_rv) : "sent", t_ms_since(t0));
	fflush(stdout);
	_exit(made + failed == LIM_PAIRS && named == failed && sent == made
		? 0
		: 6);
}

int
main(void)
{
	t_watchdog(100);
	t_cleanup_hook = t_kill_children;
	int root = geteuid() == 0;
	int fds = t_count_fds();
	/* A notification that got through would otherwise end this test
	 * (the default action of a real-time signal). */
	T_OK(ipk_notify_block(0));
	lim_dead_pid();
	if (root)
		lim_foreign();
	else
		printf("notify to another uid skipped: not root\n");
	lim_sigpending(root);
	long soft = -1;
	FILE *f = fopen("/proc/sys/fs/pipe-user-pages-soft", "re");
	if (f) {
		if (fscanf(f, "%ld", &soft) != 1)
			soft = -1;
		fclose(f);
	}
	printf("fs.pipe-user-pages-soft = %ld pages; %d pairs use %d pipes of "
	       "16 pages by default\n",
	    soft, LIM_PAIRS, 2 * LIM_PAIRS);
	lim_pipes(root);
	T_EQ(t_count_fds(), fds);
	return T_PASS;
}
