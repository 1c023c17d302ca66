/*
 * The patch-area record parser: the record lives in memory a hostile guest
 * can reach through the ivshmem BAR, so any bytes must either be refused
 * with a recorded error or decode to a record (version 1 or 2) whose site
 * flags are all known and that re-encodes (as version 2) to bytes that
 * decode to the same record.  Seeds: one-site (version 1, as hvpatch wrote
 * it before the ftrace flags), two-sites-v2 (one site taken out of ftrace).
 */
/* fuzz-sources: hvpatch/apply/state.c hvpatch/common/hv_buf.c hvpatch/common/hv_error.c */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "state.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static uint8_t page[HVP_STATE_BYTES];
	struct hvp_state st, st2;
	int r = hvp_state_decode(data, size, &st);

	if (r < 0 && hv_err_last()->code == HV_OK)
		abort(); /* an error without its sentence */
	if (r == 1) {
		uint32_t i;

		if (st.nsites > HVP_STATE_MAX_SITES || hvp_state_encode(&st, page) != 0)
			abort();
		for (i = 0; i < st.nsites; i++)
			if (st.sites[i].flags & ~HVP_SITE_FLAGS_KNOWN)
				abort();
		if (hvp_state_decode(page, sizeof(page), &st2) != 1 ||
		    memcmp(&st, &st2, sizeof(st)) != 0)
			abort();
	}
	return 0;
}
