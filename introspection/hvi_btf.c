/* Guarded so the fuzz runner (tests/fuzz/run.sh) can build it without configure. */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

#include "hvi_btf.h"

#include <bpf/btf.h>
#include <bpf/libbpf.h>
#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hv_buf.h"
#include "hvi_kernel.h"

#define BTF_HDR_BYTES	  24u
#define BTF_MAGIC_LE	  0xeb9fu
#define BTF_MEMBER_BUDGET (1u << 20) /* members one lookup may visit */
#define BTF_NAME_SHOW	  64	     /* characters of a guest name shown in a message */
#define BTF_POINTER_BYTES 8	     /* x86-64 */

/* ---- libbpf's messages, captured while it parses ---- */

static __thread char libbpf_msg[256];

#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wformat-nonliteral"
static int capture_libbpf(enum libbpf_print_level level, const char *fmt, va_list ap)
{
	char tmp[sizeof(libbpf_msg)];
	size_t n;

	(void)level;
	if (vsnprintf(tmp, sizeof(tmp), fmt, ap) < 0)
		return 0;
	n = strlen(tmp);
	while (n > 0 && (tmp[n - 1] == '\n' || tmp[n - 1] == ' '))
		tmp[--n] = 0;
	if (n > 0)
		memcpy(libbpf_msg, tmp, n + 1);
	return 0;
}
#pragma GCC diagnostic pop

/* ---- names ---- */

/* A guest string fit for a message: at most BTF_NAME_SHOW printable characters. */
static void safe_name(const char *s, char *buf, size_t n)
{
	size_t i = 0;

	for (; s && *s && i + 1 < n && i < BTF_NAME_SHOW; s++)
		buf[i++] = (*s >= 0x20 && *s < 0x7f) ? *s : '?';
	if (s && *s && i + 4 < n) {
		memcpy(buf + i, "...", 3);
		i += 3;
	}
	buf[i] = 0;
}

static const char *kind_word(const struct btf_type *t)
{
	switch (btf_kind(t)) {
	case BTF_KIND_STRUCT:
		return "struct";
	case BTF_KIND_UNION:
		return "union";
	case BTF_KIND_ENUM:
	case BTF_KIND_ENUM64:
		return "enum";
	case BTF_KIND_TYPEDEF:
		return "typedef";
	case BTF_KIND_PTR:
		return "pointer";
	case BTF_KIND_ARRAY:
		return "array";
	case BTF_KIND_INT:
		return "integer";
	case BTF_KIND_FLOAT:
		return "floating-point type";
	case BTF_KIND_FWD:
		return "declared-only";
	case BTF_KIND_FUNC_PROTO:
		return "function type";
	case BTF_KIND_CONST:
	case BTF_KIND_VOLATILE:
	case BTF_KIND_RESTRICT:
	case BTF_KIND_TYPE_TAG:
		return "qualified type";
	default:
		return "type";
	}
}

/* "struct task_struct", "anonymous union (type 123)", "pointer (type 45)". */
static void type_desc(const struct btf *btf, __u32 id, char *buf, size_t n)
{
	const struct btf_type *t = btf__type_by_id(btf, id);
	const char *name;
	char shown[BTF_NAME_SHOW + 8];

	if (id == 0) {
		snprintf(buf, n, "void");
		return;
	}
	if (!t) {
		snprintf(buf, n, "type %u (which does not exist)", id);
		return;
	}
	name = btf__name_by_offset(btf, t->name_off);
	if (name && *name) {
		safe_name(name, shown, sizeof(shown));
		snprintf(buf, n, "%s %s", kind_word(t), shown);
	} else if (btf_is_composite(t) || btf_is_any_enum(t)) {
		snprintf(buf, n, "anonymous %s (type %u)", kind_word(t), id);
	} else {
		snprintf(buf, n, "%s (type %u)", kind_word(t), id);
	}
}

static bool ident_char(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
	       c == '_';
}

/* Whether [s, s + n) is a C identifier of at most HVI_BTF_NAME_MAX characters. */
static bool is_ident(const char *s, size_t n)
{
	size_t i;

	if (n == 0 || n > HVI_BTF_NAME_MAX || (s[0] >= '0' && s[0] <= '9'))
		return false;
	for (i = 0; i < n; i++)
		if (!ident_char(s[i]))
			return false;
	return true;
}

/* ---- parsing ---- */

