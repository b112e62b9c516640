/* SPDX-License-Identifier: MIT */
/*
 * nng.c - the SP ("scalability protocols") wire format of nng and nanomsg,
 * PAIR v0 protocol, so that ipckit talks to their programs: nng+tcp://
 * (sp-tcp-mapping) and nng+ipc:///path (sp-ipc-mapping, a unix stream
 * socket). Two tables share every op.
 *
 * On connect each side sends at once the 8-byte header 00 'S' 'P' 00,
 * the protocol id (u16 big-endian; pair0 = 0x0010), 00 00, and reads the
 * peer's. A peer with another magic, version or protocol is refused with
 * -EPROTO and a sentence naming what it sent. Messages then travel in
 * core/frame.c's streams, with the SP framing below in place of ipckit's
 * header: u64 big-endian length (TCP), preceded by a 0x01 byte over IPC.
 * pair0 adds no header of its own; ?proto=pair1 speaks
 * PAIR v1 (0x0011), whose messages start with a u32 hop count (we send 1
 * and accept up to 255; we forward nothing, so no TTL applies).
 * ?pattern=pub|sub|req|rep|push|pull announces pub0 (0x20), sub0 (0x21),
 * req0 (0x30), rep0 (0x31), push0 (0x50) or pull0 (0x51) instead and
 * expects the partner protocol (pub0 for sub0, ...); the protocols' own
 * headers (req0's request id) are core/pattern.c's. The
 * ipckit message type
 * does not exist on this wire: send drops it and recv gives 0
 * (IPK_CAP_NOTYPES).
 */
#include "core/frame.h"
#include "core/sock.h"
#include "core/testhook.h"
#include "core/transport.h"

#include <errno.h>
#include <poll.h>
#include <string.h>
#include <sys/socket.h>

#define NNG_PAIR0 0x0010u
#define NNG_PAIR1 0x0011u
#define NNG_HDR 8
/* A peer that connects but never sends its header is given this long. */
#define NNG_HANDSHAKE_MS 10000

/* The SP framing's settings (struct ipk__framing's opt). */
#define NNG_SP_IPC 0x1u /* the message-type byte 0x01 leads (IPC) */
#define NNG_SP_HOP 0x2u /* pair1: a u32 big-endian hop count leads the body */
#define NNG_HOP_MAX 0xff

struct nng_chan {
	struct ipk__stream s;
	int fd;
};

struct nng_lst {
	int fd;
	unsigned proto;
	int ipc;
	uint64_t ino;
	char *path;
};

static int
nng_is_ipc(const struct ipk__transport *t)
{
	return t->scheme[4] == 'i';
}

static const char *
nng_proto_name(unsigned id)
{
	static const struct {
		unsigned id;
		const char *name;
	} names[] = {
	    {0x10, "pair0"},
	    {0x11, "pair1"},
	    {0x20, "pub"},
	    {0x21, "sub"},
	    {0x30, "req"},
	    {0x31, "rep"},
	    {0x50, "push"},
	    {0x51, "pull"},
	    {0x62, "surveyor"},
	    {0x63, "respondent"},
	    {0x70, "bus"},
	};
	for (size_t i = 0; i < IPK__ARRAY_LEN(names); i++)
		if (names[i].id == id)
			return names[i].name;
	return "unknown";
}

/* Move `n` bytes one way on the socket before the deadline. */
static int
nng_xfer(int fd, unsigned char *p, size_t n, int out, int64_t deadline)
{
	size_t done = 0;
	while (done < n) {
		ssize_t r = out
		    ? send(fd, p + done, n - done, MSG_NOSIGNAL | MSG_DONTWAIT)
		    : recv(fd, p + done, n - done, MSG_DONTWAIT);
		if (r > 0) {
			done += (size_t)r;
			continue;
		}
		if (r == 0)
			return ipk__err(IPK_ECLOSED,
			    "peer closed during the "
			    "SP handshake (%zu of %d header bytes)",
			    done, NNG_HDR);
		if (errno == EINTR)
			continue;
		if (errno == EPIPE || errno == ECONNRESET)
			return ipk__err(IPK_ECLOSED,
			    "peer closed during the "
			    "SP handshake");
		if (errno != EAGAIN)
			return -errno;
		int w = ipk__poll1(fd, out ? POLLOUT : POLLIN, deadline, -1);
		if (w < 0)
			return w;
		if (w == 0 && ipk__expired(deadline))
			return ipk__err(-ETIMEDOUT,
			    "peer sent no SP header "
			    "in time");
	}
	return 0;
}

