/* SPDX-License-Identifier: MIT */
/*
 * fault_op.c - one scripted conversation over one transport (listen, dial
 * from a child, accept, checksummed messages of assorted sizes, zero-copy,
 * close, remove), optionally with strace attached to inject a system call
 * failure, then a leak check; tests/fault/run.sh loops it over fault points.
 */
#include <dirent.h>
#include <mqueue.h>
#include <pthread.h>
#include <sched.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/uio.h>

#include <poll.h>
#include <stdarg.h>

#include "test.h"

/* What each side of the conversation reports to the harness. */
struct fault_side {
	int rv; /* first failing ipk_* code, 0 if none */
	int bad; /* 1: a check failed (data, sentence, fds) */
	char step[64]; /* the step that failed */
	char msg[400]; /* its sentence, or what was wrong */
};

struct fault_shared {
	struct fault_side side[2]; /* 0 the listener side, 1 the dialer */
};

static struct fault_shared *sh;
static char variant[64], scheme[64], url[512], url_keep[600];
static const char *query;
static const char *name;
static unsigned caps;
static int timeout_ms = 3000;

static const size_t fault_sizes[] = {0, 1, 777, 4096, 70001};
#define FAULT_NMSG (sizeof(fault_sizes) / sizeof(fault_sizes[0]))
#define FAULT_SEED 0x5eed0fa17ull

/* Output that uses writev, not write: the harness must not meet a fault
 * injected into write(2). */
static void
fault_say(const char *fmt, ...)
{
	char buf[1024];
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	if (n < 0)
		return;
	if ((size_t)n >= sizeof(buf))
		n = sizeof(buf) - 1;
	struct iovec iov = {buf, (size_t)n};
	ssize_t w = writev(1, &iov, 1);
	(void)w;
}

/* Open descriptors, counted with one poll(2): POLLNVAL marks a closed one. */
static int
fault_count_fds(void)
{
	static struct pollfd p[1024];
	for (int i = 0; i < 1024; i++)
		p[i] = (struct pollfd){.fd = i, .events = 0};
	if (poll(p, 1024, 0) < 0)
		return -1;
	int n = 0;
	for (int i = 0; i < 1024; i++)
		if (!(p[i].revents & POLLNVAL))
			n++;
	return n;
}

/* Record the first failure of a side; returns rv for chaining. */
static int
fault_fail(int who, const char *step, int rv)
{
	struct fault_side *s = &sh->side[who];
	if (s->rv || s->bad)
		return rv;
	s->rv = rv;
	snprintf(s->step, sizeof(s->step), "%s", step);
	const char *m = ipk_strerror(rv);
	snprintf(s->msg, sizeof(s->msg), "%s %s", ipk_errname(rv), m ? m : "");
	if (!m || !*m)
		s->bad = 1;
	return rv;
}

static void
fault_bad(int who, const char *step, const char *what)
{
	struct fault_side *s = &sh->side[who];
	if (s->bad)
		return;
	s->bad = 1;
	snprintf(s->step, sizeof(s->step), "%s", step);
	snprintf(s->msg, sizeof(s->msg), "%s", what);
}

static size_t
fault_size(struct ipk_chan *c, unsigned i)
{
	size_t max = ipk_max_msg(c);
	return fault_sizes[i] < max ? fault_sizes[i] : max;
}

/* Receive message i (copy or peek) and check every byte. */
static int
fault_recv_one(int who, struct ipk_chan *c, unsigned i, void *buf, size_t cap)
{
	size_t want = fault_size(c, i), len = 0;
	uint32_t type = 0;
	const void *p = buf;
	int rv, peek = (i & 1) != 0;
	if (peek)
		rv = ipk_peek(c, &p, &len, &type, timeout_ms);
	else
		rv = ipk_recv(c, buf, cap, &len, &type, timeout_ms);
	if (rv)
		return fault_fail(who, peek ? "peek" : "recv", rv);
	int ok = len == want && t_check(p, len, FAULT_SEED, i);
	if (!(caps & IPK_CAP_NOTYPES) && type != i + 1)
		ok = 0;
	if (peek && (rv = ipk_release(c)))
		return fault_fail(who, "release", rv);
	if (!ok) {
		fault_bad(who, "recv", "message corrupted, or wrong size/type");
		return -EBADMSG;
	}
	return 0;
}

