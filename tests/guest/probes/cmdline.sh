# Shows cmdline_proc_show's output (example patch "cmdline-level" changes it).
cat /proc/cmdline
