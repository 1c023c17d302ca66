/*
 * hvb_ko.c: the symbol table of a module's .ko, read through bounded
 * getters (see hvb_ko.h).
 */
#include "config.h"

#include <errno.h>
#include <ftw.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "hv_buf.h"
#include "hvb.h"
#include "hvb_ko.h"

#define SHT_SYMTAB_  2
#define SHT_RELA_    4
#define SHT_NOBITS_  8
#define SHF_WRITE_   0x1
#define SHF_ALLOC_   0x2
#define SHF_EXEC_    0x4
#define SHN_LORES_   0xff00
#define STT_FUNC_    2
#define STT_SECTION_ 3
#define STT_FILE_    4
#define STB_LOCAL_   0
#define R_PC32_	     2
#define R_PLT32_     4

struct ko_sec {
	const char *name;
	uint32_t type, link, info;
	uint64_t flags, offset, size;
};

struct ko_sym {
	const char *name;
	uint16_t shndx;
	uint8_t bind, type;
	uint64_t value;
	unsigned dup_index; /* N among same-named symbols (load order) */
};

struct hvb_ko {
	char what[256];
	const uint8_t *buf;
	size_t len;
	struct ko_sec *secs;
	size_t nsecs;
	struct ko_sym *syms; /* sorted by name, then load order */
	size_t nsyms;
	uint32_t fentry; /* symbol index of __fentry__ in the symbol table, or 0 */
	size_t symtab;	 /* section index of the symbol table */
};

void hvb_ko_free(struct hvb_ko *ko)
{
	if (!ko)
		return;
	free(ko->secs);
	free(ko->syms);
	free(ko);
}

/* A NUL-terminated name at @off of string section @sec, or NULL. */
static const char *ko_str(const struct hvb_ko *ko, const struct ko_sec *sec, uint64_t off)
{
	struct hv_buf b;
	const char *s;
	size_t n;

	if (sec->type == SHT_NOBITS_ || sec->offset > ko->len || sec->size > ko->len - sec->offset)
		return NULL;
	hv_buf_init(&b, ko->buf + sec->offset, sec->size, "string table");
	if (hv_buf_seek(&b, off) < 0 || hv_buf_get_cstr(&b, HVB_MAX_NAME, &s, &n) < 0) {
		hv_err_clear();
		return NULL;
	}
	return s;
}

static int sym_cmp(const void *a, const void *b)
{
	const struct ko_sym *x = a, *y = b;
	int c = strcmp(x->name, y->name);

	if (c)
		return c;
	if (x->shndx != y->shndx)
		return x->shndx < y->shndx ? -1 : 1;
	return x->value < y->value ? -1 : x->value > y->value;
}

