/* SPDX-License-Identifier: MIT */
/* pattern.c - what the pattern commands (pub, sub, req, rep) share. */
#include "cli.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

static int
pattern_open(const char *cmd, const char *url, int bind, int timeout_ms,
    struct ipk_chan **c)
{
	const char *role = cmd;
	*c = NULL;
	const char *q = strchr(url, '?');
	const char *have = q ? strstr(q, "pattern=") : NULL;
	if (have && (have[-1] == '?' || have[-1] == '&')) {
		size_t n = strlen(role);
		if (strncmp(have + 8, role, n) != 0 ||
		    (have[8 + n] && have[8 + n] != '&')) {
			fprintf(stderr,
			    "ipckit %s: %s: the address names another "
			    "pattern than %s\n",
			    cmd, url, role);
			return CLI_USAGE;
		}
		role = NULL;
	}
	size_t len = strlen(url) + 64;
	char *u = malloc(len);
	if (!u)
		return cli_fail(cmd, url, -ENOMEM);
	snprintf(u, len, "%s%s%s%s", url, role ? (q ? "&" : "?") : "",
	    role ? "pattern=" : "", role ? role : "");
	int rv;
	if (bind) {
		rv = ipk_bind(u, NULL, c);
		if (rv < 0) {
			rv = cli_open_fail(cmd, url, rv);
		} else {
			const char *b = ipk_url(*c);
			if (strcmp(b, u) != 0)
				fprintf(stderr, "ipckit %s: listening at %s\n",
				    cmd, b);
			rv = CLI_OK;
		}
	} else {
		rv = cli_dial(cmd, u, timeout_ms, c);
	}
	free(u);
	return rv;
}

int
cli_pattern_open(const char *cmd, const char *url, int bind, int timeout_ms,
    struct ipk_chan **c)
{
	cli_signals_install();
	int rv = pattern_open(cmd, url, bind, timeout_ms, c);
	if (rv != CLI_OK || !*c)
		return cli_signalled() ? cli_signal_exit() : rv;
	return CLI_OK;
}
