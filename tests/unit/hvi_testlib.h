/*
 * Helpers for libhvi tests, fuzzers and benchmarks: a synthetic guest RAM
 * with page tables built on demand, and a kallsyms encoder that writes the
 * Linux 6.1 table layout the way scripts/kallsyms.c does.
 */
#ifndef HVI_TESTLIB_H
#define HVI_TESTLIB_H

#include <stddef.h>
#include <stdint.h>

#include "hvi_mem.h"

/* Synthetic guest RAM: ram[gpa], tables taken from a bump allocator. */
struct tmem {
	uint8_t *ram;
	uint64_t size;
	uint64_t next_table; /* next free 4 KiB page for tables */
	uint64_t tables_end;
	unsigned levels; /* 4 or 5 */
	uint64_t pgd;	 /* 8 KiB PTI pair: kernel half, then user half */
	struct hvi_flat_mem flat;
	struct hvi_mem mem;
};

/*
 * Allocate @ram_bytes of zeroed RAM whose page tables live in
 * [@tables_gpa, @tables_gpa + @tables_bytes).  Returns 0 or -1.
 */
int tmem_init(struct tmem *t, uint64_t ram_bytes, uint64_t tables_gpa, uint64_t tables_bytes,
	      unsigned levels);
void tmem_free(struct tmem *t);

/* A new zeroed 4 KiB table (aborts when the table area is full). */
uint64_t tmem_table(struct tmem *t);

/*
 * Map @gva to @gpa with a leaf of @page_size bytes and entry flags @flags
 * (P is added), creating intermediate tables (P|RW|A|D, plus US if @flags
 * has it).  Returns the gpa of the table holding the leaf.
 */
uint64_t tmem_map(struct tmem *t, uint64_t gva, uint64_t gpa, uint64_t page_size, uint64_t flags);

/* Read / write the entry @index of the table at @table_gpa. */
uint64_t tmem_get(const struct tmem *t, uint64_t table_gpa, unsigned index);
void tmem_set(struct tmem *t, uint64_t table_gpa, unsigned index, uint64_t value);

/* CR4 for the paging mode of @t. */
uint64_t tmem_cr4(const struct tmem *t);

/* One symbol for the encoder: type letter, name, address. */
struct enc_sym {
	char type;
	const char *name;
	uint64_t addr;
	int absolute; /* per-cpu: stored as a non-negative offset (the value itself) */
};

/* Where the encoder put each table (offsets in the output buffer). */
struct enc_layout {
	size_t offsets, relative_base, num_syms, names, markers, seqs, token_table, token_index,
		end;
};

/*
 * Write kallsyms tables for @syms at @base (8-byte aligned) in @out (@cap
 * bytes), with relative_base @rb, in the Linux 6.1 order and alignment, and
 * the absolute-per-cpu offset scheme; with @with_seqs, kallsyms_seqs_of_names
 * lies between the markers and the token table (the 6.2 order, also in the
 * Debian 6.1 kernels).  Names are compressed with single
 * character tokens at their own index plus two-letter tokens in the unused
 * slots.  Returns 0 and fills @lay, or -1 if it does not fit.
 */
int enc_kallsyms(const struct enc_sym *syms, size_t n, uint64_t rb, uint8_t *out, size_t cap,
		 size_t base, int with_seqs, struct enc_layout *lay);

/* Store little-endian values. */
void put_u16(uint8_t *p, uint16_t v);
void put_u32(uint8_t *p, uint32_t v);
void put_u64(uint8_t *p, uint64_t v);
uint64_t get_u64(const uint8_t *p);

#endif
