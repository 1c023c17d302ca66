#!/bin/sh
# The patch area belongs to one domain and is read-only to the guest.
#   (a) guest root writes its area with busybox devmem at the BAR2 address
#       and through an mmap of /sys/bus/pci/devices/X/resource2: the host
#       reads the area back (the file and hvpatch peek) unchanged, the guest
#       keeps running, and apply and status still work after.
#   (b) a second domain given the first one's area file (a clone that kept
#       its template's device): status and apply refuse on both, naming both
#       domains; enroll refuses to give the first domain an area the second
#       already uses.
#   (c) the guest moves BAR2 over its own RAM (config space): apply refuses,
#       naming the overlap, and nothing of the area lands in RAM.
#   (d) the area file with a second link, a symlink in its place, a foreign
#       owner, or replaced after QEMU opened it: refused, naming the file.
# Adversary: the tenant with root in the guest.
. "$top_srcdir/tests/integration/lib.sh"
HVP="$top_builddir/hvpatch/hvpatch"
abi=$(hv_abis | tail -n 1)

hv_bundles "$abi"
A="--ledger $HV_LEDGER --trusted $HV_TRUSTED"

# word FILE OFFSET: the little-endian 32-bit word at OFFSET of FILE, as 0x%08x.
word() {
	printf '0x%s\n' "$(od -An -v -tx4 -j "$2" -N 4 "$1" | tr -d ' ')"
}
# put FILE OFFSET 'OCTAL ESCAPES': the host writes the area file directly.
put() {
	# shellcheck disable=SC2059
	printf "$3" | dd of="$1" bs=1 seek="$2" conv=notrunc 2>/dev/null
}

hv_guest_start "$abi" --cmdline "hvp_area=1"
dom_a=$HV_DOM xml_a=$HV_XML
area_a=${HV_AREA_FILE:-/dev/shm/$HV_SHM_NAME}
hv_wait_console '^HVP-READY' 120 >/dev/null || hv_fail "guest did not boot"
ready=$(hv_wait_console '^HVP-AREA-READY ' 10) || hv_fail "the guest found no patch area"
bar=$(echo "$ready" | sed 's/.* bar2=\(0x[0-9a-f]*\).*/\1/')
size=$(echo "$ready" | sed 's/.* size=\(0x[0-9a-f]*\).*/\1/')
req=$((size - 4096))
hv_log "area of $dom_a: $area_a at guest-physical $bar, $size bytes"

# (a) Known bytes in the pages the guest attacks, then the request.
put "$area_a" 0 '\021\042\063\104'
put "$area_a" 4096 '\125\146\167\210'
put "$area_a" 8192 '\231\252\273\314'
from=$(hv_console_lines)
put "$area_a" "$req" '\101\120\126\110' # "APVH": the word 0x48565041
before=$(sha256sum < "$area_a")
hv_wait_console '^HVP-AREA-DONE' 30 "$from" >/dev/null || hv_fail "the guest did not attack its area"
dm=$(hv_wait_console '^HVP-AREA-DEVMEM ' 1 "$from")
mm=$(hv_wait_console '^HVP-AREA-MMAP ' 1 "$from")
hv_log "guest: $dm"
hv_log "guest: $mm"
echo "$mm" | grep -q 'wrote=0x42424242' || hv_fail "the guest's mmap write did not run: $mm"
[ "$(word "$area_a" 0)" = 0x44332211 ] || hv_fail "guest root's devmem write changed the area's page 0: $(word "$area_a" 0)"
[ "$(word "$area_a" 4096)" = 0x88776655 ] || hv_fail "guest root's devmem write changed the area's page 1"
[ "$(word "$area_a" "$req")" = 0x48565041 ] || hv_fail "guest root's devmem write changed the request word"
[ "$(word "$area_a" 8192)" = 0xccbbaa99 ] || hv_fail "guest root's mmap write changed the area: $(word "$area_a" 8192)"
[ "$(sha256sum < "$area_a")" = "$before" ] || hv_fail "the guest changed its area file"
# What the guest itself reads back is the host's bytes, not its own.
echo "$dm" | grep -q 'at0=0x44332211 at1000=0x88776655 req=0x48565041' ||
	hv_fail "the guest read back its own writes: $dm"
