/* SPDX-License-Identifier: MIT */
/*
 * chan.c - the public channel API. Validates arguments, turns timeouts into
 * deadlines, keeps counters, emulates zero-copy for transports without
 * shared memory, then dispatches to the transport's table. Nothing else in
 * the library calls through a transport table.
 */
#include "core/transport.h"
#include "core/ledger.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

static const char *const chan_common_opts[] = {
    "maxmsg", "mode", "keep", "timeout", "allow", NULL};

struct chan_common {
	size_t max_msg;
	unsigned mode;
	int keep;
	uid_t allow_uid;
	int timeout_ms;
};

static int
chan_opt_listed(const char *const *list, const char *key)
{
	for (const char *const *p = list; p && *p; p++)
		if (strcmp(*p, key) == 0)
			return 1;
	return 0;
}

static int
chan_opt_known(const struct ipk__transport *t, const char *key, int pattern)
{
	return chan_opt_listed(chan_common_opts, key) ||
	    chan_opt_listed(t->options, key) ||
	    (pattern && chan_opt_listed(ipk__pattern_opts, key));
}

/* Parse the URL, find its transport, and read the common options. A URL
 * naming a pattern (?pattern=) also takes the pattern's options. */
static int
chan_prepare(const char *url, const struct ipk_opts *o, struct ipk__url *u,
    const struct ipk__transport **tp, struct chan_common *cc)
{
	int rv = ipk__url_parse(url, u);
	if (rv < 0)
		return rv;
	const struct ipk__transport *t = ipk__transport_find(u->scheme);
	if (!t) {
		rv = ipk__err(-EINVAL,
		    "%s: unknown scheme '%s' (ipckit --help "
		    "lists them)",
		    u->text, u->scheme);
		goto err;
	}
	const char *pat;
	int pattern = ipk__url_str(u, "pattern", &pat) == 0;
	/* A transport that serves patterns itself checks their options. */
	for (int i = 0; i < u->nopt && !(pattern && t->pattern); i++)
		if (!chan_opt_known(t, u->key[i], pattern)) {
			rv = ipk__err(-EINVAL, "%s: unknown option '%s' for %s",
			    u->text, u->key[i], t->scheme);
			goto err;
		}

	cc->max_msg =
	    o && o->max_msg ? o->max_msg : (size_t)IPK_DEFAULT_MAX_MSG;
	cc->mode = o && o->mode ? o->mode : 0600;
	cc->keep = o ? o->keep : 0;
	cc->allow_uid = o ? o->allow_uid : 0;
	cc->timeout_ms = o ? (o->timeout_ms < 0 ? -1 : o->timeout_ms) : 0;

	uint64_t sz;
	int64_t v;
	if ((rv = ipk__url_size(u, "maxmsg", &sz)) < 0)
		goto err;
	if (rv == 0) {
		if (sz == 0 || sz > (uint64_t)1 << 40) {
			rv = ipk__err(-EINVAL,
			    "%s: maxmsg must be from 1 byte "
			    "to 1T",
			    u->text);
			goto err;
		}
		cc->max_msg = (size_t)sz;
	}
	if ((rv = ipk__url_int(u, "mode", 0, 0777, &v)) < 0)
		goto err;
	if (rv == 0)
		cc->mode = (unsigned)v;
	if ((rv = ipk__url_int(u, "keep", 0, 1, &v)) < 0)
		goto err;
	if (rv == 0)
		cc->keep = (int)v;
	if ((rv = ipk__url_int(u, "timeout", -1, 1 << 30, &v)) < 0)
		goto err;
	if (rv == 0)
		cc->timeout_ms = (int)v;
	/* A transport that lists "allow" itself reads it (a list of users). */
	if (!chan_opt_listed(t->options, "allow")) {
		if ((rv = ipk__url_int(u, "allow", 0, 0x7fffffff, &v)) < 0)
			goto err;
		if (rv == 0)
			cc->allow_uid = (uid_t)v;
	}
	*tp = t;
	return 0;
err:
	ipk__url_free(u);
	return rv;
}

/* 1 when the URL names a pattern (?pattern=), for ipk_listen/ipk_dial. */
static int
chan_is_pattern(const struct ipk__url *u)
{
	const char *v;
	return ipk__url_str(u, "pattern", &v) == 0;
}

static struct ipk_chan *
chan_alloc(const struct ipk__transport *t, const char *url,
    const struct chan_common *cc)
{
	struct ipk_chan *c = ipk__calloc(1, sizeof(*c) + t->chan_size);
	if (!c)
		return NULL;
	c->url = ipk__strdup(url);
	if (!c->url) {
		ipk__free(c);
		return NULL;
	}
	c->tr = t;
	c->stats = &c->own_stats;
	c->max_msg = cc->max_msg;
	c->mode = cc->mode;
	c->keep = cc->keep;
	c->allow_uid = cc->allow_uid;
	return c;
}