/* The protocol of a pattern's role (core/pattern.c), or 0. */
static unsigned
nng_pattern_proto(const char *role)
{
	static const struct {
		const char *role;
		unsigned id;
	} roles[] = {
	    {"pub", 0x20},
	    {"sub", 0x21},
	    {"req", 0x30},
	    {"rep", 0x31},
	    {"push", 0x50},
	    {"pull", 0x51},
	};
	for (size_t i = 0; i < IPK__ARRAY_LEN(roles); i++)
		if (!strcmp(roles[i].role, role))
			return roles[i].id;
	return 0;
}

/* The protocol the peer of `proto` speaks: pairs talk to their own kind,
 * the others to their partner (pub0 0x20 and sub0 0x21, ...). */
static unsigned
nng_partner(unsigned proto)
{
	return proto == NNG_PAIR0 || proto == NNG_PAIR1 ? proto : proto ^ 1u;
}

/* The protocol asked for by ?pattern= or ?proto= (pair0 when absent). */
static int
nng_proto(const struct ipk__url *u, unsigned *proto)
{
	const char *v;
	*proto = NNG_PAIR0;
	if (ipk__url_str(u, "pattern", &v) == 0) {
		*proto = nng_pattern_proto(v);
		return *proto
		    ? 0
		    : ipk__err(-EINVAL, "%s: unknown pattern '%s'", u->text, v);
	}
	if (ipk__url_str(u, "proto", &v) == 1 || !strcmp(v, "pair0"))
		return 0;
	if (!strcmp(v, "pair1")) {
		*proto = NNG_PAIR1;
		return 0;
	}
	return ipk__err(-EINVAL,
	    "%s: option proto=%s: only pair0 and pair1 "
	    "are supported",
	    u->text, v);
}

/* SP message headers, for core/frame.c's streams. No type travels: send
 * drops it, recv gives 0. pair1's hop count is sent as 1 and checked
 * (<= 255) and removed on receipt; it counts in the SP length. */
static void
nng_sp_encode(const struct ipk__framing *f, unsigned char *hdr, uint32_t type,
    uint64_t len)
{
	size_t n = 0;
	(void)type;
	if (f->opt & NNG_SP_IPC)
		hdr[n++] = 0x01;
	if (f->opt & NNG_SP_HOP)
		len += 4;
	for (int i = 7; i >= 0; i--)
		hdr[n++] = (unsigned char)(len >> (8 * i));
	if (f->opt & NNG_SP_HOP) {
		hdr[n++] = 0;
		hdr[n++] = 0;
		hdr[n++] = 0;
		hdr[n++] = 1;
	}
}

static int
nng_sp_decode(const struct ipk__framing *f, const unsigned char *hdr,
    uint32_t *type, uint64_t *len)
{
	if (f->opt & NNG_SP_IPC) {
		if (IPK__CHECK("sp.ipc_type", hdr[0] != 0x01))
			return -EBADMSG;
		hdr++;
	}
	uint64_t l = 0;
	for (int i = 0; i < 8; i++)
		l = l << 8 | hdr[i];
	if (IPK__CHECK("sp.sane", l > IPK__FRAME_SANE))
		return -EBADMSG;
	if (f->opt & NNG_SP_HOP) {
		uint32_t hop = (uint32_t)hdr[8] << 24 | (uint32_t)hdr[9] << 16 |
		    (uint32_t)hdr[10] << 8 | hdr[11];
		if (IPK__CHECK("sp.hop_len", l < 4) ||
		    IPK__CHECK("sp.hop_max", hop > NNG_HOP_MAX))
			return -EBADMSG;
		l -= 4;
	}
	*type = 0;
	*len = l;
	return 0;
}

