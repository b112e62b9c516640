/* SPDX-License-Identifier: MIT */
/*
 * cmd_bridge.c - ipckit bridge: forward messages both ways between two
 * channels of any transports, reconnecting either side when its peer
 * leaves, until SIGINT/SIGTERM; then report the counts.
 */
#include "cli.h"

#include <errno.h>
#include <getopt.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char bridge_usage[] =
    "usage: ipckit bridge [OPTIONS] SIDE_A SIDE_B\n"
    "\n"
    "Forward every message received on one side to the other, both ways,\n"
    "with its type (transports without types, nng+*, deliver type 0).\n"
    "A SIDE is an address with a prefix that says who connects:\n"
    "  listen:URL   the bridge listens on URL and accepts a peer; when the\n"
    "               peer leaves, it accepts the next one (on single-channel\n"
    "               transports such as fifo or shm, the next peer\n"
    "               reattaches to the same channel)\n"
    "  dial:URL     the bridge dials URL (retrying until a listener is\n"
    "               there), and dials again when the peer leaves\n"
    "  URL          the same as dial:URL\n"
    "Messages wait in the mechanism while either side has no peer. The\n"
    "bridge forwards each message once: one written to a peer at the\n"
    "moment it leaves is lost with it (as with any unacknowledged\n"
    "delivery). A message the other side cannot carry (over its size\n"
    "limit) is dropped and counted. SIGINT or SIGTERM ends the bridge\n"
    "cleanly; the counts are printed on standard error.\n"
    "\n"
    "  -1, --once     exit when either peer leaves instead of reconnecting\n"
    "  -q, --quiet    do not report connections and disconnections\n"
    "  -h, --help     this text\n"
    "\n"
    "Exit status: 0 when ended by a signal (or --once), 1 on an error, 2 on\n"
    "a usage error.\n"
    "\n"
    "Example, a local shared-memory channel exported over TCP:\n"
    "  ipckit bridge listen:shm:///sensors listen:tcp://0.0.0.0:7000\n";

#define BRIDGE_BATCH 4096
#define BRIDGE_IDLE_MS 200
#define BRIDGE_RETRY_MS 100

static volatile sig_atomic_t bridge_stop;

struct bridge_side {
	const char *name; /* "A" or "B" */
	const char *url;
	int listen;
	struct ipk_listener *l;
	struct ipk_chan *c;
	int down; /* c waits for its peer to reattach */
	int last_err; /* last connect error reported, to say it once */
	unsigned long long conns;
};

struct bridge_dir {
	struct bridge_side *src, *dst;
	unsigned char *buf;
	size_t cap, len;
	uint32_t type;
	int pending; /* buf holds a message dst did not take yet */
	unsigned long long msgs, bytes, dropped;
};

struct bridge_args {
	int once, quiet;
};

static void
bridge_on_signal(int sig)
{
	(void)sig;
	bridge_stop = 1;
}

static int
bridge_side_parse(struct bridge_side *s, const char *name, const char *arg)
{
	s->name = name;
	if (!strncmp(arg, "listen:", 7)) {
		s->listen = 1;
		s->url = arg + 7;
	} else if (!strncmp(arg, "dial:", 5)) {
		s->url = arg + 5;
	} else {
		s->url = arg;
	}
	return *s->url ? 0 : -1;
}

