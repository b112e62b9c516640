/* SPDX-License-Identifier: MIT */
/*
 * mqtt.c - libipckit-mqtt.so.0, the optional part behind mqtt:// and
 * mqtts://: one MQTT v5 client of libmosquitto per channel. The core
 * (src/transport/mqtt.c) has checked the address; this file connects,
 * publishes and subscribes. Its one exported symbol is
 * ipk_mqtt_plugin_init (core/plugin.h).
 *
 * Threads: each channel runs libmosquitto's network thread
 * (mosquitto_loop_start). It answers the broker's keepalive, reconnects
 * with backoff when the broker goes away, and resends unacknowledged QoS 1
 * and 2 messages after a reconnection, also while the program sleeps
 * elsewhere. What it receives goes into a queue under a mutex; an eventfd
 * rings while the queue holds a message (sub) or when acknowledgements
 * arrive (pub): that eventfd is ipk_fd, stable across reconnections, where
 * the broker's socket would change.
 *
 * On the wire every message is a plain MQTT PUBLISH, so mosquitto_pub and
 * mosquitto_sub are peers. ipckit adds MQTT v5 user properties, which
 * plain clients ignore:
 *   ipk-type    the message type, in decimal (absent: type 0)
 *   ipk-seq     "SOURCE:N": a random 64-bit source per publishing channel
 *               (hex) and its sequence number from 0; a subscriber counts
 *               the numbers it never saw as gaps, and drops a number seen
 *               before (a QoS 1 redelivery), counted in `reordered`
 *   ipk-bridge  the ?bridge= id of the channel that published it; a sub
 *               channel with the same id drops it (a bridge never takes
 *               back what it forwarded)
 */
#include "core/plugin.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <mosquitto.h>
#include <mqtt_protocol.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

#define MQ_EXPORT __attribute__((visibility("default")))

#define MQ_SRCS 64 /* publishers a subscriber keeps sequence state for */
#define MQ_WIN 1024 /* numbers below the next one told apart */
#define MQ_RECONNECT_MIN 1 /* s, libmosquitto's unit */
#define MQ_RECONNECT_MAX 4
#define MQ_MID_MAX 65000 /* unacknowledged publishes (16-bit ids) */
#define MQ_ANSWER_NS 5000000000LL /* CONNACK, SUBACK */
/* Bytes a queue holds at most besides its count (?queue=): 1024 messages
 * of 1 MiB would be a gigabyte. One message always fits. */
#define MQ_BYTES (64u << 20)

static const struct ipk__plugin_core *core;

struct mq_msg {
	struct mq_msg *next;
	uint32_t type;
	int toobig;
	size_t len;
	unsigned char data[];
};

/* What a subscriber knows of one publisher's numbers. */
struct mq_src {
	uint64_t id, next, used;
	uint64_t seen[MQ_WIN / 64]; /* bit n % MQ_WIN: n was received */
};

struct mq {
	struct mosquitto *m;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	int efd;
	int rung;
	int role, qos, retain, clean, started;
	char *url, *topic, *bridge;
	size_t queue, max_msg;
	struct ipk_stats *stats;
	/* connection */
	int connected, connacks, refused;
	int conn_rc;
	int lost_rc; /* why the last connection ended (libmosquitto's rc) */
	int closing;
	/* sub */
	char **filters;
	size_t nfilters;
	int suback_mid, subacked, sub_refused;
	struct mq_msg *head, *tail;
	size_t qlen, qbytes;
	struct mq_src src[MQ_SRCS];
	uint64_t tick;
	/* Counts made in the network thread, moved to *stats by the calls
	 * of the channel's own thread (the core writes *stats unlocked). */
	uint64_t gaps, late, redelivered;
	/* pub */
	uint64_t published, acked, seq, self;
	int failed_pub; /* a publish the library refused (its rc) */
};

static void
mq_ring(struct mq *q)
{
	if (!q->rung) {
		uint64_t one = 1;
		if (write(q->efd, &one, sizeof(one)) == sizeof(one))
			q->rung = 1;
	}
}

static void
mq_quiet(struct mq *q)
{
	if (q->rung) {
		uint64_t v;
		if (read(q->efd, &v, sizeof(v)) == sizeof(v) || errno == EAGAIN)
			q->rung = 0;
	}
}

/* Wait on the condition variable until `deadline` (monotonic ns). 0, or
 * -ETIMEDOUT when it has passed. Called with q->mu held. */
