/* SPDX-License-Identifier: MIT */
/*
 * restart_test.c - QoS 1 across a broker restart: 100,000 numbered
 * messages from one publisher to a subscriber with a persistent session,
 * the broker stopped and started again (same port, same persistence
 * files) after the first 30,000, twice: once with SIGTERM, once with
 * SIGKILL. Redeliveries are dropped by their ipk-seq number and counted in
 * the subscriber's `reordered`; nothing is delivered twice.
 *
 * SIGTERM: the broker writes its persistence file as it exits, and every
 * message must arrive. SIGKILL: mosquitto's persistence is a snapshot
 * (written on SIGUSR1, at exit and every autosave_interval), so what it had
 * acknowledged to the publisher and not yet handed to the subscriber dies
 * with it. The publisher loses nothing it was not told was taken (every
 * message is acknowledged in the end, resent after the reconnection if
 * need be), and the subscriber counts every message it never got in its
 * gaps: a loss is reported, never silent. The test saves the snapshot once
 * the subscription exists, so that the restarted broker knows the session
 * and queues for it while the subscriber reconnects.
 */
#include "mqtt/broker.h"

#include <pthread.h>

#define N 100000
#define KILL_AT 30000

static struct tbroker b;
static unsigned char seen[N];
static long got, dups, bad;
static int64_t reader_end;

static void *
reader(void *arg)
{
	struct ipk_chan *s = arg;
	struct ipk_stats st = {0};
	/* Until every message is received or counted lost (the counters
	 * are read in this thread, the channel's receiving one). */
	while (got + (long)st.gaps < N && t_now_ns() < reader_end) {
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
	got = dups = bad = 0;
	tb_start(&b);
	char u[512], q[200];
	snprintf(q, sizeof(q),
	    "pattern=sub&qos=1&clean=0&id=%s-%s-sub&queue=4096", t_unique(),
	    tag);
	struct ipk_chan *s, *p;
	T_OK(ipk_dial(tb_url(&b, u, sizeof(u), "crash/x", q), NULL, &s));
	tb_signal(&b, SIGUSR1);
	int64_t t0 = t_now_ns();
	while (!db_saved()) {
		T_ASSERT(t_ms_since(t0) < 5000);
		(void)poll(NULL, 0, 10);
	}
	snprintf(q, sizeof(q), "pattern=pub&qos=1&clean=0&id=%s-%s-pub",
	    t_unique(), tag);
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
			tb_start(&b);
			down_ms = t_ms_since(k);
		}
	}
	int rv = ipk_flush(p, 30000);
	if (rv < 0)
		T_FAILF("flush: %s", ipk_strerror(rv));
	double sent_ms = t_ms_since(t0);
	/* Every message was acknowledged: the subscriber has them, or the
	 * broker lost them (SIGKILL) and the subscriber counts them. */
	pthread_join(th, NULL);
	struct ipk_stats st;
	T_OK(ipk_stats(s, &st));
	long missing = N - got;
	printf("%s: %d QoS 1 messages, broker stopped after %d and back in "
	       "%.0f ms: all acknowledged in %.0f ms; received %ld, missing "
	       "%ld (counted as gaps: %llu), redeliveries dropped %llu, "
	       "delivered twice %ld\n",
	    tag, N, KILL_AT, down_ms, sent_ms, got, missing,
	    (unsigned long long)st.gaps, (unsigned long long)st.reordered,
	    dups);
	ipk_close(p);
	ipk_close(s);
	T_EQ(bad, 0);
	T_EQ(dups, 0);
	T_EQ((long)st.gaps, missing);
	if (sig == SIGTERM)
		T_EQ(missing, 0);
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
