/*
 * hvpatch inspect / sym / addr / btf / modules: what hvpatch sees of a
 * guest kernel.
 */
#include "config.h"

#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "cli.h"
#include "hv_clock.h"
#include "commands.h"
#include "guest/guest.h"
#include "hvi_btf.h"
#include "hvi_modules.h"
#include "hvi_text.h"

struct iopts {
	struct hvg_opts g;
	int json;
	const char *symbols; /* modules --symbols MODULE */
};

/* Options of inspect, sym and addr besides the guest selection. */
static const char inspect_opts_help[] =
	"      --cpu N            take CR3 from vCPU N (default: vCPU 0)\n"
	"      --user-cr3         pause the guest repeatedly (up to 30 s) until a\n"
	"                         vCPU runs in user mode (CPL 3) and use its CR3;\n"
	"                         under PTI that is the user page table, from which\n"
	"                         hvpatch switches to the kernel's\n"
	"      --no-idt-check     do not cross-check the kernel base with the IDT\n";

static const char exit_help[] =
	"\n"
	"The guest is paused only to read one vCPU's registers; the kernel image is\n"
	"then read from the guest's shared RAM while it runs.  Nothing is written.\n"
	"Options may come before or after the operands; '--' ends them (for an\n"
	"address that starts with '-').\n"
	"\n"
	"Exit status: 0 on success, 1 when the guest could not be inspected or a\n"
	"name or address was not found (the message says why), 2 when the command\n"
	"line was wrong.\n";

enum {
	OPT_CPU = CLI_OPT_OWN,
	OPT_USER,
	OPT_NOIDT,
	OPT_SYMBOLS,
};

static int take(void *ctx, int val, const char *arg)
{
	struct iopts *o = ctx;
	uint64_t v;

	switch (val) {
	case OPT_CPU:
		if (cli_parse_u64(arg, "--cpu", &v) < 0 || v >= HVA_MAX_VCPUS)
			return hv_err(HV_E_INVAL, "--cpu wants a vCPU number below %d, not '%s'",
				      HVA_MAX_VCPUS, arg);
		o->g.cpu = (int)v;
		return 0;
	case OPT_USER:
		o->g.user_cr3 = true;
		return 0;
	case OPT_NOIDT:
		o->g.idt_check = false;
		return 0;
	case OPT_SYMBOLS:
		o->symbols = arg;
		return 0;
	default:
		return hv_err(HV_E_INVAL, "unknown option");
	}
}

/* Returns the index of the first operand, or -1 with *rc set. */
static int parse(const char *cmd, int argc, char **argv, const char *help, struct iopts *o, int *rc)
{
	static const struct option own[] = {
		{ "cpu", required_argument, NULL, OPT_CPU },
		{ "user-cr3", no_argument, NULL, OPT_USER },
		{ "no-idt-check", no_argument, NULL, OPT_NOIDT },
		{ NULL, 0, NULL, 0 },
	};
	/* modules also takes --symbols MODULE. */
	static const struct option own_modules[] = {
		{ "cpu", required_argument, NULL, OPT_CPU },
		{ "user-cr3", no_argument, NULL, OPT_USER },
		{ "no-idt-check", no_argument, NULL, OPT_NOIDT },
		{ "symbols", required_argument, NULL, OPT_SYMBOLS },
		{ NULL, 0, NULL, 0 },
	};
	static const struct hvg_opts defaults = HVG_OPTS_INIT;
	char fullhelp[8192];
	struct cli_spec spec = { .cmd = cmd,
				 .help = fullhelp,
				 .own = strcmp(cmd, "modules") ? own : own_modules,
				 .take = take,
				 .ctx = o,
				 .guest = CLI_G_ALL,
				 .extra_help = exit_help };
	struct cli_guest g;
	int i;

	memset(o, 0, sizeof(*o));
	o->g = defaults;
	snprintf(fullhelp, sizeof(fullhelp), "%sOptions:\n%s%s", help, inspect_opts_help,
		 strcmp(cmd, "modules")
			 ? ""
			 : "      --symbols MODULE   print every symbol of MODULE\n");
	i = cli_parse(&spec, argc, argv, &g, rc);
	if (i < 0)
		return -1;
	o->g.uri = g.uri;
	o->g.qmp_socket = g.qmp_socket;
	o->g.deadline_ms = g.deadline_ms;
	o->json = g.json;
	if (i >= argc) {
		*rc = cli_usage_error(cmd, "expected a DOMAIN");
		return -1;
	}
	return i;
}

/*
 * Print @j on stdout.  Returns 0, or HV_E_NOMEM / HV_E_IO with the reason
 * recorded: the caller then fails, so --json never exits 0 with nothing
 * printed.
 */
