/* SPDX-License-Identifier: MIT */
/*
 * world_test.c - the user's world: before each case, what a user may
 * already have at the names ipckit would use (FIFOs, regular files, lock
 * files with content, segments of several sizes and contents, one made by
 * Python's multiprocessing.shared_memory, queues with messages, System V
 * queues and lock files, a one-shot server on a socket path, a stale
 * socket). For every named transport: listen, dial, ipk_remove and
 * ipk_remove --force are refused with an error that names the object, and
 * the object is left exactly as it was (inode, mode, size, content, queued
 * messages); a one-shot server gets no connection. Then ?mode= on a fresh
 * create and on the reclaim of a killed listener's objects, for every named
 * transport.
 */
#include "test.h"

#include <sys/mman.h>
#include <sys/msg.h>
#include <sys/socket.h>
#include <sys/un.h>

#define W_MAX 64

static char w_paths[W_MAX][256]; /* files and segments to remove */
static int w_npaths;
static char w_queues[8][160]; /* POSIX queues to remove */
static int w_nqueues;
static int w_msqids[8];
static int w_nmsqids;

static void
w_cleanup(void)
{
	t_kill_children();
	for (int i = 0; i < w_npaths; i++)
		(void)unlink(w_paths[i]);
	for (int i = 0; i < w_nqueues; i++)
		(void)mq_unlink(w_queues[i]);
	for (int i = 0; i < w_nmsqids; i++)
		(void)msgctl(w_msqids[i], IPC_RMID, NULL);
}

static const char *
w_path(const char *fmt, const char *suffix)
{
	T_ASSERT(w_npaths < W_MAX);
	char *p = w_paths[w_npaths++];
	snprintf(p, sizeof(w_paths[0]), fmt, t_unique(), suffix);
	return p;
}

/* What must not change: type, inode, mode, owner, size, content (a hash of
 * a regular file's bytes; a queue's message count). */
struct w_snap {
	struct stat st;
	uint64_t hash;
	long msgs;
};

