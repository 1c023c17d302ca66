#include "config.h"

#include "hv_clock.h"
#include "hv_hex.h"
#include "gdb.h"
#include "sock.h"

#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

struct hva_gdb {
	int fd;
	unsigned timeout_ms;
	size_t pkt_size; /* peer's PacketSize */
	uint8_t rx[8192];
	size_t rx_len;
	char *pkt; /* last received payload, NUL-terminated, decoded */
	size_t pkt_len;
	size_t pkt_cap;
};

static int send_all(struct hva_gdb *g, const void *p, size_t n)
{
	const uint8_t *b = p;

	while (n) {
		ssize_t w = send(g->fd, b, n, MSG_NOSIGNAL);

		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0)
			return hv_err(HV_E_IO, "cannot send to the gdbstub: %s", strerror(errno));
		b += w;
		n -= (size_t)w;
	}
	return 0;
}

/* Wait until the socket has bytes, up to @deadline (ms, monotonic). */
static int fill(struct hva_gdb *g, uint64_t deadline)
{
	struct pollfd pfd = { .fd = g->fd, .events = POLLIN };
	ssize_t r;
	uint64_t t;
	int pr;

	if (g->rx_len == sizeof(g->rx))
		return hv_err(HV_E_PROTO, "the gdbstub sent more than %zu bytes of noise",
			      sizeof(g->rx));
	for (;;) {
		t = hv_mono_ms();
		if (t >= deadline)
			return hv_err(HV_E_TIMEOUT, "the gdbstub did not answer within %u ms",
				      g->timeout_ms);
		pr = poll(&pfd, 1, (int)(deadline - t));
		if (pr < 0 && errno == EINTR)
			continue;
		if (pr < 0)
			return hv_err(HV_E_IO, "poll on the gdbstub socket failed: %s",
				      strerror(errno));
		if (pr == 0)
			continue;
		r = recv(g->fd, g->rx + g->rx_len, sizeof(g->rx) - g->rx_len, 0);
		if (r < 0 && (errno == EINTR || errno == EAGAIN))
			continue;
		if (r < 0)
			return hv_err(HV_E_IO, "cannot read from the gdbstub: %s", strerror(errno));
		if (r == 0)
			return hv_err(HV_E_IO, "the gdbstub closed the connection");
		g->rx_len += (size_t)r;
		return 0;
	}
}

static void consume(struct hva_gdb *g, size_t n)
{
	memmove(g->rx, g->rx + n, g->rx_len - n);
	g->rx_len -= n;
}

static int pkt_append(struct hva_gdb *g, char c)
{
	if (g->pkt_len + 1 >= g->pkt_cap) {
		size_t cap = g->pkt_cap ? g->pkt_cap * 2 : 4096;
		char *p;

		if (cap > HVA_GDB_PKT_MAX + 1)
			cap = HVA_GDB_PKT_MAX + 1;
		if (g->pkt_len + 1 >= cap)
			return hv_err(HV_E_PROTO, "a gdbstub reply is longer than %d bytes",
				      HVA_GDB_PKT_MAX);
		p = realloc(g->pkt, cap);
		if (!p)
			return hv_err(HV_E_NOMEM, "out of memory for a gdbstub reply");
		g->pkt = p;
		g->pkt_cap = cap;
	}
	g->pkt[g->pkt_len++] = c;
	g->pkt[g->pkt_len] = '\0';
	return 0;
}

/*
 * Receive one packet "$payload#cs" into g->pkt (run-length decoded), ack it,
 * and return 0.  Stray acks and noise before '$' are skipped; a bad
 * checksum is nacked and the packet awaited again (three times at most).
 */
