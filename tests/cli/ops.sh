#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# ops.sh - ipckit ls/stat/rm/gc over fifo, unix, mq, sysv and shm channels:
# liveness before and after SIGKILL, counters that move, rm refusing a live
# channel, gc --dry-run removing nothing and gc removing exactly the dead.
# Runs in a run directory of its own ($IPK_RUNDIR) and gc matches only this
# run's names, so channels of tests running beside it are never touched.
# Usage: ops.sh PATH-TO-ipckit
set -u
cli=${1:?usage: ops.sh PATH-TO-ipckit}
. "$(dirname "$0")/lib/common.sh"
. "$(dirname "$0")/lib/mqueue.sh"
name=ipkt-ops-$$-$RANDOM
out=$(mktemp -d)
export IPK_RUNDIR=$out/run
mkdir -m 0700 "$IPK_RUNDIR"
schemes="fifo unix mq sysv shm"
pids=()

url() {
	case $1 in
	fifo) echo "fifo:///tmp/$name-fifo" ;;
	unix) echo "unix:///tmp/$name-unix" ;;
	mq) echo "mq:///$name-mq" ;;
	sysv) echo "sysv:///tmp/$name-sysv" ;;
	shm) echo "shm:///$name-shm" ;;
	live) echo "fifo:///tmp/$name-live" ;;
	esac
}

cleanup() {
	for p in "${pids[@]}"; do kill -9 "$p" 2>/dev/null; done
	exec 3>&- 4>&- 5>&- 6>&- 7>&- 2>/dev/null
	wait 2>/dev/null
	for s in $schemes live; do
		"$cli" rm --force "$(url "$s")" >/dev/null 2>&1
	done
	rm -f /tmp/"$name"-* /dev/shm/"$name"-* ${MQDIR:+"$MQDIR"/"$name"-*}
	rm -rf "$out"
}
trap cleanup EXIT

fail() {
	echo "FAIL: $*" >&2
	"$cli" ls >&2
	exit 1
}

# ls --json has one channel per line: the line of URL $1.
line() {
	"$cli" ls --json | grep -F "\"url\":\"$1\""
}


# has URL ROLE ALIVE: the channel lists an endpoint ROLE alive or dead.
has() {
	line "$1" | grep -q "\"role\":\"$2\",\"alive\":$3"
}

# 1. A listener and a live dialer per scheme. The dialer is `send` reading
#    its messages from a pipe this script holds open on fd 3..7.
declare -A lpid dpid
fd=3
for s in $schemes; do
	u=$(url "$s")
	"$cli" recv -l -T 30000 "$u" >"$out/$s.out" 2>&1 &
	lpid[$s]=$!
	pids+=($!)
	until_ok 10 line "$u" || fail "$s: the listener is not listed"
	eval "exec $fd> >(exec \"\$cli\" send -T 30000 \"\$u\" 2>\"\$out/\$s.send\")"
	dpid[$s]=$!
	pids+=($!)
	echo "hello-$s" >&$fd
	fd=$((fd + 1))
done

for s in $schemes; do
	u=$(url "$s")
	until_ok 10 has "$u" dialer true || fail "$s: no live dialer listed"
	has "$u" listener true || fail "$s: listener not alive"
	# 2. stat reads the counters from outside: the message arrived.
	until_ok 10 grep -q "hello-$s" "$out/$s.out" ||
		fail "$s: message not received"
	"$cli" stat --json "$u" | grep -q '"msgs_recv":1,"bytes_recv":' ||
		fail "$s: stat shows no received message: $("$cli" stat "$u")"
	"$cli" stat --json "$u" | grep -q '"role":"dialer","alive":true,"msgs_sent":1,' ||
		fail "$s: stat shows no sent message"
	# 3. rm refuses a live channel.
	"$cli" rm "$u" 2>"$out/rm.err" && fail "$s: rm removed a live channel"
	grep -q "still has it open\|live" "$out/rm.err" ||
		fail "$s: rm said: $(cat "$out/rm.err")"
	line "$u" | grep -q '"exists":true' || fail "$s: objects gone after refused rm"
done
"$cli" stat -n 2 -i 10 "$(url shm)" | grep -c '^ROLE' | grep -q 2 ||
	fail "stat -n 2 did not print two blocks"

# 4. SIGKILL the listeners (a listener would end by itself when its dialer
#    went): dead in ls, the dialers, blocked reading their pipe, alive.
for s in $schemes; do kill -9 "${lpid[$s]}"; done
for s in $schemes; do
	u=$(url "$s")
	until_ok 10 has "$u" listener false || fail "$s: killed listener not dead"
	has "$u" dialer true || fail "$s: dialer died with the listener"
	"$cli" gc --match "$u" >/dev/null 2>&1
	line "$u" >/dev/null || fail "$s: gc removed a channel with a live dialer"
done

