/* SPDX-License-Identifier: MIT */
/*
 * own.h - the creation record: how ipckit proves that an object at a name
 * is one it made, before it reuses, reclaims, lingers on or removes it.
 *
 * Every named single-channel transport keeps a lock file beside its objects
 * (fifo: NAME.lock; mq: /dev/shm/NAME.ipk-lock; sysv:
 * /dev/shm/ipk-sysv-0xKEY). ipk__own_open creates that file with the record
 * already in it: written into an unnamed file (O_TMPFILE), then linked to
 * the name, which fails if anything is there. So a lock file without a valid
 * record was never ipckit's: it is refused with IPK_EFOREIGN and left exactly
 * as it was (inode, mode, size, content), and so is everything around it.
 *
 * Each object the listener creates is recorded in a slot right after the
 * create succeeds: its device and inode (files, FIFOs, POSIX queues, whose
 * descriptors fstat), or a System V queue's key and msqid. Reclaim after a
 * crash, removal on close, `ipckit rm` and `ipckit gc` touch an object at
 * one of the channel's names only when its slot names that very object;
 * anything else there is the user's.
 *
 * The record lives at IPK__OWN_OFF in the file; the bytes before it belong
 * to the transport (session counters), and OFD locks on the first bytes
 * (core/attach.h, fifo.c) are independent of the content.
 */
#ifndef IPK_CORE_OWN_H
#define IPK_CORE_OWN_H

#include "core/internal.h"

#include <sys/stat.h>

#define IPK__OWN_OFF 512
#define IPK__OWN_SLOTS 6

/*
 * Open the lock file at `path` (a file-system path) for `scheme`, with the
 * record checked: the file must be a regular file of ours (or of `allow`),
 * hold a valid record of the same scheme, and be no symbolic link.
 *  create: make it when missing, with `mode` exactly (the umask does not
 *  narrow it).
 * Returns 1 when this call created it, 0 when it opened ours, -ENOENT when
 * it is missing and !create, IPK_EFOREIGN when something else is there (a
 * sentence names it and says how to free the name), or -errno. *fd is the
 * descriptor (O_RDWR, close-on-exec) on success, -1 otherwise.
 */
IPK__HIDDEN int ipk__own_open(const char *path, const char *scheme, int create,
    unsigned mode, uid_t allow, int *fd);

/*
 * Create the regular file `path` only whole: `init(fd, arg)` fills an
 * unnamed file in the same directory (O_TMPFILE, else a hidden temporary
 * name), its mode is set to `mode` exactly, then it is linked to the name,
 * which fails when anything is there. So nobody ever sees it half made, and
 * something at the name without ipckit's header or record is never ipckit's.
 * 1 with *fd open O_RDWR, -EEXIST when the name is taken, or an error with
 * a sentence (init's own, or the create's).
 */
IPK__HIDDEN int ipk__create_whole(const char *path, unsigned mode,
    int (*init)(int fd, void *arg), void *arg, int *fd);

/*
 * The listening side takes its address: the lock file at `path` opened or
 * created with its record (ipk__own_open), the OWNER lock taken
 * (core/attach.h; -EADDRINUSE naming `what` when a live listening side
 * holds OWNER or CHAN), the file checked to be the one still at the name
 * (a listener closing just now may have removed it: then start again), and
 * `mode` applied to it, on a reclaimed file too. 0 with *fd and *fresh
 * (made by this call), or an error; a file this call made is removed again
 * on failure.
 */
IPK__HIDDEN int ipk__own_take(const char *path, const char *scheme,
    unsigned mode, uid_t allow, const char *what, int *fd, int *fresh);
/* Unlink the lock file at `path` only while it is the one open as `fd`.
 * 1 when removed. */
IPK__HIDDEN int ipk__own_unlink_self(int fd, const char *path);

/* Record the object of `slot`: its identity (a, b), both zero for none.
 * 0 or -errno. */
IPK__HIDDEN int ipk__own_put(int fd, int slot, uint64_t a, uint64_t b);
/* ... from the object's stat (device and inode); NULL forgets it. */
IPK__HIDDEN int ipk__own_put_st(int fd, int slot, const struct stat *st);
/* 1 when the record names the object (a, b) in `slot`, else 0. */
IPK__HIDDEN int ipk__own_has(int fd, int slot, uint64_t a, uint64_t b);
IPK__HIDDEN int ipk__own_has_st(int fd, int slot, const struct stat *st);

/*
 * What is at the file-system `path` of the object of `slot` (lstat, never
 * followed): 0 nothing, 1 the object the record names, or IPK_EFOREIGN with
 * a sentence when something else is there (`what` says what ipckit would
 * have put there: "FIFO", "doorbell FIFO", "key file").
 */
IPK__HIDDEN int
ipk__own_check_path(int fd, int slot, const char *path, const char *what);

/* Unlink `path` only when it is the object the record names in `slot`;
 * forget it either way. 1 when removed. */
IPK__HIDDEN int ipk__own_unlink(int fd, int slot, const char *path);

/* The sentence for an object ipckit did not make: "`what` exists and ipckit
 * did not make it (`why`): it is left as it is; ...". IPK_EFOREIGN. */
IPK__HIDDEN int ipk__foreign_err(const char *what, const char *why);

#endif /* IPK_CORE_OWN_H */
