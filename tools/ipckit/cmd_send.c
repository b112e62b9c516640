/* SPDX-License-Identifier: MIT */
/*
 * cmd_send.c - ipckit send: messages from the command line, from files or
 * from the lines of standard input, repeated and paced on request.
 */
#include "cli.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char send_usage[] =
    "usage: ipckit send [OPTIONS] URL [MESSAGE...]\n"
    "\n"
    "Send each MESSAGE as one message; with no MESSAGE and no --file, send\n"
    "each line of standard input (without its newline). Options may come\n"
    "anywhere; '--' ends them (for a MESSAGE that starts with '-').\n"
    "\n"
    "  -l, --listen        listen on URL and wait for a peer\n"
    "  -d, --dial          dial URL (the default for send)\n"
    "  -t, --type N        message type (default 0)\n"
    "  -f, --file FILE     send the whole of FILE as one message ('-':\n"
    "                      standard input); may be repeated. Files go\n"
    "                      first, then the MESSAGE arguments\n"
    "  -r, --repeat N      send the messages N times over (default 1;\n"
    "                      0: until interrupted or the peer leaves)\n"
    "  -i, --interval MS   wait MS milliseconds between two messages\n"
    "  -T, --timeout MS    wait at most MS for the peer and each send\n"
    "                      (default -1: forever)\n"
    "  -h, --help          this text\n"
    "\n"
    "Dialing: when no listener is at URL yet, send says so at once on\n"
    "standard error (\"waiting for a listener at URL\") and waits for one\n"
    "until --timeout; with --timeout 0 it fails at once instead, as nc\n"
    "does.\n"
    "\n"
    "Before it exits, send waits until the peer has the messages in hand\n"
    "(ipk_drain): on a stream it ends its side and waits for the peer to\n"
    "read everything or to close, at most --timeout (10 s when it is 0\n"
    "or -1); a queue or shared memory holds them already.\n"
    "\n"
    "Exit status: 0 when every message was sent and taken, 1 on an error,\n"
    "2 on a usage error or a malformed URL; on SIGINT, SIGTERM, SIGHUP or\n"
    "SIGPIPE send closes the channel (a listener removes what it made) and\n"
    "ends by that signal (the shell sees 130, 143, 129, 141).\n"
    "\n"
    "Examples:\n"
    "  ipckit send unix:///tmp/demo.sock hello world\n"
    "  ipckit send tcp://127.0.0.1:7000 -t 5 -r 10 -i 1000 tick\n"
    "  ipckit send --file photo.jpg shm:///pics\n";

#define SEND_MAXFILES 16
#define SEND_DRAIN_MS 10000

struct send_args {
	int mode;
	long long type, timeout, repeat, interval;
	const char *url;
	const char *files[SEND_MAXFILES];
	int nfiles;
};

struct send_msg {
	const void *p;
	size_t n;
};

/* The whole of f into *buf, at most `max` bytes: a file over the
 * channel's limit is refused without reading it all. 0 or a message
 * printed and CLI_ERR. */
static int
send_slurp(FILE *f, const char *path, size_t max, char **buf, size_t *len)
{
	size_t cap = 0, n = 0;
	char *p = NULL;
	int err = 0;
	for (;;) {
		if (n == cap) {
			size_t ncap = cap ? cap * 2 : 65536;
			char *np = realloc(p, ncap);
			if (!np) {
				err = ENOMEM;
				break;
			}
			p = np;
			cap = ncap;
		}
		size_t k = fread(p + n, 1, cap - n, f);
		n += k;
		if (k == 0) {
			if (ferror(f))
				err = errno ? errno : EIO;
			break;
		}
		if (n > max) {
			fprintf(stderr,
			    "ipckit send: %s: larger than the channel's limit "
			    "of %zu bytes (?maxmsg=)\n",
			    path, max);
			free(p);
			return CLI_ERR;
		}
	}
	if (err) {
		fprintf(stderr, "ipckit send: %s: %s\n", path, strerror(err));
		free(p);
		return CLI_ERR;
	}
	*buf = p;
	*len = n;
	return 0;
}

/* ipk_send in waits of at most CLI_SLICE_MS, so that a signal is noticed:
 * a send that timed out sent nothing and is simply made again. */
