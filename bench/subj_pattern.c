/* SPDX-License-Identifier: MIT */
/*
 * subj_pattern.c - the pattern rows of ipckit bench (--patterns):
 * publish/subscribe fan-out 1->1, 1->4 and 1->16 over ipckit's pattern
 * channels (shm, unix, tcp, nng+ipc, nng+tcp), libnng's pub0/sub0 and
 * iceoryx, with one-way latency (paced) and per-subscriber throughput;
 * shm's zero-copy fan-out of 1 MiB messages; request/reply round trips
 * with 1 and 8 clients beside libnng's req0/rep0. Every party is a forked
 * process reporting through a shared anonymous mapping; every wait is
 * bounded and every child is killed and reaped on every path. The fan-out
 * adapters (struct bench_psops) live beside each subject's 1:1 adapter:
 * subj_ipckit.c, subj_peer.c (libnng), subj_iceoryx.c. Uses only the
 * public header (and nng's, when present).
 */
#include "bench.h"

#include <errno.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#ifdef IPK_BENCH_HAVE_NNG
#include <nng/nng.h>
#include <nng/protocol/reqrep0/rep.h>
#include <nng/protocol/reqrep0/req.h>
#endif

#define PB_MSG 64 /* the small messages */
#define PB_ZC_SIZE (1u << 20) /* the zero-copy fan-out's messages */
#define PB_HDR 24 /* seq (8) + phase (4) + length (4) + stamp (8) */
#define PB_GOLDEN 0x9E3779B97F4A7C15ull
#define PB_WAIT_NS 5000000000ll /* a party waits this long for another */

/* Phases, carried in every message. */
enum { PB_PROBE = 1, PB_LAT, PB_TPUT, PB_ZC, PB_END };
/* A party's state in the shared mapping. */
enum { PB_STARTING, PB_READY, PB_DONE, PB_FAILED };

struct pb_party {
	_Atomic int state;
	_Atomic int probed; /* a probe arrived: the publisher reaches it */
	_Atomic uint64_t seen; /* latency messages handled */
	int code; /* the failure's code */
	uint64_t n, lost;
	double seconds;
	char err[200];
	struct bench_hist h;
};

/* What the parties of one row share: the coordinator maps it before it
 * forks them. */
struct pb_shared {
	char addr[512];
	_Atomic int go; /* req/rep: every client is connected */
	double rate;
	uint64_t sent;
	struct bench_hist wall; /* zero-copy publisher: wall time */
	double cpu_p50, wall_p50; /* its exact medians, ns */
	struct pb_party head; /* the publisher or the server; its h, with
				 zero copy, the CPU time per message */
	struct pb_party peer[BENCH_PAT_MAXPEERS];
};

/* --- messages: a header, then every byte derived from the sequence ----- */

static void
pb_fill(void *buf, size_t len, uint64_t seq, uint32_t phase, int64_t stamp)
{
	unsigned char *p = buf;
	uint32_t l32 = (uint32_t)len;
	uint64_t k = seq * PB_GOLDEN;
	size_t i = PB_HDR, w = 0;
	memcpy(p, &seq, 8);
	memcpy(p + 8, &phase, 4);
	memcpy(p + 12, &l32, 4);
	memcpy(p + 16, &stamp, 8);
	for (; i + 8 <= len; i += 8, w++) {
		uint64_t v = k + w;
		memcpy(p + i, &v, 8);
	}
	for (; i < len; i++)
		p[i] = (unsigned char)(k >> (i & 7));
}

/* 0 when buf[0..len) is what pb_fill wrote; the header's fields out. */
static int
pb_check(
    const void *buf, size_t len, uint64_t *seq, uint32_t *phase, int64_t *stamp)
{
	const unsigned char *p = buf;
	uint32_t l32;
	if (len < PB_HDR)
		return -1;
	memcpy(seq, p, 8);
	memcpy(phase, p + 8, 4);
	memcpy(&l32, p + 12, 4);
	memcpy(stamp, p + 16, 8);
	if (l32 != len)
		return -1;
	uint64_t k = *seq * PB_GOLDEN, bad = 0;
	size_t i = PB_HDR, w = 0;
	for (; i + 8 <= len; i += 8, w++) {
		uint64_t v;
		memcpy(&v, p + i, 8);
		bad |= v ^ (k + w);
	}
	for (; i < len; i++)
		bad |= p[i] ^ (unsigned char)(k >> (i & 7));
	return bad ? -1 : 0;
}

/* --- the parties' plumbing ---------------------------------------------- */

static void
pb_nap(int64_t ns)
{
	struct timespec ts = {ns / 1000000000ll, ns % 1000000000ll};
	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}

static void
pb_sleep_until(int64_t t)
{
	struct timespec ts = {t / 1000000000ll, t % 1000000000ll};
	while (
	    clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL) == EINTR)
		;
}

static void __attribute__((format(printf, 3, 4)))
pb_fail(struct pb_party *me, int code, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(me->err, sizeof(me->err), fmt, ap);
	va_end(ap);
	me->code = code;
	atomic_store_explicit(&me->state, PB_FAILED, memory_order_release);
}

static int
pb_state(struct pb_party *p)
{
	/* Acquire: pairs with the release store of the party's state, so
	 * its figures are visible once it says done. */
	return atomic_load_explicit(&p->state, memory_order_acquire);
}

/*
 * Fork a party; it dies with the coordinator. It runs on `cpu` (-1: where
 * the scheduler likes): the publisher or server on the first CPU of the
 * pair, every subscriber or client on the second, as the 1:1 rows pin
 * their two sides. So 1->1 and 1->N differ only in the number of
 * subscribers, and no subscriber runs on the publisher's CPU, evicting
 * its cache or taking its time.
 */
