#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# plain_sockets.sh - issue 14: ipckit talks to programs nobody here wrote
# over unix, tcp and udp with ?framing=lines (and raw), both ways: socat,
# nc (netcat-openbsd, /bin/nc.openbsd) and python3's socket module send to
# `ipckit recv`, and receive what `ipckit send` sends. In ipckit's own
# framing a foreign peer gets a sentence naming what it sent. A program
# that is missing skips its part with a line saying so; none: exit 77.
# Usage: plain_sockets.sh PATH-TO-ipckit
set -u
cli=${1:?usage: plain_sockets.sh PATH-TO-ipckit}
. "$(dirname "$0")/lib/common.sh"
socat=$(command -v socat)
nc=$(command -v nc.openbsd || true)
[ -z "$nc" ] && [ -x /bin/nc.openbsd ] && nc=/bin/nc.openbsd
py=/usr/bin/python3
[ -x "$py" ] || py=""
if [ -z "$socat$nc$py" ]; then
	echo "skip: none of socat, nc.openbsd (netcat-openbsd), /usr/bin/python3"
	exit 77
fi
[ -n "$socat" ] || echo "socat not installed: its cases are skipped"
[ -n "$nc" ] || echo "nc.openbsd (netcat-openbsd) not installed: skipped"
[ -n "$py" ] || echo "/usr/bin/python3 not installed: its cases are skipped"

dir=$(mktemp -d /tmp/ipkt-plainsock-$$.XXXXXX)
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
# free_port: a port nobody listens on now (tcp and udp).
free_port() {
	local p
	for _ in $(seq 50); do
		p=$((20000 + RANDOM % 12000))
		grep -qi ":$(printf %04X $p) " /proc/net/tcp /proc/net/udp \
			/proc/net/tcp6 /proc/net/udp6 2>/dev/null || {
			echo $p
			return
		}
	done
	echo 0
}
# bound PROTO PORT: something listens on PORT (tcp, or udp bound).
bound() {
	grep -qi ":$(printf %04X "$2") 00000000:0000 0A\|:$(printf %04X "$2") " \
		/proc/net/"$1" /proc/net/"$1"6 2>/dev/null
}
# listening FILE: the address an `ipckit recv -v` said it bound.
listening() { sed -n 's/^ipckit recv: listening at //p' "$1"; }
said_listening() { [ -n "$(listening "$1")" ]; }
has_lines() { [ "$(cat "$1")" = "$expect" ]; }

expect='hello
world'
# ipk_recv NAME URL: `ipckit recv -n 2 URL` in the background; once it
# listens, its bound address in $addr (port 0 is said on stderr).
ipk_recv() {
	local n=$1
	timeout 20 "$cli" recv -n 2 -T 10000 "$2" >"$dir/$n.out" \
		2>"$dir/$n.err" &
	rpid=$!
	pids+=($rpid)
	local path=${2#unix://}
	case $2 in
	unix://*) until_ok 10 test -S "${path%%\?*}" ;;
	*) until_ok 10 said_listening "$dir/$n.err" ;;
	esac || fail "$n: recv does not listen"
	addr=$(listening "$dir/$n.err")
}
check_recv() {
	wait "$rpid" || fail "$1: recv exited $?"
	[ "$(cat "$dir/$1.out")" = "$expect" ] ||
		fail "$1: recv got '$(cat "$dir/$1.out")'"
	echo "ok $1"
}
hostport() { echo "${1#*://}" | sed 's/?.*//'; }

# --- foreign programs send, ipckit receives --------------------------------
for tool in socat nc py; do
	[ -n "${!tool}" ] || continue
	# unix
	sock=$dir/$tool.sock
	ipk_recv "$tool-to-unix" "unix://$sock?framing=lines"
	case $tool in
	socat) printf 'hello\nworld\n' | "$socat" - "UNIX-CONNECT:$sock" ;;
	nc) printf 'hello\nworld\n' | "$nc" -N -U "$sock" ;;
	py) "$py" -c 'import socket,sys
s=socket.socket(socket.AF_UNIX); s.connect(sys.argv[1])
s.sendall(b"hello\n"); s.sendall(b"world\n"); s.close()' "$sock" ;;
	esac
	check_recv "$tool-to-unix"
	# tcp
	ipk_recv "$tool-to-tcp" "tcp://127.0.0.1:0?framing=lines"
	hp=$(hostport "$addr")
	case $tool in
	socat) printf 'hello\nworld\n' | "$socat" - "TCP:$hp" ;;
	nc) printf 'hello\nworld\n' | "$nc" -N 127.0.0.1 "${hp##*:}" ;;
	py) "$py" -c 'import socket,sys
s=socket.create_connection(("127.0.0.1",int(sys.argv[1])))
s.sendall(b"hello\nworld\n"); s.close()' "${hp##*:}" ;;
	esac
	check_recv "$tool-to-tcp"
	# udp: one datagram with two lines, or one line each
	ipk_recv "$tool-to-udp" "udp://127.0.0.1:0?framing=lines"
	hp=$(hostport "$addr")
	case $tool in
	socat) printf 'hello\nworld\n' | "$socat" - "UDP:$hp" ;;
	nc) printf 'hello\nworld\n' | "$nc" -u -w1 127.0.0.1 "${hp##*:}" ;;
	py) "$py" -c 'import socket,sys
s=socket.socket(socket.AF_INET,socket.SOCK_DGRAM)
for m in (b"hello\n",b"world"): s.sendto(m,("127.0.0.1",int(sys.argv[1])))' \
		"${hp##*:}" ;;
	esac
	check_recv "$tool-to-udp"
