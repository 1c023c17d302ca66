#!/bin/sh
# hvpatch build/keygen/sign/verify/show from the command line, with an
# object compiled by the host's gcc the way kbuild compiles kernel code
# (-mcmodel=kernel -pg -mfentry): no kernel headers needed.
set -u
hv="$top_builddir/hvpatch/hvpatch"
work=$(mktemp -d /tmp/hvb-cli-XXXXXX)
trap 'rm -rf "$work"' EXIT
fail=0
failed() { echo "FAIL: $*"; fail=1; }
run() { # desc expected-status command... ; output in $work/out
	desc=$1 want=$2
	shift 2
	"$@" > "$work/out" 2>&1
	got=$?
	[ "$got" -eq "$want" ] || failed "$desc: exit $got, expected $want: $(cat "$work/out")"
}
expect_out() { # desc needle
	grep -qF -- "$2" "$work/out" || failed "$1: '$2' not in: $(cat "$work/out")"
}

CFLAGS_K="-O2 -mcmodel=kernel -fno-pic -pg -mfentry -fcf-protection=none -fno-common \
	-fno-asynchronous-unwind-tables -fno-stack-protector -c"
cat > "$work/patch.c" <<'C'
struct seq_file;
extern char *saved_command_line;
int seq_puts(struct seq_file *m, const char *s);
int seq_printf(struct seq_file *m, const char *f, ...);
int hvpatch_orig_version_proc_show(struct seq_file *m, void *v);
static int calls;
int hvp_cmdline_proc_show(struct seq_file *m, void *v);
int hvp_version_proc_show(struct seq_file *m, void *v);
int hvp_cmdline_proc_show(struct seq_file *m, void *v)
{
	calls++;
	seq_puts(m, saved_command_line);
	seq_puts(m, " hvpatch_level=cli-1\n");
	return 0;
}
int hvp_version_proc_show(struct seq_file *m, void *v)
{
	int r = hvpatch_orig_version_proc_show(m, v);
	seq_printf(m, "calls %d\n", calls);
	return r;
}
C
# shellcheck disable=SC2086
gcc $CFLAGS_K -o "$work/patch.o" "$work/patch.c" || { echo "SKIP: gcc cannot build a kernel-model object"; exit 77; }
cat > "$work/manifest" <<'M'
patch-id = cli-test
level = cli-1
description = command-line test
cve = CVE-2026-0042
replace = cmdline_proc_show -> hvp_cmdline_proc_show
replace = version_proc_show@1 -> hvp_version_proc_show
M
bid=3b43fad5034874490492495d552c0af6a5fab235
rel=6.1.0-56-cloud-amd64

for c in build keygen sign verify show; do
	run "$c --help" 0 "$hv" "$c" --help
	expect_out "$c --help has usage" "Usage: hvpatch $c"
	expect_out "$c --help has exit status" "Exit status"
	run "$c with a bad option" 2 "$hv" "$c" --frobnicate
done
run "build without target" 2 "$hv" build -m "$work/manifest" -o "$work/b.hvb" "$work/patch.o"
expect_out "build without target says what to give" "--vmlinux"
run "build --build-id without --release" 2 "$hv" build -m "$work/manifest" -o "$work/b.hvb" --build-id $bid "$work/patch.o"
run "build with a bad build-id" 1 "$hv" build -m "$work/manifest" -o "$work/b.hvb" --build-id xyz --release $rel "$work/patch.o"
expect_out "bad build-id named" "build-id 'xyz'"

run "build" 0 "$hv" build -m "$work/manifest" -o "$work/b.hvb" --build-id $bid --release $rel "$work/patch.o"
expect_out "build lists kept text" ".text"
expect_out "build lists replacements" "cmdline_proc_show -> hvp_cmdline_proc_show"
expect_out "build counts fentry NOPs" "2 'call __fentry__' turned into NOPs"
run "build --json" 0 "$hv" build --json -m "$work/manifest" -o "$work/b.hvb" --build-id $bid --release $rel "$work/patch.o"
expect_out "build --json" '"fentry_nops": 2'
expect_out "build --json unsigned" '"signed": false'

run "show" 0 "$hv" show "$work/b.hvb"
expect_out "show level" "level        cli-1"
expect_out "show CVE" "CVE-2026-0042"
expect_out "show target" "target       $rel build-id $bid"
expect_out "show @N replacement" "version_proc_show@1 -> hvp_version_proc_show"
expect_out "show original-body relocation" "original body of version_proc_show@1 (entry+5)"
expect_out "show kernel-symbol relocation" "seq_printf"
expect_out "show bss section" "bss"
expect_out "show unsigned" "signature    none"
expect_out "show sha256" "sha256       $(sha256sum "$work/b.hvb" | cut -c1-64)"
run "show --json" 0 "$hv" show --json "$work/b.hvb"
expect_out "show --json target_index" '"target_index": 1'
expect_out "show --json null signature" '"signature": null'

