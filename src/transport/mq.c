/* SPDX-License-Identifier: MIT */
/*
 * mq.c - POSIX message queues: mq:///name is two kernel queues (/name.ipk-l
 * to the listener, /name.ipk-d to the dialer) and a lock object
 * /dev/shm/name.ipk-lock whose OFD locks tell who is attached. Each queue
 * message is an 8-byte header (type, magic) and the payload.
 *
 * The lock object holds the creation record (core/own.h): the identity of
 * each queue the listener created. A queue at one of these names that the
 * record does not name is someone else's: refused with IPK_EFOREIGN, never
 * adopted, read or removed.
 *
 * ?framing=raw is the POSIX queue exactly as named (mq:///q is /q), shared
 * with any program that calls mq_send/mq_receive on it: no header, no lock
 * object, the priority carried as the type (0..32767; recv gives the
 * priority). Both ends send into and receive from the one queue, and a
 * message goes to whoever receives first. An existing queue is used as it
 * is (its owner must be us or ?allow=); a missing one is created by the
 * listener (?depth=, ?msgsize=, ?mode=), recorded in its run-directory
 * entry and removed by it on close, and waited for by a dialer. With no
 * peer to attach, nobody is ever reported gone (no IPK_ECLOSED).
 */
#include "core/attach.h"
#include "core/frame.h"
#include "core/ledger.h"
#include "core/own.h"
#include "core/testhook.h"
#include "core/transport.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <mqueue.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#define MQ_HDR 8u
#define MQ_MAGIC 0x716b7069u /* "ipkq" little-endian */
#define MQ_PRIO_TOP 32767u /* Linux MQ_PRIO_MAX - 1 */
#define MQ_DEFAULT_DEPTH 10
#define MQ_RLIMIT_SHARE 8 /* default: a channel takes <= 1/8 of it */
/* Kernel bookkeeping per queued message (struct msg_msg plus a priority
 * tree node), used to estimate what RLIMIT_MSGQUEUE is charged. */
#define MQ_OVERHEAD 96u
/* How often dial looks again for a listener that is not there yet. */
#define MQ_DIAL_POLL_MS 5

enum { MQ_LOCK, MQ_TO_L, MQ_TO_D, MQ_NNAMES };
/* The record's slot of queue MQ_TO_L / MQ_TO_D. */
#define MQ_SLOT(i) ((i)-MQ_TO_L)
static const char *const mq_suffix[MQ_NNAMES] = {
    ".ipk-lock", ".ipk-l", ".ipk-d"};

/* Named objects of one address, shared by a listener and the channel it
 * accepted; the last of the two to close removes them (unless keep). */
struct mq_home {
	struct ipk__att_home a;
	char name[MQ_NNAMES][NAME_MAX + 1];
};

struct mq_lst {
	struct mq_home *home;
	int raw; /* ?framing=raw: the queue `qname` itself */
	int made; /* raw: this listener created it (dev, ino) */
	dev_t dev;
	ino_t ino;
	char qname[NAME_MAX + 1];
};

struct mq_chan {
	struct mq_home *home; /* listening side only */
	int side;
	int lockfd;
	mqd_t rq, sq;
	size_t rsize, ssize; /* msgsize of the receive / send queue */
	unsigned char *rbuf, *sbuf;
	size_t pend_len; /* a received message not yet taken */
	int pending;
	int prio_type; /* priority = the message type */
	unsigned prio;
	int raw; /* ?framing=raw: rq is the one queue, both ways */
	unsigned pend_prio;
};

static long
mq_sysctl(const char *name)
{
	char path[96];
	snprintf(path, sizeof(path), "/proc/sys/fs/mqueue/%s", name);
	return ipk__read_proc_long(path);
}

/* "/name" -> the three object names; -EINVAL when it cannot be a name. */
static int
mq_names(const struct ipk__url *u, char name[MQ_NNAMES][NAME_MAX + 1])
{
	const char *p = u->path;
	if (*u->host || p[0] != '/' || !p[1] || strchr(p + 1, '/'))
		return ipk__err(-EINVAL,
		    "mq addresses are mq:///name (one "
		    "name, no directories)");
	if (strlen(p) + 9 > NAME_MAX)
		return ipk__err(-EINVAL,
		    "mq name '%s' is longer than %d "
		    "bytes",
		    p + 1, NAME_MAX - 10);
	for (int i = 0; i < MQ_NNAMES; i++)
		snprintf(name[i], NAME_MAX + 1, "%s%s", p, mq_suffix[i]);
	return 0;
}

/* ?prio=N|type, read by each end for the messages it sends. */
static int
mq_prio(struct mq_chan *m, const struct ipk__url *u)
{
	const char *v;
	int64_t n;
	if (ipk__url_str(u, "prio", &v) == 0 && strcmp(v, "type") == 0) {
		m->prio_type = 1;
		return 0;
	}
	int rv = ipk__url_int(u, "prio", 0, MQ_PRIO_TOP, &n);
	if (rv < 0)
		return ipk__err(-EINVAL,
		    "prio= takes 'type' or a priority "
		    "from 0 to %u",
		    MQ_PRIO_TOP);
	m->prio = rv == 0 ? (unsigned)n : 0;
	return 0;
}

