/* SPDX-License-Identifier: MIT */
/*
 * exhaust_test.c - resource exhaustion: an 8 MiB tmpfs on /dev/shm in a
 * private mount namespace makes a 32 MiB shm listen fail with ENOSPC (never
 * SIGBUS) while a channel opened before keeps working; RLIMIT_NOFILE=16
 * makes opening channels fail with EMFILE, and closing them leaks nothing,
 * every round. Root only (skipped with the reason otherwise).
 */
#include <dirent.h>
#include <sched.h>
#include <sys/mount.h>
#include <sys/resource.h>
#include <sys/wait.h>

#include "test.h"

static void
ex_sigbus(int sig)
{
	static const char m[] = "FAIL: SIGBUS\n";
	(void)sig;
	(void)!write(2, m, sizeof(m) - 1);
	_exit(T_FAIL);
}

static int
ex_count(const char *dir, const char *tag)
{
	DIR *d = dir ? opendir(dir) : NULL;
	int n = 0;
	for (struct dirent *e; d && (e = readdir(d));)
		if (strstr(e->d_name, tag)) {
			fprintf(stderr, "left behind: %s/%s\n", dir, e->d_name);
			n++;
		}
	if (d)
		closedir(d);
	return n;
}

/* In a private mount namespace with an 8 MiB /dev/shm. */
static int
ex_tmpfs(void)
{
	if (unshare(CLONE_NEWNS) < 0)
		T_SKIPF("unshare(CLONE_NEWNS): %s", strerror(errno));
	if (mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0 ||
	    mount("tmpfs", "/dev/shm", "tmpfs", MS_NOSUID | MS_NODEV,
		"size=8m,mode=1777") < 0)
		T_SKIPF("cannot mount a small tmpfs on /dev/shm: %s",
		    strerror(errno));
	signal(SIGBUS, ex_sigbus);
	char url[256], dial[300];
	struct ipk_listener *l, *l2 = NULL;
	struct ipk_chan *a, *b;
	snprintf(url, sizeof(url), "shm:///%s-a?size=1M", t_unique());
	T_OK(ipk_listen(url, NULL, &l));
	snprintf(dial, sizeof(dial), "%s&timeout=2000", url);
	T_OK(ipk_dial(dial, NULL, &b));
	T_OK(ipk_accept(l, 2000, &a));
	/* Too big for the file system: an error at open. */
	snprintf(url, sizeof(url), "shm:///%s-b?size=32M", t_unique());
	int rv = ipk_listen(url, NULL, &l2);
	printf("32M segment on an 8M tmpfs: %s: %s\n", ipk_errname(rv),
	    ipk_strerror(rv));
	T_ERR(rv, -ENOSPC);
	char tag[96];
	snprintf(tag, sizeof(tag), "%s-b", t_unique());
	T_EQ(ex_count("/dev/shm", tag), 0);
	/* Fill the rest; the channel made before keeps working. */
	char fill[128];
	snprintf(fill, sizeof(fill), "/dev/shm/%s-fill", t_unique());
	int fd = open(fill, O_CREAT | O_EXCL | O_WRONLY | O_CLOEXEC, 0600);
	T_ASSERT(fd >= 0);
	static char blk[65536];
	while (write(fd, blk, sizeof(blk)) > 0)
		;
	T_ASSERT(errno == ENOSPC);
	close(fd);
	unsigned char *buf = malloc(65536), *got = malloc(65536);
	T_ASSERT(buf && got);
	for (uint64_t i = 0; i < 200; i++) {
		size_t n = 1 + (i * 7919) % 65000, len;
		t_fill(buf, n, 1, i);
		T_OK(ipk_send(b, buf, n, 0, 2000));
		T_OK(ipk_recv(a, got, 65536, &len, NULL, 2000));
		T_EQ(len, n);
		T_ASSERT(t_check(got, len, 1, i));
	}
	free(buf);
	free(got);
	snprintf(url, sizeof(url), "shm:///%s-c?size=64K", t_unique());
	rv = ipk_listen(url, NULL, &l2);
	printf("64K segment on a full tmpfs: %s: %s\n", ipk_errname(rv),
	    ipk_strerror(rv));
	T_ASSERT(rv < 0);
	unlink(fill);
	ipk_close(b);
	ipk_close(a);
	T_OK(ipk_listener_close(l));
	T_EQ(ex_count("/dev/shm", t_unique()), 0);
	return T_PASS;
}

