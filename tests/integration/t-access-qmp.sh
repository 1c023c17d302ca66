#!/bin/sh
# The bare-QEMU backend: a test guest started by qemu-system-x86_64 itself
# (no libvirt), reached through its QMP socket, with the patch area that
# 'hvpatch enroll --qemu-args' prints (read-only backend on the UUID's own
# file).  hvpatch describes it (area included), reads the area through its
# own mapping, reads its registers in a pause and writes over a kernel
# function's entry so the running guest's output changes, then restores it.
. "$top_srcdir/tests/integration/lib.sh"
HVP="$top_builddir/hvpatch/hvpatch"
abi=$(hv_abis | head -n 1)
hv_require_live
gdir="$HV_CACHE/guests/$abi"
[ -f "$gdir/initramfs.img" ] || hv_fail "no test guest for $abi: run 'make test-guests'"
mkdir -p "$HV_RUNDIR"
name="hvt-$HV_RUN_ID-qmp-$$"
qmp="$HV_RUNDIR/$name.qmp"
HV_CONSOLE="$HV_RUNDIR/$name.console"
HV_CONSOLES="$HV_CONSOLES $HV_CONSOLE"
pidf="$HV_RUNDIR/$name.pid"
HV_FILES="$HV_FILES $qmp $pidf"
uuid=$(hv_uuid)
HV_AREA_FILES="$HV_AREA_FILES $HV_AREA_DIR/$uuid"
: > "$HV_CONSOLE"
args=$("$HVP" enroll --qemu-args "$uuid") || hv_fail "enroll --qemu-args failed: $args"
obj=$(echo "$args" | sed -n 2p) dev=$(echo "$args" | sed -n 4p)
echo "$obj" | grep -q "mem-path=$HV_AREA_DIR/$uuid,.*readonly=on" || hv_fail "enroll --qemu-args printed no read-only backend: $args"
[ -f "$HV_AREA_DIR/$uuid" ] || hv_fail "enroll --qemu-args created no area file"
qemu-system-x86_64 -name "$name" -uuid "$uuid" -machine pc,accel=tcg -cpu qemu64 -smp 2 -m 512 \
	-object memory-backend-memfd,id=ram,size=512M,share=on -machine memory-backend=ram \
	-object "$obj" -device "$dev" \
	-kernel "$gdir/vmlinuz" -initrd "$gdir/initramfs.img" \
	-append "console=ttyS0 hvp_guest=1 panic=-1" -display none -serial "file:$HV_CONSOLE" \
	-monitor none -qmp "unix:$qmp,server=on,wait=off" -no-reboot -daemonize -pidfile "$pidf" ||
	hv_fail "qemu-system-x86_64 did not start"
qpid=$(cat "$pidf")
trap 'kill "$qpid" 2>/dev/null; hv_cleanup' EXIT
hv_wait_console '^HVP-READY' 120 >/dev/null || hv_fail "bare QEMU guest did not boot"
va=$(hv_wait_console '^HVP-KSYM [0-9a-f]{16} [tT] cmdline_proc_show$' 5 | awk '{ print $2 }')

d=$("$HVP" describe --qmp-socket "$qmp" --json "$name") || hv_fail "describe over QMP failed"
echo "$d" | grep -q '"accel": "tcg"' || hv_fail "describe does not say tcg: $d"
echo "$d" | grep -q "\"qemu_pid\": $qpid" || hv_fail "describe has the wrong QEMU pid: $d"
echo "$d" | grep -q "\"file\": \"$HV_AREA_DIR/$uuid\"" || hv_fail "describe misses the patch area: $d"
abar=$(echo "$d" | tr -d ' \n' | sed -n 's/.*"patch_area":{"gpa":\([0-9]*\).*/\1/p')
[ -n "$abar" ] || hv_fail "describe gives no patch-area address: $d"
printf 'HVPQ' | dd of="$HV_AREA_DIR/$uuid" bs=1 seek=64 conv=notrunc 2>/dev/null
pk=$("$HVP" peek --json --qmp-socket "$qmp" --phys $((abar + 64)) "$name" 4 | sed -n 's/.*"hex": "\([0-9a-f]*\)".*/\1/p')
[ "$pk" = 48565051 ] || hv_fail "peek of the bare QEMU's area reads '$pk', not the host's bytes"
j=$("$HVP" vcpus --deadline-ms 2000 --qmp-socket "$qmp" --json "$name") || hv_fail "vcpus over QMP failed"
[ "$(echo "$j" | grep -c '"rip"')" -eq 2 ] || hv_fail "vcpus over QMP did not list 2 vCPUs: $j"

# The physical address of cmdline_proc_show, from QEMU itself (gva2gpa).
gpa=$(printf '%s\n' '{"execute":"qmp_capabilities"}' \
	"{\"execute\":\"human-monitor-command\",\"arguments\":{\"command-line\":\"gva2gpa 0x$va\"}}" |
	timeout 5 socat - "UNIX-CONNECT:$qmp" 2>/dev/null | sed -n 's/.*"return": "gpa: \(0x[0-9a-f]*\).*/\1/p')
[ -n "$gpa" ] || hv_fail "cannot translate $va through QMP"
from=$(hv_console_lines)
"$HVP" poke --deadline-ms 2000 --qmp-socket "$qmp" --phys "$gpa" --yes "$name" 31c0c3 >/dev/null || hv_fail "poke over QMP failed"
hv_wait_console '^HVP-OBS n=[0-9]+ probe=cmdline out=$' 10 "$from" >/dev/null ||
	hv_fail "the bare QEMU guest did not execute the written bytes"
from=$(hv_console_lines)
"$HVP" poke --deadline-ms 2000 --qmp-socket "$qmp" --phys "$gpa" --yes "$name" 0f1f44 >/dev/null || hv_fail "restoring poke failed"
hv_wait_console '^HVP-OBS n=[0-9]+ probe=cmdline out=console=' 10 "$from" >/dev/null ||
	hv_fail "restoring the bytes did not restore the output"
st=$(printf '%s\n' '{"execute":"qmp_capabilities"}' '{"execute":"query-status"}' |
	timeout 5 socat - "UNIX-CONNECT:$qmp" 2>/dev/null | grep -o '"running": [a-z]*')
[ "$st" = '"running": true' ] || hv_fail "bare QEMU guest left: $st"
hv_log "describe, vcpus and a live write work over a bare QMP socket"

# hvpatch killed (SIGKILL) in a pause over the bare QMP socket: its guard,
# which keeps a copy of the monitor connection, sends "cont" at once.
qstatus() {
	printf '%s\n' '{"execute":"qmp_capabilities"}' '{"execute":"query-status"}' |
		timeout 5 socat - "UNIX-CONNECT:$qmp" 2>/dev/null | grep -o '"running": [a-z]*'
}
"$HVP" bench-pause --qmp-socket "$qmp" --count 1 --hold-ms 9000 --deadline-ms 10000 "$name" \
	>/dev/null 2>&1 &
bp=$!
sleep 1.5
kill -KILL "$bp"
wait "$bp" 2>/dev/null
t0=$(date +%s%3N)
st=""
while [ $(($(date +%s%3N) - t0)) -lt 1000 ]; do
	# The monitor takes one client: it answers once the guard has let go.
	st=$(qstatus)
	[ "$st" = '"running": true' ] && break
	sleep 0.05
done
[ "$st" = '"running": true' ] || hv_fail "the bare QEMU guest stayed paused after hvpatch was killed: $st"
hv_log "a SIGKILLed hvpatch's guard resumed the bare QEMU guest ($(($(date +%s%3N) - t0)) ms)"
