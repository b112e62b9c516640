/* SPDX-License-Identifier: MIT */
/*
 * sp_fuzz.c - libFuzzer target: the SP (nng/nanomsg) handshake and frame
 * decoder. A raw socket connects to a real nng+ipc or nng+tcp listener
 * (pair0 or pair1, 4 KiB limit), sends the input as the peer's header and
 * frames, and closes; the accepted channel is read until it reports an
 * end. Anything but a crash, a leak, an allocation beyond the limit or a
 * channel accepted after a header other than ours is fine.
 *
 * TCP peers end with a reset, unix ones with a half-close.
 *
 * Input: one byte choosing the listener (bit 0: tcp, bit 1: pair1), then
 * the bytes the peer sends.
 */
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "core/internal.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static struct ipk_listener *lst[4];
static char path[4][108];
static int port[4];

static void
sp_cleanup(void)
{
	for (int i = 0; i < 4; i++)
		if (lst[i])
			ipk_listener_close(lst[i]);
}

static void
sp_setup(void)
{
	char url[sizeof(path[0]) + 64];
	struct ipk_opts o = {.max_msg = 4096};
	for (int i = 0; i < 4; i++) {
		const char *proto = i & 2 ? "pair1" : "pair0";
		if (i & 1)
			snprintf(url, sizeof(url),
			    "nng+tcp://127.0.0.1:0?proto=%s", proto);
		else {
			snprintf(path[i], sizeof(path[i]),
			    "/tmp/ipk-fuzz-sp-%d-%d.sock", (int)getpid(), i);
			snprintf(url, sizeof(url), "nng+ipc://%.*s?proto=%s",
			    (int)sizeof(path[i]), path[i], proto);
		}
		if (ipk_listen(url, &o, &lst[i]) < 0) {
			fprintf(
			    stderr, "listen %s: %s\n", url, ipk_strerror(0));
			abort();
		}
		const char *p = strrchr(ipk_listener_url(lst[i]), ':');
		if (i & 1)
			port[i] = p ? atoi(p + 1) : 0;
	}
	atexit(sp_cleanup);
}

/* A connect interrupted by libFuzzer's timer goes on in the background. */
static int
sp_connected(int fd, int rv)
{
	if (rv == 0 || errno != EINTR)
		return rv;
	struct pollfd p = {fd, POLLOUT, 0};
	int err = 0;
	socklen_t n = sizeof(err);
	while (poll(&p, 1, 5000) < 0 && errno == EINTR)
		;
	if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &n) < 0 || err)
		return -1;
	return 0;
}

static int
sp_connect(int i)
{
	int fd;
	if (i & 1) {
		struct sockaddr_in a = {.sin_family = AF_INET,
		    .sin_port = htons((uint16_t)port[i]),
		    .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
		fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
		if (fd < 0 ||
		    sp_connected(fd, connect(fd, (void *)&a, sizeof(a))) < 0)
			abort();
	} else {
		struct sockaddr_un a = {.sun_family = AF_UNIX};
		memcpy(a.sun_path, path[i], strlen(path[i]) + 1);
		fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
		if (fd < 0 ||
		    sp_connected(fd, connect(fd, (void *)&a, sizeof(a))) < 0)
			abort();
	}
	return fd;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static unsigned char buf[4096];
	if (!lst[0])
		sp_setup();
	if (size < 1 || size > 32768)
		return 0;
	int i = data[0] & 3;
	/* Over TCP the peer never half-closes (that would leave TIME_WAIT
	 * behind and use up loopback ports), so the reader stops at "no
	 * more data"; a header too short to end the handshake goes over
	 * the unix socket, where the half-close ends it at once. */
	if (size < 9)
		i &= ~1;
	int fd = sp_connect(i);
	int big = 1 << 20;
	/* Reset on close: no TIME_WAIT, so loopback ports never run out. */
	struct linger lg = {1, 0};
	(void)setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &big, sizeof(big));
	(void)setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
	if (size > 1 &&
	    send(fd, data + 1, size - 1, MSG_NOSIGNAL) != (ssize_t)(size - 1))
		abort();
	if (!(i & 1))
		shutdown(fd, SHUT_WR);
	struct ipk_chan *c;
	if (ipk_accept(lst[i], 1000, &c) == 0) {
		/* Only the exact header of our protocol is accepted. */
		unsigned char want[8] = {
		    0, 'S', 'P', 0, 0, i & 2 ? 0x11 : 0x10, 0, 0};
		if (size < 9 || memcmp(data + 1, want, 8) != 0)
			abort();
		for (int k = 0; k < 10000; k++) {
			size_t len = 0;
			int rv = ipk_recv(
			    c, buf, sizeof(buf), &len, NULL, i & 1 ? 0 : 100);
			if (rv == 0 && len > sizeof(buf))
				abort();
			if (rv < 0 && rv != -EMSGSIZE)
				break;
		}
		close(fd);
		ipk_close(c);
		return 0;
	}
	close(fd);
	return 0;
}
