#!/bin/sh
# hvpatch enroll adds shared memfd RAM, the patch area and the agent channel to
# a persistent domain's definition, idempotently.  The patch area is the
# domain's own file (HV_AREA_DIR/<UUID>, root:<QEMU group> 0640) behind a
# read-only memory backend and an ivshmem-plain device in <qemu:commandline>;
# the enrolled domain boots (QEMU as libvirt-qemu) with both devices visible
# in the guest.  --live hot-plugs the agent channel and says the area needs a
# restart.  An old-style area (<shmem name='hvpatch-...'>) is never used:
# describe and status say to re-enroll, and enroll replaces it.
. "$top_srcdir/tests/integration/lib.sh"
hv=$top_builddir/hvpatch/hvpatch
abi=$(hv_abis | tail -n 1)

hv_guest_define "$abi" --plain
virsh -c "$HV_URI" dumpxml --inactive "$HV_DOM" | grep -q -e '<shmem' -e 'qemu:commandline' &&
	hv_fail "plain domain already has a patch area"
[ ! -e "$HV_AREA_FILE" ] || hv_fail "plain domain already has an area file"

# --dry-run prints the new definition and changes nothing.
out=$("$hv" enroll --dry-run "$HV_DOM") || hv_fail "enroll --dry-run failed: $out"
echo "$out" | grep -q "mem-path=$HV_AREA_FILE,size=4M,share=on,readonly=on" || hv_fail "--dry-run does not show the area: $out"
[ ! -e "$HV_AREA_FILE" ] || hv_fail "enroll --dry-run created the area file"
virsh -c "$HV_URI" dumpxml --inactive "$HV_DOM" | grep -q 'qemu:commandline' && hv_fail "enroll --dry-run changed the definition"

out=$("$hv" enroll --json "$HV_DOM") || hv_fail "enroll failed: $out"
echo "$out" | grep -q '"memfd_added": *true' || hv_fail "memfd not reported added: $out"
echo "$out" | grep -q '"patch_area_added": *true' || hv_fail "patch area not reported added: $out"
echo "$out" | grep -q '"agent_channel_added": *true' || hv_fail "channel not reported added: $out"
echo "$out" | grep -q "\"patch_area_path\": *\"$HV_AREA_FILE\"" || hv_fail "area path not reported: $out"
xml=$(virsh -c "$HV_URI" dumpxml --inactive "$HV_DOM")
echo "$xml" | grep -q "<source type='memfd'/>" || hv_fail "definition lacks memfd RAM"
echo "$xml" | grep -q "memory-backend-file,id=hvpatch-area-mem,mem-path=$HV_AREA_FILE,size=4M,share=on,readonly=on" ||
	hv_fail "definition lacks the read-only area backend: $(echo "$xml" | grep qemu:)"
echo "$xml" | grep -q "ivshmem-plain,id=hvpatch-area,memdev=hvpatch-area-mem" || hv_fail "definition lacks the area device"
echo "$xml" | grep -q "name='org.hvpatch.agent.0'" || hv_fail "definition lacks the agent channel"
# The area file: root-owned, QEMU's group, 0640, 4 MiB of zeros, one link.
qgid=$(virsh -c "$HV_URI" capabilities | sed -n "s/.*<baselabel type='qemu'>+[0-9]*:+\([0-9]*\)<.*/\1/p" | head -n 1)
st=$(stat -c '%u %g %a %s %h %F' "$HV_AREA_FILE") || hv_fail "enroll created no area file"
[ "$st" = "0 ${qgid:-0} 640 4194304 1 regular file" ] || hv_fail "area file is '$st', want '0 ${qgid:-0} 640 4194304 1 regular file'"
[ "$(od -An -v -tx1 "$HV_AREA_FILE" | tr -d ' \n' | tr -d 0)" = "" ] || hv_fail "new area file is not zero-filled"

out=$("$hv" enroll "$HV_DOM") || hv_fail "second enroll failed: $out"
echo "$out" | grep -q "already enrolled" || hv_fail "second enroll did not say it was already enrolled: $out"
[ "$(virsh -c "$HV_URI" dumpxml --inactive "$HV_DOM" | grep -c 'ivshmem-plain')" = 1 ] ||
	hv_fail "second enroll added another patch area"

virsh -c "$HV_URI" start "$HV_DOM" >/dev/null || hv_fail "enrolled domain does not start"
hv_wait_console '^HVP-READY' 120 >/dev/null || hv_fail "enrolled domain did not boot"
hv_wait_console '^HVP-AGENT-PORT ' 5 >/dev/null || hv_fail "agent channel missing in the enrolled guest"
hv_wait_console '^HVP-IVSHMEM ' 5 >/dev/null || hv_fail "patch area missing in the enrolled guest"
qpid=$(cat "/run/libvirt/qemu/$HV_DOM.pid")
[ "$(awk '/^Uid:/ { print $2 }' "/proc/$qpid/status")" != 0 ] || hv_fail "QEMU runs as root; the suite must run it as libvirt-qemu"
d=$("$hv" describe "$HV_DOM") || hv_fail "describe of the enrolled domain failed: $d"
echo "$d" | grep -q "patch area: .*$HV_AREA_FILE (read-only to the guest)" || hv_fail "describe does not show the area: $d"
virsh -c "$HV_URI" destroy "$HV_DOM" >/dev/null

