#!/bin/sh
# ./configure stops with the Debian package name when a library is missing.
# pkg-config is pointed at a copy of the system's .pc files without the one
# library under test, so the real configure script meets a real absence.
set -u
pcdirs=$(pkg-config --variable pc_path pkg-config 2>/dev/null)
[ -n "$pcdirs" ] || { echo "SKIP: pkg-config has no search path"; exit 77; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fail=0

# check_missing GLOB PACKAGE: hide the .pc files matching GLOB; expect PACKAGE named.
check_missing() {
	rm -rf "$tmp/pc" "$tmp/build"
	mkdir -p "$tmp/pc" "$tmp/build"
	for d in $(echo "$pcdirs" | tr ':' ' '); do
		for pc in "$d"/*.pc; do
			[ -e "$pc" ] || continue
			case "${pc##*/}" in $1) continue ;; esac
			ln -sf "$pc" "$tmp/pc/"
		done
	done
	out=$(cd "$tmp/build" && PKG_CONFIG_LIBDIR="$tmp/pc" PKG_CONFIG_PATH= "$top_srcdir/configure" -q 2>&1)
	rc=$?
	if [ $rc -eq 0 ]; then
		echo "FAIL: configure succeeded without $1"
		fail=1
		return
	fi
	case "$out" in
	*"install the Debian package $2"*) echo "ok: without $1 configure says: $(echo "$out" | grep -m1 error)" ;;
	*) echo "FAIL: without $1, configure did not name $2: $out"; fail=1 ;;
	esac
}
check_missing 'libvirt*.pc' libvirt-dev
check_missing 'jansson.pc' libjansson-dev
check_missing 'libcrypto.pc' libssl-dev
exit $fail
