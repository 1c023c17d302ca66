/*
 * hva_sock: the one place hvpatch/access connects to a unix stream socket
 * (the QEMU gdbstub, the QMP monitor).
 */
#ifndef HVA_SOCK_H
#define HVA_SOCK_H

#include "hv_error.h"

/*
 * Connect to the unix socket @path; @what names the peer in errors ("the
 * gdbstub").  *@fd is the connected close-on-exec socket, the caller's to
 * close.  Errors: HV_E_INVAL (path too long), HV_E_NOTFOUND (no socket
 * there), HV_E_PERM, HV_E_IO.
 */
int hva_sock_connect(const char *path, const char *what, int *fd) HV_WUR;

#endif