static int
send_one(struct ipk_chan *c, const void *p, size_t n, uint32_t type,
    long long timeout)
{
	if (timeout == 0)
		return ipk_send(c, p, n, type, 0);
	int64_t deadline = cli_deadline(timeout);
	for (;;) {
		int rv = ipk_send(
		    c, p, n, type, cli_left_ms(deadline, CLI_SLICE_MS));
		if (rv != -ETIMEDOUT && rv != -EAGAIN)
			return rv;
		if (cli_signalled())
			return -EINTR;
		if (cli_left_ms(deadline, 1) == 0)
			return -ETIMEDOUT;
	}
}

/* Pause between two messages; 0, or -EINTR when a signal came. */
static int
send_pause(const struct send_args *a, int *first)
{
	if (*first) {
		*first = 0;
		return cli_signalled() ? -EINTR : 0;
	}
	int64_t deadline = cli_deadline(a->interval);
	while (!cli_signalled() && cli_left_ms(deadline, 1) > 0)
		cli_nap(cli_left_ms(deadline, CLI_SLICE_MS));
	return cli_signalled() ? -EINTR : 0;
}

static int
send_list(struct ipk_chan *c, const struct send_args *a,
    const struct send_msg *m, size_t nm)
{
	int first = 1;
	for (long long r = 0; a->repeat == 0 || r < a->repeat; r++) {
		for (size_t i = 0; i < nm; i++) {
			if (send_pause(a, &first) < 0)
				return CLI_OK; /* the caller ends by the signal
						*/
			int rv = send_one(
			    c, m[i].p, m[i].n, (uint32_t)a->type, a->timeout);
			if (rv == -EINTR)
				return CLI_OK;
			if (rv < 0)
				return cli_fail("send", a->url, rv);
		}
	}
	return CLI_OK;
}

static int
send_lines(struct ipk_chan *c, const struct send_args *a)
{
	char *line = NULL;
	size_t cap = 0;
	ssize_t n;
	int first = 1, status = CLI_OK;
	while ((n = getline(&line, &cap, stdin)) >= 0) {
		if (n > 0 && line[n - 1] == '\n')
			line[--n] = '\0';
		if (send_pause(a, &first) < 0)
			break;
		int rv =
		    send_one(c, line, (size_t)n, (uint32_t)a->type, a->timeout);
		if (rv == -EINTR)
			break;
		if (rv < 0) {
			status = cli_fail("send", a->url, rv);
			break;
		}
	}
	free(line);
	return status;
}

/* Exit 0 only once the peer has the messages in hand (ipk_drain): a
 * stream's peer has read them or closed after our end-of-stream; queues
 * hold them already. Bounded by --timeout, or SEND_DRAIN_MS when it is 0
 * (fail at once when nobody listens: no reader could be that quick) or -1
 * (a reader that never finishes is not waited for for ever). */
static int
send_drain(struct ipk_chan *c, const struct send_args *a)
{
	int64_t deadline =
	    cli_deadline(a->timeout > 0 ? a->timeout : SEND_DRAIN_MS);
	for (;;) {
		int rv = ipk_drain(c, cli_left_ms(deadline, CLI_SLICE_MS));
		if (rv == 0 || cli_signalled())
			return CLI_OK;
		if ((rv != -ETIMEDOUT && rv != -EAGAIN) ||
		    cli_left_ms(deadline, 1) == 0)
			return cli_fail("send", a->url, rv);
	}
}

