/*
 * hvb: patch bundles.  A bundle carries replacement functions for one
 * kernel build (code, data, relocations), what they replace, which kernel
 * they are for, the cumulative patch level, and an Ed25519 signature.  The
 * byte format is described in docs/BUNDLE-FORMAT.md.
 *
 * Typical use by the apply engine:
 *
 *   hvb_load_verified(path, trusted_dir, &b, &info)   read, verify, parse
 *   hvb_target_index(b, guest_build_id, len) >= 0    built for this kernel
 *   for each b->replacements[i]: resolve target (name, name@N) -> entry
 *   choose an address for each b->sections[i] (align_bytes, exec, write)
 *   hvb_apply_relocs(b, placement, resolver, ctx, &patched)
 *   write patched.bytes[i] (size_bytes each; zero for bss) to the guest
 *   hvb_patched_free(&patched); hvb_free(b)
 *
 * hvb_build.h turns kbuild objects into bundles (hvpatch build).
 *
 * Every function returns 0 or a negative HV_E_* code and records one
 * sentence with hv_err() on failure.  A struct hvb_bundle owns everything it
 * points to; nothing points into the caller's input buffer.
 */
#ifndef HVB_H
#define HVB_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "hv_error.h"

#define HVB_MAGIC	      "HVPBNDL1" /* 8 bytes, no NUL in the file */
#define HVB_VERSION_MAJOR     1
#define HVB_VERSION_MINOR     0
#define HVB_HEADER_BYTES      16
#define HVB_MAX_BUNDLE_BYTES  (64u << 20)
#define HVB_MAX_TARGETS	      16
#define HVB_MAX_CVES	      64
#define HVB_MAX_SECTIONS      16
#define HVB_MAX_REPLACEMENTS  256
#define HVB_MAX_RELOCS	      65536
#define HVB_MAX_SECTION_BYTES (16u << 20)
#define HVB_MAX_ALIGN_BYTES   4096
#define HVB_MAX_BUILD_ID      64
#define HVB_MAX_NAME	      511 /* kernel symbol names (KSYM_NAME_LEN - 1) */
#define HVB_MAX_ID	      64  /* patch id, level, release, section name */
#define HVB_MAX_DESCRIPTION   4096
#define HVB_KEY_ID_BYTES      32 /* SHA-256 of the raw 32-byte Ed25519 public key */
#define HVB_SIG_BYTES	      64
#define HVB_NO_INDEX	      UINT32_MAX /* replacement target without "@N" */

/* Offset from a function's entry to its body past the 5-byte ftrace site. */
#define HVB_ORIG_BODY_OFFSET 5

/* Record types in the file (u16).  Bit 15 set: optional, readers may skip. */
enum hvb_record_type {
	HVB_REC_META = 1,
	HVB_REC_TARGET = 2,
	HVB_REC_CVE = 3,
	HVB_REC_SECTION = 4,
	HVB_REC_REPLACEMENT = 5,
	HVB_REC_RELOC = 6,
	HVB_REC_SIGNATURE = 0x7f,
	HVB_REC_OPTIONAL = 0x8000,
};

enum hvb_section_kind {
	HVB_SEC_TEXT = 1,   /* read + execute */
	HVB_SEC_RODATA = 2, /* read only, not executable */
	HVB_SEC_DATA = 3,   /* read + write, not executable */
	HVB_SEC_BSS = 4,    /* read + write, zero-filled, no bytes in the file */
};

/* Relocation types: the ELF x86-64 numbers. */
enum hvb_reloc_type {
	HVB_R_X86_64_64 = 1,	/* S + A, 64 bits */
	HVB_R_X86_64_PC32 = 2,	/* S + A - P, signed 32 bits */
	HVB_R_X86_64_32 = 10,	/* S + A, zero-extended 32 bits */
	HVB_R_X86_64_32S = 11,	/* S + A, sign-extended 32 bits */
	HVB_R_X86_64_PC64 = 24, /* S + A - P, 64 bits */
	HVB_R_X86_64_PLT32 = 4, /* S + A - P, signed 32 bits (no PLT in the kernel) */
};

