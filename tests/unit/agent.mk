# Unit tests of the guest agent (tests/unit/test_agent.c) and the host's
# channel client (tests/unit/test_agentchan.c): no VM, no root.  The agent
# sources are compiled into the tests (with the tests' flags, so sanitizer
# builds cover them too).
HV_AGENT_TEST_SOURCES = $(HV_AGENT_SOURCES) \
	tests/unit/test_agent_fixture.c tests/unit/test_agent_fixture.h tests/unit/hv_check.h

check_PROGRAMS += tests/unit/test_agent
tests_unit_test_agent_SOURCES = tests/unit/test_agent.c $(HV_AGENT_TEST_SOURCES)
tests_unit_test_agent_CPPFLAGS = $(AM_CPPFLAGS) -I$(top_srcdir)/guest-agent
tests_unit_test_agent_CFLAGS = $(HV_CHECK_CFLAGS) $(JANSSON_CFLAGS) -pthread
tests_unit_test_agent_LDADD = $(HV_CHECK_LIBS) $(JANSSON_LIBS) -lpthread
TESTS += tests/unit/test_agent

check_PROGRAMS += tests/unit/test_agentchan
tests_unit_test_agentchan_SOURCES = tests/unit/test_agentchan.c $(HV_AGENT_TEST_SOURCES)
tests_unit_test_agentchan_CPPFLAGS = $(AM_CPPFLAGS) -I$(top_srcdir)/guest-agent \
	-I$(top_srcdir)/hvpatch/agentchan
tests_unit_test_agentchan_CFLAGS = $(HV_CHECK_CFLAGS) $(JANSSON_CFLAGS) -pthread
tests_unit_test_agentchan_LDADD = hvpatch/libhvpatch.a $(HV_CHECK_LIBS) $(JANSSON_LIBS) -lpthread
TESTS += tests/unit/test_agentchan

# The agent binary as a tenant runs it (static, size, status/verify, exit codes).
TESTS += tests/unit/test_agent_cli.sh
EXTRA_DIST += tests/unit/test_agent_cli.sh

# The protocol's codec itself (hvpatch/common/hv_wire.c), both directions.
check_PROGRAMS += tests/unit/test_wire
tests_unit_test_wire_SOURCES = tests/unit/test_wire.c tests/unit/hv_check.h
tests_unit_test_wire_CFLAGS = $(HV_CHECK_CFLAGS) $(JANSSON_CFLAGS)
tests_unit_test_wire_LDADD = $(HV_CHECK_LIBS) $(JANSSON_LIBS)
TESTS += tests/unit/test_wire
