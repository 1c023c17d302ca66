/*
 * The engine's session: a guest opened and seen, its ledger, and the
 * per-domain lock, so every caller of the engine (the CLI, a service, a
 * test program) gets the same mutual exclusion and start-up guarantees.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "engine.h"

/* Create @path's parent directory (mode 0700) if it is missing. */
static int make_parent(const char *path, const char *what)
{
	char dir[512], *slash;

	if (strlen(path) >= sizeof(dir))
		return hv_err(HV_E_INVAL, "the %s path %.80s... is too long", what, path);
	snprintf(dir, sizeof(dir), "%s", path);
	slash = strrchr(dir, '/');
	if (!slash || slash == dir)
		return 0;
	*slash = '\0';
	if (mkdir(dir, 0700) < 0 && errno != EEXIST)
		return hv_err(errno == EACCES ? HV_E_PERM : HV_E_IO,
			      "cannot create the %s directory %s: %s", what, dir, strerror(errno));
	return 0;
}

/* One engine at a time per domain: an flock on LOCK_DIR/KEY.lock, held
 * for the life of the session (the kernel drops it when the process dies). */
static int lock_domain(const char *lock_dir, const char *key, int *fd)
{
	char path[512];

	*fd = -1;
	if (!*key || strchr(key, '/'))
		return hv_err(HV_E_INVAL, "cannot name a lock after domain '%s'", key);
	if (snprintf(path, sizeof(path), "%s/%s.lock", lock_dir, key) >= (int)sizeof(path))
		return hv_err(HV_E_INVAL, "the lock directory %.80s... is too long", lock_dir);
	if (make_parent(lock_dir, "lock") < 0)
		return hv_err_last()->code;
	if (mkdir(lock_dir, 0700) < 0 && errno != EEXIST)
		return hv_err(errno == EACCES ? HV_E_PERM : HV_E_IO,
			      "cannot create the lock directory %s: %s", lock_dir, strerror(errno));
	*fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	if (*fd < 0)
		return hv_err(errno == EACCES ? HV_E_PERM : HV_E_IO, "cannot open the lock %s: %s",
			      path, strerror(errno));
	if (flock(*fd, LOCK_EX | LOCK_NB) < 0) {
		close(*fd);
		*fd = -1;
		return hv_err(HV_E_BUSY,
			      "another hvpatch is working on this domain (lock %s); wait for it",
			      path);
	}
	return 0;
}

int hvp_session_open(const char *domain, const struct hvp_session_opts *o, struct hvp_session **out)
{
	struct hvg_opts go = HVG_OPTS_INIT;
	struct hva_open_opts ho;
	struct hva_info info;
	struct hvp_session *s;
	const char *ledger = o && o->ledger_path ? o->ledger_path : HVP_DEFAULT_LEDGER;
	int r, tries;

	*out = NULL;
	s = calloc(1, sizeof(*s));
	if (!s)
		return hv_err(HV_E_NOMEM, "out of memory opening %s", domain);
	s->lock_fd = -1;
	memset(&ho, 0, sizeof(ho));
	if (o) {
		ho.uri = o->uri;
		ho.qmp_socket = o->qmp_socket;
	}
	/* The lock comes before anything that pauses the guest or starts a
	 * gdbstub, so a second caller meets the lock, not the first caller's
	 * debugger. */
	r = hva_open(domain, &ho, &s->h);
	if (r == 0)
		r = hva_describe(s->h, &info);
	if (r < 0) {
		r = hv_err_prefix("opening %s (nothing was changed)", domain);
		goto out;
	}
	r = lock_domain(o && o->lock_dir ? o->lock_dir : HVP_LOCK_DIR,
			info.uuid[0] ? info.uuid : info.name, &s->lock_fd);
	if (r < 0)
		goto out;
	/* Reading registers to find the kernel is not the patching pause: it
	 * keeps the access layer's default deadline. */
	for (tries = 0;; tries++) {
		r = hvg_attach(s->h, &go, &s->g);
		/* The vCPU's page tables may belong to a task that exits while
		 * they are read (its tables freed and reused: entries garbage or
		 * gone); a second look uses another task's.  The domain itself
		 * was found already, so "not present" here is such a walk. */
		if (r == 0 || tries == 4 ||
		    (r != HV_E_RANGE && r != HV_E_FORMAT && r != HV_E_NOTFOUND))
			break;
		hv_err_clear();
	}
	if (r < 0) {
		r = hv_err_prefix("opening %s (nothing was changed)", domain);
		goto out;
	}
	r = make_parent(ledger, "ledger");
	if (r < 0)
		goto out;
	r = hvl_open(ledger, &s->l);
	if (r < 0)
		goto out;
	*out = s;
	s = NULL;
out:
	hvp_session_close(s);
	return r;
}

void hvp_session_close(struct hvp_session *s)
{
	if (!s)
		return;
	hvl_close(s->l);
	hvg_close(s->g);
	hva_close(s->h);
	if (s->lock_fd >= 0)
		close(s->lock_fd);
	free(s);
}

struct hvg *hvp_session_guest(const struct hvp_session *s)
{
	return s->g;
}
