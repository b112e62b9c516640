#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# bridge.sh - `ipckit bridge` as a command: help and usage errors, and an
# idle bridge that SIGTERM ends cleanly with its counts. (The 100,000-
# message test through a bridge is tests/transport/bridge_test.c.)
set -u
cli=${1:?usage: bridge.sh PATH-TO-ipckit}
fail() { echo "FAIL: $*"; exit 1; }
log=$(mktemp /tmp/ipkt-bridge-XXXXXX)
pid=
trap '[ -n "$pid" ] && kill -9 "$pid" 2>/dev/null; rm -f "$log"' EXIT

"$cli" bridge --help | grep -q 'listen:URL' || fail "--help lacks the sides"
"$cli" bridge --help >/dev/null || fail "--help exit status"
"$cli" bridge tcp://127.0.0.1:1 >/dev/null 2>&1
[ $? -eq 2 ] || fail "one side must be a usage error (2)"
"$cli" bridge listen: dial:x >/dev/null 2>&1
[ $? -eq 2 ] || fail "an empty address must be a usage error (2)"
"$cli" bridge 'listen:tcp://127.0.0.1:0?bogus=1' tcp://127.0.0.1:1 \
	>/dev/null 2>&1
[ $? -eq 2 ] || fail "a bad URL must be a usage error (2)"

# Idle: nobody on either side; SIGTERM ends it with exit 0 and counts.
"$cli" bridge listen:tcp://127.0.0.1:0 dial:tcp://127.0.0.1:1 2>"$log" &
pid=$!
for _ in $(seq 50); do
	# Wait (bounded) until the bridge runs its loop: it has a socket.
	ls -l /proc/$pid/fd 2>/dev/null | grep -q socket && break
	sleep 0.1
done
kill -TERM $pid
wait $pid
rc=$?
pid=
[ $rc -eq 0 ] || fail "SIGTERM: exit $rc, expected 0"
grep -q 'A->B 0 messages' "$log" || fail "no counts on exit: $(cat "$log")"
echo "PASS cli bridge"
