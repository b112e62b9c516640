/* SPDX-License-Identifier: MIT */
/*
 * html.c - `ipckit bench --html FILE`: one page that opens in a browser
 * with no network: the article's claims checked, the latency, throughput
 * and properties tables, and the pictures inlined as SVG. With a second
 * run, the comparison too, and the pictures of both runs side by side.
 */
#include "bench.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static void
html_text(FILE *f, const char *s)
{
	for (; *s; s++) {
		switch (*s) {
		case '&':
			fputs("&amp;", f);
			break;
		case '<':
			fputs("&lt;", f);
			break;
		case '>':
			fputs("&gt;", f);
			break;
		case '"':
			fputs("&quot;", f);
			break;
		default:
			fputc(*s, f);
		}
	}
}

static const char html_style[] =
    "body{font:15px/1.45 system-ui,sans-serif;margin:24px auto;"
    "max-width:1240px;color:#222;padding:0 12px}\n"
    "h1{font-size:24px;margin-bottom:4px}h2{font-size:19px;"
    "margin-top:32px;border-bottom:1px solid #ccc}\n"
    "table{border-collapse:collapse;margin:8px 0;font-size:13px}\n"
    "th,td{padding:3px 8px;border-bottom:1px solid #e4e4e4;"
    "text-align:right;vertical-align:top}\n"
    "th{background:#f3f3f3}td.l,th.l{text-align:left}\n"
    "td.yes{color:#1b7837;font-weight:600}td.no{color:#b2182b;"
    "font-weight:600}td.tie,td.mixed{color:#8c510a;font-weight:600}\n"
    ".meta{color:#555}pre{font-size:12px;background:#f7f7f7;"
    "padding:8px;overflow-x:auto}\n"
    "figure{margin:12px 0}figure svg{width:100%;height:auto;"
    "max-width:1200px}\n";

static void
html_head(FILE *f, const struct bench_run *run, const struct bench_run *before)
{
	fprintf(f,
	    "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n"
	    "<meta charset=\"utf-8\">\n<meta name=\"viewport\" "
	    "content=\"width=device-width, initial-scale=1\">\n"
	    "<title>ipckit bench %s</title>\n<style>\n%s</style>\n"
	    "</head>\n<body>\n<h1>ipckit bench: which IPC mechanism, at what "
	    "cost</h1>\n<p class=\"meta\">",
	    before ? "comparison" : "report", html_style);
	if (before) {
		fputs("A: ", f);
		html_text(f, before->m.date);
		fputs(" (", f);
		html_text(f, before->mode);
		fputs(" mode); B: ", f);
	}
	html_text(f, run->m.date);
	fputs(", ", f);
	html_text(f, run->mode);
	fprintf(f, " mode; %d CPUs; ", run->m.ncpu);
	html_text(f, run->m.cpu_model);
	fputs("; ", f);
	html_text(f, run->m.kernel);
	fputs("; virtualisation: ", f);
	html_text(f, run->m.virt);
	fputs("; load ", f);
	html_text(f, run->m.loadavg);
	fprintf(f, ". ipckit %s.</p>\n", IPK_VERSION_STRING);
}

static void
html_claims(FILE *f, const struct bench_run *run)
{
	struct bench_claim c[BENCH_MAX_CLAIMS];
	int n = bench_claims(run, c, BENCH_MAX_CLAIMS);
	fprintf(f,
	    "<h2>The article's claims, checked on this machine</h2>\n"
	    "<p>From this run's p50 round trips and throughput; two figures "
	    "within %.2f&times; of each other are a tie.</p>\n"
	    "<table id=\"claims\"><tr><th class=\"l\">claim</th>"
	    "<th class=\"l\">here</th><th class=\"l\">evidence</th></tr>\n",
	    BENCH_TIE);
	for (int i = 0; i < n; i++) {
		fputs("<tr><td class=\"l\">", f);
		html_text(f, c[i].claim);
		fprintf(f, "</td><td class=\"l %s\">",
		    strchr(c[i].verdict, ' ') ? "nm" : c[i].verdict);
		html_text(f, c[i].verdict);
		fputs("</td><td class=\"l\">", f);
		html_text(f, c[i].evidence);
		fputs("</td></tr>\n", f);
	}
	fputs("</table>\n", f);
}

static void
html_latency(FILE *f, const struct bench_run *run)
{
	const struct bench_row *fa = bench_row_rtt(run, "floor/atomic");
	fprintf(f,
	    "<h2>Round-trip latency</h2>\n<p>%zu-byte messages, "
	    "microseconds; the round trip, not one-way.</p>\n"
	    "<table id=\"latency\"><tr><th class=\"l\">name</th>"
	    "<th class=\"l\">wait</th><th>samples</th><th>p50</th>"
	    "<th>p90</th><th>p99</th><th>p99.9</th><th>max</th>"
	    "<th>&times; floor/atomic</th></tr>\n",
	    run->cfg.rtt_size);
	for (int i = 0; i < run->n; i++) {
		const struct bench_row *x = &run->row[i];
		if (!x->have_rtt)
			continue;
		fputs("<tr><td class=\"l\">", f);
		html_text(f, x->name);
		fputs("</td><td class=\"l\">", f);
		html_text(f, x->wait);
		fprintf(f,
		    "</td><td>%llu</td><td>%.2f</td><td>%.2f</td>"
		    "<td>%.2f</td><td>%.2f</td><td>%.1f</td><td>",
		    (unsigned long long)x->samples, x->p50 / 1e3, x->p90 / 1e3,
		    x->p99 / 1e3, x->p999 / 1e3, x->max / 1e3);
		if (fa && fa->p50)
			fprintf(f, "%.2f", (double)x->p50 / (double)fa->p50);
		fputs("</td></tr>\n", f);
	}
	fputs("</table>\n", f);
}

