/*
 * hvpatch build's reader of a module's .ko (hostile files given to
 * --modules): the input is the file.  A parse either fails with a negative
 * HV_E_* and its sentence, or gives an object whose lookups of the seed's
 * names (bare and name@N) answer 0, HV_E_NOTFOUND or HV_E_INVAL with a
 * sentence, agreeing with each other: a bare name is there exactly when
 * name@0 is, and name@N+1 only when name@N is.
 * Seed: ko_fixture.ko, tests/unit/bundle-data/ko_fixture.c as "make check"
 * builds it (tests/unit/ko_fixture.ko in a build tree).
 */
/* clang-format off */
/* fuzz-sources: hvpatch/bundle/hvb_ko.c hvpatch/common/hv_buf.c hvpatch/common/hv_error.c */
/* clang-format on */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hvb_ko.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char *const names[] = {
	"ko_traced_global", "ko_traced_static", "ko_notrace", "ko_init",  "ko_exit",
	"ko_percpu_hits",   "ko_counter",	"ko_zeroed",  "ko_table", "ko_note",
	"ko_shared",	    "ko_twin",		"__fentry__", "",
};

/* One lookup: 0 with a sane answer, or NOTFOUND/INVAL with a sentence. */
static int ask(const struct hvb_ko *ko, const char *q)
{
	struct hvb_modsym m;
	int r = hvb_ko_lookup(ko, q, &m);

	if (r == 0) {
		if (!m.type || !strchr("tTdDbBrR", m.type) || m.addr)
			abort();
		if (m.untraced && m.type != 't' && m.type != 'T')
			abort();
	} else if ((r != HV_E_NOTFOUND && r != HV_E_INVAL) || hv_err_last()->code != r ||
		   !hv_err_last()->msg[0] || (r == HV_E_INVAL && strchr(q, '@'))) {
		abort();
	}
	return r;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct hvb_ko *ko = NULL;
	size_t i;
	int r;

	hv_err_clear();
	r = hvb_ko_parse(data, size, "fuzz.ko", &ko);
	if (r < 0) {
		if (ko || hv_err_last()->code != r || !hv_err_last()->msg[0])
			abort();
		return 0;
	}
	if (!ko)
		abort();
	for (i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		char q[64];
		int bare = ask(ko, names[i]), prev = 0, n;

		for (n = 0; n < 3; n++) {
			int at;

			snprintf(q, sizeof(q), "%s@%d", names[i], n);
			at = ask(ko, q);
			if (n == 0 && (bare == HV_E_NOTFOUND) != (at == HV_E_NOTFOUND))
				abort();
			if (at == 0 && prev != 0)
				abort();
			prev = at;
		}
	}
	hvb_ko_free(ko);
	return 0;
}
