package spec

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	goruntime "runtime"
	"slices"
	"strings"

	"github.com/crid-dev/crid/errdefs"
	specs "github.com/opencontainers/runtime-spec/specs-go"
	runtime "k8s.io/cri-api/pkg/apis/runtime/v1"
)

// Spellings of the deprecated string fields (seccomp_profile_path,
// apparmor_profile).
const (
	profileRuntimeDefault = "runtime/default"
	profileDockerDefault  = "docker/default"
	profileUnconfined     = "unconfined"
	profileLocalhost      = "localhost/"
)

// securityProfile folds the structured field and the deprecated string into
// one SecurityProfile; the structured field wins. "" means Unconfined, as
// the CRI documents for the string form.
func securityProfile(p *runtime.SecurityProfile, legacy, field string) (*runtime.SecurityProfile, error) {
	if p != nil {
		return p, nil
	}
	switch {
	case legacy == "" || legacy == profileUnconfined:
		return &runtime.SecurityProfile{ProfileType: runtime.SecurityProfile_Unconfined}, nil
	case legacy == profileRuntimeDefault || legacy == profileDockerDefault:
		return &runtime.SecurityProfile{ProfileType: runtime.SecurityProfile_RuntimeDefault}, nil
	case strings.HasPrefix(legacy, profileLocalhost):
		return &runtime.SecurityProfile{ProfileType: runtime.SecurityProfile_Localhost, LocalhostRef: strings.TrimPrefix(legacy, profileLocalhost)}, nil
	}
	return nil, invalidf(field, "unknown profile %q", legacy)
}

// seccompFor picks the filter for a process holding caps.
func seccompFor(h Host, p *runtime.SecurityProfile, legacy, field string, privileged bool, caps []string) (*specs.LinuxSeccomp, error) {
	if privileged {
		return nil, nil
	}
	prof, err := securityProfile(p, legacy, field)
	if err != nil {
		return nil, err
	}
	switch prof.GetProfileType() {
	case runtime.SecurityProfile_Unconfined:
		return nil, nil
	case runtime.SecurityProfile_RuntimeDefault:
		if h.SeccompDisabled {
			return nil, nil
		}
		return DefaultSeccompProfile(caps, h.Arch), nil
	case runtime.SecurityProfile_Localhost:
		ref := strings.TrimPrefix(prof.GetLocalhostRef(), profileLocalhost)
		if !strings.HasPrefix(ref, "/") {
			return nil, invalidf(field, "localhost profile %q must be an absolute path", ref)
		}
		if h.SeccompDisabled {
			return nil, fmt.Errorf("%s: localhost profile %q: seccomp is not supported on this node: %w", field, ref, errdefs.ErrFailedPrecondition)
		}
		if h.ReadFile == nil {
			return nil, fmt.Errorf("%s: no Host.ReadFile to read %q: %w", field, ref, errdefs.ErrFailedPrecondition)
		}
		data, err := h.ReadFile(ref)
		if errors.Is(err, fs.ErrNotExist) {
			// The pod names a profile the node does not have: its spec is wrong.
			return nil, invalidf(field, "read localhost profile: %v", err)
		}
		if err != nil {
			return nil, fmt.Errorf("%s: read localhost profile: %w", field, err)
		}
		s, err := ParseSeccompProfile(data, caps, h.Arch)
		if err != nil {
			return nil, fmt.Errorf("%s: localhost profile %q: %w", field, ref, err)
		}
		return s, nil
	}
	return nil, invalidf(field, "unknown profile type %d", prof.GetProfileType())
}

// seccompFile is the Docker/moby profile format, a superset of the OCI
// LinuxSeccomp JSON: it adds archMap and per-rule includes/excludes.
type seccompFile struct {
	DefaultAction    specs.LinuxSeccompAction `json:"defaultAction"`
	DefaultErrnoRet  *uint                    `json:"defaultErrnoRet"`
	Architectures    []specs.Arch             `json:"architectures"`
	ArchMap          []seccompArchMap         `json:"archMap"`
	Flags            []specs.LinuxSeccompFlag `json:"flags"`
	ListenerPath     string                   `json:"listenerPath"`
	ListenerMetadata string                   `json:"listenerMetadata"`
	Syscalls         []seccompRule            `json:"syscalls"`
}

type seccompArchMap struct {
	Arch      specs.Arch   `json:"architecture"`
	SubArches []specs.Arch `json:"subArchitectures"`
}

