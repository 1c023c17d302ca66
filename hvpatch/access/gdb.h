/*
 * hva_gdb: a client of the QEMU gdbstub (GDB remote serial protocol) for the
 * two things QEMU offers nowhere else: registers such as kernel GS base, and
 * guest-memory writes that invalidate TCG's translated code.
 *
 * The peer is QEMU, but its bytes are still checked: checksums, packet
 * sizes (from qSupported, capped at HVA_GDB_PKT_MAX), hex digits and reply
 * lengths.  Every wait has a timeout.  Connecting stops the whole VM (QEMU
 * does that itself); closing the socket does not resume it.
 */
#ifndef HVA_GDB_H
#define HVA_GDB_H

#include <stddef.h>
#include <stdint.h>

#include "hva.h"
#include "hv_error.h"

#define HVA_GDB_PKT_MAX	   (64 * 1024)
#define HVA_GDB_REGS_BYTES 608 /* x86-64 'g' reply of QEMU 7.x without target.xml */

struct hva_gdb;

/*
 * Connect to the gdbstub listening on unix socket @path and negotiate
 * (qSupported, physical-memory mode).  *out is owned by the caller
 * (hva_gdb_close()).  Errors: HV_E_IO (cannot connect), HV_E_TIMEOUT,
 * HV_E_PROTO (the peer is not a gdbstub we understand).
 */
int hva_gdb_connect(const char *path, unsigned timeout_ms, struct hva_gdb **out) HV_WUR;

/* The same over an already connected stream socket @fd, which it takes over. */
int hva_gdb_attach_fd(int fd, unsigned timeout_ms, struct hva_gdb **out) HV_WUR;

/* Close the connection (without detaching, so the VM stays stopped). NULL ok. */
void hva_gdb_close(struct hva_gdb *g);

/*
 * Read the registers of vCPU @cpu (0-based) into @out (IDTR is not in the
 * gdbstub's set: idtr_valid stays false).  Errors: HV_E_NOTFOUND (no such
 * vCPU), HV_E_UNSUPPORTED (unknown register layout), HV_E_PROTO, HV_E_IO.
 */
int hva_gdb_read_regs(struct hva_gdb *g, unsigned cpu, struct hva_regs *out) HV_WUR;

/* Read/write guest-physical memory (split into packets as needed). */
int hva_gdb_read_phys(struct hva_gdb *g, uint64_t gpa, void *buf, size_t len) HV_WUR;
int hva_gdb_write_phys(struct hva_gdb *g, uint64_t gpa, const void *buf, size_t len) HV_WUR;

/* Largest payload of one packet the peer accepts (after negotiation). */
size_t hva_gdb_packet_size(const struct hva_gdb *g);

#endif
