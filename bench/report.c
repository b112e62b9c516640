/* SPDX-License-Identifier: MIT */
/*
 * report.c - what `ipckit bench` shows: the terminal tables (latency with
 * ratios to the floor rows, throughput per size, the properties matrix),
 * the honesty notes, the JSON file and the gnuplot chart.
 */
#include "bench.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static const char *const report_status[] = {
    [BENCH_OK] = "ok",
    [BENCH_NOT_BUILT] = "not built",
    [BENCH_NA] = "n/a",
    [BENCH_FAILED] = "failed",
};

static const char *const report_kind[] = {
    [BENCH_IPCKIT] = "ipckit",
    [BENCH_BASELINE] = "baseline",
    [BENCH_PEER] = "peer",
};

/* --- the run the reports read ------------------------------------------ */

static const char *
report_scheme(const struct bench_subject *s, char *buf, size_t cap)
{
	snprintf(buf, cap, "%.*s", (int)strcspn(s->arg, "?"), s->arg);
	return buf;
}

static void
report_fill_row(struct bench_row *w, const struct bench_result *x)
{
	const struct bench_subject *s = x->s;
	const struct bench_props *p = &s->props;
	memset(w, 0, sizeof(*w));
	snprintf(w->name, sizeof(w->name), "%s", s->name);
	w->kind = s->kind;
	w->status = x->status;
	snprintf(w->reason, sizeof(w->reason), "%s", x->reason);
	snprintf(w->wait, sizeof(w->wait), "%s", s->wait ? s->wait : "");
	snprintf(w->peer, sizeof(w->peer), "%s",
	    s->memcpy_row    ? "none"
		: s->threads ? "thread"
			     : "process");
	if (x->have_rtt) {
		const struct bench_hist *h = x->rtt;
		w->have_rtt = 1;
		w->p50 = bench_hist_quantile(h, 0.5);
		w->p90 = bench_hist_quantile(h, 0.9);
		w->p99 = bench_hist_quantile(h, 0.99);
		w->p999 = bench_hist_quantile(h, 0.999);
		w->max = h->max;
		w->min = h->min;
		w->samples = x->rtt_samples;
		w->mean = h->count ? (double)h->sum / (double)h->count : 0.0;
	}
	for (int j = 0; j < x->ntput && j < 2 * BENCH_MAX_SIZES; j++) {
		const struct bench_tput *t = &x->tput[j];
		struct bench_rtput *o = &w->tput[w->ntput++];
		o->size = t->size;
		o->zero_copy = t->zero_copy;
		o->status = t->status;
		o->msgs_per_s = t->msgs_per_s;
		o->mb_per_s = t->mb_per_s;
		o->messages = t->messages;
		o->lost = t->lost;
		snprintf(o->reason, sizeof(o->reason), "%.159s",
		    t->status == BENCH_NA ? t->reason : x->reason);
	}
	w->kinship = p->kinship;
	w->named = p->named;
	w->boundaries = p->boundaries;
	w->remote = p->remote;
	w->reattach = p->reattach;
	w->pollable = x->pollable >= 0 ? x->pollable : p->pollable;
	snprintf(
	    w->copies, sizeof(w->copies), "%s", p->copies ? p->copies : "?");
	w->types = w->zero_copy = w->persist = -1;
	if (s->kind == BENCH_IPCKIT && x->status != BENCH_NOT_BUILT &&
	    p->kinship >= 0) {
		char scheme[32];
		unsigned caps =
		    ipk_scheme_caps(report_scheme(s, scheme, sizeof(scheme)));
		w->types = !!(caps & IPK_CAP_TYPES);
		w->zero_copy = !!(caps & IPK_CAP_ZEROCOPY);
		w->persist = !!(caps & IPK_CAP_PERSIST);
	}
}

void
bench_run_fill(struct bench_run *run, const struct bench_cfg *cfg,
    const struct bench_machine *m, const struct bench_result *r, int n)
{
	memset(run, 0, sizeof(*run));
	run->m = *m;
	run->cfg = *cfg;
	snprintf(run->mode, sizeof(run->mode), "%s", cfg->mode);
	run->cfg.mode = run->mode;
	run->cfg.only = NULL;
	for (int i = 0; i < n && i < BENCH_MAX_ROWS; i++)
		report_fill_row(&run->row[run->n++], &r[i]);
}

const struct bench_row *
bench_row_rtt(const struct bench_run *run, const char *name)
{
	for (int i = 0; run && i < run->n; i++)
		if (!strcmp(run->row[i].name, name) && run->row[i].have_rtt)
			return &run->row[i];
	return NULL;
}