static pid_t
pb_fork(int cpu)
{
	pid_t parent = getpid();
	fflush(NULL);
	pid_t pid = fork();
	if (pid == 0) {
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		if (getppid() != parent)
			_exit(1);
		if (cpu >= 0) {
			cpu_set_t set;
			CPU_ZERO(&set);
			CPU_SET(cpu, &set);
			(void)sched_setaffinity(0, sizeof(set), &set);
		}
	}
	return pid;
}

static void __attribute__((noreturn)) pb_exit(int clean)
{
	if (clean)
		exit(0);
	_exit(0);
}

/* Let the parties leave on their own for up to grace_ms, then kill and
 * reap every one left. */
static void
pb_stop(pid_t *pids, int n, int grace_ms)
{
	int64_t end = bench_now() + (int64_t)grace_ms * 1000000;
	for (;;) {
		int left = 0;
		for (int i = 0; i < n; i++) {
			if (pids[i] > 0 &&
			    waitpid(pids[i], NULL, WNOHANG) == pids[i])
				pids[i] = 0;
			left += pids[i] > 0;
		}
		if (!left || bench_now() >= end)
			break;
		pb_nap(5000000);
	}
	for (int i = 0; i < n; i++)
		if (pids[i] > 0) {
			kill(pids[i], SIGKILL);
			while (waitpid(pids[i], NULL, 0) < 0 && errno == EINTR)
				;
			pids[i] = 0;
		}
}

/* Has party i (pid) ended without saying done or failed? */
static int
pb_vanished(pid_t *pid, struct pb_party *p)
{
	if (*pid > 0 && waitpid(*pid, NULL, WNOHANG) == *pid) {
		*pid = 0;
		if (pb_state(p) < PB_DONE) {
			snprintf(p->err, sizeof(p->err), "the process died");
			p->code = -ECHILD;
			atomic_store(&p->state, PB_FAILED);
		}
	}
	return pb_state(p) == PB_FAILED;
}

static struct pb_shared *
pb_map(void)
{
	struct pb_shared *sh = mmap(NULL, sizeof(*sh), PROT_READ | PROT_WRITE,
	    MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (sh == MAP_FAILED)
		return NULL;
	bench_hist_reset(&sh->head.h);
	bench_hist_reset(&sh->wall);
	for (int i = 0; i < BENCH_PAT_MAXPEERS; i++)
		bench_hist_reset(&sh->peer[i].h);
	return sh;
}

/* Latency and throughput phases of a row, scaled by --duration. */
static int64_t
pb_lat_ns(const struct bench_cfg *cfg)
{
	double s = 1.5 * cfg->duration_s;
	return (int64_t)((s < 0.2 ? 0.2 : s > 30 ? 30 : s) * 1e9);
}

static int64_t
pb_tput_ns(const struct bench_cfg *cfg)
{
	double s = cfg->duration_s;
	return (int64_t)((s < 0.05 ? 0.05 : s > 30 ? 30 : s) * 1e9);
}

static void __attribute__((format(printf, 3, 4)))
pb_row_set(struct bench_prow *r, enum bench_status st, const char *fmt, ...)
{
	va_list ap;
	r->status = st;
	va_start(ap, fmt);
	vsnprintf(r->reason, sizeof(r->reason), fmt, ap);
	va_end(ap);
}

/* --- pub/sub: the publisher --------------------------------------------- */

/* This thread's CPU time, ns. */
static int64_t
pb_cpu_now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
	return (int64_t)ts.tv_sec * 1000000000ll + ts.tv_nsec;
}

struct pb_ctx {
	const struct bench_cfg *cfg;
	struct bench_ps *ps;
	struct pb_shared *sh;
};

/* Wait until every subscriber has dialed (probe 0) or has had a probe
 * (probe 1: probes are sent meanwhile, every 2 ms); bounded. */
static int
pb_pub_wait_all(struct pb_ctx *x, int probe, uint64_t *pseq)
{
	struct bench_ps *ps = x->ps;
	unsigned char m[PB_MSG];
	int64_t end = bench_now() + PB_WAIT_NS, next = 0;
	for (;;) {
		int all = 1;
		for (int i = 0; i < ps->subs; i++) {
			struct pb_party *s = &x->sh->peer[i];
			if (pb_state(s) == PB_FAILED)
				return -ECANCELED; /* it says why */
			all &= probe ? atomic_load(&s->probed)
				     : pb_state(s) >= PB_READY;
		}
		if (all)
			return 0;
		if (bench_now() > end)
			return -ETIMEDOUT;
		if (probe && bench_now() >= next) {
			pb_fill(m, sizeof(m), (*pseq)++, PB_PROBE, 0);
			int rv = ps->ops->pub_send(ps, m, sizeof(m), 1000);
			if (rv < 0 && rv != -ETIMEDOUT && rv != -EAGAIN)
				return rv;
			next = bench_now() + 2000000;
		}
		if (ps->ops->pub_idle)
			ps->ops->pub_idle(ps);
		pb_nap(200000);
	}
}

/* Wait until every subscriber has handled `want` latency messages. */
static int
pb_pub_wait_seen(struct pb_ctx *x, uint64_t want)
{
	struct bench_ps *ps = x->ps;
	int64_t end = 0;
	for (;;) {
		int all = 1;
		for (int i = 0; i < ps->subs && all; i++)
			/* Acquire: pairs with the subscriber's release. */
			all = atomic_load_explicit(&x->sh->peer[i].seen,
				  memory_order_acquire) >= want;
		if (all)
			return 0;
		int64_t now = bench_now();
		if (!end)
			end = now + PB_WAIT_NS / 2;
		else if (now > end)
			return -ETIMEDOUT;
		if (ps->ops->pub_idle)
			ps->ops->pub_idle(ps);
		pb_nap(20000);
	}
}

