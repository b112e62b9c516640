/* SPDX-License-Identifier: MIT */
/*
 * plot.c - the pictures of `ipckit bench`, drawn by gnuplot: small
 * multiples by family (floors and raw loops, kernel-buffered, shared
 * memory, sockets, peers). Latency is a bar to the p50 with a whisker to
 * the p99 on one log axis shared by every panel, the floors drawn across
 * each panel; throughput is MB/s per message size, ipckit's rows beside the
 * raw loops and peer libraries of the same family and the floor. Each
 * family has one colour scale; a row keeps its colour in every panel.
 * With a second run, both are drawn side by side (the earlier one lighter).
 */
#include "bench.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define PLOT_W 1200
#define PLOT_NSHADE 6
#define PLOT_NTP 5 /* throughput panels */

/* One colour scale per family, darkest first. */
static const unsigned plot_scale[BENCH_NFAM][PLOT_NSHADE] = {
    [BENCH_FAM_FLOOR] = {0x000000, 0x525252, 0x7a7a7a, 0x969696, 0x3a3a3a,
	0xb0b0b0},
    [BENCH_FAM_KERNEL] = {0x08306b, 0x2171b5, 0x4292c6, 0x08519c, 0x6baed6,
	0x9ecae1},
    [BENCH_FAM_SHM] = {0x00441b, 0x238b45, 0x41ab5d, 0x006d2c, 0x74c476,
	0x1b7837},
    [BENCH_FAM_SOCKET] = {0x7f2704, 0xd94801, 0xf16913, 0xa63603, 0xfd8d3c,
	0xcc4c02},
    [BENCH_FAM_PEER] = {0x3f007d, 0x6a51a3, 0x807dba, 0x54278f, 0x9e9ac8,
	0x4a1486},
};

static const int plot_points[PLOT_NSHADE] = {7, 5, 9, 11, 13, 15};

static const char *const plot_tp_title[PLOT_NTP] = {
    "floors and raw loops",
    "kernel-buffered, beside the raw loops",
    "shared memory, copying (send/recv)",
    "shared memory, zero-copy (loan/peek)",
    "sockets, beside raw/unix and the peer libraries",
};

struct plot {
	FILE *f;
	const struct bench_run *run, *before;
	int svg, dynamic, height;
	double lat_lo, lat_hi; /* µs: the x range of every latency panel */
	double tp_lo, tp_hi; /* MB/s: the y range of every throughput panel */
	size_t size_lo, size_hi;
	int shade[BENCH_MAX_ROWS];
	int nseries;
};

/* A name as gnuplot may print it: no quote, backslash or control byte. */
static void
plot_clean(char *dst, size_t cap, const char *src)
{
	size_t i = 0;
	for (; src[i] && i + 1 < cap; i++) {
		unsigned char ch = (unsigned char)src[i];
		dst[i] = ch < 0x20 || ch == '"' || ch == '\\' || ch == '\'' ||
			ch == 0x7f
		    ? '?'
		    : (char)ch;
	}
	dst[i] = 0;
}

static unsigned
plot_colour(const struct plot *p, const struct bench_row *x)
{
	int i = (int)(x - p->run->row);
	if (i < 0 || i >= p->run->n)
		return 0x808080;
	return plot_scale[bench_family(x)][p->shade[i] % PLOT_NSHADE];
}

static int
plot_point(const struct plot *p, const struct bench_row *x)
{
	int i = (int)(x - p->run->row);
	return plot_points[i >= 0 && i < p->run->n ? p->shade[i] % PLOT_NSHADE
						   : 0];
}

/* The colour halfway to white: the earlier run of a comparison. */
static unsigned
plot_light(unsigned c)
{
	unsigned r = (c >> 16) & 0xff, g = (c >> 8) & 0xff, b = c & 0xff;
	r = r + (255 - r) * 11 / 20;
	g = g + (255 - g) * 11 / 20;
	b = b + (255 - b) * 11 / 20;
	return r << 16 | g << 8 | b;
}

static const struct bench_row *
plot_twin(const struct bench_run *run, const char *name)
{
	for (int i = 0; run && i < run->n; i++)
		if (!strcmp(run->row[i].name, name))
			return &run->row[i];
	return NULL;
}

