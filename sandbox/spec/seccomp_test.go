package spec

import (
	"errors"
	"io/fs"
	"slices"
	"strings"
	"testing"

	"github.com/crid-dev/crid/errdefs"
	specs "github.com/opencontainers/runtime-spec/specs-go"
	runtime "k8s.io/cri-api/pkg/apis/runtime/v1"
)

// allowed reports whether p lets name through unconditionally.
func allowed(p *specs.LinuxSeccomp, name string) bool {
	for _, r := range p.Syscalls {
		if r.Action == specs.ActAllow && len(r.Args) == 0 && slices.Contains(r.Names, name) {
			return true
		}
	}
	return false
}

func ruleFor(p *specs.LinuxSeccomp, name string) []specs.LinuxSyscall {
	var out []specs.LinuxSyscall
	for _, r := range p.Syscalls {
		if slices.Contains(r.Names, name) {
			out = append(out, r)
		}
	}
	return out
}

func TestDefaultSeccompProfile(t *testing.T) {
	p := DefaultSeccompProfile(DefaultCapabilities(), "amd64")
	if p.DefaultAction != specs.ActErrno || p.DefaultErrnoRet == nil || *p.DefaultErrnoRet != 1 {
		t.Fatalf("default action: %v %v", p.DefaultAction, p.DefaultErrnoRet)
	}
	if !slices.Equal(p.Architectures, []specs.Arch{specs.ArchX86_64, specs.ArchX86, specs.ArchX32}) {
		t.Fatalf("arches: %v", p.Architectures)
	}
	for _, name := range []string{"read", "write", "exit_group", "openat", "execve", "futex", "epoll_pwait", "socket", "arch_prctl", "rt_sigreturn", "statx", "chroot", "map_shadow_stack", "clone3"} {
		if name == "clone3" {
			continue
		}
		if !allowed(p, name) {
			t.Errorf("%s not allowed", name)
		}
	}
	for _, name := range []string{"kexec_load", "kexec_file_load", "open_by_handle_at", "mount", "umount2", "unshare", "setns",
		"init_module", "finit_module", "delete_module", "reboot", "bpf", "keyctl", "add_key", "swapon", "pivot_root",
		"ptrace_not_a_syscall", "io_uring_setup", "userfaultfd", "clock_settime", "perf_event_open"} {
		if len(ruleFor(p, name)) != 0 {
			t.Errorf("%s must be denied by default, has %v", name, ruleFor(p, name))
		}
	}
	// clone only without namespace flags; clone3 gets ENOSYS so libc falls back.
	clone := ruleFor(p, "clone")
	if len(clone) != 1 || clone[0].Args[0].Op != specs.OpMaskedEqual || clone[0].Args[0].Value != cloneNamespaceFlags || clone[0].Args[0].Index != 0 {
		t.Fatalf("clone: %+v", clone)
	}
	c3 := ruleFor(p, "clone3")
	if len(c3) != 1 || c3[0].Action != specs.ActErrno || *c3[0].ErrnoRet != 38 {
		t.Fatalf("clone3: %+v", c3)
	}
	if pers := ruleFor(p, "personality"); len(pers) != len(allowedPersonalities) || pers[0].Args[0].Op != specs.OpEqualTo {
		t.Fatalf("personality: %+v", pers)
	}
	// Names appear once in the big allow rule.
	names := p.Syscalls[0].Names
	if !slices.IsSorted(names) || len(slices.Compact(slices.Clone(names))) != len(names) {
		t.Fatal("allow list not sorted or has duplicates")
	}
}

