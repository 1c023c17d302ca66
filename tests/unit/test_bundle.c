/*
 * Bundle format: round trip, strict parsing of every field, byte flips and
 * truncations, signatures, and the relocation helper.
 */
#include "config.h"

#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "hv_hex.h"
#include "hvb.h"

/* ---------- a valid bundle ---------- */

static char *xdup(const char *s)
{
	char *d = strdup(s);

	ck_assert_ptr_nonnull(d);
	return d;
}

static void add_section(struct hvb_bundle *b, enum hvb_section_kind k, const char *name,
			uint64_t size, uint32_t align)
{
	struct hvb_section *s;

	b->sections = realloc(b->sections, (b->nsections + 1) * sizeof(*s));
	s = &b->sections[b->nsections++];
	memset(s, 0, sizeof(*s));
	s->kind = k;
	s->name = xdup(name);
	s->size_bytes = size;
	s->align_bytes = align;
	s->exec = k == HVB_SEC_TEXT;
	s->write = k == HVB_SEC_DATA || k == HVB_SEC_BSS;
	if (k != HVB_SEC_BSS) {
		uint64_t i;

		s->bytes = malloc(size);
		for (i = 0; i < size; i++)
			s->bytes[i] = (uint8_t)(0x40 + i);
	}
}

static struct hvb_reloc *add_reloc(struct hvb_bundle *b, uint32_t type, uint32_t sec, uint64_t off,
				   int64_t addend, enum hvb_target_kind kind)
{
	struct hvb_reloc *x;

	b->relocs = realloc(b->relocs, (b->nrelocs + 1) * sizeof(*x));
	x = &b->relocs[b->nrelocs++];
	memset(x, 0, sizeof(*x));
	x->type = type;
	x->section = sec;
	x->offset = off;
	x->addend = addend;
	x->kind = kind;
	return x;
}

/* text(64) rodata(16) data(16) bss(32); 2 replacements; 6 relocations. */
static struct hvb_bundle *sample(void)
{
	struct hvb_bundle *b = hvb_new();
	struct hvb_reloc *x;

	ck_assert_ptr_nonnull(b);
	b->patch_id = xdup("sample-fix");
	b->level = xdup("2026.11-3");
	b->description = xdup("A sample patch.\nSecond line.");
	b->targets = calloc(2, sizeof(*b->targets));
	b->ntargets = 2;
	b->targets[0].build_id_len = 20;
	memset(b->targets[0].build_id, 0xab, 20);
	b->targets[0].release = xdup("6.1.0-56-cloud-amd64");
	b->targets[1].build_id_len = 20;
	memset(b->targets[1].build_id, 0xcd, 20);
	b->targets[1].release = xdup("6.1.0-55-cloud-amd64");
	b->cves = calloc(1, sizeof(char *));
	b->cves[0] = xdup("CVE-2026-12345");
	b->ncves = 1;
	add_section(b, HVB_SEC_TEXT, ".text", 64, 16);
	add_section(b, HVB_SEC_RODATA, ".rodata", 16, 8);
	add_section(b, HVB_SEC_DATA, ".data", 16, 8);
	add_section(b, HVB_SEC_BSS, ".bss", 32, 8);
	b->replacements = calloc(2, sizeof(*b->replacements));
	b->nreplacements = 2;
	b->replacements[0].target = xdup("cmdline_proc_show");
	b->replacements[0].target_index = HVB_NO_INDEX;
	b->replacements[0].name = xdup("hvp_cmdline_proc_show");
	b->replacements[0].section = 0;
	b->replacements[0].offset = 0;
	b->replacements[1].target = xdup("show_val");
	b->replacements[1].target_index = 2;
	b->replacements[1].name = xdup("hvp_show_val");
	b->replacements[1].section = 0;
	b->replacements[1].offset = 32;
	x = add_reloc(b, HVB_R_X86_64_PLT32, 0, 6, -4, HVB_TGT_KSYM);
	x->symbol = xdup("seq_puts");
	x = add_reloc(b, HVB_R_X86_64_32S, 0, 12, 3, HVB_TGT_SECTION);
	x->target_section = 1;
	x->target_offset = 4;
	x = add_reloc(b, HVB_R_X86_64_PLT32, 0, 40, -4, HVB_TGT_ORIG);
	x->replacement = 1;
	x = add_reloc(b, HVB_R_X86_64_PC32, 0, 48, -4, HVB_TGT_KSYM);
	x->symbol = xdup("saved_command_line@0");
	x = add_reloc(b, HVB_R_X86_64_64, 2, 0, 0, HVB_TGT_SECTION);
	x->target_section = 0;
	x->target_offset = 32;
	x = add_reloc(b, HVB_R_X86_64_32, 2, 8, 0, HVB_TGT_SECTION);
	x->target_section = 3;
	x->target_offset = 16;
	return b;
}

