/*
 * hvpatch build, keygen, sign, verify, show: the bundle commands.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <stdbool.h>
#include <getopt.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "cli.h"
#include "hv_hex.h"
#include "hvb.h"
#include "hvb_build.h"
#include "hvb_ko.h"
#include "hvb_reloc.h"

int cmd_build(int argc, char **argv);
int cmd_keygen(int argc, char **argv);
int cmd_sign(int argc, char **argv);
int cmd_verify(int argc, char **argv);
int cmd_show(int argc, char **argv);

#define MAX_TARGETS_CLI 8

/* Where linux-headers-RELEASE trees live; HV_KBUILD_ROOT in the environment overrides. */
#define HV_KBUILD_DEFAULT_ROOT "/usr/src"

/* ---------- helpers ---------- */

static int bad_option(const char *cmd, int argc, char **argv)
{
	const char *o = optind - 1 < argc && optind >= 1 ? argv[optind - 1] : "?";

	return cli_usage_error(cmd, "unknown option or missing argument near '%s'", o);
}

/* Write @len bytes to @path through a temporary file and rename. */
static int write_file_atomic(const char *path, const void *buf, size_t len, mode_t mode)
{
	char tmp[4096];
	size_t done = 0;
	int fd = -1, r = 0;

	if (snprintf(tmp, sizeof(tmp), "%s.tmp.XXXXXX", path) >= (int)sizeof(tmp)) {
		r = hv_err(HV_E_INVAL, "output path %.100s... is too long", path);
		goto out;
	}
	fd = mkstemp(tmp);
	if (fd < 0) {
		r = hv_err(HV_E_IO, "cannot create a file next to %s: %s", path, strerror(errno));
		goto out;
	}
	while (done < len) {
		ssize_t n = write(fd, (const uint8_t *)buf + done, len - done);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			r = hv_err(HV_E_IO, "cannot write %s: %s", tmp, strerror(errno));
			goto out;
		}
		done += (size_t)n;
	}
	if (fchmod(fd, mode) < 0 || fsync(fd) < 0 || close(fd) < 0) {
		fd = -1;
		r = hv_err(HV_E_IO, "cannot write %s: %s", tmp, strerror(errno));
		goto out;
	}
	fd = -1;
	if (rename(tmp, path) < 0) {
		r = hv_err(HV_E_IO, "cannot rename %s to %s: %s", tmp, path, strerror(errno));
		goto out;
	}
out:
	if (fd >= 0)
		close(fd);
	if (r < 0)
		unlink(tmp);
	return r;
}

static void print_json(json_t *j)
{
	char *s = json_dumps(j, JSON_INDENT(2) | JSON_SORT_KEYS);

	if (s)
		puts(s);
	free(s);
}

static json_t *hex_json(const uint8_t *p, size_t n)
{
	char buf[HV_HEX_SIZE(64)];

	hv_hex_encode(buf, sizeof(buf), p, n); /* the first 64 bytes at most */
	return json_string(buf);
}

/* ---------- build ---------- */

static const char build_help[] =
	"Usage: hvpatch build -m MANIFEST -o BUNDLE [OPTIONS] INPUT\n"
	"\n"
	"Turn replacement functions written in kernel C into a patch bundle.\n"
	"INPUT is either the relocatable object (.o) that the target kernel's kbuild\n"
	"compiled, or a C source file (.c) that hvpatch compiles itself with\n"
	"  make -C KBUILD_DIR M=TMPDIR KBUILD_MODPOST_WARN=1 modules\n"
	"in a temporary directory (the source's own directory is on the include path).\n"
	"\n"
	"The manifest (key = value lines, see docs/PATCH-AUTHORING.md) names the patch\n"
	"id, cumulative level, description, CVE ids and 'replace = TARGET -> FUNCTION'\n"
	"lines.  The target kernel comes from --vmlinux (its GNU build-id note and\n"
	"'Linux version' banner) or from --build-id plus --release.\n"
	"\n"
	"What happens to the object's sections: code, read-only data, data and bss are\n"
	"merged into one bundle section each; metadata sections (.return_sites,\n"
	"__mcount_loc, .orc_unwind*, .note*, .comment, debug info, .modinfo ...) are\n"
	"dropped; sections the apply engine cannot honour (__bug_table, __ex_table,\n"
	".altinstructions, __jump_table, .static_call_sites, .parainstructions,\n"
	"__ksymtab*, .init.*, .data..percpu ...) are refused with an error naming the\n"
	"section, the function and what to do instead.  Each 'call __fentry__' at a\n"
	"function entry becomes the 5-byte NOP 0f 1f 44 00 00.  A call to\n"
	"hvpatch_orig_TARGET runs TARGET's original body (its entry + 5).\n"
	"\n"
	"With --vmlinux the result is checked against that kernel's own kallsyms:\n"
	"each target must exist (once, or as name@N), be a function and start with\n"
	"the ftrace call (its redirect site), and each kernel-symbol relocation\n"
	"must pass the apply engine's own rule, refused in the same words: the\n"
	"symbol exists and is unambiguous, and per-cpu data (current, this_cpu_*)\n"
	"is reached only through the relocation kinds the kernel's accessors\n"
	"produce (docs/PATCH-AUTHORING.md).\n"
	"\n"
	"Functions of modules: 'replace = MODULE:FUNCTION -> ...' replaces a function\n"
	"of a loaded module, and 'symbol = LOCAL -> MODULE:NAME' makes LOCAL mean that\n"
	"module's symbol (static or exported).  With --vmlinux, such targets and\n"
	"symbols are checked against MODULE.ko under --modules DIR by the same rule\n"
	"the apply engine uses in the guest: a function must start with the ftrace\n"
	"call and not be init code; per-cpu and init data of a module are refused.\n"
	"\n"
	"Options:\n"
	"  -m, --manifest FILE   the patch manifest (required)\n"
	"  -o, --output FILE     where to write the bundle (required)\n"
	"      --vmlinux FILE    the target kernel's vmlinux (repeat for several builds)\n"
	"      --build-id HEX    the target's build-id, when no vmlinux is at hand\n"
	"                        (repeatable; needs --release)\n"
	"      --release REL     the target's release, e.g. 6.1.0-56-cloud-amd64\n"
	"      --modules DIR     where the target's MODULE.ko files are (searched\n"
	"                        recursively, e.g. /lib/modules/RELEASE/kernel;\n"
	"                        needed with --vmlinux when the bundle names modules)\n"
	"      --kbuild DIR      kernel build tree for compiling a .c (default\n"
	"                        " HV_KBUILD_DEFAULT_ROOT "/linux-headers-RELEASE)\n"
	"      --key FILE        also sign the bundle with this Ed25519 private key\n"
	"      --json            print what was done as one JSON object\n"
	"  -h, --help            show this help\n"
	"\n"
	"Environment:\n"
	"  HV_KBUILD_ROOT        where linux-headers-RELEASE trees live (default\n"
	"                        " HV_KBUILD_DEFAULT_ROOT ")\n"
	"  TMPDIR                where the temporary kbuild directory is made\n"
	"\n"
	"Examples:\n"
	"  hvpatch build -m cmdline-level.manifest --vmlinux /boot/vmlinux \\\n"
	"      -o cmdline-level.hvb cmdline_level.c\n"
	"  hvpatch build -m fix.manifest --release 6.1.0-56-cloud-amd64 \\\n"
	"      --build-id 3b43fad5034874490492495d552c0af6a5fab235 -o fix.hvb fix.o\n"
	"\n"
	"Exit status: 0 built, 1 failed (the message says why), 2 bad usage.\n";

