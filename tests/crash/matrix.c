/* SPDX-License-Identifier: MIT */
/*
 * matrix.c - the crash matrix: a writer and a reader process exchange
 * checksummed messages over one transport variant while this process kills
 * (SIGKILL), freezes (SIGSTOP) or kills-and-restarts one of them at a seeded
 * random point, at its N-th send/receive system call (strace -e inject) or
 * at a crash site inside the library (test builds); every trial asserts
 * detection time, integrity, order, the delivered set and that nothing is
 * left behind. Usage: matrix VARIANT [QUERY]; the environment picks the
 * kill-point sources (see main). A parent-side watchdog fails a trial only
 * when nothing has moved for CR_STALL_MS, after dumping the stuck stacks.
 */
#include <dirent.h>
#include <limits.h>
#include <poll.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>

#include "test.h"

#define CR_MAGIC 0x6b706963u /* "cipk" */
#define CR_HDR 32u
#define CR_MAXN 200000u
#define CR_STALL_MS 20000 /* the watchdog: no progress for this long */
#define CR_LEN(a) (sizeof(a) / sizeof((a)[0]))
#ifdef IPK_TEST_HOOKS
#define CR_HOOKS 1 /* the library has crash sites */
#else
#define CR_HOOKS 0
#endif

/* The integrity header in front of every payload. */
struct cr_hdr {
	uint32_t magic, stream;
	uint64_t seq;
	uint32_t len, crc;
	uint64_t send_ts;
};

enum cr_kind { CR_KILL, CR_STOP, CR_RESTART, CR_PLAIN, CR_SYSCALL, CR_SITE };

/* How one trial's victim dies. */
struct cr_point {
	enum cr_kind kind;
	unsigned n; /* CR_SYSCALL: the N-th call; CR_SITE: the hit */
	const char *site; /* CR_SITE: the crash site's name */
};

/*
 * The crash sites of src/ (make hooks-list) and where a trial reaches
 * them: schemes, the role that passes the site ('w', 'r' or 'b'oth), and
 * flags. CS_UNPUB: the writer dies before the record is published, so the
 * reader must never see it (no duplicate after the restart). CS_SLEEP: the
 * site needs a sleeping peer, which wait=spin never has.
 */
#define CS_UNPUB 1u
#define CS_SLEEP 2u
struct cr_site {
	const char *name, *schemes;
	char role;
	unsigned flags;
};
static const struct cr_site cr_sites[] = {
    {"ring.after_loan", "shm", 'w', CS_UNPUB},
    {"ring.mid_copy", "shm", 'w', CS_UNPUB},
    {"ring.after_len", "shm", 'w', CS_UNPUB},
    {"ring.after_pad", "shm", 'w', CS_UNPUB},
    {"ring.before_stamp", "shm", 'w', CS_UNPUB},
    {"ring.after_stamp", "shm", 'w', 0},
    {"ring.after_tail", "shm", 'w', 0},
    {"ring.before_wake_reader", "shm", 'w', CS_SLEEP},
    {"ring.wake_reader_taken", "shm", 'w', CS_SLEEP},
    {"ring.before_release", "shm", 'r', 0},
    {"ring.after_head", "shm", 'r', 0},
    {"ring.wake_writer_taken", "shm", 'r', CS_SLEEP},
    {"shm.dial_attached", "shm", 'b', 0},
    {"shm.close_unlocked", "shm", 'b', 0},
    {"frame.write_mid_frame", "fifo unix", 'w', 0},
    {"frame.read_mid_payload", "fifo unix tcp nng+tcp", 'r', 0},
    {"mq.after_send", "mq", 'w', 0},
    {"mq.after_receive", "mq", 'r', 0},
    {"sysv.before_ring", "sysv", 'w', 0},
    {"sysv.after_receive", "sysv", 'r', 0},
};

/* Sites a dedicated test kills at instead of the matrix (and which one). */
static const char *const cr_elsewhere[] = {
    "sysv.linger_mark", /* transport_sysv_mq_linger_test */
    /* transport_shm_pubsub_test (publish/subscribe) */
    "bcast.before_stamp",
    "bcast.after_stamp",
    "bcast.before_wake",
    "bcast.recv_taken",
    "bcast.before_release",
    "bcast.after_head",
};

/* State shared by this process and both children (MAP_SHARED). */
struct cr_shared {
	char url[512];
	int url_ready, reader_done, pipe_fds;
	int kill_gen, detect_gen, stopping;
	int64_t t_kill, t_detect;
	uint64_t writer_next, progress;
	uint32_t torn, badorder, badmsg, false_closed, errors;
	long rss_kb[2][2]; /* [writer, reader][start, end] */
	int resends, resend_rv; /* end marker repeated; last result */
	pid_t pid[2]; /* [writer, reader]: the process now in the role */
	int dialed; /* the victim's dial returned a channel */
	int accepted; /* the survivor's accept returned one */
	uint64_t beats; /* any child moved (the watchdog's pulse) */
	uint32_t accept_closed; /* accepts that saw a dialer die first */
	char err[256];
	uint8_t seen[CR_MAXN + 1];
};

static struct cr_shared *sh;
static const char *variant; /* "shm/spin" */
static char scheme[32]; /* "shm" */
static const char *query; /* "wait=spin" or NULL */
static unsigned nmsg = 2000; /* sentinel seq = nmsg */
static uint64_t seed;
static uint32_t crc_tab[256];
static unsigned caps; /* the transport's IPK_CAP_* */
static int is_pipe, is_multi; /* kinship (pipe); new channel per dialer */
static struct ipk_chan *pipe_ends[2];
static int sh_fd = -1; /* the memfd behind sh */
static char self_exe[PATH_MAX]; /* this program, re-executed as a child */
static const char *strace_path; /* NULL: no (b) kill points */
static pid_t kids[8]; /* this trial's children, for the cleanup */
static char trial_url[512]; /* this trial's address, for the cleanup */

static uint64_t crash_reader_loss_limit(void);

static void
crash_crc_init(void)
{
	for (uint32_t i = 0; i < 256; i++) {
		uint32_t c = i;
		for (int k = 0; k < 8; k++)
			c = c & 1 ? (c >> 1) ^ 0x82f63b78u : c >> 1;
		crc_tab[i] = c;
	}
}

/* CRC-32C (Castagnoli) of seq (little endian) followed by the payload. */
static uint32_t
crash_crc(uint64_t seq, const unsigned char *p, size_t n)
{
	uint32_t c = 0xffffffffu;
	for (int i = 0; i < 8; i++)
		c = crc_tab[(c ^ (uint8_t)(seq >> (8 * i))) & 0xff] ^ (c >> 8);
	for (size_t i = 0; i < n; i++)
		c = crc_tab[(c ^ p[i]) & 0xff] ^ (c >> 8);
	return ~c;
}

/* Payload size of message `seq`: the plan's mix, capped at `maxp`. */
static size_t
crash_size(uint64_t seq, size_t maxp)
{
	uint64_t s = seed ^ (seq + 1) * 0x9e3779b97f4a7c15ull;
	uint64_t r = t_rand(&s);
	unsigned pct = (unsigned)(r % 100);
	size_t n;
	r >>= 8;
	if (pct < 40)
		n = 1 + r % 64;
	else if (pct < 70)
		n = 65 + r % 4032;
	else if (pct < 90)
		n = 4097 + r % 61440;
	else if (pct < 99)
		n = 1 + r % maxp;
	else
		n = (r & 1) ? 4096 - CR_HDR : 4097 - CR_HDR;
	return n > maxp ? maxp : n;
}

