/*
 * libhvi's kallsyms decoder and identity readers over hostile bytes: the
 * input is a kernel image (img[0] at _text).  Finding, decoding, lookups,
 * release and build-id must stay in bounds and agree with themselves, and
 * every string they hand out (release, symbol names) must be printable
 * ASCII (hvi_text.h).
 */
/* clang-format off */
/* fuzz-sources: introspection/hvi_kallsyms.c introspection/hvi_kernel.c introspection/hvi_paging.c introspection/hvi_mem.c introspection/hvi_text.c hvpatch/common/hv_buf.c hvpatch/common/hv_hex.c hvpatch/common/hv_error.c */
/* clang-format on */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "hvi_kallsyms.h"
#include "hvi_kernel.h"
#include "hvi_text.h"

#define TEXT 0xffffffffa1000000ull

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct hvi_ksyms_tables t;
	struct hvi_symtab *st = NULL;
	char rel[HVI_RELEASE_MAX];
	uint8_t id[HVI_BUILD_ID_MAX];
	int r;

	if (hvi_read_release(data, size, TEXT, NULL, rel) == 0 &&
	    (strlen(rel) >= HVI_RELEASE_MAX || !hvi_text_printable(rel, strlen(rel))))
		abort();
	r = hvi_read_build_id(data, size, TEXT, NULL, id);
	if (r > HVI_BUILD_ID_MAX)
		abort();
	if (hvi_ksyms_find(data, size, &t) < 0)
		return 0;
	if (t.names_off + t.names_len > size || t.token_index_off + 512 > size)
		abort();
	r = hvi_ksyms_decode(data, size, &t, 0, &st);
	if (r >= 0) {
		struct hvi_sym s, first;
		uint64_t off;
		size_t n = hvi_symtab_count(st), i;

		if ((size_t)r != n || n != t.num_syms)
			abort();
		if (hvi_sym_lookup(st, "_text", &s) == 0 && s.addr == 0 && !s.absolute)
			(void)s;
		for (i = 0; i < n && i < 64; i++) {
			if (hvi_symtab_get(st, i, &first) < 0 ||
			    !hvi_text_printable(first.name, strlen(first.name)) ||
			    !hvi_text_printable(&first.type, 1))
				abort();
			if (hvi_sym_lookup_all(st, first.name, NULL, 0) < 1)
				abort();
			if (!first.absolute && (hvi_sym_by_addr(st, first.addr, 0, &s, &off) < 0 ||
						s.addr != first.addr || off != 0))
				abort();
		}
		if (hvi_read_release(data, size, TEXT, st, rel) == 0 &&
		    !hvi_text_printable(rel, strlen(rel)))
			abort();
		(void)hvi_read_build_id(data, size, TEXT, st, id);
	}
	hvi_symtab_free(st);
	return 0;
}
