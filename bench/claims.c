/* SPDX-License-Identifier: MIT */
/*
 * claims.c - the seed article's claims (pipes are slow, message queues
 * copy, shared memory is fastest but needs a semaphore, signals carry no
 * data, sockets cross hosts, and its properties matrix) checked in words
 * against one run's numbers. Two figures within BENCH_TIE of each other
 * are a tie: on a VM every sleeping wake-up costs about the same, and the
 * claims must say so rather than pick a winner.
 */
#include "bench.h"

#include <stdarg.h>
#include <string.h>

/* Append to the evidence sentence; it is cut, never overrun. */
static void __attribute__((format(printf, 2, 3)))
claim_say(struct bench_claim *c, const char *fmt, ...)
{
	size_t len = strlen(c->evidence);
	va_list ap;
	if (len + 1 >= sizeof(c->evidence))
		return;
	va_start(ap, fmt);
	vsnprintf(c->evidence + len, sizeof(c->evidence) - len, fmt, ap);
	va_end(ap);
}

/* "a is faster than b": yes, no, or tie within BENCH_TIE. */
static const char *
claim_faster(double a_ns, double b_ns)
{
	if (a_ns * BENCH_TIE < b_ns)
		return "yes";
	if (b_ns * BENCH_TIE < a_ns)
		return "no";
	return "tie";
}

/* "a moves more than b": yes, no, or tie. */
static const char *
claim_more(double a, double b)
{
	return claim_faster(b, a);
}

static void
claim_times(char *buf, size_t cap, double big, double small)
{
	if (!(small > 0))
		snprintf(buf, cap, "-");
	else if (big / small >= 9.95)
		snprintf(buf, cap, "%.0f×", big / small);
	else
		snprintf(buf, cap, "%.1f×", big / small);
}

static void
claim_mbs(char *buf, size_t cap, double mb)
{
	if (mb >= 1000)
		snprintf(buf, cap, "%.1f GB/s", mb / 1000);
	else
		snprintf(buf, cap, "%.0f MB/s", mb);
}

/* A row measured between processes (not threads, not memcpy). */
static int
claim_process(const struct bench_row *x)
{
	return x->have_rtt && !strcmp(x->peer, "process");
}

/* The ipckit process row of family fam with the lowest p50. */
static const struct bench_row *
claim_best(const struct bench_run *run, int fam, int in_family)
{
	const struct bench_row *best = NULL;
	for (int i = 0; i < run->n; i++) {
		const struct bench_row *x = &run->row[i];
		if (x->kind != BENCH_IPCKIT || !claim_process(x) ||
		    ((int)bench_family(x) == fam) != in_family)
			continue;
		if (!best || x->p50 < best->p50)
			best = x;
	}
	return best;
}

/* The ipckit row (any family) with the most MB/s at size, copying or not. */
static const struct bench_row *
claim_best_tput(
    const struct bench_run *run, size_t size, int zc, int fam, int in_family)
{
	const struct bench_row *best = NULL;
	for (int i = 0; i < run->n; i++) {
		const struct bench_row *x = &run->row[i];
		const struct bench_rtput *t = bench_row_tput(x, size, zc);
		if (x->kind != BENCH_IPCKIT || strcmp(x->peer, "process") ||
		    !t || ((int)bench_family(x) == fam) != in_family)
			continue;
		if (!best ||
		    t->mb_per_s > bench_row_tput(best, size, zc)->mb_per_s)
			best = x;
	}
	return best;
}

static const struct bench_row *
claim_row(const struct bench_run *run, const char *name)
{
	for (int i = 0; i < run->n; i++)
		if (!strcmp(run->row[i].name, name) &&
		    run->row[i].kind == BENCH_IPCKIT &&
		    run->row[i].status != BENCH_NOT_BUILT &&
		    run->row[i].kinship >= 0)
			return &run->row[i];
	return NULL;
}

static const char *
claim_not_measured(struct bench_claim *c, const char *what)
{
	claim_say(c, "not in this run (%s)", what);
	return "not measured";
}

/* --- latency and throughput claims -------------------------------------- */

