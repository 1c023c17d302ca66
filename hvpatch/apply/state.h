/*
 * hvp_state: the record of what is installed in a guest, kept in the patch
 * area's first page (which is never mapped into the guest kernel).  Each
 * operation also logs the page it writes in the ledger, and only that copy
 * is believed: the one in the area is guest-reported (a host-side writer
 * or an older enrolment could change it), parsed as untrusted bytes and
 * only compared with the ledger's (see hvp_status() in engine.h).
 *
 * Layout (little-endian), HVP_STATE_BYTES at most:
 *   "HVPAREA1" u32 version u32 nsites u32 pd_index u32 active_slot
 *   u64 pde u64 window_gva u64 applied_unix
 *   char boot_key[64] char level[64] char patch_id[64] u8 bundle_sha256[32]
 *   nsites x { u64 site_gva u64 site_gpa u64 target_gva u8 orig[5] u8 jmp[5]
 *              u16 flags char name[64] }
 *   u32 code_offset u32 slot_used[2]                       (version 3)
 *
 * Version 2 (written since hvpatch took patched functions out of the
 * guest's ftrace): the per-site u16 is flags, HVP_SITE_* bits, any other
 * bit refused.  Version 1 had it reserved (ignored, read as no flags).  An
 * older hvpatch refuses a version 2 record rather than dropping a level
 * without giving the functions back to ftrace.
 *
 * Version 3: where the level's code starts in its slot, and how much of
 * each slot's code the levels of this boot have used.  A new level's code
 * goes after that, never where code of an earlier level of the same boot
 * ran: QEMU's TCG keeps translations of code it ran, and writes through
 * hvpatch's own mapping of the area do not drop them (docs/ACCESS.md).
 * Version 1 and 2 records read as offset 0, nothing used.
 */
#ifndef HVP_STATE_H
#define HVP_STATE_H

#include <stddef.h>
#include <stdint.h>

#include "hv_error.h"

#define HVP_STATE_MAGIC	    "HVPAREA1"
#define HVP_STATE_VERSION   3u /* written; 1 and 2 are still read */
#define HVP_STATE_BYTES	    4096u
#define HVP_STATE_TEXT	    64u
#define HVP_STATE_MAX_SITES 32u
#define HVP_NO_SLOT	    0xffffffffu
#define HVP_STATE_CODE_MAX  (16u << 20) /* bound on code offsets read back */

/*
 * hvpatch set FTRACE_FL_DISABLED on the function's ftrace record (it was
 * clear before), so the guest's ftrace leaves the site alone; it is
 * cleared again when the site gets its original bytes back.
 */
#define HVP_SITE_FTRACE_OFF  0x0001u
#define HVP_SITE_FLAGS_KNOWN HVP_SITE_FTRACE_OFF

struct hvp_site {
	uint64_t site_gva;   /* the function entry rewritten */
	uint64_t site_gpa;   /* its guest-physical address */
	uint64_t target_gva; /* where the jump goes */
	uint8_t orig[5];     /* the bytes before hvpatch (the ftrace NOP) */
	uint8_t jmp[5];	     /* the jump written */
	uint16_t flags;	     /* HVP_SITE_* */
	char name[HVP_STATE_TEXT];
};

struct hvp_state {
	uint32_t pd_index;
	uint32_t active_slot; /* HVP_NO_SLOT: no level installed */
	uint64_t pde;
	uint64_t window_gva;
	uint64_t applied_unix;
	char boot_key[HVP_STATE_TEXT];
	char level[HVP_STATE_TEXT];
	char patch_id[HVP_STATE_TEXT];
	uint8_t bundle_sha256[32];
	uint32_t nsites;
	struct hvp_site sites[HVP_STATE_MAX_SITES];
	uint32_t code_offset;  /* the level's code starts this far into its slot's code */
	uint32_t slot_used[2]; /* code bytes of each slot used by levels of this boot */
};

/*
 * Encode @st into @out (HVP_STATE_BYTES bytes, zero-padded).  HV_E_RANGE if
 * it has too many sites.
 */
int hvp_state_encode(const struct hvp_state *st, uint8_t out[HVP_STATE_BYTES]) HV_WUR;

/*
 * Decode @len bytes at @p (version 1, 2 or 3).  Returns 1 and fills *@st for a
 * valid record, 0 when the page holds no record (all zero or no magic: a
 * fresh area), or HV_E_FORMAT naming the bad field (text not
 * NUL-terminated or not printable, counts out of range, an unknown version,
 * unknown site flags).
 */
int hvp_state_decode(const uint8_t *p, size_t len, struct hvp_state *st) HV_WUR;

#endif
