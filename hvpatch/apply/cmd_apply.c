/*
 * hvpatch apply / revert / status.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#include "cli.h"
#include "commands.h"
#include "engine.h"
#include "hv_hex.h"

struct aopts {
	const char *uri, *qmp, *ledger;
	struct hvp_opts o;
	int json;
};

enum {
	O_LEDGER = CLI_OPT_OWN,
	O_TRUSTED,
	O_DRY,
	O_NONE,
	O_AGENT_TO,
	O_STACK_WAIT,
	O_NO_STACK,
	O_DOWNGRADE
};

static const char own_help[] =
	"Options:\n"
	"      --ledger PATH        host ledger (default " HVP_DEFAULT_LEDGER ");\n"
	"                           created 0600; refused when group or others may\n"
	"                           write it or its directory\n"
	"      --trusted DIR        directory of trusted public keys (*.pub.pem)\n"
	"                           (default " HVP_DEFAULT_TRUSTED ")\n"
	"      --stack-wait-ms N    how long a guest task asleep in code this operation\n"
	"                           changes may take to leave before it is refused\n"
	"                           (default 15000; checked in the pause, from every\n"
	"                           task's kernel stack)\n"
	"      --no-stack-check     skip that check (a kernel without BTF); a task asleep\n"
	"                           in changed code may then wake up in rewritten bytes\n"
	"      --agent-timeout-ms N how long to wait for the guest agent (default 2000);\n"
	"                           an agent that does not answer never fails the command\n";

static const char exit_help[] =
	"\n"
	"Options may come before or after the operands.\n"
	"Exit status: 0 done, 1 failed (the guest is as it was; the message says\n"
	"which step and why; also when --json output cannot be produced), 2 bad\n"
	"command line, 3 (status only) the guest differs from what the ledger says\n"
	"hvpatch left there: tampering or drift, each difference named; 4 (status\n"
	"only) part of the level is not in effect: a replacement is pending (its\n"
	"module is not loaded) or a module it patched was unloaded.\n"
	"\n"
	"Functions of modules (MODULE:function in the bundle): a module that is not\n"
	"loaded when a level is applied leaves its replacements pending; the rest\n"
	"is applied.  Apply the same level again once the module is loaded to\n"
	"patch it.  A module unloaded while patched takes its sites with it:\n"
	"status shows them GONE, and revert and later levels leave its old memory\n"
	"alone.\n";

struct take_ctx {
	struct aopts *a;
	bool allow_dry, allow_none, allow_downgrade;
};

static int take(void *ctx, int o, const char *arg)
{
	struct take_ctx *t = ctx;
	uint64_t v;

	switch (o) {
	case O_LEDGER:
		t->a->ledger = arg;
		return 0;
	case O_TRUSTED:
		t->a->o.trusted_dir = arg;
		return 0;
	case O_STACK_WAIT:
		if (cli_parse_u64(arg, "--stack-wait-ms", &v) < 0 || v > 600000)
			return hv_err(HV_E_INVAL,
				      "--stack-wait-ms wants 0 to 600000 (ms), not '%s'", arg);
		t->a->o.stack_wait_ms = v ? (unsigned)v : 1;
		return 0;
	case O_NO_STACK:
		t->a->o.no_stack_check = true;
		return 0;
	case O_AGENT_TO:
		if (cli_parse_u64(arg, "--agent-timeout-ms", &v) < 0 || v == 0 || v > 10000)
			return hv_err(HV_E_INVAL,
				      "--agent-timeout-ms wants 1 to 10000 (ms), not '%s'", arg);
		t->a->o.agent_timeout_ms = (unsigned)v;
		return 0;
	case O_DOWNGRADE:
		if (!t->allow_downgrade)
			return hv_err(HV_E_INVAL, "--allow-downgrade applies to apply only");
		t->a->o.allow_downgrade = true;
		return 0;
	case O_DRY:
		if (!t->allow_dry)
			return hv_err(HV_E_INVAL, "--dry-run does not apply here");
		t->a->o.dry_run = true;
		return 0;
	case O_NONE:
		if (!t->allow_none)
			return hv_err(HV_E_INVAL, "--to-none applies to revert only");
		t->a->o.to_none = true;
		return 0;
	default:
		return hv_err(HV_E_INVAL, "unknown option");
	}
}

static int parse(const char *cmd, int argc, char **argv, const char *help, struct aopts *a,
		 int allow_dry, int allow_none, int *rc)
{
	static const struct option own[] = {
		{ "ledger", required_argument, NULL, O_LEDGER },
		{ "trusted", required_argument, NULL, O_TRUSTED },
		{ "agent-timeout-ms", required_argument, NULL, O_AGENT_TO },
		{ "stack-wait-ms", required_argument, NULL, O_STACK_WAIT },
		{ "no-stack-check", no_argument, NULL, O_NO_STACK },
		{ "dry-run", no_argument, NULL, O_DRY },
		{ "to-none", no_argument, NULL, O_NONE },
		{ "allow-downgrade", no_argument, NULL, O_DOWNGRADE },
		{ NULL, 0, NULL, 0 },
	};
	char fullhelp[8192];
	struct take_ctx t;
	struct cli_spec spec = { .cmd = cmd,
				 .help = fullhelp,
				 .own = own,
				 .take = take,
				 .ctx = &t,
				 .guest = CLI_G_ALL,
				 .extra_help = exit_help };
	struct cli_guest g;
	int i;

	memset(a, 0, sizeof(*a));
	a->ledger = HVP_DEFAULT_LEDGER;
	t.a = a;
	t.allow_dry = allow_dry != 0;
	t.allow_none = allow_none != 0;
	t.allow_downgrade = !strcmp(cmd, "apply");
	snprintf(fullhelp, sizeof(fullhelp), "%s%s", help, own_help);
	i = cli_parse(&spec, argc, argv, &g, rc);
	if (i < 0)
		return -1;
	a->uri = g.uri;
	a->qmp = g.qmp_socket;
	a->o.deadline_ms = g.deadline_ms;
	a->json = g.json;
	return i;
}

/* @t (Unix seconds) as ISO-8601 UTC, e.g. 2026-11-29T15:13:05Z. */
static const char *iso_utc(uint64_t t, char *out, size_t n)
{
	time_t tt = (time_t)t;
	struct tm tm;

	if (!gmtime_r(&tt, &tm) || !strftime(out, n, "%Y-%m-%dT%H:%M:%SZ", &tm))
		snprintf(out, n, "%" PRIu64, t);
	return out;
}