static void serialize(const struct hvb_bundle *b, uint8_t **out, size_t *len)
{
	ck_assert_int_eq(hvb_serialize(b, out, len), 0);
}

/* Offset of the @nth record of @type in a serialized bundle, or 0. */
static size_t find_rec(const uint8_t *p, size_t len, uint16_t type, int nth)
{
	size_t off = HVB_HEADER_BYTES;

	while (off + 8 <= len) {
		uint16_t t = (uint16_t)(p[off] | p[off + 1] << 8);
		uint32_t n = (uint32_t)p[off + 4] | (uint32_t)p[off + 5] << 8 |
			     (uint32_t)p[off + 6] << 16 | (uint32_t)p[off + 7] << 24;

		if (t == type && nth-- == 0)
			return off;
		off += 8 + n;
	}
	return 0;
}

static char tmpdir[] = "/tmp/hvb-test-XXXXXX";
static char key1[256], key2[256], trusted[256], trusted2[256];

static void setup_keys(void)
{
	char p[1200];

	ck_assert_ptr_nonnull(mkdtemp(tmpdir));
	snprintf(key1, sizeof(key1), "%s/k1", tmpdir);
	snprintf(key2, sizeof(key2), "%s/k2", tmpdir);
	snprintf(trusted, sizeof(trusted), "%s/trusted", tmpdir);
	snprintf(trusted2, sizeof(trusted2), "%s/trusted2", tmpdir);
	ck_assert_int_eq(hvb_keygen(key1, NULL), 0);
	ck_assert_int_eq(hvb_keygen(key2, NULL), 0);
	ck_assert_int_eq(mkdir(trusted, 0755), 0);
	ck_assert_int_eq(mkdir(trusted2, 0755), 0);
	snprintf(p, sizeof(p), "cp %s.pub.pem %s/ && cp %s.pub.pem %s/", key1, trusted, key2,
		 trusted2);
	ck_assert_int_eq(system(p), 0);
	snprintf(key1, sizeof(key1), "%s/k1.key", tmpdir);
	snprintf(key2, sizeof(key2), "%s/k2.key", tmpdir);
}

static void teardown_keys(void)
{
	char p[1200];

	snprintf(p, sizeof(p), "rm -rf %s", tmpdir);
	ck_assert_int_eq(system(p), 0);
	strcpy(tmpdir, "/tmp/hvb-test-XXXXXX");
}

/* ---------- round trip ---------- */

START_TEST(test_roundtrip)
{
	struct hvb_bundle *b = sample(), *c = NULL;
	uint8_t *p = NULL, *q = NULL;
	size_t n = 0, m = 0, i;

	serialize(b, &p, &n);
	ck_assert_int_eq(hvb_parse(p, n, &c), 0);
	ck_assert_str_eq(c->patch_id, "sample-fix");
	ck_assert_str_eq(c->level, "2026.11-3");
	ck_assert_str_eq(c->description, b->description);
	ck_assert_uint_eq(c->ntargets, 2);
	ck_assert_str_eq(c->targets[1].release, "6.1.0-55-cloud-amd64");
	ck_assert_mem_eq(c->targets[0].build_id, b->targets[0].build_id, 20);
	ck_assert_uint_eq(c->ncves, 1);
	ck_assert_str_eq(c->cves[0], "CVE-2026-12345");
	ck_assert_uint_eq(c->nsections, 4);
	for (i = 0; i < 4; i++) {
		ck_assert_int_eq(c->sections[i].kind, b->sections[i].kind);
		ck_assert_uint_eq(c->sections[i].size_bytes, b->sections[i].size_bytes);
		ck_assert_uint_eq(c->sections[i].align_bytes, b->sections[i].align_bytes);
		ck_assert_int_eq(c->sections[i].exec, b->sections[i].exec);
		ck_assert_int_eq(c->sections[i].write, b->sections[i].write);
		if (b->sections[i].bytes)
			ck_assert_mem_eq(c->sections[i].bytes, b->sections[i].bytes,
					 b->sections[i].size_bytes);
	}
	ck_assert_ptr_null(c->sections[3].bytes);
	ck_assert_uint_eq(c->nreplacements, 2);
	ck_assert_str_eq(c->replacements[1].target, "show_val");
	ck_assert_uint_eq(c->replacements[1].target_index, 2);
	ck_assert_uint_eq(c->replacements[0].target_index, HVB_NO_INDEX);
	ck_assert_uint_eq(c->replacements[1].offset, 32);
	ck_assert_uint_eq(c->nrelocs, 6);
	for (i = 0; i < 6; i++) {
		ck_assert_uint_eq(c->relocs[i].type, b->relocs[i].type);
		ck_assert_uint_eq(c->relocs[i].offset, b->relocs[i].offset);
		ck_assert_int_eq(c->relocs[i].addend, b->relocs[i].addend);
		ck_assert_int_eq(c->relocs[i].kind, b->relocs[i].kind);
	}
	ck_assert_str_eq(c->relocs[0].symbol, "seq_puts");
	ck_assert_str_eq(c->relocs[3].symbol, "saved_command_line@0");
	ck_assert_uint_eq(c->relocs[2].replacement, 1);
	ck_assert_uint_eq(c->relocs[1].target_offset, 4);
	ck_assert(!c->sig.present);
	serialize(c, &q, &m);
	ck_assert_uint_eq(n, m);
	ck_assert_mem_eq(p, q, n);
	free(p);
	free(q);
	hvb_free(b);
	hvb_free(c);
}
END_TEST

