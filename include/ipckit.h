/* SPDX-License-Identifier: MIT */
/*
 * ipckit.h - the whole public API of ipckit: one small message API over every
 * classic Linux IPC mechanism (pipes, FIFOs, message queues, shared memory,
 * semaphores, signals, unix/TCP/UDP sockets).
 *
 * Conventions that hold for every function below:
 *  - Return value: 0 (or a documented non-negative count/fd) on success, a
 *    negative code on failure. System failures are -errno unchanged; ipckit's
 *    own codes are listed in IPK_ERRNO_MAP and sit below -4000. errno is not
 *    part of the API.
 *  - ipk_strerror(code) gives a sentence a person understands. When the last
 *    failing call in this thread returned that code, the sentence names the
 *    object and the cause ("fifo:///tmp/x: exists and is not a FIFO").
 *  - Timeouts are in milliseconds: -1 waits forever, 0 tries once and returns
 *    -EAGAIN when nothing is ready, a positive value returns -ETIMEDOUT when it
 *    expires. Signals (EINTR) are retried inside with the remaining time.
 *  - Codes mean the same on every transport:
 *      -ETIMEDOUT  a positive timeout expired
 *      -EAGAIN     timeout 0 and nothing ready
 *      -EMSGSIZE   message over the channel's limit; the channel stays usable
 *      -EBADMSG    malformed frame, or invalid data read from shared memory
 *      -EINVAL     bad argument or URL
 *      IPK_ECLOSED the peer closed or died
 *  - Pointer out-parameters are set to NULL on failure; other out-parameters
 *    are written only on success (except where a function says otherwise).
 *  - Threads: a channel may be used by one sending thread and one receiving
 *    thread at the same time. Any other sharing needs the caller's own lock.
 *  - fork(): only the process that opened a channel may use it. ipk_spawn()
 *    and ipk_pair() are the way to give a child a channel. Every descriptor
 *    the library opens is close-on-exec.
 *  - The library installs no signal handlers and never raises a signal on the
 *    caller (no SIGPIPE).
 *
 * Addresses (URLs) name a channel:
 *   fifo:///dir/name              two FIFOs, one per direction
 *   mq:///name                    two POSIX message queues
 *   sysv:///path | sysv:0xKEY     one System V message queue
 *   shm:///name?size=8M&wait=adaptive|spin|futex|sem
 *   inproc://name                 shared ring between threads of one process
 *   unix:///path | unix://@name   unix stream socket (file or abstract name)
 *   tcp://host:port               TCP, IPv4 or IPv6 ([::1]:port)
 *   udp://host:port               one datagram per message, loss counted
 *   nng+tcp://host:port, nng+ipc:///path   SP pair0 wire protocol (nng/nanomsg)
 *   pipe:                         only through ipk_spawn()/ipk_pair()
 * Options common to every URL: ?maxmsg=SIZE (default 16M), ?mode=0600,
 * ?keep=1 (do not remove named objects on close). Sizes take K/M/G suffixes.
 */
