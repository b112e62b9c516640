/* SPDX-License-Identifier: MIT */
/*
 * subj_mqtt.c - ipckit's mqtt:// through a mosquitto broker this row starts
 * on 127.0.0.1 and a free port (and stops after it), beside the tcp and
 * nng/tcp rows: the measuring side publishes to topic A and subscribes to
 * B, the peer subscribes to A and publishes what arrives to B, so a round
 * trip crosses the broker twice. One row per QoS (0: fire and forget, 1:
 * every message acknowledged by the broker); mqtts is listed, not measured
 * (it needs a certificate for the broker). Without the mosquitto program or
 * the optional part libipckit-mqtt, the rows say which is missing.
 */
#include "bench.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

struct mqb_state {
	pid_t broker;
	int port;
	char dir[64];
	struct ipk_chan *tx, *rx; /* this side's pub and sub */
};

static const char *
mqb_program(void)
{
	static const char *const where[] = {"/usr/sbin/mosquitto",
	    "/usr/local/sbin/mosquitto", "/usr/bin/mosquitto",
	    "/usr/local/bin/mosquitto", NULL};
	for (const char *const *p = where; *p; p++)
		if (access(*p, X_OK) == 0)
			return *p;
	return NULL;
}

static int
mqb_port_probe(int port, int bind_it)
{
	int s = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (s < 0)
		return -1;
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(port)};
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	socklen_t n = sizeof(a);
	int rv;
	if (bind_it)
		rv = bind(s, (struct sockaddr *)&a, sizeof(a)) == 0 &&
			getsockname(s, (struct sockaddr *)&a, &n) == 0
		    ? ntohs(a.sin_port)
		    : -1;
	else
		rv = connect(s, (struct sockaddr *)&a, sizeof(a)) == 0;
	close(s);
	return rv;
}

static int
mqb_prepare(struct bench_conn *c)
{
	struct mqb_state *st = calloc(1, sizeof(*st));
	if (!st)
		return bench_fail(c, -ENOMEM, "out of memory");
	c->p = st;
	snprintf(st->dir, sizeof(st->dir), "/tmp/ipkb-mqtt-XXXXXX");
	if (!mkdtemp(st->dir)) {
		st->dir[0] = 0;
		return bench_fail(c, -errno, "mkdtemp: %s", strerror(errno));
	}
	if ((st->port = mqb_port_probe(0, 1)) <= 0)
		return bench_fail(c, -EADDRNOTAVAIL, "no free port");
	char conf[128];
	snprintf(conf, sizeof(conf), "%s/mosquitto.conf", st->dir);
	FILE *f = fopen(conf, "w");
	if (!f)
		return bench_fail(c, -errno, "%s: %s", conf, strerror(errno));
	struct passwd *pw = getpwuid(getuid());
	fprintf(f,
	    "listener %d 127.0.0.1\nallow_anonymous true\n"
	    "max_queued_messages 0\nmax_inflight_messages 0\n%s%s\n",
	    st->port, pw ? "user " : "", pw ? pw->pw_name : "");
	fclose(f);
	pid_t p = fork();
	if (p < 0)
		return bench_fail(c, -errno, "fork: %s", strerror(errno));
	if (p == 0) {
		prctl(PR_SET_PDEATHSIG, SIGKILL); /* dies with its row */
		int fd = open("/dev/null", O_RDWR);
		if (fd >= 0) {
			dup2(fd, 0);
			dup2(fd, 1);
			dup2(fd, 2);
		}
		execl(mqb_program(), "mosquitto", "-c", conf, (char *)NULL);
		_exit(127);
	}
	st->broker = p;
	int64_t end = bench_now() + 5000000000ll;
	while (mqb_port_probe(st->port, 0) != 1) {
		if (waitpid(p, NULL, WNOHANG) == p) {
			st->broker = 0;
			return bench_fail(
			    c, -ECHILD, "mosquitto ended at start");
		}
		if (bench_now() > end)
			return bench_fail(c, -ETIMEDOUT,
			    "mosquitto did not listen within 5 s");
		(void)poll(NULL, 0, 5);
	}
	return 0;
}

/* Open this side's pub to `out` and sub to `in` under base. */
static int
mqb_open(
    struct bench_conn *c, const char *base, const char *in, const char *out)
{
	struct mqb_state *st = c->p;
	char u[320];
	const char *q = strchr(base, '?');
	int blen = q ? (int)(q - base) : (int)strlen(base);
	/* A deep queue: the stream measures the broker, not our window. */
	snprintf(u, sizeof(u), "%.*s/%s%s&pattern=sub&queue=65536", blen, base,
	    in, q ? q : "?");
	int rv = ipk_dial(u, NULL, &st->rx);
	if (rv < 0)
		return bench_fail(c, rv, "%s: %s", u, ipk_strerror(rv));
	snprintf(u, sizeof(u), "%.*s/%s%s&pattern=pub&queue=8192", blen, base,
	    out, q ? q : "?");
	if ((rv = ipk_dial(u, NULL, &st->tx)) < 0)
		return bench_fail(c, rv, "%s: %s", u, ipk_strerror(rv));
	c->max_msg = ipk_max_msg(st->tx);
	snprintf(c->limit, sizeof(c->limit), "ipk_max_msg() of the channel");
	c->pollable = ipk_fd(st->rx) >= 0;
	return 0;
}

