/* SPDX-License-Identifier: MIT */
/*
 * subj_peer.c - peer libraries measured on the same terms as ipckit:
 * ZeroMQ PAIR and nng pair0, each over ipc:// and tcp:// (loopback). Each is
 * compiled only when CMake found it (IPK_BENCH_HAVE_ZMQ, IPK_BENCH_HAVE_NNG);
 * otherwise its row says which package to install. Also nng's pub0/sub0
 * for the fan-out rows of --patterns (bench_psops). iceoryx lives in
 * subj_iceoryx.c.
 */
#include "bench.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#ifdef IPK_BENCH_HAVE_ZMQ
#include <zmq.h>
#endif
#ifdef IPK_BENCH_HAVE_NNG
#include <nng/nng.h>
#include <nng/protocol/pair0/pair.h>
#include <nng/protocol/pubsub0/pub.h>
#include <nng/protocol/pubsub0/sub.h>
#endif

#if defined(IPK_BENCH_HAVE_ZMQ) || defined(IPK_BENCH_HAVE_NNG)
/* An address for this run: "ipc" or "tcp" in s->arg. */
static void
peer_url(const struct bench_subject *s, const char *prefix, char *url,
    size_t cap, int wildcard)
{
	static int seq;
	if (!strcmp(s->arg, "tcp"))
		snprintf(url, cap, "tcp://127.0.0.1:%s", wildcard ? "*" : "0");
	else
		snprintf(url, cap, "ipc:///tmp/ipkb-%s-%ld-%d", prefix,
		    (long)getpid(), ++seq);
}
#endif

/* --- ZeroMQ PAIR --------------------------------------------------------- */

#ifdef IPK_BENCH_HAVE_ZMQ
struct zmqb_state {
	void *ctx[2], *sock[2];
	char path[128]; /* ipc socket file to remove */
};

static int
zmqb_fail(struct bench_conn *c, const char *what)
{
	int e = zmq_errno();
	return bench_fail(c, -e, "%s: %s", what, zmq_strerror(e));
}

static int
zmqb_prepare(struct bench_conn *c)
{
	c->p = calloc(1, sizeof(struct zmqb_state));
	return c->p ? 0 : bench_fail(c, -ENOMEM, "out of memory");
}

/* The context is made after the fork, in the process that uses it. */
static int
zmqb_socket(struct bench_conn *c)
{
	struct zmqb_state *st = c->p;
	int hwm = 64, tmo = BENCH_OP_MS, linger = 0;
	if (!(st->ctx[c->side] = zmq_ctx_new()))
		return zmqb_fail(c, "zmq_ctx_new");
	if (!(st->sock[c->side] = zmq_socket(st->ctx[c->side], ZMQ_PAIR)))
		return zmqb_fail(c, "zmq_socket");
	void *s = st->sock[c->side];
	zmq_setsockopt(s, ZMQ_SNDHWM, &hwm, sizeof(hwm));
	zmq_setsockopt(s, ZMQ_RCVHWM, &hwm, sizeof(hwm));
	zmq_setsockopt(s, ZMQ_SNDTIMEO, &tmo, sizeof(tmo));
	zmq_setsockopt(s, ZMQ_RCVTIMEO, &tmo, sizeof(tmo));
	zmq_setsockopt(s, ZMQ_LINGER, &linger, sizeof(linger));
	return 0;
}

static int
zmqb_listen(struct bench_conn *c, char *url, size_t cap)
{
	struct zmqb_state *st = c->p;
	int rv;
	if ((rv = zmqb_socket(c)) < 0)
		return rv;
	peer_url(c->s, "zmq", url, cap, 1);
	if (zmq_bind(st->sock[0], url) < 0)
		return zmqb_fail(c, url);
	size_t len = cap;
	if (zmq_getsockopt(st->sock[0], ZMQ_LAST_ENDPOINT, url, &len) < 0)
		return zmqb_fail(c, "ZMQ_LAST_ENDPOINT");
	if (!strncmp(url, "ipc://", 6))
		snprintf(st->path, sizeof(st->path), "%s", url + 6);
	c->pollable = 1; /* ZMQ_FD, edge-triggered */
	return 0;
}

