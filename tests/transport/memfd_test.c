/* SPDX-License-Identifier: MIT */
/*
 * memfd_test.c - what only memfd:// promises, with real processes and a
 * second uid: a user named in allow= talks both ways (copy and zero-copy);
 * a user not named is dropped before a byte; the peer cannot shrink, grow
 * or unseal the segment it received; a killed peer is noticed; a listener
 * handing over an unsealed, short or garbage segment is refused with a
 * sentence; nothing leaks and the socket file is removed.
 */
#include <grp.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>

#include "test.h"

#define NOBODY 65534
#define SEED 4242

static char paths[16][108];
static int npaths;

static void
cleanup(void)
{
	t_kill_children();
	for (int i = 0; i < npaths; i++)
		unlink(paths[i]);
}

static const char *
path_for(const char *tag)
{
	T_ASSERT(npaths < 16);
	snprintf(
	    paths[npaths], sizeof(paths[0]), "/tmp/%s-%s", t_unique(), tag);
	return paths[npaths++];
}

static void
become_nobody(void)
{
	if (setgroups(0, NULL) < 0 || setresgid(NOBODY, NOBODY, NOBODY) < 0 ||
	    setresuid(NOBODY, NOBODY, NOBODY) < 0)
		_exit(3);
}

static void
send_msg(struct ipk_chan *c, uint64_t seq, size_t len)
{
	unsigned char buf[3000];
	T_ASSERT(len <= sizeof(buf));
	t_fill(buf, len, SEED, seq);
	T_OK(ipk_send(c, buf, len, (uint32_t)seq, 5000));
}

static void
expect_msg(struct ipk_chan *c, uint64_t seq, size_t len)
{
	unsigned char buf[3000];
	size_t got = 0;
	uint32_t type = 0;
	T_OK(ipk_recv(c, buf, sizeof(buf), &got, &type, 5000));
	T_EQ(got, len);
	T_EQ(type, (uint32_t)seq);
	T_ASSERT(t_check(buf, len, SEED, seq));
}

/* Both directions, copying and zero-copy, checksummed. */
static void
exchange(struct ipk_chan *c, int first)
{
	for (uint64_t i = 0; i < 200; i++) {
		size_t len = 1 + (i * 37) % 2900;
		if ((i & 1) == (uint64_t)first) {
			if (i % 3 == 0) {
				void *p;
				T_OK(ipk_loan(c, len, &p, 5000));
				t_fill(p, len, SEED, i);
				T_OK(ipk_commit(c, len, (uint32_t)i));
			} else {
				send_msg(c, i, len);
			}
		} else if (i % 3 == 1) {
			const void *p;
			size_t got;
			uint32_t type;
			T_OK(ipk_peek(c, &p, &got, &type, 5000));
			T_EQ(got, len);
			T_EQ(type, (uint32_t)i);
			T_ASSERT(t_check(p, len, SEED, i));
			T_OK(ipk_release(c));
		} else {
			expect_msg(c, i, len);
		}
	}
}

/* The descriptor of the received segment, found by its memfd name. */
static int
find_memfd(void)
{
	char p[64], link[256];
	for (int fd = 0; fd < 1024; fd++) {
		snprintf(p, sizeof(p), "/proc/self/fd/%d", fd);
		ssize_t n = readlink(p, link, sizeof(link) - 1);
		if (n <= 0)
			continue;
		link[n] = '\0';
		if (!strncmp(link, "/memfd:ipckit", 13))
			return fd;
	}
	return -1;
}

/* (1) + (3) + (4): uid 65534, admitted by allow=, talks both ways and
 * cannot change the segment's size or seals. */
