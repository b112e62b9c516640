/* SPDX-License-Identifier: MIT */
/* cmd_bench.c - ipckit bench: every mechanism side by side (bench/). */
#include "cli.h"

#include <stdio.h>

#ifdef IPK_BENCH_ENABLED
#include "bench.h"

#include <errno.h>
#include <getopt.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <unistd.h>

static const char bench_usage[] =
    "usage: ipckit bench [OPTIONS]\n"
    "\n"
    "Measure every IPC mechanism side by side on this machine: round-trip\n"
    "latency percentiles, one-way throughput per message size, and ratios\n"
    "to the hardware floor measured in the same run. Two real processes\n"
    "per row (threads only for inproc), pinned to different CPUs.\n"
    "\n"
    "  -q, --quick            short run, the default (under 90 s on 2 cores)\n"
    "  -F, --full             >= 100,000 round trips per row, 2 s per size\n"
    "  -o, --only LIST        rows to run, comma-separated names or\n"
    "                         prefixes: shm,pipe,floor,raw/mq,zmq\n"
    "  -s, --sizes LIST       streaming sizes (64,4K,64K,1M)\n"
    "  -m, --msg-size SIZE    round-trip message size (64)\n"
    "  -r, --rounds N         measured round trips per row, or small\n"
    "  -d, --duration SECS    streaming time per size (quick 0.2, full 2)\n"
    "  -R, --rate N           open loop: N requests/s, latency from the\n"
    "                         time each request was due\n"
    "  -i, --intermittent[=US]  pause US microseconds (1000) before each\n"
    "                         round trip\n"
    "  -n, --repeat N         run the selected rows N times (up to 64) and\n"
    "                         report the median of each ratio, every ratio\n"
    "                         taken within one run; the tables show the\n"
    "                         last run\n"
    "  -j, --json FILE        write every figure, the machine and the\n"
    "                         article's claims checked as JSON\n"
    "  -p, --plot FILE        pictures through gnuplot (.png or .svg):\n"
    "                         latency and throughput by family\n"
    "  -H, --html FILE        one self-contained HTML page: claims, tables,\n"
    "                         pictures (inline SVG)\n"
    "  -f, --from FILE        report a run recorded with --json instead of\n"
    "                         measuring (table, claims, --plot, --html)\n"
    "  -c, --compare A B      compare two recorded runs: ratios B/A, changes\n"
    "                         beyond the floors' noise marked; --plot and\n"
    "                         --html draw both runs side by side\n"
    "  -l, --list             list the row names and exit\n"
    "  -P, --patterns         the pattern rows (instead of the 1:1 rows,\n"
    "                         or with those --only names): pub/sub\n"
    "                         fan-out 1->1, 1->4, 1->16 (latency, per-\n"
    "                         subscriber throughput, shm zero-copy 1 MiB)\n"
    "                         beside libnng and iceoryx, req/rep with 1\n"
    "                         and 8 clients, and the pattern goals;\n"
    "                         --only pubsub/shm,reqrep picks some\n"
    "  -h, --help             this text\n"
    "\n"
    "Examples: ipckit bench --only shm,floor --full --json out.json\n"
    "          ipckit bench --compare before.json after.json --plot c.svg\n";

static int
bench_parse_sizes(const char *arg, struct bench_cfg *cfg)
{
	char buf[256], *save = NULL;
	snprintf(buf, sizeof(buf), "%s", arg);
	cfg->nsizes = 0;
	for (char *t = strtok_r(buf, ",", &save); t;
	     t = strtok_r(NULL, ",", &save)) {
		uint64_t v;
		if (cfg->nsizes == BENCH_MAX_SIZES ||
		    cli_parse_size(t, &v) < 0 || v < BENCH_MIN_MSG ||
		    v > (256u << 20))
			return -1;
		cfg->sizes[cfg->nsizes++] = (size_t)v;
	}
	return cfg->nsizes ? 0 : -1;
}

/* Does row `name` match one of the comma-separated names or prefixes? */
static int
bench_selected(const char *only, const char *name)
{
	if (!only)
		return 1;
	const char *p = only;
	while (*p) {
		size_t n = strcspn(p, ",");
		if (n && (strlen(name) == n || name[n] == '/') &&
		    !strncmp(name, p, n))
			return 1;
		p += n;
		if (*p)
			p++;
	}
	return 0;
}

