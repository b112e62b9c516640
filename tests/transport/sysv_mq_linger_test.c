/* SPDX-License-Identifier: MIT */
/*
 * sysv_mq_linger_test.c - queued data outlives the writer until read, on
 * both kernel-queue transports: a listener that sends to an attached dialer
 * and closes leaves its messages for that dialer, which reads them all,
 * gets IPK_ECLOSED and leaves nothing behind; without a live dialer the
 * listener removes everything; a dialer killed while the channel lingers
 * leaves objects that the next listener or ipk_remove (ipckit gc) reclaims.
 */
#include <dirent.h>
#include <mqueue.h>
#include <sys/msg.h>
#include <sys/stat.h>

#include "test.h"

#define NMSG 8 /* fits the default queue depth of mq (no reader needed) */
#define MSGLEN 200

static char rundir[64];
static const char *scheme;
static char name[128]; /* the run's unique name with the case's tag */

static void
url_of(char *out, size_t n, const char *query)
{
	if (!strcmp(scheme, "sysv"))
		snprintf(out, n, "sysv:///tmp/%s%s", name, query);
	else
		snprintf(out, n, "mq:///%s%s", name, query);
}

static void
path_of(char *out, size_t n, const char *suffix)
{
	if (!strcmp(scheme, "sysv"))
		snprintf(out, n, "/tmp/%s%s", name, suffix);
	else
		snprintf(out, n, "/%s%s", name, suffix);
}

/* How many of the channel's kernel objects and files exist; `key` is the
 * System V key learned while the lock file existed. */
static int
objects_count(key_t key)
{
	char p[256];
	int n = 0;
	if (!strcmp(scheme, "sysv")) {
		static const char *const sfx[] = {"", ".ring-l", ".ring-d"};
		for (int i = 0; i < 3; i++) {
			path_of(p, sizeof(p), sfx[i]);
			n += access(p, F_OK) == 0;
		}
		n += key != (key_t)-1 && msgget(key, 0) >= 0;
		return n;
	}
	static const char *const qs[] = {".ipk-l", ".ipk-d"};
	for (int i = 0; i < 2; i++) {
		path_of(p, sizeof(p), qs[i]);
		mqd_t q = mq_open(p, O_RDONLY | O_NONBLOCK);
		if (q != (mqd_t)-1) {
			mq_close(q);
			n++;
		}
	}
	path_of(p, sizeof(p), ".ipk-lock");
	char shm[300];
	snprintf(shm, sizeof(shm), "/dev/shm%s", p);
	return n + (access(shm, F_OK) == 0);
}

static int
rundir_count(void)
{
	DIR *d = opendir(rundir);
	int n = 0;
	struct dirent *e;
	if (!d)
		return -1;
	while ((e = readdir(d)))
		n += e->d_name[0] != '.';
	closedir(d);
	return n;
}

static key_t
key_now(void)
{
	char p[256];
	if (strcmp(scheme, "sysv"))
		return (key_t)-1;
	path_of(p, sizeof(p), "");
	return ftok(p, 'i');
}

static void
objects_remove(void)
{
	char u[300];
	url_of(u, sizeof(u), "");
	(void)ipk_remove(u, IPK_REMOVE_FORCE);
}

static void
cleanup(void)
{
	t_kill_children();
	objects_remove();
	(void)rmdir(rundir);
}

static void
set_case(const char *tag)
{
	snprintf(name, sizeof(name), "%s-%s", t_unique(), tag);
}

/* The listener: accept, send NMSG checksummed messages, close, exit. */
static void
listener_run(const char *u, uint64_t seed, const char *crash)
{
	if (crash)
		setenv("IPK_TEST_CRASH", crash, 1);
	struct ipk_listener *l;
	struct ipk_chan *c;
	unsigned char buf[MSGLEN];
	T_OK(ipk_listen(u, NULL, &l));
	T_OK(ipk_accept(l, 10000, &c));
	for (uint64_t i = 0; i < NMSG; i++) {
		t_fill(buf, sizeof(buf), seed, i);
		T_OK(ipk_send(c, buf, sizeof(buf), (uint32_t)i, 10000));
	}
	T_OK(ipk_close(c));
	T_OK(ipk_listener_close(l));
	_exit(0);
}

