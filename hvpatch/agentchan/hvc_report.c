/* Guarded so the fuzz runner (tests/fuzz/run.sh) can build it without configure. */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

/* The outcome of a status exchange as JSON, for the CLI, the ledger and logs. */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>

#include "hvc.h"

/* @o (stolen) as compact JSON; NULL when @o is NULL or out of memory. */
static char *dump(json_t *o)
{
	char *s = o ? json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER) : NULL;

	json_decref(o);
	return s;
}

char *hvc_agent_json(const struct hv_wire_hello *a)
{
	return dump(hv_wire_hello_json(a));
}

char *hvc_report_json(const struct hvc_report *rep, int r)
{
	json_t *o, *fa = json_array();
	size_t i;

	o = json_pack("{s:b,s:I,s:b,s:b,s:s,s:b,s:i,s:i,s:i}", "ok", r == 0, "status_id",
		      (json_int_t)rep->status_id, "acked", rep->acked, "rejected", rep->rejected,
		      "agent_error", rep->agent_error, "verified", rep->verified, "present",
		      rep->npresent, "mismatch", rep->nmismatch, "unreadable", rep->nunreadable);
	if (!o || !fa) {
		json_decref(o);
		json_decref(fa);
		return NULL;
	}
	json_object_set_new(o, "agent", rep->hello ? hv_wire_hello_json(&rep->agent) : json_null());
	for (i = 0; i < rep->nsites; i++)
		json_array_append_new(fa, hv_wire_check_json(&rep->sites[i]));
	json_object_set_new(o, "functions", fa);
	json_object_set_new(o, "misbehaved", json_boolean(rep->misbehaved));
	json_object_set_new(o, "misbehaviour", json_string(rep->misbehaviour));
	json_object_set_new(o, "elapsed_ms", json_integer((json_int_t)rep->elapsed_ms));
	json_object_set_new(o, "error", r < 0 ? json_string(hv_err_last()->msg) : json_null());
	return dump(o);
}
