#include "config.h"

#include "hvi_testlib.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hvi_paging.h"

void put_u16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)v;
	p[1] = (uint8_t)(v >> 8);
}

void put_u32(uint8_t *p, uint32_t v)
{
	put_u16(p, (uint16_t)v);
	put_u16(p + 2, (uint16_t)(v >> 16));
}

void put_u64(uint8_t *p, uint64_t v)
{
	put_u32(p, (uint32_t)v);
	put_u32(p + 4, (uint32_t)(v >> 32));
}

uint64_t get_u64(const uint8_t *p)
{
	uint64_t v = 0;
	int i;

	for (i = 7; i >= 0; i--)
		v = (v << 8) | p[i];
	return v;
}

int tmem_init(struct tmem *t, uint64_t ram_bytes, uint64_t tables_gpa, uint64_t tables_bytes,
	      unsigned levels)
{
	memset(t, 0, sizeof(*t));
	if (tables_gpa + tables_bytes > ram_bytes || (tables_gpa & 0x1fff))
		return -1;
	t->ram = calloc(1, ram_bytes);
	if (!t->ram)
		return -1;
	t->size = ram_bytes;
	t->levels = levels;
	t->pgd = tables_gpa;
	t->next_table = tables_gpa + 2 * HVI_PAGE_4K;
	t->tables_end = tables_gpa + tables_bytes;
	hvi_mem_flat(&t->mem, &t->flat, t->ram, ram_bytes);
	return 0;
}

void tmem_free(struct tmem *t)
{
	free(t->ram);
	t->ram = NULL;
}

uint64_t tmem_table(struct tmem *t)
{
	uint64_t g = t->next_table;

	if (g + HVI_PAGE_4K > t->tables_end) {
		fprintf(stderr, "tmem: table area full\n");
		abort();
	}
	t->next_table += HVI_PAGE_4K;
	memset(t->ram + g, 0, HVI_PAGE_4K);
	return g;
}

uint64_t tmem_get(const struct tmem *t, uint64_t table_gpa, unsigned index)
{
	return get_u64(t->ram + table_gpa + 8ull * index);
}

void tmem_set(struct tmem *t, uint64_t table_gpa, unsigned index, uint64_t value)
{
	put_u64(t->ram + table_gpa + 8ull * index, value);
}

uint64_t tmem_cr4(const struct tmem *t)
{
	return t->levels == 5 ? HVI_CR4_LA57 : 0;
}

uint64_t tmem_map(struct tmem *t, uint64_t gva, uint64_t gpa, uint64_t page_size, uint64_t flags)
{
	uint64_t table = t->pgd;
	unsigned level, leaf = page_size == HVI_PAGE_1G ? 3 : page_size == HVI_PAGE_2M ? 2 : 1;

	for (level = t->levels; level > leaf; level--) {
		unsigned idx = (unsigned)((gva >> (12 + 9 * (level - 1))) & 511);
		uint64_t e = tmem_get(t, table, idx);

		if (!(e & HVI_PTE_P)) {
			e = tmem_table(t) | HVI_PTE_P | HVI_PTE_RW | HVI_PTE_A | HVI_PTE_D |
			    (flags & HVI_PTE_US);
			tmem_set(t, table, idx, e);
		}
		table = e & HVI_PTE_ADDR;
	}
	tmem_set(t, table, (unsigned)((gva >> (12 + 9 * (leaf - 1))) & 511),
		 gpa | flags | HVI_PTE_P | (leaf > 1 ? HVI_PTE_PS : 0));
	return table;
}

/* ---- kallsyms encoder ---- */

static const char *const pairs[] = { "_s", "et", "in", "er", "re", "on", "at", "st", "__",
				     "de", "te", "en", "es", "nt", "ri", "ro", "ar", "or",
				     "le", "al", "ic", "it", "ed", "ct", "ch", "is", "ti" };

static int cmp_sym_name(const void *a, const void *b, void *ctx)
{
	const struct enc_sym *syms = ctx;
	size_t x = *(const size_t *)a, y = *(const size_t *)b;
	int c = strcmp(syms[x].name, syms[y].name);

	if (c)
		return c;
	if (syms[x].addr != syms[y].addr)
		return syms[x].addr < syms[y].addr ? -1 : 1;
	return x < y ? -1 : x > y;
}

