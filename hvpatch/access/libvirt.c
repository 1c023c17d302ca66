/*
 * The libvirt backend: a domain found by name or UUID, suspended and
 * resumed through the libvirt API, QMP through virDomainQemuMonitorCommand
 * (libvirt marks the domain tainted "custom-monitor"), and the domain's live
 * XML for its memory backing, patch area and agent channel.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <libvirt/libvirt-qemu.h>
#include <libvirt/libvirt.h>
#include <libvirt/virterror.h>
#include <libxml/parser.h>
#include <libxml/xpath.h>

#include "hv_wire.h"
#include "hva_impl.h"

/* Old enrolments: a <shmem> of this name prefix, shared through /dev/shm. */
#define HVA_LEGACY_SHM_PREFIX "hvpatch-"

struct lv_guard;

struct lv {
	virConnectPtr conn;
	virDomainPtr dom;
	bool memfd_shared;
	struct lv_guard *guard_arg; /* the guard process's copy is its own */
};

static const char *lv_errmsg(void)
{
	virErrorPtr e = virGetLastError();

	return e && e->message ? e->message : "unknown libvirt error";
}

static void lv_silence(void *ud, virErrorPtr e)
{
	(void)ud;
	(void)e;
}

static int lv_qmp(struct hva *h, const char *cmd, char **reply)
{
	struct lv *lv = h->be;

	*reply = NULL;
	if (virDomainQemuMonitorCommand(lv->dom, cmd, reply, 0) < 0)
		return hv_err(HV_E_IO, "libvirt could not pass a monitor command to %s: %s",
			      h->label, lv_errmsg());
	return 0;
}

static int lv_running(struct hva *h, bool *running)
{
	struct lv *lv = h->be;
	int state = 0, reason = 0;

	if (virDomainGetState(lv->dom, &state, &reason, 0) < 0)
		return hv_err(HV_E_IO, "cannot read the state of %s: %s", h->label, lv_errmsg());
	*running = state == VIR_DOMAIN_RUNNING;
	return 0;
}

static int lv_pause(struct hva *h)
{
	struct lv *lv = h->be;

	if (virDomainSuspend(lv->dom) < 0)
		return hv_err(HV_E_IO, "cannot pause %s: %s", h->label, lv_errmsg());
	return 0;
}

static int lv_resume(struct hva *h)
{
	struct lv *lv = h->be;

	if (virDomainResume(lv->dom) < 0)
		return hv_err(HV_E_IO, "cannot resume %s: %s", h->label, lv_errmsg());
	return 0;
}

static char *xpath_str(xmlXPathContextPtr ctx, const char *expr)
{
	xmlXPathObjectPtr o = xmlXPathEvalExpression((const xmlChar *)expr, ctx);
	char *s = NULL;

	if (o && o->type == XPATH_STRING && o->stringval && o->stringval[0])
		s = strdup((const char *)o->stringval);
	xmlXPathFreeObject(o);
	return s;
}

/* Read what hvpatch needs from the live domain XML. */
static int lv_parse_xml(struct hva *h, struct hva_info *info)
{
	struct lv *lv = h->be;
	char *xml = NULL, *s = NULL;
	xmlDocPtr doc = NULL;
	xmlXPathContextPtr ctx = NULL;
	xmlXPathObjectPtr shm = NULL;
	int r = 0, i, n;

	xml = virDomainGetXMLDesc(lv->dom, 0);
	if (!xml) {
		r = hv_err(HV_E_IO, "cannot read the definition of %s: %s", h->label, lv_errmsg());
		goto out;
	}
	doc = xmlReadMemory(xml, (int)strlen(xml), "domain.xml", NULL,
			    XML_PARSE_NONET | XML_PARSE_NOERROR | XML_PARSE_NOWARNING);
	ctx = doc ? xmlXPathNewContext(doc) : NULL;
	if (!ctx) {
		r = hv_err(HV_E_FORMAT, "libvirt returned an unreadable definition of %s",
			   h->label);
		goto out;
	}
	s = xpath_str(ctx, "string(/domain/memoryBacking/source/@type)");
	lv->memfd_shared = s && !strcmp(s, "memfd");
	free(s);
	s = xpath_str(ctx, "string(/domain/memoryBacking/access/@mode)");
	lv->memfd_shared = lv->memfd_shared && s && !strcmp(s, "shared");
	free(s);
	s = xpath_str(ctx, "string(/domain/devices/channel[target/@name='" HV_WIRE_CHANNEL
			   "']/source/@path)");
	if (s)
		snprintf(info->agent_socket, sizeof(info->agent_socket), "%s", s);
	free(s);
	s = NULL;

	/* An old-style patch area (<shmem name='hvpatch-*'>, a /dev/shm file
	 * the guest can write and any domain of that name shares) is never
	 * used: the area is the read-only device QEMU reports (qemu.c). */
	shm = xmlXPathEvalExpression((const xmlChar *)"/domain/devices/shmem", ctx);
	n = shm && shm->nodesetval ? shm->nodesetval->nodeNr : 0;
	for (i = 0; i < n; i++) {
		xmlChar *name = xmlGetProp(shm->nodesetval->nodeTab[i], (const xmlChar *)"name");

		if (name && !strncmp((const char *)name, HVA_LEGACY_SHM_PREFIX,
				     strlen(HVA_LEGACY_SHM_PREFIX)))
			snprintf(h->area_legacy, sizeof(h->area_legacy), "%s", (const char *)name);
		xmlFree(name);
	}
out:
	xmlXPathFreeObject(shm);
	xmlXPathFreeContext(ctx);
	xmlFreeDoc(doc);
	free(xml);
	return r;
}

