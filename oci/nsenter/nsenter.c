// The nsenter constructor: runs before the Go runtime starts any thread, in
// every process of a binary importing package oci/nsenter, and does nothing unless
// package oci started the process (_CRID_MODE, _CRID_NSENTER or _CRID_PAUSE set):
// then it makes it not dumpable first, and with _CRID_PAUSE runs the pod's pause
// (run_pause below) and never returns to Go. A multithreaded process cannot setns() into a mount or
// user namespace, so processes that must join those (exec into a container, a
// container joining its pod's user namespace) do it here, while single
// threaded, then fork once so that the Go code runs inside a joined or new PID
// namespace. The result (the final pid or an error) is written to the sync fd
// as one framed message: a 4-byte little-endian length, then JSON.
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <stddef.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>
#include <linux/audit.h>
#include <linux/capability.h>
#include <linux/filter.h>
#include <linux/seccomp.h>

#ifndef CLONE_NEWCGROUP
#define CLONE_NEWCGROUP 0x02000000
#endif

static int sync_fd = -1;

static void send_msg(const char *json)
{
	uint32_t n = (uint32_t)strlen(json);
	unsigned char hdr[4] = {n & 0xff, (n >> 8) & 0xff, (n >> 16) & 0xff, (n >> 24) & 0xff};
	if (write(sync_fd, hdr, 4) != 4 || write(sync_fd, json, n) != (ssize_t)n)
		_exit(3);
}

static void fail(const char *what, const char *arg)
{
	char buf[512];
	int e = errno;
	// Error strings never contain quotes or backslashes; paths are ours.
	snprintf(buf, sizeof(buf), "{\"error\":\"nsenter: %s %s: %s\"}", what, arg ? arg : "", strerror(e));
	send_msg(buf);
	_exit(1);
}

static int ns_flag(const char *name)
{
	if (!strcmp(name, "user")) return CLONE_NEWUSER;
	if (!strcmp(name, "mnt")) return CLONE_NEWNS;
	if (!strcmp(name, "pid")) return CLONE_NEWPID;
	if (!strcmp(name, "net")) return CLONE_NEWNET;
	if (!strcmp(name, "ipc")) return CLONE_NEWIPC;
	if (!strcmp(name, "uts")) return CLONE_NEWUTS;
	if (!strcmp(name, "cgroup")) return CLONE_NEWCGROUP;
	return 0;
}

#define MAXNS 8

