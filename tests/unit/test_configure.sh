#!/bin/sh
# ./configure stops with the Debian package name when a library is missing.
# pkg-config is pointed at a copy of the system's .pc files without the one
# library under test, so the real configure script meets a real absence.
# It checks only for libraries the build uses: each one configure.ac
# requires is named by some rule (its _CFLAGS or _LIBS), and configure
# succeeds without the libraries nothing uses.
set -u
pcdirs=$(pkg-config --variable pc_path pkg-config 2>/dev/null)
[ -n "$pcdirs" ] || { echo "SKIP: pkg-config has no search path"; exit 77; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fail=0

# configure_without GLOB: run configure with the .pc files matching GLOB hidden;
# sets $out and $rc.
configure_without() {
	rm -rf "$tmp/pc" "$tmp/build"
	mkdir -p "$tmp/pc" "$tmp/build"
	for d in $(echo "$pcdirs" | tr ':' ' '); do
		for pc in "$d"/*.pc; do
			[ -e "$pc" ] || continue
			# shellcheck disable=SC2254 # $1 is a glob
			case "${pc##*/}" in $1) continue ;; esac
			ln -sf "$pc" "$tmp/pc/"
		done
	done
	out=$(cd "$tmp/build" && PKG_CONFIG_LIBDIR="$tmp/pc" PKG_CONFIG_PATH='' "$top_srcdir/configure" -q 2>&1)
	rc=$?
}

# check_missing GLOB PACKAGE: hide the .pc files matching GLOB; expect PACKAGE named.
check_missing() {
	configure_without "$1"
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

# check_not_needed GLOB: configure succeeds with the .pc files matching GLOB hidden.
check_not_needed() {
	configure_without "$1"
	if [ $rc -eq 0 ]; then
		echo "ok: configure does not need $1"
	else
		echo "FAIL: configure needs $1, which no source uses: $out"
		fail=1
	fi
}

# Every library configure.ac requires is used by a rule of some fragment.
mks=$(find "$top_srcdir" -name '*.mk' -o -name Makefile.am)
for v in $(sed -n 's/^HV_REQUIRE_PKG(\[\([A-Z0-9_]*\)\].*/\1/p' "$top_srcdir/configure.ac"); do
	# shellcheck disable=SC2086
	if grep -qE "\\\$\(${v}_(LIBS|CFLAGS)\)" $mks; then
		echo "ok: $v is used by a rule"
	else
		echo "FAIL: configure.ac requires $v but no Makefile.am or *.mk uses \$(${v}_CFLAGS) or \$(${v}_LIBS)"
		fail=1
	fi
done

check_missing 'libvirt*.pc' libvirt-dev
check_missing 'jansson.pc' libjansson-dev
check_missing 'libcrypto.pc' libssl-dev
check_missing 'libxml-2.0.pc' libxml2-dev
check_missing 'sqlite3.pc' libsqlite3-dev
check_missing 'check.pc' check
check_missing 'libbpf.pc' libbpf-dev
check_not_needed 'libssl.pc'
check_not_needed 'libevent*.pc'

# The libFuzzer build needs clang, and says so.
if command -v gcc >/dev/null 2>&1; then
	rm -rf "$tmp/build"
	mkdir -p "$tmp/build"
	out=$(cd "$tmp/build" && "$top_srcdir/configure" -q --enable-fuzzing CC=gcc 2>&1)
	case "$out" in
	*"install the Debian package clang"*) echo "ok: --enable-fuzzing CC=gcc says: $(echo "$out" | grep -m1 error)" ;;
	*) echo "FAIL: --enable-fuzzing CC=gcc did not ask for clang: $out"; fail=1 ;;
	esac
fi
exit $fail
