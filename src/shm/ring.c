/* SPDX-License-Identifier: MIT */
/*
 * ring.c - the slow paths of the ring (ring.h): setting up a control block,
 * waking a side that announced it sleeps, and the bounded waits of the four
 * strategies (spin, futex, semaphore, adaptive).
 */
#include "shm/ring.h"

#include <limits.h>
#include <stdio.h>
#include <linux/futex.h>
#include <linux/membarrier.h>
#include <sys/random.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

/* Spin budget of the adaptive strategy before it sleeps on the futex: long
 * enough to catch a peer that answers at once (a hand-off costs 0.2-0.8 us
 * here), short enough not to burn a core when it does not. */
#define RING_ADAPTIVE_SPIN_NS 20000
/* A spinning wait looks at the clock every this many polls, and gives the
 * caller a chance to re-check liveness after this long. */
#define RING_SPIN_CLOCK_EVERY 64
#define RING_SPIN_SLICE_NS 2000000
/* Polls of the other side before a blocked call first reads the clock
 * (spin and adaptive): a peer that answers at once costs no clock read,
 * which on a VM costs as much as the hand-off itself. */
#define RING_QUICK_POLLS 1024
/* A sleep that no barrier could make safe ends after this (ring.h). */
#define RING_BRIEF_NS 1000000

static inline void
ring_cpu_relax(void)
{
#if defined(__x86_64__) || defined(__i386__)
	__builtin_ia32_pause();
#elif defined(__aarch64__)
	__asm__ __volatile__("yield");
#endif
}

/*
 * glibc keeps the futex "private" flag inside sem_t (64-bit ABIs: an int at
 * offset 8). A peer scribbling there would make the futex call fail with
 * ENOSYS, which glibc answers with abort(). Before every use, reset it to
 * the value sem_init gives a process-shared semaphore (learned once from a
 * local one; also valid for process-private memory). A write racing with
 * the few instructions between here and glibc's load remains possible:
 * docs/transports/shm.md lists it with the other same-uid limits.
 */
static sem_t *
ring_sem(sem_t *s)
{
#if defined(__GLIBC__) && UINTPTR_MAX == UINT64_MAX
	static int shared_flag = -1;
	int v = __atomic_load_n(&shared_flag, __ATOMIC_RELAXED);
	if (v < 0) {
		sem_t tmp;
		if (sem_init(&tmp, 1, 0) < 0)
			return s;
		memcpy(&v, (char *)&tmp + 8, sizeof(v));
		sem_destroy(&tmp);
		__atomic_store_n(&shared_flag, v, __ATOMIC_RELAXED);
	}
	__atomic_store_n((int *)(void *)((char *)s + 8), v, __ATOMIC_RELAXED);
#endif
	return s;
}

int
ipk__ring_ctl_init(struct ipk__ring_ctl *ctl, int pshared)
{
	memset(ctl, 0, sizeof(*ctl));
	/* The stamp key: random and odd (ring.h, "Publishing"). */
	uint64_t key = 0;
	if (getrandom(&key, sizeof(key), GRND_NONBLOCK) != sizeof(key))
		key = (uint64_t)ipk__now_ns() * 0x9E3779B97F4A7C15ull ^
		    (uint64_t)(uintptr_t)ctl;
	ctl->key = key | 1;
	if (sem_init(&ctl->rd_sem, pshared, 0) < 0)
		return -errno;
	if (sem_init(&ctl->wr_sem, pshared, 0) < 0) {
		int e = -errno;
		sem_destroy(&ctl->rd_sem);
		return e;
	}
	return 0;
}

void
ipk__ring_ctl_fini(struct ipk__ring_ctl *ctl)
{
	sem_destroy(&ctl->rd_sem);
	sem_destroy(&ctl->wr_sem);
}

/* 0 unknown, 1 expedited barrier registered, 2 GLOBAL only, 3 none; with
 * the pid that found it out (a forked child registers again). */
static int ring_fence_mode;
static pid_t ring_fence_pid;

