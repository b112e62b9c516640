/* SPDX-License-Identifier: MIT */
/* cmd_send.c - ipckit send: messages from the command line or stdin lines. */
#include "cli.h"

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char send_usage[] =
    "usage: ipckit send [OPTIONS] URL [MESSAGE...]\n"
    "\n"
    "Send each MESSAGE as one message; with no MESSAGE, send each line of\n"
    "standard input (without its newline).\n"
    "\n"
    "  -l, --listen       listen on URL and wait for a peer\n"
    "  -d, --dial         dial URL (the default for send)\n"
    "  -t, --type N       message type (default 0)\n"
    "  -T, --timeout MS   wait at most MS for the peer and each send\n"
    "                     (default -1: forever)\n"
    "  -h, --help         this text\n"
    "\n"
    "Example: ipckit send unix:///tmp/demo.sock hello world\n";

struct send_args {
	int mode;
	long long type;
	long long timeout;
	const char *url;
};

static int
send_run(int argc, char **argv)
{
	static const struct option opts[] = {
	    {"listen", no_argument, NULL, 'l'},
	    {"dial", no_argument, NULL, 'd'},
	    {"type", required_argument, NULL, 't'},
	    {"timeout", required_argument, NULL, 'T'},
	    {"help", no_argument, NULL, 'h'},
	    {NULL, 0, NULL, 0},
	};
	struct send_args a = {.mode = 'd', .type = 0, .timeout = -1};
	int ch;
	optind = 1;
	while ((ch = getopt_long(argc, argv, "+ldt:T:h", opts, NULL)) != -1) {
		switch (ch) {
		case 'l':
		case 'd':
			a.mode = ch;
			break;
		case 't':
			if (cli_parse_int(optarg, 0, 0xffffffffLL, &a.type) < 0)
				return cli_usage(&cli_cmd_send,
				    "bad --type '%s' (0 to 4294967295)",
				    optarg);
			break;
		case 'T':
			if (cli_parse_int(optarg, -1, 1 << 30, &a.timeout) < 0)
				return cli_usage(&cli_cmd_send,
				    "bad --timeout '%s' (milliseconds, -1 = "
				    "forever)",
				    optarg);
			break;
		case 'h':
			cli_help(&cli_cmd_send);
			return CLI_OK;
		default:
			return cli_usage(&cli_cmd_send, "unknown option");
		}
	}
	if (optind >= argc)
		return cli_usage(&cli_cmd_send, "missing URL");
	a.url = argv[optind++];

	struct ipk_listener *l;
	struct ipk_chan *c;
	int rv = cli_open("send", a.url, a.mode, (int)a.timeout, &l, &c);
	if (rv != CLI_OK)
		return rv;
	int status = CLI_OK;
	if (optind < argc) {
		for (; optind < argc; optind++) {
			rv = ipk_send(c, argv[optind], strlen(argv[optind]),
			    (uint32_t)a.type, (int)a.timeout);
			if (rv < 0) {
				status = cli_fail("send", a.url, rv);
				break;
			}
		}
	} else {
		char *line = NULL;
		size_t cap = 0;
		ssize_t n;
		while ((n = getline(&line, &cap, stdin)) >= 0) {
			if (n > 0 && line[n - 1] == '\n')
				line[--n] = '\0';
			rv = ipk_send(c, line, (size_t)n, (uint32_t)a.type,
			    (int)a.timeout);
			if (rv < 0) {
				status = cli_fail("send", a.url, rv);
				break;
			}
		}
		free(line);
	}
	ipk_close(c);
	ipk_listener_close(l);
	return status;
}

const struct cli_cmd cli_cmd_send = {
    .name = "send",
    .run = send_run,
    .summary = "send messages (arguments or stdin lines) to a channel",
    .usage = send_usage,
};
