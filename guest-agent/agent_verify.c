/* Guarded so the fuzz runner (tests/fuzz/run.sh) can build it without configure. */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

/*
 * The agent's own check of the host's claims: the function's address from
 * the guest's /proc/kallsyms, and the bytes at the site read through the
 * ELF core file /proc/kcore.  Both files are parsed as untrusted input:
 * lines, header counts and offsets are bounded.
 */
#include <errno.h>
#include <stdarg.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "agent.h"
#include "hv_buf.h"
#include "hv_hex.h"

#define KCORE_MAX_PHDRS 65535
#define ELF_PHDR_SIZE	56
#define PT_LOAD_TYPE	1

struct kseg {
	uint64_t vaddr, offset, filesz;
};

struct agt_kcore {
	int fd;
	size_t nseg;
	struct kseg *segs;
};

void agt_kcore_close(struct agt_kcore *k)
{
	if (!k)
		return;
	if (k->fd >= 0)
		close(k->fd);
	free(k->segs);
	free(k);
}

static int pread_full(int fd, void *buf, size_t len, uint64_t off, const char *path)
{
	size_t done = 0;

	if (off > (uint64_t)INT64_MAX - len)
		return hv_err(HV_E_RANGE, "offset 0x%llx in %s is out of range",
			      (unsigned long long)off, path);
	while (done < len) {
		ssize_t n = pread(fd, (char *)buf + done, len - done, (off_t)(off + done));

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return hv_err(errno == EPERM || errno == EACCES ? HV_E_PERM : HV_E_IO,
				      "cannot read %zu bytes at offset 0x%llx of %s: %s", len,
				      (unsigned long long)off, path, strerror(errno));
		if (n == 0)
			return hv_err(HV_E_IO,
				      "cannot read %zu bytes at offset 0x%llx of %s: the file ends",
				      len, (unsigned long long)off, path);
		done += (size_t)n;
	}
	return 0;
}

int agt_kcore_open(const char *path, struct agt_kcore **out)
{
	static const uint8_t magic[4] = { 0x7f, 'E', 'L', 'F' };
	uint8_t eh[64], *ph = NULL;
	struct agt_kcore *k = NULL;
	struct hv_buf b;
	const uint8_t *id;
	uint64_t phoff;
	uint16_t type, machine, phentsize, phnum;
	size_t i;
	int r;

	*out = NULL;
	k = calloc(1, sizeof(*k));
	if (!k)
		return hv_err(HV_E_NOMEM, "cannot open %s: out of memory", path);
	k->fd = open(path, O_RDONLY | O_CLOEXEC);
	if (k->fd < 0) {
		r = hv_err(errno == EPERM || errno == EACCES ? HV_E_PERM
			   : errno == ENOENT		     ? HV_E_NOTFOUND
							     : HV_E_IO,
			   "cannot open the kernel core file %s: %s", path, strerror(errno));
		goto out;
	}
	r = pread_full(k->fd, eh, sizeof(eh), 0, path);
	if (r < 0)
		goto out;
	hv_buf_init(&b, eh, sizeof(eh), "kcore ELF header");
	r = hv_buf_get_bytes(&b, 16, &id);
	if (r < 0)
		goto out;
	if (memcmp(id, magic, 4) || id[4] != 2 || id[5] != 1) {
		r = hv_err(HV_E_FORMAT, "%s is not a little-endian ELF64 file", path);
		goto out;
	}
	r = hv_buf_get_u16(&b, &type);
	if (r == 0)
		r = hv_buf_get_u16(&b, &machine);
	if (r == 0)
		r = hv_buf_seek(&b, 32);
	if (r == 0)
		r = hv_buf_get_u64(&b, &phoff);
	if (r == 0)
		r = hv_buf_seek(&b, 54);
	if (r == 0)
		r = hv_buf_get_u16(&b, &phentsize);
	if (r == 0)
		r = hv_buf_get_u16(&b, &phnum);
	if (r < 0)
		goto out;
	if (type != 4 || machine != 62) {
		r = hv_err(HV_E_FORMAT, "%s is not an x86-64 ELF core file (type %u, machine %u)",
			   path, type, machine);
		goto out;
	}
	if (phentsize != ELF_PHDR_SIZE || phnum == 0 || phnum >= KCORE_MAX_PHDRS) {
		r = hv_err(HV_E_FORMAT,
			   "%s has %u program headers of %u bytes; expected 1 to %d "
			   "of %d bytes",
			   path, phnum, phentsize, KCORE_MAX_PHDRS - 1, ELF_PHDR_SIZE);
		goto out;
	}
	ph = malloc((size_t)phnum * ELF_PHDR_SIZE);
	k->segs = calloc(phnum, sizeof(*k->segs));
	if (!ph || !k->segs) {
		r = hv_err(HV_E_NOMEM, "cannot read the program headers of %s: out of memory",
			   path);
		goto out;
	}
	r = pread_full(k->fd, ph, (size_t)phnum * ELF_PHDR_SIZE, phoff, path);
	if (r < 0)
		goto out;
	hv_buf_init(&b, ph, (size_t)phnum * ELF_PHDR_SIZE, "kcore program headers");
	for (i = 0; i < phnum; i++) {
		uint32_t ptype, flags;
		uint64_t off, vaddr, paddr, filesz;

		r = hv_buf_get_u32(&b, &ptype);
		if (r == 0)
			r = hv_buf_get_u32(&b, &flags);
		if (r == 0)
			r = hv_buf_get_u64(&b, &off);
		if (r == 0)
			r = hv_buf_get_u64(&b, &vaddr);
		if (r == 0)
			r = hv_buf_get_u64(&b, &paddr);
		if (r == 0)
			r = hv_buf_get_u64(&b, &filesz);
		if (r == 0)
			r = hv_buf_skip(&b, ELF_PHDR_SIZE - 40);
		if (r < 0)
			goto out;
		if (ptype != PT_LOAD_TYPE || filesz == 0)
			continue;
		/* Segments whose ends wrap around are unusable, not fatal. */
		if (vaddr + filesz < vaddr || off + filesz < off || off > (uint64_t)INT64_MAX)
			continue;
		k->segs[k->nseg].vaddr = vaddr;
		k->segs[k->nseg].offset = off;
		k->segs[k->nseg].filesz = filesz;
		k->nseg++;
	}
	*out = k;
	k = NULL;
out:
	free(ph);
	agt_kcore_close(k);
	return r;
}