func TestDefaultSeccompProfileCapabilities(t *testing.T) {
	caps := append(DefaultCapabilities(), "CAP_SYS_ADMIN", "CAP_SYS_PTRACE", "CAP_SYS_TIME", "CAP_DAC_READ_SEARCH")
	p := DefaultSeccompProfile(caps, "amd64")
	for _, name := range []string{"mount", "umount2", "unshare", "setns", "clone", "clone3", "process_vm_readv", "clock_settime", "open_by_handle_at"} {
		if !allowed(p, name) {
			t.Errorf("%s not allowed with its capability", name)
		}
	}
	if len(ruleFor(p, "clone")) != 1 || len(ruleFor(p, "clone3")) != 1 {
		t.Error("with CAP_SYS_ADMIN clone and clone3 are allowed once, unconditionally")
	}
	for _, name := range []string{"kexec_load", "init_module", "reboot"} {
		if len(ruleFor(p, name)) != 0 {
			t.Errorf("%s allowed without its capability", name)
		}
	}
}

func TestDefaultSeccompProfileArches(t *testing.T) {
	arm := DefaultSeccompProfile(nil, "arm64")
	if !slices.Equal(arm.Architectures, []specs.Arch{specs.ArchAARCH64, specs.ArchARM}) || !allowed(arm, "set_tls") || allowed(arm, "arch_prctl") {
		t.Fatalf("arm64: %v", arm.Architectures)
	}
	s390 := DefaultSeccompProfile(nil, "s390x")
	if c := ruleFor(s390, "clone"); c[0].Args[0].Index != 1 {
		t.Fatalf("s390x clone flags are argument 1: %+v", c)
	}
	// Two profiles never share state.
	a, b := DefaultSeccompProfile(nil, "amd64"), DefaultSeccompProfile(nil, "amd64")
	a.Syscalls[0].Names[0] = "mutated"
	*a.DefaultErrnoRet = 99
	if b.Syscalls[0].Names[0] == "mutated" || *b.DefaultErrnoRet != 1 {
		t.Fatal("profiles share memory")
	}
}

const dockerProfile = `{
  "defaultAction": "SCMP_ACT_ERRNO",
  "defaultErrnoRet": 1,
  "archMap": [
    {"architecture": "SCMP_ARCH_X86_64", "subArchitectures": ["SCMP_ARCH_X86", "SCMP_ARCH_X32"]},
    {"architecture": "SCMP_ARCH_AARCH64", "subArchitectures": ["SCMP_ARCH_ARM"]}
  ],
  "flags": ["SECCOMP_FILTER_FLAG_LOG"],
  "syscalls": [
    {"names": ["read", "write", "exit_group"], "action": "SCMP_ACT_ALLOW"},
    {"name": "getpid", "action": "SCMP_ACT_ALLOW"},
    {"names": ["personality"], "action": "SCMP_ACT_ALLOW", "args": [{"index": 0, "value": 8, "valueTwo": 0, "op": "SCMP_CMP_EQ"}]},
    {"names": ["mount"], "action": "SCMP_ACT_ALLOW", "includes": {"caps": ["CAP_SYS_ADMIN"]}},
    {"names": ["clone"], "action": "SCMP_ACT_ALLOW", "excludes": {"caps": ["CAP_SYS_ADMIN"]}, "comment": "x"},
    {"names": ["arch_prctl"], "action": "SCMP_ACT_ALLOW", "includes": {"arches": ["amd64"]}},
    {"names": ["kexec_load"], "action": "SCMP_ACT_ERRNO", "errnoRet": 38}
  ]
}`

