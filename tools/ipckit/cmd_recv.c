/* SPDX-License-Identifier: MIT */
/*
 * cmd_recv.c - ipckit recv: print the messages received on a channel in one
 * of five formats. A listener serves successive peers, and concurrent ones
 * where the transport accepts many (unix, tcp, udp, nng+*), polling the
 * listener's descriptor beside the channels.
 */
#include "cli.h"

#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char recv_usage[] =
    "usage: ipckit recv [OPTIONS] URL\n"
    "\n"
    "Print each message received on URL. Options may come anywhere; '--'\n"
    "ends them.\n"
    "\n"
    "A listener (the default) serves one peer after another, and several at\n"
    "once where the transport accepts many (unix, tcp, udp, nng+*). It\n"
    "ends when COUNT messages arrived (-n), or, without -n and --forever,\n"
    "when its peers have left; with --forever it serves until a signal.\n"
    "A dialer ends when its peer leaves or COUNT messages arrived.\n"
    "\n"
    "  -l, --listen        listen on URL (the default)\n"
    "  -d, --dial          dial URL; says \"waiting for a listener at URL\"\n"
    "                      on standard error when nobody listens yet\n"
    "  -n, --count N       stop after N messages, whichever peers sent them\n"
    "  -k, --forever       keep serving when peers leave (a dialer dials\n"
    "                      again), until a signal or -n\n"
    "  -t, --type N        receive only messages of type N (selective\n"
    "                      receive; System V queues)\n"
    "  -F, --format FMT    how to print each message:\n"
    "                        lines   the bytes and a newline (default)\n"
    "                        raw     the bytes only, nothing between\n"
    "                        hex     lowercase hex and a newline\n"
    "                        quoted  a C string literal (\\n, \\\", \\xHH)\n"
    "                                and a newline\n"
    "                        json    one object per line:\n"
    "                                "
    "{\"type\":N,\"length\":N,\"data\":\"...\"}\n"
    "                                (\"hex\":\"...\" instead of \"data\" "
    "when\n"
    "                                the bytes are not UTF-8)\n"
    "  -x, --hex           the same as --format hex\n"
    "  -v, --verbose       prefix each message with its type and length\n"
    "                      (lines, hex, quoted); say the listening address\n"
    "  -T, --timeout MS    wait at most MS for a peer and for each message\n"
    "                      (default -1: forever)\n"
    "  -h, --help          this text\n"
    "\n"
    "When the address asked for port 0, the port bound is said on standard\n"
    "error: \"ipckit recv: listening at tcp://127.0.0.1:41234\".\n"
    "A message over the channel's limit (?maxmsg=) is dropped by the\n"
    "library: recv says so on standard error and goes on.\n"
    "\n"
    "Exit status: 0 when COUNT arrived or the peers left, 1 on an error, a\n"
    "timeout or after a dropped message, 2 on a usage error or a malformed\n"
    "URL. On SIGINT, SIGTERM, SIGHUP or SIGPIPE (recv ... | head -1) recv\n"
    "closes its channels and listener, which removes what it made (FIFOs,\n"
    "socket file, queues, segment), and ends by that signal (the shell\n"
    "sees 130, 143, 129, 141).\n"
    "\n"
    "Examples:\n"
    "  ipckit recv -n 1 unix:///tmp/demo.sock\n"
    "  ipckit recv -k -F json tcp://127.0.0.1:0\n";

#define RECV_MAXPEERS 64

enum recv_fmt { RECV_LINES, RECV_RAW, RECV_HEX, RECV_QUOTED, RECV_JSON };

struct recv_args {
	int mode, verbose, forever;
	enum recv_fmt fmt;
	long long count, type, timeout;
	const char *url;
};

/* What one step of the loop says. */
enum { RECV_GO, RECV_DONE, RECV_FAIL };

/* What one receive on a peer gave. */
enum { RECV_MSG, RECV_NONE, RECV_GONE, RECV_FATAL };

struct recv_peer {
	struct ipk_chan *c;
	int down; /* a single-channel listener whose peer left: the next
		     one reattaches to the same channel */
};

