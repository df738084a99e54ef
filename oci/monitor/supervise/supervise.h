// Shared by handover.c (the handover's text format) and supervise.c (the
// steady state). The contract is /work/wt/handover.md, summed up in doc.go.
#ifndef CRID_SUPERVISE_H
#define CRID_SUPERVISE_H

#include <stddef.h>
#include <time.h>

// Fixed tables: the steady state never allocates. A handover that does not fit
// is handed back to Go unchanged (a pod with more is served by Go alone).
#define MAXARGV 64
#define MAXSUB 64
#define MAXCTR 64
#define MAXREP 8    // cgproc= per container
#define MAXEXTRA 16 // keys C does not use, written back as they came

struct stream {
	int fd;             // the monitor's read end; -1: none, or ended
	int ended;          // the console's output ended: fd stays open for Go
	const char *name;   // "stdout" or "stderr"
	char *pending;      // the unterminated line, at most maxline bytes
	size_t plen;
};

struct ctr {
	char *id, *status, *dir, *created, *started, *finished;
	long long pid, exitcode;
	unsigned long long starttime, oombase;
	int oom;
	int log;            // the CRI log (O_APPEND), -1 for none
	size_t maxline;
	struct stream out, err;
	int console;            // the pty master (out too with a tty): never closed by C
	char *cgproc[MAXREP];
	int ncg;
	char *extra[MAXEXTRA];  // raw "key=value" fields
	int nextra;
	char *oomfile, *oomkey; // NULL: no OOM reading
	int oomwatch, wd;       // follow oomfile with inotify (wd), its cgroup may vanish first
	unsigned long long oomseen; // the last count read
	int draining;           // reaped; its output is drained before the exit is recorded
	struct timespec deadline;
	char finbuf[40];        // finishedat when C recorded the exit
};

struct handover {
	char *argv[MAXARGV];
	int argc;
	int listener;
	int subs[MAXSUB], nsub;
	struct ctr ctrs[MAXCTR];
	int nctr;
};

extern struct handover h;

// handover.c
int handover_parse(int fd, const char **why);
int handover_write(int fd, int conn, int sig);

// A stream C reads from.
#define LIVE(s) ((s)->fd >= 0 && !(s)->ended)

// supervise.c
void say(const char *what, const char *arg, int err);

#endif
