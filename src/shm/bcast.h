/* SPDX-License-Identifier: MIT */
/*
 * bcast.h - the broadcast ring behind shm:// publish/subscribe: one
 * publisher writes each message once into shared memory, and every
 * subscriber reads it in place. The layout is shared with `ipckit ls`.
 *
 * Layout of the segment /dev/shm/NAME (offsets computed from the header's
 * geometry, which is checked against the file's size before use):
 *   [0, 4096)          struct ipk__bc_hdr (read-only to subscribers)
 *   [4096, 4224)       struct ipk__bc_wake, the sleep words (read-write)
 *   [4224, chunk_off)  nslot subscriber slots of 64 bytes (read-write)
 *   [chunk_off, end)   nchunk chunks of chunk_size bytes (read-only to
 *                      subscribers), chunk_off a multiple of 4096
 *
 * Messages. Message number p (a 64-bit position that only grows) lives in
 * chunk p & (nchunk - 1): a 16-byte header { u64 stamp, u32 len, u32 type }
 * and then len payload bytes. The publisher writes payload, len and type,
 * then stores stamp = p ^ key with release: that store is the commit, as in
 * the one-to-one ring (ring.h). Every subscriber keeps its own position h
 * and takes chunk h when its stamp is h ^ key; that stamp line is all the
 * publisher and a waiting subscriber share, so one write reaches every
 * subscriber with one cache-line transfer each, and the publisher's cost
 * does not grow with the number of subscribers.
 *
 * Slots. A subscriber owns a slot while it holds an OFD lock on byte
 * IPK__BC_SLOT_LOCK + i of the segment (the kernel drops it when the
 * subscriber dies); the publisher holds byte IPK__LOCK_OWNER. A slot's head
 * is the subscriber's released position: everything before it has been read
 * and let go. A subscriber named with ?id= keeps its slot (and so its place)
 * across its own restarts.
 *
 * Slow subscribers. slow=block: the publisher writes message p only when
 * every live subscriber's head is past p - nchunk, so a chunk is reused
 * only after the last subscriber has released it, and a message peeked in
 * place never changes under its reader. A dead subscriber is not waited
 * for (after ?linger= ms for one with an id). slow=drop: the publisher never
 * waits; a subscriber a whole ring behind finds newer stamps in its chunks,
 * jumps forward and counts exactly what it skipped. A copy (ipk_recv) is
 * checked again after the copy (the stamp must not have moved), so a
 * message overwritten while it was copied counts as lost, never as data; a
 * message peeked in place that is overwritten before ipk_release makes
 * ipk_release return -ESTALE.
 *
 * Waiting. A subscriber about to sleep sets a bit in `want`, forces a
 * barrier on the publisher (ipk__ring_sleep_fence), looks again, and sleeps
 * on the futex word gen; a publisher that sees `want` after its commit
 * takes it (exchange with 0), bumps gen and wakes every sleeper, so the
 * publishes that follow make no system call until someone sleeps again.
 * This is the one-to-one ring's hand-off without a locked instruction on
 * the publisher's side (ring.h, "Waiting"). A subscriber
 * that gave out its descriptor (ipk_fd) arms its slot's doorbell, a FIFO
 * recorded in the slot, which the publisher writes a byte to. The
 * publisher waiting for room (slow=block) sleeps the same way on pub_wait,
 * which each subscriber looks at after it moves its head; it asks to be
 * woken when a head crosses room_at, a quarter of the queue past the
 * oldest head, not at every message released, so a full ring does not
 * cost a wake-up per message.
 *
 * Trust. Subscribers map the header and the chunks read-only. What they
 * can write (their slots) the publisher reads once per use into locals and
 * validates; what the publisher writes, a subscriber validates (a stamp
 * that is not the one expected, a length over max_msg, a tail behind the
 * head). Garbage gives IPK_ECORRUPT, never an access outside the segment.
 */
#ifndef IPK_SHM_BCAST_H
#define IPK_SHM_BCAST_H

#include <stdint.h>

#include "core/transport.h"

#define IPK__BC_MAGIC 0x0031534342504b49ull /* "IPKBCS1" */
#define IPK__BC_VERSION 1u
#define IPK__BC_WAKE_OFF 4096u
#define IPK__BC_SLOT_OFF (4096u + 128u)
#define IPK__BC_SLOT_SIZE 64u
#define IPK__BC_CHUNK_HDR 16u
#define IPK__BC_SLOT_LOCK 64 /* lock byte of slot i: 64 + i */
#define IPK__BC_SLOTS_MAX 1024u
#define IPK__BC_DEFAULT_SLOTS 64u
/* Default ?queue=: the largest power of two whose chunks fit in
 * IPK__BC_DEFAULT_BYTES, within [IPK__BC_MIN_QUEUE, ..._QUEUE_MAX]. */