/* ---------- every field checked (in-memory bundles) ---------- */

typedef void (*mutator)(struct hvb_bundle *b);
#define MUT(name, body)                        \
	static void name(struct hvb_bundle *b) \
	{                                      \
		body;                          \
	}
MUT(m_empty_id, b->patch_id[0] = '\0')
MUT(m_id_char, b->patch_id[2] = '/')
MUT(m_level_space, b->level[1] = ' ')
MUT(m_desc_ctrl, b->description[0] = '\033')
MUT(m_no_targets, b->ntargets = 0)
MUT(m_buildid_len0, b->targets[0].build_id_len = 0)
MUT(m_buildid_long, b->targets[0].build_id_len = HVB_MAX_BUILD_ID + 1)
MUT(m_release_char, b->targets[0].release[0] = '/')
MUT(m_cve_bad, b->cves[0][3] = '_')
MUT(m_cve_short, b->cves[0][9] = '\0')
MUT(m_sec_kind, b->sections[1].kind = (enum hvb_section_kind)9)
MUT(m_sec_align0, b->sections[0].align_bytes = 0)
MUT(m_sec_align3, b->sections[0].align_bytes = 3)
MUT(m_sec_align_big, b->sections[0].align_bytes = 8192)
MUT(m_sec_too_big, b->sections[3].size_bytes = HVB_MAX_SECTION_BYTES + 1)
MUT(m_sec_flags, b->sections[1].exec = true)
MUT(m_sec_write_text, b->sections[0].write = true)
MUT(m_sec_name, b->sections[0].name[0] = '\0')
MUT(m_no_repl, b->nreplacements = 0)
MUT(m_repl_section, b->replacements[0].section = 9)
MUT(m_repl_in_data, b->replacements[0].section = 2)
MUT(m_repl_offset, b->replacements[1].offset = 64)
MUT(m_repl_target, b->replacements[0].target[0] = '-')
MUT(m_repl_dup, {
	free(b->replacements[1].target);
	b->replacements[1].target = xdup("cmdline_proc_show");
})
MUT(m_repl_index_big, b->replacements[1].target_index = 70000)
MUT(m_reloc_type, b->relocs[0].type = 9)
MUT(m_reloc_section, b->relocs[0].section = 4)
MUT(m_reloc_bss, b->relocs[5].section = 3)
MUT(m_reloc_offset, b->relocs[0].offset = 61)
MUT(m_reloc_offset_huge, b->relocs[0].offset = UINT64_MAX - 1)
MUT(m_reloc_64_end, b->relocs[4].offset = 9)
MUT(m_reloc_overlap, b->relocs[1].offset = 8)
MUT(m_reloc_kind, b->relocs[1].kind = (enum hvb_target_kind)7)
MUT(m_reloc_tsec, b->relocs[1].target_section = 4)
MUT(m_reloc_toff, b->relocs[1].target_offset = 17)
MUT(m_reloc_orig, b->relocs[2].replacement = 2)
MUT(m_reloc_sym, b->relocs[0].symbol[0] = '\0')
MUT(m_reloc_sym_char, b->relocs[0].symbol[1] = ' ')
MUT(m_version, b->version_major = 2)
MUT(m_reloc_sym_at_empty, {
	free(b->relocs[0].symbol);
	b->relocs[0].symbol = xdup("seq_puts@");
})
MUT(m_reloc_sym_at_alpha, {
	free(b->relocs[0].symbol);
	b->relocs[0].symbol = xdup("seq_puts@x");
})
MUT(m_reloc_sym_at_big, {
	free(b->relocs[0].symbol);
	b->relocs[0].symbol = xdup("seq_puts@65536");
})
MUT(m_reloc_sym_at_noname, {
	free(b->relocs[0].symbol);
	b->relocs[0].symbol = xdup("@3");
})

