#!/bin/sh
# hvpatch-agent as a tenant runs it: a static binary under 2 MB; status and
# verify over a hand-written state file, a synthetic kallsyms and a synthetic
# ELF core file (the /proc/kcore format); exit codes 0/1/2; --help.  Then
# the daemon end to end with the host's agent-* commands over socat.
set -u
: "${top_builddir:?}"
agent="$top_builddir/guest-agent/hvpatch-agent"
tmp=$(mktemp -d /tmp/hvp-agent-cli-XXXXXX)
daemon="" loop=""
cleanup() {
	touch "$tmp/stop" 2>/dev/null
	[ -z "$daemon" ] || kill "$daemon" 2>/dev/null
	[ -z "$loop" ] || kill "$loop" 2>/dev/null
	[ -f "$tmp/socat.pid" ] && kill "$(cat "$tmp/socat.pid")" 2>/dev/null
	rm -rf "$tmp"
}
trap cleanup EXIT
fails=0
fail() { echo "FAIL: $*"; fails=$((fails + 1)); }

# The binary a guest gets: static, small.
[ -x "$agent" ] || { echo "FAIL: $agent is not built"; exit 1; }
ldd "$agent" 2>&1 | grep -q 'not a dynamic executable' || fail "hvpatch-agent is not static: $(ldd "$agent" 2>&1)"
size=$(wc -c < "$agent")
[ "$size" -lt 2097152 ] || fail "hvpatch-agent is $size bytes, not under 2 MB"

# le VALUE BYTES: VALUE (< 2^32 per call) as little-endian bytes.
le() {
	v=$1 n=$2
	while [ "$n" -gt 0 ]; do
		printf "\\$(printf %o $((v & 255)))"
		v=$((v >> 8))
		n=$((n - 1))
	done
}
zeros() { head -c "$1" /dev/zero; }

# A core file: ELF64 header, one PT_LOAD mapping 0x2000 bytes of "text" at
# 0xffffffff81000000 from file offset 0x1000; the function at +0x100 starts
# with the ftrace NOP 0f 1f 44 00 00, the rest is int3 (cc).
{
	printf '\177ELF'; le 2 1; le 1 1; le 1 1; zeros 9
	le 4 2; le 62 2; le 1 4                  # ET_CORE, x86-64, version
	le 0 8; le 64 8; le 0 8; le 0 4          # entry, phoff, shoff, flags
	le 64 2; le 56 2; le 1 2; le 0 2; le 0 2; le 0 2
	le 1 4; le 5 4; le 4096 8                # PT_LOAD, R+X, offset
	le 0x81000000 4; le 0xffffffff 4         # vaddr
	le 0 8; le 8192 8; le 8192 8; le 4096 8  # paddr, filesz, memsz, align
	zeros $((4096 - 120))
	head -c 256 /dev/zero | tr '\0' '\314'
	printf '\017\037\104\000\000'
	head -c $((8192 - 256 - 5)) /dev/zero | tr '\0' '\314'
} > "$tmp/kcore"
[ "$(wc -c < "$tmp/kcore")" = 12288 ] || fail "test fixture: kcore is $(wc -c < "$tmp/kcore") bytes"
printf 'ffffffff81000000 T _text\nffffffff81000100 t cmdline_proc_show\n' > "$tmp/kallsyms"

state() { # EXPECTED_HEX
	printf '{"v":1,"known":true,"id":7,"level":"2026.11-1","previous_level":"2026.11-0","op":"apply","applied_at":1764079391,"functions":[{"name":"cmdline_proc_show","site":"0xffffffff81000100","offset":0,"expected":"%s"}],"received_at":%s,"host":{"connected":false,"last_seen":%s}}\n' \
		"$1" "$(($(date +%s) - 90))" "$(($(date +%s) - 60))" > "$tmp/status.json"
}
export HVPATCH_AGENT_KALLSYMS="$tmp/kallsyms" HVPATCH_AGENT_KCORE="$tmp/kcore"

