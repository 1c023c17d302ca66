/*
 * hvb.c: the bundle byte format (docs/BUNDLE-FORMAT.md): strict parser,
 * structural checks, serializer, and the relocation helper.
 */
/* Guarded so the fuzz runner (tests/fuzz/run.sh) can build it without configure. */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

#include "hvb.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hv_buf.h"
#include "hv_hex.h"

/* ---------- names ---------- */

const char *hvb_section_kind_name(enum hvb_section_kind k)
{
	switch (k) {
	case HVB_SEC_TEXT:
		return "text";
	case HVB_SEC_RODATA:
		return "rodata";
	case HVB_SEC_DATA:
		return "data";
	case HVB_SEC_BSS:
		return "bss";
	}
	return "unknown";
}

const char *hvb_reloc_type_name(uint32_t type)
{
	switch (type) {
	case HVB_R_X86_64_64:
		return "R_X86_64_64";
	case HVB_R_X86_64_PC32:
		return "R_X86_64_PC32";
	case HVB_R_X86_64_PLT32:
		return "R_X86_64_PLT32";
	case HVB_R_X86_64_32:
		return "R_X86_64_32";
	case HVB_R_X86_64_32S:
		return "R_X86_64_32S";
	case HVB_R_X86_64_PC64:
		return "R_X86_64_PC64";
	}
	return "unknown";
}

const char *hvb_target_kind_name(enum hvb_target_kind k)
{
	switch (k) {
	case HVB_TGT_KSYM:
		return "kernel symbol";
	case HVB_TGT_SECTION:
		return "bundle section";
	case HVB_TGT_ORIG:
		return "original body";
	}
	return "unknown";
}

unsigned hvb_reloc_width(uint32_t type)
{
	switch (type) {
	case HVB_R_X86_64_64:
	case HVB_R_X86_64_PC64:
		return 8;
	case HVB_R_X86_64_PC32:
	case HVB_R_X86_64_PLT32:
	case HVB_R_X86_64_32:
	case HVB_R_X86_64_32S:
		return 4;
	}
	return 0;
}

/* ---------- allocation ---------- */

struct hvb_bundle *hvb_new(void)
{
	struct hvb_bundle *b = calloc(1, sizeof(*b));

	if (b) {
		b->version_major = HVB_VERSION_MAJOR;
		b->version_minor = HVB_VERSION_MINOR;
	}
	return b;
}

void hvb_free(struct hvb_bundle *b)
{
	size_t i;

	if (!b)
		return;
	free(b->patch_id);
	free(b->level);
	free(b->description);
	for (i = 0; i < b->ntargets; i++)
		free(b->targets[i].release);
	free(b->targets);
	for (i = 0; i < b->ncves; i++)
		free(b->cves[i]);
	free(b->cves);
	for (i = 0; i < b->nsections; i++) {
		free(b->sections[i].name);
		free(b->sections[i].bytes);
	}
	free(b->sections);
	for (i = 0; i < b->nreplacements; i++) {
		free(b->replacements[i].target);
		free(b->replacements[i].name);
	}
	free(b->replacements);
	for (i = 0; i < b->nrelocs; i++)
		free(b->relocs[i].symbol);
	free(b->relocs);
	free(b);
}

/* ---------- string classes ---------- */

static bool is_id_char(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
	       c == '.' || c == '_' || c == '-';
}

static bool is_release_char(char c)
{
	return is_id_char(c) || c == '+' || c == '~';
}

static bool is_sym_char(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
	       c == '.' || c == '_' || c == '$';
}

static bool is_module_char(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
	       c == '_' || c == '-';
}

bool hvb_sym_module(const char *qname, char *module, size_t module_len, const char **rest)
{
	const char *colon = qname ? strchr(qname, ':') : NULL;
	size_t n = colon ? (size_t)(colon - qname) : 0;

	if (module_len)
		module[0] = '\0';
	if (rest)
		*rest = qname;
	if (!colon || n >= module_len)
		return false;
	memcpy(module, qname, n);
	module[n] = '\0';
	if (rest)
		*rest = colon + 1;
	return true;
}

/* 0 if @s is 1..@max chars of class @ok, else HV_E_FORMAT naming @what. */
static int check_str(const char *s, size_t max, bool (*ok)(char), const char *what)
{
	size_t i;

	if (!s || !*s)
		return hv_err(HV_E_FORMAT, "bundle %s is empty; it must be 1 to %zu characters",
			      what, max);
	for (i = 0; s[i]; i++) {
		if (i >= max)
			return hv_err(HV_E_FORMAT, "bundle %s is longer than %zu characters", what,
				      max);
		if (!ok(s[i]))
			return hv_err(HV_E_FORMAT,
				      "bundle %s '%.64s' has the disallowed character 0x%02x at "
				      "position %zu",
				      what, s, (unsigned char)s[i], i);
	}
	return 0;
}

static int check_description(const char *s)
{
	size_t i;

	if (!s)
		return hv_err(HV_E_FORMAT, "bundle description is missing");
	for (i = 0; s[i]; i++) {
		unsigned char c = (unsigned char)s[i];

		if (i >= HVB_MAX_DESCRIPTION)
			return hv_err(HV_E_FORMAT,
				      "bundle description is longer than %d characters",
				      HVB_MAX_DESCRIPTION);
		if ((c < 0x20 && c != '\n' && c != '\t') || c == 0x7f)
			return hv_err(HV_E_FORMAT,
				      "bundle description has the control character 0x%02x at "
				      "position %zu; only printable text, tabs and newlines are "
				      "allowed",
				      c, i);
	}
	return 0;
}

static int check_cve(const char *s)
{
	size_t i, n = s ? strlen(s) : 0;

	if (n < 13 || n > 32 || strncmp(s, "CVE-", 4) != 0 || s[8] != '-')
		goto bad;
	for (i = 4; i < n; i++)
		if (i != 8 && (s[i] < '0' || s[i] > '9'))
			goto bad;
	return 0;
bad:
	return hv_err(HV_E_FORMAT, "bundle CVE id '%.40s' is not of the form CVE-YYYY-NNNN",
		      s ? s : "");
}

