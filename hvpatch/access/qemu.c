/*
 * What both backends share once they can send QMP commands: QEMU probes,
 * the gdbstub's lifetime, guest RAM mapping, and the memory/register
 * operations built on them.
 */
#include "config.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "enroll/area.h"
#include "guard.h"
#include "hva_impl.h"

#define HVA_GDB_DIR_DEFAULT "/run/hvpatch/gdb"

struct hva *hva_session_new(const struct hva_ops *ops, const struct hva_open_opts *opts,
			    const char *label)
{
	struct hva *h = calloc(1, sizeof(*h));
	pthread_condattr_t ca;

	if (!h)
		return NULL;
	h->ops = ops;
	snprintf(h->label, sizeof(h->label), "%s", label ? label : "guest");
	snprintf(h->gdb_dir, sizeof(h->gdb_dir), "%s",
		 opts && opts->gdb_dir ? opts->gdb_dir : HVA_GDB_DIR_DEFAULT);
	h->deadline_ms = opts && opts->pause_deadline_ms ? opts->pause_deadline_ms
							 : HVA_DEFAULT_PAUSE_DEADLINE_MS;
	snprintf(h->pause_dir, sizeof(h->pause_dir), "%s",
		 opts && opts->pause_dir ? opts->pause_dir : HVA_PAUSE_DIR);
	pthread_mutex_init(&h->lock, NULL);
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&h->cond, &ca);
	pthread_condattr_destroy(&ca);
	return h;
}

void hva_session_free(struct hva *h)
{
	if (!h)
		return;
	hva_qemu_gdb_stop(h);
	/* Last: it resumes the guest if a pause is somehow still armed. */
	hva_guard_stop(h->guard);
	h->guard = NULL;
	if (h->ram)
		munmap(h->ram, h->ram_bytes);
	if (h->area)
		munmap(h->area, h->area_bytes);
	pthread_mutex_destroy(&h->lock);
	pthread_cond_destroy(&h->cond);
	free(h);
}

int hva_qemu_exec(struct hva *h, const char *execute, json_t *args, json_t **ret)
{
	json_t *cmd = NULL, *reply = NULL, *err;
	char *text = NULL, *out = NULL;
	int r;

	*ret = NULL;
	cmd = json_pack("{s:s}", "execute", execute);
	if (!cmd || (args && json_object_set(cmd, "arguments", args) < 0)) {
		r = hv_err(HV_E_NOMEM, "out of memory for a QMP command");
		goto out;
	}
	text = json_dumps(cmd, JSON_COMPACT);
	if (!text) {
		r = hv_err(HV_E_NOMEM, "out of memory for a QMP command");
		goto out;
	}
	r = h->qmp(h, text, &out);
	if (r < 0) {
		r = hv_err_prefix("QMP command %s on %s", execute, h->label);
		goto out;
	}
	reply = json_loads(out, 0, NULL);
	if (!json_is_object(reply)) {
		r = hv_err(HV_E_PROTO, "QEMU's reply to %s is not a JSON object", execute);
		goto out;
	}
	err = json_object_get(reply, "error");
	if (err) {
		const char *desc = json_string_value(json_object_get(err, "desc"));
		const char *cls = json_string_value(json_object_get(err, "class"));

		r = hv_err(cls && !strcmp(cls, "CommandNotFound") ? HV_E_UNSUPPORTED : HV_E_IO,
			   "QEMU refused %s on %s: %s", execute, h->label,
			   desc ? desc : "(no reason)");
		goto out;
	}
	*ret = json_incref(json_object_get(reply, "return"));
	if (!*ret) {
		r = hv_err(HV_E_PROTO, "QEMU's reply to %s has no return value", execute);
		goto out;
	}
	r = 0;
out:
	json_decref(cmd);
	json_decref(reply);
	free(text);
	free(out);
	return r;
}

int hva_qemu_hmp(struct hva *h, const char *cmd, int cpu_index, char **text)
{
	json_t *args, *ret = NULL;
	int r;

	*text = NULL;
	args = cpu_index >= 0 ? json_pack("{s:s,s:i}", "command-line", cmd, "cpu-index", cpu_index)
			      : json_pack("{s:s}", "command-line", cmd);
	if (!args)
		return hv_err(HV_E_NOMEM, "out of memory for an HMP command");
	r = hva_qemu_exec(h, "human-monitor-command", args, &ret);
	json_decref(args);
	if (r < 0)
		return r;
	if (!json_is_string(ret)) {
		json_decref(ret);
		return hv_err(HV_E_PROTO, "QEMU's answer to HMP '%s' is not text", cmd);
	}
	*text = strdup(json_string_value(ret));
	json_decref(ret);
	if (!*text)
		return hv_err(HV_E_NOMEM, "out of memory for an HMP reply");
	return 0;
}