/*
 * Check the BTF header in the first bytes of @p (@avail of them readable)
 * for a blob of @total bytes: native BTF version 1, a 24-byte header, and
 * the type and string sections inside the blob, filling it exactly (as the
 * kernel itself requires of its own BTF).
 */
static int check_header(const void *p, size_t avail, uint64_t total, const char *what)
{
	struct hv_buf b;
	uint16_t magic;
	uint8_t version, flags;
	uint32_t hdr_len, type_off, type_len, str_off, str_len;
	int r;

	if (total < BTF_HDR_BYTES || avail < BTF_HDR_BYTES) {
		r = hv_err(HV_E_FORMAT,
			   "%s is %llu bytes long, too short for the %u-byte BTF header, so it is "
			   "not BTF",
			   what, (unsigned long long)total, BTF_HDR_BYTES);
		goto out;
	}
	hv_buf_init(&b, p, BTF_HDR_BYTES, what);
	if ((r = hv_buf_get_u16(&b, &magic)) < 0 || (r = hv_buf_get_u8(&b, &version)) < 0 ||
	    (r = hv_buf_get_u8(&b, &flags)) < 0 || (r = hv_buf_get_u32(&b, &hdr_len)) < 0 ||
	    (r = hv_buf_get_u32(&b, &type_off)) < 0 || (r = hv_buf_get_u32(&b, &type_len)) < 0 ||
	    (r = hv_buf_get_u32(&b, &str_off)) < 0 || (r = hv_buf_get_u32(&b, &str_len)) < 0)
		goto out;
	if (magic != BTF_MAGIC_LE) {
		r = hv_err(HV_E_FORMAT,
			   "%s does not start with the BTF magic 0xeb9f (found 0x%04x%s), so it "
			   "is not the BTF of an x86-64 kernel",
			   what, magic, magic == 0x9feb ? ", big-endian BTF" : "");
		goto out;
	}
	if (version != 1 || hdr_len != BTF_HDR_BYTES) {
		r = hv_err(HV_E_FORMAT,
			   "%s has BTF version %u with a %u-byte header; only version 1 with "
			   "the %u-byte header is understood",
			   what, version, hdr_len, BTF_HDR_BYTES);
		goto out;
	}
	if (type_off % 4 || (uint64_t)type_off + type_len > str_off || str_len == 0 ||
	    (uint64_t)hdr_len + str_off + str_len != total) {
		r = hv_err(HV_E_FORMAT,
			   "%s has a BTF header whose sections (types %u+%u, strings %u+%u after "
			   "the header) do not fill its %llu bytes exactly; the blob is "
			   "truncated or forged",
			   what, type_off, type_len, str_off, str_len, (unsigned long long)total);
		goto out;
	}
	r = 0;
out:
	return r;
}

void hvi_btf_free(struct hvi_btf *b)
{
	if (!b)
		return;
	btf__free(b->btf);
	free(b);
}

int hvi_btf_from_bytes(const void *data, size_t len, const char *what, struct hvi_btf **out)
{
	struct hvi_btf *b = NULL;
	libbpf_print_fn_t prev;
	long err;
	int r;

	*out = NULL;
	if (!what)
		what = "the BTF blob";
	if (!data || len == 0 || len > HVI_BTF_MAX) {
		r = hv_err(HV_E_RANGE,
			   "%s is %zu bytes long; BTF of 1 to %u bytes is accepted, so it is "
			   "empty or absurdly large",
			   what, len, HVI_BTF_MAX);
		goto out;
	}
	r = check_header(data, len, len, what);
	if (r < 0)
		goto out;
	b = calloc(1, sizeof(*b));
	if (!b) {
		r = hv_err(HV_E_NOMEM, "out of memory for the parsed BTF");
		goto out;
	}
	libbpf_msg[0] = 0;
	prev = libbpf_set_print(capture_libbpf);
	errno = 0;
	b->btf = btf__new(data, (__u32)len);
	err = libbpf_get_error(b->btf);
	libbpf_set_print(prev);
	if (!b->btf || err) {
		b->btf = NULL;
		r = hv_err(err == -ENOMEM ? HV_E_NOMEM : HV_E_FORMAT,
			   "libbpf refused %s as BTF: %s", what,
			   libbpf_msg[0] ? libbpf_msg : strerror(err ? (int)-err : EINVAL));
		goto out;
	}
	if (btf__set_pointer_size(b->btf, BTF_POINTER_BYTES) < 0) {
		r = hv_err(HV_E_INTERNAL, "libbpf did not accept 8-byte pointers for %s", what);
		goto out;
	}
	b->size_bytes = (uint32_t)len;
	b->ntypes = btf__type_cnt(b->btf);
	*out = b;
	b = NULL;
	r = 0;
out:
	hvi_btf_free(b);
	return r;
}

