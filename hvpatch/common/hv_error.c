#include "hv_error.h"

#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#pragma GCC diagnostic ignored "-Wformat-truncation"

static __thread struct hv_error last_error;

/*
 * Length of the well-formed UTF-8 sequence at @s (2 to 4 bytes) that is not
 * a C1 control (U+0080..U+009F, which a terminal obeys like ESC), or 0.
 */
static size_t utf8_printable_len(const unsigned char *s)
{
	size_t n, k;
	uint32_t cp;

	if (s[0] >= 0xc2 && s[0] <= 0xdf) {
		n = 2;
		cp = s[0] & 0x1fu;
	} else if (s[0] >= 0xe0 && s[0] <= 0xef) {
		n = 3;
		cp = s[0] & 0x0fu;
	} else if (s[0] >= 0xf0 && s[0] <= 0xf4) {
		n = 4;
		cp = s[0] & 0x07u;
	} else {
		return 0;
	}
	for (k = 1; k < n; k++) {
		if ((s[k] & 0xc0) != 0x80)
			return 0;
		cp = (cp << 6) | (s[k] & 0x3fu);
	}
	return cp >= 0x80 && cp <= 0x9f ? 0 : n;
}

/*
 * A message is one line of text for a person: a control character in it
 * (most often a carriage return pasted from a serial console into a name
 * on the command line, or a byte from a guest) would be invisible or move
 * the cursor, and so would a C1 control, raw (0x9b is CSI on an 8-bit
 * terminal) or UTF-8 encoded.  Show each such byte as \xNN, in place,
 * dropping what no longer fits; well-formed UTF-8 text stays as it is.
 */
static void escape_controls(char *msg, size_t size)
{
	char tmp[sizeof(last_error.msg)];
	size_t i = 0, o = 0, n;

	while (msg[i] && o + 1 < sizeof(tmp)) {
		unsigned char c = (unsigned char)msg[i];

		if (c >= 0x20 && c < 0x7f) {
			tmp[o++] = (char)c;
			i++;
		} else if (c >= 0x80 && (n = utf8_printable_len((const unsigned char *)msg + i))) {
			if (o + n + 1 > sizeof(tmp))
				break;
			memcpy(tmp + o, msg + i, n);
			o += n;
			i += n;
		} else if (o + 5 < sizeof(tmp)) {
			snprintf(tmp + o, sizeof(tmp) - o, "\\x%02x", c);
			o += 4;
			i++;
		} else {
			break;
		}
	}
	tmp[o] = '\0';
	snprintf(msg, size, "%s", tmp);
}

int hv_err_set_at(const char *file, const char *func, int line, int code, const char *fmt, ...)
{
	va_list ap;

	last_error.code = code;
	last_error.file = file;
	last_error.func = func;
	last_error.line = line;
	va_start(ap, fmt);
	vsnprintf(last_error.msg, sizeof(last_error.msg), fmt, ap);
	va_end(ap);
	escape_controls(last_error.msg, sizeof(last_error.msg));
	return code;
}

int hv_err_prefix(const char *fmt, ...)
{
	char prefix[512];
	char old[sizeof(last_error.msg)];
	va_list ap;

	if (last_error.code == HV_OK)
		return hv_err(HV_E_INTERNAL, "an operation failed without recording why");
	va_start(ap, fmt);
	vsnprintf(prefix, sizeof(prefix), fmt, ap);
	va_end(ap);
	memcpy(old, last_error.msg, sizeof(old));
	/* Truncation is acceptable: the message stays NUL-terminated. */
	if (snprintf(last_error.msg, sizeof(last_error.msg), "%s: %s", prefix, old) < 0)
		last_error.msg[0] = 0;
	escape_controls(last_error.msg, sizeof(last_error.msg));
	return last_error.code;
}

const struct hv_error *hv_err_last(void)
{
	return &last_error;
}

void hv_err_clear(void)
{
	memset(&last_error, 0, sizeof(last_error));
}

const char *hv_strerror(int code)
{
	switch (code) {
	case HV_OK:
		return "success";
	case HV_E_NOMEM:
		return "out of memory";
	case HV_E_INVAL:
		return "invalid argument";
	case HV_E_IO:
		return "I/O error";
	case HV_E_RANGE:
		return "out of range";
	case HV_E_FORMAT:
		return "malformed data";
	case HV_E_NOTFOUND:
		return "not found";
	case HV_E_UNSUPPORTED:
		return "unsupported";
	case HV_E_PERM:
		return "permission denied";
	case HV_E_TIMEOUT:
		return "timed out";
	case HV_E_STATE:
		return "wrong state";
	case HV_E_PROTO:
		return "protocol error";
	case HV_E_BUSY:
		return "busy";
	case HV_E_VERIFY:
		return "verification failed";
	case HV_E_INTERNAL:
		return "internal error";
	default:
		return "unknown error";
	}
}
