# Unit tests (make check): no VM, no root.  Check-based C tests plus shell
# tests of the command-line tools.
HV_CHECK_CFLAGS = $(AM_CFLAGS) $(CHECK_CFLAGS)
HV_CHECK_LIBS = introspection/libhvi.a hvpatch/common/libhvcommon.a $(LIBBPF_LIBS) $(CHECK_LIBS)

check_PROGRAMS += tests/unit/test_common
tests_unit_test_common_SOURCES = tests/unit/test_common.c
tests_unit_test_common_CFLAGS = $(HV_CHECK_CFLAGS)
tests_unit_test_common_LDADD = $(HV_CHECK_LIBS)

TESTS += tests/unit/test_common tests/unit/test_cli.sh tests/unit/test_configure.sh \
	tests/unit/test_shell_selftest.sh
EXTRA_DIST += tests/unit/test_cli.sh tests/unit/test_configure.sh tests/unit/test_shell_selftest.sh

# Live-guest tests: need root, libvirt and QEMU (tests/setup-host.sh prepares
# a machine).  They build the test guests first (cached downloads).
EXTRA_DIST += tests/integration tests/guest tests/setup-host.sh
# The whole suite as CI runs it, the demo, and the apply benchmark.
EXTRA_DIST += tests/run-all.sh tests/demo.sh tests/bench/bench-apply.sh tests/bench/bench-module.sh \
	tests/bench/bench-stack-check.sh
check-integration: all
	top_srcdir='$(abs_top_srcdir)' top_builddir='$(abs_top_builddir)' \
		$(SHELL) $(abs_top_srcdir)/tests/integration/run.sh $(INTEGRATION_TESTS)

# A second caller of the apply engine (besides the CLI), for the live test
# that any caller gets the same lock and reconcile (t-engine-caller.sh).
noinst_PROGRAMS += tests/integration/engine_caller
tests_integration_engine_caller_SOURCES = tests/integration/engine_caller.c
tests_integration_engine_caller_CFLAGS = $(AM_CFLAGS) $(LIBVIRT_CFLAGS) $(JANSSON_CFLAGS)
tests_integration_engine_caller_LDADD = $(hvpatch_hvpatch_LDADD)

# Guest images for the pinned kernel builds (tests/guest/kernels.list).
test-guests: all
	top_srcdir='$(abs_top_srcdir)' top_builddir='$(abs_top_builddir)' \
		$(SHELL) $(abs_top_srcdir)/tests/guest/build-guests.sh

.PHONY: check-integration test-guests

include tests/unit/introspection.mk
include tests/unit/access.mk
include tests/unit/bundle.mk
include tests/unit/agent.mk

check_PROGRAMS += tests/unit/test_ledger
tests_unit_test_ledger_SOURCES = tests/unit/test_ledger.c
tests_unit_test_ledger_CPPFLAGS = $(AM_CPPFLAGS) -I$(top_srcdir)/hvpatch/ledger
tests_unit_test_ledger_CFLAGS = $(HV_CHECK_CFLAGS) $(SQLITE_CFLAGS)
tests_unit_test_ledger_LDADD = hvpatch/libhvpatch.a $(HV_CHECK_LIBS) $(SQLITE_LIBS)
TESTS += tests/unit/test_ledger

check_PROGRAMS += tests/unit/test_area
tests_unit_test_area_SOURCES = tests/unit/test_area.c
tests_unit_test_area_CPPFLAGS = $(AM_CPPFLAGS) -I$(top_srcdir)/hvpatch/apply
tests_unit_test_area_CFLAGS = $(HV_CHECK_CFLAGS)
tests_unit_test_area_LDADD = hvpatch/libhvpatch.a $(HV_CHECK_LIBS)
TESTS += tests/unit/test_area

check_PROGRAMS += tests/unit/test_enroll
tests_unit_test_enroll_SOURCES = tests/unit/test_enroll.c
tests_unit_test_enroll_CPPFLAGS = $(AM_CPPFLAGS) -I$(top_srcdir)/hvpatch/enroll
tests_unit_test_enroll_CFLAGS = $(HV_CHECK_CFLAGS) $(LIBXML_CFLAGS)
tests_unit_test_enroll_LDADD = hvpatch/libhvpatch.a $(HV_CHECK_LIBS) $(LIBXML_LIBS)
TESTS += tests/unit/test_enroll