run "keygen" 0 "$hv" keygen --out "$work/k1"
expect_out "keygen prints key id" "key id"
[ "$(stat -c %a "$work/k1.key")" = 600 ] || failed "private key mode is $(stat -c %a "$work/k1.key")"
run "keygen refuses to overwrite" 1 "$hv" keygen --out "$work/k1"
expect_out "keygen overwrite message" "never overwrites"
run "keygen --json" 0 "$hv" keygen --json --out "$work/k2"
expect_out "keygen --json" '"key_id":'
mkdir "$work/trusted" "$work/other"
cp "$work/k1.pub.pem" "$work/trusted/"
cp "$work/k2.pub.pem" "$work/other/"

run "verify unsigned" 1 "$hv" verify "$work/b.hvb" --trusted "$work/trusted"
expect_out "verify unsigned message" "not signed"
run "sign" 0 "$hv" sign "$work/b.hvb" --key "$work/k1.key"
run "verify signed" 0 "$hv" verify "$work/b.hvb" --trusted "$work/trusted"
expect_out "verify names the key" "valid, signed by trusted key"
run "verify --json" 0 "$hv" verify --json "$work/b.hvb" --trusted "$work/trusted"
expect_out "verify --json valid" '"valid": true'
run "verify unknown key" 1 "$hv" verify "$work/b.hvb" --trusted "$work/other"
expect_out "verify unknown key message" "not among the 1 trusted keys"
# Whoever can change the trusted keys decides what is written into guest
# kernels: the directory and its keys must be the user's or root's alone,
# no links, no private keys.
chmod 0755 "$work/trusted"
ln -s "$work/trusted" "$work/trusted-link"
run "trusted directory behind a symlink" 1 "$hv" verify "$work/b.hvb" --trusted "$work/trusted-link"
expect_out "symlinked directory named" "symbolic link"
chmod g+w "$work/trusted"
run "group-writable trusted directory" 1 "$hv" verify "$work/b.hvb" --trusted "$work/trusted"
expect_out "group-writable directory named" "writable by its group"
chmod 0755 "$work/trusted"
chmod o+w "$work/trusted/k1.pub.pem"
run "world-writable trusted key" 1 "$hv" verify "$work/b.hvb" --trusted "$work/trusted"
expect_out "world-writable key named" "k1.pub.pem is writable by every user"
chmod 0644 "$work/trusted/k1.pub.pem"
cp "$work/k2.key" "$work/trusted/leaked.pem"
run "private key among the trusted" 1 "$hv" verify "$work/b.hvb" --trusted "$work/trusted"
expect_out "private key named" "leaked.pem is a private key"
rm "$work/trusted/leaked.pem"
ln -s "$work/k2.pub.pem" "$work/trusted/linked.pem"
run "symlinked trusted key" 1 "$hv" verify "$work/b.hvb" --trusted "$work/trusted"
expect_out "symlinked key named" "linked.pem"
rm "$work/trusted/linked.pem"
if [ "$(id -u)" -eq 0 ]; then
	chown 65534 "$work/trusted"
	run "trusted directory of another user" 1 "$hv" verify "$work/b.hvb" --trusted "$work/trusted"
	expect_out "foreign owner named" "belongs to uid 65534"
	chown 0 "$work/trusted"
fi
run "verify after the directory is sound again" 0 "$hv" verify "$work/b.hvb" --trusted "$work/trusted"
run "show signed" 0 "$hv" show "$work/b.hvb"
expect_out "show key id" "signature    Ed25519, key id"
size=$(stat -c %s "$work/b.hvb")
for off in 0 20 100 $((size / 2)) $((size - 70)) $((size - 1)); do
	cp "$work/b.hvb" "$work/flip.hvb"
	# The complement, so the byte really changes (writing 0xff over a 0xff
	# byte would leave a valid bundle and a test that fails by chance).
	b=$(od -An -tu1 -j "$off" -N1 "$work/b.hvb" | tr -d ' ')
	printf "\\$(printf '%03o' $((255 - b)))" | dd of="$work/flip.hvb" bs=1 seek="$off" conv=notrunc 2>/dev/null
	cmp -s "$work/b.hvb" "$work/flip.hvb" && { echo "FAIL: byte $off did not change"; fail=1; }
	run "verify with byte $off altered" 1 "$hv" verify "$work/flip.hvb" --trusted "$work/trusted"
done
run "verify --json refused" 1 "$hv" verify --json "$work/flip.hvb" --trusted "$work/trusted"
expect_out "verify --json refused" '"valid": false'
run "show a non-bundle" 1 "$hv" show "$work/manifest"
expect_out "show non-bundle message" "not an hvpatch bundle"
run "sign with a public key" 1 "$hv" sign "$work/b.hvb" --key "$work/k1.pub.pem"
run "re-sign with another key" 0 "$hv" sign "$work/b.hvb" --key "$work/k2.key" -o "$work/b2.hvb"
run "re-signed verifies with its key" 0 "$hv" verify "$work/b2.hvb" --trusted "$work/other"
run "build and sign at once" 0 "$hv" build -m "$work/manifest" -o "$work/b3.hvb" --build-id $bid --release $rel --key "$work/k1.key" "$work/patch.o"
run "built-and-signed verifies" 0 "$hv" verify "$work/b3.hvb" --trusted "$work/trusted"