static const char *
claim_pipe_slow(const struct bench_run *run, struct bench_claim *c)
{
	const struct bench_row *p = bench_row_rtt(run, "pipe");
	const struct bench_row *s = claim_best(run, BENCH_FAM_SHM, 1);
	const struct bench_row *ff = bench_row_rtt(run, "floor/futex");
	char a[24], b[24], k[16];
	if (!p || !s)
		return claim_not_measured(c, "needs pipe and a shm row");
	bench_fmt_us(a, sizeof(a), (double)p->p50);
	bench_fmt_us(b, sizeof(b), (double)s->p50);
	claim_times(k, sizeof(k), (double)p->p50, (double)s->p50);
	claim_say(c, "pipe %s per round trip vs %s %s (%s)", a, s->name, b, k);
	if (ff) {
		bench_fmt_us(b, sizeof(b), (double)ff->p50);
		claim_times(k, sizeof(k), (double)p->p50, (double)ff->p50);
		claim_say(c,
		    "; the cost is the sleeping wake-up, not the pipe: a bare "
		    "futex wake-up (floor/futex) takes %s (pipe = %s)",
		    b, k);
	}
	return claim_faster((double)s->p50, (double)p->p50);
}

static const char *
claim_mq_pipe(const struct bench_run *run, struct bench_claim *c)
{
	const struct bench_row *p = bench_row_rtt(run, "pipe");
	const struct bench_row *q = bench_row_rtt(run, "mq");
	char a[24], b[24];
	if (!p || !q)
		return claim_not_measured(c, "needs pipe and mq");
	bench_fmt_us(a, sizeof(a), (double)q->p50);
	bench_fmt_us(b, sizeof(b), (double)p->p50);
	const char *lat = claim_faster((double)q->p50, (double)p->p50);
	claim_say(c, "round trip: mq %s vs pipe %s (%s)", a, b,
	    !strcmp(lat, "tie")	      ? "the same wake-up, a tie"
		: !strcmp(lat, "yes") ? "mq ahead"
				      : "pipe ahead");
	const char *tp = "tie";
	const struct bench_rtput *qt = NULL, *pt = NULL;
	for (int k = 0; k < run->cfg.nsizes && !qt; k++) {
		qt = bench_row_tput(q, run->cfg.sizes[k], 0);
		pt = bench_row_tput(p, run->cfg.sizes[k], 0);
		if (!pt)
			qt = NULL;
	}
	if (qt && pt) {
		char sz[16];
		bench_fmt_size(sz, sizeof(sz), qt->size);
		tp = claim_more(qt->msgs_per_s, pt->msgs_per_s);
		claim_say(c,
		    "; streaming %s, where neither sender waits: mq %.0fk "
		    "vs pipe %.0fk messages/s (%s)",
		    sz, qt->msgs_per_s / 1e3, pt->msgs_per_s / 1e3,
		    !strcmp(tp, "tie")	     ? "a tie"
			: !strcmp(tp, "yes") ? "mq ahead"
					     : "pipe ahead");
	}
	if (strcmp(lat, tp) && strcmp(tp, "tie") && strcmp(lat, "tie"))
		return "mixed";
	if (!strcmp(lat, "tie"))
		return tp;
	return lat;
}

static const char *
claim_mq_copies(const struct bench_run *run, struct bench_claim *c)
{
	const struct bench_row *q = claim_row(run, "mq");
	const struct bench_rtput *qt = NULL;
	size_t size = 0, over = 0;
	char a[24], b[24], k[16], sz[16];
	if (!q || !q->have_rtt)
		return claim_not_measured(c, "needs mq");
	for (int i = 0; i < run->cfg.nsizes; i++) {
		const struct bench_rtput *t =
		    bench_row_tput(q, run->cfg.sizes[i], 0);
		if (t && run->cfg.sizes[i] >= size) {
			qt = t;
			size = run->cfg.sizes[i];
		} else if (!t && !over) {
			over = run->cfg.sizes[i];
		}
	}
	const struct bench_row *s =
	    qt ? claim_best_tput(run, size, 1, BENCH_FAM_SHM, 1) : NULL;
	if (!s)
		return claim_not_measured(c, "needs mq and shm throughput");
	const struct bench_rtput *st = bench_row_tput(s, size, 1);
	bench_fmt_size(sz, sizeof(sz), size);
	claim_mbs(a, sizeof(a), qt->mb_per_s);
	claim_mbs(b, sizeof(b), st->mb_per_s);
	claim_times(k, sizeof(k), st->mb_per_s, qt->mb_per_s);
	claim_say(c,
	    "copies per mq message: %s; at %s mq moves %s, "
	    "%s zero-copy %s (%s)",
	    q->copies, sz, a, s->name, b, k);
	if (over) {
		bench_fmt_size(sz, sizeof(sz), over);
		claim_say(c, "; a %s message does not fit in a queue here", sz);
	}
	return claim_more(st->mb_per_s, qt->mb_per_s);
}