static void
crash_note(const char *what, int rv)
{
	/* The first error is the one to explain. */
	if (__atomic_add_fetch(&sh->errors, 1, __ATOMIC_SEQ_CST) == 1)
		snprintf(sh->err, sizeof(sh->err), "%s: %s %s", what,
		    ipk_errname(rv), ipk_strerror(rv));
}

/* The survivor saw "peer closed": record when, once per kill. */
static void
crash_detected(void)
{
	int kg = __atomic_load_n(&sh->kill_gen, __ATOMIC_ACQUIRE);
	if (__atomic_load_n(&sh->stopping, __ATOMIC_ACQUIRE))
		__atomic_add_fetch(&sh->false_closed, 1, __ATOMIC_SEQ_CST);
	if (kg > __atomic_load_n(&sh->detect_gen, __ATOMIC_ACQUIRE)) {
		sh->t_detect = t_now_ns();
		__atomic_store_n(&sh->detect_gen, kg, __ATOMIC_RELEASE);
	}
}

/* Resident set size of this process in KiB (VmRSS), or -1. */
static long
crash_rss_kb(void)
{
	FILE *f = fopen("/proc/self/status", "re");
	char line[128];
	long kb = -1;
	while (f && fgets(line, sizeof(line), f))
		if (!strncmp(line, "VmRSS:", 6))
			kb = strtol(line + 6, NULL, 10);
	if (f)
		fclose(f);
	return kb;
}

static void
crash_pause_ms(int ms)
{
	struct timespec ts = {0, (long)ms * 1000000};
	nanosleep(&ts, NULL); /* polling a shared fact, not synchronising */
}

/*
 * Accept the next peer. A transport with a channel per dialer may report
 * a dialer that died before its channel was set up (nng+tcp: during the
 * SP handshake) as IPK_ECLOSED; a server goes on accepting, and so do we,
 * counting it.
 */
static int
crash_accept(struct ipk_listener *l, struct ipk_chan **c)
{
	int64_t t0 = t_now_ns();
	int rv;
	while ((rv = ipk_accept(l, 10000, c)) == IPK_ECLOSED && is_multi &&
	    t_ms_since(t0) < 10000)
		__atomic_add_fetch(&sh->accept_closed, 1, __ATOMIC_RELAXED);
	return rv;
}

/* Open this child's end: listen+accept, dial, or a pipe end. */
static int
crash_open(int listener, int end, struct ipk_listener **l, struct ipk_chan **c)
{
	int rv;
	if (is_pipe) {
		*c = pipe_ends[end];
		ipk_close(pipe_ends[!end]);
		return 0;
	}
	if (listener) {
		rv = ipk_listen(sh->url, NULL, l);
		if (rv)
			return crash_note("listen", rv), rv;
		snprintf(sh->url, sizeof(sh->url), "%s", ipk_listener_url(*l));
		__atomic_store_n(&sh->url_ready, 1, __ATOMIC_RELEASE);
		rv = crash_accept(*l, c);
		if (rv)
			crash_note("accept", rv);
		else
			__atomic_store_n(&sh->accepted, 1, __ATOMIC_RELEASE);
		return rv;
	}
	char u[600];
	snprintf(u, sizeof(u), "%s%stimeout=5000", sh->url,
	    strchr(sh->url, '?') ? "&" : "?");
	rv = ipk_dial(u, NULL, c);
	if (rv)
		crash_note("dial", rv);
	else
		__atomic_store_n(&sh->dialed, 1, __ATOMIC_RELEASE);
	return rv;
}

/*
 * The survivor's answer to "peer closed": a pipe ends; a transport that
 * hands out a new channel per dialer accepts the restarted peer; a
 * reattaching transport keeps its channel and tries again shortly.
 */
static int
crash_on_closed(int listener, struct ipk_listener *l, struct ipk_chan **c)
{
	crash_detected();
	if (is_pipe)
		return 1; /* no restart: the conversation is over */
	if (is_multi && listener) {
		ipk_close(*c);
		*c = NULL;
		int rv = crash_accept(l, c);
		if (rv)
			crash_note("accept after peer death", rv);
		return rv ? -1 : 0;
	}
	crash_pause_ms(1);
	return 0;
}

static int
crash_writer(int listener, int incarnation)
{
	struct ipk_listener *l = NULL;
	struct ipk_chan *c = NULL;
	int fds = is_pipe ? sh->pipe_fds : t_count_fds(), rc = 1;
	if (!listener && !is_pipe && sh->writer_next > nmsg)
		return 0; /* everything sent before the kill */
	if (crash_open(listener, 0, &l, &c))
		goto out;
	sh->rss_kb[0][0] = crash_rss_kb();
	size_t maxp = ipk_max_msg(c);
	if (maxp > (1u << 20))
		maxp = 1u << 20;
	maxp -= CR_HDR;
	unsigned char *buf = malloc(maxp + CR_HDR);
	if (!buf)
		goto out;
again:
	for (;;) {
		uint64_t seq =
		    __atomic_load_n(&sh->writer_next, __ATOMIC_ACQUIRE);
		if (seq > nmsg)
			break;
		size_t n = seq == nmsg ? 0 : crash_size(seq, maxp);
		struct cr_hdr h = {CR_MAGIC, (uint32_t)incarnation, seq,
		    (uint32_t)n, 0, (uint64_t)t_now_ns()};
		t_fill(buf + CR_HDR, n, seed, seq);
		h.crc = crash_crc(seq, buf + CR_HDR, n);
		memcpy(buf, &h, sizeof(h));
		int rv = ipk_send(c, buf, n + CR_HDR, 0, 500);
		if (rv == 0) {
			__atomic_store_n(
			    &sh->writer_next, seq + 1, __ATOMIC_RELEASE);
			__atomic_add_fetch(&sh->beats, 1, __ATOMIC_RELAXED);
		} else if (rv == IPK_ECLOSED) {
			rv = crash_on_closed(listener, l, &c);
			if (rv > 0)
				break;
			if (rv < 0)
				goto done;
		} else if (rv != -ETIMEDOUT && rv != -EAGAIN) {
			crash_note("send", rv);
			goto done;
		}
	}
	sh->rss_kb[0][1] = crash_rss_kb();
	/* Keep the channel (and named objects) until the reader is done, or
	 * until it has made no progress for CR_STALL_MS. */
	uint64_t seen_progress = 0;
	for (int i = 0; !is_pipe && i < CR_STALL_MS &&
	     !__atomic_load_n(&sh->reader_done, __ATOMIC_ACQUIRE);
	     i++) {
		struct ipk_chan *nc;
		uint64_t pr = __atomic_load_n(&sh->progress, __ATOMIC_ACQUIRE);
		if (pr != seen_progress) {
			seen_progress = pr;
			i = 0;
		}
		if (!is_multi || !listener) {
			/* A reader killed after taking the end marker (or,
			 * on fifo, before reading what was sent to it) took
			 * it along: repeat it now and then. */
			if (sh->kill_gen && crash_reader_loss_limit() &&
			    i % 100 == 99) {
				struct cr_hdr h = {CR_MAGIC,
				    (uint32_t)incarnation, nmsg, 0,
				    crash_crc(nmsg, buf, 0), 0};
				sh->resend_rv =
				    ipk_send(c, &h, sizeof(h), 0, 0);
				sh->resends++;
			}
			crash_pause_ms(1);
			continue;
		}
		/* A restarted reader on a new channel: the old one died
		 * with the end marker in it, so send that again. */
		if (ipk_accept(l, 1, &nc) == 0) {
			crash_detected();
			ipk_close(c);
			c = nc;
			__atomic_store_n(
			    &sh->writer_next, nmsg, __ATOMIC_RELEASE);
			goto again;
		}
	}
	rc = 0;
done:
	free(buf);
out:
	ipk_close(c);
	ipk_listener_close(l);
	if (t_count_fds() != fds) {
		snprintf(sh->err, sizeof(sh->err), "writer fds %d -> %d", fds,
		    t_count_fds());
		rc = 1;
	}
	return rc;
}

