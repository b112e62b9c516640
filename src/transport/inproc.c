/* SPDX-License-Identifier: MIT */
/*
 * inproc.c - the shm ring (src/shm/ring.h) in ordinary process memory, for
 * threads of one process: the article's last word, that threads already
 * share memory and need only synchronisation. Names live in a process-wide
 * registry guarded by a mutex; docs/transports/inproc.md has the details.
 *
 * A pair object holds both rings and outlives the listener and channels
 * that reference it (reference count under the registry mutex), so a
 * dialer may close and dial again and the conversation continues. Peer
 * liveness is a flag per side, cleared on close, which wakes the other
 * side's sleepers at once.
 */
#include "core/transport.h"
#include "shm/ring.h"

#include <limits.h>
#include <linux/futex.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#define INPROC_DEFAULT_CAP (1u << 20)
#define INPROC_MIN_CAP 4096u

struct inproc_pair {
	struct ipk__ring_ctl ctl[2]; /* ring 0: listener -> dialer */
	unsigned char *data[2];
	uint64_t cap;
	struct inproc_pair *next;
	void *raw; /* the allocation, for ipk__free */
	int refs; /* listener + channels; under inproc_lock */
	int listening; /* under inproc_lock */
	uint32_t live[2]; /* [0] listener-side channel, [1] dialer: atomic */
	uint32_t accepted;
	uint32_t dial_gen; /* futex word */
	int bell[2]; /* eventfd per reading side, made on first ipk_fd */
	int wait;
	char name[];
};

struct inproc_lst {
	struct inproc_pair *p;
};

struct inproc_chan {
	struct ipk__ring_chan h;
	struct inproc_pair *p;
	int side;
	char url[96]; /* "inproc://name", for sentences */
};

static pthread_mutex_t inproc_lock = PTHREAD_MUTEX_INITIALIZER;
static struct inproc_pair *inproc_list;

static struct inproc_pair *
inproc_find(const char *name)
{
	for (struct inproc_pair *p = inproc_list; p; p = p->next)
		if (!strcmp(p->name, name))
			return p;
	return NULL;
}

/* Drop a reference; the last one unlinks and frees. Takes the lock. */
static void
inproc_unref(struct inproc_pair *p)
{
	pthread_mutex_lock(&inproc_lock);
	int last = --p->refs == 0;
	if (last)
		for (struct inproc_pair **pp = &inproc_list; *pp;
		     pp = &(*pp)->next)
			if (*pp == p) {
				*pp = p->next;
				break;
			}
	pthread_mutex_unlock(&inproc_lock);
	if (!last)
		return;
	for (int i = 0; i < 2; i++) {
		ipk__ring_ctl_fini(&p->ctl[i]);
		if (p->bell[i] >= 0)
			close(p->bell[i]);
	}
	ipk__free(p->raw);
}

static int
inproc_opts(const struct ipk__url *u, uint64_t *cap, int *wait)
{
	if (*u->host == '\0' || *u->path || *u->port)
		return ipk__err(
		    -EINVAL, "inproc names look like inproc://name");
	if (strlen(u->host) > 64)
		return ipk__err(-EINVAL, "inproc names have at most 64 bytes");
	return ipk__ring_opts(u, cap, wait);
}

static struct inproc_pair *
inproc_new(const char *name, uint64_t cap, int wait)
{
	size_t n = strlen(name) + 1;
	size_t head = (sizeof(struct inproc_pair) + n + 63) & ~(size_t)63;
	void *raw = ipk__calloc(1, 64 + head + 2 * cap);
	if (!raw)
		return NULL;
	struct inproc_pair *p =
	    (void *)(((uintptr_t)raw + 63) & ~(uintptr_t)63);
	p->raw = raw;
	for (int i = 0; i < 2; i++) {
		if (ipk__ring_ctl_init(&p->ctl[i], 0) < 0) {
			ipk__free(raw);
			return NULL;
		}
		p->data[i] = (unsigned char *)p + head + (size_t)i * cap;
		p->bell[i] = -1;
	}
	p->cap = cap;
	p->wait = wait;
	memcpy(p->name, name, n);
	return p;
}