struct ipk_chan *
ipk__chan_new(const struct ipk__transport *t, const char *url, size_t max_msg,
    unsigned mode)
{
	struct chan_common cc = {.max_msg = max_msg, .mode = mode};
	return chan_alloc(t, url, &cc);
}

/* Record the endpoint in the run directory and move its counters there. */
static void
chan_register(
    struct ipk_chan *c, const struct ipk__url *u, const char *url, int role)
{
	if (!c->tr->remove)
		return;
	c->ledger = ipk__ledger_join(u, url, role, c->mode);
	if (c->ledger)
		c->stats = ipk__ledger_stats(c->ledger);
}

/* The keep argument of ipk__ledger_leave after a close that left `left`. */
static int
chan_ledger_keep(int keep, unsigned char left)
{
	if (left == IPK__LEFT_LINGER)
		return 1;
	return left == IPK__LEFT_REAPED ? IPK__LEDGER_DROP : keep;
}

static void
chan_free(struct ipk_chan *c)
{
	ipk__ledger_leave(c->ledger, chan_ledger_keep(c->keep, c->left));
	ipk__free(c->zc_loan);
	ipk__free(c->zc_peek);
	ipk__free(c->url);
	ipk__free(c);
}

/* After an op: map timeout-0 expiry to EAGAIN, count, prefix the sentence. */
static int
chan_done(struct ipk_chan *c, int rv, int timeout_ms)
{
	if (IPK__LIKELY(rv >= 0))
		return rv;
	if (rv == -ETIMEDOUT && timeout_ms == 0)
		rv = -EAGAIN;
	if (rv != -EAGAIN && rv != -ETIMEDOUT)
		c->stats->errors++;
	ipk__err_prefix(c->url);
	return rv;
}

static int
chan_toobig(struct ipk_chan *c, size_t len)
{
	if (c->tr->toobig)
		return c->tr->toobig(c, len);
	return ipk__err(-EMSGSIZE,
	    "message of %zu bytes exceeds the channel's limit of %zu "
	    "(%s)",
	    len, c->max_msg, c->limit_why[0] ? c->limit_why : "maxmsg=");
}

static int
chan_listen(const char *url, const struct ipk_opts *o, size_t extra,
    struct ipk_listener **out)
{
	if (!out)
		return ipk__err(-EINVAL, "listen: out is NULL");
	*out = NULL;
	struct ipk__url u;
	const struct ipk__transport *t;
	struct chan_common cc;
	int rv = chan_prepare(url, o, &u, &t, &cc);
	if (rv < 0)
		return rv;
	if (!extra && chan_is_pattern(&u)) {
		rv = ipk__err(-EINVAL,
		    "%s: a pattern (?pattern=) is opened with ipk_bind or "
		    "ipk_dial",
		    u.text);
		ipk__url_free(&u);
		return rv;
	}
	cc.max_msg += extra;
	if (!t->listen) {
		rv = ipk__err(-EINVAL,
		    "%s: %s channels cannot listen (use "
		    "ipk_spawn or ipk_pair)",
		    u.text, t->scheme);
		ipk__url_free(&u);
		return rv;
	}
	struct ipk_listener *l = ipk__calloc(1, sizeof(*l) + t->lst_size);
	if (!l || !(l->url = ipk__strdup(url))) {
		ipk__free(l);
		ipk__url_free(&u);
		return -ENOMEM;
	}
	l->tr = t;
	l->u = u;
	l->max_msg = cc.max_msg;
	l->mode = cc.mode;
	l->keep = cc.keep;
	l->allow_uid = cc.allow_uid;
	/* The run-directory entry first: a dialer may attach as soon as the
	 * transport's listen returns, and must find the entry to join. */
	if (t->remove)
		l->ledger =
		    ipk__ledger_join(&l->u, l->url, IPK_ROLE_LISTENER, l->mode);
	rv = t->listen(l, &l->u);
	if (rv < 0) {
		ipk__err_prefix(url);
		l->keep = 0; /* a failed listen removes what it made */
		t->lclose(l);
		ipk__ledger_leave(l->ledger, 0);
		ipk__url_free(&l->u);
		ipk__free(l->url);
		ipk__free(l);
		return rv;
	}
	*out = l;
	return 0;
}

int
ipk_listen(const char *url, const struct ipk_opts *o, struct ipk_listener **out)
{
	ipk__err_clear();
	return chan_listen(url, o, 0, out);
}