int hva_qemu_hmp_op(struct hva *h, const char *cmd, char **reply)
{
	return hva_qemu_hmp(h, cmd, -1, reply);
}

int hva_qemu_prepare_pause(struct hva *h)
{
	uint64_t gpa = 0, size = 0;
	int r;

	/* The guest can move its BAR at any time: what the session checked at
	 * open must still hold for the writes of this pause. */
	if (h->info.has_area) {
		r = hva_qemu_area_bar(h, &gpa, &size);
		if (r < 0)
			return hv_err_prefix("checking the patch area of %s again", h->label);
		if (gpa != h->info.area_gpa || size != h->info.area_size)
			return hv_err(HV_E_STATE,
				      "the guest moved the patch area of %s from guest-physical "
				      "0x%" PRIx64 " to 0x%" PRIx64 " since hvpatch opened it; "
				      "hvpatch refuses to write it (run the command again)",
				      h->label, h->info.area_gpa, gpa);
	}
	/* Under TCG every write needs the gdbstub: start its server now, while
	 * the guest runs, so the pause pays only for the connection. */
	if (h->info.accel != HVA_ACCEL_TCG)
		return 0;
	return hva_qemu_gdb_server(h);
}

/* QOM property @prop of @path; *@ret (caller decrefs) is QEMU's value. */
static int qom_get(struct hva *h, const char *path, const char *prop, json_t **ret)
{
	json_t *args = json_pack("{s:s,s:s}", "path", path, "property", prop);
	int r;

	*ret = NULL;
	if (!args)
		return hv_err(HV_E_NOMEM, "out of memory for a QMP command");
	r = hva_qemu_exec(h, "qom-get", args, ret);
	json_decref(args);
	return r;
}

static int qom_u64(struct hva *h, const char *path, const char *prop, uint64_t *v)
{
	json_t *ret = NULL;
	int r = qom_get(h, path, prop, &ret);

	if (r == 0 && (!json_is_integer(ret) || json_integer_value(ret) < 0))
		r = hv_err(HV_E_PROTO, "QOM property %s of %s is not a size", prop, path);
	if (r == 0)
		*v = (uint64_t)json_integer_value(ret);
	json_decref(ret);
	return r;
}

static int qom_str(struct hva *h, const char *path, const char *prop, char *out, size_t n)
{
	json_t *ret = NULL;
	int r = qom_get(h, path, prop, &ret);

	if (r == 0 && (!json_is_string(ret) || json_string_length(ret) >= n))
		r = hv_err(HV_E_PROTO, "QOM property %s of %s is not a string of a sane length",
			   prop, path);
	if (r == 0)
		snprintf(out, n, "%s", json_string_value(ret));
	json_decref(ret);
	return r;
}

static int qom_bool(struct hva *h, const char *path, const char *prop, bool *v)
{
	json_t *ret = NULL;
	int r = qom_get(h, path, prop, &ret);

	if (r == 0 && !json_is_boolean(ret))
		r = hv_err(HV_E_PROTO, "QOM property %s of %s is not a boolean", prop, path);
	if (r == 0)
		*v = json_is_true(ret);
	json_decref(ret);
	return r;
}

/* Find the device with qdev id @id in a query-pci bus list (bridges
 * included, at most 8 deep) and its BAR @bar. */
static int pci_find_bar(json_t *devices, const char *id, int bar, int depth, uint64_t *gpa,
			uint64_t *size)
{
	size_t i, k;
	json_t *d, *rg;

	if (!json_is_array(devices) || depth > 8)
		return 0;
	json_array_foreach(devices, i, d)
	{
		const char *qid = json_string_value(json_object_get(d, "qdev_id"));
		json_t *br = json_object_get(json_object_get(d, "pci_bridge"), "devices");

		if (qid && !strcmp(qid, id)) {
			json_array_foreach(json_object_get(d, "regions"), k, rg)
			{
				json_t *a = json_object_get(rg, "address");
				json_t *s = json_object_get(rg, "size");

				if (json_integer_value(json_object_get(rg, "bar")) != bar ||
				    !json_is_integer(a) || !json_is_integer(s))
					continue;
				*gpa = (uint64_t)json_integer_value(a);
				*size = (uint64_t)json_integer_value(s);
				return 1;
			}
			*gpa = 0;
			*size = 0;
			return 1;
		}
		if (pci_find_bar(br, id, bar, depth + 1, gpa, size))
			return 1;
	}
	return 0;
}

