/*
 * The agent's readers of its own kernel's files, which the standards treat
 * as untrusted too: the ELF core file (/proc/kcore: header and program
 * headers) and the kallsyms text.  The first input byte picks the reader;
 * the rest is the file, served from a memfd.  Reads must stay inside the
 * segments the headers describe, and every result must be consistent.
 */
/* clang-format off */
/* fuzz-sources: guest-agent/agent_verify.c guest-agent/agent_state.c guest-agent/agent_proto.c hvpatch/common/hv_wire.c hvpatch/common/hv_hex.c hvpatch/common/hv_buf.c hvpatch/common/hv_error.c */
/* clang-format on */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* memfd_create */
#endif
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "../../guest-agent/agent.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int as_file(const uint8_t *p, size_t n, char *path, size_t pathlen)
{
	int fd = memfd_create("fuzz", 0);

	if (fd < 0)
		abort();
	if (n && write(fd, p, n) != (ssize_t)n)
		abort();
	snprintf(path, pathlen, "/proc/self/fd/%d", fd);
	return fd;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const uint64_t probes[] = { 0, 0xffffffff81000000ULL, 0xffffffff81000100ULL,
					   0xfffffffffffffff0ULL, 0x1000 };
	char path[64];
	uint8_t buf[16];
	size_t i;
	int fd;

	if (size < 1)
		return 0;
	fd = as_file(data + 1, size - 1, path, sizeof(path));
	if (data[0] & 1) {
		struct agt_kcore *k = NULL;

		if (agt_kcore_open(path, &k) == 0) {
			for (i = 0; i < sizeof(probes) / sizeof(probes[0]); i++)
				(void)!agt_kcore_read(k, probes[i], buf, sizeof(buf));
			agt_kcore_close(k);
		} else if (k) {
			abort();
		}
	} else {
		struct hv_wire_func f[2];
		struct hv_wire_status st;
		struct hv_wire_verify v;

		memset(&st, 0, sizeof(st));
		memset(&v, 0, sizeof(v));
		memset(f, 0, sizeof(f));
		snprintf(f[0].name, sizeof(f[0].name), "cmdline_proc_show");
		f[0].site = 0xffffffff81000100ULL;
		f[0].expected_len = 5;
		snprintf(f[1].name, sizeof(f[1].name), "a");
		f[1].site = 0x10;
		f[1].offset = 4;
		f[1].expected_len = 1;
		st.known = true;
		st.nfuncs = 2;
		st.funcs = f;
		if (agt_verify_run(&st, path, "/nonexistent/kcore", "fuzz", &v) != 0)
			abort();
		if (v.n != 2 || v.nunreadable != 2)
			abort();
		for (i = 0; i < v.n; i++)
			if (v.checks[i].sym == HV_WIRE_SYM_AGREES &&
			    v.checks[i].sym_addr + f[i].offset != f[i].site)
				abort();
		hv_wire_verify_clear(&v);
	}
	close(fd);
	return 0;
}
