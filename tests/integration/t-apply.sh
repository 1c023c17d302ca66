#!/bin/sh
# Live apply and revert on real libvirt guests, for every pinned kernel:
#  - refusals (wrong build-id, unsigned, untrusted key, one byte altered, an
#    unresolvable symbol, a site that does not hold the ftrace NOP, a vCPU
#    stopped inside a site) leave
#    the kernel text and the patch area byte-for-byte as they were;
#  - each example level changes what the guest prints, without a reboot
#    (same boot id, uptime keeps going); level 1 -> 2 -> 3 each in one
#    pause; revert walks back 3 -> 2 -> 1 -> none;
#  - apply/revert 20 times: the patch area does not grow after the first;
#  - a site the host changes by hand shows as drift in hvpatch status.
. "$top_srcdir/tests/integration/lib.sh"
HVP="$top_builddir/hvpatch/hvpatch"

abis=$(hv_abis)
for abi in $abis; do
	hv_bundles "$abi"
	eval "bdir_$(echo "$abi" | tr -c '0-9a-z\n' _)=\$HV_BDIR"
done

# Snapshot of what a refusal must not change: the kernel text (_text to
# _etext, at most 16 MiB) and the whole patch-area file.
snapshot() {
	{
		"$HVP" peek --json --phys "$text_gpa" "$HV_DOM" "$text_len" | sed -n 's/.*"hex": "\(.*\)".*/\1/p'
		cat "/dev/shm/$HV_SHM_NAME"
	} | sha256sum | cut -d' ' -f1
}

# refuse WHAT EXPECTED-ERROR-REGEX BUNDLE: apply must fail, say why, and
# change nothing.
refuse() {
	before=$(snapshot)
	if out=$("$HVP" apply $A "$HV_DOM" "$3" 2>&1); then
		hv_fail "$abi: apply of $1 succeeded: $out"
	fi
	echo "$out" | grep -Eq "$2" || hv_fail "$abi: refusing $1, unclear error: $out"
	[ "$(snapshot)" = "$before" ] || hv_fail "$abi: refusing $1 changed guest memory"
	[ "$(hv_domstate)" = "${want_state:-running}" ] || hv_fail "$abi: guest $(hv_domstate) after refusing $1"
	hv_log "$abi: refused $1: $(echo "$out" | tail -n 1 | cut -c1-160)"
}

used_pages() {
	od -An -v -w4096 -tx1 "/dev/shm/$HV_SHM_NAME" | grep -c '[1-9a-f]'
}

