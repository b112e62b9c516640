/* SPDX-License-Identifier: MIT */
/*
 * owner_test.c - other uids (root only; skipped otherwise): a listener of
 * another uid at our name is refused by every dialer with a sentence naming
 * its owner; a System V queue squatted at our key is refused and left alone;
 * a directory on the way that another uid controls (a symlink, its own
 * directory, a world-writable one) is refused and nothing is made in it;
 * and a unix listener's SO_PEERCRED filter drops a peer it does not admit
 * before any message while serving the one it does.
 */
#include <dirent.h>
#include <grp.h>
#include <sys/msg.h>
#include <sys/stat.h>

#include "test.h"

#define OWN_NOBODY 65534 /* the squatter; also the admitted peer */
#define OWN_LUID 65533 /* the listener of the SO_PEERCRED test */
#define OWN_EVIL 65532 /* a peer the listener does not admit */

/* Everything the test made, removed by the cleanup hook on any exit. */
static char own_paths[16][256];
static int own_npaths;
static int own_msqids[4] = {-1, -1, -1, -1};

static void
own_cleanup(void)
{
	t_kill_children();
	for (int i = own_npaths - 1; i >= 0; i--)
		if (unlink(own_paths[i]) < 0)
			(void)rmdir(own_paths[i]);
	for (int i = 0; i < 4; i++)
		if (own_msqids[i] >= 0)
			(void)msgctl(own_msqids[i], IPC_RMID, NULL);
}

static const char *
own_path(const char *suffix)
{
	T_ASSERT(own_npaths < 16);
	char *p = own_paths[own_npaths++];
	snprintf(p, sizeof(own_paths[0]), "/tmp/%s%s", t_unique(), suffix);
	return p;
}

static void
own_become(uid_t uid)
{
	if (setgroups(0, NULL) || setresgid(uid, uid, uid) ||
	    setresuid(uid, uid, uid)) {
		perror("setresuid");
		_exit(2);
	}
}

/*
 * A child that becomes `uid`, runs setup(arg) (0: ready), tells the parent,
 * waits until the parent closes *hold, then runs done(arg) and exits.
 */
static pid_t
own_child(
    uid_t uid, int (*setup)(void *), void (*done)(void *), void *arg, int *hold)
{
	int r[2], h[2];
	T_ASSERT(pipe2(r, O_CLOEXEC) == 0 && pipe2(h, O_CLOEXEC) == 0);
	pid_t pid = t_fork();
	if (pid == 0) {
		alarm(30);
		close(r[0]);
		close(h[1]);
		own_become(uid);
		umask(0);
		if (setup(arg) != 0)
			_exit(3);
		if (write(r[1], "k", 1) != 1)
			_exit(4);
		char b;
		while (read(h[0], &b, 1) < 0 && errno == EINTR)
			;
		if (done)
			done(arg);
		_exit(0);
	}
	close(r[1]);
	close(h[0]);
	char b;
	int got = (int)read(r[0], &b, 1);
	close(r[0]);
	if (got != 1)
		T_FAILF("the child of uid %u could not set up", (unsigned)uid);
	*hold = h[1];
	return pid;
}

static void
own_release(pid_t pid, int hold)
{
	close(hold);
	t_reap(pid);
}

/* The error of a refused call must name `what`. */
static void
own_names(int rv, const char *call, const char *what)
{
	const char *msg = ipk_strerror(rv);
	if (rv == 0)
		T_FAILF("%s succeeded", call);
	if (!strstr(msg, what))
		T_FAILF("%s: %s %s does not name %s", call, ipk_errname(rv),
		    msg, what);
	printf("  %-44.44s %-12s \"%s\"\n", call, ipk_errname(rv), msg);
}

/* --- 1. a listener of another uid at our name --------------------------- */

struct own_lst {
	char url[300];
	struct ipk_listener *l;
};

static int
own_listen(void *arg)
{
	struct own_lst *o = arg;
	int rv = ipk_listen(o->url, NULL, &o->l);
	if (rv < 0)
		fprintf(stderr, "%s: %s\n", o->url, ipk_strerror(rv));
	return rv != 0;
}

static void
own_unlisten(void *arg)
{
	struct own_lst *o = arg;
	(void)ipk_listener_close(o->l);
}

