#include "config.h"

#include "enroll.h"

#include "area.h"

#include <libxml/parser.h>
#include <libxml/tree.h>
#include <libxml/xpath.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static xmlNodePtr child(xmlNodePtr parent, const char *name)
{
	xmlNodePtr c;

	for (c = parent ? parent->children : NULL; c; c = c->next)
		if (c->type == XML_ELEMENT_NODE && !xmlStrcmp(c->name, BAD_CAST name))
			return c;
	return NULL;
}

static xmlNodePtr child_or_new(xmlNodePtr parent, const char *name)
{
	xmlNodePtr c = child(parent, name);

	return c ? c : xmlNewChild(parent, NULL, BAD_CAST name, NULL);
}

static int attr_is(xmlNodePtr n, const char *attr, const char *value)
{
	xmlChar *v = n ? xmlGetProp(n, BAD_CAST attr) : NULL;
	int r = v && !xmlStrcmp(v, BAD_CAST value);

	xmlFree(v);
	return r;
}

static int ensure_memfd(xmlNodePtr dom, struct hve_changes *ch)
{
	xmlNodePtr mb = child(dom, "memoryBacking");
	xmlNodePtr src = child(mb, "source");
	xmlNodePtr acc = child(mb, "access");

	if (attr_is(src, "type", "memfd") && attr_is(acc, "mode", "shared"))
		return 0;
	if (!mb)
		mb = xmlNewChild(dom, NULL, BAD_CAST "memoryBacking", NULL);
	src = child_or_new(mb, "source");
	acc = child_or_new(mb, "access");
	if (!mb || !src || !acc)
		return hv_err(HV_E_NOMEM, "cannot extend the domain XML: out of memory");
	xmlSetProp(src, BAD_CAST "type", BAD_CAST "memfd");
	xmlSetProp(acc, BAD_CAST "mode", BAD_CAST "shared");
	ch->memfd_added = 1;
	return 0;
}

/* Remove an old-style <shmem name='hvpatch-*'> (a /dev/shm file that any
 * domain with the same name shares, writable by the guest). */
static void drop_legacy_shmem(xmlNodePtr devs, struct hve_changes *ch)
{
	xmlNodePtr c, next;

	for (c = devs ? devs->children : NULL; c; c = next) {
		xmlChar *name;

		next = c->next;
		if (c->type != XML_ELEMENT_NODE || xmlStrcmp(c->name, BAD_CAST "shmem"))
			continue;
		name = xmlGetProp(c, BAD_CAST "name");
		if (name &&
		    !xmlStrncmp(name, BAD_CAST HVE_LEGACY_PREFIX, (int)strlen(HVE_LEGACY_PREFIX))) {
			snprintf(ch->legacy_name, sizeof(ch->legacy_name), "%s",
				 (const char *)name);
			ch->legacy_removed = 1;
			xmlUnlinkNode(c);
			xmlFreeNode(c);
		}
		xmlFree(name);
	}
}

static int is_qemu_ns(xmlNodePtr n, const char *name)
{
	return n && n->type == XML_ELEMENT_NODE && n->ns && n->ns->href &&
	       !xmlStrcmp(n->ns->href, BAD_CAST HVE_QEMU_NS) && !xmlStrcmp(n->name, BAD_CAST name);
}

static xmlNodePtr qemu_commandline(xmlNodePtr dom)
{
	xmlNodePtr c;

	for (c = dom->children; c; c = c->next)
		if (is_qemu_ns(c, "commandline"))
			return c;
	return NULL;
}

/* The value of <qemu:arg value='...'/>, or NULL (caller xmlFree()s). */
static xmlChar *arg_value(xmlNodePtr n)
{
	return is_qemu_ns(n, "arg") ? xmlGetProp(n, BAD_CAST "value") : NULL;
}

static int starts(const xmlChar *v, const char *prefix)
{
	return v && !strncmp((const char *)v, prefix, strlen(prefix));
}

#define OBJ_PREFIX "memory-backend-file,id=" HVE_AREA_MEM_ID ","
#define DEV_PREFIX "ivshmem-plain,id=" HVE_AREA_DEV_ID ","

