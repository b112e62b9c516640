/* SPDX-License-Identifier: MIT */
/*
 * replay.c - runs a fuzz target as a plain program: every file of the
 * corpus directories (or single files) named on the command line is fed to
 * LLVMFuzzerTestOneInput once, in name order. The targets check their own
 * answers and abort on a wrong one, so a corpus becomes a regression test
 * that any C compiler builds; libFuzzer builds (make fuzz) stay for the
 * search itself. The input being run is named if the target crashes.
 *
 * Usage: <target>_replay DIR|FILE...   (exit 0: every input ran)
 */
#include <dirent.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static char replay_cur[4096];

/* Name the input that crashed, then die of the same signal. */
static void
replay_crash(int sig)
{
	static const char pre[] = "replay: crashed on input ";
	(void)!write(2, pre, sizeof(pre) - 1);
	(void)!write(2, replay_cur, strlen(replay_cur));
	(void)!write(2, "\n", 1);
	signal(sig, SIG_DFL);
	raise(sig);
}

static int
replay_file(const char *path)
{
	FILE *f = fopen(path, "rb");
	if (!f) {
		perror(path);
		return -1;
	}
	uint8_t *buf = NULL;
	size_t len = 0, cap = 0, n;
	do {
		if (len == cap) {
			cap = cap ? 2 * cap : 4096;
			uint8_t *p = realloc(buf, cap);
			if (!p) {
				fprintf(stderr, "%s: out of memory\n", path);
				free(buf);
				(void)fclose(f);
				return -1;
			}
			buf = p;
		}
		n = fread(buf + len, 1, cap - len, f);
		len += n;
	} while (n > 0);
	int bad = ferror(f);
	(void)fclose(f);
	if (bad) {
		fprintf(stderr, "%s: read error\n", path);
		free(buf);
		return -1;
	}
	snprintf(replay_cur, sizeof(replay_cur), "%s", path);
	(void)LLVMFuzzerTestOneInput(buf, len);
	free(buf);
	return 1;
}

static int
replay_name_cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Every regular file of dir, in name order; the count or -1. */
static int
replay_dir(const char *dir)
{
	DIR *d = opendir(dir);
	if (!d) {
		perror(dir);
		return -1;
	}
	char **names = NULL;
	size_t nn = 0, cap = 0;
	int rv = 0;
	for (struct dirent *e; rv == 0 && (e = readdir(d));) {
		if (e->d_name[0] == '.')
			continue;
		if (nn == cap) {
			cap = cap ? 2 * cap : 256;
			char **p = realloc(names, cap * sizeof(*p));
			if (!p) {
				rv = -1;
				break;
			}
			names = p;
		}
		size_t l = strlen(dir) + strlen(e->d_name) + 2;
		if (!(names[nn] = malloc(l))) {
			rv = -1;
			break;
		}
		snprintf(names[nn++], l, "%s/%s", dir, e->d_name);
	}
	closedir(d);
	if (nn)
		qsort(names, nn, sizeof(*names), replay_name_cmp);
	int count = 0;
	for (size_t i = 0; i < nn; i++) {
		struct stat st;
		if (rv == 0 && stat(names[i], &st) == 0 &&
		    S_ISREG(st.st_mode)) {
			int r = replay_file(names[i]);
			if (r < 0)
				rv = -1;
			else
				count += r;
		}
		free(names[i]);
	}
	free(names);
	return rv < 0 ? -1 : count;
}

int
main(int argc, char **argv)
{
	if (argc < 2) {
		fprintf(stderr, "usage: %s DIR|FILE...\n", argv[0]);
		return 2;
	}
	static const int sigs[] = {SIGABRT, SIGSEGV, SIGBUS, SIGFPE, SIGILL};
	for (size_t i = 0; i < sizeof(sigs) / sizeof(sigs[0]); i++)
		signal(sigs[i], replay_crash);
	int total = 0;
	for (int i = 1; i < argc; i++) {
		struct stat st;
		int n = stat(argv[i], &st) == 0 && S_ISDIR(st.st_mode)
		    ? replay_dir(argv[i])
		    : replay_file(argv[i]);
		if (n < 0)
			return 1;
		total += n;
	}
	if (total == 0) {
		fprintf(stderr, "replay: no input found in the corpus\n");
		return 1;
	}
	printf("replay: %d inputs, every answer as expected\n", total);
	return 0;
}