/* The row named `name`, with or without latency figures, or NULL. */
static const struct bench_row *
report_row_named(const struct bench_run *run, const char *name)
{
	for (int i = 0; run && i < run->n; i++)
		if (!strcmp(run->row[i].name, name))
			return &run->row[i];
	return NULL;
}

double
bench_ratio_rtt(const struct bench_run *run, const struct bench_row *x)
{
	const struct bench_row *fa = bench_row_rtt(run, "floor/atomic");
	if (!x->have_rtt || !x->p50 || !fa || !fa->p50)
		return 0;
	return (double)x->p50 / (double)fa->p50;
}

static double
report_tput_ratio(const struct bench_run *run, const struct bench_row *x,
    const struct bench_rtput *t, const char *base, int base_zc)
{
	const struct bench_rtput *b =
	    bench_row_tput(report_row_named(run, base), t->size, base_zc);
	if (t->status != BENCH_OK || !b || b->mb_per_s <= 0)
		return 0;
	(void)x;
	return t->mb_per_s / b->mb_per_s;
}

double
bench_ratio_stream(const struct bench_run *run, const struct bench_row *x,
    const struct bench_rtput *t)
{
	return report_tput_ratio(run, x, t, "floor/ring", 0);
}

double
bench_ratio_hot(const struct bench_run *run, const struct bench_row *x,
    const struct bench_rtput *t)
{
	return t->zero_copy ? report_tput_ratio(run, x, t, "memcpy/hot", 0) : 0;
}

double
bench_ratio_zc(const struct bench_run *run, const struct bench_row *x,
    const struct bench_rtput *t)
{
	return t->zero_copy ? report_tput_ratio(run, x, t, "floor/zc", 1) : 0;
}

static int
report_cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return x < y ? -1 : x > y;
}

/* The median of the non-zero values of v[0..n), or 0. */
static double
report_median(double *v, int n)
{
	int k = 0;
	for (int i = 0; i < n; i++)
		if (v[i] > 0)
			v[k++] = v[i];
	if (!k)
		return 0;
	qsort(v, (size_t)k, sizeof(*v), report_cmp_double);
	return k % 2 ? v[k / 2] : (v[k / 2 - 1] + v[k / 2]) / 2;
}

void
bench_run_median(
    struct bench_run *out, struct bench_run *const *runs, int nruns)
{
	double v[64];
	if (nruns > 64)
		nruns = 64;
	out->repeat = nruns;
	for (int i = 0; i < out->n; i++) {
		struct bench_median *m = &out->med[i];
		memset(m, 0, sizeof(*m));
		for (int k = 0; k < nruns; k++)
			v[k] = i < runs[k]->n
			    ? bench_ratio_rtt(runs[k], &runs[k]->row[i])
			    : 0;
		m->rtt = report_median(v, nruns);
		for (int j = 0; j < out->row[i].ntput; j++) {
			for (int k = 0; k < nruns; k++) {
				const struct bench_row *x = &runs[k]->row[i];
				v[k] = i < runs[k]->n && j < x->ntput
				    ? bench_ratio_stream(
					  runs[k], x, &x->tput[j])
				    : 0;
			}
			m->stream[j] = report_median(v, nruns);
			for (int k = 0; k < nruns; k++) {
				const struct bench_row *x = &runs[k]->row[i];
				v[k] = i < runs[k]->n && j < x->ntput
				    ? bench_ratio_hot(runs[k], x, &x->tput[j])
				    : 0;
			}
			m->hot[j] = report_median(v, nruns);
			for (int k = 0; k < nruns; k++) {
				const struct bench_row *x = &runs[k]->row[i];
				v[k] = i < runs[k]->n && j < x->ntput
				    ? bench_ratio_zc(runs[k], x, &x->tput[j])
				    : 0;
			}
			m->zc[j] = report_median(v, nruns);
		}
	}
}

const struct bench_rtput *
bench_row_tput(const struct bench_row *x, size_t size, int zero_copy)
{
	for (int j = 0; x && j < x->ntput; j++)
		if (x->tput[j].size == size &&
		    x->tput[j].zero_copy == zero_copy &&
		    x->tput[j].status == BENCH_OK)
			return &x->tput[j];
	return NULL;
}