done

# --- ipckit sends, foreign programs receive --------------------------------
# fl_start NAME CMD...: a foreign listener writing to $dir/NAME.out.
fl_start() {
	local n=$1
	shift
	timeout 20 "$@" >"$dir/$n.out" 2>"$dir/$n.err" </dev/null &
	fpid=$!
	pids+=($fpid)
}
fl_check() {
	wait "$fpid"
	local rc=$?
	[ $rc = 0 ] || [ $rc = 143 ] || fail "$1: the foreign listener exited $rc"
	[ "$(cat "$dir/$1.out")" = "$expect" ] ||
		fail "$1: got '$(cat "$dir/$1.out")'"
	echo "ok $1"
}
pyserve='import socket,sys
kind=sys.argv[1]
if kind=="unix":
    l=socket.socket(socket.AF_UNIX); l.bind(sys.argv[2])
elif kind=="tcp":
    l=socket.socket(); l.setsockopt(socket.SOL_SOCKET,socket.SO_REUSEADDR,1)
    l.bind(("127.0.0.1",int(sys.argv[2])))
else:
    u=socket.socket(socket.AF_INET,socket.SOCK_DGRAM)
    u.bind(("127.0.0.1",int(sys.argv[2])))
    got=b""
    while got.count(b"\n")<2: got+=u.recv(65536)
    sys.stdout.buffer.write(got); sys.exit(0)
l.listen(1); c,_=l.accept(); got=b""
while True:
    b=c.recv(65536)
    if not b: break
    got+=b
sys.stdout.buffer.write(got); c.close()'
for tool in socat nc py; do
	[ -n "${!tool}" ] || continue
	sock=$dir/$tool-l.sock
	case $tool in
	socat) fl_start "unix-to-$tool" "$socat" -u "UNIX-LISTEN:$sock" - ;;
	nc) fl_start "unix-to-$tool" "$nc" -lU "$sock" ;;
	py) fl_start "unix-to-$tool" "$py" -c "$pyserve" unix "$sock" ;;
	esac
	timeout 15 "$cli" send -T 10000 "unix://$sock?framing=lines" hello \
		world 2>"$dir/unix-to-$tool.send.err" || fail "send to $tool (unix)"
	fl_check "unix-to-$tool"

	port=$(free_port)
	case $tool in
	socat) fl_start "tcp-to-$tool" "$socat" -u \
		"TCP-LISTEN:$port,bind=127.0.0.1,reuseaddr" - ;;
	nc) fl_start "tcp-to-$tool" "$nc" -l 127.0.0.1 "$port" ;;
	py) fl_start "tcp-to-$tool" "$py" -c "$pyserve" tcp "$port" ;;
	esac
	timeout 15 "$cli" send -T 10000 "tcp://127.0.0.1:$port?framing=lines" \
		hello world 2>"$dir/tcp-to-$tool.send.err" ||
		fail "send to $tool (tcp)"
	fl_check "tcp-to-$tool"

	port=$(free_port)
	case $tool in
	socat) fl_start "udp-to-$tool" "$socat" -u \
		"UDP-RECV:$port,bind=127.0.0.1" - ;;
	nc) fl_start "udp-to-$tool" "$nc" -u -l 127.0.0.1 "$port" ;;
	py) fl_start "udp-to-$tool" "$py" -c "$pyserve" udp "$port" ;;
	esac
	until_ok 10 bound udp "$port" || fail "$tool does not bind udp $port"
	timeout 15 "$cli" send "udp://127.0.0.1:$port?framing=lines" hello \
		world 2>"$dir/udp-to-$tool.send.err" || fail "send to $tool (udp)"
	# socat and nc keep listening for more datagrams: stop them once
	# both lines are in.
	until_ok 10 has_lines "$dir/udp-to-$tool.out" ||
		fail "udp-to-$tool: got '$(cat "$dir/udp-to-$tool.out")'"
	kill "$fpid" 2>/dev/null
	wait "$fpid" 2>/dev/null
	echo "ok udp-to-$tool"
done

# --- ipckit's own framing and a foreign peer: a sentence, never a hang ----
if [ -n "$socat" ]; then
	sock=$dir/own.sock
	timeout 20 "$cli" recv -T 5000 "unix://$sock" >"$dir/own.out" \
		2>"$dir/own.err" &
	rpid=$!
	pids+=($rpid)
	until_ok 10 test -S "$sock" || fail "recv does not listen"
	printf 'hello there, ipckit\n' | "$socat" - "UNIX-CONNECT:$sock" >/dev/null
	wait "$rpid" && fail "recv took a foreign stream without a word"
	grep -q 'does not speak ipckit.*hello there' "$dir/own.err" ||
		fail "no sentence naming what it sent: $(cat "$dir/own.err")"
	echo "ok foreign peer in ipckit's framing (recv)"

	port=$(free_port)
	fl_start own-send sh -c "echo 'HTTP/1.0 200 OK' | \"$socat\" \
		TCP-LISTEN:$port,bind=127.0.0.1,reuseaddr -"
	timeout 15 "$cli" send -T 5000 "tcp://127.0.0.1:$port" hi \
		2>"$dir/own-send.err" && fail "send to a foreign server succeeded"
	grep -q 'does not speak ipckit.*HTTP/1.0' "$dir/own-send.err" ||
		fail "send names nothing: $(cat "$dir/own-send.err")"
	echo "ok foreign peer in ipckit's framing (send)"
fi
echo "PASS plain_sockets"