/* Check one received message; 1 when it is the end marker. */
static int
crash_check(const unsigned char *p, size_t len, uint32_t *last_stream,
    int64_t *last_seq)
{
	struct cr_hdr h;
	if (len < CR_HDR) {
		__atomic_add_fetch(&sh->torn, 1, __ATOMIC_SEQ_CST);
		return 0;
	}
	memcpy(&h, p, sizeof(h));
	if (h.magic != CR_MAGIC || h.len != len - CR_HDR || h.seq > nmsg ||
	    crash_crc(h.seq, p + CR_HDR, h.len) != h.crc) {
		__atomic_add_fetch(&sh->torn, 1, __ATOMIC_SEQ_CST);
		return 0;
	}
	if (h.seq == nmsg)
		return 1;
	if (h.stream == *last_stream && (int64_t)h.seq <= *last_seq)
		__atomic_add_fetch(&sh->badorder, 1, __ATOMIC_SEQ_CST);
	*last_stream = h.stream;
	*last_seq = (int64_t)h.seq;
	if (sh->seen[h.seq] < 255)
		sh->seen[h.seq]++;
	__atomic_add_fetch(&sh->progress, 1, __ATOMIC_RELEASE);
	return 0;
}

static int
crash_reader(int listener)
{
	struct ipk_listener *l = NULL;
	struct ipk_chan *c = NULL;
	int fds = is_pipe ? sh->pipe_fds : t_count_fds(), rc = 1;
	uint32_t last_stream = UINT32_MAX;
	int64_t last_seq = -1;
	if (__atomic_load_n(&sh->reader_done, __ATOMIC_ACQUIRE))
		return 0;
	if (crash_open(listener, 1, &l, &c))
		goto out;
	sh->rss_kb[1][0] = crash_rss_kb();
	for (;;) {
		const void *p;
		size_t len;
		int rv = ipk_peek(c, &p, &len, NULL, 500);
		if (rv == 0) {
			int end = crash_check(p, len, &last_stream, &last_seq);
			/* Recorded before release: a crash here redelivers.
			 * The end marker too (shm never repeats it): a reader
			 * killed after releasing it has still finished. */
			if (end)
				__atomic_store_n(
				    &sh->reader_done, 1, __ATOMIC_RELEASE);
			rv = ipk_release(c);
			if (rv) {
				crash_note("release", rv);
				goto out;
			}
			if (end)
				break;
		} else if (rv == -EBADMSG) {
			__atomic_add_fetch(&sh->badmsg, 1, __ATOMIC_SEQ_CST);
		} else if (rv == IPK_ECLOSED) {
			rv = crash_on_closed(listener, l, &c);
			if (rv > 0)
				goto done;
			if (rv < 0)
				goto out;
		} else if (rv != -ETIMEDOUT && rv != -EAGAIN) {
			crash_note("peek", rv);
			goto out;
		}
	}
	sh->rss_kb[1][1] = crash_rss_kb();
	__atomic_store_n(&sh->reader_done, 1, __ATOMIC_RELEASE);
done:
	rc = 0;
out:
	ipk_close(c);
	ipk_listener_close(l);
	if (t_count_fds() != fds) {
		snprintf(sh->err, sizeof(sh->err), "reader fds %d -> %d", fds,
		    t_count_fds());
		rc = 1;
	}
	return rc;
}

/* This trial's address: the transport's example with `tag` as the name,
 * then the variant's query. */
static void
crash_url(const char *tag, char *url, size_t cap)
{
	int n = ipk_scheme_url(scheme, tag, url, cap);
	if (n < 0)
		T_FAILF(
		    "ipk_scheme_url(%s, %s): %s", scheme, tag, ipk_strerror(n));
	if (query)
		snprintf(url + n, cap - (size_t)n, "%s%s",
		    strchr(url, '?') ? "&" : "?", query);
}

/* The query `variant` stands for ("" for none), or NULL if unknown. */
static const char *
crash_variant_query(void)
{
	struct ipk_variant v;
	if (!strcmp(variant, scheme))
		return "";
	for (size_t i = 0; ipk_scheme_variant(scheme, i, &v) == 0; i++)
		if (!strcmp(v.name, variant))
			return v.query;
	return NULL;
}

/*
 * `matrix --variants`: the variants the transport tables give the crash
 * matrix, one a line: NAME SCHEME SITES [QUERY], SITES 1 when a
 * re-executed victim can reach the library's crash sites (it cannot dial
 * a transport that needs kinship). tests/CMakeLists.txt and the Makefile's
 * crash targets take their list from here.
 */
static int
crash_list_variants(void)
{
	for (const char *const *s = ipk_schemes(); *s; s++) {
		struct ipk_variant v;
		int sites = !(ipk_scheme_caps(*s) & IPK_CAP_KINSHIP);
		for (size_t i = 0; ipk_scheme_variant(*s, i, &v) == 0; i++)
			if (v.flags & IPK_VARIANT_CRASH)
				printf("%s %s %d %s\n", v.name, *s, sites,
				    v.query);
	}
	return 0;
}

/* The system calls whose N-th call kills a victim of this role, by the
 * family the capability bits tell: a ring in shared memory, a kernel
 * message queue (POSIX or System V: each process makes only its own
 * kind of call), a byte stream. */
static const char *
crash_syscalls(int writer)
{
	if (caps & IPK_CAP_ZEROCOPY)
		return "futex"; /* the only calls of the ring's data path */
	if (caps & IPK_CAP_PERSIST)
		return writer ? "mq_timedsend,msgsnd"
			      : "mq_timedreceive,msgrcv";
	return writer ? "write,writev,sendmsg,sendto"
		      : "read,readv,recvmsg,recvfrom";
}

/* In a child: die with the parent; say who holds the role now. */
static void
crash_child_init(int writer)
{
	(void)prctl(PR_SET_PDEATHSIG, SIGKILL);
	__atomic_store_n(&sh->pid[!writer], getpid(), __ATOMIC_RELEASE);
}

static void
crash_remember(pid_t pid)
{
	for (size_t i = 0; i < CR_LEN(kids); i++)
		if (kids[i] <= 0) {
			kids[i] = pid;
			return;
		}
}

static void
crash_forget(pid_t pid)
{
	for (size_t i = 0; i < CR_LEN(kids); i++)
		if (kids[i] == pid)
			kids[i] = 0;
}

/*
 * Start a child: role writer or reader, listener side or not. For the
 * (b) and (c) kill points the child re-executes this program ("--child"),
 * under strace for (b), with IPK_TEST_CRASH for (c): a fresh process
 * whose crash-site counters and syscall counts start at zero.
 */
