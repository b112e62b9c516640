/* SPDX-License-Identifier: MIT */
/*
 * story.c - the article's story: two unrelated programs meet by name, talk
 * over one System V queue (control) and move a large payload through shared
 * memory (data) paced by a semaphore; the writer is killed mid-way, comes
 * back, finds everything by name again and resumes where the reader is.
 *
 *   ./story reader [NAME] [BYTES]   shell 1: listens, verifies every byte
 *   ./story writer [NAME] [BYTES] [--pace=MS]
 *                                   shell 2: sends (resting MS after each
 *                                   1 MiB block); kill it, run it again
 *   ./story --selftest [SEED]       both, with a SIGKILL at a random point
 *
 * Objects for NAME (default "story"): sysv:///tmp/ipk-NAME.ctl (control),
 * shm:///ipk-NAME (data, 4 MiB ring each way) and a System V semaphore
 * semsysv:0xKEY (key from NAME) counting the blocks the reader is ready for.
 */
#include <ipckit.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

/* Control messages on the queue, labelled with ipckit user types. The
 * queue itself keeps the two directions apart (one kernel message type per
 * direction, the article's trick); these say what each message means. */
#define T_HELLO 1  /* writer -> reader: a (new) writer is here */
#define T_OFFSET 2 /* reader -> writer: send from this offset on */
#define T_DONE 3   /* writer -> reader: everything sent */
#define T_ACK 4    /* reader -> writer: everything verified */
#define T_BLOCK 5  /* data channel: one block of the payload */

#define BLOCK (1u << 20) /* payload bytes per data message */
#define WINDOW 3         /* blocks the writer may have in flight */
#define WAIT_MS 30000    /* bound of every wait for the other program */
#define DEFAULT_BYTES (256ull << 20)
#define SELFTEST_BYTES (64ull << 20) /* keeps CI fast; the logic is equal */

struct block_hdr {
	uint64_t offset; /* where the payload starts in the whole stream */
	uint32_t len;    /* payload bytes after this header */
	uint32_t pad;
};

struct names {
	char ctl[128], data[128], sem[64];
};

static void
story_names(const char *name, struct names *n)
{
	uint32_t h = 2166136261u; /* FNV-1a of the name gives the sem key */
	for (const char *p = name; *p; p++)
		h = (h ^ (unsigned char)*p) * 16777619u;
	snprintf(n->ctl, sizeof(n->ctl), "sysv:///tmp/ipk-%s.ctl", name);
	snprintf(n->data, sizeof(n->data), "shm:///ipk-%s?size=4M", name);
	snprintf(n->sem, sizeof(n->sem), "semsysv:0x%08x",
	    (h & 0x0fffffffu) | 0x50000000u);
}

/* The payload: 8-byte word i of the stream is a hash of i, so any byte can
 * be checked from its offset alone. */
static uint64_t
story_word(uint64_t i)
{
	uint64_t z = i + 0x9e3779b97f4a7c15ull;
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

static void
story_fill(unsigned char *p, uint64_t off, uint32_t len)
{
	for (uint32_t i = 0; i < len; i += 8) {
		uint64_t w = story_word((off + i) / 8);
		memcpy(p + i, &w, 8);
	}
}

static int
story_check(const unsigned char *p, uint64_t off, uint32_t len)
{
	for (uint32_t i = 0; i < len; i += 8) {
		uint64_t w = story_word((off + i) / 8), got;
		memcpy(&got, p + i, 8);
		if (got != w)
			return -1;
	}
	return 0;
}

static long
story_now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000L + ts.tv_nsec / 1000000;
}

static int
story_fail(const char *who, const char *what, int rv)
{
	fprintf(stderr, "story %s: %s: %s\n", who, what, ipk_strerror(rv));
	return 1;
}

/*
 * Reader: take every block the data ring holds right now (wait_ms for the
 * first). A block must start at *expected: after it would be a gap, before
 * it a duplicate (counted and dropped; reader_resync makes it impossible
 * today, the check keeps the reader safe against any writer). Every block
 * taken gives the writer one credit back.
 */