enum hvb_target_kind {
	HVB_TGT_KSYM = 1,    /* a kernel symbol, by name (resolved by the engine) */
	HVB_TGT_SECTION = 2, /* a bundle section + offset */
	HVB_TGT_ORIG = 3,    /* replacement N's target entry + HVB_ORIG_BODY_OFFSET */
};

struct hvb_target {
	uint8_t build_id[HVB_MAX_BUILD_ID]; /* GNU build-id note bytes */
	size_t build_id_len;		    /* 1..HVB_MAX_BUILD_ID */
	char *release;			    /* e.g. "6.1.0-56-cloud-amd64" */
};

struct hvb_section {
	enum hvb_section_kind kind;
	char *name;	      /* ".text", ".rodata", ".data", ".bss" (informative) */
	uint64_t size_bytes;  /* <= HVB_MAX_SECTION_BYTES */
	uint32_t align_bytes; /* power of two, 1..HVB_MAX_ALIGN_BYTES */
	bool exec, write;     /* derived from kind */
	uint8_t *bytes;	      /* size_bytes bytes; NULL for bss (all zero) */
};

struct hvb_replacement {
	char *target;	       /* kernel function being replaced: "name", or
				  "MODULE:name" for a function of a module */
	uint32_t target_index; /* which of several same-named symbols, in address
				  order from 0 ("name@N"); HVB_NO_INDEX: the name
				  must be unique in the kernel */
	char *name;	       /* the replacement's own symbol name (informative) */
	uint32_t section;      /* index into sections[]; an executable section */
	uint64_t offset;       /* entry point within that section */
};

struct hvb_reloc {
	uint32_t type;	  /* enum hvb_reloc_type */
	uint32_t section; /* the section whose bytes are patched (not bss) */
	uint64_t offset;  /* where, within that section */
	int64_t addend;
	enum hvb_target_kind kind;
	char *symbol;		 /* HVB_TGT_KSYM: "name[@N]" (kernel) or
				    "MODULE:name[@N]" (module); else NULL */
	uint32_t target_section; /* HVB_TGT_SECTION */
	uint64_t target_offset;	 /* HVB_TGT_SECTION: offset in that section */
	uint32_t replacement;	 /* HVB_TGT_ORIG: index into replacements[] */
};

struct hvb_signature {
	bool present;
	uint8_t alg; /* 1 = Ed25519 */
	uint8_t key_id[HVB_KEY_ID_BYTES];
	uint8_t sig[HVB_SIG_BYTES];
	size_t signed_bytes; /* the signature covers bytes [0, signed_bytes) */
};

struct hvb_bundle {
	uint16_t version_major, version_minor;
	char *patch_id;	   /* [A-Za-z0-9._-], 1..HVB_MAX_ID */
	char *level;	   /* cumulative patch level, same alphabet, e.g. "2026.11-3" */
	char *description; /* printable text, may contain newlines; may be "" */
	size_t ntargets, ncves, nsections, nreplacements, nrelocs;
	struct hvb_target *targets;
	char **cves; /* "CVE-YYYY-NNNN..." */
	struct hvb_section *sections;
	struct hvb_replacement *replacements;
	struct hvb_reloc *relocs;
	struct hvb_signature sig; /* filled by hvb_parse; ignored by hvb_serialize */
};

/*
 * Parse @len bytes at @buf strictly: every length, count, index, offset and
 * string is checked, unknown mandatory records are refused, a signature
 * record must be last, and cross-references (relocation and replacement
 * sections, offsets, overlapping relocations, duplicate targets) must be
 * consistent.  Does not check the signature (hvb_verify does).
 * On success *@out (caller frees with hvb_free) owns copies of everything.
 * Errors: HV_E_FORMAT naming the record, field and offset; HV_E_NOMEM.
 */
int hvb_parse(const uint8_t *buf, size_t len, struct hvb_bundle **out) HV_WUR;

/*
 * Check the structure of an in-memory bundle as hvb_parse would (used by
 * hvb_serialize and by tests).  Errors: HV_E_FORMAT naming the field.
 */
int hvb_check(const struct hvb_bundle *b) HV_WUR;

/*
 * Serialize @b without a signature.  *@out (caller frees with free()) gets
 * *@len bytes.  Errors: HV_E_FORMAT when hvb_check fails, HV_E_NOMEM.
 */
