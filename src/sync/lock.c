/* SPDX-License-Identifier: MIT */
/*
 * lock.c - a robust, process-shared mutex in a named POSIX shared-memory
 * segment: when its holder dies the kernel hands it to the next locker with
 * EOWNERDEAD (pthread_mutexattr_setrobust(3)), which ipckit returns as a code.
 */
#include "core/internal.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define LOCK_MAGIC 0x4b4c5049u /* "IPLK" */
#define LOCK_VERSION 1u
#define LOCK_INIT_WAIT_MS 500
#define LOCK_DATA_MAX (1ull << 30)

/*
 * The segment: this header, then the user data at hdr_size. `magic` is
 * stored last by the creator (release) and loaded first by an opener
 * (acquire), so a non-zero magic means every other field is written.
 */
struct lock_hdr {
	_Atomic uint32_t magic;
	uint32_t version;
	uint32_t hdr_size;
	uint32_t pad; /* 0 */
	uint64_t data_size;
	uint64_t check; /* lock_check() of the fields above */
	_Alignas(64) pthread_mutex_t mutex;
};

#define LOCK_HDR_SIZE ((sizeof(struct lock_hdr) + 63u) & ~(size_t)63u)

struct ipk_lock {
	struct lock_hdr *h;
	size_t map_size;
	/* The thread holding the lock through this handle, 0 if none: a
	 * glibc pthread_t is its thread's control block address, never 0,
	 * and pthread_self() costs no syscall (unlike gettid()). */
	_Atomic uintptr_t holder;
	char url[256];
};

struct lock_name {
	char shm[256];
	uint64_t data_size;
	unsigned mode;
};

static uintptr_t
lock_self(void)
{
	return (uintptr_t)pthread_self();
}

static uint64_t
lock_check(const struct lock_hdr *h)
{
	uint64_t x = 0xcbf29ce484222325ull;
	uint64_t v[4] = {h->version, h->hdr_size, h->pad, h->data_size};
	for (int i = 0; i < 4; i++) {
		x ^= v[i];
		x *= 0x100000001b3ull;
	}
	return x;
}

static int
lock_parse(const char *url, struct lock_name *n)
{
	struct ipk__url u;
	int rv = ipk__url_parse(url, &u);
	if (rv < 0)
		return rv;
	memset(n, 0, sizeof(*n));
	n->mode = 0600;
	n->data_size = (uint64_t)sysconf(_SC_PAGESIZE) - LOCK_HDR_SIZE;
	for (int i = 0; i < u.nopt; i++)
		if (strcmp(u.key[i], "mode") != 0 &&
		    strcmp(u.key[i], "size") != 0) {
			rv = ipk__err(-EINVAL,
			    "%s: unknown option '%s' (known: mode=, size=)",
			    url, u.key[i]);
			goto out;
		}
	int64_t mode;
	uint64_t size;
	if ((rv = ipk__url_int(&u, "mode", 0, 0777, &mode)) < 0)
		goto out;
	if (rv == 0)
		n->mode = (unsigned)mode;
	if ((rv = ipk__url_size(&u, "size", &size)) < 0)
		goto out;
	if (rv == 0) {
		if (size > LOCK_DATA_MAX) {
			rv = ipk__err(-EINVAL,
			    "%s: size=%llu is over the limit of %llu bytes",
			    url, (unsigned long long)size, LOCK_DATA_MAX);
			goto out;
		}
		n->data_size = (size + 63u) & ~(uint64_t)63u;
	}
	rv = 0;
	if (strcmp(u.scheme, "lock") != 0 || *u.host || u.path[0] != '/' ||
	    !u.path[1] || strchr(u.path + 1, '/') || strlen(u.path) > 250)
		rv = ipk__err(-EINVAL,
		    "%s: expected lock:///name (one "
		    "component, at most 249 bytes)",
		    url);
	else
		snprintf(n->shm, sizeof(n->shm), "%s", u.path);
out:
	ipk__url_free(&u);
	return rv;
}

