#!/bin/sh
# run.sh SECONDS [NAME...]
#
# Build each libFuzzer target tests/fuzz/fuzz_NAME.c (all of them when no
# NAME is given) with clang, ASan and UBSan, and run it for SECONDS over its
# seed corpus tests/fuzz/corpus/NAME/.  New inputs go to a scratch corpus,
# never into the tree.  Exits non-zero when a target finds a crash, leak,
# timeout or sanitizer report, and prints "N passed, N failed" last.
set -u
secs=${1:?usage: run.sh SECONDS [NAME...]}
shift
src=$(cd "$(dirname "$0")/../.." && pwd)
out=${HVPATCH_FUZZ_DIR:-/tmp/hvpatch-fuzz}
mkdir -p "$out"
cc=${CLANG:-clang}
command -v "$cc" >/dev/null 2>&1 || { echo "run.sh: clang is missing: apt-get install clang libclang-rt-14-dev" >&2; exit 1; }

names="$*"
if [ -z "$names" ]; then
	for f in "$src"/tests/fuzz/fuzz_*.c; do
		[ -e "$f" ] || continue
		n=${f##*/fuzz_}
		names="$names ${n%.c}"
	done
fi
pass=0 fail=0
for n in $names; do
	t="$src/tests/fuzz/fuzz_$n.c"
	if [ ! -f "$t" ]; then
		echo "FAIL: fuzz target $n: $t does not exist"
		fail=$((fail + 1))
		continue
	fi
	srcs=$(sed -n 's#.*fuzz-sources:\(.*\)\*/.*#\1#p' "$t" | head -n 1)
	files=""
	for s in $srcs; do files="$files $src/$s"; done
	# shellcheck disable=SC2086
	if ! $cc -g -O1 -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined \
		-D_GNU_SOURCE -I"$src/introspection" -I"$src/hvpatch" -I"$src/hvpatch/access" \
		-I"$src/hvpatch/bundle" -I"$src/hvpatch/apply" $(pkg-config --cflags jansson libcrypto 2>/dev/null) \
		-o "$out/fuzz_$n" "$t" $files $(pkg-config --libs jansson libcrypto 2>/dev/null) \
		> "$out/fuzz_$n.build.log" 2>&1; then
		echo "FAIL: fuzz target $n does not build:"
		cat "$out/fuzz_$n.build.log"
		fail=$((fail + 1))
		continue
	fi
	work="$out/corpus-$n"
	mkdir -p "$work"
	seeds="$src/tests/fuzz/corpus/$n"
	[ -d "$seeds" ] || seeds=""
	echo "fuzz $n: ${secs}s"
	if (cd "$out" && ./"fuzz_$n" -max_total_time="$secs" -timeout=10 -rss_limit_mb=2048 \
		-print_final_stats=1 "$work" $seeds > "$out/fuzz_$n.log" 2>&1); then
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
