/*
 * hvb_ko: the symbols of a kernel module's .ko file, for "hvpatch build
 * --modules DIR", so the build refuses a module target or module symbol
 * the apply engine would refuse in the running guest.
 *
 * A .ko is an x86-64 ELF relocatable object.  It is read through bounded
 * getters (hv_buf): every header, offset, size, index and name is checked
 * before it is used, so a damaged or hostile file gets an error naming
 * the file and the field, never an over-read.
 *
 *   hvb_ko_parse(buf, len, "binfmt_misc.ko", &ko);
 *   hvb_ko_lookup(ko, "bm_status_read", &sym);     name or name@N
 *   hvb_kodir_lookup(dir, "binfmt_misc", "bm_status_read", &sym);
 */
#ifndef HVB_KO_H
#define HVB_KO_H

#include <stddef.h>
#include <stdint.h>

#include "hv_error.h"
#include "hvb_reloc.h"

/* Largest .ko read (the largest Debian 6.1 modules are about 20 MiB with BTF). */
#define HVB_KO_MAX_BYTES (256u << 20)
/* Most symbols and sections believed. */
#define HVB_KO_MAX_SYMS	    (1u << 20)
#define HVB_KO_MAX_SECTIONS 65280u

struct hvb_ko; /* one parsed .ko */

/*
 * Parse the .ko image @buf (@len bytes; not copied: it must outlive *@out)
 * and index its defined, named symbols into *@out (free with
 * hvb_ko_free()).  @what names the file in errors.  Returns the number of
 * symbols indexed; HV_E_FORMAT (not an x86-64 ELF relocatable object, or
 * a header, section, symbol or name outside the file; the message says
 * which), HV_E_RANGE (more sections or symbols than the limits above),
 * HV_E_NOMEM.
 */
int hvb_ko_parse(const uint8_t *buf, size_t len, const char *what, struct hvb_ko **out) HV_WUR;

/* Free; accepts NULL. */
void hvb_ko_free(struct hvb_ko *ko);

/*
 * Look up @name ("name", or "name@N": the N-th of that name in the order
 * the module loader lays them out, by section then offset) in @ko, into
 * *@out (addr is 0: a file has no load address).  A bare name several
 * symbols share is refused, as the engine refuses it in the guest (whose
 * module symbol table keeps no binding).  Returns 0;
 * HV_E_NOTFOUND (no such symbol, or N too large), HV_E_INVAL (ambiguous:
 * the message says how many and how to pick one).
 */
int hvb_ko_lookup(const struct hvb_ko *ko, const char *name, struct hvb_modsym *out) HV_WUR;

/* A set of .ko files found under one directory, read on demand. */
struct hvb_kodir;

/*
 * Start a module source over @dir (searched recursively for MODULE.ko,
 * with '-' and '_' alike, the first found).  Nothing is read yet.  *@out
 * (free with hvb_kodir_free()).  Errors: HV_E_NOTFOUND when @dir is not a
 * directory, HV_E_NOMEM.
 */
int hvb_kodir_open(const char *dir, struct hvb_kodir **out) HV_WUR;

/* Free; accepts NULL. */
void hvb_kodir_free(struct hvb_kodir *d);

/*
 * A mod_lookup for struct hvb_symsrc (ctx: a struct hvb_kodir): finds
 * MODULE.ko under the directory (read and parsed once), then
 * hvb_ko_lookup().  HV_E_NOTFOUND names the directory when there is no
 * MODULE.ko; other errors are the file's.
 */
int hvb_kodir_lookup(void *ctx, const char *module, const char *name, struct hvb_modsym *out);

#endif