static size_t align8(size_t x)
{
	return (x + 7) & ~(size_t)7;
}

int enc_kallsyms(const struct enc_sym *syms, size_t n, uint64_t rb, uint8_t *out, size_t cap,
		 size_t base, int with_seqs, struct enc_layout *lay)
{
	char tok[256][4];
	size_t p = base, i, k, nm = (n + 255) / 256;
	uint32_t *markers = calloc(nm ? nm : 1, sizeof(uint32_t));
	unsigned pi = 0;
	int r = -1;

	if (!markers)
		return -1;
	for (i = 0; i < 256; i++) {
		if (i >= 0x21 && i <= 0x7e) {
			tok[i][0] = (char)i;
			tok[i][1] = 0;
		} else {
			snprintf(tok[i], sizeof(tok[i]), "%s",
				 pairs[pi++ % (sizeof(pairs) / sizeof(pairs[0]))]);
		}
	}
	/* offsets */
	lay->offsets = p;
	if (p + 4 * n + 64 > cap)
		goto out;
	for (i = 0; i < n; i++) {
		int64_t off;

		if (syms[i].absolute)
			off = (int64_t)syms[i].addr;
		else
			off = -(int64_t)(syms[i].addr - rb) - 1;
		put_u32(out + p + 4 * i, (uint32_t)(int32_t)off);
	}
	p = align8(p + 4 * n);
	lay->relative_base = p;
	put_u64(out + p, rb);
	p += 8;
	lay->num_syms = p;
	put_u32(out + p, (uint32_t)n);
	p = align8(p + 4);
	lay->names = p;
	for (i = 0; i < n; i++) {
		uint8_t enc[1100];
		size_t e = 0, j, len;
		char full[600];

		snprintf(full, sizeof(full), "%c%s", syms[i].type, syms[i].name);
		len = strlen(full);
		if (i % 256 == 0)
			markers[i / 256] = (uint32_t)(p - lay->names);
		for (j = 0; j < len;) {
			unsigned best = (unsigned char)full[j];

			for (k = 0; k < 256; k++) {
				if (tok[k][1] && !strncmp(full + j, tok[k], 2)) {
					best = (unsigned)k;
					break;
				}
			}
			enc[e++] = (uint8_t)best;
			j += strlen(tok[best]);
		}
		if (p + e + 2 > cap)
			goto out;
		if (e > 0x7f) {
			out[p++] = (uint8_t)(0x80 | (e & 0x7f));
			out[p++] = (uint8_t)(e >> 7);
		} else {
			out[p++] = (uint8_t)e;
		}
		memcpy(out + p, enc, e);
		p += e;
	}
	p = align8(p);
	lay->markers = p;
	if (p + 4 * nm + 8 > cap)
		goto out;
	for (i = 0; i < nm; i++)
		put_u32(out + p + 4 * i, markers[i]);
	p = align8(p + 4 * nm);
	lay->seqs = 0;
	if (with_seqs) {
		/* symbol numbers in name order (then address), 3 bytes big-endian */
		size_t *order = malloc(n * sizeof(*order));

		lay->seqs = p;
		if (!order || p + 3 * n + 8 > cap) {
			free(order);
			goto out;
		}
		for (i = 0; i < n; i++)
			order[i] = i;
		qsort_r(order, n, sizeof(*order), cmp_sym_name, (void *)syms);
		for (i = 0; i < n; i++) {
			out[p + 3 * i] = (uint8_t)(order[i] >> 16);
			out[p + 3 * i + 1] = (uint8_t)(order[i] >> 8);
			out[p + 3 * i + 2] = (uint8_t)order[i];
		}
		free(order);
		p = align8(p + 3 * n);
	}
	lay->token_table = p;
	{
		uint16_t idx[256];

		for (i = 0; i < 256; i++) {
			size_t l = strlen(tok[i]) + 1;

			if (p + l > cap)
				goto out;
			idx[i] = (uint16_t)(p - lay->token_table);
			memcpy(out + p, tok[i], l);
			p += l;
		}
		p = align8(p);
		lay->token_index = p;
		if (p + 512 > cap)
			goto out;
		for (i = 0; i < 256; i++)
			put_u16(out + p + 2 * i, idx[i]);
		p += 512;
	}
	lay->end = p;
	r = 0;
out:
	free(markers);
	return r;
}
