#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# signals.sh - SIGTERM, SIGINT and SIGHUP on a listening `ipckit recv`
# (idle, and with a peer attached) remove what the listener made (FIFOs,
# socket file, queues, segment, registry entry) and end it by the signal
# (exit status 143, 130, 129), on fifo, unix, mq, sysv, shm, tcp, udp and
# nng+ipc; `ipckit recv ... | head -1` ends by SIGPIPE (141) just as clean.
# Usage: signals.sh PATH-TO-ipckit
set -u
cli=${1:?usage: signals.sh PATH-TO-ipckit}
. "$(dirname "$0")/lib/common.sh"
name=ipkt-sig-$$-$RANDOM
out=$(mktemp -d /tmp/$name-out.XXXXXX)
export IPK_RUNDIR=$out/run
mkdir -m 0700 "$IPK_RUNDIR"
pids=()

url() {
	case $1 in
	fifo) echo "fifo:///tmp/$name-fifo" ;;
	unix) echo "unix:///tmp/$name-unix" ;;
	mq) echo "mq:///$name-mq" ;;
	sysv) echo "sysv:///tmp/$name-sysv" ;;
	shm) echo "shm:///$name-shm" ;;
	tcp) echo "tcp://127.0.0.1:0" ;;
	udp) echo "udp://127.0.0.1:0" ;;
	nng) echo "nng+ipc:///tmp/$name-nng" ;;
	esac
}
named="fifo unix mq sysv shm"

cleanup() {
	for p in "${pids[@]}"; do kill -9 "$p" 2>/dev/null; done
	exec 3>&- 2>/dev/null
	wait 2>/dev/null
	for s in $named; do "$cli" rm --force "$(url "$s")" >/dev/null 2>&1; done
	rm -rf /tmp/"$name"* /dev/shm/"$name"*
}
trap cleanup EXIT



# made S: the objects of scheme S's channel exist, seen through the files
# and through `ipckit stat` (POSIX queues are not files here when
# /dev/mqueue is not mounted).
made() {
	case $1 in
	fifo) [ -p "/tmp/$name-fifo" ] && [ -p "/tmp/$name-fifo.reply" ] ;;
	unix) [ -S "/tmp/$name-unix" ] ;;
	sysv) [ -e "/tmp/$name-sysv" ] ;;
	shm) [ -e "/dev/shm/$name-shm" ] ;;
	nng) [ -S "/tmp/$name-nng" ] ;;
	esac || return 1
	case " $named " in
	*" $1 "*) "$cli" stat --json "$(url "$1")" | grep -q '"exists":true' ;;
	esac
}

# gone S: nothing of scheme S's channel is left.
gone() {
	local left
	left=$(ls -d /tmp/"$name-$1"* /dev/shm/"$name-$1"* 2>/dev/null)
	[ -z "$left" ] || { echo "left: $left"; return 1; }
	case " $named " in
	*" $1 "*)
		! "$cli" stat "$(url "$1")" >/dev/null 2>&1 || {
			echo "stat still finds $(url "$1")"
			return 1
		}
		;;
	esac
}

# 1. Every listener, idle and then with a peer attached, SIGTERM: 143.
for s in fifo unix mq sysv shm tcp udp nng; do
	for peer in 0 1; do
		# Not the last run's line: the file is made anew by the shell.
		rm -f "$out/r.out" "$out/r.err"
		"$cli" recv -v -T 30000 "$(url "$s")" >"$out/r.out" 2>"$out/r.err" &
		r=$!
		pids+=($r)
		until_ok 10 grep -q '^ipckit recv: listening at ' "$out/r.err" ||
			fail "$s: recv does not say it listens"
		at=$(sed -n 's/^ipckit recv: listening at //p' "$out/r.err")
		until_ok 10 made "$s" || fail "$s: the listener's objects not found"
		if [ $peer = 1 ]; then
			exec 3> >(exec "$cli" send -T 30000 "$at" 2>"$out/s.err")
			d=$!
			pids+=($d)
			echo "hello-$s" >&3
			until_ok 10 grep -q "hello-$s" "$out/r.out" ||
				fail "$s: the peer's message did not arrive"
		fi
		kill -TERM "$r"
		{ wait "$r"; } 2>/dev/null
		rc=$?
		[ $rc -eq 143 ] || fail "$s (peer $peer): SIGTERM gave $rc, expected 143"
		if [ $peer = 1 ]; then
			exec 3>&-
			wait "$d" 2>/dev/null
		fi
		msg=$(gone "$s") || fail "$s (peer $peer) after SIGTERM: $msg"
	done
	echo "ok: SIGTERM on a $s listener"
done

# 2. SIGINT (130) and SIGHUP (129). A script's background job ignores
#    SIGINT unless job control is on, and recv leaves ignored signals
#    ignored: so job control here.
for sig in INT HUP; do
	want=$((128 + $(kill -l "$sig")))
	for s in fifo shm; do
		set -m
		"$cli" recv -v -T 30000 "$(url "$s")" >"$out/r.out" 2>"$out/r.err" &
		r=$!
		set +m
		pids+=($r)
		until_ok 10 made "$s" || fail "$s: the listener's objects not found"
		kill -"$sig" "$r"
		{ wait "$r"; } 2>/dev/null
		rc=$?
		[ $rc -eq "$want" ] || fail "$s: SIG$sig gave $rc, expected $want"
		msg=$(gone "$s") || fail "$s after SIG$sig: $msg"
	done
	echo "ok: SIG$sig"
done

# 3. SIGPIPE: `ipckit recv | head -1` with a sender that goes on; recv
#    dies of SIGPIPE at its next write, having removed its objects.
for s in unix fifo shm; do
	u=$(url "$s")
	"$cli" send -T 30000 -r 0 -i 20 "$u" tick 2>"$out/s.err" &
	d=$!
	pids+=($d)
	timeout 30 "$cli" recv -T 30000 "$u" 2>"$out/p.err" | head -1 >"$out/p.out"
	rc=${PIPESTATUS[0]}
	[ "$rc" -eq 141 ] || fail "$s: recv | head -1 gave $rc, expected 141"
	echo tick | cmp -s - "$out/p.out" || fail "$s: head got $(cat "$out/p.out")"
	[ -s "$out/p.err" ] && fail "$s: recv said on SIGPIPE: $(cat "$out/p.err")"
	kill "$d" 2>/dev/null
	wait "$d" 2>/dev/null
	msg=$(gone "$s") || fail "$s after SIGPIPE: $msg"
	echo "ok: SIGPIPE on a $s listener"
done

echo "PASS cli signals"
