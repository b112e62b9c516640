/* SPDX-License-Identifier: MIT */
/*
 * spawn.c - parent and child over an anonymous pipe (the article's `|`):
 * the parent starts this same program as a worker with ipk_spawn, sends it
 * numbers, and the worker answers with their squares.
 *
 *   ./spawn            run the demo
 *   ./spawn --selftest run it and exit 0 when every answer is right
 */
#include <ipckit.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>

static int
worker(void)
{
	struct ipk_chan *c;
	int rv = ipk_dial_env(&c);
	if (rv < 0) {
		fprintf(stderr, "worker: %s\n", ipk_strerror(rv));
		return 1;
	}
	long n;
	size_t len;
	uint32_t type;
	/* Answer until the parent closes its end (IPK_ECLOSED). */
	while (ipk_recv(c, &n, sizeof(n), &len, &type, -1) == 0 &&
	    len == sizeof(n)) {
		long sq = n * n;
		if (ipk_send(c, &sq, sizeof(sq), type, -1) < 0)
			break;
	}
	ipk_close(c);
	return 0;
}

int
main(int argc, char **argv)
{
	if (argc > 1 && !strcmp(argv[1], "--worker"))
		return worker();
	int quiet = argc > 1 && !strcmp(argv[1], "--selftest");

	char *child_argv[] = {"/proc/self/exe", "--worker", NULL};
	struct ipk_chan *c;
	pid_t pid;
	int rv = ipk_spawn(child_argv, &c, &pid);
	if (rv < 0) {
		fprintf(stderr, "spawn: %s\n", ipk_strerror(rv));
		return 1;
	}
	int bad = 0;
	for (long i = 1; i <= 10; i++) {
		long sq;
		size_t len;
		uint32_t type;
		if ((rv = ipk_send(c, &i, sizeof(i), (uint32_t)i, 5000)) < 0 ||
		    (rv = ipk_recv(c, &sq, sizeof(sq), &len, &type, 5000)) <
			0) {
			fprintf(stderr, "spawn: %s\n", ipk_strerror(rv));
			bad = 1;
			break;
		}
		if (!quiet)
			printf("%ld squared is %ld\n", i, sq);
		bad |= sq != i * i || type != (uint32_t)i;
	}
	ipk_close(c); /* the worker sees the channel close and exits */
	int st;
	waitpid(pid, &st, 0);
	bad |= !WIFEXITED(st) || WEXITSTATUS(st) != 0;
	if (quiet)
		printf("%s\n", bad ? "FAIL spawn" : "PASS spawn");
	return bad;
}