int hvb_serialize(const struct hvb_bundle *b, uint8_t **out, size_t *len) HV_WUR;

/*
 * Which of the bundle's targets is the kernel with build-id @build_id
 * (@len bytes): returns its index, or HV_E_NOTFOUND with a message naming
 * the guest's build-id and the bundle's targets (release and build-id).
 */
int hvb_target_index(const struct hvb_bundle *b, const uint8_t *build_id, size_t len) HV_WUR;

/* Free a bundle and everything it owns.  Accepts NULL. */
void hvb_free(struct hvb_bundle *b);

/* Allocate an empty bundle (version set, all counts 0); NULL on ENOMEM. */
struct hvb_bundle *hvb_new(void);

/* Names for printing: "text", "PC32", "kernel symbol" ...; never NULL. */
const char *hvb_section_kind_name(enum hvb_section_kind k);
const char *hvb_reloc_type_name(uint32_t type);

/* Longest module name in a qualified symbol (MODULE_NAME_LEN - 1 on 64-bit). */
#define HVB_MAX_MODULE_NAME 55

/*
 * Split a symbol or target name of a bundle: "MODULE:name" names a symbol
 * of a loaded module, anything else a kernel symbol.  When @qname is
 * module-qualified, copies MODULE into @module (@module_len bytes, NUL
 * included), points *@rest at what follows the ':' and returns true; else
 * sets @module to "" and *@rest to @qname and returns false.  A module
 * name too long for @module counts as not qualified (the bundle checks
 * refuse such names before anything asks).
 */
bool hvb_sym_module(const char *qname, char *module, size_t module_len, const char **rest);
const char *hvb_target_kind_name(enum hvb_target_kind k);
/* Bytes a relocation type patches (8 or 4), 0 if the type is unknown. */
unsigned hvb_reloc_width(uint32_t type);

/* ---- signatures (hvb_sign.c, OpenSSL) ---- */

struct hvb_verify_info {
	uint8_t key_id[HVB_KEY_ID_BYTES];
	char key_file[4096]; /* the trusted PEM file that verified it */
};

/*
 * Create an Ed25519 key pair: private key PEM (PKCS#8) at "@base.key"
 * written with mode 0600, public key PEM at "@base.pub.pem".  Refuses to
 * overwrite existing files (HV_E_STATE).  @key_id (may be NULL) receives the
 * key id.  Errors: HV_E_IO naming the file, HV_E_INTERNAL for OpenSSL.
 */
int hvb_keygen(const char *base, uint8_t key_id[HVB_KEY_ID_BYTES]) HV_WUR;

/*
 * Sign the bundle @in (@len bytes; an existing signature record is dropped
 * and replaced) with the Ed25519 private key in PEM file @key_path.  The
 * bundle is parsed first, so only well-formed bundles get signed.
 * *@out (caller frees with free()) gets *@out_len bytes.
 * Errors: HV_E_FORMAT (bundle), HV_E_IO / HV_E_INVAL (key file), HV_E_NOMEM.
 */
int hvb_sign(const uint8_t *in, size_t len, const char *key_path, uint8_t **out,
	     size_t *out_len) HV_WUR;

/*
 * Verify the bundle @buf against the public keys (*.pem, Ed25519) in
 * directory @trusted_dir.  @info (may be NULL) says which key verified it.
 * Errors: HV_E_FORMAT (malformed bundle), HV_E_VERIFY (unsigned, signed by
 * a key not in the directory, or a signature that does not match the
 * bytes), HV_E_IO (directory or key file unreadable), HV_E_INVAL (a .pem
 * file there is not an Ed25519 public key).
 */
int hvb_verify(const uint8_t *buf, size_t len, const char *trusted_dir,
	       struct hvb_verify_info *info) HV_WUR;

/*
 * Compute the key id of the public (or private) key in PEM file @path.
 * Errors: HV_E_IO, HV_E_INVAL (not an Ed25519 key).
 */
int hvb_key_id_of_file(const char *path, uint8_t key_id[HVB_KEY_ID_BYTES]) HV_WUR;

