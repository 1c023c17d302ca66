#include "config.h"

#include "area.h"

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/sysmacros.h>
#include <unistd.h>

int hve_uuid_valid(const char *uuid)
{
	size_t i;

	if (!uuid || strlen(uuid) != 36)
		return 0;
	for (i = 0; i < 36; i++) {
		if (i == 8 || i == 13 || i == 18 || i == 23) {
			if (uuid[i] != '-')
				return 0;
		} else if (!isxdigit((unsigned char)uuid[i])) {
			return 0;
		}
	}
	return 1;
}

int hve_area_path(const char *uuid, char *buf, size_t n)
{
	char low[37];
	size_t i;

	if (!hve_uuid_valid(uuid))
		return hv_err(HV_E_INVAL,
			      "'%.40s' is not a domain UUID (8-4-4-4-12 hex digits); the patch "
			      "area is named by the domain's full UUID",
			      uuid ? uuid : "");
	for (i = 0; i < 36; i++)
		low[i] = (char)tolower((unsigned char)uuid[i]);
	low[36] = '\0';
	if ((size_t)snprintf(buf, n, "%s/%s", HVE_AREA_DIR, low) >= n)
		return hv_err(HV_E_RANGE, "no room for the patch-area path of %s", low);
	return 0;
}

/* A directory hvpatch may trust: root's, not a symlink, nobody else writes. */
static int check_dir(const char *dir)
{
	struct stat st;

	if (lstat(dir, &st) < 0)
		return hv_err(
			errno == ENOENT ? HV_E_NOTFOUND : HV_E_IO,
			"cannot look at the patch-area directory %s: %s; run 'hvpatch enroll' "
			"to create it",
			dir, strerror(errno));
	if (!S_ISDIR(st.st_mode) || st.st_uid != 0 || (st.st_mode & 022))
		return hv_err(HV_E_PERM,
			      "the patch-area directory %s must be a real directory owned by root "
			      "that only root can write (it is %s, owner uid %u, mode %04o); fix "
			      "its owner and mode",
			      dir, S_ISLNK(st.st_mode) ? "a symlink" : "not", (unsigned)st.st_uid,
			      (unsigned)(st.st_mode & 07777));
	return 0;
}

static int make_dir(const char *dir, mode_t mode)
{
	if (mkdir(dir, mode) < 0 && errno != EEXIST)
		return hv_err(HV_E_IO, "cannot create the patch-area directory %s: %s", dir,
			      strerror(errno));
	return check_dir(dir);
}

/* The checks shared by open and create, on an open descriptor. */
static int check_file(const char *path, int fd, uint64_t min_bytes, struct stat *st)
{
	if (fstat(fd, st) < 0)
		return hv_err(HV_E_IO, "cannot stat the patch-area file %s: %s", path,
			      strerror(errno));
	if (!S_ISREG(st->st_mode) || st->st_uid != 0 || (st->st_mode & 022))
		return hv_err(HV_E_PERM,
			      "the patch-area file %s must be a regular file owned by root that "
			      "only root can write (owner uid %u, mode %04o); run 'hvpatch enroll' "
			      "with the domain shut off to create it again",
			      path, (unsigned)st->st_uid, (unsigned)(st->st_mode & 07777));
	if (st->st_nlink != 1)
		return hv_err(
			HV_E_STATE,
			"the patch-area file %s has %lu links; an area belongs to one domain, "
			"so its file must have exactly one name: remove the other links",
			path, (unsigned long)st->st_nlink);
	if ((uint64_t)st->st_size < min_bytes)
		return hv_err(HV_E_STATE,
			      "the patch-area file %s has %" PRIu64
			      " bytes, fewer than the %" PRIu64 " the domain's patch area needs",
			      path, (uint64_t)st->st_size, min_bytes);
	return 0;
}

