/*
 * hva: hypervisor access.  Everything hvpatch does to a guest goes through
 * one struct hva handle: pause/resume with a deadline, vCPU registers,
 * guest-physical reads and writes that the running guest sees, and a
 * description of the guest.
 *
 * Backends (libvirt, a bare QEMU QMP socket) fill a struct hva_ops; callers
 * only use the hva_* wrappers below, which return HV_E_UNSUPPORTED (with a
 * sentence naming the backend and the operation) when a backend lacks one.
 * Every function returns 0 or a negative HV_E_* code and records the reason
 * with hv_err().
 */
#ifndef HVA_H
#define HVA_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "hv_error.h"

#define HVA_MAX_VCPUS		      64
#define HVA_MAX_REGIONS		      8
#define HVA_DEFAULT_PAUSE_DEADLINE_MS 200

enum hva_accel {
	HVA_ACCEL_UNKNOWN = 0,
	HVA_ACCEL_TCG,
	HVA_ACCEL_KVM,
};

/* How a write reached guest memory. */
enum hva_write_path {
	HVA_WRITE_NONE = 0,
	HVA_WRITE_GDBSTUB, /* QEMU gdbstub M packets: invalidates TCG translations */
	HVA_WRITE_RAM,	   /* the shared RAM mapping (correct under KVM only) */
	HVA_WRITE_AREA,	   /* the patch-area backing file (never-executed memory) */
};

/* How a session found the guest when it opened it. */
enum hva_found {
	HVA_FOUND_RUNNING = 0,
	HVA_FOUND_PAUSED_BY_OTHER,     /* paused, not by hvpatch: left paused */
	HVA_FOUND_PAUSED_BY_HVPATCH,   /* paused by a live hvpatch that is still at work */
	HVA_FOUND_RESUMED_DEAD_PAUSER, /* left paused by a dead hvpatch: resumed now */
};

/* One vCPU's state as introspection needs it. */
struct hva_regs {
	uint64_t rip, rsp;
	uint64_t cr0, cr2, cr3, cr4, efer;
	uint64_t gs_base, kernel_gs_base, fs_base;
	uint64_t idtr_base;
	uint32_t idtr_limit;
	uint32_t cs;
	unsigned cpl; /* cs & 3 */
	bool idtr_valid;
};

/* A block of guest RAM: guest-physical range and what backs it. */
struct hva_region {
	uint64_t gpa;
	uint64_t size;
	uint64_t offset; /* offset of gpa in the backing memfd */
	char name[64];
};

struct hva_info {
	char name[256];
	char uuid[37];
	enum hva_accel accel;
	uint64_t mem_bytes;
	unsigned nvcpus;
	unsigned nregions;
	struct hva_region regions[HVA_MAX_REGIONS];
	/* Patch area (ivshmem-plain shmem device), if the domain has one. */
	bool has_area;
	uint64_t area_gpa;  /* BAR2 guest-physical address (0 if not found) */
	uint64_t area_size; /* bytes */
	char area_shm[256]; /* the area file (HVE_AREA_DIR/<uuid>), or why there is none */
	/* Agent channel socket on the host, if the domain has one. */
	char agent_socket[256];
	int qemu_pid; /* 0 if not known */
	/* What the session found at open, and one sentence saying so ("" when
	 * the guest simply ran).  Every command prints the sentence. */
	enum hva_found found;
	char found_note[1024];
};

struct hva;

struct hva_ops {
	const char *name; /* "libvirt", "qmp" */
	int (*describe)(struct hva *h, struct hva_info *out);
	/* Is the guest running (not paused by anyone)? */
	int (*running)(struct hva *h, bool *running);
	/* Pause and resume from the session itself.  When the session's pause
	 * guard owns the pause (libvirt), hva_pause()/hva_resume() go through
	 * the guard instead and only resume is used directly, to end a pause
	 * a dead hvpatch left behind. */
	int (*pause)(struct hva *h);
	int (*resume)(struct hva *h);
	int (*read_regs)(struct hva *h, unsigned cpu, struct hva_regs *out, bool want_idtr);
	/* Optional: work to do before pausing (e.g. start a gdbstub). */
	int (*prepare_pause)(struct hva *h);
	int (*read_phys)(struct hva *h, uint64_t gpa, void *buf, size_t len);
	int (*write_phys)(struct hva *h, uint64_t gpa, const void *buf, size_t len, unsigned flags,
			  enum hva_write_path *used);
	int (*hmp)(struct hva *h, const char *cmd, char **reply);
	void (*close)(struct hva *h);
};

/* Options for opening a guest. */
struct hva_open_opts {
	const char *uri;	    /* libvirt URI; NULL means qemu:///system */
	const char *qmp_socket;	    /* when set, use the bare-QEMU backend */
	unsigned pause_deadline_ms; /* 0 means HVA_DEFAULT_PAUSE_DEADLINE_MS */
	const char *gdb_dir;	    /* directory for the gdbstub socket; NULL = default */
	const char *pause_dir;	    /* directory of pause records; NULL = HVA_PAUSE_DIR */
};

/* Where pause guards keep their records (see hvpatch/access/guard.h). */
#define HVA_PAUSE_DIR "/run/hvpatch/pause"