static int read_sections(struct hvb_ko *ko)
{
	struct hv_buf b;
	uint64_t shoff;
	uint16_t shentsize, shnum, shstrndx;
	const uint8_t *ident;
	uint16_t type, machine;
	size_t i;
	int r;

	hv_buf_init(&b, ko->buf, ko->len, "ELF header");
	if ((r = hv_buf_get_bytes(&b, 16, &ident)) < 0 || (r = hv_buf_get_u16(&b, &type)) < 0 ||
	    (r = hv_buf_get_u16(&b, &machine)) < 0 || (r = hv_buf_seek(&b, 0x28)) < 0 ||
	    (r = hv_buf_get_u64(&b, &shoff)) < 0 || (r = hv_buf_seek(&b, 0x3a)) < 0 ||
	    (r = hv_buf_get_u16(&b, &shentsize)) < 0 || (r = hv_buf_get_u16(&b, &shnum)) < 0 ||
	    (r = hv_buf_get_u16(&b, &shstrndx)) < 0)
		return hv_err_prefix("%s", ko->what);
	if (memcmp(ident, "\177ELF\2\1", 6) != 0 || type != 1 || machine != 62)
		return hv_err(HV_E_FORMAT,
			      "%s is not an x86-64 ELF relocatable object (a kernel module)",
			      ko->what);
	if (shentsize != 64 || shnum == 0 || shnum > HVB_KO_MAX_SECTIONS || shstrndx >= shnum ||
	    shoff > ko->len || (ko->len - shoff) / 64 < shnum)
		return hv_err(HV_E_FORMAT,
			      "%s has a section header table that does not fit the file (%u "
			      "entries of %u bytes at 0x%llx)",
			      ko->what, shnum, shentsize, (unsigned long long)shoff);
	ko->secs = calloc(shnum, sizeof(*ko->secs));
	if (!ko->secs)
		return hv_err(HV_E_NOMEM, "out of memory reading %s", ko->what);
	ko->nsecs = shnum;
	b.what = "section header";
	for (i = 0; i < shnum; i++) {
		struct ko_sec *s = &ko->secs[i];
		uint32_t name;
		uint64_t addr;

		if ((r = hv_buf_seek(&b, shoff + 64 * i)) < 0 ||
		    (r = hv_buf_get_u32(&b, &name)) < 0 || (r = hv_buf_get_u32(&b, &s->type)) < 0 ||
		    (r = hv_buf_get_u64(&b, &s->flags)) < 0 ||
		    (r = hv_buf_get_u64(&b, &addr)) < 0 ||
		    (r = hv_buf_get_u64(&b, &s->offset)) < 0 ||
		    (r = hv_buf_get_u64(&b, &s->size)) < 0 ||
		    (r = hv_buf_get_u32(&b, &s->link)) < 0 ||
		    (r = hv_buf_get_u32(&b, &s->info)) < 0)
			return hv_err_prefix("%s section %zu", ko->what, i);
		if (s->type != SHT_NOBITS_ &&
		    (s->offset > ko->len || s->size > ko->len - s->offset))
			return hv_err(
				HV_E_FORMAT,
				"%s section %zu (0x%llx bytes at 0x%llx) lies outside the file",
				ko->what, i, (unsigned long long)s->size,
				(unsigned long long)s->offset);
		s->name = (const char *)(uintptr_t)name; /* resolved below */
	}
	for (i = 0; i < shnum; i++) {
		const char *n = ko_str(ko, &ko->secs[shstrndx], (uintptr_t)ko->secs[i].name);

		if (!n)
			return hv_err(HV_E_FORMAT,
				      "%s section %zu has a name outside its string table",
				      ko->what, i);
		ko->secs[i].name = n;
	}
	for (i = 0; i < shnum; i++)
		if (ko->secs[i].type == SHT_SYMTAB_)
			break;
	if (i == shnum)
		return hv_err(HV_E_FORMAT, "%s has no symbol table (a stripped module)", ko->what);
	ko->symtab = i;
	if (ko->secs[i].link >= shnum)
		return hv_err(HV_E_FORMAT, "%s's symbol table links to section %u of %u", ko->what,
			      ko->secs[i].link, shnum);
	return 0;
}

static int read_symbols(struct hvb_ko *ko)
{
	const struct ko_sec *st = &ko->secs[ko->symtab], *str = &ko->secs[st->link];
	struct hv_buf b;
	size_t n = st->size / 24, i, k = 0;
	int r;

	if (st->size % 24 || n > HVB_KO_MAX_SYMS)
		return hv_err(n > HVB_KO_MAX_SYMS ? HV_E_RANGE : HV_E_FORMAT,
			      "%s's symbol table is %llu bytes: not a whole number of symbols, or "
			      "more than %u",
			      ko->what, (unsigned long long)st->size, HVB_KO_MAX_SYMS);
	ko->syms = calloc(n ? n : 1, sizeof(*ko->syms));
	if (!ko->syms)
		return hv_err(HV_E_NOMEM, "out of memory reading %s", ko->what);
	hv_buf_init(&b, ko->buf + st->offset, st->size, "symbol");
	for (i = 0; i < n; i++) {
		struct ko_sym *s = &ko->syms[k];
		uint32_t name;
		uint8_t info, other;
		uint64_t size;
		const char *nm;

		if ((r = hv_buf_get_u32(&b, &name)) < 0 || (r = hv_buf_get_u8(&b, &info)) < 0 ||
		    (r = hv_buf_get_u8(&b, &other)) < 0 ||
		    (r = hv_buf_get_u16(&b, &s->shndx)) < 0 ||
		    (r = hv_buf_get_u64(&b, &s->value)) < 0 || (r = hv_buf_get_u64(&b, &size)) < 0)
			return hv_err_prefix("%s symbol %zu", ko->what, i);
		if (!name)
			continue;
		nm = ko_str(ko, str, name);
		if (!nm)
			return hv_err(HV_E_FORMAT,
				      "%s symbol %zu has a name outside its string table", ko->what,
				      i);
		if (!strcmp(nm, "__fentry__") && s->shndx == 0)
			ko->fentry = (uint32_t)i;
		s->bind = info >> 4;
		s->type = info & 0xf;
		if (s->shndx == 0 || s->shndx >= SHN_LORES_ || s->shndx >= ko->nsecs ||
		    s->type == STT_SECTION_ || s->type == STT_FILE_)
			continue;
		s->name = nm;
		k++;
	}
	ko->nsyms = k;
	qsort(ko->syms, k, sizeof(*ko->syms), sym_cmp);
	for (i = 1; i < k; i++)
		if (!strcmp(ko->syms[i].name, ko->syms[i - 1].name))
			ko->syms[i].dup_index = ko->syms[i - 1].dup_index + 1;
	return (int)(k > INT32_MAX ? INT32_MAX : k);
}

