# lib.sh: helpers for live-guest tests.  Source it from a test script:
#   . "$top_srcdir/tests/integration/lib.sh"
#   hv_guest_start 6.1.0-56
#   hv_wait_console '^HVP-READY' 120 || hv_fail "guest did not boot"
#
# Every guest is a transient libvirt domain of type 'qemu' (TCG) with its own
# full UUID, a serial console written to a file and the hvpatch agent channel,
# enrolled with exactly what 'hvpatch enroll' writes (memfd shared RAM and a
# patch area read-only to the guest, backed by HVE_AREA_DIR/<UUID>).  An EXIT/INT/TERM trap destroys every domain the
# test started, also when the test fails or is interrupted.
# Test exit codes: 0 pass, 1 fail, 77 skip.

: "${top_srcdir:?top_srcdir must be set (run through tests/integration/run.sh)}"
: "${top_builddir:=$top_srcdir}"
HV_URI=${HV_URI:-qemu:///system}
HV_CACHE=${HVPATCH_CACHE:-/var/cache/hvpatch}
HV_RUNDIR=${HV_RUNDIR:-/var/lib/hvpatch-test}
HV_TEST=${HV_TEST:-$(basename "$0" .sh)}
# Domains are named hvt-RUN-...; run.sh sets one RUN per suite run so it can
# find the domains its own tests leaked without touching anyone else's.
HV_RUN_ID=${HV_RUN_ID:-$$}
HV_DOMS=""
HV_FILES=""
HV_AREA_FILES=""
# Where 'hvpatch enroll' puts area files (HVE_AREA_DIR in hvpatch/enroll/area.h).
HV_AREA_DIR=/var/lib/hvpatch/area
HV_CONSOLES=""

hv_log() { echo "[$HV_TEST] $*" >&2; }
hv_fail() { echo "FAIL [$HV_TEST]: $*" >&2; exit 1; }
hv_skip() { echo "SKIP [$HV_TEST]: $*" >&2; exit 77; }

# Needing root or libvirt is a skip on a developer's machine, a failure in CI.
hv_require_live() {
	why=""
	[ "$(id -u)" -eq 0 ] || why="needs root"
	[ -n "$why" ] || command -v virsh >/dev/null 2>&1 || why="virsh is missing"
	[ -n "$why" ] || virsh -c "$HV_URI" version >/dev/null 2>&1 || why="libvirtd does not answer on $HV_URI"
	[ -n "$why" ] || return 0
	if [ -n "${CI:-}" ]; then
		hv_fail "$why: run tests/setup-host.sh as root first"
	fi
	hv_skip "$why (run tests/setup-host.sh as root to prepare this machine)"
}

hv_cleanup() {
	rc=$?
	for d in $HV_DOMS; do
		virsh -c "$HV_URI" destroy "$d" >/dev/null 2>&1 || true
		virsh -c "$HV_URI" undefine "$d" >/dev/null 2>&1 || true
	done
	for f in $HV_FILES; do
		rm -rf "$f"
	done
	# Area files only after their domains are gone (QEMU maps them).
	for f in $HV_AREA_FILES; do
		case "$f" in "$HV_AREA_DIR"/*) rm -f "$f" ;; esac
	done
	# Console logs stay for a failed test (to read what the guest printed).
	for c in $HV_CONSOLES; do
		if [ "$rc" -eq 0 ] || [ "$rc" -eq 77 ]; then
			rm -f "$c"
		else
			hv_log "guest console log kept: $c"
		fi
	done
	exit "$rc"
}
trap hv_cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# hv_rundir: create HV_RUNDIR so that QEMU, which runs as libvirt's
# unprivileged user (its DAC base label), can create the sockets tests ask it
# for there (HMP gdbserver): group QEMU's, group-writable, sticky.
hv_rundir() {
	mkdir -p "$HV_RUNDIR"
	qgid=$(virsh -c "$HV_URI" capabilities 2>/dev/null |
		sed -n "s/.*<baselabel type='qemu'>+[0-9]*:+\([0-9]*\)<.*/\1/p" | head -n 1)
	[ -z "$qgid" ] || chgrp "$qgid" "$HV_RUNDIR" || hv_fail "cannot give $HV_RUNDIR to QEMU's group $qgid"
	chmod 1775 "$HV_RUNDIR"
}

# hv_uuid: a new random UUID.
hv_uuid() {
	cat /proc/sys/kernel/random/uuid
}

# hv_guest_xml ABI [--vcpus N] [--cpu qemu64|maximum] [--mem MIB] [--name NAME]
#              [--cmdline 'hvp_spin=1 hvp_stress=1 ...'] [--plain]
# Write the domain XML of a test guest to "$HV_XML" and set HV_DOM,
# HV_UUID, HV_CONSOLE, HV_AGENT_SOCK, HV_AREA_FILE, HV_KDIR, HV_GDIR,
# HV_RELEASE, HV_BUILD_ID.  The XML is enrolled by 'hvpatch enroll
# --xml-file', which also creates the area file; --plain leaves out what
# enrollment adds (memfd RAM, patch area, agent channel).  HV_SHM_NAME is
# kept for old scripts: "/dev/shm/$HV_SHM_NAME" is the area file.
hv_guest_xml() {
	abi=$1
	shift
	vcpus=2 cpu=qemu64 mem=512 name="" extra="" plain=0 cmdport=0
	while [ $# -gt 0 ]; do
		case "$1" in
		--vcpus) vcpus=$2; shift 2 ;;
		--cpu) cpu=$2; shift 2 ;;
		--mem) mem=$2; shift 2 ;;
		--name) name=$2; shift 2 ;;
		--cmdline) extra=$2; shift 2 ;;
		--plain) plain=1; shift ;;
		--cmd) cmdport=1; shift ;;
		*) hv_fail "hv_guest_xml: unknown option $1" ;;
		esac
	done
	hv_require_live
	gdir="$HV_CACHE/guests/$abi"
	[ -f "$gdir/initramfs.img" ] ||
		hv_fail "no test guest for $abi in $gdir: run 'make test-guests' (tests/guest/build-guests.sh)"
	[ -n "$name" ] || name="hvt-$HV_RUN_ID-$HV_TEST-$abi-$$"
	hv_rundir
	HV_DOM=$name
	HV_UUID=$(hv_uuid)
	HV_CONSOLE="$HV_RUNDIR/$name.console"
	HV_AGENT_SOCK="$HV_RUNDIR/$name.agent"
	HV_CMD_SOCK="$HV_RUNDIR/$name.cmd"
	HV_AREA_FILE="$HV_AREA_DIR/$HV_UUID"
	HV_SHM_NAME="../..$HV_AREA_FILE"
	HV_KDIR="$HV_CACHE/kernels/$abi"
	HV_GDIR=$gdir
	HV_RELEASE=$(cat "$gdir/release")
	HV_BUILD_ID=$(cat "$gdir/build-id")
	HV_XML="$HV_RUNDIR/$name.xml"
	: > "$HV_CONSOLE"
	rm -f "$HV_AGENT_SOCK"
	case "$cpu" in
	maximum) cpuxml="<cpu mode='maximum' check='none'/>" ;;
	*) cpuxml="<cpu mode='custom' match='exact' check='none'><model fallback='forbid'>$cpu</model></cpu>" ;;
	esac
	if [ $plain = 1 ]; then
		enrolled=""
	else
		# The channel with a socket path the tests know; enroll keeps it.
		enrolled="<channel type='unix'>
      <source mode='bind' path='$HV_AGENT_SOCK'/>
      <target type='virtio' name='org.hvpatch.agent.0'/>
    </channel>"
	fi
	cmdxml=""
	if [ $cmdport = 1 ]; then
		# A second serial port the guest's init reads commands from
		# (hv_guest_run); the guest prints what they did on the console.
		cmdxml="<serial type='unix'>
      <source mode='bind' path='$HV_CMD_SOCK'/>
      <target port='1'/>
    </serial>"
		extra="$extra hvp_cmd=1"
		rm -f "$HV_CMD_SOCK"
	fi
	cat > "$HV_XML" <<XML
