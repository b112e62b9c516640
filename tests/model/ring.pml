/* SPDX-License-Identifier: MIT */
/*
 * ring.pml - a Promela model of the ring of src/shm/ring.h and the futex
 * wait of src/shm/ring.c, for the spin model checker (tests/model/run.sh):
 * one producer that may be killed between any two of its steps, one
 * consumer, a ring of CAP record slots and N messages.
 *
 * Modelled as the C code does it: the producer writes the payload, then the
 * record header, then publishes tail (an exchange: a full barrier) and only
 * then loads the consumer's announcement word, waking it (exchange the word
 * with 0, FUTEX_WAKE) when it is set. The consumer loads tail, validates
 * it, reads the record, advances head (exchange) and wakes a producer that
 * announced it waits for space. A side that finds the ring empty (full)
 * announces (atomic or, returning the futex compare value), re-checks the
 * index, and sleeps in FUTEX_WAIT(word, value), which returns at once when
 * the word no longer holds the value. A sleep ends on FUTEX_WAKE, or at the
 * end of a 20 ms slice once the peer is dead (ring_chan_wait asks the
 * peer's lock then); slice ends while the peer lives are left out, so a
 * lost wake-up is a sleep that never ends: an invalid end state.
 *
 * Checked: every record read is committed and is the next message (order,
 * no loss, no duplicate, no torn record); a killed producer leaves nothing
 * partial visible and every record it published is delivered before the
 * consumer reports the channel closed; both sides always end (no lost
 * wake-up: end states; and, with the LTL claim under weak fairness, no
 * cycle that keeps the consumer from ending).
 *
 * Positions are record counts (the C code counts bytes; records of one size
 * make them the same). Spin interleaves sequentially consistent steps; the
 * acquire/release orders that make the C code behave so are reviewed in
 * ring.h, and what the full barriers forbid is modelled by MUTANT_LOADFIRST.
 *
 * Negative controls (each must make verification fail):
 *   MUTANT_NORECHECK  the consumer sleeps without re-checking tail after
 *                     announcing (a lost wake-up);
 *   MUTANT_TAILFIRST  the producer publishes tail before the record header
 *                     (a read of an uncommitted record);
 *   MUTANT_LOADFIRST  the producer loads the announcement before its store
 *                     to tail is visible, as without the full barrier (a
 *                     lost wake-up).
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

byte tail;		/* ctl->tail: published records */
byte head;		/* ctl->head: released records */
byte rd_wait;		/* ctl->rd_wait: 1 = consumer asleep on the futex */
byte wr_wait;		/* ctl->wr_wait: 1 = producer asleep for space */
byte hdr[CAP];		/* record header (len/type/seq): the seq, from 1 */
byte pay[CAP];		/* payload: the message number, from 1 */
bool rd_sleep;		/* consumer queued in FUTEX_WAIT on rd_wait */
bool wr_sleep;		/* producer queued in FUTEX_WAIT on wr_wait */
bool wdead;		/* producer killed: the kernel dropped its lock */
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

/*
 * ipk__ring_wait, futex strategy, for the side whose announcement word is
 * `word`, sleeping flag `sleeper`, watching index `idx` against the cached
 * value `peer`, with `peerdead` true once the other side is gone.
 */
#ifdef MUTANT_NORECHECK
#define RECHECK(word, idx, peer, out) skip
#else
#define RECHECK(word, idx, peer, out) \
	if \
	:: idx != peer -> word = 0; goto out \
	:: else -> skip \
	fi
#endif
#define RING_WAIT(word, sleeper, idx, peer, peerdead, v, out) \
	atomic { word = word | 1; v = word }; \
	RECHECK(word, idx, peer, out); \
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

active proctype producer()
{
	byte pos = 0;	/* r->pos: our tail */
	byte peer = 0;	/* r->peer: last validated head */
	byte seq = 1;	/* r->seq */
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
				RING_WAIT(wr_wait, wr_sleep, head, peer,
				    false, v, w_out);
				goto room
			fi
		fi;
		/* memcpy of the payload, then ipk__ring_commit */
		pay[SLOT(pos)] = seq;
#ifdef MUTANT_TAILFIRST
		tail = pos + 1;
#endif
		hdr[SLOT(pos)] = seq;
		pos++;
		seq++;
		/* ipk__ring_publish */
#ifdef MUTANT_LOADFIRST
		bits = rd_wait;
		tail = pos;
		if
		:: bits != 0 -> RING_WAKE(rd_wait, rd_sleep, bits)
		:: else -> skip
		fi
#else
		tail = pos;
		RING_WAKE(rd_wait, rd_sleep, bits)
#endif
	od;
	wdone = 1
	} unless { wdead }
}

/* The killer: at any one point, or never, the producer dies. */
active proctype killer()
{
	if
	:: wdone == 0 -> wdead = 1
	:: true -> skip
	fi
}

active proctype consumer()
{
	byte pos = 0;	/* r->pos: our head */
	byte peer = 0;	/* r->peer: last validated tail */
	byte t, v, bits;

	do
	:: got == N -> break
	:: else ->
peek:		/* ipk__ring_peek */
		if
		:: peer == pos ->
			t = tail;
			assert(t >= pos && t - pos <= CAP);
			peer = t;
			if
			:: t == pos ->
				/* ring_chan_wait: a dead peer ends it */
				if
				:: wdead ->
					/* queued records come first */
					if
					:: tail != pos -> goto peek
					:: else -> break
					fi
				:: else ->
					RING_WAIT(rd_wait, rd_sleep, tail,
					    peer, wdead, v, r_out);
					goto peek
				fi
			:: else -> skip
			fi
		:: else -> skip
		fi;
		/* The record at pos: whole, committed, the next one. */
		assert(hdr[SLOT(pos)] == got + 1);
		assert(pay[SLOT(pos)] == got + 1);
		got++;
		/* ipk__ring_release */
		pos++;
		head = pos;
		RING_WAKE(wr_wait, wr_sleep, bits)
	od;
	/* Everything the producer published was delivered. */
	assert(got == N || (wdead && got == tail));
	rdone = 1
}

/* The consumer always ends: all N received, or closed after a kill. */
ltl ends { <> rdone }
