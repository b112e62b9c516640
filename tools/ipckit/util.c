/* SPDX-License-Identifier: MIT */
/* util.c - helpers shared by the ipckit sub-commands. */
#include "cli.h"

#include <errno.h>
#include <poll.h>
#include <pwd.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static volatile sig_atomic_t cli_sig;

int
cli_fail(const char *cmd, const char *url, int err)
{
	const char *msg = ipk_strerror(err);
	/* The library's sentence usually starts with the URL already. */
	if (url && strncmp(msg, url, strlen(url)) != 0)
		fprintf(stderr, "ipckit %s: %s: %s\n", cmd, url, msg);
	else
		fprintf(stderr, "ipckit %s: %s\n", cmd, msg);
	return CLI_ERR;
}

int
cli_open_fail(const char *cmd, const char *url, int err)
{
	cli_fail(cmd, url, err);
	return err == -EINVAL ? CLI_USAGE : CLI_ERR;
}

int
cli_usage(const struct cli_cmd *c, const char *fmt, ...)
{
	va_list ap;
	fprintf(stderr, "ipckit %s: ", c->name);
	va_start(ap, fmt);
	(void)vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, " (see 'ipckit help %s')\n", c->name);
	return CLI_USAGE;
}

int
cli_getopt(const struct cli_cmd *c, int argc, char **argv, const char *so,
    const struct option *lo)
{
	opterr = 0; /* one message, ours */
	int ch = getopt_long(argc, argv, so, lo, NULL);
	if (ch != '?' && ch != ':')
		return ch;
	/* A long option always moves optind past itself; a short one in a
	 * cluster (-xq) may not, so it is named by optopt. */
	const char *w = optind > 0 && optind <= argc ? argv[optind - 1] : "";
	int is_long = !strncmp(w, "--", 2);
	if (ch == ':' && is_long)
		cli_usage(c, "option '%s' needs a value", w);
	else if (ch == ':')
		cli_usage(c, "option '-%c' needs a value", optopt);
	else if (is_long)
		cli_usage(c, "unknown option '%s'", w);
	else
		cli_usage(c, "unknown option '-%c'", optopt);
	return '?';
}

int
cli_parse_int(const char *s, long long min, long long max, long long *out)
{
	char *end;
	errno = 0;
	long long v = strtoll(s, &end, 0);
	if (errno || end == s || *end || v < min || v > max)
		return -1;
	*out = v;
	return 0;
}

int
cli_parse_size(const char *s, uint64_t *out)
{
	char *end;
	errno = 0;
	unsigned long long v = strtoull(s, &end, 10);
	if (errno || end == s || *s == '-')
		return -1;
	int shift = 0;
	switch (*end) {
	case 'k':
	case 'K':
		shift = 10;
		end++;
		break;
	case 'm':
	case 'M':
		shift = 20;
		end++;
		break;
	case 'g':
	case 'G':
		shift = 30;
		end++;
		break;
	}
	if (*end || (shift && v > (UINT64_MAX >> shift)))
		return -1;
	*out = (uint64_t)v << shift;
	return 0;
}

void
cli_help(const struct cli_cmd *c)
{
	(void)fputs(c->usage, stdout);
}

int64_t
cli_now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int64_t
cli_deadline(long long timeout_ms)
{
	return timeout_ms < 0 ? -1 : cli_now_ms() + timeout_ms;
}

int
cli_left_ms(int64_t deadline, int cap)
{
	if (deadline < 0)
		return cap;
	int64_t left = deadline - cli_now_ms();
	if (left <= 0)
		return 0;
	return left < cap ? (int)left : cap;
}

static void
cli_on_signal(int sig)
{
	if (!cli_sig)
		cli_sig = sig;
}

