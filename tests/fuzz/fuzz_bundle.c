/*
 * The bundle parser (hostile input): any bytes either fail with a recorded
 * error or give a bundle that passes hvb_check, serializes, re-parses to the
 * same bytes, and relocates without a crash.
 */
/* clang-format off */
/* fuzz-sources: hvpatch/bundle/hvb.c hvpatch/common/hv_buf.c hvpatch/common/hv_hex.c hvpatch/common/hv_error.c */
/* clang-format on */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "hvb.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int resolve(void *ctx, const char *name, uint64_t *addr)
{
	(void)ctx;
	*addr = 0xffffffff81000000ull + (strlen(name) << 12);
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct hvb_bundle *b = NULL, *c = NULL;
	uint8_t *ser = NULL, *ser2 = NULL;
	size_t n = 0, n2 = 0, i;
	uint64_t secs[HVB_MAX_SECTIONS], tgts[HVB_MAX_REPLACEMENTS];
	struct hvb_placement pl = { secs, tgts };
	struct hvb_patched out;

	if (hvb_parse(data, size, &b) < 0) {
		if (b || hv_err_last()->code == HV_OK)
			abort();
		return 0;
	}
	if (hvb_check(b) != 0 || hvb_serialize(b, &ser, &n) != 0)
		abort();
	if (hvb_parse(ser, n, &c) != 0 || hvb_serialize(c, &ser2, &n2) != 0 || n != n2 ||
	    memcmp(ser, ser2, n) != 0)
		abort();
	for (i = 0; i < b->nsections; i++)
		secs[i] = 0xffffffffc0000000ull + (i << 24);
	for (i = 0; i < b->nreplacements; i++)
		tgts[i] = 0xffffffff81000000ull + (i << 12);
	if (hvb_apply_relocs(b, &pl, resolve, NULL, &out) == 0)
		hvb_patched_free(&out);
	free(ser);
	free(ser2);
	hvb_free(b);
	hvb_free(c);
	return 0;
}