int hvi_btf_open(const struct hvi_kernel *k, struct hvi_btf **out)
{
	static const char *const names[2] = { "__start_BTF", "__stop_BTF" };
	struct hvi_sym s[2];
	uint8_t hdr[BTF_HDR_BYTES];
	uint8_t *buf = NULL;
	uint64_t len;
	char what[96];
	unsigned i;
	int r;

	*out = NULL;
	for (i = 0; i < 2; i++) {
		r = hvi_sym_lookup(k->syms, names[i], &s[i]);
		if (r == HV_E_NOTFOUND) {
			r = hv_err(
				HV_E_NOTFOUND,
				"the guest kernel has no %s symbol, so it carries no BTF (it was "
				"built without CONFIG_DEBUG_INFO_BTF) and hvpatch cannot learn "
				"its struct layouts",
				names[i]);
			goto out;
		}
		if (r < 0) {
			hv_err_prefix("cannot locate the guest kernel's BTF");
			goto out;
		}
		if (s[i].absolute) {
			r = hv_err(HV_E_FORMAT,
				   "the guest kernel's %s is an absolute (per-cpu) symbol, not an "
				   "address in its image; its kallsyms are inconsistent",
				   names[i]);
			goto out;
		}
	}
	if (s[1].addr <= s[0].addr) {
		r = hv_err(HV_E_RANGE,
			   "the guest kernel's BTF would end (__stop_BTF 0x%llx) %s it starts "
			   "(__start_BTF 0x%llx); its kallsyms are inconsistent or hostile",
			   (unsigned long long)s[1].addr,
			   s[1].addr == s[0].addr ? "where" : "before",
			   (unsigned long long)s[0].addr);
		goto out;
	}
	len = s[1].addr - s[0].addr;
	if (len > HVI_BTF_MAX) {
		r = hv_err(HV_E_RANGE,
			   "the guest kernel's BTF (__start_BTF 0x%llx .. __stop_BTF 0x%llx) "
			   "would be %llu bytes, more than the %u hvpatch accepts",
			   (unsigned long long)s[0].addr, (unsigned long long)s[1].addr,
			   (unsigned long long)len, HVI_BTF_MAX);
		goto out;
	}
	if (s[0].addr < k->loc.text_gva || s[1].addr > k->loc.image_end_gva) {
		r = hv_err(HV_E_RANGE,
			   "the guest kernel's BTF (0x%llx..0x%llx) does not lie inside its "
			   "image 0x%llx..0x%llx found from the page tables",
			   (unsigned long long)s[0].addr, (unsigned long long)s[1].addr,
			   (unsigned long long)k->loc.text_gva,
			   (unsigned long long)k->loc.image_end_gva);
		goto out;
	}
	snprintf(what, sizeof(what), "the guest kernel's BTF at 0x%llx (%llu bytes)",
		 (unsigned long long)s[0].addr, (unsigned long long)len);
	/* The header first: garbage is refused before megabytes are copied. */
	r = hvi_read_virt(&k->pg, s[0].addr, hdr, len < sizeof(hdr) ? (size_t)len : sizeof(hdr));
	if (r < 0) {
		hv_err_prefix("cannot read %s", what);
		goto out;
	}
	r = check_header(hdr, len < sizeof(hdr) ? (size_t)len : sizeof(hdr), len, what);
	if (r < 0)
		goto out;
	buf = malloc((size_t)len);
	if (!buf) {
		r = hv_err(HV_E_NOMEM, "out of memory for a copy of %s", what);
		goto out;
	}
	r = hvi_read_virt(&k->pg, s[0].addr, buf, (size_t)len);
	if (r < 0) {
		hv_err_prefix("cannot read %s", what);
		goto out;
	}
	r = hvi_btf_from_bytes(buf, (size_t)len, what, out);
	if (r < 0)
		goto out;
	(*out)->start_gva = s[0].addr;
out:
	free(buf);
	return r;
}

/* ---- lookups ---- */