// join_paths joins "type:path,type:path" namespaces. The user namespace goes
// first when the others are owned by it, but a namespace owned by an ancestor
// user namespace (a pod netns made by CNI on the host) can only be joined
// before: try all others first, join the user namespace, then retry those that
// failed with EPERM. The mount namespace is joined last: paths were opened before.
static int join_paths(char *spec)
{
	int fds[MAXNS], flags[MAXNS], n = 0, userfd = -1, mntfd = -1, pending = 0;
	char *save = NULL;
	for (char *tok = strtok_r(spec, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
		char *colon = strchr(tok, ':');
		if (!colon || n >= MAXNS) { errno = EINVAL; fail("bad namespace", tok); }
		*colon = 0;
		int fl = ns_flag(tok);
		if (!fl) { errno = EINVAL; fail("unknown namespace", tok); }
		int fd = open(colon + 1, O_RDONLY | O_CLOEXEC);
		if (fd < 0) fail("open", colon + 1);
		if (fl == CLONE_NEWUSER) userfd = fd;
		else if (fl == CLONE_NEWNS) mntfd = fd;
		else { fds[n] = fd; flags[n] = fl; n++; }
	}
	for (int i = 0; i < n; i++) {
		if (setns(fds[i], flags[i]) == 0) { close(fds[i]); fds[i] = -1; continue; }
		if (errno != EPERM || userfd < 0) fail("setns", "");
		pending++;
	}
	if (userfd >= 0) {
		if (setns(userfd, CLONE_NEWUSER) < 0) fail("setns", "user");
		close(userfd);
		// Become the namespace's root so the caps apply and files we create are owned right.
		if (setresgid(0, 0, 0) < 0) fail("setresgid", "0");
		if (setresuid(0, 0, 0) < 0) fail("setresuid", "0");
	}
	for (int i = 0; pending && i < n; i++) {
		if (fds[i] < 0) continue;
		if (setns(fds[i], flags[i]) < 0) fail("setns (after user)", "");
		close(fds[i]);
	}
	if (mntfd >= 0) {
		if (setns(mntfd, CLONE_NEWNS) < 0) fail("setns", "mnt");
		close(mntfd);
	}
	return 0;
}

static void on_signal(int sig) { (void)sig; }

#if defined(__x86_64__)
#define PAUSE_AUDIT_ARCH AUDIT_ARCH_X86_64
#elif defined(__aarch64__)
#define PAUSE_AUDIT_ARCH AUDIT_ARCH_AARCH64
#elif defined(__riscv) && __riscv_xlen == 64
#define PAUSE_AUDIT_ARCH AUDIT_ARCH_RISCV64
#elif defined(__powerpc64__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
#define PAUSE_AUDIT_ARCH AUDIT_ARCH_PPC64LE
#elif defined(__s390x__)
#define PAUSE_AUDIT_ARCH AUDIT_ARCH_S390X
#else
#error "crid: the pause's seccomp filter needs this CPU's AUDIT_ARCH"
#endif

#define PAUSE_ALLOW(nr) BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, (nr), 0, 1), BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW)

// pause_report tells CreatePodInfra (fd 3, a pipe) that the pause is set up
// ("ok") or why not, then closes it; on error the pause exits.
static void pause_report(const char *what)
{
	char buf[256];
	int n;
	if (!what)
		n = snprintf(buf, sizeof(buf), "ok");
	else
		n = snprintf(buf, sizeof(buf), "pause: %s: %s", what, strerror(errno));
	if (write(3, buf, n) < 0) {}
	close(3);
	if (what) _exit(2);
}

// pause_root gives the pause an empty read-only tmpfs as its root, in the
// mount namespace of its own it was cloned with: a container of the pod
// that can follow /proc/1/root (CAP_SYS_PTRACE, shared PID namespace) finds
// nothing there, instead of the host's filesystem.
static void pause_root(void)
{
	if (mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0) pause_report("make / private");
	int fs = syscall(SYS_fsopen, "tmpfs", 1 /* FSOPEN_CLOEXEC */);
	if (fs < 0) pause_report("fsopen tmpfs");
	if (syscall(SYS_fsconfig, fs, 1 /* FSCONFIG_SET_STRING */, "size", "4k", 0) < 0 ||
	    syscall(SYS_fsconfig, fs, 1, "nr_inodes", "1", 0) < 0 ||
	    syscall(SYS_fsconfig, fs, 1, "mode", "0555", 0) < 0 ||
	    syscall(SYS_fsconfig, fs, 6 /* FSCONFIG_CMD_CREATE */, NULL, NULL, 0) < 0)
		pause_report("configure tmpfs");
	int mnt = syscall(SYS_fsmount, fs, 1 /* FSMOUNT_CLOEXEC */,
			  0x1 | 0x2 | 0x4 | 0x8 /* MOUNT_ATTR_RDONLY|NOSUID|NODEV|NOEXEC */);
	if (mnt < 0) pause_report("fsmount");
	close(fs);
	// On top of "/", then pivot into it: "." is the tmpfs, the old root
	// lands on it and is detached.
	if (syscall(SYS_move_mount, mnt, "", AT_FDCWD, "/", 0x4 /* MOVE_MOUNT_F_EMPTY_PATH */) < 0)
		pause_report("attach root");
	if (fchdir(mnt) < 0) pause_report("chdir root");
	close(mnt);
	if (syscall(SYS_pivot_root, ".", ".") < 0) pause_report("pivot_root");
	if (umount2(".", MNT_DETACH) < 0) pause_report("detach the old root");
	if (chdir("/") < 0) pause_report("chdir /");
}

// pause_confine drops every capability (bounding, ambient, then the sets),
// sets no_new_privs and a seccomp filter allowing only what the wait loop
// calls: an injected process image (ptrace) can do nothing else either.
static void pause_confine(void)
{
	for (int c = 0; c <= 63; c++)
		if (prctl(PR_CAPBSET_DROP, c, 0, 0, 0) < 0 && errno != EINVAL) pause_report("drop bounding capability");
	if (prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0) < 0 && errno != EINVAL)
		pause_report("clear ambient capabilities");
	struct __user_cap_header_struct hdr = {_LINUX_CAPABILITY_VERSION_3, 0};
	struct __user_cap_data_struct data[2];
	memset(data, 0, sizeof(data));
	if (syscall(SYS_capset, &hdr, data) < 0) pause_report("capset");
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0) pause_report("no_new_privs");
	struct sock_filter filter[] = {
		BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, arch)),
		BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, PAUSE_AUDIT_ARCH, 1, 0),
		BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_KILL_PROCESS),
		BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr)),
		PAUSE_ALLOW(SYS_rt_sigtimedwait),
		PAUSE_ALLOW(SYS_wait4),
		PAUSE_ALLOW(SYS_waitid),
		PAUSE_ALLOW(SYS_rt_sigreturn),
		PAUSE_ALLOW(SYS_restart_syscall),
		PAUSE_ALLOW(SYS_exit_group),
		PAUSE_ALLOW(SYS_exit),
		PAUSE_ALLOW(SYS_write), // the report on fd 3, the only fd it has
		PAUSE_ALLOW(SYS_close),
		BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | EPERM),
	};
	struct sock_fprog prog = {sizeof(filter) / sizeof(filter[0]), filter};
	if (prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &prog, 0, 0) < 0) pause_report("seccomp");
}