static pid_t
crash_spawn(
    int writer, int listener, int incarnation, const struct cr_point *pt)
{
	pid_t pid = fork();
	if (pid < 0)
		T_FAILF("fork: %s", strerror(errno));
	if (pid > 0) {
		crash_remember(pid);
		return pid;
	}
	if (!pt || (pt->kind != CR_SYSCALL && pt->kind != CR_SITE)) {
		crash_child_init(writer);
		_exit(writer ? crash_writer(listener, incarnation)
			     : crash_reader(listener));
	}
	(void)prctl(PR_SET_PDEATHSIG, SIGKILL);
	char a_l[16], a_inc[16], a_seed[32], a_n[16], a_fd[16];
	char trace[160], inject[200], env[200];
	char *argv[32];
	int k = 0;
	snprintf(a_l, sizeof(a_l), "%d", listener);
	snprintf(a_inc, sizeof(a_inc), "%d", incarnation);
	snprintf(a_seed, sizeof(a_seed), "0x%llx", (unsigned long long)seed);
	snprintf(a_n, sizeof(a_n), "%u", nmsg);
	snprintf(a_fd, sizeof(a_fd), "%d", sh_fd);
	if (fcntl(sh_fd, F_SETFD, 0) < 0)
		_exit(126);
	if (pt->kind == CR_SYSCALL) {
		const char *set = crash_syscalls(writer);
		const char *asan = getenv("ASAN_OPTIONS");
		snprintf(trace, sizeof(trace), "trace=%s", set);
		snprintf(inject, sizeof(inject),
		    "inject=%s:signal=SIGKILL:when=%u", set, pt->n);
		/* LeakSanitizer cannot run in a traced process. */
		snprintf(env, sizeof(env), "%s%sdetect_leaks=0",
		    asan ? asan : "", asan && *asan ? ":" : "");
		setenv("ASAN_OPTIONS", env, 1);
		char *pre[] = {(char *)strace_path, "-f", "-qq", "-o",
		    "/dev/null", "-e", trace, "-e", inject, "--"};
		for (size_t i = 0; i < CR_LEN(pre); i++)
			argv[k++] = pre[i];
	} else {
		snprintf(env, sizeof(env), "%s:%u", pt->site, pt->n);
		setenv("IPK_TEST_CRASH", env, 1);
	}
	char *rest[] = {self_exe, "--child", writer ? "w" : "r", a_l, a_inc,
	    a_seed, a_n, a_fd, (char *)variant, (char *)query};
	for (size_t i = 0; i < CR_LEN(rest) && rest[i]; i++)
		argv[k++] = rest[i];
	argv[k] = NULL;
	execv(argv[0], argv);
	fprintf(stderr, "exec %s: %s\n", argv[0], strerror(errno));
	_exit(127);
}

/* The watchdog's pulse: changes whenever a message moves. */
static uint64_t
crash_pulse(void)
{
	return __atomic_load_n(&sh->beats, __ATOMIC_ACQUIRE) +
	    __atomic_load_n(&sh->progress, __ATOMIC_ACQUIRE);
}

/* The watchdog's report: where each process of the trial is stuck. */
static void
crash_dump(void)
{
	pid_t p[CR_LEN(kids) + 2];
	size_t n = 0;
	for (size_t i = 0; i < CR_LEN(kids); i++)
		if (kids[i] > 0)
			p[n++] = kids[i];
	for (int r = 0; r < 2; r++) {
		size_t j = 0;
		while (j < n && p[j] != sh->pid[r])
			j++;
		if (sh->pid[r] > 0 && j == n)
			p[n++] = sh->pid[r]; /* a grandchild under strace */
	}
	for (size_t i = 0; i < n; i++) {
		char path[64], buf[256] = "";
		char cmd[256];
		if (kill(p[i], 0) < 0)
			continue;
		snprintf(path, sizeof(path), "/proc/%d/wchan", (int)p[i]);
		FILE *f = fopen(path, "re");
		if (f) {
			if (!fgets(buf, sizeof(buf), f))
				buf[0] = '\0';
			fclose(f);
		}
		fprintf(stderr, "watchdog: pid %d (%s) sleeps in '%s'\n",
		    (int)p[i],
		    p[i] == sh->pid[0]	     ? "writer"
			: p[i] == sh->pid[1] ? "reader"
					     : "child",
		    buf);
		fflush(stderr);
		snprintf(cmd, sizeof(cmd),
		    "cat /proc/%d/stack >&2 2>/dev/null; "
		    "command -v gdb >/dev/null 2>&1 && timeout 60 gdb -batch "
		    "-p %d -ex 'thread apply all bt' </dev/null >&2 2>&1",
		    (int)p[i], (int)p[i]);
		if (system(cmd) == -1)
			fprintf(stderr, "watchdog: cannot run gdb\n");
	}
}

/*
 * Wait for child `pid` to end; fail when no message has moved for
 * CR_STALL_MS (a slow transfer that progresses is never cut short).
 * *t_end: when the process in role `vrole` (0 writer, 1 reader, -1 none)
 * was seen to die, through its pidfd (under strace it is our grandchild),
 * or else when `pid` was reaped.
 */
static void
crash_reap(pid_t pid, const char *who, int *st, int vrole, int64_t *t_end)
{
	int self = (int)syscall(SYS_pidfd_open, pid, 0), vfd = -1;
	pid_t vpid = 0;
	uint64_t last = crash_pulse();
	int64_t t_last = t_now_ns();
	for (;;) {
		pid_t r = waitpid(pid, st, WNOHANG);
		if (r == pid)
			break;
		if (r < 0)
			T_FAILF("waitpid %s: %s", who, strerror(errno));
		if (vrole >= 0 && vfd < 0 && !vpid &&
		    (vpid = __atomic_load_n(
			 &sh->pid[vrole], __ATOMIC_ACQUIRE)) > 0)
			vfd = (int)syscall(SYS_pidfd_open, vpid, 0);
		struct pollfd pf[2] = {{self, POLLIN, 0}, {vfd, POLLIN, 0}};
		int np = vfd >= 0 && !*t_end ? 2 : 1;
		if (self < 0)
			crash_pause_ms(2);
		else if (poll(pf, (nfds_t)np, 100) > 0 && np == 2 &&
		    pf[1].revents)
			*t_end = t_now_ns(); /* the victim has died */
		uint64_t now = crash_pulse();
		if (now != last) {
			last = now;
			t_last = t_now_ns();
		} else if (t_ms_since(t_last) > CR_STALL_MS) {
			fprintf(stderr,
			    "watchdog: %s: no message moved for %d "
			    "ms; writer_next %llu, progress %llu\n",
			    who, CR_STALL_MS,
			    (unsigned long long)sh->writer_next,
			    (unsigned long long)sh->progress);
			crash_dump();
			T_FAILF("%s: %s stalled", variant, who);
		}
	}
	if (!*t_end)
		*t_end = t_now_ns();
	if (self >= 0)
		close(self);
	if (vfd >= 0)
		close(vfd);
	crash_forget(pid);
}

static int
crash_fail_status(const char *who, int st)
{
	fprintf(stderr,
	    "%s ended with %s %d (%s); writer_next %llu, "
	    "progress %llu, reader_done %d, kill_gen %d, detect_gen %d, "
	    "end marker repeated %d times (last: %s)\n",
	    who, WIFEXITED(st) ? "status" : "signal",
	    WIFEXITED(st) ? WEXITSTATUS(st) : WTERMSIG(st), sh->err,
	    (unsigned long long)sh->writer_next,
	    (unsigned long long)sh->progress, sh->reader_done, sh->kill_gen,
	    sh->detect_gen, sh->resends, ipk_errname(sh->resend_rv));
	return -1;
}

