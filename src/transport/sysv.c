/* SPDX-License-Identifier: MIT */
/*
 * sysv.c - System V message queues: sysv:///path or sysv:0xKEY is ONE queue
 * for both directions, told apart by the kernel message type (the article's
 * trick), with selective receive by type on one side. A lock file records
 * which queue is ours, and doorbell FIFOs stand in for the descriptor and
 * the timeout that msgrcv lacks (docs/transports/sysv.md).
 *
 * Names: sysv:0xKEY is the queue at KEY; sysv:///path follows the System V
 * convention, KEY = ftok(path, proj) (?proj=, default 'i'): an existing
 * file at path is only the key source and is never changed; a missing one
 * is created, recorded, and removed on close. The lock file and the two
 * doorbells are /dev/shm/ipk-sysv-0xKEY{,.ring-l,.ring-d} in both forms; the
 * lock file holds the creation record (core/own.h) and the queue's record
 * below, so a queue, file or FIFO ipckit did not make is never touched.
 *
 * ?framing=raw: the System V queue at the key itself, shared with any
 * program (python3-sysv-ipc, ipcs/ipcrm, msgsnd/msgrcv in C): plain
 * messages, the kernel's mtype as the ipckit type (1 and up; recv gives
 * the mtype, ipk_recv_type is msgrcv's selective receive), no lock file,
 * doorbells or header. sysv:///path needs the key file to exist (ftok).
 * An existing queue is used as it is (its owner must be us or ?allow=); a
 * missing one is created by the listener (?mode=) and removed by it on
 * close while the key still names that very queue; a dialer waits for
 * one. msgrcv has no descriptor, so waits nap (1 ms growing to
 * IPK__SLICE_MS) and ipk_fd is -ENOTSUP; nobody is ever reported gone,
 * except when the queue is removed (IPK_ECLOSED).
 *
 * Linger: a queue has no descriptor to keep it alive, so a listening side
 * that closes while an attached dialer has unread messages leaves the queue
 * and its files, marked `linger` in the record; that dialer reads them, gets
 * IPK_ECLOSED and removes everything when it closes (sysv_reap).
 */
#include "core/attach.h"
#include "core/frame.h"
#include "core/own.h"
#include "core/testhook.h"
#include "core/transport.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/msg.h>
#include <sys/stat.h>
#include <unistd.h>

#define SYSV_HDR 8u
#define SYSV_MAGIC 0x736b7069u /* "ipks" little-endian */
#define SYSV_PROJ 'i'
/* Slots of the creation record: the key file (path form, when made), the
 * doorbells. */
#define SYSV_OWN_KEYFILE 0
#define SYSV_OWN_RING(i) (i) /* SYSV_RING_L 1, SYSV_RING_D 2 */
/*
 * Messages to the typed side (the listener unless ?select=dial) have mtype
 * 2 + the ipckit type, so msgrcv(2 + t) selects one type in the kernel and
 * msgrcv(1, MSG_EXCEPT) takes them all in send order; messages to the other
 * side all have mtype 1, which is what keeps both directions FIFO.
 */
#define SYSV_TO_PLAIN 1L
#define SYSV_TYPED_BASE 2L
#define SYSV_DIAL_POLL_MS 5
#define SYSV_FULL_BACKOFF_MS 4 /* longest nap while the queue is full */

/* The first bytes of the lock file: who the queue at `key` is. */
struct sysv_rec {
	char magic[8];
	int32_t key;
	int32_t msqid;
	int32_t typed_side;
	int32_t linger; /* left to the dialer by a closed listener */
};
static const char sysv_rec_magic[8] = "IPKSYSV1";

enum { SYSV_LOCK, SYSV_RING_L, SYSV_RING_D, SYSV_NNAMES };

struct sysv_names {
	int keyform; /* sysv:0xKEY */
	int proj; /* path form: ftok's project id */
	key_t key; /* keyform: given; path form: from ftok, once known */
	char keyfile[PATH_MAX]; /* path form: the ftok file */
	char n[SYSV_NNAMES][PATH_MAX]; /* file-system paths in /dev/shm */
};

struct sysv_home {
	struct ipk__att_home a;
	int msqid; /* -1 until created or adopted */
	int typed_side;
	struct sysv_names nm;
};

struct sysv_lst {
	struct sysv_home *home;
	int raw; /* ?framing=raw: the queue at `key` itself */
	key_t key;
	int made_id; /* raw: the queue this listener created, or -1 */
};

struct sysv_chan {
	struct sysv_home *home; /* listening side only */
	struct sysv_names *nm; /* dialing side only: for sysv_reap */
	int side, typed_side;
	int lockfd, ring, peer_ring;
	int msqid;
	size_t rcap; /* mtext bytes rbuf can take */
	unsigned char *rbuf, *sbuf; /* long mtype, then mtext */
	size_t pend_len;
	int pending;
	int raw; /* ?framing=raw: plain msgsnd/msgrcv, mtype = type */
};

static long
sysv_sysctl(const char *name)
{
	char path[96];
	snprintf(path, sizeof(path), "/proc/sys/kernel/%s", name);
	return ipk__read_proc_long(path);
}

/* The names in /dev/shm once the key is known. */
static void
sysv_names_key(struct sysv_names *nm)
{
	unsigned k = (unsigned)nm->key;
	snprintf(nm->n[SYSV_LOCK], PATH_MAX, "/dev/shm/ipk-sysv-0x%08x", k);
	snprintf(
	    nm->n[SYSV_RING_L], PATH_MAX, "/dev/shm/ipk-sysv-0x%08x.ring-l", k);
	snprintf(
	    nm->n[SYSV_RING_D], PATH_MAX, "/dev/shm/ipk-sysv-0x%08x.ring-d", k);
}

static int
sysv_names(const struct ipk__url *u, struct sysv_names *nm)
{
	const char *p = u->path, *v;
	memset(nm, 0, sizeof(*nm));
	if (*u->host)
		return ipk__err(-EINVAL,
		    "sysv addresses are sysv:///path or "
		    "sysv:0xKEY");
	if (p[0] == '0' && (p[1] == 'x' || p[1] == 'X')) {
		char *end;
		errno = 0;
		unsigned long k = strtoul(p + 2, &end, 16);
		if (errno || *end || end == p + 2 || k == 0 || k > 0xffffffffUL)
			return ipk__err(-EINVAL,
			    "sysv key '%s' is not a "
			    "non-zero 32-bit hex number",
			    p);
		nm->keyform = 1;
		nm->key = (key_t)(uint32_t)k;
		sysv_names_key(nm);
		return 0;
	}
	if (p[0] != '/' || !p[1])
		return ipk__err(-EINVAL,
		    "sysv addresses are sysv:///path or "
		    "sysv:0xKEY");
	if (strlen(p) >= PATH_MAX)
		return ipk__err(-ENAMETOOLONG, "sysv path is too long");
	snprintf(nm->keyfile, PATH_MAX, "%s", p);
	nm->proj = SYSV_PROJ;
	if (ipk__url_str(u, "proj", &v) == 0) {
		char *end;
		long n = strtol(v, &end, 0);
		if (v[0] && !v[1] && (v[0] < '0' || v[0] > '9'))
			nm->proj = (unsigned char)v[0];
		else if (*v && !*end && n >= 1 && n <= 255)
			nm->proj = (int)n;
		else
			return ipk__err(-EINVAL,
			    "proj= is ftok's project id: one "
			    "character or a number from 1 to 255");
	}
	return 0;
}