static uint64_t
w_hash_file(const char *path)
{
	uint64_t h = 1469598103934665603ull;
	int fd = open(path, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
	unsigned char buf[4096];
	ssize_t n;
	if (fd < 0)
		return 0;
	while ((n = read(fd, buf, sizeof(buf))) > 0)
		for (ssize_t i = 0; i < n; i++)
			h = (h ^ buf[i]) * 1099511628211ull;
	close(fd);
	return h;
}

static void
w_snap(const char *path, struct w_snap *s)
{
	memset(s, 0, sizeof(*s));
	T_ASSERT(t_obj_stat(path, &s->st) == 0);
	if (S_ISREG(s->st.st_mode))
		s->hash = w_hash_file(path);
	if (!strncmp(path, "/dev/mqueue/", 12)) {
		char q[200];
		struct mq_attr a;
		snprintf(q, sizeof(q), "/%s", path + 12);
		mqd_t d = mq_open(q, O_RDONLY | O_NONBLOCK);
		T_ASSERT(d != (mqd_t)-1 && mq_getattr(d, &a) == 0);
		s->msgs = a.mq_curmsgs;
		mq_close(d);
	}
}

static void
w_same(const char *path, const struct w_snap *a, const char *what)
{
	struct w_snap b;
	if (t_obj_stat(path, &b.st) < 0)
		T_FAILF("%s: %s was removed", what, path);
	w_snap(path, &b);
	if (a->st.st_ino != b.st.st_ino || a->st.st_dev != b.st.st_dev)
		T_FAILF("%s: %s was replaced", what, path);
	if (a->st.st_mode != b.st.st_mode || a->st.st_uid != b.st.st_uid)
		T_FAILF("%s: %s mode %o -> %o", what, path,
		    (unsigned)a->st.st_mode, (unsigned)b.st.st_mode);
	if (a->st.st_size != b.st.st_size || a->hash != b.hash)
		T_FAILF("%s: %s content changed", what, path);
	if (a->msgs != b.msgs)
		T_FAILF("%s: %s had %ld messages, now %ld", what, path, a->msgs,
		    b.msgs);
}

/* Listen, dial, rm and rm --force at `url` must all fail without touching
 * `obj`; the listen error must name `named` (the object, or what stands
 * for it). A socket's server is another matter: dialing it is what a
 * dial is for, so the dial is left out there (nodial). */
static void
w_refused_how(const char *url, const char *obj, const char *named,
    const char *what, int nodial)
{
	struct w_snap s;
	char dial[512], msg[768];
	struct ipk_listener *l = NULL;
	struct ipk_chan *c = NULL;
	w_snap(obj, &s);
	int rv = ipk_listen(url, NULL, &l);
	if (rv == 0)
		T_FAILF("%s: listen on %s succeeded", what, url);
	snprintf(msg, sizeof(msg), "%s", ipk_strerror(rv));
	if (!strstr(msg, named))
		T_FAILF("%s: the error does not name %s: %s", what, named, msg);
	w_same(obj, &s, what);
	snprintf(dial, sizeof(dial), "%s%stimeout=0", url,
	    strchr(url, '?') ? "&" : "?");
	if (!nodial && ipk_dial(dial, NULL, &c) == 0)
		T_FAILF("%s: dial %s succeeded", what, url);
	w_same(obj, &s, what);
	int r1 = ipk_remove(url, 0), r2 = ipk_remove(url, IPK_REMOVE_FORCE);
	if (r1 == 0 || r2 == 0)
		T_FAILF("%s: ipk_remove of %s succeeded", what, url);
	w_same(obj, &s, what);
	printf("%-30s %s: %s\n", what, ipk_errname(rv), msg);
}

static void
w_refused(const char *url, const char *obj, const char *named, const char *what)
{
	w_refused_how(url, obj, named, what, 0);
}

static void
w_file(const char *path, const char *content, mode_t mode)
{
	int fd = open(path, O_CREAT | O_EXCL | O_WRONLY | O_CLOEXEC, mode);
	T_ASSERT(fd >= 0);
	size_t n = strlen(content);
	T_ASSERT(write(fd, content, n) == (ssize_t)n);
	close(fd);
}

static void
w_fifo_cases(void)
{
	char url[300];
	/* The article's FIFO, made by mkfifo before ipckit ran. */
	const char *p = w_path("/tmp/%s-f1%s", "");
	T_ASSERT(mkfifo(p, 0644) == 0);
	snprintf(url, sizeof(url), "fifo://%s?keep=1&mode=0644", p);
	w_refused(url, p, p, "fifo: the user's FIFO");
	/* A regular file where the FIFO goes. */
	p = w_path("/tmp/%s-f2%s", "");
	w_file(p, "notes\n", 0640);
	snprintf(url, sizeof(url), "fifo://%s", p);
	w_refused(url, p, p, "fifo: a regular file");
	/* app.lock with content, for fifo:///.../app */
	const char *base = w_path("/tmp/%s-f3%s", "");
	p = w_path("/tmp/%s-f3%s", ".lock");
	w_file(p, "important\n", 0644);
	snprintf(url, sizeof(url), "fifo://%s", base);
	w_refused(url, p, p, "fifo: a lock file with content");
	/* A FIFO at the reply name. */
	base = w_path("/tmp/%s-f4%s", "");
	p = w_path("/tmp/%s-f4%s", ".reply");
	T_ASSERT(mkfifo(p, 0600) == 0);
	snprintf(url, sizeof(url), "fifo://%s", base);
	w_refused(url, p, p, "fifo: a FIFO at .reply");
}

/* Copy a file's bytes to a new file `to`. */
static void
w_copy(const char *from, const char *to)
{
	char buf[8192];
	int a = open(from, O_RDONLY | O_CLOEXEC);
	int b = open(to, O_CREAT | O_EXCL | O_WRONLY | O_CLOEXEC, 0600);
	T_ASSERT(a >= 0 && b >= 0);
	ssize_t n = read(a, buf, sizeof(buf));
	T_ASSERT(n > 0 && write(b, buf, (size_t)n) == n);
	close(a);
	close(b);
}

/* A forged creation record (the layout of src/core/own.c: at offset 512,
 * magic, version, slot count, scheme, then {dev, ino} slots) naming the
 * user's FIFO at `fifo` as slot 0, written to `lock` by `uid` (-1: us). */
static void
w_forge(const char *lock, const char *magic, const char *fifo, uid_t uid)
{
	struct {
		char magic[8];
		uint32_t version, nslots;
		char scheme[16];
		uint64_t slot[6][2];
	} r;
	struct stat st;
	memset(&r, 0, sizeof(r));
	memcpy(r.magic, magic, 8);
	r.version = 1;
	r.nslots = 6;
	snprintf(r.scheme, sizeof(r.scheme), "fifo");
	T_ASSERT(lstat(fifo, &st) == 0);
	r.slot[0][0] = (uint64_t)st.st_dev;
	r.slot[0][1] = (uint64_t)st.st_ino;
	pid_t pid = t_fork();
	if (pid == 0) {
		if (uid != (uid_t)-1 &&
		    (setresgid(uid, uid, uid) || setresuid(uid, uid, uid)))
			_exit(2);
		int fd =
		    open(lock, O_CREAT | O_EXCL | O_WRONLY | O_CLOEXEC, 0644);
		_exit(fd >= 0 &&
			    pwrite(fd, &r, sizeof(r), 512) == (ssize_t)sizeof(r)
			? 0
			: 3);
	}
	t_reap(pid);
}

/* Records that are not ipckit's own: another version's (bad magic), and
 * another user's naming the user's FIFO (which ipckit rm --force would
 * otherwise remove). */
static void
w_forged(void)
{
	char url[300];
	const char *base = w_path("/tmp/%s-fg%s", "");
	const char *lock = w_path("/tmp/%s-fg%s", ".lock");
	T_ASSERT(mkfifo(base, 0600) == 0);
	w_forge(lock, "IPKOWN00", base, (uid_t)-1);
	snprintf(url, sizeof(url), "fifo://%s", base);
	w_refused(url, base, lock, "fifo: another version's record");
	T_ASSERT(unlink(lock) == 0);
	if (geteuid() != 0) {
		printf("not root: the other user's record is not tried\n");
		return;
	}
	w_forge(lock, "IPKOWN01", base, 65534);
	w_refused(url, base, lock, "fifo: another user's record");
}

/* An ipckit lock file, but of another kind of channel (an mq record where
 * a fifo's lock goes): not this channel's. */
static void
w_other_kind(void)
{
	char url[300], mq[200];
	struct ipk_listener *l;
	snprintf(mq, sizeof(mq), "mq:///%s-ok?keep=1", t_unique());
	T_OK(ipk_listen(mq, NULL, &l));
	const char *lock = w_path("/dev/shm/%s-ok%s", ".ipk-lock");
	const char *base = w_path("/dev/shm/%s-ok2%s", "");
	const char *p = w_path("/dev/shm/%s-ok2%s", ".lock");
	w_copy(lock, p);
	T_OK(ipk_listener_close(l));
	T_OK(ipk_remove(mq, IPK_REMOVE_FORCE));
	snprintf(url, sizeof(url), "fifo://%s", base);
	w_refused(url, p, p, "fifo: an mq channel's lock file");
}

/* A doorbell FIFO of a live sysv listener replaced by another FIFO: a
 * dialer refuses it (it would ring, and wait on, the wrong FIFO). */
static void
w_sysv_doorbell(void)
{
	char url[300], dial[360], ring[96];
	struct ipk_listener *l;
	struct ipk_chan *c = NULL;
	const char *p = w_path("/tmp/%s-db%s", "");
	snprintf(url, sizeof(url), "sysv://%s", p);
	T_OK(ipk_listen(url, NULL, &l));
	snprintf(ring, sizeof(ring), "/dev/shm/ipk-sysv-0x%08x.ring-d",
	    (unsigned)ftok(p, 'i'));
	T_ASSERT(unlink(ring) == 0 && mkfifo(ring, 0600) == 0);
	snprintf(dial, sizeof(dial), "%s?timeout=1000", url);
	int rv = ipk_dial(dial, NULL, &c);
	if (rv != IPK_EFOREIGN)
		T_FAILF("dial with a replaced doorbell: %s, not IPK_EFOREIGN",
		    ipk_errname(rv));
	printf("%-30s %s: %s\n", "sysv: a replaced doorbell", ipk_errname(rv),
	    ipk_strerror(rv));
	T_OK(ipk_listener_close(l));
	T_ASSERT(access(ring, F_OK) == 0); /* not ours: left */
	T_ASSERT(unlink(ring) == 0);
}

static void
w_mq_cases(void)
{
	char url[300], q[160], obj[200];
	struct mq_attr at = {.mq_maxmsg = 4, .mq_msgsize = 64};
	/* A queue that happens to be named NAME.ipk-l, with a message. */
	snprintf(q, sizeof(q), "/%s-m1.ipk-l", t_unique());
	snprintf(w_queues[w_nqueues++], sizeof(w_queues[0]), "%s", q);
	mqd_t d = mq_open(q, O_CREAT | O_EXCL | O_RDWR, 0600, &at);
	T_ASSERT(d != (mqd_t)-1 && mq_send(d, "unread", 6, 0) == 0);
	mq_close(d);
	snprintf(obj, sizeof(obj), "/dev/mqueue%s", q);
	snprintf(url, sizeof(url), "mq:///%s-m1", t_unique());
	w_refused(url, obj, q, "mq: a queue with a message");
	/* A lock object with content. */
	const char *p = w_path("/dev/shm/%s-m2%s", ".ipk-lock");
	w_file(p, "important\n", 0600);
	snprintf(url, sizeof(url), "mq:///%s-m2", t_unique());
	w_refused(url, p, p, "mq: a lock object with content");
}

/* A segment of another program, still mapped by it (here: this test). */
static void
w_segment(const char *name, size_t size, int random, const char *what)
{
	char url[300];
	const char *p = w_path("/dev/shm/%s-%s", name);
	int fd = open(p, O_CREAT | O_EXCL | O_RDWR | O_CLOEXEC, 0600);
	T_ASSERT(fd >= 0 && ftruncate(fd, (off_t)size) == 0);
	unsigned char *m =
	    mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	T_ASSERT(m != MAP_FAILED);
	if (random)
		t_fill(m, size, t_seed(), 1);
	snprintf(url, sizeof(url), "shm://%s", p + strlen("/dev/shm"));
	w_refused(url, p, p, what);
	T_ASSERT(!random || t_check(m, size, t_seed(), 1));
	munmap(m, size);
	close(fd);
}

/* A segment made by Python's multiprocessing.shared_memory, in use: the
 * Python program unlinks it itself at the end, which must still work. */
static void
w_python_segment(void)
{
	if (access("/usr/bin/python3", X_OK) != 0) {
		printf("shm: no /usr/bin/python3: the multiprocessing segment "
		       "case is skipped\n");
		return;
	}
	char name[96], url[200], path[200];
	snprintf(name, sizeof(name), "%s-py", t_unique());
	int in[2], out[2];
	T_ASSERT(pipe2(in, O_CLOEXEC) == 0 && pipe2(out, O_CLOEXEC) == 0);
	pid_t pid = t_fork();
	if (pid == 0) {
		dup2(in[0], 0);
		dup2(out[1], 1);
		execl("/usr/bin/python3", "python3", "-c",
		    "import sys\n"
		    "from multiprocessing import shared_memory as s\n"
		    "m = s.SharedMemory(name=sys.argv[1], create=True, "
		    "size=4096)\n"
		    "m.buf[:5] = b'hello'\n"
		    "print('ready', flush=True)\n"
		    "sys.stdin.read()\n"
		    "ok = bytes(m.buf[:5]) == b'hello'\n"
		    "m.close(); m.unlink()\n"
		    "sys.exit(0 if ok else 3)\n",
		    name, (char *)NULL);
		_exit(127);
	}
	close(in[0]);
	close(out[1]);
	char buf[16] = {0};
	ssize_t n = read(out[0], buf, sizeof(buf) - 1);
	if (n < 5 || strncmp(buf, "ready", 5) != 0) {
		close(in[1]);
		close(out[0]);
		int st;
		waitpid(pid, &st, 0);
		t_forget(pid);
		printf("shm: python3 has no multiprocessing.shared_memory "
		       "(status %d): case skipped\n",
		    WEXITSTATUS(st));
		return;
	}
	snprintf(path, sizeof(path), "/dev/shm/%s", name);
	snprintf(url, sizeof(url), "shm:///%s", name);
	w_refused(url, path, path, "shm: Python's SharedMemory");
	close(in[1]); /* Python reads EOF, checks its bytes, unlinks */
	t_reap(pid); /* its unlink() found its segment: exit 0 */
	close(out[0]); /* only now: the newline may follow "ready" apart */
}

static void
w_shm_cases(void)
{
	w_segment("s1", 4096, 0, "shm: 4 KiB zeros, in use");
	w_segment("s2", 1 << 20, 0, "shm: 1 MiB zeros");
	w_segment("s3", 65536, 1, "shm: 64 KiB random");
	w_python_segment();
}

static void
w_sysv_cases(void)
{
	char url[300];
	uint64_t seed = t_seed();
	key_t key = (key_t)(0x5b000000u | (uint32_t)(t_rand(&seed) & 0xffffff));
	/* A lock file with content at the key's name. */
	T_ASSERT(w_npaths < W_MAX);
	char *p = w_paths[w_npaths++];
	snprintf(
	    p, sizeof(w_paths[0]), "/dev/shm/ipk-sysv-0x%08x", (unsigned)key);
	w_file(p, "important\n", 0600);
	snprintf(url, sizeof(url), "sysv:0x%08x", (unsigned)key);
	w_refused(url, p, p, "sysv: a lock file with content");
	unlink(p);
	/* A user's queue at the key, with a message. */
	int id = msgget(key, IPC_CREAT | IPC_EXCL | 0600);
	T_ASSERT(id >= 0);
	w_msqids[w_nmsqids++] = id;
	struct {
		long mtype;
		char mtext[8];
	} m = {7, "unread"};
	T_ASSERT(msgsnd(id, &m, 6, 0) == 0);
	struct ipk_listener *l = NULL;
	int rv = ipk_listen(url, NULL, &l);
	char msg[512];
	snprintf(msg, sizeof(msg), "%s", ipk_strerror(rv));
	T_ASSERT(rv == IPK_EFOREIGN);
	T_ASSERT(ipk_remove(url, IPK_REMOVE_FORCE) != 0);
	struct msqid_ds ds;
	T_ASSERT(msgctl(id, IPC_STAT, &ds) == 0 && ds.msg_qnum == 1);
	T_ASSERT(access(p, F_OK) != 0); /* the refused listen made nothing */
	printf("%-30s %s: %s\n", "sysv: a queue with a message",
	    ipk_errname(rv), msg);
	/* A key file with content: the System V key source, only read. */
	p = (char *)w_path("/tmp/%s-k1%s", "");
	w_file(p, "the user's key file\n", 0644);
	struct w_snap s;
	w_snap(p, &s);
	struct ipk_chan *a, *b;
	char dial[400], buf[8];
	size_t len;
	snprintf(url, sizeof(url), "sysv://%s", p);
	snprintf(dial, sizeof(dial), "%s?timeout=2000", url);
	T_OK(ipk_listen(url, NULL, &l));
	T_OK(ipk_dial(dial, NULL, &b));
	T_OK(ipk_accept(l, 2000, &a));
	T_OK(ipk_send(b, "ftok", 4, 0, 2000));
	T_OK(ipk_recv(a, buf, sizeof(buf), &len, NULL, 2000));
	T_OK(ipk_close(a));
	T_OK(ipk_close(b));
	T_OK(ipk_listener_close(l));
	w_same(p, &s, "sysv: the key file");
	printf("%-30s used as the key source, left as it was\n",
	    "sysv: a key file");
}

/* A server of another program at a socket path: bound and listening, or
 * (stale) bound and closed. */
static int
w_server(const char *path, int stale)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path);
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	T_ASSERT(fd >= 0 && bind(fd, (void *)&sa, sizeof(sa)) == 0 &&
	    listen(fd, 4) == 0);
	if (stale) {
		close(fd);
		return -1;
	}
	return fd;
}