static int
reader_take(struct ipk_chan *data, struct ipk_sem *credit, uint64_t total,
    uint64_t *expected, uint64_t *dups, int wait_ms)
{
	for (;;) {
		const void *buf;
		size_t len;
		uint32_t type;
		int rv = ipk_peek(data, &buf, &len, &type, wait_ms);
		if (rv < 0)
			return rv;
		wait_ms = 0;
		struct block_hdr h;
		if (type != T_BLOCK || len < sizeof(h)) {
			ipk_release(data);
			return -EBADMSG;
		}
		memcpy(&h, buf, sizeof(h));
		const unsigned char *p = (const unsigned char *)buf + sizeof(h);
		if (h.len != len - sizeof(h) || h.len > BLOCK || h.offset % 8 ||
		    h.offset > total || h.len > total - h.offset ||
		    h.offset > *expected || story_check(p, h.offset, h.len)) {
			fprintf(stderr, "story reader: bad block at %" PRIu64
			    " (expected %" PRIu64 ")\n", h.offset, *expected);
			ipk_release(data);
			return -EBADMSG;
		}
		if (h.offset < *expected)
			(*dups)++;
		if (h.offset + h.len > *expected)
			*expected = h.offset + h.len;
		ipk_release(data);
		if ((rv = ipk_sem_post(credit)) < 0)
			return rv;
	}
}

/*
 * A new writer said HELLO. Whatever its dead predecessor committed is in
 * the ring: take it. A credit the dead writer had taken without sending a
 * block is lost with it (the semaphore has no SEM_UNDO: the writer takes,
 * the reader gives), so the survivor repairs the count, then says where
 * to resume.
 */
static int
reader_resync(struct ipk_chan *ctl, struct ipk_chan *data,
    struct ipk_sem *credit, uint64_t total, uint64_t *expected,
    uint64_t *dups)
{
	int rv = reader_take(data, credit, total, expected, dups, 0);
	if (rv != -EAGAIN && rv != IPK_ECLOSED)
		return rv;
	int v;
	while ((rv = ipk_sem_value(credit, &v)) == 0 && v < WINDOW)
		if ((rv = ipk_sem_post(credit)) < 0)
			break;
	if (rv < 0)
		return rv;
	return ipk_send(ctl, expected, sizeof(*expected), T_OFFSET, WAIT_MS);
}

