/* SPDX-License-Identifier: MIT */
/*
 * ring.c - the slow paths of the ring (ring.h): setting up a control block,
 * waking a side that announced it sleeps, and the bounded waits of the four
 * strategies (spin, futex, semaphore, adaptive).
 */
#include "shm/ring.h"

#include <limits.h>
#include <linux/futex.h>
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

static void
ring_futex_wake(uint32_t *word)
{
	(void)syscall(SYS_futex, word, FUTEX_WAKE, INT_MAX, NULL, NULL, 0);
}

void
ipk__ring_wake_reader(struct ipk__ring *r)
{
	/* Take the whole announcement: each request is served once. */
	uint32_t bits =
	    __atomic_exchange_n(&r->ctl->rd_wait, 0, __ATOMIC_SEQ_CST);
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
	if (bits & IPK__RING_WFUTEX)
		ring_futex_wake(&r->ctl->wr_wait);
	if (bits & IPK__RING_WSEM)
		(void)sem_post(ring_sem(&r->ctl->wr_sem));
}

/* Spin until the peer's index leaves r->peer or `until`; 1 if it moved. */
static int
ring_spin(struct ipk__ring *r, const uint64_t *idx, int64_t until)
{
	for (;;) {
		for (int i = 0; i < RING_SPIN_CLOCK_EVERY; i++) {
			if (__atomic_load_n(idx, __ATOMIC_RELAXED) != r->peer)
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
	const uint64_t *idx = reader ? &ctl->tail : &ctl->head;
	uint32_t *word = reader ? &ctl->rd_wait : &ctl->wr_wait;
	int64_t now = ipk__now_ns();

	if (strategy == IPK__WAIT_SPIN) {
		int64_t end = now + RING_SPIN_SLICE_NS;
		(void)ring_spin(r, idx, end < until ? end : until);
		return 0;
	}
	if (strategy == IPK__WAIT_ADAPTIVE) {
		int64_t end = now + RING_ADAPTIVE_SPIN_NS;
		if (ring_spin(r, idx, end < until ? end : until))
			return 0;
		now = ipk__now_ns();
	}
	if (now >= until)
		return 0;

	uint32_t bit =
	    strategy == IPK__WAIT_SEM ? IPK__RING_WSEM : IPK__RING_WFUTEX;
	uint32_t v = ipk__ring_announce(word, bit);
	/* Re-check after announcing: a publish that came before our
	 * announcement did not see it and will not wake us. */
	if (__atomic_load_n(idx, __ATOMIC_RELAXED) != r->peer) {
		__atomic_and_fetch(word, ~bit, __ATOMIC_RELAXED);
		return 0;
	}
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