# With a cached vmlinux, targets and kernel symbols are checked against its
# kallsyms (the object above names version_proc_show@1, which does not exist).
vml=${HVPATCH_CACHE:-/var/cache/hvpatch}/kernels/6.1.0-56/vmlinux
if [ -f "$vml" ]; then
	run "build checks @N against the vmlinux" 1 "$hv" build -m "$work/manifest" -o "$work/v.hvb" --vmlinux "$vml" "$work/patch.o"
	expect_out "bad @N named" "version_proc_show@1"
	sed 's/version_proc_show@1/version_proc_show/' "$work/manifest" > "$work/v.manifest"
	run "build checked against the vmlinux" 0 "$hv" build -m "$work/v.manifest" -o "$work/v.hvb" --vmlinux "$vml" "$work/patch.o"
	expect_out "targets checked" "2 targets found and traceable (0 in modules), 4 symbol relocations resolve"
	sed 's/^replace = cmdline_proc_show/replace = _text/' "$work/v.manifest" > "$work/t.manifest"
	run "build refuses an untraceable target" 1 "$hv" build -m "$work/t.manifest" -o "$work/v.hvb" --vmlinux "$vml" "$work/patch.o"
	expect_out "untraceable target" "does not start with the ftrace call"
	sed 's/^replace = cmdline_proc_show/replace = init_once/' "$work/v.manifest" > "$work/t.manifest"
	run "build refuses an ambiguous target" 1 "$hv" build -m "$work/t.manifest" -o "$work/v.hvb" --vmlinux "$vml" "$work/patch.o"
	expect_out "ambiguous target" "init_once@0"
	{ cat "$work/v.manifest"; echo "symbol = seq_printf -> init_once@99"; } > "$work/t.manifest"
	run "build checks symbol aliases" 1 "$hv" build -m "$work/t.manifest" -o "$work/v.hvb" --vmlinux "$vml" "$work/patch.o"
	expect_out "alias @N checked" "init_once@99"
	{ cat "$work/v.manifest"; echo "symbol = seq_printf -> init_once@2"; } > "$work/t.manifest"
	run "build with a symbol alias" 0 "$hv" build -m "$work/t.manifest" -o "$work/v.hvb" --vmlinux "$vml" "$work/patch.o"
	run "show the alias" 0 "$hv" show "$work/v.hvb"
	expect_out "alias relocation" "R_X86_64_PLT32  init_once@2 -4"
else
	echo "note: no cached vmlinux ($vml); kallsyms checks not exercised"
fi

# A refused section names itself, the function and what to do.
cat > "$work/jump.c" <<'C'
struct entry { long code, target, key; };
int hvp_cmdline_proc_show(void *m, void *v);
int hvp_cmdline_proc_show(void *m, void *v)
{
	asm goto("1: .byte 0x0f,0x1f,0x44,0x00,0x00\n"
		 ".pushsection __jump_table, \"aw\"\n"
		 ".long 1b - ., %l[yes] - .\n"
		 ".quad 0\n"
		 ".popsection\n" : : : : yes);
	return 0;
yes:
	return 1;
}
C
# shellcheck disable=SC2086
gcc $CFLAGS_K -o "$work/jump.o" "$work/jump.c" || failed "gcc jump.c"
printf 'patch-id = j\nlevel = 1\nreplace = cmdline_proc_show -> hvp_cmdline_proc_show\n' > "$work/j.manifest"
run "refused __jump_table" 1 "$hv" build -m "$work/j.manifest" -o "$work/j.hvb" --build-id $bid --release $rel "$work/jump.o"
expect_out "refused section named" "section __jump_table"
expect_out "refused function named" "hvp_cmdline_proc_show"
expect_out "refused advice" "static keys"
[ ! -e "$work/j.hvb" ] || failed "a refused build left a bundle behind"

# Manifest errors name the file and line.
printf 'patch-id = x\nlevel = 1\nreplace = a b\n' > "$work/bad.manifest"
run "bad manifest" 1 "$hv" build -m "$work/bad.manifest" -o "$work/x.hvb" --build-id $bid --release $rel "$work/patch.o"
expect_out "bad manifest line" "bad.manifest line 3"
printf 'patch-id = x\nlevel = 1\nreplace = a -> missing_fn\n' > "$work/miss.manifest"
run "manifest names a missing function" 1 "$hv" build -m "$work/miss.manifest" -o "$work/x.hvb" --build-id $bid --release $rel "$work/patch.o"
expect_out "missing function named" "missing_fn"
exit $fail