int hva_qemu_area_bar(struct hva *h, uint64_t *gpa, uint64_t *size)
{
	json_t *ret = NULL, *bus;
	size_t i;
	int r, found = 0;

	*gpa = 0;
	*size = 0;
	r = hva_qemu_exec(h, "query-pci", NULL, &ret);
	if (r < 0)
		return r;
	json_array_foreach(ret, i, bus)
	{
		found = pci_find_bar(json_object_get(bus, "devices"), HVE_AREA_DEV_ID, 2, 0, gpa,
				     size);
		if (found)
			break;
	}
	json_decref(ret);
	if (!found)
		return hv_err(HV_E_NOTFOUND, "QEMU lists no PCI device %s for the patch area of %s",
			      HVE_AREA_DEV_ID, h->label);
	/* Unassigned BARs read as all ones or zero. */
	if (*size == 0 || *gpa == 0 || *gpa == UINT64_MAX || (*gpa & 0xfff) == 0xfff)
		return hv_err(HV_E_STATE,
			      "the patch area of %s has no BAR2 address (0x%" PRIx64 "): the guest "
			      "has not enabled it; hvpatch cannot use it",
			      h->label, *gpa);
	return 0;
}

/* The patch area as QEMU has it: device HVE_AREA_DEV_ID, its backend. */
static int probe_area(struct hva *h, struct hva_info *info)
{
	char type[64];
	int r;

	info->has_area = false;
	info->area_shm[0] = '\0';
	h->area_readonly = false;
	if (qom_str(h, "/machine/peripheral/" HVE_AREA_DEV_ID, "memdev", h->area_backend,
		    sizeof(h->area_backend)) < 0) {
		hv_err_clear(); /* no patch area: not enrolled, or enrolled the old way */
		return 0;
	}
	r = qom_str(h, h->area_backend, "type", type, sizeof(type));
	if (r == 0 && strcmp(type, "memory-backend-file") != 0)
		r = hv_err(HV_E_STATE,
			   "the patch area of %s is backed by a %s, not by a read-only "
			   "memory-backend-file; run 'hvpatch enroll %s' and restart the domain",
			   h->label, type, h->label);
	if (r == 0)
		r = qom_str(h, h->area_backend, "mem-path", info->area_shm, sizeof(info->area_shm));
	if (r == 0)
		r = qom_bool(h, h->area_backend, "readonly", &h->area_readonly);
	if (r == 0)
		r = hva_qemu_area_bar(h, &info->area_gpa, &info->area_size);
	if (r < 0)
		return hv_err_prefix("patch area of %s", h->label);
	info->has_area = true;
	return 0;
}

int hva_qemu_probe(struct hva *h, struct hva_info *info)
{
	json_t *ret = NULL, *v;
	uint64_t below = 0, above = 0;
	int r;

	r = hva_qemu_exec(h, "query-kvm", NULL, &ret);
	if (r < 0)
		goto out;
	info->accel = json_is_true(json_object_get(ret, "enabled")) ? HVA_ACCEL_KVM : HVA_ACCEL_TCG;
	json_decref(ret);
	ret = NULL;

	r = hva_qemu_exec(h, "query-memory-size-summary", NULL, &ret);
	if (r < 0)
		goto out;
	v = json_object_get(ret, "base-memory");
	if (!json_is_integer(v) || json_integer_value(v) <= 0) {
		r = hv_err(HV_E_PROTO, "QEMU reports no base memory size for %s", h->label);
		goto out;
	}
	info->mem_bytes = (uint64_t)json_integer_value(v);
	json_decref(ret);
	ret = NULL;

	r = hva_qemu_exec(h, "query-cpus-fast", NULL, &ret);
	if (r < 0)
		goto out;
	if (!json_is_array(ret) || json_array_size(ret) == 0 ||
	    json_array_size(ret) > HVA_MAX_VCPUS) {
		r = hv_err(HV_E_UNSUPPORTED, "%s has %zu vCPUs; hvpatch handles 1 to %d", h->label,
			   json_is_array(ret) ? json_array_size(ret) : 0, HVA_MAX_VCPUS);
		goto out;
	}
	info->nvcpus = (unsigned)json_array_size(ret);
	json_decref(ret);
	ret = NULL;

	/* Low RAM sits at 0; what does not fit below the PCI hole at 4 GiB. */
	if (qom_u64(h, "/machine/i440fx", "below-4g-mem-size", &below) < 0 &&
	    qom_u64(h, "/machine/q35", "below-4g-mem-size", &below) < 0) {
		if (info->mem_bytes > 0x80000000ull) {
			r = hv_err(
				HV_E_UNSUPPORTED,
				"cannot learn where %s's RAM above 2 GiB is mapped (no i440fx or "
				"q35 host bridge)",
				h->label);
			goto out;
		}
		below = info->mem_bytes;
	}
	hv_err_clear();
	if (below > info->mem_bytes)
		below = info->mem_bytes;
	above = info->mem_bytes - below;
	info->nregions = 1;
	info->regions[0] = (struct hva_region){ .gpa = 0, .size = below, .offset = 0 };
	snprintf(info->regions[0].name, sizeof(info->regions[0].name), "ram-below-4g");
	if (above) {
		info->nregions = 2;
		info->regions[1] = (struct hva_region){ .gpa = 0x100000000ull,
							.size = above,
							.offset = below };
		snprintf(info->regions[1].name, sizeof(info->regions[1].name), "ram-above-4g");
	}

	r = probe_area(h, info);
out:
	json_decref(ret);
	return r;
}

