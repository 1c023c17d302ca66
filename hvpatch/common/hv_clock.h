/*
 * hv_clock: the clocks hvpatch reads.  Deadlines, timeouts and durations
 * use the monotonic clock (it never steps); records meant for people and
 * other machines (ledger entries, pause records) use unix time.
 */
#ifndef HV_CLOCK_H
#define HV_CLOCK_H

#include <stdint.h>

/* The monotonic clock (CLOCK_MONOTONIC) in nanoseconds, microseconds, milliseconds. */
uint64_t hv_mono_ns(void);
uint64_t hv_mono_us(void);
uint64_t hv_mono_ms(void);

/* Unix time (CLOCK_REALTIME) in microseconds and milliseconds. */
int64_t hv_unix_us(void);
int64_t hv_unix_ms(void);

/* The longest wait hv_ms_until() returns (an hour): fits poll()'s int. */
#define HV_WAIT_MAX_MS (60 * 60 * 1000)

/*
 * Milliseconds from now until @deadline_ms (a hv_mono_ms() time), for
 * poll(): 0 when it has passed, at most HV_WAIT_MAX_MS.
 */
int hv_ms_until(uint64_t deadline_ms);

#endif
