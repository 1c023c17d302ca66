#!/bin/sh
# A function of a module replaced live, on the newest pinned kernel, with
# docs/examples/module-binfmt (binfmt_misc:bm_status_read, which reads the
# module's static "enabled" through a manifest symbol line, plus the
# kernel's cmdline_proc_show):
#  - build --vmlinux --modules checks the module target and symbol against
#    binfmt_misc.ko; without --modules, and for a function the module does
#    not have, build and apply refuse with the same sentence;
#  - pending: applied while binfmt_misc is not loaded, the kernel part is
#    patched, the module part is reported pending (apply and status, exit 4);
#  - the module loaded, status says so; the same level applied again patches
#    it: the guest reads the replacement's text in
#    /proc/sys/fs/binfmt_misc/status, status is clean (exit 0); a loop in
#    the guest reads it while a level change and a revert go through;
#  - revert --to-none gives the guest its original text back;
#  - unloaded while patched: applied again, then the module unloaded inside
#    the guest: status shows the site GONE (exit 4, not healthy); the
#    module loaded again runs its own code; revert --to-none leaves the old
#    memory alone and restores the kernel part;
#  - a crash (HVPATCH_CRASH_AT=written) with the module's site written, the
#    module unloaded before the next command: the reconcile records the
#    operation done, leaves the module's old memory alone (its site and
#    ftrace record), status shows the site GONE; no oops, one boot.
. "$top_srcdir/tests/integration/lib.sh"
HVP="$top_builddir/hvpatch/hvpatch"
EX="$top_srcdir/docs/examples/module-binfmt"
STATUS=/proc/sys/fs/binfmt_misc/status
MOUNT="grep -q binfmt_misc /proc/mounts || mount -t binfmt_misc none /proc/sys/fs/binfmt_misc"

abi=$(hv_abis | tail -n 1)
hv_bundles "$abi"
vml="$HV_CACHE/kernels/$abi/vmlinux"
mods="$HV_CACHE/kernels/$abi/extra"
[ -f "$mods/binfmt_misc.ko" ] || hv_fail "no binfmt_misc.ko in $mods: run 'make test-guests'"
A="--ledger $HV_LEDGER --trusted $HV_TRUSTED --deadline-ms 2000"

# --- build ----------------------------------------------------------------
for lv in 1 2; do
	sed "s/^level = .*/level = module-$lv/" "$EX/manifest" > "$HV_BDIR/module-$lv.manifest"
	"$HVP" build -m "$HV_BDIR/module-$lv.manifest" --vmlinux "$vml" --modules "$mods" \
		-o "$HV_BDIR/module-$lv.hvb" "$EX/module_binfmt.c" > "$HV_BDIR/module-$lv.log" 2>&1 ||
		{ cat "$HV_BDIR/module-$lv.log" >&2; hv_fail "hvpatch build of module-binfmt failed"; }
	"$HVP" sign "$HV_BDIR/module-$lv.hvb" --key "$HV_KEY" >/dev/null || hv_fail "sign failed"
done
grep -q "2 targets found and traceable (1 in modules)" "$HV_BDIR/module-1.log" ||
	hv_fail "build did not check the module target: $(cat "$HV_BDIR/module-1.log")"
"$HVP" show "$HV_BDIR/module-1.hvb" | grep -q "R_X86_64_PC32   binfmt_misc:enabled" ||
	hv_fail "the bundle has no relocation to binfmt_misc:enabled"
if out=$("$HVP" build -m "$HV_BDIR/module-1.manifest" --vmlinux "$vml" -o "$HV_BDIR/x.hvb" \
	"$EX/module_binfmt.c" 2>&1); then
	hv_fail "build --vmlinux without --modules accepted a module target: $out"
fi
echo "$out" | grep -q "give --modules DIR" || hv_fail "build without --modules refused unclearly: $out"

# A function binfmt_misc does not have: refused by build and apply alike.
sed 's/^replace = binfmt_misc:bm_status_read /replace = binfmt_misc:bm_status_reed /' \
	"$HV_BDIR/module-1.manifest" > "$HV_BDIR/bad.manifest"
if out=$("$HVP" build -m "$HV_BDIR/bad.manifest" --vmlinux "$vml" --modules "$mods" \
	-o "$HV_BDIR/bad.hvb" "$EX/module_binfmt.c" 2>&1); then
	hv_fail "build accepted a module function that does not exist: $out"
fi
build_says=$(echo "$out" | grep -o 'bundle module-binfmt replaces binfmt_misc:bm_status_reed[^;]*' | head -n 1)
[ -n "$build_says" ] || hv_fail "build refused the missing function unclearly: $out"
"$HVP" build -m "$HV_BDIR/bad.manifest" --release "$(cat "$HV_CACHE/kernels/$abi/release")" \
	--build-id "$(cat "$HV_CACHE/kernels/$abi/build-id")" -o "$HV_BDIR/bad.hvb" \
	"$EX/module_binfmt.c" > "$HV_BDIR/bad.log" 2>&1 ||
	{ cat "$HV_BDIR/bad.log" >&2; hv_fail "building the bad bundle without a vmlinux failed"; }
