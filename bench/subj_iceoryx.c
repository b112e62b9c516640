/* SPDX-License-Identifier: MIT */
/*
 * subj_iceoryx.c - the iceoryx row: zero-copy publish/subscribe through
 * iceoryx's C binding, one publisher and one subscriber per direction,
 * compiled when CMake found it (IPK_BENCH_HAVE_ICEORYX); and its fan-out
 * rows, one publisher and many subscribers (bench_psops, --patterns).
 * iceoryx needs its broker, iox-roudi: a row starts it when none is
 * running and stops it afterwards.
 */
#include "bench.h"

#include <stdio.h>
#include <string.h>

#ifdef IPK_BENCH_HAVE_ICEORYX
#include <errno.h>
#include <sched.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <iceoryx_binding_c/chunk.h>
#include <iceoryx_binding_c/log.h>
#include <iceoryx_binding_c/publisher.h>
#include <iceoryx_binding_c/runtime.h>
#include <iceoryx_binding_c/subscriber.h>
#include <iceoryx_binding_c/wait_set.h>

#define IOXB_ROUDI_SOCKET "/tmp/roudi" /* iox-roudi's registration socket */

struct ioxb_state {
	pid_t roudi; /* the broker we started, 0 if it was running */
	char instance[32]; /* unique per run */
	iox_pub_storage_t pub_st;
	iox_sub_storage_t sub_st;
	iox_ws_storage_t ws_st;
	iox_pub_t pub;
	iox_sub_t sub;
	iox_ws_t ws;
	void *loaned; /* chunk loaned, not yet published */
	const void *held; /* chunk taken by peek or recv */
};

static int
ioxb_roudi_up(void)
{
	struct sockaddr_un a = {.sun_family = AF_UNIX};
	int fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0), ok;
	if (fd < 0)
		return 0;
	snprintf(a.sun_path, sizeof(a.sun_path), "%s", IOXB_ROUDI_SOCKET);
	ok = connect(fd, (struct sockaddr *)&a, sizeof(a)) == 0;
	if (!ok) {
		close(fd);
		fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
		ok = fd >= 0 &&
		    connect(fd, (struct sockaddr *)&a, sizeof(a)) == 0;
	}
	if (fd >= 0)
		close(fd);
	return ok;
}

/* Start iox-roudi unless one is running: *pid gets the broker started
 * (0 when one was running already). On failure a sentence in err. */
static int
ioxb_roudi_start(pid_t *pid_out, char *err, size_t cap)
{
	*pid_out = 0;
	if (ioxb_roudi_up())
		return 0;
	pid_t parent = getpid();
	pid_t pid = fork();
	if (pid < 0) {
		snprintf(err, cap, "fork: %s", strerror(errno));
		return -errno;
	}
	if (pid == 0) {
		/* The broker goes when the process that started it goes. */
		prctl(PR_SET_PDEATHSIG, SIGTERM);
		if (getppid() != parent)
			_exit(127);
		/* It may abort on shutdown when a client is already gone;
		 * no core file for that. */
		struct rlimit rl = {0, 0};
		setrlimit(RLIMIT_CORE, &rl);
		if (!freopen("/dev/null", "w", stdout) ||
		    !freopen("/dev/null", "w", stderr))
			_exit(127);
		execl(IPK_IOX_ROUDI, "iox-roudi", (char *)NULL);
		_exit(127);
	}
	*pid_out = pid;
	for (int i = 0; i < 500; i++) {
		struct timespec ts = {0, 10000000};
		if (ioxb_roudi_up())
			return 0;
		if (waitpid(pid, NULL, WNOHANG) == pid) {
			*pid_out = 0;
			snprintf(err, cap,
			    "%s exited at once (is another broker holding "
			    "its lock?)",
			    IPK_IOX_ROUDI);
			return -ECHILD;
		}
		nanosleep(&ts, NULL);
	}
	snprintf(err, cap, "%s did not come up within 5 s", IPK_IOX_ROUDI);
	return -ETIMEDOUT;
}