/*
 * The pause guard's side of this backend (guard.h): in the guard process,
 * its own libvirt connection, through which it pauses and resumes the
 * domain itself, so it knows whether a pause happened even when hvpatch
 * dies in the middle of asking for it.
 */
struct lv_guard {
	char uri[256];
	char uuid[VIR_UUID_STRING_BUFLEN];
	virConnectPtr conn;
	virDomainPtr dom;
};

static int lvg_init(void *arg)
{
	struct lv_guard *g = arg;

	g->conn = virConnectOpen(g->uri);
	if (!g->conn)
		return hv_err(HV_E_IO, "the pause guard cannot connect to libvirt at %s: %s",
			      g->uri, lv_errmsg());
	g->dom = virDomainLookupByUUIDString(g->conn, g->uuid);
	if (!g->dom)
		return hv_err(HV_E_NOTFOUND, "the pause guard cannot find domain %s: %s", g->uuid,
			      lv_errmsg());
	return 0;
}

static int lvg_state(struct lv_guard *g, int *state)
{
	int reason = 0;

	if (virDomainGetState(g->dom, state, &reason, 0) < 0)
		return hv_err(HV_E_IO, "cannot read the state of domain %s: %s", g->uuid,
			      lv_errmsg());
	return 0;
}

static int lvg_pause(void *arg, bool *was_running)
{
	struct lv_guard *g = arg;
	int state = 0, r;

	*was_running = false;
	r = lvg_state(g, &state);
	if (r < 0 || state != VIR_DOMAIN_RUNNING)
		return r;
	*was_running = true;
	if (virDomainSuspend(g->dom) < 0)
		return hv_err(HV_E_IO, "cannot pause domain %s: %s", g->uuid, lv_errmsg());
	return 0;
}

static int lvg_resume(void *arg)
{
	struct lv_guard *g = arg;
	int state = 0, r;

	r = lvg_state(g, &state);
	if (r < 0 || state != VIR_DOMAIN_PAUSED)
		return r;
	if (virDomainResume(g->dom) < 0)
		return hv_err(HV_E_IO, "cannot resume domain %s: %s", g->uuid, lv_errmsg());
	return 0;
}

static int lvg_paused(void *arg, bool *paused)
{
	struct lv_guard *g = arg;
	int state = 0, r;

	r = lvg_state(g, &state);
	*paused = r == 0 && state == VIR_DOMAIN_PAUSED;
	return r;
}

static void lvg_fini(void *arg)
{
	struct lv_guard *g = arg;

	if (g->dom)
		virDomainFree(g->dom);
	if (g->conn)
		virConnectClose(g->conn);
}

static int lvg_gdbstub_off(void *arg)
{
	struct lv_guard *g = arg;
	char *reply = NULL;

	if (virDomainQemuMonitorCommand(g->dom, "gdbserver none", &reply,
					VIR_DOMAIN_QEMU_MONITOR_COMMAND_HMP) < 0)
		return hv_err(HV_E_IO,
			      "the pause guard could not stop the gdbstub of domain %s: %s",
			      g->uuid, lv_errmsg());
	free(reply);
	return 0;
}

static const struct hva_guard_backend lv_guard_backend = {
	.name = "libvirt",
	.init = lvg_init,
	.pause = lvg_pause,
	.resume = lvg_resume,
	.paused = lvg_paused,
	.gdbstub_off = lvg_gdbstub_off,
	.fini = lvg_fini,
};

static int read_pid(const char *name, pid_t *pid)
{
	char path[512];
	FILE *f;
	long v = 0;

	*pid = 0;
	snprintf(path, sizeof(path), "/run/libvirt/qemu/%s.pid", name);
	f = fopen(path, "r");
	if (!f)
		return hv_err(errno == EACCES ? HV_E_PERM : HV_E_NOTFOUND,
			      "cannot read the QEMU process id of %s from %s: %s; hvpatch needs "
			      "root on the host and the system libvirt instance",
			      name, path, strerror(errno));
	if (fscanf(f, "%ld", &v) != 1 || v <= 0) {
		fclose(f);
		return hv_err(HV_E_FORMAT, "%s does not hold a process id", path);
	}
	fclose(f);
	*pid = (pid_t)v;
	return 0;
}

