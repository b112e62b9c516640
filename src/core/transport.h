/* SPDX-License-Identifier: MIT */
/*
 * transport.h - the contract between the core and a transport, written once.
 *
 * A transport is one file, src/transport/<mech>.c, that ends with exactly one
 * `const struct ipk__transport ipk__transport_<mech>` and one line in
 * src/transport/list.h. Everything else in the file is static. Transports
 * never call public ipk_* functions or another transport; they may call the
 * helpers in core/internal.h and core/frame.h.
 *
 * The core (src/core/chan.c) has already done, before any op is called:
 *  - argument checks (NULL pointers, len > c->max_msg for send/loan, closed
 *    channel, outstanding loan/peek);
 *  - URL parsing, refusal of option names not in `options`, and the common
 *    options into the fields of struct ipk_chan / struct ipk_listener;
 *  - the timeout turned into an absolute deadline (see internal.h).
 * And after an op returns, the core counts stats, turns -ETIMEDOUT at a
 * timeout of 0 into -EAGAIN, and prefixes the error sentence with the URL.
 *
 * Rules for every op:
 *  - Return 0 or a negative code with the meaning fixed in ipckit.h; record a
 *    sentence with ipk__err() when the code alone does not say enough.
 *  - Blocking ops wait no later than `deadline`, and wait in slices of at most
 *    IPK__SLICE_MS when the peer's death cannot wake them by itself (a dropped
 *    lock must be re-checked): a blocked call learns of a dead peer within
 *    100 ms and returns IPK_ECLOSED. A frozen peer is never reported dead.
 *  - Retry EINTR with the remaining time.
 *  - Never trust bytes read from another process: validate, then use; answer
 *    garbage with -EBADMSG (streams) or IPK_ECORRUPT (shared memory).
 *  - Every descriptor O_CLOEXEC; every named object created O_EXCL, with mode
 *    c->mode / l->mode; one owner unlinks it (unless keep).
 */
#ifndef IPK_CORE_TRANSPORT_H
#define IPK_CORE_TRANSPORT_H

#include "core/internal.h"

struct ipk__transport;

/* What close or lclose did with the address's named objects, when keep is
 * off, for its run-directory entry (core/ledger.h). 0: as keep says.
 * LINGER: left for a live dialer that has not read its messages yet, so
 * the entry stays and ipckit gc finds them should that dialer die. REAPED:
 * this dialer removed a channel left to it, so the entry goes too. */
#define IPK__LEFT_LINGER 1
#define IPK__LEFT_REAPED 2

struct ipk_chan {
	const struct ipk__transport *tr;
	char *url; /* as given (or as rebuilt by accept) */
	size_t max_msg; /* the transport may lower it in dial/accept */
	/* What limits max_msg when the transport lowered it, for the size
	 * error ("msgsize=8192 of the queue"); "" means maxmsg=. */
	char limit_why[96];
	unsigned mode; /* permission bits for created objects */
	int keep; /* do not remove named objects on close */
	unsigned char left; /* set by close: IPK__LEFT_* */
	uid_t allow_uid;
	/* Copy-through zero-copy for transports without loan/peek ops. */
	void *zc_loan;
	size_t zc_loan_cap, zc_loan_len;
	void *zc_peek;
	size_t zc_peek_cap, zc_peek_len;
	uint32_t zc_peek_type;
	unsigned char loaned, peeked, closed;
	/* Counters: in the run directory's entry when registered (live to
	 * ipckit stat), else own_stats. Never NULL. */
	struct ipk_stats *stats;
	struct ipk_stats own_stats;
	struct ipk__ledger *ledger;
	/* The transport's private state, chan_size bytes, zeroed. */
	_Alignas(64) unsigned char priv[];
};

struct ipk_listener {
	const struct ipk__transport *tr;
	char *url; /* may be rewritten by listen (port 0 -> real port) */
	struct ipk__url u; /* parsed, alive as long as the listener */
	size_t max_msg;
	unsigned mode;
	int keep;
	unsigned char left; /* set by lclose: IPK__LEFT_* */
	uid_t allow_uid;
	struct ipk__ledger *ledger; /* its run-directory slot, or NULL */
	_Alignas(64) unsigned char priv[];
};

static inline void *
ipk__chan_priv(struct ipk_chan *c)
{
	return c->priv;
}

static inline void *
ipk__lst_priv(struct ipk_listener *l)
{
	return l->priv;
}