static int
ioxb_prepare(struct bench_conn *c)
{
	struct ioxb_state *st = calloc(1, sizeof(*st));
	if (!st)
		return bench_fail(c, -ENOMEM, "out of memory");
	c->p = st;
	snprintf(st->instance, sizeof(st->instance), "p%ld", (long)getpid());
	int rv = ioxb_roudi_start(&st->roudi, c->err, sizeof(c->err));
	return rv < 0 ? bench_fail(c, rv, "%s", c->err) : 0;
}

/* Each side: its runtime, a publisher of its direction, a subscriber of
 * the other, and a wait set that sleeps until data arrives. */
static int
ioxb_open(struct bench_conn *c)
{
	struct ioxb_state *st = c->p;
	char name[64];
	static const char *const ev[2] = {"ping", "pong"};
	snprintf(name, sizeof(name), "ipkb_%s_%d", st->instance, c->side);
	/* Pool exhaustion is expected while streaming (it is the flow
	 * control here); iceoryx would log every occurrence. */
	iox_set_loglevel(Iceoryx_LogLevel_Off);
	iox_runtime_init(name);
	iox_pub_options_t po;
	iox_pub_options_init(&po);
	po.historyCapacity = 0;
	po.subscriberTooSlowPolicy = ConsumerTooSlowPolicy_WAIT_FOR_CONSUMER;
	st->pub =
	    iox_pub_init(&st->pub_st, "ipkb", st->instance, ev[c->side], &po);
	iox_sub_options_t so;
	iox_sub_options_init(&so);
	/* Fewer queued chunks than the pool of the largest size (30 of
	 * 1 MiB in the built-in config): the publisher then waits for the
	 * subscriber instead of exhausting the pool. */
	so.queueCapacity = 16;
	so.queueFullPolicy = QueueFullPolicy_BLOCK_PRODUCER;
	st->sub =
	    iox_sub_init(&st->sub_st, "ipkb", st->instance, ev[!c->side], &so);
	st->ws = iox_ws_init(&st->ws_st);
	if (iox_ws_attach_subscriber_state(st->ws, st->sub,
		SubscriberState_HAS_DATA, 0, NULL) != WaitSetResult_SUCCESS)
		return bench_fail(c, -EIO,
		    "iceoryx: cannot attach the wait "
		    "set");
	/* Discovery goes through the broker: wait until both directions are
	 * connected, so no message is published into the void. */
	int64_t end = bench_now() + BENCH_OP_MS * 1000000ll;
	while (!iox_pub_has_subscribers(st->pub) ||
	    iox_sub_get_subscription_state(st->sub) !=
		SubscribeState_SUBSCRIBED) {
		struct timespec ts = {0, 1000000};
		if (bench_now() > end)
			return bench_fail(c, -ETIMEDOUT,
			    "iceoryx: the peer "
			    "did not subscribe within %d ms",
			    BENCH_OP_MS);
		nanosleep(&ts, NULL);
	}
	c->pollable = 0;
	/* The largest mempool of iox-roudi's built-in configuration holds
	 * 4 MiB chunks, chunk header included. */
	c->max_msg = (4u << 20) - 4096;
	snprintf(c->limit, sizeof(c->limit),
	    "largest chunk of iox-roudi's "
	    "built-in mempools");
	return 0;
}

static int
ioxb_dial(struct bench_conn *c, const char *url)
{
	(void)url;
	return ioxb_open(c);
}

static int
ioxb_loan(struct bench_conn *c, size_t len, void **buf)
{
	struct ioxb_state *st = c->p;
	int64_t end = 0;
	for (;;) {
		enum iox_AllocationResult r =
		    iox_pub_loan_chunk(st->pub, buf, (uint32_t)len);
		if (r == AllocationResult_SUCCESS) {
			st->loaned = *buf;
			return 0;
		}
		if (r == AllocationResult_NO_MEMPOOLS_AVAILABLE)
			return bench_fail(c, -EMSGSIZE,
			    "iceoryx: no RouDi "
			    "mempool holds %zu bytes (give iox-roudi a "
			    "config with a bigger pool)",
			    len);
		if (r != AllocationResult_RUNNING_OUT_OF_CHUNKS)
			return bench_fail(c, -EIO,
			    "iceoryx: loan failed "
			    "(%d)",
			    (int)r);
		/* Every chunk of this size is queued at the subscriber:
		 * wait for it to release some. */
		if (!end)
			end = bench_now() + BENCH_OP_MS * 1000000ll;
		else if (bench_now() > end)
			return bench_fail(c, -ETIMEDOUT,
			    "iceoryx: no chunk "
			    "came free within %d ms",
			    BENCH_OP_MS);
		sched_yield();
	}
}

