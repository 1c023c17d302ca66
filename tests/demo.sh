#!/bin/sh
# demo.sh: the main job of hvpatch, end to end, on a fresh Debian 12 machine
# (as root).  It installs what it needs, builds hvpatch, boots a demo guest
# (a real Debian cloud kernel under libvirt), shows what the guest prints,
# hot-patches its running kernel with an example bundle, shows the guest's
# output after and the pause length, then reverts and shows the output
# again.  The demo guest is destroyed at the end.
#
#   sh tests/demo.sh          (from the top of the source tree)
#
# Environment: DEMO_ABI (default: the last build in tests/guest/kernels.list),
# BUILD_DIR (default ./build), KEEP_GUEST=1 to leave the demo guest running.
set -u
src=$(cd "$(dirname "$0")/.." && pwd)
build=${BUILD_DIR:-$src/build}
abi=${DEMO_ABI:-$(grep -v '^#' "$src/tests/guest/kernels.list" | grep . | tail -n 1)}
work=/var/lib/hvpatch-demo
dom=hvpatch-demo

say() { printf '\n\033[1m== %s\033[0m\n' "$*"; }
die() { echo "demo: $*" >&2; exit 1; }
[ "$(id -u)" -eq 0 ] || die "run me as root (I install packages and start libvirtd)"

say "1. Host setup: packages, libvirt, QEMU (tests/setup-host.sh)"
sh "$src/tests/setup-host.sh" || die "host setup failed"

say "2. Build hvpatch"
(cd "$src" && autoreconf -fi >/dev/null 2>&1) || die "autoreconf failed"
mkdir -p "$build"
(cd "$build" && { [ -f Makefile ] || "$src/configure" -q; } && make -j2 -s) >/dev/null ||
	die "build failed (run make in $build to see why)"
hvp="$build/hvpatch/hvpatch"

say "3. A demo guest: Debian kernel $abi (downloaded once, cached in /var/cache/hvpatch)"
top_srcdir=$src top_builddir=$build sh "$src/tests/guest/build-guests.sh" "$abi" >/dev/null ||
	die "building the test guest failed"
top_srcdir=$src top_builddir=$build
export top_srcdir top_builddir
HV_TEST=demo HV_RUNDIR=$work
. "$src/tests/integration/lib.sh"
trap - EXIT
cleanup() {
	rc=$?
	if [ "${KEEP_GUEST:-0}" != 1 ]; then
		virsh -c "$HV_URI" destroy "$dom" >/dev/null 2>&1
		rm -rf "$work"
	fi
	exit $rc
}
trap cleanup EXIT INT TERM
virsh -c "$HV_URI" destroy "$dom" >/dev/null 2>&1
hv_guest_start "$abi" --name "$dom"
echo "booting $dom under libvirt (TCG: no KVM needed) ..."
hv_wait_console '^HVP-READY' 180 >/dev/null || die "the demo guest did not boot"
echo "guest kernel: $(hv_wait_console '^HVP-RELEASE ' 5 | cut -d' ' -f2)"

say "4. An example patch: docs/examples/cmdline-level (replaces cmdline_proc_show)"
hv_bundles "$abi"
echo "built, signed and trusted $HV_BDIR/cmdline-level.hvb"
"$hvp" show "$HV_BDIR/cmdline-level.hvb" | sed -n '1,12p'
A="--ledger $HV_LEDGER --trusted $HV_TRUSTED"

say "5. Before: the guest's own 'cat /proc/cmdline', as its console shows it"
echo "  $(hv_obs cmdline)"

say "6. Hot-patch the running kernel"
"$hvp" apply $A "$dom" "$HV_BDIR/cmdline-level.hvb" || die "apply failed"

say "7. After: same guest, same boot, no reboot"
echo "  $(hv_obs cmdline)"
"$hvp" status $A "$dom"

say "8. Revert"
"$hvp" revert $A "$dom" || die "revert failed"
echo "  $(hv_obs cmdline)"
[ "$(grep -c '^HVP-RELEASE ' "$HV_CONSOLE")" -eq 1 ] && echo "  (one boot from start to end)"
say "Done."
