/* SPDX-License-Identifier: MIT */
/*
 * security_test.c - every object a named transport creates has exactly mode
 * 0600 (or ?mode=) under umask 000, 022 and 077; and a second uid that
 * squats our names (files, FIFOs, queues, sockets, symlinks to a canary)
 * makes listen and dial refuse with a sentence, without blocking, without
 * touching the canary and without removing anything we do not own.
 */
#include <dirent.h>
#include <mqueue.h>
#include <sys/ipc.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>

#include "test.h"

#define SEC_UID 65534 /* nobody */

static const char *sec_vars[][2] = {
    {"fifo", NULL},
    {"unix", NULL},
    {"mq", NULL},
    {"sysv", NULL},
    {"shm", "wait=futex"},
    {"shm", "wait=sem"},
};

static void
sec_url(char *u, size_t n, const char *scheme, const char *name, const char *q1,
    const char *q2)
{
	int len;
	if (!strcmp(scheme, "shm") || !strcmp(scheme, "mq"))
		len = snprintf(u, n, "%s:///%s", scheme, name);
	else
		len = snprintf(u, n, "%s:///tmp/%s", scheme, name);
	if (q1)
		len += snprintf(u + len, n - (size_t)len, "?%s", q1);
	if (q2)
		snprintf(u + len, n - (size_t)len, "%s%s", q1 ? "&" : "?", q2);
}

/* Check the mode of every entry of dir whose name contains tag; count.
 * "/dev/mqueue" is read wherever the mqueue file system is mounted, or
 * queue by queue through mq_open when none can be. */
static int
sec_dir_modes(const char *dir, const char *tag, unsigned want)
{
	int n = 0;
	if (!strcmp(dir, "/dev/mqueue") && !(dir = t_mqueue_dir())) {
		static const char *const sfx[] = {".ipk-l", ".ipk-d"};
		for (int i = 0; i < 2; i++) {
			char p[512];
			struct stat st;
			snprintf(
			    p, sizeof(p), "/dev/mqueue/%.200s%s", tag, sfx[i]);
			if (t_obj_stat(p, &st) < 0)
				continue;
			if ((st.st_mode & 07777) != want)
				T_FAILF("%s has mode %04o, expected %04o", p,
				    (unsigned)(st.st_mode & 07777), want);
			n++;
		}
		return n;
	}
	DIR *d = opendir(dir);
	if (!d)
		return 0;
	for (struct dirent *e; (e = readdir(d));) {
		char p[1024];
		struct stat st;
		if (!strstr(e->d_name, tag))
			continue;
		snprintf(p, sizeof(p), "%s/%s", dir, e->d_name);
		if (lstat(p, &st) < 0)
			continue;
		/* shm doorbells are rung by the same uid only (the ringer
		 * checks the owner), so they stay 0600 whatever ?mode= says:
		 * tighter, never wider */
		unsigned w = strstr(e->d_name, ".bell") ? 0600 : want;
		if ((st.st_mode & 07777) != w)
			T_FAILF("%s has mode %04o, expected %04o", p,
			    (unsigned)(st.st_mode & 07777), w);
		n++;
	}
	closedir(d);
	return n;
}

/* The SysV queue at ftok(path, 'i'): its mode, or -1 when there is none. */
static int
sec_sysv_mode(const char *path)
{
	key_t key = ftok(path, 'i');
	FILE *f = fopen("/proc/sysvipc/msg", "re");
	char line[512];
	int mode = -1;
	if (!f || key == (key_t)-1)
		goto out;
	while (fgets(line, sizeof(line), f)) {
		long k;
		unsigned perms;
		if (sscanf(line, "%ld %*d %o", &k, &perms) == 2 &&
		    (key_t)k == key)
			mode = (int)(perms & 0777);
	}
out:
	if (f)
		fclose(f);
	return mode;
}

