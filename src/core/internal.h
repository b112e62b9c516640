/* SPDX-License-Identifier: MIT */
/*
 * internal.h - helpers the core offers to every transport: allocation, clock
 * and deadlines, error details, URL/option access, descriptors, liveness.
 * Nothing here is exported from the library.
 */
#ifndef IPK_CORE_INTERNAL_H
#define IPK_CORE_INTERNAL_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "ipckit.h"

#define IPK__HIDDEN __attribute__((visibility("hidden")))

/* Internal invariants only; never for input read from another process. */
#define IPK__ASSERT(x)                                                         \
	do {                                                                   \
		if (!(x))                                                      \
			ipk__panic(__FILE__, __LINE__, #x);                    \
	} while (0)
IPK__HIDDEN void ipk__panic(const char *file, int line, const char *what)
    __attribute__((noreturn));

#define IPK__ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))
#define IPK__MIN(a, b) ((a) < (b) ? (a) : (b))
#define IPK__MAX(a, b) ((a) > (b) ? (a) : (b))
#define IPK__LIKELY(x) __builtin_expect(!!(x), 1)
#define IPK__UNLIKELY(x) __builtin_expect(!!(x), 0)

/* --- Allocation (tests can make the N-th allocation fail) ----------------- */
IPK__HIDDEN void *ipk__malloc(size_t n);
IPK__HIDDEN void *ipk__calloc(size_t n, size_t size);
IPK__HIDDEN void *ipk__realloc(void *p, size_t n);
IPK__HIDDEN void ipk__free(void *p); /* preserves errno */
IPK__HIDDEN char *ipk__strdup(const char *s);

/* --- Time and deadlines ----------------------------------------------------
 * A deadline is an absolute CLOCK_MONOTONIC time in ns. IPK__FOREVER never
 * expires. A timeout of 0 becomes "now": transports try once and, when
 * nothing is ready, return -ETIMEDOUT; the core turns that into -EAGAIN.
 */
#define IPK__FOREVER INT64_MAX
IPK__HIDDEN int64_t ipk__now_ns(void);
IPK__HIDDEN int64_t ipk__deadline(int timeout_ms);
/* Milliseconds left, rounded up, capped at `cap_ms` (cap < 0: no cap); 0 when
 * expired; -1 when forever and no cap. For poll(2). */
IPK__HIDDEN int ipk__poll_ms(int64_t deadline, int cap_ms);
IPK__HIDDEN int ipk__expired(int64_t deadline);
/* Liveness re-check period of every bounded wait (RELIABILITY decision 2). */
#define IPK__SLICE_MS 20

/* --- Errors ----------------------------------------------------------------
 * ipk__err(code, fmt, ...) records a sentence for the calling thread and
 * returns `code`, so transports write `return ipk__err(-ENOENT, "...")`.
 * Preserves errno.
 */
IPK__HIDDEN int
ipk__err(int code, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
IPK__HIDDEN int ipk__verr(int code, const char *fmt, va_list ap);
/* Forget the recorded sentence (start of every public call). */
IPK__HIDDEN void ipk__err_clear(void);
/* The code and sentence last recorded in this thread (0/"" if none). */
IPK__HIDDEN int ipk__err_last(const char **msg);
/* Prefix the recorded sentence with "URL: " if it lacks it. */
IPK__HIDDEN void ipk__err_prefix(const char *url);

/* --- URLs --------------------------------------------------------------- */
#define IPK__URL_MAXOPT 16
struct ipk__url {
	char *buf; /* one allocation holding every string below */
	const char *scheme; /* "fifo" */
	const char *host; /* "host" of //host:port, "" if none */
	const char *port; /* "5555", "" if none */
	const char *path; /* "/dir/name", "@abstract", "0x1234", "" */
	int nopt;
	const char *key[IPK__URL_MAXOPT];
	const char *val[IPK__URL_MAXOPT];
	const char *text; /* the URL as given */
};
/* Parse strictly; -EINVAL with a sentence on any malformed part. */
IPK__HIDDEN int ipk__url_parse(const char *text, struct ipk__url *u);
IPK__HIDDEN void ipk__url_free(struct ipk__url *u);
/* Option lookup: 0 and *out set when present and well formed; 1 when absent
 * (*out untouched); -EINVAL with a sentence when malformed. Unknown option
 * names are refused by the core before a transport runs (the table's
 * `options` list). */
IPK__HIDDEN int
ipk__url_str(const struct ipk__url *u, const char *key, const char **out);
IPK__HIDDEN int
ipk__url_size(const struct ipk__url *u, const char *key, uint64_t *out);
IPK__HIDDEN int ipk__url_int(const struct ipk__url *u, const char *key,
    int64_t min, int64_t max, int64_t *out);
/* "8M" -> 8388608; -EINVAL on garbage or overflow. */
IPK__HIDDEN int ipk__parse_size(const char *s, uint64_t *out);

/* --- Descriptors -------------------------------------------------------- */
IPK__HIDDEN void
ipk__close_fd(int *fd); /* closes if >= 0, sets -1, keeps errno */
IPK__HIDDEN int ipk__set_nonblock(int fd, int on);
/* poll one descriptor until `events` or the deadline, in slices of at most
 * `slice_ms` (-1: no slicing). Returns revents (> 0), 0 when the slice or
 * deadline ended, or -errno. EINTR is retried. */
IPK__HIDDEN int
ipk__poll1(int fd, short events, int64_t deadline, int slice_ms);

/* --- Liveness ---------------------------------------------------------------
 * Each endpoint of a named channel holds an OFD write lock on one byte of a
 * file both sides open (byte 0: listener side, byte 1: dialer side). The
 * kernel drops the lock when the holder's last descriptor closes - also on
 * SIGKILL - and testing it costs one fcntl. A frozen (SIGSTOP) peer keeps its
 * lock, so it is never reported dead.
 */
#define IPK__SIDE_LISTEN 0
#define IPK__SIDE_DIAL 1
/* Take the lock on `side`: 0, or IPK_EBUSYSIDE if a live endpoint holds it. */
IPK__HIDDEN int ipk__live_take(int fd, int side);
/* 1 if some endpoint holds `side`, 0 if none, -errno on failure. */
IPK__HIDDEN int ipk__live_held(int fd, int side);

/* An object of uid `uid` may be attached to: ours, or the ?allow= uid (0:
 * none). ipk__owner_err is the sentence when it may not (-EACCES). */
IPK__HIDDEN int ipk__uid_ours(uid_t uid, uid_t allow);
IPK__HIDDEN int ipk__owner_err(const char *what, uid_t uid);

/* --- Misc ------------------------------------------------------------------
 */
/* A number read from a /proc file (a sysctl such as
 * "/proc/sys/fs/mqueue/msg_max"), or -1 when it cannot be read. */
IPK__HIDDEN long ipk__read_proc_long(const char *path);
/* Fill buf with unpredictable bytes (getrandom). */
IPK__HIDDEN int ipk__random_bytes(void *buf, size_t n);
/* The directories above the file `path` must be safe to create or open it
 * in (core/dircheck.c): no symbolic link of another uid on the way, every
 * directory owned by us, root or `allow` (0: none) and not writable by
 * others unless sticky. 0, or an error with a sentence. */
IPK__HIDDEN int ipk__dir_check(const char *path, uid_t allow);

#endif /* IPK_CORE_INTERNAL_H */
