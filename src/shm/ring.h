/* SPDX-License-Identifier: MIT */
/*
 * ring.h - the single-producer single-consumer ring of variable-length
 * records behind shm:// (in a shared segment) and inproc:// (in process
 * memory): the article's "shared memory" made into a message queue.
 *
 * Layout. A ring is a control block (struct ipk__ring_ctl, in the shared
 * memory) and `cap` data bytes (a power of two, at least 64). Positions are
 * 64-bit byte counters that only grow; a position's offset in the data is
 * pos & (cap - 1). The producer owns `tail` (end of published records), the
 * consumer owns `head` (start of records not yet released); they live on
 * separate cache lines, and so do the two sleep announcements.
 *
 * Records. Each record is a 16-byte header { u32 len, u32 type, u64 seq }
 * followed by len payload bytes, padded so the next record starts on a
 * 16-byte boundary. A record is never split: when it does not fit before the
 * end of the data, the producer first publishes a padding record (len word
 * IPK__RING_PAD | bytes to the end - 16) and writes the record at offset 0.
 * The largest message is therefore cap - 16 bytes.
 *
 * Publishing. The producer writes the whole record, then advances `tail`
 * with a release store; the consumer loads `tail` with acquire, reads
 * records, and advances `head` (release) when it releases them. A producer
 * that dies between loan and commit never moved `tail`: nothing torn is
 * visible, and the next producer writes over the abandoned bytes. A consumer
 * that dies before release leaves `head` in place, so its successor sees the
 * record again (at-least-once; the sequence number tells).
 *
 * Trust. The peer may be hostile or buggy. Each side keeps its own position
 * privately and only *loads* the other side's index, once per use, into a
 * local that is validated (16-byte aligned, at most `cap` ahead) before it
 * is used; record headers are loaded once into locals and checked against
 * the published bytes and the end of the data. Garbage gives IPK_ECORRUPT,
 * never an access outside the data. Payload bytes stay untrusted.
 *
 * Waiting. Neither side makes a syscall while the other is awake. A side
 * about to sleep sets bits in the other side's announcement word with a
 * full barrier (ipk__ring_announce), re-checks the ring, and only then
 * sleeps; a side that publishes does a full barrier too (the exchange on
 * tail/head) before it loads the word, so one of the two always sees the
 * other (no lost wake-up). The waker clears the word and wakes the way it
 * asks: FUTEX_WAKE, sem_post, or a doorbell callback (ipk_fd).
 *
 * Threads: one producer thread and one consumer thread per ring.
 */
#ifndef IPK_SHM_RING_H
#define IPK_SHM_RING_H

#include <errno.h>
#include <semaphore.h>
#include <stdint.h>
#include <string.h>

#include "core/internal.h"
#include "core/testhook.h"

#define IPK__RING_HDR 16u
#define IPK__RING_ALIGN 16u
#define IPK__RING_PAD 0x80000000u
#define IPK__RING_MIN 64u
#define IPK__RING_MAX (1u << 30)

/* Announcement bits: how a sleeping side wants to be woken. */
#define IPK__RING_WFUTEX 1u /* FUTEX_WAKE on the word itself */
#define IPK__RING_WSEM 2u /* sem_post on the side's semaphore */
#define IPK__RING_WBELL 4u /* the doorbell callback (consumer only) */

/* Wait strategies (shm ?wait=). */
#define IPK__WAIT_ADAPTIVE 0
#define IPK__WAIT_SPIN 1
#define IPK__WAIT_FUTEX 2
#define IPK__WAIT_SEM 3

/* The shared control block; 512 bytes in every layout. */
struct ipk__ring_ctl {
	_Alignas(64) uint64_t tail; /* producer: published up to here */
	uint64_t seq; /* producer: sequence of the next record */
	_Alignas(64) uint64_t head; /* consumer: released up to here */
	_Alignas(64) uint32_t rd_wait; /* consumer asleep: IPK__RING_W* bits */
	uint32_t bell_gen; /* consumer's doorbell generation */
	_Alignas(64) uint32_t wr_wait; /* producer asleep for space */
	_Alignas(64) sem_t rd_sem;
	_Alignas(64) sem_t wr_sem;
};
#define IPK__RING_CTL_SIZE 512u
_Static_assert(sizeof(struct ipk__ring_ctl) <= IPK__RING_CTL_SIZE,
    "ring control block too big");

/* One side's private view of a ring. */
struct ipk__ring {
	struct ipk__ring_ctl *ctl;
	unsigned char *data;
	uint64_t cap, mask;
	uint64_t pos; /* producer: our tail; consumer: our head */
	uint64_t peer; /* last validated index of the other side */
	uint64_t seq; /* producer: next sequence number */
	uint64_t next; /* consumer: position after the peeked record */
	/* Consumer doorbell, rung by the producer (may be NULL). */
	void (*bell)(void *arg);
	void *bell_arg;
};