static void *map_fd(int fd, size_t len)
{
	void *p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);

	return p == MAP_FAILED ? NULL : p;
}

/* Name the other QEMUs that map @dev/@ino, for a message: "" when none. */
static int other_mappers(struct hva *h, dev_t dev, uint64_t ino, char *out, size_t n)
{
	struct hve_mapper m[4];
	int k, i;
	size_t len = 0;

	out[0] = '\0';
	k = hve_area_find_mappers("/proc", dev, ino, h->qemu_pid, m, 4);
	if (k < 0)
		return k;
	for (i = 0; i < k && i < 4 && len < n; i++)
		len += (size_t)snprintf(out + len, n - len, "%sQEMU pid %d of domain '%s'%s%s%s",
					i ? ", " : "", m[i].pid, m[i].name[0] ? m[i].name : "?",
					m[i].uuid[0] ? " (UUID " : "", m[i].uuid,
					m[i].uuid[0] ? ")" : "");
	if (k > 4 && len < n)
		snprintf(out + len, n - len, " and %d more", k - 4);
	return k;
}

/* Check the patch area QEMU has (probe_area()) and map its file. */
static int map_area(struct hva *h)
{
	struct hva_info *in = &h->info;
	struct hve_ram_range ram[HVA_MAX_REGIONS];
	char want[256], others[1024];
	struct stat st;
	unsigned i;
	int fd = -1, r, k;

	if (!h->area_readonly) {
		r = hv_err(HV_E_STATE,
			   "the patch area of %s (%s) is writable by the guest: its memory backend "
			   "is not read-only; run 'hvpatch enroll %s' and restart the domain",
			   h->label, in->area_shm, h->label);
		goto out;
	}
	r = hve_area_path(in->uuid, want, sizeof(want));
	if (r < 0) {
		r = hv_err_prefix("patch area of %s", h->label);
		goto out;
	}
	if (strcmp(in->area_shm, want) != 0) {
		/* Whose is it?  Name the other domain when its QEMU maps it. */
		others[0] = '\0';
		if (lstat(in->area_shm, &st) == 0 && S_ISREG(st.st_mode) &&
		    other_mappers(h, st.st_dev, (uint64_t)st.st_ino, others, sizeof(others)) < 0)
			hv_err_clear();
		r = hv_err(HV_E_STATE,
			   "the patch area of domain '%s' (UUID %s) is the file %s, not its own "
			   "%s%s%s; "
			   "an area belongs to one domain: run 'hvpatch enroll %s' and restart it",
			   h->label, in->uuid, in->area_shm, want,
			   others[0] ? "; that file is also mapped by " : "", others, h->label);
		goto out;
	}
	for (i = 0; i < in->nregions && i < HVA_MAX_REGIONS; i++) {
		ram[i].gpa = in->regions[i].gpa;
		ram[i].size = in->regions[i].size;
	}
	r = hve_area_check_gpa(in->area_gpa, in->area_size, ram, i, h->label);
	if (r < 0)
		goto out;
	r = hve_area_open(want, in->area_size, &fd, &st);
	if (r < 0) {
		r = hv_err_prefix("patch area of %s", h->label);
		goto out;
	}
	if (h->qemu_pid > 0) {
		r = hve_area_pid_maps("/proc", h->qemu_pid, st.st_dev, (uint64_t)st.st_ino);
		if (r == 0)
			r = hv_err(
				HV_E_STATE,
				"the QEMU process (pid %d) of %s does not map the patch-area file "
				"%s (the file was replaced after the domain started?); restart "
				"the domain",
				(int)h->qemu_pid, h->label, want);
		if (r < 0)
			goto out;
	}
	k = other_mappers(h, st.st_dev, (uint64_t)st.st_ino, others, sizeof(others));
	if (k != 0) {
		r = k < 0 ? k
			  : hv_err(HV_E_STATE,
				   "the patch-area file %s of domain '%s' (UUID %s) is also mapped "
				   "by %s; an area belongs to one domain: run 'hvpatch enroll' for "
				   "the other domain and restart it",
				   want, h->label, in->uuid, others);
		goto out;
	}
	h->area = map_fd(fd, (size_t)in->area_size);
	if (!h->area) {
		r = hv_err(HV_E_IO, "cannot map the patch-area file %s: %s", want, strerror(errno));
		goto out;
	}
	h->area_bytes = (size_t)in->area_size;
	r = 0;
out:
	if (fd >= 0)
		close(fd);
	return r;
}