/* One framing per setting, indexed by opt: a u64 length, after a type
 * byte over IPC, before pair1's hop count. */
#define NNG_SP(o)                                                              \
	[o] = {.hdr_len =                                                      \
		   8 + ((o)&NNG_SP_IPC ? 1 : 0) + ((o)&NNG_SP_HOP ? 4 : 0),    \
	    .opt = (o),                                                        \
	    .encode = nng_sp_encode,                                           \
	    .decode = nng_sp_decode,                                           \
	    .garbage = ": bad SP message header (length not sane, IPC type "   \
		       "byte not 0x01 or pair1 hop count over 255)"}
static const struct ipk__framing nng_sp[] = {
    NNG_SP(0),
    NNG_SP(NNG_SP_IPC),
    NNG_SP(NNG_SP_HOP),
    NNG_SP(NNG_SP_IPC | NNG_SP_HOP),
};

/* Exchange protocol headers and check the peer's. */
static int
nng_handshake(struct ipk_chan *c, int fd, unsigned proto, int64_t deadline)
{
	int64_t cap = ipk__now_ns() + (int64_t)NNG_HANDSHAKE_MS * 1000000;
	if (deadline > cap || ipk__expired(deadline))
		deadline = cap;
	unsigned char mine[NNG_HDR] = {0x00, 'S', 'P', 0x00,
	    (unsigned char)(proto >> 8), (unsigned char)proto, 0x00, 0x00};
	unsigned char peer[NNG_HDR];
	int rv = nng_xfer(fd, mine, sizeof(mine), 1, deadline);
	if (rv == 0)
		rv = nng_xfer(fd, peer, sizeof(peer), 0, deadline);
	if (rv < 0)
		return rv;
	if (IPK__CHECK("nng.hs_magic", memcmp(peer, mine, 4) != 0))
		return ipk__err(-EPROTO,
		    "peer is not an SP (nng/nanomsg) "
		    "endpoint: its header starts %02x %02x %02x %02x, expected "
		    "00 53 50 00",
		    peer[0], peer[1], peer[2], peer[3]);
	unsigned id = (unsigned)peer[4] << 8 | peer[5];
	if (IPK__CHECK("nng.hs_proto", id != nng_partner(proto)))
		return ipk__err(-EPROTO,
		    "peer speaks SP protocol 0x%04x (%s); "
		    "this end speaks %s (0x%04x)%s",
		    id, nng_proto_name(id), nng_proto_name(proto), proto,
		    id == NNG_PAIR0 || id == NNG_PAIR1 ? " (?proto=)" : "");
	if (IPK__CHECK("nng.hs_reserved", peer[6] || peer[7]))
		return ipk__err(-EPROTO,
		    "peer's SP header has non-zero "
		    "reserved bytes %02x %02x",
		    peer[6], peer[7]);
	struct nng_chan *n = ipk__chan_priv(c);
	n->fd = fd;
	ipk__stream_init(&n->s, fd, fd, c->max_msg);
	n->s.flags = IPK__STREAM_SOCK;
	ipk__stream_framing(&n->s,
	    &nng_sp[(nng_is_ipc(c->tr) ? NNG_SP_IPC : 0) |
		(proto == NNG_PAIR1 ? NNG_SP_HOP : 0)]);
	return 0;
}

static int
nng_path(const struct ipk__url *u)
{
	if (u->path[0] != '/' || *u->host)
		return ipk__err(-EINVAL,
		    "nng+ipc needs an absolute path: "
		    "nng+ipc:///dir/name");
	return 0;
}

