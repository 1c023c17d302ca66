#!/bin/sh
# The guest agent with the apply engine, on live guests (one pinned kernel):
#  - after 'hvpatch apply' of the cmdline-level example, apply reports the
#    agent's acknowledgement and verification, and the guest's own tenant
#    view (HVP-AGENT-STATUS on the console) shows the new level with its
#    self-check finding the site present;
#  - 'hvpatch agent-verify' (asked through the domain) says present too;
#  - the host writing the site back by hand (drift) is reported by the
#    agent's verify and by 'hvpatch status';
#  - after 'hvpatch revert' the tenant view shows no level and the previous one;
#  - a guest whose "agent" floods the channel with broken JSON, and one whose
#    agent never answers, are patched all the same: apply succeeds within its
#    agent timeout and says what the agent did.
. "$top_srcdir/tests/integration/lib.sh"
hv=$top_builddir/hvpatch/hvpatch
[ -x "$hv" ] || hv_fail "hvpatch is not built in $top_builddir"
abi=$(hv_abis | tail -n 1)
rel="$abi-cloud-amd64"
kdir=${HV_KBUILD_ROOT:-/usr/src}/linux-headers-$rel
hv_require_live
[ -f "$kdir/Makefile" ] || hv_fail "no kbuild tree $kdir: run tests/setup-host.sh (installs linux-headers-$rel)"
[ -f "$HV_CACHE/kernels/$abi/vmlinux" ] || hv_fail "no cached vmlinux for $abi: run 'make test-guests'"

