/* SPDX-License-Identifier: MIT */
/*
 * fifo_test.c - what only the fifo transport promises: it refuses a file or
 * a symlink at the name and leaves it untouched, creates its files exactly
 * 0600 whatever the umask, lets a SIGKILLed dialer dial again and carry on
 * (a torn large message is reported, never delivered), never calls a
 * stopped peer dead, and tells a dialer that its listener died.
 */
#include <sys/stat.h>
#include <sys/wait.h>

#include "../test.h"

static void
cleanup(void)
{
	t_kill_children();
	char cmd[256];
	snprintf(cmd, sizeof(cmd), "rm -rf /tmp/%s*", t_unique());
	if (system(cmd) != 0)
		fprintf(stderr, "cleanup: '%s' failed\n", cmd);
}

/* Children are this program re-executed with a role, so that they hold
 * none of the parent's descriptors (a forked copy would keep the parent's
 * FIFO ends open). */
static pid_t
spawn(const char *role, const char *url)
{
	char exe[4096];
	ssize_t n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
	T_ASSERT(n > 0);
	exe[n] = '\0';
	pid_t pid = t_fork();
	if (pid == 0) {
		execl(exe, exe, "--child", role, url, (char *)NULL);
		_exit(127);
	}
	return pid;
}

static void
reap(pid_t pid, int want_status)
{
	int st;
	T_ASSERT(waitpid(pid, &st, 0) == pid);
	t_forget(pid);
	if (want_status < 0) {
		T_ASSERT(WIFSIGNALED(st));
		return;
	}
	if (!WIFEXITED(st))
		T_FAILF("child %d died of signal %d", (int)pid, WTERMSIG(st));
	T_EQ(WEXITSTATUS(st), want_status);
}

static void
put_file(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");
	T_ASSERT(f);
	fputs(text, f);
	fclose(f);
}

static void
expect_file(const char *path, const char *text)
{
	char buf[64] = "";
	FILE *f = fopen(path, "r");
	T_ASSERT(f);
	size_t n = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	buf[n] = '\0';
	if (strcmp(buf, text) != 0)
		T_FAILF("%s changed: '%s'", path, buf);
}

static int
exists(const char *path)
{
	struct stat st;
	return lstat(path, &st) == 0;
}

/* A regular file or a symlink at the name: refused, and left as it was. */
static void
test_refuse(void)
{
	char canary[256], name[256], url[300], extra[300];
	snprintf(canary, sizeof(canary), "/tmp/%s-canary", t_unique());
	put_file(canary, "canary\n");
	struct ipk_listener *l;
	struct ipk_chan *c;

	snprintf(url, sizeof(url), "fifo://%s", canary);
	int rv = ipk_listen(url, NULL, &l);
	fprintf(stderr, "listen on a regular file: %s\n", ipk_strerror(rv));
	T_ERR(rv, IPK_EFOREIGN);
	T_ASSERT(strstr(ipk_strerror(rv), canary));
	expect_file(canary, "canary\n");
	snprintf(extra, sizeof(extra), "%s.lock", canary);
	T_ASSERT(!exists(extra));

	snprintf(name, sizeof(name), "/tmp/%s-link", t_unique());
	T_ASSERT(symlink(canary, name) == 0);
	snprintf(url, sizeof(url), "fifo://%s", name);
	rv = ipk_listen(url, NULL, &l);
	fprintf(stderr, "listen on a symlink: %s\n", ipk_strerror(rv));
	T_ERR(rv, IPK_EFOREIGN);
	expect_file(canary, "canary\n");
	struct stat st;
	T_ASSERT(lstat(name, &st) == 0 && S_ISLNK(st.st_mode));

	/* A symlinked lock file is not followed by a dialer either. */
	snprintf(url, sizeof(url), "fifo:///tmp/%s-dlink", t_unique());
	snprintf(extra, sizeof(extra), "/tmp/%s-dlink.lock", t_unique());
	T_ASSERT(symlink(canary, extra) == 0);
	struct ipk_opts o = {.timeout_ms = 0};
	T_ERR(ipk_dial(url, &o, &c), IPK_EFOREIGN);
	expect_file(canary, "canary\n");
}

