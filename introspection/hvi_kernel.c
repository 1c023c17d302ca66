/* Guarded so the fuzz runner (tests/fuzz/run.sh) can build it without configure. */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

#include "hvi_kernel.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hv_buf.h"
#include "hv_hex.h"

uint64_t hvi_l2_entry_gva(unsigned index)
{
	return HVI_KERNEL_MAP_START + (uint64_t)index * HVI_PAGE_2M;
}

uint64_t hvi_l2_entry_gpa(const struct hvi_kernel_loc *loc, unsigned index)
{
	return loc->l2_gpa + 8ull * index;
}

int hvi_l2_first_free_after_image(const struct hvi_kernel_loc *loc)
{
	unsigned i;

	for (i = loc->end_index; i < HVI_L2_ENTRIES; i++)
		if (hvi_l2_entry_free(loc, i))
			return (int)i;
	return -1;
}

bool hvi_l2_entry_free(const struct hvi_kernel_loc *loc, unsigned index)
{
	return index < HVI_L2_ENTRIES && (loc->l2_free[index / 64] >> (index % 64)) & 1;
}

/*
 * Whether level2 entry @e continues the kernel image, whose 2 MiB slot should
 * start at guest-physical @want.  Linux loads its image physically
 * contiguous, so a 2 MiB page must sit exactly there; a page table must map
 * its first present 4 KiB page at the matching place (a table with nothing
 * present, freed init memory, still belongs to the image).  Anything else,
 * such as a patch area mapped right after the image, or a table that cannot
 * be read, ends the image.
 */
static bool continues_image(const struct hvi_paging *pg, uint64_t e, uint64_t want)
{
	uint8_t pt[HVI_L2_ENTRIES * 8];
	unsigned j;

	if (!(e & HVI_PTE_P))
		return false;
	if (e & HVI_PTE_PS)
		return (e & HVI_PTE_ADDR & ~(HVI_PAGE_2M - 1)) == want;
	if (hvi_mem_read(pg->mem, e & HVI_PTE_ADDR, pt, sizeof(pt)) < 0) {
		hv_err_clear();
		return false;
	}
	for (j = 0; j < HVI_L2_ENTRIES; j++) {
		uint64_t pte = hv_le64(pt + 8 * j);

		if (pte & HVI_PTE_P)
			return (pte & HVI_PTE_ADDR) == want + (uint64_t)j * HVI_PAGE_4K;
	}
	return true;
}

int hvi_locate_kernel(const struct hvi_paging *pg, struct hvi_kernel_loc *loc)
{
	struct hvi_walk w;
	uint8_t raw[HVI_L2_ENTRIES * 8];
	unsigned i;
	int r;

	memset(loc, 0, sizeof(*loc));
	/* Walk to the level2 table of the region: stop at level 3 entry 510. */
	r = hvi_walk(pg, HVI_KERNEL_MAP_START, &w);
	if (r == 0 && w.page_size == HVI_PAGE_1G) {
		r = hv_err(HV_E_FORMAT,
			   "the kernel-image region 0x%llx is mapped by one 1 GiB page, not by "
			   "level2_kernel_pgt: this is not the layout of a Linux x86-64 kernel",
			   (unsigned long long)HVI_KERNEL_MAP_START);
		goto out;
	}
	/* level2 entry 0 (and what lies below it) is normally empty: that is fine */
	if (r < 0 && !(r == HV_E_NOTFOUND && w.nlevels >= pg->levels - 1)) {
		hv_err_prefix("cannot reach the kernel-image page directory (level2_kernel_pgt)");
		goto out;
	}
	r = 0;
	for (i = 0; i < w.nlevels; i++) {
		if (w.lv[i].level == 3)
			loc->l3_gpa = w.lv[i].table_gpa;
		if (w.lv[i].level == 2)
			loc->l2_gpa = w.lv[i].table_gpa;
	}
	if (!loc->l2_gpa) {
		r = hv_err(HV_E_FORMAT, "the walk to the kernel-image region did not reach a "
					"page directory; the guest's tables are malformed");
		goto out;
	}
	r = hvi_mem_read(pg->mem, loc->l2_gpa, raw, sizeof(raw));
	if (r < 0) {
		hv_err_prefix("cannot read level2_kernel_pgt at guest-physical 0x%llx",
			      (unsigned long long)loc->l2_gpa);
		goto out;
	}
	loc->first_index = HVI_L2_ENTRIES;
	for (i = 0; i < HVI_L2_ENTRIES; i++) {
		uint64_t e = hv_le64(raw + 8 * i);

		if (e == 0)
			loc->l2_free[i / 64] |= 1ull << (i % 64);
		if (!(e & HVI_PTE_P))
			continue;
		loc->l2_present++;
		if (loc->first_index == HVI_L2_ENTRIES)
			loc->first_index = i;
	}
	if (loc->first_index == HVI_L2_ENTRIES) {
		r = hv_err(HV_E_NOTFOUND,
			   "no entry of level2_kernel_pgt (guest-physical 0x%llx) is present, so "
			   "no kernel image is mapped at 0x%llx: the guest is not running a Linux "
			   "x86-64 kernel yet",
			   (unsigned long long)loc->l2_gpa,
			   (unsigned long long)HVI_KERNEL_MAP_START);
		goto out;
	}
	loc->text_gva = hvi_l2_entry_gva(loc->first_index);
	loc->kaslr_offset = (int64_t)(loc->text_gva - HVI_KERNEL_LINK_TEXT);
	r = hvi_translate(pg, loc->text_gva, &loc->text_gpa, NULL);
	if (r < 0) {
		hv_err_prefix("the kernel image's first page at 0x%llx is not mapped",
			      (unsigned long long)loc->text_gva);
		goto out;
	}
	/* the image: present entries that continue the physical layout of _text */
	for (i = loc->first_index; i < HVI_L2_ENTRIES; i++)
		if (!continues_image(pg, hv_le64(raw + 8 * i),
				     loc->text_gpa +
					     (uint64_t)(i - loc->first_index) * HVI_PAGE_2M))
			break;
	loc->end_index = i;
	loc->image_end_gva = hvi_l2_entry_gva(loc->end_index);
out:
	return r;
}