for abi in $abis; do
	eval "HV_BDIR=\$bdir_$(echo "$abi" | tr -c '0-9a-z\n' _)"
	other=$(echo "$abis" | grep -vx "$abi" | head -n 1)
	eval "OTHER_BDIR=\$bdir_$(echo "$other" | tr -c '0-9a-z\n' _)"
	# A generous deadline: this host may be busy, and tests do not judge speed.
	A="--ledger $HV_LEDGER --trusted $HV_TRUSTED --deadline-ms 2000"
	hv_guest_start "$abi"
	hv_wait_console '^HVP-READY' 120 >/dev/null || hv_fail "$abi: guest did not boot"
	bootid=$(hv_wait_console '^HVP-BOOTID ' 5 | awk '{ print $2 }')
	text_gpa=$("$HVP" inspect --json "$HV_DOM" | sed -n 's/.*"text_gpa": "\(0x[0-9a-f]*\)".*/\1/p')
	[ -n "$text_gpa" ] || hv_fail "$abi: inspect gave no text_gpa"
	# Kernel addresses exceed the shell's signed 64-bit arithmetic: keep
	# the low 32 bits (both lie in the same top 2 GiB).
	addr() { "$HVP" sym --json "$HV_DOM" "$1" | sed -n 's/.*"addr": "0xffffffff\([0-9a-f]*\)".*/0x\1/p'; }
	text_len=$(($(addr _etext) - $(addr _text)))
	[ "$text_len" -gt 0 ] && [ "$text_len" -le 16777216 ] || hv_fail "$abi: odd text size $text_len"
	base_cmdline=$(hv_obs cmdline)
	base_version=$(hv_obs version-level)
	[ "$(hv_obs hostname-check)" = bad-hostname=accepted ] ||
		hv_fail "$abi: the unpatched kernel should accept a bad hostname"

	# --- refusals ---------------------------------------------------------
	refuse "a bundle for $other" "build-id" "$OTHER_BDIR/cmdline-level.hvb"
	"$HVP" build -m "$top_srcdir/docs/examples/cmdline-level/manifest" \
		--vmlinux "$HV_CACHE/kernels/$abi/vmlinux" -o "$HV_BDIR/unsigned.hvb" \
		"$top_srcdir/docs/examples/cmdline-level/cmdline_level.c" >/dev/null 2>&1 ||
		hv_fail "$abi: building an unsigned bundle failed"
	refuse "an unsigned bundle" "unsigned|no signature|not signed" "$HV_BDIR/unsigned.hvb"
	mkdir -p "$HV_BDIR/k2"
	"$HVP" keygen --out "$HV_BDIR/k2/other" >/dev/null
	cp "$HV_BDIR/unsigned.hvb" "$HV_BDIR/untrusted.hvb"
	"$HVP" sign "$HV_BDIR/untrusted.hvb" --key "$HV_BDIR/k2/other.key" >/dev/null
	refuse "a bundle signed by an unknown key" "not among the .* trusted keys" \
		"$HV_BDIR/untrusted.hvb"
	cp "$HV_BDIR/cmdline-level.hvb" "$HV_BDIR/altered.hvb"
	size=$(wc -c < "$HV_BDIR/altered.hvb")
	printf 'X' | dd of="$HV_BDIR/altered.hvb" bs=1 seek=$((size / 2)) conv=notrunc 2>/dev/null
	refuse "a bundle altered by one byte" "signature|altered|does not verify|format" \
		"$HV_BDIR/altered.hvb"
	sed 's/^replace = cmdline_proc_show/replace = hvpatch_no_such_function/' \
		"$top_srcdir/docs/examples/cmdline-level/manifest" > "$HV_BDIR/nosym.manifest"
	# hvpatch build checks targets against a vmlinux when it has one; without
	# it (release and build-id only), only the guest can tell.
	"$HVP" build -m "$HV_BDIR/nosym.manifest" --release "$(cat "$HV_CACHE/kernels/$abi/release")" \
		--build-id "$(cat "$HV_CACHE/kernels/$abi/build-id")" -o "$HV_BDIR/nosym.hvb" \
		"$top_srcdir/docs/examples/cmdline-level/cmdline_level.c" >/dev/null 2>&1 ||
		hv_fail "$abi: building a bundle for an unknown function without a vmlinux failed"
	"$HVP" sign "$HV_BDIR/nosym.hvb" --key "$HV_KEY" >/dev/null
	refuse "a bundle replacing a function the kernel lacks" "hvpatch_no_such_function" \
		"$HV_BDIR/nosym.hvb"
	# A site that does not hold the ftrace NOP (another valid 5-byte NOP).
	site_va=$("$HVP" sym --json "$HV_DOM" cmdline_proc_show | sed -n 's/.*"addr": "0x\([0-9a-f]*\)".*/\1/p')
	site_gpa=$(hv_hmp "gva2gpa 0x$site_va" | tr -d '\r' | awk '/^gpa:/ { print $2 }')
	"$HVP" poke --deadline-ms 2000 --phys "$site_gpa" --yes "$HV_DOM" 0f1f440001 >/dev/null || hv_fail "poke failed"
	refuse "a site that does not hold the ftrace NOP" "not the ftrace NOP" \
		"$HV_BDIR/cmdline-level.hvb"
	"$HVP" poke --deadline-ms 2000 --phys "$site_gpa" --yes "$HV_DOM" 0f1f440000 >/dev/null || hv_fail "poke failed"

	# A vCPU stopped inside a site: hvpatch waits for it to leave and, when
	# it does not (here the guest is held paused with vCPU 0's RIP moved
	# into cmdline_proc_show's NOP by a debugger), refuses.
	virsh -c "$HV_URI" suspend "$HV_DOM" >/dev/null || hv_fail "suspend failed"
	setrip() { # VALUE|"" -> prints the old RIP
		# QEMU creates the socket: a directory of the user it runs as
		# (libvirt-qemu on a real host), that nobody else can enter.
		sockdir=$(mktemp -d /tmp/hvt-gdb.XXXXXX)
		chown "$(stat -c %U "/proc/$(cat "/run/libvirt/qemu/$HV_DOM.pid")")" "$sockdir"
		sock="$sockdir/dbg"
		hv_hmp "gdbserver unix:$sock,server=on,wait=off" >/dev/null
		gdb -nx -batch -ex "target remote $sock" -ex 'thread 1' -ex 'p/x $rip' \
			${1:+-ex "set \$rip = $1"} -ex disconnect 2>/dev/null |
			sed -n 's/^\$1 = \(0x[0-9a-f]*\)$/\1/p'
		hv_hmp "gdbserver none" >/dev/null
		rm -rf "$sockdir"
	}
	oldrip=$(setrip "0x$site_va + 2")
	[ -n "$oldrip" ] || hv_fail "$abi: could not move vCPU 0's RIP with gdb"
	want_state=paused
	refuse "while a vCPU is inside a site" "stayed inside a site" "$HV_BDIR/cmdline-level.hvb"
	want_state=running
	setrip "$oldrip" >/dev/null
	[ "$(setrip)" = "$oldrip" ] || hv_fail "$abi: could not put vCPU 0's RIP back"
	virsh -c "$HV_URI" resume "$HV_DOM" >/dev/null || hv_fail "resume failed"

	# --- levels -----------------------------------------------------------
	out=$("$HVP" apply --json $A "$HV_DOM" "$HV_BDIR/cmdline-level.hvb") || hv_fail "$abi: apply level 1 failed"
	echo "$out" | grep -q '"to_level": "2026.11-1"' || hv_fail "$abi: level 1 report: $out"
	echo "$out" | grep -q '"pause_us": [1-9]' || hv_fail "$abi: no pause length in the report"
	o=$(hv_obs cmdline)
	[ "$o" = "$base_cmdline hvpatch_level=2026.11-1" ] || hv_fail "$abi: level 1: /proc/cmdline is '$o'"

	out=$("$HVP" apply --json $A "$HV_DOM" "$HV_BDIR/hostname-check.hvb") || hv_fail "$abi: apply level 2 failed"
	echo "$out" | grep -q '"sites_changed": 2' || hv_fail "$abi: level 1 -> 2 was not one switch of 2 sites: $out"
	[ "$(hv_obs hostname-check)" = bad-hostname=refused ] || hv_fail "$abi: level 2 does not refuse the hostname"
	o=$(hv_obs cmdline)
	[ "$o" = "$base_cmdline hvpatch_level=2026.11-2" ] || hv_fail "$abi: level 2: /proc/cmdline is '$o'"

	"$HVP" apply $A "$HV_DOM" "$HV_BDIR/version-level.hvb" >/dev/null || hv_fail "$abi: apply level 3 failed"
	o=$(hv_obs version-level)
	echo "$o" | grep -q 2026.11-3 || hv_fail "$abi: level 3: /proc/version ends with '$o'"
	st=$("$HVP" status --json $A "$HV_DOM") || hv_fail "$abi: status failed"
	echo "$st" | grep -q '"level": "2026.11-3"' || hv_fail "$abi: status does not show level 3: $st"
	[ "$(echo "$st" | grep -c '"intact": true')" -eq 3 ] || hv_fail "$abi: status: not 3 intact sites"

	"$HVP" revert $A "$HV_DOM" >/dev/null || hv_fail "$abi: revert 3 -> 2 failed"
	[ "$(hv_obs version-level)" = "$base_version" ] || hv_fail "$abi: revert to 2 left /proc/version patched"
	[ "$(hv_obs hostname-check)" = bad-hostname=refused ] || hv_fail "$abi: revert to 2 lost level 2"
	"$HVP" revert $A "$HV_DOM" >/dev/null || hv_fail "$abi: revert 2 -> 1 failed"
	[ "$(hv_obs hostname-check)" = bad-hostname=accepted ] || hv_fail "$abi: revert to 1 kept level 2"
	[ "$(hv_obs cmdline)" = "$base_cmdline hvpatch_level=2026.11-1" ] || hv_fail "$abi: revert to 1: wrong cmdline"
	"$HVP" revert $A "$HV_DOM" >/dev/null || hv_fail "$abi: revert 1 -> none failed"
	[ "$(hv_obs cmdline)" = "$base_cmdline" ] || hv_fail "$abi: revert to none left /proc/cmdline patched"
	if "$HVP" revert $A "$HV_DOM" >/dev/null 2>&1; then hv_fail "$abi: revert with nothing applied succeeded"; fi

	# --- 20 cycles, no growth ---------------------------------------------
	i=0
	while [ $i -lt 20 ]; do
		"$HVP" apply $A "$HV_DOM" "$HV_BDIR/cmdline-level.hvb" >/dev/null || hv_fail "$abi: cycle $i: apply failed"
		"$HVP" revert $A "$HV_DOM" >/dev/null || hv_fail "$abi: cycle $i: revert failed"
		i=$((i + 1))
		[ $i -eq 1 ] && pages1=$(used_pages)
	done
	pages20=$(used_pages)
	[ "$pages20" -eq "$pages1" ] || hv_fail "$abi: patch area grew from $pages1 to $pages20 pages in 20 cycles"
	"$HVP" apply $A "$HV_DOM" "$HV_BDIR/cmdline-level.hvb" >/dev/null || hv_fail "$abi: apply after the cycles failed"
	[ "$(hv_obs cmdline)" = "$base_cmdline hvpatch_level=2026.11-1" ] || hv_fail "$abi: apply after 20 cycles does not show"

	# --- drift --------------------------------------------------------------
	"$HVP" poke --deadline-ms 2000 --phys "$site_gpa" --yes "$HV_DOM" 0f1f440000 >/dev/null || hv_fail "poke failed"
	rc=0
	st=$("$HVP" status --json $A "$HV_DOM") || rc=$?
	[ $rc -eq 3 ] || hv_fail "$abi: status exit $rc, expected 3 (drift)"
	echo "$st" | grep -q '"drifted": 1' || hv_fail "$abi: status does not report the drift: $st"
	if out=$("$HVP" revert $A "$HV_DOM" 2>&1); then hv_fail "$abi: revert over a drifted site succeeded"; fi
	echo "$out" | grep -q drift || hv_fail "$abi: unclear error for a drifted site: $out"
	# The site's jump (the first "expected": the sites come before the
	# tampering list, which names the same site).
	jmp=$(echo "$st" | sed -n 's/.*"expected": "\([0-9a-f]*\)".*/\1/p' | head -n 1)
	"$HVP" poke --deadline-ms 2000 --phys "$site_gpa" --yes "$HV_DOM" "$jmp" >/dev/null || hv_fail "poke failed"
	"$HVP" revert $A "$HV_DOM" >/dev/null || hv_fail "$abi: revert after repairing the drift failed"

	# --- the guest never rebooted ---------------------------------------------
	[ "$(grep -c '^HVP-RELEASE ' "$HV_CONSOLE")" -eq 1 ] || hv_fail "$abi: the guest rebooted"
	grep -q "^HVP-BOOTID $bootid" "$HV_CONSOLE" || hv_fail "$abi: boot id changed"
	up=$(grep '^HVP-TICK ' "$HV_CONSOLE" | tail -n 1 | sed 's/.*uptime=//')
	hv_log "$abi: levels, reverts, 20 cycles ($pages1 area pages), drift; uptime $up s, one boot"
	virsh -c "$HV_URI" destroy "$HV_DOM" >/dev/null
done