static int open_session(const char *domain, const struct aopts *a, struct hvp_session **s)
{
	struct hvp_session_opts so = { .uri = a->uri,
				       .qmp_socket = a->qmp,
				       .ledger_path = a->ledger };

	return hvp_session_open(domain, &so, s);
}

/*
 * Print @j (stolen) as indented JSON on stdout.  Returns 0, or -1 with an
 * error on stderr when it could not be built or printed: a --json command
 * never exits 0 with nothing on stdout.
 */
static int print_json(const char *cmd, json_t *j)
{
	char *s = j ? json_dumps(j, JSON_INDENT(2) | JSON_PRESERVE_ORDER) : NULL;
	int r = 0;

	if (!s || puts(s) == EOF || fflush(stdout) == EOF) {
		fprintf(stderr,
			"hvpatch %s: cannot produce the JSON output (%s); the operation's outcome "
			"is in the ledger\n",
			cmd, s ? "writing it failed" : "a value could not be encoded");
		r = -1;
	}
	free(s);
	json_decref(j);
	return r;
}

/* Guest-derived text for the terminal and JSON: printable ASCII only. */
static const char *clean(const char *in, char *out, size_t n)
{
	size_t i;

	for (i = 0; in[i] && i + 1 < n; i++)
		out[i] = in[i] >= 0x20 && in[i] < 0x7f ? in[i] : '?';
	out[n ? i : 0] = '\0';
	return out;
}