struct image_ctx {
	const struct hvi_paging *pg;
	uint8_t *img; /* NULL while only checking linearity */
	uint64_t base, len, text_gpa;
	uint64_t mapped_bytes;
	bool linear;
};

/* Clip mapping @m to the image range: [*s, *e). */
static void clip(const struct image_ctx *c, const struct hvi_mapping *m, uint64_t *s, uint64_t *e)
{
	*s = m->gva < c->base ? c->base : m->gva;
	*e = m->gva + m->size > c->base + c->len ? c->base + c->len : m->gva + m->size;
}

static int check_mapping(void *opaque, const struct hvi_mapping *m)
{
	struct image_ctx *c = opaque;
	uint64_t s, e;

	clip(c, m, &s, &e);
	c->mapped_bytes += e - s;
	if (m->gpa + (s - m->gva) != c->text_gpa + (s - c->base))
		c->linear = false;
	return 0;
}

static int copy_mapping(void *opaque, const struct hvi_mapping *m)
{
	struct image_ctx *c = opaque;
	uint64_t s, e;
	int r;

	clip(c, m, &s, &e);
	r = hvi_mem_read(c->pg->mem, m->gpa + (s - m->gva), c->img + (s - c->base),
			 (size_t)(e - s));
	if (r < 0)
		return hv_err_prefix("cannot read the kernel image page at 0x%llx",
				     (unsigned long long)s);
	return 0;
}

void hvi_image_release(struct hvi_image *img)
{
	if (!img)
		return;
	free(img->owned);
	memset(img, 0, sizeof(*img));
}

int hvi_read_image(const struct hvi_paging *pg, const struct hvi_kernel_loc *loc,
		   struct hvi_image *img)
{
	struct image_ctx c;
	uint64_t size = loc->image_end_gva - loc->text_gva, budget;
	const uint8_t *direct;
	int r;

	memset(img, 0, sizeof(*img));
	memset(&c, 0, sizeof(c));
	if (loc->image_end_gva <= loc->text_gva || size > HVI_IMAGE_MAX) {
		r = hv_err(HV_E_RANGE,
			   "the kernel image 0x%llx..0x%llx is empty or larger than %llu MiB",
			   (unsigned long long)loc->text_gva,
			   (unsigned long long)loc->image_end_gva,
			   (unsigned long long)(HVI_IMAGE_MAX >> 20));
		goto out;
	}
	c.pg = pg;
	c.base = loc->text_gva;
	c.len = size;
	c.text_gpa = loc->text_gpa;
	c.linear = true;
	/* level2 entries plus 512 entries for each 2 MiB page split into 4 KiB pages */
	budget = (size / HVI_PAGE_2M + 1) * 1100 + 4096;
	r = hvi_enum_mappings(pg, c.base, c.base + size, budget, check_mapping, &c);
	if (r < 0)
		goto out;
	img->holes = (unsigned)((size - c.mapped_bytes) / HVI_PAGE_4K);
	img->len = (size_t)size;
	direct = c.linear ? hvi_mem_map(pg->mem, c.text_gpa, (size_t)size) : NULL;
	if (direct) {
		img->p = direct;
		img->direct = true;
		r = 0;
		goto out;
	}
	c.img = calloc(1, (size_t)size);
	if (!c.img) {
		r = hv_err(HV_E_NOMEM, "out of memory for a %llu-byte copy of the kernel image",
			   (unsigned long long)size);
		goto out;
	}
	r = hvi_enum_mappings(pg, c.base, c.base + size, budget, copy_mapping, &c);
	if (r < 0)
		goto out;
	img->owned = c.img;
	img->p = c.img;
	c.img = NULL;
	r = 0;
out:
	free(c.img);
	if (r < 0)
		memset(img, 0, sizeof(*img));
	return r;
}

