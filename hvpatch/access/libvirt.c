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

#include "hva_impl.h"

#define HVA_AGENT_CHANNEL "org.hvpatch.agent.0"
#define HVA_SHM_PREFIX	  "hvpatch-"

struct lv {
	virConnectPtr conn;
	virDomainPtr dom;
	char shm_alias[64];
	bool memfd_shared;
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
	int r = 0, i, n, nplain = 0;

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
	s = xpath_str(ctx, "string(/domain/devices/channel[target/@name='" HVA_AGENT_CHANNEL
			   "']/source/@path)");
	if (s)
		snprintf(info->agent_socket, sizeof(info->agent_socket), "%s", s);
	free(s);
	s = NULL;

	/* The patch area: the shmem named hvpatch-*, else the only ivshmem-plain. */
	shm = xmlXPathEvalExpression(
		(const xmlChar *)"/domain/devices/shmem[model/@type='ivshmem-plain']", ctx);
	n = shm && shm->nodesetval ? shm->nodesetval->nodeNr : 0;
	for (i = 0; i < n; i++) {
		xmlNodePtr node = shm->nodesetval->nodeTab[i];
		xmlChar *name = xmlGetProp(node, (const xmlChar *)"name");
		bool ours = name &&
			    !strncmp((const char *)name, HVA_SHM_PREFIX, strlen(HVA_SHM_PREFIX));

		nplain++;
		if (ours || n == 1) {
			xmlXPathContextPtr c2 = xmlXPathNewContext(doc);
			char *alias, *size, *unit;

			if (!c2) {
				xmlFree(name);
				r = hv_err(HV_E_NOMEM, "out of memory reading domain XML");
				goto out;
			}
			c2->node = node;
			alias = xpath_str(c2, "string(alias/@name)");
			size = xpath_str(c2, "string(size)");
			unit = xpath_str(c2, "string(size/@unit)");
			snprintf(info->area_shm, sizeof(info->area_shm), "%s",
				 name ? (const char *)name : "");
			snprintf(lv->shm_alias, sizeof(lv->shm_alias), "%s", alias ? alias : "");
			if (size) {
				uint64_t v = strtoull(size, NULL, 10);
				uint64_t mul = 1;

				if (!unit || !strcmp(unit, "M") || !strcmp(unit, "MiB"))
					mul = 1ull << 20;
				else if (!strcmp(unit, "G") || !strcmp(unit, "GiB"))
					mul = 1ull << 30;
				else if (!strcmp(unit, "K") || !strcmp(unit, "KiB"))
					mul = 1ull << 10;
				info->area_size = v * mul;
			}
			info->has_area = true;
			free(alias);
			free(size);
			free(unit);
			xmlXPathFreeContext(c2);
		}
		xmlFree(name);
		if (ours)
			break;
	}
	(void)nplain;
out:
	xmlXPathFreeObject(shm);
	xmlXPathFreeContext(ctx);
	xmlFreeDoc(doc);
	free(xml);
	return r;
}

/*
 * The pause guard: a child process, started while hvpatch is still
 * single-threaded, that outlives a crash.  The session tells it 'P' when it
 * pauses the guest and 'R' when it resumes it.  If the pipe closes (hvpatch
 * died, even by SIGKILL) or a pause outlasts the deadline plus a grace
 * period (hvpatch hangs or was stopped), the guard resumes the guest through
 * its own libvirt connection.
 */
static void guard_resume(const char *uri, const char *uuid)
{
	virConnectPtr c = virConnectOpen(uri);
	virDomainPtr d = c ? virDomainLookupByUUIDString(c, uuid) : NULL;
	int state = 0, reason = 0;

	if (d && virDomainGetState(d, &state, &reason, 0) == 0 && state == VIR_DOMAIN_PAUSED)
		(void)virDomainResume(d);
	if (d)
		virDomainFree(d);
	if (c)
		virConnectClose(c);
}

static void guard_main(int fd, const char *uri, const char *uuid, unsigned deadline_ms)
{
	int paused = 0;
	struct timespec t0 = { 0, 0 }, now;

	for (;;) {
		struct pollfd pfd = { .fd = fd, .events = POLLIN };
		int timeout = -1, pr;
		char c;

		if (paused) {
			long el;

			clock_gettime(CLOCK_MONOTONIC, &now);
			el = (now.tv_sec - t0.tv_sec) * 1000 + (now.tv_nsec - t0.tv_nsec) / 1000000;
			timeout = (int)(deadline_ms + 500) - (int)el;
			if (timeout <= 0) {
				guard_resume(uri, uuid);
				paused = 0;
				continue;
			}
		}
		pr = poll(&pfd, 1, timeout);
		if (pr < 0 && errno == EINTR)
			continue;
		if (pr == 0)
			continue;
		if (pr < 0 || read(fd, &c, 1) != 1) {
			if (paused)
				guard_resume(uri, uuid);
			_exit(0);
		}
		if (c == 'P') {
			paused = 1;
			clock_gettime(CLOCK_MONOTONIC, &t0);
		} else if (c == 'R') {
			paused = 0;
		} else if (c == 'Q') {
			_exit(0);
		}
	}
}

static int guard_start(struct hva *h, const char *uri, const char *uuid)
{
	int fds[2];
	pid_t pid;

	if (pipe2(fds, O_CLOEXEC) < 0)
		return hv_err(HV_E_IO, "cannot create the pause guard's pipe: %s", strerror(errno));
	pid = fork();
	if (pid < 0) {
		close(fds[0]);
		close(fds[1]);
		return hv_err(HV_E_IO, "cannot start the pause guard: %s", strerror(errno));
	}
	if (pid == 0) {
		int fd, maxfd = (int)sysconf(_SC_OPEN_MAX);

		/* Its own session, so a signal to hvpatch's process group spares it. */
		(void)setsid();
		signal(SIGINT, SIG_IGN);
		signal(SIGHUP, SIG_IGN);
		for (fd = 3; fd < maxfd && fd < 4096; fd++)
			if (fd != fds[0])
				close(fd);
		guard_main(fds[0], uri, uuid, h->deadline_ms);
		_exit(0);
	}
	close(fds[0]);
	h->guard_fd = fds[1];
	h->guard_pid = pid;
	return 0;
}

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
	r = hva_qemu_probe(h, info, lv->shm_alias[0] ? lv->shm_alias : NULL);
	if (r < 0)
		return r;
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
	if (h->info.uuid[0]) {
		r = guard_start(h, uri, h->info.uuid);
		if (r < 0)
			goto out;
	}
	*out = h;
	h = NULL;
out:
	if (h)
		lv_close(h);
	return r;
}
