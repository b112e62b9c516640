/* SPDX-License-Identifier: MIT */
/* util.c - helpers shared by the ipckit sub-commands. */
#include "cli.h"

#include <errno.h>
#include <pwd.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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
cli_usage(const struct cli_cmd *c, const char *fmt, ...)
{
	va_list ap;
	fprintf(stderr, "ipckit %s: ", c->name);
	va_start(ap, fmt);
	(void)vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, "\nTry 'ipckit help %s'.\n", c->name);
	return CLI_USAGE;
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

int
cli_open(const char *cmd, const char *url, int mode, int timeout_ms,
    struct ipk_listener **l, struct ipk_chan **c)
{
	int rv;
	*l = NULL;
	*c = NULL;
	if (mode == 'l') {
		if ((rv = ipk_listen(url, NULL, l)) < 0)
			return cli_fail(cmd, url, rv);
		if ((rv = ipk_accept(*l, timeout_ms, c)) < 0) {
			cli_fail(cmd, url, rv);
			ipk_listener_close(*l);
			*l = NULL;
			return CLI_ERR;
		}
		return CLI_OK;
	}
	struct ipk_opts o = {.timeout_ms = timeout_ms};
	if ((rv = ipk_dial(url, &o, c)) < 0)
		return cli_fail(cmd, url, rv);
	return CLI_OK;
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
		    "\"errors\":%llu,\"drops\":%llu}",
		    i ? "," : "", (int)e->pid, cli_role_name(e->role),
		    e->alive ? "true" : "false",
		    (unsigned long long)s->msgs_sent,
		    (unsigned long long)s->bytes_sent,
		    (unsigned long long)s->msgs_recv,
		    (unsigned long long)s->bytes_recv,
		    (unsigned long long)s->waits, (unsigned long long)s->errors,
		    (unsigned long long)s->gaps);
	}
	fprintf(f, "]}");
}