static const mutator mutators[] = {
	m_empty_id,
	m_id_char,
	m_level_space,
	m_desc_ctrl,
	m_no_targets,
	m_buildid_len0,
	m_buildid_long,
	m_release_char,
	m_cve_bad,
	m_cve_short,
	m_sec_kind,
	m_sec_align0,
	m_sec_align3,
	m_sec_align_big,
	m_sec_too_big,
	m_sec_flags,
	m_sec_write_text,
	m_sec_name,
	m_no_repl,
	m_repl_section,
	m_repl_in_data,
	m_repl_offset,
	m_repl_target,
	m_repl_dup,
	m_repl_index_big,
	m_reloc_type,
	m_reloc_section,
	m_reloc_bss,
	m_reloc_offset,
	m_reloc_offset_huge,
	m_reloc_64_end,
	m_reloc_overlap,
	m_reloc_kind,
	m_reloc_tsec,
	m_reloc_toff,
	m_reloc_orig,
	m_reloc_sym,
	m_reloc_sym_char,
	m_version,
	m_reloc_sym_at_empty,
	m_reloc_sym_at_alpha,
	m_reloc_sym_at_big,
	m_reloc_sym_at_noname,
};

START_TEST(test_each_field_checked)
{
	struct hvb_bundle *b = sample();
	size_t nt = b->ntargets, nr = b->nreplacements;
	uint8_t *p = NULL;
	size_t n = 0;

	mutators[_i](b);
	ck_assert_int_eq(hvb_check(b), HV_E_FORMAT);
	ck_assert_int_eq(hvb_serialize(b, &p, &n), HV_E_FORMAT);
	ck_assert_ptr_null(p);
	ck_assert(strlen(hv_err_last()->msg) > 20);
	b->ntargets = nt;
	b->nreplacements = nr;
	hvb_free(b);
}
END_TEST

/* ---------- every field checked (raw bytes) ---------- */

static void put32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)v;
	p[1] = (uint8_t)(v >> 8);
	p[2] = (uint8_t)(v >> 16);
	p[3] = (uint8_t)(v >> 24);
}

static int parse_bytes(const uint8_t *p, size_t n)
{
	struct hvb_bundle *b = NULL;
	int r = hvb_parse(p, n, &b);

	if (r == 0)
		ck_assert_ptr_nonnull(b);
	else
		ck_assert_ptr_null(b);
	hvb_free(b);
	return r;
}

START_TEST(test_raw_fields)
{
	struct hvb_bundle *b = sample();
	uint8_t *p = NULL, *q;
	size_t n = 0, at;

	serialize(b, &p, &n);
	q = malloc(n + 64);
	ck_assert_int_eq(parse_bytes(p, n), 0);

#define TRY(desc, edit, len, want)                                                      \
	do {                                                                            \
		memcpy(q, p, n);                                                        \
		edit;                                                                   \
		ck_assert_msg(parse_bytes(q, (len)) == (want), "%s: got %d (%s)", desc, \
			      parse_bytes(q, (len)), hv_err_last()->msg);               \
	} while (0)

	TRY("bad magic", q[0] = 'X', n, HV_E_FORMAT);
	TRY("major version 2", q[8] = 2, n, HV_E_FORMAT);
	TRY("minor version 7 is accepted", q[10] = 7, n, 0);
	TRY("header size", q[12] = 20, n, HV_E_FORMAT);
	TRY("header only", (void)0, HVB_HEADER_BYTES, HV_E_FORMAT);
	TRY("empty", (void)0, 0, HV_E_FORMAT);
	TRY("reserved record field", q[HVB_HEADER_BYTES + 2] = 1, n, HV_E_FORMAT);
	TRY("record longer than the file", put32(q + HVB_HEADER_BYTES + 4, 0xfffffff0u), n,
	    HV_E_FORMAT);
	at = find_rec(p, n, HVB_REC_META, 0);
	TRY("meta string length beyond record", q[at + 8] = 0xff, n, HV_E_FORMAT);
	TRY("NUL inside patch id", q[at + 10] = 0, n, HV_E_FORMAT);
	TRY("unknown mandatory record", q[at] = 0x42, n, HV_E_FORMAT);
	TRY("unknown optional record is skipped but meta is then missing",
	    (q[at] = 0x42, q[at + 1] = 0x80), n, HV_E_FORMAT);
	/* a trailing byte inside the meta record (53 value bytes + 1) */
	memcpy(q, p, at + 8 + 53);
	q[at + 8 + 53] = 0;
	memcpy(q + at + 8 + 54, p + at + 8 + 53, n - (at + 8 + 53));
	put32(q + at + 4, 54);
	ck_assert_int_eq(parse_bytes(q, n + 1), HV_E_FORMAT);
	ck_assert_ptr_nonnull(strstr(hv_err_last()->msg, "trailing"));
	at = find_rec(p, n, HVB_REC_TARGET, 0);
	TRY("build-id length 0", q[at + 8] = 0, n, HV_E_FORMAT);
	TRY("build-id length 65", q[at + 8] = 65, n, HV_E_FORMAT);
	at = find_rec(p, n, HVB_REC_SECTION, 0);
	TRY("section kind 0", q[at + 8] = 0, n, HV_E_FORMAT);
	TRY("section flag bits", q[at + 9] = 0x81, n, HV_E_FORMAT);
	TRY("section pad", q[at + 10] = 1, n, HV_E_FORMAT);
	TRY("section alignment 3", q[at + 12] = 3, n, HV_E_FORMAT);
	TRY("section size oversized", q[at + 23] = 0x10, n, HV_E_FORMAT);
	TRY("section size beyond record", q[at + 16] = 65, n, HV_E_FORMAT);
	TRY("section flags disagree with kind", q[at + 9] = 3, n, HV_E_FORMAT);
	at = find_rec(p, n, HVB_REC_REPLACEMENT, 0);
	TRY("replacement section index", q[at + 8 + 2 + 17 + 4 + 2 + 21] = 7, n, HV_E_FORMAT);
	at = find_rec(p, n, HVB_REC_RELOC, 0);
	TRY("relocation type", q[at + 8] = 99, n, HV_E_FORMAT);
	TRY("relocation section", q[at + 12] = 9, n, HV_E_FORMAT);
	TRY("relocation offset", q[at + 16] = 62, n, HV_E_FORMAT);
	TRY("relocation target kind", q[at + 32] = 5, n, HV_E_FORMAT);
	TRY("a second meta record",
	    (memcpy(q + n, p + find_rec(p, n, HVB_REC_META, 0), 8 + 2 + 10 + 2 + 9 + 2 + 28)),
	    n + 61, HV_E_FORMAT);
	/* a bad CVE string */
	at = find_rec(p, n, HVB_REC_CVE, 0);
	TRY("cve", q[at + 10] = 'X', n, HV_E_FORMAT);
#undef TRY
	free(p);
	free(q);
	hvb_free(b);
}
END_TEST

