#!/bin/sh
# hvpatch trusts only the host: what it restores, what status shows and
# how reconcile closes an interrupted operation come from the ledger and
# from bytes read back, never from the patch area's record or a key the
# guest derives.  Each tampering write below is made from the host with
# 'hvpatch poke' and stands for one adversary, named where it is made:
#  - "area writer": whoever can write the patch area.  Before the area was
#    read-only to the guest that was guest root (busybox devmem at BAR2);
#    now it is a host-side bug or an old enrolment's shared area;
#  - "guest kernel": a compromised guest kernel, which can always write its
#    own text and page tables (stock KVM cannot stop it).
# Cases:
#  1. a forged "original bytes" in the record: revert restores the ledger's
#     bytes (the ftrace NOP), never the forged ones;
#  2. the record's level string, then its magic: status exits 3 naming the
#     record, shows the ledger's level and the record's as guest-reported;
#     a ledger that knows no level while the record claims one exits 3;
#  3. a site's jump bytes (guest kernel), then a silent unpatch hidden by
#     the record: status exits 3 naming the site, expected and found;
#  4. the page-directory entry that maps the patch area (guest kernel):
#     status exits 3 naming it;
#  5. hvpatch killed after its last write, then the guest fakes a new boot
#     (its kernel page directory moved, which changes the boot key):
#     reconcile closes the operation as done (the bytes say so), not as
#     rolled back, and status exits 3 naming the lie;
#  7. (5b) killed again and the site rewritten: the operation stays open
#     (status exits 3, apply refuses) until the bytes are one or the other;
#  6. a level older than the installed one is refused unless
#     --allow-downgrade.
# Each case starts and ends with no level applied; HV_TAMPER_CASES="2 4"
# runs only those (to watch each fail against an older hvpatch).
. "$top_srcdir/tests/integration/lib.sh"
HVP="$top_builddir/hvpatch/hvpatch"

abi=$(hv_abis | tail -n 1)
hv_bundles "$abi"
A="--ledger $HV_LEDGER --trusted $HV_TRUSTED --deadline-ms 2000"
OTHER_LEDGER="${HV_LEDGER%/*}/$HV_TEST-$$-other.db"
HV_FILES="$HV_FILES $OTHER_LEDGER $OTHER_LEDGER-wal $OTHER_LEDGER-shm"
hv_guest_start "$abi"
hv_wait_console '^HVP-READY' 120 >/dev/null || hv_fail "guest did not boot"
base=$(hv_obs cmdline) || hv_fail "no cmdline probe output"

poke() { # GPA HEX
	"$HVP" poke --deadline-ms 2000 --phys "$1" --yes "$HV_DOM" "$2" >/dev/null ||
		hv_fail "poke of $2 at $1 failed"
}
peek() { # GPA LEN -> hex (check it: a failure here cannot stop the test)
	"$HVP" peek --json --phys "$1" "$HV_DOM" "$2" | sed -n 's/.*"hex": "\([0-9a-f]*\)".*/\1/p'
}
hx() { printf '0x%x' "$1"; }
# status [LEDGER]: ST gets the JSON, RC the exit status.
status() {
	RC=0
	ST=$("$HVP" status --json --ledger "${1:-$HV_LEDGER}" --trusted "$HV_TRUSTED" "$HV_DOM" 2>&1) || RC=$?
}
jget() { # top-level JSON string or number
	echo "$ST" | sed -n "s/^  \"$1\": \"\{0,1\}\([^\",]*\)\"\{0,1\},\{0,1\}$/\1/p" | head -n 1
}
expect_clean() { # WHEN
	status
	[ "$RC" -eq 0 ] || hv_fail "$1: status exit $RC, expected 0: $ST"
	echo "$ST" | grep -q '"tampered": [1-9]' && hv_fail "$1: status reports tampering: $ST"
	return 0
}
expect_tamper() { # WHEN REGEX...
	when=$1
	shift
	status
	[ "$RC" -eq 3 ] || hv_fail "$when: status exit $RC, expected 3 (tampering): $ST"
	for re in "$@"; do
		echo "$ST" | grep -Eq "$re" || hv_fail "$when: status does not say '$re': $ST"
	done
	hv_log "$when: status exit 3: $(echo "$ST" | grep '"detail"' | head -n 1 | cut -c1-220)"
}
want() {
	case " ${HV_TAMPER_CASES:-1 2 3 4 5 6 7} " in
	*" $1 "*) return 0 ;;
	esac
	return 1
}
revert_none() { # WHEN
	out=$("$HVP" revert --to-none $A "$HV_DOM" 2>&1) || hv_fail "$1: revert failed: $out"
	[ "$(hv_obs cmdline)" = "$base" ] || hv_fail "$1: the revert left the patch"
}
apply1() {
	"$HVP" apply $A "$HV_DOM" "$HV_BDIR/cmdline-level.hvb" >/dev/null || hv_fail "$1: apply of level 1 failed"
}

