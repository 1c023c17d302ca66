#!/bin/sh
# hvpatch enroll adds shared memfd RAM, the patch area and the agent channel to
# a persistent domain's definition, idempotently; the enrolled domain boots
# with both devices visible in the guest; --live hot-plugs the patch area.
. "$top_srcdir/tests/integration/lib.sh"
hv=$top_builddir/hvpatch/hvpatch
abi=$(hv_abis | tail -n 1)

hv_guest_define "$abi" --plain
virsh -c "$HV_URI" dumpxml --inactive "$HV_DOM" | grep -q '<shmem' && hv_fail "plain domain already has a shmem device"

out=$("$hv" enroll --json "$HV_DOM") || hv_fail "enroll failed: $out"
echo "$out" | grep -q '"memfd_added": *true' || hv_fail "memfd not reported added: $out"
echo "$out" | grep -q '"patch_area_added": *true' || hv_fail "patch area not reported added: $out"
echo "$out" | grep -q '"agent_channel_added": *true' || hv_fail "channel not reported added: $out"
xml=$(virsh -c "$HV_URI" dumpxml --inactive "$HV_DOM")
echo "$xml" | grep -q "<source type='memfd'/>" || hv_fail "definition lacks memfd RAM"
echo "$xml" | grep -q "<model type='ivshmem-plain'/>" || hv_fail "definition lacks the patch area"
echo "$xml" | grep -q "name='org.hvpatch.agent.0'" || hv_fail "definition lacks the agent channel"

out=$("$hv" enroll "$HV_DOM") || hv_fail "second enroll failed: $out"
echo "$out" | grep -q "already enrolled" || hv_fail "second enroll did not say it was already enrolled: $out"
[ "$(virsh -c "$HV_URI" dumpxml --inactive "$HV_DOM" | grep -c '<shmem')" = 1 ] ||
	hv_fail "second enroll added another patch area"

virsh -c "$HV_URI" start "$HV_DOM" >/dev/null || hv_fail "enrolled domain does not start"
hv_wait_console '^HVP-READY' 120 >/dev/null || hv_fail "enrolled domain did not boot"
hv_wait_console '^HVP-AGENT-PORT ' 5 >/dev/null || hv_fail "agent channel missing in the enrolled guest"
hv_wait_console '^HVP-IVSHMEM ' 5 >/dev/null || hv_fail "patch area missing in the enrolled guest"
virsh -c "$HV_URI" destroy "$HV_DOM" >/dev/null

# A running domain that was never enrolled: --live hot-plugs the patch area
# (and the agent channel, adding a virtio-serial controller when needed).
virsh -c "$HV_URI" undefine "$HV_DOM" >/dev/null
hv_guest_define "$abi" --plain --name "$HV_DOM-live"
virsh -c "$HV_URI" start "$HV_DOM" >/dev/null || hv_fail "plain domain does not start"
hv_wait_console '^HVP-READY' 120 >/dev/null || hv_fail "plain domain did not boot"
out=$("$hv" enroll --live "$HV_DOM") || hv_fail "enroll --live failed: $out"
echo "$out" | grep -q "hot-plugged now" || hv_fail "enroll --live did not hot-plug: $out"
echo "$out" | grep -q "shut down and started again" || hv_fail "enroll --live did not say memfd needs a restart: $out"
virsh -c "$HV_URI" dumpxml "$HV_DOM" | grep -q "<model type='ivshmem-plain'/>" ||
	hv_fail "the running domain has no patch area after --live"

out=$("$hv" enroll no-such-domain-$$ 2>&1) && hv_fail "enrolling a missing domain succeeded"
echo "$out" | grep -q "no domain named 'no-such-domain-$$'" || hv_fail "unclear error for a missing domain: $out"
hv_log "enroll works on stopped and running domains"
