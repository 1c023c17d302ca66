#!/bin/sh
# hvpatch inspect / sym / addr on live guests (TCG), for every pinned kernel:
#  - the build-id read from guest memory equals the vmlinux ELF's, the
#    release equals the guest's uname -r;
#  - every symbol the guest printed from its own /proc/kallsyms (HVP-KSYM,
#    >200 names incl. duplicated static names) decodes to the same address
#    (duplicates: the guest's addresses are among ours, all of them when it
#    printed fewer than three);
#  - inspection works from a vCPU paused in user mode: the guest runs
#    hvp_spin=1 with pti=on, hvpatch waits for CPL 3, the CR3 used has bit 12
#    (PTI user page table) set, and the same kernel base is found;
#  - the KASLR base differs between two boots of the same guest and is found
#    both times (equal to the guest's own _text);
#  - a guest with LA57 (--cpu maximum) runs 5-level paging and is inspected
#    through the 5-level walk.
#  - hvpatch modules lists exactly the modules the guest loaded (the
#    order file its init insmods), all live in the module area; every
#    function of virtio_console's .text sits at the module's core base plus
#    its offset in virtio_console.ko, with the .ko's size; MODULE:function
#    and an address inside it resolve; a module not loaded is an error.
# T_INSPECT_ABIS="6.1.0-56" limits the kernels (default: all pinned).
. "$top_srcdir/tests/integration/lib.sh"
HVP="$top_builddir/hvpatch/hvpatch"
abis=${T_INSPECT_ABIS:-$(hv_abis)}

# json_field JSON KEY: the value of "KEY" (string quotes removed).
json_field() {
	printf '%s\n' "$1" | sed -n "s/^ *\"$2\": \"\{0,1\}\([^\",]*\)\"\{0,1\},\{0,1\}\$/\1/p" | head -n 1
}

# ksym_lines: "addr type name" of the guest's HVP-KSYM markers, unique.
ksym_lines() {
	tr -d '\r' < "$HV_CONSOLE" | sed -n 's/^HVP-KSYM \([0-9a-f]\{16\}\) \(.\) \(.*\)$/\1 \2 \3/p' | sort -u
}

