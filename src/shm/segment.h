/* SPDX-License-Identifier: MIT */
/*
 * segment.h - the shared segment behind shm:// and memfd://: a header and
 * two rings (shm/ring.h), one per direction, laid out the same way whether
 * the memory is a named /dev/shm object or a sealed memfd.
 *
 * Layout (offsets fixed by the ring capacity `cap`, never read from the
 * segment): [0, 4096) struct ipk__seg_hdr; 4096 ring 0 control (listener ->
 * dialer); 4608 ring 1 control (dialer -> listener); 8192 ring 0 data;
 * 8192 + cap ring 1 data; total 8192 + 2 cap bytes.
 *
 * Also here: the channel ops every segment transport forwards to the ring
 * pair unchanged (ipk__segop_*). They need the transport's private channel
 * state to begin with its struct ipk__ring_chan.
 */
#ifndef IPK_SHM_SEGMENT_H
#define IPK_SHM_SEGMENT_H

#include "core/transport.h"
#include "shm/ring.h"

#include <sys/types.h>

#define IPK__SEG_MAGIC 0x00314d48534b5049ull /* "IPKSHM1" */
#define IPK__SEG_VERSION 2u
#define IPK__SEG_CTL_OFF 4096u
#define IPK__SEG_DATA_OFF 8192u
#define IPK__SEG_MIN_CAP 4096u
#define IPK__SEG_DEFAULT_CAP (1u << 20)

struct ipk__seg_ep {
	uint64_t pid, start; /* for people and `ipckit ls`; never trusted */
};

struct ipk__seg_hdr {
	uint64_t magic; /* stored last at creation (release) */
	uint32_t version;
	uint32_t wait; /* the listener's strategy: the dialer's default */
	uint64_t seg_size; /* IPK__SEG_DATA_OFF + 2 * ring_cap */
	uint64_t ring_cap; /* data bytes of each ring, a power of two */
	uint32_t dial_gen; /* shm: futex word bumped by every dialer attach */
	uint32_t accepted; /* shm: the listener side has had a channel */
	uint32_t linger; /* shm: listener gone, unread data for the dialer */
	uint32_t unused;
	struct ipk__seg_ep ep[2]; /* [0] listener side, [1] dialer */
	/* shm: the doorbell FIFO each side made (device, inode), so that
	 * only these are ever unlinked at NAME.bell0/1 */
	struct {
		uint64_t dev, ino;
	} bell[2];
};

/* One process's mapping of a segment. */
struct ipk__seg {
	int fd;
	unsigned char *map;
	size_t len;
	uint64_t cap;
	struct ipk__seg_hdr *hdr;
};

IPK__HIDDEN void ipk__seg_init(struct ipk__seg *g);
/* Unmap and close; safe on a half-made or already finished segment. */
IPK__HIDDEN void ipk__seg_fini(struct ipk__seg *g);

static inline struct ipk__ring_ctl *
ipk__seg_ctl(struct ipk__seg *g, int ring)
{
	return (struct ipk__ring_ctl *)(void *)(g->map + IPK__SEG_CTL_OFF +
	    (size_t)ring * IPK__RING_CTL_SIZE);
}

/*
 * Make a segment with rings of `cap` bytes on the empty file g->fd: reserve
 * every page (posix_fallocate, so a full tmpfs fails here and never with a
 * SIGBUS later), map it, write the header and both ring controls, and
 * publish the magic last. `where` names the object in sentences.
 */
IPK__HIDDEN int
ipk__seg_create(struct ipk__seg *g, uint64_t cap, int wait, const char *where);

/*
 * Map the `size`-byte file g->fd and validate its header: magic, version,
 * ring size and total size, each loaded once. 0 when valid; 1 when it is
 * still being made (size below a header, or magic not yet stored); else
 * IPK_EFOREIGN or IPK_ECORRUPT with a sentence naming `where`.
 */
IPK__HIDDEN int ipk__seg_map(struct ipk__seg *g, off_t size, const char *where);

/*
 * Attach channel `h` to the rings as `side` (0 listener side: writes ring
 * 0; 1 dialer: writes ring 1): adopt and validate the indices, and lower
 * c->max_msg to what a ring holds. Resets both ring views (set h->tx.bell
 * afterwards); h->name, alive and wait are the caller's. 0 or IPK_ECORRUPT
 * with a sentence.
 */
IPK__HIDDEN int ipk__seg_attach(
    struct ipk_chan *c, struct ipk__seg *g, struct ipk__ring_chan *h, int side);

/* Field 22 of /proc/self/stat: our start time, which tells a reused pid;
 * 0 when unknown. */
IPK__HIDDEN uint64_t ipk__seg_start_time(void);

/* Ops forwarded to the ring pair at the start of the channel state. */
IPK__HIDDEN int ipk__segop_send(struct ipk_chan *c, const void *buf, size_t len,
    uint32_t type, int64_t deadline);
IPK__HIDDEN int ipk__segop_recv(struct ipk_chan *c, void *buf, size_t cap,
    size_t *len, uint32_t *type, int64_t deadline);
IPK__HIDDEN int
ipk__segop_loan(struct ipk_chan *c, size_t len, void **buf, int64_t deadline);
IPK__HIDDEN int
ipk__segop_commit(struct ipk_chan *c, size_t len, uint32_t type);
IPK__HIDDEN int ipk__segop_peek(struct ipk_chan *c, const void **buf,
    size_t *len, uint32_t *type, int64_t deadline);
IPK__HIDDEN int ipk__segop_release(struct ipk_chan *c);
IPK__HIDDEN int ipk__segop_toobig(struct ipk_chan *c, size_t len);
IPK__HIDDEN int ipk__segop_ready(struct ipk_chan *c);

#endif /* IPK_SHM_SEGMENT_H */
