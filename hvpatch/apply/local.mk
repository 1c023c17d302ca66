# The apply engine: patch-area layout and record, apply/revert/status.
hvpatch_libhvpatch_a_SOURCES += hvpatch/apply/area.c hvpatch/apply/area.h \
	hvpatch/apply/state.c hvpatch/apply/state.h \
	hvpatch/apply/engine.c hvpatch/apply/engine.h \
	hvpatch/apply/session.c \
	hvpatch/apply/stackcheck.c hvpatch/apply/stackcheck.h \
	hvpatch/apply/modsites.c hvpatch/apply/modsites.h \
	hvpatch/apply/cmd_apply.c
