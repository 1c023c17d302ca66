# Last line of /proc/version: the kernel banner on an unpatched kernel,
# "hvpatch level LEVEL (patched live from the host)" once example patch
# "version-level" (level 2026.11-3) is applied.
tail -n 1 /proc/version
