/*
 * The hva_* wrappers: argument checks, the "unsupported" answer for
 * operations a backend lacks, and the pause deadline.
 *
 * The deadline: hva_pause() starts a watchdog thread that resumes the guest
 * when hva_resume() has not come within the deadline.  Operations hold the
 * session lock while they touch the guest, so the watchdog never resumes it
 * in the middle of a write; after it fired, every operation fails with
 * HV_E_TIMEOUT until the caller resumes (which reports the timeout).
 */
#include "config.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "hv_clock.h"
#include "hva_impl.h"

const char *hva_accel_name(enum hva_accel a)
{
	switch (a) {
	case HVA_ACCEL_TCG:
		return "tcg";
	case HVA_ACCEL_KVM:
		return "kvm";
	default:
		return "unknown";
	}
}

const char *hva_found_name(enum hva_found f)
{
	switch (f) {
	case HVA_FOUND_PAUSED_BY_OTHER:
		return "paused-by-other";
	case HVA_FOUND_PAUSED_BY_HVPATCH:
		return "paused-by-hvpatch";
	case HVA_FOUND_RESUMED_DEAD_PAUSER:
		return "resumed-dead-pauser";
	default:
		return "running";
	}
}

const char *hva_write_path_name(enum hva_write_path p)
{
	switch (p) {
	case HVA_WRITE_GDBSTUB:
		return "gdbstub";
	case HVA_WRITE_RAM:
		return "ram";
	case HVA_WRITE_AREA:
		return "patch-area file";
	default:
		return "none";
	}
}

static int unsupported(struct hva *h, const char *what)
{
	return hv_err(HV_E_UNSUPPORTED, "the %s backend cannot %s", h->ops->name, what);
}

int hva_open(const char *domain, const struct hva_open_opts *opts, struct hva **out)
{
	*out = NULL;
	if (!domain || !*domain)
		return hv_err(HV_E_INVAL, "no domain given");
	if (opts && opts->qmp_socket)
		return hva_qmpsock_open(domain, opts, out);
	return hva_libvirt_open(domain, opts, out);
}

/*
 * End the pause: through the guard when it owns the pause, else from the
 * session and then disarm the guard.  Called with the lock held.
 */
static int do_resume(struct hva *h)
{
	int r;

	if (hva_guard_owns_pause(h->guard))
		return hva_guard_resume(h->guard);
	r = h->ops->resume(h);
	if (r == 0 && h->guard && hva_guard_disarm(h->guard) < 0)
		hv_err_clear(); /* a gone guard cannot resume anything either */
	return r;
}

static void stop_watchdog(struct hva *h)
{
	if (h->watchdog_running) {
		h->watchdog_stop = true;
		pthread_cond_broadcast(&h->cond);
		pthread_mutex_unlock(&h->lock);
		pthread_join(h->watchdog, NULL);
		pthread_mutex_lock(&h->lock);
		h->watchdog_running = false;
	}
}

void hva_close(struct hva *h)
{
	uint64_t us;

	if (!h)
		return;
	if (h->paused) {
		/* Never leave the guest paused, whatever the caller forgot. */
		if (hva_resume(h, &us) < 0)
			hv_err_clear();
	}
	pthread_mutex_lock(&h->lock);
	stop_watchdog(h);
	pthread_mutex_unlock(&h->lock);
	if (h->ops->close)
		h->ops->close(h);
	else
		hva_session_free(h);
}

int hva_describe(struct hva *h, struct hva_info *out)
{
	int r = 0;

	if (!h->ops->describe)
		return unsupported(h, "describe the guest");
	if (!h->info_valid) {
		r = h->ops->describe(h, &h->info);
		if (r < 0)
			return r;
		h->info_valid = true;
	}
	*out = h->info;
	return r;
}

static void *watchdog_main(void *arg)
{
	struct hva *h = arg;
	uint64_t deadline = h->pause_start_ns + (uint64_t)h->deadline_ms * 1000000ull;
	struct timespec ts;

	/* CLOCK_MONOTONIC for the wait too: the condvar is set up for it. */
	ts.tv_sec = (time_t)(deadline / 1000000000ull);
	ts.tv_nsec = (long)(deadline % 1000000000ull);
	pthread_mutex_lock(&h->lock);
	while (h->paused && !h->expired && !h->watchdog_stop) {
		int r = pthread_cond_timedwait(&h->cond, &h->lock, &ts);

		if (r == ETIMEDOUT && h->paused) {
			if (do_resume(h) < 0)
				hv_err_clear(); /* the guard ends it; reported at resume */
			h->expired_pause_us = (hv_mono_ns() - h->pause_start_ns) / 1000u;
			h->expired = true;
			h->paused = false;
			break;
		}
	}
	pthread_mutex_unlock(&h->lock);
	return NULL;
}