enum bench_family
bench_family(const struct bench_row *x)
{
	static const char *const kernel[] = {"pipe", "fifo", "mq", "sysv"};
	static const char *const sock[] = {"unix", "tcp", "udp"};
	if (x->kind == BENCH_BASELINE)
		return BENCH_FAM_FLOOR;
	if (x->kind == BENCH_PEER)
		return BENCH_FAM_PEER;
	for (size_t i = 0; i < sizeof(kernel) / sizeof(kernel[0]); i++)
		if (!strcmp(x->name, kernel[i]))
			return BENCH_FAM_KERNEL;
	for (size_t i = 0; i < sizeof(sock) / sizeof(sock[0]); i++)
		if (!strcmp(x->name, sock[i]))
			return BENCH_FAM_SOCKET;
	if (!strncmp(x->name, "nng+", 4) || x->remote > 0)
		return BENCH_FAM_SOCKET;
	if (!strncmp(x->name, "shm", 3) || x->zero_copy > 0 ||
	    !strcmp(x->name, "inproc") || !strcmp(x->name, "memfd"))
		return BENCH_FAM_SHM;
	return BENCH_FAM_KERNEL;
}

const char *
bench_family_title(enum bench_family f)
{
	static const char *const t[] = {
	    [BENCH_FAM_FLOOR] = "floors and raw loops",
	    [BENCH_FAM_KERNEL] = "kernel-buffered: pipe, FIFO, message queues",
	    [BENCH_FAM_SHM] = "shared memory",
	    [BENCH_FAM_SOCKET] = "sockets",
	    [BENCH_FAM_PEER] = "peer libraries",
	};
	return f < BENCH_NFAM ? t[f] : "?";
}

void
bench_fmt_us(char *buf, size_t cap, double ns)
{
	if (ns >= 1e6)
		snprintf(buf, cap, "%.1f ms", ns / 1e6);
	else if (ns >= 1e4)
		snprintf(buf, cap, "%.0f µs", ns / 1e3);
	else if (ns >= 1e3)
		snprintf(buf, cap, "%.1f µs", ns / 1e3);
	else
		snprintf(buf, cap, "%.2f µs", ns / 1e3);
}

void
bench_fmt_size(char *buf, size_t cap, size_t size)
{
	if (size >= (1u << 20) && size % (1u << 20) == 0)
		snprintf(buf, cap, "%zu MiB", size >> 20);
	else if (size >= 1024 && size % 1024 == 0)
		snprintf(buf, cap, "%zu KiB", size >> 10);
	else
		snprintf(buf, cap, "%zu B", size);
}

/* --- the terminal table ------------------------------------------------- */

static double
report_p50(const struct bench_row *x)
{
	return x && x->have_rtt ? (double)x->p50 : 0;
}

/* The raw loop an ipckit row is compared with, if any. */
static const struct bench_row *
report_raw(const struct bench_run *run, const struct bench_row *x)
{
	char name[40];
	if (x->kind != BENCH_IPCKIT)
		return NULL;
	snprintf(name, sizeof(name), "raw/%s", x->name);
	return bench_row_rtt(run, name);
}

static void
report_ratio(FILE *f, double a, double b)
{
	if (a > 0 && b > 0 && a / b < 0.01)
		fprintf(f, " %8s", "<0.01x");
	else if (a > 0 && b > 0 && a / b < 9.95)
		fprintf(f, " %7.2fx", a / b);
	else if (a > 0 && b > 0)
		fprintf(f, " %7.0fx", a / b);
	else
		fprintf(f, " %8s", "-");
}

static void
report_rate(char *buf, size_t cap, double v)
{
	if (v >= 1e6)
		snprintf(buf, cap, "%.2fM", v / 1e6);
	else if (v >= 1e3)
		snprintf(buf, cap, "%.1fk", v / 1e3);
	else
		snprintf(buf, cap, "%.0f", v);
}

static void
report_machine(FILE *f, const struct bench_run *run)
{
	const struct bench_machine *m = &run->m;
	fprintf(f, "ipckit bench %s, %s mode, %s\n", IPK_VERSION_STRING,
	    run->mode, m->date);
	fprintf(f, "machine: %s; %d CPUs online\n", m->cpu_model, m->ncpu);
	if (m->cpu_a >= 0)
		fprintf(f,
		    "  pinned: measuring side on CPU %d, peer on CPU %d "
		    "(%s)\n",
		    m->cpu_a, m->cpu_b,
		    m->smt_pair	 ? "SMT siblings of one core"
			: m->smt ? "different cores; the machine has SMT"
				 : "different cores, no SMT siblings");
	else
		fprintf(f, "  not pinned: fewer than two CPUs available\n");
	fprintf(f,
	    "  governor: %s; kernel: %s; virtualisation: %s; "
	    "load: %s\n",
	    m->governor, m->kernel, m->virt, m->loadavg);
	if (m->broker[0])
		fprintf(f, "  MQTT broker for the mqtt rows: %s\n", m->broker);
}