static int rm_entry(const char *p, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	remove(p);
	return 0;
}

static bool ends_with(const char *s, const char *suffix)
{
	size_t n = strlen(s), m = strlen(suffix);

	return n >= m && strcmp(s + n - m, suffix) == 0;
}

/*
 * Compile @src with kbuild in a temporary directory; *@obj (caller frees)
 * gets the object.  On failure the compiler output goes to stderr.
 */
static int compile_source(const char *src, const char *kbuild, bool quiet, uint8_t **obj,
			  size_t *obj_len)
{
	char dir[1024];
	char path[4096], srcdir[4096], log[4096], base[128];
	const char *slash = strrchr(src, '/');
	uint8_t *text = NULL;
	size_t text_len = 0, i;
	FILE *f = NULL;
	bool made = false;
	pid_t pid;
	int st = 0, r = 0;

	if (snprintf(dir, sizeof(dir), "%s/hvpatch-build-XXXXXX",
		     getenv("TMPDIR") && *getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp") >=
	    (int)sizeof(dir)) {
		r = hv_err(HV_E_INVAL, "TMPDIR is longer than %zu characters; set a shorter one",
			   sizeof(dir) - 32);
		goto out;
	}
	snprintf(base, sizeof(base), "%s", slash ? slash + 1 : src);
	base[strlen(base) - 2] = '\0'; /* drop ".c" (checked by the caller) */
	for (i = 0; base[i]; i++)
		if (!((base[i] >= 'a' && base[i] <= 'z') || (base[i] >= 'A' && base[i] <= 'Z') ||
		      (base[i] >= '0' && base[i] <= '9') || base[i] == '_'))
			base[i] = '_';
	if (!base[0] || base[0] == '_')
		snprintf(base, sizeof(base), "hvpatch_patch");
	if (!realpath(src, srcdir)) {
		r = hv_err(HV_E_IO, "cannot find %s: %s", src, strerror(errno));
		goto out;
	}
	*strrchr(srcdir, '/') = '\0';
	if (!mkdtemp(dir)) {
		r = hv_err(HV_E_IO,
			   "cannot create the temporary directory %s for kbuild: %s; set "
			   "TMPDIR to a writable directory",
			   dir, strerror(errno));
		goto out;
	}
	made = true;
	r = hvb_read_file(src, 16u << 20, &text, &text_len);
	if (r < 0)
		goto out;
	snprintf(path, sizeof(path), "%s/%s.c", dir, base);
	r = write_file_atomic(path, text, text_len, 0644);
	if (r < 0)
		goto out;
	snprintf(path, sizeof(path), "%s/Kbuild", dir);
	f = fopen(path, "w");
	if (!f || fprintf(f, "obj-m := %s.o\nccflags-y += -I%s\n", base, srcdir) < 0 ||
	    fclose(f) != 0) {
		f = NULL;
		r = hv_err(HV_E_IO, "cannot write %s: %s", path, strerror(errno));
		goto out;
	}
	f = NULL;
	snprintf(log, sizeof(log), "%s/build.log", dir);
	if (!quiet)
		fprintf(stderr, "hvpatch build: compiling %s with kbuild in %s\n", src, kbuild);
	pid = fork();
	if (pid < 0) {
		r = hv_err(HV_E_IO, "cannot start make: %s", strerror(errno));
		goto out;
	}
	if (pid == 0) {
		char mdir[4200];
		int fd = open(log, O_WRONLY | O_CREAT | O_TRUNC, 0644);

		if (fd >= 0) {
			dup2(fd, 1);
			dup2(fd, 2);
		}
		snprintf(mdir, sizeof(mdir), "M=%s", dir);
		execlp("make", "make", "-C", kbuild, mdir, "KBUILD_MODPOST_WARN=1", "modules",
		       (char *)NULL);
		_exit(127);
	}
	while (waitpid(pid, &st, 0) < 0 && errno == EINTR)
		;
	if (!WIFEXITED(st) || WEXITSTATUS(st) != 0) {
		uint8_t *l = NULL;
		size_t ll = 0;

		if (hvb_read_file(log, 1u << 20, &l, &ll) == 0) {
			fprintf(stderr, "hvpatch build: kbuild output:\n");
			fwrite(l, 1, ll, stderr);
		}
		free(l);
		r = hv_err(HV_E_IO,
			   "compiling %s with the kbuild tree %s failed (make exit status %d; its "
			   "output is above); fix the source, or check the tree with --kbuild",
			   src, kbuild, WIFEXITED(st) ? WEXITSTATUS(st) : -1);
		goto out;
	}
	snprintf(path, sizeof(path), "%s/%s.o", dir, base);
	r = hvb_read_file(path, 256u << 20, obj, obj_len);
out:
	if (f)
		fclose(f);
	free(text);
	if (made)
		nftw(dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
	return r;
}

int cmd_build(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "manifest", required_argument, NULL, 'm' },
		{ "output", required_argument, NULL, 'o' },
		{ "vmlinux", required_argument, NULL, 'V' },
		{ "build-id", required_argument, NULL, 'B' },
		{ "release", required_argument, NULL, 'R' },
		{ "kbuild", required_argument, NULL, 'K' },
		{ "modules", required_argument, NULL, 'M' },
		{ "key", required_argument, NULL, 'k' },
		{ "json", no_argument, NULL, 'j' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	const char *modules_dir = NULL;
	struct hvb_kodir *kodir = NULL;
	struct hvb_symsrc modsrc;
	const char *manifest = NULL, *output = NULL, *release = NULL, *kbuild = NULL, *key = NULL,
		   *input;
	const char *vmlinux[MAX_TARGETS_CLI], *build_ids[MAX_TARGETS_CLI];
	size_t nvm = 0, nbid = 0, ntargets = 0, i, blen = 0, slen = 0, olen = 0, mlen = 0;
	struct hvb_kernel_id targets[2 * MAX_TARGETS_CLI];
	struct hvb_manifest *m = NULL;
	struct hvb_bundle *b = NULL;
	struct hvb_build_report rep = { 0 };
	uint8_t *obj = NULL, *mtext = NULL, *ser = NULL, *signed_buf = NULL;
	uint8_t *vmbuf[MAX_TARGETS_CLI] = { NULL };
	size_t vmlen[MAX_TARGETS_CLI] = { 0 };
	struct hvb_kernel_check kcheck[MAX_TARGETS_CLI];
	char kdir[4096];
	int c, json = 0, rc = HV_EXIT_FAIL;

	optind = 1;
	opterr = 0;
	while ((c = getopt_long(argc, argv, "m:o:h", opts, NULL)) != -1) {
		switch (c) {
		case 'm':
			manifest = optarg;
			break;
		case 'o':
			output = optarg;
			break;
		case 'V':
			if (nvm == MAX_TARGETS_CLI)
				return cli_usage_error("build", "at most %d --vmlinux are allowed",
						       MAX_TARGETS_CLI);
			vmlinux[nvm++] = optarg;
			break;
		case 'B':
			if (nbid == MAX_TARGETS_CLI)
				return cli_usage_error("build", "at most %d --build-id are allowed",
						       MAX_TARGETS_CLI);
			build_ids[nbid++] = optarg;
			break;
		case 'R':
			release = optarg;
			break;
		case 'K':
			kbuild = optarg;
			break;
		case 'M':
			modules_dir = optarg;
			break;
		case 'k':
			key = optarg;
			break;
		case 'j':
			json = 1;
			break;
		case 'h':
			fputs(build_help, stdout);
			return HV_EXIT_OK;
		default:
			return bad_option("build", argc, argv);
		}
	}
	if (optind + 1 != argc)
		return cli_usage_error("build", "expected one INPUT (.o object or .c source)");
	input = argv[optind];
	if (!manifest || !output)
		return cli_usage_error("build", "--manifest and --output are required");
	if (!nvm && !nbid)
		return cli_usage_error("build", "name the target kernel with --vmlinux FILE, or "
						"with --build-id HEX and --release REL");
	if (nbid && !release)
		return cli_usage_error("build", "--build-id needs --release (e.g. --release "
						"6.1.0-56-cloud-amd64)");
	if (!ends_with(input, ".o") && !ends_with(input, ".c"))
		return cli_usage_error("build", "INPUT '%s' must be a .o object or a .c source",
				       input);

	if (hvb_read_file(manifest, 1u << 20, &mtext, &mlen) < 0 ||
	    hvb_manifest_parse((const char *)mtext, mlen, manifest, &m) < 0)
		goto out;
	for (i = 0; i < nvm; i++) {
		int r = hvb_read_file(vmlinux[i], 1024u << 20, &vmbuf[i], &vmlen[i]);

		if (r == 0)
			r = hvb_vmlinux_identify(vmbuf[i], vmlen[i], vmlinux[i],
						 &targets[ntargets]);
		if (r < 0)
			goto out;
		if (release && strcmp(release, targets[ntargets].release) != 0) {
			hv_err(HV_E_INVAL,
			       "%s is release %s, but --release says %s; drop --release or give "
			       "the matching vmlinux",
			       vmlinux[i], targets[ntargets].release, release);
			goto out;
		}
		ntargets++;
	}
	for (i = 0; i < nbid; i++) {
		memset(&targets[ntargets], 0, sizeof(targets[0]));
		if (hvb_parse_build_id(build_ids[i], &targets[ntargets]) < 0)
			goto out;
		if (strlen(release) > HVB_MAX_ID) {
			hv_err(HV_E_INVAL, "--release '%.80s' is too long", release);
			goto out;
		}
		snprintf(targets[ntargets].release, sizeof(targets[0].release), "%s", release);
		ntargets++;
	}
	if (ends_with(input, ".c")) {
		for (i = 1; i < ntargets; i++) {
			if (strcmp(targets[i].release, targets[0].release) != 0) {
				hv_err(HV_E_INVAL,
				       "a .c source is compiled against one kernel's headers, but "
				       "the "
				       "targets are %s and %s; build one bundle per kernel",
				       targets[0].release, targets[i].release);
				goto out;
			}
		}
		if (!kbuild) {
			snprintf(kdir, sizeof(kdir), "%s/linux-headers-%s",
				 getenv("HV_KBUILD_ROOT") ? getenv("HV_KBUILD_ROOT")
							  : HV_KBUILD_DEFAULT_ROOT,
				 targets[0].release);
			kbuild = kdir;
		}
		if (access(kbuild, F_OK) != 0) {
			hv_err(HV_E_NOTFOUND,
			       "the kbuild tree %s does not exist; install "
			       "linux-headers-%s or give --kbuild DIR",
			       kbuild, targets[0].release);
			goto out;
		}
		if (compile_source(input, kbuild, json, &obj, &olen) < 0)
			goto out;
	} else if (hvb_read_file(input, 256u << 20, &obj, &olen) < 0) {
		goto out;
	}
	if (hvb_build_object(obj, olen, input, m, targets, ntargets, &b, &rep) < 0 ||
	    hvb_serialize(b, &ser, &slen) < 0)
		goto out;
	memset(&modsrc, 0, sizeof(modsrc));
	modsrc.mod_hint = "--modules DIR, the directory of the target's MODULE.ko files";
	if (modules_dir) {
		if (hvb_kodir_open(modules_dir, &kodir) < 0)
			goto out;
		modsrc.mod_lookup = hvb_kodir_lookup;
		modsrc.mod_ctx = kodir;
	}
	for (i = 0; i < nvm; i++) {
		if (hvb_check_vmlinux(b, vmbuf[i], vmlen[i], vmlinux[i], &modsrc, &kcheck[i]) < 0) {
			hv_err_prefix("%s", input);
			goto out;
		}
		if (!kcheck[i].checked && !json)
			fprintf(stderr,
				"hvpatch build: warning: targets and symbols not checked against "
				"%s: %s\n",
				vmlinux[i], kcheck[i].note);
	}
	blen = slen;
	if (key) {
		if (hvb_sign(ser, slen, key, &signed_buf, &blen) < 0)
			goto out;
	}
	if (write_file_atomic(output, signed_buf ? signed_buf : ser, blen, 0644) < 0)
		goto out;

	if (json) {
		json_t *j = json_object(), *secs = json_array(), *tg = json_array();

		for (i = 0; i < ntargets; i++)
			json_array_append_new(tg, json_pack("{s:o,s:s}", "build_id",
							    hex_json(targets[i].build_id,
								     targets[i].build_id_len),
							    "release", targets[i].release));
		for (i = 0; i < rep.nsecs; i++) {
			const struct hvb_build_sec *s = &rep.secs[i];
			json_t *o = json_pack("{s:s,s:s,s:I}", "name", s->name, "action",
					      hvb_sec_action_name(s->action), "size_bytes",
					      (json_int_t)s->size_bytes);

			if (s->action == HVB_ACT_KEPT) {
				json_object_set_new(o, "bundle_section",
						    json_string(b->sections[s->out_section].name));
				json_object_set_new(o, "bundle_offset",
						    json_integer((json_int_t)s->out_offset));
			}
			json_array_append_new(secs, o);
		}
		json_object_set_new(j, "output", json_string(output));
		json_object_set_new(j, "bytes", json_integer((json_int_t)blen));
		json_object_set_new(j, "signed", json_boolean(key != NULL));
		json_object_set_new(j, "patch_id", json_string(b->patch_id));
		json_object_set_new(j, "level", json_string(b->level));
		json_object_set_new(j, "targets", tg);
		json_object_set_new(j, "input_sections", secs);
		json_object_set_new(j, "replacements", json_integer((json_int_t)b->nreplacements));
		json_object_set_new(j, "relocations", json_integer((json_int_t)b->nrelocs));
		json_object_set_new(j, "fentry_nops", json_integer(rep.fentry_nops));
		json_object_set_new(j, "relocations_dropped_with_metadata",
				    json_integer(rep.relocs_dropped));
		{
			json_t *kc = json_array();

			for (i = 0; i < nvm; i++) {
				json_t *o =
					json_pack("{s:s,s:b,s:i,s:i,s:i}", "vmlinux", vmlinux[i],
						  "checked", kcheck[i].checked, "targets_traceable",
						  (int)kcheck[i].targets_checked, "module_targets",
						  (int)kcheck[i].module_targets,
						  "kernel_symbol_relocations_resolved",
						  (int)kcheck[i].symbols_checked);

				if (!kcheck[i].checked)
					json_object_set_new(o, "note", json_string(kcheck[i].note));
				json_array_append_new(kc, o);
			}
			json_object_set_new(j, "kernel_checks", kc);
		}
		print_json(j);
		json_decref(j);
	} else {
		char hex[2 * HVB_MAX_BUILD_ID + 1];

		printf("built %s (%zu bytes%s): patch %s, level %s\n", output, blen,
		       key ? ", signed" : ", unsigned", b->patch_id, b->level);
		for (i = 0; i < ntargets; i++) {
			hv_hex_encode(hex, sizeof(hex), targets[i].build_id,
				      targets[i].build_id_len);
			printf("  target   %s build-id %s\n", targets[i].release, hex);
		}
		printf("input sections:\n");
		for (i = 0; i < rep.nsecs; i++) {
			const struct hvb_build_sec *s = &rep.secs[i];

			if (s->action == HVB_ACT_BOOKKEEPING)
				continue;
			if (s->action == HVB_ACT_KEPT)
				printf("  %-28s %6llu bytes  kept -> %s+0x%llx\n", s->name,
				       (unsigned long long)s->size_bytes,
				       b->sections[s->out_section].name,
				       (unsigned long long)s->out_offset);
			else
				printf("  %-28s %6llu bytes  %s\n", s->name,
				       (unsigned long long)s->size_bytes,
				       hvb_sec_action_name(s->action));
		}
		printf("bundle sections:\n");
		for (i = 0; i < b->nsections; i++)
			printf("  [%zu] %-8s %6llu bytes, align %u\n", i, b->sections[i].name,
			       (unsigned long long)b->sections[i].size_bytes,
			       b->sections[i].align_bytes);
		printf("replacements:\n");
		for (i = 0; i < b->nreplacements; i++)
			printf("  %s -> %s\n", b->replacements[i].target, b->replacements[i].name);
		printf("relocations: %zu kept, %u 'call __fentry__' turned into NOPs, %u dropped "
		       "with metadata sections\n",
		       b->nrelocs, rep.fentry_nops, rep.relocs_dropped);
		for (i = 0; i < nvm; i++)
			if (kcheck[i].checked)
				printf("checked against %s%s%s: %u targets found and traceable (%u "
				       "in modules), %u symbol relocations resolve\n",
				       vmlinux[i], modules_dir ? " and the modules in " : "",
				       modules_dir ? modules_dir : "", kcheck[i].targets_checked,
				       kcheck[i].module_targets, kcheck[i].symbols_checked);
		if (!nvm)
			printf("not checked against a vmlinux (give --vmlinux to check targets "
			       "and symbols)\n");
		if (!key)
			printf("next: hvpatch sign %s --key KEY\n", output);
	}
	rc = HV_EXIT_OK;
out:
	if (rc != HV_EXIT_OK)
		rc = cli_fail("build");
	hvb_kodir_free(kodir);
	hvb_build_report_free(&rep);
	hvb_manifest_free(m);
	hvb_free(b);
	for (i = 0; i < nvm; i++)
		free(vmbuf[i]);
	free(obj);
	free(mtext);
	free(ser);
	free(signed_buf);
	return rc;
}

/* ---------- keygen ---------- */

static const char keygen_help[] =
	"Usage: hvpatch keygen --out DIR/NAME [--json]\n"
	"\n"
	"Create an Ed25519 key pair for signing bundles:\n"
	"  DIR/NAME.key      the private key (PEM, PKCS#8), mode 0600: keep it secret\n"
	"  DIR/NAME.pub.pem  the public key (PEM): copy it into the trusted-key\n"
	"                    directory of every host that should accept the bundles\n"
	"Existing files are never overwritten.  The key id printed is the SHA-256 of\n"
	"the raw 32-byte public key; bundles carry it and 'hvpatch show' prints it.\n"
	"\n"
	"Options:\n"
	"  -o, --out DIR/NAME  where to create the two files (required)\n"
	"      --json          print the files and key id as one JSON object\n"
	"  -h, --help          show this help\n"
	"\n"
	"Example:\n"
	"  hvpatch keygen --out /etc/hvpatch/keys/release-2026\n"
	"\n"
	"Exit status: 0 created, 1 failed, 2 bad usage.\n";

int cmd_keygen(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "out", required_argument, NULL, 'o' },
		{ "json", no_argument, NULL, 'j' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	const char *base = NULL;
	uint8_t id[HVB_KEY_ID_BYTES];
	char hex[2 * HVB_KEY_ID_BYTES + 1];
	int c, json = 0;

	optind = 1;
	opterr = 0;
	while ((c = getopt_long(argc, argv, "o:h", opts, NULL)) != -1) {
		switch (c) {
		case 'o':
			base = optarg;
			break;
		case 'j':
			json = 1;
			break;
		case 'h':
			fputs(keygen_help, stdout);
			return HV_EXIT_OK;
		default:
			return bad_option("keygen", argc, argv);
		}
	}
	if (optind != argc)
		return cli_usage_error("keygen", "unexpected argument '%s'", argv[optind]);
	if (!base)
		return cli_usage_error("keygen", "--out DIR/NAME is required");
	if (hvb_keygen(base, id) < 0)
		return cli_fail("keygen");
	hv_hex_encode(hex, sizeof(hex), id, sizeof(id));
	if (json) {
		json_t *j = json_pack("{s:s+,s:s+,s:s}", "private_key", base, ".key", "public_key",
				      base, ".pub.pem", "key_id", hex);

		print_json(j);
		json_decref(j);
	} else {
		printf("private key %s.key (keep it secret)\npublic key  %s.pub.pem\nkey id      "
		       "%s\n",
		       base, base, hex);
	}
	return HV_EXIT_OK;
}

/* ---------- sign ---------- */

static const char sign_help[] =
	"Usage: hvpatch sign BUNDLE --key PRIVATE_KEY [-o OUTPUT]\n"
	"\n"
	"Sign a bundle with an Ed25519 private key made by 'hvpatch keygen'.  The\n"
	"signature covers every byte before it; an existing signature is replaced.\n"
	"The bundle is checked (parsed strictly) before it is signed.  Without -o the\n"
	"bundle file is replaced in place (atomically).\n"
	"\n"
	"Options:\n"
	"  -k, --key FILE     the private key (PEM) (required)\n"
	"  -o, --output FILE  write the signed bundle here instead\n"
	"      --json         print the result as one JSON object\n"
	"  -h, --help         show this help\n"
	"\n"
	"Example:\n"
	"  hvpatch sign cmdline-level.hvb --key /etc/hvpatch/keys/release-2026.key\n"
	"\n"
	"Exit status: 0 signed, 1 failed, 2 bad usage.\n";

int cmd_sign(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "key", required_argument, NULL, 'k' },
		{ "output", required_argument, NULL, 'o' },
		{ "json", no_argument, NULL, 'j' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	const char *key = NULL, *output = NULL, *path;
	uint8_t *in = NULL, *out = NULL, id[HVB_KEY_ID_BYTES];
	size_t len = 0, olen = 0;
	char hex[2 * HVB_KEY_ID_BYTES + 1];
	int c, json = 0, rc = HV_EXIT_FAIL;

	optind = 1;
	opterr = 0;
	while ((c = getopt_long(argc, argv, "k:o:h", opts, NULL)) != -1) {
		switch (c) {
		case 'k':
			key = optarg;
			break;
		case 'o':
			output = optarg;
			break;
		case 'j':
			json = 1;
			break;
		case 'h':
			fputs(sign_help, stdout);
			return HV_EXIT_OK;
		default:
			return bad_option("sign", argc, argv);
		}
	}
	if (optind + 1 != argc)
		return cli_usage_error("sign", "expected one BUNDLE");
	if (!key)
		return cli_usage_error("sign", "--key PRIVATE_KEY is required");
	path = argv[optind];
	if (!output)
		output = path;
	{
		struct stat st;

		if (stat(key, &st) == 0 && (st.st_mode & 077))
			fprintf(stderr,
				"hvpatch sign: warning: the private key %s can be read by other "
				"users (mode %03o); chmod 600 it\n",
				key, (unsigned)(st.st_mode & 0777));
	}
	if (hvb_read_file(path, 0, &in, &len) < 0 || hvb_sign(in, len, key, &out, &olen) < 0 ||
	    hvb_key_id_of_file(key, id) < 0 || write_file_atomic(output, out, olen, 0644) < 0) {
		hv_err_prefix("signing %s", path);
		goto out;
	}
	hv_hex_encode(hex, sizeof(hex), id, sizeof(id));
	if (json) {
		json_t *j = json_pack("{s:s,s:s,s:I}", "bundle", output, "key_id", hex, "bytes",
				      (json_int_t)olen);

		print_json(j);
		json_decref(j);
	} else {
		printf("signed %s with key %s\n", output, hex);
	}
	rc = HV_EXIT_OK;
out:
	if (rc != HV_EXIT_OK)
		rc = cli_fail("sign");
	free(in);
	free(out);
	return rc;
}

/* ---------- verify ---------- */

static const char verify_help[] =
	"Usage: hvpatch verify BUNDLE --trusted DIR [--json]\n"
	"\n"
	"Check a bundle's structure and its Ed25519 signature against the public keys\n"
	"(*.pem) in DIR.  Refused: a malformed bundle, an unsigned bundle, a bundle\n"
	"signed by a key that is not in DIR, and a bundle changed in any byte after it\n"
	"was signed.\n"
	"\n"
	"Options:\n"
	"  -t, --trusted DIR  directory of trusted public keys (required)\n"
	"      --json         print the result as one JSON object (also on failure)\n"
	"  -h, --help         show this help\n"
	"\n"
	"Example:\n"
	"  hvpatch verify cmdline-level.hvb --trusted /etc/hvpatch/trusted\n"
	"\n"
	"Exit status: 0 valid and trusted, 1 refused (the message says why), 2 bad\n"
	"usage.\n";

int cmd_verify(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "trusted", required_argument, NULL, 't' },
		{ "json", no_argument, NULL, 'j' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	const char *dir = NULL, *path;
	struct hvb_verify_info info;
	uint8_t *buf = NULL;
	size_t len = 0;
	char hex[2 * HVB_KEY_ID_BYTES + 1];
	int c, json = 0, r;

	optind = 1;
	opterr = 0;
	while ((c = getopt_long(argc, argv, "t:h", opts, NULL)) != -1) {
		switch (c) {
		case 't':
			dir = optarg;
			break;
		case 'j':
			json = 1;
			break;
		case 'h':
			fputs(verify_help, stdout);
			return HV_EXIT_OK;
		default:
			return bad_option("verify", argc, argv);
		}
	}
	if (optind + 1 != argc)
		return cli_usage_error("verify", "expected one BUNDLE");
	if (!dir)
		return cli_usage_error("verify", "--trusted DIR is required");
	path = argv[optind];
	r = hvb_read_file(path, 0, &buf, &len);
	if (r == 0)
		r = hvb_verify(buf, len, dir, &info);
	free(buf);
	if (r < 0)
		hv_err_prefix("bundle %s", path);
	if (json) {
		json_t *j = json_pack("{s:s,s:b}", "bundle", path, "valid", r == 0);

		if (r == 0) {
			hv_hex_encode(hex, sizeof(hex), info.key_id, sizeof(info.key_id));
			json_object_set_new(j, "key_id", json_string(hex));
			json_object_set_new(j, "key_file", json_string(info.key_file));
		} else {
			json_object_set_new(j, "error", json_string(hv_err_last()->msg));
		}
		print_json(j);
		json_decref(j);
	}
	if (r < 0)
		return cli_fail("verify");
	if (!json) {
		hv_hex_encode(hex, sizeof(hex), info.key_id, sizeof(info.key_id));
		printf("%s: valid, signed by trusted key %s (%s)\n", path, hex, info.key_file);
	}
	return HV_EXIT_OK;
}

/* ---------- show ---------- */

static const char show_help[] =
	"Usage: hvpatch show BUNDLE [--json]\n"
	"\n"
	"Print everything in a bundle: format version, patch id, cumulative level,\n"
	"description, CVE ids, target kernels (release and build-id), sections (kind,\n"
	"size, alignment, permissions), replacements (target function, optional @N\n"
	"disambiguator, entry in the bundle), relocations (where, type, addend and\n"
	"target: kernel symbol, bundle section + offset, or original body of a\n"
	"replaced function) and the signature's key id.  The bundle is parsed\n"
	"strictly, but its signature is not checked: use 'hvpatch verify' for that.\n"
	"\n"
	"Options:\n"
	"      --json   print one JSON object\n"
	"  -h, --help   show this help\n"
	"\n"
	"Exit status: 0 shown, 1 unreadable or malformed bundle, 2 bad usage.\n";

static void target_spec(const struct hvb_replacement *p, char *out, size_t n)
{
	if (p->target_index == HVB_NO_INDEX)
		snprintf(out, n, "%s", p->target);
	else
		snprintf(out, n, "%s@%u", p->target, p->target_index);
}

static void reloc_target(const struct hvb_bundle *b, const struct hvb_reloc *x, char *out, size_t n)
{
	char spec[HVB_MAX_NAME + 16];

	switch (x->kind) {
	case HVB_TGT_KSYM:
		snprintf(out, n, "%s", x->symbol);
		break;
	case HVB_TGT_SECTION:
		snprintf(out, n, "%s+0x%llx", b->sections[x->target_section].name,
			 (unsigned long long)x->target_offset);
		break;
	case HVB_TGT_ORIG:
		target_spec(&b->replacements[x->replacement], spec, sizeof(spec));
		snprintf(out, n, "original body of %s (entry+%d)", spec, HVB_ORIG_BODY_OFFSET);
		break;
	}
}

static json_t *show_json(const struct hvb_bundle *b, const char *path, size_t len)
{
	json_t *j = json_object(), *a;
	char spec[HVB_MAX_NAME + 16], ver[32];
	size_t i;

	snprintf(ver, sizeof(ver), "%u.%u", b->version_major, b->version_minor);
	json_object_set_new(j, "bundle", json_string(path));
	json_object_set_new(j, "bytes", json_integer((json_int_t)len));
	json_object_set_new(j, "format_version", json_string(ver));
	json_object_set_new(j, "patch_id", json_string(b->patch_id));
	json_object_set_new(j, "level", json_string(b->level));
	json_object_set_new(j, "description", json_string(b->description));
	a = json_array();
	for (i = 0; i < b->ncves; i++)
		json_array_append_new(a, json_string(b->cves[i]));
	json_object_set_new(j, "cves", a);
	a = json_array();
	for (i = 0; i < b->ntargets; i++)
		json_array_append_new(
			a, json_pack("{s:o,s:s}", "build_id",
				     hex_json(b->targets[i].build_id, b->targets[i].build_id_len),
				     "release", b->targets[i].release));
	json_object_set_new(j, "targets", a);
	a = json_array();
	for (i = 0; i < b->nsections; i++) {
		const struct hvb_section *s = &b->sections[i];

		json_array_append_new(a, json_pack("{s:I,s:s,s:s,s:I,s:I,s:b,s:b}", "index",
						   (json_int_t)i, "name", s->name, "kind",
						   hvb_section_kind_name(s->kind), "size_bytes",
						   (json_int_t)s->size_bytes, "align_bytes",
						   (json_int_t)s->align_bytes, "exec", s->exec,
						   "write", s->write));
	}
	json_object_set_new(j, "sections", a);
	a = json_array();
	for (i = 0; i < b->nreplacements; i++) {
		const struct hvb_replacement *p = &b->replacements[i];
		json_t *o;

		target_spec(p, spec, sizeof(spec));
		o = json_pack("{s:I,s:s,s:s,s:s,s:I,s:s,s:I}", "index", (json_int_t)i, "target",
			      p->target, "target_spec", spec, "name", p->name, "section",
			      (json_int_t)p->section, "section_name", b->sections[p->section].name,
			      "offset", (json_int_t)p->offset);
		json_object_set_new(o, "target_index",
				    p->target_index == HVB_NO_INDEX
					    ? json_null()
					    : json_integer((json_int_t)p->target_index));
		json_array_append_new(a, o);
	}
	json_object_set_new(j, "replacements", a);
	a = json_array();
	for (i = 0; i < b->nrelocs; i++) {
		const struct hvb_reloc *x = &b->relocs[i];
		json_t *o = json_pack("{s:I,s:s,s:I,s:s,s:I,s:I,s:s}", "index", (json_int_t)i,
				      "type", hvb_reloc_type_name(x->type), "section",
				      (json_int_t)x->section, "section_name",
				      b->sections[x->section].name, "offset", (json_int_t)x->offset,
				      "addend", (json_int_t)x->addend, "target_kind",
				      x->kind == HVB_TGT_KSYM	   ? "kernel_symbol"
				      : x->kind == HVB_TGT_SECTION ? "section"
								   : "original_body");

		if (x->kind == HVB_TGT_KSYM) {
			json_object_set_new(o, "symbol", json_string(x->symbol));
		} else if (x->kind == HVB_TGT_SECTION) {
			json_object_set_new(o, "target_section",
					    json_integer((json_int_t)x->target_section));
			json_object_set_new(o, "target_offset",
					    json_integer((json_int_t)x->target_offset));
		} else {
			json_object_set_new(o, "replacement",
					    json_integer((json_int_t)x->replacement));
			json_object_set_new(o, "target",
					    json_string(b->replacements[x->replacement].target));
		}
		json_array_append_new(a, o);
	}
	json_object_set_new(j, "relocations", a);
	if (b->sig.present) {
		json_object_set_new(j, "signature",
				    json_pack("{s:s,s:o,s:I}", "algorithm", "ed25519", "key_id",
					      hex_json(b->sig.key_id, HVB_KEY_ID_BYTES),
					      "signed_bytes", (json_int_t)b->sig.signed_bytes));
	} else {
		json_object_set_new(j, "signature", json_null());
	}
	return j;
}

int cmd_show(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "json", no_argument, NULL, 'j' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct hvb_bundle *b = NULL;
	uint8_t *buf = NULL;
	size_t len = 0, i;
	const char *path;
	char hex[2 * HVB_KEY_ID_BYTES + 1], spec[HVB_MAX_NAME + 64], shahex[65];
	uint8_t sha[32];
	int c, json = 0, rc = HV_EXIT_FAIL;

	optind = 1;
	opterr = 0;
	while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (c) {
		case 'j':
			json = 1;
			break;
		case 'h':
			fputs(show_help, stdout);
			return HV_EXIT_OK;
		default:
			return bad_option("show", argc, argv);
		}
	}
	if (optind + 1 != argc)
		return cli_usage_error("show", "expected one BUNDLE");
	path = argv[optind];
	if (hvb_read_file(path, 0, &buf, &len) < 0 || hvb_parse(buf, len, &b) < 0) {
		hv_err_prefix("bundle %s", path);
		goto out;
	}
	if (hvb_sha256(buf, len, sha) < 0)
		goto out;
	hv_hex_encode(shahex, sizeof(shahex), sha, sizeof(sha));
	if (json) {
		json_t *j = show_json(b, path, len);

		json_object_set_new(j, "sha256", json_string(shahex));

		print_json(j);
		json_decref(j);
		rc = HV_EXIT_OK;
		goto out;
	}
	printf("bundle       %s (%zu bytes, format %u.%u)\n", path, len, b->version_major,
	       b->version_minor);
	printf("sha256       %s\n", shahex);
	printf("patch id     %s\nlevel        %s\n", b->patch_id, b->level);
	printf("description  ");
	if (!*b->description)
		printf("(none)");
	for (i = 0; b->description[i]; i++) {
		putchar(b->description[i]);
		if (b->description[i] == '\n')
			printf("             ");
	}
	putchar('\n');
	printf("CVEs        ");
	for (i = 0; i < b->ncves; i++)
		printf(" %s", b->cves[i]);
	printf("%s\n", b->ncves ? "" : " (none)");
	for (i = 0; i < b->ntargets; i++) {
		char bid[2 * HVB_MAX_BUILD_ID + 1];

		hv_hex_encode(bid, sizeof(bid), b->targets[i].build_id, b->targets[i].build_id_len);
		printf("target       %s build-id %s\n", b->targets[i].release, bid);
	}
	printf("sections:\n");
	for (i = 0; i < b->nsections; i++) {
		const struct hvb_section *s = &b->sections[i];

		printf("  [%zu] %-8s %-6s %8llu bytes  align %-4u r%c%c\n", i, s->name,
		       hvb_section_kind_name(s->kind), (unsigned long long)s->size_bytes,
		       s->align_bytes, s->write ? 'w' : '-', s->exec ? 'x' : '-');
	}
	printf("replacements:\n");
	for (i = 0; i < b->nreplacements; i++) {
		const struct hvb_replacement *p = &b->replacements[i];

		target_spec(p, spec, sizeof(spec));
		printf("  [%zu] %s -> %s at %s+0x%llx\n", i, spec, p->name,
		       b->sections[p->section].name, (unsigned long long)p->offset);
	}
	printf("relocations:\n");
	for (i = 0; i < b->nrelocs; i++) {
		const struct hvb_reloc *x = &b->relocs[i];

		reloc_target(b, x, spec, sizeof(spec));
		printf("  [%zu] %s+0x%-5llx %-15s %s %+lld\n", i, b->sections[x->section].name,
		       (unsigned long long)x->offset, hvb_reloc_type_name(x->type), spec,
		       (long long)x->addend);
	}
	if (b->sig.present) {
		hv_hex_encode(hex, sizeof(hex), b->sig.key_id, HVB_KEY_ID_BYTES);
		printf("signature    Ed25519, key id %s, covers %zu bytes (not checked here; "
		       "use hvpatch verify)\n",
		       hex, b->sig.signed_bytes);
	} else {
		printf("signature    none (unsigned; hvpatch sign adds one)\n");
	}
	rc = HV_EXIT_OK;
out:
	if (rc != HV_EXIT_OK)
		rc = cli_fail("show");
	hvb_free(b);
	free(buf);
	return rc;
}