static int lv_describe(struct hva *h, struct hva_info *info)
{
	struct lv *lv = h->be;
	unsigned char uuid[VIR_UUID_BUFLEN];
	const char *name;
	int r;

	memset(info, 0, sizeof(*info));
	name = virDomainGetName(lv->dom);
	snprintf(info->name, sizeof(info->name), "%s", name ? name : h->label);
	if (virDomainGetUUIDString(lv->dom, info->uuid) < 0)
		info->uuid[0] = '\0';
	(void)uuid;
	r = lv_parse_xml(h, info);
	if (r < 0)
		return r;
	r = hva_qemu_probe(h, info);
	if (r < 0)
		return r;
	if (!info->has_area && h->area_legacy[0])
		/* Say why there is none: describe prints it, apply/status refuse. */
		snprintf(info->area_shm, sizeof(info->area_shm),
			 "old-style <shmem name='%.60s'>, not used: run 'hvpatch enroll %.60s' and "
			 "restart the domain",
			 h->area_legacy, info->name);
	if (read_pid(info->name, &h->qemu_pid) < 0) {
		if (lv->memfd_shared)
			return hv_err_prefix("mapping guest RAM");
		hv_err_clear();
	}
	info->qemu_pid = (int)h->qemu_pid;
	return 0;
}

static void lv_close(struct hva *h)
{
	struct lv *lv = h->be;

	hva_qemu_gdb_stop(h);
	if (lv) {
		if (lv->dom)
			virDomainFree(lv->dom);
		if (lv->conn)
			virConnectClose(lv->conn);
		free(lv->guard_arg);
		free(lv);
	}
	hva_session_free(h);
}

static const struct hva_ops lv_ops = {
	.name = "libvirt",
	.describe = lv_describe,
	.running = lv_running,
	.pause = lv_pause,
	.resume = lv_resume,
	.read_regs = hva_qemu_read_regs,
	.prepare_pause = hva_qemu_prepare_pause,
	.read_phys = hva_qemu_read_phys,
	.write_phys = hva_qemu_write_phys,
	.hmp = hva_qemu_hmp_op,
	.close = lv_close,
};

int hva_libvirt_open(const char *domain, const struct hva_open_opts *opts, struct hva **out)
{
	const char *uri = opts && opts->uri ? opts->uri : "qemu:///system";
	struct hva *h = NULL;
	struct lv *lv = NULL;
	virErrorPtr e;
	int state = 0, reason = 0, r;

	*out = NULL;
	virSetErrorFunc(NULL, lv_silence);
	h = hva_session_new(&lv_ops, opts, domain);
	lv = calloc(1, sizeof(*lv));
	if (!h || !lv) {
		free(lv);
		hva_session_free(h);
		return hv_err(HV_E_NOMEM, "out of memory opening %s", domain);
	}
	h->be = lv;
	h->qmp = lv_qmp;
	lv->conn = virConnectOpen(uri);
	if (!lv->conn) {
		e = virGetLastError();
		r = hv_err(e && e->code == VIR_ERR_AUTH_FAILED ? HV_E_PERM : HV_E_IO,
			   "cannot connect to libvirt at %s: %s", uri, lv_errmsg());
		goto out;
	}
	lv->dom = virDomainLookupByName(lv->conn, domain);
	if (!lv->dom)
		lv->dom = virDomainLookupByUUIDString(lv->conn, domain);
	if (!lv->dom) {
		r = hv_err(HV_E_NOTFOUND,
			   "libvirt at %s has no domain named '%s' (by name or UUID)", uri, domain);
		goto out;
	}
	if (virDomainGetState(lv->dom, &state, &reason, 0) < 0) {
		r = hv_err(HV_E_IO, "cannot read the state of %s: %s", domain, lv_errmsg());
		goto out;
	}
	if (state != VIR_DOMAIN_RUNNING && state != VIR_DOMAIN_PAUSED) {
		r = hv_err(HV_E_STATE, "%s is not running (libvirt state %d); start it first",
			   domain, state);
		goto out;
	}
	r = hva_describe(h, &h->info);
	if (r < 0)
		goto out;
	r = hva_qemu_map_memory(h);
	if (r < 0)
		goto out;
	if (!h->info.uuid[0]) {
		r = hv_err(HV_E_PROTO, "libvirt gave no UUID for %s, which its pause guard needs",
			   domain);
		goto out;
	}
	lv->guard_arg = calloc(1, sizeof(*lv->guard_arg));
	if (!lv->guard_arg) {
		r = hv_err(HV_E_NOMEM, "out of memory opening %s", domain);
		goto out;
	}
	snprintf(lv->guard_arg->uri, sizeof(lv->guard_arg->uri), "%s", uri);
	snprintf(lv->guard_arg->uuid, sizeof(lv->guard_arg->uuid), "%s", h->info.uuid);
	snprintf(h->pause_key, sizeof(h->pause_key), "%s", h->info.uuid);
	r = hva_guard_start(&lv_guard_backend, lv->guard_arg, -1, h->pause_key, h->pause_dir,
			    &h->guard);
	if (r < 0)
		goto out;
	r = hva_check_found_state(h);
	if (r < 0)
		goto out;
	*out = h;
	h = NULL;
out:
	if (h)
		lv_close(h);
	return r;
}
