/* SPDX-License-Identifier: MIT */
/*
 * story.c - the article's story: two unrelated programs meet by name, talk
 * over one System V queue (control) and move a large payload through shared
 * memory (data) paced by a semaphore; one of them is killed mid-way, comes
 * back, finds everything by name again and resumes where the other one is.
 *
 *   ./story reader [NAME] [BYTES]   shell 1: listens, verifies every byte
 *   ./story writer [NAME] [BYTES] [--pace=MS]
 *                                   shell 2: sends (resting MS after each
 *                                   1 MiB block)
 *   ./story --selftest [SEED]       both, with a SIGKILL at a random point
 * Kill either one mid-way and run it again: the run completes.
 *
 * Objects for NAME (default "story"): sysv:///tmp/ipk-NAME.ctl (control),
 * shm:///ipk-NAME (data, 4 MiB ring each way), a System V semaphore
 * semsysv:0xKEY (key from NAME) counting the blocks the reader is ready
 * for, and lock:///ipk-NAME.progress, a robust lock over the reader's
 * record of the bytes it has verified.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* pipe2 */
#endif
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
#define T_HELLO 1 /* writer -> reader: a (new) writer is here */
#define T_OFFSET 2 /* reader -> writer: send from this offset on */
#define T_DONE 3 /* writer -> reader: everything sent */
#define T_ACK 4 /* reader -> writer: everything verified */
#define T_BLOCK 5 /* data channel: one block of the payload */
#define T_RHELLO 6 /* reader -> writer: a reader replaced a dead one */
#define T_GO 7 /* reader -> writer: carry on */

#define BLOCK (1u << 20) /* payload bytes per data message */
#define WINDOW 3 /* blocks the writer may have in flight */
#define WAIT_MS 30000 /* bound of every wait for the other program */
#define DEFAULT_BYTES (256ull << 20)
#define SELFTEST_BYTES (64ull << 20) /* keeps CI fast; the logic is equal */

struct block_hdr {
	uint64_t offset; /* where the payload starts in the whole stream */
	uint32_t len; /* payload bytes after this header */
	uint32_t pad;
};

struct names {
	char ctl[128], data[128], sem[64], lock[128];
};