static int
reader(const char *name, uint64_t total, int quiet)
{
	struct names n;
	struct ipk_listener *lc = NULL, *ld = NULL;
	struct ipk_chan *ctl = NULL, *data = NULL;
	struct ipk_sem *credit = NULL;
	uint64_t expected = 0, dups = 0, msg;
	int hellos = 0, ret = 1, rv;
	const char *what = "listen";

	story_names(name, &n);
	if ((rv = ipk_listen(n.ctl, NULL, &lc)) < 0 ||
	    (rv = ipk_listen(n.data, NULL, &ld)) < 0)
		goto out;
	what = "semaphore";
	if ((rv = ipk_sem_open(n.sem, IPK_SYNC_CREATE | IPK_SEM_NOUNDO,
	    WINDOW, &credit)) < 0)
		goto out;
	if (!quiet)
		printf("reader: waiting on %s and %s\n", n.ctl, n.data);
	what = "accept";
	if ((rv = ipk_accept(lc, WAIT_MS, &ctl)) < 0 ||
	    (rv = ipk_accept(ld, WAIT_MS, &data)) < 0)
		goto out;

	/* Until the writer says DONE: answer each HELLO (the first writer
	 * and every restarted one) and verify blocks as they come. */
	int gone = 0; /* the data side reported the writer gone */
	long last = story_now_ms();
	for (;;) {
		struct ipk_pollitem it[2] = {
			{ .chan = ctl, .events = IPK_POLLIN },
			{ .chan = hellos && !gone ? data : NULL,
			    .events = IPK_POLLIN },
		};
		what = "waiting";
		rv = -ETIMEDOUT;
		if (story_now_ms() - last > WAIT_MS)
			goto out;
		rv = ipk_poll(it, 2, 1000);
		if (rv == -ETIMEDOUT)
			continue;
		if (rv < 0)
			goto out;
		if (it[1].revents) {
			what = "data";
			last = story_now_ms();
			rv = reader_take(data, credit, total, &expected, &dups,
			    0);
			if (rv == IPK_ECLOSED)
				gone = 1;
			else if (rv != -EAGAIN)
				goto out;
		}
		if (!it[0].revents)
			continue;
		size_t len;
		uint32_t type;
		what = "control";
		rv = ipk_recv(ctl, &msg, sizeof(msg), &len, &type, 0);
		if (rv == IPK_ECLOSED || rv == -EAGAIN) {
			/* No writer attached: the names stay, a new one will
			 * dial and reattach. Look again in 10 ms. */
			struct timespec ts = { 0, 10 * 1000000 };
			nanosleep(&ts, NULL);
			continue;
		}
		if (rv < 0)
			goto out;
		last = story_now_ms();
		if (type == T_DONE)
			break;
		rv = -EBADMSG;
		if (type != T_HELLO)
			goto out;
		hellos++;
		gone = 0;
		what = "resync";
		if ((rv = reader_resync(ctl, data, credit, total, &expected,
		    &dups)) < 0)
			goto out;
		if (!quiet)
			printf("reader: writer %d is here, resume at %" PRIu64
			    "\n", hellos, expected);
	}
	/* DONE may overtake the last blocks: they travel another way. */
	what = "last blocks";
	while (expected < total)
		if ((rv = reader_take(data, credit, total, &expected, &dups,
		    1000)) != -EAGAIN)
			goto out;
	what = "verify";
	rv = -EBADMSG;
	if (expected != total)
		goto out;
	rv = ipk_send(ctl, &expected, sizeof(expected), T_ACK, WAIT_MS);
	if (rv < 0)
		goto out;
	/* Removing the queue would destroy the ACK still in it: wait until
	 * the writer has read it and closed its end. */
	size_t len;
	uint32_t type;
	what = "goodbye";
	rv = ipk_recv(ctl, &msg, sizeof(msg), &len, &type, WAIT_MS);
	if (rv != IPK_ECLOSED)
		goto out;
	printf("reader: %" PRIu64 " bytes verified, %d writer(s), %" PRIu64
	    " block(s) received twice\n", expected, hellos, dups);
	ret = 0;
out:
	if (ret)
		story_fail("reader", what, rv);
	ipk_sem_close(credit);
	ipk_sem_unlink(n.sem);
	ipk_close(data);
	ipk_close(ctl);
	ipk_listener_close(ld);
	ipk_listener_close(lc);
	return ret;
}

/* Writer: meet the reader by name, ask where to start, send the rest.
 * With `progress`, print each offset reached (the selftest reads it); with
 * `pace_ms`, rest that long after each block, so that a person running it
 * by hand has time to kill it mid-way. */