/* Send message i (copy or loan). */
static int
fault_send_one(int who, struct ipk_chan *c, unsigned i, void *buf)
{
	size_t n = fault_size(c, i);
	int rv;
	if (i & 1) {
		void *p;
		if ((rv = ipk_loan(c, n, &p, timeout_ms)))
			return fault_fail(who, "loan", rv);
		t_fill(p, n, FAULT_SEED, i);
		if ((rv = ipk_commit(c, n, i + 1)))
			return fault_fail(who, "commit", rv);
		return 0;
	}
	t_fill(buf, n, FAULT_SEED, i);
	if ((rv = ipk_send(c, buf, n, i + 1, timeout_ms)))
		return fault_fail(who, "send", rv);
	return 0;
}

/* The dialer: echo every message back, then wait for the close. */
static void
fault_dialer_talk(struct ipk_chan *c)
{
	static unsigned char buf[80000];
	for (unsigned i = 0; i < FAULT_NMSG; i++) {
		if (fault_recv_one(1, c, i, buf, sizeof(buf)) ||
		    fault_send_one(1, c, i, buf))
			return;
	}
	size_t len;
	int rv = ipk_recv(c, buf, sizeof(buf), &len, NULL, timeout_ms);
	if (rv != IPK_ECLOSED && rv != -ETIMEDOUT) {
		if (rv < 0)
			fault_fail(1, "recv end", rv);
		else
			fault_bad(1, "recv end", "a message after the last");
	}
}

static int
fault_dialer_run(struct ipk_chan *given)
{
	int fds = fault_count_fds();
	struct ipk_chan *c = given;
	int rv = 0;
	if (!c) {
		struct ipk_opts o = {.timeout_ms = timeout_ms};
		if ((rv = ipk_dial(url, &o, &c)))
			fault_fail(1, "dial", rv);
	}
	if (c)
		fault_dialer_talk(c);
	ipk_close(c);
	if (!given && fault_count_fds() != fds)
		fault_bad(1, "close", "descriptor leaked");
	return sh->side[1].bad ? 1 : sh->side[1].rv ? 2 : 0;
}

static void *
fault_dialer_thread(void *arg)
{
	(void)arg;
	return (void *)(intptr_t)fault_dialer_run(NULL);
}

/* The listener's half of the conversation over an accepted channel. */
static void
fault_listener_talk(struct ipk_chan *c)
{
	static unsigned char buf[80000];
	for (unsigned i = 0; i < FAULT_NMSG; i++) {
		if (fault_send_one(0, c, i, buf) ||
		    fault_recv_one(0, c, i, buf, sizeof(buf)))
			return;
	}
}

/* Wait (bounded) for the dialer child; SIGKILL it when it overstays. */
static void
fault_reap(pid_t pid)
{
	int st;
	int64_t t0 = t_now_ns();
	for (;;) {
		pid_t p = waitpid(pid, &st, WNOHANG);
		if (p == pid)
			break;
		if (p < 0 && errno != EINTR) {
			fault_bad(0, "waitpid", "dialer child lost");
			return;
		}
		if (t_ms_since(t0) > 4.0 * timeout_ms) {
			kill(pid, SIGKILL);
			waitpid(pid, &st, 0);
			fault_bad(1, "hang", "dialer did not finish in time");
			return;
		}
		struct timespec ts = {0, 1000000};
		nanosleep(&ts, NULL); /* polling a child's exit, bounded */
	}
	if (WIFSIGNALED(st)) {
		char m[64];
		snprintf(
		    m, sizeof(m), "dialer killed by signal %d", WTERMSIG(st));
		fault_bad(1, "crash", m);
	} else if (WEXITSTATUS(st) != 0 && WEXITSTATUS(st) != 2 &&
	    !sh->side[1].bad) {
		char m[64];
		snprintf(
		    m, sizeof(m), "dialer exit status %d", WEXITSTATUS(st));
		fault_bad(1, "exit", m);
	}
}

