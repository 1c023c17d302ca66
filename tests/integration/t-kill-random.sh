#!/bin/sh
# hvpatch SIGKILLed at uniformly random moments across the whole run of
# apply, revert, status, inspect and vcpus, against a guest whose every vCPU
# keeps calling the patched function.  After each kill:
#   - the guest runs again within one second (nothing is left paused);
#   - the next command reconciles: the level it reports equals the ledger's,
#     and no site drifted;
#   - the guest prints exactly the old or the new level's output, the one
#     that level says, never a mix; and its kernel never complains.
#
# HV_KILLS kills (default 30; the long run in docs/TESTING.md uses 200),
# HV_KILL_SEED fixes the random sequence (printed at the start, so a failing
# run can be repeated).
. "$top_srcdir/tests/integration/lib.sh"
HVP="$top_builddir/hvpatch/hvpatch"
kills=${HV_KILLS:-30}
seed=${HV_KILL_SEED:-$(od -An -N4 -tu4 /dev/urandom | tr -d ' ')}
abi=$(hv_abis | tail -n 1)
hv_log "$kills kills, seed $seed, kernel $abi"

hv_bundles "$abi"
A="--ledger $HV_LEDGER --trusted $HV_TRUSTED --deadline-ms 2000"
hv_guest_start "$abi" --cmdline 'hvp_stress=1'
hv_wait_console '^HVP-READY' 180 >/dev/null || hv_fail "guest did not boot"
base=$(hv_obs cmdline) || hv_fail "no probe output"
new="$base hvpatch_level=2026.11-1"

# rnd N KEY: a random integer in [0, N), a function of the seed and KEY
# (it runs inside $(...), so it cannot keep a counter of its own).
rnd() {
	h=$(printf '%s-%s' "$seed" "$2" | md5sum | cut -c1-7)
	echo $((0x$h % $1))
}
now_ms() { date +%s%3N; }

# One command line per kind; "$1" is the kind.
run_cmd() {
	case $1 in
	apply) exec "$HVP" apply $A "$HV_DOM" "$HV_BDIR/cmdline-level.hvb" ;;
	revert) exec "$HVP" revert $A "$HV_DOM" ;;
	status) exec "$HVP" status $A "$HV_DOM" ;;
	inspect) exec "$HVP" inspect "$HV_DOM" ;;
	vcpus) exec "$HVP" vcpus "$HV_DOM" ;;
	esac
}

# How long each command runs when left alone: kills are drawn uniformly
# over that span (plus a fifth, so some land as it exits).
for k in apply revert status inspect vcpus; do
	t0=$(now_ms)
	(run_cmd $k) >"$HV_RUNDIR/$HV_DOM.$k.out" 2>&1 ||
		hv_fail "$k failed when left alone: $(cat "$HV_RUNDIR/$HV_DOM.$k.out")"
	eval "dur_$k=\$(( ($(now_ms) - t0) * 6 / 5 ))"
	eval "hv_log \"$k runs about \$dur_$k ms (with a fifth more)\""
done
rm -f "$HV_RUNDIR/$HV_DOM".*.out

level=""
i=0 by_apply=0 by_revert=0
while [ $i -lt "$kills" ]; do
	i=$((i + 1))
	# Half the kills go to the command that changes the level.
	if [ "$(rnd 2 "$i.kind")" -eq 0 ]; then
		if [ -z "$level" ]; then k=apply; else k=revert; fi
	else
		set -- status inspect vcpus
		shift "$(rnd 3 "$i.which")"
		k=$1
	fi
	eval "dur=\$dur_$k"
	at=$(rnd "$dur" "$i.at")
	(run_cmd $k) >/dev/null 2>&1 &
	pid=$!
	sleep "$(printf '%d.%03d' $((at / 1000)) $((at % 1000)))"
	kill -KILL "$pid" 2>/dev/null
	wait "$pid" 2>/dev/null
	rc=$?
	[ $k = apply ] && by_apply=$((by_apply + 1))
	[ $k = revert ] && by_revert=$((by_revert + 1))

	# The guest runs again within one second.
	t0=$(now_ms)
	while [ "$(hv_domstate)" != running ] && [ $(($(now_ms) - t0)) -lt 1000 ]; do sleep 0.05; done
	st=$(hv_domstate)
	[ "$st" = running ] ||
		hv_fail "kill $i ($k at $at ms, exit $rc): guest still '$st' 1 s later ($(virsh -c "$HV_URI" domstate --reason "$HV_DOM"))"

	# The next command reconciles and agrees with the ledger.
	js=$("$HVP" status --json $A "$HV_DOM" 2>&1) || hv_fail "kill $i ($k at $at ms): status failed: $js"
	level=$(echo "$js" | sed -n 's/^  "level": "\(.*\)",$/\1/p')
	ledger=$(echo "$js" | sed -n 's/^  "ledger_level": "\(.*\)",$/\1/p')
	echo "$js" | grep -q '"drifted": 0' || hv_fail "kill $i ($k at $at ms): drift: $js"
	[ "$level" = "$ledger" ] || hv_fail "kill $i ($k at $at ms): guest at '$level', ledger says '$ledger'"
	echo "$js" | grep -q '"state": "resumed-dead-pauser"' &&
		hv_fail "kill $i ($k at $at ms): the guard did not resume the guest; status had to: $js"

	# The guest prints the output of exactly that level.
	out=$(hv_obs cmdline) || hv_fail "kill $i: no probe output"
	case "$level" in
	"") want=$base ;;
	2026.11-1) want=$new ;;
	*) hv_fail "kill $i ($k at $at ms): unexpected level '$level'" ;;
	esac
	[ "$out" = "$want" ] || hv_fail "kill $i ($k at $at ms): at '${level:-none}' the guest prints '$out', expected '$want'"
	if grep -qE 'Oops|BUG: |Kernel panic|int3: ' "$HV_CONSOLE"; then
		grep -E -A 20 'Oops|BUG: |Kernel panic|int3: ' "$HV_CONSOLE" | head -n 30 >&2
		hv_fail "kill $i ($k at $at ms): the guest kernel complained"
	fi
	hv_log "kill $i: $k at $at ms (exit $rc): running, at '${level:-none}', prints it"
done
[ $by_revert -gt 0 ] || [ "$kills" -lt 10 ] || hv_fail "no kill landed in a revert"
hv_log "$kills kills ($by_apply in apply, $by_revert in revert): never left paused, never a mix"
