#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# ipckit bench: a tiny run writes JSON with the machine object and one result
# row per requested name, each with the fields docs/benchmarks.md promises.
set -u
IPK=${1:?usage: bench.sh IPCKIT_BINARY}
dir=$(mktemp -d /tmp/ipk-bench-test.XXXXXX)
trap 'rm -rf "$dir"' EXIT
fail() { echo "FAIL: $*"; exit 1; }

"$IPK" bench --help | grep -q -- '--only' || fail "--help does not list --only"
"$IPK" bench --only no-such-row >/dev/null 2>&1
[ $? -eq 2 ] || fail "an unknown --only name is not a usage error (2)"

timeout 60 "$IPK" bench --only pipe,floor/atomic --rounds small \
    --sizes 64,4K --duration 0.05 --json "$dir/out.json" \
    >"$dir/table.txt" 2>"$dir/err.txt" || {
	cat "$dir/table.txt" "$dir/err.txt"
	fail "ipckit bench exited non-zero"
}
grep -q 'ROUND-TRIP LATENCY' "$dir/table.txt" || fail "no latency table"
grep -q 'PROPERTIES' "$dir/table.txt" || fail "no properties matrix"
[ -s "$dir/out.json" ] || fail "no JSON written"

if command -v python3 >/dev/null 2>&1; then
	python3 - "$dir/out.json" <<'PY' || fail "JSON check failed"
import json, sys
d = json.load(open(sys.argv[1]))
m = d["machine"]
for k in ("cpu_model", "cpus", "kernel", "cpu_pair"):
    assert k in m, "machine lacks " + k
names = [r["name"] for r in d["results"]]
assert sorted(names) == ["floor/atomic", "pipe"], names
for r in d["results"]:
    for k in ("name", "kind", "rtt_ns", "throughput", "status", "reason"):
        assert k in r, r["name"] + " lacks " + k
    assert r["status"] == "ok", (r["name"], r["status"], r["reason"])
    for k in ("p50", "p90", "p99", "p999", "max"):
        assert r["rtt_ns"][k] > 0, (r["name"], k)
    assert r["rtt_ns"]["samples"] == 300, r["rtt_ns"]["samples"]
    sizes = sorted(t["size"] for t in r["throughput"])
    assert sizes == [64, 4096], sizes
    for t in r["throughput"]:
        for k in ("size", "msgs_per_s", "mb_per_s", "zero_copy"):
            assert k in t, k
        assert t["msgs_per_s"] > 0
kinds = {r["name"]: r["kind"] for r in d["results"]}
assert kinds == {"pipe": "ipckit", "floor/atomic": "baseline"}, kinds
assert "floor_atomic" in [r for r in d["results"] if r["name"] == "pipe"][0]["ratio"]
PY
else
	for k in '"machine"' '"cpu_model"' '"name": "pipe"' \
	    '"name": "floor/atomic"' '"rtt_ns"' '"p999"' '"throughput"' \
	    '"msgs_per_s"' '"mb_per_s"' '"zero_copy"' '"status": "ok"'; do
		grep -q "$k" "$dir/out.json" || fail "JSON lacks $k"
	done
fi
echo "ok: bench JSON has the machine and both rows"
