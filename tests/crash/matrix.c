/* SPDX-License-Identifier: MIT */
/*
 * matrix.c - the crash matrix: a writer and a reader process exchange
 * checksummed messages over one transport variant while this process kills
 * (SIGKILL), freezes (SIGSTOP) or kills-and-restarts one of them at a seeded
 * random point; every trial asserts detection time, integrity, order, the
 * delivered set and that nothing is left behind. Usage: matrix VARIANT.
 */
#include <dirent.h>
#include <sys/mman.h>
#include <sys/wait.h>

#include "test.h"

#define CR_MAGIC 0x6b706963u /* "cipk" */
#define CR_HDR 32u
#define CR_MAXN 200000u

/* The integrity header in front of every payload. */
struct cr_hdr {
	uint32_t magic, stream;
	uint64_t seq;
	uint32_t len, crc;
	uint64_t send_ts;
};

enum cr_kind { CR_KILL, CR_STOP, CR_RESTART, CR_PLAIN };

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
	char err[256];
	uint8_t seen[CR_MAXN + 1];
};

static struct cr_shared *sh;
static const char *variant;  /* "shm/spin" */
static char scheme[32];      /* "shm" */
static const char *query;    /* "wait=spin" or NULL */
static unsigned nmsg = 2000; /* sentinel seq = nmsg */
static uint64_t seed;
static uint32_t crc_tab[256];
static int is_pipe, is_multi; /* pipe; new channel per dialer */
static struct ipk_chan *pipe_ends[2];

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
	__atomic_add_fetch(&sh->errors, 1, __ATOMIC_SEQ_CST);
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
	struct timespec ts = { 0, (long)ms * 1000000 };
	nanosleep(&ts, NULL); /* polling a shared fact, not synchronising */
}

