# The channel to hvpatch-agent: message parser and builder, the client the
# apply engine calls after every apply/revert, and the agent-* commands.
hvpatch_libhvpatch_a_SOURCES += hvpatch/agentchan/hvc.h hvpatch/agentchan/hvc_msg.c \
	hvpatch/agentchan/hvc_client.c hvpatch/agentchan/hvc_report.c \
	hvpatch/agentchan/cmd_agent.c
