/* Guarded so the fuzz runner (tests/fuzz/run.sh) can build it without configure. */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

/* The agent's state file (/run/hvpatch/status.json) and the tenant's view. */
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "agent.h"
#include "hv_hex.h"

void agt_state_clear(struct agt_state *s)
{
	if (!s)
		return;
	hv_wire_status_clear(&s->status);
	hv_wire_verify_clear(&s->verify);
	memset(s, 0, sizeof(*s));
}

static json_t *state_to_json(const struct agt_state *s, int64_t now)
{
	json_t *o = json_object(), *v;
	int bad = !o;

	if (bad)
		return NULL;
	bad |= json_object_set_new(o, "v", json_integer(HV_WIRE_VERSION));
	bad |= json_object_set_new(o, "known", json_boolean(s->status.known));
	if (s->status.known) {
		bad |= json_object_set_new(o, "id", json_integer((json_int_t)s->status.id));
		bad |= hv_wire_status_json(o, &s->status) < 0;
		bad |= json_object_set_new(o, "received_at", json_integer(s->status.received_at));
		if (now)
			bad |= json_object_set_new(o, "age_s",
						   json_integer(now - s->status.received_at));
	}
	if (s->verify.at) {
		v = hv_wire_verify_json(&s->verify);
		bad |= !v || json_object_set_new(o, "verify", v);
	}
	bad |= json_object_set_new(o, "host",
				   json_pack("{s:b,s:I}", "connected", s->host_connected,
					     "last_seen", (json_int_t)s->host_last_seen));
	if (bad) {
		json_decref(o);
		return NULL;
	}
	return o;
}

char *agt_state_json(const struct agt_state *s, int64_t now)
{
	json_t *o = state_to_json(s, now);
	char *r;

	if (!o)
		return NULL;
	r = json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER);
	json_decref(o);
	return r;
}

static int write_all(int fd, const char *p, size_t n, const char *path)
{
	while (n) {
		ssize_t w = write(fd, p, n);

		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return hv_err(HV_E_IO, "cannot write the state file %s: %s", path,
				      w < 0 ? strerror(errno) : "short write");
		p += w;
		n -= (size_t)w;
	}
	return 0;
}

static int make_dirs(const char *dir)
{
	char tmp[4096];
	char *p;

	if (strlen(dir) >= sizeof(tmp))
		return hv_err(HV_E_INVAL, "the state directory path is too long");
	strcpy(tmp, dir);
	for (p = tmp + 1; *p; p++) {
		if (*p != '/')
			continue;
		*p = 0;
		if (mkdir(tmp, 0755) < 0 && errno != EEXIST)
			return hv_err(HV_E_IO, "cannot create the state directory %s: %s", tmp,
				      strerror(errno));
		*p = '/';
	}
	if (mkdir(tmp, 0755) < 0 && errno != EEXIST)
		return hv_err(HV_E_IO, "cannot create the state directory %s: %s", tmp,
			      strerror(errno));
	return 0;
}

int agt_state_save(const char *path, const struct agt_state *s)
{
	char tmp[4096], dirbuf[4096];
	char *text = NULL;
	const char *dir;
	int fd = -1, dfd = -1, r = 0;

	if (strlen(path) + 16 >= sizeof(tmp))
		return hv_err(HV_E_INVAL, "the state file path %.100s... is too long", path);
	snprintf(dirbuf, sizeof(dirbuf), "%s", path);
	dir = dirname(dirbuf);
	r = make_dirs(dir);
	if (r < 0)
		goto out;
	text = agt_state_json(s, 0);
	if (!text) {
		r = hv_err(HV_E_NOMEM, "cannot build the state file %s: out of memory", path);
		goto out;
	}
	snprintf(tmp, sizeof(tmp), "%s.tmp.%ld", path, (long)getpid());
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0) {
		r = hv_err(HV_E_IO, "cannot create %s: %s", tmp, strerror(errno));
		goto out;
	}
	r = write_all(fd, text, strlen(text), tmp);
	if (r == 0)
		r = write_all(fd, "\n", 1, tmp);
	if (r == 0 && fsync(fd) < 0)
		r = hv_err(HV_E_IO, "cannot flush %s to disk: %s", tmp, strerror(errno));
	if (close(fd) < 0 && r == 0)
		r = hv_err(HV_E_IO, "cannot close %s: %s", tmp, strerror(errno));
	fd = -1;
	if (r == 0 && rename(tmp, path) < 0)
		r = hv_err(HV_E_IO, "cannot rename %s to %s: %s", tmp, path, strerror(errno));
	if (r < 0) {
		unlink(tmp);
		goto out;
	}
	/* Make the rename itself durable. */
	dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd >= 0) {
		(void)fsync(dfd);
		close(dfd);
	}
