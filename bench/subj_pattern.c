/* SPDX-License-Identifier: MIT */
/*
 * subj_pattern.c - the pattern rows of ipckit bench (--patterns):
 * request/reply round trips with 1 and 8 clients, beside nng's req0/rep0
 * when it is built in, and publish/subscribe fan-out 1->1 and 1->4 (per
 * subscriber throughput, slow=block so that nothing is dropped). Every
 * party is a forked process; results come back on pipes. 64-byte
 * messages. Uses only the public header (and nng's, when present).
 */
#include "bench.h"

#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#ifdef IPK_BENCH_HAVE_NNG
#include <nng/nng.h>
#include <nng/protocol/reqrep0/rep.h>
#include <nng/protocol/reqrep0/req.h>
#endif

#define PB_MSG 64
#define PB_MAXC 8

/* What one client or subscriber reports. */
struct pb_report {
	int ok;
	char err[160];
	double seconds;
	uint64_t n;
	struct bench_hist h;
};

static void
pb_send_report(int fd, const struct pb_report *r)
{
	const char *p = (const char *)r;
	size_t done = 0;
	while (done < sizeof(*r)) {
		ssize_t w = write(fd, p + done, sizeof(*r) - done);
		if (w <= 0)
			_exit(3);
		done += (size_t)w;
	}
}

static int
pb_read_report(int fd, struct pb_report *r)
{
	char *p = (char *)r;
	size_t done = 0;
	while (done < sizeof(*r)) {
		struct pollfd pf = {fd, POLLIN, 0};
		if (poll(&pf, 1, 60000) <= 0)
			return -1;
		ssize_t n = read(fd, p + done, sizeof(*r) - done);
		if (n <= 0)
			return -1;
		done += (size_t)n;
	}
	return 0;
}

static void
pb_stop(pid_t *pids, int n)
{
	for (int i = 0; i < n; i++)
		if (pids[i] > 0) {
			kill(pids[i], SIGKILL);
			waitpid(pids[i], NULL, 0);
			pids[i] = 0;
		}
}

/* An address of scheme for this run, bound by a first process. */
static void
pb_url(const char *scheme, const char *role, char *url, size_t cap)
{
	static int seq;
	char name[64], base[300];
	snprintf(name, sizeof(name), "ipkb-pat-%ld-%d", (long)getpid(), ++seq);
	if (ipk_scheme_url(scheme, name, base, sizeof(base)) < 0)
		base[0] = '\0';
	snprintf(url, cap, "%s?pattern=%s", base, role);
}

/* --- req/rep ------------------------------------------------------------ */

/* The echo server: serve until killed; says its address on `fd`. */
static void
pb_rep_server(const char *url, int fd)
{
	struct ipk_chan *c;
	char bound[512] = {0};
	if (ipk_bind(url, NULL, &c) == 0)
		snprintf(bound, sizeof(bound), "%s", ipk_url(c));
	if (write(fd, bound, sizeof(bound)) != sizeof(bound) || !bound[0])
		_exit(1);
	unsigned char buf[PB_MSG];
	for (;;) {
		size_t n;
		if (ipk_recv(c, buf, sizeof(buf), &n, NULL, -1) == 0)
			(void)ipk_send(c, buf, n, 0, 0);
	}
}

static void
pb_req_client(const char *url, long rounds, long warmup, int fd)
{
	struct pb_report r;
	memset(&r, 0, sizeof(r));
	bench_hist_reset(&r.h);
	struct ipk_opts o = {.timeout_ms = BENCH_OP_MS};
	struct ipk_chan *c;
	int rv = ipk_dial(url, &o, &c);
	unsigned char q[PB_MSG] = {1}, a[PB_MSG];
	int64_t t0 = 0;
	for (long i = 0; rv == 0 && i < warmup + rounds; i++) {
		if (i == warmup)
			t0 = bench_now();
		int64_t s = bench_now();
		size_t n;
		if ((rv = ipk_send(c, q, sizeof(q), 0, BENCH_OP_MS)) == 0)
			rv = ipk_recv(c, a, sizeof(a), &n, NULL, BENCH_OP_MS);
		if (rv == 0 && i >= warmup)
			bench_hist_add(&r.h, (uint64_t)(bench_now() - s));
	}
	r.ok = rv == 0;
	if (rv)
		snprintf(r.err, sizeof(r.err), "%s", ipk_strerror(rv));
	r.n = (uint64_t)rounds;
	r.seconds = (double)(bench_now() - t0) / 1e9;
	pb_send_report(fd, &r);
	_exit(0);
}