int hva_qemu_map_memory(struct hva *h)
{
	char dir[64], path[PATH_MAX], link[PATH_MAX];
	struct dirent *de;
	DIR *d = NULL;
	int fd = -1, r = 0;
	struct stat st;

	if (h->qemu_pid > 0 && !h->ram) {
		snprintf(dir, sizeof(dir), "/proc/%d/fd", (int)h->qemu_pid);
		d = opendir(dir);
		if (!d) {
			r = hv_err(errno == EACCES ? HV_E_PERM : HV_E_IO,
				   "cannot list the QEMU process's files (%s) to map %s's RAM: %s; "
				   "hvpatch must run as root on the host",
				   dir, h->label, strerror(errno));
			goto out;
		}
		while ((de = readdir(d)) != NULL) {
			ssize_t n;

			if (de->d_name[0] == '.')
				continue;
			snprintf(path, sizeof(path), "%s/%s", dir, de->d_name);
			n = readlink(path, link, sizeof(link) - 1);
			if (n <= 0)
				continue;
			link[n] = '\0';
			if (strncmp(link, "/memfd:memory-backend-memfd", 27) != 0)
				continue;
			fd = open(path, O_RDWR | O_CLOEXEC);
			if (fd < 0)
				continue;
			if (fstat(fd, &st) == 0 && (uint64_t)st.st_size == h->info.mem_bytes) {
				h->ram = map_fd(fd, (size_t)st.st_size);
				if (h->ram)
					h->ram_bytes = (size_t)st.st_size;
			}
			close(fd);
			fd = -1;
			if (h->ram)
				break;
		}
	}
	if (h->info.has_area && !h->area) {
		r = map_area(h);
		if (r < 0)
			goto out;
	}
out:
	if (d)
		closedir(d);
	if (fd >= 0)
		close(fd);
	return r;
}

/*
 * Whether the gdbstub described by the "info chardev" line @line is one an
 * earlier hvpatch started in our directory and that process is gone (it
 * crashed or was killed): then ours may replace it.
 */
static bool stale_own_gdbstub(const struct hva *h, const char *line)
{
	const char *p = strstr(line, "unix:"), *end;
	char path[PATH_MAX];
	size_t n, dl = strlen(h->gdb_dir);
	long pid;
	char *q;

	if (!p)
		return false;
	p += 5;
	end = p + strcspn(p, ",\n");
	n = (size_t)(end - p);
	if (n >= sizeof(path) || n <= dl + 1 || strncmp(p, h->gdb_dir, dl) != 0 || p[dl] != '/')
		return false;
	memcpy(path, p, n);
	path[n] = '\0';
	/* <dir>/<uuid>.<pid>.sock */
	q = strrchr(path, '.');
	if (!q || strcmp(q, ".sock") != 0)
		return false;
	*q = '\0';
	q = strrchr(path, '.');
	if (!q)
		return false;
	pid = strtol(q + 1, NULL, 10);
	if (pid <= 0 || (kill((pid_t)pid, 0) == 0 || errno != ESRCH))
		return false;
	*q = '.';
	strcat(path, ".sock");
	unlink(path);
	return true;
}

/* The real uid and gid of process @pid, from /proc/PID/status. */
static int proc_ids(int pid, uid_t *uid, gid_t *gid)
{
	char path[64], line[256];
	unsigned long u = 0, g = 0;
	int have = 0;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/status", pid);
	f = fopen(path, "re");
	if (!f)
		return hv_err(HV_E_IO, "cannot read %s to learn which user QEMU runs as: %s", path,
			      strerror(errno));
	while (fgets(line, sizeof(line), f)) {
		if (sscanf(line, "Uid: %lu", &u) == 1)
			have |= 1;
		else if (sscanf(line, "Gid: %lu", &g) == 1)
			have |= 2;
	}
	fclose(f);
	if (have != 3)
		return hv_err(HV_E_PROTO, "%s names no Uid and Gid", path);
	*uid = (uid_t)u;
	*gid = (gid_t)g;
	return 0;
}

/*
 * The directory QEMU creates the gdbstub socket in: <gdb_dir>/<uuid>, owned
 * by the user QEMU runs as (it must create the socket there) with mode 0700,
 * so only QEMU and root reach the monitor-equivalent socket; <gdb_dir> is
 * root's, searchable but not listable or writable by others.
 */
