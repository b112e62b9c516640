/* SPDX-License-Identifier: MIT */
/*
 * subj_ipckit.c - the benchmark adapter for ipckit's own transports, through
 * the public API only. Rows are discovered at run time from ipk_schemes();
 * a transport this libipckit was built without shows as "n/a".
 */
#include "bench.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

struct ipkb_state {
	struct ipk_listener *l;
	struct ipk_chan *ch[2]; /* by side */
	struct ipk_chan *pair[2]; /* pipe: ipk_pair() ends, by side */
};

/* The rows the project knows, in table order, with their wait strategy. */
static const struct {
	const char *row, *scheme, *query, *wait;
} ipkb_rows[] = {
    {"pipe", "pipe", "", "block (poll on pipe)"},
    {"fifo", "fifo", "", "block (poll on FIFO)"},
    {"mq", "mq", "", "block (poll on queue)"},
    {"sysv", "sysv", "", "block (poll, doorbell)"},
    {"shm/spin", "shm", "wait=spin", "spin (bounded)"},
    {"shm/futex", "shm", "wait=futex", "futex"},
    {"shm/sem", "shm", "wait=sem", "semaphore"},
    {"shm/adaptive", "shm", "wait=adaptive", "spin, then futex"},
    {"inproc", "inproc", "", "threads (ring default)"},
    {"unix", "unix", "", "block (poll on socket)"},
    {"tcp", "tcp", "", "block (loopback socket)"},
    {"udp", "udp", "", "block (loopback socket)"},
    {"nng+tcp", "nng+tcp", "", "block (loopback socket)"},
    {"nng+ipc", "nng+ipc", "", "block (poll on socket)"},
    {"memfd", "memfd", "", "spin, then futex"},
};
#define IPKB_NROWS (sizeof(ipkb_rows) / sizeof(ipkb_rows[0]))

static int
ipkb_fail(struct bench_conn *c, int rv, const char *what)
{
	return bench_fail(c, rv, "%s: %s", what, ipk_strerror(rv));
}

static int
ipkb_prepare(struct bench_conn *c)
{
	struct ipkb_state *st = calloc(1, sizeof(*st));
	if (!st)
		return bench_fail(c, -ENOMEM, "out of memory");
	c->p = st;
	if (!strcmp(c->s->arg, "pipe")) {
		int rv = ipk_pair(&st->pair[0], &st->pair[1]);
		if (rv < 0)
			return ipkb_fail(c, rv, "ipk_pair");
	}
	return 0;
}

/*
 * Ring transports (shm, inproc, memfd) get a ring that holds the run's largest
 * message twice over (size=, a power of two, at least 2M), so the 1 MiB
 * rows measure the mechanism rather than its default size.
 */
static void
ipkb_ring_query(const struct bench_conn *c, char *q, size_t cap)
{
	const char *sch = c->s->arg, *opt = strchr(sch, '?');
	size_t max = c->cfg->rtt_size, ring = 2u << 20;
	q[0] = 0;
	if (strncmp(sch, "shm", 3) && strncmp(sch, "inproc", 6) &&
	    strncmp(sch, "memfd", 5))
		return;
	for (int i = 0; i < c->cfg->nsizes; i++)
		if (c->cfg->sizes[i] > max)
			max = c->cfg->sizes[i];
	while (ring < 2 * max + 65536 && ring < (1u << 30))
		ring <<= 1;
	snprintf(q, cap, "%ssize=%zuK", opt ? "&" : "?", ring >> 10);
}

/* A fresh address for this run: a unique name, or port 0. */
static void
ipkb_url(const struct bench_conn *c, char *url, size_t cap)
{
	static int seq;
	const char *sch = c->s->arg, *q0 = strchr(sch, '?');
	char name[64], q[160], ring[48];
	int n = q0 ? (int)(q0 - sch) : (int)strlen(sch);
	ipkb_ring_query(c, ring, sizeof(ring));
	snprintf(q, sizeof(q), "%s%s", q0 ? q0 : "", ring);
	snprintf(name, sizeof(name), "ipkb-%ld-%d", (long)getpid(), ++seq);
	if (!strncmp(sch, "tcp", 3) || !strncmp(sch, "udp", 3) ||
	    !strncmp(sch, "nng+tcp", 7))
		snprintf(url, cap, "%.*s://127.0.0.1:0%s", n, sch, q);
	else if (!strncmp(sch, "inproc", 6))
		snprintf(url, cap, "inproc://%s%s", name, q);
	else if (!strncmp(sch, "unix", 4))
		snprintf(url, cap, "unix://@%s%s", name, q);
	else if (!strncmp(sch, "mq", 2) || !strncmp(sch, "shm", 3))
		snprintf(url, cap, "%.*s:///%s%s", n, sch, name, q);
	else
		snprintf(url, cap, "%.*s:///tmp/%s%s", n, sch, name, q);
}

