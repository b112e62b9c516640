/* SPDX-License-Identifier: MIT */
/*
 * poll.c - ipk_poll: wait on many channels of any transports at once. Asks
 * each transport whether a receive would not wait (read-ahead, ring
 * contents, dead peer), sleeps in poll(2) on their descriptors otherwise,
 * and wakes every IPK__SLICE_MS to re-ask, because a peer's death through a
 * dropped lock rings no descriptor.
 */
#include "core/transport.h"

#include <errno.h>
#include <poll.h>

#define POLL_STACK 16

static int
poll_check(struct ipk_pollitem *items, size_t n)
{
	int ready = 0;
	for (size_t i = 0; i < n; i++) {
		struct ipk_chan *c = items[i].chan;
		items[i].revents = 0;
		if (!c || !(items[i].events & IPK_POLLIN) || !c->tr->ready)
			continue;
		if (c->tr->ready(c) > 0) {
			items[i].revents = IPK_POLLIN;
			ready++;
		}
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
	struct pollfd stack[POLL_STACK];
	struct pollfd *pf =
	    n <= POLL_STACK ? stack : ipk__calloc(n, sizeof(*pf));
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
			pf[i].fd = -1;
			pf[i].events = POLLIN;
			pf[i].revents = 0;
			if (c && (items[i].events & IPK_POLLIN)) {
				int fd = c->tr->fd(c);
				pf[i].fd = fd >= 0 ? fd : -1;
			}
		}
		/* Already ready: still look at every descriptor (timeout 0),
		 * so one busy channel does not hide the others. */
		int pre = poll_check(items, n);
		int ms = pre > 0 ? 0 : ipk__poll_ms(deadline, IPK__SLICE_MS);
		int k = poll(pf, (nfds_t)n, ms);
		if (k < 0 && errno != EINTR) {
			rv = -errno;
			break;
		}
		rv = pre > 0 ? pre : poll_check(items, n);
		for (size_t i = 0; k > 0 && i < n; i++)
			if (pf[i].revents && !items[i].revents &&
			    !items[i].chan->tr->doorbell) {
				items[i].revents = IPK_POLLIN;
				rv++;
			}
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
