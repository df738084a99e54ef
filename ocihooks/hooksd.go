package ocihooks

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// Stages are the OCI runtime spec's hook stages, in the order a container meets them.
var Stages = []string{"prestart", "createRuntime", "createContainer", "startContainer", "poststart", "poststop"}

// File is one hooks.d file (schema 1.0.0).
type File struct {
	Version string     `json:"version"`
	Hook    specs.Hook `json:"hook"`
	When    When       `json:"when"`
	Stages  []string   `json:"stages"`

	name     string // the file's path, for messages
	commands []*regexp.Regexp
	annots   [][2]*regexp.Regexp
}

// When says which containers get the hook: all the conditions set must match.
type When struct {
	Always        *bool             `json:"always,omitempty"`
	Annotations   map[string]string `json:"annotations,omitempty"`
	Commands      []string          `json:"commands,omitempty"`
	HasBindMounts *bool             `json:"hasBindMounts,omitempty"`
}

// Read loads the *.json files of dirs. A file name in a later dir masks the same name in
// an earlier one; the result is ordered by lower-cased file name (the order hooks are
// added in). A missing dir is fine; a file that does not parse or validate is an error
// naming it, so that a hook meant to run is never silently left out.
func Read(dirs []string) ([]*File, error) {
	byName := map[string]string{}
	for _, dir := range dirs {
		ents, err := os.ReadDir(dir)
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("hooks dir: %w", err)
		}
		for _, e := range ents {
			if !e.IsDir() && strings.HasSuffix(e.Name(), ".json") {
				byName[e.Name()] = filepath.Join(dir, e.Name())
			}
		}
	}
	names := make([]string, 0, len(byName))
	for n := range byName {
		names = append(names, n)
	}
	slices.SortFunc(names, func(a, b string) int {
		if c := strings.Compare(strings.ToLower(a), strings.ToLower(b)); c != 0 {
			return c
		}
		return strings.Compare(a, b)
	})
	files := make([]*File, 0, len(names))
	for _, n := range names {
		f, err := readFile(byName[n])
		if err != nil {
			return nil, err
		}
		files = append(files, f)
	}
	return files, nil
}

func readFile(path string) (*File, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("hook %s: %w", path, err)
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	f := &File{name: path}
	if err := dec.Decode(f); err != nil {
		return nil, fmt.Errorf("hook %s: %w", path, err)
	}
	if err := f.validate(); err != nil {
		return nil, fmt.Errorf("hook %s: %w", path, err)
	}
	return f, nil
}

func (f *File) validate() error {
	if f.Version != "1.0.0" {
		return fmt.Errorf("version %q: only schema 1.0.0 is read", f.Version)
	}
	if !filepath.IsAbs(f.Hook.Path) {
		return fmt.Errorf("hook.path %q: must be absolute", f.Hook.Path)
	}
	if _, err := os.Stat(f.Hook.Path); err != nil {
		return fmt.Errorf("hook.path: %w", err)
	}
	if f.Hook.Timeout != nil && *f.Hook.Timeout <= 0 {
		return fmt.Errorf("hook.timeout %d: must be positive", *f.Hook.Timeout)
	}
	w := f.When
	if w.Always == nil && w.HasBindMounts == nil && len(w.Annotations) == 0 && len(w.Commands) == 0 {
		return errors.New("when: needs at least one of always, annotations, commands, hasBindMounts")
	}
	if len(f.Stages) == 0 {
		return errors.New("stages: empty")
	}
	for _, s := range f.Stages {
		if !slices.Contains(Stages, s) {
			return fmt.Errorf("stages: unknown stage %q (%s)", s, strings.Join(Stages, ", "))
		}
	}
	for _, c := range w.Commands {
		re, err := regexp.Compile(c)
		if err != nil {
			return fmt.Errorf("when.commands %q: %w", c, err)
		}
		f.commands = append(f.commands, re)
	}
	for k, v := range w.Annotations {
		kre, err := regexp.Compile(k)
		if err != nil {
			return fmt.Errorf("when.annotations key %q: %w", k, err)
		}
		vre, err := regexp.Compile(v)
		if err != nil {
			return fmt.Errorf("when.annotations[%q] %q: %w", k, v, err)
		}
		f.annots = append(f.annots, [2]*regexp.Regexp{kre, vre})
	}
	return nil
}

// Matches says whether every condition the file sets holds for the container: always
// true; each annotation pattern pair matched by one of annotations (the container's, as
// its runtime request gave them); the process's args[0] matched by one of the command
// patterns; hasBindMounts (the request asked for host mounts) when it is true.
func (f *File) Matches(s *specs.Spec, annotations map[string]string, hasBindMounts bool) bool {
	w := f.When
	if w.Always != nil && !*w.Always {
		return false
	}
	if w.HasBindMounts != nil && *w.HasBindMounts && !hasBindMounts {
		return false
	}
	for _, kv := range f.annots {
		found := false
		for k, v := range annotations {
			if kv[0].MatchString(k) && kv[1].MatchString(v) {
				found = true
				break
			}
		}
		if !found {
			return false
		}
	}
	if len(f.commands) > 0 {
		if s.Process == nil || len(s.Process.Args) == 0 {
			return false
		}
		if !slices.ContainsFunc(f.commands, func(re *regexp.Regexp) bool { return re.MatchString(s.Process.Args[0]) }) {
			return false
		}
	}
	return true
}

// Add appends the hook of every file that matches the container to the stages it names,
// after the hooks the spec already has (from CDI, say).
func Add(s *specs.Spec, files []*File, annotations map[string]string, hasBindMounts bool) {
	for _, f := range files {
		if !f.Matches(s, annotations, hasBindMounts) {
			continue
		}
		if s.Hooks == nil {
			s.Hooks = &specs.Hooks{}
		}
		for _, st := range f.Stages {
			list := stageList(s.Hooks, st)
			*list = append(*list, f.Hook)
		}
	}
}

// stageList is the spec's list for a stage (one of Stages).
func stageList(h *specs.Hooks, stage string) *[]specs.Hook {
	switch stage {
	case "prestart":
		return &h.Prestart //nolint:staticcheck // deprecated by the spec, still run by every runtime
	case "createRuntime":
		return &h.CreateRuntime
	case "createContainer":
		return &h.CreateContainer
	case "startContainer":
		return &h.StartContainer
	case "poststart":
		return &h.Poststart
	default:
		return &h.Poststop
	}
}
