/* SPDX-License-Identifier: MIT */
/*
 * pattern.c - many peers behind one channel: publish/subscribe,
 * request/reply and push/pull (ipk_bind, and ipk_dial with ?pattern=), over
 * any transport with IPK_CAP_PATTERNS. A pattern channel is a struct
 * ipk_chan whose table is ipk__pattern_tr; it holds a listener (bound) or
 * one dialed channel, and the plain channels of its peers ("children"),
 * driven through their transport's ops. One epoll descriptor watches them
 * all and is the channel's ipk_fd. No thread: peers are admitted and
 * queues moved inside the calls (pat_pump).
 *
 * Wire, inside each transport's own framing:
 *   pub -> sub   ipckit framing: u64 big-endian sequence number, then the
 *                message; SP (nng): the message alone, as pub0 sends it.
 *                Topics are prefixes of the message, filtered by the
 *                subscriber (as sub0 does).
 *   req -> rep   u32 big-endian request id with the high bit set, then the
 *                request (req0's header). A rep reads words up to the one
 *                with the high bit (the backtrace of nng devices, at most
 *                PAT_BT_MAX) and puts them back in front of the reply.
 *   push -> pull the message alone.
 * So unix/tcp and nng+* differ only in pub's sequence header, which lets an
 * ipckit subscriber count exactly what it lost.
 */
#include "core/testhook.h"
#include "core/transport.h"

#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <unistd.h>

enum { PAT_PUB = 1, PAT_SUB, PAT_REQ, PAT_REP, PAT_PUSH, PAT_PULL };

#define PAT_EXTRA 64 /* room above max_msg for a pattern header */
#define PAT_SEQ 8 /* pub -> sub sequence header (ipckit framing) */
#define PAT_BT_MAX 8 /* rep: backtrace words (nng's default TTL) */
#define PAT_TOPICS 64
#define PAT_QUEUE 1024 /* default ?queue= */
#define PAT_QUEUE_MAX 1048576
#define PAT_KEEP 64 /* rep: requests remembered for ipk_reply */
#define PAT_EVENTS 64
#define PAT_BURST 256 /* messages read per call before others get a turn */
#define PAT_ID_BIT 0x80000000u

const char *const ipk__pattern_opts[] = {
    "pattern", "topic", "slow", "history", "queue", NULL};

static const char *const pat_roles[] = {
    NULL, "pub", "sub", "req", "rep", "push", "pull"};

/* A message on its way out, shared by every queue that holds it. */
struct pat_msg {
	unsigned ref;
	uint32_t type;
	size_t len; /* wire bytes in data */
	unsigned char data[];
};

struct pat_child {
	struct ipk_chan *c;
	uint32_t serial; /* never 0 (the listener's epoll tag) */
	struct pat_msg **q; /* ring of qmax messages not yet sent */
	size_t qhead, qlen;
	int armed; /* EPOLLOUT is watched */
	int rd; /* epoll said readable */
	uint64_t next_seq; /* sub: the sequence number expected */
	int have_seq;
};

/* A request a rep received: its client and backtrace (bt[n-1] is the id). */
struct pat_req {
	uint32_t serial, n;
	uint32_t bt[PAT_BT_MAX];
};

struct pat {
	pthread_mutex_t mu;
	int role, bound, sp, block;
	const struct ipk__transport *base;
	struct ipk_chan *self;
	struct ipk_listener *l;
	struct pat_child *ch;
	size_t nch, chcap, rr;
	uint32_t next_serial;
	int epfd;
	int dead; /* dialer: what its peer's end left (IPK_ECLOSED, ...) */
	size_t qmax;
	/* pub */
	struct pat_msg **hist;
	size_t hmax, hhead, hlen;
	uint64_t seq;
	/* sub */
	struct {
		unsigned char *p;
		size_t len;
	} topic[PAT_TOPICS];
	size_t ntopic;
	/* The message received and not yet taken (held), in rbuf. */
	unsigned char *rbuf;
	size_t rcap;
	int held;
	size_t hoff, hlen_msg;
	uint32_t htype;
	unsigned char *tbuf; /* req: the request with its id */
	size_t tcap;
	/* req */
	int req_out, req_lost;
	uint32_t req_id, req_serial;
	/* rep */
	struct pat_req keep[PAT_KEEP], cur;
	size_t nkeep;
	int have_cur, have_last;
	uint64_t last_id;
};

static struct pat *
pat_of(struct ipk_chan *c)
{
	return ipk__chan_priv(c);
}

const struct ipk__transport *
ipk__pattern_base(struct ipk_chan *c)
{
	return pat_of(c)->base;
}

static void
pat_put32(unsigned char *p, uint32_t v)
{
	p[0] = (unsigned char)(v >> 24);
	p[1] = (unsigned char)(v >> 16);
	p[2] = (unsigned char)(v >> 8);
	p[3] = (unsigned char)v;
}

static uint32_t
pat_get32(const unsigned char *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 |
	    (uint32_t)p[2] << 8 | p[3];
}

/* --- Messages and queues ------------------------------------------------ */

