#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# serve.sh - a listening `ipckit recv` as socat and nc users expect (issue
# 14): three separate `ipckit send` runs reach one `recv -n 3` on unix, tcp,
# fifo, mq, sysv and shm; unix and tcp serve two peers at once; options go
# anywhere and `--` ends them; --forever outlives its peers; port 0 says
# the port bound; a dial with nobody listening says it waits (or fails at
# once with -T 0); send --file, --repeat and --interval.
# Usage: serve.sh PATH-TO-ipckit
set -u
cli=${1:?usage: serve.sh PATH-TO-ipckit}
. "$(dirname "$0")/lib/common.sh"
name=ipkt-serve-$$-$RANDOM
out=$(mktemp -d /tmp/$name-out.XXXXXX)
export IPK_RUNDIR=$out/run
mkdir -m 0700 "$IPK_RUNDIR"
pids=()

cleanup() {
	for p in "${pids[@]}"; do kill -9 "$p" 2>/dev/null; done
	exec 3>&- 2>/dev/null
	wait 2>/dev/null
	for u in "mq:///$name-mq" "sysv:///tmp/$name-sysv" "shm:///$name-shm" \
	    "fifo:///tmp/$name-fifo" "unix:///tmp/$name-unix"; do
		"$cli" rm --force "$u" >/dev/null 2>&1
	done
	rm -rf /tmp/"$name"* /dev/shm/"$name"*
}
trap cleanup EXIT



# listening FILE: the URL a `recv -v` says it listens at (empty if not yet).
listening() {
	sed -n 's/^ipckit recv: listening at //p' "$1"
}

# start NAME ARGS...: `ipckit ARGS` in the background, stdout to
# $out/NAME.out and stderr to $out/NAME.err; its pid in $last.
start() {
	local n=$1
	shift
	# Removed first: a wait for a line must not see the last run's.
	rm -f "$out/$n.out" "$out/$n.err"
	"$cli" "$@" >"$out/$n.out" 2>"$out/$n.err" &
	last=$!
	pids+=("$last")
}

# 1. Three separate send runs reach one recv -n 3, on every named
#    mechanism; options after the URL. Each listener is up (it says where
#    with -v) before the senders start, so no send waits.
for u in "unix:///tmp/$name-unix" "tcp://127.0.0.1:0" "fifo:///tmp/$name-fifo" \
    "mq:///$name-mq" "sysv:///tmp/$name-sysv" "shm:///$name-shm"; do
	start three recv "$u" -n 3 -v -T 20000
	r=$last
	until_ok 10 grep -q "^ipckit recv: listening at " "$out/three.err" ||
		fail "$u: recv does not say it listens"
	at=$(listening "$out/three.err")
	for m in one two three; do
		timeout 20 "$cli" send "$at" -T 10000 "$m" 2>"$out/send.err" ||
			fail "$u: send $m exited $?"
	done
	wait "$r" || fail "$u: recv -n 3 exited $?"
	printf '[type 0, 3 bytes] one\n[type 0, 3 bytes] two\n[type 0, 5 bytes] three\n' |
		cmp -s - "$out/three.out" ||
		fail "$u: recv printed: $(cat "$out/three.out")"
	echo "ok: three sends, one recv -n 3: $u"
done

# 2. Port 0: the port bound is said, and it is a real one.
start port recv -n 1 -T 20000 tcp://127.0.0.1:0
r=$last
until_ok 10 grep -q 'listening at tcp://127.0.0.1:[1-9]' "$out/port.err" ||
	fail "recv on port 0 does not say its port: $(cat "$out/port.err")"
at=$(listening "$out/port.err")
timeout 20 "$cli" send -T 10000 "$at" x || fail "send to $at"
wait "$r" || fail "recv on $at exited $?"
echo "ok: port 0 says $at"

# 3. Two peers at once on unix and tcp: the first stays connected (its
#    lines come from fd 3) while the second sends and leaves; recv prints
#    the second's message before the first's second line is written.
for u in "unix:///tmp/$name-unix" "tcp://127.0.0.1:0"; do
	start both recv -v -n 3 -T 20000 "$u"
	r=$last
	until_ok 10 grep -q "^ipckit recv: listening at " "$out/both.err" ||
		fail "$u: recv does not say it listens"
	at=$(listening "$out/both.err")
	exec 3> >(exec "$cli" send -T 10000 "$at" 2>"$out/held.err")
	pids+=($!)
	echo first >&3
	until_ok 10 grep -q first "$out/both.out" || fail "$u: no first message"
	timeout 20 "$cli" send -T 10000 "$at" second ||
		fail "$u: second sender exited $?"
	until_ok 10 grep -q second "$out/both.out" ||
		fail "$u: the second peer was not served beside the first"
	echo third >&3
	exec 3>&-
	wait "$r" || fail "$u: recv exited $?"
	printf '[type 0, 5 bytes] first\n[type 0, 6 bytes] second\n[type 0, 5 bytes] third\n' |
		cmp -s - "$out/both.out" ||
		fail "$u: two peers at once printed: $(cat "$out/both.out")"
	echo "ok: two peers at once: $u"
done

