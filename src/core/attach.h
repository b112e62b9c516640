/* SPDX-License-Identifier: MIT */
/*
 * attach.h - who is attached to a single-channel named transport: the one
 * map of lock bytes (fifo, mq, sysv, shm) and, for mq and sysv, the
 * attach/accept protocol on it, told by OFD locks on bytes of one lock file
 * every endpoint opens. The
 * kernel drops a lock when its holder dies, so each fact below is learned
 * from the kernel, never from a heartbeat; a frozen holder keeps its locks.
 */
#ifndef IPK_CORE_ATTACH_H
#define IPK_CORE_ATTACH_H

#include "core/internal.h"

/*
 * One map of lock bytes for every named single-channel transport: fifo, mq
 * and sysv take them in their lock file, shm in its segment. Each is an OFD
 * lock on one byte, which the kernel drops when its holder dies.
 *  OWNER  the address is owned: the listener is alive (mq, sysv: the
 *         listener or the channel it accepted, which share one open file
 *         description); a second listener gets -EADDRINUSE.
 *  DIAL   a dialer is attached (a second live dialer is refused; one that
 *         died frees it and may dial again).
 *  CHAN   the listening side's channel is open (taken by accept).
 *  WAIT   mq, sysv: a listener is ready to accept; a dialer counts it as
 *         its peer until the channel is accepted.
 * The listener and the channel it accepts share one open file description
 * on mq and sysv (dup), so locks taken by either last until both have
 * closed; a closing channel drops CHAN explicitly.
 */
#define IPK__LOCK_OWNER 0
#define IPK__LOCK_DIAL 1
#define IPK__LOCK_CHAN 2
#define IPK__LOCK_WAIT 3
#define IPK__LOCK_NBYTES 4

/* listen: take OWNER; -EADDRINUSE (with a sentence naming `what`) when a
 * live listener or listening-side channel owns the address. */
IPK__HIDDEN int ipk__att_own(int fd, const char *what);
/* Take (on=1) or drop (on=0) one byte's lock. 0 or -errno/IPK_EBUSYSIDE. */
IPK__HIDDEN int ipk__att_set(int fd, int byte, int on);
/* 1 when the peer of `side` (IPK__SIDE_LISTEN/DIAL) is attached, else 0. */
IPK__HIDDEN int ipk__att_peer(int fd, int side);
/* The number of dialer attachments so far, kept in the lock file (at
 * IPK__ATT_GEN_OFF) because a dialer may attach, send and leave between
 * two looks of accept. 0 when never written. */
#define IPK__ATT_GEN_OFF 64
IPK__HIDDEN uint32_t ipk__att_gen(int fd);
/* accept: wait until `deadline` for a dialer that holds DCHAN or has
 * attached since *seen (then *seen is updated), then take LCHAN and drop
 * WAIT. 0, -ETIMEDOUT or -errno. */
IPK__HIDDEN int ipk__att_accept(int fd, uint32_t *seen, int64_t deadline);
/* dial: the listening side must be there (WAIT or LCHAN held; else
 * -ECONNREFUSED), then take DCHAN (a live dialer holds it: -EBUSY) and
 * count the attachment. */
IPK__HIDDEN int ipk__att_dial(int fd, const char *what);

/*
 * What a single-channel listener and the channel it accepted share: the lock
 * file, the accept generation, and how many of the two are still open. The
 * transport embeds it as `a` in its own record of the address; the last of
 * the two to close removes the named objects (unless keep).
 */
struct ipk__att_home {
	int refs; /* listener + accepted channel still open */
	int chan_open; /* the accepted channel is open */
	int keep; /* leave the named objects on the last close */
	int lockfd;
	uint32_t seen; /* dialer attachments accepted so far */
};

/* accept: -EBUSY while the accepted channel is open; else dup the lock file
 * into *fd (the channel's own), wait for a dialer until `deadline`, and count
 * the channel in. On failure *fd may hold a descriptor the caller closes. */
IPK__HIDDEN int
ipk__att_home_accept(struct ipk__att_home *h, int *fd, int64_t deadline);
/* The accepted channel closes (h NULL: a dialer's channel): drop LCHAN,
 * mark the channel closed, close *fd. */
IPK__HIDDEN void ipk__att_home_leave(struct ipk__att_home *h, int *fd);

#endif /* IPK_CORE_ATTACH_H */
