#include "config.h"

#include "enroll.h"

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

static int find_shmem(xmlNodePtr devs, struct hve_changes *ch)
{
	xmlNodePtr c;

	for (c = devs ? devs->children : NULL; c; c = c->next) {
		xmlChar *name;
		xmlNodePtr model, size;
		int ours;

		if (c->type != XML_ELEMENT_NODE || xmlStrcmp(c->name, BAD_CAST "shmem"))
			continue;
		name = xmlGetProp(c, BAD_CAST "name");
		ours = name &&
		       !xmlStrncmp(name, BAD_CAST HVE_SHMEM_PREFIX, (int)strlen(HVE_SHMEM_PREFIX));
		if (ours)
			snprintf(ch->shmem_name, sizeof(ch->shmem_name), "%s", (const char *)name);
		xmlFree(name);
		if (!ours)
			continue;
		model = child(c, "model");
		if (!attr_is(model, "type", "ivshmem-plain"))
			return hv_err(HV_E_STATE,
				      "the domain already has a shmem device '%s' that is not "
				      "ivshmem-plain; remove it and enroll again",
				      ch->shmem_name);
		size = child(c, "size");
		if (size) {
			xmlChar *txt = xmlNodeGetContent(size);
			xmlChar *unit = xmlGetProp(size, BAD_CAST "unit");
			unsigned long v = txt ? strtoul((const char *)txt, NULL, 10) : 0;

			if (!unit || !xmlStrcmp(unit, BAD_CAST "M") ||
			    !xmlStrcmp(unit, BAD_CAST "MiB"))
				ch->area_mib = (uint32_t)v;
			else if (!xmlStrcmp(unit, BAD_CAST "G") || !xmlStrcmp(unit, BAD_CAST "GiB"))
				ch->area_mib = (uint32_t)(v * 1024);
			xmlFree(txt);
			xmlFree(unit);
		}
		return 1;
	}
	return 0;
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

char *hve_shmem_xml(const char *name, uint32_t area_mib)
{
	char *s = NULL;

	if (asprintf(&s,
		     "<shmem name='%s'><model type='ivshmem-plain'/>"
		     "<size unit='M'>%u</size></shmem>",
		     name, area_mib) < 0)
		return NULL;
	return s;
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
	char ident[16] = "";
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
			    XML_PARSE_NONET | XML_PARSE_NOBLANKS);
	dom = doc ? xmlDocGetRootElement(doc) : NULL;
	if (!dom || xmlStrcmp(dom->name, BAD_CAST "domain")) {
		r = hv_err(HV_E_FORMAT,
			   "the domain definition is not a libvirt <domain> XML document");
		goto out;
	}
	{
		xmlNodePtr u = child(dom, "uuid");
		xmlNodePtr n = child(dom, "name");
		xmlChar *t = xmlNodeGetContent(u ? u : n);
		size_t i, k = 0;

		for (i = 0; t && t[i] && k < 8; i++)
			if ((t[i] >= '0' && t[i] <= '9') || (t[i] >= 'a' && t[i] <= 'z') ||
			    (t[i] >= 'A' && t[i] <= 'Z'))
				ident[k++] = (char)t[i];
		ident[k] = 0;
		xmlFree(t);
	}
	r = ensure_memfd(dom, ch);
	if (r < 0)
		goto out;
	devs = child_or_new(dom, "devices");
	r = find_shmem(devs, ch);
	if (r < 0)
		goto out;
	if (r == 0) {
		snprintf(ch->shmem_name, sizeof(ch->shmem_name), HVE_SHMEM_PREFIX "%s", ident);
		dev = hve_shmem_xml(ch->shmem_name, mib);
		r = dev ? add_device_xml(devs, dev) : hv_err(HV_E_NOMEM, "out of memory");
		if (r < 0)
			goto out;
		ch->shmem_added = 1;
		ch->area_mib = mib;
	}
	if (!has_agent_channel(devs)) {
		free(dev);
		dev = hve_channel_xml();
		r = dev ? add_device_xml(devs, dev) : hv_err(HV_E_NOMEM, "out of memory");
		if (r < 0)
			goto out;
		ch->channel_added = 1;
	}
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