static int
lock_create(struct ipk_lock *l, const struct lock_name *n)
{
	int fd = shm_open(n->shm, O_RDWR | O_CREAT | O_EXCL, (mode_t)n->mode);
	if (fd < 0)
		return ipk__err(-errno, "%s: %s", l->url,
		    errno == EEXIST ? "a lock of that name already exists"
				    : strerror(errno));
	int rv;
	pthread_mutexattr_t a;
	int attr = 0;
	size_t total = LOCK_HDR_SIZE + n->data_size;
	/* shm_open applies the umask; the mode asked for is the mode made. */
	if (fchmod(fd, (mode_t)n->mode) < 0) {
		rv =
		    ipk__err(-errno, "%s: fchmod: %s", l->url, strerror(errno));
		goto err;
	}
	/* Reserve the pages now: a full /dev/shm is an error, not SIGBUS. */
	if ((rv = posix_fallocate(fd, 0, (off_t)total)) != 0) {
		rv = ipk__err(-rv, "%s: reserving %zu bytes in /dev/shm: %s",
		    l->url, total, strerror(rv));
		goto err;
	}
	void *p = mmap(NULL, total, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (p == MAP_FAILED) {
		rv = ipk__err(-errno, "%s: mmap: %s", l->url, strerror(errno));
		goto err;
	}
	l->h = p;
	l->map_size = total;
	if ((rv = -pthread_mutexattr_init(&a)) < 0)
		goto err;
	attr = 1;
	if ((rv = -pthread_mutexattr_setpshared(&a, PTHREAD_PROCESS_SHARED)) ||
	    (rv = -pthread_mutexattr_setrobust(&a, PTHREAD_MUTEX_ROBUST)) ||
	    (rv = -pthread_mutexattr_settype(&a, PTHREAD_MUTEX_ERRORCHECK)) ||
	    (rv = -pthread_mutex_init(&l->h->mutex, &a))) {
		rv = ipk__err(rv, "%s: initialising the mutex: %s", l->url,
		    strerror(-rv));
		goto err;
	}
	pthread_mutexattr_destroy(&a);
	l->h->version = LOCK_VERSION;
	l->h->hdr_size = (uint32_t)LOCK_HDR_SIZE;
	l->h->data_size = n->data_size;
	l->h->check = lock_check(l->h);
	/* Pairs with the acquire load in lock_validate(). */
	atomic_store_explicit(&l->h->magic, LOCK_MAGIC, memory_order_release);
	close(fd);
	return 0;
err:
	if (attr)
		pthread_mutexattr_destroy(&a);
	if (l->h)
		munmap(l->h, l->map_size);
	l->h = NULL;
	shm_unlink(n->shm);
	close(fd);
	return rv;
}

/* Validate the segment behind fd; 1 when not yet initialised. */
static int
lock_validate(struct ipk_lock *l, int fd)
{
	struct stat st;
	if (fstat(fd, &st) < 0)
		return ipk__err(
		    -errno, "%s: fstat: %s", l->url, strerror(errno));
	if (st.st_uid != geteuid())
		return ipk__err(-EPERM,
		    "%s: the segment belongs to uid %u, not to us (uid %u)",
		    l->url, (unsigned)st.st_uid, (unsigned)geteuid());
	if ((uint64_t)st.st_size < LOCK_HDR_SIZE)
		return 1;
	if ((uint64_t)st.st_size > LOCK_HDR_SIZE + LOCK_DATA_MAX)
		return ipk__err(IPK_ECORRUPT,
		    "%s: segment of %lld bytes is larger than any lock", l->url,
		    (long long)st.st_size);
	size_t size = (size_t)st.st_size;
	void *p = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (p == MAP_FAILED)
		return ipk__err(
		    -errno, "%s: mmap: %s", l->url, strerror(errno));
	struct lock_hdr *h = p;
	/* Pairs with the release store in lock_create(). */
	uint32_t magic = atomic_load_explicit(&h->magic, memory_order_acquire);
	int rv = 0;
	if (magic == 0) {
		rv = 1;
	} else if (magic != LOCK_MAGIC) {
		rv = ipk__err(IPK_ECORRUPT,
		    "%s: not an ipckit lock (bad magic 0x%08x)", l->url, magic);
	} else if (h->version != LOCK_VERSION) {
		rv = ipk__err(IPK_ECORRUPT,
		    "%s: lock layout version %u, this library knows %u", l->url,
		    h->version, LOCK_VERSION);
	} else if (h->hdr_size != LOCK_HDR_SIZE ||
	    h->data_size > LOCK_DATA_MAX ||
	    h->hdr_size + h->data_size != size || h->check != lock_check(h)) {
		rv = ipk__err(IPK_ECORRUPT,
		    "%s: corrupted header (sizes %u + "
		    "%llu do not match the segment's %zu bytes or fail the "
		    "check)",
		    l->url, h->hdr_size, (unsigned long long)h->data_size,
		    size);
	}
	if (rv != 0) {
		munmap(p, size);
		return rv;
	}
	l->h = h;
	l->map_size = size;
	return 0;
}

static int
lock_attach(struct ipk_lock *l, const struct lock_name *n)
{
	int fd = shm_open(n->shm, O_RDWR, 0);
	if (fd < 0)
		return ipk__err(-errno, "%s: %s", l->url,
		    errno == ENOENT ? "no such lock" : strerror(errno));
	int64_t end = ipk__deadline(LOCK_INIT_WAIT_MS);
	int rv;
	while ((rv = lock_validate(l, fd)) == 1) {
		if (ipk__expired(end)) {
			rv = ipk__err(IPK_ECORRUPT,
			    "%s: the lock was never "
			    "initialised (its creator died while creating "
			    "it?); remove it with ipk_lock_unlink",
			    l->url);
			break;
		}
		struct timespec ts = {0, 1000000};
		nanosleep(&ts, NULL);
	}
	close(fd);
	return rv;
}

int
ipk_lock_open(const char *url, unsigned flags, struct ipk_lock **out)
{
	ipk__err_clear();
	if (!out)
		return ipk__err(-EINVAL, "lock_open: out is NULL");
	*out = NULL;
	if (flags & ~IPK_SYNC_CREATE)
		return ipk__err(
		    -EINVAL, "lock_open: unknown flags 0x%x", flags);
	struct lock_name n;
	int rv = lock_parse(url, &n);
	if (rv < 0)
		return rv;
	struct ipk_lock *l = ipk__calloc(1, sizeof(*l));
	if (!l)
		return -ENOMEM;
	snprintf(l->url, sizeof(l->url), "%s", url);
	rv =
	    (flags & IPK_SYNC_CREATE) ? lock_create(l, &n) : lock_attach(l, &n);
	if (rv < 0) {
		ipk__free(l);
		return rv;
	}
	*out = l;
	return 0;
}

/* A scribbled header is reported, not trusted, on every use. */
static int
lock_intact(struct ipk_lock *l, const char *op)
{
	if (!l)
		return ipk__err(-EINVAL, "%s: lock is NULL", op);
	if (atomic_load_explicit(&l->h->magic, memory_order_relaxed) !=
		LOCK_MAGIC ||
	    l->h->check != lock_check(l->h) ||
	    l->h->hdr_size + l->h->data_size != l->map_size)
		return ipk__err(IPK_ECORRUPT,
		    "%s: the lock's header was overwritten", l->url);
	return 0;
}

int
ipk_lock_lock(struct ipk_lock *l, int timeout_ms)
{
	ipk__err_clear();
	int rv = lock_intact(l, "lock_lock");
	if (rv < 0)
		return rv;
	if (timeout_ms == 0) {
		rv = pthread_mutex_trylock(&l->h->mutex);
		if (rv == EBUSY)
			return -EAGAIN;
	} else if (timeout_ms < 0) {
		rv = pthread_mutex_lock(&l->h->mutex);
	} else {
		int64_t d = ipk__deadline(timeout_ms);
		struct timespec ts = {
		    .tv_sec = (time_t)(d / 1000000000),
		    .tv_nsec = (long)(d % 1000000000),
		};
		rv =
		    pthread_mutex_clocklock(&l->h->mutex, CLOCK_MONOTONIC, &ts);
	}
	if (rv == 0 || rv == EOWNERDEAD)
		atomic_store_explicit(
		    &l->holder, lock_self(), memory_order_relaxed);
	switch (rv) {
	case 0:
		return 0;
	case ETIMEDOUT:
		return -ETIMEDOUT;
	case EOWNERDEAD:
		return ipk__err(-EOWNERDEAD,
		    "%s: the previous holder died "
		    "holding the lock; you hold it now, but the state it "
		    "guards may be inconsistent: repair it, then call "
		    "ipk_lock_consistent",
		    l->url);
	case ENOTRECOVERABLE:
		return ipk__err(-ENOTRECOVERABLE,
		    "%s: the lock is unusable: "
		    "a holder was told its predecessor died and unlocked "
		    "without ipk_lock_consistent; remove and recreate it",
		    l->url);
	case EDEADLK:
		return ipk__err(
		    -EDEADLK, "%s: this thread already holds the lock", l->url);
	default:
		return ipk__err(-rv, "%s: locking: %s", l->url, strerror(rv));
	}
}

int
ipk_lock_consistent(struct ipk_lock *l)
{
	ipk__err_clear();
	int rv = lock_intact(l, "lock_consistent");
	if (rv < 0)
		return rv;
	rv = pthread_mutex_consistent(&l->h->mutex);
	if (rv != 0)
		return ipk__err(-rv, "%s: %s", l->url,
		    rv == EINVAL
			? "the lock is not held in the owner-died state"
			: strerror(rv));
	return 0;
}

int
ipk_lock_unlock(struct ipk_lock *l)
{
	ipk__err_clear();
	int rv = lock_intact(l, "lock_unlock");
	if (rv < 0)
		return rv;
	/* Cleared while still holding: the next holder may set it at once. */
	uintptr_t self = lock_self();
	int mine =
	    atomic_load_explicit(&l->holder, memory_order_relaxed) == self;
	if (mine)
		atomic_store_explicit(&l->holder, 0, memory_order_relaxed);
	rv = pthread_mutex_unlock(&l->h->mutex);
	if (rv != 0 && mine)
		atomic_store_explicit(&l->holder, self, memory_order_relaxed);
	if (rv != 0)
		return ipk__err(-rv, "%s: %s", l->url,
		    rv == EPERM ? "this thread does not hold the lock"
				: strerror(rv));
	return 0;
}

void *
ipk_lock_data(struct ipk_lock *l, size_t *size)
{
	if (!l)
		return NULL;
	if (size)
		*size = l->map_size - LOCK_HDR_SIZE;
	return (char *)l->h + LOCK_HDR_SIZE;
}

int
ipk_lock_close(struct ipk_lock *l)
{
	ipk__err_clear();
	if (!l)
		return 0;
	int rv = 0;
	/* The mutex sits on this thread's robust list: never unmap it held. */
	if (l->h &&
	    atomic_load_explicit(&l->holder, memory_order_relaxed) ==
		lock_self())
		pthread_mutex_unlock(&l->h->mutex);
	if (l->h && munmap(l->h, l->map_size) < 0)
		rv = -errno;
	ipk__free(l);
	return rv;
}

int
ipk_lock_unlink(const char *url)
{
	ipk__err_clear();
	struct lock_name n;
	int rv = lock_parse(url, &n);
	if (rv < 0)
		return rv;
	if (shm_unlink(n.shm) < 0)
		return ipk__err(-errno, "%s: %s", url,
		    errno == ENOENT ? "no such lock" : strerror(errno));
	return 0;
}