/* Replace l->url (listen may learn the real port). 0 or -ENOMEM. */
IPK__HIDDEN int ipk__listener_set_url(struct ipk_listener *l, const char *url);

struct ipk__transport {
	const char *scheme; /* the URL scheme, "fifo" */
	unsigned caps; /* IPK_CAP_* */
	size_t chan_size; /* bytes of private state per channel */
	size_t lst_size; /* bytes of private state per listener */
	/* Option names the transport reads (besides the common ones:
	 * maxmsg, mode, keep, timeout, allow), NULL-terminated; may be NULL.
	 * Listing "allow" here makes the transport parse it itself (the core
	 * then leaves c->allow_uid / l->allow_uid to struct ipk_opts). */
	const char *const *options;
	/* example: an address of this transport that a test, the benchmark
	 * or a demo may listen on, "%s" standing for a unique name chosen by
	 * the caller ("fifo:///tmp/%s", "tcp://127.0.0.1:0"); no query.
	 * Read through ipk_scheme_url(). Required. */
	const char *example;
	/* variants: the named ways of running the transport (ipk_variant),
	 * each "<scheme>" or "<scheme>/<what>" with the query it stands for
	 * and the runs that include it (IPK_VARIANT_*), built with
	 * IPK__VARIANTS(...). NULL: one variant, the bare scheme, in every
	 * run its caps allow (not the crash matrix for IPK_CAP_THREADS or
	 * IPK_CAP_LOSSY: it kills processes and counts every message). */
	const struct ipk_variant *variants;

	/*
	 * listen: bind the address in `u` (also at l->u) with l->mode. Create
	 * named objects exclusively; a live listener on the same address:
	 * -EADDRINUSE; a stale object whose owner is dead: reclaim it. On
	 * failure, leave `l` in a state lclose can be called on. Does not block
	 * for long (no peer needed). Optional only for transports that cannot
	 * be named (pipe).
	 */
	int (*listen)(struct ipk_listener *l, const struct ipk__url *u);

	/*
	 * accept: wait until `deadline` for a peer, and fill `c` (whose core
	 * fields are set, private state zeroed). IPK_CAP_MULTI transports give
	 * one channel per dialer; others give their single channel once a peer
	 * has attached, and -EBUSY while that channel is open. On failure, `c`
	 * must be safe to pass to close. Required if listen is set.
	 */
	int (*accept)(
	    struct ipk_listener *l, struct ipk_chan *c, int64_t deadline);

	/* lfd: a descriptor readable when accept may succeed. Optional. */
	int (*lfd)(struct ipk_listener *l);

	/* lclose: release the listener's resources and, unless l->keep,
	 * remove its named objects. Must be safe after a failed listen.
	 * Required if listen is set. */
	void (*lclose)(struct ipk_listener *l);

	/*
	 * dial: connect `c` to the listener at `u`, waiting for it until
	 * `deadline` (-ENOENT or -ECONNREFUSED, with a sentence, when nobody
	 * listens by then). Must leave `c` safe to close on failure.
	 * Required.
	 */
	int (*dial)(
	    struct ipk_chan *c, const struct ipk__url *u, int64_t deadline);

	/*
	 * send: hand one message to the mechanism. The core has checked
	 * len <= c->max_msg; a mechanism limit below that gives -EMSGSIZE with
	 * a sentence that names the limit and the option that would fit.
	 * IPK_ECLOSED when the peer is gone and the message cannot be queued
	 * (transports with IPK_CAP_PERSIST may queue without a peer).
	 * Required.
	 */
	int (*send)(struct ipk_chan *c, const void *buf, size_t len,
	    uint32_t type, int64_t deadline);

	/*
	 * recv: take one message. cap too small: -EMSGSIZE, *len = size
	 * needed, message left queued. Messages queued before the peer died
	 * come first; then IPK_ECLOSED. A message over c->max_msg announced by
	 * the peer is dropped without allocating and gives -EMSGSIZE; the
	 * channel stays usable. Required.
	 */
	int (*recv)(struct ipk_chan *c, void *buf, size_t cap, size_t *len,
	    uint32_t *type, int64_t deadline);

	/* recv_type: recv only a message of `type`, in the kernel. Optional:
	 * NULL makes ipk_recv_type return -ENOTSUP. */
	int (*recv_type)(struct ipk_chan *c, uint32_t type, void *buf,
	    size_t cap, size_t *len, int64_t deadline);