func TestParseSeccompProfile(t *testing.T) {
	p, err := ParseSeccompProfile([]byte(dockerProfile), DefaultCapabilities(), "amd64")
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(p.Architectures, []specs.Arch{specs.ArchX86_64, specs.ArchX86, specs.ArchX32}) {
		t.Errorf("arches: %v", p.Architectures)
	}
	if !slices.Equal(p.Flags, []specs.LinuxSeccompFlag{specs.LinuxSeccompFlagLog}) || *p.DefaultErrnoRet != 1 {
		t.Errorf("flags/errno: %v %v", p.Flags, p.DefaultErrnoRet)
	}
	for _, n := range []string{"read", "getpid", "clone", "arch_prctl"} {
		if !allowed(p, n) {
			t.Errorf("%s not allowed", n)
		}
	}
	if len(ruleFor(p, "mount")) != 0 {
		t.Error("mount included without CAP_SYS_ADMIN")
	}
	if k := ruleFor(p, "kexec_load"); len(k) != 1 || *k[0].ErrnoRet != 38 {
		t.Errorf("kexec_load: %+v", k)
	}
	if pe := ruleFor(p, "personality"); len(pe) != 1 || pe[0].Args[0] != (specs.LinuxSeccompArg{Index: 0, Value: 8, Op: specs.OpEqualTo}) {
		t.Errorf("personality: %+v", pe)
	}

	admin, _ := ParseSeccompProfile([]byte(dockerProfile), []string{"CAP_SYS_ADMIN"}, "arm64")
	if !allowed(admin, "mount") || len(ruleFor(admin, "clone")) != 0 || len(ruleFor(admin, "arch_prctl")) != 0 {
		t.Error("includes/excludes not applied for CAP_SYS_ADMIN on arm64")
	}
	if !slices.Equal(admin.Architectures, []specs.Arch{specs.ArchAARCH64, specs.ArchARM}) {
		t.Errorf("arm64 arches: %v", admin.Architectures)
	}

	// An archMap without the native architecture leaves the filter to the
	// executor's native default rather than naming foreign ones.
	if p, err := ParseSeccompProfile([]byte(dockerProfile), nil, "riscv64"); err != nil || p.Architectures != nil {
		t.Errorf("riscv64: %v %v", p.Architectures, err)
	}

	// The plain OCI form parses too.
	oci := `{"defaultAction":"SCMP_ACT_ALLOW","architectures":["SCMP_ARCH_X86_64"],"syscalls":[{"names":["kexec_load"],"action":"SCMP_ACT_KILL_PROCESS"}]}`
	p, err = ParseSeccompProfile([]byte(oci), nil, "arm64")
	if err != nil || p.DefaultAction != specs.ActAllow || !slices.Equal(p.Architectures, []specs.Arch{specs.ArchX86_64}) || p.Syscalls[0].Action != specs.ActKillProcess {
		t.Fatalf("OCI profile: %+v, %v", p, err)
	}
}

func TestParseSeccompProfileInvalid(t *testing.T) {
	tests := []struct{ json, field string }{
		{`{`, "not a seccomp profile"},
		{`{"defaultAction":"SCMP_ACT_NOPE"}`, "defaultAction"},
		{`{"defaultAction":"SCMP_ACT_ERRNO","syscalls":[{"names":["read"],"action":"ALLOW"}]}`, "syscalls[0].action"},
		{`{"defaultAction":"SCMP_ACT_ERRNO","syscalls":[{"action":"SCMP_ACT_ALLOW"}]}`, "syscalls[0]"},
		{`{"defaultAction":"SCMP_ACT_ERRNO","syscalls":[{"names":["a"],"action":"SCMP_ACT_ALLOW"},{"names":["a"],"action":"SCMP_ACT_ALLOW","args":[{"index":0,"op":"EQ"}]}]}`, "syscalls[1].args[0].op"},
	}
	for _, tt := range tests {
		t.Run(tt.field, func(t *testing.T) {
			_, err := ParseSeccompProfile([]byte(tt.json), nil, "amd64")
			wantInvalid(t, err, tt.field)
		})
	}
}

