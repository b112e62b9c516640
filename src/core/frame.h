/* SPDX-License-Identifier: MIT */
/*
 * frame.h - messages over a byte stream (pipe, FIFO, unix and TCP sockets).
 * Written once here and shared by every stream transport.
 *
 * Wire format (ipckit's own framing), little-endian, 16-byte header then
 * the payload:
 *   u32 magic "IPK1" | u32 type | u64 length
 * The receiver checks the magic (garbage -> -EBADMSG, and the stream is then
 * unusable) and the length against its own max_msg *before* allocating or
 * reading the payload: an oversized message is skipped and reported as
 * -EMSGSIZE, and the stream stays usable. A transport that speaks another
 * wire format plugs its header codec in as a framing (struct ipk__framing
 * below); everything else here serves it unchanged.
 *
 * Descriptors are non-blocking; waits use poll(2) until the deadline. While
 * waiting, the stream asks `alive` every IPK__SLICE_MS (when set) and watches
 * `hup_fd` for POLLHUP (when >= 0), so a dead peer is noticed even where the
 * mechanism itself stays silent.
 *
 * Sending: one writev per message when the mechanism has room. A frame that
 * stalls half-written at the deadline is kept in the stream's own buffer and
 * the send reports success: the rest goes out before the next message (the
 * bytes already written cannot be taken back). A send that could not start
 * before the deadline reports -ETIMEDOUT and wrote nothing.
 *
 * Receiving: reads ahead into a 64 KiB buffer, so several small messages
 * cost one read(2). A recv whose deadline expires mid-payload keeps the part
 * received and completes it on the next call.
 *
 * Threads: one sending and one receiving thread may use a stream at once;
 * the two sides share nothing but the read-only configuration.
 */
#ifndef IPK_CORE_FRAME_H
#define IPK_CORE_FRAME_H

#include "core/internal.h"

#define IPK__FRAME_MAGIC 0x314b5049u /* "IPK1" */
#define IPK__FRAME_HDR 16
/* The longest header of any framing. */
#define IPK__FRAME_HDR_MAX 16
/* Lengths above this are not a message of any peer: garbage. */
#define IPK__FRAME_SANE ((uint64_t)1 << 42)

#define IPK__STREAM_SOCK 0x1u /* sockets: send(MSG_NOSIGNAL)/recv */
/* A pipe or FIFO whose reader may be gone (no guard read end of ours):
 * writes keep SIGPIPE from the caller and give IPK_ECLOSED. */
#define IPK__STREAM_NOSIGPIPE 0x2u
/* SIOCOUTQ on the write descriptor counts the bytes the peer has not read
 * yet (unix stream sockets; on TCP it counts unacknowledged bytes). */
#define IPK__STREAM_OUTQ 0x4u

/*
 * A framing: how a message's boundary is written before it on the stream
 * and read back. The stream starts with ipckit's own; a transport with a
 * wire format of its own (nng.c: the SP mappings of nng/nanomsg) sets its
 * table with ipk__stream_framing() before the first send or recv. The
 * stream keeps everything else: read-ahead, partial reads and writes,
 * deadlines, the max_msg check before any allocation, skipping an
 * oversized message. One indirect call per message each way, no
 * allocation.
 *
 * Framings without a header (hdr_len 0: plain framings, for programs that
 * do not speak ipckit) set `scan` instead: it finds a message's end in
 * the read-ahead buffer. The stream then reads and writes the payload
 * bytes only, followed by `delim` when it is >= 0; no type travels (recv
 * gives 0). The header framings pay one predictable branch for this.
 */