/*
 * "MODULE:rest" or "rest": the module part, when there is one, is 1 to
 * HVB_MAX_MODULE_NAME characters of [A-Za-z0-9_-]; *@rest gets the rest.
 */
static int check_module_part(const char *s, const char *what, const char **rest)
{
	const char *colon = s ? strchr(s, ':') : NULL;
	char mod[HVB_MAX_MODULE_NAME + 1];
	size_t n;

	*rest = s;
	if (!colon)
		return 0;
	n = (size_t)(colon - s);
	if (n == 0 || n > HVB_MAX_MODULE_NAME)
		return hv_err(HV_E_FORMAT,
			      "bundle %s '%.80s' has a module name of %zu characters before ':'; "
			      "1 to %d are allowed",
			      what, s, n, HVB_MAX_MODULE_NAME);
	memcpy(mod, s, n);
	mod[n] = '\0';
	*rest = colon + 1;
	return check_str(mod, HVB_MAX_MODULE_NAME, is_module_char, what);
}

/*
 * A symbol a relocation names: "name", or "name@N" for the N-th (from 0,
 * address order) of several same-named symbols, each optionally
 * "MODULE:" first for a symbol of a loaded module.
 */
static int check_ksym(const char *s)
{
	const char *at = s ? strchr(s, '@') : NULL;
	char name[HVB_MAX_NAME + 1];
	size_t n, i;

	if (check_module_part(s, "relocation symbol", &s) < 0)
		return HV_E_FORMAT;
	if (!at)
		return check_str(s, HVB_MAX_NAME, is_sym_char, "relocation symbol");
	n = (size_t)(at - s);
	if (n == 0 || n > HVB_MAX_NAME || strlen(at + 1) < 1 || strlen(at + 1) > 5)
		goto bad;
	for (i = 1; at[i]; i++)
		if (at[i] < '0' || at[i] > '9')
			goto bad;
	if (strtoul(at + 1, NULL, 10) > 0xffff)
		goto bad;
	memcpy(name, s, n);
	name[n] = '\0';
	return check_str(name, HVB_MAX_NAME, is_sym_char, "relocation symbol");
bad:
	return hv_err(HV_E_FORMAT,
		      "bundle relocation symbol '%.80s' is not NAME or NAME@N (N from 0 to 65535)",
		      s);
}

static bool is_pow2(uint32_t v)
{
	return v && !(v & (v - 1));
}

/* ---------- structural checks ---------- */

struct span {
	uint32_t section;
	uint64_t start, end;
	size_t idx;
};

static int cmp_span(const void *a, const void *b)
{
	const struct span *x = a, *y = b;

	if (x->section != y->section)
		return x->section < y->section ? -1 : 1;
	if (x->start != y->start)
		return x->start < y->start ? -1 : 1;
	return 0;
}

static int check_sections(const struct hvb_bundle *b)
{
	size_t i;
	uint64_t total = 0;

	if (b->nsections < 1 || b->nsections > HVB_MAX_SECTIONS)
		return hv_err(HV_E_FORMAT, "bundle has %zu sections; 1 to %d are allowed",
			      b->nsections, HVB_MAX_SECTIONS);
	for (i = 0; i < b->nsections; i++) {
		const struct hvb_section *s = &b->sections[i];
		int r;

		if (s->kind < HVB_SEC_TEXT || s->kind > HVB_SEC_BSS)
			return hv_err(HV_E_FORMAT,
				      "bundle section %zu has unknown kind %d (expected 1 text, "
				      "2 rodata, 3 data or 4 bss)",
				      i, (int)s->kind);
		r = check_str(s->name, HVB_MAX_ID, is_id_char, "section name");
		if (r < 0)
			return hv_err_prefix("section %zu", i);
		if (!is_pow2(s->align_bytes) || s->align_bytes > HVB_MAX_ALIGN_BYTES)
			return hv_err(
				HV_E_FORMAT,
				"bundle section %zu (%s) has alignment %u; it must be a power "
				"of two up to %d",
				i, s->name, s->align_bytes, HVB_MAX_ALIGN_BYTES);
		if (s->size_bytes > HVB_MAX_SECTION_BYTES)
			return hv_err(
				HV_E_FORMAT,
				"bundle section %zu (%s) is %llu bytes; at most %u are allowed", i,
				s->name, (unsigned long long)s->size_bytes, HVB_MAX_SECTION_BYTES);
		if (s->exec != (s->kind == HVB_SEC_TEXT) ||
		    s->write != (s->kind == HVB_SEC_DATA || s->kind == HVB_SEC_BSS))
			return hv_err(HV_E_FORMAT,
				      "bundle section %zu (%s) has exec/write flags that do not "
				      "match its kind %s",
				      i, s->name, hvb_section_kind_name(s->kind));
		if (s->kind != HVB_SEC_BSS && s->size_bytes && !s->bytes)
			return hv_err(HV_E_FORMAT, "bundle section %zu (%s) has no bytes", i,
				      s->name);
		total += s->size_bytes;
	}
	if (total > HVB_MAX_BUNDLE_BYTES)
		return hv_err(HV_E_FORMAT, "bundle sections total %llu bytes; at most %u allowed",
			      (unsigned long long)total, HVB_MAX_BUNDLE_BYTES);
	return 0;
}