static void
report_latency(FILE *f, const struct bench_run *run)
{
	const struct bench_cfg *cfg = &run->cfg;
	const struct bench_row *fa = bench_row_rtt(run, "floor/atomic");
	const struct bench_row *ff = bench_row_rtt(run, "floor/futex");
	fprintf(f,
	    "\nROUND-TRIP LATENCY (RTT, not one-way) of %zu-byte "
	    "messages, microseconds%s\n",
	    cfg->rtt_size,
	    cfg->rate > 0	    ? ", open loop from the due time"
		: cfg->pause_us > 0 ? ", intermittent"
				    : "");
	fprintf(f, "%-14s %-24s %8s %8s %8s %8s %8s %9s %8s %8s %8s\n", "name",
	    "wait", "samples", "p50", "p90", "p99", "p99.9", "max", "x atomic",
	    "x futex", "x raw");
	for (int i = 0; i < run->n; i++) {
		const struct bench_row *x = &run->row[i];
		if (!x->have_rtt)
			continue;
		fprintf(f,
		    "%-14s %-24.24s %8llu %8.2f %8.2f %8.2f %8.2f "
		    "%9.1f",
		    x->name, x->wait, (unsigned long long)x->samples,
		    x->p50 / 1e3, x->p90 / 1e3, x->p99 / 1e3, x->p999 / 1e3,
		    x->max / 1e3);
		report_ratio(f, report_p50(x), report_p50(fa));
		report_ratio(f, report_p50(x), report_p50(ff));
		report_ratio(f, report_p50(x), report_p50(report_raw(run, x)));
		fputc('\n', f);
	}
}

static void
report_tput_row(
    FILE *f, const struct bench_run *run, const struct bench_row *x, int zc)
{
	char name[40];
	snprintf(name, sizeof(name), "%s%s", x->name, zc ? " zc" : "");
	fprintf(f, "%-17s", name);
	for (int k = 0; k < run->cfg.nsizes; k++) {
		char cell[40], rate[16];
		const struct bench_rtput *t = NULL;
		for (int j = 0; j < x->ntput; j++)
			if (x->tput[j].zero_copy == zc &&
			    x->tput[j].size == run->cfg.sizes[k])
				t = &x->tput[j];
		if (!t || t->status != BENCH_OK) {
			snprintf(cell, sizeof(cell), "%s",
			    t ? report_status[t->status] : "-");
		} else if (!strcmp(x->peer, "none")) {
			snprintf(cell, sizeof(cell), "%.0f", t->mb_per_s);
		} else {
			report_rate(rate, sizeof(rate), t->msgs_per_s);
			snprintf(cell, sizeof(cell), "%.0f (%s/s)%s",
			    t->mb_per_s, rate, t->lost ? " lossy" : "");
		}
		fprintf(f, " %-19s", cell);
	}
	fputc('\n', f);
}

/* Has row x throughput entries that are zero-copy (zc 1) or copying (0)? */
static int
report_has(const struct bench_row *x, int zc)
{
	for (int j = 0; j < x->ntput; j++)
		if (x->tput[j].zero_copy == zc)
			return 1;
	return 0;
}

static int
report_has_zc(const struct bench_row *x)
{
	return report_has(x, 1);
}

static void
report_throughput(FILE *f, const struct bench_run *run)
{
	fprintf(f,
	    "\nONE-WAY STREAMING THROUGHPUT, MB/s (messages/s); "
	    "\"zc\" = loan/commit + peek/release\n%-17s",
	    "name");
	for (int k = 0; k < run->cfg.nsizes; k++) {
		char sz[24];
		bench_fmt_size(sz, sizeof(sz), run->cfg.sizes[k]);
		fprintf(f, " %-19s", sz);
	}
	fputc('\n', f);
	for (int i = 0; i < run->n; i++) {
		const struct bench_row *x = &run->row[i];
		if (x->status != BENCH_OK && !x->have_rtt)
			continue;
		if (report_has(x, 0) || !report_has_zc(x))
			report_tput_row(f, run, x, 0);
		if (report_has_zc(x))
			report_tput_row(f, run, x, 1);
	}
}

/* Does the run have floor/zc figures (runs recorded before it did not)? */
static int
report_have_zc_floor(const struct bench_run *run)
{
	const struct bench_row *z = report_row_named(run, "floor/zc");
	return z && z->status == BENCH_OK && report_has_zc(z);
}

/* One line of the ratio table: row x, copying or zero-copy, with its
 * ratios at every size: copying to floor/ring; zero-copy to floor/zc
 * (floor/ring in runs without it), then to memcpy/hot. */