static struct pat_msg *
pat_msg_new(
    const void *hdr, size_t hl, const void *body, size_t len, uint32_t type)
{
	struct pat_msg *m = ipk__malloc(sizeof(*m) + hl + len);
	if (!m)
		return NULL;
	m->ref = 1;
	m->type = type;
	m->len = hl + len;
	if (hl)
		memcpy(m->data, hdr, hl);
	if (len)
		memcpy(m->data + hl, body, len);
	return m;
}

static void
pat_msg_unref(struct pat_msg *m)
{
	if (m && --m->ref == 0)
		ipk__free(m);
}

static int
pat_find(const struct pat *p, uint32_t serial)
{
	for (size_t i = 0; i < p->nch; i++)
		if (p->ch[i].serial == serial)
			return (int)i;
	return -1;
}

/* Watch EPOLLOUT exactly while the child has a queue. */
static void
pat_arm(struct pat *p, struct pat_child *ch)
{
	int want = ch->qlen > 0;
	if (want == ch->armed)
		return;
	struct epoll_event ev = {
	    .events = EPOLLIN | (want ? EPOLLOUT : 0),
	    .data.u32 = ch->serial,
	};
	if (epoll_ctl(p->epfd, EPOLL_CTL_MOD, ch->c->tr->fd(ch->c), &ev) == 0)
		ch->armed = want;
}

/* Forget child i (its peer left, broke the protocol, or we close). A
 * dialer's only child leaves `err` for every later call. */
static void
pat_drop(struct pat *p, size_t i, int err)
{
	struct pat_child *ch = &p->ch[i];
	int fd = ch->c->tr->fd(ch->c);
	if (fd >= 0)
		(void)epoll_ctl(p->epfd, EPOLL_CTL_DEL, fd, NULL);
	for (size_t k = 0; k < ch->qlen; k++)
		pat_msg_unref(ch->q[(ch->qhead + k) % p->qmax]);
	ipk__free(ch->q);
	if (p->role == PAT_REQ && p->req_out && ch->serial == p->req_serial)
		p->req_lost = 1;
	(void)ipk_close(ch->c);
	p->ch[i] = p->ch[--p->nch];
	if (!p->bound && !p->dead)
		p->dead = err < 0 && err != -ETIMEDOUT ? err : IPK_ECLOSED;
}

/* Send what child i has queued, as far as its socket takes it now. */
static int
pat_flush(struct pat *p, struct pat_child *ch)
{
	while (ch->qlen) {
		struct pat_msg *m = ch->q[ch->qhead];
		int rv = ch->c->tr->send(ch->c, m->data, m->len, m->type, 0);
		if (rv == -ETIMEDOUT)
			break;
		if (rv < 0)
			return rv;
		ch->c->stats->msgs_sent++;
		ch->c->stats->bytes_sent += m->len;
		ch->q[ch->qhead] = NULL;
		ch->qhead = (ch->qhead + 1) % p->qmax;
		ch->qlen--;
		pat_msg_unref(m);
	}
	pat_arm(p, ch);
	return 0;
}

/* Give m to child i: at once when nothing waits before it, else queued;
 * a full queue loses its oldest (the caller has waited for room under
 * ?slow=block). An error means the child is broken. */
static int
pat_give(struct pat *p, struct pat_child *ch, struct pat_msg *m)
{
	if (ch->qlen == 0) {
		int rv = ch->c->tr->send(ch->c, m->data, m->len, m->type, 0);
		if (rv == 0) {
			ch->c->stats->msgs_sent++;
			ch->c->stats->bytes_sent += m->len;
			return 0;
		}
		if (rv != -ETIMEDOUT)
			return rv;
	}
	if (ch->qlen == p->qmax) {
		pat_msg_unref(ch->q[ch->qhead]);
		ch->qhead = (ch->qhead + 1) % p->qmax;
		ch->qlen--;
		ch->c->stats->gaps++;
		p->self->stats->gaps++;
	}
	m->ref++;
	ch->q[(ch->qhead + ch->qlen) % p->qmax] = m;
	ch->qlen++;
	pat_arm(p, ch);
	return 0;
}

/* Take channel c as a child: watched, with a queue where the role sends
 * many messages (pub, rep), and pub's history to begin with. */
static int
pat_add(struct pat *p, struct ipk_chan *c)
{
	if (p->nch == p->chcap) {
		size_t n = p->chcap ? 2 * p->chcap : 8;
		void *a = ipk__realloc(p->ch, n * sizeof(*p->ch));
		if (!a)
			goto err;
		p->ch = a;
		p->chcap = n;
	}
	struct pat_child *ch = &p->ch[p->nch];
	memset(ch, 0, sizeof(*ch));
	ch->c = c;
	if (++p->next_serial == 0)
		p->next_serial = 1;
	ch->serial = p->next_serial;
	if (p->role == PAT_PUB || p->role == PAT_REP) {
		ch->q = ipk__calloc(p->qmax, sizeof(struct pat_msg *));
		if (!ch->q)
			goto err;
	}
	struct epoll_event ev = {.events = EPOLLIN, .data.u32 = ch->serial};
	if (epoll_ctl(p->epfd, EPOLL_CTL_ADD, c->tr->fd(c), &ev) < 0) {
		ipk__free(ch->q);
		goto err;
	}
	p->nch++;
	for (size_t k = 0; k < p->hlen; k++)
		if (pat_give(p, ch, p->hist[(p->hhead + k) % p->hmax]) < 0) {
			pat_drop(p, p->nch - 1, 0);
			return 0;
		}
	return 0;
err:
	(void)ipk_close(c);
	return -ENOMEM;
}