# No state yet: the level is unknown, not an error.
out=$("$agent" status --state "$tmp/none.json") || fail "status without a state file failed"
echo "$out" | grep -q 'unknown' || fail "status without a state file: $out"
out=$("$agent" status --json --state "$tmp/none.json")
[ "$out" = '{"v":1,"known":false,"host":{"connected":false,"last_seen":0}}' ] || fail "status --json without state: $out"

# The last known state and its age, with the host away.
state 0f1f440000
out=$("$agent" status --state "$tmp/status.json") || fail "status failed: $out"
echo "$out" | grep -q '^Patch level: *2026.11-1$' || fail "status lacks the level: $out"
echo "$out" | grep -q 'not connected (last seen 60 s ago); this is the last known state' ||
	fail "status lacks the host's absence: $out"
echo "$out" | grep -q 'cmdline_proc_show .*site 0xffffffff81000100 .*expected 0f1f440000' ||
	fail "status lacks the function: $out"
out=$("$agent" status --json --state "$tmp/status.json")
echo "$out" | grep -q '"age_s":9[0-9],' || fail "status --json lacks the age: $out"
[ "$(echo "$out" | wc -l)" = 1 ] || fail "status --json is not one line"

# A saved self-check that found drift is shown as a warning.
sed 's/,"host":/,"verify":{"at":'"$(date +%s)"',"trigger":"periodic","present":0,"mismatch":1,"unreadable":0,"functions":[{"name":"cmdline_proc_show","site":"0xffffffff81000100","result":"mismatch","symbol":"agrees","found":"e912345678"}]},"host":/' \
	"$tmp/status.json" > "$tmp/drift.json"
out=$("$agent" status --state "$tmp/drift.json") || fail "status with drift failed: $out"
echo "$out" | grep -q 'self-check: mismatch' || fail "status does not mark the drifted function: $out"
echo "$out" | grep -q '^Warning: *1 patched site no longer holds what the host wrote' ||
	fail "status does not warn about drift: $out"

# verify: present (exit 0), then a mismatch (exit 1) with the bytes found.
out=$("$agent" verify --state "$tmp/status.json") || fail "verify of a present site exited $?: $out"
echo "$out" | grep -q '0xffffffff81000100  present; kallsyms agrees' || fail "verify output: $out"
state e912345678
out=$("$agent" verify --state "$tmp/status.json")
rc=$?
[ $rc = 1 ] || fail "verify of a changed site exited $rc, not 1"
echo "$out" | grep -q 'mismatch (found 0f1f440000, expected e912345678)' || fail "verify mismatch output: $out"
out=$("$agent" verify --json --state "$tmp/status.json")
echo "$out" | grep -q '"result":"mismatch","symbol":"agrees","symbol_address":"0xffffffff81000100","found":"0f1f440000"' ||
	fail "verify --json mismatch: $out"
# No kcore: unreadable, with the reason.
out=$("$agent" verify --state "$tmp/status.json" --kcore "$tmp/missing")
[ $? = 1 ] || fail "verify without a core file did not exit 1"
echo "$out" | grep -q 'unreadable' || fail "verify without a core file: $out"

# A corrupt state file is a clear error (exit 1), never a crash.
printf '{"known":true,"level":' > "$tmp/bad.json"
out=$("$agent" status --state "$tmp/bad.json" 2>&1)
[ $? = 1 ] || fail "status on a corrupt file did not exit 1"
echo "$out" | grep -q "hvpatch-agent status: error: .*$tmp/bad.json" || fail "corrupt state error: $out"

# Usage.
"$agent" --help | grep -q '^Usage: hvpatch-agent COMMAND' || fail "--help"
"$agent" frobnicate 2>/dev/null
[ $? = 2 ] || fail "unknown command does not exit 2"
"$agent" status --bogus 2>/dev/null
[ $? = 2 ] || fail "unknown option does not exit 2"
"$agent" daemon --interval abc 2>/dev/null
[ $? = 2 ] || fail "bad --interval does not exit 2"
"$agent" hello | grep -q '^{"v":1,"type":"hello",' || fail "hello"

