// Parses each handover named on the command line with handover.c and writes what
// it parsed back (TestHandoverParserUnderASan builds it with AddressSanitizer).
#define _GNU_SOURCE
#include <fcntl.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "../supervise.h"

void say(const char *what, const char *arg, int err) { (void)what, (void)arg, (void)err; }

int main(int argc, char **argv)
{
	int null = open("/dev/null", O_WRONLY);
	for (int i = 1; i < argc; i++) {
		for (int k = 0; k < h.nctr; k++) // handover_parse maps two lines per container
			if (h.ctrs[k].out.pending) munmap(h.ctrs[k].out.pending, 2 * h.ctrs[k].maxline);
		memset(&h, 0, sizeof(h));
		int fd = open(argv[i], O_RDONLY);
		const char *why;
		if (fd >= 0 && handover_parse(fd, &why) == 0) handover_write(null, -1, 0);
		close(fd);
	}
	return 0;
}
