# Shows cmdline_proc_show's output: ends in " hvpatch_level=LEVEL" once the
# example patch "cmdline-level" (or a later level) is applied.
cat /proc/cmdline