/* Queue attributes from ?depth= and ?msgsize=, checked against the
 * system's limits so that an error names the limit. */
static int
mq_attr_pick(const struct ipk__url *u, size_t max_msg, struct mq_attr *a)
{
	errno = 0;
	long msg_max = mq_sysctl("msg_max");
	long size_max = mq_sysctl("msgsize_max");
	if ((msg_max < 0 || size_max < 0) &&
	    (errno == EMFILE ||
		errno == ENFILE)) /* not "no limit": out of descriptors */
		return ipk__err(-errno,
		    "cannot read the limits in "
		    "/proc/sys/fs/mqueue: %s",
		    strerror(errno));
	uint64_t depth = MQ_DEFAULT_DEPTH, size;
	struct rlimit rl;
	int rv,
	    lim = getrlimit(RLIMIT_MSGQUEUE, &rl) == 0 &&
	    rl.rlim_cur != RLIM_INFINITY;
	size = (uint64_t)max_msg + MQ_HDR;
	if (size_max > 0 && size > (uint64_t)size_max)
		size = (uint64_t)size_max;
	if ((rv = ipk__url_size(u, "msgsize", &size)) < 0)
		return rv;
	if (size < MQ_HDR)
		return ipk__err(-EINVAL,
		    "msgsize= must be at least %u (the "
		    "ipckit header)",
		    MQ_HDR);
	/* By default one channel takes at most 1/MQ_RLIMIT_SHARE of the
	 * user's queue budget, so that several fit. */
	if (lim) {
		uint64_t fit =
		    rl.rlim_cur / MQ_RLIMIT_SHARE / 2 / (size + MQ_OVERHEAD);
		depth = IPK__MAX(IPK__MIN(depth, fit), 1);
	}
	if (msg_max > 0 && depth > (uint64_t)msg_max)
		depth = (uint64_t)msg_max;
	if ((rv = ipk__url_size(u, "depth", &depth)) < 0)
		return rv;
	if (depth == 0)
		return ipk__err(-EINVAL, "depth= must be at least 1");
	if (msg_max > 0 && depth > (uint64_t)msg_max)
		return ipk__err(-EINVAL,
		    "depth=%llu is over the system limit "
		    "fs.mqueue.msg_max=%ld (/proc/sys/fs/mqueue/msg_max)",
		    (unsigned long long)depth, msg_max);
	if (size_max > 0 && size > (uint64_t)size_max)
		return ipk__err(-EINVAL,
		    "msgsize=%llu is over the system "
		    "limit fs.mqueue.msgsize_max=%ld "
		    "(/proc/sys/fs/mqueue/msgsize_max)",
		    (unsigned long long)size, size_max);
	uint64_t need = 2 * depth * (size + MQ_OVERHEAD);
	if (lim && need > rl.rlim_cur)
		return ipk__err(-EINVAL,
		    "two queues of depth=%llu and "
		    "msgsize=%llu need about %llu bytes, over "
		    "RLIMIT_MSGQUEUE=%llu bytes (ulimit -q)",
		    (unsigned long long)depth, (unsigned long long)size,
		    (unsigned long long)need, (unsigned long long)rl.rlim_cur);
	a->mq_maxmsg = (long)depth;
	a->mq_msgsize = (long)size;
	return 0;
}

/* Explain an mq_open failure in terms of the limit that caused it. */
static int
mq_open_err(int e, const char *name)
{
	int probe = e == EMFILE ? open("/dev/null", O_RDONLY | O_CLOEXEC) : -1;
	if (probe >= 0)
		close(probe);
	else if (e == EMFILE && errno == EMFILE)
		return ipk__err(-EMFILE,
		    "cannot open queue %s: this process "
		    "has RLIMIT_NOFILE descriptors open (ulimit -n)",
		    name);
	if (e == EMFILE)
		return ipk__err(-EMFILE,
		    "cannot create queue %s: this user's "
		    "queues would exceed RLIMIT_MSGQUEUE (ulimit -q)",
		    name);
	if (e == ENOSPC)
		return ipk__err(-ENOSPC,
		    "cannot create queue %s: the system "
		    "has fs.mqueue.queues_max=%ld queues already",
		    name, mq_sysctl("queues_max"));
	if (e == ENOENT)
		return ipk__err(-ENOENT, "queue %s does not exist", name);
	return ipk__err(-e, "queue %s: %s", name, strerror(e));
}

/* The lock object's file-system path. */
static void
mq_lock_path(const char name[MQ_NNAMES][NAME_MAX + 1], char *path, size_t n)
{
	snprintf(path, n, "/dev/shm%.*s", NAME_MAX, name[MQ_LOCK]);
}

/* Is the open queue `q` the one the record in `lockfd` names as queue i? */
static int
mq_recorded(int lockfd, mqd_t q, int i, const char *name)
{
	struct stat st;
	if (fstat((int)q, &st) < 0)
		return -errno;
	if (IPK__CHECK(
		"mq.recorded", !ipk__own_has_st(lockfd, MQ_SLOT(i), &st)))
		return ipk__foreign_err(
		    name, "a POSIX queue its channel's record does not name");
	return 0;
}

