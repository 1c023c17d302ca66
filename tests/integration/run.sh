#!/bin/sh
# run.sh [TEST...]: run live-guest tests (tests/integration/t-*.sh, or the
# named ones), print one PASS/FAIL/SKIP line each and "N passed, N failed"
# last.  Builds the test guests first.  Afterwards no test domain may be left:
# a leaked one is destroyed and counted as a failure.
set -u
: "${top_srcdir:?}"
: "${top_builddir:=$top_srcdir}"
HV_RUN_ID=r$$
export top_srcdir top_builddir HV_RUN_ID
uri=${HV_URI:-qemu:///system}
logdir=${HV_TEST_LOGDIR:-$top_builddir/tests/integration/results}
mkdir -p "$logdir"
rm -f "$logdir"/*.running

if [ "$(id -u)" -eq 0 ] && command -v virsh >/dev/null 2>&1; then
	sh "$top_srcdir/tests/guest/build-guests.sh" || { echo "test guests could not be built"; echo "0 passed, 1 failed"; exit 1; }
fi

tests="$*"
[ -n "$tests" ] || tests=$(ls "$top_srcdir"/tests/integration/t-*.sh)
pass=0 fail=0 skip=0
# HV_JOBS tests at a time (default 1).  Each test writes its own log and
# exit code; results are printed in the order the tests were listed.
jobs=${HV_JOBS:-1}
run_one() { # test-path name
	start=$(date +%s)
	HV_TEST=$2 sh "$1" > "$logdir/$2.log" 2>&1
	rc=$?
	echo "$rc $(($(date +%s) - start))" > "$logdir/$2.rc"
	echo "  ($2 finished: exit $rc after $(($(date +%s) - start)) s)"
}
running=0
for t in $tests; do
	[ -f "$t" ] || t="$top_srcdir/tests/integration/$t"
	name=$(basename "$t" .sh)
	rm -f "$logdir/$name.rc"
	if [ "$jobs" -le 1 ]; then
		run_one "$t" "$name"
		continue
	fi
	while [ "$(ls "$logdir"/*.running 2>/dev/null | wc -l)" -ge "$jobs" ]; do sleep 1; done
	: > "$logdir/$name.running"
	(run_one "$t" "$name"; rm -f "$logdir/$name.running") &
	running=1
done
[ $running -eq 0 ] || wait
for t in $tests; do
	name=$(basename "$t" .sh)
	set -- $(cat "$logdir/$name.rc" 2>/dev/null || echo "1 0")
	rc=$1 secs=$2
	case $rc in
	0) pass=$((pass + 1)); echo "PASS: $name (${secs}s)" ;;
	77) skip=$((skip + 1)); echo "SKIP: $name: $(grep -m1 '^SKIP' "$logdir/$name.log")" ;;
	*) fail=$((fail + 1)); echo "FAIL: $name (exit $rc, ${secs}s); log:"; sed 's/^/    /' "$logdir/$name.log" | tail -n 40 ;;
	esac
done

if command -v virsh >/dev/null 2>&1 && [ "$(id -u)" -eq 0 ]; then
	left=$(virsh -c "$uri" list --all --name 2>/dev/null | grep "^hvt-$HV_RUN_ID-" || true)
	if [ -n "$left" ]; then
		echo "FAIL: test domains left behind: $left"
		for d in $left; do virsh -c "$uri" destroy "$d" >/dev/null 2>&1; virsh -c "$uri" undefine "$d" >/dev/null 2>&1; done
		fail=$((fail + 1))
	fi
fi
if [ -n "${CI:-}" ] && [ "$skip" -gt 0 ]; then
	echo "FAIL: $skip integration tests skipped under CI"
	fail=$((fail + skip))
fi
echo "$pass passed, $fail failed, $skip skipped"
[ "$fail" -eq 0 ]