static int
crash_wait(pid_t pid, const char *who)
{
	int st;
	int64_t t_end = 0;
	crash_reap(pid, who, &st, -1, &t_end);
	if (WIFEXITED(st) && WEXITSTATUS(st) == 0)
		return 0;
	return crash_fail_status(who, st);
}

/* Entries in dir whose name contains tag (the run's unique name). */
static int
crash_leftovers(const char *dir, const char *tag)
{
	DIR *d = dir ? opendir(dir) : NULL;
	int n = 0;
	if (!d)
		return 0;
	for (struct dirent *e; (e = readdir(d));)
		if (strstr(e->d_name, tag)) {
			fprintf(stderr, "left behind: %s/%s\n", dir, e->d_name);
			n++;
		}
	closedir(d);
	return n;
}

/* Per (variant, role) totals, printed at the end. */
struct cr_totals {
	unsigned trials, detected, kills, unreached, accept_closed;
	double det[4096];
	uint64_t msgs, lost, dups, torn, badmsg, false_closed;
};

static int
crash_dcmp(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return x < y ? -1 : x > y;
}

/*
 * Messages a killed reader may take with it, per kill: none on shm (peek
 * and release: at-least-once); the one it had dequeued from a kernel queue
 * (mq, sysv); on byte streams whatever sat in its read-ahead buffer and,
 * without reattach, in the dead connection (documented per transport).
 */
static uint64_t
crash_reader_loss_limit(void)
{
	if (caps & IPK_CAP_ZEROCOPY)
		return 0; /* a ring */
	if (caps & IPK_CAP_PERSIST)
		return 1; /* a kernel queue */
	return UINT64_MAX;
}

/* The message queues of /proc/sysvipc/msg: ids into `ids` (at most n),
 * or, with `pids`, print and count those last used by one of them. */
static int
crash_sysv_scan(int *ids, int n, const int *before, int nbefore,
    const pid_t *pids, int npids)
{
	FILE *f = fopen("/proc/sysvipc/msg", "re");
	char line[512];
	int k = 0;
	if (!f)
		return 0;
	while (fgets(line, sizeof(line), f)) {
		long key, id, perms, cbytes, qnum, lspid, lrpid;
		if (sscanf(line, "%ld %ld %ld %ld %ld %ld %ld", &key, &id,
			&perms, &cbytes, &qnum, &lspid, &lrpid) != 7)
			continue;
		if (!pids) {
			if (k < n)
				ids[k++] = (int)id;
			continue;
		}
		int old = 0, ours = 0;
		for (int i = 0; i < nbefore; i++)
			old |= before[i] == id;
		for (int i = 0; i < npids; i++)
			ours |= pids[i] > 0 &&
			    (pids[i] == lspid || pids[i] == lrpid);
		if (!old && ours) {
			fprintf(stderr,
			    "left behind: SysV message queue %ld "
			    "(key 0x%lx, %ld messages)\n",
			    id, key, qnum);
			k++;
		}
	}
	fclose(f);
	return k;
}

/* On failure: end every child of the trial and remove its objects. */
static void
crash_cleanup(void)
{
	for (size_t i = 0; i < CR_LEN(kids); i++)
		if (kids[i] > 0) {
			kill(kids[i], SIGKILL);
			waitpid(kids[i], NULL, 0);
			kids[i] = 0;
		}
	for (int r = 0; sh && r < 2; r++)
		if (sh->pid[r] > 0)
			kill(sh->pid[r], SIGKILL);
	if (trial_url[0])
		(void)ipk_remove(trial_url, IPK_REMOVE_FORCE);
}

/* Does this trial's site name a step before the record is published? */
static int
crash_unpublished(const struct cr_point *pt)
{
	for (size_t i = 0; pt->kind == CR_SITE && i < CR_LEN(cr_sites); i++)
		if (!strcmp(cr_sites[i].name, pt->site))
			return (cr_sites[i].flags & CS_UNPUB) != 0;
	return 0;
}

