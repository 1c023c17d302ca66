# Tries to set a hostname containing '/' through /proc/sys/kernel/hostname and
# restores the old name: prints "bad-hostname=accepted" on an unpatched
# kernel, "bad-hostname=refused" once example patch "hostname-check" (level
# 2026.11-2 or later) is applied.
old=$(cat /proc/sys/kernel/hostname)
if (echo 'evil/host name' > /proc/sys/kernel/hostname) 2>/dev/null; then
	echo "$old" > /proc/sys/kernel/hostname
	echo "bad-hostname=accepted"
else
	echo "bad-hostname=refused"
fi