/* Path form: the key from the key file (ftok), made first when `create`
 * and missing (then *made is its stat, else st_ino is 0). A symbolic link
 * is refused; any other existing file is only read by ftok. */
static int
sysv_key(struct sysv_names *nm, int create, unsigned mode, struct stat *made)
{
	struct stat st;
	memset(made, 0, sizeof(*made));
	if (nm->keyform)
		return 0;
	if (lstat(nm->keyfile, &st) < 0) {
		if (errno != ENOENT)
			return ipk__err(
			    -errno, "%s: %s", nm->keyfile, strerror(errno));
		if (!create)
			return ipk__err(-ENOENT,
			    "no listener: the key file %s "
			    "does not exist",
			    nm->keyfile);
		int fd = open(nm->keyfile,
		    O_RDONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC,
		    (mode_t)(mode & 0666));
		if (fd < 0)
			return errno == EEXIST
			    ? -EAGAIN
			    : ipk__err(-errno,
				  "cannot create the key file %s: %s",
				  nm->keyfile, strerror(errno));
		int rv = fstat(fd, made) < 0 ? -errno : 0;
		if (rv == 0 && fchmod(fd, (mode_t)(mode & 0777)) < 0)
			rv = -errno;
		close(fd);
		if (rv < 0) {
			(void)unlink(nm->keyfile);
			return ipk__err(
			    rv, "cannot set up the key file %s", nm->keyfile);
		}
	} else if (S_ISLNK(st.st_mode)) {
		return ipk__foreign_err(
		    nm->keyfile, "a symbolic link, not followed for a key");
	}
	key_t key = ftok(nm->keyfile, nm->proj);
	if (key == (key_t)-1) {
		int e = errno;
		if (made->st_ino)
			(void)unlink(nm->keyfile);
		return ipk__err(-e, "ftok(%s): %s", nm->keyfile, strerror(e));
	}
	nm->key = key;
	sysv_names_key(nm);
	return 0;
}

/* Open the lock file (create: with its creation record); 0/-errno;
 * *fresh when made. */
static int
sysv_lock_open(const struct sysv_names *nm, int create, unsigned mode,
    uid_t allow, int *fd, int *fresh)
{
	int rv =
	    ipk__own_open(nm->n[SYSV_LOCK], "sysv", create, mode, allow, fd);
	*fresh = rv == 1;
	if (rv == -ENOENT)
		return ipk__err(-ENOENT, "no listener: %s does not exist",
		    nm->n[SYSV_LOCK]);
	return rv < 0 ? rv : 0;
}

/* Read the lock file's queue record: 1 valid, 0 none yet (a fresh file:
 * zeros), IPK_EFOREIGN otherwise. */
static int
sysv_rec_read(int fd, const char *name, struct sysv_rec *r)
{
	static const char none[8];
	ssize_t n = pread(fd, r, sizeof(*r), 0);
	if (n <= 0 || (n == (ssize_t)sizeof(*r) && !memcmp(r->magic, none, 8)))
		return 0;
	if (IPK__CHECK("sysv.rec_magic",
		n != (ssize_t)sizeof(*r) ||
		    memcmp(r->magic, sysv_rec_magic, 8) != 0) ||
	    IPK__CHECK("sysv.rec_side",
		r->typed_side != IPK__SIDE_LISTEN &&
		    r->typed_side != IPK__SIDE_DIAL))
		return ipk__err(IPK_EFOREIGN,
		    "%s exists and is not an ipckit "
		    "sysv channel file",
		    name);
	return 1;
}

/* Describe a queue that has our key but is not ours. */
static int
sysv_foreign(key_t key, int id)
{
	struct msqid_ds ds;
	if (id < 0 || msgctl(id, IPC_STAT, &ds) < 0)
		return ipk__err(IPK_EFOREIGN,
		    "System V queue key 0x%08x is "
		    "taken by a queue ipckit did not create",
		    (unsigned)key);
	return ipk__err(IPK_EFOREIGN,
	    "System V queue key 0x%08x belongs to an "
	    "unrelated queue (msqid %d, owner uid %u, %lu messages) that "
	    "ipckit did not create; pick another name or key, or remove it "
	    "with 'ipcrm -q %d' if it is stale",
	    (unsigned)key, id, (unsigned)ds.msg_perm.uid,
	    (unsigned long)ds.msg_qnum, id);
}

/* Remove the queue (msqid < 0: none) and every file of the address that
 * the creation record in the lock file `fd` names, then the lock file if
 * it still is the one open as `fd`. The number removed. */
static int
sysv_unlink_all(int fd, const struct sysv_names *nm, int msqid)
{
	int n = msqid >= 0 && msgctl(msqid, IPC_RMID, NULL) == 0;
	n +=
	    ipk__own_unlink(fd, SYSV_OWN_RING(SYSV_RING_L), nm->n[SYSV_RING_L]);
	n +=
	    ipk__own_unlink(fd, SYSV_OWN_RING(SYSV_RING_D), nm->n[SYSV_RING_D]);
	if (!nm->keyform)
		n += ipk__own_unlink(fd, SYSV_OWN_KEYFILE, nm->keyfile);
	return n + ipk__own_unlink_self(fd, nm->n[SYSV_LOCK]);
}

/* 1 when a message for the dialing side is queued: a zero-byte receive
 * of one fails with E2BIG (see sysv_ready) and takes nothing. */
static int
sysv_for_dialer(int msqid, int typed_side)
{
	struct {
		long mtype;
		char mtext[1];
	} probe;
	int fl = IPC_NOWAIT | (typed_side == IPK__SIDE_DIAL ? MSG_EXCEPT : 0);
	return msgrcv(msqid, &probe, 0, SYSV_TO_PLAIN, fl) < 0 &&
	    errno == E2BIG;
}