/*
 * Attach to a running guest by libvirt name or UUID (or, with
 * opts->qmp_socket, to a bare QEMU; @domain is then only a label).
 * Every session starts a pause guard process before it can pause (see
 * guard.h): it resumes the guest if hvpatch dies or hangs in a pause.
 * A guest found paused is described in info.found/found_note: left paused
 * when someone else paused it; resumed (and said so) when the pause record
 * shows a dead hvpatch and a dead guard left it; waited for (up to its
 * deadline) while another hvpatch's guard is still ending it.
 * On success *out owns the session; free it with hva_close().
 * Errors: HV_E_NOTFOUND (no such domain), HV_E_STATE (not running),
 * HV_E_PERM, HV_E_UNSUPPORTED (QEMU too old, RAM not shareable), HV_E_IO.
 */
int hva_open(const char *domain, const struct hva_open_opts *opts, struct hva **out) HV_WUR;

/*
 * Resume the guest if this session paused it, stop the gdbstub this session
 * started, and free everything.  Accepts NULL.
 */
void hva_close(struct hva *h);

/* Fill @out; the description is cached after the first call. */
int hva_describe(struct hva *h, struct hva_info *out) HV_WUR;

/*
 * Pause all vCPUs.  The session's pause guard is armed before the pause is
 * requested (under libvirt the guard issues the pause itself), so a pause
 * outlives neither hvpatch nor its deadline; a session without a guard
 * cannot pause (HV_E_UNSUPPORTED).  A watchdog resumes the guest if hva_resume() is not
 * called within the deadline; the next hva_* call on the session then fails
 * with HV_E_TIMEOUT.  Pausing a paused session is HV_E_STATE.  A guest that
 * someone else had already paused is left as it is: hva_pause() succeeds
 * without pausing and hva_resume() does not resume it (and no deadline
 * applies, since the pause is not this session's).
 * SIGINT, SIGTERM, SIGHUP and SIGQUIT are blocked in the calling thread
 * until hva_resume(), so an interrupted hvpatch resumes the guest first
 * and dies after.
 */
int hva_pause(struct hva *h) HV_WUR;

/*
 * Change the deadline of the next pauses (0 = HVA_DEFAULT_PAUSE_DEADLINE_MS);
 * returns the previous one.
 */
unsigned hva_set_deadline(struct hva *h, unsigned deadline_ms);

/*
 * Resume the guest.  When @paused_us is not NULL it receives how long the
 * guest was paused (monotonic, microseconds, from just before the pause
 * request to just after the resume returned).
 */
int hva_resume(struct hva *h, uint64_t *paused_us) HV_WUR;

/* True while this session holds the guest paused. */
bool hva_is_paused(const struct hva *h);

/*
 * Read vCPU @cpu's registers.  Needs the guest paused (the registers of a
 * running vCPU are meaningless); HV_E_STATE otherwise.
 */
int hva_read_regs(struct hva *h, unsigned cpu, struct hva_regs *out) HV_WUR;

/*
 * The same without IDTR (which costs a monitor round trip per vCPU): for
 * code inside a patching pause that needs RIP, CR3 and the like only.
 */
int hva_read_regs_fast(struct hva *h, unsigned cpu, struct hva_regs *out) HV_WUR;

/*
 * A read-only view of @len bytes of guest RAM at @gpa in the session's
 * shared RAM mapping, or NULL when the range is not all in one mapped RAM
 * region (no memfd RAM, device memory, a region boundary).  The pointer
 * stays valid until hva_close(); the guest may change the bytes at any
 * moment, so copy what must not change before checking it.
 */
const uint8_t *hva_ram_view(const struct hva *h, uint64_t gpa, size_t len);

/* Read @len bytes of guest-physical memory at @gpa. */
int hva_read_phys(struct hva *h, uint64_t gpa, void *buf, size_t len) HV_WUR;

/*
 * Write guest-physical memory so the running guest executes what was
 * written: through the gdbstub under TCG, through the RAM mapping under
 * KVM.  Needs the guest paused.  *used (may be NULL) says which path.
 */
int hva_write_phys(struct hva *h, uint64_t gpa, const void *buf, size_t len,
		   enum hva_write_path *used) HV_WUR;

/* hva_write_phys_flags() flags. */
#define HVA_WF_DATA 1u /* the bytes are never executed as code */

/*
 * As hva_write_phys(); with HVA_WF_DATA the caller promises the bytes are
 * data the guest does not execute (page tables, records, variables), so
 * they may go through the shared mapping under TCG too, which is much
 * faster than the gdbstub.
 */
int hva_write_phys_flags(struct hva *h, uint64_t gpa, const void *buf, size_t len, unsigned flags,
			 enum hva_write_path *used) HV_WUR;

/*
 * Run a human-monitor command; *reply (caller frees) is its text output.
 * Used by tests and diagnostics.
 */
int hva_hmp(struct hva *h, const char *cmd, char **reply) HV_WUR;

/*
 * Where a session's found_note goes as soon as it is known (for the CLI:
 * stderr; for a service: its log).  NULL (the default) keeps it in
 * info.found_note only.  Set once, before any session opens.
 */
void hva_set_note_handler(void (*fn)(const char *domain, const char *note));

/* "running", "paused-by-other", "paused-by-hvpatch", "resumed-dead-pauser". */
const char *hva_found_name(enum hva_found f);

/* "tcg", "kvm" or "unknown". */
const char *hva_accel_name(enum hva_accel a);
/* "gdbstub", "ram", "patch-area file" or "none". */
const char *hva_write_path_name(enum hva_write_path p);

#endif