/* Move the network thread's counts to the channel's (q->mu held, in the
 * channel's thread). A late message was counted lost when a later one
 * came: it comes off gaps. */
static void
mq_count(struct mq *q)
{
	struct ipk_stats *st = q->stats;
	st->gaps += q->gaps;
	uint64_t back = q->late < st->gaps ? q->late : st->gaps;
	st->gaps -= back;
	st->reordered += q->late + q->redelivered;
	q->gaps = q->late = q->redelivered = 0;
}

static int
mq_wait(struct mq *q, int64_t deadline)
{
	int64_t now = core->now_ns();
	if (deadline != INT64_MAX && now >= deadline)
		return -ETIMEDOUT;
	/* Slices of 100 ms: nothing else to re-check, but a bounded wait
	 * keeps a lost wake-up from lasting. */
	int64_t until = now + 100000000;
	if (deadline < until)
		until = deadline;
	struct timespec ts = {
	    .tv_sec = until / 1000000000, .tv_nsec = until % 1000000000};
	(void)pthread_cond_timedwait(&q->cv, &q->mu, &ts);
	return 0;
}

static int
mq_errno(struct mq *q, int rc, const char *what)
{
	int code;
	switch (rc) {
	case MOSQ_ERR_NOMEM:
		return -ENOMEM;
	case MOSQ_ERR_INVAL:
	case MOSQ_ERR_MALFORMED_UTF8:
		code = -EINVAL;
		break;
	case MOSQ_ERR_PAYLOAD_SIZE:
	case MOSQ_ERR_OVERSIZE_PACKET:
		code = -EMSGSIZE;
		break;
	case MOSQ_ERR_NO_CONN:
	case MOSQ_ERR_CONN_LOST:
		code = -ENOTCONN;
		break;
	case MOSQ_ERR_CONN_REFUSED:
		code = -ECONNREFUSED;
		break;
	case MOSQ_ERR_TLS:
	case MOSQ_ERR_TLS_HANDSHAKE:
		code = -EPROTO;
		break;
	case MOSQ_ERR_ERRNO:
		code = errno ? -errno : -EIO;
		return core->err(
		    code, "%s: %s: %s", q->url, what, strerror(-code));
	case MOSQ_ERR_EAI:
		code = -EHOSTUNREACH;
		return core->err(
		    code, "%s: %s: cannot resolve the host", q->url, what);
	case MOSQ_ERR_NOT_SUPPORTED:
		code = -ENOTSUP;
		break;
	default:
		code = -EIO;
		break;
	}
	return core->err(
	    code, "%s: %s: %s", q->url, what, mosquitto_strerror(rc));
}

/* --- Close-on-exec ------------------------------------------------------
 * libmosquitto opens its sockets without FD_CLOEXEC, and ipckit promises
 * every descriptor it opens is close-on-exec. The descriptors
 * mosquitto_new and the first connection make are found by comparing the
 * process's descriptors without the flag before and after (descriptors
 * below MQ_FDS); a reconnection's socket gets the flag when it is up.
 */
#define MQ_FDS 8192

static void
mq_fds_open(unsigned char *bits)
{
	memset(bits, 0, MQ_FDS / 8);
	DIR *d = opendir("/proc/self/fd");
	if (!d)
		return;
	struct dirent *e;
	while ((e = readdir(d))) {
		long n = strtol(e->d_name, NULL, 10);
		if (n <= 2 || n >= MQ_FDS || n == dirfd(d))
			continue;
		int fl = fcntl((int)n, F_GETFD);
		if (fl >= 0 && !(fl & FD_CLOEXEC))
			bits[n / 8] |= (unsigned char)(1u << (n % 8));
	}
	closedir(d);
}

static void
mq_fds_mark(const unsigned char *before)
{
	unsigned char now[MQ_FDS / 8];
	mq_fds_open(now);
	for (int n = 0; n < MQ_FDS; n++)
		if ((now[n / 8] & ~before[n / 8]) >> (n % 8) & 1)
			(void)fcntl(n, F_SETFD, FD_CLOEXEC);
}

static void
mq_cloexec(int fd)
{
	int fl = fd >= 0 ? fcntl(fd, F_GETFD) : -1;
	if (fl >= 0 && !(fl & FD_CLOEXEC))
		(void)fcntl(fd, F_SETFD, fl | FD_CLOEXEC);
}

/* --- Callbacks, in libmosquitto's thread -------------------------------- */