static int
sysv_linger_set(int fd, int32_t on)
{
	return pwrite(fd, &on, sizeof(on), offsetof(struct sysv_rec, linger)) ==
		(ssize_t)sizeof(on)
	    ? 0
	    : -1;
}

/* Remove a channel that a closed listener left to its dialer, unless a
 * listener owns the address again or it is already gone. Whoever holds
 * OWNER and still reads `linger` in the record clears it and removes
 * (the closing listener and the closing dialer may both try). The lock
 * file must still be the one at the name, and the queue must still have
 * the recorded key. 1 when removed. */
static int
sysv_reap(int fd, const struct sysv_names *nm)
{
	struct sysv_rec r;
	struct msqid_ds ds;
	struct stat a, b;
	int done = 0;
	if (ipk__live_held(fd, IPK__LOCK_CHAN) != 0 ||
	    ipk__live_take(fd, IPK__LOCK_OWNER) != 0)
		return 0;
	if (sysv_rec_read(fd, nm->n[SYSV_LOCK], &r) == 1 && r.linger &&
	    fstat(fd, &a) == 0 && a.st_nlink > 0 &&
	    stat(nm->n[SYSV_LOCK], &b) == 0 && a.st_ino == b.st_ino &&
	    a.st_dev == b.st_dev && sysv_linger_set(fd, 0) == 0) {
		int ours = msgctl(r.msqid, IPC_STAT, &ds) == 0 &&
		    ds.msg_perm.__key == r.key;
		(void)sysv_unlink_all(fd, nm, ours ? r.msqid : -1);
		done = 1;
	}
	(void)ipk__att_set(fd, IPK__LOCK_OWNER, 0);
	return done;
}

/* The listening side's last close (listener and accepted channel both
 * closed): remove the objects, or leave them when an attached dialer has
 * messages to read. IPK__LEFT_LINGER when it left them, else 0. */
static int
sysv_home_unref(struct sysv_home *h)
{
	int left = 0;
	if (!h || --h->a.refs > 0)
		return 0;
	int fd = h->a.lockfd;
	if (!h->a.keep && fd >= 0 && h->msqid >= 0 &&
	    ipk__live_held(fd, IPK__LOCK_DIAL) == 1 &&
	    sysv_for_dialer(h->msqid, h->typed_side) &&
	    sysv_linger_set(fd, 1) == 0) {
		IPK__CRASH_SITE("sysv.linger_mark");
		/* Drop every lock of ours, then look at the dialer's again:
		 * one that left meanwhile may have missed the mark. */
		for (int b = 0; b < IPK__LOCK_NBYTES; b++)
			(void)ipk__att_set(fd, b, 0);
		left = IPK__LEFT_LINGER;
		if (ipk__live_held(fd, IPK__LOCK_DIAL) != 1)
			left = sysv_reap(fd, &h->nm) ? 0 : left;
	} else if (!h->a.keep && fd >= 0) {
		(void)sysv_unlink_all(fd, &h->nm, h->msqid);
	}
	ipk__close_fd(&h->a.lockfd);
	ipk__free(h);
	return left;
}

/* Create doorbell i (recorded), or take back the one the record names,
 * with ?mode=; anything else at its name is refused. */
static int
sysv_ring_make(int fd, const struct sysv_names *nm, int i, unsigned mode)
{
	const char *path = nm->n[i];
	struct stat st;
	int rv =
	    ipk__own_check_path(fd, SYSV_OWN_RING(i), path, "doorbell FIFO");
	if (rv < 0)
		return rv;
	if (rv == 0) {
		if (mkfifo(path, 0600) < 0)
			return ipk__err(-errno, "cannot create doorbell %s: %s",
			    path, strerror(errno));
		if (lstat(path, &st) < 0 ||
		    ipk__own_put_st(fd, SYSV_OWN_RING(i), &st) < 0) {
			(void)unlink(path);
			return ipk__err(
			    -EIO, "cannot record doorbell %s", path);
		}
	}
	/* the umask must not narrow ?mode=, on a new or taken-back FIFO */
	if (chmod(path, (mode_t)(mode & 0777)) < 0)
		return ipk__err(-errno,
		    "cannot set the mode of doorbell %s: %s", path,
		    strerror(errno));
	return 0;
}

/* Create the queue at `key`, or adopt the one our record names. */
static int
sysv_queue_make(
    struct sysv_home *h, key_t key, const struct sysv_rec *old, unsigned mode)
{
	int id = msgget(key, IPC_CREAT | IPC_EXCL | (int)(mode & 0777));
	if (id >= 0) {
		h->msqid = id;
		return 0;
	}
	if (errno != EEXIST)
		return ipk__err(-errno,
		    "msgget(0x%08x): %s (kernel.msgmni=%ld "
		    "queues at most)",
		    (unsigned)key, strerror(errno), sysv_sysctl("msgmni"));
	id = msgget(key, 0);
	struct msqid_ds ds;
	if (!old || old->key != key || old->msqid != id ||
	    msgctl(id, IPC_STAT, &ds) < 0 || ds.msg_perm.cuid != geteuid())
		return sysv_foreign(key, id);
	h->msqid = id; /* left by a listener that died: keep its messages */
	/* ?mode= holds on the taken-back queue too */
	ds.msg_perm.mode = (unsigned short)(mode & 0777);
	if (msgctl(id, IPC_SET, &ds) < 0)
		return ipk__err(-errno,
		    "cannot set the mode of System V queue "
		    "%d: %s",
		    id, strerror(errno));
	return 0;
}

/* --- ?framing=raw: the queue at the key itself (see top) ----------------- */

/* The key of a raw address: given, or ftok of an existing file. */
static int
sysv_raw_key(const struct ipk__url *u, key_t *key)
{
	struct sysv_names nm;
	struct stat st;
	int rv = sysv_names(u, &nm);
	if (rv < 0)
		return rv;
	if (!nm.keyform) {
		if (lstat(nm.keyfile, &st) < 0)
			return ipk__err(-ENOENT,
			    "%s does not exist (framing=raw takes the key "
			    "from an existing file)",
			    nm.keyfile);
		if (S_ISLNK(st.st_mode))
			return ipk__foreign_err(nm.keyfile,
			    "a symbolic link, not followed for a key");
		if ((nm.key = ftok(nm.keyfile, nm.proj)) == (key_t)-1)
			return ipk__err(-errno, "ftok(%s): %s", nm.keyfile,
			    strerror(errno));
	}
	*key = nm.key;
	return 0;
}

