#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# ipckit bench --patterns: a short run writes the pattern rows and goals to
# the JSON with finite figures (a row that cannot run here says why: a peer
# not built, a transport without the pattern); the file loads back with
# --from and makes an HTML page; a bad "patterns" member is refused with
# the field named.
set -u
IPK=${1:?usage: bench_patterns.sh IPCKIT_BINARY}
dir=$(mktemp -d /tmp/ipk-bench-pat.XXXXXX)
trap 'rm -rf "$dir"' EXIT
fail() { echo "FAIL: $*"; exit 1; }

timeout 100 "$IPK" bench --patterns --rounds 2000 --duration 0.05 \
    --json "$dir/pat.json" >"$dir/table.txt" 2>"$dir/err.txt" || {
	cat "$dir/table.txt" "$dir/err.txt"
	fail "ipckit bench --patterns exited non-zero"
}
grep -q '^PATTERNS' "$dir/table.txt" || fail "no pattern table"
grep -q '^PATTERN GOALS' "$dir/table.txt" || fail "no pattern goals"
for row in 'pubsub/unix 1->1' 'pubsub/tcp 1->4' 'pubsub/nng+ipc 1->16' \
    'reqrep/unix 8'; do
	grep -q "^$row .* µs" "$dir/table.txt" || fail "no figures for $row"
done

if command -v python3 >/dev/null 2>&1; then
	python3 - "$dir/pat.json" <<'PY' || fail "pattern JSON check failed"
import json, math, sys
d = json.load(open(sys.argv[1]))
p = d["patterns"]
rows = {r["name"]: r for r in p["rows"]}
want = ["pubsub/%s 1->%d" % (s, n) for s in ("unix", "tcp", "nng+ipc", "nng+tcp")
        for n in (1, 4, 16)]
want += ["reqrep/%s %d" % (s, n) for s in ("unix", "tcp") for n in (1, 8)]
for name in want:
    assert name in rows, "no row " + name
    assert rows[name]["status"] == "ok", (name, rows[name]["reason"])
# shm, libnng and iceoryx rows run where they can, else say why.
for name in ("pubsub/shm 1->1", "pubsub/shm 1->4", "pubsub/shm zc 1->1",
             "pubsub/shm zc 1->4"):
    assert name in rows, "no row " + name
for r in p["rows"]:
    for k in ("name", "pattern", "impl", "kind", "status", "reason",
              "peers", "size", "zero_copy", "latency_ns", "sent_per_s",
              "slowest_sub_per_s", "lost", "messages"):
        assert k in r, (r["name"], "lacks", k)
    if r["status"] != "ok":
        assert r["reason"], (r["name"], "not ok without a reason")
        continue
    lat = r["latency_ns"]
    if not r["zero_copy"]:
        for k in ("p50", "p99", "max", "samples"):
            assert math.isfinite(lat[k]) and lat[k] > 0, (r["name"], k)
        assert lat["p50"] <= lat["p99"] <= lat["max"], (r["name"], lat)
    else:
        assert r["pub_cost_ns"] > 0, (r["name"], "no publisher cost")
    assert math.isfinite(r["sent_per_s"]) and r["sent_per_s"] > 0, r["name"]
    if r["pattern"] == "pubsub":
        assert r["slowest_sub_per_s"] > 0, r["name"]
        assert r["peers"] in (1, 4, 16), r["name"]
        if r["impl"] in ("shm", "unix", "tcp", "nng+ipc", "nng+tcp"):
            # slow=block: every subscriber got every message.
            assert r["lost"] == 0, (r["name"], r["lost"])
ids = [g["id"] for g in p["goals"]]
assert ids == ["shm-fanout-throughput", "shm-zc-publisher-cost",
               "shm-vs-iceoryx-latency"], ids
for g in p["goals"]:
    assert g["op"] in ("<=", ">="), g
    if g["met"] is None:
        assert g["value"] is None and g["evidence"], g
    else:
        assert math.isfinite(g["value"]) and g["value"] > 0, g
        ok = g["value"] <= g["goal"] if g["op"] == "<=" else g["value"] >= g["goal"]
        assert g["met"] == ok, g
PY
fi

# Recorded: the rows come back, the page has their table.
"$IPK" bench --from "$dir/pat.json" --html "$dir/pat.html" >"$dir/from.txt" \
	2>"$dir/err.txt" || fail "--from failed: $(cat "$dir/err.txt")"
grep -q '^pubsub/unix 1->4 ' "$dir/from.txt" || fail "--from lost the rows"
grep -q 'id="patterns"' "$dir/pat.html" || fail "no pattern table in HTML"
grep -q 'id="pattern-goals"' "$dir/pat.html" || fail "no goals in HTML"

# A bad member is named; a run without patterns still loads (bench_plot.sh
# loads the recorded runs).
printf '{"results": [], "patterns": {"rows": [{"name": "x", "peers": "4"}]}}' \
	>"$dir/bad.json"
"$IPK" bench --from "$dir/bad.json" >/dev/null 2>"$dir/err"
[ $? -eq 1 ] || fail "a wrong pattern field type is not exit 1"
grep -q 'patterns.rows\[0\] (x).peers: expected a number' "$dir/err" ||
	fail "field not named: $(cat "$dir/err")"
echo "ok: pattern rows and goals in the table, the JSON and the HTML"