int
ipk__listen_ex(const char *url, const struct ipk_opts *o, size_t extra,
    struct ipk_listener **out)
{
	return chan_listen(url, o, extra, out);
}

int
ipk__listener_set_url(struct ipk_listener *l, const char *url)
{
	char *s = ipk__strdup(url);
	if (!s)
		return -ENOMEM;
	ipk__free(l->url);
	l->url = s;
	return 0;
}

int
ipk_accept(struct ipk_listener *l, int timeout_ms, struct ipk_chan **out)
{
	ipk__err_clear();
	if (!out)
		return ipk__err(-EINVAL, "accept: out is NULL");
	*out = NULL;
	if (!l)
		return ipk__err(-EINVAL, "accept: listener is NULL");
	struct chan_common cc = {
	    .max_msg = l->max_msg,
	    .mode = l->mode,
	    .keep = l->keep,
	    .allow_uid = l->allow_uid,
	};
	struct ipk_chan *c = chan_alloc(l->tr, l->url, &cc);
	if (!c)
		return -ENOMEM;
	int rv = l->tr->accept(l, c, ipk__deadline(timeout_ms));
	if (rv < 0) {
		if (rv == -ETIMEDOUT && timeout_ms == 0)
			rv = -EAGAIN;
		ipk__err_prefix(l->url);
		l->tr->close(c);
		chan_free(c);
		return rv;
	}
	chan_register(c, &l->u, l->url, IPK_ROLE_ACCEPTED);
	*out = c;
	return 0;
}

const char *
ipk_listener_url(const struct ipk_listener *l)
{
	return l ? l->url : NULL;
}

int
ipk_listener_fd(struct ipk_listener *l)
{
	if (!l)
		return ipk__err(-EINVAL, "listener is NULL");
	if (!l->tr->lfd)
		return ipk__err(
		    -ENOTSUP, "%s listeners have no descriptor", l->tr->scheme);
	return l->tr->lfd(l);
}

int
ipk_listener_close(struct ipk_listener *l)
{
	if (!l)
		return 0;
	l->tr->lclose(l);
	ipk__ledger_leave(l->ledger, chan_ledger_keep(l->keep, l->left));
	ipk__url_free(&l->u);
	ipk__free(l->url);
	ipk__free(l);
	return 0;
}

static int
chan_dial(const char *url, const struct ipk_opts *o, size_t extra,
    struct ipk_chan **out)
{
	if (!out)
		return ipk__err(-EINVAL, "dial: out is NULL");
	*out = NULL;
	struct ipk__url u;
	const struct ipk__transport *t;
	struct chan_common cc;
	int rv = chan_prepare(url, o, &u, &t, &cc);
	if (rv < 0)
		return rv;
	if (!extra && chan_is_pattern(&u)) {
		ipk__url_free(&u);
		return ipk__pattern_open(url, o, 0, out);
	}
	cc.max_msg += extra;
	struct ipk_chan *c = chan_alloc(t, url, &cc);
	if (!c) {
		ipk__url_free(&u);
		return -ENOMEM;
	}
	rv = t->dial(c, &u, ipk__deadline(cc.timeout_ms));
	if (rv < 0) {
		ipk__url_free(&u);
		if (rv == -ETIMEDOUT && cc.timeout_ms == 0)
			rv = -EAGAIN;
		ipk__err_prefix(url);
		t->close(c);
		chan_free(c);
		return rv;
	}
	chan_register(c, &u, url, IPK_ROLE_DIALER);
	ipk__url_free(&u);
	*out = c;
	return 0;
}

int
ipk_dial(const char *url, const struct ipk_opts *o, struct ipk_chan **out)
{
	ipk__err_clear();
	return chan_dial(url, o, 0, out);
}

int
ipk__dial_ex(const char *url, const struct ipk_opts *o, size_t extra,
    struct ipk_chan **out)
{
	return chan_dial(url, o, extra, out);
}

int
ipk_send(struct ipk_chan *c, const void *buf, size_t len, uint32_t type,
    int timeout_ms)
{
	ipk__err_clear();
	if (IPK__UNLIKELY(!c || (!buf && len) || c->closed))
		return ipk__err(-EINVAL, "send: %s",
		    !c		    ? "channel is NULL"
			: c->closed ? "channel is closed"
				    : "buffer is NULL");
	if (IPK__UNLIKELY(c->loaned))
		return ipk__err(-EBUSY,
		    "send: a loan is outstanding (call "
		    "ipk_commit first)");
	if (IPK__UNLIKELY(len > c->max_msg))
		return chan_done(c, chan_toobig(c, len), timeout_ms);
	int rv = c->tr->send(c, buf, len, type, ipk__deadline(timeout_ms));
	if (IPK__LIKELY(rv == 0)) {
		c->stats->msgs_sent++;
		c->stats->bytes_sent += len;
		return 0;
	}
	return chan_done(c, rv, timeout_ms);
}