/* One trial; returns 1 when the victim was killed at its kill point. */
static int
crash_trial(int victim_writer, const struct cr_point *pt, unsigned idx,
    uint64_t *rng, struct cr_totals *t)
{
	enum cr_kind kind = pt->kind;
	int exec_kill = kind == CR_SYSCALL || kind == CR_SITE, killed = 0;
	char tag[128];
	static int sysv_before[4096];
	int nsysv = crash_sysv_scan(sysv_before, 4096, NULL, 0, NULL, 0);
	pid_t tpids[8] = {0};
	memset(sh, 0, sizeof(*sh));
	snprintf(tag, sizeof(tag), "%s-%c%u", t_unique(),
	    victim_writer ? 'w' : 'r', idx);
	crash_url(tag, sh->url, sizeof(sh->url));
	snprintf(trial_url, sizeof(trial_url), "%s", sh->url);
	sh->pipe_fds = t_count_fds();
	if (is_pipe)
		T_OK(ipk_pair(&pipe_ends[0], &pipe_ends[1]));
	/* The survivor is the listener; the victim dials (and redials). */
	pid_t surv = crash_spawn(!victim_writer, 1, 0, NULL);
	tpids[0] = surv;
	for (int i = 0; !is_pipe && i < 5000 &&
	     !__atomic_load_n(&sh->url_ready, __ATOMIC_ACQUIRE);
	     i++)
		crash_pause_ms(1);
	if (!is_pipe && !sh->url_ready)
		T_FAILF("%s: listener not ready: %s", variant, sh->err);
	if (!is_pipe)
		snprintf(trial_url, sizeof(trial_url), "%s", sh->url);
	if (exec_kill) {
		/* A death is expected from the start: whenever the survivor
		 * sees it, it counts. */
		__atomic_store_n(&sh->kill_gen, 1, __ATOMIC_RELEASE);
	}
	pid_t vict = crash_spawn(victim_writer, 0, 0, pt);
	tpids[1] = vict;
	if (is_pipe) {
		ipk_close(pipe_ends[0]);
		ipk_close(pipe_ends[1]);
	}
	uint64_t target = 1 + t_rand(rng) % (nmsg - 1);
	int64_t t0 = t_now_ns();
	while (!exec_kill &&
	    __atomic_load_n(&sh->progress, __ATOMIC_ACQUIRE) < target &&
	    t_ms_since(t0) < 20000 && !sh->errors)
		crash_pause_ms(0);
	if (sh->errors)
		T_FAILF("%s: before the kill: %s", variant, sh->err);
	if (kind == CR_PLAIN) {
		if (crash_wait(vict, "peer"))
			T_FAILF("%s: peer failed", variant);
	} else if (kind == CR_STOP) {
		__atomic_store_n(&sh->stopping, 1, __ATOMIC_RELEASE);
		kill(vict, SIGSTOP);
		crash_pause_ms(300); /* the freeze being tested */
		kill(vict, SIGCONT);
		if (crash_wait(vict, "frozen peer"))
			T_FAILF("%s: frozen peer failed", variant);
	} else {
		if (exec_kill) {
			/* The victim kills itself (strace or crash site);
			 * t_kill is when its pidfd said it had died. */
			int st;
			int64_t t_end = 0;
			crash_reap(
			    vict, "victim", &st, victim_writer ? 0 : 1, &t_end);
			tpids[2] = sh->pid[victim_writer ? 0 : 1];
			if (WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL) {
				killed = 1;
				sh->t_kill = t_end;
			} else if (!WIFEXITED(st) || WEXITSTATUS(st)) {
				crash_fail_status("victim", st);
				T_FAILF("%s: victim failed", variant);
			} else {
				t->unreached++; /* ran to the end */
				__atomic_store_n(
				    &sh->kill_gen, 0, __ATOMIC_RELEASE);
			}
		} else {
			sh->t_kill = t_now_ns();
			__atomic_store_n(&sh->kill_gen, 1, __ATOMIC_RELEASE);
			kill(vict, SIGKILL);
			waitpid(vict, NULL, 0);
			crash_forget(vict);
			killed = 1;
		}
		/* A victim that died before both ends had their channel may
		 * have left the survivor nothing to notice: its accept goes
		 * on waiting for the restarted victim. */
		if (killed && kind != CR_RESTART && sh->dialed &&
		    __atomic_load_n(&sh->accepted, __ATOMIC_ACQUIRE)) {
			/* wait (bounded) for the survivor to notice */
			while (t_ms_since(sh->t_kill) < 3000 &&
			    !__atomic_load_n(
				&sh->detect_gen, __ATOMIC_ACQUIRE) &&
			    !__atomic_load_n(
				&sh->reader_done, __ATOMIC_ACQUIRE) &&
			    __atomic_load_n(
				&sh->writer_next, __ATOMIC_ACQUIRE) <= nmsg)
				crash_pause_ms(0);
			if (sh->detect_gen) {
				/* From the kill, or from when the parent saw
				 * the death (a survivor woken by the same
				 * event may be first: counted as 0). */
				double ms =
				    (double)(sh->t_detect - sh->t_kill) / 1e6;
				if (ms < 0)
					ms = 0;
				if (ms > 1000)
					T_FAILF("%s: peer death noticed after "
						"%.1f ms",
					    variant, ms);
				if (t->detected < 4096)
					t->det[t->detected++] = ms;
			} else if (!sh->reader_done &&
			    sh->writer_next <= nmsg) {
				T_FAILF("%s: survivor did not notice the "
					"death within 3 s (%s victim, kill "
					"point %s "
					"%u; writer_next %llu, progress %llu)",
				    variant,
				    victim_writer ? "writer" : "reader",
				    kind == CR_SITE	     ? pt->site
					: kind == CR_SYSCALL ? "syscall"
							     : "time",
				    pt->n, (unsigned long long)sh->writer_next,
				    (unsigned long long)sh->progress);
			}
		}
		if (killed && !is_pipe) {
			vict = crash_spawn(victim_writer, 0, 1, NULL);
			tpids[3] = vict;
			if (crash_wait(vict, "restarted peer"))
				T_FAILF("%s: restarted peer failed", variant);
		}
	}
	if (crash_wait(surv, "survivor"))
		T_FAILF("%s: survivor failed", variant);
	/* The delivered set. */
	uint64_t lost = 0, dups = 0;
	uint64_t upto = is_pipe ? sh->writer_next : nmsg;
	if (upto > nmsg)
		upto = nmsg;
	for (uint64_t s = 0; s < upto; s++) {
		if (!sh->seen[s])
			lost++;
		else
			dups += sh->seen[s] - 1u;
	}
	t->trials++;
	t->kills += (unsigned)killed;
	t->accept_closed += sh->accept_closed;
	t->msgs += sh->progress;
	t->lost += lost;
	t->dups += dups;
	t->torn += sh->torn;
	t->badmsg += sh->badmsg;
	t->false_closed += sh->false_closed;
	if (sh->torn || sh->badorder)
		T_FAILF("%s: %u torn, %u out of order", variant, sh->torn,
		    sh->badorder);
	if (sh->false_closed)
		T_FAILF("%s: frozen peer reported closed %u times", variant,
		    sh->false_closed);
	unsigned kills = (unsigned)killed;
	for (uint64_t s = 0, k = 0; dups > kills && s < upto && k < 8; s++)
		if (sh->seen[s] > 1 && ++k)
			fprintf(stderr, "seq %llu delivered %u times\n",
			    (unsigned long long)s, sh->seen[s]);
	if (dups > kills)
		T_FAILF("%s: %llu duplicates for %u kills", variant,
		    (unsigned long long)dups, kills);
	/* A writer that died before publishing left nothing visible: the
	 * restarted writer's copy is the only one. */
	if (killed && victim_writer && crash_unpublished(pt) && dups)
		T_FAILF("%s: a record of the writer killed at %s was seen",
		    variant, pt->site);
	uint64_t loss_ok =
	    killed && !victim_writer ? crash_reader_loss_limit() : 0;
	if (lost > loss_ok)
		T_FAILF("%s: %llu of %llu messages lost", variant,
		    (unsigned long long)lost, (unsigned long long)upto);
	if (sh->badmsg > kills)
		T_FAILF("%s: %u malformed frames", variant, sh->badmsg);
	int left = crash_leftovers("/tmp", tag) +
	    crash_leftovers("/dev/shm", tag) +
	    crash_leftovers(t_mqueue_dir(), tag) +
	    crash_sysv_scan(NULL, 0, sysv_before, nsysv, tpids, 8);
	struct ipk_objinfo oi;
	int irv = is_pipe ? -ENOTSUP : ipk_inspect(trial_url, &oi);
	if (irv == 0 && (oi.exists || oi.registered)) {
		fprintf(stderr, "left behind: %s (%s%s)\n", trial_url,
		    oi.exists ? "kernel objects " : "",
		    oi.registered ? "registry entry" : "");
		left++;
	}
	if (left)
		T_FAILF("%s: %d objects left behind", variant, left);
	trial_url[0] = '\0';
	return killed;
}

/* Kill the creating listener, then listen again on the same name. */
static void
crash_creator(void)
{
	char url[512];
	int p[2];
	if (is_pipe)
		return;
	if (caps & IPK_CAP_REMOTE)
		return; /* a new listener picks a new port: nothing to reclaim
			 */
	char tag[128];
	snprintf(tag, sizeof(tag), "%s-c", t_unique());
	crash_url(tag, url, sizeof(url));
	T_ASSERT(pipe2(p, O_CLOEXEC) == 0);
	pid_t pid = fork();
	if (pid == 0) {
		struct ipk_listener *l;
		alarm(30);
		if (ipk_listen(url, NULL, &l))
			_exit(1);
		if (write(p[1], "r", 1) != 1)
			_exit(1);
		pause();
		_exit(0);
	}
	close(p[1]);
	char b;
	T_ASSERT(read(p[0], &b, 1) == 1);
	close(p[0]);
	kill(pid, SIGKILL);
	waitpid(pid, NULL, 0);
	struct ipk_listener *l = NULL;
	int rv = ipk_listen(url, NULL, &l);
	if (rv)
		T_FAILF("%s: listen after the creator died: %s %s", variant,
		    ipk_errname(rv), ipk_strerror(rv));
	T_OK(ipk_listener_close(l));
	T_EQ(crash_leftovers("/tmp", tag) + crash_leftovers("/dev/shm", tag) +
		crash_leftovers(t_mqueue_dir(), tag),
	    0);
}

static unsigned
crash_env(const char *name, unsigned def)
{
	const char *s = getenv(name);
	return s && *s ? (unsigned)strtoul(s, NULL, 0) : def;
}

