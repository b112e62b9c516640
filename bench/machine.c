/* SPDX-License-Identifier: MIT */
/*
 * machine.c - what the benchmark records about the machine it ran on: CPU
 * model, the CPU pair used and whether it is an SMT pair, the frequency
 * governor, kernel, virtualisation and load. Figures from different
 * machines are only comparable through these and the floor rows.
 */
#include "bench.h"

#include <stdio.h>
#include <string.h>
#include <sys/utsname.h>
#include <time.h>
#include <unistd.h>

static int
machine_read_line(const char *path, char *buf, size_t cap)
{
	FILE *f = fopen(path, "re");
	if (!f)
		return -1;
	if (!fgets(buf, (int)cap, f)) {
		fclose(f);
		return -1;
	}
	fclose(f);
	buf[strcspn(buf, "\n")] = 0;
	return 0;
}

/* Does the CPU list "0-1,4" contain cpu? */
static int
machine_list_has(const char *list, int cpu)
{
	const char *p = list;
	while (*p) {
		int a, b, n = 0;
		if (sscanf(p, "%d-%d%n", &a, &b, &n) == 2 && n > 0) {
		} else if (sscanf(p, "%d%n", &a, &n) == 1 && n > 0) {
			b = a;
		} else {
			return 0;
		}
		if (cpu >= a && cpu <= b)
			return 1;
		p += n;
		if (*p == ',')
			p++;
		else
			break;
	}
	return 0;
}

static void
machine_cpuinfo(struct bench_machine *m, int *hypervisor)
{
	char line[512];
	FILE *f = fopen("/proc/cpuinfo", "re");
	snprintf(m->cpu_model, sizeof(m->cpu_model), "unknown");
	if (!f)
		return;
	int got_model = 0;
	while (fgets(line, sizeof(line), f)) {
		char *v = strchr(line, ':');
		if (!v)
			continue;
		v++;
		while (*v == ' ')
			v++;
		v[strcspn(v, "\n")] = 0;
		if (!got_model && !strncmp(line, "model name", 10)) {
			snprintf(m->cpu_model, sizeof(m->cpu_model), "%s", v);
			got_model = 1;
		} else if (!strncmp(line, "flags", 5) &&
		    strstr(v, " hypervisor")) {
			*hypervisor = 1;
		}
	}
	fclose(f);
}

void
bench_machine_read(struct bench_machine *m, int cpu_a, int cpu_b)
{
	char path[128], buf[256];
	int hv = 0;
	memset(m, 0, sizeof(*m));
	machine_cpuinfo(m, &hv);
	m->ncpu = (int)sysconf(_SC_NPROCESSORS_ONLN);
	m->cpu_a = cpu_a;
	m->cpu_b = cpu_b;
	m->smt_pair = 0;
	m->smt = 0;
	for (int i = 0; i < m->ncpu && i < 1024; i++) {
		snprintf(path, sizeof(path),
		    "/sys/devices/system/cpu/cpu%d/"
		    "topology/thread_siblings_list",
		    i);
		if (machine_read_line(path, buf, sizeof(buf)) < 0)
			continue;
		if (strchr(buf, ',') || strchr(buf, '-'))
			m->smt = 1;
		if (i == cpu_a && cpu_b >= 0 && machine_list_has(buf, cpu_b))
			m->smt_pair = 1;
	}
	snprintf(path, sizeof(path),
	    "/sys/devices/system/cpu/cpu%d/cpufreq/scaling_governor",
	    cpu_a < 0 ? 0 : cpu_a);
	if (machine_read_line(path, m->governor, sizeof(m->governor)) < 0)
		snprintf(m->governor, sizeof(m->governor), "unreadable");
	struct utsname u;
	if (uname(&u) == 0) {
		snprintf(m->kernel, sizeof(m->kernel), "%.20s %.64s %.20s",
		    u.sysname, u.release, u.machine);
		snprintf(m->hostname, sizeof(m->hostname), "%.63s", u.nodename);
	}
	if (machine_read_line(
		"/sys/class/dmi/id/sys_vendor", buf, sizeof(buf)) == 0 &&
	    hv)
		snprintf(m->virt, sizeof(m->virt), "VM (%.50s)", buf);
	else
		snprintf(m->virt, sizeof(m->virt), "%s",
		    hv ? "VM (hypervisor flag)" : "none detected");
	if (machine_read_line("/proc/loadavg", buf, sizeof(buf)) == 0)
		snprintf(m->loadavg, sizeof(m->loadavg), "%.*s", 14, buf);
	time_t t = time(NULL);
	struct tm tm;
	gmtime_r(&t, &tm);
	strftime(m->date, sizeof(m->date), "%Y-%m-%dT%H:%M:%SZ", &tm);
	bench_mqtt_broker_version(m->broker, sizeof(m->broker));
}