site_va=$("$HVP" sym --json "$HV_DOM" cmdline_proc_show | sed -n 's/.*"addr": "0x\([0-9a-f]*\)".*/\1/p')
site=$(hv_hmp "gva2gpa 0x$site_va" | tr -d '\r' | awk '/^gpa:/ { print $2 }')
[ -n "$site" ] || hv_fail "no guest-physical address for cmdline_proc_show"
l2=$("$HVP" inspect --json "$HV_DOM" | sed -n 's/.*"l2_gpa": "\(0x[0-9a-f]*\)".*/\1/p')
[ -n "$l2" ] || hv_fail "inspect gave no l2_gpa"
expect_clean "unpatched"
pgd=$(jget page_table_gpa)
area=$(jget patch_area_gpa)
[ -n "$pgd" ] && [ -n "$area" ] || hv_fail "status gave no page_table_gpa or patch_area_gpa: $ST"
# Offsets in the record (hvpatch/apply/state.h): nsites 12, active_slot 20,
# level 112, the first site's saved original bytes 296.
R_NSITES=$(hx $((area + 12))) R_SLOT=$(hx $((area + 20))) R_LEVEL=$(hx $((area + 112)))
R_ORIG=$(hx $((area + 296)))

# --- 1. forged original bytes ---------------------------------------------
if want 1; then
apply1 "case 1"
[ "$(hv_obs cmdline)" = "$base hvpatch_level=2026.11-1" ] || hv_fail "level 1 does not show"
[ "$(peek "$R_ORIG" 5)" = 0f1f440000 ] || hv_fail "the record does not keep the ftrace NOP at offset 296"
# Area writer: the saved original bytes become "xor eax,eax; ret; nop; nop",
# which would silence /proc/cmdline if a revert wrote them back.
poke "$R_ORIG" 31c0c39090
out=$("$HVP" revert $A "$HV_DOM" 2>&1) || hv_fail "revert over a forged record failed: $out"
now=$(peek "$site" 5)
[ "$now" = 0f1f440000 ] || hv_fail "revert wrote $now (the forged record's bytes) into cmdline_proc_show"
[ "$(hv_obs cmdline)" = "$base" ] || hv_fail "after the revert /proc/cmdline is '$(hv_obs cmdline)'"
expect_clean "after reverting over a forged record"
hv_log "1: revert restored the ledger's bytes ($now), not the record's forged 31c0c39090"

fi

# --- 2. the record's level string and magic ----------------------------------
if want 2; then
apply1 "case 2"
expect_clean "level 1 applied"
# Area writer: the level string, as in the issue's report.
poke "$R_LEVEL" 41414141
expect_tamper "record level altered" '"what": "patch-area record"' \
	"level: the ledger says '2026.11-1', the record says 'AAAA.11-1'" '"level": "2026.11-1"' \
	'"level": "AAAA.11-1"'
txt=$("$HVP" status $A "$HV_DOM" 2>&1) && hv_fail "text status exited 0 over an altered record"
echo "$txt" | grep -q "level (ledger): 2026.11-1" || hv_fail "text status does not show the ledger's level: $txt"
echo "$txt" | grep -q "guest-reported: the patch-area record says level AAAA.11-1" ||
	hv_fail "text status does not label the record guest-reported: $txt"
echo "$txt" | grep -q "TAMPERING" || hv_fail "text status does not say TAMPERING: $txt"
# Area writer: devmem 0x41414141 over page 0, exactly the issue's report.
poke "$area" 41414141
expect_tamper "record magic overwritten" "no longer holds a record" '"level": "2026.11-1"' \
	'"state": "invalid"|"state": "none"'
out=$("$HVP" revert $A "$HV_DOM" 2>&1) || hv_fail "revert over an overwritten record failed: $out"
[ "$(hv_obs cmdline)" = "$base" ] || hv_fail "revert over an overwritten record left the patch"
expect_clean "after reverting over an overwritten record"
# A ledger that knows no level in this boot while the record claims one.
apply1 "case 2b"
status "$OTHER_LEDGER"
[ "$RC" -eq 3 ] || hv_fail "a ledger knowing no level, a record claiming one: status exit $RC: $ST"
echo "$ST" | grep -q "the ledger knows no level hvpatch installed" || hv_fail "disagreement not named: $ST"
revert_none "case 2"
hv_log "2: the altered record, the overwritten magic and a ledger/record disagreement each exit 3"

