/* SPDX-License-Identifier: MIT */
/*
 * load.c - a run read back from the JSON file that --json wrote, so that
 * recorded runs can be reported, drawn and compared (--from, --compare).
 * Every field is checked for its type and range; a file that is not such
 * a run gives a sentence naming the field, not a half-filled run.
 */
#include "bench.h"
#include "json.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#define LOAD_MAX_FILE (16u << 20)

struct load {
	char *err;
	size_t cap;
	int failed;
};

static int __attribute__((format(printf, 2, 3)))
load_fail(struct load *ld, const char *fmt, ...)
{
	va_list ap;
	if (!ld->failed) {
		va_start(ap, fmt);
		vsnprintf(ld->err, ld->cap, fmt, ap);
		va_end(ap);
	}
	ld->failed = 1;
	return -1;
}

/* Copy string member key of j into buf; a missing member leaves def. */
static void
load_str(struct load *ld, const struct json *j, const char *key, char *buf,
    size_t cap, const char *def, const char *where)
{
	const struct json *v = json_get(j, key);
	if (!v || v->type == JSON_NULL) {
		snprintf(buf, cap, "%s", def);
		return;
	}
	if (v->type != JSON_STR) {
		load_fail(ld, "%s.%s: expected a string", where, key);
		return;
	}
	snprintf(buf, cap, "%s", v->str);
}

/* A number in [lo, hi]; missing or null gives def. */
static double
load_num(struct load *ld, const struct json *j, const char *key, double lo,
    double hi, double def, const char *where)
{
	const struct json *v = json_get(j, key);
	if (!v || v->type == JSON_NULL)
		return def;
	if (v->type != JSON_NUM || !isfinite(v->num) || v->num < lo ||
	    v->num > hi) {
		load_fail(ld, "%s.%s: expected a number from %g to %g", where,
		    key, lo, hi);
		return def;
	}
	return v->num;
}

/* true, false, or null/missing (-1). */
static int
load_bool(
    struct load *ld, const struct json *j, const char *key, const char *where)
{
	const struct json *v = json_get(j, key);
	if (!v || v->type == JSON_NULL)
		return -1;
	if (v->type != JSON_BOOL) {
		load_fail(
		    ld, "%s.%s: expected true, false or null", where, key);
		return -1;
	}
	return v->boolean;
}

static int
load_enum(struct load *ld, const char *s, const char *const *names, int n,
    const char *where, const char *key)
{
	for (int i = 0; i < n; i++)
		if (names[i] && !strcmp(s, names[i]))
			return i;
	load_fail(ld, "%s.%s: unknown value '%.40s'", where, key, s);
	return 0;
}

static const char *const load_status[] = {
    [BENCH_OK] = "ok",
    [BENCH_NOT_BUILT] = "not built",
    [BENCH_NA] = "n/a",
    [BENCH_FAILED] = "failed",
};

static const char *const load_kind[] = {
    [BENCH_IPCKIT] = "ipckit",
    [BENCH_BASELINE] = "baseline",
    [BENCH_PEER] = "peer",
};

static void
load_machine(struct load *ld, const struct json *j, struct bench_machine *m)
{
	const char *w = "machine";
	const struct json *pair = json_get(j, "cpu_pair");
	memset(m, 0, sizeof(*m));
	if (j && j->type != JSON_OBJ) {
		load_fail(ld, "machine: expected an object");
		return;
	}
	load_str(
	    ld, j, "cpu_model", m->cpu_model, sizeof(m->cpu_model), "?", w);
	m->ncpu = (int)load_num(ld, j, "cpus", 0, 1 << 20, 0, w);
	m->cpu_a = m->cpu_b = -1;
	if (pair && pair->type == JSON_ARR && pair->child &&
	    pair->child->next && pair->child->type == JSON_NUM &&
	    pair->child->next->type == JSON_NUM &&
	    fabs(pair->child->num) < 1e6 &&
	    fabs(pair->child->next->num) < 1e6) {
		m->cpu_a = (int)pair->child->num;
		m->cpu_b = (int)pair->child->next->num;
	}
	m->smt_pair = load_bool(ld, j, "smt_siblings", w) > 0;
	m->smt = load_bool(ld, j, "smt", w) > 0;
	load_str(ld, j, "governor", m->governor, sizeof(m->governor), "?", w);
	load_str(ld, j, "kernel", m->kernel, sizeof(m->kernel), "?", w);
	load_str(ld, j, "virtualisation", m->virt, sizeof(m->virt), "?", w);
	load_str(ld, j, "loadavg", m->loadavg, sizeof(m->loadavg), "?", w);
	load_str(ld, j, "hostname", m->hostname, sizeof(m->hostname), "?", w);
	load_str(ld, j, "broker", m->broker, sizeof(m->broker), "", w);
	load_str(ld, j, "date", m->date, sizeof(m->date), "?", w);
}