static void
w_socket_cases(const char *scheme)
{
	char url[300], what[64];
	/* One-shot server: it must get no connection from ipckit. */
	const char *p = w_path("/tmp/%s-%s", scheme);
	int fd = w_server(p, 0);
	snprintf(url, sizeof(url), "%s://%s", scheme, p);
	snprintf(what, sizeof(what), "%s: a one-shot server", scheme);
	w_refused_how(url, p, p, what, 1);
	int c = accept4(fd, NULL, NULL, SOCK_CLOEXEC);
	if (c >= 0)
		T_FAILF("%s: the server was connected to", what);
	T_ASSERT(errno == EAGAIN || errno == EWOULDBLOCK);
	close(fd);
	/* A stale socket no ipckit entry names. */
	p = w_path("/tmp/%s-%s-stale", scheme);
	(void)w_server(p, 1);
	snprintf(url, sizeof(url), "%s://%s", scheme, p);
	snprintf(what, sizeof(what), "%s: a stale socket", scheme);
	w_refused_how(url, p, p, what, 1);
	/* A regular file. */
	p = w_path("/tmp/%s-%s-file", scheme);
	w_file(p, "data\n", 0644);
	snprintf(url, sizeof(url), "%s://%s", scheme, p);
	snprintf(what, sizeof(what), "%s: a regular file", scheme);
	w_refused(url, p, p, what);
}