static void
bench_pick_cpus(struct bench_cfg *cfg)
{
	cpu_set_t set;
	cfg->cpu_a = cfg->cpu_b = -1;
	if (sched_getaffinity(0, sizeof(set), &set) < 0)
		return;
	for (int i = 0; i < CPU_SETSIZE; i++) {
		if (!CPU_ISSET(i, &set))
			continue;
		if (cfg->cpu_a < 0) {
			cfg->cpu_a = i;
		} else {
			cfg->cpu_b = i;
			break;
		}
	}
	if (cfg->cpu_b < 0)
		cfg->cpu_a = -1;
}

/* The files a run or a comparison writes. */
struct bench_outs {
	const char *json, *plot, *html;
};

static int
bench_outputs(const struct bench_outs *o, const struct bench_run *run,
    const struct bench_run *before)
{
	int status = CLI_OK, rv;
	if (o->json && !before) {
		rv = bench_report_json(o->json, run);
		if (rv < 0) {
			fprintf(stderr, "ipckit bench: %s: %s\n", o->json,
			    strerror(-rv));
			status = CLI_ERR;
		} else {
			printf("JSON written to %s\n", o->json);
		}
	}
	if (o->plot && !run->n) {
		printf("no pictures: the run has only pattern rows (the "
		       "pictures draw the 1:1 rows)\n");
	} else if (o->plot) {
		rv = bench_report_plot(o->plot, run, before);
		if (rv == -ENOENT) {
			printf("no pictures: gnuplot is not installed (apt-get "
			       "install gnuplot-nox); the table and JSON are "
			       "complete without it\n");
		} else if (rv < 0) {
			fprintf(stderr, "ipckit bench: %s: gnuplot failed\n",
			    o->plot);
			status = CLI_ERR;
		} else {
			printf("pictures written to %s\n", o->plot);
		}
	}
	if (o->html) {
		rv = bench_report_html(o->html, run, before);
		if (rv < 0) {
			fprintf(stderr, "ipckit bench: %s: %s\n", o->html,
			    strerror(-rv));
			status = CLI_ERR;
		} else {
			printf("HTML report written to %s\n", o->html);
		}
	}
	(void)fflush(stdout);
	return status;
}

/* A recorded run, or NULL after saying why on stderr. */
static struct bench_run *
bench_load(const char *path)
{
	char err[256];
	struct bench_run *run = malloc(sizeof(*run));
	if (!run) {
		fprintf(stderr, "ipckit bench: out of memory\n");
		return NULL;
	}
	if (bench_run_load(path, run, err, sizeof(err)) < 0) {
		fprintf(stderr, "ipckit bench: %s: %s\n", path, err);
		free(run);
		return NULL;
	}
	return run;
}

static int
bench_from_file(const char *path, const struct bench_outs *o)
{
	struct bench_run *run = bench_load(path);
	if (!run)
		return CLI_ERR;
	printf("recorded run %s\n", path);
	bench_report_table(stdout, run);
	if (run->n)
		bench_report_claims(stdout, run);
	int status = bench_outputs(o, run, NULL);
	free(run);
	return status;
}

static int
bench_compare_files(const char *a, const char *b, const struct bench_outs *o)
{
	if (o->json)
		return cli_usage(&cli_cmd_bench,
		    "--json writes a run, not a comparison; "
		    "use --html or --plot with --compare");
	struct bench_run *before = bench_load(a);
	struct bench_run *after = before ? bench_load(b) : NULL;
	int status = CLI_ERR;
	if (after) {
		printf("A = %s\nB = %s\n", a, b);
		bench_report_compare(stdout, before, after);
		status = bench_outputs(o, after, before);
	}
	free(after);
	free(before);
	return status;
}

