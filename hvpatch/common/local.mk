# The common library of both binaries: the error record, the bounded reader,
# hex and clocks, and the agent protocol's codec.  No libvirt, OpenSSL or
# SQLite: the static guest agent links it too (jansson it has already).
HV_COMMON_SOURCES = \
	hvpatch/common/hv_error.c hvpatch/common/hv_error.h \
	hvpatch/common/hv_buf.c hvpatch/common/hv_buf.h \
	hvpatch/common/hv_hex.c hvpatch/common/hv_hex.h \
	hvpatch/common/hv_clock.c hvpatch/common/hv_clock.h \
	hvpatch/common/hv_wire.c hvpatch/common/hv_wire.h

noinst_LIBRARIES += hvpatch/common/libhvcommon.a
hvpatch_common_libhvcommon_a_SOURCES = $(HV_COMMON_SOURCES)
hvpatch_common_libhvcommon_a_CFLAGS = $(AM_CFLAGS) $(JANSSON_CFLAGS)

# The same sources built as the agent is built: -Os and never with
# sanitizers, whose runtimes cannot be linked statically.
noinst_LIBRARIES += hvpatch/common/libhvcommon_agent.a
hvpatch_common_libhvcommon_agent_a_SOURCES = $(HV_COMMON_SOURCES)
hvpatch_common_libhvcommon_agent_a_CFLAGS = $(WARN_CFLAGS) $(JANSSON_CFLAGS) -Os