static void
test_cross_uid(void)
{
	char url[256];
	snprintf(url, sizeof(url), "memfd://%s?allow=%d&size=8K", path_for("x"),
	    NOBODY);
	struct ipk_listener *l;
	struct ipk_chan *c;
	T_OK(ipk_listen(url, NULL, &l));
	pid_t kid = t_fork();
	if (kid == 0) {
		become_nobody();
		struct ipk_opts o = {.timeout_ms = 5000};
		struct ipk_chan *d;
		T_OK(ipk_dial(url, &o, &d));
		struct ipk_peer pr;
		T_OK(ipk_peer(d, &pr));
		T_EQ(pr.uid, 0);
		int fd = find_memfd();
		T_ASSERT(fd >= 0);
		struct stat st;
		T_ASSERT(fstat(fd, &st) == 0);
		T_ERR(ftruncate(fd, 0) < 0 ? -errno : 0, -EPERM);
		T_ERR(ftruncate(fd, st.st_size * 2) < 0 ? -errno : 0, -EPERM);
		T_ERR(fallocate(fd, 0, st.st_size, 4096) < 0 ? -errno : 0,
		    -EPERM);
		int seals = fcntl(fd, F_GET_SEALS);
		T_ASSERT(seals >= 0);
		T_ASSERT(seals & F_SEAL_SHRINK);
		T_ASSERT(seals & F_SEAL_GROW);
		T_ASSERT(seals & F_SEAL_SEAL);
		T_ERR(fcntl(fd, F_ADD_SEALS, F_SEAL_WRITE) < 0 ? -errno : 0,
		    -EPERM);
		/* A peer may write into the rings (that is the point);
		 * it cannot make the mapping smaller. */
		void *m = mmap(NULL, (size_t)st.st_size, PROT_READ | PROT_WRITE,
		    MAP_SHARED, fd, 0);
		T_ASSERT(m != MAP_FAILED);
		munmap(m, (size_t)st.st_size);
		T_ASSERT(fstat(fd, &st) == 0 && st.st_size == 8192 + 2 * 8192);
		exchange(d, 1);
		T_OK(ipk_close(d));
		_exit(0);
	}
	T_OK(ipk_accept(l, 5000, &c));
	struct ipk_peer pr;
	T_OK(ipk_peer(c, &pr));
	T_EQ(pr.uid, NOBODY);
	exchange(c, 0);
	t_reap(kid);
	char b[8];
	size_t len;
	T_ERR(ipk_recv(c, b, sizeof(b), &len, NULL, 1000), IPK_ECLOSED);
	ipk_close(c);
	ipk_listener_close(l);
}

/* (2): a uid not in allow= is closed before any byte; the listener
 * delivers nothing and then serves an admitted dialer. */
static void
test_refused(void)
{
	char url[256];
	const char *path = path_for("r");
	snprintf(url, sizeof(url), "memfd://%s?mode=0666", path);
	struct ipk_listener *l;
	struct ipk_chan *c;
	T_OK(ipk_listen(url, NULL, &l));
	pid_t kid = t_fork();
	if (kid == 0) {
		become_nobody();
		int s = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
		struct sockaddr_un sa = {.sun_family = AF_UNIX};
		snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path);
		T_ASSERT(connect(s, (struct sockaddr *)&sa, sizeof(sa)) == 0);
		char buf[64];
		T_EQ(read(s, buf, sizeof(buf)), 0); /* EOF, not one byte */
		close(s);
		struct ipk_opts o = {.timeout_ms = 5000};
		struct ipk_chan *d = (void *)1;
		int rv = ipk_dial(url, &o, &d);
		T_ERR(rv, -ECONNREFUSED);
		T_ASSERT(d == NULL);
		T_ASSERT(strstr(ipk_strerror(rv), "allow="));
		_exit(0);
	}
	int64_t end = t_now_ns() + 10000000000ll;
	for (;;) {
		int st;
		T_ERR(ipk_accept(l, 50, &c), -ETIMEDOUT);
		pid_t w = waitpid(kid, &st, WNOHANG);
		if (w == kid) {
			t_forget(kid);
			T_ASSERT(WIFEXITED(st) && WEXITSTATUS(st) == 0);
			break;
		}
		T_ASSERT(t_now_ns() < end);
	}
	kid = t_fork();
	if (kid == 0) {
		struct ipk_opts o = {.timeout_ms = 5000};
		struct ipk_chan *d;
		T_OK(ipk_dial(url, &o, &d));
		exchange(d, 1);
		ipk_close(d);
		_exit(0);
	}
	T_OK(ipk_accept(l, 5000, &c));
	exchange(c, 0);
	t_reap(kid);
	ipk_close(c);
	ipk_listener_close(l);
}

/* A listener of another uid (that admits us) is refused by our dialer
 * unless our allow= names it: its segment could be anything. */
