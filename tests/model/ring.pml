/* SPDX-License-Identifier: MIT */
/*
 * ring.pml - a Promela model of the ring of src/shm/ring.h and the futex
 * wait of src/shm/ring.c, for the spin model checker (tests/model/run.sh):
 * one producer that may be killed between any two of its steps, one
 * consumer, a ring of CAP record slots and N messages.
 *
 * Modelled as the C code does it. The producer writes the payload, then
 * stores the record's stamp (the commit) and tail, and then loads the
 * consumer's announcement word with no barrier in between, waking it
 * (exchange the word with 0, FUTEX_WAKE) when it is set. The consumer
 * polls the stamp at its position (never tail), reads the record, stores
 * head, and loads the producer's announcement word the same way. A side
 * that finds the ring empty (full) announces (atomic or, returning the
 * futex compare value), forces a full barrier on the other side
 * (membarrier), re-checks, and sleeps in FUTEX_WAIT(word, value), which
 * returns at once when the word no longer holds the value. A sleep ends on
 * FUTEX_WAKE, or at the end of a 20 ms slice once the peer is dead
 * (ring_chan_wait asks the peer's lock then); slice ends while the peer
 * lives are left out, so a lost wake-up is a sleep that never ends: an
 * invalid end state.
 *
 * Memory is modelled as x86 does it (TSO), not sequentially consistent:
 * the stamp and head stores sit in their writer's store buffer until a
 * flusher process drains them, in order, at any later point, while the
 * writer's later loads read memory. So the load of the announcement word
 * may happen before the commit is visible: the reordering the missing
 * fence allows. membarrier drains the other side's buffer (the full
 * barrier it forces). The payload is stored before the stamp and so is
 * visible first. A killed producer's buffer still drains (a dead process's
 * stores are not taken back); the consumer learns of the death only after
 * that (the kernel drops the lock after the process is gone).
 *
 * Checked: every record read is committed and is the next message (order,
 * no loss, no duplicate, no torn record, no stale record of an earlier lap:
 * a stamp is the record's position, here p + 1); a killed producer leaves
 * nothing partial visible and every record it committed is delivered
 * before the consumer reports the channel closed; both sides always end
 * (no lost wake-up: end states; and, with the LTL claim under weak
 * fairness, no cycle that keeps the consumer from ending).
 *
 * Positions are record counts (the C code counts bytes; records of one size
 * make them the same).
 *
 * Negative controls (each must make verification fail):
 *   MUTANT_NORECHECK     the consumer sleeps without re-checking the stamp
 *                        after announcing (a lost wake-up);
 *   MUTANT_NOMEMBARRIER  the sleeper announces and re-checks without
 *                        forcing the barrier on the publisher, which stores
 *                        and loads with no fence (a lost wake-up: the
 *                        hazard the new protocol must close);
 *   MUTANT_STAMPFIRST    the producer stores the stamp before the payload
 *                        (a read of an uncommitted record);
 *   MUTANT_ANYSTAMP      the consumer takes any non-zero stamp, not the
 *                        one its position must carry (a stale record of
 *                        the previous lap).
 * With SLICES as well, MUTANT_NORECHECK verifies: the 20 ms slices turn a
 * lost wake-up into a delay, which is why they are not the protocol.
 */
#ifndef CAP
#define CAP 2
#endif
#ifndef N
#define N 4
#endif
#define SLOT(p) ((p) % CAP)

byte tail;		/* ctl->tail as memory holds it */
byte head;		/* ctl->head as memory holds it */
byte rd_wait;		/* ctl->rd_wait: 1 = consumer asleep on the futex */
byte wr_wait;		/* ctl->wr_wait: 1 = producer asleep for space */
byte hdr[CAP];		/* record stamp as memory holds it: position + 1 */
byte pay[CAP];		/* payload: the message number, from 1 */
byte wpend;		/* producer's buffered commits (stamp + tail) */
byte wvis;		/* commits visible in memory */
byte hpend;		/* consumer's buffered head stores */
byte hnext;		/* the head value the oldest buffered store holds */
bool rd_sleep;		/* consumer queued in FUTEX_WAIT on rd_wait */
bool wr_sleep;		/* producer queued in FUTEX_WAIT on wr_wait */
bool wkilled;		/* producer killed: it takes no further step */
bool wdead;		/* ... and the consumer can learn it (lock dropped) */
bool wdone;		/* producer sent all N */
bool rdone;		/* consumer ended: all N, or closed */
byte got;		/* messages the consumer received */

/* SLICES: a sleep may also end when its slice does, here when nothing else
 * can move (spin's timeout). Off by default: with it a lost wake-up costs
 * one slice of latency and is no longer an end state the checker sees. */
#ifdef SLICES
#define SLICE_END timeout
#else
#define SLICE_END false
#endif

/* FUTEX_WAKE on a word: every sleeper on it leaves the wait queue. */
#define FUTEX_WAKE(sleeper) sleeper = 0

/* Drain a store buffer: one commit of the producer (its stamp, then
 * tail), or one head store of the consumer. */
#define FLUSH_W \
	hdr[SLOT(wvis)] = wvis + 1; wvis++; tail = wvis; wpend--