static int recv_packet(struct hva_gdb *g, uint64_t deadline)
{
	int bad = 0;
	int r;

	for (;;) {
		size_t i = 0, end;
		uint8_t sum = 0;
		int hi, lo;

		while (i < g->rx_len && g->rx[i] != '$')
			i++;
		consume(g, i);
		if (g->rx_len == 0 || !memchr(g->rx, '#', g->rx_len)) {
			if (g->rx_len == sizeof(g->rx)) {
				/* A packet longer than the buffer: decode as we go is not
				 * needed for QEMU's replies, which fit.  Refuse. */
				return hv_err(HV_E_PROTO,
					      "a gdbstub packet does not fit in %zu bytes",
					      sizeof(g->rx));
			}
			r = fill(g, deadline);
			if (r < 0)
				return r;
			continue;
		}
		end = (size_t)((uint8_t *)memchr(g->rx, '#', g->rx_len) - g->rx);
		if (g->rx_len < end + 3) {
			r = fill(g, deadline);
			if (r < 0)
				return r;
			continue;
		}
		for (i = 1; i < end; i++)
			sum = (uint8_t)(sum + g->rx[i]);
		hi = hv_hex_digit(g->rx[end + 1]);
		lo = hv_hex_digit(g->rx[end + 2]);
		if (hi < 0 || lo < 0 || (uint8_t)(hi * 16 + lo) != sum) {
			consume(g, end + 3);
			if (++bad > 3)
				return hv_err(HV_E_PROTO,
					      "the gdbstub sent packets with bad checksums");
			r = send_all(g, "-", 1);
			if (r < 0)
				return r;
			continue;
		}
		g->pkt_len = 0;
		r = pkt_append(g, '\0');
		if (r < 0)
			return r;
		g->pkt_len = 0;
		for (i = 1; i < end; i++) {
			char c = (char)g->rx[i];

			if (c == '}' && i + 1 < end) {
				r = pkt_append(g, (char)(g->rx[++i] ^ 0x20));
			} else if (c == '*' && i + 1 < end && g->pkt_len > 0) {
				int n = g->rx[++i] - 29;
				char prev = g->pkt[g->pkt_len - 1];

				if (n < 0 || n > 126)
					return hv_err(HV_E_PROTO,
						      "the gdbstub sent a bad run-length count");
				r = 0;
				while (n-- > 0 && r == 0)
					r = pkt_append(g, prev);
			} else {
				r = pkt_append(g, c);
			}
			if (r < 0)
				return r;
		}
		consume(g, end + 3);
		return send_all(g, "+", 1);
	}
}

/* Send "$payload#cs" and wait for the peer's '+'. */
static int send_packet(struct hva_gdb *g, const char *payload, uint64_t deadline)
{
	size_t n = strlen(payload);
	char *frame;
	uint8_t sum = 0;
	int tries, r = 0;
	size_t i;

	if (n > g->pkt_size)
		return hv_err(HV_E_INTERNAL, "gdbstub packet of %zu bytes exceeds %zu", n,
			      g->pkt_size);
	frame = malloc(n + 5);
	if (!frame)
		return hv_err(HV_E_NOMEM, "out of memory for a gdbstub packet");
	for (i = 0; i < n; i++)
		sum = (uint8_t)(sum + (uint8_t)payload[i]);
	frame[0] = '$';
	memcpy(frame + 1, payload, n);
	snprintf(frame + 1 + n, 4, "#%02x", sum);
	for (tries = 0; tries < 3; tries++) {
		r = send_all(g, frame, n + 4);
		if (r < 0)
			goto out;
		for (;;) {
			while (g->rx_len == 0) {
				r = fill(g, deadline);
				if (r < 0)
					goto out;
			}
			if (g->rx[0] == '+') {
				consume(g, 1);
				r = 0;
				goto out;
			}
			if (g->rx[0] == '-') {
				consume(g, 1);
				break;
			}
			/* A packet before our ack (an asynchronous stop reply):
			 * the ack comes first in QEMU, so this is noise; keep it
			 * for recv_packet. */
			if (g->rx[0] == '$') {
				r = 0;
				goto out;
			}
			consume(g, 1);
		}
	}
	r = hv_err(HV_E_PROTO, "the gdbstub rejected a packet three times");
out:
	free(frame);
	return r;
}

/*
 * Send a command and receive its reply into g->pkt, skipping asynchronous
 * stop replies ('T'/'S') unless @want_stop.  An "Exx" reply is an error.
 */
static int transact(struct hva_gdb *g, const char *cmd, int want_stop)
{
	uint64_t deadline = hv_mono_ms() + g->timeout_ms;
	int r;

	r = send_packet(g, cmd, deadline);
	if (r < 0)
		return r;
	for (;;) {
		r = recv_packet(g, deadline);
		if (r < 0)
			return r;
		if (!want_stop && (g->pkt[0] == 'T' || g->pkt[0] == 'S'))
			continue;
		break;
	}
	if (g->pkt[0] == 'E' && g->pkt_len == 3 && hv_hex_digit(g->pkt[1]) >= 0 &&
	    hv_hex_digit(g->pkt[2]) >= 0) {
		char what[32];

		snprintf(what, sizeof(what), "%.24s", cmd);
		return hv_err(HV_E_IO, "the gdbstub answered error %s to '%s'", g->pkt, what);
	}
	return 0;
}