static void
mq_subscribe_all(struct mq *q)
{
	/* The session may be new (clean, or lost by the broker): subscribe
	 * every time the connection comes up; the broker keeps one copy. */
	for (size_t i = 0; i < q->nfilters; i++) {
		int mid = 0;
		if (mosquitto_subscribe_v5(q->m, &mid, q->filters[i], q->qos, 0,
			NULL) == MOSQ_ERR_SUCCESS &&
		    i + 1 == q->nfilters)
			q->suback_mid = mid;
	}
}

static void
mq_on_connect(struct mosquitto *m, void *obj, int rc, int flags,
    const mosquitto_property *props)
{
	struct mq *q = obj;
	pthread_mutex_lock(&q->mu);
	q->connacks++;
	q->conn_rc = rc;
	mq_cloexec(mosquitto_socket(m));
	if (rc == 0) {
		q->connected = 1;
		if (q->role == IPK__MQTT_SUB)
			mq_subscribe_all(q);
	} else {
		q->refused = 1;
	}
	pthread_cond_broadcast(&q->cv);
	mq_ring(q);
	pthread_mutex_unlock(&q->mu);
}

static void
mq_on_disconnect(
    struct mosquitto *m, void *obj, int rc, const mosquitto_property *props)
{
	struct mq *q = obj;
	pthread_mutex_lock(&q->mu);
	q->connected = 0;
	q->lost_rc = rc;
	pthread_cond_broadcast(&q->cv);
	pthread_mutex_unlock(&q->mu);
}

static void
mq_on_subscribe(struct mosquitto *m, void *obj, int mid, int n,
    const int *granted, const mosquitto_property *props)
{
	struct mq *q = obj;
	pthread_mutex_lock(&q->mu);
	for (int i = 0; i < n; i++)
		if (granted[i] >= 0x80)
			q->sub_refused = granted[i];
	if (mid == q->suback_mid)
		q->subacked = 1;
	pthread_cond_broadcast(&q->cv);
	pthread_mutex_unlock(&q->mu);
}

static void
mq_on_publish(struct mosquitto *m, void *obj, int mid, int reason,
    const mosquitto_property *props)
{
	struct mq *q = obj;
	pthread_mutex_lock(&q->mu);
	q->acked++;
	pthread_cond_broadcast(&q->cv);
	mq_ring(q);
	pthread_mutex_unlock(&q->mu);
}

static uint64_t
mq_hex(const char *s, const char **end)
{
	uint64_t v = 0;
	int n = 0;
	for (; n < 16; s++, n++) {
		int d = *s >= '0' && *s <= '9' ? *s - '0'
		    : *s >= 'a' && *s <= 'f'   ? *s - 'a' + 10
					       : -1;
		if (d < 0)
			break;
		v = v << 4 | (uint64_t)d;
	}
	*end = n ? s : NULL;
	return v;
}

/* "SOURCE:N" from the peer: 0 and the two numbers when well formed. */
static int
mq_parse_seq(const char *s, uint64_t *src, uint64_t *n)
{
	const char *e;
	*src = mq_hex(s, &e);
	if (!e || *e != ':' || e[1] < '0' || e[1] > '9')
		return -1;
	char *end;
	errno = 0;
	unsigned long long v = strtoull(e + 1, &end, 10);
	if (errno || *end)
		return -1;
	*n = v;
	return 0;
}

static int
mq_bit(struct mq_src *s, uint64_t n)
{
	return (int)(s->seen[(n % MQ_WIN) / 64] >> (n % 64) & 1);
}

static void
mq_setbit(struct mq_src *s, uint64_t n, int on)
{
	uint64_t b = (uint64_t)1 << (n % 64);
	if (on)
		s->seen[(n % MQ_WIN) / 64] |= b;
	else
		s->seen[(n % MQ_WIN) / 64] &= ~b;
}

/* Account for number n of publisher src: 1 to deliver, 0 to drop (seen
 * before). Gaps and late arrivals go to the channel's counters. */
