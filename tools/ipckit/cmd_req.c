/* SPDX-License-Identifier: MIT */
/* cmd_req.c - ipckit req: send one request and print its reply. */
#include "cli.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char req_usage[] =
    "usage: ipckit req [OPTIONS] URL MESSAGE\n"
    "\n"
    "Send MESSAGE as a request to the server at URL (unix, tcp, nng+tcp,\n"
    "nng+ipc; ?pattern=req is added) and print its reply and a newline.\n"
    "Options may come anywhere; '--' ends them.\n"
    "\n"
    "  -d, --dial          dial URL (the default)\n"
    "  -l, --listen        bind URL (servers dial it)\n"
    "  -t, --type N        message type (default 0)\n"
    "  -r, --raw           print the reply without the newline\n"
    "  -T, --timeout MS    wait at most MS for the server and for the\n"
    "                      reply (default 10000; -1: forever)\n"
    "  -h, --help          this text\n"
    "\n"
    "Exit status: 0 with the reply printed, 1 on an error or a timeout\n"
    "(no reply is printed then, nor any later one), 2 on a usage error;\n"
    "128+N after signal N.\n"
    "\n"
    "Example:\n"
    "  ipckit req tcp://127.0.0.1:7000 'what time is it'\n";

static int req_run(int argc, char **argv);

const struct cli_cmd cli_cmd_req = {
    .name = "req",
    .run = req_run,
    .summary = "send a request and print the reply",
    .usage = req_usage,
};

static int
req_run(int argc, char **argv)
{
	static const struct option lo[] = {
	    {"dial", no_argument, NULL, 'd'},
	    {"listen", no_argument, NULL, 'l'},
	    {"type", required_argument, NULL, 't'},
	    {"raw", no_argument, NULL, 'r'},
	    {"timeout", required_argument, NULL, 'T'},
	    {"help", no_argument, NULL, 'h'},
	    {0},
	};
	int bind = 0, raw = 0, ch;
	long long type = 0, timeout = 10000;
	while ((ch = cli_getopt(&cli_cmd_req, argc, argv, ":dlt:rT:h", lo)) !=
	    -1) {
		switch (ch) {
		case 'd':
			bind = 0;
			break;
		case 'l':
			bind = 1;
			break;
		case 't':
			if (cli_parse_int(optarg, 0, 0xffffffffLL, &type) < 0)
				return cli_usage(
				    &cli_cmd_req, "bad type '%s'", optarg);
			break;
		case 'r':
			raw = 1;
			break;
		case 'T':
			if (cli_parse_int(optarg, -1, 1 << 30, &timeout) < 0)
				return cli_usage(
				    &cli_cmd_req, "bad timeout '%s'", optarg);
			break;
		case 'h':
			cli_help(&cli_cmd_req);
			return CLI_OK;
		default:
			return CLI_USAGE;
		}
	}
	if (argc - optind != 2)
		return cli_usage(&cli_cmd_req,
		    argc - optind < 2 ? "needs URL and MESSAGE"
				      : "one MESSAGE only (quote it)");
	const char *url = argv[optind], *msg = argv[optind + 1];
	struct ipk_chan *c;
	int rv = cli_pattern_open("req", url, bind, (int)timeout, &c);
	if (rv != CLI_OK || !c)
		return rv;
	url = ipk_url(c);
	int64_t deadline = cli_deadline(timeout);
	int r;
	do
		r = ipk_send(c, msg, strlen(msg), (uint32_t)type,
		    cli_left_ms(deadline, CLI_SLICE_MS));
	while ((r == -ETIMEDOUT || r == -EAGAIN) && !cli_signalled() &&
	    cli_left_ms(deadline, 1) > 0);
	size_t cap = 65536, len = 0;
	unsigned char *buf = malloc(cap);
	if (r == 0 && !buf)
		r = -ENOMEM;
	int have = 0;
	while (r == 0 && !have && !cli_signalled()) {
		r = ipk_recv(c, buf, cap, &len, NULL,
		    cli_left_ms(deadline, CLI_SLICE_MS));
		if (r == 0) {
			have = 1;
		} else if (r == -EMSGSIZE && len > cap) {
			unsigned char *b = realloc(buf, len);
			r = b ? 0 : -ENOMEM;
			if (b) {
				buf = b;
				cap = len;
			}
		} else if (r == -ETIMEDOUT || r == -EAGAIN) {
			r = cli_left_ms(deadline, 1) == 0 ? -ETIMEDOUT : 0;
		}
	}
	if (cli_signalled()) {
		rv = CLI_OK;
	} else if (r == 0) {
		(void)fwrite(buf, 1, len, stdout);
		if (!raw)
			putchar('\n');
		rv = CLI_OK;
	} else if (r == -ETIMEDOUT) {
		fprintf(stderr, "ipckit req: %s: no reply within %lld ms\n",
		    url, timeout);
		rv = CLI_ERR;
	} else {
		rv = cli_fail("req", url, r);
	}
	free(buf);
	ipk_close(c);
	if (cli_signalled())
		return cli_signal_exit();
	return rv;
}
