/* SPDX-License-Identifier: MIT */
/*
 * shm_pubsub_test.c - publish/subscribe on shared memory (shm:///NAME?
 * pattern=pub|sub): zero-copy fan-out, sixteen subscribers with one
 * killed and restarted in the middle, losses counted under slow=drop,
 * hostile writers, the user's objects at our names, descriptors, a
 * restarted publisher, and refused options. Real processes, real segments,
 * every byte checked. IPK_PUBSUB_N sets the message count of the sixteen
 * subscriber run (default 1000000).
 */
#include <poll.h>
#include <sys/mman.h>
#include <sys/wait.h>

#include "../test.h"
#include "shm/bcast.h"

static char g_url[300];
static char g_path[300];
static struct ipk_chan *g_pub;

static void
cleanup(void)
{
	t_kill_children();
	ipk_close(g_pub);
	g_pub = NULL;
	if (g_path[0]) {
		/* What a failed case may leave: the segment and doorbells. */
		char p[400];
		(void)unlink(g_path);
		snprintf(p, sizeof(p), "%s.pub", g_path);
		(void)unlink(p);
		for (int i = 0; i < 64; i++) {
			snprintf(p, sizeof(p), "%s.sub%d", g_path, i);
			(void)unlink(p);
		}
	}
}

/* A fresh name for each case: shm:///ipkt-...-<n>. */
static void
fresh(const char *q)
{
	static int n;
	char name[128];
	snprintf(name, sizeof(name), "%s-%d", t_unique(), ++n);
	snprintf(g_url, sizeof(g_url), "shm:///%s?%s", name, q);
	snprintf(g_path, sizeof(g_path), "/dev/shm/%s", name);
}

static const char *
sub_url(const char *q)
{
	static char u[400];
	char base[300];
	snprintf(base, sizeof(base), "%s", g_url);
	*strchr(base, '?') = '\0';
	snprintf(u, sizeof(u), "%s?pattern=sub%s%s", base, q && *q ? "&" : "",
	    q ? q : "");
	return u;
}