out:
	if (fd >= 0)
		close(fd);
	free(text);
	return r;
}

int agt_state_load(const char *path, struct agt_state *s)
{
	json_error_t jerr;
	json_t *o = NULL, *h, *x;
	char *text = NULL;
	struct stat sb;
	ssize_t got;
	int64_t i64;
	int fd = -1, r = 0;

	agt_state_clear(s);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		r = hv_err(errno == ENOENT ? HV_E_NOTFOUND : HV_E_IO,
			   "cannot open the state file %s: %s", path, strerror(errno));
		goto out;
	}
	if (fstat(fd, &sb) < 0 || !S_ISREG(sb.st_mode) || sb.st_size > AGT_STATE_MAX) {
		r = hv_err(HV_E_FORMAT,
			   "the state file %s is not a regular file of at most %d bytes", path,
			   AGT_STATE_MAX);
		goto out;
	}
	text = malloc((size_t)sb.st_size + 1);
	if (!text) {
		r = hv_err(HV_E_NOMEM, "cannot read the state file %s: out of memory", path);
		goto out;
	}
	got = read(fd, text, (size_t)sb.st_size);
	if (got != sb.st_size) {
		r = hv_err(HV_E_IO, "cannot read the state file %s: %s", path,
			   got < 0 ? strerror(errno) : "short read");
		goto out;
	}
	o = json_loadb(text, (size_t)got, JSON_REJECT_DUPLICATES, &jerr);
	if (!json_is_object(o)) {
		r = hv_err(HV_E_FORMAT, "the state file %s is not a JSON object (%s)", path,
			   o ? "other JSON" : jerr.text);
		goto out;
	}
	x = json_object_get(o, "known");
	if (json_is_true(x)) {
		r = hv_wire_status_read(o, &s->status);
		if (r == 0)
			r = hv_wire_get_int(o, "id", false, 0, (int64_t)HV_WIRE_ID_MAX, 0, &i64,
					    "state file");
		if (r == 0) {
			s->status.id = (uint64_t)i64;
			r = hv_wire_get_int(o, "received_at", false, 0, HV_WIRE_TIME_MAX, 0, &i64,
					    "state file");
		}
		if (r < 0)
			goto out;
		s->status.received_at = i64;
	}
	x = json_object_get(o, "verify");
	if (json_is_object(x)) {
		r = hv_wire_verify_read(x, &s->verify);
		if (r < 0)
			goto out;
	}
	h = json_object_get(o, "host");
	if (json_is_object(h)) {
		s->host_connected = json_is_true(json_object_get(h, "connected"));
		r = hv_wire_get_int(h, "last_seen", false, 0, HV_WIRE_TIME_MAX, 0, &i64,
				    "state file host record");
		if (r < 0)
			goto out;
		s->host_last_seen = i64;
	}
out:
	if (r < 0 && r != HV_E_NOTFOUND && r != HV_E_IO)
		hv_err_prefix("state file %s", path);
	if (r < 0)
		agt_state_clear(s);
	json_decref(o);
	free(text);
	if (fd >= 0)
		close(fd);
	return r;
}

