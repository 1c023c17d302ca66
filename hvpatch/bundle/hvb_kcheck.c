/*
 * hvb_kcheck.c: check a freshly built bundle against its target vmlinux,
 * using the kernel's own kallsyms tables (decoded by libhvi from the image
 * the vmlinux's program headers describe).
 */
#include "config.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hv_buf.h"
#include "hvb_build.h"
#include "hvb_reloc.h"
#include "hvi_kallsyms.h"

/*
 * This file links against libhvi; hvb_build.c does not, so the object-reader
 * fuzz target stays small.
 */

#define PT_LOAD_	 1
#define KERNEL_MAP_START 0xffffffff80000000ull
#define IMAGE_MAX_BYTES	 (512ull << 20)

/*
 * Lay the PT_LOAD segments out as the kernel lies in memory from _text on.
 * *@img (caller frees) gets *@img_len bytes; *@text_gva the image's base.
 */
static int vmlinux_image(const uint8_t *buf, size_t len, const char *what, uint8_t **img,
			 size_t *img_len, uint64_t *text_gva)
{
	struct hv_buf b;
	uint64_t phoff, base_pa = UINT64_MAX, end_pa = 0, base_va = 0;
	uint16_t phentsize, phnum;
	uint8_t *out = NULL;
	unsigned pass, i;
	int r;

	*img = NULL;
	hv_buf_init(&b, buf, len, "vmlinux ELF header");
	if ((r = hv_buf_seek(&b, 32)) < 0 || (r = hv_buf_get_u64(&b, &phoff)) < 0 ||
	    (r = hv_buf_seek(&b, 54)) < 0 || (r = hv_buf_get_u16(&b, &phentsize)) < 0 ||
	    (r = hv_buf_get_u16(&b, &phnum)) < 0)
		return hv_err_prefix("%s", what);
	if (phentsize != 56 || !phnum || phoff > len || (len - phoff) / 56 < phnum)
		return hv_err(HV_E_FORMAT, "%s has a bad program header table", what);
	b.what = "vmlinux program headers";
	for (pass = 0; pass < 2; pass++) {
		for (i = 0; i < phnum; i++) {
			uint32_t type, flags;
			uint64_t off, va, pa, filesz, memsz;

			if ((r = hv_buf_seek(&b, phoff + 56 * (uint64_t)i)) < 0 ||
			    (r = hv_buf_get_u32(&b, &type)) < 0 ||
			    (r = hv_buf_get_u32(&b, &flags)) < 0 ||
			    (r = hv_buf_get_u64(&b, &off)) < 0 ||
			    (r = hv_buf_get_u64(&b, &va)) < 0 ||
			    (r = hv_buf_get_u64(&b, &pa)) < 0 ||
			    (r = hv_buf_get_u64(&b, &filesz)) < 0 ||
			    (r = hv_buf_get_u64(&b, &memsz)) < 0) {
				r = hv_err_prefix("%s", what);
				goto out;
			}
			if (type != PT_LOAD_)
				continue;
			if (filesz > memsz || off > len || len - off < filesz ||
			    memsz > IMAGE_MAX_BYTES || pa > UINT64_MAX - memsz) {
				r = hv_err(HV_E_FORMAT, "%s segment %u lies outside the file", what,
					   i);
				goto out;
			}
			if (pass == 0) {
				if (pa < base_pa) {
					base_pa = pa;
					base_va = va;
				}
				if (pa + memsz > end_pa)
					end_pa = pa + memsz;
				continue;
			}
			memcpy(out + (pa - base_pa), buf + off, filesz);
		}
		if (pass == 0) {
			if (base_pa == UINT64_MAX || end_pa - base_pa > IMAGE_MAX_BYTES ||
			    base_va < KERNEL_MAP_START) {
				r = hv_err(HV_E_FORMAT,
					   "%s does not look like an x86-64 kernel image (segments "
					   "at 0x%llx..0x%llx, base 0x%llx)",
					   what, (unsigned long long)base_pa,
					   (unsigned long long)end_pa, (unsigned long long)base_va);
				goto out;
			}
			out = calloc(1, end_pa - base_pa);
			if (!out) {
				r = hv_err(HV_E_NOMEM, "out of memory for the image of %s", what);
				goto out;
			}
		}
	}
	*img = out;
	*img_len = end_pa - base_pa;
	*text_gva = base_va;
	out = NULL;
	r = 0;
out:
	free(out);
	return r;
}