static int
ring_membarrier(int cmd)
{
	return (int)syscall(SYS_membarrier, cmd, 0, 0);
}

int
ipk__ring_setup(void)
{
	pid_t pid = getpid();
	int mode = __atomic_load_n(&ring_fence_mode, __ATOMIC_ACQUIRE);
	if (mode && __atomic_load_n(&ring_fence_pid, __ATOMIC_RELAXED) == pid)
		return mode == 1;
	int q = ring_membarrier(MEMBARRIER_CMD_QUERY);
	if (q >= 0 && (q & MEMBARRIER_CMD_GLOBAL_EXPEDITED) &&
	    ring_membarrier(MEMBARRIER_CMD_REGISTER_GLOBAL_EXPEDITED) == 0)
		mode = 1;
	else if (q >= 0 && (q & MEMBARRIER_CMD_GLOBAL))
		mode = 2;
	else
		mode = 3;
	/* Racing threads find the same answer; registering twice is
	 * harmless. */
	__atomic_store_n(&ring_fence_pid, pid, __ATOMIC_RELAXED);
	__atomic_store_n(&ring_fence_mode, mode, __ATOMIC_RELEASE);
	return mode == 1;
}

int
ipk__ring_sleep_fence(void)
{
	int mode = __atomic_load_n(&ring_fence_mode, __ATOMIC_ACQUIRE);
	if (mode == 1 && ring_membarrier(MEMBARRIER_CMD_GLOBAL_EXPEDITED) == 0)
		return 0;
	/* Not registered (or the call failed): the slow global barrier
	 * still reaches every thread of the system. */
	if (mode != 3 && ring_membarrier(MEMBARRIER_CMD_GLOBAL) == 0)
		return 0;
	return 1;
}

static void
ring_futex_wake(uint32_t *word)
{
	(void)syscall(SYS_futex, word, FUTEX_WAKE, INT_MAX, NULL, NULL, 0);
}

void
ipk__ring_wake_reader(struct ipk__ring *r)
{
	/* Take the whole announcement: each request is served once. */
	IPK__CRASH_SITE("ring.before_wake_reader");
	uint32_t bits =
	    __atomic_exchange_n(&r->ctl->rd_wait, 0, __ATOMIC_SEQ_CST);
	IPK__CRASH_SITE("ring.wake_reader_taken");
	if (bits & IPK__RING_WFUTEX)
		ring_futex_wake(&r->ctl->rd_wait);
	if (bits & IPK__RING_WSEM)
		(void)sem_post(ring_sem(&r->ctl->rd_sem));
	if ((bits & IPK__RING_WBELL) && r->bell)
		r->bell(r->bell_arg);
}

void
ipk__ring_wake_writer(struct ipk__ring *r)
{
	uint32_t bits =
	    __atomic_exchange_n(&r->ctl->wr_wait, 0, __ATOMIC_SEQ_CST);
	IPK__CRASH_SITE("ring.wake_writer_taken");
	if (bits & IPK__RING_WFUTEX)
		ring_futex_wake(&r->ctl->wr_wait);
	if (bits & IPK__RING_WSEM)
		(void)sem_post(ring_sem(&r->ctl->wr_sem));
}

/* Has the other side moved? Reader: the record at r->pos is committed;
 * writer: head left r->peer. */
static inline int
ring_moved(struct ipk__ring *r, int reader)
{
	if (reader)
		return ipk__ring_ready(r);
	return __atomic_load_n(&r->ctl->head, __ATOMIC_RELAXED) != r->peer;
}

/* Spin until the other side moves or `until`; 1 if it moved. */
static int
ring_spin(struct ipk__ring *r, int reader, int64_t until)
{
	for (;;) {
		for (int i = 0; i < RING_SPIN_CLOCK_EVERY; i++) {
			if (ring_moved(r, reader))
				return 1;
			ring_cpu_relax();
		}
		if (ipk__now_ns() >= until)
			return 0;
	}
}

