/* SPDX-License-Identifier: MIT */
/*
 * backpressure.c - a producer streams to a consumer that is slower, over a
 * bounded channel. When the channel is full, ipk_send waits (the producer is
 * held back) instead of letting memory grow; this program shows how often
 * and how long the producer waited.
 *
 *   ./backpressure consumer URL   shell 1: takes a message every 2 ms
 *   ./backpressure producer URL   shell 2: sends 300 messages of 4 KiB
 *   ./backpressure --selftest [URL]  both; the default URL is a fresh
 *                                  shm:///ipk-bp-PID?size=16K (16 KiB ring)
 * A pipe-like channel shows the same: try fifo:///tmp/bp (64 KiB of pipe).
 */
#include <ipckit.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define WAIT_MS 10000
#define COUNT 300
#define SIZE 4096
#define CONSUMER_DELAY_NS (2 * 1000000L)

static double
bp_now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

static int
consumer(const char *url)
{
	struct ipk_listener *l = NULL;
	struct ipk_chan *c = NULL;
	static unsigned char buf[SIZE];
	uint32_t next = 0, type;
	size_t len;
	int rv;

	if ((rv = ipk_listen(url, NULL, &l)) < 0 ||
	    (rv = ipk_accept(l, WAIT_MS, &c)) < 0)
		goto out;
	while (
	    (rv = ipk_recv(c, buf, sizeof(buf), &len, &type, WAIT_MS)) == 0) {
		/* Each message is numbered by its type and filled with it. */
		if (type != next || len != SIZE ||
		    buf[0] != (unsigned char)type ||
		    buf[SIZE - 1] != (unsigned char)type) {
			fprintf(stderr,
			    "consumer: message %u out of order or "
			    "damaged\n",
			    type);
			rv = -EBADMSG;
			goto out;
		}
		next++;
		/* The slow part: the consumer takes 2 ms per message. */
		struct timespec slow = {0, CONSUMER_DELAY_NS};
		nanosleep(&slow, NULL);
	}
	if (rv == IPK_ECLOSED && next == COUNT)
		rv = 0;
out:
	if (rv < 0)
		fprintf(stderr, "consumer: %s (after %u messages)\n",
		    ipk_strerror(rv), next);
	else
		printf("consumer: %u messages in order\n", next);
	ipk_close(c);
	ipk_listener_close(l);
	return rv < 0;
}

static int
producer(const char *url)
{
	struct ipk_opts o = {.timeout_ms = WAIT_MS};
	struct ipk_chan *c;
	static unsigned char buf[SIZE];
	unsigned full = 0;
	double waited = 0, longest = 0, t0 = bp_now_ms();
	int rv = ipk_dial(url, &o, &c);
	if (rv < 0) {
		fprintf(stderr, "producer: %s\n", ipk_strerror(rv));
		return 1;
	}
	for (uint32_t i = 0; i < COUNT; i++) {
		memset(buf, (int)(i & 0xff), sizeof(buf));
		/* Try without waiting first: -EAGAIN means the channel is
		 * full, the consumer is behind. Then wait for room. */
		rv = ipk_send(c, buf, sizeof(buf), i, 0);
		if (rv == -EAGAIN) {
			double t = bp_now_ms();
			full++;
			rv = ipk_send(c, buf, sizeof(buf), i, WAIT_MS);
			t = bp_now_ms() - t;
			waited += t;
			longest = t > longest ? t : longest;
		}
		if (rv < 0) {
			fprintf(stderr, "producer: %s\n", ipk_strerror(rv));
			break;
		}
	}
	struct ipk_stats st = {0};
	ipk_stats(c, &st);
	double total = bp_now_ms() - t0;
	printf("producer: %u messages of %d bytes in %.0f ms over %s\n"
	       "producer: the channel was full %u times; waited %.0f ms in all "
	       "(%.0f%% of the run), longest %.1f ms\n",
	    (unsigned)st.msgs_sent, SIZE, total, ipk_scheme(c), full, waited,
	    total > 0 ? 100 * waited / total : 0, longest);
	if (st.waits)
		printf("producer: ipk_stats counted %llu waiting calls\n",
		    (unsigned long long)st.waits);
	ipk_close(c);
	return rv < 0;
}

int
main(int argc, char **argv)
{
	char url[256];
	if (argc > 2 && !strcmp(argv[1], "consumer"))
		return consumer(argv[2]);
	if (argc > 2 && !strcmp(argv[1], "producer"))
		return producer(argv[2]);
	if (argc < 2 || strcmp(argv[1], "--selftest")) {
		fprintf(stderr,
		    "usage: backpressure consumer|producer URL\n"
		    "       backpressure --selftest [URL]\n");
		return 2;
	}
	if (argc > 2)
		snprintf(url, sizeof(url), "%s", argv[2]);
	else
		snprintf(url, sizeof(url), "shm:///ipk-bp-%d?size=16K",
		    (int)getpid());

	fflush(stdout);
	pid_t pid = fork();
	if (pid == 0) {
		char *args[] = {"backpressure", "consumer", url, NULL};
		execv("/proc/self/exe", args);
		_exit(127);
	}
	int bad = pid < 0 || producer(url), st = 0;
	if (pid > 0 &&
	    (waitpid(pid, &st, 0) != pid || !WIFEXITED(st) || WEXITSTATUS(st)))
		bad = 1;
	printf("%s backpressure\n", bad ? "FAIL" : "PASS");
	return bad;
}
