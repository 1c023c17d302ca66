# The apply engine: patch-area layout, apply/revert/status.
hvpatch_libhvpatch_a_SOURCES += hvpatch/apply/area.c hvpatch/apply/area.h
