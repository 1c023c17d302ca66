#!/bin/sh
# hvpatch inspect / sym / addr without a guest: --help documents them, bad
# command lines exit 2 naming the problem, an unknown domain exits 1 with one
# error sentence (libvirt's in-process test driver, no daemon needed).
set -u
hv="$top_builddir/hvpatch/hvpatch"
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

for c in inspect sym addr; do
	check "$c --help" 0 "$hv" "$c" --help
	expect_in "$c --help usage" "Usage: hvpatch $c" "$out"
	expect_in "$c --help --json" "--json" "$out"
	expect_in "$c --help connect" "--connect URI" "$out"
	expect_in "$c --help exit status" "Exit status" "$out"
	check "$c without arguments" 2 "$hv" "$c"
	expect_in "$c without arguments" "expected" "$out"
	check "$c unknown option" 2 "$hv" "$c" --frobnicate dom
	expect_in "$c unknown option" "unknown option '--frobnicate'" "$out"
	check "$c bad --cpu" 2 "$hv" "$c" --cpu 999 dom x
	expect_in "$c bad --cpu" "--cpu" "$out"
done
check "hvpatch --help lists inspect" 0 "$hv" --help
expect_in "hvpatch --help lists inspect" "inspect" "$out"
expect_in "hvpatch --help lists sym" "sym " "$out"
check "inspect two domains" 2 "$hv" inspect a b
check "sym without names" 2 "$hv" sym dom
expect_in "sym without names" "at least one NAME" "$out"
check "addr bad address" 2 "$hv" addr dom 0xzz
expect_in "addr bad address" "'0xzz' is not a number" "$out"
check "addr negative address" 2 "$hv" addr dom -5
check "inspect unknown domain" 1 "$hv" inspect -c test:///default hvt-no-such-domain
expect_in "inspect unknown domain" "hvpatch inspect: error: " "$out"
expect_in "inspect unknown domain names it" "hvt-no-such-domain" "$out"
check "sym unknown domain --json" 1 "$hv" sym --json -c test:///default hvt-no-such-domain x
expect_in "sym unknown domain" "error: " "$out"
# Options after the operands, as GNU tools take them.
for c in inspect vcpus describe status; do
	check "$c with options after the domain" 1 "$hv" $c hvt-no-such-domain --json -c test:///default
	expect_in "$c with options after the domain reaches libvirt" "no domain named 'hvt-no-such-domain'" "$out"
done
check "sym with options between operands" 1 "$hv" sym hvt-no-such-domain --json x -c test:///default
expect_in "sym with options between operands" "no domain named" "$out"
check "missing option value" 2 "$hv" inspect dom --deadline-ms
expect_in "missing option value is named" "option '--deadline-ms' needs a value" "$out"
exit $fail