int hva_pause(struct hva *h)
{
	sigset_t all, old;
	bool running = true, guard_pauses;
	int r = 0;

	pthread_mutex_lock(&h->lock);
	guard_pauses = hva_guard_owns_pause(h->guard);
	if (!h->guard || (!guard_pauses && (!h->ops->pause || !h->ops->resume))) {
		r = unsupported(h, "pause the guest without a pause guard");
		goto out;
	}
	if (h->paused) {
		r = hv_err(HV_E_STATE, "%s is already paused by this session", h->label);
		goto out;
	}
	if (h->ops->prepare_pause) {
		r = h->ops->prepare_pause(h);
		if (r < 0)
			goto out;
	}
	stop_watchdog(h); /* one that fired before */
	h->expired = false;
	h->watchdog_stop = false;
	if (!guard_pauses && h->ops->running) {
		r = h->ops->running(h, &running);
		if (r < 0)
			goto out;
	}
	if (running) {
		sigemptyset(&all);
		sigaddset(&all, SIGINT);
		sigaddset(&all, SIGTERM);
		sigaddset(&all, SIGHUP);
		sigaddset(&all, SIGQUIT);
		pthread_sigmask(SIG_BLOCK, &all, &h->saved_mask);
		h->pause_start_ns = hv_mono_ns();
		/* Armed first: from here on a death or a hang ends the pause. */
		r = hva_guard_pause(h->guard, h->deadline_ms, &running);
		if (r == 0 && running && !guard_pauses) {
			r = h->ops->pause(h);
			if (r < 0 && hva_guard_disarm(h->guard) < 0)
				hv_err_prefix("pausing %s", h->label);
		}
		if (r < 0 || !running)
			pthread_sigmask(SIG_SETMASK, &h->saved_mask, NULL);
		if (r < 0)
			goto out;
	}
	if (!running) {
		/* Someone else's pause: neither ours to end nor under a deadline. */
		h->paused = true;
		h->paused_by_other = true;
		h->pause_start_ns = hv_mono_ns();
		goto out;
	}
	h->paused = true;
	/* The watchdog must not take the caller's signals. */
	sigfillset(&all);
	pthread_sigmask(SIG_BLOCK, &all, &old);
	if (pthread_create(&h->watchdog, NULL, watchdog_main, h) != 0) {
		pthread_sigmask(SIG_SETMASK, &old, NULL);
		if (do_resume(h) < 0)
			hv_err_clear(); /* the guard ends it at the deadline */
		h->paused = false;
		pthread_sigmask(SIG_SETMASK, &h->saved_mask, NULL);
		r = hv_err(HV_E_NOMEM, "cannot start the pause watchdog for %s", h->label);
		goto out;
	}
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	h->watchdog_running = true;
out:
	pthread_mutex_unlock(&h->lock);
	return r;
}

int hva_resume(struct hva *h, uint64_t *paused_us)
{
	int r = 0;

	if (paused_us)
		*paused_us = 0;
	pthread_mutex_lock(&h->lock);
	if (h->expired) {
		if (paused_us)
			*paused_us = h->expired_pause_us;
		h->expired = false;
		pthread_sigmask(SIG_SETMASK, &h->saved_mask, NULL);
		r = hv_err(HV_E_TIMEOUT,
			   "the pause of %s passed its deadline of %u ms; hvpatch resumed the "
			   "guest after %llu us",
			   h->label, h->deadline_ms, (unsigned long long)h->expired_pause_us);
		goto out;
	}
	if (!h->paused) {
		r = hv_err(HV_E_STATE, "%s is not paused by this session", h->label);
		goto out;
	}
	if (h->paused_by_other) {
		h->paused = false;
		h->paused_by_other = false;
		goto out;
	}
	r = do_resume(h);
	if (r < 0)
		goto out;
	h->paused = false;
	if (paused_us)
		*paused_us = (hv_mono_ns() - h->pause_start_ns) / 1000u;
	pthread_sigmask(SIG_SETMASK, &h->saved_mask, NULL);
out:
	stop_watchdog(h);
	pthread_mutex_unlock(&h->lock);
	return r;
}