static int
inproc_listen(struct ipk_listener *l, const struct ipk__url *u)
{
	struct inproc_lst *s = ipk__lst_priv(l);
	uint64_t cap = INPROC_DEFAULT_CAP;
	int wait = IPK__WAIT_ADAPTIVE;
	int rv = inproc_opts(u, &cap, &wait);
	if (rv < 0)
		return rv;
	pthread_mutex_lock(&inproc_lock);
	struct inproc_pair *p = inproc_find(u->host);
	if (p && p->listening) {
		rv = ipk__err(
		    -EADDRINUSE, "inproc://%s: a listener holds it", u->host);
	} else if (p) {
		p->listening = 1; /* reattach: channels kept the pair */
		p->refs++;
		s->p = p;
	} else if (!(p = inproc_new(u->host, cap, wait))) {
		rv = -ENOMEM;
	} else {
		p->listening = 1;
		p->refs = 1;
		p->next = inproc_list;
		inproc_list = p;
		s->p = p;
	}
	pthread_mutex_unlock(&inproc_lock);
	return rv;
}

static void
inproc_lclose(struct ipk_listener *l)
{
	struct inproc_lst *s = ipk__lst_priv(l);
	if (!s->p)
		return;
	pthread_mutex_lock(&inproc_lock);
	s->p->listening = 0;
	pthread_mutex_unlock(&inproc_lock);
	inproc_unref(s->p);
	s->p = NULL;
}

static int inproc_alive(void *arg);

static void
inproc_bell_ring(void *arg)
{
	struct inproc_chan *s = arg;
	int fd = __atomic_load_n(&s->p->bell[!s->side], __ATOMIC_ACQUIRE);
	uint64_t one = 1;
	if (fd >= 0)
		(void)!write(fd, &one, sizeof(one));
}

static int
inproc_attach(struct ipk_chan *c, struct inproc_chan *s, int side)
{
	struct inproc_pair *p = s->p;
	s->side = side;
	for (int i = 0; i < 2; i++) {
		struct ipk__ring *r = i == side ? &s->h.tx : &s->h.rx;
		memset(r, 0, sizeof(*r));
		r->ctl = &p->ctl[i];
		r->data = p->data[i];
		r->cap = p->cap;
		r->mask = p->cap - 1;
	}
	snprintf(s->url, sizeof(s->url), "inproc://%s", p->name);
	s->h.name = s->url;
	s->h.alive = inproc_alive;
	s->h.arg = s;
	s->h.bell = -1;
	s->h.tx.bell = inproc_bell_ring;
	s->h.tx.bell_arg = s;
	if (ipk__ring_attach_producer(&s->h.tx) < 0 ||
	    ipk__ring_attach_consumer(&s->h.rx) < 0)
		return ipk__err(IPK_ECORRUPT,
		    "inproc://%s: ring indices are "
		    "invalid",
		    p->name);
	uint64_t max = ipk__ring_max_msg(p->cap);
	if (c->max_msg > max)
		c->max_msg = (size_t)max;
	return 0;
}

static int
inproc_accept(struct ipk_listener *l, struct ipk_chan *c, int64_t deadline)
{
	struct inproc_lst *ls = ipk__lst_priv(l);
	struct inproc_chan *s = ipk__chan_priv(c);
	struct inproc_pair *p = ls->p;
	while (__atomic_load_n(&p->dial_gen, __ATOMIC_ACQUIRE) == 0) {
		if (ipk__expired(deadline))
			return -ETIMEDOUT;
		int ms = ipk__poll_ms(deadline, IPK__SLICE_MS);
		struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
		(void)syscall(SYS_futex, &p->dial_gen, FUTEX_WAIT_PRIVATE, 0,
		    &ts, NULL, 0);
	}
	uint32_t zero = 0;
	if (!__atomic_compare_exchange_n(
		&p->live[0], &zero, 1, 0, __ATOMIC_ACQ_REL, __ATOMIC_RELAXED))
		return ipk__err(-EBUSY,
		    "inproc://%s: the channel is already "
		    "accepted and open",
		    p->name);
	pthread_mutex_lock(&inproc_lock);
	p->refs++;
	pthread_mutex_unlock(&inproc_lock);
	s->p = p;
	s->h.wait = p->wait;
	__atomic_store_n(&p->accepted, 1, __ATOMIC_RELEASE);
	return inproc_attach(c, s, 0);
}