/* Offset of kernel virtual address @gva in the image, or SIZE_MAX. */
static size_t img_off(uint64_t gva, uint64_t text_gva, size_t len)
{
	if (gva < text_gva || gva - text_gva >= len)
		return SIZE_MAX;
	return (size_t)(gva - text_gva);
}

static bool release_char(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
	       c == '.' || c == '-' || c == '_' || c == '+' || c == '~';
}

/*
 * Parse "Linux version RELEASE " at @off.  The image may be guest RAM that
 * the guest rewrites while we read it: the bytes are copied into host
 * memory once and only the copy is checked and used, so what is returned
 * is exactly what passed the check.
 */
static int parse_banner(const uint8_t *img, size_t len, size_t off, char *release)
{
	static const char pfx[] = "Linux version ";
	const volatile uint8_t *src = img; /* one load per byte */
	char win[sizeof(pfx) - 1 + HVI_RELEASE_MAX];
	size_t n = 0, have, i, p = sizeof(pfx) - 1;

	have = off < len ? len - off : 0;
	if (have > sizeof(win))
		have = sizeof(win);
	for (i = 0; i < have; i++)
		win[i] = (char)src[off + i];
	if (have < sizeof(pfx) || memcmp(win, pfx, sizeof(pfx) - 1))
		return hv_err(HV_E_FORMAT,
			      "linux_banner at image offset +0x%zx does not start "
			      "with \"Linux version \"",
			      off);
	while (p + n < have && n < HVI_RELEASE_MAX - 1 && release_char(win[p + n]))
		n++;
	if (n == 0 || p + n >= have || win[p + n] != ' ')
		return hv_err(HV_E_FORMAT,
			      "the kernel banner at image offset +0x%zx has no plausible release "
			      "string (1 to %d of the characters a-z A-Z 0-9 . - _ + ~, then a "
			      "space)",
			      off, HVI_RELEASE_MAX - 1);
	memcpy(release, win + p, n);
	release[n] = 0;
	return 0;
}

int hvi_read_release(const uint8_t *img, size_t len, uint64_t text_gva, const struct hvi_symtab *st,
		     char release[HVI_RELEASE_MAX])
{
	static const char pfx[] = "Linux version ";
	struct hvi_sym s;
	size_t pos = 0, found = SIZE_MAX;
	int r;

	release[0] = 0;
	if (st && hvi_sym_lookup_all(st, "linux_banner", &s, 1) == 1) {
		size_t off = img_off(s.addr, text_gva, len);

		if (off == SIZE_MAX) {
			r = hv_err(HV_E_FORMAT,
				   "linux_banner at 0x%llx lies outside the kernel image",
				   (unsigned long long)s.addr);
			goto out;
		}
		r = parse_banner(img, len, off, release);
		goto out;
	}
	/* No symbol: the banner must be the only "Linux version " followed by a release. */
	while (img && pos < len) {
		const uint8_t *hit = memmem(img + pos, len - pos, pfx, sizeof(pfx) - 1);
		char tmp[HVI_RELEASE_MAX];

		if (!hit)
			break;
		pos = (size_t)(hit - img) + 1;
		if (parse_banner(img, len, pos - 1, tmp) < 0)
			continue;
		if (found != SIZE_MAX && strcmp(tmp, release)) {
			r = hv_err(HV_E_VERIFY,
				   "the kernel image holds two different version banners ('%s' and "
				   "'%s') and no linux_banner symbol to choose",
				   release, tmp);
			goto out;
		}
		found = pos - 1;
		memcpy(release, tmp, sizeof(tmp));
	}
	if (found == SIZE_MAX) {
		r = hv_err(HV_E_NOTFOUND, "no \"Linux version\" banner found in the kernel image");
		goto out;
	}
	r = 0;
out:
	if (r < 0)
		release[0] = 0;
	return r;
}