/* The queue at `key`: its id, -ENOENT, or an error (not ours). */
static int
sysv_raw_find(key_t key, uid_t allow, int *id)
{
	struct msqid_ds ds;
	*id = msgget(key, 0);
	if (*id < 0)
		return errno == ENOENT
		    ? ipk__err(-ENOENT,
			  "no System V queue at key 0x%08x yet: nobody listens",
			  (unsigned)key)
		    : ipk__err(-errno, "msgget(0x%08x): %s", (unsigned)key,
			  strerror(errno));
	if (msgctl(*id, IPC_STAT, &ds) < 0)
		return -errno;
	if (!ipk__uid_ours(ds.msg_perm.uid, allow))
		return ipk__err(-EACCES,
		    "the System V queue at key 0x%08x belongs to uid %u, not "
		    "to us (?allow=%u admits it)",
		    (unsigned)key, (unsigned)ds.msg_perm.uid,
		    (unsigned)ds.msg_perm.uid);
	return 0;
}

static int
sysv_raw_listen(
    struct ipk_listener *l, struct sysv_lst *sl, const struct ipk__url *u)
{
	int id, rv;
	sl->raw = 1;
	sl->made_id = -1;
	if ((rv = sysv_raw_key(u, &sl->key)) < 0)
		return rv;
	rv = sysv_raw_find(sl->key, l->allow_uid, &id);
	if (rv != -ENOENT)
		return rv;
	id = msgget(sl->key, IPC_CREAT | IPC_EXCL | (int)(l->mode & 0777));
	if (id < 0)
		return ipk__err(-errno,
		    "cannot create a System V queue at key "
		    "0x%08x: %s",
		    (unsigned)sl->key, strerror(errno));
	sl->made_id = id;
	return 0;
}

static void
sysv_raw_lclose(struct ipk_listener *l, struct sysv_lst *sl)
{
	struct msqid_ds ds;
	/* Only the queue this listener made, while the key names it. */
	if (sl->made_id >= 0 && !l->keep &&
	    msgctl(sl->made_id, IPC_STAT, &ds) == 0 &&
	    ds.msg_perm.__key == sl->key)
		(void)msgctl(sl->made_id, IPC_RMID, NULL);
}

static int
sysv_raw_attach(struct ipk_chan *c, struct sysv_chan *m, key_t key)
{
	long msgmax = sysv_sysctl("msgmax");
	int rv = sysv_raw_find(key, c->allow_uid, &m->msqid);
	if (rv < 0)
		return rv;
	m->raw = 1;
	if (msgmax > 0 && (size_t)msgmax < c->max_msg) {
		c->max_msg = (size_t)msgmax;
		snprintf(c->limit_why, sizeof(c->limit_why),
		    "kernel.msgmax=%ld (/proc/sys/kernel/msgmax)", msgmax);
	}
	m->rcap = c->max_msg;
	m->rbuf = ipk__malloc(sizeof(long) + m->rcap);
	m->sbuf = ipk__malloc(sizeof(long) + m->rcap);
	return m->rbuf && m->sbuf ? 0 : -ENOMEM;
}

static int
sysv_raw_dial(struct ipk_chan *c, const struct ipk__url *u, int64_t deadline)
{
	struct sysv_chan *m = ipk__chan_priv(c);
	key_t key;
	int rv = sysv_raw_key(u, &key), id;
	while (rv == 0 &&
	    (rv = sysv_raw_find(key, c->allow_uid, &id)) == -ENOENT &&
	    !ipk__expired(deadline)) {
		(void)ipk__poll1(-1, 0, deadline, SYSV_DIAL_POLL_MS);
		rv = 0;
	}
	return rv < 0 ? rv : sysv_raw_attach(c, m, key);
}

static int
sysv_raw_send(struct ipk_chan *c, struct sysv_chan *m, const void *buf,
    size_t len, uint32_t type, int64_t deadline)
{
	long mtype = (long)type;
	int nap = 1;
	if (type == 0 || type > 0x7fffffffu)
		return ipk__err(-EINVAL,
		    "type %u is no System V message type (1 to 2147483647)",
		    type);
	memcpy(m->sbuf, &mtype, sizeof(mtype));
	if (len)
		memcpy(m->sbuf + sizeof(long), buf, len);
	while (msgsnd(m->msqid, m->sbuf, len, IPC_NOWAIT) < 0) {
		if (errno == EINTR)
			continue;
		if (errno == EIDRM || errno == EINVAL)
			return ipk__err(IPK_ECLOSED, "the queue was removed");
		if (errno != EAGAIN)
			return -errno;
		if (ipk__expired(deadline))
			return -ETIMEDOUT;
		c->stats->waits++;
		(void)ipk__poll1(-1, 0, deadline, nap);
		nap = IPK__MIN(nap * 2, SYSV_FULL_BACKOFF_MS);
	}
	return 0;
}

/* A message selected by msgrcv's `sel` (0: any) into rbuf, napping while
 * there is none. */
static int
sysv_raw_take(
    struct ipk_chan *c, struct sysv_chan *m, long sel, int64_t deadline)
{
	int nap = 1;
	while (!m->pending) {
		ssize_t n = msgrcv(m->msqid, m->rbuf, m->rcap, sel, IPC_NOWAIT);
		if (n >= 0) {
			m->pend_len = (size_t)n;
			m->pending = 1;
			break;
		}
		if (errno == EINTR)
			continue;
		if (errno == E2BIG) {
			(void)msgrcv(m->msqid, m->rbuf, 0, sel,
			    IPC_NOWAIT | MSG_NOERROR);
			return ipk__err(-EMSGSIZE,
			    "a message over this side's limit of %zu bytes "
			    "was dropped",
			    m->rcap);
		}
		if (errno == EIDRM || errno == EINVAL)
			return ipk__err(IPK_ECLOSED, "the queue was removed");
		if (errno != ENOMSG)
			return -errno;
		if (ipk__expired(deadline))
			return -ETIMEDOUT;
		if (nap == 1)
			c->stats->waits++;
		(void)ipk__poll1(-1, 0, deadline, nap);
		nap = IPK__MIN(nap * 2, IPK__SLICE_MS);
	}
	return 0;
}

static int
sysv_raw_deliver(
    struct sysv_chan *m, void *buf, size_t cap, size_t *len, uint32_t *type)
{
	long mtype;
	*len = m->pend_len;
	if (m->pend_len > cap)
		return ipk__err(-EMSGSIZE,
		    "the message has %zu bytes, the buffer %zu", m->pend_len,
		    cap);
	memcpy(&mtype, m->rbuf, sizeof(mtype));
	if (type)
		*type = (uint32_t)mtype;
	if (m->pend_len)
		memcpy(buf, m->rbuf + sizeof(long), m->pend_len);
	m->pending = 0;
	return 0;
}

