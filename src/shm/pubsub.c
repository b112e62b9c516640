/* SPDX-License-Identifier: MIT */
/*
 * pubsub.c - publish/subscribe on shared memory: shm:///NAME?pattern=pub
 * (ipk_bind) and ?pattern=sub (ipk_dial), on the broadcast ring of
 * bcast.h. The publisher writes each message once; subscribers read it in
 * place (ipk_peek) or copy it out (ipk_recv). No thread, no system call
 * while everybody is awake.
 */
#include "core/attach.h"
#include "core/ledger.h"
#include "core/own.h"
#include "core/testhook.h"
#include "shm/bcast.h"
#include "shm/ring.h"
#include "shm/segment.h"

#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <linux/futex.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#define BC_NAME_MAX 200
#define BC_TOPICS 64
/* Spin before sleeping (wait=adaptive), as the one-to-one ring does. */
#define BC_SPIN_NS 20000
#define BC_ROLE_PUB 1
#define BC_ROLE_SUB 2

/* The sequence-lock half of slow=drop (bc_invalidate, bc_still) needs
 * fences, which ThreadSanitizer does not model (gcc refuses them under
 * -fsanitize=thread): its builds use sequentially consistent accesses
 * instead, which it does. */
#if defined(__SANITIZE_THREAD__)
#define BC_FENCE(order) ((void)0)
#define BC_SEQ_ORDER __ATOMIC_SEQ_CST
#else
#define BC_FENCE(order) __atomic_thread_fence(order)
#define BC_SEQ_ORDER __ATOMIC_RELAXED
#endif

struct bc {
	int role;
	int fd;
	unsigned char *map;
	size_t len;
	struct ipk__bc_hdr *hdr;
	struct ipk__bc_wake *wake;
	struct ipk__bc_slot *slots;
	unsigned char *chunks;
	uint64_t key, mask, cs, max_msg;
	uint32_t nslot, nchunk;
	int block, wait, asym, keep;
	int owned; /* publisher: the segment is ours (OWNER taken, open) */
	char name[BC_NAME_MAX + 2];
	char path[BC_NAME_MAX + 16];
	/* publisher */
	uint64_t pos; /* next position */
	uint64_t room; /* block: positions below this are writable */
	struct bc_seen {
		uint64_t pid; /* the slot's pid when last asked */
		int64_t at; /* when the kernel was last asked */
		int64_t dead_at; /* when first seen dead, 0: alive */
		int live;
	} * seen; /* per slot */
	int64_t linger_ns;
	int *bell_fd; /* per slot: the subscriber's doorbell, opened */
	uint64_t *bell_ino;
	/* subscriber */
	int slot;
	uint64_t h; /* our position: next message to look at */
	uint64_t held; /* peek: the position held */
	int bell_rd; /* our doorbell FIFO (ipk_fd), read end */
	int bell_wr; /* sub: its write end; pub: unused */
	int pub_bell; /* sub: the publisher's doorbell, opened when rung */
	uint64_t pub_bell_ino;
	int armed;
	char bell_path[BC_NAME_MAX + 32];
	struct {
		unsigned char *p;
		size_t len;
	} topic[BC_TOPICS];
	int ntopic;
};

static const char *const bc_wait_names[] = {"adaptive", "spin", "futex"};

static struct bc *
bc_of(struct ipk_chan *c)
{
	return ipk__chan_priv(c);
}

static void
bc_relax(void)
{
#if defined(__x86_64__) || defined(__i386__)
	__builtin_ia32_pause();
#elif defined(__aarch64__)
	__asm__ __volatile__("yield");
#endif
}

static void
bc_futex_wait(uint32_t *w, uint32_t v, int64_t until_ns)
{
	int64_t left = until_ns - ipk__now_ns();
	if (left <= 0)
		return;
	struct timespec ts = {left / 1000000000, left % 1000000000};
	(void)syscall(SYS_futex, w, FUTEX_WAIT, v, &ts, NULL, 0);
}

static void
bc_futex_wake(uint32_t *w)
{
	(void)syscall(SYS_futex, w, FUTEX_WAKE, INT_MAX, NULL, NULL, 0);
}

/* The publishing side's load of a sleep word after its store (ring.h,
 * "Waiting"): plain when sleepers can force a barrier on us. */
static uint32_t
bc_peer_word(const struct bc *b, uint32_t *w)
{
	if (IPK__UNLIKELY(!b->asym))
		return __atomic_fetch_or(w, 0u, __ATOMIC_SEQ_CST);
	__atomic_signal_fence(__ATOMIC_SEQ_CST);
	return __atomic_load_n(w, __ATOMIC_RELAXED);
}

static unsigned char *
bc_chunk(const struct bc *b, uint64_t pos)
{
	return b->chunks + (pos & b->mask) * b->cs;
}

static uint64_t *
bc_stamp(const struct bc *b, uint64_t pos)
{
	return (uint64_t *)(void *)bc_chunk(b, pos);
}

int
ipk__bc_geometry(struct ipk__bc_geo *g)
{
	uint64_t cs = (IPK__BC_CHUNK_HDR + g->max_msg + 63) & ~(uint64_t)63;
	uint64_t off =
	    (IPK__BC_SLOT_OFF + (uint64_t)g->nslot * IPK__BC_SLOT_SIZE + 4095) &
	    ~(uint64_t)4095;
	if (g->max_msg > ((uint64_t)1 << 32) - 64 ||
	    (uint64_t)g->nchunk * cs > ((uint64_t)1 << 40))
		return ipk__err(-EINVAL,
		    "queue=%u messages of maxmsg=%llu bytes do not fit in a "
		    "segment (at most 1T)",
		    g->nchunk, (unsigned long long)g->max_msg);
	g->chunk_size = cs;
	g->chunk_off = off;
	g->seg_size = off + (uint64_t)g->nchunk * cs;
	return 0;
}

/* --- Mapping a segment ---------------------------------------------------- */

/* Does the header `h` (a copy) describe a segment of `size` bytes? */
static int
bc_hdr_ok(const struct ipk__bc_hdr *h, off_t size)
{
	struct ipk__bc_geo g = {
	    .nchunk = h->nchunk, .nslot = h->nslot, .max_msg = h->max_msg};
	if (h->version != IPK__BC_VERSION || h->nchunk < 2 ||
	    (h->nchunk & (h->nchunk - 1)) || h->nchunk > IPK__BC_QUEUE_MAX ||
	    h->nslot == 0 || h->nslot > IPK__BC_SLOTS_MAX || h->max_msg == 0 ||
	    !(h->key & 1) || ipk__bc_geometry(&g) < 0)
		return 0;
	return g.chunk_size == h->chunk_size && g.chunk_off == h->chunk_off &&
	    g.seg_size == h->seg_size && (uint64_t)size == h->seg_size;
}

/* Map the segment open as b->fd and check the header against the file:
 * 0, 1 when it is still being made, or an error. Subscribers get the
 * header and the chunks read-only. */
static int
bc_map(struct bc *b, int sub)
{
	struct stat st;
	struct ipk__bc_hdr h;
	if (fstat(b->fd, &st) < 0)
		return -errno;
	if (st.st_size == 0)
		return 1;
	if (st.st_size < (off_t)sizeof(h) ||
	    pread(b->fd, &h, sizeof(h), 0) != (ssize_t)sizeof(h))
		return ipk__foreign_err(b->path, "too small for a header");
	if (h.magic == 0)
		return 1;
	if (h.magic != IPK__BC_MAGIC)
		return ipk__err(-EPROTOTYPE,
		    "%s is not a publish/subscribe segment (a one-to-one "
		    "shm channel or another program's object); open it "
		    "without ?pattern=, or pick another name",
		    b->path);
	if (IPK__CHECK("bcast.geometry", !bc_hdr_ok(&h, st.st_size)))
		return ipk__err(IPK_ECORRUPT,
		    "%s: the header's geometry does not match the segment",
		    b->path);
	b->len = (size_t)h.seg_size;
	b->map =
	    mmap(NULL, b->len, PROT_READ | PROT_WRITE, MAP_SHARED, b->fd, 0);
	if (b->map == MAP_FAILED) {
		b->map = NULL;
		return ipk__err(
		    -errno, "%s: mmap: %s", b->path, strerror(errno));
	}
	if (sub &&
	    (mprotect(b->map, IPK__BC_WAKE_OFF, PROT_READ) < 0 ||
		mprotect(
		    b->map + h.chunk_off, b->len - h.chunk_off, PROT_READ) < 0))
		return -errno;
	b->hdr = (struct ipk__bc_hdr *)(void *)b->map;
	b->wake = (struct ipk__bc_wake *)(void *)(b->map + IPK__BC_WAKE_OFF);
	b->slots = (struct ipk__bc_slot *)(void *)(b->map + IPK__BC_SLOT_OFF);
	b->chunks = b->map + h.chunk_off;
	b->key = h.key;
	b->nchunk = h.nchunk;
	b->mask = h.nchunk - 1;
	b->nslot = h.nslot;
	b->cs = h.chunk_size;
	b->max_msg = h.max_msg;
	b->block = h.slow == 1;
	return 0;
}