static int
writer(const char *name, uint64_t total, int progress, int pace_ms)
{
	struct names n;
	struct ipk_opts o = { .timeout_ms = WAIT_MS };
	struct ipk_chan *ctl = NULL, *data = NULL;
	struct ipk_sem *credit = NULL;
	uint64_t off = 0, pid = (uint64_t)getpid();
	size_t len;
	uint32_t type;
	int ret = 1, rv;
	const char *what = "dial";

	story_names(name, &n);
	if ((rv = ipk_dial(n.ctl, &o, &ctl)) < 0 ||
	    (rv = ipk_dial(n.data, &o, &data)) < 0)
		goto out;
	what = "hello";
	if ((rv = ipk_send(ctl, &pid, sizeof(pid), T_HELLO, WAIT_MS)) < 0 ||
	    (rv = ipk_recv(ctl, &off, sizeof(off), &len, &type,
	    WAIT_MS)) < 0)
		goto out;
	rv = -EBADMSG;
	if (type != T_OFFSET || len != sizeof(off) || off > total || off % 8)
		goto out;
	what = "semaphore";
	if ((rv = ipk_sem_open(n.sem, 0, 0, &credit)) < 0)
		goto out;
	if (!progress)
		printf("writer: resuming at %" PRIu64 " of %" PRIu64 "\n",
		    off, total);
	what = "send";
	while (off < total) {
		uint32_t blen = total - off < BLOCK ? (uint32_t)(total - off) :
		    BLOCK;
		struct block_hdr h = { .offset = off, .len = blen };
		void *buf;
		if ((rv = ipk_sem_wait(credit, WAIT_MS)) < 0 ||
		    (rv = ipk_loan(data, sizeof(h) + blen, &buf,
		    WAIT_MS)) < 0)
			goto out;
		memcpy(buf, &h, sizeof(h));
		story_fill((unsigned char *)buf + sizeof(h), off, blen);
		if ((rv = ipk_commit(data, sizeof(h) + blen, T_BLOCK)) < 0)
			goto out;
		off += blen;
		if (pace_ms > 0) {
			struct timespec ts = { pace_ms / 1000,
			    (pace_ms % 1000) * 1000000L };
			nanosleep(&ts, NULL);
		}
		if (progress) {
			printf("%" PRIu64 "\n", off);
			fflush(stdout);
		}
	}
	what = "done";
	if ((rv = ipk_send(ctl, &off, sizeof(off), T_DONE, WAIT_MS)) < 0 ||
	    (rv = ipk_recv(ctl, &off, sizeof(off), &len, &type,
	    WAIT_MS)) < 0)
		goto out;
	rv = -EBADMSG;
	if (type != T_ACK || off != total)
		goto out;
	if (!progress)
		printf("writer: the reader verified %" PRIu64 " bytes\n", off);
	ret = 0;
out:
	if (ret)
		story_fail("writer", what, rv);
	ipk_sem_close(credit);
	ipk_close(data);
	ipk_close(ctl);
	return ret;
}

/* Start this program in `role`; its stdout goes to `out_fd` if >= 0. */
static pid_t
story_start(const char *role, const char *name, const char *bytes, int out_fd)
{
	fflush(stdout);
	pid_t pid = fork();
	if (pid == 0) {
		if (out_fd >= 0)
			dup2(out_fd, 1);
		char *argv[] = { "story", (char *)role, (char *)name,
		    (char *)bytes, out_fd >= 0 ? "--progress" : NULL, NULL };
		execv("/proc/self/exe", argv);
		_exit(127);
	}
	return pid;
}

/* Wait up to ms for pid; kill it when the time is up. 0: exited 0. */
static int
story_reap(pid_t pid, int ms)
{
	int st;
	for (int i = 0; i < ms / 10; i++) {
		if (waitpid(pid, &st, WNOHANG) == pid)
			return WIFEXITED(st) && WEXITSTATUS(st) == 0 ? 0 : -1;
		struct timespec ts = { 0, 10 * 1000000 };
		nanosleep(&ts, NULL);
	}
	kill(pid, SIGKILL);
	waitpid(pid, &st, 0);
	return -1;
}

/* Read the writer's progress lines until it reached `at`, up to WAIT_MS. */
static int
story_wait_progress(int fd, uint64_t at)
{
	char line[64];
	size_t used = 0;
	for (;;) {
		struct pollfd p = { .fd = fd, .events = POLLIN };
		if (poll(&p, 1, WAIT_MS) <= 0)
			return -1;
		ssize_t r = read(fd, line + used, sizeof(line) - 1 - used);
		if (r <= 0)
			return -1;
		used += (size_t)r;
		line[used] = 0;
		char *nl;
		while ((nl = strchr(line, '\n'))) {
			uint64_t off = strtoull(line, NULL, 10);
			memmove(line, nl + 1, strlen(nl + 1) + 1);
			used = strlen(line);
			if (off >= at)
				return 0;
		}
		if (used == sizeof(line) - 1)
			used = 0;
	}
}

