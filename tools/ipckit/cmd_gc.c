/* SPDX-License-Identifier: MIT */
/*
 * cmd_gc.c - ipckit gc: remove every registered channel whose endpoints
 * are all dead (what a crash or ?keep=1 left behind).
 */
#include "cli.h"

#include <errno.h>
#include <fnmatch.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char gc_usage[] =
    "usage: ipckit gc [OPTIONS]\n"
    "\n"
    "Remove the kernel objects and run-directory entry of every registered\n"
    "channel none of whose endpoints is alive (the kernel dropped each\n"
    "endpoint's lock: it exited or was killed). A channel with a live\n"
    "endpoint is never touched.\n"
    "\n"
    "  -n, --dry-run        print what would be removed, remove nothing\n"
    "  -m, --match PATTERN  only URLs matching the shell PATTERN\n"
    "  -q, --quiet          print nothing\n"
    "  -h, --help           this text\n"
    "\n"
    "Example: ipckit gc --dry-run --match 'shm:///*'\n";

struct gc_state {
	const char *match;
	char **url;
	size_t n, cap;
};

static int
gc_pick(const struct ipk_objinfo *o, void *arg)
{
	struct gc_state *st = arg;
	if (o->nalive > 0 || (st->match && fnmatch(st->match, o->url, 0)))
		return 0;
	if (st->n == st->cap) {
		size_t cap = st->cap ? 2 * st->cap : 16;
		char **p = realloc(st->url, cap * sizeof(*p));
		if (!p)
			return -1;
		st->url = p;
		st->cap = cap;
	}
	if (!(st->url[st->n] = strdup(o->url)))
		return -1;
	st->n++;
	return 0;
}

static int
gc_run(int argc, char **argv)
{
	static const struct option opts[] = {
	    {"dry-run", no_argument, NULL, 'n'},
	    {"match", required_argument, NULL, 'm'},
	    {"quiet", no_argument, NULL, 'q'},
	    {"help", no_argument, NULL, 'h'},
	    {NULL, 0, NULL, 0},
	};
	struct gc_state st = {0};
	int dry = 0, quiet = 0, ch;
	optind = 1;
	while (
	    (ch = cli_getopt(&cli_cmd_gc, argc, argv, ":nm:qh", opts)) != -1) {
		switch (ch) {
		case 'n':
			dry = 1;
			break;
		case 'm':
			st.match = optarg;
			break;
		case 'q':
			quiet = 1;
			break;
		case 'h':
			cli_help(&cli_cmd_gc);
			return CLI_OK;
		default:
			return CLI_USAGE;
		}
	}
	if (optind < argc)
		return cli_usage(
		    &cli_cmd_gc, "unexpected argument '%s'", argv[optind]);
	/* Collect first, remove after: the walk reads the directory that
	 * removal changes. ipk_remove checks liveness again. */
	int rv = ipk_list(gc_pick, &st), status = CLI_OK;
	if (rv != 0)
		status = cli_fail("gc", NULL, rv < 0 ? rv : -ENOMEM);
	for (size_t i = 0; i < st.n; i++) {
		if (dry) {
			if (!quiet)
				printf("would remove %s\n", st.url[i]);
		} else if ((rv = ipk_remove(st.url[i], 0)) < 0) {
			status = cli_fail("gc", st.url[i], rv);
		} else if (!quiet) {
			printf("removed %s\n", st.url[i]);
		}
		free(st.url[i]);
	}
	free(st.url);
	return status;
}

const struct cli_cmd cli_cmd_gc = {
    .name = "gc",
    .run = gc_run,
    .summary = "remove channels whose every endpoint is dead",
    .usage = gc_usage,
};
