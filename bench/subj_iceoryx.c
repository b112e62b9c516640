/* SPDX-License-Identifier: MIT */
/*
 * subj_iceoryx.c - the iceoryx row: zero-copy publish/subscribe through
 * iceoryx's C binding, compiled when CMake found it (IPK_BENCH_HAVE_ICEORYX).
 */
#include "bench.h"

#include <stdio.h>
#include <string.h>

int
bench_subjects_iceoryx(struct bench_subject *rows, int cap)
{
	struct bench_subject *r = rows;
	if (cap < 1)
		return 0;
	memset(r, 0, sizeof(*r));
	snprintf(r->name, sizeof(r->name), "iceoryx");
	snprintf(r->arg, sizeof(r->arg), "iceoryx");
	r->kind = BENCH_PEER;
	r->wait = "waitset (futex)";
	r->props = (struct bench_props){ 0, 1, 1, "0 (loaned chunks)", 0, 1,
		-1 };
	r->status = BENCH_NOT_BUILT;
	snprintf(r->reason, sizeof(r->reason), "install "
	    "libiceoryx-binding-c-dev and iceoryx (iox-roudi)");
	return 1;
}
