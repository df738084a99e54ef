package sandboxtest

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"sync"

	"github.com/crid-dev/crid/errdefs"
	"github.com/crid-dev/crid/sandbox"
)

// Images is a fake image service.
type Images struct {
	fail   *Failures
	mu     sync.Mutex
	images map[string]*sandbox.Image
	// Rootfs holds the container ids with a prepared rootfs.
	Rootfs map[string]bool
	// UsageFunc answers RootfsUsage (a walk of the writable layer) when set; set it
	// before the Manager is made.
	UsageFunc func(id string) (sandbox.FsUsage, error)
}

// Add makes img resolvable by its id and by each of names.
func (i *Images) Add(img *sandbox.Image, names ...string) {
	i.mu.Lock()
	defer i.mu.Unlock()
	i.images[img.ID] = img
	for _, n := range append(names, img.RepoTags...) {
		i.images[n] = img
	}
}

func (i *Images) Resolve(ref string) (*sandbox.Image, error) {
	i.mu.Lock()
	defer i.mu.Unlock()
	if img, ok := i.images[ref]; ok {
		return img, nil
	}
	return nil, fmt.Errorf("image %q: %w", ref, errdefs.ErrNotFound)
}

func (i *Images) PrepareRootfs(_ context.Context, id, imageID string) (*sandbox.Rootfs, error) {
	if err := i.fail.check("prepare-rootfs"); err != nil {
		return nil, err
	}
	i.mu.Lock()
	defer i.mu.Unlock()
	i.Rootfs[id] = true
	return &sandbox.Rootfs{LowerDirs: []string{"/nonexistent/layer"}, UpperDir: "/u/" + id, WorkDir: "/w/" + id}, nil
}

func (i *Images) RemoveRootfs(_ context.Context, id string) error {
	i.mu.Lock()
	defer i.mu.Unlock()
	delete(i.Rootfs, id)
	return nil
}

func (i *Images) RootfsUsage(id string) (sandbox.FsUsage, error) {
	if f := i.UsageFunc; f != nil {
		return f(id)
	}
	return sandbox.FsUsage{Mountpoint: "/var/lib/crid", UsedBytes: 4096, InodesUsed: 3}, nil
}

// Live returns the container ids holding a rootfs.
func (i *Images) Live() []string {
	i.mu.Lock()
	defer i.mu.Unlock()
	return slices.Sorted(maps.Keys(i.Rootfs))
}