/* ---------- signatures ---------- */

static void signed_sample(uint8_t **out, size_t *len, const char *key)
{
	struct hvb_bundle *b = sample();
	uint8_t *p = NULL;
	size_t n = 0;

	serialize(b, &p, &n);
	ck_assert_int_eq(hvb_sign(p, n, key, out, len), 0);
	free(p);
	hvb_free(b);
}

START_TEST(test_sign_verify)
{
	struct hvb_verify_info info;
	struct hvb_bundle *b = sample(), *c = NULL;
	uint8_t *p = NULL, *s = NULL, *s2 = NULL, id[HVB_KEY_ID_BYTES];
	size_t n = 0, sn = 0, sn2 = 0;
	char path[512];
	FILE *f;

	serialize(b, &p, &n);
	ck_assert_int_eq(hvb_verify(p, n, trusted, NULL), HV_E_VERIFY);
	ck_assert_ptr_nonnull(strstr(hv_err_last()->msg, "not signed"));
	ck_assert_int_eq(hvb_sign(p, n, key1, &s, &sn), 0);
	ck_assert_uint_gt(sn, n);
	ck_assert_mem_eq(s, p, n);
	ck_assert_int_eq(hvb_verify(s, sn, trusted, &info), 0);
	ck_assert_int_eq(hvb_key_id_of_file(key1, id), 0);
	ck_assert_mem_eq(info.key_id, id, HVB_KEY_ID_BYTES);
	ck_assert_ptr_nonnull(strstr(info.key_file, "k1.pub.pem"));
	ck_assert_int_eq(hvb_parse(s, sn, &c), 0);
	ck_assert(c->sig.present);
	ck_assert_uint_eq(c->sig.signed_bytes, n);
	ck_assert_mem_eq(c->sig.key_id, id, HVB_KEY_ID_BYTES);
	hvb_free(c);
	/* Unknown key. */
	ck_assert_int_eq(hvb_verify(s, sn, trusted2, NULL), HV_E_VERIFY);
	ck_assert_ptr_nonnull(strstr(hv_err_last()->msg, "not among"));
	/* Re-signing replaces the signature. */
	ck_assert_int_eq(hvb_sign(s, sn, key2, &s2, &sn2), 0);
	ck_assert_uint_eq(sn2, sn);
	ck_assert_int_eq(hvb_verify(s2, sn2, trusted2, NULL), 0);
	ck_assert_int_eq(hvb_verify(s2, sn2, trusted, NULL), HV_E_VERIFY);
	/* A signature record followed by anything is malformed. */
	{
		uint8_t *grown = realloc(s2, sn2 + 1);

		ck_assert_ptr_nonnull(grown);
		s2 = grown;
		s2[sn2] = 0;
	}
	ck_assert_int_eq(hvb_verify(s2, sn2 + 1, trusted2, NULL), HV_E_FORMAT);
	/* A .pem in the trusted directory that is not a key is an error. */
	snprintf(path, sizeof(path), "%s/junk.pem", trusted2);
	f = fopen(path, "w");
	ck_assert_ptr_nonnull(f);
	fputs("-----BEGIN PUBLIC KEY-----\nnot base64\n-----END PUBLIC KEY-----\n", f);
	fclose(f);
	ck_assert_int_eq(hvb_verify(s, sn, trusted2, NULL), HV_E_INVAL);
	ck_assert_ptr_nonnull(strstr(hv_err_last()->msg, "junk.pem"));
	unlink(path);
	/* Missing directory, missing or wrong key files. */
	ck_assert_int_eq(hvb_verify(s, sn, "/nonexistent/dir", NULL), HV_E_IO);
	free(s2);
	s2 = NULL;
	ck_assert_int_eq(hvb_sign(p, n, "/nonexistent.key", &s2, &sn2), HV_E_IO);
	snprintf(path, sizeof(path), "%s/k1.pub.pem", trusted);
	ck_assert_int_eq(hvb_sign(p, n, path, &s2, &sn2), HV_E_INVAL);
	ck_assert_ptr_null(s2);
	/* keygen never overwrites. */
	snprintf(path, sizeof(path), "%s/k1", tmpdir);
	ck_assert_int_eq(hvb_keygen(path, NULL), HV_E_STATE);
	free(p);
	free(s);
	hvb_free(b);
}
END_TEST