static int
mq_sequence(struct mq *q, uint64_t src, uint64_t n)
{
	struct mq_src *s = NULL, *old = &q->src[0];
	for (int i = 0; i < MQ_SRCS; i++) {
		if (q->src[i].used && q->src[i].id == src) {
			s = &q->src[i];
			break;
		}
		if (q->src[i].used < old->used)
			old = &q->src[i];
	}
	q->tick++;
	if (!s) {
		/* A publisher met for the first time: its numbers start
		 * here (a subscriber joins a stream already running). */
		s = old;
		memset(s, 0, sizeof(*s));
		s->id = src;
		s->next = n;
	}
	s->used = q->tick;
	if (n >= s->next) {
		uint64_t skip = n - s->next;
		q->gaps += skip;
		for (uint64_t k = s->next; k < n && k - s->next < MQ_WIN; k++)
			mq_setbit(s, k, 0);
		mq_setbit(s, n, 1);
		s->next = n + 1;
		return 1;
	}
	if (s->next - n <= MQ_WIN && !mq_bit(s, n)) {
		/* Counted lost when a later one came; it came after all. */
		mq_setbit(s, n, 1);
		q->late++;
		return 1;
	}
	q->redelivered++; /* dropped */
	return 0;
}

static void
mq_on_message(struct mosquitto *m, void *obj,
    const struct mosquitto_message *msg, const mosquitto_property *props)
{
	struct mq *q = obj;
	uint32_t type = 0;
	uint64_t src = 0, n = 0;
	int have_seq = 0, mine = 0;
	const mosquitto_property *p = props;
	int skip = 0;
	for (;;) {
		char *name = NULL, *value = NULL;
		p = mosquitto_property_read_string_pair(
		    p, MQTT_PROP_USER_PROPERTY, &name, &value, skip);
		if (!p)
			break;
		skip = 1;
		if (name && value) {
			if (!strcmp(name, "ipk-type")) {
				char *end;
				unsigned long v = strtoul(value, &end, 10);
				if (!*end && v <= 0xffffffffUL)
					type = (uint32_t)v;
			} else if (!strcmp(name, "ipk-seq")) {
				have_seq = mq_parse_seq(value, &src, &n) == 0;
			} else if (!strcmp(name, "ipk-bridge") && q->bridge &&
			    !strcmp(value, q->bridge)) {
				mine = 1;
			}
		}
		free(name);
		free(value);
	}
	if (mine || msg->payloadlen < 0)
		return;
	size_t len = (size_t)msg->payloadlen;
	int toobig = len > q->max_msg;
	pthread_mutex_lock(&q->mu);
	if (have_seq && !mq_sequence(q, src, n)) {
		pthread_mutex_unlock(&q->mu);
		return;
	}
	/* Full: QoS 0 loses its oldest (counted); QoS 1 and 2 make the
	 * broker wait (this thread does not read until there is room). */
	size_t keep = toobig ? 0 : len;
#define MQ_FULL(q)                                                             \
	((q)->qlen >= (q)->queue ||                                            \
	    ((q)->qlen && (q)->qbytes + keep > MQ_BYTES))
	while (MQ_FULL(q) && q->qos > 0 && !q->closing)
		(void)mq_wait(q, INT64_MAX);
	if (q->closing) {
		pthread_mutex_unlock(&q->mu);
		return;
	}
	while (MQ_FULL(q)) {
		struct mq_msg *o = q->head;
		q->head = o->next;
		if (!q->head)
			q->tail = NULL;
		q->qlen--;
		q->qbytes -= o->toobig ? 0 : o->len;
		core->free(o);
		q->gaps++;
	}
#undef MQ_FULL
	struct mq_msg *e = core->malloc(sizeof(*e) + (toobig ? 0 : len));
	if (!e) {
		q->gaps++;
		pthread_mutex_unlock(&q->mu);
		return;
	}
	e->next = NULL;
	e->type = type;
	e->len = len;
	e->toobig = toobig;
	if (!toobig && len)
		memcpy(e->data, msg->payload, len);
	if (q->tail)
		q->tail->next = e;
	else
		q->head = e;
	q->tail = e;
	q->qlen++;
	q->qbytes += keep;
	mq_ring(q);
	pthread_cond_broadcast(&q->cv);
	pthread_mutex_unlock(&q->mu);
}

/* --- Ops ---------------------------------------------------------------- */

static const char *
mq_lib(void)
{
	static char v[48];
	int a, b, c;
	mosquitto_lib_version(&a, &b, &c);
	snprintf(v, sizeof(v), "libmosquitto %d.%d.%d", a, b, c);
	return v;
}

static char *
mq_strdup(const char *s)
{
	size_t n = strlen(s) + 1;
	char *d = core->malloc(n);
	if (d)
		memcpy(d, s, n);
	return d;
}