void
cli_signals_install(void)
{
	static const int sigs[] = {SIGINT, SIGTERM, SIGHUP, SIGPIPE};
	/* No SA_RESTART: a wait in poll() returns at once with EINTR. */
	struct sigaction sa = {.sa_handler = cli_on_signal}, old;
	sigemptyset(&sa.sa_mask);
	for (size_t i = 0; i < sizeof(sigs) / sizeof(sigs[0]); i++) {
		/* A signal ignored from the start stays ignored (nohup, a
		 * shell's background job). */
		if (sigaction(sigs[i], NULL, &old) == 0 &&
		    old.sa_handler == SIG_IGN)
			continue;
		(void)sigaction(sigs[i], &sa, NULL);
	}
}

int
cli_signalled(void)
{
	return cli_sig;
}

int
cli_signal_exit(void)
{
	int sig = cli_sig;
	(void)fflush(NULL);
	/* Die of the signal, as shells expect (an interrupted script stops
	 * only when its child died of SIGINT). */
	struct sigaction sa = {.sa_handler = SIG_DFL};
	sigemptyset(&sa.sa_mask);
	(void)sigaction(sig, &sa, NULL);
	sigset_t set;
	sigemptyset(&set);
	sigaddset(&set, sig);
	(void)sigprocmask(SIG_UNBLOCK, &set, NULL);
	(void)raise(sig);
	return 128 + sig;
}

void
cli_nap(int ms)
{
	if (!cli_sig && ms > 0)
		(void)poll(NULL, 0, ms);
}

int
cli_listen(
    const char *cmd, const char *url, int verbose, struct ipk_listener **l)
{
	int rv = ipk_listen(url, NULL, l);
	if (rv < 0)
		return cli_open_fail(cmd, url, rv);
	const char *bound = ipk_listener_url(*l);
	if (verbose || (bound && strcmp(bound, url) != 0))
		fprintf(stderr, "ipckit %s: listening at %s\n", cmd, bound);
	return CLI_OK;
}

int
cli_accept(const char *cmd, struct ipk_listener *l, int timeout_ms,
    struct ipk_chan **c)
{
	int64_t deadline = cli_deadline(timeout_ms);
	for (;;) {
		int rv = ipk_accept(l, cli_left_ms(deadline, CLI_SLICE_MS), c);
		if (rv == 0)
			return CLI_OK;
		if (rv != -ETIMEDOUT && rv != -EAGAIN)
			return cli_fail(cmd, ipk_listener_url(l), rv);
		if (cli_sig)
			return CLI_OK;
		if (cli_left_ms(deadline, 1) == 0) {
			fprintf(stderr,
			    "ipckit %s: %s: no peer came within %d ms\n", cmd,
			    ipk_listener_url(l), timeout_ms);
			return CLI_ERR;
		}
	}
}

/* Codes that mean "no listener (free) at this address yet". */
static int
cli_dial_again(int rv)
{
	return rv == -ENOENT || rv == -ECONNREFUSED || rv == -EBUSY ||
	    rv == -ETIMEDOUT || rv == -EAGAIN || rv == -ESTALE ||
	    rv == IPK_ENOPEER || rv == IPK_EBUSYSIDE;
}

int
cli_dial(const char *cmd, const char *url, int timeout_ms, struct ipk_chan **c)
{
	struct ipk_opts o = {.timeout_ms = 0};
	int rv = ipk_dial(url, &o, c);
	if (rv == 0)
		return CLI_OK;
	if (!cli_dial_again(rv) || timeout_ms == 0)
		return cli_open_fail(cmd, url, rv);
	fprintf(stderr, "ipckit %s: waiting for a listener at %s\n", cmd, url);
	int64_t deadline = cli_deadline(timeout_ms);
	for (;;) {
		if (cli_sig)
			return CLI_OK;
		int left = cli_left_ms(deadline, CLI_SLICE_MS);
		if (left == 0)
			return cli_fail(cmd, url, rv);
		o.timeout_ms = left;
		rv = ipk_dial(url, &o, c);
		if (rv == 0)
			return CLI_OK;
		if (!cli_dial_again(rv))
			return cli_open_fail(cmd, url, rv);
		/* Some transports answer at once: do not spin. */
		if (rv != -ETIMEDOUT)
			cli_nap(cli_left_ms(deadline, 20));
	}
}