	/*
	 * Zero-copy: all four or none. NULL: the core emulates them with a
	 * buffer of its own through send/recv. loan reserves len bytes (the
	 * core checked len <= max_msg) and gives a pointer valid until commit
	 * or close; commit publishes len (<= loaned) bytes; peek points at the
	 * next message in place until release. The core guarantees at most
	 * one outstanding loan and one outstanding peek.
	 */
	int (*loan)(
	    struct ipk_chan *c, size_t len, void **buf, int64_t deadline);
	int (*commit)(struct ipk_chan *c, size_t len, uint32_t type);
	int (*peek)(struct ipk_chan *c, const void **buf, size_t *len,
	    uint32_t *type, int64_t deadline);
	int (*release)(struct ipk_chan *c);

	/* toobig: the sentence for a message of `len` > c->max_msg bytes when
	 * the transport lowered max_msg to a limit of its mechanism: record it
	 * with ipk__err, naming the limit and the option that would fit, and
	 * return -EMSGSIZE. Optional: NULL names maxmsg=. */
	int (*toobig)(struct ipk_chan *c, size_t len);

	/* fd: a descriptor readable when recv may succeed (level hint), owned
	 * by the channel, or a negative code. Required. */
	int (*fd)(struct ipk_chan *c);

	/* ready: 1 when recv would not wait (a message is buffered in the
	 * library or the ring, or the peer is known to be gone), else 0.
	 * Never blocks. Used by ipk_poll before and after it sleeps on the
	 * fds; it must be implemented by every transport that reads ahead
	 * or whose descriptor is only a doorbell. Optional: NULL means the
	 * descriptor alone tells. */
	int (*ready)(struct ipk_chan *c);

	/* doorbell: 1 when fd is only a doorbell that may stay readable after
	 * the message it announced was taken; ipk_poll then trusts `ready`
	 * (required with it) rather than the descriptor. */
	unsigned char doorbell;

	/*
	 * drain: wait until `deadline` for the peer to have in hand what was
	 * sent (ipk_drain): a byte stream shuts down its sending side and
	 * waits for the peer's EOF or for its own bytes to be read
	 * (ipk__stream_drain). 0, IPK_ECLOSED when the peer left first,
	 * -ETIMEDOUT. Optional: NULL means a message send accepted is
	 * already where the peer takes it (queues, shared memory) or can
	 * never be known to be (udp), and ipk_drain returns 0.
	 */
	int (*drain)(struct ipk_chan *c, int64_t deadline);
	/* writable: 1 when send with an expired deadline would not say
	 * -ETIMEDOUT (the mechanism has room, or the send side has failed
	 * and send reports it), else 0. Never blocks, touches no send
	 * state (a receiving thread may ask). wfd: the descriptor to sleep
	 * on meanwhile and, in *events, the poll(2) events that mean "ask
	 * again". Both or neither; NULL: ipk_poll reports IPK_POLLOUT at
	 * once. */
	int (*writable)(struct ipk_chan *c);
	int (*wfd)(struct ipk_chan *c, short *events);

	/* sp_wire: the transport speaks the SP protocols of nng/nanomsg
	 * (core/pattern.c then frames patterns as SP pub0/sub0, req0/rep0,
	 * push0/pull0 do: no sequence header). The transport reads
	 * ?pattern= itself to announce the protocol at connect. */
	unsigned char sp_wire;

	/*
	 * pattern: open a pattern channel that the mechanism serves itself
	 * (shm's broadcast ring, a broker), instead of core/pattern.c's
	 * channel over plain channels. `bind` is 1 for ipk_bind, 0 for
	 * ipk_dial; `role` is the value of ?pattern= ("pub", ...); `u` is
	 * the parsed `url`, whose options the op checks itself. Returns 0
	 * with *out set, a negative code with a sentence, or
	 * IPK__PATTERN_NOTMINE to leave the role to core/pattern.c (which
	 * needs IPK_CAP_PATTERNS). Optional.
	 */
	int (*pattern)(const char *url, const struct ipk__url *u,
	    const struct ipk_opts *o, int bind, const char *role,
	    struct ipk_chan **out);

	/*
	 * For channels a pattern op made (shm's, a broker's). npeers:
	 * ipk_npeers. subscribe: ipk_subscribe (for a broker the topic
	 * filter is `prefix`, len bytes, not NUL-terminated). flush:
	 * ipk_flush, wait until `deadline` for what send accepted to be in
	 * the mechanism's hands. Optional: ipk_npeers then says 1,
	 * ipk_subscribe -EINVAL, ipk_flush 0.
	 */
	int (*npeers)(struct ipk_chan *c);
	int (*subscribe)(struct ipk_chan *c, const void *prefix, size_t len);
	int (*flush)(struct ipk_chan *c, int64_t deadline);