/* Create queue i, recorded in the lock object, or take back the one the
 * record names (a dead listener's: its messages stay) with ?mode=; a queue
 * at the name that the record does not name is refused. *made is set when
 * this call created it. */
static int
mq_make(int lockfd, const char *name, int i, unsigned mode, struct mq_attr *a,
    int *made)
{
	int fl = O_RDWR | O_NONBLOCK;
	struct stat st;
	mqd_t q = mq_open(name, fl | O_CREAT | O_EXCL, (mode_t)mode, a);
	*made = q != (mqd_t)-1;
	int rv = 0;
	if (*made) {
		if (fstat((int)q, &st) < 0 ||
		    ipk__own_put_st(lockfd, MQ_SLOT(i), &st) < 0)
			rv = ipk__err(-EIO, "cannot record queue %s", name);
	} else if (errno == EEXIST) {
		if ((q = mq_open(name, fl)) == (mqd_t)-1)
			return errno == EACCES ? ipk__foreign_err(name,
						     "a POSIX queue of "
						     "another user")
					       : mq_open_err(errno, name);
		rv = mq_recorded(lockfd, q, i, name);
	} else {
		return mq_open_err(errno, name);
	}
	/* ?mode= exactly, on a new queue and on a taken-back one; the umask
	 * never narrows it */
	if (rv == 0 && fchmod((int)q, (mode_t)(mode & 0777)) < 0)
		rv = mq_open_err(errno, name);
	mq_close(q);
	if (rv < 0 && *made) {
		mq_unlink(name);
		*made = 0;
	}
	return rv;
}

/* Unlink queue i only if it is the one the record names. Telling needs an
 * open of it, so an open that fails but for "gone" or "not ours" (memory,
 * descriptors) is tried again a few times before the queue is left for
 * ipckit gc. */
static int
mq_unlink_ours(int lockfd, const char *name, int i)
{
	mqd_t q = (mqd_t)-1;
	struct stat st;
	int done = 0;
	for (int t = 0; t < 4 && q == (mqd_t)-1; t++) {
		q = mq_open(name, O_RDONLY | O_NONBLOCK);
		if (q == (mqd_t)-1 && (errno == ENOENT || errno == EACCES))
			break;
	}
	if (q == (mqd_t)-1)
		return 0;
	if (fstat((int)q, &st) == 0 && ipk__own_has_st(lockfd, MQ_SLOT(i), &st))
		done = mq_unlink(name) == 0;
	mq_close(q);
	return done;
}

/* Unlink the lock object if it still is the one open as `fd`. */
static int
mq_unlink_lock(int fd, const char name[MQ_NNAMES][NAME_MAX + 1])
{
	char path[NAME_MAX + 32];
	mq_lock_path(name, path, sizeof(path));
	return ipk__own_unlink_self(fd, path);
}

static void
mq_home_unref(struct mq_home *h)
{
	if (!h || --h->a.refs > 0)
		return;
	if (!h->a.keep && h->a.lockfd >= 0) {
		(void)mq_unlink_ours(h->a.lockfd, h->name[MQ_TO_L], MQ_TO_L);
		(void)mq_unlink_ours(h->a.lockfd, h->name[MQ_TO_D], MQ_TO_D);
		(void)mq_unlink_lock(h->a.lockfd, h->name);
	}
	ipk__close_fd(&h->a.lockfd);
	ipk__free(h);
}

/* An object we open must be ours (or of the ?allow= uid): another user's
 * queue at our name could read what we send and feed us what it likes. */
static int
mq_owned(int fd, const char *what, uid_t allow)
{
	struct stat st;
	if (fstat(fd, &st) < 0)
		return ipk__err(-errno, "%s: %s", what, strerror(errno));
	return ipk__uid_ours(st.st_uid, allow)
	    ? 0
	    : ipk__owner_err(what, st.st_uid);
}

/* --- ?framing=raw: the queue exactly as named (see top) ------------------ */

static int
mq_raw_name(const struct ipk__url *u, char *name)
{
	const char *p = u->path;
	if (*u->host || p[0] != '/' || !p[1] || strchr(p + 1, '/'))
		return ipk__err(-EINVAL,
		    "mq addresses are mq:///name (one "
		    "name, no directories)");
	if (strlen(p) > NAME_MAX)
		return ipk__err(-EINVAL, "mq name '%s' is too long", p + 1);
	snprintf(name, NAME_MAX + 1, "%s", p);
	return 0;
}

/* Open the queue `name` for both ways, checked to be `want` (dev, ino)
 * when want->st_ino is set, and of our uid (or allow). */
static int
mq_raw_open(const char *name, uid_t allow, const struct stat *want, mqd_t *q)
{
	struct stat st;
	*q = mq_open(name, O_RDWR | O_NONBLOCK);
	if (*q == (mqd_t)-1)
		return errno == ENOENT
		    ? ipk__err(-ENOENT, "no queue %s yet: nobody listens", name)
		    : mq_open_err(errno, name);
	int rv = mq_owned((int)*q, name, allow);
	if (rv == 0 && fstat((int)*q, &st) < 0)
		rv = -errno;
	if (rv == 0 && want && want->st_ino &&
	    (st.st_ino != want->st_ino || st.st_dev != want->st_dev))
		rv = ipk__err(-ESTALE, "queue %s was replaced", name);
	if (rv < 0) {
		mq_close(*q);
		*q = (mqd_t)-1;
	}
	return rv;
}

