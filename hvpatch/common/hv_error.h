/*
 * hv_error: project-wide error codes and the per-thread last error.
 *
 * Every fallible function in hvpatch returns 0 (or a non-negative count) on
 * success and a negative HV_E_* code on failure.  Before returning a failure
 * it records one complete sentence (what failed, on which object, and why)
 * with hv_err(); callers that add context use hv_err_prefix().  The CLI
 * prints hv_err_last()->msg.  The record is thread-local, so concurrent
 * sessions in the service never see each other's errors.
 */
#ifndef HV_ERROR_H
#define HV_ERROR_H

#include <stddef.h>

#define HV_WUR __attribute__((warn_unused_result))

enum hv_errcode {
	HV_OK = 0,
	HV_E_NOMEM = -1,       /* allocation failed */
	HV_E_INVAL = -2,       /* caller passed an invalid argument */
	HV_E_IO = -3,	       /* host I/O failed (errno is in the message) */
	HV_E_RANGE = -4,       /* an address or value lies outside what is allowed */
	HV_E_FORMAT = -5,      /* malformed data: guest tables, bundles, messages */
	HV_E_NOTFOUND = -6,    /* the named object does not exist */
	HV_E_UNSUPPORTED = -7, /* the backend or guest does not offer this */
	HV_E_PERM = -8,	       /* permission denied */
	HV_E_TIMEOUT = -9,     /* a deadline passed */
	HV_E_STATE = -10,      /* object is in the wrong state (e.g. not running) */
	HV_E_PROTO = -11,      /* a peer broke its protocol */
	HV_E_BUSY = -12,       /* resource held by someone else */
	HV_E_VERIFY = -13,     /* a signature or consistency check failed */
	HV_E_INTERNAL = -14,   /* a bug in hvpatch */
};
#define HV_E_MIN HV_E_INTERNAL

struct hv_error {
	int code;	  /* HV_E_* or HV_OK */
	const char *file; /* where it was recorded (static strings) */
	const char *func;
	int line;
	char msg[1024]; /* one sentence, NUL-terminated, possibly truncated */
};

/*
 * Record an error for this thread and return @code, so callers can write
 * "return hv_err(HV_E_FORMAT, "...")".  Use the hv_err() macro.
 */
int hv_err_set_at(const char *file, const char *func, int line, int code, const char *fmt, ...)
	__attribute__((format(printf, 5, 6)));
#define hv_err(code, ...) hv_err_set_at(__FILE__, __func__, __LINE__, (code), __VA_ARGS__)

/*
 * Put "<context>: " in front of the recorded message, keeping its code and
 * origin, and return the recorded code.  If nothing is recorded, record
 * HV_E_INTERNAL saying so (a caller forgot to call hv_err()).
 */
int hv_err_prefix(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* This thread's last error; never NULL; code is HV_OK if none recorded. */
const struct hv_error *hv_err_last(void);

/* Forget this thread's last error. */
void hv_err_clear(void);

/* A static, short name for an error code ("format error"); never NULL. */
const char *hv_strerror(int code);

#endif
