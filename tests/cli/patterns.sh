#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# patterns.sh - ipckit pub, sub, req and rep: echo and --exec servers over
# unix and tcp (port 0 said on standard error), two subscribers with and
# without a topic, lines from standard input, usage errors (exit 2, one
# line), SIGTERM on a server (143, socket file removed), and nanocat as
# the partner of req and rep when it is installed.
# Usage: patterns.sh PATH-TO-ipckit
set -u
cli=${1:?usage: patterns.sh PATH-TO-ipckit}
. "$(dirname "$0")/lib/common.sh"
name=ipkt-pat-$$-$RANDOM
out=$(mktemp -d /tmp/$name-out.XXXXXX)
export IPK_RUNDIR=$out/run
mkdir -m 0700 "$IPK_RUNDIR"
pids=()

cleanup() {
	for p in "${pids[@]}"; do kill -9 "$p" 2>/dev/null; done
	wait 2>/dev/null
	rm -rf /tmp/"$name"*
}
trap cleanup EXIT



# start NAME ARGS...: `ipckit ARGS` in the background; its pid in $last.
start() {
	local n=$1
	shift
	"$cli" "$@" >"$out/$n.out" 2>"$out/$n.err" &
	last=$!
	pids+=("$last")
}

# wait_exit PID SECONDS: the exit status of PID, or 124 after SECONDS.
wait_exit() {
	local end=$((SECONDS + $2))
	while kill -0 "$1" 2>/dev/null; do
		[ "$SECONDS" -lt "$end" ] || { kill -9 "$1"; wait "$1"; return 124; }
		sleep 0.02
	done
	wait "$1"
}

# bound NAME: the address a command said it listens at, without query.
bound() { sed -n 's/^ipckit [a-z]*: listening at \([^?]*\).*/\1/p' "$out/$1.err"; }
has_bound() { [ -n "$(bound "$1")" ]; }

# 1. rep echoes, req prints the reply (unix).
u=unix:///tmp/$name-rep.sock
start rep rep -n 2 "$u"
until_ok 10 test -S /tmp/$name-rep.sock || fail "rep did not bind $u"
[ "$("$cli" req "$u" hello)" = hello ] || fail "req hello"
[ "$("$cli" req "$u" 'two words')" = "two words" ] || fail "req two words"
wait_exit "$last" 10 || fail "rep -n 2 did not end with 0"

# 2. rep --exec over tcp port 0.
start exec rep -n 1 --exec 'tr a-z A-Z' tcp://127.0.0.1:0
until_ok 10 has_bound exec || fail "rep did not say its port"
[ "$("$cli" req "$(bound exec)" shout)" = SHOUT ] || fail "rep --exec"
wait_exit "$last" 10 || fail "rep --exec did not end with 0"

# 3. pub to two subscribers, one with a topic; then lines from stdin.
u=unix:///tmp/$name-pub.sock
start pub pub -w 2 -T 10000 "$u" apple banana blueberry
pub=$last
until_ok 10 test -S /tmp/$name-pub.sock || fail "pub did not bind"
start all sub -n 3 -T 10000 "$u"
s1=$last
start topic sub --topic b -T 10000 "$u"
s2=$last
wait_exit "$pub" 10 || fail "pub did not end with 0"
wait_exit "$s1" 10 || fail "sub -n 3 did not end with 0"
wait_exit "$s2" 10 || fail "sub --topic did not end with 0"
[ "$(cat "$out/all.out")" = "$(printf 'apple\nbanana\nblueberry')" ] ||
	fail "sub got '$(cat "$out/all.out")'"
[ "$(cat "$out/topic.out")" = "$(printf 'banana\nblueberry')" ] ||
	fail "sub --topic b got '$(cat "$out/topic.out")'"
printf 'x\ny\n' >"$out/lines"
"$cli" pub -w 1 -T 10000 "$u" <"$out/lines" >/dev/null 2>"$out/pub2.err" &
pub=$!
pids+=("$pub")
until_ok 10 test -S /tmp/$name-pub.sock || fail "pub (stdin) did not bind"
[ "$("$cli" sub -n 2 -T 10000 "$u" | tr '\n' ,)" = "x,y," ] ||
	fail "sub of stdin lines"
wait_exit "$pub" 10 || fail "pub (stdin) did not end with 0"

