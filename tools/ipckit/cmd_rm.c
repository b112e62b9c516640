/* SPDX-License-Identifier: MIT */
/* cmd_rm.c - ipckit rm: remove channels' kernel objects by URL. */
#include "cli.h"

#include <getopt.h>
#include <stdio.h>

static const char rm_usage[] =
    "usage: ipckit rm [OPTIONS] URL...\n"
    "\n"
    "Remove the kernel objects of each channel (FIFOs, queues, segments,\n"
    "socket files, lock files) and its run-directory entry, through the\n"
    "transport that made them. A channel with a live endpoint is left\n"
    "alone unless --force; objects ipckit did not make are never touched.\n"
    "\n"
    "  -f, --force   remove even while an endpoint is alive (it keeps\n"
    "                what it has open; the names are gone)\n"
    "  -v, --verbose say what was removed\n"
    "  -h, --help    this text\n"
    "\n"
    "Exit status: 0 when every URL was removed, 1 otherwise.\n"
    "Example: ipckit rm mq:///demo\n";

static int
rm_run(int argc, char **argv)
{
	static const struct option opts[] = {
	    {"force", no_argument, NULL, 'f'},
	    {"verbose", no_argument, NULL, 'v'},
	    {"help", no_argument, NULL, 'h'},
	    {NULL, 0, NULL, 0},
	};
	unsigned flags = 0;
	int verbose = 0, ch;
	optind = 1;
	while ((ch = cli_getopt(&cli_cmd_rm, argc, argv, ":fvh", opts)) != -1) {
		switch (ch) {
		case 'f':
			flags |= IPK_REMOVE_FORCE;
			break;
		case 'v':
			verbose = 1;
			break;
		case 'h':
			cli_help(&cli_cmd_rm);
			return CLI_OK;
		default:
			return CLI_USAGE;
		}
	}
	if (optind >= argc)
		return cli_usage(&cli_cmd_rm, "missing URL");
	int status = CLI_OK;
	for (; optind < argc; optind++) {
		int rv = ipk_remove(argv[optind], flags);
		if (rv < 0 && status != CLI_USAGE)
			status = cli_open_fail("rm", argv[optind], rv);
		else if (rv < 0)
			cli_fail("rm", argv[optind], rv);
		else if (verbose)
			printf("removed %s\n", argv[optind]);
	}
	return status;
}

const struct cli_cmd cli_cmd_rm = {
    .name = "rm",
    .run = rm_run,
    .summary = "remove a channel's kernel objects",
    .usage = rm_usage,
};