static int
zmqb_accept(struct bench_conn *c)
{
	(void)c;
	return 0; /* PAIR connects in the background */
}

static int
zmqb_dial(struct bench_conn *c, const char *url)
{
	struct zmqb_state *st = c->p;
	int rv;
	if ((rv = zmqb_socket(c)) < 0)
		return rv;
	if (zmq_connect(st->sock[1], url) < 0)
		return zmqb_fail(c, url);
	return 0;
}

static int
zmqb_send(struct bench_conn *c, const void *buf, size_t len)
{
	struct zmqb_state *st = c->p;
	while (zmq_send(st->sock[c->side], buf, len, 0) < 0)
		if (zmq_errno() != EINTR)
			return zmqb_fail(c, "zmq_send");
	return 0;
}

static int
zmqb_recv(struct bench_conn *c, void *buf, size_t len)
{
	struct zmqb_state *st = c->p;
	int n;
	while ((n = zmq_recv(st->sock[c->side], buf, len, 0)) < 0)
		if (zmq_errno() != EINTR)
			return zmqb_fail(c, "zmq_recv");
	if ((size_t)n > len)
		return bench_fail(c, -EMSGSIZE,
		    "zmq_recv: %d-byte message, "
		    "%zu expected",
		    n, len);
	return n;
}

static void
zmqb_close(struct bench_conn *c)
{
	struct zmqb_state *st = c->p;
	if (!st)
		return;
	if (st->sock[c->side])
		zmq_close(st->sock[c->side]);
	if (st->ctx[c->side])
		zmq_ctx_term(st->ctx[c->side]);
	st->sock[c->side] = st->ctx[c->side] = NULL;
}

static void
zmqb_finish(struct bench_conn *c)
{
	struct zmqb_state *st = c->p;
	if (!st)
		return;
	zmqb_close(c);
	if (st->path[0])
		unlink(st->path);
	free(st);
	c->p = NULL;
}

static const struct bench_ops zmqb_ops = {
    .prepare = zmqb_prepare,
    .listen = zmqb_listen,
    .accept = zmqb_accept,
    .dial = zmqb_dial,
    .send = zmqb_send,
    .recv = zmqb_recv,
    .close = zmqb_close,
    .finish = zmqb_finish,
};
#endif

/* --- nng pair0 ----------------------------------------------------------- */

#ifdef IPK_BENCH_HAVE_NNG
struct nngb_state {
	nng_socket sock[2];
	int open[2];
	char path[128];
};

static int
nngb_fail(struct bench_conn *c, int e, const char *what)
{
	return bench_fail(c, -EIO, "%s: %s", what, nng_strerror(e));
}

static int
nngb_prepare(struct bench_conn *c)
{
	c->p = calloc(1, sizeof(struct nngb_state));
	return c->p ? 0 : bench_fail(c, -ENOMEM, "out of memory");
}

static int
nngb_socket(struct bench_conn *c)
{
	struct nngb_state *st = c->p;
	int e;
	if ((e = nng_pair0_open(&st->sock[c->side])) != 0)
		return nngb_fail(c, e, "nng_pair0_open");
	st->open[c->side] = 1;
	nng_socket s = st->sock[c->side];
	nng_socket_set_ms(s, NNG_OPT_SENDTIMEO, BENCH_OP_MS);
	nng_socket_set_ms(s, NNG_OPT_RECVTIMEO, BENCH_OP_MS);
	/* nng drops messages over 1 MiB by default. */
	nng_socket_set_size(s, NNG_OPT_RECVMAXSZ, 0);
	return 0;
}

static int
nngb_listen(struct bench_conn *c, char *url, size_t cap)
{
	struct nngb_state *st = c->p;
	nng_listener l;
	int rv, e;
	if ((rv = nngb_socket(c)) < 0)
		return rv;
	peer_url(c->s, "nng", url, cap, 0);
	if ((e = nng_listen(st->sock[0], url, &l, 0)) != 0)
		return nngb_fail(c, e, url);
	if (!strcmp(c->s->arg, "tcp")) {
		int port = 0;
		if ((e = nng_listener_get_int(
			 l, NNG_OPT_TCP_BOUND_PORT, &port)) != 0)
			return nngb_fail(c, e, "NNG_OPT_TCP_BOUND_PORT");
		snprintf(url, cap, "tcp://127.0.0.1:%d", port);
	} else {
		snprintf(st->path, sizeof(st->path), "%s", url + 6);
	}
	c->pollable = 1; /* NNG_OPT_RECVFD */
	return 0;
}

