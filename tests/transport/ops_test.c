/* SPDX-License-Identifier: MIT */
/*
 * ops_test.c - the run-directory registry seen from outside, over fifo,
 * unix, mq, sysv and shm: ipk_inspect shows the counters a forked dialer
 * moves, ipk_remove refuses while an endpoint lives, a SIGKILLed dialer is
 * dead at once, a channel whose endpoints are all gone is removed with its
 * kernel objects, and objects ipckit did not make are left alone. Runs in
 * a run directory of its own (IPK_RUNDIR).
 */
#include <fcntl.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include "test.h"

static const char *const schemes[] = {"fifo", "unix", "mq", "sysv", "shm"};
#define NSCHEMES (sizeof(schemes) / sizeof(schemes[0]))
static char rundir[64];
static pid_t kid;

static void
url_of(char *out, size_t n, const char *scheme, const char *query)
{
	int dir = strcmp(scheme, "mq") && strcmp(scheme, "shm");
	snprintf(out, n, "%s://%s/%s-%s%s", scheme, dir ? "/tmp" : "",
	    t_unique(), scheme, query);
}

static void
cleanup(void)
{
	char u[256];
	if (kid > 0) {
		kill(kid, SIGKILL);
		waitpid(kid, NULL, 0);
	}
	for (size_t i = 0; i < NSCHEMES; i++) {
		url_of(u, sizeof(u), schemes[i], "");
		(void)ipk_remove(u, IPK_REMOVE_FORCE);
	}
	snprintf(u, sizeof(u), "/tmp/%s-foreign", t_unique());
	unlink(u);
	if (rundir[0]) {
		char cmd[128];
		snprintf(cmd, sizeof(cmd), "rm -rf '%s'", rundir);
		if (system(cmd) != 0)
			fprintf(stderr, "could not remove %s\n", rundir);
	}
}

static const struct ipk_endpoint *
role(const struct ipk_objinfo *o, int r)
{
	for (int i = 0; i < o->nep; i++)
		if (o->ep[i].role == r)
			return &o->ep[i];
	T_FAILF("%s: no endpoint of role %d", o->url, r);
	return NULL;
}

static int
list_find(const struct ipk_objinfo *o, void *arg)
{
	return strcmp(o->url, arg) == 0;
}

static void
one(const char *scheme)
{
	char u[256], plain[256];
	url_of(u, sizeof(u), scheme, "?keep=1");
	url_of(plain, sizeof(plain), scheme, "");
	struct ipk_listener *l;
	struct ipk_chan *c;
	int ready[2], go[2];
	T_OK(ipk_listen(u, NULL, &l));
	T_ASSERT(pipe(ready) == 0 && pipe(go) == 0);
	kid = fork();
	T_ASSERT(kid >= 0);
	if (kid == 0) {
		struct ipk_opts o = {.timeout_ms = 5000};
		struct ipk_chan *d;
		char b = 1;
		t_cleanup_hook = NULL;
		if (ipk_dial(plain, &o, &d) < 0)
			_exit(1);
		for (int i = 0; i < 3; i++)
			if (ipk_send(d, "0123456789", 10, 1, 5000) < 0)
				_exit(2);
		if (write(ready[1], &b, 1) != 1)
			_exit(3);
		if (read(go[0], &b, 1) < 0) /* blocks until killed */
			_exit(4);
		_exit(0);
	}
	T_OK(ipk_accept(l, 5000, &c));
	char buf[16], b;
	size_t len;
	for (int i = 0; i < 3; i++)
		T_OK(ipk_recv(c, buf, sizeof(buf), &len, NULL, 5000));
	T_EQ(read(ready[0], &b, 1), 1);

	/* Alive, counters read from outside. */
	struct ipk_objinfo o;
	T_OK(ipk_inspect(plain, &o));
	T_EQ(o.registered, 1);
	T_EQ(o.exists, 1);
	T_EQ(o.nalive, 3);
	T_ASSERT(strcmp(o.url, u) == 0);
	const struct ipk_endpoint *e = role(&o, IPK_ROLE_DIALER);
	T_EQ(e->pid, kid);
	T_EQ(e->alive, 1);
	T_EQ(e->stats.msgs_sent, 3);
	T_EQ(e->stats.bytes_sent, 30);
	T_EQ(role(&o, IPK_ROLE_ACCEPTED)->stats.msgs_recv, 3);
	T_EQ(role(&o, IPK_ROLE_LISTENER)->alive, 1);
	T_EQ(ipk_list(list_find, u), 1);
	T_ERR(ipk_remove(plain, 0), -EBUSY);

	/* SIGKILL the dialer: dead at once, its last counters kept. */
	T_EQ(kill(kid, SIGKILL), 0);
	T_EQ(waitpid(kid, NULL, 0), kid);
	kid = 0;
	T_OK(ipk_inspect(plain, &o));
	e = role(&o, IPK_ROLE_DIALER);
	T_EQ(e->alive, 0);
	T_EQ(e->stats.msgs_sent, 3);
	T_EQ(o.nalive, 2);
	T_ERR(ipk_remove(plain, 0), -EBUSY);

	/* Every endpoint gone (?keep=1 leaves the objects): removable. */
	ipk_close(c);
	ipk_listener_close(l);
	T_OK(ipk_inspect(plain, &o));
	T_EQ(o.nalive, 0);
	T_EQ(o.exists, 1);
	char obj[256];
	snprintf(obj, sizeof(obj), "%s", o.objects[0]);
	T_OK(ipk_remove(plain, 0));
	T_ERR(ipk_inspect(plain, &o), -ENOENT);
	T_EQ(ipk_list(list_find, u), 0);
	if (obj[0] == '/') {
		struct stat st;
		if (t_obj_stat(obj, &st) == 0)
			T_FAILF("%s: %s left after ipk_remove", scheme, obj);
	}
	close(ready[0]);
	close(ready[1]);
	close(go[0]);
	close(go[1]);
}

int
main(void)
{
	t_cleanup_hook = cleanup;
	snprintf(rundir, sizeof(rundir), "/tmp/ipkt-rd-XXXXXX");
	T_ASSERT(mkdtemp(rundir));
	T_ASSERT(setenv("IPK_RUNDIR", rundir, 1) == 0);
	for (size_t i = 0; i < NSCHEMES; i++)
		one(schemes[i]);

	/* A FIFO ipckit did not make is neither listed nor removed. */
	char path[128], u[160];
	snprintf(path, sizeof(path), "/tmp/%s-foreign", t_unique());
	snprintf(u, sizeof(u), "fifo://%s", path);
	T_ASSERT(mkfifo(path, 0600) == 0);
	T_ERR(ipk_remove(u, 0), IPK_EFOREIGN);
	T_ERR(ipk_remove(u, IPK_REMOVE_FORCE), IPK_EFOREIGN);
	T_ASSERT(access(path, F_OK) == 0);
	T_EQ(ipk_list(list_find, u), 0);
	cleanup();
	return T_PASS;
}