// run_pause is the pod's infra process: it holds the pod's namespaces, reaps
// zombies when it is PID 1 of a shared PID namespace and exits on SIGTERM or
// SIGINT. It is plain C, run before the Go runtime starts, so that a pod's
// infra process costs a few pages instead of a Go heap and threads. Started
// by CreatePodInfra, it confines itself (pause_root, pause_confine) and
// reports on fd 3 before it waits.
static void run_pause(void)
{
	const char *h = getenv("_CRID_HOSTNAME");
	if (h && *h && sethostname(h, strlen(h)) < 0) pause_report("sethostname");
	// Handlers, not SIG_DFL: PID 1 of a namespace ignores default-action
	// signals even from the host. Blocked, they are taken by sigwaitinfo.
	struct sigaction sa;
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_signal;
	sigaction(SIGCHLD, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	sigset_t set;
	sigemptyset(&set);
	sigaddset(&set, SIGCHLD);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	sigprocmask(SIG_BLOCK, &set, NULL);
	// Only CreatePodInfra asks, and it always gives the pause a mount
	// namespace of its own (pivot_root in the host's would move the host's
	// root); the user namespace holder of idmapped mounts does not.
	const char *confine = getenv("_CRID_PAUSE_CONFINE");
	if (confine && *confine) {
		pause_root();
		pause_confine();
		pause_report(NULL);
	} else if (chdir("/") < 0) _exit(2);
	for (;;) {
		int sig = sigwaitinfo(&set, NULL);
		if (sig == SIGTERM || sig == SIGINT) _exit(0);
		if (sig == SIGCHLD)
			while (waitpid(-1, NULL, WNOHANG) > 0) {}
	}
}

__attribute__((constructor)) static void crid_nsenter(void)
{
	const char *pz = getenv("_CRID_PAUSE");
	const char *s = getenv("_CRID_NSENTER");
	const char *mode = getenv("_CRID_MODE");
	// A process the executor started (pause, container init, exec) is not
	// dumpable from here until it execve()s the container's program: while
	// it still has the runtime's capabilities and fds and no seccomp filter,
	// a root process of the container (or of its pod) must not ptrace it or
	// open its /proc files (runc CVE-2016-9962). The Go init says it again.
	if ((pz && *pz) || (s && *s) || (mode && *mode))
		prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);
	if (pz && *pz) run_pause();
	if (!s || !*s) return;
	sync_fd = atoi(s);
	int needfork = 0;

	// Exec: join every namespace of a pidfd at once; the kernel orders them
	// (user first) and the pidfd cannot be recycled like a /proc/<pid> path.
	const char *p = getenv("_CRID_NSPIDFD");
	if (p && *p) {
		int pidfd = -1, flags = 0;
		if (sscanf(p, "%d:%d", &pidfd, &flags) != 2) { errno = EINVAL; fail("bad _CRID_NSPIDFD", p); }
		if (flags && setns(pidfd, flags) < 0) fail("setns pidfd", p);
		close(pidfd);
		if (flags & CLONE_NEWUSER) {
			if (setresgid(0, 0, 0) < 0) fail("setresgid", "0");
			if (setresuid(0, 0, 0) < 0) fail("setresuid", "0");
		}
		if (flags & CLONE_NEWPID) needfork = 1;
	}
	const char *j = getenv("_CRID_NSJOIN");
	if (j && *j) {
		char *dup = strdup(j);
		if (strstr(dup, "pid:")) needfork = 1;
		join_paths(dup);
		free(dup);
	}
	const char *u = getenv("_CRID_NSUNSHARE");
	if (u && *u) {
		int fl = atoi(u);
		if (fl && unshare(fl) < 0) fail("unshare", u);
		if (fl & CLONE_NEWPID) needfork = 1;
	}
	char buf[64];
	if (!needfork) {
		snprintf(buf, sizeof(buf), "{\"pid\":%d}", getpid());
		send_msg(buf);
		return;
	}
	pid_t pid = fork();
	if (pid < 0) fail("fork", "");
	if (pid > 0) {
		// The subreaper (monitor) inherits the child and reaps us.
		snprintf(buf, sizeof(buf), "{\"pid\":%d}", pid);
		send_msg(buf);
		_exit(0);
	}
}

void crid_nsenter_linked(void) {}