static int
send_parse(int argc, char **argv, struct send_args *a)
{
	static const struct option opts[] = {
	    {"listen", no_argument, NULL, 'l'},
	    {"dial", no_argument, NULL, 'd'},
	    {"type", required_argument, NULL, 't'},
	    {"file", required_argument, NULL, 'f'},
	    {"repeat", required_argument, NULL, 'r'},
	    {"interval", required_argument, NULL, 'i'},
	    {"timeout", required_argument, NULL, 'T'},
	    {"help", no_argument, NULL, 'h'},
	    {NULL, 0, NULL, 0},
	};
	const struct cli_cmd *cmd = &cli_cmd_send;
	int ch;
	optind = 1;
	while (
	    (ch = cli_getopt(cmd, argc, argv, ":ldt:f:r:i:T:h", opts)) != -1) {
		switch (ch) {
		case 'l':
		case 'd':
			a->mode = ch;
			break;
		case 't':
			if (cli_parse_int(optarg, 0, 0xffffffffLL, &a->type) <
			    0)
				return cli_usage(cmd,
				    "bad --type '%s' (0 to 4294967295)",
				    optarg);
			break;
		case 'f':
			if (a->nfiles == SEND_MAXFILES)
				return cli_usage(
				    cmd, "more than %d --file", SEND_MAXFILES);
			a->files[a->nfiles++] = optarg;
			break;
		case 'r':
			if (cli_parse_int(optarg, 0, 1LL << 62, &a->repeat) < 0)
				return cli_usage(cmd,
				    "bad --repeat '%s' (a count, 0 = until "
				    "interrupted)",
				    optarg);
			break;
		case 'i':
			if (cli_parse_int(optarg, 0, 1 << 30, &a->interval) < 0)
				return cli_usage(cmd,
				    "bad --interval '%s' (milliseconds)",
				    optarg);
			break;
		case 'T':
			if (cli_parse_int(optarg, -1, 1 << 30, &a->timeout) < 0)
				return cli_usage(cmd,
				    "bad --timeout '%s' (milliseconds, -1 = "
				    "forever)",
				    optarg);
			break;
		case 'h':
			cli_help(cmd);
			return -1;
		default:
			return CLI_USAGE;
		}
	}
	if (optind >= argc)
		return cli_usage(cmd, "missing URL");
	a->url = argv[optind++];
	if (optind == argc && a->nfiles == 0 && a->repeat != 1)
		return cli_usage(cmd,
		    "--repeat needs MESSAGE arguments or --file (standard "
		    "input lines are read once)");
	return CLI_OK;
}

static int
send_run(int argc, char **argv)
{
	struct send_args a = {.mode = 'd', .timeout = -1, .repeat = 1};
	int rv = send_parse(argc, argv, &a);
	if (rv != CLI_OK)
		return rv < 0 ? CLI_OK : rv;
	int nargs = argc - optind;
	size_t nm = (size_t)a.nfiles + (size_t)nargs;
	struct send_msg *m = calloc(nm ? nm : 1, sizeof(*m));
	char *files[SEND_MAXFILES] = {NULL};
	FILE *fp[SEND_MAXFILES] = {NULL};
	int status = m ? CLI_OK : cli_fail("send", NULL, -ENOMEM);
	/* Files are opened before the channel (a wrong name fails at once)
	 * and read after it, up to its limit. */
	for (int i = 0; status == CLI_OK && i < a.nfiles; i++) {
		fp[i] =
		    strcmp(a.files[i], "-") ? fopen(a.files[i], "rb") : stdin;
		if (!fp[i]) {
			fprintf(stderr, "ipckit send: %s: %s\n", a.files[i],
			    strerror(errno));
			status = CLI_ERR;
		}
	}
	for (int i = 0; status == CLI_OK && i < nargs; i++) {
		const char *s = argv[optind + i];
		m[a.nfiles + i] = (struct send_msg){s, strlen(s)};
	}

	struct ipk_listener *l = NULL;
	struct ipk_chan *c = NULL;
	if (status == CLI_OK && a.mode == 'l' &&
	    (status = cli_listen("send", a.url, 0, &l)) == CLI_OK)
		cli_signals_install();
	if (status == CLI_OK && a.mode == 'l')
		status = cli_accept("send", l, (int)a.timeout, &c);
	if (status == CLI_OK && a.mode == 'd') {
		status = cli_dial("send", a.url, (int)a.timeout, &c);
		if (status == CLI_OK)
			cli_signals_install();
	}
	for (int i = 0; status == CLI_OK && c && i < a.nfiles; i++) {
		size_t n = 0;
		status = send_slurp(
		    fp[i], a.files[i], ipk_max_msg(c), &files[i], &n);
		m[i] = (struct send_msg){files[i], n};
	}
	if (status == CLI_OK && c)
		status = nm ? send_list(c, &a, m, nm) : send_lines(c, &a);
	if (status == CLI_OK && c && !cli_signalled())
		status = send_drain(c, &a);

	ipk_close(c);
	ipk_listener_close(l);
	for (int i = 0; i < a.nfiles; i++) {
		if (fp[i] && fp[i] != stdin)
			(void)fclose(fp[i]);
		free(files[i]);
	}
	free(m);
	if (cli_signalled())
		return cli_signal_exit();
	return status;
}

const struct cli_cmd cli_cmd_send = {
    .name = "send",
    .run = send_run,
    .summary = "send messages (arguments, files or stdin lines) to a channel",
    .usage = send_usage,
};
