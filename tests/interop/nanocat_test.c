/* SPDX-License-Identifier: MIT */
/*
 * nanocat_test.c - ipckit's patterns against nanomsg's nanocat (Debian
 * nanomsg-utils): ipckit as pub, sub, req, rep, push and pull, nanocat in
 * the partner role, over nng+tcp and nng+ipc. nanocat prints what it
 * receives (-A: one line per message) on a pipe read here with a bound;
 * it is started with posix_spawn and ended by its pid. Skips (77) when
 * nanocat is not installed.
 */
#include <poll.h>
#include <spawn.h>
#include <sys/wait.h>

#include "../test.h"

extern char **environ;

static pid_t nc;
static int nc_out = -1;
static struct ipk_chan *ic;
static char ipk_u[512], nc_u[512], path[256];

static void
nc_stop(void)
{
	if (nc > 0) {
		kill(nc, SIGKILL);
		waitpid(nc, NULL, 0);
	}
	nc = 0;
	if (nc_out >= 0)
		close(nc_out);
	nc_out = -1;
}

static void
cleanup(void)
{
	nc_stop();
	ipk_close(ic);
	ic = NULL;
	if (path[0])
		unlink(path);
}

/* Start nanocat with args (NULL-terminated), its standard output on a
 * pipe. */
static void
nc_start(const char *const *args)
{
	char *argv[16];
	int n = 0;
	argv[n++] = "nanocat";
	for (; *args; args++)
		argv[n++] = (char *)*args;
	argv[n] = NULL;
	int p[2];
	T_ASSERT(pipe(p) == 0);
	posix_spawn_file_actions_t fa;
	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_adddup2(&fa, p[1], 1);
	posix_spawn_file_actions_addclose(&fa, p[0]);
	int rv = posix_spawnp(&nc, "nanocat", &fa, NULL, argv, environ);
	posix_spawn_file_actions_destroy(&fa);
	close(p[1]);
	T_ASSERT(rv == 0);
	nc_out = p[0];
}

/* The next line nanocat printed, within 10 s. */
static void
nc_expect(const char *want)
{
	char line[256];
	size_t n = 0;
	int64_t end = t_now_ns() + 10000000000ll;
	for (;;) {
		T_ASSERT(t_now_ns() < end);
		struct pollfd pf = {nc_out, POLLIN, 0};
		if (poll(&pf, 1, 100) <= 0)
			continue;
		char c;
		ssize_t r = read(nc_out, &c, 1);
		if (r <= 0)
			T_FAILF("nanocat ended before printing '%s'", want);
		if (c == '\n')
			break;
		if (n < sizeof(line) - 1)
			line[n++] = c;
	}
	line[n] = '\0';
	if (strcmp(line, want) != 0)
		T_FAILF("nanocat printed '%s', expected '%s'", line, want);
}

static void
addr(int ipc, int k, const char *role)
{
	if (ipc) {
		snprintf(path, sizeof(path), "/tmp/%s-%d.sock", t_unique(), k);
		snprintf(ipk_u, sizeof(ipk_u), "nng+ipc://%s?pattern=%s", path,
		    role);
		snprintf(nc_u, sizeof(nc_u), "ipc://%s", path);
	} else {
		/* Below the kernel's ephemeral ports (32768 and up), which
		 * other tests' connections take at random. */
		int port = 20000 + (int)((t_now_ns() / 1000 + k * 13) % 12000);
		snprintf(ipk_u, sizeof(ipk_u),
		    "nng+tcp://127.0.0.1:%d?pattern=%s", port, role);
		snprintf(nc_u, sizeof(nc_u), "tcp://127.0.0.1:%d", port);
	}
}

static void
bind_and_wait_peer(void)
{
	T_OK(ipk_bind(ipk_u, NULL, &ic));
	int64_t end = t_now_ns() + 10000000000ll;
	while (ipk_npeers(ic) < 1) {
		T_ASSERT(t_now_ns() < end);
		struct ipk_pollitem it = {ic, IPK_POLLIN, 0};
		(void)ipk_poll(&it, 1, 20);
	}
}

static void
dial(void)
{
	struct ipk_opts o = {.timeout_ms = 10000};
	T_OK(ipk_dial(ipk_u, &o, &ic));
}

static void
ipk_expect(const char *want)
{
	char buf[256];
	size_t n;
	T_OK(ipk_recv(ic, buf, sizeof(buf), &n, NULL, 10000));
	T_ASSERT(n == strlen(want) && !memcmp(buf, want, n));
}

static void
end_round(void)
{
	nc_stop();
	ipk_close(ic);
	ic = NULL;
	if (path[0])
		unlink(path);
	path[0] = '\0';
}

static void
rounds(int ipc, int *k)
{
	/* ipckit pub -> nanocat --sub */
	addr(ipc, (*k)++, "pub");
	nc_start((const char *[]){"--sub", "--connect", nc_u, "-A", NULL});
	bind_and_wait_peer();
	T_OK(ipk_send(ic, "hello sub", 9, 0, 1000));
	nc_expect("hello sub");
	end_round();

	/* nanocat --pub -> ipckit sub */
	addr(ipc, (*k)++, "sub");
	nc_start((const char *[]){"--pub", "--bind", nc_u, "--data",
	    "hello pub", "--interval", "0.05", NULL});
	dial();
	ipk_expect("hello pub");
	ipk_expect("hello pub");
	end_round();

	/* nanocat --req -> ipckit rep */
	addr(ipc, (*k)++, "rep");
	nc_start((const char *[]){
	    "--req", "--connect", nc_u, "--data", "ping", "-A", NULL});
	bind_and_wait_peer();
	ipk_expect("ping");
	T_OK(ipk_send(ic, "pong", 4, 0, 1000));
	nc_expect("pong");
	end_round();

	/* ipckit req -> nanocat --rep */
	addr(ipc, (*k)++, "req");
	nc_start((const char *[]){
	    "--rep", "--bind", nc_u, "--data", "pong", "-A", NULL});
	dial();
	T_OK(ipk_send(ic, "ping", 4, 0, 10000));
	ipk_expect("pong");
	nc_expect("ping");
	end_round();

	/* nanocat --push -> ipckit pull */
	addr(ipc, (*k)++, "pull");
	nc_start((const char *[]){
	    "--push", "--connect", nc_u, "--data", "work", NULL});
	bind_and_wait_peer();
	ipk_expect("work");
	end_round();

	/* ipckit push -> nanocat --pull */
	addr(ipc, (*k)++, "push");
	nc_start((const char *[]){"--pull", "--bind", nc_u, "-A", NULL});
	dial();
	T_OK(ipk_send(ic, "done", 4, 0, 10000));
	nc_expect("done");
	end_round();
	printf("ok nanocat over %s: pub, sub, req, rep, push, pull\n",
	    ipc ? "ipc" : "tcp");
}

int
main(void)
{
	t_watchdog(60);
	if (system("command -v nanocat >/dev/null 2>&1") != 0)
		T_SKIPF("nanocat not installed (Debian package "
			"nanomsg-utils)");
	t_cleanup_hook = cleanup;
	signal(SIGPIPE, SIG_IGN);
	int k = 0;
	rounds(0, &k);
	rounds(1, &k);
	printf("PASS interop nanocat patterns\n");
	return T_PASS;
}
