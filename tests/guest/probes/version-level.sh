# Last line of /proc/version (example patch "version-level" appends one).
# Same as docs/examples/version-level/probe.sh.
tail -n 1 /proc/version