static void
story_names(const char *name, struct names *n)
{
	uint32_t h = 2166136261u; /* FNV-1a of the name gives the sem key */
	for (const char *p = name; *p; p++)
		h = (h ^ (unsigned char)*p) * 16777619u;
	snprintf(n->ctl, sizeof(n->ctl), "sysv:///tmp/ipk-%s.ctl", name);
	snprintf(n->data, sizeof(n->data), "shm:///ipk-%s?size=4M", name);
	snprintf(n->lock, sizeof(n->lock), "lock:///ipk-%s.progress", name);
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

/* What a reader works with. */
struct reader {
	struct ipk_chan *ctl, *data;
	struct ipk_sem *credit; /* blocks the reader is ready for */
	struct ipk_lock *lock; /* guards the progress record */
	uint64_t *verified; /* the record: bytes verified, in the lock's
			       data area, outlives a reader crash */
	uint64_t total, expected, dups;
};

/* Store the verified offset where a restarted reader will find it. A
 * reader that died holding the lock left a record that is still whole (one
 * aligned 8-byte store), so -EOWNERDEAD needs no repair. */
static int
reader_save(struct reader *r)
{
	int rv = ipk_lock_lock(r->lock, WAIT_MS);
	if (rv == -EOWNERDEAD)
		rv = ipk_lock_consistent(r->lock);
	if (rv < 0)
		return rv;
	*r->verified = r->expected;
	return ipk_lock_unlock(r->lock);
}

/*
 * Take every block the data ring holds right now (wait_ms for the first).
 * A block must start at r->expected: after it would be a gap; before it, a
 * block seen again after a reader crash (peeked, saved, not released),
 * counted and dropped. Each block is verified, saved, released, and gives
 * the writer one credit back, in that order.
 */
static int
reader_take(struct reader *r, int wait_ms)
{
	for (;;) {
		const void *buf;
		size_t len;
		uint32_t type;
		int rv = ipk_peek(r->data, &buf, &len, &type, wait_ms);
		if (rv < 0)
			return rv;
		wait_ms = 0;
		struct block_hdr h;
		if (type != T_BLOCK || len < sizeof(h)) {
			ipk_release(r->data);
			return -EBADMSG;
		}
		memcpy(&h, buf, sizeof(h));
		const unsigned char *p = (const unsigned char *)buf + sizeof(h);
		if (h.len != len - sizeof(h) || h.len > BLOCK || h.offset % 8 ||
		    h.offset > r->total || h.len > r->total - h.offset ||
		    h.offset > r->expected || story_check(p, h.offset, h.len)) {
			fprintf(stderr,
			    "story reader: bad block at %" PRIu64
			    " (expected %" PRIu64 ")\n",
			    h.offset, r->expected);
			ipk_release(r->data);
			return -EBADMSG;
		}
		if (h.offset < r->expected)
			r->dups++;
		if (h.offset + h.len > r->expected) {
			r->expected = h.offset + h.len;
			if ((rv = reader_save(r)) < 0)
				return rv;
		}
		ipk_release(r->data);
		if ((rv = ipk_sem_post(r->credit)) < 0)
			return rv;
	}
}

/* The writer is paused and the ring holds nothing: every credit is the
 * reader's to give again. A process that died between taking or giving a
 * credit and its block took the difference with it (the semaphore has no
 * SEM_UNDO: one side takes, the other gives), so top it up. */
static int
reader_refill(struct reader *r)
{
	int v, rv;
	while ((rv = ipk_sem_value(r->credit, &v)) == 0 && v < WINDOW)
		if ((rv = ipk_sem_post(r->credit)) < 0)
			break;
	return rv;
}

/* A (new) writer said HELLO: take what its dead predecessor committed,
 * refill the credits, say where to resume. */
static int
reader_hello(struct reader *r)
{
	int rv = reader_take(r, 0);
	if (rv != -EAGAIN && rv != IPK_ECLOSED)
		return rv;
	if ((rv = reader_refill(r)) < 0)
		return rv;
	return ipk_send(
	    r->ctl, &r->expected, sizeof(r->expected), T_OFFSET, WAIT_MS);
}

/* This reader replaces one that died: tell the writer, which pauses and
 * says how far it has sent; take the ring up to there, refill, GO. */
static int
reader_rejoin(struct reader *r)
{
	uint64_t sent;
	size_t len;
	uint32_t type;
	int rv = ipk_send(
	    r->ctl, &r->expected, sizeof(r->expected), T_RHELLO, WAIT_MS);
	if (rv < 0 ||
	    (rv = ipk_recv(r->ctl, &sent, sizeof(sent), &len, &type, WAIT_MS)) <
		0)
		return rv;
	if (type == T_HELLO) /* the writer is new too: it ignores RHELLO */
		return reader_hello(r);
	if (type != T_OFFSET || len != sizeof(sent) || sent > r->total)
		return -EBADMSG;
	while (r->expected < sent)
		if ((rv = reader_take(r, 1000)) != -EAGAIN)
			return rv < 0 ? rv : -EBADMSG;
	if (r->expected != sent || (rv = reader_refill(r)) < 0)
		return rv < 0 ? rv : -EBADMSG;
	return ipk_send(r->ctl, &sent, sizeof(sent), T_GO, WAIT_MS);
}

/* Open (or create) the semaphore and the progress record. *rejoin is set
 * when they were there already: a reader before this one died. */
static int
reader_open_sync(struct reader *r, const struct names *n, int *rejoin)
{
	int rv = ipk_sem_open(
	    n->sem, IPK_SYNC_CREATE | IPK_SEM_NOUNDO, WINDOW, &r->credit);
	if (rv == -EEXIST)
		rv = ipk_sem_open(n->sem, IPK_SEM_NOUNDO, 0, &r->credit);
	if (rv < 0)
		return rv;
	rv = ipk_lock_open(n->lock, IPK_SYNC_CREATE, &r->lock);
	*rejoin = rv == -EEXIST;
	if (rv == -EEXIST)
		rv = ipk_lock_open(n->lock, 0, &r->lock);
	if (rv < 0)
		return rv;
	size_t size;
	uint64_t *rec = ipk_lock_data(r->lock, &size);
	if (size < 2 * sizeof(uint64_t))
		return IPK_ECORRUPT;
	if ((rv = ipk_lock_lock(r->lock, WAIT_MS)) == -EOWNERDEAD)
		rv = ipk_lock_consistent(r->lock);
	if (rv < 0)
		return rv;
	if (rec[0] != r->total) /* a new record, or another size */
		rec[0] = r->total, rec[1] = 0;
	r->verified = &rec[1];
	r->expected = rec[1] <= r->total && rec[1] % 8 == 0 ? rec[1] : 0;
	return ipk_lock_unlock(r->lock);
}

static int
reader(const char *name, uint64_t total, int quiet)
{
	struct names n;
	struct reader r = {.total = total};
	struct ipk_listener *lc = NULL, *ld = NULL;
	uint64_t msg;
	int hellos = 0, rejoin = 0, ret = 1, rv;
	const char *what = "listen";

	story_names(name, &n);
	/* A listener that died is replaced: listening again on its names
	 * adopts the queue and the ring, with what they hold. */
	if ((rv = ipk_listen(n.ctl, NULL, &lc)) < 0 ||
	    (rv = ipk_listen(n.data, NULL, &ld)) < 0)
		goto out;
	what = "semaphore and progress record";
	if ((rv = reader_open_sync(&r, &n, &rejoin)) < 0)
		goto out;
	if (!quiet)
		printf("reader: waiting on %s and %s\n", n.ctl, n.data);
	what = "accept";
	if ((rv = ipk_accept(lc, WAIT_MS, &r.ctl)) < 0 ||
	    (rv = ipk_accept(ld, WAIT_MS, &r.data)) < 0)
		goto out;
	if (rejoin) {
		what = "rejoin";
		if ((rv = reader_rejoin(&r)) < 0)
			goto out;
		hellos = 1;
		if (!quiet)
			printf(
			    "reader: took over at %" PRIu64 "\n", r.expected);
	}

	/* Until the writer says DONE: answer each HELLO (the first writer
	 * and every restarted one) and verify blocks as they come. */
	int gone = 0; /* the data side reported the writer gone */
	long last = story_now_ms();
	for (;;) {
		struct ipk_pollitem it[2] = {
		    {.chan = r.ctl, .events = IPK_POLLIN},
		    {.chan = hellos && !gone ? r.data : NULL,
			.events = IPK_POLLIN},
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
			rv = reader_take(&r, 0);
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
		rv = ipk_recv(r.ctl, &msg, sizeof(msg), &len, &type, 0);
		if (rv == IPK_ECLOSED || rv == -EAGAIN) {
			/* No writer attached: the names stay, a new one will
			 * dial and reattach. Look again in 10 ms. */
			struct timespec ts = {0, 10 * 1000000};
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
		what = "hello";
		if ((rv = reader_hello(&r)) < 0)
			goto out;
		if (!quiet)
			printf("reader: a writer is here, resume at %" PRIu64
			       "\n",
			    r.expected);
	}
	/* DONE may overtake the last blocks: they travel another way. */
	what = "last blocks";
	while (r.expected < total)
		if ((rv = reader_take(&r, 1000)) != -EAGAIN)
			goto out;
	rv = ipk_send(r.ctl, &r.expected, sizeof(r.expected), T_ACK, WAIT_MS);
	if (rv < 0)
		goto out;
	/* Removing the queue would destroy the ACK still in it: wait until
	 * the writer has read it and closed its end. */
	size_t len;
	uint32_t type;
	what = "goodbye";
	rv = ipk_recv(r.ctl, &msg, sizeof(msg), &len, &type, WAIT_MS);
	if (rv != IPK_ECLOSED)
		goto out;
	printf("reader: %" PRIu64 " bytes verified, %" PRIu64
	       " block(s) received twice and dropped\n",
	    r.expected, r.dups);
	ret = 0;
out:
	if (ret)
		story_fail("reader", what, rv);
	ipk_sem_close(r.credit);
	ipk_lock_close(r.lock);
	if (ret == 0) { /* a failed reader leaves them for the next one */
		ipk_sem_unlink(n.sem);
		ipk_lock_unlink(n.lock);
	}
	ipk_close(r.data);
	ipk_close(r.ctl);
	ipk_listener_close(ld);
	ipk_listener_close(lc);
	return ret;
}

/* What a writer works with. */
struct writer {
	struct ipk_chan *ctl, *data;
	struct ipk_sem *credit;
	uint64_t total, off; /* off: bytes sent (committed) so far */
};

/*
 * Look at the control queue (waiting up to wait_ms). A reader that
 * replaced a dead one says RHELLO: answer with how far we have sent and
 * stay still until it says GO. Returns 1 after such a pause, 0 when there
 * was nothing (or no reader attached right now), or a negative code.
 */
static int
writer_check(struct writer *w, int wait_ms)
{
	uint64_t msg;
	size_t len;
	uint32_t type;
	int rv = ipk_recv(w->ctl, &msg, sizeof(msg), &len, &type, wait_ms);
	if (rv == -EAGAIN || rv == -ETIMEDOUT || rv == IPK_ECLOSED)
		return 0;
	if (rv < 0)
		return rv;
	if (type != T_RHELLO)
		return -EBADMSG;
	if ((rv = ipk_send(
		 w->ctl, &w->off, sizeof(w->off), T_OFFSET, WAIT_MS)) < 0 ||
	    (rv = ipk_recv(w->ctl, &msg, sizeof(msg), &len, &type, WAIT_MS)) <
		0)
		return rv;
	return type == T_GO ? 1 : -EBADMSG;
}

/* Send one block at w->off: take a credit, fill a loan, commit. While
 * waiting, answer a restarted reader (the credit goes back first: the
 * reader refills the count assuming we hold none). */
static int
writer_block(struct writer *w)
{
	uint32_t blen =
	    w->total - w->off < BLOCK ? (uint32_t)(w->total - w->off) : BLOCK;
	struct block_hdr h = {.offset = w->off, .len = blen};
	long start = story_now_ms();
	void *buf;
	int rv;
	for (;;) {
		if (story_now_ms() - start > WAIT_MS)
			return -ETIMEDOUT;
		if ((rv = writer_check(w, 0)) < 0)
			return rv;
		rv = ipk_sem_wait(w->credit, 100);
		if (rv == -ETIMEDOUT)
			continue;
		if (rv < 0)
			return rv;
		rv = ipk_loan(w->data, sizeof(h) + blen, &buf, 100);
		if (rv == 0)
			break;
		/* The ring is full and its reader gone: wait for the next */
		if (rv != -ETIMEDOUT && rv != IPK_ECLOSED)
			return rv;
		if ((rv = ipk_sem_post(w->credit)) < 0 ||
		    (rv = writer_check(w, 100)) < 0)
			return rv;
	}
	memcpy(buf, &h, sizeof(h));
	story_fill((unsigned char *)buf + sizeof(h), w->off, blen);
	if ((rv = ipk_commit(w->data, sizeof(h) + blen, T_BLOCK)) < 0)
		return rv;
	w->off += blen;
	return 0;
}

/* Writer: meet the reader by name, ask where to start, send the rest.
 * With `progress`, print each offset reached (the selftest reads it); with
 * `pace_ms`, rest that long after each block, so that a person running it
 * by hand has time to kill it mid-way. */
static int
writer(const char *name, uint64_t total, int progress, int pace_ms)
{
	struct names n;
	struct ipk_opts o = {.timeout_ms = WAIT_MS};
	struct writer w = {.total = total};
	uint64_t pid = (uint64_t)getpid(), msg;
	size_t len;
	uint32_t type;
	int ret = 1, rv;
	const char *what = "dial";

	story_names(name, &n);
	if ((rv = ipk_dial(n.ctl, &o, &w.ctl)) < 0 ||
	    (rv = ipk_dial(n.data, &o, &w.data)) < 0)
		goto out;
	what = "hello";
	if ((rv = ipk_send(w.ctl, &pid, sizeof(pid), T_HELLO, WAIT_MS)) < 0)
		goto out;
	/* A reader that took over from a dead one says RHELLO to the writer
	 * it expects; this one has sent nothing yet, so wait for OFFSET. */
	do
		rv = ipk_recv(
		    w.ctl, &w.off, sizeof(w.off), &len, &type, WAIT_MS);
	while (rv == 0 && type == T_RHELLO);
	if (rv < 0)
		goto out;
	rv = -EBADMSG;
	if (type != T_OFFSET || len != sizeof(w.off) || w.off > total ||
	    w.off % 8)
		goto out;
	what = "semaphore";
	if ((rv = ipk_sem_open(n.sem, IPK_SEM_NOUNDO, 0, &w.credit)) < 0)
		goto out;
	if (!progress)
		printf("writer: resuming at %" PRIu64 " of %" PRIu64 "\n",
		    w.off, total);
	what = "send";
	while (w.off < total) {
		if ((rv = writer_block(&w)) < 0)
			goto out;
		if (pace_ms > 0) {
			struct timespec ts = {
			    pace_ms / 1000, (pace_ms % 1000) * 1000000L};
			nanosleep(&ts, NULL);
		}
		if (progress) {
			printf("%" PRIu64 "\n", w.off);
			fflush(stdout);
		}
	}
	/* DONE, then ACK; a reader restarted meanwhile says RHELLO first
	 * and gets DONE again once it said GO. */
	what = "done";
	long start = story_now_ms();
	for (;;) {
		rv = -ETIMEDOUT;
		if (story_now_ms() - start > 2 * WAIT_MS)
			goto out;
		if ((rv = ipk_send(
			 w.ctl, &w.off, sizeof(w.off), T_DONE, WAIT_MS)) < 0)
			goto out;
		rv = ipk_recv(w.ctl, &msg, sizeof(msg), &len, &type, WAIT_MS);
		while (
		    rv == IPK_ECLOSED && story_now_ms() - start < 2 * WAIT_MS) {
			struct timespec ts = {0, 10 * 1000000};
			nanosleep(&ts, NULL);
			rv = ipk_recv(w.ctl, &msg, sizeof(msg), &len, &type, 0);
			if (rv == -EAGAIN)
				rv = IPK_ECLOSED;
		}
		if (rv < 0)
			goto out;
		if (type == T_ACK && msg == total)
			break;
		rv = -EBADMSG;
		if (type != T_RHELLO ||
		    (rv = ipk_send(w.ctl, &w.off, sizeof(w.off), T_OFFSET,
			 WAIT_MS)) < 0 ||
		    (rv = ipk_recv(
			 w.ctl, &msg, sizeof(msg), &len, &type, WAIT_MS)) < 0)
			goto out;
		rv = -EBADMSG;
		if (type != T_GO)
			goto out;
	}
	if (!progress)
		printf(
		    "writer: the reader verified %" PRIu64 " bytes\n", w.off);
	ret = 0;
out:
	if (ret)
		story_fail("writer", what, rv);
	ipk_sem_close(w.credit);
	ipk_close(w.data);
	ipk_close(w.ctl);
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
		char *argv[] = {"story", (char *)role, (char *)name,
		    (char *)bytes, out_fd >= 0 ? "--progress" : NULL, NULL};
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
		struct timespec ts = {0, 10 * 1000000};
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
		struct pollfd p = {.fd = fd, .events = POLLIN};
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
 * The whole scenario: reader and writer as two processes; one of them,
 * chosen from the seed, killed with SIGKILL once the writer reached a
 * random offset, then started again. Passes when both exit 0 (the reader
 * verified every byte). Whatever happens, the children are gone and the
 * names removed at the end.
 */
static int
selftest(unsigned seed)
{
	char name[64], bytes[32];
	struct names n;
	uint64_t total = SELFTEST_BYTES;
	int p[2], ok = 0;

	srand(seed);
	uint64_t kill_at = (total / 10 + (uint64_t)rand() % (total * 8 / 10)) &
	    ~(uint64_t)(BLOCK - 1);
	int kill_reader = rand() % 2;
	const char *victim = kill_reader ? "reader" : "writer";
	printf("story selftest: seed %u, %" PRIu64 " MiB, %s killed at "
	       "%" PRIu64 " MiB\n",
	    seed, total >> 20, victim, kill_at >> 20);
	snprintf(name, sizeof(name), "st-%d-%u", (int)getpid(), seed);
	snprintf(bytes, sizeof(bytes), "%" PRIu64, total);
	story_names(name, &n);
	if (pipe2(p, O_CLOEXEC) < 0)
		return 1;
	pid_t r = story_start("reader", name, bytes, -1);
	pid_t w = story_start("writer", name, bytes, p[1]);
	close(p[1]);
	if (r < 0 || w < 0 || story_wait_progress(p[0], kill_at) < 0) {
		fprintf(stderr,
		    "story selftest: writer never got to %" PRIu64 "\n",
		    kill_at);
		goto out;
	}
	pid_t *vp = kill_reader ? &r : &w;
	kill(*vp, SIGKILL);
	waitpid(*vp, NULL, 0);
	printf("story selftest: %s %d killed, starting another\n", victim,
	    (int)*vp);
	*vp = story_start(victim, name, bytes, -1);
	ok = 1;
out:
	/* The writer first: it may still print to the pipe. A failed run
	 * gives the survivor no time (story_reap kills what is left). */
	ok = w > 0 && story_reap(w, ok ? 2 * WAIT_MS : 0) == 0 && ok;
	ok = r > 0 && story_reap(r, ok ? 2 * WAIT_MS : 0) == 0 && ok;
	close(p[0]);
	/* Remove what a dead reader may have left: listening again on a
	 * dead listener's names reclaims them, closing removes them. */
	struct ipk_listener *l;
	ipk_lock_unlink(n.lock);
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
		return selftest(argc > 2
			? (unsigned)strtoul(argv[2], NULL, 0)
			: (unsigned)time(NULL) ^ (unsigned)getpid());
	if (argc < 2 ||
	    (strcmp(argv[1], "reader") && strcmp(argv[1], "writer"))) {
		fprintf(stderr,
		    "usage: story reader [NAME] [BYTES]\n"
		    "       story writer [NAME] [BYTES] [--pace=MS]\n"
		    "       story --selftest [SEED]\n");
		return 2;
	}
	const char *pos[2] = {"story", NULL};
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
		fprintf(stderr,
		    "story: BYTES must be a non-zero multiple of "
		    "8\n");
		return 2;
	}
	if (!strcmp(argv[1], "reader"))
		return reader(name, total, progress);
	return writer(name, total, progress, pace);
}