#define FLUSH_H \
	head = hnext - hpend + 1; hpend--

/* membarrier: the other side executes a full barrier, which drains its
 * store buffer. */
#ifdef MUTANT_NOMEMBARRIER
#define MEMBARRIER_W skip
#define MEMBARRIER_H skip
#else
#define MEMBARRIER_W \
	atomic { do :: wpend > 0 -> FLUSH_W :: else -> break od }
#define MEMBARRIER_H \
	atomic { do :: hpend > 0 -> FLUSH_H :: else -> break od }
#endif

/*
 * ipk__ring_wait, futex strategy, for the side whose announcement word is
 * `word`, sleeping flag `sleeper`, with `moved` the re-check, `fence` the
 * barrier forced on the other side, and `peerdead` true once it is gone.
 */
#ifdef MUTANT_NORECHECK
#define RECHECK(word, moved, out) skip
#else
#define RECHECK(word, moved, out) \
	if \
	:: moved -> word = 0; goto out \
	:: else -> skip \
	fi
#endif
#define RING_WAIT(word, sleeper, moved, fence, peerdead, v, out) \
	atomic { word = word | 1; v = word }; \
	fence; \
	RECHECK(word, moved, out); \
	atomic { \
		if \
		:: word == v -> sleeper = 1 \
		:: else -> skip \
		fi \
	}; \
	atomic { (sleeper == 0 || peerdead || SLICE_END) -> sleeper = 0 }; \
	word = 0; \
out:	skip

/* ipk__ring_wake_*: take the whole announcement, then FUTEX_WAKE. */
#define RING_WAKE(word, sleeper, bits) \
	if \
	:: word != 0 -> \
		atomic { bits = word; word = 0 }; \
		if \
		:: bits & 1 -> FUTEX_WAKE(sleeper) \
		:: else -> skip \
		fi \
	:: else -> skip \
	fi

/* The record at consumer position p is committed and visible. */
#ifdef MUTANT_ANYSTAMP
#define READY(p) (hdr[SLOT(p)] != 0)
#else
#define READY(p) (hdr[SLOT(p)] == (p) + 1)
#endif

/* The CPUs drain store buffers in order, whenever they like. */
active proctype flusher()
{
end:	do
	:: atomic { wpend > 0 -> FLUSH_W }
	:: atomic { hpend > 0 -> FLUSH_H }
	od
}

active proctype producer()
{
	byte pos = 0;	/* r->pos: our tail */
	byte peer = 0;	/* r->peer: last validated head */
	byte seq = 1;	/* the next message number */
	byte h, v, bits;

	/* Killed between any two steps: the escape is taken before the next. */
	{
	do
	:: seq > N -> break
	:: else ->
room:		/* ipk__ring_room */
		if
		:: pos + 1 - peer <= CAP -> skip
		:: else ->
			h = head;
			assert(h <= pos && pos - h <= CAP);
			peer = h;
			if
			:: pos + 1 - h <= CAP -> skip
			:: else ->
				RING_WAIT(wr_wait, wr_sleep, head != peer,
				    MEMBARRIER_H, false, v, w_out);
				goto room
			fi
		fi;
		/* memcpy of the payload, len and type, then the stamp */
#ifdef MUTANT_STAMPFIRST
		atomic { hdr[SLOT(pos)] = pos + 1; wvis++; tail = wvis };
		pay[SLOT(pos)] = seq;
#else
		pay[SLOT(pos)] = seq;
		wpend++; /* stamp and tail into the store buffer */
#endif
		pos++;
		seq++;
		/* No fence: the load may pass the buffered stores. */
		RING_WAKE(rd_wait, rd_sleep, bits)
	od;
	wdone = 1
	} unless { wkilled }
}

/* The killer: at any one point, or never, the producer dies; the consumer
 * learns it once the dead producer's stores have drained. */
active proctype killer()
{
	if
	:: wdone == 0 -> wkilled = 1
	:: true -> skip
	fi;
	if
	:: wkilled -> atomic { wpend == 0 -> wdead = 1 }
	:: else -> skip
	fi
}

active proctype consumer()
{
	byte pos = 0;	/* r->pos: our head */
	byte v, bits;

	do
	:: got == N -> break
	:: else ->
peek:		/* ipk__ring_peek: the stamp at our position */
		if
		:: READY(pos) -> skip
		:: else ->
			/* ring_chan_wait: a dead peer ends it */
			if
			:: wdead ->
				/* queued records come first */
				if
				:: READY(pos) -> goto peek
				:: else -> break
				fi
			:: else ->
				RING_WAIT(rd_wait, rd_sleep, READY(pos),
				    MEMBARRIER_W, wdead, v, r_out);
				goto peek
			fi
		fi;
		/* The record at pos: whole, committed, the next one. */
		assert(pay[SLOT(pos)] == got + 1);
		got++;
		/* ipk__ring_release: head into the store buffer, no fence */
		pos++;
		atomic { hpend++; hnext = pos };
		RING_WAKE(wr_wait, wr_sleep, bits)
	od;
	/* Everything the producer committed was delivered. */
	assert(got == N || (wdead && got == wvis));
	rdone = 1
}

/* The consumer always ends: all N received, or closed after a kill. */
ltl ends { <> rdone }
