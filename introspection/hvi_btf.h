/*
 * hvi_btf: the guest kernel's own type information (BTF), read from its
 * memory, answering where a member lies in a struct.
 *
 * A kernel built with CONFIG_DEBUG_INFO_BTF carries its BTF in the image,
 * between the symbols __start_BTF and __stop_BTF (the .BTF section, in
 * .rodata).  hvi_btf_open() finds both symbols in the kallsyms index,
 * bounds the range (inside the kernel image, at most HVI_BTF_MAX bytes),
 * copies it out of guest memory through the kernel's page tables and parses
 * it with libbpf (btf__new()).  So the offsets hvpatch uses come from the
 * very kernel that runs, not from a header or a debug package.
 *
 * The guest is hostile and so is its BTF: libbpf checks the header and that
 * every type record lies inside the blob, but not that type ids and string
 * offsets point anywhere sensible.  Every lookup here checks each id and
 * name libbpf hands back, every offset and size it derives against the
 * struct it lies in, and bounds its work (nesting depth, members visited),
 * so a forged blob gets an error naming the type and member, never a crash
 * or a hang.
 *
 *   hvi_btf_member_offset(b, "task_struct", "thread.sp", &off, &size);
 *   hvi_btf_struct_size(b, "task_struct", &size);
 *   hvi_btf_enum_value(b, NULL, "FTRACE_FL_DISABLED", &v);
 *
 * Member paths are C member designators without the base: "tasks",
 * "thread.sp".  Members of anonymous structs and unions are found as C finds
 * them (flattened into the enclosing type).  A path cannot go through a
 * pointer or an array (read the pointer first and ask about its type), and
 * bitfields are refused: hvpatch reads and writes whole bytes.
 *
 * libbpf's messages while it parses are captured into the error message
 * instead of going to stderr; that swaps libbpf's (process-wide) print
 * callback during btf__new() and puts it back afterwards, so do not parse
 * BTF in two threads at once.
 */
#ifndef HVI_BTF_H
#define HVI_BTF_H

#include <stddef.h>
#include <stdint.h>

#include "hv_error.h"

#define HVI_BTF_MAX	 (16u << 20) /* largest BTF blob copied out of the guest */
#define HVI_BTF_TYPE_MAX (16u << 20) /* largest struct or member size accepted */
#define HVI_BTF_PATH_MAX 256	     /* longest member path ("thread.sp") */
#define HVI_BTF_NAME_MAX 128	     /* longest type, member or enumerator name */
#define HVI_BTF_DEPTH	 32	     /* deepest nesting of anonymous members followed */

struct btf; /* libbpf */
struct hvi_kernel;

/* A parsed BTF blob. */
struct hvi_btf {
	struct btf *btf;     /* libbpf's view of the copied blob (owned) */
	uint64_t start_gva;  /* __start_BTF in the guest (0 when made from bytes) */
	uint32_t size_bytes; /* bytes of the blob */
	uint32_t ntypes;     /* type ids 1..ntypes-1 exist (libbpf's btf__type_cnt) */
};

/*
 * Read the BTF of the kernel @k from guest memory: __start_BTF and
 * __stop_BTF must both be (non-duplicated, non-absolute) symbols, the stop
 * at or after the start, the range inside the kernel image found from the
 * page tables and at most HVI_BTF_MAX bytes.  The bytes are read through
 * @k's page tables (hvi_read_virt()), so @k->pg.mem must still be valid.
 * On success *@out (free with hvi_btf_free()) is set and 0 returned.
 * Errors: HV_E_NOTFOUND when a symbol is missing (a kernel without
 * CONFIG_DEBUG_INFO_BTF); HV_E_RANGE for a range that is reversed, empty,
 * too large or outside the image; HV_E_FORMAT when the bytes are not BTF
 * libbpf accepts; HV_E_NOMEM; or the translation/read error.  Nothing is
 * allocated on failure.
 */
int hvi_btf_open(const struct hvi_kernel *k, struct hvi_btf **out) HV_WUR;

/*
 * Parse @len bytes of BTF at @data (copied: @data may be freed afterwards)
 * into *@out (free with hvi_btf_free()); @what names the bytes in errors
 * ("the guest's BTF at 0x...").  Returns 0; HV_E_RANGE when @len is 0 or
 * above HVI_BTF_MAX; HV_E_FORMAT when the header is not that of native
 * (little-endian) BTF version 1 with a 24-byte header whose sections lie
 * inside @len, or libbpf refuses the blob (its reason is in the message);
 * HV_E_NOMEM.
 */
int hvi_btf_from_bytes(const void *data, size_t len, const char *what, struct hvi_btf **out) HV_WUR;

/* Free @b and libbpf's BTF it holds; accepts NULL. */
void hvi_btf_free(struct hvi_btf *b);

/*
 * Where member @path ("tasks", "thread.sp") of the struct or union named
 * @type ("task_struct"; "struct task_struct" and "union x" also work, and a
 * typedef of a struct) lies: *@off_bytes from the start of @type and
 * *@size_bytes long (@size_bytes may be NULL).  Each component of @path is
 * looked up in the type the previous one has (through typedefs and
 * qualifiers), anonymous structs and unions flattened as in C.  Every
 * member must lie inside the type that holds it.
 * Returns 0; HV_E_INVAL for an empty or malformed path or type name;
 * HV_E_NOTFOUND when the type or a member does not exist; HV_E_UNSUPPORTED
 * for a bitfield, or a path that goes on through a pointer, an array or
 * anything that is not a struct or union; HV_E_FORMAT when the BTF is
 * inconsistent (a type id or name that does not exist, a member outside its
 * struct, a name defined twice, nesting deeper than HVI_BTF_DEPTH);
 * HV_E_RANGE for a size above HVI_BTF_TYPE_MAX.  The message names the type
 * and the member and says why.
 */
int hvi_btf_member_offset(const struct hvi_btf *b, const char *type, const char *path,
			  uint32_t *off_bytes, uint32_t *size_bytes) HV_WUR;

/*
 * The size of the struct or union named @type (as for
 * hvi_btf_member_offset()).  Returns 0 and sets *@size_bytes; errors as
 * there (HV_E_RANGE above HVI_BTF_TYPE_MAX).
 */
int hvi_btf_struct_size(const struct hvi_btf *b, const char *type, uint32_t *size_bytes) HV_WUR;

/*
 * The value of enumerator @name ("FTRACE_FL_DISABLED"), looked up in the
 * enum named @enum_type when it is not NULL ("enum" prefix optional), else
 * in every enum of the BTF (then all enumerators of that name must agree).
 * Only enumerators are in BTF: a #define is not, and is HV_E_NOTFOUND.
 * Returns 0 and sets *@value; HV_E_NOTFOUND; HV_E_INVAL for a malformed
 * name; HV_E_FORMAT when the BTF holds the name with different values (or
 * two enums named @enum_type); HV_E_RANGE for an unsigned 64-bit value
 * above INT64_MAX.
 */
int hvi_btf_enum_value(const struct hvi_btf *b, const char *enum_type, const char *name,
		       int64_t *value) HV_WUR;

#endif
