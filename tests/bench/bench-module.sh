#!/bin/sh
# bench-module.sh [N]: what replacing a function of a module adds to the
# pause: N apply/revert cycles of docs/examples/module-binfmt (a function
# of binfmt_misc and a kernel function: the module list is read again in
# the pause) and, for comparison, N of the one-function kernel example
# cmdline-level, on a live test guest (TCG under libvirt) that loaded
# binfmt_misc; the median and p99 of each pause, in microseconds.
# Run as root after 'make' and 'make test-guests', from the build tree:
#   top_srcdir=SRC top_builddir=BUILD sh SRC/tests/bench/bench-module.sh 30
: "${top_srcdir:?set top_srcdir}"
HV_TEST=bench-module
. "$top_srcdir/tests/integration/lib.sh"
n=${1:-30}
abi=$(hv_abis | tail -n 1)
HVP="$top_builddir/hvpatch/hvpatch"
EX="$top_srcdir/docs/examples/module-binfmt"
hv_bundles "$abi"
"$HVP" build -m "$EX/manifest" --vmlinux "$HV_CACHE/kernels/$abi/vmlinux" \
	--modules "$HV_CACHE/kernels/$abi/extra" -o "$HV_BDIR/module-binfmt.hvb" \
	"$EX/module_binfmt.c" > "$HV_BDIR/module-binfmt.log" 2>&1 ||
	{ cat "$HV_BDIR/module-binfmt.log" >&2; hv_fail "hvpatch build of module-binfmt failed"; }
"$HVP" sign "$HV_BDIR/module-binfmt.hvb" --key "$HV_KEY" >/dev/null || hv_fail "sign failed"
A="--ledger $HV_LEDGER --trusted $HV_TRUSTED --deadline-ms 2000"
hv_guest_start "$abi" --cmd
hv_wait_console '^HVP-READY' 120 >/dev/null || hv_fail "guest did not boot"
hv_guest_run "modprobe binfmt_misc && mount -t binfmt_misc none /proc/sys/fs/binfmt_misc" >/dev/null ||
	hv_fail "loading binfmt_misc failed"
for b in module-binfmt cmdline-level; do
	: > "$HV_RUNDIR/$b-apply.us"
	: > "$HV_RUNDIR/$b-revert.us"
	HV_FILES="$HV_FILES $HV_RUNDIR/$b-apply.us $HV_RUNDIR/$b-revert.us"
	i=0
	while [ $i -lt "$n" ]; do
		"$HVP" apply --json $A "$HV_DOM" "$HV_BDIR/$b.hvb" |
			sed -n 's/.*"pause_us": \([0-9]*\).*/\1/p' >> "$HV_RUNDIR/$b-apply.us" || hv_fail "apply $b failed"
		"$HVP" revert --json --to-none $A "$HV_DOM" |
			sed -n 's/.*"pause_us": \([0-9]*\).*/\1/p' >> "$HV_RUNDIR/$b-revert.us" || hv_fail "revert $b failed"
		i=$((i + 1))
	done
	for k in apply revert; do
		sort -n "$HV_RUNDIR/$b-$k.us" | awk -v k="$b $k" '{ a[NR] = $1 } END {
			p99 = int(NR * 0.99); if (p99 < 1) p99 = 1; if (p99 > NR) p99 = NR
			printf "%s: %d runs, median %d us, p99 %d us, max %d us\n", k, NR, a[int((NR + 1) / 2)], a[p99], a[NR] }'
	done
done