static void
load_config(struct load *ld, const struct json *j, struct bench_run *run)
{
	const char *w = "config";
	struct bench_cfg *c = &run->cfg;
	if (j && j->type != JSON_OBJ) {
		load_fail(ld, "config: expected an object");
		return;
	}
	load_str(ld, j, "mode", run->mode, sizeof(run->mode), "?", w);
	c->mode = run->mode;
	c->rtt_size = (size_t)load_num(ld, j, "rtt_size", 0, 1 << 30, 64, w);
	c->rounds = (long)load_num(ld, j, "rounds", 0, 1e12, 0, w);
	c->warmup = (long)load_num(ld, j, "warmup", 0, 1e12, 0, w);
	c->rtt_cap_s = load_num(ld, j, "rtt_cap_s", 0, 1e6, 0, w);
	c->duration_s = load_num(ld, j, "duration_s", 0, 1e6, 0, w);
	c->rate = load_num(ld, j, "rate", 0, 1e9, 0, w);
	c->pause_us = (long)load_num(ld, j, "pause_us", 0, 1e9, 0, w);
	c->cpu_a = run->m.cpu_a;
	c->cpu_b = run->m.cpu_b;
}

static void
load_tput(struct load *ld, const struct json *t, struct bench_rtput *o,
    const char *where)
{
	char s[16];
	if (t->type != JSON_OBJ) {
		load_fail(ld, "%s: expected an object", where);
		return;
	}
	o->size = (size_t)load_num(ld, t, "size", 1, 1ull << 40, 0, where);
	if (!o->size)
		load_fail(ld, "%s: no \"size\"", where);
	o->zero_copy = load_bool(ld, t, "zero_copy", where) > 0;
	load_str(ld, t, "status", s, sizeof(s), "ok", where);
	o->status = (enum bench_status)load_enum(
	    ld, s, load_status, 4, where, "status");
	load_str(ld, t, "reason", o->reason, sizeof(o->reason), "", where);
	o->mb_per_s = load_num(ld, t, "mb_per_s", 0, 1e12, -1, where);
	o->msgs_per_s = load_num(ld, t, "msgs_per_s", 0, 1e12, 0, where);
	o->messages = (uint64_t)load_num(ld, t, "messages", 0, 1e18, 0, where);
	o->lost = (uint64_t)load_num(ld, t, "lost", 0, 1e18, 0, where);
	if (o->status == BENCH_OK && o->mb_per_s < 0)
		load_fail(ld, "%s: status ok but no \"mb_per_s\"", where);
}

static void
load_rtt(struct load *ld, const struct json *r, struct bench_row *x,
    const char *where)
{
	char w[64];
	if (!r || r->type == JSON_NULL)
		return;
	snprintf(w, sizeof(w), "%s.rtt_ns", where);
	if (r->type != JSON_OBJ) {
		load_fail(ld, "%s: expected an object or null", w);
		return;
	}
	x->have_rtt = 1;
	x->p50 = (uint64_t)load_num(ld, r, "p50", 1, 1e15, 0, w);
	x->p90 = (uint64_t)load_num(ld, r, "p90", 0, 1e15, (double)x->p50, w);
	x->p99 = (uint64_t)load_num(ld, r, "p99", 0, 1e15, (double)x->p90, w);
	x->p999 = (uint64_t)load_num(ld, r, "p999", 0, 1e15, (double)x->p99, w);
	x->max = (uint64_t)load_num(ld, r, "max", 0, 1e15, (double)x->p999, w);
	x->min = (uint64_t)load_num(ld, r, "min", 0, 1e15, 0, w);
	x->mean = load_num(ld, r, "mean", 0, 1e15, 0, w);
	x->samples = (uint64_t)load_num(ld, r, "samples", 0, 1e15, 0, w);
	if (!x->p50)
		load_fail(ld, "%s: no \"p50\"", w);
}

