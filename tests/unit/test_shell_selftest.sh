#!/bin/sh
# Every shell test can fail.  Each one is run against two broken builds and
# must exit non-zero (not 0, not 77 "skipped") on both:
#   - programs that do nothing (exit 0, print nothing), and a configure that
#     does nothing;
#   - for the command-line tests, the real programs with their exit status
#     turned around (0 becomes 1, anything else 0): the output is right, only
#     the status is wrong, so only exit-status checks can see it.  A check
#     run inside $(...) loses its fail=1 with the subshell and passes here.
set -u
: "${top_srcdir:?}"
: "${top_builddir:?}"
fake=$(mktemp -d)
trap 'rm -rf "$fake"' EXIT
fail=0

# A build tree whose every program is a no-op, and a source tree whose
# configure is one.
for p in hvpatch/hvpatch guest-agent/hvpatch-agent tests/unit/test_bundle_exec; do
	mkdir -p "$fake/build/${p%/*}"
	printf '#!/bin/sh\nexit 0\n' > "$fake/build/$p"
	chmod +x "$fake/build/$p"
done
mkdir -p "$fake/src"
for d in docs tests; do ln -s "$(cd "$top_srcdir" && pwd)/$d" "$fake/src/$d"; done
printf '#!/bin/sh\nexit 0\n' > "$fake/src/configure"
chmod +x "$fake/src/configure"

# The real programs with their exit status turned around.
real_bd=$(cd "$top_builddir" && pwd)
for p in hvpatch/hvpatch guest-agent/hvpatch-agent; do
	mkdir -p "$fake/flip/${p%/*}"
	printf '#!/bin/sh\n"%s" "$@"\n[ $? -eq 0 ] && exit 1\nexit 0\n' "$real_bd/$p" > "$fake/flip/$p"
	chmod +x "$fake/flip/$p"
done
for name in test_cli.sh test_hvi_cli.sh test_bundle_cli.sh; do
	top_srcdir="$top_srcdir" top_builddir="$fake/flip" timeout 300 sh "$top_srcdir/tests/unit/$name" \
		> "$fake/$name.flip" 2>&1
	rc=$?
	case $rc in
	0 | 77)
		echo "FAIL: $name exits $rc although every exit status it checks is wrong:"
		tail -n 5 "$fake/$name.flip"
		fail=1
		;;
	*) echo "ok: $name fails (exit $rc) when the exit statuses are turned around" ;;
	esac
done

n=0
for t in "$top_srcdir"/tests/unit/*.sh; do
	name=${t##*/}
	[ "$name" = test_shell_selftest.sh ] && continue
	n=$((n + 1))
	top_srcdir="$fake/src" top_builddir="$fake/build" sh "$t" > "$fake/$name.out" 2>&1
	rc=$?
	case $rc in
	0)
		echo "FAIL: $name passes although every program it tests does nothing:"
		tail -n 5 "$fake/$name.out"
		fail=1
		;;
	77)
		# A skip is not a pass, but it must not hide checks either.
		echo "FAIL: $name skips instead of failing when its programs do nothing:"
		tail -n 3 "$fake/$name.out"
		fail=1
		;;
	*) echo "ok: $name fails (exit $rc) against no-op programs" ;;
	esac
done
[ $n -ge 5 ] || { echo "FAIL: only $n shell tests found"; fail=1; }
exit $fail
