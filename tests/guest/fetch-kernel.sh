#!/bin/sh
# fetch-kernel.sh ABI
#
# Download linux-image-ABI-cloud-amd64 from Debian's registry (once; cached),
# unpack it and extract what the tests need:
#   $HVPATCH_CACHE/kernels/ABI/vmlinuz      the bzImage QEMU boots
#   $HVPATCH_CACHE/kernels/ABI/vmlinux      the ELF inside it (GNU build-id note)
#   $HVPATCH_CACHE/kernels/ABI/build-id     that build-id, hex
#   $HVPATCH_CACHE/kernels/ABI/release      the kernel release string
#   $HVPATCH_CACHE/kernels/ABI/modules/     the virtio modules, in load order
#                                           (modules/order lists them)
#   $HVPATCH_CACHE/kernels/ABI/extra/       the modules of extra-modules.list and
#                                           everything they depend on, loaded
#                                           by tests inside the guest (modprobe)
# Prints the directory.  A second run is offline.
set -eu

abi=${1:?usage: fetch-kernel.sh ABI (e.g. 6.1.0-56)}
case "$abi" in
*[!0-9.-]* | "") echo "fetch-kernel.sh: '$abi' is not a kernel ABI like 6.1.0-56" >&2; exit 2 ;;
esac
cache=${HVPATCH_CACHE:-/var/cache/hvpatch}
pkg="linux-image-$abi-cloud-amd64"
release="$abi-cloud-amd64"
dir="$cache/kernels/$abi"
# Modules the guest needs for the agent channel, in dependency order.
modules="virtio virtio_ring virtio_pci_legacy_dev virtio_pci_modern_dev virtio_pci virtio_console"
# Modules tests load on demand (tests/guest/extra-modules.list).
here=$(cd "$(dirname "$0")" && pwd)
extra=$(grep -v '^#' "$here/extra-modules.list" 2>/dev/null | tr -s ' \n' ' ' || true)
# The cache is complete for this list of modules only.
stamp="boot: $modules; extra: $extra"

if [ -f "$dir/.complete" ] && [ "$(cat "$dir/.complete")" = "$stamp" ]; then
	echo "$dir"
	exit 0
fi
mkdir -p "$cache/debs" "$dir"
for tool in apt-get dpkg-deb lz4 readelf modinfo; do
	command -v "$tool" >/dev/null 2>&1 || {
		echo "fetch-kernel.sh: '$tool' is missing: run tests/setup-host.sh (it installs lz4, binutils and kmod)" >&2
		exit 1
	}
done

deb=$(ls "$cache/debs/${pkg}"_*.deb 2>/dev/null | head -n 1 || true)
if [ -z "$deb" ]; then
	echo "fetch-kernel.sh: downloading $pkg" >&2
	(cd "$cache/debs" && apt-get download -q "$pkg" >&2) || {
		echo "fetch-kernel.sh: cannot download $pkg; run 'apt-get update' and check that Debian still has it (tests/guest/kernels.list pins it)" >&2
		exit 1
	}
	deb=$(ls "$cache/debs/${pkg}"_*.deb | head -n 1)
fi

tmp=$(mktemp -d "$cache/unpack.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
dpkg-deb -x "$deb" "$tmp"
cp "$tmp/boot/vmlinuz-$release" "$dir/vmlinuz"

# The bzImage payload is LZ4 (legacy frame, magic 02 21 4c 18).
off=$(grep -obUaP '\x02\x21\x4c\x18' "$dir/vmlinuz" | head -n 1 | cut -d: -f1)
[ -n "$off" ] || { echo "fetch-kernel.sh: no LZ4 payload in $dir/vmlinuz" >&2; exit 1; }
# lz4 complains about the bytes after the payload; the ELF check below is the real test.
tail -c "+$((off + 1))" "$dir/vmlinuz" | lz4 -dc > "$dir/vmlinux.tmp" 2>/dev/null || true
readelf -h "$dir/vmlinux.tmp" >/dev/null 2>&1 || {
	echo "fetch-kernel.sh: the payload of $dir/vmlinuz did not decompress to an ELF" >&2
	exit 1
}
mv "$dir/vmlinux.tmp" "$dir/vmlinux"
readelf -n "$dir/vmlinux" | awk '/Build ID:/ { print $3; exit }' > "$dir/build-id"
[ -s "$dir/build-id" ] || { echo "fetch-kernel.sh: no GNU build-id note in $dir/vmlinux" >&2; exit 1; }
echo "$release" > "$dir/release"

rm -rf "$dir/modules"
mkdir -p "$dir/modules"
for m in $modules; do
	f=$(find "$tmp/lib/modules/$release" -name "$m.ko*" | head -n 1)
	if [ -z "$f" ]; then
		# Built into this kernel: nothing to load.
		continue
	fi
	case "$f" in
	*.ko.xz) xz -dc "$f" > "$dir/modules/$m.ko" ;;
	*.ko.zst) zstd -qdc "$f" > "$dir/modules/$m.ko" ;;
	*) cp "$f" "$dir/modules/$m.ko" ;;
	esac
done

# Extra modules and, transitively, their dependencies (modinfo's "depends").
rm -rf "$dir/extra"
mkdir -p "$dir/extra"
want=$extra
while [ -n "$want" ]; do
	next=""
	for m in $want; do
		[ -f "$dir/extra/$m.ko" ] && continue
		f=$(find "$tmp/lib/modules/$release" -name "$m.ko*" | head -n 1)
		if [ -z "$f" ]; then
			# Hyphens and underscores name the same module.
			alt=$(echo "$m" | tr '_' '-')
			f=$(find "$tmp/lib/modules/$release" -name "$alt.ko*" | head -n 1)
		fi
		if [ -z "$f" ]; then
			grep -q "/$m.ko\$" "$tmp/lib/modules/$release/modules.builtin" 2>/dev/null && continue
			echo "fetch-kernel.sh: module $m (tests/guest/extra-modules.list) is not in $pkg" >&2
			exit 1
		fi
		case "$f" in
		*.ko.xz) xz -dc "$f" > "$dir/extra/$m.ko" ;;
		*.ko.zst) zstd -qdc "$f" > "$dir/extra/$m.ko" ;;
		*) cp "$f" "$dir/extra/$m.ko" ;;
		esac
		next="$next $(modinfo -F depends "$dir/extra/$m.ko" | tr ',' ' ')"
	done
	want=$next
done
# Load order: a module after everything it depends on (modinfo's "depends").
: > "$dir/modules/order"
left=$(cd "$dir/modules" && ls *.ko | sed 's/\.ko$//')
while [ -n "$left" ]; do
	progress=0 next=""
	for m in $left; do
		ready=1
		for d in $(modinfo -F depends "$dir/modules/$m.ko" | tr ',' ' '); do
			[ -f "$dir/modules/$d.ko" ] || { echo "fetch-kernel.sh: $m needs $d, which is not extracted" >&2; exit 1; }
			grep -qx "$d.ko" "$dir/modules/order" || ready=0
		done
		if [ $ready = 1 ]; then
			echo "$m.ko" >> "$dir/modules/order"
			progress=1
		else
			next="$next $m"
		fi
	done
	[ $progress = 1 ] || { echo "fetch-kernel.sh: module dependency loop among:$next" >&2; exit 1; }
	left=$next
done
echo "$stamp" > "$dir/.complete"
echo "$dir"
