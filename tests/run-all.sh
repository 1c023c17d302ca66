#!/bin/sh
# run-all.sh: the whole hvpatch test suite, from a clean checkout on a fresh
# Debian 12 machine (as root).  It installs what it needs, builds with
# -Werror, checks formatting and static analysis, runs the unit tests (plain
# and under ASan/UBSan), builds and tests the release tarball (make
# distcheck), runs the fuzz targets, and the live-guest integration tests
# under libvirt/QEMU.  The last line is "N passed, N failed".
#
# Environment: FUZZ_SECONDS (default 60 for the bundle parser, a third of it
# for the others), BUILD_DIR (default ./build), SKIP_SETUP=1 to skip package
# installation on a prepared machine.
set -u
src=$(cd "$(dirname "$0")/.." && pwd)
build=${BUILD_DIR:-$src/build}
fuzz_secs=${FUZZ_SECONDS:-60}
total_pass=0 total_fail=0
results=""

step() { echo; echo "=== $* ==="; }
record() { # name pass fail
	total_pass=$((total_pass + $2))
	total_fail=$((total_fail + $3))
	results="$results
  $1: $2 passed, $3 failed"
}
# Counts from automake's test-suite.log: PASS and FAIL+ERROR+XPASS.
automake_counts() { # logfile -> "pass fail"
	if [ -f "$1" ]; then
		p=$(sed -n 's/^# PASS: *//p' "$1" | head -n 1)
		f=$(sed -n 's/^# \(FAIL\|ERROR\|XPASS\): *//p' "$1" | awk '{ s += $1 } END { print s + 0 }')
		s=$(sed -n 's/^# SKIP: *//p' "$1" | head -n 1)
		echo "${p:-0} $((f + ${s:-0}))"
	else
		echo "0 1"
	fi
}
last_counts() { # output file -> "pass fail" from its "N passed, N failed" line
	tail -n 5 "$1" | sed -n 's/^\([0-9]*\) passed, \([0-9]*\) failed.*/\1 \2/p' | tail -n 1
}

cd "$src" || exit 1
if [ "${SKIP_SETUP:-0}" != 1 ]; then
	step "host setup (tests/setup-host.sh)"
	if ! sh tests/setup-host.sh; then
		echo "host setup failed"
		echo "0 passed, 1 failed"
		exit 1
	fi
fi

step "build (-Werror)"
autoreconf -fi >/dev/null 2>&1 || { autoreconf -fi; echo "0 passed, 1 failed"; exit 1; }
mkdir -p "$build"
if (cd "$build" && "$src/configure" --enable-werror -q && make -j2 -s); then
	record build 1 0
else
	record build 0 1
	echo "build failed"
	echo "$total_pass passed, $total_fail failed"
	exit 1
fi

step "formatting (clang-format) and static analysis (cppcheck)"
srcs=$(git ls-files '*.c' '*.h' 2>/dev/null)
if clang-format --dry-run --Werror $srcs; then record clang-format 1 0; else record clang-format 0 1; fi
if cppcheck -q --error-exitcode=1 --enable=warning,portability --inline-suppr \
	-I introspection -I hvpatch -D__GNUC__ --suppress=missingIncludeSystem $srcs; then
	record cppcheck 1 0
else
	record cppcheck 0 1
fi

step "unit tests (make check)"
(cd "$build" && make -j2 check) > "$build/check.out" 2>&1
grep -E '^(PASS|FAIL|SKIP|ERROR|XPASS):' "$build/check.out"
set -- $(automake_counts "$build/test-suite.log")
[ "$2" -eq 0 ] || { cat "$build/test-suite.log"; }
record "unit tests" "$1" "$2"

step "distribution tarball (make distcheck: builds and tests the tarball)"
if (cd "$build" && make -j2 distcheck) > "$build/distcheck.out" 2>&1; then
	echo "PASS: make distcheck ($(sed -n 's/^# TOTAL: *//p' "$build/distcheck.out" | tail -n 1) tests)"
	record distcheck 1 0
else
	tail -n 60 "$build/distcheck.out"
	echo "FAIL: make distcheck (full output: $build/distcheck.out)"
	record distcheck 0 1
fi

step "unit tests under ASan/UBSan"
mkdir -p "$build-san"
if (cd "$build-san" && "$src/configure" --enable-werror --enable-sanitizers -q && make -j2 -s) >/dev/null; then
	(cd "$build-san" && ASAN_OPTIONS=detect_leaks=1 make -j2 check) > "$build-san/check.out" 2>&1
	grep -E '^(PASS|FAIL|SKIP|ERROR|XPASS):' "$build-san/check.out"
	set -- $(automake_counts "$build-san/test-suite.log")
	[ "$2" -eq 0 ] || { cat "$build-san/test-suite.log"; }
	record "sanitizer unit tests" "$1" "$2"
else
	record "sanitizer build" 0 1
fi

step "fuzzing"
for t in tests/fuzz/fuzz_*.c; do
	[ -e "$t" ] || continue
	n=${t##*/fuzz_}
	n=${n%.c}
	secs=$((fuzz_secs / 3))
	[ "$n" = bundle ] && secs=$fuzz_secs
	sh tests/fuzz/run.sh "$secs" "$n" > "$build/fuzz_$n.out" 2>&1
	cat "$build/fuzz_$n.out" | grep -E '^(PASS|FAIL)' 
	set -- $(last_counts "$build/fuzz_$n.out")
	[ "${2:-1}" -eq 0 ] || tail -n 50 "$build/fuzz_$n.out"
	record "fuzz $n" "${1:-0}" "${2:-1}"
done

step "integration tests (make check-integration: real guests under libvirt/QEMU TCG)"
(cd "$build" && make check-integration) > "$build/integration.out" 2>&1
grep -vE '^(make|  )' "$build/integration.out" | grep -E '^(PASS|FAIL|SKIP)' 
set -- $(last_counts "$build/integration.out")
[ "${2:-1}" -eq 0 ] || cat "$build/integration.out"
record "integration tests" "${1:-0}" "${2:-1}"

echo
echo "Summary:$results"
echo "$total_pass passed, $total_fail failed"
[ "$total_fail" -eq 0 ]
