# Tries to store a name containing '/' through the handler that example patch
# "hostname-check" fixes (proc_do_uts_string, shared by
# /proc/sys/kernel/hostname and domainname).  It uses the NIS domain name so
# the hostname is never touched, and puts back the boot default "(none)".
# Prints "bad-hostname=accepted" on an unpatched kernel and
# "bad-hostname=refused" once level 2026.11-2 or later is applied.  Safe to
# run concurrently on several CPUs.
if (echo 'evil/host name' > /proc/sys/kernel/domainname) 2>/dev/null; then
	echo '(none)' > /proc/sys/kernel/domainname
	echo "bad-hostname=accepted"
else
	echo "bad-hostname=refused"
fi
