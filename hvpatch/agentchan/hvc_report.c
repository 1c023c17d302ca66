/* Guarded so the fuzz runner (tests/fuzz/run.sh) can build it without configure. */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

/* The outcome of a status exchange as JSON, for the CLI, the ledger and logs. */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>

#include "hvc.h"

static json_t *agent_json(const struct hvc_agent_info *a)
{
	return json_pack("{s:s,s:s,s:s,s:o}", "agent_version", a->agent_version, "kernel_release",
			 a->kernel_release, "boot_id", a->boot_id, "level",
			 a->level_known ? json_string(a->level) : json_null());
}

char *hvc_agent_json(const struct hvc_agent_info *a)
{
	json_t *o = agent_json(a);
	char *s = o ? json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER) : NULL;

	json_decref(o);
	return s;
}

char *hvc_report_json(const struct hvc_report *rep, int r)
{
	json_t *o, *fa = json_array();
	char *out;
	char hx[2 * HVC_BYTES_MAX + 1], site[24];
	size_t i, j;

	o = json_pack("{s:b,s:I,s:b,s:b,s:s,s:b,s:i,s:i,s:i}", "ok", r == 0, "status_id",
		      (json_int_t)rep->status_id, "acked", rep->acked, "rejected", rep->rejected,
		      "agent_error", rep->agent_error, "verified", rep->verified, "present",
		      rep->npresent, "mismatch", rep->nmismatch, "unreadable", rep->nunreadable);
	if (!o || !fa) {
		json_decref(o);
		json_decref(fa);
		return NULL;
	}
	json_object_set_new(o, "agent", rep->hello ? agent_json(&rep->agent) : json_null());
	for (i = 0; i < rep->nsites; i++) {
		const struct hvc_site *s = &rep->sites[i];
		json_t *f;

		snprintf(site, sizeof(site), "0x%016llx", (unsigned long long)s->site);
		f = json_pack("{s:s,s:s,s:s,s:s,s:s}", "name", s->name, "site", site, "result",
			      hvc_site_result_name(s->result), "symbol", hvc_sym_name(s->sym),
			      "reason", s->reason);
		if (f && s->found_len) {
			for (j = 0; j < s->found_len; j++)
				snprintf(hx + 2 * j, 3, "%02x", s->found[j]);
			json_object_set_new(f, "found", json_string(hx));
		}
		if (f && (s->sym == HVC_SYM_AGREES || s->sym == HVC_SYM_DIFFERS)) {
			snprintf(site, sizeof(site), "0x%016llx", (unsigned long long)s->sym_addr);
			json_object_set_new(f, "symbol_address", json_string(site));
		}
		json_array_append_new(fa, f);
	}
	json_object_set_new(o, "functions", fa);
	json_object_set_new(o, "misbehaved", json_boolean(rep->misbehaved));
	json_object_set_new(o, "misbehaviour", json_string(rep->misbehaviour));
	json_object_set_new(o, "elapsed_ms", json_integer((json_int_t)rep->elapsed_ms));
	json_object_set_new(o, "error", r < 0 ? json_string(hv_err_last()->msg) : json_null());
	out = json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER);
	json_decref(o);
	return out;
}