/*
 * Parse ELF notes in [off, off + n) and return the GNU build-id's length
 * (copied to @id), 0 if none, or HV_E_FORMAT.
 */
static int parse_notes(const uint8_t *img, size_t off, size_t n, uint8_t *id)
{
	struct hv_buf b;
	int r = 0;

	hv_buf_init(&b, img + off, n, "kernel .notes section");
	while (hv_buf_remaining(&b) >= 12) {
		uint32_t namesz, descsz, type;
		const uint8_t *name, *desc;

		if ((r = hv_buf_get_u32(&b, &namesz)) < 0 ||
		    (r = hv_buf_get_u32(&b, &descsz)) < 0 || (r = hv_buf_get_u32(&b, &type)) < 0)
			goto out;
		if (namesz > 256 || descsz > (1u << 20)) {
			r = hv_err(HV_E_FORMAT,
				   "an ELF note in the kernel .notes has absurd sizes (name %u, "
				   "desc %u bytes)",
				   namesz, descsz);
			goto out;
		}
		if ((r = hv_buf_get_bytes(&b, (namesz + 3u) & ~3u, &name)) < 0 ||
		    (r = hv_buf_get_bytes(&b, (descsz + 3u) & ~3u, &desc)) < 0)
			goto out;
		if (type == 3 && namesz == 4 && !memcmp(name, "GNU", 4)) {
			if (descsz == 0 || descsz > HVI_BUILD_ID_MAX) {
				r = hv_err(HV_E_FORMAT,
					   "the GNU build-id note has an impossible length of %u "
					   "bytes",
					   descsz);
				goto out;
			}
			memcpy(id, desc, descsz);
			r = (int)descsz;
			goto out;
		}
	}
	r = 0;
out:
	return r;
}

int hvi_read_build_id(const uint8_t *img, size_t len, uint64_t text_gva,
		      const struct hvi_symtab *st, uint8_t id[HVI_BUILD_ID_MAX])
{
	static const uint8_t hdr[] = { 4, 0, 0, 0, 20, 0, 0, 0, 3, 0, 0, 0, 'G', 'N', 'U', 0 };
	struct hvi_sym s0, s1;
	size_t pos = 0;
	uint8_t tmp[HVI_BUILD_ID_MAX];
	int r = 0, found = 0;

	if (st && hvi_sym_lookup_all(st, "__start_notes", &s0, 1) == 1 &&
	    hvi_sym_lookup_all(st, "__stop_notes", &s1, 1) == 1) {
		size_t a = img_off(s0.addr, text_gva, len), e = img_off(s1.addr, text_gva, len);

		if (a == SIZE_MAX || e == SIZE_MAX || e < a || e - a > (1u << 20)) {
			r = hv_err(
				HV_E_FORMAT,
				"__start_notes (0x%llx) and __stop_notes (0x%llx) do not bound a "
				"plausible notes section inside the kernel image",
				(unsigned long long)s0.addr, (unsigned long long)s1.addr);
			goto out;
		}
		r = parse_notes(img, a, e - a, id);
		if (r == 0)
			r = hv_err(HV_E_NOTFOUND,
				   "the kernel's .notes section (0x%llx..0x%llx) "
				   "holds no GNU build-id note",
				   (unsigned long long)s0.addr, (unsigned long long)s1.addr);
		goto out;
	}
	/* Bounded scan for a 20-byte (SHA-1) GNU build-id note; all hits must agree. */
	while (img && pos + sizeof(hdr) + 20 <= len) {
		const uint8_t *hit = memmem(img + pos, len - pos, hdr, sizeof(hdr));
		size_t at;

		if (!hit)
			break;
		at = (size_t)(hit - img);
		pos = at + 1;
		if ((at & 3) || len - at < sizeof(hdr) + 20)
			continue;
		if (found && memcmp(tmp, hit + sizeof(hdr), 20)) {
			r = hv_err(HV_E_VERIFY, "the kernel image holds two different GNU build-id "
						"notes and no __start_notes symbol to choose");
			goto out;
		}
		memcpy(tmp, hit + sizeof(hdr), 20);
		found = 20;
	}
	if (!found) {
		r = hv_err(HV_E_NOTFOUND, "no GNU build-id note found in the kernel image");
		goto out;
	}
	memcpy(id, tmp, 20);
	r = found;
out:
	return r;
}

void hvi_kernel_close(struct hvi_kernel *k)
{
	if (!k)
		return;
	hvi_symtab_free(k->syms);
	hvi_image_release(&k->image);
	free(k);
}

