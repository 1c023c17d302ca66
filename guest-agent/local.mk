# hvpatch-agent runs inside tenant VMs: one static binary, no sanitizers
# (their runtimes cannot be linked statically).  JSON through jansson's
# static library (docs/AGENT-PROTOCOL.md says why).
HV_AGENT_SOURCES = guest-agent/agent.h \
	guest-agent/agent_proto.c guest-agent/agent_state.c \
	guest-agent/agent_verify.c guest-agent/agent_daemon.c
sbin_PROGRAMS += guest-agent/hvpatch-agent
guest_agent_hvpatch_agent_SOURCES = guest-agent/agent.c $(HV_AGENT_SOURCES)
guest_agent_hvpatch_agent_CFLAGS = $(WARN_CFLAGS) $(JANSSON_CFLAGS) -Os
guest_agent_hvpatch_agent_LDFLAGS = -static
guest_agent_hvpatch_agent_LDADD = hvpatch/common/libhvcommon_agent.a $(JANSSON_LIBS)