static void
own_foreign_listeners(void)
{
	char name[96], key[32];
	unsigned k = (unsigned)(t_now_ns() ^ (getpid() * 2654435761u));
	snprintf(key, sizeof(key), "0x%08x", (k & 0x7fffffffu) | 0x10000000u);
	snprintf(name, sizeof(name), "%s-f", t_unique());
	const char *urls[][2] = {
	    {"fifo:///tmp/%s?mode=0666", ""},
	    {"unix:///tmp/%s?mode=0666", ""},
	    {"unix://@%s", ""},
	    {"mq:///%s?mode=0666", ""},
	    {"sysv:///tmp/%s?mode=0666", ""},
	    {"sysv:%s?mode=0666", key},
	    {"shm:///%s?mode=0666&wait=futex", ""},
	    {"shm:///%s?mode=0666&wait=sem", ""},
	};
	printf("dialing a listener of uid %u:\n", OWN_NOBODY);
	for (size_t i = 0; i < sizeof(urls) / sizeof(urls[0]); i++) {
		struct own_lst o = {.l = NULL};
		char dial[400];
		int hold;
		snprintf(o.url, sizeof(o.url), urls[i][0],
		    urls[i][1][0] ? urls[i][1] : name);
		pid_t pid =
		    own_child(OWN_NOBODY, own_listen, own_unlisten, &o, &hold);
		snprintf(dial, sizeof(dial), "%s%stimeout=0", o.url,
		    strchr(o.url, '?') ? "&" : "?");
		struct ipk_chan *c = NULL;
		int64_t t0 = t_now_ns();
		int rv = ipk_dial(dial, NULL, &c);
		T_ASSERT(t_ms_since(t0) < 2000);
		if (rv == 0)
			ipk_close(c);
		own_names(rv, o.url, "65534");
		own_release(pid, hold);
	}
}

/* --- 2a. a System V queue squatted at our key ---------------------------- */

static int
own_msq(void *arg)
{
	key_t *k = arg;
	int id = msgget(*k, IPC_CREAT | IPC_EXCL | 0666);
	if (id < 0)
		perror("msgget");
	return id < 0;
}

static void
own_sysv_key(const char *url, key_t key)
{
	int hold;
	pid_t pid = own_child(OWN_NOBODY, own_msq, NULL, &key, &hold);
	int id = msgget(key, 0);
	T_ASSERT(id >= 0);
	own_msqids[0] = id;
	struct ipk_listener *l = NULL;
	char kx[16];
	snprintf(kx, sizeof(kx), "0x%08x", (unsigned)key);
	int rv = ipk_listen(url, NULL, &l);
	if (rv == 0)
		ipk_listener_close(l);
	own_names(rv, url, kx);
	T_ASSERT(rv == IPK_EFOREIGN);
	struct msqid_ds ds;
	T_ASSERT(msgctl(id, IPC_STAT, &ds) == 0);
	T_EQ(ds.msg_perm.uid, OWN_NOBODY);
	T_EQ(ds.msg_qnum, 0);
	T_EQ(ds.msg_lspid, 0); /* never written to */
	T_EQ(ds.msg_lrpid, 0);
	T_EQ(ds.msg_perm.mode & 0777, 0666);
	T_ASSERT(msgctl(id, IPC_RMID, NULL) == 0);
	own_msqids[0] = -1;
	own_release(pid, hold);
}

static void
own_sysv_keys(void)
{
	printf("a System V queue of uid %u at our key:\n", OWN_NOBODY);
	unsigned k = (unsigned)(t_now_ns() ^ (getpid() * 40503u));
	key_t key = (key_t)((k & 0x7fffffffu) | 0x20000000u);
	char url[300];
	snprintf(url, sizeof(url), "sysv:0x%08x", (unsigned)key);
	own_sysv_key(url, key);
	/* The path form: the key comes from ftok of the file, which a dead
	 * listener of ours may have left empty. */
	const char *p = own_path("-k");
	int fd = open(p, O_CREAT | O_EXCL | O_RDWR | O_CLOEXEC, 0600);
	T_ASSERT(fd >= 0);
	close(fd);
	key = ftok(p, 'i');
	T_ASSERT(key != (key_t)-1);
	snprintf(url, sizeof(url), "sysv://%s", p);
	own_sysv_key(url, key);
}

/* --- 2b. directories another uid controls --------------------------------- */

struct own_dirs {
	const char *canary, *link, *mine;
};

static int
own_mkdirs(void *arg)
{
	struct own_dirs *d = arg;
	if (mkdir(d->canary, 0777) || symlink(d->canary, d->link) ||
	    mkdir(d->mine, 0755)) {
		perror("squatter's directories");
		return 1;
	}
	return 0;
}