static int negotiate(struct hva_gdb *g)
{
	const char *p;
	int r;

	g->pkt_size = 256;
	r = transact(g, "qSupported:multiprocess+;xmlRegisters=i386", 0);
	if (r < 0)
		return hv_err_prefix("gdbstub handshake");
	p = strstr(g->pkt, "PacketSize=");
	if (p) {
		uint64_t v = 0;

		if (hv_hex_u64(p + 11, strcspn(p + 11, ";"), &v, "the gdbstub's PacketSize") < 0)
			return hv_err_last()->code;

		if (v < 64)
			return hv_err(HV_E_PROTO, "the gdbstub offers packets of only %lu bytes",
				      v);
		g->pkt_size = v > HVA_GDB_PKT_MAX ? HVA_GDB_PKT_MAX : v;
	}
	r = transact(g, "Qqemu.PhyMemMode:1", 0);
	if (r < 0)
		return hv_err_prefix("switching the gdbstub to physical addresses");
	if (strcmp(g->pkt, "OK") != 0)
		return hv_err(HV_E_UNSUPPORTED,
			      "the gdbstub does not offer physical-memory mode (reply '%.40s'); "
			      "QEMU 6.0 or newer is needed",
			      g->pkt);
	return 0;
}

int hva_gdb_attach_fd(int fd, unsigned timeout_ms, struct hva_gdb **out)
{
	struct hva_gdb *g;
	int r;

	*out = NULL;
	g = calloc(1, sizeof(*g));
	if (!g) {
		close(fd);
		return hv_err(HV_E_NOMEM, "out of memory for a gdbstub session");
	}
	g->fd = fd;
	g->timeout_ms = timeout_ms ? timeout_ms : 2000;
	r = negotiate(g);
	if (r < 0) {
		hva_gdb_close(g);
		return r;
	}
	*out = g;
	return 0;
}

int hva_gdb_connect(const char *path, unsigned timeout_ms, struct hva_gdb **out)
{
	int fd, r;

	*out = NULL;
	r = hva_sock_connect(path, "the gdbstub", &fd);
	if (r < 0)
		return r;
	return hva_gdb_attach_fd(fd, timeout_ms, out);
}

void hva_gdb_close(struct hva_gdb *g)
{
	if (!g)
		return;
	if (g->fd >= 0)
		close(g->fd);
	free(g->pkt);
	free(g);
}

size_t hva_gdb_packet_size(const struct hva_gdb *g)
{
	return g->pkt_size;
}

static uint64_t le(const uint8_t *p, unsigned n)
{
	uint64_t v = 0;

	while (n--)
		v = (v << 8) | p[n];
	return v;
}