static int
sysv_raw_recv_type(struct ipk_chan *c, struct sysv_chan *m, uint32_t type,
    void *buf, size_t cap, size_t *len, int64_t deadline)
{
	long mtype;
	if (type == 0 || type > 0x7fffffffu)
		return ipk__err(-EINVAL,
		    "type %u is no System V message type (1 to 2147483647)",
		    type);
	if (m->pending) {
		memcpy(&mtype, m->rbuf, sizeof(mtype));
		if (mtype != (long)type)
			return ipk__err(-EBUSY,
			    "a received message of type %ld waits for a "
			    "bigger buffer (ipk_recv it first)",
			    mtype);
	}
	int rv = sysv_raw_take(c, m, (long)type, deadline);
	return rv < 0 ? rv : sysv_raw_deliver(m, buf, cap, len, NULL);
}

static int
sysv_listen(struct ipk_listener *l, const struct ipk__url *u)
{
	struct sysv_lst *sl = ipk__lst_priv(l);
	struct sysv_rec rec, old;
	const struct ipk__framing *f;
	const char *v;
	int fresh, rv = ipk__url_framing(u, IPK__FRAMING_RAW, &f);
	if (rv < 0)
		return rv;
	if (f)
		return sysv_raw_listen(l, sl, u);
	struct sysv_home *h = ipk__calloc(1, sizeof(*h));
	if (!h)
		return -ENOMEM;
	h->a.refs = 1;
	h->a.lockfd = h->msqid = -1;
	h->a.keep = 1; /* nothing is ours to remove until we own the address */
	sl->home = h;
	if ((rv = sysv_names(u, &h->nm)) < 0 ||
	    (!h->nm.keyform &&
		(rv = ipk__dir_check(h->nm.keyfile, l->allow_uid)) < 0))
		return rv;
	h->typed_side = IPK__SIDE_LISTEN;
	if (ipk__url_str(u, "select", &v) == 0) {
		if (strcmp(v, "dial") != 0 && strcmp(v, "listen") != 0)
			return ipk__err(-EINVAL,
			    "select= is 'listen' or "
			    "'dial' (the side that receives by type)");
		h->typed_side =
		    strcmp(v, "dial") ? IPK__SIDE_LISTEN : IPK__SIDE_DIAL;
	}
	struct stat keyfile;
	for (int i = 0;
	     (rv = sysv_key(&h->nm, 1, l->mode, &keyfile)) == -EAGAIN && i < 8;
	     i++)
		; /* made by someone else between our two looks */
	if (rv < 0)
		return rv;
	rv = ipk__own_take(h->nm.n[SYSV_LOCK], "sysv", l->mode, l->allow_uid,
	    h->nm.n[SYSV_LOCK], &h->a.lockfd, &fresh);
	if (rv == 0 && keyfile.st_ino)
		rv = ipk__own_put_st(h->a.lockfd, SYSV_OWN_KEYFILE, &keyfile);
	if (rv < 0) {
		struct stat st; /* a key file we made stays only if recorded */
		if (keyfile.st_ino && lstat(h->nm.keyfile, &st) == 0 &&
		    st.st_ino == keyfile.st_ino && st.st_dev == keyfile.st_dev)
			(void)unlink(h->nm.keyfile);
		ipk__close_fd(&h->a.lockfd);
		return rv;
	}
	if ((rv = sysv_rec_read(h->a.lockfd, h->nm.n[SYSV_LOCK], &old)) < 0)
		return rv;
	h->a.keep = 0; /* a failed listen removes what it made, even keep=1 */
	key_t key = h->nm.key;
	if ((rv = sysv_queue_make(h, key, rv == 1 ? &old : NULL, l->mode)) < 0)
		return rv;
	if ((rv = sysv_ring_make(h->a.lockfd, &h->nm, SYSV_RING_L, l->mode)) <
		0 ||
	    (rv = sysv_ring_make(h->a.lockfd, &h->nm, SYSV_RING_D, l->mode)) <
		0)
		return rv;
	memset(&rec, 0, sizeof(rec));
	memcpy(rec.magic, sysv_rec_magic, 8);
	rec.key = key;
	rec.msqid = h->msqid;
	rec.typed_side = h->typed_side;
	if (pwrite(h->a.lockfd, &rec, sizeof(rec), 0) != (ssize_t)sizeof(rec))
		return ipk__err(-EIO, "cannot write %s", h->nm.n[SYSV_LOCK]);
	h->a.seen = ipk__att_gen(h->a.lockfd);
	if ((rv = ipk__att_set(h->a.lockfd, IPK__LOCK_WAIT, 1)) < 0)
		return rv;
	h->a.keep = l->keep;
	return 0;
}

static void
sysv_lclose(struct ipk_listener *l)
{
	struct sysv_lst *sl = ipk__lst_priv(l);
	if (sl->raw)
		sysv_raw_lclose(l, sl);
	l->left = (unsigned char)sysv_home_unref(sl->home);
	sl->home = NULL;
}

/* The doorbell: after each msgsnd the sender writes one byte to the
 * receiver's FIFO, which the receiver polls (it is also ipk_fd). Both sides
 * open both FIFOs O_RDWR|O_NONBLOCK, so no open blocks and no write can
 * meet a FIFO without readers (no SIGPIPE). */
static void
sysv_ring(int fd)
{
	ssize_t n;
	do
		n = write(fd, "", 1);
	while (n < 0 && errno == EINTR);
	/* EAGAIN: the doorbell is full, so it is already ringing. */
}

static void
sysv_ring_drain(int fd)
{
	char buf[256];
	while (read(fd, buf, sizeof(buf)) > 0)
		;
}

/* What we attach to must be ours (or of the ?allow= uid): another user's
 * queue, lock file or doorbell at our names could read what we send and
 * feed us what it likes. `fd` >= 0: a file, which must be of `type`. */
static int
sysv_owned(int fd, mode_t type, uid_t uid, const char *what, uid_t allow)
{
	struct stat st;
	if (fd >= 0) {
		if (fstat(fd, &st) < 0)
			return -errno;
		if ((st.st_mode & S_IFMT) != type)
			return ipk__err(IPK_EFOREIGN, "%s is not a %s", what,
			    type == S_IFIFO ? "FIFO" : "regular file");
		uid = st.st_uid;
	}
	return ipk__uid_ours(uid, allow) ? 0 : ipk__owner_err(what, uid);
}