struct ipk__framing {
	/* Bytes of header before every payload, 1..IPK__FRAME_HDR_MAX; 0
	 * for a plain framing (scan set). */
	size_t hdr_len;
	/* The framing's own settings, read by its ops (nng.c: IPC or TCP
	 * mapping, pair1 hop count). */
	unsigned opt;
	/* encode: write the header of a `len`-byte message of `type`
	 * (hdr_len bytes). Never fails: the core checked len <= max_msg. */
	void (*encode)(const struct ipk__framing *f, unsigned char *hdr,
	    uint32_t type, uint64_t len);
	/* decode: the header at `hdr` (hdr_len bytes, written by the other
	 * process: validate each field, each test an IPK__CHECK) into the
	 * type and payload length. 0, or -EBADMSG: the stream is garbage from
	 * here on. The length is checked against max_msg by the stream. */
	int (*decode)(const struct ipk__framing *f, const unsigned char *hdr,
	    uint32_t *type, uint64_t *len);
	/* scan (plain framings): find the end of the message that starts at
	 * p[0..n), n >= 1. 1: the payload is *len bytes and the message takes
	 * *used bytes of the stream (payload and delimiter); 0: its end has
	 * not arrived yet (the stream keeps the bytes and reads on; at EOF
	 * they are the last message). */
	int (*scan)(const struct ipk__framing *f, const unsigned char *p,
	    size_t n, size_t *len, size_t *used);
	/* The byte written after every payload by a plain framing (lines:
	 * '\n'), which a payload may then not contain; -1: none. */
	int delim;
	/* What the receiver is told when decode refuses, right after
	 * "garbage on the stream" (" (bad frame header): ..."). */
	const char *garbage;
};

/* The plain framings (?framing=raw|lines): raw, what one read returns is a
 * message (at most max_msg bytes); lines, up to and without a newline. */
IPK__HIDDEN extern const struct ipk__framing ipk__framing_raw;
IPK__HIDDEN extern const struct ipk__framing ipk__framing_lines;

/* ?framing= of `u`: *f = NULL for ipckit's own (absent or "ipk"), else
 * one of the plain framings `allowed` lets through (IPK__FRAMING_RAW,
 * IPK__FRAMING_LINES). 0, or -EINVAL with a sentence naming the choices. */
#define IPK__FRAMING_RAW 0x1u
#define IPK__FRAMING_LINES 0x2u
IPK__HIDDEN int ipk__url_framing(
    const struct ipk__url *u, unsigned allowed, const struct ipk__framing **f);

/*
 * Limits at connect (DESIGN promise 9): a stream whose two ends are ipckit
 * in its own framing starts each direction with a hello, 16 bytes:
 *   u32 magic "IPKH" | u32 version 1 | u64 max_msg of the sender
 * (ipk__stream_hello, at connect or accept). The receiving side reads it
 * before the first frame; the sending side needs it before its first send,
 * to refuse a message over the peer's limit with -EMSGSIZE, so whichever
 * thread comes first reads it (a claim word keeps the two apart; the sender
 * only ever reads the hello's own bytes). A peer that starts with a frame
 * ("IPK1") is an ipckit without hellos: its limit is unknown and the frame
 * is kept. Anything else is not ipckit: the sender gets -EPROTO and the
 * receiver -EBADMSG, each with a sentence naming what the peer sent. A peer
 * that says nothing for IPK__HELLO_MS after connect is not waited for
 * longer (nng.c gives the SP handshake as long).
 */
#define IPK__HELLO_MAGIC 0x484b5049u /* "IPKH" */
#define IPK__HELLO_MS 10000

struct ipk__stream {
	/* Configuration, set before use. */
	int rfd, wfd;
	unsigned flags;
	const struct ipk__framing *framing; /* never NULL */
	int hup_fd; /* -1: none */
	int (*alive)(void *arg); /* 1 alive, 0 dead, < 0 error; or NULL */
	void *arg;
	size_t max_msg;
	/* Receive side. */
	int rx_err; /* sticky failure of the receive side */
	unsigned char *rbuf;
	size_t rcap, roff, rlen;
	int have_hdr;
	uint32_t htype;
	uint64_t hlen;
	uint64_t skip; /* bytes of an oversized message left */
	unsigned char *stash; /* part of a payload received so far */
	size_t stash_len, stash_cap;
	int rx_hello; /* the peer's hello is still to be read (receive side) */
	/* Send side. */
	int tx_err; /* sticky failure of the send side */
	unsigned char *pend; /* unsent rest of a stalled frame */
	size_t pend_cap, pend_off, pend_len;
	size_t tx_lim; /* the peer's max_msg + 1; 0 until its hello is read */
	int64_t hello_by; /* give up waiting for the peer's hello then */
	/* The peer's hello, shared by the two sides (ipk__stream_hello). */
	size_t peer_max; /* atomic: 0 until read; SIZE_MAX not ipckit */
	int hello_claim; /* atomic: a side is reading hello_buf */
	size_t hello_got;
	unsigned char hello_buf[16];
};

