/*
 * libhvi's BTF reader over hostile bytes: the input is a BTF blob as a guest
 * would leave it between __start_BTF and __stop_BTF.  Parsing either fails
 * with a recorded error or gives lookups that stay in bounds: the fields
 * hvpatch asks for, and every named member of the first named structs and
 * unions the blob defines, must lie inside their struct, and enumerator
 * lookups must answer or fail, never crash or hang.
 */
/* clang-format off */
/* fuzz-sources: introspection/hvi_btf.c introspection/hvi_kernel.c introspection/hvi_kallsyms.c introspection/hvi_paging.c introspection/hvi_mem.c hvpatch/common/hv_buf.c hvpatch/common/hv_hex.c hvpatch/common/hv_error.c (links libbpf) */
/* clang-format on */
#include <bpf/btf.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "hvi_btf.h"

#define MAX_TYPES   64 /* named structs and unions asked about */
#define MAX_MEMBERS 16 /* named members asked about in each */

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char *const fields[][2] = {
	{ "task_struct", "tasks" },
	{ "task_struct", "stack" },
	{ "task_struct", "thread.sp" },
	{ "task_struct", "__state" },
	{ "task_struct", "on_cpu" },
	{ "task_struct", "pid" },
	{ "task_struct", "comm" },
	{ "task_struct", "flags" },
	{ "task_struct", "signal" },
	{ "task_struct", "thread_node" },
	{ "signal_struct", "thread_head" },
	{ "list_head", "next" },
	{ "dyn_ftrace", "ip" },
	{ "dyn_ftrace", "flags" },
	{ "ftrace_page", "next" },
	{ "ftrace_page", "records" },
	{ "ftrace_page", "index" },
	{ "task_t", "thread.sp" },
	{ "union rcu_special", "b.need_qs" },
};

/* A successful lookup must lie inside its struct. */
static void check(const struct hvi_btf *b, const char *type, const char *path)
{
	uint32_t off, msize, ssize;

	if (hvi_btf_member_offset(b, type, path, &off, &msize) < 0) {
		if (hv_err_last()->msg[0] == 0)
			abort(); /* every failure says why */
		return;
	}
	if (hvi_btf_struct_size(b, type, &ssize) < 0 || ssize > HVI_BTF_TYPE_MAX ||
	    (uint64_t)off + msize > ssize)
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct hvi_btf *b = NULL;
	__u32 i, n;
	unsigned asked = 0;
	int64_t v;
	size_t f;

	hv_err_clear();
	if (hvi_btf_from_bytes(data, size, "the fuzz input", &b) < 0) {
		if (b || hv_err_last()->msg[0] == 0)
			abort();
		return 0;
	}
	if (b->size_bytes != size || b->ntypes < 1)
		abort();
	for (f = 0; f < sizeof(fields) / sizeof(fields[0]); f++)
		check(b, fields[f][0], fields[f][1]);
	if (hvi_btf_enum_value(b, NULL, "FTRACE_FL_DISABLED", &v) < 0 && !hv_err_last()->msg[0])
		abort();
	if (hvi_btf_enum_value(b, "signed_enum", "NEG_ONE", &v) < 0 && !hv_err_last()->msg[0])
		abort();
	/* Every named member of the first named structs and unions. */
	n = btf__type_cnt(b->btf);
	for (i = 1; i < n && asked < MAX_TYPES; i++) {
		const struct btf_type *t = btf__type_by_id(b->btf, i);
		const char *tn = t ? btf__name_by_offset(b->btf, t->name_off) : NULL;
		char type[HVI_BTF_NAME_MAX + 8];
		unsigned m, vlen;

		if (!t || !btf_is_composite(t) || !tn || !*tn || strlen(tn) > HVI_BTF_NAME_MAX)
			continue;
		asked++;
		memcpy(type, btf_is_union(t) ? "union " : "struct ", btf_is_union(t) ? 7 : 8);
		strcat(type, tn);
		vlen = btf_vlen(t);
		for (m = 0; m < vlen && m < MAX_MEMBERS; m++) {
			const char *mn = btf__name_by_offset(b->btf, btf_members(t)[m].name_off);

			if (mn && *mn)
				check(b, type, mn);
		}
	}
	hvi_btf_free(b);
	return 0;
}
