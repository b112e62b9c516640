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
 * Framings without a header of fixed size (raw: what one read returns is
 * a message; lines: up to a newline) will need an op that finds a
 * message's end in the read-ahead buffer; they add it here, NULL for the
 * header framings below.
 */
struct ipk__framing {
	/* Bytes of header before every payload, 1..IPK__FRAME_HDR_MAX. */
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
	/* What the receiver is told when decode refuses, right after
	 * "garbage on the stream" (" (bad frame header): ..."). */
	const char *garbage;
};

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
	size_t stash_len;
	/* Send side. */
	int tx_err; /* sticky failure of the send side */
	unsigned char *pend; /* unsent rest of a stalled frame */
	size_t pend_cap, pend_off, pend_len;
};

/* Set up with default configuration (hup_fd -1, no alive check, ipckit's
 * own framing). */
IPK__HIDDEN void
ipk__stream_init(struct ipk__stream *s, int rfd, int wfd, size_t max_msg);
/* Speak framing `f` (static storage) instead, before any send or recv. */
IPK__HIDDEN void
ipk__stream_framing(struct ipk__stream *s, const struct ipk__framing *f);
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
/* Push out a stalled frame's rest: 0 when nothing is pending. */
IPK__HIDDEN int ipk__stream_flush(struct ipk__stream *s, int64_t deadline);
/* 1 when recv will not block: a whole message is already buffered, or the
 * receive side has failed for good (recv reports why). */
IPK__HIDDEN int ipk__stream_buffered(const struct ipk__stream *s);

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