/* Admit every peer waiting at the listener (a few per call). */
static void
pat_accept(struct pat *p)
{
	for (int k = 0; p->l && k < 16; k++) {
		struct ipk_chan *c;
		if (ipk_accept(p->l, 0, &c) < 0 || pat_add(p, c) < 0)
			break;
	}
}

/* Read one message of child ch into rbuf: 0 (*len, *type set), -ETIMEDOUT
 * when none is there, 1 when the transport dropped one over the limit, or
 * the child's error. */
static int
pat_read(struct pat *p, struct pat_child *ch, size_t *len, uint32_t *type)
{
	for (;;) {
		size_t need = 0;
		int rv =
		    ch->c->tr->recv(ch->c, p->rbuf, p->rcap, &need, type, 0);
		if (rv == 0) {
			*len = need;
			ch->c->stats->msgs_recv++;
			ch->c->stats->bytes_recv += need;
			return 0;
		}
		if (rv != -EMSGSIZE)
			return rv;
		if (need > ch->c->max_msg || need <= p->rcap) {
			p->self->stats->errors++;
			return 1;
		}
		void *b = ipk__realloc(p->rbuf, IPK__MAX(need, (size_t)4096));
		if (!b)
			return -ENOMEM;
		p->rbuf = b;
		p->rcap = IPK__MAX(need, (size_t)4096);
	}
}

/* Peers of pub and push never speak: whatever comes is read and dropped,
 * so that their end of the connection is seen. */
static void
pat_discard(struct pat *p, size_t i)
{
	for (int k = 0; k < PAT_BURST; k++) {
		size_t len;
		uint32_t t;
		int rv = pat_read(p, &p->ch[i], &len, &t);
		if (rv == -ETIMEDOUT)
			return;
		if (rv < 0) {
			pat_drop(p, i, rv);
			return;
		}
	}
}

/* Handle what the descriptors say, without waiting. */
static void
pat_pump(struct pat *p)
{
	struct epoll_event ev[PAT_EVENTS];
	int n = epoll_wait(p->epfd, ev, PAT_EVENTS, 0);
	for (int k = 0; k < n; k++) {
		if (ev[k].data.u32 == 0) {
			pat_accept(p);
			continue;
		}
		int i = pat_find(p, ev[k].data.u32);
		if (i < 0)
			continue;
		struct pat_child *ch = &p->ch[i];
		if ((ev[k].events & (EPOLLOUT | EPOLLERR)) &&
		    pat_flush(p, ch) < 0) {
			pat_drop(p, (size_t)i, IPK_ECLOSED);
			continue;
		}
		if (ev[k].events & (EPOLLIN | EPOLLHUP | EPOLLERR)) {
			ch->rd = 1;
			if (p->role == PAT_PUB || p->role == PAT_PUSH)
				pat_discard(p, (size_t)i);
		}
	}
}

/* Sleep until the channel may have news, at most one slice, the lock
 * given up meanwhile (a sending and a receiving thread may share it). */
static void
pat_wait(struct pat *p, int fd, short events, int64_t deadline)
{
	struct pollfd pf = {.fd = fd, .events = events};
	pthread_mutex_unlock(&p->mu);
	(void)poll(&pf, 1, ipk__poll_ms(deadline, IPK__SLICE_MS));
	pthread_mutex_lock(&p->mu);
}

/* --- Receiving ---------------------------------------------------------- */

static int
pat_topic_match(const struct pat *p, const unsigned char *b, size_t len)
{
	if (p->ntopic == 0)
		return 1;
	for (size_t i = 0; i < p->ntopic; i++)
		if (p->topic[i].len <= len &&
		    !memcmp(p->topic[i].p, b, p->topic[i].len))
			return 1;
	return 0;
}

/* Take the message child ch sent (in rbuf) as the role says: 1 held for
 * the caller, 0 not for us (filtered, stale), -EBADMSG: the peer broke the
 * protocol. Every field is the peer's: checked before use. */