<domain type='qemu'>
  <name>$name</name>
  <uuid>$HV_UUID</uuid>
  <memory unit='MiB'>$mem</memory>
  <vcpu>$vcpus</vcpu>
  <os>
    <type arch='x86_64' machine='pc'>hvm</type>
    <kernel>$gdir/vmlinuz</kernel>
    <initrd>$gdir/initramfs.img</initrd>
    <cmdline>console=ttyS0 hvp_guest=1 panic=-1 $extra</cmdline>
  </os>
  $cpuxml
  <features>
    <acpi/>
    <apic/>
  </features>
  <on_poweroff>destroy</on_poweroff>
  <on_reboot>destroy</on_reboot>
  <on_crash>destroy</on_crash>
  <devices>
    <controller type='usb' model='none'/>
    <serial type='file'>
      <source path='$HV_CONSOLE'/>
      <target port='0'/>
    </serial>
    $cmdxml
    $enrolled
    <memballoon model='none'/>
  </devices>
</domain>
XML
	HV_DOMS="$HV_DOMS $name"
	HV_CONSOLES="$HV_CONSOLES $HV_CONSOLE"
	HV_FILES="$HV_FILES $HV_XML $HV_AGENT_SOCK $HV_CMD_SOCK"
	# A plain domain gets its area file when a test enrolls it.
	HV_AREA_FILES="$HV_AREA_FILES $HV_AREA_FILE"
	if [ $plain = 0 ]; then
		out=$("$top_builddir/hvpatch/hvpatch" enroll -c "$HV_URI" --xml-file "$HV_XML" 2>&1) ||
			hv_fail "hvpatch enroll --xml-file $HV_XML failed: $out"
	fi
}