/* Split "struct x" / "union x" / "x": the kind wanted (0: either) and the name. */
static int parse_type_name(const char *type, const char **name, int *kind)
{
	*kind = 0;
	*name = type;
	if (!strncmp(type, "struct ", 7)) {
		*kind = BTF_KIND_STRUCT;
		*name = type + 7;
	} else if (!strncmp(type, "union ", 6)) {
		*kind = BTF_KIND_UNION;
		*name = type + 6;
	}
	if (!is_ident(*name, strlen(*name)))
		return hv_err(HV_E_INVAL,
			      "'%.*s' is not a struct or union name (a C identifier of at most %d "
			      "characters, optionally after \"struct \" or \"union \")",
			      HVI_BTF_NAME_MAX + 8, type, HVI_BTF_NAME_MAX);
	return 0;
}

/* A type's name, or HV_E_FORMAT when its offset lies outside the strings. */
static int name_of(const struct btf *btf, __u32 id, const struct btf_type *t, const char **name)
{
	*name = btf__name_by_offset(btf, t->name_off);
	if (!*name)
		return hv_err(HV_E_FORMAT,
			      "type %u of the guest's BTF has a name offset %u outside its string "
			      "section; the BTF is inconsistent",
			      id, t->name_off);
	return 0;
}

/*
 * The id of the only type of a kind in @kinds (bit per BTF_KIND_*) named
 * @name, or 0 when there is none; HV_E_FORMAT when there are several.
 */
static int find_named(const struct btf *btf, const char *name, unsigned kinds, const char *what,
		      __u32 *id)
{
	__u32 i, n = btf__type_cnt(btf), count = 0;
	int r = 0;

	*id = 0;
	for (i = 1; i < n; i++) {
		const struct btf_type *t = btf__type_by_id(btf, i);
		const char *tn;

		if (!t) {
			r = hv_err(HV_E_FORMAT, "type %u of the guest's BTF cannot be read", i);
			goto out;
		}
		if (!(kinds & (1u << btf_kind(t))))
			continue;
		if ((r = name_of(btf, i, t, &tn)) < 0)
			goto out;
		if (strcmp(tn, name))
			continue;
		if (count++ == 0)
			*id = i;
	}
	if (count > 1) {
		r = hv_err(HV_E_FORMAT,
			   "the guest's BTF defines %u %s named '%s' (types %u and others); "
			   "hvpatch does not guess which one the kernel uses",
			   count, what, name, *id);
		*id = 0;
		goto out;
	}
	r = 0;
out:
	return r;
}

#define KINDS_COMPOSITE ((1u << BTF_KIND_STRUCT) | (1u << BTF_KIND_UNION))

/* The struct or union (or typedef of one) @type names; its id in *@id. */
static int find_composite(const struct btf *btf, const char *type, __u32 *id)
{
	const char *name;
	int kind, r, rid;
	__u32 tid = 0;

	*id = 0;
	r = parse_type_name(type, &name, &kind);
	if (r < 0)
		goto out;
	r = find_named(btf, name, kind ? 1u << kind : KINDS_COMPOSITE, "structs or unions", &tid);
	if (r < 0)
		goto out;
	if (!tid && !kind) {
		r = find_named(btf, name, 1u << BTF_KIND_TYPEDEF, "typedefs", &tid);
		if (r < 0)
			goto out;
		if (tid) {
			const struct btf_type *t;

			rid = btf__resolve_type(btf, tid);
			t = rid > 0 ? btf__type_by_id(btf, (__u32)rid) : NULL;
			if (!t || !btf_is_composite(t)) {
				r = hv_err(HV_E_UNSUPPORTED,
					   "'%s' in the guest's BTF is a typedef of something "
					   "other than a struct or union",
					   name);
				goto out;
			}
			tid = (__u32)rid;
		}
	}
	if (!tid) {
		r = hv_err(HV_E_NOTFOUND, "the guest's BTF has no %s named '%s'",
			   kind == BTF_KIND_STRUCT  ? "struct"
			   : kind == BTF_KIND_UNION ? "union"
						    : "struct, union or typedef",
			   name);
		goto out;
	}
	*id = tid;
	r = 0;
out:
	return r;
}