/*
 * Latency: one message at a time, sent only once every subscriber has the
 * one before and the next period has begun, so no message waits behind
 * another; the stamp is taken just before the send.
 */
static int
pb_pub_latency(struct pb_ctx *x)
{
	struct bench_ps *ps = x->ps;
	unsigned char m[PB_MSG];
	int64_t period = ps->subs > 4 ? 1000000 : 500000;
	int64_t now = bench_now(), end = now + pb_lat_ns(x->cfg), due = now;
	uint64_t seq = 0;
	int rv;
	for (; now < end; seq++) {
		if ((rv = pb_pub_wait_seen(x, seq)) < 0)
			return rv;
		due += period;
		if (due > bench_now())
			pb_sleep_until(due);
		pb_fill(m, sizeof(m), seq, PB_LAT, bench_now());
		if ((rv = ps->ops->pub_send(ps, m, sizeof(m), BENCH_OP_MS)) < 0)
			return rv;
		now = bench_now();
	}
	return pb_pub_wait_seen(x, seq);
}

static int
pb_cmp_i64(const void *a, const void *b)
{
	int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
	return x < y ? -1 : x > y;
}

/* The exact median of v[0..n) (sorted here), or 0. */
static double
pb_median(int64_t *v, size_t n)
{
	if (!v || !n)
		return 0;
	qsort(v, n, sizeof(*v), pb_cmp_i64);
	return n % 2 ? (double)v[n / 2]
		     : ((double)v[n / 2 - 1] + (double)v[n / 2]) / 2;
}

/* Throughput: small messages as fast as the slowest subscriber takes them
 * (block), or 1 MiB zero-copy ones filled in place, whose costs are kept
 * (up to PB_ZC_KEEP) for exact medians: the goal compares two of them, so
 * they must not be rounded to a histogram bucket. */
#define PB_ZC_KEEP 65536

static int
pb_pub_stream(struct pb_ctx *x)
{
	struct bench_ps *ps = x->ps;
	struct pb_party *me = &x->sh->head;
	unsigned char m[PB_MSG];
	int64_t t0 = bench_now(), stop = t0 + pb_tput_ns(x->cfg), t1 = t0;
	int64_t *cpu = NULL, *wall = NULL;
	size_t kept = 0;
	uint64_t seq = 0;
	int rv = 0;
	if (ps->zero_copy) {
		cpu = malloc(PB_ZC_KEEP * sizeof(*cpu));
		wall = malloc(PB_ZC_KEEP * sizeof(*wall));
	}
	while (rv == 0 && t1 < stop) {
		for (int k = 0; k < (ps->zero_copy ? 1 : 64) && rv == 0; k++) {
			if (!ps->zero_copy) {
				pb_fill(m, sizeof(m), seq, PB_TPUT, 0);
				rv = ps->ops->pub_send(
				    ps, m, sizeof(m), BENCH_OP_MS);
			} else {
				void *p;
				rv = ps->ops->pub_loan(
				    ps, ps->size, &p, BENCH_OP_MS);
				if (rv < 0)
					break;
				/* The cost: this thread's CPU time for the
				 * fill and the publish (a copy per subscriber
				 * would be here), not time the scheduler gave
				 * a subscriber; the wall time beside it. */
				int64_t c0 = pb_cpu_now(), a = bench_now();
				pb_fill(p, ps->size, seq, PB_ZC, 0);
				rv = ps->ops->pub_commit(ps, ps->size);
				int64_t b = bench_now(), c1 = pb_cpu_now();
				bench_hist_add(&x->sh->wall, (uint64_t)(b - a));
				if (c1 > c0)
					bench_hist_add(
					    &me->h, (uint64_t)(c1 - c0));
				if (cpu && wall && kept < PB_ZC_KEEP) {
					cpu[kept] = c1 - c0;
					wall[kept++] = b - a;
				}
			}
			seq += rv == 0;
		}
		t1 = bench_now();
	}
	x->sh->cpu_p50 = pb_median(cpu, kept);
	x->sh->wall_p50 = pb_median(wall, kept);
	free(cpu);
	free(wall);
	x->sh->sent = seq;
	x->sh->rate = t1 > t0 ? (double)seq / ((double)(t1 - t0) / 1e9) : 0;
	return rv;
}

/* The end: repeated (a lossy implementation may drop one) until every
 * subscriber has reported. */
static int
pb_pub_end(struct pb_ctx *x, uint64_t seq)
{
	struct bench_ps *ps = x->ps;
	unsigned char m[PB_MSG];
	int64_t end = bench_now() + PB_WAIT_NS;
	if (ps->ops->pub_flush)
		(void)ps->ops->pub_flush(ps, BENCH_OP_MS);
	for (;;) {
		int all = 1;
		for (int i = 0; i < ps->subs; i++)
			all &= pb_state(&x->sh->peer[i]) >= PB_DONE;
		if (all)
			return 0;
		if (bench_now() > end)
			return -ETIMEDOUT;
		pb_fill(m, sizeof(m), seq, PB_END, 0);
		int rv = ps->ops->pub_send(ps, m, sizeof(m), 200);
		if (rv < 0 && rv != -ETIMEDOUT && rv != -EAGAIN)
			return rv;
		if (ps->ops->pub_flush)
			(void)ps->ops->pub_flush(ps, 20);
		for (int k = 0; k < 10; k++) {
			if (ps->ops->pub_idle)
				ps->ops->pub_idle(ps);
			pb_nap(2000000);
		}
	}
}

