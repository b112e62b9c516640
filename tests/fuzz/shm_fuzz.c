/* SPDX-License-Identifier: MIT */
/*
 * shm_fuzz.c - libFuzzer target: a shm:// segment made of arbitrary bytes,
 * dialled through the public path, then read and written. Exercises the
 * segment header checks, ring attach validation and the ring reader on
 * raw shared bytes; every call must end in a message or a documented
 * code, never an access outside the segment or a loop.
 *
 * Input: one flag byte, one size byte, then patches { u16 offset, u8 len,
 * len bytes } applied to a segment that starts valid (4 KiB rings) unless
 * flag 0x01 asks for zeroes. Flags: 0x02 peek/release instead of recv,
 * 0x04 also send, 0x08 size byte sets the object size (x 256),
 * 0x30 wait strategy for the dialer (0: the header's). A dial that
 * succeeds on a segment the layout calls broken is a failure too.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "core/internal.h"

#define SEG_CAP 4096u
#define SEG_SIZE (8192u + 2 * SEG_CAP)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* The layout shm.c writes at creation: magic, version, wait, sizes. */
static void
fuzz_header(unsigned char *m)
{
	uint64_t magic = 0x00314d48534b5049ull, sz = SEG_SIZE, cap = SEG_CAP;
	uint32_t ver = 2, wait = 0;
	memcpy(m, &magic, 8);
	memcpy(m + 8, &ver, 4);
	memcpy(m + 12, &wait, 4);
	memcpy(m + 16, &sz, 8);
	memcpy(m + 24, &cap, 8);
}

static uint64_t
fuzz_u64(const unsigned char *p)
{
	uint64_t v;
	memcpy(&v, p, 8);
	return v;
}

/* Would the dialer's producer attach to ring 1 (control block at 4608,
 * data at 8192 + cap)? tail and head aligned and within `cap` of each
 * other either way, then the walk over stamped records (stamp = position
 * ^ key, key at 4608 + 384) ends within `cap` of head (ring.h). */
static int
fuzz_producer_ok(const unsigned char *m, uint64_t cap)
{
	uint64_t t = fuzz_u64(m + 4608), h = fuzz_u64(m + 4608 + 64);
	uint64_t key = fuzz_u64(m + 4608 + 384);
	const unsigned char *d = m + 8192 + cap;
	if ((t | h) & 15)
		return 0;
	if (h - t <= cap)
		t = h;
	else if (t - h > cap)
		return 0;
	for (;;) {
		uint64_t off = t & (cap - 1), rem = cap - off;
		if (fuzz_u64(d + off + 8) != (t ^ key))
			return 1;
		uint32_t len;
		memcpy(&len, d + off, 4);
		uint64_t size =
		    len & 0x80000000u ? rem : (16 + len + 15) & ~15ull;
		if (size > rem || t + size - h > cap)
			return 0;
		t += size;
	}
}

/* Would a correct reader accept this segment of `len` bytes? */
static int
fuzz_valid(const unsigned char *m, size_t len)
{
	uint32_t ver;
	if (len < 8192)
		return 0;
	memcpy(&ver, m + 8, 4);
	uint64_t magic = fuzz_u64(m), sz = fuzz_u64(m + 16),
		 cap = fuzz_u64(m + 24);
	if (magic != 0x00314d48534b5049ull || ver != 2 || cap < 4096 ||
	    cap > (1u << 30) || (cap & (cap - 1)) || sz != 8192 + 2 * cap ||
	    sz != len)
		return 0;
	/* The consumer of ring 0 checks its head (control block + 64). */
	if (fuzz_u64(m + 4096 + 64) & 15)
		return 0;
	return fuzz_producer_ok(m, cap);
}

static void
fuzz_io(struct ipk_chan *c, unsigned flags)
{
	static unsigned char buf[SEG_CAP];
	for (int i = 0; i < 64; i++) {
		size_t len = 0;
		uint32_t type;
		const void *p;
		int rv;
		if (flags & 0x02) {
			rv = ipk_peek(c, &p, &len, &type, 0);
			if (rv == 0) {
				/* Touch every byte the library handed out. */
				volatile unsigned char x = 0;
				for (size_t k = 0; k < len; k++)
					x ^= ((const unsigned char *)p)[k];
				(void)x;
				(void)ipk_release(c);
			}
		} else {
			rv = ipk_recv(c, buf, sizeof(buf), &len, &type, 0);
			if (rv == 0 && len > sizeof(buf))
				abort();
		}
		if (rv < 0 && rv != -EMSGSIZE)
			break;
	}
	if (flags & 0x04)
		for (int i = 0; i < 4; i++)
			if (ipk_send(c, buf, (size_t)i * 1000, 7, 0) < 0)
				break;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static char name[64], url[80], bell[96];
	if (!name[0]) {
		snprintf(name, sizeof(name), "/ipk-fuzz-shm-%d", (int)getpid());
		snprintf(url, sizeof(url), "shm://%s", name);
	}
	if (size < 2 || size > 4 * SEG_SIZE)
		return 0;
	unsigned flags = data[0];
	size_t len = flags & 0x08 ? (size_t)data[1] * 256 : SEG_SIZE;
	data += 2;
	size -= 2;
	(void)shm_unlink(name);
	int fd = shm_open(name, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	if (fd < 0)
		abort();
	unsigned char *m = NULL;
	if (len && ftruncate(fd, (off_t)len) == 0) {
		m = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
		if (m == MAP_FAILED)
			abort();
		if (!(flags & 0x01) && len >= 32)
			fuzz_header(m);
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
	}
	/* Play the live listener: hold its liveness lock. */
	if (ipk__live_take(fd, 0) < 0)
		abort();
	static const char *const waits[4] = {
	    "", "?wait=spin", "?wait=futex", "?wait=sem"};
	char u[128];
	snprintf(u, sizeof(u), "%s%s", url, waits[(flags >> 4) & 3]);
	int valid = m && fuzz_valid(m, len);
	struct ipk_opts o = {0};
	struct ipk_chan *c;
	if (ipk_dial(u, &o, &c) == 0) {
		/* The library must refuse every segment the layout calls
		 * broken: a header that disagrees with itself or the object,
		 * or ring indices that are unaligned or too far apart. */
		if (!valid)
			abort();
		fuzz_io(c, flags);
		(void)ipk_close(c);
	}
	if (m)
		munmap(m, len);
	close(fd);
	(void)shm_unlink(name);
	for (int side = 0; side < 2; side++) {
		snprintf(bell, sizeof(bell), "/dev/shm%s.bell%d", name, side);
		(void)unlink(bell);
	}
	return 0;
}