/* --- which rows go in which panel --------------------------------------- */

static int
plot_lat_member(const struct bench_row *x, int fam)
{
	return x->have_rtt && (int)bench_family(x) == fam;
}

/* The throughput panel of a row: raw loops and peer libraries also appear
 * beside the ipckit rows of their mechanism. */
static int
plot_tp_member(const struct bench_row *x, int panel, int zc)
{
	enum bench_family f = bench_family(x);
	int raw = !strncmp(x->name, "raw/", 4);
	if (zc != (panel == 3))
		return 0;
	switch (panel) {
	case 0:
		return f == BENCH_FAM_FLOOR;
	case 1:
		return f == BENCH_FAM_KERNEL ||
		    (raw && strcmp(x->name + 4, "unix"));
	case 2:
	case 3:
		return f == BENCH_FAM_SHM ||
		    (f == BENCH_FAM_PEER && !strncmp(x->name, "iceoryx", 7));
	case 4:
		return f == BENCH_FAM_SOCKET ||
		    (raw && !strcmp(x->name + 4, "unix")) ||
		    (f == BENCH_FAM_PEER && strncmp(x->name, "iceoryx", 7));
	default:
		return 0;
	}
}

static int
plot_tp_any(const struct bench_row *x, int zc)
{
	for (int j = 0; j < x->ntput; j++)
		if (x->tput[j].zero_copy == zc &&
		    x->tput[j].status == BENCH_OK && x->tput[j].mb_per_s > 0)
			return 1;
	return 0;
}

static int
plot_lat_rows(const struct plot *p, int fam)
{
	int k = 0;
	for (int i = 0; i < p->run->n; i++)
		k += plot_lat_member(&p->run->row[i], fam);
	return k;
}

static int
plot_tp_rows(const struct plot *p, int panel)
{
	int k = 0;
	for (int i = 0; i < p->run->n; i++)
		k += plot_tp_member(&p->run->row[i], panel, panel == 3) &&
		    plot_tp_any(&p->run->row[i], panel == 3);
	return k;
}

/* --- ranges and layout -------------------------------------------------- */

static void
plot_range_run(struct plot *p, const struct bench_run *run)
{
	for (int i = 0; run && i < run->n; i++) {
		const struct bench_row *x = &run->row[i];
		if (x->have_rtt) {
			double lo = (double)x->p50 / 1e3;
			double hi = (double)(x->p99 > x->p50 ? x->p99 : x->p50);
			if (lo < p->lat_lo)
				p->lat_lo = lo;
			if (hi / 1e3 > p->lat_hi)
				p->lat_hi = hi / 1e3;
		}
		for (int j = 0; j < x->ntput; j++) {
			const struct bench_rtput *t = &x->tput[j];
			if (t->status != BENCH_OK || !(t->mb_per_s > 0))
				continue;
			if (t->mb_per_s < p->tp_lo)
				p->tp_lo = t->mb_per_s;
			if (t->mb_per_s > p->tp_hi)
				p->tp_hi = t->mb_per_s;
			if (!p->size_lo || t->size < p->size_lo)
				p->size_lo = t->size;
			if (t->size > p->size_hi)
				p->size_hi = t->size;
		}
	}
}

static void
plot_ranges(struct plot *p)
{
	int count[BENCH_NFAM] = {0};
	p->lat_lo = p->tp_lo = 1e18;
	p->lat_hi = p->tp_hi = 0;
	plot_range_run(p, p->run);
	plot_range_run(p, p->before);
	/* Whole decades, and room right of the longest whisker for its
	 * label. */
	p->lat_lo = p->lat_hi > 0 ? pow(10, floor(log10(p->lat_lo))) : 0.1;
	p->lat_hi = p->lat_hi > 0 ? pow(10, ceil(log10(p->lat_hi * 25))) : 1e3;
	p->tp_lo = p->tp_hi > 0 ? pow(10, floor(log10(p->tp_lo))) : 1;
	p->tp_hi = p->tp_hi > 0 ? pow(10, ceil(log10(p->tp_hi * 1.5))) : 1e4;
	if (!p->size_lo)
		p->size_lo = p->size_hi = 64;
	for (int i = 0; i < p->run->n; i++)
		p->shade[i] = count[bench_family(&p->run->row[i])]++;
}

