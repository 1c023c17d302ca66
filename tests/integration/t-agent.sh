#!/bin/sh
# hvpatch-agent in a live guest, without the apply engine: the host client
# meets the real agent over the domain's channel socket.
#  - hello: the agent names the guest's own kernel release (HVP-RELEASE);
#  - a status update carrying a made-up level is acknowledged, and the
#    guest's own verification (its /proc/kallsyms and /proc/kcore) reports
#    the ftrace NOP at cmdline_proc_show as present and a wrong expectation
#    for version_proc_show as a mismatch, with the bytes it found;
#  - the tenant's view on the console (HVP-AGENT-STATUS) shows the new level,
#    and after a revert the empty level with the previous one;
#  - drift: after the host rewrites the site by hand, the agent's check
#    (asked by the host) reports the mismatch and the bytes; restored, present;
#  - garbage and an oversized line from the host do not kill the agent.
. "$top_srcdir/tests/integration/lib.sh"
hv=$top_builddir/hvpatch/hvpatch
[ -x "$hv" ] || hv_fail "hvpatch is not built in $top_builddir"
[ -x "$top_builddir/guest-agent/hvpatch-agent" ] || hv_fail "hvpatch-agent is not built in $top_builddir"
command -v socat >/dev/null 2>&1 || hv_fail "socat is missing (tests/setup-host.sh installs it)"

# json_get JSON KEY: the first string or literal value of KEY in compact JSON.
json_get() {
	printf '%s' "$1" | sed -n "s/.*\"$2\":\(\"[^\"]*\"\|[^,}]*\).*/\1/p" | head -n 1
}

# The ftrace NOP every traceable function entry holds before any patch.
nop=0f1f440000

