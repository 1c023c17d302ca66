/*
 * hva_qmp: a QMP client over a unix socket, for QEMU run without libvirt.
 * One command at a time; asynchronous events are skipped.  Replies are
 * bounded (HVA_QMP_REPLY_MAX) and every wait has a timeout.
 */
#ifndef HVA_QMP_H
#define HVA_QMP_H

#include <sys/types.h>

#include "hv_error.h"

#define HVA_QMP_REPLY_MAX (4 * 1024 * 1024)

struct hva_qmp;

/*
 * Connect to the QMP socket @path, read the greeting and enter command mode.
 * *out is the caller's (hva_qmp_close()).  Errors: HV_E_IO, HV_E_PERM,
 * HV_E_BUSY (QEMU accepted the connection but another client holds the
 * monitor), HV_E_TIMEOUT, HV_E_PROTO.
 */
int hva_qmp_connect(const char *path, unsigned timeout_ms, struct hva_qmp **out) HV_WUR;

/* The same over a connected socket @fd, which it takes over. */
int hva_qmp_attach_fd(int fd, unsigned timeout_ms, struct hva_qmp **out) HV_WUR;

/*
 * Send one command (a JSON object as text) and return its reply line in
 * *reply (malloc'd, caller frees): the first non-event JSON object.
 */
int hva_qmp_command(struct hva_qmp *q, const char *cmd_json, char **reply) HV_WUR;

/* The process id of the peer (SO_PEERCRED), or 0 if unknown. */
pid_t hva_qmp_peer_pid(const struct hva_qmp *q);

/* The connected socket (the pause guard keeps a copy), or -1. */
int hva_qmp_fd(const struct hva_qmp *q);

/*
 * The id the pause guard puts on the "cont" it sends over the same socket
 * when the session hangs or dies; hva_qmp_command() skips its reply.
 */
#define HVA_QMP_GUARD_ID "hvpatch-guard"

void hva_qmp_close(struct hva_qmp *q);

#endif