static void
pb_pub_main(struct pb_ctx *x)
{
	struct bench_ps *ps = x->ps;
	struct pb_party *me = &x->sh->head;
	uint64_t probes = 0;
	const char *what = "open";
	int rv = ps->ops->pub_open(ps, x->sh->addr, sizeof(x->sh->addr));
	if (rv < 0) {
		pb_fail(me, rv, "%s", ps->err);
		return;
	}
	atomic_store_explicit(&me->state, PB_READY, memory_order_release);
	what = "waiting for the subscribers";
	if ((rv = pb_pub_wait_all(x, 0, &probes)) < 0)
		goto fail;
	what = "probing until every subscriber is reached";
	if ((rv = pb_pub_wait_all(x, 1, &probes)) < 0)
		goto fail;
	if (!ps->zero_copy) {
		what = "latency";
		if ((rv = pb_pub_latency(x)) < 0)
			goto fail;
	}
	what = "streaming";
	if ((rv = pb_pub_stream(x)) < 0)
		goto fail;
	what = "the end";
	if ((rv = pb_pub_end(x, x->sh->sent)) < 0)
		goto fail;
	atomic_store_explicit(&me->state, PB_DONE, memory_order_release);
	ps->ops->close(ps);
	return;
fail:
	if (rv == -ECANCELED)
		pb_fail(me, rv, "a subscriber failed");
	else if (rv == -ETIMEDOUT && !ps->err[0])
		pb_fail(me, rv, "%s: a subscriber did not answer within %lld s",
		    what, PB_WAIT_NS / 1000000000ll);
	else
		pb_fail(me, rv, "%s: %s", what,
		    ps->err[0] ? ps->err : strerror(-rv));
	ps->ops->close(ps);
}

/* --- pub/sub: a subscriber ---------------------------------------------- */

static void
pb_sub_main(struct pb_ctx *x, int idx)
{
	struct bench_ps *ps = x->ps;
	struct pb_party *me = &x->sh->peer[idx];
	unsigned char m[PB_MSG];
	int64_t first = 0, last = 0, deadline = 0;
	uint64_t next = 0;
	int rv = ps->ops->sub_open(ps, x->sh->addr);
	if (rv < 0) {
		pb_fail(me, rv, "%s", ps->err);
		return;
	}
	atomic_store_explicit(&me->state, PB_READY, memory_order_release);
	for (;;) {
		const void *p = m;
		size_t len = 0;
		if (ps->zero_copy)
			rv = ps->ops->sub_peek(ps, &p, &len, 100);
		else
			rv = ps->ops->sub_recv(ps, m, sizeof(m), &len, 100);
		int64_t now = bench_now();
		if (rv == -ETIMEDOUT || rv == -EAGAIN) {
			/* Nothing for a long time: the publisher is gone or
			 * stuck; the coordinator says which. */
			if (!deadline) {
				deadline = now + 2 * PB_WAIT_NS;
			} else if (now > deadline) {
				pb_fail(me, -ETIMEDOUT,
				    "nothing arrived for %lld s",
				    2 * PB_WAIT_NS / 1000000000ll);
				ps->ops->close(ps);
				return;
			}
			continue;
		}
		deadline = 0;
		if (rv < 0)
			break;
		uint64_t seq;
		uint32_t phase;
		int64_t stamp;
		int bad = pb_check(p, len, &seq, &phase, &stamp);
		if (ps->zero_copy && (rv = ps->ops->sub_release(ps)) < 0)
			break;
		if (bad) {
			pb_fail(me, -EBADMSG,
			    "a message of %zu bytes arrived corrupted", len);
			ps->ops->close(ps);
			return;
		}
		if (phase == PB_PROBE) {
			atomic_store(&me->probed, 1);
		} else if (phase == PB_LAT) {
			if (now > stamp)
				bench_hist_add(&me->h, (uint64_t)(now - stamp));
			/* Release: pairs with the publisher's acquire. */
			atomic_store_explicit(
			    &me->seen, seq + 1, memory_order_release);
		} else if (phase == PB_TPUT || phase == PB_ZC) {
			if (!me->n && !me->lost)
				first = now;
			if (seq < next) {
				pb_fail(me, -EBADMSG,
				    "message %llu came after %llu",
				    (unsigned long long)seq,
				    (unsigned long long)next);
				ps->ops->close(ps);
				return;
			}
			me->lost += seq - next;
			me->n++;
			next = seq + 1;
			last = now;
		} else if (phase == PB_END) {
			if (!me->n || seq > next)
				me->lost += seq - next;
			last = now;
			break;
		}
	}
	if (rv < 0) {
		pb_fail(me, rv, "%s", ps->err[0] ? ps->err : strerror(-rv));
		ps->ops->close(ps);
		return;
	}
	if (ps->ops->sub_gaps) {
		uint64_t g = ps->ops->sub_gaps(ps);
		if (g > me->lost)
			me->lost = g;
	}
	me->seconds = last > first ? (double)(last - first) / 1e9 : 0;
	atomic_store_explicit(&me->state, PB_DONE, memory_order_release);
	ps->ops->close(ps);
}

/* --- pub/sub: the coordinator ------------------------------------------- */

static void
pb_pubsub_collect(
    struct bench_prow *row, const struct bench_ps *ps, struct pb_shared *sh)
{
	struct bench_hist *all = malloc(sizeof(*all));
	if (!all) {
		pb_row_set(row, BENCH_FAILED, "out of memory");
		return;
	}
	bench_hist_reset(all);
	row->sub_rate = -1;
	for (int i = 0; i < ps->subs; i++) {
		struct pb_party *s = &sh->peer[i];
		double r = s->seconds > 0 ? (double)s->n / s->seconds : 0;
		bench_hist_merge(all, &s->h);
		if (row->sub_rate < 0 || r < row->sub_rate)
			row->sub_rate = r;
		if (s->lost > row->lost)
			row->lost = s->lost;
	}
	if (all->count) {
		row->p50 = bench_hist_quantile(all, 0.5);
		row->p99 = bench_hist_quantile(all, 0.99);
		row->max = all->max;
		row->samples = all->count;
	}
	row->pub_rate = sh->rate;
	row->messages = sh->sent;
	if (ps->zero_copy && sh->head.h.count)
		row->pub_ns = sh->cpu_p50 > 0
		    ? sh->cpu_p50
		    : (double)bench_hist_quantile(&sh->head.h, 0.5);
	if (ps->zero_copy && sh->wall.count)
		row->pub_wall_ns = sh->wall_p50 > 0
		    ? sh->wall_p50
		    : (double)bench_hist_quantile(&sh->wall, 0.5);
	row->status = BENCH_OK;
	free(all);
}