static int
pat_take(struct pat *p, struct pat_child *ch, size_t len, uint32_t type)
{
	const unsigned char *b = p->rbuf;
	size_t off = 0;
	switch (p->role) {
	case PAT_SUB:
		if (!p->sp) {
			if (IPK__CHECK("pattern.sub_short", len < PAT_SEQ))
				return ipk__err(-EBADMSG,
				    "publisher sent %zu bytes, less than "
				    "its %d-byte sequence header",
				    len, PAT_SEQ);
			uint64_t seq =
			    (uint64_t)pat_get32(b) << 32 | pat_get32(b + 4);
			if (IPK__CHECK("pattern.sub_seq",
				ch->have_seq && seq < ch->next_seq))
				return ipk__err(-EBADMSG,
				    "publisher's sequence went back from "
				    "%llu to %llu",
				    (unsigned long long)ch->next_seq,
				    (unsigned long long)seq);
			if (ch->have_seq && seq > ch->next_seq) {
				ch->c->stats->gaps += seq - ch->next_seq;
				p->self->stats->gaps += seq - ch->next_seq;
			}
			ch->next_seq = seq + 1;
			ch->have_seq = 1;
			off = PAT_SEQ;
		}
		if (!pat_topic_match(p, b + off, len - off))
			return 0;
		break;
	case PAT_REQ: {
		if (IPK__CHECK("pattern.req_short", len < 4))
			return ipk__err(-EBADMSG,
			    "reply of %zu bytes has no request id", len);
		uint32_t id = pat_get32(b);
		if (!p->req_out || ch->serial != p->req_serial ||
		    id != p->req_id)
			return 0; /* a late reply to a request given up */
		p->req_out = 0;
		off = 4;
		break;
	}
	case PAT_REP: {
		struct pat_req r = {.serial = ch->serial};
		for (;;) {
			if (IPK__CHECK("pattern.rep_bt",
				off + 4 > len || r.n == PAT_BT_MAX))
				return ipk__err(-EBADMSG,
				    "request without a valid id (%zu bytes, "
				    "%u hops read; at most %d)",
				    len, r.n, PAT_BT_MAX - 1);
			uint32_t w = pat_get32(b + off);
			off += 4;
			r.bt[r.n++] = w;
			if (w & PAT_ID_BIT)
				break;
		}
		p->cur = r;
		p->have_cur = 1;
		p->keep[p->nkeep++ % PAT_KEEP] = r;
		p->have_last = 1;
		p->last_id = (uint64_t)r.serial << 32 | r.bt[r.n - 1];
		break;
	}
	default:
		break;
	}
	p->held = 1;
	p->hoff = off;
	p->hlen_msg = len - off;
	p->htype = type;
	return 1;
}

/* Read from the children, each in turn, until a message is held. */
static void
pat_fill(struct pat *p)
{
	int budget = PAT_BURST;
	size_t i = 0;
	while (!p->held && i < p->nch && budget-- > 0) {
		size_t idx = (p->rr + i) % p->nch;
		struct pat_child *ch = &p->ch[idx];
		const struct ipk__transport *t = ch->c->tr;
		if (!ch->rd && !(t->ready && t->ready(ch->c) > 0)) {
			i++;
			continue;
		}
		size_t len;
		uint32_t type = 0;
		int rv = pat_read(p, ch, &len, &type);
		if (rv == -ETIMEDOUT) {
			ch->rd = 0;
			i++;
			continue;
		}
		if (rv == 0)
			rv = pat_take(p, ch, len, type);
		if (rv == 1 && p->held)
			p->rr = idx + 1;
		if (rv < 0)
			pat_drop(p, idx, rv);
	}
}

static int
pat_recv(struct ipk_chan *c, void *buf, size_t cap, size_t *len, uint32_t *type,
    int64_t deadline)
{
	struct pat *p = pat_of(c);
	if (p->role == PAT_PUB || p->role == PAT_PUSH)
		return ipk__err(-ENOTSUP, "a %s channel does not receive",
		    pat_roles[p->role]);
	int rv;
	pthread_mutex_lock(&p->mu);
	for (;;) {
		if (p->role == PAT_REQ && !p->req_out && !p->held &&
		    !p->req_lost) {
			rv = ipk__err(-EINVAL,
			    "recv: no request is outstanding (send one "
			    "first)");
			break;
		}
		pat_pump(p);
		pat_fill(p);
		if (p->held) {
			if (cap < p->hlen_msg) {
				*len = p->hlen_msg;
				rv = ipk__err(-EMSGSIZE,
				    "message of %zu bytes does not fit the "
				    "%zu-byte buffer (it stays queued)",
				    p->hlen_msg, cap);
				break;
			}
			if (p->hlen_msg)
				memcpy(buf, p->rbuf + p->hoff, p->hlen_msg);
			*len = p->hlen_msg;
			*type = p->htype;
			p->held = 0;
			rv = 0;
			break;
		}
		if (p->req_lost) {
			p->req_lost = p->req_out = 0;
			rv = ipk__err(IPK_ECLOSED,
			    "the server went away before it answered");
			break;
		}
		if (p->dead) {
			rv = p->dead;
			break;
		}
		if (ipk__expired(deadline)) {
			rv = -ETIMEDOUT;
			break;
		}
		pat_wait(p, p->epfd, POLLIN, deadline);
	}
	pthread_mutex_unlock(&p->mu);
	return rv;
}

/* --- Sending ------------------------------------------------------------ */

/* pub: the first child whose queue is full, or -1. */
static int
pat_full(const struct pat *p)
{
	for (size_t i = 0; i < p->nch; i++)
		if (p->ch[i].qlen >= p->qmax)
			return (int)i;
	return -1;
}

static int
pat_publish(
    struct pat *p, const void *buf, size_t len, uint32_t type, int64_t deadline)
{
	int i;
	while (p->block && (i = pat_full(p)) >= 0) {
		if (ipk__expired(deadline))
			return ipk__err(-ETIMEDOUT,
			    "a subscriber has %zu messages queued "
			    "(slow=block): nobody got this one",
			    p->ch[i].qlen);
		pat_wait(p, p->ch[i].c->tr->fd(p->ch[i].c), POLLOUT, deadline);
		pat_pump(p);
	}
	unsigned char hdr[PAT_SEQ];
	pat_put32(hdr, (uint32_t)(p->seq >> 32));
	pat_put32(hdr + 4, (uint32_t)p->seq);
	struct pat_msg *m =
	    pat_msg_new(hdr, p->sp ? 0 : PAT_SEQ, buf, len, type);
	if (!m)
		return -ENOMEM;
	p->seq++;
	for (size_t k = 0; k < p->nch;) {
		int rv = pat_give(p, &p->ch[k], m);
		if (rv < 0)
			pat_drop(p, k, rv);
		else
			k++;
	}
	if (p->hmax) {
		if (p->hlen == p->hmax) {
			pat_msg_unref(p->hist[p->hhead]);
			p->hhead = (p->hhead + 1) % p->hmax;
			p->hlen--;
		}
		m->ref++;
		p->hist[(p->hhead + p->hlen++) % p->hmax] = m;
	}
	pat_msg_unref(m);
	return 0;
}