int
ipk_recv(struct ipk_chan *c, void *buf, size_t cap, size_t *len, uint32_t *type,
    int timeout_ms)
{
	ipk__err_clear();
	if (IPK__UNLIKELY(!c || !len || (!buf && cap) || c->closed))
		return ipk__err(-EINVAL, "recv: %s",
		    !c		    ? "channel is NULL"
			: c->closed ? "channel is closed"
			: !len	    ? "len is NULL"
				    : "buffer is NULL");
	if (IPK__UNLIKELY(c->peeked))
		return ipk__err(-EBUSY,
		    "recv: a peeked message is still held "
		    "(call ipk_release first)");
	uint32_t t = 0;
	int rv = c->tr->recv(c, buf, cap, len, &t, ipk__deadline(timeout_ms));
	if (IPK__LIKELY(rv == 0)) {
		if (type)
			*type = t;
		c->stats->msgs_recv++;
		c->stats->bytes_recv += *len;
		return 0;
	}
	return chan_done(c, rv, timeout_ms);
}

int
ipk_recv_type(struct ipk_chan *c, uint32_t type, void *buf, size_t cap,
    size_t *len, int timeout_ms)
{
	ipk__err_clear();
	if (!c || !len || (!buf && cap) || c->closed)
		return ipk__err(-EINVAL, "recv_type: bad argument");
	if (!c->tr->recv_type)
		return ipk__err(-ENOTSUP,
		    "%s: %s cannot receive by type "
		    "(sysv can)",
		    c->url, c->tr->scheme);
	if (c->peeked)
		return ipk__err(-EBUSY,
		    "recv_type: a peeked message is "
		    "still held");
	int rv =
	    c->tr->recv_type(c, type, buf, cap, len, ipk__deadline(timeout_ms));
	if (rv == 0) {
		c->stats->msgs_recv++;
		c->stats->bytes_recv += *len;
		return 0;
	}
	return chan_done(c, rv, timeout_ms);
}

int
ipk_loan(struct ipk_chan *c, size_t len, void **buf, int timeout_ms)
{
	ipk__err_clear();
	if (buf)
		*buf = NULL;
	if (!c || !buf || c->closed)
		return ipk__err(-EINVAL, "loan: bad argument");
	if (c->loaned)
		return ipk__err(-EBUSY,
		    "loan: a loan is already outstanding "
		    "(commit it first)");
	if (len > c->max_msg)
		return chan_done(c, chan_toobig(c, len), timeout_ms);
	int rv;
	if (c->tr->loan) {
		rv = c->tr->loan(c, len, buf, ipk__deadline(timeout_ms));
		if (rv < 0) {
			*buf = NULL;
			return chan_done(c, rv, timeout_ms);
		}
	} else {
		/* Copy-through: a buffer of the channel's own, sent on commit.
		 */
		if (c->zc_loan_cap < len) {
			void *p = ipk__realloc(c->zc_loan, len);
			if (!p)
				return chan_done(c, -ENOMEM, timeout_ms);
			c->zc_loan = p;
			c->zc_loan_cap = len;
		}
		*buf = c->zc_loan;
	}
	c->zc_loan_len = len;
	c->loaned = 1;
	return 0;
}

int
ipk_commit(struct ipk_chan *c, size_t len, uint32_t type)
{
	ipk__err_clear();
	if (!c || c->closed)
		return ipk__err(-EINVAL, "commit: bad argument");
	if (!c->loaned)
		return ipk__err(-EINVAL, "commit: no loan outstanding");
	if (len > c->zc_loan_len)
		return ipk__err(-EINVAL,
		    "commit: %zu bytes is more than the "
		    "%zu loaned",
		    len, c->zc_loan_len);
	int rv;
	if (c->tr->commit)
		rv = c->tr->commit(c, len, type);
	else
		rv = c->tr->send(c, c->zc_loan, len, type, IPK__FOREVER);
	c->loaned = 0;
	if (rv < 0)
		return chan_done(c, rv, -1);
	c->stats->msgs_sent++;
	c->stats->bytes_sent += len;
	return 0;
}

/* Copy-through peek: receive into the channel's buffer, growing it to the
 * size the transport says it needs (never over max_msg). */
