/*
 * The bare-QEMU backend: a QMP unix socket (QEMU started with
 * "-qmp unix:PATH,server=on,wait=off"), for hosts that run QEMU without
 * libvirt.  Pause and resume are QMP stop/cont; the QEMU process id comes
 * from the socket's peer credentials.  It shares the QEMU-level code (probes,
 * gdbstub, RAM mapping) with the libvirt backend.
 */
#include "config.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "hva_impl.h"
#include "qmp.h"

struct qs {
	struct hva_qmp *qmp;
	int guard_fd;	      /* the QMP socket, as the guard process sees it */
	pthread_mutex_t lock; /* the watchdog thread may send "cont" */
};

static int qs_qmp(struct hva *h, const char *cmd, char **reply)
{
	struct qs *qs = h->be;
	int r;

	pthread_mutex_lock(&qs->lock);
	r = hva_qmp_command(qs->qmp, cmd, reply);
	pthread_mutex_unlock(&qs->lock);
	return r;
}

static int qs_simple(struct hva *h, const char *execute)
{
	json_t *ret = NULL;
	int r = hva_qemu_exec(h, execute, NULL, &ret);

	json_decref(ret);
	return r;
}

static int qs_running(struct hva *h, bool *running)
{
	json_t *ret = NULL;
	int r = hva_qemu_exec(h, "query-status", NULL, &ret);

	if (r == 0)
		*running = json_is_true(json_object_get(ret, "running"));
	json_decref(ret);
	return r;
}

static int qs_pause(struct hva *h)
{
	return qs_simple(h, "stop");
}

static int qs_resume(struct hva *h)
{
	return qs_simple(h, "cont");
}

/*
 * The pause guard's side of this backend: QEMU's QMP socket takes one
 * client, so the guard keeps a copy of the session's connection and, only
 * when the session died or hangs past its deadline, sends "cont" on it
 * (marked with HVA_QMP_GUARD_ID so a hung session later skips the reply).
 * QMP runs a connection's commands in order, so a "stop" the session sent
 * just before it died is followed by this "cont".  The session pauses the
 * guest itself, after arming the guard.
 */
static int qsg_resume(void *arg)
{
	static const char cont[] = "{\"execute\":\"cont\",\"id\":\"" HVA_QMP_GUARD_ID "\"}\n";
	int fd = *(int *)arg;

	if (send(fd, cont, sizeof(cont) - 1, MSG_NOSIGNAL) != (ssize_t)(sizeof(cont) - 1))
		return hv_err(HV_E_IO, "the pause guard cannot write to the QMP socket: %s",
			      strerror(errno));
	return 0;
}

static int qsg_gdbstub_off(void *arg)
{
	static const char off[] =
		"{\"execute\":\"human-monitor-command\",\"arguments\":"
		"{\"command-line\":\"gdbserver none\"},\"id\":\"" HVA_QMP_GUARD_ID "\"}\n";
	int fd = *(int *)arg;

	if (send(fd, off, sizeof(off) - 1, MSG_NOSIGNAL) != (ssize_t)(sizeof(off) - 1))
		return hv_err(HV_E_IO, "the pause guard cannot write to the QMP socket: %s",
			      strerror(errno));
	return 0;
}

static const struct hva_guard_backend qs_guard_backend = {
	.name = "qmp",
	.resume = qsg_resume,
	.gdbstub_off = qsg_gdbstub_off,
};

static int qs_describe(struct hva *h, struct hva_info *info)
{
	struct qs *qs = h->be;
	json_t *ret = NULL;
	const char *s;
	int r;

	memset(info, 0, sizeof(*info));
	snprintf(info->name, sizeof(info->name), "%s", h->label);
	r = hva_qemu_exec(h, "query-uuid", NULL, &ret);
	if (r < 0)
		return r;
	s = json_string_value(json_object_get(ret, "UUID"));
	snprintf(info->uuid, sizeof(info->uuid), "%s", s ? s : "");
	json_decref(ret);
	ret = NULL;
	r = hva_qemu_exec(h, "query-name", NULL, &ret);
	if (r == 0) {
		s = json_string_value(json_object_get(ret, "name"));
		if (s && *s)
			snprintf(info->name, sizeof(info->name), "%s", s);
	}
	json_decref(ret);
	hv_err_clear();
	/* The patch area is the device with hvpatch's id, as with libvirt
	 * (hvpatch enroll --qemu-args prints its arguments). */
	r = hva_qemu_probe(h, info);
	if (r < 0)
		return r;
	h->qemu_pid = hva_qmp_peer_pid(qs->qmp);
	info->qemu_pid = (int)h->qemu_pid;
	return 0;
}

static void qs_close(struct hva *h)
{
	struct qs *qs = h->be;

	hva_qemu_gdb_stop(h);
	if (qs) {
		hva_qmp_close(qs->qmp);
		pthread_mutex_destroy(&qs->lock);
		free(qs);
	}
	hva_session_free(h);
}

static const struct hva_ops qs_ops = {
	.name = "qmp",
	.describe = qs_describe,
	.running = qs_running,
	.pause = qs_pause,
	.resume = qs_resume,
	.read_regs = hva_qemu_read_regs,
	.prepare_pause = hva_qemu_prepare_pause,
	.read_phys = hva_qemu_read_phys,
	.write_phys = hva_qemu_write_phys,
	.hmp = hva_qemu_hmp_op,
	.close = qs_close,
};

int hva_qmpsock_open(const char *label, const struct hva_open_opts *opts, struct hva **out)
{
	struct hva *h;
	struct qs *qs;
	json_t *ret = NULL;
	const char *st;
	int r;

	*out = NULL;
	h = hva_session_new(&qs_ops, opts, label);
	qs = calloc(1, sizeof(*qs));
	if (!h || !qs) {
		free(qs);
		hva_session_free(h);
		return hv_err(HV_E_NOMEM, "out of memory opening %s", label);
	}
	pthread_mutex_init(&qs->lock, NULL);
	h->be = qs;
	h->qmp = qs_qmp;
	r = hva_qmp_connect(opts->qmp_socket, 5000, &qs->qmp);
	if (r < 0)
		goto out;
	r = hva_qemu_exec(h, "query-status", NULL, &ret);
	if (r < 0)
		goto out;
	st = json_string_value(json_object_get(ret, "status"));
	if (!json_is_true(json_object_get(ret, "running")) && !(st && !strcmp(st, "paused"))) {

		r = hv_err(HV_E_STATE, "the QEMU at %s is not running (status %s); resume it first",
			   opts->qmp_socket, st ? st : "unknown");
		goto out;
	}
	r = hva_describe(h, &h->info);
	if (r < 0)
		goto out;
	r = hva_qemu_map_memory(h);
	if (r < 0)
		goto out;
	qs->guard_fd = hva_qmp_fd(qs->qmp);
	/* A bare QEMU often has the all-zero UUID: key its pause record by
	 * its process instead. */
	if (h->info.uuid[0] && strcmp(h->info.uuid, "00000000-0000-0000-0000-000000000000"))
		snprintf(h->pause_key, sizeof(h->pause_key), "%s", h->info.uuid);
	else
		snprintf(h->pause_key, sizeof(h->pause_key), "qemu-pid-%d", (int)h->qemu_pid);
	r = hva_guard_start(&qs_guard_backend, &qs->guard_fd, qs->guard_fd, h->pause_key,
			    h->pause_dir, &h->guard);
	if (r < 0)
		goto out;
	r = hva_check_found_state(h);
	if (r < 0)
		goto out;
	*out = h;
	h = NULL;
out:
	json_decref(ret);
	if (h)
		qs_close(h);
	return r;
}
