package spec

import (
	"errors"
	"io/fs"
	"testing"
	"testing/fstest"
)

func TestLayerFS(t *testing.T) {
	whiteout := &fstest.MapFile{Mode: fs.ModeDevice | fs.ModeCharDevice}
	lower := fstest.MapFS{
		"etc/passwd": {Data: []byte("lower")},
		"etc/group":  {Data: []byte("lower-group")},
		"etc/shadow": {Data: []byte("lower-shadow")},
		"opt/x":      {Data: []byte("x")},
	}
	middle := fstest.MapFS{
		"etc/group":      {Data: []byte("middle-group")},
		"etc/.wh.shadow": {},
		"opt":            whiteout,
	}
	upper := fstest.MapFS{
		"etc/passwd": {Data: []byte("upper")},
	}
	deleted := fstest.MapFS{"etc/passwd": whiteout}

	tests := []struct {
		name   string
		layers []fs.FS
		file   string
		want   string // "" = not found
	}{
		{"top layer wins", []fs.FS{upper, middle, lower}, "etc/passwd", "upper"},
		{"falls through", []fs.FS{upper, middle, lower}, "etc/group", "middle-group"},
		{"overlay whiteout", []fs.FS{deleted, middle, lower}, "etc/passwd", ""},
		{"OCI whiteout", []fs.FS{upper, middle, lower}, "etc/shadow", ""},
		{"parent whited out", []fs.FS{upper, middle, lower}, "opt/x", ""},
		{"nil layer skipped", []fs.FS{nil, lower}, "etc/passwd", "lower"},
		{"missing", []fs.FS{lower}, "etc/nope", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b, err := fs.ReadFile(LayerFS(tt.layers...), tt.file)
			if tt.want == "" {
				if !errors.Is(err, fs.ErrNotExist) {
					t.Fatalf("want not found, got %q, %v", b, err)
				}
				return
			}
			if err != nil || string(b) != tt.want {
				t.Fatalf("got %q, %v; want %q", b, err, tt.want)
			}
		})
	}
	if _, err := LayerFS(lower).Open("../etc/passwd"); err == nil {
		t.Fatal("an invalid path must be refused")
	}
}

// ResolveUser reads through LayerFS: a user added in an upper layer is found.
func TestResolveUserThroughLayers(t *testing.T) {
	upper := fstest.MapFS{"etc/passwd": {Data: []byte("late:x:777:777::/late:/bin/sh\n")}}
	u, err := ResolveUser(LayerFS(upper, testEtc), "late", nil)
	if err != nil || u.UID != 777 || u.Home != "/late" {
		t.Fatalf("got %+v, %v", u, err)
	}
}
