/*
 * bench_hvi_index [RUNS] [VMLINUX]: time and peak memory of building the
 * full symbol index (hvi_kernel_open(): locate the kernel from CR3, copy the
 * image, find and decode kallsyms, read release and build-id) over the real
 * Debian vmlinux loaded into a synthetic guest RAM at a KASLR-like base.
 *
 * Each run is a forked child, so the peak memory it reports is the growth of
 * the child's resident set over what it inherited (the synthetic RAM).
 * Prints one line per statistic and a last summary line:
 *   index: N runs, median X ms, p99 Y ms, peak +Z MiB, S symbols
 * Exits 77 when the vmlinux is not cached.
 */
#include "config.h"

#include <elf.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "hvi_kernel.h"
#include "hv_clock.h"
#include "hvi_testlib.h"

#define LINK_TEXT 0xffffffff81000000ull
#define LINK_PHYS 0x1000000ull
#define PHYS	  0x7a00000ull
#define TEXT_GVA  0xffffffffb5400000ull

static long rss_kib(void)
{
	FILE *f = fopen("/proc/self/statm", "r");
	long pages = 0, res = 0;

	if (!f)
		return 0;
	if (fscanf(f, "%ld %ld", &pages, &res) != 2)
		res = 0;
	fclose(f);
	return res * (sysconf(_SC_PAGESIZE) / 1024);
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

/* Load the PT_LOAD segments and map them like Linux: 2 MiB pages. */
static int load(const char *path, struct tmem *t)
{
	FILE *f = fopen(path, "rb");
	uint8_t *elf = NULL;
	long n;
	const Elf64_Ehdr *e;
	const Elf64_Phdr *ph;
	uint64_t end = 0, off;
	unsigned i;
	int r = -1;

	if (!f)
		return -1;
	if (fseek(f, 0, SEEK_END) || (n = ftell(f)) < (long)sizeof(*e) || fseek(f, 0, SEEK_SET))
		goto out;
	elf = malloc((size_t)n);
	if (!elf || fread(elf, 1, (size_t)n, f) != (size_t)n)
		goto out;
	e = (const Elf64_Ehdr *)elf;
	if (memcmp(e->e_ident, ELFMAG, SELFMAG) ||
	    e->e_phoff + e->e_phnum * sizeof(*ph) > (size_t)n)
		goto out;
	ph = (const Elf64_Phdr *)(elf + e->e_phoff);
	for (i = 0; i < e->e_phnum; i++)
		if (ph[i].p_type == PT_LOAD && ph[i].p_paddr + ph[i].p_memsz - LINK_PHYS > end)
			end = ph[i].p_paddr + ph[i].p_memsz - LINK_PHYS;
	end = (end + HVI_PAGE_2M - 1) & ~(HVI_PAGE_2M - 1);
	if (tmem_init(t, PHYS + end + (2u << 20), PHYS + end, 2u << 20, 4) < 0)
		goto out;
	for (i = 0; i < e->e_phnum; i++) {
		if (ph[i].p_type != PT_LOAD || ph[i].p_offset + ph[i].p_filesz > (size_t)n)
			continue;
		memcpy(t->ram + PHYS + ph[i].p_paddr - LINK_PHYS, elf + ph[i].p_offset,
		       ph[i].p_filesz);
	}
	for (off = 0; off < end; off += HVI_PAGE_2M)
		tmem_map(t, TEXT_GVA + off, PHYS + off, HVI_PAGE_2M, HVI_PTE_G);
	/* KASLR: move relative_base as the kernel's relocation does */
	{
		struct hvi_ksyms_tables tab;

		if (hvi_ksyms_find(t->ram + PHYS, end, &tab) < 0)
			goto out;
		put_u64(t->ram + PHYS + tab.relative_base_off,
			get_u64(t->ram + PHYS + tab.relative_base_off) + (TEXT_GVA - LINK_TEXT));
	}
	r = 0;
out:
	free(elf);
	fclose(f);
	return r;
}

int main(int argc, char **argv)
{
	int runs = argc > 1 ? atoi(argv[1]) : 30, i;
	const char *path = argc > 2 ? argv[2] : "/var/cache/hvpatch/kernels/6.1.0-56/vmlinux";
	uint64_t *ns, *peak;
	size_t nsyms = 0;
	struct tmem t;

	if (runs < 1 || runs > 10000) {
		fprintf(stderr, "usage: bench_hvi_index [RUNS (1..10000)] [VMLINUX]\n");
		return 2;
	}
	if (access(path, R_OK) != 0) {
		printf("SKIP: %s is not cached (sh tests/guest/fetch-kernel.sh 6.1.0-56)\n", path);
		return 77;
	}
	if (load(path, &t) < 0) {
		fprintf(stderr, "bench_hvi_index: cannot load %s\n", path);
		return 1;
	}
	ns = calloc((size_t)runs, sizeof(*ns));
	peak = calloc((size_t)runs, sizeof(*peak));
	if (!ns || !peak)
		return 1;
	for (i = 0; i < runs; i++) {
		int fds[2], st = 0;
		pid_t pid;
		uint64_t msg[3] = { 0, 0, 0 };

		if (pipe(fds) < 0)
			return 1;
		pid = fork();
		if (pid == 0) {
			struct hvi_kernel *k = NULL;
			struct rusage ru;
			long base = rss_kib();
			uint64_t t0 = hv_mono_ns();
			int r = hvi_kernel_open(&t.mem, t.pgd, 0, NULL, &k);

			msg[0] = hv_mono_ns() - t0;
			getrusage(RUSAGE_SELF, &ru);
			msg[1] = (uint64_t)(ru.ru_maxrss > base ? ru.ru_maxrss - base : 0);
			msg[2] = r == 0 ? k->nsyms : 0;
			if (r < 0)
				fprintf(stderr, "hvi_kernel_open: %s\n", hv_err_last()->msg);
			if (write(fds[1], msg, sizeof(msg)) != sizeof(msg))
				_exit(1);
			_exit(r == 0 ? 0 : 1);
		}
		close(fds[1]);
		if (pid < 0 || read(fds[0], msg, sizeof(msg)) != sizeof(msg) ||
		    waitpid(pid, &st, 0) != pid || !WIFEXITED(st) || WEXITSTATUS(st) != 0) {
			fprintf(stderr, "bench_hvi_index: run %d failed\n", i);
			return 1;
		}
		close(fds[0]);
		ns[i] = msg[0];
		peak[i] = msg[1];
		nsyms = (size_t)msg[2];
	}
	qsort(ns, (size_t)runs, sizeof(*ns), cmp_u64);
	qsort(peak, (size_t)runs, sizeof(*peak), cmp_u64);
	printf("index: %d runs, median %.1f ms, p99 %.1f ms, peak +%.1f MiB, %zu symbols\n", runs,
	       ns[runs / 2] / 1e6, ns[(runs * 99 + 99) / 100 - 1] / 1e6, peak[runs - 1] / 1024.0,
	       nsyms);
	free(ns);
	free(peak);
	tmem_free(&t);
	return 0;
}
