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
 *   mqtt://host:port/topic, mqtts://...    publish/subscribe through an MQTT
 *                                 broker (an optional part, see ipk_bind)
 *   pipe:                         only through ipk_spawn()/ipk_pair()
 * Patterns (many peers, see "Patterns" below): ?pattern=pub|sub|req|rep|
 * push|pull on unix, tcp, nng+tcp and nng+ipc, and pub|sub on shm (one
 * write per message, read in place by every subscriber), opened with
 * ipk_bind() or ipk_dial(); ?pattern=pub|sub through an MQTT broker.
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

struct ipk_chan; /* one end of a two-way message channel (opaque) */
struct ipk_listener; /* a bound address that hands out channels (opaque) */

/*
 * Options set from code; NULL means defaults. Every field can also be given
 * as a URL query option, which wins over the structure. Zero means "default"
 * for every field, so `struct ipk_opts o = {0}` is valid.
 */
struct ipk_opts {
	size_t max_msg; /* largest message accepted (?maxmsg=); 16 MiB */
	unsigned mode; /* permission bits of created objects (?mode=); 0600 */
	int keep; /* 1: leave named objects in place on close (?keep=1) */
	uid_t
	    allow_uid; /* listeners: also admit this uid (?allow=UID); 0=own */
	int timeout_ms; /* dial: wait this long for a listener (?timeout=);
			   0 = try once, negative = forever */
};

/* Counters of one channel, kept by the library. */
struct ipk_stats {
	uint64_t msgs_sent, bytes_sent; /* messages and payload bytes sent */
	uint64_t msgs_recv,
	    bytes_recv; /* messages and payload bytes received */
	uint64_t waits; /* calls that had to wait */
	uint64_t errors; /* calls that failed (not EAGAIN) */
	uint64_t gaps; /* messages lost: udp and subscribers, by sequence
			  gaps; a publisher, what it dropped for slow
			  subscribers (each drop for each subscriber) */
	uint64_t reordered; /* udp: messages that arrived late */
};

/* The peer's credentials, where the transport knows them (unix sockets). */
struct ipk_peer {
	pid_t pid;
	uid_t uid;
	gid_t gid;
};

/* Capability bits, as returned by ipk_caps(). */
#define IPK_CAP_BOUNDARIES 0x01u /* mechanism keeps message boundaries */
#define IPK_CAP_TYPES 0x02u /* mechanism carries types natively */
#define IPK_CAP_REMOTE 0x04u /* crosses hosts */
#define IPK_CAP_KINSHIP 0x08u /* needs related processes (fork) */
#define IPK_CAP_REATTACH 0x10u /* survives a peer restart on the same name */
#define IPK_CAP_ZEROCOPY 0x20u /* loan/peek avoid a copy */
#define IPK_CAP_THREADS 0x40u /* threads of one process only */
#define IPK_CAP_PERSIST 0x80u /* queued data outlives the writer */
#define IPK_CAP_LOSSY 0x100u /* may lose or reorder (udp) */
#define IPK_CAP_MULTI 0x200u /* one listener accepts many channels */
#define IPK_CAP_NOTYPES                                                        \
	0x400u /* no type on the wire: recv gives type 0                       \
		  (nng+tcp, nng+ipc: the SP format) */
#define IPK_CAP_PATTERNS 0x800u /* ?pattern= works (ipk_bind, ipk_dial) */
/* ?pattern=pub|sub works: with IPK_CAP_PATTERNS, and on shm alone */
#define IPK_CAP_PUBSUB 0x1000u
/* messages go through a server between the peers (mqtt): ?pattern=pub|sub
 * only, served by the broker */
#define IPK_CAP_BROKER 0x2000u

/* --- Errors -------------------------------------------------------------- */

/* A sentence for `err` (see above). The string stays valid until the next
 * ipckit call in this thread. Never returns NULL. */
IPK_API const char *ipk_strerror(int err);

/* The symbolic name of `err`: "IPK_ECLOSED", "ETIMEDOUT", or "E?" for an
 * unknown code. Static storage. */