/* Pending replacements and sites left behind by modules, in words. */
static void print_modules_note(const struct hvp_report *r)
{
	unsigned k;

	for (k = 0; k < r->npending; k++)
		printf("  pending: %s (its module is not loaded; apply this level again once it "
		       "is)\n",
		       r->pending[k]);
	for (k = 0; k < r->ngone; k++)
		printf("  left alone: %s (its module was unloaded since; its memory is not "
		       "the module's any more)\n",
		       r->gone[k]);
}

static int print_report(const struct hvp_report *r, int json)
{
	char agent[sizeof(r->agent)];

	if (json) {
		json_t *j = json_pack(
			"{s:s,s:s,s:s,s:s,s:s,s:b,s:I,s:I,s:I,s:i,s:i,s:s,s:s,s:s,s:s}", "op",
			r->kind, "domain", r->domain, "uuid", r->uuid, "from_level", r->from_level,
			"to_level", r->to_level, "dry_run", r->dry_run, "op_id",
			(json_int_t)r->op_id, "pause_us", (json_int_t)r->pause_us, "bytes_written",
			(json_int_t)r->bytes_written, "writes", (int)r->writes, "sites_changed",
			(int)r->sites_changed, "write_path", r->write_path, "agent",
			clean(r->agent, agent, sizeof(agent)), "agent_source", "guest-reported",
			"reconciled", r->reconciled);

		if (j) {
			json_t *pa = json_array(), *ga = json_array();
			unsigned k;

			for (k = 0; pa && k < r->npending; k++)
				json_array_append_new(pa, json_string(r->pending[k]));
			for (k = 0; ga && k < r->ngone; k++)
				json_array_append_new(ga, json_string(r->gone[k]));
			json_object_set_new(j, "pending", pa ? pa : json_null());
			json_object_set_new(j, "module_sites_gone", ga ? ga : json_null());
		}
		if (j &&
		    json_object_set_new(j, "stack_check",
					json_pack("{s:i,s:I,s:I}", "tasks", (int)r->stack_tasks,
						  "us", (json_int_t)r->stack_check_us, "waited_ms",
						  (json_int_t)r->stack_waited_ms)) < 0) {
			json_decref(j);
			j = NULL;
		}
		return print_json(r->kind, j);
	}
	if (r->reconciled[0])
		printf("reconciled: %s\n", r->reconciled);
	printf("%s%s %s: level %s -> %s\n", r->dry_run ? "would " : "", r->kind, r->domain,
	       r->from_level[0] ? r->from_level : "none", r->to_level[0] ? r->to_level : "none");
	if (r->dry_run) {
		printf("  %u writes (%" PRIu64 " bytes), %u sites; nothing was written\n",
		       r->writes, r->bytes_written, r->sites_changed);
		return 0;
	}
	printf("  paused %" PRIu64 " us; %u writes, %" PRIu64 " bytes through the %s; %u sites "
	       "changed\n",
	       r->pause_us, r->writes, r->bytes_written, r->write_path, r->sites_changed);
	printf("  stacks of %u tasks checked in %" PRIu64 " us%s", r->stack_tasks,
	       r->stack_check_us, r->stack_waited_ms ? "" : "\n");
	if (r->stack_waited_ms)
		printf(" (waited %" PRIu64 " ms for tasks to leave)\n", r->stack_waited_ms);
	printf("  ledger operation %lld; guest agent: %s (guest-reported)\n", (long long)r->op_id,
	       clean(r->agent, agent, sizeof(agent)));
	print_modules_note(r);
	return 0;
}