int agt_kcore_read(struct agt_kcore *k, uint64_t va, void *buf, size_t len)
{
	size_t i;

	for (i = 0; i < k->nseg; i++) {
		const struct kseg *s = &k->segs[i];

		if (va >= s->vaddr && len <= s->filesz && va - s->vaddr <= s->filesz - len)
			return pread_full(k->fd, buf, len, s->offset + (va - s->vaddr),
					  "the kernel core file");
	}
	return hv_err(HV_E_RANGE, "no segment of the kernel core file holds %zu bytes at 0x%016llx",
		      len, (unsigned long long)va);
}

/* Write a reason text, truncated to the field. */
static void set_reason(struct hv_wire_check *c, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
static void set_reason(struct hv_wire_check *c, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(c->reason, sizeof(c->reason), fmt, ap);
	va_end(ap);
}

/* kallsyms lookup: one pass over the file for all functions, sorted by name. */
static int by_name(const void *a, const void *b, void *arg)
{
	const struct hv_wire_status *st = arg;

	return strcmp(st->funcs[*(const size_t *)a].name, st->funcs[*(const size_t *)b].name);
}

struct name_key {
	const struct hv_wire_status *st;
	const char *name;
};

static int key_cmp(const void *k, const void *e)
{
	const struct name_key *key = k;

	return strcmp(key->name, key->st->funcs[*(const size_t *)e].name);
}

/*
 * Parse "ADDR T NAME[\t[module]]"; false for lines of another shape.  A
 * module's symbol is named "module:NAME", as hvpatch names functions of
 * modules; @qbuf (@qlen bytes) holds that name.
 */
static bool kallsyms_line(char *line, uint64_t *addr, char **name, char *qbuf, size_t qlen)
{
	size_t digits = strcspn(line, " ");
	char *p = line + digits, *e, *m, *me, sep;
	uint64_t v;

	if (p[0] != ' ' || !p[1] || p[2] != ' ')
		return false;
	if (hv_hex_u64(line, digits, &v, "kallsyms address") < 0)
		return false;
	p += 3;
	e = p;
	while (*e && *e != ' ' && *e != '\t' && *e != '\n')
		e++;
	if (e == p)
		return false;
	sep = *e;
	*e = 0;
	*addr = v;
	*name = p;
	if (sep == ' ' || sep == '\t') {
		m = e + 1;
		while (*m == ' ' || *m == '\t')
			m++;
		if (*m == '[' && (me = strchr(m, ']')) != NULL && me > m + 1) {
			*me = 0;
			if ((size_t)snprintf(qbuf, qlen, "%s:%s", m + 1, p) >= qlen)
				return false;
			*name = qbuf;
		}
	}
	return true;
}

static void lookup_symbols(const struct hv_wire_status *st, const char *path,
			   struct hv_wire_check *c)
{
	char line[1024], qname[1024];
	size_t *idx = NULL, i;
	bool *seen = NULL;
	FILE *f = NULL;
	int skipping = 0;

	for (i = 0; i < st->nfuncs; i++)
		c[i].sym = HV_WIRE_SYM_MISSING;
	f = fopen(path, "re");
	idx = calloc(st->nfuncs ? st->nfuncs : 1, sizeof(*idx));
	seen = calloc(st->nfuncs ? st->nfuncs : 1, sizeof(*seen));
	if (!f || !idx || !seen) {
		for (i = 0; i < st->nfuncs; i++) {
			c[i].sym = HV_WIRE_SYM_UNREADABLE;
			set_reason(&c[i], "cannot read %s: %s", path,
				   f ? "out of memory" : strerror(errno));
		}
		goto out;
	}
	for (i = 0; i < st->nfuncs; i++)
		idx[i] = i;
	qsort_r(idx, st->nfuncs, sizeof(*idx), by_name, (void *)st);
	while (fgets(line, sizeof(line), f)) {
		struct name_key key = { st, NULL };
		size_t len = strlen(line), *hit, lo, hi;
		uint64_t addr;
		int was_skipping = skipping;

		/* A line longer than the buffer is skipped whole. */
		skipping = len && line[len - 1] != '\n' && !feof(f);
		if (was_skipping || skipping)
			continue;
		if (!kallsyms_line(line, &addr, (char **)&key.name, qname, sizeof(qname)))
			continue;
		hit = bsearch(&key, idx, st->nfuncs, sizeof(*idx), key_cmp);
		if (!hit)
			continue;
		/* Equal names sit next to each other: visit all of them. */
		lo = (size_t)(hit - idx);
		while (lo > 0 && !strcmp(st->funcs[idx[lo - 1]].name, key.name))
			lo--;
		for (hi = lo; hi < st->nfuncs && !strcmp(st->funcs[idx[hi]].name, key.name); hi++) {
			size_t k = idx[hi];

			if (addr + st->funcs[k].offset == st->funcs[k].site) {
				c[k].sym = HV_WIRE_SYM_AGREES;
				c[k].sym_addr = addr;
			} else if (!seen[k]) {
				c[k].sym = HV_WIRE_SYM_DIFFERS;
				c[k].sym_addr = addr;
			}
			seen[k] = true;
		}
	}
out:
	if (f)
		fclose(f);
	free(idx);
	free(seen);
}

int agt_verify_run(const struct hv_wire_status *st, const char *kallsyms, const char *kcore,
		   const char *trigger, struct hv_wire_verify *out)
{
	struct agt_kcore *k = NULL;
	char kerr[HV_WIRE_TEXT_MAX + 1] = "";
	size_t i;
	int r = 0;

	hv_wire_verify_clear(out);
	out->at = (int64_t)time(NULL);
	snprintf(out->trigger, sizeof(out->trigger), "%s", trigger ? trigger : "request");
	if (st->nfuncs) {
		out->checks = calloc(st->nfuncs, sizeof(*out->checks));
		if (!out->checks) {
			r = hv_err(HV_E_NOMEM, "cannot verify %zu functions: out of memory",
				   st->nfuncs);
			goto out;
		}
	}
	out->n = st->nfuncs;
	for (i = 0; i < st->nfuncs; i++) {
		snprintf(out->checks[i].name, sizeof(out->checks[i].name), "%s", st->funcs[i].name);
		out->checks[i].site = st->funcs[i].site;
	}
	if (!st->nfuncs)
		goto out;
	lookup_symbols(st, kallsyms, out->checks);
	if (agt_kcore_open(kcore, &k) < 0)
		memcpy(kerr, hv_err_last()->msg, sizeof(kerr) - 1);
	for (i = 0; i < st->nfuncs; i++) {
		const struct hv_wire_func *f = &st->funcs[i];
		struct hv_wire_check *c = &out->checks[i];

		c->found_len = 0;
		if (!k) {
			c->result = HV_WIRE_UNREADABLE;
			set_reason(c, "%s", kerr);
		} else if (agt_kcore_read(k, f->site, c->found, f->expected_len) < 0) {
			c->result = HV_WIRE_UNREADABLE;
			set_reason(c, "%s", hv_err_last()->msg);
		} else {
			c->found_len = f->expected_len;
			c->result = memcmp(c->found, f->expected, f->expected_len)
					    ? HV_WIRE_MISMATCH
					    : HV_WIRE_PRESENT;
			if (c->sym == HV_WIRE_SYM_DIFFERS)
				set_reason(
					c,
					"kallsyms puts %s at 0x%016llx, not at the site minus %u",
					f->name, (unsigned long long)c->sym_addr, f->offset);
			else if (c->sym == HV_WIRE_SYM_MISSING)
				set_reason(c, "kallsyms does not list %s", f->name);
		}
		if (c->result == HV_WIRE_PRESENT)
			out->npresent++;
		else if (c->result == HV_WIRE_MISMATCH)
			out->nmismatch++;
		else
			out->nunreadable++;
	}
out:
	agt_kcore_close(k);
	return r;
}
