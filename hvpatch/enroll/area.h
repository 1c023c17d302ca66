/*
 * hve_area: the patch area's host file, which belongs to exactly one domain.
 *
 * Each enrolled domain has its own file, HVE_AREA_DIR/<full UUID>, created
 * by `hvpatch enroll` (root-owned, group = QEMU's group, 0640).  QEMU maps it
 * through a read-only memory backend, so the guest cannot write the area;
 * hvpatch writes it through its own shared mapping.  The helpers here check
 * such a file before hvpatch trusts it: its name, owner, type, link count,
 * the processes that map it and where the guest put it in guest-physical
 * memory.  The access layer (hvpatch/access/qemu.c) and enrollment both use
 * them.
 */
#ifndef HVE_AREA_H
#define HVE_AREA_H

#include <stddef.h>
#include <stdint.h>
#include <sys/stat.h>
#include <sys/types.h>

#include "hv_error.h"

/* Where area files live: root-owned, never group- or world-writable. */
#define HVE_AREA_DIR "/var/lib/hvpatch/area"
/* The QEMU ids of the read-only backend and of the ivshmem-plain device. */
#define HVE_AREA_MEM_ID "hvpatch-area-mem"
#define HVE_AREA_DEV_ID "hvpatch-area"
/* A QEMU -name or -uuid longer than this is cut in messages. */
#define HVE_AREA_NAME_MAX 128
/* At most this many processes and maps lines are looked at in one scan. */
#define HVE_AREA_SCAN_PIDS  65536u
#define HVE_AREA_SCAN_LINES 262144u

/*
 * 1 when @uuid is a libvirt UUID string (36 characters, 8-4-4-4-12 hex
 * digits with dashes), else 0.
 */
int hve_uuid_valid(const char *uuid);

/*
 * Write the area file path of the domain with UUID @uuid (lower-cased) into
 * @buf (@n bytes).  Returns 0, or HV_E_INVAL (not a UUID) / HV_E_RANGE
 * (buffer too small).
 */
int hve_area_path(const char *uuid, char *buf, size_t n) HV_WUR;

/*
 * Make sure the area file of @uuid exists with @size_bytes bytes, zero-filled
 * when new, owned by root with group @gid and mode 0640, in HVE_AREA_DIR
 * (created 0711 when missing).  A file already there is accepted only when
 * it passes hve_area_open()'s checks and has exactly @size_bytes bytes; its
 * group and mode are set again.  *@created (may be NULL) says whether the
 * file is new.  @path receives the path (@pathsz bytes).
 * Errors: HV_E_INVAL (bad UUID), HV_E_PERM (a directory or the file is not
 * safe: symlink, foreign owner, writable by others), HV_E_STATE (the file
 * exists with another size or more than one link), HV_E_IO.
 */
int hve_area_create(const char *uuid, uint64_t size_bytes, gid_t gid, char *path, size_t pathsz,
		    int *created) HV_WUR;

/*
 * Open the area file @path for hvpatch (O_RDWR, O_NOFOLLOW, O_CLOEXEC) and
 * check it: its directory is a root-owned directory nobody else can write,
 * the file is a regular file owned by root with exactly one link and at
 * least @min_bytes bytes.  On success *@fd is the open descriptor (caller
 * closes) and *@st its fstat.  Errors: HV_E_NOTFOUND (no file), HV_E_PERM
 * (unsafe file or directory), HV_E_STATE (too small, several links), HV_E_IO.
 */
int hve_area_open(const char *path, uint64_t min_bytes, int *fd, struct stat *st) HV_WUR;

/*
 * 1 when the text of a /proc/PID/maps file (@len bytes, need not end in a
 * newline) has a mapping of the file with device @dev_major:@dev_minor and
 * inode @ino, else 0.  At most HVE_AREA_SCAN_LINES lines are looked at.
 */
int hve_maps_has(const char *text, size_t len, unsigned dev_major, unsigned dev_minor,
		 uint64_t ino);

/*
 * From a QEMU command line as /proc/PID/cmdline holds it (@len bytes of
 * NUL-separated arguments), the domain name (-name guest=NAME,... or
 * -name NAME) into @name and the -uuid value into @uuid (each "" when
 * absent; only printable ASCII is kept, the rest becomes '?').
 */
void hve_cmdline_ident(const char *cmdline, size_t len, char *name, size_t name_n, char *uuid,
		       size_t uuid_n);

/* Another QEMU that maps an area file. */
struct hve_mapper {
	int pid;
	char name[HVE_AREA_NAME_MAX]; /* its -name, "" if none */
	char uuid[40];		      /* its -uuid, "" if none */
};

/*
 * Look through @proc_root (normally "/proc") for QEMU processes other than
 * @own_pid that map the file with device @dev and inode @ino.  A process is
 * a QEMU when its executable's name starts with "qemu" or is the same file
 * as @own_pid's executable (so hvpatch's own processes, which map the area
 * too, never count).  Fills up to @max entries of @out and returns how many
 * processes were found (possibly more than @max), or a negative HV_E_* when
 * @proc_root cannot be read.  At most HVE_AREA_SCAN_PIDS processes are
 * looked at.
 */
int hve_area_find_mappers(const char *proc_root, dev_t dev, uint64_t ino, int own_pid,
			  struct hve_mapper *out, unsigned max) HV_WUR;

/*
 * 1 when process @pid (under @proc_root) maps the file @dev/@ino, 0 when
 * not, negative HV_E_* when its maps cannot be read.
 */
int hve_area_pid_maps(const char *proc_root, int pid, dev_t dev, uint64_t ino) HV_WUR;

/* A block of guest RAM for hve_area_check_gpa(). */
struct hve_ram_range {
	uint64_t gpa, size;
};

/*
 * Check where the guest put the patch area (its BAR) before hvpatch uses
 * it: @size must be a power of two of at least 4 KiB, @gpa aligned to it, at
 * or above 1 MiB, outside 0xfec00000..0xffffffff (I/O APIC, local APIC,
 * firmware) and overlapping none of the @nram RAM ranges.  @label names the
 * domain in the message.  Returns 0 or HV_E_RANGE with a sentence naming
 * the address and what it collides with.
 */
int hve_area_check_gpa(uint64_t gpa, uint64_t size, const struct hve_ram_range *ram, unsigned nram,
		       const char *label) HV_WUR;

#endif
