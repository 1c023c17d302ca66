#include "config.h"

/* hvpatch enroll: prepare a libvirt domain's definition for hvpatch. */
#include <errno.h>
#include <getopt.h>
#include <grp.h>
#include <jansson.h>
#include <libvirt/libvirt.h>
#include <libvirt/virterror.h>
#include <libxml/parser.h>
#include <libxml/xpath.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "area.h"
#include "cli.h"
#include "enroll.h"
#include "enroll_cli.h"

static const char enroll_help[] =
	"Usage: hvpatch enroll [OPTIONS] DOMAIN\n"
	"       hvpatch enroll [OPTIONS] --xml-file FILE\n"
	"       hvpatch enroll [OPTIONS] --qemu-args UUID\n"
	"\n"
	"Prepare a libvirt domain so hvpatch can patch its kernel.  Its persistent\n"
	"definition gets:\n"
	"  - guest RAM in a shared memfd (<memoryBacking> source memfd, access shared),\n"
	"    so the host can read guest memory quickly;\n"
	"  - a patch area, hidden memory that holds replacement code: an ivshmem-plain\n"
	"    device (id " HVE_AREA_DEV_ID ") on a READ-ONLY memory backend (id " HVE_AREA_MEM_ID
	")\n"
	"    whose file is the domain's own " HVE_AREA_DIR "/<UUID>.  The guest\n"
	"    cannot write it; hvpatch writes it through its own mapping.  libvirt has\n"
	"    no read-only <shmem>, so both are <qemu:commandline> arguments, and\n"
	"    libvirt marks the domain tainted \"custom-argv\";\n"
	"  - the virtio-serial channel " HVE_AGENT_CHANNEL " for hvpatch-agent.\n"
	"enroll creates the area file (zero-filled, root:<QEMU's group>, 0640).  What\n"
	"is already there is kept; enrolling twice changes nothing.  An old-style\n"
	"patch area (<shmem name='hvpatch-...'>, shared through /dev/shm) is replaced,\n"
	"and so is an area that points at another domain's file (a cloned domain).\n"
	"enroll refuses to give a domain an area file another domain already uses.\n"
	"\n"
	"The new definition takes effect at the domain's next boot (a full shutdown\n"
	"and start, not a reboot from inside the guest).  With --live, the agent\n"
	"channel is also hot-plugged into the running domain; the patch area and the\n"
	"memory backing are not (libvirt cannot hot-plug a read-only backend it does\n"
	"not manage): they arrive with the next start, and the output says so.\n"
	"\n"
	"--xml-file FILE enrolls a domain XML file instead of a defined domain (for\n"
	"'virsh create' of transient domains): FILE is rewritten in place and the area\n"
	"file of its <uuid> is created.  --qemu-args UUID is for QEMU run without\n"
	"libvirt: it creates the area file of UUID and prints the QEMU arguments of\n"
	"the patch area, one per line (start QEMU with -uuid UUID too).\n"
	"\n"
	"Examples:\n"
	"  hvpatch enroll web-01\n"
	"  hvpatch enroll --area-size 8 --live web-01\n"
	"  hvpatch enroll --xml-file /tmp/guest.xml && virsh create /tmp/guest.xml\n"
	"\n"
	"Options:\n"
	"      --area-size MIB    patch-area size in MiB, a power of two from 4 to 1024\n"
	"                         (default 4; an enrolled domain keeps its size)\n"
	"      --live             also hot-plug the agent channel into the running domain\n"
	"      --dry-run          print the new definition, change nothing\n"
	"      --xml-file FILE    enroll the domain XML in FILE (rewritten in place)\n"
	"      --qemu-args UUID   create UUID's area file, print QEMU's arguments\n"
	"      --qemu-group NAME  the group QEMU runs as (default: from libvirt's DAC\n"
	"                         security model; root for --qemu-args)\n";

static const char enroll_exit_help[] =
	"\n"
	"Options may come before or after the operand.  The guest is never paused.\n"
	"Exit status: 0 enrolled (or already enrolled), 1 failed, 2 bad usage.\n";

