/*
 * hvi_kernel: find a running Linux x86-64 kernel in guest memory and see it.
 *
 * Typical use (the apply engine, the inspect CLI):
 *
 *   struct hvi_mem mem = { my_read, my_ctx, ram_end };
 *   struct hvi_kernel *k;
 *   if (hvi_kernel_open(&mem, cr3, cr4, NULL, &k) < 0) ... hv_err_last() ...
 *   struct hvi_sym s;
 *   hvi_sym_lookup(k->syms, "cmdline_proc_show", &s);     // name -> address
 *   hvi_translate(&k->pg, s.addr, &gpa, &perms);           // address -> gpa
 *   k->loc.l2_gpa, k->loc.l2_free[]                        // where to map a patch area
 *   k->release, k->build_id_hex                            // identity
 *   hvi_kernel_close(k);
 *
 * Steps, each usable on its own:
 *   1. hvi_locate_kernel(): CR3 -> PGD[511] -> level3[510] -> level2_kernel_pgt
 *      (the 1 GiB kernel-image region at 0xffffffff80000000, 2 MiB entries).
 *      The first present entry is _text (cleanup_highmap() clears the
 *      entries outside the image); the image runs on while the entries keep
 *      its physical layout (so a patch area mapped right after it is not
 *      taken for part of it), giving _text's virtual and physical address.
 *   2. hvi_read_image(): copy the image's bytes (through the page tables,
 *      holes such as freed init memory read as zeros).
 *   3. hvi_ksyms_find() + hvi_ksyms_decode() (hvi_kallsyms.h), checked
 *      against the base from step 1.
 *   4. hvi_read_release() (linux_banner) and hvi_read_build_id() (.notes).
 * Nothing the guest says is trusted: each step checks what the previous one
 * found, and every failure names what was inconsistent.
 */
#ifndef HVI_KERNEL_H
#define HVI_KERNEL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "hv_error.h"
#include "hvi_kallsyms.h"
#include "hvi_mem.h"
#include "hvi_paging.h"

#define HVI_KERNEL_MAP_START 0xffffffff80000000ull /* __START_KERNEL_map */
#define HVI_KERNEL_LINK_TEXT 0xffffffff81000000ull /* _text without KASLR */
#define HVI_KERNEL_REGION    HVI_PAGE_1G	   /* KERNEL_IMAGE_SIZE */
#define HVI_L2_ENTRIES	     512u
#define HVI_IMAGE_MAX	     (512ull << 20) /* largest image hvi copies */
#define HVI_RELEASE_MAX	     64
#define HVI_BUILD_ID_MAX     64

/* Where the kernel image is, from the page tables. */
struct hvi_kernel_loc {
	uint64_t text_gva;	/* _text: the kernel's virtual base */
	uint64_t text_gpa;	/* its guest-physical address */
	uint64_t image_end_gva; /* end of the present run of level2 entries */
	int64_t kaslr_offset;	/* text_gva - HVI_KERNEL_LINK_TEXT */
	uint64_t l2_gpa;	/* level2_kernel_pgt: the image's page directory */
	uint64_t l3_gpa;	/* level3_kernel_pgt */
	unsigned first_index;	/* first level2 entry of the image */
	unsigned end_index;	/* one past its last entry */
	/* Bit i of l2_free[i / 64] set: level2 entry i is zero (free for a mapping). */
	uint64_t l2_free[HVI_L2_ENTRIES / 64];
	unsigned l2_present; /* present entries in level2_kernel_pgt */
};

/*
 * Find the kernel image from the page tables of @pg.  Returns 0 and fills
 * @loc; HV_E_NOTFOUND when PGD[511], level3[510] or every level2 entry is
 * not present (not a Linux x86-64 kernel, or paging not yet set up);
 * HV_E_FORMAT when level3[510] is a 1 GiB page or the tables are malformed;
 * HV_E_RANGE when a table lies outside guest RAM.
 */
int hvi_locate_kernel(const struct hvi_paging *pg, struct hvi_kernel_loc *loc) HV_WUR;

/* Whether level2_kernel_pgt entry @index (0..511) was zero when located. */
bool hvi_l2_entry_free(const struct hvi_kernel_loc *loc, unsigned index);

/* Virtual address mapped by level2_kernel_pgt entry @index. */
uint64_t hvi_l2_entry_gva(unsigned index);

/* Guest-physical address of level2_kernel_pgt entry @index (where a new entry is written). */
uint64_t hvi_l2_entry_gpa(const struct hvi_kernel_loc *loc, unsigned index);

/*
 * The first level2_kernel_pgt entry at or after the end of the image that
 * was zero when located (where a patch area can be mapped: every entry of
 * the region is within rel32 reach of the kernel text), or -1 if none.
 */