static void
report_ratio_row(
    FILE *f, const struct bench_run *run, int i, int zc, double rtt)
{
	int zfloor = zc && report_have_zc_floor(run);
	const struct bench_row *x = &run->row[i];
	char name[40], cell[40];
	snprintf(name, sizeof(name), "%s%s", x->name, zc ? " zc" : "");
	fprintf(f, "%-17s", name);
	if (rtt > 0 && !zc)
		snprintf(cell, sizeof(cell), "%.2fx", rtt);
	else
		snprintf(cell, sizeof(cell), "-");
	fprintf(f, " %-11s", cell);
	for (int k = 0; k < run->cfg.nsizes; k++) {
		double a = 0, h = 0;
		for (int j = 0; j < x->ntput; j++) {
			const struct bench_rtput *t = &x->tput[j];
			if (t->zero_copy != zc || t->size != run->cfg.sizes[k])
				continue;
			if (zfloor)
				a = run->repeat > 1 ? run->med[i].zc[j]
						    : bench_ratio_zc(run, x, t);
			else
				a = run->repeat > 1
				    ? run->med[i].stream[j]
				    : bench_ratio_stream(run, x, t);
			h = run->repeat > 1 ? run->med[i].hot[j]
					    : bench_ratio_hot(run, x, t);
		}
		if (a > 0 && h > 0)
			snprintf(cell, sizeof(cell), "%.2fx / %.2fx", a, h);
		else if (a > 0)
			snprintf(cell, sizeof(cell), "%.2fx", a);
		else
			snprintf(cell, sizeof(cell), "-");
		fprintf(f, " %-15s", cell);
	}
	fputc('\n', f);
}

/* The goals' ratios: RTT p50 to floor/atomic, streaming to floor/ring,
 * zero-copy also to memcpy/hot; medians over the runs with --repeat. */
static void
report_ratios(FILE *f, const struct bench_run *run)
{
	if (!report_row_named(run, "floor/ring") &&
	    !bench_row_rtt(run, "floor/atomic") && !report_have_zc_floor(run))
		return;
	if (run->repeat > 1)
		fprintf(f,
		    "\nRATIOS, MEDIAN OF %d RUNS (each ratio taken within "
		    "one run)\n",
		    run->repeat);
	else
		fprintf(f, "\nRATIOS WITHIN THIS RUN\n");
	if (report_have_zc_floor(run))
		fprintf(f,
		    "RTT: p50 / floor/atomic p50. Streaming: MB/s / "
		    "floor/ring MB/s at the size;\nzero-copy rows (zc): MB/s "
		    "/ floor/zc MB/s (the same fill and check, the floor\n"
		    "of that workload), then / memcpy/hot MB/s (a reference, "
		    "not a floor).\n");
	else
		fprintf(f,
		    "RTT: p50 / floor/atomic p50. Streaming: MB/s / "
		    "floor/ring MB/s at the size;\nzero-copy rows: that, "
		    "then / memcpy/hot MB/s.\n");
	fprintf(f, "%-17s %-11s", "name", "rtt/atomic");
	for (int k = 0; k < run->cfg.nsizes; k++) {
		char sz[24];
		bench_fmt_size(sz, sizeof(sz), run->cfg.sizes[k]);
		fprintf(f, " %-15s", sz);
	}
	fputc('\n', f);
	for (int i = 0; i < run->n; i++) {
		const struct bench_row *x = &run->row[i];
		if (x->kind == BENCH_BASELINE || x->status != BENCH_OK)
			continue;
		double rtt =
		    run->repeat > 1 ? run->med[i].rtt : bench_ratio_rtt(run, x);
		if (report_has(x, 0))
			report_ratio_row(f, run, i, 0, rtt);
		if (report_has_zc(x))
			report_ratio_row(f, run, i, 1, 0);
	}
}

static const char *
report_yn(int v)
{
	return v < 0 ? "?" : v ? "yes" : "no";
}

static void
report_props(FILE *f, const struct bench_run *run)
{
	fprintf(f,
	    "\nPROPERTIES\n%-14s %-8s %-6s %-10s %-30s %-7s %-8s "
	    "%-8s\n",
	    "name", "related", "named", "boundary",
	    "copies per "
	    "message",
	    "remote", "restart", "pollable");
	for (int i = 0; i < run->n; i++) {
		const struct bench_row *x = &run->row[i];
		if (!strcmp(x->peer, "none") || x->status == BENCH_NOT_BUILT ||
		    (x->status == BENCH_NA && !x->have_rtt))
			continue;
		fprintf(f, "%-14s %-8s %-6s %-10s %-30.30s %-7s %-8s %-8s\n",
		    x->name, report_yn(x->kinship), report_yn(x->named),
		    report_yn(x->boundaries), x->copies, report_yn(x->remote),
		    report_yn(x->reattach), report_yn(x->pollable));
	}
}

