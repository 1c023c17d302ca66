#include "config.h"

/* hvpatch enroll: prepare a libvirt domain's definition for hvpatch. */
#include <getopt.h>
#include <jansson.h>
#include <libvirt/libvirt.h>
#include <libvirt/virterror.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "enroll.h"
#include "enroll_cli.h"

static const char enroll_help[] =
	"Usage: hvpatch enroll [OPTIONS] DOMAIN\n"
	"\n"
	"Prepare a libvirt domain so hvpatch can patch its kernel.  Its persistent\n"
	"definition gets:\n"
	"  - guest RAM in a shared memfd (<memoryBacking> source memfd, access shared),\n"
	"    so the host can read guest memory quickly;\n"
	"  - a patch area: an ivshmem-plain device named hvpatch-<uuid prefix>, hidden\n"
	"    memory that holds replacement code and that no guest driver uses;\n"
	"  - the virtio-serial channel " HVE_AGENT_CHANNEL " for hvpatch-agent.\n"
	"What is already there is kept; enrolling twice changes nothing.\n"
	"\n"
	"The new definition takes effect at the domain's next boot (a full shutdown\n"
	"and start, not a reboot from inside the guest).  With --live, the patch area\n"
	"and the agent channel are also hot-plugged into the running domain; the\n"
	"memory backing cannot change while QEMU runs.\n"
	"\n"
	"Examples:\n"
	"  hvpatch enroll web-01\n"
	"  hvpatch enroll --area-size 8 --live web-01\n"
	"\n"
	"Options:\n"
	"      --area-size MIB    patch-area size in MiB, a power of two from 4 to 1024\n"
	"                         (default 4)\n"
	"      --live             also hot-plug the devices into the running domain\n"
	"      --dry-run          print the new definition, change nothing\n";

static const char enroll_exit_help[] =
	"\n"
	"Options may come before or after the operand.  The guest is never paused.\n"
	"Exit status: 0 enrolled (or already enrolled), 1 failed, 2 bad usage.\n";

enum {
	O_AREA = CLI_OPT_OWN,
	O_LIVE,
	O_DRY
};

struct eopts {
	struct hve_opts eo;
	int live, dry;
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

int cmd_enroll(int argc, char **argv)
{
	static const struct option own[] = {
		{ "area-size", required_argument, NULL, O_AREA },
		{ "live", no_argument, NULL, O_LIVE },
		{ "dry-run", no_argument, NULL, O_DRY },
		{ NULL, 0, NULL, 0 },
	};
	struct eopts e = { { HVE_AREA_MIB_DEFAULT }, 0, 0 };
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
	char *xml = NULL, *newxml = NULL, *dev = NULL;
	int live, dry, json, i, rc = HV_EXIT_FAIL, active = 0, hot_shmem = 0, hot_channel = 0;
	const char *name;
	char channel_live_error[512] = "";

	i = cli_parse(&spec, argc, argv, &g, &rc);
	if (i < 0)
		return rc;
	rc = HV_EXIT_FAIL;
	uri = g.uri ? g.uri : "qemu:///system";
	live = e.live;
	dry = e.dry;
	json = g.json;
	if (i + 1 != argc)
		return cli_usage_error("enroll", "expected one DOMAIN (name or UUID)");
	optind = i;
	name = argv[optind];
	virSetErrorFunc(NULL, quiet_libvirt);

	conn = virConnectOpen(uri);
	if (!conn) {
		hv_err(HV_E_IO, "cannot connect to libvirt at %s: %s (is libvirtd running?)", uri,
		       virGetLastErrorMessage());
		goto out;
	}
	dom = virDomainLookupByName(conn, name);
	if (!dom)
		dom = virDomainLookupByUUIDString(conn, name);
	if (!dom) {
		hv_err(HV_E_NOTFOUND, "no domain named '%s' (nor with that UUID) at %s", name, uri);
		goto out;
	}
	if (!virDomainIsPersistent(dom)) {
		hv_err(HV_E_STATE,
		       "domain '%s' is transient: enrollment changes the persistent definition; "
		       "define the domain first (virsh define) or create it with the devices "
		       "described in 'hvpatch enroll --help'",
		       name);
		goto out;
	}
	active = virDomainIsActive(dom) == 1;
	xml = virDomainGetXMLDesc(dom, VIR_DOMAIN_XML_INACTIVE | VIR_DOMAIN_XML_SECURE);
	if (!xml) {
		virt_fail("reading the definition", name);
		goto out;
	}
	if (hve_xml_enroll(xml, &e.eo, &newxml, &ch) < 0) {
		hv_err_prefix("enrolling domain '%s'", name);
		goto out;
	}
	if (dry) {
		fputs(newxml, stdout);
		rc = HV_EXIT_OK;
		goto out;
	}
	if ((ch.memfd_added || ch.shmem_added || ch.channel_added) &&
	    !virDomainDefineXML(conn, newxml)) {
		virt_fail("saving the new definition", name);
		goto out;
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
		if (lch.shmem_added) {
			dev = hve_shmem_xml(ch.shmem_name, ch.area_mib);
			if (!dev ||
			    virDomainAttachDeviceFlags(dom, dev, VIR_DOMAIN_AFFECT_LIVE) < 0) {
				virt_fail("hot-plugging the patch area", name);
				goto out;
			}
			free(dev);
			dev = NULL;
			hot_shmem = 1;
		}
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
		json_t *o = json_pack("{s:s, s:b, s:b, s:b, s:s, s:i, s:b, s:b, s:b, s:b}",
				      "domain", name, "memfd_added", ch.memfd_added,
				      "patch_area_added", ch.shmem_added, "agent_channel_added",
				      ch.channel_added, "patch_area_name", ch.shmem_name,
				      "patch_area_mib", (int)ch.area_mib, "active", active,
				      "hotplugged_patch_area", hot_shmem,
				      "hotplugged_agent_channel", hot_channel, "needs_restart",
				      active && (ch.memfd_added || (!hot_shmem && ch.shmem_added)));
		char *s = o ? json_dumps(o, JSON_COMPACT) : NULL;

		if (s)
			puts(s);
		free(s);
		json_decref(o);
	} else if (!ch.memfd_added && !ch.shmem_added && !ch.channel_added) {
		printf("Domain '%s' is already enrolled (patch area %s, %u MiB).\n", name,
		       ch.shmem_name, ch.area_mib);
	} else {
		printf("Domain '%s' enrolled:\n", name);
		if (ch.memfd_added)
			printf("  guest RAM: shared memfd\n");
		if (ch.shmem_added)
			printf("  patch area: %s, %u MiB%s\n", ch.shmem_name, ch.area_mib,
			       hot_shmem ? " (hot-plugged now)" : "");
		if (ch.channel_added)
			printf("  agent channel: %s%s\n", HVE_AGENT_CHANNEL,
			       hot_channel ? " (hot-plugged now)" : "");
		if (live && active && ch.channel_added && !hot_channel)
			printf("  the agent channel could not be hot-plugged (%s); it arrives with "
			       "the next boot\n",
			       channel_live_error);
		if (active)
			printf("The domain is running: the new definition takes effect when it is "
			       "shut down and started again%s.\n",
			       ch.memfd_added
				       ? " (shared memfd RAM cannot be added to a running QEMU)"
				       : "");
		else
			printf("It takes effect when the domain next starts.\n");
	}
	rc = HV_EXIT_OK;
out:
	free(dev);
	free(xml);
	free(newxml);
	if (dom)
		virDomainFree(dom);
	if (conn)
		virConnectClose(conn);
	return rc == HV_EXIT_OK ? rc : cli_fail("enroll");
}