type seccompRule struct {
	Name     string                   `json:"name"` // the old single-name form
	Names    []string                 `json:"names"`
	Action   specs.LinuxSeccompAction `json:"action"`
	ErrnoRet *uint                    `json:"errnoRet"`
	Args     []specs.LinuxSeccompArg  `json:"args"`
	Includes *seccompFilter           `json:"includes"`
	Excludes *seccompFilter           `json:"excludes"`
}

// seccompFilter: a rule applies when the process holds all Caps and runs on
// one of Arches (GOARCH names). MinKernel is not checked: crid needs a
// kernel newer than any such condition in common profiles.
type seccompFilter struct {
	Caps   []string `json:"caps"`
	Arches []string `json:"arches"`
}

var seccompActions = []specs.LinuxSeccompAction{
	specs.ActKill, specs.ActKillProcess, specs.ActKillThread, specs.ActTrap, specs.ActErrno,
	specs.ActTrace, specs.ActAllow, specs.ActLog, specs.ActNotify,
}

var seccompOps = []specs.LinuxSeccompOperator{
	specs.OpNotEqual, specs.OpLessThan, specs.OpLessEqual, specs.OpEqualTo,
	specs.OpGreaterEqual, specs.OpGreaterThan, specs.OpMaskedEqual,
}

// ParseSeccompProfile reads a Localhost profile (Docker or OCI JSON) and
// resolves its capability and architecture conditions for a process holding
// caps on arch (GOARCH; "" = crid's own).
func ParseSeccompProfile(data []byte, caps []string, arch string) (*specs.LinuxSeccomp, error) {
	if arch == "" {
		arch = goruntime.GOARCH
	}
	var f seccompFile
	if err := json.Unmarshal(data, &f); err != nil {
		return nil, fmt.Errorf("not a seccomp profile: %v: %w", err, errdefs.ErrInvalidArgument)
	}
	if !slices.Contains(seccompActions, f.DefaultAction) {
		return nil, invalidf("defaultAction", "unknown action %q", f.DefaultAction)
	}
	out := &specs.LinuxSeccomp{
		DefaultAction:    f.DefaultAction,
		DefaultErrnoRet:  f.DefaultErrnoRet,
		Architectures:    profileArches(f, arch),
		Flags:            f.Flags,
		ListenerPath:     f.ListenerPath,
		ListenerMetadata: f.ListenerMetadata,
	}
	for i, r := range f.Syscalls {
		field := fmt.Sprintf("syscalls[%d]", i)
		names := r.Names
		if r.Name != "" {
			names = append([]string{r.Name}, names...)
		}
		if len(names) == 0 {
			return nil, invalidf(field, "no syscall names")
		}
		if !slices.Contains(seccompActions, r.Action) {
			return nil, invalidf(field+".action", "unknown action %q", r.Action)
		}
		for j, a := range r.Args {
			if !slices.Contains(seccompOps, a.Op) {
				return nil, invalidf(fmt.Sprintf("%s.args[%d].op", field, j), "unknown operator %q", a.Op)
			}
		}
		if !ruleApplies(r, caps, arch) {
			continue
		}
		out.Syscalls = append(out.Syscalls, specs.LinuxSyscall{Names: names, Action: r.Action, ErrnoRet: r.ErrnoRet, Args: r.Args})
	}
	return out, nil
}

// profileArches: explicit architectures win; otherwise the archMap entry
// for the native architecture and its sub-architectures.
func profileArches(f seccompFile, arch string) []specs.Arch {
	if len(f.Architectures) > 0 || len(f.ArchMap) == 0 {
		return f.Architectures
	}
	native := seccompArches[arch]
	if len(native) == 0 {
		return nil
	}
	for _, m := range f.ArchMap {
		if m.Arch == native[0] {
			return append([]specs.Arch{m.Arch}, m.SubArches...)
		}
	}
	return nil
}

func ruleApplies(r seccompRule, caps []string, arch string) bool {
	if in := r.Includes; in != nil {
		if len(in.Arches) > 0 && !slices.Contains(in.Arches, arch) {
			return false
		}
		for _, c := range in.Caps {
			if !slices.Contains(caps, c) {
				return false
			}
		}
	}
	if ex := r.Excludes; ex != nil {
		if slices.Contains(ex.Arches, arch) {
			return false
		}
		for _, c := range ex.Caps {
			if slices.Contains(caps, c) {
				return false
			}
		}
	}
	return true
}
