# Hypervisor access: the hva interface, its libvirt and bare-QEMU (QMP
# socket) backends, and the QMP and gdbstub clients they share.
hvpatch_libhvpatch_a_SOURCES += hvpatch/access/hva.h hvpatch/access/hva_impl.h \
	hvpatch/access/hva.c hvpatch/access/qemu.c \
	hvpatch/access/gdb.c hvpatch/access/gdb.h \
	hvpatch/access/guard.c hvpatch/access/guard.h \
	hvpatch/access/qmp.c hvpatch/access/qmp.h \
	hvpatch/access/sock.c hvpatch/access/sock.h \
	hvpatch/access/libvirt.c hvpatch/access/qmpsock.c \
	hvpatch/access/cmd_access.c