static const char apply_help[] =
	"Usage: hvpatch apply [OPTIONS] DOMAIN BUNDLE\n"
	"\n"
	"Hot-patch the running kernel of DOMAIN with BUNDLE, in one short pause.\n"
	"\n"
	"Before touching the guest, hvpatch verifies the bundle's signature against\n"
	"the trusted keys, checks that the bundle was built for the kernel the guest\n"
	"runs (build-id read from guest memory), resolves every replaced function\n"
	"and relocation through the kernel's own symbol table, and checks that each\n"
	"function's entry holds the ftrace NOP (or the jump of the level being\n"
	"replaced).  It records the planned writes in the ledger, then pauses the\n"
	"guest, checks no vCPU is inside a site, writes the code and the jumps,\n"
	"reads everything back and resumes.  Any failure restores every byte\n"
	"written before the guest runs again.  A guest at level N goes to the\n"
	"bundle's level in the same pause (atomic replace).\n"
	"\n"
	"Before planning, the guest is compared with what the ledger says hvpatch\n"
	"left there (see 'hvpatch status'): a site, the page-directory entry or a\n"
	"faked reboot that differs refuses the apply; the patch-area record and page\n"
	"table are rewritten from the ledger, never believed.\n"
	"\n"
	"A level older than the one the ledger says this boot is at is refused:\n"
	"older means the bundle's level string sorts before it as a version\n"
	"(strverscmp: 2026.9-1 < 2026.11-1 < 2026.11-2).  Use revert to go back.\n"
	"\n"
	"  --dry-run          plan and check everything, write nothing\n"
	"  --allow-downgrade  apply an older level anyway\n"
	"\n";

/* apply and revert: parse, open, run, report (one body for both). */
static int run_op(const char *cmd, int argc, char **argv, const char *help, int nargs,
		  const char *args_help)
{
	struct hvp_report rep;
	struct aopts a;
	struct hvp_session *sess = NULL;
	int rc = HV_EXIT_FAIL, i, r;
	bool revert = !strcmp(cmd, "revert");

	i = parse(cmd, argc, argv, help, &a, 1, revert, &rc);
	if (i < 0)
		return rc;
	if (argc - i != nargs)
		return cli_usage_error(cmd, "expected %s", args_help);
	memset(&rep, 0, sizeof(rep));
	r = open_session(argv[i], &a, &sess);
	if (r == 0)
		r = revert ? hvp_revert(sess, &a.o, &rep)
			   : hvp_apply(sess, argv[i + 1], &a.o, &rep);
	if (r < 0) {
		if (a.json) {
			char msg[sizeof(hv_err_last()->msg)];

			/* An error message may quote guest text: keep it encodable. */
			if (print_json(cmd, json_pack("{s:s,s:s,s:s}", "op", cmd, "error",
						      clean(hv_err_last()->msg, msg, sizeof(msg)),
						      "code", hv_strerror(hv_err_last()->code))) <
			    0)
				hv_err_clear();
		}
		rc = cli_fail(cmd);
		goto out;
	}
	rc = print_report(&rep, a.json) < 0 ? HV_EXIT_FAIL : HV_EXIT_OK;
out:
	hvp_session_close(sess);
	return rc;
}

int cmd_apply(int argc, char **argv)
{
	return run_op("apply", argc, argv, apply_help, 2, "DOMAIN and BUNDLE");
}

static const char revert_help[] =
	"Usage: hvpatch revert [OPTIONS] DOMAIN\n"
	"\n"
	"Return DOMAIN's kernel to the level before the current one (re-applying\n"
	"that level's bundle, kept in the ledger), or to no patch at all when the\n"
	"current level is the first one or with --to-none.  Same pause and\n"
	"rollback rules as apply.  The current level, its sites and their original\n"
	"bytes come from the ledger, never from the guest-writable patch area; each\n"
	"site must lie in the kernel's text where the image's physical layout puts\n"
	"it.\n"
	"\n"
	"  --to-none    remove every level at once (the original code runs again)\n"
	"  --dry-run    plan and check, write nothing\n"
	"\n";

