#!/bin/sh
# The tenant traces a patched guest (guest mode hvp_ftrace, tests/guest/init):
#  - with the cmdline-level example applied, the guest turns the function
#    tracer on over the functions matching *proc_show* and seq_read* (with
#    HV_FTRACE_ALL=1 over every function: closer to life, but under TCG the
#    guest then now and then stalls longer than its lockup detectors allow,
#    with or without hvpatch): it works (rc 0, tracing_on 1, trace lines),
#    the guest's ftrace never reports "ftrace failed" or "ftrace faulted"
#    (it would have found hvpatch's jump at cmdline_proc_show's site and
#    killed itself), cmdline_proc_show is out of ftrace (set_ftrace_filter
#    refuses it and the glob leaves it out, the trace never shows it, a
#    kprobe on it registers but never fires), the guest still prints the
#    level and hvpatch status shows no drift;
#  - a revert while that kprobe is on is refused (it covers the function:
#    giving the function back to ftrace then would corrupt ftrace's
#    accounting), and changes nothing;
#  - tracer and kprobe off, then the revert goes in cleanly and gives the
#    function back: set_ftrace_filter accepts cmdline_proc_show again, and
#    a second round filtered on it traces it and the kprobe fires.
. "$top_srcdir/tests/integration/lib.sh"
HVP="$top_builddir/hvpatch/hvpatch"
abi=$(hv_abis | tail -n 1)
hold=45 # seconds the guest keeps the function tracer on in round 1

hv_bundles "$abi"
A="--ledger $HV_LEDGER --trusted $HV_TRUSTED --deadline-ms 2000"

# The guest's ftrace must not have complained, nor its kernel.
no_ftrace_failure() { # WHEN
	bad=$(tr -d '\r' < "$HV_CONSOLE" | grep -E 'ftrace failed|ftrace faulted|ftrace record|ftrace_bug|WARNING:|Oops|BUG: |Kernel panic' | head -n 8)
	[ -z "$bad" ] || hv_fail "$1: the guest's ftrace or kernel complained: $bad"
}
# field LINE NAME: the value of NAME=... in a console line.
field() {
	printf '%s\n' "$1" | tr ' ' '\n' | sed -n "s/^$2=//p" | head -n 1
}
level_shown() { # WHEN
	o=$(hv_obs cmdline 90) || hv_fail "$1: the guest printed no cmdline probe"
	[ "$o" = "$base hvpatch_level=2026.11-1" ] || hv_fail "$1: /proc/cmdline is '$o', not the level"
}
no_drift() { # WHEN
	st=$("$HVP" status --json $A "$HV_DOM" 2>&1) || hv_fail "$1: status failed: $st"
	echo "$st" | grep -q '"level": "2026.11-1"' || hv_fail "$1: status does not show the level: $st"
	echo "$st" | grep -q '"intact": true' || hv_fail "$1: status shows the site drifted: $st"
	echo "$st" | grep -q '"intact": false' && hv_fail "$1: status shows drift: $st"
	return 0
}

all=""
[ "${HV_FTRACE_ALL:-0}" = 1 ] && all=" hvp_ftrace_all=1"
hv_guest_start "$abi" --cmdline "hvp_ftrace=$hold$all"
hv_wait_console '^HVP-READY' 180 >/dev/null || hv_fail "guest did not boot"
line=$(hv_wait_console '^HVP-FTRACE state=boot' 60) || hv_fail "the guest's ftrace mode did not start"
[ "$(field "$line" filter)" = accepted ] && [ "$(field "$line" listed)" = 1 ] ||
	hv_fail "unpatched, cmdline_proc_show should be traceable: $line"
base=$(hv_obs cmdline) || hv_fail "no probe output"

from=$(hv_console_lines)
out=$("$HVP" apply --json $A "$HV_DOM" "$HV_BDIR/cmdline-level.hvb" 2>&1) || hv_fail "apply failed: $out"
hv_log "applied: $(echo "$out" | tr -d ' \n' | grep -o '"pause_us":[0-9]*')"

# Round 1: the tracer goes on over the patched function.
on=$(hv_wait_console '^HVP-FTRACE on round=1' 180 "$from") || hv_fail "the guest did not turn the tracer on"
hv_log "guest: $on"
sleep 3
no_ftrace_failure "with the function tracer on"
[ "$(field "$on" rc)" = 0 ] && [ "$(field "$on" tracer)" = function ] &&
	[ "$(field "$on" tracing_on)" = 1 ] || hv_fail "enabling the function tracer failed: $on"