static int
ipkb_listen(struct bench_conn *c, char *url, size_t cap)
{
	struct ipkb_state *st = c->p;
	int rv;
	if (st->pair[0])
		return 0; /* pipe: made before the peer started */
	ipkb_url(c, url, cap);
	if ((rv = ipk_listen(url, NULL, &st->l)) < 0)
		return bench_fail(c, rv, "%s: %s", url, ipk_strerror(rv));
	snprintf(url, cap, "%s", ipk_listener_url(st->l));
	return 0;
}

static void
ipkb_limits(struct bench_conn *c, struct ipk_chan *ch)
{
	c->max_msg = ipk_max_msg(ch);
	snprintf(c->limit, sizeof(c->limit),
	    "ipk_max_msg() of the "
	    "channel");
	c->pollable = ipk_fd(ch) >= 0;
}

static int
ipkb_accept(struct bench_conn *c)
{
	struct ipkb_state *st = c->p;
	int rv;
	if (st->pair[0]) {
		st->ch[0] = st->pair[0];
		st->pair[0] = NULL;
		ipk_close(st->pair[1]);
		st->pair[1] = NULL;
	} else if ((rv = ipk_accept(st->l, BENCH_OP_MS, &st->ch[0])) < 0) {
		return ipkb_fail(c, rv, "ipk_accept");
	}
	ipkb_limits(c, st->ch[0]);
	return 0;
}

static int
ipkb_dial(struct bench_conn *c, const char *url)
{
	struct ipkb_state *st = c->p;
	struct ipk_opts o = {.timeout_ms = BENCH_OP_MS};
	int rv;
	if (st->pair[1]) {
		/* Forked peer of ipk_pair(): keep our end, drop the other. */
		st->ch[1] = st->pair[1];
		ipk_close(st->pair[0]);
		return 0;
	}
	if ((rv = ipk_dial(url, &o, &st->ch[1])) < 0)
		return bench_fail(c, rv, "%s: %s", url, ipk_strerror(rv));
	return 0;
}

static int
ipkb_send(struct bench_conn *c, const void *buf, size_t len)
{
	struct ipkb_state *st = c->p;
	int rv = ipk_send(st->ch[c->side], buf, len, 0, BENCH_OP_MS);
	return rv < 0 ? ipkb_fail(c, rv, "ipk_send") : 0;
}

static int
ipkb_recv(struct bench_conn *c, void *buf, size_t len)
{
	struct ipkb_state *st = c->p;
	size_t got = 0;
	int rv = ipk_recv(st->ch[c->side], buf, len, &got, NULL, BENCH_OP_MS);
	return rv < 0 ? ipkb_fail(c, rv, "ipk_recv") : (int)got;
}

static int
ipkb_loan(struct bench_conn *c, size_t len, void **buf)
{
	struct ipkb_state *st = c->p;
	int rv = ipk_loan(st->ch[c->side], len, buf, BENCH_OP_MS);
	return rv < 0 ? ipkb_fail(c, rv, "ipk_loan") : 0;
}

static int
ipkb_commit(struct bench_conn *c, size_t len)
{
	struct ipkb_state *st = c->p;
	int rv = ipk_commit(st->ch[c->side], len, 0);
	return rv < 0 ? ipkb_fail(c, rv, "ipk_commit") : 0;
}

static int
ipkb_peek(struct bench_conn *c, const void **buf, size_t *len)
{
	struct ipkb_state *st = c->p;
	int rv = ipk_peek(st->ch[c->side], buf, len, NULL, BENCH_OP_MS);
	return rv < 0 ? ipkb_fail(c, rv, "ipk_peek") : 0;
}