static int print_json(json_t *j)
{
	char *s = j ? json_dumps(j, JSON_INDENT(2) | JSON_PRESERVE_ORDER) : NULL;
	int r = 0;

	if (!s) {
		r = hv_err(HV_E_NOMEM, "the JSON result could not be built (out of memory); "
				       "nothing was printed");
		goto out;
	}
	if (puts(s) == EOF || fflush(stdout) == EOF) {
		r = hv_err(HV_E_IO, "the JSON result could not be written to standard output");
		goto out;
	}
out:
	free(s);
	return r;
}

/*
 * A string that came from the guest (its release, symbol names), as text
 * safe to print or to put in JSON: libhvi hands out printable ASCII only,
 * and every printing path still goes through hvi_text_copy(), so a byte
 * that slipped through would show as '?' instead of reaching the terminal.
 */
static const char *guest_text(const char *s, char *buf, size_t size)
{
	hvi_text_copy(buf, size, (const uint8_t *)s, s ? strlen(s) : 0);
	return buf;
}

/* Room for any guest string inspect prints (a symbol name, the release). */
#define GUEST_TEXT_MAX (HVI_KSYM_NAME_MAX + 1)

static json_t *hexnum(uint64_t v)
{
	char b[24];

	snprintf(b, sizeof(b), "0x%" PRIx64, v);
	return json_string(b);
}

static const char inspect_help[] =
	"Usage: hvpatch inspect [OPTIONS] DOMAIN\n"
	"\n"
	"Find the running kernel of DOMAIN from its memory alone and print what\n"
	"hvpatch sees: the kernel release and GNU build-id, the accelerator, the\n"
	"paging mode (4- or 5-level), the CR3 used (and whether it was a PTI user\n"
	"CR3), the kernel's virtual and physical base (KASLR), the kernel-image\n"
	"page directory and its free entries, the number of kallsyms symbols, and\n"
	"how long the pause and the whole inspection took.  The guest's own\n"
	"/proc/kallsyms is never asked; no debug package is needed.\n"
	"\n"
	"Example:\n"
	"  hvpatch inspect guest1\n"
	"  hvpatch inspect --json --user-cr3 guest1\n"
	"\n";

static unsigned count_free(const struct hvi_kernel_loc *loc)
{
	unsigned i, n = 0;

	for (i = 0; i < HVI_L2_ENTRIES; i++)
		n += hvi_l2_entry_free(loc, i);
	return n;
}

