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
 * Records. Each record is a 16-byte header { u32 len, u32 type, u64 stamp }
 * followed by len payload bytes, padded so the next record starts on a
 * 16-byte boundary. A record is never split: when it does not fit before the
 * end of the data, the producer first publishes a padding record (len word
 * IPK__RING_PAD | bytes to the end - 16) and writes the record at offset 0.
 * The largest message is therefore cap - 16 bytes.
 *
 * Publishing: one cache line per hand-off. The stamp of the record at
 * position p is p ^ key, where `key` is a random odd number the ring was
 * made with (ctl->key, copied into each side's view at attach). The
 * producer writes the payload, len and type, then stores the stamp with
 * release: that store is the commit. The consumer does not read `tail`: it
 * loads the stamp at its own position with acquire and takes the record
 * when the stamp is the one that position must carry. Stale bytes cannot
 * pass for a record: an older record at the same offset carries another
 * position's stamp, zeroed memory is even while stamps are odd, and payload
 * bytes (the user's) match a 64-bit random key by chance 2^-64 at a time. So
 * the consumer's poll and the record it takes are the same cache line, as
 * in the floor the bench measures. After the stamp the producer still
 * stores `tail` (a plain store to a line only it writes, so it costs no
 * transfer while nobody reads it): attach and ipk__ring_pending use it.
 * The consumer advances `head` (release) when it releases a record; the
 * producer reads head only when its cached copy says "full".
 *
 * Crashes. A producer that dies before the stamp leaves nothing visible;
 * the next producer writes over the abandoned bytes. One that dies between
 * the stamp and `tail` leaves a record the consumer may already have taken:
 * attach therefore starts at the later of tail and head and walks forward
 * over records that carry their stamps. A consumer that dies before release
 * leaves `head` in place, so its successor sees the record again
 * (at-least-once, one duplicate per crash at most).
 *
 * Trust. The peer may be hostile or buggy. Each side keeps its own position
 * privately and only *loads* the other side's index, once per use, into a
 * local that is validated (16-byte aligned, at most `cap` ahead) before it
 * is used; record headers are loaded once into locals and checked against
 * the end of the data. Garbage gives IPK_ECORRUPT, never an access outside
 * the data. A producer can forge stamps, but only for bytes inside the data
 * it could have sent anyway. Payload bytes stay untrusted.
 *
 * Waiting: no lost wake-up, and no locked instruction on the hand-off.
 * Neither side makes a syscall while the other is awake. A side about to
 * sleep (S) (a) sets bits in its announcement word with an atomic or, (b)
 * calls ipk__ring_sleep_fence, membarrier(MEMBARRIER_CMD_GLOBAL_EXPEDITED),
 * which makes every thread of a registered process execute a full barrier
 * before the call returns (a running one by an interrupt, a descheduled
 * one when it is switched in, before its next instruction), (c) re-checks
 * the ring, and only then sleeps. A side that publishes (P) (1) stores its
 * commit (the stamp then tail, or head) and (2) loads the announcement word,
 * with no barrier between. Let B be the barrier (b) forced on P. If B falls
 * after (1) in P's program order, B made (1) visible before (b) returned,
 * so (c) sees it and S does not sleep. If B falls before (1), then (2)
 * follows B, which follows (a) becoming visible, so (2) sees the bits and
 * P wakes S. A process that cannot register for the expedited barrier
 * publishes with a locked read-modify-write as (2) instead (the classic
 * pairing with the atomic or); its own sleeps use the slower
 * MEMBARRIER_CMD_GLOBAL, or, with no membarrier at all, end after 1 ms, so
 * a peer that publishes without a fence is never waited for longer. The
 * waker clears the word and wakes the way it asks: FUTEX_WAKE, sem_post,
 * or a doorbell callback (ipk_fd). tests/model/ring.pml checks this
 * protocol, with a crash at every producer step and mutants that must fail.
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
	_Alignas(64) uint64_t head; /* consumer: released up to here */
	_Alignas(64) uint32_t rd_wait; /* consumer asleep: IPK__RING_W* bits */
	uint32_t bell_gen; /* consumer's doorbell generation */
	_Alignas(64) uint32_t wr_wait; /* producer asleep for space */
	_Alignas(64) sem_t rd_sem;
	_Alignas(64) sem_t wr_sem;
	_Alignas(64) uint64_t key; /* stamp key, odd; set at creation */
};
_Static_assert(__builtin_offsetof(struct ipk__ring_ctl, key) == 384,
    "the stamp key moved: tests/fuzz/shm_fuzz.c knows its offset");
#define IPK__RING_CTL_SIZE 512u
_Static_assert(sizeof(struct ipk__ring_ctl) <= IPK__RING_CTL_SIZE,
    "ring control block too big");

/* One side's private view of a ring. */
struct ipk__ring {
	struct ipk__ring_ctl *ctl;
	unsigned char *data;
	uint64_t cap, mask;
	uint64_t pos; /* producer: our tail; consumer: our head */
	uint64_t peer; /* producer: last validated head */
	uint64_t key; /* ctl->key as it was at attach */
	uint64_t next; /* consumer: position after the peeked record */
	int asym; /* publish without a fence (ipk__ring_peer_word) */
	/* Consumer doorbell, rung by the producer (may be NULL). */
	void (*bell)(void *arg);
	void *bell_arg;
};

/* A record found by ipk__ring_peek. `buf` points into the ring. */
struct ipk__ring_msg {
	const unsigned char *buf;
	uint32_t len, type;
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

/* The stamp word of the record at offset `off`. */
static inline uint64_t *
ipk__ring_stamp(const struct ipk__ring *r, uint64_t off)
{
	return (uint64_t *)(void *)(r->data + off + 8);
}

/* Slow paths (ring.c). */
IPK__HIDDEN int ipk__ring_ctl_init(struct ipk__ring_ctl *ctl, int pshared);
IPK__HIDDEN void ipk__ring_ctl_fini(struct ipk__ring_ctl *ctl);
IPK__HIDDEN void ipk__ring_wake_reader(struct ipk__ring *r);
IPK__HIDDEN void ipk__ring_wake_writer(struct ipk__ring *r);
/*
 * Register this process for the expedited barrier (once per process, again
 * after a fork); returns 1 when its rings may publish without a fence.
 */
IPK__HIDDEN int ipk__ring_setup(void);
/*
 * The sleeper's half of the hand-off (ring.h, "Waiting"): make every
 * publisher execute a full barrier. Returns 0, or 1 when no barrier could
 * be forced on a peer that publishes without a fence: sleep briefly then.
 */
IPK__HIDDEN int ipk__ring_sleep_fence(void);
/*
 * Wait, at most until `until` (monotonic ns), for the other side to move:
 * reader (1): the record at r->pos to be committed; writer (0): head to
 * leave r->peer (the value last seen when the ring was full). Returns 0
 * when it moved or the wait ended (the caller re-checks the ring and the
 * peer's liveness), or a negative errno on a failed syscall.
 */
IPK__HIDDEN int
ipk__ring_wait(struct ipk__ring *r, int reader, int strategy, int64_t until);

/* Has the record at the consumer's position been committed? */
static inline int
ipk__ring_ready(const struct ipk__ring *r)
{
	return __atomic_load_n(ipk__ring_stamp(r, r->pos & r->mask),
		   __ATOMIC_RELAXED) == (r->pos ^ r->key);
}

/*
 * Attach as producer: continue after the last committed record. That is
 * tail, or head when the consumer took records past a tail that a crash
 * left behind, then every record further on that carries its stamp.
 */
static inline int
ipk__ring_attach_producer(struct ipk__ring *r)
{
	r->asym = ipk__ring_setup();
	r->key = __atomic_load_n(&r->ctl->key, __ATOMIC_RELAXED);
	uint64_t t = __atomic_load_n(&r->ctl->tail, __ATOMIC_RELAXED);
	uint64_t h = __atomic_load_n(&r->ctl->head, __ATOMIC_ACQUIRE);
	if (IPK__CHECK("ring.prod_align", (t | h) & (IPK__RING_ALIGN - 1)))
		return IPK_ECORRUPT;
	if (h - t <= r->cap)
		t = h; /* the consumer is ahead of the published tail */
	else if (IPK__CHECK("ring.prod_range", t - h > r->cap))
		return IPK_ECORRUPT;
	for (;;) {
		uint64_t off = t & r->mask, rem = r->cap - off;
		/* Acquire: pairs with the stamp store of the commit. */
		if (__atomic_load_n(ipk__ring_stamp(r, off),
			__ATOMIC_ACQUIRE) != (t ^ r->key))
			break;
		uint32_t len = __atomic_load_n(
		    (const uint32_t *)(const void *)(r->data + off),
		    __ATOMIC_RELAXED);
		uint64_t size =
		    len & IPK__RING_PAD ? rem : ipk__ring_recsize(len);
		int bad = size > rem || t + size - h > r->cap;
		if (IPK__CHECK("ring.prod_scan", bad))
			return IPK_ECORRUPT;
		t += size;
	}
	r->pos = t;
	r->peer = h;
	return 0;
}

/* Attach as consumer: resume at the first record not released. */
static inline int
ipk__ring_attach_consumer(struct ipk__ring *r)
{
	r->asym = ipk__ring_setup();
	r->key = __atomic_load_n(&r->ctl->key, __ATOMIC_RELAXED);
	uint64_t h = __atomic_load_n(&r->ctl->head, __ATOMIC_RELAXED);
	if (IPK__CHECK("ring.cons_align", h & (IPK__RING_ALIGN - 1)))
		return IPK_ECORRUPT;
	r->pos = r->next = h;
	r->peer = 0;
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
	 * writes over them; pairs with the release store of head in
	 * ipk__ring_release_to. */
	uint64_t h = __atomic_load_n(&r->ctl->head, __ATOMIC_ACQUIRE);
	if (IPK__CHECK("ring.head_align", h & (IPK__RING_ALIGN - 1)) ||
	    IPK__CHECK("ring.head_range", r->pos - h > r->cap))
		return IPK_ECORRUPT;
	r->peer = h;
	return r->pos + need - h <= r->cap ? 0 : -EAGAIN;
}

/* The publishing side's half of the hand-off: load the other side's
 * announcement word after our commit store. Without a fence when the
 * sleeper can force one on us (ring.h, "Waiting"); else with a locked
 * read-modify-write of the word, the full barrier that pairs with the
 * sleeper's atomic or. */
static inline uint32_t
ipk__ring_peer_word(const struct ipk__ring *r, uint32_t *word)
{
	if (IPK__UNLIKELY(!r->asym))
		return __atomic_fetch_or(word, 0u, __ATOMIC_SEQ_CST);
	/* Keeps the compiler from hoisting the load; the CPU may still run
	 * it before the store is visible, which membarrier accounts for. */
	__atomic_signal_fence(__ATOMIC_SEQ_CST);
	return __atomic_load_n(word, __ATOMIC_RELAXED);
}

/* Producer: commit the record at r->pos, `size` bytes long, whose len and
 * type are written: the stamp, then tail, then wake a sleeping consumer. */
static inline void
ipk__ring_publish(struct ipk__ring *r, uint64_t size)
{
	uint64_t off = r->pos & r->mask;
	IPK__CRASH_SITE("ring.before_stamp");
	/* Release: the record before its stamp; pairs with the acquire
	 * load of the stamp in ipk__ring_peek. */
	__atomic_store_n(
	    ipk__ring_stamp(r, off), r->pos ^ r->key, __ATOMIC_RELEASE);
	IPK__CRASH_SITE("ring.after_stamp");
	r->pos += size;
	/* Release: tail for attach and ipk__ring_pending (acquire there). */
	__atomic_store_n(&r->ctl->tail, r->pos, __ATOMIC_RELEASE);
	IPK__CRASH_SITE("ring.after_tail");
	if (IPK__UNLIKELY(ipk__ring_peer_word(r, &r->ctl->rd_wait)))
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
		ipk__ring_publish(r, rem);
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
	IPK__CRASH_SITE("ring.after_len");
	ipk__ring_publish(r, ipk__ring_recsize(len));
}

/* Consumer: advance head to `pos` and wake a producer waiting for space. */
static inline void
ipk__ring_release_to(struct ipk__ring *r, uint64_t pos)
{
	r->pos = r->next = pos;
	/* Release: our reads of the records come before the producer may
	 * overwrite them; pairs with the acquire load in ipk__ring_room. A
	 * plain store to a line only we write: no transfer while the
	 * producer does not look. */
	__atomic_store_n(&r->ctl->head, pos, __ATOMIC_RELEASE);
	IPK__CRASH_SITE("ring.after_head");
	if (IPK__UNLIKELY(ipk__ring_peer_word(r, &r->ctl->wr_wait)))
		ipk__ring_wake_writer(r);
}

/*
 * Consumer: find the next record without consuming it. 0 and *m set,
 * -EAGAIN when the ring is empty, IPK_ECORRUPT on garbage. Reads only the
 * record's own cache lines. Padding records are released on the way.
 */
static inline int
ipk__ring_peek(struct ipk__ring *r, struct ipk__ring_msg *m)
{
	for (;;) {
		uint64_t off = r->pos & r->mask;
		const unsigned char *p = r->data + off;
		/* Acquire: pairs with the release store of the stamp in
		 * ipk__ring_publish; the record bytes are visible. */
		if (__atomic_load_n(ipk__ring_stamp(r, off),
			__ATOMIC_ACQUIRE) != (r->pos ^ r->key))
			return -EAGAIN;
		/* Each header field is loaded once, into a local. */
		uint32_t len = __atomic_load_n(
		    (const uint32_t *)(const void *)p, __ATOMIC_RELAXED);
		uint64_t rem = r->cap - off;
		if (len & IPK__RING_PAD) {
			if (IPK__CHECK("ring.pad_len",
				len !=
				    (IPK__RING_PAD |
					(uint32_t)(rem - IPK__RING_HDR))))
				return IPK_ECORRUPT;
			ipk__ring_release_to(r, r->pos + rem);
			continue;
		}
		uint64_t need = ipk__ring_recsize(len);
		if (IPK__CHECK("ring.rec_wrap", need > rem))
			return IPK_ECORRUPT;
		m->buf = p + IPK__RING_HDR;
		m->len = len;
		m->type = __atomic_load_n(
		    (const uint32_t *)(const void *)(p + 4), __ATOMIC_RELAXED);
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

/* Set `bits` in an announcement word, then force a barrier on the
 * publisher before the caller re-checks the ring (ring.h, "Waiting").
 * Returns the word's new value, the futex compare value; *brief is set to
 * 1 when the sleep must be short (ipk__ring_sleep_fence). */
static inline uint32_t
ipk__ring_announce(uint32_t *word, uint32_t bits, int *brief)
{
	uint32_t v = __atomic_or_fetch(word, bits, __ATOMIC_SEQ_CST);
	int b = ipk__ring_sleep_fence();
	if (brief)
		*brief = b;
	return v;
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