static void
report_missing(FILE *f, const struct bench_run *run)
{
	int head = 0;
	for (int i = 0; i < run->n; i++) {
		const struct bench_row *x = &run->row[i];
		int partial = 0;
		for (int j = 0; j < x->ntput; j++)
			partial |= x->tput[j].status == BENCH_NA;
		if (x->status == BENCH_OK && !partial)
			continue;
		if (!head++)
			fprintf(f, "\nNOT MEASURED\n");
		if (x->status != BENCH_OK) {
			fprintf(f, "%-14s %-9s %s\n", x->name,
			    report_status[x->status], x->reason);
			continue;
		}
		for (int j = 0; j < x->ntput; j++) {
			const struct bench_rtput *t = &x->tput[j];
			char sz[24];
			if (t->status != BENCH_NA)
				continue;
			bench_fmt_size(sz, sizeof(sz), t->size);
			fprintf(f, "%-14s %-9s %s%s: %s\n", x->name, "n/a", sz,
			    t->zero_copy ? " zero-copy" : "", t->reason);
		}
	}
}

static void
report_notes(FILE *f, const struct bench_cfg *cfg)
{
	fprintf(f,
	    "\nHOW TO READ THIS\n"
	    "- Latency is the round trip (send, peer receives and verifies, "
	    "echoes back),\n  not one-way; one-way is at best RTT/2.\n"
	    "- Every row is two processes pinned to different CPUs, except "
	    "\"inproc\" (two threads).\n"
	    "- Every payload byte is written by the sender and compared by "
	    "the receiver,\n  zero-copy rows included (they fill and check "
	    "the buffer in place).\n"
	    "- The wait column says whether a row spins or sleeps; a sleeping "
	    "receiver pays\n  the wake-up (tens of microseconds on a VM), a "
	    "spinning one burns a CPU.\n"
	    "- Percentiles come from a histogram of every sample (3%% "
	    "buckets), not means.\n"
	    "- Ratios: \"x atomic\"/\"x futex\" divide a row's p50 by the "
	    "floor rows of this run;\n  \"x raw\" by the hand-written loop "
	    "over the same mechanism (library overhead).\n"
	    "- Throughput counts messages the receiver verified; a lossy "
	    "row counts only\n  what arrived.\n");
	if (cfg->rate > 0)
		fprintf(f,
		    "- Open loop at %.0f requests/s: latency counts "
		    "from "
		    "when each request was due,\n  so a stall is charged to "
		    "every request it delayed (no coordinated omission).\n",
		    cfg->rate);
	if (cfg->pause_us > 0)
		fprintf(f,
		    "- Intermittent: %ld us pause before every round "
		    "trip.\n",
		    cfg->pause_us);
	if (!strcmp(cfg->mode, "full"))
		fprintf(f,
		    "- Full mode: %ld round trips per row after %ld of "
		    "warm-up; a row still going\n  after %.0f s stops there "
		    "(its samples column says so).\n",
		    cfg->rounds, cfg->warmup, cfg->rtt_cap_s);
	if (!strcmp(cfg->mode, "quick"))
		fprintf(f,
		    "- Quick mode: up to %ld round trips per row, at "
		    "most %.1f s each (the samples\n  column says how many "
		    "were used); use --full for >= 100,000.\n",
		    cfg->rounds, cfg->rtt_cap_s);
}

void
bench_report_table(FILE *f, const struct bench_run *run)
{
	report_machine(f, run);
	if (!run->n) {
		bench_report_patterns(f, run);
		return;
	}
	report_latency(f, run);
	report_throughput(f, run);
	report_ratios(f, run);
	report_props(f, run);
	report_missing(f, run);
	report_notes(f, &run->cfg);
	bench_report_patterns(f, run);
}

/* --- JSON ---------------------------------------------------------------- */

static const char *
json_bool(int v)
{
	return v < 0 ? "null" : v ? "true" : "false";
}

static void
json_str(FILE *f, const char *s)
{
	fputc('"', f);
	for (; *s; s++) {
		unsigned char ch = (unsigned char)*s;
		if (ch == '"' || ch == '\\')
			fprintf(f, "\\%c", ch);
		else if (ch < 0x20)
			fprintf(f, "\\u%04x", ch);
		else
			fputc(ch, f);
	}
	fputc('"', f);
}

static void
json_ratio(FILE *f, const char *key, double a, double b, int *first)
{
	if (a <= 0 || b <= 0)
		return;
	fprintf(f, "%s\"%s\": %.3f", *first ? "" : ", ", key, a / b);
	*first = 0;
}