/* Copy option @key's value out of a QEMU keyval string ("a=1,key=v,..."). */
static void keyval(const char *s, const char *key, char *out, size_t n)
{
	size_t kl = strlen(key);
	const char *p = s;

	out[0] = '\0';
	while (p && *p) {
		if (!strncmp(p, key, kl) && p[kl] == '=') {
			size_t vl = strcspn(p + kl + 1, ",");

			snprintf(out, n, "%.*s", (int)vl, p + kl + 1);
			return;
		}
		p = strchr(p, ',');
		if (p)
			p++;
	}
}

int hve_area_args(const char *path, uint32_t area_mib, const char *machine, char *obj, size_t obj_n,
		  char *dev, size_t dev_n)
{
	/* A fixed slot, because libvirt places its own devices before QEMU
	 * reads the custom arguments and does not know about this one: the last
	 * slot of i440fx's bus (ICH9 holds it on q35, so 0x1b there: its HD
	 * audio slot, which libvirt never picks by itself). */
	const char *addr = !machine		    ? ""
			   : strstr(machine, "q35") ? ",bus=pcie.0,addr=0x1b"
						    : ",bus=pci.0,addr=0x1f";

	if ((size_t)snprintf(obj, obj_n, OBJ_PREFIX "mem-path=%s,size=%uM,share=on,readonly=on",
			     path, area_mib) >= obj_n ||
	    (size_t)snprintf(dev, dev_n, DEV_PREFIX "memdev=" HVE_AREA_MEM_ID "%s", addr) >= dev_n)
		return hv_err(HV_E_RANGE, "the patch-area path %s is too long", path);
	return 0;
}

/*
 * Find the patch area in <qemu:commandline>: the -object/-device pairs with
 * hvpatch's ids.  With @drop, unlink them all.  Returns whether both were
 * there, and the backend's value in @obj.
 */
static int find_area_args(xmlNodePtr cl, int drop, char *obj, size_t obj_n, char *devv,
			  size_t dev_n, int *have_dev)
{
	xmlNodePtr c, next, opt;
	int have_obj = 0;

	*have_dev = 0;
	if (obj_n)
		obj[0] = '\0';
	if (dev_n)
		devv[0] = '\0';
	for (c = cl ? cl->children : NULL; c; c = next) {
		xmlChar *v = arg_value(c), *w;
		int ours = 0;

		next = c->next;
		opt = next;
		while (opt && opt->type != XML_ELEMENT_NODE)
			opt = opt->next;
		w = (v && (!xmlStrcmp(v, BAD_CAST "-object") || !xmlStrcmp(v, BAD_CAST "-device")))
			    ? arg_value(opt)
			    : NULL;
		if (starts(w, OBJ_PREFIX)) {
			ours = 1;
			have_obj = 1;
			snprintf(obj, obj_n, "%s", (const char *)w);
		} else if (starts(w, DEV_PREFIX)) {
			ours = 1;
			*have_dev = 1;
			snprintf(devv, dev_n, "%s", (const char *)w);
		}
		xmlFree(v);
		xmlFree(w);
		if (ours) {
			next = opt->next;
			if (drop) {
				xmlUnlinkNode(c);
				xmlFreeNode(c);
				xmlUnlinkNode(opt);
				xmlFreeNode(opt);
			}
		}
	}
	return have_obj && *have_dev;
}