/* Exactly 0600 (and ?mode= exactly) under umask 000. */
static void
test_mode(void)
{
	const char *sfx[] = {"", ".reply", ".lock"};
	unsigned modes[] = {0600, 0640};
	mode_t old = umask(0);
	for (int m = 0; m < 2; m++) {
		char url[300], path[300];
		snprintf(url, sizeof(url), "fifo:///tmp/%s-mode%d%s",
		    t_unique(), m, m ? "?mode=0640" : "");
		struct ipk_listener *l;
		T_OK(ipk_listen(url, NULL, &l));
		for (int i = 0; i < 3; i++) {
			struct stat st;
			snprintf(path, sizeof(path), "/tmp/%s-mode%d%s",
			    t_unique(), m, sfx[i]);
			T_ASSERT(lstat(path, &st) == 0);
			if ((st.st_mode & 07777) != modes[m])
				T_FAILF("%s has mode %o, expected %o", path,
				    (unsigned)(st.st_mode & 07777), modes[m]);
			T_ASSERT(i == 2 ? S_ISREG(st.st_mode)
					: S_ISFIFO(st.st_mode));
		}
		ipk_listener_close(l);
		for (int i = 0; i < 3; i++) {
			snprintf(path, sizeof(path), "/tmp/%s-mode%d%s",
			    t_unique(), m, sfx[i]);
			T_ASSERT(!exists(path));
		}
	}
	umask(old);
}

#define BIG (1u << 20)

/* First dialer: 100 small messages, then a 1 MiB one it will never finish
 * (the listener does not read; the FIFO holds 64 KiB). */
static int
dialer_a(const char *url)
{
	struct ipk_opts o = {.timeout_ms = 5000};
	struct ipk_chan *c;
	if (ipk_dial(url, &o, &c) != 0)
		return 10;
	for (uint32_t i = 0; i < 100; i++)
		if (ipk_send(c, &i, sizeof(i), 1, 5000) != 0)
			return 11;
	char *big = calloc(1, BIG);
	if (!big)
		return 12;
	(void)ipk_send(c, big, BIG, 2, 20000);
	return 13;
}

/* Second dialer: carries on with 100..199, then a round trip. */
static int
dialer_b(const char *url)
{
	struct ipk_opts o = {.timeout_ms = 5000};
	struct ipk_chan *c;
	if (ipk_dial(url, &o, &c) != 0)
		return 20;
	for (uint32_t i = 100; i < 200; i++)
		if (ipk_send(c, &i, sizeof(i), 1, 5000) != 0)
			return 21;
	char buf[16];
	size_t len;
	uint32_t t;
	if (ipk_recv(c, buf, sizeof(buf), &len, &t, 5000) != 0 || len != 5 ||
	    memcmp(buf, "hello", 5) != 0)
		return 22;
	if (ipk_send(c, "bye", 3, 3, 5000) != 0)
		return 23;
	/* Stay until the listener has the last word. */
	int rv = ipk_recv(c, buf, sizeof(buf), &len, &t, 5000);
	if (rv != IPK_ECLOSED) {
		fprintf(stderr, "dialer b: %s\n", ipk_strerror(rv));
		return 24;
	}
	ipk_close(c);
	return 0;
}

static void
recv_seq(struct ipk_chan *c, uint32_t from, uint32_t to)
{
	for (uint32_t i = from; i < to; i++) {
		uint32_t v = 0, t = 0;
		size_t len = 0;
		int64_t t0 = t_now_ns();
		int rv;
		/* Until the new dialer is there, the channel says closed. */
		while ((rv = ipk_recv(c, &v, sizeof(v), &len, &t, 5000)) ==
			IPK_ECLOSED &&
		    t_ms_since(t0) < 5000.0) {
			struct timespec ts = {0, 1000000};
			nanosleep(&ts, NULL); /* polling a fact, bounded */
		}
		T_OK(rv);
		T_EQ(len, sizeof(v));
		T_EQ(v, i);
		T_EQ(t, 1);
	}
}

static void
test_reattach(void)
{
	char url[300];
	snprintf(url, sizeof(url), "fifo:///tmp/%s-re", t_unique());
	struct ipk_listener *l;
	struct ipk_chan *c;
	T_OK(ipk_listen(url, NULL, &l));
	pid_t a = spawn("dialer_a", url);
	T_OK(ipk_accept(l, 10000, &c));
	recv_seq(c, 0, 100);
	/* A is stuck in the middle of its big message: kill it there. */
	T_OK(t_wait_blocked(a, a, 5000));
	kill(a, SIGKILL);
	reap(a, -1);
	char *buf = malloc(2 * BIG);
	T_ASSERT(buf);
	size_t len = 0;
	uint32_t t = 0;
	int rv = ipk_recv(c, buf, 2 * BIG, &len, &t, 5000);
	fprintf(stderr, "after the dialer died mid-message: %s\n",
	    ipk_strerror(rv));
	T_ERR(rv, -EBADMSG);
	T_ERR(ipk_recv(c, buf, 2 * BIG, &len, &t, 100), IPK_ECLOSED);
	free(buf);

	pid_t b = spawn("dialer_b", url);
	int64_t t0 = t_now_ns();
	recv_seq(c, 100, 200);
	fprintf(stderr, "second dialer reattached; 100 messages in %.1f ms\n",
	    t_ms_since(t0));
	T_OK(ipk_send(c, "hello", 5, 4, 5000));
	char small[16];
	T_OK(ipk_recv(c, small, sizeof(small), &len, &t, 5000));
	T_ASSERT(len == 3 && !memcmp(small, "bye", 3));
	ipk_close(c);
	reap(b, 0);
	ipk_listener_close(l);
}