int cmd_inspect(int argc, char **argv)
{
	struct iopts o;
	struct hvg *g = NULL;
	json_t *j = NULL;
	char rel[GUEST_TEXT_MAX];
	int rc = HV_EXIT_FAIL, i;

	i = parse("inspect", argc, argv, inspect_help, &o, &rc);
	if (i < 0)
		return rc;
	if (argc - i != 1)
		return cli_usage_error("inspect", "expected one DOMAIN");
	if (hvg_open(argv[i], &o.g, &g) < 0) {
		rc = cli_fail("inspect");
		goto out;
	}
	{
		const struct hvi_kernel *k = g->k;

		guest_text(k->release, rel, sizeof(rel));
		if (o.json) {
			j = json_object();
			json_object_set_new(j, "domain", json_string(g->info.name));
			json_object_set_new(j, "uuid", json_string(g->info.uuid));
			json_object_set_new(j, "accel", json_string(hva_accel_name(g->info.accel)));
			json_object_set_new(j, "release", json_string(rel));
			json_object_set_new(j, "build_id", json_string(k->build_id_hex));
			json_object_set_new(j, "paging", json_string(hvi_paging_mode_name(&k->pg)));
			json_object_set_new(j, "paging_levels", json_integer(k->pg.levels));
			json_object_set_new(j, "cpu", json_integer(g->cpu));
			json_object_set_new(j, "cpl", json_integer(g->regs.cpl));
			json_object_set_new(j, "cr3", hexnum(g->regs.cr3));
			json_object_set_new(j, "cr4", hexnum(g->regs.cr4));
			json_object_set_new(j, "pti_user_cr3", json_boolean(k->pg.pti_user));
			json_object_set_new(j, "kernel_pgd_gpa", hexnum(k->pg.pgd_gpa));
			json_object_set_new(j, "text_gva", hexnum(k->loc.text_gva));
			json_object_set_new(j, "text_gpa", hexnum(k->loc.text_gpa));
			json_object_set_new(j, "kaslr_offset",
					    hexnum((uint64_t)k->loc.kaslr_offset));
			json_object_set_new(j, "image_end_gva", hexnum(k->loc.image_end_gva));
			json_object_set_new(j, "end_gva", hexnum(k->end_gva));
			json_object_set_new(j, "l2_gpa", hexnum(k->loc.l2_gpa));
			json_object_set_new(j, "l2_image_first", json_integer(k->loc.first_index));
			json_object_set_new(j, "l2_image_end", json_integer(k->loc.end_index));
			json_object_set_new(j, "l2_free_entries",
					    json_integer(count_free(&k->loc)));
			json_object_set_new(j, "l2_first_free_after_image",
					    json_integer(hvi_l2_first_free_after_image(&k->loc)));
			json_object_set_new(j, "kallsyms_layout", json_string(k->tables.layout));
			json_object_set_new(j, "symbols", json_integer((json_int_t)k->nsyms));
			json_object_set_new(j, "idt_checked", json_boolean(k->idt_checked));
			json_object_set_new(j, "image_holes_4k", json_integer(k->image.holes));
			json_object_set_new(j, "image_read_in_place",
					    json_boolean(k->image.direct));
			json_object_set_new(j, "pauses", json_integer(g->pauses));
			json_object_set_new(j, "pause_us", json_integer((json_int_t)g->pause_us));
			json_object_set_new(j, "index_us", json_integer((json_int_t)g->index_us));
			json_object_set_new(j, "total_us", json_integer((json_int_t)g->total_us));
			if (print_json(j) < 0) {
				rc = cli_fail("inspect");
				goto out;
			}
		} else {
			printf("domain        %s (%s)\n", g->info.name, g->info.uuid);
			printf("release       %s\n", rel);
			printf("build-id      %s\n", k->build_id_hex);
			printf("accelerator   %s\n", hva_accel_name(g->info.accel));
			printf("paging        %s (vCPU %u, CPL %u, CR3 0x%" PRIx64 "%s)\n",
			       hvi_paging_mode_name(&k->pg), g->cpu, g->regs.cpl, g->regs.cr3,
			       k->pg.pti_user ? ", PTI user CR3: kernel PGD used" : "");
			printf("kernel base   virtual 0x%" PRIx64 ", physical 0x%" PRIx64
			       " (KASLR offset 0x%" PRIx64 ")\n",
			       k->loc.text_gva, k->loc.text_gpa, (uint64_t)k->loc.kaslr_offset);
			printf("image         0x%" PRIx64 "..0x%" PRIx64 " (_end 0x%" PRIx64 ")\n",
			       k->loc.text_gva, k->loc.image_end_gva, k->end_gva);
			printf("image PD      level2_kernel_pgt at 0x%" PRIx64
			       ": entries %u..%u, %u free, first free after the image %d\n",
			       k->loc.l2_gpa, k->loc.first_index, k->loc.end_index - 1,
			       count_free(&k->loc), hvi_l2_first_free_after_image(&k->loc));
			printf("symbols       %zu (kallsyms layout %s)\n", k->nsyms,
			       k->tables.layout);
			printf("cross-checks  kallsyms _text = page tables%s\n",
			       k->idt_checked ? ", IDT handler inside text" : "");
			printf("time          %.1f ms (pause %.3f ms over %u pauses, index %.1f "
			       "ms)\n",
			       g->total_us / 1000.0, g->pause_us / 1000.0, g->pauses,
			       g->index_us / 1000.0);
		}
	}
	rc = HV_EXIT_OK;
out:
	json_decref(j);
	hvg_close(g);
	return rc;
}

static const char sym_help[] =
	"Usage: hvpatch sym [OPTIONS] DOMAIN NAME...\n"
	"\n"
	"Print the address of each kernel symbol NAME of DOMAIN, decoded from the\n"
	"kernel's kallsyms tables in guest memory, as 'ADDRESS TYPE NAME'.  A name\n"
	"that several static symbols share prints all of them, in address order,\n"
	"as NAME@0, NAME@1, ...; ask for NAME@N to get only the N-th.  Per-cpu\n"
	"symbols print their per-cpu offset (not moved by KASLR).\n"
	"\n"
	"Example:\n"
	"  hvpatch sym guest1 cmdline_proc_show _text\n"
	"\n";

