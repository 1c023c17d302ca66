/* What every Check-based unit test of the common, agent and channel code shares. */
#ifndef HV_CHECK_H
#define HV_CHECK_H

#include <check.h>
#include <stdlib.h>

/* Run every test of @s; the exit status of main(): failure when any failed. */
static inline int hv_check_run(Suite *s)
{
	SRunner *sr = srunner_create(s);
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}

#endif