static void
html_tput_row(
    FILE *f, const struct bench_run *run, const struct bench_row *x, int zc)
{
	fputs("<tr><td class=\"l\">", f);
	html_text(f, x->name);
	fprintf(f, "%s</td>", zc ? " zc" : "");
	for (int k = 0; k < run->cfg.nsizes; k++) {
		const struct bench_rtput *t =
		    bench_row_tput(x, run->cfg.sizes[k], zc);
		if (t)
			fprintf(f, "<td>%.0f</td>", t->mb_per_s);
		else
			fputs("<td>-</td>", f);
	}
	fputs("</tr>\n", f);
}

static void
html_throughput(FILE *f, const struct bench_run *run)
{
	char sz[24];
	fputs("<h2>One-way streaming throughput</h2>\n<p>MB/s; "
	      "&ldquo;zc&rdquo; = loan/commit + peek/release.</p>\n"
	      "<table id=\"throughput\"><tr><th class=\"l\">name</th>",
	    f);
	for (int k = 0; k < run->cfg.nsizes; k++) {
		bench_fmt_size(sz, sizeof(sz), run->cfg.sizes[k]);
		fprintf(f, "<th>%s</th>", sz);
	}
	fputs("</tr>\n", f);
	for (int i = 0; i < run->n; i++) {
		const struct bench_row *x = &run->row[i];
		int zc = 0, any = 0;
		for (int j = 0; j < x->ntput; j++) {
			any |= x->tput[j].status == BENCH_OK;
			zc |= x->tput[j].zero_copy &&
			    x->tput[j].status == BENCH_OK;
		}
		if (!any)
			continue;
		html_tput_row(f, run, x, 0);
		if (zc)
			html_tput_row(f, run, x, 1);
	}
	fputs("</table>\n", f);
}

static const char *
html_yn(int v)
{
	return v < 0 ? "?" : v ? "yes" : "no";
}

static void
html_props(FILE *f, const struct bench_run *run)
{
	fputs("<h2>Properties</h2>\n<table id=\"properties\"><tr>"
	      "<th class=\"l\">name</th><th>related processes</th>"
	      "<th>named</th><th>boundaries</th><th>types</th>"
	      "<th class=\"l\">copies per message</th><th>crosses hosts</th>"
	      "<th>survives restart</th><th>outlives writer</th>"
	      "<th>pollable</th></tr>\n",
	    f);
	for (int i = 0; i < run->n; i++) {
		const struct bench_row *x = &run->row[i];
		if (!strcmp(x->peer, "none") || x->kinship < 0)
			continue;
		fputs("<tr><td class=\"l\">", f);
		html_text(f, x->name);
		fprintf(f, "</td><td>%s</td><td>%s</td><td>%s</td><td>%s</td>",
		    html_yn(x->kinship), html_yn(x->named),
		    html_yn(x->boundaries), html_yn(x->types));
		fputs("<td class=\"l\">", f);
		html_text(f, x->copies);
		fprintf(f,
		    "</td><td>%s</td><td>%s</td><td>%s</td><td>%s</td>"
		    "</tr>\n",
		    html_yn(x->remote), html_yn(x->reattach),
		    html_yn(x->persist), html_yn(x->pollable));
	}
	fputs("</table>\n", f);
}

static void
html_cell_us(FILE *f, double ns)
{
	char buf[24];
	if (ns > 0) {
		bench_fmt_us(buf, sizeof(buf), ns);
		fputs("<td>", f);
		html_text(f, buf);
		fputs("</td>", f);
	} else {
		fputs("<td>-</td>", f);
	}
}

static void
html_cell_rate(FILE *f, double v)
{
	if (v > 0)
		fprintf(f, "<td>%.0f</td>", v);
	else
		fputs("<td>-</td>", f);
}

