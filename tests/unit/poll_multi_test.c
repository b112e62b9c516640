/* SPDX-License-Identifier: MIT */
/*
 * poll_multi_test.c - ipk_poll over one channel of every named transport at
 * once, each connected to the same peer process: the channel the peer
 * writes on is the one reported ready, and when the peer is killed every
 * channel becomes ready (and says the peer is gone) within a bound.
 */
#include <spawn.h>
#include <sys/wait.h>

#include "test.h"

extern char **environ;

#define MAXCH 16

static const char *const wanted[] = {
    "unix", "fifo", "mq", "sysv", "tcp", "nng+tcp", "nng+ipc", "shm", NULL};

static struct ipk_listener *g_l[MAXCH];
static struct ipk_chan *g_c[MAXCH];
static int g_n;
static pid_t g_pid;

/* On failure too: the peer goes, and the listeners remove their objects. */
static void
cleanup(void)
{
	if (g_pid > 0) {
		kill(g_pid, SIGKILL);
		waitpid(g_pid, NULL, 0);
		g_pid = 0;
	}
	for (int i = 0; i < g_n; i++) {
		ipk_close(g_c[i]);
		ipk_listener_close(g_l[i]);
		g_c[i] = NULL;
		g_l[i] = NULL;
	}
}

static int __attribute__((noreturn)) child_main(int n, char **urls)
{
	struct ipk_chan *c[MAXCH];
	struct ipk_opts o = {.timeout_ms = 10000};
	for (int i = 0; i < n; i++)
		T_OK(ipk_dial(urls[i], &o, &c[i]));
	for (;;) {
		char buf[16];
		size_t len;
		uint32_t t;
		T_OK(ipk_recv(c[0], buf, sizeof(buf) - 1, &len, &t, 20000));
		buf[len] = '\0';
		int k = atoi(buf);
		T_ASSERT(k > 0 && k < n);
		T_OK(ipk_send(c[k], "x", 1, (uint32_t)k, 10000));
	}
}

int
main(int argc, char **argv)
{
	t_watchdog(60);
	if (argc > 2 && !strcmp(argv[1], "--child"))
		return child_main(argc - 2, argv + 2);

	char urls[MAXCH][256];
	const char *names[MAXCH];
	struct ipk_listener **l = g_l;
	struct ipk_chan **c = g_c;
	int n = 0;
	t_cleanup_hook = cleanup;
	for (const char *const *s = wanted; *s; s++) {
		if (!ipk_scheme_caps(*s))
			continue;
		unsigned caps = ipk_scheme_caps(*s);
		if (caps & IPK_CAP_REMOTE)
			snprintf(
			    urls[n], sizeof(urls[n]), "%s://127.0.0.1:0", *s);
		else if (!strcmp(*s, "shm") || !strcmp(*s, "mq"))
			snprintf(urls[n], sizeof(urls[n]), "%s:///%s-%d", *s,
			    t_unique(), n);
		else
			snprintf(urls[n], sizeof(urls[n]), "%s:///tmp/%s-%d",
			    *s, t_unique(), n);
		T_OK(ipk_listen(urls[n], NULL, &l[n]));
		snprintf(
		    urls[n], sizeof(urls[n]), "%s", ipk_listener_url(l[n]));
		names[n] = *s;
		g_n = ++n;
	}
	if (n < 2)
		T_SKIPF("fewer than two named transports compiled in");
	char self[4096];
	ssize_t k = readlink("/proc/self/exe", self, sizeof(self) - 1);
	T_ASSERT(k > 0);
	self[k] = '\0';
	char *cargv[MAXCH + 3] = {self, "--child"};
	for (int i = 0; i < n; i++)
		cargv[2 + i] = urls[i];
	T_ASSERT(posix_spawn(&g_pid, self, NULL, NULL, cargv, environ) == 0);
	pid_t pid = g_pid;
	struct ipk_pollitem it[MAXCH];
	for (int i = 0; i < n; i++) {
		T_OK(ipk_accept(l[i], 10000, &c[i]));
		it[i] = (struct ipk_pollitem){c[i], IPK_POLLIN, 0};
	}
	T_ERR(ipk_poll(it, (size_t)n, 0), -EAGAIN);
	for (int round = 0; round < 3; round++)
		for (int i = 1; i < n; i++) {
			char cmd[8];
			int m = snprintf(cmd, sizeof(cmd), "%d", i);
			T_OK(ipk_send(c[0], cmd, (size_t)m, 0, 10000));
			int rv = ipk_poll(it, (size_t)n, 10000);
			for (int j = 0; rv != 1 && j < n; j++)
				if (it[j].revents)
					fprintf(
					    stderr, "ready: %s\n", names[j]);
			if (rv != 1 || it[i].revents != IPK_POLLIN)
				T_FAILF("poll after a message on %s: %d ready, "
					"item %d revents %u",
				    names[i], rv, i, it[i].revents);
			char buf[8];
			size_t len;
			uint32_t t;
			T_OK(ipk_recv(c[i], buf, sizeof(buf), &len, &t, 1000));
			T_EQ(t, ipk_caps(c[i]) & IPK_CAP_NOTYPES ? 0 : i);
		}
	/* The peer dies: every channel turns ready and reports it. */
	int64_t t0 = t_now_ns();
	kill(pid, SIGKILL);
	waitpid(pid, NULL, 0);
	g_pid = 0;
	int ready = 0;
	while (ready < n && t_ms_since(t0) < 2000) {
		int rv = ipk_poll(it, (size_t)n, 2000);
		T_ASSERT(rv > 0);
		for (int i = 0; i < n; i++) {
			if (!it[i].revents || !it[i].chan)
				continue;
			char buf[8];
			size_t len;
			uint32_t t;
			int r = ipk_recv(c[i], buf, sizeof(buf), &len, &t, 0);
			if (r == IPK_ECLOSED) {
				fprintf(stderr, "%-8s closed after %.1f ms\n",
				    names[i], t_ms_since(t0));
				it[i].chan = NULL;
				ready++;
			} else if (r != -EAGAIN) {
				T_FAILF("%s after peer death: %s", names[i],
				    ipk_strerror(r));
			}
		}
	}
	for (int i = 0; i < n; i++)
		if (it[i].chan)
			T_FAILF(
			    "%s: peer death not reported by poll+recv in 2 s",
			    names[i]);
	cleanup();
	printf("PASS poll_multi (%d transports)\n", n);
	return T_PASS;
}
