/*
 * hve: enrollment.  A domain that hvpatch can patch needs three things in its
 * libvirt definition: guest RAM in a shared memfd (so the host maps it), an
 * ivshmem-plain patch area (hidden memory for replacement code) and the
 * virtio-serial channel org.hvpatch.agent.0 for the guest agent.
 *
 * hve_xml_enroll() is the pure part: domain XML in, domain XML out, with a
 * record of what changed.  hve_enroll() applies it to a libvirt domain.
 */
#ifndef HVE_ENROLL_H
#define HVE_ENROLL_H

#include <stdint.h>

#include "hv_error.h"
#include "hv_wire.h"

#define HVE_AGENT_CHANNEL    HV_WIRE_CHANNEL
#define HVE_SHMEM_PREFIX     "hvpatch-"
#define HVE_AREA_MIB_DEFAULT 4u

struct hve_opts {
	uint32_t area_mib; /* patch-area size: a power of two, 4..1024 MiB */
};

struct hve_changes {
	int memfd_added;   /* memoryBacking changed to shared memfd */
	int shmem_added;   /* patch-area device added */
	int channel_added; /* agent channel added */
	char shmem_name[128];
	uint32_t area_mib; /* size of the (existing or new) patch area */
};

/*
 * Rewrite the domain XML @xml_in so the domain is enrolled.  *@xml_out is a
 * malloc'd NUL-terminated string owned by the caller (free()); it is set
 * even when nothing changed.  The shmem device is named "hvpatch-" + the
 * first 8 hex digits of the domain UUID (or its name when it has no UUID).
 * Errors: HV_E_FORMAT when @xml_in is not a domain definition, HV_E_INVAL
 * for a bad area size, HV_E_STATE when the domain has a shmem device of the
 * hvpatch name but a different model.
 */
int hve_xml_enroll(const char *xml_in, const struct hve_opts *opts, char **xml_out,
		   struct hve_changes *changes) HV_WUR;

/* The patch-area device XML (for hot-plug); malloc'd, caller frees. */
char *hve_shmem_xml(const char *name, uint32_t area_mib);

/* The agent channel device XML (for hot-plug); malloc'd, caller frees. */
char *hve_channel_xml(void);

#endif