static int gdb_socket_dir(struct hva *h, char *dir, size_t n)
{
	uid_t uid = 0;
	gid_t gid = 0;
	struct stat st;
	int r;

	if (h->qemu_pid > 0) {
		r = proc_ids(h->qemu_pid, &uid, &gid);
		if (r < 0)
			return r;
	}
	if (mkdir(h->gdb_dir, 0711) < 0 && errno != EEXIST) {
		/* The parent may be missing too. */
		char parent[128];
		char *slash;

		snprintf(parent, sizeof(parent), "%s", h->gdb_dir);
		slash = strrchr(parent, '/');
		if (slash && slash != parent) {
			*slash = '\0';
			(void)mkdir(parent, 0755);
		}
		if (mkdir(h->gdb_dir, 0711) < 0 && errno != EEXIST)
			return hv_err(HV_E_IO, "cannot create the gdbstub directory %s: %s",
				      h->gdb_dir, strerror(errno));
	}
	if (lstat(h->gdb_dir, &st) < 0 || !S_ISDIR(st.st_mode) || st.st_uid != geteuid() ||
	    (st.st_mode & 022))
		return hv_err(HV_E_PERM,
			      "the gdbstub directory %s must be a directory owned by this user "
			      "that nobody else can write, so no one else can reach the guest "
			      "through it",
			      h->gdb_dir);
	/* QEMU must be able to reach its own directory below it. */
	if ((st.st_mode & 0011) != 0011 && chmod(h->gdb_dir, (st.st_mode & 07777) | 0011) < 0)
		return hv_err(HV_E_IO, "cannot let QEMU reach %s: %s", h->gdb_dir, strerror(errno));
	if ((size_t)snprintf(dir, n, "%s/%s", h->gdb_dir,
			     h->info.uuid[0] ? h->info.uuid : "guest") >= n)
		return hv_err(HV_E_RANGE, "the gdbstub directory %s is too long", h->gdb_dir);
	if (mkdir(dir, 0700) < 0 && errno != EEXIST)
		return hv_err(HV_E_IO, "cannot create the gdbstub directory %s: %s", dir,
			      strerror(errno));
	if (lstat(dir, &st) < 0 || !S_ISDIR(st.st_mode))
		return hv_err(HV_E_PERM, "the gdbstub directory %s is not a directory (a symlink?)",
			      dir);
	if ((st.st_uid != uid || st.st_gid != gid) && lchown(dir, uid, gid) < 0)
		return hv_err(HV_E_IO, "cannot give the gdbstub directory %s to QEMU's user %u: %s",
			      dir, (unsigned)uid, strerror(errno));
	if ((st.st_mode & 07777) != 0700 && chmod(dir, 0700) < 0)
		return hv_err(HV_E_IO, "cannot make the gdbstub directory %s private: %s", dir,
			      strerror(errno));
	return 0;
}

int hva_qemu_gdb_server(struct hva *h)
{
	char cmd[400], *text = NULL, *reply = NULL, sockdir[256];
	int r;

	if (h->gdb_started)
		return 0;
	r = gdb_socket_dir(h, sockdir, sizeof(sockdir));
	if (r < 0)
		return r;
	if ((size_t)snprintf(h->gdb_path, sizeof(h->gdb_path), "%s/%s.%d.sock", sockdir,
			     h->info.uuid[0] ? h->info.uuid : "guest",
			     (int)getpid()) >= sizeof(h->gdb_path))
		return hv_err(HV_E_RANGE, "the gdbstub socket path in %s is too long", sockdir);

	/* Someone else's gdbstub would be replaced by ours: refuse instead. */
	r = hva_qemu_hmp(h, "info chardev", -1, &text);
	if (r < 0)
		goto out;
	{
		const char *p = strstr(text, "\ngdb: ");

		if (!p && !strncmp(text, "gdb: ", 5))
			p = text - 1;
		if (p && !strstr(p, h->gdb_path) && stale_own_gdbstub(h, p + 1)) {
			/* QEMU will not open a second one over it: stop it first. */
			r = hva_qemu_hmp(h, "gdbserver none", -1, &reply);
			free(reply);
			reply = NULL;
			if (r < 0)
				goto out;
		} else if (p && !strstr(p, h->gdb_path)) {
			const char *e = strchr(p + 1, '\n');

			r = hv_err(HV_E_BUSY,
				   "%s already has a gdbstub (%.*s); stop it with the HMP command "
				   "'gdbserver none' or wait for its user to finish",
				   h->label, e ? (int)(e - p - 1) : 60, p + 1);
			goto out;
		}
	}
	unlink(h->gdb_path);
	/* The guard hears of it first: should hvpatch die from here on, the
	 * guard stops the gdbstub instead of leaving it listening. */
	r = hva_guard_note_gdbstub(h->guard, true);
	if (r < 0)
		goto out;
	snprintf(cmd, sizeof(cmd), "gdbserver unix:%s,server=on,wait=off", h->gdb_path);
	r = hva_qemu_hmp(h, cmd, -1, &reply);
	if (r == 0 && !strstr(reply, "Waiting for gdb"))
		r = hv_err(HV_E_IO, "QEMU could not start a gdbstub for %s: %.200s", h->label,
			   reply);
	if (r < 0) {
		if (hva_guard_note_gdbstub(h->guard, false) < 0)
			hv_err_clear(); /* a gone guard has nothing to stop */
		goto out;
	}
	h->gdb_started = true;
out:
	free(text);
	free(reply);
	return r;
}

