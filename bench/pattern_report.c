/* SPDX-License-Identifier: MIT */
/*
 * pattern_report.c - the pattern rows as the reports show them: the
 * terminal table, the goals (ratios taken within one run, met or not met,
 * never assumed) and the "patterns" object of the JSON file.
 */
#include "bench.h"

#include <math.h>
#include <stdarg.h>
#include <string.h>

static const char *const prep_status[] = {
    [BENCH_OK] = "ok",
    [BENCH_NOT_BUILT] = "not built",
    [BENCH_NA] = "n/a",
    [BENCH_FAILED] = "failed",
};

static const struct bench_prow *
prep_row(const struct bench_run *run, const char *name)
{
	for (int i = 0; i < run->npat; i++)
		if (!strcmp(run->pat[i].name, name))
			return &run->pat[i];
	return NULL;
}

static void __attribute__((format(printf, 2, 3)))
prep_say(struct bench_goal *g, const char *fmt, ...)
{
	size_t len = strlen(g->evidence);
	va_list ap;
	if (len + 1 >= sizeof(g->evidence))
		return;
	va_start(ap, fmt);
	vsnprintf(g->evidence + len, sizeof(g->evidence) - len, fmt, ap);
	va_end(ap);
}

/* Rows a and b both measured; else the goal is not measured and says
 * which row and why. */
static int
prep_have(struct bench_goal *g, const struct bench_run *run, const char *a,
    const char *b)
{
	const char *names[2] = {a, b};
	for (int i = 0; i < 2; i++) {
		const struct bench_prow *r = prep_row(run, names[i]);
		if (!r) {
			prep_say(g, "%s is not in this run", names[i]);
			return 0;
		}
		if (r->status != BENCH_OK) {
			prep_say(g, "%s: %s: %s", names[i],
			    prep_status[r->status], r->reason);
			return 0;
		}
	}
	return 1;
}

static void
prep_judge(struct bench_goal *g, double num, double den)
{
	if (!(num > 0) || !(den > 0) || !isfinite(num / den)) {
		g->met = -1;
		prep_say(g, "; no figure to divide");
		return;
	}
	g->value = num / den;
	g->met = g->at_most ? g->value <= g->goal : g->value >= g->goal;
}

int
bench_pattern_goals(const struct bench_run *run, struct bench_goal *g, int cap)
{
	const struct bench_prow *a, *b;
	char x[24], y[24];
	int n = 0;
	if (!run->npat || cap < 3)
		return 0;
	memset(g, 0, 3 * sizeof(*g));

	g[n].id = "shm-fanout-throughput";
	g[n].what = "shm pub/sub 1->4 per-subscriber 64 B throughput / 1->1";
	g[n].goal = 0.5;
	g[n].met = -1;
	if (prep_have(&g[n], run, "pubsub/shm 1->4", "pubsub/shm 1->1")) {
		a = prep_row(run, "pubsub/shm 1->4");
		b = prep_row(run, "pubsub/shm 1->1");
		prep_say(&g[n],
		    "slowest of 4 subscribers %.0f msg/s, the single one "
		    "%.0f msg/s",
		    a->sub_rate, b->sub_rate);
		prep_judge(&g[n], a->sub_rate, b->sub_rate);
	}
	n++;

	g[n].id = "shm-zc-publisher-cost";
	g[n].what = "shm zero-copy 1 MiB pub/sub, the publisher's cost per "
		    "message 1->4 / 1->1";
	g[n].goal = 1.0;
	g[n].at_most = 1;
	g[n].met = -1;
	if (prep_have(&g[n], run, "pubsub/shm zc 1->4", "pubsub/shm zc 1->1")) {
		a = prep_row(run, "pubsub/shm zc 1->4");
		b = prep_row(run, "pubsub/shm zc 1->1");
		bench_fmt_us(x, sizeof(x), a->pub_ns);
		bench_fmt_us(y, sizeof(y), b->pub_ns);
		prep_say(&g[n],
		    "fill + commit of 1 MiB, the publisher's CPU time: %s "
		    "with 4 subscribers, %s with 1 (a copy per subscriber "
		    "would make it about 4x)",
		    x, y);
		prep_judge(&g[n], a->pub_ns, b->pub_ns);
	}
	n++;

	g[n].id = "shm-vs-iceoryx-latency";
	g[n].what = "shm pub/sub p50 latency / iceoryx p50 (1->1, 64 B)";
	g[n].goal = 0.5;
	g[n].at_most = 1;
	g[n].met = -1;
	if (prep_have(&g[n], run, "pubsub/shm 1->1", "pubsub/iceoryx 1->1")) {
		a = prep_row(run, "pubsub/shm 1->1");
		b = prep_row(run, "pubsub/iceoryx 1->1");
		bench_fmt_us(x, sizeof(x), (double)a->p50);
		bench_fmt_us(y, sizeof(y), (double)b->p50);
		prep_say(&g[n], "one way, paced: shm %s, iceoryx %s", x, y);
		const struct bench_prow *sp =
		    prep_row(run, "pubsub/shm/spin 1->1");
		if (sp && sp->status == BENCH_OK && sp->p50) {
			bench_fmt_us(x, sizeof(x), (double)sp->p50);
			prep_say(&g[n],
			    "; with a spinning subscriber (shm/spin) %s", x);
		}
		prep_judge(&g[n], (double)a->p50, (double)b->p50);
	}
	n++;
	return n;
}