IPK_API const char *ipk_errname(int err);

/* --- Channels --------------------------------------------------------------
 */

/*
 * Bind `url` and fill *out with a listener. Named objects are created
 * exclusively, mode 0600 unless ?mode= says otherwise; a live listener on
 * the same address gives -EADDRINUSE; a stale object left by a dead one is
 * reclaimed. `o` may be NULL.
 */
IPK_API int ipk_listen(
    const char *url, const struct ipk_opts *o, struct ipk_listener **out);

/*
 * Wait up to timeout_ms for a peer and fill *out with a channel to it.
 * Transports with IPK_CAP_MULTI hand out one channel per dialer; the others
 * have a single channel per listener, returned once the first peer has
 * attached (later accepts give -EBUSY while that channel is open).
 */
IPK_API int
ipk_accept(struct ipk_listener *l, int timeout_ms, struct ipk_chan **out);

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
IPK_API int
ipk_dial(const char *url, const struct ipk_opts *o, struct ipk_chan **out);

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
 * outstanding per channel, and ipk_send gives -EBUSY until it is committed;
 * the pointer belongs to the channel and is valid until commit or close.
 * On transports without shared memory the library copies through a buffer
 * of its own, so code never branches on the mechanism.
 */
IPK_API int
ipk_loan(struct ipk_chan *c, size_t len, void **buf, int timeout_ms);
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
 * Wait up to timeout_ms until the peer has in hand every message sent so
 * far: what a sender calls before it exits (ipckit send does). Byte streams
 * (unix, tcp, pipe, fifo, nng+*) first shut down their sending side, so the
 * peer reads end-of-stream after the last message, and nothing more can be
 * sent on the channel (receiving still works); then they wait until the
 * peer has read every byte (pipe, fifo, unix) or has closed or shut down
 * its own side (tcp, nng+tcp, and a unix peer that has not read yet).
 * Queues and shared memory (mq, sysv, shm, inproc) keep a message for its
 * reader after the sender is gone, and udp can never know: 0 at once.
 * Returns 0, IPK_ECLOSED when the peer went away before taking them all,
 * or -ETIMEDOUT.
 */
IPK_API int ipk_drain(struct ipk_chan *c, int timeout_ms);

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

/* The channel's address: as given, or for ipk_bind the address bound
 * (port 0 replaced by the real port). Valid until ipk_close(). */
IPK_API const char *ipk_url(struct ipk_chan *c);

/* Largest message the channel accepts. */
IPK_API size_t ipk_max_msg(struct ipk_chan *c);

/* Close the channel and free it, even when it reports an error. Named
 * objects the channel created are removed unless ?keep=1.
 * ipk_close(NULL) is a no-op. */
IPK_API int ipk_close(struct ipk_chan *c);

/* --- Waiting on many channels ------------------------------------------- */

#define IPK_POLLIN 0x1u /* ipk_recv with timeout 0 will not say -EAGAIN */
/* ipk_send with timeout 0 will not say -EAGAIN: the mechanism has room (a
 * socket's buffer, a pattern's queue for the peer it would send to). unix,
 * tcp, nng+* and pattern channels tell; the other transports cannot, and
 * report IPK_POLLOUT at once (their send may still wait). */
#define IPK_POLLOUT 0x2u