static void
sec_modes(mode_t um, const char *mode)
{
	for (size_t i = 0; i < sizeof(sec_vars) / sizeof(sec_vars[0]); i++) {
		const char *s = sec_vars[i][0];
		char name[96], url[512], dial[600], m[32];
		struct ipk_listener *l;
		struct ipk_chan *a, *b;
		unsigned want = mode ? (unsigned)strtoul(mode, NULL, 8) : 0600;
		snprintf(name, sizeof(name), "%s-m%03o%zu%s", t_unique(),
		    (unsigned)um, i, mode ? mode : "");
		if (mode)
			snprintf(m, sizeof(m), "mode=%s", mode);
		sec_url(
		    url, sizeof(url), s, name, sec_vars[i][1], mode ? m : NULL);
		umask(um);
		T_OK(ipk_listen(url, NULL, &l));
		snprintf(dial, sizeof(dial), "%s%stimeout=2000",
		    ipk_listener_url(l),
		    strchr(ipk_listener_url(l), '?') ? "&" : "?");
		T_OK(ipk_dial(dial, NULL, &b));
		T_OK(ipk_accept(l, 2000, &a));
		(void)ipk_fd(a); /* doorbells, where they exist */
		(void)ipk_fd(b);
		umask(022);
		int n = sec_dir_modes("/tmp", name, want) +
		    sec_dir_modes("/dev/shm", name, want) +
		    sec_dir_modes("/dev/mqueue", name, want);
		if (!strcmp(s, "sysv")) {
			char p[256], lk[64];
			snprintf(p, sizeof(p), "/tmp/%s", name);
			int qm = sec_sysv_mode(p);
			if (qm != (int)want)
				T_FAILF("sysv queue of %s has mode %04o, "
					"expected %04o",
				    p, (unsigned)qm, want);
			/* the lock file and doorbells, named by the key */
			snprintf(lk, sizeof(lk), "ipk-sysv-0x%08x",
			    (unsigned)ftok(p, 'i'));
			int k = sec_dir_modes("/dev/shm", lk, want);
			if (k != 3)
				T_FAILF(
				    "%d files /dev/shm/%s*, expected 3", k, lk);
			n += k + 1;
		}
		T_ASSERT(n > 0);
		ipk_close(b);
		ipk_close(a);
		T_OK(ipk_listener_close(l));
		printf("umask %03o %-5s %-10s: %d objects, all %04o\n",
		    (unsigned)um, s, sec_vars[i][1] ? sec_vars[i][1] : "", n,
		    want);
	}
}

/* --- squatting --------------------------------------------------------- */

enum sec_kind { SQ_FILE, SQ_FIFO, SQ_LINK, SQ_SOCK, SQ_DEADSOCK, SQ_MQ };

static const char *sec_kinds[] = {"regular file 0666", "FIFO 0666",
    "symlink to a canary", "live socket", "dead socket", "queue 0666"};

/* As uid 65534: create `path` of the given kind; write a byte when done
 * and, for a live socket, stay until the pipe closes. */
static pid_t
sec_squat(const char *path, enum sec_kind k, const char *canary, int *hold)
{
	int p[2], h[2];
	T_ASSERT(pipe2(p, O_CLOEXEC) == 0 && pipe2(h, O_CLOEXEC) == 0);
	pid_t pid = fork();
	T_ASSERT(pid >= 0);
	if (pid == 0) {
		int fd = -1, ok;
		alarm(30);
		umask(0);
		if (setresgid(SEC_UID, SEC_UID, SEC_UID) ||
		    setresuid(SEC_UID, SEC_UID, SEC_UID))
			_exit(2);
		if (k == SQ_FILE) {
			fd = open(path, O_CREAT | O_EXCL | O_RDWR, 0666);
			ok = fd >= 0 && ftruncate(fd, 65536) == 0;
		} else if (k == SQ_FIFO) {
			ok = mkfifo(path, 0666) == 0;
		} else if (k == SQ_LINK) {
			ok = symlink(canary, path) == 0;
		} else if (k == SQ_MQ) {
			struct mq_attr at = {.mq_maxmsg = 4, .mq_msgsize = 64};
			mqd_t q =
			    mq_open(path, O_CREAT | O_EXCL | O_RDWR, 0666, &at);
			ok = q != (mqd_t)-1;
		} else {
			struct sockaddr_un sa = {.sun_family = AF_UNIX};
			snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path);
			fd = socket(AF_UNIX, SOCK_STREAM, 0);
			ok = fd >= 0 &&
			    bind(fd, (void *)&sa, sizeof(sa)) == 0 &&
			    chmod(path, 0666) == 0 && listen(fd, 4) == 0;
			if (k == SQ_DEADSOCK)
				close(fd);
		}
		if (!ok) {
			perror(path);
			_exit(3);
		}
		if (write(p[1], "k", 1) != 1)
			_exit(4);
		char b;
		close(h[1]);
		while (read(h[0], &b, 1) < 0 && errno == EINTR)
			;
		_exit(0);
	}
	char b;
	close(p[1]);
	close(h[0]);
	int got = (int)read(p[0], &b, 1);
	close(p[0]);
	if (got != 1) {
		int st;
		waitpid(pid, &st, 0);
		T_FAILF("squatter for %s failed (status %d)", path,
		    WEXITSTATUS(st));
	}
	*hold = h[1];
	return pid;
}

