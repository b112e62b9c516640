/* SPDX-License-Identifier: MIT */
/*
 * engine.c - runs one benchmark row: starts the peer (a forked process, or a
 * thread for inproc only), pins both sides to different CPUs, warms up,
 * measures round trips into a histogram, then streams one way at each size.
 * Every payload is written by its sender and fully compared by its receiver.
 * A watchdog kills the peer if a row overruns; every exit path reaps it.
 */
#include "bench.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define ENG_LAST 1u /* last message of a phase */
#define ENG_HDR 16 /* seq (8) + flags (4) + length (4) */
#define ENG_GOLDEN 0x9E3779B97F4A7C15ull

enum { ENG_RTT = 1, ENG_STREAM, ENG_QUIT };

struct eng_cmd {
	uint32_t op, phase, zc, pad;
	uint64_t size;
};

struct eng_reply {
	int32_t rv;
	uint32_t pad;
	uint64_t received, lost;
	char err[232];
};

struct eng {
	const struct bench_cfg *cfg;
	const struct bench_subject *s;
	struct bench_conn c[2]; /* [0] measuring side, [1] peer */
	int ctl[2]; /* control socketpair, one end per side */
	size_t bufcap;
	pid_t pid;
	pthread_t thread;
	int started;
	/* watchdog */
	pthread_mutex_t mu;
	pthread_cond_t cv;
	int done;
	int64_t budget_ns;
	int fired;
};

int64_t
bench_now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000ll + ts.tv_nsec;
}

int
bench_fail(struct bench_conn *c, int code, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(c->err, sizeof(c->err), fmt, ap);
	va_end(ap);
	return code < 0 ? code : -EIO;
}

void
bench_progress(const struct bench_cfg *cfg, int i, int n, const char *name,
    const char *what)
{
	if (cfg->tty) {
		int w = 24, fill = n ? (i * w) / n : w;
		fprintf(stderr, "\r\033[K[%.*s%*s] %2d/%d %-14s %s", fill,
		    "########################", w - fill, "", i < n ? i + 1 : n,
		    n, name, what);
		if (i == n)
			fputc('\n', stderr);
	} else if (what[0]) {
		fprintf(stderr, "bench: %d/%d %s: %s\n", i + 1, n, name, what);
	}
	fflush(stderr);
}

/* --- payload: the sender writes every byte, the receiver compares them -- */

static void
eng_fill(void *buf, size_t len, uint64_t seq, uint32_t flags)
{
	unsigned char *p = buf;
	uint32_t l32 = (uint32_t)len;
	uint64_t k = seq * ENG_GOLDEN;
	memcpy(p, &seq, 8);
	memcpy(p + 8, &flags, 4);
	memcpy(p + 12, &l32, 4);
	size_t i = ENG_HDR, w = 0;
	for (; i + 8 <= len; i += 8, w++) {
		uint64_t v = k + w;
		memcpy(p + i, &v, 8);
	}
	for (; i < len; i++)
		p[i] = (unsigned char)(k >> (i & 7));
}

/* 0 when buf[0..len) is the message eng_fill wrote; *seq, *flags out. */
static int
eng_check(const void *buf, size_t len, uint64_t *seq, uint32_t *flags)
{
	const unsigned char *p = buf;
	uint32_t l32;
	if (len < ENG_HDR)
		return -1;
	memcpy(seq, p, 8);
	memcpy(flags, p + 8, 4);
	memcpy(&l32, p + 12, 4);
	if (l32 != len)
		return -1;
	uint64_t k = *seq * ENG_GOLDEN, bad = 0;
	size_t i = ENG_HDR, w = 0;
	for (; i + 8 <= len; i += 8, w++) {
		uint64_t v;
		memcpy(&v, p + i, 8);
		bad |= v ^ (k + w);
	}
	for (; i < len; i++)
		bad |= p[i] ^ (unsigned char)(k >> (i & 7));
	return bad ? -1 : 0;
}

/* --- control channel ---------------------------------------------------- */