/* push: the next puller, in turn, whose socket takes the message now. */
static int
pat_push(
    struct pat *p, const void *buf, size_t len, uint32_t type, int64_t deadline)
{
	for (;;) {
		for (size_t i = 0; i < p->nch;) {
			size_t idx = (p->rr + i) % p->nch;
			struct pat_child *ch = &p->ch[idx];
			int rv = ch->c->tr->send(ch->c, buf, len, type, 0);
			if (rv == 0) {
				ch->c->stats->msgs_sent++;
				ch->c->stats->bytes_sent += len;
				p->rr = idx + 1;
				return 0;
			}
			if (rv == -ETIMEDOUT) {
				i++;
				continue;
			}
			pat_drop(p, idx, rv);
		}
		if (p->dead)
			return p->dead;
		if (ipk__expired(deadline))
			return -ETIMEDOUT;
		pat_wait(p, p->epfd, POLLIN,
		    p->nch ? ipk__now_ns() + 1000000 : deadline);
		pat_pump(p);
	}
}

static int
pat_tbuf(struct pat *p, size_t need)
{
	if (p->tcap >= need)
		return 0;
	void *b = ipk__realloc(p->tbuf, need);
	if (!b)
		return -ENOMEM;
	p->tbuf = b;
	p->tcap = need;
	return 0;
}

/* req: a new request, which gives up the one before. */
static int
pat_request(
    struct pat *p, const void *buf, size_t len, uint32_t type, int64_t deadline)
{
	while (p->nch == 0) {
		if (p->dead)
			return p->dead;
		if (ipk__expired(deadline))
			return ipk__err(-ETIMEDOUT, "no server is connected");
		pat_wait(p, p->epfd, POLLIN, deadline);
		pat_pump(p);
	}
	int rv = pat_tbuf(p, len + 4);
	if (rv < 0)
		return rv;
	size_t idx = p->rr++ % p->nch;
	struct pat_child *ch = &p->ch[idx];
	uint32_t id = (p->req_id + 1) | PAT_ID_BIT;
	pat_put32(p->tbuf, id);
	if (len)
		memcpy(p->tbuf + 4, buf, len);
	p->req_out = p->req_lost = 0;
	p->held = 0; /* a reply to the request given up */
	rv = ch->c->tr->send(ch->c, p->tbuf, len + 4, type, deadline);
	if (rv == IPK_ECLOSED || rv == -EBADMSG || rv == -ENOMEM) {
		pat_drop(p, idx, rv);
		return rv;
	}
	if (rv < 0)
		return rv;
	ch->c->stats->msgs_sent++;
	ch->c->stats->bytes_sent += len + 4;
	p->req_id = id;
	p->req_serial = ch->serial;
	p->req_out = 1;
	return 0;
}

/* rep: the reply to r, queued for its client alone. */
static int
pat_answer(struct pat *p, const struct pat_req *r, const void *buf, size_t len,
    uint32_t type, int64_t deadline)
{
	int i = pat_find(p, r->serial);
	if (i < 0)
		return 0; /* its client has gone: nobody to answer */
	while (p->block && p->ch[i].qlen >= p->qmax) {
		if (ipk__expired(deadline))
			return ipk__err(-ETIMEDOUT,
			    "the client has %zu replies queued and reads "
			    "none (slow=block)",
			    p->ch[i].qlen);
		pat_wait(p, p->ch[i].c->tr->fd(p->ch[i].c), POLLOUT, deadline);
		pat_pump(p);
		if ((i = pat_find(p, r->serial)) < 0)
			return 0;
	}
	unsigned char hdr[4 * PAT_BT_MAX];
	for (size_t k = 0; k < r->n; k++)
		pat_put32(hdr + 4 * k, r->bt[k]);
	struct pat_msg *m = pat_msg_new(hdr, (size_t)4 * r->n, buf, len, type);
	if (!m)
		return -ENOMEM;
	int rv = pat_give(p, &p->ch[i], m);
	if (rv < 0)
		pat_drop(p, (size_t)i, rv);
	pat_msg_unref(m);
	return 0;
}

