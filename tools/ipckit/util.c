/* SPDX-License-Identifier: MIT */
/* util.c - helpers shared by the ipckit sub-commands. */
#include "cli.h"

#include <errno.h>
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
	vfprintf(stderr, fmt, ap);
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
	case 'k': case 'K': shift = 10; end++; break;
	case 'm': case 'M': shift = 20; end++; break;
	case 'g': case 'G': shift = 30; end++; break;
	}
	if (*end || (shift && v > (UINT64_MAX >> shift)))
		return -1;
	*out = (uint64_t)v << shift;
	return 0;
}

void
cli_help(const struct cli_cmd *c)
{
	fputs(c->usage, stdout);
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
	struct ipk_opts o = { .timeout_ms = timeout_ms };
	if ((rv = ipk_dial(url, &o, c)) < 0)
		return cli_fail(cmd, url, rv);
	return CLI_OK;
}
