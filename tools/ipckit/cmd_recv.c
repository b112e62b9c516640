/* SPDX-License-Identifier: MIT */
/* cmd_recv.c - ipckit recv: print messages, one per line. */
#include "cli.h"

#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char recv_usage[] =
    "usage: ipckit recv [OPTIONS] URL\n"
    "\n"
    "Print each message received on URL, one per line, until the peer\n"
    "closes, COUNT messages arrived, or the timeout expires.\n"
    "\n"
    "  -l, --listen       listen on URL and wait for a peer (the default)\n"
    "  -d, --dial         dial URL\n"
    "  -n, --count N      stop after N messages\n"
    "  -t, --type N       receive only messages of type N (selective\n"
    "                     receive; System V queues)\n"
    "  -x, --hex          print messages as hex\n"
    "  -v, --verbose      prefix each message with its type and length\n"
    "  -T, --timeout MS   wait at most MS for the peer and each message\n"
    "                     (default -1: forever)\n"
    "  -h, --help         this text\n"
    "\n"
    "Exit status: 0 when the peer closed or COUNT arrived, 1 on error or\n"
    "timeout, 2 on a usage error.\n"
    "\n"
    "Example: ipckit recv -n 1 unix:///tmp/demo.sock\n";

struct recv_args {
	int mode, hex, verbose;
	long long count, type, timeout;
	const char *url;
};

/* 0, or -errno when stdout cannot take the message (a full disk, a closed
 * pipe): a message received but not written must not pass unnoticed. */
static int
recv_print(
    const struct recv_args *a, const unsigned char *p, size_t n, uint32_t type)
{
	if (a->verbose)
		printf("[type %u, %zu bytes] ", type, n);
	if (a->hex) {
		for (size_t i = 0; i < n; i++)
			printf("%02x", p[i]);
	} else if (fwrite(p, 1, n, stdout) != n) {
		return errno ? -errno : -EIO;
	}
	putchar('\n');
	if (fflush(stdout) != 0 || ferror(stdout))
		return errno ? -errno : -EIO;
	return 0;
}

static int
recv_run(int argc, char **argv)
{
	static const struct option opts[] = {
	    {"listen", no_argument, NULL, 'l'},
	    {"dial", no_argument, NULL, 'd'},
	    {"count", required_argument, NULL, 'n'},
	    {"type", required_argument, NULL, 't'},
	    {"hex", no_argument, NULL, 'x'},
	    {"verbose", no_argument, NULL, 'v'},
	    {"timeout", required_argument, NULL, 'T'},
	    {"help", no_argument, NULL, 'h'},
	    {NULL, 0, NULL, 0},
	};
	struct recv_args a = {
	    .mode = 'l', .count = -1, .type = -1, .timeout = -1};
	int ch;
	optind = 1;
	while (
	    (ch = getopt_long(argc, argv, "+ldn:t:xvT:h", opts, NULL)) != -1) {
		switch (ch) {
		case 'l':
		case 'd':
			a.mode = ch;
			break;
		case 'n':
			if (cli_parse_int(optarg, 1, 1LL << 62, &a.count) < 0)
				return cli_usage(
				    &cli_cmd_recv, "bad --count '%s'", optarg);
			break;
		case 't':
			if (cli_parse_int(optarg, 0, 0xffffffffLL, &a.type) < 0)
				return cli_usage(&cli_cmd_recv,
				    "bad --type '%s' (0 to 4294967295)",
				    optarg);
			break;
		case 'x':
			a.hex = 1;
			break;
		case 'v':
			a.verbose = 1;
			break;
		case 'T':
			if (cli_parse_int(optarg, -1, 1 << 30, &a.timeout) < 0)
				return cli_usage(&cli_cmd_recv,
				    "bad --timeout '%s' (milliseconds, -1 = "
				    "forever)",
				    optarg);
			break;
		case 'h':
			cli_help(&cli_cmd_recv);
			return CLI_OK;
		default:
			return cli_usage(&cli_cmd_recv, "unknown option");
		}
	}
	if (optind >= argc)
		return cli_usage(&cli_cmd_recv, "missing URL");
	a.url = argv[optind++];
	if (optind < argc)
		return cli_usage(
		    &cli_cmd_recv, "unexpected argument '%s'", argv[optind]);

	struct ipk_listener *l;
	struct ipk_chan *c;
	int rv = cli_open("recv", a.url, a.mode, (int)a.timeout, &l, &c);
	if (rv != CLI_OK)
		return rv;
	size_t cap = (size_t)64 * 1024;
	unsigned char *buf = malloc(cap);
	int status = CLI_OK;
	for (long long got = 0; buf && (a.count < 0 || got < a.count);) {
		size_t len = 0;
		uint32_t type = 0;
		if (a.type >= 0) {
			type = (uint32_t)a.type;
			rv = ipk_recv_type(
			    c, type, buf, cap, &len, (int)a.timeout);
		} else {
			rv = ipk_recv(c, buf, cap, &len, &type, (int)a.timeout);
		}
		if (rv == -EMSGSIZE && len > cap) {
			unsigned char *nb = realloc(buf, len);
			if (!nb) {
				status = cli_fail("recv", a.url, -ENOMEM);
				break;
			}
			buf = nb;
			cap = len;
			continue;
		}
		if (rv == IPK_ECLOSED)
			break; /* the peer is done: a normal end */
		if (rv < 0) {
			status = cli_fail("recv", a.url, rv);
			break;
		}
		if ((rv = recv_print(&a, buf, len, type)) < 0) {
			fprintf(stderr,
			    "ipckit recv: cannot write a received "
			    "message to standard output: %s\n",
			    strerror(-rv));
			status = 1;
			break;
		}
		got++;
	}
	free(buf);
	ipk_close(c);
	ipk_listener_close(l);
	return status;
}

const struct cli_cmd cli_cmd_recv = {
    .name = "recv",
    .run = recv_run,
    .summary = "print messages received on a channel",
    .usage = recv_usage,
};
