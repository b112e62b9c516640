/* SPDX-License-Identifier: MIT */
/*
 * subj_ipckit.c - the benchmark adapter for ipckit's own transports, through
 * the public API only. Rows are discovered at run time: one per variant
 * that a transport's table marks IPK_VARIANT_BENCH (ipk_scheme_variant), at
 * the address its table gives (ipk_scheme_url), in ipk_schemes() order.
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

/* The capability bits of the row's transport ("shm" of "shm/futex"). */
static unsigned
ipkb_caps(const struct bench_conn *c)
{
	char scheme[32];
	snprintf(scheme, sizeof(scheme), "%.*s", (int)strcspn(c->s->arg, "/"),
	    c->s->arg);
	return ipk_scheme_caps(scheme);
}

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
	if (ipkb_caps(c) & IPK_CAP_KINSHIP) {
		int rv = ipk_pair(&st->pair[0], &st->pair[1]);
		if (rv < 0)
			return ipkb_fail(c, rv, "ipk_pair");
	}
	return 0;
}

/*
 * Ring transports (zero-copy: shm, inproc, memfd) get a ring that holds the
 * run's largest message twice over (size=, a power of two, at least 2M),
 * so the 1 MiB rows measure the mechanism rather than its default size.
 */
static void
ipkb_ring_query(const struct bench_conn *c, char *q, size_t cap)
{
	size_t max = c->cfg->rtt_size, ring = 2u << 20;
	q[0] = 0;
	if (!(ipkb_caps(c) & IPK_CAP_ZEROCOPY))
		return;
	for (int i = 0; i < c->cfg->nsizes; i++)
		if (c->cfg->sizes[i] > max)
			max = c->cfg->sizes[i];
	while (ring < 2 * max + 65536 && ring < (1u << 30))
		ring <<= 1;
	snprintf(q, cap, "size=%zuK", ring >> 10);
}

/* A fresh address for this run: the variant's example address with a
 * unique name (port 0 for sockets), then the ring size. */
static int
ipkb_url(const struct bench_conn *c, char *url, size_t cap)
{
	static int seq;
	char name[64], ring[48];
	snprintf(name, sizeof(name), "ipkb-%ld-%d", (long)getpid(), ++seq);
	int n = ipk_scheme_url(c->s->arg, name, url, cap);
	if (n < 0)
		return n;
	ipkb_ring_query(c, ring, sizeof(ring));
	if (*ring)
		snprintf(url + n, cap - (size_t)n, "%s%s",
		    strchr(url, '?') ? "&" : "?", ring);
	return 0;
}