static void
load_props(struct load *ld, const struct json *p, struct bench_row *x,
    const char *where)
{
	char w[64];
	snprintf(w, sizeof(w), "%s.properties", where);
	if (p && p->type != JSON_OBJ) {
		load_fail(ld, "%s: expected an object", w);
		return;
	}
	x->kinship = load_bool(ld, p, "needs_related_processes", w);
	x->named = load_bool(ld, p, "named", w);
	x->boundaries = load_bool(ld, p, "keeps_boundaries", w);
	x->remote = load_bool(ld, p, "crosses_hosts", w);
	x->reattach = load_bool(ld, p, "survives_peer_restart", w);
	x->pollable = load_bool(ld, p, "pollable", w);
	x->types = load_bool(ld, p, "types_native", w);
	x->zero_copy = load_bool(ld, p, "zero_copy", w);
	x->persist = load_bool(ld, p, "outlives_writer", w);
	load_str(ld, p, "copies", x->copies, sizeof(x->copies), "?", w);
}

/* Files written before the capability fields existed: take them from the
 * transport's capability word (the scheme is the name up to a '/'). */
static void
load_caps(struct bench_row *x)
{
	char scheme[32];
	if (x->kind != BENCH_IPCKIT || x->kinship < 0 ||
	    (x->types >= 0 && x->zero_copy >= 0 && x->persist >= 0))
		return;
	snprintf(scheme, sizeof(scheme), "%.*s", (int)strcspn(x->name, "/"),
	    x->name);
	unsigned caps = ipk_scheme_caps(scheme);
	if (!caps)
		return;
	if (x->types < 0)
		x->types = !!(caps & IPK_CAP_TYPES);
	if (x->zero_copy < 0)
		x->zero_copy = !!(caps & IPK_CAP_ZEROCOPY);
	if (x->persist < 0)
		x->persist = !!(caps & IPK_CAP_PERSIST);
}

static void
load_row(struct load *ld, const struct json *j, struct bench_row *x, int i)
{
	char w[48], s[16];
	snprintf(w, sizeof(w), "results[%d]", i);
	memset(x, 0, sizeof(*x));
	if (j->type != JSON_OBJ) {
		load_fail(ld, "%s: expected an object", w);
		return;
	}
	const struct json *name = json_get(j, "name");
	if (!name || name->type != JSON_STR || !name->str[0] ||
	    strlen(name->str) >= sizeof(x->name)) {
		load_fail(ld, "%s: \"name\" must be a string of 1 to %zu bytes",
		    w, sizeof(x->name) - 1);
		return;
	}
	snprintf(x->name, sizeof(x->name), "%s", name->str);
	snprintf(w, sizeof(w), "results[%d] (%s)", i, x->name);
	load_str(ld, j, "kind", s, sizeof(s), "", w);
	x->kind = (enum bench_kind)load_enum(ld, s, load_kind, 3, w, "kind");
	load_str(ld, j, "status", s, sizeof(s), "ok", w);
	x->status =
	    (enum bench_status)load_enum(ld, s, load_status, 4, w, "status");
	load_str(ld, j, "reason", x->reason, sizeof(x->reason), "", w);
	load_str(ld, j, "wait", x->wait, sizeof(x->wait), "", w);
	load_str(ld, j, "peer", x->peer, sizeof(x->peer), "process", w);
	load_rtt(ld, json_get(j, "rtt_ns"), x, w);
	const struct json *tp = json_get(j, "throughput");
	if (tp && tp->type != JSON_ARR && tp->type != JSON_NULL)
		load_fail(ld, "%s.throughput: expected an array", w);
	for (const struct json *t = tp ? tp->child : NULL; t; t = t->next) {
		char tw[80];
		if (x->ntput == 2 * BENCH_MAX_SIZES) {
			load_fail(ld, "%s.throughput: more than %d entries", w,
			    2 * BENCH_MAX_SIZES);
			return;
		}
		snprintf(tw, sizeof(tw), "%s.throughput[%d]", w, x->ntput);
		load_tput(ld, t, &x->tput[x->ntput++], tw);
	}
	load_props(ld, json_get(j, "properties"), x, w);
	load_caps(x);
}

