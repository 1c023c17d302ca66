/*
 * hve: enrollment.  A domain that hvpatch can patch needs three things in its
 * libvirt definition: guest RAM in a shared memfd (so the host maps it), a
 * patch area (hidden memory for replacement code) and the virtio-serial
 * channel org.hvpatch.agent.0 for the guest agent.
 *
 * The patch area is an ivshmem-plain device backed by a read-only memory
 * backend on the domain's own area file (area.h): the guest cannot write it,
 * hvpatch writes it through its own mapping.  libvirt has no read-only
 * <shmem>, so both go in <qemu:commandline> (libvirt then marks the domain
 * tainted "custom-argv").
 *
 * hve_xml_enroll() is the pure part: domain XML in, domain XML out, with a
 * record of what changed.  cmd_enroll.c applies it to a libvirt domain or a
 * domain XML file.
 */
#ifndef HVE_ENROLL_H
#define HVE_ENROLL_H

#include <stdint.h>

#include "hv_error.h"
#include "hv_wire.h"

#define HVE_AGENT_CHANNEL    HV_WIRE_CHANNEL
#define HVE_LEGACY_PREFIX    "hvpatch-" /* <shmem name='hvpatch-XXXXXXXX'>: old enrolments */
#define HVE_AREA_MIB_DEFAULT 4u
#define HVE_QEMU_NS	     "http://libvirt.org/schemas/domain/qemu/1.0"

struct hve_opts {
	uint32_t area_mib; /* patch-area size: a power of two, 4..1024 MiB */
};

struct hve_changes {
	int memfd_added;    /* memoryBacking changed to shared memfd */
	int area_added;	    /* read-only patch area added (or re-pointed) */
	int channel_added;  /* agent channel added */
	int legacy_removed; /* an old <shmem name='hvpatch-*'> was removed */
	int area_moved;	    /* the area pointed at another file before */
	char legacy_name[128];
	char old_area_path[256]; /* what the area pointed at (area_moved) */
	char uuid[37];		 /* the domain's UUID, lower case */
	char name[128];		 /* the domain's <name>, printable ASCII */
	char area_path[256];	 /* the domain's own area file */
	uint32_t area_mib;	 /* size of the (existing or new) patch area */
};

/*
 * Rewrite the domain XML @xml_in so the domain is enrolled.  *@xml_out is a
 * malloc'd NUL-terminated string owned by the caller (free()); it is set
 * even when nothing changed.  The area file is HVE_AREA_DIR/<full UUID of
 * the domain>; an area that points anywhere else is replaced (area_moved),
 * and an old-style <shmem name='hvpatch-*'> is removed (legacy_removed).
 * Nothing outside the XML is touched (the caller creates the area file).
 * Errors: HV_E_FORMAT when @xml_in is not a domain definition, HV_E_INVAL
 * for a bad area size, HV_E_STATE when the domain has no valid UUID.
 */
int hve_xml_enroll(const char *xml_in, const struct hve_opts *opts, char **xml_out,
		   struct hve_changes *changes) HV_WUR;

/*
 * The area file a domain XML's read-only backend names (mem-path of the
 * -object with id HVE_AREA_MEM_ID in <qemu:commandline>) into @path.
 * Returns 1 when found, 0 when the XML has none, HV_E_FORMAT when it is not
 * a domain XML.
 */
int hve_xml_area_path(const char *xml, char *path, size_t n) HV_WUR;

/* The agent channel device XML (for hot-plug); malloc'd, caller frees. */
char *hve_channel_xml(void);

/*
 * The two QEMU option values (after -object and -device) of the patch area
 * for @path and @area_mib, into @obj and @dev.  @machine (libvirt's machine
 * type, e.g. "pc-i440fx-7.2" or "pc-q35-7.2"; NULL: let QEMU choose) picks a
 * fixed PCI slot libvirt does not assign by itself (0x1f on i440fx, 0x1b on
 * q35).  Returns 0 or HV_E_RANGE.
 */
int hve_area_args(const char *path, uint32_t area_mib, const char *machine, char *obj, size_t obj_n,
		  char *dev, size_t dev_n) HV_WUR;

#endif