echo "$mm" | grep -q 'before=0xCCBBAA99 .*after=0xCCBBAA99\|before=0xccbbaa99 .*after=0xccbbaa99' ||
	hv_fail "the guest's mmap read back its own write: $mm"
pk=$("$HVP" peek --json --phys "$bar" "$dom_a" 4 | sed -n 's/.*"hex": "\([0-9a-f]*\)".*/\1/p')
[ "$pk" = 11223344 ] || hv_fail "hvpatch peek of the area reads '$pk', not the host's bytes"
hv_wait_console '^HVP-TICK ' 10 "$(hv_console_lines)" >/dev/null || hv_fail "the guest stopped after writing its area"
# Clean the attack page for hvpatch, then apply and status work.
dd if=/dev/zero of="$area_a" bs=4096 count=3 conv=notrunc 2>/dev/null
base=$(hv_obs cmdline) || hv_fail "no probe output"
out=$("$HVP" apply $A "$dom_a" "$HV_BDIR/cmdline-level.hvb" 2>&1) || hv_fail "apply after the attack failed: $out"
[ "$(hv_obs cmdline)" = "$base hvpatch_level=2026.11-1" ] || hv_fail "the guest does not run the level"
st=$("$HVP" status $A "$dom_a" 2>&1) || hv_fail "status after the attack failed: $st"
hv_log "(a) guest-root writes to the area were dropped; apply and status work"

# (d) The area file itself: a second name (hard link), a symlink in its
# place, a foreign owner: every command refuses, naming the file.
refuse_file() { # WHAT REGEX
	if out=$("$HVP" status $A "$dom_a" 2>&1); then hv_fail "status accepted an area file with $1: $out"; fi
	echo "$out" | grep -q "$2" || hv_fail "status on an area file with $1: unclear error: $out"
	hv_log "(d) $1: $(echo "$out" | tail -n 1 | sed 's/.*(nothing was changed): //' | cut -c1-200)"
}
ln "$area_a" "$area_a.link"
HV_FILES="$HV_FILES $area_a.link $area_a.real"
refuse_file "two links" "patch-area file $area_a has 2 links"
rm -f "$area_a.link"
mv "$area_a" "$area_a.real" && ln -s "$area_a.real" "$area_a"
refuse_file "a symlink in its place" "cannot open the patch-area file $area_a: .*symlink"
rm -f "$area_a" && mv "$area_a.real" "$area_a"
chown 1 "$area_a"
refuse_file "a foreign owner" "patch-area file $area_a must be a regular file owned by root"
chown 0 "$area_a"
mv "$area_a" "$area_a.real" && cp -p "$area_a.real" "$area_a"
refuse_file "a file replaced after QEMU opened it" "does not map the patch-area file $area_a"
mv "$area_a.real" "$area_a"
st=$("$HVP" status $A "$dom_a" 2>&1) || hv_fail "status on the restored area file failed: $st"


# (b) A second domain whose definition points at the first one's area
# file (enrolled, then its mem-path changed, as a clone keeps it).
con_a=$HV_CONSOLE
hv_guest_xml "$abi" --name "hvt-$HV_RUN_ID-$HV_TEST-b-$$" --cmdline "hvp_area=1"
dom_b=$HV_DOM area_b=${HV_AREA_FILE:-/dev/shm/$HV_SHM_NAME}
sed -e "s|mem-path=$area_b,|mem-path=$area_a,|" -e "s|<shmem name='$HV_SHM_NAME'>|<shmem name='${area_a#/dev/shm/}'>|" \
	"$HV_XML" > "$HV_XML.shared"
HV_FILES="$HV_FILES $HV_XML.shared"
grep -q -e "mem-path=$area_a," -e "<shmem name='${area_a#/dev/shm/}'>" "$HV_XML.shared" ||
	hv_fail "cannot point the second domain at the first one's area"
out=$(virsh -c "$HV_URI" create "$HV_XML.shared" 2>&1) || hv_fail "cannot start the second domain: $out"
hv_wait_console '^HVP-AREA-READY ' 120 >/dev/null || hv_fail "the second domain did not boot"
if out=$("$HVP" status $A "$dom_b" 2>&1); then hv_fail "status on a domain using another's area succeeded: $out"; fi
echo "$out" | grep -q "$dom_b" && echo "$out" | grep -q "$dom_a" ||
	hv_fail "status on the second domain does not name both domains: $out"
