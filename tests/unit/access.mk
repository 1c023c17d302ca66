# hvpatch/access without a VM: gdbstub and QMP clients against scripted
# peers, and the hva wrappers over a fake backend.
check_PROGRAMS += tests/unit/test_access
tests_unit_test_access_SOURCES = tests/unit/test_access.c
tests_unit_test_access_CFLAGS = $(HV_CHECK_CFLAGS) $(JANSSON_CFLAGS) $(LIBVIRT_CFLAGS)
tests_unit_test_access_LDADD = hvpatch/libhvpatch.a $(HV_HOST_LIBS) $(HV_CHECK_LIBS) -lpthread
TESTS += tests/unit/test_access

# The patch area's host-side checks (hvpatch/enroll/area.c) without a VM.
check_PROGRAMS += tests/unit/test_hva_area
tests_unit_test_hva_area_SOURCES = tests/unit/test_hva_area.c
tests_unit_test_hva_area_CPPFLAGS = $(AM_CPPFLAGS) -I$(top_srcdir)/hvpatch/enroll
tests_unit_test_hva_area_CFLAGS = $(HV_CHECK_CFLAGS)
tests_unit_test_hva_area_LDADD = hvpatch/libhvpatch.a $(HV_HOST_LIBS) $(HV_CHECK_LIBS)
TESTS += tests/unit/test_hva_area
