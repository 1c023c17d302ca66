/*
 * Private to hvpatch/access: the session structure the backends share, and
 * the QEMU-level helpers (monitor, gdbstub, RAM mapping) both backends use.
 * Callers outside hvpatch/access use hva.h only.
 */
#ifndef HVA_IMPL_H
#define HVA_IMPL_H

#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <sys/types.h>

#include <jansson.h>

#include "gdb.h"
#include "guard.h"
#include "hva.h"

struct hva {
	const struct hva_ops *ops;
	void *be; /* backend's own state */
	/* Send one QMP command (JSON text), get the reply line (caller frees). */
	int (*qmp)(struct hva *h, const char *cmd, char **reply);
	char label[256]; /* domain name, for messages */

	struct hva_info info;
	bool info_valid;
	pid_t qemu_pid;

	/* The gdbstub this session started and its connection. */
	struct hva_gdb *gdb;
	char gdb_dir[128];
	char gdb_path[320];
	bool gdb_started;

	/* Guest RAM (memfd) and patch area (the domain's area file, read-only
	 * to the guest) mapped into hvpatch. */
	uint8_t *ram;
	size_t ram_bytes;
	uint8_t *area;
	size_t area_bytes;
	/* What QEMU itself says of the area's backend (hva_qemu_probe()). */
	bool area_readonly;
	char area_backend[128]; /* QOM path of the memory backend */
	char area_legacy[128];	/* an old <shmem name='hvpatch-*'>, never used */

	/* Pause state, shared with the deadline watchdog thread. */
	pthread_mutex_t lock;
	pthread_cond_t cond;
	pthread_t watchdog;
	bool watchdog_running;
	bool watchdog_stop; /* asks the watchdog to end without resuming */
	bool paused;
	bool paused_by_other; /* found paused: leave it so */
	sigset_t saved_mask;  /* the caller's signal mask before the pause */
	bool expired;	      /* the watchdog resumed the guest */
	uint64_t pause_start_ns;
	uint64_t expired_pause_us;
	unsigned deadline_ms;

	/* The pause guard process (guard.h); NULL until the backend starts it. */
	struct hva_guard *guard;
	char pause_dir[128];
	char pause_key[64]; /* the pause record's name: the UUID, or the QEMU pid */
};

/*
 * Look at the guest's run state once the backend is open and fill
 * info.found/found_note; resume a guest a dead hvpatch left paused.
 */
int hva_check_found_state(struct hva *h) HV_WUR;

/* Backends. */
int hva_libvirt_open(const char *domain, const struct hva_open_opts *opts, struct hva **out) HV_WUR;
int hva_qmpsock_open(const char *label, const struct hva_open_opts *opts, struct hva **out) HV_WUR;

/* Allocate a session with the shared fields initialised. */
struct hva *hva_session_new(const struct hva_ops *ops, const struct hva_open_opts *opts,
			    const char *label);
/* Free what hva_session_new() and the shared helpers set up (not ->be). */
void hva_session_free(struct hva *h);

/*
 * Run QMP command @execute with @args (may be NULL; borrowed) and return its
 * "return" member in *ret (new reference, caller json_decref()s).  A QMP
 * error becomes HV_E_IO with QEMU's description.
 */
int hva_qemu_exec(struct hva *h, const char *execute, json_t *args, json_t **ret) HV_WUR;

/* HMP command through QMP human-monitor-command (cpu_index < 0: default). */
int hva_qemu_hmp(struct hva *h, const char *cmd, int cpu_index, char **text) HV_WUR;

/*
 * Fill accel, mem_bytes, nvcpus and regions from QEMU, and the patch area
 * from QEMU too (never from guest memory): the device with id
 * HVE_AREA_DEV_ID, its backend's mem-path (into area_shm) and readonly flag
 * (QOM), and where the guest put its BAR2 (query-pci) into area_gpa and
 * area_size.  No such device: has_area stays false.
 */
int hva_qemu_probe(struct hva *h, struct hva_info *info) HV_WUR;

/*
 * Map guest RAM from the QEMU process's memfd (needs root and memfd
 * backing), and check and map the patch area: its backend must be
 * read-only and name this domain's own area file (HVE_AREA_DIR/<UUID>),
 * which hve_area_open() accepts, which this domain's QEMU maps and no other
 * QEMU does; its guest-physical address must pass hve_area_check_gpa().
 * A missing memfd is not an error: h->ram stays NULL and reads use the
 * gdbstub.  Errors name the file, the domains and what to do.
 */
int hva_qemu_map_memory(struct hva *h) HV_WUR;

/*
 * Where the guest put the patch area's BAR2 now (query-pci).  Errors:
 * HV_E_NOTFOUND (no area device), HV_E_STATE (BAR not assigned).
 */
int hva_qemu_area_bar(struct hva *h, uint64_t *gpa, uint64_t *size) HV_WUR;

/* Start the gdbstub server on a root-only socket (once; the guest runs on). */
int hva_qemu_gdb_server(struct hva *h) HV_WUR;
/* Start the gdbstub if needed and connect (stops the VM: pause first). */
int hva_qemu_gdb_ensure(struct hva *h) HV_WUR;
/* Work done before a pause so the pause itself is short. */
int hva_qemu_prepare_pause(struct hva *h);
/* Close the connection and stop the gdbstub this session started. */
void hva_qemu_gdb_stop(struct hva *h);

/* The shared implementations of the memory/register operations. */
int hva_qemu_read_regs(struct hva *h, unsigned cpu, struct hva_regs *out, bool want_idtr);
int hva_qemu_read_phys(struct hva *h, uint64_t gpa, void *buf, size_t len);
int hva_qemu_write_phys(struct hva *h, uint64_t gpa, const void *buf, size_t len, unsigned flags,
			enum hva_write_path *used);
int hva_qemu_hmp_op(struct hva *h, const char *cmd, char **reply);

#endif
