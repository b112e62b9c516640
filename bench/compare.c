/* SPDX-License-Identifier: MIT */
/*
 * compare.c - two recorded runs side by side (`ipckit bench --compare A B`):
 * each row's p50, p99 and throughput ratio B/A. How much the floor rows
 * moved between the runs is the noise of this pair of runs (the hardware
 * did not change, so whatever the floors show is the machine's mood); a
 * change beyond that noise is marked and listed.
 */
#include "bench.h"

#include <math.h>
#include <string.h>

/* Smallest margins, even when the floors agree exactly: the histogram's
 * buckets are 3 % wide and a p99 rests on few samples. */
#define CMP_MIN_P50 1.10
#define CMP_MIN_P99 1.25
#define CMP_MIN_TPUT 1.10

static const char *const cmp_floors[] = {"floor/atomic", "floor/ring",
    "floor/zc", "floor/futex", "memcpy", "memcpy/hot"};

struct cmp_noise {
	double p50, p99; /* factors */
	double tput[BENCH_MAX_SIZES];
	int from_floors;
};

static const struct bench_row *
cmp_row(const struct bench_run *run, const char *name)
{
	for (int i = 0; i < run->n; i++)
		if (!strcmp(run->row[i].name, name))
			return &run->row[i];
	return NULL;
}

static double
cmp_factor(double a, double b)
{
	return a > 0 && b > 0 ? exp(fabs(log(b / a))) : 1.0;
}

static void
cmp_noise(
    struct cmp_noise *nz, const struct bench_run *a, const struct bench_run *b)
{
	nz->p50 = CMP_MIN_P50;
	nz->p99 = CMP_MIN_P99;
	nz->from_floors = 0;
	for (int k = 0; k < BENCH_MAX_SIZES; k++)
		nz->tput[k] = CMP_MIN_TPUT;
	for (size_t i = 0; i < sizeof(cmp_floors) / sizeof(cmp_floors[0]);
	     i++) {
		const struct bench_row *x = cmp_row(a, cmp_floors[i]);
		const struct bench_row *y = cmp_row(b, cmp_floors[i]);
		if (!x || !y)
			continue;
		if (x->have_rtt && y->have_rtt) {
			nz->from_floors = 1;
			nz->p50 = fmax(nz->p50,
			    cmp_factor((double)x->p50, (double)y->p50));
			nz->p99 = fmax(nz->p99,
			    cmp_factor((double)x->p99, (double)y->p99));
		}
		for (int k = 0; k < b->cfg.nsizes; k++) {
			/* floor/zc streams zero-copy only. */
			int zc = !strcmp(cmp_floors[i], "floor/zc");
			const struct bench_rtput *s =
			    bench_row_tput(x, b->cfg.sizes[k], zc);
			const struct bench_rtput *t =
			    bench_row_tput(y, b->cfg.sizes[k], zc);
			if (!s || !t)
				continue;
			nz->from_floors = 1;
			nz->tput[k] = fmax(
			    nz->tput[k], cmp_factor(s->mb_per_s, t->mb_per_s));
		}
	}
}

/* "0.87x" and a mark: '+' better beyond the noise, '-' worse, ' ' not. */
static int
cmp_cell(
    FILE *f, double a, double b, double noise, int lower_is_better, int width)
{
	char cell[24];
	if (!(a > 0) || !(b > 0)) {
		fprintf(f, " %*s", width, "-");
		return 0;
	}
	double r = b / a;
	/* The floors' own ratios are the noise: never beyond it. */
	int beyond = r > noise * 1.001 || r < 1 / (noise * 1.001);
	int better = lower_is_better ? r < 1 : r > 1;
	snprintf(cell, sizeof(cell), "%.2fx%c", r,
	    !beyond	 ? ' '
		: better ? '+'
			 : '-');
	fprintf(f, " %*s", width, cell);
	return beyond;
}

static int
cmp_line(FILE *f, const struct bench_run *b, const struct bench_row *x,
    const struct bench_row *y, int zc, const struct cmp_noise *nz)
{
	char name[40];
	int changed = 0;
	snprintf(name, sizeof(name), "%s%s", y->name, zc ? " zc" : "");
	fprintf(f, "%-17s", name);
	if (!zc && x->have_rtt && y->have_rtt) {
		fprintf(f, " %9.2f %9.2f", x->p50 / 1e3, y->p50 / 1e3);
		changed |=
		    cmp_cell(f, (double)x->p50, (double)y->p50, nz->p50, 1, 7);
		fprintf(f, " %9.1f %9.1f", x->p99 / 1e3, y->p99 / 1e3);
		changed |=
		    cmp_cell(f, (double)x->p99, (double)y->p99, nz->p99, 1, 7);
	} else {
		fprintf(f, " %9s %9s %7s %9s %9s %7s", "-", "-", "-", "-", "-",
		    "-");
	}
	for (int k = 0; k < b->cfg.nsizes; k++) {
		const struct bench_rtput *s =
		    bench_row_tput(x, b->cfg.sizes[k], zc);
		const struct bench_rtput *t =
		    bench_row_tput(y, b->cfg.sizes[k], zc);
		changed |= cmp_cell(f, s ? s->mb_per_s : 0, t ? t->mb_per_s : 0,
		    nz->tput[k], 0, 8);
	}
	fputc('\n', f);
	return changed;
}

