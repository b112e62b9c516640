/* SPDX-License-Identifier: MIT */
/*
 * restart_test.c - QoS 1 across a broker restart: 100,000 numbered
 * messages from one publisher to a subscriber with a persistent session,
 * the broker stopped and started again (same port, same persistence
 * files) after the first 30,000, twice: once with SIGTERM, once with
 * SIGKILL. Every message must arrive, once.
 *
 * SIGTERM: the broker writes its persistence file as it exits. SIGKILL:
 * mosquitto's persistence is a snapshot (written on SIGUSR1, at exit and
 * every autosave_interval; the configuration written here saves it only
 * when told), so what it had acknowledged to the publisher and not yet
 * handed to the subscriber dies with it. The publisher's replay window
 * (?replay=, 4096 by default at QoS 1) brings those back: after the
 * reconnection it publishes its last acknowledged messages again, with
 * their numbers. The subscriber delivers the ones it never got and drops
 * the rest by number, counted in `reordered` (reported): nothing is lost,
 * nothing is delivered twice, and no loss is counted.
 *
 * So that the broker surely holds acknowledged messages it has not yet
 * handed on when it is stopped, the reader stops taking messages 2,000
 * before the stop until the broker is gone: its queue (256) fills, the
 * broker may send it no more than that unacknowledged (MQTT 5 receive
 * maximum), and keeps the rest in memory. Without the replay window a
 * SIGKILL then loses some 700 messages; with it, none. The test saves the
 * snapshot once the subscription exists, so that the restarted broker
 * knows the session and queues for it while the subscriber reconnects.
 */
#include "mqtt/broker.h"

#include <pthread.h>
#include <stdatomic.h>

#define N 100000
#define KILL_AT 30000
#define PAUSE_AT (KILL_AT - 2000) /* the reader waits there for the stop */

static struct tbroker b;
static unsigned char seen[N];
static long got, dups, bad;
static long late; /* first arrivals below the highest number seen */
static int64_t reader_end;
static atomic_int stopped; /* the broker was stopped */

static void *
reader(void *arg)
{
	struct ipk_chan *s = arg;
	struct ipk_stats st = {0};
	long top = -1;
	/* Until every message is received (the counters are read in this
	 * thread, the channel's receiving one). */
	while (got < N && t_now_ns() < reader_end) {
		char buf[64];
		size_t len;
		int rv = ipk_recv(s, buf, sizeof(buf) - 1, &len, NULL, 200);
		(void)ipk_stats(s, &st);
		if (rv == -ETIMEDOUT)
			continue;
		if (rv < 0) {
			fprintf(stderr, "recv: %s\n", ipk_strerror(rv));
			bad++;
			break;
		}
		buf[len] = '\0';
		long i = strtol(buf, NULL, 10);
		if (i < 0 || i >= N) {
			bad++;
			continue;
		}
		if (seen[i]++)
			dups++;
		else
			got++;
		if (i < top && seen[i] == 1)
			late++;
		if (i > top)
			top = i;
		while (got == PAUSE_AT && !atomic_load(&stopped) &&
		    t_now_ns() < reader_end)
			(void)poll(NULL, 0, 5);
	}
	return NULL;
}

static int
db_saved(void)
{
	char path[200];
	snprintf(path, sizeof(path), "%s/mosquitto.db", b.dir);
	return access(path, F_OK) == 0;
}

/* One run: the broker stopped with `sig` after KILL_AT messages. */
static void
run(int sig, const char *tag)
{
	memset(seen, 0, sizeof(seen));
	got = dups = bad = late = 0;
	atomic_store(&stopped, 0);
	/* Persistence in the test's directory (broker.h), the snapshot
	 * written at exit and on SIGUSR1 only. */
	b.extra = "autosave_interval 0\n";
	tb_start(&b);
	char u[512], q[200];
	snprintf(q, sizeof(q),
	    "pattern=sub&qos=1&clean=0&id=%s-%s-sub&queue=256", t_unique(),
	    tag);
	struct ipk_chan *s, *p;
	T_OK(ipk_dial(tb_url(&b, u, sizeof(u), "crash/x", q), NULL, &s));
	tb_signal(&b, SIGUSR1);
	int64_t t0 = t_now_ns();
	while (!db_saved()) {
		T_ASSERT(t_ms_since(t0) < 5000);
		(void)poll(NULL, 0, 10);
	}
	/* The window covers what the broker may hold unsaved: the
	 * subscriber's lag at the broker, which a slow build (sanitizers)
	 * makes far larger than the default 4096 (docs/transports/mqtt.md,
	 * "What it guarantees"). */
	snprintf(q, sizeof(q),
	    "pattern=pub&qos=1&clean=0&id=%s-%s-pub&replay=60000", t_unique(),
	    tag);
	T_OK(ipk_dial(tb_url(&b, u, sizeof(u), "crash/x", q), NULL, &p));
	pthread_t th;
	reader_end = t_now_ns() + 40000000000LL;
	T_ASSERT(pthread_create(&th, NULL, reader, s) == 0);
	t0 = t_now_ns();
	double down_ms = 0;
	for (long i = 0; i < N; i++) {
		char m[32];
		int n = snprintf(m, sizeof(m), "%07ld", i);
		int rv = ipk_send(p, m, (size_t)n, 0, 30000);
		if (rv < 0)
			T_FAILF("send %ld: %s", i, ipk_strerror(rv));
		if (i == KILL_AT) {
			int64_t k = t_now_ns();
			tb_signal(&b, sig);
			atomic_store(&stopped, 1);
			tb_start(&b);
			down_ms = t_ms_since(k);
		}
	}
	int rv = ipk_flush(p, 30000);
	if (rv < 0)
		T_FAILF("flush: %s", ipk_strerror(rv));
	double sent_ms = t_ms_since(t0);
	/* Every message was acknowledged, and those the broker may have
	 * lost were published again: the subscriber gets them all. */
	pthread_join(th, NULL);
	struct ipk_stats st;
	T_OK(ipk_stats(s, &st));
	long missing = N - got;
	/* reordered = duplicates dropped + messages that came late (lost
	 * by the broker, brought back by the replay). */
	unsigned long long ldup = st.reordered > (unsigned long long)late
	    ? st.reordered - (unsigned long long)late
	    : 0;
	printf("%s: %d QoS 1 messages, broker stopped after %d and back in "
	       "%.0f ms: all acknowledged in %.0f ms; received %ld, missing "
	       "%ld (counted as gaps: %llu); arrived late (replayed after "
	       "the broker lost them) %ld; duplicates (replays and "
	       "redeliveries) dropped %llu; delivered twice %ld\n",
	    tag, N, KILL_AT, down_ms, sent_ms, got, missing,
	    (unsigned long long)st.gaps, late, ldup, dups);
	ipk_close(p);
	ipk_close(s);
	T_EQ(bad, 0);
	T_EQ(dups, 0);
	T_EQ(missing, 0);
	T_EQ((long)st.gaps, 0);
	/* The replay after the reconnection came, and was told apart. */
	T_ASSERT(st.reordered > 0);
	tb_stop(&b);
}

int
main(void)
{
	t_watchdog(110);
	tb_need();
	t_cleanup_hook = tb_cleanup;
	run(SIGTERM, "sigterm");
	run(SIGKILL, "sigkill");
	return T_PASS;
}
