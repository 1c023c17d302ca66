/* Monotonic and unix clocks (hv_clock.h). */
#include "hv_clock.h"

#include <time.h>

uint64_t hv_mono_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

uint64_t hv_mono_us(void)
{
	return hv_mono_ns() / 1000u;
}

uint64_t hv_mono_ms(void)
{
	return hv_mono_ns() / 1000000u;
}

int64_t hv_unix_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

int64_t hv_unix_ms(void)
{
	return hv_unix_us() / 1000;
}

int hv_ms_until(uint64_t deadline_ms)
{
	uint64_t now = hv_mono_ms();

	if (now >= deadline_ms)
		return 0;
	return deadline_ms - now > HV_WAIT_MAX_MS ? HV_WAIT_MAX_MS : (int)(deadline_ms - now);
}