int hva_gdb_read_regs(struct hva_gdb *g, unsigned cpu, struct hva_regs *out)
{
	uint8_t raw[HVA_GDB_REGS_BYTES];
	char cmd[32];
	size_t i;
	int r;

	memset(out, 0, sizeof(*out));
	snprintf(cmd, sizeof(cmd), "Hgp1.%x", cpu + 1);
	r = transact(g, cmd, 0);
	if (r < 0)
		return hv_err_prefix("selecting vCPU %u", cpu);
	if (strcmp(g->pkt, "OK") != 0)
		return hv_err(HV_E_NOTFOUND, "the gdbstub has no vCPU %u (reply '%.40s')", cpu,
			      g->pkt);
	r = transact(g, "g", 0);
	if (r < 0)
		return hv_err_prefix("reading the registers of vCPU %u", cpu);
	if (g->pkt_len != 2 * HVA_GDB_REGS_BYTES)
		return hv_err(HV_E_UNSUPPORTED,
			      "the gdbstub sent %zu bytes of registers for vCPU %u; this version "
			      "of hvpatch knows the %d-byte x86-64 layout of QEMU 7",
			      g->pkt_len / 2, cpu, HVA_GDB_REGS_BYTES);
	for (i = 0; i < sizeof(raw); i++) {
		int hi = hv_hex_digit(g->pkt[2 * i]), lo = hv_hex_digit(g->pkt[2 * i + 1]);

		if (hi < 0 || lo < 0) {
			/* 'x' marks an unavailable register; only the bytes we use matter. */
			raw[i] = 0;
			continue;
		}
		raw[i] = (uint8_t)(hi * 16 + lo);
	}
	/* Offsets: 16 GPRs, rip, eflags(4), 6 selectors(4), fs/gs/k_gs base,
	 * cr0 cr2 cr3 cr4 cr8 efer (QEMU target/i386/gdbstub.c order). */
	out->rsp = le(raw + 7 * 8, 8);
	out->rip = le(raw + 128, 8);
	out->cs = (uint32_t)le(raw + 140, 4);
	out->cpl = out->cs & 3;
	out->fs_base = le(raw + 164, 8);
	out->gs_base = le(raw + 172, 8);
	out->kernel_gs_base = le(raw + 180, 8);
	out->cr0 = le(raw + 188, 8);
	out->cr2 = le(raw + 196, 8);
	out->cr3 = le(raw + 204, 8);
	out->cr4 = le(raw + 212, 8);
	out->efer = le(raw + 228, 8);
	return 0;
}

static size_t chunk_bytes(const struct hva_gdb *g)
{
	/* "Mxxxxxxxxxxxxxxxx,xxxx:" plus two hex digits per byte. */
	size_t n = (g->pkt_size - 32) / 2;

	return n > 4096 ? 4096 : n;
}

int hva_gdb_read_phys(struct hva_gdb *g, uint64_t gpa, void *buf, size_t len)
{
	uint8_t *dst = buf;
	size_t done = 0, n, i;
	char cmd[64];
	int r;

	while (done < len) {
		n = len - done;
		if (n > chunk_bytes(g))
			n = chunk_bytes(g);
		snprintf(cmd, sizeof(cmd), "m%llx,%zx", (unsigned long long)(gpa + done), n);
		r = transact(g, cmd, 0);
		if (r < 0)
			return hv_err_prefix("reading guest-physical 0x%llx",
					     (unsigned long long)(gpa + done));
		if (g->pkt_len != 2 * n)
			return hv_err(HV_E_IO,
				      "the gdbstub returned %zu of %zu bytes at guest-physical "
				      "0x%llx (outside guest RAM?)",
				      g->pkt_len / 2, n, (unsigned long long)(gpa + done));
		for (i = 0; i < n; i++) {
			int hi = hv_hex_digit(g->pkt[2 * i]), lo = hv_hex_digit(g->pkt[2 * i + 1]);

			if (hi < 0 || lo < 0)
				return hv_err(HV_E_PROTO,
					      "the gdbstub sent a non-hex memory reply");
			dst[done + i] = (uint8_t)(hi * 16 + lo);
		}
		done += n;
	}
	return 0;
}

int hva_gdb_write_phys(struct hva_gdb *g, uint64_t gpa, const void *buf, size_t len)
{
	const uint8_t *src = buf;
	size_t done = 0, n, off;
	char *cmd;
	int r = 0;

	cmd = malloc(g->pkt_size + 1);
	if (!cmd)
		return hv_err(HV_E_NOMEM, "out of memory for a gdbstub packet");
	while (done < len) {
		n = len - done;
		if (n > chunk_bytes(g))
			n = chunk_bytes(g);
		off = (size_t)snprintf(cmd, 40, "M%llx,%zx:", (unsigned long long)(gpa + done), n);
		/* chunk_bytes() leaves room for the hex digits and the NUL. */
		hv_hex_encode(cmd + off, g->pkt_size + 1 - off, src + done, n);
		r = transact(g, cmd, 0);
		if (r < 0) {
			r = hv_err_prefix("writing guest-physical 0x%llx",
					  (unsigned long long)(gpa + done));
			goto out;
		}
		if (strcmp(g->pkt, "OK") != 0) {
			r = hv_err(
				HV_E_PROTO,
				"the gdbstub answered '%.40s' to a write at guest-physical 0x%llx",
				g->pkt, (unsigned long long)(gpa + done));
			goto out;
		}
		done += n;
	}
out:
	free(cmd);
	return r;
}