static int ensure_area(xmlNodePtr dom, uint32_t mib, struct hve_changes *ch)
{
	char obj[512], dev[256], cur[512], curdev[256], val[64], *machine = NULL;
	xmlNsPtr ns;
	xmlNodePtr cl, os = child(dom, "os");
	xmlChar *m = xmlGetProp(child(os, "type"), BAD_CAST "machine");
	int have_dev, r;

	machine = strdup(m ? (const char *)m : "pc");
	xmlFree(m);
	if (!machine)
		return hv_err(HV_E_NOMEM, "out of memory");
	cl = qemu_commandline(dom);
	if (find_area_args(cl, 0, cur, sizeof(cur), curdev, sizeof(curdev), &have_dev)) {
		char path[256], ro[16];

		keyval(cur, "mem-path", path, sizeof(path));
		keyval(cur, "readonly", ro, sizeof(ro));
		keyval(cur, "size", val, sizeof(val));
		if (!strcmp(path, ch->area_path) && !strcmp(ro, "on")) {
			char *e;
			unsigned long v = strtoul(val, &e, 10);

			/* Enrolled already: keep its size. */
			if (!strcmp(e, "M") && v >= 4 && v <= 1024 && (v & (v - 1)) == 0 &&
			    hve_area_args(path, (uint32_t)v, machine, obj, sizeof(obj), dev,
					  sizeof(dev)) == 0 &&
			    !strcmp(dev, curdev)) {
				ch->area_mib = (uint32_t)v;
				free(machine);
				return 0;
			}
		}
		if (strcmp(path, ch->area_path) != 0) {
			ch->area_moved = 1;
			snprintf(ch->old_area_path, sizeof(ch->old_area_path), "%s", path);
		}
	}
	if (cl)
		find_area_args(cl, 1, cur, sizeof(cur), curdev, sizeof(curdev), &have_dev);
	r = hve_area_args(ch->area_path, mib, machine, obj, sizeof(obj), dev, sizeof(dev));
	free(machine);
	if (r < 0)
		return r;
	ns = xmlSearchNsByHref(dom->doc, dom, BAD_CAST HVE_QEMU_NS);
	if (!ns)
		ns = xmlNewNs(dom, BAD_CAST HVE_QEMU_NS, BAD_CAST "qemu");
	if (!ns)
		return hv_err(HV_E_NOMEM, "cannot extend the domain XML: out of memory");
	if (!cl)
		cl = xmlNewChild(dom, ns, BAD_CAST "commandline", NULL);
	{
		const char *vals[4] = { "-object", obj, "-device", dev };
		int i;

		for (i = 0; i < 4; i++) {
			xmlNodePtr a = cl ? xmlNewChild(cl, ns, BAD_CAST "arg", NULL) : NULL;

			if (!a || !xmlSetProp(a, BAD_CAST "value", BAD_CAST vals[i]))
				return hv_err(HV_E_NOMEM,
					      "cannot extend the domain XML: out of memory");
		}
	}
	ch->area_added = 1;
	ch->area_mib = mib;
	return 0;
}

int hve_xml_area_path(const char *xml, char *path, size_t n)
{
	xmlDocPtr doc;
	xmlNodePtr dom;
	char cur[512], curdev[256];
	int have_dev, r = 0;

	path[0] = '\0';
	doc = xmlReadMemory(xml, (int)strlen(xml), "domain.xml", NULL,
			    XML_PARSE_NONET | XML_PARSE_NOERROR | XML_PARSE_NOWARNING);
	dom = doc ? xmlDocGetRootElement(doc) : NULL;
	if (!dom || xmlStrcmp(dom->name, BAD_CAST "domain")) {
		r = hv_err(HV_E_FORMAT,
			   "the domain definition is not a libvirt <domain> XML document");
		goto out;
	}
	find_area_args(qemu_commandline(dom), 0, cur, sizeof(cur), curdev, sizeof(curdev),
		       &have_dev);
	if (cur[0]) {
		keyval(cur, "mem-path", path, n);
		r = path[0] ? 1 : 0;
	}
out:
	xmlFreeDoc(doc);
	return r;
}

static int has_agent_channel(xmlNodePtr devs)
{
	xmlNodePtr c;

	for (c = devs ? devs->children : NULL; c; c = c->next) {
		if (c->type != XML_ELEMENT_NODE || xmlStrcmp(c->name, BAD_CAST "channel"))
			continue;
		if (attr_is(child(c, "target"), "name", HVE_AGENT_CHANNEL))
			return 1;
	}
	return 0;
}