static int check_replacements(const struct hvb_bundle *b)
{
	size_t i, j;

	if (b->nreplacements < 1 || b->nreplacements > HVB_MAX_REPLACEMENTS)
		return hv_err(HV_E_FORMAT, "bundle has %zu replacements; 1 to %d are allowed",
			      b->nreplacements, HVB_MAX_REPLACEMENTS);
	for (i = 0; i < b->nreplacements; i++) {
		const struct hvb_replacement *p = &b->replacements[i];

		const char *fn;

		if (check_module_part(p->target, "replacement target", &fn) < 0 ||
		    check_str(fn, HVB_MAX_NAME, is_sym_char, "replacement target") < 0 ||
		    check_str(p->name, HVB_MAX_NAME, is_sym_char, "replacement name") < 0)
			return hv_err_prefix("replacement %zu", i);
		if (p->target_index != HVB_NO_INDEX && p->target_index > 0xffff)
			return hv_err(HV_E_FORMAT,
				      "bundle replacement %zu (%s) has disambiguator %u; at most "
				      "65535 is allowed",
				      i, p->target, p->target_index);
		if (p->section >= b->nsections)
			return hv_err(HV_E_FORMAT,
				      "bundle replacement %zu (%s) names section %u, but there are "
				      "only %zu",
				      i, p->target, p->section, b->nsections);
		if (b->sections[p->section].kind != HVB_SEC_TEXT)
			return hv_err(HV_E_FORMAT,
				      "bundle replacement %zu (%s) points into section %u (%s), "
				      "which is not executable",
				      i, p->target, p->section, b->sections[p->section].name);
		if (p->offset >= b->sections[p->section].size_bytes)
			return hv_err(HV_E_FORMAT,
				      "bundle replacement %zu (%s) has entry offset %llu outside "
				      "section %u (%llu bytes)",
				      i, p->target, (unsigned long long)p->offset, p->section,
				      (unsigned long long)b->sections[p->section].size_bytes);
		for (j = 0; j < i; j++) {
			const struct hvb_replacement *q = &b->replacements[j];

			if (strcmp(p->target, q->target) != 0)
				continue;
			if (p->target_index == q->target_index || p->target_index == HVB_NO_INDEX ||
			    q->target_index == HVB_NO_INDEX)
				return hv_err(
					HV_E_FORMAT,
					"bundle replacements %zu and %zu both replace %s; each "
					"kernel function may be replaced once (use name@N for "
					"distinct same-named functions)",
					j, i, p->target);
		}
	}
	return 0;
}

static int check_relocs(const struct hvb_bundle *b)
{
	struct span *spans = NULL;
	size_t i;
	int r = 0;

	if (b->nrelocs > HVB_MAX_RELOCS)
		return hv_err(HV_E_FORMAT, "bundle has %zu relocations; at most %d are allowed",
			      b->nrelocs, HVB_MAX_RELOCS);
	if (b->nrelocs) {
		spans = calloc(b->nrelocs, sizeof(*spans));
		if (!spans)
			return hv_err(HV_E_NOMEM, "out of memory checking %zu relocations",
				      b->nrelocs);
	}
	for (i = 0; i < b->nrelocs; i++) {
		const struct hvb_reloc *x = &b->relocs[i];
		unsigned w = hvb_reloc_width(x->type);
		const struct hvb_section *s;

		if (!w) {
			r = hv_err(HV_E_FORMAT,
				   "bundle relocation %zu has unsupported type %u (supported: "
				   "R_X86_64_64, PC32, PLT32, 32, 32S, PC64)",
				   i, x->type);
			goto out;
		}
		if (x->section >= b->nsections) {
			r = hv_err(
				HV_E_FORMAT,
				"bundle relocation %zu patches section %u, but there are only %zu",
				i, x->section, b->nsections);
			goto out;
		}
		s = &b->sections[x->section];
		if (s->kind == HVB_SEC_BSS) {
			r = hv_err(HV_E_FORMAT,
				   "bundle relocation %zu patches section %u (%s), which is bss "
				   "and has no bytes",
				   i, x->section, s->name);
			goto out;
		}
		if (x->offset > s->size_bytes || s->size_bytes - x->offset < w) {
			r = hv_err(HV_E_FORMAT,
				   "bundle relocation %zu patches %u bytes at offset %llu, outside "
				   "section %u (%s, %llu bytes)",
				   i, w, (unsigned long long)x->offset, x->section, s->name,
				   (unsigned long long)s->size_bytes);
			goto out;
		}
		switch (x->kind) {
		case HVB_TGT_KSYM:
			r = check_ksym(x->symbol);
			if (r < 0) {
				r = hv_err_prefix("relocation %zu", i);
				goto out;
			}
			break;
		case HVB_TGT_SECTION:
			if (x->target_section >= b->nsections ||
			    x->target_offset > b->sections[x->target_section].size_bytes) {
				r = hv_err(HV_E_FORMAT,
					   "bundle relocation %zu targets section %u offset %llu, "
					   "which does not exist",
					   i, x->target_section,
					   (unsigned long long)x->target_offset);
				goto out;
			}
			break;
		case HVB_TGT_ORIG:
			if (x->replacement >= b->nreplacements) {
				r = hv_err(HV_E_FORMAT,
					   "bundle relocation %zu targets the original body of "
					   "replacement %u, but there are only %zu",
					   i, x->replacement, b->nreplacements);
				goto out;
			}
			break;
		default:
			r = hv_err(HV_E_FORMAT,
				   "bundle relocation %zu has unknown target kind %d (expected 1 "
				   "kernel symbol, 2 section, 3 original body)",
				   i, (int)x->kind);
			goto out;
		}
		if (x->kind != HVB_TGT_KSYM && x->symbol) {
			r = hv_err(HV_E_FORMAT, "bundle relocation %zu has a stray symbol name", i);
			goto out;
		}
		spans[i].section = x->section;
		spans[i].start = x->offset;
		spans[i].end = x->offset + w;
		spans[i].idx = i;
	}
	if (b->nrelocs > 1) {
		qsort(spans, b->nrelocs, sizeof(*spans), cmp_span);
		for (i = 1; i < b->nrelocs; i++) {
			if (spans[i].section == spans[i - 1].section &&
			    spans[i].start < spans[i - 1].end) {
				r = hv_err(
					HV_E_FORMAT,
					"bundle relocations %zu and %zu overlap in section %u at "
					"offset %llu",
					spans[i - 1].idx, spans[i].idx, spans[i].section,
					(unsigned long long)spans[i].start);
				goto out;
			}
		}
	}
out:
	free(spans);
	return r;
}