static void
test_foreign_listener(void)
{
	char url[256], b;
	const char *path = path_for("f");
	int go[2], done[2];
	snprintf(url, sizeof(url), "memfd://%s?allow=0", path);
	T_ASSERT(pipe2(go, O_CLOEXEC) == 0 && pipe2(done, O_CLOEXEC) == 0);
	pid_t kid = t_fork();
	if (kid == 0) {
		struct ipk_listener *l;
		become_nobody();
		close(go[0]);
		close(done[1]);
		T_OK(ipk_listen(url, NULL, &l));
		T_ASSERT(write(go[1], "r", 1) == 1);
		T_ASSERT(
		    read(done[0], &b, 1) == 0); /* until the parent is done */
		ipk_listener_close(l);
		_exit(0);
	}
	close(go[1]);
	close(done[0]);
	T_ASSERT(read(go[0], &b, 1) == 1);
	struct ipk_opts o = {.timeout_ms = 2000};
	struct ipk_chan *d = (void *)1;
	int rv = ipk_dial(url, &o, &d);
	T_ERR(rv, -EACCES);
	T_ASSERT(d == NULL);
	T_ASSERT(strstr(ipk_strerror(rv), "65534"));
	close(done[1]);
	close(go[0]);
	t_reap(kid);
}

/* (5): the peer is SIGKILLed while we are blocked in recv. */
static void
test_peerkill(void)
{
	char url[256];
	snprintf(url, sizeof(url), "memfd://%s?wait=futex", path_for("k"));
	int64_t *killed = mmap(NULL, 4096, PROT_READ | PROT_WRITE,
	    MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	T_ASSERT(killed != MAP_FAILED);
	struct ipk_listener *l;
	struct ipk_chan *c;
	T_OK(ipk_listen(url, NULL, &l));
	pid_t dialer = t_fork();
	if (dialer == 0) {
		struct ipk_opts o = {.timeout_ms = 5000};
		struct ipk_chan *d;
		T_OK(ipk_dial(url, &o, &d));
		send_msg(d, 1, 10);
		char b[8];
		size_t len;
		(void)ipk_recv(d, b, sizeof(b), &len, NULL, -1);
		_exit(0);
	}
	T_OK(ipk_accept(l, 5000, &c));
	expect_msg(c, 1, 10);
	pid_t me = getpid();
	pid_t killer = t_fork();
	if (killer == 0) {
		if (t_wait_blocked(me, me, 5000) < 0)
			_exit(1);
		__atomic_store_n(killed, t_now_ns(), __ATOMIC_SEQ_CST);
		kill(dialer, SIGKILL);
		_exit(0);
	}
	char b[8];
	size_t len;
	T_ERR(ipk_recv(c, b, sizeof(b), &len, NULL, 10000), IPK_ECLOSED);
	double ms = (double)(t_now_ns() - *killed) / 1e6;
	t_reap(killer);
	waitpid(dialer, NULL, 0);
	t_forget(dialer);
	fprintf(stderr, "peer death noticed in %.1f ms\n", ms);
	T_ASSERT(ms < 1000);
	ipk_close(c);
	ipk_listener_close(l);
	munmap(killed, 4096);
}

/* --- (6): fake listeners ----------------------------------------------------
 */

enum fake {
	FAKE_UNSEALED,
	FAKE_SHORT,
	FAKE_GARBAGE,
	FAKE_BADMAGIC,
	FAKE_TWOFDS,
	FAKE_NOFD
};

static int
fake_memfd(size_t size, int seal, int magic)
{
	int fd = memfd_create("fake", MFD_CLOEXEC | MFD_ALLOW_SEALING);
	T_ASSERT(fd >= 0);
	T_ASSERT(ftruncate(fd, (off_t)size) == 0);
	if (magic) {
		unsigned char junk[64];
		memset(junk, 0xa5, sizeof(junk));
		T_ASSERT(pwrite(fd, junk, sizeof(junk), 0) == sizeof(junk));
	}
	if (seal)
		T_ASSERT(fcntl(fd, F_ADD_SEALS,
			     F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_SEAL) == 0);
	return fd;
}

/* The fake listener: accept one connection, answer as `kind` says, then
 * wait for the dialer to hang up. */
static void
fake_serve(const char *path, enum fake kind, int ready)
{
	int s = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path);
	T_ASSERT(bind(s, (struct sockaddr *)&sa, sizeof(sa)) == 0);
	T_ASSERT(listen(s, 4) == 0);
	T_ASSERT(write(ready, "r", 1) == 1);
	int a = accept4(s, NULL, NULL, SOCK_CLOEXEC);
	T_ASSERT(a >= 0);
	struct {
		char magic[8];
		uint64_t size;
	} hello = {"IPKMFD1", 8192 + 2 * 4096};
	int fds[2] = {-1, -1}, nfd = 1;
	switch (kind) {
	case FAKE_UNSEALED:
		fds[0] = fake_memfd(hello.size, 0, 0);
		break;
	case FAKE_SHORT:
		hello.size = 100;
		fds[0] = fake_memfd(100, 1, 0);
		break;
	case FAKE_BADMAGIC:
		fds[0] = fake_memfd(hello.size, 1, 1);
		break;
	case FAKE_TWOFDS:
		fds[0] = fake_memfd(hello.size, 1, 0);
		fds[1] = fake_memfd(4096, 1, 0);
		nfd = 2;
		break;
	case FAKE_NOFD:
		nfd = 0;
		break;
	case FAKE_GARBAGE:
		memset(&hello, 0xff, sizeof(hello));
		fds[0] = fake_memfd(hello.size & 0xffff, 1, 0);
		break;
	}
	union {
		struct cmsghdr h;
		char buf[CMSG_SPACE(2 * sizeof(int))];
	} ctl;
	memset(&ctl, 0, sizeof(ctl));
	struct iovec iov = {&hello, sizeof(hello)};
	struct msghdr mh = {.msg_iov = &iov, .msg_iovlen = 1};
	if (nfd) {
		mh.msg_control = ctl.buf;
		mh.msg_controllen = CMSG_SPACE(nfd * sizeof(int));
		struct cmsghdr *cm = CMSG_FIRSTHDR(&mh);
		cm->cmsg_level = SOL_SOCKET;
		cm->cmsg_type = SCM_RIGHTS;
		cm->cmsg_len = CMSG_LEN(nfd * sizeof(int));
		memcpy(CMSG_DATA(cm), fds, nfd * sizeof(int));
	}
	T_ASSERT(sendmsg(a, &mh, MSG_NOSIGNAL) == (ssize_t)sizeof(hello));
	char b[64];
	while (read(a, b, sizeof(b)) > 0)
		;
	unlink(path);
	_exit(0);
}