/* --- the terminal ------------------------------------------------------- */

static void
prep_rate(char *buf, size_t cap, double v)
{
	if (!(v > 0))
		snprintf(buf, cap, "-");
	else if (v >= 1e6)
		snprintf(buf, cap, "%.2fM", v / 1e6);
	else if (v >= 1e3)
		snprintf(buf, cap, "%.1fk", v / 1e3);
	else
		snprintf(buf, cap, "%.0f", v);
}

static void
prep_us(char *buf, size_t cap, double ns)
{
	if (ns > 0)
		bench_fmt_us(buf, cap, ns);
	else
		snprintf(buf, cap, "-");
}

void
bench_report_patterns(FILE *f, const struct bench_run *run)
{
	struct bench_goal g[BENCH_MAX_GOALS];
	if (!run->npat)
		return;
	fprintf(f,
	    "\nPATTERNS (a process per party; pub/sub latency is one way, "
	    "the publisher's\nCLOCK_MONOTONIC stamp to the subscriber's "
	    "receive, paced so no message queues,\nevery subscriber's "
	    "samples; req/rep latency is the round trip of every client)\n"
	    "%-22s %-7s %9s %9s %8s %11s %11s %6s %9s\n",
	    "name", "size", "lat p50", "lat p99", "samples", "sent/s",
	    "slowest/s", "lost", "pub cost");
	for (int i = 0; i < run->npat; i++) {
		const struct bench_prow *r = &run->pat[i];
		char sz[16], p50[16], p99[16], a[16], b[16], c[16], n[24];
		if (r->status != BENCH_OK) {
			fprintf(f, "%-22s %s: %s\n", r->name,
			    prep_status[r->status], r->reason);
			continue;
		}
		bench_fmt_size(sz, sizeof(sz), r->size);
		prep_us(p50, sizeof(p50), (double)r->p50);
		prep_us(p99, sizeof(p99), (double)r->p99);
		prep_rate(a, sizeof(a), r->pub_rate);
		prep_rate(b, sizeof(b), r->sub_rate);
		prep_us(c, sizeof(c), r->pub_ns);
		if (r->samples)
			snprintf(n, sizeof(n), "%llu",
			    (unsigned long long)r->samples);
		else
			snprintf(n, sizeof(n), "-");
		fprintf(f, "%-22s %-7s %9s %9s %8s %11s %11s %6llu %9s\n",
		    r->name, sz, p50, p99, n, a,
		    !strcmp(r->pattern, "pubsub") ? b : "-",
		    (unsigned long long)r->lost, c);
	}
	fprintf(f,
	    "sent/s: pub/sub, the publisher's messages per second "
	    "(slow=block: as fast as the\nslowest subscriber takes them); "
	    "req/rep, requests per second of all clients.\nslowest/s: the "
	    "slowest subscriber's messages per second. pub cost: zero-copy\n"
	    "rows, the publisher's p50 CPU time from the loan's return to "
	    "the commit's (the\nfill and the publish, not the wait for room "
	    "nor time the scheduler gave others).\n");
	int n = bench_pattern_goals(run, g, BENCH_MAX_GOALS);
	fprintf(f, "\nPATTERN GOALS (ratios within this run)\n");
	for (int i = 0; i < n; i++) {
		if (g[i].met < 0)
			fprintf(f, "- %s: not measured (goal %s %.2f) — %s\n",
			    g[i].what, g[i].at_most ? "<=" : ">=", g[i].goal,
			    g[i].evidence);
		else
			fprintf(f, "- %s: %.2f (goal %s %.2f): goal %s — %s\n",
			    g[i].what, g[i].value,
			    g[i].at_most ? "<=" : ">=", g[i].goal,
			    g[i].met ? "met" : "not met", g[i].evidence);
	}
}

