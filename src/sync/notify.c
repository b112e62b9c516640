/* SPDX-License-Identifier: MIT */
/*
 * notify.c - notifications (the article's signals): a real-time signal with
 * an int value, sent with sigqueue(3) or pidfd_send_signal(2) and received
 * through signalfd(2), so no handler runs and the receiver can poll.
 */
#include "core/internal.h"

#include <dirent.h>
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/signalfd.h>
#include <sys/syscall.h>
#include <unistd.h>

struct ipk_notify {
	int fd;
	int signo;
};

/* 0 -> the default; refuse what cannot be a notification. */
static int
notify_signo(int *signo)
{
	if (*signo == IPK_NOTIFY_SIGNAL)
		*signo = SIGRTMIN;
	int s = *signo;
	if (s == SIGKILL || s == SIGSTOP)
		return ipk__err(-EINVAL,
		    "signal %d (%s) cannot carry "
		    "notifications: the kernel never lets a process block, "
		    "catch or read it, it only kills or stops the receiver",
		    s, s == SIGKILL ? "SIGKILL" : "SIGSTOP");
	if (s <= 0 || s > SIGRTMAX)
		return ipk__err(-EINVAL,
		    "signal %d is out of range (1..%d; use SIGRTMIN..SIGRTMAX)",
		    s, SIGRTMAX);
	if (s >= 32 && s < SIGRTMIN)
		return ipk__err(-EINVAL,
		    "signal %d is reserved by the C "
		    "library (use SIGRTMIN..SIGRTMAX, %d..%d)",
		    s, SIGRTMIN, SIGRTMAX);
	return 0;
}

/* The receiver's RLIMIT_SIGPENDING (prlimit, or the world-readable
 * /proc/PID/limits), else ours; *whose says which. */
static unsigned long long
notify_sigpending(pid_t pid, const char **whose)
{
	struct rlimit rl;
	char path[64], line[160];
	unsigned long long v = 0;
	int found = 0;
	*whose = "its limit is";
	if (pid > 0 && prlimit(pid, RLIMIT_SIGPENDING, NULL, &rl) == 0)
		return (unsigned long long)rl.rlim_cur;
	snprintf(path, sizeof(path), "/proc/%d/limits", (int)pid);
	FILE *f = pid > 0 ? fopen(path, "re") : NULL;
	while (f && !found && fgets(line, sizeof(line), f)) {
		char *end;
		if (strncmp(line, "Max pending signals", 19) != 0)
			continue;
		v = strtoull(line + 19, &end, 10);
		found = end != line + 19;
	}
	if (f)
		(void)fclose(f);
	if (found)
		return v;
	*whose = "ours is";
	if (getrlimit(RLIMIT_SIGPENDING, &rl) == 0)
		return (unsigned long long)rl.rlim_cur;
	return 0;
}

static int
notify_send_err(int e, pid_t pid, const char *who)
{
	switch (e) {
	case ESRCH:
		return ipk__err(-ESRCH,
		    "%s does not exist (it has exited): a "
		    "notification cannot reach it",
		    who);
	case EPERM:
		return ipk__err(-EPERM,
		    "not allowed to signal %s: it belongs "
		    "to another user (sending needs the same real or "
		    "effective uid, or CAP_KILL)",
		    who);
	case EAGAIN: {
		const char *whose;
		unsigned long long lim = notify_sigpending(pid, &whose);
		return ipk__err(-EAGAIN,
		    "%s has too many signals queued: the "
		    "limit is the receiving user's RLIMIT_SIGPENDING (%s "
		    "%llu; see ulimit -i); the receiver must read its "
		    "notifications",
		    who, whose, lim);
	}
	default:
		return ipk__err(-e, "signalling %s: %s", who, strerror(e));
	}
}

int
ipk_notify_send(pid_t pid, int signo, int value)
{
	ipk__err_clear();
	int rv = notify_signo(&signo);
	if (rv < 0)
		return rv;
	if (pid <= 0)
		return ipk__err(-EINVAL,
		    "notify_send: pid %d does not name one process", (int)pid);
	union sigval v = {.sival_int = value};
	if (sigqueue(pid, signo, v) == 0)
		return 0;
	char who[32];
	snprintf(who, sizeof(who), "process %d", (int)pid);
	return notify_send_err(errno, pid, who);
}

int
ipk_notify_send_pidfd(int pidfd, int signo, int value)
{
	ipk__err_clear();
	int rv = notify_signo(&signo);
	if (rv < 0)
		return rv;
	if (pidfd < 0)
		return ipk__err(-EBADF,
		    "notify_send_pidfd: pidfd %d is not a descriptor", pidfd);
	/*
	 * What sigqueue(3) builds: SI_QUEUE (negative, as the kernel demands
	 * for a siginfo sent to another process) with our pid and uid.
	 */
	siginfo_t si;
	memset(&si, 0, sizeof(si));
	si.si_signo = signo;
	si.si_code = SI_QUEUE;
	si.si_pid = getpid();
	si.si_uid = getuid();
	si.si_value.sival_int = value;
	if (syscall(SYS_pidfd_send_signal, pidfd, signo, &si, 0) == 0)
		return 0;
	int e = errno;
	if (e == ENOSYS)
		return ipk__err(-ENOSYS,
		    "pidfd_send_signal is not available "
		    "(Linux 5.1 or later is needed); use ipk_notify_send");
	if (e == EBADF)
		return ipk__err(-EBADF, "pidfd %d is not a pidfd", pidfd);
	char who[48];
	snprintf(who, sizeof(who), "the process of pidfd %d", pidfd);
	return notify_send_err(e, 0, who);
}