#define IPK__BC_DEFAULT_BYTES (1u << 20)
#define IPK__BC_MIN_QUEUE 8u
#define IPK__BC_DEFAULT_QUEUE_MAX 32768u
#define IPK__BC_QUEUE_MAX (1u << 20)
#define IPK__BC_DEFAULT_MAXMSG (16384u - IPK__BC_CHUNK_HDR)
#define IPK__BC_ID_MAX 32

/* Slot states. */
#define IPK__BC_FREE 0u
#define IPK__BC_LIVE 1u
#define IPK__BC_CLAIM 2u

struct ipk__bc_hdr {
	uint64_t magic; /* stored last at creation (release) */
	uint32_t version;
	uint32_t slow; /* 1: slow=block */
	uint64_t seg_size;
	uint64_t key; /* stamp key, odd */
	uint32_t nchunk; /* a power of two */
	uint32_t nslot;
	uint64_t chunk_size; /* a multiple of 64 */
	uint64_t chunk_off;
	uint64_t max_msg; /* <= chunk_size - IPK__BC_CHUNK_HDR */
	uint32_t history;
	uint32_t closed; /* the publisher closed (did not die) */
	uint64_t pub_pid; /* for people and ipckit ls; never trusted */
	uint64_t bell_dev, bell_ino; /* the publisher's doorbell FIFO */
	_Alignas(64) uint64_t tail; /* publisher: next position */
};
_Static_assert(
    sizeof(struct ipk__bc_hdr) <= IPK__BC_WAKE_OFF, "broadcast header too big");

/* The sleep words, which both sides write: at IPK__BC_WAKE_OFF, in the
 * read-write part of the segment, before the slots. */
struct ipk__bc_wake {
	_Alignas(64) uint32_t gen; /* futex: bumped to wake subscribers */
	uint32_t want; /* IPK__RING_WFUTEX: a subscriber sleeps on gen;
			  IPK__RING_WBELL: a slot's doorbell is armed */
	_Alignas(64) uint32_t pub_wait; /* the publisher waits for room:
					   IPK__RING_WFUTEX | IPK__RING_WBELL */
	uint32_t unused;
	uint64_t room_at; /* ... until a head reaches this position */
};
_Static_assert(sizeof(struct ipk__bc_wake) == 128, "wake block size");

struct ipk__bc_slot {
	uint64_t head; /* subscriber: released up to here */
	uint32_t state; /* IPK__BC_FREE, LIVE, CLAIM */
	uint32_t bell; /* 1: the doorbell FIFO wants a byte */
	uint64_t lost; /* subscriber: messages it lost (for ls) */
	uint64_t pid; /* for people and ipckit ls; never trusted */
	uint64_t bell_dev, bell_ino; /* the doorbell FIFO it made */
	char id[16]; /* ?id= of a durable subscriber, or "" */
};
_Static_assert(sizeof(struct ipk__bc_slot) == IPK__BC_SLOT_SIZE, "slot size");

/* The geometry a publisher asks for; checked by ipk__bc_geometry. */
struct ipk__bc_geo {
	uint32_t nchunk, nslot, history, slow;
	uint64_t max_msg, chunk_size, chunk_off, seg_size;
};

/* Fill the derived sizes of g; -EINVAL with a sentence when too big. */
IPK__HIDDEN int ipk__bc_geometry(struct ipk__bc_geo *g);

/* shm's pattern op (pubsub.c): pub and sub on a broadcast ring. */
IPK__HIDDEN int ipk__shm_pattern(const char *url, const struct ipk__url *u,
    const struct ipk_opts *o, int bind, const char *role,
    struct ipk_chan **out);

/* shm's inspect and remove for a broadcast segment open (read-only) as
 * fd at /dev/shm`name`: the subscribers' lag goes into the endpoints the
 * run directory listed (matched by pid), or new ones. */
IPK__HIDDEN int
ipk__bc_inspect(int fd, const char *name, struct ipk_objinfo *o);
IPK__HIDDEN int ipk__bc_remove(int fd, const char *name, int force);

#endif /* IPK_SHM_BCAST_H */
