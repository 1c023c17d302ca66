/*
 * A second caller of the apply engine, besides the hvpatch CLI: it drives
 * hvp_session_open / hvp_apply / hvp_revert / hvp_status directly, so the
 * live tests can show that any caller gets the same per-domain lock and the
 * same reconcile of an operation a crashed caller left open.
 *
 *   engine_caller [--ledger PATH] [--trusted DIR] [--hold] DOMAIN status
 *   engine_caller [...] DOMAIN apply BUNDLE
 *   engine_caller [...] DOMAIN revert
 *
 * --hold: after opening the session, print "HOLDING" and wait for a line on
 * standard input before going on (the lock is held meanwhile).
 * Prints one line per result: "level=L reconciled=TEXT" for status,
 * "op=KIND from=L to=L pause_us=N" for apply and revert; errors as
 * "error: MESSAGE" with exit status 1.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "apply/engine.h"

static int fail(void)
{
	printf("error: %s\n", hv_err_last()->msg);
	return 1;
}

int main(int argc, char **argv)
{
	struct hvp_session_opts so = { 0 };
	struct hvp_opts o = { 0 };
	struct hvp_session *s = NULL;
	const char *dom, *op;
	bool hold = false;
	int i = 1, rc = 1;

	while (i < argc && argv[i][0] == '-') {
		if (!strcmp(argv[i], "--ledger") && i + 1 < argc) {
			so.ledger_path = argv[i + 1];
			i += 2;
		} else if (!strcmp(argv[i], "--trusted") && i + 1 < argc) {
			o.trusted_dir = argv[i + 1];
			i += 2;
		} else if (!strcmp(argv[i], "--hold")) {
			hold = true;
			i++;
		} else {
			fprintf(stderr, "engine_caller: unknown option %s\n", argv[i]);
			return 2;
		}
	}
	if (argc - i < 2) {
		fprintf(stderr, "usage: engine_caller [--ledger P] [--trusted D] [--hold] DOMAIN "
				"status|apply BUNDLE|revert\n");
		return 2;
	}
	dom = argv[i];
	op = argv[i + 1];
	o.deadline_ms = 2000;
	if (hvp_session_open(dom, &so, &s) < 0)
		return fail();
	if (hold) {
		char line[16];

		printf("HOLDING\n");
		fflush(stdout);
		if (!fgets(line, sizeof(line), stdin))
			line[0] = '\0';
	}
	if (!strcmp(op, "status")) {
		struct hvp_status st;

		if (hvp_status(s, &st) < 0) {
			rc = fail();
			goto out;
		}
		printf("level=%s reconciled=%s\n", st.patched ? st.state.level : "", st.reconciled);
		rc = 0;
	} else if ((!strcmp(op, "apply") && argc - i == 3) || !strcmp(op, "revert")) {
		struct hvp_report rep;
		int r = !strcmp(op, "apply") ? hvp_apply(s, argv[i + 2], &o, &rep)
					     : hvp_revert(s, &o, &rep);

		if (r < 0) {
			rc = fail();
			goto out;
		}
		printf("op=%s from=%s to=%s pause_us=%llu reconciled=%s\n", rep.kind,
		       rep.from_level, rep.to_level, (unsigned long long)rep.pause_us,
		       rep.reconciled);
		rc = 0;
	} else {
		fprintf(stderr, "engine_caller: unknown operation %s\n", op);
		rc = 2;
	}
out:
	fflush(stdout);
	hvp_session_close(s);
	return rc;
}