hv_log "(b) second domain: $(echo "$out" | tail -n 1 | cut -c1-300)"
snap_a=$(sha256sum < "$area_a")
if out=$("$HVP" apply $A "$dom_b" "$HV_BDIR/cmdline-level.hvb" 2>&1); then
	hv_fail "apply on a domain using another's area succeeded: $out"
fi
echo "$out" | grep -q "$dom_b" && echo "$out" | grep -q "$dom_a" ||
	hv_fail "apply on the second domain does not name both domains: $out"
[ "$(sha256sum < "$area_a")" = "$snap_a" ] || hv_fail "the refused apply changed the shared area"
if out=$("$HVP" status $A "$dom_a" 2>&1); then hv_fail "status on a domain whose area another maps succeeded: $out"; fi
echo "$out" | grep -q "also mapped by QEMU pid [0-9]* of domain '$dom_b'" && echo "$out" | grep -q "$dom_a" ||
	hv_fail "status on the first domain does not name both domains: $out"
hv_log "(b) first domain: $(echo "$out" | tail -n 1 | cut -c1-300)"
cp "$xml_a" "$xml_a.again"
HV_FILES="$HV_FILES $xml_a.again"
if out=$("$HVP" enroll --xml-file "$xml_a.again" 2>&1); then
	hv_fail "enroll gave the first domain an area the second uses: $out"
fi
echo "$out" | grep -q "of domain '$dom_a' .* already used by domain '$dom_b'" ||
	hv_fail "enroll does not name both domains: $out"
virsh -c "$HV_URI" destroy "$dom_b" >/dev/null
hv_log "(b) enroll: $(echo "$out" | tail -n 1 | cut -c1-300)"
HV_DOM=$dom_a HV_CONSOLE=$con_a
[ "$(hv_obs cmdline)" = "$base hvpatch_level=2026.11-1" ] || hv_fail "the first domain lost its level"

# (c) The guest moves BAR2 over its RAM at 0x10000000: apply refuses, and no
# area record appears in that RAM (read from QEMU's memfd directly).  The
# level goes first: its page-directory entry points at the old BAR address,
# and a guest that moves its area away from under its own patched code
# crashes itself.
out=$("$HVP" revert $A "$dom_a" 2>&1) || hv_fail "revert failed: $out"
[ "$(hv_obs cmdline)" = "$base" ] || hv_fail "the revert did not restore the guest's output"
qpid=$(cat "/run/libvirt/qemu/$dom_a.pid")
memfd=""
for f in /proc/$qpid/fd/*; do
	case "$(readlink "$f")" in /memfd:*) memfd=$f ;; esac
done
[ -n "$memfd" ] || hv_fail "cannot find the guest RAM memfd of $dom_a"
ram_magic() {
	dd if="$memfd" bs=4096 skip=$((0x10000000 / 4096)) count=1 2>/dev/null | head -c 8
}
from=$(hv_console_lines)
put "$area_a" "$req" '\105\126\117\115' # "EVOM": the word 0x4d4f5645
moved=$(hv_wait_console '^HVP-AREA-MOVED ' 30 "$from") || hv_fail "the guest did not move its BAR"
hv_log "guest: $moved"
echo "$moved" | grep -q 'MOVED 00000000100000[0-9a-f][0-9a-f]$' || hv_fail "the guest's BAR2 is not over its RAM: $moved"
if out=$("$HVP" apply $A "$dom_a" "$HV_BDIR/hostname-check.hvb" 2>&1); then
	hv_fail "apply with the area over RAM succeeded: $out"
fi
echo "$out" | grep -q "over its RAM at 0x0\.\.0x" || hv_fail "apply does not name the overlap with RAM: $out"
[ "$(ram_magic)" != HVPAREA1 ] || hv_fail "hvpatch wrote its area record into the guest's RAM"
hv_wait_console '^HVP-TICK ' 10 "$(hv_console_lines)" >/dev/null || hv_fail "the guest stopped"
[ "$(hv_domstate)" = running ] || hv_fail "the guest is $(hv_domstate) after the refused apply"
hv_log "(c) $(echo "$out" | tail -n 1 | cut -c1-300)"