static void
crash_report(const char *role, struct cr_totals *t)
{
	qsort(t->det, t->detected, sizeof(double), crash_dcmp);
	printf("%-14s %-13s trials %3u kills %3u msgs %8llu lost %llu dups "
	       "%llu torn %llu badframe %llu",
	    variant, role, t->trials, t->kills, (unsigned long long)t->msgs,
	    (unsigned long long)t->lost, (unsigned long long)t->dups,
	    (unsigned long long)t->torn, (unsigned long long)t->badmsg);
	if (t->unreached)
		printf(" unreached %u", t->unreached);
	if (t->accept_closed)
		printf(" accept-closed %u", t->accept_closed);
	if (t->detected)
		printf(" detect(ms) n=%u min %.2f p50 %.2f max %.2f",
		    t->detected, t->det[0], t->det[t->detected / 2],
		    t->det[t->detected - 1]);
	printf("\n");
	fflush(stdout);
}

/* Are the kill points of source (b) usable here? NULL and why if not. */
static const char *
crash_strace(const char **why)
{
	static const char *const paths[] = {
	    "/usr/bin/strace", "/bin/strace", "/usr/local/bin/strace"};
	for (size_t i = 0; i < CR_LEN(paths); i++) {
		if (access(paths[i], X_OK) != 0)
			continue;
		char cmd[128];
		snprintf(cmd, sizeof(cmd),
		    "%s -qq -o /dev/null true "
		    ">/dev/null 2>&1",
		    paths[i]);
		if (system(cmd) == 0)
			return paths[i];
		*why = "strace cannot trace here (ptrace not permitted)";
		return NULL;
	}
	*why = "strace is not installed";
	return NULL;
}

/*
 * (b): the victim dies at its N-th call of the role's system calls; with
 * sweep, N = 1..sweep, else N = 1 and points-1 seeded values in 2..50.
 * `msgs` messages per trial (the kill comes early; the restarted victim
 * carries the transfer to its end).
 */
static void
crash_syscall_points(
    unsigned sweep, unsigned points, unsigned msgs, uint64_t *rng)
{
	static struct cr_totals tot[2];
	const char *why = "";
	if (is_pipe) {
		printf(
		    "%-14s syscall kill points skipped: a pipe has no name a "
		    "re-executed victim could dial\n",
		    variant);
		return;
	}
	if (!strace_path && !(strace_path = crash_strace(&why))) {
		printf("%-14s syscall kill points skipped: %s\n", variant, why);
		return;
	}
	unsigned n = sweep ? sweep : points, keep = nmsg;
	nmsg = msgs;
	for (int w = 1; w >= 0; w--) {
		for (unsigned i = 0; i < n; i++) {
			struct cr_point pt = {CR_SYSCALL,
			    sweep   ? i + 1
				: i ? 2 + (unsigned)(t_rand(rng) % 49)
				    : 1,
			    NULL};
			if (!crash_trial(w, &pt, 400 + i, rng, &tot[w]) &&
			    sweep)
				break; /* later calls are not reached either */
		}
		char role[32];
		snprintf(role, sizeof(role), "syscall-%s", w ? "w" : "r");
		crash_report(role, &tot[w]);
		printf("%-14s   (%s: %s)\n", variant, role, crash_syscalls(w));
	}
	nmsg = keep;
}

/* Does the variant pass through this site? */
static int
crash_site_here(const struct cr_site *cs)
{
	char list[64];
	snprintf(list, sizeof(list), "%s", cs->schemes);
	for (char *sp, *w = strtok_r(list, " ", &sp); w;
	     w = strtok_r(NULL, " ", &sp))
		if (!strcmp(w, scheme))
			return !(cs->flags & CS_SLEEP) || !query ||
			    strcmp(query, "wait=spin") != 0;
	return 0;
}

/*
 * Every IPK__CRASH_SITE name in src/ must have a row in cr_sites (or no
 * trial would ever reach it); returns how many lack one.
 */
static int
crash_sites_listed(const char *dir)
{
	DIR *d = opendir(dir);
	int missing = 0;
	if (!d)
		return 0;
	for (struct dirent *e; (e = readdir(d));) {
		char path[PATH_MAX], line[512];
		if (e->d_name[0] == '.')
			continue;
		snprintf(path, sizeof(path), "%s/%s", dir, e->d_name);
		if (e->d_type == DT_DIR) {
			missing += crash_sites_listed(path);
			continue;
		}
		size_t nl = strlen(e->d_name);
		const char *ext = nl > 2 ? e->d_name + nl - 2 : "";
		if ((strcmp(ext, ".c") && strcmp(ext, ".h")) ||
		    !strcmp(e->d_name, "testhook.h"))
			continue;
		FILE *f = fopen(path, "re");
		while (f && fgets(line, sizeof(line), f)) {
			const char *p = strstr(line, "IPK__CRASH_SITE(\"");
			char name[128];
			if (!p || sscanf(p + 17, "%127[^\"]", name) != 1)
				continue;
			int found = 0;
			for (size_t i = 0; i < CR_LEN(cr_sites); i++)
				found |= !strcmp(cr_sites[i].name, name);
			for (size_t i = 0; i < CR_LEN(cr_elsewhere); i++)
				found |= !strcmp(cr_elsewhere[i], name);
			if (!found) {
				fprintf(stderr,
				    "crash site %s (%s) has no row "
				    "in cr_sites: no trial reaches it\n",
				    name, path);
				missing++;
			}
		}
		if (f)
			fclose(f);
	}
	closedir(d);
	return missing;
}

/* (c): every site of this variant x hits 1..hits, both roles where the
 * role passes the site. Returns the number of sites no trial reached. */
static int
crash_site_points(unsigned hits, uint64_t *rng)
{
	static struct cr_totals tot[2];
	int unreached_sites = 0;
	unsigned idx = 500;
	const char *only = getenv("IPK_CRASH_SITE_ONLY"); /* replay one */
	for (size_t i = 0; i < CR_LEN(cr_sites); i++) {
		const struct cr_site *cs = &cr_sites[i];
		if (!crash_site_here(cs) || (only && strcmp(only, cs->name)))
			continue;
		for (int w = 1; w >= 0; w--) {
			if (cs->role != 'b' && cs->role != (w ? 'w' : 'r'))
				continue;
			unsigned reached = 0;
			int64_t t0 = t_now_ns();
			for (unsigned h = 1; h <= hits; h++) {
				struct cr_point pt = {CR_SITE, h, cs->name};
				if (crash_trial(w, &pt, idx++, rng, &tot[w]))
					reached++;
				else
					break; /* later hits are not either */
			}
			printf("%-14s site %-24s %s killed: %u of %u hits "
			       "(%.0f ms)%s\n",
			    variant, cs->name, w ? "writer" : "reader", reached,
			    hits, t_ms_since(t0),
			    reached ? "" : "  NOT REACHED");
			fflush(stdout);
			unreached_sites += !reached;
		}
	}
	crash_report("site-w", &tot[1]);
	crash_report("site-r", &tot[0]);
	return unreached_sites;
}

/* A victim re-executed by crash_spawn: matrix --child w|r LISTENER
 * INCARNATION SEED NMSG FD VARIANT [QUERY]. */
static int
crash_child(char **argv)
{
	int writer = argv[2][0] == 'w';
	int listener = atoi(argv[3]), inc = atoi(argv[4]);
	seed = strtoull(argv[5], NULL, 0);
	nmsg = (unsigned)strtoul(argv[6], NULL, 0);
	sh_fd = atoi(argv[7]);
	sh = mmap(
	    NULL, sizeof(*sh), PROT_READ | PROT_WRITE, MAP_SHARED, sh_fd, 0);
	if (sh == MAP_FAILED || nmsg < 2 || nmsg > CR_MAXN)
		return 126;
	close(sh_fd);
	crash_child_init(writer);
	return writer ? crash_writer(listener, inc) : crash_reader(listener);
}

