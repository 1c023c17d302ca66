# libhvi: introspection of a guest kernel from its memory.  No libvirt, no
# QEMU: memory arrives through a read callback, so everything here is
# unit-testable over synthetic images and fuzzable.
noinst_LIBRARIES += introspection/libhvi.a
introspection_libhvi_a_SOURCES = \
	introspection/hvi_mem.c introspection/hvi_mem.h \
	introspection/hvi_paging.c introspection/hvi_paging.h \
	introspection/hvi_kallsyms.c introspection/hvi_kallsyms.h \
	introspection/hvi_kernel.c introspection/hvi_kernel.h \
	introspection/hvi_text.c introspection/hvi_text.h
# Every task and a conservative scan of its kernel stack.
introspection_libhvi_a_SOURCES += introspection/hvi_tasks.c introspection/hvi_tasks.h
# The kernel's own BTF (struct layouts), read from its image and parsed by libbpf.
introspection_libhvi_a_SOURCES += introspection/hvi_btf.c introspection/hvi_btf.h
introspection_libhvi_a_CPPFLAGS = $(AM_CPPFLAGS) $(LIBBPF_CFLAGS)
# The kernel's ftrace records, ftrace_lock and ftrace users (layout from BTF).
introspection_libhvi_a_SOURCES += introspection/hvi_ftrace.c introspection/hvi_ftrace.h
# The guest's loaded modules and each module's own symbol table (layout from BTF).
introspection_libhvi_a_SOURCES += introspection/hvi_modules.c introspection/hvi_modules.h