static void fmt_time(char *buf, size_t n, int64_t t)
{
	time_t tt = (time_t)t;
	struct tm tm;

	if (!t || !gmtime_r(&tt, &tm))
		snprintf(buf, n, "unknown");
	else
		strftime(buf, n, "%Y-%m-%d %H:%M:%S UTC", &tm);
}

static void fmt_age(char *buf, size_t n, int64_t s)
{
	if (s < 0)
		snprintf(buf, n, "in the future: check the clock");
	else if (s < 120)
		snprintf(buf, n, "%lld s ago", (long long)s);
	else if (s < 7200)
		snprintf(buf, n, "%lld min ago", (long long)(s / 60));
	else if (s < 172800)
		snprintf(buf, n, "%lld h ago", (long long)(s / 3600));
	else
		snprintf(buf, n, "%lld days ago", (long long)(s / 86400));
}

void agt_state_print(FILE *f, const struct agt_state *s, int64_t now)
{
	const struct hv_wire_status *st = &s->status;
	char t[64], age[64], hex[HV_HEX_SIZE(HV_WIRE_BYTES_MAX)];
	size_t i, j;

	if (!st->known) {
		fprintf(f, "Patch level:   unknown (the host has not reported one since boot)\n");
		return;
	}
	fprintf(f, "Patch level:   %s\n", st->level[0] ? st->level : "none (unpatched)");
	if (st->previous_level[0] || st->op[0])
		fprintf(f, "Previous:      %s%s%s%s\n",
			st->previous_level[0] ? st->previous_level : "none",
			st->op[0] ? " (this level came from an " : "", st->op,
			st->op[0] ? ")" : "");
	fmt_time(t, sizeof(t), st->applied_at);
	fmt_age(age, sizeof(age), now - st->applied_at);
	fprintf(f, "Applied at:    %s%s%s%s\n", t, st->applied_at ? " (" : "",
		st->applied_at ? age : "", st->applied_at ? ")" : "");
	fmt_time(t, sizeof(t), st->received_at);
	fmt_age(age, sizeof(age), now - st->received_at);
	fprintf(f, "Reported:      %s (%s)\n", t, age);
	if (s->host_connected) {
		fprintf(f, "Host:          connected\n");
	} else {
		fmt_age(age, sizeof(age), now - s->host_last_seen);
		fprintf(f, "Host:          not connected%s%s%s; this is the last known state\n",
			s->host_last_seen ? " (last seen " : "", s->host_last_seen ? age : "",
			s->host_last_seen ? ")" : "");
	}
	fprintf(f, "Functions:     %zu patched\n", st->nfuncs);
	for (i = 0; i < st->nfuncs; i++) {
		const struct hv_wire_func *fn = &st->funcs[i];
		const char *res = "not checked";

		for (j = 0; j < s->verify.n; j++)
			if (s->verify.checks[j].site == fn->site &&
			    !strcmp(s->verify.checks[j].name, fn->name))
				res = hv_wire_result_name(s->verify.checks[j].result);
		hv_hex_encode(hex, sizeof(hex), fn->expected, fn->expected_len);
		fprintf(f, "  %-32s site 0x%016llx  expected %s  self-check: %s\n", fn->name,
			(unsigned long long)fn->site, hex, res);
	}
	if (s->verify.at) {
		fmt_age(age, sizeof(age), now - s->verify.at);
		fprintf(f, "Self-check:    %s: %u present, %u mismatch, %u unreadable\n", age,
			s->verify.npresent, s->verify.nmismatch, s->verify.nunreadable);
		if (s->verify.nmismatch)
			fprintf(f,
				"Warning:       %u patched site%s no longer hold%s what the host "
				"wrote: that part of the patch is not in effect (run "
				"'hvpatch-agent verify' for details)\n",
				s->verify.nmismatch, s->verify.nmismatch == 1 ? "" : "s",
				s->verify.nmismatch == 1 ? "s" : "");
	}
}