int hvb_check(const struct hvb_bundle *b)
{
	size_t i;
	int r;

	if (!b)
		return hv_err(HV_E_INVAL, "no bundle was given to check");
	if (b->version_major != HVB_VERSION_MAJOR)
		return hv_err(HV_E_FORMAT,
			      "bundle format version %u.%u is not supported (this hvpatch reads "
			      "%d.x); use a matching hvpatch",
			      b->version_major, b->version_minor, HVB_VERSION_MAJOR);
	r = check_str(b->patch_id, HVB_MAX_ID, is_id_char, "patch id");
	if (r < 0)
		return r;
	r = check_str(b->level, HVB_MAX_ID, is_id_char, "patch level");
	if (r < 0)
		return r;
	r = check_description(b->description);
	if (r < 0)
		return r;
	if (b->ntargets < 1 || b->ntargets > HVB_MAX_TARGETS)
		return hv_err(HV_E_FORMAT,
			      "bundle names %zu target kernels; 1 to %d are allowed (each a "
			      "build-id and release)",
			      b->ntargets, HVB_MAX_TARGETS);
	for (i = 0; i < b->ntargets; i++) {
		if (b->targets[i].build_id_len < 1 || b->targets[i].build_id_len > HVB_MAX_BUILD_ID)
			return hv_err(HV_E_FORMAT,
				      "bundle target %zu has a %zu-byte build-id; 1 to %d bytes "
				      "are allowed",
				      i, b->targets[i].build_id_len, HVB_MAX_BUILD_ID);
		r = check_str(b->targets[i].release, HVB_MAX_ID, is_release_char, "target release");
		if (r < 0)
			return hv_err_prefix("target %zu", i);
	}
	if (b->ncves > HVB_MAX_CVES)
		return hv_err(HV_E_FORMAT, "bundle lists %zu CVE ids; at most %d are allowed",
			      b->ncves, HVB_MAX_CVES);
	for (i = 0; i < b->ncves; i++) {
		r = check_cve(b->cves[i]);
		if (r < 0)
			return r;
	}
	r = check_sections(b);
	if (r < 0)
		return r;
	r = check_replacements(b);
	if (r < 0)
		return r;
	return check_relocs(b);
}

int hvb_target_index(const struct hvb_bundle *b, const uint8_t *build_id, size_t len)
{
	char want[2 * HVB_MAX_BUILD_ID + 1] = "", have[1024] = "";
	size_t i, used = 0;

	for (i = 0; b && i < b->ntargets; i++)
		if (b->targets[i].build_id_len == len &&
		    memcmp(b->targets[i].build_id, build_id, len) == 0)
			return (int)i;
	if (len <= HVB_MAX_BUILD_ID && build_id)
		hv_hex_encode(want, sizeof(want), build_id, len);
	for (i = 0; b && i < b->ntargets && used < sizeof(have) - 1; i++) {
		char hex[2 * HVB_MAX_BUILD_ID + 1];
		int n;

		hv_hex_encode(hex, sizeof(hex), b->targets[i].build_id, b->targets[i].build_id_len);
		n = snprintf(have + used, sizeof(have) - used, "%s%s (build-id %s)", i ? ", " : "",
			     b->targets[i].release, hex);
		if (n < 0)
			break;
		used += (size_t)n;
	}
	return hv_err(HV_E_NOTFOUND,
		      "bundle %s is not built for the kernel with build-id %s; it targets %s; "
		      "build the patch against that kernel's headers",
		      b ? b->patch_id : "?", want, have[0] ? have : "no kernel");
}

/* ---------- parser ---------- */

static const char *rec_name(uint16_t t)
{
	switch (t) {
	case HVB_REC_META:
		return "meta";
	case HVB_REC_TARGET:
		return "target";
	case HVB_REC_CVE:
		return "cve";
	case HVB_REC_SECTION:
		return "section";
	case HVB_REC_REPLACEMENT:
		return "replacement";
	case HVB_REC_RELOC:
		return "relocation";
	case HVB_REC_SIGNATURE:
		return "signature";
	}
	return "unknown";
}

/* Read a u16-length string (no NUL bytes inside) into a fresh copy. */
static int get_str(struct hv_buf *r, size_t max, char **out)
{
	uint16_t n;
	const uint8_t *p;
	char *s;
	int e;

	e = hv_buf_get_u16(r, &n);
	if (e < 0)
		return e;
	if (n > max)
		return hv_err(HV_E_FORMAT,
			      "%s has a %u-byte string at offset %zu; at most %zu "
			      "bytes are allowed",
			      r->what, n, r->off - 2, max);
	e = hv_buf_get_bytes(r, n, &p);
	if (e < 0)
		return e;
	if (memchr(p, 0, n))
		return hv_err(HV_E_FORMAT, "%s has a string with a NUL byte at offset %zu", r->what,
			      r->off - n);
	s = malloc((size_t)n + 1);
	if (!s)
		return hv_err(HV_E_NOMEM, "out of memory reading %s", r->what);
	memcpy(s, p, n);
	s[n] = '\0';
	*out = s;
	return 0;
}

/* Grow *@arr (of @size-byte items, *@n used) by one zeroed item. */
static void *grow(void *arr_p, size_t *n, size_t size, size_t max, const char *what)
{
	void **arr = arr_p;
	void *p;

	if (*n >= max) {
		hv_err(HV_E_FORMAT, "bundle has more than %zu %s records", max, what);
		return NULL;
	}
	p = realloc(*arr, (*n + 1) * size);
	if (!p) {
		hv_err(HV_E_NOMEM, "out of memory reading bundle %s records", what);
		return NULL;
	}
	*arr = p;
	p = (uint8_t *)p + *n * size;
	memset(p, 0, size);
	(*n)++;
	return p;
}