/* Open this child's end: listen+accept, dial, or a pipe end. */
static int
crash_open(int listener, int end, struct ipk_listener **l,
    struct ipk_chan **c)
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
		rv = ipk_accept(*l, 10000, c);
		if (rv)
			crash_note("accept", rv);
		return rv;
	}
	char u[600];
	snprintf(u, sizeof(u), "%s%stimeout=5000", sh->url,
	    strchr(sh->url, '?') ? "&" : "?");
	rv = ipk_dial(u, NULL, c);
	if (rv)
		crash_note("dial", rv);
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
		int rv = ipk_accept(l, 10000, c);
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
		uint64_t seq = __atomic_load_n(&sh->writer_next,
		    __ATOMIC_ACQUIRE);
		if (seq > nmsg)
			break;
		size_t n = seq == nmsg ? 0 : crash_size(seq, maxp);
		struct cr_hdr h = { CR_MAGIC, (uint32_t)incarnation, seq,
			(uint32_t)n, 0, (uint64_t)t_now_ns() };
		t_fill(buf + CR_HDR, n, seed, seq);
		h.crc = crash_crc(seq, buf + CR_HDR, n);
		memcpy(buf, &h, sizeof(h));
		int rv = ipk_send(c, buf, n + CR_HDR, 0, 500);
		if (rv == 0) {
			__atomic_store_n(&sh->writer_next, seq + 1,
			    __ATOMIC_RELEASE);
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
	/* Keep the channel (and named objects) until the reader is done. */
	for (int i = 0; !is_pipe && i < 30000 &&
	    !__atomic_load_n(&sh->reader_done, __ATOMIC_ACQUIRE); i++) {
		struct ipk_chan *nc;
		if (!is_multi || !listener) {
			/* A reader killed after taking the end marker (or,
			 * on fifo, before reading what was sent to it) took
			 * it along: repeat it now and then. */
			if (sh->kill_gen && strcmp(scheme, "shm") &&
			    i % 100 == 99) {
				struct cr_hdr h = { CR_MAGIC,
					(uint32_t)incarnation, nmsg, 0,
					crash_crc(nmsg, buf, 0), 0 };
				sh->resend_rv = ipk_send(c, &h, sizeof(h), 0,
				    0);
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
			__atomic_store_n(&sh->writer_next, nmsg,
			    __ATOMIC_RELEASE);
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
			/* recorded before release: a crash here redelivers */
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

/* Start a child: role 'w' or 'r', listener side or not. */
static pid_t
crash_spawn(int writer, int listener, int incarnation)
{
	pid_t pid = fork();
	if (pid < 0)
		T_FAILF("fork: %s", strerror(errno));
	if (pid == 0) {
		/* watchdog: the default action ends a stuck child */
		alarm(20 + nmsg / 1000);
		_exit(writer ? crash_writer(listener, incarnation)
			     : crash_reader(listener));
	}
	return pid;
}

static int
crash_wait(pid_t pid, const char *who)
{
	int st;
	if (waitpid(pid, &st, 0) != pid)
		T_FAILF("waitpid %s: %s", who, strerror(errno));
	if (WIFEXITED(st) && WEXITSTATUS(st) == 0)
		return 0;
	fprintf(stderr, "%s ended with %s %d (%s); writer_next %llu, "
	    "progress %llu, reader_done %d, kill_gen %d, detect_gen %d, "
	    "end marker repeated %d times (last: %s)\n",
	    who, WIFEXITED(st) ? "status" : "signal",
	    WIFEXITED(st) ? WEXITSTATUS(st) : WTERMSIG(st), sh->err,
	    (unsigned long long)sh->writer_next,
	    (unsigned long long)sh->progress, sh->reader_done, sh->kill_gen,
	    sh->detect_gen, sh->resends, ipk_errname(sh->resend_rv));
	return -1;
}

/* Entries in dir whose name contains tag (the run's unique name). */
static int
crash_leftovers(const char *dir, const char *tag)
{
	DIR *d = opendir(dir);
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
	unsigned trials, detected;
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
	if (!strcmp(scheme, "shm"))
		return 0;
	if (!strcmp(scheme, "mq") || !strcmp(scheme, "sysv"))
		return 1;
	return UINT64_MAX;
}

static void
crash_trial(int victim_writer, enum cr_kind kind, unsigned idx,
    uint64_t *rng, struct cr_totals *t)
{
	char tag[128];
	memset(sh, 0, sizeof(*sh));
	snprintf(tag, sizeof(tag), "%s-%c%u", t_unique(),
	    victim_writer ? 'w' : 'r', idx);
	if (!strcmp(scheme, "tcp") || !strcmp(scheme, "nng+tcp"))
		snprintf(sh->url, sizeof(sh->url), "%s://127.0.0.1:0", scheme);
	else if (!strcmp(scheme, "shm") || !strcmp(scheme, "mq"))
		snprintf(sh->url, sizeof(sh->url), "%s:///%s", scheme, tag);
	else
		snprintf(sh->url, sizeof(sh->url), "%s:///tmp/%s", scheme,
		    tag);
	if (query) {
		size_t ul = strlen(sh->url);
		snprintf(sh->url + ul, sizeof(sh->url) - ul, "?%s", query);
	}
	sh->pipe_fds = t_count_fds();
	if (is_pipe)
		T_OK(ipk_pair(&pipe_ends[0], &pipe_ends[1]));
	/* The survivor is the listener; the victim dials (and redials). */
	pid_t surv = crash_spawn(!victim_writer, 1, 0);
	for (int i = 0; !is_pipe && i < 5000 &&
	    !__atomic_load_n(&sh->url_ready, __ATOMIC_ACQUIRE); i++)
		crash_pause_ms(1);
	if (!is_pipe && !sh->url_ready)
		T_FAILF("%s: listener not ready: %s", variant, sh->err);
	pid_t vict = crash_spawn(victim_writer, 0, 0);
	if (is_pipe) {
		ipk_close(pipe_ends[0]);
		ipk_close(pipe_ends[1]);
	}
	uint64_t target = 1 + t_rand(rng) % (nmsg - 1);
	int64_t t0 = t_now_ns();
	while (__atomic_load_n(&sh->progress, __ATOMIC_ACQUIRE) < target &&
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
		sh->t_kill = t_now_ns();
		__atomic_store_n(&sh->kill_gen, 1, __ATOMIC_RELEASE);
		kill(vict, SIGKILL);
		waitpid(vict, NULL, 0);
		if (kind == CR_KILL) {
			/* wait (bounded) for the survivor to notice */
			while (t_ms_since(sh->t_kill) < 3000 &&
			    !__atomic_load_n(&sh->detect_gen,
			    __ATOMIC_ACQUIRE) &&
			    !__atomic_load_n(&sh->reader_done,
			    __ATOMIC_ACQUIRE) &&
			    __atomic_load_n(&sh->writer_next,
			    __ATOMIC_ACQUIRE) <= nmsg)
				crash_pause_ms(0);
			if (sh->detect_gen) {
				double ms = (double)(sh->t_detect -
				    sh->t_kill) / 1e6;
				if (ms > 1000)
					T_FAILF("%s: peer death noticed after "
					    "%.1f ms", variant, ms);
				if (t->detected < 4096)
					t->det[t->detected++] = ms;
			} else if (!sh->reader_done &&
			    sh->writer_next <= nmsg) {
				T_FAILF("%s: survivor did not notice the "
				    "death within 3 s", variant);
			}
		}
		if (!is_pipe) {
			vict = crash_spawn(victim_writer, 0, 1);
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
	unsigned kills = kind == CR_STOP ? 0 : 1;
	if (dups > kills)
		T_FAILF("%s: %llu duplicates for %u kills", variant,
		    (unsigned long long)dups, kills);
	uint64_t loss_ok = kind != CR_STOP && !victim_writer ?
	    crash_reader_loss_limit() : 0;
	if (lost > loss_ok)
		T_FAILF("%s: %llu of %llu messages lost", variant,
		    (unsigned long long)lost, (unsigned long long)upto);
	if (sh->badmsg > kills)
		T_FAILF("%s: %u malformed frames", variant, sh->badmsg);
	int left = crash_leftovers("/tmp", tag) +
	    crash_leftovers("/dev/shm", tag) +
	    crash_leftovers("/dev/mqueue", tag);
	if (left)
		T_FAILF("%s: %d objects left behind", variant, left);
}

/* Kill the creating listener, then listen again on the same name. */
static void
crash_creator(void)
{
	char url[512];
	int p[2];
	if (is_pipe)
		return;
	if (!strcmp(scheme, "tcp") || !strcmp(scheme, "nng+tcp"))
		return; /* a new listener picks a new port: nothing to reclaim */
	if (!strcmp(scheme, "shm") || !strcmp(scheme, "mq"))
		snprintf(url, sizeof(url), "%s:///%s-c", scheme, t_unique());
	else
		snprintf(url, sizeof(url), "%s:///tmp/%s-c", scheme,
		    t_unique());
	if (query) {
		size_t ul = strlen(url);
		snprintf(url + ul, sizeof(url) - ul, "?%s", query);
	}
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
	char tag[80];
	snprintf(tag, sizeof(tag), "%s-c", t_unique());
	T_EQ(crash_leftovers("/tmp", tag) + crash_leftovers("/dev/shm", tag) +
	    crash_leftovers("/dev/mqueue", tag), 0);
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
	printf("%-14s %-13s trials %3u msgs %8llu lost %llu dups %llu "
	       "torn %llu badframe %llu",
	    variant, role, t->trials, (unsigned long long)t->msgs,
	    (unsigned long long)t->lost, (unsigned long long)t->dups,
	    (unsigned long long)t->torn, (unsigned long long)t->badmsg);
	if (t->detected)
		printf(" detect(ms) n=%u min %.2f p50 %.2f max %.2f",
		    t->detected, t->det[0], t->det[t->detected / 2],
		    t->det[t->detected - 1]);
	printf("\n");
	fflush(stdout);
}

int
main(int argc, char **argv)
{
	if (argc < 2) {
		fprintf(stderr, "usage: %s VARIANT\n", argv[0]);
		return T_FAIL;
	}
	variant = argv[1];
	snprintf(scheme, sizeof(scheme), "%s", variant);
	char *slash = strchr(scheme, '/');
	if (slash) {
		*slash = '\0';
		query = argc > 2 ? argv[2] : NULL;
	}
	is_pipe = !strcmp(scheme, "pipe");
	is_multi = !strcmp(scheme, "unix") || !strcmp(scheme, "tcp") ||
	    !strncmp(scheme, "nng", 3);
	unsigned trials = crash_env("IPK_CRASH_TRIALS", 5);
	unsigned stops = crash_env("IPK_CRASH_STOPS", 1);
	unsigned restarts = crash_env("IPK_CRASH_RESTARTS", 2);
	nmsg = crash_env("IPK_CRASH_MSGS", 2000);
	if (nmsg < 2 || nmsg > CR_MAXN)
		T_FAILF("IPK_CRASH_MSGS must be in [2, %u]", CR_MAXN);
	seed = t_seed();
	uint64_t rng = seed;
	crash_crc_init();
	signal(SIGPIPE, SIG_IGN);
	sh = mmap(NULL, sizeof(*sh), PROT_READ | PROT_WRITE,
	    MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	T_ASSERT(sh != MAP_FAILED);
	int fds = t_count_fds();
	static struct cr_totals tw, tr, ts, tx;
	unsigned soak = crash_env("IPK_CRASH_SOAK", 0);
	if (soak) {
		/* The soak: plain transfers back to back for `soak` s. */
		int64_t t0 = t_now_ns();
		long rss0 = -1;
		unsigned i = 0;
		while (t_ms_since(t0) < soak * 1000.0) {
			crash_trial(i & 1, CR_PLAIN, 300 + i, &rng, &tx);
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
		crash_trial(1, CR_KILL, i, &rng, &tw);
		crash_trial(0, CR_KILL, i, &rng, &tr);
	}
	crash_report("writer-killed", &tw);
	crash_report("reader-killed", &tr);
	for (unsigned i = 0; i < stops; i++)
		crash_trial(i & 1, CR_STOP, 100 + i, &rng, &ts);
	crash_report("frozen", &ts);
	for (unsigned i = 0; !is_pipe && i < restarts; i++)
		crash_trial(!(i & 1), CR_RESTART, 200 + i, &rng, &tx);
	if (!is_pipe)
		crash_report("kill+restart", &tx);
	crash_creator();
	T_EQ(t_count_fds(), fds);
	munmap(sh, sizeof(*sh));
	return T_PASS;
}