# 4. Without -n a listener ends when its peer leaves (nc -l); with
#    --forever it serves the next one, until a signal.
u="fifo:///tmp/$name-fifo"
start once recv -T 20000 "$u"
r=$last
until_ok 10 test -p "/tmp/$name-fifo" || fail "fifo listener not up"
timeout 20 "$cli" send -T 10000 "$u" a b || fail "send a b"
wait "$r" || fail "recv without -n exited $?"
printf 'a\nb\n' | cmp -s - "$out/once.out" ||
	fail "recv without -n printed: $(cat "$out/once.out")"
start ever recv -k -T 20000 "$u"
r=$last
until_ok 10 test -p "/tmp/$name-fifo" || fail "fifo listener not up"
for m in a b c; do
	timeout 20 "$cli" send -T 10000 "$u" "$m" || fail "send $m"
done
until_ok 10 grep -q c "$out/ever.out" || fail "--forever did not get c"
kill -0 "$r" 2>/dev/null || fail "--forever ended when its peers left"
kill -TERM "$r"
wait "$r"
rc=$?
[ $rc -eq 143 ] || fail "--forever after SIGTERM exited $rc, expected 143"
printf 'a\nb\nc\n' | cmp -s - "$out/ever.out" ||
	fail "--forever printed: $(cat "$out/ever.out")"
echo "ok: without -n, and --forever"

# 5. Options anywhere: after the URL and among the messages; `--` ends
#    them, so "-t" is a message there.
u="unix:///tmp/$name-unix"
start opts recv "$u" -T 20000 -n 3 --format json
r=$last
until_ok 10 test -S "/tmp/$name-unix" || fail "unix listener not up"
timeout 20 "$cli" send "$u" -t 5 hi -T 10000 -- -t 7 ||
	fail "send with options after the URL exited $?"
wait "$r" || fail "recv with options after the URL exited $?"
printf '%s\n' '{"type":5,"length":2,"data":"hi"}' \
	'{"type":5,"length":2,"data":"-t"}' '{"type":5,"length":1,"data":"7"}' |
	cmp -s - "$out/opts.out" || fail "options anywhere: $(cat "$out/opts.out")"
echo "ok: options anywhere, -- ends them"

# 6. A dial with nobody there: -T 0 fails at once (exit 1, nothing said
#    about waiting); otherwise "waiting for a listener at URL" comes at once
#    and the send completes when a listener appears.
u="unix:///tmp/$name-late"
timeout 10 "$cli" send -T 0 "$u" x 2>"$out/now.err"
rc=$?
[ $rc -eq 1 ] || fail "send -T 0 with nobody listening exited $rc"
grep -q waiting "$out/now.err" && fail "send -T 0 said it waits"
start late send -T 20000 "$u" late
s=$last
until_ok 10 grep -qF "waiting for a listener at $u" "$out/late.err" ||
	fail "send does not say it waits: $(cat "$out/late.err")"
timeout 20 "$cli" recv -n 1 -T 20000 "$u" >"$out/late-recv.out" ||
	fail "recv for the waiting sender exited $?"
wait "$s" || fail "the waiting send exited $?"
echo late | cmp -s - "$out/late-recv.out" || fail "late: $(cat "$out/late-recv.out")"
echo "ok: dial says it waits"

# 7. send --file (binary, twice), --repeat and --interval, checked as hex.
printf 'A\000B\377\n' >"$out/bin"
u="fifo:///tmp/$name-fifo"
start file recv -x -n 5 -T 20000 "$u"
r=$last
until_ok 10 test -p "/tmp/$name-fifo" || fail "fifo listener not up"
t0=$(date +%s%N)
timeout 20 "$cli" send -T 10000 -f "$out/bin" "$u" -r 2 -i 100 msg ||
	fail "send --file --repeat exited $?"
t1=$(date +%s%N)
[ $(((t1 - t0) / 1000000)) -ge 300 ] ||
	fail "--interval 100 sent 4 messages in $(((t1 - t0) / 1000000)) ms"
[ -p "/tmp/$name-fifo" ] || fail "recv ended before the fifth message"
timeout 20 "$cli" send -T 10000 -f - "$u" <"$out/bin" ||
	fail "send --file - exited $?"
wait "$r" || fail "recv of --file exited $?"
printf '%s\n' 410042ff0a 6d7367 410042ff0a 6d7367 410042ff0a |
	cmp -s - "$out/file.out" ||
	fail "--file --repeat printed: $(cat "$out/file.out")"
echo "ok: --file, --repeat, --interval"

# 8. Usage errors exit 2 with one line.
for args in "recv -n" "recv -F nope $u" "send -r 2 $u" "send -i x $u m" \
    "recv $u extra" "send --bogus $u"; do
	# shellcheck disable=SC2086
	timeout 10 "$cli" $args </dev/null >/dev/null 2>"$out/usage.err"
	rc=$?
	[ $rc -eq 2 ] || fail "'ipckit $args' exited $rc, expected 2"
	[ "$(wc -l <"$out/usage.err")" -eq 1 ] ||
		fail "'ipckit $args' said: $(cat "$out/usage.err")"
done
echo "ok: usage errors"

left=$(ls -d /tmp/"$name"* /dev/shm/"$name"* 2>/dev/null | grep -v "^$out")
[ -z "$left" ] || fail "left behind: $left"
echo "PASS cli serve"