/*
 * The environment picks what runs. IPK_CRASH_TRIALS (5) random-time kills
 * per role; IPK_CRASH_SYSCALL_SWEEP=K kills at the N-th system call for
 * N = 1..K per role, else IPK_CRASH_SYSCALL_POINTS (2) values of N, with
 * IPK_CRASH_SYSCALL_MSGS messages per trial (IPK_CRASH_MSGS for a sweep,
 * else 400);
 * IPK_CRASH_STOPS (1) frozen peers; IPK_CRASH_RESTARTS (2) kills with an
 * immediate restart; IPK_CRASH_MSGS (2000) messages per trial.
 * IPK_CRASH_SITES=H runs only the crash sites, hits 1..H (test builds;
 * 400 messages per trial unless IPK_CRASH_MSGS says otherwise), or only
 * the site IPK_CRASH_SITE_ONLY names.
 * IPK_CRASH_SOAK=s: plain transfers back to back for s seconds.
 */
int
main(int argc, char **argv)
{
	if (argc >= 2 && !strcmp(argv[1], "--variants"))
		return crash_list_variants();
	if (argc >= 9 && !strcmp(argv[1], "--child")) {
		variant = argv[8];
		query = argc > 9 ? argv[9] : NULL;
	} else if (argc < 2) {
		fprintf(stderr, "usage: %s VARIANT [QUERY]\n", argv[0]);
		return T_FAIL;
	} else {
		variant = argv[1];
		query = argc > 2 ? argv[2] : NULL;
	}
	snprintf(scheme, sizeof(scheme), "%s", variant);
	char *slash = strchr(scheme, '/');
	if (slash)
		*slash = '\0';
	caps = ipk_scheme_caps(scheme);
	if (!caps) {
		fprintf(stderr, "%s: no transport '%s' in this build\n",
		    argv[0], scheme);
		return T_FAIL;
	}
	if (!query && !(query = crash_variant_query())) {
		fprintf(stderr, "%s: no variant '%s'\n", argv[0], variant);
		return T_FAIL;
	}
	if (!*query)
		query = NULL;
	is_pipe = !!(caps & IPK_CAP_KINSHIP);
	is_multi = !!(caps & IPK_CAP_MULTI);
	crash_crc_init();
	signal(SIGPIPE, SIG_IGN);
	if (!strcmp(argv[1], "--child"))
		_exit(crash_child(argv));
	(void)t_mqueue_dir(); /* before any thread: may unshare */
	unsigned trials = crash_env("IPK_CRASH_TRIALS", 5);
	unsigned stops = crash_env("IPK_CRASH_STOPS", 1);
	unsigned restarts = crash_env("IPK_CRASH_RESTARTS", 2);
	unsigned sweep = crash_env("IPK_CRASH_SYSCALL_SWEEP", 0);
	unsigned points = crash_env("IPK_CRASH_SYSCALL_POINTS", 2);
	unsigned hits = crash_env("IPK_CRASH_SITES", 0);
	/* A crash site is passed early: short transfers do for (c). */
	nmsg = crash_env("IPK_CRASH_MSGS", hits ? 400 : 2000);
	if (nmsg < 2 || nmsg > CR_MAXN)
		T_FAILF("IPK_CRASH_MSGS must be in [2, %u]", CR_MAXN);
	seed = t_seed();
	uint64_t rng = seed;
	ssize_t sl = readlink("/proc/self/exe", self_exe, sizeof(self_exe) - 1);
	T_ASSERT(sl > 0);
	self_exe[sl] = '\0';
	sh_fd = memfd_create("ipk-crash", MFD_CLOEXEC);
	T_ASSERT(sh_fd >= 0 && ftruncate(sh_fd, sizeof(*sh)) == 0);
	sh = mmap(
	    NULL, sizeof(*sh), PROT_READ | PROT_WRITE, MAP_SHARED, sh_fd, 0);
	T_ASSERT(sh != MAP_FAILED);
	t_cleanup_hook = crash_cleanup;
	int fds = t_count_fds();
	static struct cr_totals tw, tr, ts, tx;
	static const struct cr_point p_kill = {CR_KILL, 0, NULL},
				     p_stop = {CR_STOP, 0, NULL},
				     p_restart = {CR_RESTART, 0, NULL},
				     p_plain = {CR_PLAIN, 0, NULL};
	if (hits) {
		if (!CR_HOOKS) {
			printf("crash sites skipped: this build has none "
			       "(configure with -DIPK_TEST_HOOKS=ON: make "
			       "hooks)\n");
			return T_SKIP;
		}
		if (is_pipe) {
			printf("crash sites skipped for pipe: a re-executed "
			       "victim cannot dial a pipe\n");
			return T_SKIP;
		}
		int unlisted = crash_sites_listed(IPK_SOURCE_DIR);
		int unreached = crash_site_points(hits, &rng);
		T_EQ(t_count_fds(), fds);
		if (unlisted || unreached)
			T_FAILF("%s: %d crash sites of src/ not in the matrix, "
				"%d sites no trial reached",
			    variant, unlisted, unreached);
		return T_PASS;
	}
	unsigned soak = crash_env("IPK_CRASH_SOAK", 0);
	if (soak) {
		/* The soak: plain transfers back to back for `soak` s. */
		int64_t t0 = t_now_ns();
		long rss0 = -1;
		unsigned i = 0;
		while (t_ms_since(t0) < soak * 1000.0) {
			crash_trial(i & 1, &p_plain, 300 + i, &rng, &tx);
			if (rss0 < 0)
				rss0 = sh->rss_kb[1][0];
			i++;
		}
		printf("soak %-12s %u s: %u transfers, %llu messages checked, "
		       "lost %llu torn %llu, reader RSS %ld -> %ld KiB, "
		       "writer RSS %ld KiB, fds %d -> %d\n",
		    variant, soak, i, (unsigned long long)tx.msgs,
		    (unsigned long long)tx.lost, (unsigned long long)tx.torn,
		    rss0, sh->rss_kb[1][1], sh->rss_kb[0][1], fds,
		    t_count_fds());
		T_EQ(t_count_fds(), fds);
		return T_PASS;
	}
	for (unsigned i = 0; i < trials; i++) {
		crash_trial(1, &p_kill, i, &rng, &tw);
		crash_trial(0, &p_kill, i, &rng, &tr);
	}
	crash_report("writer-killed", &tw);
	crash_report("reader-killed", &tr);
	if (sweep || points)
		crash_syscall_points(sweep, points,
		    crash_env("IPK_CRASH_SYSCALL_MSGS", sweep ? nmsg : 400),
		    &rng);
	for (unsigned i = 0; i < stops; i++)
		crash_trial(i & 1, &p_stop, 100 + i, &rng, &ts);
	crash_report("frozen", &ts);
	for (unsigned i = 0; !is_pipe && i < restarts; i++)
		crash_trial(!(i & 1), &p_restart, 200 + i, &rng, &tx);
	if (!is_pipe)
		crash_report("kill+restart", &tx);
	crash_creator();
	T_EQ(t_count_fds(), fds);
	munmap(sh, sizeof(*sh));
	return T_PASS;
}