static int
mq_raw_listen(
    struct ipk_listener *l, struct mq_lst *ml, const struct ipk__url *u)
{
	struct mq_attr a = {0};
	struct stat st;
	mqd_t q;
	int rv;
	ml->raw = 1;
	if ((rv = mq_raw_name(u, ml->qname)) < 0)
		return rv;
	rv = mq_raw_open(ml->qname, l->allow_uid, NULL, &q);
	if (rv == -ENOENT) {
		if ((rv = mq_attr_pick(u, l->max_msg, &a)) < 0)
			return rv;
		q = mq_open(ml->qname, O_RDWR | O_NONBLOCK | O_CREAT | O_EXCL,
		    (mode_t)(l->mode & 0777), &a);
		if (q == (mqd_t)-1)
			return mq_open_err(errno, ml->qname);
		if (fstat((int)q, &st) < 0 ||
		    fchmod((int)q, (mode_t)(l->mode & 0777)) < 0) {
			rv = -errno;
			mq_close(q);
			(void)mq_unlink(ml->qname);
			return rv;
		}
		ml->made = 1;
		ml->dev = st.st_dev;
		ml->ino = st.st_ino;
		ipk__ledger_set_obj(l->ledger, &st);
	} else if (rv < 0) {
		return rv;
	} else if (fstat((int)q, &st) == 0) {
		ml->dev = st.st_dev;
		ml->ino = st.st_ino;
	}
	mq_close(q);
	return 0;
}

static void
mq_raw_lclose(struct ipk_listener *l, struct mq_lst *ml)
{
	struct stat want = {.st_dev = ml->dev, .st_ino = ml->ino};
	mqd_t q;
	/* Only the queue this listener made, while it is still that one. */
	if (!ml->made || l->keep ||
	    mq_raw_open(ml->qname, l->allow_uid, &want, &q) < 0)
		return;
	(void)mq_unlink(ml->qname);
	mq_close(q);
}

/* A raw channel on the open queue m->rq: the queue's msgsize is the
 * limit both ways. */
static int
mq_raw_attach(struct ipk_chan *c, struct mq_chan *m)
{
	struct mq_attr a;
	m->raw = 1;
	if (mq_getattr(m->rq, &a) < 0)
		return -errno;
	m->rsize = m->ssize = (size_t)a.mq_msgsize;
	if (m->rsize < c->max_msg) {
		c->max_msg = m->rsize;
		snprintf(c->limit_why, sizeof(c->limit_why),
		    "the queue's msgsize=%zu", m->rsize);
	}
	m->rbuf = ipk__malloc(m->rsize ? m->rsize : 1);
	return m->rbuf ? 0 : -ENOMEM;
}

static int
mq_raw_accept(struct mq_lst *ml, struct ipk_chan *c)
{
	struct mq_chan *m = ipk__chan_priv(c);
	struct stat want = {.st_dev = ml->dev, .st_ino = ml->ino};
	int rv = mq_raw_open(ml->qname, c->allow_uid, &want, &m->rq);
	return rv < 0 ? rv : mq_raw_attach(c, m);
}

static int
mq_raw_dial(struct ipk_chan *c, const struct ipk__url *u, int64_t deadline)
{
	struct mq_chan *m = ipk__chan_priv(c);
	char name[NAME_MAX + 1];
	int rv = mq_raw_name(u, name);
	while (rv == 0) {
		rv = mq_raw_open(name, c->allow_uid, NULL, &m->rq);
		if (rv != -ENOENT || ipk__expired(deadline))
			break;
		(void)ipk__poll1(-1, 0, deadline, MQ_DIAL_POLL_MS);
		rv = 0;
	}
	return rv < 0 ? rv : mq_raw_attach(c, m);
}

static int
mq_raw_send(struct ipk_chan *c, struct mq_chan *m, const void *buf, size_t len,
    uint32_t type, int64_t deadline)
{
	if (type > MQ_PRIO_TOP)
		return ipk__err(-EINVAL,
		    "type %u is no POSIX queue priority (0 to %u)", type,
		    MQ_PRIO_TOP);
	for (;;) {
		if (mq_send(m->rq, buf, len, type) == 0)
			return 0;
		if (errno == EINTR)
			continue;
		if (errno == EMSGSIZE)
			return ipk__err(-EMSGSIZE,
			    "message of %zu bytes does not fit the queue's "
			    "msgsize=%zu",
			    len, m->ssize);
		if (errno != EAGAIN)
			return -errno;
		if (ipk__expired(deadline))
			return -ETIMEDOUT;
		c->stats->waits++;
		int rv = ipk__poll1(m->rq, POLLOUT, deadline, -1);
		if (rv < 0)
			return rv;
	}
}

