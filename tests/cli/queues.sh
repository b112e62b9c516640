#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# queues.sh - ipckit send/recv over message queues: typed messages over a
# System V queue of which recv --type takes only one type (the others stay
# queued, in order), a send/recv over POSIX queues, and on both a
# listener's messages outliving it until the dialer has read them.
# Usage: queues.sh PATH-TO-ipckit
set -u
cli=${1:?usage: queues.sh PATH-TO-ipckit}
name=ipkt-cli-$$-$RANDOM
sv=sysv:///tmp/$name
mq=mq:///$name
out=$(mktemp -d)
pids=()

cleanup() {
	for p in "${pids[@]}"; do kill -9 "$p" 2>/dev/null; done
	wait 2>/dev/null
	# A listener that gives up at once removes what a failure left.
	if [ -e "/tmp/$name" ]; then
		timeout 5 "$cli" recv -l -T 1 -n 1 "$sv" >/dev/null 2>&1
	fi
	rm -f "/tmp/$name" "/tmp/$name".ring-* "/dev/shm/$name"*
	rm -rf "$out"
}
trap cleanup EXIT

fail() {
	echo "FAIL: $*" >&2
	exit 1
}

# bg OUTFILE ARGS...: run the CLI in the background, bounded.
bg() {
	local f=$1
	shift
	timeout 20 "$cli" "$@" >"$f" 2>"$f.err" &
	pids+=($!)
	last=$!
}

# 1. Two type-1 messages wait in a kept queue (the listener wanted only
#    type 9, so it leaves them and, without -n, ends when the sender
#    closes).
bg "$out/l1" recv -l -T 10000 --type 9 "$sv?keep=1"
timeout 20 "$cli" send -T 10000 -t 1 "$sv" a1 a2 || fail "send type 1"
wait "$last" || fail "first listener: $(cat "$out/l1.err")"
[ -s "$out/l1" ] && fail "type-9 receive printed: $(cat "$out/l1")"

# 2. Selective receive: only the type-2 messages, in order.
bg "$out/l2" recv -l -T 10000 -n 2 --type 2 "$sv?keep=1"
timeout 20 "$cli" send -T 10000 -t 2 "$sv" b1 b2 || fail "send type 2"
wait "$last" || fail "typed receiver: $(cat "$out/l2.err")"
printf 'b1\nb2\n' | cmp -s - "$out/l2" ||
	fail "recv --type 2 printed: $(cat "$out/l2")"

# 3. The type-1 messages are still there, in send order, before what the
#    next sender adds (the receiver waits for that one, so it cannot end
#    and remove the queue while the sender attaches); this listener does
#    not keep the queue, so it is removed afterwards.
bg "$out/l3" recv -l -T 10000 -n 3 -v "$sv"
timeout 20 "$cli" send -T 10000 -t 1 "$sv" c1 || fail "third send"
wait "$last" || fail "plain receiver: $(cat "$out/l3.err")"
printf '[type 1, 2 bytes] a1\n[type 1, 2 bytes] a2\n[type 1, 2 bytes] c1\n' |
	cmp -s - "$out/l3" || fail "plain recv printed: $(cat "$out/l3")"
[ -e "/tmp/$name" ] && fail "/tmp/$name left behind"

# 4. POSIX queues: typed send and receive.
bg "$out/m" recv -l -T 10000 -n 2 -v "$mq"
timeout 20 "$cli" send -T 10000 -t 7 "$mq" hello world || fail "mq send"
wait "$last" || fail "mq receiver: $(cat "$out/m.err")"
printf '[type 7, 5 bytes] hello\n[type 7, 5 bytes] world\n' |
	cmp -s - "$out/m" || fail "mq recv printed: $(cat "$out/m")"
ls /dev/shm/"$name"* >/dev/null 2>&1 && fail "/dev/shm/$name* left behind"

# 5. A listener that sends and exits at once: its messages outlive it
#    until the dialer has read them (sysv keeps the queue for that dialer,
#    mq's open descriptors keep the queues), and nothing is left after.
mkdir -m 0700 "$out/run"
for u in "$sv" "$mq"; do
	IPK_RUNDIR=$out/run bg "$out/w" send -l -T 10000 -t 3 "$u" w1 w2 w3
	IPK_RUNDIR=$out/run timeout 20 "$cli" recv -d -T 10000 -n 3 "$u" \
	    >"$out/r" 2>"$out/r.err" || fail "$u: recv after send -l: \
$(cat "$out/r.err")"
	wait "$last" || fail "$u: send -l: $(cat "$out/w.err")"
	printf 'w1\nw2\nw3\n' | cmp -s - "$out/r" ||
		fail "$u: recv after send -l printed: $(cat "$out/r")"
	ls /tmp/"$name"* /dev/shm/"$name"* >/dev/null 2>&1 &&
		fail "$u: objects left behind: $(ls /tmp/"$name"* \
		    /dev/shm/"$name"* 2>/dev/null)"
	[ -z "$(ls -A "$out/run")" ] ||
		fail "$u: registry entry left: $(ls -A "$out/run")"
done

echo "PASS queues"