/* Try to give side `s` a channel. 1 connected, 0 not yet, < 0 fatal. */
static int
bridge_connect(struct bridge_side *s, const struct bridge_args *a)
{
	int rv;
	if (s->c && s->down) {
		/* A single-channel listener (fifo, shm, ...): the next peer
		 * reattaches to the same channel; ECLOSED until it does. */
		const void *p;
		size_t len;
		uint32_t type;
		rv = ipk_peek(s->c, &p, &len, &type, BRIDGE_RETRY_MS);
		if (rv == 0)
			ipk_release(s->c);
		if (rv == IPK_ECLOSED) {
			(void)poll(NULL, 0, BRIDGE_RETRY_MS);
			return 0;
		}
		if (rv < 0 && rv != -ETIMEDOUT && rv != -EAGAIN) {
			ipk_close(s->c);
			s->c = NULL;
			s->down = 0;
			return 0;
		}
		s->down = 0;
		s->conns++;
		if (!a->quiet)
			fprintf(stderr,
			    "ipckit bridge: %s: peer reattached "
			    "(%s)\n",
			    s->name, s->url);
		return 1;
	}
	if (s->c)
		return 1;
	if (s->listen) {
		if (!s->l && (rv = ipk_listen(s->url, NULL, &s->l)) < 0)
			return cli_fail("bridge", s->url, rv), rv;
		rv = ipk_accept(s->l, BRIDGE_RETRY_MS, &s->c);
	} else {
		struct ipk_opts o = {.timeout_ms = BRIDGE_RETRY_MS};
		rv = ipk_dial(s->url, &o, &s->c);
	}
	if (rv == 0) {
		s->conns++;
		s->last_err = 0;
		if (!a->quiet)
			fprintf(stderr, "ipckit bridge: %s: connected (%s)\n",
			    s->name, s->url);
		return 1;
	}
	if (rv == -EINVAL || rv == -ENOMEM)
		return cli_fail("bridge", s->url, rv), rv;
	/* Nobody there yet is the normal case; other causes are said once. */
	if (rv != -ETIMEDOUT && rv != -EAGAIN && rv != -ECONNREFUSED &&
	    rv != -ENOENT && rv != s->last_err && !a->quiet)
		cli_fail("bridge", s->url, rv);
	s->last_err = rv;
	return 0;
}

static void
bridge_drop(struct bridge_side *s, int err, const struct bridge_args *a)
{
	if (!a->quiet) {
		if (err == IPK_ECLOSED)
			fprintf(stderr, "ipckit bridge: %s: peer left (%s)\n",
			    s->name, s->url);
		else
			cli_fail("bridge", s->url, err);
	}
	if (err == IPK_ECLOSED && s->listen &&
	    (ipk_caps(s->c) & IPK_CAP_REATTACH)) {
		s->down = 1;
		return;
	}
	ipk_close(s->c);
	s->c = NULL;
}

static int
bridge_grow(struct bridge_dir *d, size_t need)
{
	unsigned char *p = realloc(d->buf, need ? need : 1);
	if (!p)
		return -ENOMEM;
	d->buf = p;
	d->cap = need;
	return 0;
}

/* Move what is ready from src to dst without waiting. Returns the number
 * of messages moved, or -1 when a side was dropped. */
static int
bridge_pump(struct bridge_dir *d, const struct bridge_args *a)
{
	int n = 0, rv;
	for (;;) {
		if (d->pending) {
			rv = ipk_send(d->dst->c, d->buf, d->len, d->type, 0);
			if (rv == -EAGAIN)
				return n;
			if (rv == -EMSGSIZE) {
				d->dropped++;
				if (!a->quiet)
					cli_fail("bridge", d->dst->url, rv);
			} else if (rv < 0) {
				bridge_drop(d->dst, rv, a);
				return -1;
			} else {
				d->msgs++;
				d->bytes += d->len;
			}
			d->pending = 0;
			n++;
		}
		if (n >= BRIDGE_BATCH)
			return n;
		rv = ipk_recv(d->src->c, d->buf, d->cap, &d->len, &d->type, 0);
		if (rv == -EAGAIN)
			return n;
		if (rv == -EMSGSIZE && d->len > d->cap &&
		    d->len <= ipk_max_msg(d->src->c)) {
			if (bridge_grow(d, d->len) < 0)
				return -1;
			continue;
		}
		if (rv == -EMSGSIZE ||
		    (rv == -EBADMSG &&
			(ipk_caps(d->src->c) & IPK_CAP_BOUNDARIES))) {
			/* Dropped by the library, the channel goes on. */
			d->dropped++;
			if (!a->quiet)
				cli_fail("bridge", d->src->url, rv);
			continue;
		}
		if (rv < 0) {
			bridge_drop(d->src, rv, a);
			return -1;
		}
		d->pending = 1;
	}
}