/* A dialer that will be stopped: it answers "go" with "alive". */
static int
dialer_frozen(const char *url)
{
	struct ipk_opts o = {.timeout_ms = 5000};
	struct ipk_chan *c;
	char buf[16];
	size_t len;
	uint32_t t;
	if (ipk_dial(url, &o, &c) != 0 || ipk_send(c, "ready", 5, 1, 5000))
		return 50;
	if (ipk_recv(c, buf, sizeof(buf), &len, &t, 10000) != 0)
		return 51;
	if (ipk_send(c, "alive", 5, 1, 5000) != 0)
		return 52;
	ipk_close(c);
	return 0;
}

/* A stopped dialer is slow, not dead: calls time out, then go on. */
static void
test_frozen(void)
{
	char url[300];
	snprintf(url, sizeof(url), "fifo:///tmp/%s-fz", t_unique());
	struct ipk_listener *l;
	struct ipk_chan *c;
	T_OK(ipk_listen(url, NULL, &l));
	pid_t d = spawn("dialer_frozen", url);
	T_OK(ipk_accept(l, 10000, &c));
	char buf[16];
	size_t len;
	uint32_t t;
	T_OK(ipk_recv(c, buf, sizeof(buf), &len, &t, 5000));
	kill(d, SIGSTOP);
	T_ERR(ipk_recv(c, buf, sizeof(buf), &len, &t, 300), -ETIMEDOUT);
	kill(d, SIGCONT);
	T_OK(ipk_send(c, "go", 2, 1, 5000));
	T_OK(ipk_recv(c, buf, sizeof(buf), &len, &t, 5000));
	T_ASSERT(len == 5 && !memcmp(buf, "alive", 5));
	reap(d, 0);
	ipk_close(c);
	ipk_listener_close(l);
}

static int
listener_child(const char *url)
{
	struct ipk_listener *l;
	struct ipk_chan *c;
	if (ipk_listen(url, NULL, &l) != 0 || ipk_accept(l, 5000, &c) != 0)
		return 30;
	if (ipk_send(c, "ready", 5, 1, 5000) != 0)
		return 31;
	for (;;)
		pause();
}

/* The listener dies: the dialer blocked in recv hears IPK_ECLOSED; a new
 * listener reclaims the stale files and removes them on close. */
static void
test_listener_death(void)
{
	char url[300], path[300];
	snprintf(url, sizeof(url), "fifo:///tmp/%s-ld", t_unique());
	pid_t lp = spawn("listener", url);
	struct ipk_opts o = {.timeout_ms = 5000};
	struct ipk_chan *c;
	T_OK(ipk_dial(url, &o, &c));
	char buf[16];
	size_t len;
	uint32_t t;
	T_OK(ipk_recv(c, buf, sizeof(buf), &len, &t, 5000));
	T_ASSERT(len == 5 && !memcmp(buf, "ready", 5));
	kill(lp, SIGKILL);
	int64_t t0 = t_now_ns();
	T_ERR(ipk_recv(c, buf, sizeof(buf), &len, &t, 5000), IPK_ECLOSED);
	fprintf(stderr, "listener death noticed in %.2f ms\n", t_ms_since(t0));
	T_ASSERT(t_ms_since(t0) < 1000.0);
	T_ERR(ipk_send(c, "x", 1, 0, 100), IPK_ECLOSED);
	reap(lp, -1);
	ipk_close(c);
	snprintf(path, sizeof(path), "/tmp/%s-ld.lock", t_unique());
	T_ASSERT(exists(path)); /* left by the dead listener */
	struct ipk_listener *l;
	T_OK(ipk_listen(url, NULL, &l));
	ipk_listener_close(l);
	T_ASSERT(!exists(path));
}

int
main(int argc, char **argv)
{
	if (argc == 4 && !strcmp(argv[1], "--child")) {
		alarm(20);
		if (!strcmp(argv[2], "dialer_a"))
			return dialer_a(argv[3]);
		if (!strcmp(argv[2], "dialer_b"))
			return dialer_b(argv[3]);
		if (!strcmp(argv[2], "dialer_frozen"))
			return dialer_frozen(argv[3]);
		if (!strcmp(argv[2], "listener"))
			return listener_child(argv[3]);
		return 2;
	}
	t_watchdog(60);
	t_cleanup_hook = cleanup;
	test_refuse();
	test_mode();
	test_reattach();
	test_frozen();
	test_listener_death();
	cleanup();
	printf("PASS fifo\n");
	return T_PASS;
}