# hv_guest_start ABI [hv_guest_xml options]: start a transient, enrolled
# test guest (see hv_guest_xml for the variables it sets).
hv_guest_start() {
	hv_guest_xml "$@"
	out=$(virsh -c "$HV_URI" create "$HV_XML" 2>&1) || hv_fail "cannot start domain $HV_DOM: $out"
	hv_log "started $HV_DOM ($HV_RELEASE, $vcpus vCPUs, cpu $cpu)"
}

# hv_guest_define ABI [hv_guest_xml options]: define a persistent test guest
# without starting it (destroyed and undefined at exit like the others).
hv_guest_define() {
	hv_guest_xml "$@"
	out=$(virsh -c "$HV_URI" define "$HV_XML" 2>&1) || hv_fail "cannot define domain $HV_DOM: $out"
	hv_log "defined $HV_DOM ($HV_RELEASE)"
}

# Number of lines the console has printed so far.
hv_console_lines() {
	wc -l < "$HV_CONSOLE" | tr -d ' '
}

# hv_wait_console REGEX [TIMEOUT_S] [FROM_LINE]: print the first console line
# after FROM_LINE that matches REGEX (extended); non-zero after TIMEOUT_S.
hv_wait_console() {
	re=$1 timeout=${2:-120} from=${3:-0}
	end=$(($(date +%s) + timeout))
	while :; do
		line=$(tail -n "+$((from + 1))" "$HV_CONSOLE" | tr -d '\r' | grep -E -m 1 -e "$re") && {
			printf '%s\n' "$line"
			return 0
		}
		if grep -qE 'Kernel panic|BUG: |Oops' "$HV_CONSOLE"; then
			hv_log "the guest kernel failed:"
			grep -E -A 20 'Kernel panic|BUG: |Oops' "$HV_CONSOLE" | head -n 40 >&2
			return 1
		fi
		if [ "$(date +%s)" -ge "$end" ]; then
			hv_log "no console line matching '$re' within ${timeout}s; last lines:"
			tail -n 15 "$HV_CONSOLE" >&2
			return 1
		fi
		sleep 0.2
	done
}

# hv_hmp CMD...: run an HMP monitor command on the current guest.
hv_hmp() {
	virsh -c "$HV_URI" qemu-monitor-command --hmp "$HV_DOM" "$*"
}

# hv_domstate: the libvirt state of the current guest (running, paused, ...).
hv_domstate() {
	virsh -c "$HV_URI" domstate "$HV_DOM" 2>/dev/null | head -n 1
}

# hv_abis: the pinned kernel builds, one per line.
hv_abis() {
	grep -v '^#' "$top_srcdir/tests/guest/kernels.list" | grep .
}

