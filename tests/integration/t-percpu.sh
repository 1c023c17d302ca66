#!/bin/sh
# Per-cpu data and `current` in a patch, live, for every pinned kernel:
#  - docs/examples/percpu-current (a version_proc_show that calls utsname(),
#    reads current's comm, pid and credentials, raw_smp_processor_id() and
#    that CPU's kstat counters through the per-cpu accessors) builds with
#    --vmlinux and applies; on every CPU the guest prints what the
#    replacement computed and it matches what the guest says about the
#    reading shell (release = uname -r, comm and pid of the reader, its
#    uid/euid, the CPU it is pinned to, a TIMER softirq count between the
#    counts /proc/softirqs showed just before and after);
#  - a second level replaces it in one switch, status shows it intact,
#    revert walks back to the first level and then to none (the guest
#    prints the unpatched banner again); no oops, no reboot;
#  - a patch that calls a per-cpu symbol (R_X86_64_PLT32 against per-cpu
#    data) is refused by "hvpatch build --vmlinux" and, built without the
#    vmlinux, by apply, with the same sentence, and nothing changes.
. "$top_srcdir/tests/integration/lib.sh"
HVP="$top_builddir/hvpatch/hvpatch"
EX="$top_srcdir/docs/examples/percpu-current"

# check_obs OBS: "ok N" when every CPU's "got" agrees with its "want",
# else the first disagreement.
check_obs() {
	printf '%s\n' "$1" | awk '
	{
		n = split($0, part, /(^| )c[0-9]+: /)
		cpus = 0
		for (i = 1; i <= n; i++) {
			if (part[i] == "")
				continue
			split("", g); split("", w)
			m = split(part[i], tok, " ")
			side = ""
			for (k = 1; k <= m; k++) {
				if (tok[k] == "got" || tok[k] == "want") { side = tok[k]; continue }
				eq = index(tok[k], "=")
				if (!eq) { print "bad: cpu part " i ": " tok[k]; exit }
				key = substr(tok[k], 1, eq - 1); val = substr(tok[k], eq + 1)
				if (side == "got") g[key] = val; else w[key] = val
			}
			split("release comm pid uid euid cpu", keys, " ")
			for (k = 1; k <= 6; k++)
				if (!(keys[k] in g) || g[keys[k]] != w[keys[k]]) {
					print "bad: " keys[k] " got \"" g[keys[k]] "\" want \"" w[keys[k]] "\" in: " part[i]
					exit
				}
			split(w["timer"], t, "-")
			if (!("timer_softirqs" in g) || g["timer_softirqs"] + 0 < t[1] + 0 || g["timer_softirqs"] + 0 > t[2] + 0) {
				print "bad: timer_softirqs " g["timer_softirqs"] " not within " w["timer"] " in: " part[i]
				exit
			}
			if (g["irqs_sum"] + 0 <= 0) { print "bad: irqs_sum " g["irqs_sum"] " in: " part[i]; exit }
			cpus++
		}
		print "ok " cpus
	}'
}

# What the probe prints on a kernel without the patch.
unpatched() {
	[ "$1" = "got none" ]
}

for abi in $(hv_abis); do
	hv_bundles "$abi"
	vml="$HV_CACHE/kernels/$abi/vmlinux"
	A="--ledger $HV_LEDGER --trusted $HV_TRUSTED --deadline-ms 2000"

	# --- build ----------------------------------------------------------------
	for lv in 1 2; do
		sed "s/^level = .*/level = percpu-$lv/" "$EX/manifest" > "$HV_BDIR/percpu-$lv.manifest"
		"$HVP" build -m "$HV_BDIR/percpu-$lv.manifest" --vmlinux "$vml" \
			-o "$HV_BDIR/percpu-$lv.hvb" "$EX/percpu_current.c" > "$HV_BDIR/percpu-$lv.log" 2>&1 ||
			{ cat "$HV_BDIR/percpu-$lv.log" >&2; hv_fail "$abi: hvpatch build of percpu-current failed"; }
		"$HVP" sign "$HV_BDIR/percpu-$lv.hvb" --key "$HV_KEY" >/dev/null || hv_fail "sign failed"
	done
	show=$("$HVP" show "$HV_BDIR/percpu-1.hvb") || hv_fail "$abi: show failed"
	for r in 'R_X86_64_32S    current_task' 'R_X86_64_PC32   cpu_number' 'R_X86_64_PC32   this_cpu_off' \
		'R_X86_64_32S    kstat'; do
		echo "$show" | grep -q "$r" || hv_fail "$abi: the bundle has no '$r' relocation: $show"
	done

	# The refused kind: a call to per-cpu data.
	mkdir -p "$HV_BDIR/bad"
	cat > "$HV_BDIR/bad/bad_percpu.c" <<'EOF'