#ifndef IPCKIT_H
#define IPCKIT_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#ifdef __cplusplus
extern "C" {
#endif

#define IPK_VERSION_MAJOR 0
#define IPK_VERSION_MINOR 1
#define IPK_VERSION_PATCH 0
#define IPK_VERSION_STRING "0.1.0"

#if defined(__GNUC__)
#define IPK_API __attribute__((visibility("default")))
#else
#define IPK_API
#endif

/*
 * ipckit's own error codes: X(NAME, value, message). Values sit below -4000
 * so they never collide with -errno.
 */
#define IPK_ERRNO_MAP(X)                                                       \
	X(ECLOSED, -4001, "peer closed")                                       \
	X(ECORRUPT, -4002, "corrupted channel: invalid data in shared memory") \
	X(ENOPEER, -4003, "no peer is listening at this address")              \
	X(EBUSYSIDE, -4004, "another live endpoint already holds this side")   \
	X(EFOREIGN, -4005, "object exists but was not created by ipckit")

enum {
#define IPK__ERR_ENUM(name, val, msg) IPK_##name = (val),
	IPK_ERRNO_MAP(IPK__ERR_ENUM)
#undef IPK__ERR_ENUM
};

/* Default limit of one message, in bytes (?maxmsg= changes it). */
#define IPK_DEFAULT_MAX_MSG (16u * 1024u * 1024u)

struct ipk_chan;     /* one end of a two-way message channel (opaque) */
struct ipk_listener; /* a bound address that hands out channels (opaque) */

/*
 * Options set from code; NULL means defaults. Every field can also be given
 * as a URL query option, which wins over the structure. Zero means "default"
 * for every field, so `struct ipk_opts o = {0}` is valid.
 */
struct ipk_opts {
	size_t max_msg;   /* largest message accepted (?maxmsg=); 16 MiB */
	unsigned mode;    /* permission bits of created objects (?mode=); 0600 */
	int keep;         /* 1: leave named objects in place on close (?keep=1) */
	uid_t allow_uid;  /* listeners: also admit this uid (?allow=UID); 0=own */
	int timeout_ms;   /* dial: wait this long for a listener (?timeout=);
			     0 = try once, negative = forever */
};

/* Counters of one channel, kept by the library. */
struct ipk_stats {
	uint64_t msgs_sent, bytes_sent; /* messages and payload bytes sent */
	uint64_t msgs_recv, bytes_recv; /* messages and payload bytes received */
	uint64_t waits;                 /* calls that had to wait */
	uint64_t errors;                /* calls that failed (not EAGAIN) */
	uint64_t gaps;                  /* udp: messages lost (sequence gaps) */
	uint64_t reordered;             /* udp: messages that arrived late */
};

/* The peer's credentials, where the transport knows them (unix sockets). */
struct ipk_peer {
	pid_t pid;
	uid_t uid;
	gid_t gid;
};

/* Capability bits, as returned by ipk_caps(). */
#define IPK_CAP_BOUNDARIES 0x01u /* mechanism keeps message boundaries */
#define IPK_CAP_TYPES 0x02u      /* mechanism carries types natively */
#define IPK_CAP_REMOTE 0x04u     /* crosses hosts */
#define IPK_CAP_KINSHIP 0x08u    /* needs related processes (fork) */
#define IPK_CAP_REATTACH 0x10u   /* survives a peer restart on the same name */
#define IPK_CAP_ZEROCOPY 0x20u   /* loan/peek avoid a copy */
#define IPK_CAP_THREADS 0x40u    /* threads of one process only */
#define IPK_CAP_PERSIST 0x80u    /* queued data outlives the writer */
#define IPK_CAP_LOSSY 0x100u     /* may lose or reorder (udp) */
#define IPK_CAP_MULTI 0x200u     /* one listener accepts many channels */

/* --- Errors -------------------------------------------------------------- */

/* A sentence for `err` (see above). The string stays valid until the next
 * ipckit call in this thread. Never returns NULL. */
IPK_API const char *ipk_strerror(int err);

/* The symbolic name of `err`: "IPK_ECLOSED", "ETIMEDOUT", or "E?" for an
 * unknown code. Static storage. */
IPK_API const char *ipk_errname(int err);

/* --- Channels -------------------------------------------------------------- */

/*
 * Bind `url` and fill *out with a listener. Named objects are created
 * exclusively, mode 0600 unless ?mode= says otherwise; a live listener on
 * the same address gives -EADDRINUSE; a stale object left by a dead one is
 * reclaimed. `o` may be NULL.
 */
IPK_API int ipk_listen(const char *url, const struct ipk_opts *o,
    struct ipk_listener **out);

/*
 * Wait up to timeout_ms for a peer and fill *out with a channel to it.
 * Transports with IPK_CAP_MULTI hand out one channel per dialer; the others
 * have a single channel per listener, returned once the first peer has
 * attached (later accepts give -EBUSY while that channel is open).
 */
IPK_API int ipk_accept(struct ipk_listener *l, int timeout_ms,
    struct ipk_chan **out);

/* The listener's address, with a real port where port 0 was asked for.
 * Valid until ipk_listener_close(). */
IPK_API const char *ipk_listener_url(const struct ipk_listener *l);

/* A descriptor that becomes readable when ipk_accept may succeed, or a
 * negative code where the transport has none. Owned by the listener. */
IPK_API int ipk_listener_fd(struct ipk_listener *l);

/* Close the listener and remove its named objects (unless ?keep=1). Channels
 * already accepted stay open. ipk_listener_close(NULL) is a no-op. */
IPK_API int ipk_listener_close(struct ipk_listener *l);

/* Connect to a listener at `url`, waiting for it up to the URL's ?timeout=
 * (ms, default 0: -ENOENT/-ECONNREFUSED at once when nobody listens). */
IPK_API int ipk_dial(const char *url, const struct ipk_opts *o,
    struct ipk_chan **out);

/*
 * Start argv[0] (searched in PATH) with a pipe channel already connected;
 * the child gets it with ipk_dial_env(). *pid (may be NULL) receives the
 * child's pid; the caller reaps it with waitpid().
 */
IPK_API int ipk_spawn(char *const argv[], struct ipk_chan **out, pid_t *pid);

/* In a child started by ipk_spawn(): the channel to the parent. -ENOENT
 * when the process was not started that way. */
IPK_API int ipk_dial_env(struct ipk_chan **out);

/* Two connected pipe channels, for fork() without exec: after fork, the
 * parent closes b and the child closes a (ipk_close on the unused end). */
IPK_API int ipk_pair(struct ipk_chan **a, struct ipk_chan **b);

/*
 * Send one message of `len` bytes (0 allowed) with a user type. Returns once
 * the message is handed to the mechanism. -EMSGSIZE when over the limit (the
 * sentence names the limit), IPK_ECLOSED when the peer is gone.
 */
IPK_API int ipk_send(struct ipk_chan *c, const void *buf, size_t len,
    uint32_t type, int timeout_ms);

/*
 * Receive one message into buf[0..cap). *len gets its length and *type
 * (may be NULL) its type. When cap is too small: -EMSGSIZE, *len is set to
 * the size needed, and the message stays queued for the next call.
 * Messages queued before the peer died are delivered before IPK_ECLOSED.
 */
IPK_API int ipk_recv(struct ipk_chan *c, void *buf, size_t cap, size_t *len,
    uint32_t *type, int timeout_ms);

/*
 * Receive only a message of the given type, leaving others queued
 * (selective receive). -ENOTSUP where the mechanism cannot filter in the
 * kernel (only sysv can today).
 */
IPK_API int ipk_recv_type(struct ipk_chan *c, uint32_t type, void *buf,
    size_t cap, size_t *len, int timeout_ms);

/*
 * Zero-copy send: reserve `len` bytes and get a pointer to fill; then
 * ipk_commit() publishes up to `len` bytes with a type. One loan may be
 * outstanding per channel; the pointer belongs to the channel and is valid
 * until commit or close. On transports without shared memory the library
 * copies through a buffer of its own, so code never branches on the mechanism.
 */
IPK_API int ipk_loan(struct ipk_chan *c, size_t len, void **buf,
    int timeout_ms);
IPK_API int ipk_commit(struct ipk_chan *c, size_t len, uint32_t type);

/*
 * Zero-copy receive: point *buf at the next message in place; ipk_release()
 * frees it. One peek may be outstanding; ipk_recv while a message is peeked
 * gives -EBUSY. On shared memory the bytes may still be written by a buggy
 * peer: treat them as untrusted input.
 */
IPK_API int ipk_peek(struct ipk_chan *c, const void **buf, size_t *len,
    uint32_t *type, int timeout_ms);
IPK_API int ipk_release(struct ipk_chan *c);

/*
 * A descriptor that becomes readable when ipk_recv may succeed, for
 * poll/epoll. Level-triggered hint: after it fires, call ipk_recv with
 * timeout 0 until -EAGAIN before waiting on it again (the library may have
 * read ahead). Owned by the channel.
 */
IPK_API int ipk_fd(struct ipk_chan *c);

/* Counters of the channel. */
IPK_API int ipk_stats(struct ipk_chan *c, struct ipk_stats *out);

/* The peer's credentials; -ENOTSUP where the transport does not know them. */
IPK_API int ipk_peer(struct ipk_chan *c, struct ipk_peer *out);

/* The capability bits (IPK_CAP_*) of the channel's transport. */
IPK_API unsigned ipk_caps(struct ipk_chan *c);

/* The channel's URL scheme ("fifo", "shm", ...). Static storage. */
IPK_API const char *ipk_scheme(struct ipk_chan *c);

/* Largest message the channel accepts. */
IPK_API size_t ipk_max_msg(struct ipk_chan *c);

/* Close the channel and free it, even when it reports an error. Named
 * objects the channel created are removed unless ?keep=1.
 * ipk_close(NULL) is a no-op. */
IPK_API int ipk_close(struct ipk_chan *c);

/* --- Waiting on many channels ------------------------------------------- */

#define IPK_POLLIN 0x1u /* ipk_recv with timeout 0 will not say -EAGAIN */

struct ipk_pollitem {
	struct ipk_chan *chan; /* the channel to watch (NULL: ignored) */
	unsigned events;       /* IPK_POLLIN */
	unsigned revents;      /* set by ipk_poll */
};

/*
 * Wait until at least one of n channels is ready, any mix of transports, or
 * timeout_ms passes. Returns the number of ready items (revents set), or
 * -ETIMEDOUT / -EAGAIN (timeout 0) when none became ready, or -EINVAL.
 * Ready means a receive will not wait: a message is there, or the peer is
 * gone and ipk_recv reports it. Messages the library already read ahead
 * count as ready even when the descriptor is quiet. To wait on channels
 * together with other descriptors, poll ipk_fd() of each in your own loop
 * and drain with timeout 0 until -EAGAIN (see examples/epoll_loop.c).
 */
IPK_API int ipk_poll(struct ipk_pollitem *items, size_t n, int timeout_ms);

/* The schemes compiled in, NULL-terminated. Static storage. */
IPK_API const char *const *ipk_schemes(void);

/* Capability bits of a scheme, or 0 if unknown. */
IPK_API unsigned ipk_scheme_caps(const char *scheme);

#ifdef __cplusplus
}
#endif
#endif /* IPCKIT_H */