static int
mq_raw_recv(struct ipk_chan *c, struct mq_chan *m, void *buf, size_t cap,
    size_t *len, uint32_t *type, int64_t deadline)
{
	while (!m->pending) {
		ssize_t n =
		    mq_receive(m->rq, (char *)m->rbuf, m->rsize, &m->pend_prio);
		if (n >= 0) {
			m->pend_len = (size_t)n;
			m->pending = 1;
			break;
		}
		if (errno == EINTR)
			continue;
		if (errno != EAGAIN)
			return -errno;
		if (ipk__expired(deadline))
			return -ETIMEDOUT;
		int rv = ipk__poll1(m->rq, POLLIN, deadline, -1);
		if (rv < 0)
			return rv;
		if (rv == 0 && ipk__expired(deadline))
			return -ETIMEDOUT;
	}
	if (m->pend_len > c->max_msg) {
		m->pending = 0;
		return ipk__err(-EMSGSIZE,
		    "a message of %zu bytes over this side's limit of %zu "
		    "was dropped",
		    m->pend_len, c->max_msg);
	}
	*len = m->pend_len;
	if (m->pend_len > cap)
		return ipk__err(-EMSGSIZE,
		    "the message has %zu bytes, the buffer %zu", m->pend_len,
		    cap);
	if (m->pend_len)
		memcpy(buf, m->rbuf, m->pend_len);
	*type = m->pend_prio;
	m->pending = 0;
	return 0;
}

static int
mq_listen(struct ipk_listener *l, const struct ipk__url *u)
{
	struct mq_lst *ml = ipk__lst_priv(l);
	struct mq_attr a = {0};
	struct mq_chan probe;
	const struct ipk__framing *f;
	int rv = ipk__url_framing(u, IPK__FRAMING_RAW, &f);
	if (rv < 0)
		return rv;
	if (f)
		return mq_raw_listen(l, ml, u);
	struct mq_home *h = ipk__calloc(1, sizeof(*h));
	if (!h)
		return -ENOMEM;
	h->a.refs = 1;
	h->a.lockfd = -1;
	h->a.keep = 1; /* nothing is ours to remove until we own the address */
	ml->home = h;
	if ((rv = mq_names(u, h->name)) < 0 || (rv = mq_prio(&probe, u)) < 0 ||
	    (rv = mq_attr_pick(u, l->max_msg, &a)) < 0)
		return rv;
	char path[NAME_MAX + 32];
	mq_lock_path(h->name, path, sizeof(path));
	int fresh;
	if ((rv = ipk__own_take(path, "mq", l->mode, l->allow_uid, u->path + 1,
		 &h->a.lockfd, &fresh)) < 0)
		return rv;
	h->a.keep = l->keep;
	int made[3] = {fresh, 0, 0};
	if ((rv = mq_make(h->a.lockfd, h->name[MQ_TO_L], MQ_TO_L, l->mode, &a,
		 &made[1])) < 0 ||
	    (rv = mq_make(h->a.lockfd, h->name[MQ_TO_D], MQ_TO_D, l->mode, &a,
		 &made[2])) < 0 ||
	    (rv = ipk__att_set(h->a.lockfd, IPK__LOCK_WAIT, 1)) < 0) {
		/* Remove what this call made, nothing else (a dead listener's
		 * queues that it took back keep their messages). */
		h->a.keep = 1;
		for (int i = MQ_TO_L; i < MQ_NNAMES; i++)
			if (made[i])
				(void)mq_unlink_ours(
				    h->a.lockfd, h->name[i], i);
		if (made[0])
			(void)mq_unlink_lock(h->a.lockfd, h->name);
		return rv;
	}
	h->a.seen = ipk__att_gen(h->a.lockfd);
	return 0;
}

static void
mq_lclose(struct ipk_listener *l)
{
	struct mq_lst *ml = ipk__lst_priv(l);
	if (ml->raw)
		mq_raw_lclose(l, ml);
	mq_home_unref(ml->home);
	ml->home = NULL;
}

/* Open both queues of an attached endpoint and size its buffers. */
static int
mq_attach(
    struct ipk_chan *c, struct mq_chan *m, const char *rname, const char *sname)
{
	struct mq_attr ra, sa;
	int rv;
	if (m->rq == (mqd_t)-1 &&
	    (m->rq = mq_open(rname, O_RDONLY | O_NONBLOCK)) == (mqd_t)-1)
		return mq_open_err(errno, rname);
	if (m->sq == (mqd_t)-1 &&
	    (m->sq = mq_open(sname, O_WRONLY | O_NONBLOCK)) == (mqd_t)-1)
		return mq_open_err(errno, sname);
	int ri = m->side == IPK__SIDE_DIAL ? MQ_TO_D : MQ_TO_L;
	if ((rv = mq_owned((int)m->rq, rname, c->allow_uid)) < 0 ||
	    (rv = mq_owned((int)m->sq, sname, c->allow_uid)) < 0 ||
	    (rv = mq_recorded(m->lockfd, m->rq, ri, rname)) < 0 ||
	    (rv = mq_recorded(
		 m->lockfd, m->sq, MQ_TO_L + MQ_TO_D - ri, sname)) < 0)
		return rv;
	if (mq_getattr(m->rq, &ra) < 0 || mq_getattr(m->sq, &sa) < 0)
		return -errno;
	/* Not a check of peer data any more: both queues are the ones the
	 * creation record names, and a listener never makes them smaller
	 * than the header. Kept so the arithmetic below cannot underflow. */
	if (ra.mq_msgsize < (long)MQ_HDR || sa.mq_msgsize < (long)MQ_HDR)
		return ipk__err(IPK_EFOREIGN,
		    "queues %s and %s are too small "
		    "for ipckit messages",
		    rname, sname);
	m->rsize = (size_t)ra.mq_msgsize;
	m->ssize = (size_t)sa.mq_msgsize;
	size_t fit = IPK__MIN(m->rsize, m->ssize) - MQ_HDR;
	if (fit < c->max_msg) {
		c->max_msg = fit;
		snprintf(c->limit_why, sizeof(c->limit_why),
		    "the queue's "
		    "msgsize=%zu less the %u-byte header; system limit "
		    "fs.mqueue.msgsize_max=%ld",
		    IPK__MIN(m->rsize, m->ssize), MQ_HDR,
		    mq_sysctl("msgsize_max"));
	}
	m->rbuf = ipk__malloc(m->rsize);
	m->sbuf = ipk__malloc(m->ssize);
	if (!m->rbuf || !m->sbuf)
		return -ENOMEM;
	return 0;
}

