/*
 * The agent's parser of host -> guest messages (the host is not trusted to
 * be sane either): every line of the input is parsed; a parsed status must
 * respect the limits.
 */
/* clang-format off */
/* fuzz-sources: guest-agent/agent_proto.c hvpatch/common/hv_wire.c hvpatch/common/hv_hex.c hvpatch/common/hv_error.c */
/* clang-format on */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "../../guest-agent/agent.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *p = (const char *)data, *end = p + size;

	while (p < end) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		size_t len = nl ? (size_t)(nl - p) : (size_t)(end - p);
		struct agt_msg m;
		uint64_t id;

		if (agt_msg_parse(p, len, &m, &id) == 0) {
			if (m.status.nfuncs > HV_WIRE_MAX_FUNCS || !m.id || m.id > HV_WIRE_ID_MAX)
				abort();
			for (size_t i = 0; i < m.status.nfuncs; i++)
				if (!m.status.funcs[i].expected_len ||
				    m.status.funcs[i].expected_len > HV_WIRE_BYTES_MAX)
					abort();
			agt_msg_clear(&m);
		} else if (m.status.funcs) {
			abort();
		}
		p += len + 1;
	}
	return 0;
}