/* A struct or union's size, bounded by HVI_BTF_TYPE_MAX. */
static int composite_size(const struct btf *btf, __u32 id, const char *type, uint32_t *size)
{
	const struct btf_type *t = btf__type_by_id(btf, id);
	char desc[160];

	if (!t)
		return hv_err(HV_E_FORMAT, "type %u of the guest's BTF (%s) does not exist", id,
			      type);
	if (t->size > HVI_BTF_TYPE_MAX) {
		type_desc(btf, id, desc, sizeof(desc));
		return hv_err(HV_E_RANGE,
			      "%s in the guest's BTF says it is %u bytes, more than the %u "
			      "hvpatch accepts",
			      desc, t->size, HVI_BTF_TYPE_MAX);
	}
	*size = t->size;
	return 0;
}

int hvi_btf_struct_size(const struct hvi_btf *b, const char *type, uint32_t *size_bytes)
{
	__u32 id;
	int r;

	r = find_composite(b->btf, type, &id);
	if (r < 0)
		goto out;
	r = composite_size(b->btf, id, type, size_bytes);
out:
	return r;
}

/* One member found by name (possibly inside anonymous members). */
struct found {
	unsigned count;	    /* members of that name found */
	__u32 type;	    /* its type */
	__u32 container;    /* the struct or union that lists it */
	__u32 in_bits;	    /* its bit offset in that container */
	__u32 bitfield;	    /* its bitfield size, 0 if none */
	uint64_t bits;	    /* its bit offset from the start of the searched type */
	unsigned member_ix; /* its index in the container */
};

struct search {
	const struct btf *btf;
	const char *name;
	unsigned long budget;
	struct found f;
};

/*
 * Look for member s->name in the struct or union @id (at bit @base of the
 * searched type), descending into anonymous struct and union members.
 */
static int search_members(struct search *s, __u32 id, uint64_t base, unsigned depth)
{
	const struct btf_type *t = btf__type_by_id(s->btf, id);
	const struct btf_member *m;
	char desc[160];
	unsigned i, vlen;
	int r = 0;

	if (!t || !btf_is_composite(t)) {
		r = hv_err(HV_E_INTERNAL, "search_members called on type %u, not a struct", id);
		goto out;
	}
	vlen = btf_vlen(t);
	m = btf_members(t);
	for (i = 0; i < vlen; i++, m++) {
		const char *mn = btf__name_by_offset(s->btf, m->name_off);
		__u32 bits = btf_member_bit_offset(t, i), bf = btf_member_bitfield_size(t, i);
		const struct btf_type *mt;
		int rid;

		if (s->budget-- == 0) {
			r = hv_err(HV_E_FORMAT,
				   "looking for member '%s' visited more than %u members; the "
				   "guest's BTF nests its anonymous members absurdly",
				   s->name, BTF_MEMBER_BUDGET);
			goto out;
		}
		if (!mn) {
			type_desc(s->btf, id, desc, sizeof(desc));
			r = hv_err(
				HV_E_FORMAT,
				"member %u of %s in the guest's BTF has a name offset %u outside "
				"its string section; the BTF is inconsistent",
				i, desc, m->name_off);
			goto out;
		}
		if (*mn) {
			if (strcmp(mn, s->name))
				continue;
			if (s->f.count++ == 0) {
				s->f.type = m->type;
				s->f.container = id;
				s->f.in_bits = bits;
				s->f.bitfield = bf;
				s->f.bits = base + bits;
				s->f.member_ix = i;
			}
			continue;
		}
		/* Anonymous: a struct or union whose members belong to this one (or padding). */
		if (!btf__type_by_id(s->btf, m->type)) {
			type_desc(s->btf, id, desc, sizeof(desc));
			r = hv_err(HV_E_FORMAT,
				   "anonymous member %u of %s in the guest's BTF has type %u, "
				   "which does not exist",
				   i, desc, m->type);
			goto out;
		}
		rid = btf__resolve_type(s->btf, m->type);
		mt = rid > 0 ? btf__type_by_id(s->btf, (__u32)rid) : NULL;
		if (!mt || !btf_is_composite(mt))
			continue; /* unnamed bitfield padding */
		if (depth + 1 >= HVI_BTF_DEPTH) {
			type_desc(s->btf, id, desc, sizeof(desc));
			r = hv_err(HV_E_FORMAT,
				   "%s in the guest's BTF nests anonymous members more than %u "
				   "deep; the BTF is inconsistent or hostile",
				   desc, HVI_BTF_DEPTH);
			goto out;
		}
		if (bf || bits % 8 || (uint64_t)bits / 8 + mt->size > t->size) {
			type_desc(s->btf, id, desc, sizeof(desc));
			r = hv_err(HV_E_FORMAT,
				   "anonymous member %u of %s in the guest's BTF (at bit %u, %u "
				   "bytes) does not lie whole inside its %u bytes",
				   i, desc, bits, mt->size, t->size);
			goto out;
		}
		r = search_members(s, (__u32)rid, base + bits, depth + 1);
		if (r < 0)
			goto out;
	}
	r = 0;
out:
	return r;
}

