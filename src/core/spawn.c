/* SPDX-License-Identifier: MIT */
/*
 * spawn.c - giving a related process a channel (the article's anonymous
 * pipe needs kinship): ipk_spawn starts a program with a connected pipe
 * channel announced in the environment, ipk_pair makes two ends for fork.
 */
#include "core/internal.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define SPAWN_ENV "IPK_PIPE"

extern char **environ;

static int
spawn_dial(int rfd, int wfd, int gfd, struct ipk_chan **out)
{
	char url[96];
	snprintf(url, sizeof(url), "pipe:?rfd=%d&wfd=%d&gfd=%d", rfd, wfd, gfd);
	return ipk_dial(url, NULL, out);
}

/* Two pipes: in[0] reads what the other side writes into in[1], etc. */
static int
spawn_pipes(int a[2], int b[2])
{
	if (pipe2(a, O_CLOEXEC) < 0)
		return -errno;
	if (pipe2(b, O_CLOEXEC) < 0) {
		int e = -errno;
		close(a[0]);
		close(a[1]);
		return e;
	}
	return 0;
}

static void
spawn_close4(int a[2], int b[2])
{
	ipk__close_fd(&a[0]);
	ipk__close_fd(&a[1]);
	ipk__close_fd(&b[0]);
	ipk__close_fd(&b[1]);
}

int
ipk_pair(struct ipk_chan **a, struct ipk_chan **b)
{
	ipk__err_clear();
	if (!a || !b)
		return ipk__err(-EINVAL, "pair: NULL out-parameter");
	*a = *b = NULL;
	int ab[2], ba[2]; /* a writes ab[1], b reads ab[0]; and back */
	int rv = spawn_pipes(ab, ba);
	if (rv < 0)
		return rv;
	int ga = fcntl(ab[0], F_DUPFD_CLOEXEC, 3);
	int gb = fcntl(ba[0], F_DUPFD_CLOEXEC, 3);
	if (ga < 0 || gb < 0) {
		rv = -errno;
		goto err;
	}
	if ((rv = spawn_dial(ba[0], ab[1], ga, a)) < 0)
		goto err;
	ba[0] = ab[1] = ga = -1; /* owned by *a now */
	if ((rv = spawn_dial(ab[0], ba[1], gb, b)) < 0)
		goto err;
	return 0;
err:
	ipk_close(*a);
	*a = NULL;
	spawn_close4(ab, ba);
	ipk__close_fd(&ga);
	ipk__close_fd(&gb);
	return rv;
}

int
ipk_spawn(char *const argv[], struct ipk_chan **out, pid_t *pid)
{
	ipk__err_clear();
	if (!out)
		return ipk__err(-EINVAL, "spawn: out is NULL");
	*out = NULL;
	if (!argv || !argv[0])
		return ipk__err(-EINVAL, "spawn: empty argv");
	int pc[2], cp[2]; /* parent->child, child->parent */
	int rv = spawn_pipes(pc, cp);
	if (rv < 0)
		return rv;
	int gp = fcntl(pc[0], F_DUPFD_CLOEXEC, 3); /* parent's guard */
	if (gp < 0) {
		rv = -errno;
		spawn_close4(pc, cp);
		return rv;
	}

	/* The child's three descriptors keep their numbers; adddup2(fd, fd)
	 * clears close-on-exec in the child only (POSIX.1-2008 TC2). */
	posix_spawn_file_actions_t fa;
	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_adddup2(&fa, pc[0], pc[0]);
	posix_spawn_file_actions_adddup2(&fa, cp[1], cp[1]);
	posix_spawn_file_actions_adddup2(&fa, cp[0], cp[0]);

	/* environ plus IPK_PIPE=r,w,g (replacing an inherited one). */
	size_t n = 0;
	while (environ[n])
		n++;
	char **env = ipk__calloc(n + 2, sizeof(char *));
	char var[64];
	if (!env) {
		rv = -ENOMEM;
		goto out;
	}
	size_t k = 0;
	for (size_t i = 0; i < n; i++)
		if (strncmp(environ[i], SPAWN_ENV "=", sizeof(SPAWN_ENV)) != 0)
			env[k++] = environ[i];
	snprintf(var, sizeof(var), SPAWN_ENV "=%d,%d,%d", pc[0], cp[1], cp[0]);
	env[k++] = var;
	env[k] = NULL;

	pid_t child;
	rv = -posix_spawnp(&child, argv[0], &fa, NULL, argv, env);
	ipk__free(env);
	if (rv < 0) {
		ipk__err(rv, "spawn: cannot start '%s'", argv[0]);
		goto out;
	}
	ipk__close_fd(&pc[0]);
	ipk__close_fd(&cp[1]);
	if ((rv = spawn_dial(cp[0], pc[1], gp, out)) < 0)
		goto out; /* the child sees EOF and ends its channel */
	cp[0] = pc[1] = gp = -1;
	if (pid)
		*pid = child;
out:
	posix_spawn_file_actions_destroy(&fa);
	spawn_close4(pc, cp);
	ipk__close_fd(&gp);
	return rv;
}

int
ipk_dial_env(struct ipk_chan **out)
{
	ipk__err_clear();
	if (!out)
		return ipk__err(-EINVAL, "dial_env: out is NULL");
	*out = NULL;
	const char *s = getenv(SPAWN_ENV);
	long v[3];
	const char *p = s;
	if (!s)
		return ipk__err(-ENOENT,
		    "this process was not started by "
		    "ipk_spawn (no " SPAWN_ENV " in the environment)");
	/* "R,W,G": three descriptor numbers, nothing else */
	for (int i = 0; i < 3; i++) {
		char *end;
		errno = 0;
		v[i] = *p >= '0' && *p <= '9' ? strtol(p, &end, 10) : -1;
		if (v[i] < 0 || v[i] > INT_MAX || errno ||
		    *end != (i < 2 ? ',' : '\0'))
			return ipk__err(
			    -EINVAL, SPAWN_ENV "='%s' is malformed", s);
		p = end + 1;
	}
	int r = (int)v[0], w = (int)v[1], g = (int)v[2];
	int rv = spawn_dial(r, w, g, out);
	if (rv == 0)
		unsetenv(SPAWN_ENV); /* grandchildren must not adopt them */
	return rv;
}