START_TEST(test_private_key_mode)
{
	struct stat st;

	ck_assert_int_eq(stat(key1, &st), 0);
	ck_assert_int_eq(st.st_mode & 0777, 0600);
}
END_TEST

START_TEST(test_flip_every_byte)
{
	uint8_t *s = NULL, *q;
	size_t sn = 0, i;
	static const uint8_t masks[] = { 0x01, 0x80, 0xff };
	unsigned k, parsed_ok = 0;

	signed_sample(&s, &sn, key1);
	q = malloc(sn);
	ck_assert_int_eq(hvb_verify(s, sn, trusted, NULL), 0);
	for (i = 0; i < sn; i++) {
		for (k = 0; k < sizeof(masks); k++) {
			struct hvb_bundle *b = NULL;
			int r;

			memcpy(q, s, sn);
			q[i] ^= masks[k];
			r = hvb_verify(q, sn, trusted, NULL);
			ck_assert_msg(r == HV_E_VERIFY || r == HV_E_FORMAT,
				      "flip 0x%02x at offset %zu: verify returned %d", masks[k], i,
				      r);
			if (hvb_parse(q, sn, &b) == 0)
				parsed_ok++;
			hvb_free(b);
		}
	}
	/* Some flips (inside section bytes, the signature) still parse: the
	 * signature is what catches them. */
	ck_assert_uint_gt(parsed_ok, 0);
	free(q);
	free(s);
}
END_TEST

START_TEST(test_truncate_every_length)
{
	uint8_t *s = NULL;
	size_t sn = 0, i;

	signed_sample(&s, &sn, key1);
	for (i = 0; i < sn; i++) {
		struct hvb_bundle *b = NULL;
		uint8_t *q = malloc(i ? i : 1); /* exact size, so ASan sees over-reads */
		int r;

		memcpy(q, s, i);
		r = hvb_verify(q, i, trusted, NULL);
		ck_assert_msg(r == HV_E_VERIFY || r == HV_E_FORMAT, "length %zu: verify %d", i, r);
		if (hvb_parse(q, i, &b) == 0)
			ck_assert(!b->sig.present);
		hvb_free(b);
		free(q);
	}
	free(s);
}
END_TEST

START_TEST(test_load_verified)
{
	uint8_t *s = NULL;
	size_t sn = 0;
	char path[512];
	struct hvb_bundle *b = NULL;
	FILE *f;

	signed_sample(&s, &sn, key1);
	snprintf(path, sizeof(path), "%s/b.hvb", tmpdir);
	f = fopen(path, "w");
	ck_assert_uint_eq(fwrite(s, 1, sn, f), sn);
	fclose(f);
	ck_assert_int_eq(hvb_load_verified(path, trusted, &b, NULL), 0);
	ck_assert_str_eq(b->level, "2026.11-3");
	hvb_free(b);
	b = NULL;
	ck_assert_int_eq(hvb_load_verified(path, trusted2, &b, NULL), HV_E_VERIFY);
	ck_assert_ptr_null(b);
	ck_assert_ptr_nonnull(strstr(hv_err_last()->msg, path));
	free(s);
}
END_TEST

/* ---------- relocations ---------- */

struct symtab {
	const char *name;
	uint64_t addr;
};

static int resolve(void *ctx, const char *name, uint64_t *addr)
{
	const struct symtab *t = ctx;

	for (; t->name; t++)
		if (!strcmp(t->name, name)) {
			*addr = t->addr;
			return 0;
		}
	return hv_err(HV_E_NOTFOUND, "kernel symbol %s is not in the test table", name);
}

