/* SPDX-License-Identifier: MIT */
/*
 * cmd_stat.c - ipckit stat: the live counters of one channel's endpoints,
 * read from the run directory while the endpoints run; --watch redraws
 * them in place like top, or prints plain blocks when stdout is no tty.
 */
#include "cli.h"

#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static const char stat_usage[] =
    "usage: ipckit stat [OPTIONS] URL\n"
    "\n"
    "Show the counters of every endpoint of the channel at URL, read from\n"
    "outside the processes: messages and bytes sent and received, calls\n"
    "that waited, errors, drops (udp gaps), and what is queued.\n"
    "\n"
    "  -w, --watch          refresh until interrupted (in place on a tty,\n"
    "                       one block per refresh otherwise)\n"
    "  -n, --count N        stop after N refreshes (implies --watch)\n"
    "  -i, --interval MS    time between refreshes (default 1000)\n"
    "  -j, --json           one JSON object per refresh\n"
    "  -h, --help           this text\n"
    "\n"
    "Example: ipckit stat --watch shm:///demo\n";

struct stat_args {
	int json, watch;
	long long count, interval;
	const char *url;
};

static void
stat_print(const struct stat_args *a, const struct ipk_objinfo *o,
    const struct ipk_objinfo *prev, double dt, int tty)
{
	if (a->json) {
		cli_json_obj(stdout, o);
		putchar('\n');
		(void)fflush(stdout);
		return;
	}
	if (tty && a->watch)
		(void)fputs("\033[H\033[2J", stdout);
	time_t now = time(NULL);
	char when[32];
	struct tm tm;
	if (!localtime_r(&now, &tm) ||
	    strftime(when, sizeof(when), "%H:%M:%S", &tm) == 0)
		snprintf(when, sizeof(when), "%lld", (long long)now);
	printf("%s  %s  %s", when, o->url, o->exists ? "" : "(objects gone) ");
	if (o->queued_msgs >= 0)
		printf(" queued %lld msgs", (long long)o->queued_msgs);
	if (o->queued_bytes >= 0)
		printf(" %lld bytes", (long long)o->queued_bytes);
	putchar('\n');
	printf("%-9s %7s %-5s %10s %12s %10s %12s %7s %6s %6s %9s %6s\n",
	    "ROLE", "PID", "ALIVE", "SENT", "BYTES-OUT", "RECV", "BYTES-IN",
	    "WAITS", "ERRORS", "DROPS", "MSG/S", "LAG");
	for (int i = 0; i < o->nep; i++) {
		const struct ipk_endpoint *e = &o->ep[i];
		const struct ipk_stats *s = &e->stats;
		double rate = 0;
		if (prev && dt > 0)
			for (int j = 0; j < prev->nep; j++)
				if (prev->ep[j].pid == e->pid &&
				    prev->ep[j].role == e->role)
					rate =
					    (double)(s->msgs_sent +
						s->msgs_recv -
						prev->ep[j].stats.msgs_sent -
						prev->ep[j].stats.msgs_recv) /
					    dt;
		char lag[24] = "-";
		if (e->lag >= 0)
			snprintf(lag, sizeof(lag), "%lld", (long long)e->lag);
		printf("%-9s %7d %-5s %10llu %12llu %10llu %12llu %7llu %6llu "
		       "%6llu %9.0f %6s\n",
		    cli_role_name(e->role), (int)e->pid,
		    e->alive ? "yes" : "no", (unsigned long long)s->msgs_sent,
		    (unsigned long long)s->bytes_sent,
		    (unsigned long long)s->msgs_recv,
		    (unsigned long long)s->bytes_recv,
		    (unsigned long long)s->waits, (unsigned long long)s->errors,
		    (unsigned long long)s->gaps, rate, lag);
	}
	if (!o->nep)
		printf("(no endpoint recorded)\n");
	if (a->watch && !tty)
		putchar('\n');
	(void)fflush(stdout);
}

static int
stat_run(int argc, char **argv)
{
	static const struct option opts[] = {
	    {"watch", no_argument, NULL, 'w'},
	    {"count", required_argument, NULL, 'n'},
	    {"interval", required_argument, NULL, 'i'},
	    {"json", no_argument, NULL, 'j'},
	    {"help", no_argument, NULL, 'h'},
	    {NULL, 0, NULL, 0},
	};
	struct stat_args a = {.count = -1, .interval = 1000};
	int ch;
	optind = 1;
	while ((ch = cli_getopt(&cli_cmd_stat, argc, argv, ":wn:i:jh", opts)) !=
	    -1) {
		switch (ch) {
		case 'w':
			a.watch = 1;
			break;
		case 'n':
			if (cli_parse_int(optarg, 1, 1LL << 40, &a.count) < 0)
				return cli_usage(
				    &cli_cmd_stat, "bad --count '%s'", optarg);
			a.watch = 1;
			break;
		case 'i':
			if (cli_parse_int(optarg, 1, 1LL << 30, &a.interval) <
			    0)
				return cli_usage(&cli_cmd_stat,
				    "bad --interval '%s' (milliseconds)",
				    optarg);
			break;
		case 'j':
			a.json = 1;
			break;
		case 'h':
			cli_help(&cli_cmd_stat);
			return CLI_OK;
		default:
			return CLI_USAGE;
		}
	}
	if (optind >= argc)
		return cli_usage(&cli_cmd_stat, "missing URL");
	a.url = argv[optind++];
	if (optind < argc)
		return cli_usage(
		    &cli_cmd_stat, "unexpected argument '%s'", argv[optind]);
	if (!a.watch)
		a.count = 1;
	static struct ipk_objinfo o[2];
	int tty = isatty(STDOUT_FILENO), cur = 0;
	for (long long i = 0; a.count < 0 || i < a.count; i++) {
		if (i) {
			struct timespec ts = {
			    a.interval / 1000, (a.interval % 1000) * 1000000};
			while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
				;
		}
		int rv = ipk_inspect(a.url, &o[cur]);
		if (rv < 0)
			return cli_open_fail("stat", a.url, rv);
		stat_print(&a, &o[cur], i ? &o[!cur] : NULL,
		    (double)a.interval / 1000.0, tty);
		cur = !cur;
	}
	return CLI_OK;
}

const struct cli_cmd cli_cmd_stat = {
    .name = "stat",
    .run = stat_run,
    .summary = "show a channel's live counters (--watch: like top)",
    .usage = stat_usage,
};