# hv_bundles ABI: build, sign and trust the example patches for ABI in a
# scratch directory.  Sets HV_BDIR (bundles cmdline-level.hvb,
# hostname-check.hvb, version-level.hvb), HV_TRUSTED (trusted keys) and
# HV_KEY (the private key), and HV_LEDGER (a ledger for this test).
hv_bundles() {
	abi=$1
	hvp="$top_builddir/hvpatch/hvpatch"
	HV_BDIR="$HV_RUNDIR/$HV_TEST-$$-bundles-$abi"
	HV_TRUSTED="$HV_RUNDIR/$HV_TEST-$$-trusted"
	# Ledgers in a directory only root writes (hvpatch refuses others);
	# HV_RUNDIR itself is QEMU's group's too (hv_rundir).
	hv_rundir
	mkdir -p -m 0700 "$HV_RUNDIR/ledgers"
	HV_LEDGER="$HV_RUNDIR/ledgers/$HV_TEST-$$-ledger.db"
	HV_KEY="$HV_RUNDIR/$HV_TEST-$$-key/test.key"
	HV_FILES="$HV_FILES $HV_BDIR $HV_TRUSTED ${HV_KEY%/*} $HV_LEDGER $HV_LEDGER-wal $HV_LEDGER-shm"
	mkdir -p "$HV_BDIR" "$HV_TRUSTED"
	if [ ! -f "$HV_KEY" ]; then
		mkdir -p "${HV_KEY%/*}"
		"$hvp" keygen --out "${HV_KEY%.key}" >/dev/null || hv_fail "keygen failed"
		cp "${HV_KEY%.key}.pub.pem" "$HV_TRUSTED/"
	fi
	vml="$HV_CACHE/kernels/$abi/vmlinux"
	[ -f "$vml" ] || hv_fail "no vmlinux for $abi in $vml: run 'make test-guests'"
	for ex in cmdline-level hostname-check version-level; do
		src=$(ls "$top_srcdir/docs/examples/$ex/"*.c)
		"$hvp" build -m "$top_srcdir/docs/examples/$ex/manifest" --vmlinux "$vml" \
			-o "$HV_BDIR/$ex.hvb" "$src" > "$HV_BDIR/$ex.log" 2>&1 ||
			{ cat "$HV_BDIR/$ex.log" >&2; hv_fail "hvpatch build of $ex for $abi failed"; }
		"$hvp" sign "$HV_BDIR/$ex.hvb" --key "$HV_KEY" >/dev/null || hv_fail "sign $ex failed"
	done
}

# hv_guest_run CMD [TIMEOUT]: run the shell command CMD inside a guest
# started with --cmd (as root, by its init) and wait for it to end (default
# 60 s).  Prints its output (newlines as '|', at most 400 bytes) and returns
# its exit status (124 when it did not end in time).
hv_guest_run() {
	[ -S "$HV_CMD_SOCK" ] || hv_fail "hv_guest_run: $HV_DOM was not started with --cmd"
	id=$(date +%s%N)
	from=$(hv_console_lines)
	# QEMU takes the bytes from the socket as the guest's UART drains
	# them and drops what is left when the peer hangs up: stay connected
	# a while (in the background; the next command waits for its turn).
	{ printf '%s %s\n' "$id" "$1"; sleep 1.5; } | socat -u - "UNIX-CONNECT:$HV_CMD_SOCK" ||
		hv_log "hv_guest_run: writing to $HV_CMD_SOCK failed" &
	end=$(($(date +%s) + ${2:-60}))
	while :; do
		line=$(tail -n "+$((from + 1))" "$HV_CONSOLE" | tr -d '\r' | grep -a "^HVP-CMD id=$id " | head -n 1)
		if [ -n "$line" ]; then
			printf '%s\n' "$line" | sed 's/^HVP-CMD id=[0-9]* rc=[0-9]* out=//'
			rc=$(printf '%s\n' "$line" | sed -n 's/^HVP-CMD id=[0-9]* rc=\([0-9]*\) .*/\1/p')
			return "${rc:-1}"
		fi
		[ "$(date +%s)" -lt "$end" ] || { hv_log "guest command did not end in time: $1"; return 124; }
		sleep 0.2
	done
}

# hv_obs PROBE [TIMEOUT] [FROM]: the output of PROBE's second HVP-OBS line
# after FROM (default: 1.5 s from now).  The second, because the first may
# come from a probe run that started before the change being observed.
hv_obs() {
	# Let lines of probe runs that started before the change reach the
	# console file first (the serial console lags under load).
	[ -n "${3:-}" ] || sleep 1.5
	from=${3:-$(hv_console_lines)}
	end=$(($(date +%s) + ${2:-20}))
	while :; do
		# The last line may still be being written (the serial console
		# flushes in pieces): only lines that have ended count.
		n=$(tail -n "+$((from + 1))" "$HV_CONSOLE" | sed '$d' | tr -d '\r' |
			grep -E "^HVP-OBS n=[0-9]+ probe=$1 out=" | sed -n 2p)
		if [ -n "$n" ]; then
			printf '%s\n' "$n" | sed 's/^HVP-OBS n=[0-9]* probe=[^ ]* out=//'
			return 0
		fi
		[ "$(date +%s)" -lt "$end" ] || { hv_log "no second HVP-OBS line for $1"; return 1; }
		sleep 0.2
	done
}