"$HVP" sign "$HV_BDIR/bad.hvb" --key "$HV_KEY" >/dev/null || hv_fail "sign failed"

# --- live -------------------------------------------------------------------
hv_guest_start "$abi" --cmd
hv_wait_console '^HVP-READY' 120 >/dev/null || hv_fail "guest did not boot"
hv_wait_console '^HVP-CMD-READY' 10 >/dev/null || hv_fail "the guest takes no commands"
out=$(hv_guest_run "grep -c binfmt_misc /proc/modules") && hv_fail "binfmt_misc is loaded at boot: $out"
base_cmdline=$(hv_guest_run "cat /proc/cmdline") || hv_fail "cat /proc/cmdline failed"

# pending: the module is not loaded.
out=$("$HVP" apply $A "$HV_DOM" "$HV_BDIR/module-1.hvb" 2>&1) || hv_fail "apply module-1 failed: $out"
echo "$out" | grep -q "pending: binfmt_misc:bm_status_read (its module is not loaded" ||
	hv_fail "apply did not report the module part pending: $out"
cl=$(hv_guest_run "cat /proc/cmdline")
[ "$cl" = "${base_cmdline%|} hvpatch_level=module-1|" ] || hv_fail "kernel part not applied: '$cl'"
out=$("$HVP" status $A "$HV_DOM" 2>&1)
rc=$?
[ $rc = 4 ] || hv_fail "status with a pending part exited $rc, not 4: $out"
echo "$out" | grep -q "binfmt_misc:bm_status_read *PENDING: module binfmt_misc is not loaded" ||
	hv_fail "status does not show the pending part: $out"
hv_log "pending while binfmt_misc is not loaded; the kernel part applied"

# The module comes.
st=$(hv_guest_run "modprobe binfmt_misc && $MOUNT && cat $STATUS") || hv_fail "loading binfmt_misc failed: $st"
[ "$st" = "enabled|" ] || hv_fail "binfmt_misc status before its part is applied: '$st'"
out=$("$HVP" status $A "$HV_DOM" 2>&1)
echo "$out" | grep -q "module binfmt_misc is loaded now: apply this level again" ||
	hv_fail "status does not say the module is loaded now: $out"
if out=$("$HVP" apply $A "$HV_DOM" "$HV_BDIR/bad.hvb" 2>&1); then
	hv_fail "apply accepted a module function that does not exist: $out"
fi
echo "$out" | grep -qF "$build_says" ||
	hv_fail "build and apply refuse differently: build '$build_says', apply '$out'"
hv_log "build and apply both refuse: $build_says"

out=$("$HVP" apply --json $A --agent-timeout-ms 10000 "$HV_DOM" "$HV_BDIR/module-1.hvb" 2>&1) ||
	hv_fail "apply module-1 again failed: $out"
echo "$out" | tr -d ' \n' | grep -q '"pending":\[\]' || hv_fail "module part still pending: $out"
# The tenant's agent finds the module's function by its kallsyms line too.
echo "$out" | grep -q '"agent": "acknowledged and verified (2 present, 0 mismatch)' ||
	hv_fail "the guest agent did not verify both sites: $out"
st=$(hv_guest_run "cat $STATUS")
[ "$st" = "enabled hvpatch_level=module-1|" ] || hv_fail "the guest reads '$st' from the patched module"
st=$(hv_guest_run "echo 0 > $STATUS; cat $STATUS; echo 1 > $STATUS")
[ "$st" = "disabled hvpatch_level=module-1|" ] ||
	hv_fail "the replacement does not read the module's own flag: '$st'"
out=$("$HVP" status $A "$HV_DOM" 2>&1) || hv_fail "status after the module part went in: $out"
echo "$out" | grep -q "binfmt_misc:bm_status_read .* ok" || hv_fail "status: $out"
hv_log "module part applied; the guest reads: $st"

# A level change and a revert while the guest reads the file in a loop.
hv_guest_run "(i=0; while [ \$i -lt 1500 ]; do cat $STATUS > /dev/null; i=\$((i+1)); done; echo loop-done > /tmp/loop) > /dev/null 2>&1 &" >/dev/null
out=$("$HVP" apply --json $A "$HV_DOM" "$HV_BDIR/module-2.hvb" 2>&1) || hv_fail "apply module-2 failed: $out"
echo "$out" | grep -q '"sites_changed": 2' || hv_fail "module-1 -> 2 was not one switch of both sites: $out"
st=$(hv_guest_run "cat $STATUS")
[ "$st" = "enabled hvpatch_level=module-1|" ] || hv_fail "module-2 reads '$st'"
"$HVP" revert $A --to-none "$HV_DOM" > /dev/null || hv_fail "revert --to-none failed"
st=$(hv_guest_run "cat $STATUS")
[ "$st" = "enabled|" ] || hv_fail "after revert the module reads '$st'"
cl=$(hv_guest_run "cat /proc/cmdline")
[ "$cl" = "$base_cmdline" ] || hv_fail "after revert /proc/cmdline reads '$cl'"
st=$(hv_guest_run "while [ ! -e /tmp/loop ]; do sleep 1; done; cat /tmp/loop" 180)
[ "$st" = "loop-done|" ] || hv_fail "the read loop did not finish: '$st'"
hv_log "level change and revert under load (1500 reads): the module and kernel read their own code again"

