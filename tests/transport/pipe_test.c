/* SPDX-License-Identifier: MIT */
/*
 * pipe_test.c - what only the pipe transport does: ipk_spawn and
 * ipk_dial_env, ipk_pair across fork, close-on-exec, and no SIGPIPE when
 * the child is gone.
 */
#include <fcntl.h>
#include <sys/wait.h>

#include "test.h"

static int
child_main(void)
{
	struct ipk_chan *c;
	T_OK(ipk_dial_env(&c));
	/* Announced once: grandchildren must not adopt the descriptors. */
	T_ASSERT(getenv("IPK_PIPE") == NULL);
	int fd = ipk_fd(c);
	T_ASSERT(fd >= 0);
	T_ASSERT(fcntl(fd, F_GETFD) & FD_CLOEXEC);
	char buf[64];
	size_t len;
	uint32_t t;
	T_OK(ipk_recv(c, buf, sizeof(buf), &len, &t, 10000));
	T_OK(ipk_send(c, buf, len, t + 1, 10000));
	/* "exit" ends this child without closing the channel. */
	T_OK(ipk_recv(c, buf, sizeof(buf), &len, &t, 10000));
	_exit(0);
}

static void
test_spawn(const char *self)
{
	char *argv[] = {(char *)self, "--child", NULL};
	struct ipk_chan *c;
	pid_t pid;
	int fds0 = t_count_fds();
	T_OK(ipk_spawn(argv, &c, &pid));
	T_OK(ipk_send(c, "hello", 5, 41, 10000));
	char buf[64];
	size_t len;
	uint32_t t;
	T_OK(ipk_recv(c, buf, sizeof(buf), &len, &t, 10000));
	T_EQ(len, 5);
	T_EQ(t, 42);
	T_OK(ipk_send(c, "exit", 4, 0, 10000));
	int st;
	T_ASSERT(waitpid(pid, &st, 0) == pid);
	T_ASSERT(WIFEXITED(st) && WEXITSTATUS(st) == 0);
	/* The child is gone: sending never raises SIGPIPE (it would kill us
	 * with the default disposition); it fills the pipe, then says so. */
	signal(SIGPIPE, SIG_DFL);
	char chunk[4096] = {0};
	int rv = 0;
	for (int i = 0; i < 1000 && rv == 0; i++)
		rv = ipk_send(c, chunk, sizeof(chunk), 0, 1000);
	T_ERR(rv, IPK_ECLOSED);
	T_ERR(ipk_recv(c, buf, sizeof(buf), &len, &t, 1000), IPK_ECLOSED);
	T_OK(ipk_close(c));
	T_EQ(t_count_fds(), fds0);
}

static void
test_spawn_errors(void)
{
	char *argv[] = {"/nonexistent/program", NULL};
	struct ipk_chan *c = (void *)1;
	int rv = ipk_spawn(argv, &c, NULL);
	T_ERR(rv, -ENOENT);
	T_ASSERT(c == NULL);
	T_ASSERT(strstr(ipk_strerror(rv), "/nonexistent/program"));
	char *empty[] = {NULL};
	T_ERR(ipk_spawn(empty, &c, NULL), -EINVAL);
	unsetenv("IPK_PIPE");
	T_ERR(ipk_dial_env(&c), -ENOENT);
	setenv("IPK_PIPE", "3,x", 1);
	T_ERR(ipk_dial_env(&c), -EINVAL);
	setenv("IPK_PIPE", "900,901,902", 1);
	T_ERR(ipk_dial_env(&c), -EBADF);
	setenv("IPK_PIPE", "0,1,2", 1); /* not pipes under ctest */
	rv = ipk_dial_env(&c);
	T_ASSERT(rv < 0 || (ipk_close(c), 1));
	unsetenv("IPK_PIPE");
	/* pipe: cannot be listened on, and URLs must name its descriptors. */
	struct ipk_listener *l;
	T_ERR(ipk_listen("pipe:", NULL, &l), -EINVAL);
	T_ERR(ipk_dial("pipe:", NULL, &c), -EINVAL);
}

static void
test_pair_fork(void)
{
	struct ipk_chan *a, *b;
	T_OK(ipk_pair(&a, &b));
	pid_t p = fork();
	T_ASSERT(p >= 0);
	if (p == 0) {
		ipk_close(a);
		char buf[64];
		size_t len;
		uint32_t t;
		for (int i = 0; i < 1000; i++) {
			if (ipk_recv(b, buf, sizeof(buf), &len, &t, 10000) !=
				0 ||
			    t != (uint32_t)i)
				_exit(1);
			if (ipk_send(b, buf, len, t, 10000) != 0)
				_exit(1);
		}
		ipk_close(b);
		_exit(0);
	}
	ipk_close(b);
	for (int i = 0; i < 1000; i++) {
		char msg[32], buf[32];
		int n = snprintf(msg, sizeof(msg), "m%d", i);
		size_t len;
		uint32_t t;
		T_OK(ipk_send(a, msg, (size_t)n, (uint32_t)i, 10000));
		T_OK(ipk_recv(a, buf, sizeof(buf), &len, &t, 10000));
		T_ASSERT(len == (size_t)n && !memcmp(buf, msg, len));
	}
	/* The child closes its end: we see the peer closed. */
	char buf[8];
	size_t len;
	uint32_t t;
	T_ERR(ipk_recv(a, buf, sizeof(buf), &len, &t, 10000), IPK_ECLOSED);
	int st;
	T_ASSERT(waitpid(p, &st, 0) == p);
	T_ASSERT(WIFEXITED(st) && WEXITSTATUS(st) == 0);
	ipk_close(a);
}

int
main(int argc, char **argv)
{
	t_watchdog(60);
	if (argc > 1 && !strcmp(argv[1], "--child"))
		return child_main();
	char self[4096];
	ssize_t n = readlink("/proc/self/exe", self, sizeof(self) - 1);
	T_ASSERT(n > 0);
	self[n] = '\0';
	test_spawn(self);
	test_spawn_errors();
	test_pair_fork();
	printf("PASS pipe\n");
	return T_PASS;
}