#ifdef IPK_BENCH_HAVE_NNG
static void
pb_nng_server(const char *url, int fd)
{
	nng_socket s;
	char ok[512] = "nng";
	if (nng_rep0_open(&s) != 0 || nng_listen(s, url, NULL, 0) != 0)
		ok[0] = '\0';
	if (write(fd, ok, sizeof(ok)) != sizeof(ok) || !ok[0])
		_exit(1);
	for (;;) {
		nng_msg *m;
		if (nng_recvmsg(s, &m, 0) == 0 && nng_sendmsg(s, m, 0) != 0)
			nng_msg_free(m);
	}
}

static void
pb_nng_client(const char *url, long rounds, long warmup, int fd)
{
	struct pb_report r;
	memset(&r, 0, sizeof(r));
	bench_hist_reset(&r.h);
	nng_socket s;
	int rv = nng_req0_open(&s);
	if (rv == 0)
		rv = nng_dial(s, url, NULL, 0);
	nng_socket_set_ms(s, NNG_OPT_RECVTIMEO, BENCH_OP_MS);
	unsigned char q[PB_MSG] = {1}, a[PB_MSG];
	int64_t t0 = 0;
	for (long i = 0; rv == 0 && i < warmup + rounds; i++) {
		if (i == warmup)
			t0 = bench_now();
		int64_t st = bench_now();
		size_t n = sizeof(a);
		if ((rv = nng_send(s, q, sizeof(q), 0)) == 0)
			rv = nng_recv(s, a, &n, 0);
		if (rv == 0 && i >= warmup)
			bench_hist_add(&r.h, (uint64_t)(bench_now() - st));
	}
	r.ok = rv == 0;
	if (rv)
		snprintf(r.err, sizeof(r.err), "%s", nng_strerror(rv));
	r.n = (uint64_t)rounds;
	r.seconds = (double)(bench_now() - t0) / 1e9;
	pb_send_report(fd, &r);
	_exit(0);
}
#endif

/* One req/rep row: `clients` clients against one server. nng != 0: the
 * nng library at nng_url instead of ipckit at scheme. */
