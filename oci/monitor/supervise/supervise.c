// The monitor's C steady state (issue 16: a Go runtime per pod costs ~1.2 MiB
// at least, this ~0.15). The Go monitor, idle, execs its own binary in place with
// _CRID_SUPERVISE=<memfd>; this constructor runs before the Go runtime, takes
// over the same pid (subreaper, children, zombies and fds survive execve) and
// never returns to Go: it waits for exits, copies output to the CRI logs and
// execs Go again (--resume) when the daemon connects or a signal asks to stop.
// One thread, one poll loop, fixed buffers: nothing grows while it runs.
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/inotify.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "supervise.h"

extern char **environ;

static int sigfd = -1, inofd = -1;
static int want_signal;       // SIGTERM or SIGINT received: Go handles it
static char rbuf[16 << 10];   // one read of a container's output, as server.copyOut
static char *obuf;            // CRI log entries of one read (allocated once)
static size_t olen, ocap;

void say(const char *what, const char *arg, int err)
{
	// fd 2 is the monitor's log file (crid-monitor's run dup2s it there).
	dprintf(2, "crid-monitor supervise: %s %s%s%s\n", what, arg ? arg : "", err ? ": " : "", err ? strerror(err) : "");
}

static struct timespec now(clockid_t clk)
{
	struct timespec ts;
	clock_gettime(clk, &ts);
	return ts;
}

// fmt_time writes t as Go's time.RFC3339Nano does: fraction without trailing
// zeros (none at all for a whole second), "Z" for a zero offset, else +hh:mm.
static size_t fmt_time(char *b, struct timespec t, int utc)
{
	struct tm tm;
	long off = 0;
	if (utc) gmtime_r(&t.tv_sec, &tm);
	else localtime_r(&t.tv_sec, &tm), off = tm.tm_gmtoff;
	size_t n = sprintf(b, "%04d-%02d-%02dT%02d:%02d:%02d", tm.tm_year + 1900, tm.tm_mon + 1,
			   tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec);
	if (t.tv_nsec) {
		n += sprintf(b + n, ".%09ld", t.tv_nsec);
		while (b[n - 1] == '0') n--;
	}
	if (!off) b[n++] = 'Z';
	else {
		char sign = off < 0 ? '-' : '+';
		off = (off < 0 ? -off : off) / 60;
		n += sprintf(b + n, "%c%02ld:%02ld", sign, off / 60, off % 60);
	}
	b[n] = 0;
	return n;
}

// write_all never fails the caller: a full disk must not stall the container
// (as LogWriter). The first error of a run of them is reported, not each one.
static void write_all(int fd, const char *p, size_t n, const char *what)
{
	static int failing;
	while (n) {
		ssize_t r = write(fd, p, n);
		if (r < 0 && errno == EINTR) continue;
		if (r <= 0) {
			if (!failing++) say("writing", what, errno);
			return;
		}
		p += r, n -= r;
	}
	failing = 0;
}

// entry appends "<time> <stream> <P|F> <a><b>\n" (server.LogStream's format).
static void entry(struct ctr *c, struct stream *s, const char *ts, size_t tslen, char tag,
		  const char *a, size_t na, const char *b, size_t nb)
{
	size_t need = tslen + 10 + na + nb + 1;
	if (olen + need > ocap) {
		write_all(c->log, obuf, olen, "a CRI log");
		olen = 0;
	}
	char *o = obuf + olen;
	memcpy(o, ts, tslen), o += tslen;
	*o++ = ' ';
	memcpy(o, s->name, 6), o += 6;
	*o++ = ' ', *o++ = tag, *o++ = ' ';
	memcpy(o, a, na), o += na;
	memcpy(o, b, nb), o += nb;
	*o++ = '\n';
	olen = o - obuf;
}

// log_write is server.LogStream.Write: F entries at newlines, P pieces of
// maxline bytes; a piece of exactly maxline waits, a newline may make it an F.
static void log_write(struct ctr *c, struct stream *s, const char *p, size_t n)
{
	if (c->log < 0) return;
	char ts[48];
	size_t tslen = fmt_time(ts, now(CLOCK_REALTIME), 0);
	while (n) {
		const char *seg = p, *nl = memchr(p, '\n', n);
		size_t slen = nl ? (size_t)(nl - p) : n;
		p += nl ? slen + 1 : slen;
		n -= nl ? slen + 1 : slen;
		while (s->plen + slen > c->maxline) {
			size_t take = c->maxline - s->plen;
			entry(c, s, ts, tslen, 'P', s->pending, s->plen, seg, take);
			s->plen = 0;
			seg += take, slen -= take;
		}
		if (nl) {
			entry(c, s, ts, tslen, 'F', s->pending, s->plen, seg, slen);
			s->plen = 0;
		} else {
			memcpy(s->pending + s->plen, seg, slen);
			s->plen += slen;
		}
	}
	write_all(c->log, obuf, olen, "a CRI log");
	olen = 0;
}

