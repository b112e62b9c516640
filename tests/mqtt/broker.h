/* SPDX-License-Identifier: MIT */
/*
 * broker.h - a real mosquitto broker for the mqtt tests: on 127.0.0.1, a
 * free port, persistence in the test's own directory, started and killed
 * by pid. tb_need() skips the test (one line) when the broker program or
 * the optional part libipckit-mqtt is missing.
 */
#ifndef IPK_TEST_BROKER_H
#define IPK_TEST_BROKER_H

#include "test.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <pwd.h>
#include <sys/prctl.h>
#include <sys/socket.h>

struct tbroker {
	char dir[128];
	char conf[160];
	int port;
	pid_t pid;
};

static struct tbroker *tb_cur; /* killed by the cleanup hook */

static const char *
tb_program(void)
{
	static const char *const where[] = {"/usr/sbin/mosquitto",
	    "/usr/local/sbin/mosquitto", "/usr/bin/mosquitto",
	    "/usr/local/bin/mosquitto", NULL};
	for (const char *const *p = where; *p; p++)
		if (access(*p, X_OK) == 0)
			return *p;
	return NULL;
}

static void
tb_need(void)
{
	const char *why = ipk_scheme_missing("mqtt");
	if (why)
		T_SKIPF("%s", why);
	if (!tb_program())
		T_SKIPF("no mosquitto broker (apt-get install mosquitto)");
}

static int
tb_free_port(void)
{
	int s = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	struct sockaddr_in a = {.sin_family = AF_INET};
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	socklen_t n = sizeof(a);
	T_ASSERT(s >= 0);
	T_ASSERT(bind(s, (struct sockaddr *)&a, sizeof(a)) == 0);
	T_ASSERT(getsockname(s, (struct sockaddr *)&a, &n) == 0);
	close(s);
	return ntohs(a.sin_port);
}

static int
tb_reachable(int port)
{
	int s = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(port)};
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	int ok = connect(s, (struct sockaddr *)&a, sizeof(a)) == 0;
	close(s);
	return ok;
}

/* Start (or restart, same port and files) the broker; wait until it
 * accepts connections (5 s at most). */
static void
tb_start(struct tbroker *b)
{
	if (!b->dir[0]) {
		snprintf(b->dir, sizeof(b->dir), "/tmp/%s-broker", t_unique());
		T_ASSERT(mkdir(b->dir, 0700) == 0);
		snprintf(b->conf, sizeof(b->conf), "%s/mosquitto.conf", b->dir);
		b->port = tb_free_port();
		struct passwd *pw = getpwuid(getuid());
		FILE *f = fopen(b->conf, "w");
		T_ASSERT(f);
		fprintf(f,
		    "listener %d 127.0.0.1\n"
		    "allow_anonymous true\n"
		    "persistence true\n"
		    "persistence_location %s/\n"
		    "max_queued_messages 0\n"
		    "max_inflight_messages 0\n"
		    "%s%s\n",
		    b->port, b->dir, pw ? "user " : "", pw ? pw->pw_name : "");
		fclose(f);
	}
	tb_cur = b;
	pid_t p = fork();
	T_ASSERT(p >= 0);
	if (p == 0) {
		/* A test killed by its watchdog takes its broker along. */
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		char log[200];
		snprintf(log, sizeof(log), "%s/broker.log", b->dir);
		int fd = open(log, O_WRONLY | O_CREAT | O_APPEND, 0600);
		if (fd >= 0) {
			dup2(fd, 1);
			dup2(fd, 2);
		}
		execl(tb_program(), "mosquitto", "-c", b->conf, (char *)NULL);
		_exit(127);
	}
	b->pid = p;
	int64_t end = t_now_ns() + 5000000000LL;
	while (!tb_reachable(b->port)) {
		if (waitpid(p, NULL, WNOHANG) == p) {
			b->pid = 0;
			T_FAILF("mosquitto ended at start (see %s/broker.log)",
			    b->dir);
		}
		if (t_now_ns() > end)
			T_FAILF("mosquitto did not listen on %d within 5 s",
			    b->port);
		(void)poll(NULL, 0, 10);
	}
}

/* Signal the broker and, for a fatal signal, reap it. */
static void
tb_signal(struct tbroker *b, int sig)
{
	if (b->pid <= 0)
		return;
	kill(b->pid, sig);
	if (sig == SIGKILL || sig == SIGTERM) {
		waitpid(b->pid, NULL, 0);
		b->pid = 0;
	}
}

/* Kill the broker and remove its files. */
static void
tb_stop(struct tbroker *b)
{
	tb_signal(b, SIGKILL);
	if (b->dir[0]) {
		char cmd[200];
		snprintf(cmd, sizeof(cmd), "rm -rf '%s'", b->dir);
		if (system(cmd) != 0)
			fprintf(stderr, "could not remove %s\n", b->dir);
		b->dir[0] = '\0';
	}
}

static void
tb_cleanup(void)
{
	if (tb_cur)
		tb_stop(tb_cur);
}

/* "mqtt://127.0.0.1:PORT/topic?query" into buf. */
static const char *
tb_url(const struct tbroker *b, char *buf, size_t cap, const char *topic,
    const char *query)
{
	snprintf(buf, cap, "mqtt://127.0.0.1:%d/%s%s%s", b->port, topic,
	    query && *query ? "?" : "", query ? query : "");
	return buf;
}

#endif /* IPK_TEST_BROKER_H */
