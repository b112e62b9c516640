#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# cli.sh - the ipckit commands under valgrind memcheck: send and recv in two
# real processes over fifo, unix, mq, sysv, shm and tcp (the one under
# valgrind listening, then dialing), ls, stat, rm, gc, a short bench and a
# bridge. Any memcheck error or definite/indirect leak fails the run.
# Usage: cli.sh PATH-TO-ipckit   (make valgrind)
set -u
cli=${1:?usage: cli.sh PATH-TO-ipckit}
command -v valgrind >/dev/null || { echo "SKIP: valgrind not installed"; exit 77; }
name=ipkt-vg-$$-$RANDOM
out=$(mktemp -d /tmp/$name.XXXXXX)
export IPK_RUNDIR=$out/run
mkdir -m 0700 "$IPK_RUNDIR"
pids=()
schemes="fifo unix mq sysv shm tcp"
# Error exit 1 as the plan says; the log of each process is what decides,
# since the commands themselves exit 1 on a (wanted) error too.
vg() {
	valgrind -q --leak-check=full --errors-for-leak-kinds=definite,indirect \
	    --show-leak-kinds=definite,indirect \
	    --error-exitcode=1 --fair-sched=yes --trace-children=no \
	    --log-file="$out/vg-%p.log" "$cli" "$@"
}

cleanup() {
	for p in "${pids[@]}"; do kill -9 "$p" 2>/dev/null; done
	wait 2>/dev/null
	for s in $schemes; do
		"$cli" rm --force "$(url "$s" 1)" "$(url "$s" 2)" >/dev/null 2>&1
	done
	rm -f /tmp/"$name"-* /dev/shm/"$name"-* /dev/mqueue/"$name"-*
	rm -rf "$out"
}
trap cleanup EXIT

fail() {
	echo "FAIL: $*" >&2
	for f in "$out"/*.err; do
		[ -s "$f" ] && sed "s|^|  ${f##*/}: |" "$f" >&2
	done
	exit 1
}

# url SCHEME N: this run's address number N of SCHEME.
url() {
	case $1 in
	fifo) echo "fifo:///tmp/$name-fifo$2" ;;
	unix) echo "unix:///tmp/$name-unix$2" ;;
	mq) echo "mq:///$name-mq$2" ;;
	sysv) echo "sysv:///tmp/$name-sysv$2" ;;
	shm) echo "shm:///$name-shm$2" ;;
	tcp) echo "tcp://127.0.0.1:$((20000 + ($$ + $2 * 7) % 12000))" ;;
	esac
}

# until_ok SECONDS CMD...: retry CMD every 50 ms until it succeeds.
until_ok() {
	local end=$((SECONDS + $1))
	shift
	until "$@" >/dev/null 2>&1; do
		[ "$SECONDS" -lt "$end" ] || return 1
		sleep 0.05
	done
}

# listed URL: the listener of URL is registered (it is listening).
listed() {
	"$cli" ls --json | grep -qF "\"url\":\"$1\""
}

# 1. Each scheme, twice: a receiving listener under valgrind with a plain
#    dialing sender, then a sending listener under valgrind with a plain
#    dialing receiver. The schemes run side by side to save time.
pair() {
	local s=$1 u
	u=$(url "$s" 1)
	vg recv -l -n 3 -T 20000 "$u" >"$out/$s-1.out" 2>"$out/$s-1.err" &
	local l=$!
	timeout 20 "$cli" send -T 15000 "$u" one two three 2>>"$out/$s-1.err" ||
		{ echo "$s: send exited $?" >>"$out/$s-1.err"; return 1; }
	wait $l || { echo "$s: recv -l under valgrind exited $?" \
	    >>"$out/$s-1.err"; return 1; }
	printf 'one\ntwo\nthree\n' | cmp -s - "$out/$s-1.out" ||
		{ echo "$s: recv printed $(cat "$out/$s-1.out")" \
		    >>"$out/$s-1.err"; return 1; }
	# The sending listener reads its messages from a FIFO held open until
	# the receiver has them: a listener that closes removes its queues
	# (mq, sysv) with whatever is still unread in them.
	u=$(url "$s" 2)
	mkfifo "$out/$s.in"
	vg send -l -T 20000 "$u" <"$out/$s.in" 2>"$out/$s-2.err" &
	l=$!
	exec 5>"$out/$s.in"
	printf 'x\ny\n' >&5
	timeout 20 "$cli" recv -d -n 2 -T 15000 "$u" >"$out/$s-2.out" \
	    2>>"$out/$s-2.err" ||
		{ echo "$s: recv -d exited $?" >>"$out/$s-2.err"; return 1; }
	exec 5>&-
	wait $l || { echo "$s: send -l under valgrind exited $?" \
	    >>"$out/$s-2.err"; return 1; }
	printf 'x\ny\n' | cmp -s - "$out/$s-2.out" ||
		{ echo "$s: recv -d printed $(cat "$out/$s-2.out")" \
		    >>"$out/$s-2.err"; return 1; }
	rm -f "$out/$s-1.err" "$out/$s-2.err"
}
ppids=()
for s in $schemes; do
	pair "$s" &
	ppids+=($!)
