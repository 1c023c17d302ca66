/*
 * Fixtures shared by the agent and channel tests: a scratch directory,
 * synthetic kallsyms files and synthetic ELF core files shaped like
 * /proc/kcore (ELF64, ET_CORE, x86-64, a PT_NOTE and PT_LOAD segments).
 */
#include "config.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "test_agent_fixture.h"

static void put16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)v;
	p[1] = (uint8_t)(v >> 8);
}

static void put32(uint8_t *p, uint32_t v)
{
	put16(p, (uint16_t)v);
	put16(p + 2, (uint16_t)(v >> 16));
}

static void put64(uint8_t *p, uint64_t v)
{
	put32(p, (uint32_t)v);
	put32(p + 4, (uint32_t)(v >> 32));
}

size_t fx_kcore_image(uint8_t *img, size_t cap, uint64_t text_va, const uint8_t *text,
		      size_t text_len)
{
	/* header 64, 2 phdrs 112, note at 0x100, text at 0x1000 */
	const size_t text_off = 0x1000;
	uint8_t *ph;

	if (cap < text_off + text_len)
		return 0;
	memset(img, 0, text_off + text_len);
	memcpy(img,
	       "\x7f"
	       "ELF",
	       4);
	img[4] = 2; /* ELFCLASS64 */
	img[5] = 1; /* little endian */
	img[6] = 1;
	put16(img + 16, 4);  /* ET_CORE */
	put16(img + 18, 62); /* EM_X86_64 */
	put32(img + 20, 1);
	put64(img + 32, 64); /* e_phoff */
	put16(img + 52, 64);
	put16(img + 54, 56); /* e_phentsize */
	put16(img + 56, 2);  /* e_phnum */
	ph = img + 64;
	put32(ph, 4); /* PT_NOTE */
	put64(ph + 8, 0x100);
	put64(ph + 32, 16);
	ph += 56;
	put32(ph, 1); /* PT_LOAD */
	put32(ph + 4, 5);
	put64(ph + 8, text_off);
	put64(ph + 16, text_va);
	put64(ph + 24, 0);
	put64(ph + 32, text_len);
	put64(ph + 40, text_len);
	memcpy(img + text_off, text, text_len);
	return text_off + text_len;
}

int fx_write(const char *path, const void *p, size_t n)
{
	FILE *f = fopen(path, "wb");
	int ok;

	if (!f)
		return -1;
	ok = fwrite(p, 1, n, f) == n;
	ok &= fclose(f) == 0;
	return ok ? 0 : -1;
}

int fx_kcore_file(const char *path, uint64_t text_va, const uint8_t *text, size_t text_len)
{
	uint8_t *img = malloc(0x1000 + text_len);
	size_t n;
	int r = -1;

	if (!img)
		return -1;
	n = fx_kcore_image(img, 0x1000 + text_len, text_va, text, text_len);
	if (n)
		r = fx_write(path, img, n);
	free(img);
	return r;
}

char *fx_tmpdir(void)
{
	char tmpl[] = "/tmp/hvp-agent-test-XXXXXX";
	char *d = mkdtemp(tmpl);

	return d ? strdup(d) : NULL;
}

void fx_rmdir(char *dir)
{
	char cmd[512];

	if (!dir)
		return;
	if (!strncmp(dir, "/tmp/hvp-agent-test-", 20) && !strchr(dir, '\'')) {
		snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
		if (system(cmd) != 0)
			fprintf(stderr, "could not remove %s\n", dir);
	}
	free(dir);
}
