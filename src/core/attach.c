/* SPDX-License-Identifier: MIT */
/*
 * attach.c - attachment facts of single-channel named transports, kept as
 * OFD locks on a shared lock file (see attach.h).
 */
#include "core/attach.h"

#include <errno.h>
#include <fcntl.h>
#include <unistd.h>

/* How often accept re-tests the dialer's lock: one fcntl per period. */
#define ATT_ACCEPT_POLL_MS 2

int
ipk__att_set(int fd, int byte, int on)
{
	if (on)
		return ipk__live_take(fd, byte);
	struct flock fl = {
	    .l_type = F_UNLCK,
	    .l_whence = SEEK_SET,
	    .l_start = byte,
	    .l_len = 1,
	};
	return fcntl(fd, F_OFD_SETLK, &fl) < 0 ? -errno : 0;
}

int
ipk__att_own(int fd, const char *what)
{
	int rv = ipk__live_held(fd, IPK__LOCK_CHAN);
	if (rv < 0)
		return rv;
	if (rv == 0)
		rv = ipk__live_take(fd, IPK__LOCK_OWNER);
	if (rv == 1 || rv == IPK_EBUSYSIDE)
		return ipk__err(
		    -EADDRINUSE, "%s is in use by a live listener", what);
	return rv;
}

int
ipk__att_peer(int fd, int side)
{
	if (side == IPK__SIDE_LISTEN)
		return ipk__live_held(fd, IPK__LOCK_DIAL) == 1;
	/* WAIT first: accept takes LCHAN before it drops WAIT, so this
	 * order cannot miss a listener in the middle of accepting. */
	return ipk__live_held(fd, IPK__LOCK_WAIT) == 1 ||
	    ipk__live_held(fd, IPK__LOCK_CHAN) == 1;
}

uint32_t
ipk__att_gen(int fd)
{
	uint32_t g = 0;
	if (pread(fd, &g, sizeof(g), IPK__ATT_GEN_OFF) != (ssize_t)sizeof(g))
		return 0;
	return g;
}

int
ipk__att_accept(int fd, uint32_t *seen, int64_t deadline)
{
	int rv = ipk__att_set(fd, IPK__LOCK_WAIT, 1);
	if (rv < 0)
		return rv;
	for (;;) {
		rv = ipk__live_held(fd, IPK__LOCK_DIAL);
		if (rv < 0)
			return rv;
		uint32_t g = ipk__att_gen(fd);
		if (rv == 1 || g != *seen) {
			*seen = g;
			break;
		}
		if (ipk__expired(deadline))
			return -ETIMEDOUT;
		(void)ipk__poll1(-1, 0, deadline, ATT_ACCEPT_POLL_MS);
	}
	if ((rv = ipk__att_set(fd, IPK__LOCK_CHAN, 1)) < 0)
		return rv;
	return ipk__att_set(fd, IPK__LOCK_WAIT, 0);
}

int
ipk__att_dial(int fd, const char *what)
{
	if (!ipk__att_peer(fd, IPK__SIDE_DIAL))
		return ipk__err(-ECONNREFUSED,
		    "%s exists but no listener is "
		    "attached to it",
		    what);
	int rv = ipk__live_take(fd, IPK__LOCK_DIAL);
	if (rv == IPK_EBUSYSIDE)
		return ipk__err(-EBUSY, "%s already has a live dialer", what);
	if (rv < 0)
		return rv;
	/* Only the DCHAN holder writes the count, so this cannot race. */
	uint32_t g = ipk__att_gen(fd) + 1;
	if (pwrite(fd, &g, sizeof(g), IPK__ATT_GEN_OFF) != (ssize_t)sizeof(g))
		return ipk__err(-EIO, "%s: cannot record the attachment", what);
	return 0;
}

int
ipk__att_home_accept(struct ipk__att_home *h, int *fd, int64_t deadline)
{
	if (h->chan_open)
		return ipk__err(-EBUSY,
		    "the channel of this address is "
		    "already accepted and open");
	*fd = fcntl(h->lockfd, F_DUPFD_CLOEXEC, 0);
	if (*fd < 0)
		return -errno;
	int rv = ipk__att_accept(*fd, &h->seen, deadline);
	if (rv < 0)
		return rv;
	h->refs++;
	h->chan_open = 1;
	return 0;
}

void
ipk__att_home_leave(struct ipk__att_home *h, int *fd)
{
	if (h) {
		if (*fd >= 0)
			(void)ipk__att_set(*fd, IPK__LOCK_CHAN, 0);
		h->chan_open = 0;
	}
	ipk__close_fd(fd);
}
