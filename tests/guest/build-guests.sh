#!/bin/sh
# build-guests.sh [ABI...]
#
# Build the test guests: for each pinned kernel build (tests/guest/kernels.list,
# or the ABIs given), fetch the kernel (cached) and write
#   $HVPATCH_CACHE/guests/ABI/vmlinuz        kernel QEMU boots
#   $HVPATCH_CACHE/guests/ABI/initramfs.img  busybox userland: loads the virtio
#                                            modules, starts hvpatch-agent when
#                                            built, prints HVP-* markers; the
#                                            modules of extra-modules.list wait
#                                            in /lib/modules/RELEASE for modprobe
# The kernel builds are those of kernels.list and cve-kernels.list.
# The initramfs is rebuilt every time (about a second) so it always carries
# the current agent and probes.  Prints one line per guest.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
top_builddir=${top_builddir:-$(cd "$here/../.." && pwd)}
cache=${HVPATCH_CACHE:-/var/cache/hvpatch}
busybox=${BUSYBOX:-/bin/busybox}
file "$busybox" 2>/dev/null | grep -q 'statically linked' || {
	echo "build-guests.sh: $busybox is not a static busybox: apt-get install busybox-static (tests/setup-host.sh does)" >&2
	exit 1
}
abis="$*"
[ -n "$abis" ] || abis=$(cat "$here/kernels.list" "$here/cve-kernels.list" | grep -v '^#' | grep . | sort -u)

for abi in $abis; do
	kdir=$(sh "$here/fetch-kernel.sh" "$abi")
	gdir="$cache/guests/$abi"
	stage=$(mktemp -d)
	mkdir -p "$gdir" "$stage/bin" "$stage/sbin" "$stage/lib/modules" "$stage/etc/hvp" \
		"$stage/proc" "$stage/sys" "$stage/dev" "$stage/run" "$stage/tmp" "$stage/probes"
	cp "$busybox" "$stage/bin/busybox"
	cp "$here/init" "$stage/init"
	chmod 755 "$stage/init"
	cp "$kdir"/modules/*.ko "$kdir/modules/order" "$stage/lib/modules/"
	# Modules tests load on demand, with "modprobe NAME" (modules.dep).
	release=$(cat "$kdir/release")
	if ls "$kdir"/extra/*.ko >/dev/null 2>&1; then
		mkdir -p "$stage/lib/modules/$release/extra"
		cp "$kdir"/extra/*.ko "$stage/lib/modules/$release/extra/"
		touch "$stage/lib/modules/$release/modules.builtin" "$stage/lib/modules/$release/modules.builtin.modinfo" \
			"$stage/lib/modules/$release/modules.order"
		depmod -b "$stage" "$release" || {
			echo "build-guests.sh: depmod failed for the extra modules of $abi" >&2
			exit 1
		}
	fi
	cp "$here/ksyms.list" "$stage/etc/hvp/ksyms.list"
	cp "$here"/probes/*.sh "$stage/probes/" 2>/dev/null || true
	# The probes of the real security fixes, run instead of /probes when the
	# guest boots with hvp_probes=cve: docs/examples/cve-*/probe.sh as
	# /probes-cve/cve-*.sh.
	mkdir -p "$stage/probes-cve"
	for p in "$here"/../../docs/examples/cve-*/probe.sh; do
		[ -f "$p" ] || continue
		d=${p%/probe.sh}
		cp "$p" "$stage/probes-cve/${d##*/}.sh"
	done
	# The tenant's mmap attack on the patch area (t-area.sh), static.
	${CC:-gcc} -static -Os -o "$stage/sbin/hvp-area-write" "$here/hvp-area-write.c" || {
		echo "build-guests.sh: cannot build hvp-area-write (a static C program)" >&2
		exit 1
	}
	agent="$top_builddir/guest-agent/hvpatch-agent"
	if [ -x "$agent" ]; then
		# The guest has no libraries: a dynamic agent would not even start.
		file "$agent" | grep -q 'statically linked' || {
			echo "build-guests.sh: $agent is not statically linked" >&2
			exit 1
		}
		cp "$agent" "$stage/sbin/hvpatch-agent"
	fi
	(cd "$stage" && find . | cpio -o -H newc --quiet | gzip -1) > "$gdir/initramfs.img.tmp"
	mv "$gdir/initramfs.img.tmp" "$gdir/initramfs.img"
	cp "$kdir/vmlinuz" "$gdir/vmlinuz"
	cp "$kdir/release" "$kdir/build-id" "$gdir/"
	rm -rf "$stage"
	echo "guest $abi: $gdir (release $(cat "$gdir/release"), agent: $([ -x "$agent" ] && echo yes || echo no))"
done