static int
ioxb_commit(struct bench_conn *c, size_t len)
{
	struct ioxb_state *st = c->p;
	(void)len; /* iceoryx publishes the whole loaned chunk */
	iox_pub_publish_chunk(st->pub, st->loaned);
	st->loaned = NULL;
	return 0;
}

static int
ioxb_peek(struct bench_conn *c, const void **buf, size_t *len)
{
	struct ioxb_state *st = c->p;
	int64_t end = bench_now() + BENCH_OP_MS * 1000000ll;
	for (;;) {
		enum iox_ChunkReceiveResult r =
		    iox_sub_take_chunk(st->sub, buf);
		if (r == ChunkReceiveResult_SUCCESS) {
			/* The C binding (v2.0) does not tell the payload size:
			 * *len stays the size the caller expects, and the
			 * engine checks the length carried in the payload. */
			st->held = *buf;
			return 0;
		}
		if (r != ChunkReceiveResult_NO_CHUNK_AVAILABLE)
			return bench_fail(
			    c, -EIO, "iceoryx: take failed (%d)", (int)r);
		if (bench_now() > end)
			return bench_fail(c, -ETIMEDOUT,
			    "iceoryx: nothing "
			    "arrived within %d ms",
			    BENCH_OP_MS);
		iox_notification_info_t info[1];
		uint64_t missed;
		struct timespec ts = {0, 100000000};
		iox_ws_timed_wait(st->ws, ts, info, 1, &missed);
	}
}

static int
ioxb_release(struct bench_conn *c)
{
	struct ioxb_state *st = c->p;
	if (st->held)
		iox_sub_release_chunk(st->sub, st->held);
	st->held = NULL;
	return 0;
}

static int
ioxb_send(struct bench_conn *c, const void *buf, size_t len)
{
	struct ioxb_state *st = c->p;
	void *p;
	int rv = ioxb_loan(c, len, &p);
	if (rv < 0)
		return rv;
	memcpy(p, buf, len);
	iox_pub_publish_chunk(st->pub, p);
	st->loaned = NULL;
	return 0;
}

static int
ioxb_recv(struct bench_conn *c, void *buf, size_t len)
{
	const void *p;
	size_t n = len;
	int rv = ioxb_peek(c, &p, &n);
	if (rv < 0)
		return rv;
	memcpy(buf, p, n);
	ioxb_release(c);
	return (int)n;
}

static void
ioxb_close(struct bench_conn *c)
{
	struct ioxb_state *st = c->p;
	if (!st)
		return;
	ioxb_release(c);
	if (st->ws) {
		iox_ws_detach_subscriber_state(
		    st->ws, st->sub, SubscriberState_HAS_DATA);
		iox_ws_deinit(st->ws);
	}
	if (st->sub)
		iox_sub_deinit(st->sub);
	if (st->pub)
		iox_pub_deinit(st->pub);
	/* Before the broker goes away, or the runtime aborts the process. */
	if (st->ws || st->sub || st->pub)
		iox_runtime_shutdown();
	st->ws = NULL;
	st->sub = NULL;
	st->pub = NULL;
}

static void
ioxb_finish(struct bench_conn *c)
{
	struct ioxb_state *st = c->p;
	if (!st)
		return;
	if (st->roudi > 0) {
		/*
		 * On shutdown iox-roudi sends SIGTERM to every registered
		 * client, this process included, and waits for them to leave.
		 * Ignore the signal: this process (a row's own) exits next,
		 * through exit() so that the runtime unregisters (the row's
		 * subject has exit_clean), and the broker then finishes on its
		 * own; the command reaps it (a child subreaper).
		 */
		signal(SIGTERM, SIG_IGN);
		kill(st->roudi, SIGTERM);
	}
	free(st);
	c->p = NULL;
}

