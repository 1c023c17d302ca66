/*
 * test_bundle_exec BUNDLE: run an example bundle's code in this process.
 *
 * The bundle's sections are placed in low memory (below 2 GiB, so its
 * R_X86_64_32S references fit as they do in the kernel's top 2 GiB), kernel
 * symbols resolve to small stubs that jump to host stand-ins (seq_puts,
 * seq_printf, saved_command_line, __x86_return_thunk), and each replaced
 * function's "original body" is a stand-in reached at entry + 5, exactly
 * as hvb_apply_relocs() lays it out for the apply engine.  Then each known
 * replacement (cmdline_proc_show, version_proc_show, proc_do_uts_string) is
 * called and what it did is printed, one line per call:
 *
 *   cmdline_proc_show ret=0 out=[console=ttyS0 quiet hvpatch_level=2026.11-1\n]
 *   proc_do_uts_string write=[evil/host name\n] ret=-22 orig=0
 *
 * Used by test_bundle_examples.sh on the bundles it builds with the real
 * kbuild; not a test of its own.  x86-64 only.
 */
#include "config.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "hvb.h"

#define AREA	     0x20000000ull /* below 2 GiB: 32S references fit */
#define AREA_BYTES   (16u << 20)
#define SEC_STRIDE   (1u << 20)
#define STUBS	     (AREA + 14 * SEC_STRIDE)
#define ORIGS	     (AREA + 15 * SEC_STRIDE)
#define HOST_ALIGNED __attribute__((force_align_arg_pointer))

struct fake_seq {
	char buf[4096];
	size_t len;
};

static int orig_calls;
static const char cmdline[] = "console=ttyS0 quiet";

static HOST_ALIGNED int host_seq_puts(struct fake_seq *m, const char *s)
{
	size_t n = strlen(s);

	if (m->len + n < sizeof(m->buf)) {
		memcpy(m->buf + m->len, s, n);
		m->len += n;
	}
	return 0;
}

static HOST_ALIGNED int host_seq_printf(struct fake_seq *m, const char *f, ...)
{
	va_list ap;
	int n;

	va_start(ap, f);
	n = vsnprintf(m->buf + m->len, sizeof(m->buf) - m->len, f, ap);
	va_end(ap);
	if (n > 0 && (size_t)n < sizeof(m->buf) - m->len)
		m->len += (size_t)n;
	return 0;
}

/* Stand-ins for the original bodies. */
static HOST_ALIGNED int orig_version_proc_show(struct fake_seq *m, void *v)
{
	(void)v;
	orig_calls++;
	host_seq_puts(m, "Linux version 6.1.0-test (original body)\n");
	return 0;
}

static HOST_ALIGNED int orig_cmdline_proc_show(struct fake_seq *m, void *v)
{
	(void)v;
	orig_calls++;
	host_seq_puts(m, cmdline);
	host_seq_puts(m, "\n");
	return 0;
}

static HOST_ALIGNED int orig_proc_do_uts_string(void *table, int write, void *buffer, size_t *lenp,
						long long *ppos)
{
	(void)table;
	(void)write;
	(void)buffer;
	(void)lenp;
	(void)ppos;
	orig_calls++;
	return 0;
}

struct stub {
	const char *name;
	void *host; /* jump target, or NULL for a data slot / ret */
	int kind;   /* 0 jump stub, 1 ret, 2 data slot holding &cmdline */
};

static const struct stub stubs[] = {
	{ "seq_puts", (void *)host_seq_puts, 0 },
	{ "seq_printf", (void *)host_seq_printf, 0 },
	{ "__x86_return_thunk", NULL, 1 },
	{ "saved_command_line", NULL, 2 },
};

static const struct {
	const char *target;
	void *host;
} origs[] = {
	{ "cmdline_proc_show", (void *)orig_cmdline_proc_show },
	{ "version_proc_show", (void *)orig_version_proc_show },
	{ "proc_do_uts_string", (void *)orig_proc_do_uts_string },
};

/* movabs $host, %rax; jmp *%rax */
static void put_jump(uint8_t *p, const void *host)
{
	uint64_t a = (uint64_t)(uintptr_t)host;

	p[0] = 0x48;
	p[1] = 0xb8;
	memcpy(p + 2, &a, 8);
	p[10] = 0xff;
	p[11] = 0xe0;
}

static int resolve(void *ctx, const char *name, uint64_t *addr)
{
	size_t i;

	(void)ctx;
	for (i = 0; i < sizeof(stubs) / sizeof(stubs[0]); i++)
		if (!strcmp(stubs[i].name, name)) {
			*addr = STUBS + 16 * i;
			return 0;
		}
	return hv_err(HV_E_NOTFOUND, "the example runner has no stand-in for kernel symbol %s",
		      name);
}