int hvb_check_vmlinux(const struct hvb_bundle *b, const uint8_t *buf, size_t len, const char *what,
		      const struct hvb_symsrc *modules, struct hvb_kernel_check *res)
{
	struct hvb_symsrc src;
	struct hvb_target_addr tgt;
	struct hvi_ksyms_tables t;
	struct hvi_symtab *st = NULL;
	struct hvi_sym fentry;
	uint8_t *img = NULL;
	size_t img_len = 0, i;
	uint64_t text = 0;
	int r;

	memset(res, 0, sizeof(*res));
	r = vmlinux_image(buf, len, what, &img, &img_len, &text);
	if (r < 0)
		goto out;
	if (hvi_ksyms_find(img, img_len, &t) < 0 ||
	    hvi_ksyms_decode(img, img_len, &t, text, &st) < 0) {
		/* Not fatal: the apply engine checks against the guest anyway. */
		snprintf(res->note, sizeof(res->note), "%.250s", hv_err_last()->msg);
		hv_err_clear();
		r = 0;
		goto out;
	}
	res->checked = true;
	memset(&src, 0, sizeof(src));
	if (modules)
		src = *modules;
	src.kernel = st;
	if (hvi_sym_lookup(st, "__fentry__", &fentry) < 0) {
		r = hv_err(HV_E_UNSUPPORTED,
			   "%s has no __fentry__ symbol: a kernel without ftrace "
			   "has no redirect sites",
			   what);
		goto out;
	}
	for (i = 0; i < b->nreplacements; i++) {
		const struct hvb_replacement *p = &b->replacements[i];
		char spec[HVB_MAX_NAME + 16];
		struct hvi_sym s;
		uint64_t off;
		int32_t rel;

		if (p->target_index == HVB_NO_INDEX)
			snprintf(spec, sizeof(spec), "%s", p->target);
		else
			snprintf(spec, sizeof(spec), "%s@%u", p->target, p->target_index);
		/* The apply engine's own rule first, in its words. */
		r = hvb_target_resolve(&src, b, i, &tgt);
		if (r < 0)
			goto out;
		if (tgt.module[0]) {
			/* Checked against the module's .ko by the rule above. */
			res->targets_checked++;
			res->module_targets++;
			continue;
		}
		s.addr = tgt.addr;
		off = s.addr - text;
		if (s.addr < text || off > img_len - 5) {
			r = hv_err(HV_E_FORMAT,
				   "replacement target %s in %s lies outside the kernel image; the "
				   "vmlinux's symbols do not match its image",
				   spec, what);
			goto out;
		}
		rel = (int32_t)((uint32_t)img[off + 1] | (uint32_t)img[off + 2] << 8 |
				(uint32_t)img[off + 3] << 16 | (uint32_t)img[off + 4] << 24);
		if (img[off] != 0xe8 || s.addr + 5 + (uint64_t)(int64_t)rel != fentry.addr) {
			r = hv_err(
				HV_E_UNSUPPORTED,
				"replacement target %s in %s does not start with the ftrace call "
				"(it is notrace or built without -pg), so it has no redirect "
				"site; replace a traceable caller instead",
				spec, what);
			goto out;
		}
		res->targets_checked++;
	}
	/* The apply engine's own rule, so build refuses what apply would. */
	r = hvb_reloc_check_all(&src, b);
	if (r < 0)
		goto out;
	res->symbols_checked = (unsigned)r;
	r = 0;
out:
	hvi_symtab_free(st);
	free(img);
	return r;
}