/* Pixel heights of the parts, top to bottom. */
#define PLOT_HEAD 70 /* the title lines */
#define PLOT_SECTION 34 /* "Round-trip latency ..." */
#define PLOT_PANEL_TOP 50 /* panel title and the floors' names */
#define PLOT_PANEL_BOTTOM 34 /* x tic labels */
#define PLOT_GAP 14
#define PLOT_TP_H 380 /* one throughput panel */

static int
plot_row_px(const struct plot *p)
{
	return p->before ? 38 : 25;
}

static int
plot_lat_px(const struct plot *p, int fam)
{
	int k = plot_lat_rows(p, fam);
	return k
	    ? PLOT_PANEL_TOP + k * plot_row_px(p) + PLOT_PANEL_BOTTOM + PLOT_GAP
	    : 0;
}

static int
plot_height(const struct plot *p)
{
	int h = PLOT_HEAD + PLOT_SECTION, ntp = 0;
	for (int f = 0; f < BENCH_NFAM; f++)
		h += plot_lat_px(p, f);
	for (int k = 0; k < PLOT_NTP; k++)
		ntp += plot_tp_rows(p, k) > 0;
	return h + PLOT_SECTION + 40 + (ntp + 1) / 2 * PLOT_TP_H + 30;
}

/* A pixel row from the top as a screen fraction from the bottom. */
static double
plot_y(const struct plot *p, int px)
{
	return 1.0 - (double)px / p->height;
}

/* --- the script ---------------------------------------------------------- */

static void
plot_terminal(struct plot *p, const char *path)
{
	char out[1024];
	size_t o = 0;
	/* In a single-quoted gnuplot string, '' is one quote. */
	for (const char *s = path; *s && o + 3 < sizeof(out); s++) {
		out[o++] = *s;
		if (*s == '\'')
			out[o++] = '\'';
	}
	out[o] = 0;
	if (p->svg)
		fprintf(p->f,
		    "set terminal svg size %d,%d %s font 'sans,12' "
		    "noenhanced background rgb '#ffffff'\n",
		    PLOT_W, p->height, p->dynamic ? "dynamic" : "fixed");
	else
		fprintf(p->f,
		    "set terminal pngcairo size %d,%d font 'sans,11' "
		    "noenhanced background rgb '#ffffff'\n",
		    PLOT_W, p->height);
	fprintf(p->f,
	    "set encoding utf8\nset output '%s'\nset multiplot\n"
	    "set style fill solid 0.9 noborder\nset errorbars small\n"
	    "set grid xtics ytics lc rgb '#dddddd' lw 1 dt 1\n"
	    "set border 3 lc rgb '#555555'\nset tics nomirror\n",
	    out);
}

static void
plot_heading(struct plot *p)
{
	char cpu[128], a[40];
	const struct bench_machine *m = &p->run->m;
	plot_clean(cpu, sizeof(cpu), m->cpu_model);
	fprintf(p->f,
	    "set label 1 'ipckit bench: which IPC mechanism, at what cost' "
	    "at screen 0.01, screen %.5f left font ',17'\n",
	    plot_y(p, 26));
	if (p->before) {
		plot_clean(a, sizeof(a), p->before->m.date);
		fprintf(p->f,
		    "set label 2 'lighter bars and dashed lines: run A (%s); "
		    "solid: run B (",
		    a);
	} else {
		fprintf(p->f, "set label 2 '");
	}
	plot_clean(a, sizeof(a), m->date);
	fprintf(p->f,
	    "%s%s, %s mode, %s, %d CPUs' at screen 0.01, screen "
	    "%.5f left font ',11' tc rgb '#444444'\n",
	    a, p->before ? ")" : "", p->run->mode[0] ? p->run->mode : "?", cpu,
	    m->ncpu, plot_y(p, 54));
}

static void
plot_section(struct plot *p, int top, const char *text)
{
	fprintf(p->f,
	    "set label 3 '%s' at screen 0.01, screen %.5f left "
	    "font ',14'\n",
	    text, plot_y(p, top + 22));
}

/* The data of one latency bar: y, half height, p50, p99 (µs), colour,
 * label. */
