/* SPDX-License-Identifier: MIT */
/*
 * sem.c - named counting semaphores (the article's P/V counter): POSIX named
 * semaphores (sem_overview(7)) and System V sets of one semaphore with
 * SEM_UNDO, so that a process that dies holding one gives it back.
 */
#include "core/internal.h"

#include <errno.h>
#include <fcntl.h>
#include <semaphore.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/sem.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

/* SEMVMX of semop(2); POSIX allows more, one limit keeps both alike. */
#define SEM_VALUE_LIMIT 32767
/* How long an opener waits for a creator to finish initialising a set. */
#define SEM_INIT_WAIT_MS 500
#define SEM_PROJ 'S'

enum sem_kind { SEM_POSIX, SEM_SYSV };

struct ipk_sem {
	enum sem_kind kind;
	sem_t *psem; /* POSIX */
	int id; /* System V semid */
	short undo; /* SEM_UNDO or 0 */
	char url[256];
};

/* semctl(2) wants the caller to define this union. */
union sem_arg {
	int val;
	struct semid_ds *buf;
	unsigned short *array;
};

struct sem_name {
	enum sem_kind kind;
	char posix[256]; /* "/name" */
	key_t key;
	unsigned mode;
};

static int
sem_parse(const char *url, struct sem_name *n)
{
	struct ipk__url u;
	int rv = ipk__url_parse(url, &u);
	if (rv < 0)
		return rv;
	memset(n, 0, sizeof(*n));
	n->mode = 0600;
	for (int i = 0; i < u.nopt; i++)
		if (strcmp(u.key[i], "mode") != 0) {
			rv = ipk__err(-EINVAL,
			    "%s: unknown option '%s' (only mode= is known)",
			    url, u.key[i]);
			goto out;
		}
	int64_t mode;
	rv = ipk__url_int(&u, "mode", 0, 0777, &mode);
	if (rv < 0)
		goto out;
	if (rv == 0)
		n->mode = (unsigned)mode;
	rv = 0;
	if (*u.host) {
		rv = ipk__err(-EINVAL, "%s: a semaphore has no host part", url);
	} else if (strcmp(u.scheme, "semposix") == 0) {
		n->kind = SEM_POSIX;
		const char *p = u.path;
		if (p[0] != '/' || !p[1] || strchr(p + 1, '/') ||
		    strlen(p) > 250)
			rv = ipk__err(-EINVAL,
			    "%s: expected semposix:///name "
			    "(one component, at most 249 bytes)",
			    url);
		else
			snprintf(n->posix, sizeof(n->posix), "%s", p);
	} else if (strcmp(u.scheme, "semsysv") == 0) {
		n->kind = SEM_SYSV;
		char *end;
		if (u.path[0] == '/') {
			n->key = ftok(u.path, SEM_PROJ);
			if (n->key == (key_t)-1)
				rv = ipk__err(-errno,
				    "%s: ftok(%s): %s (the path must exist)",
				    url, u.path, strerror(errno));
		} else if (strncmp(u.path, "0x", 2) == 0 && u.path[2]) {
			errno = 0;
			unsigned long k = strtoul(u.path, &end, 16);
			if (errno || *end || k == 0 || k > 0xffffffffu)
				rv = ipk__err(-EINVAL,
				    "%s: the key must be a "
				    "non-zero 32-bit hex number",
				    url);
			n->key = (key_t)(uint32_t)k;
		} else {
			rv = ipk__err(-EINVAL,
			    "%s: expected semsysv:///path or semsysv:0xKEY",
			    url);
		}
	} else {
		rv = ipk__err(-EINVAL,
		    "%s: a semaphore URL starts with semposix: or semsysv:",
		    url);
	}
out:
	ipk__url_free(&u);
	return rv;
}

static void
sem_deadline_ts(int64_t deadline, struct timespec *ts)
{
	ts->tv_sec = (time_t)(deadline / 1000000000);
	ts->tv_nsec = (long)(deadline % 1000000000);
}

/*
 * glibc maps an existing sem.NAME in /dev/shm without looking at its size;
 * a file shorter than a sem_t (squatted or truncated) would raise SIGBUS on
 * first use. Refuse it instead. The creator's file appears whole (glibc
 * links a finished temporary file into place).
 */