int cmd_revert(int argc, char **argv)
{
	return run_op("revert", argc, argv, revert_help, 1, "one DOMAIN");
}

static const char status_help[] =
	"Usage: hvpatch status [OPTIONS] DOMAIN\n"
	"\n"
	"Show DOMAIN's patch level and check that the guest holds what hvpatch\n"
	"left there.  The level, patch id and sites shown come from the host\n"
	"ledger, never from the guest.  From the ledger's copy of the level's\n"
	"bundle hvpatch recomputes what must be in the guest (the code of the\n"
	"level's slot, the patch area's page table, the page-directory entry that\n"
	"maps it, the record, every site's jump) and compares all of it; each\n"
	"difference is listed as tampering with where it is and the bytes expected\n"
	"and found (a site that no longer holds its jump is also \"drift\", e.g. the\n"
	"guest traced the function).  What the patch area's record and the guest\n"
	"agent say is shown labelled guest-reported.  A guest that claims a new\n"
	"boot while a site of its last level still holds hvpatch's jump is\n"
	"tampering too.  The guest is not paused.  An operation a crashed hvpatch\n"
	"left open is reconciled first, from the bytes alone; a guest holding\n"
	"neither the old nor the new bytes of one of its writes is tampering and\n"
	"the operation stays open.\n"
	"Exit status 3 when anything differs from the ledger (tampering or drift);\n"
	"4 when part of the level is not in effect (PENDING: its module is not\n"
	"loaded; GONE: its module was unloaded).\n"
	"\n";

static json_t *hexnum(uint64_t v)
{
	char b[20];

	snprintf(b, sizeof(b), "0x%" PRIx64, v);
	return json_string(b);
}

static json_t *findings_json(const struct hvp_findings *f)
{
	json_t *arr = json_array();
	unsigned k;

	for (k = 0; arr && k < f->n; k++) {
		const struct hvp_finding *x = &f->f[k];
		json_t *o = json_pack("{s:s,s:o,s:o,s:s,s:s,s:s}", "what", x->what, "gpa",
				      hexnum(x->gpa), "gva", hexnum(x->gva), "expected",
				      x->expected, "found", x->found, "detail", x->detail);

		if (!o || json_array_append_new(arr, o) < 0) {
			json_decref(arr);
			return NULL;
		}
	}
	return arr;
}

