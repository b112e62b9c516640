#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# formats.sh - `ipckit recv --format raw|lines|hex|quoted|json` print
# exactly the bytes and types sent (binary, UTF-8, empty messages); a
# message over the receiver's limit is reported on stderr and the messages
# after it still arrive (recv goes on, exits 1), or the sender refuses it.
# Usage: formats.sh PATH-TO-ipckit
set -u
cli=${1:?usage: formats.sh PATH-TO-ipckit}
. "$(dirname "$0")/lib/common.sh"
name=ipkt-fmt-$$-$RANDOM
out=$(mktemp -d /tmp/$name-out.XXXXXX)
export IPK_RUNDIR=$out/run
mkdir -m 0700 "$IPK_RUNDIR"
pids=()

cleanup() {
	for p in "${pids[@]}"; do kill -9 "$p" 2>/dev/null; done
	wait 2>/dev/null
	for u in "unix:///tmp/$name-unix" "fifo:///tmp/$name-fifo" \
	    "shm:///$name-shm" "sysv:///tmp/$name-sysv"; do
		"$cli" rm --force "$u" >/dev/null 2>&1
	done
	rm -rf /tmp/"$name"* /dev/shm/"$name"*
}
trap cleanup EXIT

fail() {
	echo "FAIL: $*" >&2
	[ -s "$out/r.err" ] && sed 's/^/  recv: /' "$out/r.err" >&2
	exit 1
}


# The messages: binary (NUL, 0xff, quote, backslash, newline), UTF-8 text
# with a tab, and an empty one; each with its own type.
printf 'A\000"\\\n\377' >"$out/bin"
printf 'h\303\251\tz' >"$out/utf8"
: >"$out/empty"
u="unix:///tmp/$name-unix"

# fmt FORMAT [RECV-OPTIONS]: the three messages through recv in FORMAT,
# its output in $out/FORMAT.
fmt() {
	local f=$1
	shift
	rm -f "$out/r.err"
	"$cli" recv -n 3 -T 20000 -F "$f" "$@" "$u" >"$out/$f" 2>"$out/r.err" &
	local r=$!
	pids+=($r)
	until_ok 10 test -S "/tmp/$name-unix" || fail "$f: listener not up"
	for m in bin:1 utf8:2 empty:3; do
		timeout 20 "$cli" send -T 10000 -t "${m#*:}" -f "$out/${m%:*}" "$u" ||
			fail "$f: send ${m%:*} exited $?"
	done
	wait "$r" || fail "recv --format $f exited $?"
}

fmt raw
cat "$out/bin" "$out/utf8" | cmp -s - "$out/raw" || fail "raw: $(od -c "$out/raw")"
echo "ok: raw"

fmt lines
{ cat "$out/bin"; echo; cat "$out/utf8"; echo; echo; } | cmp -s - "$out/lines" ||
	fail "lines: $(od -c "$out/lines")"
echo "ok: lines"

fmt hex -v
printf '%s\n' '[type 1, 6 bytes] 4100225c0aff' '[type 2, 5 bytes] 68c3a9097a' \
	'[type 3, 0 bytes] ' | cmp -s - "$out/hex" || fail "hex: $(cat "$out/hex")"
echo "ok: hex, verbose"

fmt quoted
printf '%s\n' '"A\x00\"\\\n\xff"' '"h\xc3\xa9\tz"' '""' |
	cmp -s - "$out/quoted" || fail "quoted: $(cat "$out/quoted")"
echo "ok: quoted"

fmt json
printf '%s\n' '{"type":1,"length":6,"hex":"4100225c0aff"}' \
	"$(printf '{"type":2,"length":5,"data":"h\303\251\\tz"}')" \
	'{"type":3,"length":0,"data":""}' | cmp -s - "$out/json" ||
	fail "json: $(cat "$out/json")"
if command -v python3 >/dev/null; then
	python3 -c 'import json,sys
for l in open(sys.argv[1]): json.loads(l)' "$out/json" || fail "json: not JSON"
fi
echo "ok: json"

# A message over the receiver's ?maxmsg=: recv says so and goes on with
# the next peers' messages (exit 1 at the end), unless the sender already
# refuses it (then recv sees only the others and exits 0).
big=$(head -c 100 /dev/zero | tr '\0' x)
for u in "unix:///tmp/$name-unix" "fifo:///tmp/$name-fifo" \
    "shm:///$name-shm" "sysv:///tmp/$name-sysv"; do
	rm -f "$out/r.err"
	"$cli" recv -n 2 -T 20000 "$u?maxmsg=16" >"$out/drop" 2>"$out/r.err" &
	r=$!
	pids+=($r)
	until_ok 10 "$cli" stat "$u" || fail "$u: listener not up"
	refused=0
	for m in a "$big" c; do
		timeout 20 "$cli" send -T 10000 "$u" "$m" 2>"$out/s.err" && continue
		[ "$m" = "$big" ] || fail "$u: send $m exited $?"
		grep -q limit "$out/s.err" || fail "$u: send said $(cat "$out/s.err")"
		refused=1
	done
	wait "$r"
	rc=$?
	printf 'a\nc\n' | cmp -s - "$out/drop" ||
		fail "$u: around a dropped message: $(cat "$out/drop")"
	if [ $refused = 0 ]; then
		[ $rc -eq 1 ] || fail "$u: recv after a drop exited $rc, expected 1"
		grep -qE "100.byte" "$out/r.err" ||
			fail "$u: the drop was not reported"
	else
		[ $rc -eq 0 ] || fail "$u: recv exited $rc"
	fi
	echo "ok: a dropped message on $u (refused by the sender: $refused)"
done
echo "PASS cli formats"