/*
 * Whether the member found is a bitfield (kind_flag encoding, the older int
 * encoding, or a bit offset that is not a whole byte); *@width is its width
 * in bits when BTF says it (else 0).
 */
static bool found_bitfield(const struct btf *btf, const struct found *f, unsigned *width)
{
	const struct btf_type *c = btf__type_by_id(btf, f->container), *mt;
	int rid;

	*width = f->bitfield;
	if (f->bitfield || f->bits % 8)
		return true;
	if (!c || btf_kflag(c))
		return false;
	rid = btf__resolve_type(btf, f->type);
	mt = rid > 0 ? btf__type_by_id(btf, (__u32)rid) : NULL;
	if (!mt || !btf_is_int(mt) ||
	    (btf_int_offset(mt) == 0 && (uint64_t)btf_int_bits(mt) == (uint64_t)mt->size * 8))
		return false;
	*width = btf_int_bits(mt);
	return true;
}

/*
 * Member @comp of the struct or union @id (whose size is @size): its type,
 * offset and size.  @at is the path so far ("task_struct.thread"), for
 * messages.
 */
static int one_member(const struct btf *btf, __u32 id, uint32_t size, const char *comp,
		      const char *at, __u32 *mtype, uint32_t *off, uint32_t *msize)
{
	struct search s;
	char desc[160];
	const struct btf_type *c;
	unsigned width;
	__s64 sz;
	int r;

	memset(&s, 0, sizeof(s));
	s.btf = btf;
	s.name = comp;
	s.budget = BTF_MEMBER_BUDGET;
	type_desc(btf, id, desc, sizeof(desc));
	r = search_members(&s, id, 0, 0);
	if (r < 0) {
		hv_err_prefix("cannot find %s.%s", at, comp);
		goto out;
	}
	if (s.f.count == 0) {
		r = hv_err(HV_E_NOTFOUND, "%s (%s) in the guest's BTF has no member '%s'", at, desc,
			   comp);
		goto out;
	}
	if (s.f.count > 1) {
		r = hv_err(HV_E_FORMAT,
			   "%s (%s) in the guest's BTF has %u members named '%s' (counting those "
			   "of its anonymous members); C allows one, so the BTF is forged",
			   at, desc, s.f.count, comp);
		goto out;
	}
	if (found_bitfield(btf, &s.f, &width)) {
		r = hv_err(HV_E_UNSUPPORTED,
			   "%s.%s is a bitfield (%u bit%s wide at bit %llu of %s); hvpatch reads "
			   "and writes whole bytes, so it cannot use it",
			   at, comp, width, width == 1 ? "" : "s", (unsigned long long)s.f.bits,
			   desc);
		goto out;
	}
	if (!btf__type_by_id(btf, s.f.type)) {
		r = hv_err(HV_E_FORMAT,
			   "%s.%s has type %u in the guest's BTF, which does not exist", at, comp,
			   s.f.type);
		goto out;
	}
	sz = btf__resolve_size(btf, s.f.type);
	if (sz < 0) {
		char tdesc[160];

		type_desc(btf, s.f.type, tdesc, sizeof(tdesc));
		r = hv_err(HV_E_FORMAT, "%s.%s has no size in the guest's BTF (its type is %s)", at,
			   comp, tdesc);
		goto out;
	}
	if ((uint64_t)sz > HVI_BTF_TYPE_MAX) {
		r = hv_err(HV_E_RANGE,
			   "%s.%s is %lld bytes long in the guest's BTF, more than the %u hvpatch "
			   "accepts",
			   at, comp, (long long)sz, HVI_BTF_TYPE_MAX);
		goto out;
	}
	c = btf__type_by_id(btf, s.f.container);
	if (!c || (uint64_t)s.f.in_bits / 8 + (uint64_t)sz > c->size ||
	    s.f.bits / 8 + (uint64_t)sz > size) {
		r = hv_err(HV_E_FORMAT,
			   "%s.%s (%lld bytes at byte %llu) does not lie inside %s (%u bytes) in "
			   "the guest's BTF; the BTF is inconsistent",
			   at, comp, (long long)sz, (unsigned long long)(s.f.bits / 8), desc, size);
		goto out;
	}
	*mtype = s.f.type;
	*off = (uint32_t)(s.f.bits / 8);
	*msize = (uint32_t)sz;
	r = 0;
out:
	return r;
}

