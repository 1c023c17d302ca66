/*
 * hvb_build: turn a kbuild-compiled x86-64 relocatable object plus a
 * manifest into a bundle (see docs/PATCH-AUTHORING.md), and identify a
 * vmlinux (build-id, release).  The object and the vmlinux are untrusted
 * input: every header, offset, size, index and string is bounds-checked.
 */
#ifndef HVB_BUILD_H
#define HVB_BUILD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "hvb.h"

/* Prefix of undefined symbols that mean "the original body of TARGET". */
#define HVB_ORIG_PREFIX "hvpatch_orig_"

struct hvb_manifest_repl {
	char *target;	       /* kernel function name */
	uint32_t target_index; /* N of "name@N", or HVB_NO_INDEX */
	char *replacement;     /* function in the object */
};

/* "symbol = LOCAL -> KERNEL[@N]": an undefined name in the object that
 * stands for a kernel symbol the C code cannot name (a duplicated static). */
struct hvb_manifest_alias {
	char *local;  /* undefined symbol in the object */
	char *kernel; /* "name" or "name@N" */
};

struct hvb_manifest {
	char *patch_id, *level, *description;
	char **cves;
	size_t ncves;
	struct hvb_manifest_repl *repl;
	size_t nrepl;
	struct hvb_manifest_alias *alias;
	size_t nalias;
};

/*
 * Parse manifest text (key = value lines; docs/PATCH-AUTHORING.md).  @path
 * names the file in errors.  *@out (free with hvb_manifest_free) on success.
 * Errors: HV_E_FORMAT naming the file, line and what was expected.
 */
int hvb_manifest_parse(const char *text, size_t len, const char *path,
		       struct hvb_manifest **out) HV_WUR;

/* Free a manifest and its strings.  Accepts NULL. */
void hvb_manifest_free(struct hvb_manifest *m);

/* A kernel build, as a bundle target. */
struct hvb_kernel_id {
	uint8_t build_id[HVB_MAX_BUILD_ID];
	size_t build_id_len;
	char release[HVB_MAX_ID + 1];
};

/*
 * Read the GNU build-id note and the release (from the "Linux version ..."
 * banner) of the vmlinux ELF image @buf.  Errors: HV_E_FORMAT (not an x86-64
 * ELF, no build-id note, no banner) naming @what.
 */
int hvb_vmlinux_identify(const uint8_t *buf, size_t len, const char *what,
			 struct hvb_kernel_id *out) HV_WUR;

/*
 * Parse a hex build-id ("3b43fa...") into @out.  Errors: HV_E_INVAL.
 */
int hvb_parse_build_id(const char *hex, struct hvb_kernel_id *out) HV_WUR;

/* What happened to one section of the input object. */
enum hvb_sec_action {
	HVB_ACT_KEPT = 1,	 /* copied into out_section at out_offset */
	HVB_ACT_RELOCS,		 /* relocations applied to a kept section */
	HVB_ACT_DROPPED_META,	 /* optional metadata, dropped on purpose */
	HVB_ACT_DROPPED_NOALLOC, /* not loaded at run time (debug info, notes) */
	HVB_ACT_BOOKKEEPING,	 /* symbol/string tables */
};

struct hvb_build_sec {
	char name[HVB_MAX_ID + 1]; /* truncated for display */
	enum hvb_sec_action action;
	uint64_t size_bytes;
	uint32_t out_section; /* HVB_ACT_KEPT */
	uint64_t out_offset;  /* HVB_ACT_KEPT */
};

struct hvb_build_report {
	size_t nsecs;
	struct hvb_build_sec *secs;
	unsigned fentry_nops;	 /* "call __fentry__" sites turned into NOPs */
	unsigned relocs_in;	 /* relocations read from kept sections */
	unsigned relocs_dropped; /* relocations of dropped sections */
};

/* Free the report's arrays and zero it (not @r itself).  Accepts NULL. */
void hvb_build_report_free(struct hvb_build_report *r);

/* "kept", "dropped (metadata)", ...: a static string, never NULL. */
const char *hvb_sec_action_name(enum hvb_sec_action a);

/*
 * Build a bundle from the relocatable object @obj (@len bytes; @obj_name for
 * errors), the manifest @m and the @ntargets kernel ids.  Sections the apply
 * engine cannot honour are refused with HV_E_UNSUPPORTED naming the section,
 * the function and what to do instead; metadata sections are dropped and
 * listed in @rep (may be NULL; free with hvb_build_report_free).  The
 * "call __fentry__" at a function's entry becomes the 5-byte NOP
 * 0f 1f 44 00 00.  On success *@out (caller frees with hvb_free).
 * Errors: HV_E_FORMAT (malformed object), HV_E_UNSUPPORTED, HV_E_NOTFOUND
 * (a manifest function is not in the object), HV_E_INVAL, HV_E_NOMEM.
 */
int hvb_build_object(const uint8_t *obj, size_t len, const char *obj_name,
		     const struct hvb_manifest *m, const struct hvb_kernel_id *targets,
		     size_t ntargets, struct hvb_bundle **out, struct hvb_build_report *rep) HV_WUR;

/* Result of hvb_check_vmlinux(). */
struct hvb_kernel_check {
	bool checked;		  /* false: the vmlinux's kallsyms could not be read */
	char note[256];		  /* why not, when !checked */
	unsigned targets_checked; /* replacement targets found and traceable */
	unsigned symbols_checked; /* kernel- and module-symbol relocations that resolve */
	unsigned module_targets;  /* of targets_checked: functions of modules */
};

struct hvb_symsrc;

/*
 * Check bundle @b against its target vmlinux (@buf, @len bytes; @what names
 * it in messages), through the kernel's own kallsyms tables: every
 * replacement target passes hvb_target_sym() (the apply engine's rule: it
 * exists, unique or the N-th of its name for "name@N", and is a function)
 * and starts with the ftrace call "call __fentry__" (so it has a redirect
 * site), and every kernel-symbol relocation passes
 * hvb_reloc_ksym() (the apply engine's own rule: the symbol exists and is
 * unambiguous, per-cpu data only through absolute kinds), so build refuses
 * with the apply engine's sentence what apply would refuse.  Module
 * targets and symbols ("MODULE:name") are checked through @modules (its
 * mod_lookup: the modules' .ko files; NULL or no mod_lookup refuses them,
 * with a sentence naming its mod_hint).  When the kallsyms tables cannot be
 * found, returns 0 with
 * @res->checked false and the reason in @res->note.
 * Errors: HV_E_NOTFOUND / HV_E_INVAL (unknown or ambiguous target, unknown
 * symbol), HV_E_UNSUPPORTED (target not traceable or not code; a refused
 * relocation kind), HV_E_RANGE (a per-cpu offset that does not fit),
 * HV_E_FORMAT (not a kernel image), HV_E_NOMEM.
 */
int hvb_check_vmlinux(const struct hvb_bundle *b, const uint8_t *buf, size_t len, const char *what,
		      const struct hvb_symsrc *modules, struct hvb_kernel_check *res) HV_WUR;

#endif