static void
bridge_wait(struct bridge_dir *d)
{
	struct pollfd p[2];
	int n = 0, busy = 0;
	for (int i = 0; i < 2; i++) {
		if (d[i].pending) {
			busy = 1;
			continue;
		}
		int fd = ipk_fd(d[i].src->c);
		if (fd >= 0)
			p[n++] = (struct pollfd){.fd = fd, .events = POLLIN};
	}
	/* A message the other side would not take is retried soon: the
	 * API has no "writable" descriptor. */
	(void)poll(p, (nfds_t)n, busy ? 1 : BRIDGE_IDLE_MS);
}

static int
bridge_loop(
    struct bridge_side *s, struct bridge_dir *d, const struct bridge_args *a)
{
	int was_up = 0;
	while (!bridge_stop) {
		if (!s[0].c || !s[1].c || s[0].down || s[1].down) {
			if (was_up && a->once)
				return CLI_OK;
			for (int i = 0; i < 2; i++) {
				int rv = bridge_connect(&s[i], a);
				if (rv < 0)
					return rv == -EINVAL ? CLI_USAGE
							     : CLI_ERR;
			}
			if (s[0].c && s[1].c && !s[0].down && !s[1].down)
				was_up = 1;
			continue;
		}
		int moved = 0;
		for (int i = 0; i < 2; i++) {
			if (!s[0].c || !s[1].c || s[0].down || s[1].down)
				break;
			int n = bridge_pump(&d[i], a);
			if (n < 0) {
				moved = -1;
				break;
			}
			moved += n;
		}
		/* A message held for a side that left is lost with it. */
		for (int i = 0; i < 2; i++)
			if (d[i].pending && !d[i].dst->c) {
				d[i].pending = 0;
				d[i].dropped++;
			}
		if (moved == 0)
			bridge_wait(d);
	}
	return CLI_OK;
}

static int
bridge_run(int argc, char **argv)
{
	static const struct option opts[] = {
	    {"once", no_argument, NULL, '1'},
	    {"quiet", no_argument, NULL, 'q'},
	    {"help", no_argument, NULL, 'h'},
	    {NULL, 0, NULL, 0},
	};
	struct bridge_args a = {0};
	int ch;
	optind = 1;
	while ((ch = cli_getopt(&cli_cmd_bridge, argc, argv, ":1qh", opts)) !=
	    -1) {
		switch (ch) {
		case '1':
			a.once = 1;
			break;
		case 'q':
			a.quiet = 1;
			break;
		case 'h':
			cli_help(&cli_cmd_bridge);
			return CLI_OK;
		default:
			return CLI_USAGE;
		}
	}
	if (argc - optind != 2)
		return cli_usage(&cli_cmd_bridge, "expected two sides");
	struct bridge_side s[2] = {{0}, {0}};
	if (bridge_side_parse(&s[0], "A", argv[optind]) < 0 ||
	    bridge_side_parse(&s[1], "B", argv[optind + 1]) < 0)
		return cli_usage(&cli_cmd_bridge, "empty address");
	struct bridge_dir d[2] = {
	    {.src = &s[0], .dst = &s[1]},
	    {.src = &s[1], .dst = &s[0]},
	};
	if (bridge_grow(&d[0], 65536) < 0 || bridge_grow(&d[1], 65536) < 0) {
		free(d[0].buf);
		return cli_fail("bridge", NULL, -ENOMEM);
	}
	struct sigaction sa = {.sa_handler = bridge_on_signal};
	sigemptyset(&sa.sa_mask);
	(void)sigaction(SIGINT, &sa, NULL);
	(void)sigaction(SIGTERM, &sa, NULL);

	int rv = bridge_loop(s, d, &a);

	for (int i = 0; i < 2; i++) {
		ipk_close(s[i].c);
		ipk_listener_close(s[i].l);
		free(d[i].buf);
	}
	fprintf(stderr,
	    "ipckit bridge: A->B %llu messages %llu bytes, "
	    "B->A %llu messages %llu bytes, dropped %llu, connections "
	    "A %llu B %llu\n",
	    d[0].msgs, d[0].bytes, d[1].msgs, d[1].bytes,
	    d[0].dropped + d[1].dropped, s[0].conns, s[1].conns);
	return rv;
}

const struct cli_cmd cli_cmd_bridge = {
    .name = "bridge",
    .run = bridge_run,
    .summary = "forward messages both ways between two channels",
    .usage = bridge_usage,
};
