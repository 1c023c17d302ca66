#!/bin/sh
# hvpatch killed with SIGKILL at each step of an apply (HVPATCH_CRASH_AT, see
# hvpatch/apply/engine.c), then run again: the guest is running, fully at
# the old level or fully at the new one (what it prints agrees), and the
# ledger agrees with guest memory.
. "$top_srcdir/tests/integration/lib.sh"
HVP="$top_builddir/hvpatch/hvpatch"

for abi in $(hv_abis); do
	hv_bundles "$abi"
	A="--ledger $HV_LEDGER --trusted $HV_TRUSTED --deadline-ms 2000"
	hv_guest_start "$abi"
	hv_wait_console '^HVP-READY' 120 >/dev/null || hv_fail "$abi: guest did not boot"
	base=$(hv_obs cmdline)
	for step in intent logged paused first-write written resumed; do
		rc=0
		HVPATCH_CRASH_AT=$step "$HVP" apply $A "$HV_DOM" "$HV_BDIR/cmdline-level.hvb" \
			>/dev/null 2>&1 || rc=$?
		[ $rc -eq 137 ] || hv_fail "$abi: apply did not die at step $step (exit $rc)"
		n=0
		while [ "$(hv_domstate)" != running ] && [ $n -lt 50 ]; do sleep 0.1; n=$((n + 1)); done
		[ "$(hv_domstate)" = running ] || hv_fail "$abi: guest left $(hv_domstate) after a crash at $step"
		st=$("$HVP" status --json $A "$HV_DOM") || hv_fail "$abi: status after a crash at $step failed"
		level=$(echo "$st" | sed -n 's/^  "level": "\(.*\)",$/\1/p')
		ledger=$(echo "$st" | sed -n 's/^  "ledger_level": "\(.*\)",$/\1/p')
		echo "$st" | grep -q '"drifted": 0' || hv_fail "$abi: drift after a crash at $step: $st"
		echo "$st" | grep -q '"reconciled": "operation' ||
			hv_fail "$abi: nothing was reconciled after a crash at $step: $st"
		[ "$level" = "$ledger" ] || hv_fail "$abi: crash at $step: guest at '$level', ledger says '$ledger'"
		out=$(hv_obs cmdline)
		case "$step" in
		written | resumed)
			[ "$level" = 2026.11-1 ] || hv_fail "$abi: crash at $step: expected the new level, got '$level'"
			[ "$out" = "$base hvpatch_level=2026.11-1" ] || hv_fail "$abi: crash at $step: guest prints '$out'"
			"$HVP" revert $A "$HV_DOM" >/dev/null || hv_fail "$abi: revert after a crash at $step failed"
			;;
		*)
			[ -z "$level" ] || hv_fail "$abi: crash at $step: expected no level, got '$level'"
			[ "$out" = "$base" ] || hv_fail "$abi: crash at $step: guest prints '$out'"
			;;
		esac
		hv_log "$abi: crash at $step: guest running, at '${level:-none}', ledger agrees"
	done
	grep -qE 'Oops|BUG: |Kernel panic' "$HV_CONSOLE" && hv_fail "$abi: the guest kernel complained"
	virsh -c "$HV_URI" destroy "$HV_DOM" >/dev/null
done
