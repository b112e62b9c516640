/* SPDX-License-Identifier: MIT */
/*
 * reqrep.c - request/reply over any address: a server answers each request
 * with the text reversed and the same type (the request's id), a client
 * sends several requests and checks every reply.
 *
 *   ./reqrep server URL       shell 1 (serves one client, then exits)
 *   ./reqrep client URL       shell 2
 *   ./reqrep --selftest [URL] both, as two processes; the default URL is
 *                             a fresh unix:///tmp/ipk-reqrep-PID.sock
 * Any scheme works: try mq:///rr, sysv:///tmp/rr, shm:///rr or
 * tcp://127.0.0.1:7001.
 */
#include <ipckit.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#define WAIT_MS 10000
#define REQUESTS 20

static void
reqrep_reverse(char *out, const char *in, size_t len)
{
	for (size_t i = 0; i < len; i++)
		out[i] = in[len - 1 - i];
}

static int
server(const char *url)
{
	struct ipk_listener *l = NULL;
	struct ipk_chan *c = NULL;
	char req[256], rep[256];
	size_t len;
	uint32_t id;
	int rv, served = 0;

	if ((rv = ipk_listen(url, NULL, &l)) < 0 ||
	    (rv = ipk_accept(l, WAIT_MS, &c)) < 0)
		goto out;
	/* Answer until the client closes (IPK_ECLOSED). */
	while ((rv = ipk_recv(c, req, sizeof(req), &len, &id, WAIT_MS)) == 0) {
		reqrep_reverse(rep, req, len);
		if ((rv = ipk_send(c, rep, len, id, WAIT_MS)) < 0)
			break;
		served++;
	}
	if (rv == IPK_ECLOSED)
		rv = 0;
out:
	if (rv < 0)
		fprintf(stderr, "reqrep server: %s\n", ipk_strerror(rv));
	else
		printf("server: %d requests served\n", served);
	ipk_close(c);
	ipk_listener_close(l);
	return rv < 0;
}

static int
client(const char *url)
{
	struct ipk_opts o = {.timeout_ms = WAIT_MS}; /* wait for the server */
	struct ipk_chan *c;
	int rv = ipk_dial(url, &o, &c), bad = 0;
	if (rv < 0) {
		fprintf(stderr, "reqrep client: %s\n", ipk_strerror(rv));
		return 1;
	}
	for (uint32_t id = 1; id <= REQUESTS && !bad; id++) {
		char req[64], rep[64], want[64];
		size_t len;
		uint32_t type;
		int n = snprintf(req, sizeof(req), "request number %u", id);
		if ((rv = ipk_send(c, req, (size_t)n, id, WAIT_MS)) < 0 ||
		    (rv = ipk_recv(c, rep, sizeof(rep), &len, &type, WAIT_MS)) <
			0) {
			fprintf(
			    stderr, "reqrep client: %s\n", ipk_strerror(rv));
			bad = 1;
			break;
		}
		reqrep_reverse(want, req, (size_t)n);
		bad = type != id || len != (size_t)n || memcmp(rep, want, len);
		if (bad)
			fprintf(
			    stderr, "reqrep client: wrong reply to %u\n", id);
	}
	if (!bad)
		printf("client: %d replies checked over %s\n", REQUESTS, url);
	ipk_close(c);
	return bad;
}

int
main(int argc, char **argv)
{
	char url[256];
	if (argc > 2 && !strcmp(argv[1], "server"))
		return server(argv[2]);
	if (argc > 2 && !strcmp(argv[1], "client"))
		return client(argv[2]);
	if (argc < 2 || strcmp(argv[1], "--selftest")) {
		fprintf(stderr,
		    "usage: reqrep server|client URL\n"
		    "       reqrep --selftest [URL]\n");
		return 2;
	}
	if (argc > 2)
		snprintf(url, sizeof(url), "%s", argv[2]);
	else
		snprintf(url, sizeof(url), "unix:///tmp/ipk-reqrep-%d.sock",
		    (int)getpid());

	fflush(stdout);
	pid_t pid = fork();
	if (pid == 0) {
		char *args[] = {"reqrep", "server", url, NULL};
		execv("/proc/self/exe", args);
		_exit(127);
	}
	int bad = pid < 0 || client(url), st = 0;
	if (pid > 0 &&
	    (waitpid(pid, &st, 0) != pid || !WIFEXITED(st) || WEXITSTATUS(st)))
		bad = 1;
	printf("%s reqrep\n", bad ? "FAIL" : "PASS");
	return bad;
}