#define C_ASSERT(x)                                                            \
	do {                                                                   \
		if (!(x)) {                                                    \
			fprintf(stderr, "FAIL (child) %s:%d: %s\n", __FILE__,  \
			    __LINE__, #x);                                     \
			_exit(4);                                              \
		}                                                              \
	} while (0)
#define C_OK(x)                                                                \
	do {                                                                   \
		int c_rv_ = (x);                                               \
		if (c_rv_ != 0) {                                              \
			fprintf(stderr, "FAIL (child) %s:%d: %s: %s\n",        \
			    __FILE__, __LINE__, #x, ipk_strerror(c_rv_));      \
			_exit(4);                                              \
		}                                                              \
	} while (0)

static struct ipk_chan *
c_dial(const char *url)
{
	struct ipk_opts o = {.timeout_ms = 10000};
	struct ipk_chan *c;
	C_OK(ipk_dial(url, &o, &c));
	return c;
}

static void
say(int fd)
{
	C_ASSERT(write(fd, "r", 1) == 1);
}

static void
hear(int fd, int n)
{
	for (int i = 0; i < n; i++) {
		struct pollfd pf = {fd, POLLIN, 0};
		T_ASSERT(poll(&pf, 1, 20000) == 1);
		char b;
		T_ASSERT(read(fd, &b, 1) == 1);
	}
}

/* Message `seq`: its number, then bytes derived from it. */
static size_t
msg_fill(unsigned char *m, size_t len, uint64_t seq)
{
	memcpy(m, &seq, 8);
	t_fill(m + 8, len - 8, 0x5eed, seq);
	return len;
}

static uint64_t
msg_check(const unsigned char *m, size_t len)
{
	uint64_t seq;
	if (len < 8)
		return UINT64_MAX;
	memcpy(&seq, m, 8);
	return t_check(m + 8, len - 8, 0x5eed, seq) ? seq : UINT64_MAX;
}

/* --- zero-copy fan-out ---------------------------------------------------- */

/* Four subscribers read in place (peek/release) what the publisher wrote
 * in place (loan/commit): every message, every byte, in order. A
 * subscriber writing into a peeked message is stopped by the kernel. */
static void
zerocopy_fanout(void)
{
	fresh("pattern=pub&slow=block&queue=16&maxmsg=65536");
	T_OK(ipk_bind(g_url, NULL, &g_pub));
	const uint64_t N = 3000;
	int ready[2];
	T_ASSERT(pipe(ready) == 0);
	for (int k = 0; k < 4; k++) {
		if (t_fork() != 0)
			continue;
		struct ipk_chan *s = c_dial(sub_url(""));
		say(ready[1]);
		for (uint64_t i = 0; i < N; i++) {
			const void *p;
			size_t len;
			uint32_t type;
			C_OK(ipk_peek(s, &p, &len, &type, 10000));
			C_ASSERT(msg_check(p, len) == i && type == (uint32_t)i);
			C_OK(ipk_release(s));
		}
		struct ipk_stats st;
		C_OK(ipk_stats(s, &st));
		C_ASSERT(st.gaps == 0 && st.msgs_recv == N);
		ipk_close(s);
		_exit(0);
	}
	hear(ready[0], 4);
	T_EQ(ipk_npeers(g_pub), 4);
	for (uint64_t i = 0; i < N; i++) {
		void *p;
		size_t len = 8 + (i * 7919) % 65000;
		T_OK(ipk_loan(g_pub, len, &p, 10000));
		msg_fill(p, len, i);
		T_OK(ipk_commit(g_pub, len, (uint32_t)i));
	}
	for (int k = 0; k < t_nkids; k++)
		if (t_kids[k] > 0)
			t_reap(t_kids[k]);
	t_nkids = 0;
	/* A scribbling subscriber: its peeked bytes are read-only. */
	pid_t p = t_fork();
	if (p == 0) {
		struct ipk_chan *s = c_dial(sub_url("wait=futex"));
		say(ready[1]);
		const void *m;
		size_t len;
		C_OK(ipk_peek(s, &m, &len, NULL, 10000));
		signal(SIGSEGV, SIG_DFL); /* the kernel's verdict, not ASan's */
		((volatile unsigned char *)(uintptr_t)m)[0] = 0xff;
		_exit(0);
	}
	hear(ready[0], 1);
	T_OK(ipk_send(g_pub, "12345678", 8, 0, 1000));
	int st;
	T_ASSERT(waitpid(p, &st, 0) == p);
	t_forget(p);
	T_ASSERT(WIFSIGNALED(st) && WTERMSIG(st) == SIGSEGV);
	ipk_close(g_pub);
	g_pub = NULL;
	T_ASSERT(!t_obj_exists(g_path));
}

/* --- sixteen subscribers, one killed and restarted ------------------------ */

/* A subscriber that checks every message and writes the last one it
 * finished in *done (shared memory the parent reads after a kill). It
 * starts over at the message it must see next (want, or its first). */
static void
many_sub(const char *url, int ready, uint64_t n, volatile uint64_t *done,
    int first_any)
{
	struct ipk_chan *s = c_dial(url);
	say(ready);
	uint64_t want = 0;
	for (int first = 1;; first = 0) {
		const void *p;
		size_t len;
		C_OK(ipk_peek(s, &p, &len, NULL, 20000));
		if (len == 3 && !memcmp(p, "END", 3))
			break;
		uint64_t seq = msg_check(p, len);
		C_ASSERT(seq != UINT64_MAX);
		if (first && first_any) {
			done[1] = seq; /* where the restarted one began */
			want = seq;
		}
		C_ASSERT(seq == want);
		want = seq + 1;
		*done = seq;
		C_OK(ipk_release(s));
	}
	C_ASSERT(want == n);
	struct ipk_stats st;
	C_OK(ipk_stats(s, &st));
	C_ASSERT(st.gaps == 0);
	ipk_close(s);
	_exit(0);
}

static void
sixteen_restart(void)
{
	const char *e = getenv("IPK_PUBSUB_N");
	uint64_t N = e ? strtoull(e, NULL, 0) : 1000000;
	fresh("pattern=pub&slow=block&queue=4096&subs=20&linger=20000&"
	      "maxmsg=64");
	T_OK(ipk_bind(g_url, NULL, &g_pub));
	volatile uint64_t *done = mmap(NULL, 4096, PROT_READ | PROT_WRITE,
	    MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	T_ASSERT(done != MAP_FAILED);
	int ready[2];
	T_ASSERT(pipe(ready) == 0);
	pid_t victim = 0;
	for (int k = 0; k < 16; k++) {
		pid_t p = t_fork();
		if (p == 0)
			many_sub(sub_url(k == 0 ? "id=victim" : ""), ready[1],
			    N, done + 8 * k, 0);
		if (k == 0)
			victim = p;
	}
	hear(ready[0], 16);
	T_EQ(ipk_npeers(g_pub), 16);
	uint64_t seed = t_seed();
	uint64_t kill_at = N / 4 + t_rand(&seed) % (N / 2);
	unsigned char m[64];
	int64_t t0 = t_now_ns();
	uint64_t last = 0;
	for (uint64_t i = 0; i < N; i++) {
		if (i == kill_at) {
			t_reap_kill(victim);
			last = done[0];
			if (t_fork() == 0)
				many_sub(
				    sub_url("id=victim"), ready[1], N, done, 1);
			hear(ready[0], 1);
		}
		msg_fill(m, sizeof(m), i);
		T_OK(ipk_send(g_pub, m, sizeof(m), 0, 20000));
	}
	T_OK(ipk_send(g_pub, "END", 3, 0, 20000));
	for (int k = 0; k < t_nkids; k++)
		if (t_kids[k] > 0)
			t_reap(t_kids[k]);
	t_nkids = 0;
	double s = t_ms_since(t0) / 1e3;
	/* At least once, nothing lost: the restarted subscriber began at the
	 * last message its predecessor finished (not released) or the one
	 * after. */
	fprintf(stderr,
	    "%llu messages to 16 subscribers in %.2f s (%.0f msg/s each); "
	    "victim killed after %llu, restarted at %llu\n",
	    (unsigned long long)N, s, (double)N / s, (unsigned long long)last,
	    (unsigned long long)done[1]);
	T_ASSERT(done[1] == last || done[1] == last + 1);
	struct ipk_stats st;
	T_OK(ipk_stats(g_pub, &st));
	T_EQ(st.msgs_sent, N + 1);
	T_EQ(st.gaps, 0);
	(void)munmap((void *)done, 4096);
}

/* --- slow=drop ------------------------------------------------------------ */

/* A message held in place that the publisher overwrites: ipk_release says
 * so (-ESTALE) and it counts as lost; a copy never returns torn bytes. */
static void
drop_stale(void)
{
	fresh("pattern=pub&queue=4&maxmsg=4096");
	T_OK(ipk_bind(g_url, NULL, &g_pub));
	struct ipk_opts o = {.timeout_ms = 1000};
	struct ipk_chan *s;
	T_OK(ipk_dial(sub_url(""), &o, &s));
	unsigned char m[4096];
	msg_fill(m, 100, 0);
	T_OK(ipk_send(g_pub, m, 100, 0, 0));
	const void *p;
	size_t len;
	T_OK(ipk_peek(s, &p, &len, NULL, 1000));
	T_EQ(msg_check(p, len), 0);
	for (uint64_t i = 1; i <= 10; i++) {
		msg_fill(m, 100, i);
		T_OK(ipk_send(g_pub, m, 100, 0, 0));
	}
	T_ERR(ipk_release(s), -ESTALE);
	/* 1..6 were overwritten too; 7..10 are there. */
	for (uint64_t want = 7; want <= 10; want++) {
		T_OK(ipk_recv(s, m, sizeof(m), &len, NULL, 1000));
		T_EQ(msg_check(m, len), want);
	}
	struct ipk_stats st, pst;
	T_OK(ipk_stats(s, &st));
	T_OK(ipk_stats(g_pub, &pst));
	T_EQ(st.gaps, 7);
	T_EQ(pst.gaps, 7);
	T_ERR(ipk_recv(s, m, sizeof(m), &len, NULL, 0), -EAGAIN);
	ipk_close(s);
}

/* --- hostile writers ------------------------------------------------------ */

static unsigned char *
map_rw(size_t *len)
{
	int fd = open(g_path, O_RDWR);
	T_ASSERT(fd >= 0);
	struct stat st;
	T_ASSERT(fstat(fd, &st) == 0);
	*len = (size_t)st.st_size;
	unsigned char *m =
	    mmap(NULL, *len, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	T_ASSERT(m != MAP_FAILED);
	close(fd);
	return m;
}

/* Garbage in the segment gives IPK_ECORRUPT with a sentence, never a
 * crash or a read outside it. */
static void
hostile_fields(void)
{
	fresh("pattern=pub&queue=8&maxmsg=256");
	T_OK(ipk_bind(g_url, NULL, &g_pub));
	struct ipk_opts o = {.timeout_ms = 1000};
	struct ipk_chan *s;
	T_OK(ipk_dial(sub_url(""), &o, &s));
	size_t seglen;
	unsigned char *seg = map_rw(&seglen);
	struct ipk__bc_hdr *h = (struct ipk__bc_hdr *)(void *)seg;
	unsigned char *chunks = seg + h->chunk_off;
	unsigned char b[256];
	size_t len;
	/* A length over maxmsg. */
	T_OK(ipk_send(g_pub, "abc", 3, 0, 0));
	uint32_t huge = 0xfffffff0u;
	memcpy(chunks + 8, &huge, 4);
	T_ERR(ipk_recv(s, b, sizeof(b), &len, NULL, 0), IPK_ECORRUPT);
	T_ASSERT(strstr(ipk_strerror(IPK_ECORRUPT), "maxmsg") != NULL);
	ipk_close(s);
	/* A tail behind the subscriber. */
	T_OK(ipk_dial(sub_url(""), &o, &s));
	T_OK(ipk_send(g_pub, "abc", 3, 0, 0));
	T_OK(ipk_send(g_pub, "abc", 3, 0, 0));
	T_OK(ipk_recv(s, b, sizeof(b), &len, NULL, 0));
	T_OK(ipk_recv(s, b, sizeof(b), &len, NULL, 0));
	/* (a subscriber looks at tail only when its chunk holds a stamp
	 * that is neither its message's nor the lap before's) */
	uint64_t junk = 0x1234567890abcdefull;
	memcpy(chunks + 3 * h->chunk_size, &junk, 8); /* at h = 3 */
	__atomic_store_n(&h->tail, 0, __ATOMIC_RELEASE);
	T_ERR(ipk_recv(s, b, sizeof(b), &len, NULL, 0), IPK_ECORRUPT);
	struct ipk_stats st;
	T_OK(ipk_stats(s, &st));
	T_EQ(st.gaps, 0); /* a lying tail is no loss to count */
	/* A stamp missing below the tail. */
	__atomic_store_n(&h->tail, 6, __ATOMIC_RELEASE);
	T_ERR(ipk_recv(s, b, sizeof(b), &len, NULL, 0), IPK_ECORRUPT);
	ipk_close(s);
	/* A header whose geometry does not match the file. */
	h->nchunk = 1u << 20;
	struct ipk_chan *s2 = NULL;
	T_ERR(ipk_dial(sub_url(""), &o, &s2), IPK_ECORRUPT);
	h->nchunk = 8;
	(void)munmap(seg, seglen);
}

/* A process that scribbles over every slot and sleep word while the
 * publisher sends: the good subscribers get only whole, correct messages
 * in order, and count whatever they lose. */
static void
hostile_scribbler(void)
{
	fresh("pattern=pub&slow=block&queue=64&maxmsg=512&subs=8");
	T_OK(ipk_bind(g_url, NULL, &g_pub));
	const uint64_t N = 20000;
	int ready[2], res[2];
	T_ASSERT(pipe(ready) == 0 && pipe(res) == 0);
	for (int k = 0; k < 2; k++) {
		if (t_fork() != 0)
			continue;
		struct ipk_chan *s = c_dial(sub_url(""));
		say(ready[1]);
		uint64_t got = 0, last = 0;
		unsigned char b[512];
		for (;;) {
			size_t len;
			int rv = ipk_recv(s, b, sizeof(b), &len, NULL, 20000);
			C_OK(rv);
			if (len == 3 && !memcmp(b, "END", 3))
				break;
			uint64_t seq = msg_check(b, len);
			C_ASSERT(seq != UINT64_MAX);
			C_ASSERT(got == 0 || seq > last);
			last = seq;
			got++;
		}
		struct ipk_stats st;
		C_OK(ipk_stats(s, &st));
		uint64_t out[2] = {got, st.gaps};
		C_ASSERT(write(res[1], out, sizeof(out)) == sizeof(out));
		_exit(0);
	}
	hear(ready[0], 2);
	pid_t scrib = t_fork();
	if (scrib == 0) {
		size_t seglen;
		unsigned char *seg = map_rw(&seglen);
		uint64_t r = 0x12345;
		for (;;) {
			for (size_t off = IPK__BC_WAKE_OFF;
			     off + 8 <= IPK__BC_SLOT_OFF + 8 * 64; off += 8) {
				uint64_t v = t_rand(&r);
				memcpy(seg + off, &v, 8);
			}
		}
	}
	unsigned char m[512];
	for (uint64_t i = 0; i < N; i++) {
		msg_fill(m, 8 + i % 500, i);
		int rv = ipk_send(g_pub, m, 8 + i % 500, 0, 5000);
		T_ASSERT(rv == 0 || rv == -ETIMEDOUT);
	}
	t_reap_kill(scrib);
	T_OK(ipk_send(g_pub, "END", 3, 0, 5000));
	for (int k = 0; k < 2; k++) {
		uint64_t r[2];
		struct pollfd pf = {res[0], POLLIN, 0};
		T_ASSERT(poll(&pf, 1, 30000) == 1);
		T_ASSERT(read(res[0], r, sizeof(r)) == sizeof(r));
		T_ASSERT(r[0] > 0 && r[0] + r[1] <= N);
	}
	for (int k = 0; k < t_nkids; k++)
		if (t_kids[k] > 0)
			t_reap(t_kids[k]);
	t_nkids = 0;
}

/* --- the user's objects at our names -------------------------------------- */

static void
users_objects(void)
{
	/* A user's object at the name: refused, left as it was. */
	fresh("pattern=pub");
	int fd = open(g_path, O_CREAT | O_EXCL | O_WRONLY, 0644);
	T_ASSERT(fd >= 0 && write(fd, "mine", 4) == 4);
	close(fd);
	struct ipk_chan *c;
	T_ERR(ipk_bind(g_url, NULL, &c), IPK_EFOREIGN);
	struct ipk_opts o = {.timeout_ms = 0};
	T_ERR(ipk_dial(sub_url(""), &o, &c), IPK_EFOREIGN);
	char buf[8] = {0};
	fd = open(g_path, O_RDONLY);
	T_ASSERT(fd >= 0 && read(fd, buf, sizeof(buf)) == 4);
	close(fd);
	T_ASSERT(!memcmp(buf, "mine", 4));
	T_ASSERT(unlink(g_path) == 0);
	/* A one-to-one shm channel at the name. */
	struct ipk_listener *l;
	char plain[300];
	snprintf(plain, sizeof(plain), "%s", g_url);
	*strchr(plain, '?') = '\0';
	T_OK(ipk_listen(plain, NULL, &l));
	T_ERR(ipk_bind(g_url, NULL, &c), -EADDRINUSE);
	T_ERR(ipk_dial(sub_url(""), &o, &c), -EPROTOTYPE);
	ipk_listener_close(l);
	/* A user's file where a doorbell goes. */
	fresh("pattern=pub");
	T_OK(ipk_bind(g_url, NULL, &g_pub));
	char bell[340];
	snprintf(bell, sizeof(bell), "%s.sub0", g_path);
	fd = open(bell, O_CREAT | O_EXCL | O_WRONLY, 0644);
	T_ASSERT(fd >= 0);
	close(fd);
	struct ipk_chan *s;
	o.timeout_ms = 1000;
	T_OK(ipk_dial(sub_url(""), &o, &s));
	T_ERR(ipk_fd(s), IPK_EFOREIGN);
	struct stat st;
	T_ASSERT(lstat(bell, &st) == 0 && S_ISREG(st.st_mode));
	ipk_close(s);
	T_ASSERT(lstat(bell, &st) == 0 && S_ISREG(st.st_mode));
	T_ASSERT(unlink(bell) == 0);
	ipk_close(g_pub);
	g_pub = NULL;
}

/* --- descriptors ---------------------------------------------------------- */

static void
descriptors(void)
{
	fresh("pattern=pub&slow=block&queue=2&maxmsg=64");
	T_OK(ipk_bind(g_url, NULL, &g_pub));
	int ready[2];
	T_ASSERT(pipe(ready) == 0);
	pid_t p = t_fork();
	if (p == 0) {
		struct ipk_chan *s = c_dial(sub_url(""));
		int fd = ipk_fd(s);
		C_ASSERT(fd >= 0);
		say(ready[1]);
		/* Three messages, each awaited on the descriptor. */
		for (int k = 0; k < 3; k++) {
			unsigned char m[64];
			size_t len;
			for (;;) {
				int rv =
				    ipk_recv(s, m, sizeof(m), &len, NULL, 0);
				if (rv == 0)
					break;
				C_ASSERT(rv == -EAGAIN);
				struct ipk_pollitem it = {s, IPK_POLLIN, 0};
				if (ipk_poll(&it, 1, 0) == 1)
					continue;
				struct pollfd pf = {fd, POLLIN, 0};
				C_ASSERT(poll(&pf, 1, 10000) == 1);
			}
			C_ASSERT(len == 1 && m[0] == 'a' + k);
		}
		ipk_close(s);
		_exit(0);
	}
	hear(ready[0], 1);
	/* The publisher fills the queue, then waits on IPK_POLLOUT. */
	T_OK(ipk_send(g_pub, "a", 1, 0, 0));
	T_OK(ipk_send(g_pub, "b", 1, 0, 0));
	struct ipk_pollitem it = {g_pub, IPK_POLLOUT, 0};
	T_ASSERT(ipk_poll(&it, 1, 10000) == 1);
	T_OK(ipk_send(g_pub, "c", 1, 0, 0));
	t_reap(p);
	T_ASSERT(ipk_fd(g_pub) >= 0);
}

/* --- publisher death and restart ------------------------------------------ */

static void
pub_restart(void)
{
	fresh("pattern=pub&queue=64&maxmsg=64");
	int ready[2];
	T_ASSERT(pipe(ready) == 0);
	pid_t p = t_fork();
	if (p == 0) {
		struct ipk_chan *pub;
		C_OK(ipk_bind(g_url, NULL, &pub));
		C_OK(ipk_send(pub, "one", 3, 0, 0));
		say(ready[1]);
		for (;;)
			pause();
	}
	hear(ready[0], 1);
	struct ipk_opts o = {.timeout_ms = 1000};
	struct ipk_chan *s;
	T_ERR(ipk_dial(sub_url("history=1"), &o, &s), -EINVAL);
	T_OK(ipk_dial(sub_url(""), &o, &s));
	unsigned char b[64];
	size_t len;
	int64_t t0 = t_now_ns();
	t_reap_kill(p);
	T_ERR(ipk_recv(s, b, sizeof(b), &len, NULL, 5000), IPK_ECLOSED);
	double ms = t_ms_since(t0);
	fprintf(stderr, "publisher death seen after %.1f ms\n", ms);
	T_ASSERT(ms < 100);
	/* The segment stays; a new publisher carries on under the name, and
	 * the subscriber, still attached, gets what it sends. */
	T_ASSERT(t_obj_exists(g_path));
	T_OK(ipk_bind(g_url, NULL, &g_pub));
	T_OK(ipk_send(g_pub, "two", 3, 0, 0));
	T_OK(ipk_recv(s, b, sizeof(b), &len, NULL, 1000));
	T_ASSERT(len == 3 && !memcmp(b, "two", 3));
	ipk_close(g_pub);
	g_pub = NULL;
	T_ERR(ipk_recv(s, b, sizeof(b), &len, NULL, 1000), IPK_ECLOSED);
	T_ASSERT(strstr(ipk_strerror(IPK_ECLOSED), "closed") != NULL);
	ipk_close(s);
	T_ASSERT(!t_obj_exists(g_path));
}

/* --- refused -------------------------------------------------------------- */

static void
refused(void)
{
	struct ipk_chan *c;
	struct ipk_opts o = {.timeout_ms = 0};
	static const char *const bad_pub[] = {"pattern=pub&queue=0",
	    "pattern=pub&queue=8&history=8", "pattern=pub&wait=nap",
	    "pattern=pub&topic=a", "pattern=pub&slow=maybe",
	    "pattern=pub&subs=0", "pattern=pub&maxmsg=0", "pattern=pub&id=x"};
	for (size_t i = 0; i < sizeof(bad_pub) / sizeof(bad_pub[0]); i++) {
		fresh(bad_pub[i]);
		T_ERR(ipk_bind(g_url, NULL, &c), -EINVAL);
		T_ASSERT(!t_obj_exists(g_path));
	}
	fresh("pattern=pub&subs=2&maxmsg=16");
	T_OK(ipk_bind(g_url, NULL, &g_pub));
	T_ERR(ipk_dial(sub_url("slow=block"), &o, &c), -EINVAL);
	T_ERR(ipk_dial(sub_url("id=0123456789abcdefX"), &o, &c), -EINVAL);
	char plain[400];
	snprintf(plain, sizeof(plain), "%s", sub_url(""));
	*strstr(plain, "pattern=sub") = '\0';
	struct ipk_chan *s1, *s2;
	T_OK(ipk_dial(sub_url(""), &o, &s1));
	T_OK(ipk_dial(sub_url(""), &o, &s2));
	T_ERR(ipk_dial(sub_url(""), &o, &c), -EUSERS);
	ipk_close(s2);
	T_OK(ipk_dial(sub_url(""), &o, &s2));
	T_ERR(ipk_send(g_pub, "0123456789abcdefX", 17, 0, 0), -EMSGSIZE);
	T_ERR(ipk_send(s1, "a", 1, 0, 0), -ENOTSUP);
	char b[4];
	size_t len;
	T_ERR(ipk_recv(g_pub, b, sizeof(b), &len, NULL, 0), -ENOTSUP);
	T_ERR(ipk_subscribe(g_pub, "a", 1), -EINVAL);
	T_ASSERT(ipk_caps(g_pub) & IPK_CAP_ZEROCOPY);
	/* Another publisher at the name: refused while this one lives. */
	T_ERR(ipk_bind(g_url, NULL, &c), -EADDRINUSE);
	/* The roles shm does not serve, and who binds. */
	fresh("pattern=req");
	T_ERR(ipk_bind(g_url, NULL, &c), -ENOTSUP);
	fresh("pattern=sub");
	T_ERR(ipk_bind(g_url, NULL, &c), -ENOTSUP);
	ipk_close(s1);
	ipk_close(s2);
}

/* --- crash sites (test-hook builds) --------------------------------------- */

/*
 * A victim is this program run again (the hooks read IPK_TEST_CRASH once
 * per process), told its role on the command line:
 *   --pub URL N READYFD   bind URL, wait for a subscriber, send 0..N-1, END
 *   --sub URL MODE MEMFD  dial URL (peek or recv), check every message,
 *                         write the last one finished to the shared page
 */
#define CS_N 300

static int
victim_pub(const char *url, uint64_t n, int ready)
{
	struct ipk_chan *pub;
	C_OK(ipk_bind(url, NULL, &pub));
	say(ready);
	int64_t end = t_now_ns() + 10000000000ll;
	while (ipk_npeers(pub) < 1)
		C_ASSERT(t_now_ns() < end);
	unsigned char m[64];
	for (uint64_t i = 0; i < n; i++) {
		msg_fill(m, sizeof(m), i);
		C_OK(ipk_send(pub, m, sizeof(m), 0, 10000));
		if (i % 16 == 0) {
			/* Let the subscriber fall asleep now and then. */
			struct timespec ts = {0, 200000};
			nanosleep(&ts, NULL);
		}
	}
	C_OK(ipk_send(pub, "END", 3, 0, 10000));
	ipk_close(pub);
	return 0;
}

static int
victim_sub(const char *url, const char *mode, int memfd)
{
	volatile uint64_t *done =
	    mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED, memfd, 0);
	C_ASSERT(done != MAP_FAILED);
	struct ipk_opts o = {.timeout_ms = 10000};
	struct ipk_chan *s;
	C_OK(ipk_dial(url, &o, &s));
	int peek = !strcmp(mode, "peek");
	for (int first = 1;; first = 0) {
		unsigned char b[64];
		const void *p = b;
		size_t len;
		if (peek)
			C_OK(ipk_peek(s, &p, &len, NULL, 10000));
		else
			C_OK(ipk_recv(s, b, sizeof(b), &len, NULL, 10000));
		if (len == 3 && !memcmp(p, "END", 3))
			break;
		uint64_t seq = msg_check(p, len);
		C_ASSERT(seq != UINT64_MAX);
		if (first)
			done[1] = seq; /* where this one began */
		else
			C_ASSERT(seq == done[0] + 1);
		done[0] = seq;
		if (peek)
			C_OK(ipk_release(s));
	}
	done[2] = 1; /* saw END */
	ipk_close(s);
	return 0;
}

#ifdef IPK_TEST_HOOKS
static pid_t
spawn(char *const argv[], const char *crash)
{
	pid_t p = t_fork();
	if (p == 0) {
		if (crash)
			setenv("IPK_TEST_CRASH", crash, 1);
		else
			unsetenv("IPK_TEST_CRASH");
		execv("/proc/self/exe", argv);
		_exit(5);
	}
	return p;
}

/* The publisher dies at `site` (hit n); the subscriber has every message
 * it committed, in order, and a publisher that binds again carries on
 * after them. Returns 0 when the victim died there, 1 when it never
 * reached the hit. */
static int
crash_pub(const char *site, unsigned n)
{
	fresh("pattern=pub&slow=block&queue=8&maxmsg=64");
	char crash[96], num[16], rfd[16];
	snprintf(crash, sizeof(crash), "%s:%u", site, n);
	int ready[2];
	T_ASSERT(pipe(ready) == 0);
	snprintf(num, sizeof(num), "%d", CS_N);
	snprintf(rfd, sizeof(rfd), "%d", ready[1]);
	char *argv[] = {"victim", "--pub", g_url, num, rfd, NULL};
	pid_t v = spawn(argv, crash);
	close(ready[1]);
	hear(ready[0], 1);
	close(ready[0]);
	struct ipk_opts o = {.timeout_ms = 5000};
	struct ipk_chan *s;
	/* A subscriber that sleeps, so that the wake-up sites are passed. */
	T_OK(ipk_dial(sub_url("wait=futex"), &o, &s));
	uint64_t next = 0;
	unsigned char b[64];
	size_t len;
	int rv, ended = 0;
	while ((rv = ipk_recv(s, b, sizeof(b), &len, NULL, 10000)) == 0) {
		if (len == 3 && !memcmp(b, "END", 3)) {
			ended = 1;
			continue;
		}
		T_EQ(msg_check(b, len), next);
		next++;
	}
	T_ERR(rv, IPK_ECLOSED);
	int st;
	T_ASSERT(waitpid(v, &st, 0) == v);
	t_forget(v);
	if (!WIFSIGNALED(st)) {
		T_ASSERT(WIFEXITED(st) && WEXITSTATUS(st) == 0 && ended);
		ipk_close(s);
		return 1;
	}
	T_EQ(WTERMSIG(st), SIGKILL);
	/* A new publisher, same options: the subscriber gets what it
	 * sends right after what it had. */
	T_OK(ipk_bind(g_url, NULL, &g_pub));
	unsigned char m[64];
	for (uint64_t i = next; i < next + 5; i++) {
		msg_fill(m, sizeof(m), i);
		T_OK(ipk_send(g_pub, m, sizeof(m), 0, 5000));
	}
	for (uint64_t i = next; i < next + 5; i++) {
		T_OK(ipk_recv(s, b, sizeof(b), &len, NULL, 5000));
		T_EQ(msg_check(b, len), i);
	}
	ipk_close(s);
	ipk_close(g_pub);
	g_pub = NULL;
	return 0;
}

/* The subscriber (with an id) dies at `site` (hit n); the publisher
 * waits for it (linger), a new one with the same id resumes at least once:
 * at the message its predecessor had not finished. */
static int
crash_sub(const char *site, unsigned n, const char *mode)
{
	fresh("pattern=pub&slow=block&queue=8&maxmsg=64&linger=20000");
	T_OK(ipk_bind(g_url, NULL, &g_pub));
	int memfd = memfd_create("progress", 0);
	T_ASSERT(memfd >= 0 && ftruncate(memfd, 4096) == 0);
	volatile uint64_t *done =
	    mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED, memfd, 0);
	T_ASSERT(done != MAP_FAILED);
	char crash[96], mfd[16], url[400];
	snprintf(crash, sizeof(crash), "%s:%u", site, n);
	snprintf(mfd, sizeof(mfd), "%d", memfd);
	snprintf(url, sizeof(url), "%s", sub_url("id=v&wait=futex"));
	char *argv[] = {"victim", "--sub", url, (char *)mode, mfd, NULL};
	pid_t v = spawn(argv, crash);
	int64_t end = t_now_ns() + 10000000000ll;
	while (ipk_npeers(g_pub) < 1)
		T_ASSERT(t_now_ns() < end);
	unsigned char m[64];
	int died = 0;
	uint64_t last = 0;
	for (uint64_t i = 0; i <= CS_N; i++) {
		size_t len = i == CS_N ? 3 : sizeof(m);
		if (i == CS_N)
			memcpy(m, "END", 3);
		else
			msg_fill(m, len, i);
		int rv;
		while ((rv = ipk_send(g_pub, m, len, 0, 20)) == -ETIMEDOUT) {
			int st;
			T_ASSERT(t_now_ns() < end + 20000000000ll);
			if (died || waitpid(v, &st, WNOHANG) != v)
				continue;
			t_forget(v);
			T_ASSERT(WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL);
			died = 1;
			last = done[0];
			v = spawn(argv, NULL);
		}
		T_OK(rv);
	}
	t_reap(v);
	T_EQ(done[2], 1);
	if (died)
		T_ASSERT(done[1] == last || done[1] == last + 1);
	(void)munmap((void *)done, 4096);
	close(memfd);
	ipk_close(g_pub);
	g_pub = NULL;
	return died ? 0 : 1;
}

static void
crash_sites(void)
{
	static const unsigned hits[] = {1, 2, 5, 40};
	static const char *const pub_sites[] = {
	    "bcast.before_stamp", "bcast.after_stamp", "bcast.before_wake"};
	static const struct {
		const char *site, *mode;
	} sub_sites[] = {{"bcast.recv_taken", "recv"},
	    {"bcast.before_release", "peek"}, {"bcast.after_head", "peek"}};
	for (size_t i = 0; i < sizeof(pub_sites) / sizeof(pub_sites[0]); i++) {
		int reached = 0;
		for (size_t k = 0; k < sizeof(hits) / sizeof(hits[0]); k++)
			reached += crash_pub(pub_sites[i], hits[k]) == 0;
		if (!reached)
			T_FAILF("no trial reached %s", pub_sites[i]);
	}
	for (size_t i = 0; i < sizeof(sub_sites) / sizeof(sub_sites[0]); i++) {
		int reached = 0;
		for (size_t k = 0; k < sizeof(hits) / sizeof(hits[0]); k++)
			reached += crash_sub(sub_sites[i].site, hits[k],
				       sub_sites[i].mode) == 0;
		if (!reached)
			T_FAILF("no trial reached %s", sub_sites[i].site);
	}
	fprintf(stderr, "crash sites: every site reached and survived\n");
}
#else
static void
crash_sites(void)
{
	fprintf(stderr, "crash sites: not a test-hook build (make hooks)\n");
}
#endif

int
main(int argc, char **argv)
{
	if (argc == 5 && !strcmp(argv[1], "--pub"))
		return victim_pub(
		    argv[2], strtoull(argv[3], NULL, 0), atoi(argv[4]));
	if (argc == 5 && !strcmp(argv[1], "--sub"))
		return victim_sub(argv[2], argv[3], atoi(argv[4]));
	t_watchdog(300);
	t_cleanup_hook = cleanup;
	signal(SIGPIPE, SIG_IGN);
	refused();
	cleanup();
	zerocopy_fanout();
	cleanup();
	drop_stale();
	cleanup();
	hostile_fields();
	cleanup();
	hostile_scribbler();
	cleanup();
	users_objects();
	cleanup();
	descriptors();
	cleanup();
	pub_restart();
	cleanup();
	crash_sites();
	cleanup();
	sixteen_restart();
	cleanup();
	printf("PASS transport shm pub/sub\n");
	return T_PASS;
}