/* Set up with default configuration (hup_fd -1, no alive check, ipckit's
 * own framing). */
IPK__HIDDEN void
ipk__stream_init(struct ipk__stream *s, int rfd, int wfd, size_t max_msg);
/* Speak framing `f` (static storage) instead, before any send or recv. */
IPK__HIDDEN void
ipk__stream_framing(struct ipk__stream *s, const struct ipk__framing *f);
/* Exchange limits at connect (see above): send our hello now, read the
 * peer's before the first send and the first recv. Call right after
 * ipk__stream_init, before any other thread uses the stream. */
IPK__HIDDEN void ipk__stream_hello(struct ipk__stream *s);
/* The peer's limit learned another way (fifo: its lock file), before a
 * send: a message over it is refused with -EMSGSIZE. 0: unknown. Send side
 * only. */
IPK__HIDDEN void ipk__stream_peer_max(struct ipk__stream *s, size_t max);
/* Free buffers; does not close the descriptors. */
IPK__HIDDEN void ipk__stream_fini(struct ipk__stream *s);
/* Forget a half-received frame and read-ahead (a new peer attached). */
IPK__HIDDEN void ipk__stream_reset_rx(struct ipk__stream *s);
/* Forget the unsent rest of a stalled frame. */
IPK__HIDDEN void ipk__stream_reset_tx(struct ipk__stream *s);

IPK__HIDDEN int ipk__stream_send(struct ipk__stream *s, const void *buf,
    size_t len, uint32_t type, int64_t deadline);
IPK__HIDDEN int ipk__stream_recv(struct ipk__stream *s, void *buf, size_t cap,
    size_t *len, uint32_t *type, int64_t deadline);
/*
 * Wait until the peer has taken what was sent (ipk_drain): the stalled
 * rest goes out, then, for sockets, the write side is shut down (the peer
 * reads EOF after our last message) and we wait for the peer to close or
 * shut down its own (POLLRDHUP); for pipes and FIFOs, until nothing we
 * wrote is left in the kernel. With IPK__STREAM_OUTQ an empty send queue
 * (SIOCOUTQ: on a unix socket, the bytes the peer has not read) is proof
 * enough. 0; IPK_ECLOSED when the peer went away with bytes unread;
 * -ETIMEDOUT.
 */
IPK__HIDDEN int ipk__stream_drain(struct ipk__stream *s, int64_t deadline);
/* Push out a stalled frame's rest: 0 when nothing is pending. */
IPK__HIDDEN int ipk__stream_flush(struct ipk__stream *s, int64_t deadline);
/* 1 when recv will not block: a whole message is already buffered, or the
 * receive side has failed for good (recv reports why). */
IPK__HIDDEN int ipk__stream_buffered(const struct ipk__stream *s);

/* ipk__stream_buffered for a transport's `ready` op, from the receiving
 * side: first takes the peer's hello if it is all there, so that a
 * descriptor readable with nothing but the hello does not count. */
IPK__HIDDEN int ipk__stream_ready(struct ipk__stream *s);
/* 1 when a send with an expired deadline would not say -ETIMEDOUT: the
 * descriptor has room, or the send side has failed (send reports it).
 * Reads no send state a sending thread changes. */
IPK__HIDDEN int ipk__stream_writable(const struct ipk__stream *s);

/* Header encode/decode, exposed for tests and fuzzing. */
IPK__HIDDEN void ipk__frame_encode(
    unsigned char hdr[IPK__FRAME_HDR], uint32_t type, uint64_t len);
/* 0, or -EBADMSG when the magic is wrong or the length is not sane. */
IPK__HIDDEN int ipk__frame_decode(
    const unsigned char hdr[IPK__FRAME_HDR], uint32_t *type, uint64_t *len);

#endif /* IPK_CORE_FRAME_H */