static int
nngb_accept(struct bench_conn *c)
{
	(void)c;
	return 0;
}

static int
nngb_dial(struct bench_conn *c, const char *url)
{
	struct nngb_state *st = c->p;
	int rv, e;
	if ((rv = nngb_socket(c)) < 0)
		return rv;
	if ((e = nng_dial(st->sock[1], url, NULL, 0)) != 0)
		return nngb_fail(c, e, url);
	return 0;
}

static int
nngb_send(struct bench_conn *c, const void *buf, size_t len)
{
	struct nngb_state *st = c->p;
	int e = nng_send(st->sock[c->side], (void *)buf, len, 0);
	return e ? nngb_fail(c, e, "nng_send") : 0;
}

static int
nngb_recv(struct bench_conn *c, void *buf, size_t len)
{
	struct nngb_state *st = c->p;
	size_t n = len;
	int e = nng_recv(st->sock[c->side], buf, &n, 0);
	if (e)
		return nngb_fail(c, e, "nng_recv");
	return (int)n;
}

static void
nngb_close(struct bench_conn *c)
{
	struct nngb_state *st = c->p;
	if (st && st->open[c->side]) {
		nng_close(st->sock[c->side]);
		st->open[c->side] = 0;
	}
}

static void
nngb_finish(struct bench_conn *c)
{
	struct nngb_state *st = c->p;
	if (!st)
		return;
	nngb_close(c);
	if (st->path[0])
		unlink(st->path);
	free(st);
	c->p = NULL;
}

static const struct bench_ops nngb_ops = {
    .prepare = nngb_prepare,
    .listen = nngb_listen,
    .accept = nngb_accept,
    .dial = nngb_dial,
    .send = nngb_send,
    .recv = nngb_recv,
    .close = nngb_close,
    .finish = nngb_finish,
};
#endif

/* --- nng pub0/sub0: the fan-out adapter of the pattern rows ------------ */

#ifdef IPK_BENCH_HAVE_NNG
struct pbn_state {
	nng_socket s;
	int open;
	int timeo; /* the receive timeout set, ms */
};

static int
pbn_fail(struct bench_ps *ps, int rv, const char *what)
{
	snprintf(ps->err, sizeof(ps->err), "%s: %s", what, nng_strerror(rv));
	return rv == NNG_ETIMEDOUT ? -ETIMEDOUT : -EIO;
}

static int
pbn_pub_open(struct bench_ps *ps, char *addr, size_t cap)
{
	static struct pbn_state st;
	nng_listener l;
	int rv, port = 0;
	ps->p = &st;
	if ((rv = nng_pub0_open(&st.s)) != 0)
		return pbn_fail(ps, rv, "nng_pub0_open");
	st.open = 1;
	/* The most messages nng queues per subscriber before it drops. */
	(void)nng_socket_set_int(st.s, NNG_OPT_SENDBUF, 8192);
	/* The coordinator removes the path after the row. */
	if (!strcmp(ps->arg, "ipc"))
		snprintf(
		    addr, cap, "ipc:///tmp/ipkb-nngps-%ld", (long)getpid());
	else
		snprintf(addr, cap, "tcp://127.0.0.1:0");
	if ((rv = nng_listener_create(&l, st.s, addr)) != 0 ||
	    (rv = nng_listener_start(l, 0)) != 0)
		return pbn_fail(ps, rv, addr);
	if (strcmp(ps->arg, "ipc")) {
		if ((rv = nng_listener_get_int(
			 l, NNG_OPT_TCP_BOUND_PORT, &port)) != 0)
			return pbn_fail(ps, rv, "bound port");
		snprintf(addr, cap, "tcp://127.0.0.1:%d", port);
	}
	return 0;
}

