/* SPDX-License-Identifier: MIT */
/*
 * testhook.c - the run-time side of testhook.h: reads IPK_TEST_CRASH and
 * IPK_TEST_NOCHECK once and answers the sites. Empty unless IPK_TEST_HOOKS.
 */
#include "core/testhook.h"

#ifdef IPK_TEST_HOOKS
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static char crash_name[128];
static long crash_at; /* 0: no crash site armed */
static long crash_seen;
static char nocheck_name[128];
static int hooks_ready;

static void
testhook_init(void)
{
	const char *s = getenv("IPK_TEST_CRASH");
	const char *colon = s ? strrchr(s, ':') : NULL;

	if (colon && (size_t)(colon - s) < sizeof(crash_name)) {
		memcpy(crash_name, s, (size_t)(colon - s));
		crash_name[colon - s] = '\0';
		crash_at = strtol(colon + 1, NULL, 10);
	}
	s = getenv("IPK_TEST_NOCHECK");
	if (s && strlen(s) < sizeof(nocheck_name))
		strcpy(nocheck_name, s);
	__atomic_store_n(&hooks_ready, 1, __ATOMIC_RELEASE);
}

void
ipk__crash_site(const char *name)
{
	if (!__atomic_load_n(&hooks_ready, __ATOMIC_ACQUIRE))
		testhook_init();
	if (crash_at <= 0 || strcmp(name, crash_name) != 0)
		return;
	if (__atomic_add_fetch(&crash_seen, 1, __ATOMIC_RELAXED) == crash_at)
		kill(getpid(), SIGKILL);
}

int
ipk__check_off(const char *name)
{
	if (!__atomic_load_n(&hooks_ready, __ATOMIC_ACQUIRE))
		testhook_init();
	return nocheck_name[0] != '\0' && strcmp(name, nocheck_name) == 0;
}
#else
typedef int ipk__testhook_unused; /* ISO C wants a non-empty unit */
#endif
