#include "cli.h"

#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>

#include "hv_error.h"

int cli_fail(const char *cmd)
{
	const struct hv_error *e = hv_err_last();

	if (e->code == HV_OK) {
		fprintf(stderr,
			"hvpatch %s: error: the operation failed without a recorded reason\n", cmd);
		return HV_EXIT_FAIL;
	}
	fprintf(stderr, "hvpatch %s: error: %s\n", cmd, e->msg);
	if (getenv("HVPATCH_DEBUG"))
		fprintf(stderr, "hvpatch %s: (%s, recorded at %s:%s:%d)\n", cmd,
			hv_strerror(e->code), e->file, e->func, e->line);
	return HV_EXIT_FAIL;
}

int cli_usage_error(const char *cmd, const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "hvpatch %s: ", cmd);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, "\nTry 'hvpatch %s --help' for more information.\n", cmd);
	return HV_EXIT_USAGE;
}

int cli_parse_u64(const char *s, const char *what, uint64_t *out)
{
	char *end = NULL;
	unsigned long long v;

	if (!s || !*s || *s == '-' || *s == '+')
		return hv_err(HV_E_INVAL, "%s '%s' is not an unsigned number", what, s ? s : "");
	errno = 0;
	v = strtoull(s, &end, 0);
	if (errno == ERANGE)
		return hv_err(HV_E_INVAL, "%s '%s' does not fit in 64 bits", what, s);
	if (*end)
		return hv_err(HV_E_INVAL,
			      "%s '%s' is not a number (expected decimal, or hex with 0x)", what,
			      s);
	*out = v;
	return 0;
}