/* A second listener with ?keep=1, closed, then removed with ipk_remove. */
static void
fault_keep_remove(void)
{
	struct ipk_listener *l = NULL;
	int rv = ipk_listen(url_keep, NULL, &l);
	if (rv) {
		fault_fail(0, "listen keep", rv);
		return;
	}
	ipk_listener_close(l);
	rv = ipk_remove(url_keep, 0);
	if (rv && rv != -ENOTSUP)
		fault_fail(0, "remove", rv);
}

/* The traced process: the whole scripted sequence, then its own checks. */
static int
fault_op(void)
{
	int fds = fault_count_fds();
	struct ipk_listener *l = NULL;
	struct ipk_chan *c = NULL, *peer = NULL;
	pthread_t th;
	int threaded = 0, rv;
	pid_t pid = -1;

	if (!strcmp(scheme, "pipe")) {
		if ((rv = ipk_pair(&c, &peer))) {
			fault_fail(0, "pair", rv);
			goto out;
		}
		caps = ipk_caps(c);
		pid = fork();
		if (pid == 0) {
			ipk_close(c);
			exit(fault_dialer_run(peer));
		}
		ipk_close(peer);
		if (pid < 0) {
			fault_fail(0, "fork", -errno);
			goto out;
		}
		fault_listener_talk(c);
		goto out;
	}
	if ((rv = ipk_listen(url, NULL, &l))) {
		fault_fail(0, "listen", rv);
		goto out;
	}
	snprintf(url, sizeof(url), "%s", ipk_listener_url(l));
	caps = ipk_scheme_caps(scheme);
	if (caps & IPK_CAP_THREADS) {
		if (pthread_create(&th, NULL, fault_dialer_thread, NULL)) {
			fault_bad(0, "thread", "pthread_create failed");
			goto out;
		}
		threaded = 1;
	} else if ((pid = fork()) == 0) {
		exit(fault_dialer_run(NULL));
	} else if (pid < 0) {
		fault_fail(0, "fork", -errno);
		goto out;
	}
	if ((rv = ipk_accept(l, timeout_ms, &c))) {
		fault_fail(0, "accept", rv);
		goto out;
	}
	fault_listener_talk(c);
out:
	ipk_close(c);
	c = NULL;
	ipk_listener_close(l);
	if (threaded)
		pthread_join(th, NULL);
	else if (pid > 0)
		fault_reap(pid);
	if (url_keep[0] && !sh->side[0].rv && !sh->side[0].bad)
		fault_keep_remove();
	if (fault_count_fds() != fds)
		fault_bad(0, "close", "descriptor leaked");
	for (int i = 0; i < 2; i++)
		if (sh->side[i].bad)
			return 1;
	return sh->side[0].rv || sh->side[1].rv ? 2 : 0;
}

/* --- The harness (not traced) --------------------------------------------- */

static int private_ipc; /* in a namespace of our own: SysV fully checked */
static char mqdir[64] = "/dev/mqueue"; /* where this run lists its queues */
static pid_t mqdir_owner;

static void
fault_mqdir_remove(void)
{
	if (getpid() != mqdir_owner) /* a forked child shares the mount */
		return;
	(void)umount2(mqdir, MNT_DETACH);
	(void)rmdir(mqdir);
}

/* A private IPC namespace and an mqueue file system of its own, so every
 * System V object and queue left at the end is ours (root only). Where the
 * machine has no /dev/mqueue, the file system goes on a directory of its
 * own, removed at exit. */
