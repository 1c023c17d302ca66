/* Fixtures for the agent and channel tests (test_agent_fixture.c). */
#ifndef TEST_AGENT_FIXTURE_H
#define TEST_AGENT_FIXTURE_H

#include <stddef.h>
#include <stdint.h>

/* Kernel text the synthetic core maps, and a function inside it. */
#define FX_TEXT_VA   0xffffffff81000000ULL
#define FX_TEXT_LEN  0x2000
#define FX_FUNC_OFF  0x100
#define FX_FUNC_VA   (FX_TEXT_VA + FX_FUNC_OFF)
#define FX_FUNC2_OFF 0x200
#define FX_FUNC2_VA  (FX_TEXT_VA + FX_FUNC2_OFF)

/*
 * Build an ELF core image in @img (@cap bytes) with one PT_NOTE and one
 * PT_LOAD segment mapping @text at @text_va.  Returns its size, 0 if @cap
 * is too small.
 */
size_t fx_kcore_image(uint8_t *img, size_t cap, uint64_t text_va, const uint8_t *text,
		      size_t text_len);
int fx_kcore_file(const char *path, uint64_t text_va, const uint8_t *text, size_t text_len);
int fx_write(const char *path, const void *p, size_t n);
/* A fresh /tmp/hvp-agent-test-XXXXXX directory (malloc'ed); fx_rmdir removes and frees it. */
char *fx_tmpdir(void);
void fx_rmdir(char *dir);

#endif
