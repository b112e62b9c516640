/* SPDX-License-Identifier: MIT */
/*
 * segment.c - making, validating and attaching the two-ring segment of
 * shm:// and memfd:// (segment.h), and the channel ops both forward to
 * the rings unchanged.
 */
#include "core/testhook.h"
#include "shm/segment.h"

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

void
ipk__seg_init(struct ipk__seg *g)
{
	memset(g, 0, sizeof(*g));
	g->fd = -1;
}

void
ipk__seg_fini(struct ipk__seg *g)
{
	if (g->map)
		munmap(g->map, g->len);
	g->map = NULL;
	g->hdr = NULL;
	ipk__close_fd(&g->fd);
}

static int
seg_mmap(struct ipk__seg *g, const char *where)
{
	g->map =
	    mmap(NULL, g->len, PROT_READ | PROT_WRITE, MAP_SHARED, g->fd, 0);
	if (g->map != MAP_FAILED)
		return 0;
	g->map = NULL;
	return ipk__err(-errno, "%s: mmap failed: %s", where, strerror(errno));
}

int
ipk__seg_create(struct ipk__seg *g, uint64_t cap, int wait, const char *where)
{
	int rv;
	g->len = IPK__SEG_DATA_OFF + 2 * cap;
	g->cap = cap;
	/* Reserve every page now: a full tmpfs fails here, not with a
	 * SIGBUS on some later write. */
	rv = posix_fallocate(g->fd, 0, (off_t)g->len);
	if (rv != 0)
		return ipk__err(-rv,
		    "%s: cannot reserve %zu bytes of shared "
		    "memory (%s); a smaller size= needs less",
		    where, g->len,
		    rv == ENOSPC ? "no space left" : strerror(rv));
	if ((rv = seg_mmap(g, where)) < 0)
		return rv;
	g->hdr = (struct ipk__seg_hdr *)(void *)g->map;
	g->hdr->version = IPK__SEG_VERSION;
	g->hdr->wait = (uint32_t)wait;
	g->hdr->seg_size = g->len;
	g->hdr->ring_cap = cap;
	for (int i = 0; i < 2; i++)
		if ((rv = ipk__ring_ctl_init(ipk__seg_ctl(g, i), 1)) < 0)
			return rv;
	/* Release: the header and controls above before the magic that
	 * tells the other side the segment is ready (ipk__seg_map). */
	__atomic_store_n(&g->hdr->magic, IPK__SEG_MAGIC, __ATOMIC_RELEASE);
	return 0;
}

int
ipk__seg_map(struct ipk__seg *g, off_t size, const char *where)
{
	int rv;
	if (IPK__CHECK("shm.seg_small", size < (off_t)IPK__SEG_DATA_OFF))
		return size == 0 ? 1
				 : ipk__err(IPK_ECORRUPT,
				       "%s: %lld bytes "
				       "is too small for a segment",
				       where, (long long)size);
	g->len = (size_t)size;
	if ((rv = seg_mmap(g, where)) < 0)
		return rv;
	struct ipk__seg_hdr *h = (struct ipk__seg_hdr *)(void *)g->map;
	/* Acquire: pairs with the release store of magic in
	 * ipk__seg_create. */
	uint64_t magic = __atomic_load_n(&h->magic, __ATOMIC_ACQUIRE);
	uint32_t ver = __atomic_load_n(&h->version, __ATOMIC_RELAXED);
	uint64_t cap = __atomic_load_n(&h->ring_cap, __ATOMIC_RELAXED);
	uint64_t total = __atomic_load_n(&h->seg_size, __ATOMIC_RELAXED);
	if (magic == 0)
		return 1;
	if (IPK__CHECK("shm.hdr_magic", magic != IPK__SEG_MAGIC))
		return ipk__err(IPK_EFOREIGN,
		    "%s was not made by ipckit "
		    "(bad magic)",
		    where);
	if (IPK__CHECK("shm.hdr_version", ver != IPK__SEG_VERSION))
		return ipk__err(IPK_ECORRUPT,
		    "%s has layout version %u; this "
		    "library reads version %u",
		    where, ver, IPK__SEG_VERSION);
	if (IPK__CHECK("shm.hdr_cap",
		cap < IPK__SEG_MIN_CAP || cap > IPK__RING_MAX ||
		    (cap & (cap - 1))))
		return ipk__err(IPK_ECORRUPT,
		    "%s: header says %llu-byte rings, "
		    "not a power of two from 4K to 1G",
		    where, (unsigned long long)cap);
	if (IPK__CHECK("shm.hdr_size",
		total != IPK__SEG_DATA_OFF + 2 * cap ||
		    total != (uint64_t)size))
		return ipk__err(IPK_ECORRUPT,
		    "%s: header says %llu-byte rings "
		    "(a %llu-byte segment) and %llu bytes; the object has "
		    "%lld",
		    where, (unsigned long long)cap,
		    (unsigned long long)(IPK__SEG_DATA_OFF + 2 * cap),
		    (unsigned long long)total, (long long)size);
	g->cap = cap;
	g->hdr = h;
	return 0;
}