enum {
	O_AREA = CLI_OPT_OWN,
	O_LIVE,
	O_DRY,
	O_XMLFILE,
	O_QEMUARGS,
	O_QGROUP
};

struct eopts {
	struct hve_opts eo;
	int live, dry;
	const char *xml_file;
	const char *qemu_args;
	const char *qemu_group;
};

static int take(void *ctx, int o, const char *arg)
{
	struct eopts *e = ctx;
	uint64_t v;

	switch (o) {
	case O_AREA:
		if (cli_parse_u64(arg, "--area-size", &v) < 0 || v > 1024)
			return hv_err(
				HV_E_INVAL,
				"--area-size '%s' must be a number of MiB (a power of two from 4 "
				"to 1024)",
				arg);
		e->eo.area_mib = (uint32_t)v;
		return 0;
	case O_LIVE:
		e->live = 1;
		return 0;
	case O_DRY:
		e->dry = 1;
		return 0;
	case O_XMLFILE:
		e->xml_file = arg;
		return 0;
	case O_QEMUARGS:
		e->qemu_args = arg;
		return 0;
	case O_QGROUP:
		e->qemu_group = arg;
		return 0;
	default:
		return hv_err(HV_E_INVAL, "unknown option");
	}
}

static int virt_fail(const char *what, const char *dom)
{
	const char *m = virGetLastErrorMessage();

	return hv_err(HV_E_IO, "%s for domain '%s' failed: %s", what, dom,
		      m ? m : "unknown libvirt error");
}

static void quiet_libvirt(void *opaque, virErrorPtr err)
{
	(void)opaque;
	(void)err;
}

static int group_id(const char *name, gid_t *gid)
{
	struct group *gr = getgrnam(name);
	char *e;
	unsigned long v;

	if (gr) {
		*gid = gr->gr_gid;
		return 0;
	}
	v = strtoul(name, &e, 10);
	if (*name && !*e) {
		*gid = (gid_t)v;
		return 0;
	}
	return hv_err(HV_E_NOTFOUND, "--qemu-group '%s' is neither a group name nor a number",
		      name);
}

/*
 * The group QEMU runs as, from libvirt's DAC security model
 * (<baselabel type='kvm'>+UID:+GID</baselabel>); root when libvirt runs
 * QEMU without one.
 */
static int qemu_gid(virConnectPtr conn, const char *dom_type, gid_t *gid)
{
	char *caps = virConnectGetCapabilities(conn);
	xmlDocPtr doc = NULL;
	xmlXPathContextPtr ctx = NULL;
	xmlXPathObjectPtr o = NULL;
	char expr[160];
	const char *types[3] = { dom_type, "kvm", "qemu" };
	unsigned long u, g;
	int r = 0, i;

	*gid = 0;
	if (!caps) {
		r = hv_err(HV_E_IO, "cannot read libvirt's capabilities to learn QEMU's group: %s",
			   virGetLastErrorMessage());
		goto out;
	}
	doc = xmlReadMemory(caps, (int)strlen(caps), "caps.xml", NULL,
			    XML_PARSE_NONET | XML_PARSE_NOERROR | XML_PARSE_NOWARNING);
	ctx = doc ? xmlXPathNewContext(doc) : NULL;
	if (!ctx) {
		r = hv_err(HV_E_FORMAT, "libvirt's capabilities are not XML");
		goto out;
	}
	for (i = 0; i < 3; i++) {
		if (!types[i])
			continue;
		snprintf(expr, sizeof(expr),
			 "string(/capabilities/host/secmodel[model='dac']/baselabel[@type='%s'])",
			 types[i]);
		xmlXPathFreeObject(o);
		o = xmlXPathEvalExpression(BAD_CAST expr, ctx);
		if (o && o->type == XPATH_STRING && o->stringval && o->stringval[0] &&
		    sscanf((const char *)o->stringval, "+%lu:+%lu", &u, &g) == 2) {
			*gid = (gid_t)g;
			goto out;
		}
	}
out:
	xmlXPathFreeObject(o);
	xmlXPathFreeContext(ctx);
	xmlFreeDoc(doc);
	free(caps);
	return r;
}

