#!/bin/sh
# The harness destroys its guests when a test fails, and when a test is
# interrupted (SIGTERM) while its guest runs.
. "$top_srcdir/tests/integration/lib.sh"
hv_require_live
abi=$(hv_abis | head -n 1)
tmp=$(mktemp -d)
HV_FILES="$HV_FILES $tmp/failing.sh $tmp/hanging.sh $tmp/out"

# A test that starts a guest and then fails.
cat > "$tmp/failing.sh" <<T
. "$top_srcdir/tests/integration/lib.sh"
hv_guest_start $abi --name hvt-$HV_RUN_ID-cleanup-fail-$$
echo started > "$tmp/out"
hv_fail "failing on purpose"
T
HV_TEST=cleanup-fail sh "$tmp/failing.sh" >/dev/null 2>&1
rc=$?
[ $rc -eq 1 ] || hv_fail "the failing test exited $rc, expected 1"
grep -q started "$tmp/out" || hv_fail "the failing test never started its guest"
virsh -c "$HV_URI" domstate "hvt-$HV_RUN_ID-cleanup-fail-$$" >/dev/null 2>&1 &&
	hv_fail "domain hvt-$HV_RUN_ID-cleanup-fail-$$ survived a failing test"

# A test that is killed while its guest runs.
rm -f "$tmp/out"
cat > "$tmp/hanging.sh" <<T
. "$top_srcdir/tests/integration/lib.sh"
hv_guest_start $abi --name hvt-$HV_RUN_ID-cleanup-kill-$$
echo started > "$tmp/out"
while :; do sleep 1; done
T
HV_TEST=cleanup-kill sh "$tmp/hanging.sh" >/dev/null 2>&1 &
pid=$!
i=0
until [ -f "$tmp/out" ]; do
	i=$((i + 1))
	[ $i -lt 300 ] || { kill $pid; hv_fail "the hanging test did not start its guest"; }
	sleep 0.1
done
virsh -c "$HV_URI" domstate "hvt-$HV_RUN_ID-cleanup-kill-$$" >/dev/null 2>&1 ||
	hv_fail "the hanging test's domain is not running before the kill"
kill -TERM $pid
wait $pid
virsh -c "$HV_URI" domstate "hvt-$HV_RUN_ID-cleanup-kill-$$" >/dev/null 2>&1 &&
	hv_fail "domain hvt-$HV_RUN_ID-cleanup-kill-$$ survived SIGTERM of its test"
rm -rf "$tmp"
hv_log "guests destroyed after failure and after SIGTERM"