static void
pb_reqrep_row(FILE *out, const struct bench_cfg *cfg, const char *scheme,
    const char *nng_url, int clients)
{
	char url[600], name[48];
	pid_t pids[PB_MAXC + 1] = {0};
	int sp[2], rp[2];
	snprintf(name, sizeof(name), "reqrep/%s", nng_url ? nng_url : scheme);
	if (nng_url) {
		snprintf(name, sizeof(name), "reqrep/nng-%.3s", nng_url);
		if (!strncmp(nng_url, "ipc", 3))
			snprintf(url, sizeof(url), "ipc:///tmp/ipkb-nng-%ld",
			    (long)getpid());
		else
			snprintf(url, sizeof(url), "tcp://127.0.0.1:%d",
			    20000 + (int)(getpid() % 20000));
	} else {
		pb_url(scheme, "rep", url, sizeof(url));
	}
	if (pipe(sp) < 0 || pipe(rp) < 0)
		return;
	long rounds = cfg->rounds > 0 ? cfg->rounds / clients : 1000;
	if (rounds < 200)
		rounds = 200;
	long warmup = rounds / 10;
	(void)fflush(out);
	if ((pids[0] = fork()) == 0) {
#ifdef IPK_BENCH_HAVE_NNG
		if (nng_url)
			pb_nng_server(url, sp[1]);
#endif
		pb_rep_server(url, sp[1]);
	}
	char bound[512];
	struct pollfd pf = {sp[0], POLLIN, 0};
	if (poll(&pf, 1, 10000) <= 0 ||
	    read(sp[0], bound, sizeof(bound)) != sizeof(bound) || !bound[0]) {
		fprintf(
		    out, "%-22s %2d  server did not start\n", name, clients);
		goto out;
	}
	if (!nng_url) {
		char *q = strchr(bound, '?');
		if (q)
			*q = '\0';
		snprintf(url, sizeof(url), "%s?pattern=req", bound);
	}
	for (int i = 0; i < clients; i++)
		if ((pids[1 + i] = fork()) == 0) {
#ifdef IPK_BENCH_HAVE_NNG
			if (nng_url)
				pb_nng_client(url, rounds, warmup, rp[1]);
#endif
			pb_req_client(url, rounds, warmup, rp[1]);
		}
	struct bench_hist all;
	bench_hist_reset(&all);
	double rate = 0;
	for (int i = 0; i < clients; i++) {
		struct pb_report r;
		if (pb_read_report(rp[0], &r) < 0 || !r.ok) {
			fprintf(out, "%-22s %2d  failed: %s\n", name, clients,
			    r.err);
			goto out;
		}
		for (int b = 0; b < BENCH_HBUCKETS; b++)
			all.b[b] += r.h.b[b];
		all.count += r.h.count;
		all.sum += r.h.sum;
		all.max = r.h.max > all.max ? r.h.max : all.max;
		all.min = !all.min || r.h.min < all.min ? r.h.min : all.min;
		rate += r.seconds > 0 ? (double)r.n / r.seconds : 0;
	}
	char p50[32], p99[32];
	bench_fmt_us(p50, sizeof(p50), (double)bench_hist_quantile(&all, .5));
	bench_fmt_us(p99, sizeof(p99), (double)bench_hist_quantile(&all, .99));
	fprintf(out, "%-22s %2d  rtt p50 %10s  p99 %10s  %10.0f req/s\n", name,
	    clients, p50, p99, rate);
out:
	pb_stop(pids, clients + 1);
	close(sp[0]), close(sp[1]), close(rp[0]), close(rp[1]);
	if (nng_url && !strncmp(url, "ipc://", 6))
		unlink(url + 6);
}

/* --- pub/sub fan-out ---------------------------------------------------- */

static void
pb_subscriber(const char *url, int ready, int fd)
{
	struct pb_report r;
	memset(&r, 0, sizeof(r));
	struct ipk_opts o = {.timeout_ms = BENCH_OP_MS};
	struct ipk_chan *c;
	int rv = ipk_dial(url, &o, &c);
	if (write(ready, "r", 1) != 1)
		_exit(3);
	unsigned char buf[PB_MSG];
	int64_t t0 = 0;
	while (rv == 0) {
		size_t n;
		rv = ipk_recv(c, buf, sizeof(buf), &n, NULL, BENCH_OP_MS);
		if (rv == 0 && n == 3)
			break; /* "END" */
		if (rv == 0 && r.n++ == 0)
			t0 = bench_now();
	}
	r.seconds = (double)(bench_now() - t0) / 1e9;
	struct ipk_stats st;
	if (rv == 0 && ipk_stats(c, &st) == 0 && st.gaps)
		snprintf(r.err, sizeof(r.err), "lost %llu",
		    (unsigned long long)st.gaps);
	r.ok = rv == 0;
	if (rv)
		snprintf(r.err, sizeof(r.err), "%s", ipk_strerror(rv));
	pb_send_report(fd, &r);
	_exit(0);
}