/* Run one squat: listen (and dial) must refuse, the canary and the squatted
 * object must be untouched. `obj` is the file-system path of the object. */
static void
sec_one(const char *scheme, const char *q, const char *name, const char *obj,
    const char *mqname, enum sec_kind k, const char *canary)
{
	char url[512], dial[600];
	struct stat before, after, cst;
	int hold;
	pid_t pid = sec_squat(mqname ? mqname : obj, k, canary, &hold);
	T_ASSERT(t_obj_stat(obj, &before) == 0 && before.st_uid == SEC_UID);
	sec_url(url, sizeof(url), scheme, name, q, NULL);
	snprintf(dial, sizeof(dial), "%s%stimeout=0", url, q ? "&" : "?");
	struct ipk_listener *l = NULL;
	int64_t t0 = t_now_ns();
	int rv = ipk_listen(url, NULL, &l);
	double ms = t_ms_since(t0);
	if (rv == 0)
		T_FAILF("%s over a squatted %s (%s): listen succeeded", url,
		    obj, sec_kinds[k]);
	char msg[512];
	snprintf(msg, sizeof(msg), "%s", ipk_strerror(rv));
	if (!strstr(msg, name))
		T_FAILF("%s: the error does not name the object: %s", url, msg);
	struct ipk_chan *c = NULL;
	int drv = ipk_dial(dial, NULL, &c);
	if (drv == 0)
		T_FAILF("%s over a squatted %s (%s): dial succeeded", url, obj,
		    sec_kinds[k]);
	T_ASSERT(ms < 2000 && t_ms_since(t0) < 4000); /* no blocking open */
	T_ASSERT(t_obj_stat(obj, &after) == 0);
	T_ASSERT(after.st_ino == before.st_ino && after.st_uid == SEC_UID);
	T_ASSERT(stat(canary, &cst) == 0 && cst.st_size == 7);
	char cb[16] = {0};
	int cfd = open(canary, O_RDONLY | O_CLOEXEC);
	T_ASSERT(cfd >= 0 && read(cfd, cb, sizeof(cb)) == 7);
	close(cfd);
	T_ASSERT(!memcmp(cb, "canary\n", 7));
	printf("%-5s %s (%s): listen %s, dial %s\n    \"%s\"\n", scheme, obj,
	    sec_kinds[k], ipk_errname(rv), ipk_errname(drv), msg);
	close(hold);
	waitpid(pid, NULL, 0);
	if (mqname)
		mq_unlink(mqname);
	else
		unlink(obj);
}

/* A key file of uid SEC_UID at a sysv path: listen and dial work, the file
 * is left exactly as it was, and nothing of ours is made with its uid. */
static void
sec_keyfile(const char *name, const char *obj, const char *canary)
{
	char url[512], dial[600];
	struct stat before, after;
	int hold;
	pid_t pid = sec_squat(obj, SQ_FILE, canary, &hold);
	T_ASSERT(lstat(obj, &before) == 0 && before.st_uid == SEC_UID);
	sec_url(url, sizeof(url), "sysv", name, NULL, NULL);
	snprintf(dial, sizeof(dial), "%s?timeout=2000", url);
	struct ipk_listener *l;
	struct ipk_chan *a, *b;
	char buf[8];
	size_t len;
	T_OK(ipk_listen(url, NULL, &l));
	T_OK(ipk_dial(dial, NULL, &b));
	T_OK(ipk_accept(l, 2000, &a));
	T_OK(ipk_send(b, "key", 3, 0, 2000));
	T_OK(ipk_recv(a, buf, sizeof(buf), &len, NULL, 2000));
	T_ASSERT(len == 3 && !memcmp(buf, "key", 3));
	key_t key = ftok(obj, 'i');
	char lock[64];
	struct stat ls;
	snprintf(lock, sizeof(lock), "/dev/shm/ipk-sysv-0x%08x", (unsigned)key);
	T_ASSERT(lstat(lock, &ls) == 0 && ls.st_uid == geteuid());
	T_OK(ipk_close(a));
	T_OK(ipk_close(b));
	T_OK(ipk_listener_close(l));
	T_ASSERT(lstat(obj, &after) == 0);
	T_ASSERT(after.st_ino == before.st_ino && after.st_uid == SEC_UID &&
	    after.st_mode == before.st_mode && after.st_size == 65536 &&
	    after.st_mtime == before.st_mtime);
	T_ASSERT(lstat(lock, &ls) < 0 && errno == ENOENT);
	printf("sysv  %s (regular file 0666 of uid %d): used as the key "
	       "source, left as it was\n",
	    obj, SEC_UID);
	close(hold);
	waitpid(pid, NULL, 0);
	unlink(obj);
}