#include <linux/module.h>
#include <linux/seq_file.h>
int hvp_version_proc_show(struct seq_file *m, void *v);
void cpu_number_as_function(void);
int hvp_version_proc_show(struct seq_file *m, void *v)
{
	cpu_number_as_function();
	return 0;
}
MODULE_LICENSE("GPL");
EOF
	printf 'patch-id = bad-percpu\nlevel = bad-1\nreplace = version_proc_show -> hvp_version_proc_show\nsymbol = cpu_number_as_function -> cpu_number\n' \
		> "$HV_BDIR/bad/manifest"
	if out=$("$HVP" build -m "$HV_BDIR/bad/manifest" --vmlinux "$vml" -o "$HV_BDIR/bad.hvb" \
		"$HV_BDIR/bad/bad_percpu.c" 2>&1); then
		hv_fail "$abi: build --vmlinux accepted a call to per-cpu data: $out"
	fi
	build_says=$(echo "$out" | grep -o 'relocation [0-9]* (R_X86_64_PLT32 .*')
	echo "$build_says" | grep -q "cpu_number is per-cpu data" || hv_fail "$abi: build refused it unclearly: $out"
	"$HVP" build -m "$HV_BDIR/bad/manifest" --release "$(cat "$HV_CACHE/kernels/$abi/release")" \
		--build-id "$(cat "$HV_CACHE/kernels/$abi/build-id")" -o "$HV_BDIR/bad.hvb" \
		"$HV_BDIR/bad/bad_percpu.c" > "$HV_BDIR/bad.log" 2>&1 ||
		{ cat "$HV_BDIR/bad.log" >&2; hv_fail "$abi: building the bad bundle without a vmlinux failed"; }
	"$HVP" sign "$HV_BDIR/bad.hvb" --key "$HV_KEY" >/dev/null || hv_fail "sign failed"

	# --- live -------------------------------------------------------------------
	hv_guest_start "$abi"
	hv_wait_console '^HVP-READY' 120 >/dev/null || hv_fail "$abi: guest did not boot"
	base=$(hv_obs percpu 30) || hv_fail "$abi: no percpu probe output"
	unpatched "$base" || hv_fail "$abi: the unpatched kernel printed a per-cpu line: $base"
	base_version=$(hv_obs version-level)

	if out=$("$HVP" apply $A "$HV_DOM" "$HV_BDIR/bad.hvb" 2>&1); then
		hv_fail "$abi: apply accepted a call to per-cpu data: $out"
	fi
	apply_says=$(echo "$out" | grep -o 'relocation [0-9]* (R_X86_64_PLT32 .*')
	[ -n "$apply_says" ] && [ "$apply_says" = "$build_says" ] ||
		hv_fail "$abi: build and apply refuse differently: build '$build_says', apply '$out'"
	hv_log "$abi: build and apply both refuse: $(echo "$apply_says" | cut -c1-150)"

	out=$("$HVP" apply --json $A "$HV_DOM" "$HV_BDIR/percpu-1.hvb") || hv_fail "$abi: apply percpu-1 failed: $out"
	echo "$out" | grep -q '"to_level": "percpu-1"' || hv_fail "$abi: apply report: $out"
	o=$(hv_obs percpu 30)
	v=$(check_obs "$o")
	case $v in "ok "[1-9]*) ;; *) hv_fail "$abi: percpu-1: $v (probe: $o)" ;; esac
	# hv_guest_start gives the guest 2 vCPUs: both must have been read
	[ "${v#ok }" -ge 2 ] || hv_fail "$abi: percpu-1: only $v CPUs in: $o"
	hv_log "$abi: percpu-1 applied; the guest prints what the replacement read ($v CPUs): $(echo "$o" | cut -c1-200)"
	ver=$(hv_obs version-level)
	echo "$ver" | grep -q "^hvpatch-percpu release=" || hv_fail "$abi: /proc/version ends with '$ver'"

	out=$("$HVP" apply --json $A "$HV_DOM" "$HV_BDIR/percpu-2.hvb") || hv_fail "$abi: apply percpu-2 failed: $out"
	echo "$out" | grep -q '"sites_changed": 1' || hv_fail "$abi: percpu-1 -> 2 was not one switch: $out"
	o=$(hv_obs percpu 30)
	v=$(check_obs "$o")
	case $v in "ok "[1-9]*) ;; *) hv_fail "$abi: percpu-2: $v (probe: $o)" ;; esac
	st=$("$HVP" status --json $A "$HV_DOM") || hv_fail "$abi: status failed: $st"
	echo "$st" | grep -q '"level": "percpu-2"' || hv_fail "$abi: status does not show percpu-2: $st"
	echo "$st" | grep -q '"intact": true' || hv_fail "$abi: status: the site is not intact: $st"

	"$HVP" revert $A "$HV_DOM" >/dev/null || hv_fail "$abi: revert percpu-2 -> 1 failed"
	o=$(hv_obs percpu 30)
	v=$(check_obs "$o")
	case $v in "ok "[1-9]*) ;; *) hv_fail "$abi: back at percpu-1: $v (probe: $o)" ;; esac
	st=$("$HVP" status --json $A "$HV_DOM") || hv_fail "$abi: status at percpu-1 failed: $st"
	echo "$st" | grep -q '"level": "percpu-1"' || hv_fail "$abi: status does not show percpu-1: $st"
	"$HVP" revert $A "$HV_DOM" >/dev/null || hv_fail "$abi: revert percpu-1 -> none failed"
	o=$(hv_obs percpu 30)
	unpatched "$o" || hv_fail "$abi: revert to none left the per-cpu line: $o"
	[ "$(hv_obs version-level)" = "$base_version" ] || hv_fail "$abi: revert left /proc/version changed"

	# --- no oops, no reboot -----------------------------------------------------
	if grep -qE 'Oops|BUG: |Kernel panic|general protection|WARNING: CPU' "$HV_CONSOLE"; then
		grep -E -A 20 'Oops|BUG: |Kernel panic|general protection|WARNING: CPU' "$HV_CONSOLE" | head -n 40 >&2
		hv_fail "$abi: the guest kernel complained"
	fi
	[ "$(grep -c '^HVP-RELEASE ' "$HV_CONSOLE")" -eq 1 ] || hv_fail "$abi: the guest rebooted"
	hv_log "$abi: percpu-1 -> 2 -> 1 -> none, no oops, one boot"
	virsh -c "$HV_URI" destroy "$HV_DOM" >/dev/null
done