unsigned hva_set_deadline(struct hva *h, unsigned deadline_ms)
{
	unsigned old;

	pthread_mutex_lock(&h->lock);
	old = h->deadline_ms;
	h->deadline_ms = deadline_ms ? deadline_ms : HVA_DEFAULT_PAUSE_DEADLINE_MS;
	pthread_mutex_unlock(&h->lock);
	return old;
}

bool hva_is_paused(const struct hva *h)
{
	return h->paused;
}

/* Called with the lock held: is the guest still paused by us? */
static int check_paused(struct hva *h, const char *what)
{
	if (h->expired)
		return hv_err(HV_E_TIMEOUT,
			      "cannot %s: the pause of %s passed its %u ms deadline and the guest "
			      "was resumed",
			      what, h->label, h->deadline_ms);
	if (!h->paused)
		return hv_err(HV_E_STATE, "cannot %s: %s must be paused first", what, h->label);
	return 0;
}

static int read_regs(struct hva *h, unsigned cpu, struct hva_regs *out, bool want_idtr)
{
	int r;

	if (!h->ops->read_regs)
		return unsupported(h, "read vCPU registers");
	pthread_mutex_lock(&h->lock);
	r = check_paused(h, "read vCPU registers");
	if (r == 0)
		r = h->ops->read_regs(h, cpu, out, want_idtr);
	pthread_mutex_unlock(&h->lock);
	return r;
}

int hva_read_regs(struct hva *h, unsigned cpu, struct hva_regs *out)
{
	return read_regs(h, cpu, out, true);
}

int hva_read_regs_fast(struct hva *h, unsigned cpu, struct hva_regs *out)
{
	return read_regs(h, cpu, out, false);
}

const uint8_t *hva_ram_view(const struct hva *h, uint64_t gpa, size_t len)
{
	unsigned i;

	if (!h->ram || len == 0 || gpa + len < gpa)
		return NULL;
	for (i = 0; i < h->info.nregions && i < HVA_MAX_REGIONS; i++) {
		const struct hva_region *rg = &h->info.regions[i];

		if (gpa >= rg->gpa && len <= rg->size && gpa - rg->gpa <= rg->size - len &&
		    rg->offset + (gpa - rg->gpa) <= h->ram_bytes &&
		    len <= h->ram_bytes - (rg->offset + (gpa - rg->gpa)))
			return h->ram + rg->offset + (gpa - rg->gpa);
	}
	return NULL;
}

int hva_read_phys(struct hva *h, uint64_t gpa, void *buf, size_t len)
{
	int r;

	if (gpa + len < gpa)
		return hv_err(HV_E_RANGE, "guest-physical range 0x%llx+%zu wraps around",
			      (unsigned long long)gpa, len);
	if (!h->ops->read_phys)
		return unsupported(h, "read guest memory");
	pthread_mutex_lock(&h->lock);
	r = h->expired ? check_paused(h, "read guest memory") : 0;
	if (r == 0)
		r = h->ops->read_phys(h, gpa, buf, len);
	pthread_mutex_unlock(&h->lock);
	return r;
}

int hva_write_phys(struct hva *h, uint64_t gpa, const void *buf, size_t len,
		   enum hva_write_path *used)
{
	return hva_write_phys_flags(h, gpa, buf, len, 0, used);
}

int hva_write_phys_flags(struct hva *h, uint64_t gpa, const void *buf, size_t len, unsigned flags,
			 enum hva_write_path *used)
{
	enum hva_write_path dummy;
	int r;

	if (!used)
		used = &dummy;
	*used = HVA_WRITE_NONE;
	if (!h->ops->write_phys)
		return unsupported(h, "write guest memory");
	if (gpa + len < gpa)
		return hv_err(HV_E_RANGE, "guest-physical range 0x%llx+%zu wraps around",
			      (unsigned long long)gpa, len);
	pthread_mutex_lock(&h->lock);
	r = check_paused(h, "write guest memory");
	if (r == 0)
		r = h->ops->write_phys(h, gpa, buf, len, flags, used);
	pthread_mutex_unlock(&h->lock);
	return r;
}

int hva_hmp(struct hva *h, const char *cmd, char **reply)
{
	int r;

	*reply = NULL;
	if (!h->ops->hmp)
		return unsupported(h, "run monitor commands");
	pthread_mutex_lock(&h->lock);
	r = h->ops->hmp(h, cmd, reply);
	pthread_mutex_unlock(&h->lock);
	return r;
}

static void (*note_handler)(const char *domain, const char *note);