int hvb_ko_parse(const uint8_t *buf, size_t len, const char *what, struct hvb_ko **out)
{
	struct hvb_ko *ko = calloc(1, sizeof(*ko));
	int r;

	*out = NULL;
	if (!ko)
		return hv_err(HV_E_NOMEM, "out of memory reading %s", what);
	snprintf(ko->what, sizeof(ko->what), "%s", what);
	ko->buf = buf;
	ko->len = len;
	r = read_sections(ko);
	if (r >= 0)
		r = read_symbols(ko);
	if (r < 0) {
		hvb_ko_free(ko);
		return r;
	}
	*out = ko;
	return r;
}

/* Whether a function at @value of section @shndx starts with "call __fentry__". */
static bool ko_traced(const struct hvb_ko *ko, uint16_t shndx, uint64_t value)
{
	const struct ko_sec *s = &ko->secs[shndx];
	static const uint8_t call0[5] = { 0xe8, 0, 0, 0, 0 };
	size_t i;

	if (!ko->fentry || s->type == SHT_NOBITS_ || value > s->size || s->size - value < 5 ||
	    memcmp(ko->buf + s->offset + value, call0, 5) != 0)
		return false;
	for (i = 0; i < ko->nsecs; i++) {
		const struct ko_sec *rs = &ko->secs[i];
		struct hv_buf b;
		uint64_t off, info;
		int64_t addend;
		size_t k, n;

		if (rs->type != SHT_RELA_ || rs->info != shndx || rs->link != ko->symtab ||
		    rs->size % 24)
			continue;
		n = rs->size / 24;
		hv_buf_init(&b, ko->buf + rs->offset, rs->size, "relocation");
		for (k = 0; k < n; k++) {
			if (hv_buf_get_u64(&b, &off) < 0 || hv_buf_get_u64(&b, &info) < 0 ||
			    hv_buf_get_u64(&b, (uint64_t *)&addend) < 0) {
				hv_err_clear();
				return false;
			}
			if (off == value + 1 && (info >> 32) == ko->fentry &&
			    ((info & 0xffffffff) == R_PLT32_ || (info & 0xffffffff) == R_PC32_))
				return true;
		}
	}
	return false;
}

static char type_letter(const struct hvb_ko *ko, const struct ko_sym *s)
{
	const struct ko_sec *sec = &ko->secs[s->shndx];
	char c;

	if (sec->flags & SHF_EXEC_)
		c = 't';
	else if (sec->type == SHT_NOBITS_)
		c = 'b';
	else if (sec->flags & SHF_WRITE_)
		c = 'd';
	else
		c = 'r';
	if (s->bind != STB_LOCAL_)
		c = (char)(c - 'a' + 'A');
	return c;
}