static void
mq_free(struct mq *q)
{
	if (q->m) {
		if (q->started) {
			pthread_mutex_lock(&q->mu);
			q->closing = 1;
			pthread_cond_broadcast(&q->cv);
			pthread_mutex_unlock(&q->mu);
			/* DISCONNECT if connected (never waits for the broker),
			 * then the thread ends at its next turn. */
			(void)mosquitto_disconnect_v5(q->m, 0, NULL);
			(void)mosquitto_loop_stop(q->m, false);
		}
		mosquitto_destroy(q->m);
	}
	while (q->head) {
		struct mq_msg *e = q->head;
		q->head = e->next;
		core->free(e);
	}
	for (size_t i = 0; i < q->nfilters; i++)
		core->free(q->filters[i]);
	core->free(q->filters);
	core->free(q->url);
	core->free(q->topic);
	core->free(q->bridge);
	if (q->efd >= 0)
		close(q->efd);
	pthread_cond_destroy(&q->cv);
	pthread_mutex_destroy(&q->mu);
	core->free(q);
}

static int
mq_add_filter(struct mq *q, const char *f)
{
	if (q->nfilters == IPK__MQTT_MAXFILTER)
		return core->err(-ENOMEM, "%s: at most %d topic filters",
		    q->url, IPK__MQTT_MAXFILTER);
	char **a = core->malloc((q->nfilters + 1) * sizeof(char *));
	char *d = mq_strdup(f);
	if (!a || !d) {
		core->free(a);
		core->free(d);
		return -ENOMEM;
	}
	if (q->nfilters)
		memcpy(a, q->filters, q->nfilters * sizeof(char *));
	a[q->nfilters++] = d;
	core->free(q->filters);
	q->filters = a;
	return 0;
}

static int
mq_tls(struct mq *q, const struct ipk__mqtt_conf *k)
{
	int rv = mosquitto_tls_set(
	    q->m, k->cafile, k->capath, k->certfile, k->keyfile, NULL);
	if (rv == MOSQ_ERR_SUCCESS && !k->cafile && !k->capath)
		rv = mosquitto_int_option(q->m, MOSQ_OPT_TLS_USE_OS_CERTS, 1);
	if (rv == MOSQ_ERR_SUCCESS && k->insecure)
		rv = mosquitto_tls_insecure_set(q->m, true);
	if (rv != MOSQ_ERR_SUCCESS)
		return core->err(-EINVAL,
		    "%s: TLS settings refused (%s): check cafile=, capath=, "
		    "certfile= and keyfile=",
		    q->url, mosquitto_strerror(rv));
	return 0;
}

/* Wait for the first CONNACK (and SUBACK for sub) until the deadline. */
static int
mq_wait_up(struct mq *q, const struct ipk__mqtt_conf *k)
{
	int rv = 0;
	/* A broker that accepted the connection is given 5 s to answer
	 * even when the caller would not wait for one to listen. */
	int64_t answer = core->now_ns() + MQ_ANSWER_NS;
	if (k->deadline > answer)
		answer = k->deadline;
	pthread_mutex_lock(&q->mu);
	for (;;) {
		if (q->refused) {
			rv = core->err(-ECONNREFUSED,
			    "%s: the broker refused the connection: %s", q->url,
			    mosquitto_reason_string(q->conn_rc));
			break;
		}
		if (q->sub_refused) {
			rv = core->err(-EACCES,
			    "%s: the broker refused the subscription to "
			    "'%s': %s",
			    q->url, q->filters[0],
			    mosquitto_reason_string(q->sub_refused));
			break;
		}
		if (q->connected && (q->role == IPK__MQTT_PUB || q->subacked))
			break;
		/* A certificate refused now is refused again: do not wait. */
		int tls_failed = q->lost_rc == MOSQ_ERR_TLS && !q->connacks;
		if (tls_failed || mq_wait(q, answer) < 0) {
			/* A TLS handshake that failed ends the connection
			 * before any CONNACK: say that rather than "no
			 * answer". */
			if (q->lost_rc && !q->connected)
				rv = core->err(q->lost_rc == MOSQ_ERR_TLS
					? -EPROTO
					: -ECONNRESET,
				    "%s: the connection to %s:%d ended before "
				    "the broker answered: %s%s",
				    q->url, k->host, k->port,
				    mosquitto_strerror(q->lost_rc),
				    k->tls ? " (TLS: is the broker's "
					     "certificate signed by ?cafile=?)"
					   : "");
			else
				rv = core->err(-ETIMEDOUT,
				    "%s: no answer from a broker at %s:%d%s",
				    q->url, k->host, k->port,
				    q->connected ? " to the subscription" : "");
			break;
		}
	}
	pthread_mutex_unlock(&q->mu);
	return rv;
}

