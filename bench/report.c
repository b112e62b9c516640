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

static const struct bench_result *
report_find(const struct bench_result *r, int n, const char *name)
{
	for (int i = 0; i < n; i++)
		if (!strcmp(r[i].s->name, name) && r[i].have_rtt)
			return &r[i];
	return NULL;
}

static double
report_p50(const struct bench_result *r)
{
	return r && r->have_rtt ? (double)bench_hist_quantile(r->rtt, 0.5) : 0;
}

/* The raw loop an ipckit row is compared with, if any. */
static const struct bench_result *
report_raw(const struct bench_result *r, int n, const struct bench_result *x)
{
	char name[40];
	if (x->s->kind != BENCH_IPCKIT)
		return NULL;
	snprintf(name, sizeof(name), "raw/%s", x->s->name);
	return report_find(r, n, name);
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
report_size(char *buf, size_t cap, size_t size)
{
	if (size >= (1u << 20) && size % (1u << 20) == 0)
		snprintf(buf, cap, "%zu MiB", size >> 20);
	else if (size >= 1024 && size % 1024 == 0)
		snprintf(buf, cap, "%zu KiB", size >> 10);
	else
		snprintf(buf, cap, "%zu B", size);
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
report_machine(
    FILE *f, const struct bench_cfg *cfg, const struct bench_machine *m)
{
	fprintf(f, "ipckit bench %s, %s mode, %s\n", IPK_VERSION_STRING,
	    cfg->mode, m->date);
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
}

static void
report_latency(
    FILE *f, const struct bench_cfg *cfg, const struct bench_result *r, int n)
{
	const struct bench_result *fa = report_find(r, n, "floor/atomic");
	const struct bench_result *ff = report_find(r, n, "floor/futex");
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
	for (int i = 0; i < n; i++) {
		const struct bench_result *x = &r[i];
		if (!x->have_rtt)
			continue;
		const struct bench_hist *h = x->rtt;
		fprintf(f,
		    "%-14s %-24.24s %8llu %8.2f %8.2f %8.2f %8.2f "
		    "%9.1f",
		    x->s->name, x->s->wait, (unsigned long long)x->rtt_samples,
		    bench_hist_quantile(h, 0.5) / 1e3,
		    bench_hist_quantile(h, 0.9) / 1e3,
		    bench_hist_quantile(h, 0.99) / 1e3,
		    bench_hist_quantile(h, 0.999) / 1e3, h->max / 1e3);
		report_ratio(f, report_p50(x), report_p50(fa));
		report_ratio(f, report_p50(x), report_p50(ff));
		report_ratio(f, report_p50(x), report_p50(report_raw(r, n, x)));
		fputc('\n', f);
	}
}

static void
report_tput_row(
    FILE *f, const struct bench_cfg *cfg, const struct bench_result *x, int zc)
{
	char name[40];
	snprintf(name, sizeof(name), "%s%s", x->s->name, zc ? " zc" : "");
	fprintf(f, "%-17s", name);
	for (int k = 0; k < cfg->nsizes; k++) {
		char cell[40], rate[16];
		const struct bench_tput *t = NULL;
		for (int j = 0; j < x->ntput; j++)
			if (x->tput[j].zero_copy == zc &&
			    x->tput[j].size == cfg->sizes[k])
				t = &x->tput[j];
		if (!t || t->status != BENCH_OK) {
			snprintf(cell, sizeof(cell), "%s",
			    t ? report_status[t->status] : "-");
		} else if (x->s->memcpy_row) {
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

static void
report_throughput(
    FILE *f, const struct bench_cfg *cfg, const struct bench_result *r, int n)
{
	fprintf(f,
	    "\nONE-WAY STREAMING THROUGHPUT, MB/s (messages/s); "
	    "\"zc\" = loan/commit + peek/release\n%-17s",
	    "name");
	for (int k = 0; k < cfg->nsizes; k++) {
		char sz[24];
		report_size(sz, sizeof(sz), cfg->sizes[k]);
		fprintf(f, " %-19s", sz);
	}
	fputc('\n', f);
	for (int i = 0; i < n; i++) {
		const struct bench_result *x = &r[i];
		if (x->status != BENCH_OK && !x->have_rtt)
			continue;
		report_tput_row(f, cfg, x, 0);
		if (x->s->zero_copy)
			report_tput_row(f, cfg, x, 1);
	}
}

static const char *
report_yn(int v)
{
	return v < 0 ? "?" : v ? "yes" : "no";
}

static void
report_props(FILE *f, const struct bench_result *r, int n)
{
	fprintf(f,
	    "\nPROPERTIES\n%-14s %-8s %-6s %-10s %-30s %-7s %-8s "
	    "%-8s\n",
	    "name", "related", "named", "boundary",
	    "copies per "
	    "message",
	    "remote", "restart", "pollable");
	for (int i = 0; i < n; i++) {
		const struct bench_subject *s = r[i].s;
		const struct bench_props *p = &s->props;
		if (s->memcpy_row || r[i].status == BENCH_NOT_BUILT ||
		    (r[i].status == BENCH_NA && !r[i].have_rtt))
			continue;
		int poll = r[i].pollable >= 0 ? r[i].pollable : p->pollable;
		fprintf(f, "%-14s %-8s %-6s %-10s %-30.30s %-7s %-8s %-8s\n",
		    s->name, report_yn(p->kinship), report_yn(p->named),
		    report_yn(p->boundaries), p->copies ? p->copies : "?",
		    report_yn(p->remote), report_yn(p->reattach),
		    report_yn(poll));
	}
}

static void
report_missing(FILE *f, const struct bench_result *r, int n)
{
	int head = 0;
	for (int i = 0; i < n; i++) {
		const struct bench_result *x = &r[i];
		int partial = 0;
		for (int j = 0; j < x->ntput; j++)
			partial |= x->tput[j].status == BENCH_NA;
		if (x->status == BENCH_OK && !partial)
			continue;
		if (!head++)
			fprintf(f, "\nNOT MEASURED\n");
		if (x->status != BENCH_OK) {
			fprintf(f, "%-14s %-9s %s\n", x->s->name,
			    report_status[x->status], x->reason);
			continue;
		}
		for (int j = 0; j < x->ntput; j++) {
			const struct bench_tput *t = &x->tput[j];
			char sz[24];
			if (t->status != BENCH_NA)
				continue;
			report_size(sz, sizeof(sz), t->size);
			fprintf(f, "%-14s %-9s %s%s: %s\n", x->s->name, "n/a",
			    sz, t->zero_copy ? " zero-copy" : "", t->reason);
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
bench_report_table(FILE *f, const struct bench_cfg *cfg,
    const struct bench_machine *m, const struct bench_result *r, int n)
{
	report_machine(f, cfg, m);
	report_latency(f, cfg, r, n);
	report_throughput(f, cfg, r, n);
	report_props(f, r, n);
	report_missing(f, r, n);
	report_notes(f, cfg);
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
report_floor_mb(const struct bench_result *r, int n, const struct bench_tput *t)
{
	for (int i = 0; i < n; i++) {
		if (strcmp(r[i].s->name, "floor/atomic"))
			continue;
		for (int j = 0; j < r[i].ntput; j++)
			if (r[i].tput[j].size == t->size &&
			    !r[i].tput[j].zero_copy &&
			    r[i].tput[j].status == BENCH_OK)
				return r[i].tput[j].mb_per_s;
	}
	return 0;
}

static void
json_result(
    FILE *f, const struct bench_result *x, const struct bench_result *r, int n)
{
	const struct bench_subject *s = x->s;
	const struct bench_props *p = &s->props;
	fprintf(f, "    {\"name\": ");
	json_str(f, s->name);
	fprintf(f, ", \"kind\": \"%s\", \"status\": \"%s\", \"reason\": ",
	    report_kind[s->kind], report_status[x->status]);
	json_str(f, x->reason);
	fprintf(f, ",\n     \"wait\": ");
	json_str(f, s->wait);
	fprintf(f, ", \"peer\": \"%s\",\n",
	    s->memcpy_row    ? "none"
		: s->threads ? "thread"
			     : "process");
	if (x->have_rtt) {
		const struct bench_hist *h = x->rtt;
		fprintf(f,
		    "     \"rtt_ns\": {\"p50\": %llu, \"p90\": %llu, "
		    "\"p99\": %llu, \"p999\": %llu, \"max\": %llu, "
		    "\"min\": %llu, \"mean\": %.0f, \"samples\": %llu},\n",
		    (unsigned long long)bench_hist_quantile(h, 0.5),
		    (unsigned long long)bench_hist_quantile(h, 0.9),
		    (unsigned long long)bench_hist_quantile(h, 0.99),
		    (unsigned long long)bench_hist_quantile(h, 0.999),
		    (unsigned long long)h->max, (unsigned long long)h->min,
		    h->count ? (double)h->sum / (double)h->count : 0.0,
		    (unsigned long long)h->count);
	} else {
		fprintf(f, "     \"rtt_ns\": null,\n");
	}
	int first = 1;
	fprintf(f, "     \"ratio\": {");
	json_ratio(f, "floor_atomic", report_p50(x),
	    report_p50(report_find(r, n, "floor/atomic")), &first);
	json_ratio(f, "floor_futex", report_p50(x),
	    report_p50(report_find(r, n, "floor/futex")), &first);
	json_ratio(
	    f, "raw", report_p50(x), report_p50(report_raw(r, n, x)), &first);
	fprintf(f, "},\n     \"throughput\": [");
	for (int j = 0; j < x->ntput; j++) {
		const struct bench_tput *t = &x->tput[j];
		fprintf(f,
		    "%s\n       {\"size\": %zu, \"zero_copy\": %s, "
		    "\"status\": \"%s\"",
		    j ? "," : "", t->size, t->zero_copy ? "true" : "false",
		    report_status[t->status]);
		double fl = report_floor_mb(r, n, t);
		if (t->status == BENCH_OK && fl > 0)
			fprintf(f, ", \"floor_atomic_ratio\": %.3f",
			    t->mb_per_s / fl);
		if (t->status == BENCH_OK)
			fprintf(f,
			    ", \"msgs_per_s\": %.0f, "
			    "\"mb_per_s\": %.1f, \"messages\": %llu, "
			    "\"lost\": %llu}",
			    t->msgs_per_s, t->mb_per_s,
			    (unsigned long long)t->messages,
			    (unsigned long long)t->lost);
		else {
			fprintf(f,
			    ", \"msgs_per_s\": null, \"mb_per_s\": null"
			    ", \"reason\": ");
			json_str(
			    f, t->status == BENCH_NA ? t->reason : x->reason);
			fputc('}', f);
		}
	}
	int poll = x->pollable >= 0 ? x->pollable : p->pollable;
	fprintf(f,
	    "],\n     \"properties\": {\"needs_related_processes\": "
	    "%s, \"named\": %s, \"keeps_boundaries\": %s, \"copies\": ",
	    json_bool(p->kinship), json_bool(p->named),
	    json_bool(p->boundaries));
	json_str(f, p->copies ? p->copies : "?");
	fprintf(f,
	    ", \"crosses_hosts\": %s, \"survives_peer_restart\": %s, "
	    "\"pollable\": %s}}",
	    json_bool(p->remote), json_bool(p->reattach), json_bool(poll));
}

int
bench_report_json(const char *path, const struct bench_cfg *cfg,
    const struct bench_machine *m, const struct bench_result *r, int n)
{
	FILE *f = fopen(path, "we");
	if (!f)
		return -errno;
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
	fprintf(f, ", \"date\": \"%s\"},\n", m->date);
	fprintf(f,
	    "  \"config\": {\"mode\": \"%s\", \"rtt_size\": %zu, "
	    "\"rounds\": %ld, \"warmup\": %ld, \"rtt_cap_s\": %.3f, "
	    "\"duration_s\": %.3f, \"rate\": %.0f, \"pause_us\": %ld, "
	    "\"rtt_is_round_trip\": true},\n",
	    cfg->mode, cfg->rtt_size, cfg->rounds, cfg->warmup, cfg->rtt_cap_s,
	    cfg->duration_s, cfg->rate, cfg->pause_us);
	fprintf(f, "  \"results\": [\n");
	for (int i = 0; i < n; i++) {
		json_result(f, &r[i], r, n);
		fprintf(f, "%s\n", i + 1 < n ? "," : "");
	}
	fprintf(f, "  ]\n}\n");
	int bad = ferror(f);
	if (fclose(f) != 0 || bad)
		return -EIO;
	return 0;
}

/* --- gnuplot ----------------------------------------------------------- */

int
bench_report_plot(const char *path, const struct bench_result *r, int n)
{
	const char *ext = strrchr(path, '.');
	int svg = ext && !strcmp(ext, ".svg");
	char script[] = "/tmp/ipkb-plot-XXXXXX";
	char cmd[512];
	int fd, nl = 0;

	if (system("gnuplot --version >/dev/null 2>&1") != 0)
		return -ENOENT;
	if ((fd = mkstemp(script)) < 0)
		return -errno;
	FILE *f = fdopen(fd, "w");
	if (!f) {
		close(fd);
		unlink(script);
		return -ENOMEM;
	}
	fprintf(f, "$lat << EOD\n");
	for (int i = 0; i < n; i++) {
		const struct bench_hist *h = r[i].rtt;
		if (!r[i].have_rtt)
			continue;
		fprintf(f, "\"%s\" %.3f %.3f %.3f %.3f %.3f\n", r[i].s->name,
		    bench_hist_quantile(h, 0.5) / 1e3,
		    bench_hist_quantile(h, 0.9) / 1e3,
		    bench_hist_quantile(h, 0.99) / 1e3,
		    bench_hist_quantile(h, 0.999) / 1e3, h->max / 1e3);
		nl++;
	}
	fprintf(f, "EOD\n$tp << EOD\n");
	char titles[BENCH_MAX_ROWS * 2][40];
	int nb = 0;
	for (int i = 0; i < n && nb < BENCH_MAX_ROWS * 2; i++) {
		for (int zc = 0; zc <= 1; zc++) {
			int any = 0;
			for (int j = 0; j < r[i].ntput; j++) {
				const struct bench_tput *t = &r[i].tput[j];
				if (t->zero_copy != zc || t->status != BENCH_OK)
					continue;
				fprintf(f, "%zu %.3f\n", t->size, t->mb_per_s);
				any = 1;
			}
			if (any) {
				fprintf(f, "\n\n");
				snprintf(titles[nb++], sizeof(titles[0]),
				    "%s%s", r[i].s->name, zc ? " zc" : "");
			}
		}
	}
	fprintf(f, "EOD\n");
	if (svg)
		fprintf(f,
		    "set terminal svg size 1200,1400 dynamic "
		    "font 'sans,10'\n");
	else
		fprintf(f,
		    "set terminal pngcairo size 1200,1400 "
		    "font 'sans,9'\n");
	fprintf(f,
	    "set output '%s'\nset multiplot layout 2,1\n"
	    "set title 'Round-trip latency (two processes; inproc: threads)'\n"
	    "set logscale y\nset ylabel 'microseconds (log)'\nset grid\n"
	    "set xtics rotate by 45 right\nset key top left\n"
	    "set xrange [-0.5:%.1f]\n",
	    path, nl > 0 ? nl - 0.5 : 1.0);
	if (nl)
		fprintf(f,
		    "plot $lat using 0:2:xtic(1) with points pt 7 "
		    "title 'p50', "
		    "'' using 0:3 with points pt 5 title 'p90', "
		    "'' using 0:4 with points pt 9 title 'p99', "
		    "'' using 0:5 with points pt 11 title 'p99.9', "
		    "'' using 0:6 with points pt 1 title 'max'\n");
	else
		fprintf(f, "plot 1/0 notitle\n");
	fprintf(f,
	    "unset xrange\nset title 'One-way streaming throughput'\n"
	    "set logscale xy\nset xlabel 'message size (bytes, log)'\n"
	    "set ylabel 'MB/s (log)'\nset xtics norotate autofreq\n"
	    "set key outside right\n");
	fprintf(f, "plot ");
	for (int i = 0; i < nb; i++)
		fprintf(f,
		    "%s$tp index %d using 1:2 with linespoints title "
		    "'%s'",
		    i ? ", " : "", i, titles[i]);
	if (!nb)
		fprintf(f, "1/0 notitle");
	fprintf(f, "\nunset multiplot\n");
	fclose(f);
	snprintf(cmd, sizeof(cmd), "gnuplot '%s' 2>&1", script);
	int rv = system(cmd);
	unlink(script);
	return rv == 0 ? 0 : -EIO;
}
