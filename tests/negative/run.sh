#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# run.sh - negative controls: switch off each validation check of data read
# from another process (IPK__CHECK in src/, IPK_TEST_NOCHECK=name) and
# require the tests that guard it to fail. Prints "negative controls: K of
# N checks proven needed"; exits 1 when a check survives.
#
# usage: tests/negative/run.sh [-n] [name-or-prefix...]
#   -n    do not (re)build build-neg and build-neg-fuzz
#   NEG_CATCHERS="fuzz_shm ..." uses only those catchers (to see what each
#   catches on its own); a name selects the checks it starts.
# Builds: build-neg (gcc, ASan+UBSan, test hooks: the tests) and, only if
# a check gets past the tests to a fuzz catcher, build-neg-fuzz (clang,
# libFuzzer, ASan+UBSan, test hooks: the fuzz targets replay their
# committed corpora). Each catcher runs at most $NEG_TIMEOUT (60) s.
set -u
root=$(cd "$(dirname "$0")/../.." && pwd)
B=${NEG_BUILD:-$root/build-neg}
F=${NEG_FUZZ_BUILD:-$root/build-neg-fuzz}
LIMIT=${NEG_TIMEOUT:-60}
JOBS=${JOBS:-$(nproc 2>/dev/null || echo 2)}
export ASAN_OPTIONS=detect_leaks=1:abort_on_error=0:quarantine_size_mb=16
export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
unset IPK_TEST_CRASH IPK_TEST_NOCHECK

build=1
if [ "${1:-}" = -n ]; then
	build=0
	shift
fi
# build-neg now; build-neg-fuzz only when a fuzz catcher is first needed.
build_tests() {
	cmake -S "$root" -B "$B" -DCMAKE_BUILD_TYPE=Debug -DIPK_TEST_HOOKS=ON \
	    -DIPK_SANITIZER=address,undefined >/dev/null &&
	cmake --build "$B" -j "$JOBS" >/dev/null ||
	    { echo "negative: building $B failed" >&2; exit 2; }
}
build_fuzz() {
	CC=clang cmake -S "$root" -B "$F" -DCMAKE_BUILD_TYPE=Debug \
	    -DIPK_FUZZ=ON -DIPK_TESTS=OFF -DIPK_TOOLS=OFF -DIPK_EXAMPLES=OFF \
	    -DIPK_SANITIZER=address,undefined -DIPK_TEST_HOOKS=ON >/dev/null &&
	cmake --build "$F" -j "$JOBS" >/dev/null ||
	    { echo "negative: building $F failed" >&2; exit 2; }
}
[ $build = 1 ] && build_tests