static const struct bench_ops ioxb_ops = {
    .prepare = ioxb_prepare,
    .accept = ioxb_open,
    .dial = ioxb_dial,
    .send = ioxb_send,
    .recv = ioxb_recv,
    .loan = ioxb_loan,
    .commit = ioxb_commit,
    .peek = ioxb_peek,
    .release = ioxb_release,
    .close = ioxb_close,
    .finish = ioxb_finish,
};

/* --- fan-out: one publisher, many subscribers (bench_psops) ------------- */

struct ioxps_state {
	iox_pub_storage_t pub_st;
	iox_sub_storage_t sub_st;
	iox_ws_storage_t ws_st;
	iox_pub_t pub;
	iox_sub_t sub;
	iox_ws_t ws;
	const void *held;
};

/* Started in the coordinating process, which never joins iceoryx itself:
 * the parties it forks do. */
static int
ioxps_prepare(struct bench_ps *ps)
{
	static pid_t roudi;
	ps->glob = &roudi;
	return ioxb_roudi_start(&roudi, ps->err, sizeof(ps->err));
}

static void
ioxps_finish(struct bench_ps *ps)
{
	pid_t *roudi = ps->glob;
	if (!roudi || *roudi <= 0)
		return;
	/* Every party has left: the broker can go at once. */
	kill(*roudi, SIGTERM);
	for (int i = 0; i < 300; i++) {
		struct timespec ts = {0, 10000000};
		if (waitpid(*roudi, NULL, WNOHANG) == *roudi) {
			*roudi = 0;
			return;
		}
		nanosleep(&ts, NULL);
	}
	kill(*roudi, SIGKILL);
	waitpid(*roudi, NULL, 0);
	*roudi = 0;
}

static int
ioxps_init(struct bench_ps *ps, const char *role)
{
	static struct ioxps_state st;
	char name[64];
	ps->p = &st;
	snprintf(name, sizeof(name), "ipkb_ps_%s_%ld", role, (long)getpid());
	iox_set_loglevel(Iceoryx_LogLevel_Off);
	iox_runtime_init(name);
	return 0;
}

static int
ioxps_pub_open(struct bench_ps *ps, char *addr, size_t cap)
{
	struct ioxps_state *st;
	ioxps_init(ps, "pub");
	st = ps->p;
	/* The instance names this row's service; subscribers find it
	 * through the broker. */
	snprintf(addr, cap, "f%ld", (long)getpid());
	iox_pub_options_t po;
	iox_pub_options_init(&po);
	po.historyCapacity = 0;
	po.subscriberTooSlowPolicy = ConsumerTooSlowPolicy_WAIT_FOR_CONSUMER;
	st->pub = iox_pub_init(&st->pub_st, "ipkb", addr, "fanout", &po);
	return 0;
}

static int
ioxps_pub_send(struct bench_ps *ps, const void *buf, size_t len, int timeout_ms)
{
	struct ioxps_state *st = ps->p;
	int64_t end = bench_now() + (int64_t)timeout_ms * 1000000;
	void *p;
	for (;;) {
		enum iox_AllocationResult r =
		    iox_pub_loan_chunk(st->pub, &p, (uint32_t)len);
		if (r == AllocationResult_SUCCESS)
			break;
		if (r != AllocationResult_RUNNING_OUT_OF_CHUNKS) {
			snprintf(ps->err, sizeof(ps->err),
			    "iceoryx: loan failed (%d)", (int)r);
			return -EIO;
		}
		if (bench_now() > end) {
			snprintf(ps->err, sizeof(ps->err),
			    "iceoryx: no chunk came free in %d ms", timeout_ms);
			return -ETIMEDOUT;
		}
		sched_yield();
	}
	memcpy(p, buf, len);
	iox_pub_publish_chunk(st->pub, p);
	return 0;
}