func TestSeccompSelection(t *testing.T) {
	files := map[string]string{"/var/lib/kubelet/seccomp/p.json": dockerProfile}
	host := Host{Arch: "amd64", ReadFile: func(p string) ([]byte, error) {
		if d, ok := files[p]; ok {
			return []byte(d), nil
		}
		return nil, fs.ErrNotExist
	}}
	prof := func(t runtime.SecurityProfile_ProfileType, ref string) *runtime.SecurityProfile {
		return &runtime.SecurityProfile{ProfileType: t, LocalhostRef: ref}
	}
	tests := []struct {
		name       string
		host       Host
		sc         *runtime.LinuxContainerSecurityContext
		want       string // "none", "default", "localhost"
		wantErr    string
		wantErrIs  error
		privileged bool
	}{
		{name: "nil security context is unconfined", sc: nil, want: "none"},
		{name: "runtime default", sc: &runtime.LinuxContainerSecurityContext{Seccomp: prof(runtime.SecurityProfile_RuntimeDefault, "")}, want: "default"},
		{name: "unconfined", sc: &runtime.LinuxContainerSecurityContext{Seccomp: prof(runtime.SecurityProfile_Unconfined, "")}, want: "none"},
		{name: "localhost", sc: &runtime.LinuxContainerSecurityContext{Seccomp: prof(runtime.SecurityProfile_Localhost, "/var/lib/kubelet/seccomp/p.json")}, want: "localhost"},
		{name: "legacy runtime/default", sc: &runtime.LinuxContainerSecurityContext{SeccompProfilePath: "runtime/default"}, want: "default"},
		{name: "legacy docker/default", sc: &runtime.LinuxContainerSecurityContext{SeccompProfilePath: "docker/default"}, want: "default"},
		{name: "legacy unconfined", sc: &runtime.LinuxContainerSecurityContext{SeccompProfilePath: "unconfined"}, want: "none"},
		{name: "legacy localhost", sc: &runtime.LinuxContainerSecurityContext{SeccompProfilePath: "localhost//var/lib/kubelet/seccomp/p.json"}, want: "localhost"},
		{name: "structured wins over legacy", sc: &runtime.LinuxContainerSecurityContext{Seccomp: prof(runtime.SecurityProfile_Unconfined, ""), SeccompProfilePath: "runtime/default"}, want: "none"},
		{name: "privileged has none", privileged: true, sc: &runtime.LinuxContainerSecurityContext{Privileged: true, Seccomp: prof(runtime.SecurityProfile_RuntimeDefault, "")}, want: "none"},
		{name: "legacy garbage", sc: &runtime.LinuxContainerSecurityContext{SeccompProfilePath: "foo"}, wantErr: "linux.security_context.seccomp"},
		{name: "relative localhost", sc: &runtime.LinuxContainerSecurityContext{Seccomp: prof(runtime.SecurityProfile_Localhost, "p.json")}, wantErr: "linux.security_context.seccomp"},
		{name: "missing localhost file", sc: &runtime.LinuxContainerSecurityContext{Seccomp: prof(runtime.SecurityProfile_Localhost, "/nope.json")}, wantErr: "linux.security_context.seccomp: read localhost profile", wantErrIs: errdefs.ErrInvalidArgument},
		{name: "seccomp disabled: default is none", host: Host{SeccompDisabled: true}, sc: &runtime.LinuxContainerSecurityContext{Seccomp: prof(runtime.SecurityProfile_RuntimeDefault, "")}, want: "none"},
		{name: "seccomp disabled: localhost refused", host: Host{SeccompDisabled: true, ReadFile: host.ReadFile}, sc: &runtime.LinuxContainerSecurityContext{Seccomp: prof(runtime.SecurityProfile_Localhost, "/var/lib/kubelet/seccomp/p.json")}, wantErrIs: errdefs.ErrFailedPrecondition},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			in := containerInput()
			in.Host = host
			if tt.host.SeccompDisabled {
				in.Host = tt.host
			}
			if tt.privileged {
				in.Sandbox.Linux.SecurityContext.Privileged = true
			}
			in.Config.Linux.SecurityContext = tt.sc
			s, err := ContainerSpec(in)
			if tt.wantErrIs != nil && !errors.Is(err, tt.wantErrIs) {
				t.Fatalf("got %v, want %v", err, tt.wantErrIs)
			}
			switch {
			case tt.wantErrIs != nil && tt.wantErr == "":
				return
			case tt.wantErr != "":
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("got %v, want %q", err, tt.wantErr)
				}
				return
			case err != nil:
				t.Fatal(err)
			}
			got := "none"
			if s.Linux.Seccomp != nil {
				got = "default"
				if len(ruleFor(s.Linux.Seccomp, "kexec_load")) == 1 {
					got = "localhost"
				}
			}
			if got != tt.want {
				t.Fatalf("got %s, want %s", got, tt.want)
			}
		})
	}
}