/* Open the receive and send queues (dial), -ENOENT while they do not exist;
 * mq_close2 closes them. */
static int
mq_open2(struct mq_chan *m, const char *rname, const char *sname)
{
	m->rq = mq_open(rname, O_RDONLY | O_NONBLOCK);
	if (m->rq == (mqd_t)-1)
		return mq_open_err(errno, rname);
	m->sq = mq_open(sname, O_WRONLY | O_NONBLOCK);
	if (m->sq == (mqd_t)-1)
		return mq_open_err(errno, sname);
	return 0;
}

static void
mq_close2(struct mq_chan *m)
{
	if (m->rq != (mqd_t)-1)
		mq_close(m->rq);
	if (m->sq != (mqd_t)-1)
		mq_close(m->sq);
	m->rq = m->sq = (mqd_t)-1;
}

static void
mq_chan_init(struct mq_chan *m, int side)
{
	m->side = side;
	m->lockfd = -1;
	m->rq = m->sq = (mqd_t)-1;
}

static int
mq_accept(struct ipk_listener *l, struct ipk_chan *c, int64_t deadline)
{
	struct mq_lst *ml = ipk__lst_priv(l);
	struct mq_chan *m = ipk__chan_priv(c);
	struct mq_home *h = ml->home;
	int rv;
	mq_chan_init(m, IPK__SIDE_LISTEN);
	if (ml->raw)
		return mq_raw_accept(ml, c);
	if ((rv = mq_prio(m, &l->u)) < 0 ||
	    (rv = ipk__att_home_accept(&h->a, &m->lockfd, deadline)) < 0)
		return rv;
	m->home = h;
	return mq_attach(c, m, h->name[MQ_TO_L], h->name[MQ_TO_D]);
}

static int
mq_dial(struct ipk_chan *c, const struct ipk__url *u, int64_t deadline)
{
	struct mq_chan *m = ipk__chan_priv(c);
	char name[MQ_NNAMES][NAME_MAX + 1];
	const struct ipk__framing *f;
	int rv;
	mq_chan_init(m, IPK__SIDE_DIAL);
	if ((rv = ipk__url_framing(u, IPK__FRAMING_RAW, &f)) < 0)
		return rv;
	if (f)
		return mq_raw_dial(c, u, deadline);
	if ((rv = mq_names(u, name)) < 0 || (rv = mq_prio(m, u)) < 0)
		return rv;
	/* depth= and msgsize= belong to the listener, which creates the
	 * queues; a dialer takes the queues' own attributes. */
	for (;;) {
		char path[NAME_MAX + 32];
		mq_lock_path(name, path, sizeof(path));
		rv = m->lockfd >= 0
		    ? 0
		    : ipk__own_open(path, "mq", 0, 0, c->allow_uid, &m->lockfd);
		if (rv == -ENOENT)
			rv = ipk__err(-ENOENT,
			    "no listener: "
			    "%s does not exist",
			    path);
		/* The queues are opened before we count as attached: a
		 * listener that accepts us, sends and closes at once then
		 * unlinks only their names, and what it sent stays ours. */
		if (rv == 0)
			rv = mq_open2(m, name[MQ_TO_D], name[MQ_TO_L]);
		if (rv == 0)
			rv = ipk__att_dial(m->lockfd, u->path + 1);
		if (rv != -ENOENT && rv != -ECONNREFUSED)
			break;
		/* A listener may yet replace a stale lock object. */
		mq_close2(m);
		ipk__close_fd(&m->lockfd);
		if (ipk__expired(deadline))
			return rv;
		(void)ipk__poll1(-1, 0, deadline, MQ_DIAL_POLL_MS);
	}
	if (rv < 0)
		return rv;
	return mq_attach(c, m, name[MQ_TO_D], name[MQ_TO_L]);
}