/* Open the doorbells and buffers of an attached endpoint. */
static int
sysv_attach(
    struct ipk_chan *c, struct sysv_chan *m, const struct sysv_names *nm)
{
	int fl = O_RDWR | O_NONBLOCK | O_NOFOLLOW | O_CLOEXEC;
	int mine = m->side == IPK__SIDE_LISTEN ? SYSV_RING_L : SYSV_RING_D;
	int theirs = mine == SYSV_RING_L ? SYSV_RING_D : SYSV_RING_L;
	struct msqid_ds ds;
	char what[64];
	int rv;
	if ((m->ring = open(nm->n[mine], fl)) < 0 ||
	    (m->peer_ring = open(nm->n[theirs], fl)) < 0)
		return ipk__err(
		    -errno, "cannot open doorbell: %s", strerror(errno));
	if (msgctl(m->msqid, IPC_STAT, &ds) < 0)
		return -errno;
	snprintf(what, sizeof(what), "System V queue %d (key 0x%08x)", m->msqid,
	    (unsigned)ds.msg_perm.__key);
	struct stat rs, ps;
	if (fstat(m->ring, &rs) < 0 || fstat(m->peer_ring, &ps) < 0)
		return -errno;
	if (IPK__CHECK("sysv.ring_recorded",
		!ipk__own_has_st(m->lockfd, SYSV_OWN_RING(mine), &rs) ||
		    !ipk__own_has_st(m->lockfd, SYSV_OWN_RING(theirs), &ps)))
		return ipk__foreign_err(nm->n[mine],
		    "a doorbell its channel's record does not name");
	if ((rv = sysv_owned(m->ring, S_IFIFO, 0, nm->n[mine], c->allow_uid)) <
		0 ||
	    (rv = sysv_owned(
		 m->peer_ring, S_IFIFO, 0, nm->n[theirs], c->allow_uid)) < 0 ||
	    (rv = sysv_owned(-1, 0, ds.msg_perm.uid, what, c->allow_uid)) < 0)
		return rv;
	long msgmax = sysv_sysctl("msgmax");
	size_t fit = msgmax > (long)SYSV_HDR ? (size_t)msgmax : 8192;
	m->rcap = fit;
	if ((size_t)ds.msg_qbytes < fit)
		fit = (size_t)ds.msg_qbytes;
	fit -= SYSV_HDR;
	if (fit < c->max_msg) {
		c->max_msg = fit;
		snprintf(c->limit_why, sizeof(c->limit_why),
		    "kernel.msgmax="
		    "%ld and the queue's msg_qbytes=%lu, less the %u-byte "
		    "header",
		    msgmax, (unsigned long)ds.msg_qbytes, SYSV_HDR);
	}
	m->rbuf = ipk__malloc(sizeof(long) + m->rcap);
	m->sbuf = ipk__malloc(sizeof(long) + SYSV_HDR + c->max_msg);
	if (!m->rbuf || !m->sbuf)
		return -ENOMEM;
	/* Messages may wait from before we (re)attached. */
	sysv_ring(m->ring);
	return 0;
}

static void
sysv_chan_init(struct sysv_chan *m, int side)
{
	m->side = side;
	m->lockfd = m->ring = m->peer_ring = m->msqid = -1;
}

static int
sysv_accept(struct ipk_listener *l, struct ipk_chan *c, int64_t deadline)
{
	struct sysv_lst *sl = ipk__lst_priv(l);
	struct sysv_chan *m = ipk__chan_priv(c);
	struct sysv_home *h = sl->home;
	int rv;
	sysv_chan_init(m, IPK__SIDE_LISTEN);
	if (sl->raw)
		return sysv_raw_attach(c, m, sl->key);
	if ((rv = ipk__att_home_accept(&h->a, &m->lockfd, deadline)) < 0)
		return rv;
	m->home = h;
	m->msqid = h->msqid;
	m->typed_side = h->typed_side;
	return sysv_attach(c, m, &h->nm);
}

static int
sysv_dial(struct ipk_chan *c, const struct ipk__url *u, int64_t deadline)
{
	struct sysv_chan *m = ipk__chan_priv(c);
	struct sysv_names nm;
	struct sysv_rec rec;
	const struct ipk__framing *f;
	int fresh, rv;
	sysv_chan_init(m, IPK__SIDE_DIAL);
	if ((rv = ipk__url_framing(u, IPK__FRAMING_RAW, &f)) < 0)
		return rv;
	if (f)
		return sysv_raw_dial(c, u, deadline);
	if ((rv = sysv_names(u, &nm)) < 0 ||
	    (!nm.keyform &&
		(rv = ipk__dir_check(nm.keyfile, c->allow_uid)) < 0))
		return rv;
	/* select= belongs to the listener; the record says what it chose. */
	for (;;) {
		struct stat made;
		rv = sysv_key(&nm, 0, 0, &made);
		if (rv == 0)
			rv = sysv_lock_open(
			    &nm, 0, 0, c->allow_uid, &m->lockfd, &fresh);
		if (rv == 0)
			rv = ipk__att_dial(m->lockfd, nm.n[SYSV_LOCK]);
		if (rv != -ENOENT && rv != -ECONNREFUSED)
			break;
		ipk__close_fd(&m->lockfd);
		if (ipk__expired(deadline))
			return rv;
		(void)ipk__poll1(-1, 0, deadline, SYSV_DIAL_POLL_MS);
	}
	if (rv < 0 ||
	    (rv = sysv_owned(
		 m->lockfd, S_IFREG, 0, nm.n[SYSV_LOCK], c->allow_uid)) < 0)
		return rv;
	/* Attached (DCHAN is ours) to our own file: from now on close may
	 * reap a channel left to us. */
	if (!(m->nm = ipk__malloc(sizeof(*m->nm))))
		return -ENOMEM;
	memcpy(m->nm, &nm, sizeof(nm));
	if ((rv = sysv_rec_read(m->lockfd, nm.n[SYSV_LOCK], &rec)) <= 0)
		return rv < 0 ? rv
			      : ipk__err(IPK_EFOREIGN,
				    "%s has no "
				    "channel record",
				    nm.n[SYSV_LOCK]);
	if (IPK__CHECK("sysv.rec_key", rec.key != nm.key))
		return ipk__err(IPK_EFOREIGN,
		    "%s records key 0x%08x, not "
		    "0x%08x",
		    nm.n[SYSV_LOCK], (unsigned)rec.key, (unsigned)nm.key);
	int id = msgget(rec.key, 0);
	if (id < 0 && errno == ENOENT)
		return ipk__err(IPK_ECLOSED,
		    "the listener closed and removed its queue "
		    "(key 0x%08x) as this dialer attached",
		    (unsigned)rec.key);
	if (id < 0 || IPK__CHECK("sysv.rec_msqid", id != rec.msqid))
		return sysv_foreign(rec.key, id);
	m->msqid = id;
	m->typed_side = rec.typed_side;
	return sysv_attach(c, m, &nm);
}