fi

# --- 3. a site's jump ---------------------------------------------------------
if want 3; then
apply1 "case 3"
jmp=$(peek "$site" 5)
[ "$(echo "$jmp" | cut -c1-2)" = e9 ] || hv_fail "the site holds $jmp, not a jump"
# Guest kernel: its own text; e9 00000000 jumps to the next instruction,
# i.e. the unpatched function runs again.
poke "$site" e900000000
expect_tamper "site jump rewritten" '"what": "site cmdline_proc_show"' "\"expected\": \"$jmp\"" \
	'"found": "e900000000"' '"drifted": 1'
poke "$site" "$jmp"
expect_clean "site repaired"
# Guest kernel + area writer: a silent unpatch hidden by the record (no
# level, no sites).  Status used to print "level: none" and exit 0.
slot=$(peek "$R_SLOT" 4)
[ -n "$slot" ] || hv_fail "cannot read the record's slot"
poke "$site" 0f1f440000
poke "$R_NSITES" 00000000
poke "$R_SLOT" ffffffff
[ "$(hv_obs cmdline)" = "$base" ] || hv_fail "the silent unpatch did not take"
expect_tamper "silent unpatch hidden by the record" '"what": "site cmdline_proc_show"' \
	'"found": "0f1f440000"' '"what": "patch-area record"' '"level": "2026.11-1"'
poke "$site" "$jmp"
poke "$R_NSITES" 01000000
poke "$R_SLOT" "$slot"
expect_clean "site and record repaired"
revert_none "case 3"
hv_log "3: a rewritten jump and a hidden unpatch each exit 3 naming the site"

fi

