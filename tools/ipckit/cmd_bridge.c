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
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

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
    "A side may also be a publish/subscribe address: URL?pattern=sub (the\n"
    "bridge subscribes and forwards what is published there) or\n"
    "URL?pattern=pub (the bridge publishes there what the other side\n"
    "sends), dialed, or bound with listen:. An MQTT address without\n"
    "?pattern= is both: the bridge subscribes to its topic and publishes\n"
    "to it, marking what it publishes with an id of its own (the MQTT\n"
    "user property ipk-bridge) and never taking such a message back, so\n"
    "two bridges on one topic do not loop.\n"
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
    "Examples: a local shared-memory channel exported over TCP; a local\n"
    "publisher carried to an MQTT broker and back:\n"
    "  ipckit bridge listen:shm:///sensors listen:tcp://0.0.0.0:7000\n"
    "  ipckit bridge 'unix:///tmp/sensors?pattern=sub' \\\n"
    "      'mqtt://broker:1883/site1/sensors?qos=1'\n";

#define BRIDGE_BATCH 4096
#define BRIDGE_IDLE_MS 200
#define BRIDGE_RETRY_MS 100

static volatile sig_atomic_t bridge_stop;

struct bridge_side {
	const char *name; /* "A" or "B" */
	const char *url;
	int listen;
	/* A publish/subscribe side: the URLs of its sub and pub channels
	 * (NULL where the side has none); plain sides have neither. */
	char *sub_url, *pub_url;
	struct ipk_listener *l;
	struct ipk_chan *c;
	/* What the bridge receives from and sends to: c for a plain side,
	 * the sub and pub channels of a pattern side. */
	struct ipk_chan *rx, *tx;
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

static unsigned long
bridge_random(void)
{
	unsigned long v = 0;
	if (getrandom(&v, sizeof(v), 0) != (ssize_t)sizeof(v))
		v = (unsigned long)time(NULL);
	return v;
}

static void
bridge_on_signal(int sig)
{
	(void)sig;
	bridge_stop = 1;
}

/* url with "&extra" or "?extra" added; NULL when out of memory. */
static char *
bridge_url_with(const char *url, const char *extra)
{
	size_t n = strlen(url) + strlen(extra) + 2;
	char *u = malloc(n);
	if (u)
		snprintf(
		    u, n, "%s%s%s", url, strchr(url, '?') ? "&" : "?", extra);
	return u;
}

/* The value of ?pattern= in url ("sub", ...), into buf; 0 when absent. */
static int
bridge_url_pattern(const char *url, char *buf, size_t cap)
{
	const char *q = strchr(url, '?');
	for (const char *p = q; p && *p; p = strchr(p + 1, '&')) {
		if (strncmp(p + 1, "pattern=", 8) != 0)
			continue;
		size_t n = strcspn(p + 9, "&");
		snprintf(buf, cap, "%.*s", (int)n, p + 9);
		return 1;
	}
	return 0;
}

/* The URL's scheme has a broker (mqtt): see ipk_scheme_caps. */
static int
bridge_url_broker(const char *url)
{
	char scheme[32];
	size_t n = strcspn(url, ":");
	if (n == 0 || n >= sizeof(scheme) || !url[n])
		return 0;
	snprintf(scheme, sizeof(scheme), "%.*s", (int)n, url);
	return (ipk_scheme_caps(scheme) & IPK_CAP_BROKER) != 0;
}

static int
bridge_side_parse(
    struct bridge_side *s, const char *name, const char *arg, const char *id)
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
	if (!*s->url)
		return -1;
	char role[16], tag[64];
	int broker = bridge_url_broker(s->url);
	snprintf(tag, sizeof(tag), "bridge=%s", id);
	char *base = broker ? bridge_url_with(s->url, tag) : strdup(s->url);
	if (!base)
		return -ENOMEM;
	int rv = 0;
	if (bridge_url_pattern(s->url, role, sizeof(role))) {
		if (!strcmp(role, "sub"))
			s->sub_url = base;
		else if (!strcmp(role, "pub"))
			s->pub_url = base;
		else
			rv = -EINVAL;
		if (rv < 0)
			free(base);
	} else if (broker) {
		s->sub_url = bridge_url_with(base, "pattern=sub");
		s->pub_url = bridge_url_with(base, "pattern=pub");
		free(base);
		if (!s->sub_url || !s->pub_url)
			rv = -ENOMEM;
	} else {
		free(base);
	}
	return rv;
}

static int
bridge_pattern_side(const struct bridge_side *s)
{
	return s->sub_url || s->pub_url;
}