int cmd_sym(int argc, char **argv)
{
	struct iopts o;
	struct hvg *g = NULL;
	json_t *j = NULL, *arr = NULL;
	int rc = HV_EXIT_FAIL, i, a, missing = 0;

	i = parse("sym", argc, argv, sym_help, &o, &rc);
	if (i < 0)
		return rc;
	if (argc - i < 2)
		return cli_usage_error("sym", "expected DOMAIN and at least one NAME");
	if (hvg_open(argv[i], &o.g, &g) < 0) {
		rc = cli_fail("sym");
		goto out;
	}
	if (o.json) {
		j = json_object();
		json_object_set_new(j, "domain", json_string(g->info.name));
		json_object_set_new(j, "build_id", json_string(g->k->build_id_hex));
		json_object_set_new(j, "text_gva", hexnum(g->k->loc.text_gva));
		arr = json_array();
		json_object_set_new(j, "symbols", arr);
	}
	for (a = i + 1; a < argc; a++) {
		const char *q = argv[a];
		char nth[HVI_KSYM_NAME_MAX + 24];
		int n, k;

		/*
		 * The duplicates are fetched one by one as "name@k": a guest
		 * whose tables give one name to millions of symbols makes the
		 * output long, never a host allocation that large.
		 */
		if (strchr(q, '@'))
			n = hvi_sym_lookup(g->k->syms, q, &(struct hvi_sym){ 0 }) == 0 ? 1 : 0;
		else
			n = hvi_sym_lookup_all(g->k->syms, q, NULL, 0);
		if (n == 0 && !strchr(q, '@'))
			hv_err(HV_E_NOTFOUND, "the kernel of %s has no symbol named '%s'",
			       g->info.name, q);
		if (n == 0) {
			missing++;
			if (!o.json)
				cli_fail("sym");
			else {
				json_t *e = json_object();

				json_object_set_new(e, "query", json_string(q));
				json_object_set_new(e, "error", json_string(hv_err_last()->msg));
				json_array_append_new(arr, e);
			}
		}
		for (k = 0; k < n; k++) {
			struct hvi_sym s;
			char name[GUEST_TEXT_MAX], t[2];

			if (!strchr(q, '@'))
				snprintf(nth, sizeof(nth), "%s@%d", q, k);
			if (hvi_sym_lookup(g->k->syms, strchr(q, '@') ? q : nth, &s) < 0) {
				rc = cli_fail("sym");
				goto out;
			}
			guest_text(s.name, name, sizeof(name));
			guest_text((char[2]){ s.type, 0 }, t, sizeof(t));
			if (o.json) {
				json_t *e = json_object();

				json_object_set_new(e, "query", json_string(q));
				json_object_set_new(e, "name", json_string(name));
				json_object_set_new(e, "index", json_integer(s.dup_index));
				json_object_set_new(e, "count", json_integer(s.dup_count));
				json_object_set_new(e, "addr", hexnum(s.addr));
				json_object_set_new(e, "type", json_string(t));
				json_object_set_new(e, "absolute", json_boolean(s.absolute));
				json_array_append_new(arr, e);
			} else if (s.dup_count > 1) {
				printf("%016" PRIx64 " %s %s@%u\n", s.addr, t, name, s.dup_index);
			} else {
				printf("%016" PRIx64 " %s %s\n", s.addr, t, name);
			}
		}
	}
	if (o.json) {
		json_object_set_new(j, "missing", json_integer(missing));
		if (print_json(j) < 0) {
			rc = cli_fail("sym");
			goto out;
		}
	}
	rc = missing ? HV_EXIT_FAIL : HV_EXIT_OK;
out:
	json_decref(j);
	hvg_close(g);
	return rc;
}

static const char addr_help[] =
	"Usage: hvpatch addr [OPTIONS] DOMAIN ADDRESS...\n"
	"\n"
	"For each kernel virtual ADDRESS (hex with 0x, or decimal) of DOMAIN print\n"
	"the symbol that contains it as NAME+0xOFFSET, and where the page tables\n"
	"map it: the guest-physical address, the page size and the permissions\n"
	"(r, w, x, and u for user-accessible), as 'ADDRESS NAME+OFF GPA SIZE PERMS'.\n"
	"An address without a mapping prints '-' for the physical part.\n"
	"\n"
	"Example:\n"
	"  hvpatch addr guest1 0xffffffffb5412345\n"
	"\n";

