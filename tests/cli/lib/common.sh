# SPDX-License-Identifier: MIT
# common.sh - sourced by the CLI tests: the helpers every one of them had.

# until_ok SECONDS CMD...: retry CMD every 20 ms until it succeeds; 1 when
# SECONDS pass first. A bounded wait for a condition, never a sleep that
# stands for one.
until_ok() {
	local end=$((SECONDS + $1))
	shift
	until "$@" >/dev/null 2>&1; do
		[ "$SECONDS" -lt "$end" ] || return 1
		sleep 0.02
	done
}

# fail MESSAGE: say it with the stderr of every background run kept as
# $out/*.err, and end the test (its EXIT trap cleans up).
fail() {
	echo "FAIL: $*" >&2
	for f in "${out:-/nonexistent}"/*.err; do
		[ -s "$f" ] && sed "s|^|  $(basename "$f"): |" "$f" >&2
	done
	exit 1
}