static void show(const char *what, int ret, const struct fake_seq *m)
{
	size_t i;

	printf("%s ret=%d orig=%d out=[", what, ret, orig_calls);
	for (i = 0; i < m->len; i++) {
		if (m->buf[i] == '\n')
			fputs("\\n", stdout);
		else
			putchar(m->buf[i]);
	}
	printf("]\n");
}

int main(int argc, char **argv)
{
	struct hvb_bundle *b = NULL;
	struct hvb_patched out = { 0 };
	uint64_t secs[HVB_MAX_SECTIONS], tgts[HVB_MAX_REPLACEMENTS];
	struct hvb_placement pl = { secs, tgts };
	uint8_t *area, *buf = NULL;
	size_t len = 0, i, j;

	if (argc != 2) {
		fprintf(stderr, "usage: test_bundle_exec BUNDLE\n");
		return 2;
	}
	if (hvb_read_file(argv[1], 0, &buf, &len) < 0 || hvb_parse(buf, len, &b) < 0) {
		fprintf(stderr, "test_bundle_exec: %s\n", hv_err_last()->msg);
		return 1;
	}
	area = mmap((void *)(uintptr_t)AREA, AREA_BYTES, PROT_READ | PROT_WRITE | PROT_EXEC,
		    MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, -1, 0);
	if (area != (void *)(uintptr_t)AREA) {
		printf("SKIP: cannot map executable memory at 0x%llx\n", (unsigned long long)AREA);
		return 77;
	}
	for (i = 0; i < sizeof(stubs) / sizeof(stubs[0]); i++) {
		uint8_t *p = area + (STUBS - AREA) + 16 * i;

		if (stubs[i].kind == 0) {
			put_jump(p, stubs[i].host);
		} else if (stubs[i].kind == 1) {
			p[0] = 0xc3;
		} else {
			const char *s = cmdline;

			memcpy(p, &s, sizeof(s));
		}
	}
	if (b->nsections > 14) {
		fprintf(stderr, "test_bundle_exec: too many sections\n");
		return 1;
	}
	for (i = 0; i < b->nsections; i++)
		secs[i] = AREA + i * SEC_STRIDE;
	for (i = 0; i < b->nreplacements; i++) {
		uint8_t *t = area + (ORIGS - AREA) + 64 * i;

		tgts[i] = ORIGS + 64 * i;
		memset(t, 0xcc, 64);
		for (j = 0; j < sizeof(origs) / sizeof(origs[0]); j++)
			if (!strcmp(origs[j].target, b->replacements[i].target))
				put_jump(t + HVB_ORIG_BODY_OFFSET, origs[j].host);
	}
	if (hvb_apply_relocs(b, &pl, resolve, NULL, &out) < 0) {
		fprintf(stderr, "test_bundle_exec: %s\n", hv_err_last()->msg);
		return 1;
	}
	for (i = 0; i < b->nsections; i++)
		memcpy(area + i * SEC_STRIDE, out.bytes[i], b->sections[i].size_bytes);
	__builtin___clear_cache((char *)area, (char *)area + AREA_BYTES);

	for (i = 0; i < b->nreplacements; i++) {
		const struct hvb_replacement *p = &b->replacements[i];
		void *entry = area + p->section * SEC_STRIDE + p->offset;
		struct fake_seq m;

		memset(&m, 0, sizeof(m));
		orig_calls = 0;
		if (!strcmp(p->target, "cmdline_proc_show") ||
		    !strcmp(p->target, "version_proc_show")) {
			int (*fn)(struct fake_seq *, void *) =
				(int (*)(struct fake_seq *, void *))(uintptr_t)entry;
			int ret = fn(&m, NULL);

			show(p->target, ret, &m);
		} else if (!strcmp(p->target, "proc_do_uts_string")) {
			int (*fn)(void *, int, void *, size_t *, long long *) = (int (*)(
				void *, int, void *, size_t *, long long *))(uintptr_t)entry;
			static const char *const values[] = { "evil/host name\n",
							      "good-name.example\n" };

			for (j = 0; j < 2; j++) {
				char v[64];
				size_t n = strlen(values[j]);
				long long pos = 0;
				int ret;

				memcpy(v, values[j], n + 1);
				orig_calls = 0;
				ret = fn(NULL, 1, v, &n, &pos);
				printf("proc_do_uts_string write=[%.*s] ret=%d orig=%d\n",
				       (int)strlen(values[j]) - 1, values[j], ret, orig_calls);
			}
		} else {
			printf("%s not run (no stand-in arguments)\n", p->target);
		}
	}
	hvb_patched_free(&out);
	hvb_free(b);
	free(buf);
	munmap(area, AREA_BYTES);
	return 0;
}