int cmd_addr(int argc, char **argv)
{
	struct iopts o;
	struct hvg *g = NULL;
	json_t *j = NULL, *arr = NULL;
	int rc = HV_EXIT_FAIL, i, a, missing = 0;

	i = parse("addr", argc, argv, addr_help, &o, &rc);
	if (i < 0)
		return rc;
	if (argc - i < 2)
		return cli_usage_error("addr", "expected DOMAIN and at least one ADDRESS");
	for (a = i + 1; a < argc; a++) {
		uint64_t v;

		if (cli_parse_u64(argv[a], "ADDRESS", &v) < 0)
			return cli_usage_error("addr", "%s", hv_err_last()->msg);
	}
	if (hvg_open(argv[i], &o.g, &g) < 0) {
		rc = cli_fail("addr");
		goto out;
	}
	if (o.json) {
		j = json_object();
		json_object_set_new(j, "domain", json_string(g->info.name));
		json_object_set_new(j, "text_gva", hexnum(g->k->loc.text_gva));
		arr = json_array();
		json_object_set_new(j, "addresses", arr);
	}
	for (a = i + 1; a < argc; a++) {
		uint64_t v = 0, off = 0;
		struct hvi_sym s;
		struct hvi_walk w;
		int have_sym, have_map;
		char perms[5], name[GUEST_TEXT_MAX], t[2];

		if (cli_parse_u64(argv[a], "ADDRESS", &v) < 0)
			continue; /* checked above */
		have_sym = hvi_sym_by_addr(g->k->syms, v, 0, &s, &off) == 0;
		if (!have_sym)
			missing++;
		else {
			guest_text(s.name, name, sizeof(name));
			guest_text((char[2]){ s.type, 0 }, t, sizeof(t));
		}
		have_map = hvi_walk(&g->k->pg, v, &w) == 0;
		snprintf(perms, sizeof(perms), "r%c%c%c", (w.perms & HVI_PERM_W) ? 'w' : '-',
			 (w.perms & HVI_PERM_NX) ? '-' : 'x', (w.perms & HVI_PERM_U) ? 'u' : '-');
		if (o.json) {
			json_t *e = json_object();

			json_object_set_new(e, "addr", hexnum(v));
			if (have_sym) {
				json_object_set_new(e, "symbol", json_string(name));
				json_object_set_new(e, "index", json_integer(s.dup_index));
				json_object_set_new(e, "count", json_integer(s.dup_count));
				json_object_set_new(e, "offset", hexnum(off));
				json_object_set_new(e, "type", json_string(t));
			}
			json_object_set_new(e, "mapped", json_boolean(have_map));
			if (have_map) {
				json_object_set_new(e, "gpa", hexnum(w.gpa));
				json_object_set_new(e, "page_size",
						    json_integer((json_int_t)w.page_size));
				json_object_set_new(e, "perms", json_string(perms));
			}
			json_array_append_new(arr, e);
			continue;
		}
		printf("0x%016" PRIx64 " ", v);
		if (have_sym && s.dup_count > 1)
			printf("%s@%u+0x%" PRIx64, name, s.dup_index, off);
		else if (have_sym)
			printf("%s+0x%" PRIx64, name, off);
		else
			printf("?");
		if (have_map)
			printf(" 0x%" PRIx64 " %s %s\n", w.gpa,
			       w.page_size == HVI_PAGE_1G   ? "1G"
			       : w.page_size == HVI_PAGE_2M ? "2M"
							    : "4K",
			       perms);
		else
			printf(" - - -\n");
	}
	if (o.json) {
		json_object_set_new(j, "unresolved", json_integer(missing));
		if (print_json(j) < 0) {
			rc = cli_fail("addr");
			goto out;
		}
	}
	rc = missing ? HV_EXIT_FAIL : HV_EXIT_OK;
	fflush(stdout); /* results first, then the error */
	if (missing && !o.json)
		fprintf(stderr,
			"hvpatch addr: error: %d address(es) lie below every kernel symbol\n",
			missing);
out:
	json_decref(j);
	hvg_close(g);
	return rc;
}

static const char btf_help[] =
	"Usage: hvpatch btf [OPTIONS] DOMAIN QUERY...\n"
	"\n"
	"Read the kernel's own type information (BTF, between __start_BTF and\n"
	"__stop_BTF in the kernel image) from the memory of DOMAIN, and answer each\n"
	"QUERY from it:\n"
	"  TYPE.MEMBER[.MEMBER...]   offset and size of a member of a struct or union\n"
	"                            ('task_struct.thread.sp'; members of anonymous\n"
	"                            structs and unions are found as in C), printed\n"
	"                            as 'TYPE.PATH offset N size N'\n"
	"  TYPE                      size of a struct or union: 'TYPE size N'\n"
	"  enum:[ENUM.]NAME          value of an enumerator: 'enum NAME VALUE (HEX)'\n"
	"Bitfields and paths through pointers or arrays are refused.  Only enums are\n"
	"in BTF: a #define is not.  The kernel must have CONFIG_DEBUG_INFO_BTF.\n"
	"\n"
	"Example:\n"
	"  hvpatch btf guest1 task_struct.tasks task_struct.thread.sp \\\n"
	"      enum:FTRACE_FL_DISABLED\n"
	"\n";

/* Answer one query; print it (text) or add it to @arr (JSON).  Returns 0 or HV_E_*. */
static int btf_query(const struct hvi_btf *b, const char *q, json_t *arr)
{
	char buf[HVI_BTF_PATH_MAX + HVI_BTF_NAME_MAX + 16];
	const char *enum_type = NULL, *name;
	json_t *e = NULL;
	char *dot;
	uint32_t off = 0, size = 0;
	int64_t v = 0;
	int r;

	if (strlen(q) >= sizeof(buf)) {
		r = hv_err(HV_E_INVAL, "the query '%.40s...' is too long", q);
		goto out;
	}
	snprintf(buf, sizeof(buf), "%s", q);
	if (arr) {
		e = json_object();
		json_object_set_new(e, "query", json_string(q));
	}
	if (!strncmp(buf, "enum:", 5)) {
		name = buf + 5;
		dot = strchr(buf + 5, '.');
		if (dot) {
			*dot = 0;
			enum_type = buf + 5;
			name = dot + 1;
		}
		r = hvi_btf_enum_value(b, enum_type, name, &v);
		if (r < 0)
			goto out;
		if (e)
			json_object_set_new(e, "value", json_integer((json_int_t)v));
		else
			printf("enum %s %" PRId64 " (0x%" PRIx64 ")\n", name, v, (uint64_t)v);
	} else if ((dot = strchr(buf, '.'))) {
		*dot = 0;
		r = hvi_btf_member_offset(b, buf, dot + 1, &off, &size);
		if (r < 0)
			goto out;
		if (e) {
			json_object_set_new(e, "offset", json_integer(off));
			json_object_set_new(e, "size", json_integer(size));
		} else {
			printf("%s.%s offset %" PRIu32 " size %" PRIu32 "\n", buf, dot + 1, off,
			       size);
		}
	} else {
		r = hvi_btf_struct_size(b, buf, &size);
		if (r < 0)
			goto out;
		if (e)
			json_object_set_new(e, "size", json_integer(size));
		else
			printf("%s size %" PRIu32 "\n", buf, size);
	}
	r = 0;
out:
	if (e && r < 0)
		json_object_set_new(e, "error", json_string(hv_err_last()->msg));
	if (e)
		json_array_append_new(arr, e);
	return r;
}

