/* SPDX-License-Identifier: MIT */
/*
 * cmd_rep.c - ipckit rep: a server that answers every request, echoing it
 * or with the output of a command run on it.
 */
#include "cli.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

static const char rep_usage[] =
    "usage: ipckit rep [OPTIONS] URL\n"
    "\n"
    "Answer every request that clients send to URL (unix, tcp, nng+tcp,\n"
    "nng+ipc; ?pattern=rep is added): with the request itself, or with\n"
    "--exec, with what CMD prints when run by /bin/sh with the request on\n"
    "its standard input. Each reply goes to the client that asked; a\n"
    "client that does not read its replies does not hold up the others.\n"
    "Options may come anywhere; '--' ends them.\n"
    "\n"
    "  -l, --listen        bind URL (the default)\n"
    "  -d, --dial          dial URL (a client that binds)\n"
    "  -e, --exec CMD      reply with the standard output of CMD (at most\n"
    "                      the channel's message limit); a CMD that fails\n"
    "                      is said on standard error and answered with\n"
    "                      what it printed\n"
    "  -n, --count N       stop after N requests (default: until a signal)\n"
    "  -v, --verbose       print each request on standard error\n"
    "  -T, --timeout MS    wait at most MS for a listener (--dial) and\n"
    "                      for each request (default -1: forever)\n"
    "  -h, --help          this text\n"
    "\n"
    "Exit status: 0 after COUNT requests, 1 on an error or a timeout, 2 on\n"
    "a usage error; 128+N after signal N (the address is removed).\n"
    "\n"
    "Examples:\n"
    "  ipckit rep tcp://127.0.0.1:7000\n"
    "  ipckit rep -e 'tr a-z A-Z' unix:///tmp/upper\n";

static int rep_run(int argc, char **argv);

const struct cli_cmd cli_cmd_rep = {
    .name = "rep",
    .run = rep_run,
    .summary = "answer requests (echo, or a command's output)",
    .usage = rep_usage,
};

/* Run `cmd` with in[0..n) on its standard input; its output into *out
 * (malloc'd, at most max bytes). 0, or -errno / -EMSGSIZE. SIGPIPE from a
 * command that does not read its input is blocked, then taken back. */
static int
rep_exec(const char *cmd, const void *in, size_t n, unsigned char **out,
    size_t *outlen, size_t max)
{
	int ip[2], op[2];
	if (pipe2(ip, O_CLOEXEC) < 0)
		return -errno;
	if (pipe2(op, O_CLOEXEC) < 0) {
		close(ip[0]);
		close(ip[1]);
		return -errno;
	}
	sigset_t pipe_set, old;
	sigemptyset(&pipe_set);
	sigaddset(&pipe_set, SIGPIPE);
	sigprocmask(SIG_BLOCK, &pipe_set, &old);
	pid_t pid = fork();
	if (pid == 0) {
		(void)sigprocmask(SIG_SETMASK, &old, NULL);
		(void)signal(SIGPIPE, SIG_DFL);
		dup2(ip[0], 0);
		dup2(op[1], 1);
		execl("/bin/sh", "sh", "-c", cmd, (char *)NULL);
		_exit(127);
	}
	close(ip[0]);
	close(op[1]);
	int rv = pid < 0 ? -errno : 0;
	size_t done = 0, cap = 0;
	unsigned char *buf = NULL;
	*outlen = 0;
	int wfd = pid < 0 ? -1 : ip[1], rfd = op[0];
	if (wfd < 0)
		close(ip[1]);
	(void)fcntl(ip[1], F_SETFL, O_NONBLOCK);
	if (n == 0 && wfd >= 0) {
		close(wfd);
		wfd = -1;
	}
	while (rv == 0 && rfd >= 0) {
		struct pollfd pf[2] = {{rfd, POLLIN, 0}, {wfd, POLLOUT, 0}};
		if (poll(pf, wfd >= 0 ? 2 : 1, -1) < 0 && errno != EINTR)
			rv = -errno;
		if (wfd >= 0 && pf[1].revents) {
			ssize_t w =
			    write(wfd, (const char *)in + done, n - done);
			if (w > 0)
				done += (size_t)w;
			if (w < 0 && errno != EAGAIN && errno != EINTR)
				done = n; /* it stopped reading */
			if (done == n) {
				close(wfd);
				wfd = -1;
			}
		}
		if (pf[0].revents) {
			if (*outlen == cap) {
				size_t nc = cap ? 2 * cap : 4096;
				unsigned char *b = realloc(buf, nc);
				if (!b) {
					rv = -ENOMEM;
					break;
				}
				buf = b;
				cap = nc;
			}
			ssize_t r = read(rfd, buf + *outlen, cap - *outlen);
			if (r > 0)
				*outlen += (size_t)r;
			else if (r == 0 || errno != EINTR) {
				close(rfd);
				rfd = -1;
			}
			if (*outlen > max)
				rv = -EMSGSIZE;
		}
	}
	if (wfd >= 0)
		close(wfd);
	if (rfd >= 0)
		close(rfd);
	int st = 0;
	if (pid > 0) {
		if (rv < 0)
			kill(pid, SIGKILL);
		while (waitpid(pid, &st, 0) < 0 && errno == EINTR)
			;
		if (rv == 0 && (!WIFEXITED(st) || WEXITSTATUS(st) != 0))
			fprintf(stderr,
			    "ipckit rep: '%s' failed (status 0x%x)\n", cmd, st);
	}
	struct timespec zero = {0, 0};
	while (sigtimedwait(&pipe_set, NULL, &zero) > 0)
		;
	sigprocmask(SIG_SETMASK, &old, NULL);
	*out = buf;
	return rv;
}

