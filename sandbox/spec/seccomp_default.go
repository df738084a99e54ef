package spec

import (
	goruntime "runtime"
	"slices"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// crid's RuntimeDefault seccomp profile. It behaves like the well-known
// container default: everything an ordinary program needs is allowed;
// syscalls that reach node-wide kernel state (modules, kexec, keyrings,
// swap, clocks, mounts, namespaces, BPF, ...) are denied with EPERM unless
// the container holds the capability that makes them legitimate. The list
// is crid's own, grouped by purpose so a reviewer can judge each group.

const (
	errnoEPERM  uint = 1
	errnoENOSYS uint = 38
)

// Syscalls every container may use.
var seccompAllowed = [][]string{
	// files and descriptors
	{"read", "write", "readv", "writev", "pread64", "pwrite64", "preadv", "pwritev",
		"preadv2", "pwritev2", "open", "openat", "openat2", "close", "close_range", "creat",
		"lseek", "_llseek", "dup", "dup2", "dup3", "pipe", "pipe2", "fcntl", "fcntl64", "flock",
		"fsync", "fdatasync", "sync", "syncfs", "sync_file_range", "truncate", "truncate64",
		"ftruncate", "ftruncate64", "fallocate", "fadvise64", "fadvise64_64", "readahead",
		"sendfile", "sendfile64", "splice", "tee", "vmsplice", "copy_file_range", "ioctl"},
	// metadata and directories
	{"stat", "stat64", "lstat", "lstat64", "fstat", "fstat64", "newfstatat", "fstatat64",
		"statx", "statfs", "statfs64", "fstatfs", "fstatfs64", "access", "faccessat",
		"faccessat2", "getdents", "getdents64", "mkdir", "mkdirat", "rmdir", "rename",
		"renameat", "renameat2", "link", "linkat", "symlink", "symlinkat", "unlink", "unlinkat",
		"readlink", "readlinkat", "chmod", "fchmod", "fchmodat", "fchmodat2", "chown",
		"chown32", "fchown", "fchown32", "fchownat", "lchown", "lchown32", "umask", "utime",
		"utimes", "utimensat", "utimensat_time64", "futimesat", "mknod", "mknodat", "chdir",
		"fchdir", "getcwd", "getxattr", "lgetxattr", "fgetxattr", "setxattr", "lsetxattr",
		"fsetxattr", "listxattr", "llistxattr", "flistxattr", "removexattr", "lremovexattr",
		"fremovexattr", "inotify_init", "inotify_init1", "inotify_add_watch",
		"inotify_rm_watch", "fanotify_mark"},
	// waiting and events
	{"select", "_newselect", "pselect6", "pselect6_time64", "poll", "ppoll", "ppoll_time64",
		"epoll_create", "epoll_create1", "epoll_ctl", "epoll_ctl_old", "epoll_wait",
		"epoll_wait_old", "epoll_pwait", "epoll_pwait2", "eventfd", "eventfd2", "signalfd",
		"signalfd4", "timerfd_create", "timerfd_settime", "timerfd_settime64",
		"timerfd_gettime", "timerfd_gettime64", "io_setup", "io_destroy", "io_getevents",
		"io_pgetevents", "io_pgetevents_time64", "io_submit", "io_cancel"},
	// memory
	{"mmap", "mmap2", "munmap", "mremap", "mprotect", "pkey_mprotect", "pkey_alloc",
		"pkey_free", "madvise", "mincore", "mlock", "mlock2", "munlock", "mlockall",
		"munlockall", "msync", "brk", "membarrier", "remap_file_pages", "memfd_create"},
	// processes, threads and identity
	{"fork", "vfork", "execve", "execveat", "exit", "exit_group", "wait4", "waitid",
		"waitpid", "kill", "tkill", "tgkill", "getpid", "getppid", "gettid", "getpgid",
		"setpgid", "getpgrp", "getsid", "setsid", "getuid", "getuid32", "geteuid",
		"geteuid32", "getgid", "getgid32", "getegid", "getegid32", "setuid", "setuid32",
		"setgid", "setgid32", "setreuid", "setreuid32", "setregid", "setregid32",
		"setresuid", "setresuid32", "setresgid", "setresgid32", "getresuid", "getresuid32",
		"getresgid", "getresgid32", "setfsuid", "setfsuid32", "setfsgid", "setfsgid32",
		"getgroups", "getgroups32", "setgroups", "setgroups32", "capget", "capset", "prctl",
		"set_tid_address", "set_robust_list", "get_robust_list", "futex", "futex_time64",
		"futex_waitv", "rseq", "pidfd_open", "pidfd_send_signal", "ptrace", "seccomp",
		"landlock_create_ruleset", "landlock_add_rule", "landlock_restrict_self",
		"restart_syscall", "getcpu", "getrandom", "uname", "sysinfo", "times", "getrusage",
		"getrlimit", "ugetrlimit", "setrlimit", "prlimit64"},
	// scheduling
	{"sched_yield", "sched_getaffinity", "sched_setaffinity", "sched_getparam",
		"sched_setparam", "sched_getscheduler", "sched_setscheduler",
		"sched_get_priority_max", "sched_get_priority_min", "sched_rr_get_interval",
		"sched_rr_get_interval_time64", "sched_getattr", "sched_setattr", "getpriority",
		"setpriority", "ioprio_get", "ioprio_set"},
	// time and signals
	{"pause", "alarm", "nanosleep", "clock_nanosleep", "clock_nanosleep_time64",
		"clock_gettime", "clock_gettime64", "clock_getres", "clock_getres_time64",
		"gettimeofday", "time", "adjtimex", "getitimer", "setitimer", "timer_create",
		"timer_settime", "timer_settime64", "timer_gettime", "timer_gettime64",
		"timer_getoverrun", "timer_delete", "rt_sigaction", "rt_sigprocmask", "rt_sigreturn",
		"sigreturn", "rt_sigpending", "rt_sigsuspend", "rt_sigtimedwait",
		"rt_sigtimedwait_time64", "rt_sigqueueinfo", "rt_tgsigqueueinfo", "sigaltstack",
		"signal", "sigaction", "sigprocmask", "sigpending", "sigsuspend"},
	// System V and POSIX IPC (scoped by the pod's IPC namespace)
	{"shmget", "shmat", "shmdt", "shmctl", "semget", "semop", "semtimedop",
		"semtimedop_time64", "semctl", "msgget", "msgsnd", "msgrcv", "msgctl", "ipc",
		"mq_open", "mq_unlink", "mq_timedsend", "mq_timedsend_time64", "mq_timedreceive",
		"mq_timedreceive_time64", "mq_notify", "mq_getsetattr"},
	// newer kernels (the executor skips names its libseccomp does not know);
	// libc probes some of these and would misbehave on EPERM
	{"cachestat", "map_shadow_stack", "mseal", "statmount", "listmount",
		"lsm_get_self_attr", "lsm_list_modules", "process_madvise", "process_mrelease",
		"futex_wake", "futex_wait", "futex_requeue", "uretprobe", "getxattrat", "setxattrat",
		"listxattrat", "removexattrat", "file_getattr", "file_setattr"},
	// sockets (scoped by the pod's network namespace)
	{"socket", "socketpair", "bind", "listen", "accept", "accept4", "connect",
		"getsockname", "getpeername", "sendto", "recvfrom", "send", "recv", "sendmsg",
		"recvmsg", "sendmmsg", "recvmmsg", "recvmmsg_time64", "shutdown", "setsockopt",
		"getsockopt", "socketcall"},
}

// Per-architecture additions, by GOARCH.
var seccompArchAllowed = map[string][]string{
	"amd64":   {"arch_prctl", "set_thread_area", "get_thread_area"},
	"386":     {"set_thread_area", "get_thread_area"},
	"arm64":   {"arm_fadvise64_64", "arm_sync_file_range", "sync_file_range2", "breakpoint", "cacheflush", "set_tls"},
	"arm":     {"arm_fadvise64_64", "arm_sync_file_range", "sync_file_range2", "breakpoint", "cacheflush", "set_tls"},
	"ppc64le": {"sync_file_range2"},
	"riscv64": {"riscv_flush_icache", "riscv_hwprobe"},
	"s390x":   {"s390_runtime_instr", "s390_guarded_storage"},
}

// Syscalls a capability makes legitimate. Anything not here and not above
// stays denied whatever the capabilities: kexec_load, kexec_file_load,
// add_key/request_key/keyctl (the keyring is not namespaced), swapon,
// swapoff, userfaultfd, io_uring_* (a history of kernel bugs), uselib,
// ustat, sysfs, _sysctl, nfsservctl, vm86, ...
var seccompByCapability = map[string][]string{
	"CAP_SYS_ADMIN": {"mount", "umount", "umount2", "mount_setattr", "move_mount",
		"open_tree", "open_tree_attr", "fsopen", "fsconfig", "fsmount", "fspick", "pivot_root", "unshare",
		"setns", "clone3", "sethostname", "setdomainname", "name_to_handle_at",
		"fanotify_init", "quotactl", "quotactl_fd", "lookup_dcookie", "bpf",
		"perf_event_open", "syslog"},
	"CAP_SYS_PTRACE":      {"process_vm_readv", "process_vm_writev", "kcmp", "pidfd_getfd"},
	"CAP_SYS_MODULE":      {"init_module", "finit_module", "delete_module"},
	"CAP_SYS_BOOT":        {"reboot"},
	"CAP_SYS_CHROOT":      {"chroot"},
	"CAP_SYS_TIME":        {"settimeofday", "stime", "clock_settime", "clock_settime64", "clock_adjtime", "clock_adjtime64"},
	"CAP_SYS_PACCT":       {"acct"},
	"CAP_SYS_RAWIO":       {"iopl", "ioperm", "s390_pci_mmio_read", "s390_pci_mmio_write"},
	"CAP_SYS_NICE":        {"get_mempolicy", "set_mempolicy", "set_mempolicy_home_node", "mbind", "move_pages", "migrate_pages"},
	"CAP_SYSLOG":          {"syslog"},
	"CAP_SYS_TTY_CONFIG":  {"vhangup"},
	"CAP_DAC_READ_SEARCH": {"open_by_handle_at"},
	"CAP_BPF":             {"bpf"},
	"CAP_PERFMON":         {"perf_event_open"},
}

// seccompArches maps GOARCH to the architectures a filter must cover: the
// native one and the compat ABIs a binary could switch to.
var seccompArches = map[string][]specs.Arch{
	"amd64":    {specs.ArchX86_64, specs.ArchX86, specs.ArchX32},
	"386":      {specs.ArchX86},
	"arm64":    {specs.ArchAARCH64, specs.ArchARM},
	"arm":      {specs.ArchARM},
	"ppc64le":  {specs.ArchPPC64LE},
	"s390x":    {specs.ArchS390X, specs.ArchS390},
	"riscv64":  {specs.ArchRISCV64},
	"mips64le": {specs.ArchMIPSEL64, specs.ArchMIPSEL64N32, specs.ArchMIPSEL},
	"loong64":  {specs.ArchLOONGARCH64},
}

// Namespace flags of clone(2): CLONE_NEWNS|NEWCGROUP|NEWUTS|NEWIPC|NEWUSER|NEWPID|NEWNET.
const cloneNamespaceFlags = 0x7E020000

// personality(2) values programs use: query, PER_LINUX, PER_LINUX32,
// UNAME26 and UNAME26|PER_LINUX32.
var allowedPersonalities = []uint64{0x0, 0x8, 0x20000, 0x20008, 0xffffffff}

// DefaultSeccompProfile builds the RuntimeDefault filter for a process
// holding caps (the bounding set) on arch (GOARCH; "" = crid's own).
// Syscall names that do not exist on arch are the executor's to skip, as
// runc does.
func DefaultSeccompProfile(caps []string, arch string) *specs.LinuxSeccomp {
	if arch == "" {
		arch = goruntime.GOARCH
	}
	var names []string
	for _, group := range seccompAllowed {
		names = append(names, group...)
	}
	names = append(names, seccompArchAllowed[arch]...)
	hasAdmin := slices.Contains(caps, "CAP_SYS_ADMIN")
	for _, c := range caps {
		names = append(names, seccompByCapability[c]...)
	}
	if hasAdmin {
		names = append(names, "clone")
	}
	slices.Sort(names)
	names = slices.Compact(names)

	p := &specs.LinuxSeccomp{
		DefaultAction:   specs.ActErrno,
		DefaultErrnoRet: ptr(errnoEPERM),
		Architectures:   slices.Clone(seccompArches[arch]),
		Syscalls:        []specs.LinuxSyscall{{Names: names, Action: specs.ActAllow}},
	}
	for _, v := range allowedPersonalities {
		p.Syscalls = append(p.Syscalls, specs.LinuxSyscall{
			Names:  []string{"personality"},
			Action: specs.ActAllow,
			Args:   []specs.LinuxSeccompArg{{Index: 0, Value: v, Op: specs.OpEqualTo}},
		})
	}
	if !hasAdmin {
		// clone without namespace flags only; the flags are the second
		// argument on s390.
		idx := uint(0)
		if arch == "s390x" {
			idx = 1
		}
		p.Syscalls = append(p.Syscalls,
			specs.LinuxSyscall{
				Names:  []string{"clone"},
				Action: specs.ActAllow,
				Args:   []specs.LinuxSeccompArg{{Index: idx, Value: cloneNamespaceFlags, ValueTwo: 0, Op: specs.OpMaskedEqual}},
			},
			// clone3 passes its flags in memory a filter cannot read, so it
			// is refused with ENOSYS: libc then falls back to clone, which
			// the rule above checks.
			specs.LinuxSyscall{Names: []string{"clone3"}, Action: specs.ActErrno, ErrnoRet: ptr(errnoENOSYS)},
		)
	}
	return p
}
