/* SPDX-License-Identifier: MIT */
/*
 * bcast_fuzz.c - libFuzzer target: a shm publish/subscribe segment
 * (src/shm/bcast.h) made by a real publisher, with a subscriber attached
 * and a few messages in it, then overwritten with arbitrary bytes anywhere
 * (the header, the sleep words, the slots, the chunks), as a hostile
 * process sharing it could. Then the subscriber reads (copy or in place),
 * polls, the publisher sends and counts its subscribers, a second
 * subscriber dials, and `ipckit ls` inspects. Every call must end in a
 * message no longer than maxmsg or a documented code: never an access
 * outside the segment, a crash, or a wait longer than its timeout.
 *
 * Input: one flag byte, then patches { u16 offset, u8 len, len bytes }
 * applied modulo the segment's size. Flags: 0x01 slow=block, 0x02 peek
 * instead of recv, 0x04 history=2 for the second subscriber's view.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "ipckit.h"

#define MAXMSG 64

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void
drain(struct ipk_chan *s, int peek)
{
	for (int i = 0; i < 32; i++) {
		unsigned char buf[MAXMSG];
		const void *p;
		size_t len = 0;
		int rv;
		if (peek) {
			rv = ipk_peek(s, &p, &len, NULL, 0);
			if (rv == 0) {
				if (len > MAXMSG)
					abort();
				volatile unsigned char x = 0;
				for (size_t k = 0; k < len; k++)
					x ^= ((const unsigned char *)p)[k];
				(void)x;
				rv = ipk_release(s);
				if (rv != 0 && rv != -ESTALE)
					abort();
			}
		} else {
			rv = ipk_recv(s, buf, sizeof(buf), &len, NULL, 0);
			if (rv == 0 && len > MAXMSG)
				abort();
		}
		if (rv < 0 && rv != -ESTALE)
			break;
	}
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static char name[64];
	if (!name[0])
		snprintf(name, sizeof(name), "ipk-fuzz-bc-%d", (int)getpid());
	if (size < 1 || size > 65536)
		return 0;
	unsigned flags = data[0];
	data++;
	size--;
	char url[160], sub[160], path[160];
	snprintf(url, sizeof(url),
	    "shm:///%s?pattern=pub&queue=8&maxmsg=%d&subs=4&history=2%s", name,
	    MAXMSG, flags & 0x01 ? "&slow=block" : "");
	snprintf(sub, sizeof(sub), "shm:///%s?pattern=sub", name);
	snprintf(path, sizeof(path), "/dev/shm/%s", name);
	struct ipk_chan *pub, *s1 = NULL, *s2 = NULL;
	if (ipk_bind(url, NULL, &pub) != 0)
		abort();
	struct ipk_opts o = {0};
	if (ipk_dial(sub, &o, &s1) != 0)
		abort();
	for (int i = 0; i < 5; i++)
		(void)ipk_send(pub, "message", 7, (uint32_t)i, 0);
	int fd = open(path, O_RDWR | O_CLOEXEC);
	struct stat st;
	if (fd < 0 || fstat(fd, &st) < 0)
		abort();
	size_t len = (size_t)st.st_size;
	unsigned char *m =
	    mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (m == MAP_FAILED)
		abort();
	while (size >= 3) {
		size_t off = ((size_t)data[0] | (size_t)data[1] << 8);
		size_t n = data[2];
		data += 3;
		size -= 3;
		if (n > size)
			n = size;
		for (size_t k = 0; k < n; k++)
			m[(off + k) % len] = data[k];
		data += n;
		size -= n;
	}
	drain(s1, flags & 0x02);
	struct ipk_pollitem it = {s1, IPK_POLLIN, 0};
	(void)ipk_poll(&it, 1, 0);
	for (int i = 0; i < 4; i++)
		(void)ipk_send(pub, "more", 4, 0, 0);
	(void)ipk_npeers(pub);
	it.chan = pub;
	it.events = IPK_POLLOUT;
	(void)ipk_poll(&it, 1, 0);
	drain(s1, !(flags & 0x02));
	if (ipk_dial(sub, &o, &s2) == 0)
		drain(s2, flags & 0x04);
	struct ipk_objinfo info;
	(void)ipk_inspect(sub, &info);
	(void)ipk_close(s2);
	(void)ipk_close(s1);
	(void)ipk_close(pub);
	munmap(m, len);
	close(fd);
	(void)unlink(path);
	for (int i = 0; i < 4; i++) {
		snprintf(path, sizeof(path), "/dev/shm/%s.sub%d", name, i);
		(void)unlink(path);
	}
	snprintf(path, sizeof(path), "/dev/shm/%s.pub", name);
	(void)unlink(path);
	return 0;
}