static void
plot_bar(struct plot *p, double y, double half, const struct bench_row *x,
    unsigned colour, const char *label)
{
	fprintf(p->f, "%.3f %.3f %.4f %.4f %u \"%s\"\n", y, half,
	    (double)x->p50 / 1e3,
	    (double)(x->p99 > x->p50 ? x->p99 : x->p50) / 1e3, colour, label);
}

static void
plot_lat_label(char *buf, size_t cap, const struct bench_row *x,
    const struct bench_row *floor, const struct bench_row *old)
{
	char us[24], k[24] = "";
	bench_fmt_us(us, sizeof(us), (double)x->p50);
	if (old)
		snprintf(k, sizeof(k), " · B/A %.2f×",
		    (double)x->p50 / (double)old->p50);
	else if (floor && floor != x && floor->p50)
		snprintf(k, sizeof(k), " · %.*f× floor",
		    x->p50 >= 10 * floor->p50 ? 0 : 1,
		    (double)x->p50 / (double)floor->p50);
	snprintf(buf, cap, "%s%s", us, k);
}

static void
plot_floor_lines(struct plot *p, int k)
{
	static const char *const name[] = {"floor/atomic", "floor/futex"};
	static const char *const what[] = {
	    "floor/atomic: two CPUs, one cache line",
	    "floor/futex: one sleeping wake-up"};
	for (int i = 0; i < 2; i++) {
		const struct bench_row *fl = bench_row_rtt(p->run, name[i]);
		if (!fl)
			continue;
		double x = (double)fl->p50 / 1e3;
		fprintf(p->f,
		    "set arrow %d from %g, graph 0 to %g, graph 1 nohead "
		    "lw 1.5 lc rgb '#000000' dt %d front\n",
		    i + 1, x, x, i ? 3 : 2);
		fprintf(p->f,
		    "set label %d '%s' at %g, %.2f left offset 0.4,0 "
		    "font ',9' tc rgb '#333333' front\n",
		    i + 10, what[i], x, k - 0.35);
	}
}

/* Decades of the latency axis in words: 100 µs, 1 ms, 10 ms. */
static void
plot_time_tics(struct plot *p)
{
	char us[24];
	int first = 1;
	fprintf(p->f, "set xtics (");
	for (double t = p->lat_lo; t <= p->lat_hi * 1.01; t *= 10) {
		if (t >= 1e6)
			snprintf(us, sizeof(us), "%g s", t / 1e6);
		else if (t >= 1e3)
			snprintf(us, sizeof(us), "%g ms", t / 1e3);
		else
			snprintf(us, sizeof(us), "%g µs", t);
		fprintf(p->f, "%s'%s' %g", first ? "" : ", ", us, t);
		first = 0;
	}
	fprintf(p->f, ") font ',10'\n");
}