/* A second ipckit listener is refused without the first one seeing a
 * connection (it would take it for its peer). */
static void
w_second_listener(const char *scheme)
{
	char url[300];
	const char *p = w_path("/tmp/%s-%s-live", scheme);
	struct ipk_listener *l, *l2 = NULL;
	struct ipk_chan *c = NULL;
	snprintf(url, sizeof(url), "%s://%s", scheme, p);
	T_OK(ipk_listen(url, NULL, &l));
	T_ERR(ipk_listen(url, NULL, &l2), -EADDRINUSE);
	int rv = ipk_accept(l, 0, &c);
	if (rv == 0)
		T_FAILF(
		    "%s: the second listen reached the first as a peer", url);
	T_OK(ipk_listener_close(l));
	T_ASSERT(access(p, F_OK) != 0);
	printf("%-30s -EADDRINUSE, and the first saw no peer\n", scheme);
}

/* ?mode= on create and on the reclaim of a killed listener's objects. */
static void
w_modes(const char *scheme, const char *query)
{
	char url[300], u2[360];
	if (!strcmp(scheme, "mq") || !strcmp(scheme, "shm"))
		snprintf(url, sizeof(url), "%s:///%s-md%s", scheme, t_unique(),
		    scheme);
	else
		snprintf(url, sizeof(url), "%s:///tmp/%s-md%s", scheme,
		    t_unique(), scheme);
	int go[2];
	T_ASSERT(pipe2(go, O_CLOEXEC) == 0);
	pid_t pid = t_fork();
	if (pid == 0) {
		struct ipk_listener *l;
		char u0[400];
		snprintf(u0, sizeof(u0), "%s?mode=0600%s%s", url,
		    query ? "&" : "", query ? query : "");
		if (ipk_listen(u0, NULL, &l) != 0)
			_exit(1);
		(void)!write(go[1], "r", 1);
		pause();
		_exit(0);
	}
	close(go[1]);
	char b;
	T_ASSERT(read(go[0], &b, 1) == 1);
	close(go[0]);
	t_reap_kill(pid);
	for (int round = 0; round < 2; round++) {
		unsigned want = round ? 0604 : 0640;
		struct ipk_listener *l;
		struct ipk_objinfo o;
		snprintf(u2, sizeof(u2), "%s?mode=0%o%s%s", url, want,
		    query ? "&" : "", query ? query : "");
		T_OK(ipk_listen(u2, NULL, &l));
		T_OK(ipk_inspect(url, &o));
		int n = 0;
		for (int i = 0; i < 4; i++) {
			struct stat st;
			if (o.objects[i][0] != '/' ||
			    t_obj_stat(o.objects[i], &st) < 0)
				continue;
			if ((st.st_mode & 0777) != want)
				T_FAILF("%s: %s has mode %03o, not %03o after "
					"%s",
				    url, o.objects[i], st.st_mode & 0777, want,
				    round ? "a clean restart" : "a reclaim");
			n++;
		}
		T_ASSERT(n > 0);
		if (!strcmp(scheme, "sysv")) {
			struct msqid_ds ds;
			int id = -1;
			T_ASSERT(sscanf(o.objects[0], "msqid %d", &id) == 1);
			T_ASSERT(msgctl(id, IPC_STAT, &ds) == 0 &&
			    (ds.msg_perm.mode & 0777) == want);
		}
		/* round 0 reclaimed the killed listener's objects; keep=0
		 * removes them, so round 1 creates afresh */
		T_OK(ipk_listener_close(l));
		printf("%-6s ?mode=0%o holds on %s (%d objects)\n", scheme,
		    want, round ? "create" : "reclaim", n);
	}
}

int
main(void)
{
	t_watchdog(60);
	t_cleanup_hook = w_cleanup;
	(void)t_mqueue_dir();
	char rundir[64];
	snprintf(rundir, sizeof(rundir), "/tmp/ipkt-wrun-XXXXXX");
	T_ASSERT(mkdtemp(rundir) != NULL);
	setenv("IPK_RUNDIR", rundir, 1);
	w_fifo_cases();
	w_other_kind();
	w_forged();
	w_mq_cases();
	w_shm_cases();
	w_sysv_cases();
	w_sysv_doorbell();
	w_socket_cases("unix");
	w_socket_cases("nng+ipc");
	w_socket_cases("memfd");
	w_second_listener("unix");
	w_second_listener("nng+ipc");
	static const char *const modes[][2] = {{"fifo", NULL}, {"mq", NULL},
	    {"sysv", NULL}, {"shm", "wait=futex"}, {"unix", NULL}};
	for (size_t i = 0; i < sizeof(modes) / sizeof(modes[0]); i++)
		w_modes(modes[i][0], modes[i][1]);
	w_cleanup();
	T_ASSERT(rmdir(rundir) == 0);
	return T_PASS;
}