static uint64_t rd(const uint8_t *p, unsigned n)
{
	uint64_t v = 0;

	while (n--)
		v = (v << 8) | p[n];
	return v;
}

START_TEST(test_apply_relocs)
{
	struct hvb_bundle *b = sample();
	/* bss low, so the R_X86_64_32 reference to it fits */
	const uint64_t secs[4] = { 0xffffffffc0100000ull, 0xffffffffc0101000ull,
				   0xffffffffc0102000ull, 0x10000 };
	const uint64_t tgts[2] = { 0xffffffff81234560ull, 0xffffffff81300000ull };
	const struct symtab syms[] = { { "seq_puts", 0xffffffff81400000ull },
				       { "saved_command_line@0", 0xffffffff82000008ull },
				       { NULL, 0 } };
	struct hvb_placement pl = { secs, tgts };
	struct hvb_patched out;
	int32_t v32;

	ck_assert_int_eq(hvb_apply_relocs(b, &pl, resolve, (void *)syms, &out), 0);
	ck_assert_uint_eq(out.nsections, 4);
	/* PLT32 seq_puts - 4 at text+6: S + A - P */
	v32 = (int32_t)(uint32_t)rd(out.bytes[0] + 6, 4);
	ck_assert_int_eq((int64_t)v32, (int64_t)(0xffffffff81400000ull - 4 - (secs[0] + 6)));
	/* 32 bss+16 */
	ck_assert_uint_eq(rd(out.bytes[2] + 8, 4), 0x10010);
	/* 32S rodata+4 + 3 */
	ck_assert_uint_eq(rd(out.bytes[0] + 12, 4), (uint32_t)(secs[1] + 7));
	/* original body of replacement 1: target + 5 - 4 - P */
	v32 = (int32_t)(uint32_t)rd(out.bytes[0] + 40, 4);
	ck_assert_int_eq((int64_t)v32, (int64_t)(tgts[1] + 5 - 4 - (secs[0] + 40)));
	/* PC32 saved_command_line */
	v32 = (int32_t)(uint32_t)rd(out.bytes[0] + 48, 4);
	ck_assert_int_eq((int64_t)v32, (int64_t)(0xffffffff82000008ull - 4 - (secs[0] + 48)));
	/* 64: data+0 = text + 32 */
	ck_assert_uint_eq(rd(out.bytes[2], 8), secs[0] + 32);
	/* untouched bytes keep their values; the bundle itself is not changed */
	ck_assert_uint_eq(out.bytes[0][0], 0x40);
	ck_assert_uint_eq(b->sections[0].bytes[6], 0x46);
	/* bss copies are zero */
	ck_assert_uint_eq(out.bytes[3][31], 0);
	hvb_patched_free(&out);
	hvb_free(b);
}
END_TEST

START_TEST(test_apply_relocs_errors)
{
	struct hvb_bundle *b = sample();
	uint64_t secs[4] = { 0xffffffffc0100000ull, 0xffffffffc0101000ull, 0xffffffffc0102000ull,
			     0xffffffffc0103000ull };
	const uint64_t tgts[2] = { 0xffffffff81234560ull, 0xffffffff81300000ull };
	struct symtab syms[] = { { "seq_puts", 0xffffffff81400000ull },
				 { "saved_command_line@0", 0xffffffff82000008ull },
				 { NULL, 0 } };
	struct hvb_placement pl = { secs, tgts };
	struct hvb_patched out;

	/* PC32 out of reach: symbol 4 GiB below. */
	syms[0].addr = 0xfffffffe80000000ull;
	ck_assert_int_eq(hvb_apply_relocs(b, &pl, resolve, syms, &out), HV_E_RANGE);
	ck_assert_ptr_nonnull(strstr(hv_err_last()->msg, "relocation 0"));
	ck_assert_ptr_nonnull(strstr(hv_err_last()->msg, "seq_puts"));
	ck_assert_ptr_null(out.bytes);
	syms[0].addr = 0xffffffff81400000ull;
	/* Unknown symbol: the resolver's error, with the relocation named. */
	syms[1].name = "other";
	ck_assert_int_eq(hvb_apply_relocs(b, &pl, resolve, syms, &out), HV_E_NOTFOUND);
	ck_assert_ptr_nonnull(strstr(hv_err_last()->msg, "saved_command_line"));
	ck_assert_ptr_nonnull(strstr(hv_err_last()->msg, "relocation 3"));
	syms[1].name = "saved_command_line@0";
	/* 32S needs the top 2 GiB: rodata placed low. */
	secs[1] = 0x0000000100000000ull;
	ck_assert_int_eq(hvb_apply_relocs(b, &pl, resolve, syms, &out), HV_E_RANGE);
	ck_assert_ptr_nonnull(strstr(hv_err_last()->msg, "R_X86_64_32S"));
	/* R_X86_64_32: bss above 4 GiB does not fit. */
	secs[1] = 0xffffffffc0101000ull;
	ck_assert_int_eq(hvb_apply_relocs(b, &pl, resolve, syms, &out), HV_E_RANGE);
	ck_assert_ptr_nonnull(strstr(hv_err_last()->msg, "R_X86_64_32 "));
	secs[3] = 0x10000;
	/* ...and with bss low, all fit except the text PC32s, which are far from
	 * the kernel symbols when text is low. */
	secs[0] = 0x200000000ull;
	ck_assert_int_eq(hvb_apply_relocs(b, &pl, resolve, syms, &out), HV_E_RANGE);
	secs[0] = 0xffffffffc0100000ull;
	ck_assert_int_eq(hvb_apply_relocs(b, &pl, resolve, syms, &out), 0);
	ck_assert_uint_eq(rd(out.bytes[2] + 8, 4), 0x10010);
	hvb_patched_free(&out);
	/* Misaligned section. */
	secs[0] += 8;
	ck_assert_int_eq(hvb_apply_relocs(b, &pl, resolve, syms, &out), HV_E_RANGE);
	ck_assert_ptr_nonnull(strstr(hv_err_last()->msg, "aligned"));
	hvb_free(b);
}
END_TEST