static int
ipkb_release(struct bench_conn *c)
{
	struct ipkb_state *st = c->p;
	int rv = ipk_release(st->ch[c->side]);
	return rv < 0 ? ipkb_fail(c, rv, "ipk_release") : 0;
}

static void
ipkb_close(struct bench_conn *c)
{
	struct ipkb_state *st = c->p;
	if (!st)
		return;
	ipk_close(st->ch[c->side]);
	st->ch[c->side] = NULL;
	if (c->side == 0) {
		ipk_close(st->pair[0]);
		ipk_close(st->pair[1]);
		st->pair[0] = st->pair[1] = NULL;
		ipk_listener_close(st->l);
		st->l = NULL;
	}
}

static void
ipkb_finish(struct bench_conn *c)
{
	ipkb_close(c);
	free(c->p);
	c->p = NULL;
}

static const struct bench_ops ipkb_ops = {
    .prepare = ipkb_prepare,
    .listen = ipkb_listen,
    .accept = ipkb_accept,
    .dial = ipkb_dial,
    .send = ipkb_send,
    .recv = ipkb_recv,
    .loan = ipkb_loan,
    .commit = ipkb_commit,
    .peek = ipkb_peek,
    .release = ipkb_release,
    .close = ipkb_close,
    .finish = ipkb_finish,
};

static int
ipkb_compiled(const char *scheme)
{
	for (const char *const *s = ipk_schemes(); *s; s++)
		if (!strcmp(*s, scheme))
			return 1;
	return 0;
}

static void
ipkb_fill(struct bench_subject *r, const char *row, const char *scheme,
    const char *query, const char *wait)
{
	unsigned caps = ipk_scheme_caps(scheme);
	memset(r, 0, sizeof(*r));
	snprintf(r->name, sizeof(r->name), "%s", row);
	r->kind = BENCH_IPCKIT;
	r->ops = &ipkb_ops;
	snprintf(
	    r->arg, sizeof(r->arg), "%s%s%s", scheme, *query ? "?" : "", query);
	r->wait = wait;
	r->threads = !!(caps & IPK_CAP_THREADS);
	r->zero_copy = !!(caps & IPK_CAP_ZEROCOPY);
	r->lossy = !!(caps & IPK_CAP_LOSSY);
	r->props.kinship = !!(caps & IPK_CAP_KINSHIP);
	r->props.named = !(caps & IPK_CAP_KINSHIP);
	r->props.boundaries = !!(caps & IPK_CAP_BOUNDARIES);
	r->props.copies = caps & IPK_CAP_ZEROCOPY ? "1 (0 with loan/peek)"
	    : caps & IPK_CAP_THREADS		  ? "1"
				     : "2 (in and out of the kernel)";
	r->props.remote = !!(caps & IPK_CAP_REMOTE);
	r->props.reattach = !!(caps & IPK_CAP_REATTACH);
	r->props.pollable = -1; /* measured: ipk_fd() on a real channel */
	if (!ipkb_compiled(scheme)) {
		r->status = BENCH_NA;
		snprintf(r->reason, sizeof(r->reason),
		    "transport '%s' is not "
		    "compiled into this libipckit",
		    scheme);
		r->props = (struct bench_props){-1, -1, -1, "?", -1, -1, -1};
	}
}

int
bench_subjects_ipckit(struct bench_subject *rows, int cap)
{
	int n = 0;
	for (size_t i = 0; i < IPKB_NROWS && n < cap; i++)
		ipkb_fill(&rows[n++], ipkb_rows[i].row, ipkb_rows[i].scheme,
		    ipkb_rows[i].query, ipkb_rows[i].wait);
	/* A transport added later still gets a row. */
	for (const char *const *s = ipk_schemes(); *s && n < cap; s++) {
		int known = 0;
		for (size_t i = 0; i < IPKB_NROWS; i++)
			known |= !strcmp(ipkb_rows[i].scheme, *s);
		if (!known)
			ipkb_fill(&rows[n++], *s, *s, "",
			    "as the transport "
			    "chooses");
	}
	return n;
}
