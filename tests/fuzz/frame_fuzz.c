/* SPDX-License-Identifier: MIT */
/*
 * frame_fuzz.c - libFuzzer target: the stream frame decoder fed arbitrary
 * bytes through a real pipe. The first two bytes choose the receiver's
 * limit and buffer size. Every call must end in a message within the limit
 * and the buffer or a documented code, never a crash or an allocation
 * beyond the limit.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <unistd.h>

#include "core/frame.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 2 || size > 60000)
		return 0;
	size_t max = (size_t)data[0] * 64 + 1;
	size_t cap = (size_t)data[1] * 32;
	data += 2;
	size -= 2;
	int p[2];
	if (pipe2(p, O_CLOEXEC | O_NONBLOCK) < 0)
		return 0;
	if (size && write(p[1], data, size) != (ssize_t)size)
		abort();
	close(p[1]);
	struct ipk__stream s;
	ipk__stream_init(&s, p[0], -1, max);
	unsigned char *buf = malloc(cap + 1);
	for (int i = 0; i < 10000; i++) {
		size_t len = 0;
		uint32_t type;
		int rv = ipk__stream_recv(&s, buf, cap, &len, &type, 0);
		if (rv == 0 && (len > cap || len > max))
			abort();
		if (rv == -EMSGSIZE && len > cap) {
			/* Too small: retry once with a larger buffer. */
			if (len <= max) {
				unsigned char *nb = realloc(buf, len);
				if (!nb)
					break;
				buf = nb;
				cap = len;
			}
			continue;
		}
		if (rv == 0 || rv == -EMSGSIZE)
			continue;
		if (rv != IPK_ECLOSED && rv != -EBADMSG && rv != -ETIMEDOUT)
			abort();
		break;
	}
	free(buf);
	ipk__stream_fini(&s);
	close(p[0]);
	return 0;
}