static int
nng_listen(struct ipk_listener *l, const struct ipk__url *u)
{
	struct nng_lst *n = ipk__lst_priv(l);
	n->fd = -1;
	int rv = nng_proto(u, &n->proto);
	if (rv < 0)
		return rv;
	if (!nng_is_ipc(l->tr)) {
		rv = ipk__sock_bind_inet(u, SOCK_STREAM, &n->fd);
		return rv < 0 ? rv : ipk__sock_fix_port(l, u, n->fd);
	}
	rv = nng_path(u);
	if (rv < 0)
		return rv;
	n->path = ipk__strdup(u->path);
	if (!n->path)
		return -ENOMEM;
	if ((rv = ipk__sock_keep_check(l, n->path)) < 0)
		return rv;
	rv =
	    ipk__sock_listen_unix(l->ledger, n->path, l->mode, &n->fd, &n->ino);
	if (rv == 0)
		n->ipc = 1;
	return rv;
}

static int
nng_accept(struct ipk_listener *l, struct ipk_chan *c, int64_t deadline)
{
	struct nng_lst *n = ipk__lst_priv(l);
	struct nng_chan *nc = ipk__chan_priv(c);
	int fd, rv;
	nc->fd = -1;
	/* A dialer that hangs up during its handshake is not a channel:
	 * wait for the next one. */
	do {
		if ((rv = ipk__sock_accept(n->fd, deadline, &fd)) < 0)
			return rv;
		if (!nng_is_ipc(l->tr))
			ipk__sock_nodelay(fd);
		rv = nng_handshake(c, fd, n->proto, deadline);
		if (rv < 0)
			ipk__close_fd(&fd);
	} while (rv == IPK_ECLOSED && !ipk__expired(deadline));
	return rv == IPK_ECLOSED ? -ETIMEDOUT : rv;
}

static int
nng_lfd(struct ipk_listener *l)
{
	struct nng_lst *n = ipk__lst_priv(l);
	return n->fd;
}

static void
nng_lclose(struct ipk_listener *l)
{
	struct nng_lst *n = ipk__lst_priv(l);
	if (n->ipc && !l->keep)
		ipk__sock_unlink_unix(n->path, n->ino);
	ipk__free(n->path);
	n->path = NULL;
	ipk__close_fd(&n->fd);
}

static int
nng_dial(struct ipk_chan *c, const struct ipk__url *u, int64_t deadline)
{
	struct nng_chan *n = ipk__chan_priv(c);
	unsigned proto;
	int fd, rv;
	n->fd = -1;
	if ((rv = nng_proto(u, &proto)) < 0)
		return rv;
	if (nng_is_ipc(c->tr)) {
		if ((rv = nng_path(u)) < 0 ||
		    (rv = ipk__sock_dial_unix(u->path, deadline, &fd)) < 0)
			return rv;
	} else {
		rv = ipk__sock_dial_inet(u, SOCK_STREAM, deadline, &fd, NULL);
		if (rv < 0)
			return rv;
		ipk__sock_nodelay(fd);
	}
	rv = nng_handshake(c, fd, proto, deadline);
	if (rv < 0)
		ipk__close_fd(&fd);
	return rv;
}

static int
nng_send(struct ipk_chan *c, const void *buf, size_t len, uint32_t type,
    int64_t deadline)
{
	struct nng_chan *n = ipk__chan_priv(c);
	return ipk__stream_send(&n->s, buf, len, type, deadline);
}

static int
nng_recv(struct ipk_chan *c, void *buf, size_t cap, size_t *len, uint32_t *type,
    int64_t deadline)
{
	struct nng_chan *n = ipk__chan_priv(c);
	return ipk__stream_recv(&n->s, buf, cap, len, type, deadline);
}

static int
nng_ready(struct ipk_chan *c)
{
	struct nng_chan *n = ipk__chan_priv(c);
	return ipk__stream_buffered(&n->s);
}

static int
nng_fd(struct ipk_chan *c)
{
	struct nng_chan *n = ipk__chan_priv(c);
	return n->fd;
}

static int
nng_writable(struct ipk_chan *c)
{
	struct nng_chan *n = ipk__chan_priv(c);
	return ipk__stream_writable(&n->s);
}

static int
nng_wfd(struct ipk_chan *c, short *events)
{
	struct nng_chan *n = ipk__chan_priv(c);
	*events = POLLOUT;
	return n->fd;
}