struct recv_state {
	const struct recv_args *a;
	struct ipk_listener *l;
	const char *url; /* the bound address, for messages */
	int multi; /* the listener hands out one channel per peer */
	int lfd; /* its descriptor (multi), or -1 */
	struct recv_peer p[RECV_MAXPEERS];
	int n;
	int ever; /* a peer came */
	int status; /* CLI_ERR once a message was dropped or a peer broke */
	unsigned char *buf;
	size_t cap;
	long long got;
	int64_t idle; /* --timeout deadline, moved on by messages and peers */
};

static void
recv_quoted(const unsigned char *p, size_t n)
{
	putchar('"');
	for (size_t i = 0; i < n; i++) {
		switch (p[i]) {
		case '"':
			(void)fputs("\\\"", stdout);
			break;
		case '\\':
			(void)fputs("\\\\", stdout);
			break;
		case '\n':
			(void)fputs("\\n", stdout);
			break;
		case '\r':
			(void)fputs("\\r", stdout);
			break;
		case '\t':
			(void)fputs("\\t", stdout);
			break;
		default:
			if (p[i] >= 0x20 && p[i] < 0x7f)
				putchar(p[i]);
			else
				printf("\\x%02x", p[i]);
		}
	}
	putchar('"');
}

/* 1 when p[0..n) is well-formed UTF-8 (no overlong forms, surrogates or
 * code points past U+10FFFF). */
static int
recv_utf8(const unsigned char *p, size_t n)
{
	for (size_t i = 0; i < n;) {
		unsigned c = p[i], cp, min;
		size_t k;
		if (c < 0x80) {
			i++;
			continue;
		}
		if ((c & 0xe0) == 0xc0) {
			k = 1, cp = c & 0x1f, min = 0x80;
		} else if ((c & 0xf0) == 0xe0) {
			k = 2, cp = c & 0x0f, min = 0x800;
		} else if ((c & 0xf8) == 0xf0) {
			k = 3, cp = c & 0x07, min = 0x10000;
		} else {
			return 0;
		}
		if (n - i <= k)
			return 0;
		for (size_t j = 1; j <= k; j++) {
			if ((p[i + j] & 0xc0) != 0x80)
				return 0;
			cp = cp << 6 | (p[i + j] & 0x3fu);
		}
		if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
			return 0;
		i += k + 1;
	}
	return 1;
}

static void
recv_json(const unsigned char *p, size_t n, uint32_t type)
{
	printf("{\"type\":%u,\"length\":%zu,", type, n);
	if (!recv_utf8(p, n)) {
		(void)fputs("\"hex\":\"", stdout);
		for (size_t i = 0; i < n; i++)
			printf("%02x", p[i]);
		(void)fputs("\"}\n", stdout);
		return;
	}
	(void)fputs("\"data\":\"", stdout);
	for (size_t i = 0; i < n; i++) {
		if (p[i] == '"' || p[i] == '\\')
			printf("\\%c", p[i]);
		else if (p[i] == '\n')
			(void)fputs("\\n", stdout);
		else if (p[i] == '\t')
			(void)fputs("\\t", stdout);
		else if (p[i] < 0x20)
			printf("\\u%04x", p[i]);
		else
			putchar(p[i]);
	}
	(void)fputs("\"}\n", stdout);
}

/* 0, or -errno when stdout cannot take the message (a full disk, a closed
 * pipe): a message received but not written must not pass unnoticed. */
static int
recv_print(
    const struct recv_args *a, const unsigned char *p, size_t n, uint32_t type)
{
	errno = 0;
	if (a->verbose && a->fmt != RECV_RAW && a->fmt != RECV_JSON)
		printf("[type %u, %zu bytes] ", type, n);
	switch (a->fmt) {
	case RECV_RAW:
		(void)fwrite(p, 1, n, stdout);
		break;
	case RECV_LINES:
		(void)fwrite(p, 1, n, stdout);
		putchar('\n');
		break;
	case RECV_HEX:
		for (size_t i = 0; i < n; i++)
			printf("%02x", p[i]);
		putchar('\n');
		break;
	case RECV_QUOTED:
		recv_quoted(p, n);
		putchar('\n');
		break;
	case RECV_JSON:
		recv_json(p, n, type);
		break;
	}
	if (fflush(stdout) != 0 || ferror(stdout))
		return errno ? -errno : -EIO;
	return 0;
}

static void
recv_active(struct recv_state *st)
{
	st->idle = cli_deadline(st->a->timeout);
}

