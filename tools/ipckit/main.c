/* SPDX-License-Identifier: MIT */
/*
 * main.c - the ipckit command-line tool: a table of sub-commands, each in
 * its own cmd_<name>.c. Uses only the public header.
 */
#include "cli.h"

#include <getopt.h>
#include <stdio.h>
#include <string.h>

static const struct cli_cmd *const commands[] = {
#define CLI_ENTRY(n) &cli_cmd_##n,
    CLI_COMMANDS(CLI_ENTRY)
#undef CLI_ENTRY
};
#define NCOMMANDS (sizeof(commands) / sizeof(commands[0]))

static void
main_usage(FILE *f)
{
	fprintf(f,
	    "usage: ipckit COMMAND [OPTIONS] [ARGS]\n\n"
	    "Send, receive, inspect and benchmark Linux IPC channels.\n\n"
	    "Commands:\n");
	for (size_t i = 0; i < NCOMMANDS; i++)
		fprintf(
		    f, "  %-8s %s\n", commands[i]->name, commands[i]->summary);
	fprintf(
	    f, "  %-8s %s\n", "help", "help on a command: ipckit help send");
	fprintf(f, "\nAddresses (URLs):\n");
	const char *const *s = ipk_schemes();
	for (; *s; s++) {
		unsigned caps = ipk_scheme_caps(*s);
		/* One line per scheme (CI reads the first word of each). */
		const char *missing = ipk_scheme_missing(*s);
		fprintf(f, "  %-8s%s%s%s%s%s%s%s%s%s%s%s\n", *s,
		    caps & IPK_CAP_KINSHIP ? " related processes only" : "",
		    caps & IPK_CAP_THREADS ? " threads of one process" : "",
		    caps & IPK_CAP_REMOTE ? " crosses hosts" : "",
		    caps & IPK_CAP_BROKER      ? " pub/sub through a broker"
			: caps & IPK_CAP_MULTI ? " many peers per listener"
					       : "",
		    caps & IPK_CAP_ZEROCOPY ? " zero-copy" : "",
		    caps & IPK_CAP_REATTACH ? " survives peer restart" : "",
		    caps & IPK_CAP_LOSSY ? " may lose messages" : "",
		    caps & IPK_CAP_PATTERNS ? " pub/sub req/rep push/pull"
			: (caps & (IPK_CAP_PUBSUB | IPK_CAP_BROKER)) ==
			    IPK_CAP_PUBSUB
			? " pub/sub"
			: "",
		    missing ? " (not here: " : "", missing ? missing : "",
		    missing ? ")" : "");
	}
	fprintf(f,
	    "\nOptions: --help, --version. Options of a command go anywhere "
	    "after it;\n'--' ends them. Exit codes: 0 ok, 1 error, 2 usage "
	    "error or malformed\nURL, 128+N when send or recv ended by signal "
	    "N after cleaning up.\n");
}

static const struct cli_cmd *
main_find(const char *name)
{
	for (size_t i = 0; i < NCOMMANDS; i++)
		if (!strcmp(commands[i]->name, name))
			return commands[i];
	return NULL;
}

int
main(int argc, char **argv)
{
	if (argc < 2) {
		main_usage(stderr);
		return CLI_USAGE;
	}
	const char *cmd = argv[1];
	if (!strcmp(cmd, "--help") || !strcmp(cmd, "-h")) {
		main_usage(stdout);
		return CLI_OK;
	}
	if (!strcmp(cmd, "--version") || !strcmp(cmd, "-V")) {
		printf("ipckit %s\n", IPK_VERSION_STRING);
		return CLI_OK;
	}
	if (!strcmp(cmd, "help")) {
		if (argc < 3) {
			main_usage(stdout);
			return CLI_OK;
		}
		const struct cli_cmd *c = main_find(argv[2]);
		if (!c) {
			fprintf(
			    stderr, "ipckit help: no command '%s'\n", argv[2]);
			return CLI_USAGE;
		}
		cli_help(c);
		return CLI_OK;
	}
	const struct cli_cmd *c = main_find(cmd);
	if (!c) {
		fprintf(stderr,
		    "ipckit: no command '%s' (ipckit --help lists "
		    "them)\n",
		    cmd);
		return CLI_USAGE;
	}
	/* Each command says what is wrong with an option itself, in one
	 * line: getopt's own message would be a second one. */
	opterr = 0;
	return c->run(argc - 1, argv + 1);
}
