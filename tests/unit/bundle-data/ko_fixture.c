/*
 * A small kernel-module-like object for tests/unit/test_bundle_ko.c, built
 * at "make check" time the way kbuild builds a module: each part compiled
 * with -pg -mfentry -mcmodel=kernel, then the parts joined by "ld -r"
 * (KO_FIXTURE_PART 1 and 2), which is how one module comes to hold two
 * static symbols of the same name.
 *
 *   part 1: ko_traced_global (T), ko_traced_static (t), ko_notrace (T,
 *           untraced), ko_init (t, .init.text), ko_exit (t, .exit.text),
 *           ko_percpu_hits (D, .data..percpu), ko_percpu_local (d,
 *           .data..percpu), ko_counter (D), ko_local_data (d), ko_zeroed
 *           (B), ko_local_bss (b), ko_table (R), ko_local_table (r),
 *           ko_note (r, a section that is not loaded), ko_twin (t, .text.a,
 *           traced), ko_shared (T, global)
 *   part 2: ko_twin (t, .text.b, untraced), ko_shared (d, static),
 *           ko_part2_entry (T)
 */
#define KO_USED	    __attribute__((used))
#define KO_NOINLINE __attribute__((noinline))
#define KO_NOTRACE  __attribute__((no_instrument_function))
#define KO_PERCPU   __attribute__((section(".data..percpu")))

#if !defined(KO_FIXTURE_PART) || KO_FIXTURE_PART == 1

int ko_counter = 1;
static int ko_local_data KO_USED = 2;
int ko_zeroed;
static int ko_local_bss;
const int ko_table[4] = { 1, 2, 3, 4 };
static const int ko_local_table[4] = { 5, 6, 7, 8 };
KO_PERCPU int ko_percpu_hits = 0;
KO_PERCPU static int ko_percpu_local KO_USED = 0;

/* A symbol in a section the loader does not keep (no "a" flag). */
__asm__(".section .ko_note,\"\",@progbits\n"
	"ko_note:\n"
	"\t.byte 1\n"
	"\t.previous\n");

int ko_traced_global(int x);
int ko_notrace(int x);
int ko_shared(int x);

KO_NOINLINE KO_USED static int ko_traced_static(int x)
{
	ko_local_bss += x;
	return ko_local_bss * 3 + ko_local_table[x & 3];
}

KO_NOINLINE KO_USED __attribute__((section(".text.a"))) static int ko_twin(int x)
{
	return x * 7 + ko_local_data;
}

KO_NOINLINE int ko_traced_global(int x)
{
	return ko_traced_static(x) + ko_twin(x) + ko_counter + ko_table[x & 3];
}

KO_NOINLINE KO_NOTRACE int ko_notrace(int x)
{
	ko_zeroed = x;
	return x + ko_percpu_hits + ko_percpu_local;
}

KO_NOINLINE int ko_shared(int x)
{
	return x ^ ko_counter;
}

KO_NOINLINE KO_USED __attribute__((section(".init.text"))) static int ko_init(void)
{
	return ko_traced_global(1) + ko_notrace(2) + ko_shared(3);
}

KO_NOINLINE KO_USED __attribute__((section(".exit.text"))) static void ko_exit(void)
{
	ko_counter = 0;
}

#else

static int ko_shared KO_USED = 9;

KO_NOINLINE KO_USED KO_NOTRACE __attribute__((section(".text.b"))) static int ko_twin(int x)
{
	return x * 11 + ko_shared;
}

int ko_part2_entry(int x);

KO_NOINLINE int ko_part2_entry(int x)
{
	return ko_twin(x) - 1;
}

#endif