# 3b. the same on shared memory: two subscribers read in place, ls shows
# each with its lag, the publisher removes its segment when it ends.
u=shm:///$name-shm
start spub pub -w 2 -T 10000 "$u?slow=block&queue=4" one two three
spub=$last
until_ok 10 test -e /dev/shm/$name-shm || fail "shm pub did not bind"
start sall sub -n 3 -T 10000 "$u"
s1=$last
start stop sub --topic t -T 10000 "$u"
s2=$last
wait_exit "$spub" 10 || fail "shm pub did not end with 0"
wait_exit "$s1" 10 || fail "shm sub -n 3 did not end with 0"
[ "$(cat "$out/sall.out")" = "$(printf 'one\ntwo\nthree')" ] ||
	fail "shm sub got '$(cat "$out/sall.out")'"
wait_exit "$s2" 10
[ "$(cat "$out/stop.out")" = "$(printf 'two\nthree')" ] ||
	fail "shm sub --topic t got '$(cat "$out/stop.out")'"
[ ! -e /dev/shm/$name-shm ] || fail "shm pub left its segment"
start lpub pub -w 1 -T 10000 -r 0 -i 5 "$u?queue=8" tick
until_ok 10 test -e /dev/shm/$name-shm || fail "shm pub (ls) did not bind"
start lsub sub -T 10000 "$u"
until_ok 10 sh -c "'$cli' ls | grep -q 'dialer [0-9]* alive lag [0-9]* lost 0'" ||
	fail "ls shows no subscriber lag: $("$cli" ls)"
"$cli" stat "$u" | grep -q ' LAG' || fail "stat has no LAG column"
kill -TERM "$last" "${pids[-2]}"

# 4. usage errors: exit 2, one line.
usage() {
	local want=$1
	shift
	"$cli" "$@" >/dev/null 2>"$out/usage.err"
	local rc=$?
	[ $rc = "$want" ] || fail "ipckit $* exited $rc, expected $want"
	[ "$(wc -l <"$out/usage.err")" = 1 ] ||
		fail "ipckit $*: not one line: $(cat "$out/usage.err")"
}
usage 2 pub
usage 2 req unix:///tmp/$name-x
usage 2 sub --bogus unix:///tmp/$name-x
usage 2 rep -n zero unix:///tmp/$name-x
usage 2 pub "unix:///tmp/$name-x?pattern=sub" m
usage 2 sub "unix:///tmp/$name-x?slow=sideways"
usage 1 req -T 0 "unix:///tmp/$name-nobody" hi
for c in pub sub req rep; do
	"$cli" help $c | grep -q "usage: ipckit $c" || fail "help $c"
done

# 5. SIGTERM on a server: 143, its socket file gone.
u=unix:///tmp/$name-term.sock
start term rep "$u"
until_ok 10 test -S /tmp/$name-term.sock || fail "rep did not bind"
kill -TERM "$last"
wait_exit "$last" 10
rc=$?
[ $rc = 143 ] || fail "rep after SIGTERM exited $rc, expected 143"
[ ! -e /tmp/$name-term.sock ] || fail "rep left its socket file"

# 6. nanocat as the partner (skipped when absent).
if command -v nanocat >/dev/null; then
	p=/tmp/$name-nc.sock
	nanocat --rep --bind "ipc://$p" --data pong -A >"$out/nc.out" 2>&1 &
	nc=$!
	pids+=("$nc")
	[ "$("$cli" req -T 10000 "nng+ipc://$p" ping)" = pong ] ||
		fail "ipckit req against nanocat --rep"
	until_ok 10 grep -q ping "$out/nc.out" || fail "nanocat saw no ping"
	kill "$nc"
	# The server stays up until nanocat has its reply (a server that
	# closes at once may take the reply with it to nanomsg).
	start ncrep rep "nng+ipc://$p.2"
	until_ok 10 test -S "$p.2" || fail "rep did not bind nng+ipc"
	r=$(timeout 10 nanocat --req --connect "ipc://$p.2" --data hi -A 2>&1)
	[ "$r" = hi ] || fail "nanocat --req against ipckit rep: '$r'"
	kill -TERM "$last"
	wait_exit "$last" 10
	[ $? = 143 ] || fail "rep (nng) after SIGTERM"
else
	echo "nanocat not installed (nanomsg-utils): its checks skipped"
fi
echo "PASS cli patterns"