static int
mq_open(const struct ipk__mqtt_conf *k, void **out)
{
	*out = NULL;
	struct mq *q = core->calloc(1, sizeof(*q));
	if (!q)
		return -ENOMEM;
	q->efd = -1;
	pthread_mutex_init(&q->mu, NULL);
	pthread_condattr_t ca;
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&q->cv, &ca);
	pthread_condattr_destroy(&ca);
	q->role = k->role;
	q->qos = k->qos;
	q->retain = k->retain;
	q->clean = k->clean;
	q->queue = k->queue;
	if (q->role == IPK__MQTT_PUB && q->queue > MQ_MID_MAX)
		q->queue = MQ_MID_MAX;
	q->max_msg = k->max_msg;
	q->stats = k->stats;
	int rv = -ENOMEM;
	if (!(q->url = mq_strdup(k->url)) || !(q->topic = mq_strdup(k->topic)))
		goto err;
	if (k->bridge && !(q->bridge = mq_strdup(k->bridge)))
		goto err;
	if (q->role == IPK__MQTT_SUB && (rv = mq_add_filter(q, k->topic)) < 0)
		goto err;
	if (getrandom(&q->self, sizeof(q->self), 0) != sizeof(q->self))
		q->self = (uint64_t)core->now_ns() ^ (uint64_t)getpid() << 40;
	q->efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (q->efd < 0) {
		rv = core->err(
		    -errno, "%s: eventfd: %s", k->url, strerror(errno));
		goto err;
	}
	unsigned char fds[MQ_FDS / 8];
	mq_fds_open(fds);
	q->m = mosquitto_new(k->id, k->clean ? true : false, q);
	if (!q->m) {
		rv = errno == EINVAL
		    ? core->err(-EINVAL, "%s: client id refused", k->url)
		    : -ENOMEM;
		goto err;
	}
	mosquitto_int_option(q->m, MOSQ_OPT_PROTOCOL_VERSION, MQTT_PROTOCOL_V5);
	mosquitto_int_option(q->m, MOSQ_OPT_TCP_NODELAY, 1);
	if (q->role == IPK__MQTT_SUB)
		/* Let the broker send up to the queue's worth unacknowledged
		 * (MQTT 5 receive maximum; libmosquitto's default is 20):
		 * what it has written to our socket survives its crash,
		 * what it holds back in memory may not. */
		mosquitto_int_option(q->m, MOSQ_OPT_RECEIVE_MAXIMUM,
		    q->queue < 65535 ? (int)q->queue : 65535);
	mosquitto_reconnect_delay_set(
	    q->m, MQ_RECONNECT_MIN, MQ_RECONNECT_MAX, true);
	mosquitto_connect_v5_callback_set(q->m, mq_on_connect);
	mosquitto_disconnect_v5_callback_set(q->m, mq_on_disconnect);
	mosquitto_subscribe_v5_callback_set(q->m, mq_on_subscribe);
	mosquitto_publish_v5_callback_set(q->m, mq_on_publish);
	mosquitto_message_v5_callback_set(q->m, mq_on_message);
	if (k->user &&
	    (rv = mosquitto_username_pw_set(q->m, k->user, k->password)) !=
		MOSQ_ERR_SUCCESS) {
		rv = mq_errno(q, rv, "user/password");
		goto err;
	}
	if (k->tls && (rv = mq_tls(q, k)) < 0)
		goto err;
	mosquitto_property *cp = NULL;
	if (!k->clean)
		/* MQTT 5 ends a session at disconnect unless told otherwise:
		 * keep it until the broker's own limit. */
		mosquitto_property_add_int32(
		    &cp, MQTT_PROP_SESSION_EXPIRY_INTERVAL, 0xffffffffu);
	/* The first connection in this thread, so that a broker that is not
	 * there says so at once; later ones are the network thread's. */
	for (;;) {
		rv = mosquitto_connect_bind_v5(
		    q->m, k->host, k->port, k->keepalive, NULL, cp);
		if (rv == MOSQ_ERR_SUCCESS || core->now_ns() >= k->deadline ||
		    (rv != MOSQ_ERR_ERRNO || errno != ECONNREFUSED))
			break;
		(void)poll(NULL, 0, 50);
	}
	int e = errno; /* of the connection, for MOSQ_ERR_ERRNO */
	mosquitto_property_free_all(&cp);
	mq_fds_mark(fds);
	errno = e;
	if (rv != MOSQ_ERR_SUCCESS) {
		if (rv == MOSQ_ERR_ERRNO && errno == ECONNREFUSED)
			rv = core->err(-ECONNREFUSED,
			    "%s: no broker listens at %s:%d", k->url, k->host,
			    k->port);
		else
			rv = mq_errno(q, rv, "connect");
		goto err;
	}
	if ((rv = mosquitto_loop_start(q->m)) != MOSQ_ERR_SUCCESS) {
		rv = mq_errno(q, rv, "network thread");
		goto err;
	}
	q->started = 1;
	if ((rv = mq_wait_up(q, k)) < 0)
		goto err;
	*out = q;
	return 0;
