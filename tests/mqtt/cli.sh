#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# cli.sh - ipckit pub/sub through a real mosquitto, with the broker's own
# clients on the other end: `ipckit sub` prints what mosquitto_pub sends
# (wildcards + and #, --topic), mosquitto_sub prints what `ipckit pub`
# sends, the ipckit type property between two ipckit ends, a persistent
# session (QoS 1 messages published while the subscriber was away), a
# retained message, and bad addresses refused in one line with exit 2.
# Usage: cli.sh PATH-TO-ipckit
set -u
cli=${1:?usage: cli.sh PATH-TO-ipckit}
. "$(dirname "$0")/../cli/lib/common.sh"
. "$(dirname "$0")/lib.sh"
mqtt_need
name=ipkt-mqtt-$$-$RANDOM
out=$(mktemp -d /tmp/$name.XXXXXX)
pids=()
cleanup() {
	for p in "${pids[@]}"; do kill -9 "$p" 2>/dev/null; done
	wait 2>/dev/null
	rm -rf "$out"
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

# A certificate authority and a broker certificate for 127.0.0.1, when
# openssl is there: the broker then also listens with TLS.
tls_port=
if command -v openssl >/dev/null; then
	mk() { openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 \
		-nodes -days 1 -subj "/CN=$2" -keyout "$out/$1.key" -out "$out/$1.pem" \
		>/dev/null 2>&1; }
	if mk ca ipkt-ca && mk other ipkt-other &&
		openssl req -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes \
			-subj /CN=127.0.0.1 -keyout "$out/srv.key" -out "$out/srv.csr" \
			>/dev/null 2>&1 &&
		openssl x509 -req -in "$out/srv.csr" -CA "$out/ca.pem" \
			-CAkey "$out/ca.key" -CAcreateserial -days 1 -out "$out/srv.pem" \
			-extfile <(printf 'subjectAltName=IP:127.0.0.1\n') >/dev/null 2>&1; then
		tls_port=$(free_port)
		extra_conf="listener $tls_port 127.0.0.1
allow_anonymous true
cafile $out/ca.pem
certfile $out/srv.pem
keyfile $out/srv.key"
	fi
fi
[ -n "$tls_port" ] || echo "note: no openssl: mqtts:// not tried"
# A listener that wants a user and password, when mosquitto_passwd is there.
auth_port=
if command -v mosquitto_passwd >/dev/null &&
	mosquitto_passwd -b -c "$out/passwd" ipkuser 's3cret&=x' >/dev/null 2>&1; then
	auth_port=$(free_port)
	extra_conf="${extra_conf:-}
listener $auth_port 127.0.0.1
allow_anonymous false
password_file $out/passwd"
else
	echo "note: no mosquitto_passwd: user/password not tried"
fi
broker_start
b=mqtt://127.0.0.1:$port

# 1. mosquitto_pub -> ipckit sub, with # and + wildcards and --topic.
start hash sub -n 2 -T 10000 "$b/a/#"
h=$last
start plus sub -n 1 -T 10000 "$b/x/+/z" --topic 'y/#'
p=$last
until_ok 10 subscribed hash || fail "sub a/# did not subscribe"
until_ok 10 subscribed plus || fail "sub x/+/z did not subscribe"
mosquitto_pub -p "$port" -t a/b -m hi || fail "mosquitto_pub a/b"
mosquitto_pub -p "$port" -t b/a -m no || fail "mosquitto_pub b/a"
mosquitto_pub -p "$port" -t a/b/c -m deep || fail "mosquitto_pub a/b/c"
mosquitto_pub -p "$port" -t y/q -m why || fail "mosquitto_pub y/q"
wait_exit "$h" 10 || fail "sub a/# did not end"
wait_exit "$p" 10 || fail "sub x/+/z --topic y/# did not end"
[ "$(cat "$out/hash.out")" = "$(printf 'hi\ndeep')" ] ||
	fail "sub a/# printed '$(cat "$out/hash.out")'"
[ "$(cat "$out/plus.out")" = why ] ||
	fail "sub --topic y/# printed '$(cat "$out/plus.out")'"

# 2. ipckit pub -> mosquitto_sub.
mosquitto_sub -p "$port" -t 'c/#' -v >"$out/ms.out" 2>"$out/ms.err" &
ms=$!
pids+=("$ms")
# mosquitto_sub says nothing when subscribed: publish until it prints.
until_ok 10 bash -c "'$cli' pub '$b/c/ready' r >/dev/null; [ -s '$out/ms.out' ]" ||
	fail "mosquitto_sub got nothing"
"$cli" pub "$b/c/d" hello || fail "ipckit pub c/d"
until_ok 10 grep -qx 'c/d hello' "$out/ms.out" ||
	fail "mosquitto_sub printed '$(cat "$out/ms.out")'"
kill "$ms"

# 3. The type between two ipckit ends (a user property on the wire).
start typed sub -n 1 -T 10000 "$b/t"
t=$last
until_ok 10 subscribed typed || fail "sub t did not subscribe"
"$cli" pub -t 42 "$b/t?qos=1" typed || fail "ipckit pub -t 42"
wait_exit "$t" 10 || fail "typed sub did not end"

# 4. A persistent session: what was published while it was away.
s="$b/sess?qos=1&clean=0&id=$name"
start s1 sub -n 1 -T 10000 "$s"
until_ok 10 subscribed s1 || fail "persistent sub did not subscribe"
"$cli" pub "$b/sess?qos=1" first || fail "pub first"
wait_exit "$last" 10 || fail "persistent sub did not get 'first'"
"$cli" pub "$b/sess?qos=1" away1 away2 || fail "pub away"
"$cli" sub -n 2 -T 10000 "$s" >"$out/s2.out" 2>"$out/s2.err" ||
	fail "the session's return"
[ "$(cat "$out/s2.out")" = "$(printf 'away1\naway2')" ] ||
	fail "the returning session got '$(cat "$out/s2.out")'"

# 5. A retained message is there for a subscriber that comes later.
"$cli" pub "$b/r?retain=1&qos=1" kept || fail "pub retain"
[ "$("$cli" sub -n 1 -T 10000 "$b/r" 2>/dev/null)" = kept ] ||
	fail "retained message not given to a later subscriber"

# 6. Bad addresses: one line, exit 2 (usage) or 1, nothing hangs.
for u in "$b/a/#" "$b/a?qos=5" "mqtt:///a" "$b/a?clean=0" "$b/a?nope=1"; do
	"$cli" pub -T 2000 "$u" x >"$out/bad.out" 2>"$out/bad.err"
	rc=$?
	[ "$rc" = 2 ] || [ "$rc" = 1 ] || fail "pub $u: exit $rc"
	[ "$(wc -l <"$out/bad.err")" = 1 ] ||
		fail "pub $u: '$(cat "$out/bad.err")'"
done
"$cli" recv "$b/a" >"$out/plain.out" 2>&1 && fail "recv on mqtt succeeded"
grep -q "pattern=pub or ?pattern=sub" "$out/plain.out" ||
	fail "plain recv: '$(cat "$out/plain.out")'"
"$cli" sub -T 200 "mqtt://127.0.0.1:$(free_port)/a" >/dev/null \
	2>"$out/nobroker.err" && fail "sub without a broker succeeded"
grep -q "no broker listens" "$out/nobroker.err" ||
	fail "no broker: '$(cat "$out/nobroker.err")'"

# 7. mqtts: the broker's certificate checked against ?cafile=; another
# authority's refused in one line.
if [ -n "$tls_port" ]; then
	t="mqtts://127.0.0.1:$tls_port/tls"
	start tls sub -n 1 -T 10000 "$t?cafile=$out/ca.pem&qos=1"
	until_ok 10 subscribed tls || fail "mqtts sub: $(cat "$out/tls.err")"
	"$cli" pub "$t?cafile=$out/ca.pem&qos=1" secret || fail "mqtts pub"
	wait_exit "$last" 10 || fail "mqtts sub did not end"
	[ "$(cat "$out/tls.out")" = secret ] || fail "mqtts sub got '$(cat "$out/tls.out")'"
	"$cli" pub -T 3000 "$t?cafile=$out/other.pem" x 2>"$out/badca.err" &&
		fail "mqtts with another authority succeeded"
	[ "$(wc -l <"$out/badca.err")" = 1 ] || fail "bad CA: '$(cat "$out/badca.err")'"
fi

# 8. user and password: the password from $IPK_MQTT_PASSWORD (it has '&'
# and '=', which a URL could not carry), refused when wrong or missing.
if [ -n "$auth_port" ]; then
	a="mqtt://127.0.0.1:$auth_port/auth"
	IPK_MQTT_PASSWORD='s3cret&=x' "$cli" sub -n 1 -T 10000 "$a?user=ipkuser" \
		>"$out/auth.out" 2>"$out/auth.err" &
	last=$!
	pids+=("$last")
	until_ok 10 subscribed auth || fail "sub with a password: $(cat "$out/auth.err")"
	IPK_MQTT_PASSWORD='s3cret&=x' "$cli" pub "$a?user=ipkuser" hush ||
		fail "pub with a password"
	wait_exit "$last" 10 || fail "sub with a password did not end"
	[ "$(cat "$out/auth.out")" = hush ] || fail "auth sub got '$(cat "$out/auth.out")'"
	for u in "$a?user=ipkuser&password=wrong" "$a"; do
		"$cli" pub -T 2000 "$u" x 2>"$out/noauth.err" &&
			fail "pub $u was let in"
		grep -q "refused the connection" "$out/noauth.err" &&
			[ "$(wc -l <"$out/noauth.err")" = 1 ] ||
			fail "pub $u: '$(cat "$out/noauth.err")'"
	done
fi

broker_stop
echo "PASS"