void
bench_pubsub_row(const struct bench_cfg *cfg, const struct bench_psops *ops,
    const char *arg, struct bench_prow *row)
{
	struct bench_ps ps = {.ops = ops,
	    .arg = arg,
	    .subs = row->peers,
	    .size = row->size,
	    .zero_copy = row->zero_copy};
	pid_t pids[1 + BENCH_PAT_MAXPEERS] = {0};
	struct pb_shared *sh = NULL;
	struct pb_ctx x = {cfg, &ps, NULL};
	int64_t end;

	if (ps.subs < 1 || ps.subs > BENCH_PAT_MAXPEERS) {
		pb_row_set(row, BENCH_FAILED, "bad number of subscribers");
		return;
	}
	if (!(x.sh = sh = pb_map())) {
		pb_row_set(row, BENCH_FAILED, "mmap: %s", strerror(errno));
		return;
	}
	if (ops->prepare && ops->prepare(&ps) < 0) {
		pb_row_set(row, BENCH_FAILED, "%s", ps.err);
		goto out;
	}
	if ((pids[0] = pb_fork(cfg->cpu_a)) == 0) {
		pb_pub_main(&x);
		pb_exit(ops->exit_clean);
	}
	if (pids[0] < 0) {
		pb_row_set(row, BENCH_FAILED, "fork: %s", strerror(errno));
		goto out;
	}
	/* The publisher binds first; then the subscribers dial it. */
	end = bench_now() + 2 * PB_WAIT_NS;
	while (pb_state(&sh->head) == PB_STARTING && bench_now() < end &&
	    !pb_vanished(&pids[0], &sh->head))
		pb_nap(1000000);
	if (pb_state(&sh->head) != PB_READY) {
		int st = pb_state(&sh->head);
		pb_row_set(row,
		    st == PB_FAILED && sh->head.code == -ENOTSUP ? BENCH_NA
								 : BENCH_FAILED,
		    "publisher: %s",
		    st == PB_FAILED ? sh->head.err : "did not start in time");
		goto out;
	}
	for (int i = 0; i < ps.subs; i++) {
		if ((pids[1 + i] = pb_fork(cfg->cpu_b)) == 0) {
			pb_sub_main(&x, i);
			pb_exit(ops->exit_clean);
		}
		if (pids[1 + i] < 0) {
			pids[1 + i] = 0;
			pb_row_set(
			    row, BENCH_FAILED, "fork: %s", strerror(errno));
			goto out;
		}
	}
	/* Bounded: the phases, and the parties' own bounded waits. */
	end = bench_now() + pb_lat_ns(cfg) + pb_tput_ns(cfg) + 6 * PB_WAIT_NS;
	for (;;) {
		int done = pb_state(&sh->head) == PB_DONE, failed = -1;
		for (int i = 0; i < ps.subs; i++) {
			if (pb_vanished(&pids[1 + i], &sh->peer[i]) &&
			    failed < 0)
				failed = i;
			done &= pb_state(&sh->peer[i]) == PB_DONE;
		}
		if (failed >= 0) {
			pb_row_set(row, BENCH_FAILED, "subscriber %d: %s",
			    failed + 1, sh->peer[failed].err);
			break;
		}
		if (pb_vanished(&pids[0], &sh->head) || done ||
		    bench_now() > end)
			break;
		pb_nap(2000000);
	}
	if (row->status == BENCH_FAILED)
		goto out;
	if (pb_state(&sh->head) == PB_FAILED)
		pb_row_set(row, BENCH_FAILED, "publisher: %s", sh->head.err);
	else if (pb_state(&sh->head) != PB_DONE)
		pb_row_set(row, BENCH_FAILED,
		    "the row did not finish in time; its processes were "
		    "killed");
	else
		pb_pubsub_collect(row, &ps, sh);
out:
	pb_stop(pids, 1 + ps.subs, 2000);
	if (ops->finish)
		ops->finish(&ps);
	/* A libnng publisher's socket path, whatever became of it. */
	if (!strncmp(sh->addr, "ipc:///tmp/ipkb-nngps-", 22))
		unlink(sh->addr + 6);
	munmap(sh, sizeof(*sh));
}

/* --- request/reply ------------------------------------------------------ */

struct pb_rr {
	const struct bench_cfg *cfg;
	struct pb_shared *sh;
	const char *scheme; /* ipckit scheme, or NULL for libnng */
	const char *nng; /* libnng: "ipc" or "tcp" */
	int clients;
};

static int
pb_rr_clients_done(struct pb_rr *x)
{
	for (int i = 0; i < x->clients; i++)
		if (pb_state(&x->sh->peer[i]) < PB_DONE)
			return 0;
	return 1;
}