static int
ioxps_sub_open(struct bench_ps *ps, const char *addr)
{
	struct ioxps_state *st;
	ioxps_init(ps, "sub");
	st = ps->p;
	iox_sub_options_t so;
	iox_sub_options_init(&so);
	so.queueCapacity = 64;
	so.queueFullPolicy = QueueFullPolicy_BLOCK_PRODUCER;
	st->sub = iox_sub_init(&st->sub_st, "ipkb", addr, "fanout", &so);
	st->ws = iox_ws_init(&st->ws_st);
	if (iox_ws_attach_subscriber_state(st->ws, st->sub,
		SubscriberState_HAS_DATA, 0, NULL) != WaitSetResult_SUCCESS) {
		snprintf(ps->err, sizeof(ps->err),
		    "iceoryx: cannot attach the wait set");
		return -EIO;
	}
	return 0;
}

static int
ioxps_sub_recv(
    struct bench_ps *ps, void *buf, size_t cap, size_t *len, int timeout_ms)
{
	struct ioxps_state *st = ps->p;
	const void *p;
	enum iox_ChunkReceiveResult r = iox_sub_take_chunk(st->sub, &p);
	if (r == ChunkReceiveResult_NO_CHUNK_AVAILABLE) {
		iox_notification_info_t info[1];
		uint64_t missed;
		struct timespec ts = {
		    timeout_ms / 1000, (long)(timeout_ms % 1000) * 1000000};
		iox_ws_timed_wait(st->ws, ts, info, 1, &missed);
		r = iox_sub_take_chunk(st->sub, &p);
		if (r == ChunkReceiveResult_NO_CHUNK_AVAILABLE)
			return -ETIMEDOUT;
	}
	if (r != ChunkReceiveResult_SUCCESS) {
		snprintf(ps->err, sizeof(ps->err), "iceoryx: take failed (%d)",
		    (int)r);
		return -EIO;
	}
	/* The C binding does not tell the payload's size: the message says
	 * it (bytes 12-15), checked by the caller against what it holds. */
	uint32_t l32;
	memcpy(&l32, (const char *)p + 12, 4);
	*len = l32 < cap ? l32 : cap;
	memcpy(buf, p, *len);
	iox_sub_release_chunk(st->sub, p);
	return 0;
}

static void
ioxps_close(struct bench_ps *ps)
{
	struct ioxps_state *st = ps->p;
	if (!st)
		return;
	if (st->ws) {
		iox_ws_detach_subscriber_state(
		    st->ws, st->sub, SubscriberState_HAS_DATA);
		iox_ws_deinit(st->ws);
	}
	if (st->sub)
		iox_sub_deinit(st->sub);
	if (st->pub)
		iox_pub_deinit(st->pub);
	iox_runtime_shutdown();
	st->ws = NULL;
	st->sub = NULL;
	st->pub = NULL;
	ps->p = NULL;
}

static const struct bench_psops ioxps_ops = {
    .exit_clean = 1,
    .prepare = ioxps_prepare,
    .finish = ioxps_finish,
    .pub_open = ioxps_pub_open,
    .pub_send = ioxps_pub_send,
    .sub_open = ioxps_sub_open,
    .sub_recv = ioxps_sub_recv,
    .close = ioxps_close,
};
#endif

int
bench_subjects_iceoryx(struct bench_subject *rows, int cap)
{
	struct bench_subject *r = rows;
	if (cap < 1)
		return 0;
	memset(r, 0, sizeof(*r));
	snprintf(r->name, sizeof(r->name), "iceoryx");
	snprintf(r->arg, sizeof(r->arg), "iceoryx");
	r->kind = BENCH_PEER;
	r->wait = "wait set (futex)";
	r->props =
	    (struct bench_props){0, 1, 1, "0 with loans; 1 copying", 0, 0, 0};
#ifdef IPK_BENCH_HAVE_ICEORYX
	r->ops = &ioxb_ops;
	r->zero_copy = 1;
	r->exit_clean = 1;
#else
	r->status = BENCH_NOT_BUILT;
	snprintf(r->reason, sizeof(r->reason),
	    "install "
	    "libiceoryx-binding-c-dev and iceoryx (iox-roudi)");
#endif
	return 1;
}

const struct bench_psops *
bench_psops_iceoryx(void)
{
#ifdef IPK_BENCH_HAVE_ICEORYX
	return &ioxps_ops;
#else
	return NULL;
#endif
}