int hve_area_open(const char *path, uint64_t min_bytes, int *fd, struct stat *st)
{
	char dir[PATH_MAX];
	char *slash;
	int r, f = -1;

	*fd = -1;
	snprintf(dir, sizeof(dir), "%s", path);
	slash = strrchr(dir, '/');
	if (!slash || slash == dir)
		return hv_err(HV_E_INVAL, "the patch-area path %s has no directory", path);
	*slash = '\0';
	r = check_dir(dir);
	if (r < 0)
		goto out;
	f = open(path, O_RDWR | O_NOFOLLOW | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
	if (f < 0) {
		r = hv_err(errno == ENOENT  ? HV_E_NOTFOUND
			   : errno == ELOOP ? HV_E_PERM
					    : HV_E_IO,
			   "cannot open the patch-area file %s: %s%s", path, strerror(errno),
			   errno == ELOOP ? " (it is a symlink, which hvpatch never follows)"
			   : errno == ENOENT
				   ? "; run 'hvpatch enroll' for the domain and restart it"
				   : "");
		goto out;
	}
	r = check_file(path, f, min_bytes, st);
	if (r < 0)
		goto out;
	*fd = f;
	f = -1;
out:
	if (f >= 0)
		close(f);
	return r;
}

int hve_area_create(const char *uuid, uint64_t size_bytes, gid_t gid, char *path, size_t pathsz,
		    int *created)
{
	char parent[PATH_MAX];
	struct stat st;
	char *slash;
	int fd = -1, r, isnew = 0;

	if (created)
		*created = 0;
	r = hve_area_path(uuid, path, pathsz);
	if (r < 0)
		return r;
	snprintf(parent, sizeof(parent), "%s", HVE_AREA_DIR);
	slash = strrchr(parent, '/');
	if (slash && slash != parent) {
		*slash = '\0';
		r = make_dir(parent, 0755);
		if (r < 0)
			return r;
		/* QEMU runs as another user and opens the file by its path: it
		 * needs search (not read) permission on the way there. */
		if (stat(parent, &st) == 0 && (st.st_mode & 0011) != 0011 &&
		    chmod(parent, (st.st_mode & 07777) | 0011) < 0)
			return hv_err(
				HV_E_IO,
				"cannot let QEMU reach the patch-area directory through %s: %s",
				parent, strerror(errno));
	}
	r = make_dir(HVE_AREA_DIR, 0711);
	if (r < 0)
		return r;
	fd = open(path, O_RDWR | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
	if (fd >= 0) {
		isnew = 1;
		if (ftruncate(fd, (off_t)size_bytes) < 0) {
			r = hv_err(HV_E_IO,
				   "cannot size the patch-area file %s to %" PRIu64 " bytes: %s",
				   path, size_bytes, strerror(errno));
			goto out;
		}
	} else if (errno == EEXIST) {
		r = hve_area_open(path, size_bytes, &fd, &st);
		if (r < 0)
			goto out;
		if ((uint64_t)st.st_size != size_bytes) {
			r = hv_err(HV_E_STATE,
				   "the patch-area file %s already exists with %" PRIu64
				   " bytes, not %" PRIu64 "; enroll with --area-size %" PRIu64
				   ", or remove the file while "
				   "the domain is shut off",
				   path, (uint64_t)st.st_size, size_bytes,
				   (uint64_t)st.st_size >> 20);
			goto out;
		}
	} else {
		r = hv_err(errno == ELOOP ? HV_E_PERM : HV_E_IO,
			   "cannot create the patch-area file %s: %s", path, strerror(errno));
		goto out;
	}
	/* QEMU (its group) reads it; only root writes it. */
	if (fchown(fd, 0, gid) < 0 || fchmod(fd, 0640) < 0) {
		r = hv_err(HV_E_IO, "cannot give the patch-area file %s to group %u mode 0640: %s",
			   path, (unsigned)gid, strerror(errno));
		goto out;
	}
	r = check_file(path, fd, size_bytes, &st);
	if (r < 0)
		goto out;
	if (created)
		*created = isnew;
out:
	if (fd >= 0)
		close(fd);
	if (r < 0 && isnew)
		unlink(path);
	return r;
}

int hve_maps_has(const char *text, size_t len, unsigned dev_major, unsigned dev_minor, uint64_t ino)
{
	const char *p = text, *end = text + len;
	unsigned lines = 0;

	while (p < end && lines++ < HVE_AREA_SCAN_LINES) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		size_t n = nl ? (size_t)(nl - p) : (size_t)(end - p);
		char line[512];
		unsigned maj, min;
		unsigned long long inode;

		/* "start-end perms offset maj:min inode path": the fields hvpatch
		 * needs come first, so a cut line still parses. */
		if (n >= sizeof(line))
			n = sizeof(line) - 1;
		memcpy(line, p, n);
		line[n] = '\0';
		if (sscanf(line, "%*x-%*x %*4s %*x %x:%x %llu", &maj, &min, &inode) == 3 &&
		    maj == dev_major && min == dev_minor && inode == ino && inode != 0)
			return 1;
		if (!nl)
			break;
		p = nl + 1;
	}
	return 0;
}

/* Keep printable ASCII, for names that end up in messages. */
static void copy_printable(char *dst, size_t n, const char *src, size_t len)
{
	size_t i, k = 0;

	if (n == 0)
		return;
	for (i = 0; i < len && src[i] && k + 1 < n; i++)
		dst[k++] = (src[i] >= 0x20 && src[i] < 0x7f) ? src[i] : '?';
	dst[k] = '\0';
}

void hve_cmdline_ident(const char *cmdline, size_t len, char *name, size_t name_n, char *uuid,
		       size_t uuid_n)
{
	const char *p = cmdline, *end = cmdline + len, *prev = NULL;

	if (name_n)
		name[0] = '\0';
	if (uuid_n)
		uuid[0] = '\0';
	while (p < end) {
		const char *z = memchr(p, '\0', (size_t)(end - p));
		size_t n = z ? (size_t)(z - p) : (size_t)(end - p);

		if (prev && !strcmp(prev, "-name")) {
			const char *v = p;
			size_t vn = n;

			if (vn > 6 && !strncmp(v, "guest=", 6)) {
				v += 6;
				vn -= 6;
			}
			copy_printable(name, name_n, v,
				       strcspn(v, ",") < vn ? strcspn(v, ",") : vn);
		} else if (prev && !strcmp(prev, "-uuid")) {
			copy_printable(uuid, uuid_n, p, n);
		}
		if (!z)
			break;
		prev = p;
		p = z + 1;
	}
}

static int read_small(const char *path, char *buf, size_t cap, size_t *len)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	ssize_t n;
	size_t got = 0;

	*len = 0;
	if (fd < 0)
		return -1;
	while (got < cap && (n = read(fd, buf + got, cap - got)) > 0)
		got += (size_t)n;
	close(fd);
	*len = got;
	return 0;
}

