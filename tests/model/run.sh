#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# run.sh - exhaustive verification of tests/model/ring.pml with spin: the
# safety run (assertions, invalid end states) and the liveness run (the LTL
# claim "the consumer always ends", weak fairness) for rings of 2 and 3
# slots, then the negative controls: each mutant of the model must fail
# (and the first passes once sleeps end with their 20 ms slices).
# Exit 0 when all hold, 1 otherwise, 77 (skip) without spin or gcc.
# Usage: run.sh [CC]
set -u
here=$(cd "$(dirname "$0")" && pwd)
cc=${1:-${CC:-gcc}}
command -v spin >/dev/null || { echo "SKIP: spin is not installed"; exit 77; }
command -v "$cc" >/dev/null || { echo "SKIP: no C compiler ($cc)"; exit 77; }
dir=$(mktemp -d /tmp/ipkt-model.XXXXXX)
trap 'rm -rf "$dir"' EXIT
cp "$here/ring.pml" "$dir/" && cd "$dir" || exit 1
start=$SECONDS
bad=0

# verify LABEL MODE SPIN-DEFINES...: MODE safety or liveness; prints the
# outcome and leaves pan's output in LABEL.out. Returns pan's error count
# (capped at 1), or 2 when spin or the compiler failed.
verify() {
	local label=$1 mode=$2
	shift 2
	rm -f pan pan.*
	spin "$@" -a ring.pml >"$label.spin" 2>&1 || { cat "$label.spin"; return 2; }
	if [ "$mode" = safety ]; then
		"$cc" -O0 -DSAFETY -DNOCLAIM -o pan pan.c >"$label.cc" 2>&1 &&
			./pan -m200000 >"$label.out" 2>&1
	else
		"$cc" -O0 -DNOREDUCE -o pan pan.c >"$label.cc" 2>&1 &&
			./pan -m200000 -a -f >"$label.out" 2>&1
	fi
	[ -s pan ] || { cat "$label.cc"; return 2; }
	local errs states t why
	errs=$(sed -n 's/.*errors: \([0-9]*\).*/\1/p' "$label.out")
	states=$(sed -n 's/^ *\([0-9.e+]*\) states, stored.*/\1/p' "$label.out")
	t=$(sed -n 's/^pan: elapsed time \([0-9.e+-]*\) .*/\1/p' "$label.out")
	why=$(grep -m1 -oE 'pan:1: .*' "$label.out")
	grep -q 'search not completed\|max search depth too small' "$label.out" &&
		why="incomplete search $why" && errs=${errs:-1}
	printf '%-34s %-9s errors %s, %s states, %ss %s\n' "$label" "$mode" \
		"${errs:-?}" "${states:-?}" "${t:-?}" "$why"
	[ -n "$errs" ] || return 2
	[ "$errs" = 0 ] && return 0 || return 1
}

for cfg in "2 4" "3 4"; do
	set -- $cfg
	for mode in safety liveness; do
		verify "ring cap=$1 n=$2" $mode -DCAP=$1 -DN=$2 || {
			echo "FAIL: the ring model does not verify"
			sed -n '1,40p' "ring cap=$1 n=$2.out"
			bad=1
		}
	done
done

# Negative controls: a model that cannot fail proves nothing.
for m in NORECHECK NOMEMBARRIER STAMPFIRST ANYSTAMP; do
	verify "mutant $m" safety -DMUTANT_$m
	rc=$?
	[ $rc = 1 ] || {
		echo "FAIL: mutant $m was not caught (rc $rc)"
		bad=1
	}
done

# The slices are a safety net: with them the first mutant only waits.
verify "mutant NORECHECK with slices" safety -DMUTANT_NORECHECK -DSLICES || {
	echo "FAIL: slices do not end a lost wake-up in the model"
	bad=1
}

echo "model: $((SECONDS - start))s"
[ $bad = 0 ] && echo "PASS model ring" || exit 1