static char *dom_type_of(const char *xml)
{
	const char *p = strstr(xml, "<domain");
	char q, *s = NULL;
	const char *t;

	if (!p)
		return NULL;
	t = strstr(p, "type=");
	if (!t || t > strchr(p, '>'))
		return NULL;
	q = t[5];
	if (q != '\'' && q != '"')
		return NULL;
	t += 6;
	if (strchr(t, q))
		s = strndup(t, (size_t)(strchr(t, q) - t));
	return s;
}

/*
 * Refuse when a domain other than the one with UUID @uuid names @path as its
 * patch area (in its live or persistent definition).
 */
static int check_area_unshared(virConnectPtr conn, const char *uuid, const char *name,
			       const char *path)
{
	virDomainPtr *doms = NULL;
	int n, i, r = 0;

	n = virConnectListAllDomains(conn, &doms, 0);
	if (n < 0)
		return hv_err(HV_E_IO,
			      "cannot list libvirt's domains to check that no other uses %s: %s",
			      path, virGetLastErrorMessage());
	for (i = 0; i < n && r == 0; i++) {
		char u[VIR_UUID_STRING_BUFLEN], other[256];
		unsigned flags[2] = { 0, VIR_DOMAIN_XML_INACTIVE };
		int k;

		if (virDomainGetUUIDString(doms[i], u) < 0 || !strcasecmp(u, uuid))
			continue;
		for (k = 0; k < 2 && r == 0; k++) {
			char *xml;

			if (k == 0 && virDomainIsActive(doms[i]) != 1)
				continue;
			if (k == 1 && virDomainIsPersistent(doms[i]) != 1)
				continue;
			xml = virDomainGetXMLDesc(doms[i], flags[k]);
			if (xml && hve_xml_area_path(xml, other, sizeof(other)) == 1 &&
			    !strcmp(other, path))
				r = hv_err(
					HV_E_STATE,
					"the patch area %s of domain '%s' (UUID %s) is already "
					"used "
					"by domain '%s' (UUID %s, %s definition); an area belongs "
					"to one domain: run 'hvpatch enroll %s' to give that "
					"domain "
					"its own area and restart it, then enroll '%s' again",
					path, name, uuid, virDomainGetName(doms[i]), u,
					k ? "persistent" : "running", virDomainGetName(doms[i]),
					name);
			if (r == 0)
				hv_err_clear();
			free(xml);
		}
	}
	for (i = 0; i < n; i++)
		virDomainFree(doms[i]);
	free(doms);
	return r;
}

static int write_file(const char *path, const char *text)
{
	char tmp[4096];
	struct stat st;
	FILE *f;
	int r = 0;

	if ((size_t)snprintf(tmp, sizeof(tmp), "%s.hvpatch-tmp", path) >= sizeof(tmp))
		return hv_err(HV_E_RANGE, "the path %s is too long", path);
	f = fopen(tmp, "we");
	if (!f)
		return hv_err(HV_E_IO, "cannot write %s: %s", tmp, strerror(errno));
	if (fputs(text, f) < 0)
		r = hv_err(HV_E_IO, "cannot write %s: %s", tmp, strerror(errno));
	if (fclose(f) != 0 && r == 0)
		r = hv_err(HV_E_IO, "cannot write %s: %s", tmp, strerror(errno));
	if (r == 0 && stat(path, &st) == 0)
		(void)chmod(tmp, st.st_mode & 0777);
	if (r == 0 && rename(tmp, path) < 0)
		r = hv_err(HV_E_IO, "cannot replace %s: %s", path, strerror(errno));
	if (r < 0)
		unlink(tmp);
	return r;
}