# 5. SIGKILL the dialers; a live channel of the same run stays.
"$cli" recv -l -T 30000 "$(url live)" >/dev/null 2>&1 &
pids+=($!)
until_ok 10 has "$(url live)" listener true || fail "live channel not listed"
for s in $schemes; do kill -9 "${dpid[$s]}"; done
for s in $schemes; do
	until_ok 10 has "$(url "$s")" dialer false ||
		fail "$s: killed dialer not dead"
	line "$(url "$s")" | grep -q '"alive":0,' || fail "$s: still alive"
done

# 6. Objects ipckit did not create are not listed; rm refuses them.
mkfifo "/tmp/$name-foreign"
"$cli" ls --json | grep -q "$name-foreign" && fail "foreign FIFO listed"
"$cli" rm "fifo:///tmp/$name-foreign" 2>/dev/null &&
	fail "rm removed a foreign FIFO"
[ -p "/tmp/$name-foreign" ] || fail "foreign FIFO gone"

# --all lists objects of nobody's channel apart, and ours only once.
: >"/dev/shm/$name-other"
"$cli" ls --json | grep -q "$name-other" && fail "plain ls lists /dev/shm/$name-other"
"$cli" ls --all --json >"$out/all" || fail "ls --all"
grep -F "\"/dev/shm/$name-other\"" "$out/all" | grep -q '"registered":false' ||
	fail "ls --all does not list /dev/shm/$name-other apart"
grep '"registered":false' "$out/all" | grep -q -e "$name-mq" -e "$name-shm" &&
	fail "ls --all lists a registered channel's object as foreign"
rm -f "/dev/shm/$name-other"
# Registered queues are seen without the mqueue file system; ls --all
# says in one line that it cannot list the others.
if [ "$(id -u)" = 0 ] && command -v unshare >/dev/null; then
	unshare -m --propagation private sh -c '
		sed -n "s/^[^ ]* [^ ]* [^ ]* [^ ]* \([^ ]*\) .* - mqueue .*/\1/p" \
			/proc/self/mountinfo | while read -r m; do umount "$m"; done
		exec "$1" ls --all --json' sh "$cli" >"$out/nomq" 2>"$out/nomq.err" ||
		fail "ls --all without mqueue: $(cat "$out/nomq.err")"
	[ "$(wc -l <"$out/nomq.err")" = 1 ] &&
		grep -q "no mqueue file system is mounted" "$out/nomq.err" ||
		fail "ls --all without mqueue said: $(cat "$out/nomq.err")"
	grep -F "\"url\":\"$(url mq)\"" "$out/nomq" | grep -q '"exists":true' ||
		fail "ls without mqueue does not see $(url mq)"
fi

# 7. gc --dry-run names the five dead channels and removes nothing.
"$cli" gc --dry-run --match "*$name*" >"$out/dry" || fail "gc --dry-run"
[ "$(grep -c '^would remove' "$out/dry")" = 5 ] ||
	fail "gc --dry-run said: $(cat "$out/dry")"
grep -q "$name-live" "$out/dry" && fail "gc --dry-run picks a live channel"
[ -p "/tmp/$name-fifo" ] && mq_exists "$name-mq.ipk-l" &&
	[ -e "/dev/shm/$name-shm" ] && [ -S "/tmp/$name-unix" ] &&
	[ -e "/tmp/$name-sysv" ] || fail "gc --dry-run removed something"

# 8. gc removes exactly the dead ones, with their kernel objects.
msqid=$(line "$(url sysv)" | sed -n 's/.*"msqid \([0-9]*\) .*/\1/p')
"$cli" gc --match "*$name*" >"$out/gc" || fail "gc: $(cat "$out/gc")"
[ "$(grep -c '^removed' "$out/gc")" = 5 ] || fail "gc said: $(cat "$out/gc")"
for s in $schemes; do
	line "$(url "$s")" && fail "$s: still listed after gc"
done
[ -e "/tmp/$name-fifo" ] || [ -e "/tmp/$name-fifo.lock" ] ||
	mq_exists "$name-mq.ipk-l" || [ -e "/dev/shm/$name-shm" ] ||
	[ -e "/tmp/$name-unix" ] || [ -e "/tmp/$name-sysv" ] &&
	fail "gc left kernel objects: $(ls /tmp/$name-* /dev/shm/$name-* ${MQDIR:+$MQDIR/$name-*} 2>&1)"
[ -n "$msqid" ] || fail "no msqid was listed for sysv"
grep -q "^ *[0-9-]* *$msqid " /proc/sysvipc/msg && fail "sysv queue $msqid left"
has "$(url live)" listener true || fail "gc touched the live channel"
[ -p "/tmp/$name-live" ] || fail "gc removed the live channel's FIFO"

# 9. rm --force removes the live one.
"$cli" rm "$(url live)" 2>/dev/null && fail "rm removed a live channel"
"$cli" rm --force "$(url live)" || fail "rm --force"
[ -e "/tmp/$name-live" ] && fail "rm --force left the FIFO"
echo "ok"
exit 0
