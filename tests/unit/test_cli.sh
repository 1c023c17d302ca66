#!/bin/sh
# The command-line entry points answer --help/--version and refuse bad input
# with the documented exit codes.
set -u
hv="$top_builddir/hvpatch/hvpatch"
agent="$top_builddir/guest-agent/hvpatch-agent"
fail=0
# check DESC EXPECTED-STATUS COMMAND...: run COMMAND, set $out to what it
# printed, and fail the test when its exit status is not EXPECTED-STATUS.
# Call it directly, never inside $(...): a subshell's fail=1 is lost.
check() {
	desc=$1 want=$2
	shift 2
	out=$("$@" 2>&1)
	got=$?
	if [ "$got" -ne "$want" ]; then
		echo "FAIL: $desc: exit $got, expected $want; output: $out"
		fail=1
	fi
}
expect_in() { # desc needle haystack
	case "$3" in *"$2"*) ;; *) echo "FAIL: $1: '$2' not in output: $3"; fail=1 ;; esac
}

check "hvpatch --version" 0 "$hv" --version
expect_in "hvpatch --version" "hvpatch 0." "$out"
expect_in "hvpatch --version names libvirt" "libvirt " "$out"
check "hvpatch --help" 0 "$hv" --help
expect_in "hvpatch --help lists commands" "Commands:" "$out"
expect_in "hvpatch --help documents exit status" "Exit status" "$out"
check "hvpatch with no command" 2 "$hv"
check "hvpatch unknown command" 2 "$hv" frobnicate
expect_in "unknown command is named" "unknown command 'frobnicate'" "$out"
check "hvpatch version with extra argument" 2 "$hv" version extra
expect_in "extra argument is named" "unexpected argument 'extra'" "$out"

# Output that cannot be written is a failure, not an exit 0 with nothing
# printed; a reader gone from the pipe does not kill hvpatch with SIGPIPE.
check "hvpatch version into a full disk" 1 sh -c '"$1" version > /dev/full' sh "$hv"
expect_in "a failed write is named" "cannot write the output" "$out"
rcfile=${TMPDIR:-/tmp}/hvpatch-cli-rc.$$
{
	sleep 0.3
	"$hv" version 2> /dev/null
	echo $? > "$rcfile"
} | true
rc=$(cat "$rcfile")
rm -f "$rcfile"
[ "$rc" = 1 ] || { echo "FAIL: hvpatch writing into a closed pipe: exit $rc, expected 1 (141 is death by SIGPIPE)"; fail=1; }

check "agent --version" 0 "$agent" --version
expect_in "agent --version" "hvpatch-agent 0." "$out"
check "agent --help" 0 "$agent" --help
expect_in "agent --help" "daemon" "$out"
check "agent hello" 0 "$agent" hello
expect_in "agent hello carries the kernel release" "\"kernel_release\":\"$(uname -r)\"" "$out"
check "agent unknown command" 2 "$agent" frobnicate
if file "$agent" 2>/dev/null | grep -q 'dynamically linked'; then
	echo "FAIL: hvpatch-agent is dynamically linked"
	fail=1
fi
exit $fail
