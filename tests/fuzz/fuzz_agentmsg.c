/*
 * The host's parser of guest -> host agent messages (hostile input): every
 * line of the input is parsed; a parsed message must be internally
 * consistent.
 */
/* clang-format off */
/* fuzz-sources: hvpatch/agentchan/hvc_msg.c hvpatch/common/hv_wire.c hvpatch/common/hv_hex.c hvpatch/common/hv_error.c */
/* clang-format on */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "agentchan/hvc.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *p = (const char *)data, *end = p + size;

	while (p < end) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		size_t len = nl ? (size_t)(nl - p) : (size_t)(end - p);
		struct hvc_msg m;

		if (hvc_msg_parse(p, len, &m) == 0) {
			if (m.verify.n > HV_WIRE_MAX_FUNCS ||
			    m.verify.npresent + m.verify.nmismatch + m.verify.nunreadable !=
				    m.verify.n)
				abort();
			if (strlen(m.agent.kernel_release) >= sizeof(m.agent.kernel_release))
				abort();
			hvc_msg_clear(&m);
		} else if (m.verify.checks) {
			abort();
		}
		p += len + 1;
	}
	return 0;
}