/* A record found by ipk__ring_peek. `buf` points into the ring. */
struct ipk__ring_msg {
	const unsigned char *buf;
	uint32_t len, type;
	uint64_t seq;
};

/* Bytes a record of `len` payload bytes occupies. */
static inline uint64_t
ipk__ring_recsize(uint64_t len)
{
	return (IPK__RING_HDR + len + IPK__RING_ALIGN - 1) &
	    ~(uint64_t)(IPK__RING_ALIGN - 1);
}

/* Largest payload of a ring of `cap` data bytes. */
static inline uint64_t
ipk__ring_max_msg(uint64_t cap)
{
	return cap - IPK__RING_HDR;
}

/* Slow paths (ring.c). */
IPK__HIDDEN int ipk__ring_ctl_init(struct ipk__ring_ctl *ctl, int pshared);
IPK__HIDDEN void ipk__ring_ctl_fini(struct ipk__ring_ctl *ctl);
IPK__HIDDEN void ipk__ring_wake_reader(struct ipk__ring *r);
IPK__HIDDEN void ipk__ring_wake_writer(struct ipk__ring *r);
/*
 * Wait, at most until `until` (monotonic ns), for the other side to move
 * its index away from r->peer (the value last seen when the ring was empty
 * or full). `reader`: 1 to wait for data, 0 to wait for space. Returns 0
 * when the index moved or the wait ended (the caller re-checks the ring and
 * the peer's liveness), or a negative errno on a failed syscall.
 */
IPK__HIDDEN int
ipk__ring_wait(struct ipk__ring *r, int reader, int strategy, int64_t until);

/* Attach as producer: adopt the published tail and sequence. */
static inline int
ipk__ring_attach_producer(struct ipk__ring *r)
{
	uint64_t t = __atomic_load_n(&r->ctl->tail, __ATOMIC_RELAXED);
	uint64_t h = __atomic_load_n(&r->ctl->head, __ATOMIC_ACQUIRE);
	if (IPK__CHECK("ring.prod_align", (t | h) & (IPK__RING_ALIGN - 1)) ||
	    IPK__CHECK("ring.prod_range", t - h > r->cap))
		return IPK_ECORRUPT;
	r->pos = t;
	r->peer = h;
	r->seq = __atomic_load_n(&r->ctl->seq, __ATOMIC_RELAXED);
	return 0;
}

/* Attach as consumer: resume at the first record not released. */
static inline int
ipk__ring_attach_consumer(struct ipk__ring *r)
{
	uint64_t h = __atomic_load_n(&r->ctl->head, __ATOMIC_RELAXED);
	uint64_t t = __atomic_load_n(&r->ctl->tail, __ATOMIC_ACQUIRE);
	if (IPK__CHECK("ring.cons_align", (t | h) & (IPK__RING_ALIGN - 1)) ||
	    IPK__CHECK("ring.cons_range", t - h > r->cap))
		return IPK_ECORRUPT;
	r->pos = r->next = h;
	r->peer = h; /* nothing known yet: the first peek loads tail */
	return 0;
}

/* Producer: is there room for `need` bytes at r->pos? 0, -EAGAIN, or
 * IPK_ECORRUPT. Loads head only when the cached value says "full". */
static inline int
ipk__ring_room(struct ipk__ring *r, uint64_t need)
{
	if (IPK__LIKELY(r->pos + need - r->peer <= r->cap))
		return 0;
	/* Acquire: the consumer's reads of released records come before our
	 * writes over them; pairs with the exchange in ipk__ring_release. */
	uint64_t h = __atomic_load_n(&r->ctl->head, __ATOMIC_ACQUIRE);
	if (IPK__CHECK("ring.head_align", h & (IPK__RING_ALIGN - 1)) ||
	    IPK__CHECK("ring.head_range", r->pos - h > r->cap))
		return IPK_ECORRUPT;
	r->peer = h;
	return r->pos + need - h <= r->cap ? 0 : -EAGAIN;
}

/* Producer: make records up to r->pos visible, and wake a sleeping
 * consumer if it asked to be woken. */
static inline void
ipk__ring_publish(struct ipk__ring *r)
{
	/* Release: the record bytes before the index exposing them; pairs
	 * with the acquire load of tail in ipk__ring_peek. As a locked
	 * exchange it is also the full barrier that orders this store before
	 * the load of rd_wait (pairs with ipk__ring_announce). */
	IPK__CRASH_SITE("ring.before_tail");
	(void)__atomic_exchange_n(&r->ctl->tail, r->pos, __ATOMIC_SEQ_CST);
	IPK__CRASH_SITE("ring.after_tail");
	if (IPK__UNLIKELY(__atomic_load_n(&r->ctl->rd_wait, __ATOMIC_RELAXED)))
		ipk__ring_wake_reader(r);
}

