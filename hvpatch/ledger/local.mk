# The host ledger (SQLite, WAL): what each domain is at, and every operation
# written ahead of its guest writes.
hvpatch_libhvpatch_a_SOURCES += hvpatch/ledger/hvl.c hvpatch/ledger/hvl.h
hvpatch_libhvpatch_a_CFLAGS += $(SQLITE_CFLAGS)
HV_HOST_LIBS += $(SQLITE_LIBS)