static json_t *status_json(const struct hvp_status *st, const struct hvg *g)
{
	char sha[65], rel[64], note[1024], agent[512];
	json_t *arr = json_array(), *j = NULL, *gr = NULL;
	unsigned k;

	hv_hex_encode(sha, sizeof(sha), st->state.bundle_sha256, 32);
	for (k = 0; arr && k < st->state.nsites; k++) {
		char site[20], now[11], want[11];

		snprintf(site, sizeof(site), "0x%" PRIx64, st->sites[k].site.site_gva);
		hv_hex_encode(now, sizeof(now), st->sites[k].now, 5);
		hv_hex_encode(want, sizeof(want), st->sites[k].site.jmp, 5);
		if (json_array_append_new(
			    arr, json_pack("{s:s,s:s,s:s,s:s,s:b,s:s,s:b}", "name",
					   st->sites[k].site.name, "site", site, "expected", want,
					   "now", st->sites[k].gone ? "" : now, "intact",
					   st->sites[k].intact, "module", st->sites[k].module,
					   "module_gone", st->sites[k].gone)) < 0) {
			json_decref(arr);
			return NULL;
		}
	}
	if (!arr)
		return NULL;
	j = json_pack("{s:s,s:s,s:s,s:s,s:s,s:b,s:b,s:s,s:s,s:s,s:s,s:I,s:o,s:i,s:s*,s:s}",
		      "domain", st->domain, "uuid", st->uuid, "release",
		      clean(st->release, rel, sizeof(rel)), "build_id", st->build_id, "boot_key",
		      st->boot_key, "patched", st->patched, "new_boot", st->new_boot,
		      "level_source", "ledger", "level", st->state.level, "patch_id",
		      st->state.patch_id, "bundle_sha256", st->patched ? sha : "", "applied_unix",
		      (json_int_t)st->state.applied_unix, "sites", arr, "drifted", (int)st->drifted,
		      "ledger_level", st->ledger_known ? st->ledger_level : NULL, "reconciled",
		      st->reconciled);
	if (!j)
		return NULL;
	{
		json_t *pa = json_array();

		for (k = 0; pa && k < st->npending; k++)
			json_array_append_new(
				pa, json_pack("{s:s,s:s,s:b}", "target", st->pending[k].target,
					      "module", st->pending[k].module, "module_loaded_now",
					      st->pending[k].loaded_now));
		if (json_object_set_new(j, "pending", pa ? pa : json_null()) < 0 ||
		    json_object_set_new(j, "module_sites_gone", json_integer(st->gone)) < 0) {
			json_decref(j);
			return NULL;
		}
	}
	if (json_object_set_new(j, "tampered", json_integer(st->tamper.total)) < 0 ||
	    json_object_set_new(j, "tampering", findings_json(&st->tamper)) < 0 ||
	    json_object_set_new(j, "page_table_gpa", hexnum(st->pgd_gpa)) < 0 ||
	    json_object_set_new(j, "patch_area_gpa", hexnum(g->info.area_gpa)) < 0 ||
	    json_object_set_new(j, "pd_index", json_integer(st->state.pd_index)) < 0 ||
	    json_object_set_new(j, "guest_found",
				json_pack("{s:s,s:s}", "state", hva_found_name(g->info.found),
					  "note", clean(g->info.found_note, note, sizeof(note)))) <
		    0)
		goto fail;
	gr = json_pack("{s:{s:s,s:s,s:s,s:s,s:b}}", "record", "state",
		       st->guest_record_known > 0    ? "valid"
		       : st->guest_record_known == 0 ? "none"
						     : "invalid",
		       "level", st->guest_record.level, "patch_id", st->guest_record.patch_id,
		       "boot_key", st->guest_record.boot_key, "this_boot",
		       st->guest_record_known > 0 &&
			       !strcmp(st->guest_record.boot_key, st->boot_key));
	if (gr && st->agent_known &&
	    json_object_set_new(gr, "agent",
				json_string(clean(st->agent.summary, agent, sizeof(agent)))) < 0)
		goto fail;
	if (json_object_set_new(j, "guest_reported", gr) < 0)
		goto fail;
	gr = NULL;
	if (st->agent_known &&
	    json_object_set_new(
		    j, "agent",
		    json_pack("{s:I,s:b,s:b,s:i,s:i,s:b,s:s,s:s}", "op_id",
			      (json_int_t)st->agent.op_id, "acked", st->agent.acked, "verified",
			      st->agent.verified, "present", (int)st->agent.present, "mismatch",
			      (int)st->agent.mismatch, "misbehaved", st->agent.misbehaved,
			      "summary", clean(st->agent.summary, agent, sizeof(agent)), "source",
			      "guest-reported")) < 0)
		goto fail;
	return j;
fail:
	json_decref(gr);
	json_decref(j);
	return NULL;
}