static struct ipk_chan *
dial(const char *u)
{
	struct ipk_opts o = {.timeout_ms = 10000};
	struct ipk_chan *c;
	T_OK(ipk_dial(u, &o, &c));
	return c;
}

static void
read_all(struct ipk_chan *c, uint64_t seed)
{
	unsigned char buf[MSGLEN + 16];
	size_t len;
	uint32_t type;
	for (uint64_t i = 0; i < NMSG; i++) {
		T_OK(ipk_recv(c, buf, sizeof(buf), &len, &type, 10000));
		T_EQ(len, MSGLEN);
		T_EQ(type, i);
		T_ASSERT(t_check(buf, len, seed, i));
	}
	int64_t t0 = t_now_ns();
	T_ERR(ipk_recv(c, buf, sizeof(buf), &len, &type, 10000), IPK_ECLOSED);
	T_ASSERT(t_ms_since(t0) < 1000);
}

static void
check_clean(key_t key, const char *what)
{
	int n = objects_count(key), r = rundir_count();
	if (n || r)
		T_FAILF("%s %s: %d objects and %d registry entries left",
		    scheme, what, n, r);
}

/* The listener's process closes and exits before the attached dialer has
 * read anything; the dialer then reads every message. */
static void
test_linger(void)
{
	char u[300];
	uint64_t seed = t_seed();
	set_case("lg");
	url_of(u, sizeof(u), strcmp(scheme, "mq") ? "" : "?depth=8");
	pid_t p = t_fork();
	if (p == 0)
		listener_run(u, seed, NULL);
	struct ipk_chan *c = dial(u);
	key_t key = key_now();
	t_reap(p); /* the barrier: the listener has closed and exited */
	read_all(c, seed);
	T_OK(ipk_close(c));
	check_clean(key, "linger");
	fprintf(stderr,
	    "%s linger: %d messages read after the listener "
	    "exited, nothing left\n",
	    scheme, NMSG);
}

/* The listener is killed right after it marked the queue as left to the
 * dialer (a crash site of test builds; other builds close normally): the
 * dialer still reads everything and removes it. */
static void
test_linger_crash(void)
{
	char u[300];
	int st;
	uint64_t seed = t_seed();
	set_case("lc");
	url_of(u, sizeof(u), "");
	pid_t p = t_fork();
	if (p == 0)
		listener_run(u, seed, "sysv.linger_mark:1");
	struct ipk_chan *c = dial(u);
	key_t key = key_now();
	T_ASSERT(waitpid(p, &st, 0) == p);
	t_forget(p);
	T_ASSERT((WIFEXITED(st) && WEXITSTATUS(st) == 0) ||
	    (WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL));
	read_all(c, seed);
	T_OK(ipk_close(c));
	check_clean(key, "linger, listener killed after the mark");
	fprintf(stderr,
	    "%s linger, listener %s after the mark: all read, "
	    "nothing left\n",
	    scheme, WIFSIGNALED(st) ? "killed" : "closed");
}

/* Without a live dialer a listener that closes with unread messages
 * removes everything (a dead channel must not leak kernel objects). */
static void
test_no_reader(void)
{
	char u[300];
	int sync[2];
	uint64_t seed = t_seed();
	set_case("nr");
	url_of(u, sizeof(u), strcmp(scheme, "mq") ? "" : "?depth=8");
	T_ASSERT(pipe(sync) == 0);
	pid_t d = t_fork();
	if (d == 0) {
		(void)dial(u);
		(void)!write(sync[1], "a", 1);
		for (;;)
			pause();
	}
	struct ipk_listener *l;
	struct ipk_chan *c;
	unsigned char buf[MSGLEN];
	T_OK(ipk_listen(u, NULL, &l));
	T_OK(ipk_accept(l, 10000, &c));
	char b;
	T_ASSERT(read(sync[0], &b, 1) == 1);
	key_t key = key_now();
	for (uint64_t i = 0; i < NMSG; i++) {
		t_fill(buf, sizeof(buf), seed, i);
		T_OK(ipk_send(c, buf, sizeof(buf), (uint32_t)i, 10000));
	}
	t_reap_kill(d);
	T_OK(ipk_close(c));
	T_OK(ipk_listener_close(l));
	close(sync[0]);
	close(sync[1]);
	check_clean(key, "no reader");
	fprintf(stderr, "%s no reader: everything removed\n", scheme);
}