	/* missing: NULL when the transport can be used in this process, else
	 * a sentence (static storage) saying what to install: a transport
	 * served by an optional part (mqtt) that is not there. Optional. */
	const char *(*missing)(void);

	/* peer: credentials of the peer. Optional (-ENOTSUP). */
	int (*peer)(struct ipk_chan *c, struct ipk_peer *out);

	/* close: release everything, never block for long, remove named
	 * objects the channel owns unless c->keep. Must be safe on a channel
	 * whose dial/accept failed half-way. Required. */
	void (*close)(struct ipk_chan *c);

	/*
	 * Operating (ipckit ls/stat/rm/gc), from a process that is not an
	 * endpoint. Both or neither; a transport with named kernel objects
	 * has both, and only such transports are registered in the run
	 * directory (core/ledger.h).
	 *
	 * inspect: describe the objects of address `u` without disturbing
	 * them (no open that a peer could notice, no lock taken): fill o->uid,
	 * o->mode, o->objects[] and what the mechanism tells of queued_msgs,
	 * queued_bytes, cap_msgs, cap_bytes (the core preset them to -1).
	 * 0, -ENOENT when the main object does not exist, or -errno. Never
	 * blocks.
	 *
	 * remove: unlink every named object of `u`. Unless `force`, first
	 * ask the mechanism's own liveness (its OFD locks, a connect) and
	 * return -EBUSY with a sentence when a live endpoint holds them: the
	 * core has already refused when the run directory shows one, this
	 * covers objects of endpoints that were never registered. Objects
	 * ipckit did not make (no magic or lock record): IPK_EFOREIGN, left
	 * alone. 0 when something was removed, -ENOENT when nothing existed.
	 * Never blocks.
	 */
	int (*inspect)(const struct ipk__url *u, struct ipk_objinfo *o);
	int (*remove)(const struct ipk__url *u, int force);
};

/* A variant list for a table's .variants, {0}-terminated (static storage:
 * a compound literal at file scope). */
#define IPK__VARIANTS(...) ((const struct ipk_variant[]){__VA_ARGS__, {0}})
#define IPK__VARIANT_ALL                                                       \
	(IPK_VARIANT_CONTRACT | IPK_VARIANT_CRASH | IPK_VARIANT_BENCH)

/* Pattern channels (core/pattern.c) are built by the core from plain
 * channels of a transport with IPK_CAP_PATTERNS; chan.c opens those with
 * `extra` bytes of room above max_msg for the pattern's own header. */
IPK__HIDDEN int ipk__listen_ex(const char *url, const struct ipk_opts *o,
    size_t extra, struct ipk_listener **out);
IPK__HIDDEN int ipk__dial_ex(const char *url, const struct ipk_opts *o,
    size_t extra, struct ipk_chan **out);
/* A channel of table `t` with the URL and limits given, not connected
 * (chan.c); freed by ipk_close. */
IPK__HIDDEN struct ipk_chan *ipk__chan_new(const struct ipk__transport *t,
    const char *url, size_t max_msg, unsigned mode);
/* The pattern op's "not this role": core/pattern.c takes it. */
#define IPK__PATTERN_NOTMINE 1
/* Open a pattern channel: bind (ipk_bind) or dial. */
IPK__HIDDEN int ipk__pattern_open(
    const char *url, const struct ipk_opts *o, int bind, struct ipk_chan **out);
/* The table of pattern channels, and the transport under one. */
IPK__HIDDEN extern const struct ipk__transport ipk__pattern_tr;
IPK__HIDDEN const struct ipk__transport *ipk__pattern_base(struct ipk_chan *c);
/* The option names only pattern URLs take. */
IPK__HIDDEN extern const char *const ipk__pattern_opts[];

/* The registry (src/core/registry.c). */
IPK__HIDDEN const struct ipk__transport *
ipk__transport_find(const char *scheme);
/* Walk every transport: i = 0, 1, ... until NULL. */
IPK__HIDDEN const struct ipk__transport *ipk__transport_at(size_t i);
/* Check a table's required ops; 0 or -EINVAL naming the missing op. */
IPK__HIDDEN int ipk__transport_check(const struct ipk__transport *t);

#endif /* IPK_CORE_TRANSPORT_H */
