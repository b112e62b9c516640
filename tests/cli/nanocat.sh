#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# nanocat.sh - issue 14: a one-shot `ipckit send` reaches nanocat (package
# nanomsg-utils) over nng+ipc and nng+tcp, PAIR v0, and a one-shot nanocat
# send reaches `ipckit recv`: send drains before it closes (ipk_drain), so
# its message is not lost with the connection. Skipped without nanocat.
# Usage: nanocat.sh PATH-TO-ipckit
set -u
cli=${1:?usage: nanocat.sh PATH-TO-ipckit}
. "$(dirname "$0")/lib/common.sh"
nanocat=$(command -v nanocat) || {
	echo "skip: nanocat is not installed (Debian package nanomsg-utils)"
	exit 77
}
dir=$(mktemp -d /tmp/ipkt-nanocat-$$.XXXXXX)
export IPK_RUNDIR=$dir/run
mkdir -m 0700 "$IPK_RUNDIR"
pids=()
cleanup() {
	for p in "${pids[@]}"; do kill -9 "$p" 2>/dev/null; done
	wait 2>/dev/null
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
got() { grep -q "$2" "$1"; }
port=$((20000 + RANDOM % 12000))

# ipckit sends once to a listening nanocat.
for a in "ipc://$dir/n1.ipc nng+ipc://$dir/n1.ipc" \
	"tcp://127.0.0.1:$port nng+tcp://127.0.0.1:$port"; do
	set -- $a
	timeout 20 "$nanocat" --pair --bind "$1" -A >"$dir/n.out" \
		2>"$dir/n.err" &
	npid=$!
	pids+=($npid)
	timeout 15 "$cli" send -T 10000 "$2" "one shot" 2>"$dir/s.err" ||
		fail "send to nanocat at $1"
	until_ok 10 got "$dir/n.out" "one shot" ||
		fail "nanocat at $1 got '$(cat "$dir/n.out")'"
	kill "$npid" 2>/dev/null
	wait "$npid" 2>/dev/null
	echo "ok ipckit send -> nanocat $1"
done

# nanocat sends once to a listening ipckit recv (nanocat itself stays
# connected; it is stopped once the message is in).
url="nng+ipc://$dir/n2.ipc"
timeout 20 "$cli" recv -n 1 -T 10000 "$url" >"$dir/r.out" 2>"$dir/r.err" &
rpid=$!
pids+=($rpid)
until_ok 10 test -S "$dir/n2.ipc" || fail "recv does not listen"
timeout 20 "$nanocat" --pair --connect "ipc://$dir/n2.ipc" -D "from nanocat" \
	>/dev/null 2>"$dir/nc.err" &
pids+=($!)
wait "$rpid" || fail "recv exited $?"
[ "$(cat "$dir/r.out")" = "from nanocat" ] || fail "recv got $(cat "$dir/r.out")"
echo "ok nanocat -> ipckit recv"
echo "PASS nanocat"