static void
seg_ring_view(struct ipk__seg *g, int ring, struct ipk__ring *r)
{
	memset(r, 0, sizeof(*r));
	r->ctl = ipk__seg_ctl(g, ring);
	r->data = g->map + IPK__SEG_DATA_OFF + (size_t)ring * g->cap;
	r->cap = g->cap;
	r->mask = g->cap - 1;
}

int
ipk__seg_attach(
    struct ipk_chan *c, struct ipk__seg *g, struct ipk__ring_chan *h, int side)
{
	seg_ring_view(g, side, &h->tx);
	seg_ring_view(g, !side, &h->rx);
	if (ipk__ring_attach_producer(&h->tx) < 0 ||
	    ipk__ring_attach_consumer(&h->rx) < 0)
		return ipk__err(
		    IPK_ECORRUPT, "%s: ring indices are invalid", h->name);
	struct ipk__seg_ep *ep = &g->hdr->ep[side];
	__atomic_store_n(&ep->pid, (uint64_t)getpid(), __ATOMIC_RELAXED);
	__atomic_store_n(&ep->start, ipk__seg_start_time(), __ATOMIC_RELAXED);
	uint64_t max = ipk__ring_max_msg(g->cap);
	if (c->max_msg > max)
		c->max_msg = (size_t)max;
	return 0;
}

uint64_t
ipk__seg_start_time(void)
{
	char buf[1024];
	int fd = open("/proc/self/stat", O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return 0;
	ssize_t n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return 0;
	buf[n] = '\0';
	char *p = strrchr(buf, ')');
	for (int field = 2; p && field < 22; field++)
		p = strchr(p + 1, ' ');
	return p ? strtoull(p + 1, NULL, 10) : 0;
}

/* --- Ops forwarded to the ring pair -------------------------------------- */

static struct ipk__ring_chan *
seg_rc(struct ipk_chan *c)
{
	return ipk__chan_priv(c);
}

int
ipk__segop_send(struct ipk_chan *c, const void *buf, size_t len, uint32_t type,
    int64_t deadline)
{
	return ipk__ring_chan_send(seg_rc(c), buf, len, type, deadline);
}

int
ipk__segop_recv(struct ipk_chan *c, void *buf, size_t cap, size_t *len,
    uint32_t *type, int64_t deadline)
{
	return ipk__ring_chan_recv(
	    seg_rc(c), c->max_msg, buf, cap, len, type, deadline);
}

int
ipk__segop_loan(struct ipk_chan *c, size_t len, void **buf, int64_t deadline)
{
	return ipk__ring_chan_loan(seg_rc(c), len, buf, deadline);
}

int
ipk__segop_commit(struct ipk_chan *c, size_t len, uint32_t type)
{
	ipk__ring_commit(&seg_rc(c)->tx, len, type);
	return 0;
}

int
ipk__segop_peek(struct ipk_chan *c, const void **buf, size_t *len,
    uint32_t *type, int64_t deadline)
{
	return ipk__ring_chan_peek(seg_rc(c), buf, len, type, deadline);
}

int
ipk__segop_release(struct ipk_chan *c)
{
	ipk__ring_release(&seg_rc(c)->rx);
	return 0;
}

int
ipk__segop_toobig(struct ipk_chan *c, size_t len)
{
	return ipk__ring_chan_toobig(seg_rc(c), c->max_msg, len);
}

int
ipk__segop_ready(struct ipk_chan *c)
{
	return ipk__ring_chan_ready(seg_rc(c));
}