int hve_area_pid_maps(const char *proc_root, int pid, dev_t dev, uint64_t ino)
{
	char path[PATH_MAX], *line = NULL;
	size_t cap = 0;
	ssize_t n;
	unsigned lines = 0;
	FILE *f;
	int found = 0;

	snprintf(path, sizeof(path), "%s/%d/maps", proc_root, pid);
	f = fopen(path, "re");
	if (!f)
		return hv_err(errno == ENOENT ? HV_E_NOTFOUND : HV_E_IO, "cannot read %s: %s", path,
			      strerror(errno));
	while (!found && lines++ < HVE_AREA_SCAN_LINES && (n = getline(&line, &cap, f)) > 0)
		found = hve_maps_has(line, (size_t)n, major(dev), minor(dev), ino);
	free(line);
	fclose(f);
	return found;
}

/* Whether @pid runs QEMU: its executable is called qemu* or is @own_exe. */
static int is_qemu(const char *proc_root, const char *pid, const struct stat *own_exe)
{
	char path[PATH_MAX], link[PATH_MAX];
	const char *base;
	struct stat st;
	ssize_t n;

	snprintf(path, sizeof(path), "%s/%s/exe", proc_root, pid);
	n = readlink(path, link, sizeof(link) - 1);
	if (n <= 0)
		return 0;
	link[n] = '\0';
	base = strrchr(link, '/');
	base = base ? base + 1 : link;
	if (!strncmp(base, "qemu", 4))
		return 1;
	return own_exe && stat(path, &st) == 0 && st.st_dev == own_exe->st_dev &&
	       st.st_ino == own_exe->st_ino;
}