/* floor/atomic's copying throughput at t's size, 0 if not measured. */
static double
report_floor_mb(const struct bench_run *run, const struct bench_rtput *t)
{
	const struct bench_rtput *fl =
	    bench_row_tput(bench_row_rtt(run, "floor/atomic"), t->size, 0);
	return fl ? fl->mb_per_s : 0;
}

static void
json_tput(FILE *f, const struct bench_run *run, const struct bench_row *x)
{
	for (int j = 0; j < x->ntput; j++) {
		const struct bench_rtput *t = &x->tput[j];
		fprintf(f,
		    "%s\n       {\"size\": %zu, \"zero_copy\": %s, "
		    "\"status\": \"%s\"",
		    j ? "," : "", t->size, t->zero_copy ? "true" : "false",
		    report_status[t->status]);
		double fl = report_floor_mb(run, t);
		if (t->status == BENCH_OK && fl > 0)
			fprintf(f, ", \"floor_atomic_ratio\": %.3f",
			    t->mb_per_s / fl);
		double fr = bench_ratio_stream(run, x, t);
		if (fr > 0)
			fprintf(f, ", \"floor_ring_ratio\": %.3f", fr);
		double hot = bench_ratio_hot(run, x, t);
		if (hot > 0)
			fprintf(f, ", \"memcpy_hot_ratio\": %.3f", hot);
		double zf = bench_ratio_zc(run, x, t);
		if (zf > 0)
			fprintf(f, ", \"floor_zc_ratio\": %.3f", zf);
		if (t->status == BENCH_OK) {
			fprintf(f,
			    ", \"msgs_per_s\": %.0f, "
			    "\"mb_per_s\": %.1f, \"messages\": %llu, "
			    "\"lost\": %llu}",
			    t->msgs_per_s, t->mb_per_s,
			    (unsigned long long)t->messages,
			    (unsigned long long)t->lost);
		} else {
			fprintf(f,
			    ", \"msgs_per_s\": null, \"mb_per_s\": null"
			    ", \"reason\": ");
			json_str(f, t->reason);
			fputc('}', f);
		}
	}
}

static void
json_result(FILE *f, const struct bench_run *run, const struct bench_row *x)
{
	fprintf(f, "    {\"name\": ");
	json_str(f, x->name);
	fprintf(f, ", \"kind\": \"%s\", \"status\": \"%s\", \"reason\": ",
	    report_kind[x->kind], report_status[x->status]);
	json_str(f, x->reason);
	fprintf(f, ",\n     \"wait\": ");
	json_str(f, x->wait);
	fprintf(f, ", \"peer\": \"%s\",\n", x->peer);
	if (x->have_rtt)
		fprintf(f,
		    "     \"rtt_ns\": {\"p50\": %llu, \"p90\": %llu, "
		    "\"p99\": %llu, \"p999\": %llu, \"max\": %llu, "
		    "\"min\": %llu, \"mean\": %.0f, \"samples\": %llu},\n",
		    (unsigned long long)x->p50, (unsigned long long)x->p90,
		    (unsigned long long)x->p99, (unsigned long long)x->p999,
		    (unsigned long long)x->max, (unsigned long long)x->min,
		    x->mean, (unsigned long long)x->samples);
	else
		fprintf(f, "     \"rtt_ns\": null,\n");
	int first = 1;
	fprintf(f, "     \"ratio\": {");
	json_ratio(f, "floor_atomic", report_p50(x),
	    report_p50(bench_row_rtt(run, "floor/atomic")), &first);
	json_ratio(f, "floor_futex", report_p50(x),
	    report_p50(bench_row_rtt(run, "floor/futex")), &first);
	json_ratio(
	    f, "raw", report_p50(x), report_p50(report_raw(run, x)), &first);
	fprintf(f, "},\n");
	int idx = (int)(x - run->row);
	if (run->repeat > 1) {
		const struct bench_median *m = &run->med[idx];
		fprintf(f, "     \"median_ratio\": {\"runs\": %d", run->repeat);
		if (m->rtt > 0)
			fprintf(f, ", \"floor_atomic\": %.3f", m->rtt);
		fprintf(f, ", \"throughput\": [");
		for (int j = 0, lead = 1; j < x->ntput; j++) {
			if (m->stream[j] <= 0 && m->hot[j] <= 0 &&
			    m->zc[j] <= 0)
				continue;
			fprintf(f,
			    "%s{\"size\": %zu, \"zero_copy\": %s, "
			    "\"floor_ring\": %.3f",
			    lead ? "" : ", ", x->tput[j].size,
			    x->tput[j].zero_copy ? "true" : "false",
			    m->stream[j]);
			if (m->hot[j] > 0)
				fprintf(f, ", \"memcpy_hot\": %.3f", m->hot[j]);
			if (m->zc[j] > 0)
				fprintf(f, ", \"floor_zc\": %.3f", m->zc[j]);
			fputc('}', f);
			lead = 0;
		}
		fprintf(f, "]},\n");
	}
	fprintf(f, "     \"throughput\": [");
	json_tput(f, run, x);
	fprintf(f,
	    "],\n     \"properties\": {\"needs_related_processes\": "
	    "%s, \"named\": %s, \"keeps_boundaries\": %s, \"copies\": ",
	    json_bool(x->kinship), json_bool(x->named),
	    json_bool(x->boundaries));
	json_str(f, x->copies);
	fprintf(f,
	    ", \"crosses_hosts\": %s, \"survives_peer_restart\": %s, "
	    "\"pollable\": %s,\n      \"types_native\": %s, "
	    "\"zero_copy\": %s, \"outlives_writer\": %s}}",
	    json_bool(x->remote), json_bool(x->reattach),
	    json_bool(x->pollable), json_bool(x->types),
	    json_bool(x->zero_copy), json_bool(x->persist));
}