static int
sem_posix_check(struct ipk_sem *s, const struct sem_name *n)
{
	char path[300];
	snprintf(path, sizeof(path), "/dev/shm/sem.%s", n->posix + 1);
	int fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK);
	if (fd < 0)
		return errno == ENOENT
		    ? ipk__err(-ENOENT, "%s: no such semaphore", s->url)
		    : 0;
	struct stat st;
	int rv = 0;
	if (fstat(fd, &st) < 0)
		rv = ipk__err(-errno, "%s: fstat: %s", s->url, strerror(errno));
	else if (!S_ISREG(st.st_mode) || st.st_size < (off_t)sizeof(sem_t))
		rv = ipk__err(IPK_ECORRUPT,
		    "%s: %s is not a semaphore (%lld bytes)", s->url, path,
		    (long long)st.st_size);
	close(fd);
	return rv;
}

static int
sem_posix_open(struct ipk_sem *s, const struct sem_name *n, unsigned flags,
    unsigned initial)
{
	if (flags & IPK_SYNC_CREATE) {
		s->psem = sem_open(
		    n->posix, O_CREAT | O_EXCL, (mode_t)n->mode, initial);
	} else {
		int rv = sem_posix_check(s, n);
		if (rv < 0)
			return rv;
		s->psem = sem_open(n->posix, 0);
	}
	if (s->psem == SEM_FAILED) {
		s->psem = NULL;
		int e = errno;
		if (e == EEXIST)
			return ipk__err(-e,
			    "%s: a semaphore of that name already exists",
			    s->url);
		if (e == ENOENT)
			return ipk__err(-e, "%s: no such semaphore", s->url);
		if (e == EACCES)
			return ipk__err(-e,
			    "%s: permission denied (the "
			    "semaphore belongs to another user or its mode "
			    "forbids access)",
			    s->url);
		return ipk__err(-e, "%s: sem_open: %s", s->url, strerror(e));
	}
	return 0;
}

/* Wait for the creator's first semop (sem_otime != 0): see ipckit.h. */
static int
sem_sysv_ready(struct ipk_sem *s)
{
	int64_t end = ipk__deadline(SEM_INIT_WAIT_MS);
	for (;;) {
		struct semid_ds ds;
		union sem_arg a = {.buf = &ds};
		if (semctl(s->id, 0, IPC_STAT, a) < 0)
			return ipk__err(-errno, "%s: semctl(IPC_STAT): %s",
			    s->url, strerror(errno));
		if (ds.sem_nsems != 1)
			return ipk__err(IPK_EFOREIGN,
			    "%s: the set has %lu "
			    "semaphores, ipckit makes sets of one",
			    s->url, (unsigned long)ds.sem_nsems);
		if (ds.sem_otime != 0)
			return 0;
		if (ipk__expired(end))
			return ipk__err(IPK_ECORRUPT,
			    "%s: the set was never "
			    "initialised (its creator died while creating "
			    "it?); remove it with ipk_sem_unlink",
			    s->url);
		struct timespec ts = {0, 1000000};
		nanosleep(&ts, NULL);
	}
}

