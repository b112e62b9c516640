/* SPDX-License-Identifier: MIT */
/*
 * subj_raw.c - the baselines every ipckit row is compared with: the hardware
 * floor (an atomic flag bounced through a shared mapping, spinning), the
 * streaming floor (the simplest correct ring of records in a shared
 * mapping), a raw futex ping-pong, and hand-written loops over pipe(2), a
 * unix socketpair and POSIX message queues, plus single-core memcpy
 * bandwidth, cold and hot (engine.c).
 */
#include "bench.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/futex.h>
#include <mqueue.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

/* --- floor/atomic and floor/futex: a one-slot mailbox per direction ----- */

struct floor_slot {
	_Atomic uint32_t full; /* 1: data[0..len) is the peer's message */
	uint32_t len;
	unsigned char pad[56];
	unsigned char data[];
};

struct floor_state {
	unsigned char *map;
	size_t slot_size, map_size;
	int futex;
};

static struct floor_slot *
floor_slot(struct floor_state *st, int dir)
{
	return (struct floor_slot *)(st->map + (size_t)dir * st->slot_size);
}

static int
floor_prepare(struct bench_conn *c)
{
	struct floor_state *st = calloc(1, sizeof(*st));
	size_t max = c->cfg->rtt_size;
	if (!st)
		return bench_fail(c, -ENOMEM, "out of memory");
	c->p = st;
	for (int i = 0; i < c->cfg->nsizes; i++)
		if (c->cfg->sizes[i] > max)
			max = c->cfg->sizes[i];
	st->futex = !strcmp(c->s->arg, "futex");
	st->slot_size = (sizeof(struct floor_slot) + max + 4095) & ~4095ul;
	st->map_size = 2 * st->slot_size;
	/* Shared and anonymous: the forked peer sees the same pages. */
	st->map = mmap(NULL, st->map_size, PROT_READ | PROT_WRITE,
	    MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (st->map == MAP_FAILED) {
		st->map = NULL;
		return bench_fail(c, -errno, "mmap: %s", strerror(errno));
	}
	return 0;
}

static int
floor_open(struct bench_conn *c)
{
	(void)c;
	return 0;
}

static int
floor_dial(struct bench_conn *c, const char *url)
{
	(void)url;
	return floor_open(c);
}

static inline void
floor_relax(void)
{
#if defined(__x86_64__) || defined(__i386__)
	__builtin_ia32_pause();
#elif defined(__aarch64__)
	__asm__ volatile("yield");
#endif
}

/*
 * Wait until *w == want. Spinning is bounded: the clock is read every 1024
 * turns and the wait gives up after BENCH_SPIN_NS, so a dead peer never
 * hangs the benchmark. The futex variant sleeps in 100 ms slices.
 */
static int
floor_wait(struct bench_conn *c, struct floor_state *st, _Atomic uint32_t *w,
    uint32_t want)
{
	int64_t deadline = 0;
	for (unsigned i = 1;; i++) {
		/* Pairs with the release store in floor_post. */
		uint32_t v = atomic_load_explicit(w, memory_order_acquire);
		if (v == want)
			return 0;
		if (st->futex) {
			struct timespec ts = {0, 100000000};
			syscall(SYS_futex, (uint32_t *)w, FUTEX_WAIT, v, &ts,
			    NULL, 0);
		} else {
			floor_relax();
		}
		if (st->futex || (i & 1023) == 0) {
			int64_t now = bench_now();
			if (!deadline)
				deadline = now +
				    (st->futex ? BENCH_OP_MS * 1000000ll
					       : BENCH_SPIN_NS);
			else if (now > deadline)
				return bench_fail(c, -ETIMEDOUT,
				    "the peer did "
				    "not answer in time (bounded wait)");
		}
	}
}

static void
floor_post(struct floor_state *st, _Atomic uint32_t *w, uint32_t v)
{
	/* Pairs with the acquire load in floor_wait. */
	atomic_store_explicit(w, v, memory_order_release);
	if (st->futex)
		syscall(SYS_futex, (uint32_t *)w, FUTEX_WAKE, 1, NULL, NULL, 0);
}

static int
floor_send(struct bench_conn *c, const void *buf, size_t len)
{
	struct floor_state *st = c->p;
	struct floor_slot *s = floor_slot(st, c->side);
	int rv = floor_wait(c, st, &s->full, 0);
	if (rv < 0)
		return rv;
	memcpy(s->data, buf, len);
	s->len = (uint32_t)len;
	floor_post(st, &s->full, 1);
	return 0;
}

static int
floor_recv(struct bench_conn *c, void *buf, size_t len)
{
	struct floor_state *st = c->p;
	struct floor_slot *s = floor_slot(st, !c->side);
	int rv = floor_wait(c, st, &s->full, 1);
	if (rv < 0)
		return rv;
	size_t n = s->len;
	if (n > len)
		return bench_fail(c, -EBADMSG,
		    "slot holds %zu bytes, more "
		    "than the %zu expected",
		    n, len);
	memcpy(buf, s->data, n);
	floor_post(st, &s->full, 0);
	return (int)n;
}

static void
floor_close(struct bench_conn *c)
{
	(void)c;
}

static void
floor_finish(struct bench_conn *c)
{
	struct floor_state *st = c->p;
	if (!st)
		return;
	if (st->map)
		munmap(st->map, st->map_size);
	free(st);
	c->p = NULL;
}

static const struct bench_ops floor_ops = {
    .prepare = floor_prepare,
    .accept = floor_open,
    .dial = floor_dial,
    .send = floor_send,
    .recv = floor_recv,
    .close = floor_close,
    .finish = floor_finish,
};

/* --- floor/ring: the simplest correct SPSC ring of records ------------- */

/*
 * What a shared-memory ring costs when it does nothing but move records:
 * one ring per direction in a shared anonymous mapping, records of an
 * 8-byte length header and the payload (8-byte aligned, a padding mark
 * when a record does not fit before the end), cached indices (the producer
 * reads head only when its copy says full, the consumer reads tail only
 * when it has used up what it saw), tail published per record, head
 * published in batches of an eighth of the ring (and whenever the consumer
 * finds the ring empty), spinning waits. No validation of what the peer
 * wrote, no liveness, no crash consistency: a floor, not a transport.
 * Sized like the ipckit rings of the run (subj_ipckit.c).
 */
#define FRING_PAD 0xffffffffu

struct fring_ctl {
	_Alignas(64) _Atomic uint64_t tail;
	_Alignas(64) _Atomic uint64_t head;
};

struct fring_side {
	struct fring_ctl *ctl;
	unsigned char *data;
	uint64_t pos; /* producer: tail; consumer: head */
	uint64_t cached; /* producer: head; consumer: tail */
	uint64_t published; /* consumer: head last stored */
};

struct fring_state {
	unsigned char *map;
	size_t map_size;
	uint64_t cap;
	struct fring_side tx, rx; /* private to each process after fork */
	uint32_t peeked; /* floor/zc: length of the record peeked */
};

static int
fring_prepare(struct bench_conn *c)
{
	struct fring_state *st = calloc(1, sizeof(*st));
	size_t max = c->cfg->rtt_size;
	if (!st)
		return bench_fail(c, -ENOMEM, "out of memory");
	c->p = st;
	for (int i = 0; i < c->cfg->nsizes; i++)
		if (c->cfg->sizes[i] > max)
			max = c->cfg->sizes[i];
	st->cap = 2u << 20;
	while (st->cap < 2 * max + 65536 && st->cap < (1u << 30))
		st->cap <<= 1;
	/* [ctl 0][ctl 1] on one page, then the two data areas. */
	st->map_size = 4096 + 2 * st->cap;
	st->map = mmap(NULL, st->map_size, PROT_READ | PROT_WRITE,
	    MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (st->map == MAP_FAILED) {
		st->map = NULL;
		return bench_fail(c, -errno, "mmap: %s", strerror(errno));
	}
	return 0;
}

static void
fring_view(struct fring_state *st, int ring, struct fring_side *v)
{
	memset(v, 0, sizeof(*v));
	v->ctl = (struct fring_ctl *)(void *)(st->map + (size_t)ring * 128);
	v->data = st->map + 4096 + (size_t)ring * st->cap;
}

static int
fring_open(struct bench_conn *c)
{
	struct fring_state *st = c->p;
	/* Ring 0 carries side 0 -> side 1. */
	fring_view(st, c->side, &st->tx);
	fring_view(st, !c->side, &st->rx);
	return 0;
}

static int
fring_dial(struct bench_conn *c, const char *url)
{
	(void)url;
	return fring_open(c);
}

/* Spin until *idx != old; the clock is read every 1024 turns and the
 * wait gives up after BENCH_SPIN_NS, so a dead peer never hangs the run. */
static int
fring_spin(struct bench_conn *c, _Atomic uint64_t *idx, uint64_t old,
    uint64_t *now_val)
{
	int64_t deadline = 0;
	for (unsigned i = 1;; i++) {
		/* Acquire: pairs with the peer's release store of idx. */
		uint64_t v = atomic_load_explicit(idx, memory_order_acquire);
		if (v != old) {
			*now_val = v;
			return 0;
		}
		floor_relax();
		if ((i & 1023) == 0) {
			int64_t now = bench_now();
			if (!deadline)
				deadline = now + BENCH_SPIN_NS;
			else if (now > deadline)
				return bench_fail(c, -ETIMEDOUT,
				    "the peer did "
				    "not answer in time (bounded wait)");
		}
	}
}

/* Producer: wait until `need` bytes are free at tx.pos. */
static int
fring_room(struct bench_conn *c, struct fring_state *st, uint64_t need)
{
	struct fring_side *t = &st->tx;
	while (t->pos + need - t->cached > st->cap) {
		uint64_t h =
		    atomic_load_explicit(&t->ctl->head, memory_order_acquire);
		if (h == t->cached) {
			int rv = fring_spin(c, &t->ctl->head, h, &h);
			if (rv < 0)
				return rv;
		}
		t->cached = h;
	}
	return 0;
}

static int
fring_send(struct bench_conn *c, const void *buf, size_t len)
{
	struct fring_state *st = c->p;
	struct fring_side *t = &st->tx;
	uint64_t need = (8 + len + 7) & ~(uint64_t)7;
	uint64_t off = t->pos & (st->cap - 1), rem = st->cap - off;
	int rv;
	if (need > rem) {
		if ((rv = fring_room(c, st, rem)) < 0)
			return rv;
		uint32_t pad = FRING_PAD;
		memcpy(t->data + off, &pad, 4);
		t->pos += rem;
		off = 0;
	}
	if ((rv = fring_room(c, st, need)) < 0)
		return rv;
	uint32_t l32 = (uint32_t)len;
	memcpy(t->data + off, &l32, 4);
	memcpy(t->data + off + 8, buf, len);
	t->pos += need;
	/* Release: the record before the index that exposes it. */
	atomic_store_explicit(&t->ctl->tail, t->pos, memory_order_release);
	return 0;
}

static void
fring_publish_head(struct fring_side *r)
{
	/* Release: our reads of the records before the producer may reuse
	 * their bytes. */
	atomic_store_explicit(&r->ctl->head, r->pos, memory_order_release);
	r->published = r->pos;
}

/* Consumer: the next record at rx.pos (its length in *l32, its payload at
 * *data), waiting for one; padding marks are skipped. */
static int
fring_next(struct bench_conn *c, struct fring_state *st, size_t len,
    uint32_t *l32, unsigned char **data)
{
	struct fring_side *r = &st->rx;
	for (;;) {
		if (r->pos == r->cached) {
			uint64_t t = atomic_load_explicit(
			    &r->ctl->tail, memory_order_acquire);
			if (t == r->pos) {
				/* Empty: hand back what we hold first. */
				if (r->published != r->pos)
					fring_publish_head(r);
				int rv = fring_spin(c, &r->ctl->tail, t, &t);
				if (rv < 0)
					return rv;
			}
			r->cached = t;
		}
		uint64_t off = r->pos & (st->cap - 1);
		memcpy(l32, r->data + off, 4);
		if (*l32 == FRING_PAD) {
			r->pos += st->cap - off;
			continue;
		}
		if (*l32 > len)
			return bench_fail(c, -EBADMSG,
			    "record of %u bytes, more than the %zu "
			    "expected",
			    *l32, len);
		*data = r->data + off + 8;
		return 0;
	}
}

/* Consumer: done with the record of l32 bytes at rx.pos. */
static void
fring_consume(struct fring_state *st, uint32_t l32)
{
	struct fring_side *r = &st->rx;
	r->pos += (8 + (uint64_t)l32 + 7) & ~(uint64_t)7;
	if (r->pos - r->published >= st->cap / 8)
		fring_publish_head(r);
}

static int
fring_recv(struct bench_conn *c, void *buf, size_t len)
{
	struct fring_state *st = c->p;
	unsigned char *data;
	uint32_t l32;
	int rv = fring_next(c, st, len, &l32, &data);
	if (rv < 0)
		return rv;
	memcpy(buf, data, l32);
	fring_consume(st, l32);
	return (int)l32;
}

/*
 * floor/zc: the same ring, written and read in place. loan reserves a
 * record at the tail (room waited for, a padding mark where it would not
 * fit before the end) and hands out its payload; commit writes the length
 * and publishes the tail; peek points at the next record; release moves
 * the head past it. The engine fills a loan and checks a peek exactly as
 * it does for the zero-copy rows: the floor of that workload.
 */
static int
fring_loan(struct bench_conn *c, size_t len, void **buf)
{
	struct fring_state *st = c->p;
	struct fring_side *t = &st->tx;
	uint64_t need = (8 + len + 7) & ~(uint64_t)7;
	uint64_t off = t->pos & (st->cap - 1), rem = st->cap - off;
	int rv;
	if (need > rem) {
		if ((rv = fring_room(c, st, rem)) < 0)
			return rv;
		uint32_t pad = FRING_PAD;
		memcpy(t->data + off, &pad, 4);
		t->pos += rem;
		off = 0;
	}
	if ((rv = fring_room(c, st, need)) < 0)
		return rv;
	*buf = t->data + off + 8;
	return 0;
}

static int
fring_commit(struct bench_conn *c, size_t len)
{
	struct fring_state *st = c->p;
	struct fring_side *t = &st->tx;
	uint32_t l32 = (uint32_t)len;
	memcpy(t->data + (t->pos & (st->cap - 1)), &l32, 4);
	t->pos += (8 + len + 7) & ~(uint64_t)7;
	/* Release: the record, filled in place, before the index that
	 * exposes it; pairs with the acquire load in fring_next. */
	atomic_store_explicit(&t->ctl->tail, t->pos, memory_order_release);
	return 0;
}

static int
fring_peek(struct bench_conn *c, const void **buf, size_t *len)
{
	struct fring_state *st = c->p;
	unsigned char *data;
	int rv = fring_next(c, st, *len, &st->peeked, &data);
	if (rv < 0)
		return rv;
	*buf = data;
	*len = st->peeked;
	return 0;
}

static int
fring_release(struct bench_conn *c)
{
	struct fring_state *st = c->p;
	fring_consume(st, st->peeked);
	st->peeked = 0;
	return 0;
}

static void
fring_close(struct bench_conn *c)
{
	(void)c;
}

static void
fring_finish(struct bench_conn *c)
{
	struct fring_state *st = c->p;
	if (!st)
		return;
	if (st->map)
		munmap(st->map, st->map_size);
	free(st);
	c->p = NULL;
}

static const struct bench_ops fring_ops = {
    .prepare = fring_prepare,
    .accept = fring_open,
    .dial = fring_dial,
    .send = fring_send,
    .recv = fring_recv,
    .close = fring_close,
    .finish = fring_finish,
};

static const struct bench_ops fring_zc_ops = {
    .prepare = fring_prepare,
    .accept = fring_open,
    .dial = fring_dial,
    .send = fring_send,
    .recv = fring_recv,
    .loan = fring_loan,
    .commit = fring_commit,
    .peek = fring_peek,
    .release = fring_release,
    .close = fring_close,
    .finish = fring_finish,
};

/* --- raw/pipe and raw/unix: byte streams read and written in full ------- */

struct fd_state {
	int fd[2][2]; /* [side] = { read fd, write fd } */
	int sock;
};

static int
fd_prepare(struct bench_conn *c)
{
	struct fd_state *st = malloc(sizeof(*st));
	if (!st)
		return bench_fail(c, -ENOMEM, "out of memory");
	memset(st->fd, -1, sizeof(st->fd));
	c->p = st;
	st->sock = !strcmp(c->s->arg, "unix");
	if (st->sock) {
		int sv[2];
		if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0)
			return bench_fail(
			    c, -errno, "socketpair: %s", strerror(errno));
		st->fd[0][0] = st->fd[0][1] = sv[0];
		st->fd[1][0] = st->fd[1][1] = sv[1];
		return 0;
	}
	int a[2], b[2];
	if (pipe2(a, O_CLOEXEC) < 0)
		return bench_fail(c, -errno, "pipe: %s", strerror(errno));
	if (pipe2(b, O_CLOEXEC) < 0) {
		int e = errno;
		close(a[0]);
		close(a[1]);
		return bench_fail(c, -e, "pipe: %s", strerror(e));
	}
	/* a carries side 0 -> side 1, b the other way. */
	st->fd[0][0] = b[0];
	st->fd[0][1] = a[1];
	st->fd[1][0] = a[0];
	st->fd[1][1] = b[1];
	return 0;
}

static void
fd_close_side(struct fd_state *st, int side)
{
	if (st->fd[side][0] >= 0)
		close(st->fd[side][0]);
	if (st->fd[side][1] >= 0 && st->fd[side][1] != st->fd[side][0])
		close(st->fd[side][1]);
	st->fd[side][0] = st->fd[side][1] = -1;
}

static int
fd_accept(struct bench_conn *c)
{
	struct fd_state *st = c->p;
	c->pollable = 1;
	if (!c->s->threads)
		fd_close_side(st, 1);
	return 0;
}

static int
fd_dial(struct bench_conn *c, const char *url)
{
	(void)url;
	fd_close_side(c->p, 0);
	return 0;
}

static int
fd_send(struct bench_conn *c, const void *buf, size_t len)
{
	struct fd_state *st = c->p;
	const char *p = buf;
	int fd = st->fd[c->side][1];
	while (len) {
		/* MSG_NOSIGNAL: a dead peer is an error, not SIGPIPE (the
		 * pipe's SIGPIPE is ignored by the command). */
		ssize_t n = st->sock ? send(fd, p, len, MSG_NOSIGNAL)
				     : write(fd, p, len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return bench_fail(
			    c, -errno, "write: %s", strerror(errno));
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

static int
fd_recv(struct bench_conn *c, void *buf, size_t len)
{
	struct fd_state *st = c->p;
	char *p = buf;
	size_t left = len;
	while (left) {
		ssize_t n = read(st->fd[c->side][0], p, left);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return bench_fail(
			    c, -errno, "read: %s", strerror(errno));
		if (n == 0)
			return bench_fail(c, -EPIPE, "the peer closed");
		p += n;
		left -= (size_t)n;
	}
	return (int)len;
}

static void
fd_close(struct bench_conn *c)
{
	if (c->p)
		fd_close_side(c->p, c->side);
}

static void
fd_finish(struct bench_conn *c)
{
	struct fd_state *st = c->p;
	if (!st)
		return;
	fd_close_side(st, 0);
	fd_close_side(st, 1);
	free(st);
	c->p = NULL;
}

static const struct bench_ops fd_ops = {
    .prepare = fd_prepare,
    .accept = fd_accept,
    .dial = fd_dial,
    .send = fd_send,
    .recv = fd_recv,
    .close = fd_close,
    .finish = fd_finish,
};

/* --- raw/mq: two POSIX queues, removed by name at once ------------------ */

struct rawmq_state {
	mqd_t q[2]; /* q[0] carries side 0 -> 1 */
	long msgsize;
};

static long
rawmq_sysctl(const char *name, long dflt)
{
	char path[96], buf[32];
	snprintf(path, sizeof(path), "/proc/sys/fs/mqueue/%s", name);
	FILE *f = fopen(path, "re");
	long v = dflt;
	if (f) {
		if (fgets(buf, sizeof(buf), f))
			v = strtol(buf, NULL, 10);
		fclose(f);
	}
	return v > 0 ? v : dflt;
}

static int
rawmq_prepare(struct bench_conn *c)
{
	struct rawmq_state *st = malloc(sizeof(*st));
	size_t max = c->cfg->rtt_size;
	if (!st)
		return bench_fail(c, -ENOMEM, "out of memory");
	st->q[0] = st->q[1] = (mqd_t)-1;
	c->p = st;
	for (int i = 0; i < c->cfg->nsizes; i++)
		if (c->cfg->sizes[i] > max)
			max = c->cfg->sizes[i];
	long lim = rawmq_sysctl("msgsize_max", 8192);
	st->msgsize = (long)max < lim ? (long)max : lim;
	c->max_msg = (size_t)st->msgsize;
	snprintf(c->limit, sizeof(c->limit),
	    "/proc/sys/fs/mqueue/"
	    "msgsize_max = %ld",
	    lim);
	struct mq_attr a = {.mq_maxmsg = rawmq_sysctl("msg_max", 10),
	    .mq_msgsize = st->msgsize};
	if (a.mq_maxmsg > 10)
		a.mq_maxmsg = 10;
	for (int i = 0; i < 2; i++) {
		char name[64];
		snprintf(
		    name, sizeof(name), "/ipkb-raw-%ld-%d", (long)getpid(), i);
		st->q[i] = mq_open(
		    name, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600, &a);
		if (st->q[i] == (mqd_t)-1)
			return bench_fail(
			    c, -errno, "mq_open %s: %s", name, strerror(errno));
		/* The peer inherits the descriptor: the name can go now,
		 * so nothing is left behind whatever happens. */
		mq_unlink(name);
	}
	return 0;
}

static int
rawmq_accept(struct bench_conn *c)
{
	c->pollable = 1;
	return 0;
}

static int
rawmq_dial(struct bench_conn *c, const char *url)
{
	(void)url;
	return rawmq_accept(c);
}

static struct timespec
rawmq_deadline(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	ts.tv_sec += BENCH_OP_MS / 1000;
	return ts;
}

static int
rawmq_send(struct bench_conn *c, const void *buf, size_t len)
{
	struct rawmq_state *st = c->p;
	struct timespec ts = rawmq_deadline();
	while (mq_timedsend(st->q[c->side], buf, len, 0, &ts) < 0) {
		if (errno != EINTR)
			return bench_fail(
			    c, -errno, "mq_send: %s", strerror(errno));
	}
	return 0;
}

static int
rawmq_recv(struct bench_conn *c, void *buf, size_t len)
{
	struct rawmq_state *st = c->p;
	struct timespec ts = rawmq_deadline();
	/* The engine's buffer holds the largest size of the run, which is
	 * at least the queue's msgsize, as mq_receive(3) requires. */
	(void)len;
	ssize_t n;
	while ((n = mq_timedreceive(st->q[!c->side], buf, (size_t)st->msgsize,
		    NULL, &ts)) < 0) {
		if (errno != EINTR)
			return bench_fail(
			    c, -errno, "mq_receive: %s", strerror(errno));
	}
	return (int)n;
}

static void
rawmq_close(struct bench_conn *c)
{
	(void)c;
}

static void
rawmq_finish(struct bench_conn *c)
{
	struct rawmq_state *st = c->p;
	if (!st)
		return;
	for (int i = 0; i < 2; i++)
		if (st->q[i] != (mqd_t)-1)
			mq_close(st->q[i]);
	free(st);
	c->p = NULL;
}

static const struct bench_ops rawmq_ops = {
    .prepare = rawmq_prepare,
    .accept = rawmq_accept,
    .dial = rawmq_dial,
    .send = rawmq_send,
    .recv = rawmq_recv,
    .close = rawmq_close,
    .finish = rawmq_finish,
};

/* --- the rows ----------------------------------------------------------- */

static void
raw_row(struct bench_subject *r, const char *name, const struct bench_ops *o,
    const char *arg, const char *wait, struct bench_props p)
{
	memset(r, 0, sizeof(*r));
	snprintf(r->name, sizeof(r->name), "%s", name);
	snprintf(r->arg, sizeof(r->arg), "%s", arg);
	r->kind = BENCH_BASELINE;
	r->ops = o;
	r->wait = wait;
	r->props = p;
}

int
bench_subjects_raw(struct bench_subject *rows, int cap)
{
	int n = 0;
	if (cap < 9)
		return 0;
	raw_row(&rows[n++], "floor/atomic", &floor_ops, "atomic",
	    "spin (bounded)",
	    (struct bench_props){1, 0, 1, "2 (via a shared slot)", 0, 0, 0});
	raw_row(&rows[n++], "floor/ring", &fring_ops, "ring", "spin (bounded)",
	    (struct bench_props){1, 0, 1, "2 (via a shared ring)", 0, 0, 0});
	/* Streams only in place (zero-copy): the floor of the zero-copy
	 * rows' fill-and-check workload. */
	raw_row(&rows[n], "floor/zc", &fring_zc_ops, "zc", "spin (bounded)",
	    (struct bench_props){
		1, 0, 1, "0 (filled and checked in place)", 0, 0, 0});
	rows[n].zero_copy = rows[n].zc_only = 1;
	n++;
	raw_row(&rows[n++], "floor/futex", &floor_ops, "futex",
	    "futex every message",
	    (struct bench_props){1, 0, 1, "2 (via a shared slot)", 0, 0, 0});
	raw_row(&rows[n++], "raw/pipe", &fd_ops, "pipe", "block (read)",
	    (struct bench_props){
		1, 0, 0, "2 (in and out of the kernel)", 0, 0, 1});
	raw_row(&rows[n++], "raw/unix", &fd_ops, "unix", "block (read)",
	    (struct bench_props){
		1, 0, 0, "2 (in and out of the kernel)", 0, 0, 1});
	raw_row(&rows[n++], "raw/mq", &rawmq_ops, "mq", "block (mq_receive)",
	    (struct bench_props){
		0, 1, 1, "2 (in and out of the kernel)", 0, 1, 1});
	raw_row(&rows[n], "memcpy", &fd_ops, "memcpy", "none (one core)",
	    (struct bench_props){-1, -1, -1, "1", -1, -1, -1});
	rows[n++].memcpy_row = 1;
	raw_row(&rows[n], "memcpy/hot", &fd_ops, "hot", "none (one core)",
	    (struct bench_props){-1, -1, -1, "1", -1, -1, -1});
	rows[n++].memcpy_row = 1;
	return n;
}