static int
mqb_listen(struct bench_conn *c, char *url, size_t cap)
{
	struct mqb_state *st = c->p;
	static int seq;
	snprintf(url, cap, "mqtt://127.0.0.1:%d/ipkb/%ld-%d?%s", st->port,
	    (long)getpid(), ++seq, c->s->arg);
	return mqb_open(c, url, "b", "a");
}

static int
mqb_accept(struct bench_conn *c)
{
	(void)c;
	return 0; /* the peer's dial returns once subscribed */
}

static int
mqb_dial(struct bench_conn *c, const char *url)
{
	return mqb_open(c, url, "a", "b");
}

static int
mqb_send(struct bench_conn *c, const void *buf, size_t len)
{
	struct mqb_state *st = c->p;
	int rv = ipk_send(st->tx, buf, len, 0, BENCH_OP_MS);
	return rv < 0 ? bench_fail(c, rv, "send: %s", ipk_strerror(rv)) : 0;
}

static int
mqb_recv(struct bench_conn *c, void *buf, size_t len)
{
	struct mqb_state *st = c->p;
	size_t got;
	int rv = ipk_recv(st->rx, buf, len, &got, NULL, BENCH_OP_MS);
	if (rv < 0)
		return bench_fail(c, rv, "recv: %s", ipk_strerror(rv));
	return (int)got;
}

static void
mqb_close(struct bench_conn *c)
{
	struct mqb_state *st = c->p;
	if (!st)
		return;
	if (st->tx)
		(void)ipk_flush(st->tx, 1000);
	ipk_close(st->tx);
	ipk_close(st->rx);
	st->tx = st->rx = NULL;
}

static void
mqb_finish(struct bench_conn *c)
{
	struct mqb_state *st = c->p;
	if (!st)
		return;
	mqb_close(c);
	if (st->broker > 0) {
		kill(st->broker, SIGKILL);
		while (waitpid(st->broker, NULL, 0) < 0 && errno == EINTR)
			;
	}
	if (st->dir[0]) {
		char path[128];
		snprintf(path, sizeof(path), "%s/mosquitto.conf", st->dir);
		unlink(path);
		rmdir(st->dir);
	}
	free(st);
	c->p = NULL;
}

static const struct bench_ops mqb_ops = {
    .prepare = mqb_prepare,
    .listen = mqb_listen,
    .accept = mqb_accept,
    .dial = mqb_dial,
    .send = mqb_send,
    .recv = mqb_recv,
    .close = mqb_close,
    .finish = mqb_finish,
};

static void
mqb_row(struct bench_subject *r, const char *name, const char *arg,
    const char *missing)
{
	memset(r, 0, sizeof(*r));
	snprintf(r->name, sizeof(r->name), "%s", name);
	snprintf(r->arg, sizeof(r->arg), "%s", arg);
	r->kind = BENCH_IPCKIT;
	r->ops = &mqb_ops;
	r->wait = "broker (network thread)";
	r->lossy = !strcmp(arg, "qos=0");
	r->exit_clean = 1;
	r->props = (struct bench_props){
	    0, 1, 1, "4+ (client, broker, client)", 1, 1, 1};
	if (missing) {
		r->status = BENCH_NOT_BUILT;
		snprintf(r->reason, sizeof(r->reason), "%s", missing);
	}
}

int
bench_subjects_mqtt(struct bench_subject *rows, int cap)
{
	if (cap < 3)
		return 0;
	const char *missing = ipk_scheme_missing("mqtt");
	if (!missing && !mqb_program())
		missing = "no broker to measure through: apt-get install "
			  "mosquitto";
	mqb_row(&rows[0], "mqtt/qos0", "qos=0", missing);
	mqb_row(&rows[1], "mqtt/qos1", "qos=1", missing);
	mqb_row(&rows[2], "mqtts", "qos=1",
	    "not measured: TLS needs a certificate for the broker "
	    "(docs/transports/mqtt.md)");
	rows[2].status = BENCH_NA;
	return 3;
}

/* "mosquitto 2.0.11" from the broker's usage text, or "" when absent. */
void
bench_mqtt_broker_version(char *buf, size_t cap)
{
	buf[0] = 0;
	const char *prog = mqb_program();
	if (!prog)
		return;
	char cmd[128];
	snprintf(cmd, sizeof(cmd), "%s -h 2>&1", prog);
	FILE *f = popen(cmd, "r");
	if (!f)
		return;
	char line[256];
	while (fgets(line, sizeof(line), f)) {
		const char *v = strstr(line, "version ");
		if (v) {
			size_t n = strcspn(v + 8, " \n");
			snprintf(buf, cap, "mosquitto %.*s", (int)n, v + 8);
			break;
		}
	}
	pclose(f);
}
