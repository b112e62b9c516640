/* SPDX-License-Identifier: MIT */
/*
 * cli_fuzz.c - libFuzzer target: the ipckit command line's argument
 * parsing (command table, getopt options, number and size parsers) on
 * arbitrary argument vectors. Only vectors that cannot act are run: every
 * address must use the scheme nosuch: (the open fails), `bench` is left
 * out (it runs benchmarks), and stdin is /dev/null. The tool's output goes
 * to /dev/null unless IPK_FUZZ_VERBOSE is set.
 *
 * Input: the arguments after "ipckit", separated by NUL bytes.
 */
#include <fcntl.h>
#include <getopt.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"

int cli_main(int argc, char **argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define ARGMAX 16

/* The benchmark engine is not linked in; `bench` never runs here. */
static int
cli_no_bench(int argc, char **argv)
{
	(void)argc;
	(void)argv;
	abort();
}

const struct cli_cmd cli_cmd_bench = {
    .name = "bench",
    .run = cli_no_bench,
    .summary = "(not in this build)",
    .usage = "",
};

static char cli_rundir[] = "/tmp/ipk-cli-fuzz-XXXXXX";

static void
cli_rundir_remove(void)
{
	(void)rmdir(cli_rundir);
}

/* Safe when every word that names an address names nosuch:. */
static int
cli_harmless(char **argv, int argc)
{
	/* bench runs benchmarks; gc removes dead channels of the machine. */
	if (argc > 1 && (!strcmp(argv[1], "bench") || !strcmp(argv[1], "gc")))
		return 0;
	for (int i = 1; i < argc; i++) {
		const char *colon = strchr(argv[i], ':');
		if (colon && strncmp(argv[i], "nosuch:", 7) != 0)
			return 0;
	}
	return 1;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static int quiet = -1, null_fd, out_fd, err_fd;
	static char text[4096];
	if (quiet < 0) {
		quiet = getenv("IPK_FUZZ_VERBOSE") == NULL;
		null_fd = open("/dev/null", O_RDWR | O_CLOEXEC);
		if (null_fd < 0 || dup2(null_fd, 0) < 0)
			abort();
		out_fd = dup(1);
		err_fd = dup(2);
		/* ls/stat/rm look at an empty registry of their own, never
		 * at the machine's channels. */
		if (!mkdtemp(cli_rundir) ||
		    setenv("IPK_RUNDIR", cli_rundir, 1) < 0)
			abort();
		atexit(cli_rundir_remove);
	}
	if (size >= sizeof(text))
		return 0;
	memcpy(text, data, size);
	text[size] = '\0';
	char *argv[ARGMAX + 2];
	int argc = 0;
	argv[argc++] = "ipckit";
	for (char *p = text; p <= text + size && argc <= ARGMAX;
	     p += strlen(p) + 1)
		argv[argc++] = p;
	argv[argc] = NULL;
	if (!cli_harmless(argv, argc))
		return 0;
	/* Forget getopt's state from the last vector (optind 0 reinits). */
	static char *reset[] = {"x", NULL};
	optind = 0;
	(void)getopt(1, reset, "");
	if (quiet) {
		fflush(stdout);
		dup2(null_fd, 1);
		dup2(null_fd, 2);
	}
	int rv = cli_main(argc, argv);
	if (quiet) {
		fflush(stdout);
		fflush(stderr);
		dup2(out_fd, 1);
		dup2(err_fd, 2);
	}
	if (rv != CLI_OK && rv != CLI_ERR && rv != CLI_USAGE)
		abort();
	return 0;
}
