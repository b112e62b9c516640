#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# ipckit bench --html, opened in headless Chromium through chromedriver
# (Debian packages chromium and chromium-driver; python3's standard
# library speaks WebDriver): the page lays out its tables and the inline
# SVG pictures with a size, loads nothing from the network, and logs no
# console error.
set -u
IPK=${1:?usage: bench_html.sh IPCKIT_BINARY}
DATA=$(cd "$(dirname "$0")/../data" && pwd)/bench-small.json
for tool in gnuplot chromium chromedriver python3; do
	if ! command -v $tool >/dev/null 2>&1; then
		echo "skip: $tool is not installed (apt-get install gnuplot-nox chromium chromium-driver)"
		exit 77
	fi
done
dir=$(mktemp -d /tmp/ipk-bench-html.XXXXXX)
trap 'rm -rf "$dir"' EXIT
fail() { echo "FAIL: $*"; exit 1; }

"$IPK" bench --from "$DATA" --html "$dir/r.html" >/dev/null 2>"$dir/err" ||
	fail "--html failed: $(cat "$dir/err")"
"$IPK" bench --compare "$DATA" "$DATA" --html "$dir/c.html" >/dev/null 2>"$dir/err" ||
	fail "--compare --html failed: $(cat "$dir/err")"
# A run of pattern rows only: their table and goals, no pictures.
cat >"$dir/pat.json" <<'JSON'
{"machine": {"cpu_model": "test", "cpus": 2, "date": "2026-01-01T00:00:00Z"},
 "config": {"mode": "quick", "duration_s": 0.2},
 "patterns": {"rows": [
  {"name": "pubsub/shm 1->1", "pattern": "pubsub", "impl": "shm",
   "kind": "ipckit", "status": "ok", "reason": "", "peers": 1, "size": 64,
   "zero_copy": false, "latency_ns": {"p50": 21000, "p99": 90000,
   "max": 300000, "samples": 600}, "messages": 100000, "lost": 0,
   "sent_per_s": 7000000, "slowest_sub_per_s": 7000000},
  {"name": "pubsub/shm 1->4", "pattern": "pubsub", "impl": "shm",
   "kind": "ipckit", "status": "ok", "reason": "", "peers": 4, "size": 64,
   "zero_copy": false, "latency_ns": {"p50": 80000, "p99": 250000,
   "max": 900000, "samples": 2400}, "messages": 40000, "lost": 0,
   "sent_per_s": 200000, "slowest_sub_per_s": 190000},
  {"name": "pubsub/iceoryx 1->1", "pattern": "pubsub", "impl": "iceoryx",
   "kind": "peer", "status": "not built", "reason": "not built: install <it>"},
  {"name": "reqrep/unix 8", "pattern": "reqrep", "impl": "unix",
   "kind": "ipckit", "status": "ok", "reason": "", "peers": 8, "size": 64,
   "zero_copy": false, "latency_ns": {"p50": 160000, "p99": 330000,
   "max": 900000, "samples": 15000}, "sent_per_s": 49000}]},
 "results": []}
JSON
"$IPK" bench --from "$dir/pat.json" --html "$dir/p.html" >/dev/null 2>"$dir/err" ||
	fail "--html of pattern rows failed: $(cat "$dir/err")"

timeout 120 python3 - "$dir" <<'PY'
import json, os, socket, subprocess, sys, time, urllib.request

d = sys.argv[1]

def port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    p = s.getsockname()[1]
    s.close()
    return p

p = port()
drv = subprocess.Popen(["chromedriver", "--port=%d" % p],
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
base = "http://127.0.0.1:%d" % p

def call(method, path, body=None):
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(base + path, data=data, method=method,
                                 headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=60) as r:
        return json.load(r)["value"]

try:
    for _ in range(100):
        try:
            call("GET", "/status")
            break
        except OSError:
            time.sleep(0.1)
    args = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
            "--no-first-run", "--disable-background-networking",
            "--disable-component-update", "--disable-sync",
            "--user-data-dir=" + os.path.join(d, "profile"),
            "--window-size=1280,1000"]
    caps = {"capabilities": {"alwaysMatch": {
        "browserName": "chrome",
        "goog:chromeOptions": {"args": args, "binary": "/usr/bin/chromium"},
        "goog:loggingPrefs": {"browser": "ALL"}}}}
    sid = call("POST", "/session", caps)["sessionId"]
    try:
        for page, want in (("r.html", 5), ("c.html", 6)):
            call("POST", "/session/%s/url" % sid,
                 {"url": "file://" + os.path.join(d, page)})
            got = call("POST", "/session/%s/execute/sync" % sid, {
                "script": """
const box = e => e ? e.getBoundingClientRect() : {width: 0, height: 0};
const svg = document.querySelector('#pictures svg');
const rows = id => document.querySelectorAll('#' + id + ' tr').length;
const net = performance.getEntriesByType('resource')
    .filter(r => !r.name.startsWith('file:')).map(r => r.name);
return {svgw: box(svg).width, svgh: box(svg).height,
        texts: svg ? svg.querySelectorAll('text').length : 0,
        claims: rows('claims'), latency: rows('latency'),
        throughput: rows('throughput'), properties: rows('properties'),
        latw: box(document.getElementById('latency')).width,
        sections: document.querySelectorAll('h2').length, net: net};""",
                "args": []})
            assert got["svgw"] > 600 and got["svgh"] > 600, (page, got)
            assert got["texts"] > 50, (page, got)
            assert got["claims"] >= 15 and got["latency"] >= 10, (page, got)
            assert got["throughput"] >= 10 and got["properties"] >= 8, (page, got)
            assert got["latw"] > 300, (page, got)
            assert got["sections"] >= want, (page, got)
            assert not got["net"], (page, "network", got["net"])
            log = call("POST", "/session/%s/se/log" % sid, {"type": "browser"})
            bad = [e for e in log if e.get("level") in ("SEVERE", "WARNING")]
            assert not bad, (page, "console", bad)
        call("POST", "/session/%s/url" % sid,
             {"url": "file://" + os.path.join(d, "p.html")})
        got = call("POST", "/session/%s/execute/sync" % sid, {
            "script": """
const rows = id => document.querySelectorAll('#' + id + ' tr').length;
const box = e => e ? e.getBoundingClientRect() : {width: 0, height: 0};
return {pat: rows('patterns'), goals: rows('pattern-goals'),
        w: box(document.getElementById('patterns')).width,
        text: document.body.innerText};""", "args": []})
        assert got["pat"] == 5 and got["goals"] == 4, got
        assert got["w"] > 300, got
        assert "not built: install <it>" in got["text"], "reason not escaped"
        assert "goal" in got["text"] and "not met" in got["text"], got["text"]
    finally:
        call("DELETE", "/session/%s" % sid)
finally:
    drv.terminate()
    drv.wait()
PY
rc=$?
[ $rc -eq 0 ] || fail "the page did not render as expected in Chromium"
echo "ok: the HTML report renders its tables and pictures in Chromium"