/* The sizes of the config, or those the rows measured. */
static void
load_sizes(struct load *ld, const struct json *cfg, struct bench_run *run)
{
	const struct json *sz = json_get(cfg, "sizes");
	struct bench_cfg *c = &run->cfg;
	c->nsizes = 0;
	if (sz && sz->type == JSON_ARR) {
		for (const struct json *v = sz->child; v; v = v->next) {
			if (v->type != JSON_NUM || !(v->num >= 1) ||
			    v->num > (double)(1ull << 40) ||
			    c->nsizes == BENCH_MAX_SIZES) {
				load_fail(ld,
				    "config.sizes: expected up to %d "
				    "sizes in bytes",
				    BENCH_MAX_SIZES);
				return;
			}
			c->sizes[c->nsizes++] = (size_t)v->num;
		}
		return;
	}
	for (int i = 0; i < run->n; i++)
		for (int j = 0; j < run->row[i].ntput; j++) {
			size_t s = run->row[i].tput[j].size;
			int k = 0;
			while (k < c->nsizes && c->sizes[k] < s)
				k++;
			if ((k < c->nsizes && c->sizes[k] == s) ||
			    c->nsizes == BENCH_MAX_SIZES)
				continue;
			memmove(&c->sizes[k + 1], &c->sizes[k],
			    (size_t)(c->nsizes - k) * sizeof(c->sizes[0]));
			c->sizes[k] = s;
			c->nsizes++;
		}
}

static const char *const load_pattern[] = {"pubsub", "reqrep"};

/* One pattern row of "patterns": {"rows": [...]}; the goals are not read
 * back, they follow from the rows. */
static void
load_prow(struct load *ld, const struct json *j, struct bench_prow *x, int i)
{
	char w[64], s[16];
	snprintf(w, sizeof(w), "patterns.rows[%d]", i);
	memset(x, 0, sizeof(*x));
	if (j->type != JSON_OBJ) {
		load_fail(ld, "%s: expected an object", w);
		return;
	}
	const struct json *name = json_get(j, "name");
	if (!name || name->type != JSON_STR || !name->str[0] ||
	    strlen(name->str) >= sizeof(x->name)) {
		load_fail(ld, "%s: \"name\" must be a string of 1 to %zu bytes",
		    w, sizeof(x->name) - 1);
		return;
	}
	snprintf(x->name, sizeof(x->name), "%s", name->str);
	snprintf(w, sizeof(w), "patterns.rows[%d] (%s)", i, x->name);
	load_str(ld, j, "pattern", s, sizeof(s), "pubsub", w);
	snprintf(x->pattern, sizeof(x->pattern), "%s",
	    load_pattern[load_enum(ld, s, load_pattern, 2, w, "pattern")]);
	load_str(ld, j, "impl", x->impl, sizeof(x->impl), "", w);
	load_str(ld, j, "kind", s, sizeof(s), "ipckit", w);
	x->kind = (enum bench_kind)load_enum(ld, s, load_kind, 3, w, "kind");
	load_str(ld, j, "status", s, sizeof(s), "ok", w);
	x->status =
	    (enum bench_status)load_enum(ld, s, load_status, 4, w, "status");
	load_str(ld, j, "reason", x->reason, sizeof(x->reason), "", w);
	x->peers = (int)load_num(ld, j, "peers", 0, 1 << 20, 0, w);
	x->size = (size_t)load_num(ld, j, "size", 0, 1ull << 40, 0, w);
	x->zero_copy = load_bool(ld, j, "zero_copy", w) > 0;
	const struct json *lat = json_get(j, "latency_ns");
	if (lat && lat->type == JSON_OBJ) {
		char lw[96];
		snprintf(lw, sizeof(lw), "%s.latency_ns", w);
		x->p50 = (uint64_t)load_num(ld, lat, "p50", 0, 1e15, 0, lw);
		x->p99 = (uint64_t)load_num(ld, lat, "p99", 0, 1e15, 0, lw);
		x->max = (uint64_t)load_num(ld, lat, "max", 0, 1e15, 0, lw);
		x->samples =
		    (uint64_t)load_num(ld, lat, "samples", 0, 1e15, 0, lw);
	} else if (lat && lat->type != JSON_NULL) {
		load_fail(ld, "%s.latency_ns: expected an object or null", w);
	}
	x->messages = (uint64_t)load_num(ld, j, "messages", 0, 1e18, 0, w);
	x->lost = (uint64_t)load_num(ld, j, "lost", 0, 1e18, 0, w);
	x->pub_rate = load_num(ld, j, "sent_per_s", 0, 1e12, 0, w);
	x->sub_rate = load_num(ld, j, "slowest_sub_per_s", 0, 1e12, 0, w);
	x->pub_ns = load_num(ld, j, "pub_cost_ns", 0, 1e15, 0, w);
	x->pub_wall_ns = load_num(ld, j, "pub_wall_ns", 0, 1e15, 0, w);
}

