# SPDX-License-Identifier: MIT
# mqueue.sh - sourced by the CLI tests that look at POSIX queues as files.
#
# POSIX queues work without an mqueue file system; only listing them as
# files needs one, and a plain machine or a container may have none
# mounted. After sourcing, MQDIR is where this shell sees the queues:
# - the mqueue file system already mounted (/proc/self/mountinfo), or
# - as root, where none is: the test re-executes itself in a private mount
#   namespace (unshare -m, util-linux) with one mounted on a temporary
#   directory, removed when the test ends; or
# - empty, when neither is possible: use mq_exists, which asks ipckit.
mqfs_find() {
	sed -n 's/^[^ ]* [^ ]* [^ ]* [^ ]* \([^ ]*\) .* - mqueue .*/\1/p' \
		/proc/self/mountinfo | head -n 1
}
MQDIR=$(mqfs_find)
if [ -z "$MQDIR" ] && [ -z "${IPK_MQFS_DIR:-}" ] && [ "$(id -u)" = 0 ] &&
	command -v unshare >/dev/null; then
	IPK_MQFS_DIR=$(mktemp -d /tmp/ipk-mqfs.XXXXXX) || exit 1
	export IPK_MQFS_DIR
	unshare -m --propagation private sh -c \
		'mount -t mqueue none "$IPK_MQFS_DIR" && exec "$@"' \
		sh bash "$0" "$@"
	rc=$?
	rmdir "$IPK_MQFS_DIR"
	exit "$rc"
fi

# mq_exists NAME: does the POSIX queue /NAME exist?
mq_exists() {
	if [ -n "$MQDIR" ]; then
		[ -e "$MQDIR/$1" ]
	else
		"$cli" stat --json "mq:///${1%.ipk-*}" 2>/dev/null |
			grep -q '"exists":true'
	fi
}
