/*
 * The patch manifest parser (untrusted text): any bytes either fail with a
 * recorded error or give a manifest whose fields are all set and bounded by
 * the input.
 */
/* clang-format off */
/* fuzz-sources: hvpatch/bundle/hvb_build.c hvpatch/bundle/hvb.c hvpatch/common/hv_buf.c hvpatch/common/hv_hex.c hvpatch/common/hv_error.c */
/* clang-format on */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "hvb_build.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct hvb_manifest *m = NULL;
	size_t i;

	if (hvb_manifest_parse((const char *)data, size, "fuzz.manifest", &m) < 0) {
		if (m || hv_err_last()->code == HV_OK)
			abort();
		return 0;
	}
	if (!m->patch_id || !m->level || !m->description || !m->nrepl ||
	    strlen(m->patch_id) > size || strlen(m->description) > size)
		abort();
	for (i = 0; i < m->nrepl; i++)
		if (!m->repl[i].target[0] || !m->repl[i].replacement[0] ||
		    (m->repl[i].target_index != HVB_NO_INDEX && m->repl[i].target_index > 0xffff))
			abort();
	hvb_manifest_free(m);
	return 0;
}