/* Open the channels of a pattern side. 1 up, 0 not yet, < 0 fatal. */
static int
bridge_pattern_connect(struct bridge_side *s, const struct bridge_args *a)
{
	const char *urls[2] = {s->sub_url, s->pub_url};
	struct ipk_chan **chans[2] = {&s->rx, &s->tx};
	int rv = 0;
	for (int i = 0; i < 2 && rv == 0; i++) {
		if (!urls[i] || *chans[i])
			continue;
		if (s->listen) {
			rv = ipk_bind(urls[i], NULL, chans[i]);
		} else {
			struct ipk_opts o = {.timeout_ms = BRIDGE_RETRY_MS};
			rv = ipk_dial(urls[i], &o, chans[i]);
		}
	}
	if (rv == 0) {
		s->c = s->rx ? s->rx : s->tx;
		s->conns++;
		s->last_err = 0;
		if (!a->quiet)
			fprintf(stderr, "ipckit bridge: %s: connected (%s)\n",
			    s->name, s->url);
		return 1;
	}
	if (rv == -EINVAL || rv == -ENOMEM || rv == -ENOTSUP)
		return cli_fail("bridge", s->url, rv), rv;
	if (rv != -ETIMEDOUT && rv != -EAGAIN && rv != -ECONNREFUSED &&
	    rv != -ENOENT && rv != s->last_err && !a->quiet)
		cli_fail("bridge", s->url, rv);
	s->last_err = rv;
	if (rv == -ECONNREFUSED || rv == -ENOENT)
		(void)poll(NULL, 0, BRIDGE_RETRY_MS);
	return 0;
}

/* Try to give side `s` a channel. 1 connected, 0 not yet, < 0 fatal. */
static int
bridge_connect(struct bridge_side *s, const struct bridge_args *a)
{
	int rv;
	if (bridge_pattern_side(s))
		return s->c ? 1 : bridge_pattern_connect(s, a);
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
		s->rx = s->tx = s->c;
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
	if (err == IPK_ECLOSED && s->listen && !bridge_pattern_side(s) &&
	    (ipk_caps(s->c) & IPK_CAP_REATTACH)) {
		s->down = 1;
		return;
	}
	if (bridge_pattern_side(s)) {
		ipk_close(s->rx);
		ipk_close(s->tx);
	} else {
		ipk_close(s->c);
	}
	s->c = s->rx = s->tx = NULL;
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
	if (!d->src->rx || !d->dst->tx)
		return 0; /* a one-way side: nothing goes this way */
	for (;;) {
		if (d->pending) {
			rv = ipk_send(d->dst->tx, d->buf, d->len, d->type, 0);
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
		rv = ipk_recv(d->src->rx, d->buf, d->cap, &d->len, &d->type, 0);
		if (rv == -EAGAIN)
			return n;
		if (rv == -EMSGSIZE && d->len > d->cap &&
		    d->len <= ipk_max_msg(d->src->rx)) {
			if (bridge_grow(d, d->len) < 0)
				return -1;
			continue;
		}
		if (rv == -EMSGSIZE ||
		    (rv == -EBADMSG &&
			(ipk_caps(d->src->rx) & IPK_CAP_BOUNDARIES))) {
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
		if (!d[i].src->rx || !d[i].dst->tx)
			continue;
		int fd = ipk_fd(d[i].src->rx);
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
	/* The id this bridge marks what it publishes to a broker with. */
	char id[40];
	snprintf(id, sizeof(id), "%ld-%lx", (long)getpid(),
	    (unsigned long)bridge_random());
	int pa = bridge_side_parse(&s[0], "A", argv[optind], id);
	int pb =
	    pa < 0 ? 0 : bridge_side_parse(&s[1], "B", argv[optind + 1], id);
	if (pa < 0 || pb < 0) {
		for (int i = 0; i < 2; i++) {
			free(s[i].sub_url);
			free(s[i].pub_url);
		}
		if (pa == -ENOMEM || pb == -ENOMEM)
			return cli_fail("bridge", NULL, -ENOMEM);
		return cli_usage(&cli_cmd_bridge,
		    pa == -1 || pb == -1 ? "empty address"
					 : "a side's ?pattern= is sub or pub");
	}
	/* A broker side opens only the directions the other side has: no
	 * subscription whose messages nobody would take. */
	for (int i = 0; i < 2; i++) {
		struct bridge_side *me = &s[i], *other = &s[1 - i];
		if (!me->sub_url || !me->pub_url || !bridge_pattern_side(other))
			continue;
		char **unused = !other->pub_url ? &me->sub_url
		    : !other->sub_url		? &me->pub_url
						: NULL;
		if (unused) {
			free(*unused);
			*unused = NULL;
		}
	}
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
		if (bridge_pattern_side(&s[i])) {
			ipk_close(s[i].rx);
			ipk_close(s[i].tx);
		} else {
			ipk_close(s[i].c);
		}
		ipk_listener_close(s[i].l);
		free(s[i].sub_url);
		free(s[i].pub_url);
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