/* nng+ipc only: the kernel knows who is at the other end. */
static int
nng_peer(struct ipk_chan *c, struct ipk_peer *out)
{
	struct nng_chan *n = ipk__chan_priv(c);
	struct ucred uc;
	socklen_t len = sizeof(uc);
	if (getsockopt(n->fd, SOL_SOCKET, SO_PEERCRED, &uc, &len) < 0)
		return -errno;
	out->pid = uc.pid;
	out->uid = uc.uid;
	out->gid = uc.gid;
	return 0;
}

/* A one-shot sender's last message reaches nanocat only if the socket
 * stays open until nanomsg has taken it: end our side and wait for the
 * peer to close (having read the bytes is not enough, even over IPC). */
static int
nng_drain(struct ipk_chan *c, int64_t deadline)
{
	struct nng_chan *n = ipk__chan_priv(c);
	return ipk__stream_drain(&n->s, deadline);
}

static void
nng_close(struct ipk_chan *c)
{
	struct nng_chan *n = ipk__chan_priv(c);
	if (n->fd >= 0) {
		(void)ipk__stream_flush(&n->s, 0);
		ipk__stream_fini(&n->s);
	}
	ipk__close_fd(&n->fd);
}

static const char *const nng_options[] = {"proto", NULL};

const struct ipk__transport ipk__transport_nng_tcp = {
    .scheme = "nng+tcp",
    .caps = IPK_CAP_REMOTE | IPK_CAP_MULTI | IPK_CAP_NOTYPES |
	IPK_CAP_PATTERNS | IPK_CAP_PUBSUB,
    .sp_wire = 1,
    .chan_size = sizeof(struct nng_chan),
    .lst_size = sizeof(struct nng_lst),
    .options = nng_options,
    .example = "nng+tcp://127.0.0.1:0",
    .variants = IPK__VARIANTS(
	{"nng+tcp", "", "block (loopback socket)", IPK__VARIANT_ALL},
	{"nng+tcp/pair1", "proto=pair1", "block (loopback socket)",
	    IPK_VARIANT_CONTRACT}),
    .listen = nng_listen,
    .accept = nng_accept,
    .lfd = nng_lfd,
    .lclose = nng_lclose,
    .dial = nng_dial,
    .send = nng_send,
    .recv = nng_recv,
    .fd = nng_fd,
    .ready = nng_ready,
    .drain = nng_drain,
    .writable = nng_writable,
    .wfd = nng_wfd,
    .close = nng_close,
};

/* --- Operating (nng+ipc): the socket file, ipckit's only when its
 * run-directory entry names it. --- */

static int
nng_inspect(const struct ipk__url *u, struct ipk_objinfo *o)
{
	int rv = nng_path(u);
	return rv < 0 ? rv : ipk__sock_inspect_unix(u, o);
}

static int
nng_remove(const struct ipk__url *u, int force)
{
	(void)force; /* ipk_remove asked the entry whether it lives */
	int rv = nng_path(u);
	return rv < 0 ? rv : ipk__sock_remove_unix(u);
}

const struct ipk__transport ipk__transport_nng_ipc = {
    .scheme = "nng+ipc",
    .caps = IPK_CAP_MULTI | IPK_CAP_NOTYPES | IPK_CAP_PATTERNS | IPK_CAP_PUBSUB,
    .sp_wire = 1,
    .chan_size = sizeof(struct nng_chan),
    .lst_size = sizeof(struct nng_lst),
    .options = nng_options,
    .example = "nng+ipc:///tmp/%s",
    .variants = IPK__VARIANTS({"nng+ipc", "", "block (poll on socket)",
	IPK_VARIANT_CONTRACT | IPK_VARIANT_BENCH}),
    .listen = nng_listen,
    .accept = nng_accept,
    .lfd = nng_lfd,
    .lclose = nng_lclose,
    .dial = nng_dial,
    .send = nng_send,
    .recv = nng_recv,
    .fd = nng_fd,
    .ready = nng_ready,
    .writable = nng_writable,
    .wfd = nng_wfd,
    .peer = nng_peer,
    .drain = nng_drain,
    .close = nng_close,
    .inspect = nng_inspect,
    .remove = nng_remove,
};
