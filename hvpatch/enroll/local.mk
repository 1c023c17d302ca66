# Enrollment: the libvirt definition a patchable domain needs, and the patch
# area's host file (one per domain, read-only to the guest).
hvpatch_libhvpatch_a_SOURCES += hvpatch/enroll/enroll.c hvpatch/enroll/enroll.h \
	hvpatch/enroll/area.c hvpatch/enroll/area.h \
	hvpatch/enroll/cmd_enroll.c hvpatch/enroll/enroll_cli.h
