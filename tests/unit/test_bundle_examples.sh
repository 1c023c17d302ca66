#!/bin/sh
# The example patches (docs/examples/) build into bundles for every pinned
# kernel (tests/guest/kernels.list) with that kernel's kbuild, and
# 'hvpatch show' lists their replacements and relocations.  Needs the
# linux-headers-ABI-cloud-amd64 packages; exits 77 (skip) when none of them
# is installed.  The vmlinux comes from the kernel cache when present
# (never downloaded here); otherwise the build-id from
# tests/unit/bundle-data/kernels is given with --build-id/--release.
# HVB_EXAMPLES_OUT=DIR keeps the bundles there, with the signing key
# (key.key, key.pub.pem) and a trusted/ directory for 'hvpatch verify'.
set -u
hv="$top_builddir/hvpatch/hvpatch"
ex="$top_srcdir/docs/examples"
cache=${HVPATCH_CACHE:-/var/cache/hvpatch}/kernels
kroot=${HV_KBUILD_ROOT:-/usr/src}
work=$(mktemp -d /tmp/hvb-examples-XXXXXX)
trap 'rm -rf "$work"' EXIT
out=${HVB_EXAMPLES_OUT:-$work/out}
mkdir -p "$out"
fail=0 built=0 missing=""

failed() { echo "FAIL: $*"; fail=1; }
expect_in() { # desc needle file
	grep -qF -- "$2" "$3" || failed "$1: '$2' not in: $(head -c 2000 "$3")"
}

# The signing key: throw-away, or kept next to the bundles (with a trusted/
# directory holding its public half) when HVB_EXAMPLES_OUT is set.
if [ -n "${HVB_EXAMPLES_OUT:-}" ]; then keys=$out; else keys=$work; fi
[ -f "$keys/key.key" ] || "$hv" keygen --out "$keys/key" >/dev/null || failed "keygen"
mkdir -p "$keys/trusted"
cp "$keys/key.pub.pem" "$keys/trusted/"

