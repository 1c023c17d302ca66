# hvpatch inspect / sym / addr: what hvpatch sees of a guest kernel.
hvpatch_libhvpatch_a_SOURCES += hvpatch/inspect/cmd_inspect.c