/* Keep serving when peers leave? */
static int
recv_serving(const struct recv_state *st)
{
	return st->a->forever || st->a->count >= 0;
}

static int
recv_add(struct recv_state *st, struct ipk_chan *c)
{
	st->p[st->n++] = (struct recv_peer){.c = c};
	st->ever = 1;
	recv_active(st);
	return RECV_GO;
}

static void
recv_remove(struct recv_state *st, int i)
{
	ipk_close(st->p[i].c);
	st->p[i] = st->p[--st->n];
}

/* Peer i left (IPK_ECLOSED). */
static int
recv_gone(struct recv_state *st, int i)
{
	if (st->l && !st->multi && (ipk_caps(st->p[i].c) & IPK_CAP_REATTACH)) {
		st->p[i].down = 1; /* recv notices the next one */
		return RECV_GONE;
	}
	recv_remove(st, i);
	return RECV_GONE;
}

/* Receive one message from peer i, waiting up to ms. */
static int
recv_one(struct recv_state *st, int i, int ms)
{
	const struct recv_args *a = st->a;
	struct recv_peer *pe = &st->p[i];
	size_t len = 0;
	uint32_t type = 0;
	int rv;
	for (;;) {
		if (a->type >= 0) {
			type = (uint32_t)a->type;
			rv = ipk_recv_type(
			    pe->c, type, st->buf, st->cap, &len, ms);
		} else {
			rv = ipk_recv(pe->c, st->buf, st->cap, &len, &type, ms);
		}
		if (rv != -EMSGSIZE || len <= st->cap ||
		    len > ipk_max_msg(pe->c))
			break;
		unsigned char *nb = realloc(st->buf, len);
		if (!nb) {
			cli_fail("recv", st->url, -ENOMEM);
			return RECV_FATAL;
		}
		st->buf = nb;
		st->cap = len;
	}
	if (rv != IPK_ECLOSED && pe->down) {
		pe->down = 0; /* the next peer reattached */
		recv_active(st);
	}
	if (rv == 0) {
		st->got++;
		recv_active(st);
		if ((rv = recv_print(a, st->buf, len, type)) < 0) {
			if (!cli_signalled())
				fprintf(stderr,
				    "ipckit recv: cannot write a received "
				    "message to standard output: %s\n",
				    strerror(-rv));
			return RECV_FATAL;
		}
		return RECV_MSG;
	}
	if (rv == -ETIMEDOUT || rv == -EAGAIN)
		return RECV_NONE;
	if (rv == IPK_ECLOSED)
		return recv_gone(st, i);
	unsigned caps = ipk_caps(pe->c);
	if (rv == -EMSGSIZE ||
	    (rv == -EBADMSG &&
		((caps & IPK_CAP_BOUNDARIES) || (st->l && !st->multi)))) {
		/* Dropped by the library; the channel goes on. */
		cli_fail("recv", st->url, rv);
		st->status = CLI_ERR;
		return RECV_NONE;
	}
	if (rv == -EBADMSG && st->multi) {
		/* One peer's stream is broken, not the listener. */
		cli_fail("recv", st->url, rv);
		st->status = CLI_ERR;
		recv_remove(st, i);
		return RECV_GONE;
	}
	cli_fail("recv", st->url, rv);
	return RECV_FATAL;
}

/* A dialer, or a listener with one channel (fifo, mq, sysv, shm). */
static int
recv_step_single(struct recv_state *st)
{
	int ms = cli_left_ms(st->idle, CLI_SLICE_MS), rv;
	if (st->n == 0) {
		/* A dialer's peer left; or a listener's without reattach. */
		if (st->ever && !(st->l ? recv_serving(st) : st->a->forever))
			return RECV_DONE;
		struct ipk_chan *c = NULL;
		if (!st->l) {
			/* --forever: dial again (waiting says so). */
			rv = cli_dial("recv", st->url, (int)st->a->timeout, &c);
			if (rv != CLI_OK)
				return RECV_FAIL;
			return c ? recv_add(st, c) : RECV_GO;
		}
		rv = ipk_accept(st->l, ms, &c);
		if (rv == 0)
			return recv_add(st, c);
		if (rv == -ETIMEDOUT || rv == -EAGAIN)
			return RECV_GO;
		cli_fail("recv", st->url, rv);
		return RECV_FAIL;
	}
	rv = recv_one(st, 0, ms);
	if (rv == RECV_FATAL)
		return RECV_FAIL;
	if (st->n > 0 && st->p[0].down) {
		if (!recv_serving(st))
			return RECV_DONE;
		/* Nobody attached yet, and nothing rings for a newcomer. */
		cli_nap(cli_left_ms(st->idle, CLI_SLICE_MS / 2));
	}
	return RECV_GO;
}