/* Why a path cannot go on through the member of type @id: a sentence fragment. */
static const char *not_composite_why(const struct btf_type *t)
{
	if (!t)
		return "its type does not resolve to a struct or union";
	switch (btf_kind(t)) {
	case BTF_KIND_PTR:
		return "it is a pointer (read the pointer, then ask about the type it points to)";
	case BTF_KIND_ARRAY:
		return "it is an array";
	case BTF_KIND_FWD:
		return "its struct is only declared, not defined, in the BTF";
	default:
		return "it is not a struct or union";
	}
}

int hvi_btf_member_offset(const struct hvi_btf *b, const char *type, const char *path,
			  uint32_t *off_bytes, uint32_t *size_bytes)
{
	char p[HVI_BTF_PATH_MAX + 1], at[HVI_BTF_PATH_MAX + HVI_BTF_NAME_MAX + 16];
	const char *tname;
	char *comp, *dot;
	__u32 id, mtype = 0;
	uint32_t size, off = 0, msize = 0;
	size_t plen, alen;
	int r, kind;

	*off_bytes = 0;
	if (size_bytes)
		*size_bytes = 0;
	r = parse_type_name(type, &tname, &kind);
	if (r < 0)
		goto out;
	plen = strnlen(path, HVI_BTF_PATH_MAX + 1);
	if (plen == 0 || plen > HVI_BTF_PATH_MAX) {
		r = hv_err(HV_E_INVAL,
			   "the member path asked of %s is empty or longer than %d characters",
			   tname, HVI_BTF_PATH_MAX);
		goto out;
	}
	memcpy(p, path, plen + 1);
	for (comp = p; comp; comp = dot ? dot + 1 : NULL) {
		dot = strchr(comp, '.');
		if (!is_ident(comp, dot ? (size_t)(dot - comp) : strlen(comp))) {
			r = hv_err(HV_E_INVAL,
				   "'%s' is not a member path of %s: it must be member names (C "
				   "identifiers of at most %d characters) joined by '.'",
				   path, tname, HVI_BTF_NAME_MAX);
			goto out;
		}
	}
	r = find_composite(b->btf, type, &id);
	if (r < 0)
		goto out;
	r = composite_size(b->btf, id, type, &size);
	if (r < 0)
		goto out;
	snprintf(at, sizeof(at), "%s", tname);
	for (comp = p; comp; comp = dot ? dot + 1 : NULL) {
		uint32_t moff = 0;

		dot = strchr(comp, '.');
		if (dot)
			*dot = 0;
		r = one_member(b->btf, id, size, comp, at, &mtype, &moff, &msize);
		if (r < 0)
			goto out;
		off += moff;
		alen = strlen(at);
		snprintf(at + alen, sizeof(at) - alen, ".%s", comp);
		if (dot) {
			int rid = btf__resolve_type(b->btf, mtype);
			const struct btf_type *t =
				rid > 0 ? btf__type_by_id(b->btf, (__u32)rid) : NULL;

			if (!t || !btf_is_composite(t)) {
				r = hv_err(HV_E_UNSUPPORTED,
					   "the member path %s.%s cannot go on through %s: %s",
					   tname, path, at, not_composite_why(t));
				goto out;
			}
			id = (__u32)rid;
			size = msize;
		}
	}
	*off_bytes = off;
	if (size_bytes)
		*size_bytes = msize;
	r = 0;
out:
	return r;
}

/* The value of enumerator @i of enum @t, or HV_E_RANGE. */
static int enum_val(const struct btf_type *t, unsigned i, const char *name, int64_t *v)
{
	if (btf_is_enum(t)) {
		const struct btf_enum *e = btf_enum(t) + i;

		*v = btf_kflag(t) ? (int64_t)(int32_t)e->val : (int64_t)(uint32_t)e->val;
		return 0;
	}
	{
		uint64_t u = btf_enum64_value(btf_enum64(t) + i);

		if (!btf_kflag(t) && u > (uint64_t)INT64_MAX)
			return hv_err(
				HV_E_RANGE,
				"enumerator %s in the guest's BTF is %llu, above what hvpatch "
				"takes (INT64_MAX)",
				name, (unsigned long long)u);
		*v = (int64_t)u;
		return 0;
	}
}