/* The echo server: answers until every client has reported (bounded). */
static void
pb_rr_server(struct pb_rr *x)
{
	struct pb_party *me = &x->sh->head;
	unsigned char buf[PB_MSG];
	int64_t end = bench_now() + pb_tput_ns(x->cfg) + 2 * pb_lat_ns(x->cfg) +
	    6 * PB_WAIT_NS;
	int rv;
	if (x->scheme) {
		struct ipk_chan *c;
		char url[512];
		if ((rv = bench_pattern_url(
			 x->scheme, "pattern=rep", url, sizeof(url))) < 0 ||
		    (rv = ipk_bind(url, NULL, &c)) < 0) {
			pb_fail(me, rv, "ipk_bind: %s", ipk_strerror(rv));
			return;
		}
		snprintf(x->sh->addr, sizeof(x->sh->addr), "%s", ipk_url(c));
		char *q = strchr(x->sh->addr, '?');
		if (q)
			*q = '\0';
		size_t n = strlen(x->sh->addr);
		snprintf(
		    x->sh->addr + n, sizeof(x->sh->addr) - n, "?pattern=req");
		atomic_store_explicit(
		    &me->state, PB_READY, memory_order_release);
		while (!pb_rr_clients_done(x) && bench_now() < end) {
			size_t len;
			if (ipk_recv(c, buf, sizeof(buf), &len, NULL, 100) == 0)
				(void)ipk_send(c, buf, len, 0, 1000);
		}
		ipk_close(c);
	} else {
#ifdef IPK_BENCH_HAVE_NNG
		nng_socket s;
		nng_listener l;
		int port = 0;
		if (!strcmp(x->nng, "ipc"))
			snprintf(x->sh->addr, sizeof(x->sh->addr),
			    "ipc:///tmp/ipkb-nngrr-%ld", (long)getpid());
		else
			snprintf(x->sh->addr, sizeof(x->sh->addr),
			    "tcp://127.0.0.1:0");
		if ((rv = nng_rep0_open(&s)) != 0 ||
		    (rv = nng_listener_create(&l, s, x->sh->addr)) != 0 ||
		    (rv = nng_listener_start(l, 0)) != 0) {
			pb_fail(
			    me, -EIO, "%s: %s", x->sh->addr, nng_strerror(rv));
			return;
		}
		if (strcmp(x->nng, "ipc") &&
		    nng_listener_get_int(l, NNG_OPT_TCP_BOUND_PORT, &port) == 0)
			snprintf(x->sh->addr, sizeof(x->sh->addr),
			    "tcp://127.0.0.1:%d", port);
		nng_socket_set_ms(s, NNG_OPT_RECVTIMEO, 100);
		atomic_store_explicit(
		    &me->state, PB_READY, memory_order_release);
		while (!pb_rr_clients_done(x) && bench_now() < end) {
			nng_msg *m;
			if (nng_recvmsg(s, &m, 0) == 0 &&
			    nng_sendmsg(s, m, 0) != 0)
				nng_msg_free(m);
		}
		nng_close(s);
#endif
	}
	atomic_store_explicit(&me->state, PB_DONE, memory_order_release);
}

/* One client: round trips until its share of --rounds or the time cap. */
static void
pb_rr_client(struct pb_rr *x, int idx)
{
	struct pb_party *me = &x->sh->peer[idx];
	unsigned char q[PB_MSG], a[PB_MSG];
	long rounds = x->cfg->rounds / x->clients;
	int64_t cap = pb_lat_ns(x->cfg);
	struct ipk_chan *c = NULL;
	int rv = 0;
#ifdef IPK_BENCH_HAVE_NNG
	nng_socket s;
	int nopen = 0;
#endif
	if (rounds < 200)
		rounds = 200;
	if (x->scheme) {
		struct ipk_opts o = {.timeout_ms = BENCH_OP_MS};
		if ((rv = ipk_dial(x->sh->addr, &o, &c)) < 0) {
			pb_fail(
			    me, rv, "%s: %s", x->sh->addr, ipk_strerror(rv));
			return;
		}
	} else {
#ifdef IPK_BENCH_HAVE_NNG
		if ((rv = nng_req0_open(&s)) != 0 ||
		    (nopen = 1, rv = nng_dial(s, x->sh->addr, NULL, 0)) != 0) {
			pb_fail(
			    me, -EIO, "%s: %s", x->sh->addr, nng_strerror(rv));
			if (nopen)
				nng_close(s);
			return;
		}
		nng_socket_set_ms(s, NNG_OPT_RECVTIMEO, BENCH_OP_MS);
#endif
	}
	atomic_store_explicit(&me->state, PB_READY, memory_order_release);
	/* Every client starts together. */
	int64_t end = bench_now() + PB_WAIT_NS;
	while (!atomic_load_explicit(&x->sh->go, memory_order_acquire) &&
	    bench_now() < end)
		pb_nap(200000);
	int64_t t0 = bench_now(), mstart = 0;
	long warm = rounds / 10;
	for (long i = 0; rv == 0 && i < warm + rounds; i++) {
		int64_t now = bench_now();
		if (i < warm && now - t0 > cap / 4)
			i = warm;
		if (i == warm && !mstart)
			mstart = now;
		if (i > warm + 100 && now - mstart > cap)
			break;
		uint64_t seq;
		uint32_t phase;
		int64_t stamp;
		size_t len = sizeof(a);
		pb_fill(q, sizeof(q), (uint64_t)i, PB_LAT, now);
		if (x->scheme) {
			if ((rv = ipk_send(c, q, sizeof(q), 0, BENCH_OP_MS)) ==
			    0)
				rv = ipk_recv(
				    c, a, sizeof(a), &len, NULL, BENCH_OP_MS);
			if (rv < 0) {
				pb_fail(me, rv, "round trip %ld: %s", i,
				    ipk_strerror(rv));
				break;
			}
		} else {
#ifdef IPK_BENCH_HAVE_NNG
			if ((rv = nng_send(s, q, sizeof(q), 0)) == 0)
				rv = nng_recv(s, a, &len, 0);
			if (rv) {
				pb_fail(me, -EIO, "round trip %ld: %s", i,
				    nng_strerror(rv));
				break;
			}
#endif
		}
		if (pb_check(a, len, &seq, &phase, &stamp) ||
		    seq != (uint64_t)i) {
			pb_fail(
			    me, -EBADMSG, "round trip %ld came back wrong", i);
			rv = -EBADMSG;
			break;
		}
		if (i >= warm) {
			bench_hist_add(&me->h, (uint64_t)(bench_now() - now));
			me->n++;
		}
	}
	if (rv == 0) {
		me->seconds = (double)(bench_now() - mstart) / 1e9;
		atomic_store_explicit(
		    &me->state, PB_DONE, memory_order_release);
	}
	if (c)
		ipk_close(c);
#ifdef IPK_BENCH_HAVE_NNG
	if (nopen)
		nng_close(s);
#endif
}

