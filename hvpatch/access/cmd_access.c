/*
 * hvpatch vcpus / peek / poke / describe: the access layer from the command
 * line, for operators and for the live tests.
 */
#include "config.h"

#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <jansson.h>

#include "cli.h"
#include "hv_hex.h"
#include "commands.h"
#include "hva.h"

#define PEEK_MAX_BYTES (16u << 20)
#define POKE_MAX_BYTES 4096u

struct common {
	const char *uri;
	const char *qmp;
	int json;
	unsigned deadline_ms;
	int allow_bench; /* accepts --hold-ms and --count */
	unsigned hold_ms;
	unsigned count;
	/* Where --phys and --yes go, for the commands that take them. */
	uint64_t *phys;
	int *have_phys;
	int *yes;
};

static const char exit_help[] = "\n"
				"Options may come before or after the operands.\n";

enum {
	OPT_PHYS = CLI_OPT_OWN,
	OPT_YES,
	OPT_HOLD,
	OPT_COUNT
};

static int take(void *ctx, int o, const char *arg)
{
	struct common *c = ctx;
	uint64_t v;

	switch (o) {
	case OPT_PHYS:
		if (!c->phys)
			return hv_err(HV_E_INVAL, "--phys does not apply here");
		if (cli_parse_u64(arg, "--phys address", c->phys) < 0)
			return hv_err_last()->code;
		*c->have_phys = 1;
		return 0;
	case OPT_YES:
		if (!c->yes)
			return hv_err(HV_E_INVAL, "--yes does not apply here");
		*c->yes = 1;
		return 0;
	case OPT_HOLD:
	case OPT_COUNT:
		if (!c->allow_bench)
			return hv_err(HV_E_INVAL, "%s does not apply here",
				      o == OPT_HOLD ? "--hold-ms" : "--count");
		if (cli_parse_u64(arg, o == OPT_HOLD ? "--hold-ms" : "--count", &v) < 0 ||
		    v > 100000)
			return hv_err(HV_E_INVAL, "%s wants a number up to 100000, not '%s'",
				      o == OPT_HOLD ? "--hold-ms" : "--count", arg);
		if (o == OPT_HOLD)
			c->hold_ms = (unsigned)v;
		else
			c->count = (unsigned)v;
		return 0;
	default:
		return hv_err(HV_E_INVAL, "unknown option");
	}
}

/* Parse the options every access command shares; returns the next argv index
 * or -1 after printing a usage error or the help (*rc set). */
static int parse_common(const char *cmd, int argc, char **argv, struct common *c, const char *help,
			uint64_t *phys, int *have_phys, int *yes, int *rc)
{
	static const struct option own[] = {
		{ "phys", required_argument, NULL, OPT_PHYS },
		{ "yes", no_argument, NULL, OPT_YES },
		{ "hold-ms", required_argument, NULL, OPT_HOLD },
		{ "count", required_argument, NULL, OPT_COUNT },
		{ NULL, 0, NULL, 0 },
	};
	struct cli_spec spec = { .cmd = cmd,
				 .help = help,
				 .own = own,
				 .take = take,
				 .ctx = c,
				 .guest = CLI_G_ALL,
				 .extra_help = exit_help };
	struct cli_guest g;
	int bench = c->allow_bench, i;

	memset(c, 0, sizeof(*c));
	c->allow_bench = bench;
	c->phys = phys;
	c->have_phys = have_phys;
	c->yes = yes;
	i = cli_parse(&spec, argc, argv, &g, rc);
	if (i < 0)
		return -1;
	c->uri = g.uri;
	c->qmp = g.qmp_socket;
	c->deadline_ms = g.deadline_ms;
	c->json = g.json;
	return i;
}

static int open_guest(const char *domain, const struct common *c, struct hva **h)
{
	struct hva_open_opts o = { .uri = c->uri,
				   .qmp_socket = c->qmp,
				   .pause_deadline_ms = c->deadline_ms };

	return hva_open(domain, &o, h);
}

static void print_json(json_t *j)
{
	char *s = json_dumps(j, JSON_INDENT(2) | JSON_PRESERVE_ORDER);

	if (s)
		puts(s);
	free(s);
}

static const char vcpus_help[] =
	"Usage: hvpatch vcpus [OPTIONS] DOMAIN\n"
	"\n"
	"Pause DOMAIN for a moment, read each vCPU's registers (RIP, RSP, CR0,\n"
	"CR2, CR3, CR4, EFER, GS base, kernel GS base, CPL, IDTR), resume it,\n"
	"and print them with the length of the pause.\n"
	"\n";