#define KINDS_ENUM ((1u << BTF_KIND_ENUM) | (1u << BTF_KIND_ENUM64))

/* Look for @name among the enumerators of enum @id; *@count grows with each hit. */
static int search_enum(const struct btf *btf, __u32 id, const char *name, unsigned *count,
		       int64_t *value, __u32 *first_enum)
{
	const struct btf_type *t = btf__type_by_id(btf, id);
	unsigned i, vlen;
	int r = 0;

	if (!t || !btf_is_any_enum(t))
		return 0;
	vlen = btf_vlen(t);
	for (i = 0; i < vlen; i++) {
		__u32 noff = btf_is_enum(t) ? btf_enum(t)[i].name_off : btf_enum64(t)[i].name_off;
		const char *en = btf__name_by_offset(btf, noff);
		int64_t v = 0;

		if (!en) {
			char desc[160];

			type_desc(btf, id, desc, sizeof(desc));
			r = hv_err(HV_E_FORMAT,
				   "enumerator %u of %s in the guest's BTF has a name offset %u "
				   "outside its string section; the BTF is inconsistent",
				   i, desc, noff);
			goto out;
		}
		if (strcmp(en, name))
			continue;
		r = enum_val(t, i, name, &v);
		if (r < 0)
			goto out;
		if ((*count)++ == 0) {
			*value = v;
			*first_enum = id;
		} else if (v != *value) {
			char d1[160], d2[160];

			type_desc(btf, *first_enum, d1, sizeof(d1));
			type_desc(btf, id, d2, sizeof(d2));
			r = hv_err(HV_E_FORMAT,
				   "enumerator %s is %lld in %s but %lld in %s of the guest's BTF; "
				   "name the enum to choose",
				   name, (long long)*value, d1, (long long)v, d2);
			goto out;
		}
	}
	r = 0;
out:
	return r;
}

int hvi_btf_enum_value(const struct hvi_btf *b, const char *enum_type, const char *name,
		       int64_t *value)
{
	const struct btf *btf = b->btf;
	const char *ename = NULL;
	unsigned count = 0;
	__u32 id = 0, first = 0, i, n = btf__type_cnt(btf);
	int64_t v = 0;
	int r;

	*value = 0;
	if (!is_ident(name, strlen(name))) {
		r = hv_err(HV_E_INVAL,
			   "'%.*s' is not an enumerator name (a C identifier of at most %d "
			   "characters)",
			   HVI_BTF_NAME_MAX + 8, name, HVI_BTF_NAME_MAX);
		goto out;
	}
	if (enum_type) {
		ename = !strncmp(enum_type, "enum ", 5) ? enum_type + 5 : enum_type;
		if (!is_ident(ename, strlen(ename))) {
			r = hv_err(HV_E_INVAL,
				   "'%.*s' is not an enum name (a C identifier of at most %d "
				   "characters, optionally after \"enum \")",
				   HVI_BTF_NAME_MAX + 8, enum_type, HVI_BTF_NAME_MAX);
			goto out;
		}
		r = find_named(btf, ename, KINDS_ENUM, "enums", &id);
		if (r < 0)
			goto out;
		if (!id) {
			r = hv_err(HV_E_NOTFOUND, "the guest's BTF has no enum named '%s'", ename);
			goto out;
		}
		r = search_enum(btf, id, name, &count, &v, &first);
		if (r < 0)
			goto out;
	} else {
		for (i = 1; i < n; i++) {
			r = search_enum(btf, i, name, &count, &v, &first);
			if (r < 0)
				goto out;
		}
	}
	if (count == 0) {
		if (ename)
			r = hv_err(HV_E_NOTFOUND, "enum %s in the guest's BTF has no enumerator %s",
				   ename, name);
		else
			r = hv_err(HV_E_NOTFOUND,
				   "the guest's BTF has no enumerator %s (a #define is not in BTF)",
				   name);
		goto out;
	}
	*value = v;
	r = 0;
out:
	return r;
}
