/* SPDX-License-Identifier: MIT */
/*
 * watch_test.c - a watcher thread lstat()s every entry of the directory a
 * listener works in, in a loop, while the main thread listens and closes
 * 1,000 times under umask 000: the socket file and the FIFOs never show a
 * mode wider than 0600 (or ?mode=), the private bind directory of a unix
 * socket never one wider than 0700.
 */
#include <dirent.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <sys/stat.h>

#include "test.h"

#define WATCH_ROUNDS 1000 /* with the default mode; a quarter with ?mode= */

static char watch_dir[256];
static atomic_int watch_stop;
static atomic_uint watch_want;

struct watch_seen {
	atomic_long scans;
	atomic_int failed; /* bad[] is written */
	long files, dirs;
	char bad[700];
};

static void *
watch_loop(void *arg)
{
	struct watch_seen *w = arg;
	while (!atomic_load(&watch_stop) && !atomic_load(&w->failed)) {
		DIR *d = opendir(watch_dir);
		if (!d)
			break;
		unsigned want = atomic_load(&watch_want);
		for (struct dirent *e; (e = readdir(d));) {
			char p[600];
			struct stat st;
			if (e->d_name[0] == '.' &&
			    (!e->d_name[1] ||
				(e->d_name[1] == '.' && !e->d_name[2])))
				continue;
			snprintf(p, sizeof(p), "%s/%s", watch_dir, e->d_name);
			if (lstat(p, &st) < 0)
				continue; /* gone between readdir and lstat */
			unsigned m = (unsigned)(st.st_mode & 07777);
			unsigned lim = S_ISDIR(st.st_mode) ? 0700 : want;
			if (S_ISDIR(st.st_mode))
				w->dirs++;
			else
				w->files++;
			if (m & ~lim) {
				snprintf(w->bad, sizeof(w->bad),
				    "%s had mode "
				    "%04o (at most %04o allowed)",
				    p, m, lim);
				atomic_store(&w->failed, 1);
			}
		}
		closedir(d);
		atomic_fetch_add(&w->scans, 1);
	}
	return NULL;
}

static void
watch_cleanup(void)
{
	char cmd[300];
	if (!watch_dir[0])
		return;
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", watch_dir);
	if (system(cmd) != 0)
		fprintf(stderr, "could not remove %s\n", watch_dir);
}

static void
watch_run(const char *scheme, const char *mode)
{
	struct watch_seen w = {0};
	pthread_t th;
	char url[400];
	unsigned want = mode ? (unsigned)strtoul(mode, NULL, 8) : 0600;
	snprintf(url, sizeof(url), "%s://%s/x%s%s", scheme, watch_dir,
	    mode ? "?mode=" : "", mode ? mode : "");
	atomic_store(&watch_want, want);
	atomic_store(&watch_stop, 0);
	T_ASSERT(pthread_create(&th, NULL, watch_loop, &w) == 0);
	/* The watcher is running before the first listen (bounded wait). */
	int64_t ready = t_now_ns() + 10 * 1000000000LL;
	while (atomic_load(&w.scans) == 0 && t_now_ns() < ready)
		sched_yield();
	umask(0);
	int64_t t0 = t_now_ns();
	int rounds = mode ? WATCH_ROUNDS / 4 : WATCH_ROUNDS;
	for (int i = 0; i < rounds && !atomic_load(&w.failed); i++) {
		struct ipk_listener *l;
		int rv = ipk_listen(url, NULL, &l);
		if (rv != 0) {
			atomic_store(&watch_stop, 1);
			pthread_join(th, NULL);
			T_FAILF("%s: listen %d: %s", url, i, ipk_strerror(rv));
		}
		T_OK(ipk_listener_close(l));
	}
	atomic_store(&watch_stop, 1);
	pthread_join(th, NULL);
	umask(022);
	if (w.bad[0])
		T_FAILF("%s: %s", url, w.bad);
	T_ASSERT(atomic_load(&w.scans) > 0);
	printf("%-5s mode %04o: %d listens in %.0f ms; %ld scans saw %ld "
	       "files and %ld private directories, none wider\n",
	    scheme, want, rounds, t_ms_since(t0), (long)atomic_load(&w.scans),
	    w.files, w.dirs);
}

int
main(void)
{
	t_watchdog(100);
	snprintf(watch_dir, sizeof(watch_dir), "/tmp/%s-w", t_unique());
	T_ASSERT(mkdir(watch_dir, 0755) == 0);
	t_cleanup_hook = watch_cleanup;
	int fds = t_count_fds();
	watch_run("unix", NULL);
	watch_run("unix", "0640");
	watch_run("fifo", NULL);
	watch_run("fifo", "0640");
	T_EQ(t_count_fds(), fds);
	DIR *d = opendir(watch_dir);
	T_ASSERT(d);
	for (struct dirent *e; (e = readdir(d));)
		if (strcmp(e->d_name, ".") && strcmp(e->d_name, ".."))
			T_FAILF("left behind: %s/%s", watch_dir, e->d_name);
	closedir(d);
	T_ASSERT(rmdir(watch_dir) == 0);
	return T_PASS;
}