check_symbols() { # abi
	lines=$(ksym_lines)
	names=$(printf '%s\n' "$lines" | awk '{ print $3 }' | sort -u)
	nnames=$(printf '%s\n' "$names" | grep -c .)
	[ "$nnames" -ge 200 ] || hv_fail "$1: the guest printed only $nnames kallsyms names"
	# shellcheck disable=SC2086
	"$HVP" sym --json "$HV_DOM" $names > "$HV_RUNDIR/$HV_DOM.sym" ||
		hv_fail "$1: hvpatch sym failed: $(grep -m1 error "$HV_RUNDIR/$HV_DOM.sym")"
	# ours: "name addr" per decoded symbol
	ours=$(tr -d ' \n' < "$HV_RUNDIR/$HV_DOM.sym" | sed 's/},{/}\n{/g' |
		sed -n 's/.*"name":"\([^"]*\)".*"addr":"0x\([0-9a-f]*\)".*/\1 \2/p')
	bad=0 dups=0 checked=0
	for n in $names; do
		theirs=$(printf '%s\n' "$lines" | awk -v n="$n" '$3 == n { print $1 }' | sed 's/^0*//; s/^$/0/' | sort -u)
		mine=$(printf '%s\n' "$ours" | awk -v n="$n" '$1 == n { print $2 }' | sed 's/^0*//; s/^$/0/' | sort -u)
		nt=$(printf '%s\n' "$theirs" | grep -c .)
		nm=$(printf '%s\n' "$mine" | grep -c .)
		missing=""
		for a in $theirs; do
			printf '%s\n' "$mine" | grep -qx "$a" || missing="$missing $a"
		done
		if [ -n "$missing" ] || [ "$nm" -eq 0 ]; then
			hv_log "$1: $n: guest says {$(echo $theirs)}, hvpatch says {$(echo $mine)}"
			bad=$((bad + 1))
		fi
		checked=$((checked + 1))
	done
	# The guest ends its markers with up to three lines of each of the first
	# 20 duplicated static names (groups of equal names right before
	# HVP-KSYM-COUNT): fewer than three lines means that is all of them.
	groups=$(tr -d '\r' < "$HV_CONSOLE" | sed -n '/^HVP-KSYM /p; /^HVP-KSYM-COUNT/q' |
		awk '{ print $4 }' | tac | awk 'NR == 1 || $1 != prev { if (NR > 1) print prev, c; c = 0 } { prev = $1; c++ } END { print prev, c }' |
		head -n 20)
	for g in $(printf '%s\n' "$groups" | awk '{ print $1 ":" $2 }'); do
		n=${g%:*} c=${g#*:}
		nm=$(printf '%s\n' "$ours" | awk -v n="$n" '$1 == n' | sort -u | grep -c .)
		if [ "$c" -lt 3 ] && [ "$nm" -ne "$c" ]; then
			hv_log "$1: duplicated $n: the guest has $c, hvpatch decodes $nm"
			bad=$((bad + 1))
		elif [ "$nm" -lt "$c" ]; then
			hv_log "$1: duplicated $n: the guest has at least $c, hvpatch decodes $nm"
			bad=$((bad + 1))
		fi
		[ "$c" -ge 2 ] && dups=$((dups + 1))
		# name@N picks the N-th in address order
		if [ "$c" -eq 2 ] && [ -z "${at_checked:-}" ]; then
			want=$(printf '%s\n' "$ours" | awk -v n="$n" '$1 == n { print $2 }' | sort | tail -n 1)
			got=$("$HVP" sym "$HV_DOM" "$n@1") || hv_fail "$1: hvpatch sym $n@1 failed"
			[ "$(echo "$got" | awk '{ print $1 }' | sed 's/^0*//')" = "$(echo "$want" | sed 's/^0*//')" ] ||
				hv_fail "$1: $n@1 is '$got', expected address $want"
			at_checked=1
		fi
	done
	at_checked=""
	[ "$bad" -eq 0 ] || hv_fail "$1: $bad of $checked symbols decode differently from the guest's /proc/kallsyms"
	[ "$dups" -ge 1 ] || hv_fail "$1: no duplicated static name among the guest's markers"
	hv_log "$1: $checked symbols ($dups duplicated names) decode to the guest's own addresses"
	rm -f "$HV_RUNDIR/$HV_DOM.sym"
}

# check_modules ABI: the guest's modules and virtio_console's symbols,
# against the modules the guest loaded and the virtio_console.ko it loaded.
check_modules() {
	kdir="$HV_CACHE/kernels/$1/modules"
	ko="$kdir/virtio_console.ko"
	out=$("$HVP" modules "$HV_DOM") || hv_fail "$1: hvpatch modules failed"
	hv_log "$1: hvpatch modules:
$out"
	got=$(printf '%s\n' "$out" | awk '{ print $1 }' | sort | tr '\n' ' ')
	want=$(sed 's/\.ko$//' "$kdir/order" | sort | tr '\n' ' ')
	[ -n "$want" ] || hv_fail "$1: $kdir/order lists no module"
	[ "$got" = "$want" ] || hv_fail "$1: hvpatch modules lists {$got}, the guest loaded {$want}"
	bad=$(printf '%s\n' "$out" |
		awk '$2 != "live" || $3 !~ /^0xffffffffc/ || $5 + 0 <= 0 || $5 + 0 > $4 + 0')
	[ -z "$bad" ] || hv_fail "$1: modules not live, outside the module area or with text beyond the core: $bad"
	base=$(printf '%s\n' "$out" | awk '$1 == "virtio_console" { print $3 }')
	"$HVP" modules --symbols virtio_console "$HV_DOM" > "$HV_RUNDIR/$HV_DOM.modsyms" ||
		hv_fail "$1: hvpatch modules --symbols virtio_console failed"
	# The .ko's functions in .text, "name offset size", names it holds once.
	tsec=$(readelf -SW "$ko" | sed -n 's/^ *\[ *\([0-9]*\)\] \.text .*/\1/p')
	[ -n "$tsec" ] || hv_fail "$1: $ko has no .text"
	funcs=$(readelf -sW "$ko" | awk -v s="$tsec" '$4 == "FUNC" && $7 == s { print $8, $2, $3 }' |
		awk '{ n[$1]++; l[$1] = $0 } END { for (k in n) if (n[k] == 1) print l[k] }')
	nf=$(printf '%s\n' "$funcs" | grep -c .)
	[ "$nf" -ge 20 ] || hv_fail "$1: only $nf functions in the .text of $ko"
	nbad=0
	# (shell arithmetic is signed 64-bit: add to the low 32 bits only)
	hi=${base%????????} lo=${base#0xffffffff}
	while read -r name off size; do
		a=$(printf '%s%08x' "${hi#0x}" $((0x$lo + 0x$off)))
		line=$(awk -v n="virtio_console:$name" '$3 == n' "$HV_RUNDIR/$HV_DOM.modsyms")
		if [ "$line" != "$a t virtio_console:$name $size" ] &&
			[ "$line" != "$a T virtio_console:$name $size" ]; then
			hv_log "$1: $name: the .ko puts it at $a size $size, hvpatch says '$line'"
			nbad=$((nbad + 1))
		fi
	done <<EOF_FUNCS
$funcs
EOF_FUNCS
	[ "$nbad" -eq 0 ] || hv_fail "$1: $nbad of $nf functions of virtio_console differ from virtio_console.ko"
	# MODULE:function, and an address inside it back to MODULE:function+off.
	q=$("$HVP" modules "$HV_DOM" virtio_console:virtcons_probe) ||
		hv_fail "$1: hvpatch modules virtio_console:virtcons_probe failed"
	vp=$(echo "$q" | awk '{ print $1 }')
	grep -q "^$vp . virtio_console:virtcons_probe " "$HV_RUNDIR/$HV_DOM.modsyms" ||
		hv_fail "$1: virtio_console:virtcons_probe is '$q', not what --symbols says"
	a=$("$HVP" modules "$HV_DOM" "0x${vp%????????}$(printf '%08x' $((0x${vp#????????} + 5)))") ||
		hv_fail "$1: hvpatch modules on an address inside virtcons_probe failed"
	echo "$a" | grep -q " virtio_console:virtcons_probe+0x5$" ||
		hv_fail "$1: an address 5 bytes into virtcons_probe is '$a'"
	if err=$("$HVP" modules "$HV_DOM" nosuch_mod:foo 2>&1); then
		hv_fail "$1: a module that is not loaded resolved: $err"
	fi
	echo "$err" | grep -q "is not loaded" || hv_fail "$1: a module not loaded says '$err'"
	J=$("$HVP" modules --json "$HV_DOM") || hv_fail "$1: hvpatch modules --json failed"
	[ "$(json_field "$J" module_count)" = "$(printf '%s\n' "$out" | grep -c .)" ] ||
		hv_fail "$1: --json counts $(json_field "$J" module_count) modules"
	hv_log "$1: modules {$got} live; $nf functions of virtio_console at base $base + their .ko offsets; virtcons_probe at 0x$vp; list read in $(json_field "$J" list_us) us"
	rm -f "$HV_RUNDIR/$HV_DOM.modsyms"
}

# inspect_guest ABI [extra options]: sets J (the JSON) and TEXT (kernel base).
inspect_guest() {
	abi=$1
	shift
	J=$("$HVP" inspect --json "$@" "$HV_DOM") || hv_fail "$abi: hvpatch inspect $* failed"
	bid=$(json_field "$J" build_id)
	[ "$bid" = "$(cat "$HV_CACHE/kernels/$abi/build-id")" ] ||
		hv_fail "$abi: build-id from guest memory $bid differs from the vmlinux ELF's $(cat "$HV_CACHE/kernels/$abi/build-id")"
	[ "$(json_field "$J" release)" = "$HV_RELEASE" ] ||
		hv_fail "$abi: release $(json_field "$J" release), guest says $HV_RELEASE"
	TEXT=$(json_field "$J" text_gva)
	gtext=$(ksym_lines | awk '$3 == "_text" { print $1 }')
	[ "$(printf '%x' "$TEXT")" = "$(printf '%x' "0x$gtext")" ] ||
		hv_fail "$abi: kernel base $TEXT, the guest's _text is $gtext"
}

for abi in $abis; do
	# Boot 1: 4-level paging, PTI forced on (qemu64 is an AMD model, for
	# which the kernel would otherwise leave PTI off), a user-mode spinner.
	hv_guest_start "$abi" --cpu qemu64 --cmdline "hvp_spin=1 pti=on"
	hv_wait_console '^HVP-READY' 180 >/dev/null || hv_fail "$abi: guest did not boot"
	hv_wait_console '^HVP-SPIN' 30 >/dev/null || hv_fail "$abi: no user-mode spinner"
	inspect_guest "$abi"
	text1=$TEXT
	[ "$(json_field "$J" paging_levels)" = 4 ] || hv_fail "$abi: qemu64 guest not seen as 4-level"
	hv_log "$abi: boot 1: base $text1 phys $(json_field "$J" text_gpa), $(json_field "$J" symbols) symbols, index $(json_field "$J" index_us) us, IDT checked $(json_field "$J" idt_checked)"
	check_symbols "$abi"
	check_modules "$abi"

	# addr: a text address inside cmdline_proc_show maps back to it, RX.
	cps=$(ksym_lines | awk '$3 == "cmdline_proc_show" { print $1 }')
	# (shell arithmetic is signed 64-bit: add 5 to the low 32 bits only)
	lo=$(printf '%08x' $((0x${cps#????????} + 5)))
	a=$("$HVP" addr "$HV_DOM" "0x${cps%????????}$lo") || hv_fail "$abi: hvpatch addr 0x${cps%????????}$lo failed"
	echo "$a" | grep -q " cmdline_proc_show+0x5 0x[0-9a-f]* [24][MK] r-x-$" ||
		hv_fail "$abi: addr says '$a' for cmdline_proc_show+5"

	# PTI: inspect from a vCPU paused in user mode.
	inspect_guest "$abi" --user-cr3
	[ "$(json_field "$J" cpl)" = 3 ] || hv_fail "$abi: --user-cr3 used a vCPU at CPL $(json_field "$J" cpl)"
	[ "$(json_field "$J" pti_user_cr3)" = true ] ||
		hv_fail "$abi: CR3 $(json_field "$J" cr3) of a user-mode vCPU lacks bit 12 (PTI user page table)"
	[ "$TEXT" = "$text1" ] || hv_fail "$abi: from the user CR3 the base is $TEXT, not $text1"
	hv_log "$abi: from user-mode CR3 $(json_field "$J" cr3) (CPL 3, after $(json_field "$J" pauses) pauses): same base"
	virsh -c "$HV_URI" destroy "$HV_DOM" >/dev/null

	# Boot 2: the same guest again; KASLR must move the kernel.
	hv_guest_start "$abi" --cpu qemu64 --cmdline "hvp_spin=1 pti=on"
	hv_wait_console '^HVP-READY' 180 >/dev/null || hv_fail "$abi: guest did not boot again"
	inspect_guest "$abi"
	[ "$TEXT" != "$text1" ] || hv_fail "$abi: the kernel base $TEXT did not change between two boots"
	hv_log "$abi: boot 2: base $TEXT (boot 1: $text1)"
	virsh -c "$HV_URI" destroy "$HV_DOM" >/dev/null

	# Boot 3: LA57 (-cpu max): the kernel runs 5-level paging.
	hv_guest_start "$abi" --cpu maximum
	hv_wait_console '^HVP-READY' 180 >/dev/null || hv_fail "$abi: LA57 guest did not boot"
	inspect_guest "$abi"
	cr4=$(json_field "$J" cr4)
	[ $((cr4 & 0x1000)) -ne 0 ] || hv_fail "$abi: --cpu maximum guest has CR4 $cr4 without LA57"
	[ "$(json_field "$J" paging_levels)" = 5 ] || hv_fail "$abi: LA57 guest not walked with 5 levels"
	hv_log "$abi: --cpu maximum: CR4 $cr4 (LA57 set), 5-level walk found base $TEXT"
	check_symbols "$abi"
	virsh -c "$HV_URI" destroy "$HV_DOM" >/dev/null
done
