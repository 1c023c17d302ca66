#!/bin/sh
# bench-apply.sh [N]: pause length of hvpatch apply and revert on a live
# test guest (TCG under libvirt): N apply/revert cycles of the three-function
# example level, then the median and p99 of each, in microseconds.
# Run as root after 'make' and 'make test-guests', from the build tree:
#   top_srcdir=SRC top_builddir=BUILD sh SRC/tests/bench/bench-apply.sh 50
: "${top_srcdir:?set top_srcdir}"
HV_TEST=bench-apply
. "$top_srcdir/tests/integration/lib.sh"
n=${1:-50}
abi=$(hv_abis | tail -n 1)
HVP="$top_builddir/hvpatch/hvpatch"
hv_bundles "$abi"
A="--ledger $HV_LEDGER --trusted $HV_TRUSTED --deadline-ms 2000"
hv_guest_start "$abi"
hv_wait_console '^HVP-READY' 120 >/dev/null || hv_fail "guest did not boot"
: > "$HV_RUNDIR/apply.us"
: > "$HV_RUNDIR/revert.us"
HV_FILES="$HV_FILES $HV_RUNDIR/apply.us $HV_RUNDIR/revert.us"
i=0
while [ $i -lt "$n" ]; do
	"$HVP" apply --json $A "$HV_DOM" "$HV_BDIR/version-level.hvb" |
		sed -n 's/.*"pause_us": \([0-9]*\).*/\1/p' >> "$HV_RUNDIR/apply.us" || hv_fail "apply failed"
	"$HVP" revert --json $A "$HV_DOM" |
		sed -n 's/.*"pause_us": \([0-9]*\).*/\1/p' >> "$HV_RUNDIR/revert.us" || hv_fail "revert failed"
	i=$((i + 1))
done
for k in apply revert; do
	sort -n "$HV_RUNDIR/$k.us" | awk -v k=$k '{ a[NR] = $1 } END {
		p99 = int(NR * 0.99); if (p99 < 1) p99 = 1; if (p99 > NR) p99 = NR
		printf "%s: %d runs, median %d us, p99 %d us, max %d us\n", k, NR, a[int((NR + 1) / 2)], a[p99], a[NR] }'
done
