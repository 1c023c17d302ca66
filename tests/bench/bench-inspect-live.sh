#!/bin/sh
# bench-inspect-live.sh [RUNS] [ABI]: time and peak memory of building the
# full symbol index of a live guest.  Boots one test guest (TCG, memfd RAM)
# with the harness of tests/integration/lib.sh, runs "hvpatch inspect
# --json" RUNS times (default 30) and prints the median and p99 of
#   index:  hvi_kernel_open() (locate, read image in place, kallsyms, identity)
#   total:  the whole command (connect, pause, registers, resume, index)
#   rss:    the peak resident memory of the hvpatch process (/usr/bin/time)
# Needs root and libvirt, like the live tests; run it from the build tree:
#   top_srcdir=/path/to/src top_builddir=$PWD sh $top_srcdir/tests/bench/bench-inspect-live.sh
set -u
: "${top_srcdir:?set top_srcdir to the source tree}"
: "${top_builddir:=$top_srcdir}"
runs=${1:-30}
HV_TEST=bench-inspect-live
. "$top_srcdir/tests/integration/lib.sh"
HVP="$top_builddir/hvpatch/hvpatch"
abi=${2:-$(hv_abis | tail -n 1)}
[ -x /usr/bin/time ] || hv_skip "/usr/bin/time is missing (apt-get install time)"

hv_guest_start "$abi"
hv_wait_console '^HVP-READY' 180 >/dev/null || hv_fail "guest did not boot"
out="$HV_RUNDIR/$HV_DOM.bench"
: > "$out"
HV_FILES="$HV_FILES $out $out.one $out.rss"
i=0
while [ "$i" -lt "$runs" ]; do
	/usr/bin/time -f '%M' -o "$out.rss" "$HVP" inspect --json "$HV_DOM" > "$out.one" ||
		hv_fail "hvpatch inspect failed"
	idx=$(sed -n 's/^ *"index_us": \([0-9]*\).*/\1/p' "$out.one")
	tot=$(sed -n 's/^ *"total_us": \([0-9]*\).*/\1/p' "$out.one")
	echo "$idx $tot $(tail -n 1 "$out.rss")" >> "$out"
	i=$((i + 1))
done
nsyms=$(sed -n 's/^ *"symbols": \([0-9]*\).*/\1/p' "$out.one")
inplace=$(sed -n 's/^ *"image_read_in_place": \([a-z]*\).*/\1/p' "$out.one")
stat() { # column -> "median p99"
	cut -d' ' -f "$1" "$out" | sort -n | awk '{ v[NR] = $1 } END {
		m = v[int((NR + 1) / 2)]; p = v[int((NR * 99 + 99) / 100)]; print m, p }'
}
set -- $(stat 1)
echo "index: $runs runs, median $(awk "BEGIN { printf \"%.1f\", $1 / 1000 }") ms, p99 $(awk "BEGIN { printf \"%.1f\", $2 / 1000 }") ms ($nsyms symbols, image read in place: $inplace, $abi)"
set -- $(stat 2)
echo "total: median $(awk "BEGIN { printf \"%.1f\", $1 / 1000 }") ms, p99 $(awk "BEGIN { printf \"%.1f\", $2 / 1000 }") ms"
set -- $(stat 3)
echo "rss:   median $(awk "BEGIN { printf \"%.1f\", $1 / 1024 }") MiB, max $(awk "BEGIN { printf \"%.1f\", $2 / 1024 }") MiB (peak resident set of hvpatch inspect)"
