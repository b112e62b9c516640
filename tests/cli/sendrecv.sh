#!/bin/bash
# SPDX-License-Identifier: MIT
# sendrecv.sh - `ipckit recv` and `ipckit send` in two processes over fifo
# and unix, output checked exactly; a usage error and a bad URL exit 2 with
# one line that names the option or the URL. Usage: sendrecv.sh PATH/TO/ipckit
set -u
IPK=${1:?usage: sendrecv.sh PATH/TO/ipckit}
U=ipkt-cli-$$-$RANDOM
OUT=$(mktemp /tmp/$U-out.XXXXXX)
ERR=$(mktemp /tmp/$U-err.XXXXXX)
RECV_PID=

cleanup() {
	[ -n "$RECV_PID" ] && kill -9 "$RECV_PID" 2>/dev/null
	rm -rf /tmp/$U*
}
trap cleanup EXIT

fail() {
	echo "FAIL: $*" >&2
	[ -s "$ERR" ] && sed 's/^/  stderr: /' "$ERR" >&2
	exit 1
}

for url in "fifo:///tmp/$U-fifo" "unix:///tmp/$U-sock" "unix://@$U-abs"; do
	: >"$OUT"
	: >"$ERR"
	timeout 20 "$IPK" recv -n 3 "$url" >"$OUT" 2>"$ERR" &
	RECV_PID=$!
	# send dials with a timeout, so it waits for recv to be listening.
	timeout 20 "$IPK" send --timeout 10000 "$url" a b c 2>>"$ERR" ||
		fail "send to $url exited $?"
	wait "$RECV_PID"
	rc=$?
	RECV_PID=
	[ $rc -eq 0 ] || fail "recv on $url exited $rc"
	printf 'a\nb\nc\n' | cmp -s - "$OUT" ||
		fail "recv on $url printed: $(cat "$OUT")"
	echo "ok: $url"
done

# Lines of stdin are messages too.
url="fifo:///tmp/$U-lines"
timeout 20 "$IPK" recv -n 2 "$url" >"$OUT" 2>"$ERR" &
RECV_PID=$!
printf 'one line\nsecond\n' |
	timeout 20 "$IPK" send --timeout 10000 "$url" 2>>"$ERR" ||
	fail "send of stdin lines to $url exited $?"
wait "$RECV_PID" || fail "recv on $url exited $?"
RECV_PID=
printf 'one line\nsecond\n' | cmp -s - "$OUT" ||
	fail "recv on $url printed: $(cat "$OUT")"
echo "ok: stdin lines"

# Usage error: exit 2.
timeout 10 "$IPK" recv >/dev/null 2>"$ERR"
rc=$?
[ $rc -eq 2 ] || fail "recv without URL exited $rc, expected 2"
timeout 10 "$IPK" send --no-such-option x >/dev/null 2>"$ERR"
rc=$?
[ $rc -eq 2 ] || fail "send with a bad option exited $rc, expected 2"
[ "$(wc -l <"$ERR")" -eq 1 ] || fail "a bad option printed $(wc -l <"$ERR") lines"
grep -qF -- "--no-such-option" "$ERR" || fail "error does not name the option"

# Bad URL: exit 2 and one line that names the URL.
bad="fifo:///tmp/$U-bad?bogus=1"
timeout 10 "$IPK" send --timeout 0 "$bad" x >/dev/null 2>"$ERR"
rc=$?
[ $rc -eq 2 ] || fail "send to a bad URL exited $rc, expected 2"
grep -qF "$bad" "$ERR" || fail "error does not name the URL '$bad'"
[ "$(wc -l <"$ERR")" -eq 1 ] || fail "a bad URL printed $(wc -l <"$ERR") lines"
timeout 10 "$IPK" recv "unix://host/x" >/dev/null 2>"$ERR"
rc=$?
[ $rc -eq 2 ] || fail "recv on a bad unix URL exited $rc, expected 2"
grep -qF "unix://host/x" "$ERR" || fail "error does not name unix://host/x"
echo "ok: exit codes"

# Nothing left behind.
left=$(ls -d /tmp/*"$U"* 2>/dev/null | grep -v -e "$OUT" -e "$ERR")
[ -z "$left" ] || fail "left behind: $left"
echo "PASS cli sendrecv"