static void
plot_lat_panel(struct plot *p, int fam, int top, int last)
{
	int k = plot_lat_rows(p, fam), j = 0;
	const struct bench_row *fa = bench_row_rtt(p->run, "floor/atomic");
	double half = p->before ? 0.19 : 0.33;
	char name[40], label[64];
	int bottom = top + plot_lat_px(p, fam) - PLOT_GAP;
	fprintf(p->f, "$L%d << EOD\n", fam);
	for (int i = 0; i < p->run->n; i++) {
		const struct bench_row *x = &p->run->row[i];
		if (!plot_lat_member(x, fam))
			continue;
		double y = k - 1 - j++;
		const struct bench_row *old = plot_twin(p->before, x->name);
		if (old && !old->have_rtt)
			old = NULL;
		plot_lat_label(label, sizeof(label), x, fa, old);
		if (p->before) {
			plot_bar(p, y - 0.2, half, x, plot_colour(p, x), label);
			if (old) {
				char us[24];
				bench_fmt_us(us, sizeof(us), (double)old->p50);
				plot_bar(p, y + 0.2, half, old,
				    plot_light(plot_colour(p, x)), us);
			}
		} else {
			plot_bar(p, y, half, x, plot_colour(p, x), label);
		}
	}
	fprintf(p->f, "EOD\n");
	fprintf(p->f,
	    "set lmargin at screen 0.14\nset rmargin at screen 0.98\n"
	    "set tmargin at screen %.5f\nset bmargin at screen %.5f\n",
	    plot_y(p, top + PLOT_PANEL_TOP),
	    plot_y(p, bottom - PLOT_PANEL_BOTTOM));
	fprintf(p->f,
	    "unset arrow\nunset label 10\nunset label 11\nunset key\n"
	    "unset logscale\nset title '%s' font ',12'\n"
	    "set logscale x 10\nset xrange [%g:%g]\n"
	    "set mxtics 10\nset yrange [-0.6:%.2f]\n",
	    bench_family_title((enum bench_family)fam), p->lat_lo, p->lat_hi,
	    k - 0.1);
	plot_time_tics(p);
	fprintf(p->f, "set ytics (");
	j = 0;
	for (int i = 0; i < p->run->n; i++) {
		const struct bench_row *x = &p->run->row[i];
		if (!plot_lat_member(x, fam))
			continue;
		plot_clean(name, sizeof(name), x->name);
		fprintf(p->f, "%s\"%s\" %d", j ? ", " : "", name, k - 1 - j);
		j++;
	}
	fprintf(p->f, ") scale 0 font ',11'\nunset mytics\n");
	fprintf(p->f, "set xlabel %s\n",
	    last ? "'round trip (log scale): bar to the p50, whisker to "
		   "the p99; label: p50 and p50 / floor/atomic' font ',10'"
		 : "''");
	plot_floor_lines(p, k);
	fprintf(p->f,
	    "plot $L%d using (sqrt(%g*$3)):1:(%g):3:($1-$2):($1+$2):5 "
	    "with boxxyerror lc rgb variable, \\\n"
	    "  '' using 3:1:3:4:5 with xerrorbars lc rgb variable lw 1.5 "
	    "ps 0, \\\n"
	    "  '' using ($4*1.12):1:6 with labels left font ',10' "
	    "tc rgb '#222222'\n",
	    fam, p->lat_lo, p->lat_lo);
	fprintf(p->f, "unset title\nunset xlabel\n");
}

/* One throughput series as a data block; returns its number. */
static int
plot_series(struct plot *p, const struct bench_row *x, int zc)
{
	int n = p->nseries++;
	fprintf(p->f, "$S%d << EOD\n", n);
	/* The rows list their sizes in increasing order. */
	for (int k = 0; k < x->ntput; k++) {
		const struct bench_rtput *t = &x->tput[k];
		if (t->zero_copy == zc && t->status == BENCH_OK &&
		    t->mb_per_s > 0)
			fprintf(p->f, "%zu %.3f\n", t->size, t->mb_per_s);
	}
	fprintf(p->f, "EOD\n");
	return n;
}

static void
plot_size_tics(struct plot *p)
{
	const struct bench_cfg *c = &p->run->cfg;
	char sz[24];
	fprintf(p->f, "set xtics (");
	for (int k = 0; k < c->nsizes; k++) {
		bench_fmt_size(sz, sizeof(sz), c->sizes[k]);
		fprintf(p->f, "%s'%s' %zu", k ? ", " : "", sz, c->sizes[k]);
	}
	fprintf(p->f, ") font ',10'\n");
}