static int parse_meta(struct hv_buf *r, struct hvb_bundle *b)
{
	int e;

	if (b->patch_id)
		return hv_err(HV_E_FORMAT, "bundle has a second meta record at offset %zu", r->off);
	e = get_str(r, HVB_MAX_ID, &b->patch_id);
	if (e < 0)
		return e;
	e = get_str(r, HVB_MAX_ID, &b->level);
	if (e < 0)
		return e;
	return get_str(r, HVB_MAX_DESCRIPTION, &b->description);
}

static int parse_target(struct hv_buf *r, struct hvb_bundle *b)
{
	struct hvb_target *t =
		grow(&b->targets, &b->ntargets, sizeof(*t), HVB_MAX_TARGETS, "target");
	uint8_t n;
	int e;

	if (!t)
		return hv_err_last()->code;
	e = hv_buf_get_u8(r, &n);
	if (e < 0)
		return e;
	if (n < 1 || n > HVB_MAX_BUILD_ID)
		return hv_err(HV_E_FORMAT,
			      "bundle target record has build-id length %u; 1 to %d expected", n,
			      HVB_MAX_BUILD_ID);
	e = hv_buf_copy(r, t->build_id, n);
	if (e < 0)
		return e;
	t->build_id_len = n;
	return get_str(r, HVB_MAX_ID, &t->release);
}

static int parse_cve(struct hv_buf *r, struct hvb_bundle *b)
{
	char **c = grow(&b->cves, &b->ncves, sizeof(*c), HVB_MAX_CVES, "cve");

	if (!c)
		return hv_err_last()->code;
	return get_str(r, 32, c);
}

static int parse_section(struct hv_buf *r, struct hvb_bundle *b)
{
	struct hvb_section *s =
		grow(&b->sections, &b->nsections, sizeof(*s), HVB_MAX_SECTIONS, "section");
	uint8_t kind, flags;
	uint16_t pad;
	uint64_t size;
	int e;

	if (!s)
		return hv_err_last()->code;
	if ((e = hv_buf_get_u8(r, &kind)) < 0 || (e = hv_buf_get_u8(r, &flags)) < 0 ||
	    (e = hv_buf_get_u16(r, &pad)) < 0 || (e = hv_buf_get_u32(r, &s->align_bytes)) < 0 ||
	    (e = hv_buf_get_u64(r, &size)) < 0)
		return e;
	if (kind < HVB_SEC_TEXT || kind > HVB_SEC_BSS)
		return hv_err(HV_E_FORMAT, "bundle section record has unknown kind %u", kind);
	if (flags & ~3u || pad)
		return hv_err(HV_E_FORMAT,
			      "bundle section record has reserved bits set (flags 0x%x, pad "
			      "0x%x)",
			      flags, pad);
	s->kind = (enum hvb_section_kind)kind;
	s->exec = flags & 1;
	s->write = (flags & 2) != 0;
	if (size > HVB_MAX_SECTION_BYTES)
		return hv_err(HV_E_FORMAT,
			      "bundle section record claims %llu bytes; at most %u are allowed",
			      (unsigned long long)size, HVB_MAX_SECTION_BYTES);
	s->size_bytes = size;
	e = get_str(r, HVB_MAX_ID, &s->name);
	if (e < 0)
		return e;
	if (s->kind != HVB_SEC_BSS && size) {
		s->bytes = malloc(size);
		if (!s->bytes)
			return hv_err(HV_E_NOMEM, "out of memory for a %llu-byte section",
				      (unsigned long long)size);
		e = hv_buf_copy(r, s->bytes, size);
		if (e < 0)
			return e;
	}
	return 0;
}

static int parse_replacement(struct hv_buf *r, struct hvb_bundle *b)
{
	struct hvb_replacement *p = grow(&b->replacements, &b->nreplacements, sizeof(*p),
					 HVB_MAX_REPLACEMENTS, "replacement");
	int e;

	if (!p)
		return hv_err_last()->code;
	if ((e = get_str(r, HVB_MAX_NAME, &p->target)) < 0 ||
	    (e = hv_buf_get_u32(r, &p->target_index)) < 0 ||
	    (e = get_str(r, HVB_MAX_NAME, &p->name)) < 0 ||
	    (e = hv_buf_get_u32(r, &p->section)) < 0 || (e = hv_buf_get_u64(r, &p->offset)) < 0)
		return e;
	return 0;
}

static int parse_reloc(struct hv_buf *r, struct hvb_bundle *b)
{
	struct hvb_reloc *x =
		grow(&b->relocs, &b->nrelocs, sizeof(*x), HVB_MAX_RELOCS, "relocation");
	uint64_t addend;
	uint8_t kind;
	int e;

	if (!x)
		return hv_err_last()->code;
	if ((e = hv_buf_get_u32(r, &x->type)) < 0 || (e = hv_buf_get_u32(r, &x->section)) < 0 ||
	    (e = hv_buf_get_u64(r, &x->offset)) < 0 || (e = hv_buf_get_u64(r, &addend)) < 0 ||
	    (e = hv_buf_get_u8(r, &kind)) < 0)
		return e;
	x->addend = (int64_t)addend;
	x->kind = (enum hvb_target_kind)kind;
	switch (kind) {
	case HVB_TGT_KSYM:
		return get_str(r, HVB_MAX_NAME, &x->symbol);
	case HVB_TGT_SECTION:
		if ((e = hv_buf_get_u32(r, &x->target_section)) < 0)
			return e;
		return hv_buf_get_u64(r, &x->target_offset);
	case HVB_TGT_ORIG:
		return hv_buf_get_u32(r, &x->replacement);
	}
	return hv_err(HV_E_FORMAT, "bundle relocation record has unknown target kind %u", kind);
}