static char *read_file(const char *path)
{
	FILE *f = fopen(path, "re");
	char *buf = NULL;
	size_t n = 0, cap = 0;

	if (!f) {
		hv_err(HV_E_IO, "cannot read the domain XML file %s: %s", path, strerror(errno));
		return NULL;
	}
	for (;;) {
		size_t got;

		if (cap - n < 4096) {
			char *nb;

			if (cap >= (16u << 20)) {
				hv_err(HV_E_RANGE, "the domain XML file %s is larger than 16 MiB",
				       path);
				free(buf);
				buf = NULL;
				break;
			}
			nb = realloc(buf, cap + 65536);
			if (!nb) {
				hv_err(HV_E_NOMEM, "out of memory reading %s", path);
				free(buf);
				buf = NULL;
				break;
			}
			buf = nb;
			cap += 65536;
		}
		got = fread(buf + n, 1, cap - n - 1, f);
		n += got;
		if (got == 0) {
			buf[n] = '\0';
			break;
		}
	}
	fclose(f);
	return buf;
}

/* hvpatch enroll --qemu-args UUID */
static int enroll_qemu_args(const struct eopts *e, int json)
{
	char path[256], obj[512], dev[256];
	uint32_t mib = e->eo.area_mib ? e->eo.area_mib : HVE_AREA_MIB_DEFAULT;
	gid_t gid = 0;
	int created = 0, r;

	if (mib < 4 || mib > 1024 || (mib & (mib - 1)))
		return hv_err(HV_E_INVAL,
			      "patch-area size %u MiB is not a power of two between 4 and 1024",
			      mib);
	if (e->qemu_group && group_id(e->qemu_group, &gid) < 0)
		return hv_err_last()->code;
	r = hve_area_path(e->qemu_args, path, sizeof(path));
	if (r < 0)
		return r;
	r = hve_area_args(path, mib, NULL, obj, sizeof(obj), dev, sizeof(dev));
	if (r < 0)
		return r;
	if (!e->dry) {
		r = hve_area_create(e->qemu_args, (uint64_t)mib << 20, gid, path, sizeof(path),
				    &created);
		if (r < 0)
			return r;
	}
	if (json) {
		json_t *o = json_pack("{s:s,s:i,s:b,s:[ssss]}", "patch_area_path", path,
				      "patch_area_mib", (int)mib, "created", created, "qemu_args",
				      "-object", obj, "-device", dev);
		char *s = o ? json_dumps(o, JSON_COMPACT) : NULL;

		if (!s) {
			json_decref(o);
			return hv_err(HV_E_NOMEM, "out of memory for the JSON output");
		}
		puts(s);
		free(s);
		json_decref(o);
	} else {
		printf("-object\n%s\n-device\n%s\n", obj, dev);
	}
	return 0;
}

static void print_changes(const char *name, const struct hve_changes *ch, int active, int live,
			  int hot_channel, const char *channel_live_error)
{
	if (!ch->memfd_added && !ch->area_added && !ch->channel_added && !ch->legacy_removed) {
		printf("Domain '%s' is already enrolled (patch area %s, %u MiB, read-only to the "
		       "guest).\n",
		       name, ch->area_path, ch->area_mib);
		return;
	}
	printf("Domain '%s' enrolled:\n", name);
	if (ch->memfd_added)
		printf("  guest RAM: shared memfd\n");
	if (ch->legacy_removed)
		printf("  replaced the old patch area <shmem name='%s'> (shared through /dev/shm "
		       "and writable by the guest)\n",
		       ch->legacy_name);
	if (ch->area_moved)
		printf("  the patch area pointed at %s, which is not this domain's own file\n",
		       ch->old_area_path);
	if (ch->area_added)
		printf("  patch area: %s, %u MiB, read-only to the guest (device %s)\n",
		       ch->area_path, ch->area_mib, HVE_AREA_DEV_ID);
	if (ch->channel_added)
		printf("  agent channel: %s%s\n", HVE_AGENT_CHANNEL,
		       hot_channel ? " (hot-plugged now)" : "");
	if (live && active && ch->channel_added && !hot_channel)
		printf("  the agent channel could not be hot-plugged (%s); it arrives with the "
		       "next boot\n",
		       channel_live_error);
	if (live && active && (ch->area_added || ch->legacy_removed))
		printf("  the patch area is not hot-plugged: libvirt cannot hot-plug a read-only "
		       "memory backend it does not manage; it arrives with the next start\n");
	if (active)
		printf("The domain is running: the new definition takes effect when it is shut "
		       "down and started again%s.\n",
		       ch->memfd_added ? " (shared memfd RAM cannot be added to a running QEMU)"
				       : "");
	else
		printf("It takes effect when the domain next starts.\n");
}