static void
plot_tp_panel(struct plot *p, int panel, int top, int col)
{
	int zc = panel == 3, nplot = 0;
	char name[48];
	int s[2 * BENCH_MAX_ROWS + 2];
	const struct bench_row *rows[2 * BENCH_MAX_ROWS + 2];
	int light[2 * BENCH_MAX_ROWS + 2];
	/* The streaming floor: floor/ring when the run has it (the floor
	 * the ratios use), else floor/atomic's one-slot copy. */
	const struct bench_row *fa = plot_twin(p->run, "floor/ring");
	if (!fa || !plot_tp_any(fa, 0))
		fa = plot_twin(p->run, "floor/atomic");
	for (int i = 0; i < p->run->n; i++) {
		const struct bench_row *x = &p->run->row[i];
		if (!plot_tp_member(x, panel, zc) || !plot_tp_any(x, zc))
			continue;
		const struct bench_row *old = plot_twin(p->before, x->name);
		if (old && plot_tp_any(old, zc)) {
			rows[nplot] = x;
			light[nplot] = 1;
			s[nplot++] = plot_series(p, old, zc);
		}
		rows[nplot] = x;
		light[nplot] = 0;
		s[nplot++] = plot_series(p, x, zc);
	}
	int floor = fa && plot_tp_any(fa, 0) ? plot_series(p, fa, 0) : -1;
	double x0 = col ? 0.565 : 0.065, x1 = col ? 0.835 : 0.335;
	fprintf(p->f,
	    "unset arrow\nset lmargin at screen %.3f\n"
	    "set rmargin at screen %.3f\nset tmargin at screen %.5f\n"
	    "set bmargin at screen %.5f\n",
	    x0, x1, plot_y(p, top + 30), plot_y(p, top + PLOT_TP_H - 60));
	fprintf(p->f,
	    "set title '%s' font ',12'\n"
	    "set logscale xy 10\nset ytics auto font ',10'\nset xrange "
	    "[%g:%g]\nset yrange [%g:%g]\n"
	    "set format y '%%g'\nset mytics 10\nunset mxtics\n"
	    "set ylabel 'MB/s (log)' font ',10' offset 1,0\n"
	    "set xlabel 'message size (log)' font ',10'\n"
	    "set key at screen %.3f, screen %.5f left top Left reverse "
	    "samplen 2 spacing 1.05 font ',10'\n",
	    plot_tp_title[panel], (double)p->size_lo / 1.5,
	    (double)p->size_hi * 1.5, p->tp_lo, p->tp_hi, x1 + 0.012,
	    plot_y(p, top + 40));
	plot_size_tics(p);
	fprintf(p->f, "plot ");
	for (int i = 0; i < nplot; i++) {
		const struct bench_row *x = rows[i];
		unsigned c = plot_colour(p, x);
		plot_clean(name, sizeof(name), x->name);
		if (light[i])
			fprintf(p->f,
			    "$S%d with linespoints lw 1.5 dt 2 lc rgb '#%06x' "
			    "pt %d ps 0.9 notitle, \\\n  ",
			    s[i], plot_light(c), plot_point(p, x));
		else
			fprintf(p->f,
			    "$S%d with linespoints lw 2.2 lc rgb '#%06x' pt %d "
			    "ps 1.1 title '%s%s', \\\n  ",
			    s[i], c, plot_point(p, x), name, zc ? " zc" : "");
	}
	if (floor >= 0)
		fprintf(p->f,
		    "$S%d with lines lw 3 dt 2 lc rgb '#000000' title "
		    "'floor (%s)'\n",
		    floor, strcmp(fa->name, "floor/ring") ? "atomic" : "ring");
	else
		fprintf(p->f, "$S%d with lines lc rgb '#ffffff' notitle\n",
		    nplot ? s[0] : 0);
	fprintf(p->f, "unset title\nunset xlabel\nunset ylabel\nunset key\n");
}

/* In the empty cell of the throughput grid: how to read the pictures. */
static void
plot_howto(struct plot *p, int top)
{
	static const char *const line[] = {
	    "How to read these pictures",
	    "- One colour scale per family: blues kernel-buffered, greens",
	    "  shared memory, oranges sockets, purples peer libraries,",
	    "  greys floors and raw loops; a row keeps its colour.",
	    "- Latency bars end at the p50, whiskers at the p99; the dashed",
	    "  line is floor/atomic (two CPUs passing a cache line), the",
	    "  dotted one floor/futex (one sleeping wake-up, no data).",
	    "- Throughput: the dashed black line is floor/ring, the",
	    "  simplest shared-memory ring of records (the one-slot copy",
	    "  of floor/atomic when the run has no floor/ring); near it, a",
	    "  mechanism streams as fast as plain shared memory allows.",
	    "- Rows missing from a panel were not built or not measured",
	    "  (the NOT MEASURED list of the table says why).",
	};
	for (size_t i = 0; i < sizeof(line) / sizeof(line[0]); i++)
		fprintf(p->f,
		    "set label %zu '%s' at screen 0.565, screen %.5f left "
		    "font ',%d' tc rgb '#333333'\n",
		    30 + i, line[i], plot_y(p, top + 60 + (int)i * 22),
		    i ? 11 : 13);
	/* Labels are drawn by a plot: an empty one, axes hidden. */
	fprintf(p->f,
	    "unset title\nunset key\nunset border\nunset xtics\n"
	    "unset ytics\nunset xlabel\nunset ylabel\nunset grid\n"
	    "unset logscale\nset xrange [0:1]\nset yrange [0:1]\n"
	    "plot 2 notitle\n");
}