static int
sem_sysv_open(struct ipk_sem *s, const struct sem_name *n, unsigned flags,
    unsigned initial)
{
	s->undo = (flags & IPK_SEM_NOUNDO) ? 0 : SEM_UNDO;
	if (!(flags & IPK_SYNC_CREATE)) {
		s->id = semget(n->key, 0, 0);
		if (s->id < 0) {
			int e = errno;
			if (e == ENOENT)
				return ipk__err(
				    -e, "%s: no such semaphore set", s->url);
			if (e == EACCES)
				return ipk__err(-e,
				    "%s: permission denied "
				    "(the set belongs to another user or its "
				    "mode forbids access)",
				    s->url);
			return ipk__err(
			    -e, "%s: semget: %s", s->url, strerror(e));
		}
		return sem_sysv_ready(s);
	}
	s->id = semget(n->key, 1, IPC_CREAT | IPC_EXCL | (int)n->mode);
	if (s->id < 0) {
		int e = errno;
		if (e == EEXIST)
			return ipk__err(-e,
			    "%s: a semaphore set with key "
			    "0x%08x already exists",
			    s->url, (unsigned)n->key);
		if (e == ENOSPC)
			return ipk__err(-e,
			    "%s: the system limit on semaphore "
			    "sets is reached (kernel.sem, SEMMNI/SEMMNS)",
			    s->url);
		return ipk__err(-e, "%s: semget: %s", s->url, strerror(e));
	}
	/*
	 * The new set is 0 with sem_otime 0. One semop() sets both the value
	 * and sem_otime, which openers wait for; no SEM_UNDO here, or the
	 * initial value would leave with the creator. For initial 0, +1 then
	 * -1 in one atomic call leaves 0 and still stamps sem_otime.
	 */
	struct sembuf ops[2] = {
	    {.sem_num = 0, .sem_op = (short)initial, .sem_flg = 0},
	    {.sem_num = 0, .sem_op = -1, .sem_flg = 0},
	};
	size_t nops = 1;
	if (initial == 0) {
		ops[0].sem_op = 1;
		nops = 2;
	}
	if (semop(s->id, ops, nops) < 0) {
		int e = errno;
		semctl(s->id, 0, IPC_RMID);
		s->id = -1;
		return ipk__err(
		    -e, "%s: initialising the set: %s", s->url, strerror(e));
	}
	return 0;
}

int
ipk_sem_open(
    const char *url, unsigned flags, unsigned initial, struct ipk_sem **out)
{
	ipk__err_clear();
	if (!out)
		return ipk__err(-EINVAL, "sem_open: out is NULL");
	*out = NULL;
	if (flags & ~(IPK_SYNC_CREATE | IPK_SEM_NOUNDO))
		return ipk__err(-EINVAL, "sem_open: unknown flags 0x%x", flags);
	if (initial > SEM_VALUE_LIMIT)
		return ipk__err(-EINVAL,
		    "sem_open: initial value %u over the limit of %d", initial,
		    SEM_VALUE_LIMIT);
	struct sem_name n;
	int rv = sem_parse(url, &n);
	if (rv < 0)
		return rv;
	struct ipk_sem *s = ipk__calloc(1, sizeof(*s));
	if (!s)
		return -ENOMEM;
	s->kind = n.kind;
	s->id = -1;
	snprintf(s->url, sizeof(s->url), "%s", url);
	if (n.kind == SEM_POSIX)
		rv = sem_posix_open(s, &n, flags, initial);
	else
		rv = sem_sysv_open(s, &n, flags, initial);
	if (rv < 0) {
		if (s->psem)
			sem_close(s->psem);
		ipk__free(s);
		return rv;
	}
	*out = s;
	return 0;
}

static int
sem_posix_wait(struct ipk_sem *s, int timeout_ms)
{
	int64_t deadline = ipk__deadline(timeout_ms);
	for (;;) {
		int r;
		if (timeout_ms == 0) {
			r = sem_trywait(s->psem);
		} else if (deadline == IPK__FOREVER) {
			r = sem_wait(s->psem);
		} else {
			struct timespec ts;
			sem_deadline_ts(deadline, &ts);
			r = sem_clockwait(s->psem, CLOCK_MONOTONIC, &ts);
		}
		if (r == 0)
			return 0;
		if (errno == EINTR)
			continue;
		if (errno == EAGAIN)
			return -EAGAIN;
		if (errno == ETIMEDOUT)
			return -ETIMEDOUT;
		return ipk__err(
		    -errno, "%s: sem_wait: %s", s->url, strerror(errno));
	}
}

static int
sem_sysv_wait(struct ipk_sem *s, int timeout_ms)
{
	int64_t deadline = ipk__deadline(timeout_ms);
	struct sembuf op = {.sem_num = 0, .sem_op = -1, .sem_flg = s->undo};
	if (timeout_ms == 0)
		op.sem_flg |= IPC_NOWAIT;
	for (;;) {
		int r;
		if (timeout_ms > 0) {
			int64_t left = deadline - ipk__now_ns();
			if (left <= 0)
				return -ETIMEDOUT;
			struct timespec ts = {
			    .tv_sec = (time_t)(left / 1000000000),
			    .tv_nsec = (long)(left % 1000000000),
			};
			r = semtimedop(s->id, &op, 1, &ts);
		} else {
			r = semop(s->id, &op, 1);
		}
		if (r == 0)
			return 0;
		if (errno == EINTR)
			continue;
		if (errno == EAGAIN)
			return timeout_ms == 0 ? -EAGAIN : -ETIMEDOUT;
		if (errno == EIDRM || errno == EINVAL)
			return ipk__err(-EIDRM,
			    "%s: the semaphore set was removed", s->url);
		if (errno == ERANGE)
			return ipk__err(-EOVERFLOW,
			    "%s: this process's undo "
			    "count would pass the limit of %d",
			    s->url, SEM_VALUE_LIMIT);
		return ipk__err(
		    -errno, "%s: semop: %s", s->url, strerror(errno));
	}
}

