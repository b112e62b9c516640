/* SPDX-License-Identifier: MIT */
/*
 * bench.h - the benchmark engine behind `ipckit bench`: one adapter table
 * per subject (an ipckit transport, a raw-syscall baseline, a peer library),
 * a log-linear latency histogram, the machine description and the reports.
 * Uses only the public header ipckit.h.
 */
#ifndef IPK_BENCH_H
#define IPK_BENCH_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/types.h>

#include "ipckit.h"

#define BENCH_MAX_ROWS 48
#define BENCH_MAX_SIZES 8
#define BENCH_MIN_MSG 16 /* the payload header: sequence + checksum */
#define BENCH_OP_MS 5000 /* every single operation gives up after this */
#define BENCH_SPIN_NS 2000000000ll /* a spinning wait gives up after 2 s */

enum bench_kind { BENCH_IPCKIT, BENCH_BASELINE, BENCH_PEER };
enum bench_status { BENCH_OK, BENCH_NOT_BUILT, BENCH_NA, BENCH_FAILED };

/* --- histogram ---------------------------------------------------------- */

/*
 * Log-linear buckets: values below 2^BENCH_HSUB_BITS nanoseconds are exact;
 * above, each power of two is split into 2^BENCH_HSUB_BITS buckets, so a
 * bucket is at most 1/32 (3 %) wide. Fixed size, no allocation per sample.
 */
#define BENCH_HSUB_BITS 5
#define BENCH_HBUCKETS ((64 - BENCH_HSUB_BITS + 1) << BENCH_HSUB_BITS)

struct bench_hist {
	uint64_t count, sum, min, max;
	uint32_t b[BENCH_HBUCKETS];
};

void bench_hist_reset(struct bench_hist *h);
void bench_hist_add(struct bench_hist *h, uint64_t ns);
/* The value at quantile q (0..1): the upper edge of its bucket, capped
 * by the exact maximum. 0 when empty. */
uint64_t bench_hist_quantile(const struct bench_hist *h, double q);
/* Add every sample of h to into. */
void bench_hist_merge(struct bench_hist *into, const struct bench_hist *h);

/* --- configuration ------------------------------------------------------ */

struct bench_cfg {
	size_t rtt_size; /* round-trip message size (64) */
	long rounds; /* measured round trips per row */
	long warmup; /* round trips thrown away first */
	double rtt_cap_s; /* stop a latency phase after this (0: no) */
	double duration_s; /* streaming time per message size */
	size_t sizes[BENCH_MAX_SIZES];
	int nsizes;
	double rate; /* open loop: requests per second, 0 = off */
	long pause_us; /* intermittent: pause between requests */
	const char *only; /* comma list of row names or prefixes */
	const char *mode; /* "quick", "full" or "custom" */
	int cpu_a, cpu_b; /* pinned CPUs, -1 when not pinned */
	int tty; /* stderr is a terminal */
};

/* --- subjects ----------------------------------------------------------- */

struct bench_conn;

/*
 * One adapter table per subject. The measuring process ("side 0") runs
 * prepare (before the peer is started), then listen and accept; the peer
 * (side 1, a forked process or, for inproc, a thread) runs dial with the
 * address listen produced. Every operation returns 0 or a negative code and
 * leaves a sentence in c->err. recv receives one message that must be len
 * bytes long (byte streams read exactly len bytes). Optional: listen, the
 * zero-copy four, prepare, finish.
 */
struct bench_ops {
	int (*prepare)(struct bench_conn *c);
	int (*listen)(struct bench_conn *c, char *url, size_t cap);
	int (*accept)(struct bench_conn *c);
	int (*dial)(struct bench_conn *c, const char *url);
	int (*send)(struct bench_conn *c, const void *buf, size_t len);
	int (*recv)(struct bench_conn *c, void *buf, size_t len);
	int (*loan)(struct bench_conn *c, size_t len, void **buf);
	int (*commit)(struct bench_conn *c, size_t len);
	int (*peek)(struct bench_conn *c, const void **buf, size_t *len);
	int (*release)(struct bench_conn *c);
	void (*close)(struct bench_conn *c); /* this side's end */
	void (*finish)(struct bench_conn *c); /* side 0, after the peer left */
};

