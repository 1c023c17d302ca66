/*
 * hvp-area-write FILE OFFSET VALUE: the tenant's attack on the patch area
 * from guest root through an mmap of the device's BAR (FILE is
 * /sys/bus/pci/devices/X/resource2): map the page holding OFFSET shared and
 * writable, write the 32-bit VALUE there, read it back and print
 *   HVP-AREA-MMAP off=0x... before=0x... wrote=0x... after=0x...
 * A read-only area keeps its bytes: after == before.  Static, for the test
 * guest's initramfs (tests/guest/build-guests.sh).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

int main(int argc, char **argv)
{
	unsigned long long off, page;
	unsigned long val;
	volatile uint32_t *w;
	uint32_t before, after;
	uint8_t *p;
	int fd;

	if (argc != 4) {
		fprintf(stderr, "usage: hvp-area-write FILE OFFSET VALUE\n");
		return 2;
	}
	off = strtoull(argv[2], NULL, 0);
	val = strtoul(argv[3], NULL, 0);
	page = off & ~4095ull;
	fd = open(argv[1], O_RDWR | O_SYNC);
	if (fd < 0) {
		printf("HVP-AREA-MMAP error=open:%s\n", strerror(errno));
		return 1;
	}
	p = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED, fd, (off_t)page);
	if (p == MAP_FAILED) {
		printf("HVP-AREA-MMAP error=mmap:%s\n", strerror(errno));
		return 1;
	}
	w = (volatile uint32_t *)(p + (off - page));
	before = *w;
	*w = (uint32_t)val;
	__sync_synchronize();
	after = *w;
	printf("HVP-AREA-MMAP off=0x%llx before=0x%08x wrote=0x%08lx after=0x%08x\n", off, before,
	       val, after);
	munmap(p, 4096);
	close(fd);
	return 0;
}
