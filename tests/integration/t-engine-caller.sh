#!/bin/sh
# The apply engine driven by a second caller (tests/integration/engine_caller,
# which calls hvp_session_open/hvp_apply/hvp_revert/hvp_status directly)
# gets the same guarantees as the hvpatch CLI:
#   - one caller at a time per domain: while one holds a session, the other
#     (either way round) is refused with "another hvpatch is working on this
#     domain", and nothing changes;
#   - an operation one caller left open when it was killed is reconciled by
#     the other: undone when only part of it landed, recorded as done when
#     all of it did; the guest prints what the level says.
. "$top_srcdir/tests/integration/lib.sh"
HVP="$top_builddir/hvpatch/hvpatch"
EC="$top_builddir/tests/integration/engine_caller"
[ -x "$EC" ] || hv_fail "$EC is not built (make all)"
abi=$(hv_abis | tail -n 1)

hv_bundles "$abi"
A="--ledger $HV_LEDGER --trusted $HV_TRUSTED"
hv_guest_start "$abi"
hv_wait_console '^HVP-READY' 180 >/dev/null || hv_fail "guest did not boot"
base=$(hv_obs cmdline) || hv_fail "no probe output"
new="$base hvpatch_level=2026.11-1"
fifo="$HV_RUNDIR/$HV_DOM.hold"
HV_FILES="$HV_FILES $fifo"

# hold_with CMD...: run CMD (which prints HOLDING once it holds the lock) with
# its standard input on a fifo; returns once it holds the lock.
hold_with() {
	rm -f "$fifo"
	mkfifo "$fifo"
	"$@" < "$fifo" > "$fifo.out" 2>&1 &
	holder=$!
	exec 7> "$fifo"
	n=0
	until grep -q HOLDING "$fifo.out" 2>/dev/null; do
		n=$((n + 1))
		[ $n -lt 300 ] || hv_fail "the holder never held the session: $(cat "$fifo.out")"
		sleep 0.1
	done
}
release() {
	echo go >&7
	exec 7>&-
	wait "$holder" || hv_fail "the holder failed: $(cat "$fifo.out")"
}
HV_FILES="$HV_FILES $fifo.out"

# 1. The second caller holds the domain: the CLI is refused, nothing changes.
hold_with "$EC" $A --hold "$HV_DOM" status
if out=$("$HVP" apply $A "$HV_DOM" "$HV_BDIR/cmdline-level.hvb" 2>&1); then
	hv_fail "the CLI applied while the second caller held the domain: $out"
fi
echo "$out" | grep -q "another hvpatch is working on this domain" ||
	hv_fail "unclear refusal while the domain was held: $out"
release
[ "$(hv_obs cmdline)" = "$base" ] || hv_fail "the refused apply changed the guest"
hv_log "the CLI is refused while the second caller holds the domain"

# 2. The other way round: a second caller is refused by the first.
hold_with "$EC" $A --hold "$HV_DOM" status
out=$("$EC" $A "$HV_DOM" apply "$HV_BDIR/cmdline-level.hvb" 2>&1) &&
	hv_fail "two engine callers held the domain at once: $out"
echo "$out" | grep -q "another hvpatch is working on this domain" ||
	hv_fail "unclear refusal of the second engine caller: $out"
release
hv_log "a second engine caller is refused while the first holds the domain"

# 3. The CLI dies after its first write; the engine caller reconciles (undo).
rc=0
HVPATCH_CRASH_AT=first-write "$HVP" apply $A --deadline-ms 2000 "$HV_DOM" \
	"$HV_BDIR/cmdline-level.hvb" >/dev/null 2>&1 || rc=$?
[ $rc -eq 137 ] || hv_fail "apply did not die at its first write (exit $rc)"
out=$("$EC" $A "$HV_DOM" status) || hv_fail "engine caller status failed: $out"
echo "$out" | grep -q "^level= reconciled=operation .* had landed and were undone" ||
	hv_fail "the engine caller did not undo the half-done apply: $out"
[ "$(hv_obs cmdline)" = "$base" ] || hv_fail "after the undo the guest prints '$(hv_obs cmdline)'"
hv_log "an apply the CLI left half done was undone by the engine caller: $out"

# 4. The engine caller dies after its last write; the CLI reconciles (done).
rc=0
HVPATCH_CRASH_AT=written "$EC" $A "$HV_DOM" apply "$HV_BDIR/cmdline-level.hvb" >/dev/null 2>&1 ||
	rc=$?
[ $rc -eq 137 ] || hv_fail "the engine caller did not die after its last write (exit $rc)"
st=$("$HVP" status --json $A "$HV_DOM") || hv_fail "status after the caller's crash failed: $st"
echo "$st" | grep -q '"reconciled": "operation .*recorded as done' ||
	hv_fail "the CLI did not record the caller's finished apply as done: $st"
echo "$st" | grep -q '"level": "2026.11-1"' || hv_fail "not at the new level: $st"
[ "$(hv_obs cmdline)" = "$new" ] || hv_fail "at the new level the guest prints '$(hv_obs cmdline)'"
out=$("$EC" $A "$HV_DOM" revert) || hv_fail "engine caller revert failed: $out"
[ "$(hv_obs cmdline)" = "$base" ] || hv_fail "after the caller's revert the guest prints '$(hv_obs cmdline)'"
grep -qE 'Oops|BUG: |Kernel panic' "$HV_CONSOLE" && hv_fail "the guest kernel complained"
hv_log "a second engine caller has the CLI's locking and reconcile"
