#!/bin/sh
# bench-stack-check.sh [N] [TASKS]: what the stack check costs inside the
# pause, on a live test guest (TCG under libvirt) running TASKS extra
# sleeping tasks (default 1000): N apply/revert cycles of the three-function
# example level; prints the median and p99 of the check (microseconds, as
# each operation's --json reports it) and of the whole pause, and how many
# tasks were checked.
# Run as root after 'make' and 'make test-guests', from the build tree:
#   top_srcdir=SRC top_builddir=BUILD sh SRC/tests/bench/bench-stack-check.sh 20 1000
: "${top_srcdir:?set top_srcdir}"
HV_TEST=bench-stack-check
. "$top_srcdir/tests/integration/lib.sh"
n=${1:-20}
tasks=${2:-1000}
abi=$(hv_abis | tail -n 1)
HVP="$top_builddir/hvpatch/hvpatch"
hv_bundles "$abi"
A="--ledger $HV_LEDGER --trusted $HV_TRUSTED --deadline-ms 5000"
hv_guest_start "$abi" --mem 1024 --cmdline "hvp_tasks=$tasks"
hv_wait_console '^HVP-READY' 300 >/dev/null || hv_fail "guest did not boot"
out="$HV_RUNDIR/$HV_DOM.bench"
HV_FILES="$HV_FILES $out.check $out.pause $out.tasks"
: > "$out.check"
: > "$out.pause"
i=0
while [ $i -lt "$n" ]; do
	for op in apply revert; do
		if [ $op = apply ]; then
			j=$("$HVP" apply --json $A "$HV_DOM" "$HV_BDIR/version-level.hvb") || hv_fail "apply failed"
		else
			j=$("$HVP" revert --json $A "$HV_DOM") || hv_fail "revert failed"
		fi
		j=$(echo "$j" | tr -d ' \n')
		echo "$j" | sed -n 's/.*"stack_check":{"tasks":\([0-9]*\),"us":\([0-9]*\).*/\2/p' >> "$out.check"
		echo "$j" | sed -n 's/.*"stack_check":{"tasks":\([0-9]*\),.*/\1/p' > "$out.tasks"
		echo "$j" | sed -n 's/.*"pause_us":\([0-9]*\).*/\1/p' >> "$out.pause"
	done
	i=$((i + 1))
done
echo "guest: $abi, $(cat "$out.tasks") tasks checked per operation"
for k in check pause; do
	sort -n "$out.$k" | awk -v k=$k '{ a[NR] = $1 } END {
		p99 = int(NR * 0.99); if (p99 < 1) p99 = 1; if (p99 > NR) p99 = NR
		printf "%s: %d operations, median %d us, p99 %d us, max %d us\n", k, NR, a[int((NR + 1) / 2)], a[p99], a[NR] }'
done
