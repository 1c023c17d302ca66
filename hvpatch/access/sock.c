/* Guarded so the fuzz runner (tests/fuzz/run.sh) can build it without configure. */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

#include "sock.h"

#include <errno.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

int hva_sock_connect(const char *path, const char *what, int *fd)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int e;

	*fd = -1;
	if (strlen(path) >= sizeof(sa.sun_path))
		return hv_err(HV_E_INVAL, "the socket path of %s, '%s', is too long", what, path);
	strcpy(sa.sun_path, path);
	*fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (*fd < 0)
		return hv_err(HV_E_IO, "cannot create a socket: %s", strerror(errno));
	if (connect(*fd, (struct sockaddr *)&sa, sizeof(sa)) == 0)
		return 0;
	e = errno;
	close(*fd);
	*fd = -1;
	return hv_err(e == EACCES   ? HV_E_PERM
		      : e == ENOENT ? HV_E_NOTFOUND
				    : HV_E_IO,
		      "cannot connect to %s at %s: %s", what, path, strerror(e));
}