int hve_area_find_mappers(const char *proc_root, dev_t dev, uint64_t ino, int own_pid,
			  struct hve_mapper *out, unsigned max)
{
	char path[PATH_MAX], cmd[8192];
	struct stat own_st, *own = NULL;
	struct dirent *de;
	unsigned seen = 0;
	int count = 0;
	DIR *d;

	if (own_pid > 0) {
		snprintf(path, sizeof(path), "%s/%d/exe", proc_root, own_pid);
		if (stat(path, &own_st) == 0)
			own = &own_st;
	}
	d = opendir(proc_root);
	if (!d)
		return hv_err(HV_E_IO, "cannot list %s to find who maps the patch area: %s",
			      proc_root, strerror(errno));
	while ((de = readdir(d)) != NULL && seen < HVE_AREA_SCAN_PIDS) {
		char *e;
		long pid = strtol(de->d_name, &e, 10);
		size_t len;

		if (*e || pid <= 0 || pid == own_pid)
			continue;
		seen++;
		if (!is_qemu(proc_root, de->d_name, own))
			continue;
		if (hve_area_pid_maps(proc_root, (int)pid, dev, ino) != 1) {
			hv_err_clear(); /* gone meanwhile */
			continue;
		}
		if ((unsigned)count < max) {
			struct hve_mapper *m = &out[count];

			memset(m, 0, sizeof(*m));
			m->pid = (int)pid;
			snprintf(path, sizeof(path), "%s/%s/cmdline", proc_root, de->d_name);
			if (read_small(path, cmd, sizeof(cmd), &len) == 0)
				hve_cmdline_ident(cmd, len, m->name, sizeof(m->name), m->uuid,
						  sizeof(m->uuid));
		}
		count++;
	}
	closedir(d);
	return count;
}

int hve_area_check_gpa(uint64_t gpa, uint64_t size, const struct hve_ram_range *ram, unsigned nram,
		       const char *label)
{
	static const uint64_t sys_lo = 0xfec00000ull, sys_hi = 0x100000000ull;
	unsigned i;

	if (size < 4096 || (size & (size - 1)))
		return hv_err(HV_E_RANGE,
			      "the patch area of %s has %" PRIu64
			      " bytes, not a power of two of at "
			      "least 4 KiB",
			      label, size);
	if (gpa + size < gpa)
		return hv_err(HV_E_RANGE,
			      "the patch area of %s at guest-physical 0x%" PRIx64 " wraps around "
			      "the address space",
			      label, gpa);
	if (gpa & (size - 1))
		return hv_err(HV_E_RANGE,
			      "the guest put the patch area of %s at guest-physical 0x%" PRIx64
			      ", which is not aligned to its size (0x%" PRIx64 "); hvpatch refuses "
			      "an area the firmware would never place there",
			      label, gpa, size);
	if (gpa < 0x100000ull)
		return hv_err(
			HV_E_RANGE,
			"the guest put the patch area of %s at guest-physical 0x%" PRIx64
			", below 1 MiB, where legacy memory and ROMs live; hvpatch refuses it",
			label, gpa);
	if (gpa < sys_hi && gpa + size > sys_lo)
		return hv_err(HV_E_RANGE,
			      "the guest put the patch area of %s at guest-physical 0x%" PRIx64
			      ", inside 0xfec00000..0xffffffff (APICs and firmware); hvpatch "
			      "refuses it",
			      label, gpa);
	for (i = 0; i < nram; i++) {
		uint64_t lo = ram[i].gpa, hi = ram[i].gpa + ram[i].size;

		if (ram[i].size && gpa < hi && gpa + size > lo)
			return hv_err(
				HV_E_RANGE,
				"the guest put the patch area of %s at guest-physical 0x%" PRIx64
				"..0x%" PRIx64 ", over its RAM at 0x%" PRIx64 "..0x%" PRIx64
				"; hvpatch never writes an area that overlaps RAM (restart the "
				"domain to let the firmware place it again)",
				label, gpa, gpa + size - 1, lo, hi - 1);
	}
	return 0;
}
