#!/bin/sh
# run.sh SECONDS [NAME...]
#
# Build each libFuzzer target tests/fuzz/fuzz_NAME.c (all of them when no
# NAME is given) and run it for SECONDS over its seed corpus
# tests/fuzz/corpus/NAME/.  The targets are built by the project's own build
# (tests/fuzz/local.mk) in a tree configured with --enable-fuzzing CC=clang:
# $HVPATCH_FUZZ_BUILD if set (a tree you configured so), else one this
# script configures once in $HVPATCH_FUZZ_DIR/build (default
# /tmp/hvpatch-fuzz/build).  New inputs go to a scratch corpus, never into
# the tree.  Exits non-zero when a target does not build or finds a crash,
# leak, timeout or sanitizer report, and prints "N passed, N failed" last.
set -u
secs=${1:?usage: run.sh SECONDS [NAME...]}
shift
src=$(cd "$(dirname "$0")/../.." && pwd)
out=${HVPATCH_FUZZ_DIR:-/tmp/hvpatch-fuzz}
mkdir -p "$out"
cc=${CLANG:-clang}

names="$*"
if [ -z "$names" ]; then
	for f in "$src"/tests/fuzz/fuzz_*.c; do
		[ -e "$f" ] || continue
		n=${f##*/fuzz_}
		names="$names ${n%.c}"
	done
fi
count=$(echo $names | wc -w)

# give_up MESSAGE LOG: every target fails (nothing can be built).
give_up() {
	echo "FAIL: $1"
	[ -f "$2" ] && tail -n 40 "$2"
	echo "0 passed, $count failed"
	exit 1
}

build=${HVPATCH_FUZZ_BUILD:-}
if [ -z "$build" ]; then
	command -v "$cc" >/dev/null 2>&1 ||
		give_up "clang is missing: apt-get install clang libclang-rt-14-dev" /dev/null
	build="$out/build"
	stamp="src=$src cc=$cc"
	if [ "$(cat "$build/.hvpatch-fuzz-config" 2>/dev/null)" != "$stamp" ]; then
		rm -rf "$build"
		mkdir -p "$build"
		if [ ! -x "$src/configure" ]; then
			(cd "$src" && autoreconf -fi) > "$out/autoreconf.log" 2>&1 ||
				give_up "autoreconf -fi failed in $src" "$out/autoreconf.log"
		fi
		(cd "$build" && "$src/configure" -q --enable-fuzzing CC="$cc") > "$out/configure.log" 2>&1 ||
			give_up "configure --enable-fuzzing CC=$cc failed" "$out/configure.log"
		echo "$stamp" > "$build/.hvpatch-fuzz-config"
	fi
fi
grep -q '^FUZZ_LDFLAGS = .*fuzzer' "$build/Makefile" 2>/dev/null ||
	give_up "$build is not configured with --enable-fuzzing" /dev/null
# A tree configured earlier picks up targets added since (automake's own
# rules regenerate the Makefile when a fragment changed).
make -C "$build" Makefile > "$out/regenerate.log" 2>&1 || true

pass=0 fail=0
for n in $names; do
	t="$src/tests/fuzz/fuzz_$n.c"
	if [ ! -f "$t" ]; then
		echo "FAIL: fuzz target $n: $t does not exist"
		fail=$((fail + 1))
		continue
	fi
	if ! grep -q "^tests/fuzz/fuzz_$n\\\$(EXEEXT):" "$build/Makefile"; then
		echo "FAIL: fuzz target $n has no rule: add it to HV_FUZZ_TARGETS in tests/fuzz/local.mk"
		fail=$((fail + 1))
		continue
	fi
	if ! make -C "$build" -j2 -s "tests/fuzz/fuzz_$n" > "$out/fuzz_$n.build.log" 2>&1; then
		echo "FAIL: fuzz target $n does not build:"
		tail -n 60 "$out/fuzz_$n.build.log"
		fail=$((fail + 1))
		continue
	fi
	work="$out/corpus-$n"
	mkdir -p "$work"
	seeds="$src/tests/fuzz/corpus/$n"
	[ -d "$seeds" ] || seeds=""
	# The .ko reader's seed is built, not kept in the tree: the unit
	# tests' module-like object (tests/unit/bundle.mk).
	if [ "$n" = ko ] && make -C "$build" -s tests/unit/ko_fixture.ko > /dev/null 2>&1; then
		cp "$build/tests/unit/ko_fixture.ko" "$work/"
	fi
	echo "fuzz $n: ${secs}s"
	if (cd "$out" && "$build/tests/fuzz/fuzz_$n" -max_total_time="$secs" -timeout=10 \
		-rss_limit_mb=2048 -print_final_stats=1 "$work" $seeds > "$out/fuzz_$n.log" 2>&1); then
		echo "PASS: fuzz $n ($(grep -m1 -o 'stat::number_of_executed_units: *[0-9]*' "$out/fuzz_$n.log" | awk '{print $2}') runs)"
		pass=$((pass + 1))
	else
		echo "FAIL: fuzz $n found a problem:"
		tail -n 40 "$out/fuzz_$n.log"
		fail=$((fail + 1))
	fi
done
echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]