static int
inproc_dial(struct ipk_chan *c, const struct ipk__url *u, int64_t deadline)
{
	struct inproc_chan *s = ipk__chan_priv(c);
	uint64_t cap = 0;
	int wait = -1, rv, found = 0;
	if ((rv = inproc_opts(u, &cap, &wait)) < 0)
		return rv;
	for (;;) {
		pthread_mutex_lock(&inproc_lock);
		struct inproc_pair *p = inproc_find(u->host);
		found = p != NULL;
		if (p &&
		    (p->listening ||
			__atomic_load_n(&p->live[0], __ATOMIC_ACQUIRE) ||
			ipk__ring_pending(&p->ctl[0], p->cap))) {
			uint32_t zero = 0;
			if (!__atomic_compare_exchange_n(&p->live[1], &zero, 1,
				0, __ATOMIC_ACQ_REL, __ATOMIC_RELAXED)) {
				pthread_mutex_unlock(&inproc_lock);
				return ipk__err(IPK_EBUSYSIDE,
				    "inproc://%s: "
				    "another dialer is attached",
				    u->host);
			}
			p->refs++;
			s->p = p;
		}
		pthread_mutex_unlock(&inproc_lock);
		if (s->p)
			break;
		if (ipk__expired(deadline))
			return found
			    ? ipk__err(-ECONNREFUSED,
				  "inproc://%s: "
				  "nobody listens any more",
				  u->host)
			    : ipk__err(-ENOENT, "inproc://%s: nobody listens",
				  u->host);
		struct timespec ts = {0, 1000000};
		nanosleep(&ts, NULL); /* names appear without a wake-up */
	}
	struct inproc_pair *p = s->p;
	s->h.wait = wait >= 0 ? wait : p->wait;
	if ((rv = inproc_attach(c, s, 1)) < 0)
		return rv;
	__atomic_add_fetch(&p->dial_gen, 1, __ATOMIC_RELEASE);
	(void)syscall(SYS_futex, &p->dial_gen, FUTEX_WAKE_PRIVATE, INT_MAX,
	    NULL, NULL, 0);
	return 0;
}

static int
inproc_alive(void *arg)
{
	struct inproc_chan *s = arg;
	struct inproc_pair *p = s->p;
	if (__atomic_load_n(&p->live[!s->side], __ATOMIC_ACQUIRE))
		return 1;
	if (s->side == 1 && !__atomic_load_n(&p->accepted, __ATOMIC_ACQUIRE)) {
		pthread_mutex_lock(&inproc_lock);
		int l = p->listening;
		pthread_mutex_unlock(&inproc_lock);
		return l;
	}
	return 0;
}

static int
inproc_loan(struct ipk_chan *c, size_t len, void **buf, int64_t deadline)
{
	struct inproc_chan *s = ipk__chan_priv(c);
	return ipk__ring_chan_loan(&s->h, len, buf, deadline);
}

static int
inproc_commit(struct ipk_chan *c, size_t len, uint32_t type)
{
	struct inproc_chan *s = ipk__chan_priv(c);
	ipk__ring_commit(&s->h.tx, len, type);
	return 0;
}

static int
inproc_send(struct ipk_chan *c, const void *buf, size_t len, uint32_t type,
    int64_t deadline)
{
	struct inproc_chan *s = ipk__chan_priv(c);
	return ipk__ring_chan_send(&s->h, buf, len, type, deadline);
}

