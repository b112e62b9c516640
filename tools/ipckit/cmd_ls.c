/* SPDX-License-Identifier: MIT */
/*
 * cmd_ls.c - ipckit ls: every channel registered in the run directories,
 * with its kernel objects, queue depth and endpoints; --all also lists IPC
 * objects found in /dev/shm, /dev/mqueue and /proc/sysvipc/msg that belong
 * to no registered channel.
 */
#include "cli.h"

#include <dirent.h>
#include <fnmatch.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

static const char ls_usage[] =
    "usage: ipckit ls [OPTIONS]\n"
    "\n"
    "List the ipckit channels of this machine (those whose run-directory\n"
    "entry the caller can read; root sees every user's): URL, mechanism,\n"
    "owner, mode, queued messages and bytes, capacity, and each endpoint\n"
    "with its pid and whether it is alive. Liveness comes from a lock the\n"
    "kernel drops when the endpoint dies, not from the pid.\n"
    "\n"
    "  -j, --json           one JSON array (unknown numbers are null)\n"
    "  -a, --all            also list IPC objects ipckit did not register\n"
    "                       (/dev/shm, /dev/mqueue, System V queues), apart;\n"
    "                       POSIX queues only where an mqueue file system\n"
    "                       is mounted (registered ones are seen without)\n"
    "  -m, --match PATTERN  only URLs matching the shell PATTERN\n"
    "  -h, --help           this text\n"
    "\n"
    "The run directory is /dev/shm/ipckit-UID, or $IPK_RUNDIR when set.\n"
    "Example: ipckit ls --json --match 'fifo:///tmp/*'\n";

struct ls_args {
	int json, all;
	const char *match;
};

/* What the walk collects: the printed channels' object names (for --all)
 * and how many were printed. */
struct ls_state {
	const struct ls_args *a;
	int n;
	char **seen;
	size_t nseen, capseen;
};

static void
ls_remember(struct ls_state *st, const char *name)
{
	if (st->nseen == st->capseen) {
		size_t cap = st->capseen ? 2 * st->capseen : 64;
		char **p = realloc(st->seen, cap * sizeof(*p));
		if (!p)
			return;
		st->seen = p;
		st->capseen = cap;
	}
	char *s = strdup(name);
	if (s)
		st->seen[st->nseen++] = s;
}

/* Is `name` one of a registered channel's objects, or a companion of one
 * ("/dev/shm/x.bell0" of "/dev/shm/x"; "msqid 3" of "msqid 3 (key ...)")? */
static int
ls_seen(const struct ls_state *st, const char *name)
{
	size_t n = strlen(name);
	for (size_t i = 0; i < st->nseen; i++) {
		const char *s = st->seen[i];
		size_t m = strlen(s);
		if (m <= n && !strncmp(name, s, m) &&
		    (name[m] == '\0' || name[m] == '.'))
			return 1;
		if (n < m && !strncmp(s, name, n) && s[n] == ' ')
			return 1;
	}
	return 0;
}

static void
ls_num(char *buf, size_t n, int64_t a, int64_t b)
{
	char x[24] = "-", y[24] = "-";
	if (a >= 0)
		snprintf(x, sizeof(x), "%lld", (long long)a);
	if (b >= 0)
		snprintf(y, sizeof(y), "%lld", (long long)b);
	snprintf(buf, n, "%s/%s", x, y);
}

static int
ls_one(const struct ipk_objinfo *o, void *arg)
{
	struct ls_state *st = arg;
	if (st->a->match && fnmatch(st->a->match, o->url, 0) != 0)
		return 0;
	for (int i = 0; i < 4; i++)
		if (o->objects[i][0])
			ls_remember(st, o->objects[i]);
	if (st->a->json) {
		printf("%s\n  ", st->n ? "," : "");
		cli_json_obj(stdout, o);
		st->n++;
		return 0;
	}
	if (st->n++ == 0)
		printf("%-36s %-5s %-8s %-5s %-13s %-13s %s\n", "URL", "MECH",
		    "OWNER", "MODE", "QUEUED(m/B)", "CAP(m/B)", "ENDPOINTS");
	char q[40], c[40], mode[8] = "-";
	ls_num(q, sizeof(q), o->queued_msgs, o->queued_bytes);
	ls_num(c, sizeof(c), o->cap_msgs, o->cap_bytes);
	if (o->exists)
		snprintf(mode, sizeof(mode), "%04o", o->mode);
	printf("%-36s %-5s %-8s %-5s %-13s %-13s", o->url, o->scheme,
	    o->exists ? cli_user_name(o->uid) : "(gone)", mode, q, c);
	for (int i = 0; i < o->nep; i++) {
		printf("%s%s %d %s", i ? ", " : " ",
		    cli_role_name(o->ep[i].role), (int)o->ep[i].pid,
		    o->ep[i].alive ? "alive" : "dead");
		if (o->ep[i].lag >= 0)
			printf(" lag %lld lost %llu", (long long)o->ep[i].lag,
			    (unsigned long long)o->ep[i].stats.gaps);
	}
	if (!o->nep)
		printf(" none");
	putchar('\n');
	return 0;
}