static void
test_fake(enum fake kind, int want, const char *words)
{
	const char *path = path_for("f");
	char url[256];
	snprintf(url, sizeof(url), "memfd://%s", path);
	int p[2];
	T_ASSERT(pipe2(p, O_CLOEXEC) == 0);
	pid_t kid = t_fork();
	if (kid == 0)
		fake_serve(path, kind, p[1]);
	char r;
	T_EQ(read(p[0], &r, 1), 1);
	close(p[0]);
	close(p[1]);
	struct ipk_opts o = {.timeout_ms = 5000};
	struct ipk_chan *d = (void *)1;
	int rv = ipk_dial(url, &o, &d);
	fprintf(stderr, "fake listener %d: %s\n", (int)kind, ipk_strerror(rv));
	T_ERR(rv, want);
	T_ASSERT(d == NULL);
	T_ASSERT(strstr(ipk_strerror(rv), words));
	t_reap(kid);
}

int
main(void)
{
	t_watchdog(120);
	t_cleanup_hook = cleanup;
	int fds0 = t_count_fds();

	test_fake(FAKE_UNSEALED, -EACCES, "not sealed");
	test_fake(FAKE_SHORT, IPK_ECORRUPT, "too small");
	test_fake(FAKE_BADMAGIC, IPK_EFOREIGN, "bad magic");
	test_fake(FAKE_TWOFDS, IPK_ECORRUPT, "malformed handshake");
	test_fake(FAKE_NOFD, IPK_ECORRUPT, "malformed handshake");
	test_fake(FAKE_GARBAGE, IPK_ECORRUPT, "malformed handshake");
	test_peerkill();
	T_EQ(t_count_fds(), fds0);

	if (geteuid() != 0) {
		printf("SKIP: the second-uid cases need root (setresuid to "
		       "%d)\n",
		    NOBODY);
		cleanup();
		return T_SKIP;
	}
	test_cross_uid();
	test_refused();
	test_foreign_listener();
	T_EQ(t_count_fds(), fds0);
	struct stat st;
	for (int i = 0; i < npaths; i++)
		if (lstat(paths[i], &st) == 0)
			T_FAILF("%s left behind", paths[i]);
	cleanup();
	return T_PASS;
}
