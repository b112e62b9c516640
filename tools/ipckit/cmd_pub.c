/* SPDX-License-Identifier: MIT */
/*
 * cmd_pub.c - ipckit pub: publish messages from the command line or the
 * lines of standard input to every subscriber of an address.
 */
#include "cli.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char pub_usage[] =
    "usage: ipckit pub [OPTIONS] URL [MESSAGE...]\n"
    "\n"
    "Publish each MESSAGE (or each line of standard input, without its\n"
    "newline) to every subscriber of URL (shm, unix, tcp, nng+tcp,\n"
    "nng+ipc, or an MQTT broker: mqtt://host:port/topic; ?pattern=pub is\n"
    "added). Subscribers that are not connected when a message goes out\n"
    "do not get it, unless URL asks for ?history=K (MQTT: ?retain=1, or a\n"
    "subscriber's session kept with ?clean=0&id=NAME and ?qos=1).\n"
    "Options may come anywhere; '--' ends them.\n"
    "\n"
    "  -l, --listen        bind URL (the default)\n"
    "  -d, --dial          dial URL (a subscriber that binds)\n"
    "  -w, --wait N        first wait until N subscribers are connected\n"
    "  -t, --type N        message type (default 0)\n"
    "  -r, --repeat N      publish the messages N times over (default 1;\n"
    "                      0: until interrupted)\n"
    "  -i, --interval MS   wait MS milliseconds between two messages\n"
    "  -T, --timeout MS    wait at most MS for subscribers (--wait), for a\n"
    "                      listener (--dial), for room (?slow=block) and\n"
    "                      for the last messages to go out (default -1)\n"
    "  -h, --help          this text\n"
    "\n"
    "Options in URL: ?slow=drop|block, ?queue=N, ?history=K; on shm also\n"
    "?maxmsg=, ?subs=N, ?linger=MS (see ipk_bind(3)). Before it ends, pub\n"
    "waits until what it queued for slow subscribers has gone out (up to\n"
    "--timeout).\n"
    "\n"
    "Exit status: 0 when every message was published, 1 on an error or a\n"
    "timeout, 2 on a usage error; 128+N after signal N.\n"
    "\n"
    "Examples:\n"
    "  ipckit pub -w 1 unix:///tmp/sensors temp=21\n"
    "  tail -f log | ipckit pub 'tcp://0.0.0.0:7000?history=100'\n"
    "  ipckit pub -r 0 -i 1000 nng+tcp://127.0.0.1:5555 tick\n"
    "  ipckit pub 'mqtt://broker:1883/site1/temp?qos=1' 21.5\n";

static int pub_run(int argc, char **argv);

const struct cli_cmd cli_cmd_pub = {
    .name = "pub",
    .run = pub_run,
    .summary = "publish messages to every subscriber",
    .usage = pub_usage,
};

/* Wait until `want` subscribers are there (or the deadline, a signal). */
static int
pub_wait(struct ipk_chan *c, const char *url, long long want, int64_t deadline)
{
	while (ipk_npeers(c) < want) {
		if (cli_signalled())
			return CLI_OK;
		int left = cli_left_ms(deadline, CLI_SLICE_MS);
		if (left == 0) {
			fprintf(stderr,
			    "ipckit pub: %s: %d of %lld subscribers came\n",
			    url, ipk_npeers(c), want);
			return CLI_ERR;
		}
		struct ipk_pollitem it = {c, IPK_POLLIN, 0};
		(void)ipk_poll(&it, 1, left);
	}
	return CLI_OK;
}

static int
pub_one(struct ipk_chan *c, const char *url, const void *p, size_t n,
    uint32_t type, long long timeout)
{
	int rv = ipk_send(c, p, n, type, (int)timeout);
	return rv < 0 ? cli_fail("pub", url, rv) : CLI_OK;
}

static int
pub_run(int argc, char **argv)
{
	static const struct option lo[] = {
	    {"listen", no_argument, NULL, 'l'},
	    {"dial", no_argument, NULL, 'd'},
	    {"wait", required_argument, NULL, 'w'},
	    {"type", required_argument, NULL, 't'},
	    {"repeat", required_argument, NULL, 'r'},
	    {"interval", required_argument, NULL, 'i'},
	    {"timeout", required_argument, NULL, 'T'},
	    {"help", no_argument, NULL, 'h'},
	    {0},
	};
	int bind = 1, ch;
	long long wait = 0, type = 0, repeat = 1, interval = 0, timeout = -1;
	while ((ch = cli_getopt(
		    &cli_cmd_pub, argc, argv, ":ldw:t:r:i:T:h", lo)) != -1) {
		long long *dst = NULL, min = 0, max = 1 << 30;
		switch (ch) {
		case 'l':
			bind = 1;
			break;
		case 'd':
			bind = 0;
			break;
		case 'w':
			dst = &wait;
			break;
		case 't':
			dst = &type, max = 0xffffffffLL;
			break;
		case 'r':
			dst = &repeat;
			break;
		case 'i':
			dst = &interval;
			break;
		case 'T':
			dst = &timeout, min = -1;
			break;
		case 'h':
			cli_help(&cli_cmd_pub);
			return CLI_OK;
		default:
			return CLI_USAGE;
		}
		if (dst && cli_parse_int(optarg, min, max, dst) < 0)
			return cli_usage(
			    &cli_cmd_pub, "bad value '%s' for -%c", optarg, ch);
	}
	if (optind >= argc)
		return cli_usage(&cli_cmd_pub, "missing URL");
	const char *url = argv[optind++];
	struct ipk_chan *c;
	int rv = cli_pattern_open("pub", url, bind, (int)timeout, &c);
	if (rv != CLI_OK || !c)
		return rv;
	url = ipk_url(c);
	int64_t deadline = cli_deadline(timeout);
	rv = pub_wait(c, url, wait, deadline);
	char *line = NULL;
	size_t cap = 0;
	for (long long r = 0; rv == CLI_OK && (repeat == 0 || r < repeat);
	     r++) {
		if (optind < argc) {
			for (int k = optind; k < argc && rv == CLI_OK; k++) {
				if (cli_signalled())
					break;
				if ((r || k > optind) && interval)
					cli_nap((int)interval);
				rv = pub_one(c, url, argv[k], strlen(argv[k]),
				    (uint32_t)type, timeout);
			}
		} else {
			ssize_t n;
			while (rv == CLI_OK && !cli_signalled() &&
			    (n = getline(&line, &cap, stdin)) >= 0) {
				if (n && line[n - 1] == '\n')
					n--;
				rv = pub_one(c, url, line, (size_t)n,
				    (uint32_t)type, timeout);
				if (interval)
					cli_nap((int)interval);
			}
			break; /* standard input is read once */
		}
		if (cli_signalled())
			break;
	}
	free(line);
	if (rv == CLI_OK && !cli_signalled()) {
		int f = ipk_flush(c, (int)timeout);
		if (f < 0)
			rv = cli_fail("pub", url, f);
	}
	ipk_close(c);
	if (cli_signalled())
		return cli_signal_exit();
	return rv;
}
