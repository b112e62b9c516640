/* SPDX-License-Identifier: MIT */
/*
 * cli.h - what the sub-commands of the ipckit tool share: the command table
 * entry and small helpers (die, size and duration parsing).
 * Exit codes: 0 ok, 1 runtime error, 2 usage error.
 */
#ifndef IPK_CLI_H
#define IPK_CLI_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "ipckit.h"

#define CLI_OK 0
#define CLI_ERR 1
#define CLI_USAGE 2

struct cli_cmd {
	const char *name;
	int (*run)(int argc, char **argv);
	const char *summary;
	const char *usage; /* full help text */
};

/* Every sub-command, defined in its cmd_<name>.c. */
#define CLI_COMMANDS(X)                                                        \
	X(send)                                                                \
	X(recv)                                                                \
	X(bench)                                                               \
	X(bridge)                                                              \
	X(ls)                                                                  \
	X(stat)                                                                \
	X(rm)                                                                  \
	X(gc)

#define CLI_DECLARE(n) extern const struct cli_cmd cli_cmd_##n;
CLI_COMMANDS(CLI_DECLARE)
#undef CLI_DECLARE

/* "ipckit CMD: URL: message" on stderr; returns CLI_ERR. */
int cli_fail(const char *cmd, const char *url, int err);
/* "ipckit CMD: message" + hint on stderr; returns CLI_USAGE. */
int cli_usage(const struct cli_cmd *c, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
/* Parse "8M", "4096"; -1 on garbage. */
int cli_parse_size(const char *s, uint64_t *out);
/* Parse a non-negative integer or -1; -1 return on garbage. */
int cli_parse_int(const char *s, long long min, long long max, long long *out);
/* Print help of a command to stdout. */
void cli_help(const struct cli_cmd *c);
/* Open URL as listener+accept or dialer; mode: 'l', 'd'. */
int cli_open(const char *cmd, const char *url, int mode, int timeout_ms,
    struct ipk_listener **l, struct ipk_chan **c);

/* Operating commands (ls, stat, gc): names and JSON of struct ipk_objinfo. */
const char *cli_role_name(int role);
/* "root" or the uid in decimal, in a static buffer. */
const char *cli_user_name(uid_t uid);
/* A JSON string literal of s (quotes and escapes). */
void cli_json_str(FILE *f, const char *s);
/* One channel as a JSON object (no trailing newline). */
void cli_json_obj(FILE *f, const struct ipk_objinfo *o);

#endif