static int
eng_write(int fd, const void *buf, size_t len)
{
	const char *p = buf;
	while (len) {
		/* SIGPIPE is ignored by the command: a gone peer is EPIPE. */
		ssize_t n = write(fd, p, len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return -1;
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

/* Read exactly len bytes within timeout_ms (-1: forever). */
static int
eng_read(int fd, void *buf, size_t len, int timeout_ms)
{
	char *p = buf;
	int64_t end = bench_now() + (int64_t)timeout_ms * 1000000;
	while (len) {
		if (timeout_ms >= 0) {
			int64_t left = (end - bench_now()) / 1000000;
			struct pollfd pfd = {.fd = fd, .events = POLLIN};
			if (left < 0)
				return -ETIMEDOUT;
			int r = poll(&pfd, 1, (int)left + 1);
			if (r < 0 && errno == EINTR)
				continue;
			if (r == 0)
				return -ETIMEDOUT;
		}
		ssize_t n = read(fd, p, len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return -EPIPE;
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

static void
eng_pin(int cpu)
{
	if (cpu < 0)
		return;
	cpu_set_t set;
	CPU_ZERO(&set);
	CPU_SET(cpu, &set);
	(void)sched_setaffinity(0, sizeof(set), &set);
}

/* --- the peer: echoes round trips, receives and verifies streams ------- */

static int
eng_peer_stream(struct eng *e, struct bench_conn *c, const struct eng_cmd *cmd,
    unsigned char *buf, struct eng_reply *rep)
{
	const struct bench_ops *o = e->s->ops;
	uint64_t next = 0;
	for (;;) {
		const void *p = buf;
		size_t len = (size_t)cmd->size;
		int rv;
		if (cmd->zc)
			rv = o->peek(c, &p, &len);
		else
			rv = o->recv(c, buf, len);
		if (rv < 0)
			return rv;
		if (!cmd->zc)
			len = (size_t)rv;
		uint64_t seq;
		uint32_t flags;
		int bad = eng_check(p, len, &seq, &flags);
		if (cmd->zc && (rv = o->release(c)) < 0)
			return rv;
		if (bad)
			return bench_fail(c, -EBADMSG,
			    "message %llu of %zu "
			    "bytes arrived corrupted",
			    (unsigned long long)next, len);
		if ((flags >> 1) != cmd->phase)
			continue; /* a late message of an earlier phase */
		if (flags & ENG_LAST)
			return 0;
		if (seq < next || (seq > next && !e->s->lossy))
			return bench_fail(c, -EBADMSG,
			    "expected message %llu, "
			    "got %llu",
			    (unsigned long long)next, (unsigned long long)seq);
		rep->lost += seq - next;
		rep->received++;
		next = seq + 1;
	}
}

static int
eng_peer_rtt(struct eng *e, struct bench_conn *c, const struct eng_cmd *cmd,
    unsigned char *buf)
{
	const struct bench_ops *o = e->s->ops;
	for (;;) {
		int rv = o->recv(c, buf, (size_t)cmd->size);
		if (rv < 0)
			return rv;
		uint64_t seq;
		uint32_t flags;
		if (eng_check(buf, (size_t)rv, &seq, &flags))
			return bench_fail(c, -EBADMSG,
			    "round trip message "
			    "arrived corrupted");
		if ((flags >> 1) != cmd->phase)
			continue;
		/* Echo the verified bytes back: the measuring side checks
		 * them again. */
		if ((rv = o->send(c, buf, (size_t)rv)) < 0)
			return rv;
		if (flags & ENG_LAST)
			return 0;
	}
}

static void
eng_peer_main(struct eng *e)
{
	struct bench_conn *c = &e->c[1];
	int fd = e->ctl[1];
	char url[256];
	struct eng_reply rep;
	struct eng_cmd cmd;
	unsigned char *buf = NULL;

	eng_pin(e->cfg->cpu_b);
	memset(&rep, 0, sizeof(rep));
	if (eng_read(fd, url, sizeof(url), 30000) < 0)
		goto out;
	url[sizeof(url) - 1] = 0;
	buf = malloc(e->bufcap);
	if (!buf)
		rep.rv = bench_fail(c, -ENOMEM, "out of memory");
	else
		rep.rv = e->s->ops->dial(c, url);
	snprintf(rep.err, sizeof(rep.err), "%.220s", c->err);
	if (eng_write(fd, &rep, sizeof(rep)) < 0 || rep.rv < 0)
		goto out;
	while (eng_read(fd, &cmd, sizeof(cmd), -1) == 0) {
		memset(&rep, 0, sizeof(rep));
		c->err[0] = 0;
		if (cmd.op == ENG_QUIT || cmd.size > e->bufcap)
			break;
		if (cmd.op == ENG_RTT)
			rep.rv = eng_peer_rtt(e, c, &cmd, buf);
		else
			rep.rv = eng_peer_stream(e, c, &cmd, buf, &rep);
		snprintf(rep.err, sizeof(rep.err), "%.220s", c->err);
		if (eng_write(fd, &rep, sizeof(rep)) < 0 || rep.rv < 0)
			break;
	}
	e->s->ops->close(c);
out:
	free(buf);
	close(fd);
}

static void *
eng_peer_thread(void *arg)
{
	eng_peer_main(arg);
	return NULL;
}

/* --- watchdog: a row that overruns its budget loses its peer ----------- */

static void *
eng_watchdog(void *arg)
{
	struct eng *e = arg;
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	int64_t end =
	    (int64_t)ts.tv_sec * 1000000000ll + ts.tv_nsec + e->budget_ns;
	ts.tv_sec = end / 1000000000ll;
	ts.tv_nsec = end % 1000000000ll;
	pthread_mutex_lock(&e->mu);
	while (!e->done) {
		if (pthread_cond_timedwait(&e->cv, &e->mu, &ts) == ETIMEDOUT) {
			e->fired = 1;
			if (e->pid > 0)
				kill(e->pid, SIGKILL);
			break;
		}
	}
	pthread_mutex_unlock(&e->mu);
	return NULL;
}

/* --- the measuring side ------------------------------------------------- */

static void eng_set(struct bench_result *r, enum bench_status st,
    const char *fmt, ...) __attribute__((format(printf, 3, 4)));

static void
eng_set(struct bench_result *r, enum bench_status st, const char *fmt, ...)
{
	va_list ap;
	r->status = st;
	va_start(ap, fmt);
	vsnprintf(r->reason, sizeof(r->reason), fmt, ap);
	va_end(ap);
}

static int
eng_reply(struct eng *e, struct eng_reply *rep, int timeout_ms)
{
	int rv = eng_read(e->ctl[0], rep, sizeof(*rep), timeout_ms);
	if (rv < 0) {
		snprintf(rep->err, sizeof(rep->err), "%s",
		    rv == -ETIMEDOUT ? "the peer did not answer in time"
				     : "the peer went away");
		rep->rv = rv;
		return rv;
	}
	rep->err[sizeof(rep->err) - 1] = 0;
	return rep->rv;
}

/*
 * Wait until t: sleep until 200 us before, then spin, so the timer's own
 * wake-up delay (tens of microseconds on a VM) is not charged to the
 * mechanism under test.
 */
static void
eng_sleep_until(int64_t t)
{
	int64_t early = t - 200000;
	struct timespec ts = {
	    .tv_sec = early / 1000000000ll, .tv_nsec = early % 1000000000ll};
	if (early > bench_now())
		while (clock_nanosleep(
			   CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL) == EINTR)
			;
	while (bench_now() < t)
		;
}

/* One round trip of message i; *t1 gets the time just before the send. */
static int
eng_rtt_one(
    struct eng *e, unsigned char *buf, long i, uint32_t phase, int64_t *t1)
{
	const struct bench_ops *o = e->s->ops;
	struct bench_conn *c = &e->c[0];
	size_t len = e->cfg->rtt_size;
	uint64_t seq;
	uint32_t fl;
	int rv;

	eng_fill(buf, len, (uint64_t)i, phase << 1);
	*t1 = bench_now();
	if ((rv = o->send(c, buf, len)) < 0 || (rv = o->recv(c, buf, len)) < 0)
		return rv;
	if (eng_check(buf, (size_t)rv, &seq, &fl) || seq != (uint64_t)i)
		return bench_fail(c, -EBADMSG,
		    "round trip %ld came back "
		    "corrupted",
		    i);
	return 0;
}

static void
eng_pause(long us)
{
	struct timespec ts = {
	    .tv_sec = us / 1000000, .tv_nsec = (us % 1000000) * 1000};
	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}

static int
eng_rtt(
    struct eng *e, struct bench_result *r, unsigned char *buf, uint32_t phase)
{
	const struct bench_cfg *cfg = e->cfg;
	const struct bench_ops *o = e->s->ops;
	struct bench_conn *c = &e->c[0];
	size_t len = cfg->rtt_size;
	struct eng_cmd cmd = {.op = ENG_RTT, .phase = phase, .size = len};
	struct eng_reply rep;
	int64_t t1;
	long i = 0;
	int rv;

	if (c->max_msg && len > c->max_msg)
		return bench_fail(c, -EMSGSIZE,
		    "%zu-byte messages exceed the "
		    "limit of %zu bytes (%s)",
		    len, c->max_msg, c->limit);
	if (eng_write(e->ctl[0], &cmd, sizeof(cmd)) < 0)
		return bench_fail(c, -EPIPE, "the peer went away");
	r->rtt = malloc(sizeof(*r->rtt));
	if (!r->rtt)
		return bench_fail(c, -ENOMEM, "out of memory");
	bench_hist_reset(r->rtt);
	int64_t cap = cfg->rtt_cap_s > 0 ? (int64_t)(cfg->rtt_cap_s * 1e9) : 0;
	int64_t period = cfg->rate > 0 ? (int64_t)(1e9 / cfg->rate) : 0;

	/* Warm-up: caches, page faults, wake-up paths; gets at most a
	 * quarter of the time cap. */
	int64_t start = bench_now();
	for (; i < cfg->warmup; i++) {
		if (cap && bench_now() - start > cap / 4)
			break;
		if ((rv = eng_rtt_one(e, buf, i, phase, &t1)) < 0)
			return rv;
	}
	int64_t mstart = bench_now(), due = mstart;
	for (long k = 0; k < cfg->rounds; k++, i++) {
		if (cap && k >= 100 && bench_now() - mstart > cap)
			break;
		if (cfg->pause_us > 0)
			eng_pause(cfg->pause_us);
		if (period) {
			/* Open loop: request k is due at `due` whether or not
			 * the previous answer was late, and its latency counts
			 * from that time, so a stall is not hidden
			 * (no coordinated omission). */
			due += period;
			if (bench_now() < due)
				eng_sleep_until(due);
		}
		if ((rv = eng_rtt_one(e, buf, i, phase, &t1)) < 0)
			return rv;
		bench_hist_add(
		    r->rtt, (uint64_t)(bench_now() - (period ? due : t1)));
	}
	r->rtt_seconds = (double)(bench_now() - mstart) / 1e9;
	eng_fill(buf, len, 0, phase << 1 | ENG_LAST);
	if ((rv = o->send(c, buf, len)) < 0 || (rv = o->recv(c, buf, len)) < 0)
		return rv;
	if (eng_reply(e, &rep, BENCH_OP_MS) < 0)
		return bench_fail(c, rep.rv, "peer: %s", rep.err);
	r->rtt_samples = r->rtt->count;
	r->have_rtt = 1;
	return 0;
}

static int
eng_stream(
    struct eng *e, struct bench_tput *t, unsigned char *buf, uint32_t phase)
{
	const struct bench_ops *o = e->s->ops;
	struct bench_conn *c = &e->c[0];
	size_t len = t->size;
	struct eng_cmd cmd = {.op = ENG_STREAM,
	    .phase = phase,
	    .size = len,
	    .zc = (uint32_t)t->zero_copy};
	struct eng_reply rep;
	int rv = 0;
	uint64_t seq = 0;

	if (eng_write(e->ctl[0], &cmd, sizeof(cmd)) < 0)
		return bench_fail(c, -EPIPE, "the peer went away");
	int64_t dur = (int64_t)(e->cfg->duration_s * 1e9);
	int64_t t0 = bench_now();
	for (;; seq++) {
		if ((seq & 15) == 0 && bench_now() - t0 >= dur)
			break;
		if (t->zero_copy) {
			void *p;
			if ((rv = o->loan(c, len, &p)) < 0)
				break;
			eng_fill(p, len, seq, phase << 1);
			rv = o->commit(c, len);
		} else {
			eng_fill(buf, len, seq, phase << 1);
			rv = o->send(c, buf, len);
		}
		if (rv < 0)
			break;
	}
	if (rv == -EMSGSIZE && seq == 0) {
		/* Over the limit after all: say so and end the phase with a
		 * small last message the peer can take. */
		snprintf(t->reason, sizeof(t->reason), "%.150s", c->err);
		t->status = BENCH_NA;
	} else if (rv < 0) {
		return rv;
	}
	size_t last = t->status == BENCH_NA ? ENG_HDR : len;
	for (int tries = 0;; tries++) {
		eng_fill(buf, last, seq, phase << 1 | ENG_LAST);
		if ((rv = o->send(c, buf, last)) < 0)
			return rv;
		/* A lossy channel may drop the last message: repeat it. */
		rv = eng_reply(e, &rep, e->s->lossy ? 200 : 2 * BENCH_OP_MS);
		if (rv != -ETIMEDOUT || !e->s->lossy || tries > 25)
			break;
	}
	if (rv < 0)
		return bench_fail(c, rep.rv, "peer: %s", rep.err);
	double secs = (double)(bench_now() - t0) / 1e9;
	if (t->status == BENCH_NA)
		return 0;
	t->messages = rep.received;
	t->lost = seq - rep.received;
	t->msgs_per_s = (double)rep.received / secs;
	t->mb_per_s = t->msgs_per_s * (double)len / 1e6;
	t->status = BENCH_OK;
	return 0;
}

static void
eng_stop_peer(struct eng *e)
{
	if (!e->started)
		return;
	if (e->s->threads) {
		/* The thread leaves on QUIT or when the control end closes;
		 * its ipckit calls all carry timeouts. */
		pthread_join(e->thread, NULL);
		e->ctl[1] = -1; /* closed by the thread */
		e->started = 0;
		return;
	}
	for (int i = 0; i < 200; i++) {
		if (waitpid(e->pid, NULL, WNOHANG) == e->pid) {
			e->started = 0;
			return;
		}
		struct timespec ts = {0, 10000000};
		nanosleep(&ts, NULL);
	}
	kill(e->pid, SIGKILL);
	while (waitpid(e->pid, NULL, 0) < 0 && errno == EINTR)
		;
	e->started = 0;
}

static int
eng_start_peer(struct eng *e)
{
	if (e->s->threads) {
		if (pthread_create(&e->thread, NULL, eng_peer_thread, e) != 0)
			return -EAGAIN;
		e->started = 1;
		return 0;
	}
	pid_t parent = getpid();
	fflush(NULL);
	pid_t pid = fork();
	if (pid < 0)
		return -errno;
	if (pid == 0) {
		/* The peer dies with the measuring process, whatever
		 * happens to it. */
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		if (getppid() != parent)
			_exit(1);
		close(e->ctl[0]);
		eng_peer_main(e);
		if (e->s->exit_clean)
			exit(0);
		_exit(0);
	}
	e->pid = pid;
	e->started = 1;
	close(e->ctl[1]);
	e->ctl[1] = -1;
	return 0;
}

static int
eng_open(struct eng *e, struct bench_result *r)
{
	const struct bench_ops *o = e->s->ops;
	struct bench_conn *c = &e->c[0];
	char url[256] = "";
	struct eng_reply rep;
	int rv;

	if (o->listen && (rv = o->listen(c, url, sizeof(url))) < 0) {
		eng_set(r, BENCH_FAILED, "listen: %s", c->err);
		return rv;
	}
	if (eng_write(e->ctl[0], url, sizeof(url)) < 0) {
		eng_set(r, BENCH_FAILED, "the peer did not start");
		return -EPIPE;
	}
	if ((rv = o->accept(c)) < 0) {
		eng_set(r, BENCH_FAILED, "accept: %s", c->err);
		return rv;
	}
	if (eng_reply(e, &rep, 2 * BENCH_OP_MS) < 0) {
		eng_set(r, BENCH_FAILED, "peer: %s", rep.err);
		return rep.rv;
	}
	return 0;
}

static void
eng_phases(struct eng *e, struct bench_result *r, int idx, int n)
{
	const struct bench_cfg *cfg = e->cfg;
	struct bench_conn *c = &e->c[0];
	unsigned char *buf = malloc(e->bufcap);
	uint32_t phase = 1;
	int rv;

	if (!buf) {
		eng_set(r, BENCH_FAILED, "out of memory");
		return;
	}
	bench_progress(cfg, idx, n, e->s->name, "round trips");
	rv = eng_rtt(e, r, buf, phase++);
	if (rv == -EMSGSIZE && !r->have_rtt) {
		eng_set(r, BENCH_NA, "%s", c->err);
		free(buf);
		return;
	}
	if (rv < 0) {
		eng_set(r, BENCH_FAILED, "round trips: %s", c->err);
		free(buf);
		return;
	}
	for (int i = 0; i < r->ntput; i++) {
		struct bench_tput *t = &r->tput[i];
		char what[64];
		if (t->status != BENCH_OK)
			continue;
		if (c->max_msg && t->size > c->max_msg) {
			t->status = BENCH_NA;
			snprintf(t->reason, sizeof(t->reason),
			    "over the "
			    "limit of %zu bytes (%s)",
			    c->max_msg, c->limit);
			continue;
		}
		snprintf(what, sizeof(what), "stream %zu B%s", t->size,
		    t->zero_copy ? " zero-copy" : "");
		bench_progress(cfg, idx, n, e->s->name, what);
		if ((rv = eng_stream(e, t, buf, phase++)) < 0) {
			t->status = BENCH_FAILED;
			snprintf(
			    t->reason, sizeof(t->reason), "%.150s", c->err);
			eng_set(r, BENCH_FAILED, "stream %zu B: %s", t->size,
			    c->err);
			break;
		}
	}
	free(buf);
}

static void
eng_memcpy(const struct bench_cfg *cfg, struct bench_result *r)
{
	/* Cold (memcpy): the buffers are far larger than any cache, and the
	 * copy walks through them, so every block comes from memory. Hot
	 * (memcpy/hot): one block copied again and again between the same
	 * two buffers, which stay in the caches: what a copy costs when the
	 * data is at hand, the bar for a zero-copy hand-off. */
	int hot = !strcmp(r->s->arg, "hot");
	size_t span = 64u << 20;
	if (hot) {
		span = 0;
		for (int i = 0; i < r->ntput; i++)
			if (r->tput[i].size > span)
				span = r->tput[i].size;
	}
	unsigned char *src = malloc(span), *dst = malloc(span);
	if (!src || !dst) {
		eng_set(r, BENCH_FAILED, "out of memory");
		goto out;
	}
	memset(src, 0x5a, span);
	memset(dst, 0xa5, span);
	for (int i = 0; i < r->ntput; i++) {
		struct bench_tput *t = &r->tput[i];
		size_t off = 0;
		uint64_t n = 0;
		int64_t dur = (int64_t)(cfg->duration_s * 1e9);
		int64_t t0 = bench_now(), t1;
		do {
			for (int k = 0; k < 16; k++) {
				if (hot || off + t->size > span)
					off = 0;
				memcpy(dst + off, src + off, t->size);
				/* Each copy counts: none may be merged away. */
				__asm__ volatile("" : : "r"(dst) : "memory");
				off += t->size;
				n++;
			}
			t1 = bench_now();
		} while (t1 - t0 < dur);
		__asm__ volatile("" : : "r"(dst) : "memory");
		t->messages = n;
		t->msgs_per_s = (double)n / ((double)(t1 - t0) / 1e9);
		t->mb_per_s = t->msgs_per_s * (double)t->size / 1e6;
		t->status = BENCH_OK;
	}
out:
	free(src);
	free(dst);
}

static void
eng_init_tput(const struct bench_cfg *cfg, const struct bench_subject *s,
    struct bench_result *r)
{
	r->ntput = 0;
	for (int zc = s->zc_only ? 1 : 0; zc <= (s->zero_copy ? 1 : 0); zc++) {
		for (int i = 0; i < cfg->nsizes; i++) {
			struct bench_tput *t = &r->tput[r->ntput++];
			memset(t, 0, sizeof(*t));
			t->size = cfg->sizes[i];
			t->zero_copy = zc;
			t->status = BENCH_OK;
		}
	}
}

/* With the peer started: open, measure, and stop it, under a watchdog. */
static void
eng_session(struct eng *e, struct bench_result *r, int idx, int n)
{
	const struct bench_subject *s = e->s;
	pthread_t wd;
	int have_wd = pthread_create(&wd, NULL, eng_watchdog, e) == 0;

	if (eng_open(e, r) == 0) {
		r->pollable = e->c[0].pollable;
		eng_phases(e, r, idx, n);
		struct eng_cmd q = {.op = ENG_QUIT};
		(void)eng_write(e->ctl[0], &q, sizeof(q));
	}
	if (s->threads && e->ctl[0] >= 0) {
		/* Wake a thread blocked on the control end. */
		shutdown(e->ctl[0], SHUT_RDWR);
	}
	s->ops->close(&e->c[0]);
	eng_stop_peer(e);
	pthread_mutex_lock(&e->mu);
	e->done = 1;
	pthread_cond_signal(&e->cv);
	pthread_mutex_unlock(&e->mu);
	if (have_wd)
		pthread_join(wd, NULL);
	if (e->fired && r->status == BENCH_OK)
		eng_set(r, BENCH_FAILED,
		    "the row overran its time budget; "
		    "the peer was killed");
}

/* How long a row may take before its peer is killed: generous, a safety
 * net against a hung peer, not a measurement limit. */
static double
eng_budget_s(const struct bench_cfg *cfg, const struct bench_result *r)
{
	double rtt_s = cfg->rtt_cap_s > 0 ? 2 * cfg->rtt_cap_s + 5 : 900;
	if (cfg->pause_us > 0 || cfg->rate > 0)
		rtt_s += 900;
	return rtt_s + 30 +
	    r->ntput * (cfg->duration_s + 2 * BENCH_OP_MS / 1000.0);
}

static void
eng_row(const struct bench_cfg *cfg, const struct bench_subject *s,
    struct bench_result *r, int idx, int n)
{
	struct eng *e;
	int rv;

	memset(r, 0, sizeof(*r));
	r->s = s;
	r->pollable = -1;
	r->status = s->status;
	snprintf(r->reason, sizeof(r->reason), "%s", s->reason);
	eng_init_tput(cfg, s, r);
	if (s->status != BENCH_OK) {
		for (int i = 0; i < r->ntput; i++)
			r->tput[i].status = s->status;
		return;
	}
	bench_progress(cfg, idx, n, s->name, "");
	if (s->memcpy_row) {
		bench_progress(cfg, idx, n, s->name, "memcpy");
		eng_memcpy(cfg, r);
		return;
	}
	e = calloc(1, sizeof(*e));
	if (!e) {
		eng_set(r, BENCH_FAILED, "out of memory");
		return;
	}
	e->cfg = cfg;
	e->s = s;
	e->ctl[0] = e->ctl[1] = -1;
	e->bufcap = cfg->rtt_size;
	for (int i = 0; i < cfg->nsizes; i++)
		if (cfg->sizes[i] > e->bufcap)
			e->bufcap = cfg->sizes[i];
	for (int i = 0; i < 2; i++) {
		e->c[i].s = s;
		e->c[i].cfg = cfg;
		e->c[i].side = i;
		e->c[i].pollable = -1;
	}
	pthread_mutex_init(&e->mu, NULL);
	pthread_condattr_t ca;
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&e->cv, &ca);
	pthread_condattr_destroy(&ca);
	e->budget_ns = (int64_t)(eng_budget_s(cfg, r) * 1e9);

	if (s->ops->prepare && (rv = s->ops->prepare(&e->c[0])) < 0) {
		eng_set(r, BENCH_FAILED, "%s", e->c[0].err);
		goto out;
	}
	e->c[1].p = e->c[0].p;
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, e->ctl) < 0) {
		eng_set(r, BENCH_FAILED, "socketpair: %s", strerror(errno));
		goto out;
	}
	if ((rv = eng_start_peer(e)) < 0) {
		eng_set(r, BENCH_FAILED, "cannot start the peer: %s",
		    strerror(-rv));
		goto out;
	}
	eng_session(e, r, idx, n);
out:
	/* Every finish op copes with a half-prepared state. */
	if (s->ops->finish)
		s->ops->finish(&e->c[0]);
	if (e->ctl[0] >= 0)
		close(e->ctl[0]);
	if (e->ctl[1] >= 0)
		close(e->ctl[1]);
	pthread_mutex_destroy(&e->mu);
	pthread_cond_destroy(&e->cv);
	free(e);
}

/*
 * Each row runs in a process of its own, pinned to the first CPU of the
 * pair, which then starts the peer: no library state (threads of a peer
 * library, descriptors) leaks from one row into the next, and the fork
 * that starts a peer never copies a process in which such a library has
 * already started its threads.
 */
void
bench_run_row(const struct bench_cfg *cfg, const struct bench_subject *s,
    struct bench_result *r, int idx, int n)
{
	int fd[2];
	struct bench_hist *h = NULL;
	pid_t pid;

	memset(r, 0, sizeof(*r));
	r->s = s;
	eng_init_tput(cfg, s, r);
	if (s->status != BENCH_OK || pipe2(fd, O_CLOEXEC) < 0) {
		eng_row(cfg, s, r, idx, n);
		return;
	}
	fflush(NULL);
	pid_t parent = getpid();
	if ((pid = fork()) < 0) {
		close(fd[0]);
		close(fd[1]);
		eng_set(r, BENCH_FAILED, "fork: %s", strerror(errno));
		return;
	}
	if (pid == 0) {
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		if (getppid() != parent)
			_exit(1);
		close(fd[0]);
		eng_pin(cfg->cpu_a);
		eng_row(cfg, s, r, idx, n);
		int ok = eng_write(fd[1], r, sizeof(*r)) == 0 &&
		    (!r->rtt || eng_write(fd[1], r->rtt, sizeof(*r->rtt)) == 0);
		if (s->exit_clean)
			exit(ok ? 0 : 1);
		_exit(ok ? 0 : 1);
	}
	close(fd[1]);
	int ms = (int)(eng_budget_s(cfg, r) * 1000) + 30000;
	int rv = eng_read(fd[0], r, sizeof(*r), ms);
	if (rv == 0 && r->rtt) {
		h = malloc(sizeof(*h));
		if (!h || eng_read(fd[0], h, sizeof(*h), 10000) < 0) {
			free(h);
			h = NULL;
			r->have_rtt = 0;
		}
	}
	r->rtt = h;
	r->s = s;
	if (rv < 0) {
		kill(pid, SIGKILL);
		memset(r, 0, sizeof(*r));
		r->s = s;
		eng_init_tput(cfg, s, r);
		eng_set(r, BENCH_FAILED, "%s",
		    rv == -ETIMEDOUT ? "the row "
				       "did not finish in time and was killed"
				     : "the row's "
				       "process died");
		for (int i = 0; i < r->ntput; i++)
			r->tput[i].status = BENCH_FAILED;
	}
	while (waitpid(pid, NULL, 0) < 0 && errno == EINTR)
		;
	close(fd[0]);
	bench_reap(0);
}

void
bench_reap(int wait_ms)
{
	int64_t end = bench_now() + (int64_t)wait_ms * 1000000;
	for (;;) {
		pid_t p = waitpid(-1, NULL, WNOHANG);
		if (p > 0)
			continue;
		if (p < 0 || bench_now() >= end)
			return;
		struct timespec ts = {0, 10000000};
		nanosleep(&ts, NULL);
	}
}