int hva_qemu_gdb_ensure(struct hva *h)
{
	int r;

	if (h->gdb)
		return 0;
	r = hva_qemu_gdb_server(h);
	if (r < 0)
		return r;
	r = hva_gdb_connect(h->gdb_path, 2000, &h->gdb);
	if (r < 0)
		r = hv_err_prefix("gdbstub of %s", h->label);
	return r;
}

void hva_qemu_gdb_stop(struct hva *h)
{
	char *reply = NULL;

	hva_gdb_close(h->gdb);
	h->gdb = NULL;
	if (h->gdb_started) {
		if (hva_qemu_hmp(h, "gdbserver none", -1, &reply) < 0)
			hv_err_clear(); /* the guard stops it when this session ends */
		else if (hva_guard_note_gdbstub(h->guard, false) < 0)
			hv_err_clear();
		free(reply);
		unlink(h->gdb_path);
		{
			/* The per-domain directory goes too when no other session's
			 * socket is in it (rmdir refuses then). */
			char dir[sizeof(h->gdb_path)];
			char *slash;

			snprintf(dir, sizeof(dir), "%s", h->gdb_path);
			slash = strrchr(dir, '/');
			if (slash && slash != dir) {
				*slash = '\0';
				(void)rmdir(dir);
			}
		}
		h->gdb_started = false;
	}
}

/* Whether [gpa, gpa+len) touches the patch area at all. */
static bool touches_area(const struct hva *h, uint64_t gpa, size_t len)
{
	return h->info.has_area && gpa < h->info.area_gpa + h->info.area_size &&
	       gpa + len > h->info.area_gpa;
}

/*
 * Where [gpa, gpa+len) lies in mapped memory, or NULL.  The patch area
 * comes first and only from its own mapping: an area range never falls
 * through to RAM (the area never overlaps RAM, see map_area(), but the
 * guest may move it).
 */
static uint8_t *mapped(struct hva *h, uint64_t gpa, size_t len, bool *is_area)
{
	unsigned i;

	*is_area = false;
	if (len == 0 || gpa + len < gpa)
		return NULL;
	if (touches_area(h, gpa, len)) {
		*is_area = true;
		if (h->area && gpa >= h->info.area_gpa &&
		    gpa + len <= h->info.area_gpa + h->area_bytes)
			return h->area + (gpa - h->info.area_gpa);
		return NULL;
	}
	if (h->ram) {
		for (i = 0; i < h->info.nregions; i++) {
			const struct hva_region *rg = &h->info.regions[i];

			if (gpa >= rg->gpa && gpa + len <= rg->gpa + rg->size &&
			    rg->offset + (gpa - rg->gpa) + len <= h->ram_bytes)
				return h->ram + rg->offset + (gpa - rg->gpa);
		}
	}
	return NULL;
}

/* Only RAM and the patch area: other guest-physical addresses are device
 * registers, where a read or write has side effects. */
static int check_range(struct hva *h, uint64_t gpa, size_t len)
{
	unsigned i;

	if (touches_area(h, gpa, len)) {
		if (len <= h->info.area_size && gpa >= h->info.area_gpa &&
		    gpa - h->info.area_gpa <= h->info.area_size - len && h->area)
			return 0;
		return hv_err(HV_E_RANGE,
			      "guest-physical 0x%" PRIx64 "+%zu runs over the edge of %s's patch "
			      "area (0x%" PRIx64 "+0x%" PRIx64 "%s)",
			      gpa, len, h->label, h->info.area_gpa, h->info.area_size,
			      h->area ? "" : ", not mapped by hvpatch");
	}
	for (i = 0; i < h->info.nregions; i++) {
		const struct hva_region *rg = &h->info.regions[i];

		if (gpa >= rg->gpa && len <= rg->size && gpa - rg->gpa <= rg->size - len)
			return 0;
	}
	return hv_err(HV_E_RANGE,
		      "guest-physical 0x%" PRIx64 "+%zu is outside %s's RAM (%" PRIu64
		      " MiB) and its patch area",
		      gpa, len, h->label, h->info.mem_bytes >> 20);
}