static int parse_signature(struct hv_buf *r, struct hvb_bundle *b)
{
	uint16_t n;
	int e;

	if ((e = hv_buf_get_u8(r, &b->sig.alg)) < 0)
		return e;
	if (b->sig.alg != 1)
		return hv_err(HV_E_FORMAT,
			      "bundle signature uses algorithm %u; only 1 (Ed25519) is known",
			      b->sig.alg);
	if ((e = hv_buf_copy(r, b->sig.key_id, HVB_KEY_ID_BYTES)) < 0 ||
	    (e = hv_buf_get_u16(r, &n)) < 0)
		return e;
	if (n != HVB_SIG_BYTES)
		return hv_err(HV_E_FORMAT, "bundle signature is %u bytes; Ed25519 needs %d", n,
			      HVB_SIG_BYTES);
	if ((e = hv_buf_copy(r, b->sig.sig, HVB_SIG_BYTES)) < 0)
		return e;
	b->sig.present = true;
	return 0;
}

int hvb_parse(const uint8_t *buf, size_t len, struct hvb_bundle **out)
{
	struct hvb_bundle *b = NULL;
	struct hv_buf in;
	const uint8_t *magic;
	uint32_t header_bytes;
	int r;

	*out = NULL;
	if (!buf || len > HVB_MAX_BUNDLE_BYTES) {
		r = hv_err(HV_E_FORMAT, "bundle is %zu bytes; at most %u are allowed", len,
			   HVB_MAX_BUNDLE_BYTES);
		goto out;
	}
	b = hvb_new();
	if (!b) {
		r = hv_err(HV_E_NOMEM, "out of memory for a bundle");
		goto out;
	}
	hv_buf_init(&in, buf, len, "bundle header");
	if ((r = hv_buf_get_bytes(&in, 8, &magic)) < 0)
		goto out;
	if (memcmp(magic, HVB_MAGIC, 8) != 0) {
		r = hv_err(HV_E_FORMAT,
			   "file is not an hvpatch bundle: the first 8 bytes are not \"%s\"",
			   HVB_MAGIC);
		goto out;
	}
	if ((r = hv_buf_get_u16(&in, &b->version_major)) < 0 ||
	    (r = hv_buf_get_u16(&in, &b->version_minor)) < 0 ||
	    (r = hv_buf_get_u32(&in, &header_bytes)) < 0)
		goto out;
	if (b->version_major != HVB_VERSION_MAJOR) {
		r = hv_err(HV_E_FORMAT,
			   "bundle format version %u.%u is not supported (this hvpatch reads "
			   "%d.x); use a matching hvpatch",
			   b->version_major, b->version_minor, HVB_VERSION_MAJOR);
		goto out;
	}
	if (header_bytes != HVB_HEADER_BYTES) {
		r = hv_err(HV_E_FORMAT, "bundle header says it is %u bytes; version %d.x uses %d",
			   header_bytes, HVB_VERSION_MAJOR, HVB_HEADER_BYTES);
		goto out;
	}
	in.what = "bundle";
	while (hv_buf_remaining(&in)) {
		size_t start = in.off;
		uint16_t type, reserved;
		uint32_t rlen;
		struct hv_buf rec;

		if (b->sig.present) {
			r = hv_err(
				HV_E_FORMAT,
				"bundle has data after its signature record (at offset %zu); the "
				"signature must be last",
				start);
			goto out;
		}
		if ((r = hv_buf_get_u16(&in, &type)) < 0 ||
		    (r = hv_buf_get_u16(&in, &reserved)) < 0 ||
		    (r = hv_buf_get_u32(&in, &rlen)) < 0)
			goto out;
		if (reserved) {
			r = hv_err(
				HV_E_FORMAT,
				"bundle record at offset %zu has reserved field 0x%x (must be 0)",
				start, reserved);
			goto out;
		}
		if ((r = hv_buf_sub(&in, rlen, &rec, rec_name(type))) < 0)
			goto out;
		switch (type) {
		case HVB_REC_META:
			r = parse_meta(&rec, b);
			break;
		case HVB_REC_TARGET:
			r = parse_target(&rec, b);
			break;
		case HVB_REC_CVE:
			r = parse_cve(&rec, b);
			break;
		case HVB_REC_SECTION:
			r = parse_section(&rec, b);
			break;
		case HVB_REC_REPLACEMENT:
			r = parse_replacement(&rec, b);
			break;
		case HVB_REC_RELOC:
			r = parse_reloc(&rec, b);
			break;
		case HVB_REC_SIGNATURE:
			b->sig.signed_bytes = start;
			r = parse_signature(&rec, b);
			break;
		default:
			if (type & HVB_REC_OPTIONAL)
				continue;
			r = hv_err(
				HV_E_FORMAT,
				"bundle record at offset %zu has unknown type 0x%x; this hvpatch "
				"is too old for the bundle or the bundle is damaged",
				start, type);
			goto out;
		}
		if (r < 0) {
			r = hv_err_prefix("%s record at offset %zu", rec_name(type), start);
			goto out;
		}
		if (hv_buf_remaining(&rec)) {
			r = hv_err(
				HV_E_FORMAT,
				"bundle %s record at offset %zu has %zu unexpected trailing bytes",
				rec_name(type), start, hv_buf_remaining(&rec));
			goto out;
		}
	}
	if (!b->patch_id) {
		r = hv_err(HV_E_FORMAT, "bundle has no meta record (patch id, level, description)");
		goto out;
	}
	r = hvb_check(b);
	if (r < 0)
		goto out;
	*out = b;
	b = NULL;
	r = 0;
out:
	hvb_free(b);
	return r;
}

/* ---------- serializer ---------- */

struct wbuf {
	uint8_t *p;
	size_t len, cap;
	bool failed;
};

static void w_bytes(struct wbuf *w, const void *p, size_t n)
{
	if (w->failed)
		return;
	if (w->len + n > w->cap) {
		size_t cap = w->cap ? w->cap : 4096;
		uint8_t *q;

		while (cap < w->len + n)
			cap *= 2;
		q = realloc(w->p, cap);
		if (!q) {
			w->failed = true;
			return;
		}
		w->p = q;
		w->cap = cap;
	}
	if (n)
		memcpy(w->p + w->len, p, n);
	w->len += n;
}