/* "patterns" is optional: runs recorded without --patterns have none. */
static void
load_patterns(struct load *ld, const struct json *p, struct bench_run *run)
{
	if (!p || p->type == JSON_NULL)
		return;
	const struct json *rows = json_get(p, "rows");
	if (p->type != JSON_OBJ || (rows && rows->type != JSON_ARR)) {
		load_fail(ld,
		    "patterns: expected an object with a \"rows\" "
		    "array");
		return;
	}
	for (const struct json *r = rows ? rows->child : NULL; r && !ld->failed;
	     r = r->next) {
		if (run->npat == BENCH_MAX_PAT) {
			load_fail(ld, "patterns.rows: more than %d rows",
			    BENCH_MAX_PAT);
			return;
		}
		load_prow(ld, r, &run->pat[run->npat], run->npat);
		run->npat++;
	}
}

static int
load_tree(struct load *ld, const struct json *root, struct bench_run *run)
{
	if (root->type != JSON_OBJ)
		return load_fail(ld,
		    "not an ipckit bench run: the top level "
		    "is not an object");
	const struct json *res = json_get(root, "results");
	if (!res || res->type != JSON_ARR)
		return load_fail(ld,
		    "not an ipckit bench run: no "
		    "\"results\" array (write one with "
		    "ipckit bench --json FILE)");
	load_machine(ld, json_get(root, "machine"), &run->m);
	load_config(ld, json_get(root, "config"), run);
	for (const struct json *r = res->child; r && !ld->failed; r = r->next) {
		if (run->n == BENCH_MAX_ROWS)
			return load_fail(
			    ld, "results: more than %d rows", BENCH_MAX_ROWS);
		load_row(ld, r, &run->row[run->n], run->n);
		run->n++;
	}
	if (!ld->failed)
		load_patterns(ld, json_get(root, "patterns"), run);
	if (!ld->failed && !run->n && !run->npat)
		load_fail(ld, "results: no rows");
	if (!ld->failed)
		load_sizes(ld, json_get(root, "config"), run);
	return ld->failed ? -1 : 0;
}

static char *
load_file(struct load *ld, const char *path, size_t *len)
{
	FILE *f = fopen(path, "re");
	char *buf = NULL;
	if (!f) {
		load_fail(ld, "%s", strerror(errno));
		return NULL;
	}
	buf = malloc(LOAD_MAX_FILE + 1);
	if (!buf) {
		load_fail(ld, "out of memory");
		goto out;
	}
	*len = fread(buf, 1, LOAD_MAX_FILE + 1, f);
	if (ferror(f)) {
		load_fail(ld, "%s", strerror(errno ? errno : EIO));
	} else if (*len > LOAD_MAX_FILE) {
		load_fail(ld, "larger than %u MiB: not a bench run",
		    LOAD_MAX_FILE >> 20);
	} else if (*len == 0) {
		load_fail(ld, "empty file: not a bench run");
	}
out:
	fclose(f);
	if (ld->failed) {
		free(buf);
		return NULL;
	}
	return buf;
}

int
bench_run_load(const char *path, struct bench_run *run, char *err, size_t cap)
{
	struct load ld = {err, cap, 0};
	size_t len = 0;
	memset(run, 0, sizeof(*run));
	char *text = load_file(&ld, path, &len);
	if (!text)
		return -1;
	struct json *root = json_parse(text, len, err, cap);
	free(text);
	if (!root)
		return -1;
	int rv = load_tree(&ld, root, run);
	json_free(root);
	return rv;
}