err:
	mq_free(q);
	return rv;
}

static int
mq_send(void *st, const void *buf, size_t len, uint32_t type, int64_t deadline)
{
	struct mq *q = st;
	if (q->role != IPK__MQTT_PUB)
		return core->err(-ENOTSUP, "a sub channel does not send");
	pthread_mutex_lock(&q->mu);
	/* At most ?queue= messages unacknowledged, and about MQ_BYTES of
	 * messages of this size (one always goes). */
	while (q->published - q->acked >= q->queue ||
	    (q->published > q->acked &&
		(q->published - q->acked + 1) * (uint64_t)len > MQ_BYTES)) {
		if (mq_wait(q, deadline) < 0) {
			size_t n = (size_t)(q->published - q->acked);
			pthread_mutex_unlock(&q->mu);
			return core->err(-ETIMEDOUT,
			    "%zu messages wait for the broker's "
			    "acknowledgement (?queue=%zu)%s",
			    n, q->queue,
			    q->connected ? "" : "; the broker is away");
		}
	}
	uint64_t seq = q->seq++;
	q->published++;
	pthread_mutex_unlock(&q->mu);

	mosquitto_property *pr = NULL;
	char v[48];
	if (type) {
		snprintf(v, sizeof(v), "%u", type);
		mosquitto_property_add_string_pair(
		    &pr, MQTT_PROP_USER_PROPERTY, "ipk-type", v);
	}
	snprintf(v, sizeof(v), "%016llx:%llu", (unsigned long long)q->self,
	    (unsigned long long)seq);
	mosquitto_property_add_string_pair(
	    &pr, MQTT_PROP_USER_PROPERTY, "ipk-seq", v);
	if (q->bridge)
		mosquitto_property_add_string_pair(
		    &pr, MQTT_PROP_USER_PROPERTY, "ipk-bridge", q->bridge);
	int rc = mosquitto_publish_v5(q->m, NULL, q->topic, (int)len, buf,
	    q->qos, q->retain ? true : false, pr);
	mosquitto_property_free_all(&pr);
	if (rc == MOSQ_ERR_SUCCESS)
		return 0;
	if (rc == MOSQ_ERR_NO_CONN && q->qos > 0)
		return 0; /* queued: sent when the connection is back */
	pthread_mutex_lock(&q->mu);
	q->published--;
	if (rc == MOSQ_ERR_NO_CONN) {
		/* QoS 0 while the broker is away: lost, and counted. */
		q->stats->gaps++;
		pthread_mutex_unlock(&q->mu);
		return 0;
	}
	pthread_mutex_unlock(&q->mu);
	return mq_errno(q, rc, "publish");
}

static int
mq_recv(void *st, void *buf, size_t cap, size_t *len, uint32_t *type,
    int64_t deadline)
{
	struct mq *q = st;
	if (q->role != IPK__MQTT_SUB)
		return core->err(-ENOTSUP, "a pub channel does not receive");
	int rv = 0;
	pthread_mutex_lock(&q->mu);
	while (!q->head) {
		if (mq_wait(q, deadline) < 0) {
			rv = -ETIMEDOUT;
			break;
		}
	}
	if (rv == 0) {
		struct mq_msg *e = q->head;
		if (e->toobig) {
			rv = core->err(-EMSGSIZE,
			    "a message of %zu bytes is over maxmsg=%zu: "
			    "dropped",
			    e->len, q->max_msg);
		} else if (e->len > cap) {
			*len = e->len;
			pthread_mutex_unlock(&q->mu);
			return core->err(-EMSGSIZE,
			    "message of %zu bytes does not fit the %zu-byte "
			    "buffer (it stays queued)",
			    e->len, cap);
		} else {
			if (e->len)
				memcpy(buf, e->data, e->len);
			*len = e->len;
			*type = e->type;
		}
		q->head = e->next;
		if (!q->head)
			q->tail = NULL;
		q->qlen--;
		q->qbytes -= e->toobig ? 0 : e->len;
		core->free(e);
		if (q->qos > 0)
			pthread_cond_broadcast(&q->cv); /* room */
	}
	if (!q->head)
		mq_quiet(q);
	mq_count(q);
	pthread_mutex_unlock(&q->mu);
	return rv;
}

