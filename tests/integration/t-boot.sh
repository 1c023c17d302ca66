#!/bin/sh
# Every pinned kernel build boots under libvirt (TCG) and prints its release,
# its own kallsyms lines and the workload's periodic markers.
. "$top_srcdir/tests/integration/lib.sh"

for abi in $(hv_abis); do
	hv_guest_start "$abi"
	line=$(hv_wait_console '^HVP-RELEASE ' 120) || hv_fail "$abi: no release marker"
	[ "$line" = "HVP-RELEASE $HV_RELEASE" ] ||
		hv_fail "$abi: guest says '$line', expected 'HVP-RELEASE $HV_RELEASE'"
	hv_wait_console '^HVP-KSYM [0-9a-f]{16} [tT] cmdline_proc_show$' 60 >/dev/null ||
		hv_fail "$abi: no kallsyms marker for cmdline_proc_show"
	hv_wait_console '^HVP-READY' 60 >/dev/null || hv_fail "$abi: workload did not start"
	hv_wait_console '^HVP-AGENT-PORT ' 5 >/dev/null || hv_fail "$abi: agent port missing in guest"
	hv_wait_console '^HVP-OBS n=2 probe=cmdline out=.*hvp_guest=1' 60 >/dev/null ||
		hv_fail "$abi: workload does not show /proc/cmdline"
	[ "$(hv_domstate)" = running ] || hv_fail "$abi: domain is $(hv_domstate)"
	virsh -c "$HV_URI" destroy "$HV_DOM" >/dev/null
	hv_log "$abi: booted, $(grep -c '^HVP-KSYM ' "$HV_CONSOLE") kallsyms markers"
done
