/* SPDX-License-Identifier: MIT */
/*
 * ledger.h - the machine-wide record of named channels that ipckit ls, stat,
 * rm and gc read: one small file per channel in the run directory, holding
 * its URL, one slot per endpoint (pid, role, counters) and an OFD lock per
 * slot that the kernel drops when the endpoint dies.
 */
#ifndef IPK_CORE_LEDGER_H
#define IPK_CORE_LEDGER_H

#include "core/internal.h"

#include <sys/stat.h>

/*
 * The run directory: $IPK_RUNDIR when set (tests isolate themselves with
 * it), else /dev/shm/ipckit-<uid>, created 0700 and refused unless it is a
 * real directory of our own. An entry is the file <scheme>-<16 hex digits>,
 * the hex being FNV-1a of "scheme://host:port/path" (options left out, so
 * listener and dialer find the same entry), one page long:
 *
 *   magic "IPKLEDG1", version, slot count, scheme, URL of the listener;
 *   IPK_OBJ_MAXEP slots { pid, role, struct ipk_stats }.
 *
 * Slot i is owned while its owner holds the OFD write lock on byte i of the
 * file (its own open, so its own description): claiming is a F_OFD_SETLK
 * on the first unheld byte, liveness one F_OFD_GETLK, and a pid is never
 * trusted alone. A listening-side endpoint also holds byte 4096 + i, taken
 * before its slot, so that whether another listening side is alive (or
 * just joining) is the kernel's answer too. The owner's counters live in its
 * slot (mapped shared), so the hot path still does one plain increment and
 * readers see them live, without a lock (64-bit stores; a reader may see one
 * call's sum half done).
 *
 * Registration is best effort: an endpoint that cannot join (no /dev/shm,
 * full table, foreign directory) works as before with counters on the heap.
 * Only transports with a `remove` op (named kernel objects) are registered.
 */
struct ipk__ledger;

/* Join the entry of address `u` as `role` (IPK_ROLE_*), creating it when
 * `role` is a listener. Returns NULL when not registered. */
IPK__HIDDEN struct ipk__ledger *ipk__ledger_join(
    const struct ipk__url *u, const char *url, int role, unsigned mode);
/* The endpoint's counters (in the shared page). */
IPK__HIDDEN struct ipk_stats *ipk__ledger_stats(struct ipk__ledger *g);
/* Leave: drop the slot; a listening-side endpoint with !keep removes the
 * entry when it is the last live listening-side slot, and so does any
 * endpoint with keep = IPK__LEDGER_DROP (a dialer that removed the
 * channel's objects). NULL: no-op. */
#define IPK__LEDGER_DROP (-1)
IPK__HIDDEN void ipk__ledger_leave(struct ipk__ledger *g, int keep);

/* The file a listener bound at its address (a unix socket file), recorded
 * in its entry: the proof that a socket file found there later is
 * ipckit's. set: no-op for NULL. has: 1 when the entry of `g` records the
 * file `st`. obj_is: the same for the entry of `u`, from outside (rm). */
IPK__HIDDEN void
ipk__ledger_set_obj(struct ipk__ledger *g, const struct stat *st);
IPK__HIDDEN int
ipk__ledger_has_obj(struct ipk__ledger *g, const struct stat *st);
IPK__HIDDEN int
ipk__ledger_obj_is(const struct ipk__url *u, const struct stat *st);
/* 1 when a listening-side endpoint other than `g` itself is alive (or
 * joining) in its entry: a listener's liveness, known without connecting
 * to it. 0 for NULL. */
IPK__HIDDEN int ipk__ledger_other_lside(struct ipk__ledger *g);

/* Read the entry of `u` (if any) into o->ep, o->nep, o->nalive, o->url,
 * o->registered. 0, or -ENOENT when there is no entry. */
IPK__HIDDEN int
ipk__ledger_read(const struct ipk__url *u, struct ipk_objinfo *o);
/* Remove the entry of `u`; 0 or -ENOENT. */
IPK__HIDDEN int ipk__ledger_drop(const struct ipk__url *u);
/* Call fn(url, arg) for every entry in every readable run directory;
 * stops at and returns the first non-zero result. */
IPK__HIDDEN int
ipk__ledger_walk(int (*fn)(const char *url, void *arg), void *arg);

#endif /* IPK_CORE_LEDGER_H */