/* One channel of `scheme` number i: listener, dialer, accepted end. */
static int
ex_open(const char *scheme, int i, struct ipk_listener **l, struct ipk_chan **a,
    struct ipk_chan **b)
{
	char url[256], dial[320];
	int rv;
	if (!strcmp(scheme, "tcp"))
		snprintf(url, sizeof(url), "tcp://127.0.0.1:0");
	else if (!strcmp(scheme, "shm") || !strcmp(scheme, "mq"))
		snprintf(
		    url, sizeof(url), "%s:///%s-%d", scheme, t_unique(), i);
	else
		snprintf(
		    url, sizeof(url), "%s:///tmp/%s-%d", scheme, t_unique(), i);
	if ((rv = ipk_listen(url, NULL, l)) < 0)
		return rv;
	snprintf(dial, sizeof(dial), "%s%stimeout=1000", ipk_listener_url(*l),
	    strchr(ipk_listener_url(*l), '?') ? "&" : "?");
	if ((rv = ipk_dial(dial, NULL, b)) < 0)
		return rv;
	return ipk_accept(*l, 1000, a);
}

/* RLIMIT_NOFILE=16: open channels until failure, close, repeat. */
static int
ex_nofile(void)
{
	static const char *schemes[] = {
	    "unix", "fifo", "shm", "tcp", "mq", "sysv"};
	struct rlimit r = {16, 64};
	for (size_t s = 0; s < sizeof(schemes) / sizeof(schemes[0]); s++) {
		int most = 0, err = 0;
		for (int round = 0; round < 20; round++) {
			/* 10..16 descriptors: the failure lands on a
			 * different call from round to round */
			r.rlim_cur = 16 - (rlim_t)(round % 7);
			T_ASSERT(setrlimit(RLIMIT_NOFILE, &r) == 0);
			struct ipk_listener *l[16] = {0};
			struct ipk_chan *a[16] = {0}, *b[16] = {0};
			int fds = t_count_fds(), i, rv = 0;
			for (i = 0; i < 16; i++)
				if ((rv = ex_open(schemes[s], i, &l[i], &a[i],
					 &b[i])) < 0)
					break;
			if (rv != -EMFILE && rv != -ENFILE)
				T_FAILF("%s: channel %d with %d descriptors: "
					"%s: %s",
				    schemes[s], i, (int)r.rlim_cur,
				    ipk_errname(rv), ipk_strerror(rv));
			if (round % 7 == 0) {
				err = rv;
				most = i;
			}
			r.rlim_cur = 64; /* closing may not need more, but
					    the checks below open files */
			T_ASSERT(setrlimit(RLIMIT_NOFILE, &r) == 0);
			for (int k = 0; k < 16; k++) {
				ipk_close(a[k]);
				ipk_close(b[k]);
				ipk_listener_close(l[k]);
			}
			T_EQ(t_count_fds(), fds);
			T_EQ(ex_count("/tmp", t_unique()) +
				ex_count("/dev/shm", t_unique()) +
				ex_count(t_mqueue_dir(), t_unique()),
			    0);
		}
		printf("%-5s RLIMIT_NOFILE=10..16: at 16 %d channels, then "
		       "%s: %s (20 rounds, nothing leaked)\n",
		    schemes[s], most, ipk_errname(err), ipk_strerror(err));
	}
	return T_PASS;
}

static int
ex_run(int (*fn)(void))
{
	fflush(stdout);
	pid_t pid = fork();
	T_ASSERT(pid >= 0);
	if (pid == 0) {
		alarm(60);
		int rc = fn();
		fflush(stdout);
		_exit(rc);
	}
	int st;
	T_ASSERT(waitpid(pid, &st, 0) == pid);
	if (WIFSIGNALED(st))
		T_FAILF("child killed by signal %d", WTERMSIG(st));
	return WEXITSTATUS(st);
}

int
main(void)
{
	t_watchdog(120);
	if (geteuid() != 0)
		T_SKIPF("resource exhaustion needs root (mount, setrlimit)");
	(void)t_mqueue_dir(); /* mounted once, in this process's namespace */
	int a = ex_run(ex_tmpfs);
	int b = ex_run(ex_nofile);
	if (a == T_FAIL || b == T_FAIL)
		return T_FAIL;
	if (a == T_SKIP)
		printf("the tmpfs part was skipped (see above)\n");
	return T_PASS;
}