static void
pb_fanout_row(
    FILE *out, const struct bench_cfg *cfg, const char *scheme, int subs)
{
	char url[600], name[48];
	pid_t pids[PB_MAXC] = {0};
	int rd[2], rp[2];
	struct ipk_chan *pub = NULL;
	snprintf(name, sizeof(name), "fanout/%s 1->%d", scheme, subs);
	pb_url(scheme, "pub", url, sizeof(url));
	strncat(url, "&slow=block", sizeof(url) - strlen(url) - 1);
	if (pipe(rd) < 0 || pipe(rp) < 0)
		return;
	int rv = ipk_bind(url, NULL, &pub);
	if (rv < 0) {
		fprintf(out, "%-22s     %s\n", name, ipk_strerror(rv));
		goto out;
	}
	char su[600];
	snprintf(su, sizeof(su), "%s", ipk_url(pub));
	char *q = strchr(su, '?');
	if (q)
		*q = '\0';
	strncat(su, "?pattern=sub", sizeof(su) - strlen(su) - 1);
	(void)fflush(out);
	for (int i = 0; i < subs; i++)
		if ((pids[i] = fork()) == 0)
			pb_subscriber(su, rd[1], rp[1]);
	int64_t end = bench_now() + 10000000000ll;
	for (int got = 0; got < subs && bench_now() < end;) {
		struct pollfd pf[2] = {
		    {rd[0], POLLIN, 0}, {ipk_fd(pub), POLLIN, 0}};
		(void)poll(pf, 2, 100);
		char b;
		if (pf[0].revents && read(rd[0], &b, 1) == 1)
			got++;
		struct ipk_pollitem it = {pub, IPK_POLLIN, 0};
		(void)ipk_poll(&it, 1, 0);
	}
	while (ipk_npeers(pub) < subs && bench_now() < end) {
		struct ipk_pollitem it = {pub, IPK_POLLIN, 0};
		(void)ipk_poll(&it, 1, 10);
	}
	unsigned char m[PB_MSG] = {0};
	double dur = cfg->duration_s > 0 ? cfg->duration_s * 2 : 0.4;
	int64_t t0 = bench_now(), stop = t0 + (int64_t)(dur * 1e9);
	uint64_t sent = 0;
	while (rv == 0 && bench_now() < stop)
		for (int k = 0; k < 64 && rv == 0; k++, sent++)
			rv = ipk_send(pub, m, sizeof(m), 0, BENCH_OP_MS);
	double pub_s = (double)(bench_now() - t0) / 1e9;
	if (rv == 0)
		rv = ipk_send(pub, "END", 3, 0, BENCH_OP_MS);
	if (rv == 0)
		rv = ipk_flush(pub, BENCH_OP_MS);
	if (rv < 0) {
		fprintf(
		    out, "%-22s     publisher: %s\n", name, ipk_strerror(rv));
		goto out;
	}
	double worst = -1;
	for (int i = 0; i < subs; i++) {
		struct pb_report r;
		if (pb_read_report(rp[0], &r) < 0 || !r.ok || r.err[0] ||
		    r.n != sent) {
			fprintf(out, "%-22s     subscriber failed: %s\n", name,
			    r.err[0] ? r.err : "count differs");
			goto out;
		}
		double rate = r.seconds > 0 ? (double)r.n / r.seconds : 0;
		if (worst < 0 || rate < worst)
			worst = rate;
	}
	fprintf(out,
	    "%-22s     publish %10.0f msg/s  slowest subscriber %10.0f "
	    "msg/s\n",
	    name, (double)sent / pub_s, worst);
out:
	ipk_close(pub);
	pb_stop(pids, subs);
	close(rd[0]), close(rd[1]), close(rp[0]), close(rp[1]);
}

int
bench_patterns(FILE *out, const struct bench_cfg *cfg)
{
	static const char *const schemes[] = {
	    "unix", "tcp", "nng+tcp", "nng+ipc"};
	fprintf(out, "Patterns (64 B messages; a process per party):\n");
	for (size_t i = 0; i < sizeof(schemes) / sizeof(schemes[0]); i++) {
		if (!(ipk_scheme_caps(schemes[i]) & IPK_CAP_PATTERNS))
			continue;
		pb_reqrep_row(out, cfg, schemes[i], NULL, 1);
		pb_reqrep_row(out, cfg, schemes[i], NULL, 8);
	}
#ifdef IPK_BENCH_HAVE_NNG
	pb_reqrep_row(out, cfg, NULL, "tcp", 1);
	pb_reqrep_row(out, cfg, NULL, "tcp", 8);
	pb_reqrep_row(out, cfg, NULL, "ipc", 1);
	pb_reqrep_row(out, cfg, NULL, "ipc", 8);
#else
	fprintf(out,
	    "reqrep/nng-*             not built (install libnng-dev "
	    "and rebuild)\n");
#endif
	for (size_t i = 0; i < sizeof(schemes) / sizeof(schemes[0]); i++) {
		pb_fanout_row(out, cfg, schemes[i], 1);
		pb_fanout_row(out, cfg, schemes[i], 4);
	}
	return 0;
}
