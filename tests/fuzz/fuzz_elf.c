/*
 * hvpatch build's object reader (hostile .o files): any bytes either fail
 * with a recorded error or give a bundle that passes hvb_check.
 */
/* clang-format off */
/* fuzz-sources: hvpatch/bundle/hvb_build.c hvpatch/bundle/hvb.c hvpatch/common/hv_buf.c hvpatch/common/hv_hex.c hvpatch/common/hv_error.c */
/* clang-format on */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "hvb_build.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const char mf[] = "patch-id = fuzz\nlevel = 1\n"
				 "replace = cmdline_proc_show -> hvp_cmdline_proc_show\n"
				 "replace = version_proc_show -> hvp_version_proc_show\n"
				 "symbol = seq_printf -> init_once@3\n";
	struct hvb_manifest *m = NULL;
	struct hvb_kernel_id k;
	struct hvb_bundle *b = NULL;
	struct hvb_build_report rep;
	int r;

	memset(&k, 0, sizeof(k));
	k.build_id_len = 20;
	strcpy(k.release, "6.1.0-56-cloud-amd64");
	if (hvb_manifest_parse(mf, sizeof(mf) - 1, "fuzz.manifest", &m) != 0)
		abort();
	r = hvb_build_object(data, size, "fuzz.o", m, &k, 1, &b, &rep);
	if (r == 0) {
		if (hvb_check(b) != 0)
			abort();
		hvb_build_report_free(&rep);
	} else if (b || rep.secs || hv_err_last()->code == HV_OK) {
		abort();
	}
	if (hvb_vmlinux_identify(data, size, "fuzz", &k) < 0 && hv_err_last()->code == HV_OK)
		abort();
	hvb_free(b);
	hvb_manifest_free(m);
	return 0;
}
