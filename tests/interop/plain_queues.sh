#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# plain_queues.sh - issue 14: ipckit and message-queue programs nobody here
# wrote. A plain C program (mq_peer, built in the test tree) makes a POSIX
# queue of its own name and sends and receives with priorities against
# mq://?framing=raw; python3-sysv-ipc (Debian's /usr/bin/python3) sends
# typed messages that `ipckit recv -t N` takes by the kernel's selective
# receive, and receives ipckit's. Queues ipckit did not make survive it;
# the one it made is gone after it. A missing program skips its part.
# Usage: plain_queues.sh PATH-TO-ipckit PATH-TO-mq_peer
set -u
cli=${1:?usage: plain_queues.sh PATH-TO-ipckit PATH-TO-mq_peer}
peer=${2:?}
name=ipkt-plainq-$$-$RANDOM
dir=$(mktemp -d /tmp/$name.XXXXXX)
export IPK_RUNDIR=$dir/run
mkdir -m 0700 "$IPK_RUNDIR"
key=$(printf '0x%08x' $((0x2e000000 | ($$ & 0xffff) << 8 | RANDOM % 256)))
cleanup() {
	"$peer" unlink "/$name" 2>/dev/null
	"$peer" unlink "/$name-made" 2>/dev/null
	ipcrm -Q "$key" 2>/dev/null
	rm -rf "$dir"
}
trap cleanup EXIT
fail() {
	echo "FAIL: $*" >&2
	exit 1
}
ran=0

# --- POSIX queue of the C program's own name ------------------------------
if "$peer" create "/$name" 2>"$dir/mq.err"; then
	ran=1
	url="mq:///$name?framing=raw"
	"$peer" send "/$name" 3 hello world || fail "mq_peer send"
	out=$(timeout 10 "$cli" recv -n 2 -F json "$url") || fail "recv"
	[ "$out" = '{"type":3,"length":5,"data":"hello"}
{"type":3,"length":5,"data":"world"}' ] || fail "recv got $out"
	timeout 10 "$cli" send -t 7 "$url" "from ipckit" || fail "send"
	out=$("$peer" recv "/$name" 1) || fail "mq_peer recv"
	[ "$out" = "7 from ipckit" ] || fail "mq_peer got '$out'"
	timeout 10 "$cli" send -t 40000 "$url" x 2>"$dir/prio.err" &&
		fail "a type over the POSIX priorities was sent"
	grep -q 'priority' "$dir/prio.err" || fail "$(cat "$dir/prio.err")"
	# the C program's queue is still there, ipckit did not remove it
	"$peer" send "/$name" 0 still || fail "the program's queue is gone"
	# a listener makes a missing queue and removes that one only
	timeout 10 "$cli" recv -n 1 "mq:///$name-made?framing=raw" \
		>"$dir/made.out" 2>"$dir/made.err" &
	rpid=$!
	for _ in $(seq 250); do
		"$peer" send "/$name-made" 1 made 2>/dev/null && break
		sleep 0.02
	done
	wait "$rpid" || fail "recv on the queue it made: $(cat "$dir/made.err")"
	[ "$(cat "$dir/made.out")" = made ] || fail "got $(cat "$dir/made.out")"
	"$peer" send "/$name-made" 1 x 2>/dev/null &&
		fail "the queue ipckit made is still there"
	echo "ok mq raw with a plain C program"
else
	echo "skip mq: $(cat "$dir/mq.err") (no POSIX queues here)"
fi

# --- System V queue of python3-sysv-ipc ------------------------------------
py=/usr/bin/python3
if [ -x "$py" ] && "$py" -c 'import sysv_ipc' 2>/dev/null; then
	ran=1
	"$py" - "$key" <<'PY' || fail "python could not make its queue"
import sys, sysv_ipc
q = sysv_ipc.MessageQueue(int(sys.argv[1], 16), sysv_ipc.IPC_CREX, 0o600)
q.send(b"five-a", type=5)
q.send(b"two", type=2)
q.send(b"five-b", type=5)
PY
	url="sysv:$key?framing=raw"
	out=$(timeout 10 "$cli" recv -d -n 2 -t 5 "$url") || fail "recv -t 5"
	[ "$out" = "$(printf 'five-a\nfive-b')" ] || fail "recv -t 5 got '$out'"
	out=$(timeout 10 "$cli" recv -d -n 1 -F json "$url") || fail "recv"
	[ "$out" = '{"type":2,"length":3,"data":"two"}' ] || fail "got $out"
	timeout 10 "$cli" send -t 9 "$url" "from ipckit" || fail "send -t 9"
	out=$("$py" - "$key" <<'PY'
import sys, time, sysv_ipc
q = sysv_ipc.MessageQueue(int(sys.argv[1], 16))
for _ in range(500):
    try:
        m, t = q.receive(block=False, type=9)
        print(t, m.decode())
        break
    except sysv_ipc.BusyError:
        time.sleep(0.01)
PY
	) || fail "python receive"
	[ "$out" = "9 from ipckit" ] || fail "python got '$out'"
	# ipckit did not make the queue: it is still there after ipckit
	ipcs -q | grep -qi "$key" || fail "python's queue was removed"
	echo "ok sysv raw with python3-sysv-ipc"
else
	echo "skip sysv: /usr/bin/python3 with sysv_ipc (python3-sysv-ipc)" \
		"is not installed"
fi
[ $ran = 1 ] || exit 77
echo "PASS plain_queues"