for abi in $(hv_abis); do
	hv_guest_start "$abi"
	line=$(hv_wait_console '^HVP-RELEASE ' 120) || hv_fail "$abi: guest did not boot"
	release=${line#HVP-RELEASE }
	[ "$release" = "$HV_RELEASE" ] || hv_fail "$abi: guest runs $release, expected $HV_RELEASE"
	line=$(hv_wait_console '^HVP-KSYM [0-9a-f]{16} [tT] cmdline_proc_show$' 60) ||
		hv_fail "$abi: no kallsyms marker for cmdline_proc_show"
	site1=0x$(echo "$line" | cut -d' ' -f2)
	line=$(hv_wait_console '^HVP-KSYM [0-9a-f]{16} [tT] version_proc_show$' 60) ||
		hv_fail "$abi: no kallsyms marker for version_proc_show"
	site2=0x$(echo "$line" | cut -d' ' -f2)
	hv_wait_console '^HVP-AGENT-STARTED ' 60 >/dev/null || hv_fail "$abi: agent not started in the guest"
	hv_wait_console '^HVP-READY' 60 >/dev/null || hv_fail "$abi: workload did not start"

	# hello (through a ping): the guest's own release.
	# (found through the domain's definition, as an operator would)
	out=$("$hv" agent-ping --domain "$HV_DOM" --timeout 30000 --json) ||
		hv_fail "$abi: agent-ping failed: $out"
	hv_log "$abi: hello $out"
	[ "$(json_get "$out" kernel_release)" = "\"$HV_RELEASE\"" ] ||
		hv_fail "$abi: agent says kernel_release $(json_get "$out" kernel_release), expected $HV_RELEASE"
	[ "$(json_get "$out" misbehaviour)" = '""' ] || hv_fail "$abi: well-behaved agent reported as misbehaving: $out"

	# A status update: present for the real NOP, mismatch for a wrong expectation.
	level="hvt-level-$$-$abi"
	out=$("$hv" agent-notify --socket "$HV_AGENT_SOCK" --timeout 60000 --json \
		--level "$level" --previous "" --op apply \
		--func "cmdline_proc_show:$site1:$nop" \
		--func "version_proc_show:$site2:e900000000") ||
		hv_fail "$abi: agent-notify failed: $out"
	hv_log "$abi: report $out"
	[ "$(json_get "$out" acked)" = true ] || hv_fail "$abi: status not acknowledged: $out"
	[ "$(json_get "$out" verified)" = true ] || hv_fail "$abi: no verification from the guest: $out"
	[ "$(json_get "$out" present)" = 1 ] && [ "$(json_get "$out" mismatch)" = 1 ] ||
		hv_fail "$abi: expected 1 present and 1 mismatch: $out"
	echo "$out" | grep -q "\"name\":\"cmdline_proc_show\",\"site\":\"$site1\",\"result\":\"present\",\"symbol\":\"agrees\"" ||
		hv_fail "$abi: cmdline_proc_show not reported present with its kallsyms address: $out"
	echo "$out" | grep -q "\"name\":\"version_proc_show\",[^}]*\"result\":\"mismatch\"[^}]*\"found\":\"$nop\"" ||
		hv_fail "$abi: version_proc_show not reported as a mismatch holding the NOP: $out"
	[ "$(json_get "$out" misbehaved)" = false ] || hv_fail "$abi: well-behaved agent reported as misbehaving: $out"

	# The tenant's view on the console.
	from=$(hv_console_lines)
	line=$(hv_wait_console "^HVP-AGENT-STATUS .*\"level\":\"$level\"" 60 "$from") ||
		hv_fail "$abi: the console never showed level $level in HVP-AGENT-STATUS"
	echo "$line" | grep -q '"known":true' || hv_fail "$abi: tenant view does not know the level: $line"
	echo "$line" | grep -q '"name":"cmdline_proc_show"' || hv_fail "$abi: tenant view lacks the function: $line"
	echo "$line" | grep -q '"verify":{[^}]*"present":1,"mismatch":1' ||
		hv_fail "$abi: tenant view lacks the guest's own check: $line"

	# Drift: the host rewrites the site behind the agent's back (another
	# 5-byte NOP, harmless) and asks the agent to check; then restores it.
	line=$("$hv" addr "$HV_DOM" "$site1") || hv_fail "$abi: hvpatch addr $site1 failed: $line"
	gpa=$(echo "$line" | awk '{print $3}')
	case "$gpa" in 0x*) ;; *) hv_fail "$abi: no guest-physical address for $site1: $line" ;; esac
	out=$("$hv" poke "$HV_DOM" --phys "$gpa" 660f1f4000 --yes 2>&1) || hv_fail "$abi: poke failed: $out"
	funcs="--func cmdline_proc_show:$site1:$nop --func version_proc_show:$site2:e900000000"
	# shellcheck disable=SC2086
	out=$("$hv" agent-verify --socket "$HV_AGENT_SOCK" --timeout 60000 --json $funcs) ||
		hv_fail "$abi: agent-verify failed: $out"
	hv_log "$abi: drift $out"
	echo "$out" | grep -q '"name":"cmdline_proc_show",[^}]*"result":"mismatch"[^}]*"found":"660f1f4000"' ||
		hv_fail "$abi: the guest did not see the rewritten site: $out"
	out=$("$hv" poke "$HV_DOM" --phys "$gpa" "$nop" --yes 2>&1) || hv_fail "$abi: poke back failed: $out"
	# shellcheck disable=SC2086
	out=$("$hv" agent-verify --socket "$HV_AGENT_SOCK" --timeout 60000 --json $funcs) ||
		hv_fail "$abi: agent-verify failed: $out"
	echo "$out" | grep -q '"name":"cmdline_proc_show",[^}]*"result":"present"' ||
		hv_fail "$abi: the restored site is not present again: $out"

	# Garbage and an oversized line from the host: the agent answers errors and lives on.
	{
		printf 'not json at all\n{"v":7,"type":"ping","id":5}\n'
		head -c 70000 /dev/zero | tr '\0' 'x'
		printf '\n{"v":1,"type":"ping","id":6}\n'
		sleep 5
	} | timeout 20 socat - "UNIX-CONNECT:$HV_AGENT_SOCK" > "$HV_RUNDIR/$HV_DOM.garbage" 2>&1
	grep -q '"type":"error","id":null,"reason":"the host message is not valid JSON' "$HV_RUNDIR/$HV_DOM.garbage" ||
		hv_fail "$abi: no error answer to garbage: $(head -c 2000 "$HV_RUNDIR/$HV_DOM.garbage")"
	grep -q '"type":"error","id":5,' "$HV_RUNDIR/$HV_DOM.garbage" ||
		hv_fail "$abi: no error answer to a wrong version: $(head -c 2000 "$HV_RUNDIR/$HV_DOM.garbage")"
	grep -q 'exceeded the size limit' "$HV_RUNDIR/$HV_DOM.garbage" ||
		hv_fail "$abi: no error answer to an oversized line: $(head -c 2000 "$HV_RUNDIR/$HV_DOM.garbage")"
	grep -q '"type":"pong","id":6,' "$HV_RUNDIR/$HV_DOM.garbage" ||
		hv_fail "$abi: no pong after the garbage: $(head -c 2000 "$HV_RUNDIR/$HV_DOM.garbage")"
	rm -f "$HV_RUNDIR/$HV_DOM.garbage"

	# Revert: the empty level, with the previous one, reaches the tenant.
	out=$("$hv" agent-notify --socket "$HV_AGENT_SOCK" --timeout 60000 --json \
		--level "" --previous "$level" --op revert) || hv_fail "$abi: revert notify failed: $out"
	[ "$(json_get "$out" acked)" = true ] || hv_fail "$abi: revert not acknowledged: $out"
	from=$(hv_console_lines)
	hv_wait_console "^HVP-AGENT-STATUS .*\"level\":\"\",\"previous_level\":\"$level\",\"op\":\"revert\"" 60 "$from" >/dev/null ||
		hv_fail "$abi: the console never showed the revert"
	grep -q '^HVP-AGENT-LOG .*rejected a host message' "$HV_CONSOLE" ||
		hv_log "$abi: (the agent's log did not reach the console yet)"

	[ "$(hv_domstate)" = running ] || hv_fail "$abi: domain is $(hv_domstate)"
	virsh -c "$HV_URI" destroy "$HV_DOM" >/dev/null
	hv_log "$abi: agent hello, ack, verify, tenant view and revert all seen"
done
