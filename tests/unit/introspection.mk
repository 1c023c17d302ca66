# Unit tests of libhvi (introspection/): synthetic page tables and kallsyms
# tables built in the tests, and the offline real-kernel test over the
# cached Debian vmlinux (skipped with exit 77 when it is not cached).
HVI_TEST_HELPERS = tests/unit/hvi_testlib.c tests/unit/hvi_testlib.h

check_PROGRAMS += tests/unit/test_hvi_kimage
tests_unit_test_hvi_kimage_SOURCES = tests/unit/test_hvi_kimage.c $(HVI_TEST_HELPERS)
tests_unit_test_hvi_kimage_CFLAGS = $(HV_CHECK_CFLAGS)
tests_unit_test_hvi_kimage_LDADD = $(HV_CHECK_LIBS)
TESTS += tests/unit/test_hvi_kimage

check_PROGRAMS += tests/unit/test_hvi_paging
tests_unit_test_hvi_paging_SOURCES = tests/unit/test_hvi_paging.c $(HVI_TEST_HELPERS)
tests_unit_test_hvi_paging_CFLAGS = $(HV_CHECK_CFLAGS)
tests_unit_test_hvi_paging_LDADD = $(HV_CHECK_LIBS)
TESTS += tests/unit/test_hvi_paging

check_PROGRAMS += tests/unit/test_hvi_kallsyms
tests_unit_test_hvi_kallsyms_SOURCES = tests/unit/test_hvi_kallsyms.c $(HVI_TEST_HELPERS)
tests_unit_test_hvi_kallsyms_CFLAGS = $(HV_CHECK_CFLAGS)
tests_unit_test_hvi_kallsyms_LDADD = $(HV_CHECK_LIBS)
TESTS += tests/unit/test_hvi_kallsyms

# Benchmark (not run by make check): make tests/bench/bench_hvi_index, then
# tests/bench/bench_hvi_index [RUNS].  Results: docs/BENCHMARKS.md.
noinst_PROGRAMS += tests/bench/bench_hvi_index
tests_bench_bench_hvi_index_SOURCES = tests/bench/bench_hvi_index.c $(HVI_TEST_HELPERS)
tests_bench_bench_hvi_index_CPPFLAGS = $(AM_CPPFLAGS) -I$(top_srcdir)/tests/unit
tests_bench_bench_hvi_index_LDADD = introspection/libhvi.a hvpatch/common/libhvcommon.a \
	$(LIBBPF_LIBS)
EXTRA_DIST += tests/bench/bench-inspect-live.sh

TESTS += tests/unit/test_hvi_cli.sh
EXTRA_DIST += tests/unit/test_hvi_cli.sh

check_PROGRAMS += tests/unit/test_hvi_guest
tests_unit_test_hvi_guest_SOURCES = tests/unit/test_hvi_guest.c $(HVI_TEST_HELPERS)
tests_unit_test_hvi_guest_CFLAGS = $(HV_CHECK_CFLAGS) $(JANSSON_CFLAGS) $(LIBVIRT_CFLAGS)
tests_unit_test_hvi_guest_LDADD = hvpatch/libhvpatch.a $(HV_HOST_LIBS) $(HV_CHECK_LIBS) -lpthread
TESTS += tests/unit/test_hvi_guest

check_PROGRAMS += tests/unit/test_hvi_tasks
tests_unit_test_hvi_tasks_SOURCES = tests/unit/test_hvi_tasks.c $(HVI_TEST_HELPERS)
tests_unit_test_hvi_tasks_CFLAGS = $(HV_CHECK_CFLAGS)
tests_unit_test_hvi_tasks_LDADD = $(HV_CHECK_LIBS)
TESTS += tests/unit/test_hvi_tasks

check_PROGRAMS += tests/unit/test_hvi_btf
tests_unit_test_hvi_btf_SOURCES = tests/unit/test_hvi_btf.c $(HVI_TEST_HELPERS)
tests_unit_test_hvi_btf_CFLAGS = $(HV_CHECK_CFLAGS) $(LIBBPF_CFLAGS)
tests_unit_test_hvi_btf_LDADD = $(HV_CHECK_LIBS)
TESTS += tests/unit/test_hvi_btf
TESTS += tests/unit/test_hvi_btf_cli.sh
EXTRA_DIST += tests/unit/test_hvi_btf_cli.sh

check_PROGRAMS += tests/unit/test_hvi_ftrace
tests_unit_test_hvi_ftrace_SOURCES = tests/unit/test_hvi_ftrace.c $(HVI_TEST_HELPERS)
tests_unit_test_hvi_ftrace_CFLAGS = $(HV_CHECK_CFLAGS) $(LIBBPF_CFLAGS)
tests_unit_test_hvi_ftrace_LDADD = $(HV_CHECK_LIBS)
TESTS += tests/unit/test_hvi_ftrace

# Forged kallsyms that would exhaust host memory, version banners with
# control bytes or rewritten while read (a second thread plays the guest).
check_PROGRAMS += tests/unit/test_hvi_bounds
tests_unit_test_hvi_bounds_SOURCES = tests/unit/test_hvi_bounds.c $(HVI_TEST_HELPERS)
tests_unit_test_hvi_bounds_CFLAGS = $(HV_CHECK_CFLAGS)
tests_unit_test_hvi_bounds_LDADD = $(HV_CHECK_LIBS) -lpthread
TESTS += tests/unit/test_hvi_bounds

# The module list and module symbol tables, normal and hostile.
check_PROGRAMS += tests/unit/test_hvi_modules
tests_unit_test_hvi_modules_SOURCES = tests/unit/test_hvi_modules.c $(HVI_TEST_HELPERS)
tests_unit_test_hvi_modules_CFLAGS = $(HV_CHECK_CFLAGS) $(LIBBPF_CFLAGS)
tests_unit_test_hvi_modules_LDADD = $(HV_CHECK_LIBS)
TESTS += tests/unit/test_hvi_modules