static int
sysv_send(struct ipk_chan *c, const void *buf, size_t len, uint32_t type,
    int64_t deadline)
{
	struct sysv_chan *m = ipk__chan_priv(c);
	if (m->raw)
		return sysv_raw_send(c, m, buf, len, type, deadline);
	long mtype = m->side == m->typed_side ? SYSV_TO_PLAIN
					      : SYSV_TYPED_BASE + (long)type;
	uint32_t hdr[2] = {type, SYSV_MAGIC};
	int nap = 1;
	memcpy(m->sbuf, &mtype, sizeof(mtype));
	memcpy(m->sbuf + sizeof(long), hdr, SYSV_HDR);
	if (len)
		memcpy(m->sbuf + sizeof(long) + SYSV_HDR, buf, len);
	for (;;) {
		if (msgsnd(m->msqid, m->sbuf, SYSV_HDR + len, IPC_NOWAIT) == 0)
			break;
		if (errno == EINTR)
			continue;
		if (errno == EIDRM || errno == EINVAL)
			return ipk__err(IPK_ECLOSED, "the queue was removed");
		if (errno != EAGAIN)
			return -errno;
		/* Full: the kernel has no space notification, so nap. */
		if (!ipk__att_peer(m->lockfd, m->side))
			return ipk__err(IPK_ECLOSED,
			    "the queue is full and "
			    "the peer is gone");
		if (ipk__expired(deadline))
			return -ETIMEDOUT;
		if (nap == 1)
			c->stats->waits++;
		(void)ipk__poll1(-1, 0, deadline, nap);
		nap = IPK__MIN(nap * 2, SYSV_FULL_BACKOFF_MS);
	}
	IPK__CRASH_SITE("sysv.before_ring");
	sysv_ring(m->peer_ring);
	return 0;
}

/* Make sure one validated message selected by `sel` (a msgrcv type, with
 * `flags`) sits in rbuf, waiting on the doorbell. As in every wait here,
 * an empty queue makes us read the peer's liveness and try once more, so
 * messages sent before the peer died come before IPK_ECLOSED. */
static int
sysv_take(struct ipk_chan *c, struct sysv_chan *m, long sel, int flags,
    int64_t deadline)
{
	int alive = 1, fresh = 0, drained = 0, waited = 0;
	while (!m->pending) {
		ssize_t n =
		    msgrcv(m->msqid, m->rbuf, m->rcap, sel, flags | IPC_NOWAIT);
		if (n >= 0) {
			uint32_t hdr[2];
			long mtype;
			memcpy(&mtype, m->rbuf, sizeof(mtype));
			if (IPK__CHECK("sysv.short", (size_t)n < SYSV_HDR))
				return ipk__err(-EBADMSG,
				    "a message of %zd "
				    "bytes is shorter than the header",
				    n);
			memcpy(hdr, m->rbuf + sizeof(long), SYSV_HDR);
			if (IPK__CHECK("sysv.magic", hdr[1] != SYSV_MAGIC) ||
			    IPK__CHECK("sysv.mtype",
				mtype != SYSV_TO_PLAIN &&
				    mtype != SYSV_TYPED_BASE + (long)hdr[0]))
				return ipk__err(-EBADMSG,
				    "a message without "
				    "a valid ipckit header was dropped");
			m->pend_len = (size_t)n - SYSV_HDR;
			m->pending = 1;
			IPK__CRASH_SITE("sysv.after_receive");
			break;
		}
		if (errno == EINTR)
			continue;
		if (errno == E2BIG) {
			/* Bigger than kernel.msgmax was at attach: drop. */
			(void)msgrcv(m->msqid, m->rbuf, 0, sel,
			    flags | IPC_NOWAIT | MSG_NOERROR);
			return ipk__err(-EMSGSIZE,
			    "a message over %zu bytes "
			    "was dropped",
			    m->rcap);
		}
		if (errno == EIDRM || errno == EINVAL)
			return ipk__err(IPK_ECLOSED, "the queue was removed");
		if (errno != ENOMSG)
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
		if (!drained) {
			/* Bytes for messages already taken; then retry once,
			 * since a new message rings after it lands. */
			sysv_ring_drain(m->ring);
			drained = 1;
			continue;
		}
		if (!waited++)
			c->stats->waits++;
		int rv = ipk__poll1(m->ring, POLLIN, deadline, IPK__SLICE_MS);
		if (rv < 0)
			return rv;
		drained = fresh = 0;
	}
	return 0;
}

static int
sysv_deliver(struct ipk_chan *c, struct sysv_chan *m, void *buf, size_t cap,
    size_t *len, uint32_t *type)
{
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
	if (type)
		memcpy(type, m->rbuf + sizeof(long), sizeof(*type));
	if (m->pend_len)
		memcpy(buf, m->rbuf + sizeof(long) + SYSV_HDR, m->pend_len);
	m->pending = 0;
	return 0;
}

static int
sysv_recv(struct ipk_chan *c, void *buf, size_t cap, size_t *len,
    uint32_t *type, int64_t deadline)
{
	struct sysv_chan *m = ipk__chan_priv(c);
	if (m->raw) {
		int r = sysv_raw_take(c, m, 0, deadline);
		return r < 0 ? r : sysv_raw_deliver(m, buf, cap, len, type);
	}
	int rv = m->side == m->typed_side
	    ? sysv_take(c, m, SYSV_TO_PLAIN, MSG_EXCEPT, deadline)
	    : sysv_take(c, m, SYSV_TO_PLAIN, 0, deadline);
	if (rv < 0)
		return rv;
	return sysv_deliver(c, m, buf, cap, len, type);
}

static int
sysv_recv_type(struct ipk_chan *c, uint32_t type, void *buf, size_t cap,
    size_t *len, int64_t deadline)
{
	struct sysv_chan *m = ipk__chan_priv(c);
	uint32_t t;
	if (m->raw)
		return sysv_raw_recv_type(c, m, type, buf, cap, len, deadline);
	if (m->side != m->typed_side)
		return ipk__err(-ENOTSUP,
		    "selective receive works on the %s "
		    "side of this queue (messages to this side share one "
		    "kernel type; ?select= on the listener chooses)",
		    m->typed_side == IPK__SIDE_LISTEN ? "listening"
						      : "dialing");
	if (m->pending) {
		/* A message kept for a bigger buffer comes first only if it
		 * has the type asked for. */
		memcpy(&t, m->rbuf + sizeof(long), sizeof(t));
		if (t != type)
			return ipk__err(-EBUSY,
			    "a received message of type %u "
			    "waits for a bigger buffer (ipk_recv it first)",
			    t);
	}
	int rv = sysv_take(c, m, SYSV_TYPED_BASE + (long)type, 0, deadline);
	if (rv < 0)
		return rv;
	rv = sysv_deliver(c, m, buf, cap, len, NULL);
	/* Messages of other types may still wait: keep ipk_fd readable. */
	if (rv == 0)
		sysv_ring(m->ring);
	return rv;
}