static int
ipkb_listen(struct bench_conn *c, char *url, size_t cap)
{
	struct ipkb_state *st = c->p;
	int rv;
	if (st->pair[0])
		return 0; /* pipe: made before the peer started */
	if ((rv = ipkb_url(c, url, cap)) < 0)
		return bench_fail(c, rv, "%s: %s", c->s->arg, ipk_strerror(rv));
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

static void
ipkb_fill(
    struct bench_subject *r, const char *scheme, const struct ipk_variant *v)
{
	unsigned caps = ipk_scheme_caps(scheme);
	memset(r, 0, sizeof(*r));
	snprintf(r->name, sizeof(r->name), "%s", v->name);
	r->kind = BENCH_IPCKIT;
	r->ops = &ipkb_ops;
	snprintf(r->arg, sizeof(r->arg), "%s", v->name);
	r->wait = *v->wait ? v->wait : "as the transport chooses";
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
}

int
bench_subjects_ipckit(struct bench_subject *rows, int cap)
{
	int n = 0;
	for (const char *const *s = ipk_schemes(); *s; s++) {
		struct ipk_variant v;
		for (size_t i = 0; ipk_scheme_variant(*s, i, &v) == 0; i++)
			if ((v.flags & IPK_VARIANT_BENCH) && n < cap)
				ipkb_fill(&rows[n++], *s, &v);
	}
	return n;
}

/* --- pub/sub through ipckit's pattern channels -------------------------- */

static int
pbi_fail(struct bench_ps *ps, int rv, const char *what)
{
	snprintf(ps->err, sizeof(ps->err), "%s: %s", what, ipk_strerror(rv));
	return rv;
}

int
bench_pattern_url(const char *scheme, const char *query, char *url, size_t cap)
{
	static int seq;
	char name[64];
	snprintf(name, sizeof(name), "ipkb-pat-%ld-%d", (long)getpid(), ++seq);
	int n = ipk_scheme_url(scheme, name, url, cap);
	if (n < 0)
		return n;
	snprintf(url + n, cap - (size_t)n, "%s%s", strchr(url, '?') ? "&" : "?",
	    query);
	return 0;
}

/* The options a variant stands for ("wait=spin" of "shm/spin"), or "". */
static const char *
pbi_variant(const char *name)
{
	char scheme[32];
	struct ipk_variant v;
	snprintf(scheme, sizeof(scheme), "%.*s", (int)strcspn(name, "/"), name);
	for (size_t i = 0; ipk_scheme_variant(scheme, i, &v) == 0; i++)
		if (!strcmp(v.name, name))
			return v.query ? v.query : "";
	return "";
}

static int
pbi_pub_open(struct bench_ps *ps, char *addr, size_t cap)
{
	struct ipk_chan *c;
	char url[512], q[128];
	int rv;
	/* Block: a subscriber that falls behind holds the publisher back,
	 * so every subscriber gets every message. The zero-copy rows get a
	 * ring of a few messages. */
	if (ps->zero_copy)
		snprintf(q, sizeof(q),
		    "pattern=pub&slow=block&maxmsg=%zu&queue=8", ps->size);
	else /* chunks of the row's size (shm: a deeper ring) */
		snprintf(q, sizeof(q), "pattern=pub&slow=block&maxmsg=%zu",
		    ps->size);
	if ((rv = bench_pattern_url(ps->arg, q, url, sizeof(url))) < 0)
		return pbi_fail(ps, rv, ps->arg);
	if ((rv = ipk_bind(url, NULL, &c)) < 0)
		return pbi_fail(ps, rv, "ipk_bind");
	ps->p = c;
	/* The subscribers' address: the bound one (a real port), sub. */
	snprintf(addr, cap, "%s", ipk_url(c));
	char *qm = strchr(addr, '?');
	if (qm)
		*qm = '\0';
	size_t n = strlen(addr);
	snprintf(addr + n, cap - n, "?pattern=sub%s%s",
	    *pbi_variant(ps->arg) ? "&" : "", pbi_variant(ps->arg));
	return 0;
}

static int
pbi_pub_send(struct bench_ps *ps, const void *buf, size_t len, int timeout_ms)
{
	int rv = ipk_send(ps->p, buf, len, 0, timeout_ms);
	return rv < 0 ? pbi_fail(ps, rv, "ipk_send") : 0;
}

static int
pbi_pub_loan(struct bench_ps *ps, size_t len, void **buf, int timeout_ms)
{
	int rv = ipk_loan(ps->p, len, buf, timeout_ms);
	return rv < 0 ? pbi_fail(ps, rv, "ipk_loan") : 0;
}

static int
pbi_pub_commit(struct bench_ps *ps, size_t len)
{
	int rv = ipk_commit(ps->p, len, 0);
	return rv < 0 ? pbi_fail(ps, rv, "ipk_commit") : 0;
}

static void
pbi_pub_idle(struct bench_ps *ps)
{
	/* Progress happens inside the channel's calls: admit subscribers,
	 * move queued messages. */
	struct ipk_pollitem it = {ps->p, IPK_POLLIN, 0};
	(void)ipk_poll(&it, 1, 0);
}

static int
pbi_pub_flush(struct bench_ps *ps, int timeout_ms)
{
	int rv = ipk_flush(ps->p, timeout_ms);
	return rv < 0 ? pbi_fail(ps, rv, "ipk_flush") : 0;
}

static int
pbi_sub_open(struct bench_ps *ps, const char *addr)
{
	struct ipk_opts o = {.timeout_ms = BENCH_OP_MS};
	struct ipk_chan *c;
	int rv = ipk_dial(addr, &o, &c);
	if (rv < 0)
		return pbi_fail(ps, rv, addr);
	ps->p = c;
	return 0;
}

static int
pbi_sub_recv(
    struct bench_ps *ps, void *buf, size_t cap, size_t *len, int timeout_ms)
{
	int rv = ipk_recv(ps->p, buf, cap, len, NULL, timeout_ms);
	return rv < 0 && rv != -ETIMEDOUT && rv != -EAGAIN
	    ? pbi_fail(ps, rv, "ipk_recv")
	    : rv;
}

static int
pbi_sub_peek(struct bench_ps *ps, const void **buf, size_t *len, int timeout_ms)
{
	int rv = ipk_peek(ps->p, buf, len, NULL, timeout_ms);
	return rv < 0 && rv != -ETIMEDOUT && rv != -EAGAIN
	    ? pbi_fail(ps, rv, "ipk_peek")
	    : rv;
}

static int
pbi_sub_release(struct bench_ps *ps)
{
	int rv = ipk_release(ps->p);
	return rv < 0 ? pbi_fail(ps, rv, "ipk_release") : 0;
}

static uint64_t
pbi_sub_gaps(struct bench_ps *ps)
{
	struct ipk_stats st;
	return ipk_stats(ps->p, &st) == 0 ? st.gaps : 0;
}

static void
pbi_close(struct bench_ps *ps)
{
	ipk_close(ps->p);
	ps->p = NULL;
}

static const struct bench_psops pbi_ops = {
    .pub_open = pbi_pub_open,
    .pub_send = pbi_pub_send,
    .pub_loan = pbi_pub_loan,
    .pub_commit = pbi_pub_commit,
    .pub_idle = pbi_pub_idle,
    .pub_flush = pbi_pub_flush,
    .sub_open = pbi_sub_open,
    .sub_recv = pbi_sub_recv,
    .sub_peek = pbi_sub_peek,
    .sub_release = pbi_sub_release,
    .sub_gaps = pbi_sub_gaps,
    .close = pbi_close,
};

const struct bench_psops *
bench_psops_ipckit(void)
{
	return &pbi_ops;
}