static void
cmp_header(FILE *f, const struct bench_run *a, const struct bench_run *b,
    const struct cmp_noise *nz)
{
	char sz[24];
	fprintf(f, "\nCOMPARISON OF TWO RUNS, B / A\n");
	fprintf(f, "A: %s, %s mode, %s, load %s\n", a->m.date, a->mode,
	    a->m.cpu_model, a->m.loadavg);
	fprintf(f, "B: %s, %s mode, %s, load %s\n", b->m.date, b->mode,
	    b->m.cpu_model, b->m.loadavg);
	if (strcmp(a->m.cpu_model, b->m.cpu_model) || a->m.ncpu != b->m.ncpu)
		fprintf(f,
		    "note: the machines differ; the floors say by how "
		    "much\n");
	fprintf(f,
	    "noise, from how far the floor rows moved between A and B%s:\n"
	    "  p50 %.2fx, p99 %.2fx, throughput",
	    nz->from_floors ? "" : " (no floor rows in both: fixed margins)",
	    nz->p50, nz->p99);
	for (int k = 0; k < b->cfg.nsizes; k++) {
		bench_fmt_size(sz, sizeof(sz), b->cfg.sizes[k]);
		fprintf(f, "%s %s %.2fx", k ? "," : "", sz, nz->tput[k]);
	}
	fprintf(
	    f, "\n  a ratio beyond them is marked + (better) or - (worse)\n\n");
	fprintf(f, "%-17s %9s %9s %7s %9s %9s %7s", "name", "p50 A us",
	    "p50 B us", "B/A", "p99 A us", "p99 B us", "B/A");
	for (int k = 0; k < b->cfg.nsizes; k++) {
		bench_fmt_size(sz, sizeof(sz), b->cfg.sizes[k]);
		fprintf(f, " %8s", sz);
	}
	fprintf(f, "\n");
}

static int
cmp_has_zc(const struct bench_row *x)
{
	for (int j = 0; j < x->ntput; j++)
		if (x->tput[j].zero_copy && x->tput[j].status == BENCH_OK)
			return 1;
	return 0;
}

static int
cmp_measured(const struct bench_row *x)
{
	for (int j = 0; j < x->ntput; j++)
		if (x->tput[j].status == BENCH_OK)
			return 1;
	return x->have_rtt;
}

static const struct bench_prow *
cmp_prow(const struct bench_run *run, const char *name)
{
	for (int i = 0; i < run->npat; i++)
		if (!strcmp(run->pat[i].name, name))
			return &run->pat[i];
	return NULL;
}

/* The pattern rows of both runs: latency p50 and p99, the publisher's (or
 * all clients') rate, the slowest subscriber's, the zero-copy publisher's
 * cost, each B/A; the floors' noise marks them as in the table above. */
static int
cmp_patterns(FILE *f, const struct bench_run *a, const struct bench_run *b,
    const struct cmp_noise *nz)
{
	int changed = 0, head = 0;
	for (int i = 0; i < b->npat; i++) {
		const struct bench_prow *y = &b->pat[i];
		const struct bench_prow *x = cmp_prow(a, y->name);
		if (!x || x->status != BENCH_OK || y->status != BENCH_OK)
			continue;
		if (!head++)
			fprintf(f,
			    "\nPATTERNS, B / A\n%-22s %8s %8s %8s %8s %8s\n",
			    "name", "lat p50", "lat p99", "sent/s", "slowest/s",
			    "pub cost");
		fprintf(f, "%-22s", y->name);
		int c =
		    cmp_cell(f, (double)x->p50, (double)y->p50, nz->p50, 1, 8);
		c |= cmp_cell(f, (double)x->p99, (double)y->p99, nz->p99, 1, 8);
		c |= cmp_cell(f, x->pub_rate, y->pub_rate, nz->tput[0], 0, 8);
		c |= cmp_cell(f, x->sub_rate, y->sub_rate, nz->tput[0], 0, 8);
		c |= cmp_cell(f, x->pub_ns, y->pub_ns, nz->p50, 1, 8);
		fputc('\n', f);
		changed += c;
	}
	if (head)
		fprintf(f, "%d pattern row%s changed beyond the noise.\n",
		    changed, changed == 1 ? "" : "s");
	return changed;
}

int
bench_report_compare(
    FILE *f, const struct bench_run *a, const struct bench_run *b)
{
	struct cmp_noise nz;
	int changed = 0, only = 0;
	cmp_noise(&nz, a, b);
	cmp_header(f, a, b, &nz);
	for (int i = 0; i < b->n; i++) {
		const struct bench_row *y = &b->row[i];
		const struct bench_row *x = cmp_row(a, y->name);
		if (!x) {
			only++;
			continue;
		}
		if (!cmp_measured(x) || !cmp_measured(y))
			continue;
		int c = cmp_line(f, b, x, y, 0, &nz);
		if (cmp_has_zc(x) || cmp_has_zc(y))
			c |= cmp_line(f, b, x, y, 1, &nz);
		changed += c;
	}
	fprintf(f,
	    "\n%d row%s changed beyond the noise (throughput columns: MB/s "
	    "ratio).\n",
	    changed, changed == 1 ? "" : "s");
	if (only) {
		fprintf(f, "only in B:");
		for (int i = 0; i < b->n; i++)
			if (!cmp_row(a, b->row[i].name))
				fprintf(f, " %s", b->row[i].name);
		fputc('\n', f);
	}
	int head = 0;
	for (int i = 0; i < a->n; i++)
		if (!cmp_row(b, a->row[i].name))
			fprintf(f, "%s %s",
			    head++ ? "" : "only in A:", a->row[i].name);
	if (head)
		fputc('\n', f);
	return changed + cmp_patterns(f, a, b, &nz);
}