int cmd_btf(int argc, char **argv)
{
	struct iopts o;
	struct hvg *g = NULL;
	struct hvi_btf *b = NULL;
	json_t *j = NULL, *arr = NULL;
	char rel[GUEST_TEXT_MAX];
	int rc = HV_EXIT_FAIL, i, a, missing = 0;

	i = parse("btf", argc, argv, btf_help, &o, &rc);
	if (i < 0)
		return rc;
	if (argc - i < 2)
		return cli_usage_error("btf", "expected DOMAIN and at least one QUERY");
	if (hvg_open(argv[i], &o.g, &g) < 0 || hvi_btf_open(g->k, &b) < 0) {
		rc = cli_fail("btf");
		goto out;
	}
	if (o.json) {
		j = json_object();
		json_object_set_new(j, "domain", json_string(g->info.name));
		json_object_set_new(j, "release",
				    json_string(guest_text(g->k->release, rel, sizeof(rel))));
		json_object_set_new(j, "build_id", json_string(g->k->build_id_hex));
		json_object_set_new(j, "btf_gva", hexnum(b->start_gva));
		json_object_set_new(j, "btf_bytes", json_integer(b->size_bytes));
		json_object_set_new(j, "btf_types", json_integer(b->ntypes));
		arr = json_array();
		json_object_set_new(j, "results", arr);
	}
	for (a = i + 1; a < argc; a++) {
		if (btf_query(b, argv[a], arr) == 0)
			continue;
		missing++;
		if (!o.json) {
			fflush(stdout); /* the answers so far first, then the error */
			cli_fail("btf");
		}
	}
	if (o.json) {
		json_object_set_new(j, "failed", json_integer(missing));
		if (print_json(j) < 0) {
			rc = cli_fail("btf");
			goto out;
		}
	}
	rc = missing ? HV_EXIT_FAIL : HV_EXIT_OK;
out:
	json_decref(j);
	hvi_btf_free(b);
	hvg_close(g);
	return rc;
}

static const char modules_help[] =
	"Usage: hvpatch modules [OPTIONS] DOMAIN [QUERY...]\n"
	"       hvpatch modules [OPTIONS] --symbols MODULE DOMAIN\n"
	"\n"
	"Find the loaded modules of DOMAIN's kernel from its memory alone: the\n"
	"kernel's module list (the symbol 'modules') and each module's own symbol\n"
	"table, with the structure layouts read from the kernel's BTF (the kernel\n"
	"must have CONFIG_DEBUG_INFO_BTF).  The guest's /proc/modules is never\n"
	"asked.\n"
	"\n"
	"Without QUERY, print one line per module, newest first, as\n"
	"'NAME STATE BASE SIZE TEXT': its state (live, coming, going, unformed),\n"
	"the start of its core layout, the core's size and the size of its text,\n"
	"in bytes.\n"
	"\n"
	"With --symbols MODULE, print every symbol of MODULE that lies inside its\n"
	"core layout, in address order, as 'ADDRESS TYPE MODULE:NAME SIZE' (a name\n"
	"that several symbols of the module share is printed NAME@N, N from 0 in\n"
	"address order).  Per-cpu symbols are left out (counted in --json).\n"
	"\n"
	"Each QUERY is one of:\n"
	"  MODULE:NAME[@N]   the address of a symbol of a module, printed as\n"
	"                    'ADDRESS TYPE MODULE:NAME SIZE'\n"
	"  ADDRESS           an address inside a module (hex with 0x, or decimal),\n"
	"                    printed as 'ADDRESS MODULE:NAME+0xOFFSET'\n"
	"\n"
	"Names of modules are shown as printable ASCII (other bytes as '?'); a\n"
	"module list or symbol table that loops, points outside the module or\n"
	"claims absurd sizes is refused with a message naming the module.  A\n"
	"module that loads or unloads while the list is read can make the read\n"
	"fail: run the command again.\n"
	"\n"
	"Example:\n"
	"  hvpatch modules guest1\n"
	"  hvpatch modules guest1 virtio_console:virtcons_probe\n"
	"  hvpatch modules --json --symbols virtio_console guest1\n"
	"\n";