static void
json_machine(FILE *f, const struct bench_machine *m)
{
	fprintf(f, "{\n  \"machine\": {\"cpu_model\": ");
	json_str(f, m->cpu_model);
	fprintf(f,
	    ", \"cpus\": %d, \"cpu_pair\": [%d, %d], "
	    "\"smt_siblings\": %s, \"smt\": %s, \"governor\": ",
	    m->ncpu, m->cpu_a, m->cpu_b, m->smt_pair ? "true" : "false",
	    m->smt ? "true" : "false");
	json_str(f, m->governor);
	fprintf(f, ", \"kernel\": ");
	json_str(f, m->kernel);
	fprintf(f, ", \"virtualisation\": ");
	json_str(f, m->virt);
	fprintf(f, ", \"loadavg\": ");
	json_str(f, m->loadavg);
	fprintf(f, ", \"hostname\": ");
	json_str(f, m->hostname);
	fprintf(f, ", \"date\": ");
	json_str(f, m->date);
	fprintf(f, ", \"broker\": ");
	json_str(f, m->broker);
	fprintf(f, "},\n");
}

static void
json_claims(FILE *f, const struct bench_run *run)
{
	struct bench_claim c[BENCH_MAX_CLAIMS];
	int nc = bench_claims(run, c, BENCH_MAX_CLAIMS);
	fprintf(f, "  \"tie_margin\": %.2f,\n  \"claims\": [", BENCH_TIE);
	for (int i = 0; i < nc; i++) {
		fprintf(f, "%s\n    {\"id\": ", i ? "," : "");
		json_str(f, c[i].id);
		fprintf(f, ", \"claim\": ");
		json_str(f, c[i].claim);
		fprintf(f, ", \"verdict\": ");
		json_str(f, c[i].verdict);
		fprintf(f, ",\n     \"evidence\": ");
		json_str(f, c[i].evidence);
		fputc('}', f);
	}
	fprintf(f, "],\n");
}

int
bench_report_json(const char *path, const struct bench_run *run)
{
	const struct bench_cfg *cfg = &run->cfg;
	FILE *f = fopen(path, "we");
	if (!f)
		return -errno;
	json_machine(f, &run->m);
	fprintf(f,
	    "  \"config\": {\"mode\": \"%s\", \"rtt_size\": %zu, "
	    "\"rounds\": %ld, \"warmup\": %ld, \"rtt_cap_s\": %.3f, "
	    "\"duration_s\": %.3f, \"rate\": %.0f, \"pause_us\": %ld, "
	    "\"rtt_is_round_trip\": true, \"repeat\": %d, \"sizes\": [",
	    run->mode, cfg->rtt_size, cfg->rounds, cfg->warmup, cfg->rtt_cap_s,
	    cfg->duration_s, cfg->rate, cfg->pause_us,
	    run->repeat > 1 ? run->repeat : 1);
	for (int k = 0; k < cfg->nsizes; k++)
		fprintf(f, "%s%zu", k ? ", " : "", cfg->sizes[k]);
	fprintf(f, "]},\n");
	json_claims(f, run);
	if (run->npat)
		bench_report_json_patterns(f, run);
	fprintf(f, "  \"results\": [\n");
	for (int i = 0; i < run->n; i++) {
		json_result(f, run, &run->row[i]);
		fprintf(f, "%s\n", i + 1 < run->n ? "," : "");
	}
	fprintf(f, "  ]\n}\n");
	int bad = ferror(f);
	if (fclose(f) != 0 || bad)
		return -EIO;
	return 0;
}