# Unloaded while patched.
"$HVP" apply $A "$HV_DOM" "$HV_BDIR/module-1.hvb" > /dev/null || hv_fail "apply module-1 (3rd) failed"
st=$(hv_guest_run "cat $STATUS")
[ "$st" = "enabled hvpatch_level=module-1|" ] || hv_fail "third apply reads '$st'"
out=$(hv_guest_run "umount /proc/sys/fs/binfmt_misc && rmmod binfmt_misc && echo gone") ||
	hv_fail "unloading binfmt_misc failed: $out"
out=$("$HVP" status $A "$HV_DOM" 2>&1)
rc=$?
[ $rc = 4 ] || hv_fail "status with an unloaded module exited $rc, not 4: $out"
echo "$out" | grep -q "binfmt_misc:bm_status_read .* GONE (its module was unloaded)" ||
	hv_fail "status does not show the unloaded module's site gone: $out"
st=$(hv_guest_run "modprobe binfmt_misc && $MOUNT && cat $STATUS") || hv_fail "reloading binfmt_misc failed: $st"
[ "$st" = "enabled|" ] || hv_fail "the reloaded module reads '$st'"
out=$("$HVP" status $A "$HV_DOM" 2>&1)
echo "$out" | grep -q "GONE" || hv_fail "status after the reload: $out"
out=$("$HVP" revert --json $A --to-none "$HV_DOM" 2>&1) || hv_fail "revert with the module gone failed: $out"
echo "$out" | tr -d ' \n' | grep -q '"module_sites_gone":\["binfmt_misc:bm_status_read"\]' ||
	hv_fail "revert does not say it left the module's old site alone: $out"
cl=$(hv_guest_run "cat /proc/cmdline")
[ "$cl" = "$base_cmdline" ] || hv_fail "after the last revert /proc/cmdline reads '$cl'"
st=$(hv_guest_run "cat $STATUS")
[ "$st" = "enabled|" ] || hv_fail "the reloaded module reads '$st'"

# A crash with the module's site written, then the module unloaded before
# the next command: the reconcile leaves its old memory alone.
st=$(hv_guest_run "grep -q binfmt_misc /proc/mounts && cat $STATUS") || hv_fail "binfmt_misc not ready: $st"
HVPATCH_CRASH_AT=written "$HVP" apply $A "$HV_DOM" "$HV_BDIR/module-1.hvb" > /dev/null 2>&1 &&
	hv_fail "apply did not stop at the crash point"
end=$(($(date +%s) + 10))
while [ "$(hv_domstate)" != running ]; do
	[ "$(date +%s)" -lt "$end" ] || hv_fail "the guest was left $(hv_domstate) after the crash"
	sleep 0.2
done
out=$(hv_guest_run "umount /proc/sys/fs/binfmt_misc && rmmod binfmt_misc && echo gone") ||
	hv_fail "unloading binfmt_misc after the crash failed: $out"
out=$("$HVP" status $A "$HV_DOM" 2>&1)
rc=$?
echo "$out" | grep -q "reconciled: .*[0-9] writes* into modules unloaded since w[a-z]* left alone" ||
	hv_fail "the reconcile did not leave the unloaded module's site alone (exit $rc): $out"
# Every write had landed: the operation is done, and the module's site is
# gone with the module.
echo "$out" | grep -q "recorded as done" || hv_fail "the reconcile did not record the operation done: $out"
[ $rc = 4 ] || hv_fail "status after the reconcile exited $rc, not 4: $out"
echo "$out" | grep -q "binfmt_misc:bm_status_read .* GONE" || hv_fail "status after the reconcile: $out"
cl=$(hv_guest_run "cat /proc/cmdline")
[ "$cl" = "${base_cmdline%|} hvpatch_level=module-1|" ] || hv_fail "after the reconcile /proc/cmdline reads '$cl'"
"$HVP" revert $A --to-none "$HV_DOM" > /dev/null || hv_fail "revert after the reconcile failed"
cl=$(hv_guest_run "cat /proc/cmdline")
[ "$cl" = "$base_cmdline" ] || hv_fail "after the last revert /proc/cmdline reads '$cl'"
hv_log "crash, then the module unloaded: the reconcile closed the operation and left the module's old memory alone"

grep -qE 'Oops|BUG: |Kernel panic|invalid opcode' "$HV_CONSOLE" && hv_fail "the guest oopsed: $(grep -E -m 3 'Oops|BUG: |invalid opcode' "$HV_CONSOLE")"
[ "$(grep -c '^HVP-READY' "$HV_CONSOLE")" = 1 ] || hv_fail "the guest rebooted"
hv_log "unloaded while patched: shown GONE, reloaded module runs its own code, revert left it alone"
exit 0
