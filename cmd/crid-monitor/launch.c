// The monitor's launch: crid starts crid-monitor with _CRID_DETACH=1 (api.DetachEnv)
// and its readiness pipe on fd 3. Before the Go runtime starts, this constructor
// forks: the process crid started exits at once (crid reaps it), and the child,
// in a session of its own, goes on into Go as the pod's monitor, reparented to
// init or crid's subreaper. One exec and one Go runtime start per pod instead of
// two (the launcher used to be a Go process re-executing itself).
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

// fail tells crid why on the readiness pipe; crid reports it with the exit status.
static void fail(const char *what)
{
	char buf[256];
	int n = snprintf(buf, sizeof buf, "detach: %s: %s\n", what, strerror(errno));
	if (n > 0)
		(void)!write(3, buf, (size_t)n);
	_exit(1);
}

// close_from4 closes whatever crid's process leaked to us without close-on-exec
// (a pipe of its own parent's, say): the monitor lives on for the pod's life and
// would hold it open. The monitor needs stdio and the readiness pipe (fd 3) only;
// the Go runtime has opened nothing yet.
static void close_from4(void)
{
#ifdef SYS_close_range
	if (syscall(SYS_close_range, 4U, ~0U, 0U) == 0)
		return;
#endif
	// Before 5.9: close each fd procfs lists, a batch per pass.
	for (;;) {
		DIR *d = opendir("/proc/self/fd");
		if (d == NULL)
			fail("list fds");
		int fds[256], n = 0;
		struct dirent *e;
		while ((e = readdir(d)) != NULL && n < (int)(sizeof fds / sizeof fds[0])) {
			char *end;
			long fd = strtol(e->d_name, &end, 10);
			if (*end == '\0' && end != e->d_name && fd >= 4 && fd != dirfd(d))
				fds[n++] = (int)fd;
		}
		closedir(d);
		for (int i = 0; i < n; i++)
			close(fds[i]);
		if (n == 0)
			return;
	}
}

__attribute__((constructor)) static void crid_monitor_detach(void)
{
	const char *v = getenv("_CRID_DETACH");
	if (v == NULL || strcmp(v, "1") != 0)
		return;
	close_from4();
	pid_t pid = fork();
	if (pid < 0)
		fail("fork");
	if (pid > 0)
		_exit(0);
	if (setsid() < 0)
		fail("setsid");
}
