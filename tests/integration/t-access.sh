#!/bin/sh
# Hypervisor access on a real libvirt guest (TCG): a pause/resume round trip
# leaves the guest running; RIP and CR3 read through hvpatch equal QEMU's
# own "info registers"; a 4 KiB physical read equals HMP xp; writing a few
# bytes over a kernel function's entry changes what the running guest
# prints, and writing the old bytes back restores it, without a reboot.
. "$top_srcdir/tests/integration/lib.sh"
HVP="$top_builddir/hvpatch/hvpatch"
abi=$(hv_abis | tail -n 1)

hv_guest_start "$abi"
hv_wait_console '^HVP-READY' 120 >/dev/null || hv_fail "guest did not boot"
ksym=$(hv_wait_console '^HVP-KSYM [0-9a-f]{16} [tT] cmdline_proc_show$' 5) ||
	hv_fail "no kallsyms marker for cmdline_proc_show"
va=$(echo "$ksym" | awk '{ print $2 }')

# 1. describe sees the enrolled pieces.
d=$("$HVP" describe --json "$HV_DOM") || hv_fail "describe failed"
echo "$d" | grep -q '"accel": "tcg"' || hv_fail "describe does not say tcg: $d"
echo "$d" | grep -q "\"file\": \"$HV_AREA_FILE\"" || hv_fail "describe misses the patch area: $d"
echo "$d" | grep -q "\"agent_socket\": \"$HV_AGENT_SOCK\"" || hv_fail "describe misses the agent socket"

# 2. Pause/resume round trip: the guest keeps printing afterwards.
"$HVP" vcpus --deadline-ms 2000 "$HV_DOM" > "$HV_RUNDIR/$HV_DOM.vcpus" || hv_fail "vcpus failed"
grep -q 'paused [0-9]* us' "$HV_RUNDIR/$HV_DOM.vcpus" || hv_fail "vcpus does not report the pause"
[ "$(hv_domstate)" = running ] || hv_fail "guest is $(hv_domstate) after vcpus"
from=$(hv_console_lines)
hv_wait_console '^HVP-TICK ' 10 "$from" >/dev/null || hv_fail "guest stopped ticking after a pause"
rm -f "$HV_RUNDIR/$HV_DOM.vcpus"

# 3. Registers equal QEMU's "info registers", read while the guest is held
#    paused (hvpatch leaves a guest it found paused as it was).
virsh -c "$HV_URI" suspend "$HV_DOM" >/dev/null || hv_fail "virsh suspend failed"
j=$("$HVP" vcpus --json --deadline-ms 2000 "$HV_DOM") || hv_fail "vcpus on a paused guest failed"
[ "$(hv_domstate)" = paused ] || hv_fail "hvpatch resumed a guest it found paused"
n=0
for cpu in 0 1; do
	regs=$(virsh -c "$HV_URI" qemu-monitor-command "$HV_DOM" \
		"{\"execute\":\"human-monitor-command\",\"arguments\":{\"command-line\":\"info registers\",\"cpu-index\":$cpu}}")
	rip=$(echo "$regs" | sed -n 's/.*RIP=\([0-9a-f]*\).*/\1/p' | head -n 1)
	cr3=$(echo "$regs" | sed -n 's/.*CR3=\([0-9a-f]*\).*/\1/p' | head -n 1)
	[ -n "$rip" ] && [ -n "$cr3" ] || hv_fail "cannot read HMP registers of vCPU $cpu"
	ours=$(echo "$j" | tr -d ' \n' | sed 's/},{/}\n{/g' | grep "\"cpu\":$cpu,")
	orip=$(echo "$ours" | sed -n 's/.*"rip":"0x\([0-9a-f]*\)".*/\1/p')
	ocr3=$(echo "$ours" | sed -n 's/.*"cr3":"0x\([0-9a-f]*\)".*/\1/p')
	[ "$(printf %x 0x$rip)" = "$orip" ] || hv_fail "vCPU $cpu RIP: hvpatch $orip, QEMU $rip"
	[ "$(printf %x 0x$cr3)" = "$ocr3" ] || hv_fail "vCPU $cpu CR3: hvpatch $ocr3, QEMU $cr3"
	n=$((n + 1))
done
virsh -c "$HV_URI" resume "$HV_DOM" >/dev/null || hv_fail "virsh resume failed"
hv_log "RIP and CR3 of $n vCPUs equal QEMU's info registers"

