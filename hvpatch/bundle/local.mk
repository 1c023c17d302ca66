# Patch bundles (hvb_): format, signatures, building from kbuild objects,
# and the build/keygen/sign/verify/show commands.
hvpatch_libhvpatch_a_SOURCES += hvpatch/bundle/hvb.c hvpatch/bundle/hvb.h \
	hvpatch/bundle/hvb_sign.c
hvpatch_libhvpatch_a_SOURCES += hvpatch/bundle/hvb_build.c hvpatch/bundle/hvb_build.h \
	hvpatch/bundle/cmd_bundle.c hvpatch/bundle/commands.inc \
	hvpatch/bundle/hvb_kcheck.c hvpatch/bundle/hvb_reloc.c hvpatch/bundle/hvb_reloc.h \
	hvpatch/bundle/hvb_ko.c hvpatch/bundle/hvb_ko.h