int
ipk__ring_wait(struct ipk__ring *r, int reader, int strategy, int64_t until)
{
	struct ipk__ring_ctl *ctl = r->ctl;
	uint32_t *word = reader ? &ctl->rd_wait : &ctl->wr_wait;
	int64_t now = ipk__now_ns();

	if (strategy == IPK__WAIT_SPIN) {
		int64_t end = now + RING_SPIN_SLICE_NS;
		(void)ring_spin(r, reader, end < until ? end : until);
		return 0;
	}
	if (strategy == IPK__WAIT_ADAPTIVE) {
		int64_t end = now + RING_ADAPTIVE_SPIN_NS;
		if (ring_spin(r, reader, end < until ? end : until))
			return 0;
		now = ipk__now_ns();
	}
	if (now >= until)
		return 0;

	uint32_t bit =
	    strategy == IPK__WAIT_SEM ? IPK__RING_WSEM : IPK__RING_WFUTEX;
	int brief = 0;
	uint32_t v = ipk__ring_announce(word, bit, &brief);
	/* Re-check after announcing: a publish that came before our
	 * announcement did not see it and will not wake us. */
	if (ring_moved(r, reader)) {
		__atomic_and_fetch(word, ~bit, __ATOMIC_RELAXED);
		return 0;
	}
	if (brief && until - now > RING_BRIEF_NS)
		until = now + RING_BRIEF_NS;
	int rv = 0;
	if (strategy == IPK__WAIT_SEM) {
		struct timespec ts = {until / 1000000000, until % 1000000000};
		if (sem_clockwait(
			ring_sem(reader ? &ctl->rd_sem : &ctl->wr_sem),
			CLOCK_MONOTONIC, &ts) < 0 &&
		    errno != ETIMEDOUT && errno != EINTR)
			rv = errno == EINVAL ? IPK_ECORRUPT : -errno;
	} else {
		int64_t left = until - now;
		struct timespec ts = {left / 1000000000, left % 1000000000};
		if (syscall(SYS_futex, word, FUTEX_WAIT, v, &ts, NULL, 0) < 0 &&
		    errno != EAGAIN && errno != ETIMEDOUT && errno != EINTR)
			rv = -errno;
	}
	__atomic_and_fetch(word, ~bit, __ATOMIC_RELAXED);
	return rv;
}

/* --- Channels over a pair of rings ---------------------------------------- */

static const char *const ring_wait_names[] = {
    "adaptive", "spin", "futex", "sem"};

int
ipk__ring_opts(const struct ipk__url *u, uint64_t *cap, int *wait)
{
	uint64_t v;
	const char *s;
	int rv = ipk__url_size(u, "size", &v);
	if (rv < 0)
		return rv;
	if (rv == 0) {
		if (v < 4096 || v > IPK__RING_MAX)
			return ipk__err(-EINVAL,
			    "size=%llu: each ring holds "
			    "from 4K to 1G",
			    (unsigned long long)v);
		for (*cap = 4096; *cap < v;)
			*cap <<= 1;
	}
	if ((rv = ipk__url_str(u, "wait", &s)) != 0)
		return rv < 0 ? rv : 0;
	for (int i = 0; i < (int)IPK__ARRAY_LEN(ring_wait_names); i++)
		if (!strcmp(s, ring_wait_names[i])) {
			*wait = i;
			return 0;
		}
	return ipk__err(-EINVAL,
	    "wait=%s: expected adaptive, spin, futex or "
	    "sem",
	    s);
}

static int
ring_chan_corrupt(struct ipk__ring_chan *h, const char *what)
{
	return ipk__err(IPK_ECORRUPT,
	    "%s: the %s ring holds invalid indices "
	    "or record headers",
	    h->name, what);
}

/* Spin and adaptive: poll the other side a little before the clock is
 * read; 1 if it moved. */
static int
ring_chan_quick(struct ipk__ring_chan *h, struct ipk__ring *r, int reader)
{
	if (h->wait != IPK__WAIT_SPIN && h->wait != IPK__WAIT_ADAPTIVE)
		return 0;
	for (int i = 0; i < RING_QUICK_POLLS; i++) {
		if (ring_moved(r, reader))
			return 1;
		ring_cpu_relax();
	}
	return 0;
}