/*
 * The whole scenario: reader and writer as two processes, the writer
 * killed with SIGKILL once it reached a random offset, then started again.
 * Passes when both exit 0 (the reader verified every byte). Whatever
 * happens, the children are gone and the names removed at the end.
 */
static int
selftest(unsigned seed)
{
	char name[64], bytes[32];
	struct names n;
	uint64_t total = SELFTEST_BYTES;
	int p[2], ok = 0;

	srand(seed);
	uint64_t kill_at = (total / 10 + (uint64_t)rand() % (total * 8 / 10))
	    & ~(uint64_t)(BLOCK - 1);
	printf("story selftest: seed %u, %" PRIu64 " MiB, writer killed at "
	    "%" PRIu64 " MiB\n", seed, total >> 20, kill_at >> 20);
	snprintf(name, sizeof(name), "st-%d-%u", (int)getpid(), seed);
	snprintf(bytes, sizeof(bytes), "%" PRIu64, total);
	story_names(name, &n);
	if (pipe2(p, O_CLOEXEC) < 0)
		return 1;
	pid_t r = story_start("reader", name, bytes, -1);
	pid_t w = story_start("writer", name, bytes, p[1]);
	close(p[1]);
	if (r < 0 || w < 0 || story_wait_progress(p[0], kill_at) < 0) {
		fprintf(stderr, "story selftest: writer never got to %" PRIu64
		    "\n", kill_at);
		if (w > 0)
			story_reap(w, 0);
		goto out;
	}
	kill(w, SIGKILL);
	waitpid(w, NULL, 0);
	printf("story selftest: writer %d killed, starting another\n", (int)w);
	w = story_start("writer", name, bytes, -1);
	ok = w > 0 && story_reap(w, 2 * WAIT_MS) == 0;
out:
	close(p[0]);
	ok = r > 0 && story_reap(r, 2 * WAIT_MS) == 0 && ok;
	/* Remove what a dead reader may have left: listening again on a
	 * dead listener's names reclaims them, closing removes them. */
	struct ipk_listener *l;
	ipk_sem_unlink(n.sem);
	if (ipk_listen(n.ctl, NULL, &l) == 0)
		ipk_listener_close(l);
	if (ipk_listen(n.data, NULL, &l) == 0)
		ipk_listener_close(l);
	printf("%s story\n", ok ? "PASS" : "FAIL");
	return !ok;
}

int
main(int argc, char **argv)
{
	if (argc > 1 && !strcmp(argv[1], "--selftest"))
		return selftest(argc > 2 ? (unsigned)strtoul(argv[2], NULL, 0) :
		    (unsigned)time(NULL) ^ (unsigned)getpid());
	if (argc < 2 || (strcmp(argv[1], "reader") && strcmp(argv[1],
	    "writer"))) {
		fprintf(stderr, "usage: story reader [NAME] [BYTES]\n"
		    "       story writer [NAME] [BYTES] [--pace=MS]\n"
		    "       story --selftest [SEED]\n");
		return 2;
	}
	const char *pos[2] = { "story", NULL };
	int progress = 0, pace = 0, npos = 0;
	for (int i = 2; i < argc; i++) {
		if (!strcmp(argv[i], "--progress"))
			progress = 1;
		else if (!strncmp(argv[i], "--pace=", 7))
			pace = atoi(argv[i] + 7);
		else if (npos < 2)
			pos[npos++] = argv[i];
	}
	const char *name = pos[0];
	uint64_t total = pos[1] ? strtoull(pos[1], NULL, 0) : DEFAULT_BYTES;
	if (total == 0 || total % 8) {
		fprintf(stderr, "story: BYTES must be a non-zero multiple of "
		    "8\n");
		return 2;
	}
	if (!strcmp(argv[1], "reader"))
		return reader(name, total, progress);
	return writer(name, total, progress, pace);
}