static void status_text(const struct hvp_status *st, const struct hvg *g)
{
	char when[40], buf[1024];
	unsigned k;

	if (st->reconciled[0])
		printf("reconciled: %s\n", clean(st->reconciled, buf, sizeof(buf)));
	printf("%s (%s)\n  kernel %s, build-id %s\n", st->domain, st->uuid,
	       clean(st->release, buf, sizeof(buf)), st->build_id);
	if (!st->patched) {
		printf("  level (ledger): none%s\n",
		       st->new_boot ? " (the guest rebooted since it was last patched)" : "");
	} else {
		printf("  level (ledger): %s (patch %s, slot %u, applied %s)\n", st->state.level,
		       st->state.patch_id, st->state.active_slot,
		       iso_utc(st->state.applied_unix, when, sizeof(when)));
		for (k = 0; k < st->state.nsites; k++)
			printf("  %-32s 0x%016" PRIx64 " -> 0x%016" PRIx64 "  %s\n",
			       st->sites[k].site.name, st->sites[k].site.site_gva,
			       st->sites[k].site.target_gva,
			       st->sites[k].gone     ? "GONE (its module was unloaded)"
			       : st->sites[k].intact ? "ok"
						     : "DRIFT (the guest changed it)");
		for (k = 0; k < st->npending; k++)
			printf("  %-32s PENDING: module %s %s\n", st->pending[k].target,
			       st->pending[k].module,
			       st->pending[k].loaded_now
				       ? "is loaded now: apply this level again to patch it"
				       : "is not loaded (patched when it is and the level is "
					 "applied again)");
	}
	if (st->tamper.total) {
		printf("  TAMPERING: %u difference%s from what the ledger says hvpatch left in "
		       "the guest:\n",
		       st->tamper.total, st->tamper.total == 1 ? "" : "s");
		for (k = 0; k < st->tamper.n; k++) {
			const struct hvp_finding *x = &st->tamper.f[k];

			printf("    %s at 0x%" PRIx64, x->what, x->gpa);
			if (x->gva)
				printf(" (0x%016" PRIx64 ")", x->gva);
			if (x->expected[0])
				printf(": expected %s, found %s", x->expected, x->found);
			printf(": %s\n", x->detail);
		}
		if (st->tamper.total > st->tamper.n)
			printf("    ... and %u more\n", st->tamper.total - st->tamper.n);
	}
	if (g->info.found != HVA_FOUND_RUNNING)
		printf("  guest: %s\n", clean(g->info.found_note, buf, sizeof(buf)));
	printf("  ledger: %s\n", st->ledger_known
					 ? (st->ledger_level[0] ? st->ledger_level : "none")
					 : "knows nothing of this boot");
	if (st->guest_record_known > 0)
		printf("  guest-reported: the patch-area record says level %s%s\n",
		       st->guest_record.active_slot == HVP_NO_SLOT ? "none"
								   : st->guest_record.level,
		       strcmp(st->guest_record.boot_key, st->boot_key) ? " (of another boot)" : "");
	else
		printf("  guest-reported: the patch area holds %s\n",
		       st->guest_record_known == 0 ? "no record" : "no valid record");
	if (st->agent_known)
		printf("  guest-reported: guest agent after operation %lld: %s\n",
		       (long long)st->agent.op_id, clean(st->agent.summary, buf, sizeof(buf)));
}

int cmd_status(int argc, char **argv)
{
	struct hvp_status st;
	struct aopts a;
	struct hvp_session *sess = NULL;
	int rc = HV_EXIT_FAIL, i;

	i = parse("status", argc, argv, status_help, &a, 0, 0, &rc);
	if (i < 0)
		return rc;
	if (argc - i != 1)
		return cli_usage_error("status", "expected one DOMAIN");
	if (open_session(argv[i], &a, &sess) < 0 || hvp_status(sess, &st) < 0) {
		rc = cli_fail("status");
		goto out;
	}
	if (a.json) {
		if (print_json("status", status_json(&st, hvp_session_guest(sess))) < 0)
			goto out; /* rc stays HV_EXIT_FAIL */
	} else {
		status_text(&st, hvp_session_guest(sess));
	}
	rc = st.drifted || st.tamper.total ? 3 : st.npending || st.gone ? 4 : HV_EXIT_OK;
out:
	hvp_session_close(sess);
	return rc;
}