int cmd_vcpus(int argc, char **argv)
{
	struct hva_regs regs[HVA_MAX_VCPUS];
	struct hva_info info;
	struct common c = { .allow_bench = 0 };
	struct hva *h = NULL;
	uint64_t pause_us = 0;
	json_t *j = NULL, *arr;
	int rc = HV_EXIT_FAIL, i, r;
	unsigned n = 0, k;

	i = parse_common("vcpus", argc, argv, &c, vcpus_help, NULL, NULL, NULL, &rc);
	if (i < 0)
		return rc;
	if (argc - i != 1)
		return cli_usage_error("vcpus", "expected one DOMAIN");
	if (open_guest(argv[i], &c, &h) < 0 || hva_describe(h, &info) < 0)
		goto fail;
	if (hva_pause(h) < 0)
		goto fail;
	for (k = 0; k < info.nvcpus; k++) {
		r = hva_read_regs(h, k, &regs[k]);
		if (r < 0)
			break;
		n++;
	}
	if (hva_resume(h, &pause_us) < 0 || n < info.nvcpus) {
		if (n < info.nvcpus) {
			uint64_t ignored;

			/* The read error is the one to report; resume quietly. */
			if (hva_is_paused(h) && hva_resume(h, &ignored) < 0)
				goto fail;
		}
		goto fail;
	}
	if (c.json) {
		j = json_pack("{s:s,s:s,s:s,s:I,s:[]}", "domain", info.name, "uuid", info.uuid,
			      "accel", hva_accel_name(info.accel), "pause_us", (json_int_t)pause_us,
			      "vcpus");
		arr = json_object_get(j, "vcpus");
		for (k = 0; k < n; k++) {
			char buf[20];
			json_t *o = json_object();

#define HX(f)                                                          \
	snprintf(buf, sizeof(buf), "0x%" PRIx64, (uint64_t)regs[k].f); \
	json_object_set_new(o, #f, json_string(buf))
			json_object_set_new(o, "cpu", json_integer(k));
			HX(rip);
			HX(rsp);
			HX(cr0);
			HX(cr2);
			HX(cr3);
			HX(cr4);
			HX(efer);
			HX(gs_base);
			HX(kernel_gs_base);
			HX(idtr_base);
#undef HX
			json_object_set_new(o, "cpl", json_integer(regs[k].cpl));
			json_array_append_new(arr, o);
		}
		print_json(j);
	} else {
		printf("%s (%s, %s): %u vCPUs, paused %" PRIu64 " us to read them\n", info.name,
		       info.uuid, hva_accel_name(info.accel), n, pause_us);
		for (k = 0; k < n; k++) {
			const struct hva_regs *g = &regs[k];

			printf("vCPU %u: CPL=%u RIP=%016" PRIx64 " RSP=%016" PRIx64 "\n", k, g->cpl,
			       g->rip, g->rsp);
			printf("  CR0=%08" PRIx64 " CR2=%016" PRIx64 " CR3=%016" PRIx64
			       " CR4=%08" PRIx64 " EFER=%" PRIx64 "\n",
			       g->cr0, g->cr2, g->cr3, g->cr4, g->efer);
			printf("  GS_BASE=%016" PRIx64 " KERNEL_GS_BASE=%016" PRIx64
			       " IDTR=%016" PRIx64 "/%x\n",
			       g->gs_base, g->kernel_gs_base, g->idtr_base, g->idtr_limit);
		}
	}
	rc = HV_EXIT_OK;
	goto out;
fail:
	rc = cli_fail("vcpus");
out:
	json_decref(j);
	hva_close(h);
	return rc;
}

static const char peek_help[] =
	"Usage: hvpatch peek [OPTIONS] DOMAIN --phys ADDR LEN\n"
	"\n"
	"Print LEN bytes (at most 16 MiB) of DOMAIN's guest-physical memory at\n"
	"ADDR as a hex dump (or, with --json, as one hex string).  Reads come\n"
	"from the shared RAM mapping without pausing the guest; memory outside\n"
	"it is read through the gdbstub in a short pause.\n"
	"\n";

int cmd_peek(int argc, char **argv)
{
	struct common c = { .allow_bench = 0 };
	struct hva *h = NULL;
	uint64_t gpa = 0, len = 0, pause_us = 0;
	uint8_t *buf = NULL;
	int have = 0, rc = HV_EXIT_FAIL, i, r;
	json_t *j = NULL;
	size_t k;

	i = parse_common("peek", argc, argv, &c, peek_help, &gpa, &have, NULL, &rc);
	if (i < 0)
		return rc;
	if (!have)
		return cli_usage_error("peek", "--phys ADDR is required");
	if (argc - i != 2)
		return cli_usage_error("peek", "expected DOMAIN and LEN");
	if (cli_parse_u64(argv[i + 1], "LEN", &len) < 0)
		return cli_fail("peek");
	if (len == 0 || len > PEEK_MAX_BYTES)
		return cli_usage_error("peek", "LEN must be 1 to %u bytes", PEEK_MAX_BYTES);
	buf = malloc(len);
	if (!buf) {
		hv_err(HV_E_NOMEM, "out of memory for %" PRIu64 " bytes", len);
		goto fail;
	}
	if (open_guest(argv[i], &c, &h) < 0)
		goto fail;
	r = hva_read_phys(h, gpa, buf, len);
	if (r == HV_E_UNSUPPORTED) {
		/* Not in shared RAM: read through the gdbstub in a pause. */
		hv_err_clear();
		if (hva_pause(h) < 0)
			goto fail;
		r = hva_read_phys(h, gpa, buf, len);
		if (hva_resume(h, &pause_us) < 0 && r == 0)
			goto fail;
	}
	if (r < 0)
		goto fail;
	if (c.json) {
		char *hex = malloc(2 * len + 1);

		if (!hex) {
			hv_err(HV_E_NOMEM, "out of memory");
			goto fail;
		}
		hv_hex_encode(hex, 2 * len + 1, buf, len);
		j = json_pack("{s:I,s:I,s:s,s:I}", "phys", (json_int_t)gpa, "length",
			      (json_int_t)len, "hex", hex, "pause_us", (json_int_t)pause_us);
		free(hex);
		print_json(j);
	} else {
		for (k = 0; k < len; k += 16) {
			size_t m, e = len - k < 16 ? len - k : 16;

			printf("%016" PRIx64 ":", gpa + k);
			for (m = 0; m < 16; m++) {
				if (m < e)
					printf(" %02x", buf[k + m]);
				else
					printf("   ");
			}
			printf("  |");
			for (m = 0; m < e; m++)
				putchar(buf[k + m] >= 32 && buf[k + m] < 127 ? buf[k + m] : '.');
			printf("|\n");
		}
	}
	rc = HV_EXIT_OK;
	goto out;
fail:
	rc = cli_fail("peek");
out:
	json_decref(j);
	free(buf);
	hva_close(h);
	return rc;
}

static const char poke_help[] =
	"Usage: hvpatch poke [OPTIONS] DOMAIN --phys ADDR HEX --yes\n"
	"\n"
	"Write the bytes HEX (e.g. 0f1f440000, at most 4096 bytes) into DOMAIN's\n"
	"guest-physical memory at ADDR, in one pause, so that the running guest\n"
	"sees them at once: through the QEMU gdbstub under TCG (it discards\n"
	"translated code), through the shared RAM mapping under KVM.  The bytes\n"
	"are read back before the guest resumes.  This can crash the guest:\n"
	"it needs root and the --yes flag.  It prints the old bytes, so the\n"
	"change can be undone with a second poke.\n"
	"\n";

static int parse_hex(const char *s, uint8_t *out, size_t max, size_t *n)
{
	size_t len = strlen(s);

	if (len == 0 || len % 2)
		return hv_err(HV_E_INVAL, "HEX '%s' must be an even number of hex digits", s);
	if (len / 2 > max)
		return hv_err(HV_E_INVAL, "HEX has %zu bytes; at most %zu can be written at once",
			      len / 2, max);
	if (hv_hex_decode(s, len, out, max, n, "HEX") < 0)
		return hv_err(HV_E_INVAL, "%s", hv_err_last()->msg);
	return 0;
}

int cmd_poke(int argc, char **argv)
{
	uint8_t data[POKE_MAX_BYTES], old[POKE_MAX_BYTES], back[POKE_MAX_BYTES];
	struct common c = { .allow_bench = 0 };
	struct hva *h = NULL;
	uint64_t gpa = 0, pause_us = 0;
	enum hva_write_path used = HVA_WRITE_NONE;
	int have = 0, yes = 0, rc = HV_EXIT_FAIL, i, r;
	size_t n = 0, k;

	i = parse_common("poke", argc, argv, &c, poke_help, &gpa, &have, &yes, &rc);
	if (i < 0)
		return rc;
	if (!have)
		return cli_usage_error("poke", "--phys ADDR is required");
	if (argc - i != 2)
		return cli_usage_error("poke", "expected DOMAIN and HEX");
	if (!yes)
		return cli_usage_error(
			"poke", "writing guest memory can crash the guest; add --yes to do it");
	if (geteuid() != 0) {
		hv_err(HV_E_PERM, "writing guest memory needs root");
		goto fail;
	}
	if (parse_hex(argv[i + 1], data, sizeof(data), &n) < 0)
		goto fail;
	if (open_guest(argv[i], &c, &h) < 0)
		goto fail;
	if (hva_pause(h) < 0)
		goto fail;
	r = hva_read_phys(h, gpa, old, n);
	if (r == 0)
		r = hva_write_phys(h, gpa, data, n, &used);
	if (r == 0)
		r = hva_read_phys(h, gpa, back, n);
	if (r == 0 && memcmp(back, data, n) != 0)
		r = hv_err(HV_E_VERIFY,
			   "reading back guest-physical 0x%" PRIx64
			   " did not return the bytes written",
			   gpa);
	if (r < 0) {
		uint64_t ignored;

		if (used != HVA_WRITE_NONE) {
			enum hva_write_path u2;

			/* Put the old bytes back before the guest runs again. */
			hv_err_clear();
			if (hva_write_phys(h, gpa, old, n, &u2) < 0)
				hv_err_clear();
		}
		if (hva_is_paused(h) && hva_resume(h, &ignored) < 0)
			hv_err_clear();
		goto fail;
	}
	if (hva_resume(h, &pause_us) < 0)
		goto fail;
	if (c.json) {
		json_t *j;
		char oldhex[2 * POKE_MAX_BYTES + 1];

		hv_hex_encode(oldhex, sizeof(oldhex), old, n);
		j = json_pack("{s:I,s:I,s:s,s:s,s:I}", "phys", (json_int_t)gpa, "length",
			      (json_int_t)n, "old_hex", oldhex, "path", hva_write_path_name(used),
			      "pause_us", (json_int_t)pause_us);
		print_json(j);
		json_decref(j);
	} else {
		printf("wrote %zu bytes at guest-physical 0x%" PRIx64
		       " through the %s, paused %" PRIu64 " us\nold bytes: ",
		       n, gpa, hva_write_path_name(used), pause_us);
		for (k = 0; k < n; k++)
			printf("%02x", old[k]);
		printf("\n");
	}
	rc = HV_EXIT_OK;
	goto out;
fail:
	rc = cli_fail("poke");
out:
	hva_close(h);
	return rc;
}

static const char describe_help[] =
	"Usage: hvpatch describe [OPTIONS] DOMAIN\n"
	"\n"
	"Print what hvpatch sees of DOMAIN from the host: name, UUID,\n"
	"accelerator, memory size and RAM regions, the patch area and the\n"
	"agent channel socket.  The guest is not paused.\n"
	"\n";

int cmd_describe(int argc, char **argv)
{
	struct hva_info info;
	struct common c = { .allow_bench = 0 };
	struct hva *h = NULL;
	int rc = HV_EXIT_FAIL, i;
	unsigned k;

	i = parse_common("describe", argc, argv, &c, describe_help, NULL, NULL, NULL, &rc);
	if (i < 0)
		return rc;
	if (argc - i != 1)
		return cli_usage_error("describe", "expected one DOMAIN");
	if (open_guest(argv[i], &c, &h) < 0 || hva_describe(h, &info) < 0) {
		rc = cli_fail("describe");
		goto out;
	}
	if (c.json) {
		json_t *j = json_pack("{s:s,s:s,s:s,s:I,s:i,s:i,s:[]}", "name", info.name, "uuid",
				      info.uuid, "accel", hva_accel_name(info.accel), "mem_bytes",
				      (json_int_t)info.mem_bytes, "vcpus", (int)info.nvcpus,
				      "qemu_pid", info.qemu_pid, "regions");
		json_t *arr = json_object_get(j, "regions");

		for (k = 0; k < info.nregions; k++)
			json_array_append_new(
				arr, json_pack("{s:s,s:I,s:I}", "name", info.regions[k].name, "gpa",
					       (json_int_t)info.regions[k].gpa, "size",
					       (json_int_t)info.regions[k].size));
		if (info.has_area)
			json_object_set_new(j, "patch_area",
					    json_pack("{s:I,s:I,s:s,s:b}", "gpa",
						      (json_int_t)info.area_gpa, "size",
						      (json_int_t)info.area_size, "file",
						      info.area_shm, "guest_readonly", 1));
		else
			json_object_set_new(j, "patch_area", json_null());
		if (!info.has_area && info.area_shm[0])
			json_object_set_new(j, "patch_area_note", json_string(info.area_shm));
		json_object_set_new(j, "agent_socket",
				    info.agent_socket[0] ? json_string(info.agent_socket)
							 : json_null());
		print_json(j);
		json_decref(j);
	} else {
		printf("name:         %s\nuuid:         %s\naccelerator:  %s\nmemory:       "
		       "%" PRIu64 " MiB in %u region(s)\nvCPUs:        %u\n",
		       info.name, info.uuid, hva_accel_name(info.accel), info.mem_bytes >> 20,
		       info.nregions, info.nvcpus);
		for (k = 0; k < info.nregions; k++)
			printf("  %-12s gpa 0x%" PRIx64 " size 0x%" PRIx64 "\n",
			       info.regions[k].name, info.regions[k].gpa, info.regions[k].size);
		if (info.has_area)
			printf("patch area:   gpa 0x%" PRIx64 ", %" PRIu64
			       " KiB, %s (read-only to the "
			       "guest)\n",
			       info.area_gpa, info.area_size >> 10, info.area_shm);
		else
			printf("patch area:   none (%s)\n",
			       info.area_shm[0] ? info.area_shm : "run 'hvpatch enroll'");
		printf("agent socket: %s\n", info.agent_socket[0] ? info.agent_socket : "none");
	}
	rc = HV_EXIT_OK;
out:
	hva_close(h);
	return rc;
}

static const char bench_pause_help[] =
	"Usage: hvpatch bench-pause [OPTIONS] DOMAIN [--count N] [--hold-ms MS]\n"
	"\n"
	"Pause and resume DOMAIN N times (default 20), holding each pause for MS\n"
	"milliseconds (default 0), and print the median, p99 and longest pause\n"
	"length in microseconds.  This measures what a patch's pause costs\n"
	"before any bytes are written.  A hold longer than --deadline-ms shows\n"
	"the deadline at work: hvpatch resumes the guest by itself and reports it.\n"
	"\n";

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

int cmd_bench_pause(int argc, char **argv)
{
	struct common c = { .allow_bench = 1 };
	struct hva *h = NULL;
	uint64_t *us = NULL;
	unsigned k, n;
	int rc = HV_EXIT_FAIL, i;

	i = parse_common("bench-pause", argc, argv, &c, bench_pause_help, NULL, NULL, NULL, &rc);
	if (i < 0)
		return rc;
	if (argc - i != 1)
		return cli_usage_error("bench-pause", "expected one DOMAIN");
	n = c.count ? c.count : 20;
	us = calloc(n, sizeof(*us));
	if (!us) {
		hv_err(HV_E_NOMEM, "out of memory");
		goto fail;
	}
	if (open_guest(argv[i], &c, &h) < 0)
		goto fail;
	for (k = 0; k < n; k++) {
		if (hva_pause(h) < 0)
			goto fail;
		if (c.hold_ms)
			usleep(c.hold_ms * 1000u);
		if (hva_resume(h, &us[k]) < 0)
			goto fail;
	}
	qsort(us, n, sizeof(*us), cmp_u64);
	if (c.json) {
		json_t *j = json_pack("{s:I,s:I,s:I,s:I,s:I}", "count", (json_int_t)n, "hold_ms",
				      (json_int_t)c.hold_ms, "median_us", (json_int_t)us[n / 2],
				      "p99_us",
				      (json_int_t)us[(n * 99) / 100 < n ? (n * 99) / 100 : n - 1],
				      "max_us", (json_int_t)us[n - 1]);

		print_json(j);
		json_decref(j);
	} else {
		printf("%u pauses of %s (hold %u ms): median %" PRIu64 " us, p99 %" PRIu64
		       " us, max %" PRIu64 " us\n",
		       n, argv[i], c.hold_ms, us[n / 2],
		       us[(n * 99) / 100 < n ? (n * 99) / 100 : n - 1], us[n - 1]);
	}
	rc = HV_EXIT_OK;
	goto out;
fail:
	rc = cli_fail("bench-pause");
out:
	free(us);
	hva_close(h);
	return rc;
}