const char *
cli_role_name(int role)
{
	switch (role) {
	case IPK_ROLE_LISTENER:
		return "listener";
	case IPK_ROLE_ACCEPTED:
		return "accepted";
	case IPK_ROLE_DIALER:
		return "dialer";
	}
	return "?";
}

const char *
cli_user_name(uid_t uid)
{
	static char buf[64];
	struct passwd *pw = getpwuid(uid);
	if (pw && strlen(pw->pw_name) < sizeof(buf))
		snprintf(buf, sizeof(buf), "%s", pw->pw_name);
	else
		snprintf(buf, sizeof(buf), "%u", (unsigned)uid);
	return buf;
}

void
cli_json_str(FILE *f, const char *s)
{
	(void)fputc('"', f);
	for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
		if (*p == '"' || *p == '\\')
			fprintf(f, "\\%c", *p);
		else if (*p < 0x20)
			fprintf(f, "\\u%04x", *p);
		else
			(void)fputc(*p, f);
	}
	(void)fputc('"', f);
}

static void
cli_json_num(FILE *f, const char *key, int64_t v)
{
	if (v < 0)
		fprintf(f, "\"%s\":null", key);
	else
		fprintf(f, "\"%s\":%lld", key, (long long)v);
}

void
cli_json_obj(FILE *f, const struct ipk_objinfo *o)
{
	fprintf(f, "{\"url\":");
	cli_json_str(f, o->url);
	fprintf(f, ",\"mechanism\":");
	cli_json_str(f, o->scheme);
	fprintf(f, ",\"registered\":%s,\"exists\":%s,",
	    o->registered ? "true" : "false", o->exists ? "true" : "false");
	if (o->exists) {
		fprintf(f, "\"uid\":%u,\"owner\":", (unsigned)o->uid);
		cli_json_str(f, cli_user_name(o->uid));
		fprintf(f, ",\"mode\":\"%04o\",", o->mode);
	}
	cli_json_num(f, "queued_msgs", o->queued_msgs);
	(void)fputc(',', f);
	cli_json_num(f, "queued_bytes", o->queued_bytes);
	(void)fputc(',', f);
	cli_json_num(f, "capacity_msgs", o->cap_msgs);
	(void)fputc(',', f);
	cli_json_num(f, "capacity_bytes", o->cap_bytes);
	fprintf(f, ",\"objects\":[");
	for (int i = 0, n = 0; i < 4; i++)
		if (o->objects[i][0]) {
			fprintf(f, n++ ? "," : "");
			cli_json_str(f, o->objects[i]);
		}
	fprintf(f, "],\"alive\":%d,\"endpoints\":[", o->nalive);
	for (int i = 0; i < o->nep; i++) {
		const struct ipk_endpoint *e = &o->ep[i];
		const struct ipk_stats *s = &e->stats;
		fprintf(f,
		    "%s{\"pid\":%d,\"role\":\"%s\",\"alive\":%s,"
		    "\"msgs_sent\":%llu,\"bytes_sent\":%llu,"
		    "\"msgs_recv\":%llu,\"bytes_recv\":%llu,\"waits\":%llu,"
		    "\"errors\":%llu,\"drops\":%llu,\"lag\":%lld}",
		    i ? "," : "", (int)e->pid, cli_role_name(e->role),
		    e->alive ? "true" : "false",
		    (unsigned long long)s->msgs_sent,
		    (unsigned long long)s->bytes_sent,
		    (unsigned long long)s->msgs_recv,
		    (unsigned long long)s->bytes_recv,
		    (unsigned long long)s->waits, (unsigned long long)s->errors,
		    (unsigned long long)s->gaps, (long long)e->lag);
	}
	fprintf(f, "]}");
}