/*
 * Producer: reserve a record for `len` payload bytes and point *out at its
 * payload. 0, -EAGAIN (full: wait and retry), -EMSGSIZE (never fits), or
 * IPK_ECORRUPT. May publish a padding record first. Nothing is visible to
 * the consumer until ipk__ring_commit.
 */
static inline int
ipk__ring_loan(struct ipk__ring *r, uint64_t len, void **out)
{
	if (IPK__UNLIKELY(len > ipk__ring_max_msg(r->cap)))
		return -EMSGSIZE;
	uint64_t need = ipk__ring_recsize(len);
	uint64_t off = r->pos & r->mask;
	uint64_t rem = r->cap - off;
	int rv;
	if (IPK__UNLIKELY(need > rem)) {
		if ((rv = ipk__ring_room(r, rem)) < 0)
			return rv;
		uint32_t w = IPK__RING_PAD | (uint32_t)(rem - IPK__RING_HDR);
		uint32_t *h = (uint32_t *)(void *)(r->data + off);
		__atomic_store_n(&h[0], w, __ATOMIC_RELAXED);
		__atomic_store_n(&h[1], 0u, __ATOMIC_RELAXED);
		IPK__CRASH_SITE("ring.after_pad");
		r->pos += rem;
		ipk__ring_publish(r);
		off = 0;
	}
	if ((rv = ipk__ring_room(r, need)) < 0)
		return rv;
	*out = r->data + off + IPK__RING_HDR;
	return 0;
}

/* Producer: publish the loaned record with `len` (<= loaned) bytes. */
static inline void
ipk__ring_commit(struct ipk__ring *r, uint64_t len, uint32_t type)
{
	unsigned char *p = r->data + (r->pos & r->mask);
	__atomic_store_n(
	    (uint32_t *)(void *)p, (uint32_t)len, __ATOMIC_RELAXED);
	__atomic_store_n((uint32_t *)(void *)(p + 4), type, __ATOMIC_RELAXED);
	__atomic_store_n((uint64_t *)(void *)(p + 8), r->seq, __ATOMIC_RELAXED);
	IPK__CRASH_SITE("ring.after_len");
	r->pos += ipk__ring_recsize(len);
	r->seq++;
	__atomic_store_n(&r->ctl->seq, r->seq, __ATOMIC_RELAXED);
	ipk__ring_publish(r);
}

/* Consumer: advance head to `pos` and wake a producer waiting for space. */
static inline void
ipk__ring_release_to(struct ipk__ring *r, uint64_t pos)
{
	r->pos = r->next = pos;
	/* Release: our reads of the records come before the producer may
	 * overwrite them; pairs with the acquire load in ipk__ring_room. The
	 * locked exchange is also the full barrier before loading wr_wait. */
	(void)__atomic_exchange_n(&r->ctl->head, pos, __ATOMIC_SEQ_CST);
	IPK__CRASH_SITE("ring.after_head");
	if (IPK__UNLIKELY(__atomic_load_n(&r->ctl->wr_wait, __ATOMIC_RELAXED)))
		ipk__ring_wake_writer(r);
}

/*
 * Consumer: find the next record without consuming it. 0 and *m set,
 * -EAGAIN when the ring is empty, IPK_ECORRUPT on garbage. Loads tail only
 * when the records seen at the last load are used up, so a burst costs one
 * load. Padding records are released on the way.
 */
static inline int
ipk__ring_peek(struct ipk__ring *r, struct ipk__ring_msg *m)
{
	for (;;) {
		uint64_t avail = r->peer - r->pos;
		if (avail == 0) {
			/* Acquire: pairs with the exchange in
			 * ipk__ring_publish; the record bytes are visible. */
			uint64_t t =
			    __atomic_load_n(&r->ctl->tail, __ATOMIC_ACQUIRE);
			if (IPK__CHECK(
				"ring.tail_align", t & (IPK__RING_ALIGN - 1)) ||
			    IPK__CHECK("ring.tail_range", t - r->pos > r->cap))
				return IPK_ECORRUPT;
			r->peer = t;
			avail = t - r->pos;
			if (avail == 0)
				return -EAGAIN;
		} else if (avail > r->cap) {
			return IPK_ECORRUPT;
		}
		uint64_t off = r->pos & r->mask;
		const unsigned char *p = r->data + off;
		/* Each header field is loaded once, into a local. */
		uint32_t len = __atomic_load_n(
		    (const uint32_t *)(const void *)p, __ATOMIC_RELAXED);
		uint64_t rem = r->cap - off;
		if (len & IPK__RING_PAD) {
			if (IPK__CHECK("ring.pad_len",
				len !=
				    (IPK__RING_PAD |
					(uint32_t)(rem - IPK__RING_HDR))) ||
			    IPK__CHECK("ring.pad_avail", avail < rem))
				return IPK_ECORRUPT;
			ipk__ring_release_to(r, r->pos + rem);
			continue;
		}
		uint64_t need = ipk__ring_recsize(len);
		if (IPK__CHECK("ring.rec_wrap", need > rem) ||
		    IPK__CHECK("ring.rec_avail", need > avail))
			return IPK_ECORRUPT;
		m->buf = p + IPK__RING_HDR;
		m->len = len;
		m->type = __atomic_load_n(
		    (const uint32_t *)(const void *)(p + 4), __ATOMIC_RELAXED);
		m->seq = __atomic_load_n(
		    (const uint64_t *)(const void *)(p + 8), __ATOMIC_RELAXED);
		r->next = r->pos + need;
		return 0;
	}
}

