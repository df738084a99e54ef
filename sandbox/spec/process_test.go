package spec

import (
	"slices"
	"testing"

	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	runtime "k8s.io/cri-api/pkg/apis/runtime/v1"
)

func TestProcessArgs(t *testing.T) {
	img := ocispec.ImageConfig{Entrypoint: []string{"/entry", "-x"}, Cmd: []string{"serve", "--port=80"}}
	tests := []struct {
		name          string
		command, args []string
		img           ocispec.ImageConfig
		want          []string
	}{
		{"image only", nil, nil, img, []string{"/entry", "-x", "serve", "--port=80"}},
		{"command replaces entrypoint and drops cmd", []string{"/bin/sh"}, nil, img, []string{"/bin/sh"}},
		{"command and args", []string{"/bin/sh"}, []string{"-c", "true"}, img, []string{"/bin/sh", "-c", "true"}},
		{"args replace cmd only", nil, []string{"debug"}, img, []string{"/entry", "-x", "debug"}},
		{"cmd without entrypoint", nil, nil, ocispec.ImageConfig{Cmd: []string{"/bin/app"}}, []string{"/bin/app"}},
		{"args without entrypoint", nil, []string{"/bin/other"}, ocispec.ImageConfig{Cmd: []string{"/bin/app"}}, []string{"/bin/other"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := &runtime.ContainerConfig{Command: tt.command, Args: tt.args}
			got, err := processArgs(cfg, tt.img)
			if err != nil || !slices.Equal(got, tt.want) {
				t.Fatalf("got %q, %v; want %q", got, err, tt.want)
			}
		})
	}
	_, err := processArgs(&runtime.ContainerConfig{}, ocispec.ImageConfig{})
	wantInvalid(t, err, "command")
	// The image's slices must not be changed by building a spec.
	cfg := &runtime.ContainerConfig{Args: []string{"a"}}
	got, _ := processArgs(cfg, img)
	got[0] = "mutated"
	if img.Entrypoint[0] != "/entry" {
		t.Fatal("processArgs aliased the image entrypoint")
	}
}

func TestProcessEnv(t *testing.T) {
	kv := func(k, v string) *runtime.KeyValue { return &runtime.KeyValue{Key: k, Value: []byte(v)} }
	tests := []struct {
		name string
		img  []string
		cri  []*runtime.KeyValue
		tty  bool
		home string
		want []string
	}{
		{
			name: "image then CRI, later wins in place",
			img:  []string{"PATH=/bin", "A=image", "B=image"},
			cri:  []*runtime.KeyValue{kv("A", "cri"), kv("C", "x=y")},
			home: "/root",
			want: []string{"PATH=/bin", "A=cri", "B=image", "C=x=y", "HOME=/root"},
		},
		{
			name: "default PATH and HOME",
			home: "/",
			want: []string{defaultPath, "HOME=/"},
		},
		{
			name: "HOME from CRI is kept",
			cri:  []*runtime.KeyValue{kv("HOME", "/data"), kv("PATH", "/x")},
			home: "/home/app",
			want: []string{"HOME=/data", "PATH=/x"},
		},
		{
			name: "tty sets TERM",
			img:  []string{"PATH=/bin"},
			tty:  true,
			home: "/",
			want: []string{"PATH=/bin", "TERM=xterm", "HOME=/"},
		},
		{
			name: "tty keeps TERM",
			img:  []string{"PATH=/bin", "TERM=vt100", "HOME=/h"},
			tty:  true,
			want: []string{"PATH=/bin", "TERM=vt100", "HOME=/h"},
		},
		{
			name: "duplicates in the image collapse",
			img:  []string{"PATH=/a", "PATH=/b", "HOME=/h"},
			want: []string{"PATH=/b", "HOME=/h"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := &runtime.ContainerConfig{Envs: tt.cri, Tty: tt.tty}
			got, err := processEnv(cfg, ocispec.ImageConfig{Env: tt.img}, tt.home)
			if err != nil || !slices.Equal(got, tt.want) {
				t.Fatalf("got %q, %v; want %q", got, err, tt.want)
			}
		})
	}
	for _, bad := range []string{"", "A=B", "A\x00"} {
		_, err := processEnv(&runtime.ContainerConfig{Envs: []*runtime.KeyValue{kv("OK", "1"), kv(bad, "v")}}, ocispec.ImageConfig{}, "/")
		wantInvalid(t, err, "envs[1].key")
	}
	_, err := processEnv(&runtime.ContainerConfig{Envs: []*runtime.KeyValue{kv("A", "x\x00y")}}, ocispec.ImageConfig{}, "/")
	wantInvalid(t, err, "envs[0].value")
}

func TestWorkingDir(t *testing.T) {
	tests := []struct {
		cri, img, want string
	}{
		{"/cri", "/img", "/cri"},
		{"", "/img", "/img"},
		{"", "img/rel", "/img/rel"},
		{"", "", "/"},
		{"/a/../b/", "", "/b"},
	}
	for _, tt := range tests {
		t.Run(tt.cri+" "+tt.img, func(t *testing.T) {
			got, err := workingDir(&runtime.ContainerConfig{WorkingDir: tt.cri}, ocispec.ImageConfig{WorkingDir: tt.img})
			if err != nil || got != tt.want {
				t.Errorf("workingDir(%q, %q) = %q, %v; want %q", tt.cri, tt.img, got, err, tt.want)
			}
		})
	}
	_, err := workingDir(&runtime.ContainerConfig{WorkingDir: "rel"}, ocispec.ImageConfig{})
	wantInvalid(t, err, "working_dir")
}

func TestStopSignal(t *testing.T) {
	tests := []struct {
		cri  runtime.Signal
		img  string
		want int
	}{
		{runtime.Signal_SIGNAL_RUNTIME_DEFAULT, "", 15},
		{runtime.Signal_SIGNAL_RUNTIME_DEFAULT, "SIGQUIT", 3},
		{runtime.Signal_SIGNAL_RUNTIME_DEFAULT, "int", 2},
		{runtime.Signal_SIGNAL_RUNTIME_DEFAULT, "9", 9},
		{runtime.Signal_SIGNAL_RUNTIME_DEFAULT, "SIGRTMIN+3", 37},
		{runtime.Signal_SIGNAL_RUNTIME_DEFAULT, "RTMAX-1", 63},
		{runtime.Signal_SIGNAL_SIGUSR1, "SIGQUIT", 10},
		{runtime.Signal_SIGNAL_SIGRTMINPLUS2, "", 36},
		{runtime.Signal_SIGNAL_SIGRTMAXMINUS2, "", 62},
		{runtime.Signal_SIGNAL_SIGRTMAX, "", 64},
	}
	for _, tt := range tests {
		t.Run(tt.cri.String()+" "+tt.img, func(t *testing.T) {
			got, err := StopSignal(&runtime.ContainerConfig{StopSignal: tt.cri}, ocispec.ImageConfig{StopSignal: tt.img})
			if err != nil || int(got) != tt.want {
				t.Errorf("StopSignal(%v, %q) = %d, %v; want %d", tt.cri, tt.img, got, err, tt.want)
			}
		})
	}
	for _, bad := range []string{"SIGNOPE", "0", "65", "RTMIN+99"} {
		_, err := StopSignal(nil, ocispec.ImageConfig{StopSignal: bad})
		wantInvalid(t, err, "StopSignal")
	}
}