# An old enrolment: <shmem name='hvpatch-XXXXXXXX'> (shared through /dev/shm,
# writable by the guest).  hvpatch never uses it and says what to do;
# enroll replaces it.
virsh -c "$HV_URI" undefine "$HV_DOM" >/dev/null
hv_guest_define "$abi" --plain --name "$HV_DOM-old"
legacy="hvpatch-$(echo "$HV_UUID" | cut -c1-8)"
virsh -c "$HV_URI" dumpxml --inactive "$HV_DOM" |
	sed -e "s|</devices>|<shmem name='$legacy'><model type='ivshmem-plain'/><size unit='M'>4</size></shmem></devices>|" \
		-e "s|</currentMemory>|</currentMemory><memoryBacking><source type='memfd'/><access mode='shared'/></memoryBacking>|" \
		> "$HV_XML.old"
grep -q memfd "$HV_XML.old" || hv_fail "cannot give the old-style domain memfd RAM"
HV_FILES="$HV_FILES $HV_XML.old /dev/shm/$legacy"
virsh -c "$HV_URI" define "$HV_XML.old" >/dev/null || hv_fail "cannot define the old-style domain"
virsh -c "$HV_URI" start "$HV_DOM" >/dev/null || hv_fail "old-style domain does not start"
hv_wait_console '^HVP-READY' 120 >/dev/null || hv_fail "old-style domain did not boot"
d=$("$hv" describe "$HV_DOM") || hv_fail "describe of an old-style domain failed: $d"
echo "$d" | grep -q "patch area: *none (old-style <shmem name='$legacy'>, not used: run 'hvpatch enroll $HV_DOM' and restart" ||
	hv_fail "describe does not explain the old-style area: $d"
mkdir -p -m 0700 "$HV_RUNDIR/ledgers"
if out=$("$hv" status --ledger "$HV_RUNDIR/ledgers/$HV_DOM.ledger" "$HV_DOM" 2>&1); then
	hv_fail "status on an old-style domain succeeded: $out"
fi
HV_FILES="$HV_FILES $HV_RUNDIR/ledgers/$HV_DOM.ledger"
echo "$out" | grep -q "no patch area: enroll it with 'hvpatch enroll $HV_DOM' and restart it" ||
	hv_fail "status does not tell to re-enroll an old-style domain: $out"
out=$("$hv" enroll "$HV_DOM") || hv_fail "enroll of an old-style domain failed: $out"
echo "$out" | grep -q "replaced the old patch area <shmem name='$legacy'>" || hv_fail "enroll did not say it replaced the old area: $out"
echo "$out" | grep -q "shut down and started again" || hv_fail "enroll did not say a restart is needed: $out"
virsh -c "$HV_URI" dumpxml --inactive "$HV_DOM" | grep -q '<shmem' && hv_fail "enroll kept the old shmem"
virsh -c "$HV_URI" destroy "$HV_DOM" >/dev/null

# A running domain that was never enrolled: --live hot-plugs the agent
# channel when it can; the read-only area cannot be hot-plugged, and the
# output says it comes with a restart.
virsh -c "$HV_URI" undefine "$HV_DOM" >/dev/null
hv_guest_define "$abi" --plain --name "$HV_DOM-live"
virsh -c "$HV_URI" start "$HV_DOM" >/dev/null || hv_fail "plain domain does not start"
hv_wait_console '^HVP-READY' 120 >/dev/null || hv_fail "plain domain did not boot"
out=$("$hv" enroll --live "$HV_DOM") || hv_fail "enroll --live failed: $out"
# pc guests without a virtio-serial controller cannot get one hot-plugged:
# then the output says the channel comes with the next boot.
if echo "$out" | grep -q "agent channel: .*(hot-plugged now)"; then
	virsh -c "$HV_URI" dumpxml "$HV_DOM" | grep -q "name='org.hvpatch.agent.0'" ||
		hv_fail "the running domain has no agent channel after --live"
else
	echo "$out" | grep -q "the agent channel could not be hot-plugged (.*); it arrives with the next boot" ||
		hv_fail "enroll --live neither hot-plugged the channel nor said why: $out"
fi
echo "$out" | grep -q "the patch area is not hot-plugged.*arrives with the next start" ||
	hv_fail "enroll --live did not say the area needs a restart: $out"
echo "$out" | grep -q "shut down and started again" || hv_fail "enroll --live did not say memfd needs a restart: $out"
virsh -c "$HV_URI" dumpxml --inactive "$HV_DOM" | grep -q "readonly=on" ||
	hv_fail "the definition has no read-only area after --live"

out=$("$hv" enroll no-such-domain-$$ 2>&1) && hv_fail "enrolling a missing domain succeeded"
echo "$out" | grep -q "no domain named 'no-such-domain-$$'" || hv_fail "unclear error for a missing domain: $out"
hv_log "enroll works on stopped, running and old-style domains"