static json_t *module_json(const struct hvi_module *m)
{
	char name[GUEST_TEXT_MAX];
	json_t *e = json_object();

	json_object_set_new(e, "name", json_string(guest_text(m->name, name, sizeof(name))));
	json_object_set_new(e, "state", json_string(m->state_name));
	json_object_set_new(e, "gva", hexnum(m->gva));
	json_object_set_new(e, "base", hexnum(m->base));
	json_object_set_new(e, "size", json_integer(m->size));
	json_object_set_new(e, "text_size", json_integer(m->text_size));
	json_object_set_new(e, "ro_size", json_integer(m->ro_size));
	return e;
}

/* One symbol line (text) or object (JSON) of module @m. */
static json_t *modsym_out(const struct hvi_module *m, const struct hvi_modsym *s, bool json)
{
	char mname[GUEST_TEXT_MAX], name[GUEST_TEXT_MAX], t[2], dup[16] = "";
	json_t *e;

	guest_text(m->name, mname, sizeof(mname));
	guest_text(s->name, name, sizeof(name));
	guest_text((char[2]){ s->type, 0 }, t, sizeof(t));
	if (s->dup_count > 1)
		snprintf(dup, sizeof(dup), "@%u", s->dup_index);
	if (!json) {
		printf("%016" PRIx64 " %s %s:%s%s %" PRIu64 "\n", s->addr, t, mname, name, dup,
		       s->size);
		return NULL;
	}
	e = json_object();
	json_object_set_new(e, "module", json_string(mname));
	json_object_set_new(e, "name", json_string(name));
	json_object_set_new(e, "index", json_integer(s->dup_index));
	json_object_set_new(e, "count", json_integer(s->dup_count));
	json_object_set_new(e, "addr", hexnum(s->addr));
	json_object_set_new(e, "type", json_string(t));
	json_object_set_new(e, "size", json_integer((json_int_t)s->size));
	return e;
}

/* --symbols MODULE.  Returns 0 or HV_E_*. */
static int modules_symbols(const struct hvg *g, const struct hvi_modules_layout *lay,
			   const struct hvi_modlist *l, const char *want, json_t *j)
{
	const struct hvi_module *m = hvi_modlist_find(l, want);
	struct hvi_modsyms *s = NULL;
	json_t *arr = NULL;
	char esc[GUEST_TEXT_MAX];
	size_t i;
	int r;

	if (!m) {
		r = hv_err(HV_E_NOTFOUND,
			   "module %s is not loaded in %s: 'hvpatch modules %s' lists those that "
			   "are",
			   cli_escape(want, esc, sizeof(esc)), g->info.name, g->info.name);
		goto out;
	}
	r = hvi_module_syms_read(&g->k->pg, lay, m, &s);
	if (r < 0)
		goto out;
	if (j) {
		json_object_set_new(j, "module", module_json(m));
		json_object_set_new(j, "skipped", json_integer((json_int_t)hvi_modsyms_skipped(s)));
		arr = json_array();
		json_object_set_new(j, "symbols", arr);
	}
	for (i = 0; i < hvi_modsyms_count(s); i++) {
		struct hvi_modsym sym;

		r = hvi_modsyms_get(s, i, &sym);
		if (r < 0)
			goto out;
		if (arr)
			json_array_append_new(arr, modsym_out(m, &sym, true));
		else
			modsym_out(m, &sym, false);
	}
	r = 0;
out:
	hvi_modsyms_free(s);
	return r;
}