static int
sysv_fd(struct ipk_chan *c)
{
	struct sysv_chan *m = ipk__chan_priv(c);
	if (m->raw)
		return ipk__err(-ENOTSUP,
		    "a System V queue has no descriptor, and with framing=raw "
		    "no doorbell either");
	return m->ring;
}

/* A message for us exists if a zero-byte receive of it fails with E2BIG
 * (every message carries a header): a probe that takes nothing. */
static int
sysv_ready(struct ipk_chan *c)
{
	struct sysv_chan *m = ipk__chan_priv(c);
	int flags = IPC_NOWAIT | (m->side == m->typed_side ? MSG_EXCEPT : 0);
	if (m->pending)
		return 1;
	if (m->raw) {
		/* A probe by msgrcv would take an empty message: count. */
		struct msqid_ds ds;
		return msgctl(m->msqid, IPC_STAT, &ds) < 0 || ds.msg_qnum > 0;
	}
	/* Empty the doorbell first: a message landing after the probe rings
	 * again, so a poll that follows wakes for it. */
	sysv_ring_drain(m->ring);
	if (msgrcv(m->msqid, m->rbuf, 0, SYSV_TO_PLAIN, flags) < 0 &&
	    errno == E2BIG)
		return 1;
	return !ipk__att_peer(m->lockfd, m->side);
}

static void
sysv_close(struct ipk_chan *c)
{
	struct sysv_chan *m = ipk__chan_priv(c);
	ipk__close_fd(&m->ring);
	ipk__close_fd(&m->peer_ring);
	ipk__free(m->rbuf);
	ipk__free(m->sbuf);
	m->rbuf = m->sbuf = NULL;
	if (!m->home && m->nm && m->lockfd >= 0 && !c->keep) {
		/* A dialer: drop our lock before reading the mark (see
		 * sysv_home_unref). */
		(void)ipk__att_set(m->lockfd, IPK__LOCK_DIAL, 0);
		if (sysv_reap(m->lockfd, m->nm))
			c->left = IPK__LEFT_REAPED;
	}
	ipk__free(m->nm);
	m->nm = NULL;
	ipk__att_home_leave(m->home ? &m->home->a : NULL, &m->lockfd);
	int left = sysv_home_unref(m->home);
	if (m->home)
		c->left = (unsigned char)left;
	m->home = NULL;
}

/* --- Operating: the lock file's record names the queue; IPC_STAT is read
 * only after the queue's key is checked against the record. --- */

/* Open the lock file read-only and find the queue; 0 or -errno. */
static int
sysv_find(const struct ipk__url *u, struct sysv_names *nm, int *fd,
    struct sysv_rec *r, struct msqid_ds *ds)
{
	struct stat made;
	int rv = sysv_names(u, nm);
	if (rv < 0 || (rv = sysv_key(nm, 0, 0, &made)) < 0)
		return rv;
	const char *n = nm->n[SYSV_LOCK];
	if ((rv = ipk__own_open(n, "sysv", 0, 0, 0, fd)) < 0)
		return rv;
	if ((rv = sysv_rec_read(*fd, n, r)) <= 0)
		return rv < 0 ? rv : -ENOENT;
	if (msgctl(r->msqid, IPC_STAT, ds) < 0 || ds->msg_perm.__key != r->key)
		return 1; /* ours, but the queue is gone */
	return 0;
}

static int
sysv_inspect(const struct ipk__url *u, struct ipk_objinfo *o)
{
	struct sysv_names nm;
	struct sysv_rec r;
	struct msqid_ds ds;
	int fd = -1;
	int rv = sysv_find(u, &nm, &fd, &r, &ds);
	ipk__close_fd(&fd);
	if (rv != 0)
		return rv < 0 ? rv : -ENOENT;
	o->uid = ds.msg_perm.uid;
	o->mode = ds.msg_perm.mode & 0777;
	o->queued_msgs = (int64_t)ds.msg_qnum;
	o->queued_bytes = (int64_t)ds.msg_cbytes;
	o->cap_bytes = (int64_t)ds.msg_qbytes;
	snprintf(o->objects[0], sizeof(o->objects[0]),
	    "msqid %d (key "
	    "0x%08x)",
	    r.msqid, (unsigned)r.key);
	snprintf(
	    o->objects[1], sizeof(o->objects[1]), "%.200s", nm.n[SYSV_LOCK]);
	return 0;
}

static int
sysv_remove(const struct ipk__url *u, int force)
{
	struct sysv_names nm;
	struct sysv_rec r;
	struct msqid_ds ds;
	int fd = -1, n = 0;
	/* Only a lock file with our record is removed, with what it names:
	 * an empty or foreign file at the path is someone else's. */
	int rv = sysv_find(u, &nm, &fd, &r, &ds);
	if (rv < 0)
		goto out;
	for (int b = 0; !force && b < IPK__LOCK_NBYTES; b++)
		if (ipk__live_held(fd, b) == 1) {
			rv = ipk__err(-EBUSY, "%s is held by a live endpoint",
			    nm.n[SYSV_LOCK]);
			goto out;
		}
	n = sysv_unlink_all(fd, &nm, rv == 0 ? r.msqid : -1);
	rv = n ? 0 : -ENOENT;
out:
	ipk__close_fd(&fd);
	return rv;
}

static const char *const sysv_options[] = {"select", "proj", "framing", NULL};

const struct ipk__transport ipk__transport_sysv = {
    .scheme = "sysv",
    .caps =
	IPK_CAP_BOUNDARIES | IPK_CAP_TYPES | IPK_CAP_REATTACH | IPK_CAP_PERSIST,
    .chan_size = sizeof(struct sysv_chan),
    .lst_size = sizeof(struct sysv_lst),
    .options = sysv_options,
    .example = "sysv:///tmp/%s",
    .variants =
	IPK__VARIANTS({"sysv", "", "block (poll, doorbell)", IPK__VARIANT_ALL}),
    .listen = sysv_listen,
    .accept = sysv_accept,
    .lclose = sysv_lclose,
    .dial = sysv_dial,
    .send = sysv_send,
    .recv = sysv_recv,
    .recv_type = sysv_recv_type,
    .fd = sysv_fd,
    .ready = sysv_ready,
    .doorbell = 1,
    .close = sysv_close,
    .inspect = sysv_inspect,
    .remove = sysv_remove,
};
