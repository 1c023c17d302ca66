# Shows whether a hostname with '/' is accepted (example patch "hostname-check"
# refuses it); the old name is restored.  Same as
# docs/examples/hostname-check/probe.sh.
old=$(cat /proc/sys/kernel/hostname)
if (echo 'evil/host name' > /proc/sys/kernel/hostname) 2>/dev/null; then
	echo "$old" > /proc/sys/kernel/hostname
	echo "bad-hostname=accepted"
else
	echo "bad-hostname=refused"
fi