done
bad=0
for p in "${ppids[@]}"; do wait "$p" || bad=1; done
[ $bad = 0 ] || fail "send/recv under valgrind"
echo "ok: send/recv, both roles, over $schemes (${SECONDS}s)"

# 2. ls, stat, rm and gc under valgrind, on a live channel and a dead one.
u=$(url shm 3)
"$cli" recv -l -T 30000 "$u" >/dev/null 2>&1 &
lp=$!
pids+=($lp)
until_ok 10 listed "$u" || fail "the shm listener is not listed"
# The dialer stays attached while this script holds its standard input.
exec 3> >(exec "$cli" send -T 30000 "$u" 2>/dev/null)
dp=$!
pids+=($dp)
echo hi >&3
vg ls >"$out/ls.out" 2>"$out/ls.err" || fail "ls"
grep -qF "$u" "$out/ls.out" || fail "ls does not list $u"
vg ls --all --json >/dev/null 2>"$out/ls.err" || fail "ls --all --json"
vg stat "$u" >/dev/null 2>"$out/stat.err" || fail "stat"
vg stat --json -n 2 -i 10 "$u" >/dev/null 2>"$out/stat.err" ||
	fail "stat --json -n 2"
vg rm "$u" >/dev/null 2>&1 && fail "rm removed a live channel"
{ kill -9 $lp $dp; wait $lp $dp; } 2>/dev/null
exec 3>&-
vg gc --dry-run --match "*$name*" >"$out/gc.out" 2>"$out/gc.err" ||
	fail "gc --dry-run"
grep -qF "$u" "$out/gc.out" || fail "gc --dry-run: $(cat "$out/gc.out")"
vg gc --match "*$name*" >/dev/null 2>"$out/gc.err" || fail "gc"
listed "$u" && fail "gc left $u"
vg rm "$(url fifo 9)" >/dev/null 2>&1 && fail "rm of nothing succeeded"
echo "ok: ls, stat, rm, gc (${SECONDS}s)"

# 3. bench, two rows, briefly; the forked peers run under memcheck too (a
#    peer exits holding its row's buffers: "possibly lost", not counted).
vg bench --only pipe,shm/futex --rounds small --duration 0.02 --sizes 64 \
    >"$out/bench.out" 2>"$out/bench.err" || fail "bench"
echo "ok: bench (${SECONDS}s)"

# 4. bridge: fifo on one side, unix on the other, one message each way;
#    --once ends it when the fifo peer leaves.
a=$(url fifo 4)
b=$(url unix 4)
vg bridge --once --quiet "listen:$a" "listen:$b" 2>"$out/bridge.err" &
bp=$!
pids+=($bp)
timeout 20 "$cli" recv -d -n 1 -T 15000 "$b" >"$out/bridge.b" 2>&1 &
rp=$!
until_ok 15 listed "$a" || fail "bridge does not listen on $a"
timeout 20 "$cli" send -T 15000 "$a" across || fail "send into the bridge"
wait $rp || fail "recv from the bridge: $(cat "$out/bridge.b")"
grep -qx across "$out/bridge.b" || fail "bridge delivered $(cat "$out/bridge.b")"
wait $bp || fail "bridge under valgrind exited $?"
echo "ok: bridge (${SECONDS}s)"

# Every log of every process must be empty: -q and --show-leak-kinds leave
# only errors and counted leaks in it.
errs=0
for f in "$out"/vg-*.log; do
	if [ -s "$f" ]; then
		echo "--- memcheck: $f" >&2
		cat "$f" >&2
		errs=$((errs + 1))
	fi
done
[ $errs = 0 ] || fail "memcheck reported errors in $errs process(es)"
n=$(ls "$out"/vg-*.log | wc -l)
echo "PASS valgrind cli: $n processes under memcheck ($((SECONDS))s), no error, no leak"