static int
bench_run(int argc, char **argv)
{
	static const struct option opts[] = {
	    {"quick", no_argument, NULL, 'q'},
	    {"full", no_argument, NULL, 'F'},
	    {"only", required_argument, NULL, 'o'},
	    {"sizes", required_argument, NULL, 's'},
	    {"msg-size", required_argument, NULL, 'm'},
	    {"rounds", required_argument, NULL, 'r'},
	    {"duration", required_argument, NULL, 'd'},
	    {"rate", required_argument, NULL, 'R'},
	    {"intermittent", optional_argument, NULL, 'i'},
	    {"repeat", required_argument, NULL, 'n'},
	    {"json", required_argument, NULL, 'j'},
	    {"plot", required_argument, NULL, 'p'},
	    {"html", required_argument, NULL, 'H'},
	    {"from", required_argument, NULL, 'f'},
	    {"compare", required_argument, NULL, 'c'},
	    {"list", no_argument, NULL, 'l'},
	    {"patterns", no_argument, NULL, 'P'},
	    {"help", no_argument, NULL, 'h'},
	    {NULL, 0, NULL, 0},
	};
	struct bench_cfg cfg = {.rtt_size = 64,
	    .rounds = 20000,
	    .warmup = 1000,
	    .rtt_cap_s = 0.5,
	    .duration_s = 0.2,
	    .sizes = {64, 4096, 65536, 1048576},
	    .nsizes = 4,
	    .mode = "quick"};
	struct bench_outs outs = {0};
	const char *from = NULL, *before = NULL, *after = NULL;
	struct bench_run *run = NULL;
	long long rounds = -1, v, repeat = 1;
	double duration = -1;
	int full = 0, list = 0, patterns = 0, ch;
	char *end;
	uint64_t sz;

	optind = 1;
	for (;;) {
		ch = getopt_long(argc, argv,
		    "+qFo:s:m:r:d:R:i::n:j:p:H:f:c:lPh", opts, NULL);
		if (ch == -1) {
			/* --compare A B: options may follow B too. */
			if (before && !after && optind < argc) {
				after = argv[optind++];
				continue;
			}
			break;
		}
		switch (ch) {
		case 'q':
			full = 0;
			break;
		case 'F':
			full = 1;
			break;
		case 'o':
			cfg.only = optarg;
			break;
		case 's':
			if (bench_parse_sizes(optarg, &cfg) < 0)
				return cli_usage(&cli_cmd_bench,
				    "bad --sizes "
				    "'%s' (e.g. 64,4K,64K,1M; each %d B to "
				    "256M, at most %d)",
				    optarg, BENCH_MIN_MSG, BENCH_MAX_SIZES);
			break;
		case 'm':
			if (cli_parse_size(optarg, &sz) < 0 ||
			    sz < BENCH_MIN_MSG || sz > (16u << 20))
				return cli_usage(&cli_cmd_bench,
				    "bad "
				    "--msg-size '%s' (%d B to 16M)",
				    optarg, BENCH_MIN_MSG);
			cfg.rtt_size = (size_t)sz;
			break;
		case 'r':
			if (!strcmp(optarg, "small"))
				rounds = 300;
			else if (cli_parse_int(optarg, 1, 1LL << 40, &rounds) <
			    0)
				return cli_usage(&cli_cmd_bench,
				    "bad --rounds "
				    "'%s' (a count, or small)",
				    optarg);
			break;
		case 'd':
			errno = 0;
			duration = strtod(optarg, &end);
			if (errno || *end || !(duration > 0) || duration > 600)
				return cli_usage(&cli_cmd_bench,
				    "bad "
				    "--duration '%s' (seconds, up to 600)",
				    optarg);
			break;
		case 'R':
			errno = 0;
			cfg.rate = strtod(optarg, &end);
			if (errno || *end || !(cfg.rate > 0) || cfg.rate > 1e8)
				return cli_usage(&cli_cmd_bench,
				    "bad --rate "
				    "'%s' (requests per second)",
				    optarg);
			break;
		case 'i':
			cfg.pause_us = 1000;
			if (optarg &&
			    cli_parse_int(optarg, 1, 10000000, &v) < 0)
				return cli_usage(&cli_cmd_bench,
				    "bad "
				    "--intermittent '%s' (microseconds)",
				    optarg);
			if (optarg)
				cfg.pause_us = (long)v;
			break;
		case 'n':
			if (cli_parse_int(optarg, 1, 64, &repeat) < 0)
				return cli_usage(&cli_cmd_bench,
				    "bad --repeat '%s' (1 to 64)", optarg);
			break;
		case 'j':
			outs.json = optarg;
			break;
		case 'p':
			outs.plot = optarg;
			break;
		case 'H':
			outs.html = optarg;
			break;
		case 'f':
			from = optarg;
			break;
		case 'c':
			before = optarg;
			break;
		case 'l':
			list = 1;
			break;
		case 'P':
			patterns = 1;
			break;
		case 'h':
			cli_help(&cli_cmd_bench);
			return CLI_OK;
		default:
			return cli_usage(&cli_cmd_bench, "unknown option");
		}
	}
	if (before && !after)
		return cli_usage(&cli_cmd_bench,
		    "--compare takes two files: --compare A.json B.json");
	if (optind < argc)
		return cli_usage(
		    &cli_cmd_bench, "unexpected argument '%s'", argv[optind]);
	if (before && from)
		return cli_usage(
		    &cli_cmd_bench, "--from and --compare do not go together");
	if (before)
		return bench_compare_files(before, after, &outs);
	if (from)
		return bench_from_file(from, &outs);
	if (full) {
		cfg.mode = "full";
		cfg.rounds = 100000;
		cfg.warmup = 10000;
		/* A row whose round trips take milliseconds stops after
		 * 120 s instead of taking hours; its samples say so. */
		cfg.rtt_cap_s = 120;
		cfg.duration_s = 2;
	}
	if (rounds > 0) {
		cfg.rounds = (long)rounds;
		cfg.warmup = rounds >= 10 ? (long)(rounds / 10) : 1;
		if (!full && rounds <= 1000)
			cfg.duration_s = 0.05;
	}
	if (duration > 0)
		cfg.duration_s = duration;
	if (cfg.pause_us > 0 || cfg.rate > 0) {
		/* Paced rows take their time; the cap would cut them short. */
		cfg.rtt_cap_s = full ? 600 : 5;
		if (!full && rounds < 0)
			cfg.rounds = 2000;
	}

	struct bench_subject *subj = calloc(BENCH_MAX_ROWS, sizeof(*subj));
	struct bench_subject *all = calloc(BENCH_MAX_ROWS, sizeof(*all));
	struct bench_result *res = calloc(BENCH_MAX_ROWS, sizeof(*res));
	struct bench_run **runs =
	    calloc((size_t)repeat, sizeof(struct bench_run *));
	int status = CLI_OK, na = 0, n = 0;
	if (!subj || !all || !res || !runs) {
		fprintf(stderr, "ipckit bench: out of memory\n");
		status = CLI_ERR;
		goto out;
	}
	na += bench_subjects_raw(all + na, BENCH_MAX_ROWS - na);
	na += bench_subjects_ipckit(all + na, BENCH_MAX_ROWS - na);
	na += bench_subjects_peer(all + na, BENCH_MAX_ROWS - na);
	na += bench_subjects_mqtt(all + na, BENCH_MAX_ROWS - na);
	if (list) {
		for (int i = 0; i < na; i++)
			printf("%-14s %-9s %s\n", all[i].name,
			    all[i].status == BENCH_OK	    ? ""
				: all[i].status == BENCH_NA ? "n/a"
							    : "not built",
			    all[i].reason);
		goto out;
	}
	/* --patterns alone runs the pattern rows only; with --only, the
	 * 1:1 rows it names too (and of the pattern rows, those it names,
	 * when it names some: pubsub, reqrep/unix, pubsub/shm zc). */
	for (int i = 0; i < na && (!patterns || cfg.only); i++)
		if (bench_selected(cfg.only, all[i].name))
			subj[n++] = all[i];
	if (!n && !patterns) {
		status = cli_usage(&cli_cmd_bench,
		    "--only '%s' matches no "
		    "row (ipckit bench --list shows them)",
		    cfg.only);
		goto out;
	}
	for (const char *p = cfg.only; p && *p;) {
		size_t len = strcspn(p, ",");
		char one[64];
		snprintf(one, sizeof(one), "%.*s", (int)len, p);
		int hit = patterns && bench_pattern_item(p, len);
		for (int i = 0; i < na && len; i++)
			hit |= bench_selected(one, all[i].name);
		if (len && !hit) {
			status = cli_usage(&cli_cmd_bench,
			    "--only: no row "
			    "named '%s' (ipckit bench --list shows them)",
			    one);
			goto out;
		}
		p += len;
		if (*p)
			p++;
	}

	/* Zero-copy rows are measured against the floor of their workload
	 * (floor/zc) and a hot memcpy of the same run (a reference): bring
	 * those rows along when they were not chosen. */
	static const char *const zc_refs[] = {"floor/zc", "memcpy/hot"};
	int zc = 0;
	for (int i = 0; i < n; i++)
		zc |= subj[i].zero_copy && subj[i].status == BENCH_OK;
	for (size_t r = 0; zc && r < sizeof(zc_refs) / sizeof(zc_refs[0]);
	     r++) {
		int have = 0;
		for (int i = 0; i < n; i++)
			have |= !strcmp(subj[i].name, zc_refs[r]);
		for (int i = 0; !have && i < na && n < BENCH_MAX_ROWS; i++)
			if (!strcmp(all[i].name, zc_refs[r]))
				subj[n++] = all[i];
	}

	/* A dead peer's pipe is an error return, not a signal. */
	(void)signal(SIGPIPE, SIG_IGN);
	/* Orphans of a row (a broker it started) come back here to be
	 * reaped, rather than to an init that may not reap them. */
	prctl(PR_SET_CHILD_SUBREAPER, 1);
	bench_pick_cpus(&cfg);
	cfg.tty = isatty(STDERR_FILENO);
	struct bench_machine m;
	bench_machine_read(&m, cfg.cpu_a, cfg.cpu_b);
	int64_t t0 = bench_now();
	for (int k = 0; k < repeat; k++) {
		if (repeat > 1)
			fprintf(
			    stderr, "bench: run %d of %lld\n", k + 1, repeat);
		for (int i = 0; i < n; i++)
			bench_run_row(&cfg, &subj[i], &res[i], i, n);
		if (n)
			bench_progress(&cfg, n, n, "done", "");
		bench_reap(5000);
		runs[k] = malloc(sizeof(*runs[k]));
		if (runs[k])
			bench_run_fill(runs[k], &cfg, &m, res, n);
		for (int i = 0; i < n; i++) {
			free(res[i].rtt);
			res[i].rtt = NULL;
		}
		if (!runs[k]) {
			fprintf(stderr, "ipckit bench: out of memory\n");
			status = CLI_ERR;
			goto out;
		}
	}
	run = malloc(sizeof(*run));
	if (!run) {
		fprintf(stderr, "ipckit bench: out of memory\n");
		status = CLI_ERR;
		goto out;
	}
	/* The tables show the last run; with --repeat, the ratios are the
	 * medians over every run. */
	*run = *runs[repeat - 1];
	if (repeat > 1)
		bench_run_median(run, runs, (int)repeat);
	if (patterns) {
		/* Once, after the 1:1 rows: a fan-out row is many processes,
		 * so its figures come from a quiet machine too. */
		if (repeat > 1)
			fprintf(stderr, "bench: the pattern rows\n");
		run->npat = bench_patterns(&cfg, run->pat, BENCH_MAX_PAT);
		bench_reap(5000);
	}
	bench_report_table(stdout, run);
	printf("\nwhole run: %.1f s\n", (double)(bench_now() - t0) / 1e9);
	if (run->n)
		bench_report_claims(stdout, run);
	status = bench_outputs(&outs, run, NULL);
	(void)fflush(stdout);
out:
	for (int i = 0; i < n && res; i++)
		free(res[i].rtt);
	for (long long k = 0; runs && k < repeat; k++)
		free(runs[k]);
	free(runs);
	free(run);
	free(res);
	free(all);
	free(subj);
	return status;
}

#else
static const char bench_usage[] =
    "usage: ipckit bench\n\nThis ipckit was built without the benchmark "
    "(cmake -DIPK_BENCH=ON).\n";

static int
bench_run(int argc, char **argv)
{
	(void)argc;
	(void)argv;
	fputs(bench_usage, stderr);
	return CLI_ERR;
}
#endif

const struct cli_cmd cli_cmd_bench = {
    .name = "bench",
    .run = bench_run,
    .summary = "measure every mechanism side by side",
    .usage = bench_usage,
};