START_TEST(test_target_index)
{
	struct hvb_bundle *b = sample();
	uint8_t id[20], sha[32];
	char hex[65];

	memset(id, 0xcd, sizeof(id));
	ck_assert_int_eq(hvb_target_index(b, id, sizeof(id)), 1);
	memset(id, 0xab, sizeof(id));
	ck_assert_int_eq(hvb_target_index(b, id, sizeof(id)), 0);
	ck_assert_int_eq(hvb_target_index(b, id, 19), HV_E_NOTFOUND);
	id[19] = 0x01;
	ck_assert_int_eq(hvb_target_index(b, id, sizeof(id)), HV_E_NOTFOUND);
	ck_assert_ptr_nonnull(strstr(hv_err_last()->msg, "abababababababababababababababababab01"));
	ck_assert_ptr_nonnull(strstr(hv_err_last()->msg, "6.1.0-55-cloud-amd64 (build-id cdcd"));
	ck_assert_int_eq(hvb_sha256((const uint8_t *)"abc", 3, sha), 0);
	hv_hex_encode(hex, sizeof(hex), sha, sizeof(sha));
	ck_assert_str_eq(hex, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
	hvb_free(b);
}
END_TEST

START_TEST(test_names)
{
	ck_assert_str_eq(hvb_reloc_type_name(HVB_R_X86_64_PLT32), "R_X86_64_PLT32");
	ck_assert_str_eq(hvb_reloc_type_name(77), "unknown");
	ck_assert_uint_eq(hvb_reloc_width(HVB_R_X86_64_64), 8);
	ck_assert_uint_eq(hvb_reloc_width(HVB_R_X86_64_32S), 4);
	ck_assert_uint_eq(hvb_reloc_width(9), 0);
	ck_assert_str_eq(hvb_section_kind_name(HVB_SEC_BSS), "bss");
	ck_assert_str_eq(hvb_target_kind_name(HVB_TGT_ORIG), "original body");
	hvb_free(NULL);
	hvb_patched_free(NULL);
}
END_TEST

static Suite *suite(void)
{
	Suite *s = suite_create("bundle");
	TCase *t = tcase_create("format");
	TCase *k = tcase_create("signatures");

	tcase_add_test(t, test_roundtrip);
	tcase_add_loop_test(t, test_each_field_checked, 0,
			    (int)(sizeof(mutators) / sizeof(mutators[0])));
	tcase_add_test(t, test_raw_fields);
	tcase_add_test(t, test_apply_relocs);
	tcase_add_test(t, test_apply_relocs_errors);
	tcase_add_test(t, test_names);
	tcase_add_test(t, test_target_index);
	suite_add_tcase(s, t);
	tcase_add_unchecked_fixture(k, setup_keys, teardown_keys);
	tcase_set_timeout(k, 60);
	tcase_add_test(k, test_sign_verify);
	tcase_add_test(k, test_private_key_mode);
	tcase_add_test(k, test_flip_every_byte);
	tcase_add_test(k, test_truncate_every_length);
	tcase_add_test(k, test_load_verified);
	suite_add_tcase(s, k);
	return s;
}

int main(void)
{
	SRunner *r = srunner_create(suite());
	int failed;

	srunner_set_fork_status(r, CK_NOFORK);
	srunner_run_all(r, CK_NORMAL);
	failed = srunner_ntests_failed(r);
	srunner_free(r);
	return failed ? 1 : 0;
}