static int
pat_send(struct ipk_chan *c, const void *buf, size_t len, uint32_t type,
    int64_t deadline)
{
	struct pat *p = pat_of(c);
	if (p->role == PAT_SUB || p->role == PAT_PULL)
		return ipk__err(
		    -ENOTSUP, "a %s channel does not send", pat_roles[p->role]);
	int rv;
	pthread_mutex_lock(&p->mu);
	pat_pump(p);
	if (p->dead) {
		rv = p->dead;
	} else if (p->role == PAT_PUB) {
		rv = pat_publish(p, buf, len, type, deadline);
	} else if (p->role == PAT_PUSH) {
		rv = pat_push(p, buf, len, type, deadline);
	} else if (p->role == PAT_REQ) {
		rv = pat_request(p, buf, len, type, deadline);
	} else if (!p->have_cur) {
		rv = ipk__err(
		    -EINVAL, "send: no request to answer (ipk_recv one first)");
	} else {
		rv = pat_answer(p, &p->cur, buf, len, type, deadline);
		if (rv == 0)
			p->have_cur = 0;
	}
	pthread_mutex_unlock(&p->mu);
	return rv;
}

/* --- Readiness ---------------------------------------------------------- */

static int
pat_fd(struct ipk_chan *c)
{
	return pat_of(c)->epfd;
}

static int
pat_wfd(struct ipk_chan *c, short *events)
{
	*events = POLLIN;
	return pat_of(c)->epfd;
}

static int
pat_ready(struct ipk_chan *c)
{
	struct pat *p = pat_of(c);
	pthread_mutex_lock(&p->mu);
	pat_pump(p);
	int r = 0;
	if (p->role != PAT_PUB && p->role != PAT_PUSH) {
		pat_fill(p);
		r = p->held || p->req_lost || p->dead;
	}
	pthread_mutex_unlock(&p->mu);
	return r;
}

static int
pat_child_writable(struct pat_child *ch)
{
	const struct ipk__transport *t = ch->c->tr;
	return !t->writable || t->writable(ch->c) > 0;
}

static int
pat_writable(struct ipk_chan *c)
{
	struct pat *p = pat_of(c);
	pthread_mutex_lock(&p->mu);
	pat_pump(p);
	int r = 0, i;
	switch (p->role) {
	case PAT_PUB:
		r = !p->block || pat_full(p) < 0;
		break;
	case PAT_REP:
		i = p->have_cur ? pat_find(p, p->cur.serial) : -1;
		r = i < 0 || !p->block || p->ch[i].qlen < p->qmax;
		break;
	case PAT_PUSH:
	case PAT_REQ:
		for (size_t k = 0; k < p->nch && !r; k++)
			r = p->ch[k].qlen == 0 && pat_child_writable(&p->ch[k]);
		break;
	default:
		break;
	}
	r = r || (p->dead && p->role != PAT_SUB && p->role != PAT_PULL);
	pthread_mutex_unlock(&p->mu);
	return r;
}

static void
pat_close(struct ipk_chan *c)
{
	struct pat *p = pat_of(c);
	if (!p->role)
		return; /* open failed before the state was set up */
	pthread_mutex_lock(&p->mu);
	while (p->nch) {
		(void)pat_flush(p, &p->ch[p->nch - 1]);
		pat_drop(p, p->nch - 1, 0);
	}
	(void)ipk_listener_close(p->l);
	p->l = NULL;
	for (size_t k = 0; k < p->hlen; k++)
		pat_msg_unref(p->hist[(p->hhead + k) % p->hmax]);
	ipk__free(p->hist);
	for (size_t k = 0; k < p->ntopic; k++)
		ipk__free(p->topic[k].p);
	ipk__free(p->ch);
	ipk__free(p->rbuf);
	ipk__free(p->tbuf);
	ipk__close_fd(&p->epfd);
	pthread_mutex_unlock(&p->mu);
	pthread_mutex_destroy(&p->mu);
}

const struct ipk__transport ipk__pattern_tr = {
    .scheme = "pattern",
    .chan_size = sizeof(struct pat),
    .example = "",
    .send = pat_send,
    .recv = pat_recv,
    .fd = pat_fd,
    .ready = pat_ready,
    .doorbell = 1,
    .writable = pat_writable,
    .wfd = pat_wfd,
    .close = pat_close,
};

/* --- Opening ------------------------------------------------------------ */

static int
pat_add_topic(struct pat *p, const void *prefix, size_t len)
{
	if (p->ntopic == PAT_TOPICS)
		return ipk__err(-ENOMEM, "at most %d topics", PAT_TOPICS);
	unsigned char *t = ipk__malloc(len ? len : 1);
	if (!t)
		return -ENOMEM;
	if (len)
		memcpy(t, prefix, len);
	p->topic[p->ntopic].p = t;
	p->topic[p->ntopic++].len = len;
	return 0;
}