static void
pb_reqrep_row(const struct bench_cfg *cfg, const char *scheme, const char *nng,
    int clients, struct bench_prow *row)
{
	pid_t pids[1 + BENCH_PAT_MAXPEERS] = {0};
	struct pb_rr x = {cfg, NULL, scheme, nng, clients};
	int64_t end;
	if (!(x.sh = pb_map())) {
		pb_row_set(row, BENCH_FAILED, "mmap: %s", strerror(errno));
		return;
	}
	if ((pids[0] = pb_fork(cfg->cpu_a)) == 0) {
		pb_rr_server(&x);
		pb_exit(0);
	}
	end = bench_now() + 2 * PB_WAIT_NS;
	while (pids[0] > 0 && pb_state(&x.sh->head) == PB_STARTING &&
	    bench_now() < end && !pb_vanished(&pids[0], &x.sh->head))
		pb_nap(1000000);
	if (pb_state(&x.sh->head) != PB_READY) {
		int st = pb_state(&x.sh->head);
		pb_row_set(row,
		    st == PB_FAILED && x.sh->head.code == -ENOTSUP
			? BENCH_NA
			: BENCH_FAILED,
		    "server: %s",
		    st == PB_FAILED ? x.sh->head.err : "did not start in time");
		goto out;
	}
	for (int i = 0; i < clients; i++)
		if ((pids[1 + i] = pb_fork(cfg->cpu_b)) == 0) {
			pb_rr_client(&x, i);
			pb_exit(0);
		}
	end = bench_now() + PB_WAIT_NS;
	for (int ready = 0; !ready && bench_now() < end;) {
		ready = 1;
		for (int i = 0; i < clients; i++)
			ready &= pb_state(&x.sh->peer[i]) >= PB_READY;
		pb_nap(1000000);
	}
	atomic_store_explicit(&x.sh->go, 1, memory_order_release);
	end = bench_now() + 2 * pb_lat_ns(cfg) + 3 * PB_WAIT_NS;
	for (;;) {
		int done = 1, failed = -1;
		for (int i = 0; i < clients; i++) {
			if (pb_vanished(&pids[1 + i], &x.sh->peer[i]) &&
			    failed < 0)
				failed = i;
			done &= pb_state(&x.sh->peer[i]) == PB_DONE;
		}
		if (failed >= 0) {
			pb_row_set(row, BENCH_FAILED, "client %d: %s",
			    failed + 1, x.sh->peer[failed].err);
			goto out;
		}
		if (done)
			break;
		if (bench_now() > end) {
			pb_row_set(row, BENCH_FAILED,
			    "the row did not finish in time; its processes "
			    "were killed");
			goto out;
		}
		pb_nap(2000000);
	}
	struct bench_hist *all = malloc(sizeof(*all));
	if (!all) {
		pb_row_set(row, BENCH_FAILED, "out of memory");
		goto out;
	}
	bench_hist_reset(all);
	for (int i = 0; i < clients; i++) {
		struct pb_party *p = &x.sh->peer[i];
		bench_hist_merge(all, &p->h);
		row->pub_rate += p->seconds > 0 ? (double)p->n / p->seconds : 0;
	}
	row->p50 = bench_hist_quantile(all, 0.5);
	row->p99 = bench_hist_quantile(all, 0.99);
	row->max = all->max;
	row->samples = all->count;
	row->status = BENCH_OK;
	free(all);
out:
	pb_stop(pids, 1 + clients, 2000);
	if (!strncmp(x.sh->addr, "ipc:///tmp/ipkb-nngrr-", 22))
		unlink(x.sh->addr + 6);
	munmap(x.sh, sizeof(*x.sh));
}

/* --- the rows ----------------------------------------------------------- */

static struct bench_prow *
pb_row(struct bench_prow *rows, int *n, int cap, const char *pattern,
    const char *impl, enum bench_kind kind, int peers, int zc)
{
	if (*n >= cap)
		return NULL;
	struct bench_prow *r = &rows[(*n)++];
	memset(r, 0, sizeof(*r));
	snprintf(r->pattern, sizeof(r->pattern), "%s", pattern);
	snprintf(r->impl, sizeof(r->impl), "%s", impl);
	r->kind = kind;
	r->peers = peers;
	r->zero_copy = zc;
	r->size = zc ? PB_ZC_SIZE : PB_MSG;
	r->status = BENCH_OK;
	if (!strcmp(pattern, "pubsub"))
		snprintf(r->name, sizeof(r->name), "pubsub/%s%s 1->%d", impl,
		    zc ? " zc" : "", peers);
	else
		snprintf(r->name, sizeof(r->name), "reqrep/%s %d", impl, peers);
	return r;
}

