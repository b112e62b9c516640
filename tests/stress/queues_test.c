/* SPDX-License-Identifier: MIT */
/*
 * queues_test.c - many producers over one kernel queue (mq, sysv, fifo).
 * These transports give one channel per address with one live dialer at a
 * time (a second live dialer is refused, IPK_CAP_REATTACH lets the next
 * one attach after it leaves), so four producer processes race for the
 * dialer side, each sending its messages in a burst of turns, while one
 * consumer, the listening side, receives them all. Every (producer, seq)
 * must arrive exactly once and in order per producer; refusals are counted.
 * Consumers cannot be several: the listening side is one channel, and a
 * channel has one receiving thread (DESIGN.md).
 */
#include <sys/wait.h>

#include "../test.h"

#define NPROD 4
#define PER_PROD 2500 /* 10^4 messages per scheme */
#define TURN 250 /* messages sent per attachment */

static pid_t kids[NPROD];
static struct ipk_listener *g_l;
static struct ipk_chan *g_c;

/* On failure too: the producers go, the listener removes its objects. */
static void
cleanup(void)
{
	for (int i = 0; i < NPROD; i++)
		if (kids[i] > 0) {
			kill(kids[i], SIGKILL);
			waitpid(kids[i], NULL, 0);
			kids[i] = 0;
		}
	if (g_c)
		ipk_close(g_c);
	if (g_l)
		ipk_listener_close(g_l);
	g_c = NULL;
	g_l = NULL;
}

struct rec {
	uint32_t prod, seq;
	uint64_t check;
};

static uint64_t
rec_check(uint32_t prod, uint32_t seq)
{
	return ((uint64_t)prod << 32 | seq) * 0x9e3779b97f4a7c15ull;
}

/* A producer: attach, send a turn, leave; again until all are sent. */
static void
producer(const char *url, uint32_t id)
{
	struct ipk_opts o = {.timeout_ms = 5000};
	uint32_t seq = 0;
	int refused = 0;
	int64_t end = t_now_ns() + 15000000000ll;
	while (seq < PER_PROD) {
		struct ipk_chan *c;
		int rv = ipk_dial(url, &o, &c);
		if (rv == IPK_EBUSYSIDE || rv == -EBUSY) {
			refused++;
			if (t_now_ns() > end)
				_exit(3);
			struct timespec ts = {0, 200000};
			nanosleep(&ts, NULL); /* another producer's turn */
			continue;
		}
		if (rv < 0) {
			fprintf(stderr, "producer %u: dial: %s\n", id,
			    ipk_strerror(rv));
			_exit(4);
		}
		for (int k = 0; k < TURN && seq < PER_PROD; k++, seq++) {
			struct rec r = {id, seq, rec_check(id, seq)};
			rv = ipk_send(c, &r, sizeof(r), id, 5000);
			if (rv < 0) {
				fprintf(stderr, "producer %u: send %u: %s\n",
				    id, seq, ipk_strerror(rv));
				_exit(5);
			}
		}
		ipk_close(c);
	}
	printf("  producer %u: %u sent, refused %d times while another "
	       "was attached\n",
	    id, seq, refused);
	fflush(stdout);
	_exit(0);
}

static void
run(const char *scheme)
{
	char url[256];
	if (!strcmp(scheme, "sysv"))
		snprintf(url, sizeof(url), "sysv:///tmp/%s-q", t_unique());
	else if (!strcmp(scheme, "fifo"))
		snprintf(url, sizeof(url), "fifo:///tmp/%s-f", t_unique());
	else
		snprintf(url, sizeof(url), "mq:///%s-q", t_unique());
	fflush(stdout);
	/* Producers start before the listener exists: they inherit none of
	 * its descriptors and wait for it in dial. */
	for (int i = 0; i < NPROD; i++) {
		kids[i] = fork();
		T_ASSERT(kids[i] >= 0);
		if (kids[i] == 0)
			producer(url, (uint32_t)i);
	}
	struct ipk_opts o = {0};
	T_OK(ipk_listen(url, &o, &g_l));
	T_OK(ipk_accept(g_l, 5000, &g_c));
	struct ipk_chan *c = g_c;
	static uint32_t next[NPROD];
	memset(next, 0, sizeof(next));
	int total = 0;
	int64_t t0 = t_now_ns(), last = t0;
	while (total < NPROD * PER_PROD) {
		struct rec r;
		size_t len;
		uint32_t type;
		int rv = ipk_recv(c, &r, sizeof(r), &len, &type, 100);
		if (rv == IPK_ECLOSED || rv == -ETIMEDOUT) {
			/* Between two producers' turns ("closed" comes at
			 * once while no dialer is attached). */
			if (t_ms_since(last) > 10000)
				T_FAILF("%s: nothing for 10 s after %d "
					"messages",
				    scheme, total);
			if (rv == IPK_ECLOSED) {
				struct timespec ts = {0, 200000};
				nanosleep(&ts, NULL); /* polling a fact */
			}
			continue;
		}
		T_OK(rv);
		last = t_now_ns();
		T_EQ(len, sizeof(r));
		T_ASSERT(r.prod < NPROD);
		T_EQ(type, r.prod);
		T_ASSERT(r.check == rec_check(r.prod, r.seq));
		if (r.seq != next[r.prod])
			T_FAILF("%s: producer %u: got seq %u, expected %u "
				"(%s)",
			    scheme, r.prod, r.seq, next[r.prod],
			    r.seq < next[r.prod] ? "duplicate" : "lost");
		next[r.prod]++;
		total++;
	}
	for (int i = 0; i < NPROD; i++) {
		int st;
		T_ASSERT(waitpid(kids[i], &st, 0) == kids[i]);
		kids[i] = 0;
		if (!WIFEXITED(st) || WEXITSTATUS(st))
			T_FAILF(
			    "%s: producer %d ended with 0x%x", scheme, i, st);
		T_EQ(next[i], PER_PROD);
	}
	/* Nothing more: no duplicate was left queued. */
	struct rec r;
	size_t len;
	int rv = ipk_recv(c, &r, sizeof(r), &len, NULL, 0);
	T_ASSERT(rv == IPK_ECLOSED || rv == -EAGAIN);
	g_c = NULL;
	T_OK(ipk_close(c));
	T_OK(ipk_listener_close(g_l));
	g_l = NULL;
	printf("%-5s %d producers x %d messages, each exactly once and in "
	       "order, in %.0f ms\n",
	    scheme, NPROD, PER_PROD, t_ms_since(t0));
}

int
main(int argc, char **argv)
{
	t_watchdog(60);
	t_cleanup_hook = cleanup;
	if (argc > 1) {
		run(argv[1]);
		return T_PASS;
	}
	run("mq");
	run("sysv");
	run("fifo");
	return T_PASS;
}