static void
fault_isolate(void)
{
	if (getenv("IPK_FAULT_SHARED_IPC"))
		return;
	if (unshare(CLONE_NEWIPC | CLONE_NEWNS))
		return;
	if (mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL))
		return;
	if (mount("mqueue", mqdir, "mqueue", 0, NULL)) {
		snprintf(mqdir, sizeof(mqdir), "/tmp/ipk-mqfs.XXXXXX");
		if (!mkdtemp(mqdir))
			return;
		if (mount("mqueue", mqdir, "mqueue", 0, NULL)) {
			(void)rmdir(mqdir);
			return;
		}
		mqdir_owner = getpid();
		atexit(fault_mqdir_remove);
	}
	private_ipc = 1;
}

/* Entries of dir containing name; removed when `clean`. */
static int
fault_leftovers(const char *dir, int clean)
{
	DIR *d = opendir(dir);
	int n = 0;
	if (!d)
		return 0;
	for (struct dirent *e; (e = readdir(d));) {
		const char *dot = strrchr(e->d_name, '.');
		if (!strstr(e->d_name, name) ||
		    (dot && !strcmp(dot, ".strace")))
			continue;
		char p[1024];
		snprintf(p, sizeof(p), "%s/%s", dir, e->d_name);
		struct stat st;
		if (lstat(p, &st) == 0 && S_ISDIR(st.st_mode) &&
		    strstr(e->d_name, "-run"))
			continue; /* the run directory: checked below */
		fault_say("left behind: %s\n", p);
		n++;
		if (clean && !strcmp(dir, mqdir)) {
			char q[300];
			snprintf(q, sizeof(q), "/%s", e->d_name);
			mq_unlink(q);
		} else if (clean) {
			unlink(p);
			rmdir(p);
		}
	}
	closedir(d);
	return n;
}

/* Lines after the header of a /proc/sysvipc file: objects in our ns. */
static int
fault_sysv_count(const char *file)
{
	FILE *f = fopen(file, "r");
	int n = -1;
	char line[512];
	if (!f)
		return 0;
	while (fgets(line, sizeof(line), f))
		n++;
	fclose(f);
	return n > 0 ? n : 0;
}

/* Registry entries left in the run directory; the directory is removed. */
static int
fault_rundir(const char *dir)
{
	DIR *d = opendir(dir);
	int n = 0;
	if (!d)
		return 0;
	for (struct dirent *e; (e = readdir(d));) {
		if (e->d_name[0] == '.')
			continue;
		char p[1024];
		snprintf(p, sizeof(p), "%s/%s", dir, e->d_name);
		fault_say("left in the run directory: %s\n", p);
		unlink(p);
		n++;
	}
	closedir(d);
	rmdir(dir);
	return n;
}

static int
fault_tracer_ready(const char *log)
{
	FILE *f = fopen(log, "r");
	char line[512];
	int ready = 0;
	if (!f)
		return 0;
	while (!ready && fgets(line, sizeof(line), f))
		ready = strstr(line, "SIGSTOP") != NULL;
	fclose(f);
	return ready;
}

static int
fault_injected(const char *log)
{
	FILE *f = fopen(log, "r");
	char line[1024];
	int n = 0;
	if (!f)
		return 0;
	while (fgets(line, sizeof(line), f))
		n += strstr(line, "(INJECTED)") != NULL;
	fclose(f);
	return n;
}

