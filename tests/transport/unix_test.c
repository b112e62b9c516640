/* SPDX-License-Identifier: MIT */
/*
 * unix_test.c - what only the unix transport promises: abstract names, many
 * peers on one listener with their credentials, a stale socket file
 * replaced while a live listener is never stolen, the socket file exactly
 * 0600 under umask 000, and ?allow= admitting another uid.
 */
#include <dirent.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>

#include "../test.h"

#define NPEERS 4

static void
cleanup(void)
{
	t_kill_children();
	char cmd[256];
	snprintf(cmd, sizeof(cmd), "rm -rf /tmp/%s*", t_unique());
	if (system(cmd) != 0)
		fprintf(stderr, "cleanup: '%s' failed\n", cmd);
}

/* A child is this program re-executed with a role (no inherited fds). */
static pid_t
spawn(const char *role, const char *url, const char *arg)
{
	char exe[4096];
	ssize_t n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
	T_ASSERT(n > 0);
	exe[n] = '\0';
	pid_t pid = t_fork();
	if (pid == 0) {
		execl(exe, exe, "--child", role, url, arg, (char *)NULL);
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

/* Peer: send our index and pid, expect index * 10 back, check the
 * listener's credentials. */
static int
child_peer(const char *url, const char *arg)
{
	struct ipk_opts o = {.timeout_ms = 5000};
	struct ipk_chan *c;
	if (ipk_dial(url, &o, &c) != 0)
		return 10;
	int32_t msg[2] = {atoi(arg), (int32_t)getpid()};
	if (ipk_send(c, msg, sizeof(msg), 1, 5000) != 0)
		return 11;
	int32_t back = 0;
	size_t len;
	uint32_t t;
	if (ipk_recv(c, &back, sizeof(back), &len, &t, 5000) != 0 ||
	    back != msg[0] * 10)
		return 12;
	struct ipk_peer pr;
	if (ipk_peer(c, &pr) != 0 || pr.pid != getppid() ||
	    pr.uid != geteuid() || pr.gid != getegid())
		return 13;
	ipk_close(c);
	return 0;
}

static int
child_listen(const char *url, const char *arg)
{
	(void)arg;
	struct ipk_listener *l;
	if (ipk_listen(url, NULL, &l) != 0)
		return 20;
	printf("listening\n");
	fflush(stdout);
	for (;;)
		pause();
}

static int
child_steal(const char *url, const char *arg)
{
	(void)arg;
	struct ipk_listener *l;
	int rv = ipk_listen(url, NULL, &l);
	return rv == -EADDRINUSE ? 0 : 30;
}

/* Connect raw as uid 65534 and wait: 0 when the listener closed us. */
static int
child_stranger(const char *url, const char *arg)
{
	if (setresgid(65534, 65534, 65534) < 0 ||
	    setresuid(65534, 65534, 65534) < 0)
		return 40;
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	size_t n = strlen(url + 7);
	memcpy(sa.sun_path, url + 7, n); /* "unix://@name" */
	sa.sun_path[0] = '\0';
	if (connect(fd, (struct sockaddr *)&sa,
		(socklen_t)(offsetof(struct sockaddr_un, sun_path) + n)) < 0)
		return 41;
	char b;
	ssize_t r = read(fd, &b, 1);
	if (!strcmp(arg, "closed"))
		return r == 0 ? 0 : 42;
	return 0;
}

/* Listen raw as uid 65534 and take one connection. */
static int
child_slisten(const char *url, const char *arg)
{
	(void)arg;
	if (setresgid(65534, 65534, 65534) < 0 ||
	    setresuid(65534, 65534, 65534) < 0)
		return 50;
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	size_t n = strlen(url + 7);
	memcpy(sa.sun_path, url + 7, n); /* "unix://@name" */
	sa.sun_path[0] = '\0';
	if (bind(fd, (struct sockaddr *)&sa,
		(socklen_t)(offsetof(struct sockaddr_un, sun_path) + n)) < 0 ||
	    listen(fd, 4) < 0)
		return 51;
	int c = accept(fd, NULL, NULL);
	return c >= 0 ? 0 : 52;
}

static void
serve_peers(struct ipk_listener *l, int n, pid_t *pids)
{
	for (int i = 0; i < n; i++) {
		struct ipk_chan *c;
		T_OK(ipk_accept(l, 10000, &c));
		int32_t msg[2];
		size_t len;
		uint32_t t;
		T_OK(ipk_recv(c, msg, sizeof(msg), &len, &t, 5000));
		T_EQ(len, sizeof(msg));
		T_ASSERT(msg[0] >= 0 && msg[0] < n);
		T_EQ(msg[1], pids[msg[0]]);
		struct ipk_peer pr;
		T_OK(ipk_peer(c, &pr));
		T_EQ(pr.pid, pids[msg[0]]);
		T_EQ(pr.uid, geteuid());
		T_EQ(pr.gid, getegid());
		int32_t back = msg[0] * 10;
		T_OK(ipk_send(c, &back, sizeof(back), 2, 5000));
		/* Keep it open until the peer is done with it. */
		T_ERR(
		    ipk_recv(c, msg, sizeof(msg), &len, &t, 5000), IPK_ECLOSED);
		ipk_close(c);
	}
}

/* Many peers at once, on a file name and on an abstract name. */
static void
test_many(const char *url)
{
	struct ipk_listener *l;
	T_OK(ipk_listen(url, NULL, &l));
	T_ASSERT(ipk_listener_fd(l) >= 0);
	pid_t pids[NPEERS];
	for (int i = 0; i < NPEERS; i++) {
		char idx[16];
		snprintf(idx, sizeof(idx), "%d", i);
		pids[i] = spawn("peer", url, idx);
	}
	serve_peers(l, NPEERS, pids);
	for (int i = 0; i < NPEERS; i++)
		reap(pids[i], 0);
	ipk_listener_close(l);
}

static void
test_abstract(void)
{
	char url[300];
	snprintf(url, sizeof(url), "unix://@%s-abs", t_unique());
	test_many(url);
	/* No file anywhere for an abstract name. */
	char path[300];
	struct stat st;
	snprintf(path, sizeof(path), "/tmp/%s-abs", t_unique());
	T_ASSERT(lstat(path, &st) < 0);
	snprintf(path, sizeof(path), "@%s-abs", t_unique());
	T_ASSERT(lstat(path, &st) < 0);
}

/* A listener killed leaves its socket file: the next one replaces it. A
 * live one is never stolen. */
static void
test_stale_and_live(void)
{
	char url[400], path[300];
	snprintf(path, sizeof(path), "/tmp/%s-st", t_unique());
	snprintf(url, sizeof(url), "unix://%s", path);
	int pfd[2];
	T_ASSERT(pipe(pfd) == 0);
	fflush(stdout);
	pid_t lp = t_fork();
	if (lp == 0) {
		dup2(pfd[1], 1);
		close(pfd[0]);
		char exe[4096];
		ssize_t n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
		exe[n > 0 ? n : 0] = '\0';
		execl(exe, exe, "--child", "listen", url, "-", (char *)NULL);
		_exit(127);
	}
	close(pfd[1]);
	char line[32] = "";
	ssize_t r = read(pfd[0], line, sizeof(line) - 1); /* bounded: alarm */
	close(pfd[0]);
	T_ASSERT(r > 0 && !strncmp(line, "listening", 9));

	pid_t thief = spawn("steal", url, "-");
	reap(thief, 0);
	kill(lp, SIGKILL);
	reap(lp, -1);
	struct stat st;
	T_ASSERT(lstat(path, &st) == 0 && S_ISSOCK(st.st_mode));

	struct ipk_listener *l;
	T_OK(ipk_listen(url, NULL, &l));
	pid_t pids[1] = {spawn("peer", url, "0")};
	serve_peers(l, 1, pids);
	reap(pids[0], 0);
	/* And we are not stolen from either. */
	struct ipk_listener *l2;
	T_ERR(ipk_listen(url, NULL, &l2), -EADDRINUSE);
	ipk_listener_close(l);
	T_ASSERT(lstat(path, &st) < 0);
}

/* Exactly 0600 under umask 000, and nothing else left in the directory. */
static void
test_mode(void)
{
	char dir[300], url[500], path[400];
	snprintf(dir, sizeof(dir), "/tmp/%s-dir", t_unique());
	T_ASSERT(mkdir(dir, 0700) == 0);
	mode_t old = umask(0);
	unsigned modes[] = {0600, 0660};
	for (int m = 0; m < 2; m++) {
		snprintf(path, sizeof(path), "%s/s%d", dir, m);
		snprintf(url, sizeof(url), "unix://%s%s", path,
		    m ? "?mode=0660" : "");
		struct ipk_listener *l;
		T_OK(ipk_listen(url, NULL, &l));
		struct stat st;
		T_ASSERT(lstat(path, &st) == 0 && S_ISSOCK(st.st_mode));
		if ((st.st_mode & 07777) != modes[m])
			T_FAILF("%s has mode %o, expected %o", path,
			    (unsigned)(st.st_mode & 07777), modes[m]);
		int entries = 0;
		DIR *d = opendir(dir);
		T_ASSERT(d);
		for (struct dirent *e; (e = readdir(d));)
			if (e->d_name[0] != '.')
				entries++;
			else if (strcmp(e->d_name, ".") &&
			    strcmp(e->d_name, ".."))
				T_FAILF("left behind: %s/%s", dir, e->d_name);
		closedir(d);
		T_EQ(entries, 1);
		ipk_listener_close(l);
	}
	umask(old);
	T_ASSERT(rmdir(dir) == 0);
}

/* Another uid is closed unheard unless ?allow= names it, and a dialer
 * refuses a listener of another uid (needs root). */
static void
test_allow(void)
{
	if (geteuid() != 0) {
		fprintf(stderr,
		    "allow: skipped (needs root to become uid "
		    "65534)\n");
		return;
	}
	char url[300];
	snprintf(url, sizeof(url), "unix://@%s-allow", t_unique());
	struct ipk_listener *l;
	struct ipk_chan *c;
	T_OK(ipk_listen(url, NULL, &l));
	pid_t s = spawn("stranger", url, "closed");
	/* Accept drops the stranger unheard and it sees its connection
	 * closed; keep accepting until it is gone, however late (a loaded
	 * machine) it connects. */
	int st, w;
	int64_t t0 = t_now_ns();
	while ((w = waitpid(s, &st, WNOHANG)) == 0 && t_ms_since(t0) < 15000)
		T_ERR(ipk_accept(l, 100, &c), -ETIMEDOUT);
	T_EQ(w, s);
	t_forget(s);
	T_ASSERT(WIFEXITED(st) && WEXITSTATUS(st) == 0);
	ipk_listener_close(l);

	char aurl[340];
	snprintf(aurl, sizeof(aurl), "%s?allow=65534", url);
	T_OK(ipk_listen(aurl, NULL, &l));
	s = spawn("stranger", url, "open");
	T_OK(ipk_accept(l, 5000, &c));
	struct ipk_peer pr;
	T_OK(ipk_peer(c, &pr));
	T_EQ(pr.uid, 65534);
	ipk_close(c);
	reap(s, 0);
	ipk_listener_close(l);

	/* The other way round: a listener of another uid is refused. */
	snprintf(url, sizeof(url), "unix://@%s-stranger", t_unique());
	s = spawn("slisten", url, "");
	struct ipk_opts o = {.timeout_ms = 5000};
	int rv = ipk_dial(url, &o, &c);
	T_ERR(rv, -EACCES);
	fprintf(stderr, "listener of another uid: %s\n", ipk_strerror(rv));
	reap(s, 0);
}

int
main(int argc, char **argv)
{
	if (argc == 5 && !strcmp(argv[1], "--child")) {
		alarm(20);
		if (!strcmp(argv[2], "peer"))
			return child_peer(argv[3], argv[4]);
		if (!strcmp(argv[2], "listen"))
			return child_listen(argv[3], argv[4]);
		if (!strcmp(argv[2], "steal"))
			return child_steal(argv[3], argv[4]);
		if (!strcmp(argv[2], "stranger"))
			return child_stranger(argv[3], argv[4]);
		if (!strcmp(argv[2], "slisten"))
			return child_slisten(argv[3], argv[4]);
		return 2;
	}
	t_watchdog(60);
	t_cleanup_hook = cleanup;
	char url[300];
	test_abstract();
	snprintf(url, sizeof(url), "unix:///tmp/%s-file", t_unique());
	test_many(url);
	test_stale_and_live();
	test_mode();
	test_allow();
	cleanup();
	printf("PASS unix\n");
	return T_PASS;
}
