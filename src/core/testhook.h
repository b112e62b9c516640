/* SPDX-License-Identifier: MIT */
/*
 * testhook.h - crash sites and switchable validation checks, compiled in
 * only when the library is configured with -DIPK_TEST_HOOKS=ON (make hooks).
 * In every other build both macros cost nothing.
 */
#ifndef IPK_CORE_TESTHOOK_H
#define IPK_CORE_TESTHOOK_H

/*
 * IPK__CRASH_SITE("name") marks a step of a protocol where a process may
 * die. With IPK_TEST_CRASH=name:N in the environment the N-th time the
 * process passes the site it kills itself with SIGKILL (no cleanup, exactly
 * as kill -9 from outside). Names are "module.step", e.g. "ring.after_len".
 *
 * IPK__CHECK("name", bad) wraps one validation of data read from another
 * process: it is `bad`, except that IPK_TEST_NOCHECK=name makes that one
 * check pass everything. The negative-control run switches each check off
 * in turn and requires the test suite to notice (tests/negative/).
 * Names are unique across src/; `make hooks-list` prints them.
 */
#ifdef IPK_TEST_HOOKS
#include "core/internal.h"

IPK__HIDDEN void ipk__crash_site(const char *name);
IPK__HIDDEN int ipk__check_off(const char *name);

#define IPK__CRASH_SITE(name) ipk__crash_site(name)
#define IPK__CHECK(name, bad) ((bad) && !ipk__check_off(name))
#else
#define IPK__CRASH_SITE(name) ((void)0)
#define IPK__CHECK(name, bad) (bad)
#endif

#endif /* IPK_CORE_TESTHOOK_H */