# 4. A 4 KiB physical read equals HMP xp (kernel text does not change).
gpa=$(hv_hmp "gva2gpa 0x$va" | tr -d '\r' | awk '/^gpa:/ { print $2 }')
[ -n "$gpa" ] || hv_fail "HMP gva2gpa gave nothing for $va"
page=$(printf '0x%x' $((gpa & ~4095)))
ours=$("$HVP" peek --json --phys "$page" "$HV_DOM" 4096 | sed -n 's/.*"hex": "\([0-9a-f]*\)".*/\1/p')
theirs=$(hv_hmp "xp /4096xb $page" | tr -d '\r' | sed 's/^[0-9a-f]*://' | tr -s ' \n' '\n' |
	sed -n 's/^0x//p' | tr -d '\n')
[ ${#ours} -eq 8192 ] || hv_fail "peek returned ${#ours} hex digits, expected 8192"
[ "$ours" = "$theirs" ] || hv_fail "peek of $page differs from HMP xp"

# 5. A write over cmdline_proc_show's entry ("xor eax,eax; ret") empties the
#    guest's /proc/cmdline at once; the old bytes bring it back.
from=$(hv_console_lines)
hv_wait_console '^HVP-OBS n=[0-9]+ probe=cmdline out=console=' 10 "$from" >/dev/null ||
	hv_fail "the workload does not show /proc/cmdline"
out=$("$HVP" poke --json --deadline-ms 2000 --phys "$gpa" --yes "$HV_DOM" 31c0c3) || hv_fail "poke failed"
old=$(echo "$out" | sed -n 's/.*"old_hex": "\([0-9a-f]*\)".*/\1/p')
echo "$out" | grep -q '"path": "gdbstub"' || hv_fail "under TCG the write must go through the gdbstub: $out"
[ "$old" = 0f1f44 ] || hv_fail "cmdline_proc_show did not start with the ftrace NOP (saw $old)"
from=$(hv_console_lines)
hv_wait_console '^HVP-OBS n=[0-9]+ probe=cmdline out=$' 10 "$from" >/dev/null ||
	hv_fail "the running guest did not execute the written bytes"
"$HVP" poke --deadline-ms 2000 --phys "$gpa" --yes "$HV_DOM" "$old" >/dev/null || hv_fail "restoring poke failed"
from=$(hv_console_lines)
hv_wait_console '^HVP-OBS n=[0-9]+ probe=cmdline out=console=' 10 "$from" >/dev/null ||
	hv_fail "restoring the old bytes did not restore the guest's output"

# 6. Errors resume the guest and say why.
if err=$("$HVP" peek --phys 0x7fff00000000 "$HV_DOM" 16 2>&1); then
	hv_fail "peek outside guest RAM succeeded"
fi
echo "$err" | grep -q 'guest-physical' || hv_fail "unclear error for a read outside RAM: $err"
[ "$(hv_domstate)" = running ] || hv_fail "guest left $(hv_domstate) after a failed read"
if err=$("$HVP" vcpus no-such-domain-$$ 2>&1); then hv_fail "unknown domain accepted"; fi
echo "$err" | grep -q "no domain named" || hv_fail "unclear error for an unknown domain: $err"
[ "$(hv_domstate)" = running ] || hv_fail "guest is $(hv_domstate) at the end"
# 7. The deadline: a pause held past it is ended by hvpatch itself.
if err=$("$HVP" bench-pause --count 1 --hold-ms 1500 --deadline-ms 100 "$HV_DOM" 2>&1); then
	hv_fail "a pause held past its deadline was not reported"
fi
echo "$err" | grep -q "passed its deadline of 100 ms" || hv_fail "unclear deadline error: $err"
[ "$(hv_domstate)" = running ] || hv_fail "guest is $(hv_domstate) after a missed deadline"

# 8. hvpatch killed (SIGKILL) in the middle of a pause: its guard process
#    resumes the guest at once, long before the 10 s deadline.
"$HVP" bench-pause --count 1 --hold-ms 9000 --deadline-ms 10000 "$HV_DOM" >/dev/null 2>&1 &
bp=$!
n=0
while [ "$(hv_domstate)" != paused ] && [ $n -lt 50 ]; do sleep 0.1; n=$((n + 1)); done
[ "$(hv_domstate)" = paused ] || hv_fail "bench-pause did not pause the guest"
# Under TCG the pause opened QEMU's gdbstub; the guard stops it too.
gdbstub_listens() {
	virsh -c "$HV_URI" qemu-monitor-command --hmp "$HV_DOM" 'info chardev' | grep -q '^gdb: '
}
gdbstub_listens || hv_fail "no gdbstub listened during the pause (the check below would prove nothing)"
kill -9 "$bp"
wait "$bp" 2>/dev/null
n=0
while [ "$(hv_domstate)" != running ] && [ $n -lt 30 ]; do sleep 0.1; n=$((n + 1)); done
[ "$(hv_domstate)" = running ] || hv_fail "guest stayed paused after hvpatch was killed"
hv_log "guest resumed $((n * 100)) ms after hvpatch was killed in a pause"
n=0
while gdbstub_listens && [ $n -lt 30 ]; do sleep 0.1; n=$((n + 1)); done
gdbstub_listens && hv_fail "QEMU's gdbstub still listens 3 s after hvpatch was killed"
hv_log "the guard stopped the gdbstub the killed hvpatch left"

# 9. hvpatch stopped (SIGSTOP) in a pause: its guard ends the pause at the
#    deadline plus its grace period, although hvpatch itself cannot.
"$HVP" bench-pause --count 1 --hold-ms 9000 --deadline-ms 300 "$HV_DOM" >/dev/null 2>&1 &
bp=$!
n=0
while [ "$(hv_domstate)" != paused ] && [ $n -lt 50 ]; do sleep 0.1; n=$((n + 1)); done
[ "$(hv_domstate)" = paused ] || hv_fail "bench-pause did not pause the guest"
kill -STOP "$bp"
n=0
while [ "$(hv_domstate)" != running ] && [ $n -lt 30 ]; do sleep 0.1; n=$((n + 1)); done
[ "$(hv_domstate)" = running ] || hv_fail "guest stayed paused while hvpatch was stopped"
hv_log "guest resumed by the guard while hvpatch was stopped ($((n * 100)) ms after the stop)"
kill -KILL "$bp"
wait "$bp" 2>/dev/null

# 10. hvpatch and its guard killed together (the host lost both): the next
#     command finds the pause record, resumes the guest and says so.
"$HVP" bench-pause --count 1 --hold-ms 9000 --deadline-ms 10000 "$HV_DOM" >/dev/null 2>&1 &
bp=$!
n=0
while [ "$(hv_domstate)" != paused ] && [ $n -lt 50 ]; do sleep 0.1; n=$((n + 1)); done
[ "$(hv_domstate)" = paused ] || hv_fail "bench-pause did not pause the guest"
guard=$(pgrep -P "$bp")
[ -n "$guard" ] || hv_fail "bench-pause has no guard process"
kill -KILL "$guard" "$bp"
wait "$bp" 2>/dev/null
sleep 1
[ "$(hv_domstate)" = paused ] || hv_fail "guest is $(hv_domstate) although hvpatch and its guard were killed"
err=$("$HVP" vcpus "$HV_DOM" 2>&1 >/dev/null) || hv_fail "vcpus on a guest a dead hvpatch left paused failed: $err"
echo "$err" | grep -q "note: .*left paused .* by hvpatch (pid $bp).*hvpatch resumed it" ||
	hv_fail "vcpus did not say it resumed a guest a dead hvpatch left paused: $err"
[ "$(hv_domstate)" = running ] || hv_fail "guest is $(hv_domstate) after vcpus found it left paused"
hv_log "a pause outliving hvpatch and its guard was found and ended: $err"

# 11. A guest the operator paused is left paused, and commands say so.
virsh -c "$HV_URI" suspend "$HV_DOM" >/dev/null || hv_fail "virsh suspend failed"
err=$("$HVP" vcpus "$HV_DOM" 2>&1 >/dev/null) || hv_fail "vcpus on an operator-paused guest failed: $err"
echo "$err" | grep -q "note: .*was paused when hvpatch found it, and not by hvpatch" ||
	hv_fail "vcpus did not say the guest was paused by someone else: $err"
[ "$(hv_domstate)" = paused ] || hv_fail "hvpatch resumed a guest the operator paused"
virsh -c "$HV_URI" resume "$HV_DOM" >/dev/null || hv_fail "virsh resume failed"
hv_log "an operator's pause is reported and left alone"
hv_log "pause/resume, registers, 4 KiB read, live write, deadline, crash, stop and found-paused checked on $abi"