void hva_set_note_handler(void (*fn)(const char *domain, const char *note))
{
	note_handler = fn;
}

static bool found_running(struct hva *h)
{
	bool running = false;

	if (h->ops->running(h, &running) < 0)
		hv_err_clear();
	return running;
}

static int check_found_state(struct hva *h);

int hva_check_found_state(struct hva *h)
{
	int r = check_found_state(h);

	if (h->info.found_note[0] && note_handler)
		note_handler(h->label, h->info.found_note);
	return r;
}

static int check_found_state(struct hva *h)
{
	struct hva_pause_record rec;
	struct hva_info *in = &h->info;
	bool running = true, owner, guard;
	uint64_t end_ns, age_ms, now_ms;
	int r, rr;

	in->found = HVA_FOUND_RUNNING;
	in->found_note[0] = '\0';
	if (!h->ops->running)
		return 0;
	r = h->ops->running(h, &running);
	if (r < 0)
		return r;
	rr = hva_pause_record_read(h->pause_dir, h->pause_key, &rec);
	hv_err_clear();
	owner = rr == 0 && hva_process_alive(rec.owner_pid, rec.owner_start);
	guard = rr == 0 && hva_process_alive(rec.guard_pid, rec.guard_start);
	if (running) {
		if (rr == 0 && !owner && !guard)
			hva_pause_record_remove(h->pause_dir, h->pause_key); /* stale */
		return 0;
	}
	if (rr < 0) {
		in->found = HVA_FOUND_PAUSED_BY_OTHER;
		snprintf(in->found_note, sizeof(in->found_note),
			 "%s was paused when hvpatch found it, and not by hvpatch (no pause record "
			 "in %s): hvpatch leaves it paused; 'virsh resume %s' resumes it",
			 h->label, h->pause_dir, h->label);
		return 0;
	}
	now_ms = (uint64_t)hv_unix_ms();
	age_ms = now_ms > rec.since_unix_ms ? now_ms - rec.since_unix_ms : 0;
	if (guard) {
		/* Another hvpatch's pause: its guard ends it by the deadline (at
		 * once if that hvpatch died).  Wait for that rather than work on a
		 * guest about to run. */
		end_ns = hv_mono_ns() +
			 ((uint64_t)rec.deadline_ms + HVA_GUARD_GRACE_MS + 1000u) * 1000000ull;
		while (!(running = found_running(h)) && hv_mono_ns() < end_ns)
			usleep(20000);
		if (running) {
			snprintf(
				in->found_note, sizeof(in->found_note),
				"%s was paused by hvpatch (pid %d) when this hvpatch started; that "
				"pause has ended",
				h->label, (int)rec.owner_pid);
			return 0;
		}
		in->found = HVA_FOUND_PAUSED_BY_HVPATCH;
		snprintf(in->found_note, sizeof(in->found_note),
			 "%s has been paused for %" PRIu64 " ms by hvpatch (pid %d%s), and its "
			 "pause guard (pid %d) has not ended the pause; hvpatch leaves it paused",
			 h->label, age_ms, (int)rec.owner_pid, owner ? ", still running" : ", gone",
			 (int)rec.guard_pid);
		return 0;
	}
	if (owner) {
		in->found = HVA_FOUND_PAUSED_BY_HVPATCH;
		snprintf(in->found_note, sizeof(in->found_note),
			 "%s has been paused for %" PRIu64 " ms by hvpatch (pid %d), which still "
			 "runs although its pause guard (pid %d) is gone; hvpatch leaves it paused",
			 h->label, age_ms, (int)rec.owner_pid, (int)rec.guard_pid);
		return 0;
	}
	/* Both gone (killed together, or the host lost them): nobody else will
	 * ever end this pause. */
	r = h->ops->resume ? h->ops->resume(h) : unsupported(h, "resume the guest");
	if (r < 0)
		return hv_err_prefix("resuming %s, which hvpatch (pid %d) left paused when it died",
				     h->label, (int)rec.owner_pid);
	hva_pause_record_remove(h->pause_dir, h->pause_key);
	in->found = HVA_FOUND_RESUMED_DEAD_PAUSER;
	snprintf(in->found_note, sizeof(in->found_note),
		 "%s had been left paused for %" PRIu64 " ms by hvpatch (pid %d), which died "
		 "together with its pause guard (pid %d); hvpatch resumed it",
		 h->label, age_ms, (int)rec.owner_pid, (int)rec.guard_pid);
	return 0;
}
