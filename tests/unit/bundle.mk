# Patch bundles: format, signatures, relocation, object builder, CLI and
# the example patches (built for the pinned kernels when headers exist).
HV_BUNDLE_TEST_LIBS = hvpatch/libhvpatch.a $(HV_CHECK_LIBS) $(LIBCRYPTO_LIBS) $(JANSSON_LIBS)

check_PROGRAMS += tests/unit/test_bundle
tests_unit_test_bundle_SOURCES = tests/unit/test_bundle.c
tests_unit_test_bundle_CPPFLAGS = $(AM_CPPFLAGS) -I$(top_srcdir)/hvpatch/bundle
tests_unit_test_bundle_CFLAGS = $(HV_CHECK_CFLAGS) $(LIBCRYPTO_CFLAGS)
tests_unit_test_bundle_LDADD = $(HV_BUNDLE_TEST_LIBS)
TESTS += tests/unit/test_bundle

check_PROGRAMS += tests/unit/test_bundle_elf
tests_unit_test_bundle_elf_SOURCES = tests/unit/test_bundle_elf.c
tests_unit_test_bundle_elf_CPPFLAGS = $(AM_CPPFLAGS) -I$(top_srcdir)/hvpatch/bundle
tests_unit_test_bundle_elf_CFLAGS = $(HV_CHECK_CFLAGS)
tests_unit_test_bundle_elf_LDADD = $(HV_BUNDLE_TEST_LIBS)
TESTS += tests/unit/test_bundle_elf

TESTS += tests/unit/test_bundle_cli.sh tests/unit/test_bundle_examples.sh
EXTRA_DIST += tests/unit/test_bundle_cli.sh tests/unit/test_bundle_examples.sh \
	tests/unit/bundle-data hvpatch/bundle/commands.inc

# Build the example patches (docs/examples) for every pinned kernel into
# $(builddir)/example-bundles, signed with a throw-away key.
example-bundles: all
	mkdir -p example-bundles
	top_srcdir='$(abs_top_srcdir)' top_builddir='$(abs_top_builddir)' \
		HVB_EXAMPLES_OUT='$(abs_top_builddir)/example-bundles' \
		$(SHELL) $(abs_top_srcdir)/tests/unit/test_bundle_examples.sh
.PHONY: example-bundles

check_PROGRAMS += tests/unit/test_bundle_ld
tests_unit_test_bundle_ld_SOURCES = tests/unit/test_bundle_ld.c
tests_unit_test_bundle_ld_CPPFLAGS = $(AM_CPPFLAGS) -I$(top_srcdir)/hvpatch/bundle
tests_unit_test_bundle_ld_CFLAGS = $(HV_CHECK_CFLAGS)
tests_unit_test_bundle_ld_LDADD = $(HV_BUNDLE_TEST_LIBS)
TESTS += tests/unit/test_bundle_ld

check_PROGRAMS += tests/unit/test_bundle_targets
tests_unit_test_bundle_targets_SOURCES = tests/unit/test_bundle_targets.c
tests_unit_test_bundle_targets_CPPFLAGS = $(AM_CPPFLAGS) -I$(top_srcdir)/hvpatch/bundle
tests_unit_test_bundle_targets_CFLAGS = $(HV_CHECK_CFLAGS)
tests_unit_test_bundle_targets_LDADD = $(HV_BUNDLE_TEST_LIBS)
TESTS += tests/unit/test_bundle_targets

# Runs an example bundle's relocated code in-process (used by
# test_bundle_examples.sh; not a test by itself).
check_PROGRAMS += tests/unit/test_bundle_exec
tests_unit_test_bundle_exec_SOURCES = tests/unit/test_bundle_exec.c
tests_unit_test_bundle_exec_CPPFLAGS = $(AM_CPPFLAGS) -I$(top_srcdir)/hvpatch/bundle
tests_unit_test_bundle_exec_CFLAGS = $(AM_CFLAGS)
tests_unit_test_bundle_exec_LDADD = $(HV_BUNDLE_TEST_LIBS)

# Kernel-symbol relocations (per-cpu and ordinary symbols, each kind) and
# the agreement of "hvpatch build --vmlinux" with the apply engine.
check_PROGRAMS += tests/unit/test_bundle_reloc
tests_unit_test_bundle_reloc_SOURCES = tests/unit/test_bundle_reloc.c $(HVI_TEST_HELPERS)
tests_unit_test_bundle_reloc_CPPFLAGS = $(AM_CPPFLAGS) -I$(top_srcdir)/hvpatch/bundle
tests_unit_test_bundle_reloc_CFLAGS = $(HV_CHECK_CFLAGS)
tests_unit_test_bundle_reloc_LDADD = $(HV_BUNDLE_TEST_LIBS)
TESTS += tests/unit/test_bundle_reloc

# The reader of a module's .ko (hvb_ko): lookups, name@N, the directory
# search, and every byte of a real object flipped and every truncation.
# The object is built here the way kbuild builds a module: two parts of
# tests/unit/bundle-data/ko_fixture.c compiled with the kernel's ftrace and
# code-model flags, joined by "ld -r" (so it holds two static symbols of
# one name).  The test finds it under $(top_builddir) (tests/unit/ko_fixture.ko).
HV_KO_FIXTURE_CFLAGS = -O2 -pg -mfentry -fno-pic -mcmodel=kernel \
	-fno-asynchronous-unwind-tables -fcf-protection=none
HV_KO_FIXTURE_SRC = $(srcdir)/tests/unit/bundle-data/ko_fixture.c
tests/unit/ko_fixture.ko: $(HV_KO_FIXTURE_SRC)
	@$(MKDIR_P) tests/unit
	$(AM_V_CC)$(CC) -c $(HV_KO_FIXTURE_CFLAGS) -DKO_FIXTURE_PART=1 \
		-o tests/unit/ko_fixture-part1.o $(HV_KO_FIXTURE_SRC) && \
	$(CC) -c $(HV_KO_FIXTURE_CFLAGS) -DKO_FIXTURE_PART=2 \
		-o tests/unit/ko_fixture-part2.o $(HV_KO_FIXTURE_SRC)
	$(AM_V_CCLD)$(CC) -r -nostdlib -o $@ tests/unit/ko_fixture-part1.o \
		tests/unit/ko_fixture-part2.o
CLEANFILES += tests/unit/ko_fixture.ko tests/unit/ko_fixture-part1.o \
	tests/unit/ko_fixture-part2.o

check_PROGRAMS += tests/unit/test_bundle_ko
tests_unit_test_bundle_ko_SOURCES = tests/unit/test_bundle_ko.c
tests_unit_test_bundle_ko_CPPFLAGS = $(AM_CPPFLAGS) -I$(top_srcdir)/hvpatch/bundle \
	-DHV_KO_FIXTURE='"$(abs_top_builddir)/tests/unit/ko_fixture.ko"'
tests_unit_test_bundle_ko_CFLAGS = $(HV_CHECK_CFLAGS)
tests_unit_test_bundle_ko_LDADD = $(HV_BUNDLE_TEST_LIBS)
EXTRA_tests_unit_test_bundle_ko_DEPENDENCIES = tests/unit/ko_fixture.ko
TESTS += tests/unit/test_bundle_ko