/*
 * Read the whole file @path (at most HVB_MAX_BUNDLE_BYTES, or @max_bytes
 * when non-zero) into *@out (caller frees with free()).  Errors: HV_E_IO,
 * HV_E_RANGE (too large), HV_E_NOMEM.
 */
int hvb_read_file(const char *path, size_t max_bytes, uint8_t **out, size_t *len) HV_WUR;

/*
 * Verify (hvb_verify) and parse the bundle bytes @buf: the in-memory half
 * of hvb_load_verified(), for bundles held in memory (e.g. the ledger's
 * copy) and for callers that keep the exact bytes they verified.  On
 * success *@out (caller frees with hvb_free) is the bundle.  Errors as
 * hvb_verify and hvb_parse.
 */
int hvb_verify_parse(const uint8_t *buf, size_t len, const char *trusted_dir,
		     struct hvb_bundle **out, struct hvb_verify_info *info) HV_WUR;

/*
 * Read, verify (hvb_verify) and parse the bundle file @path.  On success
 * *@out (caller frees with hvb_free) is the bundle.  Errors as hvb_verify
 * and hvb_read_file, with the path in front.
 */
int hvb_load_verified(const char *path, const char *trusted_dir, struct hvb_bundle **out,
		      struct hvb_verify_info *info) HV_WUR;

/*
 * SHA-256 of @len bytes at @buf into @out (e.g. of a whole bundle file, the
 * id the host ledger stores).  Errors: HV_E_INTERNAL (OpenSSL).
 */
int hvb_sha256(const uint8_t *buf, size_t len, uint8_t out[32]) HV_WUR;

/* ---- relocation (pure; no guest access) ---- */

/*
 * Resolve kernel symbol @name to its run-time address in *@addr.  Returns 0,
 * or a negative HV_E_* (recorded with hv_err) when the symbol is unknown.
 */
typedef int (*hvb_resolve_fn)(void *ctx, const char *name, uint64_t *addr);

struct hvb_placement {
	const uint64_t *section_addr; /* nsections run-time addresses */
	const uint64_t *target_addr;  /* nreplacements run-time entries of the
					 replaced kernel functions (for
					 original-body relocations) */
};

/* Relocated copies of a bundle's section bytes. */
struct hvb_patched {
	size_t nsections;
	uint8_t **bytes; /* bytes[i]: sections[i].size_bytes bytes (zeros for bss) */
};

/*
 * Apply every relocation of @b to fresh copies of the section bytes, given
 * where each section will live and how kernel symbols resolve.  Checks that
 * each section address honours its alignment and that every 32-bit result
 * fits its field (PC32/PLT32 signed, 32S sign-extended, 32 zero-extended).
 * @b is not changed.  On success *@out (free with hvb_patched_free) owns the
 * copies.  Errors name the relocation (index, section+offset, type, target):
 * HV_E_RANGE (overflow, misaligned section), the resolver's code (unknown
 * symbol), HV_E_INVAL, HV_E_NOMEM.
 */
int hvb_apply_relocs(const struct hvb_bundle *b, const struct hvb_placement *pl,
		     hvb_resolve_fn resolve, void *ctx, struct hvb_patched *out) HV_WUR;

/*
 * Give the value S of kernel-symbol relocation @reloc_index of @b in
 * *@value (the apply engine: hvb_reloc_ksym() against the guest's
 * symbols).  Returns 0 or a negative HV_E_* with a sentence recorded that
 * already names the relocation.
 */
typedef int (*hvb_reloc_ksym_fn)(void *ctx, const struct hvb_bundle *b, size_t reloc_index,
				 uint64_t *value);

/*
 * hvb_apply_relocs() with a resolver that sees the whole relocation (its
 * kind decides what a per-cpu symbol may resolve to); its errors are
 * recorded as the resolver recorded them.  Same result and errors as
 * hvb_apply_relocs().
 */
int hvb_apply_relocs_ksym(const struct hvb_bundle *b, const struct hvb_placement *pl,
			  hvb_reloc_ksym_fn resolve, void *ctx, struct hvb_patched *out) HV_WUR;

/* Free the copies in @p (not @p itself).  Accepts NULL. */
void hvb_patched_free(struct hvb_patched *p);

#endif