/* --- JSON --------------------------------------------------------------- */

static void
prep_json_str(FILE *f, const char *s)
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

/* A figure, or null when it was not measured (never NaN or Inf). */
static void
prep_json_num(FILE *f, const char *key, double v, const char *fmt)
{
	fprintf(f, ", \"%s\": ", key);
	if (v > 0 && isfinite(v))
		fprintf(f, fmt, v);
	else
		fputs("null", f);
}

void
bench_report_json_patterns(FILE *f, const struct bench_run *run)
{
	struct bench_goal g[BENCH_MAX_GOALS];
	fprintf(f, "  \"patterns\": {\"rows\": [");
	for (int i = 0; i < run->npat; i++) {
		const struct bench_prow *r = &run->pat[i];
		int ok = r->status == BENCH_OK;
		fprintf(f, "%s\n    {\"name\": ", i ? "," : "");
		prep_json_str(f, r->name);
		fprintf(f, ", \"pattern\": ");
		prep_json_str(f, r->pattern);
		fprintf(f, ", \"impl\": ");
		prep_json_str(f, r->impl);
		fprintf(f,
		    ", \"kind\": \"%s\", \"status\": \"%s\", \"reason\": ",
		    r->kind == BENCH_PEER ? "peer" : "ipckit",
		    prep_status[r->status]);
		prep_json_str(f, r->reason);
		fprintf(f,
		    ",\n     \"peers\": %d, \"size\": %zu, \"zero_copy\": %s, "
		    "\"latency_is\": \"%s\", ",
		    r->peers, r->size, r->zero_copy ? "true" : "false",
		    !strcmp(r->pattern, "reqrep") ? "round trip" : "one way");
		if (ok && r->samples)
			fprintf(f,
			    "\"latency_ns\": {\"p50\": %llu, \"p99\": %llu, "
			    "\"max\": %llu, \"samples\": %llu}",
			    (unsigned long long)r->p50,
			    (unsigned long long)r->p99,
			    (unsigned long long)r->max,
			    (unsigned long long)r->samples);
		else
			fprintf(f, "\"latency_ns\": null");
		fprintf(f, ",\n     \"messages\": %llu, \"lost\": %llu",
		    (unsigned long long)r->messages,
		    (unsigned long long)r->lost);
		prep_json_num(f, "sent_per_s", ok ? r->pub_rate : 0, "%.0f");
		prep_json_num(
		    f, "slowest_sub_per_s", ok ? r->sub_rate : 0, "%.0f");
		prep_json_num(f, "pub_cost_ns", ok ? r->pub_ns : 0, "%.0f");
		prep_json_num(
		    f, "pub_wall_ns", ok ? r->pub_wall_ns : 0, "%.0f");
		fputc('}', f);
	}
	fprintf(f, "],\n   \"goals\": [");
	int n = bench_pattern_goals(run, g, BENCH_MAX_GOALS);
	for (int i = 0; i < n; i++) {
		fprintf(f, "%s\n    {\"id\": ", i ? "," : "");
		prep_json_str(f, g[i].id);
		fprintf(f, ", \"what\": ");
		prep_json_str(f, g[i].what);
		fprintf(f, ", \"op\": \"%s\", \"goal\": %.2f",
		    g[i].at_most ? "<=" : ">=", g[i].goal);
		prep_json_num(
		    f, "value", g[i].met >= 0 ? g[i].value : 0, "%.3f");
		fprintf(f, ", \"met\": %s,\n     \"evidence\": ",
		    g[i].met < 0   ? "null"
			: g[i].met ? "true"
				   : "false");
		prep_json_str(f, g[i].evidence);
		fputc('}', f);
	}
	fprintf(f, "]},\n");
}
