# The host side: the hvpatch CLI (and later the hvpatchd service).
noinst_LIBRARIES += hvpatch/libhvpatch.a
hvpatch_libhvpatch_a_SOURCES = \
	hvpatch/cli.c hvpatch/cli.h hvpatch/commands.h
hvpatch_libhvpatch_a_CFLAGS = $(AM_CFLAGS) $(LIBVIRT_CFLAGS) $(LIBXML_CFLAGS) \
	$(LIBCRYPTO_CFLAGS) $(JANSSON_CFLAGS)

HV_HOST_LIBS = hvpatch/libhvpatch.a introspection/libhvi.a hvpatch/common/libhvcommon.a \
	$(LIBBPF_LIBS) $(LIBVIRT_LIBS) $(LIBXML_LIBS) $(LIBCRYPTO_LIBS) $(JANSSON_LIBS)

bin_PROGRAMS += hvpatch/hvpatch
hvpatch_hvpatch_SOURCES = hvpatch/main.c
hvpatch_hvpatch_CFLAGS = $(AM_CFLAGS) $(LIBVIRT_CFLAGS) $(JANSSON_CFLAGS)
hvpatch_hvpatch_LDADD = $(HV_HOST_LIBS)

include hvpatch/access/local.mk
include hvpatch/bundle/local.mk
include hvpatch/ledger/local.mk
include hvpatch/apply/local.mk
include hvpatch/enroll/local.mk
include hvpatch/guest/local.mk
include hvpatch/inspect/local.mk
include hvpatch/agentchan/local.mk
