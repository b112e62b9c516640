#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# bridge.sh - ipckit bridge between local channels and a real mosquitto:
# 100,000 numbered lines from a shared-memory publisher (shm pub/sub)
# carried at QoS 1 to two MQTT subscribers, checked by checksum; 10,000
# from a socket publisher (unix pub/sub); and a bridge whose MQTT side is
# both ways never takes back what it published itself.
# Usage: bridge.sh PATH-TO-ipckit
set -u
cli=${1:?usage: bridge.sh PATH-TO-ipckit}
. "$(dirname "$0")/../cli/lib/common.sh"
. "$(dirname "$0")/lib.sh"
mqtt_need
name=ipkt-mqbr-$$-$RANDOM
out=$(mktemp -d /tmp/$name.XXXXXX)
export IPK_RUNDIR=$out/run
mkdir -m 0700 "$IPK_RUNDIR"
pids=()
cleanup() {
	for p in "${pids[@]}"; do kill -9 "$p" 2>/dev/null; done
	wait 2>/dev/null
	rm -rf "$out" /dev/shm/"$name"-sensors*
}
trap cleanup EXIT

start() {
	local n=$1
	shift
	"$cli" "$@" >"$out/$n.out" 2>"$out/$n.err" &
	last=$!
	pids+=("$last")
}
wait_exit() {
	local end=$((SECONDS + $2))
	while kill -0 "$1" 2>/dev/null; do
		[ "$SECONDS" -lt "$end" ] || { kill -9 "$1"; wait "$1"; return 124; }
		sleep 0.02
	done
	wait "$1"
}
subscribed() { grep -q ': subscribed$' "$out/$1.err"; }

broker_start
b=mqtt://127.0.0.1:$port
N=100000

# 1. shm publisher -> bridge -> broker -> two subscribers.
start s1 sub -n $N -T 20000 "$b/site1/sensors?qos=1&queue=8192"
s1=$last
start s2 sub -n $N -T 20000 "$b/site1/#?qos=1&queue=8192"
s2=$last
until_ok 10 subscribed s1 || fail "first subscriber"
until_ok 10 subscribed s2 || fail "second subscriber"
local_url="shm:///$name-sensors"
start br bridge "$local_url?pattern=sub" "$b/site1/sensors?qos=1"
br=$last
t0=$(date +%s%N)
seq 1 $N | "$cli" pub -w 1 -T 30000 "$local_url?slow=block" 2>"$out/pub.err" ||
	fail "local publisher"
wait_exit "$s1" 30 || fail "first subscriber did not get $N lines"
wait_exit "$s2" 30 || fail "second subscriber did not get $N lines"
ms=$((($(date +%s%N) - t0) / 1000000))
want=$(seq 1 $N | md5sum)
[ "$(md5sum <"$out/s1.out")" = "$want" ] || fail "first subscriber: lines differ"
[ "$(md5sum <"$out/s2.out")" = "$want" ] || fail "second subscriber: lines differ"
kill -TERM "$br"
wait_exit "$br" 10 || fail "bridge did not end on SIGTERM"
grep -q "A->B $N messages" "$out/br.err" || fail "bridge counts: $(tail -1 "$out/br.err")"
echo "$N messages through the bridge to 2 subscribers in $ms ms"

# 2. The same from a unix socket publisher, fewer messages.
M=10000
start s3 sub -n $M -T 20000 "$b/site2/sensors?qos=1&queue=8192"
s3=$last
until_ok 10 subscribed s3 || fail "unix: subscriber"
sock_url="unix://$out/sensors.sock"
start br3 bridge "$sock_url?pattern=sub" "$b/site2/sensors?qos=1"
br3=$last
seq 1 $M | "$cli" pub -w 1 -T 30000 "$sock_url?slow=block" 2>"$out/pub3.err" ||
	fail "unix publisher: $(cat "$out/pub3.err")"
wait_exit "$s3" 30 || fail "unix: subscriber did not get $M lines"
[ "$(md5sum <"$out/s3.out")" = "$(seq 1 $M | md5sum)" ] ||
	fail "unix: lines differ"
kill -TERM "$br3"
wait_exit "$br3" 10 || fail "unix: bridge did not end"

# 3. Both ways: a plain local channel and a topic. What the bridge
# publishes comes back to its own subscription and must stay there.
start br2 bridge "listen:unix://$out/plain.sock" "$b/loop?qos=1"
br2=$last
until_ok 10 grep -q "B: connected" "$out/br2.err" || fail "bridge 2: broker"
mosquitto_sub -p "$port" -t loop -t ready -v >"$out/ms.out" 2>&1 &
pids+=("$!")
until_ok 10 bash -c "mosquitto_pub -p $port -t ready -m r; grep -q 'ready r' '$out/ms.out'" ||
	fail "mosquitto_sub"
"$cli" send "unix://$out/plain.sock" mine || fail "send to the bridge"
until_ok 10 grep -qx 'loop mine' "$out/ms.out" || fail "bridge did not publish"
kill -TERM "$br2"
wait_exit "$br2" 10 || fail "bridge 2 did not end"
grep -q "A->B 1 messages .* B->A 0 messages .* dropped 0" "$out/br2.err" ||
	fail "bridge 2 took back its own message: $(tail -1 "$out/br2.err")"
broker_stop
echo PASS