[ "$(field "$on" cmdline_in_filter)" = 0 ] ||
	hv_fail "the tracer's filter took in cmdline_proc_show, which hvpatch took out of ftrace: $on"
[ "$(field "$on" kprobe)" = 0 ] || hv_fail "the kprobe on cmdline_proc_show could not be set: $on"
line=$(hv_wait_console '^HVP-FTRACE state=patched' 5 "$from") || hv_fail "no patched state line"
hv_log "guest: $line"
[ "$(field "$line" filter)" = refused ] ||
	hv_fail "patched, set_ftrace_filter should refuse cmdline_proc_show (its record DISABLED): $line"
level_shown "with the tracer on"
no_drift "with the tracer on"

# A revert now would hand the function back to ftrace under a kprobe (and,
# with HV_FTRACE_ALL=1, a tracer) that covers it.
out=$("$HVP" revert $A "$HV_DOM" 2>&1) && hv_fail "the revert went through while the function tracer covered cmdline_proc_show: $out"
echo "$out" | grep -q 'the guest traces cmdline_proc_show through ftrace' ||
	hv_fail "the revert was refused without saying why: $out"
hv_log "revert with the tracer on: $(echo "$out" | tail -n 1 | cut -c1-200)"
level_shown "after the refused revert"

traced=$(hv_wait_console '^HVP-FTRACE traced round=1' $((hold + 180)) "$from") || hv_fail "no trace from round 1"
hv_log "guest: $traced"
tail -n "+$((from + 1))" "$HV_CONSOLE" | tr -d '\r' | grep '^HVP-FTRACE-LINE round=1' | head -n 3 |
	while read -r l; do hv_log "guest: $l"; done
[ "$(field "$traced" lines)" -gt 0 ] || hv_fail "the function tracer traced nothing: $traced"
[ "$(field "$traced" cmdline_proc_show)" = 0 ] ||
	hv_fail "the trace shows cmdline_proc_show, which hvpatch took out of ftrace: $traced"
[ "$(field "$traced" kprobe_hits)" = 0 ] ||
	hv_fail "the kprobe on cmdline_proc_show fired while hvpatch's jump was there: $traced"
off=$(hv_wait_console '^HVP-FTRACE off round=1' 120 "$from") || hv_fail "the guest did not turn the tracer off"
[ "$(field "$off" rc)" = 0 ] && [ "$(field "$off" tracer)" = nop ] || hv_fail "turning the tracer off failed: $off"
no_ftrace_failure "after the tracer went off"
level_shown "after the tracer went off"
no_drift "after the tracer went off"

# Revert: the function goes back to ftrace.
from=$(hv_console_lines)
out=$("$HVP" revert --json $A "$HV_DOM" 2>&1) || hv_fail "revert failed: $out"
o=$(hv_obs cmdline 90)
[ "$o" = "$base" ] || hv_fail "after the revert the guest prints '$o'"
line=$(hv_wait_console '^HVP-FTRACE state=reverted' 60 "$from") || hv_fail "no reverted state line"
hv_log "guest: $line"
[ "$(field "$line" filter)" = accepted ] && [ "$(field "$line" listed)" = 1 ] ||
	hv_fail "after the revert cmdline_proc_show should be traceable again: $line"
on=$(hv_wait_console '^HVP-FTRACE on round=2' 120 "$from") || hv_fail "no second tracer round"
hv_log "guest: $on"
[ "$(field "$on" rc)" = 0 ] && [ "$(field "$on" cmdline_in_filter)" = 1 ] ||
	hv_fail "the second tracer round, filtered on cmdline_proc_show, failed: $on"
traced=$(hv_wait_console '^HVP-FTRACE traced round=2' 120 "$from") || hv_fail "no trace from round 2"
hv_log "guest: $traced"
[ "$(field "$traced" cmdline_proc_show)" -gt 0 ] && [ "$(field "$traced" kprobe_hits)" -gt 0 ] ||
	hv_fail "after the revert, the tracer filtered on cmdline_proc_show or the kprobe on it did not see it: $traced"
hv_wait_console '^HVP-FTRACE done' 60 "$from" >/dev/null || hv_fail "the guest's ftrace mode did not finish"
no_ftrace_failure "after the second round"
st=$("$HVP" status --json $A "$HV_DOM") || hv_fail "final status failed: $st"
echo "$st" | grep -q '"patched": false' || hv_fail "still patched after the revert: $st"
hv_log "the function tracer ran over a patched guest; revert gave cmdline_proc_show back to ftrace"