/* The dialer is killed while the channel lingers: `how` 0 reclaims it by
 * a new listen on the name, 1 by ipk_remove as ipckit gc does. */
static void
test_reader_killed(int how)
{
	char u[300];
	int sync[2];
	uint64_t seed = t_seed();
	set_case(how ? "kg" : "kl");
	url_of(u, sizeof(u), strcmp(scheme, "mq") ? "" : "?depth=8");
	T_ASSERT(pipe(sync) == 0);
	pid_t p = t_fork();
	if (p == 0)
		listener_run(u, seed, NULL);
	pid_t d = t_fork();
	if (d == 0) {
		(void)dial(u);
		(void)!write(sync[1], "a", 1);
		for (;;)
			pause();
	}
	char b;
	T_ASSERT(read(sync[0], &b, 1) == 1);
	key_t key = key_now();
	t_reap(p);
	t_reap_kill(d);
	close(sync[0]);
	close(sync[1]);
	struct ipk_objinfo o;
	int rv = ipk_inspect(u, &o);
	/* System V queues live on without a descriptor: they must linger. */
	if (!strcmp(scheme, "sysv"))
		T_ASSERT(rv == 0 && o.exists);
	if (rv == 0 && (o.exists || o.registered)) {
		/* Left with no owner: it must be findable and dead. */
		T_ASSERT(o.registered);
		T_EQ(o.nalive, 0);
		if (how) {
			T_OK(ipk_remove(u, 0));
		} else {
			struct ipk_listener *l;
			T_OK(ipk_listen(u, NULL, &l));
			T_OK(ipk_listener_close(l));
		}
	} else {
		T_ERR(rv, -ENOENT); /* the kernel freed it with the reader */
	}
	check_clean(key,
	    how ? "reader killed, removed" : "reader killed, listened again");
	fprintf(stderr, "%s reader killed (%s): reclaimed\n", scheme,
	    rv == 0 ? (how ? "ipk_remove" : "new listener") : "by the kernel");
}

/* ?keep=1 leaves everything, even after the dialer has drained it. */
static void
test_keep(void)
{
	char u[300];
	uint64_t seed = t_seed();
	set_case("kp");
	url_of(
	    u, sizeof(u), strcmp(scheme, "mq") ? "?keep=1" : "?keep=1&depth=8");
	pid_t p = t_fork();
	if (p == 0)
		listener_run(u, seed, NULL);
	struct ipk_chan *c = dial(u);
	key_t key = key_now();
	t_reap(p);
	read_all(c, seed);
	T_OK(ipk_close(c));
	T_ASSERT(objects_count(key) > 0);
	T_OK(ipk_remove(u, 0));
	check_clean(key, "keep");
	fprintf(stderr, "%s keep: kept until removed\n", scheme);
}

int
main(void)
{
	t_watchdog(60);
	t_cleanup_hook = cleanup;
	snprintf(rundir, sizeof(rundir), "/tmp/ipkt-run-XXXXXX");
	T_ASSERT(mkdtemp(rundir) != NULL);
	setenv("IPK_RUNDIR", rundir, 1);
	static const char *const schemes[] = {"sysv", "mq"};
	for (int i = 0; i < 2; i++) {
		scheme = schemes[i];
		if (!strcmp(scheme, "mq") && mq_unlink("/ipk-probe-none") < 0 &&
		    errno == ENOSYS) {
			fprintf(stderr, "mq: no POSIX queues here, skipped\n");
			continue;
		}
		test_linger();
		if (!strcmp(scheme, "sysv"))
			test_linger_crash();
		test_no_reader();
		test_reader_killed(0);
		test_reader_killed(1);
		test_keep();
	}
	T_ASSERT(rmdir(rundir) == 0);
	printf("PASS sysv mq linger\n");
	return 0;
}