struct ipk_pollitem {
	struct ipk_chan *chan; /* the channel to watch (NULL: ignored) */
	unsigned events; /* IPK_POLLIN | IPK_POLLOUT */
	unsigned revents; /* set by ipk_poll */
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

/* --- Patterns: publish/subscribe, request/reply, pipeline ----------------
 *
 * A pattern channel is one ipk_chan that talks to many peers. The pattern
 * is named in the URL, ?pattern=ROLE, on transports with IPK_CAP_PATTERNS
 * (unix, tcp, nng+tcp, nng+ipc; shm has pub and sub, IPK_CAP_PUBSUB, see
 * below and docs/patterns.md): ipk_bind() binds the address and serves
 * every peer that dials it through the one channel; ipk_dial() connects to
 * one peer. Either role may bind or dial (the usual way round is pub, rep
 * and pull binding). Then the channel calls work as always - ipk_send,
 * ipk_recv, ipk_loan/commit, ipk_peek/release, ipk_poll, ipk_fd,
 * ipk_stats, ipk_close - with the meaning the role gives them:
 *
 *   pub   ipk_send gives the message to every subscriber connected (none:
 *         it is dropped, or kept for ?history=). ipk_recv: -ENOTSUP.
 *   sub   ipk_recv gives the next message whose bytes start with one of
 *         the subscribed topics (?topic=T, repeatable, or ipk_subscribe;
 *         none subscribed: every message). ipk_send: -ENOTSUP.
 *   req   ipk_send sends a request; ipk_recv gives its reply. A new
 *         request gives up the one before: a late reply to it is dropped,
 *         never returned for the new one. -EINVAL from ipk_recv when no
 *         request is outstanding; IPK_ECLOSED when the server went away
 *         before it answered.
 *   rep   ipk_recv gives the next request from any client; ipk_send
 *         answers the request received last, ipk_reply any earlier one by
 *         its id (ipk_request_id). A reply goes only to the client that
 *         asked; one whose client has gone is dropped.
 *   push  ipk_send hands the message to one puller with room, in turn.
 *   pull  ipk_recv gives the next message from any pusher.
 *
 * Options: ?slow=drop|block (pub, rep: what a peer that does not read costs
 * the sender. drop, the default: the library queues up to ?queue=N
 * messages (1024) for the peer beyond its socket buffer, then drops its
 * oldest, counted in ipk_stats gaps of the sender and told to the
 * subscriber, whose gaps count them; block: ipk_send waits until every
 * subscriber has room, up to its timeout, then -ETIMEDOUT and nobody got
 * the message). ?history=K (pub): the last K messages are sent first to a
 * subscriber that joins later. A dialer whose peer dies gets IPK_ECLOSED;
 * a binder forgets the peer and serves the others. The SP transports
 * (nng+*) speak pub0/sub0, req0/rep0 and push0/pull0 of nng and nanomsg;
 * their wire has no sequence numbers, so a subscriber there cannot count
 * its losses (the publisher still does), and no type travels.
 *
 * shm:///NAME?pattern=pub (the publisher binds) and ?pattern=sub (each
 * subscriber dials) share one segment: the publisher writes a message once
 * (ipk_loan/ipk_commit, or ipk_send), every subscriber reads it in place
 * (ipk_peek/ipk_release) or copies it (ipk_recv). Options: pub ?queue=N
 * (messages kept; by default as many as fit in 1 MiB), ?maxmsg= (16K-16),
 * ?subs=N (64), ?slow=, ?history=,
 * ?linger=MS (how long a dead subscriber with an id is waited for under
 * slow=block); sub ?topic=, ?id=NAME (a durable subscriber: restarted
 * with the same id, it continues where it stopped). Under slow=drop a
 * subscriber a whole queue behind skips to the oldest message still there
 * and counts what it skipped; a peeked message overwritten before
 * ipk_release makes ipk_release return -ESTALE.
 *
 * Through a broker (IPK_CAP_BROKER: mqtt://host:port/topic, mqtts://):
 * only pub and sub, and ipk_bind and ipk_dial both connect to the broker.
 * The topic is the path; a sub's topic and ipk_subscribe() take MQTT
 * filters (+ one level, # the rest), not prefixes. ?qos=0|1|2, ?retain=1,
 * ?clean=0&id=NAME (a session the broker keeps while the subscriber is
 * away), ?user=, ?password= (or $IPK_MQTT_PASSWORD), TLS ?cafile=,
 * ?capath=, ?certfile=, ?keyfile=, ?insecure=1. ipk_send waits while
 * ?queue=N (1024) messages are unacknowledged; ipk_flush waits for all.
 * The type travels as an MQTT 5 user property (plain clients: type 0).
 * Subscribers count the numbers an ipckit publisher's messages carry:
 * losses in gaps, QoS 1 redeliveries dropped and counted in reordered.
 * At QoS 1 and 2 a publisher publishes its last ?replay=N (4096)
 * acknowledged messages again after a reconnection, so that a broker
 * killed and restarted loses none; subscribers drop the copies by number.
 * The channel runs libmosquitto's network thread (keepalive, reconnection
 * with backoff); ipk_fd is an eventfd. Served by the optional part
 * libipckit-mqtt (loaded at run time; see ipk_scheme_missing and
 * docs/transports/mqtt.md): without it, -ENOTSUP and a sentence saying
 * how to get it.
 *
 * Progress: the library has no threads. Queued messages move and new peers
 * are admitted inside the calls on the channel: ipk_send, ipk_recv and
 * ipk_poll (also with timeout 0). ipk_fd gives a descriptor that becomes
 * readable when the channel has work or a message (IPK_POLLIN); then call
 * ipk_poll or ipk_recv with timeout 0. A binder's peers also show in
 * ipckit ls/stat as accepted endpoints, with their own counters.
 */

/*
 * Bind `url`, whose query names a pattern (?pattern=pub|sub|req|rep|push|
 * pull), and fill *out with a channel that serves every peer dialing it.
 * -EINVAL without ?pattern= or with a bad option; -ENOTSUP on a transport
 * without IPK_CAP_PATTERNS; the codes of ipk_listen otherwise. The channel
 * is the caller's until ipk_close(), which also closes the address.
 */
IPK_API int
ipk_bind(const char *url, const struct ipk_opts *o, struct ipk_chan **out);

/* sub: also receive messages starting with prefix[0..len) (len 0: every
 * message). Through a broker, prefix is an MQTT topic filter instead
 * (1 to 65535 bytes, + and #), subscribed at the broker before this
 * returns. -EINVAL on other channels; -ENOMEM past 64 topics. */
IPK_API int ipk_subscribe(struct ipk_chan *c, const void *prefix, size_t len);

/* rep: the id of the request the last ipk_recv/ipk_peek returned, for a
 * later ipk_reply. -EINVAL when none was received or c is not rep. */
IPK_API int ipk_request_id(struct ipk_chan *c, uint64_t *id);

/* rep: answer request `id` (from ipk_request_id), in any order. 0 also
 * when its client has gone (the reply is dropped); -ETIMEDOUT when that
 * client's queue stayed full (?slow=block or a full queue: only that
 * client's replies wait). */
IPK_API int ipk_reply(struct ipk_chan *c, uint64_t id, const void *buf,
    size_t len, uint32_t type, int timeout_ms);

/* Peers connected to a pattern channel now (after admitting those waiting
 * at a bound address); 1 for a plain channel. -EINVAL for NULL. */
IPK_API int ipk_npeers(struct ipk_chan *c);

/* Wait up to timeout_ms until the messages a pattern channel queued for
 * its peers have been handed to the mechanism (say, before ipk_close, which
 * does not wait). 0, or -ETIMEDOUT / -EAGAIN; 0 at once on plain channels. */
IPK_API int ipk_flush(struct ipk_chan *c, int timeout_ms);

/* --- Operating: finding, watching and removing channels -----------------
 *
 * Every named channel (fifo, mq, sysv, shm, unix) records itself in the
 * run directory, /dev/shm/ipckit-<uid> (or $IPK_RUNDIR): its URL and one
 * slot per endpoint with the pid, role and live counters. Liveness is read
 * from an OFD lock each endpoint holds on its slot, never from the pid
 * alone (pids are reused); a frozen endpoint is alive. docs/operating.md
 * tells what is and is not found.
 */

#define IPK_OBJ_MAXEP 16 /* endpoint slots of one channel */

/* Roles of an endpoint. */
#define IPK_ROLE_LISTENER 1 /* the listener itself */
#define IPK_ROLE_ACCEPTED 2 /* a channel it accepted */
#define IPK_ROLE_DIALER 3 /* a dialer's channel */

struct ipk_endpoint {
	pid_t pid;
	int role; /* IPK_ROLE_* */
	int alive; /* 1 while its process holds the slot */
	struct ipk_stats stats; /* its counters (last values when dead) */
	int64_t lag; /* a subscriber on shm: messages published that it has
			not read yet; -1 where unknown */
};

/* What ipk_inspect and ipk_list tell of one channel. Counts that the
 * mechanism cannot tell from outside are -1. */
struct ipk_objinfo {
	char url[512]; /* the listener's URL */
	char scheme[16];
	int registered; /* an entry exists in the run directory */
	int exists; /* its kernel objects were found */
	uid_t uid; /* owner of the main kernel object */
	unsigned mode; /* its permission bits */
	int64_t queued_msgs; /* messages waiting, both directions */
	int64_t queued_bytes; /* payload bytes waiting */
	int64_t cap_msgs; /* capacity in messages */
	int64_t cap_bytes; /* capacity in bytes */
	char objects[4][256]; /* the kernel objects ("/dev/shm/x",
				 "msqid 3"); unused ones empty */
	int nep; /* slots used in ep[] */
	int nalive; /* endpoints alive */
	struct ipk_endpoint ep[IPK_OBJ_MAXEP];
};

/*
 * Describe the channel at `url` (options are ignored): its registry entry
 * and its kernel objects. 0, -ENOENT when neither exists, -EINVAL for a
 * bad URL, -ENOTSUP for a scheme without named objects.
 */
IPK_API int ipk_inspect(const char *url, struct ipk_objinfo *out);

/* Called by ipk_list for each channel; non-zero stops the walk and becomes
 * ipk_list's result. `o` is valid only during the call. */
typedef int (*ipk_list_fn)(const struct ipk_objinfo *o, void *arg);

/* Call fn for every registered channel the caller can read (root: every
 * user's). Returns 0, fn's non-zero result, or a negative code. */
IPK_API int ipk_list(ipk_list_fn fn, void *arg);

#define IPK_REMOVE_FORCE 0x1u /* remove even with a live endpoint */

/*
 * Remove the kernel objects of the channel at `url` and its registry
 * entry, through the transport that made them. A live endpoint (in the
 * entry, or seen by the transport's own locks) gives -EBUSY with a
 * sentence naming it, unless IPK_REMOVE_FORCE: then live endpoints keep
 * what they have open and the name is gone. -ENOENT when nothing was
 * there; -ENOTSUP for schemes without named objects.
 */
IPK_API int ipk_remove(const char *url, unsigned flags);

/* The schemes compiled in, NULL-terminated. Static storage. */
IPK_API const char *const *ipk_schemes(void);

/* Capability bits of a scheme, or 0 if unknown. */
IPK_API unsigned ipk_scheme_caps(const char *scheme);

/* NULL when `scheme` can be used here; else a sentence saying what is
 * missing (mqtt: the optional part libipckit-mqtt and how to get it).
 * Opening such an address gives -ENOTSUP with the same sentence. Static
 * storage. Unknown schemes give "unknown scheme". */
IPK_API const char *ipk_scheme_missing(const char *scheme);

/*
 * A variant: a way of running a transport that has a name of its own, the
 * scheme with a fixed query ("shm/futex" is shm with ?wait=futex). Every
 * compiled scheme has at least one. The contract test suite, the crash
 * matrix and ipckit bench take their rows from this list, so a transport
 * added to the library brings its tests and benchmark rows along.
 */
struct ipk_variant {
	const char *name; /* "shm/futex", or the scheme alone: "fifo" */
	const char *query; /* the options it stands for, "wait=futex"; "" */
	const char *wait; /* how a blocked receiver waits, in a few words; "" */
	unsigned flags; /* IPK_VARIANT_*: which runs include it */
};

#define IPK_VARIANT_CONTRACT 0x1u /* the contract test suite runs it */
#define IPK_VARIANT_CRASH 0x2u /* the crash matrix kills and restarts it */
#define IPK_VARIANT_BENCH 0x4u /* ipckit bench measures it (one row) */

/*
 * Fill *out with variant `i` (0, 1, ...) of `scheme`. Returns 0, -ENOENT
 * when i is past the last one, -EINVAL for an unknown scheme. The strings
 * are static storage.
 */
IPK_API int
ipk_scheme_variant(const char *scheme, size_t i, struct ipk_variant *out);

/*
 * Write to buf an address of `variant` (a variant name or a scheme) that a
 * program may listen on, with `name` where the transport puts a name, and
 * the variant's query: ("shm/futex", "demo") gives "shm:///demo?wait=futex",
 * ("fifo", "demo") "fifo:///tmp/demo", ("tcp", "demo") "tcp://127.0.0.1:0"
 * (listen picks the port), ("pipe", ...) "pipe:" (connected only through
 * ipk_spawn() and ipk_pair()). `name` is 1 to 64 letters, digits, '.',
 * '-' or '_'; make it unique (a pid, a counter) when several programs may
 * run at once. Returns the length written (without the NUL), -EINVAL for an
 * unknown variant or a bad name, -ENAMETOOLONG when it does not fit in cap
 * (buf then holds ""), -ENOTSUP for a transport without an example address.
 */
IPK_API int
ipk_scheme_url(const char *variant, const char *name, char *buf, size_t cap);

/* --- Semaphores, locks, notifications ------------------------------------
 *
 * Three synchronisation primitives that stand beside channels (docs/sync.md
 * says when to use which). They follow the conventions at the top of this
 * file: 0 or a negative code, sentences through ipk_strerror(), timeouts in
 * ms (-1 forever, 0 try once and -EAGAIN, > 0 -ETIMEDOUT when it expires),
 * EINTR retried inside. Objects are opaque; each *_close() frees its object
 * even when it reports an error, and *_close(NULL) is a no-op. Named kernel
 * objects are created exclusively with mode 0600 (?mode= changes it) and are
 * removed only by the matching *_unlink(): closing never removes a name.
 */

struct ipk_sem; /* a named counting semaphore, POSIX or System V (opaque) */
struct ipk_lock; /* a robust process-shared mutex in a named segment */
struct ipk_notify; /* a receiver of signal notifications (a signalfd) */

/* Flags of ipk_sem_open() and ipk_lock_open(). */
#define IPK_SYNC_CREATE 0x1u /* create exclusively (-EEXIST if it exists) */
#define IPK_SEM_NOUNDO 0x2u /* System V: no SEM_UNDO (see ipk_sem_open) */

/*
 * Open the semaphore named by `url`, or create it with IPK_SYNC_CREATE and
 * value `initial` (at most 32767). Without IPK_SYNC_CREATE the semaphore
 * must exist (-ENOENT otherwise) and `initial` is ignored.
 *
 *   semposix:///name        POSIX named semaphore (sem_overview(7))
 *   semsysv:///path         System V set of one semaphore, key ftok(path,'S')
 *   semsysv:0xKEY           the same with an explicit key
 *   option ?mode=0600       permission bits when creating
 *
 * When a process dies holding the semaphore (it waited and never posted):
 *  - System V gives it back: every wait and post uses SEM_UNDO, so the
 *    kernel undoes a process's net adjustment when it exits, also on
 *    SIGKILL. This suits a lock or a pool that each process waits and posts
 *    itself. For signalling (one process posts, another waits) open with
 *    IPK_SEM_NOUNDO, or the poster's exit would take its posts back.
 *  - POSIX cannot: the count stays taken and waiters time out. Recovery is
 *    the application's: use timeouts, learn of the death another way (a
 *    channel's IPK_ECLOSED, a pidfd), then ipk_sem_post() on the dead
 *    holder's behalf, or ipk_sem_unlink() and create it again. Prefer
 *    System V or ipk_lock when holders may crash.
 *
 * System V creation is race-free without SETVAL: the creator makes the set
 * with IPC_EXCL and sets the value with semop(), which also sets sem_otime;
 * an opener waits (up to 500 ms) until sem_otime is non-zero, so it never
 * uses a half-made set. A set whose creator died before that stays at
 * sem_otime 0 and gives IPK_ECORRUPT: remove it with ipk_sem_unlink(). The
 * library never SETVALs a live set (that would wipe every process's undo).
 * A set with more than one semaphore gives IPK_EFOREIGN; a POSIX name whose
 * file is too short to be a semaphore gives IPK_ECORRUPT.
 *
 * Ownership: *out is the caller's until ipk_sem_close(). One ipk_sem may be
 * used by several threads at once.
 */
IPK_API int ipk_sem_open(
    const char *url, unsigned flags, unsigned initial, struct ipk_sem **out);

/* Decrement (P), waiting up to timeout_ms while the value is 0. -EIDRM when
 * the System V set was removed meanwhile. */
IPK_API int ipk_sem_wait(struct ipk_sem *s, int timeout_ms);

/* Increment (V), waking one waiter. -EOVERFLOW at the maximum value. */
IPK_API int ipk_sem_post(struct ipk_sem *s);

/* The current value into *value (a snapshot, stale at once). */
IPK_API int ipk_sem_value(struct ipk_sem *s, int *value);

/* Close the handle; the semaphore itself stays (see ipk_sem_unlink). */
IPK_API int ipk_sem_close(struct ipk_sem *s);

/* Remove the named semaphore. POSIX: the name goes at once, open handles
 * keep working. System V: the set goes at once and blocked waiters get
 * -EIDRM. -ENOENT when there is nothing by that name. */
IPK_API int ipk_sem_unlink(const char *url);

/*
 * Open the robust lock named by `url`, or create it with IPK_SYNC_CREATE.
 *
 *   lock:///name            POSIX shared-memory object /name holding a
 *                           header (magic, version, sizes) and a
 *                           PTHREAD_PROCESS_SHARED, PTHREAD_MUTEX_ROBUST,
 *                           error-checking mutex
 *   option ?size=N          bytes of user data kept beside the mutex
 *                           (default: the rest of one page); used when
 *                           creating, an opener gets the creator's size
 *   option ?mode=0600       permission bits when creating
 *
 * The opener checks the object's owner (same uid), size and header before
 * using it: anything inconsistent gives IPK_ECORRUPT, never a crash. An
 * object whose creator has not finished (or died while) creating it is
 * waited for up to 500 ms, then reported as IPK_ECORRUPT.
 * Ownership: *out is the caller's until ipk_lock_close().
 */
IPK_API int
ipk_lock_open(const char *url, unsigned flags, struct ipk_lock **out);

/*
 * Take the lock, waiting up to timeout_ms. Returns:
 *   0                  the lock is held
 *   -EOWNERDEAD        the lock is held, but its previous holder died while
 *                      holding it: the state it guards may be inconsistent.
 *                      Repair the state, call ipk_lock_consistent(), then
 *                      ipk_lock_unlock(). Reported exactly once per death
 *                      (again if this holder dies before consistent).
 *   -ENOTRECOVERABLE   a holder was told -EOWNERDEAD and unlocked without
 *                      ipk_lock_consistent(): the lock is unusable for every
 *                      later locker. Remove and create it again.
 *   -EDEADLK           the calling thread already holds it
 *   -ETIMEDOUT/-EAGAIN as usual
 * The lock belongs to the calling thread: it is given back (with
 * -EOWNERDEAD to the next locker) when the thread or process ends holding it.
 */
IPK_API int ipk_lock_lock(struct ipk_lock *l, int timeout_ms);

/* After -EOWNERDEAD: declare the guarded state repaired. -EINVAL if the
 * calling thread does not hold the lock in that state. */
IPK_API int ipk_lock_consistent(struct ipk_lock *l);

/* Release the lock. -EPERM when the calling thread does not hold it. */
IPK_API int ipk_lock_unlock(struct ipk_lock *l);

/* The user data area of the segment (zeroed at creation) and its size in
 * *size (may be NULL). Shared with every process that opened the lock;
 * owned by the lock until ipk_lock_close(). NULL when l is NULL. */
IPK_API void *ipk_lock_data(struct ipk_lock *l, size_t *size);

/* Unmap and free the handle. If the calling thread holds the lock it is
 * unlocked first (after -EOWNERDEAD without ipk_lock_consistent() that makes
 * it unrecoverable, as ipk_lock_unlock would). Never close a handle while
 * another thread holds the lock through it. */
IPK_API int ipk_lock_close(struct ipk_lock *l);

/* Remove the lock's name; processes that have it open keep using it. */
IPK_API int ipk_lock_unlink(const char *url);

/*
 * Notifications: a signal carrying one small integer, from one process to
 * another, received through a signalfd so that it can be polled like any
 * descriptor and needs no signal handler.
 *
 * A notification carries only the signal number, an int value and the
 * sender's pid: no data. Real-time signals (SIGRTMIN..SIGRTMAX) queue, in
 * order, each with its value, up to the receiver's RLIMIT_SIGPENDING (then
 * sending gives -EAGAIN). Standard signals (1..31) coalesce: several sent
 * before the receiver reads arrive once. Use a real-time signal; 0 selects
 * IPK_NOTIFY_SIGNAL. SIGKILL and SIGSTOP are refused with -EINVAL: the
 * kernel never lets a process block, catch or read them, so they can only
 * kill or stop the receiver. Signals 32..SIGRTMIN-1 belong to the C library
 * and are refused too.
 *
 * The signalfd rule: a signal is read from the descriptor only while it is
 * blocked; a thread that does not block it may take it with its default
 * action, which for real-time signals ends the process. ipk_notify_open()
 * blocks the signal in the calling thread; every other thread must block it
 * as well. Call ipk_notify_block() at the start of main(), before creating
 * threads (they inherit the mask) and before telling anyone your pid.
 */
#define IPK_NOTIFY_SIGNAL 0 /* means SIGRTMIN (a real-time signal) */

/* Block `signo` (0: IPK_NOTIFY_SIGNAL) in the calling thread. */
IPK_API int ipk_notify_block(int signo);

/*
 * Send `signo` with `value` to process `pid` (sigqueue). -ESRCH: no such
 * process (it exited); -EPERM: it belongs to another user; -EAGAIN: its
 * pending-signal limit (RLIMIT_SIGPENDING) is reached; -EINVAL: pid <= 0 or
 * a refused signal. A pid can be reused by a new process once the old one
 * has been reaped: prefer ipk_notify_send_pidfd() when you hold a pidfd.
 */
IPK_API int ipk_notify_send(pid_t pid, int signo, int value);

/* The same through a pidfd (pidfd_open(2), clone3), which names one process
 * for ever: a reused pid is never signalled, an exited process gives
 * -ESRCH. -ENOSYS on kernels before 5.1. The pidfd stays the caller's. */
IPK_API int ipk_notify_send_pidfd(int pidfd, int signo, int value);

/*
 * Start receiving `signo` (0: IPK_NOTIFY_SIGNAL): block it in the calling
 * thread and fill *out with a receiver. -EINVAL, naming the thread, when
 * another thread of the process does not block it (such a thread could
 * take a notification and die of it; checked through /proc, best effort:
 * threads created later are not seen). Notifications
 * sent before the signal was blocked may already have acted; later ones
 * queue until read.
 * Ownership: *out is the caller's until ipk_notify_close(), which does not
 * unblock the signal.
 */
IPK_API int ipk_notify_open(int signo, struct ipk_notify **out);

/* A descriptor that becomes readable when a notification is queued, for
 * poll/epoll. Owned by the receiver. */
IPK_API int ipk_notify_fd(struct ipk_notify *n);

/*
 * Take the next notification, waiting up to timeout_ms: its value into
 * *value and the sender's pid into *from (either may be NULL). For signals
 * sent with kill(2) the value is 0. The pid is what the kernel recorded:
 * trustworthy for kill(2), claimed by the sender for sigqueue.
 */
IPK_API int
ipk_notify_recv(struct ipk_notify *n, int *value, pid_t *from, int timeout_ms);

/* Close the descriptor and free the receiver. */
IPK_API int ipk_notify_close(struct ipk_notify *n);

#ifdef __cplusplus
}
#endif
#endif /* IPCKIT_H */