int cmd_enroll(int argc, char **argv)
{
	static const struct option own[] = {
		{ "area-size", required_argument, NULL, O_AREA },
		{ "live", no_argument, NULL, O_LIVE },
		{ "dry-run", no_argument, NULL, O_DRY },
		{ "xml-file", required_argument, NULL, O_XMLFILE },
		{ "qemu-args", required_argument, NULL, O_QEMUARGS },
		{ "qemu-group", required_argument, NULL, O_QGROUP },
		{ NULL, 0, NULL, 0 },
	};
	struct eopts e = { { 0 }, 0, 0, NULL, NULL, NULL };
	struct cli_spec spec = { .cmd = "enroll",
				 .help = enroll_help,
				 .own = own,
				 .take = take,
				 .ctx = &e,
				 .guest = CLI_G_CONNECT | CLI_G_JSON,
				 .extra_help = enroll_exit_help };
	struct cli_guest g;
	const char *uri;
	struct hve_changes ch;
	virConnectPtr conn = NULL;
	virDomainPtr dom = NULL;
	char *xml = NULL, *newxml = NULL, *dev = NULL, *dtype = NULL;
	int live, dry, json, i, rc = HV_EXIT_FAIL, active = 0, hot_channel = 0, created = 0;
	const char *name;
	char channel_live_error[512] = "", path[256];
	gid_t gid = 0;

	i = cli_parse(&spec, argc, argv, &g, &rc);
	if (i < 0)
		return rc;
	rc = HV_EXIT_FAIL;
	uri = g.uri ? g.uri : "qemu:///system";
	live = e.live;
	dry = e.dry;
	json = g.json;
	if ((e.xml_file || e.qemu_args) && i != argc)
		return cli_usage_error("enroll", "--xml-file and --qemu-args take no DOMAIN");
	if (e.xml_file && e.qemu_args)
		return cli_usage_error("enroll", "--xml-file and --qemu-args exclude each other");
	if (!e.xml_file && !e.qemu_args && i + 1 != argc)
		return cli_usage_error("enroll", "expected one DOMAIN (name or UUID)");
	if (e.qemu_args) {
		if (enroll_qemu_args(&e, json) < 0)
			goto out;
		rc = HV_EXIT_OK;
		goto out;
	}
	name = e.xml_file ? e.xml_file : argv[i];
	virSetErrorFunc(NULL, quiet_libvirt);
	if (e.qemu_group && group_id(e.qemu_group, &gid) < 0)
		goto out;

	conn = virConnectOpen(uri);
	if (!conn) {
		hv_err(HV_E_IO, "cannot connect to libvirt at %s: %s (is libvirtd running?)", uri,
		       virGetLastErrorMessage());
		goto out;
	}
	if (e.xml_file) {
		xml = read_file(e.xml_file);
		if (!xml)
			goto out;
	} else {
		dom = virDomainLookupByName(conn, name);
		if (!dom)
			dom = virDomainLookupByUUIDString(conn, name);
		if (!dom) {
			hv_err(HV_E_NOTFOUND, "no domain named '%s' (nor with that UUID) at %s",
			       name, uri);
			goto out;
		}
		name = virDomainGetName(dom);
		if (!virDomainIsPersistent(dom)) {
			hv_err(HV_E_STATE,
			       "domain '%s' is transient: enrollment changes the persistent "
			       "definition; define the domain first (virsh define), or enroll its "
			       "XML with 'hvpatch enroll --xml-file FILE' before 'virsh create'",
			       name);
			goto out;
		}
		active = virDomainIsActive(dom) == 1;
		xml = virDomainGetXMLDesc(dom, VIR_DOMAIN_XML_INACTIVE | VIR_DOMAIN_XML_SECURE);
		if (!xml) {
			virt_fail("reading the definition", name);
			goto out;
		}
	}
	if (hve_xml_enroll(xml, &e.eo, &newxml, &ch) < 0) {
		hv_err_prefix("enrolling domain '%s'", name);
		goto out;
	}
	if (e.xml_file && ch.name[0])
		name = ch.name;
	if (check_area_unshared(conn, ch.uuid, name, ch.area_path) < 0)
		goto out;
	if (dry) {
		fputs(newxml, stdout);
		rc = HV_EXIT_OK;
		goto out;
	}
	if (!e.qemu_group) {
		dtype = dom_type_of(xml);
		if (qemu_gid(conn, dtype, &gid) < 0)
			goto out;
	}
	if (hve_area_create(ch.uuid, (uint64_t)ch.area_mib << 20, gid, path, sizeof(path),
			    &created) < 0) {
		hv_err_prefix("enrolling domain '%s'", name);
		goto out;
	}
	if (ch.memfd_added || ch.area_added || ch.channel_added || ch.legacy_removed) {
		if (e.xml_file) {
			if (write_file(e.xml_file, newxml) < 0)
				goto out;
		} else if (!virDomainDefineXML(conn, newxml)) {
			virt_fail("saving the new definition", name);
			goto out;
		}
	}
	if (live && active) {
		char *live_xml = virDomainGetXMLDesc(dom, 0);
		struct hve_changes lch;
		char *ignored = NULL;

		if (!live_xml) {
			virt_fail("reading the live definition", name);
			goto out;
		}
		if (hve_xml_enroll(live_xml, &e.eo, &ignored, &lch) < 0) {
			free(live_xml);
			hv_err_prefix("checking the running domain '%s'", name);
			goto out;
		}
		free(live_xml);
		free(ignored);
		if (lch.channel_added) {
			/* A running domain may lack a virtio-serial controller: add one, then
			 * retry.  A channel that still cannot be hot-plugged is not fatal: it
			 * arrives with the next boot, and the output says so. */
			dev = hve_channel_xml();
			if (dev &&
			    virDomainAttachDeviceFlags(dom, dev, VIR_DOMAIN_AFFECT_LIVE) == 0) {
				hot_channel = 1;
			} else if (dev &&
				   virDomainAttachDeviceFlags(dom,
							      "<controller type='virtio-serial'/>",
							      VIR_DOMAIN_AFFECT_LIVE) == 0 &&
				   virDomainAttachDeviceFlags(dom, dev, VIR_DOMAIN_AFFECT_LIVE) ==
					   0) {
				hot_channel = 1;
			} else {
				const char *m = virGetLastErrorMessage();

				snprintf(channel_live_error, sizeof(channel_live_error), "%s",
					 m ? m : "unknown libvirt error");
			}
		}
	}
	if (json) {
		json_t *o = json_pack(
			"{s:s, s:s, s:b, s:b, s:b, s:b, s:s?, s:s, s:b, s:i, s:b, s:b, s:b, s:b}",
			"domain", name, "uuid", ch.uuid, "memfd_added", ch.memfd_added,
			"patch_area_added", ch.area_added, "agent_channel_added", ch.channel_added,
			"legacy_shmem_removed", ch.legacy_removed, "legacy_shmem_name",
			ch.legacy_removed ? ch.legacy_name : NULL, "patch_area_path", ch.area_path,
			"patch_area_file_created", created, "patch_area_mib", (int)ch.area_mib,
			"active", active, "hotplugged_patch_area", 0, "hotplugged_agent_channel",
			hot_channel, "needs_restart",
			active && (ch.memfd_added || ch.area_added || ch.legacy_removed));
		char *s = o ? json_dumps(o, JSON_COMPACT) : NULL;

		if (!s) {
			json_decref(o);
			hv_err(HV_E_NOMEM, "out of memory for the JSON output");
			goto out;
		}
		puts(s);
		free(s);
		json_decref(o);
	} else {
		print_changes(name, &ch, active, live, hot_channel, channel_live_error);
	}
	rc = HV_EXIT_OK;
out:
	free(dev);
	free(dtype);
	free(xml);
	free(newxml);
	if (dom)
		virDomainFree(dom);
	if (conn)
		virConnectClose(conn);
	return rc == HV_EXIT_OK ? rc : cli_fail("enroll");
}
