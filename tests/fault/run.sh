#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# run.sh - the fault-injection loops: fault_op under strace failing the N-th
# call of one system call (N = 1, 2, ... until the run no longer reaches it,
# once and "from N on"), and under IPK_TEST_FAIL_ALLOC failing the N-th
# library allocation. Pass: success or a documented error, never a crash or
# a hang, nothing left behind (checked by fault_op and again here).
#
# usage: run.sh [--ci | --full] [--malloc-only | --syscalls-only]
#               [--build DIR] [VARIANT...]
# Environment: FAULT_SYSCALLS, FAULT_ERRNOS, FAULT_VARIANTS override the
# sets; FAULT_MAXN bounds N (default 400).
set -u
here=$(cd "$(dirname "$0")" && pwd)
build=$here/../../build
mode=full
what=both
variants=()
while [ $# -gt 0 ]; do
	case $1 in
	--ci) mode=ci ;;
	--full) mode=full ;;
	--malloc-only) what=malloc ;;
	--syscalls-only) what=syscalls ;;
	--build) build=$2; shift ;;
	*) variants+=("$1") ;;
	esac
	shift
done
op=$build/tests/fault_op
[ -x "$op" ] || { echo "fault: $op not built"; exit 1; }

all_syscalls="openat ftruncate fallocate mmap mq_open msgget semget socket
	bind connect accept4 sendmsg recvmsg read write futex eventfd2 fcntl
	memfd_create pipe2 mknodat"
all_errnos="ENOMEM ENOSPC EMFILE EACCES EINTR EAGAIN EIO"
all_variants="pipe fifo unix mq sysv tcp udp nng+tcp nng+ipc shm/spin
	shm/futex shm/sem shm/adaptive inproc"
if [ "$mode" = ci ]; then
	syscalls=${FAULT_SYSCALLS:-$all_syscalls}
	errnos=${FAULT_ERRNOS:-"EINTR ENOMEM ENOSPC"}
	def_variants=${FAULT_VARIANTS:-"shm/futex unix"}
	malloc_variants=${FAULT_MALLOC_VARIANTS:-"shm/futex unix"}
else
	syscalls=${FAULT_SYSCALLS:-$all_syscalls}
	errnos=${FAULT_ERRNOS:-$all_errnos}
	def_variants=${FAULT_VARIANTS:-$all_variants}
	malloc_variants=${FAULT_MALLOC_VARIANTS:-$all_variants}
fi
[ ${#variants[@]} -gt 0 ] || read -r -a variants <<<"$(echo $def_variants)"
maxn=${FAULT_MAXN:-400}
# System calls that a signal can interrupt in real life: an injected EINTR
# must be retried inside the library, so the conversation still succeeds.
interruptible=" read write sendmsg recvmsg futex accept4 "
# System calls whose manual lists ENOSPC.
nospace=" openat ftruncate fallocate write mknodat msgget semget mq_open "
# ASan maps its own memory: failing mmap there tests ASan, not ipckit.
if nm "$op" 2>/dev/null | grep -q __asan_init; then
	asan=1
	export ASAN_OPTIONS=${ASAN_OPTIONS:-}:detect_leaks=0
else
	asan=0
fi
export IPK_FAULT_TIMEOUT_MS=${IPK_FAULT_TIMEOUT_MS:-1500}

runs=0 fails=0 errors=0
t0=$(date +%s)
log=$(mktemp /tmp/ipk-fault.XXXXXX)
trap 'rm -f "$log"' EXIT

# One run: fault_op VARIANT NAME SPEC; sets $inj (faults reached) and
# returns the run's verdict (0 ok, 2 documented error, 1 failure).
one() {
	local v=$1 spec=$2 env=$3 name rc out
	name=ipkf-$$-$runs
	runs=$((runs + 1))
	out=$(env $env timeout -k 5 120 "$op" "$v" "$name" "$spec" 2>&1)
	rc=$?
	inj=$(printf '%s\n' "$out" | sed -n 's/.* injected=\([0-9]*\).*/\1/p' |
		tail -1)
	inj=${inj:-0}
	local left
	left=$(ls -d /tmp/*"$name"* /dev/shm/*"$name"* \
		/dev/mqueue/*"$name"* 2>/dev/null | grep -v '\.strace$')
	if [ -n "$left" ]; then
		echo "fault: left behind after the run: $left"
		rm -rf $left
		rc=1
	fi
	case $rc in
	0) ;;
	2) errors=$((errors + 1)) ;;
	*) rc=1 ;;
	esac
	if [ "$rc" = 1 ]; then
		fails=$((fails + 1))
		echo "FAIL: $env $op $v $name '$spec'"
		printf '%s\n' "$out" | sed 's/^/    /'
	fi
	printf '%s\n' "$out" >>"$log"
	return $rc
}

syscall_loop() {
	local v=$1 sc=$2 e=$3 n rc sticky
	for ((n = 1; n <= maxn; n++)); do
		# EINTR for ever is not a fault: a call told to wait for ever
		# keeps retrying. CI fails "from N on" only from the first call.
		local stk=(once +)
		if [ "$e" = EINTR ] || { [ "$mode" = ci ] && [ "$n" -gt 1 ]; }; then
			stk=(once)
		fi
		for sticky in "${stk[@]}"; do
			[ "$sticky" = once ] && sticky=""
			one "$v" "$sc:error=$e:when=$n$sticky" ""
			rc=$?
			[ "$inj" -gt 0 ] || return 0
			if [ "$rc" = 2 ] && [ "$e" = EINTR ] &&
				[[ $interruptible == *" $sc "* ]]; then
				fails=$((fails + 1))
				echo "FAIL: $v $sc:error=EINTR:when=$n$sticky:" \
					"EINTR not retried"
				tail -3 "$log" | sed 's/^/    /'
			fi
		done
	done
	echo "fault: $v $sc $e: still reached at N=$maxn"
}

malloc_loop() {
	local v=$1 n sticky out
	for ((n = 1; n <= maxn; n++)); do
		for sticky in "" "+"; do
			one "$v" "" "IPK_TEST_FAIL_ALLOC=$n$sticky"
			tail -20 "$log" | grep -q 'allocation .* failed' ||
				return 0
		done
	done
	echo "fault: $v malloc: still reached at N=$maxn"
}

if [ "$what" != malloc ]; then
	command -v strace >/dev/null || { echo "SKIP: strace not installed"; exit 77; }
	for v in "${variants[@]}"; do
		r0=$runs
		for sc in $syscalls; do
			case $sc in
			mmap) [ $asan = 1 ] && continue ;;
			esac
			for e in $errnos; do
				# CI: only the errors the call can really return.
				if [ "$mode" = ci ]; then
					case $e in
					EINTR) [[ $interruptible == *" $sc "* ]] ||
						continue ;;
					ENOSPC) [[ $nospace == *" $sc "* ]] ||
						continue ;;
					esac
				fi
				syscall_loop "$v" "$sc" "$e"
			done
		done
		echo "fault: $v syscalls: $((runs - r0)) runs ($(($(date +%s) - t0)) s)"
	done
fi
if [ "$what" != syscalls ]; then
	for v in $malloc_variants; do
		r0=$runs
		malloc_loop "$v"
		echo "fault: $v malloc: $((runs - r0)) runs ($(($(date +%s) - t0)) s)"
	done
fi
echo "fault: $runs runs, $errors documented errors, $fails failures," \
	"$(($(date +%s) - t0)) s"
[ "$fails" = 0 ]
