/* SPDX-License-Identifier: MIT */
/*
 * poll.c - ipk_poll: wait on many channels of any transports at once. Asks
 * each transport whether a receive would not wait (read-ahead, ring
 * contents, dead peer) and whether a send would not (room), sleeps in
 * poll(2) on their descriptors otherwise, and wakes every IPK__SLICE_MS to
 * re-ask, because a peer's death through a dropped lock rings no
 * descriptor.
 */
#include "core/transport.h"

#include <errno.h>
#include <poll.h>

#define POLL_STACK 16

/* What the transports say without sleeping; pf (two slots per item: in,
 * out) carries what poll(2) saw, or NULL before it ran. */
static int
poll_check(struct ipk_pollitem *items, size_t n, const struct pollfd *pf)
{
	int ready = 0;
	for (size_t i = 0; i < n; i++) {
		struct ipk_chan *c = items[i].chan;
		unsigned ev = items[i].events, got = 0;
		items[i].revents = 0;
		if (!c)
			continue;
		if ((ev & IPK_POLLIN) &&
		    ((c->tr->ready && c->tr->ready(c) > 0) ||
			(pf && pf[2 * i].revents && !c->tr->doorbell)))
			got |= IPK_POLLIN;
		/* Without a writable op the transport cannot tell: ready. */
		if ((ev & IPK_POLLOUT) &&
		    (!c->tr->writable || c->tr->writable(c) > 0))
			got |= IPK_POLLOUT;
		items[i].revents = got;
		ready += got != 0;
	}
	return ready;
}

int
ipk_poll(struct ipk_pollitem *items, size_t n, int timeout_ms)
{
	ipk__err_clear();
	if (!items || n == 0 || n > 4096)
		return ipk__err(-EINVAL, "poll: %s",
		    !items ? "items is NULL" : "need 1 to 4096 items");
	for (size_t i = 0; i < n; i++)
		if (items[i].chan && items[i].chan->closed)
			return ipk__err(-EINVAL, "poll: item %zu is closed", i);
	struct pollfd stack[2 * POLL_STACK];
	struct pollfd *pf =
	    n <= POLL_STACK ? stack : ipk__calloc(2 * n, sizeof(*pf));
	if (!pf)
		return -ENOMEM;
	int64_t deadline = ipk__deadline(timeout_ms);
	int rv;
	for (;;) {
		/* Descriptors first: a transport may arm its doorbell when
		 * asked for it, and the check after arming sees what came
		 * before. */
		for (size_t i = 0; i < n; i++) {
			struct ipk_chan *c = items[i].chan;
			struct pollfd *in = &pf[2 * i], *out = &pf[2 * i + 1];
			in->fd = out->fd = -1;
			in->events = POLLIN;
			out->events = 0;
			in->revents = out->revents = 0;
			if (c && (items[i].events & IPK_POLLIN)) {
				int fd = c->tr->fd(c);
				in->fd = fd >= 0 ? fd : -1;
			}
			if (c && (items[i].events & IPK_POLLOUT) &&
			    c->tr->wfd) {
				short e = POLLOUT;
				int fd = c->tr->wfd(c, &e);
				out->fd = fd >= 0 ? fd : -1;
				out->events = e;
			}
		}
		/* Already ready: still look at every descriptor (timeout 0),
		 * so one busy channel does not hide the others. */
		int pre = poll_check(items, n, NULL);
		int ms = pre > 0 ? 0 : ipk__poll_ms(deadline, IPK__SLICE_MS);
		int k = poll(pf, (nfds_t)(2 * n), ms);
		if (k < 0 && errno != EINTR) {
			rv = -errno;
			break;
		}
		rv = poll_check(items, n, k > 0 ? pf : NULL);
		if (rv > 0)
			break;
		if (ipk__expired(deadline) || timeout_ms == 0) {
			rv = timeout_ms == 0 ? -EAGAIN : -ETIMEDOUT;
			break;
		}
	}
	if (pf != stack)
		ipk__free(pf);
	return rv;
}
