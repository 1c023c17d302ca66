#!/bin/sh
# hvpatch btf without a guest: --help documents the queries, bad command
# lines exit 2 naming the problem, an unknown domain exits 1 with one error
# sentence (libvirt's in-process test driver, no daemon needed).
set -u
hv="$top_builddir/hvpatch/hvpatch"
fail=0
# check DESC EXPECTED-STATUS COMMAND...: run COMMAND, set $out to what it
# printed, and fail the test when its exit status is not EXPECTED-STATUS.
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

check "btf --help" 0 "$hv" btf --help
expect_in "btf --help usage" "Usage: hvpatch btf" "$out"
expect_in "btf --help member query" "TYPE.MEMBER" "$out"
expect_in "btf --help enum query" "enum:" "$out"
expect_in "btf --help --json" "--json" "$out"
expect_in "btf --help exit status" "Exit status" "$out"
check "hvpatch --help lists btf" 0 "$hv" --help
expect_in "hvpatch --help lists btf" "btf " "$out"
check "btf without arguments" 2 "$hv" btf
expect_in "btf without arguments" "expected" "$out"
check "btf without a query" 2 "$hv" btf dom
expect_in "btf without a query" "at least one QUERY" "$out"
check "btf unknown option" 2 "$hv" btf --frobnicate dom task_struct
expect_in "btf unknown option" "unknown option '--frobnicate'" "$out"
check "btf unknown domain" 1 "$hv" btf -c test:///default hvt-no-such-domain task_struct.tasks
expect_in "btf unknown domain" "hvpatch btf: error: " "$out"
expect_in "btf unknown domain names it" "hvt-no-such-domain" "$out"
check "btf options after the operands" 1 "$hv" btf hvt-no-such-domain task_struct --json -c test:///default
expect_in "btf options after the operands reach libvirt" "no domain named 'hvt-no-such-domain'" "$out"
[ $fail -eq 0 ] && echo "ok: hvpatch btf command line"
exit $fail