static const char *
claim_shm_fastest(const struct bench_run *run, struct bench_claim *c)
{
	const struct bench_row *s = claim_best(run, BENCH_FAM_SHM, 1);
	const struct bench_row *o = claim_best(run, BENCH_FAM_SHM, 0);
	const struct bench_row *p = bench_row_rtt(run, "pipe");
	char a[24], b[24], k[16];
	if (!s || !o)
		return claim_not_measured(c, "needs shm and another mechanism");
	bench_fmt_us(a, sizeof(a), (double)s->p50);
	if (p) {
		bench_fmt_us(b, sizeof(b), (double)p->p50);
		claim_times(k, sizeof(k), (double)p->p50, (double)s->p50);
		claim_say(c, "%s %s vs pipe %s, %s on this machine", s->name, a,
		    b, k);
	} else {
		claim_say(c, "%s %s", s->name, a);
	}
	if (o != p) {
		bench_fmt_us(b, sizeof(b), (double)o->p50);
		claim_times(k, sizeof(k), (double)o->p50, (double)s->p50);
		claim_say(c, "; fastest outside shared memory: %s %s (%s)",
		    o->name, b, k);
	}
	const struct bench_row *ff = bench_row_rtt(run, "floor/atomic");
	if (ff) {
		claim_times(k, sizeof(k), (double)s->p50, (double)ff->p50);
		claim_say(c, "; %s the hardware floor (floor/atomic)", k);
	}
	return claim_faster((double)s->p50, (double)o->p50);
}

static const char *
claim_shm_zero_copy(const struct bench_run *run, struct bench_claim *c)
{
	size_t size = 0;
	for (int k = 0; k < run->cfg.nsizes; k++)
		if (run->cfg.sizes[k] > size)
			size = run->cfg.sizes[k];
	const struct bench_row *z =
	    claim_best_tput(run, size, 1, BENCH_FAM_SHM, 1);
	const struct bench_row *y = z;
	char a[24], b[24], k[16], sz[16];
	if (!z || !bench_row_tput(z, size, 0))
		return claim_not_measured(c, "needs shm throughput");
	double zm = bench_row_tput(z, size, 1)->mb_per_s;
	double ym = bench_row_tput(y, size, 0)->mb_per_s;
	bench_fmt_size(sz, sizeof(sz), size);
	claim_mbs(a, sizeof(a), zm);
	claim_mbs(b, sizeof(b), ym);
	claim_times(k, sizeof(k), zm, ym);
	claim_say(c, "at %s: %s with loan/peek %s vs copying %s (%s)", sz,
	    z->name, a, b, k);
	const struct bench_rtput *mc =
	    bench_row_tput(bench_row_rtt(run, "memcpy"), size, 0);
	if (!mc)
		for (int i = 0; i < run->n; i++)
			if (!strcmp(run->row[i].name, "memcpy"))
				mc = bench_row_tput(&run->row[i], size, 0);
	if (mc) {
		claim_mbs(b, sizeof(b), mc->mb_per_s);
		claim_say(c, "; one core's memcpy: %s", b);
	}
	return claim_more(zm, ym);
}

static const char *
claim_shm_sync(const struct bench_run *run, struct bench_claim *c)
{
	const struct bench_row *sem = bench_row_rtt(run, "shm/sem");
	const struct bench_row *s = claim_best(run, BENCH_FAM_SHM, 1);
	const struct bench_row *p = bench_row_rtt(run, "pipe");
	char a[24], b[24], k[16];
	if (!sem || !s)
		return claim_not_measured(c, "needs shm/sem");
	bench_fmt_us(a, sizeof(a), (double)sem->p50);
	claim_say(c,
	    "every shm row waits on something; with a semaphore post and "
	    "wait per message (shm/sem) a round trip takes %s",
	    a);
	if (p) {
		bench_fmt_us(b, sizeof(b), (double)p->p50);
		const char *v = claim_faster((double)sem->p50, (double)p->p50);
		claim_say(c, ", %s a pipe's %s",
		    !strcmp(v, "tie")	    ? "as slow as"
			: !strcmp(v, "yes") ? "less than"
					    : "more than",
		    b);
	}
	if (s != sem) {
		bench_fmt_us(b, sizeof(b), (double)s->p50);
		claim_times(k, sizeof(k), (double)sem->p50, (double)s->p50);
		claim_say(c,
		    "; %s (wait: %s) takes %s, %s less: the wait, not the "
		    "copy, is the cost",
		    s->name, s->wait, b, k);
	}
	return "yes";
}