int hvi_l2_first_free_after_image(const struct hvi_kernel_loc *loc);

/* The kernel image's bytes, as hvi_read_image() found them. */
struct hvi_image {
	const uint8_t *p; /* bytes of [text_gva, text_gva + len) */
	size_t len;
	uint8_t *owned; /* the copy p points to, or NULL when p points into guest RAM */
	unsigned holes; /* 4 KiB pages of the range that the page tables leave unmapped */
	bool direct;	/* p points into guest RAM (hvi_mem.map) */
};

/*
 * The bytes of the image [loc->text_gva, loc->image_end_gva).  When the
 * memory has a map callback and the page tables map the image linearly
 * (gpa = text_gpa + (gva - text_gva) for every mapped page, which is how
 * Linux maps it), @img points straight into guest RAM: no copy, and the
 * unmapped pages (freed init memory) show whatever RAM holds there.
 * Otherwise the mapped pages are copied into a new buffer and the holes
 * read as zeros.  Release with hvi_image_release().  HV_E_RANGE if the
 * image is larger than HVI_IMAGE_MAX; HV_E_NOMEM; or a walk/read error.
 */
int hvi_read_image(const struct hvi_paging *pg, const struct hvi_kernel_loc *loc,
		   struct hvi_image *img) HV_WUR;

/* Free what hvi_read_image() allocated; accepts a zeroed or released image. */
void hvi_image_release(struct hvi_image *img);

/*
 * The kernel release ("6.1.0-56-cloud-amd64") from the "Linux version ..."
 * banner in @img (image copy starting at @text_gva): at the address of the
 * symbol linux_banner when @st is given and has it, else the only banner
 * found by a bounded scan.  Returns 0; HV_E_NOTFOUND; HV_E_FORMAT when the
 * string is not a plausible release.
 */
int hvi_read_release(const uint8_t *img, size_t len, uint64_t text_gva, const struct hvi_symtab *st,
		     char release[HVI_RELEASE_MAX]) HV_WUR;

/*
 * The GNU build-id (ELF note type 3, name "GNU") of the kernel: parsed from
 * the notes between __start_notes and __stop_notes when @st has them, else
 * found by a scan of @img that must find exactly one distinct build-id.
 * Writes the raw bytes to @id and returns their count (1..HVI_BUILD_ID_MAX);
 * HV_E_NOTFOUND; HV_E_FORMAT for malformed notes; HV_E_VERIFY when the scan
 * finds conflicting build-ids.
 */
int hvi_read_build_id(const uint8_t *img, size_t len, uint64_t text_gva,
		      const struct hvi_symtab *st, uint8_t id[HVI_BUILD_ID_MAX]) HV_WUR;

/* Options of hvi_kernel_open(); NULL means all defaults. */
struct hvi_open_opts {
	/*
	 * IDTR base (a kernel virtual address; 0 = not known).  When given,
	 * the handler of vector 0 must lie inside the kernel's text, which
	 * cross-checks the base found from the page tables.
	 */
	uint64_t idtr_base;
	uint32_t idtr_limit;
	/*
	 * Keep the image in k->image after opening (a copy, or a pointer into
	 * guest RAM that stays valid as long as the memory does).
	 */
	bool keep_image;
};

/* Everything hvi_kernel_open() found. */
struct hvi_kernel {
	struct hvi_paging pg;
	struct hvi_kernel_loc loc;
	struct hvi_ksyms_tables tables;
	struct hvi_symtab *syms; /* owned */
	size_t nsyms;
	char release[HVI_RELEASE_MAX];
	uint8_t build_id[HVI_BUILD_ID_MAX];
	size_t build_id_len;
	char build_id_hex[2 * HVI_BUILD_ID_MAX + 1];
	uint64_t etext_gva; /* _etext, or 0 */
	uint64_t end_gva;   /* _end, or 0 */
	bool idt_checked;   /* the IDT cross-check ran and passed */
	uint64_t idt_handler0;
	struct hvi_image image; /* kept if opts->keep_image (then image.p is valid) */
};

/*
 * Locate the kernel from @cr3/@cr4, copy its image, decode kallsyms and read
 * its identity, checking each step against the others.  @mem must outlive
 * *@out.  On success *@out (free with hvi_kernel_close()) is filled and 0 is
 * returned; on failure nothing is allocated and the error (with the step in
 * its message) is returned.
 */
int hvi_kernel_open(const struct hvi_mem *mem, uint64_t cr3, uint64_t cr4,
		    const struct hvi_open_opts *opts, struct hvi_kernel **out) HV_WUR;

/* Free everything; accepts NULL. */
void hvi_kernel_close(struct hvi_kernel *k);

#endif