/* A row that cannot run here, said in one line. */
static void
pb_row_missing(struct bench_prow *rows, int *n, int cap, const char *pattern,
    const char *impl, const char *why)
{
	struct bench_prow *r =
	    pb_row(rows, n, cap, pattern, impl, BENCH_PEER, 0, 0);
	if (!r)
		return;
	snprintf(r->name, sizeof(r->name), "%s/%s", pattern, impl);
	pb_row_set(r, BENCH_NOT_BUILT, "%s", why);
}

int
bench_pattern_item(const char *item, size_t len)
{
	return len >= 6 &&
	    (!strncmp(item, "pubsub", 6) || !strncmp(item, "reqrep", 6)) &&
	    (len == 6 || item[6] == '/');
}

/* Is pattern row `name` chosen by --only: an item that is its name or a
 * prefix of it ending before ' ' or '/'? Every row when no item is about
 * the pattern rows. */
static int
pb_selected(const char *only, const char *name)
{
	int any = 0;
	for (const char *p = only; p && *p;) {
		size_t len = strcspn(p, ",");
		if (bench_pattern_item(p, len)) {
			any = 1;
			if (!strncmp(name, p, len) &&
			    (!name[len] || name[len] == ' ' ||
				name[len] == '/'))
				return 1;
		}
		p += len + (p[len] == ',');
	}
	return !any;
}

int
bench_patterns(const struct bench_cfg *cfg, struct bench_prow *rows, int cap)
{
	static const char *const pubsub[] = {
	    "shm", "unix", "tcp", "nng+ipc", "nng+tcp"};
	static const char *const reqrep[] = {
	    "unix", "tcp", "nng+ipc", "nng+tcp"};
	static const int fan[] = {1, 4, 16};
	const struct bench_psops *iox = bench_psops_iceoryx();
	const struct bench_psops *nng = bench_psops_nng();
	int n = 0;

	/* The plan first, so that progress can count. */
	for (size_t i = 0; i < sizeof(pubsub) / sizeof(pubsub[0]); i++)
		for (size_t k = 0; k < sizeof(fan) / sizeof(fan[0]); k++)
			pb_row(rows, &n, cap, "pubsub", pubsub[i], BENCH_IPCKIT,
			    fan[k], 0);
	/* The subscriber spinning instead of the default adaptive wait
	 * (spin 20 us, then sleep): the hand-off without a wake-up. */
	pb_row(rows, &n, cap, "pubsub", "shm/spin", BENCH_IPCKIT, 1, 0);
	pb_row(rows, &n, cap, "pubsub", "shm", BENCH_IPCKIT, 1, 1);
	pb_row(rows, &n, cap, "pubsub", "shm", BENCH_IPCKIT, 4, 1);
#ifdef IPK_BENCH_HAVE_NNG
	for (size_t k = 0; k < sizeof(fan) / sizeof(fan[0]); k++)
		pb_row(
		    rows, &n, cap, "pubsub", "nng-ipc", BENCH_PEER, fan[k], 0);
	for (size_t k = 0; k < sizeof(fan) / sizeof(fan[0]); k++)
		pb_row(
		    rows, &n, cap, "pubsub", "nng-tcp", BENCH_PEER, fan[k], 0);
#else
	pb_row_missing(rows, &n, cap, "pubsub", "nng",
	    "not built: install libnng-dev and rebuild");
#endif
	if (iox)
		for (size_t k = 0; k < sizeof(fan) / sizeof(fan[0]); k++)
			pb_row(rows, &n, cap, "pubsub", "iceoryx", BENCH_PEER,
			    fan[k], 0);
	else
		pb_row_missing(rows, &n, cap, "pubsub", "iceoryx",
		    "not built: install libiceoryx-binding-c-dev and "
		    "iceoryx (iox-roudi), then rebuild");
	for (size_t i = 0; i < sizeof(reqrep) / sizeof(reqrep[0]); i++) {
		pb_row(rows, &n, cap, "reqrep", reqrep[i], BENCH_IPCKIT, 1, 0);
		pb_row(rows, &n, cap, "reqrep", reqrep[i], BENCH_IPCKIT, 8, 0);
	}
#ifdef IPK_BENCH_HAVE_NNG
	pb_row(rows, &n, cap, "reqrep", "nng-ipc", BENCH_PEER, 1, 0);
	pb_row(rows, &n, cap, "reqrep", "nng-ipc", BENCH_PEER, 8, 0);
	pb_row(rows, &n, cap, "reqrep", "nng-tcp", BENCH_PEER, 1, 0);
	pb_row(rows, &n, cap, "reqrep", "nng-tcp", BENCH_PEER, 8, 0);
#else
	pb_row_missing(rows, &n, cap, "reqrep", "nng",
	    "not built: install libnng-dev and rebuild");
#endif

	int kept = 0;
	for (int i = 0; i < n; i++)
		if (pb_selected(cfg->only, rows[i].name))
			rows[kept++] = rows[i];
	n = kept;
	for (int i = 0; i < n; i++) {
		struct bench_prow *r = &rows[i];
		if (r->status != BENCH_OK)
			continue;
		bench_progress(cfg, i, n, r->name, "");
		if (!strcmp(r->pattern, "reqrep")) {
			int lib = !strncmp(r->impl, "nng-", 4);
			pb_reqrep_row(cfg, lib ? NULL : r->impl,
			    lib ? r->impl + 4 : NULL, r->peers, r);
		} else if (!strcmp(r->impl, "iceoryx")) {
			bench_pubsub_row(cfg, iox, "iceoryx", r);
		} else if (!strncmp(r->impl, "nng-", 4)) {
			bench_pubsub_row(cfg, nng, r->impl + 4, r);
		} else {
			bench_pubsub_row(cfg, bench_psops_ipckit(), r->impl, r);
		}
	}
	bench_progress(cfg, n, n, "done", "");
	return n;
}