/* The pattern options of u into p (role, slow, queue, history, topics). */
static int
pat_options(struct pat *p, const struct ipk__url *u)
{
	const char *v;
	int64_t n;
	int rv;
	if (ipk__url_str(u, "pattern", &v) != 0)
		return ipk__err(-EINVAL,
		    "%s: ipk_bind needs ?pattern=pub|sub|req|rep|push|pull",
		    u->text);
	for (int r = PAT_PUB; r <= PAT_PULL; r++)
		if (!strcmp(v, pat_roles[r]))
			p->role = r;
	if (!p->role)
		return ipk__err(-EINVAL,
		    "%s: unknown pattern '%s' (pub, sub, req, rep, push, "
		    "pull)",
		    u->text, v);
	p->qmax = PAT_QUEUE;
	if ((rv = ipk__url_int(u, "queue", 1, PAT_QUEUE_MAX, &n)) < 0)
		return rv;
	if (rv == 0)
		p->qmax = (size_t)n;
	if ((rv = ipk__url_str(u, "slow", &v)) == 0) {
		if (p->role != PAT_PUB && p->role != PAT_REP)
			return ipk__err(
			    -EINVAL, "%s: slow= is for pub and rep", u->text);
		if (strcmp(v, "drop") != 0 && strcmp(v, "block") != 0)
			return ipk__err(
			    -EINVAL, "%s: slow=%s: drop or block", u->text, v);
		p->block = !strcmp(v, "block");
	}
	if ((rv = ipk__url_int(u, "history", 0, PAT_QUEUE_MAX, &n)) < 0)
		return rv;
	if (rv == 0 && n > 0) {
		if (p->role != PAT_PUB)
			return ipk__err(
			    -EINVAL, "%s: history= is for pub", u->text);
		p->hmax = (size_t)n;
		p->qmax = IPK__MAX(p->qmax, p->hmax);
		p->hist = ipk__calloc(p->hmax, sizeof(struct pat_msg *));
		if (!p->hist)
			return -ENOMEM;
	}
	for (int i = 0; i < u->nopt; i++) {
		if (strcmp(u->key[i], "topic") != 0)
			continue;
		if (p->role != PAT_SUB)
			return ipk__err(
			    -EINVAL, "%s: topic= is for sub", u->text);
		if ((rv = pat_add_topic(p, u->val[i], strlen(u->val[i]))) < 0)
			return rv;
	}
	return 0;
}

int
ipk__pattern_open(
    const char *url, const struct ipk_opts *o, int bind, struct ipk_chan **out)
{
	struct ipk__url u;
	*out = NULL;
	int rv = ipk__url_parse(url, &u);
	if (rv < 0)
		return rv;
	const struct ipk__transport *t = ipk__transport_find(u.scheme);
	struct ipk_chan *self = NULL;
	if (!t) {
		rv =
		    ipk__err(-EINVAL, "%s: unknown scheme '%s'", url, u.scheme);
		goto out;
	}
	if (t->pattern) {
		const char *role = "";
		(void)ipk__url_str(&u, "pattern", &role);
		rv = t->pattern(url, &u, o, bind, role, out);
		if (rv != IPK__PATTERN_NOTMINE)
			goto out;
		rv = 0;
	}
	if (!(t->caps & IPK_CAP_PATTERNS)) {
		rv = ipk__err(-ENOTSUP,
		    "%s: %s has no patterns (unix, tcp, nng+tcp and nng+ipc "
		    "have; shm has pub and sub)",
		    url, t->scheme);
		goto out;
	}
	self = ipk__chan_new(&ipk__pattern_tr, url, 1, 0600);
	if (!self) {
		rv = -ENOMEM;
		goto out;
	}
	struct pat *p = pat_of(self);
	p->epfd = -1;
	p->self = self;
	p->base = t;
	p->sp = t->sp_wire;
	p->bound = bind;
	pthread_mutex_init(&p->mu, NULL);
	if ((rv = pat_options(p, &u)) < 0)
		goto out;
	(void)ipk__random_bytes(&p->req_id, sizeof(p->req_id));
	p->epfd = epoll_create1(EPOLL_CLOEXEC);
	if (p->epfd < 0) {
		rv = ipk__err(-errno, "epoll_create1: %s", strerror(errno));
		goto out;
	}
	if (bind) {
		rv = ipk__listen_ex(url, o, PAT_EXTRA, &p->l);
		if (rv < 0)
			goto out;
		struct epoll_event ev = {.events = EPOLLIN, .data.u32 = 0};
		int lfd = ipk_listener_fd(p->l);
		if (lfd < 0 ||
		    epoll_ctl(p->epfd, EPOLL_CTL_ADD, lfd, &ev) < 0) {
			rv = lfd < 0 ? lfd : -errno;
			goto out;
		}
		self->max_msg = p->l->max_msg - PAT_EXTRA;
		char *s = ipk__strdup(p->l->url);
		if (!s) {
			rv = -ENOMEM;
			goto out;
		}
		ipk__free(self->url);
		self->url = s;
	} else {
		struct ipk_chan *c;
		rv = ipk__dial_ex(url, o, PAT_EXTRA, &c);
		if (rv < 0)
			goto out;
		self->max_msg =
		    c->max_msg > PAT_EXTRA ? c->max_msg - PAT_EXTRA : 1;
		if ((rv = pat_add(p, c)) < 0)
			goto out;
	}
	*out = self;
	self = NULL;
out:
	if (rv < 0 && self)
		ipk__err_prefix(url);
	(void)ipk_close(self);
	ipk__url_free(&u);
	return rv;
}

int
ipk_bind(const char *url, const struct ipk_opts *o, struct ipk_chan **out)
{
	ipk__err_clear();
	if (!out || !url)
		return ipk__err(
		    -EINVAL, "bind: %s is NULL", out ? "url" : "out");
	return ipk__pattern_open(url, o, 1, out);
}

/* The pattern state of c when c is a pattern channel of `role`, else NULL
 * with the sentence recorded. */