static int
mq_chan_send(struct ipk_chan *c, const void *buf, size_t len, uint32_t type,
    int64_t deadline)
{
	struct mq_chan *m = ipk__chan_priv(c);
	if (m->raw)
		return mq_raw_send(c, m, buf, len, type, deadline);
	uint32_t hdr[2] = {type, MQ_MAGIC};
	unsigned prio = m->prio_type ? IPK__MIN(type, MQ_PRIO_TOP) : m->prio;
	memcpy(m->sbuf, hdr, MQ_HDR);
	if (len)
		memcpy(m->sbuf + MQ_HDR, buf, len);
	for (;;) {
		if (mq_send(m->sq, (const char *)m->sbuf, MQ_HDR + len, prio) ==
		    0) {
			IPK__CRASH_SITE("mq.after_send");
			return 0;
		}
		if (errno == EINTR)
			continue;
		if (errno == EMSGSIZE)
			return ipk__err(-EMSGSIZE,
			    "message of %zu bytes does "
			    "not fit the queue's msgsize=%zu",
			    len, m->ssize);
		if (errno != EAGAIN)
			return -errno;
		if (!ipk__att_peer(m->lockfd, m->side))
			return ipk__err(IPK_ECLOSED,
			    "the queue is full and "
			    "the peer is gone");
		if (ipk__expired(deadline))
			return -ETIMEDOUT;
		c->stats->waits++;
		int rv = ipk__poll1(m->sq, POLLOUT, deadline, IPK__SLICE_MS);
		if (rv < 0)
			return rv;
	}
}

/* Make sure one validated message sits in rbuf. When the queue is empty,
 * the peer's liveness is read and the queue tried once more, so a message
 * sent just before the peer died still comes before IPK_ECLOSED; a busy
 * queue costs no liveness test. */
static int
mq_take(struct ipk_chan *c, struct mq_chan *m, int64_t deadline)
{
	int alive = 1, fresh = 0, waited = 0;
	while (!m->pending) {
		ssize_t n = mq_receive(m->rq, (char *)m->rbuf, m->rsize, NULL);
		if (n >= 0) {
			uint32_t hdr[2];
			if (IPK__CHECK("mq.short", (size_t)n < MQ_HDR))
				return ipk__err(-EBADMSG,
				    "a message of %zd "
				    "bytes is shorter than the header",
				    n);
			memcpy(hdr, m->rbuf, MQ_HDR);
			if (IPK__CHECK("mq.magic", hdr[1] != MQ_MAGIC))
				return ipk__err(-EBADMSG,
				    "a message without "
				    "the ipckit header was dropped");
			m->pend_len = (size_t)n - MQ_HDR;
			m->pending = 1;
			IPK__CRASH_SITE("mq.after_receive");
			break;
		}
		if (errno == EINTR)
			continue;
		if (errno != EAGAIN)
			return -errno;
		if (!fresh) {
			alive = ipk__att_peer(m->lockfd, m->side);
			fresh = 1;
			continue;
		}
		if (!alive)
			return ipk__err(IPK_ECLOSED, "no peer is attached");
		if (ipk__expired(deadline))
			return -ETIMEDOUT;
		if (!waited++)
			c->stats->waits++;
		int rv = ipk__poll1(m->rq, POLLIN, deadline, IPK__SLICE_MS);
		if (rv < 0)
			return rv;
		fresh = 0;
	}
	return 0;
}

static int
mq_chan_recv(struct ipk_chan *c, void *buf, size_t cap, size_t *len,
    uint32_t *type, int64_t deadline)
{
	struct mq_chan *m = ipk__chan_priv(c);
	if (m->raw)
		return mq_raw_recv(c, m, buf, cap, len, type, deadline);
	int rv = mq_take(c, m, deadline);
	if (rv < 0)
		return rv;
	if (m->pend_len > c->max_msg) {
		m->pending = 0;
		return ipk__err(-EMSGSIZE,
		    "a message of %zu bytes over this "
		    "side's limit of %zu was dropped",
		    m->pend_len, c->max_msg);
	}
	*len = m->pend_len;
	if (m->pend_len > cap)
		return ipk__err(-EMSGSIZE,
		    "the message has %zu bytes, the "
		    "buffer %zu",
		    m->pend_len, cap);
	memcpy(type, m->rbuf, sizeof(*type));
	if (m->pend_len)
		memcpy(buf, m->rbuf + MQ_HDR, m->pend_len);
	m->pending = 0;
	return 0;
}

static int
mq_fd(struct ipk_chan *c)
{
	struct mq_chan *m = ipk__chan_priv(c);
	return (int)m->rq;
}

static int
mq_ready(struct ipk_chan *c)
{
	struct mq_chan *m = ipk__chan_priv(c);
	struct mq_attr a;
	if (m->pending)
		return 1;
	if (mq_getattr(m->rq, &a) == 0 && a.mq_curmsgs > 0)
		return 1;
	return !m->raw && !ipk__att_peer(m->lockfd, m->side);
}

static void
mq_chan_close(struct ipk_chan *c)
{
	struct mq_chan *m = ipk__chan_priv(c);
	mq_close2(m);
	ipk__free(m->rbuf);
	ipk__free(m->sbuf);
	m->rbuf = m->sbuf = NULL;
	ipk__att_home_leave(m->home ? &m->home->a : NULL, &m->lockfd);
	mq_home_unref(m->home);
	m->home = NULL;
}

/* --- Operating: queue attributes are read through an O_RDONLY open, which
 * the endpoints cannot notice. --- */

/* The lock object of an address, from outside: 0 with *fd, -ENOENT when
 * there is none and no queue either, IPK_EFOREIGN otherwise. */