static void w_le(struct wbuf *w, uint64_t v, unsigned n)
{
	uint8_t b[8];
	unsigned i;

	for (i = 0; i < n; i++)
		b[i] = (uint8_t)(v >> (8 * i));
	w_bytes(w, b, n);
}

static void w_str(struct wbuf *w, const char *s)
{
	size_t n = strlen(s);

	w_le(w, n, 2);
	w_bytes(w, s, n);
}

/* Start a record; returns the offset of its length field. */
static size_t w_rec(struct wbuf *w, uint16_t type)
{
	size_t at;

	w_le(w, type, 2);
	w_le(w, 0, 2);
	at = w->len;
	w_le(w, 0, 4);
	return at;
}

static void w_end(struct wbuf *w, size_t at)
{
	uint32_t n;
	unsigned i;

	if (w->failed)
		return;
	n = (uint32_t)(w->len - at - 4);
	for (i = 0; i < 4; i++)
		w->p[at + i] = (uint8_t)(n >> (8 * i));
}

int hvb_serialize(const struct hvb_bundle *b, uint8_t **out, size_t *len)
{
	struct wbuf w = { 0 };
	size_t i, at;
	int r;

	*out = NULL;
	*len = 0;
	r = hvb_check(b);
	if (r < 0)
		return r;
	w_bytes(&w, HVB_MAGIC, 8);
	w_le(&w, HVB_VERSION_MAJOR, 2);
	w_le(&w, HVB_VERSION_MINOR, 2);
	w_le(&w, HVB_HEADER_BYTES, 4);
	at = w_rec(&w, HVB_REC_META);
	w_str(&w, b->patch_id);
	w_str(&w, b->level);
	w_str(&w, b->description);
	w_end(&w, at);
	for (i = 0; i < b->ntargets; i++) {
		at = w_rec(&w, HVB_REC_TARGET);
		w_le(&w, b->targets[i].build_id_len, 1);
		w_bytes(&w, b->targets[i].build_id, b->targets[i].build_id_len);
		w_str(&w, b->targets[i].release);
		w_end(&w, at);
	}
	for (i = 0; i < b->ncves; i++) {
		at = w_rec(&w, HVB_REC_CVE);
		w_str(&w, b->cves[i]);
		w_end(&w, at);
	}
	for (i = 0; i < b->nsections; i++) {
		const struct hvb_section *s = &b->sections[i];

		at = w_rec(&w, HVB_REC_SECTION);
		w_le(&w, s->kind, 1);
		w_le(&w, (s->exec ? 1u : 0u) | (s->write ? 2u : 0u), 1);
		w_le(&w, 0, 2);
		w_le(&w, s->align_bytes, 4);
		w_le(&w, s->size_bytes, 8);
		w_str(&w, s->name);
		if (s->kind != HVB_SEC_BSS && s->size_bytes)
			w_bytes(&w, s->bytes, s->size_bytes);
		w_end(&w, at);
	}
	for (i = 0; i < b->nreplacements; i++) {
		const struct hvb_replacement *p = &b->replacements[i];

		at = w_rec(&w, HVB_REC_REPLACEMENT);
		w_str(&w, p->target);
		w_le(&w, p->target_index, 4);
		w_str(&w, p->name);
		w_le(&w, p->section, 4);
		w_le(&w, p->offset, 8);
		w_end(&w, at);
	}
	for (i = 0; i < b->nrelocs; i++) {
		const struct hvb_reloc *x = &b->relocs[i];

		at = w_rec(&w, HVB_REC_RELOC);
		w_le(&w, x->type, 4);
		w_le(&w, x->section, 4);
		w_le(&w, x->offset, 8);
		w_le(&w, (uint64_t)x->addend, 8);
		w_le(&w, x->kind, 1);
		if (x->kind == HVB_TGT_KSYM) {
			w_str(&w, x->symbol);
		} else if (x->kind == HVB_TGT_SECTION) {
			w_le(&w, x->target_section, 4);
			w_le(&w, x->target_offset, 8);
		} else {
			w_le(&w, x->replacement, 4);
		}
		w_end(&w, at);
	}
	if (w.failed) {
		free(w.p);
		return hv_err(HV_E_NOMEM, "out of memory serializing bundle %s", b->patch_id);
	}
	if (w.len > HVB_MAX_BUNDLE_BYTES) {
		free(w.p);
		return hv_err(HV_E_RANGE, "bundle %s would be %zu bytes; at most %u are allowed",
			      b->patch_id, w.len, HVB_MAX_BUNDLE_BYTES);
	}
	*out = w.p;
	*len = w.len;
	return 0;
}

/* ---------- relocation ---------- */

void hvb_patched_free(struct hvb_patched *p)
{
	size_t i;

	if (!p)
		return;
	for (i = 0; i < p->nsections; i++)
		free(p->bytes[i]);
	free(p->bytes);
	p->bytes = NULL;
	p->nsections = 0;
}

