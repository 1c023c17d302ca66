#!/bin/sh
# A guest whose workload calls the patched functions continuously on every
# vCPU (hvp_stress=1) while a three-function level is applied and reverted
# 50 times keeps running, with no oops on its console.
. "$top_srcdir/tests/integration/lib.sh"
HVP="$top_builddir/hvpatch/hvpatch"
cycles=${HV_STRESS_CYCLES:-50}

for abi in $(hv_abis); do
	hv_bundles "$abi"
	A="--ledger $HV_LEDGER --trusted $HV_TRUSTED --deadline-ms 2000"
	hv_guest_start "$abi" --cmdline hvp_stress=1
	hv_wait_console '^HVP-STRESS cpus=2' 120 >/dev/null || hv_fail "$abi: stress load did not start"
	hv_wait_console '^HVP-READY' 120 >/dev/null || hv_fail "$abi: guest did not boot"
	i=0 maxp=0
	while [ $i -lt "$cycles" ]; do
		out=$("$HVP" apply --json $A "$HV_DOM" "$HV_BDIR/version-level.hvb" 2>&1) ||
			hv_fail "$abi: cycle $i: apply failed: $out"
		p=$(echo "$out" | sed -n 's/.*"pause_us": \([0-9]*\).*/\1/p')
		[ "$p" -gt "$maxp" ] && maxp=$p
		out=$("$HVP" revert $A "$HV_DOM" 2>&1) || hv_fail "$abi: cycle $i: revert failed: $out"
		if grep -qE 'Oops|BUG: |Kernel panic|general protection' "$HV_CONSOLE"; then
			grep -E -A 20 'Oops|BUG: |Kernel panic|general protection' "$HV_CONSOLE" | head -n 30 >&2
			hv_fail "$abi: the guest kernel failed in cycle $i"
		fi
		i=$((i + 1))
	done
	from=$(hv_console_lines)
	hv_wait_console '^HVP-TICK ' 20 "$from" >/dev/null || hv_fail "$abi: the guest stopped after the cycles"
	[ "$(hv_domstate)" = running ] || hv_fail "$abi: guest is $(hv_domstate)"
	[ "$(grep -c '^HVP-RELEASE ' "$HV_CONSOLE")" -eq 1 ] || hv_fail "$abi: the guest rebooted"
	hv_log "$abi: $cycles apply/revert cycles under load, longest pause $maxp us, no oops"
	virsh -c "$HV_URI" destroy "$HV_DOM" >/dev/null
done