static int
mq_own_find(const char name[MQ_NNAMES][NAME_MAX + 1], int *fd)
{
	char path[NAME_MAX + 32];
	mq_lock_path(name, path, sizeof(path));
	int rv = ipk__own_open(path, "mq", 0, 0, 0, fd);
	for (int i = MQ_TO_L; rv == -ENOENT && i < MQ_NNAMES; i++) {
		mqd_t q = mq_open(name[i], O_RDONLY | O_NONBLOCK);
		if (q != (mqd_t)-1) {
			mq_close(q);
			rv = ipk__foreign_err(name[i],
			    "no ipckit lock object "
			    "names it");
		}
	}
	return rv;
}

static int
mq_inspect(const struct ipk__url *u, struct ipk_objinfo *o)
{
	char name[MQ_NNAMES][NAME_MAX + 1];
	int fd = -1, found = 0;
	int rv = mq_names(u, name);
	if (rv < 0 || (rv = mq_own_find(name, &fd)) < 0)
		return rv;
	o->queued_msgs = o->cap_msgs = o->cap_bytes = 0;
	for (int i = MQ_TO_L; i < MQ_NNAMES; i++) {
		mqd_t q = mq_open(name[i], O_RDONLY | O_NONBLOCK | O_CLOEXEC);
		struct mq_attr a;
		struct stat st;
		if (q == (mqd_t)-1)
			continue;
		if (mq_getattr(q, &a) == 0 && fstat((int)q, &st) == 0 &&
		    ipk__own_has_st(fd, MQ_SLOT(i), &st)) {
			o->queued_msgs += a.mq_curmsgs;
			o->cap_msgs += a.mq_maxmsg;
			o->cap_bytes += a.mq_maxmsg * a.mq_msgsize;
			o->uid = st.st_uid;
			o->mode = st.st_mode & 07777;
			snprintf(o->objects[found], sizeof(o->objects[0]),
			    "/dev/mqueue%.240s", name[i]);
			found++;
		}
		mq_close(q);
	}
	ipk__close_fd(&fd);
	if (!found) {
		o->queued_msgs = o->cap_msgs = o->cap_bytes = -1;
		return -ENOENT;
	}
	snprintf(o->objects[found], sizeof(o->objects[0]), "/dev/shm%.240s",
	    name[MQ_LOCK]);
	return 0;
}

/* The queue a raw listener made, from outside: only the very queue its
 * run-directory entry records (a dead listener's). */
static int
mq_raw_remove(const struct ipk__url *u)
{
	char name[NAME_MAX + 1];
	struct stat st;
	int rv = mq_raw_name(u, name);
	if (rv < 0)
		return rv;
	mqd_t q = mq_open(name, O_RDONLY | O_NONBLOCK);
	if (q == (mqd_t)-1)
		return -ENOENT;
	if (fstat((int)q, &st) < 0 || !ipk__ledger_obj_is(u, &st))
		rv = ipk__foreign_err(
		    name, "a POSIX queue no ipckit listener's record names");
	else
		rv = mq_unlink(name) < 0 ? -errno : 0;
	mq_close(q);
	return rv;
}

static int
mq_remove(const struct ipk__url *u, int force)
{
	char name[MQ_NNAMES][NAME_MAX + 1];
	const struct ipk__framing *f;
	int fd = -1;
	int rv = ipk__url_framing(u, IPK__FRAMING_RAW, &f);
	if (rv < 0)
		return rv;
	if (f)
		return mq_raw_remove(u);
	rv = mq_names(u, name);
	if (rv < 0 || (rv = mq_own_find(name, &fd)) < 0)
		return rv;
	for (int b = 0; !force && b < IPK__LOCK_NBYTES; b++)
		if (ipk__live_held(fd, b) == 1) {
			ipk__close_fd(&fd);
			return ipk__err(-EBUSY,
			    "/dev/shm%s is held by a live "
			    "endpoint",
			    name[MQ_LOCK]);
		}
	/* Each queue only when the record names it. */
	int n = mq_unlink_ours(fd, name[MQ_TO_L], MQ_TO_L);
	n += mq_unlink_ours(fd, name[MQ_TO_D], MQ_TO_D);
	n += mq_unlink_lock(fd, name);
	ipk__close_fd(&fd);
	return n ? 0 : -ENOENT;
}

static const char *const mq_options[] = {
    "depth", "msgsize", "prio", "framing", NULL};

const struct ipk__transport ipk__transport_mq = {
    .scheme = "mq",
    .caps = IPK_CAP_BOUNDARIES | IPK_CAP_REATTACH | IPK_CAP_PERSIST,
    .chan_size = sizeof(struct mq_chan),
    .lst_size = sizeof(struct mq_lst),
    .options = mq_options,
    .example = "mq:///%s",
    .variants =
	IPK__VARIANTS({"mq", "", "block (poll on queue)", IPK__VARIANT_ALL}),
    .listen = mq_listen,
    .accept = mq_accept,
    .lclose = mq_lclose,
    .dial = mq_dial,
    .send = mq_chan_send,
    .recv = mq_chan_recv,
    .fd = mq_fd,
    .ready = mq_ready,
    .close = mq_chan_close,
    .inspect = mq_inspect,
    .remove = mq_remove,
};