int hvb_ko_lookup(const struct hvb_ko *ko, const char *name, struct hvb_modsym *out)
{
	char base[HVB_MAX_NAME + 1];
	const char *at = strchr(name, '@');
	size_t n = at ? (size_t)(at - name) : strlen(name), lo = 0, hi, i, count = 0;
	const struct ko_sym *hit = NULL;
	unsigned long want = 0;
	const struct ko_sec *sec;

	memset(out, 0, sizeof(*out));
	if (n == 0 || n > HVB_MAX_NAME)
		return hv_err(HV_E_NOTFOUND, "the module has no symbol named '%.80s'", name);
	memcpy(base, name, n);
	base[n] = '\0';
	if (at)
		want = strtoul(at + 1, NULL, 10);
	hi = ko->nsyms;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (strcmp(ko->syms[mid].name, base) < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	for (i = lo; i < ko->nsyms && !strcmp(ko->syms[i].name, base); i++) {
		count++;
		if (at && ko->syms[i].dup_index == want)
			hit = &ko->syms[i];
	}
	/* The words of the engine's lookup in the guest (hvi_modsyms_lookup()),
	 * so build and apply refuse alike. */
	if (!count || (at && !hit))
		return hv_err(HV_E_NOTFOUND, "the module has no symbol named '%s'", name);
	/* As the engine's lookup in the guest: a bare name must be unique. */
	if (!at && count == 1)
		hit = &ko->syms[lo];
	else if (!at)
		return hv_err(HV_E_INVAL,
			      "%zu symbols of the module are named '%s': name one as %s@N (N from "
			      "0, in address order)",
			      count, base, base);
	sec = &ko->secs[hit->shndx];
	out->type = type_letter(ko, hit);
	out->percpu = !strcmp(sec->name, ".data..percpu");
	out->init_only = !strncmp(sec->name, ".init.", 6) || !strncmp(sec->name, ".exit.", 6) ||
			 !(sec->flags & SHF_ALLOC_);
	if (sec->flags & SHF_EXEC_)
		out->untraced = !ko_traced(ko, hit->shndx, hit->value);
	return 0;
}

/* ---------- a directory of .ko files ---------- */

#define KODIR_MAX 64

struct kodir_ent {
	char module[HVB_MAX_MODULE_NAME + 1];
	uint8_t *buf;
	size_t len;
	struct hvb_ko *ko;
};

struct hvb_kodir {
	char *dir;
	struct kodir_ent ent[KODIR_MAX];
	size_t n;
};

int hvb_kodir_open(const char *dir, struct hvb_kodir **out)
{
	struct hvb_kodir *d;
	struct stat st;

	*out = NULL;
	errno = 0;
	if (stat(dir, &st) != 0 || !S_ISDIR(st.st_mode))
		return hv_err(HV_E_NOTFOUND, "the module directory %s is not a directory%s%s", dir,
			      errno ? ": " : "", errno ? strerror(errno) : "");
	d = calloc(1, sizeof(*d));
	if (!d || !(d->dir = strdup(dir))) {
		free(d);
		return hv_err(HV_E_NOMEM, "out of memory");
	}
	*out = d;
	return 0;
}

void hvb_kodir_free(struct hvb_kodir *d)
{
	size_t i;

	if (!d)
		return;
	for (i = 0; i < d->n; i++) {
		hvb_ko_free(d->ent[i].ko);
		free(d->ent[i].buf);
	}
	free(d->dir);
	free(d);
}

/* nftw has no context argument: the search in progress (one at a time). */
static __thread const char *find_name;
static __thread char *find_path;

static int find_cb(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
	const char *base = path + ftw->base;
	size_t i, n = strlen(find_name);

	(void)sb;
	if (flag != FTW_F || strlen(base) != n + 3 || strcmp(base + n, ".ko") != 0)
		return 0;
	for (i = 0; i < n; i++) {
		char a = base[i] == '-' ? '_' : base[i],
		     b = find_name[i] == '-' ? '_' : find_name[i];

		if (a != b)
			return 0;
	}
	find_path = strdup(path);
	return 1;
}

int hvb_kodir_lookup(void *ctx, const char *module, const char *name, struct hvb_modsym *out)
{
	struct hvb_kodir *d = ctx;
	struct kodir_ent *e = NULL;
	char what[512];
	size_t i;
	int r;

	for (i = 0; i < d->n; i++)
		if (!strcmp(d->ent[i].module, module))
			e = &d->ent[i];
	if (!e) {
		if (d->n == KODIR_MAX)
			return hv_err(HV_E_RANGE, "a bundle may name at most %d modules",
				      KODIR_MAX);
		find_name = module;
		find_path = NULL;
		r = nftw(d->dir, find_cb, 16, FTW_PHYS);
		if (r < 0 || !find_path) {
			free(find_path);
			find_path = NULL;
			return hv_err(HV_E_NOTFOUND, "there is no %s.ko under %s (--modules)",
				      module, d->dir);
		}
		e = &d->ent[d->n];
		memset(e, 0, sizeof(*e));
		snprintf(e->module, sizeof(e->module), "%s", module);
		snprintf(what, sizeof(what), "%s", find_path);
		r = hvb_read_file(find_path, HVB_KO_MAX_BYTES, &e->buf, &e->len);
		free(find_path);
		find_path = NULL;
		if (r < 0)
			return r;
		r = hvb_ko_parse(e->buf, e->len, what, &e->ko);
		if (r < 0) {
			free(e->buf);
			return r;
		}
		d->n++;
	}
	r = hvb_ko_lookup(e->ko, name, out);
	return r < 0 ? hv_err_prefix("module %s", module) : r;
}