static int
chan_peek_copy(struct ipk_chan *c, int64_t deadline)
{
	for (;;) {
		size_t need = 0;
		uint32_t t = 0;
		int rv = c->tr->recv(
		    c, c->zc_peek, c->zc_peek_cap, &need, &t, deadline);
		if (rv == 0) {
			c->zc_peek_len = need;
			c->zc_peek_type = t;
			return 0;
		}
		if (rv != -EMSGSIZE || need <= c->zc_peek_cap ||
		    need > c->max_msg)
			return rv;
		void *p = ipk__realloc(c->zc_peek, need);
		if (!p)
			return -ENOMEM;
		c->zc_peek = p;
		c->zc_peek_cap = need;
	}
}

int
ipk_peek(struct ipk_chan *c, const void **buf, size_t *len, uint32_t *type,
    int timeout_ms)
{
	ipk__err_clear();
	if (buf)
		*buf = NULL;
	if (!c || !buf || !len || c->closed)
		return ipk__err(-EINVAL, "peek: bad argument");
	if (c->peeked)
		return ipk__err(-EBUSY,
		    "peek: a peeked message is still held "
		    "(call ipk_release first)");
	int64_t deadline = ipk__deadline(timeout_ms);
	int rv;
	uint32_t t = 0;
	if (c->tr->peek) {
		rv = c->tr->peek(c, buf, len, &t, deadline);
	} else {
		if (!c->zc_peek) {
			c->zc_peek = ipk__malloc(4096);
			if (!c->zc_peek)
				return chan_done(c, -ENOMEM, timeout_ms);
			c->zc_peek_cap = 4096;
		}
		rv = chan_peek_copy(c, deadline);
		if (rv == 0) {
			*buf = c->zc_peek;
			*len = c->zc_peek_len;
			t = c->zc_peek_type;
		}
	}
	if (rv < 0) {
		*buf = NULL;
		return chan_done(c, rv, timeout_ms);
	}
	if (type)
		*type = t;
	c->peeked = 1;
	c->stats->msgs_recv++;
	c->stats->bytes_recv += *len;
	return 0;
}

int
ipk_release(struct ipk_chan *c)
{
	ipk__err_clear();
	if (!c || c->closed)
		return ipk__err(-EINVAL, "release: bad argument");
	if (!c->peeked)
		return ipk__err(-EINVAL, "release: no message is peeked");
	int rv = c->tr->release ? c->tr->release(c) : 0;
	c->peeked = 0;
	return rv < 0 ? chan_done(c, rv, -1) : 0;
}

int
ipk_drain(struct ipk_chan *c, int timeout_ms)
{
	ipk__err_clear();
	if (!c || c->closed)
		return ipk__err(-EINVAL, "drain: bad argument");
	if (c->loaned)
		return ipk__err(-EBUSY,
		    "drain: a loan is outstanding (call "
		    "ipk_commit first)");
	if (!c->tr->drain)
		return 0;
	return chan_done(
	    c, c->tr->drain(c, ipk__deadline(timeout_ms)), timeout_ms);
}

int
ipk_fd(struct ipk_chan *c)
{
	if (!c || c->closed)
		return ipk__err(-EINVAL, "fd: bad argument");
	return c->tr->fd(c);
}

int
ipk_stats(struct ipk_chan *c, struct ipk_stats *out)
{
	if (!c || !out)
		return ipk__err(-EINVAL, "stats: bad argument");
	*out = *c->stats;
	return 0;
}

int
ipk_peer(struct ipk_chan *c, struct ipk_peer *out)
{
	if (!c || !out || c->closed)
		return ipk__err(-EINVAL, "peer: bad argument");
	if (!c->tr->peer)
		return ipk__err(-ENOTSUP,
		    "%s channels do not know the "
		    "peer's credentials",
		    c->tr->scheme);
	return c->tr->peer(c, out);
}

/* A pattern channel answers for the transport under it. */
static const struct ipk__transport *
chan_base(struct ipk_chan *c)
{
	return c->tr == &ipk__pattern_tr ? ipk__pattern_base(c) : c->tr;
}

unsigned
ipk_caps(struct ipk_chan *c)
{
	return c ? chan_base(c)->caps : 0;
}

const char *
ipk_scheme(struct ipk_chan *c)
{
	return c ? chan_base(c)->scheme : NULL;
}

const char *
ipk_url(struct ipk_chan *c)
{
	return c ? c->url : NULL;
}

size_t
ipk_max_msg(struct ipk_chan *c)
{
	return c ? c->max_msg : 0;
}

int
ipk_close(struct ipk_chan *c)
{
	if (!c)
		return 0;
	c->closed = 1;
	c->tr->close(c);
	chan_free(c);
	return 0;
}
