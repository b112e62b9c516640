/* SPDX-License-Identifier: MIT */
/*
 * mq_peer.c - a plain POSIX message queue program that knows nothing of
 * ipckit: mq_open on a queue of its own name, mq_send and mq_receive with
 * priorities. tests/interop/plain_mq.sh runs it against ipckit's
 * mq://?framing=raw. Every wait is bounded (5 s).
 *
 * usage: mq_peer create /NAME          (O_CREAT|O_EXCL, 0600, 10 x 256)
 *        mq_peer send /NAME PRIO TEXT...
 *        mq_peer recv /NAME COUNT      (prints "PRIO TEXT" per message)
 *        mq_peer unlink /NAME
 */
#include <errno.h>
#include <fcntl.h>
#include <mqueue.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static int
fail(const char *what, const char *name)
{
	fprintf(stderr, "mq_peer: %s %s: %s\n", what, name, strerror(errno));
	return 1;
}

int
main(int argc, char **argv)
{
	if (argc < 3)
		return 2;
	const char *op = argv[1], *name = argv[2];
	if (!strcmp(op, "create")) {
		struct mq_attr a = {.mq_maxmsg = 10, .mq_msgsize = 256};
		mqd_t q = mq_open(name, O_RDWR | O_CREAT | O_EXCL, 0600, &a);
		if (q == (mqd_t)-1)
			return fail("create", name);
		mq_close(q);
		return 0;
	}
	if (!strcmp(op, "unlink"))
		return mq_unlink(name) < 0 ? fail("unlink", name) : 0;
	struct timespec until;
	clock_gettime(CLOCK_REALTIME, &until);
	until.tv_sec += 5;
	if (!strcmp(op, "send") && argc >= 4) {
		mqd_t q = mq_open(name, O_WRONLY);
		if (q == (mqd_t)-1)
			return fail("open", name);
		unsigned prio = (unsigned)strtoul(argv[3], NULL, 10);
		for (int i = 4; i < argc; i++)
			if (mq_timedsend(
				q, argv[i], strlen(argv[i]), prio, &until) < 0)
				return fail("send", name);
		mq_close(q);
		return 0;
	}
	if (!strcmp(op, "recv") && argc == 4) {
		mqd_t q = mq_open(name, O_RDONLY);
		struct mq_attr a;
		if (q == (mqd_t)-1 || mq_getattr(q, &a) < 0)
			return fail("open", name);
		char *buf = malloc((size_t)a.mq_msgsize + 1);
		for (long n = atol(argv[3]); buf && n > 0; n--) {
			unsigned prio;
			ssize_t r = mq_timedreceive(
			    q, buf, (size_t)a.mq_msgsize, &prio, &until);
			if (r < 0)
				return fail("receive", name);
			printf("%u %.*s\n", prio, (int)r, buf);
		}
		free(buf);
		mq_close(q);
		return 0;
	}
	return 2;
}
