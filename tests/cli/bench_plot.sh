#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# ipckit bench on a recorded run (tests/data/bench-small.json): --from
# prints the claims block, bad files are clear errors (exit 1), usage
# errors exit 2; --compare marks a change beyond the floors' noise; the
# pictures (gnuplot) come out with no gnuplot warning and name every row;
# --html holds the tables, the claims and the inline SVG.
set -u
IPK=${1:?usage: bench_plot.sh IPCKIT_BINARY}
DATA=$(cd "$(dirname "$0")/../data" && pwd)/bench-small.json
dir=$(mktemp -d /tmp/ipk-bench-plot.XXXXXX)
trap 'rm -rf "$dir"' EXIT
fail() { echo "FAIL: $*"; exit 1; }
[ -r "$DATA" ] || fail "no recorded run at $DATA"

# Bad input: a clear sentence and exit 1; usage errors exit 2.
printf '{"results": [1,]}' >"$dir/bad.json"
"$IPK" bench --from "$dir/bad.json" >/dev/null 2>"$dir/err"
[ $? -eq 1 ] || fail "a malformed JSON file is not exit 1"
grep -q 'bad.json: line 1, column' "$dir/err" || fail "no line/column: $(cat "$dir/err")"
printf '{"results": [{"name": "x", "kind": "ipckit", "rtt_ns": {"p50": "1"}}]}' >"$dir/bad2.json"
"$IPK" bench --from "$dir/bad2.json" >/dev/null 2>"$dir/err"
[ $? -eq 1 ] || fail "a wrong field type is not exit 1"
grep -q 'rtt_ns.p50: expected a number' "$dir/err" || fail "field not named: $(cat "$dir/err")"
printf '{"a": 1}' >"$dir/bad3.json"
"$IPK" bench --compare "$DATA" "$dir/bad3.json" >/dev/null 2>"$dir/err"
[ $? -eq 1 ] || fail "--compare with a non-run is not exit 1"
grep -q 'no "results" array' "$dir/err" || fail "not said: $(cat "$dir/err")"
"$IPK" bench --from "$dir/missing.json" >/dev/null 2>&1
[ $? -eq 1 ] || fail "a missing file is not exit 1"
"$IPK" bench --compare "$DATA" >/dev/null 2>&1
[ $? -eq 2 ] || fail "--compare with one file is not a usage error"
"$IPK" bench --compare "$DATA" "$DATA" --json "$dir/x.json" >/dev/null 2>&1
[ $? -eq 2 ] || fail "--compare --json is not a usage error"

# The claims, from the recorded numbers.
"$IPK" bench --from "$DATA" >"$dir/from.txt" 2>"$dir/err" ||
	fail "--from exited non-zero: $(cat "$dir/err")"
grep -q "THE ARTICLE'S CLAIMS" "$dir/from.txt" || fail "no claims block"
grep -q '^- shared memory is the fastest: yes — shm/adaptive 0.27 µs vs pipe 55 µs' \
	"$dir/from.txt" || fail "shm-fastest claim not as recorded"
grep -q '^- message queues are faster than pipes.*(the same wake-up, a tie)' \
	"$dir/from.txt" || fail "the mq/pipe round trip is not a tie"
grep -q '^- only sockets cross hosts: yes' "$dir/from.txt" || fail "remote claim"
for id in pipe-slow mq-vs-pipe mq-copies shm-fastest shm-no-copy \
    shm-needs-sync signals-no-data sockets-cross-hosts pipe-kinship \
    pipe-lifetime boundaries types zero-copy outlives-writer; do
	grep -q "\"id\": \"$id\"" "$DATA" || fail "recorded JSON lacks claim $id"
done

# A second run: pipe's p50 twice as long, everything else the same.
sed 's/"p50": 55295, "p90": 75775, "p99": 96255/"p50": 110591, "p90": 151551, "p99": 192511/' "$DATA" \
    >"$dir/after.json"
cmp -s "$DATA" "$dir/after.json" && fail "the test edit did not apply"
"$IPK" bench --compare "$DATA" "$dir/after.json" >"$dir/cmp.txt" 2>"$dir/err" ||
	fail "--compare exited non-zero: $(cat "$dir/err")"
grep -Eq '^pipe +55\.30 +110\.59 +2\.00x-' "$dir/cmp.txt" ||
	fail "the pipe change is not marked: $(grep '^pipe ' "$dir/cmp.txt")"
grep -Eq '^mq +45\.05 +45\.05 +1\.00x ' "$dir/cmp.txt" ||
	fail "an unchanged row is marked"
grep -q '^1 row changed beyond the noise' "$dir/cmp.txt" ||
	fail "count of changes: $(tail -3 "$dir/cmp.txt")"

if ! command -v gnuplot >/dev/null 2>&1; then
	echo "skip: gnuplot is not installed (apt-get install gnuplot-nox)"
	exit 77
fi
names=$(grep -o '{"name": "[^"]*"' "$DATA" | sed 's/{"name": "//; s/"$//')
check_svg() { # file, what
	for n in $names; do
		[ "$n" = memcpy ] && continue # throughput only, named in a key
		grep -q ">$n<" "$1" || fail "$2: row $n not in the SVG"
	done
	grep -q '>memcpy<' "$1" || fail "$2: memcpy not in the SVG"
	grep -q '>floor (ring)<' "$1" || fail "$2: no streaming floor (floor/ring) in the key"
}
"$IPK" bench --from "$DATA" --plot "$dir/p.svg" >"$dir/out" 2>"$dir/err" ||
	fail "--plot svg failed: $(cat "$dir/err")"
[ -s "$dir/err" ] && fail "gnuplot said something: $(cat "$dir/err")"
check_svg "$dir/p.svg" "--plot"
"$IPK" bench --from "$DATA" --plot "$dir/p.png" >"$dir/out" 2>"$dir/err" ||
	fail "--plot png failed: $(cat "$dir/err")"
[ -s "$dir/err" ] && fail "gnuplot said something (png): $(cat "$dir/err")"
head -c 8 "$dir/p.png" | grep -q PNG || fail "not a PNG"
"$IPK" bench --compare "$DATA" "$dir/after.json" --plot "$dir/c.svg" \
    >"$dir/out" 2>"$dir/err" || fail "--compare --plot failed: $(cat "$dir/err")"
[ -s "$dir/err" ] && fail "gnuplot said something (compare): $(cat "$dir/err")"
check_svg "$dir/c.svg" "--compare --plot"
grep -q 'B/A 2.00×' "$dir/c.svg" || fail "the compare picture lacks the ratio"

"$IPK" bench --from "$DATA" --html "$dir/r.html" >"$dir/out" 2>"$dir/err" ||
	fail "--html failed: $(cat "$dir/err")"
for id in claims latency throughput properties pictures; do
	grep -q "id=\"$id\"" "$dir/r.html" || fail "--html: no #$id"
done
grep -q '<svg' "$dir/r.html" || fail "--html: no inline SVG"
grep -Eq '(src|href)="https?:' "$dir/r.html" && fail "--html fetches from the network"
echo "ok: claims, compare, pictures and HTML from a recorded run"
