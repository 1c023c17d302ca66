# Enrollment: the libvirt definition a patchable domain needs.
hvpatch_libhvpatch_a_SOURCES += hvpatch/enroll/enroll.c hvpatch/enroll/enroll.h \
	hvpatch/enroll/cmd_enroll.c hvpatch/enroll/enroll_cli.h