int hva_qemu_read_phys(struct hva *h, uint64_t gpa, void *buf, size_t len)
{
	bool is_area;
	uint8_t *p;
	int r;

	r = check_range(h, gpa, len);
	if (r < 0)
		return r;
	p = mapped(h, gpa, len, &is_area);
	if (p) {
		memcpy(buf, p, len);
		return 0;
	}
	if (is_area)
		return hv_err(HV_E_RANGE,
			      "guest-physical 0x%" PRIx64 "+%zu is in %s's patch area, which "
			      "hvpatch has not mapped",
			      gpa, len, h->label);
	if (!h->paused)
		return hv_err(HV_E_UNSUPPORTED,
			      "guest-physical 0x%" PRIx64 "+%zu of %s is not in shared RAM%s, and "
			      "the gdbstub can read it only while the guest is paused",
			      gpa, len, h->label,
			      h->ram ? ""
				     : " (no memfd RAM: run 'hvpatch enroll' and restart the "
				       "domain)");
	r = hva_qemu_gdb_ensure(h);
	if (r < 0)
		return r;
	return hva_gdb_read_phys(h->gdb, gpa, buf, len);
}

int hva_qemu_write_phys(struct hva *h, uint64_t gpa, const void *buf, size_t len, unsigned flags,
			enum hva_write_path *used)
{
	bool is_area;
	uint8_t *p;
	int r;

	*used = HVA_WRITE_NONE;
	r = check_range(h, gpa, len);
	if (r < 0)
		return r;
	p = mapped(h, gpa, len, &is_area);
	if (is_area) {
		/* The area is read-only to the guest: only hvpatch's own mapping
		 * writes it.  Never the gdbstub, whose write path memcpy()s into
		 * QEMU's read-only mapping of it. */
		if (!p)
			return hv_err(HV_E_RANGE,
				      "guest-physical 0x%" PRIx64 "+%zu is in %s's patch area, "
				      "which hvpatch has not mapped",
				      gpa, len, h->label);
		memcpy(p, buf, len);
		__atomic_thread_fence(__ATOMIC_SEQ_CST);
		*used = HVA_WRITE_AREA;
		/* Under TCG, QEMU keeps translations of area code that already
		 * ran, and QEMU 7.2 offers no way to drop them for a read-only
		 * region (a gdbstub write would crash QEMU; breakpoints do not
		 * flush): code must go where no code ran (docs/ACCESS.md). */
		return 0;
	}
	if (h->info.accel == HVA_ACCEL_KVM || (flags & HVA_WF_DATA)) {
		/* KVM runs guest code from RAM itself: no translation cache; and
		 * data is never translated. */
		p = mapped(h, gpa, len, &is_area);
		if (p) {
			memcpy(p, buf, len);
			__atomic_thread_fence(__ATOMIC_SEQ_CST);
			*used = is_area ? HVA_WRITE_AREA : HVA_WRITE_RAM;
			return 0;
		}
	}
	/* TCG caches translations of guest code; only gdbstub writes
	 * invalidate them. */
	r = hva_qemu_gdb_ensure(h);
	if (r < 0)
		return r;
	r = hva_gdb_write_phys(h->gdb, gpa, buf, len);
	if (r == 0)
		*used = HVA_WRITE_GDBSTUB;
	return r;
}

/* "IDT=     fffffe0000000000 00000fff" in HMP "info registers". */
static int parse_idt(const char *text, struct hva_regs *out)
{
	const char *p = strstr(text, "IDT=");
	unsigned long long base;
	unsigned limit;

	if (!p || sscanf(p + 4, " %llx %x", &base, &limit) != 2)
		return hv_err(HV_E_PROTO, "QEMU's 'info registers' has no IDT line");
	out->idtr_base = base;
	out->idtr_limit = limit;
	out->idtr_valid = true;
	return 0;
}

int hva_qemu_read_regs(struct hva *h, unsigned cpu, struct hva_regs *out, bool want_idtr)
{
	char *text = NULL;
	int r;

	if (cpu >= h->info.nvcpus)
		return hv_err(HV_E_NOTFOUND, "%s has no vCPU %u (it has %u)", h->label, cpu,
			      h->info.nvcpus);
	r = hva_qemu_gdb_ensure(h);
	if (r < 0)
		return r;
	r = hva_gdb_read_regs(h->gdb, cpu, out);
	if (r < 0 || !want_idtr)
		return r;
	r = hva_qemu_hmp(h, "info registers", (int)cpu, &text);
	if (r == 0)
		r = parse_idt(text, out);
	free(text);
	return r;
}