/* One object no registered channel names. */
static void
ls_other(struct ls_state *st, const char *mech, const char *name, uid_t uid,
    unsigned mode, long long qnum)
{
	if (ls_seen(st, name))
		return;
	if (st->a->json) {
		printf("%s\n  {\"url\":null,\"mechanism\":\"%s\","
		       "\"registered\":false,\"exists\":true,\"uid\":%u,"
		       "\"owner\":",
		    st->n ? "," : "", mech, (unsigned)uid);
		cli_json_str(stdout, cli_user_name(uid));
		printf(",\"mode\":\"%04o\",", mode);
		if (qnum >= 0)
			printf("\"queued_msgs\":%lld,", qnum);
		printf("\"objects\":[");
		cli_json_str(stdout, name);
		printf("],\"endpoints\":[]}");
	} else {
		if (st->n == 0)
			printf("%-36s %-5s %-8s %s\n", "NOT REGISTERED", "MECH",
			    "OWNER", "MODE");
		printf("%-36s %-5s %-8s %04o\n", name, mech, cli_user_name(uid),
		    mode);
	}
	st->n++;
}

/* List the files of `dir`, shown under the name `shown` (a POSIX queue
 * is "/dev/mqueue/NAME" wherever its file system is mounted). */
static void
ls_scan_dir(
    struct ls_state *st, const char *dir, const char *shown, const char *mech)
{
	DIR *d = opendir(dir);
	struct dirent *de;
	char path[4096];
	struct stat sb;
	while (d && (de = readdir(d))) {
		if (de->d_name[0] == '.')
			continue;
		snprintf(path, sizeof(path), "%s/%s", dir, de->d_name);
		if (lstat(path, &sb) < 0 || S_ISDIR(sb.st_mode))
			continue;
		snprintf(path, sizeof(path), "%s/%s", shown, de->d_name);
		ls_other(st, mech, path, sb.st_uid, sb.st_mode & 07777, -1);
	}
	if (d)
		closedir(d);
}

/* Where an mqueue file system is mounted in this mount namespace
 * (/proc/self/mountinfo: "... MOUNTPOINT OPTIONS [TAGS...] - TYPE ..."),
 * or 0 when none is: the queues exist without it, but only it lists them. */
static int
ls_mqueue_dir(char *dir, size_t n)
{
	FILE *f = fopen("/proc/self/mountinfo", "r");
	char line[4096];
	int found = 0;
	while (f && !found && fgets(line, sizeof(line), f)) {
		char *sep = strstr(line, " - mqueue ");
		char mnt[4096];
		/* NOLINTNEXTLINE(cert-err34-c): the kernel's own table */
		if (sep && sscanf(line, "%*s %*s %*s %*s %4095s", mnt) == 1 &&
		    !strchr(mnt, '\\')) /* no escaped blank in the path */
			found = snprintf(dir, n, "%s", mnt) < (int)n;
	}
	if (f)
		(void)fclose(f);
	return found;
}

static void
ls_scan_sysv(struct ls_state *st)
{
	FILE *f = fopen("/proc/sysvipc/msg", "r");
	char line[512], name[64];
	if (!f)
		return;
	/* key msqid perms cbytes qnum lspid lrpid uid ... */
	while (fgets(line, sizeof(line), f)) {
		long long key, id, qnum, cbytes;
		unsigned perms, uid;
		/* the kernel's own table: fields are well-formed numbers */
		/* NOLINTNEXTLINE(cert-err34-c) */
		if (sscanf(line, "%lld %lld %o %lld %lld %*d %*d %u", &key, &id,
			&perms, &cbytes, &qnum, &uid) != 6)
			continue;
		snprintf(name, sizeof(name), "msqid %lld", id);
		ls_other(st, "sysv", name, (uid_t)uid, perms & 0777, qnum);
	}
	(void)fclose(f);
}

static int
ls_run(int argc, char **argv)
{
	static const struct option opts[] = {
	    {"json", no_argument, NULL, 'j'},
	    {"all", no_argument, NULL, 'a'},
	    {"match", required_argument, NULL, 'm'},
	    {"help", no_argument, NULL, 'h'},
	    {NULL, 0, NULL, 0},
	};
	struct ls_args a = {0};
	int ch;
	optind = 1;
	while (
	    (ch = cli_getopt(&cli_cmd_ls, argc, argv, ":jam:h", opts)) != -1) {
		switch (ch) {
		case 'j':
			a.json = 1;
			break;
		case 'a':
			a.all = 1;
			break;
		case 'm':
			a.match = optarg;
			break;
		case 'h':
			cli_help(&cli_cmd_ls);
			return CLI_OK;
		default:
			return CLI_USAGE;
		}
	}
	if (optind < argc)
		return cli_usage(
		    &cli_cmd_ls, "unexpected argument '%s'", argv[optind]);
	struct ls_state st = {.a = &a};
	if (a.json)
		printf("[");
	int rv = ipk_list(ls_one, &st);
	if (rv >= 0 && a.all) {
		int before = st.n;
		if (!a.json && st.n)
			putchar('\n');
		st.n = a.json ? st.n : 0;
		char mqdir[4096];
		ls_scan_dir(&st, "/dev/shm", "/dev/shm", "shm");
		if (ls_mqueue_dir(mqdir, sizeof(mqdir)))
			ls_scan_dir(&st, mqdir, "/dev/mqueue", "mq");
		else
			fprintf(stderr,
			    "ipckit ls: POSIX queues that no "
			    "channel registers are not listed: no "
			    "mqueue file system is mounted (mount "
			    "-t mqueue none /dev/mqueue)\n");
		ls_scan_sysv(&st);
		if (!a.json)
			st.n += before;
	}
	if (a.json)
		printf("%s]\n", st.n ? "\n" : "");
	for (size_t i = 0; i < st.nseen; i++)
		free(st.seen[i]);
	free(st.seen);
	if (rv < 0)
		return cli_fail("ls", NULL, rv);
	return CLI_OK;
}

const struct cli_cmd cli_cmd_ls = {
    .name = "ls",
    .run = ls_run,
    .summary = "list channels, their objects and endpoints",
    .usage = ls_usage,
};
