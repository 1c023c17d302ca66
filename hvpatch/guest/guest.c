#include "config.h"

#include "guest.h"
#include "hv_clock.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static int mem_read(void *ctx, uint64_t gpa, void *buf, size_t len)
{
	return hva_read_phys(ctx, gpa, buf, len);
}

/* A direct pointer into the session's memfd RAM mapping, or NULL. */
static const uint8_t *mem_map(void *ctx, uint64_t gpa, size_t len)
{
	return hva_ram_view(ctx, gpa, len);
}

/* Highest end of guest RAM over the regions (or the memory size). */
static uint64_t ram_end(const struct hva_info *info)
{
	uint64_t end = 0;
	unsigned i;

	for (i = 0; i < info->nregions && i < HVA_MAX_REGIONS; i++)
		if (info->regions[i].gpa + info->regions[i].size > end)
			end = info->regions[i].gpa + info->regions[i].size;
	if (!end)
		end = info->mem_bytes;
	return end;
}

/*
 * Pause, read the registers of the wanted vCPU (or look for one in user
 * mode), resume unless the caller had it paused.
 */
static int read_regs(struct hvg *g, const struct hvg_opts *o)
{
	bool was_paused = hva_is_paused(g->h);
	uint64_t start = hv_mono_us(),
		 wait_us = 1000ull * (o->user_wait_ms ? o->user_wait_ms : 30000);
	unsigned k;
	int r = 0, found = 0;

	if (o->cpu >= 0 && (unsigned)o->cpu >= g->info.nvcpus) {
		r = hv_err(HV_E_INVAL, "domain %s has %u vCPUs; there is no vCPU %d", g->info.name,
			   g->info.nvcpus, o->cpu);
		goto out;
	}
	while (!found) {
		uint64_t us = 0;
		int rr = 0;

		if (!was_paused) {
			r = hva_pause(g->h);
			if (r < 0)
				goto out;
		}
		g->pauses++;
		for (k = 0; k < g->info.nvcpus && !found; k++) {
			if (o->cpu >= 0 && k != (unsigned)o->cpu)
				continue;
			/* IDTR costs a monitor round trip: read it only for the vCPU used */
			rr = hva_read_regs_fast(g->h, k, &g->regs);
			if (rr < 0)
				break;
			if (!o->user_cr3 || g->regs.cpl == 3) {
				g->cpu = k;
				found = 1;
				if (o->idt_check) {
					rr = hva_read_regs(g->h, k, &g->regs);
					if (rr < 0)
						break;
				}
			}
		}
		if (!was_paused) {
			r = hva_resume(g->h, &us);
			if (us > g->pause_us)
				g->pause_us = us;
		}
		if (rr < 0) {
			r = rr;
			goto out;
		}
		if (r < 0)
			goto out;
		if (!found && (was_paused || hv_mono_us() - start > wait_us)) {
			r = hv_err(
				HV_E_TIMEOUT,
				"no vCPU of %s was in user mode (CPL 3) in %u pauses over %" PRIu64
				" ms; run a user-mode load in the guest or drop --user-cr3",
				g->info.name, g->pauses, (hv_mono_us() - start) / 1000);
			goto out;
		}
		if (!found) {
			struct timespec ts = { 0, 2000000 };

			nanosleep(&ts, NULL);
		}
	}
out:
	return r;
}

static int see(struct hvg *g, const struct hvg_opts *o)
{
	struct hvi_open_opts ko;
	uint64_t t0;
	int r;

	r = hva_describe(g->h, &g->info);
	if (r < 0)
		goto out;
	r = read_regs(g, o);
	if (r < 0)
		goto out;
	/* a vCPU still in the firmware or the boot code has no kernel page tables */
	if (!(g->regs.cr0 & (1ull << 31)) || !(g->regs.efer & (1ull << 10))) {
		r = hv_err(HV_E_STATE,
			   "vCPU %u of %s is not in 64-bit mode with paging (CR0 0x%" PRIx64
			   ", EFER 0x%" PRIx64 "): the guest kernel has not started yet; try again "
			   "once it has booted",
			   g->cpu, g->info.name, g->regs.cr0, g->regs.efer);
		goto out;
	}
	g->mem.read = mem_read;
	g->mem.map = mem_map;
	g->mem.ctx = g->h;
	g->mem.max_gpa = ram_end(&g->info);
	memset(&ko, 0, sizeof(ko));
	if (o->idt_check && g->regs.idtr_valid) {
		ko.idtr_base = g->regs.idtr_base;
		ko.idtr_limit = g->regs.idtr_limit;
	}
	t0 = hv_mono_us();
	r = hvi_kernel_open(&g->mem, g->regs.cr3, g->regs.cr4, &ko, &g->k);
	g->index_us = hv_mono_us() - t0;
	if (r < 0) {
		hv_err_prefix("cannot see the kernel of %s (vCPU %u, CR3 0x%" PRIx64 ")",
			      g->info.name, g->cpu, g->regs.cr3);
		goto out;
	}
out:
	return r;
}

int hvg_attach(struct hva *h, const struct hvg_opts *opts, struct hvg **out)
{
	static const struct hvg_opts defaults = HVG_OPTS_INIT;
	uint64_t t0 = hv_mono_us();
	struct hvg *g;
	int r;

	*out = NULL;
	g = calloc(1, sizeof(*g));
	if (!g) {
		r = hv_err(HV_E_NOMEM, "out of memory");
		goto out;
	}
	g->h = h;
	r = see(g, opts ? opts : &defaults);
	if (r < 0)
		goto out;
	g->total_us = hv_mono_us() - t0;
	*out = g;
	g = NULL;
out:
	hvg_close(g);
	return r;
}

int hvg_open(const char *domain, const struct hvg_opts *opts, struct hvg **out)
{
	static const struct hvg_opts defaults = HVG_OPTS_INIT;
	const struct hvg_opts *o = opts ? opts : &defaults;
	struct hva_open_opts ho;
	uint64_t t0 = hv_mono_us();
	struct hvg *g;
	int r;

	*out = NULL;
	g = calloc(1, sizeof(*g));
	if (!g) {
		r = hv_err(HV_E_NOMEM, "out of memory");
		goto out;
	}
	memset(&ho, 0, sizeof(ho));
	ho.uri = o->uri;
	ho.qmp_socket = o->qmp_socket;
	ho.pause_deadline_ms = o->deadline_ms;
	r = hva_open(domain, &ho, &g->h);
	if (r < 0)
		goto out;
	g->own_h = true;
	r = see(g, o);
	if (r < 0)
		goto out;
	g->total_us = hv_mono_us() - t0;
	*out = g;
	g = NULL;
out:
	hvg_close(g);
	return r;
}

void hvg_close(struct hvg *g)
{
	if (!g)
		return;
	hvi_kernel_close(g->k);
	if (g->own_h)
		hva_close(g->h);
	free(g);
}