static int
mq_fd(void *st)
{
	return ((struct mq *)st)->efd;
}

static int
mq_ready(void *st)
{
	struct mq *q = st;
	pthread_mutex_lock(&q->mu);
	int r = q->head != NULL;
	if (!r)
		mq_quiet(q);
	mq_count(q);
	pthread_mutex_unlock(&q->mu);
	return r;
}

static int
mq_writable(void *st)
{
	struct mq *q = st;
	pthread_mutex_lock(&q->mu);
	int r = q->role == IPK__MQTT_PUB && q->published - q->acked < q->queue;
	if (!r && q->role == IPK__MQTT_PUB)
		mq_quiet(q);
	pthread_mutex_unlock(&q->mu);
	return r;
}

static int
mq_subscribe(void *st, const char *filter)
{
	struct mq *q = st;
	if (q->role != IPK__MQTT_SUB)
		return core->err(-EINVAL, "subscribe: not a sub channel");
	if (mosquitto_sub_topic_check(filter) != MOSQ_ERR_SUCCESS)
		return core->err(-EINVAL,
		    "subscribe: topic filter '%s': '+' stands for a whole "
		    "level, '#' only for the last one",
		    filter);
	pthread_mutex_lock(&q->mu);
	int rv = mq_add_filter(q, filter);
	int mid = 0;
	if (rv == 0 && q->connected) {
		q->subacked = 0;
		if (mosquitto_subscribe_v5(q->m, &mid, filter, q->qos, 0,
			NULL) == MOSQ_ERR_SUCCESS)
			q->suback_mid = mid;
		else
			q->subacked = 1; /* the next connection does it */
	}
	/* Wait (briefly) for the broker's answer, so that a message
	 * published after this call returns is received. */
	int64_t deadline = core->now_ns() + 5000000000LL;
	while (rv == 0 && !q->subacked && q->connected && !q->sub_refused)
		if (mq_wait(q, deadline) < 0)
			break;
	if (rv == 0 && q->sub_refused)
		rv =
		    core->err(-EACCES, "subscribe: the broker refused '%s': %s",
			filter, mosquitto_reason_string(q->sub_refused));
	pthread_mutex_unlock(&q->mu);
	return rv;
}

static int
mq_flush(void *st, int64_t deadline)
{
	struct mq *q = st;
	int rv = 0;
	pthread_mutex_lock(&q->mu);
	while (q->role == IPK__MQTT_PUB && q->acked < q->published)
		if (mq_wait(q, deadline) < 0) {
			rv = core->err(-ETIMEDOUT,
			    "%llu messages not yet acknowledged by the "
			    "broker%s",
			    (unsigned long long)(q->published - q->acked),
			    q->connected ? "" : " (it is away)");
			break;
		}
	pthread_mutex_unlock(&q->mu);
	return rv;
}

static void
mq_close(void *st)
{
	mq_free(st);
}

static const struct ipk__mqtt_ops mq_ops = {
    .version = IPK__PLUGIN_VERSION,
    .size = sizeof(struct ipk__mqtt_ops),
    .lib = mq_lib,
    .open = mq_open,
    .send = mq_send,
    .recv = mq_recv,
    .fd = mq_fd,
    .ready = mq_ready,
    .writable = mq_writable,
    .subscribe = mq_subscribe,
    .flush = mq_flush,
    .close = mq_close,
};

MQ_EXPORT const struct ipk__mqtt_ops *
ipk_mqtt_plugin_init(const struct ipk__plugin_core *c)
{
	if (!c || c->version != IPK__PLUGIN_VERSION || c->size < sizeof(*c))
		return NULL;
	core = c;
	/* Idempotent; never undone (other users of libmosquitto in the
	 * process may rely on it). */
	mosquitto_lib_init();
	return &mq_ops;
}
