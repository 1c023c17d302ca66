# hvpatch inspect / sym / addr, and the shared "open a guest, locate its
# kernel, build its symbol index" helper (guest.h) the apply engine reuses.
hvpatch_libhvpatch_a_SOURCES += hvpatch/inspect/guest.c hvpatch/inspect/guest.h \
	hvpatch/inspect/cmd_inspect.c
