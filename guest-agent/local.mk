# hvpatch-agent runs inside tenant VMs: one static binary, no sanitizers
# (their runtimes cannot be linked statically).
sbin_PROGRAMS += guest-agent/hvpatch-agent
guest_agent_hvpatch_agent_SOURCES = guest-agent/agent.c \
	introspection/hv_error.c introspection/hv_buf.c
guest_agent_hvpatch_agent_CFLAGS = $(WARN_CFLAGS) -Os
guest_agent_hvpatch_agent_LDFLAGS = -static