/* Wait one slice for the peer to move; IPK_ECLOSED when it is gone. */
static int
ring_chan_wait(struct ipk__ring_chan *h, struct ipk__ring *r, int reader,
    int64_t deadline, int *slices)
{
	/* At expiry the peer is asked too: a dead peer is IPK_ECLOSED even
	 * for timeout 0, as on every other transport. */
	int expired = ipk__expired(deadline);
	if ((expired || (*slices)++ > 0) && !h->alive(h->arg))
		return ipk__err(IPK_ECLOSED, "%s: the peer is gone%s", h->name,
		    reader ? "" : " and the ring is full");
	if (expired)
		return -ETIMEDOUT;
	int64_t until = ipk__now_ns() + (int64_t)IPK__SLICE_MS * 1000000;
	int rv = ipk__ring_wait(
	    r, reader, h->wait, until < deadline ? until : deadline);
	return rv == IPK_ECORRUPT ? ring_chan_corrupt(h, "semaphore of a") : rv;
}

int
ipk__ring_chan_loan(
    struct ipk__ring_chan *h, size_t len, void **buf, int64_t deadline)
{
	int slices = 0;
	for (;;) {
		int rv = ipk__ring_loan(&h->tx, len, buf);
		if (IPK__LIKELY(rv == 0))
			return 0;
		if (rv == IPK_ECORRUPT)
			return ring_chan_corrupt(h, "outgoing");
		if (rv != -EAGAIN)
			return rv;
		if (slices == 0 && ring_chan_quick(h, &h->tx, 0))
			continue;
		if ((rv = ring_chan_wait(h, &h->tx, 0, deadline, &slices)) < 0)
			return rv;
	}
}

int
ipk__ring_chan_send(struct ipk__ring_chan *h, const void *buf, size_t len,
    uint32_t type, int64_t deadline)
{
	void *p;
	int rv = ipk__ring_chan_loan(h, len, &p, deadline);
	if (IPK__UNLIKELY(rv < 0))
		return rv;
	IPK__CRASH_SITE("ring.after_loan");
	size_t done = 0;
#ifdef IPK_TEST_HOOKS
	/* Test builds copy in two halves, with a crash site between. */
	done = len / 2;
	if (done)
		memcpy(p, buf, done);
	IPK__CRASH_SITE("ring.mid_copy");
#endif
	if (len > done)
		memcpy((char *)p + done, (const char *)buf + done, len - done);
	ipk__ring_commit(&h->tx, len, type);
	return 0;
}

void
ipk__ring_chan_arm(struct ipk__ring_chan *h)
{
	char buf[64]; /* >= 8: an eventfd read needs that much */
	if (h->drain)
		h->drain(h->arg);
	else
		while (read(h->bell, buf, sizeof(buf)) > 0)
			;
	(void)ipk__ring_announce(&h->rx.ctl->rd_wait, IPK__RING_WBELL, NULL);
}

int
ipk__ring_chan_ready(struct ipk__ring_chan *h)
{
	struct ipk__ring_msg m;
	int rv = ipk__ring_peek(&h->rx, &m);
	if (rv == -EAGAIN && h->bell >= 0) {
		ipk__ring_chan_arm(h);
		rv = ipk__ring_peek(&h->rx, &m);
	}
	if (rv != -EAGAIN)
		return 1;
	return !h->alive(h->arg);
}

/* The next record, waiting for it; queued records come before
 * IPK_ECLOSED. */