int
ipk_notify_block(int signo)
{
	ipk__err_clear();
	int rv = notify_signo(&signo);
	if (rv < 0)
		return rv;
	sigset_t set;
	sigemptyset(&set);
	sigaddset(&set, signo);
	rv = pthread_sigmask(SIG_BLOCK, &set, NULL);
	if (rv != 0)
		return ipk__err(
		    -rv, "blocking signal %d: %s", signo, strerror(rv));
	return 0;
}

/*
 * The signalfd rule, checked: every thread must block `signo`, or the kernel
 * may hand a notification to one that does not, with the default action
 * (ending the process). Each thread's mask is the SigBlk line of
 * /proc/self/task/TID/status (proc(5)); without /proc the check is skipped.
 * Best effort: a thread still starting shows every signal blocked until
 * glibc restores its creator's mask, and threads created later are not
 * seen.
 */
static int
notify_threads_check(int signo)
{
	DIR *d = opendir("/proc/self/task");
	if (!d)
		return 0;
	int rv = 0;
	struct dirent *e;
	while (rv == 0 && (e = readdir(d)) != NULL) {
		if (e->d_name[0] < '0' || e->d_name[0] > '9')
			continue;
		char path[64], line[128];
		snprintf(path, sizeof(path), "/proc/self/task/%.16s/status",
		    e->d_name);
		FILE *f = fopen(path, "re");
		if (!f)
			continue; /* the thread has just exited */
		unsigned long long blk;
		while (fgets(line, sizeof(line), f))
			if (strncmp(line, "SigBlk:", 7) == 0) {
				blk = strtoull(line + 7, NULL, 16);
				if (!(blk & (1ull << (signo - 1))))
					rv = ipk__err(-EINVAL,
					    "thread %s of this process does "
					    "not "
					    "block signal %d: a notification "
					    "could end the process; call "
					    "ipk_notify_block() in main() "
					    "before creating threads",
					    e->d_name, signo);
				break;
			}
		(void)fclose(f);
	}
	closedir(d);
	return rv;
}

int
ipk_notify_open(int signo, struct ipk_notify **out)
{
	ipk__err_clear();
	if (!out)
		return ipk__err(-EINVAL, "notify_open: out is NULL");
	*out = NULL;
	int rv = ipk_notify_block(signo);
	if (rv < 0)
		return rv;
	notify_signo(&signo);
	if ((rv = notify_threads_check(signo)) < 0)
		return rv;
	struct ipk_notify *n = ipk__calloc(1, sizeof(*n));
	if (!n)
		return -ENOMEM;
	sigset_t set;
	sigemptyset(&set);
	sigaddset(&set, signo);
	n->signo = signo;
	n->fd = signalfd(-1, &set, SFD_CLOEXEC | SFD_NONBLOCK);
	if (n->fd < 0) {
		rv = ipk__err(-errno, "signalfd for signal %d: %s", signo,
		    strerror(errno));
		ipk__free(n);
		return rv;
	}
	*out = n;
	return 0;
}

int
ipk_notify_fd(struct ipk_notify *n)
{
	ipk__err_clear();
	if (!n)
		return ipk__err(-EINVAL, "notify_fd: receiver is NULL");
	return n->fd;
}

int
ipk_notify_recv(struct ipk_notify *n, int *value, pid_t *from, int timeout_ms)
{
	ipk__err_clear();
	if (!n)
		return ipk__err(-EINVAL, "notify_recv: receiver is NULL");
	int64_t deadline = ipk__deadline(timeout_ms);
	for (;;) {
		struct signalfd_siginfo si;
		ssize_t r = read(n->fd, &si, sizeof(si));
		if (r == (ssize_t)sizeof(si)) {
			if ((int)si.ssi_signo != n->signo)
				return ipk__err(-EBADMSG,
				    "signalfd returned signal %u, expected %d",
				    si.ssi_signo, n->signo);
			if (value)
				*value = si.ssi_int;
			if (from)
				*from = (pid_t)si.ssi_pid;
			return 0;
		}
		if (r >= 0)
			return ipk__err(
			    -EIO, "signalfd: short read of %zd bytes", r);
		if (errno == EINTR)
			continue;
		if (errno != EAGAIN)
			return ipk__err(
			    -errno, "signalfd read: %s", strerror(errno));
		if (timeout_ms == 0)
			return -EAGAIN;
		int p = ipk__poll1(n->fd, POLLIN, deadline, -1);
		if (p < 0)
			return ipk__err(
			    p, "poll on signalfd: %s", strerror(-p));
		if (p == 0 && ipk__expired(deadline))
			return -ETIMEDOUT;
	}
}

int
ipk_notify_close(struct ipk_notify *n)
{
	ipk__err_clear();
	if (!n)
		return 0;
	int rv = 0;
	if (n->fd >= 0 && close(n->fd) < 0)
		rv = -errno;
	ipk__free(n);
	return rv;
}
