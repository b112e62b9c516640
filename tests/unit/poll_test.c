/* SPDX-License-Identifier: MIT */
/*
 * poll_test.c - ipk_poll over several channels with a real peer process:
 * the right channel is reported, read-ahead counts as ready even when the
 * descriptor is quiet, timeouts, and a dead peer makes a channel ready.
 */
#include <sys/wait.h>

#include "test.h"

#define N 3

static void
child(struct ipk_chan **b)
{
	char buf[32];
	size_t len;
	uint32_t t;
	/* "go K" on channel 0 asks for two messages on channel K. */
	for (;;) {
		if (ipk_recv(b[0], buf, sizeof(buf) - 1, &len, &t, 10000) != 0)
			_exit(1);
		buf[len] = '\0';
		if (!strcmp(buf, "exit"))
			_exit(0);
		int k = buf[3] - '0';
		if (k < 0 || k >= N)
			_exit(1);
		if (ipk_send(b[k], "one", 3, 1, 10000) != 0 ||
		    ipk_send(b[k], "two", 3, 2, 10000) != 0)
			_exit(1);
	}
}

int
main(void)
{
	t_watchdog(60);
	struct ipk_chan *a[N], *b[N];
	for (int i = 0; i < N; i++)
		T_OK(ipk_pair(&a[i], &b[i]));
	pid_t p = fork();
	T_ASSERT(p >= 0);
	if (p == 0) {
		for (int i = 0; i < N; i++)
			ipk_close(a[i]);
		child(b);
	}
	for (int i = 0; i < N; i++)
		ipk_close(b[i]);

	struct ipk_pollitem it[N];
	for (int i = 0; i < N; i++)
		it[i] = (struct ipk_pollitem){a[i], IPK_POLLIN, 0};
	/* Nothing yet: timeouts. */
	int64_t t0 = t_now_ns();
	T_ERR(ipk_poll(it, N, 50), -ETIMEDOUT);
	T_ASSERT(t_ms_since(t0) >= 49);
	T_ERR(ipk_poll(it, N, 0), -EAGAIN);
	T_ERR(ipk_poll(NULL, 1, 0), -EINVAL);
	T_ERR(ipk_poll(it, 0, 0), -EINVAL);

	for (int k = 1; k < N; k++) {
		char go[8];
		snprintf(go, sizeof(go), "go %d", k);
		T_OK(ipk_send(a[0], go, strlen(go), 0, 10000));
		T_EQ(ipk_poll(it, N, 10000), 1);
		for (int i = 0; i < N; i++)
			T_EQ(it[i].revents, i == k ? IPK_POLLIN : 0);
		/* Both messages may now sit in the read-ahead buffer after
		 * the first recv: poll must still say ready. */
		char buf[8];
		size_t len;
		uint32_t t;
		T_OK(ipk_recv(a[k], buf, sizeof(buf), &len, &t, 1000));
		T_EQ(t, 1);
		T_EQ(ipk_poll(it, N, 10000), 1);
		T_EQ(it[k].revents, IPK_POLLIN);
		T_OK(ipk_recv(a[k], buf, sizeof(buf), &len, &t, 1000));
		T_EQ(t, 2);
		T_ERR(ipk_poll(it, N, 0), -EAGAIN);
	}
	/* The peer goes away: every channel is ready and says closed. */
	T_OK(ipk_send(a[0], "exit", 4, 0, 10000));
	int st;
	T_ASSERT(
	    waitpid(p, &st, 0) == p && WIFEXITED(st) && WEXITSTATUS(st) == 0);
	T_EQ(ipk_poll(it, N, 10000), N);
	char buf[8];
	size_t len;
	uint32_t t;
	for (int i = 0; i < N; i++) {
		T_ERR(
		    ipk_recv(a[i], buf, sizeof(buf), &len, &t, 0), IPK_ECLOSED);
		ipk_close(a[i]);
	}
	printf("PASS poll\n");
	return T_PASS;
}
