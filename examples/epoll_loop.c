/* SPDX-License-Identifier: MIT */
/*
 * epoll_loop.c - ipckit channels inside an ordinary epoll loop, next to a
 * plain socket. Each channel's ipk_fd() goes into the epoll set; when it
 * fires, the loop drains the channel with timeout 0 until -EAGAIN (the
 * library may read ahead, so one wake-up can carry several messages).
 *
 * Two workers (started with ipk_spawn) send a few messages each; a plain
 * socketpair carries "tick" lines from a third process. The loop ends when
 * every source has closed.
 *
 *   ./epoll_loop [--selftest]
 */
#include <ipckit.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#define WORKERS 2
#define PER_WORKER 5

static int
worker(void)
{
	struct ipk_chan *c;
	if (ipk_dial_env(&c) < 0)
		return 1;
	for (int i = 0; i < PER_WORKER; i++) {
		char msg[32];
		int n = snprintf(
		    msg, sizeof(msg), "pid %d says %d", (int)getpid(), i);
		if (ipk_send(c, msg, (size_t)n, (uint32_t)i, 5000) < 0)
			return 1;
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

	int ep = epoll_create1(EPOLL_CLOEXEC);
	struct ipk_chan *ch[WORKERS];
	pid_t pids[WORKERS + 1];
	char *wargv[] = {"/proc/self/exe", "--worker", NULL};
	for (int i = 0; i < WORKERS; i++) {
		int rv = ipk_spawn(wargv, &ch[i], &pids[i]);
		if (rv < 0) {
			fprintf(stderr, "epoll_loop: %s\n", ipk_strerror(rv));
			return 1;
		}
		struct epoll_event ev = {.events = EPOLLIN, .data.u32 = i};
		epoll_ctl(ep, EPOLL_CTL_ADD, ipk_fd(ch[i]), &ev);
	}
	/* An ordinary socket beside the channels. */
	int sv[2];
	socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv);
	pids[WORKERS] = fork();
	if (pids[WORKERS] == 0) {
		close(sv[0]);
		for (int i = 0; i < 3; i++)
			(void)!write(sv[1], "tick\n", 5);
		_exit(0);
	}
	close(sv[1]);
	struct epoll_event ev = {.events = EPOLLIN, .data.u32 = 99};
	epoll_ctl(ep, EPOLL_CTL_ADD, sv[0], &ev);

	int open_sources = WORKERS + 1, msgs = 0, ticks = 0;
	while (open_sources > 0) {
		struct epoll_event evs[8];
		int n = epoll_wait(ep, evs, 8, 5000);
		if (n <= 0) {
			fprintf(stderr, "epoll_loop: nothing for 5 s\n");
			return 1;
		}
		for (int k = 0; k < n; k++) {
			unsigned id = evs[k].data.u32;
			if (id == 99) {
				char buf[64];
				ssize_t r = read(sv[0], buf, sizeof(buf));
				if (r <= 0) {
					epoll_ctl(
					    ep, EPOLL_CTL_DEL, sv[0], NULL);
					open_sources--;
					continue;
				}
				for (ssize_t j = 0; j < r; j++)
					ticks += buf[j] == '\n';
				continue;
			}
			/* Drain the channel: several messages per wake-up. */
			for (;;) {
				char buf[64];
				size_t len;
				uint32_t type;
				int rv = ipk_recv(
				    ch[id], buf, sizeof(buf), &len, &type, 0);
				if (rv == -EAGAIN)
					break;
				if (rv < 0) { /* IPK_ECLOSED: worker done */
					epoll_ctl(ep, EPOLL_CTL_DEL,
					    ipk_fd(ch[id]), NULL);
					open_sources--;
					break;
				}
				msgs++;
				if (!quiet)
					printf("channel %u: %.*s\n", id,
					    (int)len, buf);
			}
		}
	}
	int bad = msgs != WORKERS * PER_WORKER || ticks != 3;
	for (int i = 0; i <= WORKERS; i++) {
		int st;
		waitpid(pids[i], &st, 0);
		bad |= !WIFEXITED(st) || WEXITSTATUS(st) != 0;
	}
	for (int i = 0; i < WORKERS; i++)
		ipk_close(ch[i]);
	close(sv[0]);
	close(ep);
	printf("%s: %d messages, %d ticks\n",
	    bad		? "FAIL epoll_loop"
		: quiet ? "PASS epoll_loop"
			: "done",
	    msgs, ticks);
	return bad;
}
