/*
 * hvi_mem: how libhvi reads guest-physical memory.
 *
 * libhvi knows nothing of libvirt or QEMU: the caller hands it a read
 * callback and the size of guest-physical memory.  Everything libhvi reads
 * through it is treated as hostile (the guest controls every byte).
 */
#ifndef HVI_MEM_H
#define HVI_MEM_H

#include <stddef.h>
#include <stdint.h>

#include "hv_error.h"

/* x86-64 page sizes. */
#define HVI_PAGE_4K (1ull << 12)
#define HVI_PAGE_2M (1ull << 21)
#define HVI_PAGE_1G (1ull << 30)

struct hvi_mem {
	/*
	 * Copy @len bytes of guest-physical memory at @gpa into @buf.  Return
	 * 0, or a negative HV_E_* code after recording the reason with
	 * hv_err().  Called only for ranges below max_gpa.
	 */
	int (*read)(void *ctx, uint64_t gpa, void *buf, size_t len);
	/*
	 * Optional (may be NULL): a direct, read-only pointer to @len bytes of
	 * guest RAM at @gpa when the caller holds RAM mapped (e.g. a memfd),
	 * or NULL when that range is not directly mapped.  libhvi then reads
	 * large ranges (the kernel image) in place instead of copying them.
	 * The guest may change the bytes while libhvi reads them: libhvi's
	 * parsers stay in bounds whatever they see.
	 */
	const uint8_t *(*map)(void *ctx, uint64_t gpa, size_t len);
	void *ctx;
	/*
	 * One past the highest guest-physical address libhvi may read (the end
	 * of guest RAM).  Every table or page pointer at or above it is
	 * rejected as "outside guest RAM" before the callback is called.
	 */
	uint64_t max_gpa;
};

/*
 * A direct pointer to [@gpa, @gpa + @len) through m->map, or NULL when @m
 * has no map callback or the range is not mapped or not inside guest RAM.
 */
const uint8_t *hvi_mem_map(const struct hvi_mem *m, uint64_t gpa, size_t len);

/*
 * Read @len bytes at @gpa through @m.  Returns 0; HV_E_RANGE (recorded) if
 * any byte lies at or above m->max_gpa (or the range wraps); HV_E_INVAL if @m
 * has no callback; otherwise whatever the callback returned.
 */
int hvi_mem_read(const struct hvi_mem *m, uint64_t gpa, void *buf, size_t len) HV_WUR;

/*
 * A struct hvi_mem over a flat host buffer: guest-physical address 0 is
 * @base[0], max_gpa is @size_bytes, with a map callback.  Used by tests, fuzzers and tools that
 * already hold guest RAM in memory (e.g. a memfd mapping).  @flat must
 * outlive @m; nothing is allocated.
 */
struct hvi_flat_mem {
	const uint8_t *base;
	uint64_t size_bytes;
};
void hvi_mem_flat(struct hvi_mem *m, struct hvi_flat_mem *flat, const void *base,
		  uint64_t size_bytes);

#endif
