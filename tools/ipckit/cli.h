/* SPDX-License-Identifier: MIT */
/*
 * cli.h - what the sub-commands of the ipckit tool share: the command table
 * entry and small helpers (errors, option and number parsing, opening a
 * channel in bounded waits, signals).
 * Exit codes: 0 ok, 1 runtime error, 2 usage error (also a malformed URL),
 * 128+N after cleaning up on signal N (the process ends by that signal).
 */
#ifndef IPK_CLI_H
#define IPK_CLI_H

#include <stddef.h>
#include <stdint.h>
#include <getopt.h>
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
	X(pub)                                                                 \
	X(sub)                                                                 \
	X(req)                                                                 \
	X(rep)                                                                 \
	X(ls)                                                                  \
	X(stat)                                                                \
	X(rm)                                                                  \
	X(gc)

#define CLI_DECLARE(n) extern const struct cli_cmd cli_cmd_##n;
CLI_COMMANDS(CLI_DECLARE)
#undef CLI_DECLARE

/* Longest single wait of the commands' loops: a caught signal is noticed
 * within this many milliseconds even while the library waits. */
#define CLI_SLICE_MS 100

/* "ipckit CMD: URL: message" on stderr; returns CLI_ERR. */
int cli_fail(const char *cmd, const char *url, int err);
/* The same for the result of ipk_listen/ipk_dial: -EINVAL (a malformed URL
 * or option) returns CLI_USAGE, anything else CLI_ERR. */
int cli_open_fail(const char *cmd, const char *url, int err);
/* One line "ipckit CMD: message (see 'ipckit help CMD')" on stderr;
 * returns CLI_USAGE. */
int cli_usage(const struct cli_cmd *c, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
/*
 * getopt_long with GNU permutation (options anywhere, "--" ends them) that
 * reports a bad option itself in one line: returns the option, -1 at the
 * end, or '?' after printing the usage error (the caller returns
 * CLI_USAGE). `so` must start with ':' so that a missing value is told
 * apart from an unknown option.
 */
int cli_getopt(const struct cli_cmd *c, int argc, char **argv, const char *so,
    const struct option *lo);
/* Parse "8M", "4096"; -1 on garbage. */
int cli_parse_size(const char *s, uint64_t *out);
/* Parse a non-negative integer or -1; -1 return on garbage. */
int cli_parse_int(const char *s, long long min, long long max, long long *out);
/* Print help of a command to stdout. */
void cli_help(const struct cli_cmd *c);

/* Monotonic milliseconds; a deadline timeout_ms from now (-1: none); the
 * milliseconds left before it, capped at `cap` (cap when none, 0 past). */
int64_t cli_now_ms(void);
int64_t cli_deadline(long long timeout_ms);
int cli_left_ms(int64_t deadline, int cap);

/*
 * Signals: SIGINT, SIGTERM, SIGHUP and SIGPIPE set a flag (no SA_RESTART)
 * that the loops notice between waits of at most CLI_SLICE_MS; nothing is
 * done in the handler. A signal ignored at start-up stays ignored.
 * cli_signalled() is the signal caught, or 0. cli_signal_exit() ends the
 * process by that signal with its default action, so the shell sees 128+N; it
 * returns 128+N only if that failed.
 */
void cli_signals_install(void);
int cli_signalled(void);
int cli_signal_exit(void);
/* Sleep ms, less when a signal is caught. */
void cli_nap(int ms);

/*
 * Open URL for a command. cli_listen binds and, when the bound address
 * differs from URL (port 0), says on stderr "ipckit CMD: listening at
 * URL". cli_accept waits up to timeout_ms (-1: forever) for a peer.
 * cli_dial tries at once; when nobody listens yet and timeout_ms is not 0,
 * it says "ipckit CMD: waiting for a listener at URL" on stderr at once and
 * retries until timeout_ms passes (-1: forever) or a signal comes.
 * Each returns CLI_OK, or the exit status after printing the error (or 0
 * with *c NULL when a signal stopped the wait: check cli_signalled()).
 */
int cli_listen(
    const char *cmd, const char *url, int verbose, struct ipk_listener **l);
int cli_accept(const char *cmd, struct ipk_listener *l, int timeout_ms,
    struct ipk_chan **c);
int
cli_dial(const char *cmd, const char *url, int timeout_ms, struct ipk_chan **c);

/*
 * Patterns (pub, sub, req, rep; `cmd` is the role): install the signal
 * handlers, then open URL with ?pattern=ROLE added (a pattern already in
 * URL must be ROLE), bound when `bind`, else dialed as cli_dial does
 * (waiting up to timeout_ms for a listener). Says the bound address on
 * standard error when it differs from URL (port 0). CLI_OK with *c, or the
 * exit status (a signal's, when one ended the wait).
 */
int cli_pattern_open(const char *cmd, const char *url, int bind, int timeout_ms,
    struct ipk_chan **c);

/* Operating commands (ls, stat, gc): names and JSON of struct ipk_objinfo. */
const char *cli_role_name(int role);
/* "root" or the uid in decimal, in a static buffer. */
const char *cli_user_name(uid_t uid);
/* A JSON string literal of s (quotes and escapes). */
void cli_json_str(FILE *f, const char *s);
/* One channel as a JSON object (no trailing newline). */
void cli_json_obj(FILE *f, const struct ipk_objinfo *o);

#endif