static int
rep_run(int argc, char **argv)
{
	static const struct option lo[] = {
	    {"listen", no_argument, NULL, 'l'},
	    {"dial", no_argument, NULL, 'd'},
	    {"exec", required_argument, NULL, 'e'},
	    {"count", required_argument, NULL, 'n'},
	    {"verbose", no_argument, NULL, 'v'},
	    {"timeout", required_argument, NULL, 'T'},
	    {"help", no_argument, NULL, 'h'},
	    {0},
	};
	int bind = 1, verbose = 0, ch;
	long long count = -1, timeout = -1;
	const char *exec = NULL;
	while ((ch = cli_getopt(&cli_cmd_rep, argc, argv, ":lde:n:vT:h", lo)) !=
	    -1) {
		switch (ch) {
		case 'l':
			bind = 1;
			break;
		case 'd':
			bind = 0;
			break;
		case 'e':
			exec = optarg;
			break;
		case 'n':
			if (cli_parse_int(optarg, 1, 1LL << 62, &count) < 0)
				return cli_usage(
				    &cli_cmd_rep, "bad count '%s'", optarg);
			break;
		case 'v':
			verbose = 1;
			break;
		case 'T':
			if (cli_parse_int(optarg, -1, 1 << 30, &timeout) < 0)
				return cli_usage(
				    &cli_cmd_rep, "bad timeout '%s'", optarg);
			break;
		case 'h':
			cli_help(&cli_cmd_rep);
			return CLI_OK;
		default:
			return CLI_USAGE;
		}
	}
	if (optind >= argc)
		return cli_usage(&cli_cmd_rep, "missing URL");
	if (optind + 1 < argc)
		return cli_usage(
		    &cli_cmd_rep, "unexpected '%s'", argv[optind + 1]);
	const char *url = argv[optind];
	struct ipk_chan *c;
	int rv = cli_pattern_open("rep", url, bind, (int)timeout, &c);
	if (rv != CLI_OK || !c)
		return rv;
	url = ipk_url(c);
	size_t cap = 65536;
	unsigned char *buf = malloc(cap);
	rv = buf ? CLI_OK : cli_fail("rep", url, -ENOMEM);
	int64_t deadline = cli_deadline(timeout);
	for (long long got = 0; rv == CLI_OK && (count < 0 || got < count);) {
		if (cli_signalled())
			break;
		size_t len;
		int r = ipk_recv(c, buf, cap, &len, NULL,
		    cli_left_ms(deadline, CLI_SLICE_MS));
		if (r == -EMSGSIZE && len > cap) {
			unsigned char *b = realloc(buf, len);
			if (!b) {
				rv = cli_fail("rep", url, -ENOMEM);
				break;
			}
			buf = b;
			cap = len;
			continue;
		}
		if (r == -ETIMEDOUT || r == -EAGAIN) {
			if (cli_left_ms(deadline, 1) == 0) {
				fprintf(stderr,
				    "ipckit rep: %s: no request within %lld "
				    "ms\n",
				    url, timeout);
				rv = CLI_ERR;
			}
			continue;
		}
		if (r < 0) {
			rv = cli_fail("rep", url, r);
			break;
		}
		got++;
		deadline = cli_deadline(timeout);
		if (verbose)
			fprintf(stderr, "ipckit rep: request: %.*s\n", (int)len,
			    (const char *)buf);
		unsigned char *out = buf;
		size_t outlen = len;
		if (exec) {
			r = rep_exec(
			    exec, buf, len, &out, &outlen, ipk_max_msg(c));
			if (r < 0) {
				fprintf(stderr, "ipckit rep: '%s': %s\n", exec,
				    strerror(-r));
				outlen = 0;
			}
		}
		/* Timeout 0: a client that does not read waits in its own
		 * queue, never in this loop. */
		r = ipk_send(c, out, outlen, 0, 0);
		if (out != buf)
			free(out);
		if (r < 0 && r != -EAGAIN)
			rv = cli_fail("rep", url, r);
	}
	free(buf);
	(void)ipk_flush(c, 1000);
	ipk_close(c);
	if (cli_signalled())
		return cli_signal_exit();
	return rv;
}
