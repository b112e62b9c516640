/* SPDX-License-Identifier: MIT */
/*
 * util.c - core helpers shared by every transport: allocation with a test
 * hook, monotonic deadlines, descriptors, and the OFD-lock liveness check.
 */
#include "core/internal.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

void
ipk__panic(const char *file, int line, const char *what)
{
	fprintf(
	    stderr, "ipckit: internal error at %s:%d: %s\n", file, line, what);
	abort();
}

/*
 * IPK_TEST_FAIL_ALLOC=N makes the N-th allocation (and, with a trailing '+',
 * every later one) fail, and says so on stderr once. Read once; only for
 * tests of the error paths (tests/fault/run.sh loops N until unreached).
 */
static long alloc_fail_at = -1;
static int alloc_fail_sticky;
static long alloc_count;
static int alloc_init_done;

static int
alloc_should_fail(void)
{
	if (IPK__UNLIKELY(!alloc_init_done)) {
		const char *s = getenv("IPK_TEST_FAIL_ALLOC");
		if (s && *s) {
			char *end;
			alloc_fail_at = strtol(s, &end, 10);
			alloc_fail_sticky = *end == '+';
		}
		alloc_init_done = 1;
	}
	if (alloc_fail_at < 0)
		return 0;
	long n = __atomic_add_fetch(&alloc_count, 1, __ATOMIC_RELAXED);
	if (n != alloc_fail_at && (!alloc_fail_sticky || n < alloc_fail_at))
		return 0;
	if (n == alloc_fail_at) {
		/* Tell the fault loop the N-th allocation was reached. */
		char m[80];
		int k = snprintf(m, sizeof(m),
		    "ipckit: allocation %ld failed "
		    "(IPK_TEST_FAIL_ALLOC)\n",
		    n);
		if (k > 0 && write(2, m, (size_t)k) < 0)
			return 1;
	}
	return 1;
}

void *
ipk__malloc(size_t n)
{
	if (alloc_should_fail()) {
		errno = ENOMEM;
		return NULL;
	}
	return malloc(n ? n : 1);
}

void *
ipk__calloc(size_t n, size_t size)
{
	if (alloc_should_fail()) {
		errno = ENOMEM;
		return NULL;
	}
	return calloc(n ? n : 1, size ? size : 1);
}

void *
ipk__realloc(void *p, size_t n)
{
	if (alloc_should_fail()) {
		errno = ENOMEM;
		return NULL;
	}
	return realloc(p, n ? n : 1);
}

void
ipk__free(void *p)
{
	int e = errno;
	free(p);
	errno = e;
}

char *
ipk__strdup(const char *s)
{
	size_t n = strlen(s) + 1;
	char *d = ipk__malloc(n);
	if (d)
		memcpy(d, s, n);
	return d;
}

int64_t
ipk__now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* Timeouts of at least this many ms start from the coarse clock. */
#define UTIL_COARSE_MIN_MS 100

/* Twice the coarse clock's resolution in ns, or 0 when it is unusable. */
static int64_t
util_coarse_slack(void)
{
	static int64_t slack = -1;
	int64_t v = __atomic_load_n(&slack, __ATOMIC_RELAXED);
	if (v < 0) {
		struct timespec res;
		v = 0;
		if (clock_getres(CLOCK_MONOTONIC_COARSE, &res) == 0 &&
		    res.tv_sec == 0 && res.tv_nsec <= 10000000)
			v = 2 * (int64_t)res.tv_nsec;
		__atomic_store_n(&slack, v, __ATOMIC_RELAXED);
	}
	return v;
}

/*
 * A precise clock read costs 35-45 ns on a VM (kvm-clock), as much as a
 * whole hand-off of the shm ring; the coarse clock costs 5 ns and lags by
 * at most one tick. A long timeout therefore starts from the coarse clock
 * plus two ticks: never early, at most two ticks (8 ms at 250 Hz) late,
 * which the contract's 50-150 ms window for a 50 ms timeout allows for
 * only from 100 ms up, hence the threshold. Short timeouts stay precise.
 */