/* Take every peer waiting at a multi-channel listener. */
static int
recv_accept_all(struct recv_state *st)
{
	while (st->n < RECV_MAXPEERS) {
		struct ipk_chan *c = NULL;
		int rv = ipk_accept(st->l, 0, &c);
		if (rv == -EAGAIN || rv == -ETIMEDOUT)
			return RECV_GO;
		if (rv < 0) {
			cli_fail("recv", st->url, rv);
			return RECV_FAIL;
		}
		recv_add(st, c);
	}
	return RECV_GO;
}

/* A listener handing out a channel per peer: poll its descriptor and the
 * channels', drain what is ready. */
static int
recv_step_multi(struct recv_state *st)
{
	struct ipk_pollitem items[RECV_MAXPEERS];
	int n = st->n, rv;
	for (int i = 0; i < n; i++)
		items[i] = (struct ipk_pollitem){
		    .chan = st->p[i].c, .events = IPK_POLLIN};
	rv = n ? ipk_poll(items, (size_t)n, 0) : -EAGAIN;
	if (rv > 0) {
		/* From the top, so that a removed peer (its slot takes the
		 * last one) does not hide another. */
		for (int i = n - 1; i >= 0; i--) {
			if (!items[i].revents)
				continue;
			do {
				rv = recv_one(st, i, 0);
				if (st->a->count >= 0 &&
				    st->got >= st->a->count)
					return RECV_DONE;
			} while (rv == RECV_MSG);
			if (rv == RECV_FATAL)
				return RECV_FAIL;
		}
		return RECV_GO;
	}
	if (rv != -EAGAIN) {
		cli_fail("recv", st->url, rv);
		return RECV_FAIL;
	}
	if (st->n == 0 && st->ever && !recv_serving(st)) {
		/* The last peer left; one may already wait in the backlog. */
		if (recv_accept_all(st) != RECV_GO)
			return RECV_FAIL;
		if (st->n == 0)
			return RECV_DONE;
	}
	struct pollfd pf[RECV_MAXPEERS + 1];
	int k = 0, lidx = -1;
	if (st->n < RECV_MAXPEERS) {
		lidx = k;
		pf[k++] = (struct pollfd){.fd = st->lfd, .events = POLLIN};
	}
	for (int i = 0; i < st->n; i++) {
		int fd = ipk_fd(st->p[i].c);
		if (fd >= 0)
			pf[k++] = (struct pollfd){.fd = fd, .events = POLLIN};
	}
	/* A signal ends the wait at once (EINTR); a peer's death through a
	 * dropped lock rings nothing, hence the slice. */
	(void)poll(pf, (nfds_t)k, cli_left_ms(st->idle, CLI_SLICE_MS));
	if (lidx >= 0 && pf[lidx].revents)
		return recv_accept_all(st);
	return RECV_GO;
}

static int
recv_loop(struct recv_state *st)
{
	const struct recv_args *a = st->a;
	recv_active(st);
	for (;;) {
		if (cli_signalled())
			return CLI_OK; /* the caller ends by the signal */
		if (a->count >= 0 && st->got >= a->count)
			return st->status;
		if (cli_left_ms(st->idle, 1) == 0) {
			fprintf(stderr,
			    "ipckit recv: %s: nothing came within %lld ms "
			    "(--timeout)\n",
			    st->url, a->timeout);
			return CLI_ERR;
		}
		int rv = st->multi ? recv_step_multi(st) : recv_step_single(st);
		if (rv == RECV_DONE)
			return st->status;
		if (rv == RECV_FAIL)
			return CLI_ERR;
	}
}

static int
recv_format(const char *s, enum recv_fmt *f)
{
	static const char *const names[] = {
	    [RECV_LINES] = "lines",
	    [RECV_RAW] = "raw",
	    [RECV_HEX] = "hex",
	    [RECV_QUOTED] = "quoted",
	    [RECV_JSON] = "json",
	};
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		if (!strcmp(s, names[i])) {
			*f = (enum recv_fmt)i;
			return 0;
		}
	return -1;
}