/* Check that IDT vector 0's handler lies in the kernel text. */
static int check_idt(struct hvi_kernel *k, const struct hvi_open_opts *o)
{
	uint8_t gate[16];
	uint64_t h, text_end = k->etext_gva ? k->etext_gva : k->loc.image_end_gva;
	int r;

	if (o->idtr_limit < 15) {
		r = hv_err(HV_E_FORMAT, "the IDT limit %u is too small for one gate",
			   o->idtr_limit);
		goto out;
	}
	r = hvi_read_virt(&k->pg, o->idtr_base, gate, sizeof(gate));
	if (r < 0) {
		hv_err_prefix("cannot read the IDT at 0x%llx", (unsigned long long)o->idtr_base);
		goto out;
	}
	h = (uint64_t)gate[0] | ((uint64_t)gate[1] << 8) | ((uint64_t)gate[6] << 16) |
	    ((uint64_t)gate[7] << 24) | ((uint64_t)gate[8] << 32) | ((uint64_t)gate[9] << 40) |
	    ((uint64_t)gate[10] << 48) | ((uint64_t)gate[11] << 56);
	k->idt_handler0 = h;
	if (h < k->loc.text_gva || h >= text_end) {
		r = hv_err(
			HV_E_VERIFY,
			"the divide-error handler 0x%llx in the IDT lies outside the kernel text "
			"0x%llx..0x%llx found from the page tables",
			(unsigned long long)h, (unsigned long long)k->loc.text_gva,
			(unsigned long long)text_end);
		goto out;
	}
	k->idt_checked = true;
out:
	return r;
}

int hvi_kernel_open(const struct hvi_mem *mem, uint64_t cr3, uint64_t cr4,
		    const struct hvi_open_opts *opts, struct hvi_kernel **out)
{
	static const struct hvi_open_opts defaults;
	const struct hvi_open_opts *o = opts ? opts : &defaults;
	struct hvi_kernel *k = NULL;
	struct hvi_sym s;
	struct hvi_image im;
	const uint8_t *img;
	size_t len;
	int r;

	*out = NULL;
	memset(&im, 0, sizeof(im));
	k = calloc(1, sizeof(*k));
	if (!k) {
		r = hv_err(HV_E_NOMEM, "out of memory");
		goto out;
	}
	r = hvi_paging_init(&k->pg, mem, cr3, cr4);
	if (r < 0)
		goto out;
	r = hvi_locate_kernel(&k->pg, &k->loc);
	if (r < 0)
		goto out;
	r = hvi_read_image(&k->pg, &k->loc, &im);
	if (r < 0)
		goto out;
	img = im.p;
	len = im.len;
	r = hvi_ksyms_find(img, len, &k->tables);
	if (r < 0)
		goto out;
	r = hvi_ksyms_decode(img, len, &k->tables, k->loc.text_gva, &k->syms);
	if (r < 0)
		goto out;
	k->nsyms = (size_t)r;
	if (hvi_sym_lookup_all(k->syms, "_etext", &s, 1) == 1)
		k->etext_gva = s.addr;
	if (hvi_sym_lookup_all(k->syms, "_end", &s, 1) == 1) {
		k->end_gva = s.addr;
		if (s.addr <= k->loc.text_gva || s.addr > k->loc.image_end_gva) {
			r = hv_err(HV_E_VERIFY,
				   "kallsyms place _end at 0x%llx, outside the kernel image "
				   "0x%llx..0x%llx mapped by the page tables",
				   (unsigned long long)s.addr, (unsigned long long)k->loc.text_gva,
				   (unsigned long long)k->loc.image_end_gva);
			goto out;
		}
	}
	r = hvi_read_release(img, len, k->loc.text_gva, k->syms, k->release);
	if (r < 0)
		goto out;
	r = hvi_read_build_id(img, len, k->loc.text_gva, k->syms, k->build_id);
	if (r < 0)
		goto out;
	k->build_id_len = (size_t)r;
	hv_hex_encode(k->build_id_hex, sizeof(k->build_id_hex), k->build_id, k->build_id_len);
	if (o->idtr_base) {
		r = check_idt(k, o);
		if (r < 0)
			goto out;
	}
	if (o->keep_image) {
		k->image = im;
		memset(&im, 0, sizeof(im));
	} else {
		k->image.holes = im.holes;
		k->image.direct = im.direct;
		k->image.len = im.len;
	}
	*out = k;
	k = NULL;
	r = 0;
out:
	hvi_image_release(&im);
	hvi_kernel_close(k);
	return r;
}