// stream_end is the end of server.copyContainerOutput's copier: the tail is
// logged as a P entry and the pipe closed (a console is kept: Go owns it).
static void stream_end(struct ctr *c, struct stream *s)
{
	if (s->plen && c->log >= 0) {
		char ts[48];
		size_t tslen = fmt_time(ts, now(CLOCK_REALTIME), 0);
		entry(c, s, ts, tslen, 'P', s->pending, s->plen, "", 0);
		write_all(c->log, obuf, olen, "a CRI log");
		olen = 0;
	}
	s->plen = 0;
	if (s->fd == c->console) {
		s->ended = 1;
		return;
	}
	close(s->fd);
	s->fd = -1;
}

// stream_read reads once; it returns what it read.
static ssize_t stream_read(struct ctr *c, struct stream *s)
{
	ssize_t r = read(s->fd, rbuf, sizeof(rbuf));
	if (r > 0) log_write(c, s, rbuf, r);
	else if (r == 0 || (errno != EAGAIN && errno != EINTR)) stream_end(c, s); // EIO: the pty's other side closed
	return r;
}

// kill_tree SIGKILLs the pids of cgroup.procs in dir and its children, as
// cgroups.Tree.Procs + finishExit: leftovers would hold the output pipes open.
static void kill_tree(int dir)
{
	int fd = openat(dir, "cgroup.procs", O_RDONLY | O_CLOEXEC);
	if (fd >= 0) {
		char b[1024];
		long pid = 0;
		ssize_t r;
		while ((r = read(fd, b, sizeof(b))) > 0)
			for (ssize_t i = 0; i < r; i++) {
				if (b[i] >= '0' && b[i] <= '9') { pid = pid * 10 + b[i] - '0'; continue; }
				if (pid > 0) kill(pid, SIGKILL);
				pid = 0;
			}
		if (pid > 0) kill(pid, SIGKILL);
		close(fd);
	}
	char d[1024];
	long n;
	while ((n = syscall(SYS_getdents64, dir, d, sizeof(d))) > 0)
		for (long off = 0; off < n;) {
			struct dirent64 *e = (struct dirent64 *)(d + off);
			off += e->d_reclen;
			if (e->d_type != DT_DIR || !strcmp(e->d_name, ".") || !strcmp(e->d_name, "..")) continue;
			int sub = openat(dir, e->d_name, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
			if (sub >= 0) kill_tree(sub), close(sub);
		}
}

// oom_read reads "<key> <n>" from a flat-keyed cgroup file into c->oomseen
// (cgroups.OOMKills; a missing key is 0). It fails with the file gone.
static int oom_read(struct ctr *c)
{
	char b[1024]; // memory.events and memory.oom_control are a few lines
	int fd = open(c->oomfile, O_RDONLY | O_CLOEXEC);
	if (fd < 0) return -1;
	ssize_t r = read(fd, b, sizeof(b) - 1);
	close(fd);
	if (r < 0) return -1;
	b[r] = 0;
	size_t k = strlen(c->oomkey);
	for (char *l = b; *l;) {
		if (!strncmp(l, c->oomkey, k) && l[k] == ' ') {
			unsigned long long n = strtoull(l + k + 1, NULL, 10);
			if (n > c->oomseen) c->oomseen = n;
			break;
		}
		char *nl = strchr(l, '\n');
		if (!nl) break;
		l = nl + 1;
	}
	return 0;
}

// oom_killed is cgroups.OOMWatch.Count > base: read now, or the last count
// seen when a followed file went with its cgroup.
static int oom_killed(struct ctr *c)
{
	if (!c->oomfile) return 0;
	if (oom_read(c) && !(c->oomwatch && errno == ENOENT)) {
		say("reading the OOM state", c->oomfile, errno);
		return 0;
	}
	return c->oomseen > c->oombase;
}

// oom_follow reads the counts the kernel says changed (cgroups.OOMWatch.follow).
static void oom_follow(void)
{
	char b[1024] __attribute__((aligned(__alignof__(struct inotify_event))));
	ssize_t n;
	while ((n = read(inofd, b, sizeof(b))) > 0)
		for (char *p = b; p < b + n; p += sizeof(struct inotify_event) + ((struct inotify_event *)p)->len) {
			struct inotify_event *e = (struct inotify_event *)p;
			for (int i = 0; i < h.nctr; i++)
				// An overflow (wd -1) may hide a change: read every followed count.
				if (h.ctrs[i].wd >= 0 && (h.ctrs[i].wd == e->wd || (e->mask & IN_Q_OVERFLOW))) {
					if (e->mask & IN_IGNORED) h.ctrs[i].wd = -1;
					else oom_read(&h.ctrs[i]);
				}
		}
}

// json_str appends s as a JSON string. Only '"', '\\' and control bytes need
// escaping for encoding/json to read back the same string.
static size_t json_str(char *o, const char *s)
{
	size_t n = 0;
	o[n++] = '"';
	for (; *s; s++) {
		unsigned char b = *s;
		if (b == '"' || b == '\\') o[n++] = '\\', o[n++] = b;
		else if (b < 0x20) n += sprintf(o + n, "\\u%04x", b);
		else o[n++] = b;
	}
	o[n++] = '"';
	return n;
}

static const char zero_time[] = "0001-01-01T00:00:00Z";

// state_json writes api.Record (startTime too) or api.State (the frame) as
// encoding/json would: field order of the structs, omitempty honoured.
static size_t state_json(char *o, const struct ctr *c, int record)
{
	size_t n = sprintf(o, "{\"id\":");
	n += json_str(o + n, c->id);
	n += sprintf(o + n, ",\"pid\":%lld,\"status\":\"stopped\",\"exitCode\":%lld%s,\"createdAt\":", c->pid,
		     c->exitcode, c->oom ? ",\"oomKilled\":true" : "");
	// "-" is Go's zero time in the handover, 0001-01-01T00:00:00Z in JSON.
	n += json_str(o + n, strcmp(c->created, "-") ? c->created : zero_time);
	n += sprintf(o + n, ",\"startedAt\":");
	n += json_str(o + n, strcmp(c->started, "-") ? c->started : zero_time);
	n += sprintf(o + n, ",\"finishedAt\":");
	n += json_str(o + n, c->finished);
	if (record && c->starttime) n += sprintf(o + n, ",\"startTime\":%llu", c->starttime);
	o[n++] = '}';
	return n;
}

// write_record is api.WriteRecord: temp file in dir, fsync, rename, fsync dir.
// Names relative to the dir's fd: no path buffers.
static int write_record(const char *dir, const char *json, size_t n)
{
	static unsigned seq;
	char tmp[64];
	int d = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC), fd = -1, err = 0;
	if (d < 0) return errno;
	do {
		snprintf(tmp, sizeof(tmp), ".state.json.tmp%d.%u", getpid(), seq++);
		fd = openat(d, tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	} while (fd < 0 && errno == EEXIST); // a crash's leftover
	if (fd < 0) err = errno;
	for (size_t off = 0; off < n && !err;) {
		ssize_t r = write(fd, json + off, n - off);
		if (r < 0 && errno != EINTR) err = errno;
		if (r > 0) off += r;
	}
	if (!err && (fchmod(fd, 0600) || fsync(fd))) err = errno; // 0600 whatever the umask
	if (fd >= 0 && close(fd) && !err) err = errno;
	if (!err && renameat(d, tmp, d, "state.json")) err = errno;
	if (fd >= 0 && err) unlinkat(d, tmp, 0);
	if (!err && fsync(d)) err = errno;
	close(d);
	return err;
}

static void drop_sub(int i)
{
	close(h.subs[i]);
	h.subs[i] = h.subs[--h.nsub];
}

// finish_exit is server.finishExit after the drain: OOM, record, publish.
static void finish_exit(struct ctr *c)
{
	static char json[16 << 10];
	c->draining = 0;
	c->oom = oom_killed(c);
	fmt_time(c->finbuf, now(CLOCK_REALTIME), 1);
	c->finished = c->finbuf;
	c->status = "stopped";
	size_t n = state_json(json, c, 1);
	int err = write_record(c->dir, json, n);
	if (err) say("recording the exit of", c->id, err);
	// The State frame: [4-byte big-endian length of type+payload]['j'][json].
	n = state_json(json + 5, c, 0);
	unsigned len = n + 1;
	json[0] = len >> 24, json[1] = len >> 16, json[2] = len >> 8, json[3] = len, json[4] = 'j';
	for (int i = h.nsub - 1; i >= 0; i--)
		// A subscriber that cannot take the frame now is closed, not waited for:
		// it reconnects and crid replays the recorded exits.
		if (send(h.subs[i], json, n + 5, MSG_DONTWAIT | MSG_NOSIGNAL) != (ssize_t)(n + 5)) drop_sub(i);
}

// reap_all is server.reaper.reapAll: an init's exit starts its drain, any other
// pid (a reparented orphan) is reaped and dropped.
static void reap_all(void)
{
	int st;
	pid_t pid;
	while ((pid = waitpid(-1, &st, WNOHANG)) != 0) {
		if (pid < 0) {
			if (errno == EINTR) continue;
			return;
		}
		for (int i = 0; i < h.nctr; i++) {
			struct ctr *c = &h.ctrs[i];
			if (c->pid != pid || !strcmp(c->status, "stopped") || c->draining) continue;
			c->exitcode = WIFSIGNALED(st) ? 128 + WTERMSIG(st) : WEXITSTATUS(st);
			for (int k = 0; k < c->ncg; k++) {
				int d = open(c->cgproc[k], O_RDONLY | O_DIRECTORY | O_CLOEXEC);
				if (d >= 0) kill_tree(d), close(d);
			}
			c->draining = 1;
			c->deadline = now(CLOCK_MONOTONIC);
			c->deadline.tv_sec += 2; // server.drainTimeout
			break;
		}
	}
}

// hand_back execs the Go monitor (same pid) with the handover as it is now. It
// returns only if that failed; the caller supervises on.
static void hand_back(int conn, int sig)
{
	// Output already in the pipes goes to the logs first: Go gets the same
	// partial lines it would have had (not when setup could not allocate the
	// log buffer: Go reads it from the pipes).
	for (int i = 0; obuf && i < h.nctr; i++) {
		struct ctr *c = &h.ctrs[i];
		struct stream *ss[2] = {&c->out, &c->err};
		for (int k = 0; k < 2; k++) {
			struct pollfd p = {.fd = ss[k]->fd, .events = POLLIN};
			while (LIVE(ss[k]) && poll(&p, 1, 0) > 0 && stream_read(c, ss[k]) > 0) {}
		}
	}
	// An exit reaped here must reach Go recorded: Go would wait for the pid
	// again. Only the fatal paths get here with one still draining.
	for (int i = 0; i < h.nctr; i++)
		if (h.ctrs[i].draining) finish_exit(&h.ctrs[i]);
	// A termination signal queued meanwhile goes to Go with the handover: left
	// pending, it would reach Go's runtime before its handlers (default action).
	struct signalfd_siginfo si;
	int given = sig;
	while (sigfd >= 0 && read(sigfd, &si, sizeof(si)) == sizeof(si))
		if (si.ssi_signo != SIGCHLD && !sig) sig = si.ssi_signo;
	int fd = memfd_create("crid-handover", 0); // no CLOEXEC: Go reads it
	if (fd < 0 || handover_write(fd, conn, sig) || lseek(fd, 0, SEEK_SET)) {
		say("writing the handover", NULL, errno);
	} else {
		char fdarg[16];
		snprintf(fdarg, sizeof(fdarg), "%d", fd);
		h.argv[h.argc] = "--resume", h.argv[h.argc + 1] = fdarg, h.argv[h.argc + 2] = NULL;
		// The signal mask stays as it is: a SIGTERM arriving now waits for Go,
		// whose runtime unblocks it once its handlers are in place.
		execve("/proc/self/exe", h.argv, environ);
		h.argv[h.argc] = NULL;
		say("exec", h.argv[0], errno);
	}
	if (fd >= 0) close(fd);
	// Not served: the client redials a connection closed without an answer.
	if (conn >= 0) close(conn);
	// What the read above took from the queue is still to be handled.
	if (sig != given) want_signal = sig;
	reap_all();
}

static void ignore(int sig)
{
	struct sigaction sa, ign = {.sa_handler = SIG_IGN};
	if (sigaction(sig, NULL, &sa) == 0 && sa.sa_handler == SIG_DFL) sigaction(sig, &ign, NULL);
}

// ignore_dropped ignores the signals Go's runtime drops when nobody asked for
// them: at their default action (Go's handlers are reset by the execve) a stray
// kill -USR1, a SIGPWR or a SIGXFSZ would end the pod's monitor here. SIG_IGN
// survives the execve back, and Go installs its handlers over it (it keeps an
// inherited SIG_IGN only for SIGHUP and SIGINT), so what Go forks later still
// starts with these at their defaults.
static void ignore_dropped(void)
{
	static const int dropped[] = {SIGUSR1, SIGUSR2, SIGALRM, SIGIO, SIGPWR, SIGXCPU, SIGXFSZ, SIGVTALRM};
	sigset_t set;
	sigemptyset(&set);
	for (size_t i = 0; i < sizeof(dropped) / sizeof(*dropped); i++) ignore(dropped[i]), sigaddset(&set, dropped[i]);
	for (int sig = 35; sig <= 64; sig++) ignore(sig), sigaddset(&set, sig); // real-time ones: Go drops 35 to 64
	// Go execs with them blocked (server.SwitchExec): one that came meanwhile was
	// discarded by SIG_IGN. Unblocked, or Go's runtime would keep them blocked after
	// the exec back and hand that mask to every child it forks.
	sigprocmask(SIG_UNBLOCK, &set, NULL);
}

static void supervise(int fd)
{
	// Blocked before anything else: from the execve until here a SIGTERM has
	// its default action and would end the pod's monitor unhandled. SIGTERM and
	// SIGINT only if Go did not ignore them (it ignores SIGINT: a ^C at crid
	// must not stop pods); an ignored disposition survives execve.
	sigset_t set;
	sigemptyset(&set);
	sigaddset(&set, SIGCHLD);
	int stops[2] = {SIGTERM, SIGINT};
	for (int i = 0; i < 2; i++) {
		struct sigaction sa;
		if (sigaction(stops[i], NULL, &sa) == 0 && sa.sa_handler != SIG_IGN) sigaddset(&set, stops[i]);
	}
	sigprocmask(SIG_BLOCK, &set, NULL);
	ignore_dropped();

	const char *why;
	if (handover_parse(fd, &why)) {
		// Go's own handover back, untouched: it serves what it gave.
		say("bad handover:", why, 0);
		if (h.argc) {
			char fdarg[16];
			snprintf(fdarg, sizeof(fdarg), "%d", fd);
			h.argv[h.argc] = "--resume", h.argv[h.argc + 1] = fdarg, h.argv[h.argc + 2] = NULL;
			execve("/proc/self/exe", h.argv, environ);
			say("exec", h.argv[0], errno);
		}
		_exit(70); // as kill -9 of the monitor: crid's Cleanup takes over
	}
	close(fd);
	tzset(); // read /etc/localtime once, as Go's time.Local
	size_t maxl = 0;
	for (int i = 0; i < h.nctr; i++)
		if (h.ctrs[i].maxline > maxl) maxl = h.ctrs[i].maxline;
	// One entry must fit; past that a read of many short lines is written in
	// pieces. The touched part stays resident after a burst: keep it small.
	ocap = maxl + 256 > sizeof(rbuf) * 2 ? maxl + 256 : sizeof(rbuf) * 2;
	obuf = malloc(ocap);

	// SIGPIPE: sends use MSG_NOSIGNAL; Go's monitor ignores it anyway. Nothing
	// here changes a disposition Go would find (it keeps SIG_IGN of SIGHUP and
	// SIGINT); the blocked mask is undone by Go's runtime, which unblocks the
	// signals it handles and forks children with its current mask.
	if (!obuf || (sigfd = signalfd(-1, &set, SFD_CLOEXEC | SFD_NONBLOCK)) < 0) {
		say("setting up", NULL, errno);
		hand_back(-1, 0);
		_exit(70);
	}
	for (int i = 0; i < h.nctr; i++) {
		struct ctr *c = &h.ctrs[i];
		if (!c->oomwatch || !c->oomfile || !strcmp(c->status, "stopped")) continue;
		if (inofd < 0) inofd = inotify_init1(IN_CLOEXEC | IN_NONBLOCK);
		if (inofd >= 0) c->wd = inotify_add_watch(inofd, c->oomfile, IN_MODIFY);
		if (c->wd < 0) say("following the OOM state", c->oomfile, errno);
		oom_read(c);
	}
	reap_all(); // exits during the switch wait as zombies

	enum { SIG, LISTENER, INOTIFY, SUB, OUT, ERR };
	static struct pollfd pfd[3 + MAXSUB + 2 * MAXCTR];
	static struct { int kind, i; } who[3 + MAXSUB + 2 * MAXCTR];
	for (;;) {
		int n = 0, draining = 0, timeout = -1;
		struct timespec mono = now(CLOCK_MONOTONIC);
		for (int i = 0; i < h.nctr; i++) {
			struct ctr *c = &h.ctrs[i];
			if (c->draining && (mono.tv_sec > c->deadline.tv_sec || (mono.tv_sec == c->deadline.tv_sec &&
			    mono.tv_nsec >= c->deadline.tv_nsec) || (!LIVE(&c->out) && !LIVE(&c->err))))
				finish_exit(c);
			if (!c->draining) continue;
			draining = 1;
			long ms = (c->deadline.tv_sec - mono.tv_sec) * 1000 + (c->deadline.tv_nsec - mono.tv_nsec) / 1000000 + 1;
			if (timeout < 0 || ms < timeout) timeout = ms;
		}
		// A switch waits for exits being finished: Go must not get a reaped pid
		// as a live one.
		if (!draining && want_signal) hand_back(-1, want_signal), want_signal = 0;
		pfd[n] = (struct pollfd){.fd = sigfd, .events = POLLIN}, who[n++].kind = SIG;
		if (!draining) pfd[n] = (struct pollfd){.fd = h.listener, .events = POLLIN}, who[n++].kind = LISTENER;
		if (inofd >= 0) pfd[n] = (struct pollfd){.fd = inofd, .events = POLLIN}, who[n++].kind = INOTIFY;
		for (int i = 0; i < h.nsub; i++)
			pfd[n] = (struct pollfd){.fd = h.subs[i], .events = POLLIN}, who[n].kind = SUB, who[n++].i = i;
		for (int i = 0; i < h.nctr; i++) {
			if (LIVE(&h.ctrs[i].out))
				pfd[n] = (struct pollfd){.fd = h.ctrs[i].out.fd, .events = POLLIN}, who[n].kind = OUT, who[n++].i = i;
			if (LIVE(&h.ctrs[i].err))
				pfd[n] = (struct pollfd){.fd = h.ctrs[i].err.fd, .events = POLLIN}, who[n].kind = ERR, who[n++].i = i;
		}
		if (poll(pfd, n, timeout) < 0) {
			if (errno == EINTR) continue;
			say("poll", NULL, errno);
			hand_back(-1, 0);
			_exit(70);
		}
		// Output first, then exits: an exit seen in this round drains from here on.
		int accept_now = 0;
		for (int k = n - 1; k >= 0; k--) {
			if (!pfd[k].revents) continue;
			struct ctr *c = &h.ctrs[who[k].i];
			switch (who[k].kind) {
			case OUT: stream_read(c, &c->out); break;
			case ERR: stream_read(c, &c->err); break;
			// A subscriber only reads: readable means gone (or confused).
			case SUB: drop_sub(who[k].i); break;
			case INOTIFY: oom_follow(); break;
			case LISTENER:
				if (pfd[k].revents & POLLNVAL) {
					say("listener", "not open", 0);
					hand_back(-1, 0);
					_exit(70);
				}
				accept_now = 1;
				break;
			case SIG: {
				struct signalfd_siginfo si;
				while (read(sigfd, &si, sizeof(si)) == sizeof(si))
					if (si.ssi_signo != SIGCHLD) want_signal = si.ssi_signo;
				reap_all();
			}
			}
		}
		// An exit reaped in this round (SIGCHLD and the connection came together)
		// drains first: the listener is taken again once it is recorded.
		int reaped = 0;
		for (int i = 0; i < h.nctr; i++) reaped |= h.ctrs[i].draining;
		if (accept_now && !want_signal && !reaped) {
			int conn = accept4(h.listener, NULL, NULL, 0); // not CLOEXEC: Go serves it
			if (conn >= 0) hand_back(conn, 0);
			// Out of fds or memory: Go copes (or fails) better than a loop spinning
			// on a readable listener.
			else if (errno != EAGAIN && errno != EINTR && errno != ECONNABORTED) say("accept", NULL, errno), hand_back(-1, 0);
		}
	}
}

// The Go side calls nothing here; a reference keeps the object in the link.
void crid_supervise_linked(void) {}

__attribute__((constructor)) static void crid_supervise(void)
{
	const char *v = getenv("_CRID_SUPERVISE");
	if (!v) return;
	char *end;
	long fd = strtol(v, &end, 10);
	if (!*v || *end || fd < 0 || fd > 1 << 30) {
		say("bad _CRID_SUPERVISE", v, 0);
		_exit(70);
	}
	unsetenv("_CRID_SUPERVISE"); // Go is exec'd without it
	supervise((int)fd);
}