static const char *
claim_signals(const struct bench_run *run, struct bench_claim *c)
{
	(void)run;
	claim_say(c,
	    "no benchmark row: a signal is a notification, not a channel; "
	    "ipckit's notify API (sigqueue + signalfd) carries one int "
	    "beside the signal number and nothing else (docs/sync.md)");
	return "not measured";
}

/* --- the properties matrix ---------------------------------------------- */

/* Names of the ipckit rows whose field at offset `off` equals v. */
static void
claim_list(
    const struct bench_run *run, size_t off, int v, char *buf, size_t cap)
{
	size_t len = 0;
	buf[0] = 0;
	for (int i = 0; i < run->n; i++) {
		const struct bench_row *x = &run->row[i];
		int f;
		memcpy(&f, (const char *)x + off, sizeof(f));
		if (!claim_row(run, x->name) || f != v || len + 2 >= cap)
			continue;
		/* One "shm/..." for the wait strategies of one mechanism
		 * (rows of one scheme share their capability word). */
		const char *slash = strchr(x->name, '/');
		if (slash && i > 0 &&
		    !strncmp(run->row[i - 1].name, x->name,
			(size_t)(slash - x->name + 1)))
			continue;
		int w = snprintf(buf + len, cap - len, "%s%.*s%s",
		    len ? ", " : "",
		    slash ? (int)(slash - x->name + 1) : (int)strlen(x->name),
		    x->name, slash ? "..." : "");
		len += w > 0 ? (size_t)w : 0;
		if (len >= cap)
			len = cap - 1;
	}
	if (!len)
		snprintf(buf, cap, "none");
}

/* The property at off of each named row is as expected: yes, no, or not
 * measured when a row is missing. */
static const char *
claim_expect(const struct bench_run *run, size_t off, const char *const *names,
    const int *want, int n)
{
	for (int i = 0; i < n; i++) {
		const struct bench_row *x = claim_row(run, names[i]);
		int f;
		if (!x)
			return "not measured";
		memcpy(&f, (const char *)x + off, sizeof(f));
		if (f < 0)
			return "not measured";
		if (f != want[i])
			return "no";
	}
	return "yes";
}

#define CLAIM_OFF(field) offsetof(struct bench_row, field)

static const char *
claim_matrix(struct bench_claim *c, const struct bench_run *run, size_t off,
    const char *yes, const char *no, const char *const *names, const int *want,
    int n)
{
	char l1[160], l2[160];
	claim_list(run, off, 1, l1, sizeof(l1));
	claim_list(run, off, 0, l2, sizeof(l2));
	claim_say(c, "%s: %s; %s: %s", yes, l1, no, l2);
	return claim_expect(run, off, names, want, n);
}

static const char *
claim_kinship(const struct bench_run *run, struct bench_claim *c)
{
	static const char *const n[] = {"pipe", "fifo"};
	static const int w[] = {1, 0};
	return claim_matrix(c, run, CLAIM_OFF(kinship),
	    "needs related processes", "meets by name", n, w, 2);
}

static const char *
claim_restart(const struct bench_run *run, struct bench_claim *c)
{
	static const char *const n[] = {"pipe", "fifo"};
	static const int w[] = {0, 1};
	return claim_matrix(c, run, CLAIM_OFF(reattach),
	    "survives a peer restart", "does not", n, w, 2);
}

static const char *
claim_boundaries(const struct bench_run *run, struct bench_claim *c)
{
	static const char *const n[] = {"pipe", "fifo", "mq", "sysv"};
	static const int w[] = {0, 0, 1, 1};
	return claim_matrix(c, run, CLAIM_OFF(boundaries), "keeps boundaries",
	    "byte stream (ipckit frames it)", n, w, 4);
}

static const char *
claim_types(const struct bench_run *run, struct bench_claim *c)
{
	static const char *const n[] = {"sysv", "pipe"};
	static const int w[] = {1, 0};
	return claim_matrix(c, run, CLAIM_OFF(types),
	    "type carried by the mechanism", "type in ipckit's header", n, w,
	    2);
}