int64_t
ipk__deadline(int timeout_ms)
{
	if (timeout_ms < 0)
		return IPK__FOREVER;
	int64_t slack;
	if (timeout_ms >= UTIL_COARSE_MIN_MS &&
	    (slack = util_coarse_slack()) > 0) {
		struct timespec ts;
		clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
		return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec + slack +
		    (int64_t)timeout_ms * 1000000;
	}
	return ipk__now_ns() + (int64_t)timeout_ms * 1000000;
}

int
ipk__expired(int64_t deadline)
{
	return deadline != IPK__FOREVER && ipk__now_ns() >= deadline;
}

int
ipk__poll_ms(int64_t deadline, int cap_ms)
{
	if (deadline == IPK__FOREVER)
		return cap_ms;
	int64_t left = deadline - ipk__now_ns();
	if (left <= 0)
		return 0;
	int64_t ms = (left + 999999) / 1000000;
	if (cap_ms >= 0 && ms > cap_ms)
		ms = cap_ms;
	if (ms > 1000000000)
		ms = 1000000000;
	return (int)ms;
}

void
ipk__close_fd(int *fd)
{
	if (*fd >= 0) {
		int e = errno;
		close(*fd);
		errno = e;
		*fd = -1;
	}
}

int
ipk__set_nonblock(int fd, int on)
{
	int fl = fcntl(fd, F_GETFL);
	if (fl < 0)
		return -errno;
	int nfl = on ? (fl | O_NONBLOCK) : (fl & ~O_NONBLOCK);
	if (nfl != fl && fcntl(fd, F_SETFL, nfl) < 0)
		return -errno;
	return 0;
}

int
ipk__poll1(int fd, short events, int64_t deadline, int slice_ms)
{
	for (;;) {
		struct pollfd p = {.fd = fd, .events = events};
		int ms = ipk__poll_ms(deadline, slice_ms);
		int n = poll(&p, 1, ms);
		if (n > 0)
			return p.revents;
		if (n == 0)
			return 0;
		if (errno != EINTR)
			return -errno;
		if (ipk__expired(deadline))
			return 0;
	}
}

int
ipk__live_take(int fd, int side)
{
	struct flock fl = {
	    .l_type = F_WRLCK,
	    .l_whence = SEEK_SET,
	    .l_start = side,
	    .l_len = 1,
	};
	if (fcntl(fd, F_OFD_SETLK, &fl) == 0)
		return 0;
	if (errno == EAGAIN || errno == EACCES)
		return IPK_EBUSYSIDE;
	return -errno;
}

int
ipk__live_held(int fd, int side)
{
	struct flock fl = {
	    .l_type = F_WRLCK,
	    .l_whence = SEEK_SET,
	    .l_start = side,
	    .l_len = 1,
	};
	if (fcntl(fd, F_OFD_GETLK, &fl) < 0)
		return -errno;
	return fl.l_type != F_UNLCK;
}

int
ipk__random_bytes(void *buf, size_t n)
{
	unsigned char *p = buf;
	while (n > 0) {
		ssize_t r = getrandom(p, n, 0);
		if (r < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		p += r;
		n -= (size_t)r;
	}
	return 0;
}

long
ipk__read_proc_long(const char *path)
{
	char buf[32];
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -1;
	ssize_t n;
	while ((n = read(fd, buf, sizeof(buf) - 1)) < 0 && errno == EINTR)
		;
	close(fd);
	if (n <= 0)
		return -1;
	buf[n] = '\0';
	char *end;
	long v = strtol(buf, &end, 10);
	return end == buf ? -1 : v;
}

int
ipk__uid_ours(uid_t uid, uid_t allow)
{
	return uid == geteuid() || (allow != 0 && uid == allow);
}

int
ipk__owner_err(const char *what, uid_t uid)
{
	return ipk__err(-EACCES,
	    "%s belongs to uid %u, not to us (?allow=%u "
	    "admits it)",
	    what, (unsigned)uid, (unsigned)uid);
}