static const char *canary_path;

static void
sec_cleanup(void)
{
	if (canary_path)
		unlink(canary_path);
}

static void
sec_squatting(void)
{
	char canary[128], obj[256], mqn[256], name[96];
	snprintf(canary, sizeof(canary), "/tmp/%s-canary", t_unique());
	canary_path = canary;
	t_cleanup_hook = sec_cleanup;
	int fd = open(canary, O_CREAT | O_EXCL | O_WRONLY | O_CLOEXEC, 0644);
	T_ASSERT(fd >= 0 && write(fd, "canary\n", 7) == 7);
	close(fd);
	int n = 0;
	/* shm: the segment name, and the lock of mq */
	snprintf(name, sizeof(name), "%s-s%d", t_unique(), n++);
	for (int k = SQ_FILE; k <= SQ_LINK; k += SQ_LINK - SQ_FILE) {
		snprintf(obj, sizeof(obj), "/dev/shm/%s", name);
		sec_one("shm", "wait=futex", name, obj, NULL, k, canary);
	}
	/* mq: the queues themselves, and a symlinked lock */
	snprintf(name, sizeof(name), "%s-s%d", t_unique(), n++);
	snprintf(mqn, sizeof(mqn), "/%s.ipk-l", name);
	snprintf(obj, sizeof(obj), "/dev/mqueue/%s.ipk-l", name);
	sec_one("mq", NULL, name, obj, mqn, SQ_MQ, canary);
	snprintf(mqn, sizeof(mqn), "/%s.ipk-d", name);
	snprintf(obj, sizeof(obj), "/dev/mqueue/%s.ipk-d", name);
	sec_one("mq", NULL, name, obj, mqn, SQ_MQ, canary);
	snprintf(obj, sizeof(obj), "/dev/shm/%s.ipk-lock", name);
	sec_one("mq", NULL, name, obj, NULL, SQ_LINK, canary);
	/* fifo: the FIFO as FIFO, as file, as symlink; the lock file */
	static const char *fsuf[] = {"", ".reply", ".lock"};
	for (int f = 0; f < 3; f++)
		for (int k = SQ_FILE; k <= SQ_LINK; k++) {
			snprintf(name, sizeof(name), "%s-s%d", t_unique(), n++);
			snprintf(obj, sizeof(obj), "/tmp/%s%s", name, fsuf[f]);
			sec_one("fifo", NULL, name, obj, NULL, k, canary);
		}
	/* unix: a live and a dead socket of another uid, a symlink */
	for (int k = SQ_LINK; k <= SQ_DEADSOCK; k++) {
		snprintf(name, sizeof(name), "%s-s%d", t_unique(), n++);
		snprintf(obj, sizeof(obj), "/tmp/%s", name);
		sec_one("unix", NULL, name, obj, NULL, k, canary);
	}
	/* sysv: a symlinked key file is refused; another user's key file is
	 * what System V programs share (ftok): it is only read, never
	 * changed, and the queue and lock file are ours alone. */
	snprintf(name, sizeof(name), "%s-s%d", t_unique(), n++);
	snprintf(obj, sizeof(obj), "/tmp/%s", name);
	sec_one("sysv", NULL, name, obj, NULL, SQ_LINK, canary);
	snprintf(name, sizeof(name), "%s-s%d", t_unique(), n++);
	snprintf(obj, sizeof(obj), "/tmp/%s", name);
	sec_keyfile(name, obj, canary);
	unlink(canary);
	/* Nothing of ours is left: a refused listen removes what it made. */
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
}

int
main(void)
{
	t_watchdog(60);
	(void)t_mqueue_dir(); /* before any thread: may unshare */
	int fds = t_count_fds();
	static const mode_t ums[] = {0, 022, 077};
	for (int i = 0; i < 3; i++) {
		sec_modes(ums[i], NULL);
		sec_modes(ums[i], "0640");
	}
	T_EQ(t_count_fds(), fds);
	if (geteuid() != 0) {
		printf("squatting by a second uid skipped: not root\n");
		return T_PASS;
	}
	sec_squatting();
	T_EQ(t_count_fds(), fds);
	return T_PASS;
}
