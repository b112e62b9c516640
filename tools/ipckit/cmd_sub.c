/* SPDX-License-Identifier: MIT */
/*
 * cmd_sub.c - ipckit sub: print what a publisher publishes, filtered by
 * topic prefixes, and say how many messages were lost.
 */
#include "cli.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char sub_usage[] =
    "usage: ipckit sub [OPTIONS] URL\n"
    "\n"
    "Subscribe to the publisher at URL (shm, unix, tcp, nng+tcp, nng+ipc;\n"
    "?pattern=sub is added) and print each message that starts with one\n"
    "of the topics (every message when no --topic is given). Through an\n"
    "MQTT broker (mqtt://host:port/topic, wildcards + and #) --topic adds\n"
    "a topic filter, and \"subscribed\" on standard error says when the\n"
    "broker has the subscription.\n"
    "Options may come anywhere; '--' ends them.\n"
    "\n"
    "  -d, --dial          dial URL (the default)\n"
    "  -l, --listen        bind URL (publishers dial it)\n"
    "  -s, --topic T       take messages starting with T; may be repeated\n"
    "  -n, --count N       stop after N messages\n"
    "  -x, --hex           print lowercase hex instead of the bytes\n"
    "  -r, --raw           print the bytes only, no newline after each\n"
    "  -T, --timeout MS    wait at most MS for a listener and for each\n"
    "                      message (default -1: forever)\n"
    "  -h, --help          this text\n"
    "\n"
    "Messages the publisher dropped because this subscriber was slow are\n"
    "counted (ipckit framing: unix, tcp) and said on standard error at the\n"
    "end: \"ipckit sub: lost N messages\".\n"
    "\n"
    "Exit status: 0 when COUNT arrived or the publisher closed, 1 on an\n"
    "error, a timeout or losses, 2 on a usage error; 128+N after signal N.\n"
    "\n"
    "Examples:\n"
    "  ipckit sub unix:///tmp/sensors --topic temp=\n"
    "  ipckit sub -n 10 nng+tcp://127.0.0.1:5555\n"
    "  ipckit sub 'mqtt://broker:1883/site1/#?qos=1&clean=0&id=me'\n";

static int sub_run(int argc, char **argv);

const struct cli_cmd cli_cmd_sub = {
    .name = "sub",
    .run = sub_run,
    .summary = "print what a publisher publishes",
    .usage = sub_usage,
};

#define SUB_MAXTOPICS 32

static void
sub_print(const unsigned char *p, size_t n, int hex, int raw)
{
	if (hex)
		for (size_t i = 0; i < n; i++)
			printf("%02x", p[i]);
	else
		(void)fwrite(p, 1, n, stdout);
	if (!raw)
		putchar('\n');
	(void)fflush(stdout);
}

static int
sub_run(int argc, char **argv)
{
	static const struct option lo[] = {
	    {"dial", no_argument, NULL, 'd'},
	    {"listen", no_argument, NULL, 'l'},
	    {"topic", required_argument, NULL, 's'},
	    {"count", required_argument, NULL, 'n'},
	    {"hex", no_argument, NULL, 'x'},
	    {"raw", no_argument, NULL, 'r'},
	    {"timeout", required_argument, NULL, 'T'},
	    {"help", no_argument, NULL, 'h'},
	    {0},
	};
	int bind = 0, hex = 0, raw = 0, ch, ntopic = 0;
	long long count = -1, timeout = -1;
	const char *topic[SUB_MAXTOPICS];
	while ((ch = cli_getopt(
		    &cli_cmd_sub, argc, argv, ":dls:n:xrT:h", lo)) != -1) {
		switch (ch) {
		case 'd':
			bind = 0;
			break;
		case 'l':
			bind = 1;
			break;
		case 's':
			if (ntopic == SUB_MAXTOPICS)
				return cli_usage(&cli_cmd_sub,
				    "at most %d topics", SUB_MAXTOPICS);
			topic[ntopic++] = optarg;
			break;
		case 'n':
			if (cli_parse_int(optarg, 1, 1LL << 62, &count) < 0)
				return cli_usage(
				    &cli_cmd_sub, "bad count '%s'", optarg);
			break;
		case 'x':
			hex = 1;
			break;
		case 'r':
			raw = 1;
			break;
		case 'T':
			if (cli_parse_int(optarg, -1, 1 << 30, &timeout) < 0)
				return cli_usage(
				    &cli_cmd_sub, "bad timeout '%s'", optarg);
			break;
		case 'h':
			cli_help(&cli_cmd_sub);
			return CLI_OK;
		default:
			return CLI_USAGE;
		}
	}
	if (optind >= argc)
		return cli_usage(&cli_cmd_sub, "missing URL");
	if (optind + 1 < argc)
		return cli_usage(
		    &cli_cmd_sub, "unexpected '%s'", argv[optind + 1]);
	const char *url = argv[optind];
	struct ipk_chan *c;
	int rv = cli_pattern_open("sub", url, bind, (int)timeout, &c);
	if (rv != CLI_OK || !c)
		return rv;
	url = ipk_url(c);
	for (int k = 0; k < ntopic; k++)
		if ((rv = ipk_subscribe(c, topic[k], strlen(topic[k]))) < 0) {
			ipk_close(c);
			return cli_fail("sub", url, rv);
		}
	/* Through a broker nothing tells a publisher that this subscriber
	 * is there: say when the broker has taken the subscription. */
	if (ipk_caps(c) & IPK_CAP_BROKER)
		fprintf(stderr, "ipckit sub: %s: subscribed\n", url);
	size_t cap = 65536;
	unsigned char *buf = malloc(cap);
	rv = buf ? CLI_OK : cli_fail("sub", url, -ENOMEM);
	int64_t deadline = cli_deadline(timeout);
	for (long long got = 0; rv == CLI_OK && (count < 0 || got < count);) {
		if (cli_signalled())
			break;
		size_t len;
		int r = ipk_recv(c, buf, cap, &len, NULL,
		    cli_left_ms(deadline, CLI_SLICE_MS));
		if (r == 0) {
			sub_print(buf, len, hex, raw);
			got++;
			deadline = cli_deadline(timeout);
		} else if (r == -EMSGSIZE && len > cap) {
			unsigned char *b = realloc(buf, len);
			if (!b) {
				rv = cli_fail("sub", url, -ENOMEM);
				break;
			}
			buf = b;
			cap = len;
		} else if (r == IPK_ECLOSED && !bind) {
			break; /* the publisher closed */
		} else if (r == -ETIMEDOUT || r == -EAGAIN) {
			if (cli_left_ms(deadline, 1) == 0) {
				fprintf(stderr,
				    "ipckit sub: %s: no message within %lld "
				    "ms\n",
				    url, timeout);
				rv = CLI_ERR;
			}
		} else {
			rv = cli_fail("sub", url, r);
		}
	}
	free(buf);
	struct ipk_stats st;
	if (ipk_stats(c, &st) == 0 && st.gaps) {
		fprintf(stderr, "ipckit sub: %s: lost %llu messages\n", url,
		    (unsigned long long)st.gaps);
		if (rv == CLI_OK)
			rv = CLI_ERR;
	}
	ipk_close(c);
	if (cli_signalled())
		return cli_signal_exit();
	return rv;
}