/* CLI_OK, a usage status, or -1 after --help. */
static int
recv_parse(int argc, char **argv, struct recv_args *a)
{
	static const struct option opts[] = {
	    {"listen", no_argument, NULL, 'l'},
	    {"dial", no_argument, NULL, 'd'},
	    {"count", required_argument, NULL, 'n'},
	    {"forever", no_argument, NULL, 'k'},
	    {"type", required_argument, NULL, 't'},
	    {"format", required_argument, NULL, 'F'},
	    {"hex", no_argument, NULL, 'x'},
	    {"verbose", no_argument, NULL, 'v'},
	    {"timeout", required_argument, NULL, 'T'},
	    {"help", no_argument, NULL, 'h'},
	    {NULL, 0, NULL, 0},
	};
	const struct cli_cmd *cmd = &cli_cmd_recv;
	int ch;
	optind = 1;
	while (
	    (ch = cli_getopt(cmd, argc, argv, ":ldn:kt:F:xvT:h", opts)) != -1) {
		switch (ch) {
		case 'l':
		case 'd':
			a->mode = ch;
			break;
		case 'n':
			if (cli_parse_int(optarg, 1, 1LL << 62, &a->count) < 0)
				return cli_usage(
				    cmd, "bad --count '%s'", optarg);
			break;
		case 'k':
			a->forever = 1;
			break;
		case 't':
			if (cli_parse_int(optarg, 0, 0xffffffffLL, &a->type) <
			    0)
				return cli_usage(cmd,
				    "bad --type '%s' (0 to 4294967295)",
				    optarg);
			break;
		case 'F':
			if (recv_format(optarg, &a->fmt) < 0)
				return cli_usage(cmd,
				    "bad --format '%s' (raw, lines, hex, "
				    "quoted or json)",
				    optarg);
			break;
		case 'x':
			a->fmt = RECV_HEX;
			break;
		case 'v':
			a->verbose = 1;
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
	if (optind < argc)
		return cli_usage(cmd, "unexpected argument '%s'", argv[optind]);
	return CLI_OK;
}

static int
recv_run(int argc, char **argv)
{
	struct recv_args a = {
	    .mode = 'l', .count = -1, .type = -1, .timeout = -1};
	int rv = recv_parse(argc, argv, &a);
	if (rv != CLI_OK)
		return rv < 0 ? CLI_OK : rv;

	struct recv_state st = {.a = &a, .url = a.url, .lfd = -1};
	int status = CLI_OK;
	if (a.mode == 'l') {
		status = cli_listen("recv", a.url, a.verbose, &st.l);
		if (status != CLI_OK)
			return status;
		cli_signals_install();
		st.url = ipk_listener_url(st.l);
		/* A multi-channel listener without a descriptor would need
		 * accepts in turn with the channels: not in any transport. */
		st.lfd = ipk_listener_fd(st.l);
		const char *colon = strchr(a.url, ':');
		char scheme[32] = "";
		if (colon && (size_t)(colon - a.url) < sizeof(scheme))
			memcpy(scheme, a.url, (size_t)(colon - a.url));
		st.multi =
		    (ipk_scheme_caps(scheme) & IPK_CAP_MULTI) && st.lfd >= 0;
	} else {
		struct ipk_chan *c = NULL;
		status = cli_dial("recv", a.url, (int)a.timeout, &c);
		if (status != CLI_OK)
			return status;
		cli_signals_install();
		if (c)
			recv_add(&st, c);
	}
	st.cap = (size_t)64 * 1024;
	st.buf = malloc(st.cap);
	if (!st.buf)
		status = cli_fail("recv", a.url, -ENOMEM);
	else if (!cli_signalled())
		status = recv_loop(&st);

	while (st.n > 0)
		recv_remove(&st, st.n - 1);
	ipk_listener_close(st.l);
	free(st.buf);
	if (cli_signalled())
		return cli_signal_exit();
	return status;
}

const struct cli_cmd cli_cmd_recv = {
    .name = "recv",
    .run = recv_run,
    .summary = "print messages received on a channel",
    .usage = recv_usage,
};
