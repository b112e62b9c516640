#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# limits.sh - issue 14 point 3: a sender never reports success for a
# message the receiver will drop. The receiver's ?maxmsg= reaches the
# sender at connect (unix, tcp: the hello; udp: HELLO/WELCOME; mq: the
# queue's msgsize; fifo: the lock file), so `ipckit send` of a message over it exits 1 with a
# sentence naming the limit and nothing arrives; the next, smaller message
# does. And `send` exits 0 only once the peer has the messages: a reader
# that leaves first makes it fail.
# Usage: limits.sh PATH-TO-ipckit
set -u
cli=${1:?usage: limits.sh PATH-TO-ipckit}
. "$(dirname "$0")/lib/common.sh"
dir=$(mktemp -d /tmp/ipkt-limits-$$.XXXXXX)
export IPK_RUNDIR=$dir/run
mkdir -m 0700 "$IPK_RUNDIR"
name=ipkt-limits-$$-$RANDOM
pids=()
cleanup() {
	for p in "${pids[@]}"; do kill -9 "$p" 2>/dev/null; done
	wait 2>/dev/null
	"$cli" rm --force "mq:///$name" >/dev/null 2>&1
	rm -rf "$dir"
}
trap cleanup EXIT
fail() {
	echo "FAIL: $*" >&2
	for f in "$dir"/*.err; do
		[ -s "$f" ] && sed "s|^|  $(basename "$f"): |" "$f" >&2
	done
	exit 1
}
said_listening() { grep -q 'listening at' "$1"; }

for base in "unix://$dir/l.sock" "tcp://127.0.0.1:0" "udp://127.0.0.1:0" \
	"mq:///$name" "fifo://$dir/lf"; do
	s=${base%%:*}
	timeout 20 "$cli" recv -v -n 1 -T 10000 "$base?maxmsg=8" \
		>"$dir/$s.out" 2>"$dir/$s.err" &
	rpid=$!
	pids+=($rpid)
	until_ok 10 said_listening "$dir/$s.err" || fail "$s: no listener"
	url=$(sed -n 's/^ipckit recv: listening at //p' "$dir/$s.err")
	url=${url%%\?*}
	timeout 10 "$cli" send -T 5000 "$url" "nine byte" 2>"$dir/$s-big.err" &&
		fail "$s: a message over the receiver's limit was sent"
	grep -q 'limit' "$dir/$s-big.err" || fail "$s: $(cat "$dir/$s-big.err")"
	timeout 10 "$cli" send -T 5000 "$url" "fits" 2>"$dir/$s-ok.err" ||
		fail "$s: the next message"
	wait "$rpid" || fail "$s: recv exited $?"
	grep -q '^\[type 0, 4 bytes\] fits$' "$dir/$s.out" ||
		fail "$s: recv printed $(cat "$dir/$s.out")"
	echo "ok $s"
done

# A reader that leaves without reading: send says so, exit 1.
mkfifo "$dir/f"
exec 3<>"$dir/f" # a reader (and writer) that never reads
timeout 10 "$cli" send -T 300 "fifo://$dir/f?framing=lines" x \
	2>"$dir/unread.err" && fail "send exited 0 with nothing read"
exec 3>&-
echo "ok send waits for the reader"
echo "PASS limits"