static int
ring_chan_next(
    struct ipk__ring_chan *h, struct ipk__ring_msg *m, int64_t deadline)
{
	int slices = 0;
	for (;;) {
		int rv = ipk__ring_peek(&h->rx, m);
		if (IPK__LIKELY(rv == 0))
			return 0;
		if (rv == IPK_ECORRUPT)
			return ring_chan_corrupt(h, "incoming");
		if (slices == 0 && ring_chan_quick(h, &h->rx, 1))
			continue;
		rv = ring_chan_wait(h, &h->rx, 1, deadline, &slices);
		if ((rv == IPK_ECLOSED || rv == -ETIMEDOUT) &&
		    ipk__ring_peek(&h->rx, m) == 0)
			return 0;
		if (rv == -ETIMEDOUT && h->bell >= 0) {
			/* About to report "nothing": the caller may now sleep
			 * on ipk_fd, so empty the doorbell and ask the
			 * producer to ring it. Only here, not on every
			 * receive, so an ipk_fd taken once costs the hand-off
			 * nothing; the re-check after arming closes the race
			 * with a record published meanwhile. */
			ipk__ring_chan_arm(h);
			if (ipk__ring_peek(&h->rx, m) == 0)
				return 0;
		}
		if (rv < 0)
			return rv;
	}
}

int
ipk__ring_chan_recv(struct ipk__ring_chan *h, size_t max_msg, void *buf,
    size_t cap, size_t *len, uint32_t *type, int64_t deadline)
{
	struct ipk__ring_msg m;
	int rv = ring_chan_next(h, &m, deadline);
	if (IPK__UNLIKELY(rv < 0))
		return rv;
	if (IPK__UNLIKELY(m.len > max_msg)) {
		ipk__ring_release(&h->rx);
		*len = m.len;
		return ipk__err(-EMSGSIZE,
		    "dropped a %u-byte message over the "
		    "channel's limit of %zu (maxmsg=)",
		    m.len, max_msg);
	}
	if (IPK__UNLIKELY(m.len > cap)) {
		*len = m.len;
		return ipk__err(-EMSGSIZE,
		    "the next message has %u bytes; the "
		    "buffer holds %zu",
		    m.len, cap);
	}
	if (m.len)
		memcpy(buf, m.buf, m.len);
	*len = m.len;
	*type = m.type;
	ipk__ring_release(&h->rx);
	return 0;
}

int
ipk__ring_chan_peek(struct ipk__ring_chan *h, const void **buf, size_t *len,
    uint32_t *type, int64_t deadline)
{
	struct ipk__ring_msg m;
	int rv = ring_chan_next(h, &m, deadline);
	if (rv < 0)
		return rv;
	*buf = m.buf;
	*len = m.len;
	*type = m.type;
	return 0;
}

/* "4M", "64K" or bytes, for sentences. */
static const char *
ring_size_str(uint64_t v, char *buf, size_t n)
{
	if (v >= (1u << 30) && v % (1u << 30) == 0)
		snprintf(buf, n, "%lluG", (unsigned long long)(v >> 30));
	else if (v >= (1u << 20) && v % (1u << 20) == 0)
		snprintf(buf, n, "%lluM", (unsigned long long)(v >> 20));
	else if (v >= 1024 && v % 1024 == 0)
		snprintf(buf, n, "%lluK", (unsigned long long)(v >> 10));
	else
		snprintf(buf, n, "%llu", (unsigned long long)v);
	return buf;
}

int
ipk__ring_chan_toobig(struct ipk__ring_chan *h, size_t max_msg, size_t len)
{
	uint64_t cap = h->tx.cap, fit = 4096;
	char a[32], b[32];
	if (max_msg < ipk__ring_max_msg(cap) ||
	    len > IPK__RING_MAX - IPK__RING_HDR)
		return ipk__err(-EMSGSIZE,
		    "message of %zu bytes exceeds the "
		    "channel's limit of %zu (maxmsg=)",
		    len, max_msg);
	while (fit < ipk__ring_recsize(len))
		fit <<= 1;
	return ipk__err(-EMSGSIZE,
	    "message of %zu bytes does not fit a ring "
	    "of size=%s, whose largest message is %zu bytes; size=%s would "
	    "fit",
	    len, ring_size_str(cap, a, sizeof(a)), max_msg,
	    ring_size_str(fit, b, sizeof(b)));
}