static void
plot_script(struct plot *p, const char *path)
{
	int top = PLOT_HEAD, last = -1, col = 0;
	plot_terminal(p, path);
	plot_heading(p);
	plot_section(p, top,
	    "Round-trip latency of one small message, by family "
	    "(same log axis in every panel)");
	top += PLOT_SECTION;
	for (int f = 0; f < BENCH_NFAM; f++)
		if (plot_lat_rows(p, f))
			last = f;
	for (int f = 0; f < BENCH_NFAM; f++) {
		if (!plot_lat_rows(p, f))
			continue;
		plot_lat_panel(p, f, top, f == last);
		top += plot_lat_px(p, f);
		/* The heading labels were drawn with the first panel. */
		fprintf(p->f, "unset label 1\nunset label 2\nunset label 3\n");
	}
	fprintf(p->f, "unset arrow\nunset label\nunset logscale\n");
	top += 10;
	plot_section(p, top,
	    "One-way streaming throughput per message size, MB/s (same axes "
	    "in every panel)");
	top += PLOT_SECTION + 10;
	for (int k = 0; k < PLOT_NTP; k++) {
		if (!plot_tp_rows(p, k))
			continue;
		plot_tp_panel(p, k, top, col);
		if (col)
			top += PLOT_TP_H;
		col = !col;
	}
	if (col)
		plot_howto(p, top);
	fprintf(p->f, "unset multiplot\nset output\n");
}

static int
plot_run_gnuplot(const char *script)
{
	char errs[] = "/tmp/ipkb-gnuplot-XXXXXX", cmd[256], line[512];
	int fd = mkstemp(errs), bad = 0;
	if (fd < 0)
		return -errno;
	close(fd);
	snprintf(cmd, sizeof(cmd), "gnuplot '%s' </dev/null >'%s' 2>&1", script,
	    errs);
	int rv = system(cmd);
	/* Any word from gnuplot is a warning or an error: say it, fail. */
	FILE *f = fopen(errs, "re");
	while (f && fgets(line, sizeof(line), f)) {
		fprintf(stderr, "gnuplot: %s", line);
		bad = 1;
	}
	if (f)
		fclose(f);
	unlink(errs);
	return rv == 0 && !bad ? 0 : -EIO;
}

static int
plot_write(const char *path, const struct bench_run *run,
    const struct bench_run *before, int dynamic)
{
	const char *ext = strrchr(path, '.');
	char script[] = "/tmp/ipkb-plot-XXXXXX";
	struct plot p = {.run = run, .before = before, .dynamic = dynamic};
	int fd;

	if (system("gnuplot --version >/dev/null 2>&1") != 0)
		return -ENOENT;
	p.svg = ext && !strcmp(ext, ".svg");
	plot_ranges(&p);
	p.height = plot_height(&p);
	if ((fd = mkstemp(script)) < 0)
		return -errno;
	if (!(p.f = fdopen(fd, "w"))) {
		close(fd);
		unlink(script);
		return -ENOMEM;
	}
	plot_script(&p, path);
	int bad = ferror(p.f);
	if (fclose(p.f) != 0 || bad) {
		unlink(script);
		return -EIO;
	}
	int rv = plot_run_gnuplot(script);
	if (getenv("IPK_BENCH_KEEP_SCRIPT"))
		fprintf(stderr, "gnuplot script kept: %s\n", script);
	else
		unlink(script);
	return rv;
}

int
bench_report_plot(const char *path, const struct bench_run *run,
    const struct bench_run *before)
{
	return plot_write(path, run, before, 0);
}

/* The SVG that the HTML page inlines: scales with the page. */
int
bench_plot_svg_dynamic(const char *path, const struct bench_run *run,
    const struct bench_run *before)
{
	return plot_write(path, run, before, 1);
}