/* What the properties matrix says of a subject (-1: not applicable). */
struct bench_props {
	int kinship; /* needs related processes */
	int named; /* has a name others can open */
	int boundaries; /* keeps message boundaries */
	const char *copies; /* copies per message */
	int remote; /* crosses hosts */
	int reattach; /* survives a peer restart */
	int pollable; /* has a descriptor for poll/epoll */
};

struct bench_subject {
	char name[32];
	enum bench_kind kind;
	const struct bench_ops *ops;
	char arg[96]; /* adapter argument: scheme, query, ... */
	const char *wait; /* wait strategy of the row */
	int threads; /* peer is a thread (inproc) */
	int zero_copy; /* measure loan/commit/peek/release too */
	int zc_only; /* stream only through loan/commit/peek/release */
	int lossy; /* may drop messages (udp) */
	int memcpy_row; /* single-core memcpy, no peer */
	int exit_clean; /* processes end with exit(), not _exit(),
			   so the library's destructors run */
	enum bench_status status; /* BENCH_OK unless known not runnable */
	char reason[160];
	struct bench_props props;
};

struct bench_conn {
	const struct bench_subject *s;
	const struct bench_cfg *cfg;
	int side;
	void *p; /* the adapter's state */
	size_t max_msg; /* largest message, 0 = unknown */
	char limit[96]; /* what sets max_msg ("msgsize_max") */
	int pollable; /* 1/0 when known, -1 unknown */
	char err[256];
};