# End to end without a VM: the daemon on a pseudo-terminal that socat joins
# to a unix socket (as QEMU joins the virtio port to the domain's socket),
# and the host's hvpatch agent-* commands on that socket.  socat serves one
# connection at a time and is restarted, so every connection is a new pty:
# the daemon must reopen its port each time.
hv="$top_builddir/hvpatch/hvpatch"
if ! command -v socat >/dev/null 2>&1; then
	echo "note: socat is missing (tests/setup-host.sh installs it): end-to-end part skipped"
elif [ ! -x "$hv" ]; then
	fail "$hv is not built"
else
	(
		while [ ! -e "$tmp/stop" ]; do
			socat "PTY,link=$tmp/port,raw,echo=0" "UNIX-LISTEN:$tmp/sock" 2>/dev/null &
			echo $! > "$tmp/socat.pid"
			wait $!
		done
	) > /dev/null 2>&1 &
	loop=$!
	i=0
	while [ ! -e "$tmp/port" ] && [ $i -lt 50 ]; do sleep 0.1; i=$((i + 1)); done
	"$agent" daemon --port "$tmp/port" --state "$tmp/e2e.json" --interval 0 \
		> /dev/null 2> "$tmp/daemon.log" &
	daemon=$!
	# with_socket CMD...: run CMD until the socket accepts (socat restarts between connections).
	with_socket() {
		n=0
		while :; do
			out=$("$@" 2>&1) && return 0
			case "$out" in *"Connection refused"* | *"does not exist"*) ;; *) return 1 ;; esac
			n=$((n + 1))
			[ $n -lt 50 ] || return 1
			sleep 0.1
		done
	}
	func="cmdline_proc_show:0xffffffff81000100:0f1f440000"
	with_socket "$hv" agent-ping --socket "$tmp/sock" --json || fail "agent-ping: $out"
	echo "$out" | grep -q "\"kernel_release\":\"$(uname -r)\"" || fail "agent-ping hello: $out"
	with_socket "$hv" agent-notify --socket "$tmp/sock" --level e2e-1 --func "$func" --json ||
		fail "agent-notify: $out"
	echo "$out" | grep -q '"acked":true,.*"verified":true,"present":1,' || fail "agent-notify report: $out"
	out=$("$agent" status --json --state "$tmp/e2e.json")
	echo "$out" | grep -q '"level":"e2e-1"' || fail "tenant view after agent-notify: $out"
	# drift: the "kernel text" changes under the agent
	cp "$tmp/kcore" "$tmp/kcore.orig"
	printf '\146' | dd of="$tmp/kcore" bs=1 seek=$((4096 + 256)) conv=notrunc 2>/dev/null
	with_socket "$hv" agent-verify --socket "$tmp/sock" --func "$func" --json || fail "agent-verify: $out"
	echo "$out" | grep -q '"result":"mismatch",.*"found":"661f440000"' || fail "agent-verify drift: $out"
	cp "$tmp/kcore.orig" "$tmp/kcore"
	# The daemon survived four connections and stops cleanly on SIGTERM.
	kill -0 "$daemon" 2>/dev/null || fail "the daemon died: $(cat "$tmp/daemon.log")"
	kill -TERM "$daemon"
	wait "$daemon" || fail "the daemon did not exit 0 on SIGTERM"
	daemon=""
	grep -q 'host connected' "$tmp/daemon.log" || fail "daemon log: $(cat "$tmp/daemon.log")"
	out=$("$agent" status --state "$tmp/e2e.json")
	echo "$out" | grep -q 'not connected' || fail "after the daemon stopped, status: $out"
	touch "$tmp/stop"
	kill "$loop" 2>/dev/null
	# the socat waiting for a client: end it through one last connection
	"$hv" agent-ping --socket "$tmp/sock" --timeout 200 >/dev/null 2>&1
	wait "$loop" 2>/dev/null
	loop=""
fi

[ $fails = 0 ] || exit 1
echo "hvpatch-agent CLI: all checks passed"