/* Consumer: release the record returned by the last ipk__ring_peek. */
static inline void
ipk__ring_release(struct ipk__ring *r)
{
	IPK__CRASH_SITE("ring.before_release");
	ipk__ring_release_to(r, r->next);
}

/* Set `bits` in an announcement word, with a full barrier before the
 * caller re-checks the ring (pairs with the exchange in publish/release).
 * Returns the word's new value, the futex compare value. */
static inline uint32_t
ipk__ring_announce(uint32_t *word, uint32_t bits)
{
	return __atomic_or_fetch(word, bits, __ATOMIC_SEQ_CST);
}

/* Unread bytes in the ring, as far as the indices say (0 on garbage). */
static inline uint64_t
ipk__ring_pending(const struct ipk__ring_ctl *ctl, uint64_t cap)
{
	uint64_t t = __atomic_load_n(&ctl->tail, __ATOMIC_ACQUIRE);
	uint64_t h = __atomic_load_n(&ctl->head, __ATOMIC_ACQUIRE);
	return t - h <= cap ? t - h : 0;
}

/* --- Channels over a pair of rings ---------------------------------------
 * What shm:// and inproc:// share: one ring out, one ring in, a wait
 * strategy, and a way to ask whether the peer is still there. Blocking ops
 * wait in slices of IPK__SLICE_MS and ask `alive` after the first slice (so
 * the question is not on the hand-off path); queued messages come before
 * IPK_ECLOSED. Sentences name the channel by `name`.
 */
struct ipk__ring_chan {
	struct ipk__ring tx, rx;
	int wait; /* IPK__WAIT_* */
	int bell; /* reader's doorbell descriptor, or -1 */
	int (*alive)(void *arg); /* 1 while the peer is attached */
	/* Empties the doorbell when `bell` cannot simply be read (memfd://
	 * polls an epoll set); NULL: read `bell` until it is empty. */
	void (*drain)(void *arg);
	void *arg;
	const char *name;
};

/* ?size= (each ring, rounded up to a power of two, 4K..1G) and ?wait=;
 * outputs untouched when absent. 0 or -EINVAL with a sentence. */
IPK__HIDDEN int
ipk__ring_opts(const struct ipk__url *u, uint64_t *cap, int *wait);
IPK__HIDDEN int ipk__ring_chan_loan(
    struct ipk__ring_chan *h, size_t len, void **buf, int64_t deadline);
IPK__HIDDEN int ipk__ring_chan_send(struct ipk__ring_chan *h, const void *buf,
    size_t len, uint32_t type, int64_t deadline);
IPK__HIDDEN int ipk__ring_chan_recv(struct ipk__ring_chan *h, size_t max_msg,
    void *buf, size_t cap, size_t *len, uint32_t *type, int64_t deadline);
IPK__HIDDEN int ipk__ring_chan_peek(struct ipk__ring_chan *h, const void **buf,
    size_t *len, uint32_t *type, int64_t deadline);
/* The size error for len > max_msg: names size= that would fit when the
 * ring is the limit, maxmsg= otherwise. Returns -EMSGSIZE. */
IPK__HIDDEN int
ipk__ring_chan_toobig(struct ipk__ring_chan *h, size_t max_msg, size_t len);
/* ipk_poll's question: 1 when a receive would not wait (a record, garbage
 * to report, or a peer that is gone), else 0. With a doorbell, empties it
 * and re-arms it first, so a stale ring never counts. */
IPK__HIDDEN int ipk__ring_chan_ready(struct ipk__ring_chan *h);
/* Doorbell (ipk_fd): empty `h->bell`, then ask the producer to ring it
 * when it publishes; the caller looks at the ring again afterwards. */
IPK__HIDDEN void ipk__ring_chan_arm(struct ipk__ring_chan *h);

#endif /* IPK_SHM_RING_H */