static struct pat *
pat_check(struct ipk_chan *c, int role, const char *what)
{
	if (!c || c->closed || c->tr != &ipk__pattern_tr ||
	    pat_of(c)->role != role) {
		ipk__err(-EINVAL, "%s: not an open %s channel", what,
		    pat_roles[role]);
		return NULL;
	}
	return pat_of(c);
}

int
ipk_subscribe(struct ipk_chan *c, const void *prefix, size_t len)
{
	ipk__err_clear();
	if (c && !c->closed && c->tr->subscribe) {
		if (!prefix && len)
			return ipk__err(-EINVAL, "subscribe: prefix is NULL");
		int rv = c->tr->subscribe(c, prefix, len);
		if (rv < 0)
			ipk__err_prefix(c->url);
		return rv;
	}
	struct pat *p = pat_check(c, PAT_SUB, "subscribe");
	if (!p)
		return -EINVAL;
	if (!prefix && len)
		return ipk__err(-EINVAL, "subscribe: prefix is NULL");
	pthread_mutex_lock(&p->mu);
	int rv = pat_add_topic(p, prefix, len);
	pthread_mutex_unlock(&p->mu);
	return rv;
}

int
ipk_request_id(struct ipk_chan *c, uint64_t *id)
{
	ipk__err_clear();
	struct pat *p = pat_check(c, PAT_REP, "request_id");
	if (!p || !id)
		return -EINVAL;
	pthread_mutex_lock(&p->mu);
	int rv =
	    p->have_last ? 0 : ipk__err(-EINVAL, "no request received yet");
	if (rv == 0)
		*id = p->last_id;
	pthread_mutex_unlock(&p->mu);
	return rv;
}

int
ipk_reply(struct ipk_chan *c, uint64_t id, const void *buf, size_t len,
    uint32_t type, int timeout_ms)
{
	ipk__err_clear();
	struct pat *p = pat_check(c, PAT_REP, "reply");
	if (!p)
		return -EINVAL;
	if (!buf && len)
		return ipk__err(-EINVAL, "reply: buffer is NULL");
	if (len > c->max_msg)
		return ipk__err(-EMSGSIZE,
		    "reply of %zu bytes exceeds the channel's limit of %zu "
		    "(maxmsg=)",
		    len, c->max_msg);
	struct pat_req r = {.serial = (uint32_t)(id >> 32), .n = 1};
	r.bt[0] = (uint32_t)id;
	if (!(r.bt[0] & PAT_ID_BIT))
		return ipk__err(-EINVAL, "reply: %#llx is not a request id",
		    (unsigned long long)id);
	pthread_mutex_lock(&p->mu);
	for (size_t k = 0; k < PAT_KEEP && k < p->nkeep; k++) {
		const struct pat_req *q = &p->keep[k];
		if (q->serial == r.serial && q->bt[q->n - 1] == r.bt[0])
			r = *q;
	}
	pat_pump(p);
	int rv = pat_answer(p, &r, buf, len, type, ipk__deadline(timeout_ms));
	if (rv == 0 && p->have_cur && p->cur.serial == r.serial &&
	    p->cur.bt[p->cur.n - 1] == r.bt[r.n - 1])
		p->have_cur = 0;
	pthread_mutex_unlock(&p->mu);
	if (rv == 0) {
		c->stats->msgs_sent++;
		c->stats->bytes_sent += len;
	} else {
		if (rv == -ETIMEDOUT && timeout_ms == 0)
			rv = -EAGAIN;
		ipk__err_prefix(c->url);
	}
	return rv;
}

int
ipk_npeers(struct ipk_chan *c)
{
	ipk__err_clear();
	if (!c || c->closed)
		return ipk__err(-EINVAL, "npeers: bad argument");
	if (c->tr->npeers)
		return c->tr->npeers(c);
	if (c->tr != &ipk__pattern_tr)
		return 1;
	struct pat *p = pat_of(c);
	pthread_mutex_lock(&p->mu);
	pat_pump(p);
	int n = (int)p->nch;
	pthread_mutex_unlock(&p->mu);
	return n;
}

/* 1 when some peer still has messages queued in the library. */
static int
pat_queued(const struct pat *p)
{
	for (size_t i = 0; i < p->nch; i++)
		if (p->ch[i].qlen)
			return 1;
	return 0;
}

int
ipk_flush(struct ipk_chan *c, int timeout_ms)
{
	ipk__err_clear();
	if (!c || c->closed)
		return ipk__err(-EINVAL, "flush: bad argument");
	if (c->tr->flush) {
		int rv = c->tr->flush(c, ipk__deadline(timeout_ms));
		if (rv == -ETIMEDOUT && timeout_ms == 0)
			rv = -EAGAIN;
		if (rv < 0)
			ipk__err_prefix(c->url);
		return rv;
	}
	if (c->tr != &ipk__pattern_tr)
		return 0;
	struct pat *p = pat_of(c);
	int64_t deadline = ipk__deadline(timeout_ms);
	int rv = 0;
	pthread_mutex_lock(&p->mu);
	for (;;) {
		pat_pump(p);
		if (!pat_queued(p))
			break;
		if (ipk__expired(deadline)) {
			rv = timeout_ms == 0 ? -EAGAIN : -ETIMEDOUT;
			break;
		}
		pat_wait(p, p->epfd, POLLIN, deadline);
	}
	pthread_mutex_unlock(&p->mu);
	return rv;
}
