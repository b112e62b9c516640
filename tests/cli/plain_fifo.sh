#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# plain_fifo.sh - issue 14: the article's named pipe with ipckit on either
# end (`mkfifo test; echo "this is a pipe" > test` / `cat < test`), the
# shell's `|` through pipe:?rfd=/wfd=, and what fifo ?framing=raw|lines
# does with the user's FIFO (used as it is, never changed or removed), a
# missing one (made, then removed) and a file that is not a FIFO (refused,
# left byte for byte). Three separate sends reach one `recv -n 3`.
# Usage: plain_fifo.sh PATH-TO-ipckit
set -u
cli=${1:?usage: plain_fifo.sh PATH-TO-ipckit}
dir=$(mktemp -d /tmp/ipkt-plainfifo-$$.XXXXXX)
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
# what a file is: inode, type and mode, size, content digest
ident() { stat -c '%i %F %a %s' "$1" && { [ -p "$1" ] || md5sum <"$1"; }; }

cd "$dir" || exit 1
mkfifo test
before=$(ident test)
url="fifo://$dir/test?framing=lines"

# 1. The shell writes, ipckit reads (the article's example).
(echo "this is a pipe" >test) &
pids+=($!)
out=$(timeout 10 "$cli" recv "$url" 2>r1.err) || fail "recv from echo"
[ "$out" = "this is a pipe" ] || fail "recv got '$out'"
wait "${pids[-1]}" || fail "echo > test did not finish"

# 2. ipckit writes, the shell reads; send exits 0 once cat has the bytes.
timeout 10 "$cli" send "$url" "this is a pipe" 2>s2.err &
spid=$!
pids+=($spid)
out=$(timeout 10 cat <test) || fail "cat < test"
[ "$out" = "this is a pipe" ] || fail "cat got '$out'"
wait "$spid" || fail "send to cat exited $?"

# raw: the bytes as they are, echo's newline included.
(printf 'raw\0bytes' >test) &
pids+=($!)
out=$(timeout 10 "$cli" recv -F hex "fifo://$dir/test?framing=raw" \
	2>r3.err) || fail "raw recv"
[ "$out" = "726177006279746573" ] || fail "raw recv got $out"

[ "$(ident test)" = "$before" ] || fail "the user's FIFO changed"

# 3. No FIFO yet: the listener makes it, three separate senders reach one
# recv -n 3 (each waits for it), and it is gone afterwards.
new="fifo://$dir/made?framing=lines"
timeout 20 "$cli" recv -n 3 "$new" >r4.out 2>r4.err &
rpid=$!
pids+=($rpid)
for i in 1 2 3; do
	timeout 10 "$cli" send -T 5000 "$new" "m$i" 2>>s4.err ||
		fail "send m$i"
done
wait "$rpid" || fail "recv -n 3 exited $?"
[ "$(cat r4.out)" = "$(printf 'm1\nm2\nm3')" ] || fail "got $(cat r4.out)"
[ -e made ] && fail "the FIFO the listener made is still there"

# 4. A regular file at the name: refused with a sentence, left as it was.
printf 'precious\n' >file
before=$(ident file)
timeout 5 "$cli" recv -T 200 "fifo://$dir/file?framing=lines" 2>r5.err &&
	fail "recv on a regular file succeeded"
grep -q "not a FIFO" r5.err || fail "no sentence: $(cat r5.err)"
timeout 5 "$cli" send -T 200 "fifo://$dir/file?framing=lines" x 2>s5.err &&
	fail "send to a regular file succeeded"
[ "$(ident file)" = "$before" ] || fail "the regular file changed"

# 5. A writer with no reader: says it waits, fails at the timeout.
timeout 5 "$cli" send -T 300 "$url" x 2>s6.err && fail "send without reader"
grep -q "waiting for a listener" s6.err || fail "no waiting note"

# 6. The shell's | through pipe: both ways.
out=$(printf 'a\nb\n' | timeout 5 "$cli" recv -d -n 2 \
	'pipe:?rfd=0&framing=lines') || fail "recv from |"
[ "$out" = "$(printf 'a\nb')" ] || fail "pipe recv got '$out'"
out=$(timeout 5 "$cli" send 'pipe:?wfd=1&framing=lines' x y | cat)
[ "$out" = "$(printf 'x\ny')" ] || fail "pipe send gave '$out'"

echo "PASS plain_fifo"