static int
inproc_recv(struct ipk_chan *c, void *buf, size_t cap, size_t *len,
    uint32_t *type, int64_t deadline)
{
	struct inproc_chan *s = ipk__chan_priv(c);
	return ipk__ring_chan_recv(
	    &s->h, c->max_msg, buf, cap, len, type, deadline);
}

static int
inproc_peek(struct ipk_chan *c, const void **buf, size_t *len, uint32_t *type,
    int64_t deadline)
{
	struct inproc_chan *s = ipk__chan_priv(c);
	return ipk__ring_chan_peek(&s->h, buf, len, type, deadline);
}

static int
inproc_release(struct ipk_chan *c)
{
	struct inproc_chan *s = ipk__chan_priv(c);
	ipk__ring_release(&s->h.rx);
	return 0;
}

static int
inproc_toobig(struct ipk_chan *c, size_t len)
{
	struct inproc_chan *s = ipk__chan_priv(c);
	return ipk__ring_chan_toobig(&s->h, c->max_msg, len);
}

/* ipk_fd: an eventfd per reading side, made on first use and kept by the
 * pair, so the writer never writes to a descriptor that was closed. */
static int
inproc_ready(struct ipk_chan *c)
{
	struct inproc_chan *s = ipk__chan_priv(c);
	return ipk__ring_chan_ready(&s->h);
}

static int
inproc_fd(struct ipk_chan *c)
{
	struct inproc_chan *s = ipk__chan_priv(c);
	struct inproc_pair *p = s->p;
	int fd = __atomic_load_n(&p->bell[s->side], __ATOMIC_ACQUIRE);
	if (fd < 0) {
		fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
		if (fd < 0)
			return ipk__err(-errno, "inproc://%s: eventfd: %s",
			    p->name, strerror(errno));
		/* Release: pairs with the acquire in inproc_bell_ring. */
		__atomic_store_n(&p->bell[s->side], fd, __ATOMIC_RELEASE);
	}
	s->h.bell = fd;
	ipk__ring_chan_arm(&s->h);
	if (ipk__ring_pending(s->h.rx.ctl, s->h.rx.cap) > 0) {
		uint64_t one = 1;
		(void)!write(fd, &one, sizeof(one));
	}
	return fd;
}

static void
inproc_close(struct ipk_chan *c)
{
	struct inproc_chan *s = ipk__chan_priv(c);
	if (!s->p)
		return;
	if (s->h.tx.ctl) {
		__atomic_store_n(&s->p->live[s->side], 0, __ATOMIC_RELEASE);
		/* Wake the peer wherever it sleeps: it finds us gone. */
		ipk__ring_wake_reader(&s->h.tx);
		ipk__ring_wake_writer(&s->h.rx);
	}
	inproc_unref(s->p);
	s->p = NULL;
}

static const char *const inproc_options[] = {"size", "wait", NULL};

const struct ipk__transport ipk__transport_inproc = {
    .scheme = "inproc",
    .caps = IPK_CAP_BOUNDARIES | IPK_CAP_TYPES | IPK_CAP_REATTACH |
	IPK_CAP_ZEROCOPY | IPK_CAP_THREADS | IPK_CAP_PERSIST,
    .chan_size = sizeof(struct inproc_chan),
    .lst_size = sizeof(struct inproc_lst),
    .options = inproc_options,
    .example = "inproc://%s",
    .variants = IPK__VARIANTS({"inproc", "", "threads (ring default)",
	IPK_VARIANT_CONTRACT | IPK_VARIANT_BENCH}),
    .listen = inproc_listen,
    .accept = inproc_accept,
    .lclose = inproc_lclose,
    .dial = inproc_dial,
    .send = inproc_send,
    .recv = inproc_recv,
    .loan = inproc_loan,
    .commit = inproc_commit,
    .peek = inproc_peek,
    .release = inproc_release,
    .toobig = inproc_toobig,
    .fd = inproc_fd,
    .ready = inproc_ready,
    .doorbell = 1,
    .close = inproc_close,
};
