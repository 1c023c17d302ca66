# libFuzzer targets (tests/fuzz/fuzz_NAME.c, seeds in tests/fuzz/corpus/NAME/).
# They are built only by a tree configured with --enable-fuzzing CC=clang
# ("make fuzz", or "make tests/fuzz/fuzz_NAME"); such a tree compiles every
# library with coverage instrumentation, ASan and UBSan, and a target links
# the same libraries (and so the same objects) as the programs.
# tests/fuzz/run.sh SECONDS [NAME...] configures such a tree and runs them.
#
# A new target: add it to HV_FUZZ_TARGETS and give it the three lines the
# others have (its source is tests/fuzz/fuzz_NAME.c by default).
HV_FUZZ_TARGETS = tests/fuzz/fuzz_agentmsg tests/fuzz/fuzz_agentmsg_guest \
	tests/fuzz/fuzz_agentmsg_kcore tests/fuzz/fuzz_arearecord tests/fuzz/fuzz_btf \
	tests/fuzz/fuzz_bundle tests/fuzz/fuzz_elf tests/fuzz/fuzz_ftrace tests/fuzz/fuzz_kallsyms \
	tests/fuzz/fuzz_ko tests/fuzz/fuzz_manifest tests/fuzz/fuzz_modules tests/fuzz/fuzz_pagewalk \
	tests/fuzz/fuzz_tasks

HV_FUZZ_INCLUDES = $(AM_CPPFLAGS) -I$(top_srcdir)/hvpatch/access -I$(top_srcdir)/hvpatch/bundle \
	-I$(top_srcdir)/hvpatch/apply
HV_FUZZ_LINK = $(AM_LDFLAGS) $(FUZZ_LDFLAGS)
# Host-side targets: the host libraries.  Agent-side targets: the agent's
# sources (HV_AGENT_SOURCES, guest-agent/local.mk) as a library, then the same.
HV_FUZZ_LIBS = $(HV_HOST_LIBS)
HV_FUZZ_AGENT_LIBS = tests/fuzz/libhvfuzzagent.a $(HV_HOST_LIBS)

if FUZZING
noinst_PROGRAMS += $(HV_FUZZ_TARGETS)
noinst_LIBRARIES += tests/fuzz/libhvfuzzagent.a
fuzz: $(HV_FUZZ_TARGETS)
else
fuzz:
	@echo "make fuzz: this tree was configured without --enable-fuzzing;" \
		"configure a separate build directory with --enable-fuzzing CC=clang" \
		"(or run tests/fuzz/run.sh, which does)" >&2; exit 1
endif
.PHONY: fuzz
EXTRA_DIST += tests/fuzz/run.sh tests/fuzz/corpus

tests_fuzz_libhvfuzzagent_a_SOURCES = $(HV_AGENT_SOURCES)
tests_fuzz_libhvfuzzagent_a_CPPFLAGS = $(AM_CPPFLAGS) -I$(top_srcdir)/guest-agent
tests_fuzz_libhvfuzzagent_a_CFLAGS = $(AM_CFLAGS) $(JANSSON_CFLAGS)

tests_fuzz_fuzz_agentmsg_CPPFLAGS = $(HV_FUZZ_INCLUDES)
tests_fuzz_fuzz_agentmsg_LDFLAGS = $(HV_FUZZ_LINK)
tests_fuzz_fuzz_agentmsg_LDADD = $(HV_FUZZ_LIBS)

tests_fuzz_fuzz_agentmsg_guest_CPPFLAGS = $(HV_FUZZ_INCLUDES)
tests_fuzz_fuzz_agentmsg_guest_LDFLAGS = $(HV_FUZZ_LINK)
tests_fuzz_fuzz_agentmsg_guest_LDADD = $(HV_FUZZ_AGENT_LIBS)

tests_fuzz_fuzz_agentmsg_kcore_CPPFLAGS = $(HV_FUZZ_INCLUDES)
tests_fuzz_fuzz_agentmsg_kcore_LDFLAGS = $(HV_FUZZ_LINK)
tests_fuzz_fuzz_agentmsg_kcore_LDADD = $(HV_FUZZ_AGENT_LIBS)

tests_fuzz_fuzz_arearecord_CPPFLAGS = $(HV_FUZZ_INCLUDES)
tests_fuzz_fuzz_arearecord_LDFLAGS = $(HV_FUZZ_LINK)
tests_fuzz_fuzz_arearecord_LDADD = $(HV_FUZZ_LIBS)

tests_fuzz_fuzz_btf_CPPFLAGS = $(HV_FUZZ_INCLUDES) $(LIBBPF_CFLAGS)
tests_fuzz_fuzz_btf_LDFLAGS = $(HV_FUZZ_LINK)
tests_fuzz_fuzz_btf_LDADD = $(HV_FUZZ_LIBS)

tests_fuzz_fuzz_bundle_CPPFLAGS = $(HV_FUZZ_INCLUDES)
tests_fuzz_fuzz_bundle_LDFLAGS = $(HV_FUZZ_LINK)
tests_fuzz_fuzz_bundle_LDADD = $(HV_FUZZ_LIBS)

tests_fuzz_fuzz_elf_CPPFLAGS = $(HV_FUZZ_INCLUDES)
tests_fuzz_fuzz_elf_LDFLAGS = $(HV_FUZZ_LINK)
tests_fuzz_fuzz_elf_LDADD = $(HV_FUZZ_LIBS)

tests_fuzz_fuzz_ftrace_CPPFLAGS = $(HV_FUZZ_INCLUDES)
tests_fuzz_fuzz_ftrace_LDFLAGS = $(HV_FUZZ_LINK)
tests_fuzz_fuzz_ftrace_LDADD = $(HV_FUZZ_LIBS)

tests_fuzz_fuzz_kallsyms_CPPFLAGS = $(HV_FUZZ_INCLUDES)
tests_fuzz_fuzz_kallsyms_LDFLAGS = $(HV_FUZZ_LINK)
tests_fuzz_fuzz_kallsyms_LDADD = $(HV_FUZZ_LIBS)

tests_fuzz_fuzz_ko_CPPFLAGS = $(HV_FUZZ_INCLUDES)
tests_fuzz_fuzz_ko_LDFLAGS = $(HV_FUZZ_LINK)
tests_fuzz_fuzz_ko_LDADD = $(HV_FUZZ_LIBS)

tests_fuzz_fuzz_manifest_CPPFLAGS = $(HV_FUZZ_INCLUDES)
tests_fuzz_fuzz_manifest_LDFLAGS = $(HV_FUZZ_LINK)
tests_fuzz_fuzz_manifest_LDADD = $(HV_FUZZ_LIBS)

tests_fuzz_fuzz_modules_CPPFLAGS = $(HV_FUZZ_INCLUDES)
tests_fuzz_fuzz_modules_LDFLAGS = $(HV_FUZZ_LINK)
tests_fuzz_fuzz_modules_LDADD = $(HV_FUZZ_LIBS)

tests_fuzz_fuzz_pagewalk_CPPFLAGS = $(HV_FUZZ_INCLUDES)
tests_fuzz_fuzz_pagewalk_LDFLAGS = $(HV_FUZZ_LINK)
tests_fuzz_fuzz_pagewalk_LDADD = $(HV_FUZZ_LIBS)

tests_fuzz_fuzz_tasks_CPPFLAGS = $(HV_FUZZ_INCLUDES)
tests_fuzz_fuzz_tasks_LDFLAGS = $(HV_FUZZ_LINK)
tests_fuzz_fuzz_tasks_LDADD = $(HV_FUZZ_LIBS)