static void
bc_unmap(struct bc *b)
{
	if (b->map)
		(void)munmap(b->map, b->len);
	b->map = NULL;
	b->hdr = NULL;
}

/* Unlink the segment if the name is still ours. */
static void
bc_unlink_ours(struct bc *b)
{
	struct stat a, s;
	if (fstat(b->fd, &a) == 0 && stat(b->path, &s) == 0 &&
	    a.st_ino == s.st_ino && a.st_dev == s.st_dev)
		(void)shm_unlink(b->name);
}

/* --- Options -------------------------------------------------------------- */

struct bc_opts {
	struct ipk__bc_geo geo;
	int wait, wait_set, keep, timeout_ms;
	unsigned mode;
	uid_t allow;
	int64_t linger_ms;
	const char *id;
};

static int
bc_options(const struct ipk__url *u, const struct ipk_opts *o, int pub,
    struct bc_opts *bo)
{
	static const char *const pub_keys[] = {"pattern", "slow", "history",
	    "queue", "subs", "maxmsg", "mode", "keep", "allow", "wait",
	    "linger", "timeout", NULL};
	static const char *const sub_keys[] = {
	    "pattern", "topic", "id", "wait", "timeout", "allow", "mode", NULL};
	const char *const *keys = pub ? pub_keys : sub_keys;
	for (int i = 0; i < u->nopt; i++) {
		int k = 0;
		while (keys[k] && strcmp(keys[k], u->key[i]) != 0)
			k++;
		if (!keys[k])
			return ipk__err(-EINVAL,
			    "%s: option '%s' is not for a shm %s (%s take: "
			    "%s)",
			    u->text, u->key[i],
			    pub ? "publisher" : "subscriber",
			    pub ? "publishers" : "subscribers",
			    pub ? "slow, history, queue, subs, maxmsg, mode, "
				  "keep, allow, wait, linger"
				: "topic, id, wait, timeout, allow, mode");
	}
	memset(bo, 0, sizeof(*bo));
	bo->geo.nchunk = 0; /* the default follows maxmsg, below */
	bo->geo.nslot = IPK__BC_DEFAULT_SLOTS;
	bo->geo.max_msg = o && o->max_msg ? o->max_msg : IPK__BC_DEFAULT_MAXMSG;
	bo->mode = o && o->mode ? o->mode : 0600;
	bo->keep = o ? o->keep : 0;
	bo->allow = o ? o->allow_uid : 0;
	bo->timeout_ms = o ? (o->timeout_ms < 0 ? -1 : o->timeout_ms) : 0;
	int64_t v;
	uint64_t sz;
	const char *s;
	int rv;
	if ((rv = ipk__url_int(u, "queue", 2, IPK__BC_QUEUE_MAX, &v)) < 0)
		return rv;
	if (rv == 0)
		for (bo->geo.nchunk = 2; bo->geo.nchunk < (uint64_t)v;)
			bo->geo.nchunk <<= 1;
	if ((rv = ipk__url_int(u, "subs", 1, IPK__BC_SLOTS_MAX, &v)) < 0)
		return rv;
	if (rv == 0)
		bo->geo.nslot = (uint32_t)v;
	if ((rv = ipk__url_int(u, "history", 0, IPK__BC_QUEUE_MAX, &v)) < 0)
		return rv;
	if (rv == 0)
		bo->geo.history = (uint32_t)v;
	if ((rv = ipk__url_str(u, "slow", &s)) == 0) {
		if (strcmp(s, "drop") != 0 && strcmp(s, "block") != 0)
			return ipk__err(
			    -EINVAL, "%s: slow=%s: drop or block", u->text, s);
		bo->geo.slow = !strcmp(s, "block");
	}
	if ((rv = ipk__url_size(u, "maxmsg", &sz)) < 0)
		return rv;
	if (rv == 0) {
		if (sz == 0 || sz > ((uint64_t)1 << 32) - 64)
			return ipk__err(-EINVAL,
			    "%s: maxmsg must be from 1 byte to 4G on a shm "
			    "publisher",
			    u->text);
		bo->geo.max_msg = sz;
	}
	if ((rv = ipk__url_int(u, "mode", 0, 0777, &v)) < 0)
		return rv;
	if (rv == 0)
		bo->mode = (unsigned)v;
	if ((rv = ipk__url_int(u, "keep", 0, 1, &v)) < 0)
		return rv;
	if (rv == 0)
		bo->keep = (int)v;
	if ((rv = ipk__url_int(u, "timeout", -1, 1 << 30, &v)) < 0)
		return rv;
	if (rv == 0)
		bo->timeout_ms = (int)v;
	if ((rv = ipk__url_int(u, "allow", 0, 0x7fffffff, &v)) < 0)
		return rv;
	if (rv == 0)
		bo->allow = (uid_t)v;
	if ((rv = ipk__url_int(u, "linger", 0, 3600000, &v)) < 0)
		return rv;
	if (rv == 0)
		bo->linger_ms = v;
	if ((rv = ipk__url_str(u, "wait", &s)) == 0) {
		bo->wait = -1;
		for (int i = 0; i < (int)IPK__ARRAY_LEN(bc_wait_names); i++)
			if (!strcmp(s, bc_wait_names[i]))
				bo->wait = i;
		if (bo->wait < 0)
			return ipk__err(-EINVAL,
			    "%s: wait=%s: adaptive, spin or futex", u->text, s);
		bo->wait_set = 1;
	}
	if ((rv = ipk__url_str(u, "id", &s)) == 0) {
		size_t n = strlen(s);
		if (n == 0 || n >= sizeof(((struct ipk__bc_slot *)0)->id))
			return ipk__err(-EINVAL,
			    "%s: id= names a subscriber in 1 to %zu bytes",
			    u->text,
			    sizeof(((struct ipk__bc_slot *)0)->id) - 1);
		bo->id = s;
	}
	/* Default queue: about IPK__BC_DEFAULT_BYTES of chunks, so small
	 * messages get a deep ring (64 B: 32768) and 16 KiB ones 256. */
	if (!bo->geo.nchunk) {
		uint64_t cs =
		    (IPK__BC_CHUNK_HDR + bo->geo.max_msg + 63) & ~63ull;
		bo->geo.nchunk = IPK__BC_MIN_QUEUE;
		while (bo->geo.nchunk < IPK__BC_DEFAULT_QUEUE_MAX &&
		    (uint64_t)bo->geo.nchunk * 2 * cs <= IPK__BC_DEFAULT_BYTES)
			bo->geo.nchunk <<= 1;
	}
	if (bo->geo.history >= bo->geo.nchunk)
		return ipk__err(-EINVAL,
		    "%s: history=%u needs queue= above it (queue=%u)", u->text,
		    bo->geo.history, bo->geo.nchunk);
	return ipk__bc_geometry(&bo->geo);
}

static int
bc_name(const struct ipk__url *u, struct bc *b)
{
	const char *p = u->path;
	size_t n = strlen(p);
	if (*u->host || p[0] != '/' || n < 2 || n > BC_NAME_MAX ||
	    strchr(p + 1, '/') || !strcmp(p, "/.") || !strcmp(p, "/.."))
		return ipk__err(-EINVAL,
		    "shm names look like shm:///name: one component of 1 to "
		    "%d bytes without '/'",
		    BC_NAME_MAX - 1);
	memcpy(b->name, p, n + 1);
	snprintf(b->path, sizeof(b->path), "/dev/shm%s", p);
	return 0;
}

static int
bc_add_topic(struct bc *b, const void *prefix, size_t len)
{
	if (b->ntopic == BC_TOPICS)
		return ipk__err(-ENOMEM, "at most %d topics", BC_TOPICS);
	unsigned char *t = ipk__malloc(len ? len : 1);
	if (!t)
		return -ENOMEM;
	if (len)
		memcpy(t, prefix, len);
	b->topic[b->ntopic].p = t;
	b->topic[b->ntopic++].len = len;
	return 0;
}

static int
bc_topic_ok(const struct bc *b, const unsigned char *m, size_t len)
{
	if (b->ntopic == 0)
		return 1;
	for (int i = 0; i < b->ntopic; i++)
		if (b->topic[i].len <= len &&
		    !memcmp(m, b->topic[i].p, b->topic[i].len))
			return 1;
	return 0;
}