work="$HV_RUNDIR/t-agent-apply-$$"
mkdir -p "$work/trusted"
"$hv" keygen --out "$work/key" >/dev/null || hv_fail "keygen failed"
cp "$work/key.pub.pem" "$work/trusted/"
ex="$top_srcdir/docs/examples/cmdline-level"
out=$("$hv" build -m "$ex/manifest" --kbuild "$kdir" --vmlinux "$HV_CACHE/kernels/$abi/vmlinux" \
	--key "$work/key.key" -o "$work/cmdline-level.hvb" "$ex"/*.c 2>&1) ||
	hv_fail "building the cmdline-level example failed: $out"
level=$(sed -n 's/^level = //p' "$ex/manifest")
ex3="$top_srcdir/docs/examples/version-level"
out=$("$hv" build -m "$ex3/manifest" --kbuild "$kdir" --vmlinux "$HV_CACHE/kernels/$abi/vmlinux" \
	--key "$work/key.key" -o "$work/version-level.hvb" "$ex3"/*.c 2>&1) ||
	hv_fail "building the version-level example failed: $out"
level3=$(sed -n 's/^level = //p' "$ex3/manifest")
A="--ledger $work/ledger.db --trusted $work/trusted"

# --- a well-behaved agent -------------------------------------------------
hv_guest_start "$abi"
hv_wait_console '^HVP-AGENT-STARTED ' 120 >/dev/null || hv_fail "agent not started in the guest"
hv_wait_console '^HVP-READY' 60 >/dev/null || hv_fail "guest did not boot"
line=$(hv_wait_console '^HVP-KSYM [0-9a-f]{16} [tT] cmdline_proc_show$' 5) || hv_fail "no kallsyms marker"
site=0x$(echo "$line" | cut -d' ' -f2)
# shellcheck disable=SC2086
out=$("$hv" apply $A --agent-timeout-ms 10000 "$HV_DOM" "$work/cmdline-level.hvb" 2>&1) ||
	hv_fail "apply failed: $out"
hv_log "apply: $(echo "$out" | tr '\n' ' ' | cut -c1-600)"
echo "$out" | grep -q 'guest agent: acknowledged and verified (1 present, 0 mismatch)' ||
	hv_fail "apply does not report the agent's ack and verification: $out"
from=$(hv_console_lines)
line=$(hv_wait_console "^HVP-AGENT-STATUS .*\"level\":\"$level\"" 60 "$from") ||
	hv_fail "the tenant view never showed level $level"
echo "$line" | grep -q "\"name\":\"cmdline_proc_show\",\"site\":\"$site\"" ||
	hv_fail "the tenant view lacks the patched site $site: $line"
echo "$line" | grep -q '"verify":{[^}]*"present":1,"mismatch":0,"unreadable":0' ||
	hv_fail "the guest's own check does not find the site present: $line"
expected=$(echo "$line" | sed -n 's/.*"expected":"\(e9[0-9a-f]\{8\}\)".*/\1/p')
[ -n "$expected" ] || hv_fail "the tenant view does not show a jmp at the site: $line"
out=$("$hv" agent-verify --domain "$HV_DOM" --timeout 30000 --json \
	--func "cmdline_proc_show:$site:$expected") || hv_fail "agent-verify failed: $out"
echo "$out" | grep -q '"result":"present"' || hv_fail "agent-verify after apply: $out"

# Drift: the host writes the site back by hand.  The guest's own check
# reports the mismatch, and so does the host's status.
gpa=$(hv_hmp "gva2gpa $site" | tr -d '\r' | awk '/^gpa:/ { print $2 }')
[ -n "$gpa" ] || hv_fail "gva2gpa of $site failed"
"$hv" poke --deadline-ms 2000 --phys "$gpa" --yes "$HV_DOM" 0f1f440000 >/dev/null || hv_fail "poke failed"
out=$("$hv" agent-verify --domain "$HV_DOM" --timeout 30000 --json \
	--func "cmdline_proc_show:$site:$expected") || true
echo "$out" | grep -q '"result":"mismatch"' || hv_fail "agent-verify after drift: $out"
rc=0
# shellcheck disable=SC2086
out=$("$hv" status --json $A "$HV_DOM") || rc=$?
[ $rc -eq 3 ] && echo "$out" | grep -q '"drifted": 1' ||
	hv_fail "hvpatch status does not show the drift (exit $rc): $out"
echo "$out" | tr -d ' \n' | grep -q '"agent":{"op_id":[0-9]*,"acked":true,"verified":true' ||
	hv_fail "hvpatch status does not show the agent's recorded ack: $out"
"$hv" poke --deadline-ms 2000 --phys "$gpa" --yes "$HV_DOM" "$expected" >/dev/null || hv_fail "poke failed"
out=$("$hv" agent-verify --domain "$HV_DOM" --timeout 30000 --json \
	--func "cmdline_proc_show:$site:$expected") || hv_fail "agent-verify after repair: $out"
hv_log "drift written by hand: the agent and hvpatch status both reported it"

# shellcheck disable=SC2086
out=$("$hv" revert $A --agent-timeout-ms 10000 "$HV_DOM" 2>&1) || hv_fail "revert failed: $out"
echo "$out" | grep -q 'guest agent: acknowledged' || hv_fail "revert does not report the agent's ack: $out"
from=$(hv_console_lines)
hv_wait_console "^HVP-AGENT-STATUS .*\"level\":\"\",\"previous_level\":\"$level\",\"op\":\"revert\"" 60 "$from" \
	>/dev/null || hv_fail "the tenant view never showed the revert"

# revert --to-none from two levels up (which the ledger records as a
# reset) reaches the tenant too, as a revert to no level.
for b in cmdline-level version-level; do
	# shellcheck disable=SC2086
	out=$("$hv" apply $A --agent-timeout-ms 10000 "$HV_DOM" "$work/$b.hvb" 2>&1) ||
		hv_fail "apply of $b failed: $out"
done
# shellcheck disable=SC2086
out=$("$hv" revert --to-none $A --agent-timeout-ms 10000 "$HV_DOM" 2>&1) ||
	hv_fail "revert --to-none failed: $out"
echo "$out" | grep -q 'guest agent: acknowledged' ||
	hv_fail "revert --to-none does not report the agent's ack: $out"
from=$(hv_console_lines)
hv_wait_console "^HVP-AGENT-STATUS .*\"level\":\"\",\"previous_level\":\"$level3\",\"op\":\"revert\"" 60 "$from" \
	>/dev/null || hv_fail "the tenant view never showed the revert to none"
hv_log "revert --to-none reached the tenant view"
virsh -c "$HV_URI" destroy "$HV_DOM" >/dev/null

# --- misbehaving agents: the apply goes through all the same ---------------
for mode in flood silent; do
	hv_guest_start "$abi" --cmdline "hvp_agent=$mode"
	hv_wait_console "^HVP-AGENT-STANDIN mode=$mode" 120 >/dev/null || hv_fail "$mode: no stand-in agent"
	hv_wait_console '^HVP-READY' 60 >/dev/null || hv_fail "$mode: guest did not boot"
	t0=$(date +%s)
	# shellcheck disable=SC2086
	out=$("$hv" apply $A --agent-timeout-ms 3000 "$HV_DOM" "$work/cmdline-level.hvb" 2>&1) ||
		hv_fail "$mode: apply failed because of the agent: $out"
	secs=$(($(date +%s) - t0))
	hv_log "$mode: apply in ${secs}s: $(echo "$out" | grep 'guest agent' | cut -c1-400)"
	case $mode in
	flood) echo "$out" | grep -q 'guest agent: not told: .*agent misbehaved: .*flooded' ||
		hv_fail "flood: apply does not say the agent misbehaved: $out" ;;
	silent) echo "$out" | grep -q 'guest agent: not told: no agent answered' ||
		hv_fail "silent: apply does not say the agent was silent: $out" ;;
	esac
	hv_wait_console "^HVP-OBS n=[0-9]* probe=cmdline out=.*hvpatch_level=$level" 60 "$(hv_console_lines)" \
		>/dev/null || hv_fail "$mode: the patch is not in effect"
	[ "$(hv_domstate)" = running ] || hv_fail "$mode: domain is $(hv_domstate)"
	virsh -c "$HV_URI" destroy "$HV_DOM" >/dev/null
done
rm -rf "$work"
hv_log "apply and revert reached the tenant view; flooding and silent agents did not stop apply"
