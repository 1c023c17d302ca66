/*
 * The patch-area record parser: the record lives in memory a hostile guest
 * can reach through the ivshmem BAR, so any bytes must either be refused
 * with a recorded error or decode to a record that re-encodes to the same
 * bytes.
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
		if (st.nsites > HVP_STATE_MAX_SITES || hvp_state_encode(&st, page) != 0)
			abort();
		if (hvp_state_decode(page, sizeof(page), &st2) != 1 ||
		    memcmp(&st, &st2, sizeof(st)) != 0)
			abort();
	}
	return 0;
}
