#!/bin/sh
# setup-host.sh: prepare a fresh Debian 12 machine (root, no systemd) to build
# hvpatch and run its live-guest tests.  Idempotent: run it as often as you
# like; it installs what is missing, configures libvirt for fast domain
# starts and starts virtlogd and libvirtd when they are not running.
#
#   sh tests/setup-host.sh            packages + libvirt daemons
#   sh tests/setup-host.sh --packages packages only (build and unit tests)
set -eu

say() { echo "setup-host: $*" >&2; }
[ "$(id -u)" -eq 0 ] || { say "must run as root (it installs packages and starts libvirtd)"; exit 1; }

# Build, unit tests, fuzzing, test guests, and the live-guest stack.
packages="build-essential autoconf automake libtool pkg-config
	libvirt-dev libxml2-dev libssl-dev libjansson-dev libsqlite3-dev check libbpf-dev
	clang libclang-rt-14-dev clang-format cppcheck file
	qemu-system-x86 libvirt-daemon-system libvirt-clients
	busybox-static socat gdb cpio lz4 zstd xz-utils kmod binutils gzip ca-certificates"
# Kernel headers of every pinned test kernel (for building patches against them).
here=$(cd "$(dirname "$0")" && pwd)
for abi in $(cat "$here/guest/kernels.list" "$here/guest/cve-kernels.list" | grep -v '^#' | sort -u); do
	packages="$packages linux-headers-$abi-cloud-amd64"
done

missing=""
for p in $packages; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing="$missing $p"
done
if [ -n "$missing" ]; then
	say "installing:$missing"
	export DEBIAN_FRONTEND=noninteractive
	apt-get update -q >&2
	# shellcheck disable=SC2086
	apt-get install -y -q -o Dpkg::Options::=--force-confnew -o Dpkg::Options::=--force-confdef $missing >&2
fi
[ "${1:-}" = "--packages" ] && exit 0

# QEMU runs as libvirt's own user (libvirt-qemu), as on production hosts.
# Earlier versions of this script set user = "root"; take that out.
conf=/etc/libvirt/qemu.conf
if grep -q '^user = "root"' "$conf"; then
	sed -i -e '/^# hvpatch tests: run QEMU as root/d' -e '/^user = "root"$/d' -e '/^group = "root"$/d' "$conf"
	restart=1
fi
# This machine's /dev/kvm cannot run a Linux guest (tests use TCG), but
# libvirt's capability probe enables KVM with it and then, on every domain
# start, finds it unusable for the QEMU user, throws the cache away and
# probes QEMU again (about 45 s per start).  On a test host, hide the device
# (HV_KEEP_KVM=1 keeps it); domain starts then take 0.3 s.
if [ -c /dev/kvm ] && [ "${HV_KEEP_KVM:-0}" != 1 ]; then
	say "hiding /dev/kvm as /dev/kvm.hvpatch-hidden (test host: guests run under TCG)"
	mv /dev/kvm /dev/kvm.hvpatch-hidden
	restart=1
fi
mkdir -p /var/log/libvirt /var/lib/hvpatch-test /var/cache/hvpatch

running() { pgrep -x "$1" >/dev/null 2>&1; }
if [ "${restart:-0}" = 1 ] && running libvirtd; then
	say "restarting libvirtd to pick up $conf"
	pkill -x libvirtd || true
	i=0
	while running libvirtd && [ $i -lt 100 ]; do sleep 0.1; i=$((i + 1)); done
fi
running virtlogd || { say "starting virtlogd"; virtlogd -d; }
running libvirtd || { say "starting libvirtd"; libvirtd -d; }

i=0
until virsh -c qemu:///system version >/dev/null 2>&1; do
	i=$((i + 1))
	[ $i -lt 60 ] || { say "libvirtd did not answer on qemu:///system within 30 s; see /var/log/libvirt/libvirtd.log"; exit 1; }
	sleep 0.5
done
say "libvirt is ready ($(virsh -c qemu:///system version --daemon 2>/dev/null | sed -n 's/^Running hypervisor: //p'))"