static int
own_dir_entries(const char *dir)
{
	DIR *d = opendir(dir);
	int n = 0;
	T_ASSERT(d);
	for (struct dirent *e; (e = readdir(d));)
		if (strcmp(e->d_name, ".") && strcmp(e->d_name, ".."))
			n++;
	closedir(d);
	return n;
}

/* listen and dial on every path scheme in `dir` must refuse naming what. */
static void
own_refused_in(const char *dir, const char *what)
{
	static const char *schemes[] = {"fifo", "unix", "sysv"};
	for (int i = 0; i < 3; i++) {
		char url[400], dial[420];
		struct ipk_listener *l = NULL;
		struct ipk_chan *c = NULL;
		snprintf(url, sizeof(url), "%s://%s/x", schemes[i], dir);
		snprintf(dial, sizeof(dial), "%s?timeout=0", url);
		int rv = ipk_listen(url, NULL, &l);
		if (rv == 0)
			ipk_listener_close(l);
		own_names(rv, url, what);
		rv = ipk_dial(dial, NULL, &c);
		if (rv == 0)
			ipk_close(c);
		own_names(rv, dial, what);
	}
}

static void
own_directories(void)
{
	struct own_dirs d = {
	    own_path("-canary"), own_path("-dir"), own_path("-theirs")};
	const char *real = own_path("-real"), *ok = own_path("-ok");
	const char *ww = own_path("-ww");
	int hold;
	pid_t pid = own_child(OWN_NOBODY, own_mkdirs, NULL, &d, &hold);
	T_ASSERT(mkdir(real, 0700) == 0 && symlink(real, ok) == 0);
	T_ASSERT(mkdir(ww, 0777) == 0 && chmod(ww, 0777) == 0);
	printf("directories on the way:\n");
	own_refused_in(d.link, d.link); /* symlink of uid 65534 */
	own_refused_in(d.link, "65534");
	own_refused_in(d.mine, "65534"); /* a directory of uid 65534 */
	own_refused_in(ww, "writable by other users");
	T_EQ(own_dir_entries(d.canary), 0); /* nothing made through the link */
	T_EQ(own_dir_entries(d.mine), 0);
	T_EQ(own_dir_entries(ww), 0);
	/* Our own link to our own 0700 directory is fine to follow. */
	static const char *schemes[] = {"fifo", "unix", "sysv"};
	for (int i = 0; i < 3; i++) {
		char url[400], dial[420];
		struct ipk_listener *l;
		struct ipk_chan *a, *b;
		snprintf(url, sizeof(url), "%s://%s/x", schemes[i], ok);
		snprintf(dial, sizeof(dial), "%s?timeout=2000", url);
		T_OK(ipk_listen(url, NULL, &l));
		T_OK(ipk_dial(dial, NULL, &b));
		T_OK(ipk_accept(l, 2000, &a));
		T_OK(ipk_send(b, "hi", 2, 1, 2000));
		char buf[8];
		size_t n;
		T_OK(ipk_recv(a, buf, sizeof(buf), &n, NULL, 2000));
		T_ASSERT(n == 2 && !memcmp(buf, "hi", 2));
		ipk_close(b);
		ipk_close(a);
		T_OK(ipk_listener_close(l));
		printf("  %-44.44s accepted (our link, our 0700 directory)\n",
		    url);
	}
	T_EQ(own_dir_entries(real), 0);
	own_release(pid, hold);
}

/* --- 4. SO_PEERCRED: allow= admits one uid, drops the rest unheard ------- */

static int
own_pc_dial(const char *url, uid_t as, const char *say, const char *want)
{
	pid_t pid = t_fork();
	if (pid == 0) {
		alarm(30);
		own_become(as);
		char dial[400], buf[16];
		struct ipk_chan *c;
		size_t n;
		snprintf(dial, sizeof(dial), "%s%sallow=%u&timeout=3000", url,
		    strchr(url, '?') ? "&" : "?", OWN_LUID);
		int rv = ipk_dial(dial, NULL, &c);
		if (rv != 0) {
			fprintf(stderr, "uid %u: dial: %s\n", (unsigned)as,
			    ipk_strerror(rv));
			_exit(5);
		}
		rv = ipk_send(c, say, strlen(say), 1, 3000);
		if (rv != 0 && rv != IPK_ECLOSED)
			_exit(6);
		rv = ipk_recv(c, buf, sizeof(buf), &n, NULL, 5000);
		ipk_close(c);
		if (want)
			_exit(rv == 0 && n == strlen(want) &&
				    !memcmp(buf, want, n)
				? 0
				: 7);
		/* not admitted: the listener closed us without a word */
		if (rv != IPK_ECLOSED)
			fprintf(stderr, "uid %u: recv gave %s: %s\n",
			    (unsigned)as, ipk_errname(rv), ipk_strerror(rv));
		_exit(rv == IPK_ECLOSED ? 0 : 8);
	}
	return pid;
}