/* The pattern rows and their goals (runs made with --patterns). */
static void
html_patterns(FILE *f, const struct bench_run *run)
{
	struct bench_goal g[BENCH_MAX_GOALS];
	static const char *const st[] = {"ok", "not built", "n/a", "failed"};
	if (!run->npat)
		return;
	fputs("<h2>Patterns</h2>\n<p>A process per party. Pub/sub latency "
	      "is one way (the publisher's stamp to the subscriber's "
	      "receive), paced so no message queues, every subscriber's "
	      "samples; req/rep latency is the round trip of every client. "
	      "Sent/s: the publisher's messages per second (req/rep: all "
	      "clients' requests); slowest/s: the slowest subscriber's; "
	      "pub cost: the zero-copy publisher's p50 CPU time per "
	      "message from the loan's return to the commit's.</p>\n"
	      "<table id=\"patterns\"><tr><th class=\"l\">name</th>"
	      "<th>size</th><th>lat p50</th><th>lat p99</th>"
	      "<th>samples</th><th>sent/s</th><th>slowest/s</th>"
	      "<th>lost</th><th>pub cost</th></tr>\n",
	    f);
	for (int i = 0; i < run->npat; i++) {
		const struct bench_prow *r = &run->pat[i];
		char sz[24];
		fputs("<tr><td class=\"l\">", f);
		html_text(f, r->name);
		fputs("</td>", f);
		if (r->status != BENCH_OK) {
			fputs("<td class=\"l\" colspan=\"8\">", f);
			html_text(f, st[r->status]);
			fputs(": ", f);
			html_text(f, r->reason);
			fputs("</td></tr>\n", f);
			continue;
		}
		bench_fmt_size(sz, sizeof(sz), r->size);
		fprintf(f, "<td>%s</td>", sz);
		html_cell_us(f, (double)r->p50);
		html_cell_us(f, (double)r->p99);
		fprintf(f, "<td>%llu</td>", (unsigned long long)r->samples);
		html_cell_rate(f, r->pub_rate);
		html_cell_rate(f, r->sub_rate);
		fprintf(f, "<td>%llu</td>", (unsigned long long)r->lost);
		html_cell_us(f, r->pub_ns);
		fputs("</tr>\n", f);
	}
	fputs("</table>\n<table id=\"pattern-goals\"><tr>"
	      "<th class=\"l\">goal</th><th>ratio</th><th>goal</th>"
	      "<th class=\"l\">here</th><th class=\"l\">evidence</th>"
	      "</tr>\n",
	    f);
	int n = bench_pattern_goals(run, g, BENCH_MAX_GOALS);
	for (int i = 0; i < n; i++) {
		fputs("<tr><td class=\"l\">", f);
		html_text(f, g[i].what);
		if (g[i].met >= 0)
			fprintf(f, "</td><td>%.2f</td>", g[i].value);
		else
			fputs("</td><td>-</td>", f);
		fprintf(f, "<td>%s&nbsp;%.2f</td><td class=\"l %s\">%s</td>",
		    g[i].at_most ? "&le;" : "&ge;", g[i].goal,
		    g[i].met < 0   ? "nm"
			: g[i].met ? "yes"
				   : "no",
		    g[i].met < 0   ? "not measured"
			: g[i].met ? "met"
				   : "not met");
		fputs("<td class=\"l\">", f);
		html_text(f, g[i].evidence);
		fputs("</td></tr>\n", f);
	}
	fputs("</table>\n", f);
}

static void
html_compare(
    FILE *f, const struct bench_run *run, const struct bench_run *before)
{
	char *text = NULL;
	size_t len = 0;
	FILE *m = open_memstream(&text, &len);
	if (!m)
		return;
	bench_report_compare(m, before, run);
	if (fclose(m) == 0 && text) {
		fputs("<h2>Comparison, B / A</h2>\n<pre id=\"compare\">", f);
		html_text(f, text);
		fputs("</pre>\n", f);
	}
	free(text);
}

/* Copy gnuplot's SVG without its XML prologue and doctype. */
static int
html_svg(FILE *f, const struct bench_run *run, const struct bench_run *before)
{
	char path[] = "/tmp/ipkb-html-XXXXXX.svg", line[4096];
	int fd = mkstemps(path, 4);
	if (fd < 0)
		return -errno;
	close(fd);
	int rv = bench_plot_svg_dynamic(path, run, before);
	FILE *s = rv == 0 ? fopen(path, "re") : NULL;
	if (rv == 0 && !s)
		rv = -errno;
	if (s) {
		int body = 0;
		fputs("<h2>Pictures</h2>\n<figure id=\"pictures\">\n", f);
		while (fgets(line, sizeof(line), s)) {
			if (!body && strncmp(line, "<svg", 4))
				continue;
			body = 1;
			fputs(line, f);
		}
		fputs("</figure>\n", f);
		fclose(s);
	}
	unlink(path);
	return rv;
}

int
bench_report_html(const char *path, const struct bench_run *run,
    const struct bench_run *before)
{
	FILE *f = fopen(path, "we");
	if (!f)
		return -errno;
	int rv = 0;
	html_head(f, run, before);
	if (run->n)
		html_claims(f, run);
	if (before)
		html_compare(f, run, before);
	if (run->n)
		rv = html_svg(f, run, before);
	if (rv == -ENOENT)
		fputs("<h2>Pictures</h2>\n<p>No pictures: gnuplot is not "
		      "installed where this page was written.</p>\n",
		    f);
	if (run->n) {
		html_latency(f, run);
		html_throughput(f, run);
		html_props(f, run);
	}
	html_patterns(f, run);
	fputs("</body>\n</html>\n", f);
	int bad = ferror(f);
	if (fclose(f) != 0 || bad)
		return -EIO;
	return rv == -ENOENT ? 0 : rv;
}