/* err helper: print into c->err and return code. */
int bench_fail(struct bench_conn *c, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Fill rows[] with every subject the run knows, in table order. */
int bench_subjects_ipckit(struct bench_subject *rows, int cap);
int bench_subjects_raw(struct bench_subject *rows, int cap);
int bench_subjects_peer(struct bench_subject *rows, int cap);
int bench_subjects_iceoryx(struct bench_subject *rows, int cap);
/* mqtt:// through a broker the row starts (bench/subj_mqtt.c), and the
 * broker's version for the machine section ("" when absent). */
int bench_subjects_mqtt(struct bench_subject *rows, int cap);
void bench_mqtt_broker_version(char *buf, size_t cap);

/* --- pattern rows (bench/subj_pattern.c) ------------------------------- */

struct bench_run;
struct bench_psops;

#define BENCH_MAX_PAT 48
#define BENCH_PAT_MAXPEERS 16 /* subscribers or clients of one row */

/*
 * One pattern row: publish/subscribe fan-out (one publisher, `peers`
 * subscribers) or request/reply (one server, `peers` clients), every party
 * a process. Latency: pub/sub one-way, from the publisher's CLOCK_MONOTONIC
 * stamp in the message to the subscriber's receive, paced so that no
 * message queues behind another, every subscriber's samples together;
 * req/rep the round trip of every client. 0 where not measured.
 */
struct bench_prow {
	char name[40]; /* "pubsub/shm 1->4", "pubsub/shm zc 1->4",
			  "reqrep/unix 8" */
	char pattern[8]; /* "pubsub" or "reqrep" */
	char impl[16]; /* ipckit scheme, or "nng-ipc", "iceoryx", ... */
	enum bench_kind kind; /* BENCH_IPCKIT or BENCH_PEER */
	enum bench_status status;
	char reason[200];
	int peers;
	size_t size; /* message size */
	int zero_copy; /* loan/commit, peek/release */
	uint64_t p50, p99, max, samples; /* latency, ns */
	double pub_rate; /* pub/sub: messages/s the publisher sent;
			    req/rep: requests/s of all clients */
	double sub_rate; /* pub/sub: the slowest subscriber's messages/s */
	uint64_t messages; /* pub/sub: sent in the throughput phase */
	uint64_t lost; /* pub/sub: the most one subscriber lost */
	double pub_ns; /* zero-copy: the publisher's p50 CPU time per
			  message from the loan's return to the commit's */
	double pub_wall_ns; /* the same in wall-clock time */
};

/*
 * A pub/sub implementation for the fan-out rows: ipckit's pattern
 * channels, libnng's pub0/sub0, iceoryx. Each call returns 0 or a negative
 * code with a sentence in ps->err; receive calls return -ETIMEDOUT or
 * -EAGAIN when nothing came within timeout_ms. prepare and finish run in
 * the coordinating process (which never opens the library itself), the
 * others in the forked publisher and subscribers. Optional: prepare,
 * finish, pub_loan, pub_commit, pub_idle, pub_flush, sub_peek, sub_release,
 * sub_gaps.
 */
struct bench_ps {
	const struct bench_psops *ops;
	const char *arg; /* the implementation's argument: a scheme */
	int subs;
	size_t size;
	int zero_copy;
	void *p; /* the implementation's state in this process */
	void *glob; /* prepare's state, inherited by the parties */
	char err[200];
};

struct bench_psops {
	int exit_clean; /* parties end with exit(), not _exit() */
	int (*prepare)(struct bench_ps *ps);
	void (*finish)(struct bench_ps *ps);
	int (*pub_open)(struct bench_ps *ps, char *addr, size_t cap);
	int (*pub_send)(
	    struct bench_ps *ps, const void *buf, size_t len, int timeout_ms);
	int (*pub_loan)(
	    struct bench_ps *ps, size_t len, void **buf, int timeout_ms);
	int (*pub_commit)(struct bench_ps *ps, size_t len);
	void (*pub_idle)(struct bench_ps *ps); /* move queued data */
	int (*pub_flush)(struct bench_ps *ps, int timeout_ms);
	int (*sub_open)(struct bench_ps *ps, const char *addr);
	int (*sub_recv)(struct bench_ps *ps, void *buf, size_t cap, size_t *len,
	    int timeout_ms);
	int (*sub_peek)(
	    struct bench_ps *ps, const void **buf, size_t *len, int timeout_ms);
	int (*sub_release)(struct bench_ps *ps);
	uint64_t (*sub_gaps)(struct bench_ps *ps); /* losses it counted */
	void (*close)(struct bench_ps *ps);
};

/* The fan-out adapters: ipckit's pattern channels (subj_ipckit.c), nng's
 * pub0/sub0 (subj_peer.c) and iceoryx (subj_iceoryx.c); NULL when the
 * library was not built in. */
const struct bench_psops *bench_psops_ipckit(void);
const struct bench_psops *bench_psops_nng(void);
const struct bench_psops *bench_psops_iceoryx(void);

/* Write to url an address of ipckit scheme (or variant) `scheme` with a
 * fresh name and `query` ("pattern=rep") after the variant's own. */
int
bench_pattern_url(const char *scheme, const char *query, char *url, size_t cap);

/* One fan-out row of `ops` (row->name, impl, kind, peers, size and
 * zero_copy set by the caller): runs it and fills the figures. */
void bench_pubsub_row(const struct bench_cfg *cfg,
    const struct bench_psops *ops, const char *arg, struct bench_prow *row);

/* Is item[0..len), one name of --only, about the pattern rows ("pubsub",
 * "reqrep", or either with '/' and more)? */
int bench_pattern_item(const char *item, size_t len);

/* Run the pattern rows into rows[0..cap) (those --only names, when it
 * names pattern rows); returns how many. Progress on stderr; never leaves
 * a child behind. */
int
bench_patterns(const struct bench_cfg *cfg, struct bench_prow *rows, int cap);

/* The pattern goals, ratios taken within one run. */
#define BENCH_MAX_GOALS 8
struct bench_goal {
	const char *id; /* "shm-fanout-throughput" */
	const char *what; /* the ratio in words */
	double value; /* the ratio, 0 when not measured */
	double goal;
	int at_most; /* met when value <= goal (else value >= goal) */
	int met; /* 1, 0, or -1: not measured */
	char evidence[240];
};
int
bench_pattern_goals(const struct bench_run *run, struct bench_goal *g, int cap);

/* --- results ------------------------------------------------------------ */

struct bench_tput {
	size_t size;
	int zero_copy;
	enum bench_status status;
	char reason[160];
	double msgs_per_s, mb_per_s;
	uint64_t messages, lost;
};

struct bench_result {
	const struct bench_subject *s;
	enum bench_status status;
	char reason[256];
	int have_rtt;
	struct bench_hist *rtt; /* owned */
	uint64_t rtt_samples;
	double rtt_seconds;
	int pollable; /* measured: ipk_fd() >= 0, -1 unknown */
	struct bench_tput tput[2 * BENCH_MAX_SIZES];
	int ntput;
};

struct bench_machine {
	char cpu_model[128];
	int ncpu;
	int cpu_a, cpu_b;
	int smt_pair; /* 1: the two CPUs are SMT siblings */
	int smt; /* 1: the machine has SMT siblings at all */
	char governor[32];
	char kernel[128];
	char virt[64];
	char loadavg[64];
	char hostname[64];
	char date[32];
	char broker[48]; /* "mosquitto 2.0.11" when installed, else "" */
};

void bench_machine_read(struct bench_machine *m, int cpu_a, int cpu_b);

/* Run one row; fills r. Never exits, never leaves a child behind. */
void bench_run_row(const struct bench_cfg *cfg, const struct bench_subject *s,
    struct bench_result *r, int idx, int n);

/* Reap orphans handed to this process (a child subreaper: a broker a row
 * started finishes after the row), waiting up to wait_ms for them. */
void bench_reap(int wait_ms);

/* --- a run as the reports see it ---------------------------------------- */

/*
 * Every report (table, claims, JSON, pictures, HTML, comparison) reads a
 * run through these plain structs, filled from this run's results by
 * bench_run_fill() or from a JSON file written earlier by bench_run_load().
 * Nothing in them points elsewhere, so a loaded run stands alone.
 */
struct bench_rtput {
	size_t size;
	int zero_copy;
	enum bench_status status;
	double msgs_per_s, mb_per_s;
	uint64_t messages, lost;
	char reason[160];
};

struct bench_row {
	char name[32];
	enum bench_kind kind;
	enum bench_status status;
	char reason[256];
	char wait[48];
	char peer[12]; /* "process", "thread" or "none" (memcpy) */
	int have_rtt;
	uint64_t p50, p90, p99, p999, max, min, samples; /* ns */
	double mean;
	struct bench_rtput tput[2 * BENCH_MAX_SIZES];
	int ntput;
	/* The properties matrix; -1 where unknown or not applicable. */
	int kinship, named, boundaries, remote, reattach, pollable;
	char copies[48];
	/* From the transport's capability word (ipckit rows), else -1. */
	int types, zero_copy, persist;
};

/* A row's ratios over the repetitions of --repeat: the median of each,
 * 0 where a repetition lacked a figure (tput indices as in the row). */
struct bench_median {
	double rtt; /* p50 / floor/atomic p50 */
	double stream[2 * BENCH_MAX_SIZES]; /* MB/s / floor/ring MB/s */
	double hot[2 * BENCH_MAX_SIZES]; /* zero-copy MB/s / memcpy/hot */
	double zc[2 * BENCH_MAX_SIZES]; /* zero-copy MB/s / floor/zc */
};

struct bench_run {
	struct bench_machine m;
	struct bench_cfg cfg; /* cfg.mode points at mode, cfg.only is NULL */
	char mode[16];
	struct bench_row row[BENCH_MAX_ROWS];
	int n;
	int repeat; /* > 1: med[] holds medians over that many runs */
	struct bench_median med[BENCH_MAX_ROWS];
	struct bench_prow pat[BENCH_MAX_PAT]; /* --patterns */
	int npat;
};

/* Families of rows: one panel and one colour scale each in the pictures. */
enum bench_family {
	BENCH_FAM_FLOOR, /* floor/..., raw/..., memcpy */
	BENCH_FAM_KERNEL, /* kernel-buffered: pipe, fifo, mq, sysv */
	BENCH_FAM_SHM, /* shared memory: shm/..., inproc, memfd */
	BENCH_FAM_SOCKET, /* unix, tcp, udp, nng+... */
	BENCH_FAM_PEER, /* other libraries: zmq, nng, iceoryx */
	BENCH_NFAM
};

enum bench_family bench_family(const struct bench_row *x);
const char *bench_family_title(enum bench_family f);

void bench_run_fill(struct bench_run *run, const struct bench_cfg *cfg,
    const struct bench_machine *m, const struct bench_result *r, int n);
/* Read a JSON file written by --json. On failure: -1 and a sentence in
 * err ("line 3: expected ':'"). */
int
bench_run_load(const char *path, struct bench_run *run, char *err, size_t cap);
/* The row named `name` with latency figures, or NULL. */
const struct bench_row *
bench_row_rtt(const struct bench_run *run, const char *name);
/* Row x's throughput at size (zero_copy or not) when measured, or NULL. */
const struct bench_rtput *
bench_row_tput(const struct bench_row *x, size_t size, int zero_copy);
/*
 * The ratios the goals are stated in, within one run; 0 when a figure is
 * missing. RTT: p50 / floor/atomic's p50. Streaming: MB/s / floor/ring's
 * MB/s at the same size (floor/ring copies; it is the streaming floor for
 * copying and zero-copy rows alike). Hot: a zero-copy figure / memcpy/hot's
 * MB/s at the same size (a reference: one core copying cached data). Zc: a
 * zero-copy figure / floor/zc's at the same size, the floor of the same
 * cross-process fill-and-check workload.
 */
double bench_ratio_rtt(const struct bench_run *run, const struct bench_row *x);
double bench_ratio_stream(const struct bench_run *run,
    const struct bench_row *x, const struct bench_rtput *t);
double bench_ratio_hot(const struct bench_run *run, const struct bench_row *x,
    const struct bench_rtput *t);
double bench_ratio_zc(const struct bench_run *run, const struct bench_row *x,
    const struct bench_rtput *t);
/* Medians of those ratios over runs[0..nruns) (the same rows in the same
 * order) into out->med, with out->repeat = nruns. */
void bench_run_median(
    struct bench_run *out, struct bench_run *const *runs, int nruns);
/* "0.27 µs", "55 µs", "1.2 ms" for a time in nanoseconds. */
void bench_fmt_us(char *buf, size_t cap, double ns);
/* "64 B", "4 KiB", "1 MiB". */
void bench_fmt_size(char *buf, size_t cap, size_t size);

/* --- the article's claims ----------------------------------------------- */

#define BENCH_MAX_CLAIMS 16
/* Two figures within this factor of each other are a tie. */
#define BENCH_TIE 1.25

struct bench_claim {
	const char *id; /* short and stable: "shm-fastest" */
	const char *claim; /* the article's sentence */
	const char *verdict; /* "yes", "no", "tie", "not measured" */
	char evidence[384]; /* this run's numbers, in words */
};

/* Check every claim against the run's numbers; returns how many. */
int bench_claims(const struct bench_run *run, struct bench_claim *c, int cap);

/* --- reports ------------------------------------------------------------ */

void bench_report_table(FILE *f, const struct bench_run *run);
void bench_report_claims(FILE *f, const struct bench_run *run);
/* The pattern rows and goals (nothing when the run has none). */
void bench_report_patterns(FILE *f, const struct bench_run *run);
/* The "patterns" member of the JSON file, with its trailing comma. */
void bench_report_json_patterns(FILE *f, const struct bench_run *run);
int bench_report_json(const char *path, const struct bench_run *run);
/*
 * Pictures through gnuplot (.png or .svg by the extension): latency and
 * throughput in small multiples by family. With `before`, both runs side
 * by side (before lighter). -ENOENT when gnuplot is not installed, -EIO
 * when it fails or warns (its words are copied to stderr).
 */
int bench_report_plot(const char *path, const struct bench_run *run,
    const struct bench_run *before);
/* The same pictures as an SVG without a fixed size, to be inlined. */
int bench_plot_svg_dynamic(const char *path, const struct bench_run *run,
    const struct bench_run *before);
/* One self-contained HTML page: claims, tables, pictures as inline SVG
 * (without gnuplot: no pictures, said on the page). */
int bench_report_html(const char *path, const struct bench_run *run,
    const struct bench_run *before);
/* Each row's p50/p99/throughput ratio after/before, changes beyond the
 * noise the floors show marked. Returns how many rows changed. */
int bench_report_compare(
    FILE *f, const struct bench_run *before, const struct bench_run *after);

/* Time. */
int64_t bench_now(void);

/* Progress line on stderr (in place on a terminal). */
void bench_progress(const struct bench_cfg *cfg, int i, int n, const char *name,
    const char *what);

#endif