static void put_le(uint8_t *p, uint64_t v, unsigned n)
{
	unsigned i;

	for (i = 0; i < n; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

/* Either resolver: @by_name (prefixed with the relocation) or @by_reloc. */
static int relocate(const struct hvb_bundle *b, const struct hvb_placement *pl,
		    hvb_resolve_fn by_name, hvb_reloc_ksym_fn by_reloc, void *ctx,
		    struct hvb_patched *out)
{
	struct hvb_patched p = { 0 };
	size_t i;
	int r = 0;

	memset(out, 0, sizeof(*out));
	if (!b || !pl || !pl->section_addr || (b->nreplacements && !pl->target_addr)) {
		r = hv_err(HV_E_INVAL, "hvb_apply_relocs needs a bundle and section and target "
				       "addresses");
		goto out;
	}
	for (i = 0; i < b->nsections; i++) {
		if (pl->section_addr[i] & (b->sections[i].align_bytes - 1)) {
			r = hv_err(HV_E_RANGE,
				   "section %zu (%s) placed at 0x%llx is not aligned to %u bytes",
				   i, b->sections[i].name, (unsigned long long)pl->section_addr[i],
				   b->sections[i].align_bytes);
			goto out;
		}
	}
	p.bytes = calloc(b->nsections ? b->nsections : 1, sizeof(*p.bytes));
	if (!p.bytes) {
		r = hv_err(HV_E_NOMEM, "out of memory copying bundle sections");
		goto out;
	}
	p.nsections = b->nsections;
	for (i = 0; i < b->nsections; i++) {
		const struct hvb_section *s = &b->sections[i];

		p.bytes[i] = calloc(s->size_bytes ? s->size_bytes : 1, 1);
		if (!p.bytes[i]) {
			r = hv_err(HV_E_NOMEM, "out of memory copying section %s", s->name);
			goto out;
		}
		if (s->bytes && s->size_bytes)
			memcpy(p.bytes[i], s->bytes, s->size_bytes);
	}
	for (i = 0; i < b->nrelocs; i++) {
		const struct hvb_reloc *x = &b->relocs[i];
		unsigned w = hvb_reloc_width(x->type);
		uint64_t S = 0, P, v;
		char tname[HVB_MAX_NAME + 64];

		if (!w || x->section >= b->nsections ||
		    x->offset > b->sections[x->section].size_bytes ||
		    b->sections[x->section].size_bytes - x->offset < w) {
			r = hv_err(HV_E_INVAL,
				   "relocation %zu does not fit its section; check the bundle with "
				   "hvb_check first",
				   i);
			goto out;
		}
		switch (x->kind) {
		case HVB_TGT_KSYM:
			snprintf(tname, sizeof(tname), "%s", x->symbol ? x->symbol : "?");
			if (by_reloc) {
				r = by_reloc(ctx, b, i, &S);
				if (r < 0)
					goto out;
				break;
			}
			r = by_name ? by_name(ctx, x->symbol, &S)
				    : hv_err(HV_E_INVAL, "no resolver");
			if (r < 0) {
				r = hv_err_prefix("relocation %zu (%s at %s+0x%llx) to kernel "
						  "symbol %s",
						  i, hvb_reloc_type_name(x->type),
						  b->sections[x->section].name,
						  (unsigned long long)x->offset, tname);
				goto out;
			}
			break;
		case HVB_TGT_SECTION:
			if (x->target_section >= b->nsections) {
				r = hv_err(HV_E_INVAL, "relocation %zu targets a missing section",
					   i);
				goto out;
			}
			snprintf(tname, sizeof(tname), "%s+0x%llx",
				 b->sections[x->target_section].name,
				 (unsigned long long)x->target_offset);
			S = pl->section_addr[x->target_section] + x->target_offset;
			break;
		case HVB_TGT_ORIG:
			if (x->replacement >= b->nreplacements) {
				r = hv_err(HV_E_INVAL,
					   "relocation %zu targets a missing replacement", i);
				goto out;
			}
			snprintf(tname, sizeof(tname), "original body of %s",
				 b->replacements[x->replacement].target);
			S = pl->target_addr[x->replacement] + HVB_ORIG_BODY_OFFSET;
			break;
		default:
			r = hv_err(HV_E_INVAL, "relocation %zu has an unknown target kind", i);
			goto out;
		}
		P = pl->section_addr[x->section] + x->offset;
		v = S + (uint64_t)x->addend;
		switch (x->type) {
		case HVB_R_X86_64_PC32:
		case HVB_R_X86_64_PLT32:
		case HVB_R_X86_64_PC64:
			v -= P;
			break;
		default:
			break;
		}
		if ((x->type == HVB_R_X86_64_PC32 || x->type == HVB_R_X86_64_PLT32 ||
		     x->type == HVB_R_X86_64_32S) &&
		    (int64_t)v != (int64_t)(int32_t)(uint32_t)v) {
			r = hv_err(HV_E_RANGE,
				   "relocation %zu (%s at %s+0x%llx) to %s: value 0x%llx does not "
				   "fit a signed 32-bit field; place the patch within 2 GiB of its "
				   "targets (and 32S data in the top 2 GiB)",
				   i, hvb_reloc_type_name(x->type), b->sections[x->section].name,
				   (unsigned long long)x->offset, tname, (unsigned long long)v);
			goto out;
		}
		if (x->type == HVB_R_X86_64_32 && v > UINT32_MAX) {
			r = hv_err(HV_E_RANGE,
				   "relocation %zu (R_X86_64_32 at %s+0x%llx) to %s: value 0x%llx "
				   "does not fit an unsigned 32-bit field",
				   i, b->sections[x->section].name, (unsigned long long)x->offset,
				   tname, (unsigned long long)v);
			goto out;
		}
		put_le(p.bytes[x->section] + x->offset, v, w);
	}
	*out = p;
	p.bytes = NULL;
	p.nsections = 0;
	r = 0;
out:
	hvb_patched_free(&p);
	return r;
}

int hvb_apply_relocs(const struct hvb_bundle *b, const struct hvb_placement *pl,
		     hvb_resolve_fn resolve, void *ctx, struct hvb_patched *out)
{
	return relocate(b, pl, resolve, NULL, ctx, out);
}

int hvb_apply_relocs_ksym(const struct hvb_bundle *b, const struct hvb_placement *pl,
			  hvb_reloc_ksym_fn resolve, void *ctx, struct hvb_patched *out)
{
	if (!resolve) {
		memset(out, 0, sizeof(*out));
		return hv_err(HV_E_INVAL, "hvb_apply_relocs_ksym needs a resolver");
	}
	return relocate(b, pl, NULL, resolve, ctx, out);
}