# --- the catchers: each is one command; non-zero exit (a failed assertion,
# a sanitizer report, a crash, a hang past $LIMIT s) means "caught", except
# 77, a test that skipped itself ------------------------------------------
fuzz() { # replay the committed corpus of one fuzz target
	"$F/tests/fuzz/$1_fuzz" -timeout=5 -rss_limit_mb=512 -error_exitcode=1 \
	    "$root"/tests/fuzz/corpus/"$1"/* &
	local p=$! rc
	wait $p
	rc=$?
	fuzz_clean $p
	return $rc
}
fuzz_clean() { # what a fuzz target that abort()ed left behind (its pid)
	local k
	k=$(printf '0x%08x' $((0x1f000000 | ($1 & 0xffffff))))
	rm -f /dev/mqueue/ipk-fuzz-q-"$1".* /dev/shm/ipk-fuzz-q-"$1".* \
	    /dev/shm/ipk-fuzz-shm-"$1" /dev/shm/ipk-fuzz-shm-"$1".bell* \
	    /dev/shm/ipk-sysv-"$k"* /tmp/ipk-fuzz-sp-"$1"-*.sock
	ipcrm -Q "$k" 2>/dev/null
	return 0
}
catch_ring() { "$B/tests/unit_ring_test" quick; }
catch_frame() { "$B/tests/unit_frame_test"; }
catch_shm() { "$B/tests/transport_shm_test" quick; }
catch_hostile() { "$B/tests/transport_hostile_test"; }
catch_udp() { "$B/tests/transport_udp_test"; }
catch_unix() { "$B/tests/transport_unix_test"; }
catch_mq() { "$B/tests/transport_mq_test"; }
catch_sysv() { "$B/tests/transport_sysv_test"; }
catch_nng() { "$B/tests/transport_nng_test"; }
catch_memfd() { "$B/tests/transport_memfd_test"; }
catch_world() { "$B/tests/transport_world_test"; }
catch_owner() { "$B/tests/crash_owner_test"; }
catch_pattern() { "$B/tests/transport_pattern_test"; }
catch_pubsub() { IPK_PUBSUB_N=20000 "$B/tests/transport_shm_pubsub_test"; }
catch_fuzz_shm() { fuzz shm; }
catch_fuzz_frame() { fuzz frame; }
catch_fuzz_sp() { fuzz sp; }
catch_fuzz_queue() { fuzz queue; }

# Which catchers guard which checks, cheapest first; the first that fails
# proves the check.
catchers() {
	if [ -n "${NEG_CATCHERS:-}" ]; then # e.g. "fuzz_shm": only those
		echo "$NEG_CATCHERS"
		return
	fi
	case $1 in
	ring.*) echo ring fuzz_shm shm ;;
	shm.*) echo shm world fuzz_shm ;;
	frame.*) echo frame fuzz_frame hostile ;;
	sp.*) echo nng fuzz_sp ;;
	nng.*) echo nng fuzz_sp ;;
	udp.*) echo udp ;;
	unix.*) echo unix world ;;
	sock.*) echo world ;;
	own.*) echo world owner ;;
	memfd.*) echo memfd ;;
	pattern.*) echo pattern ;;
	bcast.*) echo pubsub ;;
	mq.*) echo mq world fuzz_queue ;;
	sysv.*) echo sysv world fuzz_queue ;;
	*) echo none ;;
	esac
}

logdir=$(mktemp -d /tmp/ipk-negative.XXXXXX)
run_catcher() { # name check -> exit status
	IPK_TEST_NOCHECK=$2 B=$B F=$F root=$root timeout -k 5 "$LIMIT" \
	    bash -c "$(declare -f fuzz fuzz_clean "catch_$1"); catch_$1" \
	    >"$logdir/$1.${2:-base}.log" 2>&1 </dev/null
}

# (-z: a name may sit on the line after "IPK__CHECK(")
names=$(cd "$root" && grep -rhozE --exclude=testhook.h \
    'IPK__CHECK\([[:space:]]*"[^"]+"' src | tr '\n\0' ' \n' |
    sed -E 's/IPK__CHECK\([[:space:]]*"(.*)"/\1/' | sort -u)
if [ $# -gt 0 ]; then
	sel=""
	for n in $names; do
		for a in "$@"; do
			case $n in "$a"*) sel="$sel $n" ;; esac
		done
	done
	names=$sel
fi

# A catcher counts only once it passed with every check on (its baseline,
# run the first time it is needed), or a failure would prove nothing.
baseline() {
	[ -e "$logdir/$1.ok" ] && return 0
	case $1 in
	fuzz_*)
		if [ $build = 1 ] && [ ! -e "$logdir/fuzz.built" ]; then
			build_fuzz
			: >"$logdir/fuzz.built"
		fi ;;
	esac
	run_catcher "$1" ""
	rc=$?
	if [ $rc != 0 ]; then
		echo "negative: catcher $1 fails with every check on" \
		    "(exit $rc); log: $logdir/$1.base.log" >&2
		tail -20 "$logdir/$1.base.log" >&2
		exit 2
	fi
	: >"$logdir/$1.ok"
}

# A test failing on purpose cannot clean up after itself: what the run
# made (test names, keyed sysv files, System V queues) is removed at the end.
neg_objects() {
	ls -d /tmp/ipkt-* /dev/shm/ipkt-* /dev/mqueue/ipkt-* \
	    /dev/shm/ipk-sysv-0x* 2>/dev/null
	awk 'NR > 1 { print "msqid:" $2 }' /proc/sysvipc/msg 2>/dev/null
}
neg_clean() {
	neg_objects | sort >"$logdir/objects.after"
	comm -13 "$logdir/objects.before" "$logdir/objects.after" |
	while read -r o; do
		case $o in
		msqid:*) ipcrm -q "${o#msqid:}" 2>/dev/null ;;
		*) rm -rf "$o" ;;
		esac
	done
}
neg_objects | sort >"$logdir/objects.before"
trap neg_clean EXIT

start=$(date +%s)
k=0
n=0
survivors=""
for name in $names; do
	n=$((n + 1))
	t0=$(date +%s.%N)
	by=""
	for c in $(catchers "$name"); do
		[ "$c" = none ] && break
		baseline "$c"
		run_catcher "$c" "$name"
		rc=$?
		if [ $rc = 77 ]; then # the test skipped itself: proves nothing
			echo "negative: $c skipped with $name off" >&2
		elif [ $rc != 0 ]; then
			by="$c (exit $rc)"
			break
		fi
	done
	dt=$(awk -v a="$t0" -v b="$(date +%s.%N)" \
	    'BEGIN { printf "%.1f", b - a }')
	if [ -n "$by" ]; then
		k=$((k + 1))
		why=$(grep -m1 -hE 'FAIL|ERROR: |runtime error|deadly signal' \
		    "$logdir/${by%% *}.$name.log" | sed "s|$root/||" |
		    cut -c1-90)
		printf '%-18s caught by %-16s %5s s  %s\n' "$name" "$by" "$dt" \
		    "${why:-(no message)}"
	else
		printf '%-18s SURVIVED (%s) %5s s\n' "$name" \
		    "$(catchers "$name")" "$dt"
		survivors="$survivors $name"
	fi
done
echo "$(($(date +%s) - start)) s after the build"
echo "negative controls: $k of $n checks proven needed"
if [ $k != $n ]; then
	echo "survived:$survivors (logs: $logdir)"
	exit 1
fi
neg_clean
trap - EXIT
rm -rf "$logdir"
