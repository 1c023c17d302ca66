#!/bin/sh
# A guest task asleep in patched code blocks the switch until it leaves:
#   - level 1 of the pipe-wait test patch replaces pipe_read with a function
#     that calls the original body; once the guest sees it, a reader blocks
#     on an empty pipe (asleep inside pipe_read, called from level 1's code
#     in slot 0);
#   - level 2 (the other slot, pipe_read's site moves) and a revert (the
#     site goes back) both wait, then refuse, naming the task (cat) and the
#     function; nothing changes;
#   - when the reader has gone, level 2 goes in, then level 3 rewrites slot
#     0 where level 1's code was; the guest prints each level and never
#     oopses.
. "$top_srcdir/tests/integration/lib.sh"
HVP="$top_builddir/hvpatch/hvpatch"
abi=$(hv_abis | tail -n 1)
hold=25

hv_bundles "$abi"
A="--ledger $HV_LEDGER --trusted $HV_TRUSTED --deadline-ms 2000"
src="$top_srcdir/tests/integration/bundles/pipe-wait"
for n in 1 2 3; do
	d="$HV_BDIR/pipe-wait-$n"
	mkdir -p "$d"
	cp "$src/pipe_wait.c" "$d/"
	echo "#define PIPE_WAIT_LEVEL \"2026.12-$n\"" > "$d/pipe_wait_level.h"
	"$HVP" build -m "$src/manifest.$n" --vmlinux "$HV_CACHE/kernels/$abi/vmlinux" \
		--key "$HV_KEY" -o "$HV_BDIR/pipe-wait-$n.hvb" "$d/pipe_wait.c" > "$d/build.log" 2>&1 ||
		{ cat "$d/build.log" >&2; hv_fail "building pipe-wait level $n failed"; }
done

hv_guest_start "$abi" --cmdline "hvp_pipe=$hold"
hv_wait_console '^HVP-READY' 180 >/dev/null || hv_fail "guest did not boot"
base=$(hv_obs cmdline) || hv_fail "no probe output"

from=$(hv_console_lines)
out=$("$HVP" apply $A "$HV_DOM" "$HV_BDIR/pipe-wait-1.hvb" 2>&1) || hv_fail "level 1 failed: $out"
hv_wait_console '^HVP-PIPE-READER start' 30 "$from" >/dev/null || hv_fail "the reader did not start"
sleep 2 # let it block in read()
[ "$(hv_obs cmdline)" = "$base hvpatch_level=2026.12-1" ] || hv_fail "level 1 is not what the guest prints"

# Level 2 and a revert wait, then refuse, naming the task.
for what in apply revert; do
	t0=$(date +%s)
	if [ $what = apply ]; then
		out=$("$HVP" apply $A --stack-wait-ms 3000 --json "$HV_DOM" "$HV_BDIR/pipe-wait-2.hvb" 2>&1) &&
			hv_fail "level 2 went in while a task slept in pipe_read: $out"
	else
		out=$("$HVP" revert $A --stack-wait-ms 3000 "$HV_DOM" 2>&1) &&
			hv_fail "the revert went through while a task slept in pipe_read: $out"
	fi
	echo "$out" | grep -q "task [0-9]* (cat) has 0x[0-9a-f]* on its kernel stack, inside pipe_read" ||
		hv_fail "$what was refused without naming the task in the way: $out"
	[ $(($(date +%s) - t0)) -ge 3 ] || hv_fail "$what did not wait for the task before refusing"
	[ "$(hv_obs cmdline)" = "$base hvpatch_level=2026.12-1" ] ||
		hv_fail "the refused $what changed what the guest prints"
	hv_log "$what refused while the reader slept: $(echo "$out" | tail -n 1)"
done
st=$("$HVP" status --json $A "$HV_DOM") || hv_fail "status failed: $st"
echo "$st" | grep -q '"level": "2026.12-1"' || hv_fail "not at level 1 after the refusals: $st"

# Once the reader has gone, levels 2 and 3 go in (3 rewrites slot 0).
hv_wait_console '^HVP-PIPE-READER done' $((hold + 30)) "$from" >/dev/null || hv_fail "the reader never finished"
for n in 2 3; do
	out=$("$HVP" apply $A --json "$HV_DOM" "$HV_BDIR/pipe-wait-$n.hvb" 2>&1) ||
		hv_fail "level $n failed after the reader left: $out"
	echo "$out" | tr -d ' \n' | grep -q '"stack_check":{"tasks":[1-9][0-9]*,' ||
		hv_fail "level $n reports no stack check: $out"
	[ "$(hv_obs cmdline)" = "$base hvpatch_level=2026.12-$n" ] || hv_fail "level $n is not what the guest prints"
	hv_log "level $n: $(echo "$out" | tr -d ' \n' | grep -o '"stack_check":{[^}]*}')"
done
out=$("$HVP" revert $A --to-none "$HV_DOM" 2>&1) || hv_fail "final revert failed: $out"
[ "$(hv_obs cmdline)" = "$base" ] || hv_fail "after the revert the guest prints '$(hv_obs cmdline)'"
grep -qE 'Oops|BUG: |Kernel panic|int3: ' "$HV_CONSOLE" && hv_fail "the guest kernel complained"
hv_log "a task asleep in patched code held the switch off until it left; no oops"