static int
own_pc_serve(void *arg)
{
	struct own_lst *o = arg;
	int rv = ipk_listen(o->url, NULL, &o->l);
	if (rv != 0) {
		fprintf(stderr, "%s: %s\n", o->url, ipk_strerror(rv));
		return 1;
	}
	return 0;
}

/* After the release: the first channel the application sees must be the
 * admitted peer's, carrying its message, and no other may be waiting. */
static void
own_pc_check(void *arg)
{
	struct own_lst *o = arg;
	struct ipk_chan *c;
	struct ipk_peer pr;
	char buf[16];
	size_t n;
	int bad = ipk_accept(o->l, 5000, &c) != 0;
	if (!bad) {
		bad = ipk_peer(c, &pr) != 0 || pr.uid != OWN_NOBODY ||
		    ipk_recv(c, buf, sizeof(buf), &n, NULL, 5000) != 0 ||
		    n != 4 || memcmp(buf, "good", 4) ||
		    ipk_send(c, "ack", 3, 1, 3000) != 0;
		ipk_close(c);
	}
	if (!bad)
		bad = ipk_accept(o->l, 0, &c) != -EAGAIN;
	(void)ipk_listener_close(o->l);
	if (bad) {
		fprintf(stderr, "%s: the admitted peer was not served alone\n",
		    o->url);
		_exit(9);
	}
}

static void
own_peercred(void)
{
	char file[300], abs[300];
	snprintf(file, sizeof(file), "unix://%s?mode=0666&allow=%u",
	    own_path("-pc"), OWN_NOBODY);
	snprintf(
	    abs, sizeof(abs), "unix://@%s-pc?allow=%u", t_unique(), OWN_NOBODY);
	const char *urls[] = {file, abs};
	printf("SO_PEERCRED filter (listener uid %u, allow=%u):\n", OWN_LUID,
	    OWN_NOBODY);
	for (int i = 0; i < 2; i++) {
		struct own_lst o = {.l = NULL};
		int hold;
		snprintf(o.url, sizeof(o.url), "%s", urls[i]);
		pid_t l =
		    own_child(OWN_LUID, own_pc_serve, own_pc_check, &o, &hold);
		char durl[300];
		snprintf(durl, sizeof(durl), "%s", urls[i]);
		*strchr(durl, '?') = '\0';
		/* The admitted peer dials only once the other one has been
		 * dropped, so the listener's first channel must be its. */
		close(hold);
		pid_t evil = own_pc_dial(durl, OWN_EVIL, "evil", NULL);
		t_reap(evil);
		pid_t good = own_pc_dial(durl, OWN_NOBODY, "good", "ack");
		t_reap(good);
		t_reap(l);
		printf("  %-44.44s uid %u closed unheard, uid %u served\n",
		    urls[i], OWN_EVIL, OWN_NOBODY);
	}
}

int
main(void)
{
	t_watchdog(90);
	if (geteuid() != 0)
		T_SKIPF("needs root to act as a second and third uid");
	t_cleanup_hook = own_cleanup;
	(void)t_mqueue_dir(); /* before any thread: may unshare */
	int fds = t_count_fds();
	own_foreign_listeners();
	own_sysv_keys();
	own_directories();
	own_peercred();
	own_cleanup();
	own_npaths = 0;
	T_EQ(t_count_fds(), fds);
	/* Nothing of the run is left in the places objects live. */
	const char *dirs[] = {"/tmp", "/dev/shm", t_mqueue_dir()};
	for (int i = 0; i < 3 && dirs[i]; i++) {
		DIR *d = opendir(dirs[i]);
		for (struct dirent *e; d && (e = readdir(d));)
			if (strstr(e->d_name, t_unique()))
				T_FAILF(
				    "left behind: %s/%s", dirs[i], e->d_name);
		if (d)
			closedir(d);
	}
	return T_PASS;
}
