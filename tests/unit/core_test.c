/* SPDX-License-Identifier: MIT */
/*
 * core_test.c - error sentences and names, the transport registry (every
 * table has its required ops), allocation-failure paths of the public calls,
 * and the OFD-lock liveness helper across a real SIGKILL.
 */
#include <fcntl.h>
#include <sys/wait.h>

#include "core/transport.h"
#include "test.h"

static void
test_errors(void)
{
	T_ASSERT(!strcmp(ipk_errname(IPK_ECLOSED), "IPK_ECLOSED"));
	T_ASSERT(!strcmp(ipk_errname(-ETIMEDOUT), "ETIMEDOUT"));
	T_ASSERT(!strcmp(ipk_errname(0), "OK"));
	T_ASSERT(!strcmp(ipk_errname(-999999), "E?"));
	T_ASSERT(!strcmp(ipk_strerror(IPK_ECLOSED), "peer closed"));
	T_ASSERT(strlen(ipk_strerror(-ENOENT)) > 0);
	T_ASSERT(strlen(ipk_strerror(12345)) > 0);
	T_ASSERT(strlen(ipk_strerror(-4999)) > 0);
	/* The detailed sentence belongs to the code it was recorded for. */
	ipk__err(-EMSGSIZE, "message of %d bytes exceeds the limit", 20000000);
	T_ASSERT(strstr(ipk_strerror(-EMSGSIZE), "20000000"));
	T_ASSERT(!strstr(ipk_strerror(-EINVAL), "20000000"));
	ipk__err_prefix("fifo:///x");
	T_ASSERT(!strncmp(ipk_strerror(-EMSGSIZE), "fifo:///x: ", 11));
	ipk__err_prefix("fifo:///x"); /* not twice */
	T_ASSERT(strncmp(ipk_strerror(-EMSGSIZE) + 11, "fifo", 4) != 0);
	/* A public call clears it. */
	struct ipk_chan *c;
	T_EQ(ipk_dial("nosuch:///q", NULL, &c), -EINVAL);
	T_ASSERT(strstr(ipk_strerror(-EINVAL), "nosuch"));
	T_ASSERT(!strstr(ipk_strerror(-EMSGSIZE), "20000000"));
}

static void
test_registry(void)
{
	size_t n = 0;
	for (size_t i = 0; ipk__transport_at(i); i++, n++) {
		const struct ipk__transport *t = ipk__transport_at(i);
		if (ipk__transport_check(t) != 0)
			T_FAILF("%s", ipk_strerror(-EINVAL));
		T_ASSERT(ipk__transport_find(t->scheme) == t);
		T_ASSERT(ipk_scheme_caps(t->scheme) == t->caps);
	}
	T_ASSERT(n >= 1);
	const char *const *s = ipk_schemes();
	size_t m = 0;
	for (; s[m]; m++)
		T_ASSERT(ipk__transport_find(s[m]) != NULL);
	T_EQ(m, n);
	T_EQ(ipk_scheme_caps("nosuch"), 0);
	T_EQ(ipk_scheme_caps(NULL), 0);
	/* The checker catches a table with a missing op. */
	struct ipk__transport bad = *ipk__transport_at(0);
	bad.recv = NULL;
	T_EQ(ipk__transport_check(&bad), -EINVAL);
	T_ASSERT(strstr(ipk_strerror(-EINVAL), "recv"));
}

static void
test_alloc_failures(void)
{
	/* Every allocation of ipk_pair failing in turn: an error, no leak,
	 * no crash. Runs in a child so the allocator hook is fresh. */
	for (int n = 1; n <= 12; n++) {
		pid_t p = fork();
		T_ASSERT(p >= 0);
		if (p == 0) {
			char v[16];
			snprintf(v, sizeof(v), "%d", n);
			setenv("IPK_TEST_FAIL_ALLOC", v, 1);
			int fds0 = t_count_fds();
			struct ipk_chan *a, *b;
			int rv = ipk_pair(&a, &b);
			if (rv == 0) {
				T_OK(ipk_send(a, "x", 1, 0, 100));
				ipk_close(a);
				ipk_close(b);
			} else {
				T_ASSERT(a == NULL && b == NULL);
			}
			T_EQ(t_count_fds(), fds0);
			_exit(0);
		}
		int st;
		T_ASSERT(waitpid(p, &st, 0) == p);
		if (!WIFEXITED(st) || WEXITSTATUS(st) != 0)
			T_FAILF(
			    "allocation failure #%d: child status %#x", n, st);
	}
}

static void
test_liveness(void)
{
	char path[128];
	snprintf(path, sizeof(path), "/tmp/%s.lock", t_unique());
	int fd = open(path, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	T_ASSERT(fd >= 0);
	unlink(path);
	T_EQ(ipk__live_held(fd, IPK__SIDE_DIAL), 0);
	int sync[2];
	T_ASSERT(pipe(sync) == 0);
	pid_t p = fork();
	T_ASSERT(p >= 0);
	if (p == 0) {
		/* A separate open file description, as a peer would have. */
		char self[64];
		snprintf(self, sizeof(self), "/proc/self/fd/%d", fd);
		int fd2 = open(self, O_RDWR | O_CLOEXEC);
		if (fd2 < 0 || ipk__live_take(fd2, IPK__SIDE_DIAL) != 0)
			_exit(1);
		(void)!write(sync[1], "x", 1);
		for (;;)
			pause();
	}
	char ch;
	T_EQ(read(sync[0], &ch, 1), 1);
	T_EQ(ipk__live_held(fd, IPK__SIDE_DIAL), 1);
	T_EQ(ipk__live_held(fd, IPK__SIDE_LISTEN), 0);
	/* The side is taken: a second taker is refused. */
	int fd3 = open("/proc/self/fd/0", O_RDONLY); /* any other OFD */
	close(fd3);
	char self[64];
	snprintf(self, sizeof(self), "/proc/self/fd/%d", fd);
	int fd4 = open(self, O_RDWR | O_CLOEXEC);
	T_ASSERT(fd4 >= 0);
	T_EQ(ipk__live_take(fd4, IPK__SIDE_DIAL), IPK_EBUSYSIDE);
	/* A frozen holder is still alive. */
	kill(p, SIGSTOP);
	T_EQ(ipk__live_held(fd, IPK__SIDE_DIAL), 1);
	int64_t t0 = t_now_ns();
	kill(p, SIGKILL);
	while (ipk__live_held(fd, IPK__SIDE_DIAL) == 1 && t_ms_since(t0) < 2000)
		;
	double ms = t_ms_since(t0);
	fprintf(stderr, "OFD lock dropped %.2f ms after SIGKILL\n", ms);
	T_EQ(ipk__live_held(fd, IPK__SIDE_DIAL), 0);
	T_OK(ipk__live_take(fd4, IPK__SIDE_DIAL));
	waitpid(p, NULL, 0);
	close(fd4);
	close(fd);
	close(sync[0]);
	close(sync[1]);
}

int
main(void)
{
	t_watchdog(60);
	test_errors();
	test_registry();
	test_alloc_failures();
	test_liveness();
	printf("PASS core\n");
	return T_PASS;
}
