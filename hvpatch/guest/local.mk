# The guest session (hvg_): a guest opened through the access layer, its
# kernel located and its symbol index built with libhvi.  The inspect
# commands and the apply engine stand on it.
hvpatch_libhvpatch_a_SOURCES += hvpatch/guest/guest.c hvpatch/guest/guest.h