/* --- Publisher ------------------------------------------------------------ */

struct bc_create_arg {
	struct bc *b;
	const struct ipk__bc_geo *g;
};

/* Fill the unnamed file that becomes the segment (ipk__create_whole). */
static int
bc_create(int fd, void *arg)
{
	struct bc_create_arg *a = arg;
	struct bc *b = a->b;
	const struct ipk__bc_geo *g = a->g;
	b->fd = fd;
	int rv = ipk__live_take(fd, IPK__LOCK_OWNER);
	if (rv < 0)
		return rv == IPK_EBUSYSIDE ? -EADDRINUSE : rv;
	rv = posix_fallocate(fd, 0, (off_t)g->seg_size);
	if (rv != 0)
		return ipk__err(-rv,
		    "%s: cannot reserve %llu bytes for the segment: %s "
		    "(queue= and maxmsg= set its size)",
		    b->path, (unsigned long long)g->seg_size, strerror(rv));
	b->len = (size_t)g->seg_size;
	b->map = mmap(NULL, b->len, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (b->map == MAP_FAILED) {
		b->map = NULL;
		return -errno;
	}
	struct ipk__bc_hdr *h = (struct ipk__bc_hdr *)(void *)b->map;
	uint64_t key = 0;
	(void)ipk__random_bytes(&key, sizeof(key));
	h->version = IPK__BC_VERSION;
	h->slow = g->slow;
	h->seg_size = g->seg_size;
	h->key = key | 1;
	h->nchunk = g->nchunk;
	h->nslot = g->nslot;
	h->chunk_size = g->chunk_size;
	h->chunk_off = g->chunk_off;
	h->max_msg = g->max_msg;
	h->history = g->history;
	h->pub_pid = (uint64_t)getpid();
	__atomic_store_n(&h->magic, IPK__BC_MAGIC, __ATOMIC_RELEASE);
	bc_unmap(b);
	return 0;
}

/* The name exists: take over a dead publisher's segment of the same
 * geometry (0), remove one nobody uses to make it anew (1), or refuse. */
static int
bc_reclaim(struct bc *b, const struct bc_opts *bo)
{
	b->fd = shm_open(b->name, O_RDWR | O_NOFOLLOW | O_CLOEXEC, 0);
	if (b->fd < 0)
		return errno == ENOENT ? 1
		    : errno == ELOOP
		    ? ipk__foreign_err(b->path, "a symbolic link")
		    : ipk__err(-errno, "%s: %s", b->path, strerror(errno));
	struct stat st;
	if (fstat(b->fd, &st) < 0)
		return -errno;
	if (!S_ISREG(st.st_mode))
		return ipk__foreign_err(b->path, "not a shared memory object");
	if (!ipk__uid_ours(st.st_uid, bo->allow))
		return ipk__owner_err(b->path, st.st_uid);
	uint64_t magic = 0;
	if (pread(b->fd, &magic, sizeof(magic), 0) != (ssize_t)sizeof(magic) ||
	    magic != IPK__BC_MAGIC)
		return magic == IPK__SEG_MAGIC
		    ? ipk__err(-EADDRINUSE,
			  "%s is a one-to-one shm channel; a publisher "
			  "needs a name of its own",
			  b->path)
		    : ipk__foreign_err(b->path, "no ipckit header in it");
	int rv = ipk__live_take(b->fd, IPK__LOCK_OWNER);
	if (rv == IPK_EBUSYSIDE)
		return ipk__err(-EADDRINUSE,
		    "%s: a live publisher holds it (one publisher per name)",
		    b->path);
	if (rv < 0)
		return rv;
	if ((rv = bc_map(b, 0)) < 0)
		return rv;
	const struct ipk__bc_geo *g = &bo->geo;
	if (rv == 0 && b->nchunk == g->nchunk && b->nslot == g->nslot &&
	    b->max_msg == g->max_msg && (uint32_t)b->block == g->slow) {
		(void)fchmod(b->fd, bo->mode & 0777);
		return 0;
	}
	/* Another geometry: make it anew if no subscriber is attached. */
	for (uint32_t i = 0; b->map && i < b->nslot; i++)
		if (ipk__live_held(b->fd, IPK__BC_SLOT_LOCK + (int)i) == 1)
			return ipk__err(-EADDRINUSE,
			    "%s: a publisher with other options (queue=, "
			    "subs=, maxmsg=, slow=) left it and subscribers "
			    "are still attached",
			    b->path);
	bc_unlink_ours(b);
	bc_unmap(b);
	(void)close(b->fd);
	b->fd = -1;
	return 1;
}

/* Continue after the last message committed: tail, then any message a
 * publisher that died between its stamp and tail committed. */
static void
bc_resume(struct bc *b)
{
	uint64_t t = __atomic_load_n(&b->hdr->tail, __ATOMIC_ACQUIRE);
	for (uint64_t n = 0; n < b->nchunk; n++, t++)
		if (__atomic_load_n(bc_stamp(b, t), __ATOMIC_ACQUIRE) !=
		    (t ^ b->key))
			break;
	b->pos = t;
	__atomic_store_n(&b->hdr->tail, t, __ATOMIC_RELEASE);
}

static int
bc_open_pub(struct bc *b, const struct bc_opts *bo)
{
	for (int tries = 0; tries < 4; tries++) {
		struct bc_create_arg a = {b, &bo->geo};
		int fd, rv;
		rv = ipk__create_whole(b->path, bo->mode, bc_create, &a, &fd);
		if (rv == 1) {
			b->fd = fd;
			if ((rv = bc_map(b, 0)) != 0)
				return rv < 0 ? rv : -EIO;
			break;
		}
		b->fd = -1;
		bc_unmap(b);
		if (rv != -EEXIST)
			return rv;
		if ((rv = bc_reclaim(b, bo)) < 0)
			return rv;
		if (rv == 0)
			break;
	}
	if (!b->hdr)
		return ipk__err(
		    -EADDRINUSE, "%s: keeps being recreated", b->path);
	b->seen = ipk__calloc(b->nslot, sizeof(*b->seen));
	b->bell_fd = ipk__calloc(b->nslot, sizeof(*b->bell_fd));
	b->bell_ino = ipk__calloc(b->nslot, sizeof(*b->bell_ino));
	if (!b->seen || !b->bell_fd || !b->bell_ino)
		return -ENOMEM;
	for (uint32_t i = 0; i < b->nslot; i++)
		b->bell_fd[i] = -1;
	b->owned = 1;
	b->linger_ns = bo->linger_ms * 1000000;
	__atomic_store_n(
	    &b->hdr->pub_pid, (uint64_t)getpid(), __ATOMIC_RELAXED);
	__atomic_store_n(&b->hdr->closed, 0, __ATOMIC_RELEASE);
	bc_resume(b);
	return 0;
}

/* Is slot i's subscriber there? Asks the kernel (its lock) at most once
 * a slice per subscriber, and only when `ask`; otherwise the last answer
 * (for the same pid), or "yes". A dead anonymous subscriber's slot is
 * freed; one with an id still counts for ?linger= after its death. */
static int
bc_slot_live(struct bc *b, uint32_t i, int64_t now, int ask)
{
	struct bc_seen *v = &b->seen[i];
	struct ipk__bc_slot *s = &b->slots[i];
	uint64_t pid = __atomic_load_n(&s->pid, __ATOMIC_RELAXED);
	if (v->pid == pid && v->at &&
	    (!ask || now - v->at < (int64_t)IPK__SLICE_MS * 1000000))
		return v->live;
	if (!ask)
		return 1;
	if (v->pid != pid)
		v->dead_at = 0;
	v->pid = pid;
	v->at = now;
	if (ipk__live_held(b->fd, IPK__BC_SLOT_LOCK + (int)i) != 0) {
		v->dead_at = 0;
		return v->live = 1;
	}
	if (s->id[0] == '\0') {
		uint32_t live = IPK__BC_LIVE;
		(void)__atomic_compare_exchange_n(&s->state, &live,
		    IPK__BC_FREE, 0, __ATOMIC_ACQ_REL, __ATOMIC_RELAXED);
		return v->live = 0;
	}
	if (!v->dead_at)
		v->dead_at = now;
	return v->live = now - v->dead_at < b->linger_ns;
}

/*
 * The oldest head among the subscribers that count (bc_slot_live), each
 * loaded once; a head past our position or a whole ring behind (a
 * subscriber that was not waited for and will jump) is clamped. With
 * `drops`, also the number of them that lose message pos - nchunk when it
 * is overwritten now (slow=drop).
 */
static uint64_t
bc_oldest(struct bc *b, int ask, uint64_t *drops)
{
	uint64_t lo = b->pos, n = 0;
	uint64_t floor = b->pos >= b->nchunk ? b->pos - b->nchunk : 0;
	int64_t now = ask ? ipk__now_ns() : 0;
	for (uint32_t i = 0; i < b->nslot; i++) {
		if (__atomic_load_n(&b->slots[i].state, __ATOMIC_ACQUIRE) !=
		    IPK__BC_LIVE)
			continue;
		/* Acquire: the subscriber's reads of the chunks before it
		 * came come before our writes over them. */
		uint64_t hd =
		    __atomic_load_n(&b->slots[i].head, __ATOMIC_ACQUIRE);
		if (hd >= lo || !bc_slot_live(b, i, now, ask))
			continue;
		if (hd <= floor) {
			hd = floor;
			n += b->pos >= b->nchunk;
		}
		lo = hd;
	}
	if (drops)
		*drops = n;
	return lo;
}

/* The publisher is about to sleep for room: ask to be woken when the
 * oldest head (b->room - nchunk, just scanned) has moved a quarter of the
 * queue, then set `bits` in pub_wait. Returns the position asked for. */
static uint64_t
bc_announce_room(struct bc *b, uint32_t bits)
{
	uint64_t q = b->nchunk / 4 ? b->nchunk / 4 : 1;
	uint64_t at = b->room - b->nchunk + q;
	__atomic_store_n(&b->wake->room_at, at, __ATOMIC_RELAXED);
	(void)__atomic_or_fetch(&b->wake->pub_wait, bits, __ATOMIC_SEQ_CST);
	return at;
}

/* Wait, at most until `deadline`, for room at b->pos (slow=block). A dead
 * subscriber holds us no longer than the spin: then the kernel is asked. */
static int
bc_wait_room(struct bc *b, int64_t deadline)
{
	int64_t spin_until = ipk__now_ns() + BC_SPIN_NS;
	for (;;) {
		b->room = bc_oldest(b, 1, NULL) + b->nchunk;
		if (b->pos < b->room)
			return 0;
		if (ipk__expired(deadline))
			return ipk__err(-ETIMEDOUT,
			    "%s: a subscriber has not read the last %u "
			    "messages (slow=block)",
			    b->path, b->nchunk);
		int64_t now = ipk__now_ns();
		if (b->wait == IPK__WAIT_SPIN ||
		    (b->wait == IPK__WAIT_ADAPTIVE && now < spin_until)) {
			for (int k = 0; k < 64; k++)
				bc_relax();
			continue;
		}
		int64_t until = now + (int64_t)IPK__SLICE_MS * 1000000;
		if (deadline < until)
			until = deadline;
		uint64_t at = bc_announce_room(b, IPK__RING_WFUTEX);
		int brief = ipk__ring_sleep_fence();
		uint64_t oldest = bc_oldest(b, 0, NULL);
		b->room = oldest + b->nchunk;
		if (b->pos < b->room)
			return 0;
		if (oldest >= at)
			continue; /* crossed before it could see the word */
		if (brief && until > now + 1000000)
			until = now + 1000000;
		uint32_t v =
		    __atomic_load_n(&b->wake->pub_wait, __ATOMIC_RELAXED);
		if (v)
			bc_futex_wait(&b->wake->pub_wait, v, until);
	}
}

/* Make chunk b->pos writable: the wait of slow=block, the count of
 * slow=drop. Runs only when the cached room says so. */
static int
bc_make_room(struct bc *b, struct ipk_chan *c, int64_t deadline)
{
	if (IPK__LIKELY(b->pos < b->room))
		return 0;
	if (b->block)
		return bc_wait_room(b, deadline);
	uint64_t drops;
	uint64_t lo = bc_oldest(b, 1, &drops);
	c->stats->gaps += drops;
	/* Someone loses a message: look again at the next one. */
	b->room = drops ? b->pos + 1 : lo + b->nchunk;
	return 0;
}

/* Wake what sleeps: futex sleepers, and armed doorbells. */
static void
bc_wake_subs(struct bc *b)
{
	IPK__CRASH_SITE("bcast.before_wake");
	/* Take the whole request: each sleep is served once, and the
	 * publishes that follow make no system call until someone sleeps
	 * again. */
	uint32_t bits =
	    __atomic_exchange_n(&b->wake->want, 0, __ATOMIC_SEQ_CST);
	if (bits & IPK__RING_WFUTEX) {
		__atomic_add_fetch(&b->wake->gen, 1, __ATOMIC_SEQ_CST);
		bc_futex_wake(&b->wake->gen);
	}
	for (uint32_t i = 0; (bits & IPK__RING_WBELL) && i < b->nslot; i++) {
		struct ipk__bc_slot *s = &b->slots[i];
		uint32_t one = 1;
		if (!__atomic_load_n(&s->bell, __ATOMIC_RELAXED) ||
		    !__atomic_compare_exchange_n(&s->bell, &one, 0, 0,
			__ATOMIC_SEQ_CST, __ATOMIC_RELAXED))
			continue;
		uint64_t ino = __atomic_load_n(&s->bell_ino, __ATOMIC_RELAXED);
		uint64_t dev = __atomic_load_n(&s->bell_dev, __ATOMIC_RELAXED);
		if (b->bell_fd[i] >= 0 && b->bell_ino[i] != ino) {
			(void)close(b->bell_fd[i]);
			b->bell_fd[i] = -1;
		}
		if (b->bell_fd[i] < 0) {
			char p[BC_NAME_MAX + 40];
			struct stat st;
			snprintf(p, sizeof(p), "/dev/shm%s.sub%u", b->name, i);
			int fd = open(
			    p, O_WRONLY | O_NONBLOCK | O_CLOEXEC | O_NOFOLLOW);
			/* Only the FIFO the slot records: never write to
			 * anything else found at the name. */
			if (fd >= 0 &&
			    (fstat(fd, &st) < 0 || !S_ISFIFO(st.st_mode) ||
				(uint64_t)st.st_ino != ino ||
				(uint64_t)st.st_dev != dev)) {
				(void)close(fd);
				fd = -1;
			}
			b->bell_fd[i] = fd;
			b->bell_ino[i] = ino;
		}
		if (b->bell_fd[i] >= 0)
			(void)!write(b->bell_fd[i], "", 1);
	}
}

/* Commit chunk b->pos with len and type written. */
static void
bc_publish(struct bc *b, size_t len, uint32_t type)
{
	uint64_t p = b->pos;
	uint32_t *w = (uint32_t *)(void *)(bc_chunk(b, p) + 8);
	__atomic_store_n(&w[0], (uint32_t)len, __ATOMIC_RELAXED);
	__atomic_store_n(&w[1], type, __ATOMIC_RELAXED);
	IPK__CRASH_SITE("bcast.before_stamp");
	/* Release: payload, len and type before the stamp; pairs with the
	 * subscribers' acquire load of the stamp. */
	__atomic_store_n(bc_stamp(b, p), p ^ b->key, __ATOMIC_RELEASE);
	IPK__CRASH_SITE("bcast.after_stamp");
	b->pos = p + 1;
	__atomic_store_n(&b->hdr->tail, p + 1, __ATOMIC_RELEASE);
	if (IPK__UNLIKELY(bc_peer_word(b, &b->wake->want)))
		bc_wake_subs(b);
}

/* Before writing chunk p, whose stamp a subscriber may be checking: make
 * the old stamp invalid first, so a copy racing with our write is seen to
 * fail its second look. Under slow=drop that is the lapped subscriber;
 * under block nobody should read it, unless a hostile process moved the
 * heads the publisher trusts: then too a copy is never torn. */
static void
bc_invalidate(struct bc *b)
{
	__atomic_store_n(bc_stamp(b, b->pos), 0, BC_SEQ_ORDER);
	BC_FENCE(__ATOMIC_RELEASE);
}

static int
bc_send(struct ipk_chan *c, const void *buf, size_t len, uint32_t type,
    int64_t deadline)
{
	struct bc *b = bc_of(c);
	if (b->role != BC_ROLE_PUB)
		return ipk__err(-ENOTSUP, "a subscriber does not send");
	int rv = bc_make_room(b, c, deadline);
	if (rv < 0)
		return rv;
	bc_invalidate(b);
	memcpy(bc_chunk(b, b->pos) + IPK__BC_CHUNK_HDR, buf, len);
	bc_publish(b, len, type);
	return 0;
}

static int
bc_loan(struct ipk_chan *c, size_t len, void **buf, int64_t deadline)
{
	struct bc *b = bc_of(c);
	if (b->role != BC_ROLE_PUB)
		return ipk__err(-ENOTSUP, "a subscriber does not send");
	int rv = bc_make_room(b, c, deadline);
	if (rv < 0)
		return rv;
	bc_invalidate(b);
	*buf = bc_chunk(b, b->pos) + IPK__BC_CHUNK_HDR;
	return 0;
}

static int
bc_commit(struct ipk_chan *c, size_t len, uint32_t type)
{
	bc_publish(bc_of(c), len, type);
	return 0;
}

/* --- Subscriber ----------------------------------------------------------- */

/* The publisher asked to be woken when a head moves: futex, or a byte
 * on its doorbell FIFO (only the one the header records). */
static void
bc_wake_pub(struct bc *b)
{
	uint32_t bits =
	    __atomic_exchange_n(&b->wake->pub_wait, 0, __ATOMIC_SEQ_CST);
	if (bits & IPK__RING_WFUTEX)
		bc_futex_wake(&b->wake->pub_wait);
	if (!(bits & IPK__RING_WBELL))
		return;
	uint64_t ino = __atomic_load_n(&b->hdr->bell_ino, __ATOMIC_ACQUIRE);
	uint64_t dev = __atomic_load_n(&b->hdr->bell_dev, __ATOMIC_RELAXED);
	if (b->pub_bell >= 0 && b->pub_bell_ino != ino) {
		(void)close(b->pub_bell);
		b->pub_bell = -1;
	}
	if (b->pub_bell < 0 && ino) {
		char p[BC_NAME_MAX + 40];
		struct stat st;
		snprintf(p, sizeof(p), "/dev/shm%s.pub", b->name);
		int fd =
		    open(p, O_WRONLY | O_NONBLOCK | O_CLOEXEC | O_NOFOLLOW);
		if (fd >= 0 &&
		    (fstat(fd, &st) < 0 || !S_ISFIFO(st.st_mode) ||
			(uint64_t)st.st_ino != ino ||
			(uint64_t)st.st_dev != dev)) {
			(void)close(fd);
			fd = -1;
		}
		b->pub_bell = fd;
		b->pub_bell_ino = ino;
	}
	if (b->pub_bell >= 0)
		(void)!write(b->pub_bell, "", 1);
}

/* Move our head: everything before h is released. */
static void
bc_set_head(struct bc *b, uint64_t h)
{
	uint64_t old = b->h;
	b->h = h;
	/* Release: our reads of the chunks come before the publisher may
	 * write over them (acquire in bc_oldest). */
	__atomic_store_n(&b->slots[b->slot].head, h, __ATOMIC_RELEASE);
	IPK__CRASH_SITE("bcast.after_head");
	if (IPK__UNLIKELY(bc_peer_word(b, &b->wake->pub_wait))) {
		/* Wake it when we cross the position it waits for (a
		 * subscriber already past it is not the one it waits on). */
		uint64_t at =
		    __atomic_load_n(&b->wake->room_at, __ATOMIC_RELAXED);
		if (old < at && h >= at)
			bc_wake_pub(b);
	}
}

static int
bc_corrupt(struct bc *b, const char *what)
{
	return ipk__err(IPK_ECORRUPT, "%s: %s", b->path, what);
}

/* Lapped: the publisher overwrote message b->h. Jump to the oldest message
 * still there (t - nchunk: writing t overwrites it, which the next look
 * tells) and count exactly what was overwritten, as the publisher does. */
static void
bc_lapped(struct bc *b, struct ipk_chan *c, uint64_t t)
{
	uint64_t nh = t - b->nchunk;
	if (nh < b->h + 1)
		nh = b->h + 1;
	c->stats->gaps += nh - b->h;
	__atomic_add_fetch(
	    &b->slots[b->slot].lost, nh - b->h, __ATOMIC_RELAXED);
	bc_set_head(b, nh);
}

/* Does stamp `s` say that message h is not written yet: 0 (never written,
 * or being rewritten) or the stamp of the message a lap before? */
static inline int
bc_unwritten(const struct bc *b, uint64_t h, uint64_t s)
{
	return s == 0 || (h >= b->nchunk && s == ((h - b->nchunk) ^ b->key));
}

/*
 * Find the next message at b->h: 0 with *chunk, *len, *type set; -EAGAIN
 * when there is none yet; IPK_ECORRUPT on garbage. Skips what the topics
 * filter out and jumps over what the publisher overwrote.
 */
static int
bc_next(struct bc *b, struct ipk_chan *c, const unsigned char **chunk,
    size_t *len, uint32_t *type)
{
	for (;;) {
		uint64_t h = b->h;
		const unsigned char *k = bc_chunk(b, h);
		uint64_t s = __atomic_load_n(
		    (const uint64_t *)(const void *)k, __ATOMIC_ACQUIRE);
		if (IPK__LIKELY(s == (h ^ b->key))) {
			uint32_t n = __atomic_load_n(
			    (const uint32_t *)(const void *)(k + 8),
			    __ATOMIC_RELAXED);
			uint32_t ty = __atomic_load_n(
			    (const uint32_t *)(const void *)(k + 12),
			    __ATOMIC_RELAXED);
			if (IPK__CHECK("bcast.len", n > b->max_msg))
				return bc_corrupt(b,
				    "a message is longer than the "
				    "segment's maxmsg");
			if (b->ntopic &&
			    !bc_topic_ok(b, k + IPK__BC_CHUNK_HDR, n)) {
				bc_set_head(b, h + 1);
				continue;
			}
			*chunk = k;
			*len = n;
			*type = ty;
			return 0;
		}
		/* Not written yet: the chunk still holds the message a lap
		 * before (or nothing, or is being rewritten). Tail, a line
		 * the publisher writes every message, is read only past
		 * this. */
		if (bc_unwritten(b, h, s))
			return -EAGAIN;
		uint64_t t = __atomic_load_n(&b->hdr->tail, __ATOMIC_ACQUIRE);
		/* The stamp is stored before tail: a message we took may be
		 * one past tail for a moment (or for good, when its
		 * publisher died in between). */
		if (t == h || t + 1 == h)
			return -EAGAIN;
		if (IPK__CHECK("bcast.tail", t < h))
			return bc_corrupt(b,
			    "the publisher's tail is behind "
			    "this subscriber");
		if (t - h >= b->nchunk) {
			bc_lapped(b, c, t);
			continue;
		}
		/* tail passed h but h's stamp is another: either a commit
		 * not yet visible with its stamp (re-read), or garbage. */
		s = __atomic_load_n(
		    (const uint64_t *)(const void *)k, __ATOMIC_ACQUIRE);
		if (s == (h ^ b->key))
			continue;
		uint64_t t2 = __atomic_load_n(&b->hdr->tail, __ATOMIC_ACQUIRE);
		if (t2 - h >= b->nchunk) {
			bc_lapped(b, c, t2);
			continue;
		}
		if (IPK__CHECK("bcast.stamp", 1))
			return bc_corrupt(b,
			    "a message below the publisher's "
			    "tail has no valid stamp");
		return -EAGAIN;
	}
}

/* Has the message at b->h kept its stamp (slow=drop: not overwritten)? */
static int
bc_still(const struct bc *b, uint64_t h)
{
	/* Acquire fence: our reads of the payload come before this load
	 * (the reader's half of a sequence lock). */
	BC_FENCE(__ATOMIC_ACQUIRE);
	return __atomic_load_n(bc_stamp(b, h), BC_SEQ_ORDER) == (h ^ b->key);
}

static int bc_wait_msg(struct bc *b, struct ipk_chan *c, int64_t deadline);

/* The next message for recv or peek, waiting for one until `deadline`:
 * bc_next and bc_wait_msg in turn. */
static int
bc_take(struct bc *b, struct ipk_chan *c, const unsigned char **k, size_t *n,
    uint32_t *ty, int64_t deadline)
{
	if (b->role != BC_ROLE_SUB)
		return ipk__err(-ENOTSUP, "a publisher does not receive");
	for (;;) {
		int rv = bc_next(b, c, k, n, ty);
		if (rv != -EAGAIN)
			return rv;
		if ((rv = bc_wait_msg(b, c, deadline)) < 0)
			return rv;
	}
}

static int
bc_recv(struct ipk_chan *c, void *buf, size_t cap, size_t *len, uint32_t *type,
    int64_t deadline)
{
	struct bc *b = bc_of(c);
	for (;;) {
		const unsigned char *k;
		size_t n;
		uint32_t ty;
		int rv = bc_take(b, c, &k, &n, &ty, deadline);
		if (rv < 0)
			return rv;
		if (n > cap) {
			*len = n;
			return -EMSGSIZE;
		}
		memcpy(buf, k + IPK__BC_CHUNK_HDR, n);
		if (IPK__UNLIKELY(!bc_still(b, b->h)))
			continue; /* overwritten while copied: bc_next counts */
		*len = n;
		if (type)
			*type = ty;
		IPK__CRASH_SITE("bcast.recv_taken");
		bc_set_head(b, b->h + 1);
		return 0;
	}
}

static int
bc_peek(struct ipk_chan *c, const void **buf, size_t *len, uint32_t *type,
    int64_t deadline)
{
	struct bc *b = bc_of(c);
	const unsigned char *k;
	size_t n;
	uint32_t ty;
	int rv = bc_take(b, c, &k, &n, &ty, deadline);
	if (rv < 0)
		return rv;
	*buf = k + IPK__BC_CHUNK_HDR;
	*len = n;
	if (type)
		*type = ty;
	b->held = b->h;
	return 0;
}

static int
bc_release(struct ipk_chan *c)
{
	struct bc *b = bc_of(c);
	int ok = bc_still(b, b->held);
	IPK__CRASH_SITE("bcast.before_release");
	if (b->h == b->held)
		bc_set_head(b, b->h + 1);
	if (ok)
		return 0;
	c->stats->gaps++;
	__atomic_add_fetch(&b->slots[b->slot].lost, 1, __ATOMIC_RELAXED);
	return ipk__err(-ESTALE,
	    "%s: the message was overwritten while it was held: this "
	    "subscriber fell a whole queue behind (slow=drop); discard what "
	    "was read",
	    b->path);
}

/* Is the publisher there? Its OWNER lock, and not closed. */
static int
bc_pub_alive(struct bc *b)
{
	return !__atomic_load_n(&b->hdr->closed, __ATOMIC_ACQUIRE) &&
	    ipk__live_held(b->fd, IPK__LOCK_OWNER) == 1;
}

/* 1 when a receive would not wait: our chunk holds a message (ours, a
 * later lap's, or garbage). Reads only that chunk's first line, which the
 * publisher writes once a lap. */
static int
bc_moved(const struct bc *b)
{
	return !bc_unwritten(
	    b, b->h, __atomic_load_n(bc_stamp(b, b->h), __ATOMIC_RELAXED));
}

/* Wait for a message at b->h, at most until `deadline`: 0 to look again,
 * -ETIMEDOUT, or IPK_ECLOSED when the publisher is gone (checked every
 * slice, so within IPK__SLICE_MS of its death). */
static int
bc_wait_msg(struct bc *b, struct ipk_chan *c, int64_t deadline)
{
	if (ipk__expired(deadline))
		return -ETIMEDOUT;
	c->stats->waits++;
	int64_t now = ipk__now_ns();
	int64_t spin_until = now + BC_SPIN_NS;
	int64_t slice_end = now + (int64_t)IPK__SLICE_MS * 1000000;
	for (;;) {
		if (b->wait != IPK__WAIT_FUTEX) {
			for (int k = 0; k < 256; k++) {
				if (bc_moved(b))
					return 0;
				bc_relax();
			}
		}
		now = ipk__now_ns();
		if (bc_moved(b))
			return 0;
		if (now >= slice_end || now >= deadline) {
			if (!bc_pub_alive(b) && !bc_moved(b))
				return ipk__err(IPK_ECLOSED,
				    "%s: the publisher %s", b->path,
				    __atomic_load_n(
					&b->hdr->closed, __ATOMIC_RELAXED)
					? "closed"
					: "is gone");
			return now >= deadline ? -ETIMEDOUT : 0;
		}
		if (b->wait == IPK__WAIT_SPIN ||
		    (b->wait == IPK__WAIT_ADAPTIVE && now < spin_until))
			continue;
		uint32_t g = __atomic_load_n(&b->wake->gen, __ATOMIC_ACQUIRE);
		(void)__atomic_or_fetch(
		    &b->wake->want, IPK__RING_WFUTEX, __ATOMIC_SEQ_CST);
		int brief = ipk__ring_sleep_fence();
		if (!bc_moved(b)) {
			int64_t until =
			    slice_end < deadline ? slice_end : deadline;
			if (brief && until > now + 1000000)
				until = now + 1000000;
			bc_futex_wait(&b->wake->gen, g, until);
		}
	}
}

/* Claim slot i: its lock, then the state. 0, or 1 when it is not ours to
 * take (live, or another durable subscriber's). */
static int
bc_claim(struct bc *b, uint32_t i, const char *id, int durable_only)
{
	struct ipk__bc_slot *s = &b->slots[i];
	uint32_t st = __atomic_load_n(&s->state, __ATOMIC_ACQUIRE);
	int mine = id && !strncmp(s->id, id, sizeof(s->id));
	if (durable_only ? !(mine && st == IPK__BC_LIVE) : st != IPK__BC_FREE)
		return 1;
	if (ipk__live_take(b->fd, IPK__BC_SLOT_LOCK + (int)i) != 0)
		return 1;
	if (!__atomic_compare_exchange_n(&s->state, &st, IPK__BC_CLAIM, 0,
		__ATOMIC_ACQ_REL, __ATOMIC_RELAXED)) {
		struct flock fl = {.l_type = F_UNLCK,
		    .l_whence = SEEK_SET,
		    .l_start = IPK__BC_SLOT_LOCK + (int)i,
		    .l_len = 1};
		(void)fcntl(b->fd, F_OFD_SETLK, &fl);
		return 1;
	}
	return 0;
}

static int
bc_open_sub(struct bc *b, struct ipk_chan *c, const struct bc_opts *bo)
{
	b->slot = -1;
	uint32_t i;
	int resume = 0;
	if (bo->id)
		for (i = 0; i < b->nslot && !resume; i++)
			if (bc_claim(b, i, bo->id, 1) == 0) {
				b->slot = (int)i;
				resume = 1;
			}
	for (i = 0; i < b->nslot && b->slot < 0; i++)
		if (bc_claim(b, i, bo->id, 0) == 0)
			b->slot = (int)i;
	if (b->slot < 0)
		return ipk__err(-EUSERS,
		    "%s: all %u subscriber slots are taken (the publisher's "
		    "subs=)",
		    b->path, b->nslot);
	struct ipk__bc_slot *s = &b->slots[b->slot];
	uint64_t t = __atomic_load_n(&b->hdr->tail, __ATOMIC_ACQUIRE);
	uint64_t hist = __atomic_load_n(&b->hdr->history, __ATOMIC_RELAXED);
	uint64_t h;
	if (resume) {
		h = __atomic_load_n(&s->head, __ATOMIC_RELAXED);
		if (h > t)
			h = t;
	} else {
		h = t > hist ? t - hist : 0;
		memset(s->id, 0, sizeof(s->id));
		if (bo->id)
			memcpy(s->id, bo->id, strlen(bo->id));
		__atomic_store_n(&s->lost, 0, __ATOMIC_RELAXED);
	}
	__atomic_store_n(&s->pid, (uint64_t)getpid(), __ATOMIC_RELAXED);
	__atomic_store_n(&s->head, h, __ATOMIC_RELAXED);
	b->h = h;
	/* Seq-cst: the publisher's next scan sees us before we read. */
	__atomic_store_n(&s->state, IPK__BC_LIVE, __ATOMIC_SEQ_CST);
	(void)c;
	return 0;
}

/* --- Doorbell (ipk_fd) ---------------------------------------------------- */

/* Is `st` the doorbell FIFO slot `s` records? */
static int
bc_bell_recorded(const struct ipk__bc_slot *s, const struct stat *st)
{
	uint64_t dev = __atomic_load_n(&s->bell_dev, __ATOMIC_RELAXED);
	uint64_t ino = __atomic_load_n(&s->bell_ino, __ATOMIC_RELAXED);
	return S_ISFIFO(st->st_mode) && (dev || ino) &&
	    (uint64_t)st->st_dev == dev && (uint64_t)st->st_ino == ino;
}

/* The publisher leaves: remove the doorbells of dead subscribers. */
static void
bc_unlink_dead_bells(struct bc *b)
{
	char p[BC_NAME_MAX + 40];
	struct stat st;
	for (uint32_t i = 0; i < b->nslot; i++) {
		snprintf(p, sizeof(p), "/dev/shm%s.sub%u", b->name, i);
		if (lstat(p, &st) == 0 && bc_bell_recorded(&b->slots[i], &st) &&
		    ipk__live_held(b->fd, IPK__BC_SLOT_LOCK + (int)i) == 0)
			(void)unlink(p);
	}
}

/* Make our doorbell FIFO at NAME.subI (subscriber) or NAME.pub, record
 * it (slot or header), open its read end (and a write end, so it never
 * reads end-of-file). A FIFO a dead predecessor left there is ours to
 * remove only when the record names it; anything else is the user's. */
static int
bc_bell_make(struct bc *b)
{
	uint64_t *rdev, *rino;
	if (b->role == BC_ROLE_SUB) {
		snprintf(b->bell_path, sizeof(b->bell_path), "/dev/shm%s.sub%d",
		    b->name, b->slot);
		rdev = &b->slots[b->slot].bell_dev;
		rino = &b->slots[b->slot].bell_ino;
	} else {
		snprintf(b->bell_path, sizeof(b->bell_path), "/dev/shm%s.pub",
		    b->name);
		rdev = &b->hdr->bell_dev;
		rino = &b->hdr->bell_ino;
	}
	struct stat st;
	if (lstat(b->bell_path, &st) == 0) {
		if (!S_ISFIFO(st.st_mode) ||
		    (uint64_t)st.st_dev !=
			__atomic_load_n(rdev, __ATOMIC_RELAXED) ||
		    (uint64_t)st.st_ino !=
			__atomic_load_n(rino, __ATOMIC_RELAXED))
			return ipk__foreign_err(
			    b->bell_path, "in the way of the doorbell");
		(void)unlink(b->bell_path);
	}
	if (mkfifo(b->bell_path, 0600) < 0)
		return ipk__err(
		    -errno, "%s: mkfifo: %s", b->bell_path, strerror(errno));
	b->bell_rd = open(b->bell_path, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
	if (b->bell_rd >= 0)
		b->bell_wr =
		    open(b->bell_path, O_WRONLY | O_NONBLOCK | O_CLOEXEC);
	if (b->bell_rd < 0 || b->bell_wr < 0 || fstat(b->bell_rd, &st) < 0)
		return -errno;
	__atomic_store_n(rdev, (uint64_t)st.st_dev, __ATOMIC_RELAXED);
	__atomic_store_n(rino, (uint64_t)st.st_ino, __ATOMIC_RELEASE);
	return 0;
}

/* Remove our doorbell if it is still the one we made. */
static void
bc_bell_unlink(struct bc *b)
{
	struct stat a, st;
	if (b->bell_rd >= 0 && fstat(b->bell_rd, &a) == 0 &&
	    lstat(b->bell_path, &st) == 0 && a.st_ino == st.st_ino &&
	    a.st_dev == st.st_dev)
		(void)unlink(b->bell_path);
}

/* Empty our doorbell. */
static void
bc_bell_drain(struct bc *b)
{
	char tmp[64];
	while (b->bell_rd >= 0 && read(b->bell_rd, tmp, sizeof(tmp)) > 0)
		;
}

/* ipk_fd: a subscriber's doorbell (readable when a message may be
 * there), a publisher's (readable when room may be there, slow=block). */
static int
bc_fd(struct ipk_chan *c)
{
	struct bc *b = bc_of(c);
	if (b->bell_rd < 0) {
		int rv = bc_bell_make(b);
		if (rv < 0)
			return rv;
	}
	return b->bell_rd;
}

/* Arm a subscriber's doorbell: the publisher writes a byte at its next
 * commit. Then the caller looks at the ring again. */
static void
bc_arm(struct bc *b)
{
	bc_bell_drain(b);
	struct ipk__bc_slot *s = &b->slots[b->slot];
	__atomic_store_n(&s->bell, 1, __ATOMIC_SEQ_CST);
	(void)__atomic_or_fetch(
	    &b->wake->want, IPK__RING_WBELL, __ATOMIC_SEQ_CST);
	(void)ipk__ring_sleep_fence();
}

static int
bc_ready(struct ipk_chan *c)
{
	struct bc *b = bc_of(c);
	if (b->role == BC_ROLE_PUB)
		return 0;
	if (bc_moved(b))
		return 1; /* no need to arm the doorbell (a barrier) */
	if (b->bell_rd >= 0)
		bc_arm(b);
	return bc_moved(b) || !bc_pub_alive(b);
}

/* ipk_poll's IPK_POLLOUT: is there room for the next message? Under
 * slow=block, arms the publisher's doorbell first when there is none. */
static int
bc_writable(struct ipk_chan *c)
{
	struct bc *b = bc_of(c);
	if (b->role != BC_ROLE_PUB || !b->block || b->pos < b->room)
		return 1;
	b->room = bc_oldest(b, 1, NULL) + b->nchunk;
	if (b->pos < b->room)
		return 1;
	if (b->bell_rd < 0)
		return 0;
	bc_bell_drain(b);
	uint64_t at = bc_announce_room(b, IPK__RING_WBELL);
	(void)ipk__ring_sleep_fence();
	uint64_t oldest = bc_oldest(b, 0, NULL);
	b->room = oldest + b->nchunk;
	return b->pos < b->room || oldest >= at;
}

static int
bc_wfd(struct ipk_chan *c, short *events)
{
	*events = POLLIN;
	return bc_fd(c);
}

static int
bc_npeers(struct ipk_chan *c)
{
	struct bc *b = bc_of(c);
	if (b->role == BC_ROLE_SUB)
		return bc_pub_alive(b);
	int n = 0;
	for (uint32_t i = 0; i < b->nslot; i++)
		if (__atomic_load_n(&b->slots[i].state, __ATOMIC_ACQUIRE) ==
			IPK__BC_LIVE &&
		    ipk__live_held(b->fd, IPK__BC_SLOT_LOCK + (int)i) == 1)
			n++;
	return n;
}

static int
bc_subscribe(struct ipk_chan *c, const void *prefix, size_t len)
{
	struct bc *b = bc_of(c);
	if (b->role != BC_ROLE_SUB)
		return ipk__err(-EINVAL, "subscribe: not a subscriber");
	return bc_add_topic(b, prefix, len);
}

static void
bc_close(struct ipk_chan *c)
{
	struct bc *b = bc_of(c);
	if (b->hdr && b->role == BC_ROLE_PUB && b->owned) {
		__atomic_store_n(&b->hdr->closed, 1, __ATOMIC_RELEASE);
		/* Wake every sleeper to see it. */
		__atomic_add_fetch(&b->wake->gen, 1, __ATOMIC_SEQ_CST);
		bc_futex_wake(&b->wake->gen);
		if (!b->keep) {
			bc_unlink_ours(b);
			bc_unlink_dead_bells(b);
			bc_bell_unlink(b);
		}
	}
	if (b->hdr && b->role == BC_ROLE_SUB && b->slot >= 0) {
		struct ipk__bc_slot *s = &b->slots[b->slot];
		__atomic_store_n(&s->bell, 0, __ATOMIC_RELAXED);
		bc_bell_unlink(b);
		/* A durable subscriber keeps its slot and place. */
		if (!s->id[0])
			__atomic_store_n(
			    &s->state, IPK__BC_FREE, __ATOMIC_RELEASE);
	}
	for (uint32_t i = 0; b->bell_fd && i < b->nslot; i++)
		if (b->bell_fd[i] >= 0)
			(void)close(b->bell_fd[i]);
	ipk__free(b->bell_fd);
	ipk__free(b->bell_ino);
	ipk__free(b->seen);
	for (int i = 0; i < b->ntopic; i++)
		ipk__free(b->topic[i].p);
	if (b->bell_rd >= 0)
		(void)close(b->bell_rd);
	if (b->bell_wr >= 0)
		(void)close(b->bell_wr);
	if (b->pub_bell >= 0)
		(void)close(b->pub_bell);
	bc_unmap(b);
	if (b->fd >= 0)
		(void)close(b->fd);
	b->fd = -1;
}

static const struct ipk__transport bc_tr = {
    .scheme = "shm",
    .caps =
	IPK_CAP_BOUNDARIES | IPK_CAP_TYPES | IPK_CAP_ZEROCOPY | IPK_CAP_PUBSUB,
    .chan_size = sizeof(struct bc),
    .example = "",
    .send = bc_send,
    .recv = bc_recv,
    .loan = bc_loan,
    .commit = bc_commit,
    .peek = bc_peek,
    .release = bc_release,
    .fd = bc_fd,
    .ready = bc_ready,
    .doorbell = 1,
    .writable = bc_writable,
    .wfd = bc_wfd,
    .npeers = bc_npeers,
    .subscribe = bc_subscribe,
    .close = bc_close,
};

/* --- Opening -------------------------------------------------------------- */

static int
bc_dial_wait(struct bc *b, struct ipk_chan *c, const struct bc_opts *bo)
{
	int64_t deadline = ipk__deadline(bo->timeout_ms);
	for (;;) {
		b->fd = shm_open(b->name, O_RDWR | O_NOFOLLOW | O_CLOEXEC, 0);
		int rv;
		if (b->fd < 0) {
			rv = errno == ENOENT ? 1
					     : ipk__err(-errno, "%s: %s",
						   b->path, strerror(errno));
		} else {
			struct stat st;
			rv = fstat(b->fd, &st) < 0 ? -errno : 0;
			if (rv == 0 && !S_ISREG(st.st_mode))
				rv = ipk__foreign_err(
				    b->path, "not a shared memory object");
			if (rv == 0 && !ipk__uid_ours(st.st_uid, bo->allow))
				rv = ipk__owner_err(b->path, st.st_uid);
			if (rv == 0)
				rv = bc_map(b, 1);
			if (rv == 0 && !bc_pub_alive(b))
				rv = 1; /* a dead publisher's: wait for one */
		}
		if (rv <= 0)
			return rv;
		bc_unmap(b);
		if (b->fd >= 0)
			(void)close(b->fd);
		b->fd = -1;
		if (ipk__expired(deadline))
			return ipk__err(IPK_ENOPEER,
			    "%s: no publisher (bind shm:///name?pattern=pub "
			    "first, or give ?timeout=MS to wait)",
			    b->path);
		struct timespec ts = {0, 2000000};
		(void)nanosleep(&ts, NULL);
		(void)c;
	}
}

int
ipk__shm_pattern(const char *url, const struct ipk__url *u,
    const struct ipk_opts *o, int bind, const char *role, struct ipk_chan **out)
{
	static const char *const others[] = {"req", "rep", "push", "pull"};
	int pub = !strcmp(role, "pub");
	if (!pub && strcmp(role, "sub") != 0) {
		for (size_t i = 0; i < IPK__ARRAY_LEN(others); i++)
			if (!strcmp(role, others[i]))
				return ipk__err(-ENOTSUP,
				    "%s: shm has publish/subscribe "
				    "(?pattern=pub|sub); req/rep and push/pull "
				    "run on unix, tcp and nng+*",
				    url);
		return ipk__err(-EINVAL,
		    "%s: unknown pattern '%s' (pub, sub, req, rep, push, "
		    "pull)",
		    url, role);
	}
	struct bc_opts bo;
	int rv = bc_options(u, o, pub, &bo);
	if (rv < 0)
		return rv;
	if (pub != bind)
		return ipk__err(-ENOTSUP,
		    "%s: on shm the publisher binds (ipk_bind, ipckit pub) "
		    "and subscribers dial (ipk_dial, ipckit sub)",
		    url);
	struct ipk_chan *c =
	    ipk__chan_new(&bc_tr, url, (size_t)bo.geo.max_msg, bo.mode);
	if (!c)
		return -ENOMEM;
	struct bc *b = bc_of(c);
	b->fd = b->bell_rd = b->bell_wr = b->pub_bell = -1;
	b->slot = -1;
	b->role = pub ? BC_ROLE_PUB : BC_ROLE_SUB;
	b->keep = bo.keep;
	b->asym = ipk__ring_setup();
	b->wait = bo.wait;
	if ((rv = bc_name(u, b)) < 0)
		goto err;
	for (int i = 0; i < u->nopt; i++)
		if (!strcmp(u->key[i], "topic") &&
		    (rv = bc_add_topic(b, u->val[i], strlen(u->val[i]))) < 0)
			goto err;
	rv = pub ? bc_open_pub(b, &bo) : bc_dial_wait(b, c, &bo);
	if (rv == 0 && !pub) {
		rv = bc_open_sub(b, c, &bo);
		c->max_msg = (size_t)b->max_msg;
	}
	if (rv < 0)
		goto err;
	/* Recorded in the run directory for ipckit ls, stat and gc. */
	c->keep = bo.keep;
	c->ledger = ipk__ledger_join(
	    u, url, pub ? IPK_ROLE_LISTENER : IPK_ROLE_DIALER, bo.mode);
	if (c->ledger)
		c->stats = ipk__ledger_stats(c->ledger);
	*out = c;
	return 0;
err:
	(void)ipk_close(c);
	return rv;
}

/* --- Operating (ipckit ls, stat, rm, gc) ---------------------------------- */

/* Read the header and the slots of the segment open as fd. 0, or
 * IPK_ECORRUPT / -errno. *slots is the caller's to free. */
static int
bc_read(int fd, const char *name, struct ipk__bc_hdr *h,
    struct ipk__bc_slot **slots, struct stat *st)
{
	*slots = NULL;
	if (fstat(fd, st) < 0)
		return -errno;
	if (pread(fd, h, sizeof(*h), 0) != (ssize_t)sizeof(*h) ||
	    !bc_hdr_ok(h, st->st_size))
		return ipk__err(IPK_ECORRUPT,
		    "/dev/shm%s: a publisher's segment with a broken header",
		    name);
	size_t n = (size_t)h->nslot * sizeof(**slots);
	*slots = ipk__malloc(n);
	if (!*slots)
		return -ENOMEM;
	if (pread(fd, *slots, n, IPK__BC_SLOT_OFF) != (ssize_t)n)
		return -EIO;
	return 0;
}

int
ipk__bc_inspect(int fd, const char *name, struct ipk_objinfo *o)
{
	struct ipk__bc_hdr h;
	struct ipk__bc_slot *sl;
	struct stat st;
	int rv = bc_read(fd, name, &h, &sl, &st);
	o->uid = st.st_uid;
	o->mode = st.st_mode & 07777;
	snprintf(o->objects[0], sizeof(o->objects[0]), "/dev/shm%s", name);
	if (rv < 0) {
		ipk__free(sl);
		return rv == IPK_ECORRUPT ? 0 : rv;
	}
	o->cap_msgs = h.nchunk;
	o->cap_bytes = (int64_t)h.nchunk * (int64_t)h.max_msg;
	o->queued_msgs = 0;
	o->queued_bytes = -1;
	for (uint32_t i = 0; i < h.nslot; i++) {
		const struct ipk__bc_slot *s = &sl[i];
		if (s->state != IPK__BC_LIVE)
			continue;
		int alive = ipk__live_held(fd, IPK__BC_SLOT_LOCK + (int)i) == 1;
		int64_t lag =
		    s->head <= h.tail ? (int64_t)(h.tail - s->head) : 0;
		if (lag > (int64_t)h.nchunk)
			lag = h.nchunk; /* it will find the rest overwritten */
		if (alive && lag > o->queued_msgs)
			o->queued_msgs = lag;
		struct ipk_endpoint *e = NULL;
		for (int k = 0; k < o->nep && !e; k++)
			if (o->ep[k].pid == (pid_t)s->pid &&
			    o->ep[k].role == IPK_ROLE_DIALER)
				e = &o->ep[k];
		if (!e && o->nep < IPK_OBJ_MAXEP) {
			e = &o->ep[o->nep++];
			memset(e, 0, sizeof(*e));
			e->pid = (pid_t)s->pid;
			e->role = IPK_ROLE_DIALER;
			e->alive = alive;
			e->stats.gaps = s->lost;
			o->nalive += alive;
		}
		if (e)
			e->lag = lag;
	}
	ipk__free(sl);
	return 0;
}

/* Unlink `path` when it is the FIFO (dev, ino) records. */
static void
bc_unlink_recorded(const char *path, uint64_t dev, uint64_t ino)
{
	struct stat st;
	if ((dev || ino) && lstat(path, &st) == 0 && S_ISFIFO(st.st_mode) &&
	    (uint64_t)st.st_dev == dev && (uint64_t)st.st_ino == ino)
		(void)unlink(path);
}

int
ipk__bc_remove(int fd, const char *name, int force)
{
	struct ipk__bc_hdr h;
	struct ipk__bc_slot *sl;
	struct stat st, cur;
	char path[BC_NAME_MAX + 40];
	int rv = bc_read(fd, name, &h, &sl, &st);
	if (rv < 0 && rv != IPK_ECORRUPT) {
		ipk__free(sl);
		return rv;
	}
	uint32_t n = rv == 0 ? h.nslot : 0;
	int busy = ipk__live_held(fd, IPK__LOCK_OWNER) == 1;
	for (uint32_t i = 0; i < n && !busy; i++)
		busy = ipk__live_held(fd, IPK__BC_SLOT_LOCK + (int)i) == 1;
	if (busy && !force) {
		ipk__free(sl);
		return ipk__err(-EBUSY,
		    "/dev/shm%s is held by a live publisher or subscriber",
		    name);
	}
	snprintf(path, sizeof(path), "/dev/shm%s", name);
	if (lstat(path, &cur) == 0 && cur.st_ino == st.st_ino &&
	    cur.st_dev == st.st_dev)
		(void)unlink(path);
	if (rv == 0) {
		snprintf(path, sizeof(path), "/dev/shm%s.pub", name);
		bc_unlink_recorded(path, h.bell_dev, h.bell_ino);
	}
	for (uint32_t i = 0; i < n; i++) {
		snprintf(path, sizeof(path), "/dev/shm%s.sub%u", name, i);
		bc_unlink_recorded(path, sl[i].bell_dev, sl[i].bell_ino);
	}
	ipk__free(sl);
	return 0;
}