/* Start strace on the stopped process `pid` with the given injection. */
static pid_t
fault_strace(pid_t pid, const char *spec, const char *log)
{
	char p[16], inj[256], trace[128];
	snprintf(p, sizeof(p), "%d", (int)pid);
	snprintf(inj, sizeof(inj), "inject=%s", spec);
	snprintf(
	    trace, sizeof(trace), "trace=%.*s", (int)strcspn(spec, ":"), spec);
	pid_t s = fork();
	if (s == 0) {
		execlp("strace", "strace", "-f", "-qq", "-o", log, "-e", trace,
		    "-e", inj, "-p", p, (char *)NULL);
		_exit(127);
	}
	int64_t t0 = t_now_ns();
	while (s > 0 && !fault_tracer_ready(log)) {
		if (t_ms_since(t0) > 10000 || waitpid(s, NULL, WNOHANG) == s)
			return -1;
		struct timespec ts = {0, 200000};
		nanosleep(&ts, NULL); /* polling a fact, bounded */
	}
	return s;
}

int
main(int argc, char **argv)
{
	if (argc < 3) {
		fprintf(stderr,
		    "usage: %s VARIANT NAME [SYSCALL:error=E:"
		    "when=N[+]]\n",
		    argv[0]);
		return T_FAIL;
	}
	snprintf(variant, sizeof(variant), "%s", argv[1]);
	snprintf(scheme, sizeof(scheme), "%s", variant);
	char *slash = strchr(scheme, '/');
	char q[64] = "";
	if (slash) {
		*slash = '\0';
		snprintf(q, sizeof(q), "wait=%s", slash + 1);
		query = q;
	}
	name = strcmp(argv[2], "-") ? argv[2] : t_unique();
	const char *spec = argc > 3 && *argv[3] ? argv[3] : NULL;
	const char *tm = getenv("IPK_FAULT_TIMEOUT_MS");
	if (tm && *tm)
		timeout_ms = atoi(tm);
	unsigned sc = ipk_scheme_caps(scheme);
	if (!sc && strcmp(scheme, "pipe")) {
		fprintf(stderr, "unknown scheme %s\n", scheme);
		return T_FAIL;
	}
	if (sc & IPK_CAP_REMOTE)
		snprintf(url, sizeof(url), "%s://127.0.0.1:0", scheme);
	else if (sc & IPK_CAP_THREADS)
		snprintf(url, sizeof(url), "%s://%s", scheme, name);
	else if (!strcmp(scheme, "shm") || !strcmp(scheme, "mq"))
		snprintf(url, sizeof(url), "%s:///%s", scheme, name);
	else if (strcmp(scheme, "pipe"))
		snprintf(url, sizeof(url), "%s:///tmp/%s", scheme, name);
	if (url[0] && !(sc & (IPK_CAP_REMOTE | IPK_CAP_THREADS)) &&
	    strncmp(scheme, "nng", 3))
		snprintf(url_keep, sizeof(url_keep), "%s-k?keep=1%s%s", url,
		    query ? "&" : "", query ? query : "");
	if (query) {
		size_t ul = strlen(url);
		snprintf(url + ul, sizeof(url) - ul, "?%s", query);
	}
	char rundir[256], log[256];
	snprintf(rundir, sizeof(rundir), "/tmp/%s-run", name);
	snprintf(log, sizeof(log), "/tmp/%s.strace", name);
	setenv("IPK_RUNDIR", rundir, 1);
	signal(SIGPIPE, SIG_IGN);
	fault_isolate();
	sh = mmap(NULL, sizeof(*sh), PROT_READ | PROT_WRITE,
	    MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (sh == MAP_FAILED)
		return T_FAIL;

	pid_t op = fork();
	if (op == 0) {
		setpgid(0, 0);
		if (spec)
			raise(SIGSTOP);
		exit(fault_op());
	}
	setpgid(op, op);
	pid_t st_pid = -1;
	if (spec) {
		int st;
		waitpid(op, &st, WUNTRACED);
		st_pid = fault_strace(op, spec, log);
		if (st_pid < 0) {
			kill(-op, SIGKILL);
			waitpid(op, NULL, 0);
			fprintf(stderr, "strace did not attach\n");
			return T_FAIL;
		}
		kill(op, SIGCONT);
	}
	/* The watchdog: a hang is a failure, never a stuck run. */
	int st = 0, hung = 0;
	int64_t t0 = t_now_ns();
	while (waitpid(op, &st, WNOHANG) != op) {
		if (t_ms_since(t0) > 8.0 * timeout_ms + 5000) {
			hung = 1;
			kill(-op, SIGKILL);
			waitpid(op, &st, 0);
			break;
		}
		struct timespec ts = {0, 1000000};
		nanosleep(&ts, NULL); /* polling a child's exit, bounded */
	}
	kill(-op, SIGKILL); /* a dialer the op process could not reap */
	int injected = 0;
	if (st_pid > 0) {
		waitpid(st_pid, NULL, 0);
		injected = fault_injected(log);
		if (!getenv("IPK_FAULT_KEEP_LOG"))
			unlink(log);
	}

	int rc;
	char why[600] = "";
	if (hung) {
		rc = T_FAIL;
		snprintf(why, sizeof(why), "hang: killed after %.0f ms",
		    t_ms_since(t0));
	} else if (WIFSIGNALED(st)) {
		rc = T_FAIL;
		snprintf(why, sizeof(why), "crash: signal %d", WTERMSIG(st));
	} else {
		rc = WEXITSTATUS(st);
		if (rc != 0 && rc != 2 && rc != 1)
			snprintf(why, sizeof(why),
			    "exit status %d (sanitizer?)", rc);
		if (rc != 0 && rc != 2)
			rc = T_FAIL;
	}
	if (url_keep[0] && !strcmp(sh->side[0].step, "remove")) {
		/* ipk_remove failed, as it may: the kept objects are expected;
		 * a child without the allocation hook removes them. */
		pid_t k = fork();
		if (k == 0) {
			unsetenv("IPK_TEST_FAIL_ALLOC");
			_exit(ipk_remove(url_keep, IPK_REMOVE_FORCE) ? 1 : 0);
		}
		waitpid(k, NULL, 0);
	}
	if (!strcmp(scheme, "shm") && sh->side[1].rv && !sh->side[1].bad) {
		/* Messages the failed dialer never read keep the segment and
		 * its registry entry (shm.c, "Removal": it lingers until a
		 * dialer drains it); gc's way removes both. */
		char p[300];
		struct stat sb;
		snprintf(p, sizeof(p), "/dev/shm/%s", name);
		if (stat(p, &sb) == 0) {
			fault_say("lingering (documented): %s\n", p);
			pid_t k = fork();
			if (k == 0) {
				unsetenv("IPK_TEST_FAIL_ALLOC");
				_exit(
				    ipk_remove(url, IPK_REMOVE_FORCE) ? 1 : 0);
			}
			waitpid(k, NULL, 0);
		}
	}
	int left = fault_leftovers("/tmp", 1) + fault_leftovers("/dev/shm", 1) +
	    fault_leftovers(mqdir, 1) + fault_rundir(rundir);
	if (private_ipc) {
		int nq = fault_sysv_count("/proc/sysvipc/msg");
		int ns = fault_sysv_count("/proc/sysvipc/sem");
		if (nq || ns)
			fault_say("left behind: %d System V queues, %d "
				  "semaphore sets\n",
			    nq, ns);
		left += nq + ns;
	}
	if (left) {
		rc = T_FAIL;
		snprintf(why + strlen(why), sizeof(why) - strlen(why),
		    "%s%d objects left behind", *why ? "; " : "", left);
	}
	for (int i = 0; i < 2; i++) {
		struct fault_side *s = &sh->side[i];
		if (s->bad || s->rv)
			fault_say("%s %s: %s%s\n", i ? "dialer" : "listener",
			    s->step, s->bad ? "BAD " : "", s->msg);
	}
	fault_say("%s %s %s: %s injected=%d%s%s\n", variant, name,
	    spec ? spec : "-",
	    rc == 0	  ? "ok"
		: rc == 2 ? "error"
			  : "FAIL",
	    injected, *why ? " " : "", why);
	return rc;
}
