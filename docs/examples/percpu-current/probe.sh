# For each CPU: the line example patch "percpu-current" adds to
# /proc/version, read by this probe's own shell pinned to that CPU ("got"),
# then what the guest itself says about that shell ("want": release, comm,
# pid, uid and euid of the reader, the CPU, and that CPU's TIMER softirq
# count just before and after the read).  Only "got none" on a kernel without
# the patch (found with builtins only: this runs every second in every test
# guest).  One line.  Same as docs/examples/percpu-current/probe.sh.
patched=0
while IFS= read -r l; do
	case $l in hvpatch-percpu\ *) patched=1 ;; esac
done < /proc/version
[ "$patched" = 1 ] || { echo "got none"; exit 0; }
n=$(grep -c '^processor' /proc/cpuinfo)
c=0
line=""
while [ "$c" -lt "$n" ]; do
	line="$line c$c: $(taskset -c "$c" sh -c '
		c=$1
		t0=$(awk -v c="$c" "\$1 == \"TIMER:\" { print \$(c + 2) }" /proc/softirqs)
		got=none
		# read is a builtin: this shell ($$) is the reader
		while IFS= read -r l; do
			case $l in hvpatch-percpu\ *) got=${l#hvpatch-percpu } ;; esac
		done < /proc/version
		t1=$(awk -v c="$c" "\$1 == \"TIMER:\" { print \$(c + 2) }" /proc/softirqs)
		IFS= read -r comm < /proc/$$/comm
		while read -r k r e rest; do [ "$k" = Uid: ] && uid=$r euid=$e; done < /proc/$$/status
		echo "got $got want release=$(uname -r) comm=$comm pid=$$ uid=$uid euid=$euid cpu=$c timer=$t0-$t1"
	' percpu "$c" 2>&1 | head -n 1)"
	c=$((c + 1))
done
echo "${line# }"