static int
pbn_pub_send(struct bench_ps *ps, const void *buf, size_t len, int timeout_ms)
{
	struct pbn_state *st = ps->p;
	(void)timeout_ms; /* pub0 never waits: it drops */
	int rv = nng_send(st->s, (void *)buf, len, 0);
	return rv ? pbn_fail(ps, rv, "nng_send") : 0;
}

static int
pbn_sub_open(struct bench_ps *ps, const char *addr)
{
	static struct pbn_state st;
	int rv;
	ps->p = &st;
	if ((rv = nng_sub0_open(&st.s)) != 0)
		return pbn_fail(ps, rv, "nng_sub0_open");
	st.open = 1;
	(void)nng_socket_set_int(st.s, NNG_OPT_RECVBUF, 8192);
	if ((rv = nng_socket_set(st.s, NNG_OPT_SUB_SUBSCRIBE, "", 0)) != 0)
		return pbn_fail(ps, rv, "subscribe");
	if ((rv = nng_dial(st.s, addr, NULL, 0)) != 0)
		return pbn_fail(ps, rv, addr);
	return 0;
}

static int
pbn_sub_recv(
    struct bench_ps *ps, void *buf, size_t cap, size_t *len, int timeout_ms)
{
	struct pbn_state *st = ps->p;
	if (st->timeo != timeout_ms) {
		nng_socket_set_ms(st->s, NNG_OPT_RECVTIMEO, timeout_ms);
		st->timeo = timeout_ms;
	}
	*len = cap;
	int rv = nng_recv(st->s, buf, len, 0);
	if (rv == NNG_ETIMEDOUT)
		return -ETIMEDOUT;
	return rv ? pbn_fail(ps, rv, "nng_recv") : 0;
}

static void
pbn_close(struct bench_ps *ps)
{
	struct pbn_state *st = ps->p;
	if (st && st->open)
		nng_close(st->s);
	if (st)
		st->open = 0;
	ps->p = NULL;
}

static const struct bench_psops pbn_ops = {
    .pub_open = pbn_pub_open,
    .pub_send = pbn_pub_send,
    .sub_open = pbn_sub_open,
    .sub_recv = pbn_sub_recv,
    .close = pbn_close,
};
#endif

const struct bench_psops *
bench_psops_nng(void)
{
#ifdef IPK_BENCH_HAVE_NNG
	return &pbn_ops;
#else
	return NULL;
#endif
}

/* --- the rows ----------------------------------------------------------- */

static void
peer_row(struct bench_subject *r, const char *name, const char *arg,
    const struct bench_ops *o, const char *missing)
{
	int tcp = !strcmp(arg, "tcp");
	memset(r, 0, sizeof(*r));
	snprintf(r->name, sizeof(r->name), "%s", name);
	snprintf(r->arg, sizeof(r->arg), "%s", arg);
	r->kind = BENCH_PEER;
	r->ops = o;
	r->wait = tcp ? "block (I/O thread, tcp)" : "block (I/O thread, ipc)";
	r->props = (struct bench_props){
	    0, 1, 1, "2+ (kernel + library queues)", tcp, 1, 1};
	if (!o) {
		r->status = BENCH_NOT_BUILT;
		snprintf(r->reason, sizeof(r->reason), "%s", missing);
	}
}

int
bench_subjects_peer(struct bench_subject *rows, int cap)
{
	const struct bench_ops *zo = NULL, *no = NULL;
#ifdef IPK_BENCH_HAVE_ZMQ
	zo = &zmqb_ops;
#endif
#ifdef IPK_BENCH_HAVE_NNG
	no = &nngb_ops;
#endif
	int n = 0;
	if (cap < 5)
		return 0;
	peer_row(&rows[n++], "zmq/ipc", "ipc", zo, "install libzmq3-dev");
	peer_row(&rows[n++], "zmq/tcp", "tcp", zo, "install libzmq3-dev");
	peer_row(&rows[n++], "nng/ipc", "ipc", no, "install libnng-dev");
	peer_row(&rows[n++], "nng/tcp", "tcp", no, "install libnng-dev");
	n += bench_subjects_iceoryx(rows + n, cap - n);
	return n;
}