for abi in $(grep -v '^#' "$top_srcdir/tests/guest/kernels.list"); do
	rel="$abi-cloud-amd64"
	kdir="$kroot/linux-headers-$rel"
	if [ ! -f "$kdir/Makefile" ]; then
		missing="$missing linux-headers-$rel"
		continue
	fi
	bid=$(awk -v a="$abi" '$1 == a { print $2 }' "$top_srcdir/tests/unit/bundle-data/kernels")
	[ -n "$bid" ] || { failed "no build-id for $abi in tests/unit/bundle-data/kernels"; continue; }
	if [ -f "$cache/$abi/vmlinux" ]; then
		target="--vmlinux $cache/$abi/vmlinux"
	else
		echo "note: no cached vmlinux for $abi; using --release $rel --build-id $bid"
		target="--release $rel --build-id $bid"
	fi
	for name in cmdline-level hostname-check version-level; do
		src=$(ls "$ex/$name"/*.c)
		b="$out/$name-$abi.hvb"
		# shellcheck disable=SC2086
		if ! "$hv" build --json -m "$ex/$name/manifest" --kbuild "$kdir" $target \
			--key "$keys/key.key" -o "$b" "$src" > "$work/build.json" 2> "$work/build.err"; then
			failed "$name for $abi does not build: $(cat "$work/build.err")"
			continue
		fi
		built=$((built + 1))
		expect_in "$name/$abi build reports NOPed fentry calls" '"fentry_nops":' "$work/build.json"
		expect_in "$name/$abi build is signed" '"signed": true' "$work/build.json"
		case $target in --vmlinux*)
			expect_in "$name/$abi targets checked against the vmlinux's kallsyms" '"checked": true' "$work/build.json" ;;
		esac
		"$hv" show "$b" > "$work/show.txt" || failed "show $name/$abi"
		"$hv" show --json "$b" > "$work/show.json" || failed "show --json $name/$abi"
		expect_in "$name/$abi target" "target       $rel build-id $bid" "$work/show.txt"
		expect_in "$name/$abi level" "$(sed -n 's/^level = //p' "$ex/$name/manifest")" "$work/show.txt"
		for r in $(sed -n 's/^replace = \([^ ]*\) -> \([^ ]*\)$/\1:\2/p' "$ex/$name/manifest"); do
			expect_in "$name/$abi replacement" "${r%%:*} -> ${r#*:} at .text+0x" "$work/show.txt"
		done
		expect_in "$name/$abi relocation to saved_command_line" "R_X86_64_PC32   saved_command_line -4" "$work/show.txt"
		expect_in "$name/$abi relocation to seq_puts" "R_X86_64_PLT32  seq_puts -4" "$work/show.txt"
		expect_in "$name/$abi relocation to own rodata" "R_X86_64_32S    .rodata+0x" "$work/show.txt"
		expect_in "$name/$abi return thunk stays a kernel symbol" "__x86_return_thunk" "$work/show.txt"
		expect_in "$name/$abi json relocations" '"relocations": [' "$work/show.json"
		if grep -q __fentry__ "$work/show.txt"; then failed "$name/$abi still relocates __fentry__"; fi
		case $name in
		hostname-check)
			expect_in "$name/$abi calls the original body" "original body of proc_do_uts_string (entry+5)" "$work/show.txt" ;;
		version-level)
			expect_in "$name/$abi calls the original body" "original body of version_proc_show (entry+5)" "$work/show.txt"
			expect_in "$name/$abi calls seq_printf" "R_X86_64_PLT32  seq_printf -4" "$work/show.txt"
			expect_in "$name/$abi json original body" '"target_kind": "original_body"' "$work/show.json" ;;
		esac
		"$hv" verify "$b" --trusted "$keys/trusted" > /dev/null || failed "verify $name/$abi"
		# Run the relocated code in-process with stand-ins for the kernel.
		level=$(sed -n 's/^level = //p' "$ex/$name/manifest")
		"$top_builddir/tests/unit/test_bundle_exec" "$b" > "$work/exec.txt" 2>&1
		st=$?
		if [ "$st" -eq 77 ]; then
			echo "note: cannot run bundle code here: $(cat "$work/exec.txt")"
		elif [ "$st" -ne 0 ]; then
			failed "$name/$abi code does not run: $(cat "$work/exec.txt")"
		else
			expect_in "$name/$abi /proc/cmdline output" "cmdline_proc_show ret=0 orig=0 out=[console=ttyS0 quiet hvpatch_level=$level\\n]" "$work/exec.txt"
			case $name in
			hostname-check | version-level)
				expect_in "$name/$abi refuses a bad name without calling the original" "proc_do_uts_string write=[evil/host name] ret=-22 orig=0" "$work/exec.txt"
				expect_in "$name/$abi passes a good name to the original body" "proc_do_uts_string write=[good-name.example] ret=0 orig=1" "$work/exec.txt" ;;
			esac
			[ "$name" != version-level ] ||
				expect_in "$name/$abi /proc/version output" "version_proc_show ret=0 orig=1 out=[Linux version 6.1.0-test (original body)\\nhvpatch level $level (patched live from the host)\\n]" "$work/exec.txt"
		fi
	done
	# percpu-current (not in the series, no in-process run: it reads %gs):
	# builds, checked against the vmlinux, with the per-cpu relocations the
	# kernel's accessors produce (t-percpu.sh applies it live).
	b="$out/percpu-current-$abi.hvb"
	# shellcheck disable=SC2086
	if "$hv" build --json -m "$ex/percpu-current/manifest" --kbuild "$kdir" $target \
		--key "$keys/key.key" -o "$b" "$ex/percpu-current/percpu_current.c" > "$work/build.json" 2> "$work/build.err"; then
		built=$((built + 1))
		"$hv" show "$b" > "$work/show.txt" || failed "show percpu-current/$abi"
		for r in "R_X86_64_32S    current_task +0" "R_X86_64_PC32   cpu_number -4" \
			"R_X86_64_PC32   this_cpu_off -4" "R_X86_64_32S    kstat +0" "R_X86_64_PC32   kstat +8"; do
			expect_in "percpu-current/$abi per-cpu relocation" "$r" "$work/show.txt"
		done
		case $target in --vmlinux*)
			expect_in "percpu-current/$abi checked against the vmlinux's kallsyms" '"checked": true' "$work/build.json" ;;
		esac
	else
		failed "percpu-current for $abi does not build: $(cat "$work/build.err")"
	fi
done
if [ "$built" -eq 0 ] && [ -n "$missing" ]; then
	echo "SKIP: kernel headers are not installed (apt-get install$missing)"
	exit 77
fi
[ -z "$missing" ] || failed "headers missing for some pinned kernels:$missing"
echo "$built example bundles built"
exit $fail