static int add_device_xml(xmlNodePtr devs, const char *xml)
{
	xmlDocPtr frag = xmlReadMemory(xml, (int)strlen(xml), "device.xml", NULL, XML_PARSE_NONET);
	xmlNodePtr n;

	if (!frag)
		return hv_err(HV_E_INTERNAL, "cannot parse hvpatch's own device XML");
	n = xmlDocCopyNode(xmlDocGetRootElement(frag), devs->doc, 1);
	xmlFreeDoc(frag);
	if (!n || !xmlAddChild(devs, n)) {
		xmlFreeNode(n);
		return hv_err(HV_E_NOMEM, "cannot extend the domain XML: out of memory");
	}
	return 0;
}

char *hve_channel_xml(void)
{
	return strdup("<channel type='unix'><source mode='bind'/>"
		      "<target type='virtio' name='" HVE_AGENT_CHANNEL "'/></channel>");
}

int hve_xml_enroll(const char *xml_in, const struct hve_opts *opts, char **xml_out,
		   struct hve_changes *ch)
{
	xmlDocPtr doc = NULL;
	xmlNodePtr dom, devs;
	xmlChar *buf = NULL;
	char *dev = NULL;
	int size = 0, r = 0;
	uint32_t mib = opts && opts->area_mib ? opts->area_mib : HVE_AREA_MIB_DEFAULT;

	*xml_out = NULL;
	memset(ch, 0, sizeof(*ch));
	if (mib < 4 || mib > 1024 || (mib & (mib - 1)))
		return hv_err(HV_E_INVAL,
			      "patch-area size %u MiB is not a power of two between 4 and 1024 "
			      "(ivshmem needs a power of two)",
			      mib);
	doc = xmlReadMemory(xml_in, (int)strlen(xml_in), "domain.xml", NULL,
			    XML_PARSE_NONET | XML_PARSE_NOBLANKS | XML_PARSE_NOERROR |
				    XML_PARSE_NOWARNING);
	dom = doc ? xmlDocGetRootElement(doc) : NULL;
	if (!dom || xmlStrcmp(dom->name, BAD_CAST "domain")) {
		r = hv_err(HV_E_FORMAT,
			   "the domain definition is not a libvirt <domain> XML document");
		goto out;
	}
	{
		xmlChar *t = xmlNodeGetContent(child(dom, "uuid"));

		snprintf(ch->uuid, sizeof(ch->uuid), "%s", t ? (const char *)t : "");
		xmlFree(t);
		if (hve_area_path(ch->uuid, ch->area_path, sizeof(ch->area_path)) < 0) {
			r = hv_err(HV_E_STATE,
				   "the domain definition has no valid <uuid> ('%.40s'); the patch "
				   "area is named by the domain's full UUID: give the domain one "
				   "(libvirt does when it defines a domain)",
				   ch->uuid);
			goto out;
		}
		snprintf(ch->uuid, sizeof(ch->uuid), "%s",
			 ch->area_path + strlen(HVE_AREA_DIR) + 1);
	}
	{
		xmlChar *t = xmlNodeGetContent(child(dom, "name"));
		size_t i, k = 0;

		for (i = 0; t && t[i] && k + 1 < sizeof(ch->name); i++)
			ch->name[k++] = (t[i] >= 0x20 && t[i] < 0x7f) ? (char)t[i] : '?';
		ch->name[k] = '\0';
		xmlFree(t);
	}
	r = ensure_memfd(dom, ch);
	if (r < 0)
		goto out;
	devs = child_or_new(dom, "devices");
	drop_legacy_shmem(devs, ch);
	if (!has_agent_channel(devs)) {
		dev = hve_channel_xml();
		r = dev ? add_device_xml(devs, dev) : hv_err(HV_E_NOMEM, "out of memory");
		if (r < 0)
			goto out;
		ch->channel_added = 1;
	}
	r = ensure_area(dom, mib, ch);
	if (r < 0)
		goto out;
	xmlDocDumpFormatMemory(doc, &buf, &size, 1);
	if (!buf) {
		r = hv_err(HV_E_NOMEM, "cannot write the domain XML: out of memory");
		goto out;
	}
	*xml_out = strdup((const char *)buf);
	r = *xml_out ? 0 : hv_err(HV_E_NOMEM, "out of memory");
out:
	free(dev);
	xmlFree(buf);
	xmlFreeDoc(doc);
	return r;
}
