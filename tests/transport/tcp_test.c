/* SPDX-License-Identifier: MIT */
/*
 * tcp_test.c - what is particular to tcp://: IPv6 literals and host names,
 * one listener serving several dialer processes at once, and a peer that
 * dies half-way through a frame (a protocol error, never a crash or a
 * giant allocation).
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/wait.h>

#include "../test.h"

#define NPEERS 4

static pid_t kids[NPEERS];

static void
cleanup(void)
{
	for (int i = 0; i < NPEERS; i++)
		if (kids[i] > 0)
			kill(kids[i], SIGKILL), waitpid(kids[i], NULL, 0);
	memset(kids, 0, sizeof(kids));
}

/* A dialer process: send its number, expect it doubled back. */
static int
peer(const char *url, uint32_t k)
{
	struct ipk_chan *c;
	struct ipk_opts o = {.timeout_ms = 10000};
	if (ipk_dial(url, &o, &c) < 0)
		return 1;
	if (ipk_send(c, &k, sizeof(k), k, 10000) < 0)
		return 2;
	uint32_t v = 0, t;
	size_t len;
	if (ipk_recv(c, &v, sizeof(v), &len, &t, 10000) < 0 || v != 2 * k)
		return 3;
	ipk_close(c);
	return 0;
}

static void
serve_many(const char *lurl)
{
	struct ipk_listener *l;
	T_OK(ipk_listen(lurl, NULL, &l));
	char url[300];
	snprintf(url, sizeof(url), "%s", ipk_listener_url(l));
	fprintf(stderr, "listening at %s\n", url);
	for (int i = 0; i < NPEERS; i++) {
		kids[i] = fork();
		T_ASSERT(kids[i] >= 0);
		if (kids[i] == 0)
			_exit(peer(url, (uint32_t)i + 1));
	}
	struct ipk_chan *c[NPEERS];
	for (int i = 0; i < NPEERS; i++)
		T_OK(ipk_accept(l, 10000, &c[i]));
	for (int i = 0; i < NPEERS; i++) {
		uint32_t v = 0, t;
		size_t len;
		T_OK(ipk_recv(c[i], &v, sizeof(v), &len, &t, 10000));
		T_EQ(t, v);
		v *= 2;
		T_OK(ipk_send(c[i], &v, sizeof(v), 0, 10000));
	}
	for (int i = 0; i < NPEERS; i++) {
		int st;
		T_ASSERT(waitpid(kids[i], &st, 0) == kids[i]);
		kids[i] = 0;
		T_ASSERT(WIFEXITED(st) && WEXITSTATUS(st) == 0);
		ipk_close(c[i]);
	}
	ipk_listener_close(l);
}

static int
case_multi(void)
{
	serve_many("tcp://127.0.0.1:0");
	return T_PASS;
}

static int
case_names(void)
{
	serve_many("tcp://localhost:0");
	int s = socket(AF_INET6, SOCK_STREAM, 0);
	struct sockaddr_in6 a = {
	    .sin6_family = AF_INET6, .sin6_addr = IN6ADDR_LOOPBACK_INIT};
	int ok = s >= 0 && bind(s, (struct sockaddr *)&a, sizeof(a)) == 0;
	if (s >= 0)
		close(s);
	if (!ok)
		T_SKIPF("no IPv6 loopback here (IPv4 and names passed)");
	serve_many("tcp://[::1]:0");
	return T_PASS;
}

/* A raw peer sends a frame header announcing 1000 bytes, 10 of them, and
 * dies: -EBADMSG saying so; then IPK_ECLOSED. */
static int
case_torn(void)
{
	struct ipk_listener *l;
	T_OK(ipk_listen("tcp://127.0.0.1:0", NULL, &l));
	unsigned port = (unsigned)atoi(strrchr(ipk_listener_url(l), ':') + 1);
	kids[0] = fork();
	T_ASSERT(kids[0] >= 0);
	if (kids[0] == 0) {
		int s = socket(AF_INET, SOCK_STREAM, 0);
		struct sockaddr_in a = {.sin_family = AF_INET,
		    .sin_port = htons((uint16_t)port),
		    .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
		if (connect(s, (struct sockaddr *)&a, sizeof(a)) < 0)
			_exit(1);
		unsigned char f[26] = {'I', 'P', 'K', '1', 0, 0, 0, 0, 0xe8,
		    0x03, 0, 0, 0, 0, 0, 0};
		_exit(write(s, f, sizeof(f)) == (ssize_t)sizeof(f) ? 0 : 2);
	}
	struct ipk_chan *c;
	T_OK(ipk_accept(l, 10000, &c));
	char buf[2000];
	size_t len;
	uint32_t t;
	int rv = ipk_recv(c, buf, sizeof(buf), &len, &t, 10000);
	T_ERR(rv, -EBADMSG);
	fprintf(stderr, "torn frame: %s\n", ipk_strerror(rv));
	T_ERR(ipk_recv(c, buf, sizeof(buf), &len, &t, 1000), IPK_ECLOSED);
	int st;
	T_ASSERT(waitpid(kids[0], &st, 0) == kids[0]);
	kids[0] = 0;
	ipk_close(c);
	ipk_listener_close(l);
	return T_PASS;
}

int
main(int argc, char **argv)
{
	t_watchdog(60);
	t_cleanup_hook = cleanup;
	static const struct {
		const char *name;
		int (*fn)(void);
	} cases[] = {
	    {"multi", case_multi},
	    {"torn", case_torn},
	    {"names", case_names},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		if (argc > 1 && strcmp(argv[1], cases[i].name) != 0)
			continue;
		int rv = cases[i].fn();
		cleanup();
		if (rv != T_PASS)
			return rv;
		printf("PASS tcp %s\n", cases[i].name);
	}
	return T_PASS;
}