# --- 4. the page-directory entry ------------------------------------------------
if want 4; then
apply1 "case 4"
status
pd=$(jget pd_index)
[ -n "$pd" ] || hv_fail "status gave no pd_index"
pde_at=$(hx $((l2 + 8 * pd)))
pde=$(peek "$pde_at" 8)
[ ${#pde} -eq 16 ] || hv_fail "cannot read the page-directory entry at $pde_at"
b1=$(echo "$pde" | cut -c3-4)
# Guest kernel: its own page tables; bit 9 is ignored by the CPU, so the
# guest keeps running as before.
bad=$(echo "$pde" | cut -c1-2)$(printf '%02x' $((0x$b1 | 0x02)))$(echo "$pde" | cut -c5-16)
poke "$pde_at" "$bad"
expect_tamper "page-directory entry altered" "\"what\": \"page-directory entry $pd\"" \
	"\"found\": \"$bad\""
poke "$pde_at" "$pde"
expect_clean "page-directory entry repaired"
revert_none "case 4"
hv_log "4: the altered page-directory entry exits 3 naming entry $pd"

fi

# --- 5. crash, then a faked new boot --------------------------------------------
if want 5; then
l3=$(peek "$(hx $((pgd + 511 * 8)))" 8)
[ ${#l3} -eq 16 ] || hv_fail "cannot read PGD[511]"
le() { echo "$1" | sed 's/\(..\)/\1 /g' | awk '{ for (i = NF; i > 0; i--) printf "%s", $i }'; }
l3_gpa=$(hx $((0x$(le "$l3") & 0x000ffffffffff000)))
e510_at=$(hx $((l3_gpa + 510 * 8)))
e510=$(peek "$e510_at" 8)
[ $(($(le "$e510" | sed 's/^/0x/') & 0x000ffffffffff000)) -eq $((l2)) ] ||
	hv_fail "level3[510] ($e510) does not point at the kernel-image page directory $l2"
rc=0
HVPATCH_CRASH_AT=written "$HVP" apply $A "$HV_DOM" "$HV_BDIR/cmdline-level.hvb" >/dev/null 2>&1 || rc=$?
[ $rc -eq 137 ] || hv_fail "apply did not die after its last write (exit $rc)"
n=0
while [ "$(hv_domstate)" != running ] && [ $n -lt 50 ]; do sleep 0.1; n=$((n + 1)); done
# Guest kernel: a copy of its kernel-image page directory in reserved low
# memory (the first 64 KiB, which Linux never uses), and level3[510]
# pointed at it.  The page walk finds the same mappings; the boot key,
# which hvpatch derives from the directory's address, changes.
copy=0x9000
l2page=$(peek "$l2" 4096)
[ ${#l2page} -eq 8192 ] || hv_fail "cannot read the kernel-image page directory"
poke "$copy" "$l2page"
poke "$e510_at" "$(echo "$e510" | cut -c1-2)$(printf '%02x' $((0x$(echo "$e510" | cut -c3-4) & 0x0f | 0x90)))0000000000$(echo "$e510" | cut -c15-16)"
expect_tamper "crash, then a faked new boot" '"what": "boot"' "did not reboot" \
	'"reconciled": "operation [0-9]* \(apply to 2026.11-1\) was interrupted after its last write'
[ "$(hv_obs cmdline)" = "$base hvpatch_level=2026.11-1" ] || hv_fail "the level did not stay in the guest"
poke "$e510_at" "$e510"
status
[ "$RC" -eq 0 ] && [ "$(jget level)" = 2026.11-1 ] ||
	hv_fail "after the page directory is back, status exit $RC: $ST"
out=$("$HVP" revert $A "$HV_DOM" 2>&1) || hv_fail "revert after the faked boot failed: $out"
[ "$(hv_obs cmdline)" = "$base" ] || hv_fail "the revert after the faked boot left the patch"
hv_log "5: after a crash the faked boot did not get the operation closed as rolled back"
fi

# --- 7 (5b). crash, then a site holding neither ----------------------------------
if want 7; then
# Guest kernel, after another crash: the patched entry holds neither the
# NOP nor the jump.  The operation stays open; nothing runs over it.
rc=0
HVPATCH_CRASH_AT=written "$HVP" apply $A "$HV_DOM" "$HV_BDIR/cmdline-level.hvb" >/dev/null 2>&1 || rc=$?
[ $rc -eq 137 ] || hv_fail "apply did not die after its last write (exit $rc)"
n=0
while [ "$(hv_domstate)" != running ] && [ $n -lt 50 ]; do sleep 0.1; n=$((n + 1)); done
jmp=$(peek "$site" 5)
[ "$(echo "$jmp" | cut -c1-2)" = e9 ] || hv_fail "the site holds $jmp after the crash, not a jump"
poke "$site" e900000000
expect_tamper "crash, then a site holding neither" '"what": "open operation"' \
	"stays open: the guest holds neither the old nor the new bytes of 1 of its"
if out=$("$HVP" apply $A "$HV_DOM" "$HV_BDIR/hostname-check.hvb" 2>&1); then
	hv_fail "apply over an open operation the guest tampered with succeeded: $out"
fi
echo "$out" | grep -q "neither the old nor the new bytes" || hv_fail "unclear refusal: $out"
poke "$site" "$jmp"
status
[ "$RC" -eq 0 ] && [ "$(jget level)" = 2026.11-1 ] && echo "$ST" | grep -q 'recorded as done' ||
	hv_fail "with the site repaired, status exit $RC: $ST"
out=$("$HVP" revert $A "$HV_DOM" 2>&1) || hv_fail "revert failed: $out"
[ "$(hv_obs cmdline)" = "$base" ] || hv_fail "the revert left the patch"
hv_log "5b: an interrupted operation whose bytes the guest changed stayed open until repaired"

fi

# --- 6. downgrade -----------------------------------------------------------------
if want 6; then
"$HVP" apply $A "$HV_DOM" "$HV_BDIR/hostname-check.hvb" >/dev/null || hv_fail "apply of level 2 failed"
if out=$("$HVP" apply $A "$HV_DOM" "$HV_BDIR/cmdline-level.hvb" 2>&1); then
	hv_fail "applying level 2026.11-1 over 2026.11-2 succeeded: $out"
fi
echo "$out" | grep -q "older than level 2026.11-2" && echo "$out" | grep -q -- "--allow-downgrade" ||
	hv_fail "unclear downgrade refusal: $out"
[ "$(hv_obs hostname-check)" = bad-hostname=refused ] || hv_fail "the refused downgrade changed the guest"
out=$("$HVP" apply --allow-downgrade $A "$HV_DOM" "$HV_BDIR/cmdline-level.hvb" 2>&1) ||
	hv_fail "--allow-downgrade did not allow it: $out"
[ "$(hv_obs hostname-check)" = bad-hostname=accepted ] || hv_fail "the downgrade did not take"
"$HVP" revert --to-none $A "$HV_DOM" >/dev/null || hv_fail "revert --to-none failed"
[ "$(hv_obs cmdline)" = "$base" ] || hv_fail "revert --to-none left a patch"
hv_log "6: a downgrade is refused unless --allow-downgrade"

fi

grep -qE 'Oops|BUG: |Kernel panic' "$HV_CONSOLE" && hv_fail "the guest kernel complained"
[ "$(grep -c '^HVP-RELEASE ' "$HV_CONSOLE")" -eq 1 ] || hv_fail "the guest rebooted"
virsh -c "$HV_URI" destroy "$HV_DOM" >/dev/null
