/* SPDX-License-Identifier: MIT */
/*
 * sock.h - socket plumbing shared by the socket transports (tcp, udp, nng):
 * name resolution, binding, accept and connect bounded by a deadline, and
 * unix-path listeners that reclaim a dead owner's socket file.
 *
 * Every descriptor returned is O_CLOEXEC and non-blocking. Failures carry a
 * sentence naming the address and the cause (ipk__err).
 */
#ifndef IPK_CORE_SOCK_H
#define IPK_CORE_SOCK_H

#include "core/internal.h"

struct ipk__ledger;
struct ipk_listener;

#include <sys/socket.h>

struct ipk_listener;

/* An address to bind or connect to. */
struct ipk__sockaddr {
	struct sockaddr_storage ss;
	socklen_t len;
};

/*
 * Bind a socket of `type` (SOCK_STREAM or SOCK_DGRAM) to the host:port of
 * `u` ("" or "*" host: every interface); stream sockets also listen. Tries
 * each address the name resolves to until one binds. *fd on success;
 * -EADDRINUSE when the port is taken; -EINVAL for a missing port.
 */
IPK__HIDDEN int
ipk__sock_bind_inet(const struct ipk__url *u, int type, int *fd);

/* When `u` asked for port 0, put the port the kernel chose into l->url
 * (the rest of the URL, query included, is kept). 0 or -errno. */
IPK__HIDDEN int
ipk__sock_fix_port(struct ipk_listener *l, const struct ipk__url *u, int fd);

/* Accept one connection on the listening `lfd`, waiting until `deadline`.
 * The new descriptor in *fd; -ETIMEDOUT when nobody came. */
IPK__HIDDEN int ipk__sock_accept(int lfd, int64_t deadline, int *fd);

/*
 * Resolve the host:port of `u` for `type`, and connect a socket to it.
 * Stream sockets wait for the handshake; a refused connection is retried
 * every IPK__SLICE_MS until `deadline` (the listener may be starting). A
 * deadline already passed (timeout 0) means one attempt, whose handshake
 * may take up to IPK__SOCK_TRY_MS. Datagram sockets are only connected
 * (the kernel's default destination). *fd and the peer in *peer (may be
 * NULL) on success; -ECONNREFUSED, -ETIMEDOUT, -ENOENT (unknown host).
 */
#define IPK__SOCK_TRY_MS 5000
IPK__HIDDEN int ipk__sock_dial_inet(const struct ipk__url *u, int type,
    int64_t deadline, int *fd, struct ipk__sockaddr *peer);

/*
 * Listen on a unix stream socket at `path` with permission bits `mode`,
 * recording the socket file in the listener's run-directory entry `g`. A
 * socket file there is replaced only when `g`'s entry names it and no
 * other listening side of the entry is alive (-EADDRINUSE if one is);
 * anything else there is IPK_EFOREIGN, left as it is. Nothing connects
 * to it. The socket file's inode number goes to *ino, so the owner removes
 * only its own file (ipk__sock_unlink_unix).
 */
IPK__HIDDEN int ipk__sock_listen_unix(struct ipk__ledger *g, const char *path,
    unsigned mode, int *fd, uint64_t *ino);
/* A socket file kept (?keep=1) must be provably ipckit's later, which only
 * its run-directory entry can say: 0, or -ENOLCK when the entry could not
 * be made. */
IPK__HIDDEN int
ipk__sock_keep_check(const struct ipk_listener *l, const char *path);
/* ipckit ls/stat/rm of a socket-file address (u->path): the file must be
 * the one the address's run-directory entry records, else IPK_EFOREIGN. */
IPK__HIDDEN int
ipk__sock_inspect_unix(const struct ipk__url *u, struct ipk_objinfo *o);
IPK__HIDDEN int ipk__sock_remove_unix(const struct ipk__url *u);
/* Remove `path` if it is still the socket file with inode `ino`. */
IPK__HIDDEN void ipk__sock_unlink_unix(const char *path, uint64_t ino);
/* Connect to the unix stream socket at `path`; a missing or refusing
 * socket is retried every IPK__SLICE_MS until `deadline`. */
IPK__HIDDEN int
ipk__sock_dial_unix(const char *path, int64_t deadline, int *fd);

/* The credentials of the peer of a connected unix socket (SO_PEERCRED:
 * for a dialer, the listener's at listen time). 0 or -errno. */
struct ipk_peer;
IPK__HIDDEN int ipk__sock_peercred(int fd, struct ipk_peer *out);

/* Disable Nagle's algorithm on a TCP socket (messages go out at once). */
IPK__HIDDEN void ipk__sock_nodelay(int fd);

#endif /* IPK_CORE_SOCK_H */