int
ipk_sem_wait(struct ipk_sem *s, int timeout_ms)
{
	ipk__err_clear();
	if (!s)
		return ipk__err(-EINVAL, "sem_wait: semaphore is NULL");
	if (s->kind == SEM_POSIX)
		return sem_posix_wait(s, timeout_ms);
	return sem_sysv_wait(s, timeout_ms);
}

int
ipk_sem_post(struct ipk_sem *s)
{
	ipk__err_clear();
	if (!s)
		return ipk__err(-EINVAL, "sem_post: semaphore is NULL");
	if (s->kind == SEM_POSIX) {
		int v;
		if (sem_getvalue(s->psem, &v) == 0 && v >= SEM_VALUE_LIMIT)
			return ipk__err(-EOVERFLOW,
			    "%s: the value is at its limit of %d", s->url,
			    SEM_VALUE_LIMIT);
		if (sem_post(s->psem) < 0)
			return ipk__err(-errno, "%s: sem_post: %s", s->url,
			    strerror(errno));
		return 0;
	}
	struct sembuf op = {.sem_num = 0, .sem_op = 1, .sem_flg = s->undo};
	while (semop(s->id, &op, 1) < 0) {
		if (errno == EINTR)
			continue;
		if (errno == ERANGE)
			return ipk__err(-EOVERFLOW,
			    "%s: the value (or this "
			    "process's undo count) is at its limit of %d",
			    s->url, SEM_VALUE_LIMIT);
		if (errno == EIDRM || errno == EINVAL)
			return ipk__err(-EIDRM,
			    "%s: the semaphore set was removed", s->url);
		return ipk__err(
		    -errno, "%s: semop: %s", s->url, strerror(errno));
	}
	return 0;
}

int
ipk_sem_value(struct ipk_sem *s, int *value)
{
	ipk__err_clear();
	if (!s || !value)
		return ipk__err(-EINVAL, "sem_value: %s is NULL",
		    !s ? "semaphore" : "value");
	int v;
	if (s->kind == SEM_POSIX) {
		if (sem_getvalue(s->psem, &v) < 0)
			return ipk__err(-errno, "%s: sem_getvalue: %s", s->url,
			    strerror(errno));
	} else {
		v = semctl(s->id, 0, GETVAL);
		if (v < 0)
			return ipk__err(errno == EINVAL ? -EIDRM : -errno,
			    "%s: semctl(GETVAL): %s", s->url, strerror(errno));
	}
	*value = v < 0 ? 0 : v;
	return 0;
}

int
ipk_sem_close(struct ipk_sem *s)
{
	ipk__err_clear();
	if (!s)
		return 0;
	int rv = 0;
	if (s->psem && sem_close(s->psem) < 0)
		rv = -errno;
	ipk__free(s);
	return rv;
}

int
ipk_sem_unlink(const char *url)
{
	ipk__err_clear();
	struct sem_name n;
	int rv = sem_parse(url, &n);
	if (rv < 0)
		return rv;
	if (n.kind == SEM_POSIX) {
		if (sem_unlink(n.posix) < 0)
			return ipk__err(-errno, "%s: %s", url,
			    errno == ENOENT ? "no such semaphore"
					    : strerror(errno));
		return 0;
	}
	int id = semget(n.key, 0, 0);
	if (id < 0 || semctl(id, 0, IPC_RMID) < 0)
		return ipk__err(-errno, "%s: %s", url,
		    errno == ENOENT ? "no such semaphore set"
				    : strerror(errno));
	return 0;
}