static const char *
claim_remote(const struct bench_run *run, struct bench_claim *c)
{
	const char *v = claim_matrix(c, run, CLAIM_OFF(remote), "crosses hosts",
	    "one host only", NULL, NULL, 0);
	int sockets = 0;
	for (int i = 0; i < run->n; i++) {
		const struct bench_row *x = &run->row[i];
		if (!claim_row(run, x->name))
			continue;
		if (x->remote > 0 && bench_family(x) != BENCH_FAM_SOCKET)
			v = "no";
		sockets += bench_family(x) == BENCH_FAM_SOCKET;
	}
	const struct bench_row *t = bench_row_rtt(run, "tcp");
	const struct bench_row *u = bench_row_rtt(run, "unix");
	if (t && u) {
		char a[24], b[24];
		bench_fmt_us(a, sizeof(a), (double)t->p50);
		bench_fmt_us(b, sizeof(b), (double)u->p50);
		claim_say(
		    c, "; on one host tcp (loopback) takes %s, unix %s", a, b);
	}
	return sockets ? v : "not measured";
}

static const char *
claim_zero_copy(const struct bench_run *run, struct bench_claim *c)
{
	const char *v = claim_matrix(c, run, CLAIM_OFF(zero_copy),
	    "zero-copy loan/peek", "copies", NULL, NULL, 0);
	int shm = 0;
	for (int i = 0; i < run->n; i++) {
		const struct bench_row *x = &run->row[i];
		if (!claim_row(run, x->name))
			continue;
		if (x->zero_copy > 0 && bench_family(x) != BENCH_FAM_SHM)
			v = "no";
		shm += x->zero_copy > 0;
	}
	return shm ? v : "not measured";
}

static const char *
claim_persist(const struct bench_run *run, struct bench_claim *c)
{
	static const char *const n[] = {"mq", "pipe"};
	static const int w[] = {1, 0};
	return claim_matrix(c, run, CLAIM_OFF(persist),
	    "kept after the writer exits", "gone with the writer", n, w, 2);
}

static const struct {
	const char *id, *claim;
	const char *(*check)(const struct bench_run *, struct bench_claim *);
} claim_table[] = {
    {"pipe-slow", "pipes are slow: the writer waits for the reader",
	claim_pipe_slow},
    {"mq-vs-pipe",
	"message queues are faster than pipes: the sender does not wait",
	claim_mq_pipe},
    {"mq-copies", "message queues copy every message, costly when big",
	claim_mq_copies},
    {"shm-fastest", "shared memory is the fastest", claim_shm_fastest},
    {"shm-no-copy", "shared memory removes the copy", claim_shm_zero_copy},
    {"shm-needs-sync", "shared memory needs a semaphore", claim_shm_sync},
    {"signals-no-data", "signals notify but carry no data", claim_signals},
    {"sockets-cross-hosts", "only sockets cross hosts", claim_remote},
    {"pipe-kinship",
	"an anonymous pipe needs related processes, a named pipe does not",
	claim_kinship},
    {"pipe-lifetime",
	"a pipe ends with its processes, a named pipe outlives a peer",
	claim_restart},
    {"boundaries", "pipes are byte streams, message queues keep messages",
	claim_boundaries},
    {"types", "message queue messages carry a type", claim_types},
    {"zero-copy", "only shared memory avoids the kernel copy", claim_zero_copy},
    {"outlives-writer", "queued data outlives the writer", claim_persist},
};

int
bench_claims(const struct bench_run *run, struct bench_claim *c, int cap)
{
	int n = 0;
	for (size_t i = 0;
	     i < sizeof(claim_table) / sizeof(claim_table[0]) && n < cap; i++) {
		struct bench_claim *x = &c[n++];
		memset(x, 0, sizeof(*x));
		x->id = claim_table[i].id;
		x->claim = claim_table[i].claim;
		x->verdict = claim_table[i].check(run, x);
	}
	return n;
}

void
bench_report_claims(FILE *f, const struct bench_run *run)
{
	struct bench_claim c[BENCH_MAX_CLAIMS];
	int n = bench_claims(run, c, BENCH_MAX_CLAIMS);
	fprintf(f,
	    "\nTHE ARTICLE'S CLAIMS, CHECKED ON THIS MACHINE (p50 round "
	    "trips; a tie is within %.2fx)\n",
	    BENCH_TIE);
	for (int i = 0; i < n; i++)
		fprintf(f, "- %s: %s — %s\n", c[i].claim, c[i].verdict,
		    c[i].evidence);
}