/* One QUERY: MODULE:NAME or an ADDRESS.  Returns 0 or HV_E_*. */
static int modules_query(const struct hvg *g, const struct hvi_modules_layout *lay,
			 const struct hvi_modlist *l, const char *q, json_t *arr)
{
	const struct hvi_module *m = NULL;
	struct hvi_modsyms *s = NULL;
	struct hvi_modsym sym;
	char nb[HVI_MODULE_SYM_NAME_MAX + 1], mname[GUEST_TEXT_MAX], name[GUEST_TEXT_MAX];
	uint64_t addr = 0, off = 0;
	json_t *e = NULL;
	size_t i;
	int r;

	if (strchr(q, ':')) {
		r = hvi_modules_resolve(&g->k->pg, lay, l, q, &sym, nb, sizeof(nb), &m);
		if (r < 0)
			goto out;
		e = modsym_out(m, &sym, arr != NULL);
		if (e)
			json_object_set_new(e, "query", json_string(q));
		r = 0;
		goto out;
	}
	r = cli_parse_u64(q, "QUERY", &addr);
	if (r < 0) {
		r = hv_err(HV_E_INVAL,
			   "a QUERY is MODULE:NAME or an address, and '%.80s' is neither", q);
		goto out;
	}
	for (i = 0; i < l->n && !m; i++)
		if (addr >= l->mods[i].base && addr - l->mods[i].base < l->mods[i].size)
			m = &l->mods[i];
	if (!m) {
		r = hv_err(HV_E_NOTFOUND, "0x%" PRIx64 " lies in no loaded module of %s", addr,
			   g->info.name);
		goto out;
	}
	r = hvi_module_syms_read(&g->k->pg, lay, m, &s);
	if (r >= 0)
		r = hvi_modsyms_by_addr(s, addr, &sym, &off);
	if (r < 0) {
		r = hv_err_prefix("module %s", m->name);
		goto out;
	}
	guest_text(m->name, mname, sizeof(mname));
	guest_text(sym.name, name, sizeof(name));
	if (arr) {
		e = json_object();
		json_object_set_new(e, "query", json_string(q));
		json_object_set_new(e, "addr", hexnum(addr));
		json_object_set_new(e, "module", json_string(mname));
		json_object_set_new(e, "name", json_string(name));
		json_object_set_new(e, "index", json_integer(sym.dup_index));
		json_object_set_new(e, "count", json_integer(sym.dup_count));
		json_object_set_new(e, "offset", hexnum(off));
	} else if (sym.dup_count > 1) {
		printf("0x%016" PRIx64 " %s:%s@%u+0x%" PRIx64 "\n", addr, mname, name,
		       sym.dup_index, off);
	} else {
		printf("0x%016" PRIx64 " %s:%s+0x%" PRIx64 "\n", addr, mname, name, off);
	}
	r = 0;
out:
	if (arr && r < 0) {
		e = json_object();
		json_object_set_new(e, "query", json_string(q));
		json_object_set_new(e, "error", json_string(hv_err_last()->msg));
	}
	if (arr && e)
		json_array_append_new(arr, e);
	hvi_modsyms_free(s);
	return r;
}

int cmd_modules(int argc, char **argv)
{
	struct iopts o;
	struct hvg *g = NULL;
	struct hvi_btf *b = NULL;
	struct hvi_modlist *l = NULL;
	struct hvi_modules_layout lay;
	json_t *j = NULL, *arr = NULL;
	char rel[GUEST_TEXT_MAX];
	int rc = HV_EXIT_FAIL, i, a, missing = 0;
	uint64_t t0_us, list_us;
	size_t k;

	i = parse("modules", argc, argv, modules_help, &o, &rc);
	if (i < 0)
		return rc;
	if (o.symbols && argc - i != 1)
		return cli_usage_error("modules", "--symbols MODULE takes only a DOMAIN, no QUERY");
	if (hvg_open(argv[i], &o.g, &g) < 0 || hvi_btf_open(g->k, &b) < 0) {
		rc = cli_fail("modules");
		goto out;
	}
	t0_us = hv_mono_us();
	if (hvi_modules_open(g->k, b, &lay, &l) < 0) {
		rc = cli_fail("modules");
		goto out;
	}
	list_us = hv_mono_us() - t0_us;
	if (o.json) {
		j = json_object();
		json_object_set_new(j, "domain", json_string(g->info.name));
		json_object_set_new(j, "release",
				    json_string(guest_text(g->k->release, rel, sizeof(rel))));
		json_object_set_new(j, "build_id", json_string(g->k->build_id_hex));
		json_object_set_new(j, "module_count", json_integer((json_int_t)l->n));
		json_object_set_new(j, "list_us", json_integer((json_int_t)list_us));
	}
	if (o.symbols) {
		if (modules_symbols(g, &lay, l, o.symbols, j) < 0) {
			rc = cli_fail("modules");
			goto out;
		}
	} else if (argc - i == 1) {
		if (j) {
			arr = json_array();
			json_object_set_new(j, "modules", arr);
		}
		for (k = 0; k < l->n; k++) {
			const struct hvi_module *m = &l->mods[k];
			char name[GUEST_TEXT_MAX];

			if (arr)
				json_array_append_new(arr, module_json(m));
			else
				printf("%-24s %-8s 0x%016" PRIx64 " %8" PRIu32 " %8" PRIu32 "\n",
				       guest_text(m->name, name, sizeof(name)), m->state_name,
				       m->base, m->size, m->text_size);
		}
	} else {
		if (j) {
			arr = json_array();
			json_object_set_new(j, "results", arr);
		}
		for (a = i + 1; a < argc; a++) {
			if (modules_query(g, &lay, l, argv[a], arr) == 0)
				continue;
			missing++;
			if (!o.json) {
				fflush(stdout); /* the answers so far first, then the error */
				cli_fail("modules");
			}
		}
		if (j)
			json_object_set_new(j, "missing", json_integer(missing));
	}
	if (j && print_json(j) < 0) {
		rc = cli_fail("modules");
		goto out;
	}
	rc = missing ? HV_EXIT_FAIL : HV_EXIT_OK;
out:
	json_decref(j);
	hvi_modlist_free(l);
	hvi_btf_free(b);
	hvg_close(g);
	return rc;
}
